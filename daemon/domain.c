/*
 * domain.c - guest domains: introduction (map the ring, bind the event
 * channel, serve), release and death (drop everything, forget the domain
 * in the store, fire @releaseDomain), reconnection, and the write-rate
 * limit.
 *
 * The platform (plat/) is opened as domain 0 when the daemon starts; if
 * there is none (no simulator directory, no hypervisor) the daemon serves
 * sockets only and INTRODUCE answers ENOSYS.  A domain record can exist
 * before INTRODUCE (SET_QUOTA, SET_FEATURE) and always exists while the
 * domain is introduced.  A record is freed only here, after its
 * connection has been detached, so a dead connection never points at a
 * freed record.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/state.h"
#include "daemon/domain.h"
#include "daemon/loop.h"
#include "daemon/ring.h"
#include "plat/plat.h"
#include "store/perm.h"
#include "store/store.h"
#include "xstore/wire.h"

#define ALL_FEATURES                                                           \
	(XS_FEATURE_RECONNECTION | XS_FEATURE_ERROR | XS_FEATURE_WATCHDEPTH)

/*
 * Serve a bounded batch of pending ports per wakeup, then go back to the
 * loop: guests that keep their rings busy must not starve the sockets,
 * timers and other fds (the fd stays readable, so the rest comes next
 * turn).  The batch is bounded in time as well as in kicks: a kick can
 * carry a whole ring of requests, so 64 of them may take milliseconds.
 * And it ends after the kick during which a request came on a socket
 * (dom0's toolstack), once the guests have had their share (below): the
 * event channel is a LOOP_BULK fd, so the loop serves that request right
 * after the batch, and its reply leaves first at the turn's end (loop.h).
 * A toolstack request waits for the guests' share and the kick under way
 * (KICK_CHECK_US at least), not for a batch: with the 200 us budget
 * alone it could wait for a whole batch and its reply for another
 * (load_hostile.py).  A yield takes no port it does not serve:
 * the others stay pending, for the next turn.
 * A batch that left ports pending, or served more than CONN_HOT_RINGS,
 * sets d->evtchn_backlog: the poll window's look at the last busy rings
 * (conn_poll_hot) must not serve them ahead of the others.
 */
#define KICKS_PER_TURN 64
#define KICK_BUDGET_US 200u
/*
 * Without the loop's hint (loop_yield_is_cheap), looking for dom0's
 * request is a system call: once per this much of a batch, the first
 * after as much, not after every kick (a kick of a guest reading flat
 * out is a few microseconds: checking after each cost ring-read 16 a
 * fifth of its rate, and a batch of one kick paid a call it had not
 * paid before).  dom0 waits at most this longer.  With the hint, a look
 * is two loads, taken after every kick once the guests had their share.
 */
#define KICK_CHECK_US 20u

/*
 * A batch yields to a dom0 client only once the guests have had their
 * share of it: as much of the daemon's time as that client's requests
 * took, up to the budget (conn.h: each socket's debt, paid as the
 * batches run).  Without a share a toolstack sending request after
 * request would find its next one served after every single kick, and
 * the guests would get one kick per dom0 request (in make load, 1 000
 * good guests took 12x longer while dom0's storm ran).  A light
 * toolstack owes nothing: its request waits for the next look, not for
 * a slice of the batch (with a fixed 50 us slice instead, dom0-read's
 * p50 beside 200 guests was twice as long; bench/README).
 */
static void on_evtchn(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct daemon *d = arg;
	uint64_t start = loop_now_us(), paid = 0, spent = 0;
	uint64_t every = loop_yield_is_cheap(l) ? 0 : KICK_CHECK_US;
	uint64_t check_at = every;
	unsigned int port;

	d->evtchn_backlog = true;
	for (int i = 0; i < KICKS_PER_TURN; i++) {
		if (plat_evtchn_pending(d->plat, &port)) {
			/* All served: nothing is owed to guests with no
			 * more work (a debt kept would delay dom0 later). */
			d->evtchn_backlog = i > CONN_HOT_RINGS;
			conn_guests_idle(d);
			break;
		}
		domain_kick(d, port);
		spent = loop_now_us() - start;
		/* The clock runs as the guests are served: a client's
		 * debt is paid during the batch, not at its end. */
		conn_guests_served(d, spent - paid);
		paid = spent;
		if (spent >= KICK_BUDGET_US)
			break;
		if (spent >= check_at) {
			if (loop_should_yield(l))
				break;
			check_at = spent + every;
		}
	}
}

