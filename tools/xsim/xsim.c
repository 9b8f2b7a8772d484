/*
 * xsim.c - the simulator's toolstack: create, shut down, destroy and
 * list simulated domains (docs/sim.md), doing on the platform what a
 * hypervisor does and in the store what libxl does; main() and the
 * helpers every command shares (xsim.h).
 *
 * The platform side goes through plat/sim_dom.h (the domain builder) and
 * plat.h; the store side through the daemon's unix socket as dom0
 * (libxstore).  A create that fails halfway undoes what it did.  Exit codes:
 * 0 success, 1 failure, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <limits.h>

#include "plat/plat.h"
#include "plat/sim_dom.h"
#include "tools/tool.h"
#include "tools/xsim/home.h"
#include "tools/xsim/xsim.h"
#include "xstore/xstore.h"

#define DEFAULT_SOCKET    "/var/run/xenstored/socket"
#define DEFAULT_MEMORY_KB 131072ul
#define POLL_INTERVAL_NS  10000000l /* 10 ms */

static const char usage_text[] =
    "usage: xsim [--dir DIR] [--socket PATH] COMMAND [ARGS]\n"
    "\n"
    "  create DOMID [--name NAME] [--memory KB] [--vcpus N] [--no-store]\n"
    "         [--no-mux]\n"
    "        make the domain (store page, grant 1, store event channel,\n"
    "        start-info), write its home nodes, introduce it to the\n"
    "        daemon and start its multiplexer (xsmux, next to xsim) on\n"
    "        DIR/domD/xenbus (--no-store: the platform part only;\n"
    "        --no-mux: no multiplexer, one process may own the ring)\n"
    "  destroy DOMID [--timeout SECONDS]\n"
    "        mark it dying, remove its nodes and the backends serving it,\n"
    "        wait until the daemon has released it (default 10 s), stop\n"
    "        its multiplexer, remove it\n"
    "  shutdown DOMID   mark it shut down\n"
    "  suspend DOMID [--timeout SECONDS]\n"
    "        ask the guest to suspend (control/shutdown) and wait until\n"
    "        it is \"suspended\" (default 10 s)\n"
    "  resume DOMID     set it running again and send RESUME\n"
    "  list             every domain: id, state, name\n"
    "  start-info DOMID print its start info (store_gfn=, store_evtchn=)\n"
    "  device-add DOMID TYPE [--devid N] [--backend-domid B] [--file IMG]\n"
    "         [KEY=VALUE...]\n"
    "        write a device's frontend, backend (with the KEY=VALUE\n"
    "        pairs; --file IMG: params=IMG, vbd only) and /libxl copy in\n"
    "        one transaction; print the frontend path\n"
    "  device-remove DOMID TYPE DEVID [--force] [--timeout SECONDS]\n"
    "        backend online=0 state=5, wait for its state 6 (default\n"
    "        10 s; --force: do not wait), remove the device\n"
    "  device-list DOMID\n"
    "        one line per device: type devid frontend-state backend-domid\n"
    "        backend-state backend-path\n"
    "\n"
    "  --dir DIR      the sim directory (default: $XSIM_DIR, else "
    "/var/run/xenstored/sim)\n"
    "  --socket PATH  the daemon's socket (default: $XENSTORED_PATH, else\n"
    "                 " DEFAULT_SOCKET ")\n"
    "  -h, --help     this text\n"
    "  -V, --version  version and the platforms built in\n"
    "\n"
    "A daemon that accepts the connection but does not answer within\n"
    "$XSTORE_TIMEOUT seconds (default 2; 0: wait forever) is an error.\n";

int usage_print(void)
{
	fputs(usage_text, stdout);
	return EXIT_OK;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("xsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(xsim --help for usage)\n", stderr);
	return EXIT_USAGE;
}

int fail(const char *what, unsigned int domid, int err)
{
	fprintf(stderr, "xsim: %s domain %u: %s\n", what, domid,
	        strerror(-err));
	return EXIT_FAIL;
}

int parse_domid(const char *s, unsigned int *domid)
{
	uint64_t v;

	if (!s || simfs_parse_name_num(s, 0, SIM_DOMID_MAX, &v))
		return -EINVAL;
	*domid = (unsigned int)v;
	return 0;
}

