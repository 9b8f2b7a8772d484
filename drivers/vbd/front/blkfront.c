/*
 * blkfront.c - the frontend of one vbd: the XenbusState handshake with
 * blkback, the shared request ring, the data pages, and the queue that
 * carries I/O from nbdkit's threads to the bus thread and back.
 *
 * Threads.  nbdkit's threads call bf_io(): the I/O goes on a list under
 * bf.lock, an eventfd wakes the bus thread, and the caller sleeps on
 * bf.cv.  Everything that touches the ring, the slots and the device
 * runs on the bus thread (fd, event-channel and xenbus callbacks), also
 * under bf.lock, and never waits for the backend.
 *
 * Slots.  One per ring entry; a request's id is its slot.  An I/O is
 * split into requests of at most bf.segs pages; with persistent grants
 * each slot keeps its own granted pages (granted on first use, kept for
 * the connection) and data is copied in and out of them; without, each
 * request grants fresh pages and ends the grants when answered.  With
 * persistent grants on both ends only as many slots are used as have
 * pools fitting the backend's table (slots_fit_budget).
 *
 * Reconnect.  When the ring goes away under I/O (backend closed,
 * restarted, killed), every unfinished I/O starts over on the next
 * ring: nothing is acknowledged to a caller before every one of its
 * requests got BLKIF_RSP_OKAY on one ring.  An I/O that waits longer
 * than io_timeout_ms with nothing on the ring fails with EIO.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "drivers/vbd/front/blkfront.h"
#include "drivers/vbd/front/blkif_front.h"
#include "xstore/xenbus.h"
#include "xstore/xstore.h"

#define RESET_WAIT_MS 3000u
#define STOP_WAIT_MS  3000u

/* One bf_io() call: lives on its caller's stack, on bf.ios until done. */
struct bf_ioreq {
	struct bf_ioreq *next, *prev;
	enum bf_op op;
	uint8_t *buf;
	uint64_t off;
	uint32_t len;
	uint32_t next_off; /* bytes handed to the ring so far */
	bool is_sent;      /* flush, discard: the one request is out */
	unsigned int nout; /* requests on the ring */
	int err;
	bool is_done;
};

/* A ring entry's request: which part of which I/O, in which pages. */
struct bf_slot {
	struct bf_ioreq *io; /* NULL: free */
	uint32_t off, len;   /* the part: bytes [off, off+len) of io */
	unsigned int nseg;
	void *pages; /* data pages, then the indirect page */
	uint32_t refs[BF_MAX_SEGS + 1];
	unsigned int npages; /* granted pages at `pages` */
	bool is_pool;        /* persistent: kept across requests */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct bf_opts o;
	struct xstore *h;
	struct xenbus_bus *bus;
	int efd;

	/* Bus thread, under lock. */
	struct xenbus_device *dev;
	bool has_ring, has_port;
	void *sring;
	unsigned int npages, port;
	uint32_t ring_refs[1u << BF_MAX_RING_ORDER];
	blkif_front_ring_t ring;
	struct bf_slot *slots;
	unsigned int nslots, nfree, *free;
	unsigned int segs; /* per request on this connection */

	/* Any thread, under lock. */
	bool is_connected, is_gone, is_stopping, has_info;
	struct bf_info info;
	struct bf_ioreq *ios, *ios_tail;
} bf = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .efd = -1,
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void logf_(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (bf.o.log)
		bf.o.log("%s", line);
	else
		fprintf(stderr, "xsblkfront: %s\n", line);
}

/* ---- store helpers (bus thread, or before the bus starts) ---- */

static int read_str(const char *dir, const char *key, char **out)
{
	char *path = xstore_join(dir, key);
	int err;

	if (!path)
		return -ENOMEM;
	err = xstore_read(bf.h, XSTORE_TXN_NONE, path, out, NULL);
	free(path);
	return err;
}

/* `dir`/`key` as an unsigned number; `def` when missing or malformed. */
static uint64_t read_u64(const char *dir, const char *key, uint64_t def)
{
	char *v = NULL, *end;
	uint64_t n;

	if (read_str(dir, key, &v))
		return def;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-')
		n = def;
	free(v);
	return n;
}

