/*
 * helpers.c - what a driver calls on its device: the accessors, the
 * state switch, error reporting (the error/ nodes), watches of its own
 * and the backend extras.  Everything here runs on the bus thread unless
 * its header comment says "any thread"; fields other threads read
 * (state, priv) are written under bus->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xenbus/bus_int.h"
#include "lib/xenbus/xb_int.h"

static const char *const state_names[] = {
    "Unknown", "Initialising", "InitWait",      "Initialised",  "Connected",
    "Closing", "Closed",       "Reconfiguring", "Reconfigured",
};

const char *xenbus_strstate(int state)
{
	if (state < 0 || state > XENBUS_STATE_RECONFIGURED)
		return "Invalid";
	return state_names[state];
}

/* A decimal number without sign, spaces or leading junk, <= max. */
int xb_parse_uint(const char *s, unsigned int max, unsigned int *out)
{
	unsigned long v = 0;

	if (!s || !*s || strlen(s) > 10)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static int parse_state(const char *s)
{
	unsigned int v;

	if (xb_parse_uint(s, XENBUS_STATE_RECONFIGURED, &v))
		return XENBUS_STATE_UNKNOWN;
	return (int)v;
}

enum xenbus_devstate xenbus_read_driver_state(struct xstore *h,
                                              const char *path)
{
	char *p, *v = NULL;
	int s = XENBUS_STATE_UNKNOWN;

	if (!h || !path)
		return XENBUS_STATE_UNKNOWN;
	p = xstore_join(path, "state");
	if (p && !xstore_read(h, XSTORE_TXN_NONE, p, &v, NULL))
		s = parse_state(v);
	free(v);
	free(p);
	return (enum xenbus_devstate)s;
}

/*
 * One transaction: read our state, leave it if it is already `state` or
 * gone (a vanished node must stay vanished: writing would recreate it
 * under the toolstack's feet), else write it.
 */
static int switch_once(struct xstore *h, const char *statepath,
                       enum xenbus_devstate state)
{
	xstore_txn_t t;
	char *cur = NULL;
	int err;

	err = xstore_txn_start(h, &t);
	if (err)
		return err;
	err = xstore_read(h, t, statepath, &cur, NULL);
	if (!err && parse_state(cur) == (int)state) {
		free(cur);
		xstore_txn_end(h, t, false);
		return 1;
	}
	free(cur);
	if (!err)
		err = xstore_printf(h, t, statepath, "%d", (int)state);
	if (err) {
		xstore_txn_end(h, t, false);
		return err;
	}
	return xstore_txn_end(h, t, true);
}

int xb_switch_state(struct xenbus_device *dev, enum xenbus_devstate state,
                    bool is_reported)
{
	char *statepath = xstore_join(dev->node, "state");
	int err = -EAGAIN;

	if (!statepath)
		return -ENOMEM;
	for (int i = 0; i < XB_TXN_TRIES && err == -EAGAIN; i++)
		err = switch_once(dev->bus->h, statepath, state);
	free(statepath);
	if (err >= 0) {
		xb_dev_set_state(dev, state);
		return 0;
	}
	/* Reporting moves to Closing, which must not report again. */
	if (is_reported && err != -ENOENT && state != XENBUS_STATE_CLOSING)
		xenbus_dev_fatal(dev, err, "writing new state %s",
		                 xenbus_strstate((int)state));
	return err;
}

int xenbus_switch_state(struct xenbus_device *dev, enum xenbus_devstate state)
{
	if (!dev || (int)state < 0 || state > XENBUS_STATE_RECONFIGURED)
		return -EINVAL;
	return xb_switch_state(dev, state, true);
}

/* error/<node relative to our home>/error */
static char *error_path(const struct xenbus_device *dev)
{
	const char *home = dev->bus->home, *rel = dev->node;
	size_t hl = strlen(home);
	char *p;

	if (!strncmp(rel, home, hl) && rel[hl] == '/')
		rel += hl + 1;
	else
		rel += rel[0] == '/';
	if (asprintf(&p, "%s/error/%s/error", home, rel) < 0)
		return NULL;
	return p;
}

__attribute__((format(printf, 3, 0))) static void
dev_verror(struct xenbus_device *dev, int err, const char *fmt, va_list ap)
{
	char msg[512], *path;
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "xenbus: %s: %s: %s\n", dev->node, msg,
	        strerror(err < 0 ? -err : err));
	path = error_path(dev);
	if (!path)
		return;
	/* As Linux: "%i %s" of the positive errno and the message. */
	n = xstore_printf(dev->bus->h, XSTORE_TXN_NONE, path, "%i %s",
	                  err < 0 ? -err : err, msg);
	if (n)
		fprintf(stderr, "xenbus: %s: cannot write %s: %s\n", dev->node,
		        path, strerror(-n));
	free(path);
}

void xenbus_dev_error(struct xenbus_device *dev, int err, const char *fmt, ...)
{
	va_list ap;

	if (!dev || !fmt)
		return;
	va_start(ap, fmt);
	dev_verror(dev, err, fmt, ap);
	va_end(ap);
}

