/*
 * storesnap.c - time store_dump and store_load of a large store (issue
 * 12: restart time at 1 M nodes), and the cost of the record callback
 * on a write loop.  Not part of the build (it needs no daemon); build
 * and run by hand, release flags:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -I. -o /tmp/storesnap \
 *      bench/storesnap.c store/[a-z]*.c common/[a-z]*.c && /tmp/storesnap
 * 1000000
 *
 * Prints the tree's build time, the snapshot's bytes, dump and load
 * times (best of 3, into and from memory) and checks that the loaded
 * store equals the original.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

static const struct store_caller dom0 = {0, PERM_NO_TARGET, true, NULL, 0};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static int buf_write(void *arg, const void *data, size_t len)
{
	struct buf *b = arg;

	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 1u << 20;

		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			return -12;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

int main(int argc, char **argv)
{
	long nodes = argc > 1 ? atol(argv[1]) : 1000000;
	long per_dom = 1000, doms = nodes / per_dom;
	struct perm_entry pe[2] = {{0, PERM_NONE}, {0, PERM_READ}};
	struct store *s = store_new(), *c = NULL;
	struct store_stats st;
	struct buf b = {0};
	double t0, best_dump = 1e9, best_load = 1e9;
	char path[128], val[32];

	t0 = now();
	for (long d = 0; d < doms; d++) {
		snprintf(path, sizeof(path), "/local/domain/%ld", d + 1);
		store_mkdir(s, NULL, &dom0, path);
		pe[0].domid = (uint16_t)(d + 1);
		store_set_perms(s, NULL, &dom0, path, pe, 2);
		for (long i = 0; i < per_dom; i++) {
			snprintf(path, sizeof(path),
			         "/local/domain/%ld/data/%ld", d + 1, i);
			snprintf(val, sizeof(val), "%ld", i * 7);
			store_write(s, NULL, &dom0, path, val, strlen(val));
		}
	}
	store_stats(s, &st);
	printf("built %llu nodes in %.2f s\n",
	       (unsigned long long)st.main_nodes, now() - t0);
	for (int r = 0; r < 3; r++) {
		b.len = 0;
		t0 = now();
		if (store_dump(s, buf_write, &b))
			return 1;
		if (now() - t0 < best_dump)
			best_dump = now() - t0;
	}
	for (int r = 0; r < 3; r++) {
		store_free(c);
		t0 = now();
		if (store_load(b.p, b.len, &c))
			return 1;
		if (now() - t0 < best_load)
			best_load = now() - t0;
	}
	printf("snapshot %zu bytes (%.1f per node)\n", b.len,
	       (double)b.len / (double)st.main_nodes);
	printf("dump %.3f s, load %.3f s (best of 3)\n", best_dump, best_load);
	printf("loaded store %s\n",
	       store_equal(s, c) ? "equals the original" : "DIFFERS");
	store_free(c);
	store_free(s);
	free(b.p);
	return 0;
}
