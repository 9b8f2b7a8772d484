/*
 * mutate.c - the mutations of a tree (steps 2 and 3 of store.c: unshare
 * and allocate, then link) and the effects they have: owner accounting
 * and change events, at once or buffered for a staged change set.  On
 * the main tree they run only inside a change set (apply.c); on a
 * transaction's own tree directly.  Every function is atomic: an error
 * leaves nothing a reader can see changed.  No checks of rights or
 * quotas here: callers (store.c, or a record's validation) did them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store_int.h"

/* ---- accounting ---- */

/*
 * Charge `nodes` nodes and `bytes` bytes to owner `domid`: at once on the
 * main tree, to the transaction's own tally inside one, or buffered until
 * a commit's replay has wholly succeeded.
 */
static void acct_add(struct store *s, const struct view *v, unsigned int domid,
                     long nodes, long bytes)
{
	if (v->txn) {
		if (domid == v->txn->caller.domid) {
			v->txn->own_delta += nodes;
			v->txn->own_bytes += bytes;
		}
		return;
	}
	if (!v->is_replay) {
		acct_apply(s, domid, nodes, bytes);
		return;
	}
	for (unsigned int i = 0; i < s->nr_acct; i++) {
		if (s->acct[i].domid == domid) {
			s->acct[i].delta += nodes;
			s->acct[i].bytes += bytes;
			return;
		}
	}
	if (s->nr_acct == s->acct_cap) {
		unsigned int cap = s->acct_cap ? 2 * s->acct_cap : 8;
		struct acct_delta *a = xrealloc_array(s->acct, cap, sizeof(*a));

		if (!a) {
			s->replay_error = -ENOMEM;
			return;
		}
		s->acct = a;
		s->acct_cap = cap;
	}
	s->acct[s->nr_acct].domid = (uint16_t)domid;
	s->acct[s->nr_acct].delta = nodes;
	s->acct[s->nr_acct].bytes = bytes;
	s->nr_acct++;
}

/* ---- events ---- */

static void emit(struct store *s, const struct view *v, const char *path,
                 bool is_exact, bool is_removal, struct nperms *perms,
                 struct nperms *old_perms)
{
	struct store_event ev = {path, is_exact, is_removal, perms, old_perms};
	struct evbuf *e;
	size_t len;

	if (v->txn || v->is_quiet)
		return; /* fired at commit, by the replay; or never */
	if (!v->is_replay) {
		if (s->event_cb)
			s->event_cb(s->event_opaque, &ev);
		return;
	}
	if (s->nr_ev == s->ev_cap) {
		unsigned int cap = s->ev_cap ? 2 * s->ev_cap : 16;
		struct evbuf **vec =
		    xrealloc_array(s->ev_vec, cap, sizeof(*vec));

		if (!vec) {
			s->replay_error = -ENOMEM;
			return;
		}
		s->ev_vec = vec;
		s->ev_cap = cap;
	}
	len = strlen(path);
	e = xmalloc(sizeof(*e) + len + 1);
	if (!e) {
		s->replay_error = -ENOMEM;
		return;
	}
	e->next = NULL;
	e->seq = s->nr_ev++;
	e->is_dup = false;
	e->is_exact = is_exact;
	e->is_removal = is_removal;
	e->perms = perms;
	if (perms)
		nperms_ref(perms);
	e->old_perms = old_perms;
	if (old_perms)
		nperms_ref(old_perms);
	memcpy(e->path, path, len + 1);
	if (s->ev_tail)
		s->ev_tail->next = e;
	else
		s->ev_head = e;
	s->ev_tail = e;
}

static int cmp_ev(const void *a, const void *b)
{
	const struct evbuf *x = *(const struct evbuf *const *)a;
	const struct evbuf *y = *(const struct evbuf *const *)b;
	int c = strcmp(x->path, y->path);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * Who may see a commit's event is decided by the committed result, not
 * by the states inside the transaction: a node created and made
 * unreadable in one transaction was never readable outside it, so its
 * path must not reach a watcher that cannot read it (issue 10, item 4).
 * perms become the node's in the new tree (for a removed node, the last
 * ones it had), old_perms its perms before the commit (none if it did not
 * exist): a watcher that could read it before or after sees the event.
 */
static void set_ev_perms(struct nperms **slot, struct nperms *p)
{
	if (p)
		nperms_ref(p);
	nperms_unref(*slot);
	*slot = p;
}

static void commit_perms(struct store *s, struct evbuf *e, struct node *before)
{
	struct node *old = tree_lookup(&s->env, before, e->path, NULL);
	struct node *now = tree_lookup(&s->env, s->root, e->path, NULL);

	if (now)
		set_ev_perms(&e->perms, now->perms);
	set_ev_perms(&e->old_perms, old ? old->perms : NULL);
}

