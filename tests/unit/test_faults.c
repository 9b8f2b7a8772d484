/*
 * test_faults.c - allocation fault injection across the dispatcher, the
 * connections, the ring transport, domains, control and the store, in
 * the style of SQLite's malloc tests (class: resource exhaustion; a
 * half-done change or a leak under ENOMEM is how XSA-326-style "memory
 * exhaustion by a guest" bugs hurt the host).
 *
 * One script of requests covers every message type from dom0, an
 * unprivileged socket client and a guest over its ring (a fakeplat
 * domain).  It runs once clean, counting the allocations it makes; then
 * for every N the N-th allocation fails (one mode: only that one; the
 * other: that one and every later one).  After each request: the reply
 * is the clean run's, or ERROR ENOMEM (then the store is unchanged), or
 * the connection was closed; the store passes store_check and every
 * watch belongs to a session.  After each run everything is freed and
 * xalloc_live() must be back where it started (ASan's leak check runs
 * at exit too).  The store's change records (store_set_record_cb) are
 * replayed on a replica after every step, which must then equal the
 * store: a request refused for want of memory leaves no record, an
 * applied one exactly the record that redoes it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/dispatch.h"
#include "daemon/domain.h"
#include "store/store.h"
#include "store/watch.h"
#include "tests/support/check.h"
#include "tests/support/fakeplat.h"
#include "tests/support/storetest.h"
#include "xstore/wire.h"

#define OUT_MAX  (256u * 1024u)
#define GUEST    3u /* the ring domain */
#define NO_TX    (-1)
#define MAX_RUNS 100000

enum { D0, G5, R3, NR_CONNS };

/* A socket-like client: one request at a time in, everything out kept. */
struct fake {
	struct conn *c;
	char in[XS_HDR_SIZE + XS_PAYLOAD_MAX];
	size_t in_len, in_off;
	char *out;
	size_t out_len;
	bool is_gone; /* killed and could not be reopened */
};

static struct daemon dmn;
static struct fake fakes[NR_CONNS];
static unsigned char page[XS_RING_PAGE_SIZE]; /* the guest's ring page */
/* Domain 5 (the socket client G5) exists, never introduced: a page. */
static unsigned char page5[XS_RING_PAGE_SIZE];

static long fk_read(struct conn *c, void *buf, size_t len)
{
	struct fake *f = c->transport;
	size_t n = f->in_len - f->in_off;

	if (n > len)
		n = len;
	memcpy(buf, f->in + f->in_off, n);
	f->in_off += n;
	return (long)n;
}

static long fk_write(struct conn *c, const void *buf, size_t len)
{
	struct fake *f = c->transport;

	if (len > OUT_MAX - f->out_len)
		len = OUT_MAX - f->out_len;
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	return (long)len;
}

static void fk_want(struct conn *c, bool on)
{
}

static void fk_close(struct conn *c)
{
	struct fake *f = c->transport;

	f->c = NULL;
}

static const struct transport_ops fake_ops = {
    .name = "fake",
    .read = fk_read,
    .write = fk_write,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
};

static bool fake_open(unsigned int i)
{
	struct fake *f = &fakes[i];

	f->c = conn_new(&dmn, CONN_SOCKET, &fake_ops, f, -1);
	if (!f->c)
		return false;
	f->c->is_privileged = i == D0;
	f->c->domid = i == D0 ? 0 : 5;
	return true;
}

/* ---- the guest's side of the ring ---- */

static uint32_t idx(unsigned int off)
{
	uint32_t v;

	memcpy(&v, page + off, 4);
	return v;
}

static void set_idx(unsigned int off, uint32_t v)
{
	memcpy(page + off, &v, 4);
}

/* Put a request into the ring (it always fits: the script's are small
 * and the daemon empties the ring on every kick). */
static void ring_put(const void *p, size_t n)
{
	uint32_t prod = idx(XS_RING_OFF_REQ_PROD);

	for (size_t i = 0; i < n; i++)
		page[XS_RING_OFF_REQ + (prod + i) % XS_RING_SIZE] =
		    ((const unsigned char *)p)[i];
	set_idx(XS_RING_OFF_REQ_PROD, prod + (uint32_t)n);
}