void xenbus_dev_fatal(struct xenbus_device *dev, int err, const char *fmt, ...)
{
	va_list ap;

	if (!dev || !fmt)
		return;
	va_start(ap, fmt);
	dev_verror(dev, err, fmt, ap);
	va_end(ap);
	xb_switch_state(dev, XENBUS_STATE_CLOSING, false);
}

/* ---- watches of the driver's own ---- */

int xenbus_watch_path(struct xenbus_device *dev, const char *path,
                      xenbus_watch_fn *fn, void *arg, struct xenbus_watch **out)
{
	struct xenbus_watch *w;
	int err;

	if (!dev || !path || !fn)
		return -EINVAL;
	err = xb_watch_new(dev, path, XB_W_USER, fn, arg, &w);
	if (err) {
		xenbus_dev_fatal(dev, err, "watching %s", path);
		return err;
	}
	w->next = dev->user_watches;
	dev->user_watches = w;
	if (out)
		*out = w;
	return 0;
}

int xenbus_watch_pathf(struct xenbus_device *dev, xenbus_watch_fn *fn,
                       void *arg, struct xenbus_watch **out, const char *fmt,
                       ...)
{
	va_list ap;
	char *path;
	int n, err;

	if (!dev || !fmt)
		return -EINVAL;
	va_start(ap, fmt);
	n = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (n < 0) {
		xenbus_dev_fatal(dev, -ENOMEM, "allocating a watch path");
		return -ENOMEM;
	}
	err = xenbus_watch_path(dev, path, fn, arg, out);
	free(path);
	return err;
}

void xenbus_unwatch(struct xenbus_device *dev, struct xenbus_watch *w)
{
	struct xenbus_watch **pp;

	if (!dev || !w)
		return;
	for (pp = &dev->user_watches; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			xb_watch_free(w);
			return;
		}
	}
}

/* ---- backend extras ---- */

bool xenbus_backend_is_online(struct xenbus_device *dev)
{
	char *p, *v = NULL;
	bool is_online = false;

	if (!dev)
		return false;
	p = xstore_join(dev->node, "online");
	if (p && !xstore_read(dev->bus->h, XSTORE_TXN_NONE, p, &v, NULL))
		is_online = !strcmp(v, "1");
	free(v);
	free(p);
	return is_online;
}

int xenbus_write_hotplug_status(struct xenbus_device *dev, const char *status)
{
	char *p;
	int err;

	if (!dev || !status)
		return -EINVAL;
	p = xstore_join(dev->node, "hotplug-status");
	if (!p)
		return -ENOMEM;
	err = xstore_write_str(dev->bus->h, XSTORE_TXN_NONE, p, status);
	free(p);
	return err;
}

/* ---- accessors ---- */

const char *xenbus_dev_node(const struct xenbus_device *dev)
{
	return dev->node;
}

const char *xenbus_dev_type(const struct xenbus_device *dev)
{
	return dev->type;
}

unsigned int xenbus_dev_id(const struct xenbus_device *dev)
{
	return dev->id;
}

/* The fields below may move on the bus thread: read them under the lock
 * unless we are that thread (or inside foreach, which holds it). */
enum xenbus_devstate xenbus_dev_state(const struct xenbus_device *dev)
{
	return dev->state;
}

enum xenbus_devstate xenbus_dev_otherend_state(const struct xenbus_device *dev)
{
	return dev->otherend_state;
}

bool xenbus_dev_is_probed(const struct xenbus_device *dev)
{
	return dev->phase == XB_ACTIVE;
}

unsigned int xenbus_dev_otherend_id(const struct xenbus_device *dev)
{
	return dev->otherend_id;
}

const char *xenbus_dev_otherend(const struct xenbus_device *dev)
{
	return dev->otherend;
}

struct xenbus_bus *xenbus_dev_bus(const struct xenbus_device *dev)
{
	return dev->bus;
}

void *xenbus_dev_priv(const struct xenbus_device *dev)
{
	return dev->priv;
}

void xenbus_dev_set_priv(struct xenbus_device *dev, void *priv)
{
	pthread_mutex_lock(&dev->bus->lock);
	dev->priv = priv;
	pthread_mutex_unlock(&dev->bus->lock);
}

/*
 * Data grants (a block request's pages) are the guest's to get wrong:
 * a bad one fails that request, never the device, so nothing here is
 * reported and nothing is tracked (the caller unmaps).
 */
int xenbus_map_grants(struct xenbus_device *dev, const uint32_t *refs,
                      unsigned int n, bool is_writable, void **vaddr)
{
	struct xenbus_bus *bus;
	struct plat *p;
	int err;

	if (!dev || !refs || !vaddr || n == 0)
		return -EINVAL;
	*vaddr = NULL;
	bus = dev->bus;
	err = xb_bus_plat(bus, &p);
	if (err)
		return err;
	xb_plat_lock(bus);
	err = plat_map_grants(p, dev->otherend_id, refs, n, is_writable, vaddr);
	xb_plat_unlock(bus);
	return err;
}

void xenbus_unmap_grants(struct xenbus_device *dev, void *vaddr)
{
	struct plat *p;

	if (!dev || !vaddr || xb_bus_plat(dev->bus, &p))
		return;
	xb_plat_lock(dev->bus);
	plat_unmap(p, vaddr);
	xb_plat_unlock(dev->bus);
}
