/*
 * test_forget.c - what a dead domain costs (store/forget.c): when no
 * node is owned by it and no permission list names it, which is the
 * usual case (libxl removes a domain's paths before it destroys the
 * domain), store_forget_domain must not walk the tree at all; otherwise
 * destroying N domains walks N trees of N domains' nodes.  Counted in
 * nodes looked at, not timed.  And the census it relies on (the store's
 * tree_env naming: entries naming each domid in the permissions of the
 * nodes alive) stays exact through writes, SET_PERMS, removals,
 * transactions and forget's own stripping.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store/tree.h"
#include "tests/support/check.h"
#include "tests/support/storetest.h"

/* The store's census of a domid (store/tree.c's naming). */
static unsigned long naming_of(const struct store *s, unsigned int domid)
{
	return s->env.naming ? s->env.naming[domid] : 0;
}

#define NDOM 200

/* A domain as libxl makes it: its home (owned by dom0, readable by the
 * domain), a device directory it owns, a backend naming it. */
static void make_domain(struct store *s, unsigned int d)
{
	struct perm_entry home[2] = {{0, PERM_NONE}, {(uint16_t)d, PERM_READ}};
	struct perm_entry own[2] = {{(uint16_t)d, PERM_NONE}, {0, PERM_READ}};
	char p[96];

	snprintf(p, sizeof(p), "/local/domain/%u", d);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, p, "", 0), 0);
	CHECK_EQ_INT(store_set_perms(s, NULL, &st_dom0, p, home, 2), 0);
	snprintf(p, sizeof(p), "/local/domain/%u/device/vbd/51712", d);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, p, "", 0), 0);
	CHECK_EQ_INT(store_set_perms(s, NULL, &st_dom0, p, own, 2), 0);
	snprintf(p, sizeof(p), "/local/domain/0/backend/vbd/%u/51712", d);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, p, "", 0), 0);
	CHECK_EQ_INT(store_set_perms(s, NULL, &st_dom0, p, home, 2), 0);
	snprintf(p, sizeof(p), "/local/domain/0/backend/vbd/%u/51712/state", d);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, p, "4", 1), 0);
}

static void remove_domain_paths(struct store *s, unsigned int d)
{
	char p[96];

	snprintf(p, sizeof(p), "/local/domain/0/backend/vbd/%u", d);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, p), 0);
	snprintf(p, sizeof(p), "/local/domain/%u", d);
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, p), 0);
}

/* libxl's order: paths first, then the death: no walk at all. */
static void test_dead_domain_costs_no_walk(void)
{
	struct store *s = store_new();
	unsigned long before;
	unsigned int d;

	CHECK(s != NULL);
	for (d = 1; d <= NDOM; d++)
		make_domain(s, d);
	STORE_OK(s);
	for (d = 1; d <= NDOM; d++) {
		CHECK(naming_of(s, d) > 0);
		remove_domain_paths(s, d);
		CHECK_EQ_UINT(store_domain_nodes(s, d), 0);
		CHECK_EQ_UINT(naming_of(s, d), 0);
		before = s->forget_walked;
		CHECK_EQ_INT(store_forget_domain(s, d), 0);
		/* Was a walk of every node of the remaining domains. */
		CHECK_EQ_UINT(s->forget_walked - before, 0);
	}
	STORE_OK(s);
	store_free(s);
}

/* The other order (the domain dies with its paths in place): the walk
 * happens, finds everything, and leaves nothing naming the domain. */
static void test_forget_still_finds_everything(void)
{
	struct store *s = store_new();
	unsigned long base7 = naming_of(s, 7), base8 = naming_of(s, 8);
	char out[256];
	unsigned long before;

	CHECK(s != NULL);
	make_domain(s, 7);
	make_domain(s, 8);
	before = s->forget_walked;
	CHECK_EQ_INT(store_forget_domain(s, 7), 0);
	CHECK(s->forget_walked > before);
	/* Its own device directory went; the backend lost 7's entry. */
	CHECK_EQ_INT(st_read(s, NULL, NULL, "/local/domain/7/device/vbd/51712",
	                     out, sizeof(out)),
	             -ENOENT);
	CHECK_EQ_INT(st_perms(s, NULL, NULL,
	                      "/local/domain/0/backend/vbd/7/51712", out,
	                      sizeof(out)),
	             0);
	CHECK_EQ_STR(out, "n0");
	CHECK_EQ_UINT(store_domain_nodes(s, 7), 0);
	/* forget's stripped lists are counted as what they hold. */
	CHECK_EQ_UINT(naming_of(s, 7), base7);
	CHECK(naming_of(s, 8) > base8);
	before = s->forget_walked;
	CHECK_EQ_INT(store_forget_domain(s, 7), 0);
	CHECK_EQ_UINT(s->forget_walked - before, 0);
	STORE_OK(s);
	store_free(s);
}

/* A transaction's lists count while it lives; an aborted one leaves
 * nothing counted, a committed one what the tree holds. */
static void test_naming_through_transactions(void)
{
	struct perm_entry e[3] = {
	    {0, PERM_NONE}, {9, PERM_READ}, {9, PERM_WRITE}};
	struct store *s = store_new();
	unsigned long base = naming_of(s, 9);
	struct txn *t;

	CHECK(s != NULL);
	CHECK_EQ_INT(store_write(s, NULL, &st_dom0, "/x", "", 0), 0);
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_set_perms(s, t, &st_dom0, "/x", e, 3), 0);
	CHECK(naming_of(s, 9) > base);
	CHECK_EQ_INT(store_txn_end(s, t, false), 0);
	CHECK_EQ_UINT(naming_of(s, 9), base);
	CHECK_EQ_INT(store_txn_start(s, &st_dom0, &t), 0);
	CHECK_EQ_INT(store_set_perms(s, t, &st_dom0, "/x", e, 3), 0);
	CHECK_EQ_INT(store_txn_end(s, t, true), 0);
	CHECK_EQ_UINT(naming_of(s, 9), base + 2); /* one list, twice */
	CHECK_EQ_INT(store_rm(s, NULL, &st_dom0, "/x"), 0);
	CHECK_EQ_UINT(naming_of(s, 9), base);
	STORE_OK(s);
	store_free(s);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_dead_domain_costs_no_walk),
    CHECK_TEST(test_forget_still_finds_everything),
    CHECK_TEST(test_naming_through_transactions),
};

CHECK_MAIN(tests)
