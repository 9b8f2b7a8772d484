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
 *
 * A page can also vanish under us in the simulator: its backing file is
 * an ordinary file that a guest process can truncate, and touching a
 * mapping past the end of its file raises SIGBUS (Xen never lets a guest
 * shrink a granted page; the sim cannot stop it).  Every access to the
 * page therefore runs "guarded": a SIGBUS whose address lies in the page
 * being touched jumps back out, the domain's ring is marked faulted and
 * never touched again, and its connection dies; any other SIGBUS kills
 * the daemon as before.  One sigsetjmp without the signal mask (the
 * handler runs with SA_NODEFER) costs a few ns per ring operation.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "common/log.h"

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

/* The guarded access in progress (the daemon has one thread). */
static sigjmp_buf *fault_jb;
static const char *fault_page;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	const char *a = si->si_addr;

	(void)ctx;
	if (fault_jb && a >= fault_page && a < fault_page + PLAT_PAGE_SIZE)
		siglongjmp(*fault_jb, 1);
	/* Not ours: the default action, as if we had no handler. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handler(void)
{
	static bool is_installed;
	struct sigaction sa;

	if (is_installed)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == 0)
		is_installed = true;
}

/*
 * Run fn(arg) on dom's page, guarded (see the top of the file).  False if
 * the page faulted, now or before: the caller treats the ring as broken.
 */
static bool guarded(struct domain *dom, void (*fn)(void *), void *arg)
{
	sigjmp_buf jb;

	if (dom->is_ring_faulted || !dom->ring)
		return false;
	if (sigsetjmp(jb, 0)) {
		fault_jb = NULL;
		dom->is_ring_faulted = true;
		log_warn("domain %u: its ring page faulted (shrunk under us?); "
		         "not touching it again",
		         dom->domid);
		return false;
	}
	fault_page = dom->ring;
	fault_jb = &jb;
	fn(arg);
	fault_jb = NULL;
	return true;
}

static void notify(struct conn *c)
{
	struct domain *dom = c->transport;

	plat_evtchn_notify(c->d->plat, dom->local_port);
}

struct set_error_args {
	struct domain *dom;
	unsigned int code;
};

static void do_set_error(void *arg)
{
	struct set_error_args *a = arg;

	store_release(a->dom->ring, XS_RING_OFF_ERROR, a->code);
}

void ring_set_error(struct domain *dom, unsigned int code)
{
	struct set_error_args a = {dom, code};

	if (dom->features & XS_FEATURE_ERROR)
		guarded(dom, do_set_error, &a);
}

/* A read or write of the transport, as run under guarded(). */
struct io_args {
	struct conn *c;
	void *buf;
	size_t len;
	long ret;
};

static void do_read(void *arg)
{
	struct io_args *a = arg;
	struct conn *c = a->c;
	void *buf = a->buf;
	size_t len = a->len;
	struct domain *dom = c->transport;
	char *page = dom->ring;
	uint32_t cons = load_acquire(page, XS_RING_OFF_REQ_CONS);
	uint32_t prod = load_acquire(page, XS_RING_OFF_REQ_PROD);
	uint32_t avail = prod - cons, off, first;

	if (avail > XS_RING_SIZE) {
		if (dom->features & XS_FEATURE_ERROR)
			store_release(page, XS_RING_OFF_ERROR,
			              XS_ERROR_RINGIDX);
		a->ret = -EPROTO;
		return;
	}
	if (avail > len)
		avail = (uint32_t)len;
	a->ret = avail;
	if (!avail)
		return;
	off = cons % XS_RING_SIZE;
	first = XS_RING_SIZE - off < avail ? XS_RING_SIZE - off : avail;
	memcpy(buf, page + XS_RING_OFF_REQ + off, first);
	memcpy((char *)buf + first, page + XS_RING_OFF_REQ, avail - first);
	/* The copy is done before the guest may reuse the space. */
	store_release(page, XS_RING_OFF_REQ_CONS, cons + avail);
}

