/*
 * conn.h - one client connection: framing of requests in, a bounded queue
 * of replies and watch events out, over a transport (unix socket now, a
 * guest's shared ring later).
 *
 * A connection belongs to the daemon's list from accept to its free at
 * the loop's safe point; conn_kill() only marks it, so that code holding
 * a pointer during a turn (watch delivery, dispatch) stays safe.  The
 * transport knows bytes, not messages; this module knows messages, not
 * their meaning: the handlers in d->conn_handlers (dispatch.c's, set by
 * daemon_init) do, and this module never includes their header.
 */
#ifndef XSTORE_CONN_H
#define XSTORE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "xstore/wire.h"

struct daemon;
struct conn;
struct loop;
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
	/* Optional (NULL: write is used): gather-write up to `iovcnt`
	 * buffers in one go, same return convention as write. */
	long (*writev)(struct conn *c, const struct iovec *iov, int iovcnt);
	/* Ask for a LOOP_OUT-style wakeup when writing becomes possible. */
	void (*want_write)(struct conn *c, bool on);
	/* Stop or resume reading requests (back-pressure). */
	void (*want_read)(struct conn *c, bool on);
	/* Release transport resources (fd, mapping). */
	void (*close)(struct conn *c);
	/* Optional: the peer broke the protocol (an XS_ERROR_* code); a
	 * ring records it in its error indicator before the kill. */
	void (*fail)(struct conn *c, unsigned int code);
	/* Optional: the turn's input of `c` is recorded (the journal
	 * written): a ring gives the guest the request space back.  A
	 * transport with it has its session saved by the journal
	 * (conn_save_first). */
	void (*commit)(struct conn *c);
	/* Optional: the end-of-turn flush wrote what it could of `c`'s
	 * output (a ring tells the guest once, not once per message). */
	void (*flushed)(struct conn *c);
	/* Optional: serve input that came with no wakeup yet (the loop's
	 * poll window, conn_poll_hot), if finding it needs no system call
	 * (a ring reads its producer index).  True if it read something.
	 * NULL: the transport is read once (conn_handle_input). */
	bool (*poll)(struct conn *c);
	/* Optional: the turn's replies to the input read so far are
	 * written (or queued behind a full transport), so the transport may
	 * now drop that input for good.  A socket reads requests with
	 * MSG_PEEK and takes them off only here: taking them off wakes a
	 * client blocked in read(2) (it frees the client's send buffer),
	 * and it had better be woken once, by its reply.  Called by
	 * conn_flush_all for every connection read this turn; the
	 * transport may keep the input a few turns more unless `force`
	 * (conn_settle_all). */
	void (*settle)(struct conn *c, bool force);
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
	/* A socket's debt to the guests: served again ahead of their
	 * batches once d->guests_clock_us reaches this (conn_sock_may_go). */
	uint64_t debt_until_us;

	unsigned int domid;  /* 0 for socket clients */
	bool is_privileged;  /* dom0 / sockets */
	bool is_readonly;    /* came in through socket_ro */
	bool is_dead;        /* killed; freed at the safe point */
	bool is_hot;         /* in d->hot_sock or d->hot_rings */
	bool is_read_paused; /* back-pressure: output over its bound */
	/* While dead: the next in d->dead_head's list. */
	struct conn *dead_next;

	/* Input framing: bytes as read, possibly several messages, parsed
	 * from the front; what is left is always a part of one message. */
	char *in_buf;   /* CONN_IN_BUF_SIZE + 1 bytes (room for the nul) */
	size_t in_used; /* bytes buffered in in_buf */

	/* Output queue: replies and watch events, in order. */
	struct outmsg *out_head, *out_tail;
	size_t out_off;         /* bytes of out_head already written */
	size_t out_bytes;       /* bytes queued in all (headers included) */
	size_t out_events;      /* watch events queued */
	size_t out_event_bytes; /* their bytes (headers included) */
	size_t out_replies;     /* replies queued (outstanding requests) */
	/* The queued events by content (conn.c): open addressing, linear
	 * probing, at most half full; NULL until the first event. */
	struct outmsg **ev_index;
	uint32_t ev_index_cap;
	/* Unprivileged: reading stops while this many replies wait (Xen's
	 * "outstanding" quota; 0 = no limit). */
	unsigned int outstanding_max;
	/* Unprivileged: bytes queued past which new watch events are
	 * dropped (the domain's memory quota: events it does not read are
	 * memory it makes the daemon keep; 0 = no limit). */
	unsigned long events_mem_max;
	bool is_rate_paused; /* waiting out the write-rate limit */
	uint64_t pause_timer;
	bool is_write_blocked; /* transport full: waiting for want_write */
	bool is_flush_queued;  /* on the daemon's flush list */
	struct conn *flush_next;
	/* A transport with `commit` whose input or queued output changed
	 * this turn is on the daemon's save list (the journal saves it). */
	bool is_save_queued;
	struct conn *save_next;
	bool is_output_ready; /* the transport said it takes more */
	/* Output and input held while the journal could not record the
	 * changes they answer (conn_hold_pending). */
	bool is_held;

	/* Loop timers (0 = none), owned by conn.c: expiry of undelivered
	 * watch events, and the re-run of input after back-pressure ends. */
	uint64_t expire_timer;
	uint64_t kick_timer;
	unsigned long events_dropped; /* over conn_events_max, not yet logged */
	unsigned long events_shed; /* over events_total_max, not yet logged */

	/* Per-connection protocol state (watches, transactions), owned
	 * by the handlers: on_new makes it, on_gone frees it. */
	void *sess;
};