static void ring_take(struct fake *f)
{
	uint32_t cons = idx(XS_RING_OFF_RSP_CONS);
	uint32_t prod = idx(XS_RING_OFF_RSP_PROD);

	for (; cons != prod && f->out_len < OUT_MAX; cons++)
		f->out[f->out_len++] =
		    (char)page[XS_RING_OFF_RSP + cons % XS_RING_SIZE];
	set_idx(XS_RING_OFF_RSP_CONS, cons);
}

static struct conn *ring_conn(void)
{
	struct domain *dom = domain_find(&dmn, GUEST);

	return dom ? dom->conn : NULL;
}

/* ---- the script ---- */

struct step {
	int conn;
	uint32_t type;
	int tx;          /* transaction slot, or NO_TX */
	int save_tx;     /* TRANSACTION_START: the slot its id goes to */
	const char *req; /* payload */
	size_t req_len;
	uint32_t want_type; /* the reply's type */
	const char *want;   /* its payload, NULL: not compared */
	size_t want_len;
};

#define ST(c, t, tx, req, wt, want)                                            \
	{                                                                      \
		c, t, tx, NO_TX, req, sizeof(req) - 1, wt, want,               \
		    sizeof(want) - 1                                           \
	}
#define ANY(c, t, tx, req)                                                     \
	{                                                                      \
		c, t, tx, NO_TX, req, sizeof(req) - 1, t, NULL, 0              \
	}
#define OK(c, t, tx, req)     ST(c, t, tx, req, t, "OK\0")
#define ERR(c, t, tx, req, e) ST(c, t, tx, req, XS_ERROR, e "\0")
#define TSTART(c, slot)                                                        \
	{                                                                      \
		c, XS_TRANSACTION_START, NO_TX, slot, "\0", 1,                 \
		    XS_TRANSACTION_START, NULL, 0                              \
	}

