/*
 * ring.c - the guest's end of a xenstore ring (xenstore-ring.txt): two
 * 1024-byte circular queues in one shared page, free-running 32-bit
 * indexes, and an event channel to signal every change.
 *
 * Ordering, as the seed and Xen's guests do it:
 *   - producer (requests): read req_cons (acquire) before writing slots it
 *     frees; copy the bytes; publish req_prod with a release store; notify.
 *   - consumer (replies): read rsp_prod (acquire) before reading the bytes
 *     it covers; copy them out; publish rsp_cons with a sequentially
 *     consistent store (a full barrier, as the seed's mb()); notify.
 * Copies go in chunks: up to the end of the buffer, then around.
 *
 * The indexes are the daemon's to break: when producer minus consumer
 * exceeds the ring size the transport fails with -EIO and touches
 * nothing (the seed zeroed the indexes, which hides the fault and loses
 * data).  The daemon's error indicator (feature bit 1) also ends it.
 *
 * One receiver polls the event channel; senders waiting for room sleep on
 * a condition variable it broadcasts after every event (and wake every
 * 50 ms anyway: a lost wakeup costs latency, never a hang).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ring.h"
#include "plat/plat.h"
#include "xstore/wire.h"

#define RING_MASK         (XS_RING_SIZE - 1u)
#define SEND_WAIT_MS      50
#define RECV_POLL_MS      500
#define RECONNECT_WAIT_MS 10000

struct ring_tr {
	struct xs_tr base;
	uint8_t *page;
	const struct ring_port_ops *ops;
	void *arg;
	pthread_mutex_t port_lock; /* every call to ops */
	pthread_mutex_t lock;      /* is_shutdown, cond */
	pthread_cond_t cond;       /* an event came: maybe room to send */
	bool is_shutdown;
	int stop[2]; /* a pipe: shutdown wakes the poll */
};

/* ---- the shared page ---- */

static uint32_t *field(struct ring_tr *r, unsigned int off)
{
	return (uint32_t *)(void *)(r->page + off);
}

static uint32_t load_acq(struct ring_tr *r, unsigned int off)
{
	return __atomic_load_n(field(r, off), __ATOMIC_ACQUIRE);
}

static void store_rel(struct ring_tr *r, unsigned int off, uint32_t v)
{
	__atomic_store_n(field(r, off), v, __ATOMIC_RELEASE);
}

static bool is_sane(uint32_t cons, uint32_t prod)
{
	return prod - cons <= XS_RING_SIZE;
}

/* -ENOTCONN once the daemon flagged an error and stopped talking. */
static int server_error(struct ring_tr *r)
{
	if ((load_acq(r, XS_RING_OFF_FEATURES) & XS_FEATURE_ERROR) &&
	    load_acq(r, XS_RING_OFF_ERROR) != XS_ERROR_NONE)
		return -ENOTCONN;
	return 0;
}

static bool is_reconnecting(struct ring_tr *r)
{
	return (load_acq(r, XS_RING_OFF_FEATURES) & XS_FEATURE_RECONNECTION) &&
	       load_acq(r, XS_RING_OFF_CONNECTION) == XS_RECONNECT;
}

/* ---- events ---- */

static void notify(struct ring_tr *r)
{
	pthread_mutex_lock(&r->port_lock);
	/* A failed notify leaves the data in the ring for the next one. */
	(void)r->ops->notify(r->arg);
	pthread_mutex_unlock(&r->port_lock);
}

static bool is_down(struct ring_tr *r)
{
	bool down;

	pthread_mutex_lock(&r->lock);
	down = r->is_shutdown;
	pthread_mutex_unlock(&r->lock);
	return down;
}

/*
 * Wait for an event (or `ms`), clear it, and wake the senders.
 * -ESHUTDOWN when shut down.
 */
