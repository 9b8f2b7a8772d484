/*
 * client_int.h - the inside of a libxstore handle, shared by the files of
 * lib/ and by white-box tests; not installed.
 *
 * Locks, always taken in this order when nested:
 *   reset_lock  serialises resume/reconnect (held across the whole reset)
 *   watch_lock  the watch list, the event queue, the running callback
 *   send_lock   one message on the wire at a time; also held while a
 *               reset swaps the connection
 *   lock        connection state, pending requests, suspend state,
 *               automatic reconnection, transaction records
 * No lock is held while a callback runs or while waiting for a reply,
 * except `lock` inside pthread_cond_wait.  The keeper thread
 * (reconnect.c) takes reset_lock for a whole automatic reconnection.
 */
#ifndef XSTORE_LIB_CLIENT_INT_H
#define XSTORE_LIB_CLIENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lib/transport.h"
#include "xstore/xstore.h"

/* A request waiting for its reply; lives on the requester's stack. */
struct xs_pending {
	struct xs_pending *next, *prev;
	uint32_t req_id;
	uint32_t type;
	pthread_cond_t cond;
	bool is_done;
	bool is_lost;   /* with is_done: the connection broke first and an
	                 * automatic reconnection follows (xs_talk decides) */
	int err;        /* set with is_done: 0 or -errno */
	uint32_t rtype; /* reply type */
	char *reply;    /* malloc'ed, len + 1 with a nul */
	size_t reply_len;
};

/* A queued watch event. */
struct xs_event {
	struct xs_event *next, *prev;
	struct xstore_watch *w;
	unsigned int flags; /* XSTORE_EVENT_* */
	char path[];
};

struct xstore_watch {
	struct xstore_watch *next, *prev; /* h->watches */
	char *path;
	int depth;
	char token[24];
	xstore_watch_fn *fn;
	void *arg;
	unsigned int nqueued;     /* its events in h->events */
	unsigned int queue_max;   /* 0: the handle's h->queue_max */
	unsigned int nqueued_max; /* high-water mark of nqueued (tests) */
	bool is_collapsed;        /* an overflow event is queued */
	bool is_linked;           /* in h->watches */
	bool must_free;           /* removed during its own callback */
	uint64_t gen;             /* connection it was last registered on */
};

/*
 * A transaction this handle started, and the connection it lives on: once
 * that connection is gone, so is the transaction (reconnect.c).
 */
struct xs_txn_rec {
	struct xs_txn_rec *next;
	uint32_t id;  /* the daemon's */
	uint64_t gen; /* conn_gen of its TRANSACTION_START's reply */
};

enum xs_suspend_state {
	XS_RUNNING,
	XS_DRAINING,  /* suspend waits for transactions: no new ones */
	XS_SUSPENDED, /* no requests at all until resume */
};

struct xstore {
	struct xs_tr *tr;
	unsigned int flags;

	pthread_mutex_t reset_lock;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* suspend state, counters changed */
	struct xs_pending *pending;
	uint32_t next_req_id;
	unsigned int inflight; /* requests between gate and reply */
	unsigned int txns;     /* open transactions (hold off suspend) */
	enum xs_suspend_state state;
	bool is_resetting;          /* pending requests fail with ECONNRESET */
	int conn_err;               /* 0, or why the connection is gone */
	uint64_t conn_gen;          /* bumped by every (re)connection */
	bool has_answered;          /* a reply came on this connection */
	unsigned int timeout_first; /* ms, until has_answered (0: none) */
	unsigned int timeout_ms;    /* ms, after it (0: none) */
	pthread_t rx_thread;
	bool has_rx_thread; /* started and not yet joined */

