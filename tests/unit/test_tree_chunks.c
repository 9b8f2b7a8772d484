/*
 * test_tree_chunks.c - large directories (store/tree.c): their children
 * live in chunks shared between versions.  Random histories of several
 * versions of one directory (forks that share it, children added,
 * removed and rewritten through the copy-on-write path, versions
 * dropped) are compared after every step with a plain model: a change
 * through one version never shows in another, and every node and byte
 * is freed at the end.  And a change to one child of a shared directory
 * of thousands takes a reference on a chunk's children, not on all of
 * them (counted, not timed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/tree.h"
#include "tests/support/check.h"
#include "tests/support/storetest.h"

#define MAXV    6
#define MAXKIDS 1500

/* A version: its root, and what its /d should hold, in order. */
struct version {
	struct node *root;
	unsigned int n;
	unsigned int id[MAXKIDS];  /* child names: "k<id>" */
	unsigned int val[MAXKIDS]; /* their values: "<val>" */
};

static struct version ver[MAXV];
static unsigned int nver;

static int name_of(char *buf, size_t sz, unsigned int id)
{
	return snprintf(buf, sz, "k%u", id);
}

static struct node *mk(struct tree_env *env, struct nperms *p, const char *name,
                       unsigned int val)
{
	char v[16];
	int n = snprintf(v, sizeof(v), "%u", val);

	return node_new(env, name, strlen(name), v, (size_t)n, p);
}

/* Does version `v` show exactly its model? */
static bool version_ok(const struct tree_env *env, const struct version *v)
{
	struct node *d = tree_lookup(env, v->root, "/d", NULL);
	char name[16], val[16];

	if (!d || node_nkids(d) != v->n) {
		printf("  /d has %u children, the model %u\n",
		       d ? node_nkids(d) : 0, v->n);
		return false;
	}
	for (uint32_t i = 0; i < v->n; i++) {
		const struct node *k = node_kid(d, i);
		int len = name_of(name, sizeof(name), v->id[i]);

		snprintf(val, sizeof(val), "%u", v->val[i]);
		if (strcmp(node_name(k), name) || strcmp(node_value(k), val) ||
		    node_find_kid(env, d, name, (size_t)len) != (long)i) {
			printf("  child %u: %s=%s, the model %s=%s\n", i,
			       node_name(k), node_value(k), name, val);
			return false;
		}
	}
	return true;
}

static bool all_ok(const struct tree_env *env)
{
	for (unsigned int i = 0; i < nver; i++)
		if (!version_ok(env, &ver[i]))
			return false;
	return true;
}

static int walk_kid(struct tree_env *env, struct walk *w, struct version *v,
                    unsigned int id)
{
	char path[32] = "/d/";

	name_of(path + 3, sizeof(path) - 3, id);
	return tree_walk(env, v->root, path, w);
}

static void test_random_histories(void)
{
	struct perm_entry e0 = {0, PERM_NONE};
	struct tree_env env = {0};
	struct nperms *p = nperms_new(&e0, 1);
	struct walk w;
	struct node *d;
	uint64_t rng = 0x5eed;
	unsigned int next_id = 0, next_val = 1;
	char name[16];

	siphash_key_random(&env.key);
	CHECK(p != NULL);
	walk_init(&w);
	nver = 1;
	ver[0].root = node_new(&env, "", 0, NULL, 0, p);
	d = node_new(&env, "d", 1, NULL, 0, p);
	CHECK(ver[0].root && d);
	CHECK_EQ_INT(node_reserve_kid(&env, ver[0].root), 0);
	node_add_kid(&env, ver[0].root, d);
	ver[0].n = 0;

	for (unsigned int step = 0; step < 40000; step++) {
		unsigned int vi = (unsigned int)(st_rand(&rng) % nver);
		struct version *v = &ver[vi];
		unsigned int op = (unsigned int)(st_rand(&rng) % 100);
		uint32_t pos;
		/* Grow to a few hundred first, past the flat form. */
		unsigned int grow = step < 4000 ? 60 : 30;

		if (op < 3 && nver < MAXV) { /* fork: share everything */
			node_ref(v->root);
			ver[nver++] = *v;
		} else if (op < 5 && nver > 1) { /* drop a version */
			node_unref(&env, v->root);
			ver[vi] = ver[--nver];
		} else if (op < 5 + grow && v->n < MAXKIDS) { /* add */
			unsigned int id = next_id++, val = next_val++;
			struct node *k;

			CHECK_EQ_INT(walk_kid(&env, &w, v, id), 0);
			CHECK_EQ_UINT(w.found, 1);
			CHECK_EQ_INT(tree_unshare(&env, &v->root, &w, 1), 0);
			CHECK_EQ_INT(node_reserve_kid(&env, w.nodes[1]), 0);
			name_of(name, sizeof(name), id);
			k = mk(&env, p, name, val);
			CHECK(k != NULL);
			node_add_kid(&env, w.nodes[1], k);
			v->id[v->n] = id;
			v->val[v->n++] = val;
		} else if (op < 75 && v->n) { /* remove one */
			unsigned int i = (unsigned int)(st_rand(&rng) % v->n);

			CHECK_EQ_INT(walk_kid(&env, &w, v, v->id[i]), 0);
			CHECK_EQ_UINT(w.found, 2);
			CHECK_EQ_INT(tree_unshare(&env, &v->root, &w, 1), 0);
			pos = node_kid_index(w.nodes[1], w.pos[2]);
			CHECK_EQ_INT(node_reserve_remove(&env, w.nodes[1], pos),
			             0);
			node_unref(&env,
			           node_remove_kid(&env, w.nodes[1], pos));
			memmove(v->id + i, v->id + i + 1,
			        (v->n - i - 1) * sizeof(v->id[0]));
			memmove(v->val + i, v->val + i + 1,
			        (v->n - i - 1) * sizeof(v->val[0]));
			v->n--;
		} else if (v->n) { /* rewrite one, same length or not */
			unsigned int i = (unsigned int)(st_rand(&rng) % v->n);
			unsigned int val = op % 2 ? next_val++ : v->val[i] ^ 1;
			char buf[16];
			int len = snprintf(buf, sizeof(buf), "%u", val);

			CHECK_EQ_INT(walk_kid(&env, &w, v, v->id[i]), 0);
			CHECK_EQ_UINT(w.found, 2);
			CHECK_EQ_INT(tree_unshare(&env, &v->root, &w, 2), 0);
			CHECK_EQ_INT(node_set_value(&env, &v->root, &w, 2, buf,
			                            (size_t)len, step),
			             0);
			v->val[i] = val;
		}
		if (step % 16 == 0 || step > 39900) {
			if (!all_ok(&env)) {
				printf("  after step %u (op %u, version %u)\n",
				       step, op, vi);
				CHECK(false);
				break;
			}
		}
	}
	for (unsigned int i = 0; i < nver; i++)
		node_unref(&env, ver[i].root);
	CHECK_EQ_UINT(env.nr_nodes, 0);
	CHECK_EQ_UINT(env.nr_bytes, 0);
	walk_fini(&w);
	nperms_unref(p);
	tree_env_fini(&env);
}

