/*
 * work_multi.c - workloads with many concurrent clients, driven from one
 * thread by poll(2), each client with one request in flight:
 *   3. xb_opts.clients clients, each doing 3 READs (of shared keys) to
 *      1 WRITE (of its own keys), chosen at random;
 *   4. xb_opts.tx_clients clients each running transactions of START,
 *      5 WRITEs, END (commit): on disjoint paths (one subtree per client;
 *      must never conflict) and on overlapping paths (the same 5 keys for
 *      everyone; EAGAINs are counted, and the client starts over).
 * A slice ends when time is up and every client's current op (or
 * transaction) is done, so slices of different servers never overlap.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/xsbench/xsbench.h"

#define MIX_KEYS    100
#define TX_WRITES   5
#define MAX_CLIENTS 256

struct client {
	struct xconn c;
	int idx;
	int step; /* tx: 0 = START sent, 1..5 = WRITE sent, 6 = END sent */
	uint32_t tx;
	double t_op;
	bool is_busy;
	uint64_t rnd;
};

struct multi {
	int n;
	struct client *cl;
	struct pollfd *pfd;
};

static bool is_tx(const struct bcase *k)
{
	return k->workload[0] == '4';
}

static void tx_path(const struct bcase *k, const struct client *cl, int j,
                    char *buf, size_t sz)
{
	if (!strcmp(k->name, "tx-disjoint"))
		snprintf(buf, sz, "/bench/t/d/%d/k%d", cl->idx, j);
	else
		snprintf(buf, sz, "/bench/t/o/k%d", j);
}

/* Queue and send the client's next request (an op's first or next). */
static void send_next(const struct bcase *k, struct client *cl, double t)
{
	char path[64];
	long i;

	if (!is_tx(k)) {
		i = (long)(xb_rand(&cl->rnd) % 1000);
		if (i % 4 == 3) {
			snprintf(path, sizeof(path), "/bench/m/%d/%ld", cl->idx,
			         i % MIX_KEYS);
			xc_queue_str(&cl->c, XS_WRITE, 0, path, "abcdefgh");
		} else {
			snprintf(path, sizeof(path), "/bench/r/%ld", i);
			xc_queue_str(&cl->c, XS_READ, 0, path, NULL);
		}
		cl->t_op = t;
	} else if (cl->step == 0) {
		xc_queue_str(&cl->c, XS_TRANSACTION_START, 0, "", NULL);
		cl->t_op = t;
	} else if (cl->step <= TX_WRITES) {
		tx_path(k, cl, cl->step - 1, path, sizeof(path));
		xc_queue_str(&cl->c, XS_WRITE, cl->tx, path, "abcdefgh");
	} else {
		xc_queue_str(&cl->c, XS_TRANSACTION_END, cl->tx, "T", NULL);
	}
	xc_flush(&cl->c);
	cl->is_busy = true;
}

/* Handle one reply; true when the client's op (or txn) has ended. */
static bool on_reply(const struct bcase *k, struct server *s, struct client *cl,
                     const struct xmsg *m, struct meas *meas)
{
	char num[16];
	int err = xc_reply_err(m);
	size_t len;

	if (!is_tx(k)) {
		if (err)
			die("%s: mixed op failed: %s", s->name, strerror(err));
		return true;
	}
	if (cl->step == TX_WRITES + 1 && err == EAGAIN) {
		meas->x[0]++; /* conflict: start over */
		cl->step = 0;
		return true;
	}
	if (err)
		die("%s: transaction step %d: %s", s->name, cl->step,
		    strerror(err));
	if (cl->step == 0) {
		len = m->h.len < sizeof(num) - 1 ? m->h.len : sizeof(num) - 1;
		memcpy(num, m->body, len);
		num[len] = '\0';
		cl->tx = (uint32_t)strtoul(num, NULL, 10);
	}
	if (cl->step == TX_WRITES + 1) {
		cl->step = 0;
		return true;
	}
	cl->step++;
	return false;
}

static void multi_step(struct server *s, const struct bcase *k,
                       struct cstate *st, double secs, struct meas *m)
{
	struct multi *mu = st->p;
	double t0 = now(), t = t0;
	int i, busy = mu->n;
	struct xmsg msg;
	struct client *cl;

