/*
 * journal.c - the state directory: snapshots, journal files, recovery
 * and group commit (compaction, by a thread, is journal_compact.c).
 * Owns every file in the directory and nothing else: what the bytes
 * mean is the daemon's.
 *
 * The state at any moment is snapshot.<E> (or the empty state for E = 0)
 * followed by the records of journal.<E>, journal.<E+1>, ... in order.
 * A compaction starts journal.<E+1> as the daemon freezes its state, so
 * the snapshot (the state as of the freeze) is exactly snapshot.<E> plus the
 * journals before E+1; once it is renamed into place snapshot.<E+1> plus
 * journal.<E+1>... says the same thing, and the older files go.  A crash
 * at any point leaves one of the two readings valid: the rename is the
 * commit point of a compaction, a .tmp file is never read.  A failed
 * compaction leaves journal.<E+1> in the chain; the retry starts
 * journal.<E+2>, and recovery replays the whole consecutive chain.
 *
 * Records are never trusted: each carries a crc32 of its epoch, its
 * sequence number in its file, its kind and payload, so a torn tail, a
 * flipped bit, a record copied from another file or two swapped records
 * all fail the check.  Recovery stops at the first bad record and
 * truncates it away, so appends follow valid data and nothing after a
 * dropped record is ever replayed.  The last record of each commit
 * carries REC_BATCH_END in its kind byte, and the valid records after
 * the last such mark (the front of a torn batch) are dropped with it:
 * a commit is all or nothing.  A record is written before the reply
 * that acknowledges it (the daemon's contract), so what is dropped was
 * never acknowledged.
 *
 * Formats (little-endian):
 *   snapshot: "XSSNAP\0\1" u32 version u32 0 u64 epoch u64 length,
 *             payload[length], u32 crc32(payload then the 32-byte header)
 *             (the header is written last: the length is known at the end)
 *   journal:  "XSJRNL\0\1" u32 version u64 epoch u32 crc32(first 20 bytes),
 *             records: u32 length u32 crc u8 kind payload[length],
 *             kind | REC_BATCH_END on a commit's last record (version 2),
 *             crc = crc32(u64 epoch, u64 seq, u8 kind, payload)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/log.h"
#include "common/num.h"
#include "common/xalloc.h"
#include "daemon/journal.h"
#include "daemon/journal_int.h"

double journal_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double journal_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* zlib's crc32 takes uInt lengths: feed big buffers in pieces. */
uint32_t journal_crc(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

static uint32_t record_crc(uint64_t epoch, uint64_t seq, unsigned int kind,
                           const void *payload, size_t len)
{
	unsigned char pre[17];

	put64(pre, epoch);
	put64(pre + 8, seq);
	pre[16] = (unsigned char)kind;
	return journal_crc(journal_crc(0, pre, sizeof(pre)), payload, len);
}

void journal_name(char *out, const char *what, uint64_t epoch,
                  const char *suffix)
{
	snprintf(out, NAME_MAX_LEN, "%s.%" PRIu64 "%s", what, epoch, suffix);
}

int journal_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int journal_sync_dir(const struct journal *j)
{
	if (j->o.sync && fsync(j->dirfd) < 0)
		return -errno;
	return 0;
}

void journal_unlink(const struct journal *j, const char *name)
{
	if (unlinkat(j->dirfd, name, 0) < 0 && errno != ENOENT)
		log_warn("journal: cannot remove %s/%s: %s", j->dir, name,
		         strerror(errno));
}

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
	char *p = xstrdup(dir);
	int err = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		bool is_end = *s == '\0';

		if (*s != '/' && !is_end)
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			err = -errno;
			break;
		}
		if (is_end)
			break;
		*s = '/';
	}
	xfree(p);
	return err;
}

int journal_open(const char *dir, const struct journal_opts *o,
                 struct journal **out)
{
	struct journal *j;
	int err;

