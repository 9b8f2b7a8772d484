/*
 * fuzz_ring.c - libFuzzer target: a guest's shared ring page as the
 * daemon sees it (daemon/ring.c, domain.c, and conn.c and dispatch.c
 * behind them), in one in-process daemon per input.
 *
 * Domain 3 of a fake platform (tests/support/fakeplat.c) is introduced
 * with a ring page in ordinary heap memory (exactly one page, so ASan
 * sees any access past it).  The input is a program of guest actions:
 * produce bytes or whole framed requests into the request ring, move any
 * index to any value, flip the error, connection and feature words,
 * poke any byte, consume replies, deliver the event (domain_kick),
 * release and re-introduce the domain.  The oracle, around every kick:
 * the daemon writes only the reply bytes it publishes (between the old
 * and new rsp_prod), req_cons, rsp_prod, the error word and (on a
 * reconnection) the connection word; it never consumes past req_prod
 * nor publishes more than a ring's worth past rsp_cons; the store passes
 * store_check and every watch belongs to a session.  Classes: ring
 * indices and bytes the guest controls read as trusted (XSA-155: shared
 * memory fetched twice or unchecked, leading to out-of-bounds access),
 * and a guest stalling or corrupting the daemon through its page.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/dispatch.h"
#include "daemon/domain.h"
#include "fuzz/fuzz_log.h"
#include "store/perm.h"
#include "store/store.h"
#include "store/watch.h"
#include "tests/support/fakeplat.h"
#include "xstore/wire.h"
#include "fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GUEST     3u
#define PORT      (GUEST + FAKEPLAT_PORT_BASE)
#define MAX_STEPS 1024

static struct daemon dmn;
static unsigned char *page;
static unsigned char before[XS_RING_PAGE_SIZE];

static uint32_t get32(struct input *in)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++)
		v |= (uint32_t)get8(in) << (8 * i);
	return v;
}

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

/* A broken rule: say which, with two numbers that locate it. */
static void fail(const char *what, unsigned long a, unsigned long b)
{
	fprintf(stderr, "fuzz_ring: %s (%lu, %lu)\n", what, a, b);
	abort();
}

/* ---- the guest's actions ---- */

/* Produce n bytes as a well-behaved guest would (wrapping; at most the
 * free space, counted from the indices as they are now). */
static void produce(const void *p, size_t n)
{
	uint32_t prod = idx(XS_RING_OFF_REQ_PROD);
	uint32_t used = prod - idx(XS_RING_OFF_REQ_CONS);
	size_t room = used > XS_RING_SIZE ? 0 : XS_RING_SIZE - used;

	if (n > room)
		n = room;
	for (size_t i = 0; i < n; i++)
		page[XS_RING_OFF_REQ + (prod + i) % XS_RING_SIZE] =
		    ((const unsigned char *)p)[i];
	set_idx(XS_RING_OFF_REQ_PROD, prod + (uint32_t)n);
}

/* Take up to n reply bytes as a well-behaved guest would. */
static void consume(size_t n)
{
	uint32_t cons = idx(XS_RING_OFF_RSP_CONS);
	uint32_t avail = idx(XS_RING_OFF_RSP_PROD) - cons;

	if (avail > XS_RING_SIZE)
		return;
	if (n > avail)
		n = avail;
	set_idx(XS_RING_OFF_RSP_CONS, cons + (uint32_t)n);
}

/* A framed request: type, ids and payload from the input. */
static void request(struct input *in)
{
	static const char *const paths[] = {
	    "a\0", "/local/domain/3/b\0", "@introduceDomain\0", "/a\0", "",
	};
	unsigned char msg[XS_HDR_SIZE + 600];
	struct xs_wire_hdr hdr;
	uint8_t b = get8(in), len = get8(in);
	size_t take;

	hdr.type = b % 28u;
	hdr.req_id = get8(in);
	hdr.tx_id = get8(in) % 4u;
	/* A path prefix from a small list, then raw bytes. */
	b = get8(in);
	take = b < sizeof(paths) / sizeof(paths[0]) * 32
	           ? strlen(paths[b / 32]) + (paths[b / 32][0] ? 1 : 0)
	           : 0;
	memcpy(msg + XS_HDR_SIZE, take ? paths[b / 32] : "", take);
	if (len > in->n)
		len = (uint8_t)in->n;
	memcpy(msg + XS_HDR_SIZE + take, in->p, len);
	in->p += len;
	in->n -= len;
	hdr.len = (uint32_t)(take + len);
	memcpy(msg, &hdr, sizeof(hdr));
	produce(msg, XS_HDR_SIZE + hdr.len);
}

