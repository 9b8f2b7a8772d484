/*
 * test_journal.c - the state directory (daemon/journal.c): records over
 * commits and reopens, a torn tail cut at every byte of the last record,
 * a flipped byte and swapped records, snapshots and compaction on its
 * thread (also failed, cancelled by a close, and interrupted by the
 * process's death), the lock, a write failure (RLIMIT_FSIZE) healed by
 * a compaction, the crash points, and the pause a compaction's start
 * takes with a 200 MB heap (printed, not judged).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/journal.h"
#include "daemon/journal_int.h"
#include "tests/support/check.h"

/* What a recovery delivered, as text: "S<len>:<payload>\n" for the
 * snapshot, "<kind>:<payload>\n" per record. */
struct got {
	char *text;
	size_t len, cap;
	unsigned int nsnap, nrec;
	int fail_at; /* rec() returns -EPROTO at this record (0: never) */
};

static void got_add(struct got *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = 2 * (g->len + n + 1);
		g->text = realloc(g->text, g->cap);
	}
	memcpy(g->text + g->len, s, n);
	g->len += n;
	g->text[g->len] = '\0';
}

static int on_snap(void *arg, const void *buf, size_t len)
{
	struct got *g = arg;
	char h[32];
	int n = snprintf(h, sizeof(h), "S%zu:", len);

	g->nsnap++;
	got_add(g, h, (size_t)n);
	got_add(g, buf, len);
	got_add(g, "\n", 1);
	return 0;
}

static int on_rec(void *arg, unsigned int kind, const void *buf, size_t len)
{
	struct got *g = arg;
	char h[32];
	int n = snprintf(h, sizeof(h), "%u:", kind);

	if (g->fail_at && (int)g->nrec + 1 == g->fail_at)
		return -EPROTO;
	g->nrec++;
	got_add(g, h, (size_t)n);
	got_add(g, buf, len);
	got_add(g, "\n", 1);
	return 0;
}

static void got_free(struct got *g)
{
	free(g->text);
	memset(g, 0, sizeof(*g));
}

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/test_journal.XXXXXX");
	if (!mkdtemp(dir))
		abort();
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static bool file_exists(const char *name)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static long file_size(const char *name)
{
	char p[128];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) ? -1 : (long)st.st_size;
}

static char *read_whole(const char *name, size_t *len)
{
	char p[128];
	FILE *f;
	char *buf;
	long n = file_size(name);

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "rb");
	if (!f || n < 0)
		abort();
	buf = malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void write_whole(const char *name, const void *buf, size_t len)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "wb");
	if (!f || fwrite(buf, 1, len, f) != len)
		abort();
	fclose(f);
}

/* Open and recover into *g; 0 or the first error. */
static int reopen(struct journal **j, struct got *g,
                  struct journal_recovery *info)
{
	int err = journal_open(dir, NULL, j);

	if (err)
		return err;
	err = journal_recover(*j, on_snap, on_rec, g, info);
	if (err) {
		journal_close(*j);
		*j = NULL;
	}
	return err;
}

/* Append "r<i>" records first..last-1 (kind i % 7), the odd ones in
 * place, and the expected text. */
static int add_records(struct journal *j, int first, int last, struct got *want)
{
	for (int i = first; i < last; i++) {
		char s[32], h[48];
		int n = snprintf(s, sizeof(s), "r%d", i);
		int err = 0;

		if (i % 2) {
			char *p =
			    journal_reserve(j, (unsigned int)i % 7, (size_t)n);

			if (!p)
				return -ENOMEM;
			memcpy(p, s, (size_t)n);
		} else {
			err = journal_append(j, (unsigned int)i % 7, s,
			                     (size_t)n);
		}
		if (err)
			return err;
		n = snprintf(h, sizeof(h), "%d:%s\n", i % 7, s);
		if (want)
			got_add(want, h, (size_t)n);
	}
	return 0;
}

/* release() calls: exactly one per compact_start. */
static int released;

static void count_release(void *arg)
{
	released++;
}

/* Wait for the compaction's thread (its eventfd) and reap it. */
static int wait_compaction(struct journal *j)
{
	for (int i = 0; i < 20000; i++) {
		int fd = journal_compact_fd(j), r;

		if (fd >= 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};

			poll(&p, 1, 1000);
		} else {
			usleep(1000);
		}
		r = journal_compact_poll(j);
		if (r != 0)
			return r;
	}
	return -ETIMEDOUT;
}

/* The state the compaction dumps: a string given as arg. */
static int dump_string(void *arg, journal_write_fn *w, void *warg)
{
	const char *s = arg;
	size_t n = strlen(s);
	int err;

	/* In pieces, to cross the writer's buffering. */
	err = w(warg, s, n / 2);
	return err ? err : w(warg, s + n / 2, n - n / 2);
}

/* 3000 pieces of 997 bytes: fills and flushes the writer's buffer at
 * every alignment. */
static int dump_pattern(void *arg, journal_write_fn *w, void *warg)
{
	char piece[997];

	for (int i = 0; i < 3000; i++) {
		int err;

		memset(piece, 'a' + i % 26, sizeof(piece));
		err = w(warg, piece, sizeof(piece));
		if (err)
			return err;
	}
	return 0;
}

