/*
 * tree.c - nodes of the persistent tree: allocation, sharing, the child
 * index, path walks and copy-on-write.
 *
 * Invariants: a node reachable from a version with refs == 1 is owned by
 * that version alone and may be changed in place; refs > 1 means shared,
 * and tree_unshare must copy it first.  Children keep insertion order
 * (DIRECTORY lists them so, as Xen does); directories above
 * KIDS_INDEX_MIN slots are hashed, keyed with the store's secret so that
 * guest-chosen names cannot collide on purpose.  A node is one
 * allocation (header, name, value); its children (their count and
 * capacity, then a plain array or the hashed table and the order) are a
 * second.  Freeing is iterative through next_dead.
 *
 * The hashed table of a flat directory holds the children's pointers,
 * not positions into an array: at a million nodes every line a lookup
 * touches is a cache miss (issue 15), and a path is a chain of them, so
 * one entry then the child beats an index entry, then a slot, then the
 * child.  The order is kept apart, one byte per child (the entry).
 *
 * Large directories (more than KIDS_FLAT_MAX slots: /local/domain, /vm,
 * the backends, one child per domain) would make copy-on-write cost a
 * reference taken and dropped on every child per copy, a cache miss
 * each.  Their children live instead in chunks of KIDS_CHUNK slots, each
 * chunk holding a reference on its children and counted by the tables
 * that point to it; the table (struct kids_big: count, capacity, chunk
 * pointers) is counted by the nodes that share it, and the index by the
 * tables.  A copy of the node shares the table; a change copies what it
 * changes (the table, the one chunk, the index for an insertion or
 * removal) when shared.  So refs == 1 on a child means exclusive only
 * once its parent's table and chunk are: tree_unshare makes them so, top
 * down, before it looks at the child.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/tree.h"

#define INDEX_MIN     KIDS_INDEX_MIN
#define NODE_HDR_SIZE 24u /* Xen's record header, for node_size() */
#define PERM_REC_SIZE 8u  /* Xen's struct xs_permissions */

/* ---- permissions ---- */

struct nperms *nperms_new(const struct perm_entry *e, unsigned int n)
{
	struct nperms *p = xmalloc(sizeof(*p) + n * sizeof(p->e[0]));

	if (!p)
		return NULL;
	p->refs = 1;
	p->n = (uint16_t)n;
	memcpy(p->e, e, n * sizeof(p->e[0]));
	return p;
}

void nperms_ref(struct nperms *p)
{
	p->refs++;
}

void nperms_unref(struct nperms *p)
{
	if (p && --p->refs == 0)
		xfree(p);
}

bool nperms_equal(const struct nperms *a, const struct nperms *b)
{
	if (a == b)
		return true;
	if (a->n != b->n)
		return false;
	for (unsigned int i = 0; i < a->n; i++)
		if (a->e[i].domid != b->e[i].domid ||
		    a->e[i].access != b->e[i].access)
			return false;
	return true;
}

/* ---- who is named where ---- */

/*
 * env->naming[domid] counts the entries naming domid after the owner's
 * in the permissions of the nodes alive, every version included (a
 * node counts its list, shared or not).  Zero: no node of any tree
 * names the domain, and forget.c need not walk the tree to strip it.
 * The table is made when a list first names anyone; if that fails the
 * census is lost for good and every domain counts as named.
 */
#define NAMING_SLOTS (UINT16_MAX + 1u)

static void naming_count(struct tree_env *env, const struct nperms *p,
                         int delta)
{
	if (p->n < 2 || env->is_naming_lost)
		return;
	if (!env->naming) {
		env->naming = xcalloc(NAMING_SLOTS, sizeof(*env->naming));
		if (!env->naming) {
			env->is_naming_lost = true;
			return;
		}
	}
	for (unsigned int i = 1; i < p->n; i++)
		env->naming[p->e[i].domid] += (uint32_t)delta;
}

bool tree_names_domid(const struct tree_env *env, unsigned int domid)
{
	if (env->is_naming_lost)
		return true;
	return env->naming && domid < NAMING_SLOTS && env->naming[domid];
}

void node_perms_replaced(struct tree_env *env, const struct nperms *old,
                         const struct nperms *now)
{
	naming_count(env, old, -1);
	naming_count(env, now, 1);
}

void tree_env_fini(struct tree_env *env)
{
	xfree(env->naming);
	env->naming = NULL;
}

/* ---- nodes ---- */

