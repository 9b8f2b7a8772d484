/*
 * test_xenbus.c - the XenBus core (lib/xenbus/) against the real daemon.
 * The test is the toolstack: over its own dom0 connection it writes the
 * device nodes, plays the other end and removes devices.  A frontend bus
 * serves domain FE (its devices at /local/domain/FE/device/vbd/<id>) and
 * a backend bus domain 0 (/local/domain/0/backend/vbd/FE/<id>), each on
 * a dom0 socket connection of its own with an explicit domid.  A tiny
 * driver records every callback.  White-box: the bus's counters
 * (bus_int.h) and the library's per-watch queue (client_int.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/client_int.h"
#include "lib/xenbus/bus_int.h"
#include "tests/support/check.h"
#include "tests/support/xsd.h"
#include "xstore/xenbus.h"

#define FE     5u
#define NSLOTS 64

static struct xsd daemon_;
static bool has_daemon;
static struct xstore *ts; /* the toolstack */

/* ---- what the driver saw ---- */

struct rec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct xenbus_device *dev[NSLOTS];
	int probe[NSLOTS], attach[NSLOTS], detach[NSLOTS];
	int oe[NSLOTS], oe_last[NSLOTS], local[NSLOTS];
	int suspend[NSLOTS], resume[NSLOTS];
	char last_local[NSLOTS][64];
	int fail_probe[NSLOTS]; /* -errno probe returns */
	int fail_suspend[NSLOTS];
	bool is_closing_on_closed; /* backend: Closed when the frontend is */
	pthread_mutex_t *gate;     /* stalls otherend_changed */
	pthread_t bus_thread;
	bool is_wrong_thread;
};

static struct rec R = {.lock = PTHREAD_MUTEX_INITIALIZER,
                       .cond = PTHREAD_COND_INITIALIZER};

static void rec_reset(void)
{
	pthread_mutex_lock(&R.lock);
	memset(&R.dev, 0, sizeof(R) - offsetof(struct rec, dev));
	pthread_mutex_unlock(&R.lock);
}

/* Wait (5 s at most) until `expr` holds, under R.lock. */
#define WAIT_UNTIL(expr)                                                       \
	({                                                                     \
		struct timespec ts_;                                           \
		clock_gettime(CLOCK_REALTIME, &ts_);                           \
		ts_.tv_sec += 5;                                               \
		pthread_mutex_lock(&R.lock);                                   \
		while (!(expr) &&                                              \
		       pthread_cond_timedwait(&R.cond, &R.lock, &ts_) == 0)    \
			;                                                      \
		bool ok_ = (expr);                                             \
		pthread_mutex_unlock(&R.lock);                                 \
		ok_;                                                           \
	})

static int slot(struct xenbus_device *dev)
{
	return (int)(xenbus_dev_id(dev) % NSLOTS);
}

static void note_thread(void)
{
	if (!pthread_equal(R.bus_thread, pthread_self()) &&
	    !pthread_equal(R.bus_thread, (pthread_t)0))
		R.is_wrong_thread = true;
	R.bus_thread = pthread_self();
}

static int d_probe(struct xenbus_device *dev, void *arg)
{
	int s = slot(dev), err;

	pthread_mutex_lock(&R.lock);
	note_thread();
	R.probe[s]++;
	R.dev[s] = dev;
	err = R.fail_probe[s];
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	return err;
}

static int d_attach(struct xenbus_device *dev, void *arg)
{
	pthread_mutex_lock(&R.lock);
	R.attach[slot(dev)]++;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	return 0;
}

static void d_detach(struct xenbus_device *dev, void *arg)
{
	int s = slot(dev);

	pthread_mutex_lock(&R.lock);
	note_thread();
	R.detach[s]++;
	R.dev[s] = NULL;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
}

static void d_otherend(struct xenbus_device *dev, enum xenbus_devstate state,
                       void *arg)
{
	int s = slot(dev);
	bool must_close;

	pthread_mutex_t *gate;

	pthread_mutex_lock(&R.lock);
	gate = R.gate;
	pthread_mutex_unlock(&R.lock);
	if (gate) {
		pthread_mutex_lock(gate);
		pthread_mutex_unlock(gate);
	}
	pthread_mutex_lock(&R.lock);
	note_thread();
	R.oe[s]++;
	R.oe_last[s] = (int)state;
	must_close = R.is_closing_on_closed && state == XENBUS_STATE_CLOSED;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	if (must_close)
		xenbus_switch_state(dev, XENBUS_STATE_CLOSED);
}

static void d_local(struct xenbus_device *dev, const char *subpath, void *arg)
{
	int s = slot(dev);

	pthread_mutex_lock(&R.lock);
	note_thread();
	R.local[s]++;
	snprintf(R.last_local[s], sizeof(R.last_local[s]), "%s", subpath);
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
}

static int d_suspend(struct xenbus_device *dev, void *arg)
{
	int s = slot(dev);

	pthread_mutex_lock(&R.lock);
	R.suspend[s]++;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	return R.fail_suspend[s];
}

static int d_resume(struct xenbus_device *dev, void *arg)
{
	pthread_mutex_lock(&R.lock);
	R.resume[slot(dev)]++;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
	return 0;
}

static const struct xenbus_driver vbd = {
    .type = "vbd",
    .probe = d_probe,
    .attach = d_attach,
    .detach = d_detach,
    .otherend_changed = d_otherend,
    .localend_changed = d_local,
    .suspend = d_suspend,
    .resume = d_resume,
};

/* ---- the toolstack ---- */

static void stop_daemon(void)
{
	xstore_close(ts);
	if (has_daemon)
		xsd_stop(&daemon_);
}

static bool ensure_daemon(void)
{
	if (!has_daemon) {
		if (xsd_start_sim(&daemon_))
			return false;
		has_daemon = true;
		atexit(stop_daemon);
		if (xstore_open(daemon_.spec, 0, &ts))
			return false;
	}
	/* A clean slate for each test. */
	xstore_rm(ts, 0, "/local/domain/5");
	xstore_rm(ts, 0, "/local/domain/6");
	xstore_rm(ts, 0, "/local/domain/0/backend");
	xstore_rm(ts, 0, "/local/domain/0/error");
	rec_reset();
	return true;
}

