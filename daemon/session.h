/*
 * session.h - the protocol state of one connection (conn->sess): its
 * watches and its open transactions, and who it is to the store (its
 * domain's target and quotas, what it makes the daemon keep).
 *
 * Owned by this module: session_new makes it when the connection is made
 * and session_free drops every watch and aborts every transaction when it
 * goes.  What the journal will save of it: the watches of guests (their
 * transactions end with a restart); a live update carries all of it,
 * open transactions included.  Loop thread only.
 */
#ifndef XSTORE_SESSION_H
#define XSTORE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conn;
struct daemon;
struct store;
struct store_caller;
struct txn;
struct watch;

struct sess_txn {
	struct sess_txn *next;
	uint32_t id;
	uint32_t death_seq; /* d->death_seq when it started */
	struct txn *txn;    /* NULL: lost in a restart (session_restore) */
};

struct sess {
	struct watch *watches; /* this connection's, via owner_next */
	unsigned int nr_watches;
	unsigned long watch_bytes; /* for the memory quota */
	/* Bytes written outside its transactions while some were open:
	 * the old versions stay pinned by their snapshots until the last
	 * one ends, so they count for the memory quota (an upper bound). */
	unsigned long pinned_bytes;
	struct sess_txn *txns;
	unsigned int nr_txns;
	uint32_t next_txid;
};

/* session_new - make c->sess (the on_new handler).  0 or -ENOMEM. */
int session_new(struct daemon *d, struct conn *c);

/* session_free - drop c's watches, abort its transactions, free c->sess
 * (the on_gone handler; a connection without one is left alone). */
void session_free(struct daemon *d, struct conn *c);

/* session_reset - drop every watch and abort every transaction of `s`
 * (RESET_WATCHES), keeping the session. */
void session_reset(struct daemon *d, struct sess *s);

/*
 * session_caller - who `c` is, for the store: its domain's target and
 * quotas, and (unprivileged) the memory it holds outside the store:
 * watches, queued output, its transactions' records.  Cannot fail.
 */
void session_caller(const struct daemon *d, const struct conn *c,
                    struct store_caller *out);

/* session_add_watch - `w`, just added to d->watches, is s's: counted
 * for its quotas and dropped with it. */
void session_add_watch(struct sess *s, struct watch *w);

/* session_drop_watch - remove s's watch `w` from d->watches, free it. */
void session_drop_watch(struct daemon *d, struct sess *s, struct watch *w);

/* session_find_txn - s's open transaction `id`, or NULL. */
struct sess_txn *session_find_txn(struct sess *s, uint32_t id);

/*
 * session_start_txn - start a transaction for `caller` in `s` and give it
 * the next free id (from 1; 0 means "none"), into *id.  The caller checks
 * the quotas first.  0, -ENOMEM, or store_txn_start's error.
 */
int session_start_txn(struct daemon *d, struct sess *s,
                      const struct store_caller *caller, uint32_t *id);

/*
 * session_end_txn - end s's transaction `id`, committing when `commit`;
 * store_txn_end's result, -ENOENT (no such transaction), or -EAGAIN when
 * its SET_PERMS name a domain that died since it started.
 */
int session_end_txn(struct daemon *d, struct sess *s, uint32_t id, bool commit);

/*
 * session_restore - after a restart of the daemon: `s` (a guest's, new)
 * had transactions `ids` (n of them) open, which the restart ended: each
 * answers EAGAIN to its next request and to its end, which forgets it.
 * New ids go on from `next_txid`.  0 or -ENOMEM.
 */
int session_restore(struct sess *s, uint32_t next_txid, const uint32_t *ids,
                    unsigned int n);

/*
 * Transactions across a live update (docs/live-update.md): the image of
 * open transaction `t` of `s`, written through fn(arg, buf, len) (a
 * store_write_fn): u32 id, u32 death count when it started, u64 the
 * session's pinned bytes, then store_txn_save's image of it (its
 * snapshot, own version, records and caller) against the main tree of
 * d->store as it is now.  0, -ENOMEM or fn's error.  A transaction lost
 * in an earlier restart (no store transaction) has no image: its id
 * alone goes with the session.
 */
int session_save_txn(struct daemon *d, const struct sess *s,
                     const struct sess_txn *t,
                     int (*fn)(void *arg, const void *buf, size_t len),
                     void *arg);

/*
 * session_check_txn - load the transaction of a TXN record body (as
 * session_save_txn wrote it) into store `st`, for a check only: *out is
 * the caller's, to end.  Errors as store_txn_load, -EINVAL if short.
 */
int session_check_txn(struct store *st, const void *buf, size_t len,
                      struct txn **out);

/*
 * session_restore_txn - in the new process: the transaction of image
 * `buf` (`len` bytes), loaded into d->store (which must hold the main
 * tree the image was saved against, unchanged), takes the place of the
 * lost one with its id in `s` (session_restore made it), so that it goes
 * on as if nothing happened.  0, -ENOENT (no such lost transaction),
 * -EINVAL (a malformed image) or -ENOMEM; on error the transaction stays
 * lost (EAGAIN to its next request).
 */
int session_restore_txn(struct daemon *d, struct sess *s, const void *buf,
                        size_t len);

/* session_nr_watches / session_nr_txns - counts for one connection
 * (0 without a session). */
unsigned int session_nr_watches(const struct conn *c);
unsigned int session_nr_txns(const struct conn *c);

/* session_mem - what an unprivileged connection makes the daemon keep
 * besides its nodes (its memory quota counts it); 0 for the privileged. */
unsigned long session_mem(const struct daemon *d, const struct conn *c);

#endif
