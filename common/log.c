/*
 * log.c - the process-wide log sink: a FILE and its path (stderr when
 * none), or syslog(3); and the trace file.  Owns the FILEs and paths.
 * Lines that guests can cause go through the rate limiter at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static FILE *sink;
static char *sink_path;
static int min_level = LOG_INFO;
static bool trace_on;
static FILE *trace_sink;
static char *trace_path;
static bool is_syslog;         /* openlog()ed: lines go to syslog, not sink */
static bool is_journal_stderr; /* stderr is the journal: "<level>" lines */

/* Bound on the log file; over it, the file is renamed to "<path>.1"
 * (replacing an older one) and started afresh: at most twice this on
 * disk, whatever the guests do. */
static uint64_t max_size = LOG_MAX_SIZE_DEFAULT;

static const char *const level_names[] = {
    "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

int log_open_file(const char *path, FILE **out)
{
	struct stat st;
	FILE *f;
	int fd;

	/* O_NONBLOCK: opening a FIFO without a reader (or a device) must
	 * not stall the daemon's loop; it is refused below anyway. */
	fd = open(path,
	          O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_NOCTTY |
	              O_CLOEXEC,
	          0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFL, O_APPEND) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	f = fdopen(fd, "a");
	if (!f) {
		int err = -errno;

		close(fd);
		return err;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	*out = f;
	return 0;
}

int log_open(const char *path, int level)
{
	FILE *f = NULL;
	char *copy = NULL;

	if (path) {
		copy = strdup(path);
		if (!copy)
			return -ENOMEM;
		int err = log_open_file(path, &f);

		if (err) {
			free(copy);
			return err;
		}
	}
	log_close();
	sink = f;
	sink_path = copy;
	min_level = level;
	return 0;
}

int log_open_trace(const char *path)
{
	FILE *f = NULL;
	char *copy = NULL;
	int err;

	if (path) {
		copy = strdup(path);
		if (!copy)
			return -ENOMEM;
		err = log_open_file(path, &f);
		if (err) {
			free(copy);
			return err;
		}
	}
	if (trace_sink)
		fclose(trace_sink);
	free(trace_path);
	trace_sink = f;
	trace_path = copy;
	return 0;
}

int log_reopen(void)
{
	FILE *f = NULL;

	int err;

	if (trace_path && !log_open_file(trace_path, &f)) {
		fclose(trace_sink);
		trace_sink = f;
	}
	if (!sink_path)
		return 0;
	err = log_open_file(sink_path, &f);
	if (err)
		return err;
	if (sink)
		fclose(sink);
	sink = f;
	return 0;
}

void log_open_syslog(const char *ident, int level)
{
	log_close();
	/* LOG_PID: the pid is read at each line, so it is right after
	 * daemonising too; no LOG_CONS, a daemon has no console. */
	openlog(ident, LOG_PID, LOG_DAEMON);
	is_syslog = true;
	min_level = level;
}

bool log_is_syslog(void)
{
	return is_syslog;
}

void log_set_journal_stderr(bool on)
{
	is_journal_stderr = on;
}

void log_close(void)
{
	log_open_trace(NULL);
	if (is_syslog)
		closelog();
	is_syslog = false;
	if (sink)
		fclose(sink);
	sink = NULL;
	free(sink_path);
	sink_path = NULL;
}

const char *log_path(void)
{
	return sink_path;
}

void log_set_level(int level)
{
	min_level = level;
}

int log_get_level(void)
{
	return min_level;
}

void log_set_trace(bool on)
{
	trace_on = on;
}

bool log_is_trace(void)
{
	return trace_on;
}

static void vlog(FILE *f, const char *tag, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void vlog(FILE *f, const char *tag, const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	if (f == stderr && is_journal_stderr) {
		int level = LOG_DEBUG;

		for (int i = 0; i <= LOG_DEBUG; i++)
			if (strcmp(tag, level_names[i]) == 0)
				level = i;
		/* sd-daemon(3)'s prefix; trace lines are debug. */
		fprintf(f, "<%d>", level);
		vfprintf(f, fmt, ap);
		fputc('\n', f);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(f, "%s.%03ld %s: ", stamp, ts.tv_nsec / 1000000, tag);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
}

void log_set_max_size(uint64_t bytes)
{
	max_size = bytes;
}

/* Start the log file afresh once it passed max_size (see above). */
static void bound_size(void)
{
	char *old;
	long pos;
	FILE *f;

	if (!sink || !sink_path || !max_size)
		return;
	pos = ftell(sink);
	if (pos < 0 || (uint64_t)pos < max_size)
		return;
	if (asprintf(&old, "%s.1", sink_path) < 0)
		return;
	if (rename(sink_path, old) < 0 || log_open_file(sink_path, &f)) {
		/* Cannot rotate (a read-only directory...): keep the newest
		 * lines in the one file rather than grow it. */
		if (ftruncate(fileno(sink), 0) == 0)
			fprintf(sink,
			        "log: over %llu bytes and cannot rotate; "
			        "truncated\n",
			        (unsigned long long)max_size);
		free(old);
		return;
	}
	free(old);
	fclose(sink);
	sink = f;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > min_level)
		return;
	if (level < 0 || level > LOG_DEBUG)
		level = LOG_ERR;
	va_start(ap, fmt);
	if (is_syslog)
		vsyslog(level, fmt, ap);
	else
		vlog(sink ? sink : stderr, level_names[level], fmt, ap);
	va_end(ap);
	bound_size();
}

/*
 * Rate limiting of what other parties cause.  A direct-mapped table of
 * (domain, kind) windows bounds the memory whatever the number of
 * domains; a key evicted by a collision reports its suppressed count
 * and starts a new window, and the global budget below still holds, so
 * collisions cannot be used to get more lines out.
 */
#define RL_SLOTS      1024u
#define RL_WINDOW_S   60u
#define RL_BURST      10u  /* lines per key per window */
#define RL_GLOBAL_MAX 200u /* lines per window, all keys together */

struct rl_slot {
	const char *kind; /* a string literal: compared by address */
	unsigned int domid;
	uint64_t window_start; /* monotonic seconds */
	unsigned int printed;
	unsigned long suppressed;
};

static struct rl_slot rl_table[RL_SLOTS];
static uint64_t rl_global_start;
static unsigned int rl_global_printed;
static unsigned long rl_global_suppressed;
static unsigned long rl_total_suppressed;

static uint64_t mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec + 1; /* 0 means "never" */
}

static void rl_summary(struct rl_slot *sl)
{
	if (sl->suppressed)
		log_msg(LOG_WARNING,
		        "domain %u: suppressed %lu similar '%s' lines in the "
		        "last %u s",
		        sl->domid, sl->suppressed, sl->kind, RL_WINDOW_S);
	sl->suppressed = 0;
}

static bool rl_global_allows(uint64_t now)
{
	if (now - rl_global_start >= RL_WINDOW_S) {
		if (rl_global_suppressed)
			log_msg(LOG_WARNING,
			        "suppressed %lu more lines caused by guests in "
			        "the last %u s (over %u per window)",
			        rl_global_suppressed, RL_WINDOW_S,
			        RL_GLOBAL_MAX);
		rl_global_start = now;
		rl_global_printed = 0;
		rl_global_suppressed = 0;
	}
	if (rl_global_printed >= RL_GLOBAL_MAX) {
		rl_global_suppressed++;
		return false;
	}
	rl_global_printed++;
	return true;
}

void log_limited(unsigned int domid, const char *kind, int level,
                 const char *fmt, ...)
{
	size_t h = ((uintptr_t)kind >> 3) * 0x9e3779b97f4a7c15ull + domid;
	struct rl_slot *sl = &rl_table[(h ^ (h >> 29)) % RL_SLOTS];
	uint64_t now = mono_s();
	va_list ap;

	if (level > min_level)
		return;
	if (sl->kind != kind || sl->domid != domid) {
		rl_summary(sl);
		sl->kind = kind;
		sl->domid = domid;
		sl->window_start = now;
		sl->printed = 0;
	} else if (now - sl->window_start >= RL_WINDOW_S) {
		rl_summary(sl);
		sl->window_start = now;
		sl->printed = 0;
	}
	if (sl->printed >= RL_BURST || !rl_global_allows(now)) {
		sl->suppressed++;
		rl_total_suppressed++;
		return;
	}
	sl->printed++;
	va_start(ap, fmt);
	if (is_syslog)
		vsyslog(level, fmt, ap);
	else
		vlog(sink ? sink : stderr, level_names[level], fmt, ap);
	va_end(ap);
	bound_size();
}

void log_limited_flush(void)
{
	uint64_t now = mono_s();
	unsigned int i;

	for (i = 0; i < RL_SLOTS; i++)
		if (rl_table[i].kind &&
		    now - rl_table[i].window_start >= RL_WINDOW_S) {
			rl_summary(&rl_table[i]);
			rl_table[i].kind = NULL;
		}
	if (rl_global_suppressed)
		rl_global_allows(now);
}

unsigned long log_limited_suppressed(void)
{
	return rl_total_suppressed;
}

void log_trace(const char *fmt, ...)
{
	va_list ap;

	if (!trace_on)
		return;
	va_start(ap, fmt);
	if (!trace_sink && is_syslog)
		vsyslog(LOG_DEBUG, fmt, ap);
	else
		vlog(trace_sink ? trace_sink
		     : sink     ? sink
		                : stderr,
		     "trace", fmt, ap);
	va_end(ap);
}