int parse_ulong(const char *s, unsigned long min, unsigned long max,
                unsigned long *out)
{
	uint64_t v;

	if (simfs_parse_name_num(s, min, max, &v))
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

/*
 * A connection proves little: a stopped daemon's socket still accepts
 * (the kernel's backlog), and every request would then wait forever.  One
 * bounded request that any daemon answers tells; later replies are
 * bounded too, more loosely.  On failure the handle is closed, the reason
 * printed, and -ETIMEDOUT or -ENOTCONN returned.
 */
static int daemon_check(const struct ctx *x, struct xstore *xs)
{
	unsigned int ms = tool_timeout_ms();
	char *path = NULL;
	int err;

	xstore_set_timeout(xs, ms, tool_timeout_later_ms(ms));
	err = xstore_get_domain_path(xs, 0, &path);
	free(path);
	if (err == -ETIMEDOUT)
		fprintf(stderr,
		        "xsim: the daemon at %s does not answer (no reply "
		        "within %u.%03u s; stopped? XSTORE_TIMEOUT=SECONDS "
		        "waits longer)\n",
		        x->socket, ms / 1000, ms % 1000);
	else if (err == -ENOTCONN || err == -ECONNRESET || err == -EPROTO ||
	         err == -ESHUTDOWN || err == -EPIPE)
		fprintf(stderr,
		        "xsim: the daemon at %s closed the connection: %s\n",
		        x->socket, strerror(-err));
	else
		return 0; /* any answer, an error too, shows it alive */
	xstore_close(xs);
	return err == -ETIMEDOUT ? err : -ENOTCONN;
}

/*
 * Connect to the daemon at x->socket; *xs gets the handle (the caller
 * closes it).  The path goes behind "unix:" so that no path is taken for
 * another transport's spec.
 */
int daemon_connect(const struct ctx *x, struct xstore **xs)
{
	char spec[4096 + 8];
	int n, err;

	n = snprintf(spec, sizeof(spec), "unix:%s", x->socket);
	if (n < 0 || (size_t)n >= sizeof(spec))
		err = -ENAMETOOLONG;
	else
		err = xstore_open(spec, 0, xs);
	if (!err)
		err = daemon_check(x, *xs);
	if (err == -ETIMEDOUT || err == -ENOTCONN)
		return err; /* said */
	if (err == -ENOENT || err == -ECONNREFUSED)
		fprintf(stderr,
		        "xsim: the daemon is not running: nothing listens at "
		        "%s (%s)\n",
		        x->socket, strerror(-err));
	else if (err)
		fprintf(stderr,
		        "xsim: cannot connect to the daemon at %s: %s\n",
		        x->socket, strerror(-err));
	return err;
}

int domain_state(const struct ctx *x, unsigned int domid,
                 enum plat_dom_state *st)
{
	struct sim_dom_info di;

	if (sim_dom_info_get(x->dir, domid, &di))
		return -ENOENT;
	if (!di.has_state)
		return -EINVAL;
	*st = di.state;
	return 0;
}

int rm_quiet(struct xstore *xs, xstore_txn_t tx, const char *path)
{
	int err = xstore_rm(xs, tx, path);

	return err == -ENOENT ? 0 : err;
}

static int domain_take_down(const struct ctx *x, struct xstore *xs,
                            unsigned int domid, unsigned long timeout);

/* Is `name` taken by a domain other than `domid`?  Returns that domain. */
static bool is_name_taken(const struct ctx *x, const char *name,
                          unsigned int *owner)
{
	struct sim_dom_info *v;
	bool is_taken = false;
	size_t n;

	if (sim_dom_list(x->dir, &v, &n))
		return false; /* no sim directory yet: nothing is taken */
	for (size_t i = 0; i < n && !is_taken; i++) {
		if (!strcmp(v[i].name, name)) {
			*owner = v[i].domid;
			is_taken = true;
		}
	}
	free(v);
	return is_taken;
}

/*
 * "dom<N>" (N canonical decimal) is domain N's default name, and no
 * other domain may bear it: -1 if `name` is not of that form, else N.
 * So a domain created with its default name (toolstacks and tests
 * mostly) needs no look at every other domain's name (a file read per
 * domain: ~10 ms of CPU per create at 1 000 domains).
 */
static long default_name_of(const char *name)
{
	unsigned int domid;

	if (strncmp(name, "dom", 3) || name[3] < '0' || name[3] > '9')
		return -1;
	if (parse_domid(name + 3, &domid))
		return -2; /* "dom" and digits, but no domid: reserved too */
	return (long)domid;
}

static bool domain_exists(const struct ctx *x, unsigned int domid)
{
	struct sim_dom_info di;

	return sim_dom_info_get(x->dir, domid, &di) == 0;
}

static int cmd_create(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"memory", required_argument, NULL, 'm'},
	    {"vcpus", required_argument, NULL, 'c'},
	    {"no-store", no_argument, NULL, 's'},
	    {"no-mux", no_argument, NULL, 'M'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct home h = {.memory_kb = DEFAULT_MEMORY_KB, .vcpus = 1};
	char defname[32], uuid[HOME_UUID_LEN + 1], mux[PATH_MAX];
	struct plat_start_info si;
	bool want_store = true, want_mux = true;
	struct xstore *xs = NULL;
	unsigned long v;
	unsigned int other;
	long named;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			h.name = optarg;
			break;
		case 'm':
			if (parse_ulong(optarg, 1, 1ul << 40, &h.memory_kb))
				return usage_error("bad --memory: %s", optarg);
			break;
		case 'c':
			if (parse_ulong(optarg, 1, 128, &v))
				return usage_error("bad --vcpus: %s", optarg);
			h.vcpus = (unsigned int)v;
			break;
		case 's':
			want_store = false;
			break;
		case 'M':
			want_mux = false;
			break;
		case 'h':
			return usage_print();
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return usage_error("create: one DOMID expected");
	/* A domain the daemon does not serve has no ring to multiplex. */
	want_mux = want_mux && want_store;
	if (parse_domid(argv[optind], &h.domid) || h.domid == 0)
		return usage_error("create: bad domid '%s' (1..32751)",
		                   argv[optind]);
	if (!h.name) {
		snprintf(defname, sizeof(defname), "dom%u", h.domid);
		h.name = defname;
	}
	if (sim_dom_name_check(h.name))
		return usage_error("create: bad name '%s' (1..64 printable "
		                   "characters)",
		                   h.name);
	named = default_name_of(h.name);
	if (named != -1 && named != (long)h.domid)
		return usage_error("create: the name '%s' is reserved (dom<N> "
		                   "is domain N's default name)",
		                   h.name);
	if (domain_exists(x, h.domid)) {
		fprintf(stderr, "xsim: domain %u already exists (%s)\n",
		        h.domid, strerror(EEXIST));
		return EXIT_FAIL;
	}
	if (named == -1 && is_name_taken(x, h.name, &other)) {
		fprintf(stderr, "xsim: the name '%s' is taken by domain %u\n",
		        h.name, other);
		return EXIT_FAIL;
	}
	if (want_mux && mux_find(mux, sizeof(mux))) {
		fprintf(stderr,
		        "xsim: no multiplexer at %s (build xsmux, or create "
		        "the domain with --no-mux)\n",
		        mux);
		return EXIT_FAIL;
	}
	if (want_store && daemon_connect(x, &xs))
		return EXIT_FAIL;

	err = sim_dom_create(x->dir, h.domid, h.name, &si);
	if (err) {
		xstore_close(xs);
		if (err == -EEXIST)
			fprintf(stderr, "xsim: domain %u already exists (%s)\n",
			        h.domid, strerror(EEXIST));
		else
			fprintf(stderr,
			        "xsim: cannot create domain %u in %s: "
			        "%s\n",
			        h.domid, x->dir, strerror(-err));
		return EXIT_FAIL;
	}
	if (!want_store)
		return EXIT_OK;

	h.store_gfn = si.store_gfn;
	h.store_port = si.store_evtchn;
	err = home_uuid_new(uuid);
	h.uuid = uuid;
	if (!err)
		err = home_write(xs, &h);
	if (err) {
		fail("cannot write the home nodes of", h.domid, err);
		goto undo;
	}
	err = xstore_introduce(xs, h.domid, si.store_gfn, si.store_evtchn);
	if (err) {
		fail("the daemon refused to introduce", h.domid, err);
		if (err == -ENOSYS)
			fprintf(stderr,
			        "xsim: (does the daemon serve the sim "
			        "at %s? xstored --platform sim:%s)\n",
			        x->dir, x->dir);
		home_remove(xs, h.domid);
		goto undo;
	}
	if (want_mux && mux_start(x, mux, h.domid, DEFAULT_TIMEOUT_S)) {
		/* Introduced: take it down as destroy does. */
		domain_take_down(x, xs, h.domid, DEFAULT_TIMEOUT_S);
		xstore_close(xs);
		return EXIT_FAIL;
	}
	xstore_close(xs);
	return EXIT_OK;
undo:
	xstore_close(xs);
	sim_dom_remove(x->dir, h.domid);
	return EXIT_FAIL;
}

/* @releaseDomain events counted, for wait_released on the main thread. */
struct release_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long events;
};

