/*
 * txn_dump.c - images of open transactions (store_txn_save,
 * store_txn_load; the format is in store.h), so that a transaction goes
 * on in another store that holds the same main tree: the daemon's live
 * update carries its open transactions this way.
 *
 * A transaction is two versions of the tree and its records (txn.c).
 * Both versions share most of their nodes with the main tree: `base` is
 * the main tree as it was when the transaction started, so it differs
 * from today's only along the paths committed since; `root` is `base`
 * with the transaction's own changes.  Each is written as a diff: a node
 * that is the very node (the same pointer) of the reference version at
 * the same path is written as a reference ("same"), which stands for its
 * whole subtree, and only the other nodes are written, with their
 * children.  The reference of `base` is the main tree, that of `root` is
 * `base`.  The load rebuilds them in the same way on the loaded main
 * tree, whose nodes have the same names, values, permissions and
 * generations (store_load keeps them), so the nodes they share are
 * shared again and every comparison a commit makes gives the same
 * answer.  An image costs the nodes on the paths changed since the
 * start (by others or by the transaction), and their siblings as
 * references: not the tree.
 *
 * The touched set goes as paths with their aspects (TXN_SEEN_*, removed
 * or not); the snapshot's node at each path is found again in the
 * rebuilt `base`, where the transaction found it.  The operation log,
 * the counters and the caller (as the transaction started: its quotas
 * then) go as they are.
 *
 * Both walks are iterative, on stacks of at most DEPTH_MAX frames (the
 * deepest possible path); the load checks what store_load checks of a
 * node (names, unique children, path length, generations).
 */
#include <errno.h>
#include <string.h>

#include "common/rd.h"
#include "common/xalloc.h"
#include "store/le.h"
#include "store/path.h"
#include "store/store_int.h"

#define TXN_IMG_VERSION 1u
#define TXN_IMG_TYPE    3u
#define TXN_IMG_HDR     64u
#define TXN_IMG_QUOTA   0x1u /* flags: the caller had quotas */
#define TXN_IMG_PRIV    0x2u /* flags: the caller is privileged */
#define ENT_HDR         4u   /* u8 tag, u8 0, u16 name_len */
#define NODE_HDR        20u  /* after ENT_HDR, for a NODE */
#define ENT_SAME        0u
#define ENT_NODE        1u
#define ENT_RUN         2u
#define RUN_BYTES       12u /* u8 tag, u8 0, u16 0, u32 from, u32 count */
#define PERM_BYTES      4u
#define CHUNK           65536u
#define DEPTH_MAX       (XS_ABS_PATH_MAX / 2 + 2)

void txn_dump_test_drop(struct store *s, unsigned int what)
{
	s->txn_dump_drop = what;
}

/* ---- save ---- */

struct img {
	unsigned char *p;
	size_t len, cap;
	int err;
};

/* Room for `n` more bytes; NULL (and img->err) on ENOMEM. */
static unsigned char *img_room(struct img *b, size_t n)
{
	unsigned char *q;

	if (b->err)
		return NULL;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap - b->len < n)
			cap *= 2;
		q = xrealloc(b->p, cap);
		if (!q) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->p = q;
		b->cap = cap;
	}
	q = b->p + b->len;
	b->len += n;
	return q;
}

static void img_bytes(struct img *b, const void *data, size_t n)
{
	unsigned char *q = img_room(b, n);

	if (q && n)
		memcpy(q, data, n);
}

static void img_u32(struct img *b, uint32_t v)
{
	unsigned char *q = img_room(b, 4);

	if (q)
		put32(q, v);
}

static void img_perm_entries(struct img *b, const struct perm_entry *e,
                             unsigned int n)
{
	unsigned char *q = img_room(b, (size_t)PERM_BYTES * n);

	for (unsigned int i = 0; q && i < n; i++, q += PERM_BYTES) {
		put16(q, e[i].domid);
		q[2] = e[i].access;
		q[3] = 0;
	}
}

