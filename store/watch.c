/*
 * watch.c - the watch index.
 *
 * Design.  Every watched path and each of its ancestors has a trie node
 * (wnode), found through one hash table keyed by the full path with the
 * index's secret key (guests choose watch paths).  A wnode carries the
 * watches on exactly its path and links to its parent and children.
 * Because every prefix of a watched path has a wnode, an event walks the
 * prefixes of its path from the top and stops at the first one without a
 * wnode: O(depth).  A removal also walks the wnode subtree below the
 * removed path, which holds only watched paths and their prefixes.
 * Wnodes are pruned when they hold no watch and have no children, so the
 * index's size is bounded by what watches exist.  No recursion anywhere.
 *
 * Matches are sorted by registration order before delivery so that one
 * connection sees its events in the order Xen's daemon produces them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"
#include "common/xalloc.h"
#include "store/path.h"
#include "store/watch.h"

struct wnode {
	struct wnode *parent, *kid, *next_sib, *prev_sib;
	struct watch *head, *tail;
	uint32_t hash;
	size_t len;
	char path[];
};

struct watch_index {
	struct siphash_key key;
	struct wnode **tab; /* open addressing, NULL = empty */
	size_t cap, used;   /* slots; wnodes in the table */
	unsigned long nr_watches;
	uint64_t next_seq;
	/* Scratch for one watch_fire. */
	struct match {
		struct watch *w;
		const char *path; /* event path or the watch's own path */
	} * matches;
	size_t nr_matches, matches_cap;
	struct wnode **stack;
	size_t stack_cap;
};

/* ---- the path table ---- */

static uint32_t hash_path(const struct watch_index *idx, const char *p,
                          size_t len)
{
	return (uint32_t)siphash24(&idx->key, p, len);
}

static struct wnode *wnode_find(const struct watch_index *idx, const char *p,
                                size_t len)
{
	uint32_t h;
	size_t mask = idx->cap - 1;

	if (!idx->cap)
		return NULL;
	h = hash_path(idx, p, len);
	for (size_t i = h & mask; idx->tab[i]; i = (i + 1) & mask) {
		const struct wnode *n = idx->tab[i];

		if (n->hash == h && n->len == len && !memcmp(n->path, p, len))
			return idx->tab[i];
	}
	return NULL;
}

static void tab_put(struct wnode **tab, size_t cap, struct wnode *n)
{
	size_t i = n->hash & (cap - 1);

	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = n;
}

static int tab_reserve(struct watch_index *idx)
{
	size_t cap;
	struct wnode **tab;

	if (2 * (idx->used + 1) <= idx->cap)
		return 0;
	cap = idx->cap ? 2 * idx->cap : 64;
	tab = xcalloc(cap, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < idx->cap; i++)
		if (idx->tab[i])
			tab_put(tab, cap, idx->tab[i]);
	xfree(idx->tab);
	idx->tab = tab;
	idx->cap = cap;
	return 0;
}

