/*
 * log.c - the process-wide log sink.  Owns the FILE and its path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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

void log_close(void)
{
	log_open_trace(NULL);
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

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(f, "%s.%03ld %s: ", stamp, ts.tv_nsec / 1000000, tag);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > min_level)
		return;
	if (level < 0 || level > LOG_DEBUG)
		level = LOG_ERR;
	va_start(ap, fmt);
	vlog(sink ? sink : stderr, level_names[level], fmt, ap);
	va_end(ap);
}

void log_trace(const char *fmt, ...)
{
	va_list ap;

	if (!trace_on)
		return;
	va_start(ap, fmt);
	vlog(trace_sink ? trace_sink : sink ? sink : stderr, "trace", fmt, ap);
	va_end(ap);
}
