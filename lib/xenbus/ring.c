/*
 * ring.c - the ring and event-channel helpers of xenbus.h over the bus's
 * platform: granting and mapping multi-page rings, event channels with
 * the other end, and delivering their events to per-port handlers on the
 * bus thread.  It also keeps, per device, what a driver got through the
 * helpers, so that xb_ring_dev_gone() can release what the driver forgot.
 *
 * Records.  One list of devices that hold something (ports, maps,
 * granted rings), shared by every bus of the process under one mutex
 * (rs_lock); a device's records are touched only from its bus's thread,
 * but lists of several buses interleave.  Every plat call runs under
 * xb_plat_lock(); the only nesting is rs_lock, then a plat lock (the
 * retry of deferred grants), never the reverse.  No handler and no
 * xenbus_dev_* report runs with rs_lock held.
 *
 * Events.  The bus's plat has one fd for all its ports.  The first handler
 * set on a bus adds that fd to the bus (xenbus_bus_add_fd); on readable,
 * pending ports are drained and each one's handler called.  The fd stays
 * until a device leaves the bus while no handler is left on it, so that
 * nothing here outlives a bus that is then freed.
 *
 * Ending a grant the peer still maps is refused by the platform (as Xen
 * refuses it); such pages stay granted, are retried whenever the helpers
 * run on that bus, and released for good as soon as the peer unmapped.
 *
 * Reporting: setting up (grant, map, alloc, bind, notify, handlers) fails
 * through xenbus_dev_fatal(); tearing down (ungrant, unmap, free) through
 * xenbus_dev_error(), as Linux does: teardown runs while the device is
 * closing or closed, and fatal's move to Closing would undo a Closed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xenbus/xb_int.h"

/* Pending ports handled per wake-up: the fd is level-triggered, so the
 * rest wait for the next round and other fds of the bus get a turn. */
#define RING_DISPATCH_MAX 64u

struct rs_port {
	struct rs_port *next;
	unsigned int port;
	xenbus_evtchn_fn *fn; /* NULL: events ignored */
	void *arg;
};

struct rs_map { /* xenbus_map_ring */
	struct rs_map *next;
	void *vaddr;
	unsigned int n;
};

struct rs_grant { /* xenbus_grant_ring */
	struct rs_grant *next;
	void *vaddr; /* our mapping; NULL once ungrant unmapped it */
	unsigned int n;
	unsigned int nleft; /* pages not yet ended and freed */
	uint32_t *refs;
	uint64_t *gfns;
	bool *is_ended;
};

struct rs_dev {
	struct rs_dev *next;
	struct xenbus_device *dev;
	struct xenbus_bus *bus;
	struct rs_port *ports;
	struct rs_map *maps;
	struct rs_grant *grants;
};

struct rs_bus { /* a bus whose plat fd we added */
	struct rs_bus *next;
	struct xenbus_bus *bus;
	int fd;
};

static pthread_mutex_t rs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rs_dev *rs_devs;  /* rs_lock */
static struct rs_bus *rs_buses; /* rs_lock */

/* ---- records (rs_lock held) ---- */

static struct rs_dev *dev_find(const struct xenbus_device *dev)
{
	for (struct rs_dev *d = rs_devs; d; d = d->next) {
		if (d->dev == dev)
			return d;
	}
	return NULL;
}

static struct rs_dev *dev_get(struct xenbus_device *dev)
{
	struct rs_dev *d = dev_find(dev);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->dev = dev;
	d->bus = xenbus_dev_bus(dev);
	d->next = rs_devs;
	rs_devs = d;
	return d;
}

static struct rs_port *port_find(struct rs_dev *d, unsigned int port)
{
	for (struct rs_port *p = d ? d->ports : NULL; p; p = p->next) {
		if (p->port == port)
			return p;
	}
	return NULL;
}

static bool bus_has_handlers(const struct xenbus_bus *bus)
{
	for (struct rs_dev *d = rs_devs; d; d = d->next) {
		if (d->bus != bus)
			continue;
		for (struct rs_port *p = d->ports; p; p = p->next) {
			if (p->fn)
				return true;
		}
	}
	return false;
}

