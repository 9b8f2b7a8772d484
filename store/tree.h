/*
 * tree.h - the node tree: a persistent (copy-on-write) tree of
 * reference-counted nodes.  Internal to store/.
 *
 * A version of the whole store is a pointer to a root node.  Versions
 * share every node they have in common, so a transaction's snapshot costs
 * one reference, not a copy.  A node with one reference belongs to exactly
 * one version and may be changed in place (once the chunk that holds it
 * in a large directory is the version's own too: tree_unshare sees to
 * both); a shared node is copied first (tree_unshare), which is how the
 * main tree stays fast when no snapshot is open.  Nothing here
 * recurses: the depth of a path is chosen by guests.
 */
#ifndef XSTORE_TREE_H
#define XSTORE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"
#include "store/perm.h"

/* A node's permissions: immutable once made, shared by reference. */
struct nperms {
	uint32_t refs;
	uint16_t n; /* >= 1; e[0] is the owner */
	struct perm_entry e[];
};

struct node {
	uint32_t refs;
	uint32_t value_len;
	union {
		uint64_t gen;           /* while alive: changes with content */
		struct node *next_dead; /* while being freed */
	};
	struct nperms *perms;
	/* Children in insertion order, or NULL for none; read them with
	 * node_kid().  Up to KIDS_FLAT_MAX slots: a block owned by the node
	 * that starts with their count and capacity (struct kids_hdr, just
	 * before what kids points at: node_nkids), then up to KIDS_INDEX_MIN
	 * slots, or else the hashed table of the children (tree.c) and
	 * their order.  Beyond: the chunk table of a large directory
	 * (tree.c), shared between versions.  A leaf, most nodes, carries
	 * no count: 40 bytes of header, not 48, which with the allocator's
	 * 16-byte steps is 16 bytes per leaf. */
	struct node **kids;
	uint16_t name_len;
	/* The child-index hash of the name (the store's key), cached by
	 * tree.c once computed, so that rebuilding a directory's index
	 * (growth, removal) hashes no existing child again.  Every child
	 * of an indexed directory has it; it fits in what was padding. */
	bool has_name_hash;
	/* log2 of the hashed table's entries when kids is one, else 0: a
	 * lookup finds its entry without reading the block's count, a
	 * cache line fewer per level of a path in a large store. */
	uint8_t kids_bits;
	uint32_t name_hash;
	char data[]; /* name, nul, value, nul */
};

/* Per-store context of tree operations. */
struct tree_env {
	struct siphash_key key; /* keys the child indexes */
	uint64_t gen;           /* last generation handed out */
	uint64_t nr_nodes;      /* nodes alive, all versions (memreport) */
	uint64_t nr_bytes;      /* bytes of node memory (memreport) */
	/* Per domid, the entries naming it (after the owner's) in the
	 * permissions of the nodes alive: tree_names_domid.  NULL until a
	 * list names anyone; is_naming_lost if it could not be made. */
	uint32_t *naming;
	bool is_naming_lost;
	uint64_t kids_hashed; /* children the index rehashed (tests) */
	uint64_t kids_copied; /* child references copies took (tests) */
};

/* The count and capacity of a children block, just before its slots. */
struct kids_hdr {
	uint32_t n;
	uint32_t cap;
};

static inline struct kids_hdr *node_kids_hdr(const struct node *n)
{
	return (struct kids_hdr *)(void *)n->kids - 1;
}

/* node_nkids - the number of children of `n`. */
static inline uint32_t node_nkids(const struct node *n)
{
	return n->kids ? node_kids_hdr(n)->n : 0;
}

/* node_kids_cap - the slots of its children block (0: none). */
static inline uint32_t node_kids_cap(const struct node *n)
{
	return n->kids ? node_kids_hdr(n)->cap : 0;
}

/*
 * A directory of more than KIDS_FLAT_MAX slots keeps its children in
 * chunks of KIDS_CHUNK, reference-counted, behind a table that is itself
 * shared by the versions of the directory (tree.c): copying such a
 * directory (copy-on-write) shares the table, and changing one child
 * copies the table and one chunk, not a reference to every child.
 */
