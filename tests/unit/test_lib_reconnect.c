/*
 * test_lib_reconnect.c - a socket handle reconnects by itself when its
 * daemon goes away (lib/reconnect.c), against a fake daemon whose first
 * connection misbehaves on purpose (it hangs up at a chosen request) and
 * whose later connections answer everything and log what they got.
 *
 * Checked here, where the daemon's side is known exactly: which requests
 * in flight go again (idempotent ones; RM with ENOENT taken for done),
 * which fail (-ECONNRESET for others and for a commit whose outcome is
 * unknown), EAGAIN for a transaction of the lost connection, watches
 * registered before the resent requests, the bound, the one more try of
 * a later call, and reconnection off (0, $XSTORE_RECONNECT_MS).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/client_int.h"
#include "tests/support/check.h"
#include "xstore/xstore.h"

/* ---- the fake daemon ---- */

#define LOG_MAX 64

struct logged {
	int conn;
	uint32_t type, tx;
	char arg[64];
};

struct fake {
	char dir[64], path[128];
	int listen_fd;
	pthread_t thread;
	atomic_bool stop;
	atomic_int conn_fd;
	/* The first connection: what to do with each request (true: done,
	 * hang up now without answering). */
	bool (*first)(struct fake *f, int fd, const struct xs_wire_hdr *h,
	              const char *buf);
	unsigned int nfirst; /* requests the first connection saw */
	/* Set by the test before fake_start: */
	bool is_gone;         /* after the first connection: no daemon... */
	bool is_removed;      /* ... and its socket file removed (a clean
	                       * stop), else left behind (a crash) */
	const char *rm_err;   /* later connections: RM's answer */
	uint32_t next_tx;     /* later connections: START's ids (0: 1) */
	atomic_bool comeback; /* ... until the test says so */
	pthread_mutex_t mu;
	struct logged log[LOG_MAX];
	int nlog, nconn;
};

static int get_req(int fd, struct xs_wire_hdr *h, char *buf)
{
	size_t len = sizeof(*h);
	char *p = (char *)h;

	for (int part = 0; part < 2; part++) {
		while (len) {
			ssize_t n = read(fd, p, len);

			if (n <= 0)
				return -1;
			p += n;
			len -= (size_t)n;
		}
		if (part == 0) {
			if (h->len > XS_PAYLOAD_MAX)
				return -1;
			p = buf;
			len = h->len;
		}
	}
	buf[h->len] = '\0';
	return 0;
}

static void put_msg(int fd, uint32_t type, uint32_t req_id, const void *pl,
                    uint32_t len)
{
	struct xs_wire_hdr h = {type, req_id, 0, len};
	char msg[sizeof(h) + XS_PAYLOAD_MAX];

	memcpy(msg, &h, sizeof(h));
	if (len)
		memcpy(msg + sizeof(h), pl, len);
	if (send(fd, msg, sizeof(h) + len, MSG_NOSIGNAL) < 0) {
		/* The client is gone: the test sees it. */
	}
}

static void reply(int fd, const struct xs_wire_hdr *h, const char *s)
{
	put_msg(fd, h->type, h->req_id, s, (uint32_t)strlen(s) + 1);
}

static void log_req(struct fake *f, const struct xs_wire_hdr *h,
                    const char *buf)
{
	pthread_mutex_lock(&f->mu);
	if (f->nlog < LOG_MAX) {
		struct logged *l = &f->log[f->nlog++];

		l->conn = f->nconn;
		l->type = h->type;
		l->tx = h->tx_id;
		snprintf(l->arg, sizeof(l->arg), "%s", buf);
	}
	pthread_mutex_unlock(&f->mu);
}

/* A daemon that answers everything (second connection on). */
static void serve(struct fake *f, int fd)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1], id[16];

	while (get_req(fd, &h, buf) == 0) {
		log_req(f, &h, buf);
		switch (h.type) {
		case XS_WATCH: {
			/* The event that WATCH fires: path, token. */
			size_t pl = strlen(buf) + 1;
			size_t tl = strnlen(buf + pl, h.len - pl) + 1;

			reply(fd, &h, "OK");
			put_msg(fd, XS_WATCH_EVENT, 0, buf,
			        (uint32_t)(pl + tl));
			break;
		}
		case XS_TRANSACTION_START:
			snprintf(id, sizeof(id), "%u", f->next_tx++);
			reply(fd, &h, id);
			break;
		case XS_RM:
			if (f->rm_err)
				put_msg(fd, XS_ERROR, h.req_id, f->rm_err,
				        (uint32_t)strlen(f->rm_err) + 1);
			else
				reply(fd, &h, "OK");
			break;
		case XS_READ:
			reply(fd, &h, "v");
			break;
		default:
			reply(fd, &h, "OK");
		}
	}
}

