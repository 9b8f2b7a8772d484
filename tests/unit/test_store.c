/*
 * test_store.c - the store core (store/store.c, tree.c) outside
 * transactions: the initial tree, creation of parents, child order
 * (small and indexed directories), removal, listings and DIRECTORY_PART
 * slices, permissions and quotas for unprivileged callers, owner
 * accounting, change events, and atomicity of single operations under
 * allocation failure.  store_check() runs after every step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store.h"
#include "tests/support/check.h"
#include "tests/support/storetest.h"

#define NO_TARGET PERM_NO_TARGET

static char buf[65536];

/* A new store with events going to `ev` (may be NULL). */
static struct store *new_store(struct st_events *ev)
{
	struct store *s = store_new();

	if (s && ev) {
		st_events_clear(ev);
		store_set_event_cb(s, st_event_cb, ev);
	}
	return s;
}

static int wr(struct store *s, const struct store_caller *c, const char *path,
              const char *value)
{
	return store_write(s, NULL, c ? c : &st_dom0, path, value,
	                   strlen(value));
}

static int setp(struct store *s, const struct store_caller *c, const char *path,
                const struct perm_entry *e, unsigned int n)
{
	return store_set_perms(s, NULL, c ? c : &st_dom0, path, e, n);
}

/* ---- the initial tree ---- */

