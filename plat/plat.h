/*
 * plat.h - what XenStore needs from a hypervisor, and nothing more:
 * domains and their state, mapping a domain's pages (its xenstore ring
 * and granted pages), event channels, and news of domains changing state.
 *
 * Two implementations: "sim" (plat/sim.c: a directory tree any process
 * can use, see docs/sim.md; always built) and "xen" (plat/xen.c: over
 * libxenctrl, libxenevtchn and libxengnttab; built when their headers
 * are installed).  A `struct plat` belongs to one domain's point of view:
 * the daemon and dom0 tools open it as domain 0, a simulated guest as its
 * own domid.
 *
 * Conventions: functions return 0 or -errno; an object returned through
 * an out-pointer is owned by the caller until its _close/_unmap; a plat
 * is not thread-safe (one per thread, or a lock around it).  Arguments
 * out of range (a domid >= 0x7ff0, port 0, ...) give -EINVAL; so does
 * malformed platform data (in the sim: garbage in a domain's files).
 * The xen implementation serves the privileged domain: the guest-side
 * calls (plat_grant, plat_ungrant, plat_alloc_page, plat_free_page,
 * plat_map_own, plat_map_own_pages) give -ENOTSUP there.
 */
#ifndef XSTORE_PLAT_H
#define XSTORE_PLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAT_PAGE_SIZE      4096u
#define PLAT_GRANT_XENSTORE 1u /* GNTTAB_RESERVED_XENSTORE */

struct plat;

enum plat_dom_state {
	PLAT_DOM_RUNNING,
	PLAT_DOM_SHUTDOWN, /* stopped; may be resumed or destroyed */
	PLAT_DOM_DYING,    /* being destroyed: release everything */
	/* Shut down for a suspend (Xen: SHUTDOWN_suspend): the daemon treats
	 * it as PLAT_DOM_SHUTDOWN; the domain's own processes see it and
	 * suspend, and see PLAT_DOM_RUNNING again when resumed.  Sim state
	 * file: "suspended". */
	PLAT_DOM_SUSPENDED,
};

/* What the domain builder tells a guest (and the toolstack the daemon). */
struct plat_start_info {
	uint64_t store_gfn;
	unsigned int store_evtchn; /* the guest's port, unbound to dom0 */
};

/*
 * plat_open - open the platform as domain `self`.  `spec` is "sim" (root
 * directory from $XSIM_DIR, else "/var/run/xenstored/sim"), "sim:DIR", or
 * "xen"; NULL means "sim".  -ENOENT if the platform is not there (no sim
 * directory; no hypervisor; in the sim, no domain `self`: dom0 is made
 * on first open, guests by the toolstack), -ENOTSUP for "xen" in a
 * build without it.  A sim guest's plat also listens on the domain's
 * store port (start-info's store_evtchn), as the guest kernel would.
 */
int plat_open(const char *spec, unsigned int self, struct plat **out);

/* plat_open_flags flags */
/*
 * A sim guest's plat that does not listen on the domain's store port:
 * for a device process (a driver) inside a guest, which must not take
 * the store ring's events away from the guest's xenstore connection.
 */
#define PLAT_OPEN_NO_STORE_PORT (1u << 0)

/* plat_open_flags - plat_open with PLAT_OPEN_* flags (plat_open: 0). */
int plat_open_flags(const char *spec, unsigned int self, unsigned int flags,
                    struct plat **out);

/*
 * plat_close - unbind the event channels this plat allocated or bound
 * (not a sim guest's store port, which belongs to the domain), unmap
 * what it mapped, free.  NULL is ignored.
 */
void plat_close(struct plat *p);

/* plat_self - the domain this plat acts as. */
unsigned int plat_self(const struct plat *p);

/* plat_name - "sim" or "xen" (static). */
const char *plat_name(const struct plat *p);

/* ---- domains ---- */

/* plat_domain_state - -ENOENT if domain `domid` does not exist (any
 * more). */
int plat_domain_state(struct plat *p, unsigned int domid,
                      enum plat_dom_state *out);

