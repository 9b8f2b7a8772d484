/*
 * test_watch.c - the watch index (store/watch.c): which watches an event
 * matches (exact path, ancestors within their depth, watches below a
 * removed path with their own path, exact-only events, special paths),
 * delivery in registration order, watch_find/watch_del, pruning of the
 * index down to nothing, and the cost of an event on a path nobody
 * watches among many watches.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/watch.h"
#include "tests/support/check.h"

static int owner1, owner2, owner3;

/* What a watch_fire reported: "token:path token:path ...". */
struct hits {
	unsigned int n;
	size_t len;
	char s[8192];
};

static void on_match(void *opaque, struct watch *w, const char *event_path)
{
	struct hits *h = opaque;
	int n;

	h->n++;
	if (h->len >= sizeof(h->s))
		return; /* counted, not recorded */
	n = snprintf(h->s + h->len, sizeof(h->s) - h->len, "%s%s:%s",
	             h->n > 1 ? " " : "", w->token, event_path);
	if (n > 0)
		h->len += (size_t)n;
}

/* Fire and return the report (static: valid until the next call). */
static const char *fire(struct watch_index *idx, const char *path,
                        bool is_exact, bool is_removal)
{
	static struct hits h;
	int err;

	h.n = 0;
	h.len = 0;
	h.s[0] = '\0';
	err = watch_fire(idx, path, is_exact, is_removal, on_match, &h);
	if (err)
		return "(error)";
	return h.s;
}

static const char *ch(struct watch_index *idx, const char *path)
{
	return fire(idx, path, false, false);
}

static const char *rm(struct watch_index *idx, const char *path)
{
	return fire(idx, path, false, true);
}

/* Add a watch of owner1 with `token` (which names it in reports). */
static struct watch *add(struct watch_index *idx, const char *path,
                         const char *token, int depth)
{
	struct watch *w = NULL;

	if (watch_add(idx, path, token, depth, 0, &owner1, &w) != 0)
		return NULL;
	return w;
}

static void test_exact_and_ancestors(void)
{
	struct watch_index *idx = watch_index_new();

	CHECK(idx != NULL);
	CHECK(add(idx, "/a", "A", -1));
	CHECK(add(idx, "/", "B", -1));
	CHECK(add(idx, "/a/b", "C", -1));
	CHECK(add(idx, "/ab", "D", -1));
	CHECK_EQ_STR(ch(idx, "/a"), "A:/a B:/a");
	CHECK_EQ_STR(ch(idx, "/a/b"), "A:/a/b B:/a/b C:/a/b");
	CHECK_EQ_STR(ch(idx, "/ab"), "B:/ab D:/ab");
	CHECK_EQ_STR(ch(idx, "/abc"), "B:/abc");
	CHECK_EQ_STR(ch(idx, "/b"), "B:/b");
	CHECK_EQ_STR(ch(idx, "/"), "B:/");
	CHECK_EQ_STR(ch(idx, "/a/b/c/d"), "A:/a/b/c/d B:/a/b/c/d C:/a/b/c/d");
	CHECK_EQ_STR(ch(idx, "/a/bc"), "A:/a/bc B:/a/bc");
	CHECK_EQ_UINT(watch_count(idx), 4);
	watch_index_free(idx);
}

static void test_depth(void)
{
	struct watch_index *idx = watch_index_new();

	CHECK(idx != NULL);
	CHECK(add(idx, "/a", "A0", 0));
	CHECK(add(idx, "/a", "A1", 1));
	CHECK(add(idx, "/a", "A2", 2));
	CHECK(add(idx, "/", "R1", 1));
	CHECK(add(idx, "/", "R0", 0));
	CHECK(add(idx, "/x/y", "Y0", 0));
	CHECK_EQ_STR(ch(idx, "/"), "R1:/ R0:/");
	CHECK_EQ_STR(ch(idx, "/a"), "A0:/a A1:/a A2:/a R1:/a");
	CHECK_EQ_STR(ch(idx, "/a/b"), "A1:/a/b A2:/a/b");
	CHECK_EQ_STR(ch(idx, "/a/b/c"), "A2:/a/b/c");
	CHECK_EQ_STR(ch(idx, "/a/b/c/d"), "");
	/* Removal: a watch below is told, whatever its depth. */
	CHECK_EQ_STR(rm(idx, "/x"), "R1:/x Y0:/x/y");
	CHECK_EQ_STR(ch(idx, "/x"), "R1:/x");
	watch_index_free(idx);
}

