/*
 * xsd.h - run the daemon under test from a C test: a private run
 * directory, `xstored --rundir DIR --foreground` as a child, and its
 * socket path.  The daemon binary is $XSTORED, else the xstored next to
 * the test's build directory (build/<V>/tests/test_x -> build/<V>/xstored).
 * Not thread-safe: call from the test's main thread.
 */
#ifndef XSTORE_TESTS_XSD_H
#define XSTORE_TESTS_XSD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct xsd {
	pid_t pid;
	char dir[256];           /* the run directory (removed by xsd_stop) */
	char socket[300];        /* dir/socket */
	char spec[310];          /* "unix:" socket */
	const char *const *args; /* extra daemon arguments (caller's) */
	char sim[270];           /* dir/sim with xsd_start_sim, else "" */
	char platform[280];      /* "sim:" sim */
};

/*
 * xsd_start - start a daemon in a new temporary directory and wait (up
 * to 10 s) until its socket answers.  `args` (NULL-terminated, may be
 * NULL) are extra daemon arguments; they must outlive the daemon.
 * Returns 0 or -errno (with the reason printed).
 */
int xsd_start(struct xsd *d, const char *const *args);

/*
 * xsd_start_sim - xsd_start on a simulated platform (--platform
 * sim:DIR/sim), so that domains can be made with xsd_xsim().
 */
int xsd_start_sim(struct xsd *d);

/*
 * xsd_xsim - run the toolstack on this daemon's sim: "xsim --dir SIM
 * --socket SOCKET args..." (args NULL-terminated); its exit status, or
 * -errno.  Output goes to DIR/xsim.log.
 */
int xsd_xsim(struct xsd *d, const char *const *args);

/* xsd_stop - SIGTERM, wait, remove the directory; its exit status. */
int xsd_stop(struct xsd *d);

/* xsd_kill - SIGKILL without cleanup of the directory (restart tests). */
void xsd_kill(struct xsd *d);

/* xsd_restart - start a daemon again on the same directory. */
int xsd_restart(struct xsd *d);

/* xsd_binary - the path of a sibling program of the tests ("xstore"). */
const char *xsd_binary(const char *name, char *buf, size_t size);

#endif
