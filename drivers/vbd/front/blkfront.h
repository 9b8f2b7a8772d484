/*
 * blkfront.h - the guest side of one Xen virtual block device (blkif)
 * on the frontend bus, as the nbdkit plugin (plugin.c) uses it: start
 * the bus for one vbd of one domain, wait for it to connect, run I/O
 * on it from any number of threads, stop.
 *
 * One device per process (the plugin serves one export): the state is
 * a singleton in blkfront.c.  I/O calls block their caller until the
 * backend answered (or the device failed); the bus thread never blocks.
 */
#ifndef VBD_FRONT_BLKFRONT_H
#define VBD_FRONT_BLKFRONT_H

#include <stdbool.h>
#include <stdint.h>

struct bf_opts {
	unsigned int domid;     /* the guest */
	unsigned int devid;     /* vbd/<devid> */
	const char *store;      /* xstore_open spec; NULL: ring:<domid> */
	const char *platform;   /* "sim", "sim:DIR"; NULL: "sim" */
	bool is_persistent;     /* offer feature-persistent, keep a page pool */
	unsigned int max_order; /* ring pages: at most 2^max_order */
	unsigned int max_segs;  /* per request: 11 .. indirect max */
	unsigned int io_timeout_ms; /* an I/O waiting this long unserved: EIO */
	/* Called (bus thread) once the device was removed: the export
	 * should end.  May be NULL. */
	void (*on_gone)(void);
	/* Log each state step on stderr (nbdkit -v shows nbdkit_debug). */
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

/* What the backend told us at Connected. */
struct bf_info {
	uint64_t size;            /* bytes */
	unsigned int sector_size; /* logical block size, bytes */
	bool is_readonly;         /* info & VDISK_READONLY, or mode "r" */
	bool has_flush;           /* feature-flush-cache */
	bool has_discard;         /* feature-discard */
	bool is_persistent;       /* both ends use persistent grants */
	unsigned int ring_pages;
	unsigned int max_segs; /* segments per request in use */
};

/*
 * bf_start - open the store, reset a device a dead predecessor left
 * half-connected (as Linux's xenbus_reset_state does after kexec),
 * start the bus.  Not on the bus thread (there is none yet).  -errno.
 */
int bf_start(const struct bf_opts *opts);

/*
 * bf_wait_connected - wait at most `timeout_ms` for the device to be
 * Connected; *out gets what the backend said.  -ETIMEDOUT, -ENODEV
 * (the device went away).  Any thread but the bus thread.
 */
int bf_wait_connected(unsigned int timeout_ms, struct bf_info *out);

enum bf_op {
	BF_READ,
	BF_WRITE,
	BF_FLUSH,
	BF_DISCARD,
};

/*
 * bf_io - one I/O of `len` bytes at byte `off` (both multiples of 512;
 * buf is unused for flush and discard), split into blkif requests and
 * waited for.  Across a backend reconnect the unanswered parts are sent
 * again on the new ring; an I/O that could not be served for
 * io_timeout_ms fails.  0, -EIO (the backend refused or is gone),
 * -EOPNOTSUPP, -EINVAL (unaligned), -ENODEV (the device was removed).
 * Any thread but the bus thread; buf stays the caller's.
 */
int bf_io(enum bf_op op, void *buf, uint64_t off, uint32_t len);

/*
 * bf_stop - orderly close (Closing, wait for the backend, Closed), stop
 * the bus, close the store.  Fails every waiting I/O.  Any thread but
 * the bus thread; safe without bf_start.
 */
void bf_stop(void);

/* bf_is_gone - the device was removed (the export should end). */
bool bf_is_gone(void);

#endif
