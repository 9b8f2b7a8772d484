/*
 * fuzz_log.h - where the fuzzers' daemons log: every line is formatted
 * (the formatting is code under test too) into a temporary regular file
 * that stays small (the log's own size bound rotates it), since the log
 * refuses anything but a regular file, /dev/null included.  The files
 * are removed at exit; a crash may leave two small files in $TMPDIR.
 */
#ifndef XSTORE_FUZZ_LOG_H
#define XSTORE_FUZZ_LOG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static char fuzz_log_path[4096];

static void fuzz_log_remove(void)
{
	char old[sizeof(fuzz_log_path) + 2];

	log_close();
	snprintf(old, sizeof(old), "%s.1", fuzz_log_path);
	unlink(fuzz_log_path);
	unlink(old);
}

/* fuzz_log_open - log at `level` into a fresh temporary file (trace: on
 * stderr instead).  Aborts if it cannot. */
static void fuzz_log_open(const char *name, int level, int is_trace)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	if (is_trace) {
		if (log_open(NULL, level))
			abort();
		return;
	}
	snprintf(fuzz_log_path, sizeof(fuzz_log_path), "%s/%s-log-XXXXXX",
	         dir && *dir ? dir : "/tmp", name);
	fd = mkstemp(fuzz_log_path);
	if (fd < 0)
		abort();
	close(fd);
	if (log_open(fuzz_log_path, level))
		abort();
	log_set_max_size(256u << 10);
	atexit(fuzz_log_remove);
}

#endif
