/*
 * fuzz_store.c - stateful libFuzzer target: the store core against a
 * naive model.
 *
 * The input is a program: each step is an opcode byte and its arguments
 * (a caller, a path from a small alphabet so that steps collide often, a
 * value, permissions, a transaction slot).  Every step runs on the store
 * and on the model below, and everything must agree: error codes,
 * returned bytes, the events in order, the touched-set size of each
 * transaction, and after every step the whole main tree (values,
 * permissions, child order), the owner counts and store_check().  Any
 * difference abort()s with a description on stderr.
 *
 * The model is deliberately simple: a flat array of nodes (path, value,
 * permissions, creation sequence for child order, a generation that
 * changes with the node's content), linear searches, recursion over its
 * few levels.  A transaction copies the whole model at start twice (its
 * snapshot, and the view its operations change), records the paths it
 * touched with what its outcome depends on there (store/txn.c's rule,
 * written out again: the aspects - existence, value, permissions, child
 * list - its view still shows as the snapshot does, nothing at or below
 * a node it removed), and its successful operations.  A commit fails
 * with EAGAIN exactly when a recorded aspect differs on the main model
 * from the snapshot; otherwise it replays the operations on a copy
 * (rights already checked, quotas still applied) and swaps it in; a
 * quota refusal of the replay is EAGAIN when a touched path's generation
 * changed.  The store must agree on every commit: EAGAIN, a replay error
 * or success, both ways.
 *
 * A FAULT step makes the next step's k-th allocation fail: that step may
 * then also end in -ENOMEM with nothing changed.  In a transaction the
 * touched-set size tells how far the failed step got: nothing recorded,
 * everything (the model keeps the step's touches, drops its effect), or
 * part (the store lost track: the commit must fail with ENOMEM).  A
 * transaction hit by a fault may also fail its commit with ENOMEM (the
 * store cannot say whether it lost track); never with anything else the
 * model does not predict, and never half-applied.
 *
 * A replica store is fed only by the records of the main store
 * (store_set_record_cb, store_replay): after every step it must equal
 * the main store (store_equal: values, perms, child order, generations)
 * and, read back like the main store, the model.  Every few changes the
 * replica goes through a snapshot (store_dump, store_load) and must
 * come back equal.
 *
 * Each input starts from a fresh store; nothing global survives it but
 * the model's static storage, which is reset.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store.h"
#include "store/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define M_MAX     192 /* nodes: the alphabet gives at most ~130 */
#define M_PATH    48
#define M_VAL     160
#define M_PERMS   8
#define M_EVENTS  512
#define M_OPS     128
#define M_TOUCHED 256
#define NSLOTS    3
#define MAX_STEPS 128
#define NO_TARGET PERM_NO_TARGET

/* ---- failure ---- */

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz_store: mismatch: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- callers ---- */

static struct quota_set q_small, q_default;

/* 0: dom0; 1: dom5 with small quotas; 2: dom7 without quota; 3: dom6,
 * SET_TARGET 5, default quotas. */
static struct store_caller callers[4] = {
    {.domid = 0, .target = NO_TARGET, .is_privileged = true},
    {.domid = 5, .target = NO_TARGET, .quota = &q_small},
    {.domid = 7, .target = NO_TARGET},
    {.domid = 6, .target = 5, .quota = &q_default},
};

static const uint16_t domids[4] = {0, 5, 6, 7};

/* ---- the model ---- */

struct mperms {
	unsigned int n;
	struct perm_entry e[M_PERMS];
};

struct mnode {
	char path[M_PATH];
	unsigned char val[M_VAL];
	size_t vlen;
	struct mperms perms;
	uint64_t seq; /* creation order: children are listed by it */
	uint64_t gen; /* changes with value, permissions, child list */
};

struct model {
	unsigned int n;
	struct mnode node[M_MAX];
};

struct mevent {
	char path[M_PATH];
	bool is_exact, is_removal;
	char perms[64], old[64];
};

struct evlist {
	unsigned int n;
	struct mevent ev[M_EVENTS];
};

enum { OP_WRITE, OP_MKDIR, OP_RM, OP_SETPERMS };

/* What of a path a transaction's outcome depends on. */
enum {
	SEEN_NODE = 1,  /* present, or absent */
	SEEN_VALUE = 2, /* its value */
	SEEN_PERMS = 4, /* its permissions */
	SEEN_KIDS = 8,  /* the names of its children, in order */
};

struct mop {
	int kind;
	char path[M_PATH];
	unsigned char val[M_VAL];
	size_t vlen;
	struct mperms perms;
};

struct mtxn {
	bool is_open;
	bool may_enomem; /* a fault hit one of its steps: see above */
	bool is_doomed;  /* the store lost track: its commit fails ENOMEM */
	struct txn *t;
	const struct store_caller *c;
	struct model view;
	struct {
		char path[M_PATH];
		uint64_t gen;      /* in the snapshot; 0: absent there */
		unsigned int seen; /* what the outcome depends on: SEEN_* */
		bool is_removed;   /* the transaction removed it */
	} touched[M_TOUCHED];
	unsigned int nt;
	long own_delta;
	struct mop ops[M_OPS];
	unsigned int nops;
};

static struct {
	struct model main;
	struct mperms special[2]; /* @introduceDomain, @releaseDomain */
	uint64_t gen, seq;
	struct mtxn txn[NSLOTS];
	struct evlist mev; /* the model's events of a step */
	struct evlist sev; /* the store's */
	long fault;        /* -1: none armed */
} g;

/* Each slot's snapshot: the main model when its transaction started. */
static struct model snaps[NSLOTS];

/* Scratch: copies for undo and replay. */
static struct model scratch_model;
static struct mtxn scratch_txn;

/* Records of the current step, replayed on the replica after it (the
 * callback may run under an armed allocation fault). */
static struct {
	struct store *replica;
	unsigned char buf[1u << 20];
	size_t len;       /* bytes of records in buf: [u32 len][bytes]... */
	unsigned int nr;  /* records this step */
	unsigned int all; /* records this input */
} rp;

/* FUZZ_STORE_TRACE=1 in the environment: print each step (debugging). */
static bool is_trace;

static const char *const special_names[2] = {"@introduceDomain",
                                             "@releaseDomain"};

static void perms_str(const struct perm_entry *e, unsigned int n, char *out,
                      size_t sz)
{
	static const char letters[] = "nrwb";
	size_t o = 0;

	out[0] = '\0';
	for (unsigned int i = 0; i < n && o < sz; i++)
		o += (size_t)snprintf(out + o, sz - o, "%s%c%u", i ? "," : "",
		                      letters[e[i].access & 3], e[i].domid);
}

