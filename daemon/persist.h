/*
 * persist.h - what the daemon keeps across its own crash, and how it
 * comes back: the bridge between the daemon's state and the journal
 * (journal.h).  It records the store's change sets, domain records,
 * guests' ring sessions (consumed requests, unsent output, watches, open
 * transactions) and the global quotas; writes them once per loop turn
 * before any reply leaves (group commit); compacts them into snapshots;
 * and at start loads them back and reconciles them with the platform.
 * docs/persistence.md has the design.  Loop thread only.
 */
#ifndef XSTORE_PERSIST_H
#define XSTORE_PERSIST_H

#include <stdbool.h>
#include <stddef.h>

struct daemon;

/*
 * persist_start - when d->cfg.is_persistent: open the journal in
 * d->cfg.state_dir (waiting up to two seconds for the lock of a daemon
 * that is still exiting), load what it holds into `d` (made by
 * daemon_init, no connections yet), bring back each domain that is still
 * alive with its ring, session and watches, clean up those that died
 * meanwhile, and from then on record every change.  Logs what was
 * loaded.  `crash_spec` (NULL: none) sets a test crash point
 * (journal_set_crash).  0 (also when not persistent), or -errno: the
 * daemon must not start (a state it cannot load is never overwritten).
 */
int persist_start(struct daemon *d, const char *crash_spec);

/*
 * persist_end_turn - the first step of daemon_end_turn: record the turn
 * (changed domain records and guests' sessions, after the store's change
 * sets recorded as they happened) and write it in one commit; start a
 * compaction when one is due.  If the write fails, the connections with
 * output of this turn are held (conn_hold_pending) and d->persist_err
 * refuses changes until a snapshot succeeds.  No-op when not persisting.
 */
void persist_end_turn(struct daemon *d);

/*
 * persist_adopt - persist_start for a daemon whose state came by a live
 * update (update.c): the journal in d->cfg.state_dir already holds that
 * state, so it is opened and its tail checked, not loaded, and every
 * change is recorded from then on.  0 (also when not persistent) or
 * -errno (logged).
 */
int persist_adopt(struct daemon *d);

/* persist_is_busy - may the journal not be handed over now (a compaction
 * running, or the journal failed)? */
bool persist_is_busy(const struct daemon *d);

/* persist_stop - close the journal (what is recorded stays for the next
 * start).  No-op when not persisting. */
void persist_stop(struct daemon *d);

#endif
