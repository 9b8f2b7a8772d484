/*
 * fuzz_dispatch.c - libFuzzer target: the request framing (conn.c), the
 * decoder and dispatcher (dispatch.c, control.c) and everything behind
 * them, in one in-process daemon per input.
 *
 * Two connections over a fake transport read byte streams that the
 * input builds record by record: framed requests whose header fields the
 * fuzzer chooses (lengths up to 4200, so that oversized headers occur),
 * raw bytes, read and write chunk sizes (partial reads, short writes and
 * back-pressure), end of stream.  After each record both connections are
 * served as the event loop would (input, flush, writable again, reap);
 * a dead connection is replaced by a new one whose identity (privileged
 * dom0, unprivileged domain, read-only) the input chooses.  Replies are
 * swallowed; the sanitizers and the daemon's own checks are the oracle,
 * with CONTROL "check" reachable for the store's invariants.
 *
 * Nothing survives an input: the daemon is freed (daemon_fini) and the
 * log switches CONTROL can flip are put back.  CONTROL commands that
 * would touch the file system (logfile, memreport <file>) are rewritten
 * to an unknown command before the connection can read them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/dispatch.h"
#include "fuzz/fuzz_log.h"
#include "store/store.h"
#include "store/watch.h"
#include "xstore/wire.h"
#include "fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX  (256u * 1024u) /* bytes a connection can be sent */
#define MAX_RECORDS 512
#define LEN_MAX     4200u /* header lengths the fuzzer may claim */

/* One client connection and the byte stream it has been sent. */
struct fake {
	struct conn *c;
	unsigned char *buf;
	size_t len;       /* bytes sent so far */
	size_t delivered; /* bytes the connection has read */
	size_t scan;      /* the shadow framer: start of the next message */
	size_t limit;     /* deliverable: whole (checked) messages, headers */
	bool is_bad;      /* an oversized header: the stream ends there */
	bool is_closed;   /* end of stream once everything is read */
	size_t rchunk;    /* bytes per read (0: as many as asked) */
	size_t wchunk;    /* bytes per write (0: all) */
};

static struct fake fakes[2];

/* ---- the fake transport ---- */

static long fk_read(struct conn *c, void *buf, size_t len)
{
	struct fake *f = c->transport;
	size_t n = f->limit - f->delivered;

	if (n == 0)
		return f->is_closed ? -EPIPE : 0;
	if (f->rchunk && n > f->rchunk)
		n = f->rchunk;
	if (n > len)
		n = len;
	memcpy(buf, f->buf + f->delivered, n);
	f->delivered += n;
	return (long)n;
}

static long fk_write(struct conn *c, const void *buf, size_t len)
{
	struct fake *f = c->transport;

	(void)buf;
	return (long)(f->wchunk && len > f->wchunk ? f->wchunk : len);
}

static long fk_writev(struct conn *c, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return fk_write(c, NULL, total);
}

static void fk_want(struct conn *c, bool on)
{
	(void)c;
	(void)on;
}

static void fk_close(struct conn *c)
{
	struct fake *f = c->transport;

	f->c = NULL;
}

static void fk_fail(struct conn *c, unsigned int code)
{
	(void)c;
	(void)code;
}

/* Both kinds of output path: writev for one connection, write for the
 * other. */
static const struct transport_ops ops_writev = {
    .name = "fuzz",
    .read = fk_read,
    .write = fk_write,
    .writev = fk_writev,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
    .fail = fk_fail,
};

static const struct transport_ops ops_write = {
    .name = "fuzz",
    .read = fk_read,
    .write = fk_write,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
};

/* ---- the stream and its shadow framer ---- */

static void append(struct fake *f, const void *p, size_t n)
{
	if (n > STREAM_MAX - f->len)
		n = STREAM_MAX - f->len;
	memcpy(f->buf + f->len, p, n);
	f->len += n;
}

