/*
 * options.c - xstored's command line (see options.h).
 *
 * Options are ours plus Xen 4.17 xenstored's letters where they mean
 * something here, so that Xen's init scripts can start xstored as they
 * start xenstored; those of Xen's that cannot mean what Xen means are
 * refused with the reason (exit 2) rather than ignored.  Messages go to
 * stderr: nothing is logging yet.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/version.h"
#include "common/xalloc.h"
#include "daemon/options.h"
#include "daemon/update.h"
#include "store/quota.h"

enum {
	OPT_RUNDIR = 0x100,
	OPT_LOG_FILE,
	OPT_LOG_LEVEL,
	OPT_VERSION,
	OPT_CONN_OUT_MAX,
	OPT_EVENTS_MAX,
	OPT_PLATFORM,
	OPT_WRITE_RATE,
	OPT_POLL_US,
	OPT_LOG_MAX_SIZE,
	OPT_EVENTS_TOTAL_MAX,
	OPT_LOG_SYSLOG,
	OPT_MASTER_DOMID,
	OPT_PRIV_DOMID,
	OPT_TRACE_CONTROL,
	OPT_EVENT,
	OPT_STATE_DIR,
	OPT_NO_PERSIST,
	OPT_SYNC,
	OPT_COMPACT_MIN,
	OPT_LU_FD,
	OPT_LU_ERROR,
	OPT_STATE_FORMAT,
	OPT_TEST_STATE_FORMAT,
};

static const struct option long_opts[] = {
    {"rundir", required_argument, NULL, OPT_RUNDIR},
    {"foreground", no_argument, NULL, 'f'},
    {"no-fork", no_argument, NULL, 'N'},
    {"pid-file", required_argument, NULL, 'F'},
    {"trace-file", required_argument, NULL, 'T'},
    {"entry-nb", required_argument, NULL, 'E'},
    {"entry-size", required_argument, NULL, 'S'},
    {"watch-nb", required_argument, NULL, 'W'},
    {"transaction", required_argument, NULL, 't'},
    {"perm-nb", required_argument, NULL, 'A'},
    {"path-max", required_argument, NULL, 'M'},
    {"quota", required_argument, NULL, 'Q'},
    {"quota-soft", required_argument, NULL, 'q'},
    {"timeout", required_argument, NULL, 'w'},
    {"internal-db", optional_argument, NULL, 'I'},
    {"no-recovery", no_argument, NULL, 'R'},
    {"verbose", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'H'},
    {"log-file", required_argument, NULL, OPT_LOG_FILE},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"conn-out-max", required_argument, NULL, OPT_CONN_OUT_MAX},
    {"events-max", required_argument, NULL, OPT_EVENTS_MAX},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"write-rate", required_argument, NULL, OPT_WRITE_RATE},
    {"poll-us", required_argument, NULL, OPT_POLL_US},
    {"log-max-size", required_argument, NULL, OPT_LOG_MAX_SIZE},
    {"events-total-max", required_argument, NULL, OPT_EVENTS_TOTAL_MAX},
    {"log-syslog", no_argument, NULL, OPT_LOG_SYSLOG},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"no-persist", no_argument, NULL, OPT_NO_PERSIST},
    {"sync", no_argument, NULL, OPT_SYNC},
    {"compact-min", required_argument, NULL, OPT_COMPACT_MIN},
    {"live-update-fd", required_argument, NULL, OPT_LU_FD},
    {"live-update-error", required_argument, NULL, OPT_LU_ERROR},
    {"state-format", no_argument, NULL, OPT_STATE_FORMAT},
    {"test-state-format", required_argument, NULL, OPT_TEST_STATE_FORMAT},
    /* Xen 4.17's, for its init scripts. */
    {"no-domain-init", no_argument, NULL, 'D'},
    {"output-pid", no_argument, NULL, 'P'},
    {"keep-orphans", no_argument, NULL, 'K'},
    {"live-update", no_argument, NULL, 'U'},
    {"master-domid", required_argument, NULL, OPT_MASTER_DOMID},
    {"priv-domid", required_argument, NULL, OPT_PRIV_DOMID},
    {"trace-control", required_argument, NULL, OPT_TRACE_CONTROL},
    {"event", required_argument, NULL, OPT_EVENT},
    {NULL, 0, NULL, 0},
};
static const char short_opts[] = ":fNF:T:E:S:W:t:A:M:Q:q:w:I::RVHhDPKU";

