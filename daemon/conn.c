/*
 * conn.c - framing of requests in, the output queue out, and the life of
 * a connection from conn_new to conn_free.
 *
 * Input: bytes accumulate in in_buf; each whole message at its front is
 * handed to the on_request handler with its payload nul-terminated in place.
 * Output: a FIFO of struct outmsg, each a header and payload in one
 * block, written by conn_flush_all at the end of a turn with writev.
 * Bounds: reading stops while more than conn_out_max bytes are queued
 * and resumes below half; undelivered events are capped in number and
 * in age.  A message once partly written is always finished, or the
 * stream would desynchronise.  Connections die by mark (conn_kill) and
 * are freed only in conn_reap, at the loop's safe point.  The queued
 * events are also indexed by content (keyed hash), so that an identical
 * one is not queued twice at O(1) cost, whatever the queue's length.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/conn.h"
#include "daemon/state.h"
#include "daemon/loop.h"

/* Messages gathered into one writev. */
#define CONN_IOV_MAX 64

/* One queued message.  Owned by its connection's queue. */
struct outmsg {
	struct outmsg *next;
	uint64_t deadline; /* events: loop_now_ms() to discard at; else 0 */
	size_t size;       /* header + payload */
	uint32_t hash;     /* events: of the payload, for ev_index */
	bool is_event;
	char data[]; /* struct xs_wire_hdr, then the payload */
};

static const char *const kind_names[] = {
    [CONN_SOCKET] = "socket",
    [CONN_RING] = "ring",
};

static void report_dropped(struct conn *c);
static void flush_unlink(struct conn *c);
static void flush_queue(struct conn *c);
static void save_queue(struct conn *c);
static void save_unlink(struct conn *c);
static void hot_mark(struct conn *c);
static void hot_forget(struct conn *c);

static void kill_at(struct conn *c, int level, const char *why)
{
	if (c->is_dead)
		return;
	c->is_dead = true;
	c->d->nr_dead++;
	c->dead_next = c->d->dead_head;
	c->d->dead_head = c;
	log_msg(level, "conn %llu (%s, dom%u): closed: %s",
	        (unsigned long long)c->id, kind_names[c->kind], c->domid, why);
}

void conn_kill(struct conn *c, const char *why)
{
	kill_at(c, LOG_WARNING, why);
}

void conn_fail(struct conn *c, unsigned int code, const char *why)
{
	if (!c->is_dead && c->ops->fail)
		c->ops->fail(c, code);
	kill_at(c, LOG_WARNING, why);
}

/*
 * Trace one message: direction, connection, type, ids and the payload
 * with nuls shown as '|' (as strings are separated on the wire) and
 * other unprintable bytes escaped.  Long payloads are cut.
 */
static void trace_msg(const struct conn *c, const char *dir,
                      const struct xs_wire_hdr *hdr, const char *payload)
{
	char text[320];
	size_t o = 0;
	uint32_t i;
	const char *name = xs_type_name(hdr->type);

	for (i = 0; i < hdr->len && o + 8 < sizeof(text); i++) {
		unsigned char ch = (unsigned char)payload[i];

		if (ch == '\0')
			text[o++] = '|';
		else if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			o += (size_t)snprintf(text + o, sizeof(text) - o,
			                      "\\x%02x", ch);
		else
			text[o++] = (char)ch;
	}
	text[o] = '\0';
	log_trace("%s conn %llu dom%u %s(%u) req %u tx %u len %u \"%s\"%s", dir,
	          (unsigned long long)c->id, c->domid, name ? name : "?",
	          hdr->type, hdr->req_id, hdr->tx_id, hdr->len, text,
	          i < hdr->len ? "..." : "");
}