static struct rs_bus *bus_find(const struct xenbus_bus *bus)
{
	for (struct rs_bus *b = rs_buses; b; b = b->next) {
		if (b->bus == bus)
			return b;
	}
	return NULL;
}

/* ---- the platform ---- */

static int plat_get(struct xenbus_device *dev, struct plat **p)
{
	int err = xb_bus_plat(xenbus_dev_bus(dev), p);

	if (err)
		xenbus_dev_fatal(dev, err, "opening the platform");
	return err;
}

static void grant_free(struct rs_grant *g)
{
	if (!g)
		return;
	free(g->refs);
	free(g->gfns);
	free(g->is_ended);
	free(g);
}

/*
 * End the grants of `g` that are not ended yet and free their frames.
 * Returns 0 when none is left, -EBUSY while the peer maps some, else the
 * first other error.  Plat lock held.
 */
static int grant_end(struct plat *p, struct rs_grant *g)
{
	int ret = 0;

	for (unsigned int i = 0; i < g->n; i++) {
		int err;

		if (g->is_ended[i])
			continue;
		err = plat_ungrant(p, g->refs[i]);
		if (err == -ENOENT) /* gone already (the domain died?) */
			err = 0;
		if (!err) {
			err = plat_free_page(p, g->gfns[i]);
			if (err == -ENOENT)
				err = 0;
		}
		if (!err) {
			g->is_ended[i] = true;
			g->nleft--;
		} else if (!ret || ret == -EBUSY) {
			ret = err;
		}
	}
	return ret;
}

/*
 * Retry the grants of `bus` left for the peer to unmap: those ended now
 * are forgotten.  Bus thread of `bus`.
 */
static void retry_deferred(struct xenbus_bus *bus, struct plat *p)
{
	pthread_mutex_lock(&rs_lock);
	for (struct rs_dev *d = rs_devs; d; d = d->next) {
		struct rs_grant **gp = &d->grants;

		if (d->bus != bus)
			continue;
		while (*gp) {
			struct rs_grant *g = *gp;

			if (g->vaddr) { /* in use by the driver */
				gp = &g->next;
				continue;
			}
			xb_plat_lock(bus);
			grant_end(p, g);
			xb_plat_unlock(bus);
			if (g->nleft) {
				gp = &g->next;
				continue;
			}
			*gp = g->next;
			grant_free(g);
		}
	}
	pthread_mutex_unlock(&rs_lock);
}

/* ---- rings ---- */

