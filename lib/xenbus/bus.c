/*
 * bus.c - a XenBus bus: its thread, its work queues and the public bus
 * calls (start, settle, shutdown, suspend/resume, free, fds, foreach).
 *
 * The bus thread sleeps in epoll on an eventfd (woken by the watch
 * callbacks and by callers) and on the drivers' fds.  Each turn it runs
 * the calls that other threads posted (every bus call that touches
 * devices runs there, so devices have one thread), then the hot-plug
 * paths the root watch queued, then the device watches' events
 * (device.c), then the reviews those left.  A caller's thread only waits:
 * for its call, for settle, for a shutdown handshake.
 *
 * Hot-plug: the root watch trims each event path to the bus depth (type,
 * [frontend domid,] id) and queues it, deduplicated and bounded
 * (XB_ROOT_QUEUE_MAX; past it, or on a library overflow, the bus
 * rescans everything).  A path above device depth (rm of backend/vbd/5,
 * of device/) rescans that subtree: every known device below it is
 * checked and those gone removed, every new one added.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/xenbus/bus_int.h"

struct xb_call {
	struct xb_call *next;
	int (*fn)(struct xenbus_bus *bus, void *arg);
	void *arg;
	int err;
	bool is_done;
};

struct xb_fd {
	struct xb_fd *next;
	int fd;
	xenbus_fd_fn *fn;
	void *arg;
};

struct xb_rootev {
	struct xb_rootev *next;
	bool is_below; /* only events deeper than the device node */
	char rel[];    /* relative to bus->root, trimmed to device depth */
};

void xb_report(const char *node, int err, const char *what)
{
	fprintf(stderr, "xenbus: %s: %s: %s\n", node, what,
	        strerror(err < 0 ? -err : err));
}

void xb_wake(struct xenbus_bus *bus)
{
	uint64_t one = 1;

	/* A full counter means a wakeup is pending already. */
	if (write(bus->wakefd, &one, sizeof(one)) < 0)
		return;
}

bool xb_is_bus_thread(struct xenbus_bus *bus)
{
	bool is_it;

	pthread_mutex_lock(&bus->lock);
	is_it = bus->has_thread && pthread_equal(bus->thread, pthread_self());
	pthread_mutex_unlock(&bus->lock);
	return is_it;
}

void xb_stats_get(struct xenbus_bus *bus, struct xb_stats *out)
{
	pthread_mutex_lock(&bus->lock);
	*out = bus->stats;
	pthread_mutex_unlock(&bus->lock);
}

/* ---- calls run on the bus thread ---- */

static int bus_call(struct xenbus_bus *bus,
                    int (*fn)(struct xenbus_bus *, void *), void *arg)
{
	struct xb_call c = {.fn = fn, .arg = arg};

	/* The call lives on our stack: we wait below until the bus thread
	 * marked it done and unlinked it, so it never outlives this frame. */
	pthread_mutex_lock(&bus->lock);
	if (bus->calls_tail)
		bus->calls_tail->next = &c;
	else
		bus->calls = &c; // cppcheck-suppress autoVariables
	bus->calls_tail = &c;    // cppcheck-suppress autoVariables
	pthread_mutex_unlock(&bus->lock);
	xb_wake(bus);
	pthread_mutex_lock(&bus->lock);
	while (!c.is_done)
		pthread_cond_wait(&bus->cond, &bus->lock);
	pthread_mutex_unlock(&bus->lock);
	return c.err;
}

static void run_calls(struct xenbus_bus *bus)
{
	struct xb_call *c;
	int err;

	for (;;) {
		pthread_mutex_lock(&bus->lock);
		c = bus->calls;
		if (c) {
			bus->calls = c->next;
			if (!bus->calls)
				bus->calls_tail = NULL;
		}
		pthread_mutex_unlock(&bus->lock);
		if (!c)
			return;
		err = c->fn(bus, c->arg);
		xb_review(bus);
		pthread_mutex_lock(&bus->lock);
		c->err = err;
		c->is_done = true;
		pthread_cond_broadcast(&bus->cond);
		pthread_mutex_unlock(&bus->lock);
	}
}

/* The devices now, for a walk that may free some of them. */
static struct xenbus_device **snapshot(struct xenbus_bus *bus, unsigned int *n)
{
	struct xenbus_device **v, *d;
	unsigned int i = 0;

