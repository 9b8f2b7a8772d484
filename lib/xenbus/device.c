/*
 * device.c - the life of one device on its bus: found (new and in
 * Initialising), its other end discovered and checked, watched, probed
 * and attached; events merged and handed to its driver; detached and
 * forgotten when its node vanishes.  A backend device that closed with
 * its frontend, or whose probe failed, stays as a dormant record that
 * watches only the frontend's state, and is probed again when the
 * frontend comes back to Initialising (the reconnect rule).
 *
 * Watch callbacks (the handle's watch thread) only queue: an event path
 * per bus-level watch (bounded, merged on overflow), a flag for the
 * other end's state (one pending event, whatever the peer does: XSA-349).
 * Everything else here runs on the bus thread; structural changes (free,
 * dormant, reconnect) wait for xb_review(), outside any driver callback.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xenbus/bus_int.h"

#define DOMID_MAX    0x7fefu /* DOMID_FIRST_RESERVED - 1 */
#define PATH_LEN_MAX 3072u

/* ---- the device table (modified under lock, on the bus thread) ---- */

static unsigned int hash_str(const char *s)
{
	unsigned int h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % XB_HASH_SIZE;
}

struct xenbus_device *xb_dev_find(struct xenbus_bus *bus, const char *node)
{
	struct xenbus_device *d = bus->hash[hash_str(node)];

	while (d && strcmp(d->node, node))
		d = d->hnext;
	return d;
}

static void dev_link(struct xenbus_bus *bus, struct xenbus_device *dev)
{
	unsigned int b = hash_str(dev->node);

	pthread_mutex_lock(&bus->lock);
	dev->next = bus->devices;
	if (dev->next)
		dev->next->prev = dev;
	bus->devices = dev;
	dev->hnext = bus->hash[b];
	bus->hash[b] = dev;
	bus->ndevices++;
	if (bus->is_starting) {
		dev->is_connecting = true;
		bus->connecting++;
	}
	pthread_mutex_unlock(&bus->lock);
}

void xb_release_connecting(struct xenbus_device *dev)
{
	if (dev->is_connecting) {
		dev->is_connecting = false;
		dev->bus->connecting--;
		pthread_cond_broadcast(&dev->bus->cond);
	}
}

static void dev_unlink(struct xenbus_bus *bus, struct xenbus_device *dev)
{
	struct xenbus_device **pp = &bus->hash[hash_str(dev->node)];

	pthread_mutex_lock(&bus->lock);
	while (*pp != dev)
		pp = &(*pp)->hnext;
	*pp = dev->hnext;
	if (dev->prev)
		dev->prev->next = dev->next;
	else
		bus->devices = dev->next;
	if (dev->next)
		dev->next->prev = dev->prev;
	bus->ndevices--;
	xb_release_connecting(dev);
	dev->is_closing = false;
	pthread_cond_broadcast(&bus->cond);
	pthread_mutex_unlock(&bus->lock);
}

void xb_dev_set_state(struct xenbus_device *dev, enum xenbus_devstate s)
{
	pthread_mutex_lock(&dev->bus->lock);
	dev->state = s;
	if (s == XENBUS_STATE_CONNECTED || s == XENBUS_STATE_CLOSED)
		xb_release_connecting(dev);
	pthread_mutex_unlock(&dev->bus->lock);
	xb_dev_review_mark(dev);
}

void xb_dev_review_mark(struct xenbus_device *dev)
{
	if (dev->must_review)
		return;
	dev->must_review = true;
	dev->review_next = dev->bus->review;
	dev->bus->review = dev;
}

/* ---- watches ---- */

static void event_queue_free(struct xenbus_watch *w)
{
	struct xb_event *ev;

	while ((ev = w->ev_head) != NULL) {
		w->ev_head = ev->next;
		free(ev);
	}
	w->ev_tail = NULL;
	w->nev = 0;
}

