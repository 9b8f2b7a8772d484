/*
 * ring.c - the shared-page transport of a guest's connection
 * (xenstore-ring.txt): requests come in through the first 1024 bytes,
 * replies go out through the next 1024, each with free-running 32-bit
 * indices.
 *
 * The page is shared with an untrusted guest that may change any byte at
 * any time, so every index is read exactly once into a local, checked
 * (no more than a ring's worth between consumer and producer), and never
 * read again while its value matters; a bad one sets the error indicator
 * and kills the connection, never resets anything silently.  Data is
 * read after an acquire load of the producer index and published with a
 * release store of ours, which pairs with the guest's barriers.
 */
#include <errno.h>
#include <string.h>

#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/domain.h"
#include "daemon/ring.h"
#include "plat/plat.h"

static uint32_t *field(void *page, unsigned int off)
{
	return (uint32_t *)((char *)page + off);
}

static uint32_t load_acquire(void *page, unsigned int off)
{
	return __atomic_load_n(field(page, off), __ATOMIC_ACQUIRE);
}

static void store_release(void *page, unsigned int off, uint32_t v)
{
	__atomic_store_n(field(page, off), v, __ATOMIC_RELEASE);
}

static void notify(struct conn *c)
{
	struct domain *dom = c->transport;

	plat_evtchn_notify(c->d->plat, dom->local_port);
}

void ring_set_error(struct domain *dom, unsigned int code)
{
	if (dom->ring && (dom->features & XS_FEATURE_ERROR))
		store_release(dom->ring, XS_RING_OFF_ERROR, code);
}

static long ring_read(struct conn *c, void *buf, size_t len)
{
	struct domain *dom = c->transport;
	char *page = dom->ring;
	uint32_t cons = load_acquire(page, XS_RING_OFF_REQ_CONS);
	uint32_t prod = load_acquire(page, XS_RING_OFF_REQ_PROD);
	uint32_t avail = prod - cons, off, first;

	if (avail > XS_RING_SIZE) {
		ring_set_error(dom, XS_ERROR_RINGIDX);
		return -EPROTO;
	}
	if (avail > len)
		avail = (uint32_t)len;
	if (!avail)
		return 0;
	off = cons % XS_RING_SIZE;
	first = XS_RING_SIZE - off < avail ? XS_RING_SIZE - off : avail;
	memcpy(buf, page + XS_RING_OFF_REQ + off, first);
	memcpy((char *)buf + first, page + XS_RING_OFF_REQ, avail - first);
	/* The copy is done before the guest may reuse the space. */
	store_release(page, XS_RING_OFF_REQ_CONS, cons + avail);
	notify(c);
	return avail;
}

static long ring_write(struct conn *c, const void *buf, size_t len)
{
	struct domain *dom = c->transport;
	char *page = dom->ring;
	uint32_t cons = load_acquire(page, XS_RING_OFF_RSP_CONS);
	uint32_t prod = load_acquire(page, XS_RING_OFF_RSP_PROD);
	uint32_t used = prod - cons, space, off, first, n;

	if (used > XS_RING_SIZE) {
		ring_set_error(dom, XS_ERROR_RINGIDX);
		return -EPROTO;
	}
	space = XS_RING_SIZE - used;
	n = len < space ? (uint32_t)len : space;
	if (!n)
		return 0;
	off = prod % XS_RING_SIZE;
	first = XS_RING_SIZE - off < n ? XS_RING_SIZE - off : n;
	memcpy(page + XS_RING_OFF_RSP + off, buf, first);
	memcpy(page + XS_RING_OFF_RSP, (const char *)buf + first, n - first);
	store_release(page, XS_RING_OFF_RSP_PROD, prod + n);
	notify(c);
	return n;
}

/* A full ring drains when the guest reads and notifies: domain_kick
 * then writes again.  Nothing to arm. */
static void ring_want_write(struct conn *c, bool on)
{
	(void)c;
	(void)on;
}

static void ring_want_read(struct conn *c, bool on)
{
	(void)c;
	(void)on;
}

static void ring_close(struct conn *c)
{
	struct domain *dom = c->transport;

	if (dom)
		domain_conn_gone(c->d, dom);
}

static void ring_fail(struct conn *c, unsigned int code)
{
	ring_set_error(c->transport, code);
}

const struct transport_ops ring_ops = {
    .name = "ring",
    .read = ring_read,
    .write = ring_write,
    .want_write = ring_want_write,
    .want_read = ring_want_read,
    .close = ring_close,
    .fail = ring_fail,
};

bool ring_is_sane(const struct domain *dom)
{
	void *page = dom->ring;
	uint32_t req = load_acquire(page, XS_RING_OFF_REQ_PROD) -
	               load_acquire(page, XS_RING_OFF_REQ_CONS);
	uint32_t rsp = load_acquire(page, XS_RING_OFF_RSP_PROD) -
	               load_acquire(page, XS_RING_OFF_RSP_CONS);

	return req <= XS_RING_SIZE && rsp <= XS_RING_SIZE;
}

bool ring_wants_reconnect(const struct domain *dom)
{
	return dom->ring && (dom->features & XS_FEATURE_RECONNECTION) &&
	       load_acquire(dom->ring, XS_RING_OFF_CONNECTION) == XS_RECONNECT;
}

void ring_reset(struct domain *dom)
{
	char *page = dom->ring;

	/* Empty both queues: only our own indices may be written. */
	store_release(page, XS_RING_OFF_REQ_CONS,
	              load_acquire(page, XS_RING_OFF_REQ_PROD));
	store_release(page, XS_RING_OFF_RSP_PROD,
	              load_acquire(page, XS_RING_OFF_RSP_CONS));
	store_release(page, XS_RING_OFF_ERROR, XS_ERROR_NONE);
	store_release(page, XS_RING_OFF_CONNECTION, XS_CONNECTED);
}

void ring_advertise(struct domain *dom)
{
	/* Before any data moves, as the spec requires. */
	store_release(dom->ring, XS_RING_OFF_FEATURES, dom->features);
}
