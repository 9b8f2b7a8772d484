/*
 * test_tree_index.c - a big directory's child index (store/tree.c):
 * children added and taken out at random stay findable at their
 * positions, names gone are not found; and taking one child out of a directory
 * of thousands reads only the children of its probe chain, not all of them (a
 * rebuild did: a cache miss per child in /local/domain, per domain destroyed).
 * Counted in children read, not timed.
 *
 * A flat directory's hashed table (between KIDS_INDEX_MIN and
 * KIDS_FLAT_MAX slots, where its children themselves are hashed): the
 * same against a model, through growth, removals and copies; and a
 * lookup there reads the table's entry and the child only, never the
 * block's count (issue 15: each line a lookup touches is a cache miss at
 * a million nodes), nor does an overwrite, which AddressSanitizer checks
 * by poisoning the count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

#include "store/tree.h"
#include "tests/support/check.h"

#define NKIDS 4000

static struct node *kid(struct tree_env *env, struct nperms *p, unsigned int i)
{
	char name[16];
	int n = snprintf(name, sizeof(name), "%u", i);

	return node_new(env, name, (size_t)n, "v", 1, p);
}

/* Every child found where it is; `gone` (if any) found nowhere. */
static bool index_ok(const struct tree_env *env, const struct node *dir,
                     int gone)
{
	char name[16];

	for (uint32_t i = 0; i < node_nkids(dir); i++) {
		const struct node *k = node_kid(dir, i);

		if (node_find_kid(env, dir, node_name(k), k->name_len) != i) {
			printf("  child %u (%s) not found at its place\n", i,
			       node_name(k));
			return false;
		}
	}
	if (gone >= 0) {
		int n = snprintf(name, sizeof(name), "%d", gone);

		if (node_find_kid(env, dir, name, (size_t)n) != -1) {
			printf("  %s found after its removal\n", name);
			return false;
		}
	}
	return true;
}

static void test_remove_reads_only_its_chain(void)
{
	struct perm_entry e0 = {0, PERM_NONE};
	struct tree_env env = {0};
	struct nperms *p = nperms_new(&e0, 1);
	struct node *dir, *k;
	unsigned long before;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	int removed[64];

	siphash_key_random(&env.key);
	CHECK(p != NULL);
	dir = node_new(&env, "domain", 6, NULL, 0, p);
	CHECK(dir != NULL);
	for (unsigned int i = 0; i < NKIDS; i++) {
		CHECK_EQ_INT(node_reserve_kid(&env, dir), 0);
		k = kid(&env, p, i);
		CHECK(k != NULL);
		node_add_kid(&env, dir, k);
	}
	CHECK(index_ok(&env, dir, -1));
	for (unsigned int r = 0; r < 64; r++) {
		uint32_t pos;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		pos = (uint32_t)(rng % node_nkids(dir));
		removed[r] = atoi(node_name(node_kid(dir, (uint32_t)pos)));
		CHECK_EQ_INT(node_reserve_remove(&env, dir, pos), 0);
		before = env.kids_hashed;
		k = node_remove_kid(&env, dir, pos);
		/* Its own hash and its probe chain's: a few, never ~4000. */
		CHECK(env.kids_hashed - before < 64);
		node_unref(&env, k);
		CHECK(index_ok(&env, dir, removed[r]));
		/* Added back at the end: findable again. */
		if (r % 2) {
			CHECK_EQ_INT(node_reserve_kid(&env, dir), 0);
			k = kid(&env, p, (unsigned int)removed[r]);
			CHECK(k != NULL);
			node_add_kid(&env, dir, k);
			CHECK(index_ok(&env, dir, -1));
		}
	}
	CHECK_EQ_UINT(node_nkids(dir), NKIDS - 32);
	node_unref(&env, dir);
	nperms_unref(p);
	CHECK_EQ_UINT(env.nr_nodes, 0);
}

/* A root with one directory "d", both made with `p`. */
static void root_with_dir(struct tree_env *env, struct nperms *p,
                          struct node **root, struct node **dir)
{
	*root = node_new(env, "", 0, NULL, 0, p);
	*dir = node_new(env, "d", 1, NULL, 0, p);
	CHECK(*root && *dir);
	CHECK_EQ_INT(node_reserve_kid(env, *root), 0);
	node_add_kid(env, *root, *dir);
}

static uint64_t next_rand(uint64_t *rng)
{
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return *rng;
}

/*
 * A directory that stays flat (at most KIDS_FLAT_MAX children), changed
 * at random - children added, taken out anywhere, the directory copied
 * by copy-on-write while an older version holds it - checked against a
 * model of its names in order after every step, the old version too.
 */
