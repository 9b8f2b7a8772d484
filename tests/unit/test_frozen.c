/*
 * test_frozen.c - frozen versions of the store (store_freeze,
 * store_frozen_dump, store_thaw), which the daemon's compaction writes
 * from a thread while its loop goes on changing the store: the dump is
 * the tree as it was at the freeze, whatever the loop does meanwhile
 * (on another thread: this test runs under ThreadSanitizer in
 * tests/run-tsan.sh), and a thaw gives back every node only the frozen
 * version kept.
 *
 * The test's own buffers use plain malloc, so that xalloc's counters
 * (not thread-safe) are only ever touched by the main thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store.h"
#include "tests/support/check.h"
#include "tests/support/storetest.h"

/* The text of snapshot `b` loaded into a fresh store (NULL: refused). */
static char *text_of(const struct st_buf *b)
{
	struct store *c = NULL;
	char *text;

	if (store_load(b->p, b->len, &c))
		return NULL;
	text = st_dump(c, true);
	store_free(c);
	return text;
}

static unsigned int rnd(unsigned int *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8) & 0xffffff;
}

/* A random path of up to 3 levels under /t with small names, so that
 * writes, removals and permission changes hit each other's nodes. */
static void rnd_path(unsigned int *seed, char *out, size_t size)
{
	int depth = 1 + (int)(rnd(seed) % 3);
	size_t at = (size_t)snprintf(out, size, "/t");

	for (int i = 0; i < depth && at < size; i++)
		at += (size_t)snprintf(out + at, size - at, "/%c%u",
		                       'a' + (int)(rnd(seed) % 4),
		                       rnd(seed) % 40);
}

/* One random change of the main tree. */
static void churn_once(struct store *s, unsigned int *seed)
{
	char path[64], val[32];
	unsigned int op = rnd(seed) % 10;

	rnd_path(seed, path, sizeof(path));
	if (op < 6) {
		int n = snprintf(val, sizeof(val), "v%u", rnd(seed));

		store_write(s, NULL, &st_dom0, path, val, (size_t)n);
	} else if (op < 8) {
		store_rm(s, NULL, &st_dom0, path);
	} else {
		struct perm_entry e[2] = {{0, 0},
		                          {(uint16_t)(rnd(seed) % 5), 1}};

		store_set_perms(s, NULL, &st_dom0, path, e, 2);
	}
}

struct dumper {
	struct store_frozen *f;
	struct st_buf out;
	int err;
	atomic_bool done;
};

static void *dump_thread(void *arg)
{
	struct dumper *d = arg;

	d->err = store_frozen_dump(d->f, st_buf_write, &d->out);
	atomic_store(&d->done, true);
	return NULL;
}

/* The loop changes the tree as fast as it can while another thread
 * dumps the frozen version: the dump is the tree at the freeze. */
static void test_dump_while_changing(void)
{
	unsigned int seed = 12345;
	struct store *s = store_new();
	struct store_stats st;
	struct dumper d = {0};
	pthread_t th;
	char *want, *got;
	unsigned long changes = 0;

	CHECK(s != NULL);
	for (int i = 0; i < 20000; i++)
		churn_once(s, &seed);
	want = st_dump(s, true);
	CHECK(want != NULL);
	CHECK_EQ_INT(store_freeze(s, &d.f), 0);
	CHECK_EQ_INT(pthread_create(&th, NULL, dump_thread, &d), 0);
	/* At least a few thousand changes even if the dump is quick. */
	while (!atomic_load(&d.done) || changes < 5000) {
		churn_once(s, &seed);
		changes++;
	}
	pthread_join(th, NULL);
	printf("%lu changes while the dump ran\n", changes);
	CHECK_EQ_INT(d.err, 0);
	got = text_of(&d.out);
	CHECK(got != NULL);
	CHECK_EQ_STR(got, want);
	STORE_OK(s);
	/* Until the thaw the old versions of changed nodes stay. */
	store_stats(s, &st);
	CHECK(st.nodes > st.main_nodes);
	store_thaw(s, d.f);
	store_stats(s, &st);
	CHECK_EQ_UINT(st.nodes, st.main_nodes);
	STORE_OK(s);
	store_free(s);
	CHECK_EQ_INT(xalloc_live(), 0);
	free(want);
	free(got);
	free(d.out.p);
}

/* Everything removed after the freeze, the store even freed: the frozen
 * version alone still holds its tree. */
static void test_outlives_removal(void)
{
	unsigned int seed = 7;
	struct store *s = store_new();
	struct store_frozen *f;
	struct st_buf b = {0};
	char *want, *got;

	for (int i = 0; i < 500; i++)
		churn_once(s, &seed);
	want = st_dump(s, true);
	CHECK_EQ_INT(store_freeze(s, &f), 0);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/t"), 0);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/t", "new", 3), 0);
	CHECK_EQ_INT(store_frozen_dump(f, st_buf_write, &b), 0);
	got = text_of(&b);
	CHECK(got != NULL);
	CHECK_EQ_STR(got, want);
	/* A second dump of the same frozen version says the same. */
	b.len = 0;
	CHECK_EQ_INT(store_frozen_dump(f, st_buf_write, &b), 0);
	free(got);
	got = text_of(&b);
	CHECK_EQ_STR(got, want);
	store_thaw(s, f);
	STORE_OK(s);
	store_free(s);
	CHECK_EQ_INT(xalloc_live(), 0);
	free(want);
	free(got);
	free(b.p);
}

static int fail_write(void *arg, const void *data, size_t len)
{
	int *calls = arg;

	return ++*calls == 2 ? -ECANCELED : 0;
}

/* The writer's error stops the dump and is returned as is. */
static void test_write_error(void)
{
	unsigned int seed = 3;
	struct store *s = store_new();
	struct store_frozen *f;
	int calls = 0;
	char big[4000];

	memset(big, 'x', sizeof(big));
	for (int i = 0; i < 100; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/big/%d", i);
		CHECK_EQ_INT(
		    store_write(s, NULL, &st_dom0, path, big, sizeof(big)), 0);
	}
	churn_once(s, &seed);
	CHECK_EQ_INT(store_freeze(s, &f), 0);
	CHECK_EQ_INT(store_frozen_dump(f, fail_write, &calls), -ECANCELED);
	CHECK_EQ_INT(calls, 2);
	store_thaw(s, f);
	store_thaw(s, NULL);
	store_free(s);
	CHECK_EQ_INT(xalloc_live(), 0);
}

/* Out of memory at every allocation of a freeze: -ENOMEM, nothing
 * kept, the store unchanged. */
static void test_freeze_enomem(void)
{
	struct store *s = store_new();
	struct store_frozen *f = NULL;
	long live;
	int err = -ENOMEM;

	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/a", "1", 1), 0);
	live = xalloc_live();
	for (long n = 0; err == -ENOMEM && n < 100; n++) {
		xalloc_fail_after(n);
		err = store_freeze(s, &f);
		xalloc_fail_after(-1);
		if (err) {
			CHECK_EQ_INT(err, -ENOMEM);
			CHECK(f == NULL);
			CHECK_EQ_INT(xalloc_live(), live);
		}
	}
	CHECK_EQ_INT(err, 0);
	store_thaw(s, f);
	STORE_OK(s);
	store_free(s);
	CHECK_EQ_INT(xalloc_live(), 0);
}

/* clang-format off */
static const struct check_test tests[] = {
	CHECK_TEST(test_dump_while_changing),
	CHECK_TEST(test_outlives_removal),
	CHECK_TEST(test_write_error),
	CHECK_TEST(test_freeze_enomem),
};
/* clang-format on */

CHECK_MAIN(tests)
