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
 * being touched jumps back out, the ring is marked faulted and
 * never touched again, and its connection dies; any other SIGBUS kills
 * the daemon as before.  One sigsetjmp without the signal mask (the
 * handler runs with SA_NODEFER) costs a few ns per ring operation.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/ring.h"
#include "plat/plat.h"
#include "xstore/wire.h"

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
 * Run fn(arg) on r's page, guarded (see the top of the file).  False if
 * the page faulted, now or before: the caller treats the ring as broken.
 */
static bool guarded(struct ring *r, void (*fn)(void *), void *arg)
{
	sigjmp_buf jb;

	if (!r || r->is_faulted || !r->page)
		return false;
	if (sigsetjmp(jb, 0)) {
		fault_jb = NULL;
		r->is_faulted = true;
		log_warn("domain %u: its ring page faulted (shrunk under us?); "
		         "not touching it again",
		         r->domid);
		return false;
	}
	fault_page = r->page;
	fault_jb = &jb;
	fn(arg);
	fault_jb = NULL;
	return true;
}

static void notify(struct conn *c)
{
	struct ring *r = c->transport;

	plat_evtchn_notify(r->plat, r->local_port);
}

struct set_error_args {
	struct ring *r;
	unsigned int code;
};

static void do_set_error(void *arg)
{
	struct set_error_args *a = arg;

	store_release(a->r->page, XS_RING_OFF_ERROR, a->code);
}