static long ring_read(struct conn *c, void *buf, size_t len)
{
	struct io_args a = {c, buf, len, 0};

	if (!guarded(c->transport, do_read, &a))
		return -EFAULT;
	if (a.ret > 0)
		notify(c);
	return a.ret;
}

static void do_write(void *arg)
{
	struct io_args *a = arg;
	struct conn *c = a->c;
	const void *buf = a->buf;
	size_t len = a->len;
	struct domain *dom = c->transport;
	char *page = dom->ring;
	uint32_t cons = load_acquire(page, XS_RING_OFF_RSP_CONS);
	uint32_t prod = load_acquire(page, XS_RING_OFF_RSP_PROD);
	uint32_t used = prod - cons, space, off, first, n;

	if (used > XS_RING_SIZE) {
		if (dom->features & XS_FEATURE_ERROR)
			store_release(page, XS_RING_OFF_ERROR,
			              XS_ERROR_RINGIDX);
		a->ret = -EPROTO;
		return;
	}
	space = XS_RING_SIZE - used;
	n = len < space ? (uint32_t)len : space;
	a->ret = n;
	if (!n)
		return;
	off = prod % XS_RING_SIZE;
	first = XS_RING_SIZE - off < n ? XS_RING_SIZE - off : n;
	memcpy(page + XS_RING_OFF_RSP + off, buf, first);
	memcpy(page + XS_RING_OFF_RSP, (const char *)buf + first, n - first);
	store_release(page, XS_RING_OFF_RSP_PROD, prod + n);
}

static long ring_write(struct conn *c, const void *buf, size_t len)
{
	struct io_args a = {c, (void *)buf, len, 0};

	if (!guarded(c->transport, do_write, &a))
		return -EFAULT;
	if (a.ret > 0)
		notify(c);
	return a.ret;
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

struct query_args {
	struct domain *dom;
	bool answer;
};

static void do_is_sane(void *arg)
{
	struct query_args *a = arg;
	void *page = a->dom->ring;
	uint32_t req = load_acquire(page, XS_RING_OFF_REQ_PROD) -
	               load_acquire(page, XS_RING_OFF_REQ_CONS);
	uint32_t rsp = load_acquire(page, XS_RING_OFF_RSP_PROD) -
	               load_acquire(page, XS_RING_OFF_RSP_CONS);

	a->answer = req <= XS_RING_SIZE && rsp <= XS_RING_SIZE;
}

bool ring_is_sane(struct domain *dom)
{
	struct query_args a = {dom, false};

	return guarded(dom, do_is_sane, &a) && a.answer;
}

static void do_wants_reconnect(void *arg)
{
	struct query_args *a = arg;

	a->answer =
	    load_acquire(a->dom->ring, XS_RING_OFF_CONNECTION) == XS_RECONNECT;
}

bool ring_wants_reconnect(struct domain *dom)
{
	struct query_args a = {dom, false};

	return (dom->features & XS_FEATURE_RECONNECTION) &&
	       guarded(dom, do_wants_reconnect, &a) && a.answer;
}

static void do_reset(void *arg)
{
	char *page = arg;

	/* Empty both queues: only our own indices may be written. */
	store_release(page, XS_RING_OFF_REQ_CONS,
	              load_acquire(page, XS_RING_OFF_REQ_PROD));
	store_release(page, XS_RING_OFF_RSP_PROD,
	              load_acquire(page, XS_RING_OFF_RSP_CONS));
	store_release(page, XS_RING_OFF_ERROR, XS_ERROR_NONE);
	store_release(page, XS_RING_OFF_CONNECTION, XS_CONNECTED);
}

void ring_reset(struct domain *dom)
{
	guarded(dom, do_reset, dom->ring);
}

struct advertise_args {
	void *page;
	uint32_t features;
};

static void do_advertise(void *arg)
{
	struct advertise_args *a = arg;

	store_release(a->page, XS_RING_OFF_FEATURES, a->features);
}

void ring_advertise(struct domain *dom)
{
	struct advertise_args a = {dom->ring, dom->features};

	install_handler();
	dom->is_ring_faulted = false; /* a new mapping */
	/* Before any data moves, as the spec requires. */
	guarded(dom, do_advertise, &a);
}
