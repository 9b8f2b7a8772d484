/*
 * journal_compact.c - compaction: a thread writes the whole state to
 * snapshot.<E+1>.tmp through a buffered, checksummed writer and renames
 * it into place, then removes the older files; the loop thread reaps it.
 * The thread sees only its job (the directory, the epoch, the daemon's
 * dump of a frozen state): nothing of the journal the loop changes
 * meanwhile, no log (not thread-safe), no xalloc (its counters are the
 * loop's).  See journal.c for the whole design.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/journal.h"
#include "daemon/journal_int.h"

/* The thread's buffered, checksummed snapshot writer. */
struct snap_writer {
	struct compact_job *job;
	int fd;
	unsigned char *buf;
	size_t len;
	uint64_t off, payload;
	uint32_t crc;
};

static int snap_flush(struct snap_writer *w)
{
	int err = journal_pwrite_all(w->fd, w->buf, w->len, w->off);

	w->off += w->len;
	w->len = 0;
	return err;
}

static int snap_write(void *warg, const void *buf, size_t len)
{
	struct snap_writer *w = warg;
	int err;

	/* journal_close wants the thread back now, not after 1 M nodes. */
	if (atomic_load_explicit(&w->job->cancel, memory_order_relaxed))
		return -ECANCELED;
	if (!len)
		return 0;
	w->crc = journal_crc(w->crc, buf, len);
	w->payload += len;
	if (len <= SNAP_BUF - w->len) {
		memcpy(w->buf + w->len, buf, len);
		w->len += len;
		return 0;
	}
	err = snap_flush(w);
	if (err)
		return err;
	if (len < SNAP_BUF) {
		memcpy(w->buf, buf, len);
		w->len = len;
		return 0;
	}
	err = journal_pwrite_all(w->fd, buf, len, w->off);
	w->off += len;
	return err;
}

static int write_snapshot(struct compact_job *job, const char *tmp)
{
	struct snap_writer w = {.job = job, .off = SNAP_HDR, .buf = job->buf};
	unsigned char h[SNAP_HDR], t[SNAP_TRAILER];
	char name[NAME_MAX_LEN];
	int err;

	w.fd = openat(job->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	              0600);
	if (w.fd < 0)
		return -errno;
	/* The header's place stays zero (invalid) until the end. */
	err = job->dump(job->arg, snap_write, &w);
	if (!err)
		err = snap_flush(&w);
	if (!err) {
		memcpy(h, SNAP_MAGIC, 8);
		put32(h + 8, FORMAT_VERSION);
		put32(h + 12, 0);
		put64(h + 16, job->epoch);
		put64(h + 24, w.payload);
		put32(t, journal_crc(w.crc, h, SNAP_HDR));
		err = journal_pwrite_all(w.fd, t, sizeof(t), w.off);
	}
	/* The header last: until it is there the file cannot be valid. */
	if (!err)
		err = journal_pwrite_all(w.fd, h, sizeof(h), 0);
	if (!err && job->sync && fsync(w.fd) < 0)
		err = -errno;
	if (close(w.fd) < 0 && !err)
		err = -errno;
	journal_name(name, "snapshot", job->epoch, "");
	if (!err && renameat(job->dirfd, tmp, job->dirfd, name) < 0)
		err = -errno;
	if (!err && job->sync && fsync(job->dirfd) < 0)
		err = -errno;
	return err;
}

static void *compact_thread(void *arg)
{
	struct compact_job *job = arg;
	char tmp[NAME_MAX_LEN];
	uint64_t one = 1;

	journal_name(tmp, "snapshot", job->epoch, ".tmp");
	job->err = write_snapshot(job, tmp);
	if (job->err) {
		unlinkat(job->dirfd, tmp, 0);
	} else {
		/* snapshot.<epoch> is in place: the older files say nothing
		 * it does not.  Removed here, not by the loop: freeing the
		 * pages of a 60 MB journal on tmpfs takes milliseconds. */
		for (uint64_t e = job->old_epoch; e < job->epoch; e++) {
			char name[NAME_MAX_LEN];

			journal_name(name, "journal", e, "");
			unlinkat(job->dirfd, name, 0);
			journal_name(name, "snapshot", e, "");
			unlinkat(job->dirfd, name, 0);
		}
	}
	atomic_store_explicit(&job->done, true, memory_order_release);
	/* Wakes the loop; if this fails the loop finds `done` at its next
	 * end of turn. */
	if (write(job->efd, &one, sizeof(one)) < 0) {
		/* nothing to do */
	}
	return NULL;
}

/* Join the thread (it has ended, or was told to), release the daemon's
 * frozen state and free the job.  Returns the thread's result. */
static int job_reap(struct journal *j)
{
	struct compact_job *job = j->job;
	int err;

	pthread_join(job->thread, NULL);
	err = job->err;
	if (job->release)
		job->release(job->arg);
	close(job->efd);
	xfree(job->buf);
	xfree(job);
	j->job = NULL;
	return err;
}