static int txn_write(xstore_txn_t t, const char *dir, const char *key,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int txn_write(xstore_txn_t t, const char *dir, const char *key,
                     const char *fmt, ...)
{
	char *path = xstore_join(dir, key);
	va_list ap;
	int err;

	if (!path)
		return -ENOMEM;
	va_start(ap, fmt);
	err = xstore_vprintf(bf.h, t, path, fmt, ap);
	va_end(ap);
	free(path);
	return err;
}

/* ---- I/O list (lock held) ---- */

static bool io_has_more(const struct bf_ioreq *io)
{
	if (io->op == BF_READ || io->op == BF_WRITE)
		return io->next_off < io->len;
	return !io->is_sent;
}

static void io_unlink(struct bf_ioreq *io)
{
	if (io->prev)
		io->prev->next = io->next;
	else
		bf.ios = io->next;
	if (io->next)
		io->next->prev = io->prev;
	else
		bf.ios_tail = io->prev;
	io->next = io->prev = NULL;
}

static void io_finish(struct bf_ioreq *io, int err)
{
	if (err && !io->err)
		io->err = err;
	io_unlink(io);
	io->is_done = true;
	pthread_cond_broadcast(&bf.cv);
}

/* ---- slots and requests (bus thread, lock held) ---- */

static void slot_ungrant(struct bf_slot *s)
{
	if (s->npages)
		xenbus_ungrant_ring(bf.dev, s->pages, s->npages, s->refs);
	s->pages = NULL;
	s->npages = 0;
	s->is_pool = false;
}

/* Pages for a request of `nseg` segments (+ one indirect page). */
static int slot_pages(struct bf_slot *s, unsigned int nseg, bool is_indirect)
{
	unsigned int n;

	if (bf.o.is_persistent) {
		if (s->is_pool)
			return 0;
		n = bf.segs +
		    (bf.segs > BLKIF_MAX_SEGMENTS_PER_REQUEST ? 1 : 0);
		s->is_pool = true;
	} else {
		n = nseg + (is_indirect ? 1 : 0);
	}
	s->npages = 0;
	if (xenbus_grant_ring(bf.dev, n, &s->pages, s->refs)) {
		s->is_pool = false;
		return -EIO;
	}
	s->npages = n;
	return 0;
}

/* The indirect page and its ref: right after the data pages. */
static unsigned int slot_ind_index(const struct bf_slot *s)
{
	return s->is_pool ? bf.segs : s->nseg;
}

static void fill_rw(struct bf_slot *s, unsigned int id, struct bf_ioreq *io)
{
	blkif_request_t *req = RING_GET_REQUEST(&bf.ring, bf.ring.req_prod_pvt);
	uint64_t sector = (io->off + s->off) / BF_SECTOR;
	uint8_t op = io->op == BF_READ ? BLKIF_OP_READ : BLKIF_OP_WRITE;
	struct blkif_request_segment seg[BF_MAX_SEGS];

	for (unsigned int i = 0; i < s->nseg; i++) {
		uint32_t left = s->len - i * BF_PAGE_SIZE;
		uint32_t n = left < BF_PAGE_SIZE ? left : BF_PAGE_SIZE;

		seg[i].gref = s->refs[i];
		seg[i].first_sect = 0;
		seg[i].last_sect = (uint8_t)(n / BF_SECTOR - 1);
	}
	if (s->nseg <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
		req->operation = op;
		req->nr_segments = (uint8_t)s->nseg;
		req->handle = (blkif_vdev_t)bf.o.devid;
		req->id = id;
		req->sector_number = sector;
		memcpy(req->seg, seg, s->nseg * sizeof(seg[0]));
	} else {
		blkif_request_indirect_t *ind = (blkif_request_indirect_t *)req;
		unsigned int ii = slot_ind_index(s);

		memcpy((uint8_t *)s->pages + (size_t)ii * BF_PAGE_SIZE, seg,
		       s->nseg * sizeof(seg[0]));
		memset(ind, 0, sizeof(*ind));
		ind->operation = BLKIF_OP_INDIRECT;
		ind->indirect_op = op;
		ind->nr_segments = (uint16_t)s->nseg;
		ind->id = id;
		ind->sector_number = sector;
		ind->handle = (blkif_vdev_t)bf.o.devid;
		ind->indirect_grefs[0] = s->refs[ii];
	}
}

/* Put the next part of `io` on the ring in a free slot. */
static void part_submit(struct bf_ioreq *io)
{
	unsigned int id = bf.free[--bf.nfree];
	struct bf_slot *s = &bf.slots[id];
	blkif_request_t *req;

	s->io = io;
	s->off = io->next_off;
	s->len = 0;
	s->nseg = 0;
	if (io->op == BF_FLUSH || io->op == BF_DISCARD) {
		req = RING_GET_REQUEST(&bf.ring, bf.ring.req_prod_pvt);
		memset(req, 0, sizeof(*req));
		if (io->op == BF_FLUSH) {
			req->operation = BLKIF_OP_FLUSH_DISKCACHE;
			req->handle = (blkif_vdev_t)bf.o.devid;
			req->id = id;
		} else {
			blkif_request_discard_t *d =
			    (blkif_request_discard_t *)req;

			d->operation = BLKIF_OP_DISCARD;
			d->handle = (blkif_vdev_t)bf.o.devid;
			d->id = id;
			d->sector_number = io->off / BF_SECTOR;
			d->nr_sectors = io->len / BF_SECTOR;
		}
		io->is_sent = true;
	} else {
		uint32_t left = io->len - io->next_off;
		uint32_t max = bf.segs * BF_PAGE_SIZE;

		s->len = left < max ? left : max;
		s->nseg = (s->len + BF_PAGE_SIZE - 1) / BF_PAGE_SIZE;
		if (slot_pages(s, s->nseg,
		               s->nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST)) {
			/* Reported by the grant; this I/O cannot go on. */
			s->io = NULL;
			bf.free[bf.nfree++] = id;
			io->next_off = io->len;
			io->err = -EIO;
			if (!io->nout)
				io_finish(io, -EIO);
			return;
		}
		if (io->op == BF_WRITE)
			memcpy(s->pages, io->buf + s->off, s->len);
		fill_rw(s, id, io);
		io->next_off += s->len;
	}
	io->nout++;
	bf.ring.req_prod_pvt++;
}

/* Feed the ring from the I/O list; notify the backend if it asks. */
static void kick(void)
{
	int notify = 0;

	if (!bf.is_connected || !bf.dev)
		return;
	for (struct bf_ioreq *io = bf.ios, *next; io && bf.nfree; io = next) {
		next = io->next; /* part_submit may finish io */
		while (bf.nfree && !io->is_done && io_has_more(io))
			part_submit(io);
	}
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&bf.ring, notify);
	if (notify)
		xenbus_evtchn_notify(bf.dev, bf.port);
}

