/*
 * main.c - xsbench: options, the servers under test, the interleaved
 * runner, and the order of the workloads.
 *
 * The runner owns the measurement method: a case is set up on every
 * server, then each of xb_opts.runs runs gives every server the same
 * measured time in turns of xb_opts.slice seconds (server A, B, C, echo,
 * A, B, ...), so background load falls on all of them alike.  Each run
 * gives op/s and per-op latency percentiles per server; the row reports
 * the median over runs, and each ratio is the median of the per-run
 * ratios (more robust than a ratio of medians on a noisy machine).
 * Where a server's process is known, the CPU it spends (user+system, all
 * threads) is summed over its slices of a run and divided by the run's
 * ops: the cost of the throughput it delivers, median over runs.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"

struct opts xb_opts = {
    .runs = 3,
    .secs = 1.0,
    .slice = 0.1,
    .depth = 32,
    .clients = 16,
    .tx_clients = 8,
    .load_budget = 60,
};

struct result *xb_results;
int xb_nresults;
static int nresults_cap;
static struct server servers[XB_MAX_SERVERS];
static int nservers;

bool workload_wanted(const char *w)
{
	const char *p = xb_opts.only;
	size_t n = strlen(w);

	if (!p)
		return true;
	for (; (p = strstr(p, w)); p += n)
		if ((p == xb_opts.only || p[-1] == ',') &&
		    (p[n] == ',' || !p[n]))
			return true;
	return false;
}

/*
 * The server's process: the echo server's forked child, else the pid or
 * pid file given with --server; -1 if unknown.  Resolved at every call,
 * as a pid file may name a daemon restarted since the last one.
 */
