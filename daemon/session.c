/*
 * session.c - the protocol state of each connection: its watches (a list
 * through the watch index's owner links, with their memory), its open
 * transactions (with the death count when each started) and who the
 * connection is to the store.  It owns conn->sess from session_new to
 * session_free; the watch index owns the watches, the store the
 * transactions' trees.  No I/O: events and replies are not its business.
 */
#include <errno.h>
#include <string.h>

#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/domain.h"
#include "daemon/session.h"
#include "daemon/state.h"
#include "store/perm.h"
#include "store/store.h"
#include "store/watch.h"

/*
 * Who a connection is, for the store: its domain's target and quotas,
 * and (for the memory quota) what it holds outside the store.
 */
void session_caller(const struct daemon *d, const struct conn *c,
                    struct store_caller *out)
{
	const struct domain *dom =
	    c->is_privileged ? NULL : domain_find(d, c->domid);
	const struct sess *s = c->sess;

	out->domid = c->domid;
	out->target = dom ? dom->target : PERM_NO_TARGET;
	out->is_privileged = c->is_privileged;
	out->quota = c->is_privileged ? NULL
	             : dom            ? &dom->quota
	                              : &d->cfg.quota;
	out->extra_mem = 0;
	if (!c->is_privileged && s) {
		/* Everything the domain makes the daemon keep counts:
		 * watches, queued replies and events, and what its open
		 * transactions record (issue 10, item 2). */
		out->extra_mem =
		    s->watch_bytes + c->out_bytes + s->pinned_bytes;
		for (const struct sess_txn *t = s->txns; t; t = t->next)
			if (t->txn)
				out->extra_mem += store_txn_mem(t->txn);
	}
}

/* What a watch costs its owner's memory quota. */
static unsigned long watch_mem(const struct watch *w)
{
	return sizeof(*w) + strlen(w->path) + strlen(w->token) + 2;
}

void session_drop_watch(struct daemon *d, struct sess *s, struct watch *w)
{
	if (w->owner_prev)
		w->owner_prev->owner_next = w->owner_next;
	else
		s->watches = w->owner_next;
	if (w->owner_next)
		w->owner_next->owner_prev = w->owner_prev;
	s->nr_watches--;
	s->watch_bytes -= watch_mem(w);
	watch_del(d->watches, w);
}

void session_add_watch(struct sess *s, struct watch *w)
{
	w->owner_next = s->watches;
	if (s->watches)
		s->watches->owner_prev = w;
	s->watches = w;
	s->nr_watches++;
	s->watch_bytes += watch_mem(w);
}