static void on_release(struct xstore *h, struct xstore_watch *w,
                       const char *path, unsigned int flags, void *arg)
{
	struct release_wait *rw = arg;

	pthread_mutex_lock(&rw->lock);
	rw->events++;
	pthread_cond_broadcast(&rw->cond);
	pthread_mutex_unlock(&rw->lock);
}

/*
 * Wait until the daemon no longer has `domid`; -ETIMEDOUT after `secs`.
 * Woken by @releaseDomain, as libxl is (polling every 10 ms made each
 * destroy wait ~10 ms for a release that takes well under one), and
 * looking again every POLL_INTERVAL_NS all the same: the event may be
 * for another domain, and a watch may not be had (no memory).  The
 * watch comes before the first look, so no release falls between.
 */
static int wait_released(struct xstore *xs, unsigned int domid,
                         unsigned long secs)
{
	struct release_wait rw = {PTHREAD_MUTEX_INITIALIZER,
	                          PTHREAD_COND_INITIALIZER, 0};
	struct xstore_watch *w = NULL;
	struct timespec start, now, until;
	unsigned long seen = 0;
	int err;

	if (xstore_watch_add(xs, "@releaseDomain", -1, on_release, &rw, &w))
		w = NULL;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int is_introduced = xstore_is_introduced(xs, domid);

		if (is_introduced <= 0) {
			err = is_introduced;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long)(now.tv_sec - start.tv_sec) >= secs) {
			err = -ETIMEDOUT;
			break;
		}
		/* The condition variable's clock (a jump only shortens or
		 * stretches one look's wait). */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += POLL_INTERVAL_NS;
		if (until.tv_nsec >= 1000000000l) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000l;
		}
		pthread_mutex_lock(&rw.lock);
		while (rw.events == seen &&
		       pthread_cond_timedwait(&rw.cond, &rw.lock, &until) == 0)
			;
		seen = rw.events;
		pthread_mutex_unlock(&rw.lock);
	}
	if (w)
		xstore_watch_remove(xs, w);
	return err;
}

