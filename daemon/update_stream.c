/*
 * update_stream.c - the live update's stream: the whole state of the
 * daemon as the old binary writes it into a memfd before its exec, and
 * as the new binary loads it (docs/live-update.md).  Records reuse the
 * journal's encodings (persist_rec.c) for domains, sessions and the tree;
 * the listening sockets, the socket connections and the counters are
 * this stream's own.  It hands state to the modules that own it (sock,
 * conn, session, domain, ring, persist) through their functions and
 * never sets their fields itself.
 *
 *   header  u32 "XSLU", u32 version, i32 exe_fd, u32 argc, argc strings
 *           each nul-terminated: the same in every version
 *   records (version 2), each u32 kind, u64 len, body:
 *     GLOBALS   the quotas, then the soft quotas (prec_enc_quota)
 *     COUNTERS  u32 death_seq, then the request counters of domain 0
 *               and of the departed: 4 u64 each
 *     STORE     store_dump's snapshot of the tree
 *     LISTEN    i32 socket fd, i32 socket_ro fd, u32 inherited bits
 *     SOCKET    i32 fd, u32 flags (1 read-only, 2 its -s is pending),
 *               u32 req_id, u32 tx_id of that -s, then a SESSION body
 *               (domid 0, ring positions 0)
 *     DOMAIN    a domain record (prec_enc_domain)
 *     GUEST     the session of the DOMAIN before it (prec_enc_session)
 *     TXN       an open transaction of the SOCKET or GUEST just before
 *               (session_save_txn: its id, then store_txn_save's image)
 *     END       empty, last
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fdio.h"
#include "common/log.h"
#include "common/rd.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/domain.h"
#include "daemon/events.h"
#include "daemon/loop.h"
#include "daemon/persist.h"
#include "daemon/persist_int.h"
#include "daemon/ring.h"
#include "daemon/session.h"
#include "daemon/sock.h"
#include "daemon/state.h"
#include "daemon/update.h"
#include "daemon/update_int.h"
#include "store/store.h"
#include "store/watch.h"

enum {
	LU_END = 0,
	LU_GLOBALS = 1,
	LU_COUNTERS = 2,
	LU_STORE = 3,
	LU_LISTEN = 4,
	LU_SOCKET = 5,
	LU_DOMAIN = 6,
	LU_GUEST = 7,
	LU_TXN = 8,
};

#define LU_SOCK_READONLY 1u
#define LU_SOCK_PENDING  2u

/* ---- writing ---- */

struct out {
	int fd;
	struct wbuf w;
	uint64_t pos; /* bytes written to fd */
	int err;
};

static void out_flush(struct out *o)
{
	if (!o->err && o->w.is_oom)
		o->err = -ENOMEM;
	if (!o->err)
		o->err = fd_write_all(o->fd, o->w.p, o->w.len);
	o->pos += o->w.len;
	o->w.len = 0;
}

static size_t rec_begin(struct out *o, uint32_t kind)
{
	size_t at;

	w_u32(&o->w, kind);
	at = o->w.len;
	prec_w_u64(&o->w, 0, 8);
	return at;
}

static void rec_end(struct out *o, size_t at)
{
	uint64_t len = o->w.len - at - 8;

	prec_w_put32_at(&o->w, at, (uint32_t)len);
	prec_w_put32_at(&o->w, at + 4, (uint32_t)(len >> 32));
	if (o->w.len > 65536)
		out_flush(o);
}

static void enc_stats(struct wbuf *w, const struct dom_stats *st)
{
	prec_w_u64(w, st->requests, 8);
	prec_w_u64(w, st->refused[DOM_REFUSED_QUOTA], 8);
	prec_w_u64(w, st->refused[DOM_REFUSED_PERM], 8);
	prec_w_u64(w, st->throttled, 8);
}

static int dump_write(void *arg, const void *buf, size_t len)
{
	struct out *o = arg;
	int err = fd_write_all(o->fd, buf, len);

	o->pos += len;
	return err;
}

