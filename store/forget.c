/*
 * forget.c - what happens to the store when a domain goes away: its
 * nodes are removed and its permission entries dropped, so that a later
 * domain reusing the id inherits nothing (the XSA-322 class).
 *
 * One walk over the main tree (iterative, explicit stack) finds the
 * topmost nodes the domain owns (removed whole, as Xen does) and the
 * nodes whose lists name it; then the changes are applied as one change
 * set (apply.c), atomic and one record, so accounting and events stay
 * right.  Permission stripping fires no event: nothing a watcher could
 * read changed.
 */
#include <errno.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/store_int.h"

struct pathlist {
	char **v;
	size_t n, cap;
};

static int list_add(struct pathlist *l, const char *path, size_t len)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		char **v = xrealloc_array(l->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	copy = xmemdup(path, len);
	if (!copy)
		return -ENOMEM;
	l->v[l->n++] = copy;
	return 0;
}

static void list_free(struct pathlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		xfree(l->v[i]);
	xfree(l->v);
}

static bool names_domain(const struct nperms *p, unsigned int domid)
{
	for (unsigned int i = 1; i < p->n; i++)
		if (p->e[i].domid == domid)
			return true;
	return false;
}

/* A copy of `p` without the non-owner entries naming `domid`. */
static struct nperms *without(const struct nperms *p, unsigned int domid)
{
	struct nperms *q = nperms_new(p->e, p->n);
	unsigned int n = 1;

	if (!q)
		return NULL;
	for (unsigned int i = 1; i < p->n; i++)
		if (p->e[i].domid != domid)
			q->e[n++] = p->e[i];
	q->n = (uint16_t)n;
	return q;
}

/* Find what to change, without changing anything. */
static int survey(struct store *s, unsigned int domid, struct pathlist *rm,
                  struct pathlist *strip)
{
	struct node **stack = s->rm_stack;
	uint32_t *pos = s->rm_pos;
	char *buf = s->rm_path;
	size_t len = 1;
	unsigned int sp = 0;
	int err = 0;

	buf[0] = '/';
	buf[1] = '\0';
	stack[0] = s->root;
	pos[0] = 0;
	if (names_domain(s->root->perms, domid))
		err = list_add(strip, "/", 1);
	while (!err) {
		struct node *n = stack[sp];
		struct node *k;

		if (pos[sp] >= node_nkids(n)) {
			if (sp == 0)
				break;
			path_pop(buf, &len, n->name_len);
			sp--;
			continue;
		}
		k = node_kid(n, pos[sp]++);
		s->forget_walked++;
		if (len + 1 + k->name_len > XS_ABS_PATH_MAX)
			continue;
		if (len > 1)
			buf[len++] = '/';
		memcpy(buf + len, node_name(k), k->name_len);
		len += k->name_len;
		buf[len] = '\0';
		if (node_owner(k) == domid) {
			err = list_add(rm, buf, len);
		} else {
			if (names_domain(k->perms, domid))
				err = list_add(strip, buf, len);
			if (!err && node_nkids(k) &&
			    sp + 1 < XS_ABS_PATH_MAX / 2 + 2) {
				stack[++sp] = k;
				pos[sp] = 0;
				continue;
			}
		}
		/* Not descended: back to the parent's path. */
		path_pop(buf, &len, k->name_len);
	}
	return err;
}

/* Drop `domid` from the list of the node at `path`: a silent change. */
static int strip_one(struct store *s, struct view *v, const char *path,
                     unsigned int domid)
{
	struct node *n = tree_lookup(&s->env, *v->rootp, path, NULL);
	struct change ch = {CHANGE_PERMS, true, path, NULL, 0, NULL};
	int err;

	if (!n)
		return 0;
	ch.perms = without(n->perms, domid);
	if (!ch.perms)
		return -ENOMEM;
	err = apply_change(s, v, &ch, false);
	nperms_unref(ch.perms);
	return err;
}

static int strip_special(struct store *s, struct view *v, int i,
                         unsigned int domid)
{
	static const char *const names[2] = {"@introduceDomain",
	                                     "@releaseDomain"};
	struct change ch = {CHANGE_SPECIAL, true, names[i], NULL, 0, NULL};
	int err;

	if (!names_domain(s->special_perms[i], domid))
		return 0;
	ch.perms = without(s->special_perms[i], domid);
	if (!ch.perms)
		return -ENOMEM;
	err = apply_change(s, v, &ch, false);
	nperms_unref(ch.perms);
	return err;
}

uint64_t store_forget_walked(const struct store *s)
{
	return s->forget_walked;
}

int store_forget_domain(struct store *s, unsigned int domid)
{
	static const struct store_caller dom0 = {0, PERM_NO_TARGET, true, NULL,
	                                         0};
	struct view v = {&s->root, NULL, true, false, false, false};
	struct pathlist rm = {0}, strip = {0};
	int err;

	/*
	 * No node owned by it (the accounting is exact on the main tree),
	 * no list naming it: nothing to find.  The common case (libxl
	 * removes a domain's paths before destroying it), and the walk of
	 * the whole tree per dead domain was what made destroying N
	 * domains cost O(N^2).
	 */
	if (!store_domain_nodes(s, domid) &&
	    !tree_names_domid(&s->env, domid) &&
	    !names_domain(s->special_perms[0], domid) &&
	    !names_domain(s->special_perms[1], domid))
		return 0;
	err = survey(s, domid, &rm, &strip);

	if (!err &&
	    (rm.n || strip.n || names_domain(s->special_perms[0], domid) ||
	     names_domain(s->special_perms[1], domid))) {
		err = apply_begin(s, &v, APPLY_STAGED);
		for (size_t i = 0; !err && i < strip.n; i++)
			err = strip_one(s, &v, strip.v[i], domid);
		for (size_t i = 0; !err && i < rm.n; i++)
			err = store_op_rm(s, &v, &dom0, rm.v[i]);
		for (int i = 0; !err && i < 2; i++)
			err = strip_special(s, &v, i, domid);
		if (!err)
			err = s->replay_error;
		if (v.is_replay)
			err = apply_end(s, &v, err);
	}
	list_free(&rm);
	list_free(&strip);
	return err;
}
