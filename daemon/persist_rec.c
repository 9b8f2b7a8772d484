/*
 * persist_rec.c - the encoding of what the journal keeps (see persist.c
 * for when it is written and persist_int.h for who shares what).
 *
 * Records (journal kinds), all integers little-endian:
 *   STORE    a change set of the main tree, as store/apply.c emits it
 *   DOMAIN   a domain record as a whole (struct domain_saved)
 *   GONE     u32 domid: the record was freed
 *   SESSION  a guest's ring session at the end of a turn: u32 domid,
 *            u32 req_cons (requests consumed), u32 rsp_from (response
 *            position where the saved output starts), u32 next_txid,
 *            u32 ntxns, u32 nwatches, u32 in_len, u32 out_len, the open
 *            transaction ids, each watch (u16 path_len, u16 token_len,
 *            i32 depth, u32 rel_prefix, path, token), the partly
 *            received request, the unsent output
 *   GLOBALS  u32 n, n x u64: the global quotas (SET_QUOTA changes them)
 * A snapshot's payload: "XSDS", u32 version, u32 entries, each entry
 * u8 kind, u32 len, and a record body as above (GLOBALS, DOMAIN and
 * SESSION), then store_dump's bytes up to the end.
 * The live update's stream (update_stream.c) carries the same DOMAIN,
 * SESSION and GLOBALS bodies (sockets' too, as SESSION bodies of domid
 * 0): a change here is a change of UPDATE_STREAM_VERSION as well.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/rd.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/events.h"
#include "daemon/persist_int.h"
#include "daemon/ring.h"
#include "daemon/session.h"
#include "store/store.h"
#include "store/watch.h"

/* ---- encoding ---- */

