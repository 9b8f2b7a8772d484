/*
 * test_hot.c - the poll window's fast path (conn_poll_hot, daemon/conn.c):
 * the connections that read requests last are served directly, with no
 * epoll_wait, but only while that pays and never ahead of others:
 *   - the last socket that sent is read; after CONN_HOT_SOCK_MISSES reads
 *     in vain it is left to epoll until it sends again;
 *   - up to CONN_HOT_RINGS rings are looked at (their poll op);
 *   - nothing at all while the guests' event batches have a backlog
 *     (d->evtchn_backlog): no ring goes ahead of them, and a socket
 *     served here turn after turn would take their share of the loop
 *     (domain.c); epoll serves it then, beside them;
 *   - a freed connection is never looked at again (ASan would see it).
 */
#include <string.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "daemon/loop.h"
#include "tests/support/check.h"
#include "xstore/wire.h"

struct fake {
	unsigned int reads, polls;
	bool has_request;     /* the next read (or poll) brings one */
	unsigned int spin_us; /* a read that brings one takes this long */
};

static struct daemon dmn;

/* One XS_DIRECTORY of "/": any request with one reply will do. */
static long fill_request(struct fake *f, void *buf, size_t len)
{
	struct xs_wire_hdr hdr = {.type = XS_DIRECTORY, .req_id = 1, .len = 2};

	if (!f->has_request || len < sizeof(hdr) + 2)
		return 0;
	f->has_request = false;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy((char *)buf + sizeof(hdr), "/", 2);
	return (long)sizeof(hdr) + 2;
}

static long fk_read(struct conn *c, void *buf, size_t len)
{
	struct fake *f = c->transport;
	uint64_t t0 = loop_now_us();

	f->reads++;
	/* A costly request, as an INTRODUCE in the simulator. */
	while (f->has_request && loop_now_us() - t0 < f->spin_us)
		;
	return fill_request(f, buf, len);
}

static long fk_write(struct conn *c, const void *buf, size_t len)
{
	return (long)len;
}

static void fk_want(struct conn *c, bool on)
{
}

static void fk_close(struct conn *c)
{
}

/* As a ring's: a look that costs no read when nothing is there. */
static bool fk_poll(struct conn *c)
{
	struct fake *f = c->transport;

	f->polls++;
	return f->has_request && conn_handle_input(c) > 0;
}

static const struct transport_ops sock_like = {
    .name = "fake-socket",
    .read = fk_read,
    .write = fk_write,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
};

static const struct transport_ops ring_like = {
    .name = "fake-ring",
    .read = fk_read,
    .write = fk_write,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
    .poll = fk_poll,
};

static bool start(void)
{
	struct daemon_config cfg;

	log_set_level(LOG_ERR);
	daemon_config_defaults(&cfg);
	cfg.platform = (char *)"none";
	cfg.write_rate = 0;
	memset(&dmn, 0, sizeof(dmn));
	return daemon_init(&dmn, &cfg) == 0;
}

static struct conn *open_fake(const struct transport_ops *ops, struct fake *f)
{
	struct conn *c = conn_new(&dmn, CONN_SOCKET, ops, f, -1);

	if (c)
		c->is_privileged = true;
	return c;
}