/* The tree, written straight to the fd (it may be large). */
static void enc_store(struct daemon *d, struct out *o)
{
	unsigned char len[8];
	uint64_t at, n;

	w_u32(&o->w, LU_STORE);
	out_flush(o);
	at = o->pos;
	memset(len, 0, sizeof(len));
	if (!o->err)
		o->err = fd_write_all(o->fd, len, sizeof(len));
	o->pos += 8;
	if (!o->err)
		o->err = store_dump(d->store, dump_write, o);
	n = o->pos - at - 8;
	for (int i = 0; i < 8; i++)
		len[i] = (unsigned char)(n >> (8 * i));
	if (!o->err && pwrite(o->fd, len, 8, (off_t)at) != 8)
		o->err = -errno;
}

static int txn_write(void *arg, const void *buf, size_t len)
{
	struct out *o = arg;

	prec_w_bytes(&o->w, buf, len);
	return o->w.is_oom ? -ENOMEM : 0;
}

/* The open transactions of `c`, after its SOCKET or GUEST record: they
 * go on in the new binary (session_restore_txn). */
static void enc_txns(struct daemon *d, struct out *o, struct conn *c)
{
	const struct sess *s = c->sess;

	for (const struct sess_txn *t = s ? s->txns : NULL; t && !o->err;
	     t = t->next) {
		size_t at;
		int err;

		if (!t->txn)
			continue; /* lost in a restart: its id went along */
		at = rec_begin(o, LU_TXN);
		err = session_save_txn(d, s, t, txn_write, o);
		if (err && !o->err)
			o->err = err;
		rec_end(o, at);
	}
}

static void enc_socket(struct out *o, struct conn *c,
                       const struct conn *pending, const struct update *u)
{
	uint32_t flags = (c->is_readonly ? LU_SOCK_READONLY : 0) |
	                 (c == pending ? LU_SOCK_PENDING : 0);
	size_t at = rec_begin(o, LU_SOCKET);

	w_u32(&o->w, (uint32_t)c->fd);
	w_u32(&o->w, flags);
	w_u32(&o->w, c == pending ? u->req_id : 0);
	w_u32(&o->w, c == pending ? u->tx_id : 0);
	prec_enc_conn(&o->w, c, 0, 0);
	rec_end(o, at);
}

int ustream_write(struct daemon *d, const struct update *u, int fd, int exe_fd,
                  const struct conn *pending)
{
	struct out o = {fd, {0}, 0, 0};
	size_t at;

	w_u32(&o.w, UPDATE_MAGIC);
	w_u32(&o.w, u->format);
	w_u32(&o.w, (uint32_t)exe_fd);
	w_u32(&o.w, (uint32_t)u->argc);
	for (int i = 0; i < u->argc; i++)
		prec_w_bytes(&o.w, u->argv[i], strlen(u->argv[i]) + 1);

	at = rec_begin(&o, LU_GLOBALS);
	prec_enc_quota(&o.w, &d->cfg.quota);
	prec_enc_quota(&o.w, &d->cfg.quota_soft);
	rec_end(&o, at);
	at = rec_begin(&o, LU_COUNTERS);
	w_u32(&o.w, d->death_seq);
	enc_stats(&o.w, &d->stats_dom0);
	enc_stats(&o.w, &d->stats_gone);
	rec_end(&o, at);
	enc_store(d, &o);
	at = rec_begin(&o, LU_LISTEN);
	w_u32(&o.w, (uint32_t)d->sock_fd);
	w_u32(&o.w, (uint32_t)d->sock_ro_fd);
	w_u32(&o.w, d->sock_inherited);
	rec_end(&o, at);
	for (struct conn *c = d->conns; c; c = c->next) {
		if (c->kind == CONN_SOCKET && !c->is_dead) {
			enc_socket(&o, c, pending, u);
			enc_txns(d, &o, c);
		}
	}
	for (const struct domain *dom = d->dom_list; dom; dom = dom->next) {
		struct domain_saved s;

		domain_save(dom, &s);
		at = rec_begin(&o, LU_DOMAIN);
		prec_enc_domain(&o.w, &s);
		rec_end(&o, at);
		if (dom->conn && prec_is_guest_session(dom->conn)) {
			size_t len_at = o.w.len;

			at = rec_begin(&o, LU_GUEST);
			if (prec_enc_session(&o.w, dom->conn)) {
				rec_end(&o, at);
				enc_txns(d, &o, dom->conn);
			} else {
				o.w.len = len_at; /* a faulted ring */
			}
		}
	}
	at = rec_begin(&o, LU_END);
	rec_end(&o, at);
	out_flush(&o);
	xfree(o.w.p);
	return o.err;
}

