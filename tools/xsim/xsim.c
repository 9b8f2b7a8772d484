/*
 * xsim.c - the simulator's toolstack: create, shut down, destroy and
 * list simulated domains (docs/sim.md), doing on the platform what a
 * hypervisor does and in the store what libxl does.
 *
 * The platform side goes through plat/sim_dom.h (the domain builder) and
 * plat.h; the store side through the daemon's unix socket as dom0
 * (libxstore).  A create that fails halfway undoes what it did.  Exit codes:
 * 0 success, 1 failure, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plat/plat.h"
#include "plat/sim_dom.h"
#include "tools/xsim/home.h"
#include "xstore/xstore.h"

#define DEFAULT_SOCKET    "/var/run/xenstored/socket"
#define DEFAULT_MEMORY_KB 131072ul
#define DEFAULT_TIMEOUT_S 10
#define POLL_INTERVAL_NS  10000000l /* 10 ms */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctx {
	const char *dir;
	const char *socket;
};

static const char usage_text[] =
    "usage: xsim [--dir DIR] [--socket PATH] COMMAND [ARGS]\n"
    "\n"
    "  create DOMID [--name NAME] [--memory KB] [--vcpus N] [--no-store]\n"
    "        make the domain (store page, grant 1, store event channel,\n"
    "        start-info), write its home nodes and introduce it to the\n"
    "        daemon (--no-store: the platform part only)\n"
    "  destroy DOMID [--timeout SECONDS]\n"
    "        mark it dying, remove its nodes, wait until the daemon has\n"
    "        released it (default 10 s), remove it\n"
    "  shutdown DOMID   mark it shut down\n"
    "  list             every domain: id, state, name\n"
    "  start-info DOMID print its start info (store_gfn=, store_evtchn=)\n"
    "\n"
    "  --dir DIR      the sim directory (default: $XSIM_DIR, else "
    "/var/run/xenstored/sim)\n"
    "  --socket PATH  the daemon's socket (default: $XENSTORED_PATH, else\n"
    "                 " DEFAULT_SOCKET ")\n";

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("xsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(xsim --help for usage)\n", stderr);
	return EXIT_USAGE;
}

static int fail(const char *what, unsigned int domid, int err)
{
	fprintf(stderr, "xsim: %s domain %u: %s\n", what, domid,
	        strerror(-err));
	return EXIT_FAIL;
}

