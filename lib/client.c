/*
 * client.c - the core of libxstore: a handle, its connection, and the
 * request/reply machinery.
 *
 * Many requests may be in flight at once.  A requester registers a
 * pending record (on its own stack) under a fresh req_id, sends its whole
 * message under send_lock, and sleeps on the record's condition variable.
 * One receive thread per connection reads every message: watch events go
 * to watch.c's queue, replies to the pending record with their req_id.
 * Anything the daemon sends that we cannot trust -- a length over
 * XS_PAYLOAD_MAX, an unknown req_id, a reply of the wrong type -- ends the
 * connection (-EPROTO for the waiting requests): a length is never used
 * to allocate before it is checked.
 *
 * Suspend is the seed's: open transactions hold it off, and while
 * suspended every request waits at the gate in xs_talk().  A reset
 * (resume, reconnect) stops the receive thread, fails what was waiting,
 * connects again and registers every watch again before opening the gate.
 * When the daemon goes away, a socket handle resets by itself
 * (reconnect.c): the requests caught in flight are then not failed but
 * "lost", and each requester decides whether its request goes again.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/client_int.h"

/* ---- connection state ---- */

/* Fail every pending request with `err`; lock held. */
static void fail_pending(struct xstore *h, int err)
{
	struct xs_pending *p;

	while ((p = h->pending) != NULL) {
		h->pending = p->next;
		if (p->next)
			p->next->prev = NULL;
		p->next = p->prev = NULL;
		p->is_done = true;
		p->err = err;
		pthread_cond_signal(&p->cond);
	}
}

static void unlink_pending(struct xstore *h, struct xs_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		h->pending = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
}

/*
 * Every pending request is caught by a break that the keeper repairs:
 * each requester decides what becomes of its own (xs_lost_fate).
 */
static void lose_pending(struct xstore *h)
{
	struct xs_pending *p;

	for (p = h->pending; p; p = p->next)
		p->is_lost = true;
	fail_pending(h, -ECONNRESET);
}

/*
 * The receive thread is ending: nothing more will be answered.  A break
 * (the daemon went away, not our own shutdown) starts an automatic
 * reconnection when the handle wants one.
 */