static unsigned int pdepth(const char *p)
{
	unsigned int d = 0;

	if (!strcmp(p, "/"))
		return 0;
	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* The prefix of `p` with `k` components ("/" for 0). */
static void prefix(const char *p, unsigned int k, char *out)
{
	size_t i = 0;
	unsigned int d = 0;

	if (k == 0) {
		strcpy(out, "/");
		return;
	}
	for (i = 1; p[i]; i++) {
		if (p[i] == '/' && ++d == k)
			break;
	}
	memcpy(out, p, i);
	out[i] = '\0';
}

static const char *basename_of(const char *p)
{
	return strrchr(p, '/') + 1;
}

static bool is_child_of(const char *kid, const char *parent)
{
	size_t n = strlen(parent);

	if (!strcmp(parent, "/"))
		return kid[0] == '/' && kid[1] && !strchr(kid + 1, '/');
	return !strncmp(kid, parent, n) && kid[n] == '/' &&
	       !strchr(kid + n + 1, '/');
}

static bool is_in_subtree(const char *p, const char *top)
{
	size_t n = strlen(top);

	return !strcmp(p, top) || (!strncmp(p, top, n) && p[n] == '/');
}

static struct mnode *m_find(struct model *m, const char *path)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (!strcmp(m->node[i].path, path))
			return &m->node[i];
	return NULL;
}

/* The deepest existing node on the way to `path`, and its depth. */
static struct mnode *m_nearest(struct model *m, const char *path,
                               unsigned int *depth)
{
	char pre[M_PATH];

	for (unsigned int k = pdepth(path) + 1; k-- > 0;) {
		struct mnode *n;

		prefix(path, k, pre);
		n = m_find(m, pre);
		if (n) {
			*depth = k;
			return n;
		}
	}
	fail("model lost its root");
	return NULL;
}

/* Children of `path`, in order. */
static unsigned int m_kids(struct model *m, const char *path,
                           struct mnode **out)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < m->n; i++)
		if (is_child_of(m->node[i].path, path))
			out[n++] = &m->node[i];
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && out[j - 1]->seq > out[j]->seq;
		     j--) {
			struct mnode *t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* The child list as "a\0b\0". */
static size_t m_list(struct model *m, const char *path, char *out)
{
	struct mnode *k[M_MAX];
	unsigned int n = m_kids(m, path, k);
	size_t len = 0;

	for (unsigned int i = 0; i < n; i++) {
		const char *b = basename_of(k[i]->path);

		memcpy(out + len, b, strlen(b) + 1);
		len += strlen(b) + 1;
	}
	return len;
}

/* Xen's node size: header, permissions, value, child names. */
static size_t m_size(struct model *m, struct mnode *n)
{
	char list[M_MAX * 4];

	return 24 + 8 * n->perms.n + n->vlen + m_list(m, n->path, list);
}

static unsigned long m_owned(struct model *m, unsigned int domid)
{
	unsigned long c = 0;

	for (unsigned int i = 0; i < m->n; i++)
		c += m->node[i].perms.e[0].domid == domid;
	return c;
}

/* The rule of perm.h, written out again from its description. */
static unsigned int m_access(const struct mperms *p,
                             const struct store_caller *c)
{
	const unsigned int all = PERM_BOTH | PERM_OWNER;
	bool has_target = c->target != NO_TARGET;

	if (c->is_privileged)
		return all;
	if (p->e[0].domid == c->domid ||
	    (has_target && p->e[0].domid == c->target))
		return all;
	for (unsigned int i = 1; i < p->n; i++)
		if (p->e[i].domid == c->domid ||
		    (has_target && p->e[i].domid == c->target))
			return p->e[i].access & PERM_BOTH;
	return p->e[0].access & PERM_BOTH;
}

static bool is_limited(const struct store_caller *c)
{
	return !c->is_privileged && c->quota;
}

static bool over(const struct store_caller *c, enum quota_id id,
                 unsigned long v)
{
	return c->quota->v[id] != 0 && v > c->quota->v[id];
}

/* Where a model operation applies, and how. */
struct mctx {
	struct model *m;
	struct mtxn *txn; /* recording what it observes, or NULL */
	const struct store_caller *c;
	bool skip_checks; /* commit replay */
	struct evlist *ev;
};

static bool m_same_perms(const struct mperms *a, const struct mperms *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned int i = 0; i < a->n; i++)
		if (a->e[i].domid != b->e[i].domid ||
		    a->e[i].access != b->e[i].access)
			return false;
	return true;
}

static size_t m_list(struct model *m, const char *path, char *out);

/* Do `a` in model `ma` and `b` in `mb` have the same child names? */
static bool m_same_kids(struct model *ma, const struct mnode *a,
                        struct model *mb, const struct mnode *b)
{
	static char la[M_MAX * 4], lb[M_MAX * 4];
	size_t na = m_list(ma, a->path, la), nb = m_list(mb, b->path, lb);

	return na == nb && !memcmp(la, lb, na);
}

static bool m_same_value(const struct mnode *a, const struct mnode *b)
{
	return a->vlen == b->vlen && !memcmp(a->val, b->val, a->vlen);
}

/* The index of the touched entry of `path` in `t`, or -1. */
static int m_touched_at(const struct mtxn *t, const char *path)
{
	for (unsigned int i = 0; i < t->nt; i++)
		if (!strcmp(t->touched[i].path, path))
			return (int)i;
	return -1;
}

/*
 * Which of `want` (SEEN_*) the outcome owes to the snapshot, at `path`
 * of transaction `t`: nothing at or below a node it removed; where both
 * its view and the snapshot have the node, the node, the child list,
 * and the value and permissions if the view still has the snapshot's;
 * where neither has it, its absence, unless the view's nearest node is
 * one the transaction created or the next one down the path is one it
 * removed; nothing where the transaction created or removed it.
 */
static unsigned int m_seen(struct mtxn *t, const char *path, unsigned int want)
{
	struct model *snap = &snaps[t - g.txn];
	struct mnode *ns = m_find(snap, path), *nv = m_find(&t->view, path);
	char pre[M_PATH];
	unsigned int seen, nd;

	if (!want)
		return 0;
	for (unsigned int k = 1; k <= pdepth(path); k++) {
		int i;

		prefix(path, k, pre);
		i = m_touched_at(t, pre);
		if (i >= 0 && t->touched[i].is_removed)
			return 0;
	}
	if (!ns && !nv) {
		m_nearest(&t->view, path, &nd);
		prefix(path, nd, pre);
		if (!m_find(snap, pre))
			return 0;
		prefix(path, nd + 1, pre);
		return m_find(snap, pre) ? 0 : SEEN_NODE;
	}
	if (!ns || !nv)
		return 0;
	seen = SEEN_NODE | (want & SEEN_KIDS);
	if ((want & SEEN_VALUE) && m_same_value(ns, nv))
		seen |= SEEN_VALUE;
	if ((want & SEEN_PERMS) && m_same_perms(&ns->perms, &nv->perms))
		seen |= SEEN_PERMS;
	return seen;
}

