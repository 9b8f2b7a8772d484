/*
 * watch.c - watches: registration, the event queue and the watch thread.
 *
 * The receive thread files each WATCH_EVENT under the watch its token
 * names (events for unknown tokens -- a watch just removed -- are
 * dropped) into one FIFO; the watch thread runs the callbacks from it one
 * at a time, in arrival order, with no lock held.  Removing a watch takes
 * its events out of the FIFO, and waits until its callback is not running
 * -- unless the remover is that callback, in which case the watch thread
 * frees the watch once the callback returns.
 *
 * Each watch may have at most its own queue_max events queued, or the
 * handle's h->queue_max when it has none (a flood of events must not eat
 * the client's memory, XSA-349; a watch on a peer's node, which the peer
 * can make fire at will, wants a tighter bound than the handle's).  On
 * overflow its queued events are replaced by one event on the watched
 * path flagged XSTORE_EVENT_OVERFLOW, and later events are absorbed into it
 * until it is delivered: it is delivered after every change it stands for, so
 * the callback always gets to see the latest state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/client_int.h"

/* ---- the queue (watch_lock held) ---- */

static void ev_unlink(struct xstore *h, struct xs_event *ev)
{
	if (ev->prev)
		ev->prev->next = ev->next;
	else
		h->ev_head = ev->next;
	if (ev->next)
		ev->next->prev = ev->prev;
	else
		h->ev_tail = ev->prev;
	ev->w->nqueued--;
}

static void ev_push(struct xstore *h, struct xs_event *ev)
{
	ev->next = NULL;
	ev->prev = h->ev_tail;
	if (h->ev_tail)
		h->ev_tail->next = ev;
	else
		h->ev_head = ev;
	h->ev_tail = ev;
	ev->w->nqueued++;
	if (ev->w->nqueued > ev->w->nqueued_max)
		ev->w->nqueued_max = ev->w->nqueued;
	pthread_cond_signal(&h->watch_cond);
}

static struct xs_event *ev_new(struct xstore_watch *w, const char *path,
                               size_t len, unsigned int flags)
{
	struct xs_event *ev = malloc(sizeof(*ev) + len + 1);

	if (!ev)
		return NULL;
	ev->w = w;
	ev->flags = flags;
	memcpy(ev->path, path, len);
	ev->path[len] = '\0';
	return ev;
}

/* Drop every queued event of `w`. */
static void ev_cancel(struct xstore *h, struct xstore_watch *w)
{
	struct xs_event *ev = h->ev_head, *next;

	for (; ev && w->nqueued; ev = next) {
		next = ev->next;
		if (ev->w == w) {
			ev_unlink(h, ev);
			free(ev);
		}
	}
	w->is_collapsed = false;
}

static void watch_unlink(struct xstore *h, struct xstore_watch *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		h->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->is_linked = false;
}

static void watch_free(struct xstore_watch *w)
{
	free(w->path);
	free(w);
}

/* ---- from the receive thread ---- */

int xs_watch_event_in(struct xstore *h, const char *buf, size_t len)
{
	const char *path = buf, *token;
	size_t plen = strnlen(buf, len);
	struct xstore_watch *w;
	struct xs_event *ev;
	unsigned int max;

	/* <path>|<token>| : two strings, each with its nul. */
	if (plen == len || plen == 0)
		return -EPROTO;
	token = buf + plen + 1;
	if (strnlen(token, len - plen - 1) == len - plen - 1)
		return -EPROTO;

	pthread_mutex_lock(&h->watch_lock);
	for (w = h->watches; w; w = w->next)
		if (!strcmp(w->token, token))
			break;
	if (!w || w->is_collapsed)
		goto out;
	max = __atomic_load_n(&w->queue_max, __ATOMIC_RELAXED);
	if (w->nqueued < (max ? max : h->queue_max)) {
		ev = ev_new(w, path, plen, 0);
	} else {
		ev_cancel(h, w);
		ev = ev_new(w, w->path, strlen(w->path), XSTORE_EVENT_OVERFLOW);
		if (ev)
			w->is_collapsed = true;
	}
	/* Out of memory: the event is lost, as on any spurious-free path. */
	if (ev)
		ev_push(h, ev);
out:
	pthread_mutex_unlock(&h->watch_lock);
	return 0;
}