void journal_compact_cancel(struct journal *j)
{
	if (!j->job)
		return;
	atomic_store_explicit(&j->job->cancel, true, memory_order_relaxed);
	job_reap(j);
}

bool journal_compact_due(const struct journal *j)
{
	uint64_t min = j->o.compact_min;

	if (!j->is_recovered || j->job)
		return false;
	if (j->retry_at && journal_now() < j->retry_at)
		return false;
	/* Once the journal says as much as the snapshot, a restart spends
	 * as long replaying it as loading the snapshot: compact then, so
	 * that a restart never costs more than about two snapshot loads. */
	if (min < j->snapshot_bytes)
		min = j->snapshot_bytes;
	return j->chain_bytes + j->wsize >= min;
}

/* Start the thread with every signal blocked: they are the loop's. */
static int job_start(struct compact_job *job)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&job->thread, NULL, compact_thread, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int journal_compact_start(struct journal *j, journal_dump_fn *dump,
                          journal_release_fn *release, void *arg)
{
	struct compact_job *job = NULL;
	char name[NAME_MAX_LEN];
	double t0 = journal_now();
	int fd = -1, err;

	if (!j->is_recovered)
		err = -EINVAL;
	else if (j->job)
		err = -EBUSY;
	else if (!(job = xcalloc(1, sizeof(*job))) ||
	         !(job->buf = xmalloc(SNAP_BUF)))
		err = -ENOMEM;
	else if ((job->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		err = -errno;
	else
		err = 0;
	if (err)
		goto fail;
	journal_commit(j); /* a failure makes the journal failed: go on */
	err = journal_create(j, j->wepoch + 1, &fd);
	if (err)
		goto fail;
	job->dirfd = j->dirfd;
	job->sync = j->o.sync;
	job->epoch = j->wepoch + 1;
	job->old_epoch = j->epoch;
	job->dump = dump;
	job->release = release;
	job->arg = arg;
	err = job_start(job);
	if (err) {
		journal_name(name, "journal", job->epoch, "");
		journal_unlink(j, name);
		goto fail;
	}
	j->job = job;
	j->child_epoch = job->epoch;
	j->compact_starts++;
	if (j->crash == CRASH_COMPACT && j->compact_starts == j->crash_n)
		raise(SIGKILL);
	j->chain_bytes += j->wsize;
	j->chain_records += j->wseq;
	journal_writer_set(j, fd, job->epoch, JRNL_HDR, 0);
	j->child_start = t0;
	j->last_start_sec = journal_now() - t0;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (job) {
		if (job->efd > 0)
			close(job->efd);
		xfree(job->buf);
		xfree(job);
	}
	if (release)
		release(arg);
	return err;
}

int journal_compact_poll(struct journal *j)
{
	char name[NAME_MAX_LEN];
	struct stat st;
	int err;

	if (!j->job ||
	    !atomic_load_explicit(&j->job->done, memory_order_acquire))
		return 0;
	err = job_reap(j);
	if (err) {
		log_err("journal: %s: compaction to epoch %" PRIu64
		        " failed: %s",
		        j->dir, j->child_epoch, strerror(-err));
		/* A cause that stays (a full disk) must not start a
		 * compaction every loop turn. */
		j->retry_wait = j->retry_wait ? j->retry_wait * 2 : 1;
		if (j->retry_wait > 64)
			j->retry_wait = 64;
		j->retry_at = journal_now() + j->retry_wait;
		return err;
	}
	/* The thread removed the older files; what it could not remove
	 * goes now (or is logged). */
	for (uint64_t e = j->epoch; e < j->child_epoch; e++) {
		journal_name(name, "journal", e, "");
		journal_unlink(j, name);
		journal_name(name, "snapshot", e, "");
		journal_unlink(j, name);
	}
	journal_sync_dir(j);
	journal_name(name, "snapshot", j->child_epoch, "");
	j->snapshot_bytes =
	    fstatat(j->dirfd, name, &st, 0) == 0 &&
	            (uint64_t)st.st_size >= SNAP_HDR + SNAP_TRAILER
	        ? (uint64_t)st.st_size - SNAP_HDR - SNAP_TRAILER
	        : 0;
	j->epoch = j->child_epoch;
	j->chain_bytes = j->chain_records = 0;
	if (j->is_failed)
		log_warn("journal: %s: compaction to epoch %" PRIu64
		         " succeeded: journal healthy again",
		         j->dir, j->epoch);
	j->is_failed = false;
	j->failed_err = 0;
	j->compactions++;
	j->retry_at = j->retry_wait = 0;
	j->last_compaction = journal_wall_now();
	j->last_compaction_sec = journal_now() - j->child_start;
	return 1;
}

int journal_compact_fd(const struct journal *j)
{
	return j->job ? j->job->efd : -1;
}
