/*
 * store.c - XenStore operations over the persistent tree: rights,
 * quotas, reads, and the public entry points.
 *
 * Every mutation follows the same three steps, so that a failure leaves
 * nothing half-done: (1) walk and check (rights, quotas) - no change;
 * (2) unshare the path and allocate every new node - changes nothing a
 * reader can see; (3) link - cannot fail.  Step (1) is here, the
 * store_op_* functions; steps (2) and (3) are the apply_* mutations
 * (mutate.c), which a change set on the main tree reaches through
 * apply.c (which records it) and a transaction's own tree directly.  On
 * the main tree an operation emits its events at once; inside a
 * transaction it records what it saw and did (txn.c) and emits nothing;
 * a commit replays the recorded operations here as a staged change set
 * (is_replay), which buffers events and owner accounting until the
 * whole commit has succeeded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/path.h"
#include "store/store_int.h"

static const char *const special_names[2] = {"@introduceDomain",
                                             "@releaseDomain"};

/* ---- rights ---- */

static unsigned int access_of(const struct store_caller *c,
                              const struct nperms *p)
{
	return perm_access(p->e, p->n, c->domid, c->target, c->is_privileged);
}

bool store_can_read(const struct store_caller *c, const struct nperms *p)
{
	return p && (access_of(c, p) & PERM_READ);
}

/*
 * The error for a node that is missing: Xen tells ENOENT only to a caller
 * with the wanted right on the nearest existing ancestor, else EACCES, so
 * that existence does not leak.
 */
static int missing_error(const struct store_caller *c,
                         const struct node *nearest, unsigned int want)
{
	return (access_of(c, nearest->perms) & want) ? -ENOENT : -EACCES;
}

static int quota_hit(struct store *s, enum quota_id id, int err)
{
	s->quota_hit = id;
	return err;
}

int store_quota_hit(const struct store *s)
{
	return s->quota_hit;
}

void store_clear_quota_hit(struct store *s)
{
	s->quota_hit = -1;
}

static bool is_limited(const struct store_caller *c)
{
	return c && !c->is_privileged && c->quota;
}

/* ---- accounting ---- */

int acct_reserve(struct store *s, unsigned int domid)
{
	struct acct_page **pg = &s->acct_pages[domid / ACCT_PAGE];

	if (!*pg)
		*pg = xcalloc(1, sizeof(**pg));
	return *pg ? 0 : -ENOMEM;
}

/* After acct_reserve: cannot fail, so it may follow the point of no
 * return. */
void acct_apply(struct store *s, unsigned int domid, long nodes, long bytes)
{
	struct acct_page *pg = s->acct_pages[domid / ACCT_PAGE];
	unsigned int i = domid % ACCT_PAGE;

	pg->nodes[i] = (uint32_t)((long)pg->nodes[i] + nodes);
	pg->bytes[i] = (uint64_t)((long long)pg->bytes[i] + bytes);
}

static uint32_t acct_nodes(const struct store *s, unsigned int domid)
{
	const struct acct_page *pg = s->acct_pages[domid / ACCT_PAGE];

	return pg ? pg->nodes[domid % ACCT_PAGE] : 0;
}

static uint64_t acct_bytes(const struct store *s, unsigned int domid)
{
	const struct acct_page *pg = s->acct_pages[domid / ACCT_PAGE];

	return pg ? pg->bytes[domid % ACCT_PAGE] : 0;
}

/* Nodes `c` owns as the operation sees them (main plus its transaction). */
static long owned_by(const struct store *s, const struct view *v,
                     unsigned int domid)
{
	long n = (long)acct_nodes(s, domid);

	if (v->txn && domid == v->txn->caller.domid)
		n += v->txn->own_delta;
	for (unsigned int i = 0; v->is_replay && i < s->nr_acct; i++)
		if (s->acct[i].domid == domid)
			n += s->acct[i].delta;
	return n;
}