static void event_push(struct xenbus_watch *w, const char *path)
{
	size_t len = strlen(path);
	struct xb_event *ev = malloc(sizeof(*ev) + len + 1);

	/* Out of memory: lost, as libxstore loses it. */
	if (!ev)
		return;
	ev->next = NULL;
	memcpy(ev->path, path, len + 1);
	if (w->ev_tail)
		w->ev_tail->next = ev;
	else
		w->ev_head = ev;
	w->ev_tail = ev;
	w->nev++;
}

static void dirty_push(struct xenbus_bus *bus, struct xenbus_watch *w)
{
	if (w->is_dirty)
		return;
	w->is_dirty = true;
	w->dirty_next = NULL;
	if (bus->dirty_tail)
		bus->dirty_tail->dirty_next = w;
	else
		bus->dirty = w;
	bus->dirty_tail = w;
}

static void dirty_remove(struct xenbus_bus *bus, struct xenbus_watch *w)
{
	struct xenbus_watch **pp = &bus->dirty, *prev = NULL;

	if (!w->is_dirty)
		return;
	while (*pp != w) {
		prev = *pp;
		pp = &(*pp)->dirty_next;
	}
	*pp = w->dirty_next;
	if (bus->dirty_tail == w)
		bus->dirty_tail = prev;
	w->is_dirty = false;
}

/* On the handle's watch thread: queue, mark, wake; nothing else. */
static void watch_cb(struct xstore *h, struct xstore_watch *xw,
                     const char *path, unsigned int flags, void *arg)
{
	struct xenbus_watch *w = arg;
	struct xenbus_bus *bus = w->bus;
	unsigned int max = bus->watch_queue_max;

	pthread_mutex_lock(&bus->lock);
	if (w->kind == XB_W_OTHEREND) {
		bus->stats.otherend_events++;
		/* Only the current other end's state node: an event for
		 * anything below it, or a late one for an old path, says
		 * nothing about the state we watch. */
		if (!(flags & XSTORE_EVENT_OVERFLOW) && strcmp(path, w->path))
			goto out;
		w->is_pending = true;
	} else if (w->is_collapsed) {
		/* Absorbed: the merged event comes after this change. */
	} else if ((flags & XSTORE_EVENT_OVERFLOW) || w->nev >= max) {
		event_queue_free(w);
		event_push(w, w->path);
		w->is_collapsed = true;
	} else {
		event_push(w, path);
		if (w->nev > bus->stats.watch_queue_hwm)
			bus->stats.watch_queue_hwm = w->nev;
	}
	dirty_push(bus, w);
out:
	pthread_mutex_unlock(&bus->lock);
	xb_wake(bus);
}

int xb_watch_new(struct xenbus_device *dev, const char *path,
                 enum xb_watch_kind kind, xenbus_watch_fn *fn, void *arg,
                 struct xenbus_watch **out)
{
	struct xenbus_watch *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->bus = dev->bus;
	w->dev = dev;
	w->kind = kind;
	w->fn = fn;
	w->arg = arg;
	w->path = strdup(path);
	if (!w->path) {
		free(w);
		return -ENOMEM;
	}
	err = xstore_watch_add(dev->bus->h, path, -1, watch_cb, w, &w->xw);
	if (err) {
		free(w->path);
		free(w);
		return err;
	}
	/* The peer can fire its state at will: one pending event is all
	 * it may cost us, in the library as in the bus. */
	xstore_watch_set_queue_max(
	    w->xw, kind == XB_W_OTHEREND ? 1 : dev->bus->watch_queue_max);
	*out = w;
	return 0;
}

static void watch_destroy(struct xenbus_watch *w)
{
	event_queue_free(w);
	free(w->path);
	free(w);
}

void xb_watch_free(struct xenbus_watch *w)
{
	struct xenbus_bus *bus = w->bus;
	bool is_running;

	/* Waits out a running watch_cb: none comes after it. */
	xstore_watch_remove(bus->h, w->xw);
	pthread_mutex_lock(&bus->lock);
	dirty_remove(bus, w);
	event_queue_free(w);
	is_running = bus->dispatching == w;
	if (is_running)
		w->must_free = true;
	pthread_mutex_unlock(&bus->lock);
	if (!is_running)
		watch_destroy(w);
}

/* ---- other end ---- */