	pthread_mutex_lock(&bus->lock);
	v = calloc(bus->ndevices + 1, sizeof(*v));
	for (d = bus->devices; v && d; d = d->next)
		v[i++] = d;
	pthread_mutex_unlock(&bus->lock);
	*n = i;
	return v;
}

/* ---- hot-plug ---- */

static void rootq_free(struct xenbus_bus *bus)
{
	struct xb_rootev *e;

	while ((e = bus->rootq) != NULL) {
		bus->rootq = e->next;
		free(e);
	}
	bus->nrootq = 0;
}

static void rootq_add(struct xenbus_bus *bus, const char *rel, size_t len,
                      bool is_below)
{
	struct xb_rootev *e, **pp;

	for (pp = &bus->rootq; *pp; pp = &(*pp)->next) {
		e = *pp;
		if (strlen(e->rel) == len && !memcmp(e->rel, rel, len)) {
			e->is_below = e->is_below && is_below;
			return;
		}
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e || bus->nrootq >= XB_ROOT_QUEUE_MAX) {
		free(e);
		rootq_free(bus);
		bus->must_rescan = true;
		return;
	}
	e->next = NULL;
	e->is_below = is_below;
	memcpy(e->rel, rel, len);
	e->rel[len] = '\0';
	*pp = e;
	if (++bus->nrootq > bus->stats.root_queue_hwm)
		bus->stats.root_queue_hwm = bus->nrootq;
}

/* On the handle's watch thread. */
static void root_cb(struct xstore *h, struct xstore_watch *xw, const char *path,
                    unsigned int flags, void *arg)
{
	struct xenbus_bus *bus = arg;
	const char *rel, *s;
	unsigned int depth = 1;

	pthread_mutex_lock(&bus->lock);
	if ((flags & XSTORE_EVENT_OVERFLOW) || !strcmp(path, bus->root)) {
		rootq_free(bus);
		bus->must_rescan = true;
	} else if (!strncmp(path, bus->root, bus->root_len) &&
	           path[bus->root_len] == '/' && !bus->must_rescan) {
		/* Cut at the device node: the seed kept a trailing '/'
		 * for events below it, which named no device. */
		rel = path + bus->root_len + 1;
		for (s = rel; *s && !(*s == '/' && depth == bus->ncomp + 1);
		     s++)
			depth += *s == '/';
		rootq_add(bus, rel, (size_t)(s - rel), *s == '/');
	}
	pthread_mutex_unlock(&bus->lock);
	xb_wake(bus);
}

/* "type[/fe]/id" into its parts; -EINVAL for anything else. */
static int parse_device(struct xenbus_bus *bus, const char *rel, char **type,
                        unsigned int *fe, unsigned int *id)
{
	char *copy = strdup(rel), *save = NULL, *t, *a, *b;
	int err = -EINVAL;

	if (!copy)
		return -ENOMEM;
	t = strtok_r(copy, "/", &save);
	a = strtok_r(NULL, "/", &save);
	b = strtok_r(NULL, "/", &save);
	*fe = 0;
	if (!t || !a)
		goto out;
	if (bus->ncomp == 2) {
		if (!b || xb_parse_uint(a, 0x7fefu, fe))
			goto out;
		a = b;
	} else if (b) {
		goto out;
	}
	if (xb_parse_uint(a, 0xffffffffu, id))
		goto out;
	*type = strdup(t);
	err = *type ? 0 : -ENOMEM;
out:
	free(copy);
	return err;
}

static char *root_join(struct xenbus_bus *bus, const char *rel)
{
	return xstore_join(bus->root, *rel ? rel : NULL);
}

static unsigned int depth_of(const char *rel)
{
	unsigned int n = *rel ? 1 : 0;

	for (; *rel; rel++)
		n += *rel == '/';
	return n;
}

static void add_path(struct xenbus_bus *bus, const char *rel)
{
	unsigned int fe, id;
	char *type;

	if (parse_device(bus, rel, &type, &fe, &id))
		return; /* not a device: a stray node */
	xb_dev_add(bus, type, fe, id);
	free(type);
}