/* ---- reading ---- */

void ustream_head_free(struct ustream_head *h)
{
	if (h->argv)
		for (char **a = h->argv; *a; a++)
			xfree(*a);
	xfree(h->argv);
	h->argv = NULL;
}

int ustream_head(const void *buf, size_t len, struct ustream_head *h)
{
	struct rd r = {buf, len, 0, false};
	uint32_t argc;

	memset(h, 0, sizeof(*h));
	h->exe_fd = -1;
	if (rd_le(&r, 4) != UPDATE_MAGIC)
		return -EINVAL;
	h->version = (uint32_t)rd_le(&r, 4);
	h->exe_fd = (int)(int32_t)rd_le(&r, 4);
	argc = (uint32_t)rd_le(&r, 4);
	if (r.is_bad || argc == 0 || argc > len)
		return -EINVAL;
	h->argv = xcalloc(argc + 1, sizeof(*h->argv));
	if (!h->argv)
		return -ENOMEM;
	for (uint32_t i = 0; i < argc; i++) {
		const char *s = rd_str(&r);

		if (!s) {
			ustream_head_free(h);
			return -EINVAL;
		}
		h->argv[i] = xstrdup(s);
		if (!h->argv[i]) {
			ustream_head_free(h);
			return -ENOMEM;
		}
	}
	h->records_off = r.off;
	return 0;
}

/* One record: its kind and body, from r. */
struct rec {
	uint32_t kind;
	const unsigned char *body;
	size_t len;
};

static bool next_rec(struct rd *r, struct rec *out)
{
	uint64_t len;

	out->kind = (uint32_t)rd_le(r, 4);
	len = rd_le(r, 8);
	if (r->is_bad || len > r->len - r->off) {
		r->is_bad = true;
		return false;
	}
	out->body = rd_take(r, (size_t)len);
	out->len = (size_t)len;
	return !r->is_bad;
}

static void dec_stats(struct rd *r, struct dom_stats *st)
{
	st->requests = rd_le(r, 8);
	st->refused[DOM_REFUSED_QUOTA] = rd_le(r, 8);
	st->refused[DOM_REFUSED_PERM] = rd_le(r, 8);
	st->throttled = rd_le(r, 8);
}

static void dec_quotas(struct rd *r, struct quota_set *q)
{
	uint32_t n = (uint32_t)rd_le(r, 4);

	for (uint32_t i = 0; i < n && !r->is_bad; i++) {
		uint64_t v = rd_le(r, 8);

		if (i < QUOTA_COUNT)
			q->v[i] = (unsigned long)v;
	}
}

/* Check the framing of every record; the STORE's body into *store. */
static int check_records(struct rd r, struct rec *store)
{
	struct rec x;
	bool has_end = false;

	store->body = NULL;
	while (!has_end && next_rec(&r, &x)) {
		if (x.kind == LU_STORE)
			*store = x;
		has_end = x.kind == LU_END;
	}
	return has_end && store->body && r.off == r.len ? 0 : -EINVAL;
}