static bool is_pattern(const char *p, size_t len)
{
	if (len != 3000 * 997)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] != 'a' + (char)(i / 997 % 26))
			return false;
	return true;
}

static int dump_fail(void *arg, journal_write_fn *w, void *warg)
{
	int err = w(warg, "partial", 7);

	return err ? err : -EIO;
}

/* Fails after writing more than the writer's buffer: a .tmp exists. */
static int dump_big_fail(void *arg, journal_write_fn *w, void *warg)
{
	static char big[3 << 20];
	int err;

	memset(big, 'x', sizeof(big));
	err = w(warg, big, sizeof(big));
	return err ? err : -EIO;
}

/* Writes a lot, then a byte now and then until told to stop (by
 * journal_close) or killed with its process. */
static int dump_slow(void *arg, journal_write_fn *w, void *warg)
{
	static char big[3 << 20];
	int err;

	memset(big, 'y', sizeof(big));
	err = w(warg, big, sizeof(big));
	while (!err) {
		usleep(1000);
		err = w(warg, "y", 1);
	}
	return err;
}

static void test_round_trip(void)
{
	struct journal *j = NULL;
	struct journal_recovery info;
	struct got want = {0}, g = {0};
	struct journal_info ji;

	make_dir();
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.epoch, 0);
	CHECK_EQ_UINT(info.records, 0);
	CHECK_EQ_UINT(g.nsnap + g.nrec, 0);
	CHECK(file_exists("journal.0"));
	CHECK(!journal_is_pending(j));
	CHECK_EQ_INT(journal_commit(j), 0); /* nothing to write */
	CHECK_EQ_INT(add_records(j, 0, 3, &want), 0);
	CHECK(journal_is_pending(j));
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK(!journal_is_pending(j));
	CHECK_EQ_INT(add_records(j, 3, 10, &want), 0);
	CHECK_EQ_INT(journal_append(j, 4, "", 0), 0); /* empty payload */
	got_add(&want, "4:\n", 3);
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK_EQ_INT(journal_append(j, 256, "x", 1), -EINVAL);
	CHECK(journal_reserve(j, 1, JOURNAL_RECORD_MAX + 1) == NULL);
	journal_info(j, &ji);
	CHECK_EQ_UINT(ji.journal_records, 11);
	/* Open, the file has the mapped writer's preallocation; closed,
	 * only its records. */
	CHECK(ji.journal_bytes <= (uint64_t)file_size("journal.0"));
	CHECK_EQ_INT(add_records(j, 10, 12, NULL), 0); /* never committed */
	journal_close(j);
	CHECK_EQ_UINT(ji.journal_bytes, (uint64_t)file_size("journal.0"));

	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, want.text);
	CHECK_EQ_UINT(info.records, 11);
	CHECK_EQ_UINT(info.dropped_bytes, 0);
	CHECK_EQ_STR(info.dropped_why, "");
	CHECK_EQ_INT(journal_recover(j, on_snap, on_rec, &g, NULL), -EINVAL);
	/* Appends after a reopen follow the recovered records. */
	CHECK_EQ_INT(add_records(j, 20, 25, &want), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	got_free(&g);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, want.text);
	CHECK_EQ_UINT(info.records, 16);
	/* A callback's error stops the recovery and is returned. */
	journal_close(j);
	got_free(&g);
	g.fail_at = 3;
	CHECK_EQ_INT(reopen(&j, &g, &info), -EPROTO);
	CHECK_EQ_UINT(g.nrec, 2);
	CHECK_EQ_UINT(file_size("journal.0"), ji.journal_bytes + 5 * 12);
	got_free(&g);
	got_free(&want);
	remove_dir();
}

/* A journal of five records, the last committed alone; its offset. */
static long five_records(struct got *want4)
{
	struct journal *j;
	long start;

	if (journal_open(dir, NULL, &j) ||
	    journal_recover(j, NULL, NULL, NULL, NULL))
		return -1;
	if (add_records(j, 0, 4, want4) || journal_commit(j))
		return -1;
	start = file_size("journal.0");
	if (add_records(j, 4, 5, NULL) || journal_commit(j))
		return -1;
	journal_close(j);
	return start;
}