/* A CONTROL command that would open a file: make it unknown. */
static void defuse(unsigned char *payload, size_t len)
{
	static const char logfile[] = "logfile", memreport[] = "memreport";

	if ((len >= sizeof(logfile) &&
	     !memcmp(payload, logfile, sizeof(logfile))) ||
	    (len > sizeof(memreport) &&
	     !memcmp(payload, memreport, sizeof(memreport))))
		payload[0] = 'X';
}

/*
 * Walk the messages completed since the last call, as conn.c frames
 * them, defuse the dangerous ones, and move the delivery limit: every
 * whole message, plus the header of an incomplete one (so that split
 * headers and payloads are read in pieces) but never the payload of a
 * message not yet checked.
 */
static void frame(struct fake *f)
{
	while (!f->is_bad && f->len - f->scan >= XS_HDR_SIZE) {
		struct xs_wire_hdr hdr;

		memcpy(&hdr, f->buf + f->scan, sizeof(hdr));
		if (hdr.len > XS_PAYLOAD_MAX) {
			f->is_bad = true; /* the connection dies on it */
			break;
		}
		if (f->len - f->scan < XS_HDR_SIZE + hdr.len)
			break;
		if (hdr.type == XS_CONTROL)
			defuse(f->buf + f->scan + XS_HDR_SIZE, hdr.len);
		f->scan += XS_HDR_SIZE + hdr.len;
	}
	f->limit =
	    f->len - f->scan < XS_HDR_SIZE ? f->len : f->scan + XS_HDR_SIZE;
	if (f->is_bad)
		f->limit = f->scan + XS_HDR_SIZE;
	/* Bytes after the last whole message that are not a full header
	 * yet are harmless. */
	if (f->limit < f->delivered)
		f->limit = f->delivered;
}

/* ---- connections ---- */

static struct daemon dmn;

static void fake_open(struct fake *f, unsigned int slot, uint8_t how)
{
	static const unsigned int domids[4] = {0, 5, 7, 32752};

	memset(f, 0, sizeof(*f));
	f->buf = malloc(STREAM_MAX);
	if (!f->buf)
		abort();
	f->c =
	    conn_new(&dmn, CONN_SOCKET, slot ? &ops_write : &ops_writev, f, -1);
	if (!f->c)
		abort();
	/* bit 0: privileged dom0; else bits 1-2 pick the domain. */
	f->c->is_privileged = how & 1;
	f->c->domid = (how & 1) ? 0 : domids[(how >> 1) & 3];
	f->c->is_readonly = (how >> 3) & 1;
}

static struct fake *fake_get(struct input *in, unsigned int slot)
{
	struct fake *f = &fakes[slot];

	if (!f->c) {
		free(f->buf);
		fake_open(f, slot, get8(in));
	}
	return f;
}

/* Serve one connection as the loop would: input, then output. */
static void serve(struct fake *f)
{
	for (int i = 0; f->c && i < 4096; i++) {
		size_t delivered = f->delivered, used = f->c->in_used;
		bool was_paused = f->c->is_read_paused;

		/* Input left buffered under back-pressure runs from a
		 * timer in the daemon; here, from the next call. */
		conn_handle_input(f->c);
		conn_flush_all(&dmn);
		/* The transport is writable again. */
		for (int j = 0; f->c && f->c->is_write_blocked && j < 64; j++)
			conn_handle_output(f->c);
		if (f->c->is_dead ||
		    (f->delivered == delivered && f->c->in_used == used &&
		     f->c->is_read_paused == was_paused))
			break;
	}
}

