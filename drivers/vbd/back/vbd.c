/*
 * vbd.c - the "vbd" driver of xsblkback on the backend bus: per device,
 * open the image named by `params` (honouring `mode`), advertise it and
 * our features with the keys Linux's blkback writes, go InitWait; on the
 * frontend's Initialised map its ring (ring-ref, or ring-page-order and
 * ring-refN), bind its event channel, check its protocol, go Connected;
 * on its Closing/Closed drain and let go of everything, back to a state
 * from which a new frontend reconnects (the bus's reconnect rule).
 * Every key the frontend wrote is parsed strictly; what does not parse
 * closes the device with an error node (xenbus_dev_fatal), never more.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "drivers/vbd/back/blkback.h"

static struct xstore *xs_of(struct xenbus_device *dev)
{
	return xenbus_bus_xstore(xenbus_dev_bus(dev));
}

/* dir/key as a malloc'ed string; -ENOENT when missing. */
static int rd(struct xenbus_device *dev, const char *dir, const char *key,
              char **out)
{
	char *path = xstore_join(dir, key);
	int err;

	if (!path)
		return -ENOMEM;
	err = xstore_read(xs_of(dev), XSTORE_TXN_NONE, path, out, NULL);
	free(path);
	return err;
}

/* A strict decimal number <= max (no sign, space or junk). */
static int rd_uint(struct xenbus_device *dev, const char *dir, const char *key,
                   unsigned long max, unsigned long *out)
{
	char *v, *end;
	int err = rd(dev, dir, key, &v);

	if (err)
		return err;
	errno = 0;
	if (v[0] < '0' || v[0] > '9' || strlen(v) > 20)
		err = -EINVAL;
	else {
		*out = strtoul(v, &end, 10);
		if (errno || *end || *out > max)
			err = -EINVAL;
	}
	free(v);
	return err;
}