static int status_err(int16_t st)
{
	if (st == BLKIF_RSP_OKAY)
		return 0;
	return st == BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
}

static void complete(const blkif_response_t *rsp)
{
	struct bf_slot *s;
	struct bf_ioreq *io;
	int err = status_err(rsp->status);

	if (rsp->id >= bf.nslots || !bf.slots[rsp->id].io) {
		logf_("response for unknown id %" PRIu64 " ignored", rsp->id);
		return;
	}
	s = &bf.slots[rsp->id];
	io = s->io;
	if (!err && io->op == BF_READ)
		memcpy(io->buf + s->off, s->pages, s->len);
	if (!s->is_pool)
		slot_ungrant(s);
	s->io = NULL;
	bf.free[bf.nfree++] = (unsigned int)rsp->id;
	if (err && !io->err)
		io->err = err;
	io->nout--;
	if (!io->nout && !io_has_more(io))
		io_finish(io, 0);
}

static void ring_teardown(bool is_requeue);

/* Take every response there is (event channel, bus thread). */
static void on_event(struct xenbus_device *dev, unsigned int port, void *arg)
{
	int more;

	pthread_mutex_lock(&bf.lock);
	if (!bf.has_ring) {
		pthread_mutex_unlock(&bf.lock);
		return;
	}
	do {
		RING_IDX rp = bf.ring.sring->rsp_prod;

		xen_rmb();
		if (rp - bf.ring.rsp_cons > bf.nslots) {
			pthread_mutex_unlock(&bf.lock);
			xenbus_dev_fatal(dev, -EPROTO,
			                 "backend's rsp_prod %u is impossible",
			                 rp);
			pthread_mutex_lock(&bf.lock);
			ring_teardown(true);
			pthread_mutex_unlock(&bf.lock);
			return;
		}
		for (RING_IDX i = bf.ring.rsp_cons; i != rp; i++) {
			blkif_response_t rsp = *RING_GET_RESPONSE(&bf.ring, i);

			complete(&rsp);
		}
		bf.ring.rsp_cons = rp;
		RING_FINAL_CHECK_FOR_RESPONSES(&bf.ring, more);
	} while (more);
	kick();
	pthread_mutex_unlock(&bf.lock);
}

