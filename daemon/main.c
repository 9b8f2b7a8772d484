/*
 * main.c - the xstored program: options, run directory, daemonising, pid
 * file, signals, and the loop's turn hook.
 *
 * Options are ours plus Xen 4.17 xenstored's letters where they mean
 * something here, so that Xen's init scripts can start xstored as they
 * start xenstored.  Everything that can fail (options, pid file, sockets)
 * is done before forking, so errors reach the terminal and the exit
 * status; the parent waits for the child's "ready" before it exits.
 * Signals arrive through a signalfd in the loop, never in a handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/loop.h"
#include "daemon/sock.h"
#include "store/quota.h"

#define XSTORED_VERSION "0.1.0"

/* The strings of the configuration, owned here (cfg points at them). */
struct opts {
	char *rundir;
	char *pid_file;
	char *log_file;
	char *trace_file;
	char *platform;
	bool is_pid_file_ours; /* written by us: remove on exit */
};

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
    {"internal-db", no_argument, NULL, 'I'},
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
    {NULL, 0, NULL, 0},
};
static const char short_opts[] = ":fNF:T:E:S:W:t:A:M:Q:q:w:IRVHh";

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: xstored [OPTION]...\n"
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
	        "  -I, --internal-db, -R, --no-recovery   accepted for Xen, "
	        "no effect\n"
	        "  -H, -h, --help          this help\n"
	        "  --version               print the version\n"
	        "\nSignals: TERM/INT stop cleanly, HUP reopens the log.\n");
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
static int set_path(char **dst, const char *src)
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
		return set_path(&o->rundir, arg);
	case 'f':
	case 'N':
		cfg->foreground = true;
		return 0;
	case 'F':
		return set_path(&o->pid_file, arg);
	case 'T':
		return set_path(&o->trace_file, arg);
	case OPT_LOG_FILE:
		return set_path(&o->log_file, arg);
	case 'Q':
		return parse_quota("--quota", arg, &cfg->quota);
	case 'q':
		return parse_quota("--quota-soft", arg, &cfg->quota_soft);
	case 'w':
		return parse_timeout(arg, cfg);
	case 'I':
	case 'R':
		return 0; /* Xen compatibility: the database is always ours */
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
			puts("xstored (xstore) " XSTORED_VERSION);
			return 0;
		case ':':
			return bad_usage("option '%s' needs a value", opt);
		case '?':
			if (optopt && optopt < 0x100) {
				char s[3] = {'-', (char)optopt, '\0'};

				return bad_usage("unknown option '%s'", s);
			}
			return bad_usage("unknown option '%s'", opt);
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
		return set_path(&o->rundir, env);
	if (geteuid() == 0)
		return set_path(&o->rundir, "/var/run/xenstored");
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(buf, sizeof(buf), "%s/xstored", env);
	else
		snprintf(buf, sizeof(buf), "/tmp/xstored-%u",
		         (unsigned int)geteuid());
	return set_path(&o->rundir, buf);
}

/* ---- pid file ---- */

static pid_t pid_file_read(const char *path)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

/* Does the pid file name a live xstored (other than us)? */
static bool is_pid_file_live(const char *path)
{
	pid_t pid = pid_file_read(path);
	char comm_path[64], comm[32] = "";
	FILE *f;

	if (pid <= 0 || pid == getpid())
		return false;
	if (kill(pid, 0) < 0 && errno != EPERM)
		return false;
	/* The pid may have been reused by an unrelated process. */
	snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)pid);
	f = fopen(comm_path, "re");
	if (!f)
		return true; /* cannot tell: be safe */
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "xstored", 7) == 0;
}