/* Record `path` with `want` (SEEN_*) of it, as far as the outcome owes
 * it to the snapshot (m_seen). */
static int m_touch(struct mctx *x, const char *path, unsigned int want)
{
	struct mtxn *t = x->txn;
	unsigned int seen;
	struct mnode *n;
	int i;

	if (!t)
		return 0;
	seen = m_seen(t, path, want);
	i = m_touched_at(t, path);
	if (i >= 0) {
		t->touched[i].seen |= seen;
		return 0;
	}
	if (t->c->quota && over(t->c, QUOTA_TXN_NODES, t->nt + 1ul))
		return -ENOSPC;
	if (t->nt == M_TOUCHED)
		fail("model: touched set full");
	n = m_find(&snaps[t - g.txn], path);
	strcpy(t->touched[t->nt].path, path);
	t->touched[t->nt].gen = n ? n->gen : 0;
	t->touched[t->nt].seen = seen;
	t->touched[t->nt].is_removed = false;
	t->nt++;
	return 0;
}

static unsigned long owned_now(struct mctx *x, unsigned int domid)
{
	if (x->txn)
		return (unsigned long)((long)m_owned(&g.main, domid) +
		                       (domid == x->txn->c->domid
		                            ? x->txn->own_delta
		                            : 0));
	return m_owned(x->m, domid);
}

static void acct(struct mctx *x, unsigned int domid, long delta)
{
	if (x->txn && domid == x->txn->c->domid)
		x->txn->own_delta += delta;
}

static void emit(struct mctx *x, const char *path, bool is_exact,
                 bool is_removal, const struct mperms *p,
                 const struct mperms *old)
{
	struct mevent *e;

	if (!x->ev || x->txn)
		return;
	if (x->ev->n == M_EVENTS)
		fail("model: too many events");
	e = &x->ev->ev[x->ev->n++];
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->is_exact = is_exact;
	e->is_removal = is_removal;
	perms_str(p->e, p->n, e->perms, sizeof(e->perms));
	if (old)
		perms_str(old->e, old->n, e->old, sizeof(e->old));
	else
		strcpy(e->old, "-");
}

static struct mnode *m_add(struct model *m, const char *path,
                           const unsigned char *val, size_t vlen,
                           const struct mperms *p)
{
	struct mnode *n;

	if (m->n == M_MAX)
		fail("model: too many nodes");
	n = &m->node[m->n++];
	snprintf(n->path, sizeof(n->path), "%s", path);
	if (vlen)
		memcpy(n->val, val, vlen);
	n->vlen = vlen;
	n->perms = *p;
	n->seq = ++g.seq;
	n->gen = ++g.gen;
	return n;
}

static int m_write(struct mctx *x, const char *path, const unsigned char *val,
                   size_t vlen, bool is_mkdir)
{
	struct model *m = x->m;
	unsigned int depth = pdepth(path), nd;
	struct mnode *near = m_nearest(m, path, &nd);
	unsigned int missing = depth - nd;
	char pre[M_PATH];
	struct mperms p;
	int err;

	if (!x->skip_checks && !(m_access(&near->perms, x->c) & PERM_WRITE))
		return -EACCES;
	err = m_touch(x, near->path, SEEN_NODE | SEEN_PERMS);
	for (unsigned int k = nd + 1; !err && k <= depth; k++) {
		prefix(path, k, pre);
		err = m_touch(x, pre, SEEN_NODE);
	}
	if (err || (is_mkdir && !missing))
		return err;
	if (is_limited(x->c)) {
		size_t target, parent = 0;

		if (missing) {
			prefix(path, nd + 1, pre);
			target = 24 + 8 * near->perms.n + vlen;
			parent = m_size(m, near) + strlen(basename_of(pre)) + 1;
		} else {
			target = m_size(m, near) - near->vlen + vlen;
		}
		if ((missing && over(x->c, QUOTA_NODES,
		                     owned_now(x, x->c->domid) + missing)) ||
		    over(x->c, QUOTA_NODE_SIZE, target) ||
		    over(x->c, QUOTA_NODE_SIZE, parent))
			return -ENOSPC;
	}
	if (!missing) {
		if (vlen)
			memcpy(near->val, val, vlen);
		near->vlen = vlen;
		near->gen = ++g.gen;
		emit(x, path, false, false, &near->perms, NULL);
		return 0;
	}
	/* The creator owns what it creates, unless privileged. */
	p = near->perms;
	if (!x->c->is_privileged)
		p.e[0].domid = (uint16_t)x->c->domid;
	for (unsigned int k = nd + 1; k <= depth; k++) {
		prefix(path, k, pre);
		m_add(m, pre, val, k == depth ? vlen : 0, &p);
	}
	near->gen = ++g.gen; /* its child list changed */
	acct(x, p.e[0].domid, (long)missing);
	emit(x, path, false, false, &p, NULL);
	return 0;
}

/* Events and accounting of a removed subtree: children first. */
static void m_rm_effects(struct mctx *x, struct mnode *n, bool is_top)
{
	struct mnode *k[M_MAX];
	unsigned int nk = m_kids(x->m, n->path, k);

	for (unsigned int i = 0; i < nk; i++)
		m_rm_effects(x, k[i], false);
	acct(x, n->perms.e[0].domid, -1);
	emit(x, n->path, !is_top, true, &n->perms, NULL);
}

static int m_rm(struct mctx *x, const char *path)
{
	struct model *m = x->m;
	unsigned int depth = pdepth(path), nd, o = 0;
	struct mnode *node = m_find(m, path), *parent = NULL, *near;
	char pp[M_PATH] = "";
	int err;

	near = m_nearest(m, path, &nd);
	if (depth > 0) {
		prefix(path, depth - 1, pp);
		parent = m_find(m, pp);
	}
	err = m_touch(x, path, SEEN_NODE | SEEN_PERMS);
	if (!err && depth > 0)
		err = m_touch(x, pp, SEEN_NODE | (node ? 0 : SEEN_PERMS));
	if (err)
		return err;
	if (!node) {
		if (!x->skip_checks &&
		    !(m_access(&near->perms, x->c) & PERM_WRITE))
			return -EACCES;
		return parent ? 0 : -ENOENT;
	}
	if (depth == 0)
		return -EINVAL;
	if (!x->skip_checks && !(m_access(&node->perms, x->c) & PERM_WRITE))
		return -EACCES;
	m_rm_effects(x, node, true);
	for (unsigned int i = 0; i < m->n; i++)
		if (!is_in_subtree(m->node[i].path, path))
			m->node[o++] = m->node[i];
	m->n = o;
	m_find(m, pp)->gen = ++g.gen;
	if (x->txn)
		x->txn->touched[m_touched_at(x->txn, path)].is_removed = true;
	return 0;
}