static size_t node_alloc_size(size_t name_len, size_t value_len)
{
	return sizeof(struct node) + name_len + 1 + value_len + 1;
}

/* The block of a flat directory of `cap` slots. */
static size_t kids_alloc_size(uint32_t cap)
{
	if (cap <= INDEX_MIN)
		return sizeof(struct kids_hdr) +
		       (size_t)cap * sizeof(struct node *);
	return sizeof(struct kids_hdr) + 2 * (size_t)cap * sizeof(uintptr_t) +
	       cap;
}

_Static_assert(_Alignof(max_align_t) > KIDS_TAG_MASK,
               "a node's pointer has room for the tag bits");
_Static_assert(2 * KIDS_FLAT_MAX <= 256, "a table entry fits the order byte");

/* A large directory's table: n->kids points at chunk[]. */
struct kids_big {
	uint32_t refs; /* nodes sharing it */
	uint32_t pad;
	struct kids_index *idx;
	struct kids_hdr h; /* just before chunk[], as node_kids_hdr() expects */
	struct kids_chunk *chunk[]; /* h.cap / KIDS_CHUNK, NULL if unused */
};

/* Its index: 2 * cap positions (+1), 0 for an empty slot. */
struct kids_index {
	uint32_t refs; /* tables sharing it */
	uint32_t slot[];
};

_Static_assert(offsetof(struct kids_big, chunk) ==
                   offsetof(struct kids_big, h) + sizeof(struct kids_hdr),
               "node_kids_hdr() finds the count before the chunk table");

static inline bool is_big(const struct node *n)
{
	return n->kids && node_kids_hdr(n)->cap > KIDS_FLAT_MAX;
}

/* A flat directory with a hashed table (n->kids_bits says so too). */
static inline bool is_table(const struct node *n)
{
	uint32_t cap = node_kids_cap(n);

	return cap > INDEX_MIN && cap <= KIDS_FLAT_MAX;
}

static inline uintptr_t *table_of(const struct node *n)
{
	return (uintptr_t *)(void *)n->kids;
}

static inline uint8_t *order_of(const struct node *n)
{
	return (uint8_t *)(table_of(n) + 2 * node_kids_hdr(n)->cap);
}

static inline struct node *entry_node(uintptr_t e)
{
	return (struct node *)(e & ~KIDS_TAG_MASK);
}

/* The tag bits of a name's hash: above any table's mask (<= 255). */
static inline uintptr_t hash_tag(uint32_t h)
{
	return (uintptr_t)(h >> 24) & KIDS_TAG_MASK;
}

static unsigned int log2_of(uint32_t v)
{
	unsigned int b = 0;

	while ((1u << b) < v)
		b++;
	return b;
}

static inline struct kids_big *big_of(const struct node *n)
{
	return (struct kids_big *)(void *)((char *)n->kids -
	                                   offsetof(struct kids_big, chunk));
}

static inline struct kids_chunk **chunks_of(const struct node *n)
{
	return (struct kids_chunk **)(void *)n->kids;
}

static size_t big_size(uint32_t cap)
{
	return sizeof(struct kids_big) +
	       (cap / KIDS_CHUNK) * sizeof(struct kids_chunk *);
}

static size_t index_size(uint32_t cap)
{
	return sizeof(struct kids_index) + 2 * (size_t)cap * sizeof(uint32_t);
}

/* The index of a large directory: positions into its chunks. */
static inline uint32_t *kid_index(const struct node *n)
{
	return big_of(n)->idx->slot;
}

/* Point `n` (exclusively owned there) at `k` where a walk's pos[] says
 * (an entry of a hashed table, else an index); no reference changes
 * hands.  The name stays the same, so does a table entry's tag. */
static inline void set_kid(struct node *n, uint32_t i, struct node *k)
{
	if (is_table(n))
		table_of(n)[i] =
		    (uintptr_t)k | (table_of(n)[i] & KIDS_TAG_MASK);
	else if (!is_big(n))
		n->kids[i] = k;
	else
		chunks_of(n)[i / KIDS_CHUNK]->slot[i % KIDS_CHUNK] = k;
}

