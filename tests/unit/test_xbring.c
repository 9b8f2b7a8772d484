/*
 * test_xbring.c - the ring and event-channel helpers of libxenbus
 * (lib/xenbus/ring.c) end to end: a frontend bus of guest GUEST and a
 * backend bus of dom0, each over its own dom0 socket to a real daemon on
 * a simulated platform, drive one "vring" device pair.  The frontend
 * grants a two-page ring and offers an event channel, the backend maps
 * and binds them, and a ping crosses both ways.  The test then checks
 * the platform's files (docs/sim.md) to see what was released.
 *
 * The test steers a driver by writing `test-cmd` under its device node
 * (the bus calls localend_changed on its thread, where the helpers must
 * run); the driver records the result and signals.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "plat/plat.h"
#include "plat/sim_dom.h"
#include "tests/support/check.h"
#include "tests/support/xsd.h"
#include "xstore/xenbus.h"

#define GUEST   5
#define FE_NODE "/local/domain/5/device/vring/0"
#define BE_NODE "/local/domain/0/backend/vring/5/0"
#define NPAGES  2
#define WAIT_S  20 /* a deadline for a failing test, not a timing check */

/* CHECK for helpers returning bool. */
#define NEED(c)                                                                \
	do {                                                                   \
		if (!check_true((c) ? true : false, #c, __FILE__, __LINE__))   \
			return false;                                          \
	} while (0)

struct side {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool is_frontend;
	/* bus thread, read under lock by the test */
	struct xenbus_device *dev;
	char *ring;
	uint32_t refs[NPAGES];
	unsigned int port;
	unsigned int events;    /* handler calls */
	unsigned int connected; /* the other end said Connected */
	bool has_pong;
	int cmd_err;
	unsigned int cmds_done;
};

static struct side fe = {.lock = PTHREAD_MUTEX_INITIALIZER,
                         .cond = PTHREAD_COND_INITIALIZER,
                         .is_frontend = true};
static struct side be = {.lock = PTHREAD_MUTEX_INITIALIZER,
                         .cond = PTHREAD_COND_INITIALIZER};

static void side_reset(struct side *s)
{
	pthread_mutex_lock(&s->lock);
	s->dev = NULL;
	s->ring = NULL;
	s->port = 0;
	s->events = s->cmds_done = 0;
	s->connected = 0;
	s->has_pong = false;
	s->cmd_err = 0;
	pthread_mutex_unlock(&s->lock);
}

static void side_signal(struct side *s)
{
	pthread_cond_broadcast(&s->cond);
}

/* Wait until *flag (under s->lock) is at least `want`. */
static bool side_wait(struct side *s, const unsigned int *counter,
                      unsigned int want)
{
	struct timespec dl;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_S;
	pthread_mutex_lock(&s->lock);
	while (*counter < want &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &dl) == 0)
		;
	ok = *counter >= want;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static int node_printf(struct xenbus_device *dev, const char *name,
                       unsigned int v)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", xenbus_dev_node(dev), name);
	return xstore_printf(xenbus_bus_xstore(xenbus_dev_bus(dev)),
	                     XSTORE_TXN_NONE, path, "%u", v);
}

static int otherend_uint(struct xenbus_device *dev, const char *name,
                         unsigned int *v)
{
	char path[256], *text = NULL;
	int err;

	snprintf(path, sizeof(path), "%s/%s", xenbus_dev_otherend(dev), name);
	err = xstore_read(xenbus_bus_xstore(xenbus_dev_bus(dev)),
	                  XSTORE_TXN_NONE, path, &text, NULL);
	if (!err)
		*v = (unsigned int)strtoul(text, NULL, 10);
	free(text);
	return err;
}

/* ---- the drivers ---- */

static void on_event(struct xenbus_device *dev, unsigned int port, void *arg)
{
	struct side *s = arg;

	pthread_mutex_lock(&s->lock);
	s->events++;
	if (s->is_frontend) {
		s->has_pong = !strcmp(s->ring + 8, "pong");
	} else if (!strcmp(s->ring + PLAT_PAGE_SIZE, "ping")) {
		/* The backend answers on page 0: both pages are shared. */
		strcpy(s->ring + 8, "pong");
		xenbus_evtchn_notify(dev, s->port);
	}
	pthread_mutex_unlock(&s->lock);
	side_signal(s);
}

static int drv_probe(struct xenbus_device *dev, void *arg)
{
	struct side *s = arg;

	pthread_mutex_lock(&s->lock);
	s->dev = dev;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* The frontend offers its ring and port, then says Initialised. */
static int fe_attach(struct xenbus_device *dev, void *arg)
{
	struct side *s = arg;
	void *va;
	int err;

	err = xenbus_grant_ring(dev, NPAGES, &va, s->refs);
	if (!err)
		err = xenbus_alloc_evtchn(dev, &s->port);
	if (!err)
		err = xenbus_evtchn_set_handler(dev, s->port, on_event, s);
	pthread_mutex_lock(&s->lock);
	s->ring = err ? NULL : va;
	pthread_mutex_unlock(&s->lock);
	if (!err)
		err = node_printf(dev, "ring-ref0", s->refs[0]);
	if (!err)
		err = node_printf(dev, "ring-ref1", s->refs[1]);
	if (!err)
		err = node_printf(dev, "event-channel", s->port);
	if (!err)
		err = xenbus_switch_state(dev, XENBUS_STATE_INITIALISED);
	return err;
}

/* The backend connects once the frontend is Initialised. */
static void be_connect(struct xenbus_device *dev, struct side *s)
{
	unsigned int remote;
	void *va;

	if (s->ring)
		return;
	if (otherend_uint(dev, "ring-ref0", &s->refs[0]) ||
	    otherend_uint(dev, "ring-ref1", &s->refs[1]) ||
	    otherend_uint(dev, "event-channel", &remote))
		return;
	if (xenbus_map_ring(dev, s->refs, NPAGES, &va))
		return;
	pthread_mutex_lock(&s->lock);
	s->ring = va;
	pthread_mutex_unlock(&s->lock);
	if (xenbus_bind_evtchn(dev, remote, &s->port) ||
	    xenbus_evtchn_set_handler(dev, s->port, on_event, s))
		return;
	xenbus_switch_state(dev, XENBUS_STATE_CONNECTED);
}

static void drv_otherend(struct xenbus_device *dev, enum xenbus_devstate st,
                         void *arg)
{
	struct side *s = arg;

	if (!s->is_frontend && st == XENBUS_STATE_INITIALISED)
		be_connect(dev, s);
	if (s->is_frontend && st == XENBUS_STATE_CONNECTED && !s->connected) {
		xenbus_switch_state(dev, XENBUS_STATE_CONNECTED);
		pthread_mutex_lock(&s->lock);
		s->connected = 1;
		strcpy(s->ring + PLAT_PAGE_SIZE, "ping");
		pthread_mutex_unlock(&s->lock);
		xenbus_evtchn_notify(dev, s->port);
		side_signal(s);
	}
	if (!s->is_frontend && st == XENBUS_STATE_CONNECTED) {
		pthread_mutex_lock(&s->lock);
		s->connected = 1;
		pthread_mutex_unlock(&s->lock);
		side_signal(s);
	}
}

/* test-cmd: "ungrant", "free" (frontend), "unmap", "badmap" (backend). */
static void drv_localend(struct xenbus_device *dev, const char *subpath,
                         void *arg)
{
	struct side *s = arg;
	char path[256], *cmd = NULL;
	int err = -EINVAL;

	if (strcmp(subpath, "test-cmd"))
		return;
	snprintf(path, sizeof(path), "%s/test-cmd", xenbus_dev_node(dev));
	if (xstore_read(xenbus_bus_xstore(xenbus_dev_bus(dev)), XSTORE_TXN_NONE,
	                path, &cmd, NULL))
		return; /* removed below: that event is ours */
	xstore_rm(xenbus_bus_xstore(xenbus_dev_bus(dev)), XSTORE_TXN_NONE,
	          path);
	if (!strcmp(cmd, "ungrant")) {
		err = xenbus_ungrant_ring(dev, s->ring, NPAGES, s->refs);
	} else if (!strcmp(cmd, "free")) {
		err = xenbus_free_evtchn(dev, s->port);
	} else if (!strcmp(cmd, "unmap")) {
		xenbus_unmap_ring(dev, s->ring, NPAGES);
		err = xenbus_free_evtchn(dev, s->port);
	} else if (!strcmp(cmd, "badmap")) {
		uint32_t bad = 999;
		void *va;

		err = xenbus_map_ring(dev, &bad, 1, &va);
	}
	free(cmd);
	pthread_mutex_lock(&s->lock);
	s->cmd_err = err;
	s->cmds_done++;
	pthread_mutex_unlock(&s->lock);
	side_signal(s);
}

/* Gives back nothing: what the test's commands did not release is left
 * to the bus (xb_ring_dev_gone), which is what the tests look at. */
static void drv_detach(struct xenbus_device *dev, void *arg)
{
}

static const struct xenbus_driver fe_drv = {
    .type = "vring",
    .probe = drv_probe,
    .attach = fe_attach,
    .detach = drv_detach,
    .otherend_changed = drv_otherend,
    .localend_changed = drv_localend,
};

static const struct xenbus_driver be_drv = {
    .type = "vring",
    .probe = drv_probe,
    .detach = drv_detach,
    .otherend_changed = drv_otherend,
    .localend_changed = drv_localend,
};

/* ---- the world ---- */

static struct xsd daemon_;
static struct xstore *hq; /* the test's own connection */
static bool has_daemon;

static void stop_daemon(void)
{
	xstore_close(hq);
	if (has_daemon)
		xsd_stop(&daemon_);
}

static void bus_down(struct xstore **h, struct xenbus_bus **bus);
static struct xenbus_bus *bfe, *bbe;
static struct xstore *hfe, *hbe;

/* The daemon up, no bus left over from a failed test. */
static bool ensure_daemon(void)
{
	if (bfe)
		bus_down(&hfe, &bfe);
	if (bbe)
		bus_down(&hbe, &bbe);
	if (has_daemon)
		return true;
	if (xsd_start_sim(&daemon_))
		return false;
	has_daemon = true;
	atexit(stop_daemon);
	return sim_dom_create(daemon_.sim, GUEST, "five", NULL) == 0;
}

/* How many names in sim dir `rel` ("dom5/grant"), not counting ".tmp."
 * leftovers or side files. */
static int count_files(const char *rel)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", daemon_.sim, rel);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strchr(e->d_name, '.'))
			continue;
		n++;
	}
	closedir(d);
	return n;
}