struct conn *conn_new(struct daemon *d, enum conn_kind kind,
                      const struct transport_ops *ops, void *transport, int fd)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->in_buf = xmalloc(CONN_IN_BUF_SIZE + 1);
	if (!c->in_buf)
		goto err_free;
	c->d = d;
	c->id = d->next_conn_id++;
	c->kind = kind;
	c->ops = ops;
	c->transport = transport;
	c->fd = fd;
	if (d->conn_handlers->on_new(d, c) < 0)
		goto err_buf;

	c->prev = d->conns_tail;
	if (d->conns_tail)
		d->conns_tail->next = c;
	else
		d->conns = c;
	d->conns_tail = c;
	d->nr_conns++;
	log_debug("conn %llu (%s): new", (unsigned long long)c->id,
	          kind_names[kind]);
	return c;

err_buf:
	xfree(c->in_buf);
err_free:
	xfree(c);
	return NULL;
}

/* ---- the index of queued events ---- */

static uint32_t event_hash(const struct conn *c, const void *payload,
                           size_t len)
{
	return (uint32_t)siphash24(&c->d->event_key, payload, len);
}

/* The slot of the queued event with this payload (an event's header
 * follows from its length), or the empty slot that ends the probe.  The
 * index always has empty slots: it is at most half full. */
static uint32_t index_slot(const struct conn *c, uint32_t hash,
                           const void *payload, size_t len)
{
	uint32_t mask = c->ev_index_cap - 1, i = hash & mask;
	const struct outmsg *m;

	while ((m = c->ev_index[i]) &&
	       (m->hash != hash || m->size != XS_HDR_SIZE + len ||
	        memcmp(m->data + XS_HDR_SIZE, payload, len)))
		i = (i + 1) & mask;
	return i;
}

static int index_grow(struct conn *c)
{
	uint32_t cap = c->ev_index_cap ? 2 * c->ev_index_cap : 16;
	uint32_t old_cap = c->ev_index_cap;
	struct outmsg **old = c->ev_index, **tab = xcalloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < old_cap; i++) {
		uint32_t j;

		if (!old[i])
			continue;
		for (j = old[i]->hash & (cap - 1); tab[j];
		     j = (j + 1) & (cap - 1))
			;
		tab[j] = old[i];
	}
	xfree(old);
	c->ev_index = tab;
	c->ev_index_cap = cap;
	return 0;
}

/* Take `m` out, moving later entries of its cluster back (no tombstones). */
static void index_remove(struct conn *c, const struct outmsg *m)
{
	uint32_t mask = c->ev_index_cap - 1, i = m->hash & mask, j;

	while (c->ev_index[i] != m)
		i = (i + 1) & mask;
	c->ev_index[i] = NULL;
	for (j = (i + 1) & mask; c->ev_index[j]; j = (j + 1) & mask) {
		struct outmsg *e = c->ev_index[j];
		uint32_t home = e->hash & mask;

		/* It moves into the hole unless its home lies cyclically
		 * in (i, j]: then it is still reachable from there. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			c->ev_index[i] = e;
			c->ev_index[j] = NULL;
			i = j;
		}
	}
}

static void unlink_msg(struct conn *c, struct outmsg *prev, struct outmsg *m)
{
	if (prev)
		prev->next = m->next;
	else
		c->out_head = m->next;
	if (c->out_tail == m)
		c->out_tail = prev;
	c->out_bytes -= m->size;
	if (m->is_event) {
		index_remove(c, m);
		c->out_events--;
		c->out_event_bytes -= m->size;
		c->d->event_bytes -= m->size;
		/* A flood is over: do not keep its index for the
		 * connection's life. */
		if (!c->out_events && c->ev_index_cap > 64) {
			xfree(c->ev_index);
			c->ev_index = NULL;
			c->ev_index_cap = 0;
		}
	} else
		c->out_replies--;
	xfree(m);
}

