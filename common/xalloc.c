/*
 * xalloc.c - allocation wrappers with fault injection for tests.
 *
 * The counters are plain globals: only the daemon's single thread and
 * the store use these (libxstore does not), and only tests read them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static long fail_countdown = -1;
static bool is_fail_sticky; /* once failing, keep failing */
static long alloc_count;
static long live_count;
static void (*site_hook)(const void *site);

static int should_fail(const void *site)
{
	alloc_count++;
	if (site_hook)
		site_hook(site);
	if (fail_countdown < 0)
		return 0;
	if (fail_countdown == 0) {
		if (!is_fail_sticky)
			fail_countdown = -1;
		return 1;
	}
	fail_countdown--;
	return 0;
}

long xalloc_fail_after(long n)
{
	long count = alloc_count;

	alloc_count = 0;
	fail_countdown = n < 0 ? -1 : n;
	is_fail_sticky = false;
	return count;
}

long xalloc_fail_from(long n)
{
	long count = xalloc_fail_after(n);

	is_fail_sticky = n >= 0;
	return count;
}

long xalloc_live(void)
{
	return live_count;
}

void xalloc_set_site_hook(void (*fn)(const void *site))
{
	site_hook = fn;
}

/* The callers' return addresses are passed down so that the site hook
 * sees where the daemon or store asked, not this file's own calls. */
static void *alloc_at(size_t size, const void *site)
{
	void *p;

	if (should_fail(site))
		return NULL;
	p = malloc(size ? size : 1);
	if (p)
		live_count++;
	return p;
}

static void *realloc_at(void *p, size_t size, const void *site)
{
	void *q;

	if (should_fail(site))
		return NULL;
	q = realloc(p, size ? size : 1);
	if (q && !p)
		live_count++;
	return q;
}

static char *memdup_at(const void *p, size_t len, const void *site)
{
	char *s;

	if (len == SIZE_MAX)
		return NULL;
	s = alloc_at(len + 1, site);
	if (!s)
		return NULL;
	if (len)
		memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

void *xmalloc(size_t size)
{
	return alloc_at(size, __builtin_return_address(0));
}

void *xcalloc(size_t n, size_t size)
{
	void *p;

	if (should_fail(__builtin_return_address(0)))
		return NULL;
	p = calloc(n ? n : 1, size ? size : 1);
	if (p)
		live_count++;
	return p;
}

void *xrealloc(void *p, size_t size)
{
	return realloc_at(p, size, __builtin_return_address(0));
}

void *xrealloc_array(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc_at(p, n * size, __builtin_return_address(0));
}

char *xmemdup(const void *p, size_t len)
{
	return memdup_at(p, len, __builtin_return_address(0));
}

char *xstrdup(const char *s)
{
	return memdup_at(s, strlen(s), __builtin_return_address(0));
}

void xfree(void *p)
{
	if (p)
		live_count--;
	free(p);
}
