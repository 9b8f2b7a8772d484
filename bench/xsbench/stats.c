/*
 * stats.c - time, latency samples, percentiles and medians, a fast PRNG,
 * and the one way out on a fatal error.
 *
 * Samples are kept whole (4 bytes each) rather than in a histogram: a
 * run holds at most a few million, and exact percentiles need no bucket
 * tuning.  Percentiles use the nearest-rank definition.  No libm: the
 * build links none.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/xsbench/xsbench.h"

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void samples_add(struct samples *s, double secs)
{
	double ns = secs * 1e9;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 65536;
		uint32_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			die("out of memory for samples");
		s->v = v;
		s->cap = cap;
	}
	if (ns < 0)
		ns = 0;
	s->v[s->n++] = ns > 4.29e9 ? UINT32_MAX : (uint32_t)ns;
}

void samples_clear(struct samples *s)
{
	s->n = 0;
}

void samples_free(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

double samples_pct(struct samples *s, double p)
{
	double want = p / 100.0 * (double)s->n;
	size_t rank;

	if (!s->n)
		return -1;
	qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
	rank = (size_t)want; /* ceil, without libm */
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return s->v[rank - 1] / 1e3;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double median(double *v, int n)
{
	int i, k = 0;

	/* NANs (no value in that run) are left out. */
	for (i = 0; i < n; i++)
		if (!isnan(v[i]))
			v[k++] = v[i];
	if (!k)
		return NAN;
	qsort(v, (size_t)k, sizeof(*v), cmp_dbl);
	return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

uint64_t xb_rand(uint64_t *state)
{
	/* xorshift64*: plenty for choosing keys. */
	uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("xsbench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}
