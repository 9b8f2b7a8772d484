/*
 * xalloc.h - the one allocation hook of xstore.
 *
 * Every allocation the daemon and the store make goes through these, so a
 * test can make the N-th allocation fail and check that nothing leaks or
 * half-changes.  They behave as malloc/calloc/realloc/free/strdup, except
 * that xcalloc and xrealloc_array check the multiplication for overflow.
 * Not thread-safe by design (the daemon has one thread); the fault
 * counter is a plain global that only tests touch.
 */
#ifndef XSTORE_XALLOC_H
#define XSTORE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xrealloc_array(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xmemdup(const void *p, size_t len); /* adds a nul after len bytes */
void xfree(void *p);

/*
 * xalloc_fail_after - make the allocation after the next `n` ones fail
 * (n = 0: the very next one).  A negative n turns fault injection off.
 * Returns the number of allocations counted since the last call.
 */
long xalloc_fail_after(long n);

/*
 * xalloc_fail_from - as xalloc_fail_after, but every allocation from
 * that one on fails too (until the next call of either).
 */
long xalloc_fail_from(long n);

/*
 * xalloc_live - allocations made through this hook and not yet given to
 * xfree: 0 once a test has freed everything it made, else a leak.
 */
long xalloc_live(void);

/*
 * xalloc_set_site_hook - call fn(site) on every allocation attempt, with
 * `site` the return address in the caller of xmalloc, xstrdup, ... (a
 * test counts the distinct call sites it reached).  NULL: none.
 */
void xalloc_set_site_hook(void (*fn)(const void *site));

#endif
