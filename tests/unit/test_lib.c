/*
 * test_lib.c - libxstore against the real daemon, over both transports:
 * a unix socket (as dom0) and the shared ring of a simulated guest
 * (domain GUEST, made by xsim).  Every API function and its errors,
 * watches, suspend/resume and reconnection.  One daemon (on a sim) for
 * the whole binary.  Tests use relative paths, so that the same test
 * runs under /local/domain/0 (socket) and /local/domain/GUEST (ring); a
 * second party, when one is needed, is a dom0 socket connection using
 * the absolute path (abs_of).  A test named *_unix or *_ring runs over
 * that transport only.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/check.h"
#include "tests/support/xsd.h"
#include "xstore/xstore.h"

#define GUEST 7

enum transport { TR_UNIX, TR_RING };

static struct xsd daemon_;
static bool has_daemon, has_guest;
static enum transport tr;
static char abs_buf[4][256];
static unsigned int abs_next;

static void stop_daemon(void)
{
	if (has_daemon)
		xsd_stop(&daemon_);
}

static bool ensure_daemon(void)
{
	if (!has_daemon) {
		if (xsd_start_sim(&daemon_))
			return false;
		has_daemon = true;
		atexit(stop_daemon);
	}
	return true;
}

static bool ensure_guest(void)
{
	/* --no-mux: the test's handles own the rings. */
	static const char *const create[] = {"create", "7", "--no-mux", NULL};
	/* A second domain, for permissions naming a domain that exists. */
	static const char *const other[] = {"create", "8", "--no-mux", NULL};

	if (!ensure_daemon())
		return false;
	if (!has_guest) {
		int st = xsd_xsim(&daemon_, create);

		if (!st)
			st = xsd_xsim(&daemon_, other);

		if (st) {
			printf("xsim create %d: status %d (see %s/xsim.log)\n",
			       GUEST, st, daemon_.dir);
			return false;
		}
		has_guest = true;
	}
	return true;
}

/*
 * Handles a test opened and has not closed: a failed CHECK returns early,
 * and a ring handle left open would fight the next test's for the ring.
 * The per-transport wrappers close what is left.
 */
static struct xstore *open_handles[16];

static struct xstore *track(struct xstore *h)
{
	for (size_t i = 0; h && i < 16; i++) {
		if (!open_handles[i]) {
			open_handles[i] = h;
			break;
		}
	}
	return h;
}

static void put(struct xstore *h)
{
	for (size_t i = 0; h && i < 16; i++)
		if (open_handles[i] == h)
			open_handles[i] = NULL;
	xstore_close(h);
}

static void put_all(void)
{
	for (size_t i = 0; i < 16; i++) {
		xstore_close(open_handles[i]);
		open_handles[i] = NULL;
	}
}

/* A dom0 connection over the socket, whatever the transport under test. */
static struct xstore *dom0(void)
{
	struct xstore *h = NULL;
	int err;

	if (!ensure_daemon())
		return NULL;
	err = xstore_open(daemon_.spec, 0, &h);
	if (err)
		printf("xstore_open(%s): %s\n", daemon_.spec, strerror(-err));
	return track(h);
}

/* A connection over the transport under test. */
static struct xstore *conn(void)
{
	struct xstore *h = NULL;
	char spec[512];
	int err;

	if (tr == TR_UNIX)
		return dom0();
	if (!ensure_guest())
		return NULL;
	snprintf(spec, sizeof(spec), "ring:%d:%s", GUEST, daemon_.sim);
	err = xstore_open(spec, 0, &h);
	if (err)
		printf("xstore_open(%s): %s\n", spec, strerror(-err));
	return track(h);
}

/* Our domain: 0 over the socket, GUEST over the ring. */
static unsigned int self(void)
{
	return tr == TR_RING ? GUEST : 0;
}

