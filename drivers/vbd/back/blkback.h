/*
 * blkback.h - what the files of xsblkback share: one `struct vbd` per
 * backend device (the image, the connection to its frontend, the
 * requests in flight) and the job a worker thread runs.  A vbd belongs
 * to the bus thread (probe to detach); workers touch only the jobs they
 * are given and the device's done list (under vbd->lock).
 */
#ifndef VBD_BACK_BLKBACK_H
#define VBD_BACK_BLKBACK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#include "common/siphash.h"
#include "drivers/vbd/common/blkif_proto.h"
#include "xstore/xenbus.h"

/* Linux's bound: 256 segments * 11 per request... its default table. */
#define VBD_PGRANT_MAX   1056u
#define VBD_PGRANT_SLOTS 2048u /* open addressing, load <= 0.52 */
/* Requests taken per look at a ring before the others get a turn. */
#define VBD_BATCH 32u

extern int vbd_verbose;

/* A persistent grant: the frontend's ref, mapped once for the device. */
struct vbd_pgrant {
	uint32_t gref;
	bool is_used;
	void *page;
};

/* One request at the workers: owned by the bus thread except between
 * io_submit() and its return on the done list. */
struct vbd_job {
	struct vbd_job *next;
	struct vbd *v;
	struct blkif_req req;
	struct blkif_seg *segs; /* req.seg, or the copied indirect ones */
	unsigned int nseg;
	/*
	 * pages[i]: segment i's page.  Persistent ones are filled on the bus
	 * thread; the others (rest[0..nrest), going to pages[where[k]]) are
	 * mapped by the worker, in one mapping (map), so that the cost of
	 * mapping never holds up the bus thread and the other devices.
	 */
	void **pages;
	uint32_t *rest;
	unsigned int *where;
	unsigned int nrest;
	bool is_map_writable;
	void *map;
	struct iovec *iov;
	int16_t status;
	enum blkif_refusal refusal; /* the worker's, logged on the bus thread */
};

struct vbd {
	struct xenbus_device *dev;
	char name[32]; /* "<frontid>/<devid>" for the log */
	/* The image. */
	int fd;
	bool is_blockdev;
	struct blkif_limits lim;
	/* The connection (frontend Initialised -> Connected). */
	bool is_connected;
	void *sring;
	unsigned int ring_pages;
	uint32_t ring_refs[1u << BLKIF_MAX_RING_ORDER];
	unsigned int remote_port, port;
	bool has_port;
	/* The frontend's port when we were probed with it mid-handshake
	 * (an earlier backend was killed): still bound to that one. */
	unsigned int stale_port;
	bool has_stale_port;
	struct blkif_backring br;
	bool use_persistent;
	struct vbd_pgrant *pgrants; /* VBD_PGRANT_SLOTS; NULL if none */
	struct siphash_key pg_key;  /* the guest picks the refs */
	unsigned int n_pgrants;
	/* Completions, from the workers; also "look at the ring again". */
	int efd;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	struct vbd_job *done;    /* lock */
	unsigned int at_workers; /* lock */
	unsigned int in_flight;  /* bus thread: jobs not answered */
	struct vbd_job *barrier; /* waiting for in_flight to drain */
	bool is_plugged;         /* a barrier waits or runs */
	/* One log line per refusal class, at most every few seconds. */
	uint64_t refused[BLKIF_REFUSAL_COUNT];
	uint64_t refused_logged[BLKIF_REFUSAL_COUNT];
	time_t refused_at[BLKIF_REFUSAL_COUNT];
};

/* vbd.c: the driver of "vbd" devices on the backend bus. */
extern const struct xenbus_driver vbd_driver;

/* req.c: the ring (bus thread). */
/* vbd_guard_init - survive guest pages vanishing (SIGBUS): at start. */
int vbd_guard_init(void);
void vbd_ring_kick(struct vbd *v);
void vbd_on_efd(int fd, void *arg);
void vbd_ring_stop(struct vbd *v);
void vbd_refused(struct vbd *v, enum blkif_refusal r,
                 const struct blkif_req *q);

int vbd_pages_map(struct xenbus_device *dev, const uint32_t *rest,
                  const unsigned int *where, unsigned int nrest,
                  bool is_writable, void **pages, void **map);

/* io.c: the workers. */
int io_start(unsigned int nthreads);
void io_stop(void);
void io_submit(struct vbd_job *j);
/* io_drain - wait until none of v's jobs is at a worker. */
void io_drain(struct vbd *v);

void vbd_log(const struct vbd *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* VBD_BACK_BLKBACK_H */