static int special_index(const char *path)
{
	for (int i = 0; i < 2; i++)
		if (!strcmp(path, special_names[i]))
			return i;
	return -1;
}

static int m_set_perms(struct mctx *x, const char *path, const struct mperms *p)
{
	struct mnode *node, *near;
	struct mperms old;
	unsigned int nd;
	int err;

	if (p->n == 0)
		return -EINVAL;
	if (is_limited(x->c) && over(x->c, QUOTA_PERMS, p->n))
		return -ENOSPC;
	if (path[0] == '@') {
		int i = special_index(path);

		if (i < 0)
			return -EINVAL;
		if (!x->skip_checks &&
		    (m_access(&g.special[i], x->c) & PERM_BOTH) != PERM_BOTH)
			return -EACCES;
		g.special[i] = *p;
		return 0;
	}
	node = m_find(x->m, path);
	near = m_nearest(x->m, path, &nd);
	err = m_touch(x, path, SEEN_NODE | SEEN_PERMS);
	if (err)
		return err;
	if (!node) {
		if (x->skip_checks)
			return -ENOENT;
		return (m_access(&near->perms, x->c) & PERM_WRITE) ? -ENOENT
		                                                   : -EACCES;
	}
	if (!x->skip_checks) {
		unsigned int a = m_access(&node->perms, x->c);

		if ((a & (PERM_WRITE | PERM_OWNER)) !=
		    (PERM_WRITE | PERM_OWNER))
			return -EACCES;
		if (!x->c->is_privileged &&
		    p->e[0].domid != node->perms.e[0].domid)
			return -EPERM;
	}
	old = node->perms;
	node->perms = *p;
	node->gen = ++g.gen;
	if (old.e[0].domid != p->e[0].domid) {
		acct(x, old.e[0].domid, -1);
		acct(x, p->e[0].domid, 1);
	}
	emit(x, path, false, false, p, &old);
	return 0;
}

/* READ, DIRECTORY, GET_PERMS lookups, depending on `want` of the node
 * (SEEN_*). */
static int m_lookup(struct mctx *x, const char *path, unsigned int want,
                    struct mnode **out)
{
	struct mnode *node = m_find(x->m, path), *near;
	unsigned int nd;
	int err = m_touch(x, path, SEEN_NODE | want);

	if (err)
		return err;
	if (!node) {
		near = m_nearest(x->m, path, &nd);
		return (m_access(&near->perms, x->c) & PERM_READ) ? -ENOENT
		                                                  : -EACCES;
	}
	if (!(m_access(&node->perms, x->c) & PERM_READ))
		return -EACCES;
	*out = node;
	return 0;
}

static int m_apply(struct mctx *x, const struct mop *op)
{
	switch (op->kind) {
	case OP_WRITE:
		return m_write(x, op->path, op->val, op->vlen, false);
	case OP_MKDIR:
		return m_write(x, op->path, NULL, 0, true);
	case OP_RM:
		return m_rm(x, op->path);
	default:
		return m_set_perms(x, op->path, &op->perms);
	}
}

/* ---- the store side ---- */

static void store_event(void *opaque, const struct store_event *ev)
{
	struct evlist *l = opaque;
	struct mevent *e;

	if (l->n == M_EVENTS)
		fail("store: too many events");
	e = &l->ev[l->n++];
	snprintf(e->path, sizeof(e->path), "%s", ev->path);
	e->is_exact = ev->is_exact;
	e->is_removal = ev->is_removal;
	if (!ev->perms)
		fail("event on %s without permissions", ev->path);
	perms_str(ev->perms->e, ev->perms->n, e->perms, sizeof(e->perms));
	if (ev->old_perms)
		perms_str(ev->old_perms->e, ev->old_perms->n, e->old,
		          sizeof(e->old));
	else
		strcpy(e->old, "-");
}

static void print_events(const char *who, const struct evlist *l)
{
	fprintf(stderr, "  %s events:", who);
	for (unsigned int i = 0; i < l->n; i++)
		fprintf(stderr, " %s%s:%s(%s|%s)",
		        l->ev[i].is_removal ? "rm" : "ch",
		        l->ev[i].is_exact ? "x" : "", l->ev[i].path,
		        l->ev[i].perms, l->ev[i].old);
	fputc('\n', stderr);
}

static bool same_event(const struct mevent *a, const struct mevent *b,
                       bool with_perms)
{
	return !strcmp(a->path, b->path) && a->is_exact == b->is_exact &&
	       a->is_removal == b->is_removal &&
	       (!with_perms ||
	        (!strcmp(a->perms, b->perms) && !strcmp(a->old, b->old)));
}

/* A direct operation: the same events in the same order. */
static void check_events(const char *what)
{
	bool ok = g.mev.n == g.sev.n;

	for (unsigned int i = 0; ok && i < g.mev.n; i++)
		ok = same_event(&g.mev.ev[i], &g.sev.ev[i], true);
	if (!ok) {
		print_events("model", &g.mev);
		print_events("store", &g.sev);
		fail("events of %s differ", what);
	}
}

static int cmp_event(const void *a, const void *b)
{
	return strcmp(((const struct mevent *)a)->path,
	              ((const struct mevent *)b)->path);
}

/*
 * A commit: each changed path once (removal wins, exact only if every
 * change was exact), as a set; the store decides the order.
 */
static void check_commit_events(void)
{
	static struct evlist want;
	bool ok;

	want.n = 0;
	for (unsigned int i = 0; i < g.mev.n; i++) {
		struct mevent *e = &g.mev.ev[i];
		unsigned int j;

		for (j = 0; j < want.n; j++)
			if (!strcmp(want.ev[j].path, e->path))
				break;
		if (j == want.n) {
			want.ev[want.n++] = *e;
			continue;
		}
		want.ev[j].is_exact = want.ev[j].is_exact && e->is_exact;
		want.ev[j].is_removal = want.ev[j].is_removal || e->is_removal;
	}
	qsort(want.ev, want.n, sizeof(want.ev[0]), cmp_event);
	qsort(g.sev.ev, g.sev.n, sizeof(g.sev.ev[0]), cmp_event);
	ok = want.n == g.sev.n;
	for (unsigned int i = 0; ok && i < want.n; i++)
		ok = same_event(&want.ev[i], &g.sev.ev[i], false);
	if (!ok) {
		print_events("model (merged)", &want);
		print_events("store", &g.sev);
		fail("events of a commit differ");
	}
}