static void record(struct input *in)
{
	uint8_t ctl = get8(in);
	struct fake *f = fake_get(in, ctl & 1);
	struct xs_wire_hdr hdr;
	uint8_t b;
	size_t take;

	switch ((ctl >> 1) % 8) {
	case 0:
	case 1:
	case 2:
	case 3:
		/* A request: type, ids and length chosen by the input. */
		b = get8(in);
		hdr.type = b < 0xf8 ? b % 28u : b == 0xff ? 0xffffffffu : b;
		hdr.req_id = get8(in);
		b = get8(in);
		hdr.tx_id = b < 0xf0 ? b % 4u : b == 0xff ? 0xffffffffu : b;
		b = get8(in);
		if (b < 0xf0) {
			hdr.len = b;
		} else {
			hdr.len = get8(in);
			hdr.len |= (uint32_t)get8(in) << 8;
			hdr.len %= LEN_MAX + 1;
		}
		take = hdr.len < in->n ? hdr.len : in->n;
		append(f, &hdr, sizeof(hdr));
		append(f, in->p, take);
		in->p += take;
		in->n -= take;
		break;
	case 4:
		/* Raw bytes: partial headers, junk between messages. */
		take = get8(in);
		take = take < in->n ? take : in->n;
		append(f, in->p, take);
		in->p += take;
		in->n -= take;
		break;
	case 5:
		f->rchunk = get8(in);
		f->wchunk = get8(in);
		break;
	case 6:
		f->is_closed = true;
		break;
	default:
		break; /* just serve */
	}
	frame(f);
	serve(&fakes[0]);
	serve(&fakes[1]);
	daemon_end_turn(&dmn);
}

/*
 * What must hold between requests: every watch in the index belongs to
 * a connection's session, and the store passes its own checker (every
 * 16th record and at the end: it scans every domain id).
 */
static void check_daemon(bool is_full)
{
	struct store_stats st;
	unsigned long watches = 0, txns = 0;
	char why[256];

	for (const struct conn *c = dmn.conns; c; c = c->next) {
		watches += dispatch_conn_watches(c);
		txns += dispatch_conn_txns(c);
	}
	if (watches != watch_count(dmn.watches)) {
		fprintf(stderr,
		        "fuzz_dispatch: %lu watches in sessions, %lu "
		        "in the index\n",
		        watches, watch_count(dmn.watches));
		abort();
	}
	if (!is_full)
		return;
	store_stats(dmn.store, &st);
	if (st.open_txns != txns) {
		fprintf(stderr,
		        "fuzz_dispatch: %u transactions open, %lu in "
		        "sessions\n",
		        st.open_txns, txns);
		abort();
	}
	if (store_check(dmn.store, why, sizeof(why))) {
		fprintf(stderr, "fuzz_dispatch: store_check: %s\n", why);
		abort();
	}
}

/* ---- the entry point ---- */

static int initialized;
static bool is_trace; /* FUZZ_DISPATCH_TRACE=1: the daemon's trace on stderr */
static char platform_none[] = "none";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct daemon_config cfg;
	struct input in = {data, size};

	if (!initialized) {
		/* Format every log line, keep none (or show them).  Not
		 * /dev/null: the log takes regular files only. */
		is_trace = getenv("FUZZ_DISPATCH_TRACE") != NULL;
		fuzz_log_open("fuzz_dispatch", LOG_DEBUG, is_trace);
		initialized = 1;
	}
	log_set_trace(is_trace);
	daemon_config_defaults(&cfg);
	cfg.platform = platform_none;
	/* Small bounds, so that inputs reach them. */
	cfg.conn_out_max = 32768;
	cfg.conn_events_max = 64;
	if (daemon_init(&dmn, &cfg))
		abort();
	memset(fakes, 0, sizeof(fakes));
	for (unsigned int i = 0; i < 2; i++)
		fake_get(&in, i);
	for (int n = 0; in.n && n < MAX_RECORDS; n++) {
		record(&in);
		check_daemon(n % 16 == 15);
	}
	check_daemon(true);
	daemon_fini(&dmn);
	for (unsigned int i = 0; i < 2; i++) {
		free(fakes[i].buf);
		fakes[i].buf = NULL;
	}
	/* What CONTROL log may have switched. */
	log_set_trace(is_trace);
	log_set_level(LOG_DEBUG);
	return 0;
}