/* nbdkit threads queued I/O (eventfd, bus thread). */
static void on_submit(int fd, void *arg)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		logf_("reading the submit eventfd: %s", strerror(errno));
	pthread_mutex_lock(&bf.lock);
	kick();
	pthread_mutex_unlock(&bf.lock);
}

/* ---- connection (bus thread) ---- */

/*
 * Stop using the ring: no more requests, and every unfinished I/O
 * starts over on the next ring (is_requeue) or fails.  What the ring
 * holds stays (the backend may still map it).  Lock held.
 */
static void ring_stop(bool is_requeue)
{
	struct bf_ioreq *io, *next;

	bf.is_connected = false;
	for (unsigned int i = 0; i < bf.nslots; i++)
		bf.slots[i].io = NULL;
	for (io = bf.ios; io; io = next) {
		next = io->next;
		io->nout = 0;
		if (is_requeue) {
			io->next_off = 0;
			io->is_sent = false;
			io->err = 0;
		} else {
			io_finish(io, -ENODEV);
		}
	}
}

/* ring_stop, then drop the ring, its port and every slot's pages. */
static void ring_teardown(bool is_requeue)
{
	ring_stop(is_requeue);
	for (unsigned int i = 0; i < bf.nslots; i++)
		slot_ungrant(&bf.slots[i]);
	free(bf.slots);
	free(bf.free);
	bf.slots = NULL;
	bf.free = NULL;
	bf.nslots = bf.nfree = 0;
	if (bf.has_port) {
		xenbus_free_evtchn(bf.dev, bf.port);
		bf.has_port = false;
	}
	if (bf.has_ring) {
		xenbus_ungrant_ring(bf.dev, bf.sring, bf.npages, bf.ring_refs);
		bf.has_ring = false;
	}
	bf.sring = NULL;
}

/* Publish the ring, the port and our features: one transaction. */
static int publish(struct xenbus_device *dev)
{
	const char *node = xenbus_dev_node(dev);
	xstore_txn_t t;
	int err;

	for (int tries = 0; tries < 10; tries++) {
		err = xstore_txn_start(bf.h, &t);
		if (err)
			return err;
		if (bf.npages == 1) {
			err = txn_write(t, node, "ring-ref", "%u",
			                bf.ring_refs[0]);
		} else {
			err = txn_write(t, node, "ring-page-order", "%u",
			                (unsigned int)__builtin_ctz(bf.npages));
			for (unsigned int i = 0; i < bf.npages && !err; i++) {
				char key[24];

				snprintf(key, sizeof(key), "ring-ref%u", i);
				err = txn_write(t, node, key, "%u",
				                bf.ring_refs[i]);
			}
		}
		if (!err)
			err =
			    txn_write(t, node, "event-channel", "%u", bf.port);
		if (!err)
			err = txn_write(t, node, "protocol", "%s",
			                XEN_IO_PROTO_ABI_NATIVE);
		if (!err)
			err = txn_write(t, node, "feature-persistent", "%u",
			                bf.o.is_persistent ? 1u : 0u);
		if (err) {
			xstore_txn_end(bf.h, t, false);
			return err;
		}
		err = xstore_txn_end(bf.h, t, true);
		if (err != -EAGAIN)
			return err;
	}
	return err;
}