void conn_free(struct conn *c)
{
	struct daemon *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		d->conns_tail = c->prev;
	d->nr_conns--;
	/* The reap frees the list's head; daemon_fini any of them. */
	if (c->is_dead) {
		struct conn **pp = &d->dead_head;

		while (*pp && *pp != c)
			pp = &(*pp)->dead_next;
		if (*pp)
			*pp = c->dead_next;
	}

	hot_forget(c);
	d->conn_handlers->on_gone(d, c);
	report_dropped(c);
	if (c->expire_timer)
		loop_timer_del(d->loop, c->expire_timer);
	if (c->kick_timer)
		loop_timer_del(d->loop, c->kick_timer);
	if (c->pause_timer)
		loop_timer_del(d->loop, c->pause_timer);
	while (c->out_head)
		unlink_msg(c, NULL, c->out_head);
	xfree(c->ev_index);
	if (c->is_flush_queued)
		flush_unlink(c);
	if (c->is_save_queued)
		save_unlink(c);
	c->ops->close(c);
	log_debug("conn %llu: freed", (unsigned long long)c->id);
	xfree(c->in_buf);
	xfree(c);
}

void conn_reap(struct daemon *d)
{
	/* Only the dead: a domain destroyed among 10 000 costs one free,
	 * not a walk of every connection. */
	d->nr_dead = 0;
	while (d->dead_head)
		conn_free(d->dead_head);
}

/* ---- back-pressure ---- */

static void set_read_paused(struct conn *c, bool paused)
{
	c->is_read_paused = paused;
	c->ops->want_read(c, !paused);
	log_debug("conn %llu: %s reading (%zu bytes queued)",
	          (unsigned long long)c->id, paused ? "paused" : "resumed",
	          c->out_bytes);
}

static void kick_cb(struct loop *l, void *arg)
{
	struct conn *c = arg;

	c->kick_timer = 0;
	conn_handle_input(c);
}

/*
 * Lift back-pressure once the queue is below half its bound (hysteresis,
 * so that a client reading slowly does not flip it every message).  The
 * input already buffered (or, for a ring, left unread while paused) gets
 * no new wakeup from the transport, so run it from the next turn rather
 * than from here: this may be inside the turn hook, whose flush would
 * then miss the replies.
 */
static void maybe_resume(struct conn *c)
{
	size_t max = c->d->cfg.conn_out_max;

	if (!c->is_read_paused || c->is_dead || c->is_rate_paused ||
	    c->is_held || c->out_bytes > max / 2 ||
	    (c->outstanding_max && c->out_replies >= c->outstanding_max))
		return;
	set_read_paused(c, false);
	if (!c->kick_timer)
		c->kick_timer = loop_timer_add(c->d->loop, 0, kick_cb, c);
}

static void pause_cb(struct loop *l, void *arg)
{
	struct conn *c = arg;

	c->pause_timer = 0;
	c->is_rate_paused = false;
	if (c->is_dead || c->is_held)
		return;
	set_read_paused(c, false);
	maybe_resume(c);
	conn_handle_input(c);
}

void conn_pause_for(struct conn *c, uint64_t ms)
{
	if (c->is_dead || c->is_rate_paused)
		return;
	c->is_rate_paused = true;
	if (!c->is_read_paused)
		set_read_paused(c, true);
	c->pause_timer = loop_timer_add(c->d->loop, ms, pause_cb, c);
}

/* ---- input ---- */

/* Dispatch every whole message at the front of in_buf. */
static void process_input(struct conn *c)
{
	size_t off = 0;

	while (!c->is_dead && !c->is_read_paused) {
		struct xs_wire_hdr hdr;
		char *payload;
		char saved;

		if (c->in_used - off < XS_HDR_SIZE)
			break;
		memcpy(&hdr, c->in_buf + off, sizeof(hdr));
		if (hdr.len > XS_PAYLOAD_MAX) {
			char why[96];

			snprintf(why, sizeof(why),
			         "message of %u payload bytes (max %u)",
			         hdr.len, XS_PAYLOAD_MAX);
			conn_fail(c, XS_ERROR_PROTO, why);
			break;
		}
		if (c->outstanding_max &&
		    c->out_replies >= c->outstanding_max) {
			/* Too many replies unread: wait for them to drain. */
			set_read_paused(c, true);
			break;
		}
		if (c->in_used - off < XS_HDR_SIZE + hdr.len)
			break;
		/*
		 * Terminate the payload in place; the byte belongs to the
		 * next message (or is the spare byte at the buffer's end)
		 * and is put back once dispatch, which keeps no pointer
		 * into the payload, returns.
		 */
		payload = c->in_buf + off + XS_HDR_SIZE;
		saved = payload[hdr.len];
		payload[hdr.len] = '\0';
		if (log_is_trace())
			trace_msg(c, "IN ", &hdr, payload);
		c->d->conn_handlers->on_request(c->d, c, &hdr, payload);
		payload[hdr.len] = saved;
		off += XS_HDR_SIZE + hdr.len;
	}
	if (off) {
		memmove(c->in_buf, c->in_buf + off, c->in_used - off);
		c->in_used -= off;
	}
}

