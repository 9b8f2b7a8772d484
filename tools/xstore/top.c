/*
 * top.c - "xstore top": the daemon's per-domain counters (CONTROL
 * domstats) as a live table refreshed in place, like top(1), or as one
 * snapshot (--once) in text or JSON for scripts.
 *
 * Requests per second need two samples: the rate is the difference of
 * the request counters over the time between them (a domain seen only
 * once has none yet).  The screen is redrawn with two ANSI sequences
 * (cursor home, clear to end), no curses; on a terminal the alternate
 * screen is used and left again, cursor shown, on exit and on SIGINT or
 * SIGTERM.  Our own CONTROL requests count among domain 0's.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tools/tool.h"
#include "tools/xstore/cli.h"

/* The counters of a domstats line, in its order. */
enum key {
	K_NODES,
	K_MEMORY,
	K_WATCHES,
	K_TXNS,
	K_OUTSTANDING,
	K_REQUESTS,
	K_REFUSED,
	K_REFUSED_QUOTA,
	K_REFUSED_PERM,
	K_THROTTLED,
	K_COUNT,
};

static const char *const key_names[K_COUNT] = {
    "nodes",    "memory",  "watches",       "transactions", "outstanding",
    "requests", "refused", "refused_quota", "refused_perm", "throttled",
};

struct row {
	unsigned int domid;
	uint64_t v[K_COUNT];
	double rate; /* requests/s, < 0: not known yet */
};

struct snap {
	uint64_t total[K_COUNT];
	unsigned long domains, conns;
	double rate; /* daemon-wide requests/s, < 0: not known yet */
	struct row *rows;
	size_t n, cap;
	double at; /* monotonic seconds */
};

/* What to sort by: a counter, the rate or the domid. */
#define SORT_DOMID (-1)
#define SORT_RATE  (-2)

struct top {
	struct cli *c;
	bool is_once, is_json, is_tty;
	double delay;
	unsigned long iterations; /* 0: until interrupted */
	int sort;
	bool is_screen_set; /* the terminal needs restoring */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- reading domstats ---- */

static int key_find(const char *name, size_t len)
{
	for (int i = 0; i < K_COUNT; i++)
		if (strlen(key_names[i]) == len &&
		    !strncmp(key_names[i], name, len))
			return i;
	return -1;
}

/*
 * The " k=v k=v" rest of a line into v[] (unknown keys are skipped: a
 * newer daemon may say more); "domains" and "connections" into *domains
 * and *conns when given.  -EPROTO on a malformed pair.
 */
static int parse_pairs(const char *p, uint64_t *v, unsigned long *domains,
                       unsigned long *conns)
{
	while (*p) {
		const char *eq, *end;
		uint64_t val;
		char *num_end;
		int k;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		eq = strchr(p, '=');
		end = strchr(p, ' ');
		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end)
			return -EPROTO;
		errno = 0;
		val = strtoull(eq + 1, &num_end, 10);
		if (errno || num_end != end || num_end == eq + 1)
			return -EPROTO;
		k = key_find(p, (size_t)(eq - p));
		if (k >= 0)
			v[k] = val;
		else if (domains && (size_t)(eq - p) == 7 &&
		         !strncmp(p, "domains", 7))
			*domains = (unsigned long)val;
		else if (conns && (size_t)(eq - p) == 11 &&
		         !strncmp(p, "connections", 11))
			*conns = (unsigned long)val;
		p = end;
	}
	return 0;
}

static int snap_add_row(struct snap *s, unsigned int domid, const char *rest)
{
	struct row *r;

	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct row *v = realloc(s->rows, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->rows = v;
		s->cap = cap;
	}
	r = &s->rows[s->n];
	memset(r, 0, sizeof(*r));
	r->domid = domid;
	r->rate = -1.0;
	if (parse_pairs(rest, r->v, NULL, NULL))
		return -EPROTO;
	s->n++;
	return 0;
}

/*
 * One page of domstats into s; *next gets the domid of the next page, or
 * -1 when this was the last.
 */