static void test_torn_tail(void)
{
	struct got want = {0};
	size_t len;
	char *full;
	long start;

	make_dir();
	start = five_records(&want);
	CHECK(start > 0);
	full = read_whole("journal.0", &len);
	for (size_t cut = (size_t)start; cut < len; cut++) {
		struct journal *j;
		struct journal_recovery info;
		struct got g = {0}, want2 = {0};

		write_whole("journal.0", full, cut);
		CHECK_EQ_INT(reopen(&j, &g, &info), 0);
		CHECK_EQ_STR(g.text, want.text);
		CHECK_EQ_UINT(info.records, 4);
		CHECK_EQ_UINT(info.dropped_bytes, cut - (size_t)start);
		CHECK(cut == (size_t)start ? info.dropped_why[0] == '\0'
		                           : info.dropped_why[0] != '\0');
		/* Seen as torn, by its length, not by luck of the crc. */
		if (cut > (size_t)start)
			CHECK(strstr(info.dropped_why,
			             cut - (size_t)start < 9
			                 ? "torn record header"
			                 : "runs past the end"));
		CHECK_EQ_INT(file_size("journal.0"), start);
		/* The next record follows the valid data. */
		CHECK_EQ_INT(add_records(j, 9, 10, NULL), 0);
		CHECK_EQ_INT(journal_commit(j), 0);
		journal_close(j);
		got_free(&g);
		CHECK_EQ_INT(reopen(&j, &g, &info), 0);
		got_add(&want2, want.text, want.len);
		got_add(&want2, "2:r9\n", 5);
		CHECK_EQ_STR(g.text, want2.text);
		CHECK_EQ_UINT(info.dropped_bytes, 0);
		journal_close(j);
		got_free(&g);
		got_free(&want2);
	}
	printf("torn tail: cut at each of %zu offsets, e.g. \"%s\"\n",
	       len - (size_t)start, "journal.0 at offset N: ...");
	free(full);
	got_free(&want);
	remove_dir();
}

static void test_corrupt_middle(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};
	size_t len;
	char *full;
	long start;

	make_dir();
	start = five_records(NULL);
	CHECK(start > 0);
	full = read_whole("journal.0", &len);
	/* Records are 9 + 2 bytes after a 24-byte header: flip a byte of
	 * record 2's payload.  Records 0 to 3 were one commit: all of it
	 * goes, the good records before the bad one too. */
	full[24 + 2 * 11 + 9] ^= 0x20;
	write_whole("journal.0", full, len);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, NULL);
	CHECK_EQ_UINT(info.records, 0);
	CHECK_EQ_UINT(info.dropped_bytes, len - 24);
	CHECK(strstr(info.dropped_why, "journal.0 at offset 46: bad checksum"));
	CHECK_EQ_INT(file_size("journal.0"), 24);
	journal_close(j);
	got_free(&g);

	/* Two records of the same length swapped: each crc is right for
	 * its bytes, but not for its place. */
	remove_dir();
	make_dir();
	CHECK(five_records(NULL) > 0);
	free(full);
	full = read_whole("journal.0", &len);
	{
		char tmp[11];

		memcpy(tmp, full + 24 + 11, 11);
		memcpy(full + 24 + 11, full + 24 + 22, 11);
		memcpy(full + 24 + 22, tmp, 11);
	}
	write_whole("journal.0", full, len);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, NULL);
	CHECK(strstr(info.dropped_why, "bad checksum"));
	journal_close(j);
	got_free(&g);

	/* A length that runs past the end. */
	remove_dir();
	make_dir();
	CHECK(five_records(NULL) > 0);
	free(full);
	full = read_whole("journal.0", &len);
	full[24 + 33] = 100;
	write_whole("journal.0", full, len);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, NULL);
	CHECK(strstr(info.dropped_why,
	             "journal.0 at offset 57: record length "
	             "100 runs past the end (13 bytes left)"));
	journal_close(j);
	got_free(&g);
	free(full);
	remove_dir();
}

static void test_compaction(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct journal_info ji;
	struct got g = {0}, want = {0};
	struct journal_opts o = {.sync = true, .compact_min = 100};

	make_dir();
	released = 0;
	CHECK_EQ_INT(journal_open(dir, &o, &j), 0);
	CHECK(!journal_compact_due(j)); /* not recovered */
	CHECK_EQ_INT(journal_compact_start(j, dump_string, count_release, "x"),
	             -EINVAL);
	CHECK_EQ_INT(released, 1); /* at once when nothing starts */
	CHECK_EQ_INT(journal_recover(j, on_snap, on_rec, &g, &info), 0);
	CHECK(!journal_compact_due(j));
	CHECK_EQ_INT(add_records(j, 0, 10, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK(journal_compact_due(j)); /* 24 + 10 * 11 >= 100 */
	CHECK_EQ_INT(journal_compact_poll(j), 0);
	CHECK_EQ_INT(journal_compact_fd(j), -1);
	/* Buffered records are committed to journal.0 first. */
	CHECK_EQ_INT(add_records(j, 10, 12, NULL), 0);
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_string, count_release, "state-A"), 0);
	CHECK(!journal_is_pending(j));
	CHECK_EQ_INT(journal_compact_start(j, dump_string, count_release, "x"),
	             -EBUSY);
	CHECK_EQ_INT(released, 2);
	CHECK(!journal_compact_due(j));
	CHECK(file_exists("journal.1"));
	/* Records during the compaction go to journal.1. */
	CHECK_EQ_INT(add_records(j, 12, 14, &want), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK_EQ_INT(wait_compaction(j), 1);
	CHECK_EQ_INT(released, 3);
	CHECK(!file_exists("journal.0"));
	CHECK(file_exists("snapshot.1"));
	journal_info(j, &ji);
	CHECK_EQ_UINT(ji.epoch, 1);
	CHECK_EQ_UINT(ji.snapshot_bytes, 7);
	CHECK_EQ_UINT(ji.compactions, 1);
	CHECK_EQ_UINT(ji.journal_records, 2);
	CHECK(ji.last_compaction > 0);
	CHECK(!ji.is_compacting);
	/* due: max(100, 7) */
	CHECK(!journal_compact_due(j));
	CHECK_EQ_INT(add_records(j, 14, 20, &want), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK(journal_compact_due(j));
	/* A failure is not retried at once (a full disk would make it
	 * start one every loop turn). */
	CHECK_EQ_INT(journal_compact_start(j, dump_fail, count_release, NULL),
	             0);
	CHECK_EQ_INT(wait_compaction(j), -EIO);
	CHECK(!journal_compact_due(j));
	journal_close(j);
	got_free(&g);

	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.epoch, 1);
	CHECK_EQ_UINT(info.snapshot_bytes, 7);
	CHECK_EQ_UINT(g.nsnap, 1);
	CHECK_EQ_UINT(info.records, 8);
	CHECK(strncmp(g.text, "S7:state-A\n", 11) == 0);
	CHECK_EQ_STR(g.text + 11, want.text);
	/* A snapshot bigger than the writer's buffer. */
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_pattern, count_release, NULL), 0);
	CHECK_EQ_INT(wait_compaction(j), 1);
	journal_close(j);
	got_free(&g);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.epoch, 3); /* 2: the failed one's journal */
	CHECK(strncmp(g.text, "S2991000:", 9) == 0);
	CHECK(is_pattern(g.text + 9, info.snapshot_bytes));
	CHECK_EQ_UINT(info.records, 0);
	journal_close(j);
	got_free(&g);
	got_free(&want);
	remove_dir();
}