/* Bytes of nodes `domid` owns, as the operation sees them. */
static long long bytes_of(const struct store *s, const struct view *v,
                          unsigned int domid)
{
	long long n = (long long)acct_bytes(s, domid);

	if (v->txn && domid == v->txn->caller.domid)
		n += v->txn->own_bytes;
	for (unsigned int i = 0; v->is_replay && i < s->nr_acct; i++)
		if (s->acct[i].domid == domid)
			n += s->acct[i].bytes;
	return n;
}

/*
 * Would `c` go over its memory quota by gaining `more` bytes of nodes?
 * Its other holdings (watches, queued output) come in c->extra_mem.
 */
static bool is_over_memory(const struct store *s, const struct view *v,
                           const struct store_caller *c, long long more)
{
	long long total;

	if (!c->quota->v[QUOTA_MEMORY] || more <= 0)
		return false;
	total = bytes_of(s, v, c->domid) + (long long)c->extra_mem + more;
	return total > (long long)c->quota->v[QUOTA_MEMORY];
}

unsigned long long store_domain_bytes(const struct store *s, unsigned int domid)
{
	return domid < NR_DOMIDS ? acct_bytes(s, domid) : 0;
}

unsigned long store_domain_nodes(const struct store *s, unsigned int domid)
{
	return domid < NR_DOMIDS ? acct_nodes(s, domid) : 0;
}

/* ---- creation ---- */

/*
 * Permissions of a node `c` creates under a parent with `parent`: the
 * same, except that an unprivileged creator owns what it creates (Xen).
 * Returns a new reference, or NULL on ENOMEM.
 */
static struct nperms *inherit_perms(struct nperms *parent,
                                    const struct store_caller *c)
{
	struct nperms *p;

	if (c->is_privileged || parent->e[0].domid == c->domid) {
		nperms_ref(parent);
		return parent;
	}
	p = nperms_new(parent->e, parent->n);
	if (p)
		p->e[0].domid = (uint16_t)c->domid;
	return p;
}

/* Record in the transaction every path the write depends on: the
 * deepest existing node (its rights, the permissions the new nodes
 * inherit) and the absence of each one it creates. */
static int write_touch(struct view *v, const struct walk *w, const char *path)
{
	const unsigned int seen = TXN_SEEN_NODE | TXN_SEEN_PERMS;

	return v->txn
	           ? txn_observe(v->txn, path, w->found, w->depth, seen, seen)
	           : 0;
}

/*
 * A checked change: on the main tree (or a commit's staged root) it goes
 * through apply_change, which records it; a transaction's own tree is
 * changed directly (its changes reach the main tree at commit).
 */
static int do_change(struct store *s, struct view *v, const struct change *ch)
{
	/* Without a record to encode, apply_change would only dispatch. */
	if (s->is_recording && !v->txn)
		return apply_change(s, v, ch, true);
	switch (ch->kind) {
	case CHANGE_WRITE:
		return apply_write(s, v, ch, true);
	case CHANGE_PERMS:
		return apply_perms(s, v, ch, true);
	case CHANGE_DEL:
		return apply_del(s, v, ch, true);
	case CHANGE_SPECIAL:
		return v->txn ? -EINVAL : apply_change(s, v, ch, true);
	}
	return -EINVAL;
}

/* Xen's size of a node with `nperms` entries, a value and child names. */
static size_t record_size(unsigned int nperms, size_t value_len,
                          size_t child_names)
{
	return 24u + 8u * nperms + value_len + child_names;
}