static long handle_input(struct conn *c);

long conn_handle_input(struct conn *c)
{
	uint64_t t0;
	long n;

	if (c->kind != CONN_SOCKET)
		return handle_input(c);
	/* A look that found nothing (the poll window's) is not dom0's. */
	t0 = loop_now_us();
	n = handle_input(c);
	if (n > 0) {
		uint64_t clock = c->d->guests_clock_us;
		uint64_t from =
		    c->debt_until_us > clock ? c->debt_until_us : clock;
		uint64_t until = from + (loop_now_us() - t0);

		c->debt_until_us = until - clock > CONN_SOCK_DEBT_MAX_US
		                       ? clock + CONN_SOCK_DEBT_MAX_US
		                       : until;
	}
	return n;
}

void conn_guests_served(struct daemon *d, uint64_t us)
{
	d->guests_clock_us += us;
}

void conn_guests_idle(struct daemon *d)
{
	/* No debt runs past the clock by more than this. */
	d->guests_clock_us += CONN_SOCK_DEBT_MAX_US;
}

bool conn_sock_may_go(const struct conn *c)
{
	return c->debt_until_us <= c->d->guests_clock_us;
}

static long handle_input(struct conn *c)
{
	long n;

	if (c->is_dead || c->is_read_paused)
		return 0;
	/* Messages left buffered when reading was paused go first. */
	process_input(c);
	if (c->is_dead || c->is_read_paused)
		return 0;
	n = c->ops->read(c, c->in_buf + c->in_used,
	                 CONN_IN_BUF_SIZE - c->in_used);
	if (n < 0) {
		if (n == -EPIPE || n == -ECONNRESET)
			kill_at(c, LOG_DEBUG, "closed by peer");
		else
			kill_at(c, LOG_WARNING, strerror((int)-n));
		return 0;
	}
	if (n == 0)
		return 0;
	c->in_used += (size_t)n;
	save_queue(c);
	if (c->ops->settle)
		flush_queue(c);
	hot_mark(c);
	process_input(c);
	return n;
}

/* ---- the poll window ---- */

/* c read requests: the poll window looks at it first from now on. */
static void hot_mark(struct conn *c)
{
	struct daemon *d = c->d;
	struct conn **slot;

	if (!c->ops->poll)
		d->hot_sock_misses = 0; /* it sent: it pays again */
	if (c->is_hot)
		return;
	if (!c->ops->poll) {
		slot = &d->hot_sock;
	} else {
		slot = &d->hot_rings[d->hot_next];
		d->hot_next = (d->hot_next + 1) % CONN_HOT_RINGS;
	}
	if (*slot)
		(*slot)->is_hot = false;
	*slot = c;
	c->is_hot = true;
}

static void hot_forget(struct conn *c)
{
	struct daemon *d = c->d;

	if (!c->is_hot)
		return;
	c->is_hot = false;
	if (d->hot_sock == c)
		d->hot_sock = NULL;
	for (unsigned int i = 0; i < CONN_HOT_RINGS; i++)
		if (d->hot_rings[i] == c)
			d->hot_rings[i] = NULL;
}

static bool hot_serve(struct conn *c)
{
	if (!c || c->is_dead || c->is_read_paused || c->is_held)
		return false;
	return c->ops->poll ? c->ops->poll(c) : conn_handle_input(c) > 0;
}

