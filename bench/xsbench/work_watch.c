/*
 * work_watch.c - workload 5: watch fan-out.
 *
 * A watcher connection watches /bench/w/hot; a registrar connection holds
 * N-1 more watches on unrelated paths (/bench/w/u/A/B, which no event of
 * the hot path can match).  The writer (the main connection) WRITEs the
 * hot path in a loop; an op ends when both the WRITE reply (on the
 * writer) and the WATCH_EVENT (on the watcher) have arrived.  Latency is
 * the WRITE's round trip; event latency is from the write(2) of the
 * request to the parse of the event.  A daemon that checks every event
 * against every watch slows down with N; an index does not.
 * The echo server has no watches: it gets the same WRITEs as plain
 * round trips, the ceiling for the writer.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/xsbench/xsbench.h"

#define HOT "/bench/w/hot"

struct wstate {
	struct xconn watcher, reg;
	bool has_reg;
};

static void watch_queue(struct xconn *c, const char *path, const char *token)
{
	xc_queue(c, XS_WATCH, 0, path, strlen(path) + 1, token,
	         strlen(token) + 1);
}

/* Register watches [0, n) on unrelated paths, 256 in flight. */
static void register_unrelated(struct server *s, struct xconn *c, long n)
{
	char path[64], token[32];
	long sent = 0, done = 0;
	int err;
	struct xmsg m;

	while (done < n) {
		while (sent < n && sent - done < 256) {
			snprintf(path, sizeof(path), "/bench/w/u/%ld/%ld",
			         sent / 100, sent % 100);
			snprintf(token, sizeof(token), "u%ld", sent);
			watch_queue(c, path, token);
			sent++;
		}
		xc_flush(c);
		xc_read_some(c);
		while (xc_parse(c, &m)) {
			if (m.h.type == XS_WATCH_EVENT)
				continue; /* the initial firing */
			err = xc_reply_err(&m);
			if (err)
				die("%s: WATCH %ld: %s", s->name, done,
				    strerror(err));
			done++;
		}
	}
	xc_drain(c, 20);
}

static void watch_setup(struct server *s, const struct bcase *k,
                        struct cstate *st)
{
	struct wstate *w;
	int err;

	if (s->is_echo)
		return;
	w = calloc(1, sizeof(*w));
	if (!w)
		die("out of memory");
	st->p = w;
	xc_rpc_ok(&s->main, XS_WRITE, 0, HOT, "0", NULL);
	err = xc_open(&w->watcher, s->path);
	if (err)
		die("%s: connect: %s", s->name, strerror(-err));
	watch_queue(&w->watcher, HOT, "hot");
	xc_flush(&w->watcher);
	xc_drain(&w->watcher, 20); /* reply and initial event */
	if (k->param > 1) {
		err = xc_open(&w->reg, s->path);
		if (err)
			die("%s: connect: %s", s->name, strerror(-err));
		w->has_reg = true;
		register_unrelated(s, &w->reg, k->param - 1);
	}
}

/* Wait for the writer's reply and the watcher's event. */
static void await_both(struct server *s, struct wstate *w, double t0,
                       struct meas *m)
{
	struct pollfd p[2] = {{.fd = s->main.fd, .events = POLLIN},
	                      {.fd = w->watcher.fd, .events = POLLIN}};
	bool has_reply = false, has_event = false;
	struct xmsg msg;

	for (;;) {
		while (!has_reply && xc_parse(&s->main, &msg)) {
			if (msg.h.type == XS_WATCH_EVENT)
				continue;
			if (xc_reply_err(&msg))
				die("%s: WRITE " HOT " failed", s->name);
			has_reply = true;
			samples_add(&m->lat, now() - t0);
		}
		while (!has_event && xc_parse(&w->watcher, &msg)) {
			if (msg.h.type != XS_WATCH_EVENT)
				continue;
			has_event = true;
			samples_add(&m->ev, now() - t0);
		}
		if (has_reply && has_event)
			return;
		p[0].fd = has_reply ? -1 : s->main.fd;
		p[1].fd = has_event ? -1 : w->watcher.fd;
		if (poll(p, 2, 5000) <= 0)
			die("%s: no %s within 5 s", s->name,
			    has_reply ? "watch event" : "WRITE reply");
		if (p[0].revents)
			xc_read_some(&s->main);
		if (p[1].revents)
			xc_read_some(&w->watcher);
	}
}

static void watch_step(struct server *s, const struct bcase *k,
                       struct cstate *st, double secs, struct meas *m)
{
	struct wstate *w = st->p;
	double t0 = now(), t = t0;

	(void)k;
	do {
		xc_queue_str(&s->main, XS_WRITE, 0, HOT,
		             st->i++ & 1 ? "abcdefgh" : "hgfedcba");
		xc_flush(&s->main);
		if (w) {
			await_both(s, w, t, m);
		} else {
			struct xmsg msg;

			xc_recv(&s->main, &msg);
			samples_add(&m->lat, now() - t);
		}
		t = now();
		m->ops++;
	} while (t - t0 < secs);
	m->secs += t - t0;
}

static void watch_teardown(struct server *s, const struct bcase *k,
                           struct cstate *st)
{
	struct wstate *w = st->p;

	(void)s;
	(void)k;
	if (!w)
		return;
	xc_close(&w->watcher);
	if (w->has_reg)
		xc_close(&w->reg);
	free(w);
	st->p = NULL;
}

void work_watch(struct server *srv, int nsrv)
{
	struct bcase k = {
	    .workload = "5",
	    .name = "watch",
	    .unit = "write",
	    .setup = watch_setup,
	    .step = watch_step,
	    .teardown = watch_teardown,
	};
	int i;

	for (i = 0; i < xb_opts.nwatches; i++) {
		k.param = xb_opts.watches[i];
		run_case(srv, nsrv, &k);
	}
}
