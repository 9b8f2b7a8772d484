/*
 * journal.h - the daemon's state on disk, across a crash: a directory of
 * snapshot files (the whole state at the start of an epoch, opaque bytes
 * the daemon writes) and journal files (the records of every change
 * acknowledged since), each checksummed so that a torn or corrupt piece
 * is recognised and never used.  Compaction writes a fresh snapshot from
 * a thread of its own while the loop goes on serving.
 *
 * Threads: every function here is called from the daemon's loop thread
 * only; the compaction's thread runs only the daemon's dump function
 * (see journal_compact_start).  All functions that can fail return 0 or
 * -errno.
 *
 * Files in the directory (little-endian, see journal.c for the essay):
 *   lock           flock(LOCK_EX) held for the journal's life
 *   snapshot.<E>   header (magic "XSSNAP\0\1", version, epoch, length),
 *                  payload, crc32 trailer; written as snapshot.<E>.tmp,
 *                  then renamed
 *   journal.<E>    header (magic "XSJRNL\0\1", version, epoch, crc32),
 *                  then records: u32 length, u32 crc32, u8 kind, payload
 * The state is the newest valid snapshot.<E> (none: empty, E = 0), then
 * the records of journal.<E>, journal.<E+1>, ... (consecutive epochs:
 * each compaction that did not finish left one more file).
 */
#ifndef XSTORE_DAEMON_JOURNAL_H
#define XSTORE_DAEMON_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct journal;

/* The largest record payload (a bigger length in a file is corruption). */
#define JOURNAL_RECORD_MAX (64u << 20)
/* Record kinds: 7 bits of a byte (the journal keeps the eighth). */
#define JOURNAL_KIND_MAX            127u
#define JOURNAL_COMPACT_MIN_DEFAULT ((size_t)8 << 20)

struct journal_opts {
	bool sync;          /* fdatasync every commit, fsync files and the
	                     * directory around renames */
	size_t compact_min; /* journal bytes before compaction is due
	                     * (0: JOURNAL_COMPACT_MIN_DEFAULT) */
};

/*
 * journal_open - open (creating it with mode 0700, parents too, if
 * missing) the state directory `dir` and take its lock.  `o` may be NULL
 * (defaults: no sync, 8 MiB).  Reads nothing yet: journal_recover must
 * come next, before any append.  On success *out is the caller's, to
 * give to journal_close.  Errors: -EBUSY another journal (another
 * process, or a child of a daemon that just died that still has the
 * lock's file open) holds the lock; -ENOMEM; -ENOTDIR,
 * -EACCES, ... from mkdir/open.
 */
int journal_open(const char *dir, const struct journal_opts *o,
                 struct journal **out);

/*
 * journal_close - stop and join a running compaction (its .tmp file is
 * removed and its release function called), drop uncommitted
 * records (never acknowledged), close the files and release the lock.
 * `j` may be NULL.  Frees j.
 */
void journal_close(struct journal *j);

struct journal_recovery {
	uint64_t epoch;         /* epoch of the snapshot loaded (0: none) */
	size_t snapshot_bytes;  /* its payload length */
	uint64_t records;       /* records replayed */
	uint64_t journal_bytes; /* bytes of journal files replayed */
	uint64_t dropped_bytes; /* bytes of torn/corrupt tail dropped */
	char dropped_why[128];  /* "" or what was dropped and where */
	double seconds;         /* wall time of the whole recovery */
};

/* The whole snapshot payload; `buf` is valid during the call only.
 * Returns 0, or -errno to stop the recovery. */
typedef int journal_snapshot_fn(void *arg, const void *buf, size_t len);
/* One record, in the order it was appended; `buf` valid during the call
 * only.  Returns 0, or -errno to stop the recovery. */
typedef int journal_record_fn(void *arg, unsigned int kind, const void *buf,
                              size_t len);

/*
 * journal_recover - load the state: once, right after journal_open.
 * Finds the newest epoch E whose snapshot is complete and valid (epoch
 * 0 without one: the empty state), calls snap() once with it (never for
 * an epoch without a snapshot), then rec() for each valid record of
 * journal.<E>, journal.<E+1>, ... (files of compactions that did not
 * finish follow E's).  It stops at the first torn or corrupt record:
 * the file is truncated there, later journal files are removed (a record
 * after a dropped one is never replayed), and info->dropped_bytes and
 * dropped_why say what was dropped (also logged with log_warn).
 * Temporary and invalid snapshots, and files of older epochs, are
 * removed.  Afterwards appends go to the newest journal file.  `info`
 * may be NULL.  Errors: a callback's error, returned as is (the journal
 * stays unrecovered: close it); -EINVAL called twice; -ENOMEM; -EIO
 * and others from the file system.
 */
int journal_recover(struct journal *j, journal_snapshot_fn *snap,
                    journal_record_fn *rec, void *arg,
                    struct journal_recovery *info);

/*
 * journal_append - buffer one record of `kind` (<= JOURNAL_KIND_MAX)
 * with a copy of buf[0..len) (len <= JOURNAL_RECORD_MAX); it reaches the
 * file at the next journal_commit.  Errors: -ENOMEM; -EINVAL (kind or
 * len out of range, journal not recovered).  A failed journal still
 * buffers: its commit refuses the batch.
 */
int journal_append(struct journal *j, unsigned int kind, const void *buf,
                   size_t len);

/*
 * journal_reserve - as journal_append without a copy: returns room for
 * `len` payload bytes to fill in place, valid until the next call of
 * journal_append, journal_reserve, journal_commit or
 * journal_compact_start (the checksum is computed at commit).  NULL: no
 * memory, or kind/len out of range, or not recovered.
 */