static int wr(struct xenbus_device *dev, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int wr(struct xenbus_device *dev, const char *key, const char *fmt, ...)
{
	char value[64], *path = xstore_join(xenbus_dev_node(dev), key);
	va_list ap;
	int err;

	if (!path)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	err = xstore_write_str(xs_of(dev), XSTORE_TXN_NONE, path, value);
	free(path);
	if (err)
		xenbus_dev_error(dev, err, "writing %s", key);
	return err;
}

/* ---- the image ---- */

static int image_open(struct vbd *v)
{
	struct xenbus_device *dev = v->dev;
	const char *node = xenbus_dev_node(dev);
	char *params = NULL, *mode = NULL;
	struct stat st;
	uint64_t size;
	int err;

	err = rd(dev, node, "params", &params);
	if (err || !params[0] || params[0] != '/') {
		xenbus_dev_error(
		    dev, err ? err : -EINVAL,
		    "params: an absolute path of the image expected");
		free(params);
		return err ? err : -EINVAL;
	}
	/* libxl always writes mode; "w" when absent, as xsim's default. */
	if (rd(dev, node, "mode", &mode) == 0)
		v->lim.is_readonly = strchr(mode, 'w') == NULL;
	free(mode);
	v->fd = open(params, (v->lim.is_readonly ? O_RDONLY : O_RDWR) |
	                         O_CLOEXEC | O_NOCTTY);
	if (v->fd < 0) {
		err = -errno;
		char why[160];

		xenbus_dev_error(dev, err, "opening %s", params);
		/* The error node gets the bus's "probe failed" on top:
		 * this one keeps the reason for the toolstack. */
		snprintf(why, sizeof(why), "error: opening %.100s: %s", params,
		         strerror(-err));
		xenbus_write_hotplug_status(dev, why);
		free(params);
		return err;
	}
	if (fstat(v->fd, &st)) {
		err = -errno;
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		v->is_blockdev = true;
		if (ioctl(v->fd, BLKGETSIZE64, &size)) {
			err = -errno;
			goto fail;
		}
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		err = -EINVAL;
		goto fail;
	}
	v->lim.nr_sectors = size / BLKIF_SECTOR_SIZE;
	v->lim.has_flush = true;
	v->lim.has_barrier = true;
	v->lim.has_discard = !v->lim.is_readonly;
	v->lim.max_indirect = BLKIF_MAX_INDIRECT_SEGS;
	if (vbd_verbose)
		vbd_log(v, "image %s, %llu sectors, %s", params,
		        (unsigned long long)v->lim.nr_sectors,
		        v->lim.is_readonly ? "read-only" : "read-write");
	free(params);
	return 0;
fail:
	xenbus_dev_error(dev, err, "%s: not a usable file or block device",
	                 params);
	free(params);
	close(v->fd);
	v->fd = -1;
	return err;
}

/* The keys Linux's blkback writes, so any blkfront can use us. */
static int advertise(struct vbd *v)
{
	struct xenbus_device *dev = v->dev;
	int err = 0;

	err = err ? err : wr(dev, "feature-flush-cache", "1");
	err = err ? err : wr(dev, "feature-barrier", "1");
	err = err ? err : wr(dev, "feature-persistent", "1");
	err = err ? err
	          : wr(dev, "feature-max-indirect-segments", "%u",
	               v->lim.max_indirect);
	err = err ? err
	          : wr(dev, "max-ring-page-order", "%u", BLKIF_MAX_RING_ORDER);
	err = err ? err : wr(dev, "feature-discard", "%d", v->lim.has_discard);
	if (v->lim.has_discard) {
		err =
		    err ? err
		        : wr(dev, "discard-granularity", "%u", BLKIF_PAGE_SIZE);
		err = err ? err : wr(dev, "discard-alignment", "0");
		err = err ? err : wr(dev, "discard-secure", "0");
	}
	err = err ? err
	          : wr(dev, "sectors", "%llu",
	               (unsigned long long)v->lim.nr_sectors);
	err = err ? err : wr(dev, "sector-size", "%u", BLKIF_SECTOR_SIZE);
	err = err ? err
	          : wr(dev, "physical-sector-size", "%u", BLKIF_SECTOR_SIZE);
	err = err ? err
	          : wr(dev, "info", "%u",
	               v->lim.is_readonly ? VDISK_READONLY : 0u);
	if (!err)
		err = xenbus_write_hotplug_status(dev, "connected");
	return err;
}

/* ---- the connection ---- */

static void disconnect(struct vbd *v)
{
	vbd_ring_stop(v);
	if (v->has_port) {
		xenbus_free_evtchn(v->dev, v->port);
		v->has_port = false;
	}
	if (v->sring) {
		xenbus_unmap_ring(v->dev, v->sring, v->ring_pages);
		v->sring = NULL;
	}
}

static void on_event(struct xenbus_device *dev, unsigned int port, void *arg)
{
	struct vbd *v = arg;

	if (v->is_connected)
		vbd_ring_kick(v);
}

/* ring-page-order + ring-refN, or ring-ref: into v->ring_refs. */
static int read_ring_refs(struct vbd *v, const char *fe)
{
	unsigned long order = 0, ref;
	char key[32];
	int err;

	err = rd_uint(v->dev, fe, "ring-page-order", BLKIF_MAX_RING_ORDER,
	              &order);
	if (err == -ENOENT) {
		order = 0;
	} else if (err) {
		xenbus_dev_fatal(v->dev, err,
		                 "frontend's ring-page-order (max %u)",
		                 BLKIF_MAX_RING_ORDER);
		return err;
	}
	v->ring_pages = 1u << order;
	for (unsigned int i = 0; i < v->ring_pages; i++) {
		if (err == -ENOENT) /* no order: the single ring-ref */
			snprintf(key, sizeof(key), "ring-ref");
		else
			snprintf(key, sizeof(key), "ring-ref%u", i);
		int e = rd_uint(v->dev, fe, key, 0xffffffffu, &ref);

		if (e) {
			xenbus_dev_fatal(v->dev, e, "frontend's %s", key);
			return e;
		}
		v->ring_refs[i] = (uint32_t)ref;
	}
	return 0;
}

static int read_protocol(struct vbd *v, const char *fe)
{
	char *proto = NULL;
	unsigned long fp = 0;
	int err = rd(v->dev, fe, "protocol", &proto);

	if (err == 0 && strcmp(proto, XEN_IO_PROTO_ABI_NATIVE)) {
		xenbus_dev_fatal(v->dev, -ENOSYS,
		                 "frontend protocol '%.32s' is not supported "
		                 "(only %s)",
		                 proto, XEN_IO_PROTO_ABI_NATIVE);
		free(proto);
		return -ENOSYS;
	}
	free(proto);
	v->use_persistent =
	    rd_uint(v->dev, fe, "feature-persistent", 1, &fp) == 0 && fp == 1;
	return 0;
}

static void connect(struct vbd *v)
{
	struct xenbus_device *dev = v->dev;
	const char *fe = xenbus_dev_otherend(dev);
	unsigned long port;
	int err;

	if (v->is_connected)
		return;
	disconnect(v); /* a half-done earlier attempt */
	if (read_ring_refs(v, fe) || read_protocol(v, fe))
		return;
	err = rd_uint(dev, fe, "event-channel", 0xffffffffu, &port);
	if (err) {
		xenbus_dev_fatal(dev, err, "frontend's event-channel");
		return;
	}
	/* Only the first look: a frontend setting up again may well get
	 * the same port number back once it freed the old one. */
	if (v->has_stale_port) {
		v->has_stale_port = false;
		if (port == v->stale_port) {
			vbd_log(v,
			        "frontend still offers port %lu of an earlier "
			        "backend; waiting for it to set up again",
			        port);
			return;
		}
	}
	if (v->use_persistent) {
		v->pgrants = calloc(VBD_PGRANT_SLOTS, sizeof(*v->pgrants));
		if (!v->pgrants)
			v->use_persistent = false;
		siphash_key_random(&v->pg_key);
	}
	if (xenbus_map_ring(dev, v->ring_refs, v->ring_pages, &v->sring))
		return; /* reported */
	err = xenbus_bind_evtchn(dev, (unsigned int)port, &v->port);
	if (err) {
		xenbus_dev_fatal(dev, err, "binding event channel %lu", port);
		return;
	}
	v->has_port = true;
	v->remote_port = (unsigned int)port;
	blkif_backring_init(&v->br, v->sring, v->ring_pages);
	err = xenbus_evtchn_set_handler(dev, v->port, on_event, v);
	if (err) {
		xenbus_dev_fatal(dev, err, "handling the event channel");
		return;
	}
	err = xenbus_switch_state(dev, XENBUS_STATE_CONNECTED);
	if (err)
		return;
	v->is_connected = true;
	v->has_stale_port = false;
	if (vbd_verbose)
		vbd_log(v, "connected: %u ring page(s), port %lu, %s grants",
		        v->ring_pages, port,
		        v->use_persistent ? "persistent" : "per-request");
	vbd_ring_kick(v); /* requests may be there already */
}

static void close_dev(struct vbd *v)
{
	disconnect(v);
	if (xenbus_dev_state(v->dev) != XENBUS_STATE_CLOSED)
		xenbus_switch_state(v->dev, XENBUS_STATE_CLOSED);
}

/* ---- the driver ---- */

static int vbd_probe(struct xenbus_device *dev, void *arg)
{
	struct vbd *v = calloc(1, sizeof(*v));
	int err;

	if (!v)
		return -ENOMEM;
	v->dev = dev;
	v->fd = -1;
	snprintf(v->name, sizeof(v->name), "%u/%u", xenbus_dev_otherend_id(dev),
	         xenbus_dev_id(dev));
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->idle, NULL);
	v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->efd < 0) {
		err = -errno;
		goto fail;
	}
	err = image_open(v);
	if (err)
		goto fail;
	err = xenbus_bus_add_fd(xenbus_dev_bus(dev), v->efd, vbd_on_efd, v);
	if (err)
		goto fail;
	xenbus_dev_set_priv(dev, v);
	return 0;
