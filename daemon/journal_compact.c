/*
 * journal_compact.c - compaction: a forked child writes the whole state
 * to snapshot.<E+1>.tmp through a buffered, checksummed writer and
 * renames it into place; the parent reaps it and drops the older files.
 * The child touches nothing it shares with the parent but the state
 * directory, and leaves only through _exit (no atexit handlers, no
 * flush of the parent's stdio).  See journal.c for the whole design.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "daemon/journal.h"
#include "daemon/journal_int.h"

/* The child's buffered, checksummed snapshot writer. */
struct snap_writer {
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

	if (!len)
		return 0;
	w->crc = journal_crc(w->crc, buf, len);
	w->payload += len;
	if (len <= CHILD_BUF - w->len) {
		memcpy(w->buf + w->len, buf, len);
		w->len += len;
		return 0;
	}
	err = snap_flush(w);
	if (err)
		return err;
	if (len < CHILD_BUF) {
		memcpy(w->buf, buf, len);
		w->len = len;
		return 0;
	}
	err = journal_pwrite_all(w->fd, buf, len, w->off);
	w->off += len;
	return err;
}

static int child_write_snapshot(struct journal *j, journal_dump_fn *dump,
                                void *arg, uint64_t epoch, const char *tmp)
{
	struct snap_writer w = {.off = SNAP_HDR};
	unsigned char h[SNAP_HDR], t[SNAP_TRAILER];
	char name[NAME_MAX_LEN];
	int err;

	w.buf = malloc(CHILD_BUF);
	if (!w.buf)
		return -ENOMEM;
	w.fd = openat(j->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	              0600);
	if (w.fd < 0) {
		err = -errno;
		free(w.buf);
		return err;
	}
	/* The header's place stays zero (invalid) until the end. */
	err = dump(arg, snap_write, &w);
	if (!err)
		err = snap_flush(&w);
	if (!err) {
		memcpy(h, SNAP_MAGIC, 8);
		put32(h + 8, FORMAT_VERSION);
		put32(h + 12, 0);
		put64(h + 16, epoch);
		put64(h + 24, w.payload);
		put32(t, journal_crc(w.crc, h, SNAP_HDR));
		err = journal_pwrite_all(w.fd, t, sizeof(t), w.off);
	}
	/* The header last: until it is there the file cannot be valid. */
	if (!err)
		err = journal_pwrite_all(w.fd, h, sizeof(h), 0);
	if (!err && j->o.sync && fsync(w.fd) < 0)
		err = -errno;
	if (close(w.fd) < 0 && !err)
		err = -errno;
	free(w.buf);
	journal_name(name, "snapshot", epoch, "");
	if (!err && renameat(j->dirfd, tmp, j->dirfd, name) < 0)
		err = -errno;
	if (!err)
		err = journal_sync_dir(j);
	return err;
}

static _Noreturn void child_main(struct journal *j, journal_dump_fn *dump,
                                 void *arg, pid_t parent)
{
	char tmp[NAME_MAX_LEN];
	int err;

	/* Die with the parent: a daemon restarted after a crash must not
	 * wait for (or race) a child of the dead one. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(EIO);
	journal_name(tmp, "snapshot", j->child_epoch, ".tmp");
	err = child_write_snapshot(j, dump, arg, j->child_epoch, tmp);
	if (err) {
		unlinkat(j->dirfd, tmp, 0);
		_exit(-err > 0 && -err < 256 ? -err : EIO);
	}
	_exit(0);
}

bool journal_compact_due(const struct journal *j)
{
	uint64_t min = j->o.compact_min;

	if (!j->is_recovered || j->child > 0)
		return false;
	if (j->retry_at && journal_now() < j->retry_at)
		return false;
	if (min < 2 * j->snapshot_bytes)
		min = 2 * j->snapshot_bytes;
	return j->chain_bytes + j->wsize >= min;
}

int journal_compact_start(struct journal *j, journal_dump_fn *dump, void *arg)
{
	pid_t parent = getpid(), pid;
	double t0;
	int fd, err;

	if (!j->is_recovered)
		return -EINVAL;
	if (j->child > 0)
		return -EBUSY;
	journal_commit(j); /* a failure makes the journal failed: go on */
	err = journal_create(j, j->wepoch + 1, &fd);
	if (err)
		return err;
	j->child_epoch = j->wepoch + 1;
	t0 = journal_now();
	pid = fork();
	if (pid == 0) {
		close(fd);
		child_main(j, dump, arg, parent);
	}
	j->last_fork_sec = journal_now() - t0;
	if (pid < 0) {
		char name[NAME_MAX_LEN];

		err = -errno;
		close(fd);
		journal_name(name, "journal", j->child_epoch, "");
		journal_unlink(j, name);
		return err;
	}
	j->compact_starts++;
	if (j->crash == CRASH_COMPACT && j->compact_starts == j->crash_n)
		raise(SIGKILL);
	j->chain_bytes += j->wsize;
	j->chain_records += j->wseq;
	close(j->wfd);
	j->wfd = fd;
	j->wepoch = j->child_epoch;
	j->wsize = JRNL_HDR;
	j->wseq = 0;
	j->child = pid;
	j->child_start = t0;
	j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (j->pidfd < 0)
		j->pidfd = -1;
	return 0;
}

int journal_compact_poll(struct journal *j)
{
	char name[NAME_MAX_LEN];
	struct stat st;
	int status = 0, werr;
	pid_t r;

	if (j->child <= 0)
		return 0;
	r = waitpid(j->child, &status, WNOHANG);
	werr = r < 0 ? -errno : 0;
	if (r == 0 || werr == -EINTR)
		return 0;
	if (j->pidfd >= 0)
		close(j->pidfd);
	j->pidfd = -1;
	j->child = 0;
	if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		int err = r < 0               ? werr
		          : WIFEXITED(status) ? -WEXITSTATUS(status)
		                              : -EIO;

		if (r > 0 && WIFSIGNALED(status))
			log_err("journal: %s: compaction to epoch %" PRIu64
			        " killed by signal %d",
			        j->dir, j->child_epoch, WTERMSIG(status));
		else
			log_err("journal: %s: compaction to epoch %" PRIu64
			        " failed: %s",
			        j->dir, j->child_epoch, strerror(-err));
		journal_name(name, "snapshot", j->child_epoch, ".tmp");
		journal_unlink(j, name);
		/* A cause that stays (a full disk) must not fork a child
		 * every loop turn. */
		j->retry_wait = j->retry_wait ? j->retry_wait * 2 : 1;
		if (j->retry_wait > 64)
			j->retry_wait = 64;
		j->retry_at = journal_now() + j->retry_wait;
		return err;
	}
	/* snapshot.<child_epoch> is in place: the older files say nothing
	 * it does not. */
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
	return j->child > 0 ? j->pidfd : -1;
}