/*
 * Which domains plat_domain_exc_ack says changed: domid[0..n) (no
 * repeats), or is_all: some domain did, check every one.  Xen's
 * VIRQ_DOM_EXC never says which, so there it is always is_all; the
 * simulator names them when the writers did (docs/sim.md), up to
 * PLAT_EXC_MAX.  A checker of every domain costs a platform call per
 * domain (in the sim a file read, ~10 us: 10 ms at 1 000 domains).
 */
#define PLAT_EXC_MAX 16u
struct plat_exc {
	bool is_all;
	unsigned int n;
	unsigned int domid[PLAT_EXC_MAX];
};

/*
 * plat_domain_exc_fd - a pollable fd, readable when some domain changed
 * state (VIRQ_DOM_EXC); plat_domain_exc_ack drains it and fills
 * `changed` if not NULL (is_all whenever it cannot tell, errors
 * included, so a caller that checks what it says misses nothing).  The
 * privileged domain's plat sees every domain; a guest's plat sees only
 * its own state (suspend and resume; in the sim, an inotify watch on
 * its own state file; `changed` says is_all), and plat_domain_state()
 * of its own domid works for it.
 */
int plat_domain_exc_fd(struct plat *p);
int plat_domain_exc_ack(struct plat *p, struct plat_exc *changed);

/* plat_start_info - the start info of domain `domid` (a guest reads its
 * own, else -EPERM; dom0 any).  -ENOENT no such domain or start info.
 * Xen: from the HVM parameters, so HVM guests only. */
int plat_start_info(struct plat *p, unsigned int domid,
                    struct plat_start_info *out);

/* ---- pages ---- */

/*
 * plat_map_grant - map page `ref` that domain `domid` granted to us
 * (writable if `is_writable`, which the grant must allow).  *addr gets
 * PLAT_PAGE_SIZE bytes, MAP_SHARED.  -ENOENT no such grant, -EACCES
 * granted to another domain or read-only.
 */
int plat_map_grant(struct plat *p, unsigned int domid, uint32_t ref,
                   bool is_writable, void **addr);

/*
 * plat_map_foreign - map frame `gfn` of domain `domid` directly,
 * writable (the privileged domain only, else -EPERM; how Xen's daemon
 * maps rings given by INTRODUCE when grant 1 is not used).  -ENOENT no
 * such domain or frame.
 */
int plat_map_foreign(struct plat *p, unsigned int domid, uint64_t gfn,
                     void **addr);

/* plat_map_own - map our own frame `gfn` (a guest's ring page). */
int plat_map_own(struct plat *p, uint64_t gfn, void **addr);

/* The most pages one plat_map_grants / plat_map_own_pages call maps. */
#define PLAT_MAP_PAGES_MAX 256u

/*
 * plat_map_grants, plat_map_own_pages - plat_map_grant and plat_map_own
 * of n pages (1..PLAT_MAP_PAGES_MAX, else -EINVAL) at once, contiguous:
 * *addr gets n * PLAT_PAGE_SIZE bytes, page i from refs[i] / gfns[i], as
 * a multi-page ring needs.  All or nothing: an error of any page maps
 * none.  plat_unmap of *addr undoes the whole mapping.
 */
int plat_map_grants(struct plat *p, unsigned int domid, const uint32_t *refs,
                    unsigned int n, bool is_writable, void **addr);
int plat_map_own_pages(struct plat *p, const uint64_t *gfns, unsigned int n,
                       void **addr);

/* plat_unmap - undo any of the maps (NULL is ignored). */
void plat_unmap(struct plat *p, void *addr);

/*
 * plat_grant - as domain self, grant frame `gfn` to domain `grantee`
 * (read-only unless `is_writable`); *ref gets the grant reference
 * (chosen by the platform unless `*ref` is non-zero on entry, as the
 * domain builder does for PLAT_GRANT_XENSTORE; -EEXIST if that ref is
 * in use).  -ENOENT no such frame of ours, -ENOSPC no free ref.
 */
int plat_grant(struct plat *p, uint64_t gfn, unsigned int grantee,
               bool is_writable, uint32_t *ref);