static void conn_lost(struct xstore *h, int err, bool is_break)
{
	pthread_mutex_lock(&h->lock);
	h->conn_err = -ENOTCONN;
	if ((is_break || h->is_broken) && xs_auto_begin(h))
		lose_pending(h);
	else
		fail_pending(h, h->is_resetting ? -ECONNRESET : err);
	h->is_broken = false;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Errors of a transport that say the peer is gone (not ours, not bad). */
static bool is_break_err(int err)
{
	return err == -ENOTCONN || err == -ECONNRESET || err == -EPIPE;
}

/* ---- the receive thread ---- */

static void trace_recv(struct xstore *h, const struct xs_wire_hdr *hdr)
{
	xstore_trace_fn *fn;
	void *arg;

	pthread_mutex_lock(&h->lock);
	fn = h->trace_fn;
	arg = h->trace_arg;
	pthread_mutex_unlock(&h->lock);
	if (fn)
		fn(arg, XSTORE_TRACE_RECV, hdr, h->rxbuf);
}

/* Hand a reply to its requester; -EPROTO if nobody asked for it. */
static int reply_in(struct xstore *h, const struct xs_wire_hdr *hdr)
{
	struct xs_pending *p;
	char *copy = malloc((size_t)hdr->len + 1);

	if (copy) {
		memcpy(copy, h->rxbuf, hdr->len);
		copy[hdr->len] = '\0';
	}
	pthread_mutex_lock(&h->lock);
	for (p = h->pending; p; p = p->next)
		if (p->req_id == hdr->req_id)
			break;
	if (!p || (hdr->type != p->type && hdr->type != XS_ERROR)) {
		pthread_mutex_unlock(&h->lock);
		free(copy);
		return -EPROTO;
	}
	unlink_pending(h, p);
	h->has_answered = true;
	p->is_done = true;
	p->err = copy ? 0 : -ENOMEM;
	p->rtype = hdr->type;
	p->reply = copy;
	p->reply_len = hdr->len;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void *rx_main(void *arg)
{
	struct xstore *h = arg;
	struct xs_wire_hdr hdr;
	bool is_break;
	int err;

	/* Named for top -H and for tests (test_lib_fake.c). */
	(void)pthread_setname_np(pthread_self(), "xstore-rx");
	for (;;) {
		err = h->tr->ops->recv(h->tr, &hdr, sizeof(hdr));
		if (err)
			break;
		/* Checked before anything is read into or sized by it. */
		if (hdr.len > XS_PAYLOAD_MAX) {
			err = -EPROTO;
			break;
		}
		err = h->tr->ops->recv(h->tr, h->rxbuf, hdr.len);
		if (err)
			break;
		h->rxbuf[hdr.len] = '\0';
		trace_recv(h, &hdr);
		if (hdr.type == XS_WATCH_EVENT)
			err = xs_watch_event_in(h, h->rxbuf, hdr.len);
		else
			err = reply_in(h, &hdr);
		if (err)
			break;
	}
	/* A broken ring (indexes out of range) is a protocol violation. */
	if (err == -EIO)
		err = -EPROTO;
	is_break = is_break_err(err);
	if (err == -EPROTO)
		h->tr->ops->shutdown(h->tr);
	else
		err = -ENOTCONN;
	conn_lost(h, err, is_break);
	return NULL;
}

/*
 * Under `lock`: the thread's id is read by whoever stops it, the keeper
 * included, which the receive thread itself may start.
 */
static int start_rx(struct xstore *h)
{
	int err;

	pthread_mutex_lock(&h->lock);
	err = pthread_create(&h->rx_thread, NULL, rx_main, h);
	if (!err)
		h->has_rx_thread = true;
	pthread_mutex_unlock(&h->lock);
	return -err;
}

static void stop_rx(struct xstore *h)
{
	pthread_t t;
	bool has;

	h->tr->ops->shutdown(h->tr);
	pthread_mutex_lock(&h->lock);
	has = h->has_rx_thread;
	t = h->rx_thread;
	h->has_rx_thread = false;
	pthread_mutex_unlock(&h->lock);
	if (has)
		pthread_join(t, NULL);
}

/* ---- requests ---- */

/* One call of xs_talk, across the attempts a reconnection may add. */
struct call {
	uint32_t type;
	xstore_txn_t t;
	unsigned int flags;
	bool is_commit;       /* a TRANSACTION_END that commits */
	bool is_rm_resent;    /* an RM sent again after a break */
	bool has_deadline;    /* bounded wait at the gate while reconnecting */
	struct timespec dl;   /* CLOCK_MONOTONIC */
	unsigned int giveups; /* h->giveups when the call began */
	uint64_t gen;         /* the connection the reply came on */
};

static void deadline_in(struct timespec *dl, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, dl);
	dl->tv_sec += ms / 1000;
	dl->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

static bool is_held(struct xstore *h, const struct call *c)
{
	return h->state == XS_SUSPENDED || h->is_resetting ||
	       (c->type == XS_TRANSACTION_START && h->state == XS_DRAINING);
}

/*
 * Wait until this request may go: a suspended (or resetting) handle holds
 * every request, a draining one holds new transactions.  A reconnection
 * holds it no longer than its reply bound (xstore_set_timeout), suspend
 * for ever.  After an automatic reconnection gave up, the first call made
 * since asks for one more try.  Counts a new transaction at once, so that
 * suspend cannot slip in before its reply.  Lock held.
 */
static int gate(struct xstore *h, struct call *c)
{
	bool is_late = false;

	if (!(c->flags & XS_TALK_FORCE))
		for (;;) {
			if (h->conn_err && h->is_given_up && !h->is_resetting)
				xs_auto_retry(h, c->giveups);
			if (!is_held(h, c))
				break;
			if (is_late && h->is_resetting)
				return -ETIMEDOUT;
			if (h->is_resetting && c->has_deadline)
				is_late =
				    pthread_cond_timedwait(&h->cond, &h->lock,
				                           &c->dl) == ETIMEDOUT;
			else
				pthread_cond_wait(&h->cond, &h->lock);
		}
	if (h->conn_err)
		return h->conn_err;
	if (c->type == XS_TRANSACTION_START)
		h->txns++;
	return 0;
}

/*
 * A transaction opened on an earlier connection is gone in the daemon:
 * its calls fail with EAGAIN before anything is sent, and its end (the
 * transaction is over: the caller's retry starts again) returns EAGAIN
 * for a commit, 0 for an abort.  True, with *err, for such a call.  Lock
 * held.
 */
static bool is_dead_txn(struct xstore *h, const struct call *c, int *err)
{
	struct xs_txn_rec *r;

	if (c->t == XSTORE_TXN_NONE || (c->flags & XS_TALK_NOREC))
		return false;
	r = xs_txn_find(h, c->t);
	if (!r || r->gen == h->conn_gen)
		return false;
	*err = -EAGAIN;
	if (c->type == XS_TRANSACTION_END) {
		xs_txn_forget(h, c->t);
		if (h->txns > 0)
			h->txns--;
		pthread_cond_broadcast(&h->cond);
		if (!c->is_commit)
			*err = 0;
	}
	return true;
}

/* After the reply: the seed's reply filter, and the in-flight count. */
static void account(struct xstore *h, struct xs_pending *p)
{
	bool is_failed = p->err || p->rtype == XS_ERROR;

	h->inflight--;
	/* An END ends the transaction whatever its result. */
	if ((p->type == XS_TRANSACTION_START && is_failed) ||
	    p->type == XS_TRANSACTION_END)
		if (h->txns > 0)
			h->txns--;
	pthread_cond_broadcast(&h->cond);
}

/*
 * Wait for p's reply, within the handle's bound if it has one; lock held.
 * A reply that did not come leaves the stream out of step: the caller
 * ends the connection.  Returns -ETIMEDOUT then, else 0.
 */
static int wait_reply(struct xstore *h, struct xs_pending *p)
{
	unsigned int ms = h->has_answered ? h->timeout_ms : h->timeout_first;
	struct timespec dl;

	if (!ms) {
		while (!p->is_done)
			pthread_cond_wait(&p->cond, &h->lock);
		return 0;
	}
	deadline_in(&dl, ms);
	while (!p->is_done)
		if (pthread_cond_timedwait(&p->cond, &h->lock, &dl) ==
		        ETIMEDOUT &&
		    !p->is_done) {
			unlink_pending(h, p);
			p->is_done = true;
			p->err = -ETIMEDOUT;
			return -ETIMEDOUT;
		}
	return 0;
}

static int send_error(struct xstore *h, int err)
{
	if (err == -EIO || err == -EPROTO)
		return -EPROTO;
	return h->is_resetting ? -ECONNRESET : -ENOTCONN;
}

/*
 * A send failed: the request is not in the daemon (a message counts only
 * whole).  When the peer is gone and the handle reconnects by itself,
 * the request is lost like those in flight (the receive thread, told by
 * is_broken, ends the rest); else it fails.  Lock held.
 */
static void send_failed(struct xstore *h, struct xs_pending *p, int err,
                        uint64_t gen)
{
	if (p->is_done)
		return;
	unlink_pending(h, p);
	p->is_done = true;
	p->err = send_error(h, err);
	if (is_break_err(err) && gen == h->conn_gen && xs_auto_begin(h)) {
		p->is_lost = true;
		h->is_broken = true;
	}
}

/* End connection `gen` (out of step) unless it is gone already. */
static void drop_conn(struct xstore *h, uint64_t gen)
{
	bool is_same;

	pthread_mutex_lock(&h->send_lock);
	pthread_mutex_lock(&h->lock);
	is_same = gen == h->conn_gen;
	pthread_mutex_unlock(&h->lock);
	if (is_same)
		h->tr->ops->shutdown(h->tr);
	pthread_mutex_unlock(&h->send_lock);
}

/* Send one attempt of `c`, under send_lock; 0 or the transport's error. */
static int send_msg(struct xstore *h, char *msg, const struct xs_wire_hdr *hdr,
                    uint64_t gen, xstore_trace_fn *trace_fn, void *trace_arg)
{
	bool is_stale;
	int err;

	memcpy(msg, hdr, XS_HDR_SIZE);
	pthread_mutex_lock(&h->send_lock);
	pthread_mutex_lock(&h->lock);
	is_stale = gen != h->conn_gen;
	pthread_mutex_unlock(&h->lock);
	if (is_stale) {
		err = -ESHUTDOWN;
	} else {
		if (trace_fn)
			trace_fn(trace_arg, XSTORE_TRACE_SEND, hdr,
			         msg + XS_HDR_SIZE);
		err = h->tr->ops->send(h->tr, msg, XS_HDR_SIZE + hdr->len);
	}
	pthread_mutex_unlock(&h->send_lock);
	return err;
}

/*
 * The core, over the attempts of one call: a request that a break caught
 * goes again after the reconnection when xs_lost_fate() says so.  Returns
 * the call's result; on success p->reply holds the payload.
 */
static int talk(struct xstore *h, struct call *c, char *msg, size_t plen,
                struct xs_pending *p)
{
	struct xs_wire_hdr hdr = {c->type, 0, c->t, (uint32_t)plen};
	xstore_trace_fn *trace_fn;
	void *trace_arg;
	uint64_t gen = 0;
	bool is_sent, has_reply = false;
	int err, res = 0;

	pthread_mutex_lock(&h->lock);
	c->giveups = h->giveups;
	if (h->has_answered ? h->timeout_ms : h->timeout_first) {
		c->has_deadline = true;
		deadline_in(&c->dl,
		            h->has_answered ? h->timeout_ms : h->timeout_first);
	}
	for (;;) {
		err = gate(h, c);
		if (err || is_dead_txn(h, c, &err)) {
			res = err;
			break;
		}
		gen = h->conn_gen;
		p->next = p->prev = NULL;
		p->is_done = p->is_lost = false;
		p->err = 0;
		p->rtype = 0;
		p->reply = NULL;
		p->req_id = hdr.req_id = h->next_req_id++;
		p->next = h->pending;
		if (p->next)
			p->next->prev = p;
		/*
		 * On the caller's stack: it leaves the list (by the receive
		 * thread, a reset or the send error below) before xs_talk
		 * returns.
		 */
		// cppcheck-suppress autoVariables
		h->pending = p;
		h->inflight++;
		trace_fn = h->trace_fn;
		trace_arg = h->trace_arg;
		pthread_mutex_unlock(&h->lock);

		err = send_msg(h, msg, &hdr, gen, trace_fn, trace_arg);
		is_sent = !err;

		pthread_mutex_lock(&h->lock);
		if (err)
			send_failed(h, p, err, gen);
		else
			err = wait_reply(h, p);
		account(h, p);
		if (!p->is_lost) {
			has_reply = true;
			break;
		}
		res = xs_lost_fate(h, c->type, c->t, c->flags, is_sent,
		                   c->is_commit);
		if (res != 1)
			break;
		c->is_rm_resent |= c->type == XS_RM && is_sent;
	}
	/* An END ends its transaction whatever became of it. */
	if (c->type == XS_TRANSACTION_END && c->t &&
	    !(c->flags & XS_TALK_NOREC))
		xs_txn_forget(h, c->t);
	c->gen = gen;
	pthread_mutex_unlock(&h->lock);
	/* Refused at the gate, a dead transaction, a break's verdict. */
	if (!has_reply)
		return res;
	/* A half-sent message, or a reply that never came, leaves the
	 * stream out of step: drop it. */
	if (err && err != -ESHUTDOWN)
		drop_conn(h, gen);
	if (p->err)
		return p->err;
	if (p->rtype == XS_ERROR) {
		err = -xs_errno_parse(p->reply, p->reply_len);
		free(p->reply);
		p->reply = NULL;
		/* The first RM may have been applied before the break. */
		return err == -ENOENT && c->is_rm_resent ? 0 : err;
	}
	return 0;
}

static int talk_iov(struct xstore *h, struct call *c, const struct iovec *iov,
                    unsigned int n, char **reply, size_t *len, uint32_t *rtype)
{
	char msg[XS_HDR_SIZE + XS_PAYLOAD_MAX];
	struct xs_pending p;
	pthread_condattr_t ca;
	size_t plen = 0;
	int err;

	for (unsigned int i = 0; i < n; i++) {
		if (iov[i].iov_len > XS_PAYLOAD_MAX - plen)
			return -E2BIG;
		if (iov[i].iov_len)
			memcpy(msg + XS_HDR_SIZE + plen, iov[i].iov_base,
			       iov[i].iov_len);
		plen += iov[i].iov_len;
	}
	/* END's payload: "T" commits, "F" aborts. */
	c->is_commit = c->type == XS_TRANSACTION_END && n > 0 &&
	               iov[0].iov_len > 0 &&
	               *(const char *)iov[0].iov_base == 'T';

	memset(&p, 0, sizeof(p));
	p.type = c->type;
	/* The monotonic clock: a bounded wait must not move with the date. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cond, &ca);
	pthread_condattr_destroy(&ca);
	err = talk(h, c, msg, plen, &p);
	pthread_cond_destroy(&p.cond);
	if (err)
		return err;
	if (rtype)
		*rtype = p.rtype;
	if (len)
		*len = p.reply_len;
	if (reply)
		*reply = p.reply;
	else
		free(p.reply);
	return 0;
}

int xs_talk(struct xstore *h, uint32_t type, xstore_txn_t t,
            const struct iovec *iov, unsigned int n, unsigned int flags,
            char **reply, size_t *len, uint32_t *rtype)
{
	struct call c = {.type = type, .t = t, .flags = flags};

	return talk_iov(h, &c, iov, n, reply, len, rtype);
}

int xs_talk_gen(struct xstore *h, uint32_t type, const struct iovec *iov,
                unsigned int n, char **reply, uint64_t *gen)
{
	struct call c = {.type = type, .t = XSTORE_TXN_NONE};
	int err = talk_iov(h, &c, iov, n, reply, NULL, NULL);

	if (!err)
		*gen = c.gen;
	return err;
}

int xs_talk_strs(struct xstore *h, uint32_t type, xstore_txn_t t,
                 const char *const *strs, unsigned int n, char **reply,
                 size_t *len)
{
	struct iovec iov[8];

	if (n > sizeof(iov) / sizeof(iov[0]))
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		if (!strs[i])
			return -EINVAL;
		iov[i].iov_base = (void *)(uintptr_t)strs[i];
		iov[i].iov_len = strlen(strs[i]) + 1;
	}
	return xs_talk(h, type, t, iov, n, 0, reply, len, NULL);
}

int xstore_request(struct xstore *h, uint32_t type, xstore_txn_t t,
                   const void *payload, size_t len, uint32_t *reply_type,
                   void **reply, size_t *reply_len)
{
	struct iovec iov = {(void *)(uintptr_t)payload, len};
	char *r = NULL;
	int err;

	if (!h || (len && !payload))
		return -EINVAL;
	switch (type) {
	case XS_WATCH:
	case XS_UNWATCH:
	case XS_RESET_WATCHES:
	case XS_WATCH_EVENT:
	case XS_ERROR:
		return -EINVAL;
	}
	err = xs_talk(h, type, t, &iov, 1, 0, reply ? &r : NULL, reply_len,
	              reply_type);
	if (!err && reply)
		*reply = r;
	return err;
}

/* ---- handles ---- */

int xs_open_tr(struct xs_tr *tr, unsigned int flags, struct xstore **out)
{
	struct xstore *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;
	int err;

	if (!h)
		return -ENOMEM;
	h->tr = tr;
	h->flags = flags;
	h->queue_max = XSTORE_WATCH_QUEUE_MAX;
	h->next_req_id = 1;
	xs_auto_init(h);
	pthread_mutex_init(&h->reset_lock, NULL);
	pthread_mutex_init(&h->lock, NULL);
	/* Monotonic: the gate's and the keeper's bounded waits use it. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&h->send_lock, NULL);
	pthread_mutex_init(&h->watch_lock, NULL);
	pthread_cond_init(&h->watch_cond, NULL);
	h->conn_gen = 1;
	err = start_rx(h);
	if (err) {
		h->tr = NULL;
		xstore_close(h);
		return err;
	}
	*out = h;
	return 0;
}

/*
 * "ring:DOMID" or "ring:DOMID:DIR".  The guest's multiplexer (xsmux), when
 * it answers on DIR/dom<D>/xenbus, owns the ring: we go through it, as a
 * process of a Linux guest goes through /dev/xen/xenbus.  Else the ring
 * itself (a stale socket refuses the connection).
 */
static int open_ring(const char *arg, struct xs_tr **tr)
{
	const char *dir;
	unsigned long domid;
	char *end, path[4096];
	int n;

	errno = 0;
	domid = strtoul(arg, &end, 10);
	if (errno || end == arg || domid > XS_DOMID_MAX ||
	    (*end && *end != ':'))
		return -EINVAL;
	dir = *end ? end + 1 : getenv("XSIM_DIR");
	if (!dir || !*dir)
		dir = "/var/run/xenstored/sim";
	n = snprintf(path, sizeof(path), "%s/dom%lu/xenbus", dir, domid);
	if (n > 0 && (size_t)n < sizeof(path) && sock_tr_open(path, tr) == 0)
		return 0;
	return ring_tr_open((unsigned int)domid, *end ? end + 1 : NULL, tr);
}

int xstore_open(const char *spec, unsigned int flags, struct xstore **out)
{
	char path[4096];
	struct xs_tr *tr;
	int err;

	if (!out || (flags & ~XSTORE_OPEN_READONLY))
		return -EINVAL;
	if (!spec || !*spec) {
		err = xstore_default_path(flags, path, sizeof(path));
		if (err)
			return err;
		err = sock_tr_open(path, &tr);
	} else if (!strncmp(spec, "unix:", 5)) {
		err = sock_tr_open(spec + 5, &tr);
	} else if (!strncmp(spec, "ring:", 5)) {
		err = open_ring(spec + 5, &tr);
	} else {
		err = sock_tr_open(spec, &tr);
	}
	if (err)
		return err;
	err = xs_open_tr(tr, flags, out);
	if (err)
		tr->ops->free(tr);
	return err;
}

void xstore_close(struct xstore *h)
{
	if (!h)
		return;
	/* It would join the very thread it runs on. */
	assert(!xs_is_watch_thread(h));
	if (h->tr) {
		xs_auto_fini(h);
		stop_rx(h);
	}
	/* Release whoever waits at the gate: they will see the error. */
	pthread_mutex_lock(&h->lock);
	h->conn_err = -ENOTCONN;
	h->state = XS_RUNNING;
	h->is_resetting = false;
	fail_pending(h, -ENOTCONN);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	xs_watch_fini(h);
	xs_txn_fini(h);
	if (h->tr)
		h->tr->ops->free(h->tr);
	pthread_cond_destroy(&h->watch_cond);
	pthread_mutex_destroy(&h->watch_lock);
	pthread_mutex_destroy(&h->send_lock);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->reset_lock);
	free(h);
}

const char *xstore_transport(const struct xstore *h)
{
	return h->tr->ops->name;
}

void xstore_set_timeout(struct xstore *h, unsigned int first_ms,
                        unsigned int ms)
{
	pthread_mutex_lock(&h->lock);
	h->timeout_first = first_ms;
	h->timeout_ms = ms;
	pthread_mutex_unlock(&h->lock);
}

void xstore_set_trace(struct xstore *h, xstore_trace_fn *fn, void *arg)
{
	pthread_mutex_lock(&h->send_lock);
	pthread_mutex_lock(&h->lock);
	h->trace_fn = fn;
	h->trace_arg = fn ? arg : NULL;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&h->send_lock);
}

/* ---- suspend, resume, reconnection ---- */

int xstore_suspend(struct xstore *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->state != XS_RUNNING) {
		pthread_mutex_unlock(&h->lock);
		return -EBUSY;
	}
	h->state = XS_DRAINING;
	while (h->txns > 0)
		pthread_cond_wait(&h->cond, &h->lock);
	h->state = XS_SUSPENDED;
	while (h->inflight > 0)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/*
 * Stop the receive thread, connect again (`is_reopen`: a new connection;
 * else the transport's in-band reset), restart it and register every
 * watch again.  Requests wait at the gate meanwhile, and after it while
 * the keeper has more to do (a break meanwhile; `is_auto`: the keeper's
 * own try, which failed).  reset_lock held.
 */
int xs_reset_conn(struct xstore *h, bool is_reopen, bool is_auto)
{
	const struct xs_tr_ops *ops = h->tr->ops;
	int err;

	pthread_mutex_lock(&h->lock);
	h->is_resetting = true;
	pthread_mutex_unlock(&h->lock);
	stop_rx(h);

	pthread_mutex_lock(&h->lock);
	fail_pending(h, -ECONNRESET);
	/* Nothing is in flight now but the requests that will see that. */
	pthread_mutex_unlock(&h->lock);

	/*
	 * Under send_lock: a request that passed the gate before the reset
	 * must not reach the new connection (its req_id is forgotten).
	 */
	pthread_mutex_lock(&h->send_lock);
	if (is_reopen || !ops->reset)
		err = ops->reopen(h->tr);
	else
		err = ops->reset(h->tr);
	pthread_mutex_lock(&h->lock);
	h->conn_gen++;
	h->has_answered = false;
	h->conn_err = err ? -ENOTCONN : 0;
	h->is_broken = false;
	if (!err)
		h->is_given_up = false;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&h->send_lock);
	if (!err)
		err = start_rx(h);
	if (!err)
		err = xs_watch_reregister(h);

	pthread_mutex_lock(&h->lock);
	h->is_resetting = h->must_reconnect || (is_auto && h->conn_err);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	return err;
}

int xstore_resume(struct xstore *h)
{
	int err;

	pthread_mutex_lock(&h->reset_lock);
	pthread_mutex_lock(&h->lock);
	err = h->state == XS_SUSPENDED ? 0 : -EINVAL;
	pthread_mutex_unlock(&h->lock);
	if (!err)
		err = xs_reset_conn(h, true, false);
	if (!err) {
		pthread_mutex_lock(&h->lock);
		h->state = XS_RUNNING;
		pthread_cond_broadcast(&h->cond);
		pthread_mutex_unlock(&h->lock);
	}
	pthread_mutex_unlock(&h->reset_lock);
	return err;
}

int xstore_reconnect(struct xstore *h)
{
	const struct xs_tr_ops *ops = h->tr->ops;
	int err;

	/* Refused before the connection is touched. */
	if (ops->reset && ops->can_reset && !ops->can_reset(h->tr))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&h->reset_lock);
	pthread_mutex_lock(&h->lock);
	err = h->state == XS_RUNNING ? 0 : -EBUSY;
	pthread_mutex_unlock(&h->lock);
	if (!err)
		err = xs_reset_conn(h, false, false);
	pthread_mutex_unlock(&h->reset_lock);
	return err;
}