	/* Automatic reconnection (reconnect.c), under `lock`. */
	bool is_sock;              /* the transport may reconnect by itself */
	unsigned int reconnect_ms; /* bound of one attempt cycle; 0: never */
	bool must_reconnect;       /* work for the keeper */
	bool is_one_try;           /* ... one connect, no backoff */
	bool is_broken;            /* a send saw the peer go: the receive
	                            * thread's end is a break, not ours */
	bool is_given_up;          /* the last cycle ran out of time */
	unsigned int giveups;      /* cycles that ran out of time */
	bool is_closing;           /* xstore_close() has begun */
	pthread_t keeper;
	bool has_keeper;
	struct xs_txn_rec *txn_recs; /* open transactions, newest first */

	pthread_mutex_t send_lock;

	pthread_mutex_t watch_lock;
	pthread_cond_t watch_cond; /* events queued; callback finished */
	struct xstore_watch *watches;
	struct xs_event *ev_head, *ev_tail;
	struct xstore_watch *running; /* whose callback runs now */
	unsigned int queue_max;
	uint32_t next_watch_id;
	pthread_t watch_thread;
	bool has_watch_thread;
	bool is_stopping;

	/* The trace hook: read under send_lock (sends), lock (receives). */
	xstore_trace_fn *trace_fn;
	void *trace_arg;

	/* The receive buffer: only the receive thread touches it. */
	char rxbuf[XS_PAYLOAD_MAX + 1];
};

/* Flags of xs_talk. */
#define XS_TALK_FORCE 1u /* bypass the suspend gate (resume's own WATCHes) */
#define XS_TALK_NOREC 2u /* `t` is not looked up in the transaction records */

/*
 * xs_talk - the core: send `type` with the concatenation of iov[0..n) as
 * payload in transaction t, wait for the reply.  On success, if `reply`
 * is not NULL, *reply gets the malloc'ed payload (with a nul added) and
 * *len (may be NULL) its length; an ERROR reply gives its -errno.  A
 * reply of another type than the request is -EPROTO.
 */
int xs_talk(struct xstore *h, uint32_t type, xstore_txn_t t,
            const struct iovec *iov, unsigned int n, unsigned int flags,
            char **reply, size_t *len, uint32_t *rtype);

/* xs_talk of nul-terminated strings, each sent with its nul. */
int xs_talk_strs(struct xstore *h, uint32_t type, xstore_txn_t t,
                 const char *const *strs, unsigned int n, char **reply,
                 size_t *len);

/*
 * xs_talk_gen - xs_talk of a TRANSACTION_START: *gen gets the connection
 * (conn_gen) its reply came on, for the transaction's record.
 */
int xs_talk_gen(struct xstore *h, uint32_t type, const struct iovec *iov,
                unsigned int n, char **reply, uint64_t *gen);

/* xs_open_tr - a handle over an already-connected transport (tests). */
int xs_open_tr(struct xs_tr *tr, unsigned int flags, struct xstore **out);

/* watch.c: for the core */
int xs_watch_event_in(struct xstore *h, const char *buf, size_t len);
int xs_watch_reregister(struct xstore *h);
bool xs_is_watch_thread(struct xstore *h);
void xs_watch_fini(struct xstore *h);

/* client.c: for reconnect.c */
int xs_reset_conn(struct xstore *h, bool is_reopen, bool is_auto);

/*
 * reconnect.c: for the core.  All with `lock` held except xs_auto_init
 * (at open) and xs_auto_fini (at close, before the receive thread stops).
 */
void xs_auto_init(struct xstore *h);
bool xs_auto_begin(struct xstore *h);
bool xs_auto_retry(struct xstore *h, unsigned int entry_giveups);
void xs_auto_fini(struct xstore *h);
/*
 * What becomes of a request that the break caught (p->is_lost): 1 to send
 * it again, else its result.  `is_sent`: it went out whole.
 */
int xs_lost_fate(struct xstore *h, uint32_t type, xstore_txn_t t,
                 unsigned int flags, bool is_sent, bool is_commit);
int xs_txn_add(struct xstore *h, uint32_t id, uint64_t gen);
struct xs_txn_rec *xs_txn_find(struct xstore *h, uint32_t id);
void xs_txn_forget(struct xstore *h, uint32_t id);
void xs_txn_fini(struct xstore *h);

#endif
