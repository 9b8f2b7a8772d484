/*
 * store_int.h - what the store's modules share: store.c (operations:
 * checks), mutate.c (tree mutations, accounting, events), apply.c
 * (change sets, records), txn.c (transactions), forget.c, dump.c.
 * Not for use outside store/.
 */
#ifndef XSTORE_STORE_INT_H
#define XSTORE_STORE_INT_H

#include "store/store.h"
#include "store/tree.h"
#include "xstore/wire.h"

#define NR_DOMIDS (XS_DOMID_MAX + 1u)

/* The removal traversal's stack: a path has at most this many
 * components. */
#define RM_STACK_CAP (XS_ABS_PATH_MAX / 2 + 2)

/*
 * Nodes and bytes each domain owns, in pages of 256 domids allocated on
 * first use: a store costs kilobytes, not the 768 KiB of flat arrays for
 * every possible domid, and checks scale with the domains that exist.
 */
#define ACCT_PAGE  256u
#define ACCT_PAGES (NR_DOMIDS / ACCT_PAGE)

struct acct_page {
	uint32_t nodes[ACCT_PAGE];
	uint64_t bytes[ACCT_PAGE];
};

/* One change buffered during a commit's replay, emitted on success. */
struct evbuf {
	struct evbuf *next;
	unsigned int seq; /* position in the replay, for deduplication */
	bool is_dup;
	bool is_exact;
	bool is_removal;
	struct nperms *perms;
	struct nperms *old_perms;
	char path[];
};

/* Owner accounting buffered during a commit's replay. */
struct acct_delta {
	uint16_t domid;
	long delta; /* nodes */
	long bytes;
};

/* Where an operation applies, and how. */
struct view {
	struct node **rootp;
	struct txn *txn;  /* recording reads/writes; NULL on the main tree */
	bool skip_checks; /* commit replay: rights were checked already */
	bool is_replay;   /* buffer events and accounting (a staged set) */
	bool is_quiet;    /* no events at all (store_replay) */
	bool is_commit;   /* events take the committed perms (store.c) */
};

/*
 * One node-level change of a change set (apply.c), as store_apply
 * applies it and a record carries it.  WRITE: the node gets `value` and
 * `perms`, missing ancestors are created empty with `perms` too.  PERMS:
 * the existing node gets `perms`.  DEL: the node and everything below it
 * go.  SPECIAL: "@introduceDomain"/"@releaseDomain" get `perms`.  The
 * pointers are borrowed for the duration of the call.
 */
enum change_kind {
	CHANGE_WRITE = 1,
	CHANGE_PERMS = 2,
	CHANGE_DEL = 3,
	CHANGE_SPECIAL = 4,
};

struct change {
	enum change_kind kind;
	bool is_silent;    /* fires no event (forget's stripping) */
	const char *path;  /* nul-terminated */
	const void *value; /* WRITE */
	size_t value_len;
	struct nperms *perms; /* WRITE, PERMS, SPECIAL */
};

/* The recorded operations of a transaction, replayed at commit. */
enum txn_op_kind { TXN_WRITE, TXN_MKDIR, TXN_RM, TXN_SET_PERMS };

struct txn_op {
	struct txn_op *next;
	enum txn_op_kind kind;
	size_t path_len;
	size_t data_len; /* value bytes, or perm entries */
	char *path;      /* into buf */
	void *data;      /* into buf */
	char buf[];
};

/*
 * What of a path a transaction's result depends on (txn.c), as the
 * snapshot has it: TXN_SEEN_NODE alone on an absent node is its absence.
 */
#define TXN_SEEN_NODE  0x1u /* present or absent */
#define TXN_SEEN_VALUE 0x2u
#define TXN_SEEN_PERMS 0x4u
#define TXN_SEEN_KIDS  0x8u /* the child list, names in order */

/* A path the transaction touched; `snap` is borrowed from `base`. */
struct touched {
	char *path;
	union {
		const struct node
		    *snap; /* the snapshot's node there, or NULL */
		/* Its generation (0: absent), once a commit has let go of
		 * `base` (txn_let_go). */
		uint64_t snap_gen;
	};
	uint32_t hash;
	unsigned int seen; /* TXN_SEEN_* */
	bool is_removed;   /* the transaction removed it (txn_removed) */
};