static void img_same(struct img *b, const struct node *n)
{
	unsigned char *q = img_room(b, ENT_HDR);

	if (!q)
		return;
	q[0] = ENT_SAME;
	q[1] = 0;
	put16(q + 2, n->name_len);
	img_bytes(b, node_name(n), n->name_len);
}

static void img_node(struct img *b, const struct node *n)
{
	unsigned char *q = img_room(b, ENT_HDR + NODE_HDR);

	if (!q)
		return;
	q[0] = ENT_NODE;
	q[1] = 0;
	put16(q + 2, n->name_len);
	put16(q + 4, n->perms->n);
	put16(q + 6, 0);
	put32(q + 8, n->value_len);
	put32(q + 12, node_nkids(n));
	put64(q + 16, n->gen);
	img_bytes(b, node_name(n), n->name_len);
	img_bytes(b, node_value(n), n->value_len);
	img_perm_entries(b, n->perms->e, n->perms->n);
}

/* The position in `r` (NULL: none) of the child named as `n` is, or -1. */
static long same_kid(const struct tree_env *env, const struct node *r,
                     const struct node *n)
{
	return r ? node_find_kid(env, r, node_name(n), n->name_len) : -1;
}

struct save_frame {
	const struct node *x, *r; /* the version's node, the reference's */
	uint32_t pos;
	uint32_t entries; /* written for its children so far */
	size_t hdr;       /* where its NODE entry is, to patch its count */
};

/* The run of the reference's children waiting to be written. */
struct run {
	uint32_t from, len;
};

static void flush_run(struct img *b, struct run *run, struct save_frame *f)
{
	unsigned char *q;

	if (!run->len)
		return;
	q = img_room(b, RUN_BYTES);
	if (q) {
		q[0] = ENT_RUN;
		q[1] = 0;
		put16(q + 2, 0);
		put32(q + 4, run->from);
		put32(q + 8, run->len);
	}
	f->entries++;
	run->len = 0;
}

/* Version `x` as a diff against version `r` (see the top). */
static void save_tree(const struct tree_env *env, struct img *b,
                      struct save_frame *st, const struct node *x,
                      const struct node *r)
{
	struct run run = {0, 0};
	unsigned int sp = 0;

	if (x == r) {
		img_same(b, x);
		return;
	}
	st[0] = (struct save_frame){x, r, 0, 0, b->len};
	img_node(b, x);
	while (!b->err) {
		struct save_frame *f = &st[sp];
		const struct node *k;
		long pos;

		if (f->pos == node_nkids(f->x)) {
			flush_run(b, &run, f);
			if (!b->err)
				put32(b->p + f->hdr + 12, f->entries);
			if (sp == 0)
				return;
			sp--;
			continue;
		}
		k = node_kid(f->x, f->pos++);
		/* Mostly at the same position: no lookup then. */
		if (f->r && f->pos <= node_nkids(f->r) &&
		    node_kid(f->r, f->pos - 1) == k)
			pos = f->pos - 1;
		else
			pos = same_kid(env, f->r, k);
		if (pos >= 0 && node_kid(f->r, (uint32_t)pos) == k) {
			/* Shared: one more of a run of the reference's. */
			if (run.len && run.from + run.len == (uint32_t)pos) {
				run.len++;
				continue;
			}
			flush_run(b, &run, f);
			run.from = (uint32_t)pos;
			run.len = 1;
			continue;
		}
		flush_run(b, &run, f);
		f->entries++;
		if (node_nkids(k)) {
			if (sp + 1 >= DEPTH_MAX) {
				b->err = -EINVAL; /* deeper than a path */
				return;
			}
			st[++sp] = (struct save_frame){
			    k, pos >= 0 ? node_kid(f->r, (uint32_t)pos) : NULL,
			    0, 0, b->len};
		}
		img_node(b, k);
	}
}