/* New devices below `rel` (depth bounded by the bus: at most 3). */
static void enumerate(struct xenbus_bus *bus, const char *rel)
{
	char **names, *dir, *sub;
	unsigned int n;

	if (depth_of(rel) == bus->ncomp + 1) {
		add_path(bus, rel);
		return;
	}
	dir = root_join(bus, rel);
	if (!dir)
		return;
	if (xstore_directory(bus->h, XSTORE_TXN_NONE, dir, &names, &n)) {
		free(dir);
		return;
	}
	free(dir);
	for (unsigned int i = 0; i < n; i++) {
		sub = *rel ? xstore_join(rel, names[i]) : strdup(names[i]);
		if (sub)
			enumerate(bus, sub);
		free(sub);
	}
	free(names);
}

/* Every known device at or below `rel` that is gone is removed. */
static void verify_below(struct xenbus_bus *bus, const char *rel)
{
	struct xenbus_device **v;
	char *prefix = root_join(bus, rel);
	size_t plen;
	unsigned int n;

	if (!prefix)
		return;
	plen = strlen(prefix);
	v = snapshot(bus, &n);
	for (unsigned int i = 0; v && i < n; i++) {
		if (strncmp(v[i]->node, prefix, plen) ||
		    (v[i]->node[plen] != '/' && v[i]->node[plen] != '\0'))
			continue;
		if (xstore_exists(bus->h, XSTORE_TXN_NONE, v[i]->node) == 0)
			xb_dev_free(v[i], true);
	}
	free(v);
	free(prefix);
}

static void scan(struct xenbus_bus *bus, const char *rel)
{
	verify_below(bus, rel);
	enumerate(bus, rel);
}

static void process_root(struct xenbus_bus *bus)
{
	struct xb_rootev *q, *e;
	struct xenbus_device *dev;
	bool must_rescan;
	char *node;

	pthread_mutex_lock(&bus->lock);
	if (bus->is_suspended || bus->is_stopping) {
		pthread_mutex_unlock(&bus->lock);
		return;
	}
	q = bus->rootq;
	must_rescan = bus->must_rescan;
	bus->rootq = NULL;
	bus->nrootq = 0;
	bus->must_rescan = false;
	pthread_mutex_unlock(&bus->lock);

	if (must_rescan)
		scan(bus, "");
	while ((e = q) != NULL) {
		q = e->next;
		if (must_rescan) {
			/* covered */
		} else if (depth_of(e->rel) <= bus->ncomp) {
			scan(bus, e->rel);
		} else if ((node = root_join(bus, e->rel)) != NULL) {
			dev = xb_dev_find(bus, node);
			if (!dev)
				add_path(bus, e->rel);
			else if (!e->is_below &&
			         xstore_exists(bus->h, XSTORE_TXN_NONE, node) ==
			             0)
				xb_dev_free(dev, true);
			free(node);
		}
		free(e);
		xb_review(bus);
	}
}

/* ---- the thread ---- */

static int suspend_call(struct xenbus_bus *bus, void *arg);
static int resume_call(struct xenbus_bus *bus, void *arg);

static void run_fd(struct xenbus_bus *bus, int fd)
{
	struct xb_fd *e;
	xenbus_fd_fn *fn = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&bus->lock);
	for (e = bus->fds; e && e->fd != fd; e = e->next)
		;
	/* Removed since epoll reported it: not called. */
	if (e) {
		fn = e->fn;
		arg = e->arg;
		bus->running_fd = fd;
	}
	pthread_mutex_unlock(&bus->lock);
	if (!fn)
		return;
	fn(fd, arg);
	pthread_mutex_lock(&bus->lock);
	bus->running_fd = -1;
	pthread_cond_broadcast(&bus->cond);
	pthread_mutex_unlock(&bus->lock);
	xb_review(bus);
}

/*
 * follow_platform: our own domain's state, as the platform reports it.
 * Suspended: drivers first (they may still need the store), then the
 * handle.  Running again: the handle first, then the devices.
 */
