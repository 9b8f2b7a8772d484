/*
 * store.h - the XenStore data model: a tree of nodes with values and
 * permissions, read and changed by callers with a domain identity,
 * directly or inside transactions.
 *
 * The store knows nothing of connections, sockets or the wire: callers
 * pass validated absolute paths (store/path.h) and who they are; changes
 * leave through one event callback (for watches) and, later, the journal.
 * Every mutation of the main tree goes through store_apply(), the single
 * place where a journal record will be emitted.
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
 * domain with the same id inherits nothing.  O(nodes).  0 or -ENOMEM
 * (what was done stays done; calling again finishes the job).
 */
int store_forget_domain(struct store *s, unsigned int domid);

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

/*
 * store_check - walk the whole main tree and check every invariant
 * (order of children vs. index, counts per owner, reference counts at
 * least 1, names valid).  Returns 0, or -EIO with a description in
 * `why` (`whysz` bytes).  For CONTROL check and the unit tests.
 */
int store_check(const struct store *s, char *why, size_t whysz);

#endif