/* A snapshot bigger than compact_min: due once the journal files hold
 * as many bytes as the snapshot (a restart then replays about as much
 * as it loads), not before. */
static void test_due_follows_snapshot(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct journal_info ji;
	struct journal_opts o = {.compact_min = 100};
	struct got g = {0};
	char snap[1001];

	memset(snap, 's', 1000);
	snap[1000] = '\0';
	make_dir();
	CHECK_EQ_INT(journal_open(dir, &o, &j), 0);
	CHECK_EQ_INT(journal_recover(j, on_snap, on_rec, &g, &info), 0);
	CHECK_EQ_INT(journal_compact_start(j, dump_string, NULL, snap), 0);
	CHECK_EQ_INT(wait_compaction(j), 1);
	for (int i = 0; !journal_compact_due(j) && i < 200; i++) {
		CHECK_EQ_INT(add_records(j, i, i + 1, NULL), 0);
		CHECK_EQ_INT(journal_commit(j), 0);
	}
	journal_info(j, &ji);
	CHECK(journal_compact_due(j));
	CHECK(ji.journal_bytes >= 1000 && ji.journal_bytes < 1000 + 11);
	journal_close(j);
	got_free(&g);
	remove_dir();
}

/* A compaction that fails leaves journal.<E+1> in the chain; the retry
 * starts journal.<E+2>; recovery replays snapshot.E, journal.E, E+1, E+2. */
static void test_compaction_fails(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0}, want = {0};

	make_dir();
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_INT(add_records(j, 0, 2, NULL), 0);
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_string, count_release, "base"), 0);
	CHECK_EQ_INT(wait_compaction(j), 1);
	CHECK_EQ_INT(add_records(j, 2, 4, &want), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	/* The dump fails: the old files stay. */
	CHECK_EQ_INT(journal_compact_start(j, dump_fail, count_release, NULL),
	             0);
	CHECK_EQ_INT(add_records(j, 4, 6, &want), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK_EQ_INT(wait_compaction(j), -EIO);
	CHECK(file_exists("snapshot.1") && file_exists("journal.1") &&
	      file_exists("journal.2") && !file_exists("snapshot.2.tmp") &&
	      !file_exists("snapshot.2"));
	/* It fails after 3 MB: its .tmp goes too. */
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_big_fail, count_release, NULL), 0);
	CHECK_EQ_INT(add_records(j, 6, 8, &want), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	CHECK_EQ_INT(wait_compaction(j), -EIO);
	CHECK(file_exists("journal.3") && !file_exists("snapshot.3.tmp"));
	journal_close(j);
	got_free(&g);

	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.epoch, 1);
	CHECK(strncmp(g.text, "S4:base\n", 8) == 0);
	CHECK_EQ_STR(g.text + 8, want.text);
	CHECK_EQ_UINT(info.records, 6);
	/* The retry succeeds and removes the whole older chain. */
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_string, count_release, "all"), 0);
	CHECK_EQ_INT(wait_compaction(j), 1);
	CHECK(!file_exists("snapshot.1") && !file_exists("journal.1") &&
	      !file_exists("journal.2") && !file_exists("journal.3") &&
	      file_exists("snapshot.4") && file_exists("journal.4"));
	journal_close(j);
	got_free(&g);
	got_free(&want);
	remove_dir();
}

/* Open the journal, waiting for a killed process to be gone (its lock
 * goes with its last file). */