struct node *node_new(struct tree_env *env, const char *name, size_t name_len,
                      const void *value, size_t value_len, struct nperms *perms)
{
	size_t sz = node_alloc_size(name_len, value_len);
	struct node *n = xmalloc(sz);

	if (!n)
		return NULL;
	n->refs = 1;
	n->value_len = (uint32_t)value_len;
	n->gen = 0;
	n->perms = perms;
	nperms_ref(perms);
	naming_count(env, perms, 1);
	n->kids = NULL;
	n->name_len = (uint16_t)name_len;
	n->has_name_hash = false;
	n->kids_bits = 0;
	n->name_hash = 0;
	memcpy(n->data, name, name_len);
	n->data[name_len] = '\0';
	if (value_len)
		memcpy(n->data + name_len + 1, value, value_len);
	n->data[name_len + 1 + value_len] = '\0';
	env->nr_nodes++;
	env->nr_bytes += sz;
	return n;
}

void node_ref(struct node *n)
{
	n->refs++;
}

/* Drop a reference on child `k`, queueing it on *dead if it was the
 * last. */
static inline void kid_drop(struct node *k, struct node **dead)
{
	if (--k->refs == 0) {
		k->next_dead = *dead;
		*dead = k;
	}
}

static void index_drop(struct tree_env *env, struct kids_index *x, uint32_t cap)
{
	if (--x->refs == 0) {
		env->nr_bytes -= index_size(cap);
		xfree(x);
	}
}

static void chunk_drop(struct tree_env *env, struct kids_chunk *c,
                       struct node **dead)
{
	if (!c || --c->refs > 0)
		return;
	for (uint32_t i = 0; i < KIDS_CHUNK && c->slot[i]; i++)
		kid_drop(c->slot[i], dead);
	env->nr_bytes -= sizeof(*c);
	xfree(c);
}

/* Drop `n`'s reference on its large table; n->kids is NULL after. */
static void big_drop(struct tree_env *env, struct node *n, struct node **dead)
{
	struct kids_big *b = big_of(n);

	n->kids = NULL;
	if (--b->refs > 0)
		return;
	for (uint32_t i = 0; i < b->h.cap / KIDS_CHUNK; i++)
		chunk_drop(env, b->chunk[i], dead);
	index_drop(env, b->idx, b->h.cap);
	env->nr_bytes -= big_size(b->h.cap);
	xfree(b);
}

/* Release what `n` itself owns; its children were handled by the caller
 * (a large table: dropped by then). */
static void node_release(struct tree_env *env, struct node *n)
{
	env->nr_nodes--;
	env->nr_bytes -= node_alloc_size(n->name_len, n->value_len);
	if (n->kids) {
		env->nr_bytes -= kids_alloc_size(node_kids_hdr(n)->cap);
		xfree(node_kids_hdr(n));
	}
	naming_count(env, n->perms, -1);
	nperms_unref(n->perms);
	xfree(n);
}

void node_unref(struct tree_env *env, struct node *n)
{
	struct node *dead;

	if (!n || --n->refs > 0)
		return;
	n->next_dead = NULL;
	dead = n;
	while (dead) {
		struct node *d = dead;

		dead = d->next_dead;
		if (is_big(d))
			big_drop(env, d, &dead);
		else
			for (uint32_t i = 0; i < node_nkids(d); i++)
				kid_drop(node_kid(d, i), &dead);
		node_release(env, d);
	}
}

/* ---- the child index ---- */

static uint32_t kid_hash(const struct tree_env *env, const char *name,
                         size_t len)
{
	return (uint32_t)siphash24(&env->key, name, len);
}

/*
 * The hash of a child's name, computed once per node: the cache is a
 * pure function of the name and the store's key, so filling it in a
 * node shared by several versions changes nothing they can observe.
 */
static uint32_t node_name_hash(struct tree_env *env, struct node *k)
{
	env->kids_hashed++;
	if (!k->has_name_hash) {
		k->name_hash = kid_hash(env, node_name(k), k->name_len);
		k->has_name_hash = true;
	}
	return k->name_hash;
}

static void index_insert(struct tree_env *env, struct node *n, uint32_t pos)
{
	uint32_t *idx = kid_index(n);
	uint32_t mask = 2 * node_kids_hdr(n)->cap - 1;
	uint32_t h = node_name_hash(env, node_kid(n, pos)) & mask;

	while (idx[h])
		h = (h + 1) & mask;
	idx[h] = pos + 1;
}

static void index_rebuild(struct tree_env *env, struct node *n)
{
	uint32_t cap = node_kids_cap(n);

	memset(kid_index(n), 0, 2 * (size_t)cap * sizeof(uint32_t));
	for (uint32_t i = 0; i < node_kids_hdr(n)->n; i++)
		index_insert(env, n, i);
}

