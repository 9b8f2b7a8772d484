/*
 * work_basic.c - the base keys every workload uses, and the single-client
 * request/reply workloads:
 *   1. sequential READ, WRITE (overwrite) and DIRECTORY of 100 children;
 *   2. READs pipelined xb_opts.depth deep (a sliding window);
 *   6. sequential READs of one active client while N idle clients are
 *      connected.
 * One op is one request and its reply; latency is from the write(2) of
 * the request to the parse of its reply.  Workload 1's lib-read is read
 * through libxstore (xstore_read) instead of xsbench's own client: a
 * toolstack's view, with the library's receive thread and its wakeups
 * (on echo servers too: their reply is the request's path).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"
#include "xstore/xstore.h"

#define NKEYS  1000
#define NCHILD 100

static void base_key(long i, char *path, size_t psz, char *val, size_t vsz,
                     void *arg)
{
	(void)arg;
	if (i < NKEYS) {
		snprintf(path, psz, "/bench/r/%ld", i);
		snprintf(val, vsz, "value-%ld", i);
	} else if (i < 2 * NKEYS) {
		snprintf(path, psz, "/bench/wr/%ld", i - NKEYS);
		snprintf(val, vsz, "abcdefgh");
	} else {
		snprintf(path, psz, "/bench/d/child-%ld", i - 2 * NKEYS);
		snprintf(val, vsz, "x");
	}
}

void server_prepare(struct server *s)
{
	if (s->is_echo)
		return;
	/* ENOENT is fine: a fresh daemon. */
	xc_rpc(&s->main, XS_RM, 0, "/bench", NULL, NULL);
	xb_pipeline_write(&s->main, 0, 2 * NKEYS + NCHILD, 32, base_key, NULL,
	                  0);
	s->is_ready = true;
}

/* One sequential op of case `k` (by name) on connection c. */
static void seq_op(struct xconn *c, const char *name, struct cstate *st)
{
	char path[64];
	long i = (long)(xb_rand(&st->rnd) % NKEYS);

	switch (name[0]) {
	case 'r': /* read, idle */
	case 'i':
		snprintf(path, sizeof(path), "/bench/r/%ld", i);
		xc_rpc_ok(c, XS_READ, 0, path, NULL, NULL);
		break;
	case 'w':
		snprintf(path, sizeof(path), "/bench/wr/%ld", i);
		xc_rpc_ok(c, XS_WRITE, 0, path,
		          st->i++ & 1 ? "abcdefgh" : "hgfedcba", NULL);
		break;
	case 'l': { /* lib-read: through libxstore, the handle in st->p */
		char *val;
		int err;

		snprintf(path, sizeof(path), "/bench/r/%ld", i);
		err = xstore_read(st->p, XSTORE_TXN_NONE, path, &val, NULL);
		if (err)
			die("xstore_read %s: %s", path, strerror(-err));
		free(val);
		break;
	}
	default: /* dir */
		xc_rpc_ok(c, XS_DIRECTORY, 0, "/bench/d", NULL, NULL);
		break;
	}
}

static void seq_step(struct server *s, const struct bcase *k, struct cstate *st,
                     double secs, struct meas *m)
{
	double t0 = now(), t = t0, t1;

	do {
		seq_op(&s->main, k->name, st);
		t1 = now();
		samples_add(&m->lat, t1 - t);
		t = t1;
		m->ops++;
	} while (t - t0 < secs);
	m->secs += t - t0;
}

static void lib_setup(struct server *s, const struct bcase *k,
                      struct cstate *st)
{
	struct xstore *h;
	char spec[sizeof(s->path) + 8];
	int err;

	(void)k;
	snprintf(spec, sizeof(spec), "unix:%s", s->path);
	err = xstore_open(spec, 0, &h);
	if (err) {
		st->is_skip = true;
		snprintf(st->why, sizeof(st->why), "xstore_open: %s",
		         strerror(-err));
		return;
	}
	st->p = h;
}

static void lib_teardown(struct server *s, const struct bcase *k,
                         struct cstate *st)
{
	(void)s;
	(void)k;
	xstore_close(st->p);
	st->p = NULL;
}

static void no_setup(struct server *s, const struct bcase *k, struct cstate *st)
{
	(void)s;
	(void)k;
	(void)st;
}

/* Pipelined reads: keep xb_opts.depth requests in flight; each read(2)
 * may bring several replies, answered by as many new requests in one
 * write(2). */
