/*
 * xbtest.c - the "xbtest" split-device driver pair, for the end-to-end
 * tests of lib/xenbus (tests/integration/test_xenbus.py).  One binary:
 *   xbtest front --domid D [--connect SPEC] [--platform SPEC] [options]
 *   xbtest back [--connect SPEC] [--platform SPEC] [options]
 * The frontend grants one page holding its node's `value`, offers an
 * event channel and goes Initialised; the backend maps the page, writes
 * "echo:<value>" into its second half, notifies, records `result` and
 * goes Connected; the frontend, on the event (or on the backend's
 * Connected, whichever comes first), records the reply as its `result`
 * and goes Connected.  Everything is event-driven: no callback waits for
 * the peer.  One line per event on stdout (line-buffered) so tests can
 * wait for lines; fault options make a driver misbehave on purpose.
 * SIGHUP prints the bus's counters (and ours), as the exit does.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* White-box: the bus's own counters (xb_stats_get) for the flap test. */
#include "lib/xenbus/bus_int.h"
#include "xstore/xenbus.h"
#include "xstore/xstore.h"

#define PAGE_SIZE    4096u
#define HALF         (PAGE_SIZE / 2)
#define FLAP_THREADS 4u

struct opts {
	enum xenbus_bus_kind kind;
	int domid;
	const char *connect, *platform, *value;
	bool is_fail_probe, is_exit_when_connected, is_follow_platform;
	int crash_in;       /* -1: never */
	unsigned long flap; /* own-state flips before the handshake */
	long settle_ms;     /* -1: no settle */
	unsigned int shutdown_ms;
};

/* Per device, owned by the bus thread (probe to detach). */
struct xbt_dev {
	void *page;
	uint32_t ref;
	unsigned int port, remote_port; /* remote_port: backend */
	bool has_grant, has_map, has_port, is_connected;
};

static struct opts opt = {
    .domid = -1, .crash_in = -1, .settle_ms = -1, .shutdown_ms = 3000};
static unsigned int n_devices, peak_devices, n_connected;
static pthread_t main_thread;

