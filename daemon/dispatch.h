/*
 * dispatch.h - from a framed request to store operations and replies.
 *
 * The request handlers (dispatch.c, control.c), above the sessions
 * (session.c: conn->sess, watches and transactions) and the delivery of
 * watch events (events.c).
 */
#ifndef XSTORE_DISPATCH_H
#define XSTORE_DISPATCH_H

#include "xstore/wire.h"

struct daemon;
struct conn;
struct conn_handlers;

/* The request handlers as conn.c sees them (on_new: dispatch_conn_new,
 * on_gone: dispatch_conn_gone, on_request: dispatch_request); daemon_init
 * puts them in d->conn_handlers. */
extern const struct conn_handlers dispatch_conn_handlers;

/* dispatch_conn_new - set up c->sess.  0 or -ENOMEM. */
int dispatch_conn_new(struct daemon *d, struct conn *c);

/* dispatch_conn_gone - drop c's watches and transactions, free c->sess. */
void dispatch_conn_gone(struct daemon *d, struct conn *c);

/*
 * dispatch_request - handle one request.  `payload` holds hdr->len bytes
 * (hdr->len <= XS_PAYLOAD_MAX) followed by a nul the framer adds, so that
 * string handling cannot run off the end.  Every request gets exactly one
 * reply queued on `c` (or c is killed); watch events may be queued on
 * any connection.
 */
void dispatch_request(struct daemon *d, struct conn *c,
                      const struct xs_wire_hdr *hdr, const char *payload);

/* dispatch_conn_watches / dispatch_conn_txns - counts for one
 * connection (CONTROL quota, quotas). */
unsigned int dispatch_conn_watches(const struct conn *c);
unsigned int dispatch_conn_txns(const struct conn *c);

/* dispatch_conn_mem - what an unprivileged connection makes the daemon
 * keep besides its nodes (watches, queued output, its transactions'
 * records): charged to its memory quota.  0 for the privileged. */
unsigned long dispatch_conn_mem(const struct daemon *d, const struct conn *c);

#endif