/* The absolute form of a relative path (a few may be live at once). */
static const char *abs_of(const char *rel)
{
	char *b = abs_buf[abs_next++ % 4];

	snprintf(b, sizeof(abs_buf[0]), "/local/domain/%u/%s", self(), rel);
	return b;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- connections ---- */

static void test_open_errors(void)
{
	struct xstore *h = NULL;
	char buf[8];

	CHECK_EQ_INT(xstore_open("unix:/nonexistent/socket", 0, &h), -ENOENT);
	CHECK_EQ_INT(xstore_open("ring:abc", 0, &h), -EINVAL);
	CHECK_EQ_INT(xstore_open("ring:70000", 0, &h), -EINVAL);
	CHECK_EQ_INT(xstore_open("ring:5x", 0, &h), -EINVAL);
	CHECK_EQ_INT(xstore_open("unix:", 0, &h), -EINVAL);
	CHECK_EQ_INT(xstore_open(NULL, 0x80, &h), -EINVAL);
	CHECK(h == NULL);
	CHECK_EQ_INT(xstore_default_path(0, buf, sizeof(buf)), -ENAMETOOLONG);
	put(NULL);
}

static void test_ring_open(void)
{
	struct xstore *h = NULL;
	char spec[512];

	CHECK(ensure_guest());
	/* No such domain in the sim; no sim at all. */
	snprintf(spec, sizeof(spec), "ring:%d:%s", GUEST + 2, daemon_.sim);
	CHECK(xstore_open(spec, 0, &h) < 0);
	CHECK(xstore_open("ring:7:/nonexistent/sim", 0, &h) < 0);
	CHECK(h == NULL);
	h = conn();
	CHECK(h != NULL);
	CHECK_EQ_STR(xstore_transport(h), "ring");
	put(h);
}

static void test_default_path(void)
{
	char buf[512];
	struct xstore *h;

	CHECK(ensure_daemon());
	setenv("XENSTORED_PATH", daemon_.socket, 1);
	CHECK_EQ_INT(xstore_default_path(0, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, daemon_.socket);
	CHECK_EQ_INT(xstore_open(NULL, 0, &h), 0);
	CHECK_EQ_STR(xstore_transport(h), "unix");
	put(h);
	CHECK_EQ_INT(xstore_open(daemon_.socket, 0, &h), 0);
	put(h);
	unsetenv("XENSTORED_PATH");
	setenv("XENSTORED_RUNDIR", "/some/dir", 1);
	CHECK_EQ_INT(
	    xstore_default_path(XSTORE_OPEN_READONLY, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "/some/dir/socket_ro");
	CHECK_EQ_INT(xstore_default_path(0, buf, sizeof(buf)), 0);
	CHECK_EQ_STR(buf, "/some/dir/socket");
	unsetenv("XENSTORED_RUNDIR");
}

/* ---- nodes ---- */

static void test_read_write(void)
{
	struct xstore *h = conn(), *o = dom0();
	char *v = NULL;
	size_t len = 99;
	static const char bin[] = {'a', 0, 'b', 0};

	CHECK(h != NULL && o != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/rw/a", "hello"), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/rw/a", &v, &len), 0);
	CHECK_EQ_STR(v, "hello");
	CHECK_EQ_UINT(len, 5);
	free(v);
	/* The same node by its absolute path, from dom0. */
	CHECK_EQ_INT(xstore_read(o, 0, abs_of("data/t/rw/a"), &v, NULL), 0);
	CHECK_EQ_STR(v, "hello");
	free(v);
	CHECK_EQ_INT(xstore_read(h, 0, abs_of("data/t/rw/a"), &v, NULL), 0);
	CHECK_EQ_STR(v, "hello");
	free(v);
	/* Values are bytes, nuls included; a nul is added after them. */
	CHECK_EQ_INT(xstore_write(h, 0, "data/t/rw/bin", bin, sizeof(bin)), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/rw/bin", &v, &len), 0);
	CHECK_EQ_UINT(len, 4);
	CHECK_EQ_MEM(v, bin, 4);
	CHECK_EQ_INT(v[4], 0);
	free(v);
	/* An empty value. */
	CHECK_EQ_INT(xstore_write(h, 0, "data/t/rw/empty", NULL, 0), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/rw/empty", &v, &len), 0);
	CHECK_EQ_UINT(len, 0);
	CHECK_EQ_STR(v, "");
	free(v);
	/* Errors as errno values; out-pointers untouched. */
	v = (char *)0x1;
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/rw/none", &v, NULL), -ENOENT);
	CHECK(v == (char *)0x1);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t//bad", &v, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/bad/", "x"), -EINVAL);
	CHECK_EQ_INT(xstore_read(h, 0, NULL, &v, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/rw/a", NULL, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_write(h, 0, "data/t/rw/a", NULL, 3), -EINVAL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/rw/a", NULL), -EINVAL);
	/* A transaction that does not exist. */
	CHECK_EQ_INT(xstore_read(h, 12345, "data/t/rw/a", &v, NULL), -ENOENT);
	put(h);
	put(o);
}

static void test_access(void)
{
	struct xstore *h = conn();
	char *v;

	CHECK(h != NULL);
	/* A guest may not read dom0's nodes, nor write outside its home. */
	CHECK_EQ_INT(xstore_read(h, 0, "/tool/xenstored", &v, NULL), -EACCES);
	CHECK_EQ_INT(xstore_write_str(h, 0, "/test-guest", "x"), -EACCES);
	CHECK_EQ_INT(xstore_exists(h, 0, "/tool"), -EACCES);
	put(h);
}

static void test_payload_limit(void)
{
	struct xstore *h = conn();
	char *big = malloc(5000), *v;
	char path[] = "data/t/limit/x";
	size_t room = XS_PAYLOAD_MAX - sizeof(path), len;

	CHECK(h != NULL && big != NULL);
	memset(big, 'v', 5000);
	/* Refused before sending: the daemon would drop the connection. */
	CHECK_EQ_INT(xstore_write(h, 0, path, big, room + 1), -E2BIG);
	CHECK_EQ_INT(xstore_write(h, 0, path, big, 5000), -E2BIG);
	/*
	 * Exactly the limit goes out, and the connection is still fine (a
	 * guest's node-size quota refuses it: ENOSPC).
	 */
	if (tr == TR_RING) {
		CHECK_EQ_INT(xstore_write(h, 0, path, big, room), -ENOSPC);
		room = 1000;
	}
	CHECK_EQ_INT(xstore_write(h, 0, path, big, room), 0);
	CHECK_EQ_INT(xstore_read(h, 0, path, &v, &len), 0);
	CHECK_EQ_UINT(len, room);
	free(v);
	free(big);
	put(h);
}

static void test_mkdir_rm_exists(void)
{
	struct xstore *h = conn();
	char *v;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/mk/a/b"), 0);
	CHECK_EQ_INT(xstore_mkdir(h, 0, "data/t/mk/a/b"), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/mk/a/b"), 1);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/mk/a"), 1);
	/* mkdir keeps an existing value. */
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/mk/a", "val"), 0);
	CHECK_EQ_INT(xstore_mkdir(h, 0, "data/t/mk/a"), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/mk/a", &v, NULL), 0);
	CHECK_EQ_STR(v, "val");
	free(v);
	CHECK_EQ_INT(xstore_rm(h, 0, "data/t/mk/a"), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/mk/a/b"), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/mk/a"), 0);
	/* Removing a missing node is fine; with a missing parent, not. */
	CHECK_EQ_INT(xstore_rm(h, 0, "data/t/mk/a"), 0);
	CHECK_EQ_INT(xstore_rm(h, 0, "data/t/mk/x/y"), -ENOENT);
	CHECK_EQ_INT(xstore_exists(h, 0, "bad//"), -EINVAL);
	CHECK_EQ_INT(xstore_mkdir(h, 0, NULL), -EINVAL);
	put(h);
}

static void test_directory(void)
{
	struct xstore *h = conn();
	char **d;
	unsigned int n = 99;
	int seen = 0;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/dir/b", "1"), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/dir/a", "2"), 0);
	CHECK_EQ_INT(xstore_mkdir(h, 0, "data/t/dir/c/d"), 0);
	CHECK_EQ_INT(xstore_directory(h, 0, "data/t/dir", &d, &n), 0);
	CHECK_EQ_UINT(n, 3);
	CHECK(d[3] == NULL);
	/* Order is the daemon's; look for each. */
	for (unsigned int i = 0; i < n; i++)
		seen |= !strcmp(d[i], "a")   ? 1
		        : !strcmp(d[i], "b") ? 2
		        : !strcmp(d[i], "c") ? 4
		                             : 8;
	CHECK_EQ_INT(seen, 7);
	free(d);
	CHECK_EQ_INT(xstore_directory(h, 0, "data/t/dir/a", &d, NULL), 0);
	CHECK(d[0] == NULL);
	free(d);
	CHECK_EQ_INT(xstore_directory(h, 0, "data/t/dir/none", &d, &n),
	             -ENOENT);
	CHECK_EQ_INT(xstore_directory(h, 0, "data/t/dir", NULL, &n), -EINVAL);
	put(h);
}

/* More children than one reply holds: DIRECTORY_PART. */
static void test_directory_large(void)
{
	struct xstore *h = conn(), *o = dom0();
	uint64_t q = 0;
	char path[128], **d;
	unsigned int n, i;
	bool seen[300] = {false};
	xstore_txn_t t;

	CHECK(h != NULL && o != NULL);
	/* A guest's node (its child list included) is kept small by quota. */
	if (tr == TR_RING) {
		CHECK_EQ_INT(xstore_get_quota(o, GUEST, "node-size", &q), 0);
		CHECK_EQ_INT(xstore_set_quota(o, GUEST, "node-size", 16384), 0);
	}
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	for (i = 0; i < 300; i++) {
		snprintf(path, sizeof(path),
		         "data/t/big/child-with-a-long-name-%04u", i);
		CHECK_EQ_INT(xstore_write_str(h, t, path, ""), 0);
	}
	CHECK_EQ_INT(xstore_txn_end(h, t, true), 0);
	CHECK_EQ_INT(xstore_directory(h, 0, "data/t/big", &d, &n), 0);
	CHECK_EQ_UINT(n, 300);
	for (i = 0; i < n; i++) {
		unsigned int k;

		CHECK_EQ_INT(sscanf(d[i], "child-with-a-long-name-%u", &k), 1);
		CHECK(k < 300 && !seen[k]);
		seen[k] = true;
	}
	CHECK(d[n] == NULL);
	free(d);
	CHECK_EQ_INT(xstore_rm(h, 0, "data/t/big"), 0);
	if (tr == TR_RING)
		CHECK_EQ_INT(xstore_set_quota(o, GUEST, "node-size", q), 0);
	put(h);
	put(o);
}

static void test_rm_tree(void)
{
	struct xstore *h = conn();
	xstore_txn_t t;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/tree/a/b/c", "1"), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/tree/a/b/d", "2"), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/tree/a/e", "3"), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/tree/keep", "4"), 0);
	CHECK_EQ_INT(xstore_rm_tree(h, 0, "data/t/tree/a"), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/tree/a"), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/tree/keep"), 1);
	CHECK_EQ_INT(xstore_rm_tree(h, 0, "data/t/tree/a"), -ENOENT);
	/* Inside the caller's transaction. */
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/tree/x/y", "1"), 0);
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_INT(xstore_rm_tree(h, t, "data/t/tree/x"), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/tree/x/y"), 1);
	CHECK_EQ_INT(xstore_txn_end(h, t, true), 0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/tree/x"), 0);
	put(h);
}

/* rm_tree retries its own transaction when a writer gets in between. */
struct rm_race {
	struct xstore *h;
	atomic_bool stop;
	atomic_int writes;
	char base[256];
};

static void *rm_race_writer(void *arg)
{
	struct rm_race *r = arg;
	char path[320];

	/* Bounded: optimistic transactions may lose while writers go on. */
	for (int i = 0; i < 300 && !atomic_load(&r->stop); i++) {
		snprintf(path, sizeof(path), "%s/n%d/a/b", r->base, i % 50);
		if (xstore_write_str(r->h, 0, path, "x") == 0)
			atomic_fetch_add(&r->writes, 1);
	}
	return NULL;
}

static void test_rm_tree_retry(void)
{
	struct rm_race r = {.h = dom0()};
	struct xstore *h = conn();
	pthread_t th;
	char path[64];
	int err;

	CHECK(h != NULL && r.h != NULL);
	snprintf(r.base, sizeof(r.base), "%s", abs_of("data/t/rmrace"));
	for (int i = 0; i < 50; i++) {
		snprintf(path, sizeof(path), "data/t/rmrace/n%d/a/b", i);
		CHECK_EQ_INT(xstore_write_str(h, 0, path, "x"), 0);
	}
	pthread_create(&th, NULL, rm_race_writer, &r);
	while (atomic_load(&r.writes) < 10)
		sleep_ms(1);
	/* Succeeds despite the conflicts (its commit may fail and retry). */
	err = xstore_rm_tree(h, 0, "data/t/rmrace");
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	CHECK_EQ_INT(err, 0);
	CHECK_EQ_INT(xstore_rm(h, 0, "data/t/rmrace"), 0);
	put(r.h);
	put(h);
}

/* ---- transactions ---- */

static void test_transactions(void)
{
	struct xstore *h = conn(), *o = dom0();
	xstore_txn_t t, t2;
	const char *a = "data/t/txn/a";
	char *v;

	CHECK(h != NULL && o != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, a, "0"), 0);
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK(t != XSTORE_TXN_NONE);
	CHECK_EQ_INT(xstore_write_str(h, t, a, "1"), 0);
	CHECK_EQ_INT(xstore_read(h, t, a, &v, NULL), 0);
	CHECK_EQ_STR(v, "1");
	free(v);
	/* Others do not see it before the commit. */
	CHECK_EQ_INT(xstore_read(o, 0, abs_of(a), &v, NULL), 0);
	CHECK_EQ_STR(v, "0");
	free(v);
	CHECK_EQ_INT(xstore_txn_end(h, t, true), 0);
	CHECK_EQ_INT(xstore_read(o, 0, abs_of(a), &v, NULL), 0);
	CHECK_EQ_STR(v, "1");
	free(v);
	/* Abort. */
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_INT(xstore_write_str(h, t, a, "2"), 0);
	CHECK_EQ_INT(xstore_txn_end(h, t, false), 0);
	CHECK_EQ_INT(xstore_read(o, 0, abs_of(a), &v, NULL), 0);
	CHECK_EQ_STR(v, "1");
	free(v);
	/* A conflict: EAGAIN. */
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_INT(xstore_txn_start(o, &t2), 0);
	CHECK_EQ_INT(xstore_read(h, t, a, &v, NULL), 0);
	free(v);
	CHECK_EQ_INT(xstore_write_str(h, t, a, "h"), 0);
	CHECK_EQ_INT(xstore_read(o, t2, abs_of(a), &v, NULL), 0);
	free(v);
	CHECK_EQ_INT(xstore_write_str(o, t2, abs_of(a), "o"), 0);
	CHECK_EQ_INT(xstore_txn_end(o, t2, true), 0);
	CHECK_EQ_INT(xstore_txn_end(h, t, true), -EAGAIN);
	/* Ended: its id is gone. */
	CHECK_EQ_INT(xstore_txn_end(h, t, true), -ENOENT);
	CHECK_EQ_INT(xstore_txn_end(h, XSTORE_TXN_NONE, true), -EINVAL);
	CHECK_EQ_INT(xstore_txn_start(h, NULL), -EINVAL);
	/* Still usable for suspend: no transaction is counted open. */
	CHECK_EQ_INT(xstore_suspend(h), 0);
	CHECK_EQ_INT(xstore_resume(h), 0);
	put(h);
	put(o);
}