static const char *fe_node(unsigned int id)
{
	static char b[8][96];
	static unsigned int n;
	char *p = b[n++ % 8];

	snprintf(p, sizeof(b[0]), "/local/domain/%u/device/vbd/%u", FE, id);
	return p;
}

static const char *be_node(unsigned int fe, unsigned int id)
{
	static char b[8][96];
	static unsigned int n;
	char *p = b[n++ % 8];

	snprintf(p, sizeof(b[0]), "/local/domain/0/backend/vbd/%u/%u", fe, id);
	return p;
}

static int put(xstore_txn_t t, const char *dir, const char *name,
               const char *value)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return xstore_write_str(ts, t, p, value);
}

/*
 * A device pair as a toolstack writes it, in one transaction: the
 * frontend's node (state fe_state, its backend) and the backend's
 * (state be_state, its frontend, online).  `backend` (NULL: the real
 * one) and `frontend` are what the other end's path node says.
 */
static int make_pair(unsigned int id, int fe_state, int be_state,
                     const char *backend, const char *frontend)
{
	char fs[8], bs[8], feid[8];
	const char *fn = fe_node(id), *bn = be_node(FE, id);
	xstore_txn_t t;
	int err;

	snprintf(fs, sizeof(fs), "%d", fe_state);
	snprintf(bs, sizeof(bs), "%d", be_state);
	snprintf(feid, sizeof(feid), "%u", FE);
	do {
		if ((err = xstore_txn_start(ts, &t)))
			return err;
		err = put(t, fn, "backend", backend ? backend : bn);
		if (!err)
			err = put(t, fn, "backend-id", "0");
		if (!err)
			err = put(t, fn, "state", fs);
		if (!err)
			err = put(t, bn, "frontend", frontend ? frontend : fn);
		if (!err)
			err = put(t, bn, "frontend-id", feid);
		if (!err)
			err = put(t, bn, "online", "1");
		if (!err)
			err = put(t, bn, "state", bs);
		if (err) {
			xstore_txn_end(ts, t, false);
			return err;
		}
		err = xstore_txn_end(ts, t, true);
	} while (err == -EAGAIN);
	return err;
}

static int read_state(const char *node)
{
	return (int)xenbus_read_driver_state(ts, node);
}

static void sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&t, NULL);
}

/* Poll the store until node/state is `want` (5 s at most). */
static bool wait_state(const char *node, int want)
{
	for (int i = 0; i < 1000; i++) {
		if (read_state(node) == want)
			return true;
		sleep_ms(5);
	}
	printf("  %s: state %d, want %d\n", node, read_state(node), want);
	return false;
}

static char *read_str(const char *path)
{
	char *v = NULL;

	if (xstore_read(ts, 0, path, &v, NULL))
		return NULL;
	return v;
}

/* A bus of `kind` on a connection of its own. */
static struct xenbus_bus *bus_up(enum xenbus_bus_kind kind, bool is_started)
{
	struct xenbus_bus_opts o = {.kind = kind,
	                            .domid = kind == XENBUS_FRONTEND ? FE : 0};
	struct xenbus_bus *bus = NULL;
	struct xstore *h = NULL;

	if (xstore_open(daemon_.spec, 0, &h))
		return NULL;
	if (xenbus_bus_new(h, &o, &bus) || xenbus_register(bus, &vbd, NULL) ||
	    (is_started && xenbus_bus_start(bus))) {
		xenbus_bus_free(bus);
		xstore_close(h);
		return NULL;
	}
	return bus;
}

static void bus_down(struct xenbus_bus *bus)
{
	struct xstore *h;

	if (!bus)
		return;
	h = xenbus_bus_xstore(bus);
	xenbus_bus_free(bus);
	xstore_close(h);
}

/* ---- running code on the bus thread (an eventfd on the bus) ---- */

struct on_bus {
	void (*fn)(void *arg);
	void *arg;
	bool is_done;
};

static void on_bus_fd(int fd, void *arg)
{
	struct on_bus *o = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return;
	o->fn(o->arg);
	pthread_mutex_lock(&R.lock);
	o->is_done = true;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
}

static bool on_bus(struct xenbus_bus *bus, void (*fn)(void *), void *arg)
{
	struct on_bus o = {fn, arg, false};
	int fd = eventfd(0, EFD_CLOEXEC);
	uint64_t one = 1;
	bool ok;

	if (fd < 0 || xenbus_bus_add_fd(bus, fd, on_bus_fd, &o))
		return false;
	ok = write(fd, &one, sizeof(one)) == sizeof(one) &&
	     WAIT_UNTIL(o.is_done);
	xenbus_bus_remove_fd(bus, fd);
	close(fd);
	return ok;
}

static void noop(void *arg)
{
}

struct sw {
	struct xenbus_device *dev;
	enum xenbus_devstate state;
	int err;
};

static void do_switch(void *arg)
{
	struct sw *s = arg;

	s->err = xenbus_switch_state(s->dev, s->state);
}

static int switch_on_bus(struct xenbus_bus *bus, struct xenbus_device *dev,
                         enum xenbus_devstate state)
{
	struct sw s = {dev, state, 1};

	if (!on_bus(bus, do_switch, &s))
		return -ETIME;
	return s.err;
}

static void count_dev(const struct xenbus_device *dev, void *arg)
{
	if (getenv("XB_DEBUG"))
		printf("  dev %s %s\n", xenbus_dev_node(dev),
		       xenbus_strstate((int)xenbus_dev_state(dev)));
	(*(int *)arg)++;
}

/* A device's state and other end as the bus holds them, read under its
 * lock (foreach) since the bus thread may be moving them. */
struct view {
	const struct xenbus_device *dev;
	int state;
	char otherend[128];
};

static void view_fn(const struct xenbus_device *dev, void *arg)
{
	struct view *v = arg;

	if (dev != v->dev)
		return;
	v->state = (int)xenbus_dev_state(dev);
	snprintf(v->otherend, sizeof(v->otherend), "%s",
	         xenbus_dev_otherend(dev));
}