int xenbus_grant_ring(struct xenbus_device *dev, unsigned int npages,
                      void **vaddr, uint32_t *refs)
{
	unsigned int domid, done = 0;
	struct rs_grant *g = NULL;
	struct rs_dev *d;
	struct plat *p;
	int err;

	if (!dev || !vaddr || !refs)
		return -EINVAL;
	*vaddr = NULL;
	if (npages == 0 || npages > PLAT_MAP_PAGES_MAX) {
		xenbus_dev_fatal(dev, -EINVAL, "granting a ring of %u pages",
		                 npages);
		return -EINVAL;
	}
	err = plat_get(dev, &p);
	if (err)
		return err;
	retry_deferred(xenbus_dev_bus(dev), p);
	domid = xenbus_dev_otherend_id(dev);
	g = calloc(1, sizeof(*g));
	if (g) {
		g->refs = calloc(npages, sizeof(*g->refs));
		g->gfns = calloc(npages, sizeof(*g->gfns));
		g->is_ended = calloc(npages, sizeof(*g->is_ended));
	}
	if (!g || !g->refs || !g->gfns || !g->is_ended) {
		err = -ENOMEM;
		goto fail;
	}
	g->n = g->nleft = npages;
	xb_plat_lock(xenbus_dev_bus(dev));
	for (; done < npages; done++) {
		err = plat_alloc_page(p, &g->gfns[done]);
		if (err)
			break;
		err = plat_grant(p, g->gfns[done], domid, true, &g->refs[done]);
		if (err) {
			plat_free_page(p, g->gfns[done]);
			break;
		}
	}
	if (!err)
		err = plat_map_own_pages(p, g->gfns, npages, &g->vaddr);
	if (err) {
		/* Nobody was told the refs: nothing can map them yet. */
		g->n = g->nleft = done;
		grant_end(p, g);
	}
	xb_plat_unlock(xenbus_dev_bus(dev));
	if (err)
		goto fail;
	pthread_mutex_lock(&rs_lock);
	d = dev_get(dev);
	if (d) {
		g->next = d->grants;
		d->grants = g;
	}
	pthread_mutex_unlock(&rs_lock);
	if (!d) {
		err = -ENOMEM;
		xb_plat_lock(xenbus_dev_bus(dev));
		plat_unmap(p, g->vaddr);
		grant_end(p, g);
		xb_plat_unlock(xenbus_dev_bus(dev));
		goto fail;
	}
	memcpy(refs, g->refs, npages * sizeof(*refs));
	*vaddr = g->vaddr;
	return 0;
fail:
	grant_free(g);
	xenbus_dev_fatal(dev, err, "granting ring page %u of %u to domain %u",
	                 done, npages, xenbus_dev_otherend_id(dev));
	return err;
}

int xenbus_ungrant_ring(struct xenbus_device *dev, void *vaddr,
                        unsigned int npages, const uint32_t *refs)
{
	struct rs_grant *g = NULL;
	struct rs_dev *d;
	struct plat *p;
	int err;

	if (!dev || !vaddr || !refs)
		return -EINVAL;
	pthread_mutex_lock(&rs_lock);
	d = dev_find(dev);
	for (g = d ? d->grants : NULL; g; g = g->next) {
		if (g->vaddr == vaddr)
			break;
	}
	if (g &&
	    (g->n != npages || memcmp(g->refs, refs, npages * sizeof(*refs))))
		g = NULL;
	pthread_mutex_unlock(&rs_lock);
	if (!g) {
		xenbus_dev_error(dev, -EINVAL,
		                 "ungranting a ring this device did not grant");
		return -EINVAL;
	}
	err = xb_bus_plat(xenbus_dev_bus(dev), &p);
	if (err) { /* cannot happen: the plat granted it */
		xenbus_dev_error(dev, err, "opening the platform");
		return err;
	}
	pthread_mutex_lock(&rs_lock);
	g->vaddr = NULL; /* deferred from now on, if not ended at once */
	pthread_mutex_unlock(&rs_lock);
	xb_plat_lock(xenbus_dev_bus(dev));
	plat_unmap(p, vaddr);
	err = grant_end(p, g);
	xb_plat_unlock(xenbus_dev_bus(dev));
	retry_deferred(xenbus_dev_bus(dev), p); /* frees g if all ended */
	if (err == -EBUSY)
		xenbus_dev_error(dev, err,
		                 "ring ref %u still mapped by domain %u: pages "
		                 "kept until it unmaps",
		                 refs[0], xenbus_dev_otherend_id(dev));
	else if (err)
		xenbus_dev_error(dev, err, "ungranting ring ref %u", refs[0]);
	return err;
}

int xenbus_map_ring(struct xenbus_device *dev, const uint32_t *refs,
                    unsigned int n, void **vaddr)
{
	struct rs_map *m;
	struct rs_dev *d;
	struct plat *p;
	int err;

	if (!dev || !refs || !vaddr)
		return -EINVAL;
	*vaddr = NULL;
	err = plat_get(dev, &p);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		goto fail;
	}
	m->n = n;
	xb_plat_lock(xenbus_dev_bus(dev));
	err = plat_map_grants(p, xenbus_dev_otherend_id(dev), refs, n, true,
	                      &m->vaddr);
	xb_plat_unlock(xenbus_dev_bus(dev));
	if (err)
		goto fail;
	pthread_mutex_lock(&rs_lock);
	d = dev_get(dev);
	if (d) {
		m->next = d->maps;
		d->maps = m;
	}
	pthread_mutex_unlock(&rs_lock);
	if (!d) {
		err = -ENOMEM;
		xb_plat_lock(xenbus_dev_bus(dev));
		plat_unmap(p, m->vaddr);
		xb_plat_unlock(xenbus_dev_bus(dev));
		goto fail;
	}
	*vaddr = m->vaddr;
	return 0;
