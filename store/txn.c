/*
 * txn.c - transactions: true snapshots with optimistic commit.
 *
 * Design.  TRANSACTION_START takes two references on the current root:
 * `base`, the snapshot, and `root`, the transaction's own version, which
 * its writes change copy-on-write (tree.c) without disturbing anyone.
 * Every operation records each path it observed together with that
 * path's generation in the snapshot (0 where the snapshot has no node):
 * the node itself, the parent whose child list it changed, each ancestor
 * it created.  The generation is looked up in `base`, not in the
 * transaction's own version: the two agree on a path the transaction
 * has not changed yet, except below a node it removed.  libxl adds a
 * device by removing its directory and writing the nodes under it again
 * in one transaction; recorded as the absent nodes its own version
 * shows, those paths would differ from the main tree at every commit
 * after any change anywhere (the unchanged-root shortcut below hid it
 * only while nothing else was written).  A removal records the node
 * and its parent, not the subtree: what it does depends on nothing
 * below, so a descendant the transaction never looked at may change
 * meanwhile and is removed all the same, as if that change came first
 * (Xen's daemon records every node it deletes, and fails there).
 *
 * Commit checks each recorded path against the main tree: any different
 * generation (changed, created or removed since) fails the commit with
 * EAGAIN and nothing is applied.  Otherwise the transaction's operations
 * are replayed on the main tree (store.c) with rights already checked,
 * as one change set (apply.c): a single operation is atomic by itself;
 * several are replayed onto a private reference of the main root and
 * swapped in only when all of them succeeded, so a commit that runs out
 * of memory or quota half-way changes nothing.  Replay is correct because every
 * node whose state an operation depended on is unchanged since the snapshot.
 * The replay produces the watch events, so they fire on commit only.
 *
 * Unlike Xen 4.17's C xenstored (which copies a node only when the
 * transaction first touches it, so that it can see later commits), a
 * transaction here never sees anything committed after it started.
 */
#include <errno.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store_int.h"

/* ---- the touched set ---- */

static uint32_t touch_hash(const struct txn *t, const char *path, size_t len)
{
	return (uint32_t)siphash24(t->key, path, len) | 1u;
}

static int touched_grow(struct txn *t)
{
	uint32_t cap = t->touched_cap ? 2 * t->touched_cap : 16;
	struct touched *tab = xcalloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->touched_cap; i++) {
		struct touched *e = &t->touched[i];
		uint32_t h;

		if (!e->hash)
			continue;
		for (h = e->hash & (cap - 1); tab[h].hash;
		     h = (h + 1) & (cap - 1))
			;
		tab[h] = *e;
	}
	xfree(t->touched);
	t->mem += (size_t)(cap - t->touched_cap) * sizeof(*tab);
	t->touched = tab;
	t->touched_cap = cap;
	return 0;
}

int txn_touch(struct txn *t, const char *path, size_t len, uint64_t gen)
{
	uint32_t hash, h;
	char *copy;

	if (t->error)
		return t->error;
	hash = touch_hash(t, path, len);
	if (t->touched_cap) {
		for (h = hash & (t->touched_cap - 1); t->touched[h].hash;
		     h = (h + 1) & (t->touched_cap - 1)) {
			const struct touched *e = &t->touched[h];

			if (e->hash == hash && !strncmp(e->path, path, len) &&
			    e->path[len] == '\0')
				return 0;
		}
	}
	/* Over the quota, this operation fails; the transaction lives on. */
	if (t->has_quota &&
	    quota_is_over(&t->quota, QUOTA_TXN_NODES, t->nr_touched + 1ul)) {
		*t->quota_hit = QUOTA_TXN_NODES;
		return -ENOSPC;
	}
	/* Out of memory, the set is incomplete: the commit must fail. */
	if (2 * (t->nr_touched + 1) > t->touched_cap && touched_grow(t)) {
		t->error = -ENOMEM;
		return t->error;
	}
	copy = xmemdup(path, len);
	if (!copy) {
		t->error = -ENOMEM;
		return t->error;
	}
	for (h = hash & (t->touched_cap - 1); t->touched[h].hash;
	     h = (h + 1) & (t->touched_cap - 1))
		;
	t->touched[h].path = copy;
	t->mem += len + 1;
	t->touched[h].gen = gen;
	t->touched[h].hash = hash;
	t->nr_touched++;
	return 0;
}

int txn_touch_snap(struct txn *t, const char *path, unsigned int from,
                   unsigned int to)
{
	const struct node *n = t->base;
	const char *p = path + 1;
	unsigned int i = 0;
	size_t len = 1; /* of the prefix ending at component i */
	size_t clen;

	/* One descent of the snapshot, whatever the number of prefixes. */
	while (1) {
		if (i >= from) {
			int err = txn_touch(t, path, len, n ? n->gen : 0);

			if (err || i == to)
				return err;
		}
		if (!*p)
			return 0;
		clen = strcspn(p, "/");
		if (n) {
			long pos = node_find_kid(t->env, n, p, clen);

			n = pos < 0 ? NULL : n->kids[pos];
		}
		p += clen;
		len = (size_t)(p - path);
		if (*p == '/')
			p++;
		i++;
	}
}