/*
 * A commit reports each changed path once, where it first changed (as Xen
 * 4.17 does): mark later duplicates, folding their flags into the first,
 * which gets the last permissions (and the first ones as old_perms, so a
 * watcher that could read the node before or after sees the event).
 * Sorting keeps this O(n log n) for large transactions, in space that
 * emit() reserved, so that it cannot fail.
 */
static void dedupe_events(struct store *s, struct node *before)
{
	struct evbuf **v = s->ev_vec;
	unsigned int n = s->nr_ev, i = 0;

	if (n < 2) {
		if (n == 1 && before)
			commit_perms(s, s->ev_head, before);
		return;
	}
	for (struct evbuf *e = s->ev_head; e; e = e->next)
		v[i++] = e;
	qsort(v, n, sizeof(*v), cmp_ev);
	for (i = 0; i < n;) {
		struct evbuf *first = v[i], *last = v[i];
		unsigned int j = i + 1;

		for (; j < n && !strcmp(v[j]->path, first->path); j++) {
			last = v[j];
			last->is_dup = true;
			first->is_exact = first->is_exact && last->is_exact;
			first->is_removal =
			    first->is_removal || last->is_removal;
		}
		if (last != first && last->perms != first->perms) {
			nperms_unref(first->old_perms);
			first->old_perms = first->perms;
			first->perms = last->perms;
			nperms_ref(first->perms);
		}
		if (before)
			commit_perms(s, first, before);
		i = j;
	}
}

/* Emit (or drop) the events buffered by a replay. */
void store_flush_events(struct store *s, bool is_emit, struct node *before)
{
	struct evbuf *e;

	if (is_emit)
		dedupe_events(s, before);
	e = s->ev_head;
	s->ev_head = s->ev_tail = NULL;
	s->nr_ev = 0;
	while (e) {
		struct evbuf *next = e->next;

		if (is_emit && !e->is_dup && s->event_cb) {
			struct store_event ev = {e->path, e->is_exact,
			                         e->is_removal, e->perms,
			                         e->old_perms};

			s->event_cb(s->event_opaque, &ev);
		}
		nperms_unref(e->perms);
		nperms_unref(e->old_perms);
		xfree(e);
		e = next;
	}
}

/* ---- mutations ---- */

/*
 * The mutation of a WRITE: the three steps of the top of this file.  A
 * node that exists keeps its perms unless the change names others (only
 * a replayed record can); a missing one is created with its missing
 * ancestors, all with ch->perms.
 */
int apply_write(struct store *s, struct view *v, const struct change *ch,
                bool is_walked)
{
	struct tree_env *env = &s->env;
	struct walk *w = &s->walk;
	struct node *near, *chain = NULL, *last = NULL;
	struct nperms *perms = ch->perms;
	unsigned int missing;
	int err = is_walked ? 0 : tree_walk(env, *v->rootp, ch->path, w);

	if (err)
		return err;
	missing = w->depth - w->found;
	if (!missing) {
		struct node *n = w->nodes[w->depth];
		long old_len = (long)n->value_len;
		struct nperms *old = n->perms;
		bool is_new_perms = old != perms && !nperms_equal(old, perms);

		/* A new owner may be charged for the first time. */
		err = is_new_perms ? acct_reserve(s, perms->e[0].domid) : 0;
		if (!err)
			err = tree_unshare(env, v->rootp, w, w->depth);
		if (err)
			return err;

		err = node_set_value(env, v->rootp, w, w->depth, ch->value,
		                     ch->value_len, next_gen(s));
		if (err)
			return err;
		n = w->nodes[w->depth];
		if (!is_new_perms) {
			acct_add(s, v, node_owner(n), 0,
			         (long)ch->value_len - old_len);
		} else {
			acct_add(s, v, old->e[0].domid, -1,
			         -(long)node_mem_of(n->name_len,
			                            (size_t)old_len, old->n));
			nperms_ref(perms);
			node_perms_replaced(env, old, perms);
			n->perms = perms;
			acct_add(s, v, perms->e[0].domid, 1, (long)node_mem(n));
			nperms_unref(old);
		}
		emit(s, v, ch->path, false, false, n->perms, NULL);
		return 0;
	}

	/* Build the missing chain detached, then link it in one step. */
	err = acct_reserve(s, perms->e[0].domid);
	if (!err)
		err = tree_unshare(env, v->rootp, w, w->found);
	if (err)
		return err;
	near = w->nodes[w->found];
	err = node_reserve_kid(env, near);
	for (unsigned int i = w->found + 1; !err && i <= w->depth; i++) {
		bool is_target = i == w->depth;
		struct node *n = node_new(env, w->comp[i], w->comp_len[i],
		                          is_target ? ch->value : NULL,
		                          is_target ? ch->value_len : 0, perms);

		if (!n) {
			err = -ENOMEM;
			break;
		}
		n->gen = next_gen(s);
		if (last) {
			err = node_reserve_kid(env, last);
			if (err) {
				node_unref(env, n);
				break;
			}
			node_add_kid(env, last, n);
		} else {
			chain = n;
		}
		last = n;
	}
	if (err) {
		node_unref(env, chain);
		return err;
	}
	node_add_kid(env, near, chain);
	near->gen = next_gen(s);
	{
		long bytes = 0;

		for (struct node *n = chain; n;
		     n = node_nkids(n) ? node_kid(n, 0) : NULL)
			bytes += (long)node_mem(n);
		acct_add(s, v, perms->e[0].domid, (long)missing, bytes);
	}
	emit(s, v, ch->path, false, false, perms, NULL);
	return 0;
}

