/*
 * req.c - a connected device's ring, on the bus thread: take requests
 * (each copied out once, then decoded and checked by blkif_proto.c),
 * find their pages in the persistent-grant table when both ends offer
 * feature-persistent (mapping new ones, up to VBD_PGRANT_MAX), hand them
 * to the workers (which map the other pages per request, so that mapping
 * costs no bus-thread time), and answer them as the workers finish.  A bad
 * request is answered with an error at once; an impossible ring index stops the
 * device.
 *
 * Fairness: at most VBD_BATCH requests per look; if more wait, the
 * device's eventfd is poked so the bus loop comes back after serving
 * everybody else that is ready.  A barrier plugs the ring until every
 * earlier request is answered and the barrier itself is done.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/vbd/back/blkback.h"

#define LOG_EVERY_S 5

/*
 * Guest pages in the simulator are files, and a guest can truncate one
 * we have mapped: the next access raises SIGBUS (Xen never lets a guest
 * shrink a granted page; the sim cannot prevent it, so we survive it).
 * Every access to a shared page on the bus thread -- the ring and the
 * indirect pages -- runs under fault_jb; a fault there breaks that ring
 * or fails that request, never the process.  The workers touch guest
 * pages only through preadv/pwritev, which return EFAULT instead.
 *
 * The handler runs with SA_NODEFER, so SIGBUS is never added to the mask
 * and siglongjmp need not restore one: sigsetjmp(jb, 0) costs no
 * rt_sigprocmask syscall, where saving the mask cost two or three per
 * request on the bus thread.
 */
static __thread sigjmp_buf *fault_jb;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	if (fault_jb)
		siglongjmp(*fault_jb, 1);
	signal(SIGBUS, SIG_DFL); /* not ours: die of it */
	raise(SIGBUS);
}

int vbd_guard_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? -errno : 0;
}

/* The ring page went away under us. */
static void ring_fault(struct vbd *v)
{
	if (v->br.is_broken)
		return;
	v->br.is_broken = true;
	xenbus_dev_fatal(v->dev, -EFAULT,
	                 "the frontend's ring page faulted (truncated?): the "
	                 "frontend is broken or hostile");
}

/* blkif_backring_take under the guard: -EFAULT on a fault. */
static int guarded_take(struct vbd *v, blkif_request_t *raw)
{
	sigjmp_buf jb;
	int got;

	if (sigsetjmp(jb, 0)) {
		fault_jb = NULL;
		ring_fault(v);
		return -EFAULT;
	}
	fault_jb = &jb;
	got = blkif_backring_take(&v->br, raw);
	fault_jb = NULL;
	return got;
}

/* memcpy from a guest page: false if it faulted. */
static bool guarded_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		fault_jb = NULL;
		return false;
	}
	fault_jb = &jb;
	memcpy(dst, src, n);
	fault_jb = NULL;
	return true;
}

void vbd_refused(struct vbd *v, enum blkif_refusal r, const struct blkif_req *q)
{
	time_t now = time(NULL);

	v->refused[r]++;
	if (v->refused_logged[r] && now - v->refused_at[r] < LOG_EVERY_S)
		return;
	vbd_log(v,
	        "refused %llu request(s) since the last report: %s (last: id "
	        "%llu op %u sector %llu); %s",
	        (unsigned long long)(v->refused[r] - v->refused_logged[r]),
	        blkif_refusal_str(r), (unsigned long long)q->id, q->op,
	        (unsigned long long)q->sector,
	        r == BLKIF_IO_ERROR ? "check the image and free memory"
	                            : "the frontend is buggy or hostile");
	v->refused_logged[r] = v->refused[r];
	v->refused_at[r] = now;
}

/* ---- persistent grants ---- */

/* Keyed: a guest cannot aim its refs at one run of slots. */
static unsigned int pg_slot(const struct vbd *v, uint32_t gref)
{
	return (unsigned int)(siphash24(&v->pg_key, &gref, sizeof(gref)) %
	                      VBD_PGRANT_SLOTS);
}

