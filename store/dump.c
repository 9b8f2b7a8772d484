/*
 * dump.c - snapshots of the main tree (store_dump, store_load; the
 * format is in store.h) and the deep comparison of two stores.
 *
 * Every walk here is iterative on an explicit stack of at most
 * DEPTH_MAX entries: a path of XS_ABS_PATH_MAX bytes has at most half as
 * many components, and a snapshot deeper than that is refused, not
 * followed.  A snapshot is guest-influenced data on its way back in, so
 * load checks everything a tree built by the operations guarantees:
 * names, unique children, path length, generations, counts.
 */
#include <errno.h>
#include <string.h>

#include "common/rd.h"
#include "common/xalloc.h"
#include "store/le.h"
#include "store/path.h"
#include "store/store_int.h"

#define SNAP_VERSION 1u
#define SNAP_TYPE    2u
#define SNAP_HDR     32u
#define NODE_HDR     24u
#define PERM_BYTES   4u
#define CHUNK        65536u
#define DEPTH_MAX    (XS_ABS_PATH_MAX / 2 + 2)

/* ---- dump ---- */

struct out {
	unsigned char *buf;
	size_t len;
	store_write_fn *fn;
	void *arg;
};

static int out_flush(struct out *o)
{
	int err = o->len ? o->fn(o->arg, o->buf, o->len) : 0;

	o->len = 0;
	return err;
}

/* Room for `n` bytes (at most CHUNK) at o->buf + o->len. */
static int out_room(struct out *o, size_t n)
{
	return CHUNK - o->len < n ? out_flush(o) : 0;
}

static void out_perms(struct out *o, const struct nperms *p)
{
	unsigned char *q = o->buf + o->len;

	for (unsigned int i = 0; i < p->n; i++, q += PERM_BYTES) {
		put16(q, p->e[i].domid);
		q[2] = p->e[i].access;
		q[3] = 0;
	}
	o->len += (size_t)PERM_BYTES * p->n;
}

/* Copy `n` bytes in pieces, for an entry larger than a chunk. */
static int out_bytes(struct out *o, const void *data, size_t n)
{
	const unsigned char *d = data;

	while (n) {
		size_t k = CHUNK - o->len < n ? CHUNK - o->len : n;
		int err;

		memcpy(o->buf + o->len, d, k);
		o->len += k;
		d += k;
		n -= k;
		if (n) {
			err = out_flush(o);
			if (err)
				return err;
		}
	}
	return 0;
}

static void node_hdr(unsigned char *q, const struct node *n)
{
	put16(q, n->name_len);
	put16(q + 2, n->perms->n);
	put32(q + 4, n->value_len);
	put32(q + 8, node_nkids(n));
	put32(q + 12, 0);
	put64(q + 16, n->gen);
}

static int out_node(struct out *o, const struct node *n)
{
	size_t need = NODE_HDR + n->name_len + n->value_len +
	              (size_t)PERM_BYTES * n->perms->n;
	int err = out_room(o, need > CHUNK ? CHUNK : need);

	if (err)
		return err;
	if (need > CHUNK) {
		/* Only with thousands of permission entries. */
		unsigned char hdr[NODE_HDR];

		node_hdr(hdr, n);
		err = out_bytes(o, hdr, NODE_HDR);
		if (!err)
			err = out_bytes(o, node_name(n), n->name_len);
		if (!err)
			err = out_bytes(o, node_value(n), n->value_len);
		for (unsigned int i = 0; !err && i < n->perms->n; i++) {
			unsigned char e[PERM_BYTES] = {0};

			put16(e, n->perms->e[i].domid);
			e[2] = n->perms->e[i].access;
			err = out_bytes(o, e, PERM_BYTES);
		}
		return err;
	}
	node_hdr(o->buf + o->len, n);
	o->len += NODE_HDR;
	memcpy(o->buf + o->len, node_name(n), n->name_len);
	o->len += n->name_len;
	memcpy(o->buf + o->len, node_value(n), n->value_len);
	o->len += n->value_len;
	out_perms(o, n->perms);
	return 0;
}

/*
 * A frozen version: the main tree's root and the special nodes' perms,
 * referenced, so that the loop thread's later changes copy what they
 * touch (tree_unshare) and never write what the dump reads.  The dump's
 * buffers are allocated here, on the loop thread, because xalloc's
 * counters belong to it.
 */
