/*
 * guest.c - xsguest-c: a simulated guest for the integration tests.  It
 * connects to the daemon as domain D over its shared ring (libxstore's
 * "ring:D:SIMDIR" transport, the sim's page and event channel), runs a
 * workload that touches every kind of request a guest makes, checks every
 * answer, and exits 0 ("ok ...") or 1 ("FAIL ...: what").
 *
 *   xsguest-c --dir SIMDIR --domid D [--rounds N] [--peer P] [--hold S]
 *
 * Workload (paths relative to /local/domain/D unless absolute):
 *   1. GET_DOMAIN_PATH D
 *   2. N writes data/c/k<i> (relative), read back through the absolute path
 *   3. DIRECTORY data/c has the N children
 *   4. a watch on data/c/w (relative: events come relative); a write below
 *      it is seen within 5 s
 *   5. N transactions incrementing data/c/n (retried on EAGAIN)
 *   6. permissions: /tool/xenstored and, with --peer, /local/domain/P/name
 *      are not readable (EACCES); SET_PERMS of an own node works, giving it
 *      away to dom0 does not (EPERM)
 *   7. RM data/c, which is then gone
 * --hold S: sleep S seconds after step 4 (so that several guests overlap).
 * Run several at once, each as its own domain.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xstore/xstore.h"

static unsigned int domid;

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL dom%u: ", domid);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* What the watch callback saw. */
struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int events;
	bool saw_target;
	char target[128];
};