static void check_invariants(struct store *s)
{
	char why[256] = "";
	int err = store_check(s, why, sizeof(why));

	if (err)
		fail("store_check: %d: %s", err, why);
}

/* The whole main tree, the owner counts and the special nodes. */
static void check_main(struct store *s)
{
	static const struct store_caller dom0 = {
	    .domid = 0, .target = NO_TARGET, .is_privileged = true};
	static char got[8192], want[8192];

	for (unsigned int i = 0; i < g.main.n; i++) {
		struct mnode *n = &g.main.node[i];
		const char *v;
		size_t len, wlen;
		int err = store_read(s, NULL, &dom0, n->path, &v, &len);

		if (err || len != n->vlen || memcmp(v, n->val, len))
			fail("value of %s (err %d, len %zu, want %zu)", n->path,
			     err, len, n->vlen);
		err = store_get_perms(s, NULL, &dom0, n->path, got, sizeof(got),
		                      &len);
		perms_str(n->perms.e, n->perms.n, want, sizeof(want));
		for (size_t j = 0; !err && j + 1 < len; j++)
			if (!got[j])
				got[j] = ',';
		if (err || strcmp(got, want))
			fail("perms of %s: %s, want %s", n->path,
			     err ? "error" : got, want);
		err = store_directory(s, NULL, &dom0, n->path, got, sizeof(got),
		                      &len, NULL);
		wlen = m_list(&g.main, n->path, want);
		if (err || len != wlen || memcmp(got, want, len))
			fail("children of %s differ (err %d)", n->path, err);
	}
	for (unsigned int i = 0; i < 4; i++)
		if (store_domain_nodes(s, domids[i]) !=
		    m_owned(&g.main, domids[i]))
			fail("domain %u owns %lu nodes, model %lu", domids[i],
			     store_domain_nodes(s, domids[i]),
			     m_owned(&g.main, domids[i]));
	for (int i = 0; i < 2; i++) {
		size_t len;

		if (store_get_perms(s, NULL, &dom0, special_names[i], got,
		                    sizeof(got), &len))
			fail("perms of %s", special_names[i]);
		for (size_t j = 0; j + 1 < len; j++)
			if (!got[j])
				got[j] = ',';
		perms_str(g.special[i].e, g.special[i].n, want, sizeof(want));
		if (strcmp(got, want))
			fail("perms of %s: %s, want %s", special_names[i], got,
			     want);
	}
}

/* The statistics (a scan of every domain: after transaction steps). */
static void check_stats(struct store *s)
{
	struct store_stats st;
	unsigned int open = 0;

	for (int i = 0; i < NSLOTS; i++)
		open += g.txn[i].is_open;
	store_stats(s, &st);
	if (st.open_txns != open || st.main_nodes != g.main.n)
		fail("stats: %u txns (want %u), %" PRIu64 " nodes (want %u)",
		     st.open_txns, open, st.main_nodes, g.main.n);
}

/* ---- input ---- */

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t get8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/*
 * A path over a small alphabet: three bases, then up to three of a/b/c;
 * right under "/" also d..k, as leaves, so that the root has more than
 * eight children (the child index of tree.c).
 */
static void get_path(struct input *in, char *out, bool may_be_special)
{
	static const char *const bases[4] = {"", "/local/domain/5", "/tool",
	                                     ""};
	uint8_t b = get8(in);
	unsigned int depth = (b >> 2) % 4;
	size_t o;

	if (may_be_special && b >= 0xf0) {
		static const char *const sp[3] = {"@releaseDomain",
		                                  "@introduceDomain", "@other"};

		strcpy(out, sp[b % 3]);
		return;
	}
	o = (size_t)snprintf(out, M_PATH, "%s", bases[b % 4]);
	for (unsigned int i = 0; i < depth; i++) {
		uint8_t c = get8(in);

		if (i == 0 && o == 0 && c % 11 >= 3) {
			o += (size_t)snprintf(out, M_PATH, "/%c", 'a' + c % 11);
			break;
		}
		o += (size_t)snprintf(out + o, M_PATH - o, "/%c", 'a' + c % 3);
	}
	if (o == 0)
		strcpy(out, "/");
}

static void get_perms(struct input *in, struct mperms *p)
{
	uint8_t b = get8(in);

	p->n = b % 5; /* 0 (refused) to 4 */
	for (unsigned int i = 0; i < p->n; i++) {
		uint8_t e = get8(in);

		p->e[i].domid = domids[e % 4];
		p->e[i].access = (uint8_t)((e >> 2) & 3);
	}
}

/* ---- one step ---- */

enum {
	S_WRITE,
	S_MKDIR,
	S_RM,
	S_SETPERMS,
	S_READ,
	S_DIR,
	S_DIRPART,
	S_GETPERMS,
	S_TXN_START,
	S_TXN_OP,
	S_TXN_END,
	S_FAULT,
	S_COUNT,
};

/* The arguments of one operation, drawn from the input. */
struct args {
	int kind;
	char path[M_PATH];
	unsigned char val[M_VAL];
	size_t vlen;
	struct mperms perms;
	size_t off, bufsz;
};

static void get_args(struct input *in, int kind, struct args *a)
{
	a->kind = kind;
	get_path(in, a->path, kind == S_SETPERMS || kind == S_GETPERMS);
	a->vlen = 0;
	a->off = 0;
	a->bufsz = 0;
	switch (kind) {
	case S_WRITE:
		a->vlen = get8(in) % 130;
		for (size_t i = 0; i < a->vlen; i++)
			a->val[i] = get8(in);
		break;
	case S_SETPERMS:
		get_perms(in, &a->perms);
		break;
	case S_DIR:
	case S_GETPERMS:
		a->bufsz = get8(in) % 32;
		break;
	case S_DIRPART:
		a->off = get8(in) % 24;
		a->bufsz = get8(in) % 24;
		break;
	default:
		break;
	}
}

/* What an operation returned. */
struct result {
	int err;
	size_t len;
	bool is_complete;
	char data[256];
};

static void store_do(struct store *s, struct txn *t,
                     const struct store_caller *c, const struct args *a,
                     struct result *r)
{
	const char *v;
	uint64_t gen;