/* Backend in InitWait: grant a ring, offer a port, go Initialised. */
static void front_setup(struct xenbus_device *dev)
{
	const char *be = xenbus_dev_otherend(dev);
	unsigned int order =
	    (unsigned int)read_u64(be, "max-ring-page-order", 0);
	int err;

	if (order > bf.o.max_order)
		order = bf.o.max_order;
	bf.npages = 1u << order;
	err = xenbus_grant_ring(dev, bf.npages, &bf.sring, bf.ring_refs);
	if (err)
		return; /* reported (fatal) by the grant */
	bf.has_ring = true;
	SHARED_RING_INIT((blkif_sring_t *)bf.sring);
	FRONT_RING_INIT(&bf.ring, (blkif_sring_t *)bf.sring,
	                bf.npages * BF_PAGE_SIZE);
	bf.nslots = RING_SIZE(&bf.ring);
	bf.slots = calloc(bf.nslots, sizeof(*bf.slots));
	bf.free = calloc(bf.nslots, sizeof(*bf.free));
	if (!bf.slots || !bf.free) {
		xenbus_dev_fatal(dev, -ENOMEM, "allocating %u slots",
		                 bf.nslots);
		ring_teardown(true);
		return;
	}
	/* LIFO: a few slots (and their pages) do most of the work. */
	for (unsigned int i = 0; i < bf.nslots; i++)
		bf.free[i] = bf.nslots - 1 - i;
	bf.nfree = bf.nslots;
	err = xenbus_alloc_evtchn(dev, &bf.port);
	if (err) {
		ring_teardown(true);
		return;
	}
	bf.has_port = true;
	err = xenbus_evtchn_set_handler(dev, bf.port, on_event, NULL);
	if (!err) {
		err = publish(dev);
		if (err)
			xenbus_dev_fatal(dev, err, "writing ring details");
	}
	if (!err)
		err = xenbus_switch_state(dev, XENBUS_STATE_INITIALISED);
	if (err) {
		ring_teardown(true);
		return;
	}
	logf_("%s: Initialised, ring of %u page(s), %u slots, port %u",
	      xenbus_dev_node(dev), bf.npages, bf.nslots, bf.port);
}

/*
 * With persistent grants, hand out only the slots whose pools fit in
 * the backend's persistent-grant table (BF_PGRANT_BUDGET): a pool page
 * past it would be mapped per request, the dominant cost here.  Fewer
 * requests in flight, each one cheap, is the better trade.  Called at
 * Connected, before any request (every slot is free).
 */
static void slots_fit_budget(bool is_persistent)
{
	unsigned int per_slot, n;

	if (!is_persistent)
		return;
	per_slot = bf.segs + (bf.segs > BLKIF_MAX_SEGMENTS_PER_REQUEST ? 1 : 0);
	n = BF_PGRANT_BUDGET / per_slot;
	if (n == 0)
		n = 1;
	if (n >= bf.nslots || bf.nfree != bf.nslots)
		return;
	for (unsigned int i = 0; i < n; i++)
		bf.free[i] = n - 1 - i;
	bf.nfree = n;
}