/* ---- helpers ---- */

static void test_helpers(void)
{
	struct xstore *h = conn();
	int a = 0, b = 0, count = 0;
	char *s = NULL, *j;
	unsigned int u = 0;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_printf(h, 0, "data/t/fmt/pair", "%d:%d", 12, 34),
	             0);
	CHECK_EQ_INT(
	    xstore_scanf(h, 0, "data/t/fmt/pair", &count, "%d:%d", &a, &b), 0);
	CHECK_EQ_INT(count, 2);
	CHECK_EQ_INT(a, 12);
	CHECK_EQ_INT(b, 34);
	CHECK_EQ_INT(xstore_scanf(h, 0, "data/t/fmt/pair", NULL, "x%d", &a),
	             -ERANGE);
	CHECK_EQ_INT(xstore_scanf(h, 0, "data/t/fmt/none", NULL, "%d", &a),
	             -ENOENT);
	CHECK_EQ_INT(xstore_printf(h, 0, "data/t/fmt/ring-ref", "%u", 8u), 0);
	CHECK_EQ_INT(xstore_printf(h, 0, "data/t/fmt/proto", "x86_64-abi"), 0);
	CHECK_EQ_INT(xstore_printf(h, 0, "data/t/fmt/big", "%5000s", ""),
	             -E2BIG);
	CHECK_EQ_INT(xstore_gather(h, 0, "data/t/fmt", "ring-ref", "%u", &u,
	                           "proto", (char *)NULL, &s, (char *)NULL),
	             0);
	CHECK_EQ_UINT(u, 8);
	CHECK_EQ_STR(s, "x86_64-abi");
	free(s);
	CHECK_EQ_INT(
	    xstore_gather(h, 0, "data/t/fmt", "proto", "%u", &u, (char *)NULL),
	    -EINVAL);
	CHECK_EQ_INT(
	    xstore_gather(h, 0, "data/t/fmt", "nope", "%u", &u, (char *)NULL),
	    -ENOENT);
	j = xstore_join("/a/b", "c");
	CHECK_EQ_STR(j, "/a/b/c");
	free(j);
	j = xstore_join("/a/b", "");
	CHECK_EQ_STR(j, "/a/b");
	free(j);
	j = xstore_join("/a", NULL);
	CHECK_EQ_STR(j, "/a");
	free(j);
	CHECK(xstore_join(NULL, "x") == NULL);
	put(h);
}