/* The page of `gref`, mapped now if new and the table has room; NULL
 * when it must be mapped per request (table full) or cannot be. */
static void *pg_get(struct vbd *v, uint32_t gref, bool *is_full, int *err)
{
	unsigned int i = pg_slot(v, gref);
	void *page;

	*is_full = false;
	for (unsigned int n = 0; n < VBD_PGRANT_SLOTS; n++) {
		struct vbd_pgrant *g = &v->pgrants[i];

		if (!g->is_used)
			break;
		if (g->gref == gref)
			return g->page;
		i = (i + 1) % VBD_PGRANT_SLOTS;
	}
	if (v->n_pgrants >= VBD_PGRANT_MAX) {
		*is_full = true;
		return NULL;
	}
	*err = xenbus_map_grants(v->dev, &gref, 1, true, &page);
	if (*err)
		return NULL;
	v->pgrants[i] =
	    (struct vbd_pgrant){.gref = gref, .is_used = true, .page = page};
	v->n_pgrants++;
	return page;
}

static void pg_free_all(struct vbd *v)
{
	if (!v->pgrants)
		return;
	for (unsigned int i = 0; i < VBD_PGRANT_SLOTS; i++)
		if (v->pgrants[i].is_used)
			xenbus_unmap_grants(v->dev, v->pgrants[i].page);
	free(v->pgrants);
	v->pgrants = NULL;
	v->n_pgrants = 0;
}

/* ---- mapping a request's pages ---- */

/*
 * Pages of grefs[0..n-1] into pages[]: persistent ones from the table
 * (mapped now if new); the refs that must be mapped per request go to
 * rest[0..*nrest), with where[k] their index.
 */
static int pages_resolve(struct vbd *v, const uint32_t *grefs, unsigned int n,
                         void **pages, uint32_t *rest, unsigned int *where,
                         unsigned int *nrest)
{
	int err = 0;

	*nrest = 0;
	for (unsigned int i = 0; i < n && !err; i++) {
		bool is_full = true;

		pages[i] = v->use_persistent
		               ? pg_get(v, grefs[i], &is_full, &err)
		               : NULL;
		if (!pages[i] && is_full) {
			rest[*nrest] = grefs[i];
			where[(*nrest)++] = i;
		}
	}
	return err;
}

/* Map the refs pages_resolve() left, in one mapping.  Any thread. */
int vbd_pages_map(struct xenbus_device *dev, const uint32_t *rest,
                  const unsigned int *where, unsigned int nrest,
                  bool is_writable, void **pages, void **map)
{
	int err;

	*map = NULL;
	if (!nrest)
		return 0;
	err = xenbus_map_grants(dev, rest, nrest, is_writable, map);
	for (unsigned int k = 0; !err && k < nrest; k++)
		pages[where[k]] = (char *)*map + k * BLKIF_PAGE_SIZE;
	return err;
}

