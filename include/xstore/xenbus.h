/*
 * xstore/xenbus.h - libxenbus, the XenBus device layer on top of libxstore.
 *
 * A bus finds the split devices of one domain in the store and runs each
 * one's XenbusState handshake with the other end.  Two kinds:
 *   frontend  devices at /local/domain/<self>/device/<type>/<id>
 *   backend   devices at /local/domain/<self>/backend/<type>/<fe-domid>/<id>
 * Drivers register per device type; the bus enumerates what exists at
 * start, follows hot-plug through a watch on its root, discovers and
 * checks each device's other end, watches the other end's `state` (at
 * most one pending event per device, whatever the peer does) and the
 * device's own subtree, and calls the driver.
 *
 * Threads: a bus owns one thread, the bus thread, started by
 * xenbus_bus_start().  Every driver callback runs on it, one at a time, so
 * a driver needs no locks for state touched only from its callbacks (and
 * from fd callbacks it added with xenbus_bus_add_fd()).  Callbacks must
 * not block waiting for a peer: they may make store requests (the daemon
 * answers them) and platform calls, never wait for the other end to move.
 * Functions marked "any thread" may be called from anywhere; the others
 * only from the bus thread (i.e. from a callback) unless they say so.
 * The bus calls that wait for the bus thread (start, settle, shutdown,
 * suspend, resume, free) must not be called from a watch callback of
 * the bus's own store handle either: the bus thread may be waiting for
 * that callback to return (xstore_watch_remove).
 *
 * Conventions as in xstore.h: 0 or -errno; memory returned through an
 * out-pointer is malloc'ed and the caller's; a `struct xenbus_device`
 * belongs to the bus and is valid from probe until detach returns.
 */
#ifndef XSTORE_XENBUS_H
#define XSTORE_XENBUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xstore/xstore.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The XenbusState values of the protocol (xen/io/xenbus.h), 0..8. */
enum xenbus_devstate {
	XENBUS_STATE_UNKNOWN = 0,
	XENBUS_STATE_INITIALISING = 1,
	XENBUS_STATE_INITWAIT = 2,
	XENBUS_STATE_INITIALISED = 3,
	XENBUS_STATE_CONNECTED = 4,
	XENBUS_STATE_CLOSING = 5,
	XENBUS_STATE_CLOSED = 6,
	XENBUS_STATE_RECONFIGURING = 7,
	XENBUS_STATE_RECONFIGURED = 8,
};

/* xenbus_strstate - "Initialising", ... for 0..8, "Invalid" otherwise
 * (static string).  Any thread. */
const char *xenbus_strstate(int state);

enum xenbus_bus_kind {
	XENBUS_FRONTEND,
	XENBUS_BACKEND,
};

struct xenbus_bus;
struct xenbus_device;

/*
 * A driver: one device type on one bus.  Every callback runs on the bus
 * thread and receives the `arg` given to xenbus_register().  Any may be
 * NULL.
 *
 * probe             a new device of this type was found and its other end
 *                   checked.  Return 0 to take it; an error moves the
 *                   device to Closed with an error node and the bus
 *                   forgets it.
 * attach            after a successful probe, before any other callback.
 * detach            the device is going away (its node vanished, the bus
 *                   is being freed, or it was closed after an error).  The
 *                   driver releases what it holds (rings, event channels).
 * otherend_changed  the other end's state is now `state` (events are
 *                   merged: only the newest state is delivered).
 * localend_changed  something under the device's own node changed;
 *                   `subpath` is relative to it ("" for the node itself,
 *                   "state", "queue-0/ring-ref", ...).
 * suspend, resume   see xenbus_bus_suspend() / xenbus_bus_resume().
 */
struct xenbus_driver {
	const char *type; /* "vbd", "vif", ... */
	int (*probe)(struct xenbus_device *dev, void *arg);
	int (*attach)(struct xenbus_device *dev, void *arg);
	void (*detach)(struct xenbus_device *dev, void *arg);
	void (*otherend_changed)(struct xenbus_device *dev,
	                         enum xenbus_devstate state, void *arg);
	void (*localend_changed)(struct xenbus_device *dev, const char *subpath,
	                         void *arg);
	int (*suspend)(struct xenbus_device *dev, void *arg);
	int (*resume)(struct xenbus_device *dev, void *arg);
};

/* ------------------------------------------------------------------ */
/* Buses                                                               */
/* ------------------------------------------------------------------ */