unsigned int store_txn_touched(const struct txn *t)
{
	return t->nr_touched;
}

/* ---- the operation log ---- */

void txn_record(struct txn *t, enum txn_op_kind kind, const char *path,
                const void *data, size_t data_len)
{
	size_t path_len = strlen(path);
	struct txn_op *op;

	if (t->error)
		return;
	/* The data (permission entries) starts aligned after the path. */
	size_t data_off = (path_len + 1 + 7) & ~(size_t)7;

	op = xmalloc(sizeof(*op) + data_off + data_len);
	if (!op) {
		t->error = -ENOMEM;
		return;
	}
	op->next = NULL;
	op->kind = kind;
	op->path_len = path_len;
	op->data_len = data_len;
	op->path = op->buf;
	memcpy(op->path, path, path_len + 1);
	op->data = op->buf + data_off;
	if (data_len)
		memcpy(op->data, data, data_len);
	if (t->ops_tail)
		t->ops_tail->next = op;
	else
		t->ops = op;
	t->ops_tail = op;
	t->nr_ops++;
	t->mem += sizeof(*op) + data_off + data_len;
}

size_t store_txn_mem(const struct txn *t)
{
	return t->mem;
}

/* ---- life cycle ---- */

int store_txn_start(struct store *s, const struct store_caller *c,
                    struct txn **out)
{
	struct txn *t = xcalloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->caller = *c;
	t->key = &s->env.key;
	t->env = &s->env;
	t->quota_hit = &s->quota_hit;
	if (c->quota) {
		t->quota = *c->quota;
		t->has_quota = true;
		t->caller.quota = &t->quota;
	}
	node_ref(s->root);
	t->base = s->root;
	node_ref(s->root);
	t->root = s->root;
	s->open_txns++;
	*out = t;
	return 0;
}

void txn_free(struct store *s, struct txn *t)
{
	struct txn_op *op = t->ops;

	while (op) {
		struct txn_op *next = op->next;

		xfree(op);
		op = next;
	}
	for (uint32_t i = 0; i < t->touched_cap; i++)
		xfree(t->touched[i].path);
	xfree(t->touched);
	node_unref(&s->env, t->root);
	node_unref(&s->env, t->base);
	s->open_txns--;
	xfree(t);
}

/* Has anything the transaction touched changed on the main tree? */
static int txn_validate(struct store *s, const struct txn *t)
{
	/* While `base` is held, any change to the main tree copies the
	 * root, so an unchanged root pointer means nothing was committed. */
	if (s->root == t->base)
		return 0;
	for (uint32_t i = 0; i < t->touched_cap; i++) {
		const struct touched *e = &t->touched[i];
		struct node *n;

		if (!e->hash)
			continue;
		n = tree_lookup(&s->env, s->root, e->path, NULL);
		if ((n ? n->gen : 0) != e->gen)
			return -EAGAIN;
	}
	return 0;
}

static int replay_op(struct store *s, struct view *v, const struct txn *t,
                     const struct txn_op *op)
{
	const struct store_caller *c = &t->caller;

	switch (op->kind) {
	case TXN_WRITE:
		return store_op_write(s, v, c, op->path, op->data, op->data_len,
		                      false);
	case TXN_MKDIR:
		return store_op_write(s, v, c, op->path, NULL, 0, true);
	case TXN_RM:
		return store_op_rm(s, v, c, op->path);
	case TXN_SET_PERMS:
		return store_op_set_perms(
		    s, v, c, op->path, op->data,
		    (unsigned int)(op->data_len / sizeof(struct perm_entry)));
	}
	return -EINVAL;
}

/*
 * The commit is one change set: its operations, replayed with rights
 * already checked, each become the node-level changes of the record.
 */
static int txn_replay(struct store *s, const struct txn *t)
{
	struct view v = {&s->root, NULL, true, false, false, false};
	int err =
	    apply_begin(s, &v, t->nr_ops > 1 ? APPLY_STAGED | APPLY_COMMIT : 0);

	for (const struct txn_op *op = t->ops; op && !err; op = op->next) {
		err = replay_op(s, &v, t, op);
		if (!err && v.is_replay)
			err = s->replay_error;
	}
	return apply_end(s, &v, err);
}

bool store_txn_names_gone(const struct txn *t,
                          bool (*is_gone)(void *arg, unsigned int domid),
                          void *arg)
{
	for (const struct txn_op *op = t->ops; op; op = op->next) {
		const struct perm_entry *e = op->data;
		size_t n = op->data_len / sizeof(*e);

		if (op->kind != TXN_SET_PERMS)
			continue;
		for (size_t i = 0; i < n; i++)
			if (is_gone(arg, e[i].domid))
				return true;
	}
	return false;
}

int store_txn_end(struct store *s, struct txn *t, bool commit)
{
	int err = 0;

	if (commit) {
		err = t->error;
		if (!err)
			err = txn_validate(s, t);
		if (!err && t->nr_ops)
			err = txn_replay(s, t);
	}
	txn_free(s, t);
	return err;
}