static void sweep_start(struct daemon *d);
static void check_one(struct daemon *d, struct domain *dom);

/* Tell the journal (if any) that record `domid` changed or went. */
static void touch_id(struct daemon *d, unsigned int domid)
{
	if (d->on_domain_change)
		d->on_domain_change(d, domid);
}

void domain_touch(struct daemon *d, struct domain *dom)
{
	if (dom)
		touch_id(d, dom->domid);
}

/*
 * The platform says which domains changed when it can (the simulator,
 * from its writers): those are checked now, a platform call each, and
 * no sweep of every domain runs (at 1 000 domains the sweep was a third
 * of the daemon's time in a domain storm, each destroy reading every
 * domain's state).
 */
static void on_dom_exc(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct daemon *d = arg;
	struct plat_exc changed;

	plat_domain_exc_ack(d->plat, &changed);
	if (changed.is_all) {
		sweep_start(d);
		return;
	}
	for (unsigned int i = 0; i < changed.n; i++) {
		unsigned int domid = changed.domid[i];
		struct domain *dom =
		    domid <= XS_DOMID_MAX ? d->domains[domid] : NULL;

		if (dom)
			check_one(d, dom);
	}
}

int domain_table_init(struct daemon *d)
{
	const char *spec = d->cfg.platform;
	int err, fd;

	d->domains = xcalloc(XS_DOMID_MAX + 1, sizeof(*d->domains));
	if (!d->domains)
		return -ENOMEM;
	if (spec && !strcmp(spec, "none"))
		return 0;
	err = plat_open(spec, 0, &d->plat);
	if (err) {
		d->plat = NULL;
		/* Without an explicit platform, no simulator is no error. */
		if (!spec && err == -ENOENT) {
			log_info("no platform: serving sockets only");
			return 0;
		}
		log_err("cannot open platform %s: %s", spec ? spec : "sim",
		        strerror(-err));
		return err;
	}
	fd = plat_evtchn_fd(d->plat);
	err = fd < 0 ? fd
	             : loop_add(d->loop, fd, LOOP_IN | LOOP_BULK, on_evtchn, d);
	if (!err) {
		fd = plat_domain_exc_fd(d->plat);
		err =
		    fd < 0 ? fd : loop_add(d->loop, fd, LOOP_IN, on_dom_exc, d);
	}
	if (err) {
		log_err("platform %s: cannot watch its events: %s",
		        plat_name(d->plat), strerror(-err));
		plat_close(d->plat);
		d->plat = NULL;
		return err;
	}
	log_info("platform %s: serving guests", plat_name(d->plat));
	return 0;
}

static void domain_free(struct daemon *d, struct domain *dom);

void domain_table_fini(struct daemon *d)
{
	if (d->sweep_timer)
		loop_timer_del(d->loop, d->sweep_timer);
	d->sweep_timer = 0;
	while (d->dom_list)
		domain_free(d, d->dom_list);
	xfree(d->domains);
	d->domains = NULL;
	xfree(d->forgotten_at);
	d->forgotten_at = NULL;
	xfree(d->by_port);
	d->by_port = NULL;
	d->by_port_cap = 0;
	if (d->plat)
		plat_close(d->plat);
	d->plat = NULL;
}

struct domain *domain_find(const struct daemon *d, unsigned int domid)
{
	if (!d->domains || domid > XS_DOMID_MAX)
		return NULL;
	return d->domains[domid];
}