	for (i = 0; i < mu->n; i++)
		send_next(k, &mu->cl[i], t0);
	while (busy) {
		if (poll(mu->pfd, (nfds_t)mu->n, 10000) <= 0)
			die("%s: no reply in 10 s", s->name);
		for (i = 0; i < mu->n; i++) {
			if (!(mu->pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			cl = &mu->cl[i];
			xc_read_some(&cl->c);
			t = now();
			while (xc_parse(&cl->c, &msg)) {
				if (msg.h.type == XS_WATCH_EVENT)
					continue;
				if (!on_reply(k, s, cl, &msg, m)) {
					send_next(k, cl, t);
					continue;
				}
				/* An op ended: a commit, or a conflict. */
				if (!is_tx(k) || cl->step == 0)
					samples_add(&m->lat, t - cl->t_op);
				if (!is_tx(k) || msg.h.type != XS_ERROR)
					m->ops++;
				if (is_tx(k))
					m->x[1]++;
				cl->is_busy = false;
				if (t - t0 < secs) {
					send_next(k, cl, t);
				} else {
					busy--;
				}
			}
		}
	}
	m->secs += t - t0;
}

static void key_mix(long i, char *path, size_t psz, char *val, size_t vsz,
                    void *arg)
{
	(void)arg;
	snprintf(path, psz, "/bench/m/%ld/%ld", i / MIX_KEYS, i % MIX_KEYS);
	snprintf(val, vsz, "abcdefgh");
}

static void key_tx(long i, char *path, size_t psz, char *val, size_t vsz,
                   void *arg)
{
	(void)arg;
	if (i < TX_WRITES)
		snprintf(path, psz, "/bench/t/o/k%ld", i);
	else
		snprintf(path, psz, "/bench/t/d/%ld/k%ld", i / TX_WRITES - 1,
		         i % TX_WRITES);
	snprintf(val, vsz, "abcdefgh");
}

static void multi_setup(struct server *s, const struct bcase *k,
                        struct cstate *st)
{
	struct multi *mu = calloc(1, sizeof(*mu));
	int i, n = (int)k->param, err;

	if (!mu || n < 1 || n > MAX_CLIENTS)
		die("bad client count %d", n);
	mu->cl = calloc((size_t)n, sizeof(*mu->cl));
	mu->pfd = calloc((size_t)n, sizeof(*mu->pfd));
	if (!mu->cl || !mu->pfd)
		die("out of memory");
	st->p = mu;
	/* Keys exist beforehand: every WRITE is an overwrite, so that
	 * disjoint transactions touch no shared parent. */
	if (!s->is_echo)
		xb_pipeline_write(&s->main, 0,
		                  is_tx(k) ? (long)(n + 1) * TX_WRITES
		                           : (long)n * MIX_KEYS,
		                  32, is_tx(k) ? key_tx : key_mix, NULL, 0);
	for (i = 0; i < n; i++) {
		err = xc_open(&mu->cl[i].c, s->path);
		if (err)
			die("%s: connect: %s", s->name, strerror(-err));
		mu->cl[i].idx = i;
		mu->cl[i].rnd = st->rnd + (uint64_t)i * 7919;
		mu->pfd[i].fd = mu->cl[i].c.fd;
		mu->pfd[i].events = POLLIN;
		mu->n++;
	}
}

static void multi_teardown(struct server *s, const struct bcase *k,
                           struct cstate *st)
{
	struct multi *mu = st->p;
	int i;

	(void)s;
	(void)k;
	if (!mu)
		return;
	for (i = 0; i < mu->n; i++)
		xc_close(&mu->cl[i].c);
	free(mu->cl);
	free(mu->pfd);
	free(mu);
	st->p = NULL;
}

void work_multi(struct server *srv, int nsrv)
{
	struct bcase k = {
	    .workload = "3",
	    .name = "mix",
	    .unit = "op",
	    .param = xb_opts.clients,
	    .setup = multi_setup,
	    .step = multi_step,
	    .teardown = multi_teardown,
	};

	if (workload_wanted("3"))
		run_case(srv, nsrv, &k);
	if (!workload_wanted("4"))
		return;
	k.workload = "4";
	k.unit = "txn";
	k.param = xb_opts.tx_clients;
	k.xnames[0] = "eagain";
	k.xnames[1] = "attempts";
	k.name = "tx-disjoint";
	run_case(srv, nsrv, &k);
	k.name = "tx-overlap";
	run_case(srv, nsrv, &k);
}