static void run_first(struct fake *f, int fd)
{
	struct xs_wire_hdr h;
	char buf[XS_PAYLOAD_MAX + 1];

	while (get_req(fd, &h, buf) == 0) {
		log_req(f, &h, buf);
		f->nfirst++;
		if (f->first(f, fd, &h, buf))
			return;
	}
}

static int listen_on(struct fake *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (f->listen_fd < 0)
		return -errno;
	if (bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(f->listen_fd, 4))
		return -errno;
	return 0;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd pfd = {f->listen_fd, POLLIN, 0};
		int fd;

		if (f->listen_fd < 0) {
			/* Gone: come back when told, on the same path. */
			if (atomic_load(&f->comeback)) {
				unlink(f->path); /* as xstored replaces it */
				if (listen_on(f) == 0)
					continue;
			}
			poll(NULL, 0, 5);
			continue;
		}
		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept(f->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_store(&f->conn_fd, fd);
		pthread_mutex_lock(&f->mu);
		f->nconn++;
		pthread_mutex_unlock(&f->mu);
		if (f->nconn == 1) {
			run_first(f, fd);
			if (f->is_gone) {
				close(f->listen_fd);
				if (f->is_removed)
					unlink(f->path);
				f->listen_fd = -1;
			}
		} else {
			serve(f, fd);
		}
		atomic_store(&f->conn_fd, -1);
		close(fd);
	}
	return NULL;
}

static int fake_start(struct fake *f,
                      bool (*first)(struct fake *, int,
                                    const struct xs_wire_hdr *, const char *),
                      struct xstore **h)
{
	struct xs_tr *tr;
	int err;

	f->first = first;
	if (!f->next_tx)
		f->next_tx = 1;
	atomic_init(&f->conn_fd, -1);
	pthread_mutex_init(&f->mu, NULL);
	snprintf(f->dir, sizeof(f->dir), "/tmp/xsrc-XXXXXX");
	if (!mkdtemp(f->dir))
		return -errno;
	snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
	err = listen_on(f);
	if (err)
		return err;
	pthread_create(&f->thread, NULL, fake_main, f);
	err = sock_tr_open(f->path, &tr);
	if (!err) {
		err = xs_open_tr(tr, 0, h);
		if (err)
			tr->ops->free(tr);
	}
	return err;
}

static void fake_finish(struct fake *f, struct xstore *h)
{
	int fd;

	xstore_close(h);
	atomic_store(&f->stop, true);
	fd = atomic_load(&f->conn_fd);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	unlink(f->path);
	rmdir(f->dir);
	pthread_mutex_destroy(&f->mu);
}

/* Requests of connection `conn` of `type` (and tx, unless ~0u). */
static int count(struct fake *f, int conn, uint32_t type, uint32_t tx)
{
	int n = 0;

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nlog; i++)
		if (f->log[i].conn == conn && f->log[i].type == type &&
		    (tx == ~0u || f->log[i].tx == tx))
			n++;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Index in the log of the first request of `type` on `conn`, or -1. */
static int first_of(struct fake *f, int conn, uint32_t type)
{
	int at = -1;

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nlog && at < 0; i++)
		if (f->log[i].conn == conn && f->log[i].type == type)
			at = i;
	pthread_mutex_unlock(&f->mu);
	return at;
}

/* ---- first connections ---- */

/* Answer WATCH and START; hang up at anything else, unanswered. */
static bool hang_at_other(struct fake *f, int fd, const struct xs_wire_hdr *h,
                          const char *buf)
{
	if (h->type == XS_WATCH) {
		size_t pl = strlen(buf) + 1;

		reply(fd, h, "OK");
		put_msg(fd, XS_WATCH_EVENT, 0, buf,
		        (uint32_t)(pl + strnlen(buf + pl, h->len - pl) + 1));
		return false;
	}
	if (h->type == XS_TRANSACTION_START) {
		reply(fd, h, "1");
		return false;
	}
	return true;
}

/* ---- tests ---- */

static atomic_int nevents;

static void count_cb(struct xstore *h, struct xstore_watch *w, const char *path,
                     unsigned int flags, void *arg)
{
	atomic_fetch_add(&nevents, 1);
}

/* Wait (up to 10 s: a bound for failure, not a timing check). */
static bool wait_events(int n)
{
	for (int i = 0; i < 2000 && atomic_load(&nevents) < n; i++)
		poll(NULL, 0, 5);
	return atomic_load(&nevents) >= n;
}