static int open_retry(struct journal **j)
{
	int err = -EBUSY;

	for (int i = 0; i < 5000 && err == -EBUSY; i++) {
		err = journal_open(dir, NULL, j);
		if (err == -EBUSY)
			usleep(1000);
	}
	return err;
}

/* A record dropped in journal.0: journal.1 (a failed compaction's) is
 * after it, so it goes too, and appends continue in journal.0. */
static void test_drop_later_files(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};
	size_t len;
	char *full;
	long size1;

	make_dir();
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_INT(add_records(j, 0, 3, NULL), 0);
	CHECK_EQ_INT(journal_compact_start(j, dump_fail, count_release, NULL),
	             0);
	CHECK_EQ_INT(wait_compaction(j), -EIO);
	CHECK_EQ_INT(add_records(j, 3, 5, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	CHECK_EQ_STR(g.text, NULL);
	size1 = file_size("journal.1");
	CHECK_EQ_INT(size1, 24 + 2 * 11);
	full = read_whole("journal.0", &len);
	full[24 + 11 + 9] ^= 1; /* record 1's payload */
	write_whole("journal.0", full, len);
	free(full);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, NULL); /* r0-r2 were one commit */
	CHECK_EQ_UINT(info.dropped_bytes, 3 * 11 + (uint64_t)size1);
	CHECK(strstr(info.dropped_why, "journal.0 at offset 35: bad checksum"));
	CHECK(!file_exists("journal.1"));
	CHECK_EQ_INT(add_records(j, 7, 8, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	got_free(&g);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, "0:r7\n");
	journal_close(j);
	got_free(&g);
	remove_dir();
}

/* The daemon is killed while its thread writes the snapshot, leaving a
 * .tmp; journal.1 exists after journal.0.  With `crash`, the daemon
 * kills itself right after the thread's start instead. */
static void interrupted(const char *crash)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0}, want = {0};
	int status;
	pid_t pid;

	make_dir();
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (journal_open(dir, NULL, &j) ||
		    journal_recover(j, NULL, NULL, NULL, NULL) ||
		    add_records(j, 0, 3, NULL) || journal_commit(j) ||
		    journal_set_crash(j, crash))
			_exit(1);
		journal_compact_start(j, dump_slow, count_release, NULL);
		pause();
		_exit(2); /* not reached */
	}
	if (!*crash) {
		/* Until the thread has written most of its snapshot. */
		for (int i = 0;
		     i < 10000 && file_size("snapshot.1.tmp") < (2 << 20); i++)
			usleep(1000);
		CHECK(file_size("snapshot.1.tmp") >= (2 << 20));
		kill(pid, SIGKILL);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_EQ_INT(open_retry(&j), 0);
	CHECK(file_exists("journal.1"));
	CHECK(!file_exists("snapshot.1"));
	if (!*crash)
		CHECK(file_exists("snapshot.1.tmp"));
	/* Records written after the start go to journal.1: recover
	 * (journal.0, then journal.1) and append there. */
	CHECK_EQ_INT(journal_recover(j, NULL, NULL, NULL, NULL), 0);
	CHECK_EQ_INT(add_records(j, 3, 5, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	got_add(&want, "0:r0\n1:r1\n2:r2\n3:r3\n4:r4\n", 25);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.epoch, 0);
	CHECK_EQ_UINT(g.nsnap, 0);
	CHECK_EQ_STR(g.text, want.text);
	CHECK(!file_exists("snapshot.1.tmp"));
	CHECK_EQ_INT(file_size("journal.0"), 24 + 3 * 11);
	CHECK_EQ_INT(file_size("journal.1"), 24 + 2 * 11);
	journal_close(j);
	got_free(&g);
	got_free(&want);
	remove_dir();
}

/* A close while the thread writes: the thread is told to stop and
 * joined, its .tmp goes, release is called, and the next open finds
 * journal.0 then journal.1 as if the compaction had failed. */
static void test_close_cancels(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};

	make_dir();
	released = 0;
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_INT(add_records(j, 0, 2, NULL), 0);
	CHECK_EQ_INT(journal_compact_start(j, dump_slow, count_release, NULL),
	             0);
	CHECK_EQ_INT(add_records(j, 2, 3, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	for (int i = 0; i < 10000 && file_size("snapshot.1.tmp") < (2 << 20);
	     i++)
		usleep(1000);
	CHECK(file_size("snapshot.1.tmp") >= (2 << 20));
	CHECK_EQ_INT(journal_compact_poll(j), 0); /* still running */
	journal_close(j);
	CHECK_EQ_INT(released, 1);
	CHECK(!file_exists("snapshot.1.tmp") && !file_exists("snapshot.1"));
	got_free(&g);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, "0:r0\n1:r1\n2:r2\n");
	journal_close(j);
	got_free(&g);
	remove_dir();
}

static void test_compaction_interrupted(void)
{
	interrupted("");
}

static void test_compaction_crash_point(void)
{
	interrupted("compact:1");
}

/* Files a recovery must not trust: a newer invalid snapshot, a .tmp, a
 * journal after a gap, older epochs. */
static void test_recovery_cleanup(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};
	size_t len;
	char *snap;

	make_dir();
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_INT(add_records(j, 0, 2, NULL), 0);
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_string, count_release, "one"), 0);
	CHECK_EQ_INT(wait_compaction(j), 1);
	CHECK_EQ_INT(add_records(j, 2, 3, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	got_free(&g);
	snap = read_whole("snapshot.1", &len);
	write_whole("snapshot.0", snap, len); /* older: wrong epoch inside */
	write_whole("snapshot.2.tmp", snap, len);
	snap[16] = 3; /* epoch 3 in a file named so: the crc disagrees */
	write_whole("snapshot.3", snap, len);
	snap[16] = 4;
	snap[len - 1] ^= 1;
	write_whole("snapshot.4", snap, len); /* newer, torn */
	write_whole("snapshot.5", snap, 20);
	write_whole("journal.5", "junk", 4); /* after a gap */
	write_whole("other", "x", 1);        /* not ours: left alone */
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.epoch, 1);
	CHECK_EQ_STR(g.text, "S3:one\n2:r2\n");
	CHECK(!file_exists("snapshot.0") && !file_exists("snapshot.2.tmp") &&
	      !file_exists("snapshot.3") && !file_exists("snapshot.4") &&
	      !file_exists("snapshot.5") && !file_exists("journal.5"));
	CHECK(file_exists("other"));
	CHECK_EQ_UINT(info.dropped_bytes, 4);
	CHECK(strstr(info.dropped_why, "journal.5"));
	journal_close(j);
	got_free(&g);
	free(snap);
	remove_dir();
}