static struct view view_of(struct xenbus_bus *bus,
                           const struct xenbus_device *dev)
{
	struct view v = {.dev = dev, .state = -1};

	xenbus_bus_foreach(bus, view_fn, &v);
	return v;
}

static int ndevices(struct xenbus_bus *bus)
{
	int n = 0;

	xenbus_bus_foreach(bus, count_dev, &n);
	return n;
}

/*
 * A fence: hot-plug a fresh frontend device `id` and wait for its probe.
 * Events are handled in order, so whatever the toolstack did before has
 * been handled by then.
 */
static bool fence(unsigned int id)
{
	if (make_pair(id, 1, 1, NULL, NULL))
		return false;
	return WAIT_UNTIL(R.probe[id % NSLOTS] > 0);
}

/* ---- tests ---- */

static void test_strstate(void)
{
	static const char *const names[] = {
	    "Unknown",     "Initialising",  "InitWait",
	    "Initialised", "Connected",     "Closing",
	    "Closed",      "Reconfiguring", "Reconfigured"};

	for (int i = 0; i <= 8; i++)
		CHECK_EQ_STR(xenbus_strstate(i), names[i]);
	CHECK_EQ_STR(xenbus_strstate(9), "Invalid");
	CHECK_EQ_STR(xenbus_strstate(-1), "Invalid");
	CHECK(ensure_daemon());
	CHECK_EQ_INT(read_state("/local/domain/5/nothing"),
	             XENBUS_STATE_UNKNOWN);
	CHECK_EQ_INT(xstore_write_str(ts, 0, "/local/domain/5/x/state", "9"),
	             0);
	CHECK_EQ_INT(read_state("/local/domain/5/x"), XENBUS_STATE_UNKNOWN);
	CHECK_EQ_INT(xstore_write_str(ts, 0, "/local/domain/5/x/state", "4"),
	             0);
	CHECK_EQ_INT(read_state("/local/domain/5/x"), XENBUS_STATE_CONNECTED);
}

/* Enumeration at start, probe only in Initialising, hot-plug, unplug. */
static void test_frontend_lifecycle(void)
{
	struct xenbus_bus *bus;
	struct xenbus_device *d;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(2, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(3, 4, 4, NULL, NULL), 0); /* not new */
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	/* Start returns after the probes of what was there. */
	pthread_mutex_lock(&R.lock);
	CHECK_EQ_INT(R.probe[1], 1);
	CHECK_EQ_INT(R.attach[1], 1);
	CHECK_EQ_INT(R.probe[2], 1);
	CHECK_EQ_INT(R.probe[3], 0);
	d = R.dev[1];
	pthread_mutex_unlock(&R.lock);
	CHECK_EQ_INT(ndevices(bus), 2);
	CHECK_EQ_STR(xenbus_dev_node(d), fe_node(1));
	CHECK_EQ_STR(xenbus_dev_type(d), "vbd");
	CHECK_EQ_UINT(xenbus_dev_id(d), 1);
	CHECK_EQ_UINT(xenbus_dev_otherend_id(d), 0);
	CHECK_EQ_STR(xenbus_dev_otherend(d), be_node(FE, 1));
	CHECK_EQ_INT(xenbus_dev_state(d), XENBUS_STATE_INITIALISING);
	CHECK(xenbus_dev_bus(d) == bus);
	CHECK_EQ_UINT(xenbus_bus_domid(bus), FE);
	/* The other end's first state arrives after attach. */
	CHECK(WAIT_UNTIL(R.oe[1] >= 1 && R.oe_last[1] == 1));

	/* Hot-plug; one out of Initialising waits until it is. */
	CHECK_EQ_INT(make_pair(4, 1, 1, NULL, NULL), 0);
	CHECK(WAIT_UNTIL(R.probe[4] == 1));
	CHECK_EQ_INT(make_pair(5, 3, 1, NULL, NULL), 0);
	CHECK(fence(6));
	CHECK_EQ_INT(R.probe[5], 0);
	CHECK_EQ_INT(
	    xstore_write_str(ts, 0, "/local/domain/5/device/vbd/5/state", "1"),
	    0);
	CHECK(WAIT_UNTIL(R.probe[5] == 1));
	CHECK_EQ_INT(ndevices(bus), 5);

	/* Unplug one node; then a parent takes everything below it. */
	CHECK_EQ_INT(xstore_rm(ts, 0, fe_node(4)), 0);
	CHECK(WAIT_UNTIL(R.detach[4] == 1));
	CHECK_EQ_INT(R.detach[1], 0);
	CHECK_EQ_INT(xstore_rm(ts, 0, "/local/domain/5/device/vbd"), 0);
	CHECK(WAIT_UNTIL(R.detach[1] == 1 && R.detach[2] == 1 &&
	                 R.detach[5] == 1 && R.detach[6] == 1));
	CHECK_EQ_INT(ndevices(bus), 0);
	/* And the whole bus root. */
	CHECK_EQ_INT(make_pair(7, 1, 1, NULL, NULL), 0);
	CHECK(WAIT_UNTIL(R.probe[7] == 1));
	CHECK_EQ_INT(xstore_rm(ts, 0, "/local/domain/5/device"), 0);
	CHECK(WAIT_UNTIL(R.detach[7] == 1));
	CHECK_EQ_INT(ndevices(bus), 0);
	CHECK(!R.is_wrong_thread);
	bus_down(bus);
	/* Every probe had its detach; nothing twice. */
	for (int i = 0; i < 8; i++)
		CHECK_EQ_INT(R.detach[i], R.probe[i]);
}