/* Remove `n` from the table (backward-shift deletion keeps probes valid). */
static void tab_remove(struct watch_index *idx, const struct wnode *n)
{
	size_t mask = idx->cap - 1;
	size_t i = n->hash & mask;

	while (idx->tab[i] != n)
		i = (i + 1) & mask;
	idx->tab[i] = NULL;
	for (size_t j = (i + 1) & mask; idx->tab[j]; j = (j + 1) & mask) {
		struct wnode *m = idx->tab[j];
		size_t home = m->hash & mask;

		/* Move m back if its home is not within (i, j]. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			idx->tab[i] = m;
			idx->tab[j] = NULL;
			i = j;
		}
	}
	idx->used--;
}

/* ---- path prefixes ---- */

/* Length of the first prefix of `p`: "/" or "@name". */
static size_t first_prefix(const char *p)
{
	const char *slash;

	if (p[0] == '/')
		return 1;
	slash = strchr(p, '/');
	return slash ? (size_t)(slash - p) : strlen(p);
}

/* Length of the prefix after the one of length `len`, or 0 at the end. */
static size_t next_prefix(const char *p, size_t len)
{
	const char *slash;

	if (p[len] == '\0')
		return 0;
	if (len == 1 && p[0] == '/')
		len = 0;
	slash = strchr(p + len + 1, '/');
	return slash ? (size_t)(slash - p) : strlen(p);
}

/* ---- wnodes ---- */

static struct wnode *wnode_new(struct watch_index *idx, const char *p,
                               size_t len, struct wnode *parent)
{
	struct wnode *n;

	if (tab_reserve(idx))
		return NULL;
	n = xcalloc(1, sizeof(*n) + len + 1);
	if (!n)
		return NULL;
	memcpy(n->path, p, len);
	n->len = len;
	n->hash = hash_path(idx, p, len);
	n->parent = parent;
	if (parent) {
		n->next_sib = parent->kid;
		if (parent->kid)
			parent->kid->prev_sib = n;
		parent->kid = n;
	}
	tab_put(idx->tab, idx->cap, n);
	idx->used++;
	return n;
}

/* Free `n` and its ancestors while they hold nothing. */
static void wnode_prune(struct watch_index *idx, struct wnode *n)
{
	while (n && !n->head && !n->kid) {
		struct wnode *parent = n->parent;

		if (n->prev_sib)
			n->prev_sib->next_sib = n->next_sib;
		else if (parent)
			parent->kid = n->next_sib;
		if (n->next_sib)
			n->next_sib->prev_sib = n->prev_sib;
		tab_remove(idx, n);
		xfree(n);
		n = parent;
	}
}

/* ---- public ---- */

struct watch_index *watch_index_new(void)
{
	struct watch_index *idx = xcalloc(1, sizeof(*idx));

	if (idx)
		siphash_key_random(&idx->key);
	return idx;
}

void watch_index_free(struct watch_index *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->cap; i++) {
		struct wnode *n = idx->tab[i];

		if (!n)
			continue;
		for (struct watch *w = n->head, *next; w; w = next) {
			next = w->next;
			xfree(w);
		}
		xfree(n);
	}
	xfree(idx->tab);
	xfree(idx->matches);
	xfree(idx->stack);
	xfree(idx);
}

int watch_add(struct watch_index *idx, const char *path, const char *token,
              int depth, size_t rel_prefix, void *owner, struct watch **out)
{
	size_t plen = strlen(path), tlen = strlen(token);
	struct wnode *parent = NULL, *n = NULL;
	struct watch *w;

	w = xmalloc(sizeof(*w) + plen + 1 + tlen + 1);
	if (!w)
		return -ENOMEM;
	/* Find or make the wnode of every prefix. */
	for (size_t len = first_prefix(path); len;
	     len = next_prefix(path, len)) {
		n = wnode_find(idx, path, len);
		if (!n)
			n = wnode_new(idx, path, len, parent);
		if (!n) {
			wnode_prune(idx, parent);
			xfree(w);
			return -ENOMEM;
		}
		parent = n;
	}
	memcpy(w->buf, path, plen + 1);
	memcpy(w->buf + plen + 1, token, tlen + 1);
	w->path = w->buf;
	w->token = w->buf + plen + 1;
	w->owner = owner;
	w->owner_next = w->owner_prev = NULL;
	w->seq = idx->next_seq++;
	w->depth = depth;
	w->path_depth = path_depth(path);
	w->rel_prefix = rel_prefix;
	w->at = n;
	w->next = NULL;
	w->prev = n->tail;
	if (n->tail)
		n->tail->next = w;
	else
		n->head = w;
	n->tail = w;
	idx->nr_watches++;
	*out = w;
	return 0;
}

void watch_del(struct watch_index *idx, struct watch *w)
{
	struct wnode *n = w->at;

	if (w->prev)
		w->prev->next = w->next;
	else
		n->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		n->tail = w->prev;
	idx->nr_watches--;
	xfree(w);
	wnode_prune(idx, n);
}

struct watch *watch_find(const struct watch_index *idx, const void *owner,
                         const char *path, const char *token)
{
	const struct wnode *n = wnode_find(idx, path, strlen(path));

	for (struct watch *w = n ? n->head : NULL; w; w = w->next)
		if (w->owner == owner && !strcmp(w->token, token))
			return w;
	return NULL;
}

unsigned long watch_count(const struct watch_index *idx)
{
	return idx->nr_watches;
}

size_t watch_index_paths(const struct watch_index *idx)
{
	return idx->used;
}

static int add_match(struct watch_index *idx, struct watch *w, const char *path)
{
	if (idx->nr_matches == idx->matches_cap) {
		size_t cap = idx->matches_cap ? 2 * idx->matches_cap : 16;
		struct match *m = xrealloc_array(idx->matches, cap, sizeof(*m));

		if (!m)
			return -ENOMEM;
		idx->matches = m;
		idx->matches_cap = cap;
	}
	idx->matches[idx->nr_matches].w = w;
	idx->matches[idx->nr_matches].path = path;
	idx->nr_matches++;
	return 0;
}

static int cmp_seq(const void *a, const void *b)
{
	const struct match *x = a, *y = b;

	return x->w->seq < y->w->seq ? -1 : x->w->seq > y->w->seq;
}

/* Push `n` on the index's scratch stack (of `*sp` entries). */
static int stack_push(struct watch_index *idx, size_t *sp, struct wnode *n)
{
	if (*sp == idx->stack_cap) {
		size_t cap = idx->stack_cap ? 2 * idx->stack_cap : 32;
		struct wnode **s = xrealloc_array(idx->stack, cap, sizeof(*s));

		if (!s)
			return -ENOMEM;
		idx->stack = s;
		idx->stack_cap = cap;
	}
	idx->stack[(*sp)++] = n;
	return 0;
}

/* Watches strictly below `top`: each reported with its own path. */
static int match_below(struct watch_index *idx, struct wnode *top)
{
	size_t sp = 0;
	int err = 0;

	for (struct wnode *k = top->kid; k && !err; k = k->next_sib)
		err = stack_push(idx, &sp, k);
	while (sp && !err) {
		struct wnode *n = idx->stack[--sp];

		for (struct watch *w = n->head; w && !err; w = w->next)
			err = add_match(idx, w, w->path);
		for (struct wnode *k = n->kid; k && !err; k = k->next_sib)
			err = stack_push(idx, &sp, k);
	}
	return err;
}

int watch_fire(struct watch_index *idx, const char *path, bool is_exact,
               bool is_removal, watch_match_cb *cb, void *opaque)
{
	unsigned int depth = path_depth(path);
	struct wnode *n = NULL;
	int err = 0;

	idx->nr_matches = 0;
	if (is_exact) {
		n = wnode_find(idx, path, strlen(path));
		for (struct watch *w = n ? n->head : NULL; w && !err;
		     w = w->next)
			err = add_match(idx, w, path);
	} else {
		for (size_t len = first_prefix(path); len && !err;
		     len = next_prefix(path, len)) {
			n = wnode_find(idx, path, len);
			if (!n)
				break;
			for (struct watch *w = n->head; w && !err; w = w->next)
				if (w->depth < 0 || depth - w->path_depth <=
				                        (unsigned int)w->depth)
					err = add_match(idx, w, path);
			if (path[len] == '\0' && is_removal && !err)
				err = match_below(idx, n);
		}
	}
	if (idx->nr_matches > 1)
		qsort(idx->matches, idx->nr_matches, sizeof(idx->matches[0]),
		      cmp_seq);
	for (size_t i = 0; i < idx->nr_matches; i++)
		cb(opaque, idx->matches[i].w, idx->matches[i].path);
	idx->nr_matches = 0;
	return err;
}