static void test_busy(void)
{
	struct journal *j, *j2 = NULL;

	make_dir();
	CHECK_EQ_INT(journal_open(dir, NULL, &j), 0);
	CHECK_EQ_INT(journal_open(dir, NULL, &j2), -EBUSY);
	CHECK(j2 == NULL);
	journal_close(j);
	CHECK_EQ_INT(journal_open(dir, NULL, &j2), 0);
	journal_close(j2);
	CHECK_EQ_INT(journal_open("/dev/null/x", NULL, &j2), -ENOTDIR);
	remove_dir();
	/* mkdir -p */
	make_dir();
	{
		char sub[128];

		snprintf(sub, sizeof(sub), "%s/a/b", dir);
		CHECK_EQ_INT(journal_open(sub, NULL, &j), 0);
		journal_close(j);
		snprintf(sub, sizeof(sub), "%s/a/b/lock", dir);
		CHECK(unlink(sub) == 0);
		snprintf(sub, sizeof(sub), "%s/a/b", dir);
		CHECK(rmdir(sub) == 0);
		snprintf(sub, sizeof(sub), "%s/a", dir);
		CHECK(rmdir(sub) == 0);
	}
	remove_dir();
}

/* Writes past RLIMIT_FSIZE fail with EFBIG (SIGXFSZ ignored), after a
 * short write: the torn piece goes, the journal refuses every batch
 * until a compaction, whose small files fit, heals it.  The limit is
 * put back by the caller whatever happens here. */
static void write_failure(struct journal *j, const struct rlimit *old)
{
	static char big[2 << 20];
	struct journal_info ji;
	struct rlimit lim = *old;
	long size;

	CHECK_EQ_INT(add_records(j, 0, 3, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	/* Past the end of the file, preallocation included: the mapped
	 * writer's fallocate fails as pwrite does. */
	size = file_size("journal.0");
	lim.rlim_cur = (rlim_t)size + 100;
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	memset(big, 'b', sizeof(big));
	CHECK_EQ_INT(journal_append(j, 1, big, sizeof(big)), 0);
	CHECK_EQ_INT(journal_commit(j), -EFBIG);
	CHECK(journal_is_failed(j));
	CHECK(!journal_is_pending(j));
	CHECK_EQ_INT(file_size("journal.0"), size);
	/* Even a batch that would fit is refused now. */
	CHECK_EQ_INT(journal_append(j, 1, "small", 5), 0);
	CHECK_EQ_INT(journal_commit(j), -EFBIG);
	CHECK_EQ_INT(file_size("journal.0"), size);
	journal_info(j, &ji);
	CHECK(ji.is_failed && ji.failed_err == -EFBIG);
	/* Back under the limit, the state in memory (the failed batch
	 * included) goes in a snapshot. */
	CHECK(setrlimit(RLIMIT_FSIZE, old) == 0);
	CHECK_EQ_INT(
	    journal_compact_start(j, dump_string, count_release, "with-big"),
	    0);
	CHECK(journal_is_failed(j));
	CHECK_EQ_INT(wait_compaction(j), 1);
	CHECK(!journal_is_failed(j));
	CHECK_EQ_INT(journal_append(j, 2, "after", 5), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
}

/* Both writers: mapped (the default) and pwrite + fdatasync (sync). */
static void write_failure_with(bool sync)
{
	struct journal_opts o = {.sync = sync};
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};
	struct rlimit old;

	make_dir();
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	CHECK_EQ_INT(journal_open(dir, &o, &j), 0);
	CHECK_EQ_INT(journal_recover(j, on_snap, on_rec, &g, &info), 0);
	signal(SIGXFSZ, SIG_IGN);
	write_failure(j, &old);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	journal_close(j);
	got_free(&g);
	CHECK(!check_failed());
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, "S8:with-big\n2:after\n");
	CHECK_EQ_UINT(info.dropped_bytes, 0);
	journal_close(j);
	got_free(&g);
	remove_dir();
}

static void test_write_failure(void)
{
	write_failure_with(false);
}

static void test_write_failure_sync(void)
{
	write_failure_with(true);
}

/* Records of every size around the mapped writer's 1 MiB window: small
 * ones that cross a window's end, one bigger than a window, many
 * batches; all come back in order, and the closed file holds only them. */
static void test_windows(void)
{
	static const size_t sizes[] = {
	    1000,   (1u << 20) - 40, 9, (3u << 20) / 2, 0, 400000,
	    400000, 400000,          5};
	struct journal *j;
	struct journal_recovery info;
	struct journal_info ji;
	struct got g = {0}, want = {0};
	char *buf = malloc((3u << 20) / 2);

	CHECK(buf != NULL);
	make_dir();
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			char h[16];
			int n = snprintf(h, sizeof(h), "%zu:", i);

			memset(buf, 'a' + (int)((i + round) % 26), sizes[i]);
			CHECK_EQ_INT(
			    journal_append(j, (unsigned int)i, buf, sizes[i]),
			    0);
			got_add(&want, h, (size_t)n);
			got_add(&want, buf, sizes[i]);
			got_add(&want, "\n", 1);
			/* Batches of one record, then of two. */
			if ((i + 1) % (size_t)(round + 1) == 0)
				CHECK_EQ_INT(journal_commit(j), 0);
		}
		CHECK_EQ_INT(journal_commit(j), 0);
	}
	journal_info(j, &ji);
	journal_close(j);
	CHECK_EQ_INT(file_size("journal.0"), (long)ji.journal_bytes);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_UINT(info.records, 18);
	CHECK_EQ_UINT(info.dropped_bytes, 0);
	CHECK(g.len == want.len && memcmp(g.text, want.text, g.len) == 0);
	journal_close(j);
	got_free(&g);
	got_free(&want);
	free(buf);
	remove_dir();
}