struct store_frozen {
	struct node *root;
	struct nperms *special[2];
	uint64_t gen, nodes;
	unsigned char *buf;
	const struct node **stack;
	uint32_t *pos;
};

int store_freeze(struct store *s, struct store_frozen **out)
{
	struct store_frozen *f = xmalloc(sizeof(*f));
	struct store_stats st;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	f->buf = xmalloc(CHUNK);
	f->stack = xmalloc(DEPTH_MAX * sizeof(*f->stack));
	f->pos = xmalloc(DEPTH_MAX * sizeof(*f->pos));
	if (!f->buf || !f->stack || !f->pos) {
		xfree(f->buf);
		xfree(f->stack);
		xfree(f->pos);
		xfree(f);
		return -ENOMEM;
	}
	store_stats(s, &st);
	f->root = s->root;
	node_ref(f->root);
	for (int i = 0; i < 2; i++) {
		f->special[i] = s->special_perms[i];
		nperms_ref(f->special[i]);
	}
	f->gen = s->env.gen;
	f->nodes = st.main_nodes;
	*out = f;
	return 0;
}

void store_thaw(struct store *s, struct store_frozen *f)
{
	if (!f)
		return;
	node_unref(&s->env, f->root);
	for (int i = 0; i < 2; i++)
		nperms_unref(f->special[i]);
	xfree(f->buf);
	xfree(f->stack);
	xfree(f->pos);
	xfree(f);
}

int store_frozen_dump(struct store_frozen *f, store_write_fn *fn, void *arg)
{
	struct out o = {f->buf, 0, fn, arg};
	const struct node **stack = f->stack;
	uint32_t *pos = f->pos;
	unsigned int sp = 0;
	int err = 0;

	memset(o.buf, 0, SNAP_HDR);
	o.buf[0] = SNAP_VERSION;
	o.buf[1] = SNAP_TYPE;
	put64(o.buf + 8, f->gen);
	put64(o.buf + 16, f->nodes);
	o.len = SNAP_HDR;
	for (int i = 0; i < 2; i++) {
		const struct nperms *p = f->special[i];
		unsigned char h[4] = {0};

		put16(h, p->n);
		err = out_bytes(&o, h, 4);
		for (unsigned int j = 0; !err && j < p->n; j++) {
			unsigned char e[PERM_BYTES] = {0};

			put16(e, p->e[j].domid);
			e[2] = p->e[j].access;
			err = out_bytes(&o, e, PERM_BYTES);
		}
		if (err)
			return err;
	}
	/* Parents before children: a node is written when pushed. */
	err = out_node(&o, f->root);
	stack[0] = f->root;
	pos[0] = 0;
	while (!err) {
		const struct node *n = stack[sp];

		if (pos[sp] == node_nkids(n)) {
			if (sp == 0)
				break;
			sp--;
			continue;
		}
		n = node_kid(n, pos[sp]++);
		err = out_node(&o, n);
		if (!err && node_nkids(n)) {
			/* Depth is bounded by the path rules. */
			if (sp + 1 >= DEPTH_MAX)
				return -EINVAL;
			stack[++sp] = n;
			pos[sp] = 0;
		}
	}
	return err ? err : out_flush(&o);
}

int store_dump(struct store *s, store_write_fn *fn, void *arg)
{
	struct store_frozen *f;
	int err = store_freeze(s, &f);

	if (err)
		return err;
	err = store_frozen_dump(f, fn, arg);
	store_thaw(s, f);
	return err;
}

/* ---- load ---- */

/* `n` >= 1 entries; NULL with in->off unchanged if malformed, moved on
 * ENOMEM. */
static struct nperms *in_perms(struct rd *in, unsigned int n)
{
	struct perm_entry few[16], *e = few;
	const unsigned char *q;
	struct nperms *p = NULL;
	size_t at = in->off;

	q = rd_take(in, (size_t)PERM_BYTES * n);
	if (!q || n == 0)
		return NULL;
	if (n > 16) {
		e = xmalloc(n * sizeof(*e));
		if (!e)
			return NULL;
	}
	for (unsigned int i = 0; i < n; i++) {
		e[i].domid = get16(q + PERM_BYTES * i);
		e[i].access = q[PERM_BYTES * i + 2];
		if (e[i].access > PERM_BOTH || q[PERM_BYTES * i + 3]) {
			in->off = at;
			goto out;
		}
	}
	p = nperms_new(e, n);
out:
	if (e != few)
		xfree(e);
	return p;
}

