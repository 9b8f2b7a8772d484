/*
 * journal_int.h - what daemon/journal.c (files, recovery, commit) and
 * daemon/journal_compact.c (the snapshot writer's thread) share: the
 * struct, the on-disk constants and a few file helpers.  Nothing else
 * includes it.
 */
#ifndef XSTORE_DAEMON_JOURNAL_INT_H
#define XSTORE_DAEMON_JOURNAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "daemon/journal.h"

#define SNAP_MAGIC     "XSSNAP\0\1"
#define JRNL_MAGIC     "XSJRNL\0\1"
#define FORMAT_VERSION 1u /* snapshots */
/* Journal files: version 2 marks the last record of each commit (its
 * kind byte's REC_BATCH_END bit), and recovery replays whole batches
 * only.  Version 1 files (no marks) replay record by record. */
#define JRNL_VERSION  2u
#define REC_BATCH_END 0x80u
#define SNAP_HDR      32u
#define SNAP_TRAILER  4u
#define JRNL_HDR      24u
#define REC_HDR       9u
#define NAME_MAX_LEN  64
#define SNAP_BUF      (1u << 20)

/*
 * A compaction's job.  The loop thread fills it before the thread starts
 * and reads it only after `done` (or a join); the thread reads the
 * fields above `cancel` and writes only `err`, `done` and the eventfd.
 */
struct compact_job {
	int dirfd;
	bool sync;
	uint64_t epoch;
	uint64_t old_epoch; /* the last snapshot's: older files go after */
	journal_dump_fn *dump;
	journal_release_fn *release;
	void *arg;
	unsigned char *buf; /* SNAP_BUF bytes for the writer */
	int efd;            /* eventfd: readable once done */
	atomic_bool cancel; /* set by journal_close */
	atomic_bool done;
	int err;
	pthread_t thread;
};

enum crash_kind { CRASH_NONE, CRASH_TORN, CRASH_AFTER_COMMIT, CRASH_COMPACT };

struct journal {
	char *dir;
	int dirfd;
	int lockfd;
	struct journal_opts o;
	bool is_recovered;

	uint64_t epoch;          /* of the last snapshot (0: none) */
	uint64_t snapshot_bytes; /* its payload */
	uint64_t chain_bytes;    /* journal files epoch..wepoch-1 */
	uint64_t chain_records;

	/* The file appended to (journal_writer_set). */
	uint64_t wepoch;
	int wfd;
	uint64_t wsize;     /* its last good end */
	uint64_t wseq;      /* records in it */
	uint64_t file_len;  /* its size, preallocated zeros included */
	bool is_mapped;     /* commits copy into the window (no --sync) */
	unsigned char *win; /* the mapped window, or NULL */
	uint64_t win_off;
	size_t win_len;

	/* The batch: framed records, crcs filled in at commit. */
	unsigned char *buf;
	size_t len, cap;
	uint64_t npending;

	bool is_failed;
	int failed_err;

	/* Compaction. */
	struct compact_job *job; /* NULL: none running */
	uint64_t child_epoch;    /* the epoch it writes, or last wrote */
	double child_start;
	uint64_t compactions;
	double last_compaction, last_compaction_sec, last_start_sec;

	enum crash_kind crash;
	unsigned long crash_n;
	unsigned long commits, compact_starts;
	/* After a failed compaction, no other is due before retry_at
	 * (journal_now), the wait doubling from 1 s to 64 s. */
	double retry_at, retry_wait;
};

static inline void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Seconds: monotonic, and wall clock (since 1970). */
double journal_now(void);
double journal_wall_now(void);
/* crc32 continued over buf[0..len), any length. */
uint32_t journal_crc(uint32_t crc, const void *buf, size_t len);
/* out (NAME_MAX_LEN bytes) = "<what>.<epoch><suffix>". */
void journal_name(char *out, const char *what, uint64_t epoch,
                  const char *suffix);
/* pwrite all of buf at off, looping on short writes.  0 or -errno. */
int journal_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);
/* fsync the directory if sync.  0 or -errno. */
int journal_sync_dir(const struct journal *j);
/* unlink a file of the directory; other than ENOENT, logged. */
void journal_unlink(const struct journal *j, const char *name);
/* Tell a running compaction's thread to stop, join it and release its
 * job (its .tmp file is removed by the thread). */
void journal_compact_cancel(struct journal *j);
/* Make `fd` (journal.<epoch>, `size` valid bytes, `nrec` records) the
 * file appended to, closing the previous one (journal_writer_close). */
void journal_writer_set(struct journal *j, int fd, uint64_t epoch,
                        uint64_t size, uint64_t nrec);
/* Unmap the window, trim the file's preallocated tail, close it. */
void journal_writer_close(struct journal *j);
/* Create journal.<epoch> holding only its header; its fd in *fd. */
int journal_create(struct journal *j, uint64_t epoch, int *fd);

#endif
