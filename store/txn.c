/*
 * txn.c - transactions: true snapshots with optimistic commit.
 *
 * Design.  TRANSACTION_START takes two references on the current root:
 * `base`, the snapshot, and `root`, the transaction's own version, which
 * its writes change copy-on-write (tree.c) without disturbing anyone.
 *
 * A transaction commits when its result is that of running it alone
 * after everything committed before: when the main tree, where the
 * transaction looked, still shows what the snapshot showed it.  So each
 * operation records, before it runs, what its outcome depends on
 * (txn_observe): a READ the node's value and permissions, a DIRECTORY
 * its child list, a GET_PERMS its permissions; a WRITE the permissions
 * of the node or of the nearest ancestor it creates under (rights, and
 * the permissions it inherits) and the absence of what it creates; an RM
 * the node's rights and its parent's existence (and the parent's rights
 * when the node is missing); every one of them whether the node exists.
 * Not the value a WRITE replaces, nor a removed subtree: replayed on the
 * main tree they do the same whatever those are.  Not recorded either,
 * as under the generation rule this replaces (a commit that succeeded
 * then must still succeed): the rights on a missing node's nearest
 * ancestor, which choose between ENOENT and EACCES, and what an
 * operation refused for its rights looked at.
 *
 * What is recorded is the snapshot's node (`base` is held, so a pointer
 * is enough) and which of its aspects matter, and only aspects the
 * transaction's own version still shows as the snapshot does: once the
 * transaction wrote a value, removed a node (libxl removes a device
 * directory, then writes the nodes under it again: txn_removed marks
 * it, and nothing at or below it is recorded after) or created one, what
 * it sees there is its own doing and no concurrent change can alter it.
 * A child list is the exception: the transaction's version is the
 * snapshot's list with its own changes, so it is recorded as the
 * snapshot has it.  Every touched path counts in the transaction-nodes
 * quota, recorded aspects or not, as before this rule existed.
 *
 * Commit compares each recorded node with the main tree: the same
 * generation means unchanged (the fast path; copies keep their
 * generation); otherwise the recorded aspects are compared.  Any
 * difference fails with EAGAIN and nothing is applied.  Otherwise the
 * transaction's operations are replayed on the main tree (store.c) with
 * rights already checked, as one change set (apply.c): atomic, and the
 * events it fires are those of what it actually changed.  Quotas are
 * checked again by the replay; where the main tree changed under the
 * transaction (a generation differs), a quota refusal is EAGAIN, as a
 * generation-only check said there before, so no client sees a new
 * error.  tests/unit/test_serial.c checks the rule against serial runs.
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

/* The entry of the `len` bytes of `path` (of hash `hash`), or NULL. */
static struct touched *touched_find(const struct txn *t, const char *path,
                                    size_t len, uint32_t hash)
{
	if (!t->touched_cap)
		return NULL;
	for (uint32_t h = hash & (t->touched_cap - 1); t->touched[h].hash;
	     h = (h + 1) & (t->touched_cap - 1)) {
		struct touched *e = &t->touched[h];

		if (e->hash == hash && !strncmp(e->path, path, len) &&
		    e->path[len] == '\0')
			return e;
	}
	return NULL;
}

/*
 * Add `seen` of the `len` bytes of `path` to the set, whose node in the
 * snapshot is `snap` (the same at every sighting).  0, -ENOSPC or
 * -ENOMEM as txn_observe.
 */
