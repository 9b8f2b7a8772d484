/*
 * test_tree_index.c - a big directory's child index (store/tree.c):
 * children added and taken out at random stay findable at their
 * positions, names gone are not found; and taking one child out of a directory
 * of thousands reads only the children of its probe chain, not all of them (a
 * rebuild did: a cache miss per child in /local/domain, per domain destroyed).
 * Counted in children read, not timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const struct check_test tests[] = {
    CHECK_TEST(test_remove_reads_only_its_chain),
};

CHECK_MAIN(tests)
