/*
 * conn.h - one client connection: framing of requests in, a bounded queue
 * of replies and watch events out, over a transport (unix socket now, a
 * guest's shared ring later).
 *
 * A connection belongs to the daemon's list from accept to its free at
 * the loop's safe point; conn_kill() only marks it, so that code holding
 * a pointer during a turn (watch delivery, dispatch) stays safe.  The
 * transport knows bytes, not messages; this module knows messages, not
 * their meaning (dispatch does).
 */
#ifndef XSTORE_CONN_H
#define XSTORE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xstore/wire.h"

struct daemon;
struct conn;
struct outmsg;

/*
 * A transport moves bytes.  read/write return bytes moved (0 = nothing
 * possible now), or -errno (-EPIPE/-ECONNRESET = peer gone).  A socket
 * transport is a thin wrapper of read(2)/write(2); a ring transport
 * (guests) copies into and out of the shared page.
 */
struct transport_ops {
	const char *name; /* "socket", "ring" */
	long (*read)(struct conn *c, void *buf, size_t len);
	long (*write)(struct conn *c, const void *buf, size_t len);
	/* Ask for a LOOP_OUT-style wakeup when writing becomes possible. */
	void (*want_write)(struct conn *c, bool on);
	/* Stop or resume reading requests (back-pressure). */
	void (*want_read)(struct conn *c, bool on);
	/* Release transport resources (fd, mapping). */
	void (*close)(struct conn *c);
};

enum conn_kind {
	CONN_SOCKET,
	CONN_RING,
};

struct conn {
	/* The daemon's list of connections, oldest first. */
	struct conn *next, *prev;
	struct daemon *d;
	uint64_t id; /* unique for the daemon's life, for logs */
	enum conn_kind kind;
	const struct transport_ops *ops;
	void *transport; /* owned by ops */
	int fd;          /* socket fd, or -1 */

	unsigned int domid;   /* 0 for socket clients */
	bool is_privileged;   /* dom0 / sockets */
	bool is_readonly;     /* came in through socket_ro */
	bool is_dead;         /* killed; freed at the safe point */
	bool is_read_paused;  /* back-pressure: output over its bound */

	/* Input framing: header, then payload, into in_buf. */
	char *in_buf;   /* XS_HDR_SIZE + XS_PAYLOAD_MAX + 1 bytes */
	size_t in_used; /* bytes of the current message read so far */

	/* Output queue: replies and watch events, in order. */
	struct outmsg *out_head, *out_tail;
	size_t out_off;     /* bytes of out_head already written */
	size_t out_bytes;   /* bytes queued in all (headers included) */
	size_t out_events;  /* watch events queued */

	/* Per-connection protocol state (watches, transactions), owned by
	 * dispatch; created by dispatch_conn_new, freed by dispatch_conn_gone. */
	void *sess;
};

/*
 * conn_new - a connection over `ops`, put on the daemon's list and given
 * to dispatch.  `transport` and `fd` are kept as given (fd may be -1).
 * Returns NULL on allocation failure (the caller still owns transport).
 */
struct conn *conn_new(struct daemon *d, enum conn_kind kind,
		      const struct transport_ops *ops, void *transport, int fd);

/*
 * conn_handle_input - read what the transport has, dispatching each whole
 * message in order.  A header announcing more than XS_PAYLOAD_MAX kills
 * the connection (as the protocol says).  Stops early when the output
 * queue is over its bound (back-pressure) or the connection dies.
 */
void conn_handle_input(struct conn *c);

/*
 * conn_handle_output - write what is queued until the transport is full.
 */
void conn_handle_output(struct conn *c);

/*
 * conn_send - queue one message: header fields plus `len` payload bytes
 * (copied).  Returns 0, -ENOMEM, or -ENOSPC when `is_event` and the
 * connection already holds its bound of undelivered events (the event is
 * dropped and logged).  Replies are never refused for the bound: reading
 * stops instead, so a client that never reads stops being served.
 */
int conn_send(struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
	      const void *payload, size_t len, bool is_event);

/*
 * conn_send_error - queue an ERROR reply carrying xs_errno_name(err)
 * (err > 0).  Returns as conn_send.
 */
int conn_send_error(struct conn *c, uint32_t req_id, uint32_t tx_id, int err);

/* conn_kill - mark dead (idempotent); logged with `why`. */
void conn_kill(struct conn *c, const char *why);

/* conn_free - unlink, tell dispatch, close the transport, free.  Only at
 * the safe point. */
void conn_free(struct conn *c);

#endif