static void follow_platform(struct xenbus_bus *bus)
{
	enum plat_dom_state st;
	struct plat *p;
	int err;

	if (xb_bus_plat(bus, &p))
		return;
	xb_plat_lock(bus);
	plat_domain_exc_ack(p, NULL);
	err = plat_domain_state(p, bus->domid, &st);
	xb_plat_unlock(bus);
	if (err)
		return;
	if (st == PLAT_DOM_SUSPENDED && !bus->plat_was_suspended) {
		suspend_call(bus, NULL);
		err = xstore_suspend(bus->h);
		if (err && err != -EBUSY)
			xb_report(bus->root, err,
			          "suspending the store handle");
		bus->plat_was_suspended = true;
	} else if (st == PLAT_DOM_RUNNING && bus->plat_was_suspended) {
		err = xstore_resume(bus->h);
		if (err && err != -EINVAL) {
			/* Still suspended: the next state change retries. */
			xb_report(bus->root, err, "resuming the store handle");
			return;
		}
		bus->plat_was_suspended = false;
		resume_call(bus, NULL);
	}
}

static void *bus_main(void *arg)
{
	struct xenbus_bus *bus = arg;
	struct epoll_event evs[16];
	uint64_t v;
	bool is_stopping;
	int n;

	for (;;) {
		n = epoll_wait(bus->epfd, evs, 16, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == bus->wakefd) {
				if (read(fd, &v, sizeof(v)) < 0)
					continue;
			} else if (fd == bus->plat_exc_fd) {
				follow_platform(bus);
			} else {
				run_fd(bus, fd);
			}
		}
		run_calls(bus);
		pthread_mutex_lock(&bus->lock);
		is_stopping = bus->is_stopping;
		pthread_mutex_unlock(&bus->lock);
		if (is_stopping)
			break;
		process_root(bus);
		xb_dispatch(bus);
		xb_review(bus);
	}
	return NULL;
}

/* ---- public ---- */

static int resolve_domid(struct xstore *h, unsigned int *out)
{
	char *v = NULL;
	int err;

	err = xstore_read(h, XSTORE_TXN_NONE, "domid", &v, NULL);
	if (!err) {
		err = xb_parse_uint(v, 0x7fefu, out);
		free(v);
		return err;
	}
	/* A socket is dom0's, whose home has no domid node. */
	if (!strcmp(xstore_transport(h), "unix")) {
		*out = 0;
		return 0;
	}
	return err;
}

int xenbus_bus_new(struct xstore *h, const struct xenbus_bus_opts *opts,
                   struct xenbus_bus **out)
{
	struct xenbus_bus *bus;
	struct epoll_event ev = {.events = EPOLLIN};
	pthread_condattr_t ca;
	int err;

	if (!h || !opts || !out ||
	    (opts->kind != XENBUS_FRONTEND && opts->kind != XENBUS_BACKEND) ||
	    opts->domid < -1 || opts->domid > 0x7fef)
		return -EINVAL;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->h = h;
	bus->kind = opts->kind;
	bus->ncomp = opts->kind == XENBUS_BACKEND ? 2 : 1;
	bus->follow_platform = opts->follow_platform;
	bus->watch_queue_max =
	    opts->watch_queue_max ? opts->watch_queue_max : XB_WATCH_QUEUE_MAX;
	bus->epfd = bus->wakefd = bus->plat_exc_fd = bus->running_fd = -1;
	pthread_mutex_init(&bus->lock, NULL);
	pthread_mutex_init(&bus->plat_open_lock, NULL);
	pthread_mutex_init(&bus->plat_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bus->cond, &ca);
	pthread_condattr_destroy(&ca);

	if (opts->domid >= 0)
		bus->domid = (unsigned int)opts->domid;
	else if ((err = resolve_domid(h, &bus->domid)) != 0)
		goto fail;
	err = -ENOMEM;
	if (asprintf(&bus->home, "/local/domain/%u", bus->domid) < 0) {
		bus->home = NULL;
		goto fail;
	}
	bus->root = xstore_join(
	    bus->home, opts->kind == XENBUS_BACKEND ? "backend" : "device");
	if (!bus->root)
		goto fail;
	bus->root_len = strlen(bus->root);
	if (opts->platform && !(bus->platform = strdup(opts->platform)))
		goto fail;
	bus->epfd = epoll_create1(EPOLL_CLOEXEC);
	bus->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ev.data.fd = bus->wakefd;
	if (bus->epfd < 0 || bus->wakefd < 0 ||
	    epoll_ctl(bus->epfd, EPOLL_CTL_ADD, bus->wakefd, &ev)) {
		err = -errno;
		goto fail;
	}
	*out = bus;
	return 0;
fail:
	xenbus_bus_free(bus);
	return err;
}