/* Put back a connection's queues, transactions and watches. */
static void restore_conn(struct daemon *d, struct conn *c,
                         const struct saved_dom *s, size_t skip)
{
	int err =
	    conn_restore(c, s->in, s->in_len, s->out + skip, s->out_len - skip);

	if (err) {
		conn_kill(c, "live update: cannot restore its queues");
		return;
	}
	if (session_restore(c->sess, s->next_txid, s->txids, s->ntxids))
		log_err("live update: conn %llu: no memory for its "
		        "transactions",
		        (unsigned long long)c->id);
	/* Oldest first, as they were registered (events keep their
	 * order).  No event fires: nothing changed. */
	for (unsigned int i = s->nwatches; i-- > 0;) {
		const struct saved_watch *sw = &s->watches[i];
		struct watch *w;

		if (watch_add(d->watches, sw->path, sw->token, sw->depth,
		              sw->rel, c, &w)) {
			log_err("live update: conn %llu: cannot restore watch "
			        "%s",
			        (unsigned long long)c->id, sw->path);
			continue;
		}
		session_add_watch(c->sess, w);
	}
}

/* A TXN record: the transaction goes on in `c` (that of the SOCKET or
 * GUEST record before it; NULL: that one was lost, and so is it). */
static void load_txn(struct daemon *d, struct conn *c, const struct rec *x)
{
	int err = c && c->sess
	              ? session_restore_txn(d, c->sess, x->body, x->len)
	              : -ENOENT;

	if (err)
		log_err("live update: conn %llu: a transaction is lost (%s): "
		        "it answers EAGAIN",
		        c ? (unsigned long long)c->id : 0ull, strerror(-err));
}

/* The SOCKET record `x`: its connection (NULL if lost). */
static struct conn *load_socket(struct daemon *d, const struct rec *x,
                                struct conn **pending, uint32_t *req_id,
                                uint32_t *tx_id)
{
	struct rd r = {x->body, x->len, 0, false};
	int fd = (int)(int32_t)rd_le(&r, 4);
	uint32_t flags = (uint32_t)rd_le(&r, 4);
	uint32_t rid = (uint32_t)rd_le(&r, 4), tid = (uint32_t)rd_le(&r, 4);
	struct saved_dom s;
	unsigned int domid;
	struct conn *c;
	int err;

	if (r.is_bad)
		return NULL;
	err = prec_dec_session(x->body + r.off, x->len - r.off, &domid, &s);
	if (!err)
		err = sock_adopt_conn(d, fd, flags & LU_SOCK_READONLY, &c);
	if (err) {
		log_err("live update: socket connection (fd %d) lost: %s", fd,
		        strerror(-err));
		close(fd);
		prec_saved_session_clear(&s);
		return NULL;
	}
	restore_conn(d, c, &s, 0);
	prec_saved_session_clear(&s);
	if (flags & LU_SOCK_PENDING) {
		*pending = c;
		*req_id = rid;
		*tx_id = tid;
	}
	return c->is_dead ? NULL : c;
}

/* The GUEST record `x`: its connection (NULL if lost). */
static struct conn *load_guest(struct daemon *d, const struct rec *x,
                               struct domain *dom)
{
	struct saved_dom s;
	unsigned int domid;
	size_t skip = 0;
	int err;

	err = prec_dec_session(x->body, x->len, &domid, &s);
	if (err || !dom || dom->domid != domid || !dom->conn) {
		if (!err)
			prec_saved_session_clear(&s);
		return NULL;
	}
	err = ring_restore(dom->ring, s.req_cons, s.rsp_from, s.out_len, &skip);
	if (err)
		log_warn("live update: domain %u: its ring moved (%s): "
		         "served from where the page stands",
		         domid, strerror(-err));
	else
		restore_conn(d, dom->conn, &s, skip);
	prec_saved_session_clear(&s);
	return err || dom->conn->is_dead ? NULL : dom->conn;
}