	memset(r, 0, sizeof(*r));
	switch (a->kind) {
	case S_WRITE:
		r->err = store_write(s, t, c, a->path, a->val, a->vlen);
		break;
	case S_MKDIR:
		r->err = store_mkdir(s, t, c, a->path);
		break;
	case S_RM:
		r->err = store_rm(s, t, c, a->path);
		break;
	case S_SETPERMS:
		r->err =
		    store_set_perms(s, t, c, a->path, a->perms.e, a->perms.n);
		break;
	case S_READ:
		r->err = store_read(s, t, c, a->path, &v, &r->len);
		if (!r->err) {
			if (r->len > sizeof(r->data) || v[r->len] != '\0')
				fail("read of %s: bad value", a->path);
			memcpy(r->data, v, r->len);
		}
		break;
	case S_DIR:
		r->err = store_directory(s, t, c, a->path, r->data, a->bufsz,
		                         &r->len, &gen);
		break;
	case S_DIRPART:
		r->err = store_directory_part(s, t, c, a->path, a->off, r->data,
		                              a->bufsz, &r->len, &gen,
		                              &r->is_complete);
		break;
	case S_GETPERMS:
		r->err = store_get_perms(s, t, c, a->path, r->data, a->bufsz,
		                         &r->len);
		break;
	}
}

static void model_do(struct mctx *x, const struct args *a, struct result *r)
{
	struct mnode *n = NULL;
	char list[M_MAX * 4];
	struct mop op;
	size_t len;

	memset(r, 0, sizeof(*r));
	switch (a->kind) {
	case S_WRITE:
	case S_MKDIR:
	case S_RM:
	case S_SETPERMS:
		op.kind = a->kind == S_WRITE   ? OP_WRITE
		          : a->kind == S_MKDIR ? OP_MKDIR
		          : a->kind == S_RM    ? OP_RM
		                               : OP_SETPERMS;
		strcpy(op.path, a->path);
		memcpy(op.val, a->val, a->vlen);
		op.vlen = a->vlen;
		op.perms = a->perms;
		r->err = m_apply(x, &op);
		/* A transaction records what succeeded, special paths
		 * aside (they live outside transactions). */
		if (!r->err && x->txn && a->path[0] != '@') {
			if (x->txn->nops == M_OPS)
				fail("model: too many operations");
			x->txn->ops[x->txn->nops++] = op;
		}
		return;
	case S_GETPERMS:
		if (a->path[0] == '@') {
			int i = special_index(a->path);

			if (i < 0) {
				r->err = -EINVAL;
				return;
			}
			if (!(m_access(&g.special[i], x->c) & PERM_READ)) {
				r->err = -EACCES;
				return;
			}
			n = NULL;
		} else {
			r->err = m_lookup(x, a->path, SEEN_PERMS, &n);
			if (r->err)
				return;
		}
		{
			const struct mperms *p =
			    n ? &n->perms : &g.special[special_index(a->path)];
			char text[64];

			perms_str(p->e, p->n, text, sizeof(text));
			len = strlen(text) + 1;
			for (size_t i = 0; i < len; i++)
				r->data[i] = text[i] == ',' ? '\0' : text[i];
			if (len > a->bufsz) {
				r->err = -E2BIG;
				return;
			}
			r->len = len;
		}
		return;
	default:
		break;
	}
	r->err = m_lookup(
	    x, a->path,
	    SEEN_PERMS | (a->kind == S_READ ? SEEN_VALUE : SEEN_KIDS), &n);
	if (r->err)
		return;
	switch (a->kind) {
	case S_READ:
		memcpy(r->data, n->val, n->vlen);
		r->len = n->vlen;
		return;
	case S_DIR:
		len = m_list(x->m, n->path, list);
		if (len > a->bufsz) {
			r->err = -E2BIG;
			return;
		}
		memcpy(r->data, list, len);
		r->len = len;
		return;
	case S_DIRPART:
		/* Xen's raw slice of "name\0name\0...". */
		len = m_list(x->m, n->path, list);
		if (a->off >= len) {
			r->is_complete = true;
			return;
		}
		while (a->off + r->len < len) {
			size_t k = strlen(list + a->off + r->len) + 1;

			if (r->len + k > a->bufsz)
				break;
			r->len += k;
		}
		memcpy(r->data, list + a->off, r->len);
		r->is_complete = a->off + r->len == len;
		return;
	}
}

static const char *const kind_names[S_COUNT] = {
    "write",   "mkdir",    "rm",        "setperms", "read",    "dir",
    "dirpart", "getperms", "txn-start", "txn-op",   "txn-end", "fault"};