/*
 * Take the child at `pos` out of the index before it leaves the array:
 * backward-shift deletion keeps every probe chain whole, then one
 * sequential pass renumbers the positions above it.  A rebuild would
 * rehash nothing (the hashes are cached) but would read every child, a
 * cache miss each: in /local/domain of 10 000 domains, per domain
 * destroyed.
 */
static void index_remove(struct tree_env *env, struct node *n, uint32_t pos)
{
	uint32_t *idx = kid_index(n);
	uint32_t mask = 2 * node_kids_hdr(n)->cap - 1;
	uint32_t h = node_name_hash(env, node_kid(n, pos)) & mask, j, k;

	while (idx[h] != pos + 1)
		h = (h + 1) & mask;
	for (j = h;;) {
		j = (j + 1) & mask;
		if (!idx[j])
			break;
		k = node_name_hash(env, node_kid(n, idx[j] - 1)) & mask;
		/* Movable into the hole unless its home is in (h, j]. */
		if (j > h ? (k <= h || k > j) : (k <= h && k > j)) {
			idx[h] = idx[j];
			h = j;
		}
	}
	idx[h] = 0;
	for (j = 0; j <= mask; j++) /* branchless: it vectorizes */
		idx[j] -= idx[j] > pos + 1;
}

/* ---- the hashed table of a flat directory ---- */

/* Enter child `k` as the `pos`-th of `n`'s table (room made). */
static void table_insert(struct tree_env *env, struct node *n, uint32_t pos,
                         struct node *k)
{
	uintptr_t *t = table_of(n);
	uint32_t mask = 2 * node_kids_hdr(n)->cap - 1;
	uint32_t h = node_name_hash(env, k), i = h & mask;

	assert(((uintptr_t)k & KIDS_TAG_MASK) == 0);
	while (t[i])
		i = (i + 1) & mask;
	t[i] = (uintptr_t)k | hash_tag(h);
	order_of(n)[pos] = (uint8_t)i;
}

/* Refill the table of fresh block `n` from `nk` children of `from`. */
static void table_fill(struct tree_env *env, struct node *n,
                       const struct node *from, uint32_t nk)
{
	memset(table_of(n), 0,
	       2 * (size_t)node_kids_cap(n) * sizeof(uintptr_t));
	for (uint32_t i = 0; i < nk; i++)
		table_insert(env, n, i, node_kid(from, i));
}

/* The order index of the child at entry `e` of `n`'s table. */
static uint32_t table_index(const struct node *n, uint32_t e)
{
	const uint8_t *order = order_of(n);
	uint32_t i = 0;

	while (order[i] != e)
		i++;
	return i;
}

/*
 * Take child `pos` out of `n`'s table: backward-shift deletion keeps
 * every probe chain whole (an entry that moves has its order byte
 * follow), then the order closes up.
 */
static void table_remove(struct tree_env *env, struct node *n, uint32_t pos)
{
	uintptr_t *t = table_of(n);
	uint8_t *order = order_of(n);
	uint32_t mask = 2 * node_kids_hdr(n)->cap - 1;
	uint32_t nk = node_kids_hdr(n)->n;
	uint32_t h = order[pos], j, k;

	for (j = h;;) {
		j = (j + 1) & mask;
		if (!t[j])
			break;
		k = node_name_hash(env, entry_node(t[j])) & mask;
		/* Movable into the hole unless its home is in (h, j]. */
		if (j > h ? (k <= h || k > j) : (k <= h && k > j)) {
			t[h] = t[j];
			order[table_index(n, j)] = (uint8_t)h;
			h = j;
		}
	}
	t[h] = 0;
	memmove(order + pos, order + pos + 1, nk - pos - 1);
}

/* The entry of child `name` in a table of 2^bits entries, or -1. */
static inline long table_find(const struct tree_env *env, const uintptr_t *t,
                              unsigned int bits, const char *name, size_t len)
{
	uint32_t mask = (1u << bits) - 1;
	uint32_t h = kid_hash(env, name, len);
	uintptr_t tag = hash_tag(h);

	for (uint32_t i = h & mask; t[i]; i = (i + 1) & mask) {
		const struct node *k = entry_node(t[i]);

		if ((t[i] & KIDS_TAG_MASK) != tag)
			continue;
		/* The node's head (refs, value_len, gen, perms) may sit on
		 * the line before its name: fetch both at once, not the
		 * second after the first has missed. */
		__builtin_prefetch(k);
		if (k->name_len == len && !memcmp(k->data, name, len))
			return i;
	}
	return -1;
}