/* ---- the oracle ---- */

static bool is_in_window(uint32_t pos, uint32_t from, uint32_t to)
{
	return (uint32_t)(pos - from) % XS_RING_SIZE < (uint32_t)(to - from);
}

/* What the daemon changed in the page since `before`. */
static void check_page(bool may_reset, bool may_advertise)
{
	uint32_t rsp_from, rsp_to, req_from, req_to, req_prod, rsp_cons;

	memcpy(&rsp_from, before + XS_RING_OFF_RSP_PROD, 4);
	memcpy(&req_from, before + XS_RING_OFF_REQ_CONS, 4);
	memcpy(&req_prod, before + XS_RING_OFF_REQ_PROD, 4);
	memcpy(&rsp_cons, before + XS_RING_OFF_RSP_CONS, 4);
	rsp_to = idx(XS_RING_OFF_RSP_PROD);
	req_to = idx(XS_RING_OFF_REQ_CONS);
	/* The guest's own words are never written. */
	if (idx(XS_RING_OFF_REQ_PROD) != req_prod ||
	    idx(XS_RING_OFF_RSP_CONS) != rsp_cons)
		fail("the daemon wrote req_prod or rsp_cons",
		     idx(XS_RING_OFF_REQ_PROD), idx(XS_RING_OFF_RSP_CONS));
	if (memcmp(before, page + XS_RING_OFF_REQ, XS_RING_SIZE))
		fail("the daemon wrote into the request ring", 0, 0);
	if (memcmp(before + XS_RING_OFF_ERROR + 4, page + XS_RING_OFF_ERROR + 4,
	           XS_RING_PAGE_SIZE - XS_RING_OFF_ERROR - 4))
		fail("the daemon wrote past its words", 0, 0);
	if (!may_advertise && memcmp(before + XS_RING_OFF_FEATURES,
	                             page + XS_RING_OFF_FEATURES, 4))
		fail("features changed outside introduction", 0, 0);
	if (!may_reset && memcmp(before + XS_RING_OFF_CONNECTION,
	                         page + XS_RING_OFF_CONNECTION, 4))
		fail("connection word changed without a reconnection", 0, 0);
	if (may_reset && idx(XS_RING_OFF_CONNECTION) != XS_CONNECTED &&
	    memcmp(before + XS_RING_OFF_CONNECTION,
	           page + XS_RING_OFF_CONNECTION, 4))
		fail("connection word set to ", idx(XS_RING_OFF_CONNECTION), 0);
	if (req_to != req_from &&
	    (uint32_t)(req_to - req_from) > (uint32_t)(req_prod - req_from))
		fail("req_cons moved past req_prod (from, to)", req_from,
		     req_to);
	if (rsp_to != rsp_from &&
	    (uint32_t)(rsp_to - idx(XS_RING_OFF_RSP_CONS)) > XS_RING_SIZE)
		fail("rsp_prod more than a ring past rsp_cons (prod, cons)",
		     rsp_to, idx(XS_RING_OFF_RSP_CONS));
	/* Reply bytes: only in what was published.  A reset moves
	 * rsp_prod back to rsp_cons first. */
	if (may_reset && rsp_to != rsp_from)
		rsp_from = rsp_cons;
	for (uint32_t i = 0; i < XS_RING_SIZE; i++) {
		if (before[XS_RING_OFF_RSP + i] == page[XS_RING_OFF_RSP + i])
			continue;
		if ((uint32_t)(rsp_to - rsp_from) > XS_RING_SIZE ||
		    !is_in_window(i, rsp_from, rsp_to))
			fail("reply byte written outside the published window "
			     "(offset, rsp_prod)",
			     i, rsp_to);
	}
}

/* The watch rule after every step; the store's checker (which scans
 * every domain id) every 16th step and at the end. */
static void check_daemon(bool is_full)
{
	unsigned long watches = 0;
	char why[256];

	for (const struct conn *c = dmn.conns; c; c = c->next)
		watches += dispatch_conn_watches(c);
	if (watches != watch_count(dmn.watches))
		fail("watches in sessions and in the index differ", watches,
		     watch_count(dmn.watches));
	if (!is_full)
		return;
	if (store_check(dmn.store, why, sizeof(why))) {
		fprintf(stderr, "fuzz_ring: store_check: %s\n", why);
		abort();
	}
}