fail:
	free(m);
	xenbus_dev_fatal(dev, err,
	                 "mapping %u ring page(s) of domain %u, ref %u", n,
	                 xenbus_dev_otherend_id(dev), n ? refs[0] : 0);
	return err;
}

void xenbus_unmap_ring(struct xenbus_device *dev, void *vaddr, unsigned int n)
{
	struct rs_map *m = NULL, **mp;
	struct rs_dev *d;
	struct plat *p;

	if (!dev || !vaddr)
		return;
	pthread_mutex_lock(&rs_lock);
	d = dev_find(dev);
	for (mp = d ? &d->maps : NULL; mp && *mp; mp = &(*mp)->next) {
		if ((*mp)->vaddr == vaddr && (*mp)->n == n) {
			m = *mp;
			*mp = m->next;
			break;
		}
	}
	pthread_mutex_unlock(&rs_lock);
	if (!m) {
		xenbus_dev_error(dev, -EINVAL,
		                 "unmapping a ring this device did not map");
		return;
	}
	if (!xb_bus_plat(xenbus_dev_bus(dev), &p)) {
		xb_plat_lock(xenbus_dev_bus(dev));
		plat_unmap(p, vaddr);
		xb_plat_unlock(xenbus_dev_bus(dev));
	}
	free(m);
}

/* ---- event channels ---- */

/* Record `port` as the device's; on failure give it back. */
static int port_add(struct xenbus_device *dev, struct plat *p,
                    unsigned int port)
{
	struct rs_port *rp = calloc(1, sizeof(*rp));
	struct rs_dev *d = NULL;

	if (rp) {
		rp->port = port;
		pthread_mutex_lock(&rs_lock);
		d = dev_get(dev);
		if (d) {
			rp->next = d->ports;
			d->ports = rp;
		}
		pthread_mutex_unlock(&rs_lock);
	}
	if (d)
		return 0;
	free(rp);
	xb_plat_lock(xenbus_dev_bus(dev));
	plat_evtchn_unbind(p, port);
	xb_plat_unlock(xenbus_dev_bus(dev));
	return -ENOMEM;
}

int xenbus_alloc_evtchn(struct xenbus_device *dev, unsigned int *port)
{
	struct plat *p;
	int err;

	if (!dev || !port)
		return -EINVAL;
	err = plat_get(dev, &p);
	if (err)
		return err;
	xb_plat_lock(xenbus_dev_bus(dev));
	err = plat_evtchn_alloc_unbound(p, xenbus_dev_otherend_id(dev), port);
	xb_plat_unlock(xenbus_dev_bus(dev));
	if (!err)
		err = port_add(dev, p, *port);
	if (err)
		xenbus_dev_fatal(dev, err, "allocating an event channel");
	return err;
}

int xenbus_bind_evtchn(struct xenbus_device *dev, unsigned int remote_port,
                       unsigned int *port)
{
	struct plat *p;
	int err;

	if (!dev || !port)
		return -EINVAL;
	err = plat_get(dev, &p);
	if (err)
		return err;
	xb_plat_lock(xenbus_dev_bus(dev));
	err =
	    plat_evtchn_bind(p, xenbus_dev_otherend_id(dev), remote_port, port);
	xb_plat_unlock(xenbus_dev_bus(dev));
	if (!err)
		err = port_add(dev, p, *port);
	if (err)
		xenbus_dev_fatal(dev, err,
		                 "binding event channel %u of domain %u",
		                 remote_port, xenbus_dev_otherend_id(dev));
	return err;
}