/* Write our pid atomically (temporary file, then rename). */
static int pid_file_write(const char *path)
{
	char tmp[PATH_MAX], line[32];
	int fd, n, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	if (write(fd, line, (size_t)n) != n)
		err = errno ? -errno : -EIO;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

/* Remove the pid file if it is still ours. */
static void pid_file_remove(const char *path)
{
	if (pid_file_read(path) == getpid())
		unlink(path);
}

/* ---- signals and the loop ---- */

static void signal_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %s: shutting down",
			         strsignal((int)si.ssi_signo));
			d->is_stopping = true;
			loop_stop(l);
			break;
		case SIGHUP: {
			int err = log_reopen();

			if (err)
				log_err("cannot reopen the log: %s",
				        strerror(-err));
			else
				log_info("log reopened");
			break;
		}
		}
	}
}

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

/* Block the signals we take through the signalfd (they stay pending
 * until it exists), and ignore SIGPIPE.  0 or -errno. */
static int signals_block(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	signal_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	return 0;
}

/*
 * The signalfd, watched on the loop.  Only after forking: epoll hears a
 * signalfd through the wait queue of the process that registered it, so
 * one made before fork() would never wake the child's loop.  0 or -errno.
 */
static int signals_watch(struct daemon *d, int *sfd)
{
	sigset_t set;
	int fd, err;

	signal_set(&set);
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = loop_add(d->loop, fd, LOOP_IN, signal_cb, d);
	if (err) {
		close(fd);
		return err;
	}
	*sfd = fd;
	return 0;
}

/* The safe point: write what the turn queued, free what it killed. */
/* What polling cost and saved, so that --poll-us can be judged. */
static void log_poll_stats(const struct loop *l)
{
	struct loop_poll_stats st;

	loop_poll_stats(l, &st);
	log_debug("polling: %llu sleeps saved, %llu polls in vain, %llu sleeps",
	          (unsigned long long)st.poll_hits,
	          (unsigned long long)st.poll_misses,
	          (unsigned long long)st.sleeps);
}

/* Report the rate-limited lines held back (log_limited) now and then,
 * even when nothing else is logged. */
#define LOG_FLUSH_MS 10000u
static void log_flush_cb(struct loop *l, void *arg)
{
	log_limited_flush();
	loop_timer_add(l, LOG_FLUSH_MS, log_flush_cb, arg);
}

static void turn_hook(struct loop *l, void *arg)
{
	struct daemon *d = arg;

	conn_flush_all(d);
	conn_reap(d);
}

/* ---- daemonising ---- */

static void announce(const char *rundir)
{
	printf("xstored: listening on %s/" SOCK_NAME " (read-write) and "
	       "%s/" SOCK_RO_NAME " (read-only)\n",
	       rundir, rundir);
	printf("export XENSTORED_PATH=%s/" SOCK_NAME "\n", rundir);
	fflush(stdout);
}

/*
 * Fork; the parent waits on a pipe for the child's ready byte and exits
 * 0 (after announcing) or 1.  Returns in the child only, with *ready_fd
 * the pipe to write to once started, or -errno before forking.
 */
static int daemonise(const char *rundir, int *ready_fd)
{
	int pfd[2], nullfd;
	pid_t pid;
	char ok;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = errno;

		close(pfd[0]);
		close(pfd[1]);
		return -err;
	}
	if (pid > 0) {
		close(pfd[1]);
		if (read(pfd[0], &ok, 1) == 1) {
			announce(rundir);
			_exit(0);
		}
		fprintf(stderr, "xstored: the daemon failed to start "
		                "(see its log)\n");
		_exit(1);
	}
	close(pfd[0]);
	setsid();
	if (chdir("/") < 0)
		log_warn("chdir /: %s", strerror(errno));
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nullfd >= 0) {
		dup2(nullfd, STDIN_FILENO);
		dup2(nullfd, STDOUT_FILENO);
		dup2(nullfd, STDERR_FILENO);
		if (nullfd > STDERR_FILENO)
			close(nullfd);
	}
	*ready_fd = pfd[1];
	return 0;
}

/* Open the log (--log-file, else stderr) and the trace (-T), each its
 * own file. */