static void test_initial_tree(void)
{
	struct store *s = new_store(NULL);
	struct store_stats st;
	char *dump;

	CHECK(s != NULL);
	STORE_OK(s);
	dump = st_dump(s, false);
	CHECK(dump != NULL);
	CHECK_EQ_STR(dump, "/= n0\n/tool= n0\n/tool/xenstored= n0\n");
	free(dump);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "tool");
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3);
	store_stats(s, &st);
	CHECK_EQ_UINT(st.main_nodes, 3);
	CHECK_EQ_UINT(st.open_txns, 0);
	CHECK_EQ_INT(
	    st_perms(s, NULL, NULL, "@releaseDomain", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n0");
	CHECK_EQ_INT(
	    st_perms(s, NULL, NULL, "@introduceDomain", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n0");
	store_free(s);
}

/* ---- writing and reading ---- */

static void test_write_creates_parents(void)
{
	struct store *s = new_store(NULL);
	const char *v;
	size_t len;

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/a/b/c", "v"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a/b", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a/b/c", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "v");
	CHECK_EQ_INT(st_perms(s, NULL, NULL, "/a/b", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n0");
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "tool a");
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 6);

	/* Overwrite, empty value, binary value with a nul inside. */
	CHECK_EQ_INT(wr(s, NULL, "/a/b/c", "longer value"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a/b/c", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "longer value");
	CHECK_EQ_INT(wr(s, NULL, "/a/b/c", ""), 0);
	STORE_OK(s);
	CHECK_EQ_INT(store_read(s, NULL, &st_dom0, "/a/b/c", &v, &len), 0);
	CHECK_EQ_UINT(len, 0);
	CHECK_EQ_INT(v[0], 0);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/a/bin", "x\0y\xff", 4),
	             0);
	STORE_OK(s);
	CHECK_EQ_INT(store_read(s, NULL, &st_dom0, "/a/bin", &v, &len), 0);
	CHECK_EQ_UINT(len, 4);
	CHECK_EQ_MEM(v, "x\0y\xff", 5); /* and the nul after it */
	/* Writing a parent keeps its children. */
	CHECK_EQ_INT(wr(s, NULL, "/a", "top"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/a", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "b bin");
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 7);
	store_free(s);
}

static void test_read_missing(void)
{
	struct store *s = new_store(NULL);
	const char *v = NULL;
	size_t len = 0;

	CHECK(s != NULL);
	CHECK_EQ_INT(store_read(s, NULL, &st_dom0, "/nope", &v, &len), -ENOENT);
	CHECK_EQ_INT(
	    store_read(s, NULL, &st_dom0, "/tool/nope/deeper", &v, &len),
	    -ENOENT);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/nope", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ_INT(st_perms(s, NULL, NULL, "/nope", buf, sizeof(buf)),
	             -ENOENT);
	STORE_OK(s);
	store_free(s);
}

/* ---- child order ---- */

static void test_children_order_small(void)
{
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/d/x", "1"), 0);
	CHECK_EQ_INT(wr(s, NULL, "/d/a", "2"), 0);
	CHECK_EQ_INT(wr(s, NULL, "/d/m", "3"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/d", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "x a m");
	/* A new value keeps the position; re-creation goes to the end. */
	CHECK_EQ_INT(wr(s, NULL, "/d/a", "22"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/d", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "x a m");
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/d/a"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/d", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "x m");
	CHECK_EQ_INT(wr(s, NULL, "/d/a", "2"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/d", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "x m a");
	store_free(s);
}

/* Name of the i-th child of the big-directory test, scrambled order. */
static void big_name(unsigned int i, unsigned int n, char *out, size_t sz)
{
	snprintf(out, sz, "k%u", (i * 7919u) % n);
}

/* Is the listing of `path` exactly the names of `order[0..n)`? */
static bool listing_is(struct store *s, const char *path,
                       const unsigned int *order, unsigned int n,
                       unsigned int total)
{
	static char list[65536];
	size_t len, at = 0;
	char name[32];

	if (store_directory(s, NULL, &st_dom0, path, list, sizeof(list), &len,
	                    NULL) != 0) {
		printf("  directory %s failed\n", path);
		return false;
	}
	for (unsigned int i = 0; i < n; i++) {
		big_name(order[i], total, name, sizeof(name));
		if (at >= len || strcmp(list + at, name) != 0) {
			printf("  child %u: expected %s, got %s\n", i, name,
			       at < len ? list + at : "(end)");
			return false;
		}
		at += strlen(name) + 1;
	}
	if (at != len) {
		printf("  %zu extra bytes in the listing\n", len - at);
		return false;
	}
	return true;
}

static void test_children_order_large(void)
{
	enum { N = 1200 };
	struct store *s = new_store(NULL);
	static unsigned int order[N];
	unsigned int n = 0, kept = 0;
	char path[64], name[32];
	const char *v;
	size_t len;

	CHECK(s != NULL);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/big"), 0);
	for (unsigned int i = 0; i < N; i++) {
		big_name(i, N, name, sizeof(name));
		snprintf(path, sizeof(path), "/big/%s", name);
		CHECK_EQ_INT(wr(s, NULL, path, name), 0);
		order[n++] = i;
		STORE_OK(s);
		/* Around the index threshold and at a few sizes after. */
		if (n <= 20 || n == 100 || n == 1001 || n == N)
			CHECK_OK(listing_is(s, "/big", order, n, N));
	}
	/* Every child is found through the index. */
	for (unsigned int i = 0; i < N; i++) {
		big_name(i, N, name, sizeof(name));
		snprintf(path, sizeof(path), "/big/%s", name);
		CHECK_EQ_INT(store_read(s, NULL, &st_dom0, path, &v, &len), 0);
		CHECK_EQ_STR(v, name);
	}
	/* Remove from the middle: position 600, then every third one. */
	for (unsigned int i = 0; i < N; i++) {
		if (i != 600 && i % 3 != 1) {
			order[kept++] = i;
			continue;
		}
		big_name(i, N, name, sizeof(name));
		snprintf(path, sizeof(path), "/big/%s", name);
		CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, path), 0);
		STORE_OK(s);
	}
	CHECK_OK(listing_is(s, "/big", order, kept, N));
	for (unsigned int i = 0; i < N; i++) {
		bool is_gone = i == 600 || i % 3 == 1;

		big_name(i, N, name, sizeof(name));
		snprintf(path, sizeof(path), "/big/%s", name);
		CHECK_EQ_INT(store_read(s, NULL, &st_dom0, path, &v, &len),
		             is_gone ? -ENOENT : 0);
		if (!is_gone)
			CHECK_EQ_STR(v, name);
	}
	/* A re-created child goes to the end and is found. */
	big_name(600, N, name, sizeof(name));
	snprintf(path, sizeof(path), "/big/%s", name);
	CHECK_EQ_INT(wr(s, NULL, path, "again"), 0);
	STORE_OK(s);
	order[kept++] = 600;
	CHECK_OK(listing_is(s, "/big", order, kept, N));
	CHECK_EQ_INT(st_read(s, NULL, NULL, path, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "again");
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3 + 1 + kept);
	/* Removing the whole directory frees every child. */
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/big"), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3);
	store_free(s);
}

/* ---- removal ---- */

static void test_rm_subtree(void)
{
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/a/b/c", "1"), 0);
	CHECK_EQ_INT(wr(s, NULL, "/a/b/d", "2"), 0);
	CHECK_EQ_INT(wr(s, NULL, "/a/e", "3"), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3 + 5);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/a/b"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a/b", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a/b/c", buf, sizeof(buf)),
	             -ENOENT);
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/a/e", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "3");
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/a", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "e");
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3 + 2);
	store_free(s);
}

static void test_rm_missing_and_root(void)
{
	struct store_stats before, after;
	struct st_events ev;
	struct store *s = new_store(&ev);

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/a", "1"), 0);
	st_events_clear(&ev);
	store_stats(s, &before);
	/* Missing node, parent exists: fine.  Parent missing: ENOENT. */
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/a/missing"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/x/y"), -ENOENT);
	STORE_OK(s);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/x/y/z"), -ENOENT);
	STORE_OK(s);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/"), -EINVAL);
	STORE_OK(s);
	CHECK_EQ_UINT(ev.n, 0);
	store_stats(s, &after);
	CHECK_EQ_UINT(after.main_nodes, before.main_nodes);
	CHECK_EQ_UINT(after.generation, before.generation);
	CHECK_EQ_INT(st_dir(s, NULL, NULL, "/", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "tool a");
	store_free(s);
}

static void test_mkdir(void)
{
	struct st_events ev;
	struct store *s = new_store(&ev);
	char *before, *after;

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/m", "val"), 0);
	st_events_clear(&ev);
	before = st_dump(s, true);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/m"), 0);
	STORE_OK(s);
	after = st_dump(s, true);
	CHECK(before && after);
	/* Nothing at all changed, not even a generation. */
	CHECK_EQ_STR(after, before);
	free(before);
	free(after);
	CHECK_EQ_UINT(ev.n, 0);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/n/o"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/n/o", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/m", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "val");
	store_free(s);
}

/* ---- permissions round trip ---- */

static void test_perms_round_trip(void)
{
	static const struct perm_entry p3[] = {
	    {0, PERM_NONE}, {5, PERM_READ}, {7, PERM_BOTH}};
	static const struct perm_entry p1[] = {{9, PERM_WRITE}};
	struct store *s = new_store(NULL);
	char w[64];
	size_t len;

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/p", "x"), 0);
	CHECK_EQ_INT(setp(s, NULL, "/p", p3, 3), 0);
	STORE_OK(s);
	CHECK_EQ_INT(
	    store_get_perms(s, NULL, &st_dom0, "/p", w, sizeof(w), &len), 0);
	CHECK_EQ_UINT(len, 9);
	CHECK_EQ_MEM(w, "n0\0r5\0b7\0", 9);
	/* Exactly fitting, then one byte short. */
	CHECK_EQ_INT(store_get_perms(s, NULL, &st_dom0, "/p", w, 9, &len), 0);
	CHECK_EQ_INT(store_get_perms(s, NULL, &st_dom0, "/p", w, 8, &len),
	             -E2BIG);
	CHECK_EQ_INT(setp(s, NULL, "/p", p1, 1), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_perms(s, NULL, NULL, "/p", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "w9");
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/p", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "x");
	/* Special paths. */
	CHECK_EQ_INT(setp(s, NULL, "@releaseDomain", p3, 3), 0);
	CHECK_EQ_INT(
	    st_perms(s, NULL, NULL, "@releaseDomain", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n0,r5,b7");
	CHECK_EQ_INT(
	    st_perms(s, NULL, NULL, "@introduceDomain", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n0");
	CHECK_EQ_INT(setp(s, NULL, "@other", p3, 3), -EINVAL);
	CHECK_EQ_INT(setp(s, NULL, "/p", p3, 0), -EINVAL);
	CHECK_EQ_INT(setp(s, NULL, "/missing", p3, 3), -ENOENT);
	STORE_OK(s);
	store_free(s);
}

/* ---- listings ---- */

static void test_directory_e2big(void)
{
	struct store *s = new_store(NULL);
	char d[16];
	size_t len = 99;

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/d/abc", ""), 0);
	CHECK_EQ_INT(wr(s, NULL, "/d/de", ""), 0);
	CHECK_EQ_INT(wr(s, NULL, "/d/f", ""), 0);
	STORE_OK(s);
	/* "abc\0de\0f\0": 9 bytes. */
	CHECK_EQ_INT(store_directory(s, NULL, &st_dom0, "/d", d, 9, &len, NULL),
	             0);
	CHECK_EQ_UINT(len, 9);
	CHECK_EQ_MEM(d, "abc\0de\0f\0", 9);
	CHECK_EQ_INT(store_directory(s, NULL, &st_dom0, "/d", d, 8, &len, NULL),
	             -E2BIG);
	CHECK_EQ_INT(store_directory(s, NULL, &st_dom0, "/d", d, 0, &len, NULL),
	             -E2BIG);
	/* An empty directory fits anywhere. */
	CHECK_EQ_INT(
	    store_directory(s, NULL, &st_dom0, "/d/f", d, 0, &len, NULL), 0);
	CHECK_EQ_UINT(len, 0);
	store_free(s);
}

/*
 * The reference for DIRECTORY_PART, as Xen's C xenstored behaves: the
 * child list is the byte string "name\0name\0..." (`list`, `n` bytes);
 * from `off` it returns as many nul-terminated strings of that raw slice
 * as fit in `sz` (so an offset inside a name starts with the name's
 * tail), and an offset at or beyond the end returns nothing, complete.
 */
static void dirpart_ref(const char *list, size_t n, size_t off, size_t sz,
                        size_t *len, bool *is_complete)
{
	size_t used = 0;

	if (off >= n) {
		*len = 0;
		*is_complete = true;
		return;
	}
	while (off + used < n) {
		size_t k = strlen(list + off + used) + 1;

		if (used + k > sz)
			break;
		used += k;
	}
	*len = used;
	*is_complete = off + used == n;
}

/* Compare store_directory_part with the reference at one (off, sz). */
static bool dirpart_matches(struct store *s, const char *path, const char *list,
                            size_t n, size_t off, size_t sz)
{
	char out[64];
	size_t len = 12345, rlen;
	bool is_complete = false, r_complete;
	uint64_t gen = 0;
	int err;

	dirpart_ref(list, n, off, sz, &rlen, &r_complete);
	err = store_directory_part(s, NULL, &st_dom0, path, off, out, sz, &len,
	                           &gen, &is_complete);
	if (err || len != rlen || is_complete != r_complete ||
	    memcmp(out, list + (off < n ? off : n), rlen) != 0) {
		printf("  %s offset %zu size %zu: got err %d len %zu "
		       "complete %d; want len %zu complete %d\n",
		       path, off, sz, err, err ? 0 : len, err ? 0 : is_complete,
		       rlen, r_complete);
		return false;
	}
	return true;
}

/* Offsets at name boundaries (the common case, the client's loop). */
static void test_directory_part_boundaries(void)
{
	static const char list[] = "aa\0b\0cccc\0"; /* 10 bytes */
	static const size_t starts[] = {0, 3, 5, 10};
	struct store *s = new_store(NULL);
	uint64_t gen1 = 0, gen2 = 0, gen3 = 0;
	bool is_complete;
	size_t len;
	char d[32];

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/dp/aa", ""), 0);
	CHECK_EQ_INT(wr(s, NULL, "/dp/b", ""), 0);
	CHECK_EQ_INT(wr(s, NULL, "/dp/cccc", ""), 0);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/empty"), 0);
	STORE_OK(s);
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		for (size_t sz = 0; sz <= 12; sz++)
			CHECK_OK(
			    dirpart_matches(s, "/dp", list, 10, starts[i], sz));
	CHECK_OK(dirpart_matches(s, "/empty", "", 0, 0, 0));
	CHECK_OK(dirpart_matches(s, "/empty", "", 0, 0, 8));
	/* The client's loop: 5 bytes at a time. */
	CHECK_EQ_INT(store_directory_part(s, NULL, &st_dom0, "/dp", 0, d, 5,
	                                  &len, &gen1, &is_complete),
	             0);
	CHECK_EQ_UINT(len, 5);
	CHECK(!is_complete);
	CHECK_EQ_INT(store_directory_part(s, NULL, &st_dom0, "/dp", 5, d, 5,
	                                  &len, &gen2, &is_complete),
	             0);
	CHECK_EQ_UINT(len, 5);
	CHECK(is_complete);
	CHECK_EQ_MEM(d, "cccc\0", 5);
	CHECK_EQ_UINT(gen1, gen2);
	/* The generation is the node's, and changes with its children. */
	CHECK_EQ_INT(store_directory(s, NULL, &st_dom0, "/dp", d, sizeof(d),
	                             &len, &gen3),
	             0);
	CHECK_EQ_UINT(gen3, gen1);
	CHECK_EQ_INT(wr(s, NULL, "/dp/e", ""), 0);
	STORE_OK(s);
	CHECK_EQ_INT(store_directory_part(s, NULL, &st_dom0, "/dp", 0, d, 5,
	                                  &len, &gen2, &is_complete),
	             0);
	CHECK(gen2 != gen1);
	/* Errors of the lookup. */
	CHECK_EQ_INT(store_directory_part(s, NULL, &st_dom0, "/nope", 0, d, 5,
	                                  &len, &gen2, &is_complete),
	             -ENOENT);
	store_free(s);
}

/*
 * Every offset, including inside a name and beyond the end, against
 * Xen's raw byte slice (see dirpart_ref).
 */
static void test_directory_part_slices(void)
{
	static const char list[] = "aa\0b\0cccc\0"; /* 10 bytes */
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/dp/aa", ""), 0);
	CHECK_EQ_INT(wr(s, NULL, "/dp/b", ""), 0);
	CHECK_EQ_INT(wr(s, NULL, "/dp/cccc", ""), 0);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/empty"), 0);
	STORE_OK(s);
	/* Inside "aa", inside "cccc", at the end, beyond the end. */
	CHECK_OK(dirpart_matches(s, "/dp", list, 10, 1, 64));
	CHECK_OK(dirpart_matches(s, "/dp", list, 10, 7, 64));
	CHECK_OK(dirpart_matches(s, "/dp", list, 10, 10, 64));
	CHECK_OK(dirpart_matches(s, "/dp", list, 10, 11, 64));
	CHECK_OK(dirpart_matches(s, "/dp", list, 10, 100000, 64));
	CHECK_OK(dirpart_matches(s, "/empty", "", 0, 1, 64));
	for (size_t off = 0; off <= 12; off++)
		for (size_t sz = 0; sz <= 12; sz++)
			CHECK_OK(dirpart_matches(s, "/dp", list, 10, off, sz));
	store_free(s);
}

/* ---- permissions of unprivileged callers ---- */

/*
 * The tree the permission tests run on (made by dom0):
 *   /local/domain/5   owner 5, default none       (dom5's home)
 *   /pub              owner 0, default read
 *   /priv             owner 0, default none
 *   /shared           owner 0, none, but 5 may read and write
 *   /ro5              owner 0, default both, but 5 may only read
 */
static bool make_perm_tree(struct store *s)
{
	static const struct perm_entry home[] = {{5, PERM_NONE}};
	static const struct perm_entry pub[] = {{0, PERM_READ}};
	static const struct perm_entry shared[] = {{0, PERM_NONE},
	                                           {5, PERM_BOTH}};
	static const struct perm_entry ro5[] = {{0, PERM_BOTH}, {5, PERM_READ}};

	return store_mkdir(s, NULL, &st_dom0, "/local/domain/5") == 0 &&
	       setp(s, NULL, "/local/domain/5", home, 1) == 0 &&
	       wr(s, NULL, "/pub", "p") == 0 &&
	       setp(s, NULL, "/pub", pub, 1) == 0 &&
	       wr(s, NULL, "/priv", "s") == 0 &&
	       wr(s, NULL, "/shared", "") == 0 &&
	       setp(s, NULL, "/shared", shared, 2) == 0 &&
	       wr(s, NULL, "/ro5", "r") == 0 &&
	       setp(s, NULL, "/ro5", ro5, 2) == 0 && st_sane(s);
}

/* The rights of domain 5 (`q`: its quota or NULL) on the test tree. */
static void check_dom5_rights(const struct quota_set *q)
{
	const struct store_caller d5 = {
	    .domid = 5, .target = NO_TARGET, .quota = q};
	const struct store_caller d7 = {
	    .domid = 7, .target = NO_TARGET, .quota = q};
	static const struct perm_entry mine[] = {{5, PERM_READ},
	                                         {7, PERM_WRITE}};
	static const struct perm_entry give[] = {{7, PERM_READ}};
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	CHECK_OK(make_perm_tree(s));
	/* Default entry, per-domain entry, owner. */
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/pub", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "p");
	CHECK_EQ_INT(wr(s, &d5, "/pub", "x"), -EACCES);
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/priv", buf, sizeof(buf)), -EACCES);
	CHECK_EQ_INT(st_dir(s, NULL, &d5, "/priv", buf, sizeof(buf)), -EACCES);
	CHECK_EQ_INT(st_perms(s, NULL, &d5, "/priv", buf, sizeof(buf)),
	             -EACCES);
	CHECK_EQ_INT(wr(s, &d5, "/priv", "x"), -EACCES);
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/ro5", buf, sizeof(buf)), 0);
	CHECK_EQ_INT(wr(s, &d5, "/ro5", "x"), -EACCES);
	CHECK_EQ_INT(wr(s, &d7, "/ro5", "by7"), 0);
	CHECK_EQ_INT(st_read(s, NULL, &d7, "/local/domain/5", buf, sizeof(buf)),
	             -EACCES);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5", "home"), 0);
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/local/domain/5", buf, sizeof(buf)),
	             0);
	CHECK_EQ_STR(buf, "home");
	STORE_OK(s);

	/* Missing nodes: ENOENT only with the right on the nearest node. */
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/priv/missing", buf, sizeof(buf)),
	             -EACCES);
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/pub/missing", buf, sizeof(buf)),
	             -ENOENT);
	CHECK_EQ_INT(st_read(s, NULL, &d5, "/missing", buf, sizeof(buf)),
	             -EACCES);
	CHECK_EQ_INT(
	    st_read(s, NULL, &d5, "/local/domain/5/m/n", buf, sizeof(buf)),
	    -ENOENT);
	CHECK_EQ_INT(wr(s, &d5, "/pub/missing", "x"), -EACCES);
	CHECK_EQ_INT(store_rm(s, NULL, &d5, "/pub/missing"), -EACCES);
	CHECK_EQ_INT(store_rm(s, NULL, &d5, "/local/domain/5/missing"), 0);
	CHECK_EQ_INT(store_rm(s, NULL, &d5, "/local/domain/5/m/n"), -ENOENT);
	CHECK_EQ_INT(store_rm(s, NULL, &d5, "/pub"), -EACCES);
	CHECK_EQ_INT(setp(s, &d5, "/local/domain/5/missing", mine, 2), -ENOENT);
	CHECK_EQ_INT(setp(s, &d5, "/priv/missing", mine, 2), -EACCES);
	STORE_OK(s);

	/* The unprivileged creator owns what it creates. */
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 1);
	CHECK_EQ_INT(wr(s, &d5, "/shared/new/deep", "v"), 0);
	STORE_OK(s);
	CHECK_EQ_INT(st_perms(s, NULL, NULL, "/shared/new", buf, sizeof(buf)),
	             0);
	CHECK_EQ_STR(buf, "n5,b5");
	CHECK_EQ_INT(
	    st_perms(s, NULL, NULL, "/shared/new/deep", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n5,b5");
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 3);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/a", "1"), 0);
	CHECK_EQ_INT(
	    st_perms(s, NULL, NULL, "/local/domain/5/a", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "n5");
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 4);
	STORE_OK(s);

	/* Owner changes: EPERM for unprivileged, EACCES for non-owners. */
	CHECK_EQ_INT(setp(s, &d5, "/local/domain/5/a", give, 1), -EPERM);
	CHECK_EQ_INT(setp(s, &d5, "/local/domain/5/a", mine, 2), 0);
	CHECK_EQ_INT(
	    st_perms(s, NULL, &d5, "/local/domain/5/a", buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "r5,w7");
	CHECK_EQ_INT(setp(s, &d5, "/shared", mine, 2), -EACCES);
	CHECK_EQ_INT(setp(s, &d7, "/local/domain/5/a", mine, 2), -EACCES);
	/* 7 may write (its entry) but not read /local/domain/5/a. */
	CHECK_EQ_INT(wr(s, &d7, "/local/domain/5/a", "w"), 0);
	CHECK_EQ_INT(
	    st_read(s, NULL, &d7, "/local/domain/5/a", buf, sizeof(buf)),
	    -EACCES);
	CHECK_EQ_INT(setp(s, NULL, "/local/domain/5/a", give, 1), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 3);
	CHECK_EQ_UINT(store_domain_nodes(s, 7), 1);
	STORE_OK(s);
	/* Special paths need read and write. */
	CHECK_EQ_INT(setp(s, &d5, "@releaseDomain", mine, 2), -EACCES);
	CHECK_EQ_INT(st_perms(s, NULL, &d5, "@releaseDomain", buf, sizeof(buf)),
	             -EACCES);
	store_free(s);
}

static void test_perms_unprivileged(void)
{
	check_dom5_rights(NULL);
}

static void test_perms_unprivileged_quota(void)
{
	struct quota_set q;

	quota_defaults(&q);
	check_dom5_rights(&q);
}

static void test_perms_target(void)
{
	/* Domain 6 with SET_TARGET 5 acts as 5's owner. */
	const struct store_caller d6 = {.domid = 6, .target = 5, .quota = NULL};
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	CHECK_OK(make_perm_tree(s));
	CHECK_EQ_INT(wr(s, &d6, "/local/domain/5/t", "x"), 0);
	CHECK_EQ_INT(st_read(s, NULL, &d6, "/shared", buf, sizeof(buf)), 0);
	CHECK_EQ_INT(st_read(s, NULL, &d6, "/priv", buf, sizeof(buf)), -EACCES);
	STORE_OK(s);
	store_free(s);
}

/* ---- quotas ---- */

static void test_quota_nodes(void)
{
	struct quota_set q;
	const struct store_caller d5 = {
	    .domid = 5, .target = NO_TARGET, .quota = &q};
	struct st_events ev;
	struct store *s = new_store(&ev);
	char *before, *after;
	char path[64];

	CHECK(s != NULL);
	quota_defaults(&q);
	q.v[QUOTA_NODES] = 5;
	CHECK_OK(make_perm_tree(s));
	/* Owns its home: 1.  Four more reach the limit exactly. */
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/a/b", "1"), 0);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/c", "1"), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 4);
	/* Two more would be 6 > 5: nothing is created, not even "/x". */
	st_events_clear(&ev);
	before = st_dump(s, true);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/x/y", "1"), -ENOSPC);
	CHECK_EQ_INT(store_mkdir(s, NULL, &d5, "/local/domain/5/x/y"), -ENOSPC);
	STORE_OK(s);
	after = st_dump(s, true);
	CHECK(before && after);
	CHECK_EQ_STR(after, before);
	free(before);
	free(after);
	CHECK_EQ_UINT(ev.n, 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 4);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/d", "1"), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 5);
	/* At the limit: no new node, but existing ones can change. */
	before = st_dump(s, true);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/e", "1"), -ENOSPC);
	STORE_OK(s);
	after = st_dump(s, true);
	CHECK(before && after);
	CHECK_EQ_STR(after, before);
	free(before);
	free(after);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/d", "changed"), 0);
	CHECK_EQ_INT(store_mkdir(s, NULL, &d5, "/local/domain/5/d"), 0);
	/* Freeing nodes makes room again. */
	CHECK_EQ_INT(store_rm(s, NULL, &d5, "/local/domain/5/a"), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 3);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/e/f", "1"), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 5);
	/* The privileged domain is never limited, even creating 5's. */
	CHECK_EQ_INT(wr(s, NULL, "/local/domain/5/g", "1"), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 6);
	STORE_OK(s);

	/*
	 * The default quota: 1000 nodes, in groups of 50 so that no child
	 * list outgrows the node-size quota (2048 bytes).
	 */
	quota_defaults(&q);
	for (unsigned int i = 0;; i++) {
		unsigned long owned = store_domain_nodes(s, 5);
		unsigned int delta = i % 50 == 0 ? 2 : 1; /* new group dir */

		if (owned + delta > 1000) {
			if (owned < 1000)
				CHECK_EQ_INT(
				    wr(s, &d5, "/local/domain/5/g0/x", ""), 0);
			break;
		}
		snprintf(path, sizeof(path), "/local/domain/5/g%u/n%u", i / 50,
		         i % 50);
		CHECK_EQ_INT(wr(s, &d5, path, ""), 0);
	}
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 1000);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/last", ""), -ENOSPC);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 1000);
	STORE_OK(s);
	store_free(s);
}

static void test_quota_node_size(void)
{
	struct quota_set q;
	const struct store_caller d5 = {
	    .domid = 5, .target = NO_TARGET, .quota = &q};
	struct store *s = new_store(NULL);
	static char big[4096];

	CHECK(s != NULL);
	quota_defaults(&q); /* node-size 2048 */
	memset(big, 'v', sizeof(big));
	CHECK_OK(make_perm_tree(s));
	/* A node of one permission: 24 + 8 + value <= 2048. */
	CHECK_EQ_INT(store_write(s, NULL, &d5, "/local/domain/5/v", big, 2017),
	             -ENOSPC);
	CHECK_EQ_INT(
	    st_read(s, NULL, NULL, "/local/domain/5/v", buf, sizeof(buf)),
	    -ENOENT);
	CHECK_EQ_INT(store_write(s, NULL, &d5, "/local/domain/5/v", big, 2016),
	             0);
	STORE_OK(s);
	CHECK_EQ_INT(store_write(s, NULL, &d5, "/local/domain/5/v", big, 2017),
	             -ENOSPC);
	CHECK_EQ_INT(
	    st_read(s, NULL, NULL, "/local/domain/5/v", buf, sizeof(buf)), 0);
	CHECK_EQ_UINT(strlen(buf), 2016);
	/* The parent grows by each child's name and nul. */
	CHECK_EQ_INT(store_write(s, NULL, &d5, "/local/domain/5", big, 2000),
	             0);
	/* 32 + 2000 + "v\0" = 2034; + 15 bytes "abcdefghijklmn\0" = 2049 */
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/abcdefghijklmn", ""), -ENOSPC);
	CHECK_EQ_INT(wr(s, &d5, "/local/domain/5/abcdefghijklm", ""), 0);
	STORE_OK(s);
	/* Unlimited callers are not checked. */
	CHECK_EQ_INT(
	    store_write(s, NULL, &st_dom0, "/local/domain/5/w", big, 4096), 0);
	STORE_OK(s);
	store_free(s);
}

static void test_quota_perms(void)
{
	struct quota_set q;
	const struct store_caller d5 = {
	    .domid = 5, .target = NO_TARGET, .quota = &q};
	static const struct perm_entry six[] = {{5, PERM_NONE}, {1, PERM_READ},
	                                        {2, PERM_READ}, {3, PERM_READ},
	                                        {4, PERM_READ}, {6, PERM_READ}};
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	quota_defaults(&q); /* permissions: 5 entries, as Xen counts them */
	CHECK_OK(make_perm_tree(s));
	CHECK_EQ_INT(setp(s, &d5, "/local/domain/5", six, 6), -ENOSPC);
	CHECK_EQ_INT(setp(s, &d5, "/local/domain/5", six, 5), 0);
	CHECK_EQ_INT(setp(s, NULL, "/local/domain/5", six, 6), 0);
	STORE_OK(s);
	store_free(s);
}

/* ---- owner accounting ---- */

static void test_domain_nodes_accounting(void)
{
	static const struct perm_entry to5[] = {{5, PERM_NONE}};
	static const struct perm_entry to7[] = {{7, PERM_READ}, {5, PERM_BOTH}};
	struct store *s = new_store(NULL);

	CHECK(s != NULL);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3);
	CHECK_EQ_INT(wr(s, NULL, "/a/b", "x"), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 5);
	CHECK_EQ_INT(setp(s, NULL, "/a", to5, 1), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 4);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 1);
	/* Same owner again: no change. */
	CHECK_EQ_INT(setp(s, NULL, "/a", to5, 1), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 1);
	/* The privileged domain creates with the parent's owner. */
	CHECK_EQ_INT(wr(s, NULL, "/a/c", "x"), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 2);
	CHECK_EQ_INT(setp(s, NULL, "/a/b", to7, 2), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3);
	CHECK_EQ_UINT(store_domain_nodes(s, 7), 1);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/a"), 0);
	STORE_OK(s);
	CHECK_EQ_UINT(store_domain_nodes(s, 0), 3);
	CHECK_EQ_UINT(store_domain_nodes(s, 5), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 7), 0);
	CHECK_EQ_UINT(store_domain_nodes(s, 70000), 0);
	store_free(s);
}

/* ---- events ---- */

static void test_events(void)
{
	static const struct perm_entry p2[] = {{0, PERM_READ}, {5, PERM_BOTH}};
	struct st_events ev;
	struct store *s = new_store(&ev);
	char str[1024];

	CHECK(s != NULL);
	/* A write creating parents: one event, for the target. */
	CHECK_EQ_INT(wr(s, NULL, "/e/f/g", "1"), 0);
	CHECK_EQ_STR(st_events_str(&ev, str, sizeof(str)), "ch:/e/f/g");
	CHECK_EQ_STR(ev.ev[0].perms, "n0");
	CHECK_EQ_STR(ev.ev[0].old_perms, "-");
	st_events_clear(&ev);
	CHECK_EQ_INT(wr(s, NULL, "/e/f/g", "2"), 0);
	CHECK_EQ_STR(st_events_str(&ev, str, sizeof(str)), "ch:/e/f/g");
	st_events_clear(&ev);
	/* mkdir: none for an existing node, one for a new one. */
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/e/f"), 0);
	CHECK_EQ_UINT(ev.n, 0);
	CHECK_EQ_INT(store_mkdir(s, NULL, &st_dom0, "/e/h"), 0);
	CHECK_EQ_STR(st_events_str(&ev, str, sizeof(str)), "ch:/e/h");
	st_events_clear(&ev);
	/* set_perms: the new and the old permissions. */
	CHECK_EQ_INT(setp(s, NULL, "/e/h", p2, 2), 0);
	CHECK_EQ_STR(st_events_str(&ev, str, sizeof(str)), "ch:/e/h");
	CHECK_EQ_STR(ev.ev[0].perms, "r0,b5");
	CHECK_EQ_STR(ev.ev[0].old_perms, "n0");
	st_events_clear(&ev);
	/* Failures report nothing. */
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/e/none"), 0);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/"), -EINVAL);
	CHECK_EQ_INT(setp(s, NULL, "/none", p2, 2), -ENOENT);
	CHECK_EQ_INT(setp(s, NULL, "@releaseDomain", p2, 2), 0);
	CHECK_EQ_UINT(ev.n, 0);
	STORE_OK(s);
	/* rm of a subtree: children first, in order; the top last. */
	CHECK_EQ_INT(wr(s, NULL, "/e/f/i", "3"), 0);
	st_events_clear(&ev);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/e"), 0);
	STORE_OK(s);
	CHECK_EQ_STR(st_events_str(&ev, str, sizeof(str)),
	             "rmx:/e/f/g rmx:/e/f/i rmx:/e/f rmx:/e/h rm:/e");
	/* Each with the node's permissions before removal. */
	CHECK_EQ_STR(ev.ev[3].perms, "r0,b5");
	CHECK_EQ_STR(ev.ev[4].perms, "n0");
	st_events_clear(&ev);
	/* A single node. */
	CHECK_EQ_INT(wr(s, NULL, "/one", ""), 0);
	st_events_clear(&ev);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/one"), 0);
	CHECK_EQ_STR(st_events_str(&ev, str, sizeof(str)), "rm:/one");
	store_free(s);
}