/* ---- the watch thread ---- */

static void *watch_main(void *arg)
{
	struct xstore *h = arg;
	struct xstore_watch *w;
	struct xs_event *ev;

	(void)pthread_setname_np(pthread_self(), "xstore-watch");
	pthread_mutex_lock(&h->watch_lock);
	for (;;) {
		while (!h->ev_head && !h->is_stopping)
			pthread_cond_wait(&h->watch_cond, &h->watch_lock);
		if (h->is_stopping)
			break;
		ev = h->ev_head;
		w = ev->w;
		ev_unlink(h, ev);
		if (ev->flags & XSTORE_EVENT_OVERFLOW)
			w->is_collapsed = false;
		h->running = w;
		pthread_mutex_unlock(&h->watch_lock);

		w->fn(h, w, ev->path, ev->flags, w->arg);
		free(ev);

		pthread_mutex_lock(&h->watch_lock);
		h->running = NULL;
		if (w->must_free)
			watch_free(w);
		pthread_cond_broadcast(&h->watch_cond);
	}
	pthread_mutex_unlock(&h->watch_lock);
	return NULL;
}

bool xs_is_watch_thread(struct xstore *h)
{
	bool is_it;

	pthread_mutex_lock(&h->watch_lock);
	is_it = h->has_watch_thread &&
	        pthread_equal(h->watch_thread, pthread_self());
	pthread_mutex_unlock(&h->watch_lock);
	return is_it;
}

/* ---- registration ---- */

static int send_watch(struct xstore *h, uint32_t type, const char *path,
                      const char *token, int depth, unsigned int flags)
{
	char dbuf[16];
	struct iovec iov[3] = {
	    {(void *)(uintptr_t)path, strlen(path) + 1},
	    {(void *)(uintptr_t)token, strlen(token) + 1},
	    {dbuf, 0},
	};

	if (depth >= 0)
		iov[2].iov_len =
		    (size_t)snprintf(dbuf, sizeof(dbuf), "%d", depth) + 1;
	return xs_talk(h, type, XSTORE_TXN_NONE, iov, depth >= 0 ? 3 : 2, flags,
	               NULL, NULL, NULL);
}

/* Undo a registration: unlink, cancel, wait out a running callback. */
static void watch_forget(struct xstore *h, struct xstore_watch *w,
                         bool is_from_callback)
{
	pthread_mutex_lock(&h->watch_lock);
	if (w->is_linked)
		watch_unlink(h, w);
	ev_cancel(h, w);
	if (is_from_callback && h->running == w) {
		w->must_free = true;
		w = NULL;
	} else {
		while (h->running == w)
			pthread_cond_wait(&h->watch_cond, &h->watch_lock);
	}
	pthread_mutex_unlock(&h->watch_lock);
	if (w)
		watch_free(w);
}

int xstore_watch_add(struct xstore *h, const char *path, int depth,
                     xstore_watch_fn *fn, void *arg, struct xstore_watch **out)
{
	struct xstore_watch *w;
	int err;

	if (!h || !path || !*path || !fn)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	if (!w->path) {
		free(w);
		return -ENOMEM;
	}
	w->depth = depth < 0 ? -1 : depth;
	w->fn = fn;
	w->arg = arg;

	pthread_mutex_lock(&h->watch_lock);
	if (!h->has_watch_thread) {
		err = -pthread_create(&h->watch_thread, NULL, watch_main, h);
		if (err) {
			pthread_mutex_unlock(&h->watch_lock);
			watch_free(w);
			return err;
		}
		h->has_watch_thread = true;
	}
	snprintf(w->token, sizeof(w->token), "xstore-%u", h->next_watch_id++);
	/* Linked first: the daemon's first event may beat its reply. */
	w->next = h->watches;
	if (w->next)
		w->next->prev = w;
	h->watches = w;
	w->is_linked = true;
	pthread_mutex_unlock(&h->watch_lock);

	/*
	 * A reset between our link and our WATCH registers it already
	 * (EEXIST then), or fails our request (ECONNRESET): send again.
	 */
	do
		err = send_watch(h, XS_WATCH, w->path, w->token, w->depth, 0);
	while (err == -ECONNRESET);
	if (err == -EEXIST)
		err = 0;
	if (err) {
		watch_forget(h, w, xs_is_watch_thread(h));
		return err;
	}
	if (out)
		*out = w;
	return 0;
}