static void save_touched(struct img *b, const struct txn *t)
{
	for (uint32_t i = 0; i < t->touched_cap; i++) {
		const struct touched *e = &t->touched[i];
		size_t len;
		unsigned char *q;

		if (!e->hash)
			continue;
		len = strlen(e->path);
		q = img_room(b, 8);
		if (!q)
			return;
		put32(q, (uint32_t)len);
		q[4] = (unsigned char)e->seen;
		q[5] = e->is_removed;
		put16(q + 6, 0);
		img_bytes(b, e->path, len);
	}
}

static void save_ops(struct img *b, const struct txn *t)
{
	for (const struct txn_op *op = t->ops; op; op = op->next) {
		bool is_perms = op->kind == TXN_SET_PERMS;
		size_t n = is_perms ? op->data_len / sizeof(struct perm_entry)
		                    : op->data_len;
		unsigned char *q = img_room(b, 12);

		if (!q)
			return;
		q[0] = (unsigned char)op->kind;
		q[1] = 0;
		put16(q + 2, 0);
		put32(q + 4, (uint32_t)op->path_len);
		put32(q + 8, (uint32_t)n);
		img_bytes(b, op->path, op->path_len);
		if (is_perms)
			img_perm_entries(b, op->data, (unsigned int)n);
		else
			img_bytes(b, op->data, n);
	}
}

int store_txn_save(struct store *s, const struct txn *t, store_write_fn *fn,
                   void *arg)
{
	struct img b = {NULL, 0, 0, 0};
	struct save_frame *st = xmalloc(DEPTH_MAX * sizeof(*st));
	unsigned char *h;
	int err;

	if (!st)
		return -ENOMEM;
	h = img_room(&b, TXN_IMG_HDR);
	if (h) {
		memset(h, 0, TXN_IMG_HDR);
		h[0] = TXN_IMG_VERSION;
		h[1] = TXN_IMG_TYPE;
		put16(h + 2, (t->has_quota ? TXN_IMG_QUOTA : 0) |
		                 (t->caller.is_privileged ? TXN_IMG_PRIV : 0));
		put32(h + 4, (uint32_t)-t->error);
		put32(h + 8, t->caller.domid);
		put32(h + 12, t->caller.target);
		put64(h + 16, t->caller.extra_mem);
		put64(h + 24, (uint64_t)t->own_delta);
		put64(h + 32, (uint64_t)t->own_bytes);
		put64(h + 40, t->mem);
		put64(h + 48, s->env.gen);
		put32(h + 56, t->nr_ops);
		put32(h + 60, s->txn_dump_drop & TXN_DUMP_DROP_TOUCHED
		                  ? 0
		                  : t->nr_touched);
	}
	img_u32(&b, t->touched_cap);
	img_u32(&b, t->has_quota ? QUOTA_COUNT : 0);
	for (unsigned int i = 0; t->has_quota && i < QUOTA_COUNT; i++) {
		unsigned char *q = img_room(&b, 8);

		if (q)
			put64(q, t->quota.v[i]);
	}
	save_tree(&s->env, &b, st, t->base, s->root);
	save_tree(&s->env, &b, st, t->root, t->base);
	save_ops(&b, t);
	if (!(s->txn_dump_drop & TXN_DUMP_DROP_TOUCHED))
		save_touched(&b, t);
	xfree(st);
	err = b.err;
	for (size_t at = 0; !err && at < b.len; at += CHUNK)
		err =
		    fn(arg, b.p + at, b.len - at < CHUNK ? b.len - at : CHUNK);
	xfree(b.p);
	return err;
}

/* ---- load ---- */

/* `n` encoded entries into e[] (room for XS_PAYLOAD_MAX / 2); -EINVAL. */
static int in_perm_entries(struct rd *in, unsigned int n, struct perm_entry *e)
{
	const unsigned char *q = rd_take(in, (size_t)PERM_BYTES * n);

	if (!q)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++, q += PERM_BYTES) {
		e[i].domid = get16(q);
		e[i].access = q[2];
		if (q[2] > PERM_BOTH || q[3])
			return -EINVAL;
	}
	return 0;
}

