/*
 * transport.h - how libxstore moves bytes: a small vtable with two
 * implementations, the unix socket (sock.c) and the shared ring (ring.c).
 *
 * A transport is a byte stream in each direction and knows nothing of
 * messages.  The client core serialises senders (one send at a time) and
 * has exactly one receiver, its receive thread; a transport may rely on
 * both.  shutdown() may be called from any thread, at any time, and makes
 * a blocked send or recv return -ESHUTDOWN; after it only reopen(),
 * reset() or free() are valid.
 */
#ifndef XSTORE_LIB_TRANSPORT_H
#define XSTORE_LIB_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

struct xs_tr;

struct xs_tr_ops {
	const char *name; /* "unix", "ring" */
	/* Send all `len` bytes; 0 or -errno (-EPIPE, -ESHUTDOWN, -EIO...). */
	int (*send)(struct xs_tr *tr, const void *buf, size_t len);
	/*
	 * Receive exactly `len` bytes.  -ENOTCONN when the peer closed (at a
	 * message boundary or not), -ESHUTDOWN after shutdown(), -EIO when
	 * the peer broke the transport (ring indexes out of range).
	 */
	int (*recv)(struct xs_tr *tr, void *buf, size_t len);
	void (*shutdown)(struct xs_tr *tr);
	/* A fresh connection to the same place (resume; lost socket). */
	int (*reopen)(struct xs_tr *tr);
	/* In-band reset of the same connection; NULL: not supported. */
	int (*reset)(struct xs_tr *tr);
	/* Can reset() work now?  Asked before anything is torn down. */
	bool (*can_reset)(struct xs_tr *tr);
	void (*free)(struct xs_tr *tr);
};

struct xs_tr {
	const struct xs_tr_ops *ops;
};

/* sock.c: connect to the unix socket at `path`. */
int sock_tr_open(const char *path, struct xs_tr **out);

/*
 * ring.c: act as guest `domid` of the simulated platform whose directory
 * is `simdir` (NULL: the platform's default).
 */
int ring_tr_open(unsigned int domid, const char *simdir, struct xs_tr **out);

#endif