static int wait_event(struct ring_tr *r, int ms)
{
	struct pollfd pfd[2];
	int fd;

	pthread_mutex_lock(&r->port_lock);
	fd = r->ops->fd(r->arg);
	pthread_mutex_unlock(&r->port_lock);
	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = r->stop[0];
	pfd[1].events = POLLIN;
	if (poll(pfd, 2, ms) < 0 && errno != EINTR)
		return -errno;
	if (is_down(r))
		return -ESHUTDOWN;
	pthread_mutex_lock(&r->port_lock);
	r->ops->ack(r->arg);
	pthread_mutex_unlock(&r->port_lock);
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* ---- the byte streams ---- */

static int ring_recv(struct xs_tr *tr, void *buf, size_t len)
{
	struct ring_tr *r = (struct ring_tr *)tr;
	uint8_t *p = buf;
	int err;

	while (len > 0) {
		uint32_t cons, prod, off, n;

		if (is_down(r))
			return -ESHUTDOWN;
		err = server_error(r);
		if (err)
			return err;
		if (is_reconnecting(r)) {
			err = wait_event(r, RECV_POLL_MS);
			if (err)
				return err;
			continue;
		}
		cons = __atomic_load_n(field(r, XS_RING_OFF_RSP_CONS),
		                       __ATOMIC_RELAXED);
		prod = load_acq(r, XS_RING_OFF_RSP_PROD);
		if (!is_sane(cons, prod))
			return -EIO;
		if (prod == cons) {
			err = wait_event(r, RECV_POLL_MS);
			if (err)
				return err;
			continue;
		}
		off = cons & RING_MASK;
		n = XS_RING_SIZE - off;
		if (n > prod - cons)
			n = prod - cons;
		if (n > len)
			n = (uint32_t)len;
		memcpy(p, r->page + XS_RING_OFF_RSP + off, n);
		/*
		 * The bytes are out before the daemon may reuse their room:
		 * a sequentially consistent store orders the loads above
		 * (the seed's mb(); C11 fences are invisible to TSan).
		 */
		__atomic_store_n(field(r, XS_RING_OFF_RSP_CONS), cons + n,
		                 __ATOMIC_SEQ_CST);
		notify(r);
		p += n;
		len -= n;
	}
	return 0;
}

/* Wait until the request queue has room; *cons, *prod get the indexes. */
static int wait_room(struct ring_tr *r, uint32_t *cons, uint32_t *prod)
{
	struct timespec ts;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	for (;;) {
		if (r->is_shutdown) {
			err = -ESHUTDOWN;
			break;
		}
		err = server_error(r);
		if (err)
			break;
		*cons = load_acq(r, XS_RING_OFF_REQ_CONS);
		*prod = __atomic_load_n(field(r, XS_RING_OFF_REQ_PROD),
		                        __ATOMIC_RELAXED);
		if (!is_sane(*cons, *prod)) {
			err = -EIO;
			break;
		}
		if (*prod - *cons < XS_RING_SIZE && !is_reconnecting(r))
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += SEND_WAIT_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
	}
	pthread_mutex_unlock(&r->lock);
	return err;
}

static int ring_send(struct xs_tr *tr, const void *buf, size_t len)
{
	struct ring_tr *r = (struct ring_tr *)tr;
	const uint8_t *p = buf;
	int err;

	while (len > 0) {
		uint32_t cons, prod, off, n;

		err = wait_room(r, &cons, &prod);
		if (err)
			return err;
		off = prod & RING_MASK;
		n = XS_RING_SIZE - off;
		if (n > XS_RING_SIZE - (prod - cons))
			n = XS_RING_SIZE - (prod - cons);
		if (n > len)
			n = (uint32_t)len;
		memcpy(r->page + XS_RING_OFF_REQ + off, p, n);
		/* The bytes are in before the index that shows them. */
		store_rel(r, XS_RING_OFF_REQ_PROD, prod + n);
		notify(r);
		p += n;
		len -= n;
	}
	return 0;
}

/* ---- connection management ---- */

static void ring_shutdown(struct xs_tr *tr)
{
	struct ring_tr *r = (struct ring_tr *)tr;
	char c = 0;

	pthread_mutex_lock(&r->lock);
	if (!r->is_shutdown) {
		r->is_shutdown = true;
		if (write(r->stop[1], &c, 1) < 0) {
			/* Full pipe: a wakeup is already pending. */
		}
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Clear the shutdown state after a reopen or reset. */
static void rearm(struct ring_tr *r)
{
	char c[16];

	pthread_mutex_lock(&r->lock);
	while (read(r->stop[0], c, sizeof(c)) > 0)
		;
	r->is_shutdown = false;
	pthread_mutex_unlock(&r->lock);
}

/*
 * A (re)connected ring: wait out a reconnection in progress, check the
 * indexes, and skip replies left from before (their requests are gone).
 */
static int ring_check(struct ring_tr *r)
{
	uint32_t cons, prod;
	int waited = 0;

	while (is_reconnecting(r)) {
		if (waited >= RECONNECT_WAIT_MS)
			return -ETIMEDOUT;
		struct pollfd pfd = {r->ops->fd(r->arg), POLLIN, 0};

		poll(&pfd, 1, 100);
		r->ops->ack(r->arg);
		waited += 100;
	}
	if (!is_sane(load_acq(r, XS_RING_OFF_REQ_CONS),
	             load_acq(r, XS_RING_OFF_REQ_PROD)))
		return -EIO;
	cons = load_acq(r, XS_RING_OFF_RSP_CONS);
	prod = load_acq(r, XS_RING_OFF_RSP_PROD);
	if (!is_sane(cons, prod))
		return -EIO;
	if (cons != prod)
		store_rel(r, XS_RING_OFF_RSP_CONS, prod);
	return server_error(r);
}

static int ring_reopen(struct xs_tr *tr)
{
	struct ring_tr *r = (struct ring_tr *)tr;
	void *page = r->page;
	int err = 0;

	pthread_mutex_lock(&r->port_lock);
	if (r->ops->remap)
		err = r->ops->remap(r->arg, &page);
	if (!err) {
		r->page = page;
		err = ring_check(r);
	}
	pthread_mutex_unlock(&r->port_lock);
	if (!err) {
		rearm(r);
		notify(r);
	}
	return err;
}

static bool ring_can_reset(struct xs_tr *tr)
{
	struct ring_tr *r = (struct ring_tr *)tr;

	return load_acq(r, XS_RING_OFF_FEATURES) & XS_FEATURE_RECONNECTION;
}

/* The ring reconnection protocol: ask, then wait for the daemon's reset. */
static int ring_reset(struct xs_tr *tr)
{
	struct ring_tr *r = (struct ring_tr *)tr;
	int err;

	if (!(load_acq(r, XS_RING_OFF_FEATURES) & XS_FEATURE_RECONNECTION))
		return -EOPNOTSUPP;
	store_rel(r, XS_RING_OFF_CONNECTION, XS_RECONNECT);
	notify(r);
	pthread_mutex_lock(&r->port_lock);
	err = ring_check(r);
	pthread_mutex_unlock(&r->port_lock);
	if (!err)
		rearm(r);
	return err;
}

static void ring_free(struct xs_tr *tr)
{
	struct ring_tr *r = (struct ring_tr *)tr;

	if (r->ops->close)
		r->ops->close(r->arg);
	close(r->stop[0]);
	close(r->stop[1]);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->port_lock);
	free(r);
}

static const struct xs_tr_ops ring_ops = {
    .name = "ring",
    .send = ring_send,
    .recv = ring_recv,
    .shutdown = ring_shutdown,
    .reopen = ring_reopen,
    .reset = ring_reset,
    .can_reset = ring_can_reset,
    .free = ring_free,
};

int ring_tr_new(void *page, const struct ring_port_ops *ops, void *arg,
                struct xs_tr **out)
{
	struct ring_tr *r = calloc(1, sizeof(*r));
	int err;

	if (!r) {
		if (ops->close)
			ops->close(arg);
		return -ENOMEM;
	}
	r->base.ops = &ring_ops;
	r->page = page;
	r->ops = ops;
	r->arg = arg;
	pthread_mutex_init(&r->port_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	if (pipe2(r->stop, O_CLOEXEC | O_NONBLOCK) < 0) {
		err = -errno;
		r->stop[0] = r->stop[1] = -1;
		ring_free(&r->base);
		return err;
	}
	err = ring_check(r);
	if (err) {
		ring_free(&r->base);
		return err;
	}
	*out = &r->base;
	return 0;
}

/* ---- over the platform (plat/): a simulated guest ---- */

struct plat_port {
	struct plat *plat;
	unsigned int domid;
	unsigned int port;
	void *page;
};

static int pp_notify(void *arg)
{
	struct plat_port *pp = arg;

	return plat_evtchn_notify(pp->plat, pp->port);
}

static int pp_fd(void *arg)
{
	struct plat_port *pp = arg;

	return plat_evtchn_fd(pp->plat);
}

static void pp_ack(void *arg)
{
	struct plat_port *pp = arg;
	unsigned int port;

	while (plat_evtchn_pending(pp->plat, &port) == 0)
		;
}

/* Where the domain builder put our ring; maps it. */
static int pp_map(struct plat_port *pp)
{
	struct plat_start_info si;
	void *page;
	int err;

	err = plat_start_info(pp->plat, pp->domid, &si);
	if (!err)
		err = plat_map_own(pp->plat, si.store_gfn, &page);
	if (err)
		return err;
	if (pp->page)
		plat_unmap(pp->plat, pp->page);
	pp->page = page;
	pp->port = si.store_evtchn;
	return 0;
}

static int pp_remap(void *arg, void **page)
{
	struct plat_port *pp = arg;
	int err = pp_map(pp);

	if (!err)
		*page = pp->page;
	return err;
}

static void pp_close(void *arg)
{
	struct plat_port *pp = arg;

	if (pp->page)
		plat_unmap(pp->plat, pp->page);
	plat_close(pp->plat);
	free(pp);
}

static const struct ring_port_ops plat_port_ops = {
    .notify = pp_notify,
    .fd = pp_fd,
    .ack = pp_ack,
    .remap = pp_remap,
    .close = pp_close,
};

int ring_tr_open(unsigned int domid, const char *simdir, struct xs_tr **out)
{
	char spec[4096] = "sim";
	struct plat_port *pp = calloc(1, sizeof(*pp));
	int err;

	if (!pp)
		return -ENOMEM;
	pp->domid = domid;
	if (simdir && *simdir) {
		if (strlen(simdir) + 5 > sizeof(spec)) {
			free(pp);
			return -ENAMETOOLONG;
		}
		strcpy(spec, "sim:");
		strcat(spec, simdir);
	}
	err = plat_open(spec, domid, &pp->plat);
	if (err) {
		free(pp);
		return err;
	}
	err = pp_map(pp);
	if (err) {
		plat_close(pp->plat);
		free(pp);
		return err;
	}
	err = ring_tr_new(pp->page, &plat_port_ops, pp, out);
	if (err)
		return err;
	/*
	 * A clean slate: an earlier client of this ring (a crashed process,
	 * a previous kernel) may have left watches whose tokens would
	 * collide with ours, and half a message.  Linux resets its watches
	 * at boot for the same reason; the reconnection protocol resets
	 * everything, when the daemon offers it.
	 */
	if (load_acq((struct ring_tr *)*out, XS_RING_OFF_FEATURES) &
	    XS_FEATURE_RECONNECTION) {
		err = ring_reset(*out);
		if (err) {
			ring_free(*out);
			*out = NULL;
		}
	}
	return err;
}