static void usage(FILE *f)
{
	fprintf(
	    f, "Usage: xstored [OPTION]...\n"
	       "The xstore XenStore daemon.\n\n"
	       "  --rundir DIR            sockets in DIR (default: "
	       "$XENSTORED_RUNDIR, else\n"
	       "                          /var/run/xenstored as root, else "
	       "$XDG_RUNTIME_DIR/xstored,\n"
	       "                          else /tmp/xstored-UID)\n"
	       "  -f, --foreground        do not daemonise (also -N, "
	       "--no-fork)\n"
	       "  -F, --pid-file FILE     write the pid to FILE\n"
	       "  --log-file FILE         log to FILE (default: stderr; "
	       "DIR/xstored.log\n"
	       "                          when daemonised)\n"
	       "  --log-max-size BYTES    past it, the log file moves to "
	       "FILE.1 and starts\n"
	       "                          afresh (default 16 MiB; 0: no "
	       "bound)\n"
	       "  --log-syslog            log to syslog (facility daemon); the "
	       "default when\n"
	       "                          daemonised by systemd without "
	       "--log-file\n"
	       "  --log-level LEVEL       err, warning, info or debug\n"
	       "  -V, --verbose           --log-level debug\n"
	       "  -T, --trace-file FILE   trace every request and reply (to "
	       "the log file;\n"
	       "                          FILE is the log file unless "
	       "--log-file is given)\n"
	       "  -E, --entry-nb N        nodes per domain\n"
	       "  -S, --entry-size N      bytes per node\n"
	       "  -W, --watch-nb N        watches per domain\n"
	       "  -t, --transaction N     transactions per domain\n"
	       "  -A, --perm-nb N         permissions per node\n"
	       "  -M, --path-max N        relative path length (max 2048)\n"
	       "  -Q, --quota WHAT=N      hard quota WHAT (transaction-nodes, "
	       "memory,\n"
	       "                          outstanding, nodes, node-size, "
	       "watches, ...)\n"
	       "  -q, --quota-soft WHAT=N soft quota: a warning only\n"
	       "  -w, --timeout watch-event=SECONDS\n"
	       "                          discard watch events undelivered "
	       "that long (0: never)\n"
	       "  --conn-out-max BYTES    output queued per connection before "
	       "its reads stop\n"
	       "  --events-max N          undelivered watch events per "
	       "connection\n"
	       "  --events-total-max BYTES\n"
	       "                          undelivered watch events in all "
	       "(default 32 MiB);\n"
	       "                          past it the biggest queue loses its "
	       "oldest first\n"
	       "  --platform SPEC         guests' platform: sim, sim:DIR, xen "
	       "or none\n"
	       "                          (default: sim, at $XSIM_DIR or "
	       "/var/run/xenstored/sim, if it exists)\n"
	       "  --write-rate N[/BURST]  changes per second per guest "
	       "(default 200/1000; 0: no limit)\n"
	       "  --poll-us N             after busy turns, poll up to N "
	       "microseconds before\n"
	       "                          sleeping (adaptive; default 50; "
	       "0: never)\n"
	       "  --state-dir DIR         keep the journal of the state in DIR "
	       "(default: the\n"
	       "                          run directory); a restart loads it "
	       "back\n"
	       "  --no-persist            keep no journal: a restart starts "
	       "empty\n"
	       "  --sync                  fdatasync the journal before each "
	       "reply\n"
	       "  --compact-min BYTES     journal size that makes a snapshot "
	       "due (default 8M)\n"
	       "  -P, --output-pid        print the daemon's pid (alone) on "
	       "standard output\n"
	       "\nFor Xen 4.17's init scripts:\n"
	       "  -I, --internal-db[=on|off], -R, --no-recovery, -D, "
	       "--no-domain-init\n"
	       "                          accepted, no effect (the store is "
	       "in memory; dom0\n"
	       "                          is served on the sockets)\n"
	       "  --trace-control=[+|-]SWITCH\n"
	       "                          io: the -T trace of requests and "
	       "replies (on);\n"
	       "                          obj, wrl, acc, tdb: accepted, "
	       "nothing to trace\n"
	       "  --master-domid 0, --priv-domid 0\n"
	       "                          accepted; other domains are "
	       "refused (xstored runs\n"
	       "                          in dom0, and only dom0 is "
	       "privileged)\n"
	       "  -K, --keep-orphans      refused: a dead domain's nodes are "
	       "always removed\n"
	       "  -U, --live-update       refused: the running daemon "
	       "gives its successor\n"
	       "                          --live-update-fd (see CONTROL "
	       "live-update)\n"
	       "  --state-format          print the live update's state "
	       "format, and exit\n"
	       "  --event PORT            refused: for a xenstore stub domain "
	       "only\n"
	       "\n  -H, -h, --help          this help\n"
	       "  --version               print the version and the "
	       "platforms built in\n"
	       "\nUnder systemd: READY=1 / STATUS= / STOPPING=1 to "
	       "$NOTIFY_SOCKET, and the\n"
	       "listening sockets from $LISTEN_FDS (socket activation).\n"
	       "Signals: TERM/INT stop cleanly, HUP reopens the log.\n"
	       "Exit status: 0, 1 (failure), 2 (usage error).\n");
}