void ring_set_error(struct ring *r, unsigned int code)
{
	struct set_error_args a = {r, code};

	if (r && (r->features & XS_FEATURE_ERROR))
		guarded(r, do_set_error, &a);
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
	struct ring *r = c->transport;
	char *page = r->page;
	uint32_t cons = r->req_cons;
	uint32_t prod = load_acquire(page, XS_RING_OFF_REQ_PROD);
	uint32_t avail = prod - cons, off, first;

	if (avail > XS_RING_SIZE ||
	    prod - load_acquire(page, XS_RING_OFF_REQ_CONS) > XS_RING_SIZE) {
		if (r->features & XS_FEATURE_ERROR)
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
	/* Consumed for us only: the guest gets the space back at the end of
	 * the turn (ring_commit), once what the bytes asked for is recorded,
	 * so that a crash before that finds them still in the ring. */
	r->req_cons = cons + avail;
}

static long ring_read(struct conn *c, void *buf, size_t len)
{
	struct io_args a = {c, buf, len, 0};

	if (!guarded(c->transport, do_read, &a))
		return -EFAULT;
	return a.ret;
}

static void do_commit(void *arg)
{
	struct ring *r = arg;

	store_release(r->page, XS_RING_OFF_REQ_CONS, r->req_cons);
}

/* The turn's input is recorded: give the guest its request space back
 * and tell it (it may be waiting for room). */
static void ring_commit(struct conn *c)
{
	struct ring *r = c->transport;

	if (!r || r->is_faulted || r->req_cons == r->req_cons_published)
		return;
	if (guarded(r, do_commit, r)) {
		r->req_cons_published = r->req_cons;
		/* One notify for both, after the replies, when they come. */
		if (conn_will_flush(c))
			r->is_notify_owed = true;
		else
			notify(c);
	}
}

/* The flush wrote what it could: one notify for all of it (a notify is
 * a system call, and a wakeup of the guest before its last reply). */
static void ring_flushed(struct conn *c)
{
	struct ring *r = c->transport;

	if (r && r->is_notify_owed) {
		r->is_notify_owed = false;
		notify(c);
	}
}

static void do_write(void *arg)
{
	struct io_args *a = arg;
	struct conn *c = a->c;
	const void *buf = a->buf;
	size_t len = a->len;
	struct ring *r = c->transport;
	char *page = r->page;
	uint32_t cons = load_acquire(page, XS_RING_OFF_RSP_CONS);
	uint32_t prod = load_acquire(page, XS_RING_OFF_RSP_PROD);
	uint32_t used = prod - cons, space, off, first, n;

	if (used > XS_RING_SIZE) {
		if (r->features & XS_FEATURE_ERROR)
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
		((struct ring *)c->transport)->is_notify_owed = true;
	return a.ret;
}

/* A full ring drains when the guest reads and notifies: ring_kick
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
	struct ring *r = c->transport;

	if (r && r->on_conn_gone)
		r->on_conn_gone(r->owner);
}

static void ring_fail(struct conn *c, unsigned int code)
{
	ring_set_error(c->transport, code);
}

struct peek_args {
	struct ring *r;
	bool has_input;
};

static void do_peek(void *arg)
{
	struct peek_args *a = arg;

	a->has_input =
	    load_acquire(a->r->page, XS_RING_OFF_REQ_PROD) != a->r->req_cons;
}

/* The poll window's look (conn_poll_hot): a request whose notify has
 * not come yet is served now, from one load of the producer index.
 * The notify still comes, and finds nothing left (ring_kick is cheap
 * then).  A ring waiting to reconnect is domain_kick's, on the event. */
static bool ring_poll(struct conn *c)
{
	struct ring *r = c->transport;
	struct peek_args a = {r, false};
	uint32_t before;

	if (!guarded(r, do_peek, &a) || !a.has_input)
		return false;
	before = r->req_cons;
	ring_kick(r, c);
	return r->req_cons != before;
}

const struct transport_ops ring_ops = {
    .name = "ring",
    .read = ring_read,
    .write = ring_write,
    .flushed = ring_flushed,
    .poll = ring_poll,
    .want_write = ring_want_write,
    .want_read = ring_want_read,
    .close = ring_close,
    .fail = ring_fail,
    .commit = ring_commit,
};

struct query_args {
	struct ring *r;
	bool answer;
};

static void do_is_sane(void *arg)
{
	struct query_args *a = arg;
	void *page = a->r->page;
	uint32_t req = load_acquire(page, XS_RING_OFF_REQ_PROD) -
	               load_acquire(page, XS_RING_OFF_REQ_CONS);
	uint32_t rsp = load_acquire(page, XS_RING_OFF_RSP_PROD) -
	               load_acquire(page, XS_RING_OFF_RSP_CONS);

	a->answer = req <= XS_RING_SIZE && rsp <= XS_RING_SIZE;
}

/* Are both index pairs within a ring's worth? */
static bool ring_is_sane(struct ring *r)
{
	struct query_args a = {r, false};

	return guarded(r, do_is_sane, &a) && a.answer;
}

static void do_wants_reconnect(void *arg)
{
	struct query_args *a = arg;

	a->answer =
	    load_acquire(a->r->page, XS_RING_OFF_CONNECTION) == XS_RECONNECT;
}

bool ring_wants_reconnect(struct ring *r)
{
	struct query_args a = {r, false};

	return (r->features & XS_FEATURE_RECONNECTION) &&
	       guarded(r, do_wants_reconnect, &a) && a.answer;
}

static void do_reset(void *arg)
{
	struct ring *r = arg;
	char *page = r->page;

	/* Empty both queues: only our own indices may be written. */
	r->req_cons = load_acquire(page, XS_RING_OFF_REQ_PROD);
	r->req_cons_published = r->req_cons;
	store_release(page, XS_RING_OFF_REQ_CONS, r->req_cons);
	store_release(page, XS_RING_OFF_RSP_PROD,
	              load_acquire(page, XS_RING_OFF_RSP_CONS));
	store_release(page, XS_RING_OFF_ERROR, XS_ERROR_NONE);
	store_release(page, XS_RING_OFF_CONNECTION, XS_CONNECTED);
}

void ring_reset(struct ring *r)
{
	guarded(r, do_reset, r);
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

static void do_load_cons(void *arg)
{
	struct ring *r = arg;

	r->req_cons = load_acquire(r->page, XS_RING_OFF_REQ_CONS);
	r->req_cons_published = r->req_cons;
}

/* ring_open and ring_reopen: bind afresh (old_port 0) or take back. */
static int open_common(struct plat *p, unsigned int domid, uint64_t gfn,
                       unsigned int port, unsigned int old_port,
                       uint32_t features, struct ring **out)
{
	struct advertise_args a;
	struct ring *r;
	void *page = NULL;
	int err;

	err = plat_map_grant(p, domid, PLAT_GRANT_XENSTORE, true, &page);
	if (err)
		err = plat_map_foreign(p, domid, gfn, &page);
	if (err) {
		log_warn("INTRODUCE %u: cannot map its ring: %s", domid,
		         strerror(-err));
		return -EINVAL;
	}
	r = xcalloc(1, sizeof(*r));
	if (!r) {
		plat_unmap(p, page);
		return -ENOMEM;
	}
	r->plat = p;
	r->domid = domid;
	r->page = page;
	r->gfn = gfn;
	r->remote_port = port;
	r->features = features;
	install_handler();
	/* Before any data moves, as the spec requires. */
	a.page = page;
	a.features = features;
	if (!guarded(r, do_advertise, &a) || !guarded(r, do_load_cons, r)) {
		log_warn("INTRODUCE %u: its ring page faulted", domid);
		ring_free(r);
		return -EINVAL;
	}
	err = old_port
	          ? plat_evtchn_rebind(p, domid, port, old_port, &r->local_port)
	          : plat_evtchn_bind(p, domid, port, &r->local_port);
	if (err) {
		log_warn("INTRODUCE %u: cannot bind port %u: %s", domid, port,
		         strerror(-err));
		r->local_port = 0;
		ring_free(r);
		return -EINVAL;
	}
	*out = r;
	return 0;
}

int ring_open(struct plat *p, unsigned int domid, uint64_t gfn,
              unsigned int port, uint32_t features, struct ring **out)
{
	return open_common(p, domid, gfn, port, 0, features, out);
}

int ring_reopen(struct plat *p, unsigned int domid, uint64_t gfn,
                unsigned int port, unsigned int old_port, uint32_t features,
                struct ring **out)
{
	return open_common(p, domid, gfn, port, old_port ? old_port : 0,
	                   features, out);
}

struct save_args {
	struct ring *r;
	uint32_t rsp_prod;
};

static void do_save(void *arg)
{
	struct save_args *a = arg;

	a->rsp_prod = load_acquire(a->r->page, XS_RING_OFF_RSP_PROD);
}

int ring_save(struct ring *r, uint32_t *req_cons, uint32_t *rsp_prod)
{
	struct save_args a = {r, 0};

	if (r->is_faulted || !guarded(r, do_save, &a))
		return -EFAULT;
	*req_cons = r->req_cons;
	*rsp_prod = a.rsp_prod;
	return 0;
}

struct restore_args {
	struct ring *r;
	uint32_t req_cons, rsp_from, pending, skip;
	int err;
};

static void do_restore(void *arg)
{
	struct restore_args *a = arg;
	char *page = a->r->page;
	uint32_t cons = load_acquire(page, XS_RING_OFF_REQ_CONS);
	uint32_t prod = load_acquire(page, XS_RING_OFF_REQ_PROD);
	uint32_t rsp = load_acquire(page, XS_RING_OFF_RSP_PROD);

	/* The guest cannot have reused space we never gave back, so the
	 * recorded index lies between the page's and the producer's. */
	if (a->req_cons - cons > prod - cons) {
		a->err = -EPROTO;
		return;
	}
	a->r->req_cons = a->req_cons;
	a->r->req_cons_published = cons;
	a->skip = rsp - a->rsp_from;
	if (a->skip > a->pending)
		a->err = -EPROTO;
}

int ring_restore(struct ring *r, uint32_t req_cons, uint32_t rsp_from,
                 size_t pending, size_t *skip)
{
	struct restore_args a = {r, req_cons, rsp_from, 0, 0, 0};

	if (pending > UINT32_MAX)
		return -EINVAL;
	a.pending = (uint32_t)pending;
	if (!guarded(r, do_restore, &a))
		return -EFAULT;
	if (a.err)
		return a.err;
	*skip = a.skip;
	return 0;
}

void ring_free(struct ring *r)
{
	if (!r)
		return;
	if (r->local_port)
		plat_evtchn_unbind(r->plat, r->local_port);
	if (r->page)
		plat_unmap(r->plat, r->page);
	xfree(r);
}

void ring_kick(struct ring *r, struct conn *c)
{
	if (!c || c->is_dead)
		return;
	/* Checked on every event, even while its input waits, so that a
	 * guest that stopped reading cannot corrupt its ring unnoticed. */
	if (!ring_is_sane(r)) {
		conn_fail(c, XS_ERROR_RINGIDX, "ring indices out of range");
		return;
	}
	conn_handle_input(c);
	/* The guest may have made room for replies that waited: they are
	 * written at the end of the turn, after the journal. */
	if (!c->is_dead && c->out_head)
		conn_handle_output(c);
}