int store_op_write(struct store *s, struct view *v,
                   const struct store_caller *c, const char *path,
                   const void *value, size_t len, bool is_mkdir)
{
	struct tree_env *env = &s->env;
	struct walk *w = &s->walk;
	struct node *near;
	unsigned int missing;
	int err;

	err = tree_walk(env, *v->rootp, path, w);
	if (err)
		return err;
	near = w->nodes[w->found];
	missing = w->depth - w->found;

	if (!v->skip_checks && !(access_of(c, near->perms) & PERM_WRITE))
		return missing ? missing_error(c, near, PERM_WRITE) : -EACCES;
	err = write_touch(v, w, path);
	if (err || (is_mkdir && !missing))
		return err;

	if (is_limited(c)) {
		const struct quota_set *q = c->quota;
		/* The target's new size; a new child also grows the parent. */
		size_t target = missing
		                    ? record_size(near->perms->n, len, 0)
		                    : node_size(near) - near->value_len + len;
		size_t parent =
		    missing ? node_size(near) + w->comp_len[w->found + 1] + 1u
		            : 0;
		unsigned long nodes =
		    (unsigned long)(owned_by(s, v, c->domid) + missing);

		long long more = 0;

		if (missing && quota_is_over(q, QUOTA_NODES, nodes))
			return quota_hit(s, QUOTA_NODES, -ENOSPC);
		if (quota_is_over(q, QUOTA_NODE_SIZE, target) ||
		    quota_is_over(q, QUOTA_NODE_SIZE, parent))
			return quota_hit(s, QUOTA_NODE_SIZE, -ENOSPC);
		/* New nodes are the creator's; a changed value its owner's. */
		if (missing) {
			for (unsigned int i = w->found + 1; i <= w->depth; i++)
				more += (long long)node_mem_of(
				    w->comp_len[i], i == w->depth ? len : 0,
				    near->perms->n);
		} else if (node_owner(near) == c->domid) {
			more = (long long)len - (long long)near->value_len;
		}
		if (is_over_memory(s, v, c, more))
			return quota_hit(s, QUOTA_MEMORY, -ENOMEM);
	}

	{
		struct node *target = w->nodes[w->depth];
		struct change ch = {CHANGE_WRITE, false, path,
		                    value,        len,   NULL};

		if (!missing) {
			ch.perms = target->perms;
			return do_change(s, v, &ch);
		}
		ch.perms = inherit_perms(near->perms, c);
		if (!ch.perms)
			return -ENOMEM;
		err = do_change(s, v, &ch);
		nperms_unref(ch.perms);
		return err;
	}
}

/* ---- removal ---- */

int store_op_rm(struct store *s, struct view *v, const struct store_caller *c,
                const char *path)
{
	struct tree_env *env = &s->env;
	struct walk *w = &s->walk;
	struct node *near;
	int err;

	err = tree_walk(env, *v->rootp, path, w);
	if (err)
		return err;
	near = w->nodes[w->found];
	if (v->txn) {
		/* The node (its rights), and the parent it leaves (the
		 * rights, when the node is missing): not its subtree,
		 * which goes whatever it holds by then. */
		err = txn_observe(v->txn, path, w->depth, w->depth,
		                  TXN_SEEN_NODE | TXN_SEEN_PERMS, 0);
		if (!err && w->depth > 0)
			err = txn_observe(
			    v->txn, path, w->depth - 1, w->depth - 1,
			    TXN_SEEN_NODE |
			        (w->found < w->depth ? TXN_SEEN_PERMS : 0),
			    0);
		if (err)
			return err;
	}
	if (w->found < w->depth) {
		if (!v->skip_checks &&
		    !(access_of(c, near->perms) & PERM_WRITE))
			return missing_error(c, near, PERM_WRITE);
		/* Fine if the parent exists. */
		return w->found == w->depth - 1 ? 0 : -ENOENT;
	}
	if (w->depth == 0)
		return -EINVAL; /* the root stays */
	if (!v->skip_checks && !(access_of(c, near->perms) & PERM_WRITE))
		return -EACCES;

	{
		struct change ch = {CHANGE_DEL, false, path, NULL, 0, NULL};

		err = do_change(s, v, &ch);
		if (!err && v->txn)
			txn_removed(v->txn, path);
		return err;
	}
}

/* ---- permissions ---- */

int store_special_index(const char *path)
{
	for (int i = 0; i < 2; i++)
		if (!strcmp(path, special_names[i]))
			return i;
	return -1;
}

const struct nperms *store_special_perms(const struct store *s,
                                         const char *name)
{
	int i = store_special_index(name);

	return i < 0 ? NULL : s->special_perms[i];
}