static bool hot_serve_sock(struct daemon *d)
{
	struct conn *c = d->hot_sock;

	if (!c)
		return false;
	if (hot_serve(c)) {
		d->hot_sock_misses = 0;
		return true;
	}
	if (++d->hot_sock_misses >= CONN_HOT_SOCK_MISSES) {
		hot_forget(c);
		d->hot_sock_misses = 0;
	}
	return false;
}

bool conn_poll_hot(struct loop *l, void *arg)
{
	struct daemon *d = arg;
	bool served;

	(void)l;
	/* Not ahead of guests whose events wait already: the fast path is
	 * for a few busy guests, not a way to jump the queue; and a socket
	 * served here again and again would take the guests' turns (the
	 * loop polls its fds only every few hook turns): epoll then gives
	 * both, and a turn serves dom0 first and the guests their share. */
	if (d->evtchn_backlog)
		return false;
	served = hot_serve_sock(d);
	for (unsigned int i = 0; i < CONN_HOT_RINGS; i++)
		served |= hot_serve(d->hot_rings[i]);
	return served;
}

/* ---- output ---- */

/* Drop `n` written bytes from the front of the queue. */
static void consume(struct conn *c, size_t n)
{
	while (n > 0) {
		struct outmsg *m = c->out_head;
		size_t left = m->size - c->out_off;

		if (n < left) {
			c->out_off += n;
			return;
		}
		n -= left;
		c->out_off = 0;
		unlink_msg(c, NULL, m);
	}
}

static long write_some(struct conn *c, size_t *want)
{
	struct iovec iov[CONN_IOV_MAX];
	struct outmsg *m = c->out_head;
	int cnt = 0;

	*want = 0;
	if (!c->ops->writev) {
		*want = m->size - c->out_off;
		return c->ops->write(c, m->data + c->out_off, *want);
	}
	for (; m && cnt < CONN_IOV_MAX; m = m->next, cnt++) {
		size_t skip = cnt == 0 ? c->out_off : 0;

		iov[cnt].iov_base = m->data + skip;
		iov[cnt].iov_len = m->size - skip;
		*want += iov[cnt].iov_len;
	}
	return c->ops->writev(c, iov, cnt);
}

/* Write what is queued until the transport is full. */
static void write_queued(struct conn *c)
{
	bool is_blocked = false;

	if (c->is_dead)
		return;
	while (c->out_head) {
		size_t want;
		long n = write_some(c, &want);

		if (n < 0) {
			if (n == -EPIPE || n == -ECONNRESET)
				kill_at(c, LOG_DEBUG, "closed by peer");
			else
				kill_at(c, LOG_WARNING, strerror((int)-n));
			return;
		}
		consume(c, (size_t)n);
		/* A short write means the transport is full: another try
		 * now would only cost a system call. */
		if ((size_t)n < want) {
			is_blocked = true;
			break;
		}
	}
	if (is_blocked != c->is_write_blocked) {
		c->is_write_blocked = is_blocked;
		c->ops->want_write(c, is_blocked);
	}
	if (c->ops->flushed)
		c->ops->flushed(c);
	maybe_resume(c);
}

void conn_handle_output(struct conn *c)
{
	if (c->is_dead)
		return;
	c->is_output_ready = true;
	flush_queue(c);
}

static void flush_queue(struct conn *c)
{
	if (!c->is_flush_queued) {
		c->is_flush_queued = true;
		c->flush_next = c->d->flush_head;
		c->d->flush_head = c;
	}
}

bool conn_will_flush(const struct conn *c)
{
	return c->is_flush_queued && !c->is_dead && !c->is_held &&
	       c->out_head && (!c->is_write_blocked || c->is_output_ready);
}