/* A usage error: name it, hint, and give the exit status 2. */
static int bad_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("xstored: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'xstored --help' for more information.\n", stderr);
	return 2;
}

static int parse_ulong(const char *opt, const char *s, unsigned long max,
                       unsigned long *out);

/* An option of Xen's that we do not implement: say why, exit status 2
 * (the init script that passed it must be changed, not retried). */
static int unsupported(const char *opt, const char *why)
{
	fprintf(stderr, "xstored: %s is not supported: %s\n", opt, why);
	return 2;
}

/* --trace-control=[+|-]SWITCH with Xen 4.17's switch names; only "io"
 * (requests and replies) has anything to trace here. */
static int parse_trace_control(const char *arg, struct opts *o)
{
	static const char *const known[] = {"obj", "io", "wrl", "acc", "tdb"};
	bool on = arg[0] != '-';
	const char *name = arg[0] == '+' || arg[0] == '-' ? arg + 1 : arg;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (strcmp(name, known[i]) != 0)
			continue;
		if (strcmp(name, "io") == 0)
			o->is_io_untraced = !on;
		return 0;
	}
	return bad_usage("unknown trace switch '%s' for --trace-control "
	                 "(obj, io, wrl, acc, tdb)",
	                 arg);
}

/* --master-domid/--priv-domid: Xen's stub-domain set-ups name another
 * domain; only 0 means what it means here. */
static int parse_domid_opt(const char *opt, const char *arg)
{
	unsigned long v;
	int rc = parse_ulong(opt, arg, 0x7fef, &v);

	if (rc || v == 0)
		return rc;
	return unsupported(opt, "xstored runs in domain 0 and treats only "
	                        "domain 0 as privileged (no other value "
	                        "than 0)");
}

static int parse_ulong(const char *opt, const char *s, unsigned long max,
                       unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return bad_usage("invalid number '%s' for %s", s, opt);
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return bad_usage("invalid number '%s' for %s", s, opt);
	if (errno == ERANGE || v > max)
		return bad_usage("number '%s' too large for %s", s, opt);
	*out = v;
	return 0;
}

/* "WHAT=N" for -Q/-q: a quota_find() name and a number. */
static int parse_quota(const char *opt, const char *arg, struct quota_set *q)
{
	const char *eq = strchr(arg, '=');
	char name[64];
	unsigned long v;
	int id, rc;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name))
		return bad_usage("expected WHAT=N for %s, got '%s'", opt, arg);
	memcpy(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	id = quota_find(name);
	if (id < 0)
		return bad_usage("unknown quota '%s' for %s", name, opt);
	rc = parse_ulong(opt, eq + 1, ULONG_MAX, &v);
	if (rc)
		return rc;
	q->v[id] = v;
	return 0;
}