/* Backend ids have two parts; rm of backend/vbd/5 takes all of FE's. */
static void test_backend_lifecycle(void)
{
	struct xenbus_bus *bus;
	char fe6[64];
	xstore_txn_t t = 0;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(2, 1, 1, NULL, NULL), 0);
	/* Domain 6's device 1, by hand. */
	snprintf(fe6, sizeof(fe6), "/local/domain/6/device/vbd/1");
	CHECK_EQ_INT(put(t, fe6, "state", "1"), 0);
	CHECK_EQ_INT(put(t, be_node(6, 1), "frontend", fe6), 0);
	CHECK_EQ_INT(put(t, be_node(6, 1), "frontend-id", "6"), 0);
	CHECK_EQ_INT(put(t, be_node(6, 1), "state", "1"), 0);
	bus = bus_up(XENBUS_BACKEND, true);
	CHECK(bus != NULL);
	pthread_mutex_lock(&R.lock);
	/* Slot 1 is shared by 5/1 and 6/1: two probes. */
	CHECK_EQ_INT(R.probe[1], 2);
	CHECK_EQ_INT(R.probe[2], 1);
	pthread_mutex_unlock(&R.lock);
	CHECK_EQ_INT(ndevices(bus), 3);
	CHECK_EQ_INT(xstore_rm(ts, 0, "/local/domain/0/backend/vbd/5"), 0);
	CHECK(WAIT_UNTIL(R.detach[1] == 1 && R.detach[2] == 1));
	CHECK_EQ_INT(ndevices(bus), 1);
	/* Hot-plug below an existing frontend domain. */
	CHECK_EQ_INT(make_pair(3, 1, 1, NULL, NULL), 0);
	CHECK(WAIT_UNTIL(R.probe[3] == 1));
	CHECK_EQ_STR(xenbus_dev_otherend(R.dev[3]), fe_node(3));
	CHECK_EQ_UINT(xenbus_dev_otherend_id(R.dev[3]), FE);
	CHECK_EQ_INT(ndevices(bus), 2);
	bus_down(bus);
	/* Free detaches without touching the state nodes. */
	CHECK_EQ_INT(R.detach[3], 1);
	CHECK_EQ_INT(read_state(be_node(FE, 3)), XENBUS_STATE_INITIALISING);
}

/* A probe failure: Closed, an error node, forgotten, not probed again. */
static void test_probe_failure(void)
{
	struct xenbus_bus *bus;
	char *v;

	CHECK(ensure_daemon());
	R.fail_probe[1] = -ENODEV;
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	CHECK_EQ_INT(R.probe[1], 1);
	CHECK_EQ_INT(R.attach[1], 0);
	CHECK_EQ_INT(read_state(fe_node(1)), XENBUS_STATE_CLOSED);
	v = read_str("/local/domain/5/error/device/vbd/1/error");
	CHECK(v != NULL);
	CHECK_EQ_INT(strncmp(v, "19 ", 3), 0);
	free(v);
	CHECK_EQ_INT(ndevices(bus), 0);
	/* Changes below it do not bring it back. */
	CHECK_EQ_INT(
	    xstore_write_str(ts, 0, "/local/domain/5/device/vbd/1/x", "1"), 0);
	CHECK(fence(2));
	CHECK_EQ_INT(R.probe[1], 1);
	CHECK_EQ_INT(R.detach[1], 0);
	/* Removed and re-added: probed again (and taken this time). */
	R.fail_probe[1] = 0;
	CHECK_EQ_INT(xstore_rm(ts, 0, fe_node(1)), 0);
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	CHECK(WAIT_UNTIL(R.probe[1] == 2 && R.attach[1] == 1));
	bus_down(bus);
}

