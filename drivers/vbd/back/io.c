/*
 * io.c - the worker threads of xsblkback: the disk I/O of every device,
 * so that the bus thread never waits for a disk.  A job is one checked
 * request whose pages are already mapped; a worker moves the bytes
 * between the image and those pages (preadv/pwritev, straight from and
 * into the guest's granted pages), flushes or punches a hole, and hands
 * the job back on its device's done list with an eventfd kick: the
 * response is written on the bus thread.  Workers never touch the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "drivers/vbd/back/blkback.h"

#define IO_THREADS_MAX 64u

static pthread_mutex_t io_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t io_cond = PTHREAD_COND_INITIALIZER;
static struct vbd_job *io_head, **io_tail = &io_head; /* io_lock */
static bool io_is_stopping;                           /* io_lock */
static pthread_t io_threads[IO_THREADS_MAX];
static unsigned int io_nthreads;

/* All of iov, at off: short transfers continue, EINTR retries. */
static int rw_all(int fd, bool is_write, struct iovec *iov, unsigned int n,
                  off_t off)
{
	while (n) {
		ssize_t r = is_write ? pwritev(fd, iov, (int)n, off)
		                     : preadv(fd, iov, (int)n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* the image shrank under us */
		off += r;
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int do_discard(struct vbd *v, const struct blkif_req *q)
{
	uint64_t off = q->sector * BLKIF_SECTOR_SIZE,
	         len = q->nr_sectors * BLKIF_SECTOR_SIZE;

	if (!len)
		return 0;
	if (v->is_blockdev) {
		uint64_t range[2] = {off, len};

		return ioctl(v->fd, BLKDISCARD, range) ? -errno : 0;
	}
	if (fallocate(v->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	              (off_t)off, (off_t)len))
		return -errno;
	return 0;
}

static int do_flush(int fd)
{
	return fdatasync(fd) ? -errno : 0;
}

/* Map what the bus thread left to us; the iovec over the pages. */
static int job_map(struct vbd_job *j)
{
	int err = vbd_pages_map(j->v->dev, j->rest, j->where, j->nrest,
	                        j->is_map_writable, j->pages, &j->map);

	if (err) {
		j->refusal = BLKIF_BAD_GRANT;
		return err;
	}
	for (unsigned int i = 0; i < j->nseg; i++) {
		const struct blkif_seg *s = &j->segs[i];

		j->iov[i].iov_base =
		    (char *)j->pages[i] + s->first * BLKIF_SECTOR_SIZE;
		j->iov[i].iov_len =
		    (size_t)(s->last - s->first + 1) * BLKIF_SECTOR_SIZE;
	}
	return 0;
}

static int job_run(struct vbd_job *j)
{
	struct vbd *v = j->v;
	off_t off = (off_t)(j->req.sector * BLKIF_SECTOR_SIZE);
	int err = job_map(j);

	if (err)
		return err;

	switch (j->req.kind) {
	case BLKIF_K_READ:
		return rw_all(v->fd, false, j->iov, j->nseg, off);
	case BLKIF_K_WRITE:
		return rw_all(v->fd, true, j->iov, j->nseg, off);
	case BLKIF_K_BARRIER:
		/* Everything before it is on disk before its data. */
		err = do_flush(v->fd);
		/* fall through */
	case BLKIF_K_FLUSH:
		if (!err && j->nseg)
			err = rw_all(v->fd, true, j->iov, j->nseg, off);
		return err ? err : do_flush(v->fd);
	case BLKIF_K_DISCARD:
		return do_discard(v, &j->req);
	}
	return -EINVAL;
}

static void *io_thread(void *arg)
{
	for (;;) {
		struct vbd_job *j;
		struct vbd *v;
		int err;

		pthread_mutex_lock(&io_lock);
		while (!io_head && !io_is_stopping)
			pthread_cond_wait(&io_cond, &io_lock);
		j = io_head;
		if (j) {
			io_head = j->next;
			if (!io_head)
				io_tail = &io_head;
		}
		pthread_mutex_unlock(&io_lock);
		if (!j)
			return NULL;
		err = job_run(j);
		/* Unmapped here too: the mapping was this thread's work. */
		if (j->map) {
			xenbus_unmap_grants(j->v->dev, j->map);
			j->map = NULL;
		}
		if (err) {
			j->status = err == -EOPNOTSUPP ? BLKIF_RSP_EOPNOTSUPP
			                               : BLKIF_RSP_ERROR;
			if (vbd_verbose && j->refusal == BLKIF_OK)
				vbd_log(j->v, "I/O error on request %llu: %d",
				        (unsigned long long)j->req.id, err);
		}
		v = j->v;
		pthread_mutex_lock(&v->lock);
		j->next = v->done;
		v->done = j;
		/* The kick before at_workers drops: once it is 0 the bus
		 * thread may free v (io_drain, then detach).  A failed
		 * eventfd write only means the counter is saturated:
		 * still readable. */
		(void)!write(v->efd, &(uint64_t){1}, sizeof(uint64_t));
		if (--v->at_workers == 0)
			pthread_cond_broadcast(&v->idle);
		pthread_mutex_unlock(&v->lock);
	}
}

int io_start(unsigned int nthreads)
{
	if (nthreads == 0 || nthreads > IO_THREADS_MAX)
		return -EINVAL;
	for (io_nthreads = 0; io_nthreads < nthreads; io_nthreads++) {
		int err = pthread_create(&io_threads[io_nthreads], NULL,
		                         io_thread, NULL);

		if (err) {
			io_stop();
			return -err;
		}
	}
	return 0;
}

void io_stop(void)
{
	pthread_mutex_lock(&io_lock);
	io_is_stopping = true;
	pthread_cond_broadcast(&io_cond);
	pthread_mutex_unlock(&io_lock);
	for (unsigned int i = 0; i < io_nthreads; i++)
		pthread_join(io_threads[i], NULL);
	io_nthreads = 0;
}

void io_submit(struct vbd_job *j)
{
	pthread_mutex_lock(&j->v->lock);
	j->v->at_workers++;
	pthread_mutex_unlock(&j->v->lock);
	j->status = BLKIF_RSP_OKAY;
	j->next = NULL;
	pthread_mutex_lock(&io_lock);
	*io_tail = j;
	io_tail = &j->next;
	pthread_cond_signal(&io_cond);
	pthread_mutex_unlock(&io_lock);
}

void io_drain(struct vbd *v)
{
	pthread_mutex_lock(&v->lock);
	while (v->at_workers)
		pthread_cond_wait(&v->idle, &v->lock);
	pthread_mutex_unlock(&v->lock);
}