/*
 * One entry, the child of `parent` in the rebuilt version (NULL: the
 * root) whose reference is `r` (the reference's node at the parent's
 * path, or its root).  *out gets the node with a reference for the
 * caller, *ref its reference's node (NULL: none) and *nkids the
 * children that follow it (0 for "same").  `prev`: the permissions of
 * the last node made, shared when equal.
 */
static int load_entry(struct store *s, struct rd *in, const struct node *parent,
                      const struct node *r, struct perm_entry *scratch,
                      struct nperms **prev, struct node **out,
                      const struct node **ref, uint32_t *nkids)
{
	const unsigned char *h = rd_take(in, ENT_HDR), *name, *nh, *value;
	uint16_t name_len, np;
	uint32_t value_len;
	struct nperms *p;
	long pos;

	*out = NULL;
	*nkids = 0;
	if (!h || h[0] > ENT_NODE || h[1])
		return -EINVAL;
	name_len = get16(h + 2);
	nh = h[0] == ENT_NODE ? rd_take(in, NODE_HDR) : h;
	name = rd_take(in, name_len);
	if (!nh || !name || !path_name_valid(name, name_len) ||
	    (parent ? name_len == 0 : name_len != 0) ||
	    (parent &&
	     node_find_kid(&s->env, parent, (const char *)name, name_len) >= 0))
		return -EINVAL;
	/* The reference's node at the same path. */
	if (!parent) {
		*ref = r;
	} else {
		pos =
		    r ? node_find_kid(&s->env, r, (const char *)name, name_len)
		      : -1;
		*ref = pos < 0 ? NULL : node_kid(r, (uint32_t)pos);
	}
	if (h[0] == ENT_SAME) {
		if (!*ref)
			return -EINVAL;
		*out = (struct node *)*ref;
		node_ref(*out);
		return 0;
	}
	np = get16(nh);
	value_len = get32(nh + 4);
	*nkids = get32(nh + 8);
	if (np == 0 || get16(nh + 2) || value_len > XS_PAYLOAD_MAX ||
	    get64(nh + 12) > s->env.gen)
		return -EINVAL;
	value = rd_take(in, value_len);
	if (!value || in_perm_entries(in, np, scratch))
		return -EINVAL;
	if (*ref && (*ref)->perms->n == np &&
	    !memcmp((*ref)->perms->e, scratch, np * sizeof(*scratch))) {
		p = (*ref)->perms;
		nperms_ref(p);
	} else if (*prev && (*prev)->n == np &&
	           !memcmp((*prev)->e, scratch, np * sizeof(*scratch))) {
		p = *prev;
		nperms_ref(p);
	} else {
		p = nperms_new(scratch, np);
		if (!p)
			return -ENOMEM;
	}
	*out = node_new(&s->env, (const char *)name, name_len, value, value_len,
	                p);
	nperms_unref(*prev);
	*prev = p;
	if (!*out)
		return -ENOMEM;
	(*out)->gen = get64(nh + 12);
	return 0;
}

struct load_frame {
	struct node *n;       /* being rebuilt */
	const struct node *r; /* the reference's node at its path */
	uint32_t left;        /* children still to read */
	size_t plen;          /* bytes of its path */
};

/* A run of the children of `r` (the reference's node at the path of
 * `parent`), added to `parent`. */
static int load_run(struct store *s, struct rd *in, struct node *parent,
                    const struct node *r)
{
	const unsigned char *h = rd_take(in, RUN_BYTES);
	uint32_t from, n;

	if (!h || h[1] || get16(h + 2) || !r)
		return -EINVAL;
	from = get32(h + 4);
	n = get32(h + 8);
	if (n == 0 || from > node_nkids(r) || n > node_nkids(r) - from)
		return -EINVAL;
	for (uint32_t i = from; i < from + n; i++) {
		struct node *k = node_kid(r, i);
		int err;

		if (node_find_kid(&s->env, parent, node_name(k), k->name_len) >=
		    0)
			return -EINVAL;
		err = node_reserve_kid(&s->env, parent);
		if (err)
			return err;
		node_ref(k);
		node_add_kid(&s->env, parent, k);
	}
	return 0;
}