static void test_removal(void)
{
	struct watch_index *idx = watch_index_new();

	CHECK(idx != NULL);
	CHECK(add(idx, "/a/b/c", "A", -1));
	CHECK(add(idx, "/a/b", "B", -1));
	CHECK(add(idx, "/a/x/y", "C", -1));
	CHECK(add(idx, "/z", "D", -1));
	CHECK(add(idx, "/", "E", -1));
	CHECK(add(idx, "/a", "F", -1));
	CHECK(add(idx, "/ab/c", "G", -1));
	/* Below ones with their own path, in registration order. */
	CHECK_EQ_STR(rm(idx, "/a"), "A:/a/b/c B:/a/b C:/a/x/y E:/a F:/a");
	CHECK_EQ_STR(ch(idx, "/a"), "E:/a F:/a");
	CHECK_EQ_STR(rm(idx, "/a/b"), "A:/a/b/c B:/a/b E:/a/b F:/a/b");
	CHECK_EQ_STR(rm(idx, "/a/x"), "C:/a/x/y E:/a/x F:/a/x");
	/* A removal of an unwatched path under watched ones. */
	CHECK_EQ_STR(rm(idx, "/a/q"), "E:/a/q F:/a/q");
	/* The root: everything. */
	CHECK_EQ_STR(rm(idx, "/"),
	             "A:/a/b/c B:/a/b C:/a/x/y D:/z E:/ F:/a G:/ab/c");
	watch_index_free(idx);
}

static void test_exact_only(void)
{
	struct watch_index *idx = watch_index_new();

	CHECK(idx != NULL);
	CHECK(add(idx, "/a", "A", -1));
	CHECK(add(idx, "/a/b", "B", -1));
	CHECK(add(idx, "/", "C", -1));
	CHECK(add(idx, "/a/b/c", "D", -1));
	CHECK(add(idx, "/m/n/o", "E", -1));
	CHECK_EQ_STR(fire(idx, "/a/b", true, false), "B:/a/b");
	CHECK_EQ_STR(fire(idx, "/a/b", true, true), "B:/a/b");
	CHECK_EQ_STR(fire(idx, "/a", true, true), "A:/a");
	CHECK_EQ_STR(fire(idx, "/", true, false), "C:/");
	CHECK_EQ_STR(fire(idx, "/q", true, false), "");
	/* "/m/n" is in the index only as a prefix. */
	CHECK_EQ_STR(fire(idx, "/m/n", true, true), "");
	CHECK_EQ_STR(fire(idx, "/m/n/o/p", true, false), "");
	watch_index_free(idx);
}

static void test_special_paths(void)
{
	struct watch_index *idx = watch_index_new();

	CHECK(idx != NULL);
	CHECK(add(idx, "@releaseDomain", "A", -1));
	CHECK(add(idx, "@releaseDomain/5", "B", -1));
	CHECK(add(idx, "/", "C", -1));
	CHECK(add(idx, "@introduceDomain", "D", -1));
	CHECK(add(idx, "@release", "E", -1));
	CHECK(add(idx, "@releaseDomain", "F", 0));
	CHECK_EQ_STR(ch(idx, "@releaseDomain"), "A:@releaseDomain "
	                                        "F:@releaseDomain");
	CHECK_EQ_STR(ch(idx, "@releaseDomain/5"),
	             "A:@releaseDomain/5 B:@releaseDomain/5");
	CHECK_EQ_STR(ch(idx, "@releaseDomain/7"), "A:@releaseDomain/7");
	CHECK_EQ_STR(ch(idx, "@introduceDomain"), "D:@introduceDomain");
	CHECK_EQ_STR(fire(idx, "@releaseDomain/5", true, false),
	             "B:@releaseDomain/5");
	/* "/" sees no special path, and special watches no node. */
	CHECK_EQ_STR(ch(idx, "/"), "C:/");
	CHECK_EQ_STR(ch(idx, "/local"), "C:/local");
	CHECK_EQ_STR(rm(idx, "/"), "C:/");
	watch_index_free(idx);
}