int xenbus_register(struct xenbus_bus *bus, const struct xenbus_driver *drv,
                    void *arg)
{
	struct xb_driver *v;

	if (!bus || !drv || !drv->type || !*drv->type || strchr(drv->type, '/'))
		return -EINVAL;
	if (bus->has_thread)
		return -EBUSY;
	for (unsigned int i = 0; i < bus->ndrivers; i++)
		if (!strcmp(bus->drivers[i].drv->type, drv->type))
			return -EEXIST;
	v = realloc(bus->drivers, (bus->ndrivers + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[bus->ndrivers].drv = drv;
	v[bus->ndrivers].arg = arg;
	bus->drivers = v;
	bus->ndrivers++;
	return 0;
}

static int start_call(struct xenbus_bus *bus, void *arg)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct plat *p;
	int err;

	if (bus->follow_platform) {
		err = xb_bus_plat(bus, &p);
		if (!err) {
			xb_plat_lock(bus);
			err = plat_domain_exc_fd(p);
			xb_plat_unlock(bus);
		}
		if (err < 0)
			return err;
		bus->plat_exc_fd = err;
		ev.data.fd = err;
		if (epoll_ctl(bus->epfd, EPOLL_CTL_ADD, err, &ev))
			return -errno;
	}
	/* Watch first: nothing added during the enumeration is missed. */
	err = xstore_watch_add(bus->h, bus->root, -1, root_cb, bus,
	                       &bus->root_watch);
	if (err)
		return err;
	pthread_mutex_lock(&bus->lock);
	bus->is_starting = true;
	pthread_mutex_unlock(&bus->lock);
	scan(bus, "");
	pthread_mutex_lock(&bus->lock);
	bus->is_starting = false;
	pthread_mutex_unlock(&bus->lock);
	return 0;
}

int xenbus_bus_start(struct xenbus_bus *bus)
{
	int err;

	if (!bus)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	if (bus->has_thread) {
		pthread_mutex_unlock(&bus->lock);
		return -EBUSY;
	}
	err = -pthread_create(&bus->thread, NULL, bus_main, bus);
	bus->has_thread = !err;
	pthread_mutex_unlock(&bus->lock);
	if (err)
		return err;
	return bus_call(bus, start_call, NULL);
}

/* "node state (other end state)" for each device `is_stuck` names. */
static char *stuck_text(struct xenbus_bus *bus,
                        bool (*is_stuck)(const struct xenbus_device *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (struct xenbus_device *d = bus->devices; d; d = d->next)
		if (is_stuck(d))
			fprintf(f, "%s %s (other end %s)\n", d->node,
			        xenbus_strstate((int)d->state),
			        xenbus_strstate((int)d->otherend_state));
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void deadline_of(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool is_connecting(const struct xenbus_device *d)
{
	return d->is_connecting;
}

int xenbus_bus_settle(struct xenbus_bus *bus, unsigned int timeout_ms,
                      char **stuck)
{
	struct timespec ts;
	int err = 0;

	if (!bus)
		return -EINVAL;
	if (xb_is_bus_thread(bus))
		return -EDEADLK;
	deadline_of(&ts, timeout_ms);
	pthread_mutex_lock(&bus->lock);
	while (bus->connecting > 0 && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&bus->cond, &bus->lock, &ts);
	err = 0;
	if (bus->connecting > 0) {
		err = -ETIMEDOUT;
		if (stuck)
			*stuck = stuck_text(bus, is_connecting);
	}
	pthread_mutex_unlock(&bus->lock);
	return err;
}

static bool is_closing_stuck(const struct xenbus_device *d)
{
	return d->is_closing && d->otherend_state != XENBUS_STATE_CLOSING &&
	       d->otherend_state != XENBUS_STATE_CLOSED &&
	       d->otherend_state != XENBUS_STATE_UNKNOWN;
}

static int shutdown_begin(struct xenbus_bus *bus, void *arg)
{
	struct xenbus_device **v;
	unsigned int n;

	pthread_mutex_lock(&bus->lock);
	bus->is_shutting_down = true;
	pthread_mutex_unlock(&bus->lock);
	v = snapshot(bus, &n);
	if (!v)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		if (v[i]->phase != XB_ACTIVE ||
		    v[i]->state != XENBUS_STATE_CONNECTED)
			continue;
		if (xb_switch_state(v[i], XENBUS_STATE_CLOSING, true))
			continue;
		pthread_mutex_lock(&bus->lock);
		v[i]->is_closing = true;
		pthread_mutex_unlock(&bus->lock);
	}
	free(v);
	return 0;
}

static int shutdown_end(struct xenbus_bus *bus, void *arg)
{
	struct xenbus_device **v;
	unsigned int n;

	v = snapshot(bus, &n);
	if (!v)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		if (v[i]->phase == XB_ACTIVE)
			xb_switch_state(v[i], XENBUS_STATE_CLOSED, false);
		xb_dev_free(v[i], true);
	}
	free(v);
	return 0;
}

int xenbus_bus_shutdown(struct xenbus_bus *bus, unsigned int timeout_ms,
                        char **stuck)
{
	struct timespec ts;
	bool is_waiting;
	int err, werr = 0;

	if (!bus)
		return -EINVAL;
	if (xb_is_bus_thread(bus))
		return -EDEADLK;
	if (!bus->has_thread)
		return 0;
	err = bus_call(bus, shutdown_begin, NULL);
	if (err)
		return err;
	deadline_of(&ts, timeout_ms);
	pthread_mutex_lock(&bus->lock);
	for (;;) {
		is_waiting = false;
		for (struct xenbus_device *d = bus->devices; d; d = d->next)
			is_waiting = is_waiting || is_closing_stuck(d);
		if (!is_waiting || werr == ETIMEDOUT)
			break;
		werr = pthread_cond_timedwait(&bus->cond, &bus->lock, &ts);
	}
	if (is_waiting) {
		err = -ETIMEDOUT;
		if (stuck)
			*stuck = stuck_text(bus, is_closing_stuck);
	}
	pthread_mutex_unlock(&bus->lock);
	bus_call(bus, shutdown_end, NULL);
	return err;
}

static int suspend_call(struct xenbus_bus *bus, void *arg)
{
	struct xenbus_device **v;
	const struct xenbus_driver *drv;
	unsigned int n;
	int err;

	v = snapshot(bus, &n);
	for (unsigned int i = 0; v && i < n; i++) {
		drv = v[i]->drv->drv;
		if (v[i]->phase != XB_ACTIVE || !drv->suspend)
			continue;
		err = drv->suspend(v[i], v[i]->drv->arg);
		if (err)
			xb_report(v[i]->node, err, "suspend failed");
	}
	free(v);
	pthread_mutex_lock(&bus->lock);
	bus->is_suspended = true;
	pthread_mutex_unlock(&bus->lock);
	return v ? 0 : -ENOMEM;
}

static int resume_call(struct xenbus_bus *bus, void *arg)
{
	struct xenbus_device **v;
	unsigned int n;

	pthread_mutex_lock(&bus->lock);
	bus->is_suspended = false;
	/* The store may be another one now: look at everything again. */
	bus->must_rescan = true;
	rootq_free(bus);
	pthread_mutex_unlock(&bus->lock);
	v = snapshot(bus, &n);
	for (unsigned int i = 0; v && i < n; i++)
		xb_dev_resume(v[i]);
	free(v);
	return v ? 0 : -ENOMEM;
}

/* Run fn on the bus thread for a caller of the public API. */
static int api_call(struct xenbus_bus *bus,
                    int (*fn)(struct xenbus_bus *, void *))
{
	if (!bus)
		return -EINVAL;
	if (xb_is_bus_thread(bus))
		return -EDEADLK;
	if (!bus->has_thread)
		return 0;
	return bus_call(bus, fn, NULL);
}

int xenbus_bus_suspend(struct xenbus_bus *bus)
{
	return api_call(bus, suspend_call);
}

int xenbus_bus_resume(struct xenbus_bus *bus)
{
	return api_call(bus, resume_call);
}

static int stop_call(struct xenbus_bus *bus, void *arg)
{
	struct xenbus_device **v;
	unsigned int n;

	pthread_mutex_lock(&bus->lock);
	bus->is_stopping = true;
	pthread_mutex_unlock(&bus->lock);
	if (bus->root_watch)
		xstore_watch_remove(bus->h, bus->root_watch);
	bus->root_watch = NULL;
	v = snapshot(bus, &n);
	for (unsigned int i = 0; v && i < n; i++)
		xb_dev_free(v[i], true);
	free(v);
	return 0;
}

void xenbus_bus_free(struct xenbus_bus *bus)
{
	struct xb_fd *f;

	if (!bus)
		return;
	if (xb_is_bus_thread(bus)) {
		fprintf(stderr, "xenbus: xenbus_bus_free on the bus thread\n");
		return;
	}
	if (bus->has_thread) {
		bus_call(bus, stop_call, NULL);
		pthread_join(bus->thread, NULL);
		bus->has_thread = false;
	}
	while ((f = bus->fds) != NULL) {
		bus->fds = f->next;
		free(f);
	}
	rootq_free(bus);
	if (bus->epfd >= 0)
		close(bus->epfd);
	if (bus->wakefd >= 0)
		close(bus->wakefd);
	if (bus->plat)
		plat_close(bus->plat);
	pthread_cond_destroy(&bus->cond);
	pthread_mutex_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->plat_open_lock);
	pthread_mutex_destroy(&bus->plat_lock);
	free(bus->drivers);
	free(bus->platform);
	free(bus->root);
	free(bus->home);
	free(bus);
}

unsigned int xenbus_bus_domid(const struct xenbus_bus *bus)
{
	return bus->domid;
}

struct xstore *xenbus_bus_xstore(const struct xenbus_bus *bus)
{
	return bus->h;
}

int xenbus_bus_add_fd(struct xenbus_bus *bus, int fd, xenbus_fd_fn *fn,
                      void *arg)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct xb_fd *e;
	int err = 0;

	if (!bus || fd < 0 || !fn)
		return -EINVAL;
	pthread_mutex_lock(&bus->lock);
	for (e = bus->fds; e; e = e->next)
		if (e->fd == fd)
			err = -EEXIST;
	e = err ? NULL : malloc(sizeof(*e));
	if (!err && !e)
		err = -ENOMEM;
	ev.data.fd = fd;
	if (!err && epoll_ctl(bus->epfd, EPOLL_CTL_ADD, fd, &ev))
		err = -errno;
	if (!err) {
		e->fd = fd;
		e->fn = fn;
		e->arg = arg;
		e->next = bus->fds;
		bus->fds = e;
		e = NULL;
	}
	pthread_mutex_unlock(&bus->lock);
	free(e);
	return err;
}