	if (!dir || !*dir)
		return -EINVAL;
	err = make_dirs(dir);
	if (err)
		return err;
	j = xcalloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dirfd = j->lockfd = j->wfd = -1;
	if (o)
		j->o = *o;
	if (!j->o.compact_min)
		j->o.compact_min = JOURNAL_COMPACT_MIN_DEFAULT;
	j->dir = xstrdup(dir);
	if (!j->dir) {
		err = -ENOMEM;
		goto fail;
	}
	j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		err = -errno;
		goto fail;
	}
	j->lockfd =
	    openat(j->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->lockfd < 0) {
		err = -errno;
		goto fail;
	}
	if (flock(j->lockfd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	*out = j;
	return 0;
fail:
	journal_close(j);
	return err;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	journal_compact_cancel(j);
	journal_writer_close(j);
	if (j->lockfd >= 0)
		close(j->lockfd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	xfree(j->buf);
	xfree(j->dir);
	xfree(j);
}

/* ---- recovery ---- */

/* What the directory holds, by epoch. */
struct listing {
	uint64_t *snaps, *jrnls;
	size_t nsnaps, njrnls;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int push(uint64_t **v, size_t *n, uint64_t e)
{
	uint64_t *nv = xrealloc_array(*v, *n + 1, sizeof(**v));

	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = e;
	*v = nv;
	return 0;
}

/* "<prefix>.<decimal>" -> epoch; false for anything else. */
static bool parse_name(const char *name, const char *prefix, uint64_t *e)
{
	size_t n = strlen(prefix);
	unsigned long v;

	if (strncmp(name, prefix, n) || name[n] != '.')
		return false;
	if (parse_uint(name + n + 1, ULONG_MAX, &v))
		return false;
	*e = v;
	return true;
}

static int list_dir(struct journal *j, struct listing *l)
{
	int fd = openat(j->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	int err = 0;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	while (!err && (de = readdir(d))) {
		uint64_t e;
		size_t n = strlen(de->d_name);

		if (n > 4 && !strcmp(de->d_name + n - 4, ".tmp") &&
		    !strncmp(de->d_name, "snapshot.", 9))
			journal_unlink(j, de->d_name); /* never complete */
		else if (parse_name(de->d_name, "snapshot", &e))
			err = push(&l->snaps, &l->nsnaps, e);
		else if (parse_name(de->d_name, "journal", &e))
			err = push(&l->jrnls, &l->njrnls, e);
	}
	closedir(d);
	if (!err) {
		if (l->nsnaps)
			qsort(l->snaps, l->nsnaps, sizeof(uint64_t), cmp_u64);
		if (l->njrnls)
			qsort(l->jrnls, l->njrnls, sizeof(uint64_t), cmp_u64);
	}
	return err;
}

/* A read-only map of a whole file (len 0: map NULL). */
struct map {
	const unsigned char *p;
	size_t len;
	int fd;
};

static int map_file(struct journal *j, const char *name, int flags,
                    struct map *m)
{
	struct stat st;

	m->p = NULL;
	m->len = 0;
	m->fd = openat(j->dirfd, name, flags | O_CLOEXEC);
	if (m->fd < 0)
		return -errno;
	if (fstat(m->fd, &st) < 0)
		goto fail;
	m->len = (size_t)st.st_size;
	if (m->len) {
		void *p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, m->fd, 0);

		if (p == MAP_FAILED)
			goto fail;
		m->p = p;
	}
	return 0;
fail : {
	int err = -errno;

	close(m->fd);
	m->fd = -1;
	return err;
}
}

static void unmap_file(struct map *m, bool keep_fd)
{
	if (m->p)
		munmap((void *)m->p, m->len);
	m->p = NULL;
	if (!keep_fd && m->fd >= 0)
		close(m->fd);
}

/* Is the mapped snapshot of `epoch` complete and intact?  Says why not. */
static bool snapshot_is_valid(const struct map *m, uint64_t epoch,
                              const char **why)
{
	uint64_t len;
	uint32_t crc;

	if (m->len < SNAP_HDR + SNAP_TRAILER) {
		*why = "shorter than its header";
		return false;
	}
	if (memcmp(m->p, SNAP_MAGIC, 8) || get32(m->p + 8) != FORMAT_VERSION) {
		*why = "bad magic or version";
		return false;
	}
	len = get64(m->p + 24);
	if (get64(m->p + 16) != epoch) {
		*why = "epoch differs from its name";
		return false;
	}
	if (len != m->len - SNAP_HDR - SNAP_TRAILER) {
		*why = "length differs from the file's";
		return false;
	}
	crc = journal_crc(0, m->p + SNAP_HDR, (size_t)len);
	crc = journal_crc(crc, m->p, SNAP_HDR);
	if (crc != get32(m->p + SNAP_HDR + len)) {
		*why = "bad checksum";
		return false;
	}
	return true;
}

static void journal_header_v(unsigned char *h, uint64_t epoch, uint32_t version)
{
	memcpy(h, JRNL_MAGIC, 8);
	put32(h + 8, version);
	put64(h + 12, epoch);
	put32(h + 20, journal_crc(0, h, 20));
}

static void journal_header(unsigned char *h, uint64_t epoch)
{
	journal_header_v(h, epoch, JRNL_VERSION);
}

/* Create journal.<epoch>, empty but for its header; fd in *fd. */
int journal_create(struct journal *j, uint64_t epoch, int *fd)
{
	char name[NAME_MAX_LEN];
	unsigned char h[JRNL_HDR];
	int err;

	journal_name(name, "journal", epoch, "");
	*fd = openat(j->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	             0600);
	if (*fd < 0)
		return -errno;
	journal_header(h, epoch);
	err = journal_pwrite_all(*fd, h, sizeof(h), 0);
	if (!err && j->o.sync && fdatasync(*fd) < 0)
		err = -errno;
	if (!err)
		err = journal_sync_dir(j);
	if (err) {
		close(*fd);
		*fd = -1;
		journal_unlink(j, name);
	}
	return err;
}

struct replay {
	journal_record_fn *rec;
	void *arg;
	struct journal_recovery *info;
	bool is_dropped;
};

static void set_dropped(struct replay *r, uint64_t bytes, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_dropped(struct replay *r, uint64_t bytes, const char *fmt, ...)
{
	va_list ap;

	r->info->dropped_bytes += bytes;
	if (r->is_dropped)
		return; /* the first reason is the one that matters */
	r->is_dropped = true;
	va_start(ap, fmt);
	vsnprintf(r->info->dropped_why, sizeof(r->info->dropped_why), fmt, ap);
	va_end(ap);
}

/* Is p[0..len) all zero bytes? */
static bool is_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Replay journal.<epoch> from its map: the records of whole batches
 * until the end or the first bad record; the end of the last whole batch
 * goes in *good (the file's valid length).  Zeros to the end of the file
 * are the mapped writer's preallocation (a record never starts with 9
 * zero bytes: its checksum covers its epoch and sequence number): the
 * end, not a drop.
 */
static int replay_file(struct replay *r, const char *name, uint64_t epoch,
                       const struct map *m, uint64_t *good, uint64_t *nrec)
{
	size_t off = JRNL_HDR, dend, batch_end = JRNL_HDR;
	uint64_t seq = 0, batch_seq = 0;
	unsigned char h[JRNL_HDR];
	bool is_batched;

	*nrec = 0;
	is_batched = m->len >= JRNL_HDR && get32(m->p + 8) == JRNL_VERSION;
	journal_header_v(h, epoch, is_batched ? JRNL_VERSION : 1u);
	if (m->len < JRNL_HDR || memcmp(m->p, h, JRNL_HDR)) {
		*good = 0;
		set_dropped(r, m->len,
		            "%s: bad or torn file header (%zu bytes)", name,
		            m->len);
		return 0;
	}
	/* Where the data ends: a drop counts what was written, not the
	 * preallocated zeros after it. */
	dend = m->len;
	while (dend > off && !m->p[dend - 1])
		dend--;
	/* First the checks, to find where the last whole batch ends. */
	while (off < m->len) {
		size_t left = m->len - off;
		size_t data = dend > off ? dend - off : 0;
		uint32_t len;
		unsigned int kind;

		if (is_zero(m->p + off, left < REC_HDR ? left : REC_HDR) &&
		    is_zero(m->p + off, left))
			break;
		if (left < REC_HDR) {
			set_dropped(r, data,
			            "%s at offset %zu: torn record header (%zu "
			            "bytes left)",
			            name, off, left);
			break;
		}
		len = get32(m->p + off);
		kind = m->p[off + 8];
		if (len > JOURNAL_RECORD_MAX) {
			set_dropped(r, data,
			            "%s at offset %zu: record length %" PRIu32
			            " over the limit",
			            name, off, len);
			break;
		}
		if (len > left - REC_HDR) {
			set_dropped(r, data,
			            "%s at offset %zu: record length %" PRIu32
			            " runs past the end (%zu bytes left)",
			            name, off, len, left - REC_HDR);
			break;
		}
		if (record_crc(epoch, seq, kind, m->p + off + REC_HDR, len) !=
		    get32(m->p + off + 4)) {
			set_dropped(
			    r, data,
			    "%s at offset %zu: bad checksum (record %" PRIu64
			    ", length %" PRIu32 ")",
			    name, off, seq, len);
			break;
		}
		off += REC_HDR + len;
		seq++;
		if (!is_batched || (kind & REC_BATCH_END)) {
			batch_end = off;
			batch_seq = seq;
		}
	}
	if (off > batch_end) {
		/* Checked records of a batch whose end never came: the
		 * batch was torn (by the first bad record or the end).  A
		 * bad record counted the bytes from its own offset; these
		 * are the good ones before it (trailing zero bytes of a
		 * record are not counted as written, as above). */
		size_t whole = dend < off ? dend : off;

		if (whole < batch_end)
			whole = batch_end;

		set_dropped(r, whole - batch_end,
		            "%s at offset %zu: %" PRIu64
		            " records of a batch whose end was never written",
		            name, batch_end, seq - batch_seq);
	}
	/* Then the records of whole batches, to the daemon. */
	for (off = JRNL_HDR; r->rec && off < batch_end;) {
		uint32_t len = get32(m->p + off);
		int err = r->rec(r->arg, m->p[off + 8] & ~REC_BATCH_END,
		                 m->p + off + REC_HDR, len);

		if (err)
			return err;
		off += REC_HDR + len;
	}
	*good = batch_end < m->len ? batch_end : m->len;
	*nrec = batch_seq;
	return 0;
}

/* Load the newest valid snapshot; *epoch 0 without one. */
static int load_snapshot(struct journal *j, struct listing *l,
                         journal_snapshot_fn *snap, void *arg,
                         struct journal_recovery *info)
{
	for (size_t i = l->nsnaps; i-- > 0;) {
		char name[NAME_MAX_LEN];
		struct map m;
		const char *why = NULL;
		int err;

		journal_name(name, "snapshot", l->snaps[i], "");
		err = map_file(j, name, O_RDONLY, &m);
		if (err)
			return err;
		if (!snapshot_is_valid(&m, l->snaps[i], &why)) {
			log_warn("journal: %s/%s ignored and removed: %s",
			         j->dir, name, why);
			unmap_file(&m, false);
			journal_unlink(j, name);
			continue;
		}
		info->epoch = l->snaps[i];
		info->snapshot_bytes = m.len - SNAP_HDR - SNAP_TRAILER;
		err =
		    snap ? snap(arg, m.p + SNAP_HDR, info->snapshot_bytes) : 0;
		unmap_file(&m, false);
		return err;
	}
	info->epoch = 0;
	return 0;
}

/* Replay the chain journal.<E>, <E+1>, ...; leave the last one open for
 * appending.  Files after a gap or a dropped record are removed. */
static int replay_chain(struct journal *j, struct listing *l, struct replay *r)
{
	uint64_t expect = r->info->epoch;

	for (size_t i = 0; i < l->njrnls; i++) {
		char name[NAME_MAX_LEN];
		struct map m;
		uint64_t e = l->jrnls[i], good, nrec;
		int err;

		if (e < r->info->epoch)
			continue;
		journal_name(name, "journal", e, "");
		if (e != expect || r->is_dropped) {
			struct stat st;

			if (!fstatat(j->dirfd, name, &st, 0))
				set_dropped(r, (uint64_t)st.st_size,
				            "%s: not after journal.%" PRIu64,
				            name, expect);
			log_warn("journal: %s/%s removed: it does not follow "
			         "the valid data",
			         j->dir, name);
			journal_unlink(j, name);
			continue;
		}
		err = map_file(j, name, O_RDWR, &m);
		if (err)
			return err;
		err = replay_file(r, name, e, &m, &good, &nrec);
		unmap_file(&m, true);
		if (err) {
			close(m.fd);
			return err;
		}
		if (good < JRNL_HDR) {
			unsigned char h[JRNL_HDR];

			journal_header(h, e);
			err = journal_pwrite_all(m.fd, h, sizeof(h), 0);
			good = JRNL_HDR;
		}
		if (!err && good < m.len && ftruncate(m.fd, (off_t)good) < 0)
			err = -errno;
		if (!err && good < m.len && j->o.sync && fdatasync(m.fd) < 0)
			err = -errno;
		if (err) {
			close(m.fd);
			return err;
		}
		if (j->wfd >= 0) {
			j->chain_bytes += j->wsize;
			j->chain_records += j->wseq;
		}
		journal_writer_set(j, m.fd, e, good, nrec);
		r->info->records += nrec;
		r->info->journal_bytes += good;
		expect = e + 1;
	}
	if (j->wfd < 0) {
		int fd, err = journal_create(j, r->info->epoch, &fd);

		if (err)
			return err;
		journal_writer_set(j, fd, r->info->epoch, JRNL_HDR, 0);
	}
	return 0;
}

int journal_recover(struct journal *j, journal_snapshot_fn *snap,
                    journal_record_fn *rec, void *arg,
                    struct journal_recovery *info)
{
	struct journal_recovery dummy;
	struct listing l = {0};
	struct replay r = {rec, arg, NULL, false};
	double t0 = journal_now();
	int err;

	if (j->is_recovered)
		return -EINVAL;
	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	r.info = info;
	err = list_dir(j, &l);
	if (!err)
		err = load_snapshot(j, &l, snap, arg, info);
	if (!err)
		err = replay_chain(j, &l, &r);
	if (err) {
		journal_writer_close(j);
		j->chain_bytes = j->chain_records = 0;
		goto out;
	}
	/* Older epochs: everything they say is in the snapshot. */
	for (size_t i = 0; i < l.nsnaps; i++) {
		char name[NAME_MAX_LEN];

		journal_name(name, "snapshot", l.snaps[i], "");
		if (l.snaps[i] < info->epoch)
			journal_unlink(j, name);
	}
	for (size_t i = 0; i < l.njrnls; i++) {
		char name[NAME_MAX_LEN];

		journal_name(name, "journal", l.jrnls[i], "");
		if (l.jrnls[i] < info->epoch)
			journal_unlink(j, name);
	}
	journal_sync_dir(j);
	j->epoch = info->epoch;
	j->snapshot_bytes = info->snapshot_bytes;
	j->is_recovered = true;
	if (info->dropped_bytes)
		log_warn("journal: %s: dropped %" PRIu64 " bytes: %s", j->dir,
		         info->dropped_bytes, info->dropped_why);
out:
	info->seconds = journal_now() - t0;
	xfree(l.snaps);
	xfree(l.jrnls);
	return err;
}

/* ---- appending ---- */

void *journal_reserve(struct journal *j, unsigned int kind, size_t len)
{
	unsigned char *p;

	if (!j->is_recovered || kind > JOURNAL_KIND_MAX ||
	    len > JOURNAL_RECORD_MAX)
		return NULL;
	if (j->cap - j->len < REC_HDR + len) {
		size_t cap = j->cap ? j->cap : 4096;
		unsigned char *nb;

		while (cap - j->len < REC_HDR + len)
			cap *= 2;
		nb = xrealloc(j->buf, cap);
		if (!nb)
			return NULL;
		j->buf = nb;
		j->cap = cap;
	}
	p = j->buf + j->len;
	put32(p, (uint32_t)len);
	put32(p + 4, 0);
	p[8] = (unsigned char)kind;
	j->len += REC_HDR + len;
	j->npending++;
	return p + REC_HDR;
}

int journal_append(struct journal *j, unsigned int kind, const void *buf,
                   size_t len)
{
	void *p;

	if (!j->is_recovered || kind > JOURNAL_KIND_MAX ||
	    len > JOURNAL_RECORD_MAX)
		return -EINVAL;
	p = journal_reserve(j, kind, len);
	if (!p)
		return -ENOMEM;
	if (len)
		memcpy(p, buf, len);
	return 0;
}

static void drop_batch(struct journal *j)
{
	j->len = 0;
	j->npending = 0;
	/* A burst (a big transaction) need not pin its memory forever. */
	if (j->cap > (4u << 20)) {
		xfree(j->buf);
		j->buf = NULL;
		j->cap = 0;
	}
}

/*
 * The mapped writer.  Without --sync a commit is a memcpy into a shared
 * mapping of the journal file: the bytes are in the page cache the
 * moment they are copied, which is all a daemon's crash needs (a host's
 * crash takes a tmpfs with it anyway), and it saves the write(2) of
 * every loop turn.  The mapping is a window of WIN_BYTES or more around
 * the end, moved as the file grows, so the daemon's resident memory
 * does not count the whole journal.  The file is grown with fallocate
 * before anything is copied: on tmpfs that allocates the pages, so a
 * full file system is an error here (ENOSPC, or EFBIG past
 * RLIMIT_FSIZE), never a SIGBUS on a later store.  What lies past the
 * last record is zeros, which recovery reads as the end (replay_file).
 * A file system without fallocate falls back to pwrite for the file.
 */
#define WIN_BYTES ((size_t)1 << 20)

static void unmap_window(struct journal *j)
{
	if (j->win)
		munmap(j->win, j->win_len);
	j->win = NULL;
	j->win_off = 0;
	j->win_len = 0;
}

void journal_writer_close(struct journal *j)
{
	if (j->wfd < 0)
		return;
	unmap_window(j);
	/* The zeros past the end are preallocation, not data. */
	if (j->file_len > j->wsize && ftruncate(j->wfd, (off_t)j->wsize) < 0)
		log_warn("journal: %s: cannot trim journal.%" PRIu64 ": %s",
		         j->dir, j->wepoch, strerror(errno));
	close(j->wfd);
	j->wfd = -1;
	j->file_len = 0;
}

void journal_writer_set(struct journal *j, int fd, uint64_t epoch,
                        uint64_t size, uint64_t nrec)
{
	journal_writer_close(j);
	j->wfd = fd;
	j->wepoch = epoch;
	j->wsize = j->file_len = size;
	j->wseq = nrec;
	j->is_mapped = !j->o.sync;
}

/* A window holding wsize .. wsize + need, the file allocated under it. */
static int map_room(struct journal *j, size_t need)
{
	uint64_t end = j->wsize + need, off, len;
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (j->win && j->wsize >= j->win_off && end <= j->win_off + j->win_len)
		return 0;
	off = j->wsize - j->wsize % (uint64_t)page;
	len = end - off;
	len = len < WIN_BYTES ? WIN_BYTES
	                      : len + (uint64_t)page - len % (uint64_t)page;
	if (off + len > j->file_len) {
		int err = fallocate(j->wfd, 0, (off_t)j->file_len,
		                    (off_t)(off + len - j->file_len));

		if (err < 0)
			return -errno;
		j->file_len = off + len;
	}
	unmap_window(j);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
	         j->wfd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	j->win = p;
	j->win_off = off;
	j->win_len = len;
	return 0;
}

/* Write the batch at wsize: mapped, or pwrite (+ fdatasync). */
static int write_batch(struct journal *j, size_t len)
{
	int err;

	if (j->is_mapped) {
		err = map_room(j, j->len);
		if (err == -EOPNOTSUPP) {
			/* No fallocate here: pwrite from now on. */
			unmap_window(j);
			j->is_mapped = false;
		} else {
			if (!err)
				memcpy(j->win + (j->wsize - j->win_off), j->buf,
				       len);
			return err;
		}
	}
	err = journal_pwrite_all(j->wfd, j->buf, len, j->wsize);
	if (!err && j->wsize + len > j->file_len)
		j->file_len = j->wsize + len;
	if (!err && j->o.sync && fdatasync(j->wfd) < 0)
		err = -errno;
	return err;
}

int journal_commit(struct journal *j)
{
	uint64_t seq = j->wseq;
	int err;

	if (j->is_failed) {
		drop_batch(j);
		return j->failed_err;
	}
	if (!j->len)
		return 0;
	for (size_t off = 0; off < j->len; seq++) {
		unsigned char *p = j->buf + off;
		uint32_t len = get32(p);

		if (off + REC_HDR + len == j->len)
			p[8] |= REC_BATCH_END; /* the batch is whole */
		put32(p + 4,
		      record_crc(j->wepoch, seq, p[8], p + REC_HDR, len));
		off += REC_HDR + len;
	}
	j->commits++;
	if (j->crash == CRASH_TORN && j->commits == j->crash_n) {
		write_batch(j, j->len / 2);
		raise(SIGKILL);
	}
	err = write_batch(j, j->len);
	if (err) {
		/* A torn piece must not stay where the next batch would
		 * follow it: recovery would stop there and drop the rest.
		 * (The mapped writer copies nothing when it fails.) */
		if (!j->is_mapped && ftruncate(j->wfd, (off_t)j->wsize) < 0)
			log_err("journal: %s: cannot truncate journal.%" PRIu64
			        " back to %" PRIu64 ": %s",
			        j->dir, j->wepoch, j->wsize, strerror(errno));
		if (!j->is_mapped)
			j->file_len = j->wsize;
		log_err("journal: %s: writing journal.%" PRIu64
		        " failed (%s): %" PRIu64
		        " records refused; changes refused until a "
		        "compaction succeeds",
		        j->dir, j->wepoch, strerror(-err), j->npending);
		j->is_failed = true;
		j->failed_err = err;
		drop_batch(j);
		return err;
	}
	j->wsize += j->len;
	j->wseq = seq;
	drop_batch(j);
	if (j->crash == CRASH_AFTER_COMMIT && j->commits == j->crash_n)
		raise(SIGKILL);
	return 0;
}

bool journal_is_pending(const struct journal *j)
{
	return j->len != 0;
}

bool journal_is_failed(const struct journal *j)
{
	return j->is_failed;
}

void journal_info(const struct journal *j, struct journal_info *out)
{
	memset(out, 0, sizeof(*out));
	out->dir = j->dir;
	out->epoch = j->epoch;
	out->journal_bytes = j->chain_bytes + j->wsize;
	out->journal_records = j->chain_records + j->wseq;
	out->snapshot_bytes = j->snapshot_bytes;
	out->compactions = j->compactions;
	out->is_compacting = j->job != NULL;
	out->last_compaction = j->last_compaction;
	out->last_compaction_sec = j->last_compaction_sec;
	out->last_start_sec = j->last_start_sec;
	out->is_failed = j->is_failed;
	out->failed_err = j->failed_err;
}

int journal_set_crash(struct journal *j, const char *spec)
{
	static const struct {
		const char *prefix;
		enum crash_kind kind;
	} kinds[] = {{"torn:", CRASH_TORN},
	             {"after-commit:", CRASH_AFTER_COMMIT},
	             {"compact:", CRASH_COMPACT}};
	unsigned long n;

	if (!spec || !*spec) {
		j->crash = CRASH_NONE;
		return 0;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t len = strlen(kinds[i].prefix);

		if (strncmp(spec, kinds[i].prefix, len))
			continue;
		if (parse_uint(spec + len, ULONG_MAX, &n) || n == 0)
			return -EINVAL;
		j->crash = kinds[i].kind;
		j->crash_n = n;
		j->commits = 0;
		j->compact_starts = 0;
		return 0;
	}
	return -EINVAL;
}
