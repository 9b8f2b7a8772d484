/*
 * xsbench.h - what the parts of the xsbench benchmark client share: the
 * raw wire-protocol client connection, latency samples, the servers under
 * test, the case interface that workloads implement, and the results.
 *
 * xsbench measures XenStore daemons over their unix sockets, speaking the
 * protocol directly (no client library in the loop).  Every case runs on
 * every server in short interleaved time slices, so that a noisy machine
 * loads all servers alike and ratios between them stay meaningful.  One
 * thread, no globals beyond the options; nothing here is thread-safe.
 */
#ifndef XSBENCH_H
#define XSBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "xstore/wire.h"

#define XB_MAX_SERVERS 8
#define XB_MAX_RUNS    15
#define XB_MAX_EXTRA   8
#define XB_MSG_MAX     (XS_HDR_SIZE + XS_PAYLOAD_MAX)
#define XB_IN_SIZE     (256u * 1024u)
#define XB_OUT_SIZE    (128u * XB_MSG_MAX)

/* ---- client connection (client.c) ---- */

/* One connection to a server.  Buffers are owned by it. */
struct xconn {
	int fd;
	uint32_t next_id;
	char *in; /* bytes read, parsed from in_off */
	size_t in_have, in_off;
	char *out; /* requests queued, not yet written */
	size_t out_len;
	uint64_t events; /* WATCH_EVENTs skipped by xc_rpc */
};

/* A received message; body (h.len bytes, not nul-terminated) points
 * into the connection's buffer and is valid until its next read. */
struct xmsg {
	struct xs_wire_hdr h;
	char *body;
};

/* xc_connect - a connected socket fd for unix socket `path`, retrying
 * while the server's backlog is full; -errno on failure. */
int xc_connect(const char *path);
/* xc_open - xc_connect with buffers.  0 or -errno. */
int xc_open(struct xconn *c, const char *path);
void xc_close(struct xconn *c);

/* xc_queue - append a request whose payload is p1 (l1 bytes) then p2 (l2
 * bytes); returns its req_id.  Flushes first if the buffer is full. */
uint32_t xc_queue(struct xconn *c, uint32_t type, uint32_t tx, const void *p1,
                  size_t l1, const void *p2, size_t l2);
/* xc_queue_str - payload "a\0" or "a\0b" (b without nul, as WRITE). */
uint32_t xc_queue_str(struct xconn *c, uint32_t type, uint32_t tx,
                      const char *a, const char *b);
void xc_flush(struct xconn *c);

/* xc_parse - take one whole buffered message, if any (no I/O). */
bool xc_parse(struct xconn *c, struct xmsg *m);
/* xc_read_some - one read(2) into the buffer; exits on EOF/error. */
void xc_read_some(struct xconn *c);
/* xc_recv - the next message, blocking. */
void xc_recv(struct xconn *c, struct xmsg *m);

/* xc_rpc - one synchronous request (payload as xc_queue_str); waits for
 * its reply, skipping watch events.  Returns 0 or the positive errno of
 * an XS_ERROR reply; *m (may be NULL) gets the reply. */
int xc_rpc(struct xconn *c, uint32_t type, uint32_t tx, const char *a,
           const char *b, struct xmsg *m);
/* xc_rpc_ok - xc_rpc that must succeed (exit with a message otherwise). */
void xc_rpc_ok(struct xconn *c, uint32_t type, uint32_t tx, const char *a,
               const char *b, struct xmsg *m);
/* xc_drain - discard whatever arrives until `ms` of silence. */
void xc_drain(struct xconn *c, int ms);
/* xc_reply_err - positive errno of an XS_ERROR message, else 0. */
int xc_reply_err(const struct xmsg *m);

/* xb_pipeline_write - write `n` keys made by `key(i, path, value)` with
 * `depth` requests in flight; stops early past `deadline` (now() clock,
 * 0: none).  Returns the number written. */
typedef void xb_key_fn(long i, char *path, size_t psz, char *val, size_t vsz,
                       void *arg);
long xb_pipeline_write(struct xconn *c, long from, long to, int depth,
                       xb_key_fn *key, void *arg, double deadline);

/* ---- samples and time (stats.c) ---- */

/* Per-op latencies in nanoseconds (saturating at ~4.29 s). */
struct samples {
	uint32_t *v;
	size_t n, cap;
};

double now(void);
void samples_add(struct samples *s, double secs);
void samples_clear(struct samples *s);
void samples_free(struct samples *s);
/* samples_pct - the p-th percentile (0..100) in microseconds; -1 if none.
 * Sorts the samples in place. */
double samples_pct(struct samples *s, double p);
double median(double *v, int n); /* NAN if n == 0; sorts v */
uint64_t xb_rand(uint64_t *state);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- servers (main.c, echo.c) ---- */

struct server {
	const char *name;   /* "xstored", "cx", "ox", "echo", "echo-poll" */
	int idx;            /* position in the server array */
	char path[108];     /* socket */
	const char *pidarg; /* pid or pid file; NULL: unknown */
	const char *simdir; /* its guests' simulator directory, or NULL */
	bool is_echo;
	bool is_twin; /* workload 7: a twin daemon kept empty, the reference
	               * that growing daemons are compared with */
	pid_t echo_pid;
	struct xconn main; /* the primary connection, opened at start */
	bool is_ready;     /* base keys written */
};

/* echo_start - fork the echo server on socket `path`; returns its pid.
 * is_polling: after each reply it polls as xstored's loop does. */