/* Other ends that point where they must not are refused. */
static void test_hostile_otherend(void)
{
	static const char *const bad_backends[] = {
	    "/local/domain/7/backend/vbd/5/1",        /* not backend-id's */
	    "/local/domain/0/backend/../../7/secret", /* .. */
	    "/local/domain/0/backend/vbd/5/99",       /* missing */
	    "/local/domain/0/backend/vbd/5/1/",       /* trailing / */
	    "/local/domain/0/backend//vbd/5/1",       /* // */
	    "/local/domain/0/backendx/vbd",           /* not below */
	    "/local/domain/0/backend",                /* the area itself */
	    "",                                       /* empty */
	    "local/domain/0/backend/vbd/5/1",         /* relative */
	    "/local/domain/0/backend/vbd/5/./1",      /* . */
	};
	unsigned int n = sizeof(bad_backends) / sizeof(bad_backends[0]);
	struct xenbus_bus *bus;
	char p[128], *v;

	CHECK(ensure_daemon());
	/* Something for the bad paths to point at. */
	CHECK_EQ_INT(xstore_write_str(
	                 ts, 0, "/local/domain/7/backend/vbd/5/1/state", "1"),
	             0);
	for (unsigned int i = 0; i < n; i++)
		CHECK_EQ_INT(make_pair(10 + i, 1, 1, bad_backends[i], NULL), 0);
	/* A backend-id that is not a number. */
	CHECK_EQ_INT(make_pair(30, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(put(0, fe_node(30), "backend-id", "0x0"), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	for (unsigned int i = 0; i < n; i++) {
		if (R.probe[10 + i])
			printf("  followed %s\n", bad_backends[i]);
		CHECK_EQ_INT(R.probe[10 + i], 0);
		CHECK_EQ_INT(read_state(fe_node(10 + i)), XENBUS_STATE_CLOSED);
		snprintf(p, sizeof(p),
		         "/local/domain/5/error/device/vbd/%u/error", 10 + i);
		v = read_str(p);
		CHECK(v != NULL);
		free(v);
	}
	CHECK_EQ_INT(R.probe[30], 0);
	CHECK_EQ_INT(ndevices(bus), 0);
	bus_down(bus);

	/* Backend side: frontend paths outside frontend-id's home, or a
	 * frontend-id that is not the domain of the backend path. */
	rec_reset();
	CHECK_EQ_INT(make_pair(40, 4, 1, NULL, "/local/domain/6/device/vbd/40"),
	             0);
	CHECK_EQ_INT(
	    xstore_write_str(ts, 0, "/local/domain/6/device/vbd/40/state", "1"),
	    0);
	CHECK_EQ_INT(make_pair(41, 4, 1, NULL, NULL), 0);
	CHECK_EQ_INT(put(0, be_node(FE, 41), "frontend-id", "6"), 0);
	CHECK_EQ_INT(make_pair(42, 4, 1, NULL, "/local/domain/5"), 0);
	CHECK_EQ_INT(make_pair(43, 4, 1, NULL, NULL), 0); /* the good one */
	bus = bus_up(XENBUS_BACKEND, true);
	CHECK(bus != NULL);
	CHECK_EQ_INT(R.probe[40], 0);
	CHECK_EQ_INT(R.probe[41], 0);
	CHECK_EQ_INT(R.probe[42], 0);
	CHECK_EQ_INT(R.probe[43], 1);
	CHECK_EQ_INT(read_state(be_node(FE, 40)), XENBUS_STATE_CLOSED);
	v = read_str("/local/domain/0/error/backend/vbd/5/41/error");
	CHECK(v != NULL);
	CHECK_EQ_INT(strncmp(v, "22 ", 3), 0);
	free(v);
	bus_down(bus);
}

/* Events on a watch of the toolstack's, in order. */
struct evlog {
	char paths[64][128];
	int n;
};

static void evlog_fn(struct xstore *h, struct xstore_watch *w, const char *path,
                     unsigned int flags, void *arg)
{
	struct evlog *e = arg;

	pthread_mutex_lock(&R.lock);
	if (e->n < 64)
		snprintf(e->paths[e->n], sizeof(e->paths[0]), "%s", path);
	e->n++;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
}

/* switch_state: writes, skips an unchanged state, never recreates. */
static void test_switch_state(void)
{
	struct xenbus_bus *bus;
	struct xenbus_device *d;
	struct xstore_watch *w;
	struct evlog e = {.n = 0};
	char marker[128], statep[128];

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	d = R.dev[1];
	CHECK(d != NULL);
	CHECK_EQ_INT(switch_on_bus(bus, d, XENBUS_STATE_INITWAIT), 0);
	CHECK_EQ_INT(read_state(fe_node(1)), XENBUS_STATE_INITWAIT);
	CHECK_EQ_INT(view_of(bus, d).state, XENBUS_STATE_INITWAIT);

	/* Unchanged: no write (a write would fire the watch before the
	 * marker's event). */
	CHECK_EQ_INT(xstore_watch_add(ts, fe_node(1), -1, evlog_fn, &e, &w), 0);
	CHECK(WAIT_UNTIL(e.n == 1));
	CHECK_EQ_INT(switch_on_bus(bus, d, XENBUS_STATE_INITWAIT), 0);
	snprintf(marker, sizeof(marker), "%s/marker", fe_node(1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, marker, "1"), 0);
	CHECK(WAIT_UNTIL(e.n >= 2));
	CHECK_EQ_STR(e.paths[1], marker);
	xstore_watch_remove(ts, w);

	/* A vanished state node stays vanished. */
	snprintf(statep, sizeof(statep), "%s/state", fe_node(1));
	CHECK_EQ_INT(xstore_rm(ts, 0, statep), 0);
	CHECK_EQ_INT(switch_on_bus(bus, d, XENBUS_STATE_CONNECTED), -ENOENT);
	CHECK_EQ_INT(xstore_exists(ts, 0, statep), 0);
	/* -ENOENT is not reported as an error node. */
	CHECK_EQ_INT(xstore_exists(ts, 0, "/local/domain/5/error"), 0);
	CHECK_EQ_INT(switch_on_bus(bus, d, (enum xenbus_devstate)9), -EINVAL);
	bus_down(bus);
}

struct fatal_arg {
	struct xenbus_device *dev;
	int err;
	const char *path;
	struct xenbus_watch *w;
	int fired;
};

static void do_fatal(void *arg)
{
	struct fatal_arg *f = arg;

	xenbus_dev_fatal(f->dev, -EIO, "boom %d", 7);
}

static void user_watch_fn(struct xenbus_device *dev, const char *path,
                          void *arg)
{
	struct fatal_arg *f = arg;

	pthread_mutex_lock(&R.lock);
	note_thread();
	f->fired++;
	pthread_cond_broadcast(&R.cond);
	pthread_mutex_unlock(&R.lock);
}

static void do_watch(void *arg)
{
	struct fatal_arg *f = arg;

	f->err = xenbus_watch_pathf(f->dev, user_watch_fn, f, &f->w, "%s/%s",
	                            xenbus_dev_otherend(f->dev), "feature");
}

static void do_unwatch(void *arg)
{
	struct fatal_arg *f = arg;

	xenbus_unwatch(f->dev, f->w);
}

/* dev_fatal, local changes with their sub-path, a watch of the driver. */
static void test_fatal_local_watch(void)
{
	struct xenbus_bus *bus;
	struct fatal_arg f = {0};
	char p[128], *v;
	int fired;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	f.dev = R.dev[1];

	/* The local subtree: the sub-path, relative. */
	snprintf(p, sizeof(p), "%s/queue-0/ring-ref", fe_node(1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "8"), 0);
	CHECK(WAIT_UNTIL(!strcmp(R.last_local[1], "queue-0/ring-ref")));
	/* Our state moved by someone else: the bus re-reads it. */
	snprintf(p, sizeof(p), "%s/state", fe_node(1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "3"), 0);
	CHECK(WAIT_UNTIL(!strcmp(R.last_local[1], "state")));
	CHECK_EQ_INT(view_of(bus, f.dev).state, XENBUS_STATE_INITIALISED);

	/* A driver watch: events on the bus thread until unwatched. */
	CHECK(on_bus(bus, do_watch, &f));
	CHECK_EQ_INT(f.err, 0);
	CHECK(WAIT_UNTIL(f.fired == 1));
	snprintf(p, sizeof(p), "%s/feature", be_node(FE, 1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "1"), 0);
	CHECK(WAIT_UNTIL(f.fired == 2));
	CHECK(on_bus(bus, do_unwatch, &f));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "2"), 0);
	CHECK(fence(2));
	pthread_mutex_lock(&R.lock);
	fired = f.fired;
	pthread_mutex_unlock(&R.lock);
	CHECK_EQ_INT(fired, 2);

	/* fatal: "<errno> <message>" under error/, and Closing. */
	CHECK(on_bus(bus, do_fatal, &f));
	v = read_str("/local/domain/5/error/device/vbd/1/error");
	CHECK(v != NULL);
	CHECK_EQ_STR(v, "5 boom 7");
	free(v);
	CHECK_EQ_INT(read_state(fe_node(1)), XENBUS_STATE_CLOSING);
	CHECK(!R.is_wrong_thread);
	bus_down(bus);
}

/* ---- the other end flapping (XSA-349) ---- */

struct flapper {
	const char *statep;
	int n, err;
};

static void *flap_main(void *arg)
{
	struct flapper *fl = arg;
	struct xstore *h = NULL;

	fl->err = xstore_open(daemon_.spec, 0, &h);
	for (int i = 0; !fl->err && i < fl->n; i++)
		fl->err = xstore_write_str(h, 0, fl->statep, i & 1 ? "5" : "4");
	xstore_close(h);
	return NULL;
}

/* Flood node `statep` with n writes of 4/5 from 4 connections, then
 * write `last`. */
static bool flood(const char *statep, int n, const char *last)
{
	struct flapper fl[4];
	pthread_t th[4];
	bool ok = true;

	for (int i = 0; i < 4; i++) {
		fl[i].statep = statep;
		fl[i].n = n / 4;
		pthread_create(&th[i], NULL, flap_main, &fl[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok = ok && !fl[i].err;
	}
	return ok && !xstore_write_str(ts, 0, statep, last);
}

/*
 * A peer flips its state 100 000 times.  While the driver is stalled,
 * the bus holds one pending flag, not a queue: a handful of deliveries.
 * While the bus itself cannot take events (its lock held, so libxstore's
 * watch thread is stuck in our callback), the library holds at most one
 * event for the watch.  Either way the newest state is delivered.
 */
static void test_otherend_flapping(void)
{
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct xenbus_bus *bus;
	struct xenbus_device *d;
	struct xstore *h;
	struct xb_stats st0, st;
	char statep[128];
	unsigned int hwm;
	int oe0, delivered;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	d = R.dev[1];
	h = xenbus_bus_xstore(bus);
	CHECK(WAIT_UNTIL(R.oe[1] == 1));
	snprintf(statep, sizeof(statep), "%s/state", be_node(FE, 1));

	/* The bus: the driver stalls in its next otherend_changed. */
	xb_stats_get(bus, &st0);
	pthread_mutex_lock(&gate);
	pthread_mutex_lock(&R.lock);
	R.gate = &gate;
	oe0 = R.oe[1];
	pthread_mutex_unlock(&R.lock);
	CHECK(flood(statep, 50000, "3"));
	/* All events are in (a round trip on h orders them). */
	CHECK_EQ_INT(xstore_exists(h, 0, statep), 1);
	pthread_mutex_lock(&R.lock);
	R.gate = NULL;
	pthread_mutex_unlock(&R.lock);
	pthread_mutex_unlock(&gate);
	CHECK(WAIT_UNTIL(R.oe_last[1] == 3));
	/* A call on the bus thread runs once it has drained its events. */
	CHECK(on_bus(bus, noop, NULL));
	xb_stats_get(bus, &st);
	pthread_mutex_lock(&R.lock);
	delivered = R.oe[1] - oe0;
	pthread_mutex_unlock(&R.lock);
	printf("  stalled driver: %llu events in, %d delivered\n",
	       (unsigned long long)(st.otherend_events - st0.otherend_events),
	       delivered);
	CHECK(delivered <= 4);
	CHECK(st.otherend_delivered - st0.otherend_delivered <= 4);

	/* The library: the bus's lock held, its watch callback waits. */
	pthread_mutex_lock(&bus->lock);
	if (!flood(statep, 50000, "2")) {
		pthread_mutex_unlock(&bus->lock);
		CHECK(!"flood");
	}
	xstore_exists(h, 0, statep);
	pthread_mutex_lock(&h->watch_lock);
	hwm = d->ow->xw->nqueued_max;
	pthread_mutex_unlock(&h->watch_lock);
	pthread_mutex_unlock(&bus->lock);
	if (hwm > 1)
		printf("  %u events queued in the library\n", hwm);
	CHECK_EQ_UINT(hwm, 1);
	CHECK(WAIT_UNTIL(R.oe_last[1] == 2));
	bus_down(bus);
}

/* An event on a path other than the other end's state node (below it,
 * here) is dropped: it says nothing of the state. */
static void test_otherend_stale(void)
{
	struct xenbus_bus *bus;
	struct xb_stats st0, st;
	char p[128];
	int oe;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	CHECK(WAIT_UNTIL(R.oe[1] == 1));
	xb_stats_get(bus, &st0);
	snprintf(p, sizeof(p), "%s/state/sub", be_node(FE, 1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "x"), 0);
	for (int i = 0; i < 1000; i++) {
		xb_stats_get(bus, &st);
		if (st.otherend_events > st0.otherend_events)
			break;
		sleep_ms(5);
	}
	CHECK(st.otherend_events > st0.otherend_events);
	CHECK(on_bus(bus, noop, NULL));
	pthread_mutex_lock(&R.lock);
	oe = R.oe[1];
	pthread_mutex_unlock(&R.lock);
	CHECK_EQ_INT(oe, 1);
	snprintf(p, sizeof(p), "%s/state", be_node(FE, 1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "4"), 0);
	CHECK(WAIT_UNTIL(R.oe[1] == 2 && R.oe_last[1] == 4));
	bus_down(bus);
}

/* ---- settle, shutdown ---- */

static void test_settle(void)
{
	struct xenbus_bus *bus;
	char *stuck = NULL;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(2, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(3, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	CHECK_EQ_INT(xenbus_bus_settle(bus, 50, &stuck), -ETIMEDOUT);
	CHECK(stuck != NULL);
	CHECK(strstr(stuck, fe_node(1)) != NULL);
	CHECK(strstr(stuck, fe_node(2)) != NULL);
	CHECK(strstr(stuck, "Initialising") != NULL);
	free(stuck);
	stuck = NULL;
	/* Connected, Closed, removed: each releases it. */
	CHECK_EQ_INT(switch_on_bus(bus, R.dev[1], XENBUS_STATE_CONNECTED), 0);
	CHECK_EQ_INT(switch_on_bus(bus, R.dev[2], XENBUS_STATE_CLOSED), 0);
	CHECK_EQ_INT(xenbus_bus_settle(bus, 50, &stuck), -ETIMEDOUT);
	CHECK(stuck != NULL && strstr(stuck, fe_node(3)) != NULL &&
	      !strstr(stuck, fe_node(1)));
	free(stuck);
	stuck = NULL;
	CHECK_EQ_INT(xstore_rm(ts, 0, fe_node(3)), 0);
	CHECK_EQ_INT(xenbus_bus_settle(bus, 5000, &stuck), 0);
	CHECK(stuck == NULL);
	bus_down(bus);
}

struct shut {
	struct xenbus_bus *bus;
	unsigned int ms;
	char *stuck;
	int err;
};

static void *shut_main(void *arg)
{
	struct shut *s = arg;

	s->err = xenbus_bus_shutdown(s->bus, s->ms, &s->stuck);
	return NULL;
}

static void test_shutdown(void)
{
	struct shut s = {0};
	pthread_t t;
	char p[128];

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 4, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(2, 1, 4, NULL, NULL), 0);
	s.bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(s.bus != NULL);
	CHECK_EQ_INT(switch_on_bus(s.bus, R.dev[1], XENBUS_STATE_CONNECTED), 0);
	CHECK_EQ_INT(switch_on_bus(s.bus, R.dev[2], XENBUS_STATE_CONNECTED), 0);
	s.ms = 10000;
	pthread_create(&t, NULL, shut_main, &s);
	/* The peers see Closing and follow. */
	CHECK(wait_state(fe_node(1), XENBUS_STATE_CLOSING));
	CHECK(wait_state(fe_node(2), XENBUS_STATE_CLOSING));
	snprintf(p, sizeof(p), "%s/state", be_node(FE, 1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "5"), 0);
	snprintf(p, sizeof(p), "%s/state", be_node(FE, 2));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "6"), 0);
	pthread_join(t, NULL);
	CHECK_EQ_INT(s.err, 0);
	CHECK(s.stuck == NULL);
	CHECK_EQ_INT(read_state(fe_node(1)), XENBUS_STATE_CLOSED);
	CHECK_EQ_INT(read_state(fe_node(2)), XENBUS_STATE_CLOSED);
	CHECK_EQ_INT(R.detach[1], 1);
	CHECK_EQ_INT(R.detach[2], 1);
	bus_down(s.bus);

	/* A peer that does not follow: bounded, and named. */
	ensure_daemon();
	CHECK_EQ_INT(make_pair(3, 1, 4, NULL, NULL), 0);
	s.bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(s.bus != NULL);
	CHECK_EQ_INT(switch_on_bus(s.bus, R.dev[3], XENBUS_STATE_CONNECTED), 0);
	CHECK(WAIT_UNTIL(R.oe_last[3] == 4));
	CHECK_EQ_INT(xenbus_bus_shutdown(s.bus, 100, &s.stuck), -ETIMEDOUT);
	CHECK(s.stuck != NULL && strstr(s.stuck, fe_node(3)) != NULL);
	free(s.stuck);
	CHECK_EQ_INT(R.detach[3], 1);
	CHECK_EQ_INT(read_state(fe_node(3)), XENBUS_STATE_CLOSED);
	bus_down(s.bus);
}

/* ---- suspend, resume ---- */

static void test_suspend_resume(void)
{
	struct xenbus_bus *bus;
	struct xstore *h;
	char p[128];
	const char *nb = "/local/domain/0/backend/vbd/5/101";

	CHECK(ensure_daemon());
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	CHECK_EQ_INT(make_pair(2, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_FRONTEND, true);
	CHECK(bus != NULL);
	h = xenbus_bus_xstore(bus);
	CHECK_EQ_INT(switch_on_bus(bus, R.dev[1], XENBUS_STATE_CONNECTED), 0);
	CHECK(WAIT_UNTIL(R.oe[1] >= 1 && R.oe[2] >= 1));
	R.fail_suspend[2] = -EIO; /* reported; 1 suspends all the same */
	CHECK_EQ_INT(xenbus_bus_suspend(bus), 0);
	CHECK_EQ_INT(R.suspend[1], 1);
	CHECK_EQ_INT(R.suspend[2], 1);
	CHECK_EQ_INT(xstore_suspend(h), 0);
	/* Meanwhile (a migration): device 1's backend moves. */
	CHECK_EQ_INT(put(0, nb, "state", "1"), 0);
	CHECK_EQ_INT(put(0, fe_node(1), "backend", nb), 0);
	CHECK_EQ_INT(xstore_resume(h), 0);
	CHECK_EQ_INT(xenbus_bus_resume(bus), 0);
	CHECK_EQ_INT(R.resume[1], 1);
	CHECK_EQ_INT(R.resume[2], 1);
	CHECK_EQ_INT(read_state(fe_node(1)), XENBUS_STATE_INITIALISING);
	CHECK_EQ_INT(view_of(bus, R.dev[1]).state, XENBUS_STATE_INITIALISING);
	CHECK_EQ_STR(view_of(bus, R.dev[1]).otherend, nb);
	/* The old backend is not listened to; the new one is. */
	snprintf(p, sizeof(p), "%s/state", be_node(FE, 1));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "5"), 0);
	CHECK_EQ_INT(put(0, nb, "state", "2"), 0);
	CHECK(WAIT_UNTIL(R.oe_last[1] == 2));
	CHECK(fence(3));
	CHECK_EQ_INT(R.oe_last[1], 2);
	bus_down(bus);
}

/* ---- the reconnect rule ---- */

static void test_reconnect(void)
{
	struct xenbus_bus *bus;
	char p[128];

	CHECK(ensure_daemon());
	R.is_closing_on_closed = true;
	CHECK_EQ_INT(make_pair(1, 1, 1, NULL, NULL), 0);
	bus = bus_up(XENBUS_BACKEND, true);
	CHECK(bus != NULL);
	CHECK_EQ_INT(R.probe[1], 1);
	CHECK_EQ_INT(switch_on_bus(bus, R.dev[1], XENBUS_STATE_CONNECTED), 0);
	snprintf(p, sizeof(p), "%s/state", fe_node(1));
	/* The frontend closes: the driver closes, the bus detaches. */
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "6"), 0);
	CHECK(WAIT_UNTIL(R.detach[1] == 1));
	CHECK_EQ_INT(read_state(be_node(FE, 1)), XENBUS_STATE_CLOSED);
	CHECK_EQ_INT(ndevices(bus), 1); /* dormant */
	/* Back to Initialising: probed again, as new. */
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "1"), 0);
	CHECK(WAIT_UNTIL(R.probe[1] == 2 && R.attach[1] == 2));
	CHECK_EQ_INT(read_state(be_node(FE, 1)), XENBUS_STATE_INITIALISING);
	/* Offline, closed: let go for good. */
	CHECK_EQ_INT(put(0, be_node(FE, 1), "online", "0"), 0);
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "6"), 0);
	CHECK(WAIT_UNTIL(R.detach[1] == 2));
	CHECK_EQ_INT(xstore_write_str(ts, 0, p, "1"), 0);
	/* A fence on the backend bus: a new pair. */
	CHECK_EQ_INT(make_pair(2, 1, 1, NULL, NULL), 0);
	CHECK(WAIT_UNTIL(R.probe[2] == 1));
	CHECK_EQ_INT(R.probe[1], 2);
	CHECK_EQ_INT(ndevices(bus), 1);
	bus_down(bus);
}