/*
 * One node's entry: the node (detached, one reference) and its number
 * of children.  `prev` is the permissions of the previous node, shared
 * when equal (as the operations share them).  -EINVAL or -ENOMEM.
 */
/* Are the `n` encoded entries at `q` those of `p`? */
static bool is_same_perms(const struct nperms *p, const unsigned char *q,
                          unsigned int n)
{
	if (!p || p->n != n)
		return false;
	for (unsigned int i = 0; i < n; i++, q += PERM_BYTES)
		if (p->e[i].domid != get16(q) || p->e[i].access != q[2] || q[3])
			return false;
	return true;
}

static int in_node(struct store *s, struct rd *in, uint64_t max_gen,
                   struct nperms **prev, struct node **out, uint32_t *nkids)
{
	const unsigned char *h = rd_take(in, NODE_HDR), *name, *value;
	struct nperms *p;
	size_t at;
	uint16_t name_len, np;
	uint32_t value_len;

	if (!h)
		return -EINVAL;
	name_len = get16(h);
	np = get16(h + 2);
	value_len = get32(h + 4);
	*nkids = get32(h + 8);
	if (get32(h + 12) || np == 0 || value_len > XS_PAYLOAD_MAX ||
	    name_len > XS_ABS_PATH_MAX || get64(h + 16) > max_gen)
		return -EINVAL;
	name = rd_take(in, name_len);
	value = rd_take(in, value_len);
	if (!name || !value || !path_name_valid(name, name_len))
		return -EINVAL;
	at = in->off;
	/* Neighbours mostly share their perms: no allocation then. */
	if (in->len - at >= (size_t)PERM_BYTES * np &&
	    is_same_perms(*prev, in->p + at, np)) {
		in->off += (size_t)PERM_BYTES * np;
		p = *prev;
		nperms_ref(p);
	} else {
		p = in_perms(in, np);
		if (!p)
			return in->off == at ? -EINVAL : -ENOMEM;
	}
	*out = node_new(&s->env, (const char *)name, name_len, value, value_len,
	                p);
	if (*prev)
		nperms_unref(*prev);
	*prev = p;
	if (!*out)
		return -ENOMEM;
	(*out)->gen = get64(h + 16);
	return 0;
}

static int load_tree(struct store *s, struct rd *in, uint64_t max_gen,
                     uint64_t nodes, struct node **rootp)
{
	struct node **stack = xmalloc(DEPTH_MAX * sizeof(*stack));
	uint32_t *left = xmalloc(DEPTH_MAX * sizeof(*left));
	size_t *plen = xmalloc(DEPTH_MAX * sizeof(*plen));
	struct nperms *prev = NULL;
	struct node *n = NULL;
	uint64_t seen = 1;
	unsigned int sp = 0;
	uint32_t nk;
	int err = 0;

	*rootp = NULL;
	if (!stack || !left || !plen) {
		err = -ENOMEM;
		goto out;
	}
	err = in_node(s, in, max_gen, &prev, &n, &nk);
	if (err)
		goto out;
	*rootp = n;
	if (n->name_len) {
		err = -EINVAL;
		goto out;
	}
	err = acct_reserve(s, node_owner(n));
	if (err)
		goto out;
	acct_apply(s, node_owner(n), 1, (long)node_mem(n));
	stack[0] = n;
	left[0] = nk;
	plen[0] = 1; /* "/" */
	while (1) {
		struct node *parent = stack[sp];
		size_t len;

		if (left[sp] == 0) {
			if (sp == 0)
				break;
			sp--;
			continue;
		}
		left[sp]--;
		if (++seen > nodes) {
			err = -EINVAL;
			break;
		}
		err = in_node(s, in, max_gen, &prev, &n, &nk);
		if (err)
			break;
		len = (sp ? plen[sp] + 1 : 1) + n->name_len;
		if (!n->name_len || len > XS_ABS_PATH_MAX ||
		    node_find_kid(&s->env, parent, node_name(n), n->name_len) >=
		        0 ||
		    (nk && sp + 1 >= DEPTH_MAX)) {
			node_unref(&s->env, n);
			err = -EINVAL;
			break;
		}
		err = node_reserve_kid(&s->env, parent);
		if (!err)
			err = acct_reserve(s, node_owner(n));
		if (err) {
			node_unref(&s->env, n);
			break;
		}
		node_add_kid(&s->env, parent, n);
		acct_apply(s, node_owner(n), 1, (long)node_mem(n));
		if (nk) {
			stack[++sp] = n;
			left[sp] = nk;
			plen[sp] = len;
		}
	}
	if (!err && seen != nodes)
		err = -EINVAL;
out:
	nperms_unref(prev);
	xfree(stack);
	xfree(left);
	xfree(plen);
	return err;
}