/* ---- single operations under allocation failure ---- */

typedef int op_fn(struct store *s);

static int op_write_chain(struct store *s)
{
	return wr(s, NULL, "/f/new/chain/deep", "value");
}

static int op_write_value(struct store *s)
{
	return wr(s, NULL, "/f/a", "another value, longer");
}

static int op_rm_subtree(struct store *s)
{
	return store_rm(s, NULL, &st_dom0, "/f/sub");
}

static int op_set_perms(struct store *s)
{
	static const struct perm_entry p[] = {{5, PERM_READ}, {7, PERM_BOTH}};

	return setp(s, NULL, "/f/a", p, 2);
}

static int op_mkdir(struct store *s)
{
	return store_mkdir(s, NULL, &st_dom0, "/f/sub/x/y");
}

/*
 * Run `op` with the n-th allocation failing, n = 0, 1, ...: each failure
 * must be -ENOMEM with the tree, the accounting and the events exactly
 * as before; eventually the operation succeeds.
 */
static void check_atomic_op(op_fn *op, const char *what)
{
	struct st_events ev;
	struct store *s = new_store(&ev);
	long n;

	CHECK(s != NULL);
	/* Enough children under /f to have an index to rebuild. */
	for (int i = 0; i < 12; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/f/sub/k%d", i);
		CHECK_EQ_INT(wr(s, NULL, path, "x"), 0);
	}
	CHECK_EQ_INT(wr(s, NULL, "/f/a", "a"), 0);
	for (n = 0; n < 1000; n++) {
		char *before = st_dump(s, true), *after;
		unsigned long owned0 = store_domain_nodes(s, 0);
		struct store_stats st0, st1;
		int err;

		CHECK(before != NULL);
		store_stats(s, &st0);
		st_events_clear(&ev);
		xalloc_fail_after(n);
		err = op(s);
		xalloc_fail_after(-1);
		if (err == 0) {
			free(before);
			break;
		}
		after = st_dump(s, true);
		store_stats(s, &st1);
		if (err != -ENOMEM || !after || strcmp(before, after) != 0)
			printf("  %s, allocation %ld failing\n", what, n);
		CHECK_EQ_INT(err, -ENOMEM);
		CHECK(after != NULL);
		CHECK_EQ_STR(after, before);
		free(before);
		free(after);
		STORE_OK(s);
		CHECK_EQ_UINT(store_domain_nodes(s, 0), owned0);
		CHECK_EQ_UINT(ev.n, 0);
		/* Spare child slots may stay: node_bytes can grow. */
		CHECK_EQ_UINT(st1.nodes, st0.nodes);
	}
	CHECK(n < 1000);
	CHECK(ev.n > 0);
	STORE_OK(s);
	store_free(s);
}