/* A version written by save_tree against `r`, into *out. */
static int load_tree(struct store *s, struct rd *in, const struct node *r,
                     struct load_frame *st, struct perm_entry *scratch,
                     struct node **out)
{
	struct nperms *prev = NULL;
	const struct node *ref;
	struct node *n;
	unsigned int sp = 0;
	uint32_t nk;
	int err = load_entry(s, in, NULL, r, scratch, &prev, out, &ref, &nk);

	if (err || !nk)
		goto done;
	st[0] = (struct load_frame){*out, ref, nk, 1};
	while (1) {
		struct load_frame *f = &st[sp];
		size_t len;

		if (!f->left) {
			if (sp == 0)
				break;
			sp--;
			continue;
		}
		f->left--;
		if (in->off < in->len && in->p[in->off] == ENT_RUN) {
			err = load_run(s, in, f->n, f->r);
			if (err)
				break;
			continue;
		}
		err = load_entry(s, in, f->n, f->r, scratch, &prev, &n, &ref,
		                 &nk);
		if (err) {
			node_unref(&s->env, n);
			break;
		}
		len = (sp ? f->plen + 1 : 1) + n->name_len;
		if (len > XS_ABS_PATH_MAX || (nk && sp + 1 >= DEPTH_MAX)) {
			node_unref(&s->env, n);
			err = -EINVAL;
			break;
		}
		err = node_reserve_kid(&s->env, f->n);
		if (err) {
			node_unref(&s->env, n);
			break;
		}
		node_add_kid(&s->env, f->n, n);
		if (nk)
			st[++sp] = (struct load_frame){n, ref, nk, len};
	}
done:
	nperms_unref(prev);
	if (err) {
		node_unref(&s->env, *out);
		*out = NULL;
	}
	return err;
}

/* A nul-terminated copy of `len` bytes of `q` into path[]; a valid path
 * (special ones too if `special`)?  */
static bool in_path(const unsigned char *q, size_t len, char *path,
                    bool special)
{
	if (!q || len == 0 || len > XS_ABS_PATH_MAX)
		return false;
	memcpy(path, q, len);
	path[len] = '\0';
	return strlen(path) == len &&
	       !path_check(path, special ? PATH_ALLOW_SPECIAL : 0);
}

static int load_ops(struct rd *in, struct txn *t, uint32_t nr_ops, char *path,
                    struct perm_entry *scratch)
{
	for (uint32_t i = 0; i < nr_ops; i++) {
		const unsigned char *h = rd_take(in, 12), *data;
		uint32_t path_len, n;
		unsigned int kind;

		if (!h || h[1] || get16(h + 2) || h[0] > TXN_SET_PERMS)
			return -EINVAL;
		kind = h[0];
		path_len = get32(h + 4);
		n = get32(h + 8);
		if (!in_path(rd_take(in, path_len), path_len, path, true))
			return -EINVAL;
		if (kind == TXN_SET_PERMS) {
			if (n == 0 || n > XS_PAYLOAD_MAX / 2 ||
			    in_perm_entries(in, n, scratch))
				return -EINVAL;
			txn_record(t, TXN_SET_PERMS, path, scratch,
			           n * sizeof(*scratch));
		} else {
			if (n > XS_PAYLOAD_MAX || (kind != TXN_WRITE && n))
				return -EINVAL;
			data = rd_take(in, n);
			if (!data)
				return -EINVAL;
			txn_record(t, (enum txn_op_kind)kind, path, data, n);
		}
		if (t->error)
			return t->error;
	}
	return 0;
}