int store_load(const void *buf, size_t len, struct store **out)
{
	struct rd in = {buf, len, 0, false};
	const unsigned char *h = rd_take(&in, SNAP_HDR);
	struct nperms *special[2] = {NULL, NULL};
	struct node *root = NULL;
	struct store *s;
	uint64_t gen, nodes;
	int err = 0;

	*out = NULL;
	if (!h || h[0] != SNAP_VERSION || h[1] != SNAP_TYPE || get16(h + 2) ||
	    get32(h + 4) || get64(h + 24))
		return -EINVAL;
	gen = get64(h + 8);
	nodes = get64(h + 16);
	if (nodes == 0)
		return -EINVAL;
	s = store_new();
	if (!s)
		return -ENOMEM;
	for (int i = 0; i < 2 && !err; i++) {
		const unsigned char *q = rd_take(&in, 4);
		size_t at = in.off;

		if (!q || get16(q) == 0 || get16(q + 2)) {
			err = -EINVAL;
			break;
		}
		special[i] = in_perms(&in, get16(q));
		if (!special[i])
			err = in.off == at ? -EINVAL : -ENOMEM;
	}
	/* The store's own initial nodes are not charged any more. */
	for (unsigned int i = 0; i < ACCT_PAGES; i++)
		if (s->acct_pages[i])
			memset(s->acct_pages[i], 0, sizeof(*s->acct_pages[i]));
	if (!err)
		err = load_tree(s, &in, gen, nodes, &root);
	if (!err && in.off != in.len)
		err = -EINVAL;
	if (err) {
		node_unref(&s->env, root);
		nperms_unref(special[0]);
		nperms_unref(special[1]);
		store_free(s);
		return err;
	}
	node_unref(&s->env, s->root);
	s->root = root;
	for (int i = 0; i < 2; i++) {
		nperms_unref(s->special_perms[i]);
		s->special_perms[i] = special[i];
	}
	s->env.gen = gen;
	*out = s;
	return 0;
}

/* ---- comparison ---- */

static bool node_same(const struct node *a, const struct node *b)
{
	return a->name_len == b->name_len && a->value_len == b->value_len &&
	       node_nkids(a) == node_nkids(b) && a->gen == b->gen &&
	       !memcmp(node_name(a), node_name(b), a->name_len) &&
	       !memcmp(node_value(a), node_value(b), a->value_len) &&
	       nperms_equal(a->perms, b->perms);
}

bool store_equal(const struct store *a, const struct store *b)
{
	const struct node *sa[DEPTH_MAX], *sb[DEPTH_MAX];
	uint32_t pos[DEPTH_MAX];
	unsigned int sp = 0;

	for (int i = 0; i < 2; i++)
		if (!nperms_equal(a->special_perms[i], b->special_perms[i]))
			return false;
	if (!node_same(a->root, b->root))
		return false;
	sa[0] = a->root;
	sb[0] = b->root;
	pos[0] = 0;
	while (1) {
		const struct node *x = sa[sp], *y = sb[sp];

		if (pos[sp] == node_nkids(x)) {
			if (sp == 0)
				return true;
			sp--;
			continue;
		}
		x = node_kid(x, pos[sp]);
		y = node_kid(y, pos[sp]++);
		if (!node_same(x, y))
			return false;
		if (node_nkids(x)) {
			if (sp + 1 >= DEPTH_MAX)
				return false;
			sp++;
			sa[sp] = x;
			sb[sp] = y;
			pos[sp] = 0;
		}
	}
}