/* Backend Connected: learn the disk, go Connected, serve. */
static void front_connect(struct xenbus_device *dev)
{
	const char *be = xenbus_dev_otherend(dev);
	struct bf_info in = {0};
	unsigned int ind;
	char *mode = NULL;
	uint64_t sectors;

	in.sector_size = (unsigned int)read_u64(be, "sector-size", 512);
	sectors = read_u64(be, "sectors", 0);
	if (in.sector_size < 512 || (in.sector_size & (in.sector_size - 1)) ||
	    in.sector_size > 65536 || sectors > UINT64_MAX / in.sector_size) {
		xenbus_dev_fatal(dev, -EINVAL,
		                 "backend's sectors/sector-size %" PRIu64
		                 "/%u make no disk",
		                 sectors, in.sector_size);
		return;
	}
	in.size = sectors * in.sector_size;
	in.is_readonly =
	    (read_u64(be, "info", 0) & VDISK_READONLY) != 0 ||
	    (!read_str(be, "mode", &mode) && mode && !strcmp(mode, "r"));
	free(mode);
	in.has_flush = read_u64(be, "feature-flush-cache", 0) == 1;
	in.has_discard = read_u64(be, "feature-discard", 0) == 1;
	in.is_persistent =
	    bf.o.is_persistent && read_u64(be, "feature-persistent", 0) == 1;
	ind = (unsigned int)read_u64(be, "feature-max-indirect-segments", 0);
	bf.segs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
	if (ind > bf.segs && bf.o.max_segs > bf.segs)
		bf.segs = ind < bf.o.max_segs ? ind : bf.o.max_segs;
	slots_fit_budget(in.is_persistent);
	in.ring_pages = bf.npages;
	in.max_segs = bf.segs;
	if (xenbus_switch_state(dev, XENBUS_STATE_CONNECTED))
		return;
	if (bf.has_info && bf.info.size != in.size)
		logf_("%s: size changed across reconnect: %" PRIu64
		      " -> %" PRIu64,
		      xenbus_dev_node(dev), bf.info.size, in.size);
	bf.info = in;
	bf.has_info = true;
	bf.is_connected = true;
	pthread_cond_broadcast(&bf.cv);
	logf_("%s: Connected, %" PRIu64 " bytes, sector %u%s%s%s%s, %u "
	      "segs/request, %u slots",
	      xenbus_dev_node(dev), in.size, in.sector_size,
	      in.is_readonly ? ", read-only" : "",
	      in.has_flush ? ", flush" : "", in.has_discard ? ", discard" : "",
	      in.is_persistent ? ", persistent" : "", bf.segs, bf.nfree);
	kick();
}

/* Is the backend still meant to serve us (toolstack's `online`)? */
static bool is_backend_online(struct xenbus_device *dev)
{
	return read_u64(xenbus_dev_otherend(dev), "online", 0) == 1;
}

static void fe_otherend(struct xenbus_device *dev, enum xenbus_devstate s,
                        void *arg)
{
	enum xenbus_devstate me;

	pthread_mutex_lock(&bf.lock);
	if (dev != bf.dev) {
		pthread_mutex_unlock(&bf.lock);
		return;
	}
	me = xenbus_dev_state(dev);
	logf_("%s: backend %s (we are %s)", xenbus_dev_node(dev),
	      xenbus_strstate((int)s), xenbus_strstate((int)me));
	switch (s) {
	case XENBUS_STATE_INITWAIT:
		/* Set up already for this InitWait: events are merged. */
		if (bf.has_ring && me == XENBUS_STATE_INITIALISED)
			break;
		if (bf.has_ring)
			ring_teardown(true); /* a new backend */
		if (!bf.is_stopping)
			front_setup(dev);
		break;
	case XENBUS_STATE_CONNECTED:
		if (bf.has_ring && me == XENBUS_STATE_INITIALISED)
			front_connect(dev);
		break;
	case XENBUS_STATE_CLOSING:
		/* Its pages are released at Closed, once it unmapped them
		 * (it does before Closed), or when the device goes. */
		ring_stop(true);
		if (me != XENBUS_STATE_CLOSED)
			xenbus_switch_state(dev, XENBUS_STATE_CLOSED);
		break;
	case XENBUS_STATE_CLOSED:
		ring_teardown(true);
		if (me != XENBUS_STATE_CLOSED)
			xenbus_switch_state(dev, XENBUS_STATE_CLOSED);
		/* The reconnect rule: a backend closed under us (restarted,
		 * or shut down) that is still online gets us back. */
		if (!bf.is_stopping && is_backend_online(dev))
			xenbus_switch_state(dev, XENBUS_STATE_INITIALISING);
		break;
	case XENBUS_STATE_INITIALISING:
		ring_teardown(true);
		if (!bf.is_stopping && me != XENBUS_STATE_INITIALISING)
			xenbus_switch_state(dev, XENBUS_STATE_INITIALISING);
		break;
	default:
		ring_teardown(true);
		break;
	}
	pthread_mutex_unlock(&bf.lock);
}

static int fe_probe(struct xenbus_device *dev, void *arg)
{
	/* Other disks of the guest are other processes' (or nobody's):
	 * taken and left alone, since a refused probe would close them. */
	return 0;
}