/*
 * What a connection's life and requests mean, to the layer above (the
 * request handlers).  conn.c calls them through d->conn_handlers; all
 * three are required.  Loop thread only.
 */
struct conn_handlers {
	/* A new connection (its domid and rights not set yet): make
	 * c->sess.  0 or -errno (then conn_new fails). */
	int (*on_new)(struct daemon *d, struct conn *c);
	/* c is being freed: drop what c->sess holds, free it. */
	void (*on_gone)(struct daemon *d, struct conn *c);
	/* One whole request: `payload` holds hdr->len bytes and a nul.
	 * Queues exactly one reply on c, or kills c. */
	void (*on_request)(struct daemon *d, struct conn *c,
	                   const struct xs_wire_hdr *hdr, const char *payload);
};

/*
 * The input buffer: one read may bring several small requests, so a
 * client that pipelines costs one read(2) per batch, not two per
 * message.  At least one whole maximal message must fit.
 */
#define CONN_IN_BUF_SIZE 8192u
_Static_assert(CONN_IN_BUF_SIZE >= XS_HDR_SIZE + XS_PAYLOAD_MAX,
               "input buffer must hold a whole message");

/*
 * conn_new - a connection over `ops`, put on the daemon's list (at the
 * tail, with the next id) and given to d->conn_handlers->on_new.  `transport`
 * and `fd` are kept as given (fd may be -1); ops->close releases them
 * when the connection is freed.  The connection starts as domid 0,
 * unprivileged, read-write: the caller sets domid, is_privileged and
 * is_readonly right after, before any request can arrive (so
 * on_new must not depend on them).  Returns NULL on
 * allocation failure or if on_new fails; then nothing is
 * left allocated and the caller still owns transport and fd.
 */
struct conn *conn_new(struct daemon *d, enum conn_kind kind,
                      const struct transport_ops *ops, void *transport, int fd);

/*
 * conn_handle_input - dispatch the whole messages already buffered, then
 * read once from the transport (as much as fits) and dispatch the whole
 * messages that completed, in order.  A header announcing more than
 * XS_PAYLOAD_MAX kills the connection (as the protocol says); a read
 * error or end of stream kills it too.  Stops early when the output
 * queue is over its bound (back-pressure) or the connection dies.  Call
 * it when the transport has input; a no-op on a dead or paused
 * connection.  Returns the bytes read (0: none).
 */
long conn_handle_input(struct conn *c);

/*
 * The guests' share against dom0's sockets.  The daemon's time serving
 * the guests' batches runs a clock (conn_guests_served); each socket
 * connection owes the guests the time its own requests took, up to
 * CONN_SOCK_DEBT_MAX_US, and a batch yields to it once the clock has
 * paid that (conn_sock_may_go).  Guests with no more work forgive every
 * debt (conn_guests_idle).  Per connection: a toolstack that sends one
 * costly request (a domain's INTRODUCE, ~200 us in the simulator) makes
 * its own next request wait for the guests' share, not the next
 * request of another client (in make load, the storm's first requests
 * after each xsim create paid xsim's share: 2% of dom0's requests at
 * +150..300 us, its p99).
 */
#define CONN_SOCK_DEBT_MAX_US 200u

/* conn_guests_served - the guests' batches took `us` more. */
void conn_guests_served(struct daemon *d, uint64_t us);

/* conn_guests_idle - no guest has work left: every debt is paid. */
void conn_guests_idle(struct daemon *d);

/* conn_sock_may_go - has `c` (a socket connection) no debt left? */
bool conn_sock_may_go(const struct conn *c);

/*
 * conn_poll_hot - the loop's poll hook (loop_set_poll_hook, with the
 * daemon as `arg`): serve the connections that read requests last, if
 * they have more, without waiting for their fd's event: the last socket
 * (one read) and up to CONN_HOT_RINGS guests' rings (a look at their
 * index in shared memory).  A client sending request after request is
 * then served with one system call fewer each time (no epoll_wait), and
 * a guest's request is seen before its notify arrives.  Nothing is
 * looked at while the guests' event batches have a backlog
 * (d->evtchn_backlog): then the batches serve the rings in turn, and
 * epoll the sockets beside them, each side its share (domain.c).  True
 * if it read any request bytes.  Loop thread only.
 */
bool conn_poll_hot(struct loop *l, void *arg);