/* ---- permissions ---- */

static void test_perms(void)
{
	struct xstore *h = conn();
	/* Entries must name domains that exist: the daemon drops others. */
	struct xstore_perm set[3] = {{self(), XS_PERM_NONE},
	                             {8, XS_PERM_READ},
	                             {tr == TR_RING ? 0 : GUEST, XS_PERM_BOTH}};
	struct xstore_perm *p, one;
	unsigned int n;
	char buf[XSTORE_PERM_STRLEN];

	CHECK(ensure_guest());
	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/perm/a", "x"), 0);
	CHECK_EQ_INT(xstore_get_perms(h, 0, "data/t/perm/a", &p, &n), 0);
	CHECK_EQ_UINT(n, 1);
	CHECK_EQ_UINT(p[0].domid, self());
	CHECK_EQ_UINT(p[0].access, XS_PERM_NONE);
	free(p);
	CHECK_EQ_INT(xstore_set_perms(h, 0, "data/t/perm/a", set, 3), 0);
	CHECK_EQ_INT(xstore_get_perms(h, 0, "data/t/perm/a", &p, &n), 0);
	CHECK_EQ_UINT(n, 3);
	for (unsigned int i = 0; i < 3; i++) {
		CHECK_EQ_UINT(p[i].domid, set[i].domid);
		CHECK_EQ_UINT(p[i].access, set[i].access);
	}
	free(p);
	CHECK_EQ_INT(xstore_set_perms(h, 0, "data/t/perm/a", set, 0), -EINVAL);
	one.domid = 70000;
	one.access = 1;
	CHECK_EQ_INT(xstore_set_perms(h, 0, "data/t/perm/a", &one, 1), -EINVAL);
	one.domid = 1;
	one.access = 4;
	CHECK_EQ_INT(xstore_set_perms(h, 0, "data/t/perm/a", &one, 1), -EINVAL);
	CHECK_EQ_INT(xstore_get_perms(h, 0, "data/t/perm/no", &p, &n), -ENOENT);
	CHECK_EQ_INT(xstore_set_perms(h, 0, "data/t/perm/no", set, 1), -ENOENT);
	/* Parsing and formatting. */
	CHECK_EQ_INT(xstore_perm_parse("w12", &one), 0);
	CHECK_EQ_UINT(one.domid, 12);
	CHECK_EQ_UINT(one.access, XS_PERM_WRITE);
	CHECK_EQ_STR(xstore_perm_format(&one, buf), "w12");
	CHECK_EQ_INT(xstore_perm_parse("x1", &one), -EINVAL);
	CHECK_EQ_INT(xstore_perm_parse("r", &one), -EINVAL);
	CHECK_EQ_INT(xstore_perm_parse("r65536", &one), -EINVAL);
	CHECK_EQ_INT(xstore_perm_parse("r1a", &one), -EINVAL);
	put(h);
}

static void test_perms_owner(void)
{
	struct xstore *h = conn();
	struct xstore_perm other = {8, XS_PERM_BOTH}, *p;
	unsigned int n;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/perm/own", "x"), 0);
	/* Only dom0 may give a node away. */
	CHECK_EQ_INT(xstore_set_perms(h, 0, "data/t/perm/own", &other, 1),
	             -EPERM);
	CHECK_EQ_INT(xstore_get_perms(h, 0, "data/t/perm/own", &p, &n), 0);
	CHECK_EQ_UINT(p[0].domid, GUEST);
	free(p);
	put(h);
}

static void test_perms_special(void)
{
	struct xstore *h = conn();
	struct xstore_perm *p;
	unsigned int n;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_get_perms(h, 0, "@releaseDomain", &p, &n), 0);
	CHECK(n >= 1);
	free(p);
	put(h);
}

/* ---- watches ---- */

struct events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char paths[64][128];
	unsigned int flags[64];
	int n;
	pthread_mutex_t *gate; /* held by the test to stall the callback */
	int entered;           /* callbacks begun (before the gate) */
};

#define EVENTS_INIT                                                            \
	{                                                                      \
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}},    \
		    {0}, 0, NULL, 0                                            \
	}

static void record(struct xstore *h, struct xstore_watch *w, const char *path,
                   unsigned int flags, void *arg)
{
	struct events *e = arg;

	pthread_mutex_lock(&e->lock);
	e->entered++;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->gate) {
		pthread_mutex_lock(e->gate);
		pthread_mutex_unlock(e->gate);
	}
	pthread_mutex_lock(&e->lock);
	if (e->n < 64) {
		snprintf(e->paths[e->n], sizeof(e->paths[0]), "%s", path);
		e->flags[e->n] = flags;
	}
	e->n++;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

/* Wait until at least n events (10 s at most: a bound for a failing
 * run on a loaded machine, not a timing assumption); the count. */
static int wait_events(struct events *e, int n)
{
	struct timespec ts;
	int got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&e->lock);
	while (e->n < n && pthread_cond_timedwait(&e->cond, &e->lock, &ts) == 0)
		;
	got = e->n;
	pthread_mutex_unlock(&e->lock);
	return got;
}

/* Wait until n callbacks have begun (stalled at the gate, say). */
static int wait_entered(struct events *e, int n)
{
	struct timespec ts;
	int got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&e->lock);
	while (e->entered < n &&
	       pthread_cond_timedwait(&e->cond, &e->lock, &ts) == 0)
		;
	got = e->entered;
	pthread_mutex_unlock(&e->lock);
	return got;
}