static void test_crash_spec(void)
{
	static const char *const good[] = {"torn:1", "after-commit:3",
	                                   "compact:12", "", NULL};
	static const char *const bad[] = {"torn",     "torn:",   "torn:0",
	                                  "torn:-1",  "torn:1x", "tear:1",
	                                  "compact:", " torn:1", "after:1"};
	struct journal *j;

	make_dir();
	CHECK_EQ_INT(journal_open(dir, NULL, &j), 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_EQ_INT(journal_set_crash(j, good[i]), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(journal_set_crash(j, bad[i]), -EINVAL);
	journal_close(j);
	remove_dir();
}

/* Run `spec` in a child that commits 3 batches of 3 records; it must die
 * of SIGKILL; returns what a recovery then finds in *g. */
static bool crash_run(const char *spec, struct got *g,
                      struct journal_recovery *info)
{
	struct journal *j;
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (journal_open(dir, NULL, &j) ||
		    journal_recover(j, NULL, NULL, NULL, NULL) ||
		    journal_set_crash(j, spec))
			_exit(1);
		for (int b = 0; b < 3; b++)
			if (add_records(j, 3 * b, 3 * b + 3, NULL) ||
			    journal_commit(j))
				_exit(1);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return false;
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		return false;
	if (reopen(&j, g, info))
		return false;
	journal_close(j);
	return true;
}

static void test_crash_points(void)
{
	struct journal_recovery info;
	struct got g = {0};

	make_dir();
	CHECK(crash_run("torn:2", &g, &info));
	/* Half of the second batch, 16 of 3 x 11 bytes: r3 whole, 5 bytes
	 * of r4 torn.  r3 goes with its batch: a commit is all or nothing
	 * (a turn's store change kept without the guests' sessions of the
	 * same turn made test_crash.py see a commit applied and then
	 * answered EAGAIN). */
	CHECK_EQ_STR(g.text, "0:r0\n1:r1\n2:r2\n");
	CHECK_EQ_UINT(info.dropped_bytes, 16);
	CHECK(info.dropped_why[0] != '\0');
	CHECK(info.dropped_why[0] != '\0');
	got_free(&g);
	remove_dir();

	make_dir();
	CHECK(crash_run("after-commit:2", &g, &info));
	CHECK_EQ_STR(g.text, "0:r0\n1:r1\n2:r2\n3:r3\n4:r4\n5:r5\n");
	CHECK_EQ_UINT(info.dropped_bytes, 0);
	got_free(&g);
	remove_dir();
}

static size_t le(unsigned char *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
	return n;
}

/* A version 1 file (no batch marks, as daemons before them wrote) is
 * still replayed record by record: an upgrade keeps its state.  Here
 * three records and the torn header of a fourth. */
static void test_version1_file(void)
{
	static const char *const pay[] = {"a", "bb", "ccc"};
	unsigned char f[256], pre[17];
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};
	size_t n = 0;

	make_dir();
	memcpy(f, "XSJRNL\0\1", 8);
	n = 8 + le(f + 8, 1, 4) + le(f + 12, 0, 8);
	n += le(f + n, journal_crc(0, f, 20), 4);
	for (unsigned int i = 0; i < 3; i++) {
		size_t len = strlen(pay[i]);

		le(pre, 0, 8);
		le(pre + 8, i, 8);
		pre[16] = (unsigned char)(i + 1);
		n += le(f + n, len, 4);
		n += le(
		    f + n,
		    journal_crc(journal_crc(0, pre, sizeof(pre)), pay[i], len),
		    4);
		f[n++] = (unsigned char)(i + 1);
		memcpy(f + n, pay[i], len);
		n += len;
	}
	n += le(f + n, 5, 4); /* the torn one: its length, half a crc */
	n += le(f + n, 0xabcd, 2);
	write_whole("journal.0", f, n);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, "1:a\n2:bb\n3:ccc\n");
	CHECK_EQ_UINT(info.dropped_bytes, 6);
	CHECK_EQ_INT(add_records(j, 4, 5, NULL), 0);
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	got_free(&g);
	CHECK_EQ_INT(reopen(&j, &g, &info), 0);
	CHECK_EQ_STR(g.text, "1:a\n2:bb\n3:ccc\n4:r4\n");
	CHECK_EQ_UINT(info.dropped_bytes, 0);
	journal_close(j);
	got_free(&g);
	remove_dir();
}

