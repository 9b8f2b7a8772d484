/*
 * quota.h - the named per-domain limits, with Xen 4.17's defaults.
 *
 * A quota of 0 means "unchecked", as in Xen.  The privileged domain is
 * never limited by quotas (as in Xen); every other domain is, and the
 * daemon holds one global set (the defaults for new domains) plus a set
 * per domain.  Pure data; no state here.
 */
#ifndef XSTORE_QUOTA_H
#define XSTORE_QUOTA_H

#include <stdbool.h>

enum quota_id {
	QUOTA_NODES,     /* "nodes": nodes a domain owns (1000) */
	QUOTA_NODE_SIZE, /* "node-size": value + perms + child names (2048) */
	QUOTA_WATCHES,   /* "watches": per domain (128) */
	QUOTA_TRANSACTIONS, /* "transactions": open at once (10) */
	QUOTA_TXN_NODES,    /* "transaction-nodes": touched per txn (1024) */
	QUOTA_PERMS, /* "permissions": entries per node, owner included (5) */
	QUOTA_PATH_MAX,    /* "path-max": relative path length (2048) */
	QUOTA_MEMORY,      /* "memory": bytes per domain (2 MiB) */
	QUOTA_OUTSTANDING, /* "outstanding": requests in flight (20) */
	QUOTA_COUNT,
};

struct quota_set {
	unsigned long v[QUOTA_COUNT];
};

/* quota_name - the quota's wire name ("nodes"...); static, never NULL. */
const char *quota_name(enum quota_id id);

/* quota_find - the id of a wire name, or -1 if none. */
int quota_find(const char *name);

/* quota_defaults - fill `q` with Xen 4.17's default hard quotas. */
void quota_defaults(struct quota_set *q);

/* quota_soft_defaults - the soft quotas (warn only): memory only. */
void quota_soft_defaults(struct quota_set *q);

/*
 * quota_is_over - would `value` exceed quota `id` of `q`?  (0 = unlimited.)
 */
static inline bool quota_is_over(const struct quota_set *q, enum quota_id id,
                                 unsigned long value)
{
	return q->v[id] != 0 && value > q->v[id];
}

#endif