fail:
	if (v->fd >= 0)
		close(v->fd);
	if (v->efd >= 0)
		close(v->efd);
	pthread_cond_destroy(&v->idle);
	pthread_mutex_destroy(&v->lock);
	free(v);
	return err;
}

/*
 * A frontend waits for our InitWait before it offers a ring: one that
 * is past that already set up with an earlier backend (killed, we took
 * its device over) and its port is still bound there.  Connected never
 * makes us connect; for a stale Initialised, remember the port so that
 * the first event (the bus's initial one) is not taken for an offer.
 */
static void note_stale(struct vbd *v)
{
	enum xenbus_devstate s = xenbus_read_driver_state(
	    xs_of(v->dev), xenbus_dev_otherend(v->dev));
	unsigned long port;

	if (s == XENBUS_STATE_INITIALISED &&
	    !rd_uint(v->dev, xenbus_dev_otherend(v->dev), "event-channel",
	             0xffffffffu, &port)) {
		v->stale_port = (unsigned int)port;
		v->has_stale_port = true;
	}
}

static int vbd_attach(struct xenbus_device *dev, void *arg)
{
	struct vbd *v = xenbus_dev_priv(dev);
	int err = advertise(v);

	note_stale(v);

	return err ? err : xenbus_switch_state(dev, XENBUS_STATE_INITWAIT);
}