static int parse_timeout(const char *arg, struct daemon_config *cfg)
{
	static const char what[] = "watch-event=";
	unsigned long secs;
	int rc;

	if (strncmp(arg, what, sizeof(what) - 1) != 0)
		return bad_usage("unknown timeout '%s' for %s (known: "
		                 "watch-event)",
		                 arg, "--timeout");
	rc = parse_ulong("--timeout", arg + sizeof(what) - 1, UINT_MAX / 1000,
	                 &secs);
	if (rc)
		return rc;
	cfg->watch_event_timeout_ms = (unsigned int)(secs * 1000);
	return 0;
}

static int parse_level(const char *arg, int *level)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
	    {"err", LOG_ERR},         {"error", LOG_ERR},
	    {"warning", LOG_WARNING}, {"warn", LOG_WARNING},
	    {"notice", LOG_NOTICE},   {"info", LOG_INFO},
	    {"debug", LOG_DEBUG},
	};

	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		if (strcmp(arg, levels[i].name) == 0) {
			*level = levels[i].level;
			return 0;
		}
	}
	return bad_usage("invalid level '%s' for %s (err, warning, info, "
	                 "debug)",
	                 arg, "--log-level");
}

/* An absolute copy of `path` (we chdir("/") when daemonising). */
static char *abs_path(const char *path)
{
	char cwd[PATH_MAX];
	char *s;
	size_t n;

	if (path[0] == '/')
		return xstrdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	n = strlen(cwd) + 1 + strlen(path) + 1;
	s = xmalloc(n);
	if (s)
		snprintf(s, n, "%s/%s", cwd, path);
	return s;
}

/* Replace *dst by an absolute copy of `src`.  0, or exit status 1. */
int options_set_path(char **dst, const char *src)
{
	char *s = abs_path(src);

	if (!s) {
		fprintf(stderr, "xstored: cannot resolve path '%s'\n", src);
		return 1;
	}
	xfree(*dst);
	*dst = s;
	return 0;
}

/* Option `c` with argument `arg`.  0, or the exit status. */
static int apply_opt(int c, const char *arg, struct daemon_config *cfg,
                     struct opts *o)
{
	static const struct {
		int opt;
		const char *name;
		enum quota_id id;
	} quota_opts[] = {
	    {'E', "--entry-nb", QUOTA_NODES},
	    {'S', "--entry-size", QUOTA_NODE_SIZE},
	    {'W', "--watch-nb", QUOTA_WATCHES},
	    {'t', "--transaction", QUOTA_TRANSACTIONS},
	    {'A', "--perm-nb", QUOTA_PERMS},
	    {'M', "--path-max", QUOTA_PATH_MAX},
	};
	unsigned long v;
	int rc;