/*
 * plat_ungrant ends grant `ref` (-ENOENT if none) only when the grantee
 * no longer maps it: -EBUSY (the grant stays) while a mapping made
 * through it exists, as Xen's gnttab_end_foreign_access_ref() refuses.
 */
int plat_ungrant(struct plat *p, uint32_t ref);

/* plat_alloc_page - as domain self, a new zeroed frame; *gfn gets it
 * (-ENOMEM when the domain has no more). */
int plat_alloc_page(struct plat *p, uint64_t *gfn);

/* plat_free_page - as domain self, give frame `gfn` back (-ENOENT if no
 * such frame; -EBUSY while a grant of it exists). */
int plat_free_page(struct plat *p, uint64_t gfn);

/* ---- event channels ---- */

/*
 * plat_evtchn_alloc_unbound - a new port of ours that domain `remote`
 * may bind to.  *port gets it (the lowest free one in the sim).
 * -ENOSPC no free port.
 */
int plat_evtchn_alloc_unbound(struct plat *p, unsigned int remote,
                              unsigned int *port);

/*
 * plat_evtchn_bind - bind a new local port to unbound port
 * `remote_port` of domain `remote`.  *port gets the local port.
 * -ENOENT no such domain or port, -EACCES the port is not for us,
 * -EBUSY that remote port is already bound.
 */
int plat_evtchn_bind(struct plat *p, unsigned int remote,
                     unsigned int remote_port, unsigned int *port);

/*
 * plat_evtchn_rebind - after a restart of the process that had bound
 * remote port `remote_port` of domain `remote` as our local port
 * `old_port` (a daemon restarting from its journal): take the channel
 * back.  *port gets the local port.
 *
 * Sim: if our `old_port` is still bound to exactly that remote port (both
 * .peer files agree and both FIFOs exist), this plat adopts it: it
 * listens on it, and unbinds it on plat_evtchn_unbind or plat_close, as
 * if it had bound it; *port = old_port, and events the remote sent
 * meanwhile are still pending on it (while the remote's process, which
 * holds our FIFO open once it has notified, lives).  The remote sees no
 * change.  Otherwise it binds as plat_evtchn_bind does (same errors),
 * first clearing what a dead binder left of this channel: our `old_port`
 * if it still names the remote port that no longer names it back, and
 * the remote port's claim naming our `old_port` if that port is gone.
 * The caller must be the only process of its domain using that channel
 * (as the daemon is for the store ports).  Calling it for a port this
 * plat already has just returns it.  -EINVAL also for `old_port` 0.
 *
 * Xen: the old port closed with the process that had it (the remote end
 * became unbound again, bindable by us): plat_evtchn_bind.
 */
int plat_evtchn_rebind(struct plat *p, unsigned int remote,
                       unsigned int remote_port, unsigned int old_port,
                       unsigned int *port);

/*
 * plat_evtchn_unbind - close local port `port` (-EINVAL if this plat does
 * not have it).  The remote end, if any, becomes unbound again, bindable
 * by us (as in Xen), and its notifies fail with -ENOTCONN.
 */
int plat_evtchn_unbind(struct plat *p, unsigned int port);

/*
 * plat_evtchn_notify - raise an event on the remote end of `port`.
 * -EINVAL not a port of this plat, -ENOTCONN not bound (yet, or any
 * more: the remote closed it).  Xen drops such an event silently
 * (returns 0); treat -ENOTCONN as "dropped".  Events do not queue: one
 * pending event stands for any number of notifies.
 */
int plat_evtchn_notify(struct plat *p, unsigned int port);

/*
 * plat_evtchn_fd - one pollable fd, readable when any of our ports has
 * an event pending; plat_evtchn_pending then returns one such port
 * (-EAGAIN when none), clearing its pending state (xen: and unmasking
 * the port).  Never blocks.  Whoever asks for the fd must call
 * plat_evtchn_pending whenever it is readable: the sim's dom0 then
 * learns through it of changes of its channels (the fd may wake with no
 * port pending), and until it has, a notify on a channel the remote
 * just closed or rebound may be lost (never misdelivered).
 */
int plat_evtchn_fd(struct plat *p);
int plat_evtchn_pending(struct plat *p, unsigned int *port);

#endif