static void on_event(struct xstore *h, struct xstore_watch *w, const char *path,
                     unsigned int flags, void *arg)
{
	struct seen *s = arg;

	(void)h;
	(void)w;
	(void)flags;
	pthread_mutex_lock(&s->lock);
	s->events++;
	if (!strcmp(path, s->target))
		s->saw_target = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static bool wait_target(struct seen *s, int secs)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += secs;
	pthread_mutex_lock(&s->lock);
	while (!s->saw_target &&
	       pthread_cond_timedwait(&s->cond, &s->lock, &until) == 0)
		;
	ok = s->saw_target;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static int read_str(struct xstore *h, xstore_txn_t t, const char *path,
                    char **out)
{
	return xstore_read(h, t, path, out, NULL);
}

static int workload(struct xstore *h, unsigned int rounds, int peer,
                    unsigned int hold)
{
	char path[256], want[64], *v = NULL, **names = NULL;
	struct seen seen = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                    0, false, "data/c/w/x"};
	struct xstore_watch *w = NULL;
	struct xstore_perm *perms = NULL;
	unsigned int n, count = 0;
	int err;

	/* 1 */
	err = xstore_get_domain_path(h, domid, &v);
	snprintf(want, sizeof(want), "/local/domain/%u", domid);
	if (err || strcmp(v, want))
		return fail("GET_DOMAIN_PATH: %s (%s)", strerror(-err),
		            v ? v : "-");
	free(v);

	/* 2 */
	for (unsigned int i = 0; i < rounds; i++) {
		snprintf(path, sizeof(path), "data/c/k%u", i);
		snprintf(want, sizeof(want), "v%u-%u", domid, i);
		err = xstore_write_str(h, XSTORE_TXN_NONE, path, want);
		if (err)
			return fail("WRITE %s: %s", path, strerror(-err));
	}
	for (unsigned int i = 0; i < rounds; i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/data/c/k%u",
		         domid, i);
		snprintf(want, sizeof(want), "v%u-%u", domid, i);
		err = read_str(h, XSTORE_TXN_NONE, path, &v);
		if (err || strcmp(v, want))
			return fail("READ %s: %s (%s)", path, strerror(-err),
			            err ? "-" : v);
		free(v);
	}

	/* 3 */
	err = xstore_directory(h, XSTORE_TXN_NONE, "data/c", &names, &n);
	if (err || n != rounds)
		return fail("DIRECTORY data/c: %s, %u children, want %u",
		            strerror(-err), err ? 0 : n, rounds);
	free(names);

	/* 4 */
	err = xstore_watch_add(h, "data/c/w", -1, on_event, &seen, &w);
	if (err)
		return fail("WATCH data/c/w: %s", strerror(-err));
	err = xstore_write_str(h, XSTORE_TXN_NONE, "data/c/w/x", "1");
	if (err)
		return fail("WRITE data/c/w/x: %s", strerror(-err));
	if (!wait_target(&seen, 10))
		return fail("no watch event for data/c/w/x (%u events)",
		            seen.events);
	if (hold)
		sleep(hold);

	/* 5 */
	for (unsigned int i = 0; i < rounds; i++) {
		xstore_txn_t t;
		unsigned long cur;

		for (;;) {
			err = xstore_txn_start(h, &t);
			if (err)
				return fail("TRANSACTION_START: %s",
				            strerror(-err));
			err = read_str(h, t, "data/c/n", &v);
			cur = err ? 0 : strtoul(v, NULL, 10);
			if (!err)
				free(v);
			if (err && err != -ENOENT)
				return fail("READ data/c/n in tx: %s",
				            strerror(-err));
			err = xstore_printf(h, t, "data/c/n", "%lu", cur + 1);
			if (err)
				return fail("WRITE data/c/n in tx: %s",
				            strerror(-err));
			err = xstore_txn_end(h, t, true);
			if (err != -EAGAIN)
				break;
		}
		if (err)
			return fail("TRANSACTION_END: %s", strerror(-err));
	}
	err = xstore_scanf(h, XSTORE_TXN_NONE, "data/c/n", NULL, "%u", &count);
	if (err || count != rounds)
		return fail("data/c/n: %s, %u, want %u", strerror(-err), count,
		            rounds);

	/* 6 */
	err = read_str(h, XSTORE_TXN_NONE, "/tool/xenstored", &v);
	if (err != -EACCES)
		return fail("READ /tool/xenstored: %s, want EACCES",
		            err ? strerror(-err) : "allowed");
	if (peer >= 0) {
		snprintf(path, sizeof(path), "/local/domain/%d/name", peer);
		err = read_str(h, XSTORE_TXN_NONE, path, &v);
		if (err != -EACCES)
			return fail("READ %s: %s, want EACCES", path,
			            err ? strerror(-err) : "allowed");
	}
	{
		struct xstore_perm p[2] = {{domid, XS_PERM_NONE},
		                           {0, XS_PERM_READ}};
		struct xstore_perm give[1] = {{0, XS_PERM_NONE}};

		err = xstore_set_perms(h, XSTORE_TXN_NONE, "data/c/k0", p, 2);
		if (err)
			return fail("SET_PERMS data/c/k0: %s", strerror(-err));
		err = xstore_get_perms(h, XSTORE_TXN_NONE, "data/c/k0", &perms,
		                       &n);
		if (err || n != 2 || perms[0].domid != domid ||
		    perms[0].access != XS_PERM_NONE || perms[1].domid != 0 ||
		    perms[1].access != XS_PERM_READ)
			return fail("GET_PERMS data/c/k0: %s, %u entries",
			            strerror(-err), err ? 0 : n);
		free(perms);
		err =
		    xstore_set_perms(h, XSTORE_TXN_NONE, "data/c/k0", give, 1);
		if (err != -EPERM)
			return fail("SET_PERMS giving data/c/k0 to dom0: %s, "
			            "want EPERM",
			            err ? strerror(-err) : "allowed");
	}

	/* 7 */
	err = xstore_watch_remove(h, w);
	if (err)
		return fail("UNWATCH: %s", strerror(-err));
	err = xstore_rm(h, XSTORE_TXN_NONE, "data/c");
	if (err)
		return fail("RM data/c: %s", strerror(-err));
	err = xstore_exists(h, XSTORE_TXN_NONE, "data/c");
	if (err != 0)
		return fail("data/c after RM: %d", err);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"domid", required_argument, NULL, 'D'},
	    {"rounds", required_argument, NULL, 'n'},
	    {"peer", required_argument, NULL, 'p'},
	    {"hold", required_argument, NULL, 'H'},
	    {NULL, 0, NULL, 0}};
	const char *dir = NULL;
	unsigned int rounds = 20, hold = 0;
	int peer = -1, c, err, rc;
	char spec[4200];
	struct xstore *h;

	domid = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'D':
			domid = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			rounds = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			peer = (int)strtol(optarg, NULL, 10);
			break;
		case 'H':
			hold = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (!dir || domid == 0 || rounds == 0 || optind != argc)
		goto usage;
	snprintf(spec, sizeof(spec), "ring:%u:%s", domid, dir);
	err = xstore_open(spec, 0, &h);
	if (err)
		return fail("xstore_open %s: %s", spec, strerror(-err));
	if (strcmp(xstore_transport(h), "ring")) {
		xstore_close(h);
		return fail("transport %s, want ring", xstore_transport(h));
	}
	rc = workload(h, rounds, peer, hold);
	xstore_close(h);
	if (!rc)
		printf("ok dom%u: %u rounds\n", domid, rounds);
	return rc;
usage:
	fprintf(stderr, "usage: xsguest-c --dir SIMDIR --domid D [--rounds N] "
	                "[--peer P] [--hold SECONDS]\n");
	return 2;
}