struct sess_txn *session_find_txn(struct sess *s, uint32_t id)
{
	for (struct sess_txn *t = s->txns; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

struct gone_ctx {
	struct daemon *d;
	uint32_t seq;
};

static bool is_gone(void *arg, unsigned int domid)
{
	const struct gone_ctx *x = arg;

	return domain_gone_since(x->d, domid, x->seq);
}

/* End and forget transaction `id`; returns store_txn_end's result.  A
 * commit whose SET_PERMS name a domain that died since the transaction
 * started fails with EAGAIN: the name was checked when the domain lived,
 * and its id may be another domain's now (XSA-322 class); the retry's
 * SET_PERMS is checked again. */
int session_end_txn(struct daemon *d, struct sess *s, uint32_t id, bool commit)
{
	struct sess_txn **pp = &s->txns;
	int err;

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	if (!*pp)
		return -ENOENT;
	struct sess_txn *t = *pp;

	*pp = t->next;
	if (--s->nr_txns == 0)
		s->pinned_bytes = 0; /* no snapshot pins anything now */
	if (!t->txn) {               /* lost in a restart of the daemon */
		xfree(t);
		return -EAGAIN;
	}
	if (commit && t->death_seq != d->death_seq) {
		struct gone_ctx x = {d, t->death_seq};

		if (store_txn_names_gone(t->txn, is_gone, &x)) {
			store_txn_end(d->store, t->txn, false);
			xfree(t);
			return -EAGAIN;
		}
	}
	err = store_txn_end(d->store, t->txn, commit);
	xfree(t);
	return err;
}

int session_start_txn(struct daemon *d, struct sess *s,
                      const struct store_caller *caller, uint32_t *id)
{
	struct sess_txn *t = xmalloc(sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	err = store_txn_start(d->store, caller, &t->txn);
	if (err) {
		xfree(t);
		return err;
	}
	t->death_seq = d->death_seq;
	/* Ids count from 1 per connection (as Xen); 0 means "none". */
	do {
		t->id = ++s->next_txid;
	} while (t->id == 0 || session_find_txn(s, t->id));
	t->next = s->txns;
	s->txns = t;
	s->nr_txns++;
	*id = t->id;
	return 0;
}

int session_restore(struct sess *s, uint32_t next_txid, const uint32_t *ids,
                    unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct sess_txn *t;

		if (!ids[i] || session_find_txn(s, ids[i]))
			continue;
		t = xcalloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->id = ids[i];
		t->next = s->txns;
		s->txns = t;
		s->nr_txns++;
	}
	s->next_txid = next_txid;
	return 0;
}

int session_save_txn(struct daemon *d, const struct sess *s,
                     const struct sess_txn *t,
                     int (*fn)(void *arg, const void *buf, size_t len),
                     void *arg)
{
	unsigned char h[16];
	uint64_t pinned = s->pinned_bytes;
	int err;

	if (!t->txn)
		return 0;
	for (int i = 0; i < 4; i++) {
		h[i] = (unsigned char)(t->id >> (8 * i));
		h[4 + i] = (unsigned char)(t->death_seq >> (8 * i));
	}
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(pinned >> (8 * i));
	err = fn(arg, h, sizeof(h));
	return err ? err : store_txn_save(d->store, t->txn, fn, arg);
}

/* The 16-byte head of a saved transaction (session_save_txn). */
static int txn_head(const void *buf, size_t len, uint32_t *id,
                    uint32_t *death_seq, uint64_t *pinned)
{
	const unsigned char *h = buf;

	if (len < 16)
		return -EINVAL;
	*id = *death_seq = 0;
	*pinned = 0;
	for (int i = 0; i < 4; i++) {
		*id |= (uint32_t)h[i] << (8 * i);
		*death_seq |= (uint32_t)h[4 + i] << (8 * i);
	}
	for (int i = 0; i < 8; i++)
		*pinned |= (uint64_t)h[8 + i] << (8 * i);
	return 0;
}

int session_check_txn(struct store *st, const void *buf, size_t len,
                      struct txn **out)
{
	uint32_t id, death_seq;
	uint64_t pinned;
	int err = txn_head(buf, len, &id, &death_seq, &pinned);

	return err ? err
	           : store_txn_load(st, (const unsigned char *)buf + 16,
	                            len - 16, out);
}

int session_restore_txn(struct daemon *d, struct sess *s, const void *buf,
                        size_t len)
{
	uint32_t id, death_seq;
	uint64_t pinned;
	struct sess_txn *t;
	int err = txn_head(buf, len, &id, &death_seq, &pinned);

	if (err)
		return err;
	t = session_find_txn(s, id);
	if (!t || t->txn)
		return -ENOENT;
	err = store_txn_load(d->store, (const unsigned char *)buf + 16,
	                     len - 16, &t->txn);
	if (err)
		return err;
	t->death_seq = death_seq;
	s->pinned_bytes = (unsigned long)pinned;
	return 0;
}

void session_reset(struct daemon *d, struct sess *s)
{
	while (s->watches)
		session_drop_watch(d, s, s->watches);
	while (s->txns)
		session_end_txn(d, s, s->txns->id, false);
}

int session_new(struct daemon *d, struct conn *c)
{
	struct sess *s = xcalloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	c->sess = s;
	return 0;
}

void session_free(struct daemon *d, struct conn *c)
{
	struct sess *s = c->sess;

	if (!s)
		return;
	while (s->watches)
		session_drop_watch(d, s, s->watches);
	while (s->txns)
		session_end_txn(d, s, s->txns->id, false);
	xfree(s);
	c->sess = NULL;
}

unsigned int session_nr_watches(const struct conn *c)
{
	const struct sess *s = c->sess;

	return s ? s->nr_watches : 0;
}

unsigned int session_nr_txns(const struct conn *c)
{
	const struct sess *s = c->sess;

	return s ? s->nr_txns : 0;
}

unsigned long session_mem(const struct daemon *d, const struct conn *c)
{
	struct store_caller who;

	session_caller(d, c, &who);
	return who.extra_mem;
}