int xenbus_free_evtchn(struct xenbus_device *dev, unsigned int port)
{
	struct rs_port *rp = NULL, **pp;
	struct rs_dev *d;
	struct plat *p;
	int err;

	if (!dev)
		return -EINVAL;
	pthread_mutex_lock(&rs_lock);
	d = dev_find(dev);
	for (pp = d ? &d->ports : NULL; pp && *pp; pp = &(*pp)->next) {
		if ((*pp)->port == port) {
			rp = *pp;
			*pp = rp->next;
			break;
		}
	}
	pthread_mutex_unlock(&rs_lock);
	if (!rp) {
		xenbus_dev_error(dev, -EINVAL,
		                 "freeing event channel %u: not this device's",
		                 port);
		return -EINVAL;
	}
	free(rp);
	err = xb_bus_plat(xenbus_dev_bus(dev), &p);
	if (!err) {
		xb_plat_lock(xenbus_dev_bus(dev));
		err = plat_evtchn_unbind(p, port);
		xb_plat_unlock(xenbus_dev_bus(dev));
	}
	if (err)
		xenbus_dev_error(dev, err, "freeing event channel %u", port);
	return err;
}

/* Is `port` one the device got through these helpers? */
static bool is_dev_port(struct xenbus_device *dev, unsigned int port)
{
	bool is_ours;

	pthread_mutex_lock(&rs_lock);
	is_ours = port_find(dev_find(dev), port) != NULL;
	pthread_mutex_unlock(&rs_lock);
	return is_ours;
}

int xenbus_evtchn_notify(struct xenbus_device *dev, unsigned int port)
{
	struct plat *p;
	int err;

	if (!dev)
		return -EINVAL;
	if (!is_dev_port(dev, port)) {
		xenbus_dev_fatal(dev, -EINVAL,
		                 "notifying event channel %u: not this "
		                 "device's",
		                 port);
		return -EINVAL;
	}
	err = plat_get(dev, &p);
	if (err)
		return err;
	xb_plat_lock(xenbus_dev_bus(dev));
	err = plat_evtchn_notify(p, port);
	xb_plat_unlock(xenbus_dev_bus(dev));
	/* Xen drops an event for a closed remote end silently: the peer is
	 * going away, and its state change will tell the driver. */
	if (err == -ENOTCONN)
		return 0;
	if (err)
		xenbus_dev_fatal(dev, err, "notifying event channel %u", port);
	return err;
}

/* The bus's plat fd is readable: run the handlers of pending ports. */
static void on_evtchn(int fd, void *arg)
{
	struct xenbus_bus *bus = arg;
	struct plat *p;

	(void)fd;
	if (xb_bus_plat(bus, &p))
		return;
	for (unsigned int i = 0; i < RING_DISPATCH_MAX; i++) {
		struct xenbus_device *dev = NULL;
		xenbus_evtchn_fn *fn = NULL;
		unsigned int port;
		void *fn_arg = NULL;
		int err;

		xb_plat_lock(bus);
		err = plat_evtchn_pending(p, &port);
		xb_plat_unlock(bus);
		if (err)
			break;
		pthread_mutex_lock(&rs_lock);
		for (struct rs_dev *d = rs_devs; d && !fn; d = d->next) {
			struct rs_port *rp;

			if (d->bus != bus || !(rp = port_find(d, port)))
				continue;
			fn = rp->fn;
			fn_arg = rp->arg;
			dev = d->dev;
		}
		pthread_mutex_unlock(&rs_lock);
		/* The device stays valid: only this thread detaches it. */
		if (fn)
			fn(dev, port, fn_arg);
	}
}