/* Both at once, on the bus thread: for the (few) indirect pages. */
static int map_pages(struct vbd *v, const uint32_t *grefs, unsigned int n,
                     bool is_writable, void **pages, void **map)
{
	uint32_t rest[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	unsigned int where[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST], nrest;
	int err;

	*map = NULL;
	if (n > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
		return -EINVAL;
	err = pages_resolve(v, grefs, n, pages, rest, where, &nrest);
	if (!err)
		err =
		    vbd_pages_map(v->dev, rest, where, nrest,
		                  v->use_persistent || is_writable, pages, map);
	return err;
}

static void job_free(struct vbd_job *j)
{
	if (j->map)
		xenbus_unmap_grants(j->v->dev, j->map);
	if (j->segs != j->req.seg)
		free(j->segs);
	free(j->pages);
	free(j->rest);
	free(j->where);
	free(j->iov);
	free(j);
}

/* Copy the segments of an indirect request out of its pages, once. */
static enum blkif_refusal indirect_segs(struct vbd *v, struct vbd_job *j)
{
	void *pages[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST], *map;
	struct blkif_request_segment *raw;
	enum blkif_refusal r;
	unsigned int n = j->req.nseg;

	raw = malloc(n * sizeof(*raw));
	j->segs = malloc(n * sizeof(*j->segs));
	if (!raw || !j->segs) {
		free(raw);
		return BLKIF_IO_ERROR;
	}
	if (map_pages(v, j->req.indirect_grefs, j->req.n_indirect, false, pages,
	              &map)) {
		free(raw);
		return BLKIF_BAD_GRANT;
	}
	r = BLKIF_OK;
	for (unsigned int p = 0, done = 0; done < n && r == BLKIF_OK; p++) {
		unsigned int k =
		    n - done < BLKIF_SEGS_PER_INDIRECT_PAGE
		        ? n - done
		        : (unsigned int)BLKIF_SEGS_PER_INDIRECT_PAGE;

		if (!guarded_copy(raw + done, pages[p], k * sizeof(*raw)))
			r = BLKIF_BAD_GRANT;
		done += k;
	}
	if (map)
		xenbus_unmap_grants(v->dev, map);
	if (r != BLKIF_OK) {
		free(raw);
		return r;
	}
	r = blkif_req_check_segs(&j->req, raw, n, &v->lim);
	for (unsigned int i = 0; r == BLKIF_OK && i < n; i++)
		j->segs[i] = (struct blkif_seg){.gref = raw[i].gref,
		                                .first = raw[i].first_sect,
		                                .last = raw[i].last_sect};
	free(raw);
	return r;
}

/* The job for a decoded request, its persistent pages found; or why
 * not.  The worker maps the others (vbd_pages_map). */
static enum blkif_refusal job_build(struct vbd *v, const struct blkif_req *q,
                                    struct vbd_job **out)
{
	struct vbd_job *j = calloc(1, sizeof(*j));
	enum blkif_refusal r = BLKIF_OK;
	uint32_t *grefs = NULL;

	*out = NULL;
	if (!j)
		return BLKIF_IO_ERROR;
	j->v = v;
	j->req = *q;
	j->segs = j->req.seg;
	j->nseg = q->nseg;
	if (q->is_indirect && (r = indirect_segs(v, j)) != BLKIF_OK)
		goto fail;
	if (j->nseg) {
		grefs = malloc(j->nseg * sizeof(*grefs));
		j->pages = malloc(j->nseg * sizeof(*j->pages));
		j->rest = malloc(j->nseg * sizeof(*j->rest));
		j->where = malloc(j->nseg * sizeof(*j->where));
		j->iov = malloc(j->nseg * sizeof(*j->iov));
		if (!grefs || !j->pages || !j->rest || !j->where || !j->iov) {
			r = BLKIF_IO_ERROR;
			goto fail;
		}
		for (unsigned int i = 0; i < j->nseg; i++)
			grefs[i] = j->segs[i].gref;
		if (pages_resolve(v, grefs, j->nseg, j->pages, j->rest,
		                  j->where, &j->nrest)) {
			r = BLKIF_BAD_GRANT;
			goto fail;
		}
		/* A read fills the guest's pages; a write only reads them
		 * (Linux's blkfront grants those read-only, unless they are
		 * persistent: those are always writable). */
		j->is_map_writable =
		    v->use_persistent || q->kind == BLKIF_K_READ;
	}
	free(grefs);
	*out = j;
	return BLKIF_OK;
fail:
	free(grefs);
	job_free(j);
	return r;
}

/* ---- the ring ---- */

static void respond(struct vbd *v, uint64_t id, uint8_t op, int16_t status)
{
	sigjmp_buf jb;

	if (v->br.is_broken)
		return;
	if (sigsetjmp(jb, 0)) {
		fault_jb = NULL;
		ring_fault(v);
		return;
	}
	fault_jb = &jb;
	blkif_backring_respond(&v->br, id, op, status);
	fault_jb = NULL;
}

static void push(struct vbd *v)
{
	sigjmp_buf jb;
	bool is_notify;

	if (!v->is_connected || v->br.is_broken)
		return;
	if (sigsetjmp(jb, 0)) {
		fault_jb = NULL;
		ring_fault(v);
		return;
	}
	fault_jb = &jb;
	is_notify = blkif_backring_push(&v->br);
	fault_jb = NULL;
	if (is_notify && v->has_port)
		xenbus_evtchn_notify(v->dev, v->port);
}

static void submit(struct vbd *v, struct vbd_job *j)
{
	v->in_flight++;
	io_submit(j);
}

static void poke(struct vbd *v)
{
	(void)!write(v->efd, &(uint64_t){1}, sizeof(uint64_t));
}

/* Take up to VBD_BATCH requests. */
void vbd_ring_kick(struct vbd *v)
{
	unsigned int n;

	for (n = 0; v->is_connected && !v->is_plugged && n < VBD_BATCH; n++) {
		blkif_request_t raw;
		struct blkif_req q;
		struct vbd_job *j;
		enum blkif_refusal r;
		int got;

		if (v->br.is_broken) { /* a fault answering, reported */
			vbd_ring_stop(v);
			return;
		}
		got = guarded_take(v, &raw);
		if (got == 0)
			break;
		if (got < 0) {
			if (got == -EPROTO)
				xenbus_dev_fatal(
				    v->dev, -EPROTO,
				    "frontend's req_prod is impossible "
				    "(req_cons %u, ring of %u): the "
				    "frontend is broken or hostile",
				    v->br.r.req_cons, RING_SIZE(&v->br.r));
			vbd_ring_stop(v);
			return;
		}
		r = blkif_req_decode(&raw, &v->lim, &q);
		if (r == BLKIF_OK)
			r = job_build(v, &q, &j);
		if (r != BLKIF_OK) {
			vbd_refused(v, r, &q);
			respond(v, q.id, q.op, blkif_refusal_status(r));
			continue;
		}
		if (q.kind == BLKIF_K_BARRIER) {
			v->is_plugged = true;
			if (v->in_flight) {
				v->barrier = j; /* submitted when drained */
				continue;
			}
		}
		submit(v, j);
	}
	push(v);
	if (n == VBD_BATCH && !v->is_plugged)
		poke(v); /* more may wait: after the others' turn */
}

/* Answer what the workers finished, then look at the ring again. */
void vbd_on_efd(int fd, void *arg)
{
	struct vbd *v = arg;
	struct vbd_job *done;
	uint64_t n;

	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&v->lock);
	done = v->done;
	v->done = NULL;
	pthread_mutex_unlock(&v->lock);
	while (done) {
		struct vbd_job *j = done;

		done = j->next;
		if (j->refusal != BLKIF_OK)
			vbd_refused(v, j->refusal, &j->req);
		if (v->is_connected)
			respond(v, j->req.id, j->req.op, j->status);
		if (j->req.kind == BLKIF_K_BARRIER)
			v->is_plugged = false;
		v->in_flight--;
		job_free(j);
	}
	if (v->barrier && !v->in_flight) {
		struct vbd_job *b = v->barrier;

		v->barrier = NULL;
		submit(v, b);
	}
	vbd_ring_kick(v);
}

/* Disconnect: wait for the workers, answer nothing more, let go of
 * every page of the guest.  The ring mapping itself is vbd.c's. */
void vbd_ring_stop(struct vbd *v)
{
	struct vbd_job *done;

	io_drain(v);
	pthread_mutex_lock(&v->lock);
	done = v->done;
	v->done = NULL;
	pthread_mutex_unlock(&v->lock);
	/* Answered if the ring is still good: a frontend closing with
	 * requests in flight gets their results. */
	while (done) {
		struct vbd_job *j = done;

		done = j->next;
		if (v->is_connected && !v->br.is_broken)
			respond(v, j->req.id, j->req.op, j->status);
		job_free(j);
	}
	if (v->barrier) {
		job_free(v->barrier);
		v->barrier = NULL;
	}
	if (v->is_connected && !v->br.is_broken)
		push(v);
	v->in_flight = 0;
	v->is_plugged = false;
	v->is_connected = false;
	pg_free_all(v);
}

void vbd_log(const struct vbd *v, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "xsblkback: vbd %s: %s\n", v ? v->name : "-", buf);
}