unsigned int domain_count(const struct daemon *d)
{
	return d->nr_domains;
}

static struct domain *domain_new(struct daemon *d, unsigned int domid)
{
	struct domain *dom = xcalloc(1, sizeof(*dom));

	if (!dom)
		return NULL;
	dom->domid = domid;
	dom->target = PERM_NO_TARGET;
	dom->features = ALL_FEATURES;
	dom->quota = d->cfg.quota;
	dom->credit = d->cfg.write_burst;
	dom->credit_at_ms = loop_now_ms();
	dom->next = d->dom_list;
	if (d->dom_list)
		d->dom_list->prev = dom;
	d->dom_list = dom;
	d->domains[domid] = dom;
	touch_id(d, domid);
	return dom;
}

struct domain *domain_get(struct daemon *d, unsigned int domid)
{
	enum plat_dom_state st;
	struct domain *dom = domain_find(d, domid);

	if (dom || !d->plat || domid == 0 || domid >= XS_DOMID_FIRST_SPECIAL)
		return dom;
	if (plat_domain_state(d->plat, domid, &st))
		return NULL;
	return domain_new(d, domid);
}

static int port_map(struct daemon *d, unsigned int port, struct domain *dom)
{
	if (port >= d->by_port_cap) {
		unsigned int cap = d->by_port_cap ? d->by_port_cap : 64;
		struct domain **v;

		while (cap <= port)
			cap *= 2;
		v = xrealloc_array(d->by_port, cap, sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + d->by_port_cap, 0,
		       (cap - d->by_port_cap) * sizeof(*v));
		d->by_port = v;
		d->by_port_cap = cap;
	}
	d->by_port[port] = dom;
	return 0;
}

/* A connection serving `dom`'s ring. */
static int domain_connect(struct daemon *d, struct domain *dom)
{
	struct conn *c = conn_new(d, CONN_RING, &ring_ops, dom->ring, -1);

	if (!c)
		return -ENOMEM;
	c->domid = dom->domid;
	c->is_privileged = false;
	c->outstanding_max = (unsigned int)dom->quota.v[QUOTA_OUTSTANDING];
	c->events_mem_max = dom->quota.v[QUOTA_MEMORY];
	dom->conn = c;
	conn_mark_save(c); /* a new session: the journal records it */
	return 0;
}

/* Drop the connection now; its record is freed at the safe point. */
static void domain_disconnect(struct domain *dom, const char *why)
{
	struct conn *c = dom->conn;

	if (!c)
		return;
	dom->conn = NULL;
	c->transport = NULL; /* its close must not reach this record */
	conn_kill(c, why);
}

/* The ring's on_conn_gone: its connection is being freed. */
static void domain_conn_gone(void *owner)
{
	struct domain *dom = owner;

	dom->conn = NULL;
}

static void domain_unlink(struct daemon *d, struct domain *dom)
{
	if (dom->prev)
		dom->prev->next = dom->next;
	else
		d->dom_list = dom->next;
	if (dom->next)
		dom->next->prev = dom->prev;
	d->domains[dom->domid] = NULL;
}

/* Undo the introduction: no connection, no channel, no mapping. */
static void domain_detach(struct daemon *d, struct domain *dom)
{
	domain_disconnect(dom, "domain released");
	if (dom->ring) {
		unsigned int port = dom->ring->local_port;

		if (port && port < d->by_port_cap)
			d->by_port[port] = NULL;
		ring_free(dom->ring);
		dom->ring = NULL;
	}
	if (dom->is_introduced)
		d->nr_domains--;
	dom->is_introduced = false;
}

static void stats_add(struct dom_stats *to, const struct dom_stats *from)
{
	to->requests += from->requests;
	for (int i = 0; i < DOM_REFUSED_COUNT; i++)
		to->refused[i] += from->refused[i];
	to->throttled += from->throttled;
}

struct dom_stats *domain_stats_of(struct daemon *d, unsigned int domid)
{
	struct domain *dom = domid ? domain_find(d, domid) : NULL;