static void say(const char *what, struct xenbus_device *dev, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

/* "<what> <node>[ <details>]" on stdout, flushed at once. */
static void say(const char *what, struct xenbus_device *dev, const char *fmt,
                ...)
{
	va_list ap;

	flockfile(stdout);
	printf("%s %s", what, dev ? xenbus_dev_node(dev) : "-");
	if (fmt) {
		putchar(' ');
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
	funlockfile(stdout);
}

/* Switch, then die if asked to crash there (a peer lost mid-handshake). */
static int xbt_switch(struct xenbus_device *dev, enum xenbus_devstate s)
{
	int err = xenbus_switch_state(dev, s);

	if (!err)
		say("state", dev, "%s", xenbus_strstate((int)s));
	if (!err && opt.crash_in == (int)s) {
		say("crash", dev, "in %s", xenbus_strstate((int)s));
		_exit(9);
	}
	return err;
}

/* Write dev's `key` (a failure is reported on the device). */
static int xbt_write(struct xenbus_device *dev, const char *key,
                     const char *value)
{
	struct xstore *h = xenbus_bus_xstore(xenbus_dev_bus(dev));
	char *path = xstore_join(xenbus_dev_node(dev), key);
	int err;

	if (!path)
		return -ENOMEM;
	err = xstore_write_str(h, XSTORE_TXN_NONE, path, value);
	free(path);
	if (err)
		xenbus_dev_error(dev, err, "writing %s", key);
	return err;
}

/* Read `dir`/`key` into a malloc'ed string; -errno when missing. */
static int xbt_read(struct xenbus_device *dev, const char *dir, const char *key,
                    char **out)
{
	struct xstore *h = xenbus_bus_xstore(xenbus_dev_bus(dev));
	char *path = xstore_join(dir, key);
	int err;

	if (!path)
		return -ENOMEM;
	err = xstore_read(h, XSTORE_TXN_NONE, path, out, NULL);
	free(path);
	return err;
}

static int xbt_read_uint(struct xenbus_device *dev, const char *dir,
                         const char *key, unsigned int *out)
{
	char *v, *end;
	unsigned long n;
	int err = xbt_read(dev, dir, key, &v);

	if (err)
		return err;
	errno = 0;
	n = strtoul(v, &end, 10);
	err = (errno || end == v || *end || v[0] == '-' || n > 0xffffffffu)
	          ? -EINVAL
	          : 0;
	free(v);
	if (!err)
		*out = (unsigned int)n;
	return err;
}

/* Drop what the device holds; safe to call twice. */
static void xbt_release(struct xenbus_device *dev, struct xbt_dev *x)
{
	if (x->has_port) {
		xenbus_free_evtchn(dev, x->port);
		x->has_port = false;
	}
	if (x->has_map) {
		xenbus_unmap_ring(dev, x->page, 1);
		x->has_map = false;
	}
	if (x->has_grant) {
		xenbus_ungrant_ring(dev, x->page, 1, &x->ref);
		x->has_grant = false;
	}
	x->page = NULL;
	if (x->is_connected) {
		x->is_connected = false;
		n_connected--;
	}
}

static void xbt_close(struct xenbus_device *dev, struct xbt_dev *x)
{
	xbt_release(dev, x);
	if (xenbus_dev_state(dev) != XENBUS_STATE_CLOSED) {
		xbt_switch(dev, XENBUS_STATE_CLOSED);
		say("closed", dev, NULL);
	}
}

static void xbt_connected(struct xenbus_device *dev, struct xbt_dev *x,
                          const char *result)
{
	if (x->is_connected)
		return;
	if (xbt_write(dev, "result", result) ||
	    xbt_switch(dev, XENBUS_STATE_CONNECTED))
		return;
	x->is_connected = true;
	n_connected++;
	say("connected", dev, "result=%s", result);
	if (opt.is_exit_when_connected)
		pthread_kill(main_thread, SIGALRM);
}

/* ---- frontend ---- */

/* The reply, once the backend has written it (nul-terminated in HALF). */
static const char *fe_reply(struct xbt_dev *x)
{
	const volatile char *r = (const volatile char *)x->page + HALF;

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (!x->page || !r[0] || memchr((const void *)r, 0, HALF) == NULL)
		return NULL;
	return (const char *)r;
}

static void fe_check_reply(struct xenbus_device *dev, struct xbt_dev *x)
{
	const char *r = fe_reply(x);

	if (r && !x->is_connected &&
	    xenbus_dev_state(dev) == XENBUS_STATE_INITIALISED)
		xbt_connected(dev, x, r);
}

static void fe_event(struct xenbus_device *dev, unsigned int port, void *arg)
{
	struct xbt_dev *x = xenbus_dev_priv(dev);

	if (x)
		fe_check_reply(dev, x);
}

/* Raw writes of our own state, from several threads for speed. */
struct flap_job {
	struct xstore *h;
	const char *path;
	unsigned long n;
	int err;
};

static void *flap_thread(void *arg)
{
	struct flap_job *j = arg;

	for (unsigned long i = 0; i < j->n && !j->err; i++)
		j->err = xstore_write_str(j->h, XSTORE_TXN_NONE, j->path,
		                          (i & 1) ? "1" : "2");
	return NULL;
}

/*
 * --flap: Initialising <-> InitWait as fast as the store takes it, then
 * Initialising again.  Neither value asks the backend to do anything:
 * what is measured is the backend's cost of being told.
 */
static int fe_flap(struct xenbus_device *dev)
{
	struct flap_job jobs[FLAP_THREADS];
	pthread_t t[FLAP_THREADS];
	char *path = xstore_join(xenbus_dev_node(dev), "state");
	int err = 0;

	if (!path)
		return -ENOMEM;
	for (unsigned int i = 0; i < FLAP_THREADS; i++) {
		jobs[i] = (struct flap_job){
		    .h = xenbus_bus_xstore(xenbus_dev_bus(dev)),
		    .path = path,
		    .n = opt.flap / FLAP_THREADS +
		         (i < opt.flap % FLAP_THREADS ? 1 : 0)};
		if (pthread_create(&t[i], NULL, flap_thread, &jobs[i]))
			jobs[i].n = 0, jobs[i].err = -EAGAIN;
	}
	for (unsigned int i = 0; i < FLAP_THREADS; i++) {
		if (jobs[i].err != -EAGAIN || jobs[i].n)
			pthread_join(t[i], NULL);
		if (jobs[i].err && !err)
			err = jobs[i].err;
	}
	if (!err)
		err = xstore_write_str(xenbus_bus_xstore(xenbus_dev_bus(dev)),
		                       XSTORE_TXN_NONE, path, "1");
	free(path);
	say("flapped", dev, "%lu err=%d", opt.flap, err);
	return err;
}

/* Grant the page, fill it, offer a port, publish both: Initialised. */
static int fe_setup(struct xenbus_device *dev, struct xbt_dev *x)
{
	char *value = NULL, num[16];
	int err;

	err = xenbus_grant_ring(dev, 1, &x->page, &x->ref);
	if (err) {
		xenbus_dev_fatal(dev, err, "granting the ring");
		return err;
	}
	x->has_grant = true;
	/* Ours, else the backend's (xsim device-add puts its key=value
	 * pairs there, as libxl does with backend parameters). */
	if (xbt_read(dev, xenbus_dev_node(dev), "value", &value) &&
	    xbt_read(dev, xenbus_dev_otherend(dev), "value", &value))
		value = NULL;
	snprintf(x->page, HALF, "%s", value ? value : opt.value);
	free(value);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	err = xenbus_alloc_evtchn(dev, &x->port);
	if (err) {
		xenbus_dev_fatal(dev, err, "allocating an event channel");
		return err;
	}
	x->has_port = true;
	err = xenbus_evtchn_set_handler(dev, x->port, fe_event, NULL);
	if (err) {
		xenbus_dev_fatal(dev, err, "handling the event channel");
		return err;
	}
	snprintf(num, sizeof(num), "%u", x->ref);
	err = xbt_write(dev, "ring-ref", num);
	if (err)
		return err;
	snprintf(num, sizeof(num), "%u", x->port);
	err = xbt_write(dev, "event-channel", num);
	if (err)
		return err;
	err = xbt_switch(dev, XENBUS_STATE_INITIALISED);
	if (!err)
		say("initialised", dev, "ref=%u port=%u", x->ref, x->port);
	return err;
}

static void fe_otherend(struct xenbus_device *dev, enum xenbus_devstate s,
                        struct xbt_dev *x)
{
	switch (s) {
	case XENBUS_STATE_CONNECTED:
		fe_check_reply(dev, x);
		break;
	case XENBUS_STATE_CLOSING:
	case XENBUS_STATE_CLOSED:
		xbt_close(dev, x);
		break;
	default:
		break;
	}
}

/* ---- backend ---- */

static void be_connect(struct xenbus_device *dev, struct xbt_dev *x)
{
	const char *fe = xenbus_dev_otherend(dev);
	unsigned int ref, port;
	char *value, *reply;
	int err;

	err = xbt_read_uint(dev, fe, "ring-ref", &ref);
	if (!err)
		err = xbt_read_uint(dev, fe, "event-channel", &port);
	if (err) {
		xenbus_dev_fatal(dev, err, "reading ring-ref/event-channel");
		return;
	}
	/*
	 * Events are merged: an Initialised seen while connected is either
	 * the same handshake again (same ring and port: nothing to do) or a
	 * frontend that set up anew without us seeing its Initialising.
	 */
	if (x->has_map && x->ref == ref && x->remote_port == port)
		return;
	xbt_release(dev, x);
	x->ref = ref;
	x->remote_port = port;
	err = xenbus_map_ring(dev, &x->ref, 1, &x->page);
	if (err) {
		xenbus_dev_fatal(dev, err, "mapping ring-ref %u", ref);
		return;
	}
	x->has_map = true;
	err = xenbus_bind_evtchn(dev, port, &x->port);
	if (err) {
		xenbus_dev_fatal(dev, err, "binding event channel %u", port);
		return;
	}
	x->has_port = true;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	value = strndup(x->page, HALF - 1);
	if (!value) {
		xenbus_dev_fatal(dev, -ENOMEM, "reading the ring");
		return;
	}
	reply = (char *)x->page + HALF;
	snprintf(reply, HALF, "echo:%s", value);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	err = xenbus_evtchn_notify(dev, x->port);
	if (err)
		xenbus_dev_error(dev, err, "notifying port %u", x->port);
	xbt_connected(dev, x, value);
	free(value);
}

static void be_otherend(struct xenbus_device *dev, enum xenbus_devstate s,
                        struct xbt_dev *x)
{
	switch (s) {
	case XENBUS_STATE_INITIALISED:
	case XENBUS_STATE_CONNECTED:
		be_connect(dev, x);
		break;
	case XENBUS_STATE_INITIALISING:
		/*
		 * The reconnect rule (if the bus left it to us), and a
		 * frontend that dropped its ring (resumed): start over.
		 */
		if (xenbus_dev_state(dev) != XENBUS_STATE_INITWAIT) {
			say("reconnect", dev, NULL);
			xbt_release(dev, x);
			xbt_switch(dev, XENBUS_STATE_INITWAIT);
		}
		break;
	case XENBUS_STATE_CLOSING:
	case XENBUS_STATE_CLOSED:
	case XENBUS_STATE_UNKNOWN:
		xbt_close(dev, x);
		break;
	default:
		break;
	}
}

/* ---- the driver ---- */

static int xbt_probe(struct xenbus_device *dev, void *arg)
{
	struct xbt_dev *x;

	say("probe", dev, "otherend=%s", xenbus_dev_otherend(dev));
	if (opt.is_fail_probe)
		return -EIO;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	xenbus_dev_set_priv(dev, x);
	if (++n_devices > peak_devices)
		peak_devices = n_devices;
	return 0;
}

static int xbt_attach(struct xenbus_device *dev, void *arg)
{
	struct xbt_dev *x = xenbus_dev_priv(dev);
	int err;

	if (opt.kind == XENBUS_BACKEND)
		return xbt_switch(dev, XENBUS_STATE_INITWAIT);
	if (opt.flap) {
		err = fe_flap(dev);
		if (err)
			return err;
	}
	return fe_setup(dev, x);
}

static void xbt_detach(struct xenbus_device *dev, void *arg)
{
	struct xbt_dev *x = xenbus_dev_priv(dev);

	say("detach", dev, NULL);
	if (!x)
		return;
	xbt_release(dev, x);
	free(x);
	xenbus_dev_set_priv(dev, NULL);
	n_devices--;
}

static void xbt_otherend(struct xenbus_device *dev, enum xenbus_devstate s,
                         void *arg)
{
	struct xbt_dev *x = xenbus_dev_priv(dev);

	say("otherend", dev, "%s", xenbus_strstate((int)s));
	if (!x)
		return;
	if (opt.kind == XENBUS_BACKEND)
		be_otherend(dev, s, x);
	else
		fe_otherend(dev, s, x);
}

static int xbt_suspend(struct xenbus_device *dev, void *arg)
{
	say("suspend", dev, NULL);
	return 0;
}

/* The bus moved us to Initialising: a new ring, a new port. */
static int xbt_resume(struct xenbus_device *dev, void *arg)
{
	struct xbt_dev *x = xenbus_dev_priv(dev);

	say("resume", dev, NULL);
	if (!x)
		return 0;
	xbt_release(dev, x);
	if (opt.kind == XENBUS_BACKEND)
		return 0;
	return fe_setup(dev, x);
}

static const struct xenbus_driver xbt_driver = {
    .type = "xbtest",
    .probe = xbt_probe,
    .attach = xbt_attach,
    .detach = xbt_detach,
    .otherend_changed = xbt_otherend,
    .suspend = xbt_suspend,
    .resume = xbt_resume,
};

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: xbtest front --domid D [options]\n"
	    "       xbtest back [options]\n"
	    "  --connect SPEC        store connection (front: ring:D)\n"
	    "  --platform SPEC       sim, sim:DIR, xen (default sim)\n"
	    "  --domid D             our domain (back: ask the daemon)\n"
	    "  --value V             front: value when the node has none\n"
	    "  --fail-probe          probe returns -EIO\n"
	    "  --crash-in STATE      exit(9) right after switching to STATE\n"
	    "  --flap N              front: flip own state N times first\n"
	    "  --settle-timeout MS   settle after start, print stuck list\n"
	    "  --shutdown-timeout MS on SIGTERM (default 3000)\n"
	    "  --exit-when-connected exit once a device is Connected\n"
	    "  --follow-platform     suspend/resume with our domain's state\n"
	    "Signals: TERM/INT shut down, USR1 suspend, USR2 resume,\n"
	    "HUP print counters.\n");
}