/* Wait until the last event recorded is an overflow (10 s at most); the
 * count of events then. */
static int wait_overflow(struct events *e)
{
	struct timespec ts;
	int got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&e->lock);
	while (!(e->n > 0 && e->n <= 64 &&
	         e->flags[e->n - 1] == XSTORE_EVENT_OVERFLOW) &&
	       pthread_cond_timedwait(&e->cond, &e->lock, &ts) == 0)
		;
	got = e->n;
	pthread_mutex_unlock(&e->lock);
	return got;
}

/*
 * Node `i` of directory `dir`, absolute.  Floods write distinct nodes: the
 * daemon sends one event for identical ones still queued (as Xen does), so
 * writes of one node under load would arrive as fewer events.
 */
static const char *nth(const char *dir, int i)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "%s/n%d", dir, i);
	return abs_of(rel);
}

static int count_events(struct events *e)
{
	int n;

	pthread_mutex_lock(&e->lock);
	n = e->n;
	pthread_mutex_unlock(&e->lock);
	return n;
}

static void test_watch_basic(void)
{
	struct xstore *h = conn(), *o = dom0();
	struct events e = EVENTS_INIT;
	struct xstore_watch *w;

	CHECK(h != NULL && o != NULL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/w1", -1, record, &e, &w), 0);
	CHECK_EQ_STR(xstore_watch_path(w), "data/t/w1");
	/* The daemon fires once at registration. */
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	CHECK_EQ_STR(e.paths[0], "data/t/w1");
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/w1/a", "1"), 0);
	CHECK_EQ_INT(wait_events(&e, 2), 2);
	/* A relative watch gets relative paths. */
	CHECK_EQ_STR(e.paths[1], "data/t/w1/a");
	CHECK_EQ_UINT(e.flags[1], 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/other", "1"), 0);
	/* Someone else's change, by the absolute path. */
	CHECK_EQ_INT(xstore_write_str(o, 0, abs_of("data/t/w1/b"), "1"), 0);
	CHECK_EQ_INT(wait_events(&e, 3), 3);
	CHECK_EQ_STR(e.paths[2], "data/t/w1/b");
	CHECK_EQ_INT(xstore_watch_remove(h, w), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/w1/c", "1"), 0);
	sleep_ms(100);
	CHECK_EQ_INT(count_events(&e), 3);
	CHECK_EQ_INT(xstore_watch_add(h, "", -1, record, &e, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/x", -1, NULL, &e, NULL),
	             -EINVAL);
	CHECK_EQ_INT(xstore_watch_add(h, "bad//path", -1, record, &e, NULL),
	             -EINVAL);
	CHECK_EQ_INT(xstore_watch_remove(h, NULL), -EINVAL);
	put(h);
	put(o);
}

static void test_watch_depth(void)
{
	struct xstore *h = conn();
	struct events e = EVENTS_INIT;
	struct xstore_watch *w;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/wd", 1, record, &e, &w), 0);
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/wd/a/deep", "1"), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/wd/b", "1"), 0);
	CHECK_EQ_INT(wait_events(&e, 2), 2);
	/* Two levels down is out of reach: only b fires. */
	CHECK_EQ_STR(e.paths[1], "data/t/wd/b");
	sleep_ms(50);
	CHECK_EQ_INT(count_events(&e), 2);
	CHECK_EQ_INT(xstore_watch_remove(h, w), 0);
	put(h);
}

/* The special watches fire too (dom0 may always watch them). */
static void test_watch_special(void)
{
	struct xstore *h = conn();
	struct events e = EVENTS_INIT;

	CHECK(h != NULL);
	CHECK_EQ_INT(
	    xstore_watch_add(h, "@releaseDomain", -1, record, &e, NULL), 0);
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	CHECK_EQ_STR(e.paths[0], "@releaseDomain");
	/* Closing with the watch still registered frees it. */
	put(h);
}

struct remover {
	struct xstore *h;
	struct xstore_watch *w;
	int err;
};

static void *remover_main(void *arg)
{
	struct remover *r = arg;

	r->err = xstore_watch_remove(r->h, r->w);
	return NULL;
}

/* Removing a watch drops its queued events and waits out its callback. */
static void test_watch_cancel(void)
{
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct events e = EVENTS_INIT;
	struct xstore *h = conn();
	struct remover rm;
	pthread_t t;

	CHECK(h != NULL);
	e.gate = &gate;
	pthread_mutex_lock(&gate);
	rm.h = h;
	rm.err = 1;
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/wc", -1, record, &e, &rm.w),
	             0);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_INT(xstore_printf(h, 0, "data/t/wc/n", "%d", i), 0);
	/* The registration event is in its callback, stalled at the gate
	 * (else the remover could drop it too, and no callback would run). */
	CHECK_EQ_INT(wait_entered(&e, 1), 1);
	/* The remover drops the queue, then waits for the stalled callback. */
	pthread_create(&t, NULL, remover_main, &rm);
	sleep_ms(100);
	CHECK_EQ_INT(count_events(&e), 0);
	pthread_mutex_unlock(&gate);
	pthread_join(t, NULL);
	CHECK_EQ_INT(rm.err, 0);
	/* Exactly the one that was running when it was removed. */
	CHECK_EQ_INT(count_events(&e), 1);
	sleep_ms(100);
	CHECK_EQ_INT(count_events(&e), 1);
	put(h);
}

/* A callback removes another watch and its own. */
struct self_rm {
	struct xstore_watch *other;
	atomic_int calls;
	atomic_int err;
};

static void self_remover(struct xstore *h, struct xstore_watch *w,
                         const char *path, unsigned int flags, void *arg)
{
	struct self_rm *s = arg;
	int err = 0;

	atomic_fetch_add(&s->calls, 1);
	if (s->other) {
		err = xstore_watch_remove(h, s->other);
		s->other = NULL;
	}
	atomic_store(&s->err, err | xstore_watch_remove(h, w));
}

static void test_watch_self_remove(void)
{
	struct xstore *h = conn();
	struct self_rm s = {0};
	struct events e = EVENTS_INIT;
	struct xstore_watch *w;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/wo", -1, record, &e, &s.other),
	             0);
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/ws", -1, self_remover, &s, &w),
	             0);
	for (int i = 0; i < 300 && atomic_load(&s.calls) == 0; i++)
		sleep_ms(10);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/ws/a", "1"), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/wo/a", "1"), 0);
	sleep_ms(100);
	CHECK_EQ_INT(atomic_load(&s.calls), 1);
	CHECK_EQ_INT(atomic_load(&s.err), 0);
	CHECK_EQ_INT(count_events(&e), 1);
	put(h);
}