static int txn_touch(struct txn *t, const char *path, size_t len,
                     const struct node *snap, unsigned int seen)
{
	struct touched *e;
	uint32_t hash, h;
	char *copy;

	if (t->error)
		return t->error;
	hash = touch_hash(t, path, len);
	e = touched_find(t, path, len, hash);
	if (e) {
		e->seen |= seen;
		return 0;
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
	t->touched[h].snap = snap;
	t->touched[h].seen = seen;
	t->touched[h].is_removed = false;
	t->touched[h].hash = hash;
	t->nr_touched++;
	return 0;
}

static bool is_same_value(const struct node *a, const struct node *b)
{
	return a->value_len == b->value_len &&
	       !memcmp(node_value(a), node_value(b), a->value_len);
}

static bool is_same_kids(const struct node *a, const struct node *b)
{
	uint32_t n = node_nkids(a);

	if (n != node_nkids(b))
		return false;
	if (node_same_kids_block(a, b))
		return true;
	for (uint32_t i = 0; i < n; i++) {
		const struct node *x = node_kid(a, i), *y = node_kid(b, i);

		if (x != y && (x->name_len != y->name_len ||
		               memcmp(node_name(x), node_name(y), x->name_len)))
			return false;
	}
	return true;
}

/*
 * Which of `want` the outcome owes to the snapshot, at a prefix where
 * the transaction's version has `own` and the snapshot `snap`.  Present
 * in both: the node, and each aspect the transaction has not changed
 * (the child list always).  Absent from both: its absence, unless that
 * is the transaction's doing (`is_own_absence`: it removed the node
 * above, or created the parent).  Else: it was created or removed by the
 * transaction, which made what it shows.
 */
static unsigned int seen_of(const struct node *own, const struct node *snap,
                            unsigned int want, bool is_own_absence)
{
	unsigned int seen = TXN_SEEN_NODE | (want & TXN_SEEN_KIDS);

	if (!want)
		return 0;
	if (!own || !snap)
		return !own && !snap && !is_own_absence ? TXN_SEEN_NODE : 0;
	if (own->gen == snap->gen)
		return want;
	if ((want & TXN_SEEN_VALUE) && is_same_value(own, snap))
		seen |= TXN_SEEN_VALUE;
	if ((want & TXN_SEEN_PERMS) && nperms_equal(own->perms, snap->perms))
		seen |= TXN_SEEN_PERMS;
	return seen;
}

int txn_observe(struct txn *t, const char *path, unsigned int from,
                unsigned int to, unsigned int seen_last,
                unsigned int seen_above)
{
	const struct node *snap = t->base, *own = t->root;
	const struct node *snap_up = NULL; /* the snapshot's, one level up */
	const char *p = path + 1;
	unsigned int i = 0;
	size_t len = 1; /* of the prefix ending at component i */
	size_t clen;
	/* Where the transaction's version first lacks a node: did it
	 * remove one there (or create its parent)?  Then what it finds
	 * absent below is its own doing. */
	bool is_own_absence = false;
	/* At or below a node the transaction removed, all it sees is its
	 * own doing, a node it created there again included. */
	bool is_under_removed = false;

	/* One descent of both versions, whatever the number of prefixes. */
	while (1) {
		if (t->nr_removed && !is_under_removed) {
			const struct touched *e = touched_find(
			    t, path, len, touch_hash(t, path, len));

			is_under_removed = e && e->is_removed;
		}
		if (i >= from) {
			bool is_last = i == to || !*p;
			unsigned int want = is_last ? seen_last : seen_above;
			int err = txn_touch(
			    t, path, len, snap,
			    is_under_removed
			        ? 0
			        : seen_of(own, snap, want, is_own_absence));

			if (err || is_last)
				return err;
		}
		if (!*p)
			return 0;
		clen = strcspn(p, "/");
		snap_up = snap;
		if (snap)
			snap = node_find(t->env, snap, p, clen);
		if (own) {
			own = node_find(t->env, own, p, clen);
			if (!own)
				is_own_absence = !snap_up || snap;
		}
		p += clen;
		len = (size_t)(p - path);
		if (*p == '/')
			p++;
		i++;
	}
}

void txn_removed(struct txn *t, const char *path)
{
	size_t len = strlen(path);
	struct touched *e =
	    touched_find(t, path, len, touch_hash(t, path, len));

	if (e && !e->is_removed) {
		e->is_removed = true;
		t->nr_removed++;
	}
}

int txn_touch_restore(struct txn *t, const char *path, size_t len,
                      unsigned int seen, bool is_removed)
{
	uint32_t hash = touch_hash(t, path, len), h;
	char *copy;

	if (touched_find(t, path, len, hash))
		return -EINVAL;
	if (2 * (t->nr_touched + 1) > t->touched_cap && touched_grow(t))
		return -ENOMEM;
	copy = xmemdup(path, len); /* path[len] is its nul */
	if (!copy)
		return -ENOMEM;
	for (h = hash & (t->touched_cap - 1); t->touched[h].hash;
	     h = (h + 1) & (t->touched_cap - 1))
		;
	t->touched[h].path = copy;
	t->touched[h].snap = tree_lookup(t->env, t->base, copy, NULL);
	t->touched[h].seen = seen;
	t->touched[h].is_removed = is_removed;
	t->touched[h].hash = hash;
	t->nr_touched++;
	if (is_removed)
		t->nr_removed++;
	return 0;
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

void txn_test_blind(struct store *s, unsigned int seen)
{
	s->txn_blind = seen;
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

/*
 * Does the main tree show what the transaction's outcome depends on as
 * the snapshot did?  0 or -EAGAIN.
 */
static int txn_validate(struct store *s, const struct txn *t)
{
	unsigned int check = ~s->txn_blind;

	/* While `base` is held, any change to the main tree copies the
	 * root, so an unchanged root pointer means nothing was committed. */
	if (s->root == t->base)
		return 0;
	for (uint32_t i = 0; i < t->touched_cap; i++) {
		const struct touched *e = &t->touched[i];
		const struct node *n;
		unsigned int seen = e->seen & check;

		if (!e->hash || !seen)
			continue;
		n = tree_lookup(&s->env, s->root, e->path, NULL);
		if (!e->snap || !n) {
			if (n != e->snap && (seen & TXN_SEEN_NODE))
				return -EAGAIN;
			continue;
		}
		if (n->gen == e->snap->gen)
			continue;
		if (((seen & TXN_SEEN_VALUE) && !is_same_value(n, e->snap)) ||
		    ((seen & TXN_SEEN_PERMS) &&
		     !nperms_equal(n->perms, e->snap->perms)) ||
		    ((seen & TXN_SEEN_KIDS) && !is_same_kids(n, e->snap)))
			return -EAGAIN;
	}
	return 0;
}

/*
 * Let go of the snapshot and of the transaction's own version before
 * the commit replays its operations (validated: only the operation log
 * is needed now).  While either is held, every node of the main tree on
 * a replayed path is shared with it, so the replay would copy each one
 * (a directory of 10 000 domains: 10 000 child references taken, then
 * dropped again when the old copy goes); without them, what only the
 * main tree holds is changed in place.  What txn_is_untouched needs of
 * the snapshot is kept: its generations.
 */
static void txn_let_go(struct store *s, struct txn *t)
{
	t->was_base_current = s->root == t->base;
	for (uint32_t i = 0; !t->was_base_current && i < t->touched_cap; i++) {
		struct touched *e = &t->touched[i];

		if (e->hash)
			e->snap_gen = e->snap ? e->snap->gen : 0;
	}
	node_unref(&s->env, t->root);
	node_unref(&s->env, t->base);
	t->root = t->base = NULL;
	t->is_let_go = true;
}

/*
 * Is every touched path, observed or not, unchanged since the snapshot?
 * Asked after a failed replay, which left the main tree as it was.
 */
static bool txn_is_untouched(struct store *s, const struct txn *t)
{
	if (t->is_let_go ? t->was_base_current : s->root == t->base)
		return true;
	for (uint32_t i = 0; i < t->touched_cap; i++) {
		const struct touched *e = &t->touched[i];
		const struct node *n;
		uint64_t gen;

		if (!e->hash)
			continue;
		n = tree_lookup(&s->env, s->root, e->path, NULL);
		gen = t->is_let_go ? e->snap_gen : e->snap ? e->snap->gen : 0;
		if ((n ? n->gen : 0) != gen)
			return false;
	}
	return true;
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
		if (!err && t->nr_ops) {
			int hit = s->quota_hit;

			s->quota_hit = -1;
			txn_let_go(s, t);
			err = txn_replay(s, t);
			/* Refused by a quota on a tree that changed meanwhile:
			 * the conflict it is (see the top of the file). */
			if (err && s->quota_hit >= 0 &&
			    !txn_is_untouched(s, t)) {
				err = -EAGAIN;
				s->quota_hit = -1;
			}
			if (s->quota_hit < 0)
				s->quota_hit = hit;
		}
	}
	txn_free(s, t);
	return err;
}