	for (size_t i = 0; i < sizeof(quota_opts) / sizeof(quota_opts[0]);
	     i++) {
		if (quota_opts[i].opt != c)
			continue;
		rc = parse_ulong(quota_opts[i].name, arg, ULONG_MAX, &v);
		/* As Xen: a longer path limit than the protocol's is cut. */
		if (!rc && c == 'M' && v > XS_REL_PATH_MAX)
			v = XS_REL_PATH_MAX;
		if (!rc)
			cfg->quota.v[quota_opts[i].id] = v;
		return rc;
	}
	switch (c) {
	case OPT_RUNDIR:
		return options_set_path(&o->rundir, arg);
	case 'f':
	case 'N':
		cfg->foreground = true;
		return 0;
	case 'F':
		return options_set_path(&o->pid_file, arg);
	case 'T':
		return options_set_path(&o->trace_file, arg);
	case OPT_LOG_FILE:
		return options_set_path(&o->log_file, arg);
	case 'Q':
		return parse_quota("--quota", arg, &cfg->quota);
	case 'q':
		return parse_quota("--quota-soft", arg, &cfg->quota_soft);
	case 'w':
		return parse_timeout(arg, cfg);
	case 'I':
		if (arg && strcmp(arg, "on") && strcmp(arg, "off"))
			return bad_usage("--internal-db takes on or off, not "
			                 "'%s'",
			                 arg);
		return 0; /* Xen compatibility: the database is always ours */
	case 'R':
	case 'D':
		return 0; /* Xen compatibility: nothing to do here */
	case 'P':
		o->is_output_pid = true;
		return 0;
	case 'K':
		return unsupported(
		    "-K/--keep-orphans",
		    "the nodes of a domain that is gone are always removed, "
		    "so that a new domain given its id cannot inherit them "
		    "(XSA-322)");
	case 'U':
		return unsupported(
		    "-U/--live-update",
		    "in xstored's live update the running daemon hands its "
		    "successor the state with --live-update-fd; to update, run "
		    "`xstore control live-update FILE` (or Xen's "
		    "xenstore-control live-update FILE)");
	case OPT_LU_FD:
		rc = parse_ulong("--live-update-fd", arg, INT_MAX, &v);
		if (!rc) {
			o->is_updated = true;
			o->lu_fd = (int)v;
		}
		return rc;
	case OPT_LU_ERROR:
		xfree(o->lu_error);
		o->lu_error = xstrdup(arg);
		return o->lu_error ? 0 : 1;
	case OPT_STATE_FORMAT:
		o->is_print_format = true;
		return 0;
	case OPT_TEST_STATE_FORMAT:
		rc = parse_ulong("--test-state-format", arg, 1000, &v);
		if (!rc)
			o->state_format = (unsigned int)v;
		return rc;
	case OPT_EVENT:
		return unsupported("--event",
		                   "it is for a xenstore stub domain, and "
		                   "xstored runs in domain 0");
	case OPT_MASTER_DOMID:
		return parse_domid_opt("--master-domid", arg);
	case OPT_PRIV_DOMID:
		return parse_domid_opt("--priv-domid", arg);
	case OPT_TRACE_CONTROL:
		return parse_trace_control(arg, o);
	case OPT_LOG_SYSLOG:
		o->is_syslog = true;
		return 0;
	case 'V':
		cfg->log_level = LOG_DEBUG;
		return 0;
	case OPT_LOG_LEVEL:
		return parse_level(arg, &cfg->log_level);
	case OPT_CONN_OUT_MAX:
		rc = parse_ulong("--conn-out-max", arg, SIZE_MAX, &v);
		if (!rc)
			cfg->conn_out_max = v;
		return rc;
	case OPT_EVENTS_MAX:
		rc = parse_ulong("--events-max", arg, UINT_MAX, &v);
		if (!rc)
			cfg->conn_events_max = (unsigned int)v;
		return rc;
	case OPT_PLATFORM:
		if (strcmp(arg, "none") && strcmp(arg, "sim") &&
		    strcmp(arg, "xen") && strncmp(arg, "sim:", 4))
			return bad_usage(
			    "--platform: '%s' is not sim, sim:DIR, "
			    "xen or none",
			    arg);
		xfree(o->platform);
		if (strncmp(arg, "sim:", 4)) {
			o->platform = xstrdup(arg);
		} else {
			/* The daemon may chdir("/"): keep DIR absolute. */
			char *dir = abs_path(arg + 4);

			o->platform = dir ? xmalloc(strlen(dir) + 5) : NULL;
			if (o->platform)
				sprintf(o->platform, "sim:%s", dir);
			xfree(dir);
		}
		if (!o->platform) {
			fprintf(stderr, "xstored: out of memory\n");
			return 1;
		}
		return 0;
	case OPT_WRITE_RATE: {
		char *slash = strchr(arg, '/');
		unsigned long burst = 0;

		if (slash)
			*slash = '\0';
		rc = parse_ulong("--write-rate", arg, 1000000, &v);
		if (!rc && slash)
			rc = parse_ulong("--write-rate burst", slash + 1,
			                 10000000, &burst);
		if (!rc) {
			cfg->write_rate = (unsigned int)v;
			if (slash)
				cfg->write_burst = (unsigned int)burst;
		}
		return rc;
	}
	case OPT_STATE_DIR:
		return options_set_path(&o->state_dir, arg);
	case OPT_NO_PERSIST:
		cfg->is_persistent = false;
		return 0;
	case OPT_SYNC:
		cfg->is_sync = true;
		return 0;
	case OPT_COMPACT_MIN:
		rc = parse_ulong("--compact-min", arg, SIZE_MAX, &v);
		if (!rc)
			cfg->compact_min = v;
		return rc;
	case OPT_POLL_US:
		rc = parse_ulong("--poll-us", arg, 1000000, &v);
		if (!rc)
			cfg->poll_us = (unsigned int)v;
		return rc;
	case OPT_EVENTS_TOTAL_MAX:
		rc = parse_ulong("--events-total-max", arg, SIZE_MAX, &v);
		if (!rc)
			cfg->events_total_max = v;
		return rc;
	case OPT_LOG_MAX_SIZE:
		rc = parse_ulong("--log-max-size", arg, ULONG_MAX, &v);
		if (!rc)
			log_set_max_size(v);
		return rc;
	}
	return bad_usage("unhandled option %d", c);
}