pid_t echo_start(const char *path, bool is_polling);
/* server_rss_kb - VmRSS of the server's process in kB, or -1. */
long server_rss_kb(const struct server *s);
/* server_status_kb - the kB field `field` ("RssAnon") of the server's
 * /proc/PID/status, or -1. */
long server_status_kb(const struct server *s, const char *field);
/* server_fd_limit - the server's soft RLIMIT_NOFILE, or -1. */
long server_fd_limit(const struct server *s);
/* server_fds_open - the fds the server's process has open now, or -1. */
long server_fds_open(const struct server *s);
/* server_cpu - user+system CPU seconds used so far by the server's
 * process, all its threads together; NAN if unknown.  Only differences
 * mean anything. */
double server_cpu(const struct server *s);

/* ---- cases and measurements ---- */

/* What one server did in one run of a case. */
struct meas {
	uint64_t ops;
	double secs;
	struct samples lat;     /* per-op latency */
	struct samples ev;      /* watch event latency (workload 5) */
	double x[XB_MAX_EXTRA]; /* counters named by the case's xnames */
	double cpu; /* the server's CPU seconds in these slices; NAN: unknown */
};

struct bcase;

/* A case's per-server state, from its setup. */
struct cstate {
	void *p;
	long i;       /* a counter for simple cases */
	uint64_t rnd; /* xb_rand state */
	bool is_skip;
	char why[160];
};

struct bcase {
	const char *workload; /* "1" .. "8" */
	const char *name;     /* "read", "watch", ... */
	long param;           /* watches, idle conns, nodes, ... (-1: none) */
	const char *unit;     /* what an op is: "read", "txn", ... */
	const char *xnames[XB_MAX_EXTRA]; /* extra counters summed per run */
	/* Prepare server `s` (once per case); fill st (st->is_skip to
	 * leave this server out, with st->why). */
	void (*setup)(struct server *s, const struct bcase *k,
	              struct cstate *st);
	/* Run for about `secs`, adding to m (at least one op).  May give
	 * up on a server by setting st->is_skip (with st->why). */
	void (*step)(struct server *s, const struct bcase *k, struct cstate *st,
	             double secs, struct meas *m);
	/* Undo setup (NULL: nothing); called for skipped servers too. */
	void (*teardown)(struct server *s, const struct bcase *k,
	                 struct cstate *st);
};

/* Options every workload may look at. */
struct opts {
	bool is_quick;
	int runs;              /* runs per case (median taken) */
	double secs;           /* measured seconds per server per run */
	double slice;          /* interleaving slice */
	int depth;             /* pipelined reads in flight */
	int clients;           /* concurrent clients, workload 3 */
	int tx_clients;        /* concurrent clients, workload 4 */
	double load_budget;    /* seconds a server may take to load a level */
	const char *only;      /* comma-separated workload numbers, or NULL */
	const char *only_case; /* comma-separated case names, or NULL */
	long sizes[8];         /* workload 7 store sizes (leaf nodes) */
	int nsizes;
	long watches[8]; /* workload 5 watch counts */
	int nwatches;
	long idle[8]; /* workload 6 idle connection counts */
	int nidle;
	bool is_keep;        /* --keep: leave what was loaded in the servers */
	long storm_max;      /* workload 8's scale phase: live domains */
	long storm_peer_max; /* the same for servers without --sim */
	int storm_watchers;  /* @releaseDomain watchers (0: none) */
};
extern struct opts xb_opts;

/* One row of the results: a case on a server. */
struct result {
	char workload[8];
	char name[32];
	long param;
	char unit[16];
	char server[32];
	int nruns;
	double ops[XB_MAX_RUNS]; /* op/s of each run */
	double ops_med;          /* median op/s */
	double p50, p99;         /* median over runs, us; -1: n/a */
	double ev50, ev99;       /* event latency, us; -1: n/a */
	double cpu_us; /* server CPU per op, median over runs, us; -1: n/a */
	double ratio[XB_MAX_SERVERS]; /* median run ratio to server j */
	int nx;
	char xk[XB_MAX_EXTRA][24];
	double xv[XB_MAX_EXTRA];
	char note[192];
};

/* results_add - a new zeroed row (p50.. -1, ratios NAN); never NULL. */
struct result *results_add(const struct bcase *k, const struct server *s);
void result_extra(struct result *r, const char *key, double v);

/* case_wanted - is case `name` selected by --case (all are without)? */
bool case_wanted(const char *name);

/* run_case - run `k` on every server (interleaved, xb_opts.runs runs) and
 * record a result row per server. */
void run_case(struct server *srv, int nsrv, const struct bcase *k);

/* report_* - output of all results so far (report.c). */
void report_table(FILE *f, struct server *srv, int nsrv);
int report_json(const char *path, struct server *srv, int nsrv);
int report_csv(const char *path, struct server *srv, int nsrv);
extern struct result *xb_results;
extern int xb_nresults;

/* ---- workloads: each runs its cases on all servers ---- */
void server_prepare(struct server *s);         /* base keys (work_basic.c) */
void work_basic(struct server *srv, int nsrv); /* 1, 2 */
void work_multi(struct server *srv, int nsrv); /* 3, 4 */
void work_watch(struct server *srv, int nsrv); /* 5 */
void work_idle(struct server *srv, int nsrv);  /* 6 */
void work_size(struct server *srv, int nsrv);  /* 7 */
void work_storm(struct server *srv, int nsrv); /* 8 */
void work_ring(struct server *srv, int nsrv);  /* 9 (work_ring.c) */
bool workload_wanted(const char *w);

#endif