/*
 * A WRITE in flight at the break goes again on the new connection, after
 * the watch is registered there (which fires it once more).
 */
static void test_resend_write(void)
{
	struct fake f = {0};
	struct xstore *h;

	atomic_store(&nevents, 0);
	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	CHECK_EQ_INT(xstore_watch_add(h, "/w", -1, count_cb, NULL, NULL), 0);
	CHECK(wait_events(1));
	CHECK_EQ_INT(xstore_write_str(h, 0, "/a", "x"), 0);
	CHECK_EQ_INT(count(&f, 1, XS_WRITE, ~0u), 1);
	CHECK_EQ_INT(count(&f, 2, XS_WRITE, ~0u), 1);
	CHECK(first_of(&f, 2, XS_WATCH) >= 0);
	CHECK(first_of(&f, 2, XS_WATCH) < first_of(&f, 2, XS_WRITE));
	CHECK(wait_events(2));
	/* And the handle goes on. */
	CHECK_EQ_INT(xstore_write_str(h, 0, "/b", "y"), 0);
	CHECK_EQ_INT(count(&f, 2, XS_WRITE, ~0u), 2);
	fake_finish(&f, h);
}

/* An RM in flight goes again; ENOENT to that one means done. */
static void test_resend_rm(void)
{
	struct fake f = {.rm_err = "ENOENT"};
	struct xstore *h;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	CHECK_EQ_INT(xstore_rm(h, 0, "/a"), 0);
	CHECK_EQ_INT(count(&f, 2, XS_RM, ~0u), 1);
	/* Not resent: ENOENT is the daemon's answer. */
	CHECK_EQ_INT(xstore_rm(h, 0, "/a"), -ENOENT);
	fake_finish(&f, h);
}

/* A request that may not go twice: -ECONNRESET, not sent again. */
static void test_lost_control(void)
{
	const char *argv[] = {"log", "x"};
	struct fake f = {0};
	struct xstore *h;
	char *out;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	CHECK_EQ_INT(xstore_control(h, argv, 2, &out), -ECONNRESET);
	CHECK_EQ_INT(count(&f, 2, XS_CONTROL, ~0u), 0);
	/* The handle is connected again all the same. */
	CHECK_EQ_INT(xstore_write_str(h, 0, "/b", "y"), 0);
	fake_finish(&f, h);
}

/*
 * A transaction of the lost connection: its calls fail with EAGAIN and
 * are not sent, its commit too; then the caller's retry goes through.
 */
static void test_txn_eagain(void)
{
	struct fake f = {.next_tx = 7};
	struct xstore *h;
	xstore_txn_t t;
	char *v;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_UINT(t, 1);
	/* In flight at the break. */
	CHECK_EQ_INT(xstore_write_str(h, t, "/a", "x"), -EAGAIN);
	CHECK_EQ_INT(xstore_read(h, t, "/a", &v, NULL), -EAGAIN);
	CHECK_EQ_INT(xstore_txn_end(h, t, true), -EAGAIN);
	CHECK_EQ_INT(count(&f, 2, XS_WRITE, ~0u), 0);
	CHECK_EQ_INT(count(&f, 2, XS_READ, ~0u), 0);
	CHECK_EQ_INT(count(&f, 2, XS_TRANSACTION_END, ~0u), 0);
	/* The retry. */
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_UINT(t, 7);
	CHECK_EQ_INT(xstore_write_str(h, t, "/a", "x"), 0);
	CHECK_EQ_INT(xstore_txn_end(h, t, true), 0);
	CHECK_EQ_INT(count(&f, 2, XS_WRITE, 7), 1);
	/* Ended: suspend is not held off. */
	CHECK_EQ_INT(xstore_suspend(h), 0);
	fake_finish(&f, h);
}

/*
 * The new daemon hands out the id that a dead transaction, not ended
 * yet, still holds: it is given back and another one taken.
 */
static void test_txn_id_reused(void)
{
	struct fake f = {0};
	struct xstore *h;
	xstore_txn_t a, b;
	char *v;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	CHECK_EQ_INT(xstore_txn_start(h, &a), 0);
	CHECK_EQ_UINT(a, 1);
	/* Outside the transaction, in flight: sent again. */
	CHECK_EQ_INT(xstore_read(h, 0, "/x", &v, NULL), 0);
	free(v);
	CHECK_EQ_INT(xstore_txn_start(h, &b), 0);
	CHECK_EQ_UINT(b, 2);
	CHECK_EQ_INT(count(&f, 2, XS_TRANSACTION_END, 1), 1);
	CHECK_EQ_INT(xstore_write_str(h, a, "/a", "x"), -EAGAIN);
	CHECK_EQ_INT(xstore_write_str(h, b, "/a", "x"), 0);
	CHECK_EQ_INT(xstore_txn_end(h, a, true), -EAGAIN);
	CHECK_EQ_INT(xstore_txn_end(h, b, true), 0);
	CHECK_EQ_INT(count(&f, 2, XS_WRITE, 2), 1);
	CHECK_EQ_INT(count(&f, 2, XS_WRITE, 1), 0);
	fake_finish(&f, h);
}