#define KIDS_FLAT_MAX  128u
#define KIDS_CHUNK     64u
#define KIDS_INDEX_MIN 8u /* up to this many slots, a plain scanned array */

/*
 * Between KIDS_INDEX_MIN and KIDS_FLAT_MAX slots, kids points at an
 * open-addressing table of 2 * cap entries that hold the children
 * themselves, each pointer carrying KIDS_TAG_MASK bits of its name's
 * hash (nodes are malloc'd: at least 8-aligned), followed by cap bytes:
 * the table entry of each child, in order.  A lookup then reads one
 * entry and the child, not an index, then a slot, then the child.
 */
#define KIDS_TAG_MASK ((uintptr_t)7)

struct kids_chunk {
	uint32_t refs;
	struct node *slot[KIDS_CHUNK]; /* NULL past the last child */
};

/* node_kid - child `i` (< node_nkids) of `n`. */
static inline struct node *node_kid(const struct node *n, uint32_t i)
{
	uint32_t cap = node_kids_hdr(n)->cap;
	struct kids_chunk *const *ch;

	if (cap <= KIDS_INDEX_MIN)
		return n->kids[i];
	if (cap <= KIDS_FLAT_MAX) {
		const uintptr_t *t = (const uintptr_t *)(const void *)n->kids;
		const uint8_t *order = (const uint8_t *)(t + 2 * cap);

		return (struct node *)(t[order[i]] & ~KIDS_TAG_MASK);
	}
	ch = (struct kids_chunk *const *)(const void *)n->kids;
	return ch[i / KIDS_CHUNK]->slot[i % KIDS_CHUNK];
}

/* node_same_kids_block - do `a` and `b` share one list of children (so
 * hold the same children in the same order)? */
static inline bool node_same_kids_block(const struct node *a,
                                        const struct node *b)
{
	return a->kids && a->kids == b->kids;
}

static inline const char *node_name(const struct node *n)
{
	return n->data;
}

static inline const char *node_value(const struct node *n)
{
	return n->data + n->name_len + 1;
}

/*
 * node_mem_of - the bytes charged to a node's owner for the memory quota:
 * its record, name, value and permission entries.
 */
static inline size_t node_mem_of(size_t name_len, size_t value_len,
                                 unsigned int nperms)
{
	return 48u + name_len + value_len + 2u + 4u * nperms;
}

/* node_owner - the domain charged for the node. */
static inline unsigned int node_owner(const struct node *n)
{
	return n->perms->e[0].domid;
}

/* nperms_new - permissions with `n` entries copied from `e`; NULL: ENOMEM */
struct nperms *nperms_new(const struct perm_entry *e, unsigned int n);
void nperms_ref(struct nperms *p);
void nperms_unref(struct nperms *p);
/*
 * tree_names_domid - may a node of any version name `domid` in its
 * permissions after the owner (false: certainly none does)?
 * node_perms_replaced - keep that census when a node's permissions are
 * replaced in place (node_new and the last node_unref keep it
 * otherwise).  tree_env_fini - free what the census holds.
 */
bool tree_names_domid(const struct tree_env *env, unsigned int domid);
void node_perms_replaced(struct tree_env *env, const struct nperms *old,
                         const struct nperms *now);
void tree_env_fini(struct tree_env *env);
bool nperms_equal(const struct nperms *a, const struct nperms *b);

/*
 * node_new - a detached node with one reference, no children.  `name`
 * of `name_len` bytes, `value` of `value_len` bytes (copied), `perms`
 * referenced.  NULL on ENOMEM.
 */
struct node *node_new(struct tree_env *env, const char *name, size_t name_len,
                      const void *value, size_t value_len,
                      struct nperms *perms);

/* node_ref / node_unref - the last unref frees the node and, without
 * recursion, every node only it held. */
void node_ref(struct node *n);
void node_unref(struct tree_env *env, struct node *n);

/*
 * node_find_kid - the position of child `name` (`len` bytes) of `n`, or
 * -1.  O(1) expected for large directories (keyed hash index), a short
 * scan for small ones; a hashed table finds the child in O(1) and its
 * position in its order bytes (node_find skips that).
 */
long node_find_kid(const struct tree_env *env, const struct node *n,
                   const char *name, size_t len);