/* Absolute, no empty, "." or ".." component, Xen's node characters. */
static bool is_sane_path(const char *p)
{
	size_t len = strlen(p), clen = 0;

	if (p[0] != '/' || len < 2 || len > PATH_LEN_MAX)
		return false;
	for (const char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			if (clen == 0)
				return false;
			if ((clen == 1 && s[-1] == '.') ||
			    (clen == 2 && s[-1] == '.' && s[-2] == '.'))
				return false;
			if (*s == '\0')
				return true;
			clen = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
		      *s == '@' || *s == '.'))
			return false;
		clen++;
	}
}

static int read_child(struct xstore *h, const char *node, const char *name,
                      char **out)
{
	char *p = xstore_join(node, name);
	int err;

	if (!p)
		return -ENOMEM;
	err = xstore_read(h, XSTORE_TXN_NONE, p, out, NULL);
	free(p);
	return err;
}

/*
 * Read and check the other end: a frontend's `backend` must lie in
 * /local/domain/<backend-id>/backend/, a backend's `frontend` in
 * /local/domain/<frontend-id>/ with frontend-id the domid of our own
 * path; the node must exist.  A guest wrote these: nothing is followed
 * before it passed.  On error, *what says which check failed.
 */
static int find_otherend(struct xenbus_device *dev, const char **what)
{
	struct xenbus_bus *bus = dev->bus;
	bool is_fe = bus->kind == XENBUS_FRONTEND;
	char *idstr = NULL, *path = NULL, prefix[64];
	unsigned int id;
	int err;

	*what = is_fe ? "reading backend-id" : "reading frontend-id";
	err = read_child(bus->h, dev->node,
	                 is_fe ? "backend-id" : "frontend-id", &idstr);
	if (err)
		goto out;
	*what = is_fe ? "bad backend-id" : "bad frontend-id";
	err = xb_parse_uint(idstr, DOMID_MAX, &id);
	if (err)
		goto out;
	if (!is_fe && id != dev->fe_domid) {
		*what = "frontend-id is not the domain of the backend path";
		err = -EINVAL;
		goto out;
	}
	*what = is_fe ? "reading backend" : "reading frontend";
	err = read_child(bus->h, dev->node, is_fe ? "backend" : "frontend",
	                 &path);
	if (err)
		goto out;
	if (is_fe)
		snprintf(prefix, sizeof(prefix), "/local/domain/%u/backend/",
		         id);
	else
		snprintf(prefix, sizeof(prefix), "/local/domain/%u/", id);
	*what = is_fe ? "backend path refused" : "frontend path refused";
	err = -EINVAL;
	if (!is_sane_path(path) || strncmp(path, prefix, strlen(prefix)) ||
	    strlen(path) == strlen(prefix))
		goto out;
	*what = is_fe ? "backend missing" : "frontend missing";
	err = xstore_exists(bus->h, XSTORE_TXN_NONE, path);
	if (err == 0)
		err = -ENOENT;
	if (err < 0)
		goto out;
	pthread_mutex_lock(&bus->lock);
	free(dev->otherend);
	dev->otherend = path;
	dev->otherend_id = id;
	pthread_mutex_unlock(&bus->lock);
	path = NULL;
	err = 0;
out:
	free(idstr);
	free(path);
	return err;
}

static int watch_otherend(struct xenbus_device *dev)
{
	char *p = xstore_join(dev->otherend, "state");
	int err;

	if (!p)
		return -ENOMEM;
	err = xb_watch_new(dev, p, XB_W_OTHEREND, NULL, NULL, &dev->ow);
	free(p);
	return err;
}

/* ---- removal ---- */

/* What the driver holds goes: its detach, its watches, its rings. */
static void dev_deactivate(struct xenbus_device *dev, bool is_detach)
{
	struct xenbus_watch *w;

	if (dev->phase == XB_ACTIVE && is_detach && dev->drv->drv->detach)
		dev->drv->drv->detach(dev, dev->drv->arg);
	while ((w = dev->user_watches) != NULL) {
		dev->user_watches = w->next;
		xb_watch_free(w);
	}
	if (dev->lw) {
		xb_watch_free(dev->lw);
		dev->lw = NULL;
	}
	if (dev->is_held)
		xb_ring_dev_gone(dev);
	dev->is_held = false;
}