static int fe_attach(struct xenbus_device *dev, void *arg)
{
	if (xenbus_dev_id(dev) != bf.o.devid)
		return 0;
	pthread_mutex_lock(&bf.lock);
	bf.dev = dev;
	pthread_mutex_unlock(&bf.lock);
	logf_("%s: found, backend %s", xenbus_dev_node(dev),
	      xenbus_dev_otherend(dev));
	if (xenbus_dev_otherend_state(dev) == XENBUS_STATE_INITWAIT)
		fe_otherend(dev, XENBUS_STATE_INITWAIT, arg);
	return 0;
}

static void fe_detach(struct xenbus_device *dev, void *arg)
{
	bool is_gone;

	pthread_mutex_lock(&bf.lock);
	if (dev != bf.dev) {
		pthread_mutex_unlock(&bf.lock);
		return;
	}
	ring_teardown(false);
	bf.dev = NULL;
	is_gone = !bf.is_stopping;
	if (is_gone)
		bf.is_gone = true;
	pthread_cond_broadcast(&bf.cv);
	pthread_mutex_unlock(&bf.lock);
	logf_("%s: removed", xenbus_dev_node(dev));
	if (is_gone && bf.o.on_gone)
		bf.o.on_gone();
}

static const struct xenbus_driver fe_driver = {
    .type = "vbd",
    .probe = fe_probe,
    .attach = fe_attach,
    .detach = fe_detach,
    .otherend_changed = fe_otherend,
};

/* ---- public ---- */

static void deadline_in(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/*
 * A predecessor killed while connected left our node Initialised or
 * Connected, and no bus probes a device that is not Initialising: close
 * it, give a live backend the time to follow, and start over.
 */
static void reset_state(void)
{
	static const char *const keys[] = {"ring-ref", "ring-page-order",
	                                   "event-channel", "protocol",
	                                   "feature-persistent"};
	char node[96], *be = NULL;
	int st;

	snprintf(node, sizeof(node), "/local/domain/%u/device/vbd/%u",
	         bf.o.domid, bf.o.devid);
	st = (int)read_u64(node, "state", 0);
	if (st == 0 || st == XENBUS_STATE_INITIALISING)
		return;
	logf_("%s: left %s by a previous frontend: resetting", node,
	      xenbus_strstate(st));
	if (st != XENBUS_STATE_CLOSED) {
		txn_write(XSTORE_TXN_NONE, node, "state", "%d",
		          XENBUS_STATE_CLOSED);
		if (!read_str(node, "backend", &be)) {
			for (unsigned int ms = 0; ms < RESET_WAIT_MS;
			     ms += 10) {
				int bs = (int)read_u64(be, "state", 0);

				if (bs == XENBUS_STATE_CLOSED ||
				    bs <= XENBUS_STATE_INITWAIT)
					break;
				sleep_ms(10);
			}
			free(be);
		}
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *p = xstore_join(node, keys[i]);

		if (p)
			xstore_rm(bf.h, XSTORE_TXN_NONE, p);
		free(p);
	}
	for (unsigned int i = 0; i < (1u << BF_MAX_RING_ORDER); i++) {
		char key[24], *p;

		snprintf(key, sizeof(key), "ring-ref%u", i);
		p = xstore_join(node, key);
		if (p)
			xstore_rm(bf.h, XSTORE_TXN_NONE, p);
		free(p);
	}
	txn_write(XSTORE_TXN_NONE, node, "state", "%d",
	          XENBUS_STATE_INITIALISING);
}

int bf_start(const struct bf_opts *opts)
{
	struct xenbus_bus_opts bo = {.kind = XENBUS_FRONTEND};
	pthread_condattr_t ca;
	char spec[32];
	int err;

	bf.o = *opts;
	if (bf.o.max_order > BF_MAX_RING_ORDER)
		bf.o.max_order = BF_MAX_RING_ORDER;
	if (bf.o.max_segs > BF_MAX_SEGS)
		bf.o.max_segs = BF_MAX_SEGS;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&bf.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (!bf.o.store) {
		snprintf(spec, sizeof(spec), "ring:%u", bf.o.domid);
		bf.o.store = spec;
	}
	err = xstore_open(bf.o.store, 0, &bf.h);
	if (err) {
		logf_("opening the store (%s): %s", bf.o.store, strerror(-err));
		return err;
	}
	bf.o.store = NULL; /* spec is ours only until here */
	reset_state();
	bf.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bf.efd < 0) {
		err = -errno;
		goto fail;
	}
	bo.domid = (int)bf.o.domid;
	bo.platform = bf.o.platform;
	err = xenbus_bus_new(bf.h, &bo, &bf.bus);
	if (!err)
		err = xenbus_register(bf.bus, &fe_driver, NULL);
	if (!err)
		err = xenbus_bus_add_fd(bf.bus, bf.efd, on_submit, NULL);
	if (!err)
		err = xenbus_bus_start(bf.bus);
	if (!err)
		return 0;
	logf_("starting the frontend bus: %s", strerror(-err));
fail:
	bf_stop();
	return err;
}