void *journal_reserve(struct journal *j, unsigned int kind, size_t len);

/*
 * journal_commit - write every record buffered since the last commit in
 * one write(2) (looping on short writes), then fdatasync if sync: group
 * commit, called once per loop turn before any reply leaves.  The batch
 * is atomic: recovery replays all of its records or none (a turn's
 * store change without its guests' sessions would replay a change whose
 * request the restored ring then serves again).  0 with
 * nothing buffered.  On a write or sync error (-ENOSPC, -EIO, -EFBIG,
 * ...) the file is truncated back to its last good end, the batch is
 * dropped (its changes must not be acknowledged) and the journal becomes
 * failed: every later commit (even with nothing buffered) drops its
 * batch and returns the same error without writing, until a compaction
 * succeeds.  Logged with log_err.  The daemon should refuse changes
 * while journal_is_failed(): a change made then is in memory only (the
 * next snapshot has it only if it was made before that snapshot's freeze).
 */
int journal_commit(struct journal *j);

/* journal_is_pending - are records buffered and not yet committed? */
bool journal_is_pending(const struct journal *j);

/* journal_is_failed - has a commit failed since the last successful
 * compaction (see journal_commit)? */
bool journal_is_failed(const struct journal *j);

/*
 * Compaction.  dump() runs on the compaction's thread: it writes the
 * whole state, as the daemon froze it before journal_compact_start,
 * through write(warg, buf, len), which buffers and checksums and returns
 * 0 or -errno (-ECANCELED once journal_close wants the thread back:
 * stop then); dump returns 0 or -errno.  It must read only what the
 * loop thread no longer changes (a frozen copy), and call nothing that
 * is not thread-safe (no log, no xalloc).  release(arg) then frees that
 * copy, on the loop thread.
 */
typedef int journal_write_fn(void *warg, const void *buf, size_t len);
typedef int journal_dump_fn(void *arg, journal_write_fn *write, void *warg);
typedef void journal_release_fn(void *arg);

/* journal_compact_due - are the journal files since the last snapshot
 * at least max(compact_min, the snapshot's payload), with no
 * compaction running, and not in the back-off after a failed one (1 s,
 * doubling up to 64 s, reset by a success)? */
bool journal_compact_due(const struct journal *j);

/*
 * journal_compact_start - commit what is buffered, start journal.<E+1>
 * (every later record goes there), start a thread that writes
 * snapshot.<E+1> with dump(arg, ...), and return at once.  (E+1: the
 * epoch after the newest journal file; after a failed compaction that
 * is E+2, and so on.)  The caller must have frozen its state just
 * before (nothing changed in between), so that the snapshot is exactly
 * the state the new journal file continues.  release(arg) (may be NULL)
 * is called exactly once on the loop thread when the dump can no longer
 * run: at once if the start fails, else from journal_compact_poll or
 * journal_close.  The pause the caller sees is a commit, a file
 * creation and a thread's start (journal_info's last_start_sec).  An
 * unfinished snapshot is a .tmp file, never valid; a crash kills the
 * thread with the daemon.  A failed journal may (and should) compact:
 * that is how it heals.  Errors: -EBUSY a compaction runs; -EINVAL not
 * recovered; -ENOMEM; errors of creating journal.<E+1> or of the thread
 * (nothing started, the journal is unchanged).  A failing commit of the
 * buffered records does not stop the compaction (see journal_commit);
 * the commit's error is not returned.
 */
int journal_compact_start(struct journal *j, journal_dump_fn *dump,
                          journal_release_fn *release, void *arg);

/*
 * journal_compact_poll - reap the compaction's thread if it has ended,
 * without blocking (release is called then).  Returns 1 it finished
 * well: the epoch is now E+1, older files are removed, and a failed
 * journal is healthy again; 0 still running, or none; -errno it failed
 * (the dump's or the file system's error; logged): the old files stay, records
 * go on to the new journal file (it stays in the chain recovery replays), and
 * the next compaction retries.
 */
int journal_compact_poll(struct journal *j);

/* journal_compact_fd - an eventfd readable once the running
 * compaction's thread has ended (put it on the loop and poll then), or
 * -1: none runs.  Owned by j. */
int journal_compact_fd(const struct journal *j);

struct journal_info {
	const char *dir;            /* the state directory (owned by j) */
	uint64_t epoch;             /* epoch of the last snapshot */
	uint64_t journal_bytes;     /* journal bytes since that snapshot */
	uint64_t journal_records;   /* records since that snapshot */
	uint64_t snapshot_bytes;    /* payload of that snapshot */
	uint64_t compactions;       /* compactions that succeeded */
	bool is_compacting;         /* a compaction's thread runs */
	double last_compaction;     /* wall time (s since 1970) of the last
	                             * success; 0: none */
	double last_compaction_sec; /* its duration, start to reaped */
	double last_start_sec;      /* the pause compact_start took */
	bool is_failed;             /* see journal_commit */
	int failed_err;             /* its -errno, or 0 */
};

/* journal_info - fill *out (cannot fail). */
void journal_info(const struct journal *j, struct journal_info *out);

/*
 * journal_set_crash - test crash points (always compiled, off by
 * default): "torn:N" the N-th commit that writes writes only the first
 * half of its batch, then raise(SIGKILL); "after-commit:N" after the
 * N-th commit completed, raise(SIGKILL); "compact:N" at the N-th
 * compact_start, raise(SIGKILL) right after the thread started.  N >= 1,
 * counted from this call.  NULL or "" turns it off.  0, or -EINVAL for a
 * malformed spec (nothing changed).
 */
int journal_set_crash(struct journal *j, const char *spec);

#endif