struct xenbus_bus_opts {
	enum xenbus_bus_kind kind;
	/* Our domain id; -1: ask the store (the "domid" node of our home,
	 * read by its relative path; over a socket without one, 0). */
	int domid;
	/*
	 * The platform for grants and event channels: "sim", "sim:DIR",
	 * "xen"; NULL: "sim".  The bus opens it without taking over the
	 * domain's store event channel (a device process is not the guest's
	 * xenstore connection).  Opened on first use (by the ring helpers,
	 * or at xenbus_bus_start() with follow_platform), and tried again
	 * after a failure; a bus that needs no ring helpers works without
	 * one (opening failures are reported by the ring helpers then).
	 */
	const char *platform;
	/* Pending other-end events per device: always 1 (merged); pending
	 * events per bus-level watch before they are merged: 0 = default. */
	unsigned int watch_queue_max;
	/*
	 * Follow our own domain's state as the platform reports it
	 * (plat_domain_exc_fd of the bus's plat): when it becomes
	 * suspended, the bus suspends its devices then the store handle
	 * (xstore_suspend); when it runs again, xstore_resume() then
	 * xenbus_bus_resume().  For a process inside a guest that is
	 * suspended and resumed under it.  Needs the platform at start.
	 */
	bool follow_platform;
};

/*
 * xenbus_bus_new - a bus over the store connection `h` (which the caller
 * keeps open until xenbus_bus_free()).  Nothing runs until
 * xenbus_bus_start().  -EINVAL bad options, -ENOMEM.  Any thread.
 */
int xenbus_bus_new(struct xstore *h, const struct xenbus_bus_opts *opts,
                   struct xenbus_bus **out);

/*
 * xenbus_register - drive devices of `drv->type` with `drv` (the pointer
 * is kept: the driver outlives the bus).  Before xenbus_bus_start() only.
 * -EEXIST that type has a driver, -EBUSY the bus has started.
 */
int xenbus_register(struct xenbus_bus *bus, const struct xenbus_driver *drv,
                    void *arg);

/*
 * xenbus_bus_start - start the bus thread, enumerate the devices present
 * (types, then ids), probe each as the rules below say, then follow
 * hot-plug.  Returns once enumeration is done (probes of the devices
 * present have run).  A device is probed only when new and in
 * Initialising (a backend: also when its frontend is back to
 * Initialising after a Closed: the reconnect rule); otherwise it is left
 * alone.  Any thread except the bus thread.
 */
int xenbus_bus_start(struct xenbus_bus *bus);

/*
 * xenbus_bus_settle - wait until every device present at start has
 * reached Connected or Closed, or has gone away, at most `timeout_ms`.
 * -ETIMEDOUT then, with *stuck (may be NULL) a malloc'ed text naming each
 * stuck device and its state, one per line.  Any thread except the bus
 * thread.
 */
int xenbus_bus_settle(struct xenbus_bus *bus, unsigned int timeout_ms,
                      char **stuck);

/*
 * xenbus_bus_shutdown - orderly shutdown: every Connected device moves to
 * Closing, and the bus waits (at most `timeout_ms`) until its other end
 * is Closing or Closed; then each device moves to Closed and is detached.
 * -ETIMEDOUT if some peer did not follow (*stuck as for settle); a peer
 * whose state node is gone counts as closed.  Afterwards the bus adds
 * no device any more: free it.  Any thread except the bus thread.
 */
int xenbus_bus_shutdown(struct xenbus_bus *bus, unsigned int timeout_ms,
                        char **stuck);

/*
 * xenbus_bus_suspend - before the domain is suspended: call every
 * device's suspend (a failure is reported and does not stop the
 * others), then stop handling events until resume.
 * xenbus_bus_resume - after it resumed (the store connection already
 * resumed): for each device, drop the other-end watch, move to
 * Initialising, find the other end again, call the driver's resume,
 * watch again.  One device's failure does not stop the others.  Any
 * thread except the bus thread.
 */
int xenbus_bus_suspend(struct xenbus_bus *bus);
int xenbus_bus_resume(struct xenbus_bus *bus);

/*
 * xenbus_bus_free - stop the bus thread, detach every device (without
 * touching their state nodes), free.  NULL is ignored.  Any thread
 * except the bus thread.
 */
void xenbus_bus_free(struct xenbus_bus *bus);

/* xenbus_bus_domid - the domain the bus serves.  Any thread. */
unsigned int xenbus_bus_domid(const struct xenbus_bus *bus);