static pid_t server_pid(const struct server *s)
{
	long pid;
	FILE *f;
	char *end;

	if (s->is_echo)
		return s->echo_pid > 0 ? s->echo_pid : -1;
	if (!s->pidarg)
		return -1;
	pid = strtol(s->pidarg, &end, 10);
	if (*end || pid <= 0) { /* a pid file */
		f = fopen(s->pidarg, "r");
		if (!f || fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		if (f)
			fclose(f);
	}
	return pid > 0 ? (pid_t)pid : -1;
}

long server_status_kb(const struct server *s, const char *field)
{
	char path[64], line[256];
	pid_t pid = server_pid(s);
	size_t n = strlen(field);
	long kb = -1;
	FILE *f;

	if (pid < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

long server_rss_kb(const struct server *s)
{
	return server_status_kb(s, "VmRSS");
}

long server_fd_limit(const struct server *s)
{
	char path[64], line[256];
	pid_t pid = server_pid(s);
	long lim = -1;
	FILE *f;

	if (pid < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Max open files %ld", &lim) == 1)
			break;
	fclose(f);
	return lim;
}

long server_fds_open(const struct server *s)
{
	char path[64];
	pid_t pid = server_pid(s);
	struct dirent *e;
	long n = 0;
	DIR *dir;

	if (pid < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/*
 * The process CPU clock of another process (clock_getcpuclockid) is the
 * kernel's own count of on-CPU nanoseconds summed over the whole thread
 * group, exited threads included.  That is the figure of the first field
 * of /proc/PID/task/(each)/schedstat, but in one call and without losing
 * a thread that ends between two readings (the echo server's threads end
 * with their connections).  Where it fails, utime+stime of /proc/PID/stat
 * (fields 14 and 15, all threads) in clock ticks, usually 10 ms (a
 * tenth of a full-mode slice): good only summed over many slices.
 */
double server_cpu(const struct server *s)
{
	pid_t pid = server_pid(s);
	unsigned long long ut, st;
	char path[64], buf[1024], *p;
	struct timespec ts;
	clockid_t clk;
	size_t n;
	FILE *f;

	if (pid < 0)
		return NAN;
	if (!clock_getcpuclockid(pid, &clk) && !clock_gettime(clk, &ts))
		return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (!f)
		return NAN;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Field 2, the name, may hold spaces and parentheses: fields 3 on
	 * follow its last ')'. */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 1,
	           " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	           &ut, &st) != 2)
		return NAN;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct result *results_add(const struct bcase *k, const struct server *s)
{
	struct result *r;
	int j;

	if (xb_nresults == nresults_cap) {
		nresults_cap = nresults_cap ? nresults_cap * 2 : 64;
		xb_results =
		    realloc(xb_results, (size_t)nresults_cap * sizeof(*r));
		if (!xb_results)
			die("out of memory");
	}
	r = &xb_results[xb_nresults++];
	memset(r, 0, sizeof(*r));
	snprintf(r->workload, sizeof(r->workload), "%s", k->workload);
	snprintf(r->name, sizeof(r->name), "%s", k->name);
	snprintf(r->unit, sizeof(r->unit), "%s", k->unit ? k->unit : "op");
	snprintf(r->server, sizeof(r->server), "%s", s->name);
	r->param = k->param;
	r->ops_med = NAN;
	r->p50 = r->p99 = r->ev50 = r->ev99 = r->cpu_us = -1;
	for (j = 0; j < XB_MAX_SERVERS; j++)
		r->ratio[j] = NAN;
	return r;
}

void result_extra(struct result *r, const char *key, double v)
{
	if (r->nx == XB_MAX_EXTRA)
		return;
	snprintf(r->xk[r->nx], sizeof(r->xk[0]), "%s", key);
	r->xv[r->nx++] = v;
}

/* Per-server numbers of each run of a case. */
struct runs {
	double ops[XB_MAX_RUNS], p50[XB_MAX_RUNS], p99[XB_MAX_RUNS];
	double ev50[XB_MAX_RUNS], ev99[XB_MAX_RUNS];
	double cpu[XB_MAX_RUNS]; /* server CPU per op, us */
	double x[XB_MAX_EXTRA];
	double secs;
};

static double pct_or_nan(struct samples *s, double p)
{
	double v = samples_pct(s, p);

	return v < 0 ? NAN : v;
}

/*
 * One slice of a server, and the CPU its process spends in it.  Only its
 * own slices count: what it does while the others are measured (a timer,
 * the end of a busy-poll after its last reply) is not the work of these
 * ops, and would grow with the number of servers.  What is lost is at
 * most one poll's spin per slice.  Every case fits: one server does the
 * work of the ops counted in its slices (workload 8's simulator part runs
 * in xsbench, and the daemon hears of a domain only at its INTRODUCE).
 */
static void slice(struct server *s, const struct bcase *k, struct cstate *st,
                  double secs, struct meas *m)
{
	double cpu0 = server_cpu(s);

	k->step(s, k, st, secs, m);
	m->cpu += server_cpu(s) - cpu0; /* NAN stays NAN */
}

static void measure_runs(struct server *srv, int nsrv, const struct bcase *k,
                         struct cstate *st, struct runs *rs)
{
	static struct meas m[XB_MAX_SERVERS];
	double t, left;
	int run, i, j, x, rot;

	for (run = 0; run < xb_opts.runs; run++) {
		for (i = 0; i < nsrv; i++) {
			m[i].ops = 0;
			m[i].secs = 0;
			samples_clear(&m[i].lat);
			samples_clear(&m[i].ev);
			memset(m[i].x, 0, sizeof(m[i].x));
			m[i].cpu = 0;
		}
		/* Each round starts with the next server, so that no server
		 * always follows the same one (and its after-effects). */
		for (t = 0, rot = run; t < xb_opts.secs - 1e-9;
		     t += xb_opts.slice, rot++) {
			left = xb_opts.secs - t;
			for (j = 0; j < nsrv; j++) {
				i = (j + rot) % nsrv;
				if (!st[i].is_skip)
					slice(&srv[i], k, &st[i],
					      left < xb_opts.slice
					          ? left
					          : xb_opts.slice,
					      &m[i]);
			}
		}
		for (i = 0; i < nsrv; i++) {
			struct runs *r = &rs[i];

			r->ops[run] =
			    m[i].secs > 0 ? (double)m[i].ops / m[i].secs : NAN;
			r->p50[run] = pct_or_nan(&m[i].lat, 50);
			r->p99[run] = pct_or_nan(&m[i].lat, 99);
			r->ev50[run] = pct_or_nan(&m[i].ev, 50);
			r->ev99[run] = pct_or_nan(&m[i].ev, 99);
			r->cpu[run] =
			    m[i].ops ? m[i].cpu * 1e6 / (double)m[i].ops : NAN;
			for (x = 0; x < XB_MAX_EXTRA; x++)
				r->x[x] += m[i].x[x];
			r->secs += m[i].secs;
		}
	}
}

static double med_or_neg(const double *v, int n)
{
	double tmp[XB_MAX_RUNS], r;

	memcpy(tmp, v, (size_t)n * sizeof(*v));
	r = median(tmp, n);
	return isnan(r) ? -1 : r;
}

static void record(struct server *srv, int nsrv, const struct bcase *k,
                   struct cstate *st, struct runs *rs)
{
	double tmp[XB_MAX_RUNS];
	int i, j, run, x, n = xb_opts.runs;

	for (i = 0; i < nsrv; i++) {
		struct result *r;

		if (st[i].is_skip) {
			fprintf(stderr, "  %-8s skipped: %s\n", srv[i].name,
			        st[i].why);
			continue;
		}
		r = results_add(k, &srv[i]);
		r->nruns = n;
		memcpy(r->ops, rs[i].ops, (size_t)n * sizeof(double));
		memcpy(tmp, rs[i].ops, (size_t)n * sizeof(double));
		r->ops_med = median(tmp, n);
		r->p50 = med_or_neg(rs[i].p50, n);
		r->p99 = med_or_neg(rs[i].p99, n);
		r->ev50 = med_or_neg(rs[i].ev50, n);
		r->ev99 = med_or_neg(rs[i].ev99, n);
		r->cpu_us = med_or_neg(rs[i].cpu, n);
		for (j = 0; j < nsrv; j++) {
			if (st[j].is_skip)
				continue;
			for (run = 0; run < n; run++)
				tmp[run] = rs[i].ops[run] / rs[j].ops[run];
			r->ratio[j] = median(tmp, n);
		}
		for (x = 0; x < XB_MAX_EXTRA && k->xnames[x]; x++)
			result_extra(r, k->xnames[x], rs[i].x[x]);
		snprintf(r->note, sizeof(r->note), "%s", st[i].why);
		fprintf(stderr,
		        "  %-8s %12.0f %s/s  p50 %8.1f us  p99 %8.1f us",
		        srv[i].name, r->ops_med, r->unit, r->p50, r->p99);
		if (r->cpu_us >= 0)
			fprintf(stderr, "  cpu %6.1f us/op", r->cpu_us);
		if (r->ev50 >= 0)
			fprintf(stderr, "  event p50 %.1f us", r->ev50);
		fputc('\n', stderr);
	}
}

/* --case takes a comma-separated list of names (write,mix). */
bool case_wanted(const char *name)
{
	const char *p = xb_opts.only_case;
	size_t n = strlen(name);

	if (!p)
		return true;
	for (; *p; p += strcspn(p, ","), p += *p == ',')
		if (strcspn(p, ",") == n && !strncmp(p, name, n))
			return true;
	return false;
}

void run_case(struct server *srv, int nsrv, const struct bcase *k)
{
	static struct runs rs[XB_MAX_SERVERS];
	struct cstate st[XB_MAX_SERVERS];
	int i;

	if (!case_wanted(k->name))
		return;
	fprintf(stderr, "[%s] %s", k->workload, k->name);
	if (k->param >= 0)
		fprintf(stderr, " %ld", k->param);
	fputc('\n', stderr);
	memset(st, 0, sizeof(st));
	memset(rs, 0, sizeof(rs));
	for (i = 0; i < nsrv; i++) {
		st[i].rnd = 0x1234567ull + (uint64_t)i;
		k->setup(&srv[i], k, &st[i]);
	}
	measure_runs(srv, nsrv, k, st, rs);
	/* Skipped servers too: their setup may have got part-way. */
	for (i = 0; i < nsrv; i++)
		if (k->teardown)
			k->teardown(&srv[i], k, &st[i]);
	record(srv, nsrv, k, st, rs);
}

static int parse_list(const char *s, long *v, int max)
{
	char *end;
	int n = 0;

	while (*s && n < max) {
		v[n++] = strtol(s, &end, 10);
		if (end == s || (*end && *end != ','))
			return -1;
		s = *end ? end + 1 : end;
	}
	return n;
}

static void add_server(const char *spec)
{
	struct server *s = &servers[nservers];
	const char *eq = strchr(spec, '=');
	char *colon;

	/* Two places stay for the echo servers. */
	if (!eq || nservers == XB_MAX_SERVERS - 2)
		die("bad --server %s (want NAME=SOCKET[:PID|:PIDFILE])", spec);
	s->name = strndup(spec, (size_t)(eq - spec));
	snprintf(s->path, sizeof(s->path), "%s", eq + 1);
	colon = strchr(s->path, ':');
	if (colon) {
		*colon = '\0';
		s->pidarg = strdup(eq + 1 + (colon - s->path) + 1);
	}
	nservers++;
}

/* --sim NAME=DIR: server NAME serves the simulator at DIR. */
static void set_sim(const char *spec)
{
	const char *eq = strchr(spec, '=');
	int i;

	for (i = 0; eq && i < nservers; i++)
		if (strlen(servers[i].name) == (size_t)(eq - spec) &&
		    !strncmp(servers[i].name, spec, (size_t)(eq - spec))) {
			servers[i].simdir = eq + 1;
			return;
		}
	die("bad --sim %s (want NAME=DIR of a --server given before)", spec);
}

/* --empty-twin NAME: server NAME is workload 7's empty reference. */
static void set_twin(const char *name)
{
	int i;

	for (i = 0; i < nservers; i++)
		if (!strcmp(servers[i].name, name)) {
			servers[i].is_twin = true;
			return;
		}
	die("bad --empty-twin %s (not a --server given before)", name);
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: xsbench [OPTIONS] --server NAME=SOCKET[:PID|:PIDFILE]...\n"
	    "  --server NAME=SOCK[:PID]  a daemon to measure (repeatable; "
	    "the first is\n"
	    "                            the subject of the ratios)\n"
	    "  --sim NAME=DIR            that server's guests live in the "
	    "simulator at DIR\n"
	    "                            (workload 8 creates domains "
	    "there)\n"
	    "  --no-echo                 no built-in echo servers (echo, "
	    "echo-poll)\n"
	    "  --quick                   short runs, small sizes (< 1 "
	    "min)\n"
	    "  --runs N --secs S --slice S   runs per case, measured "
	    "seconds per run\n"
	    "                            per server, interleaving slice\n"
	    "  --workloads LIST          e.g. 1,2,5 (default: all)\n"
	    "  --case LIST               only the cases of these names "
	    "(e.g. write,mix)\n"
	    "  --sizes LIST --watches LIST --idle LIST   workload "
	    "parameters\n"
	    "  --load-budget S           max seconds to load a size, per "
	    "server\n"
	    "  --json FILE --csv FILE    machine-readable results\n"
	    "  --storm-max N             workload 8's scale phase: create N "
	    "domains\n"
	    "                            (10000; quick 200), then destroy "
	    "them\n"
	    "  --storm-peer-max N        at most N on servers without --sim "
	    "(2000)\n"
	    "  --storm-watchers N        @releaseDomain watchers (1000; "
	    "quick 50)\n"
	    "  --keep                    leave /bench in the daemons at the "
	    "end\n"
	    "                            (bench/restart.py restarts them "
	    "loaded)\n");
}

/* --keep: the store stays loaded for whoever runs xsbench. */
static bool is_keep;

enum {
	O_NOECHO = 0x100,
	O_QUICK,
	O_RUNS,
	O_SECS,
	O_SLICE,
	O_WL,
	O_SIZES,
	O_WATCHES,
	O_IDLE,
	O_BUDGET,
	O_JSON,
	O_CSV,
	O_SERVER,
	O_CASE,
	O_SIM,
	O_TWIN,
	O_KEEP,
	O_STORM_MAX,
	O_STORM_PEER_MAX,
	O_STORM_WATCHERS
};

static const struct option long_opts[] = {
    {"server", required_argument, NULL, O_SERVER},
    {"no-echo", no_argument, NULL, O_NOECHO},
    {"sim", required_argument, NULL, O_SIM},
    {"empty-twin", required_argument, NULL, O_TWIN},
    {"quick", no_argument, NULL, O_QUICK},
    {"runs", required_argument, NULL, O_RUNS},
    {"secs", required_argument, NULL, O_SECS},
    {"slice", required_argument, NULL, O_SLICE},
    {"workloads", required_argument, NULL, O_WL},
    {"case", required_argument, NULL, O_CASE},
    {"sizes", required_argument, NULL, O_SIZES},
    {"watches", required_argument, NULL, O_WATCHES},
    {"idle", required_argument, NULL, O_IDLE},
    {"load-budget", required_argument, NULL, O_BUDGET},
    {"json", required_argument, NULL, O_JSON},
    {"csv", required_argument, NULL, O_CSV},
    {"keep", no_argument, NULL, O_KEEP},
    {"storm-max", required_argument, NULL, O_STORM_MAX},
    {"storm-peer-max", required_argument, NULL, O_STORM_PEER_MAX},
    {"storm-watchers", required_argument, NULL, O_STORM_WATCHERS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void set_mode_defaults(void)
{
	static const long sizes[] = {10000, 100000, 1000000};
	static const long watches[] = {1, 1000, 10000};
	static const long idle[] = {0, 100, 1000};

	xb_opts.nsizes = xb_opts.is_quick ? 1 : 3;
	memcpy(xb_opts.sizes, sizes, sizeof(sizes));
	xb_opts.nwatches = xb_opts.is_quick ? 2 : 3;
	memcpy(xb_opts.watches, watches, sizeof(watches));
	xb_opts.nidle = xb_opts.is_quick ? 2 : 3;
	memcpy(xb_opts.idle, idle, sizeof(idle));
	xb_opts.storm_max = xb_opts.is_quick ? 200 : 10000;
	xb_opts.storm_peer_max = xb_opts.is_quick ? 200 : 2000;
	xb_opts.storm_watchers = xb_opts.is_quick ? 50 : 1000;
	if (xb_opts.is_quick) {
		xb_opts.secs = 0.15;
		xb_opts.slice = 0.05;
		xb_opts.load_budget = 10;
	}
}

static void parse_args(int argc, char **argv, bool *is_echo, const char **json,
                       const char **csv)
{
	int opt, i;

	/* --quick sets defaults the other options then override. */
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--quick"))
			xb_opts.is_quick = true;
	set_mode_defaults();
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (opt) {
		case O_SERVER:
			add_server(optarg);
			break;
		case O_TWIN:
			set_twin(optarg);
			break;
		case O_SIM:
			set_sim(optarg);
			break;
		case O_KEEP:
			is_keep = true;
			xb_opts.is_keep = true;
			break;
		case O_NOECHO:
			*is_echo = false;
			break;
		case O_QUICK:
			break;
		case O_RUNS:
			xb_opts.runs = atoi(optarg);
			break;
		case O_SECS:
			xb_opts.secs = atof(optarg);
			break;
		case O_SLICE:
			xb_opts.slice = atof(optarg);
			break;
		case O_WL:
			xb_opts.only = optarg;
			break;
		case O_CASE:
			xb_opts.only_case = optarg;
			break;
		case O_SIZES:
			xb_opts.nsizes = parse_list(optarg, xb_opts.sizes, 8);
			break;
		case O_WATCHES:
			xb_opts.nwatches =
			    parse_list(optarg, xb_opts.watches, 8);
			break;
		case O_IDLE:
			xb_opts.nidle = parse_list(optarg, xb_opts.idle, 8);
			break;
		case O_BUDGET:
			xb_opts.load_budget = atof(optarg);
			break;
		case O_STORM_MAX:
			xb_opts.storm_max = atol(optarg);
			break;
		case O_STORM_PEER_MAX:
			xb_opts.storm_peer_max = atol(optarg);
			break;
		case O_STORM_WATCHERS:
			xb_opts.storm_watchers = atoi(optarg);
			break;
		case O_JSON:
			*json = optarg;
			break;
		case O_CSV:
			*csv = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || xb_opts.runs < 1 || xb_opts.runs > XB_MAX_RUNS ||
	    xb_opts.secs <= 0 || xb_opts.slice <= 0 || xb_opts.nsizes < 0 ||
	    xb_opts.nwatches < 0 || xb_opts.nidle < 0) {
		usage(stderr);
		exit(2);
	}
}

static void raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

int main(int argc, char **argv)
{
	const char *json = NULL, *csv = NULL;
	bool is_echo = true;
	struct server *e = NULL;
	int i, err;

	parse_args(argc, argv, &is_echo, &json, &csv);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/* The blocking echo (the machine's ceiling) and the polling one (the
	 * ceiling with xstored's poll: what the daemon adds is its work). */
	if (is_echo) {
		e = &servers[nservers];
		for (i = 0; i < 2; i++) {
			struct server *es = &servers[nservers++];

			es->name = i ? "echo-poll" : "echo";
			es->is_echo = true;
			snprintf(es->path, sizeof(es->path),
			         "/tmp/xsbench-%s-%d", es->name, (int)getpid());
			es->echo_pid = echo_start(es->path, i == 1);
		}
	}
	if (!nservers)
		die("no server to measure (--server NAME=SOCKET)");
	for (i = 0; i < nservers; i++) {
		servers[i].idx = i;
		err = xc_open(&servers[i].main, servers[i].path);
		if (err)
			die("%s: cannot connect to %s: %s", servers[i].name,
			    servers[i].path, strerror(-err));
		server_prepare(&servers[i]);
	}

	if (workload_wanted("1") || workload_wanted("2"))
		work_basic(servers, nservers);
	if (workload_wanted("3") || workload_wanted("4"))
		work_multi(servers, nservers);
	if (workload_wanted("5"))
		work_watch(servers, nservers);
	if (workload_wanted("6"))
		work_idle(servers, nservers);
	if (workload_wanted("8"))
		work_storm(servers, nservers);
	if (workload_wanted("9"))
		work_ring(servers, nservers);
	if (workload_wanted("7"))
		work_size(servers, nservers);

	for (i = 0; i < nservers; i++) {
		if (!servers[i].is_echo && !is_keep)
			xc_rpc(&servers[i].main, XS_RM, 0, "/bench", NULL,
			       NULL);
		xc_close(&servers[i].main);
	}
	for (i = 0; is_echo && i < 2; i++) {
		kill(e[i].echo_pid, SIGKILL);
		waitpid(e[i].echo_pid, NULL, 0);
		unlink(e[i].path);
	}
	report_table(stdout, servers, nservers);
	if (json && report_json(json, servers, nservers))
		die("cannot write %s", json);
	if (csv && report_csv(csv, servers, nservers))
		die("cannot write %s", csv);
	return 0;
}
