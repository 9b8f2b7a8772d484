/*
 * store.h - the XenStore data model: a tree of nodes with values and
 * permissions, read and changed by callers with a domain identity,
 * directly or inside transactions.
 *
 * The store knows nothing of connections, sockets or the wire: callers
 * pass validated absolute paths (store/path.h) and who they are; changes
 * leave through one event callback (for watches) and one record callback
 * (for the journal).  Every mutation of the main tree - a direct WRITE,
 * MKDIR, RM or SET_PERMS, a transaction's commit, store_forget_domain -
 * is one change set applied by store/apply.c, the single place that
 * changes the main tree and emits a record (see "Records" below).
 *
 * Not thread-safe: one store belongs to one thread.
 *
 * Errors are negative errno values with XenStore's meanings:
 *   -ENOENT  no such node (or its parent, for RM)
 *   -EACCES  not allowed (and, as Xen does, for a missing node whose
 *            nearest existing ancestor the caller may not read)
 *   -EINVAL  bad argument (e.g. RM of "/")
 *   -ENOSPC  a quota would be exceeded
 *   -E2BIG   a reply would not fit XS_PAYLOAD_MAX
 *   -EPERM   an unprivileged caller tried to change a node's owner
 *   -EAGAIN  transaction conflict at commit
 *   -ENOMEM  allocation failed; nothing changed
 */
#ifndef XSTORE_STORE_H
#define XSTORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/perm.h"
#include "store/quota.h"

struct store;
struct txn;
struct nperms;

/* Who is asking.  Rights come from the domid, its target and privilege. */
struct store_caller {
	unsigned int domid;
	uint32_t target; /* SET_TARGET domain, or PERM_NO_TARGET */
	bool is_privileged;
	/* Limits to enforce (NULL: none, as for the privileged domain). */
	const struct quota_set *quota;
	/* Memory the caller holds outside the store (watches, queued
	 * output), counted against its memory quota. */
	unsigned long extra_mem;
};

/*
 * A change, for watches.  `path` is absolute.  `is_exact`: only watches
 * on exactly this path match (a node removed below the root of a
 * recursive RM, as Xen 4.17 reports it); otherwise watches on the path,
 * its ancestors (subject to depth) and, when `is_removal`, watches below
 * it (reported with their own path) match.  `perms` are the node's
 * permissions (before removal), `old_perms` the previous ones after
 * SET_PERMS: a watcher must be able to read with either.  Valid only
 * during the callback.
 */
struct store_event {
	const char *path;
	bool is_exact;
	bool is_removal;
	const struct nperms *perms;
	const struct nperms *old_perms;
};

typedef void store_event_cb(void *opaque, const struct store_event *ev);

/*
 * store_new - a store holding Xen 4.17's initial tree: "/" and "/tool"
 * and "/tool/xenstored", all "n0".  NULL on ENOMEM.  Caller owns it.
 */
struct store *store_new(void);

/* store_free - free the store; every transaction must be ended first. */
void store_free(struct store *s);

/* store_set_event_cb - where changes go (NULL: nowhere). */
void store_set_event_cb(struct store *s, store_event_cb *cb, void *opaque);

/*
 * Records.  Each change set applied to the main tree (an operation that
 * changed nothing - MKDIR of an existing node, RM of a missing one, a
 * forget with nothing to forget - applies none) is described by one
 * record: enough to redo it on a store in the state just before it,
 * without caller, quotas or permission checks.  Encoding, all integers
 * little-endian:
 *
 *   header (16 bytes)
 *     u8  version   1
 *     u8  type      1 (change set)
 *     u16 flags     0
 *     u32 count     changes that follow, >= 1
 *     u64 gen       the store's generation counter before the set (it
 *                   also advances inside transactions, so a replay
 *                   moves the counter up to it first)
 *   count changes, applied in order, each:
 *     u8  kind      1 WRITE, 2 PERMS, 3 DEL, 4 SPECIAL
 *     u8  pad       0
 *     u16 nperms    permission entries (>= 1; 0 for DEL)
 *     u32 path_len  bytes of the path, no nul (1..XS_ABS_PATH_MAX)
 *     u32 value_len bytes of the value (WRITE; else 0; <= XS_PAYLOAD_MAX)
 *     path, value, then nperms entries of {u16 domid, u8 access
 *     (PERM_NONE..PERM_BOTH), u8 0}, entry 0 the owner.
 *   WRITE    the node gets value and perms (a write keeps a node's perms,
 *            so they change only if the record says so); missing
 *            ancestors are created empty with the same perms
 *   PERMS    the existing node gets perms (value unchanged)
 *   DEL      the existing node (not "/") and everything below it go
 *   SPECIAL  path is "@introduceDomain" or "@releaseDomain": its perms
 * There is no checksum: the journal wraps records in its own.
 */