static int parse_page(struct snap *s, char *text, long *next)
{
	char *line, *save = NULL;

	*next = -1;
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long v;
		char *end;
		int err;

		if (!strncmp(line, "total ", 6)) {
			err = parse_pairs(line + 6, s->total, &s->domains,
			                  &s->conns);
		} else if (!strncmp(line, "domain ", 7)) {
			v = strtoul(line + 7, &end, 10);
			if (end == line + 7 || v > XS_DOMID_MAX ||
			    (*end && *end != ' '))
				return -EPROTO;
			err = snap_add_row(s, (unsigned int)v, end);
		} else if (!strncmp(line, "more ", 5)) {
			v = strtoul(line + 5, &end, 10);
			if (end == line + 5 || *end || v > XS_DOMID_MAX)
				return -EPROTO;
			*next = (long)v;
			err = 0;
		} else {
			err = 0; /* a line a newer daemon added */
		}
		if (err)
			return err;
	}
	return 0;
}

static int snap_take(struct top *t, struct snap *s)
{
	char first[24]; /* a long in decimal, sign and nul */
	long next = 0;
	int err;

	s->n = 0;
	s->rate = -1.0;
	do {
		const char *argv[2] = {"domstats", first};
		char *ans = NULL;

		snprintf(first, sizeof(first), "%ld", next);
		err = xstore_control(t->c->h, argv, 2, &ans);
		if (err)
			return err;
		err = parse_page(s, ans, &next);
		free(ans);
		if (err)
			return err;
	} while (next >= 0);
	s->at = now_s();
	return 0;
}

static const struct row *row_find(const struct snap *s, unsigned int domid)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rows[i].domid == domid)
			return &s->rows[i];
	return NULL;
}

static double rate_of(uint64_t now, uint64_t before, double dt)
{
	return now >= before && dt > 0 ? (double)(now - before) / dt : -1.0;
}

/* Rates of `s` against the earlier sample `prev`. */
static void snap_rates(struct snap *s, const struct snap *prev)
{
	double dt = s->at - prev->at;

	s->rate = rate_of(s->total[K_REQUESTS], prev->total[K_REQUESTS], dt);
	for (size_t i = 0; i < s->n; i++) {
		const struct row *p = row_find(prev, s->rows[i].domid);

		s->rows[i].rate =
		    p ? rate_of(s->rows[i].v[K_REQUESTS], p->v[K_REQUESTS], dt)
		      : -1.0;
	}
}

static int row_cmp(const void *a, const void *b, void *arg)
{
	const struct row *x = a, *y = b;
	int sort_key = *(const int *)arg;

	if (sort_key == SORT_RATE && x->rate != y->rate)
		return x->rate < y->rate ? 1 : -1;
	if (sort_key >= 0 && x->v[sort_key] != y->v[sort_key])
		return x->v[sort_key] < y->v[sort_key] ? 1 : -1;
	return x->domid < y->domid ? -1 : x->domid > y->domid;
}

/* ---- output ---- */

static void print_rate(FILE *f, int width, double rate)
{
	if (rate < 0)
		fprintf(f, "%*s", width, "-");
	else
		fprintf(f, "%*.1f", width, rate);
}

static void json_num_or_null(FILE *f, double v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%.2f", v);
}

static void print_json(FILE *f, const struct snap *s, double interval)
{
	fprintf(f, "{\"interval\": ");
	json_num_or_null(f, interval);
	fprintf(f, ", \"total\": {\"domains\": %lu, \"connections\": %lu",
	        s->domains, s->conns);
	for (int k = 0; k < K_COUNT; k++)
		fprintf(f, ", \"%s\": %" PRIu64, key_names[k], s->total[k]);
	fprintf(f, ", \"requests_per_s\": ");
	json_num_or_null(f, s->rate);
	fprintf(f, "}, \"domains\": [");
	for (size_t i = 0; i < s->n; i++) {
		const struct row *r = &s->rows[i];

		fprintf(f, "%s{\"domid\": %u", i ? ", " : "", r->domid);
		for (int k = 0; k < K_COUNT; k++)
			fprintf(f, ", \"%s\": %" PRIu64, key_names[k], r->v[k]);
		fprintf(f, ", \"requests_per_s\": ");
		json_num_or_null(f, r->rate);
		fprintf(f, "}");
	}
	fprintf(f, "]}\n");
}

