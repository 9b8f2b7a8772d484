/*
 * mux.c - many clients over one ring: ids, transactions and watches.
 *
 * Every request gets a fresh ring req_id, mapped back on its reply.  A
 * transaction belongs to the client whose TRANSACTION_START it answered;
 * any other client naming it is refused here (ENOENT, as the daemon
 * answers an unknown transaction) and never reaches the ring.  A watch
 * is registered under a mux-unique token "#xsmux:<id>" and its events go
 * back to its client with the client's token; UNWATCH and RESET_WATCHES
 * touch only the client's own.  A client that leaves has its
 * transactions ended ("F") and its watches removed on the daemon.
 *
 * Bounds: a client stops being read while it has MUX_CLIENT_REQS_MAX
 * requests unanswered or replies unread; its queued events are capped at
 * MUX_CLIENT_EVENTS_MAX (oldest dropped, logged), so a client that never
 * reads costs a bounded amount and stalls nobody.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "tools/xsmux/mux.h"

#define TOKEN_PREFIX "#xsmux:"

void mux_init(struct mux *m, const struct mux_ops *ops, void *arg,
              unsigned int domid)
{
	memset(m, 0, sizeof(*m));
	m->ops = ops;
	m->arg = arg;
	m->domid = domid;
	m->next_id = 1;
	m->next_serial = 1;
}

/* A fresh non-zero id, not in use as a pending id nor as a watch id. */
static uint32_t new_id(struct mux *m)
{
	for (;;) {
		uint32_t id = m->next_id++;
		struct mux_pending *p;
		struct mux_watch *w;

		if (id == 0)
			continue;
		for (p = m->pending[id % MUX_HASH]; p; p = p->hnext)
			if (p->id == id)
				break;
		for (w = m->watches[id % MUX_HASH]; w; w = w->hnext)
			if (w->id == id)
				break;
		if (!p && !w)
			return id;
	}
}

/* ---- client output ---- */

static void drop_oldest_event(struct mux_client *c)
{
	struct mux_msg **pp = &c->out_head, *prev = NULL;

	/* A message partly written must be finished. */
	if (c->out_head && c->out_off) {
		prev = c->out_head;
		pp = &c->out_head->next;
	}
	for (; *pp; prev = *pp, pp = &(*pp)->next) {
		struct mux_msg *msg = *pp;

		if (!msg->is_event)
			continue;
		*pp = msg->next;
		if (c->out_tail == msg)
			c->out_tail = prev;
		free(msg);
		c->nr_events--;
		if (c->dropped++ == 0)
			log_warn("dom%u client %llu: not reading its watch "
			         "events: dropping the oldest",
			         c->mux->domid, (unsigned long long)c->serial);
		return;
	}
}

/* Queue a message for `c`; drops it (logged) on -ENOMEM. */
static void queue_out(struct mux_client *c, uint32_t type, uint32_t req_id,
                      uint32_t tx_id, const void *a, size_t alen, const void *b,
                      size_t blen, bool is_event)
{
	struct xs_wire_hdr hdr = {type, req_id, tx_id, (uint32_t)(alen + blen)};
	struct mux_msg *msg;

	if (c->is_dead)
		return;
	if (is_event && c->nr_events >= MUX_CLIENT_EVENTS_MAX)
		drop_oldest_event(c);
	msg = malloc(sizeof(*msg) + XS_HDR_SIZE + alen + blen);
	if (!msg) {
		log_err("dom%u client %llu: out of memory: message lost",
		        c->mux->domid, (unsigned long long)c->serial);
		return;
	}
	msg->next = NULL;
	msg->size = XS_HDR_SIZE + alen + blen;
	msg->is_event = is_event;
	memcpy(msg->data, &hdr, XS_HDR_SIZE);
	if (alen)
		memcpy(msg->data + XS_HDR_SIZE, a, alen);
	if (blen)
		memcpy(msg->data + XS_HDR_SIZE + alen, b, blen);
	if (c->out_tail)
		c->out_tail->next = msg;
	else
		c->out_head = msg;
	c->out_tail = msg;
	if (is_event)
		c->nr_events++;
	else
		c->nr_replies++;
	c->mux->ops->client_changed(c);
}

