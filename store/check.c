/*
 * check.c - the store's invariant checker (CONTROL check, unit tests):
 * walks the main tree without recursion and verifies what every other
 * module relies on.  Read-only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/xalloc.h"
#include "store/store_int.h"

static int fail(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whysz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (why && whysz)
		vsnprintf(why, whysz, fmt, ap);
	va_end(ap);
	return -EIO;
}

static int check_node(const struct store *s, const struct node *n,
                      struct acct_page **tally, char *why, size_t whysz)
{
	struct acct_page **pg;

	if (n->refs == 0)
		return fail(why, whysz, "node '%s' has no reference",
		            node_name(n));
	if (!n->perms || n->perms->n == 0 || n->perms->refs == 0)
		return fail(why, whysz, "node '%s' has bad permissions",
		            node_name(n));
	if (node_nkids(n) > node_kids_cap(n))
		return fail(why, whysz, "node '%s' has %u children in %u slots",
		            node_name(n), node_nkids(n), node_kids_cap(n));
	{
		/* A lookup trusts kids_bits for the table's size. */
		uint32_t cap = node_kids_cap(n);
		bool is_table = cap > KIDS_INDEX_MIN && cap <= KIDS_FLAT_MAX;

		if (is_table ? (1u << n->kids_bits) != 2 * cap
		             : n->kids_bits != 0)
			return fail(why, whysz,
			            "node '%s' has table bits %u for %u slots",
			            node_name(n), n->kids_bits, cap);
	}
	if (node_value(n)[n->value_len] != '\0')
		return fail(why, whysz, "value of '%s' lost its nul",
		            node_name(n));
	for (uint32_t i = 0; i < node_nkids(n); i++) {
		const struct node *k = node_kid(n, i);

		if (k->name_len == 0)
			return fail(why, whysz, "empty child name under '%s'",
			            node_name(n));
		if (node_find_kid(&s->env, n, node_name(k), k->name_len) !=
		    (long)i)
			return fail(why, whysz,
			            "child '%s' of '%s' not found at %u",
			            node_name(k), node_name(n), i);
		if (k->has_name_hash &&
		    k->name_hash != (uint32_t)siphash24(
		                        &s->env.key, node_name(k), k->name_len))
			return fail(why, whysz,
			            "child '%s' of '%s' has a stale name hash",
			            node_name(k), node_name(n));
		if (k->gen > s->env.gen)
			return fail(why, whysz, "child '%s' from the future",
			            node_name(k));
	}
	pg = &tally[node_owner(n) / ACCT_PAGE];
	if (!*pg)
		*pg = xcalloc(1, sizeof(**pg));
	if (!*pg)
		return -ENOMEM;
	(*pg)->nodes[node_owner(n) % ACCT_PAGE]++;
	(*pg)->bytes[node_owner(n) % ACCT_PAGE] += node_mem(n);
	return 0;
}

/* Do the tallied counts equal the store's accounting, page by page? */
static int check_accounts(const struct store *s, struct acct_page **tally,
                          char *why, size_t whysz)
{
	static const struct acct_page zero;

	for (unsigned int p = 0; p < ACCT_PAGES; p++) {
		const struct acct_page *a = tally[p] ? tally[p] : &zero;
		const struct acct_page *b =
		    s->acct_pages[p] ? s->acct_pages[p] : &zero;

		if (a == b)
			continue;
		for (unsigned int i = 0; i < ACCT_PAGE; i++) {
			unsigned int d = p * ACCT_PAGE + i;

			if (a->nodes[i] != b->nodes[i])
				return fail(
				    why, whysz,
				    "domain %u owns %u nodes, accounted %u", d,
				    a->nodes[i], b->nodes[i]);
			if (a->bytes[i] != b->bytes[i])
				return fail(
				    why, whysz,
				    "domain %u owns %llu bytes, accounted "
				    "%llu",
				    d, (unsigned long long)a->bytes[i],
				    (unsigned long long)b->bytes[i]);
		}
	}
	return 0;
}

int store_check(const struct store *s, char *why, size_t whysz)
{
	struct acct_page *tally[ACCT_PAGES] = {0};
	const struct node **stack = NULL;
	size_t sp = 0, cap = 0;
	int err = 0;

	if (!s->root || s->root->name_len != 0)
		err = fail(why, whysz, "bad root");
	if (!err && s->root) {
		cap = 64;
		stack = xmalloc(cap * sizeof(*stack));
		if (!stack)
			err = -ENOMEM;
		else
			stack[sp++] = s->root;
	}
	while (!err && sp) {
		const struct node *n = stack[--sp];

		err = check_node(s, n, tally, why, whysz);
		if (!err && sp + node_nkids(n) > cap) {
			size_t ncap = 2 * (sp + node_nkids(n));
			const struct node **ns =
			    xrealloc_array(stack, ncap, sizeof(*ns));

			if (!ns) {
				err = -ENOMEM;
				break;
			}
			stack = ns;
			cap = ncap;
		}
		for (uint32_t i = 0; !err && i < node_nkids(n); i++)
			stack[sp++] = node_kid(n, i);
	}
	if (!err)
		err = check_accounts(s, tally, why, whysz);
	for (unsigned int p = 0; p < ACCT_PAGES; p++)
		xfree(tally[p]);
	xfree(stack);
	return err;
}