void *prec_w_room(struct wbuf *w, size_t n)
{
	if (w->is_oom)
		return NULL;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		unsigned char *p;

		while (cap < w->len + n)
			cap *= 2;
		p = xrealloc(w->p, cap);
		if (!p) {
			w->is_oom = true;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
}

void prec_w_bytes(struct wbuf *w, const void *src, size_t n)
{
	void *dst = n ? prec_w_room(w, n) : NULL;

	if (dst)
		memcpy(dst, src, n);
}

void prec_w_u64(struct wbuf *w, uint64_t v, size_t size)
{
	unsigned char b[8];

	for (size_t i = 0; i < size; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	prec_w_bytes(w, b, size);
}

/* Patch a u32 at `off` (a length written before its contents). */
void prec_w_put32_at(struct wbuf *w, size_t off, uint32_t v)
{
	if (w->is_oom)
		return;
	for (size_t i = 0; i < 4; i++)
		w->p[off + i] = (unsigned char)(v >> (8 * i));
}

/* The records' fields (common/rd.h), by size. */
#define r_u8(r)  ((uint8_t)rd_le(r, 1))
#define r_u16(r) ((uint16_t)rd_le(r, 2))
#define r_u32(r) ((uint32_t)rd_le(r, 4))

/* ---- what is kept while loading ---- */

static void saved_session_clear(struct saved_dom *s)
{
	for (unsigned int i = 0; i < s->nwatches; i++) {
		xfree(s->watches[i].path);
		xfree(s->watches[i].token);
	}
	xfree(s->watches);
	xfree(s->txids);
	xfree(s->in);
	xfree(s->out);
	s->watches = NULL;
	s->txids = NULL;
	s->in = s->out = NULL;
	s->nwatches = s->ntxids = 0;
	s->in_len = s->out_len = 0;
	s->has_session = false;
}

void prec_saved_free(struct persist *p, unsigned int domid)
{
	struct saved_dom *s = p->saved[domid];

	if (!s)
		return;
	saved_session_clear(s);
	xfree(s);
	p->saved[domid] = NULL;
}

static struct saved_dom *saved_get(struct persist *p, unsigned int domid)
{
	if (!p->saved[domid]) {
		p->saved[domid] = xcalloc(1, sizeof(**p->saved));
		if (p->saved[domid])
			p->saved[domid]->rec.domid = domid;
	}
	return p->saved[domid];
}

/* ---- records: encode ---- */

void prec_enc_quota(struct wbuf *w, const struct quota_set *q)
{
	w_u32(w, QUOTA_COUNT);
	for (int i = 0; i < QUOTA_COUNT; i++)
		prec_w_u64(w, q->v[i], 8);
}

void prec_enc_domain(struct wbuf *w, const struct domain_saved *s)
{
	w_u32(w, s->domid);
	w_u8(w, (s->is_introduced ? 1u : 0u) |
	            (s->is_shutdown_reported ? 2u : 0u));
	w_u32(w, s->target);
	w_u32(w, s->features);
	prec_w_u64(w, s->gfn, 8);
	w_u32(w, s->remote_port);
	w_u32(w, s->local_port);
	prec_enc_quota(w, &s->quota);
}

/* A guest connection's session; false if its ring cannot be read. */
bool prec_enc_session(struct wbuf *w, struct conn *c)
{
	uint32_t req_cons, rsp_from;

	if (!c->sess || !c->transport ||
	    ring_save(c->transport, &req_cons, &rsp_from))
		return false;
	prec_enc_conn(w, c, req_cons, rsp_from);
	return true;
}

void prec_enc_conn(struct wbuf *w, struct conn *c, uint32_t req_cons,
                   uint32_t rsp_from)
{
	const struct sess *s = c->sess;
	unsigned int ntx = 0, nw = 0;
	size_t in_len, out_len = conn_output_len(c);
	const char *in = conn_input(c, &in_len);
	void *out;

	for (const struct sess_txn *t = s->txns; t; t = t->next)
		ntx++;
	for (const struct watch *wt = s->watches; wt; wt = wt->owner_next)
		nw++;
	w_u32(w, c->domid);
	w_u32(w, req_cons);
	w_u32(w, rsp_from);
	w_u32(w, s->next_txid);
	w_u32(w, ntx);
	w_u32(w, nw);
	w_u32(w, (uint32_t)in_len);
	w_u32(w, (uint32_t)out_len);
	for (const struct sess_txn *t = s->txns; t; t = t->next)
		w_u32(w, t->id);
	for (const struct watch *wt = s->watches; wt; wt = wt->owner_next) {
		size_t pl = strlen(wt->path), tl = strlen(wt->token);

		w_u16(w, pl);
		w_u16(w, tl);
		w_u32(w, (uint32_t)wt->depth);
		w_u32(w, wt->rel_prefix);
		prec_w_bytes(w, wt->path, pl);
		prec_w_bytes(w, wt->token, tl);
	}
	prec_w_bytes(w, in, in_len);
	out = out_len ? prec_w_room(w, out_len) : NULL;
	if (out)
		conn_output_copy(c, out);
}

bool prec_is_guest_session(const struct conn *c)
{
	return c->kind == CONN_RING && !c->is_dead && c->transport;
}

/* ---- records: decode into the saved table ---- */

static void dec_quota(struct rd *r, struct quota_set *q)
{
	uint32_t n = r_u32(r);

	for (uint32_t i = 0; i < n && !r->is_bad; i++) {
		uint64_t v = rd_le(r, 8);

		if (i < QUOTA_COUNT)
			q->v[i] = (unsigned long)v;
	}
}

/* A DOMAIN body into *rec (quotas not in it: `def`'s). */
static void dec_domain_rec(struct rd *r, const struct quota_set *def,
                           struct domain_saved *out)
{
	struct domain_saved rec;
	uint8_t flags;

	memset(&rec, 0, sizeof(rec));
	rec.domid = r_u32(r);
	flags = r_u8(r);
	rec.is_introduced = flags & 1u;
	rec.is_shutdown_reported = flags & 2u;
	rec.target = r_u32(r);
	rec.features = r_u32(r);
	rec.gfn = rd_le(r, 8);
	rec.remote_port = r_u32(r);
	rec.local_port = r_u32(r);
	rec.quota = *def;
	dec_quota(r, &rec.quota);
	*out = rec;
}

int prec_dec_domain(const void *buf, size_t len, const struct quota_set *def,
                    struct domain_saved *out)
{
	struct rd r = {buf, len, 0, false};

	dec_domain_rec(&r, def, out);
	if (r.is_bad || r.off != r.len || out->domid == 0 ||
	    out->domid > XS_DOMID_MAX)
		return -EINVAL;
	return 0;
}

static int dec_domain(struct persist *p, struct rd *r)
{
	struct domain_saved rec;
	struct saved_dom *s;

	dec_domain_rec(r, &p->d->cfg.quota, &rec);
	if (r->is_bad || rec.domid == 0 || rec.domid > XS_DOMID_MAX)
		return -EINVAL;
	s = saved_get(p, rec.domid);
	if (!s)
		return -ENOMEM;
	s->rec = rec;
	return 0;
}

static char *dup_n(const void *src, size_t n)
{
	char *s = xmalloc(n + 1);

	if (s) {
		memcpy(s, src, n);
		s[n] = '\0';
	}
	return s;
}

static int dec_session_body(struct rd *r, struct saved_dom *s);

static int dec_session(struct persist *p, struct rd *r)
{
	unsigned int domid = r_u32(r);
	struct saved_dom *s;

	if (r->is_bad || domid == 0 || domid > XS_DOMID_MAX)
		return -EINVAL;
	s = saved_get(p, domid);
	if (!s)
		return -ENOMEM;
	return dec_session_body(r, s);
}

int prec_dec_session(const void *buf, size_t len, unsigned int *domid,
                     struct saved_dom *s)
{
	struct rd r = {buf, len, 0, false};
	int err;

	memset(s, 0, sizeof(*s));
	*domid = r_u32(&r);
	err = r.is_bad ? -EINVAL : dec_session_body(&r, s);
	if (!err && r.off != r.len)
		err = -EINVAL;
	if (err)
		saved_session_clear(s);
	return err;
}

void prec_saved_session_clear(struct saved_dom *s)
{
	saved_session_clear(s);
}

/* The rest of a SESSION body, after its domid, into `s`. */
static int dec_session_body(struct rd *r, struct saved_dom *s)
{
	uint32_t ntx, nw;

	saved_session_clear(s);
	s->req_cons = r_u32(r);
	s->rsp_from = r_u32(r);
	s->next_txid = r_u32(r);
	ntx = r_u32(r);
	nw = r_u32(r);
	s->in_len = r_u32(r);
	s->out_len = r_u32(r);
	if (r->is_bad || ntx > r->len || nw > r->len)
		return -EINVAL;
	s->txids = xcalloc(ntx + 1, sizeof(*s->txids));
	s->watches = xcalloc(nw + 1, sizeof(*s->watches));
	if (!s->txids || !s->watches)
		return -ENOMEM;
	for (uint32_t i = 0; i < ntx; i++)
		s->txids[s->ntxids++] = r_u32(r);
	for (uint32_t i = 0; i < nw && !r->is_bad; i++) {
		struct saved_watch *w = &s->watches[s->nwatches];
		uint16_t pl = r_u16(r), tl = r_u16(r);
		const void *path, *token;

		w->depth = (int)r_u32(r);
		w->rel = r_u32(r);
		path = rd_take(r, pl);
		token = rd_take(r, tl);
		if (r->is_bad)
			break;
		w->path = dup_n(path, pl);
		w->token = dup_n(token, tl);
		s->nwatches++;
		if (!w->path || !w->token)
			return -ENOMEM;
	}
	if (s->in_len > CONN_IN_BUF_SIZE)
		return -EINVAL;
	{
		const void *in = rd_take(r, s->in_len);
		const void *out = rd_take(r, s->out_len);

		if (r->is_bad)
			return -EINVAL;
		s->in = (unsigned char *)dup_n(in, s->in_len);
		s->out = (unsigned char *)dup_n(out, s->out_len);
		if (!s->in || !s->out)
			return -ENOMEM;
	}
	s->has_session = true;
	return 0;
}

/* One record (or snapshot entry) of the daemon's own kinds. */
static int apply_saved(struct persist *p, unsigned int kind, const void *buf,
                       size_t len)
{
	struct rd r = {buf, len, 0, false};
	int err = 0;

	switch (kind) {
	case REC_DOMAIN:
		err = dec_domain(p, &r);
		break;
	case REC_GONE: {
		unsigned int domid = r_u32(&r);

		if (r.is_bad || domid > XS_DOMID_MAX)
			return -EINVAL;
		prec_saved_free(p, domid);
		break;
	}
	case REC_SESSION:
		err = dec_session(p, &r);
		break;
	case REC_GLOBALS:
		dec_quota(&r, &p->d->cfg.quota);
		break;
	default:
		return -EINVAL;
	}
	if (!err && (r.is_bad || r.off != r.len))
		err = -EINVAL;
	return err;
}

int prec_on_record(void *arg, unsigned int kind, const void *buf, size_t len)
{
	struct persist *p = arg;
	int err;

	p->loaded_records++;
	if (kind == REC_STORE)
		err = store_replay(p->d->store, buf, len);
	else
		err = apply_saved(p, kind, buf, len);
	if (err)
		log_err("journal: record %llu (kind %u, %zu bytes) does not "
		        "apply: %s",
		        (unsigned long long)p->loaded_records, kind, len,
		        strerror(-err));
	return err;
}

int prec_on_snapshot(void *arg, const void *buf, size_t len)
{
	struct persist *p = arg;
	struct rd r = {buf, len, 0, false};
	struct store *st;
	uint32_t n;
	int err;

	if (r_u32(&r) != SNAP_MAGIC || r_u32(&r) != SNAP_VERSION) {
		log_err("journal: the snapshot is not of this version");
		return -EINVAL;
	}
	n = r_u32(&r);
	for (uint32_t i = 0; i < n; i++) {
		unsigned int kind = r_u8(&r);
		uint32_t elen = r_u32(&r);
		const void *body = rd_take(&r, elen);

		if (r.is_bad)
			return -EINVAL;
		err = apply_saved(p, kind, body, elen);
		if (err)
			return err;
	}
	err = store_load((const char *)buf + r.off, len - r.off, &st);
	if (err) {
		log_err("journal: the snapshot's store does not load: %s",
		        strerror(-err));
		return err;
	}
	events_adopt_store(p->d, st);
	return 0;
}

/* ---- the snapshot, written by the compaction's thread ---- */

/* The daemon's part of a snapshot, encoded, and the frozen store. */
struct prec_frozen {
	struct wbuf w;
	struct store *store; /* to thaw into, on the loop thread */
	struct store_frozen *frozen;
};

int prec_freeze(struct persist *p, struct prec_frozen **out)
{
	struct daemon *d = p->d;
	struct prec_frozen *f = xcalloc(1, sizeof(*f));
	struct wbuf *w;
	uint32_t n = 0;
	size_t count_at;
	int err;

	*out = NULL;
	if (!f)
		return -ENOMEM;
	w = &f->w;
	w_u32(w, SNAP_MAGIC);
	w_u32(w, SNAP_VERSION);
	count_at = w->len;
	w_u32(w, 0);
	/* Entries: each u8 kind, u32 length, body. */
#define ENTRY(kind, body)                                                      \
	do {                                                                   \
		size_t at_;                                                    \
		w_u8(w, kind);                                                 \
		at_ = w->len;                                                  \
		w_u32(w, 0);                                                   \
		body;                                                          \
		prec_w_put32_at(w, at_, (uint32_t)(w->len - at_ - 4));         \
		n++;                                                           \
	} while (0)
	ENTRY(REC_GLOBALS, prec_enc_quota(w, &d->cfg.quota));
	for (const struct domain *dom = d->dom_list; dom; dom = dom->next) {
		struct domain_saved s;

		domain_save(dom, &s);
		ENTRY(REC_DOMAIN, prec_enc_domain(w, &s));
		if (dom->conn && prec_is_guest_session(dom->conn)) {
			size_t at = w->len;

			ENTRY(
			    REC_SESSION, if (!prec_enc_session(w, dom->conn)) {
				    /* A faulted ring: no session to keep. */
				    w->len = at;
				    n--;
				    break;
			    });
		}
	}
#undef ENTRY
	prec_w_put32_at(w, count_at, n);
	err = w->is_oom ? -ENOMEM : store_freeze(d->store, &f->frozen);
	if (err) {
		xfree(w->p);
		xfree(f);
		return err;
	}
	f->store = d->store;
	*out = f;
	return 0;
}

int prec_frozen_dump(void *arg, journal_write_fn *write, void *warg)
{
	struct prec_frozen *f = arg;
	int err = write(warg, f->w.p, f->w.len);

	return err ? err : store_frozen_dump(f->frozen, write, warg);
}

void prec_frozen_release(void *arg)
{
	struct prec_frozen *f = arg;

	store_thaw(f->store, f->frozen);
	xfree(f->w.p);
	xfree(f);
}

int prec_dump(void *arg, journal_write_fn *write, void *warg)
{
	struct prec_frozen *f;
	int err = prec_freeze(arg, &f);

	if (err)
		return err;
	err = prec_frozen_dump(f, write, warg);
	prec_frozen_release(f);
	return err;
}
