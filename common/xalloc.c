/*
 * xalloc.c - allocation wrappers with fault injection for tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static long fail_countdown = -1;
static long alloc_count;

static int should_fail(void)
{
	alloc_count++;
	if (fail_countdown < 0)
		return 0;
	if (fail_countdown == 0) {
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
	return count;
}

void *xmalloc(size_t size)
{
	if (should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *xcalloc(size_t n, size_t size)
{
	if (should_fail())
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void *xrealloc(void *p, size_t size)
{
	if (should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

void *xrealloc_array(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return xrealloc(p, n * size);
}

char *xmemdup(const void *p, size_t len)
{
	char *s;

	if (len == SIZE_MAX)
		return NULL;
	s = xmalloc(len + 1);
	if (!s)
		return NULL;
	if (len)
		memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s));
}

void xfree(void *p)
{
	free(p);
}
