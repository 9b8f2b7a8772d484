/*
 * daemon.h - the life cycle of one daemon instance (init, the end of a
 * loop turn, fini); the state itself is declared in state.h.
 *
 * The module graph of daemon/, acyclic: a module's files include only
 * its own headers and those of modules listed before it (lower rank).
 * tools/check-layers.sh enforces it on every build, with these ranks:
 *
 *    5 readyhint            news of an fd's input read from memory
 *                           (io_uring), for the loop
 *   10 loop, notify, state  the event loop; sd_notify; struct daemon
 *   20 conn                 framing and queues; calls up through
 *                           d->conn_handlers (set by daemon_init)
 *   30 ring, sock           the transports: a guest's ring (an object
 *                           of its own, no domain.h), unix sockets
 *   40 domain               guests: owns each struct ring; fires special
 *                           watches through d->fire_special
 *   42 session              per connection (conn->sess): its watches,
 *                           its transactions, who it is to the store
 *   45 events               the store's events through the watch index
 *                           to the watchers' connections
 *   50 dispatch             request handlers (dispatch.c, control.c,
 *                           dispatch_int.h)
 *   60 journal              the files of the record (journal.c)
 *   65 persist              what is recorded, group commit, restart
 *   67 update               live update: CONTROL live-update, the
 *                           stream, the exec (control.c reaches it
 *                           through d->live_update)
 *   70 daemon, options      the life cycle; the command line
 *   80 main                 the process: sockets, signals, daemonising
 *
 * Upward calls go through pointers that daemon_init sets: conn.c ->
 * dispatch (conn_handlers), domain.c -> events (fire_special), ring.c
 * -> domain (ring->on_conn_gone), domain.c -> persist
 * (on_domain_change).  Outside daemon/, the daemon may use
 * common/, store/, plat/ and xstore/ headers, never lib/ or drivers/.
 */
#ifndef XSTORE_DAEMON_H
#define XSTORE_DAEMON_H

#include "daemon/state.h"

/* daemon_config_defaults - fill `cfg` with the defaults (no rundir). */
void daemon_config_defaults(struct daemon_config *cfg);

/*
 * daemon_init - create the store (with Xen's initial tree), watch index
 * and loop.  No sockets.  0 or -errno; on error nothing is left allocated.
 */
int daemon_init(struct daemon *d, const struct daemon_config *cfg);

/*
 * daemon_end_turn - the end of one loop turn: the safe point.  Everything
 * the turn changed is final here; next, the journal is written here,
 * before any reply leaves.  Then queued replies and events are flushed
 * and the connections killed this turn are freed.  Called by the loop's
 * turn hook (main.c) and by the fuzzer after each record; never from a
 * request handler (connections it frees may be on the caller's stack).
 * Loop thread only; cannot fail (a failing connection is killed).
 */
void daemon_end_turn(struct daemon *d);

/* daemon_fini - free every connection, the store, the loop. */
void daemon_fini(struct daemon *d);

#endif