/*
 * The socket is read at each look (a system call), so it stays hot only
 * while that pays: a client that has sent nothing for this many looks
 * is left to epoll until it sends again.  A look is about one system
 * call (~1.3 us here: the poll window's steps between fd polls are the
 * hook's alone), so 64 are 1.5-2 poll windows: a client sending request
 * after request comes back within one.
 */
#define CONN_HOT_SOCK_MISSES 64u

/*
 * conn_handle_output - the transport says it can take more: the queue is
 * written at the end of this turn (conn_flush_all), after the journal,
 * never earlier, since it may hold replies to changes of this turn.
 * conn_flush_all writes until the transport is full (then asks for
 * want_write), and lifts back-pressure once the queue is below half of
 * conn_out_max.  A write error kills the connection.
 */
void conn_handle_output(struct conn *c);

/*
 * conn_send - queue one message: header fields plus `len` payload bytes
 * (copied).  Nothing is written now: conn_flush_all writes every queue
 * at the end of the turn, so replies and events of one turn go out in
 * one writev.  An event identical to one still queued, not yet wholly
 * written, is dropped (returns 0), as Xen 4.17 does: one change seen
 * by two watches with the same token, or a node changed again before
 * the reader took the first event, gives one event, and a reader that
 * falls behind costs one event per (path, token), not per change.
 * Returns 0, -ENOMEM, -E2BIG when len > XS_PAYLOAD_MAX
 * (clients drop a connection that sends such a message, so it is never
 * sent; logged), or -ENOSPC when `is_event` and the connection already
 * holds d->cfg.conn_events_max undelivered events (the event is dropped
 * and logged, once per episode).  Replies are never refused for the
 * bound: reading stops instead once more than d->cfg.conn_out_max bytes
 * are queued, so a client that never reads stops being served.  Events
 * still queued after d->cfg.watch_event_timeout_ms are discarded (never
 * one partly written).  0 for either limit or the timeout = unlimited.
 * On a dead connection the message is discarded and 0 returned.
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

/*
 * conn_pause_for - stop reading requests from `c` for `ms` milliseconds
 * (the write-rate limit); already queued output still goes out.
 */
void conn_pause_for(struct conn *c, uint64_t ms);

/*
 * conn_fail - the peer broke the protocol: record `code` (XS_ERROR_*)
 * through the transport's fail hook, then conn_kill.
 */
void conn_fail(struct conn *c, unsigned int code, const char *why);

/* conn_free - unlink, tell on_gone, close the transport, free.  Only at
 * the safe point. */
void conn_free(struct conn *c);

/*
 * conn_flush_all - write the queued output of every live connection
 * whose transport is not known to be full, then let the transport of
 * each connection read this turn drop what it served (settle).  For the
 * turn hook: O(number of connections).
 */
void conn_flush_all(struct daemon *d);

/*
 * conn_settle_all - let every live connection's transport drop the input
 * it has served (the settle op, forced), so that nothing read stays
 * queued in the kernel: before the connections' fds go to another
 * process (live update), which would read it again.
 */
void conn_settle_all(struct daemon *d);

/* conn_will_flush - will this turn's conn_flush_all write to `c` (and
 * so call its transport's flushed)? */
bool conn_will_flush(const struct conn *c);

/*
 * conn_save_first - the first connection whose session changed this turn
 * (transports with `commit` only), the next through c->save_next; NULL
 * when none.  The journal saves each before conn_commit_all.
 */
struct conn *conn_save_first(const struct daemon *d);

/* conn_mark_save - put `c` on the save list (a new session). */
void conn_mark_save(struct conn *c);

/*
 * conn_commit_all - the turn is recorded: call ops->commit of every
 * connection on the save list (not held ones) and empty the list.
 * Before conn_flush_all.
 */
void conn_commit_all(struct daemon *d);

/*
 * conn_hold_pending - the journal could not record this turn: every
 * connection with output queued this turn keeps it (no reply to an
 * unrecorded change may leave) and stops reading, until
 * conn_release_held.  conn_release_held - the state is recorded again
 * (a snapshot succeeded): let them go at the next flush.
 */
void conn_hold_pending(struct daemon *d);
void conn_release_held(struct daemon *d);

/*
 * Saving a connection's session (a guest's, for the journal) and
 * restoring it after a restart.  conn_input - the bytes of a partly
 * received request (*len of them; valid until the next input).
 * conn_output_len / conn_output_copy - the queued output not yet
 * written, as one byte stream, and a copy of it into `buf` (at least
 * conn_output_len bytes).  conn_restore - put back saved input (at most
 * CONN_IN_BUF_SIZE bytes) and output on a new connection with empty
 * queues; 0, -EINVAL (too much input), -ENOMEM.
 */
const char *conn_input(const struct conn *c, size_t *len);
size_t conn_output_len(const struct conn *c);
void conn_output_copy(const struct conn *c, void *buf);
int conn_restore(struct conn *c, const void *in, size_t in_len, const void *out,
                 size_t out_len);

/*
 * conn_reap - conn_free every connection marked dead.  For the turn hook
 * (the safe point), after conn_flush_all (which may kill).
 */
void conn_reap(struct daemon *d);

#endif