int store_op_set_perms(struct store *s, struct view *v,
                       const struct store_caller *c, const char *path,
                       const struct perm_entry *e, unsigned int n)
{
	struct tree_env *env = &s->env;
	struct walk *w = &s->walk;
	struct node *node;
	int err;

	if (n == 0)
		return -EINVAL;
	if (is_limited(c) && quota_is_over(c->quota, QUOTA_PERMS, n))
		return quota_hit(s, QUOTA_PERMS, -ENOSPC);
	if (path_is_special(path)) {
		int i = store_special_index(path);

		if (i < 0)
			return -EINVAL;
		if (!v->skip_checks && (access_of(c, s->special_perms[i]) &
		                        PERM_BOTH) != PERM_BOTH)
			return -EACCES;
	} else {
		err = tree_walk(env, *v->rootp, path, w);
		if (err)
			return err;
		node = w->nodes[w->found];
		if (v->txn) {
			err = txn_observe(v->txn, path, w->depth, w->depth,
			                  TXN_SEEN_NODE | TXN_SEEN_PERMS, 0);
			if (err)
				return err;
		}
		if (w->found < w->depth)
			return v->skip_checks
			           ? -ENOENT
			           : missing_error(c, node, PERM_WRITE);
		if (!v->skip_checks) {
			unsigned int acc = access_of(c, node->perms);

			if ((acc & (PERM_WRITE | PERM_OWNER)) !=
			    (PERM_WRITE | PERM_OWNER))
				return -EACCES;
			if (!c->is_privileged && e[0].domid != node_owner(node))
				return -EPERM;
		}
	}
	{
		struct change ch = {path_is_special(path) ? CHANGE_SPECIAL
		                                          : CHANGE_PERMS,
		                    false,
		                    path,
		                    NULL,
		                    0,
		                    nperms_new(e, n)};

		if (!ch.perms)
			return -ENOMEM;
		err = do_change(s, v, &ch);
		nperms_unref(ch.perms);
		return err;
	}
}

/* ---- public operations ---- */

static struct view main_view(struct store *s, struct txn *t)
{
	struct view v = {&s->root, NULL, false, false, false, false};

	if (t) {
		v.rootp = &t->root;
		v.txn = t;
	}
	return v;
}

/* Look up `path` for reading `seen` (TXN_SEEN_*): the node, or the
 * right error. */
static int read_lookup(struct store *s, struct txn *t,
                       const struct store_caller *c, const char *path,
                       unsigned int seen, struct node **out)
{
	struct node *root = t ? t->root : s->root;
	struct node *near;
	struct node *n = tree_lookup(&s->env, root, path, &near);

	if (t) {
		unsigned int depth = path_depth(path);
		int err =
		    txn_observe(t, path, depth, depth, TXN_SEEN_NODE | seen, 0);

		if (err)
			return err;
	}
	if (!n)
		return missing_error(c, near, PERM_READ);
	if (!(access_of(c, n->perms) & PERM_READ))
		return -EACCES;
	*out = n;
	return 0;
}

int store_read(struct store *s, struct txn *t, const struct store_caller *c,
               const char *path, const char **value, size_t *len)
{
	struct node *n;
	int err =
	    read_lookup(s, t, c, path, TXN_SEEN_VALUE | TXN_SEEN_PERMS, &n);

	if (err)
		return err;
	*value = node_value(n);
	*len = n->value_len;
	return 0;
}

int store_directory_part(struct store *s, struct txn *t,
                         const struct store_caller *c, const char *path,
                         size_t offset, char *buf, size_t bufsz, size_t *len,
                         uint64_t *gen, bool *is_complete)
{
	struct node *n;
	size_t used = 0, at = 0;
	uint32_t i = 0;
	int err =
	    read_lookup(s, t, c, path, TXN_SEEN_KIDS | TXN_SEEN_PERMS, &n);

	if (err)
		return err;
	if (gen)
		*gen = n->gen;
	/*
	 * The list is the bytes "name\0name\0..." and `offset` a byte
	 * offset into it, which may fall inside a name (then the first
	 * piece is that name's tail), as in Xen.
	 */
	for (; i < node_nkids(n); i++) {
		size_t sz = node_kid(n, i)->name_len + 1u;

		if (at + sz > offset)
			break;
		at += sz;
	}
	for (; i < node_nkids(n); i++) {
		const struct node *k = node_kid(n, i);
		size_t skip = offset > at ? offset - at : 0;
		size_t sz = k->name_len + 1u - skip;

		if (used + sz > bufsz)
			break;
		memcpy(buf + used, node_name(k) + skip, sz);
		used += sz;
		at += k->name_len + 1u;
	}
	*len = used;
	if (is_complete)
		*is_complete = i == node_nkids(n);
	return 0;
}