static int parse_domid(const char *s, unsigned int *domid)
{
	uint64_t v;

	if (!s || simfs_parse_name_num(s, 0, SIM_DOMID_MAX, &v))
		return -EINVAL;
	*domid = (unsigned int)v;
	return 0;
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max,
                       unsigned long *out)
{
	uint64_t v;

	if (simfs_parse_name_num(s, min, max, &v))
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

/*
 * Connect to the daemon at x->socket; *xs gets the handle (the caller
 * closes it).  The path goes behind "unix:" so that no path is taken for
 * another transport's spec.
 */
static int daemon_connect(const struct ctx *x, struct xstore **xs)
{
	char spec[4096 + 8];
	int n, err;

	n = snprintf(spec, sizeof(spec), "unix:%s", x->socket);
	if (n < 0 || (size_t)n >= sizeof(spec))
		err = -ENAMETOOLONG;
	else
		err = xstore_open(spec, 0, xs);
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

static bool domain_exists(const struct ctx *x, unsigned int domid)
{
	struct sim_dom_info *v;
	bool found = false;
	size_t n;

	if (sim_dom_list(x->dir, &v, &n))
		return false;
	for (size_t i = 0; i < n; i++)
		found = found || v[i].domid == domid;
	free(v);
	return found;
}

static int cmd_create(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"memory", required_argument, NULL, 'm'},
	    {"vcpus", required_argument, NULL, 'c'},
	    {"no-store", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	struct home h = {.memory_kb = DEFAULT_MEMORY_KB, .vcpus = 1};
	char defname[32], uuid[HOME_UUID_LEN + 1];
	struct plat_start_info si;
	bool want_store = true;
	struct xstore *xs = NULL;
	unsigned long v;
	unsigned int other;
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
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return usage_error("create: one DOMID expected");
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
	if (domain_exists(x, h.domid)) {
		fprintf(stderr, "xsim: domain %u already exists (%s)\n",
		        h.domid, strerror(EEXIST));
		return EXIT_FAIL;
	}
	if (is_name_taken(x, h.name, &other)) {
		fprintf(stderr, "xsim: the name '%s' is taken by domain %u\n",
		        h.name, other);
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
	xstore_close(xs);
	return EXIT_OK;
undo:
	xstore_close(xs);
	sim_dom_remove(x->dir, h.domid);
	return EXIT_FAIL;
}

/* Wait until the daemon no longer has `domid`; -ETIMEDOUT after `secs`. */
static int wait_released(struct xstore *xs, unsigned int domid,
                         unsigned long secs)
{
	struct timespec start, now;
	const struct timespec tick = {.tv_nsec = POLL_INTERVAL_NS};

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int is_introduced = xstore_is_introduced(xs, domid);

		if (is_introduced < 0)
			return is_introduced;
		if (!is_introduced)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((unsigned long)(now.tv_sec - start.tv_sec) >= secs)
			return -ETIMEDOUT;
		nanosleep(&tick, NULL);
	}
}

static int one_domid(int argc, char **argv, const char *cmd,
                     unsigned int *domid)
{
	if (optind + 1 != argc)
		return usage_error("%s: one DOMID expected", cmd);
	if (parse_domid(argv[optind], domid))
		return usage_error("bad domid '%s' (0..32751)", argv[optind]);
	return 0;
}

static int cmd_destroy(const struct ctx *x, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"timeout", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long timeout = DEFAULT_TIMEOUT_S;
	struct xstore *xs = NULL;
	int opt, err, rc = EXIT_OK;
	unsigned int domid;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 't')
			return EXIT_USAGE;
		if (parse_ulong(optarg, 0, 3600, &timeout))
			return usage_error("bad --timeout: %s", optarg);
	}
	if ((rc = one_domid(argc, argv, "destroy", &domid)))
		return rc;
	if (domid == 0)
		return usage_error("domain 0 cannot be destroyed");
	err = sim_dom_set_state(x->dir, domid, PLAT_DOM_DYING);
	if (err == -ENOENT) {
		fprintf(stderr, "xsim: no domain %u in %s\n", domid, x->dir);
		return EXIT_FAIL;
	}
	if (err)
		return fail("cannot mark dying", domid, err);
	if (daemon_connect(x, &xs) == 0) {
		err = home_remove(xs, domid);
		if (err) {
			fail("cannot remove the home nodes of", domid, err);
			rc = EXIT_FAIL;
		}
		err = wait_released(xs, domid, timeout);
		if (err) {
			fprintf(stderr,
			        "xsim: the daemon did not release domain %u: "
			        "%s\n",
			        domid, strerror(-err));
			rc = EXIT_FAIL;
		}
		xstore_close(xs);
	} else {
		fprintf(stderr,
		        "xsim: domain %u destroyed without removing "
		        "its home nodes\n",
		        domid);
		rc = EXIT_FAIL;
	}
	err = sim_dom_remove(x->dir, domid);
	if (err && err != -ENOENT)
		return fail("cannot remove", domid, err);
	return rc;
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
    {"create", cmd_create},         {"destroy", cmd_destroy},
    {"shutdown", cmd_shutdown},     {"list", cmd_list},
    {"start-info", cmd_start_info},
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *env = getenv("XENSTORED_PATH");
	struct ctx x = {.dir = sim_dom_default_dir(),
	                .socket = env && *env ? env : DEFAULT_SOCKET};
	int opt;

	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
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