typedef void store_record_cb(void *opaque, const void *rec, size_t len);

/*
 * store_set_record_cb - call cb(opaque, rec, len) once per change set
 * applied to the main tree, after it is applied (and its events fired)
 * and before the operation returns.  `rec` is valid only during the
 * call; cb must not call into the store.  NULL: no records (and no
 * encoding work).  With a callback, a change that cannot get room for
 * its record fails with -ENOMEM and changes nothing.
 */
void store_set_record_cb(struct store *s, store_record_cb *cb, void *opaque);

/*
 * store_replay - apply record `rec` (`len` bytes, as given to the record
 * callback of some store) to `s`, as after a restart: no events, no
 * record.  The record is validated first and must fit the store: a
 * malformed record, a generation below the store's, a change that does
 * not apply (PERMS or DEL of a missing node, WRITE under a missing
 * parent) -> -EINVAL and nothing changed.  -ENOMEM: nothing changed.
 * Generations come out as in the store that emitted the record.
 */
int store_replay(struct store *s, const void *rec, size_t len);

/*
 * Snapshots.  store_dump writes the main tree (only: open transactions
 * are not part of it; nodes they share with it are written once), the
 * special nodes' permissions and the generation counter, as:
 *   header (32 bytes): u8 version 1, u8 type 2 (snapshot), u16 flags 0,
 *     u32 0, u64 gen, u64 nodes (in the tree, root included), u64 0
 *   the perms of "@introduceDomain" then "@releaseDomain": each u16 n
 *     (>= 1), u16 0, then n entries as in a record
 *   every node in depth-first order, parents before children, children
 *     in directory order, the root first with an empty name:
 *     u16 name_len, u16 nperms, u32 value_len, u32 nkids, u32 0,
 *     u64 gen, name, value, perms (as in a record)
 * Both walks are iterative; their stacks are bounded by the deepest
 * possible path (XS_ABS_PATH_MAX / 2 components).
 */
typedef int store_write_fn(void *arg, const void *buf, size_t len);

/*
 * store_dump - write the snapshot of `s` through fn(arg, buf, len), in
 * pieces of up to 64 KiB; fn returns 0 or -errno (which stops the dump
 * and is returned).  fn must not call into the store.  0, -ENOMEM or
 * fn's error.  The store is not changed.
 */
int store_dump(struct store *s, store_write_fn *fn, void *arg);

/*
 * A frozen version of the main tree, for a snapshot written by another
 * thread while the loop goes on changing the store (the daemon's
 * compaction).  Freezing costs a reference, not a copy: later changes
 * copy the nodes they touch, as for an open transaction, so the memory
 * it keeps grows with what changes while it lives.
 *
 * store_freeze - freeze `s` as it is now into *out (caller owns: give
 * it to store_thaw).  Loop thread.  0 or -ENOMEM (*out NULL).
 *
 * store_frozen_dump - write `f` as store_dump would have at the freeze.
 * May run on any one thread at a time, concurrently with any store call
 * of the loop thread except store_thaw(f) and store_free: it reads only
 * nodes the frozen version keeps alive and allocates nothing.  fn's
 * error stops it and is returned; -EINVAL for a tree deeper than the
 * path rules allow.
 *
 * store_thaw - release `f` (NULL: nothing); loop thread, after the
 * dump has returned.  Frees the nodes only the frozen version held.
 */
struct store_frozen;
int store_freeze(struct store *s, struct store_frozen **out);
int store_frozen_dump(struct store_frozen *f, store_write_fn *fn, void *arg);
void store_thaw(struct store *s, struct store_frozen *f);

/*
 * store_load - a new store (*out, caller owns) from snapshot `buf` of
 * `len` bytes, as store_dump wrote it.  Node accounting is rebuilt;
 * quotas are not checked (a snapshot holds what was accepted).  -EINVAL
 * for anything malformed (bad names, duplicate children, a path too
 * long, a generation above the counter, trailing bytes), -ENOMEM.
 */
int store_load(const void *buf, size_t len, struct store **out);

/*
 * store_equal - do `a` and `b` hold the same main tree (names, child
 * order, values, permissions, node generations) and special perms?  The
 * generation counters are not compared (transactions advance them
 * without changing the tree).  For tests; iterative.
 */
bool store_equal(const struct store *a, const struct store *b);

/*
 * store_read - the value of `path`.  On success *value points at
 * *len bytes followed by a nul, valid until the next store call.
 * `t` is NULL or an open transaction of the caller.
 */