void conn_flush_all(struct daemon *d)
{
	struct conn *c = d->flush_head;

	d->flush_head = NULL;
	while (c) {
		struct conn *next = c->flush_next;
		bool is_ready = c->is_output_ready;

		c->flush_next = NULL;
		c->is_flush_queued = false;
		c->is_output_ready = false;
		if (!c->is_dead && !c->is_held && c->out_head &&
		    (!c->is_write_blocked || is_ready))
			write_queued(c);
		if (!c->is_dead && c->ops->settle)
			c->ops->settle(c, false);
		c = next;
	}
}

void conn_settle_all(struct daemon *d)
{
	for (struct conn *c = d->conns; c; c = c->next)
		if (!c->is_dead && c->ops->settle)
			c->ops->settle(c, true);
}

/* ---- saving sessions (the journal) ---- */

static void save_queue(struct conn *c)
{
	if (c->is_save_queued || !c->ops->commit)
		return;
	c->is_save_queued = true;
	c->save_next = c->d->save_head;
	c->d->save_head = c;
}

static void save_unlink(struct conn *c)
{
	struct conn **pp = &c->d->save_head;

	while (*pp && *pp != c)
		pp = &(*pp)->save_next;
	if (*pp)
		*pp = c->save_next;
	c->is_save_queued = false;
}

void conn_mark_save(struct conn *c)
{
	save_queue(c);
}

struct conn *conn_save_first(const struct daemon *d)
{
	return d->save_head;
}

void conn_commit_all(struct daemon *d)
{
	struct conn *c = d->save_head;

	d->save_head = NULL;
	while (c) {
		struct conn *next = c->save_next;

		c->save_next = NULL;
		c->is_save_queued = false;
		if (!c->is_dead && !c->is_held)
			c->ops->commit(c);
		c = next;
	}
}

void conn_hold_pending(struct daemon *d)
{
	/* Their sessions are recorded as they stand by the snapshot that
	 * ends the failure; until then nothing of this turn leaves. */
	for (struct conn *c = d->flush_head; c; c = c->flush_next)
		if (!c->is_dead)
			c->is_held = true;
	for (struct conn *c = d->save_head; c; c = c->save_next)
		if (!c->is_dead)
			c->is_held = true;
	for (struct conn *c = d->conns; c; c = c->next)
		if (c->is_held && !c->is_read_paused)
			set_read_paused(c, true);
}

void conn_release_held(struct daemon *d)
{
	for (struct conn *c = d->conns; c; c = c->next) {
		if (!c->is_held || c->is_dead)
			continue;
		c->is_held = false;
		flush_queue(c);
		save_queue(c);
		maybe_resume(c);
	}
}

const char *conn_input(const struct conn *c, size_t *len)
{
	*len = c->in_used;
	return c->in_buf;
}

size_t conn_output_len(const struct conn *c)
{
	size_t n = 0;

	for (const struct outmsg *m = c->out_head; m; m = m->next)
		n += m->size;
	return c->out_head ? n - c->out_off : 0;
}

void conn_output_copy(const struct conn *c, void *buf)
{
	char *p = buf;

	for (const struct outmsg *m = c->out_head; m; m = m->next) {
		size_t skip = m == c->out_head ? c->out_off : 0;

		memcpy(p, m->data + skip, m->size - skip);
		p += m->size - skip;
	}
}

int conn_restore(struct conn *c, const void *in, size_t in_len, const void *out,
                 size_t out_len)
{
	struct outmsg *m;

	if (in_len > CONN_IN_BUF_SIZE || c->out_head || c->in_used)
		return -EINVAL;
	if (out_len) {
		/* Raw bytes: they may start inside a message and hold
		 * several; only the bytes matter now. */
		m = xmalloc(sizeof(*m) + out_len);
		if (!m)
			return -ENOMEM;
		m->next = NULL;
		m->size = out_len;
		m->hash = 0;
		m->is_event = false;
		m->deadline = 0;
		memcpy(m->data, out, out_len);
		c->out_head = c->out_tail = m;
		c->out_bytes = out_len;
		c->out_replies = 1;
		flush_queue(c);
	}
	memcpy(c->in_buf, in, in_len);
	c->in_used = in_len;
	save_queue(c);
	return 0;
}