/* Does sim file `dir`/`v` ("dom5/grant", 8) exist? */
static bool has_file(const char *dir, unsigned int v)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%u", daemon_.sim, dir, v);
	return access(path, F_OK) == 0;
}

static int write_node(const char *path, const char *value)
{
	return xstore_write_str(hq, XSTORE_TXN_NONE, path, value);
}

static bool make_devices(void)
{
	/* Leftovers of an earlier test, if any (-ENOENT otherwise). */
	xstore_rm_tree(hq, XSTORE_TXN_NONE, FE_NODE);
	xstore_rm_tree(hq, XSTORE_TXN_NONE, BE_NODE);
	xstore_rm_tree(hq, XSTORE_TXN_NONE, "/local/domain/0/error");
	return !write_node(FE_NODE "/backend", BE_NODE) &&
	       !write_node(FE_NODE "/backend-id", "0") &&
	       !write_node(FE_NODE "/state", "1") &&
	       !write_node(BE_NODE "/frontend", FE_NODE) &&
	       !write_node(BE_NODE "/frontend-id", "5") &&
	       !write_node(BE_NODE "/online", "1") &&
	       !write_node(BE_NODE "/state", "1");
}

static int bus_up(struct xstore **h, struct xenbus_bus **bus,
                  enum xenbus_bus_kind kind, int domid,
                  const struct xenbus_driver *drv, struct side *s)
{
	struct xenbus_bus_opts o = {
	    .kind = kind, .domid = domid, .platform = daemon_.platform};
	int err;

	err = xstore_open(daemon_.spec, 0, h);
	if (!err)
		err = xenbus_bus_new(*h, &o, bus);
	if (!err)
		err = xenbus_register(*bus, drv, s);
	if (!err)
		err = xenbus_bus_start(*bus);
	return err;
}