/*
 * follow_platform: the bus of a guest (domain 9 of the sim) follows its
 * own domain's state: xsim suspends it, then resumes it.
 */
static void test_follow_platform(void)
{
	static const char *const create[] = {"create", "9", "--no-mux", NULL};
	static const char *const suspend[] = {"suspend", "9", NULL};
	static const char *const resume[] = {"resume", "9", NULL};
	struct xenbus_bus_opts o = {
	    .kind = XENBUS_FRONTEND, .domid = 9, .follow_platform = true};
	const char *fe = "/local/domain/9/device/vbd/1";
	const char *be = "/local/domain/0/backend/vbd/9/1";
	struct xenbus_bus *bus = NULL;
	struct xstore *h = NULL;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(xsd_xsim(&daemon_, create), 0);
	CHECK_EQ_INT(put(0, be, "state", "1"), 0);
	CHECK_EQ_INT(put(0, fe, "backend", be), 0);
	CHECK_EQ_INT(put(0, fe, "backend-id", "0"), 0);
	CHECK_EQ_INT(put(0, fe, "state", "1"), 0);
	o.platform = daemon_.platform;
	CHECK_EQ_INT(xstore_open(daemon_.spec, 0, &h), 0);
	CHECK_EQ_INT(xenbus_bus_new(h, &o, &bus), 0);
	CHECK_EQ_INT(xenbus_register(bus, &vbd, NULL), 0);
	CHECK_EQ_INT(xenbus_bus_start(bus), 0);
	CHECK_EQ_INT(R.probe[1], 1);
	CHECK(WAIT_UNTIL(R.oe[1] == 1));
	CHECK_EQ_INT(xsd_xsim(&daemon_, suspend), 0);
	CHECK(WAIT_UNTIL(R.suspend[1] == 1));
	CHECK_EQ_INT(xsd_xsim(&daemon_, resume), 0);
	CHECK(WAIT_UNTIL(R.resume[1] == 1));
	/* Resumed: back to Initialising, events flow again. */
	CHECK(wait_state(fe, XENBUS_STATE_INITIALISING));
	CHECK_EQ_INT(put(0, be, "state", "2"), 0);
	CHECK(WAIT_UNTIL(R.oe_last[1] == 2));
	xenbus_bus_free(bus);
	xstore_close(h);
}