int store_read(struct store *s, struct txn *t, const struct store_caller *c,
               const char *path, const char **value, size_t *len);

/*
 * store_directory - the child names of `path`, each followed by a nul,
 * written into `buf` (`bufsz` bytes); *len gets the bytes used and *gen
 * (if not NULL) the node's generation.  -E2BIG if they do not fit.
 */
int store_directory(struct store *s, struct txn *t,
                    const struct store_caller *c, const char *path, char *buf,
                    size_t bufsz, size_t *len, uint64_t *gen);

/*
 * store_directory_part - DIRECTORY_PART: the child list as bytes
 * ("a\0bb\0"), from byte `offset` (which may fall inside a name: the
 * first piece is then that name's tail), as many pieces as fit in
 * `bufsz`; *is_complete says whether the list's end was reached (always,
 * for an offset at or past the end).
 */
int store_directory_part(struct store *s, struct txn *t,
                         const struct store_caller *c, const char *path,
                         size_t offset, char *buf, size_t bufsz, size_t *len,
                         uint64_t *gen, bool *is_complete);

/*
 * store_get_perms - the permissions of `path` (or of a special path
 * "@introduceDomain"/"@releaseDomain") in wire form into `buf`.
 */
int store_get_perms(struct store *s, struct txn *t,
                    const struct store_caller *c, const char *path, char *buf,
                    size_t bufsz, size_t *len);

/* store_write - set the value of `path`, creating missing ancestors. */
int store_write(struct store *s, struct txn *t, const struct store_caller *c,
                const char *path, const void *value, size_t len);

/* store_mkdir - create `path` (and ancestors) if missing. */
int store_mkdir(struct store *s, struct txn *t, const struct store_caller *c,
                const char *path);

/* store_rm - remove `path` and everything below it.  A missing node is
 * fine if its parent exists. */
int store_rm(struct store *s, struct txn *t, const struct store_caller *c,
             const char *path);

/* store_set_perms - replace the permissions of `path` (or a special
 * path) with `n` >= 1 entries. */
int store_set_perms(struct store *s, struct txn *t,
                    const struct store_caller *c, const char *path,
                    const struct perm_entry *e, unsigned int n);

/*
 * store_txn_start - open a transaction: a snapshot of the store as it
 * is now.  *out gets it (caller owns; end it with store_txn_end).
 */
int store_txn_start(struct store *s, const struct store_caller *c,
                    struct txn **out);

/*
 * store_txn_end - commit (`commit` true) or abort, and free `t`.  Commit
 * fails with -EAGAIN if any node the transaction read or wrote
 * (including absent nodes and directory listings) changed since it
 * started; then nothing is applied.  Events fire only on a commit.
 */
int store_txn_end(struct store *s, struct txn *t, bool commit);

/*
 * store_txn_mem - the bytes transaction `t` holds for its own records
 * (its log of operations and its set of touched paths), which grow with
 * what its caller does in it: the daemon charges them to the caller's
 * memory quota.
 */
size_t store_txn_mem(const struct txn *t);

/*
 * store_txn_names_gone - does a SET_PERMS of transaction `t` name a
 * domain for which is_gone(arg, domid) is true?  Such a transaction
 * must not commit: the domain died after the request was checked, and
 * its id may already be another domain's (XSA-322 class).
 */
bool store_txn_names_gone(const struct txn *t,
                          bool (*is_gone)(void *arg, unsigned int domid),
                          void *arg);

/* store_txn_touched - nodes the transaction has touched so far. */
unsigned int store_txn_touched(const struct txn *t);

