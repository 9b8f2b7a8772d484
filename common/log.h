/*
 * log.h - levelled logging to a file (or stderr, or syslog), reopened on
 * SIGHUP.
 *
 * One process-wide sink: the daemon is single-threaded and the tools are
 * short-lived.  Levels are syslog's.  The trace channel (every request
 * and reply) is separate so that it can be switched on at run time
 * (CONTROL log) without drowning the ordinary log.
 */
#ifndef XSTORE_LOG_H
#define XSTORE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>

/*
 * log_open - send log lines to `path` (appended; NULL = stderr) at
 * `level` and above (LOG_ERR ... LOG_DEBUG).  Returns 0 or -errno; on
 * error the previous sink stays.
 */
int log_open(const char *path, int level);

/*
 * log_open_file - open `path` for appending, line-buffered, without ever
 * blocking: anything but a regular file (a FIFO, a device, a socket)
 * gives -EINVAL, since a path a client names must not be able to stall
 * the daemon.  *out is the caller's (fclose).  0 or -errno.  Every sink
 * of this module is opened through it.
 */
int log_open_file(const char *path, FILE **out);

/*
 * log_open_syslog - send log lines to syslog(3) as `ident` (a string
 * that must outlive the sink: openlog keeps the pointer), facility
 * LOG_DAEMON, each line at its own level, at `level` and above.  The
 * trace keeps its own file if it has one; without, trace lines go to
 * syslog at LOG_DEBUG.  Cannot fail: syslog(3) connects lazily and
 * drops lines when no syslog daemon listens.  Undone by log_close.
 */
void log_open_syslog(const char *ident, int level);

/* log_is_syslog - is the sink syslog? */
bool log_is_syslog(void);

/*
 * log_set_journal_stderr - stderr is systemd's journal (a service's
 * $JOURNAL_STREAM): lines written there, when no file is open, carry
 * the "<level>" prefix the journal reads as their priority instead of a
 * time stamp (the journal has its own).
 */
void log_set_journal_stderr(bool on);

/* log_reopen - reopen the current file (log rotation). 0 or -errno. */
int log_reopen(void);

/* log_close - flush and close the file; later lines go to stderr. */
void log_close(void);

/* log_path - the current file, or NULL for stderr or syslog. */
const char *log_path(void);

/*
 * log_set_max_size - bound the log file at `bytes` (0: no bound): past
 * it the file is renamed to "<path>.1" (replacing an older one) and a
 * new one started, so the log takes at most twice that on disk.  The
 * trace file, which an operator turns on deliberately, is not bounded.
 */
#define LOG_MAX_SIZE_DEFAULT (16ull << 20)
void log_set_max_size(uint64_t bytes);

void log_set_level(int level);
int log_get_level(void);

/*
 * log_open_trace - send trace lines to their own file `path` (appended;
 * NULL: back to the log sink).  Reopened by log_reopen.  0 or -errno.
 */
int log_open_trace(const char *path);

/* log_set_trace - turn the request/reply trace on or off. */
void log_set_trace(bool on);
bool log_is_trace(void);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
/*
 * log_limited - log_msg for lines that another party (a guest, a
 * client) can cause at will: refusals, dropped events.  At most a burst
 * of lines per (domid, kind) and per minute, and a global budget for all
 * of them together; what is held back is counted and reported as one
 * "suppressed K similar" line when the key's window ends (at its next
 * line, or at log_limited_flush()).  `kind` must be a string literal
 * (keys compare it by address) that names the class of line ("quota",
 * "events dropped").
 */
void log_limited(unsigned int domid, const char *kind, int level,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* log_limited_flush - report the windows that ended; call now and then
 * (the daemon: every few seconds). */
void log_limited_flush(void);

/* log_limited_suppressed - lines held back since start (for tests and
 * CONTROL). */
unsigned long log_limited_suppressed(void);

/* log_trace - written whenever trace is on, whatever the level. */
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
