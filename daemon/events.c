/*
 * events.c - watch events from the store to the connections: each change
 * the store reports is matched in the watch index, checked against the
 * watcher's right to read the node (before or after the change), and
 * queued on the watcher's connection (conn.c merges duplicates and bounds
 * the queue).  Special events come from domain.c through d->fire_special.
 * It owns no state: the index is d->watches, the queues are conn.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/events.h"
#include "daemon/session.h"
#include "daemon/state.h"
#include "store/store.h"
#include "store/watch.h"

struct deliver_ctx {
	struct daemon *d;
	const struct store_event *ev;
};

void events_send(struct conn *c, const struct watch *w, const char *path)
{
	char buf[XS_PAYLOAD_MAX];
	size_t plen, tlen = strlen(w->token);

	if (w->rel_prefix && strlen(path) >= w->rel_prefix)
		path += w->rel_prefix;
	plen = strlen(path);
	if (plen + tlen + 2 > sizeof(buf)) {
		log_limited(c->domid, "event too long", LOG_WARNING,
		            "conn %" PRIu64
		            ": watch event for %s too long, dropped",
		            c->id, path);
		return;
	}
	memcpy(buf, path, plen + 1);
	memcpy(buf + plen + 1, w->token, tlen + 1);
	/* -ENOSPC: over the event bound, dropped and logged by conn. */
	conn_send(c, XS_WATCH_EVENT, 0, 0, buf, plen + tlen + 2, true);
}

static void deliver(void *opaque, struct watch *w, const char *path)
{
	const struct deliver_ctx *x = opaque;
	struct conn *c = w->owner;
	struct store_caller who;

	if (c->is_dead)
		return;
	session_caller(x->d, c, &who);
	/* A watcher sees changes only to nodes it may read (before or
	 * after a permission change). */
	if (!who.is_privileged && !store_can_read(&who, x->ev->perms) &&
	    !store_can_read(&who, x->ev->old_perms))
		return;
	events_send(c, w, path);
}

/*
 * Special events: "@name/<domid>" matches watches on "@name" (reported as
 * "@name" unless they asked for depth 1, as xenstore.txt says) and on
 * "@name/<domid>".  Seen by the privileged and by domains the special
 * path's permissions let read.
 */
struct special_ctx {
	struct daemon *d;
	const char *name;
};

static void deliver_special(void *opaque, struct watch *w, const char *path)
{
	const struct special_ctx *x = opaque;
	struct conn *c = w->owner;
	struct store_caller who;

	if (c->is_dead)
		return;
	session_caller(x->d, c, &who);
	if (!who.is_privileged &&
	    !store_can_read(&who, store_special_perms(x->d->store, x->name)))
		return;
	events_send(c, w,
	            w->depth < 0 && !strcmp(w->path, x->name) ? x->name : path);
}

void events_fire_special(struct daemon *d, const char *name, unsigned int domid)
{
	struct special_ctx x = {d, name};
	char path[64];

	snprintf(path, sizeof(path), "%s/%u", name, domid);
	if (watch_fire(d->watches, path, false, false, deliver_special, &x))
		log_warn("out of memory matching watches for %s", path);
}

static void on_store_event(void *opaque, const struct store_event *ev)
{
	struct daemon *d = opaque;
	struct deliver_ctx x = {d, ev};

	/* Xen 4.17 reports a removal to watches on the removed nodes (each
	 * its own, exact) and on the ancestors of the top one; a watch on a
	 * path below that never existed gets nothing, since nothing it
	 * watched changed (checked on Xen). */
	if (watch_fire(d->watches, ev->path, ev->is_exact, false, deliver, &x))
		log_warn("out of memory matching watches for %s", ev->path);
}

void events_init(struct daemon *d)
{
	store_set_event_cb(d->store, on_store_event, d);
}

void events_adopt_store(struct daemon *d, struct store *st)
{
	store_free(d->store);
	d->store = st;
	events_init(d);
}