/* Deliver the event, as the loop would, end of turn included. */
static void kick(void)
{
	uint32_t conn_word = idx(XS_RING_OFF_CONNECTION);

	memcpy(before, page, XS_RING_PAGE_SIZE);
	domain_kick(&dmn, PORT);
	conn_flush_all(&dmn);
	conn_reap(&dmn);
	check_page(conn_word == XS_RECONNECT, false);
}

/* What the toolstack does before INTRODUCE: the guest's home, its own
 * (it is forgotten with the domain at each release). */
static void make_home(void)
{
	static const struct store_caller dom0 = {0, PERM_NO_TARGET, true, NULL,
	                                         0};
	static const struct perm_entry own = {GUEST, PERM_NONE};

	if (store_mkdir(dmn.store, NULL, &dom0, "/local/domain/3") ||
	    store_set_perms(dmn.store, NULL, &dom0, "/local/domain/3", &own, 1))
		abort();
}

static void introduce(void)
{
	uint32_t conn_word = idx(XS_RING_OFF_CONNECTION);

	make_home();
	memcpy(before, page, XS_RING_PAGE_SIZE);
	/* May fail (already introduced with another ring): fine. */
	domain_introduce(&dmn, GUEST, GUEST, 1);
	conn_flush_all(&dmn);
	conn_reap(&dmn);
	check_page(conn_word == XS_RECONNECT, true);
}

static void step(struct input *in)
{
	uint8_t op = get8(in);
	uint8_t b;

	switch (op % 12) {
	case 0:
	case 1:
	case 2:
		request(in);
		break;
	case 3:
		/* Raw bytes: partial headers, junk. */
		b = get8(in);
		if (b > in->n)
			b = (uint8_t)in->n;
		produce(in->p, b);
		in->p += b;
		in->n -= b;
		break;
	case 4: {
		/* Any index to any value, or moved by a small step. */
		static const unsigned int offs[4] = {
		    XS_RING_OFF_REQ_CONS, XS_RING_OFF_REQ_PROD,
		    XS_RING_OFF_RSP_CONS, XS_RING_OFF_RSP_PROD};
		unsigned int off = offs[get8(in) % 4];

		b = get8(in);
		if (b & 1)
			set_idx(off, get32(in));
		else
			set_idx(off, idx(off) + (uint32_t)(int8_t)b / 2);
		break;
	}
	case 5:
		/* The error, connection or feature word. */
		b = get8(in);
		set_idx(b % 3 == 0   ? XS_RING_OFF_ERROR
		        : b % 3 == 1 ? XS_RING_OFF_CONNECTION
		                     : XS_RING_OFF_FEATURES,
		        get8(in) < 0xf0 ? get8(in) % 4u : get32(in));
		break;
	case 6:
		/* Any byte of the page. */
		b = get8(in);
		page[(b | (unsigned int)get8(in) << 8) % XS_RING_PAGE_SIZE] =
		    get8(in);
		break;
	case 7:
		consume(get8(in) * 8u + 1);
		break;
	case 8:
		memcpy(before, page, XS_RING_PAGE_SIZE);
		domain_release(&dmn, GUEST, get8(in) & 1);
		conn_flush_all(&dmn);
		conn_reap(&dmn);
		check_page(false, false);
		introduce();
		break;
	case 9:
		/* A well-behaved guest waiting for its replies. */
		for (int i = 0; i < 8; i++) {
			consume(XS_RING_SIZE);
			kick();
		}
		break;
	default:
		kick();
		break;
	}
}

static bool is_trace; /* FUZZ_RING_TRACE=1: the daemon's log on stderr */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool is_initialized;
	struct daemon_config cfg;
	struct input in = {data, size};
	struct plat *plat;

	if (!is_initialized) {
		is_trace = getenv("FUZZ_RING_TRACE") != NULL;
		fuzz_log_open("fuzz_ring", LOG_DEBUG, is_trace);
		is_initialized = true;
	}
	log_set_trace(is_trace);
	page = calloc(1, XS_RING_PAGE_SIZE);
	if (!page || fakeplat_new(&plat) ||
	    fakeplat_set_domain(plat, GUEST, page))
		abort();
	daemon_config_defaults(&cfg);
	cfg.platform = (char *)"none";
	cfg.write_rate = 0; /* its timer never runs here */
	cfg.conn_out_max = 16384;
	cfg.conn_events_max = 32;
	if (daemon_init(&dmn, &cfg))
		abort();
	dmn.plat = plat;
	introduce();
	for (int n = 0; in.n && n < MAX_STEPS; n++) {
		step(&in);
		check_daemon(n % 16 == 15);
	}
	check_daemon(true);
	daemon_fini(&dmn);
	free(page);
	page = NULL;
	return 0;
}