int store_directory(struct store *s, struct txn *t,
                    const struct store_caller *c, const char *path, char *buf,
                    size_t bufsz, size_t *len, uint64_t *gen)
{
	bool is_complete;
	int err = store_directory_part(s, t, c, path, 0, buf, bufsz, len, gen,
	                               &is_complete);

	if (!err && !is_complete)
		return -E2BIG;
	return err;
}

int store_get_perms(struct store *s, struct txn *t,
                    const struct store_caller *c, const char *path, char *buf,
                    size_t bufsz, size_t *len)
{
	const struct nperms *p;
	struct node *n;
	size_t need;

	if (path_is_special(path)) {
		int i = store_special_index(path);

		if (i < 0)
			return -EINVAL;
		p = s->special_perms[i];
		if (!(access_of(c, p) & PERM_READ))
			return -EACCES;
	} else {
		int err = read_lookup(s, t, c, path, TXN_SEEN_PERMS, &n);

		if (err)
			return err;
		p = n->perms;
	}
	need = perm_format(p->e, p->n, buf, bufsz);
	if (need > bufsz)
		return -E2BIG;
	*len = need;
	return 0;
}

/*
 * A direct operation on the main tree is a change set of its own (one
 * change, applied in place); inside a transaction it changes the
 * transaction's tree and is logged for the commit.
 */
enum op_kind { OP_WRITE, OP_MKDIR, OP_RM, OP_SET_PERMS };

static int run_op(struct store *s, struct view *v, enum op_kind kind,
                  const struct store_caller *c, const char *path,
                  const void *data, size_t len)
{
	switch (kind) {
	case OP_WRITE:
		return store_op_write(s, v, c, path, data, len, false);
	case OP_MKDIR:
		return store_op_write(s, v, c, path, NULL, 0, true);
	case OP_RM:
		return store_op_rm(s, v, c, path);
	case OP_SET_PERMS:
		return store_op_set_perms(s, v, c, path, data,
		                          (unsigned int)len);
	}
	return -EINVAL;
}

static int direct_op(struct store *s, enum op_kind kind,
                     const struct store_caller *c, const char *path,
                     const void *data, size_t len)
{
	struct view v = main_view(s, NULL);
	int err = apply_begin(s, &v, 0);

	if (err)
		return err;
	return apply_end(s, &v, run_op(s, &v, kind, c, path, data, len));
}

int store_write(struct store *s, struct txn *t, const struct store_caller *c,
                const char *path, const void *value, size_t len)
{
	struct view v = main_view(s, t);
	int err;

	if (!t)
		return direct_op(s, OP_WRITE, c, path, value, len);
	err = store_op_write(s, &v, c, path, value, len, false);
	if (!err)
		txn_record(t, TXN_WRITE, path, value, len);
	return err;
}

int store_mkdir(struct store *s, struct txn *t, const struct store_caller *c,
                const char *path)
{
	struct view v = main_view(s, t);
	int err;

	if (!t)
		return direct_op(s, OP_MKDIR, c, path, NULL, 0);
	err = store_op_write(s, &v, c, path, NULL, 0, true);
	if (!err)
		txn_record(t, TXN_MKDIR, path, NULL, 0);
	return err;
}

int store_rm(struct store *s, struct txn *t, const struct store_caller *c,
             const char *path)
{
	struct view v = main_view(s, t);
	int err;

	if (!t)
		return direct_op(s, OP_RM, c, path, NULL, 0);
	err = store_op_rm(s, &v, c, path);
	if (!err)
		txn_record(t, TXN_RM, path, NULL, 0);
	return err;
}