/* xenbus_bus_xstore - the store connection of the bus.  Any thread. */
struct xstore *xenbus_bus_xstore(const struct xenbus_bus *bus);

/*
 * xenbus_bus_add_fd - call fn(fd, arg) on the bus thread whenever `fd` is
 * readable (level-triggered), until xenbus_bus_remove_fd().  For a
 * driver's event channels and timers (timerfd), so that all of a
 * driver's work runs on one thread.  -EEXIST fd already added.  Any
 * thread.
 */
typedef void xenbus_fd_fn(int fd, void *arg);
int xenbus_bus_add_fd(struct xenbus_bus *bus, int fd, xenbus_fd_fn *fn,
                      void *arg);
int xenbus_bus_remove_fd(struct xenbus_bus *bus, int fd);

/* ------------------------------------------------------------------ */
/* Devices (bus thread, unless marked)                                 */
/* ------------------------------------------------------------------ */

/* Accessors: strings valid while the device is. */
const char *xenbus_dev_node(const struct xenbus_device *dev); /* full path */
const char *xenbus_dev_type(const struct xenbus_device *dev);
unsigned int xenbus_dev_id(const struct xenbus_device *dev); /* last part */
enum xenbus_devstate xenbus_dev_state(const struct xenbus_device *dev);
/* The other end's state as the bus last read it (Unknown before). */
enum xenbus_devstate xenbus_dev_otherend_state(const struct xenbus_device *dev);
/* Taken by its driver (false: a backend device closed with its
 * frontend, waiting for it to come back to Initialising). */
bool xenbus_dev_is_probed(const struct xenbus_device *dev);
unsigned int xenbus_dev_otherend_id(const struct xenbus_device *dev);
const char *xenbus_dev_otherend(const struct xenbus_device *dev);
struct xenbus_bus *xenbus_dev_bus(const struct xenbus_device *dev);
void *xenbus_dev_priv(const struct xenbus_device *dev);
void xenbus_dev_set_priv(struct xenbus_device *dev, void *priv);

/*
 * xenbus_switch_state - move the device to `state`, in a transaction of
 * its own that skips an unchanged state, never re-creates a vanished
 * node (-ENOENT) and is retried on EAGAIN.  A failure is reported with
 * xenbus_dev_fatal() too (except -ENOENT).
 */
int xenbus_switch_state(struct xenbus_device *dev, enum xenbus_devstate state);

/*
 * xenbus_read_driver_state - the state at `path`/state (`path` a device
 * node, ours or the other end's); XENBUS_STATE_UNKNOWN when missing or
 * unreadable.  Any thread.
 */
enum xenbus_devstate xenbus_read_driver_state(struct xstore *h,
                                              const char *path);

/*
 * xenbus_dev_error / xenbus_dev_fatal - report `err` (a negative errno)
 * and a printf-style message: "<errno> <message>" is written to
 * error/<node relative to our home>/error, and logged.  fatal also moves
 * the device to Closing.
 */