static bool same_result(const struct result *a, const struct result *b,
                        int kind)
{
	if (a->err != b->err)
		return false;
	if (a->err)
		return true;
	if (kind == S_DIRPART && a->is_complete != b->is_complete)
		return false;
	return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static void mismatch(const char *where, const struct args *a,
                     const struct store_caller *c, const struct result *sr,
                     const struct result *mr)
{
	fail("%s %s %s by dom%u: store %d (len %zu), model %d (len %zu)", where,
	     kind_names[a->kind], a->path, c->domid, sr->err, sr->len, mr->err,
	     mr->len);
}

/* Arm the fault of a FAULT step; true if it fired. */
static void fault_arm(void)
{
	if (g.fault >= 0)
		xalloc_fail_after(g.fault);
}

static bool fault_disarm(void)
{
	long k = g.fault;
	long count;

	if (k < 0)
		return false;
	count = xalloc_fail_after(-1);
	g.fault = -1;
	return count > k;
}

/* An operation on the main tree. */
static void step_direct(struct store *s, struct input *in, int kind)
{
	const struct store_caller *c = &callers[get8(in) % 4];
	struct mctx x = {&g.main, NULL, c, false, &g.mev};
	struct mperms special_saved[2];
	struct result sr, mr;
	static struct args a;
	bool fired;

	get_args(in, kind, &a);
	scratch_model = g.main;
	memcpy(special_saved, g.special, sizeof(special_saved));
	fault_arm();
	store_do(s, NULL, c, &a, &sr);
	fired = fault_disarm();
	model_do(&x, &a, &mr);
	if (is_trace)
		fprintf(stderr, "%s %s dom%u: %d (model %d)%s\n",
		        kind_names[kind], a.path, c->domid, sr.err, mr.err,
		        fired ? " fault" : "");
	if (fired && sr.err == -ENOMEM && mr.err != -ENOMEM) {
		/* Failed for want of memory: nothing may have changed. */
		g.main = scratch_model;
		memcpy(g.special, special_saved, sizeof(special_saved));
		if (g.sev.n)
			fail("%s failed with ENOMEM but reported events",
			     kind_names[kind]);
		return;
	}
	if (!same_result(&sr, &mr, kind))
		mismatch("direct", &a, c, &sr, &mr);
	check_events(kind_names[kind]);
}

static void step_txn_start(struct store *s, struct input *in)
{
	struct mtxn *t = &g.txn[get8(in) % NSLOTS];
	const struct store_caller *c = &callers[get8(in) % 4];
	bool fired;
	int err;

	if (t->is_open)
		return;
	fault_arm();
	err = store_txn_start(s, c, &t->t);
	fired = fault_disarm();
	if (is_trace)
		fprintf(stderr, "txn%d start dom%u: %d\n", (int)(t - g.txn),
		        c->domid, err);
	if (err) {
		if (!(fired && err == -ENOMEM))
			fail("txn start: %d", err);
		return;
	}
	t->is_open = true;
	t->may_enomem = false;
	t->is_doomed = false;
	t->c = c;
	t->view = g.main;
	snaps[t - g.txn] = g.main;
	t->nt = 0;
	t->own_delta = 0;
	t->nops = 0;
}

/*
 * The store's operation in `t` failed with ENOMEM and the model's did not:
 * undo the model's step (scratch_txn holds `t` from before it), keeping
 * its touches if the store recorded them all.
 */
static void txn_op_failed(struct mtxn *t, bool fired)
{
	static struct mtxn after;
	unsigned int n = store_txn_touched(t->t);

	after = *t;
	*t = scratch_txn;
	if (t->is_doomed)
		return; /* its touched set no longer counts */
	if (n > after.nt)
		fail("txn touched %u paths in a failed step, model %u", n,
		     after.nt);
	if (!fired) {
		/* Without a fault now: the sticky error of an earlier one. */
		t->is_doomed = true;
		return;
	}
	t->may_enomem = true;
	if (n == after.nt) {
		/* Every touch made, then an allocation failed: before any
		 * removal it would have marked. */
		for (unsigned int i = 0; i < after.nt; i++) {
			bool was = i < t->nt && t->touched[i].is_removed;

			t->touched[i] = after.touched[i];
			t->touched[i].is_removed = was;
		}
		t->nt = after.nt;
	} else if (n != t->nt) {
		/* Some touches made, then the set could not grow. */
		t->is_doomed = true;
	}
	/* else: none made (the walk failed, or the first touch). */
}

static void step_txn_op(struct store *s, struct input *in)
{
	struct mtxn *t = &g.txn[get8(in) % NSLOTS];
	int kind = get8(in) % (S_GETPERMS + 1);
	struct mctx x = {NULL, t, t->c, false, NULL};
	struct mperms special_saved[2];
	struct result sr, mr;
	static struct args a;
	bool fired;

	get_args(in, kind, &a);
	if (!t->is_open)
		return;
	x.m = &t->view;
	scratch_txn = *t;
	memcpy(special_saved, g.special, sizeof(special_saved));
	fault_arm();
	store_do(s, t->t, t->c, &a, &sr);
	fired = fault_disarm();
	model_do(&x, &a, &mr);
	if (is_trace)
		fprintf(stderr, "txn%d %s %s dom%u: %d (model %d)%s\n",
		        (int)(t - g.txn), kind_names[kind], a.path, t->c->domid,
		        sr.err, mr.err, fired ? " fault" : "");
	if (g.sev.n)
		fail("an operation in a transaction reported events");
	if (same_result(&sr, &mr, kind)) {
		/* A fault here may have hit the operation log only. */
		t->may_enomem = t->may_enomem || fired;
		if (!t->is_doomed && store_txn_touched(t->t) != t->nt)
			fail("txn touched %u paths, model %u",
			     store_txn_touched(t->t), t->nt);
		return;
	}
	/* Only an allocation failure, now or sticky from before. */
	if (sr.err != -ENOMEM || !(fired || t->may_enomem))
		mismatch("in txn", &a, t->c, &sr, &mr);
	txn_op_failed(t, fired);
	memcpy(g.special, special_saved, sizeof(special_saved));
}

/* The model's commit: EAGAIN, a replay error, or the new main tree. */
static int model_commit(struct mtxn *t)
{
	struct mctx x = {&scratch_model, NULL, t->c, true, &g.mev};
	struct model *snap = &snaps[t - g.txn];
	bool is_untouched = true;

	for (unsigned int i = 0; i < t->nt; i++) {
		const char *path = t->touched[i].path;
		unsigned int seen = t->touched[i].seen;
		struct mnode *n = m_find(&g.main, path),
		             *ns = m_find(snap, path);

		if ((n ? n->gen : 0) != t->touched[i].gen)
			is_untouched = false;
		if (!n || !ns) {
			if (!n != !ns && (seen & SEEN_NODE))
				return -EAGAIN;
			continue;
		}
		if (((seen & SEEN_VALUE) && !m_same_value(n, ns)) ||
		    ((seen & SEEN_PERMS) &&
		     !m_same_perms(&n->perms, &ns->perms)) ||
		    ((seen & SEEN_KIDS) && !m_same_kids(&g.main, n, snap, ns)))
			return -EAGAIN;
	}
	scratch_model = g.main;
	for (unsigned int i = 0; i < t->nops; i++) {
		int err = m_apply(&x, &t->ops[i]);

		if (err) {
			g.mev.n = 0;
			/* A quota's refusal on a tree that changed. */
			return err == -ENOSPC && !is_untouched ? -EAGAIN : err;
		}
	}
	g.main = scratch_model;
	return 0;
}

static void step_txn_end(struct store *s, struct input *in)
{
	struct mtxn *t = &g.txn[get8(in) % NSLOTS];
	bool is_commit = get8(in) & 1;
	static struct model before;
	bool fired;
	int err, merr;

	if (!t->is_open)
		return;
	before = g.main;
	fault_arm();
	err = store_txn_end(s, t->t, is_commit);
	fired = fault_disarm();
	t->is_open = false;
	t->t = NULL;
	merr = is_commit ? model_commit(t) : 0;
	if (is_trace)
		fprintf(stderr, "txn%d %s: %d (model %d)%s%s%s\n",
		        (int)(t - g.txn), is_commit ? "commit" : "abort", err,
		        merr, t->may_enomem ? " may-enomem" : "",
		        t->is_doomed ? " doomed" : "", fired ? " fault" : "");
	if (is_commit && t->is_doomed && err != -ENOMEM)
		fail("txn end: the store lost track of a transaction, yet "
		     "its commit returned %d (model %d)",
		     err, merr);
	if (err == merr) {
		if (err == 0 && is_commit)
			check_commit_events();
		else if (g.sev.n)
			fail("a failed or aborted transaction reported events");
		return;
	}
	/* Allowed only after an allocation failure, and changing nothing:
	 * EAGAIN and success must agree exactly. */
	if (err != -ENOMEM || !(fired || t->may_enomem))
		fail("txn end (commit %d, may-enomem %d, fault %d): store %d, "
		     "model %d",
		     is_commit, t->may_enomem, fired, err, merr);
	g.main = before;
	if (g.sev.n)
		fail("a failed commit reported events");
}

static void replica_check(struct store *s);

/*
 * One step.  The invariant checker and the full comparison of the main
 * tree run after every step that can change the main tree; after reads
 * and steps inside a transaction (which cannot) only every 16th time,
 * because store_check scans every domain id and dominates the cost.
 */
static void step(struct store *s, struct input *in)
{
	static unsigned int quiet;
	int kind = get8(in) % S_COUNT;
	bool is_change = true;

	g.mev.n = 0;
	g.sev.n = 0;
	switch (kind) {
	case S_TXN_START:
		step_txn_start(s, in);
		is_change = false;
		break;
	case S_TXN_OP:
		step_txn_op(s, in);
		is_change = false;
		break;
	case S_TXN_END:
		step_txn_end(s, in);
		break;
	case S_FAULT:
		g.fault = get8(in) % 48;
		if (is_trace)
			fprintf(stderr, "fault after %ld\n", g.fault);
		return;
	default:
		step_direct(s, in, kind);
		is_change = kind <= S_SETPERMS;
		break;
	}
	g.fault = -1;
	if (is_change || ++quiet % 16 == 0) {
		check_invariants(s);
		check_main(s);
	}
	replica_check(s);
}

/* ---- the replica ---- */

static const unsigned char *snap_buf;

static void record_cb(void *opaque, const void *rec, size_t len)
{
	(void)opaque;
	if (len > sizeof(rp.buf) - 4 - rp.len)
		fail("records of one step too large (%zu bytes)", len);
	memcpy(rp.buf + rp.len, &(uint32_t){(uint32_t)len}, 4);
	memcpy(rp.buf + rp.len + 4, rec, len);
	rp.len += 4 + len;
	rp.nr++;
}

static int snap_write(void *arg, const void *data, size_t len)
{
	static unsigned char big[1u << 22];
	size_t *at = arg;

	if (len > sizeof(big) - *at)
		fail("snapshot too large");
	memcpy(big + *at, data, len);
	*at += len;
	snap_buf = big;
	return 0;
}

/* The replica through a snapshot: it must come back equal. */
static void replica_reload(void)
{
	struct store *c;
	size_t len = 0;
	int err = store_dump(rp.replica, snap_write, &len);

	if (err)
		fail("store_dump: %d", err);
	err = store_load(snap_buf, len, &c);
	if (err)
		fail("store_load: %d", err);
	if (!store_equal(rp.replica, c))
		fail("a snapshot did not load back equal");
	store_free(rp.replica);
	rp.replica = c;
}

/* After a step: replay its records on the replica, which must then
 * equal the main store. */
static void replica_check(struct store *s)
{
	size_t at = 0;

	if (rp.nr > 1)
		fail("one step emitted %u records", rp.nr);
	while (at < rp.len) {
		uint32_t len;
		int err;

		memcpy(&len, rp.buf + at, 4);
		err = store_replay(rp.replica, rp.buf + at + 4, len);
		if (err)
			fail("store_replay of a record: %d", err);
		at += 4 + len;
	}
	if (rp.nr) {
		if (++rp.all % 8 == 0)
			replica_reload();
		check_main(rp.replica);
	}
	rp.len = 0;
	rp.nr = 0;
	if (!store_equal(s, rp.replica))
		fail("the replica differs from the store");
}

/* ---- the entry point ---- */

static void setup(struct store *s)
{
	static const struct perm_entry home[2] = {{5, PERM_NONE},
	                                          {7, PERM_READ}};
	static const struct perm_entry n0 = {0, PERM_NONE};
	static const struct mperms mhome = {2,
	                                    {{5, PERM_NONE}, {7, PERM_READ}}};
	struct mctx x = {&g.main, NULL, &callers[0], false, NULL};
	static const char *const initial[] = {"/", "/tool", "/tool/xenstored"};
	struct mperms p0 = {1, {n0}};

	memset(&g, 0, sizeof(g));
	g.fault = -1;
	for (int i = 0; i < 3; i++)
		m_add(&g.main, initial[i], NULL, 0, &p0);
	g.special[0] = p0;
	g.special[1] = p0;
	/* Domain 5's home, owned by it, readable by 7. */
	if (store_mkdir(s, NULL, &callers[0], "/local/domain/5") ||
	    store_set_perms(s, NULL, &callers[0], "/local/domain/5", home, 2))
		fail("setup");
	if (m_write(&x, "/local/domain/5", NULL, 0, true) ||
	    m_set_perms(&x, "/local/domain/5", &mhome))
		fail("model setup");
	g.sev.n = 0;
	check_main(s);
}

static int initialized;

static void init_once(void)
{
	quota_defaults(&q_default);
	quota_defaults(&q_small);
	q_small.v[QUOTA_NODES] = 12;
	q_small.v[QUOTA_NODE_SIZE] = 100;
	q_small.v[QUOTA_PERMS] = 3;
	q_small.v[QUOTA_TXN_NODES] = 6;
	/* The model does not count memory: leave that quota unchecked. */
	q_small.v[QUOTA_MEMORY] = 0;
	q_default.v[QUOTA_MEMORY] = 0;
	is_trace = getenv("FUZZ_STORE_TRACE") != NULL;
	initialized = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {data, size};
	struct store *s;

	if (!initialized)
		init_once();
	s = store_new();
	if (!s)
		fail("store_new");
	setup(s);
	store_set_event_cb(s, store_event, &g.sev);
	rp.len = 0;
	rp.nr = 0;
	rp.all = 0;
	/* The replica starts as a copy of the store after setup. */
	{
		size_t len = 0;

		if (store_dump(s, snap_write, &len) ||
		    store_load(snap_buf, len, &rp.replica))
			fail("copy of the initial store");
	}
	store_set_record_cb(s, record_cb, NULL);
	for (int n = 0; in.n && n < MAX_STEPS; n++)
		step(s, &in);
	xalloc_fail_after(-1);
	for (int i = 0; i < NSLOTS; i++)
		if (g.txn[i].is_open)
			store_txn_end(s, g.txn[i].t, false);
	memset(g.txn, 0, sizeof(g.txn));
	check_main(s);
	check_stats(s);
	check_invariants(s);
	replica_check(s);
	check_invariants(rp.replica);
	store_free(rp.replica);
	rp.replica = NULL;
	store_free(s);
	return 0;
}