int xenbus_bus_remove_fd(struct xenbus_bus *bus, int fd)
{
	struct xb_fd **pp, *e = NULL;
	bool is_bus_thread;

	if (!bus)
		return -EINVAL;
	is_bus_thread = xb_is_bus_thread(bus);
	pthread_mutex_lock(&bus->lock);
	for (pp = &bus->fds; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			e = *pp;
			*pp = e->next;
			break;
		}
	}
	if (e) {
		/* Already closed by the driver: epoll dropped it itself. */
		epoll_ctl(bus->epfd, EPOLL_CTL_DEL, fd, NULL);
		while (!is_bus_thread && bus->running_fd == fd)
			pthread_cond_wait(&bus->cond, &bus->lock);
	}
	pthread_mutex_unlock(&bus->lock);
	free(e);
	return e ? 0 : -ENOENT;
}

void xenbus_bus_foreach(struct xenbus_bus *bus, xenbus_foreach_fn *fn,
                        void *arg)
{
	if (!bus || !fn)
		return;
	pthread_mutex_lock(&bus->lock);
	for (struct xenbus_device *d = bus->devices; d; d = d->next)
		fn(d, arg);
	pthread_mutex_unlock(&bus->lock);
}

/* ---- the platform (xb_int.h) ---- */

int xb_bus_plat(struct xenbus_bus *bus, struct plat **out)
{
	int err = 0;

	pthread_mutex_lock(&bus->plat_open_lock);
	/* A failure is not kept: the sim may appear later. */
	if (!bus->plat)
		err = plat_open_flags(bus->platform, bus->domid,
		                      PLAT_OPEN_NO_STORE_PORT, &bus->plat);
	if (!err)
		*out = bus->plat;
	pthread_mutex_unlock(&bus->plat_open_lock);
	return err;
}

void xb_plat_lock(struct xenbus_bus *bus)
{
	pthread_mutex_lock(&bus->plat_lock);
}

void xb_plat_unlock(struct xenbus_bus *bus)
{
	pthread_mutex_unlock(&bus->plat_lock);
}