static void test_flat_table_model(void)
{
	struct perm_entry e0 = {0, PERM_NONE};
	struct tree_env env = {0};
	struct nperms *p = nperms_new(&e0, 1);
	unsigned int model[KIDS_FLAT_MAX], old_model[KIDS_FLAT_MAX];
	unsigned int n = 0, old_n = 0, next = 0;
	struct node *root, *snap = NULL, *k;
	struct walk w;
	uint64_t rng = 0x7ab1e;
	char name[16], path[32];

	siphash_key_random(&env.key);
	CHECK(p != NULL);
	walk_init(&w);
	root_with_dir(&env, p, &root, &k);
	for (unsigned int step = 0; step < 6000; step++) {
		unsigned int op = (unsigned int)(next_rand(&rng) % 100);
		struct node *dir;

		CHECK_EQ_INT(tree_walk(&env, root, "/d", &w), 0);
		CHECK_EQ_INT(tree_unshare(&env, &root, &w, 1), 0);
		dir = w.nodes[1];
		if (op < 2) { /* a snapshot: the next change copies */
			if (snap)
				node_unref(&env, snap);
			snap = root;
			node_ref(snap);
			memcpy(old_model, model, sizeof(model));
			old_n = n;
		} else if (n < KIDS_FLAT_MAX && (op < 55 || n == 0)) {
			int len = snprintf(name, sizeof(name), "k%u", next);

			k = node_new(&env, name, (size_t)len, "v", 1, p);
			CHECK(k != NULL);
			CHECK_EQ_INT(node_reserve_kid(&env, dir), 0);
			node_add_kid(&env, dir, k);
			model[n++] = next++;
		} else if (n) {
			unsigned int i = (unsigned int)(next_rand(&rng) % n);

			/* Through the walk's place, as an RM does. */
			snprintf(path, sizeof(path), "/d/k%u", model[i]);
			CHECK_EQ_INT(tree_walk(&env, root, path, &w), 0);
			CHECK_EQ_UINT(w.found, 2);
			CHECK_EQ_UINT(node_kid_index(dir, w.pos[2]), i);
			CHECK(node_kid(dir, i) == w.nodes[2]);
			CHECK_EQ_INT(node_reserve_remove(&env, dir, i), 0);
			node_unref(&env, node_remove_kid(&env, dir, i));
			memmove(model + i, model + i + 1,
			        (n - i - 1) * sizeof(model[0]));
			n--;
		}
		CHECK(node_kids_cap(dir) <= KIDS_FLAT_MAX);
		CHECK_EQ_UINT(node_nkids(dir), n);
		for (unsigned int i = 0; i < n; i++) {
			int len = snprintf(name, sizeof(name), "k%u", model[i]);

			CHECK_EQ_STR(node_name(node_kid(dir, i)), name);
			CHECK_EQ_INT(
			    node_find_kid(&env, dir, name, (size_t)len), i);
			CHECK(node_find(&env, dir, name, (size_t)len) ==
			      node_kid(dir, i));
		}
		CHECK(node_find(&env, dir, "nope", 4) == NULL);
		if (snap) {
			struct node *od = tree_lookup(&env, snap, "/d", NULL);

			CHECK_EQ_UINT(node_nkids(od), old_n);
			for (unsigned int i = 0; i < old_n; i++) {
				snprintf(path, sizeof(path), "/d/k%u",
				         old_model[i]);
				CHECK(tree_lookup(&env, snap, path, NULL) ==
				      node_kid(od, i));
			}
		}
	}
	node_unref(&env, snap);
	node_unref(&env, root);
	walk_fini(&w);
	nperms_unref(p);
	CHECK_EQ_UINT(env.nr_nodes, 0);
}

/*
 * A lookup in a directory of 100 (a level of workload 7's paths) reads
 * no count, nor does an overwrite of a child: with the count's bytes
 * poisoned, every child is still found by path and by walk, and
 * overwritten in place.  The code before issue 15 read it first, one
 * cache line more per level.
 */
static void test_lookup_reads_no_count(void)
{
#ifdef __SANITIZE_ADDRESS__
	struct perm_entry e0 = {0, PERM_NONE};
	struct tree_env env = {0};
	struct nperms *p = nperms_new(&e0, 1);
	struct node *root, *dir;
	struct kids_hdr *h;
	struct walk w;
	char path[32];

	siphash_key_random(&env.key);
	CHECK(p != NULL);
	walk_init(&w);
	root_with_dir(&env, p, &root, &dir);
	for (unsigned int i = 0; i < 100; i++) {
		CHECK_EQ_INT(node_reserve_kid(&env, dir), 0);
		node_add_kid(&env, dir, kid(&env, p, i));
	}
	h = node_kids_hdr(dir);
	ASAN_POISON_MEMORY_REGION(h, sizeof(*h));
	for (unsigned int i = 0; i < 100; i++) {
		struct node *k;

		snprintf(path, sizeof(path), "/d/%u", i);
		k = tree_lookup(&env, root, path, NULL);
		CHECK(k != NULL && (unsigned int)atoi(node_name(k)) == i);
		CHECK_EQ_INT(tree_walk(&env, root, path, &w), 0);
		CHECK(w.found == 2 && w.nodes[2] == k);
		CHECK_EQ_INT(tree_unshare(&env, &root, &w, 2), 0);
		CHECK_EQ_INT(node_set_value(&env, &root, &w, 2, "w", 1, 2), 0);
		CHECK(w.nodes[2] == k && !strcmp(node_value(k), "w"));
	}
	CHECK(tree_lookup(&env, root, "/d/100", NULL) == NULL);
	ASAN_UNPOISON_MEMORY_REGION(h, sizeof(*h));
	node_unref(&env, root);
	walk_fini(&w);
	nperms_unref(p);
	CHECK_EQ_UINT(env.nr_nodes, 0);
#else
	printf("  SKIP: needs AddressSanitizer to see what a lookup reads\n");
#endif
}

static const struct check_test tests[] = {
    CHECK_TEST(test_remove_reads_only_its_chain),
    CHECK_TEST(test_flat_table_model),
    CHECK_TEST(test_lookup_reads_no_count),
};

CHECK_MAIN(tests)