int bf_wait_connected(unsigned int timeout_ms, struct bf_info *out)
{
	struct timespec dl;
	int err = 0;

	deadline_in(&dl, timeout_ms);
	pthread_mutex_lock(&bf.lock);
	while (!bf.is_connected && !bf.is_gone && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&bf.cv, &bf.lock, &dl);
	if (bf.is_connected)
		err = 0;
	else
		err = bf.is_gone ? -ENODEV : -ETIMEDOUT;
	if (!err && out)
		*out = bf.info;
	pthread_mutex_unlock(&bf.lock);
	return err;
}

int bf_io(enum bf_op op, void *buf, uint64_t off, uint32_t len)
{
	struct bf_ioreq io = {.op = op, .buf = buf, .off = off, .len = len};
	uint64_t one = 1;
	struct timespec dl;
	int err = 0;

	if ((off | len) % BF_SECTOR)
		return -EINVAL;
	if (op != BF_FLUSH && len == 0)
		return 0;
	deadline_in(&dl, bf.o.io_timeout_ms);
	pthread_mutex_lock(&bf.lock);
	if (bf.is_gone || bf.is_stopping) {
		pthread_mutex_unlock(&bf.lock);
		return -ENODEV;
	}
	io.prev = bf.ios_tail;
	if (bf.ios_tail)
		bf.ios_tail->next = &io;
	else
		bf.ios = &io;
	bf.ios_tail = &io;
	pthread_mutex_unlock(&bf.lock);
	if (write(bf.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		logf_("waking the bus thread: %s", strerror(errno));
	pthread_mutex_lock(&bf.lock);
	while (!io.is_done) {
		err = pthread_cond_timedwait(&bf.cv, &bf.lock, &dl);
		if (err != ETIMEDOUT || io.is_done)
			continue;
		if (io.nout) {
			/* On a live ring: its answer (or the ring's end,
			 * which requeues it) will come. */
			deadline_in(&dl, bf.o.io_timeout_ms);
			continue;
		}
		/* Nothing of it on a ring: nobody will answer. */
		io_finish(&io, -EIO);
		logf_("an I/O waited %u ms for the backend: EIO",
		      bf.o.io_timeout_ms);
	}
	pthread_mutex_unlock(&bf.lock);
	return io.err;
}

bool bf_is_gone(void)
{
	bool is_gone;

	pthread_mutex_lock(&bf.lock);
	is_gone = bf.is_gone;
	pthread_mutex_unlock(&bf.lock);
	return is_gone;
}

void bf_stop(void)
{
	char *stuck = NULL;

	pthread_mutex_lock(&bf.lock);
	bf.is_stopping = true;
	pthread_mutex_unlock(&bf.lock);
	if (bf.bus) {
		if (xenbus_bus_shutdown(bf.bus, STOP_WAIT_MS, &stuck))
			logf_("closing: backend did not follow: %s",
			      stuck ? stuck : "?");
		free(stuck);
		xenbus_bus_free(bf.bus);
		bf.bus = NULL;
	}
	if (bf.efd >= 0) {
		close(bf.efd);
		bf.efd = -1;
	}
	if (bf.h) {
		xstore_close(bf.h);
		bf.h = NULL;
	}
}
