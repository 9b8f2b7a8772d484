/*
 * ring.h - the guest side of a xenstore ring page, for ring.c and for
 * tests that play the daemon's side in-process.
 *
 * The ring logic (ring.c) needs a mapped page and an event channel; the
 * event channel is reached through these operations, so that the same
 * code runs over the simulated platform (plat/) and over a test's pipes.
 * The ring serialises every call to them (one at a time).
 */
#ifndef XSTORE_LIB_RING_H
#define XSTORE_LIB_RING_H

#include "lib/transport.h"

struct ring_port_ops {
	/* Raise an event at the daemon's end. */
	int (*notify)(void *arg);
	/* A pollable fd, readable while an event is pending for us. */
	int (*fd)(void *arg);
	/* Clear the pending events. */
	void (*ack)(void *arg);
	/*
	 * Resume: find the ring again (the page may have moved, the port
	 * changed); *page gets the mapping.  NULL: the same page.
	 */
	int (*remap)(void *arg, void **page);
	/* Unmap and free (at the transport's free). */
	void (*close)(void *arg);
};

/*
 * ring_tr_new - a transport over the ring page `page` (XS_RING_PAGE_SIZE
 * bytes, shared with the daemon) and the port `ops`/`arg`, which it owns
 * from then on (closed by free, or at once on error).  Fails with -EIO if
 * the page's indexes are out of range: a broken ring is reported, never
 * silently reset.
 */
int ring_tr_new(void *page, const struct ring_port_ops *ops, void *arg,
                struct xs_tr **out);

#endif