/* Each line of a frame ends clearing the rest of the terminal's line. */
static const char *eol(const struct top *t)
{
	return t->is_tty ? "\033[K\n" : "\n";
}

/*
 * The text table; at most `max_rows` domain rows (0: all), the rest
 * summed up in one line.
 */
static void print_text(const struct top *t, const struct snap *s,
                       double interval, size_t max_rows)
{
	FILE *f = stdout;
	const uint64_t *v = s->total;
	size_t n = max_rows && s->n > max_rows ? max_rows : s->n;

	if (interval > 0)
		fprintf(f, "xstore top: rates over %.1f s", interval);
	else
		fprintf(f, "xstore top: rates after the next sample");
	fprintf(f, "%s", eol(t));
	fprintf(f,
	        "domains %lu  connections %lu  nodes %" PRIu64
	        "  memory %" PRIu64 "  watches %" PRIu64
	        "  transactions %" PRIu64 "  outstanding %" PRIu64 "%s",
	        s->domains, s->conns, v[K_NODES], v[K_MEMORY], v[K_WATCHES],
	        v[K_TXNS], v[K_OUTSTANDING], eol(t));
	fprintf(f, "requests %" PRIu64 " (", v[K_REQUESTS]);
	if (s->rate < 0)
		fprintf(f, "-");
	else
		fprintf(f, "%.1f", s->rate);
	fprintf(f,
	        "/s)  refused %" PRIu64 " (quota %" PRIu64 ", perm %" PRIu64
	        ")  throttled %" PRIu64 "%s%s",
	        v[K_REFUSED], v[K_REFUSED_QUOTA], v[K_REFUSED_PERM],
	        v[K_THROTTLED], eol(t), eol(t));
	fprintf(f, "%6s %8s %10s %7s %5s %6s %8s %10s %7s%s", "DOMID", "NODES",
	        "MEMORY", "WATCHES", "TXNS", "OUTST", "REQ/S", "REQUESTS",
	        "REFUSED", eol(t));
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &s->rows[i];

		fprintf(f,
		        "%6u %8" PRIu64 " %10" PRIu64 " %7" PRIu64 " %5" PRIu64
		        " %6" PRIu64 " ",
		        r->domid, r->v[K_NODES], r->v[K_MEMORY],
		        r->v[K_WATCHES], r->v[K_TXNS], r->v[K_OUTSTANDING]);
		print_rate(f, 8, r->rate);
		fprintf(f, " %10" PRIu64 " %7" PRIu64 "%s", r->v[K_REQUESTS],
		        r->v[K_REFUSED], eol(t));
	}
	if (n < s->n)
		fprintf(f, "(%zu more domains)%s", s->n - n, eol(t));
}

/* Rows that fit the terminal below the header (0: no limit). */
static size_t screen_rows(const struct top *t)
{
	struct winsize ws;

	if (!t->is_tty || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) ||
	    ws.ws_row < 8)
		return 0;
	return (size_t)ws.ws_row - 7;
}

static void screen_restore(struct top *t)
{
	if (!t->is_screen_set)
		return;
	/* Cursor shown, alternate screen left. */
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	t->is_screen_set = false;
}

static void screen_set(struct top *t)
{
	if (!t->is_tty)
		return;
	fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout);
	t->is_screen_set = true;
}

/* Sleep `secs` or until a signal; false once asked to stop. */
static bool pause_for(double secs)
{
	struct timespec ts = {(time_t)secs,
	                      (long)((secs - (double)(time_t)secs) * 1e9)};

	while (!stop_signal && nanosleep(&ts, &ts) && errno == EINTR)
		;
	return !stop_signal;
}

static void show(struct top *t, struct snap *s, double interval)
{
	qsort_r(s->rows, s->n, sizeof(*s->rows), row_cmp, &t->sort);
	if (t->is_json) {
		print_json(stdout, s, interval);
	} else {
		if (t->is_screen_set)
			fputs("\033[H", stdout);
		print_text(t, s, interval, screen_rows(t));
		if (t->is_screen_set)
			fputs("\033[J", stdout);
		else if (!t->is_once)
			fputs("\n", stdout);
	}
	fflush(stdout);
}