static const struct step script[] = {
    OK(D0, XS_WRITE, NO_TX, "/a/b\0v1"),
    ST(D0, XS_READ, NO_TX, "/a/b\0", XS_READ, "v1"),
    OK(D0, XS_MKDIR, NO_TX, "/a/c\0"),
    ST(D0, XS_DIRECTORY, NO_TX, "/a\0", XS_DIRECTORY, "b\0c\0"),
    ANY(D0, XS_DIRECTORY_PART, NO_TX,
        "/a\0"
        "0\0"),
    ST(D0, XS_GET_PERMS, NO_TX, "/a/b\0", XS_GET_PERMS, "n0\0"),
    OK(D0, XS_SET_PERMS, NO_TX, "/a/b\0n0\0r5\0"),
    OK(D0, XS_WATCH, NO_TX, "/a\0tok\0"),
    OK(G5, XS_WATCH, NO_TX, "/a/b\0t5\0"),
    OK(G5, XS_WATCH, NO_TX, "@releaseDomain\0r5\0"),
    OK(D0, XS_WRITE, NO_TX, "/a/b/x\0"),
    ST(G5, XS_READ, NO_TX, "/a/b\0", XS_READ, "v1"),
    ERR(G5, XS_WRITE, NO_TX, "/a/b\0zz", "EACCES"),
    ERR(G5, XS_INTRODUCE, NO_TX,
        "3\0"
        "1\0"
        "1\0",
        "EACCES"),
    OK(G5, XS_UNWATCH, NO_TX, "/a/b\0t5\0"),
    TSTART(D0, 0),
    OK(D0, XS_WRITE, 0, "/a/t\0tv"),
    ST(D0, XS_READ, 0, "/a/b\0", XS_READ, "v1"),
    OK(D0, XS_RM, 0, "/a/c\0"),
    OK(D0, XS_TRANSACTION_END, 0, "T\0"),
    TSTART(D0, 1),
    ST(D0, XS_READ, 1, "/a/t\0", XS_READ, "tv"),
    OK(D0, XS_WRITE, 1, "/a/u\0x"),
    OK(D0, XS_WRITE, NO_TX, "/a/t\0changed"),
    ERR(D0, XS_TRANSACTION_END, 1, "T\0", "EAGAIN"),
    TSTART(D0, 0),
    OK(D0, XS_MKDIR, 0, "/a/v\0"),
    OK(D0, XS_TRANSACTION_END, 0, "F\0"),
    ST(D0, XS_GET_DOMAIN_PATH, NO_TX, "3\0", XS_GET_DOMAIN_PATH,
       "/local/domain/3\0"),
    OK(D0, XS_MKDIR, NO_TX, "/local/domain/3\0"),
    OK(D0, XS_SET_PERMS, NO_TX, "/local/domain/3\0n3\0"),
    OK(D0, XS_INTRODUCE, NO_TX,
       "3\0"
       "1\0"
       "1\0"),
    ST(D0, XS_IS_DOMAIN_INTRODUCED, NO_TX, "3\0", XS_IS_DOMAIN_INTRODUCED,
       "T\0"),
    OK(R3, XS_WRITE, NO_TX, "data\0hello"),
    ST(R3, XS_READ, NO_TX, "data\0", XS_READ, "hello"),
    OK(R3, XS_WATCH, NO_TX, "data\0w\0"),
    OK(R3, XS_WATCH, NO_TX, "@introduceDomain\0i\0"),
    TSTART(R3, 1),
    OK(R3, XS_WRITE, 1, "data/sub\0s"),
    ST(R3, XS_DIRECTORY, 1, "data\0", XS_DIRECTORY, "sub\0"),
    OK(R3, XS_TRANSACTION_END, 1, "T\0"),
    ERR(R3, XS_WRITE, NO_TX, "/a/z\0no", "EACCES"),
    OK(D0, XS_SET_TARGET, NO_TX,
       "3\0"
       "5\0"),
    ERR(D0, XS_SET_TARGET, NO_TX,
        "3\0"
        "6\0",
        "ENOENT"),
    OK(D0, XS_RESUME, NO_TX, "3\0"),
    ANY(D0, XS_GET_FEATURE, NO_TX, "3\0"),
    ANY(D0, XS_GET_QUOTA, NO_TX, ""),
    OK(D0, XS_SET_QUOTA, NO_TX,
       "3\0nodes\0"
       "100\0"),
    ANY(D0, XS_GET_QUOTA, NO_TX, "3\0nodes\0"),
    OK(D0, XS_CONTROL, NO_TX, "check\0"),
    ANY(D0, XS_CONTROL, NO_TX, "quota\0"),
    ANY(D0, XS_CONTROL, NO_TX,
        "quota\0"
        "3\0"),
    OK(D0, XS_CONTROL, NO_TX,
       "quota-soft\0set\0nodes\0"
       "900\0"),
    OK(D0, XS_CONTROL, NO_TX, "memreport\0"),
    ANY(D0, XS_CONTROL, NO_TX, "help\0"),
    OK(D0, XS_CONTROL, NO_TX, "print\0hi\0"),
    OK(R3, XS_RESET_WATCHES, NO_TX, ""),
    OK(D0, XS_RM, NO_TX, "/a\0"),
    OK(D0, XS_RELEASE, NO_TX, "3\0"),
    ST(D0, XS_IS_DOMAIN_INTRODUCED, NO_TX, "3\0", XS_IS_DOMAIN_INTRODUCED,
       "F\0"),
    OK(D0, XS_INTRODUCE, NO_TX,
       "3\0"
       "1\0"
       "1\0"),
    ERR(R3, XS_MKDIR, NO_TX, "/local/domain/3/again\0", "EACCES"),
    OK(D0, XS_MKDIR, NO_TX, "/local/domain/3\0"),
    OK(D0, XS_SET_PERMS, NO_TX, "/local/domain/3\0n3\0"),
    OK(R3, XS_MKDIR, NO_TX, "/local/domain/3/again\0"),
    TSTART(D0, 0),
    OK(D0, XS_WRITE, 0, "/local/domain/3/t\0x"),
    OK(D0, XS_RESET_WATCHES, NO_TX, ""),
    OK(D0, XS_RELEASE, NO_TX, "3\0"),
};

#define NR_STEPS (sizeof(script) / sizeof(script[0]))

/* ---- the store's records, replayed on a replica ---- */

/* Plain malloc: fault injection must not hit the test's own copies. */
static struct {
	unsigned char *buf; /* [u32 len][record]... of the current step */
	size_t len, cap;
	struct store *replica;
} recs;

static void record_cb(void *opaque, const void *rec, size_t len)
{
	(void)opaque;
	if (recs.len + 4 + len > recs.cap) {
		recs.cap = 2 * (recs.len + 4 + len);
		recs.buf = realloc(recs.buf, recs.cap);
		if (!recs.buf)
			abort();
	}
	memcpy(recs.buf + recs.len, &(uint32_t){(uint32_t)len}, 4);
	memcpy(recs.buf + recs.len + 4, rec, len);
	recs.len += 4 + len;
}

