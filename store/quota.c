/*
 * quota.c - names and defaults of the per-domain quotas (Xen 4.17's
 * values: xenstored --help and its quota table).
 */
#include <string.h>

#include "store/quota.h"

static const char *const names[QUOTA_COUNT] = {
    [QUOTA_NODES] = "nodes",
    [QUOTA_NODE_SIZE] = "node-size",
    [QUOTA_WATCHES] = "watches",
    [QUOTA_TRANSACTIONS] = "transactions",
    [QUOTA_TXN_NODES] = "transaction-nodes",
    [QUOTA_PERMS] = "permissions",
    [QUOTA_PATH_MAX] = "path-max",
    [QUOTA_MEMORY] = "memory",
    [QUOTA_OUTSTANDING] = "outstanding",
};

const char *quota_name(enum quota_id id)
{
	return (unsigned int)id < QUOTA_COUNT ? names[id] : "?";
}

int quota_find(const char *name)
{
	for (int i = 0; i < QUOTA_COUNT; i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

void quota_defaults(struct quota_set *q)
{
	q->v[QUOTA_NODES] = 1000;
	q->v[QUOTA_NODE_SIZE] = 2048;
	q->v[QUOTA_WATCHES] = 128;
	q->v[QUOTA_TRANSACTIONS] = 10;
	q->v[QUOTA_TXN_NODES] = 1024;
	q->v[QUOTA_PERMS] = 5;
	q->v[QUOTA_PATH_MAX] = 2048;
	q->v[QUOTA_MEMORY] = 2621440; /* 2.5 MiB, as xenstored 4.17 */
	q->v[QUOTA_OUTSTANDING] = 20;
}

void quota_soft_defaults(struct quota_set *q)
{
	memset(q, 0, sizeof(*q));
	/* Xen 4.17 warns at 2 MiB and refuses at 2.5 MiB. */
	q->v[QUOTA_MEMORY] = 2 * 1024 * 1024;
}