static void test_delivery_order(void)
{
	struct watch_index *idx = watch_index_new();
	struct watch *b, *w = NULL;

	CHECK(idx != NULL);
	CHECK(watch_add(idx, "/a/b", "A", -1, 0, &owner1, &w) == 0);
	CHECK(watch_add(idx, "/", "B", -1, 0, &owner2, &b) == 0);
	CHECK(watch_add(idx, "/a", "C", -1, 0, &owner1, &w) == 0);
	CHECK(watch_add(idx, "/a/b", "D", -1, 0, &owner2, &w) == 0);
	CHECK_EQ_STR(ch(idx, "/a/b"), "A:/a/b B:/a/b C:/a/b D:/a/b");
	/* Registered again, B is the newest. */
	watch_del(idx, b);
	CHECK(watch_add(idx, "/", "B", -1, 0, &owner2, &b) == 0);
	CHECK_EQ_STR(ch(idx, "/a/b"), "A:/a/b C:/a/b D:/a/b B:/a/b");
	/* Watches below and above a removal, interleaved. */
	CHECK(add(idx, "/r/x", "W1", -1));
	CHECK(add(idx, "/", "W2", -1));
	CHECK(add(idx, "/r/y/z", "W3", -1));
	CHECK(add(idx, "/r", "W4", -1));
	CHECK(add(idx, "/r/x", "W5", -1));
	CHECK_EQ_STR(rm(idx, "/r"),
	             "B:/r W1:/r/x W2:/r W3:/r/y/z W4:/r W5:/r/x");
	watch_index_free(idx);
}

static void test_find_del(void)
{
	struct watch_index *idx = watch_index_new();
	struct watch *w1, *w2, *w3, *w4;

	CHECK(idx != NULL);
	CHECK(watch_add(idx, "/a", "t1", -1, 0, &owner1, &w1) == 0);
	CHECK(watch_add(idx, "/a", "t1", 3, 0, &owner2, &w2) == 0);
	CHECK(watch_add(idx, "/a", "t2", -1, 0, &owner1, &w3) == 0);
	CHECK(watch_add(idx, "/local/domain/5/b", "t1", -1, 16, &owner1, &w4) ==
	      0);
	CHECK_EQ_UINT(watch_count(idx), 4);
	CHECK(watch_find(idx, &owner1, "/a", "t1") == w1);
	CHECK(watch_find(idx, &owner2, "/a", "t1") == w2);
	CHECK(watch_find(idx, &owner1, "/a", "t2") == w3);
	CHECK(watch_find(idx, &owner1, "/local/domain/5/b", "t1") == w4);
	CHECK(watch_find(idx, &owner1, "/a", "t3") == NULL);
	CHECK(watch_find(idx, &owner3, "/a", "t1") == NULL);
	CHECK(watch_find(idx, &owner1, "/c", "t1") == NULL);
	CHECK(watch_find(idx, &owner1, "/local/domain", "t1") == NULL);
	/* What the watch keeps. */
	CHECK_EQ_STR(w2->path, "/a");
	CHECK_EQ_STR(w2->token, "t1");
	CHECK(w2->owner == &owner2);
	CHECK_EQ_INT(w2->depth, 3);
	CHECK_EQ_UINT(w4->rel_prefix, 16);
	CHECK_EQ_UINT(w4->path_depth, 4);
	/* Deleted: neither found nor fired. */
	watch_del(idx, w1);
	CHECK_EQ_UINT(watch_count(idx), 3);
	CHECK(watch_find(idx, &owner1, "/a", "t1") == NULL);
	CHECK(watch_find(idx, &owner2, "/a", "t1") == w2);
	CHECK_EQ_STR(ch(idx, "/a"), "t1:/a t2:/a");
	watch_del(idx, w3);
	watch_del(idx, w2);
	CHECK_EQ_STR(ch(idx, "/a"), "");
	CHECK(watch_find(idx, &owner1, "/local/domain/5/b", "t1") == w4);
	watch_del(idx, w4);
	CHECK_EQ_UINT(watch_count(idx), 0);
	CHECK_EQ_UINT(watch_index_paths(idx), 0);
	watch_index_free(idx);
}