/* A commit in flight: the outcome is unknown (-ECONNRESET); an abort
 * in flight is an abort (0). */
static void txn_end_in_flight(bool commit, int want)
{
	struct fake f = {0};
	struct xstore *h;
	xstore_txn_t t;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_INT(xstore_txn_end(h, t, commit), want);
	CHECK_EQ_INT(count(&f, 2, XS_TRANSACTION_END, ~0u), 0);
	/* The record is gone: the id is free for the new connection. */
	CHECK_EQ_INT(xstore_txn_start(h, &t), 0);
	CHECK_EQ_UINT(t, 1);
	CHECK_EQ_INT(xstore_txn_end(h, t, true), 0);
	fake_finish(&f, h);
}

static void test_commit_in_flight(void)
{
	txn_end_in_flight(true, -ECONNRESET);
}

static void test_abort_in_flight(void)
{
	txn_end_in_flight(false, 0);
}

/*
 * The daemon does not come back within the bound: -ENOTCONN, and for
 * later calls too; once it is back, the next call connects again.
 */
static void test_bound(void)
{
	struct fake f = {.is_gone = true};
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	xstore_set_reconnect(h, 300);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xstore_write_str(h, 0, "/a", "x"), -ENOTCONN);
	atomic_store(&f.comeback, true);
	/* Each later call tries once: the daemon is back by one of them. */
	for (int i = 0; i < 500; i++) {
		if (xstore_read(h, 0, "/a", &v, NULL) == 0) {
			free(v);
			break;
		}
		poll(NULL, 0, 10);
	}
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	CHECK_EQ_STR(v, "v");
	free(v);
	fake_finish(&f, h);
}

/* A request waiting for the reconnection waits no longer than its own
 * timeout. */
static void test_gate_timeout(void)
{
	struct fake f = {.is_gone = true};
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	xstore_set_reconnect(h, 60000);
	xstore_set_timeout(h, 100, 100);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ETIMEDOUT);
	/* And close does not wait for the minute. */
	fake_finish(&f, h);
}

/* A server that removed its socket file (a clean stop, a multiplexer
 * whose domain went) is not waited for: -ENOTCONN, not the gate's
 * timeout after trying for the whole bound. */
static void test_socket_removed(void)
{
	struct fake f = {.is_gone = true, .is_removed = true};
	struct xstore *h;
	char *v;

	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	xstore_set_reconnect(h, 60000);
	xstore_set_timeout(h, 5000, 5000);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	fake_finish(&f, h);
}

/* Reconnection off: today's behaviour, by the call or the environment. */
static void off(bool by_env)
{
	struct fake f = {0};
	struct xstore *h;
	char *v;

	if (by_env)
		setenv("XSTORE_RECONNECT_MS", "0", 1);
	CHECK_EQ_INT(fake_start(&f, hang_at_other, &h), 0);
	unsetenv("XSTORE_RECONNECT_MS");
	if (!by_env)
		xstore_set_reconnect(h, 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), -ENOTCONN);
	CHECK_EQ_INT(count(&f, 2, XS_READ, ~0u), 0);
	/* xstore_reconnect() still works. */
	CHECK_EQ_INT(xstore_reconnect(h), 0);
	CHECK_EQ_INT(xstore_read(h, 0, "/a", &v, NULL), 0);
	free(v);
	fake_finish(&f, h);
}

static void test_off_by_call(void)
{
	off(false);
}

static void test_off_by_env(void)
{
	off(true);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_resend_write),    CHECK_TEST(test_resend_rm),
    CHECK_TEST(test_lost_control),    CHECK_TEST(test_txn_eagain),
    CHECK_TEST(test_txn_id_reused),   CHECK_TEST(test_commit_in_flight),
    CHECK_TEST(test_abort_in_flight), CHECK_TEST(test_bound),
    CHECK_TEST(test_gate_timeout),    CHECK_TEST(test_socket_removed),
    CHECK_TEST(test_off_by_call),     CHECK_TEST(test_off_by_env),
};

CHECK_MAIN(tests)
