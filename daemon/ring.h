/*
 * ring.h - a guest's shared ring as an object of its own: the mapped
 * page, the event channel (both ends), the features advertised in the
 * page and whether the page faulted.  It is also the transport of
 * CONN_RING connections (conn->transport is the struct ring).
 *
 * A ring knows nothing of domains: its owner (domain.c) keeps the
 * struct ring *, opens and frees it, and hears through on_conn_gone when
 * the connection over it is freed.  Loop thread only.
 */
#ifndef XSTORE_RING_H
#define XSTORE_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/conn.h"

struct plat;

struct ring {
	struct plat *plat;
	unsigned int domid;       /* whose page: for the platform and logs */
	void *page;               /* the mapping, unmapped by ring_free */
	uint64_t gfn;             /* as given by INTRODUCE */
	uint32_t features;        /* advertised in the page at ring_open */
	unsigned int local_port;  /* our end of its event channel */
	unsigned int remote_port; /* its end, as given by INTRODUCE */
	bool is_faulted;          /* the page faulted: never touched again */
	/* Requests are consumed into req_cons as they are read, but the
	 * page's index (req_cons_published) moves only at ring_commit, when
	 * the turn is recorded: until then the bytes stay in the ring. */
	uint32_t req_cons;
	uint32_t req_cons_published;
	/* The guest is owed a notify this turn (responses written, request
	 * space given back): sent once, when the flush is over. */
	bool is_notify_owed;
	/* Called from the transport's close (the connection over this
	 * ring is being freed), with `owner`; NULL: nobody to tell. */
	void (*on_conn_gone)(void *owner);
	void *owner;
};

/* The transport of CONN_RING connections; conn->transport is the
 * struct ring (NULL once its owner detached the connection). */
extern const struct transport_ops ring_ops;

/*
 * ring_open - map the xenstore page of `domid` (grant first, then frame
 * `gfn`), advertise `features` in it and bind our end to its unbound
 * `port`.  *out: the new ring, owned by the caller (ring_free).
 * -EINVAL when the page cannot be mapped or the port bound (logged as
 * INTRODUCE failures), -ENOMEM.  Nothing is left on error.
 */
int ring_open(struct plat *p, unsigned int domid, uint64_t gfn,
              unsigned int port, uint32_t features, struct ring **out);

/*
 * ring_reopen - ring_open for a daemon restarting from its journal: the
 * same page, and the event channel that our previous process had bound
 * as `old_port` taken back (plat_evtchn_rebind), so that the guest sees
 * nothing.  Errors as ring_open.
 */
int ring_reopen(struct plat *p, unsigned int domid, uint64_t gfn,
                unsigned int port, unsigned int old_port, uint32_t features,
                struct ring **out);

/*
 * ring_save - where the ring stands, for the journal: *req_cons the
 * requests consumed (recorded or not), *rsp_prod the response bytes
 * written so far.  -EFAULT if the page faulted.
 */
int ring_save(struct ring *r, uint32_t *req_cons, uint32_t *rsp_prod);

/*
 * ring_restore - after ring_reopen, go on from a saved state: requests
 * are consumed up to `req_cons` (published at the next ring_commit), and
 * of the `pending` output bytes saved as starting at response position
 * `rsp_from`, *skip were already written before the crash.  -EPROTO
 * when the page's indices cannot follow from the saved ones (the guest
 * wrote our indices), -EFAULT on a fault; nothing changed then.
 */
int ring_restore(struct ring *r, uint32_t req_cons, uint32_t rsp_from,
                 size_t pending, size_t *skip);

/* ring_free - unbind, unmap, free (NULL: no-op).  The connection over
 * it must have been detached first (its transport set to NULL). */
void ring_free(struct ring *r);

/* ring_set_error - record XS_ERROR_* in the page, if that feature is
 * advertised. */
void ring_set_error(struct ring *r, unsigned int code);

/* ring_wants_reconnect - has the guest asked for a reset? */
bool ring_wants_reconnect(struct ring *r);

/* ring_reset - empty both queues, clear the error, mark connected (the
 * caller notifies the guest once it serves the ring again). */
void ring_reset(struct ring *r);

/*
 * ring_kick - an event arrived: check the indices (a bad pair fails `c`
 * with XS_ERROR_RINGIDX), serve the requests waiting in the ring, and
 * write replies the guest made room for.  `c` is the connection over
 * `r`; a dead one is left alone.
 */
void ring_kick(struct ring *r, struct conn *c);

#endif