static int snap_write(void *arg, const void *data, size_t len)
{
	struct {
		unsigned char *p;
		size_t len;
	} *b = arg;

	b->p = realloc(b->p, b->len + len);
	if (!b->p)
		abort();
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

/* Start the replica as a copy of the daemon's store (faults paused). */
static bool replica_start(void)
{
	struct {
		unsigned char *p;
		size_t len;
	} b = {NULL, 0};
	int err = store_dump(dmn.store, snap_write, &b);

	if (!err)
		err = store_load(b.p, b.len, &recs.replica);
	free(b.p);
	recs.len = 0;
	if (err) {
		printf("  replica: dump/load: %d\n", err);
		return false;
	}
	store_set_record_cb(dmn.store, record_cb, NULL);
	return true;
}

/* Replay the step's records (faults paused); the replica must equal
 * the store. */
static bool replica_ok(const char *when)
{
	size_t at = 0;

	while (at < recs.len) {
		uint32_t len;
		int err;

		memcpy(&len, recs.buf + at, 4);
		err = store_replay(recs.replica, recs.buf + at + 4, len);
		if (err) {
			printf("  %s: replaying a record: %d\n", when, err);
			return false;
		}
		at += 4 + len;
	}
	recs.len = 0;
	if (!store_equal(dmn.store, recs.replica)) {
		printf("  %s: the replica fed by records differs\n", when);
		return false;
	}
	return true;
}

static void replica_stop(void)
{
	store_free(recs.replica);
	recs.replica = NULL;
	free(recs.buf);
	recs.buf = NULL;
	recs.len = recs.cap = 0;
}

/* ---- one run ---- */

struct run {
	long fail_at; /* the allocation that fails (0-based), -1: none */
	bool is_sticky;
	long used; /* allocations counted so far */
	bool has_fired;
	uint32_t txid[2];
	long cum[NR_STEPS + 1]; /* clean run: allocations after each step */
};

static bool is_paused; /* the checks' own allocations: not a site */

/* Stop counting (checks and dumps must not consume allocations). */
static void pause_faults(struct run *r)
{
	is_paused = true;
	r->used += xalloc_fail_after(-1);
	if (r->fail_at >= 0 && r->used > r->fail_at)
		r->has_fired = true;
}

static void resume_faults(struct run *r)
{
	long left = r->fail_at - r->used;

	/* What was allocated while paused does not count. */
	xalloc_fail_after(-1);
	is_paused = false;
	if (r->fail_at < 0 || (r->has_fired && !r->is_sticky))
		return;
	if (r->is_sticky)
		xalloc_fail_from(left < 0 ? 0 : left);
	else
		xalloc_fail_after(left);
}

/* Serve everything as the loop would until nothing moves. */
static void serve(void)
{
	for (int round = 0; round < 16; round++) {
		struct conn *rc = ring_conn();
		size_t before = fakes[R3].out_len;

		for (unsigned int i = 0; i < NR_CONNS; i++)
			if (i != R3 && fakes[i].c)
				conn_handle_input(fakes[i].c);
		if (rc)
			domain_kick(&dmn, GUEST + FAKEPLAT_PORT_BASE);
		conn_flush_all(&dmn);
		ring_take(&fakes[R3]);
		conn_reap(&dmn);
		rc = ring_conn();
		if (fakes[R3].out_len == before && (!rc || !rc->out_head))
			break;
	}
}

/* The reply to req_id in f's output since `from`; NULL if none. */
static const struct xs_wire_hdr *find_reply(struct fake *f, size_t from,
                                            uint32_t req_id, const char **pl)
{
	static struct xs_wire_hdr h;

	while (f->out_len - from >= XS_HDR_SIZE) {
		memcpy(&h, f->out + from, sizeof(h));
		if (h.len > XS_PAYLOAD_MAX ||
		    f->out_len - from < XS_HDR_SIZE + h.len)
			return NULL;
		*pl = f->out + from + XS_HDR_SIZE;
		if (h.type != XS_WATCH_EVENT && h.req_id == req_id)
			return &h;
		from += XS_HDR_SIZE + h.len;
	}
	return NULL;
}

static bool daemon_ok(const char *when)
{
	unsigned long watches = 0;
	char why[256];

	for (const struct conn *c = dmn.conns; c; c = c->next)
		watches += dispatch_conn_watches(c);
	if (watches != watch_count(dmn.watches)) {
		printf("  %s: %lu watches in sessions, %lu indexed\n", when,
		       watches, watch_count(dmn.watches));
		return false;
	}
	if (store_check(dmn.store, why, sizeof(why))) {
		printf("  %s: store_check: %s\n", when, why);
		return false;
	}
	return true;
}

/* The conn of step s, reopened if it died; NULL if it cannot be. */
static struct conn *step_conn(struct fake *f, int i)
{
	if (i == R3)
		return ring_conn();
	if (!f->c && !f->is_gone && !fake_open((unsigned int)i))
		f->is_gone = true;
	return f->c;
}

/* Run one step; false (with a line saying why) on a violation. */
static bool run_step(struct run *r, size_t s, char *what, size_t whatsz)
{
	const struct step *st = &script[s];
	struct fake *f = &fakes[st->conn];
	struct xs_wire_hdr hdr = {st->type, (uint32_t)s + 100, 0,
	                          (uint32_t)st->req_len};
	const struct xs_wire_hdr *rh;
	const char *pl = NULL;
	bool is_fault_step =
	    r->fail_at >= 0 && !r->has_fired && r->fail_at < r->cum[s + 1];
	char *before = NULL, *after;
	size_t from = f->out_len;
	struct conn *c;
	bool is_ok = true;

	pause_faults(r);
	if (is_fault_step)
		before = st_dump(dmn.store, true);
	resume_faults(r);
	c = step_conn(f, st->conn);
	if (!c) {
		free(before);
		return true; /* that client is gone: nothing to send */
	}
	if (st->tx != NO_TX)
		hdr.tx_id = r->txid[st->tx];
	if (st->conn == R3) {
		ring_put(&hdr, sizeof(hdr));
		ring_put(st->req, st->req_len);
	} else {
		memcpy(f->in, &hdr, sizeof(hdr));
		memcpy(f->in + sizeof(hdr), st->req, st->req_len);
		f->in_len = sizeof(hdr) + st->req_len;
		f->in_off = 0;
	}
	serve();
	pause_faults(r);
	rh = find_reply(f, from, hdr.req_id, &pl);
	snprintf(what, whatsz, "step %zu (%s)", s, xs_type_name(st->type));
	if (!rh) {
		/* Only a connection closed for want of memory may not
		 * answer. */
		is_ok = r->has_fired &&
		        (st->conn == R3 ? !ring_conn() || ring_conn()->is_dead
		                        : !f->c);
		if (!is_ok)
			printf("  %s: no reply\n", what);
	} else if (rh->type == XS_ERROR && rh->len == 7 &&
	           !memcmp(pl, "ENOMEM", 7) && r->has_fired) {
		/* Refused: nothing changed (a transaction's write changes
		 * only the transaction). */
		if (before) {
			after = st_dump(dmn.store, true);
			is_ok = after && !strcmp(before, after);
			if (!is_ok)
				printf("  %s: ENOMEM but the store changed\n",
				       what);
			free(after);
		}
	} else if (r->fail_at < 0 || !r->has_fired) {
		/* Before any failure, exactly the clean answer. */
		is_ok = rh->type == st->want_type &&
		        (!st->want || (rh->len == st->want_len &&
		                       !memcmp(pl, st->want, st->want_len)));
		if (!is_ok)
			printf("  %s: reply type %u \"%.*s\"\n", what, rh->type,
			       (int)rh->len, pl);
	}
	if (rh && st->save_tx != NO_TX && rh->type == XS_TRANSACTION_START)
		r->txid[st->save_tx] = (uint32_t)strtoul(pl, NULL, 10);
	free(before);
	if (is_ok)
		is_ok = daemon_ok(what);
	if (is_ok)
		is_ok = replica_ok(what);
	resume_faults(r);
	return is_ok;
}

/* One whole run with r->fail_at; false on a violation. */
static bool run_script(struct run *r)
{
	struct daemon_config cfg;
	struct plat *plat;
	char what[64] = "init";
	bool is_ok = true;
	long live = xalloc_live(); /* a failed run before may have leaked */
	size_t s;

	memset(fakes, 0, sizeof(fakes));
	memset(page, 0, XS_RING_PAGE_SIZE);
	for (unsigned int i = 0; i < NR_CONNS; i++) {
		fakes[i].out = malloc(OUT_MAX);
		if (!fakes[i].out)
			abort();
	}
	if (fakeplat_new(&plat) || fakeplat_set_domain(plat, GUEST, page) ||
	    fakeplat_set_domain(plat, 5, page5))
		abort();
	daemon_config_defaults(&cfg);
	cfg.platform = (char *)"none";
	cfg.write_rate = 0; /* no timers to wait for */
	r->used = 0;
	r->has_fired = false;
	r->txid[0] = r->txid[1] = 0;
	resume_faults(r);
	if (daemon_init(&dmn, &cfg)) {
		pause_faults(r);
		plat_close(plat);
		is_ok = r->has_fired;
		goto out;
	}
	pause_faults(r);
	dmn.plat = plat;
	r->cum[0] = r->used;
	is_ok = replica_start();
	resume_faults(r);
	for (s = 0; s < NR_STEPS && is_ok; s++) {
		is_ok = run_step(r, s, what, sizeof(what));
		if (r->fail_at < 0)
			r->cum[s + 1] = r->used;
	}
	pause_faults(r);
	daemon_fini(&dmn);
	replica_stop();
out:
	xalloc_fail_after(-1);
	for (unsigned int i = 0; i < NR_CONNS; i++)
		free(fakes[i].out);
	if (is_ok && xalloc_live() != live) {
		printf("  %ld allocations leaked\n", xalloc_live() - live);
		is_ok = false;
	}
	if (!is_ok)
		printf("  run failing allocation %ld (%s): failed at %s\n",
		       r->fail_at,
		       r->is_sticky ? "and every later one" : "only", what);
	return is_ok;
}

/* ---- distinct allocation sites ---- */

#define SITES_MAX 1024
static const void *sites[SITES_MAX];
static size_t nr_sites;

static void count_site(const void *site)
{
	if (is_paused)
		return;
	for (size_t i = 0; i < nr_sites; i++)
		if (sites[i] == site)
			return;
	if (nr_sites < SITES_MAX)
		sites[nr_sites++] = site;
}

static void test_clean_run(void)
{
	static struct run r;

	r.fail_at = -1;
	CHECK(run_script(&r));
	/* The clean run did make allocations, and every one was freed. */
	CHECK(r.cum[NR_STEPS] > 0);
}

static void run_all(bool is_sticky)
{
	static struct run r;
	struct timespec t0, t1;
	long total, n;
	size_t sites_clean;

	nr_sites = 0;
	xalloc_set_site_hook(count_site);
	r.fail_at = -1;
	r.is_sticky = false;
	CHECK(run_script(&r));
	total = r.used;
	sites_clean = nr_sites;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.is_sticky = is_sticky;
	for (n = 0; n < total && n < MAX_RUNS; n++) {
		r.fail_at = n;
		if (!run_script(&r))
			break;
		CHECK(r.has_fired);
	}
	xalloc_set_site_hook(NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("  %s: %ld runs (every allocation of the script), %zu "
	       "distinct allocation sites, %.1f s\n",
	       is_sticky ? "failing from N on" : "failing the N-th only", n,
	       sites_clean,
	       (double)(t1.tv_sec - t0.tv_sec) +
	           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	/* FAULTS_SITES=1: the sites as offsets, for addr2line -e. */
	if (getenv("FAULTS_SITES")) {
		for (size_t i = 0; i < nr_sites; i++) {
			Dl_info info;

			if (dladdr(sites[i], &info))
				printf("  site %#lx\n",
				       (unsigned long)((const char *)sites[i] -
				                       (const char *)
				                           info.dli_fbase));
		}
	}
	CHECK_EQ_INT(n, total);
}

static void test_fail_nth(void)
{
	run_all(false);
}

static void test_fail_from_nth(void)
{
	run_all(true);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_clean_run),
    CHECK_TEST(test_fail_nth),
    CHECK_TEST(test_fail_from_nth),
};

int main(int argc, char **argv)
{
	/* The daemon's log would drown the output; only failures matter. */
	if (log_open(NULL, LOG_EMERG))
		return 2;
	return check_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