void xb_dev_free(struct xenbus_device *dev, bool is_detach)
{
	struct xenbus_bus *bus = dev->bus;
	struct xenbus_device **pp;

	/* Out of sight first: no foreach shows a device being detached. */
	dev_unlink(bus, dev);
	if (dev->phase != XB_DORMANT)
		dev_deactivate(dev, is_detach);
	if (dev->ow)
		xb_watch_free(dev->ow);
	if (dev->must_review) {
		for (pp = &bus->review; *pp != dev; pp = &(*pp)->review_next)
			;
		*pp = dev->review_next;
	}
	free(dev->otherend);
	free(dev->type);
	free(dev->node);
	free(dev);
}

/* A backend that its driver closed (or refused): keep watching the
 * frontend's state for the reconnect rule, nothing else. */
static void dev_go_dormant(struct xenbus_device *dev, bool is_detach)
{
	dev_deactivate(dev, is_detach);
	pthread_mutex_lock(&dev->bus->lock);
	dev->phase = XB_DORMANT;
	dev->priv = NULL;
	xb_release_connecting(dev);
	pthread_mutex_unlock(&dev->bus->lock);
	dev->has_seen_closed = dev->otherend_state == XENBUS_STATE_CLOSED;
}

/* ---- adding ---- */

static const struct xb_driver *driver_find(struct xenbus_bus *bus,
                                           const char *type)
{
	for (unsigned int i = 0; i < bus->ndrivers; i++)
		if (!strcmp(bus->drivers[i].drv->type, type))
			return &bus->drivers[i];
	return NULL;
}

/* Refused before its driver saw it: Closed, an error node, forgotten. */
static void dev_refuse(struct xenbus_device *dev, int err, const char *what)
{
	xenbus_dev_error(dev, err, "%s", what);
	xb_switch_state(dev, XENBUS_STATE_CLOSED, false);
	xb_dev_free(dev, false);
}

int xb_dev_add(struct xenbus_bus *bus, const char *type, unsigned int fe,
               unsigned int id)
{
	const struct xb_driver *drv = driver_find(bus, type);
	struct xenbus_device *dev;
	const char *what;
	char *node;
	int err, n;

	if (!drv || bus->is_shutting_down || bus->is_stopping)
		return 0;
	if (bus->kind == XENBUS_BACKEND)
		n = asprintf(&node, "%s/%s/%u/%u", bus->root, type, fe, id);
	else
		n = asprintf(&node, "%s/%s/%u", bus->root, type, id);
	if (n < 0)
		return -ENOMEM;
	/* Known, or not new: left alone (a device going away after
	 * Closed, one being set up by hand...). */
	if (xb_dev_find(bus, node) || xenbus_read_driver_state(bus->h, node) !=
	                                  XENBUS_STATE_INITIALISING) {
		free(node);
		return 0;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev || !(dev->type = strdup(type))) {
		free(dev);
		free(node);
		return -ENOMEM;
	}
	dev->bus = bus;
	dev->drv = drv;
	dev->node = node;
	dev->node_len = strlen(node);
	dev->id = id;
	dev->fe_domid = fe;
	dev->phase = XB_PROBING;
	dev->state = XENBUS_STATE_INITIALISING;
	dev->otherend_state = XENBUS_STATE_UNKNOWN;
	dev_link(bus, dev);

	err = find_otherend(dev, &what);
	if (err) {
		dev_refuse(dev, err, what);
		return 0;
	}
	/* Watches before probe: nothing the other end does meanwhile is
	 * missed; their events wait until attach has returned. */
	err = watch_otherend(dev);
	if (err) {
		dev_refuse(dev, err, "watching the other end");
		return 0;
	}
	err = xb_watch_new(dev, dev->node, XB_W_LOCAL, NULL, NULL, &dev->lw);
	if (err) {
		dev_refuse(dev, err, "watching the device node");
		return 0;
	}
	what = "probe";
	dev->is_held = true;
	err = drv->drv->probe ? drv->drv->probe(dev, drv->arg) : 0;
	if (!err) {
		pthread_mutex_lock(&bus->lock);
		dev->phase = XB_ACTIVE;
		pthread_mutex_unlock(&bus->lock);
		what = "attach";
		err = drv->drv->attach ? drv->drv->attach(dev, drv->arg) : 0;
	}
	if (err) {
		xenbus_dev_error(dev, err, "%s failed", what);
		xb_switch_state(dev, XENBUS_STATE_CLOSED, false);
		/* An attach that failed still had a probe to undo. */
		if (bus->kind == XENBUS_BACKEND)
			dev_go_dormant(dev, true);
		else
			xb_dev_free(dev, true);
	}
	return 0;
}