static void test_pruning(void)
{
	struct watch_index *idx = watch_index_new();
	struct watch *abc, *ab, *ax, *rd, *rd5;

	CHECK(idx != NULL);
	CHECK_EQ_UINT(watch_index_paths(idx), 0);
	CHECK((abc = add(idx, "/a/b/c", "1", -1)) != NULL);
	CHECK_EQ_UINT(watch_index_paths(idx), 4); /* /, /a, /a/b, /a/b/c */
	CHECK((ab = add(idx, "/a/b", "2", -1)) != NULL);
	CHECK_EQ_UINT(watch_index_paths(idx), 4);
	CHECK((ax = add(idx, "/a/x", "3", -1)) != NULL);
	CHECK_EQ_UINT(watch_index_paths(idx), 5);
	CHECK((rd = add(idx, "@releaseDomain", "4", -1)) != NULL);
	CHECK((rd5 = add(idx, "@releaseDomain/5", "5", -1)) != NULL);
	CHECK_EQ_UINT(watch_index_paths(idx), 7);
	watch_del(idx, abc);
	CHECK_EQ_UINT(watch_index_paths(idx), 6);
	CHECK_EQ_STR(rm(idx, "/a"), "2:/a/b 3:/a/x");
	watch_del(idx, ab);
	CHECK_EQ_UINT(watch_index_paths(idx), 5);
	watch_del(idx, ax);
	CHECK_EQ_UINT(watch_index_paths(idx), 2);
	CHECK_EQ_STR(rm(idx, "/"), "");
	watch_del(idx, rd);
	CHECK_EQ_UINT(watch_index_paths(idx), 2); /* its child holds it */
	CHECK_EQ_STR(ch(idx, "@releaseDomain/5"), "5:@releaseDomain/5");
	watch_del(idx, rd5);
	CHECK_EQ_UINT(watch_index_paths(idx), 0);
	CHECK_EQ_UINT(watch_count(idx), 0);
	watch_index_free(idx);
}

/* Many watches on overlapping random paths, deleted in random order. */
static void test_pruning_random(void)
{
	enum { N = 3000 };
	static struct watch *w[N];
	struct watch_index *idx = watch_index_new();
	unsigned int seed = 12345;
	char path[64];

	CHECK(idx != NULL);
	for (int i = 0; i < N; i++) {
		size_t o = 0;
		int depth = 1 + (int)((seed >> 16) % 4);

		for (int d = 0; d < depth; d++) {
			seed = seed * 1103515245u + 12345u;
			o += (size_t)snprintf(path + o, sizeof(path) - o, "/%c",
			                      'a' + (int)((seed >> 16) % 5));
		}
		seed = seed * 1103515245u + 12345u;
		CHECK(watch_add(idx, path, "t", -1, 0, &owner1, &w[i]) == 0);
	}
	CHECK_EQ_UINT(watch_count(idx), N);
	/* Every watch is below "/": a removal of it reports all. */
	{
		static struct hits h;

		h.n = 0;
		h.len = 0;
		CHECK_EQ_INT(watch_fire(idx, "/", false, true, on_match, &h),
		             0);
		CHECK_EQ_UINT(h.n, N);
	}
	for (int left = N; left > 0; left--) {
		int i;

		seed = seed * 1103515245u + 12345u;
		i = (int)((seed >> 8) % (unsigned int)left);
		watch_del(idx, w[i]);
		w[i] = w[left - 1];
	}
	CHECK_EQ_UINT(watch_count(idx), 0);
	CHECK_EQ_UINT(watch_index_paths(idx), 0);
	CHECK_EQ_STR(rm(idx, "/"), "");
	watch_index_free(idx);
}