/*
 * Parse argv into cfg and o.  Returns -1 to go on, or the exit status
 * (0 after --help/--version, 2 for a usage error).
 */
static int parse_args(int argc, char **argv, struct daemon_config *cfg,
                      struct opts *o)
{
	int c, rc;

	opterr = 0; /* our messages, with the hint */
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) !=
	       -1) {
		const char *opt = argv[optind - 1];

		switch (c) {
		case 'H':
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			/* The platforms: those --platform takes. */
			printf("xstored (xstore) %s\nplatforms: %s\n",
			       XSTORE_VERSION, XSTORE_PLATFORMS);
			return 0;
		case ':':
			return bad_usage("option '%s' needs a value", opt);
		case '?':
			/* The whole usage, as Xen's daemon prints it: an init
			 * script's log then shows what is accepted. */
			if (optopt && optopt < 0x100)
				fprintf(stderr,
				        "xstored: unknown option '-%c'\n\n",
				        optopt);
			else
				fprintf(stderr,
				        "xstored: unknown option '%s'\n\n",
				        opt);
			usage(stderr);
			return 2;
		case 'I':
			/* Xen's "-I off" form: getopt leaves the value as an
			 * argument of its own. */
			if (!optarg && optind < argc &&
			    (!strcmp(argv[optind], "on") ||
			     !strcmp(argv[optind], "off")))
				optarg = argv[optind++];
			rc = apply_opt(c, optarg, cfg, o);
			if (rc)
				return rc;
			break;
		default:
			rc = apply_opt(c, optarg, cfg, o);
			if (rc)
				return rc;
		}
	}
	if (optind < argc)
		return bad_usage("unexpected argument '%s'", argv[optind]);
	return -1;
}

/*
 * The run directory when --rundir is absent: Xen's variable, then Xen's
 * own place for root (so Xen's tools find us with no variable set),
 * then a per-user place.
 */
static int default_rundir(struct opts *o)
{
	const char *env = getenv("XENSTORED_RUNDIR");
	char buf[PATH_MAX];

	if (env && *env)
		return options_set_path(&o->rundir, env);
	if (geteuid() == 0)
		return options_set_path(&o->rundir, "/var/run/xenstored");
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(buf, sizeof(buf), "%s/xstored", env);
	else
		snprintf(buf, sizeof(buf), "/tmp/xstored-%u",
		         (unsigned int)geteuid());
	return options_set_path(&o->rundir, buf);
}

int options_parse(int argc, char **argv, struct daemon_config *cfg,
                  struct opts *o)
{
	int rc = parse_args(argc, argv, cfg, o);

	if (rc >= 0)
		return rc;
	if (o->is_print_format) {
		update_print_format(o->state_format);
		return 0;
	}
	if (!o->rundir && default_rundir(o))
		return 1;
	if (o->is_syslog && o->log_file)
		return bad_usage("--log-syslog and --log-file exclude each "
		                 "other");
	cfg->rundir = o->rundir;
	cfg->pid_file = o->pid_file;
	cfg->log_file = o->log_file;
	cfg->trace_file = o->trace_file;
	cfg->platform = o->platform;
	cfg->state_dir = o->state_dir ? o->state_dir : o->rundir;
	return -1;
}

void options_fini(struct opts *o)
{
	xfree(o->rundir);
	xfree(o->pid_file);
	xfree(o->log_file);
	xfree(o->trace_file);
	xfree(o->platform);
	xfree(o->state_dir);
	xfree(o->lu_error);
	o->lu_error = NULL;
	o->state_dir = NULL;
	o->rundir = o->pid_file = o->log_file = NULL;
	o->trace_file = o->platform = NULL;
}