/*
 * node_find - child `name` (`len` bytes) of `n`, or NULL: node_find_kid
 * without the position, which a hashed table has to search its order
 * for.
 */
struct node *node_find(const struct tree_env *env, const struct node *n,
                       const char *name, size_t len);

/*
 * tree_lookup - the node at absolute path `path` (validated) under
 * `root`, or NULL.  `*depth_found` (if not NULL) gets the number of
 * components that exist, and `*nearest` the deepest existing node on the
 * way (the node itself when found).
 */
struct node *tree_lookup(const struct tree_env *env, struct node *root,
                         const char *path, struct node **nearest);

/*
 * A walk records the chain of nodes from the root to a path's deepest
 * existing node, so that a mutation can change them in place after
 * tree_unshare.  nodes[0] is the root; pos[i] is where nodes[i] is in
 * nodes[i-1]: its index among the children, except in a hashed table,
 * where it is its entry (node_kid_index converts).  `comp`/`comp_len`
 * give the start and length of each path component (component i+1 is
 * nodes[i+1]'s name).
 */
struct walk {
	unsigned int depth; /* components in the path */
	unsigned int found; /* components that exist (nodes[0..found]) */
	unsigned int cap;
	struct node **nodes;
	uint32_t *pos;
	const char **comp;
	uint16_t *comp_len;
};

/* walk_init / walk_fini - scratch space, reused across operations. */
int walk_init(struct walk *w);
void walk_fini(struct walk *w);

/*
 * tree_walk - fill `w` for absolute path `path` under `root`.  Returns 0
 * or -ENOMEM (scratch growth).  w->found == w->depth means the node
 * exists: w->nodes[w->depth].
 */
int tree_walk(const struct tree_env *env, struct node *root, const char *path,
              struct walk *w);

/*
 * tree_unshare - make nodes[0..upto] of a walk exclusively owned by the
 * version `*rootp`, copying shared ones and relinking the copies (the
 * root copy replaces *rootp).  Copies have the same content and
 * generation, so a failure part-way leaves the tree's meaning unchanged.
 * Returns 0 or -ENOMEM.
 */
int tree_unshare(struct tree_env *env, struct node **rootp, struct walk *w,
                 unsigned int upto);

/*
 * node_set_value - give unshared node nodes[i] of a walk a new value:
 * a value of the same length is written over the old one; otherwise the
 * node is replaced by a new allocation (relinked in its parent, or
 * *rootp), so callers must re-read w->nodes[i].  Its generation becomes
 * `gen`.  0 or -ENOMEM (unchanged).
 */
int node_set_value(struct tree_env *env, struct node **rootp, struct walk *w,
                   unsigned int i, const void *value, size_t len, uint64_t gen);

/*
 * node_reserve_kid - make room for one more child in unshared node `n`
 * (so that node_add_kid cannot fail).  0 or -ENOMEM.
 */
int node_reserve_kid(struct tree_env *env, struct node *n);

/* node_add_kid - append `kid` (reference taken over) to unshared `n`,
 * which has room (node_reserve_kid). */
void node_add_kid(struct tree_env *env, struct node *n, struct node *kid);

/* node_kid_index - the index among the children of `n` of the child
 * that a walk's pos[] places at `where` in it. */
uint32_t node_kid_index(const struct node *n, uint32_t where);

/*
 * node_reserve_remove - make ready the removal of child `pos` of
 * unshared `n` (so that node_remove_kid cannot fail): the parts of a
 * large directory that other versions share are copied.  0 or -ENOMEM
 * (nothing a reader can see changed).
 */
int node_reserve_remove(struct tree_env *env, struct node *n, uint32_t pos);

/*
 * node_remove_kid - detach child at `pos` of unshared `n`, made ready by
 * node_reserve_remove, and return it (the caller owns the reference).
 * Keeps the order of the rest.
 */
struct node *node_remove_kid(struct tree_env *env, struct node *n,
                             uint32_t pos);

static inline size_t node_mem(const struct node *n)
{
	return node_mem_of(n->name_len, n->value_len, n->perms->n);
}

/* node_size - Xen's accounting size of a node (node-size quota): record
 * header, permissions, value and child names. */
size_t node_size(const struct node *n);

#endif
