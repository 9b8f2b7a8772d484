/*
 * reconnect.c - a socket handle outlives its daemon's restart: the keeper
 * thread connects again by itself, and this file says what becomes of the
 * requests and transactions the break caught.
 *
 * The receive thread that sees the peer go (EOF, ECONNRESET) -- or a
 * sender that sees its send fail so -- calls xs_auto_begin(): the gate
 * closes (is_resetting) and the keeper, started on the first break, runs
 * one cycle: connect to the same path, then at 10 ms, doubling to 500 ms,
 * until h->reconnect_ms have passed.  Each try is the reset of resume
 * (xs_reset_conn): a new connection, every watch registered again, then
 * the gate opens and the waiting requests go, in that order.  A cycle
 * that runs out of time fails everything waiting with -ENOTCONN; after
 * it, the first call made asks for one more try, a single connect(), so a
 * daemon that came back later is found without waiting.
 *
 * The daemon forgets a connection's transactions with it: each
 * transaction we start is recorded with the connection it lives on, and
 * a call in one whose connection is gone fails with EAGAIN before
 * anything is sent (is_dead_txn in client.c).  Ids are the daemon's, and
 * a new daemon counts from 1 again: xstore_txn_start() never keeps an id
 * that a dead, not yet ended transaction still holds.
 *
 * The ring keeps its connection across a restart of the daemon: none of
 * this runs there (is_sock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/client_int.h"

/* The default bound of one cycle, and its backoff. */
#define RECONNECT_MS_DEFAULT 30000u
#define RECONNECT_MS_MAX     86400000u
#define BACKOFF_FIRST_MS     10u
#define BACKOFF_MAX_MS       500u

/* ---- settings ---- */

/* $XSTORE_RECONNECT_MS: milliseconds, 0 = never; else the default. */
static unsigned int env_reconnect_ms(void)
{
	const char *s = getenv("XSTORE_RECONNECT_MS");
	unsigned long v;
	char *end;

	if (!s || !*s)
		return RECONNECT_MS_DEFAULT;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || *s == '-' || v > RECONNECT_MS_MAX)
		return RECONNECT_MS_DEFAULT;
	return (unsigned int)v;
}

void xs_auto_init(struct xstore *h)
{
	h->is_sock = !strcmp(h->tr->ops->name, "unix");
	h->reconnect_ms = env_reconnect_ms();
}

void xstore_set_reconnect(struct xstore *h, unsigned int max_ms)
{
	pthread_mutex_lock(&h->lock);
	h->reconnect_ms = max_ms;
	pthread_mutex_unlock(&h->lock);
}

/* ---- the keeper ---- */

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L +
	       (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

/* Sleep `ms` on h->cond (monotonic), woken early by close; lock held. */
static void backoff(struct xstore *h, unsigned int ms)
{
	struct timespec dl;

	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	while (!h->is_closing &&
	       pthread_cond_timedwait(&h->cond, &h->lock, &dl) != ETIMEDOUT)
		;
}

/*
 * One cycle: try until connected or out of time.  reset_lock held all
 * along, so that xstore_reconnect() and resume wait for its end.
 */
static void cycle(struct xstore *h)
{
	unsigned int delay = BACKOFF_FIRST_MS, bound;
	struct timespec t0;
	bool is_up = false;
	long spent;
	int err;

	pthread_mutex_lock(&h->reset_lock);
	pthread_mutex_lock(&h->lock);
	bound = h->is_one_try ? 0 : h->reconnect_ms;
	h->is_one_try = false;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		h->must_reconnect = false;
		/* Suspended: resume connects again, as it always did. */
		if (h->is_closing || h->state == XS_SUSPENDED)
			break;
		pthread_mutex_unlock(&h->lock);
		err = xs_reset_conn(h, true, true);
		pthread_mutex_lock(&h->lock);
		/* A watch the daemon refused does not make the link down. */
		if (!h->conn_err && !h->must_reconnect) {
			is_up = true;
			break;
		}
		/* No socket file: its server removed it on the way out (a
		 * clean stop, a multiplexer whose domain is gone), where a
		 * crashed one leaves it.  Nobody is coming back there. */
		if (err == -ENOENT)
			break;
		spent = ms_since(&t0);
		if (spent >= (long)bound || !h->reconnect_ms)
			break;
		backoff(h, (long)delay < (long)bound - spent
		               ? delay
		               : (unsigned int)((long)bound - spent));
		delay = delay * 2 < BACKOFF_MAX_MS ? delay * 2 : BACKOFF_MAX_MS;
	}
	if (!is_up) {
		h->conn_err = -ENOTCONN;
		if (!h->is_closing && h->state != XS_SUSPENDED) {
			h->is_given_up = true;
			h->giveups++;
		}
		h->must_reconnect = false;
		h->is_resetting = false;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&h->reset_lock);
}

