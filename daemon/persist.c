/*
 * persist.c - the daemon's state across its own crash (see persist.h and
 * docs/persistence.md): what is recorded when (group commit at the end
 * of each turn), snapshots written by a thread, the failed journal, and
 * the restart.  The encoding is persist_rec.c's.
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
#include "daemon/persist_int.h"
#include "daemon/ring.h"
#include "daemon/session.h"
#include "daemon/state.h"
#include "store/store.h"
#include "store/watch.h"

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
		prec_enc_quota(&p->scratch, &d->cfg.quota);
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
			prec_enc_domain(&p->scratch, &s);
			err = err ? err : append_scratch(p, REC_DOMAIN);
		} else {
			w_u32(&p->scratch, domid);
			err = err ? err : append_scratch(p, REC_GONE);
		}
	}
	p->nr_dirty = 0;
	for (struct conn *c = conn_save_first(d); c; c = c->save_next) {
		if (!prec_is_guest_session(c) || c->is_held)
			continue;
		if (prec_enc_session(&p->scratch, c))
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

static double mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void compact_start(struct persist *p)
{
	struct prec_frozen *f;
	double t0 = mono_sec();
	int err = prec_freeze(p, &f);

	if (!err)
		err = journal_compact_start(p->j, prec_frozen_dump,
		                            prec_frozen_release, f);
	if (err) {
		log_warn("journal: cannot start a snapshot: %s",
		         strerror(-err));
		return;
	}
	p->last_pause_sec = mono_sec() - t0;
	log_debug("journal: snapshot started (the daemon stopped %.2f ms)",
	          p->last_pause_sec * 1e3);
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
		prec_saved_free(p, domid);
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
	    "last-pause-ms %.2f\nsync %s\nstate %s%s%s\n",
	    in.dir, (unsigned long long)in.epoch,
	    (unsigned long long)in.journal_bytes,
	    (unsigned long long)in.journal_records,
	    (unsigned long long)in.snapshot_bytes,
	    (unsigned long long)in.compactions, in.is_compacting ? "yes" : "no",
	    when, in.last_compaction_sec * 1e3,
	    d->persist->last_pause_sec * 1e3, d->cfg.is_sync ? "yes" : "no",
	    in.is_failed ? "failed: " : "ok",
	    in.is_failed ? strerror(-in.failed_err) : "",
	    d->persist_err ? " (changes refused)" : "");
}

static void persist_free(struct persist *p)
{
	if (!p)
		return;
	if (p->saved) {
		for (unsigned int i = 0; i <= XS_DOMID_MAX; i++)
			prec_saved_free(p, i);
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

/* A persist for `d` with its per-domain table; NULL: no memory. */
static struct persist *persist_new(struct daemon *d)
{
	struct persist *p = xcalloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->d = d;
	p->compact_fd = -1;
	p->quota_saved = d->cfg.quota;
	p->is_dirty = xcalloc(XS_DOMID_MAX + 1, 1);
	if (!p->is_dirty) {
		persist_free(p);
		return NULL;
	}
	return p;
}

/* From here every change of `d` is recorded through `p`. */
static void persist_attach(struct daemon *d, struct persist *p)
{
	d->persist = p;
	d->journal_report = journal_report;
	d->on_domain_change = on_domain_change;
	store_set_record_cb(d->store, on_store_record, p);
}

int persist_start(struct daemon *d, const char *crash_spec)
{
	struct journal_recovery rec;
	struct persist *p;
	unsigned int ndom = 0, ndead = 0, nw = 0;
	int err;

	if (!d->cfg.is_persistent)
		return 0;
	p = persist_new(d);
	if (!p)
		return -ENOMEM;
	p->saved = xcalloc(XS_DOMID_MAX + 1, sizeof(*p->saved));
	if (!p->saved) {
		persist_free(p);
		return -ENOMEM;
	}
	err = open_journal(&d->cfg, &p->j);
	if (err == -EBUSY)
		log_err("the state directory %s is in use by another xstored "
		        "(it holds the journal's lock): not starting",
		        d->cfg.state_dir);
	else if (err)
		log_err("cannot open the state directory %s: %s",
		        d->cfg.state_dir, strerror(-err));
	if (err) {
		persist_free(p);
		return err;
	}
	err = crash_spec ? journal_set_crash(p->j, crash_spec) : 0;
	if (err) {
		log_err("bad test crash point \"%s\"", crash_spec);
		persist_free(p);
		return err;
	}
	err = journal_recover(p->j, prec_on_snapshot, prec_on_record, p, &rec);
	if (err) {
		log_err("cannot load the state in %s: %s (left as it is; "
		        "start with --no-persist or another --state-dir)",
		        d->cfg.state_dir, strerror(-err));
		persist_free(p);
		return err;
	}
	p->quota_saved = d->cfg.quota;
	/* From here every change is recorded, the restart's own too. */
	persist_attach(d, p);
	restore_domains(p, &ndom, &ndead, &nw);
	xfree(p->saved);
	p->saved = NULL;
	{
		struct store_stats st;

		store_stats(d->store, &st);
		p->loaded_nodes = st.main_nodes;
	}
	if (rec.epoch || rec.records)
		log_info("state loaded from %s in %.1f ms: %llu nodes, from "
		         "snapshot %llu (%zu bytes) and %llu records (%llu "
		         "bytes); %u domains back, %u dead meanwhile, %u guest "
		         "watches%s%s",
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

/* The live update's journal: its records are already in memory. */
static int skip_snapshot(void *arg, const void *buf, size_t len)
{
	return 0;
}

static int skip_record(void *arg, unsigned int kind, const void *buf,
                       size_t len)
{
	return 0;
}

int persist_adopt(struct daemon *d)
{
	struct persist *p;
	int err;

	if (!d->cfg.is_persistent)
		return 0;
	p = persist_new(d);
	err = p ? open_journal(&d->cfg, &p->j) : -ENOMEM;
	if (!err)
		err =
		    journal_recover(p->j, skip_snapshot, skip_record, p, NULL);
	if (err) {
		log_err("live update: cannot take the state directory %s "
		        "over: %s",
		        d->cfg.state_dir, strerror(-err));
		persist_free(p);
		return err;
	}
	persist_attach(d, p);
	return 0;
}

bool persist_is_busy(const struct daemon *d)
{
	return d->persist && (d->persist_err || is_compacting(d->persist));
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