static void test_socket_hot_until_it_stops_paying(void)
{
	struct fake a = {0}, b = {0};
	struct conn *ca, *cb;

	CHECK(start());
	ca = open_fake(&sock_like, &a);
	cb = open_fake(&sock_like, &b);
	CHECK(ca && cb);
	/* Nothing read yet: nothing is hot, nothing is read. */
	CHECK(!conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(a.reads + b.reads, 0);

	/* a sends (its fd's event): from now on the poll reads it. */
	a.has_request = true;
	CHECK(conn_handle_input(ca) > 0);
	CHECK_EQ_UINT(ca->out_replies, 1);
	a.has_request = true;
	CHECK(conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(ca->out_replies, 2);
	CHECK_EQ_UINT(b.reads, 0);

	/* Reads in vain: it stays hot for CONN_HOT_SOCK_MISSES of them. */
	a.reads = 0;
	for (unsigned int i = 0; i < CONN_HOT_SOCK_MISSES + 10; i++)
		CHECK(!conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(a.reads, CONN_HOT_SOCK_MISSES);

	/* It sends again through epoll: hot again.  Then b sends: the
	 * one hot socket is b's. */
	a.has_request = true;
	CHECK(conn_handle_input(ca) > 0);
	b.has_request = true;
	CHECK(conn_handle_input(cb) > 0);
	a.reads = b.reads = 0;
	CHECK(!conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(a.reads, 0);
	CHECK_EQ_UINT(b.reads, 1);

	/* The guests' events wait: the socket is left to epoll. */
	dmn.evtchn_backlog = true;
	b.has_request = true;
	CHECK(!conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(b.reads, 1);
	dmn.evtchn_backlog = false;
	CHECK(conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(b.reads, 2);

	/* Freed while hot: never looked at again. */
	conn_kill(cb, "test");
	conn_reap(&dmn);
	CHECK(!conn_poll_hot(dmn.loop, &dmn));
	daemon_fini(&dmn);
}

/*
 * The guests' share (conn.h): a socket owes them the time its requests
 * took, up to CONN_SOCK_DEBT_MAX_US, and only itself: another client
 * may go at once.  Paid as the guests' batches run, forgiven when they
 * have no more work.
 */
static void test_socket_debt(void)
{
	struct fake a = {.spin_us = 3 * CONN_SOCK_DEBT_MAX_US}, b = {0};
	struct conn *ca, *cb;

	CHECK(start());
	ca = open_fake(&sock_like, &a);
	cb = open_fake(&sock_like, &b);
	CHECK(ca && cb);
	CHECK(conn_sock_may_go(ca) && conn_sock_may_go(cb));

	a.has_request = true;
	CHECK(conn_handle_input(ca) > 0);
	b.has_request = true;
	CHECK(conn_handle_input(cb) > 0); /* a cheap request: owes ~0 */
	CHECK(!conn_sock_may_go(ca));
	conn_guests_served(&dmn, CONN_SOCK_DEBT_MAX_US / 2);
	CHECK(conn_sock_may_go(cb));
	CHECK(!conn_sock_may_go(ca));
	/* The debt stops at the bound, however long the request took. */
	conn_guests_served(&dmn, CONN_SOCK_DEBT_MAX_US / 2);
	CHECK(conn_sock_may_go(ca));

	/* Two costly requests in a row owe no more than the bound. */
	a.has_request = true;
	CHECK(conn_handle_input(ca) > 0);
	a.has_request = true;
	CHECK(conn_handle_input(ca) > 0);
	conn_guests_served(&dmn, CONN_SOCK_DEBT_MAX_US);
	CHECK(conn_sock_may_go(ca));

	/* Guests with nothing left to do: the debt is forgiven. */
	a.has_request = true;
	CHECK(conn_handle_input(ca) > 0);
	CHECK(!conn_sock_may_go(ca));
	conn_guests_idle(&dmn);
	CHECK(conn_sock_may_go(ca));
	daemon_fini(&dmn);
}

#define NRINGS (CONN_HOT_RINGS + 2)

static void test_rings_hot_round_robin(void)
{
	struct fake f[NRINGS] = {{0}};
	struct conn *c[NRINGS];
	unsigned int looked = 0;

	CHECK(start());
	for (unsigned int i = 0; i < NRINGS; i++) {
		c[i] = open_fake(&ring_like, &f[i]);
		CHECK(c[i] != NULL);
		f[i].has_request = true;
		CHECK(conn_handle_input(c[i]) > 0);
	}
	/* The last CONN_HOT_RINGS that read are looked at, once each. */
	CHECK(!conn_poll_hot(dmn.loop, &dmn));
	for (unsigned int i = 0; i < NRINGS; i++) {
		CHECK_EQ_UINT(f[i].polls, i < NRINGS - CONN_HOT_RINGS ? 0 : 1);
		CHECK_EQ_UINT(f[i].reads, 1); /* a look is no read */
		looked += f[i].polls;
	}
	CHECK_EQ_UINT(looked, CONN_HOT_RINGS);

	/* A request there is served by the look. */
	f[NRINGS - 1].has_request = true;
	CHECK(conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(c[NRINGS - 1]->out_replies, 2);

	/* Guests' events wait in a backlog: no ring goes ahead of them. */
	dmn.evtchn_backlog = true;
	f[NRINGS - 1].has_request = true;
	CHECK(!conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(f[NRINGS - 1].polls, 2);
	dmn.evtchn_backlog = false;
	CHECK(conn_poll_hot(dmn.loop, &dmn));
	CHECK_EQ_UINT(c[NRINGS - 1]->out_replies, 3);
	daemon_fini(&dmn);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_socket_hot_until_it_stops_paying),
    CHECK_TEST(test_rings_hot_round_robin),
    CHECK_TEST(test_socket_debt),
};

CHECK_MAIN(tests)