static void bus_down(struct xstore **h, struct xenbus_bus **bus)
{
	xenbus_bus_free(*bus);
	*bus = NULL;
	xstore_close(*h);
	*h = NULL;
}

/* Both buses up, the pair connected and the ping answered. */
static bool connect_pair(void)
{
	bool has_pong;

	side_reset(&fe);
	side_reset(&be);
	NEED(ensure_daemon());
	if (!hq)
		NEED(xstore_open(daemon_.spec, 0, &hq) == 0);
	NEED(make_devices());
	NEED(bus_up(&hbe, &bbe, XENBUS_BACKEND, 0, &be_drv, &be) == 0);
	NEED(bus_up(&hfe, &bfe, XENBUS_FRONTEND, GUEST, &fe_drv, &fe) == 0);
	NEED(side_wait(&fe, &fe.events, 1)); /* the pong */
	pthread_mutex_lock(&fe.lock);
	has_pong = fe.has_pong;
	pthread_mutex_unlock(&fe.lock);
	NEED(has_pong);
	return true;
}

static bool run_cmd(struct side *s, const char *node, const char *cmd, int *err)
{
	unsigned int want;

	pthread_mutex_lock(&s->lock);
	want = s->cmds_done + 1;
	pthread_mutex_unlock(&s->lock);
	NEED(write_node(node, cmd) == 0);
	NEED(side_wait(s, &s->cmds_done, want));
	pthread_mutex_lock(&s->lock);
	*err = s->cmd_err;
	pthread_mutex_unlock(&s->lock);
	return true;
}

/* Wait until sim dir `rel` holds `want` files (the bus works on its own
 * thread); false at the deadline. */
static bool files_become(const char *rel, int want)
{
	for (int i = 0; i < WAIT_S * 100; i++) {
		if (count_files(rel) == want)
			return true;
		usleep(10 * 1000);
	}
	printf("%s: %d files, want %d\n", rel, count_files(rel), want);
	return false;
}