/*
 * Account and report every node of the subtree at `top` (path `path`),
 * children before parents, the top last and non-exact (Xen 4.17 reports a
 * removed descendant only to watches on exactly its path).  Iterative,
 * on the preallocated stack: it cannot fail.
 */
static void rm_subtree_effects(struct store *s, const struct view *v,
                               struct node *top, const char *path)
{
	struct node **stack = s->rm_stack;
	uint32_t *pos = s->rm_pos;
	char *buf = s->rm_path;
	size_t len = strlen(path);
	unsigned int sp = 0;

	memcpy(buf, path, len + 1);
	stack[0] = top;
	pos[0] = 0;
	while (1) {
		struct node *n = stack[sp];

		if (pos[sp] < node_nkids(n) && sp + 1 < RM_STACK_CAP &&
		    len + 1 + node_kid(n, pos[sp])->name_len <=
		        XS_ABS_PATH_MAX) {
			struct node *k = node_kid(n, pos[sp]++);

			if (len > 1)
				buf[len++] = '/';
			memcpy(buf + len, node_name(k), k->name_len);
			len += k->name_len;
			buf[len] = '\0';
			stack[++sp] = k;
			pos[sp] = 0;
			continue;
		}
		acct_add(s, v, node_owner(n), -1, -(long)node_mem(n));
		emit(s, v, buf, sp > 0, true, n->perms, NULL);
		if (sp == 0)
			break;
		path_pop(buf, &len, n->name_len);
		sp--;
	}
}

/* The mutation of an RM: the node exists and is not the root. */
int apply_del(struct store *s, struct view *v, const struct change *ch,
              bool is_walked)
{
	struct tree_env *env = &s->env;
	struct walk *w = &s->walk;
	struct node *parent, *victim;
	uint32_t pos;
	int err = is_walked ? 0 : tree_walk(env, *v->rootp, ch->path, w);

	if (err)
		return err;
	if (w->found < w->depth)
		return -ENOENT;
	if (w->depth == 0)
		return -EINVAL;
	err = tree_unshare(env, v->rootp, w, w->depth - 1);
	if (err)
		return err;
	parent = w->nodes[w->depth - 1];
	pos = node_kid_index(parent, w->pos[w->depth]);
	err = node_reserve_remove(env, parent, pos);
	if (err)
		return err;
	victim = node_kid(parent, pos);
	rm_subtree_effects(s, v, victim, ch->path);
	victim = node_remove_kid(env, parent, pos);
	parent->gen = next_gen(s);
	node_unref(env, victim);
	return 0;
}

/* The mutation of a SET_PERMS (or of forget's stripping, silent). */
int apply_perms(struct store *s, struct view *v, const struct change *ch,
                bool is_walked)
{
	struct tree_env *env = &s->env;
	struct walk *w = &s->walk;
	struct nperms *perms = ch->perms, *old;
	struct node *node;
	int err = is_walked ? 0 : tree_walk(env, *v->rootp, ch->path, w);

	if (err)
		return err;
	if (w->found < w->depth)
		return -ENOENT;
	err = acct_reserve(s, perms->e[0].domid);
	if (!err)
		err = tree_unshare(env, v->rootp, w, w->depth);
	if (err)
		return err;
	node = w->nodes[w->depth];
	old = node->perms;
	nperms_ref(perms);
	node_perms_replaced(env, old, perms);
	node->perms = perms;
	node->gen = next_gen(s);
	acct_add(s, v, old->e[0].domid, -1,
	         -(long)node_mem_of(node->name_len, node->value_len, old->n));
	acct_add(s, v, perms->e[0].domid, 1, (long)node_mem(node));
	if (!ch->is_silent)
		emit(s, v, ch->path, false, false, perms, old);
	nperms_unref(old);
	return 0;
}