/* Where child `name` is in `n` (as a walk's pos[] says), or -1. */
static long kid_where(const struct tree_env *env, const struct node *n,
                      const char *name, size_t len)
{
	uint32_t cap;

	/* A table needs no look at the block's count. */
	if (n->kids_bits)
		return table_find(env, table_of(n), n->kids_bits, name, len);
	cap = node_kids_cap(n);
	if (cap <= INDEX_MIN) {
		for (uint32_t i = 0, nk = node_nkids(n); i < nk; i++) {
			const struct node *k = n->kids[i];

			if (k->name_len == len && !memcmp(k->data, name, len))
				return i;
		}
		return -1;
	}

	const uint32_t *idx = kid_index(n);
	uint32_t mask = 2 * cap - 1;
	uint32_t h = kid_hash(env, name, len) & mask;

	for (; idx[h]; h = (h + 1) & mask) {
		const struct node *k = node_kid(n, idx[h] - 1);

		if (k->name_len == len && !memcmp(k->data, name, len))
			return idx[h] - 1;
	}
	return -1;
}

/* The child at `where` (a walk's pos[]) of `n`. */
static inline struct node *kid_at(const struct node *n, uint32_t where)
{
	if (n->kids_bits)
		return entry_node(table_of(n)[where]);
	return node_kid(n, where);
}

uint32_t node_kid_index(const struct node *n, uint32_t where)
{
	return n->kids_bits ? table_index(n, where) : where;
}

long node_find_kid(const struct tree_env *env, const struct node *n,
                   const char *name, size_t len)
{
	long where = kid_where(env, n, name, len);

	return where < 0 ? -1 : (long)node_kid_index(n, (uint32_t)where);
}

struct node *node_find(const struct tree_env *env, const struct node *n,
                       const char *name, size_t len)
{
	long where = kid_where(env, n, name, len);

	return where < 0 ? NULL : kid_at(n, (uint32_t)where);
}

/* ---- large directories ---- */

static struct kids_chunk *chunk_new(struct tree_env *env)
{
	struct kids_chunk *c = xmalloc(sizeof(*c));

	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->refs = 1;
	env->nr_bytes += sizeof(*c);
	return c;
}

static struct kids_index *index_new(struct tree_env *env, uint32_t cap)
{
	struct kids_index *x = xmalloc(index_size(cap));

	if (!x)
		return NULL;
	x->refs = 1;
	memset(x->slot, 0, 2 * (size_t)cap * sizeof(uint32_t));
	env->nr_bytes += index_size(cap);
	return x;
}

/* A table of `cap` slots, no chunks, no index yet. */
static struct kids_big *big_new(struct tree_env *env, uint32_t cap)
{
	struct kids_big *b = xmalloc(big_size(cap));

	if (!b)
		return NULL;
	memset(b, 0, big_size(cap));
	b->refs = 1;
	b->h.cap = cap;
	env->nr_bytes += big_size(cap);
	return b;
}

/* Make the table of large `n` (unshared) its own: a shared one is
 * copied, sharing its chunks and index.  0 or -ENOMEM. */
static int big_own(struct tree_env *env, struct node *n)
{
	struct kids_big *b = big_of(n), *c;

	if (b->refs == 1)
		return 0;
	c = big_new(env, b->h.cap);
	if (!c)
		return -ENOMEM;
	c->h.n = b->h.n;
	c->idx = b->idx;
	c->idx->refs++;
	for (uint32_t i = 0; i < b->h.cap / KIDS_CHUNK; i++) {
		c->chunk[i] = b->chunk[i];
		if (c->chunk[i])
			c->chunk[i]->refs++;
	}
	b->refs--;
	n->kids = (struct node **)(void *)c->chunk;
	return 0;
}

/* Make chunk `ci` of own table of `n` its own.  0 or -ENOMEM. */
static int chunk_own(struct tree_env *env, struct node *n, uint32_t ci)
{
	struct kids_chunk **slot = &chunks_of(n)[ci], *c;

	if (!*slot)
		return 0;
	if ((*slot)->refs == 1)
		return 0;
	c = chunk_new(env);
	if (!c)
		return -ENOMEM;
	memcpy(c->slot, (*slot)->slot, sizeof(c->slot));
	for (uint32_t i = 0; i < KIDS_CHUNK && c->slot[i]; i++) {
		c->slot[i]->refs++;
		env->kids_copied++;
	}
	(*slot)->refs--;
	*slot = c;
	return 0;
}