/* A flood of events is bounded, and the last state is not lost. */
static void test_watch_overflow(void)
{
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct events e = EVENTS_INIT;
	struct xstore *h = conn(), *o = dom0();
	struct xstore_watch *w;
	int n;

	CHECK(h != NULL && o != NULL);
	xstore_set_watch_queue_max(h, 4);
	e.gate = &gate;
	pthread_mutex_lock(&gate);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/wf", -1, record, &e, &w), 0);
	/* The watch's first event is in the callback, stalled at the gate,
	 * before the flood: were it still queued, the overflow would take
	 * its place too, and one event would be all there is to see. */
	CHECK_EQ_INT(wait_entered(&e, 1), 1);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(xstore_printf(o, 0, nth("data/t/wf", i), "%d", i),
		             0);
	/* All events are in (a round trip on h orders them). */
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/wf"), 1);
	pthread_mutex_unlock(&gate);
	/* Wait for the overflow event (a loaded machine may take its time),
	 * then a little longer: any event past the bound would come now. */
	for (int i = 0; i < 500; i++) {
		n = count_events(&e);
		if (n >= 2 && n <= 64 &&
		    e.flags[n - 1] == XSTORE_EVENT_OVERFLOW)
			break;
		sleep_ms(10);
	}
	sleep_ms(100);
	n = count_events(&e);
	/* At most: the one in the callback, the overflow event. */
	if (n < 2 || n > 5)
		printf("  %d events\n", n);
	CHECK(n >= 2 && n <= 5);
	CHECK_EQ_UINT(e.flags[n - 1], XSTORE_EVENT_OVERFLOW);
	CHECK_EQ_STR(e.paths[n - 1], "data/t/wf");
	/* After it, events queue normally again. */
	CHECK_EQ_INT(xstore_write_str(o, 0, abs_of("data/t/wf/last"), "1"), 0);
	CHECK_EQ_INT(wait_events(&e, n + 1), n + 1);
	CHECK_EQ_STR(e.paths[n], "data/t/wf/last");
	CHECK_EQ_UINT(e.flags[n], 0);
	CHECK_EQ_INT(xstore_watch_remove(h, w), 0);
	put(h);
	put(o);
}

/*
 * A bound on one watch (xstore_watch_set_queue_max) holds however large
 * the handle's is, and leaves the handle's other watches alone.
 */
static void test_watch_queue_max_one(void)
{
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct events e = EVENTS_INIT, f = EVENTS_INIT;
	struct xstore *h = conn(), *o = dom0();
	struct xstore_watch *w, *v;
	int n;

	CHECK(h != NULL && o != NULL);
	e.gate = &gate;
	pthread_mutex_lock(&gate);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/wq", -1, record, &e, &w), 0);
	xstore_watch_set_queue_max(w, 1);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/wr", -1, record, &f, &v), 0);
	/* w's first event is stalled in its callback; then the flood. */
	CHECK_EQ_INT(wait_entered(&e, 1), 1);
	for (int i = 0; i < 100; i++)
		CHECK_EQ_INT(xstore_printf(o, 0, nth("data/t/wq", i), "%d", i),
		             0);
	for (int i = 0; i < 20; i++)
		CHECK_EQ_INT(xstore_printf(o, 0, nth("data/t/wr", i), "%d", i),
		             0);
	CHECK_EQ_INT(xstore_exists(h, 0, "data/t/wr"), 1);
	pthread_mutex_unlock(&gate);
	CHECK_EQ_INT(wait_events(&f, 21), 21);
	n = wait_overflow(&e);
	/* The stalled first one, then one event queued: merged at once into
	 * the overflow.  A little longer: any event past the bound would
	 * come now. */
	sleep_ms(50);
	if (count_events(&e) != n || n != 2)
		printf("  %d events, then %d\n", n, count_events(&e));
	CHECK_EQ_INT(count_events(&e), 2);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_UINT(e.flags[n - 1], XSTORE_EVENT_OVERFLOW);
	CHECK_EQ_STR(e.paths[n - 1], "data/t/wq");
	/* The handle's bound (1024) still applies to v: nothing merged. */
	CHECK_EQ_INT(count_events(&f), 21);
	for (int i = 0; i < 21; i++)
		CHECK_EQ_UINT(f.flags[i], 0);
	/* 0: back to the handle's bound. */
	xstore_watch_set_queue_max(w, 0);
	CHECK_EQ_INT(xstore_write_str(o, 0, abs_of("data/t/wq/last"), "1"), 0);
	CHECK_EQ_INT(wait_events(&e, n + 1), n + 1);
	CHECK_EQ_STR(e.paths[n], "data/t/wq/last");
	CHECK_EQ_INT(xstore_watch_remove(h, w), 0);
	CHECK_EQ_INT(xstore_watch_remove(h, v), 0);
	put(h);
	put(o);
}

/* ---- domains, control, quotas ---- */

static void test_domains(void)
{
	struct xstore *h = conn();
	char *p;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_get_domain_path(h, 3, &p), 0);
	CHECK_EQ_STR(p, "/local/domain/3");
	free(p);
	CHECK_EQ_INT(xstore_get_domain_path(h, self(), &p), 0);
	CHECK_EQ_STR(p, tr == TR_RING ? "/local/domain/7" : "/local/domain/0");
	free(p);
	CHECK_EQ_INT(xstore_get_domain_path(h, 70000, &p), -EINVAL);
	CHECK_EQ_INT(xstore_get_domain_path(h, 1, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_set_target(h, 70000, 1), -EINVAL);
	if (tr == TR_UNIX) {
		CHECK_EQ_INT(xstore_is_introduced(h, 0), 1);
		CHECK_EQ_INT(xstore_is_introduced(h, 42), 0);
		/* Domain 0 cannot be introduced or released. */
		CHECK(xstore_introduce(h, 0, 1, 1) < 0);
		CHECK(xstore_release(h, 0) < 0);
		CHECK(xstore_release(h, 42) < 0);
		CHECK(xstore_resume_domain(h, 42) < 0);
	} else {
		/* The toolstack's requests are dom0's. */
		CHECK(xstore_introduce(h, 9, 1, 1) < 0);
		CHECK(xstore_release(h, GUEST) < 0);
		CHECK(xstore_set_target(h, GUEST, 0) < 0);
	}
	put(h);
}

/* The introduced guest, seen from dom0. */
static void test_domains_guest(void)
{
	struct xstore *o = dom0(), *h = conn();

	CHECK(o != NULL && h != NULL);
	CHECK_EQ_INT(xstore_is_introduced(o, GUEST), 1);
	CHECK_EQ_INT(xstore_resume_domain(o, GUEST), 0);
	CHECK_EQ_INT(xstore_set_target(o, GUEST, 8), 0);
	put(h);
	put(o);
}