/*
 * Transaction images: an open transaction carried to another store that
 * holds the same main tree (store_load of a store_dump of this one, with
 * nothing changed since), where it goes on as if nothing happened: every
 * later operation in it returns the same, and its commit succeeds or
 * fails with EAGAIN, firing the same events, as it would have here.  The
 * daemon's live update carries open transactions this way.  Encoding,
 * little-endian:
 *
 *   header (64 bytes)
 *     u8 version 1, u8 type 3 (transaction), u16 flags (1 the caller has
 *     quotas, 2 it is privileged), u32 sticky error (positive errno:
 *     the commit will fail with it; 0 none), u32 domid, u32 target,
 *     u64 extra_mem (the caller as the transaction started), i64 nodes
 *     and i64 bytes the caller gained in it (its quotas), u64 its
 *     store_txn_mem, u64 the store's generation counter (the load
 *     requires the same), u32 operations, u32 touched paths
 *   u32 the touched set's capacity, u32 n quotas (QUOTA_COUNT or 0),
 *     n x u64: the quotas as the transaction started
 *   the snapshot, as a diff against the main tree, then the
 *   transaction's own version, as a diff against the snapshot: depth
 *   first, parents first, each entry
 *     u8 tag (0 SAME, 1 NODE), u8 0, u16 name_len (0 for the root),
 *     NODE only: u16 nperms, u16 0, u32 value_len, u32 nkids, u64 gen;
 *     then the name, and for NODE the value, the perms (as in a record)
 *     and its nkids children's entries.  SAME: the reference version's
 *     node at this path, with everything below it (the very node there:
 *     the versions share it).  So an image holds the nodes on the paths
 *     changed since the transaction started, by it or by others, and
 *     their siblings as SAME entries, not the tree.
 *   the operations, in order: u8 kind (0 WRITE, 1 MKDIR, 2 RM, 3
 *     SET_PERMS), u8 0, u16 0, u32 path_len, u32 n (value bytes, or
 *     perm entries), path, the value or n perm entries
 *   the touched paths: u32 path_len, u8 seen (what the result depends
 *     on there: 1 existence, 2 value, 4 perms, 8 child list), u8 removed
 *     by the transaction, u16 0, path.  The snapshot's node at each
 *     path is looked up again: generations make validation the same.
 */

/*
 * store_txn_save - write the image of open transaction `t` of `s`
 * through fn(arg, buf, len), in pieces of up to 64 KiB.  `t` and `s` are
 * not changed.  0, -ENOMEM, or fn's error.
 */
int store_txn_save(struct store *s, const struct txn *t, store_write_fn *fn,
                   void *arg);

/*
 * store_txn_load - the transaction of image `buf` (`len` bytes) in `s`,
 * into *out (caller owns: store_txn_end).  Its caller (domain, target,
 * privilege, quotas, extra memory) is the one it started with, as in
 * `s`'s transactions.  -EINVAL for a malformed image or one of another
 * main tree (its store's generation counter differs, a SAME entry names
 * a missing node), -ENOMEM; `s` is unchanged then.
 */
int store_txn_load(struct store *s, const void *buf, size_t len,
                   struct txn **out);

/*
 * store_can_read - may `c` read a node with permissions `p`?  For
 * watch delivery.
 */
bool store_can_read(const struct store_caller *c, const struct nperms *p);

/*
 * store_special_perms - the permissions of "@introduceDomain" or
 * "@releaseDomain" (NULL for any other name).  Valid until the next
 * store call.
 */
const struct nperms *store_special_perms(const struct store *s,
                                         const char *name);

/*
 * store_forget_domain - domain `domid` is gone: remove every node it
 * owns (with all below it; events fire as for RM) and drop it from every
 * other permission list, the special ones included, so that a later
 * domain with the same id inherits nothing.  O(nodes) when the domain
 * still owns a node or is named in a list, else O(1).  One change set:
 * 0, or -ENOMEM and nothing changed.
 */
int store_forget_domain(struct store *s, unsigned int domid);

/* store_forget_walked - nodes store_forget_domain has looked at so far
 * (the cost of forgetting domains that left something behind). */
uint64_t store_forget_walked(const struct store *s);

/*
 * store_quota_hit - the quota (enum quota_id) that refused the last
 * operation since store_clear_quota_hit, or -1: for the operator's log.
 */
int store_quota_hit(const struct store *s);
void store_clear_quota_hit(struct store *s);

/* store_domain_bytes - bytes of the nodes domain `domid` owns (its
 * memory quota). */
unsigned long long store_domain_bytes(const struct store *s,
                                      unsigned int domid);

/* store_domain_nodes - nodes owned by domain `domid` (quota use). */
unsigned long store_domain_nodes(const struct store *s, unsigned int domid);

/* Statistics for CONTROL memreport. */
struct store_stats {
	uint64_t nodes;      /* alive, all versions */
	uint64_t node_bytes; /* bytes in nodes and child arrays */
	uint64_t main_nodes; /* nodes in the current tree */
	uint64_t generation; /* last generation handed out */
	unsigned int open_txns;
};
void store_stats(const struct store *s, struct store_stats *st);

/* store_node_bytes - st.node_bytes of store_stats, in O(1): for a
 * caller that looks every loop turn. */
uint64_t store_node_bytes(const struct store *s);

/*
 * store_check - walk the whole main tree and check every invariant
 * (order of children vs. index, counts per owner, reference counts at
 * least 1, names valid).  Returns 0, or -EIO with a description in
 * `why` (`whysz` bytes).  For CONTROL check and the unit tests.
 */
int store_check(const struct store *s, char *why, size_t whysz);

#endif