/* The domains; those that died meanwhile are forgotten at the end. */
static void load_domains(struct daemon *d, struct rd r)
{
	unsigned int *dead = NULL, nr_dead = 0;
	struct domain *dom = NULL;
	struct conn *guest = NULL; /* of the last GUEST record */
	bool is_guest = false;     /* the last record but TXN was one */
	struct rec x;

	while (next_rec(&r, &x) && x.kind != LU_END) {
		struct domain_saved s;
		int err;

		if (x.kind == LU_TXN) {
			if (is_guest) /* not a SOCKET's: loaded already */
				load_txn(d, guest, &x);
			continue;
		}
		is_guest = x.kind == LU_GUEST;
		if (x.kind == LU_GUEST) {
			guest = load_guest(d, &x, dom);
			continue;
		}
		if (x.kind != LU_DOMAIN)
			continue;
		dom = NULL;
		if (prec_dec_domain(x.body, x.len, &d->cfg.quota, &s))
			continue;
		err = domain_restore(d, &s, &dom);
		if (err == -ESRCH) {
			unsigned int *v =
			    xrealloc_array(dead, nr_dead + 1, sizeof(*v));

			if (v) {
				dead = v;
				dead[nr_dead++] = s.domid;
			}
		} else if (err) {
			log_err("live update: domain %u cannot be restored: "
			        "%s",
			        s.domid, strerror(-err));
		}
	}
	for (unsigned int i = 0; i < nr_dead; i++)
		domain_forget_dead(d, dead[i]);
	xfree(dead);
}

static void wake_cb(struct loop *l, void *arg)
{
}

/* What cannot fail: sockets, connections, domains, the -s answer. */
static void load_rest(struct daemon *d, struct rd r, const char *error)
{
	struct conn *pending = NULL;
	uint32_t req_id = 0, tx_id = 0;
	struct rd all = r;
	struct rec x;
	/* The connection of the last SOCKET record; `is_socket`: the last
	 * record other than TXN was a SOCKET (a GUEST's are loaded with
	 * the domains). */
	struct conn *last = NULL;
	bool is_socket = false;

	while (next_rec(&r, &x) && x.kind != LU_END) {
		struct rd b = {x.body, x.len, 0, false};

		if (x.kind == LU_TXN) {
			if (is_socket)
				load_txn(d, last, &x);
			continue;
		}
		is_socket = x.kind == LU_SOCKET;
		if (x.kind == LU_LISTEN) {
			int rw = (int)(int32_t)rd_le(&b, 4);
			int ro = (int)(int32_t)rd_le(&b, 4);
			unsigned int inh = (unsigned int)rd_le(&b, 4);
			int err = b.is_bad ? -EINVAL
			                   : sock_adopt_listen(d, rw, ro, inh);

			if (err)
				log_err("live update: cannot take the "
				        "listening sockets over: %s",
				        strerror(-err));
		} else if (x.kind == LU_SOCKET) {
			last = load_socket(d, &x, &pending, &req_id, &tx_id);
		}
	}
	load_domains(d, all);
	if (pending) {
		const char *ans = error ? error : "OK";

		if (conn_send(pending, XS_CONTROL, req_id, tx_id, ans,
		              strlen(ans) + 1, false))
			conn_kill(pending, "out of memory answering -s");
	}
	/* What was buffered or written meanwhile is served now. */
	for (struct conn *c = d->conns; c; c = c->next)
		if (c->kind == CONN_SOCKET)
			conn_handle_input(c);
	for (struct domain *dom = d->dom_list; dom; dom = dom->next)
		if (dom->is_introduced && dom->ring)
			domain_kick(d, dom->ring->local_port);
	/* A first turn at once: its end flushes what was queued here. */
	loop_timer_add(d->loop, 0, wake_cb, NULL);
}

/* The header, the format and the records' framing: *r at the first
 * record, *store the tree's.  0 or -errno (into why[size]). */
static int check_stream(const void *buf, size_t len, unsigned int format,
                        struct rd *r, struct rec *store, char *why, size_t size)
{
	struct ustream_head h;
	int err = ustream_head(buf, len, &h);

	if (err) {
		snprintf(why, size, "the stream has no valid header");
		return err;
	}
	ustream_head_free(&h);
	if (h.version != format) {
		snprintf(why, size,
		         "the stream is of format version %u, this xstored "
		         "reads version %u",
		         h.version, format);
		return -EPROTONOSUPPORT;
	}
	*r = (struct rd){buf, len, h.records_off, false};
	if (check_records(*r, store)) {
		snprintf(why, size, "the stream is truncated or malformed");
		return -EINVAL;
	}
	return 0;
}