int one_domid(int argc, char **argv, const char *cmd, unsigned int *domid)
{
	if (optind + 1 != argc)
		return usage_error("%s: one DOMID expected", cmd);
	if (parse_domid(argv[optind], domid))
		return usage_error("bad domid '%s' (0..32751)", argv[optind]);
	return 0;
}

/*
 * The end of a domain, in libxl's order: the domain's nodes and the
 * backends serving it, "dying", the daemon's release, its multiplexer,
 * its directory.  The multiplexer's pid is read first: it removes its
 * pid file on its way out.  Returns an exit code (failures reported).
 */
static int domain_take_down(const struct ctx *x, struct xstore *xs,
                            unsigned int domid, unsigned long timeout)
{
	int pidfd = mux_stop_prepare(x, domid);
	int err, rc = EXIT_OK;

	/*
	 * libxl's order: the devices' and the domain's nodes go, then the
	 * domain dies.  The daemon then finds nothing of it left when it
	 * releases it, and need not search the whole tree for nodes it owns
	 * or that name it (XSA-322): marked dying first, every destroy of
	 * one domain cost a walk of every domain's nodes.  The backends
	 * first: libxl's copy of the devices names them, and goes with the
	 * home nodes.
	 */
	err = device_backends_remove(xs, domid);
	if (err) {
		fail("cannot remove the backends serving", domid, err);
		rc = EXIT_FAIL;
	}
	err = home_remove(xs, domid);
	if (err) {
		fail("cannot remove the home nodes of", domid, err);
		rc = EXIT_FAIL;
	}
	err = sim_dom_set_state(x->dir, domid, PLAT_DOM_DYING);
	if (err)
		rc = fail("cannot mark dying", domid, err);
	err = wait_released(xs, domid, timeout);
	if (err) {
		fprintf(stderr,
		        "xsim: the daemon did not release domain %u: %s\n",
		        domid, strerror(-err));
		rc = EXIT_FAIL;
	}
	err = sim_dom_remove(x->dir, domid);
	if (err && err != -ENOENT)
		rc = fail("cannot remove", domid, err);
	mux_stop(pidfd);
	mux_log_remove(x, domid);
	return rc;
}

