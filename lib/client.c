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

/* The receive thread is ending: nothing more will be answered. */
static void conn_lost(struct xstore *h, int err)
{
	pthread_mutex_lock(&h->lock);
	h->conn_err = -ENOTCONN;
	fail_pending(h, h->is_resetting ? -ECONNRESET : err);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
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
	int err;

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
	if (err == -EPROTO)
		h->tr->ops->shutdown(h->tr);
	else
		err = -ENOTCONN;
	conn_lost(h, err);
	return NULL;
}

static int start_rx(struct xstore *h)
{
	int err = pthread_create(&h->rx_thread, NULL, rx_main, h);

	if (err)
		return -err;
	h->has_rx_thread = true;
	return 0;
}

static void stop_rx(struct xstore *h)
{
	h->tr->ops->shutdown(h->tr);
	if (h->has_rx_thread) {
		pthread_join(h->rx_thread, NULL);
		h->has_rx_thread = false;
	}
}

/* ---- requests ---- */

/*
 * Wait until this request may go: a suspended (or resetting) handle holds
 * every request, a draining one holds new transactions.  Counts a new
 * transaction at once, so that suspend cannot slip in before its reply.
 * Lock held.
 */
static int gate(struct xstore *h, uint32_t type, unsigned int flags)
{
	if (!(flags & XS_TALK_FORCE))
		while (
		    h->state == XS_SUSPENDED || h->is_resetting ||
		    (type == XS_TRANSACTION_START && h->state == XS_DRAINING))
			pthread_cond_wait(&h->cond, &h->lock);
	if (h->conn_err)
		return h->conn_err;
	if (type == XS_TRANSACTION_START)
		h->txns++;
	return 0;
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
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
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

int xs_talk(struct xstore *h, uint32_t type, xstore_txn_t t,
            const struct iovec *iov, unsigned int n, unsigned int flags,
            char **reply, size_t *len, uint32_t *rtype)
{
	char msg[XS_HDR_SIZE + XS_PAYLOAD_MAX];
	struct xs_wire_hdr hdr = {type, 0, t, 0};
	struct xs_pending p;
	pthread_condattr_t ca;
	xstore_trace_fn *trace_fn;
	void *trace_arg;
	size_t plen = 0;
	uint64_t gen;
	bool is_stale;
	int err;

	for (unsigned int i = 0; i < n; i++) {
		if (iov[i].iov_len > XS_PAYLOAD_MAX - plen)
			return -E2BIG;
		if (iov[i].iov_len)
			memcpy(msg + XS_HDR_SIZE + plen, iov[i].iov_base,
			       iov[i].iov_len);
		plen += iov[i].iov_len;
	}
	hdr.len = (uint32_t)plen;

	memset(&p, 0, sizeof(p));
	p.type = type;
	/* The monotonic clock: a bounded wait must not move with the date. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&h->lock);
	err = gate(h, type, flags);
	if (err) {
		pthread_mutex_unlock(&h->lock);
		pthread_cond_destroy(&p.cond);
		return err;
	}
	gen = h->conn_gen;
	p.req_id = hdr.req_id = h->next_req_id++;
	p.next = h->pending;
	if (p.next)
		p.next->prev = &p;
	/*
	 * On our stack: it leaves the list (by the receive thread, a reset
	 * or the send error below) before this function returns.
	 */
	// cppcheck-suppress autoVariables
	h->pending = &p;
	h->inflight++;
	trace_fn = h->trace_fn;
	trace_arg = h->trace_arg;
	pthread_mutex_unlock(&h->lock);

	memcpy(msg, &hdr, XS_HDR_SIZE);
	pthread_mutex_lock(&h->send_lock);
	pthread_mutex_lock(&h->lock);
	is_stale = gen != h->conn_gen;
	pthread_mutex_unlock(&h->lock);
	if (is_stale) {
		err = -ESHUTDOWN;
	} else {
		if (trace_fn)
			trace_fn(trace_arg, XSTORE_TRACE_SEND, &hdr,
			         msg + XS_HDR_SIZE);
		err = h->tr->ops->send(h->tr, msg, XS_HDR_SIZE + plen);
	}
	pthread_mutex_unlock(&h->send_lock);

	pthread_mutex_lock(&h->lock);
	if (err && !p.is_done) {
		unlink_pending(h, &p);
		p.is_done = true;
		p.err = send_error(h, err);
	}
	if (!err)
		err = wait_reply(h, &p);
	account(h, &p);
	pthread_mutex_unlock(&h->lock);
	pthread_cond_destroy(&p.cond);
	/* A half-sent message, or a reply that never came, leaves the
	 * stream out of step: drop it. */
	if (err && err != -ESHUTDOWN)
		h->tr->ops->shutdown(h->tr);

	if (p.err)
		return p.err;
	if (p.rtype == XS_ERROR) {
		err = -xs_errno_parse(p.reply, p.reply_len);
		free(p.reply);
		return err;
	}
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
	int err;

	if (!h)
		return -ENOMEM;
	h->tr = tr;
	h->flags = flags;
	h->queue_max = XSTORE_WATCH_QUEUE_MAX;
	h->next_req_id = 1;
	pthread_mutex_init(&h->reset_lock, NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
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
	if (h->tr)
		stop_rx(h);
	/* Release whoever waits at the gate: they will see the error. */
	pthread_mutex_lock(&h->lock);
	h->conn_err = -ENOTCONN;
	h->state = XS_RUNNING;
	h->is_resetting = false;
	fail_pending(h, -ENOTCONN);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	xs_watch_fini(h);
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
 * watch again.  Requests wait at the gate meanwhile.  reset_lock held.
 */
static int reset_conn(struct xstore *h, bool is_reopen)
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
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&h->send_lock);
	if (!err)
		err = start_rx(h);
	if (!err)
		err = xs_watch_reregister(h);

	pthread_mutex_lock(&h->lock);
	h->is_resetting = false;
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
		err = reset_conn(h, true);
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
		err = reset_conn(h, false);
	pthread_mutex_unlock(&h->reset_lock);
	return err;
}