	return dom ? &dom->stats : &d->stats_dom0;
}

void domain_stats_total(const struct daemon *d, struct dom_stats *out)
{
	*out = d->stats_dom0;
	stats_add(out, &d->stats_gone);
	for (const struct domain *dom = d->dom_list; dom; dom = dom->next)
		stats_add(out, &dom->stats);
}

static void domain_free(struct daemon *d, struct domain *dom)
{
	unsigned int domid = dom->domid;

	if (dom->target != PERM_NO_TARGET)
		d->nr_targets--;
	stats_add(&d->stats_gone, &dom->stats);
	domain_detach(d, dom);
	domain_unlink(d, dom);
	xfree(dom);
	touch_id(d, domid);
}

/* dom->ring is open: route its port, connect, count it introduced
 * (INTRODUCE and the restart share it).  On error the caller undoes. */
static int serve_ring(struct daemon *d, struct domain *dom)
{
	int err;

	dom->ring->on_conn_gone = domain_conn_gone;
	dom->ring->owner = dom;
	err = port_map(d, dom->ring->local_port, dom);
	if (!err)
		err = domain_connect(d, dom);
	if (err)
		return err;
	dom->is_introduced = true;
	d->nr_domains++;
	return 0;
}

int domain_introduce(struct daemon *d, unsigned int domid, uint64_t gfn,
                     unsigned int port)
{
	struct domain *dom;
	int err;

	if (!d->plat)
		return -ENOSYS;
	if (domid == 0 || domid >= XS_DOMID_FIRST_SPECIAL || port == 0)
		return -EINVAL;
	dom = domain_get(d, domid);
	if (!dom)
		return -EINVAL; /* the platform knows no such domain */
	if (dom->is_introduced) {
		/* Again with the same ring (a toolstack retrying): fine. */
		return dom->ring->gfn == gfn && dom->ring->remote_port == port
		           ? 0
		           : -EINVAL;
	}
	err = ring_open(d->plat, domid, gfn, port, dom->features, &dom->ring);
	if (!err)
		err = serve_ring(d, dom);
	if (err) {
		domain_detach(d, dom);
		return err;
	}
	dom->is_shutdown_reported = false;
	touch_id(d, domid);
	log_info("domain %u introduced (port %u)", domid,
	         dom->ring->local_port);
	d->fire_special(d, "@introduceDomain", domid);
	/* Requests may already wait in the ring. */
	domain_kick(d, dom->ring->local_port);
	return 0;
}

/*
 * A domain is gone: forget its nodes and its rights everywhere (XSA-322),
 * including SET_TARGET rights of others over it, and record the death so
 * that a transaction naming it, checked before, cannot commit after.
 */
static void forget(struct daemon *d, unsigned int domid)
{
	int err = store_forget_domain(d->store, domid);

	if (err)
		log_err("domain %u: forgetting it failed: %s", domid,
		        strerror(-err));
	/* A walk of every domain, only if one has a target at all. */
	for (struct domain *o = d->nr_targets ? d->dom_list : NULL; o;
	     o = o->next)
		if (o->target == domid) {
			o->target = PERM_NO_TARGET;
			d->nr_targets--;
			touch_id(d, o->domid);
		}
	if (!d->forgotten_at)
		d->forgotten_at =
		    xcalloc(XS_DOMID_MAX + 1, sizeof(*d->forgotten_at));
	d->death_seq++;
	if (d->forgotten_at && domid <= XS_DOMID_MAX)
		d->forgotten_at[domid] = d->death_seq;
}

bool domain_is_alive(struct daemon *d, unsigned int domid)
{
	enum plat_dom_state st;

	if (domid == 0)
		return true;
	if (!d->plat || domid >= XS_DOMID_FIRST_SPECIAL)
		return false;
	return !plat_domain_state(d->plat, domid, &st) && st != PLAT_DOM_DYING;
}