static void test_bus_errors(void)
{
	struct xenbus_bus_opts o = {.kind = XENBUS_FRONTEND, .domid = -1};
	struct xenbus_bus *bus = NULL;
	struct xstore *h = NULL;

	CHECK(ensure_daemon());
	CHECK_EQ_INT(xstore_open(daemon_.spec, 0, &h), 0);
	/* -1 over a socket: dom0. */
	CHECK_EQ_INT(xenbus_bus_new(h, &o, &bus), 0);
	CHECK_EQ_UINT(xenbus_bus_domid(bus), 0);
	CHECK_EQ_INT(xenbus_register(bus, &vbd, NULL), 0);
	CHECK_EQ_INT(xenbus_register(bus, &vbd, NULL), -EEXIST);
	CHECK_EQ_INT(xenbus_bus_start(bus), 0);
	CHECK_EQ_INT(xenbus_register(bus, &vbd, NULL), -EBUSY);
	CHECK_EQ_INT(xenbus_bus_settle(bus, 0, NULL), 0);
	xenbus_bus_free(bus);
	o.domid = 0x8000;
	CHECK_EQ_INT(xenbus_bus_new(h, &o, &bus), -EINVAL);
	o.domid = 0;
	o.kind = (enum xenbus_bus_kind)7;
	CHECK_EQ_INT(xenbus_bus_new(h, &o, &bus), -EINVAL);
	xenbus_bus_free(NULL);
	xstore_close(h);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_strstate),
    CHECK_TEST(test_bus_errors),
    CHECK_TEST(test_frontend_lifecycle),
    CHECK_TEST(test_backend_lifecycle),
    CHECK_TEST(test_probe_failure),
    CHECK_TEST(test_hostile_otherend),
    CHECK_TEST(test_switch_state),
    CHECK_TEST(test_fatal_local_watch),
    CHECK_TEST(test_otherend_flapping),
    CHECK_TEST(test_otherend_stale),
    CHECK_TEST(test_settle),
    CHECK_TEST(test_shutdown),
    CHECK_TEST(test_suspend_resume),
    CHECK_TEST(test_reconnect),
    CHECK_TEST(test_follow_platform),
};

CHECK_MAIN(tests)