static void test_control_quota(void)
{
	struct xstore *h = conn();
	const char *help[] = {"help"};
	const char *bogus[] = {"no-such-command"};
	uint64_t v, old;
	uint32_t f;
	char *out;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_get_feature(h, -1, &f), 0);
	CHECK_EQ_INT(xstore_control(h, help, 0, NULL), -EINVAL);
	if (tr == TR_RING) {
		/* dom0's business only. */
		CHECK(xstore_control(h, help, 1, &out) < 0);
		CHECK(xstore_get_quota(h, -1, "nodes", &v) < 0);
		CHECK(xstore_set_quota(h, -1, "nodes", 1) < 0);
		CHECK(xstore_set_feature(h, GUEST, 0) < 0);
		put(h);
		return;
	}
	CHECK_EQ_INT(xstore_control(h, help, 1, &out), 0);
	CHECK(strstr(out, "quota") != NULL);
	free(out);
	CHECK_EQ_INT(xstore_control(h, bogus, 1, NULL), -EINVAL);
	CHECK_EQ_INT(xstore_quota_names(h, &out), 0);
	CHECK(strstr(out, "nodes") != NULL);
	free(out);
	CHECK_EQ_INT(xstore_get_quota(h, -1, "nodes", &old), 0);
	CHECK_EQ_INT(xstore_set_quota(h, -1, "nodes", old + 1), 0);
	CHECK_EQ_INT(xstore_get_quota(h, -1, "nodes", &v), 0);
	CHECK_EQ_UINT(v, old + 1);
	CHECK_EQ_INT(xstore_set_quota(h, -1, "nodes", old), 0);
	CHECK_EQ_INT(xstore_get_quota(h, -1, "no-such-quota", &v), -EINVAL);
	CHECK_EQ_INT(xstore_get_quota(h, 70000, "nodes", &v), -EINVAL);
	put(h);
}

/* Quotas of a guest, from dom0. */
static void test_quota_guest(void)
{
	struct xstore *o = dom0(), *h = conn();
	uint64_t v;

	CHECK(o != NULL && h != NULL);
	CHECK_EQ_INT(xstore_get_quota(o, GUEST, "nodes", &v), 0);
	CHECK_EQ_INT(xstore_set_quota(o, GUEST, "nodes", v + 1), 0);
	uint64_t v2;
	CHECK_EQ_INT(xstore_get_quota(o, GUEST, "nodes", &v2), 0);
	CHECK_EQ_UINT(v2, v + 1);
	CHECK_EQ_INT(xstore_set_quota(o, GUEST, "nodes", v), 0);
	put(h);
	put(o);
}

/* ---- raw requests, tracing ---- */

struct trace_log {
	atomic_int sends, recvs;
	atomic_uint last_type;
};

static void tracer(void *arg, enum xstore_trace_dir dir,
                   const struct xs_wire_hdr *hdr, const void *payload)
{
	struct trace_log *t = arg;

	if (dir == XSTORE_TRACE_SEND)
		atomic_fetch_add(&t->sends, 1);
	else
		atomic_fetch_add(&t->recvs, 1);
	atomic_store(&t->last_type, hdr->type);
}

static void test_raw_and_trace(void)
{
	struct xstore *h = conn();
	struct trace_log tl = {0};
	static const char path[] = "data/t/raw";
	uint32_t type = 0;
	void *r;
	size_t len;
	int err;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_write_str(h, 0, path, "raw!"), 0);
	xstore_set_trace(h, tracer, &tl);
	CHECK_EQ_INT(
	    xstore_request(h, XS_READ, 0, path, sizeof(path), &type, &r, &len),
	    0);
	CHECK_EQ_UINT(type, XS_READ);
	CHECK_EQ_UINT(len, 4);
	CHECK_EQ_STR(r, "raw!");
	free(r);
	CHECK_EQ_INT(atomic_load(&tl.sends), 1);
	CHECK_EQ_INT(atomic_load(&tl.recvs), 1);
	CHECK_EQ_INT(
	    xstore_request(h, XS_READ, 0, "data/t/none", 12, NULL, NULL, NULL),
	    -ENOENT);
	CHECK_EQ_UINT(atomic_load(&tl.last_type), XS_ERROR);
	xstore_set_trace(h, NULL, NULL);
	CHECK_EQ_INT(xstore_request(h, XS_WATCH, 0, "x", 1, NULL, NULL, NULL),
	             -EINVAL);
	CHECK_EQ_INT(xstore_request(h, XS_READ, 0, NULL, 1, NULL, NULL, NULL),
	             -EINVAL);
	/* An undefined type: the daemon says ENOSYS (or EINVAL). */
	err = xstore_request(h, 20, 0, "", 0, NULL, NULL, NULL);
	CHECK(err == -ENOSYS || err == -EINVAL);
	CHECK_EQ_INT(atomic_load(&tl.sends), 2);
	/* The connection survives all that. */
	CHECK_EQ_INT(xstore_exists(h, 0, path), 1);
	put(h);
}

/* ---- suspend, resume, reconnection ---- */

struct txn_holder {
	struct xstore *h;
	atomic_int phase;
};

static void *hold_txn(void *arg)
{
	struct txn_holder *th = arg;
	xstore_txn_t t;

	if (xstore_txn_start(th->h, &t))
		return NULL;
	atomic_store(&th->phase, 1);
	sleep_ms(200);
	xstore_write_str(th->h, t, "data/t/susp/in-txn", "1");
	atomic_store(&th->phase, 2);
	xstore_txn_end(th->h, t, true);
	return NULL;
}

static void test_suspend_resume(void)
{
	struct xstore *h = conn(), *o = dom0();
	struct events e = EVENTS_INIT;
	struct txn_holder th = {.h = h};
	pthread_t t;
	int n;

	CHECK(h != NULL && o != NULL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/susp", -1, record, &e, NULL),
	             0);
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	pthread_create(&t, NULL, hold_txn, &th);
	while (atomic_load(&th.phase) == 0)
		sleep_ms(1);
	/* Held off until the transaction ended. */
	CHECK_EQ_INT(xstore_suspend(h), 0);
	CHECK_EQ_INT(atomic_load(&th.phase), 2);
	pthread_join(t, NULL);
	CHECK_EQ_INT(xstore_suspend(h), -EBUSY);
	CHECK_EQ_INT(xstore_reconnect(h), -EBUSY);
	CHECK_EQ_INT(xstore_exists(o, 0, abs_of("data/t/susp/in-txn")), 1);
	CHECK_EQ_INT(xstore_resume(h), 0);
	CHECK_EQ_INT(xstore_resume(h), -EINVAL);
	/*
	 * The watch is registered again.  A new socket connection fires it
	 * once for that; the ring's connection lived on (EEXIST, no event).
	 */
	if (tr == TR_UNIX)
		CHECK(wait_events(&e, 3) >= 3);
	n = count_events(&e);
	CHECK_EQ_INT(xstore_write_str(o, 0, abs_of("data/t/susp/after"), "1"),
	             0);
	CHECK_EQ_INT(wait_events(&e, n + 1), n + 1);
	CHECK_EQ_STR(e.paths[n], "data/t/susp/after");
	put(h);
	put(o);
}