bool domain_gone_since(struct daemon *d, unsigned int domid, uint32_t seq)
{
	if (domid == 0)
		return false;
	if (!d->plat)
		return false; /* nothing dies: only dom0 exists */
	if (d->forgotten_at && domid <= XS_DOMID_MAX &&
	    d->forgotten_at[domid] > seq) /* died, maybe born again */
		return true;
	return !domain_is_alive(d, domid);
}

int domain_release(struct daemon *d, unsigned int domid, bool is_dead)
{
	struct domain *dom = domain_find(d, domid);

	if (!dom || !dom->is_introduced)
		return -ENOENT;
	log_info("domain %u %s", domid, is_dead ? "died" : "released");
	domain_free(d, dom);
	forget(d, domid);
	d->fire_special(d, "@releaseDomain", domid);
	return 0;
}

int domain_resume(struct daemon *d, unsigned int domid)
{
	struct domain *dom = domain_find(d, domid);

	if (!dom || !dom->is_introduced)
		return -ENOENT;
	dom->is_shutdown_reported = false;
	touch_id(d, domid);
	return 0;
}

int domain_set_target(struct daemon *d, unsigned int domid, unsigned int target)
{
	struct domain *dom = domain_find(d, domid);

	if (!dom || !dom->is_introduced || !domain_find(d, target))
		return -ENOENT;
	if (domid == target)
		return -EINVAL;
	d->nr_targets += dom->target == PERM_NO_TARGET;
	dom->target = target;
	touch_id(d, domid);
	return 0;
}

/* Check one record against the platform (it may be freed). */
static void check_one(struct daemon *d, struct domain *dom)
{
	enum plat_dom_state st;
	int err = plat_domain_state(d->plat, dom->domid, &st);

	d->nr_state_checks++;
	if (err == -ENOENT || (!err && st == PLAT_DOM_DYING)) {
		unsigned int domid = dom->domid;

		if (dom->is_introduced) {
			domain_release(d, domid, true);
			return;
		}
		/* Never introduced, but named in permissions or owning
		 * nodes: a later domain with its id must inherit nothing
		 * all the same (XSA-322 class). */
		domain_free(d, dom);
		forget(d, domid);
		return;
	}
	/* A suspend is a shutdown to the daemon, as in Xen (the toolstack
	 * saves the guest, then destroys or RESUMEs it). */
	if (!err && (st == PLAT_DOM_SHUTDOWN || st == PLAT_DOM_SUSPENDED) &&
	    dom->is_introduced && !dom->is_shutdown_reported) {
		dom->is_shutdown_reported = true;
		touch_id(d, dom->domid);
		d->fire_special(d, "@releaseDomain", dom->domid);
	}
}

/*
 * The platform's "some domain changed" says not which (as Xen's
 * VIRQ_DOM_EXC), so every record is checked; in the simulator that is a
 * file read per domain, ~10 ms for 1 000 of them, which in one go would
 * be dom0's toolstack's latency too.  So the sweep runs in slices of
 * SWEEP_BUDGET_US, one per loop turn (a 0 ms timer waits for the next
 * turn's fds), by domid.  A change during a sweep runs another after it.
 */
#define SWEEP_BUDGET_US 100u

static void sweep_step(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	uint64_t start = loop_now_us();

	d->sweep_timer = 0;
	for (;;) {
		while (d->sweep_next <= XS_DOMID_MAX) {
			struct domain *dom = d->domains[d->sweep_next++];

			if (!dom)
				continue;
			check_one(d, dom);
			if (loop_now_us() - start >= SWEEP_BUDGET_US)
				break;
		}
		if (d->sweep_next > XS_DOMID_MAX) {
			if (!d->sweep_again)
				return;
			d->sweep_again = false;
			d->nr_sweeps++;
			d->sweep_next = 0;
		}
		d->sweep_timer = loop_timer_add(l, 0, sweep_step, d);
		if (d->sweep_timer)
			return;
		/* No memory for the timer: finish now rather than never. */
	}
}