static int logging_setup(const struct daemon_config *cfg, struct opts *o)
{
	int err = log_open(o->log_file, cfg->log_level);

	if (err) {
		fprintf(stderr, "xstored: cannot open log file %s: %s\n",
		        o->log_file, strerror(-err));
		return err;
	}
	if (o->trace_file) {
		err = log_open_trace(o->trace_file);
		if (err) {
			fprintf(stderr,
			        "xstored: cannot open trace file %s: %s\n",
			        o->trace_file, strerror(-err));
			return err;
		}
		log_set_trace(true);
	}
	return 0;
}

/* Daemonised with no log file: DIR/xstored.log, not /dev/null. */
static int default_log(struct daemon_config *cfg, struct opts *o)
{
	char path[PATH_MAX];

	if (cfg->foreground || log_path())
		return 0;
	snprintf(path, sizeof(path), "%s/xstored.log", o->rundir);
	if (set_path(&o->log_file, path))
		return -ENOMEM;
	cfg->log_file = o->log_file;
	return logging_setup(cfg, o);
}

static int run(struct daemon_config *cfg, struct opts *o)
{
	struct daemon d;
	int sfd = -1, err, ready_fd = -1;

	err = signals_block();
	if (err) {
		log_err("cannot block signals: %s", strerror(-err));
		return 1;
	}
	err = daemon_init(&d, cfg);
	if (err) {
		log_err("cannot initialise the daemon: %s", strerror(-err));
		return 1;
	}
	err = sock_listen(&d);
	if (err)
		goto out_sock; /* sock_close is idempotent */
	err = default_log(cfg, o);
	if (err)
		goto out_sock;
	if (!cfg->foreground) {
		err = daemonise(cfg->rundir, &ready_fd);
		if (err) {
			log_err("cannot daemonise: %s", strerror(-err));
			goto out_sock;
		}
	}
	err = signals_watch(&d, &sfd);
	if (err) {
		log_err("cannot watch signals: %s", strerror(-err));
		goto out_sock;
	}
	if (o->pid_file) {
		err = pid_file_write(o->pid_file);
		if (err) {
			log_err("cannot write pid file %s: %s", o->pid_file,
			        strerror(-err));
			goto out_sock;
		}
		o->is_pid_file_ours = true;
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "1", 1) != 1)
			log_warn("cannot tell the parent we started");
		close(ready_fd);
		ready_fd = -1;
	} else {
		announce(cfg->rundir);
	}
	log_info("xstored " XSTORED_VERSION " started (pid %d) in %s",
	         (int)getpid(), cfg->rundir);

	loop_set_turn_hook(d.loop, turn_hook, &d);
	loop_timer_add(d.loop, LOG_FLUSH_MS, log_flush_cb, NULL);
	err = loop_run(d.loop);
	if (err)
		log_err("event loop: %s", strerror(-err));
	else
		log_info("stopped");
	log_poll_stats(d.loop);

out_sock:
	sock_close(&d);
	if (sfd >= 0) {
		loop_del(d.loop, sfd);
		close(sfd);
	}
	daemon_fini(&d);
	if (ready_fd >= 0)
		close(ready_fd); /* the parent reads EOF: failure */
	if (o->is_pid_file_ours)
		pid_file_remove(o->pid_file);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct daemon_config cfg;
	struct opts o = {0};
	int rc;

	daemon_config_defaults(&cfg);
	rc = parse_args(argc, argv, &cfg, &o);
	if (rc >= 0)
		goto out;
	rc = 1;
	if (!o.rundir && default_rundir(&o))
		goto out;
	cfg.rundir = o.rundir;
	cfg.pid_file = o.pid_file;
	cfg.log_file = o.log_file;
	cfg.trace_file = o.trace_file;
	cfg.platform = o.platform;
	if (logging_setup(&cfg, &o))
		goto out;
	if (o.pid_file && is_pid_file_live(o.pid_file)) {
		log_err("pid file %s names a running xstored; not starting",
		        o.pid_file);
		goto out_log;
	}
	rc = run(&cfg, &o);
out_log:
	log_close();
out:
	xfree(o.rundir);
	xfree(o.pid_file);
	xfree(o.log_file);
	xfree(o.trace_file);
	xfree(o.platform);
	return rc;
}