/* A request made while suspended waits for resume. */
static void *late_write(void *arg)
{
	struct xstore *h = arg;

	return (void *)(intptr_t)xstore_write_str(h, 0, "data/t/late", "1");
}

static void test_suspend_blocks(void)
{
	struct xstore *h = conn(), *o = dom0();
	pthread_t t;
	void *ret;

	CHECK(h != NULL && o != NULL);
	CHECK_EQ_INT(xstore_suspend(h), 0);
	pthread_create(&t, NULL, late_write, h);
	sleep_ms(100);
	CHECK_EQ_INT(xstore_exists(o, 0, abs_of("data/t/late")), 0);
	CHECK_EQ_INT(xstore_resume(h), 0);
	pthread_join(t, &ret);
	CHECK_EQ_INT((intptr_t)ret, 0);
	CHECK_EQ_INT(xstore_exists(o, 0, abs_of("data/t/late")), 1);
	put(h);
	put(o);
}

static void test_reconnect(void)
{
	struct xstore *h = conn();
	struct events e = EVENTS_INIT;
	xstore_txn_t t;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/rc", -1, record, &e, NULL), 0);
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	/* Over a ring: the reconnection protocol; over a socket: anew. */
	CHECK_EQ_INT(xstore_reconnect(h), 0);
	CHECK_EQ_INT(wait_events(&e, 2), 2);
	/* The daemon forgot the transaction. */
	CHECK(xstore_txn_end(h, t, true) < 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/rc/a", "1"), 0);
	CHECK_EQ_INT(wait_events(&e, 3), 3);
	CHECK_EQ_STR(e.paths[2], "data/t/rc/a");
	/* And suspend is not held off by the lost transaction. */
	CHECK_EQ_INT(xstore_suspend(h), 0);
	CHECK_EQ_INT(xstore_resume(h), 0);
	put(h);
}

/*
 * The daemon goes away and comes back (last: it restarts the daemon).
 * The handle connects again by itself and registers its watch again;
 * when the daemon stays away longer than the bound, calls fail with
 * -ENOTCONN, and once it is back the next call connects again.
 */
static void test_daemon_restart(void)
{
	struct xstore *h = conn();
	struct events e = EVENTS_INIT;
	char *v;
	int n;

	CHECK(h != NULL);
	CHECK_EQ_INT(xstore_watch_add(h, "data/t/dr", -1, record, &e, NULL), 0);
	CHECK_EQ_INT(wait_events(&e, 1), 1);
	xsd_kill(&daemon_);
	has_guest = false;
	CHECK_EQ_INT(xsd_restart(&daemon_), 0);
	/* Nothing asked of the caller. */
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/dr/a", "1"), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/dr/a", &v, NULL), 0);
	CHECK_EQ_STR(v, "1");
	free(v);
	/* Registered again (one event for that), then the write's. */
	n = wait_events(&e, 3);
	CHECK(n >= 3);
	CHECK_EQ_STR(e.paths[1], "data/t/dr");
	CHECK_EQ_STR(e.paths[2], "data/t/dr/a");

	xstore_set_reconnect(h, 300);
	xsd_kill(&daemon_);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/dr", &v, NULL), -ENOTCONN);
	CHECK(xstore_reconnect(h) < 0);
	CHECK_EQ_INT(xstore_read(h, 0, "data/t/dr", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xsd_restart(&daemon_), 0);
	CHECK_EQ_INT(xstore_write_str(h, 0, "data/t/dr/b", "1"), 0);
	CHECK(wait_events(&e, n + 2) >= n + 2);
	CHECK_EQ_STR(e.paths[n], "data/t/dr");
	CHECK_EQ_STR(e.paths[n + 1], "data/t/dr/b");
	put(h);
}

/* Each test over each transport (or the one its name says). */
#define UNIX(fn)                                                               \
	static void fn##_unix(void)                                            \
	{                                                                      \
		tr = TR_UNIX;                                                  \
		fn();                                                          \
		put_all();                                                     \
	}
#define RING(fn)                                                               \
	static void fn##_ring(void)                                            \
	{                                                                      \
		tr = TR_RING;                                                  \
		fn();                                                          \
		put_all();                                                     \
	}
#define BOTH(fn) UNIX(fn) RING(fn)
BOTH(test_read_write)
BOTH(test_payload_limit)
BOTH(test_mkdir_rm_exists)
BOTH(test_directory)
BOTH(test_directory_large)
BOTH(test_rm_tree)
BOTH(test_rm_tree_retry)
BOTH(test_transactions)
BOTH(test_helpers)
BOTH(test_perms)
BOTH(test_watch_basic)
BOTH(test_watch_depth)
BOTH(test_watch_cancel)
BOTH(test_watch_self_remove)
BOTH(test_watch_overflow)
BOTH(test_watch_queue_max_one)
BOTH(test_domains)
BOTH(test_control_quota)
BOTH(test_raw_and_trace)
BOTH(test_suspend_resume)
BOTH(test_suspend_blocks)
BOTH(test_reconnect)
RING(test_ring_open)
RING(test_access)
RING(test_perms_owner)
RING(test_domains_guest)
RING(test_quota_guest)
UNIX(test_perms_special)
UNIX(test_watch_special)
UNIX(test_daemon_restart)
UNIX(test_open_errors)
UNIX(test_default_path)

#define T2(fn) CHECK_TEST(fn##_unix), CHECK_TEST(fn##_ring)
static const struct check_test tests[] = {
    CHECK_TEST(test_open_errors_unix),
    CHECK_TEST(test_ring_open_ring),
    CHECK_TEST(test_default_path_unix),
    T2(test_read_write),
    CHECK_TEST(test_access_ring),
    T2(test_payload_limit),
    T2(test_mkdir_rm_exists),
    T2(test_directory),
    T2(test_directory_large),
    T2(test_rm_tree),
    T2(test_rm_tree_retry),
    T2(test_transactions),
    T2(test_helpers),
    T2(test_perms),
    CHECK_TEST(test_perms_owner_ring),
    CHECK_TEST(test_perms_special_unix),
    T2(test_watch_basic),
    T2(test_watch_depth),
    CHECK_TEST(test_watch_special_unix),
    T2(test_watch_cancel),
    T2(test_watch_self_remove),
    T2(test_watch_overflow),
    T2(test_watch_queue_max_one),
    T2(test_domains),
    CHECK_TEST(test_domains_guest_ring),
    T2(test_control_quota),
    CHECK_TEST(test_quota_guest_ring),
    T2(test_raw_and_trace),
    T2(test_suspend_resume),
    T2(test_suspend_blocks),
    T2(test_reconnect),
    CHECK_TEST(test_daemon_restart_unix),
};

CHECK_MAIN(tests)