static void sweep_start(struct daemon *d)
{
	if (d->sweep_timer) {
		d->sweep_again = true;
		return;
	}
	d->sweep_next = 0;
	d->sweep_again = false;
	d->nr_sweeps++;
	sweep_step(d->loop, d);
}

void domain_log_checks(const struct daemon *d)
{
	log_debug("domain state checks: %llu, in %llu sweeps of every "
	          "domain and what the platform named; %llu nodes walked to "
	          "forget dead domains",
	          (unsigned long long)d->nr_state_checks,
	          (unsigned long long)d->nr_sweeps,
	          (unsigned long long)store_forget_walked(d->store));
}

static void reconnect(struct daemon *d, struct domain *dom)
{
	domain_disconnect(dom, "ring reconnection");
	ring_reset(dom->ring);
	if (domain_connect(d, dom))
		log_err("domain %u: no memory to reconnect", dom->domid);
	plat_evtchn_notify(d->plat, dom->ring->local_port);
}

void domain_kick(struct daemon *d, unsigned int port)
{
	struct domain *dom = port < d->by_port_cap ? d->by_port[port] : NULL;

	if (!dom || !dom->is_introduced)
		return;
	if (ring_wants_reconnect(dom->ring))
		reconnect(d, dom);
	ring_kick(dom->ring, dom->conn);
}

bool domain_charge_write(struct daemon *d, struct domain *dom)
{
	uint64_t now = loop_now_ms();
	double rate = d->cfg.write_rate, burst = d->cfg.write_burst;

	if (!rate)
		return true;
	dom->credit += (double)(now - dom->credit_at_ms) * rate / 1000.0;
	dom->credit_at_ms = now;
	if (dom->credit > burst)
		dom->credit = burst;
	dom->credit -= 1.0;
	return dom->credit >= 0.0;
}

void domain_save(const struct domain *dom, struct domain_saved *out)
{
	memset(out, 0, sizeof(*out));
	out->domid = dom->domid;
	out->is_introduced = dom->is_introduced;
	out->is_shutdown_reported = dom->is_shutdown_reported;
	out->target = dom->target;
	out->features = dom->features;
	out->quota = dom->quota;
	if (dom->ring) {
		out->gfn = dom->ring->gfn;
		out->remote_port = dom->ring->remote_port;
		out->local_port = dom->ring->local_port;
	}
}

int domain_restore(struct daemon *d, const struct domain_saved *s,
                   struct domain **out)
{
	enum plat_dom_state st;
	struct domain *dom;
	int err;

	*out = NULL;
	if (!d->plat || s->domid == 0 || s->domid >= XS_DOMID_FIRST_SPECIAL)
		return -EINVAL;
	if (domain_find(d, s->domid))
		return -EEXIST;
	err = plat_domain_state(d->plat, s->domid, &st);
	if (err == -ENOENT || (!err && st == PLAT_DOM_DYING))
		return -ESRCH;
	if (err)
		return err;
	dom = domain_new(d, s->domid);
	if (!dom)
		return -ENOMEM;
	dom->target = s->target;
	d->nr_targets += dom->target != PERM_NO_TARGET;
	dom->features = s->features;
	dom->quota = s->quota;
	if (!s->is_introduced) {
		*out = dom;
		return 0;
	}
	err = ring_reopen(d->plat, s->domid, s->gfn, s->remote_port,
	                  s->local_port, s->features, &dom->ring);
	if (!err)
		err = serve_ring(d, dom);
	if (err) {
		domain_free(d, dom);
		return err;
	}
	dom->is_shutdown_reported = s->is_shutdown_reported;
	*out = dom;
	return 0;
}

void domain_forget_dead(struct daemon *d, unsigned int domid)
{
	struct domain *dom = domain_find(d, domid);

	log_info("domain %u died while the daemon was down", domid);
	if (dom)
		domain_free(d, dom);
	forget(d, domid);
	touch_id(d, domid);
	d->fire_special(d, "@releaseDomain", domid);
}