struct txn {
	const struct siphash_key *key; /* the store's, for the touched set */
	const struct tree_env *env;    /* the store's, to look into `base` */
	struct node *base;             /* snapshot at start (reference) */
	struct node *root; /* the transaction's own version (reference) */
	/* Committing: `base` and `root` were let go before the replay, and
	 * whether the main tree was still `base` then. */
	bool is_let_go;
	bool was_base_current;
	struct store_caller caller;
	struct quota_set quota; /* copy: caller.quota points here */
	bool has_quota;
	long own_delta; /* nodes the caller gained, for the nodes quota */
	long own_bytes; /* and their bytes, for the memory quota */
	struct touched *touched; /* open-addressing set */
	uint32_t touched_cap;
	uint32_t nr_touched;
	uint32_t nr_removed; /* touched entries with is_removed */
	struct txn_op *ops, *ops_tail;
	unsigned int nr_ops;
	size_t mem; /* bytes of its op log and touched set (store_txn_mem) */
	int error;  /* sticky -ENOMEM from recording: the commit fails */
	int *quota_hit; /* the store's, to say which quota refused */
};

struct store {
	struct tree_env env;
	struct node *root;
	struct walk walk; /* scratch for one operation */
	store_event_cb *event_cb;
	void *event_opaque;
	struct nperms *special_perms[2]; /* @introduceDomain, @releaseDomain */
	/* Per owning domain: nodes, and their node_mem() (acct_reserve
	 * makes a domain's page before anything is charged to it). */
	struct acct_page *acct_pages[ACCT_PAGES];
	unsigned int open_txns;
	/* Removal traversal: preallocated so that RM cannot fail half-way. */
	struct node **rm_stack;
	uint32_t *rm_pos;
	char *rm_path;
	/* Commit replay buffers. */
	struct evbuf *ev_head, *ev_tail;
	unsigned int nr_ev;
	/* Room to sort them, grown with the list so that the commit's
	 * deduplication needs no allocation after the point of no return. */
	struct evbuf **ev_vec;
	unsigned int ev_cap;
	struct acct_delta *acct;
	unsigned int nr_acct, acct_cap;
	int replay_error;
	int quota_hit;              /* see store_quota_hit */
	unsigned int txn_blind;     /* TXN_SEEN_* commits ignore: tests only */
	unsigned int txn_dump_drop; /* TXN_DUMP_DROP_*: tests only */
	uint64_t forget_walked; /* nodes forget's survey looked at (tests) */
	/* The change set being applied (apply.c). */
	store_record_cb *record_cb;
	void *record_opaque;
	unsigned char *rec; /* its record, when record_cb is set */
	size_t rec_len, rec_cap;
	uint32_t rec_changes;
	struct node *stage_root;          /* a staged set's private root */
	struct nperms *staged_special[2]; /* SPECIAL changes of a staged set */
	bool is_recording; /* this set's record is being encoded */
	/* store_replay: the permissions of the last change replayed, for
	 * the next change with the same ones to share (a journal replays
	 * a million nodes with a handful of distinct permissions). */
	struct nperms *replay_perms;
};

/*
 * path_pop - cut the last component (of `name_len` bytes) off the path
 * of `*len` bytes in `buf`, as a subtree walk climbs back to a parent.
 */
static inline void path_pop(char *buf, size_t *len, size_t name_len)
{
	*len -= name_len;
	if (*len > 1)
		(*len)--; /* the '/' before it, except under the root */
	buf[*len] = '\0';
}

/* next_gen - a new generation: the counter only grows. */
static inline uint64_t next_gen(struct store *s)
{
	return ++s->env.gen;
}

/* store.c */
int acct_reserve(struct store *s, unsigned int domid);
void acct_apply(struct store *s, unsigned int domid, long nodes, long bytes);
int store_op_write(struct store *s, struct view *v,
                   const struct store_caller *c, const char *path,
                   const void *value, size_t len, bool is_mkdir);
int store_op_rm(struct store *s, struct view *v, const struct store_caller *c,
                const char *path);
int store_op_set_perms(struct store *s, struct view *v,
                       const struct store_caller *c, const char *path,
                       const struct perm_entry *e, unsigned int n);
/* store_special_index - 0 for "@introduceDomain", 1 for
 * "@releaseDomain", else -1. */
int store_special_index(const char *path);