static void test_single_ops_alloc_failure(void)
{
	check_atomic_op(op_write_chain, "write chain");
	check_atomic_op(op_write_value, "write value");
	check_atomic_op(op_rm_subtree, "rm subtree");
	check_atomic_op(op_set_perms, "set_perms");
	check_atomic_op(op_mkdir, "mkdir");
}

static void test_new_alloc_failure(void)
{
	long n;

	for (n = 0; n < 1000; n++) {
		struct store *s;

		xalloc_fail_after(n);
		s = store_new();
		xalloc_fail_after(-1);
		if (s) {
			STORE_OK(s);
			store_free(s);
			break;
		}
	}
	CHECK(n < 1000);
}

/* The checker itself under allocation failure: -ENOMEM, no crash. */
static void test_check_alloc_failure(void)
{
	struct store *s = new_store(NULL);
	char why[128];
	long n;

	CHECK(s != NULL);
	CHECK_EQ_INT(wr(s, NULL, "/a/b", "x"), 0);
	for (n = 0; n < 100; n++) {
		int err;

		xalloc_fail_after(n);
		err = store_check(s, why, sizeof(why));
		xalloc_fail_after(-1);
		if (err == 0)
			break;
		CHECK_EQ_INT(err, -ENOMEM);
	}
	CHECK(n > 0 && n < 100);
	store_free(s);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_initial_tree),
    CHECK_TEST(test_write_creates_parents),
    CHECK_TEST(test_read_missing),
    CHECK_TEST(test_children_order_small),
    CHECK_TEST(test_children_order_large),
    CHECK_TEST(test_rm_subtree),
    CHECK_TEST(test_rm_missing_and_root),
    CHECK_TEST(test_mkdir),
    CHECK_TEST(test_perms_round_trip),
    CHECK_TEST(test_directory_e2big),
    CHECK_TEST(test_directory_part_boundaries),
    CHECK_TEST(test_directory_part_slices),
    CHECK_TEST(test_perms_unprivileged),
    CHECK_TEST(test_perms_unprivileged_quota),
    CHECK_TEST(test_perms_target),
    CHECK_TEST(test_quota_nodes),
    CHECK_TEST(test_quota_node_size),
    CHECK_TEST(test_quota_perms),
    CHECK_TEST(test_domain_nodes_accounting),
    CHECK_TEST(test_events),
    CHECK_TEST(test_single_ops_alloc_failure),
    CHECK_TEST(test_new_alloc_failure),
    CHECK_TEST(test_check_alloc_failure),
};

CHECK_MAIN(tests)
