/*
 * persist.c - the daemon's state across its own crash (see persist.h and
 * docs/persistence.md): record encoding, group commit at the end of each
 * turn, snapshots from a forked child, and the restart.
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
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/domain.h"
#include "daemon/events.h"
#include "daemon/journal.h"
#include "daemon/loop.h"
#include "daemon/persist.h"
#include "daemon/ring.h"
#include "daemon/session.h"
#include "daemon/state.h"
#include "store/store.h"
#include "store/watch.h"

enum {
	REC_STORE = 1,
	REC_DOMAIN = 2,
	REC_GONE = 3,
	REC_SESSION = 4,
	REC_GLOBALS = 5,
};

#define SNAP_MAGIC   0x53445358u /* "XSDS" */
#define SNAP_VERSION 1u
/* While the journal cannot be written, a snapshot is tried this often. */
#define RETRY_MS     1000u
#define RETRY_MAX_MS 60000u
/* How long a restart waits for the lock of a dead daemon's child. */
#define LOCK_WAIT_MS 2000u

/* ---- encoding ---- */

struct wbuf {
	unsigned char *p;
	size_t len, cap;
	bool is_oom;
};

static void *w_room(struct wbuf *w, size_t n)
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

static void w_bytes(struct wbuf *w, const void *src, size_t n)
{
	void *dst = n ? w_room(w, n) : NULL;

	if (dst)
		memcpy(dst, src, n);
}