static void *keeper_main(void *arg)
{
	struct xstore *h = arg;

	(void)pthread_setname_np(pthread_self(), "xstore-keeper");
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (!h->must_reconnect && !h->is_closing)
			pthread_cond_wait(&h->cond, &h->lock);
		if (h->is_closing)
			break;
		pthread_mutex_unlock(&h->lock);
		cycle(h);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* Can this handle reconnect by itself now?  Starts the keeper once. */
static bool can_auto(struct xstore *h)
{
	if (!h->is_sock || !h->reconnect_ms || h->is_closing ||
	    h->state == XS_SUSPENDED)
		return false;
	if (!h->has_keeper) {
		if (pthread_create(&h->keeper, NULL, keeper_main, h))
			return false; /* today's behaviour: -ENOTCONN */
		h->has_keeper = true;
	}
	return true;
}

bool xs_auto_begin(struct xstore *h)
{
	if (!can_auto(h))
		return false;
	h->is_resetting = true;
	h->must_reconnect = true;
	pthread_cond_broadcast(&h->cond);
	return true;
}

bool xs_auto_retry(struct xstore *h, unsigned int entry_giveups)
{
	/* Those that waited through the cycle that gave up do not ask. */
	if (entry_giveups != h->giveups || !can_auto(h))
		return false;
	h->is_one_try = true;
	return xs_auto_begin(h);
}

void xs_auto_fini(struct xstore *h)
{
	bool has_keeper;

	pthread_mutex_lock(&h->lock);
	h->is_closing = true;
	has_keeper = h->has_keeper;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (!has_keeper)
		return;
	/* A keeper waiting for a WATCH's reply gets it failed. */
	h->tr->ops->shutdown(h->tr);
	pthread_join(h->keeper, NULL);
	h->has_keeper = false;
}

/* ---- what a break does to a request ---- */

/*
 * Requests that may go twice with the effect of once.  RM too: its
 * second ENOENT counts as success (talk() in client.c).  Not UNWATCH
 * (the watch is already unlinked, so the new connection never had it:
 * -ECONNRESET, which xstore_watch_remove() takes for done), nor
 * INTRODUCE, RELEASE, RESUME, CONTROL, RESET_WATCHES or unknown types.
 */
static bool is_idempotent(uint32_t type)
{
	switch (type) {
	case XS_READ:
	case XS_DIRECTORY:
	case XS_DIRECTORY_PART:
	case XS_GET_PERMS:
	case XS_WRITE:
	case XS_MKDIR:
	case XS_RM:
	case XS_SET_PERMS:
	case XS_WATCH:
	case XS_GET_DOMAIN_PATH:
	case XS_IS_DOMAIN_INTRODUCED:
	case XS_TRANSACTION_START:
	case XS_SET_TARGET:
	case XS_GET_QUOTA:
	case XS_SET_QUOTA:
	case XS_GET_FEATURE:
	case XS_SET_FEATURE:
		return true;
	default:
		return false;
	}
}

int xs_lost_fate(struct xstore *h, uint32_t type, xstore_txn_t t,
                 unsigned int flags, bool is_sent, bool is_commit)
{
	(void)h;
	/* The keeper's own WATCHes: its next try sends them all. */
	if (flags & XS_TALK_FORCE)
		return -ECONNRESET;
	if (t != XSTORE_TXN_NONE) {
		if (type != XS_TRANSACTION_END)
			return -EAGAIN;
		/*
		 * The daemon writes its journal before it replies: a commit
		 * that went out may be in the store.  Only one that never
		 * left is known undone.
		 */
		if (!is_commit)
			return 0;
		return is_sent ? -ECONNRESET : -EAGAIN;
	}
	if (!is_sent || is_idempotent(type))
		return 1;
	return -ECONNRESET;
}

/* ---- transaction records ---- */

int xs_txn_add(struct xstore *h, uint32_t id, uint64_t gen)
{
	struct xs_txn_rec *r;

	if (xs_txn_find(h, id))
		return -EEXIST;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->id = id;
	r->gen = gen;
	r->next = h->txn_recs;
	h->txn_recs = r;
	return 0;
}

struct xs_txn_rec *xs_txn_find(struct xstore *h, uint32_t id)
{
	struct xs_txn_rec *r;

	for (r = h->txn_recs; r; r = r->next)
		if (r->id == id)
			return r;
	return NULL;
}

void xs_txn_forget(struct xstore *h, uint32_t id)
{
	struct xs_txn_rec **pp = &h->txn_recs, *r;

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->next;
	r = *pp;
	if (r) {
		*pp = r->next;
		free(r);
	}
}

void xs_txn_fini(struct xstore *h)
{
	struct xs_txn_rec *r;

	while ((r = h->txn_recs) != NULL) {
		h->txn_recs = r->next;
		free(r);
	}
}