void xenbus_dev_error(struct xenbus_device *dev, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xenbus_dev_fatal(struct xenbus_device *dev, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * xenbus_watch_path / xenbus_watch_pathf - watch `path` on the bus: `fn`
 * runs on the bus thread for each event, until the device is detached
 * (the bus removes it then) or xenbus_unwatch().  *out (may be NULL) gets
 * the watch.  A failure is reported with xenbus_dev_fatal().
 */
struct xenbus_watch;
typedef void xenbus_watch_fn(struct xenbus_device *dev, const char *path,
                             void *arg);
int xenbus_watch_path(struct xenbus_device *dev, const char *path,
                      xenbus_watch_fn *fn, void *arg,
                      struct xenbus_watch **out);
int xenbus_watch_pathf(struct xenbus_device *dev, xenbus_watch_fn *fn,
                       void *arg, struct xenbus_watch **out, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));
void xenbus_unwatch(struct xenbus_device *dev, struct xenbus_watch *w);

/* ------------------------------------------------------------------ */
/* Rings and event channels over the platform                          */
/* ------------------------------------------------------------------ */

/*
 * xenbus_grant_ring - allocate `npages` zeroed pages, grant each to the
 * other end (writable, one grant each), map them contiguously: *vaddr
 * gets npages * 4096 bytes, refs[0..npages-1] the grant references.
 * xenbus_ungrant_ring undoes it (-EBUSY, reported, if the peer still maps
 * a page: the pages are then kept, and released by the
 * bus once the peer unmaps; the ring is the bus's from then on, so do not
 * call this again for it).
 */
int xenbus_grant_ring(struct xenbus_device *dev, unsigned int npages,
                      void **vaddr, uint32_t *refs);
int xenbus_ungrant_ring(struct xenbus_device *dev, void *vaddr,
                        unsigned int npages, const uint32_t *refs);

/*
 * xenbus_map_ring - map the other end's grants refs[0..n-1] contiguously
 * (writable); *vaddr gets n * 4096 bytes.  xenbus_unmap_ring undoes it.
 */
int xenbus_map_ring(struct xenbus_device *dev, const uint32_t *refs,
                    unsigned int n, void **vaddr);
void xenbus_unmap_ring(struct xenbus_device *dev, void *vaddr, unsigned int n);

/*
 * xenbus_map_grants - map the other end's data grants refs[0..n-1]
 * (1..256) contiguously, writable or read-only: for the pages of a
 * request, which the peer may get wrong.  Unlike xenbus_map_ring a
 * failure is not reported on the device (the caller fails the request:
 * -ENOENT / -EACCES / -EINVAL as the platform says) and the mapping is
 * not tracked: the caller unmaps it with xenbus_unmap_grants(vaddr)
 * before the device is detached.  Any thread (the platform calls are
 * serialised by the bus).
 */
int xenbus_map_grants(struct xenbus_device *dev, const uint32_t *refs,
                      unsigned int n, bool is_writable, void **vaddr);
void xenbus_unmap_grants(struct xenbus_device *dev, void *vaddr);

/*
 * Event channels with the other end: alloc an unbound port for it
 * (frontend), or bind to its port (backend); free closes ours.  notify
 * raises an event at the other end.  Events for a device's ports arrive
 * through `fn` on the bus thread (set with xenbus_evtchn_set_handler);
 * one pending event stands for any number of notifies, so a handler
 * looks at the whole ring each time.
 */
int xenbus_alloc_evtchn(struct xenbus_device *dev, unsigned int *port);
int xenbus_bind_evtchn(struct xenbus_device *dev, unsigned int remote_port,
                       unsigned int *port);
int xenbus_free_evtchn(struct xenbus_device *dev, unsigned int port);
int xenbus_evtchn_notify(struct xenbus_device *dev, unsigned int port);
typedef void xenbus_evtchn_fn(struct xenbus_device *dev, unsigned int port,
                              void *arg);
int xenbus_evtchn_set_handler(struct xenbus_device *dev, unsigned int port,
                              xenbus_evtchn_fn *fn, void *arg);

/* ------------------------------------------------------------------ */
/* Backend extras                                                      */
/* ------------------------------------------------------------------ */

/* xenbus_backend_is_online - the backend's `online` node is "1". */
bool xenbus_backend_is_online(struct xenbus_device *dev);

/* xenbus_write_hotplug_status - write `hotplug-status` ("connected",
 * "error: ..."). */
int xenbus_write_hotplug_status(struct xenbus_device *dev, const char *status);

/* ------------------------------------------------------------------ */
/* Introspection                                                       */
/* ------------------------------------------------------------------ */

/* One device as the store describes it. */
struct xenbus_devinfo {
	char *node;         /* full path of the device node */
	char *type;         /* "vbd" */
	unsigned int domid; /* the domain whose node this is */
	unsigned int id;    /* device id */
	bool is_backend;
	int state;          /* -1 if missing */
	int otherend_id;    /* -1 if missing or malformed */
	char *otherend;     /* NULL if missing */
	int otherend_state; /* -1 if missing */
};

/*
 * xenbus_scan - every frontend and backend device found in the store
 * (of domain `domid`, or of every domain under /local/domain when domid
 * < 0), as the store says, without a bus: what `xstore devices` prints.
 * *out gets a malloc'ed array of *n entries; free with
 * xenbus_devinfo_free(*out, *n).  Any thread.
 */
int xenbus_scan(struct xstore *h, int domid, struct xenbus_devinfo **out,
                unsigned int *n);
void xenbus_devinfo_free(struct xenbus_devinfo *v, unsigned int n);

/*
 * xenbus_bus_foreach - call fn for each device the bus holds (bus's view:
 * its state as last seen, whether probed).  Any thread; fn must not call
 * the bus.
 */
typedef void xenbus_foreach_fn(const struct xenbus_device *dev, void *arg);
void xenbus_bus_foreach(struct xenbus_bus *bus, xenbus_foreach_fn *fn,
                        void *arg);

#ifdef __cplusplus
}
#endif

#endif /* XSTORE_XENBUS_H */