/* ---- tests ---- */

/* Grant, map, ping both ways; then an orderly teardown frees it all. */
static void test_ring_orderly(void)
{
	int err, grants, pages, ports0;

	CHECK(ensure_daemon());
	grants = count_files("dom5/grant");
	pages = count_files("dom5/page");
	ports0 = count_files("dom0/evtchn");
	CHECK(connect_pair());
	CHECK(side_wait(&be, &be.connected, 1));
	CHECK(has_file("dom5/grant", fe.refs[0]) &&
	      has_file("dom5/grant", fe.refs[1]));
	CHECK_EQ_INT(count_files("dom5/page"), pages + NPAGES);
	CHECK(has_file("dom5/evtchn", fe.port));
	CHECK(has_file("dom0/evtchn", be.port));

	CHECK(run_cmd(&be, BE_NODE "/test-cmd", "unmap", &err));
	CHECK_EQ_INT(err, 0);
	CHECK(!has_file("dom0/evtchn", be.port));
	CHECK(run_cmd(&fe, FE_NODE "/test-cmd", "ungrant", &err));
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_INT(count_files("dom5/grant"), grants);
	CHECK_EQ_INT(count_files("dom5/page"), pages);
	CHECK(run_cmd(&fe, FE_NODE "/test-cmd", "free", &err));
	CHECK_EQ_INT(err, 0);
	CHECK(!has_file("dom5/evtchn", fe.port));
	bus_down(&hfe, &bfe);
	bus_down(&hbe, &bbe);
	CHECK_EQ_INT(count_files("dom0/evtchn"), ports0);
}

/*
 * The frontend ungrants while the backend maps: refused and kept.  Then
 * the backend's device goes away (its node removed) with its map and
 * port left to the bus, which releases them; then the frontend's, whose
 * port and (now unmapped) deferred grants go with it.  The buses stay up
 * meanwhile: closing a plat would release everything anyway.
 */
static void test_ring_busy_and_forgotten(void)
{
	int err, grants, pages, ports0, ports5;
	char ping[8];

	CHECK(ensure_daemon());
	grants = count_files("dom5/grant");
	pages = count_files("dom5/page");
	ports0 = count_files("dom0/evtchn");
	ports5 = count_files("dom5/evtchn");
	CHECK(connect_pair());
	CHECK(count_files("dom0/evtchn") == ports0 + 1);
	CHECK(run_cmd(&fe, FE_NODE "/test-cmd", "ungrant", &err));
	CHECK_EQ_INT(err, -EBUSY);
	CHECK(has_file("dom5/grant", fe.refs[0]) &&
	      has_file("dom5/grant", fe.refs[1]));
	/* The backend still reads the frontend's page (the grant stayed). */
	pthread_mutex_lock(&be.lock);
	memcpy(ping, be.ring + PLAT_PAGE_SIZE, sizeof(ping));
	pthread_mutex_unlock(&be.lock);
	CHECK_EQ_STR(ping, "ping");

	CHECK(xstore_rm_tree(hq, XSTORE_TXN_NONE, BE_NODE) == 0);
	CHECK(files_become("dom0/evtchn", ports0));
	CHECK(has_file("dom5/grant", fe.refs[0]));
	CHECK(xstore_rm_tree(hq, XSTORE_TXN_NONE, FE_NODE) == 0);
	CHECK(files_become("dom5/grant", grants));
	CHECK(files_become("dom5/page", pages));
	CHECK(files_become("dom5/evtchn", ports5));
	bus_down(&hbe, &bbe);
	bus_down(&hfe, &bfe);
}

/* A failing helper reports through dev_fatal: error node, Closing. */
static void test_ring_failure_reported(void)
{
	char *text = NULL;
	int err;

	CHECK(connect_pair());
	CHECK(run_cmd(&be, BE_NODE "/test-cmd", "badmap", &err));
	CHECK_EQ_INT(err, -ENOENT);
	CHECK_EQ_INT(
	    xstore_read(hq, XSTORE_TXN_NONE,
	                "/local/domain/0/error/backend/vring/5/0/error", &text,
	                NULL),
	    0);
	CHECK(text && !strncmp(text, "2 ", 2)); /* ENOENT */
	free(text);
	text = NULL;
	CHECK_EQ_INT(
	    xstore_read(hq, XSTORE_TXN_NONE, BE_NODE "/state", &text, NULL), 0);
	CHECK_EQ_STR(text, "5"); /* Closing */
	free(text);
	bus_down(&hbe, &bbe); /* first: then nothing maps the grants */
	bus_down(&hfe, &bfe);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_ring_orderly),
    CHECK_TEST(test_ring_busy_and_forgotten),
    CHECK_TEST(test_ring_failure_reported),
};

CHECK_MAIN(tests)