/*
 * Copy-on-write through a directory of 5 000 children that another
 * version shares: rewriting one child, adding one, removing the last
 * take references on at most a few chunks' children.
 */
static void test_change_copies_a_chunk(void)
{
	struct perm_entry e0 = {0, PERM_NONE};
	struct tree_env env = {0};
	struct nperms *p = nperms_new(&e0, 1);
	struct node *root, *snap, *d;
	struct walk w;
	char name[16];
	uint64_t before;

	siphash_key_random(&env.key);
	walk_init(&w);
	root = node_new(&env, "", 0, NULL, 0, p);
	d = node_new(&env, "d", 1, NULL, 0, p);
	CHECK(root && d);
	CHECK_EQ_INT(node_reserve_kid(&env, root), 0);
	node_add_kid(&env, root, d);
	for (unsigned int i = 0; i < 5000; i++) {
		name_of(name, sizeof(name), i);
		CHECK_EQ_INT(node_reserve_kid(&env, d), 0);
		node_add_kid(&env, d, mk(&env, p, name, i));
	}
	snap = root;
	node_ref(snap);

	before = env.kids_copied;
	CHECK_EQ_INT(tree_walk(&env, root, "/d/k2500", &w), 0);
	CHECK_EQ_INT(tree_unshare(&env, &root, &w, 2), 0);
	CHECK_EQ_INT(node_set_value(&env, &root, &w, 2, "x", 1, 1), 0);
	CHECK(env.kids_copied - before <= 2 * KIDS_CHUNK);

	CHECK_EQ_INT(tree_walk(&env, root, "/d/new", &w), 0);
	CHECK_EQ_INT(tree_unshare(&env, &root, &w, 1), 0);
	CHECK_EQ_INT(node_reserve_kid(&env, w.nodes[1]), 0);
	node_add_kid(&env, w.nodes[1], mk(&env, p, "new", 1));
	CHECK(env.kids_copied - before <= 4 * KIDS_CHUNK);

	CHECK_EQ_INT(tree_walk(&env, root, "/d/new", &w), 0);
	CHECK_EQ_INT(tree_unshare(&env, &root, &w, 1), 0);
	CHECK_EQ_INT(node_reserve_remove(&env, w.nodes[1],
	                                 node_kid_index(w.nodes[1], w.pos[2])),
	             0);
	node_unref(&env, node_remove_kid(&env, w.nodes[1],
	                                 node_kid_index(w.nodes[1], w.pos[2])));
	CHECK(env.kids_copied - before <= 4 * KIDS_CHUNK);

	/* The snapshot saw none of it. */
	CHECK_EQ_STR(node_value(tree_lookup(&env, snap, "/d/k2500", NULL)),
	             "2500");
	CHECK_EQ_STR(node_value(tree_lookup(&env, root, "/d/k2500", NULL)),
	             "x");
	CHECK(tree_lookup(&env, snap, "/d/new", NULL) == NULL);
	node_unref(&env, snap);
	node_unref(&env, root);
	CHECK_EQ_UINT(env.nr_nodes, 0);
	CHECK_EQ_UINT(env.nr_bytes, 0);
	walk_fini(&w);
	nperms_unref(p);
	tree_env_fini(&env);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_random_histories),
    CHECK_TEST(test_change_copies_a_chunk),
};

CHECK_MAIN(tests)