int store_set_perms(struct store *s, struct txn *t,
                    const struct store_caller *c, const char *path,
                    const struct perm_entry *e, unsigned int n)
{
	struct view v = main_view(s, t);
	int err;

	/* Special paths live outside the tree and outside transactions. */
	if (!t || path_is_special(path))
		return direct_op(s, OP_SET_PERMS, c, path, e, n);
	err = store_op_set_perms(s, &v, c, path, e, n);
	if (!err)
		txn_record(t, TXN_SET_PERMS, path, e, n * sizeof(*e));
	return err;
}

/* ---- life cycle ---- */

static int add_initial(struct store *s, const char *path)
{
	static const struct store_caller dom0 = {0, PERM_NO_TARGET, true, NULL,
	                                         0};
	return direct_op(s, OP_MKDIR, &dom0, path, NULL, 0);
}

struct store *store_new(void)
{
	static const struct perm_entry n0 = {0, PERM_NONE};
	struct store *s = xcalloc(1, sizeof(*s));
	struct nperms *root_perms = NULL;

	if (!s)
		return NULL;
	siphash_key_random(&s->env.key);
	s->quota_hit = -1;
	walk_init(&s->walk);
	s->rm_stack = xcalloc(RM_STACK_CAP, sizeof(*s->rm_stack));
	s->rm_pos = xcalloc(RM_STACK_CAP, sizeof(*s->rm_pos));
	s->rm_path = xmalloc(XS_ABS_PATH_MAX + 1);
	root_perms = nperms_new(&n0, 1);
	s->special_perms[0] = nperms_new(&n0, 1);
	s->special_perms[1] = nperms_new(&n0, 1);
	if (acct_reserve(s, 0) || !s->rm_stack || !s->rm_pos || !s->rm_path ||
	    !root_perms || !s->special_perms[0] || !s->special_perms[1])
		goto fail;
	s->root = node_new(&s->env, "", 0, NULL, 0, root_perms);
	if (!s->root)
		goto fail;
	s->root->gen = next_gen(s);
	acct_apply(s, 0, 1, (long)node_mem(s->root));
	nperms_unref(root_perms);
	root_perms = NULL;
	/* Xen 4.17's C xenstored starts with exactly these. */
	if (add_initial(s, "/tool") || add_initial(s, "/tool/xenstored"))
		goto fail;
	return s;
fail:
	nperms_unref(root_perms);
	store_free(s);
	return NULL;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	store_flush_events(s, false, NULL);
	node_unref(&s->env, s->root);
	nperms_unref(s->special_perms[0]);
	nperms_unref(s->special_perms[1]);
	nperms_unref(s->replay_perms);
	/* Last: the census counts down as the nodes above go. */
	tree_env_fini(&s->env);
	walk_fini(&s->walk);
	for (unsigned int i = 0; i < ACCT_PAGES; i++)
		xfree(s->acct_pages[i]);
	xfree(s->rm_stack);
	xfree(s->rm_pos);
	xfree(s->rm_path);
	xfree(s->acct);
	xfree(s->ev_vec);
	xfree(s->rec);
	xfree(s);
}

void store_set_event_cb(struct store *s, store_event_cb *cb, void *opaque)
{
	s->event_cb = cb;
	s->event_opaque = opaque;
}

uint64_t store_node_bytes(const struct store *s)
{
	return s->env.nr_bytes;
}

void store_stats(const struct store *s, struct store_stats *st)
{
	uint64_t main_nodes = 0;

	for (unsigned int i = 0; i < ACCT_PAGES; i++)
		for (unsigned int j = 0; s->acct_pages[i] && j < ACCT_PAGE; j++)
			main_nodes += s->acct_pages[i]->nodes[j];
	st->nodes = s->env.nr_nodes;
	st->node_bytes = s->env.nr_bytes;
	st->main_nodes = main_nodes;
	st->generation = s->env.gen;
	st->open_txns = s->open_txns;
}