static long num_arg(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max) {
		fprintf(stderr, "xbtest: bad number %s\n", s);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"platform", required_argument, NULL, 'p'},
	    {"domid", required_argument, NULL, 'd'},
	    {"value", required_argument, NULL, 'v'},
	    {"fail-probe", no_argument, NULL, 'F'},
	    {"crash-in", required_argument, NULL, 'C'},
	    {"flap", required_argument, NULL, 'f'},
	    {"settle-timeout", required_argument, NULL, 's'},
	    {"shutdown-timeout", required_argument, NULL, 'S'},
	    {"exit-when-connected", no_argument, NULL, 'x'},
	    {"follow-platform", no_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c;

	opt.value = "hello";
	while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt.connect = optarg;
			break;
		case 'p':
			opt.platform = optarg;
			break;
		case 'd':
			opt.domid = (int)num_arg(optarg, 0x7fef);
			break;
		case 'v':
			opt.value = optarg;
			break;
		case 'F':
			opt.is_fail_probe = true;
			break;
		case 'C':
			opt.crash_in = (int)num_arg(optarg, 8);
			break;
		case 'f':
			opt.flap = (unsigned long)num_arg(optarg, 1L << 30);
			break;
		case 's':
			opt.settle_ms = num_arg(optarg, 1L << 30);
			break;
		case 'S':
			opt.shutdown_ms =
			    (unsigned int)num_arg(optarg, 1L << 30);
			break;
		case 'x':
			opt.is_exit_when_connected = true;
			break;
		case 'P':
			opt.is_follow_platform = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		exit(2);
	}
	if (!strcmp(argv[optind], "front"))
		opt.kind = XENBUS_FRONTEND;
	else if (!strcmp(argv[optind], "back"))
		opt.kind = XENBUS_BACKEND;
	else {
		usage(stderr);
		exit(2);
	}
	if (opt.kind == XENBUS_FRONTEND && opt.domid < 0) {
		fprintf(stderr, "xbtest: front needs --domid\n");
		exit(2);
	}
}

