/*
 * bus_int.h - the bus and device records shared by bus.c (the bus
 * thread, its work queues and the public bus calls), device.c (devices:
 * discovery, probe, other end, removal, reconnect) and helpers.c (the
 * driver-facing helpers).  Not installed; white-box tests read it.
 *
 * Locking: bus->lock guards everything the watch thread or another
 * caller touches (work queues, the device list, every field marked
 * "lock" below); fields marked "bus thread" are only touched there.  No
 * store request and no driver callback runs with bus->lock held.
 */
#ifndef XSTORE_LIB_XENBUS_BUS_INT_H
#define XSTORE_LIB_XENBUS_BUS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/xenbus/xb_int.h"
#include "xstore/xenbus.h"

/* Pending events per bus-level watch (local subtree, driver watches)
 * before they are merged into one on the watched path. */
#define XB_WATCH_QUEUE_MAX 64u
/* Distinct pending hot-plug paths before the bus rescans everything. */
#define XB_ROOT_QUEUE_MAX 64u
/* Tries of a state transaction that keeps losing (EAGAIN). */
#define XB_TXN_TRIES 64

enum xb_watch_kind {
	XB_W_OTHEREND, /* the other end's state: a flag, not a queue */
	XB_W_LOCAL,    /* the device's own subtree */
	XB_W_USER,     /* xenbus_watch_path() */
};

struct xb_event {
	struct xb_event *next;
	char path[];
};

struct xenbus_watch {
	struct xenbus_bus *bus;
	struct xenbus_device *dev;
	enum xb_watch_kind kind;
	char *path; /* immutable: stale events are told by it */
	xenbus_watch_fn *fn;
	void *arg;
	struct xstore_watch *xw;
	/* lock */
	struct xb_event *ev_head, *ev_tail;
	unsigned int nev;
	bool is_collapsed; /* the queue was merged into one event */
	bool is_pending;   /* XB_W_OTHEREND: an event is waiting */
	bool is_dirty;     /* in bus->dirty */
	struct xenbus_watch *dirty_next;
	/* bus thread */
	struct xenbus_watch *next; /* dev->user_watches */
	bool must_free;            /* freed while its handler ran */
};

struct xb_driver {
	const struct xenbus_driver *drv;
	void *arg;
};

enum xb_phase {
	XB_PROBING, /* found, not yet taken by its driver */
	XB_ACTIVE,  /* probed and attached */
	XB_DORMANT, /* backend closed with its frontend: awaiting reconnect */
};

struct xenbus_device {
	struct xenbus_bus *bus;
	const struct xb_driver *drv;
	char *node; /* immutable from here to free */
	size_t node_len;
	char *type;
	unsigned int id;
	unsigned int fe_domid; /* backend: the domid part of the path */
	/* written on the bus thread under lock; read under lock elsewhere */
	enum xb_phase phase;
	enum xenbus_devstate state;
	enum xenbus_devstate otherend_state;
	unsigned int otherend_id;
	char *otherend;
	void *priv;
	bool is_connecting; /* counted in bus->connecting (settle) */
	bool is_closing;    /* xenbus_bus_shutdown waits for its peer */
	/* bus thread */
	bool is_held;         /* its driver saw it: xb_ring_dev_gone due */
	bool has_seen_closed; /* dormant: the frontend went Closed */
	bool must_verify;     /* check that the node still exists */
	bool must_review;     /* in bus->review */
	bool must_reconnect;
	struct xenbus_device *review_next;
	struct xenbus_watch *ow, *lw, *user_watches;
	/* lock */
	struct xenbus_device *next, *prev; /* bus->devices */
	struct xenbus_device *hnext;       /* bus->hash */
};

/* What the bus counts, for tests (bus->lock). */
struct xb_stats {
	uint64_t otherend_events;     /* other-end events from libxstore */
	uint64_t otherend_delivered;  /* otherend_changed calls */
	unsigned int watch_queue_hwm; /* most events queued on one watch */
	unsigned int root_queue_hwm;  /* most hot-plug paths queued */
};

struct xb_call;
struct xb_fd;
struct xb_rootev;

#define XB_HASH_SIZE 256u

struct xenbus_bus {
	struct xstore *h;
	enum xenbus_bus_kind kind;
	unsigned int domid;
	unsigned int ncomp; /* id components below the type: 1 or 2 */
	char *home;         /* /local/domain/<domid> */
	char *root;         /* home/device or home/backend */
	size_t root_len;
	char *platform;
	bool follow_platform;
	unsigned int watch_queue_max; /* per bus-level watch */
	struct xb_driver *drivers;
	unsigned int ndrivers;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* calls done, states moved (CLOCK_MONOTONIC) */
	pthread_t thread;
	bool has_thread;
	int epfd, wakefd;
	struct xstore_watch *root_watch; /* bus thread */

	/* lock */
	struct xb_call *calls, *calls_tail;
	struct xb_rootev *rootq;
	unsigned int nrootq;
	bool must_rescan;
	struct xenbus_watch *dirty, *dirty_tail;
	struct xenbus_device *devices;
	struct xenbus_device *hash[XB_HASH_SIZE];
	unsigned int ndevices;
	unsigned int connecting;
	struct xb_fd *fds;
	int running_fd;
	bool is_suspended, is_shutting_down, is_stopping, is_starting;
	struct xb_stats stats;

	/* bus thread */
	struct xenbus_watch *dispatching;
	struct xenbus_device *review;
	int plat_exc_fd; /* follow_platform: -1 if none */
	bool plat_was_suspended;

	/* the platform (xb_int.h) */
	pthread_mutex_t plat_open_lock, plat_lock;
	struct plat *plat;
};

/* bus.c */
void xb_wake(struct xenbus_bus *bus);
bool xb_is_bus_thread(struct xenbus_bus *bus);
void xb_stats_get(struct xenbus_bus *bus, struct xb_stats *out);
void xb_report(const char *node, int err, const char *what);

/* device.c (bus thread) */
int xb_dev_add(struct xenbus_bus *bus, const char *type, unsigned int fe,
               unsigned int id);
void xb_dev_free(struct xenbus_device *dev, bool is_detach);
struct xenbus_device *xb_dev_find(struct xenbus_bus *bus, const char *node);
void xb_dev_review_mark(struct xenbus_device *dev);
void xb_review(struct xenbus_bus *bus);
void xb_dispatch(struct xenbus_bus *bus);
void xb_dev_set_state(struct xenbus_device *dev, enum xenbus_devstate s);
void xb_dev_resume(struct xenbus_device *dev);
int xb_watch_new(struct xenbus_device *dev, const char *path,
                 enum xb_watch_kind kind, xenbus_watch_fn *fn, void *arg,
                 struct xenbus_watch **out);
void xb_watch_free(struct xenbus_watch *w);
void xb_release_connecting(struct xenbus_device *dev); /* lock held */

/* helpers.c (bus thread) */
int xb_switch_state(struct xenbus_device *dev, enum xenbus_devstate state,
                    bool is_reported);
int xb_parse_uint(const char *s, unsigned int max, unsigned int *out);

#endif
