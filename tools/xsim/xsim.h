/*
 * xsim.h - what the files of xsim share: one run's context (the sim
 * directory, the daemon's socket), argument checks, error reports, the
 * daemon connection, and the commands each file implements.
 *
 * xsim.c owns main() and the domain commands; device.c the device
 * commands; suspend.c suspend and resume; mux.c the guest's multiplexer
 * process; wait.c waiting on the store.  Single-threaded, except for
 * libxstore's own threads (wait.c's watch callbacks).
 */
#ifndef XSTORE_TOOLS_XSIM_H
#define XSTORE_TOOLS_XSIM_H

#include <stdbool.h>
#include <stddef.h>

#include "plat/plat.h"
#include "xstore/xstore.h"

#define DEFAULT_TIMEOUT_S 10
/* Commits retried on EAGAIN before giving up (a conflict storm). */
#define XSIM_TXN_TRIES 16

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

struct ctx {
	const char *dir;
	const char *socket;
};

/* Print "xsim: <msg>" and the hint to --help; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "xsim: <what> domain <domid>: <strerror>"; returns EXIT_FAIL. */
int fail(const char *what, unsigned int domid, int err);

/* Print the usage text on stdout; returns EXIT_OK (for COMMAND --help). */
int usage_print(void);

/* 0 and *domid, or -EINVAL (not 0..32751 in canonical decimal). */
int parse_domid(const char *s, unsigned int *domid);
int parse_ulong(const char *s, unsigned long min, unsigned long max,
                unsigned long *out);

/*
 * The command's one DOMID after its options (argv[optind]): 0, or the
 * exit code of a usage error (already reported).
 */
int one_domid(int argc, char **argv, const char *cmd, unsigned int *domid);

/*
 * daemon_connect - a dom0 connection to the daemon at x->socket; *xs
 * gets it (the caller closes it).  Failures are reported on stderr,
 * naming the socket, and returned (-errno): -ETIMEDOUT when the daemon
 * accepts but does not answer within $XSTORE_TIMEOUT (tools/tool.h).
 * Replies on the handle are bounded from then on (tool_timeout_later_ms).
 */
int daemon_connect(const struct ctx *x, struct xstore **xs);

/* domain_state - the sim state of `domid` (0, -ENOENT, -EINVAL garbage). */
int domain_state(const struct ctx *x, unsigned int domid,
                 enum plat_dom_state *st);

/* rm_quiet - xstore_rm, where a missing node is no error. */
int rm_quiet(struct xstore *xs, xstore_txn_t tx, const char *path);

/*
 * xsim_wait - call check(arg) now and again after every watch event on
 * any of `paths` (at most 4; whole subtrees, or "@releaseDomain" ...),
 * until it returns non-zero: > 0 gives 0, < 0 gives that error.
 * -ETIMEDOUT once `timeout_ms` has passed with check() still 0.  check
 * runs on the calling thread and may use `xs`.
 */
typedef int xsim_check_fn(void *arg);
int xsim_wait(struct xstore *xs, const char *const *paths, size_t npaths,
              xsim_check_fn *check, void *arg, unsigned long timeout_ms);

/* device.c */
int cmd_device_add(const struct ctx *x, int argc, char **argv);
int cmd_device_remove(const struct ctx *x, int argc, char **argv);
int cmd_device_list(const struct ctx *x, int argc, char **argv);
/*
 * device_backends_remove - remove the backend directories that serve
 * domain `domid` (/local/domain/<B>/backend/<type>/<domid>) in dom0 and
 * in every backend domain B that libxl's copy of its devices names
 * (/libxl/<domid>/device/...), in one transaction (retried on EAGAIN).
 * Call it before the home nodes go: they take libxl's copy.  A driver
 * domain's backend with no such record stays, as with libxl.
 * 0 or -errno.
 */
int device_backends_remove(struct xstore *xs, unsigned int domid);

/* suspend.c */
int cmd_suspend(const struct ctx *x, int argc, char **argv);
int cmd_resume(const struct ctx *x, int argc, char **argv);

/* mux.c */
/* mux_answers - does a multiplexer accept connections on dom<D>/xenbus? */
bool mux_answers(const struct ctx *x, unsigned int domid);
/*
 * mux_find - the xsmux binary next to this xsim (/proc/self/exe's
 * directory) into buf; -ENOENT (buf still names the path looked at) if
 * it is not there or not executable.
 */
int mux_find(char *buf, size_t size);
/*
 * mux_start - run `bin` --dir DIR --domid D and wait (at most `secs`)
 * until it has daemonised with its socket listening.  Its messages go
 * to dom<D>/xsmux.log.  0 or -errno (reported on stderr).
 */
int mux_start(const struct ctx *x, const char *bin, unsigned int domid,
              unsigned long secs);
/*
 * mux_stop_prepare - before domain `domid`'s directory goes: a pidfd of
 * its multiplexer (from dom<D>/xenbus.pid, checked to be xsmux serving
 * that domain), or -1 if none runs.
 */
int mux_stop_prepare(const struct ctx *x, unsigned int domid);
/*
 * mux_stop - wait briefly for that multiplexer to leave by itself (it
 * does when its domain dies), else terminate it; closes `pidfd`.
 */
void mux_stop(int pidfd);
/* mux_log_remove - remove domain `domid`'s multiplexer log, if any. */
void mux_log_remove(const struct ctx *x, unsigned int domid);

#endif
