/*
 * test_reap.c - the connections killed in a turn (daemon/conn.c): the
 * reap frees exactly them, through their own list (with 10 000 guests'
 * rings it must not walk every connection to find the one of a
 * destroyed domain), whether they are killed oldest or newest first;
 * one freed before the reap (daemon_fini frees every connection, dead
 * or not) leaves the list whole.  ASan checks that nothing is freed
 * twice or leaked.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "daemon/conn.h"
#include "daemon/daemon.h"
#include "tests/support/check.h"

#define NCONNS 3000

static struct daemon dmn;
static struct conn *conns[NCONNS];
static unsigned int closed;

static long fk_read(struct conn *c, void *buf, size_t len)
{
	return 0;
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
	unsigned int *slot = c->transport;

	conns[*slot] = NULL;
	closed++;
}

static const struct transport_ops fake_ops = {
    .name = "fake",
    .read = fk_read,
    .write = fk_write,
    .want_write = fk_want,
    .want_read = fk_want,
    .close = fk_close,
};

static unsigned int slots[NCONNS];

static bool open_all(void)
{
	struct daemon_config cfg;

	log_set_level(LOG_ERR); /* a warning per connection killed */
	daemon_config_defaults(&cfg);
	cfg.platform = (char *)"none";
	cfg.write_rate = 0;
	memset(&dmn, 0, sizeof(dmn));
	if (daemon_init(&dmn, &cfg))
		return false;
	for (unsigned int i = 0; i < NCONNS; i++) {
		slots[i] = i;
		conns[i] =
		    conn_new(&dmn, CONN_SOCKET, &fake_ops, &slots[i], -1);
		if (!conns[i])
			return false;
		conns[i]->is_privileged = true;
	}
	closed = 0;
	return true;
}

static void test_reap_frees_exactly_the_dead(void)
{
	unsigned int base, killed = 0;

	CHECK(open_all());
	base = dmn.nr_conns;
	/* Every third, then the last and the first (both ends). */
	for (unsigned int i = 1; i < NCONNS - 1; i += 3, killed++)
		conn_kill(conns[i], "test");
	conn_kill(conns[NCONNS - 1], "test");
	conn_kill(conns[0], "test");
	conn_kill(conns[0], "test again"); /* twice: once on the list */
	killed += 2;
	CHECK_EQ_UINT(closed, 0);
	conn_reap(&dmn);
	CHECK_EQ_UINT(closed, killed);
	CHECK_EQ_UINT(dmn.nr_conns, base - killed);
	CHECK(dmn.dead_head == NULL);
	for (unsigned int i = 0; i < NCONNS; i++)
		CHECK_EQ_INT(conns[i] == NULL,
		             i == 0 || i == NCONNS - 1 ||
		                 (i % 3 == 1 && i < NCONNS - 1));
	/* A turn that killed nobody frees nobody. */
	conn_reap(&dmn);
	CHECK_EQ_UINT(closed, killed);
	daemon_fini(&dmn);
	CHECK_EQ_UINT(closed, NCONNS);
}

/* Freed before the reap, out of the list's order: the list stays whole. */
static void test_free_before_reap(void)
{
	CHECK(open_all());
	conn_kill(conns[10], "test");
	conn_kill(conns[20], "test");
	conn_kill(conns[30], "test");
	conn_free(conns[20]); /* the middle of the dead list */
	CHECK_EQ_UINT(closed, 1);
	conn_reap(&dmn);
	CHECK_EQ_UINT(closed, 3);
	CHECK(dmn.dead_head == NULL);
	/* Dead and never reaped when the daemon ends. */
	conn_kill(conns[40], "test");
	conn_kill(conns[50], "test");
	daemon_fini(&dmn);
	CHECK_EQ_UINT(closed, NCONNS);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_reap_frees_exactly_the_dead),
    CHECK_TEST(test_free_before_reap),
};

CHECK_MAIN(tests)