/* apply.c: a change set on the main tree is apply_begin, any number of
 * apply_change (each checked by its caller, or by store_replay), then
 * apply_end, which alone swaps the root, fires the buffered events and
 * emits the record.  `v` must stay the same view throughout. */
#define APPLY_STAGED 0x1u /* several changes: on a private root */
#define APPLY_COMMIT 0x2u /* a commit's events (committed perms) */
#define APPLY_QUIET  0x4u /* no events, no record (store_replay) */
int apply_begin_slow(struct store *s, struct view *v, unsigned int flags);
int apply_end_slow(struct store *s, struct view *v, int err);
/* `is_walked`: s->walk holds `ch->path` on *v->rootp already. */
int apply_change(struct store *s, struct view *v, const struct change *ch,
                 bool is_walked);

/* The common case inline: one change, no record (the write loop's). */
static inline int apply_begin(struct store *s, struct view *v,
                              unsigned int flags)
{
	if (!(flags & APPLY_STAGED) && !s->record_cb) {
		v->is_quiet = flags & APPLY_QUIET;
		v->is_commit = false;
		s->is_recording = false;
		return 0;
	}
	return apply_begin_slow(s, v, flags);
}

static inline int apply_end(struct store *s, struct view *v, int err)
{
	if (!v->is_replay && !s->is_recording)
		return err;
	return apply_end_slow(s, v, err);
}

/* mutate.c: the tree mutations themselves, on the main tree (through
 * apply_change) or on a transaction's own tree.  Each is atomic: 0, or
 * an error and nothing a reader can see changed. */
int apply_write(struct store *s, struct view *v, const struct change *ch,
                bool is_walked);
int apply_perms(struct store *s, struct view *v, const struct change *ch,
                bool is_walked);
int apply_del(struct store *s, struct view *v, const struct change *ch,
              bool is_walked);
/* `before`: the main tree's root before a commit's replay (the events'
 * permissions are then taken from the committed result), or NULL. */
void store_flush_events(struct store *s, bool emit, struct node *before);

/* txn.c */
/*
 * txn_observe - record that an operation of `t`, about to run on its own
 * version, depends on the prefixes of `path` ending at components `from`
 * to `to` (0 is "/"; stops at the end of the path): `seen_last`
 * (TXN_SEEN_*) of the one at `to`, `seen_above` of the others, as far
 * as the transaction's version still shows them as the snapshot does.
 * Every prefix counts in the touched set, observed or not.  0, -ENOSPC
 * (transaction-nodes quota; this operation fails) or -ENOMEM (sticky:
 * the commit will fail).
 */
int txn_observe(struct txn *t, const char *path, unsigned int from,
                unsigned int to, unsigned int seen_last,
                unsigned int seen_above);
/* txn_removed - `path`, observed, was removed from the transaction's
 * version: what it sees at and below it is now its own doing. */
void txn_removed(struct txn *t, const char *path);
/*
 * txn_test_blind - make every later commit of `s` ignore the aspects
 * `seen` (TXN_SEEN_*) of what transactions observed: a deliberately
 * broken validation, for tests/unit/test_serial.c to show that its
 * checker catches one.  0 restores the rule.  Never used by the daemon.
 */
void txn_test_blind(struct store *s, unsigned int seen);
/*
 * txn_touch_restore - put `path` (`len` bytes, nul-terminated there) in
 * the touched set of `t`, being rebuilt by store_txn_load (txn_dump.c),
 * with aspects `seen` and `is_removed`; its snapshot node is looked up
 * in t->base.  0, -EINVAL (already there) or -ENOMEM.
 */
int txn_touch_restore(struct txn *t, const char *path, size_t len,
                      unsigned int seen, bool is_removed);
/*
 * txn_dump_test_drop - make store_txn_save leave out `what`
 * (TXN_DUMP_DROP_TOUCHED: the touched set, so what the transaction
 * observed): a deliberately broken image, for tests/unit/test_txn_dump.c
 * to show that it catches one.  0 restores it.  Never used by the daemon.
 */
#define TXN_DUMP_DROP_TOUCHED 0x1u
void txn_dump_test_drop(struct store *s, unsigned int what);
void txn_record(struct txn *t, enum txn_op_kind kind, const char *path,
                const void *data, size_t data_len);
void txn_free(struct store *s, struct txn *t);

#endif