/* Make the index of own table of `n` its own.  0 or -ENOMEM. */
static int index_own(struct tree_env *env, struct node *n)
{
	struct kids_big *b = big_of(n);
	struct kids_index *x;

	if (b->idx->refs == 1)
		return 0;
	x = xmalloc(index_size(b->h.cap));
	if (!x)
		return -ENOMEM;
	memcpy(x, b->idx, index_size(b->h.cap));
	x->refs = 1;
	env->nr_bytes += index_size(b->h.cap);
	b->idx->refs--;
	b->idx = x;
	return 0;
}

/*
 * Give unshared `n` a table of `cap` (> its slots, > KIDS_FLAT_MAX)
 * slots with its children, moved from its flat block or its own table,
 * and a new index.  0 or -ENOMEM (unchanged).
 */
static int big_grow(struct tree_env *env, struct node *n, uint32_t cap)
{
	uint32_t nk = node_nkids(n), nch = (nk + KIDS_CHUNK - 1) / KIDS_CHUNK;
	struct kids_big *b = big_new(env, cap);
	uint32_t i;

	if (!b)
		return -ENOMEM;
	b->h.n = nk;
	b->idx = index_new(env, cap);
	if (!b->idx)
		goto fail;
	if (is_big(n)) {
		struct kids_big *old = big_of(n);

		/* Own (big_own before): the chunks change hands. */
		memcpy(b->chunk, old->chunk,
		       old->h.cap / KIDS_CHUNK * sizeof(b->chunk[0]));
		index_drop(env, old->idx, old->h.cap);
		env->nr_bytes -= big_size(old->h.cap);
		xfree(old);
	} else {
		for (i = 0; i < nch; i++) {
			b->chunk[i] = chunk_new(env);
			if (!b->chunk[i])
				goto fail;
		}
		for (i = 0; i < nk; i++)
			b->chunk[i / KIDS_CHUNK]->slot[i % KIDS_CHUNK] =
			    node_kid(n, i);
		if (n->kids) {
			env->nr_bytes -= kids_alloc_size(node_kids_cap(n));
			xfree(node_kids_hdr(n));
		}
	}
	n->kids = (struct node **)(void *)b->chunk;
	n->kids_bits = 0;
	index_rebuild(env, n);
	return 0;
fail:
	/* Nothing moved yet: the chunks are empty. */
	for (i = 0; i < cap / KIDS_CHUNK; i++)
		chunk_drop(env, b->chunk[i], NULL);
	if (b->idx)
		index_drop(env, b->idx, cap);
	env->nr_bytes -= big_size(cap);
	xfree(b);
	return -ENOMEM;
}

/* Make slot `pos` of unshared `n` writable: a large directory's table
 * and the chunk holding it become its own.  0 or -ENOMEM. */
static int own_slot(struct tree_env *env, struct node *n, uint32_t pos)
{
	int err;

	/* A table is never large: no need to read its count (a cache
	 * miss per level of every write in a large store). */
	if (n->kids_bits || !is_big(n))
		return 0;
	err = big_own(env, n);
	return err ? err : chunk_own(env, n, pos / KIDS_CHUNK);
}

static int reserve_big(struct tree_env *env, struct node *n)
{
	uint32_t nk = node_nkids(n), ci = nk / KIDS_CHUNK;
	int err = big_own(env, n);

	if (err)
		return err;
	if (nk == node_kids_cap(n)) {
		if (nk >= (UINT32_MAX >> 4))
			return -ENOMEM;
		err = big_grow(env, n, 2 * nk);
	} else {
		err = index_own(env, n);
	}
	if (err)
		return err;
	if (!chunks_of(n)[ci]) {
		chunks_of(n)[ci] = chunk_new(env);
		return chunks_of(n)[ci] ? 0 : -ENOMEM;
	}
	return chunk_own(env, n, ci);
}

int node_reserve_kid(struct tree_env *env, struct node *n)
{
	uint32_t nk = node_nkids(n), old = node_kids_cap(n), cap;
	struct kids_hdr *h;

	if (old > KIDS_FLAT_MAX)
		return reserve_big(env, n);
	if (nk < old)
		return 0;
	cap = old ? 2 * old : 4;
	if (cap > KIDS_FLAT_MAX) {
		int err = big_grow(env, n, cap);

		return err ? err : reserve_big(env, n);
	}
	h = xmalloc(kids_alloc_size(cap));
	if (!h)
		return -ENOMEM;
	h->n = nk;
	h->cap = cap;
	if (cap <= INDEX_MIN) {
		if (nk)
			memcpy(h + 1, n->kids, nk * sizeof(*n->kids));
	} else {
		/* The new block as a node's, to fill it from the old. */
		struct node tmp = {.kids = (struct node **)(void *)(h + 1)};

		table_fill(env, &tmp, n, nk);
	}
	env->nr_bytes +=
	    kids_alloc_size(cap) - (old ? kids_alloc_size(old) : 0);
	if (n->kids)
		xfree(node_kids_hdr(n));
	n->kids = (struct node **)(void *)(h + 1);
	n->kids_bits = (uint8_t)(cap > INDEX_MIN ? log2_of(2 * cap) : 0);
	return 0;
}

