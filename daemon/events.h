/*
 * events.h - delivery of watch events: the store's change events through
 * the watch index to the connections that watch, and the special events
 * (@introduceDomain, @releaseDomain) that domain.c fires.  A watcher sees
 * a change only to a node it may read.  Loop thread only.
 */
#ifndef XSTORE_EVENTS_H
#define XSTORE_EVENTS_H

struct conn;
struct daemon;
struct store;
struct watch;

/* events_init - route the store's change events to the watch index and
 * on to connections (daemon_init calls it). */
void events_init(struct daemon *d);

/*
 * events_adopt_store - make `st` the daemon's store in place of the one
 * it has, which is freed: a restored tree (the journal's snapshot, a live
 * update's).  Takes ownership of st; its events are routed as
 * events_init does.  The one place besides daemon_init and daemon_fini
 * where d->store changes hands.
 */
void events_adopt_store(struct daemon *d, struct store *st);

/*
 * events_fire_special - fire special watch event `name`
 * ("@introduceDomain", "@releaseDomain") for domain `domid`: the
 * d->fire_special of domain.c.
 */
void events_fire_special(struct daemon *d, const char *name,
                         unsigned int domid);

/* events_send - queue the event of watch `w` for `path` on `c` (relative
 * to the watch's prefix; too long: dropped and logged). */
void events_send(struct conn *c, const struct watch *w, const char *path);

#endif