/* ---- handling events (bus thread) ---- */

static void handle_otherend(struct xenbus_watch *w)
{
	struct xenbus_device *dev = w->dev;
	struct xenbus_bus *bus = dev->bus;
	const struct xenbus_driver *drv = dev->drv->drv;
	enum xenbus_devstate s = XENBUS_STATE_UNKNOWN;
	char *v = NULL;
	unsigned int u;

	/* w->path, not dev->otherend: the newest state of what we watch. */
	if (!xstore_read(bus->h, XSTORE_TXN_NONE, w->path, &v, NULL) &&
	    !xb_parse_uint(v, XENBUS_STATE_RECONFIGURED, &u))
		s = (enum xenbus_devstate)u;
	free(v);
	pthread_mutex_lock(&bus->lock);
	dev->otherend_state = s;
	if (dev->phase == XB_ACTIVE && drv->otherend_changed)
		bus->stats.otherend_delivered++;
	pthread_cond_broadcast(&bus->cond);
	pthread_mutex_unlock(&bus->lock);
	if (dev->phase == XB_ACTIVE) {
		if (drv->otherend_changed)
			drv->otherend_changed(dev, s, dev->drv->arg);
	} else if (dev->phase == XB_DORMANT) {
		if (s == XENBUS_STATE_CLOSED)
			dev->has_seen_closed = true;
		else if (s == XENBUS_STATE_INITIALISING && dev->has_seen_closed)
			dev->must_reconnect = true;
	}
	xb_dev_review_mark(dev);
}

static void handle_local(struct xenbus_watch *w, const char *path)
{
	struct xenbus_device *dev = w->dev;
	const struct xenbus_driver *drv = dev->drv->drv;
	const char *sub;

	if (strncmp(path, dev->node, dev->node_len))
		return;
	sub = path + dev->node_len;
	if (*sub == '/')
		sub++;
	else if (*sub)
		return; /* a sibling sharing our prefix */
	if (!*sub) {
		/* The node itself: maybe removed (with everything below). */
		if (xstore_exists(dev->bus->h, XSTORE_TXN_NONE, dev->node) ==
		    0) {
			dev->must_verify = true;
			xb_dev_review_mark(dev);
			return;
		}
	} else if (!strcmp(sub, "state")) {
		/* Someone else (the toolstack) may move our state too. */
		xb_dev_set_state(
		    dev, xenbus_read_driver_state(dev->bus->h, dev->node));
	}
	if (dev->phase == XB_ACTIVE && drv->localend_changed)
		drv->localend_changed(dev, sub, dev->drv->arg);
}

void xb_dispatch(struct xenbus_bus *bus)
{
	struct xenbus_watch *w;
	struct xb_event *ev;
	bool must_free;

	for (;;) {
		pthread_mutex_lock(&bus->lock);
		w = bus->dirty;
		if (!w || bus->is_suspended || bus->is_stopping) {
			pthread_mutex_unlock(&bus->lock);
			return;
		}
		bus->dirty = w->dirty_next;
		if (!bus->dirty)
			bus->dirty_tail = NULL;
		w->is_dirty = false;
		ev = NULL;
		if (w->kind == XB_W_OTHEREND) {
			w->is_pending = false;
		} else if ((ev = w->ev_head) != NULL) {
			w->ev_head = ev->next;
			if (!w->ev_head)
				w->ev_tail = NULL;
			w->nev--;
			w->is_collapsed = false;
			/* One event per turn: other watches are not starved. */
			if (w->ev_head)
				dirty_push(bus, w);
		}
		bus->dispatching = w;
		pthread_mutex_unlock(&bus->lock);

		if (w->kind == XB_W_OTHEREND)
			handle_otherend(w);
		else if (ev && w->kind == XB_W_LOCAL)
			handle_local(w, ev->path);
		else if (ev)
			w->fn(w->dev, ev->path, w->arg);
		free(ev);

		pthread_mutex_lock(&bus->lock);
		bus->dispatching = NULL;
		must_free = w->must_free;
		pthread_mutex_unlock(&bus->lock);
		if (must_free)
			watch_destroy(w);
		xb_review(bus);
	}
}