static void print_stuck(const char *what, int err, char *stuck)
{
	if (!err) {
		say(what, NULL, "ok");
		return;
	}
	say(what, NULL, "%s", strerror(-err));
	for (char *l = stuck ? strtok(stuck, "\n") : NULL; l;
	     l = strtok(NULL, "\n"))
		say("stuck", NULL, "%s", l);
	free(stuck);
}

/* Peak figures: what the bus queued and holds, and what we cost. */
static void print_peaks(struct xenbus_bus *bus)
{
	FILE *f = fopen("/proc/self/status", "r");
	struct xb_stats st;
	char line[256];

	xb_stats_get(bus, &st);
	say("stats", NULL,
	    "devices=%u peak_devices=%u otherend_events=%llu "
	    "otherend_delivered=%llu watch_queue_hwm=%u root_queue_hwm=%u",
	    n_devices, peak_devices, (unsigned long long)st.otherend_events,
	    (unsigned long long)st.otherend_delivered, st.watch_queue_hwm,
	    st.root_queue_hwm);
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmHWM:", 6) ||
		    !strncmp(line, "VmRSS:", 6)) {
			line[strcspn(line, "\n")] = '\0';
			say("mem", NULL, "%s", line);
		}
	}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	struct xenbus_bus_opts bo = {0};
	struct xenbus_bus *bus = NULL;
	struct xstore *h = NULL;
	char spec[32], *stuck = NULL;
	sigset_t set;
	int err, sig, status = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv);
	main_thread = pthread_self();
	/* Every thread the library starts inherits the mask: only main
	 * takes the signals, and only in sigwait(). */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGALRM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (!opt.connect && opt.kind == XENBUS_FRONTEND) {
		snprintf(spec, sizeof(spec), "ring:%d", opt.domid);
		opt.connect = spec;
	}
	err = xstore_open(opt.connect, 0, &h);
	if (err) {
		fprintf(stderr, "xbtest: xstore_open %s: %s\n",
		        opt.connect ? opt.connect : "(default)",
		        strerror(-err));
		return 1;
	}
	bo.kind = opt.kind;
	bo.domid = opt.domid;
	bo.platform = opt.platform;
	bo.follow_platform = opt.is_follow_platform;
	err = xenbus_bus_new(h, &bo, &bus);
	if (!err)
		err = xenbus_register(bus, &xbt_driver, NULL);
	if (!err)
		err = xenbus_bus_start(bus);
	if (err) {
		fprintf(stderr, "xbtest: starting the bus: %s\n",
		        strerror(-err));
		xenbus_bus_free(bus);
		xstore_close(h);
		return 1;
	}
	say("started", NULL, "%s domid=%u",
	    opt.kind == XENBUS_BACKEND ? "back" : "front",
	    xenbus_bus_domid(bus));
	if (opt.settle_ms >= 0) {
		err =
		    xenbus_bus_settle(bus, (unsigned int)opt.settle_ms, &stuck);
		print_stuck("settle", err, stuck);
	}
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		if (sig == SIGUSR1) {
			err = xenbus_bus_suspend(bus);
			say("suspended", NULL, "%d", err);
		} else if (sig == SIGUSR2) {
			err = xenbus_bus_resume(bus);
			say("resumed", NULL, "%d", err);
		} else if (sig == SIGHUP) {
			print_peaks(bus);
		} else if (sig == SIGALRM) {
			break;
		} else {
			stuck = NULL;
			err = xenbus_bus_shutdown(bus, opt.shutdown_ms, &stuck);
			print_stuck("shutdown", err, stuck);
			status = err ? 3 : 0;
			break;
		}
	}
	print_peaks(bus);
	xenbus_bus_free(bus);
	xstore_close(h);
	say("exit", NULL, "%d", status);
	return status;
}