static int load_touched(struct rd *in, struct txn *t, uint32_t nr, char *path)
{
	for (uint32_t i = 0; i < nr; i++) {
		const unsigned char *h = rd_take(in, 8);
		uint32_t len;
		int err;

		if (!h || h[4] & ~0xfu || h[5] > 1 || get16(h + 6))
			return -EINVAL;
		len = get32(h);
		if (!in_path(rd_take(in, len), len, path, false))
			return -EINVAL;
		err = txn_touch_restore(t, path, len, h[4], h[5]);
		if (err)
			return err;
	}
	return 0;
}

int store_txn_load(struct store *s, const void *buf, size_t len,
                   struct txn **out)
{
	struct rd in = {buf, len, 0, false};
	const unsigned char *h = rd_take(&in, TXN_IMG_HDR), *q;
	struct load_frame *st = NULL;
	struct perm_entry *scratch = NULL;
	char *path = NULL;
	struct txn *t = NULL;
	uint32_t flags, cap, nq, err_no;
	int err = -EINVAL;

	*out = NULL;
	if (!h || h[0] != TXN_IMG_VERSION || h[1] != TXN_IMG_TYPE)
		return -EINVAL;
	flags = get16(h + 2);
	err_no = get32(h + 4);
	/* Only onto the main tree it was saved against, unchanged. */
	if (flags & ~(TXN_IMG_QUOTA | TXN_IMG_PRIV) || err_no > 4095 ||
	    get32(h + 8) > XS_DOMID_MAX || get64(h + 48) != s->env.gen)
		return -EINVAL;
	q = rd_take(&in, 8);
	if (!q)
		return -EINVAL;
	cap = get32(q);
	nq = get32(q + 4);
	if ((cap & (cap - 1)) || (uint64_t)get32(h + 60) * 2 > cap ||
	    (flags & TXN_IMG_QUOTA ? nq != QUOTA_COUNT : nq != 0))
		return -EINVAL;
	t = xcalloc(1, sizeof(*t));
	if (t)
		s->open_txns++; /* txn_free counts it down */
	st = xmalloc(DEPTH_MAX * sizeof(*st));
	scratch = xmalloc(XS_PAYLOAD_MAX / 2 * sizeof(*scratch));
	path = xmalloc(XS_ABS_PATH_MAX + 1);
	if (cap && t)
		t->touched = xcalloc(cap, sizeof(*t->touched));
	if (!t || !st || !scratch || !path || (cap && !t->touched)) {
		err = -ENOMEM;
		goto out;
	}
	t->touched_cap = cap;
	t->key = &s->env.key;
	t->env = &s->env;
	t->quota_hit = &s->quota_hit;
	t->caller.domid = get32(h + 8);
	t->caller.target = get32(h + 12);
	t->caller.is_privileged = flags & TXN_IMG_PRIV;
	t->caller.extra_mem = (unsigned long)get64(h + 16);
	if (flags & TXN_IMG_QUOTA) {
		for (unsigned int i = 0; i < QUOTA_COUNT; i++) {
			q = rd_take(&in, 8);
			if (!q)
				goto out;
			t->quota.v[i] = (unsigned long)get64(q);
		}
		t->has_quota = true;
		t->caller.quota = &t->quota;
	}
	t->own_delta = (long)get64(h + 24);
	t->own_bytes = (long)get64(h + 32);
	err = load_tree(s, &in, s->root, st, scratch, &t->base);
	if (!err)
		err = load_tree(s, &in, t->base, st, scratch, &t->root);
	if (!err)
		err = load_ops(&in, t, get32(h + 56), path, scratch);
	if (!err)
		err = load_touched(&in, t, get32(h + 60), path);
	if (!err && in.off != in.len)
		err = -EINVAL;
	t->error = -(int)err_no;
	t->mem = (size_t)get64(h + 40);
out:
	xfree(st);
	xfree(scratch);
	xfree(path);
	if (err && t) {
		txn_free(s, t);
		return err;
	}
	*out = t;
	return err;
}