int ustream_verify(const void *buf, size_t len, unsigned int format, char *why,
                   size_t size)
{
	struct rd r;
	struct rec x, store = {0};
	struct store *st;
	struct txn **txns = NULL;
	size_t ntxns = 0;
	int err = check_stream(buf, len, format, &r, &store, why, size);

	if (err)
		return err;
	err = store_load(store.body, store.len, &st);
	if (err) {
		snprintf(why, size, "its tree does not load: %s",
		         strerror(-err));
		return err;
	}
	/* What the load decodes, decoded; nothing outside is touched.
	 * A record the load would drop (logged) is not an error here. */
	while (next_rec(&r, &x) && x.kind != LU_END) {
		struct saved_dom s;
		struct domain_saved ds;
		struct quota_set q = {{0}};
		unsigned int domid;
		struct txn *t, **v;

		if (x.kind == LU_DOMAIN) {
			prec_dec_domain(x.body, x.len, &q, &ds);
		} else if ((x.kind == LU_SOCKET && x.len >= 16 &&
		            !prec_dec_session(x.body + 16, x.len - 16, &domid,
		                              &s)) ||
		           (x.kind == LU_GUEST &&
		            !prec_dec_session(x.body, x.len, &domid, &s))) {
			prec_saved_session_clear(&s);
		} else if (x.kind == LU_TXN &&
		           !session_check_txn(st, x.body, x.len, &t)) {
			/* Kept open, as the load keeps them. */
			v = xrealloc_array(txns, ntxns + 1, sizeof(*v));
			if (!v) {
				store_txn_end(st, t, false);
				continue;
			}
			txns = v;
			txns[ntxns++] = t;
		}
	}
	while (ntxns)
		store_txn_end(st, txns[--ntxns], false);
	xfree(txns);
	store_free(st);
	return 0;
}

int ustream_load(struct daemon *d, const void *buf, size_t len,
                 unsigned int format, const char *error, char *why, size_t size)
{
	struct rd r;
	struct rec x, store = {0};
	struct store *st;
	uint64_t t0, t1, t2;
	int err = check_stream(buf, len, format, &r, &store, why, size);

	if (err)
		return err;
	t0 = loop_now_us();
	err = store_load(store.body, store.len, &st);
	t1 = loop_now_us();
	if (err) {
		snprintf(why, size, "its tree does not load: %s",
		         strerror(-err));
		return err;
	}
	events_adopt_store(d, st);
	for (struct rd q = r; next_rec(&q, &x) && x.kind != LU_END;) {
		struct rd b = {x.body, x.len, 0, false};

		if (x.kind == LU_GLOBALS) {
			dec_quotas(&b, &d->cfg.quota);
			dec_quotas(&b, &d->cfg.quota_soft);
		} else if (x.kind == LU_COUNTERS) {
			d->death_seq = (uint32_t)rd_le(&b, 4);
			dec_stats(&b, &d->stats_dom0);
			dec_stats(&b, &d->stats_gone);
		}
	}
	/* The last step that may fail: from here the state is ours. */
	err = persist_adopt(d);
	if (err && error) {
		/* Coming back after the successor failed: serving without
		 * a journal beats not serving. */
		log_err("live update: serving on without a journal");
		err = 0;
	}
	if (err) {
		snprintf(why, size, "cannot take the state directory over: %s",
		         strerror(-err));
		return err;
	}
	t2 = loop_now_us();
	load_rest(d, r, error);
	log_info("live update: the tree (%zu bytes) loaded in %.1f ms, the "
	         "journal taken over in %.1f ms, the rest in %.1f ms",
	         store.len, (double)(t1 - t0) / 1e3, (double)(t2 - t1) / 1e3,
	         (double)(loop_now_us() - t2) / 1e3);
	return 0;
}