/* ---- review: what waited for the callbacks to return ---- */

static void reconnect(struct xenbus_device *dev)
{
	struct xenbus_bus *bus = dev->bus;
	unsigned int fe = dev->fe_domid, id = dev->id;
	char *type;
	int r;

	r = xstore_exists(bus->h, XSTORE_TXN_NONE, dev->node);
	if (r == 0) {
		xb_dev_free(dev, false);
		return;
	}
	if (r < 0 || !xenbus_backend_is_online(dev))
		return;
	type = strdup(dev->type);
	if (!type)
		return;
	/* Fresh as a new device: Initialising, then probed from scratch. */
	r = xb_switch_state(dev, XENBUS_STATE_INITIALISING, false);
	xb_dev_free(dev, false);
	if (!r)
		xb_dev_add(bus, type, fe, id);
	free(type);
}

static void review_one(struct xenbus_device *dev)
{
	struct xenbus_bus *bus = dev->bus;

	if (dev->must_verify) {
		dev->must_verify = false;
		if (xstore_exists(bus->h, XSTORE_TXN_NONE, dev->node) == 0) {
			xb_dev_free(dev, true);
			return;
		}
	}
	if (dev->phase == XB_ACTIVE && bus->kind == XENBUS_BACKEND &&
	    dev->state == XENBUS_STATE_CLOSED &&
	    dev->otherend_state == XENBUS_STATE_CLOSED &&
	    !bus->is_shutting_down) {
		/* Both ends closed: the driver lets go.  An offline backend
		 * is being torn down: nothing to wait for. */
		if (!xenbus_backend_is_online(dev)) {
			xb_dev_free(dev, true);
			return;
		}
		dev_go_dormant(dev, true);
	}
	if (dev->phase == XB_DORMANT && dev->must_reconnect) {
		dev->must_reconnect = false;
		reconnect(dev);
	}
}

void xb_review(struct xenbus_bus *bus)
{
	struct xenbus_device *dev;

	while ((dev = bus->review) != NULL) {
		bus->review = dev->review_next;
		dev->review_next = NULL;
		dev->must_review = false;
		review_one(dev);
	}
}

/* ---- resume ---- */

void xb_dev_resume(struct xenbus_device *dev)
{
	const struct xenbus_driver *drv = dev->drv->drv;
	const char *what;
	int err;

	if (dev->ow) {
		xb_watch_free(dev->ow);
		dev->ow = NULL;
	}
	if (dev->phase == XB_ACTIVE) {
		err = xb_switch_state(dev, XENBUS_STATE_INITIALISING, true);
		if (err == -ENOENT) {
			dev->must_verify = true;
			xb_dev_review_mark(dev);
			return;
		}
	}
	/* The other end may have moved (a new host, a new backend). */
	err = find_otherend(dev, &what);
	if (err) {
		if (dev->phase == XB_ACTIVE)
			xenbus_dev_fatal(dev, err, "after resume: %s", what);
		else
			xenbus_dev_error(dev, err, "after resume: %s", what);
		return;
	}
	if (dev->phase == XB_ACTIVE && drv->resume) {
		err = drv->resume(dev, dev->drv->arg);
		if (err)
			xenbus_dev_error(dev, err, "resume failed");
	}
	err = watch_otherend(dev);
	if (err)
		xenbus_dev_fatal(dev, err, "watching the other end");
}