static void reply_error(struct mux_client *c, const struct xs_wire_hdr *hdr,
                        const char *err)
{
	queue_out(c, XS_ERROR, hdr->req_id, hdr->tx_id, err, strlen(err) + 1,
	          NULL, 0, false);
}

void mux_client_wrote(struct mux_client *c, size_t n)
{
	while (n > 0 && c->out_head) {
		struct mux_msg *msg = c->out_head;
		size_t left = msg->size - c->out_off;

		if (n < left) {
			c->out_off += n;
			return;
		}
		n -= left;
		c->out_off = 0;
		c->out_head = msg->next;
		if (!c->out_head)
			c->out_tail = NULL;
		if (msg->is_event)
			c->nr_events--;
		else
			c->nr_replies--;
		free(msg);
	}
	c->mux->ops->client_changed(c);
}

bool mux_client_can_read(const struct mux_client *c)
{
	return !c->is_dead && !c->mux->is_held &&
	       c->inflight + c->nr_replies < MUX_CLIENT_REQS_MAX;
}

/* ---- the ring side ---- */

static int ring_send(struct mux *m, uint32_t type, uint32_t id, uint32_t tx_id,
                     const void *a, size_t alen, const void *b, size_t blen)
{
	char buf[XS_PAYLOAD_MAX];
	struct xs_wire_hdr hdr = {type, id, tx_id, (uint32_t)(alen + blen)};

	if (alen + blen > XS_PAYLOAD_MAX)
		return -E2BIG;
	if (alen)
		memcpy(buf, a, alen);
	if (blen)
		memcpy(buf + alen, b, blen);
	return m->ops->ring_send(m, &hdr, buf);
}

static struct mux_pending *pending_add(struct mux *m, struct mux_client *c,
                                       const struct xs_wire_hdr *hdr)
{
	struct mux_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->id = new_id(m);
	p->client = c;
	p->client_req_id = hdr->req_id;
	p->type = hdr->type;
	p->tx_id = hdr->tx_id;
	p->hnext = m->pending[p->id % MUX_HASH];
	m->pending[p->id % MUX_HASH] = p;
	m->nr_pending++;
	if (c)
		c->inflight++;
	return p;
}

static struct mux_pending *pending_take(struct mux *m, uint32_t id)
{
	struct mux_pending **pp;

	for (pp = &m->pending[id % MUX_HASH]; *pp; pp = &(*pp)->hnext) {
		struct mux_pending *p = *pp;

		if (p->id == id) {
			*pp = p->hnext;
			m->nr_pending--;
			if (p->client)
				p->client->inflight--;
			return p;
		}
	}
	return NULL;
}

/* A request of the mux's own, whose reply nobody needs. */
static int send_orphan(struct mux *m, uint32_t type, uint32_t tx_id,
                       const void *a, size_t alen, const void *b, size_t blen)
{
	struct xs_wire_hdr hdr = {type, 0, tx_id, 0};
	struct mux_pending *p = pending_add(m, NULL, &hdr);
	int err;

	if (!p)
		return -ENOMEM;
	err = ring_send(m, type, p->id, tx_id, a, alen, b, blen);
	if (err)
		free(pending_take(m, p->id));
	return err;
}

int mux_send_internal(struct mux *m, uint32_t type, const void *payload,
                      uint32_t len)
{
	struct xs_wire_hdr hdr = {type, 0, 0, len};
	struct mux_pending *p = pending_add(m, NULL, &hdr);
	int err;

	if (!p)
		return -ENOMEM;
	p->is_internal = true;
	err = ring_send(m, type, p->id, 0, payload, len, NULL, 0);
	if (err)
		free(pending_take(m, p->id));
	return err;
}

/* ---- watches ---- */