static int cmd_destroy(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long timeout = DEFAULT_TIMEOUT_S;
	struct xstore *xs = NULL;
	int opt, err, pidfd, rc = EXIT_OK;
	unsigned int domid;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'h')
			return usage_print();
		if (opt != 't')
			return EXIT_USAGE;
		if (parse_ulong(optarg, 0, 3600, &timeout))
			return usage_error("bad --timeout: %s", optarg);
	}
	if ((rc = one_domid(argc, argv, "destroy", &domid)))
		return rc;
	if (domid == 0)
		return usage_error("domain 0 cannot be destroyed");
	if (domain_state(x, domid, &(enum plat_dom_state){0}) == -ENOENT) {
		fprintf(stderr, "xsim: no domain %u in %s\n", domid, x->dir);
		return EXIT_FAIL;
	}
	if (daemon_connect(x, &xs) == 0) {
		rc = domain_take_down(x, xs, domid, timeout);
		xstore_close(xs);
		return rc;
	}
	/* No daemon: the platform side still goes. */
	pidfd = mux_stop_prepare(x, domid);
	err = sim_dom_set_state(x->dir, domid, PLAT_DOM_DYING);
	if (!err || err == -ENOENT)
		err = sim_dom_remove(x->dir, domid);
	if (err && err != -ENOENT)
		fail("cannot remove", domid, err);
	mux_stop(pidfd);
	mux_log_remove(x, domid);
	fprintf(stderr,
	        "xsim: domain %u destroyed without removing its home "
	        "nodes\n",
	        domid);
	return EXIT_FAIL;
}

static int cmd_shutdown(const struct ctx *x, int argc, char **argv)
{
	unsigned int domid;
	int rc, err;

	if (getopt_long(argc, argv, "", (struct option[]){{NULL, 0, NULL, 0}},
	                NULL) != -1)
		return EXIT_USAGE;
	if ((rc = one_domid(argc, argv, "shutdown", &domid)))
		return rc;
	if (domid == 0)
		return usage_error("domain 0 cannot be shut down here");
	err = sim_dom_set_state(x->dir, domid, PLAT_DOM_SHUTDOWN);
	if (err == -ENOENT) {
		fprintf(stderr, "xsim: no domain %u in %s\n", domid, x->dir);
		return EXIT_FAIL;
	}
	return err ? fail("cannot shut down", domid, err) : EXIT_OK;
}

static int cmd_list(const struct ctx *x, int argc, char **argv)
{
	struct sim_dom_info *v;
	size_t n;
	int err;

	if (argc != 1)
		return usage_error("list takes no arguments");
	err = sim_dom_list(x->dir, &v, &n);
	if (err) {
		fprintf(stderr, "xsim: cannot list %s: %s\n", x->dir,
		        strerror(-err));
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		printf("%-6u %-9s %s\n", v[i].domid,
		       v[i].has_state ? simfs_state_name(v[i].state) : "?",
		       v[i].name);
	free(v);
	return EXIT_OK;
}

static int cmd_start_info(const struct ctx *x, int argc, char **argv)
{
	char spec[4096 + 8];
	struct plat_start_info si;
	struct plat *p;
	unsigned int domid;
	int rc, err;

	if (getopt_long(argc, argv, "", (struct option[]){{NULL, 0, NULL, 0}},
	                NULL) != -1)
		return EXIT_USAGE;
	if ((rc = one_domid(argc, argv, "start-info", &domid)))
		return rc;
	snprintf(spec, sizeof(spec), "sim:%s", x->dir);
	err = plat_open(spec, 0, &p);
	if (err) {
		fprintf(stderr, "xsim: cannot open the sim at %s: %s\n", x->dir,
		        strerror(-err));
		return EXIT_FAIL;
	}
	err = plat_start_info(p, domid, &si);
	plat_close(p);
	if (err)
		return fail("no start info for", domid, err);
	printf("store_gfn=%llu\nstore_evtchn=%u\n",
	       (unsigned long long)si.store_gfn, si.store_evtchn);
	return EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(const struct ctx *x, int argc, char **argv);
} commands[] = {
    {"create", cmd_create},
    {"destroy", cmd_destroy},
    {"shutdown", cmd_shutdown},
    {"suspend", cmd_suspend},
    {"resume", cmd_resume},
    {"list", cmd_list},
    {"start-info", cmd_start_info},
    {"device-add", cmd_device_add},
    {"device-remove", cmd_device_remove},
    {"device-list", cmd_device_list},
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *env = getenv("XENSTORED_PATH");
	struct ctx x = {.dir = sim_dom_default_dir(),
	                .socket = env && *env ? env : DEFAULT_SOCKET};
	int opt;

	while ((opt = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			x.dir = optarg;
			break;
		case 's':
			x.socket = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'V':
			tool_version(stdout, "xsim");
			return EXIT_OK;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;

			optind = 0; /* restart getopt on the command's words */
			return commands[i].fn(&x, sub_argc, sub_argv);
		}
	}
	return usage_error("unknown command '%s'", argv[optind]);
}