static void pread_step(struct server *s, const struct bcase *k,
                       struct cstate *st, double secs, struct meas *m)
{
	struct xconn *c = &s->main;
	double sent[256], t0 = now(), t = t0;
	int inflight = 0;
	uint32_t id;
	struct xmsg msg;
	char path[64];

	(void)k;
	for (;;) {
		while (inflight < xb_opts.depth && t - t0 < secs) {
			snprintf(path, sizeof(path), "/bench/r/%ld",
			         (long)(xb_rand(&st->rnd) % NKEYS));
			id = xc_queue_str(c, XS_READ, 0, path, NULL);
			sent[id & 255] = t;
			inflight++;
		}
		xc_flush(c);
		if (!inflight)
			break;
		xc_read_some(c);
		t = now();
		while (xc_parse(c, &msg)) {
			if (msg.h.type == XS_WATCH_EVENT)
				continue;
			if (xc_reply_err(&msg))
				die("%s: pipelined READ failed", s->name);
			samples_add(&m->lat, t - sent[msg.h.req_id & 255]);
			inflight--;
			m->ops++;
		}
	}
	m->secs += t - t0;
}

void work_basic(struct server *srv, int nsrv)
{
	static const char *names[] = {"read", "write", "dir"};
	struct bcase k = {
	    .workload = "1",
	    .param = -1,
	    .setup = no_setup,
	    .step = seq_step,
	};
	size_t i;

	if (xb_opts.depth > 128)
		xb_opts.depth = 128;
	if (workload_wanted("1")) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			k.name = names[i];
			k.unit = names[i];
			run_case(srv, nsrv, &k);
		}
		k.name = "lib-read";
		k.unit = "read";
		k.setup = lib_setup;
		k.teardown = lib_teardown;
		run_case(srv, nsrv, &k);
		k.setup = no_setup;
		k.teardown = NULL;
	}
	if (workload_wanted("2")) {
		k.workload = "2";
		k.name = "pread";
		k.unit = "read";
		k.param = xb_opts.depth;
		k.step = pread_step;
		run_case(srv, nsrv, &k);
	}
}

/* ---- workload 6: idle connections ---- */

struct idle {
	int *fds;
	long n;
};

/* One READ on a raw fd, so the server has surely accepted it. */
static int idle_hello(int fd)
{
	char buf[XB_MSG_MAX];
	static const char path[] = "/bench/r/0";
	struct xs_wire_hdr h = {XS_READ, 1, 0, sizeof(path)};
	size_t have = 0, need = XS_HDR_SIZE;
	ssize_t n;

	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), path, sizeof(path));
	if (write(fd, buf, sizeof(h) + sizeof(path)) !=
	    (ssize_t)(sizeof(h) + sizeof(path)))
		return -EIO;
	while (have < need) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n <= 0)
			return -EIO;
		have += (size_t)n;
		if (have >= XS_HDR_SIZE) {
			memcpy(&h, buf, sizeof(h));
			need = XS_HDR_SIZE + h.len;
		}
	}
	return 0;
}

static void idle_setup(struct server *s, const struct bcase *k,
                       struct cstate *st)
{
	struct idle *d = calloc(1, sizeof(*d));
	long i;

	if (!d || !(d->fds = calloc((size_t)k->param + 1, sizeof(int))))
		die("out of memory");
	st->p = d;
	for (i = 0; i < k->param; i++) {
		d->fds[i] = xc_connect(s->path);
		if (d->fds[i] < 0 || idle_hello(d->fds[i]) < 0) {
			snprintf(st->why, sizeof(st->why),
			         "only %ld idle connections accepted", i);
			st->is_skip = true;
			if (d->fds[i] >= 0)
				close(d->fds[i]);
			break;
		}
		d->n++;
	}
}

static void idle_teardown(struct server *s, const struct bcase *k,
                          struct cstate *st)
{
	struct idle *d = st->p;
	long i;

	(void)s;
	(void)k;
	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		close(d->fds[i]);
	free(d->fds);
	free(d);
	st->p = NULL;
}

void work_idle(struct server *srv, int nsrv)
{
	struct bcase k = {
	    .workload = "6",
	    .name = "idle",
	    .unit = "read",
	    .setup = idle_setup,
	    .step = seq_step,
	    .teardown = idle_teardown,
	};
	int i;

	for (i = 0; i < xb_opts.nidle; i++) {
		k.param = xb_opts.idle[i];
		run_case(srv, nsrv, &k);
	}
}