static void w_u64(struct wbuf *w, uint64_t v, size_t size)
{
	unsigned char b[8];

	for (size_t i = 0; i < size; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	w_bytes(w, b, size);
}

#define w_u8(w, v)  w_u64(w, v, 1)
#define w_u16(w, v) w_u64(w, v, 2)
#define w_u32(w, v) w_u64(w, v, 4)

/* Patch a u32 at `off` (a length written before its contents). */
static void w_put32_at(struct wbuf *w, size_t off, uint32_t v)
{
	if (w->is_oom)
		return;
	for (size_t i = 0; i < 4; i++)
		w->p[off + i] = (unsigned char)(v >> (8 * i));
}

struct rbuf {
	const unsigned char *p;
	size_t len, off;
	bool is_bad;
};

static const void *r_take(struct rbuf *r, size_t n)
{
	const void *at;

	if (r->is_bad || r->len - r->off < n) {
		r->is_bad = true;
		return NULL;
	}
	at = r->p + r->off;
	r->off += n;
	return at;
}

static uint64_t r_u64(struct rbuf *r, size_t size)
{
	const unsigned char *b = r_take(r, size);
	uint64_t v = 0;

	for (size_t i = 0; b && i < size; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

#define r_u8(r)  ((uint8_t)r_u64(r, 1))
#define r_u16(r) ((uint16_t)r_u64(r, 2))
#define r_u32(r) ((uint32_t)r_u64(r, 4))

/* ---- what is kept while loading ---- */

struct saved_watch {
	char *path, *token;
	int depth;
	size_t rel;
};

/* A domain as the journal left it: its record and its guest session. */
struct saved_dom {
	struct domain_saved rec;
	bool has_session;
	uint32_t req_cons, rsp_from, next_txid;
	uint32_t *txids;
	unsigned int ntxids;
	struct saved_watch *watches;
	unsigned int nwatches;
	unsigned char *in, *out;
	size_t in_len, out_len;
};

struct persist {
	struct daemon *d;
	struct journal *j;
	/* Domain records changed this turn, each once. */
	unsigned int *dirty;
	unsigned int nr_dirty, cap_dirty;
	unsigned char *is_dirty;      /* by domid */
	struct quota_set quota_saved; /* the global quotas last recorded */
	struct wbuf scratch;
	uint64_t retry_timer;
	unsigned int retry_ms; /* the next retry's delay */
	int compact_fd;        /* on the loop while a compaction runs, or -1 */
	/* Only while loading. */
	struct saved_dom **saved; /* by domid */
	uint64_t loaded_records;
	uint64_t loaded_nodes;
};

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

static void saved_free(struct persist *p, unsigned int domid)
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

static void enc_quota(struct wbuf *w, const struct quota_set *q)
{
	w_u32(w, QUOTA_COUNT);
	for (int i = 0; i < QUOTA_COUNT; i++)
		w_u64(w, q->v[i], 8);
}

static void enc_domain(struct wbuf *w, const struct domain_saved *s)
{
	w_u32(w, s->domid);
	w_u8(w, (s->is_introduced ? 1u : 0u) |
	            (s->is_shutdown_reported ? 2u : 0u));
	w_u32(w, s->target);
	w_u32(w, s->features);
	w_u64(w, s->gfn, 8);
	w_u32(w, s->remote_port);
	w_u32(w, s->local_port);
	enc_quota(w, &s->quota);
}

/* A guest connection's session; false if its ring cannot be read. */
static bool enc_session(struct wbuf *w, struct conn *c)
{
	const struct sess *s = c->sess;
	uint32_t req_cons, rsp_from;
	unsigned int ntx = 0, nw = 0;
	size_t in_len, out_len = conn_output_len(c);
	const char *in = conn_input(c, &in_len);
	void *out;

	if (!s || !c->transport ||
	    ring_save(c->transport, &req_cons, &rsp_from))
		return false;
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
		w_bytes(w, wt->path, pl);
		w_bytes(w, wt->token, tl);
	}
	w_bytes(w, in, in_len);
	out = out_len ? w_room(w, out_len) : NULL;
	if (out)
		conn_output_copy(c, out);
	return true;
}

static bool is_guest_session(const struct conn *c)
{
	return c->kind == CONN_RING && !c->is_dead && c->transport;
}

/* ---- records: decode into the saved table ---- */

static void dec_quota(struct rbuf *r, struct quota_set *q)
{
	uint32_t n = r_u32(r);

	for (uint32_t i = 0; i < n && !r->is_bad; i++) {
		uint64_t v = r_u64(r, 8);

		if (i < QUOTA_COUNT)
			q->v[i] = (unsigned long)v;
	}
}

static int dec_domain(struct persist *p, struct rbuf *r)
{
	struct domain_saved rec;
	struct saved_dom *s;
	uint8_t flags;

	memset(&rec, 0, sizeof(rec));
	rec.domid = r_u32(r);
	flags = r_u8(r);
	rec.is_introduced = flags & 1u;
	rec.is_shutdown_reported = flags & 2u;
	rec.target = r_u32(r);
	rec.features = r_u32(r);
	rec.gfn = r_u64(r, 8);
	rec.remote_port = r_u32(r);
	rec.local_port = r_u32(r);
	rec.quota = p->d->cfg.quota;
	dec_quota(r, &rec.quota);
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

static int dec_session(struct persist *p, struct rbuf *r)
{
	unsigned int domid = r_u32(r);
	struct saved_dom *s;
	uint32_t ntx, nw;

	if (r->is_bad || domid == 0 || domid > XS_DOMID_MAX)
		return -EINVAL;
	s = saved_get(p, domid);
	if (!s)
		return -ENOMEM;
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
		path = r_take(r, pl);
		token = r_take(r, tl);
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
		const void *in = r_take(r, s->in_len);
		const void *out = r_take(r, s->out_len);

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
	struct rbuf r = {buf, len, 0, false};
	int err = 0;

	switch (kind) {
	case REC_DOMAIN:
		err = dec_domain(p, &r);
		break;
	case REC_GONE: {
		unsigned int domid = r_u32(&r);

		if (r.is_bad || domid > XS_DOMID_MAX)
			return -EINVAL;
		saved_free(p, domid);
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

static int on_record(void *arg, unsigned int kind, const void *buf, size_t len)
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

static int on_snapshot(void *arg, const void *buf, size_t len)
{
	struct persist *p = arg;
	struct rbuf r = {buf, len, 0, false};
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
		const void *body = r_take(&r, elen);

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
	store_free(p->d->store);
	p->d->store = st;
	events_init(p->d); /* the new store's events */
	return 0;
}

/* ---- the snapshot, written by the compaction child ---- */

static int dump_state(void *arg, journal_write_fn *write, void *warg)
{
	struct persist *p = arg;
	struct daemon *d = p->d;
	struct wbuf w = {0};
	uint32_t n = 0;
	size_t count_at;
	int err;

	w_u32(&w, SNAP_MAGIC);
	w_u32(&w, SNAP_VERSION);
	count_at = w.len;
	w_u32(&w, 0);
	/* Entries: each u8 kind, u32 length, body. */
#define ENTRY(kind, body)                                                      \
	do {                                                                   \
		size_t at_;                                                    \
		w_u8(&w, kind);                                                \
		at_ = w.len;                                                   \
		w_u32(&w, 0);                                                  \
		body;                                                          \
		w_put32_at(&w, at_, (uint32_t)(w.len - at_ - 4));              \
		n++;                                                           \
	} while (0)
	ENTRY(REC_GLOBALS, enc_quota(&w, &d->cfg.quota));
	for (const struct domain *dom = d->dom_list; dom; dom = dom->next) {
		struct domain_saved s;

		domain_save(dom, &s);
		ENTRY(REC_DOMAIN, enc_domain(&w, &s));
		if (dom->conn && is_guest_session(dom->conn)) {
			size_t at = w.len;

			ENTRY(
			    REC_SESSION, if (!enc_session(&w, dom->conn)) {
				    /* A faulted ring: no session to keep. */
				    w.len = at;
				    n--;
				    break;
			    });
		}
	}
#undef ENTRY
	w_put32_at(&w, count_at, n);
	if (w.is_oom) {
		xfree(w.p);
		return -ENOMEM;
	}
	err = write(warg, w.p, w.len);
	xfree(w.p);
	if (err)
		return err;
	return store_dump(d->store, write, warg);
}

/* ---- recording ---- */

static void on_store_record(void *opaque, const void *rec, size_t len)
{
	struct persist *p = opaque;

	/* Out of memory here is a record lost: the turn's commit then
	 * fails (journal_append keeps the error), so nothing is
	 * acknowledged that is not recorded. */
	if (journal_append(p->j, REC_STORE, rec, len))
		log_err("journal: no memory for a record");
}

static void on_domain_change(struct daemon *d, unsigned int domid)
{
	struct persist *p = d->persist;

	if (domid > XS_DOMID_MAX || p->is_dirty[domid])
		return;
	if (p->nr_dirty == p->cap_dirty) {
		unsigned int cap = p->cap_dirty ? 2 * p->cap_dirty : 64;
		unsigned int *v = xrealloc_array(p->dirty, cap, sizeof(*v));

		if (!v) {
			log_err("journal: no memory to note domain %u", domid);
			return;
		}
		p->dirty = v;
		p->cap_dirty = cap;
	}
	p->is_dirty[domid] = 1;
	p->dirty[p->nr_dirty++] = domid;
}

static int append_scratch(struct persist *p, unsigned int kind)
{
	int err = p->scratch.is_oom ? -ENOMEM
	                            : journal_append(p->j, kind, p->scratch.p,
	                                             p->scratch.len);

	p->scratch.len = 0;
	p->scratch.is_oom = false;
	return err;
}

/* The turn's records beside the store's: quotas, domains, sessions. */
static int append_turn(struct persist *p)
{
	struct daemon *d = p->d;
	int err = 0;

	if (memcmp(&p->quota_saved, &d->cfg.quota, sizeof(p->quota_saved))) {
		enc_quota(&p->scratch, &d->cfg.quota);
		err = append_scratch(p, REC_GLOBALS);
		p->quota_saved = d->cfg.quota;
	}
	for (unsigned int i = 0; i < p->nr_dirty; i++) {
		unsigned int domid = p->dirty[i];
		struct domain *dom = domain_find(d, domid);

		p->is_dirty[domid] = 0;
		if (dom) {
			struct domain_saved s;

			domain_save(dom, &s);
			enc_domain(&p->scratch, &s);
			err = err ? err : append_scratch(p, REC_DOMAIN);
		} else {
			w_u32(&p->scratch, domid);
			err = err ? err : append_scratch(p, REC_GONE);
		}
	}
	p->nr_dirty = 0;
	for (struct conn *c = conn_save_first(d); c; c = c->save_next) {
		if (!is_guest_session(c) || c->is_held)
			continue;
		if (enc_session(&p->scratch, c))
			err = err ? err : append_scratch(p, REC_SESSION);
		p->scratch.len = 0;
	}
	return err;
}

static void compact_done(struct loop *l, int fd, unsigned int events,
                         void *arg);

static bool is_compacting(const struct persist *p)
{
	struct journal_info info;

	journal_info(p->j, &info);
	return info.is_compacting;
}

static void compact_start(struct persist *p)
{
	struct journal_info info;
	int err = journal_compact_start(p->j, dump_state, p);

	if (err) {
		log_warn("journal: cannot start a snapshot: %s",
		         strerror(-err));
		return;
	}
	journal_info(p->j, &info);
	log_debug("journal: snapshot started (the fork took %.1f ms)",
	          info.last_fork_sec * 1e3);
	p->compact_fd = journal_compact_fd(p->j);
	if (p->compact_fd >= 0 &&
	    loop_add(p->d->loop, p->compact_fd, LOOP_IN, compact_done, p))
		p->compact_fd = -1; /* polled at the end of each turn */
}

static void compact_poll(struct persist *p)
{
	int rc = journal_compact_poll(p->j);

	if (rc == 0)
		return;
	if (p->compact_fd >= 0) {
		loop_del(p->d->loop, p->compact_fd);
		p->compact_fd = -1;
	}
	if (rc < 0)
		return; /* logged by the journal; retried when due */
	if (p->d->persist_err) {
		log_info("journal: writable again, the state is recorded "
		         "(a snapshot succeeded): changes are accepted again");
		p->d->persist_err = 0;
		conn_release_held(p->d);
	}
}

static void compact_done(struct loop *l, int fd, unsigned int events, void *arg)
{
	compact_poll(arg);
}

static void retry_cb(struct loop *l, void *arg)
{
	struct persist *p = arg;

	p->retry_timer = 0;
	if (!p->d->persist_err)
		return;
	compact_poll(p);
	if (p->d->persist_err && p->compact_fd < 0 && !is_compacting(p))
		compact_start(p);
	/* Each try that fails leaves a journal file behind: back off. */
	if (p->d->persist_err) {
		if (p->retry_ms < RETRY_MAX_MS)
			p->retry_ms *= 2;
		p->retry_timer = loop_timer_add(l, p->retry_ms, retry_cb, p);
	}
}

void persist_end_turn(struct daemon *d)
{
	struct persist *p = d->persist;
	int err;

	if (!p)
		return;
	if (p->compact_fd < 0 && is_compacting(p))
		compact_poll(p);
	if (d->persist_err) {
		/* Nothing can be written; what this turn answered changed
		 * nothing recorded (changes are refused), except guests'
		 * sessions, which the healing snapshot records. */
		for (unsigned int i = 0; i < p->nr_dirty; i++)
			p->is_dirty[p->dirty[i]] = 0;
		p->nr_dirty = 0;
		return;
	}
	err = append_turn(p);
	if (!err)
		err = journal_commit(p->j);
	if (err) {
		log_err("journal: cannot record this turn (%s): its replies "
		        "are held and changes refused until a snapshot "
		        "succeeds",
		        strerror(-err));
		/* What clients are told: the protocol knows ENOSPC and EIO. */
		d->persist_err = err == -ENOSPC ? -ENOSPC : -EIO;
		conn_hold_pending(d);
		p->retry_ms = RETRY_MS;
		if (!p->retry_timer)
			p->retry_timer =
			    loop_timer_add(d->loop, RETRY_MS, retry_cb, p);
		return;
	}
	if (journal_compact_due(p->j))
		compact_start(p);
}

/* ---- the restart ---- */

/* Bring back the session of restored guest `dom` as saved in `s`. */
static void restore_session(struct daemon *d, struct domain *dom,
                            const struct saved_dom *s, unsigned int *nw)
{
	struct conn *c = dom->conn;
	size_t skip = 0;
	int err;

	if (!c || !s->has_session)
		return;
	err = ring_restore(dom->ring, s->req_cons, s->rsp_from, s->out_len,
	                   &skip);
	if (err) {
		/* Its indices moved in a way ours cannot have: go on from
		 * the page as it is (its request in flight may be lost). */
		log_warn("domain %u: its ring does not follow from the "
		         "journal (%s): served from where the page stands",
		         dom->domid, strerror(-err));
	} else {
		err = conn_restore(c, s->in, s->in_len, s->out + skip,
		                   s->out_len - skip);
		if (err)
			log_err("domain %u: cannot restore its session: %s",
			        dom->domid, strerror(-err));
	}
	if (session_restore(c->sess, s->next_txid, s->txids, s->ntxids))
		log_err("domain %u: no memory for its transactions",
		        dom->domid);
	for (unsigned int i = 0; i < s->nwatches; i++) {
		const struct saved_watch *sw = &s->watches[i];
		struct watch *w;

		if (watch_add(d->watches, sw->path, sw->token, sw->depth,
		              sw->rel, c, &w)) {
			log_err("domain %u: cannot restore watch %s",
			        dom->domid, sw->path);
			continue;
		}
		session_add_watch(c->sess, w);
		/* It fires once, as after WATCH: what changed while the
		 * daemon was down is then read again. */
		events_send(c, w, w->path);
		(*nw)++;
	}
}

/* Every domain the journal had: back if alive, forgotten if dead. */
static void restore_domains(struct persist *p, unsigned int *ndom,
                            unsigned int *ndead, unsigned int *nw)
{
	struct daemon *d = p->d;
	unsigned int *dead = NULL, nr_dead = 0;

	for (unsigned int domid = 1; domid <= XS_DOMID_MAX; domid++) {
		struct saved_dom *s = p->saved[domid];
		struct domain *dom;
		int err;

		if (!s)
			continue;
		err = domain_restore(d, &s->rec, &dom);
		if (err == -ESRCH) {
			unsigned int *v =
			    xrealloc_array(dead, nr_dead + 1, sizeof(*v));

			if (v) {
				dead = v;
				dead[nr_dead++] = domid;
			}
		} else if (err) {
			log_err("domain %u: cannot be restored: %s", domid,
			        strerror(-err));
		} else {
			(*ndom)++;
			restore_session(d, dom, s, nw);
		}
		saved_free(p, domid);
	}
	/* After the watches are back, so that they see @releaseDomain. */
	for (unsigned int i = 0; i < nr_dead; i++)
		domain_forget_dead(d, dead[i]);
	*ndead = nr_dead;
	xfree(dead);
	/* Requests the guests wrote meanwhile are served now. */
	for (struct domain *dom = d->dom_list; dom; dom = dom->next)
		if (dom->is_introduced && dom->ring)
			domain_kick(d, dom->ring->local_port);
}

static int journal_report(struct daemon *d, char *buf, size_t size)
{
	struct journal_info in;
	char when[64] = "never";

	journal_info(d->persist->j, &in);
	if (in.last_compaction > 0) {
		time_t t = (time_t)in.last_compaction;
		struct tm tm;

		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	return snprintf(
	    buf, size,
	    "dir %s\nepoch %llu\njournal-bytes %llu\n"
	    "journal-records %llu\nsnapshot-bytes %llu\n"
	    "compactions %llu\ncompacting %s\n"
	    "last-compaction %s\nlast-compaction-ms %.1f\n"
	    "last-fork-ms %.2f\nsync %s\nstate %s%s%s\n",
	    in.dir, (unsigned long long)in.epoch,
	    (unsigned long long)in.journal_bytes,
	    (unsigned long long)in.journal_records,
	    (unsigned long long)in.snapshot_bytes,
	    (unsigned long long)in.compactions, in.is_compacting ? "yes" : "no",
	    when, in.last_compaction_sec * 1e3, in.last_fork_sec * 1e3,
	    d->cfg.is_sync ? "yes" : "no", in.is_failed ? "failed: " : "ok",
	    in.is_failed ? strerror(-in.failed_err) : "",
	    d->persist_err ? " (changes refused)" : "");
}

static void persist_free(struct persist *p)
{
	if (!p)
		return;
	if (p->saved) {
		for (unsigned int i = 0; i <= XS_DOMID_MAX; i++)
			saved_free(p, i);
		xfree(p->saved);
	}
	if (p->compact_fd >= 0)
		loop_del(p->d->loop, p->compact_fd);
	if (p->retry_timer)
		loop_timer_del(p->d->loop, p->retry_timer);
	journal_close(p->j);
	xfree(p->dirty);
	xfree(p->is_dirty);
	xfree(p->scratch.p);
	xfree(p);
}

static int open_journal(const struct daemon_config *cfg, struct journal **j)
{
	struct journal_opts o = {cfg->is_sync, cfg->compact_min};
	int err;

	for (unsigned int waited = 0;; waited += 10) {
		err = journal_open(cfg->state_dir, &o, j);
		if (err != -EBUSY || waited >= LOCK_WAIT_MS)
			return err;
		usleep(10000);
	}
}

int persist_start(struct daemon *d, const char *crash_spec)
{
	struct journal_recovery rec;
	struct persist *p;
	unsigned int ndom = 0, ndead = 0, nw = 0;
	int err;

	if (!d->cfg.is_persistent)
		return 0;
	p = xcalloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->d = d;
	p->compact_fd = -1;
	p->quota_saved = d->cfg.quota;
	p->is_dirty = xcalloc(XS_DOMID_MAX + 1, 1);
	p->saved = xcalloc(XS_DOMID_MAX + 1, sizeof(*p->saved));
	if (!p->is_dirty || !p->saved) {
		persist_free(p);
		return -ENOMEM;
	}
	err = open_journal(&d->cfg, &p->j);
	if (err) {
		log_err("cannot open the state directory %s: %s",
		        d->cfg.state_dir, strerror(-err));
		persist_free(p);
		return err;
	}
	err = crash_spec ? journal_set_crash(p->j, crash_spec) : 0;
	if (err) {
		log_err("bad test crash point \"%s\"", crash_spec);
		persist_free(p);
		return err;
	}
	err = journal_recover(p->j, on_snapshot, on_record, p, &rec);
	if (err) {
		log_err("cannot load the state in %s: %s (left as it is; "
		        "start with --no-persist or another --state-dir)",
		        d->cfg.state_dir, strerror(-err));
		persist_free(p);
		return err;
	}
	p->quota_saved = d->cfg.quota;
	/* From here every change is recorded, the restart's own too. */
	d->persist = p;
	d->journal_report = journal_report;
	d->on_domain_change = on_domain_change;
	store_set_record_cb(d->store, on_store_record, p);
	restore_domains(p, &ndom, &ndead, &nw);
	xfree(p->saved);
	p->saved = NULL;
	{
		struct store_stats st;

		store_stats(d->store, &st);
		p->loaded_nodes = st.main_nodes;
	}
	if (rec.epoch || rec.records)
		log_info("state loaded from %s in %.1f ms: %llu nodes from a "
		         "snapshot of epoch %llu (%zu bytes) and %llu records "
		         "(%llu bytes); %u domains back, %u dead meanwhile, "
		         "%u guest watches%s%s",
		         d->cfg.state_dir, rec.seconds * 1e3,
		         (unsigned long long)p->loaded_nodes,
		         (unsigned long long)rec.epoch, rec.snapshot_bytes,
		         (unsigned long long)rec.records,
		         (unsigned long long)rec.journal_bytes, ndom, ndead, nw,
		         rec.dropped_bytes ? "; dropped: " : "",
		         rec.dropped_why);
	else
		log_info("journal in %s: empty, a new state", d->cfg.state_dir);
	err = journal_commit(p->j);
	if (err)
		log_err("journal: cannot record the restart: %s",
		        strerror(-err));
	return 0;
}

void persist_stop(struct daemon *d)
{
	struct persist *p = d->persist;

	if (!p)
		return;
	if (d->store)
		store_set_record_cb(d->store, NULL, NULL);
	d->persist = NULL;
	d->on_domain_change = NULL;
	d->journal_report = NULL;
	persist_free(p);
}