void node_add_kid(struct tree_env *env, struct node *n, struct node *kid)
{
	uint32_t pos = node_kids_hdr(n)->n++;

	if (is_table(n)) {
		table_insert(env, n, pos, kid);
	} else {
		set_kid(n, pos, kid);
		if (is_big(n))
			index_insert(env, n, pos);
	}
}

int node_reserve_remove(struct tree_env *env, struct node *n, uint32_t pos)
{
	uint32_t last = (node_nkids(n) - 1) / KIDS_CHUNK;
	int err;

	if (!is_big(n))
		return 0;
	err = big_own(env, n);
	if (!err)
		err = index_own(env, n);
	for (uint32_t ci = pos / KIDS_CHUNK; !err && ci <= last; ci++)
		err = chunk_own(env, n, ci);
	return err;
}

struct node *node_remove_kid(struct tree_env *env, struct node *n, uint32_t pos)
{
	struct node *kid = node_kid(n, pos);
	uint32_t nk = node_nkids(n);

	if (is_table(n)) {
		table_remove(env, n, pos);
	} else if (!is_big(n)) {
		memmove(n->kids + pos, n->kids + pos + 1,
		        (nk - pos - 1) * sizeof(n->kids[0]));
	} else {
		struct kids_chunk **ch = chunks_of(n);

		index_remove(env, n, pos);
		/* Shift chunk by chunk: each takes the next one's first. */
		for (uint32_t ci = pos / KIDS_CHUNK, at = pos % KIDS_CHUNK;
		     ci <= (nk - 1) / KIDS_CHUNK; ci++, at = 0) {
			struct node **sl = ch[ci]->slot;

			memmove(sl + at, sl + at + 1,
			        (KIDS_CHUNK - at - 1) * sizeof(sl[0]));
			sl[KIDS_CHUNK - 1] =
			    ci + 1 < node_kids_cap(n) / KIDS_CHUNK && ch[ci + 1]
			        ? ch[ci + 1]->slot[0]
			        : NULL;
		}
		set_kid(n, nk - 1, NULL);
	}
	node_kids_hdr(n)->n--;
	return kid;
}

/* A copy of `n` with one reference, sharing its children (a large
 * directory: its very table). */
static struct node *node_clone(struct tree_env *env, const struct node *n)
{
	struct node *c = node_new(env, node_name(n), n->name_len, node_value(n),
	                          n->value_len, n->perms);

	if (!c)
		return NULL;
	c->gen = n->gen;
	c->has_name_hash = n->has_name_hash;
	c->name_hash = n->name_hash;
	c->kids_bits = n->kids_bits;
	if (is_big(n)) {
		big_of(n)->refs++;
		c->kids = n->kids;
	} else if (n->kids) {
		size_t sz = kids_alloc_size(node_kids_hdr(n)->cap);
		struct kids_hdr *h = xmalloc(sz);

		if (!h) {
			node_release(env, c);
			return NULL;
		}
		memcpy(h, node_kids_hdr(n), sz);
		c->kids = (struct node **)(void *)(h + 1);
		env->nr_bytes += sz;
		env->kids_copied += h->n;
		for (uint32_t i = 0; i < h->n; i++)
			node_kid(c, i)->refs++;
	}
	return c;
}

size_t node_size(const struct node *n)
{
	size_t sz = NODE_HDR_SIZE + n->perms->n * PERM_REC_SIZE + n->value_len;

	for (uint32_t i = 0, nk = node_nkids(n); i < nk; i++)
		sz += node_kid(n, i)->name_len + 1u;
	return sz;
}

/* ---- walks ---- */

int walk_init(struct walk *w)
{
	memset(w, 0, sizeof(*w));
	return 0;
}

void walk_fini(struct walk *w)
{
	xfree(w->nodes);
	xfree(w->pos);
	xfree(w->comp);
	xfree(w->comp_len);
	memset(w, 0, sizeof(*w));
}