static void vbd_detach(struct xenbus_device *dev, void *arg)
{
	struct vbd *v = xenbus_dev_priv(dev);

	if (!v)
		return;
	disconnect(v);
	xenbus_bus_remove_fd(xenbus_dev_bus(dev), v->efd);
	close(v->efd);
	close(v->fd);
	pthread_cond_destroy(&v->idle);
	pthread_mutex_destroy(&v->lock);
	xenbus_dev_set_priv(dev, NULL);
	free(v);
}

static void vbd_otherend(struct xenbus_device *dev, enum xenbus_devstate s,
                         void *arg)
{
	struct vbd *v = xenbus_dev_priv(dev);

	if (!v)
		return;
	if (vbd_verbose)
		vbd_log(v, "frontend %s", xenbus_strstate((int)s));
	switch (s) {
	case XENBUS_STATE_INITIALISED:
		connect(v);
		break;
	case XENBUS_STATE_CONNECTED:
		/*
		 * A frontend goes Connected only after we did; one that is
		 * Connected while we are not was connected to an earlier
		 * backend (we were restarted): its ring and port are not
		 * ours to take.  It sets up again when it sees our InitWait.
		 */
		if (!v->is_connected && vbd_verbose)
			vbd_log(v, "frontend Connected to an earlier backend; "
			           "waiting for it to set up again");
		break;
	case XENBUS_STATE_INITIALISING:
		/* A frontend starting over (restarted, resumed). */
		if (xenbus_dev_state(dev) != XENBUS_STATE_INITWAIT) {
			disconnect(v);
			xenbus_switch_state(dev, XENBUS_STATE_INITWAIT);
		}
		break;
	case XENBUS_STATE_CLOSING:
	case XENBUS_STATE_CLOSED:
	case XENBUS_STATE_UNKNOWN:
		close_dev(v);
		break;
	default:
		break;
	}
}

static int vbd_resume(struct xenbus_device *dev, void *arg)
{
	struct vbd *v = xenbus_dev_priv(dev);

	if (v)
		disconnect(v);
	return 0;
}

const struct xenbus_driver vbd_driver = {
    .type = "vbd",
    .probe = vbd_probe,
    .attach = vbd_attach,
    .detach = vbd_detach,
    .otherend_changed = vbd_otherend,
    .resume = vbd_resume,
};