static void flush_unlink(struct conn *c)
{
	struct conn **pp = &c->d->flush_head;

	while (*pp && *pp != c)
		pp = &(*pp)->flush_next;
	if (*pp)
		*pp = c->flush_next;
	c->is_flush_queued = false;
}

/*
 * Discard the events that have waited too long, as Xen 4.17 does with
 * its watch-event timeout: a client that stops reading must not pin
 * memory with events nobody will consume.  Deadlines grow along the
 * queue, so the walk stops at the first event still in time, whose
 * deadline re-arms the timer.
 */
static void expire_cb(struct loop *l, void *arg)
{
	struct conn *c = arg;
	struct outmsg *prev = NULL, *m = c->out_head, *next;
	uint64_t now = loop_now_ms();
	unsigned int dropped = 0;

	c->expire_timer = 0;
	for (; m; m = next) {
		next = m->next;
		if (!m->is_event || (m == c->out_head && c->out_off > 0)) {
			prev = m;
			continue;
		}
		if (m->deadline > now) {
			c->expire_timer =
			    loop_timer_add(l, m->deadline - now, expire_cb, c);
			break;
		}
		unlink_msg(c, prev, m);
		save_queue(c); /* the saved output must match the queue */
		dropped++;
	}
	if (dropped) {
		log_limited(c->domid, "events expired", LOG_WARNING,
		            "conn %llu (dom%u): discarded %u watch events "
		            "undelivered for %u ms",
		            (unsigned long long)c->id, c->domid, dropped,
		            c->d->cfg.watch_event_timeout_ms);
		maybe_resume(c);
	}
}

/* Log the end of an episode of events dropped over the bound. */
static void report_dropped(struct conn *c)
{
	if (!c->events_dropped)
		return;
	log_limited(c->domid, "events dropped", LOG_WARNING,
	            "conn %llu (dom%u): %lu watch events were dropped over "
	            "the limit of %u",
	            (unsigned long long)c->id, c->domid, c->events_dropped,
	            c->d->cfg.conn_events_max);
	c->events_dropped = 0;
}

/* Refuse an event over the bound; log once per episode of drops. */
static bool is_event_refused(struct conn *c)
{
	unsigned int max = c->d->cfg.conn_events_max;

	if (max == 0 || c->out_events < max) {
		report_dropped(c);
		return false;
	}
	if (c->events_dropped++ == 0)
		log_limited(c->domid, "events dropped", LOG_WARNING,
		            "conn %llu (dom%u): %u watch events undelivered: "
		            "dropping new events",
		            (unsigned long long)c->id, c->domid, max);
	return true;
}

/*
 * Drop the oldest undelivered events of `c` until `want` bytes are freed
 * or none is left (a message partly written stays).  Returns the bytes
 * freed.
 */
static size_t drop_oldest_events(struct conn *c, size_t want)
{
	struct outmsg *prev = NULL, *m = c->out_head, *next;
	size_t freed = 0;

	for (; m && freed < want; m = next) {
		next = m->next;
		if (!m->is_event || (m == c->out_head && c->out_off > 0)) {
			prev = m;
			continue;
		}
		freed += m->size;
		unlink_msg(c, prev, m);
		save_queue(c);
		c->events_shed++;
	}
	return freed;
}

/*
 * Over the daemon's total of undelivered events: take from the biggest
 * queue first (the slowest reader), down to 7/8 of the bound so that a
 * flood does not pay this walk per event.  Readers that keep up have
 * short queues and lose nothing.  Each victim is logged once per
 * episode (log_limited).  O(connections) per shed, rare by design.
 */