static int run(struct top *t)
{
	struct snap a = {0}, b = {0}, *cur = &a, *prev = &b, *tmp;
	unsigned long done = 0;
	int err;

	err = snap_take(t, prev);
	if (!err && t->is_once) {
		if (pause_for(t->delay))
			err = snap_take(t, cur);
		if (!err && !stop_signal) {
			snap_rates(cur, prev);
			show(t, cur, cur->at - prev->at);
		}
		goto out;
	}
	if (err)
		goto out;
	if (!t->is_json)
		screen_set(t);
	show(t, prev, -1.0);
	for (done = 1; !t->iterations || done < t->iterations; done++) {
		if (!pause_for(t->delay))
			break;
		err = snap_take(t, cur);
		if (err)
			break;
		snap_rates(cur, prev);
		show(t, cur, cur->at - prev->at);
		tmp = prev;
		prev = cur;
		cur = tmp;
	}
out:
	screen_restore(t);
	free(a.rows);
	free(b.rows);
	if (err)
		warnx("top: CONTROL domstats: %s%s", strerror(-err),
		      err == -EINVAL ? " (does the daemon have domstats?)"
		                     : "");
	return err ? 1 : 0;
}

static void top_usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "Usage: %s top [--once] [--json] [-d SECONDS] [-n ITERATIONS] "
	        "[--sort KEY]\n"
	        "\n"
	        "Per-domain use of the store (CONTROL domstats), refreshed in "
	        "place\n"
	        "until Ctrl-C; requests/s from the change of the request "
	        "counters.\n"
	        "\n"
	        "  --once          one snapshot: two samples -d apart "
	        "(default 0.5 s)\n"
	        "  --json          JSON, one object per sample and line\n"
	        "  -d, --delay S   seconds between samples (default 2)\n"
	        "  -n, --iterations N  stop after N samples\n"
	        "  --sort KEY      domid (default), rate, nodes, memory, "
	        "watches,\n"
	        "                  transactions, outstanding, requests, "
	        "refused\n",
	        argv0);
}

static int parse_sort(const char *s)
{
	if (!strcmp(s, "domid"))
		return SORT_DOMID;
	if (!strcmp(s, "rate"))
		return SORT_RATE;
	return key_find(s, strlen(s)) >= 0 ? key_find(s, strlen(s)) : -100;
}

int top_main(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"once", no_argument, NULL, 'o'},
	    {"json", no_argument, NULL, 'j'},
	    {"delay", required_argument, NULL, 'd'},
	    {"iterations", required_argument, NULL, 'n'},
	    {"sort", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct top t = {.c = c, .delay = -1.0, .sort = SORT_DOMID};
	struct sigaction sa;
	char *end;
	int ch;

	optind = 0; /* our own words, after xstore's options */
	while ((ch = getopt_long(argc, argv, "d:n:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'o':
			t.is_once = true;
			break;
		case 'j':
			t.is_json = true;
			break;
		case 'd':
			t.delay = strtod(optarg, &end);
			if (*end || !(t.delay >= 0.05) || t.delay > 3600)
				errx(1, "top: bad -d %s (0.05 to 3600 s)",
				     optarg);
			break;
		case 'n':
			errno = 0;
			t.iterations = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || !t.iterations)
				errx(1, "top: bad -n %s", optarg);
			break;
		case 's':
			t.sort = parse_sort(optarg);
			if (t.sort == -100)
				errx(1, "top: bad --sort %s", optarg);
			break;
		case 'h':
			top_usage(stdout, c->argv0);
			return 0;
		default:
			top_usage(stderr, c->argv0);
			return 1;
		}
	}
	if (optind != argc) {
		top_usage(stderr, c->argv0);
		return 1;
	}
	if (t.delay < 0)
		t.delay = t.is_once ? 0.5 : 2.0;
	t.is_tty = !t.is_json && !t.is_once && isatty(STDOUT_FILENO);
	cli_connect(c);
	/* No SA_RESTART: the sleep between samples ends at once. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return run(&t);
}