static void test_many_unrelated_watches(void)
{
	enum { N = 10000 };
	static struct watch *w[N];
	struct watch_index *idx = watch_index_new();
	char path[64];
	static struct hits h;

	CHECK(idx != NULL);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/w/%d/x", i);
		CHECK(watch_add(idx, path, "t", -1, 0, &owner1, &w[i]) == 0);
	}
	CHECK_EQ_STR(ch(idx, "/fresh/path"), "");
	CHECK_EQ_STR(rm(idx, "/fresh"), "");
	CHECK_EQ_STR(fire(idx, "/fresh/path", true, true), "");
	CHECK_EQ_STR(rm(idx, "/w/10000"), "");
	CHECK_EQ_STR(ch(idx, "/w"), "");
	CHECK_EQ_STR(ch(idx, "/w/5/x"), "t:/w/5/x");
	CHECK_EQ_STR(rm(idx, "/w/5"), "t:/w/5/x");
	h.n = 0;
	h.len = 0;
	CHECK_EQ_INT(watch_fire(idx, "/w", false, true, on_match, &h), 0);
	CHECK_EQ_UINT(h.n, N);
	for (int i = 0; i < N; i++)
		watch_del(idx, w[i]);
	CHECK_EQ_UINT(watch_index_paths(idx), 0);
	watch_index_free(idx);
}

static void test_alloc_failure(void)
{
	struct watch_index *idx = watch_index_new();
	static struct hits h;
	struct watch *w;
	long n;

	CHECK(idx != NULL);
	/* A failed watch_add leaves the index as it was. */
	CHECK(add(idx, "/a", "first", -1));
	for (n = 0; n < 100; n++) {
		int err;

		xalloc_fail_after(n);
		err = watch_add(idx, "/a/b/c/d", "t", -1, 0, &owner1, &w);
		xalloc_fail_after(-1);
		if (err == 0)
			break;
		CHECK_EQ_INT(err, -ENOMEM);
		CHECK_EQ_UINT(watch_count(idx), 1);
		CHECK_EQ_UINT(watch_index_paths(idx), 2);
		CHECK_EQ_STR(rm(idx, "/a"), "first:/a");
	}
	CHECK(n > 0 && n < 100);
	CHECK_EQ_UINT(watch_index_paths(idx), 5);
	watch_del(idx, w);
	CHECK_EQ_UINT(watch_index_paths(idx), 2);
	watch_index_free(idx);

	/* A failed watch_fire still reports what it matched so far. */
	idx = watch_index_new();
	CHECK(idx != NULL);
	for (int i = 0; i < 20; i++)
		CHECK(add(idx, "/a", "t", -1));
	h.n = 0;
	h.len = 0;
	xalloc_fail_after(1); /* the second growth of the match list */
	CHECK_EQ_INT(watch_fire(idx, "/a", false, false, on_match, &h),
	             -ENOMEM);
	xalloc_fail_after(-1);
	CHECK_EQ_UINT(h.n, 16);
	h.n = 0;
	h.len = 0;
	CHECK_EQ_INT(watch_fire(idx, "/a", false, false, on_match, &h), 0);
	CHECK_EQ_UINT(h.n, 20);
	watch_index_free(idx);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_exact_and_ancestors),
    CHECK_TEST(test_depth),
    CHECK_TEST(test_removal),
    CHECK_TEST(test_exact_only),
    CHECK_TEST(test_special_paths),
    CHECK_TEST(test_delivery_order),
    CHECK_TEST(test_find_del),
    CHECK_TEST(test_pruning),
    CHECK_TEST(test_pruning_random),
    CHECK_TEST(test_many_unrelated_watches),
    CHECK_TEST(test_alloc_failure),
};

CHECK_MAIN(tests)