static void shed_events(struct daemon *d)
{
	size_t before = d->event_bytes;
	size_t target = d->cfg.events_total_max / 8 * 7;

	while (d->event_bytes > target) {
		struct conn *c, *big = NULL;
		size_t big_avail = 0;

		for (c = d->conns; c; c = c->next) {
			size_t avail = c->out_event_bytes;

			if (c->out_off > 0 && c->out_head->is_event)
				avail -= c->out_head->size; /* must finish */
			if (avail > big_avail) {
				big = c;
				big_avail = avail;
			}
		}
		if (!big)
			return;
		drop_oldest_events(big, d->event_bytes - target);
		log_limited(
		    big->domid, "events shed", LOG_WARNING,
		    "conn %llu (dom%u): %lu oldest watch events dropped: "
		    "%zu bytes of events were undelivered in all "
		    "(bound %zu)",
		    (unsigned long long)big->id, big->domid, big->events_shed,
		    before, d->cfg.events_total_max);
		big->events_shed = 0;
	}
}

/* Would an event of `len` bytes put an unprivileged connection's queue
 * over its domain's memory quota?  Counted with the other drops. */
static bool is_over_events_mem(struct conn *c, size_t len)
{
	if (!c->events_mem_max ||
	    c->out_bytes + XS_HDR_SIZE + len <= c->events_mem_max)
		return false;
	if (c->events_dropped++ == 0)
		log_limited(c->domid, "events dropped", LOG_WARNING,
		            "conn %llu (dom%u): %zu bytes queued, over its "
		            "memory quota: dropping new events",
		            (unsigned long long)c->id, c->domid, c->out_bytes);
	return true;
}

int conn_send(struct conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
              const void *payload, size_t len, bool is_event)
{
	const struct daemon_config *cfg = &c->d->cfg;
	struct xs_wire_hdr hdr = {type, req_id, tx_id, (uint32_t)len};
	struct outmsg *m;
	uint32_t hash = 0, slot = 0;

	if (len > XS_PAYLOAD_MAX) {
		log_err("conn %llu: refusing to send %s of %zu bytes",
		        (unsigned long long)c->id,
		        xs_type_name(type) ? xs_type_name(type) : "?", len);
		return -E2BIG;
	}
	if (c->is_dead)
		return 0;
	if (is_event) {
		if (2 * (c->out_events + 1) > c->ev_index_cap && index_grow(c))
			return -ENOMEM;
		hash = event_hash(c, payload, len);
		slot = index_slot(c, hash, payload, len);
		if (c->ev_index[slot])
			return 0; /* the same event waits already */
		if (is_event_refused(c) || is_over_events_mem(c, len))
			return -ENOSPC;
	}
	m = xmalloc(sizeof(*m) + XS_HDR_SIZE + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->size = XS_HDR_SIZE + len;
	m->hash = hash;
	m->is_event = is_event;
	m->deadline = 0;
	memcpy(m->data, &hdr, XS_HDR_SIZE);
	if (len)
		memcpy(m->data + XS_HDR_SIZE, payload, len);
	if (is_event)
		c->ev_index[slot] = m;

	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_bytes += m->size;
	flush_queue(c);
	save_queue(c);
	if (!is_event)
		c->out_replies++;
	if (is_event) {
		c->out_events++;
		c->out_event_bytes += m->size;
		c->d->event_bytes += m->size;
		if (cfg->watch_event_timeout_ms) {
			m->deadline =
			    loop_now_ms() + cfg->watch_event_timeout_ms;
			/* No timer: no older event waits, this one is
			 * the earliest deadline. */
			if (!c->expire_timer)
				c->expire_timer = loop_timer_add(
				    c->d->loop, cfg->watch_event_timeout_ms,
				    expire_cb, c);
		}
	}
	if (log_is_trace())
		trace_msg(c, "OUT", &hdr, m->data + XS_HDR_SIZE);
	if (is_event && cfg->events_total_max &&
	    c->d->event_bytes > cfg->events_total_max)
		shed_events(c->d);
	if (cfg->conn_out_max && c->out_bytes > cfg->conn_out_max &&
	    !c->is_read_paused)
		set_read_paused(c, true);
	return 0;
}

int conn_send_error(struct conn *c, uint32_t req_id, uint32_t tx_id, int err)
{
	const char *name = xs_errno_name(err);

	return conn_send(c, XS_ERROR, req_id, tx_id, name, strlen(name) + 1,
	                 false);
}