static void token_of(const struct mux_watch *w, char *buf, size_t size)
{
	snprintf(buf, size, TOKEN_PREFIX "%u", w->id);
}

static struct mux_watch *watch_find_id(struct mux *m, uint32_t id)
{
	struct mux_watch *w;

	for (w = m->watches[id % MUX_HASH]; w; w = w->hnext)
		if (w->id == id)
			return w;
	return NULL;
}

static struct mux_watch *watch_find(struct mux_client *c, const char *path,
                                    size_t path_len, const char *token,
                                    size_t token_len)
{
	struct mux_watch *w;

	for (w = c->watches; w; w = w->next)
		if (w->path_len == path_len && w->token_len == token_len &&
		    !memcmp(w->path, path, path_len) &&
		    !memcmp(w->token, token, token_len))
			return w;
	return NULL;
}

static void watch_free(struct mux *m, struct mux_watch *w)
{
	struct mux_watch **pp;

	for (pp = &m->watches[w->id % MUX_HASH]; *pp; pp = &(*pp)->hnext)
		if (*pp == w) {
			*pp = w->hnext;
			break;
		}
	for (pp = &w->owner->watches; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	w->owner->nr_watches--;
	free(w->path);
	free(w->token);
	free(w->extra);
	free(w);
}

/* UNWATCH `w` on the daemon and forget it. */
static int watch_remove(struct mux *m, struct mux_watch *w)
{
	char tok[32];
	int err;

	token_of(w, tok, sizeof(tok));
	err = send_orphan(m, XS_UNWATCH, 0, w->path, w->path_len + 1, tok,
	                  strlen(tok) + 1);
	watch_free(m, w);
	return err;
}

/* Register `w` on the daemon; the reply goes to `p`'s client or nobody. */
static int watch_send(struct mux *m, struct mux_watch *w, uint32_t ring_id)
{
	char buf[XS_PAYLOAD_MAX];
	char tok[32];
	size_t n = 0, tlen;

	token_of(w, tok, sizeof(tok));
	tlen = strlen(tok) + 1;
	if (w->path_len + 1 + tlen + w->extra_len > sizeof(buf))
		return -E2BIG;
	memcpy(buf, w->path, w->path_len + 1);
	n += w->path_len + 1;
	memcpy(buf + n, tok, tlen);
	n += tlen;
	if (w->extra_len)
		memcpy(buf + n, w->extra, w->extra_len);
	n += w->extra_len;
	return ring_send(m, XS_WATCH, ring_id, 0, buf, n, NULL, 0);
}

/*
 * WATCH path\0token\0[rest]: a record with a mux token.  The same
 * (path, token) twice goes to the daemon under the first record's token,
 * so that the daemon answers EEXIST as it would to a lone client.
 */
static int client_watch(struct mux_client *c, const struct xs_wire_hdr *hdr,
                        const char *pl)
{
	struct mux *m = c->mux;
	const char *path = pl, *token, *end = pl + hdr->len;
	size_t path_len, token_len;
	struct mux_watch *w;
	struct mux_pending *p;
	bool is_new = false;
	int err;

	path_len = strnlen(path, hdr->len);
	if (path_len == hdr->len) {
		reply_error(c, hdr, "EINVAL");
		return 0;
	}
	token = path + path_len + 1;
	token_len = strnlen(token, (size_t)(end - token));
	if (token + token_len == end) {
		reply_error(c, hdr, "EINVAL");
		return 0;
	}
	w = watch_find(c, path, path_len, token, token_len);
	if (!w) {
		if (c->nr_watches >= MUX_CLIENT_WATCHES_MAX) {
			reply_error(c, hdr, "E2BIG");
			return 0;
		}
		w = calloc(1, sizeof(*w));
		if (!w) {
			reply_error(c, hdr, "ENOMEM");
			return 0;
		}
		w->owner = c;
		w->id = new_id(m);
		w->path = strndup(path, path_len);
		w->token = strndup(token, token_len);
		w->path_len = path_len;
		w->token_len = token_len;
		w->extra_len = (size_t)(end - (token + token_len + 1));
		if (w->extra_len)
			w->extra = malloc(w->extra_len);
		if (!w->path || !w->token || (w->extra_len && !w->extra)) {
			free(w->path);
			free(w->token);
			free(w->extra);
			free(w);
			reply_error(c, hdr, "ENOMEM");
			return 0;
		}
		if (w->extra_len)
			memcpy(w->extra, token + token_len + 1, w->extra_len);
		w->next = c->watches;
		c->watches = w;
		w->hnext = m->watches[w->id % MUX_HASH];
		m->watches[w->id % MUX_HASH] = w;
		c->nr_watches++;
		is_new = true;
	}
	p = pending_add(m, c, hdr);
	if (!p) {
		if (is_new)
			watch_free(m, w);
		reply_error(c, hdr, "ENOMEM");
		return 0;
	}
	p->watch_id = is_new ? w->id : 0;
	err = watch_send(m, w, p->id);
	if (err == -E2BIG) {
		free(pending_take(m, p->id));
		if (is_new)
			watch_free(m, w);
		reply_error(c, hdr, "E2BIG");
		return 0;
	}
	return err;
}

/* UNWATCH path\0token\0: the client's own watch only. */
static int client_unwatch(struct mux_client *c, const struct xs_wire_hdr *hdr,
                          const char *pl)
{
	const char *token, *end = pl + hdr->len;
	size_t path_len, token_len;
	struct mux_watch *w;
	int err;

	path_len = strnlen(pl, hdr->len);
	if (path_len == hdr->len) {
		reply_error(c, hdr, "EINVAL");
		return 0;
	}
	token = pl + path_len + 1;
	token_len = strnlen(token, (size_t)(end - token));
	w = watch_find(c, pl, path_len, token, token_len);
	if (!w) {
		reply_error(c, hdr, "ENOENT");
		return 0;
	}
	/*
	 * Forgotten now: an event still on its way for it is dropped, as
	 * none may follow the UNWATCH reply.
	 */
	err = watch_remove(c->mux, w);
	if (!err)
		queue_out(c, XS_UNWATCH, hdr->req_id, hdr->tx_id, "OK", 3, NULL,
		          0, false);
	return err;
}

static int client_reset_watches(struct mux_client *c,
                                const struct xs_wire_hdr *hdr)
{
	int err = 0;

	while (c->watches && !err)
		err = watch_remove(c->mux, c->watches);
	if (!err)
		queue_out(c, XS_RESET_WATCHES, hdr->req_id, hdr->tx_id, "OK", 3,
		          NULL, 0, false);
	return err;
}

/* ---- transactions ---- */

static struct mux_txn *txn_find(struct mux_client *c, uint32_t id)
{
	struct mux_txn *t;

	for (t = c->txns; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static void txn_drop(struct mux_client *c, uint32_t id)
{
	struct mux_txn **pp;

	for (pp = &c->txns; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			struct mux_txn *t = *pp;

			*pp = t->next;
			free(t);
			return;
		}
}

/* ---- requests from a client ---- */

static int client_request(struct mux_client *c, const struct xs_wire_hdr *hdr,
                          const char *pl)
{
	struct mux *m = c->mux;
	struct mux_pending *p;
	int err;

	if (hdr->tx_id) {
		struct mux_txn *t = txn_find(c, hdr->tx_id);

		if (!t || t->is_stale) {
			bool is_end = t && hdr->type == XS_TRANSACTION_END;

			/* A transaction the daemon forgot at a resume. */
			if (t && is_end)
				txn_drop(c, t->id);
			reply_error(c, hdr, is_end ? "EAGAIN" : "ENOENT");
			return 0;
		}
	}
	switch (hdr->type) {
	case XS_WATCH:
		return client_watch(c, hdr, pl);
	case XS_UNWATCH:
		return client_unwatch(c, hdr, pl);
	case XS_RESET_WATCHES:
		return client_reset_watches(c, hdr);
	default:
		break;
	}
	p = pending_add(m, c, hdr);
	if (!p) {
		reply_error(c, hdr, "ENOMEM");
		return 0;
	}
	err = ring_send(m, hdr->type, p->id, hdr->tx_id, pl, hdr->len, NULL, 0);
	if (err)
		free(pending_take(m, p->id));
	return err;
}

int mux_client_input(struct mux_client *c)
{
	while (mux_client_can_read(c) && c->in_len >= XS_HDR_SIZE) {
		struct xs_wire_hdr hdr;
		char pl[XS_PAYLOAD_MAX + 1];
		size_t size;
		int err;

		memcpy(&hdr, c->in, XS_HDR_SIZE);
		if (hdr.len > XS_PAYLOAD_MAX)
			return -EPROTO;
		size = XS_HDR_SIZE + hdr.len;
		if (c->in_len < size)
			break;
		memcpy(pl, c->in + XS_HDR_SIZE, hdr.len);
		pl[hdr.len] = '\0';
		memmove(c->in, c->in + size, c->in_len - size);
		c->in_len -= size;
		err = client_request(c, &hdr, pl);
		if (err)
			return err;
	}
	c->mux->ops->client_changed(c);
	return 0;
}

/* ---- replies and events from the ring ---- */

static void reply_in(struct mux *m, struct mux_pending *p,
                     const struct xs_wire_hdr *hdr, const char *pl)
{
	struct mux_client *c = p->client;
	bool is_ok = hdr->type != XS_ERROR;

	if (p->is_internal) {
		if (m->ops->on_reply)
			m->ops->on_reply(m, hdr->type, p->type, pl, hdr->len);
		return;
	}
	if (p->type == XS_TRANSACTION_START && is_ok) {
		unsigned long id = strtoul(pl, NULL, 10);
		struct mux_txn *t = c ? calloc(1, sizeof(*t)) : NULL;

		if (t) {
			t->id = (uint32_t)id;
			t->next = c->txns;
			c->txns = t;
		} else if (id) {
			/* Its client left (or no memory): end it. */
			(void)send_orphan(m, XS_TRANSACTION_END, (uint32_t)id,
			                  "F", 2, NULL, 0);
		}
	} else if (p->type == XS_TRANSACTION_END && c) {
		/* EINVAL (a bad argument) leaves it open on the daemon. */
		if (is_ok || strcmp(pl, "EINVAL") != 0)
			txn_drop(c, p->tx_id);
	} else if (p->type == XS_WATCH && !is_ok && p->watch_id) {
		struct mux_watch *w = watch_find_id(m, p->watch_id);

		if (w)
			watch_free(m, w);
	}
	if (c)
		queue_out(c, hdr->type, p->client_req_id, hdr->tx_id, pl,
		          hdr->len, NULL, 0, false);
}

static void event_in(struct mux *m, const char *pl, uint32_t len)
{
	size_t path_len = strnlen(pl, len);
	const char *token;
	struct mux_watch *w;
	unsigned long id;
	char *end;

	if (path_len == len)
		return;
	token = pl + path_len + 1;
	if (strnlen(token, len - path_len - 1) == len - path_len - 1)
		return;
	if (strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0) {
		if (m->ops->on_event)
			m->ops->on_event(m, pl, token);
		return;
	}
	id = strtoul(token + strlen(TOKEN_PREFIX), &end, 10);
	w = *end ? NULL : watch_find_id(m, (uint32_t)id);
	if (!w)
		return; /* unwatched meanwhile */
	queue_out(w->owner, XS_WATCH_EVENT, 0, 0, pl, path_len + 1, w->token,
	          w->token_len + 1, true);
}

void mux_ring_input(struct mux *m, const struct xs_wire_hdr *hdr,
                    const char *payload)
{
	struct mux_pending *p;

	if (hdr->type == XS_WATCH_EVENT) {
		event_in(m, payload, hdr->len);
		return;
	}
	p = pending_take(m, hdr->req_id);
	if (!p) {
		log_warn(
		    "dom%u: reply %s to unknown req_id %u dropped", m->domid,
		    xs_type_name(hdr->type) ? xs_type_name(hdr->type) : "?",
		    hdr->req_id);
		return;
	}
	reply_in(m, p, hdr, payload);
	if (p->client)
		m->ops->client_changed(p->client);
	free(p);
}

/* ---- clients' life ---- */

struct mux_client *mux_client_new(struct mux *m, int fd)
{
	struct mux_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->mux = m;
	c->fd = fd;
	c->serial = m->next_serial++;
	c->next = m->clients;
	m->clients = c;
	return c;
}

static void client_free(struct mux_client *c)
{
	struct mux_msg *msg;

	while (c->watches)
		watch_free(c->mux, c->watches);
	while (c->txns)
		txn_drop(c, c->txns->id);
	while ((msg = c->out_head) != NULL) {
		c->out_head = msg->next;
		free(msg);
	}
	free(c);
}

void mux_client_close(struct mux_client *c)
{
	struct mux *m = c->mux;
	struct mux_client **cp;
	struct mux_txn *t;
	unsigned int i;

	c->is_dead = true;
	for (cp = &m->clients; *cp; cp = &(*cp)->next)
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	for (i = 0; i < MUX_HASH; i++) {
		struct mux_pending *p;

		for (p = m->pending[i]; p; p = p->hnext)
			if (p->client == c) {
				p->client = NULL;
				c->inflight--;
			}
	}
	/* The daemon's side of them goes too (ring errors: nothing to do). */
	for (t = c->txns; t; t = t->next)
		if (!t->is_stale)
			(void)send_orphan(m, XS_TRANSACTION_END, t->id, "F", 2,
			                  NULL, 0);
	while (c->watches)
		(void)watch_remove(m, c->watches);
	if (c->dropped)
		log_warn("dom%u client %llu: %lu watch events dropped",
		         m->domid, (unsigned long long)c->serial, c->dropped);
	client_free(c);
}

void mux_fini(struct mux *m)
{
	unsigned int i;

	while (m->clients) {
		struct mux_client *c = m->clients;

		m->clients = c->next;
		client_free(c);
	}
	for (i = 0; i < MUX_HASH; i++)
		while (m->pending[i]) {
			struct mux_pending *p = m->pending[i];

			m->pending[i] = p->hnext;
			free(p);
		}
}

/* ---- suspend and resume ---- */

void mux_set_held(struct mux *m, bool is_held)
{
	struct mux_client *c, *next;

	m->is_held = is_held;
	for (c = m->clients; c; c = next) {
		next = c->next;
		m->ops->client_changed(c);
	}
}

int mux_resumed(struct mux *m)
{
	struct mux_client *c;
	unsigned int i;
	int err = 0;

	/* What was in flight died with the old connection. */
	for (i = 0; i < MUX_HASH; i++)
		while (m->pending[i]) {
			struct mux_pending *p = m->pending[i];
			struct xs_wire_hdr hdr = {p->type, p->client_req_id,
			                          p->tx_id, 0};

			m->pending[i] = p->hnext;
			m->nr_pending--;
			if (p->client) {
				struct mux_watch *w =
				    p->watch_id ? watch_find_id(m, p->watch_id)
				                : NULL;

				/* Its WATCH failed: not registered again. */
				if (w)
					watch_free(m, w);
				p->client->inflight--;
				reply_error(p->client, &hdr, "EAGAIN");
			}
			free(p);
		}
	for (c = m->clients; c; c = c->next) {
		struct mux_txn *t;
		struct mux_watch *w;

		for (t = c->txns; t; t = t->next)
			t->is_stale = true;
		for (w = c->watches; w && !err; w = w->next) {
			struct xs_wire_hdr hdr = {XS_WATCH, 0, 0, 0};
			struct mux_pending *p = pending_add(m, NULL, &hdr);

			if (!p)
				return -ENOMEM;
			err = watch_send(m, w, p->id);
		}
	}
	return err;
}