int xstore_watch_remove(struct xstore *h, struct xstore_watch *w)
{
	int err;

	if (!h || !w)
		return -EINVAL;
	/* Unlinked first, so that no new event is queued for it. */
	pthread_mutex_lock(&h->watch_lock);
	if (w->is_linked)
		watch_unlink(h, w);
	pthread_mutex_unlock(&h->watch_lock);
	err = send_watch(h, XS_UNWATCH, w->path, w->token, -1, 0);
	/* After a reset, the new connection has the watch already gone. */
	if (err == -ECONNRESET || err == -ENOTCONN)
		err = 0;
	watch_forget(h, w, xs_is_watch_thread(h));
	return err;
}

const char *xstore_watch_path(const struct xstore_watch *w)
{
	return w->path;
}

void xstore_set_watch_queue_max(struct xstore *h, unsigned int max)
{
	pthread_mutex_lock(&h->watch_lock);
	h->queue_max = max ? max : 1;
	pthread_mutex_unlock(&h->watch_lock);
}

void xstore_watch_set_queue_max(struct xstore_watch *w, unsigned int max)
{
	/* A watch does not know its handle, so its lock is out of reach:
	 * the receive thread reads the bound atomically instead.  A change
	 * applies from the next event on; what is queued stays. */
	__atomic_store_n(&w->queue_max, max, __ATOMIC_RELAXED);
}

/*
 * Register every linked watch on the new connection (conn_gen).  The
 * list may change while we send (no lock is held across a request), so
 * each round picks one watch not yet done, marks it, and sends.
 */
int xs_watch_reregister(struct xstore *h)
{
	char path[XS_PAYLOAD_MAX],
	    token[sizeof(((struct xstore_watch *)0)->token)];
	struct xstore_watch *w;
	uint64_t gen;
	int depth, err, first = 0;

	pthread_mutex_lock(&h->lock);
	gen = h->conn_gen;
	pthread_mutex_unlock(&h->lock);
	for (;;) {
		pthread_mutex_lock(&h->watch_lock);
		for (w = h->watches; w; w = w->next)
			if (w->gen != gen)
				break;
		if (w) {
			w->gen = gen;
			snprintf(path, sizeof(path), "%s", w->path);
			memcpy(token, w->token, sizeof(token));
			depth = w->depth;
		}
		pthread_mutex_unlock(&h->watch_lock);
		if (!w)
			break;
		err =
		    send_watch(h, XS_WATCH, path, token, depth, XS_TALK_FORCE);
		if (err && err != -EEXIST && !first)
			first = err;
	}
	return first;
}

/* At close: stop the watch thread, free every watch and event. */
void xs_watch_fini(struct xstore *h)
{
	struct xs_event *ev;
	struct xstore_watch *w;

	pthread_mutex_lock(&h->watch_lock);
	h->is_stopping = true;
	pthread_cond_broadcast(&h->watch_cond);
	pthread_mutex_unlock(&h->watch_lock);
	if (h->has_watch_thread) {
		pthread_join(h->watch_thread, NULL);
		h->has_watch_thread = false;
	}
	while ((ev = h->ev_head) != NULL) {
		ev_unlink(h, ev);
		free(ev);
	}
	while ((w = h->watches) != NULL) {
		watch_unlink(h, w);
		watch_free(w);
	}
}
