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
                      uint32_t *owned, uint64_t *bytes, char *why, size_t whysz)
{
	if (n->refs == 0)
		return fail(why, whysz, "node '%s' has no reference",
		            node_name(n));
	if (!n->perms || n->perms->n == 0 || n->perms->refs == 0)
		return fail(why, whysz, "node '%s' has bad permissions",
		            node_name(n));
	if (n->nkids > n->kids_cap)
		return fail(why, whysz, "node '%s' has %u children in %u slots",
		            node_name(n), n->nkids, n->kids_cap);
	if (node_value(n)[n->value_len] != '\0')
		return fail(why, whysz, "value of '%s' lost its nul",
		            node_name(n));
	for (uint32_t i = 0; i < n->nkids; i++) {
		const struct node *k = n->kids[i];

		if (k->name_len == 0)
			return fail(why, whysz, "empty child name under '%s'",
			            node_name(n));
		if (node_find_kid(&s->env, n, node_name(k), k->name_len) !=
		    (long)i)
			return fail(why, whysz,
			            "child '%s' of '%s' not found at %u",
			            node_name(k), node_name(n), i);
		if (k->gen > s->env.gen)
			return fail(why, whysz, "child '%s' from the future",
			            node_name(k));
	}
	owned[node_owner(n)]++;
	bytes[node_owner(n)] += node_mem(n);
	return 0;
}

int store_check(const struct store *s, char *why, size_t whysz)
{
	uint32_t *owned = xcalloc(NR_DOMIDS, sizeof(*owned));
	uint64_t *bytes = xcalloc(NR_DOMIDS, sizeof(*bytes));
	const struct node **stack = NULL;
	size_t sp = 0, cap = 0;
	int err = 0;

	if (!owned || !bytes) {
		for (unsigned int d = 0; !err && d < NR_DOMIDS; d++)
			if (bytes[d] != s->owned_bytes[d])
				err = fail(
				    why, whysz,
				    "domain %u owns %llu bytes, accounted %llu",
				    d, (unsigned long long)bytes[d],
				    (unsigned long long)s->owned_bytes[d]);
		xfree(owned);
		xfree(bytes);
		xfree(bytes);
		return -ENOMEM;
	}
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

		err = check_node(s, n, owned, bytes, why, whysz);
		if (!err && sp + n->nkids > cap) {
			size_t ncap = 2 * (sp + n->nkids);
			const struct node **ns =
			    xrealloc_array(stack, ncap, sizeof(*ns));

			if (!ns) {
				err = -ENOMEM;
				break;
			}
			stack = ns;
			cap = ncap;
		}
		for (uint32_t i = 0; !err && i < n->nkids; i++)
			stack[sp++] = n->kids[i];
	}
	for (unsigned int d = 0; !err && d < NR_DOMIDS; d++)
		if (owned[d] != s->owned[d])
			err = fail(why, whysz,
			           "domain %u owns %u nodes, accounted %u", d,
			           owned[d], s->owned[d]);
	xfree(stack);
	for (unsigned int d = 0; !err && d < NR_DOMIDS; d++)
		if (bytes[d] != s->owned_bytes[d])
			err = fail(why, whysz,
			           "domain %u owns %llu bytes, accounted %llu",
			           d, (unsigned long long)bytes[d],
			           (unsigned long long)s->owned_bytes[d]);
	xfree(owned);
	xfree(bytes);
	return err;
}