static int walk_grow(struct walk *w, unsigned int need)
{
	unsigned int cap = w->cap ? w->cap : 16;
	struct node **nodes;
	uint32_t *pos;
	const char **comp;
	uint16_t *comp_len;

	while (cap < need)
		cap *= 2;
	nodes = xrealloc_array(w->nodes, cap, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	w->nodes = nodes;
	pos = xrealloc_array(w->pos, cap, sizeof(*pos));
	if (!pos)
		return -ENOMEM;
	w->pos = pos;
	comp = xrealloc_array(w->comp, cap, sizeof(*comp));
	if (!comp)
		return -ENOMEM;
	w->comp = comp;
	comp_len = xrealloc_array(w->comp_len, cap, sizeof(*comp_len));
	if (!comp_len)
		return -ENOMEM;
	w->comp_len = comp_len;
	w->cap = cap;
	return 0;
}

int tree_walk(const struct tree_env *env, struct node *root, const char *path,
              struct walk *w)
{
	unsigned int d = 0;
	const char *p = path + 1; /* skip the leading '/' */

	/* Split into components; slot i+1 describes component i+1. */
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (d + 2 > w->cap && walk_grow(w, d + 2))
			return -ENOMEM;
		d++;
		w->comp[d] = p;
		w->comp_len[d] = (uint16_t)len;
		p += len;
		if (*p == '/')
			p++;
	}
	if (w->cap < 2 && walk_grow(w, 2))
		return -ENOMEM;
	w->depth = d;
	w->nodes[0] = root;
	w->pos[0] = 0;
	w->found = 0;
	for (unsigned int i = 1; i <= d; i++) {
		long pos =
		    kid_where(env, w->nodes[i - 1], w->comp[i], w->comp_len[i]);

		if (pos < 0)
			break;
		w->pos[i] = (uint32_t)pos;
		w->nodes[i] = kid_at(w->nodes[i - 1], (uint32_t)pos);
		w->found = i;
	}
	return 0;
}

struct node *tree_lookup(const struct tree_env *env, struct node *root,
                         const char *path, struct node **nearest)
{
	struct node *n = root;
	const char *p = path + 1;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		struct node *k = node_find(env, n, p, len);

		if (!k) {
			if (nearest)
				*nearest = n;
			return NULL;
		}
		n = k;
		p += len;
		if (*p == '/')
			p++;
	}
	if (nearest)
		*nearest = n;
	return n;
}

/* ---- copy-on-write ---- */

static void relink(struct node **rootp, struct walk *w, unsigned int i,
                   struct node *n)
{
	if (i == 0)
		*rootp = n;
	else
		set_kid(w->nodes[i - 1], w->pos[i], n);
	w->nodes[i] = n;
}

int tree_unshare(struct tree_env *env, struct node **rootp, struct walk *w,
                 unsigned int upto)
{
	for (unsigned int i = 0; i <= upto; i++) {
		struct node *n = w->nodes[i];
		struct node *c;

		/* The parent is its own now; its slot for `n` must be too
		 * before n->refs says whether another version sees `n`. */
		if (i > 0) {
			int err = own_slot(env, w->nodes[i - 1], w->pos[i]);

			if (err)
				return err;
		}
		if (n->refs == 1)
			continue;
		c = node_clone(env, n);
		if (!c)
			return -ENOMEM;
		/* The parent (already unshared) drops its reference. */
		n->refs--;
		relink(rootp, w, i, c);
	}
	return 0;
}

int node_set_value(struct tree_env *env, struct node **rootp, struct walk *w,
                   unsigned int i, const void *value, size_t len, uint64_t gen)
{
	struct node *old = w->nodes[i];
	struct node *n;

	/* Same length (XenBus states, flags, counters): overwrite in place,
	 * no allocation.  Only one version holds the node (refs == 1, as
	 * the caller unshared it), so no snapshot can see the change. */
	if (old->refs == 1 && old->value_len == len) {
		memmove(old->data + old->name_len + 1, value, len);
		old->gen = gen;
		return 0;
	}
	n = node_new(env, node_name(old), old->name_len, value, len,
	             old->perms);
	if (!n)
		return -ENOMEM;
	n->gen = gen;
	n->kids = old->kids;
	n->kids_bits = old->kids_bits;
	old->kids = NULL;
	relink(rootp, w, i, n);
	/* old->kids is NULL now: the children's bytes stay counted once. */
	node_release(env, old);
	return 0;
}