/* The pause that matters: what compact_start keeps the caller.  With a
 * fork this grew with the heap (page tables to copy: ~10 ms at 200 MB);
 * a thread's start does not. */
static void test_start_pause(void)
{
	size_t big = 200u << 20;
	char *heap = malloc(big);
	struct journal *j;
	struct journal_recovery info;
	struct journal_info ji;
	double t0, t1;
	struct timespec ts;

	CHECK(heap != NULL);
	memset(heap, 1, big); /* touched: every page mapped */
	make_dir();
	CHECK_EQ_INT(journal_open(dir, NULL, &j), 0);
	CHECK_EQ_INT(journal_recover(j, NULL, NULL, NULL, &info), 0);
	for (int i = 0; i < 5; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		CHECK_EQ_INT(
		    journal_compact_start(j, dump_string, count_release, "s"),
		    0);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		t1 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
		journal_info(j, &ji);
		printf("pause with a 200 MB heap: compact_start %.3f ms "
		       "(its own figure %.3f ms)\n",
		       (t1 - t0) * 1e3, ji.last_start_sec * 1e3);
		CHECK_EQ_INT(wait_compaction(j), 1);
	}
	journal_info(j, &ji);
	printf("compaction (tiny snapshot) took %.2f ms start to reaped\n",
	       ji.last_compaction_sec * 1e3);
	journal_close(j);
	free(heap);
	remove_dir();
}

/* Recovery of 200 000 records: time printed. */
static void test_recovery_speed(void)
{
	struct journal *j;
	struct journal_recovery info;
	struct got g = {0};
	char rec[64];

	make_dir();
	CHECK_EQ_INT(journal_open(dir, NULL, &j), 0);
	CHECK_EQ_INT(journal_recover(j, NULL, NULL, NULL, NULL), 0);
	memset(rec, 'v', sizeof(rec));
	for (int i = 0; i < 200000; i++) {
		CHECK_EQ_INT(journal_append(j, 1, rec, sizeof(rec)), 0);
		if (i % 100 == 99)
			CHECK_EQ_INT(journal_commit(j), 0);
	}
	CHECK_EQ_INT(journal_commit(j), 0);
	journal_close(j);
	CHECK_EQ_INT(journal_open(dir, NULL, &j), 0);
	CHECK_EQ_INT(journal_recover(j, NULL, NULL, NULL, &info), 0);
	CHECK_EQ_UINT(info.records, 200000);
	printf("recovery: %" PRIu64 " records, %" PRIu64 " bytes in %.1f ms\n",
	       info.records, info.journal_bytes, info.seconds * 1e3);
	journal_close(j);
	got_free(&g);
	remove_dir();
}

/* clang-format off */
static const struct check_test tests[] = {
	CHECK_TEST(test_round_trip),
	CHECK_TEST(test_torn_tail),
	CHECK_TEST(test_corrupt_middle),
	CHECK_TEST(test_compaction),
	CHECK_TEST(test_due_follows_snapshot),
	CHECK_TEST(test_compaction_fails),
	CHECK_TEST(test_drop_later_files),
	CHECK_TEST(test_compaction_interrupted),
	CHECK_TEST(test_compaction_crash_point),
	CHECK_TEST(test_recovery_cleanup),
	CHECK_TEST(test_busy),
	CHECK_TEST(test_windows),
	CHECK_TEST(test_write_failure),
	CHECK_TEST(test_write_failure_sync),
	CHECK_TEST(test_crash_spec),
	CHECK_TEST(test_crash_points),
	CHECK_TEST(test_version1_file),
	CHECK_TEST(test_close_cancels),
	CHECK_TEST(test_start_pause),
	CHECK_TEST(test_recovery_speed),
};
/* clang-format on */

CHECK_MAIN(tests)