int xenbus_evtchn_set_handler(struct xenbus_device *dev, unsigned int port,
                              xenbus_evtchn_fn *fn, void *arg)
{
	struct xenbus_bus *bus;
	struct rs_bus *b = NULL;
	struct rs_port *rp;
	struct plat *p;
	int err = 0, fd;

	if (!dev)
		return -EINVAL;
	bus = xenbus_dev_bus(dev);
	if (fn) {
		err = plat_get(dev, &p);
		if (err)
			return err;
	}
	pthread_mutex_lock(&rs_lock);
	rp = port_find(dev_find(dev), port);
	if (rp && fn && !bus_find(bus)) {
		b = calloc(1, sizeof(*b));
		if (!b)
			err = -ENOMEM;
	}
	pthread_mutex_unlock(&rs_lock);
	if (!rp)
		err = -EINVAL;
	if (!err && b) {
		xb_plat_lock(bus);
		fd = plat_evtchn_fd(p);
		xb_plat_unlock(bus);
		err = fd < 0 ? fd : xenbus_bus_add_fd(bus, fd, on_evtchn, bus);
		b->bus = bus;
		b->fd = fd;
	}
	if (err) {
		free(b);
		xenbus_dev_fatal(
		    dev, err, "setting the handler of event channel %u", port);
		return err;
	}
	pthread_mutex_lock(&rs_lock);
	if (b) {
		b->next = rs_buses;
		rs_buses = b;
	}
	rp->fn = fn;
	rp->arg = arg;
	pthread_mutex_unlock(&rs_lock);
	return 0;
}

/* ---- the device is gone ---- */

/* Release what `d` still holds (its records are already unlinked). */
static void dev_release(struct rs_dev *d, struct plat *p)
{
	const char *node = xenbus_dev_node(d->dev);

	while (d->ports) {
		struct rs_port *rp = d->ports;

		d->ports = rp->next;
		fprintf(stderr,
		        "xenbus: %s: closing event channel %u the driver "
		        "left open\n",
		        node, rp->port);
		if (p)
			plat_evtchn_unbind(p, rp->port);
		free(rp);
	}
	while (d->maps) {
		struct rs_map *m = d->maps;

		d->maps = m->next;
		fprintf(stderr,
		        "xenbus: %s: unmapping a ring the driver left "
		        "mapped\n",
		        node);
		if (p)
			plat_unmap(p, m->vaddr);
		free(m);
	}
	while (d->grants) {
		struct rs_grant *g = d->grants;

		d->grants = g->next;
		if (g->vaddr)
			fprintf(stderr,
			        "xenbus: %s: ungranting ring ref %u the "
			        "driver left granted\n",
			        node, g->refs[0]);
		if (p) {
			plat_unmap(p, g->vaddr);
			if (grant_end(p, g))
				fprintf(stderr,
				        "xenbus: %s: ring ref %u still mapped "
				        "by its peer: %u page(s) leaked\n",
				        node, g->refs[0], g->nleft);
		}
		grant_free(g);
	}
}

void xb_ring_dev_gone(struct xenbus_device *dev)
{
	struct xenbus_bus *bus = xenbus_dev_bus(dev);
	struct rs_dev *d = NULL, **dp;
	struct rs_bus *b = NULL, **bp;
	struct plat *p = NULL;

	pthread_mutex_lock(&rs_lock);
	for (dp = &rs_devs; *dp; dp = &(*dp)->next) {
		if ((*dp)->dev == dev) {
			d = *dp;
			*dp = d->next;
			break;
		}
	}
	if (!bus_has_handlers(bus)) {
		for (bp = &rs_buses; *bp; bp = &(*bp)->next) {
			if ((*bp)->bus == bus) {
				b = *bp;
				*bp = b->next;
				break;
			}
		}
	}
	pthread_mutex_unlock(&rs_lock);
	if ((d || b) && xb_bus_plat(bus, &p))
		p = NULL; /* cannot happen: d and b come from the plat */
	if (d) {
		xb_plat_lock(bus);
		dev_release(d, p);
		xb_plat_unlock(bus);
		free(d);
	}
	if (b) {
		xenbus_bus_remove_fd(bus, b->fd);
		free(b);
	}
	if (p)
		retry_deferred(bus, p);
}
