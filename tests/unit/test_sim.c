/*
 * test_sim.c - the simulated platform through plat.h: a dom0 plat and
 * guest plats over one temporary sim directory.  Domains are made with
 * the domain builder (plat/sim_dom.h); garbage is planted by writing the
 * documented files (docs/sim.md) directly, as any process could.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plat/plat.h"
#include "plat/plat_int.h"
#include "plat/sim_dom.h"
#include "plat/simfs.h"
#include "tests/support/check.h"

/* The test's sim directory: <tmp>/sim. */
static char base[256], dir[300], spec[320];

static bool setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof(base), "%s/test_sim.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		return false;
	snprintf(dir, sizeof(dir), "%s/sim", base);
	snprintf(spec, sizeof(spec), "sim:%s", dir);
	return mkdir(dir, 0755) == 0;
}

/* A fresh sim with domains 5 and 6, and plats for dom0, 5 and 6. */
static void open_three(struct plat **d0, struct plat **g, struct plat **g6)
{
	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 6, "six", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, g), 0);
	CHECK_EQ_INT(plat_open(spec, 6, g6), 0);
}

static void teardown(void)
{
	int fd = open(base, O_RDONLY | O_DIRECTORY);

	if (fd >= 0) {
		simfs_rmtree(fd, "sim");
		close(fd);
	}
	rmdir(base);
}

/* Write `text` to <dir>/<rel>, replacing it. */
static bool plant(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	unlink(path);
	f = fopen(path, "w");
	if (!f)
		return false;
	fputs(text, f);
	return fclose(f) == 0;
}

static bool exists(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

static bool is_readable(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static void test_open(void)
{
	struct plat *p = NULL;

	CHECK(setup());
	CHECK_EQ_INT(plat_open("sim:/nonexistent/sim", 0, &p), -ENOENT);
	CHECK(p == NULL);
	CHECK_EQ_INT(plat_open(spec, 5, &p), -ENOENT); /* no such guest */
	CHECK_EQ_INT(plat_open(spec, 0x7ff0, &p), -EINVAL);
	CHECK_EQ_INT(plat_open("bogus", 0, &p), -EINVAL);
	CHECK_EQ_INT(plat_open(spec, 0, &p), 0); /* makes dom0 */
	CHECK_EQ_STR(plat_name(p), "sim");
	CHECK_EQ_UINT(plat_self(p), 0);
	CHECK(exists("dom0/evtchn") && exists("virq-dom-exc"));
	plat_close(p);
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &p), 0);
	CHECK_EQ_UINT(plat_self(p), 5);
	plat_close(p);
	plat_close(NULL);
	teardown();
}

static void test_builder(void)
{
	struct plat_start_info si;
	struct sim_dom_info *v, di;
	char path[512];
	size_t n;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 7, "seven", &si), 0);
	CHECK_EQ_UINT(si.store_gfn, SIM_GFN_FIRST);
	CHECK_EQ_UINT(si.store_evtchn, 1);
	CHECK_EQ_INT(sim_dom_create(dir, 7, "again", NULL), -EEXIST);
	CHECK_EQ_INT(sim_dom_create(dir, 0, "zero", NULL), -EINVAL);
	CHECK_EQ_INT(sim_dom_create(dir, 0x7ff0, "big", NULL), -EINVAL);
	CHECK_EQ_INT(sim_dom_create(dir, 8, "", NULL), -EINVAL);
	CHECK_EQ_INT(sim_dom_create(dir, 8, "a\nb", NULL), -EINVAL);
	CHECK_EQ_INT(sim_dom_create(dir, 3, "three", NULL), 0);
	snprintf(path, sizeof(path), "%s/dom12x", dir); /* not a domain */
	CHECK(mkdir(path, 0755) == 0);
	CHECK_EQ_INT(sim_dom_list(dir, &v, &n), 0);
	CHECK_EQ_UINT(n, 3);
	CHECK_EQ_UINT(v[0].domid, 0);
	CHECK_EQ_STR(v[0].name, "Domain-0");
	CHECK_EQ_UINT(v[1].domid, 3);
	CHECK_EQ_UINT(v[2].domid, 7);
	CHECK_EQ_STR(v[2].name, "seven");
	CHECK(v[2].has_state && v[2].state == PLAT_DOM_RUNNING);
	free(v);
	/* One domain's lookup agrees with the list, and reads no other. */
	di.domid = 99;
	CHECK_EQ_INT(sim_dom_info_get(dir, 7, &di), 0);
	CHECK_EQ_UINT(di.domid, 7);
	CHECK_EQ_STR(di.name, "seven");
	CHECK(di.has_state && di.state == PLAT_DOM_RUNNING);
	CHECK_EQ_INT(sim_dom_set_state(dir, 7, PLAT_DOM_DYING), 0);
	CHECK_EQ_INT(sim_dom_info_get(dir, 7, &di), 0);
	CHECK(di.has_state && di.state == PLAT_DOM_DYING);
	CHECK_EQ_INT(sim_dom_info_get(dir, 9, &di), -ENOENT);
	CHECK_EQ_UINT(di.domid, 7); /* untouched on failure */
	/* A file where a domain's directory would be is no domain. */
	snprintf(path, sizeof(path), "%s/dom11", dir);
	CHECK(close(open(path, O_CREAT | O_WRONLY, 0644)) == 0);
	CHECK_EQ_INT(sim_dom_info_get(dir, 11, &di), -ENOENT);
	CHECK_EQ_INT(sim_dom_info_get(dir, 0x7ff0, &di), -EINVAL);
	snprintf(path, sizeof(path), "%s/none", dir);
	CHECK_EQ_INT(sim_dom_info_get(path, 7, &di), -ENOENT);
	CHECK_EQ_INT(sim_dom_remove(dir, 0), -EPERM);
	CHECK_EQ_INT(sim_dom_remove(dir, 9), -ENOENT);
	CHECK_EQ_INT(sim_dom_remove(dir, 3), 0);
	CHECK(!exists("dom3"));
	CHECK_EQ_INT(sim_dom_set_state(dir, 3, PLAT_DOM_DYING), -ENOENT);
	teardown();
}

static void test_pages_and_grants(void)
{
	struct plat *d0, *g, *g6;
	struct plat_start_info si;
	void *own, *mapped, *ring, *ring2, *ro;
	uint32_t ref = 0, ref2;
	uint64_t gfn;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", &si), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 6, "six", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	CHECK_EQ_INT(plat_open(spec, 6, &g6), 0);

	/* A new frame, granted to dom0, shared both ways. */
	CHECK_EQ_INT(plat_alloc_page(g, &gfn), 0);
	CHECK(gfn != si.store_gfn);
	CHECK_EQ_INT(plat_map_own(g, gfn, &own), 0);
	CHECK_EQ_INT(((char *)own)[100], 0); /* zeroed */
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref), 0);
	CHECK(ref >= SIM_GRANT_FIRST);
	CHECK_EQ_INT(plat_map_grant(d0, 5, ref, true, &mapped), 0);
	strcpy(own, "from the guest");
	CHECK_EQ_STR((char *)mapped, "from the guest");
	strcpy((char *)mapped + 2048, "from dom0");
	CHECK_EQ_STR((char *)own + 2048, "from dom0");

	/* Grant 1 is the store page; the foreign map reaches it too. */
	CHECK_EQ_INT(plat_map_grant(d0, 5, PLAT_GRANT_XENSTORE, true, &ring),
	             0);
	CHECK_EQ_INT(plat_map_foreign(d0, 5, si.store_gfn, &ring2), 0);
	CHECK_EQ_INT(plat_start_info(g, 5, &si), 0);
	CHECK_EQ_INT(plat_map_own(g, si.store_gfn, &own), 0);
	memcpy((char *)own + 2064, "\1\0\0\0", 4);
	CHECK_EQ_INT(((char *)ring)[2064], 1);
	CHECK_EQ_INT(((char *)ring2)[2064], 1);
	plat_unmap(d0, ring);
	plat_unmap(d0, ring2);
	plat_unmap(d0, NULL);

	/* Refusals. */
	CHECK_EQ_INT(plat_map_grant(g6, 5, ref, false, &ro), -EACCES);
	CHECK_EQ_INT(plat_map_grant(d0, 5, 999, false, &ro), -ENOENT);
	CHECK_EQ_INT(plat_map_grant(d0, 9, 1, false, &ro), -ENOENT);
	CHECK_EQ_INT(plat_map_grant(d0, 5, SIM_GRANT_MAX + 1, false, &ro),
	             -EINVAL);
	CHECK_EQ_INT(plat_map_foreign(g6, 5, si.store_gfn, &ro), -EPERM);
	CHECK_EQ_INT(plat_map_foreign(d0, 5, 12345, &ro), -ENOENT);
	CHECK_EQ_INT(plat_start_info(g6, 5, &si), -EPERM);
	CHECK_EQ_INT(plat_start_info(d0, 9, &si), -ENOENT);
	ref2 = SIM_GRANT_MAX + 1;
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref2), -EINVAL);
	ref2 = 0;
	CHECK_EQ_INT(plat_grant(g, 12345, 0, true, &ref2), -ENOENT);
	ref2 = PLAT_GRANT_XENSTORE; /* taken by the builder */
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref2), -EEXIST);

	/* Read-only grants map read-only only. */
	ref2 = 0;
	CHECK_EQ_INT(plat_grant(g, gfn, 6, false, &ref2), 0);
	CHECK(ref2 != ref);
	CHECK_EQ_INT(plat_map_grant(g6, 5, ref2, true, &ro), -EACCES);
	CHECK_EQ_INT(plat_map_grant(g6, 5, ref2, false, &ro), 0);
	CHECK_EQ_STR((char *)ro, "from the guest");

	/* Ungrant: refused while dom0 maps it; after the unmap, ended. */
	CHECK_EQ_INT(plat_ungrant(g, ref), -EBUSY);
	CHECK_EQ_STR((char *)mapped, "from the guest");
	plat_unmap(d0, mapped);
	CHECK_EQ_INT(plat_ungrant(g, ref), 0);
	CHECK_EQ_INT(plat_ungrant(g, ref), -ENOENT);
	CHECK_EQ_INT(plat_map_grant(d0, 5, ref, true, &ring), -ENOENT);

	plat_close(g6); /* unmaps ro */
	plat_close(g);
	plat_close(d0);
	teardown();
}

/* Bind dom0 to guest 5's store port; *d0port gets dom0's end. */
static void bind_store(struct plat *d0, unsigned int *d0port)
{
	struct plat_start_info si;

	CHECK_EQ_INT(plat_start_info(d0, 5, &si), 0);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, si.store_evtchn, d0port), 0);
}

static void test_evtchn_store_port(void)
{
	struct plat *d0, *g, *g6;
	unsigned int d0port = 0, port, p2;

	open_three(&d0, &g, &g6);

	/* Before binding: the guest's notify has no peer. */
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), -ENOTCONN);
	CHECK_EQ_INT(plat_evtchn_bind(g6, 5, 1, &port), -EACCES);
	bind_store(d0, &d0port);
	CHECK_EQ_UINT(d0port, 1);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, 1, &port), -EBUSY);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, 7, &port), -ENOENT);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 9, 1, &port), -ENOENT);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, 0, &port), -EINVAL);

	/* Guest -> dom0, several notifies standing as one event. */
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK(!is_readable(plat_evtchn_fd(d0)));
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), 0);
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), 0);
	CHECK(is_readable(plat_evtchn_fd(d0)));
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, d0port);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK(!is_readable(plat_evtchn_fd(d0)));

	/* Dom0 -> guest: the guest's plat listens on its store port. */
	CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), 0);
	CHECK(is_readable(plat_evtchn_fd(g)));
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, 1);
	CHECK_EQ_INT(plat_evtchn_pending(g6, &port), -EAGAIN);

	/* Not our ports. */
	CHECK_EQ_INT(plat_evtchn_notify(d0, 77), -EINVAL);
	CHECK_EQ_INT(plat_evtchn_unbind(d0, 77), -EINVAL);

	/* A burst of notifies is one event, taken in one call. */
	for (int i = 0; i < 2000; i++)
		CHECK_EQ_INT(plat_evtchn_notify(g, 1), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, d0port);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);

	/* The guest closes its end: dom0's notify fails, once dom0's plat
	 * has read the news from its fd (as the daemon's loop does). */
	CHECK_EQ_INT(plat_evtchn_unbind(g, 1), 0);
	CHECK(!exists("dom5/evtchn/1") && !exists("dom0/evtchn/1.peer"));
	CHECK(is_readable(plat_evtchn_fd(d0)));
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK(!is_readable(plat_evtchn_fd(d0)));
	CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), -ENOTCONN);
	/* ... and dom0's end went back to unbound for the guest. */
	CHECK(exists("dom0/evtchn/1.unbound"));
	CHECK_EQ_INT(plat_evtchn_bind(g, 0, d0port, &p2), 0);
	CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, p2);

	plat_close(g6);
	plat_close(g);
	plat_close(d0);
	teardown();
}

static void test_evtchn_unbound_and_close(void)
{
	struct plat *d0, *d0b, *g;
	unsigned int a, b, c, gp, port, d0port;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);

	/* Lowest free port first, holes reused. */
	CHECK_EQ_INT(plat_evtchn_alloc_unbound(d0, 5, &a), 0);
	CHECK_EQ_INT(plat_evtchn_alloc_unbound(d0, 5, &b), 0);
	CHECK_EQ_INT(plat_evtchn_alloc_unbound(d0, 5, &c), 0);
	CHECK(a == 1 && b == 2 && c == 3);
	CHECK_EQ_INT(plat_evtchn_unbind(d0, b), 0);
	CHECK_EQ_INT(plat_evtchn_alloc_unbound(d0, 5, &b), 0);
	CHECK_EQ_UINT(b, 2);
	CHECK_EQ_INT(plat_evtchn_alloc_unbound(d0, 0x7ff0, &port), -EINVAL);

	/* The guest binds dom0's unbound port: events both ways. */
	CHECK_EQ_INT(plat_evtchn_bind(g, 0, c, &gp), 0);
	CHECK(gp != 1); /* 1 is its store port */
	CHECK(!exists("dom0/evtchn/3.unbound"));
	CHECK_EQ_INT(plat_evtchn_notify(d0, c), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, gp);
	CHECK_EQ_INT(plat_evtchn_notify(g, gp), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, c);
	CHECK_EQ_INT(plat_evtchn_notify(d0, a), -ENOTCONN); /* unbound */

	/* Closing dom0's plat unbinds what it made; the guest learns. */
	bind_store(d0, &d0port);
	plat_close(d0);
	CHECK(!exists("dom0/evtchn/1") && !exists("dom0/evtchn/3"));
	CHECK_EQ_INT(plat_evtchn_notify(g, gp), -ENOTCONN);
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), -ENOTCONN);
	CHECK(exists("dom5/evtchn/1.unbound"));
	/* A restarted daemon binds the store port again. */
	CHECK_EQ_INT(plat_open(spec, 0, &d0b), 0);
	bind_store(d0b, &d0port);
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0b, &port), 0);
	CHECK_EQ_UINT(port, d0port);

	/* The guest's plat leaves its store port to the domain. */
	plat_close(g);
	CHECK(exists("dom5/evtchn/1") && exists("dom5/evtchn/1.peer"));
	CHECK_EQ_INT(plat_evtchn_notify(d0b, d0port), 0);
	plat_close(d0b);
	teardown();
}

static void test_domain_state(void)
{
	enum plat_dom_state st;
	struct plat *d0, *g;
	int fd;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	fd = plat_domain_exc_fd(d0);
	CHECK(fd >= 0);
	CHECK(!is_readable(fd));

	CHECK_EQ_INT(plat_domain_state(d0, 0, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_RUNNING);
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_RUNNING);
	CHECK_EQ_INT(plat_domain_state(d0, 9, &st), -ENOENT);
	CHECK_EQ_INT(plat_domain_state(d0, 0x7ff0, &st), -EINVAL);

	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_SHUTDOWN), 0);
	CHECK(is_readable(fd));
	CHECK_EQ_INT(plat_domain_exc_ack(d0, NULL), 0);
	CHECK(!is_readable(fd));
	CHECK_EQ_INT(plat_domain_state(g, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_SHUTDOWN);

	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_DYING), 0);
	CHECK(is_readable(fd));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_DYING);
	CHECK_EQ_INT(sim_dom_remove(dir, 5), 0);
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), -ENOENT);
	plat_close(g); /* its directory is gone: must not fail or crash */
	plat_close(d0);
	teardown();
}

static void test_garbage(void)
{
	static const char *const bad_grants[] = {
	    "",           "abc",
	    "4096",       "4096 0",
	    "4096 0 rx",  "4096 0 rw x",
	    "04096 0 rw", "-1 0 rw",
	    "4096 -0 rw", "4096 32752 rw",
	    "4096  0 rw", "4096 0 rw\n\n",
	    " 4096 0 rw", "99999999999999999999 0 rw",
	    "4096\t0 rw",
	};
	enum plat_dom_state st;
	struct plat_start_info si;
	struct plat *d0, *g;
	unsigned int port, d0port;
	void *a;
	char big[SIM_FILE_MAX + 10];

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);

	/* Grants. */
	for (size_t i = 0; i < sizeof(bad_grants) / sizeof(*bad_grants); i++) {
		CHECK(plant("dom5/grant/1", bad_grants[i]));
		if (plat_map_grant(d0, 5, 1, true, &a) != -EINVAL) {
			CHECK_EQ_STR(bad_grants[i], "(refused)");
		}
	}
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(plant("dom5/grant/1", big));
	CHECK_EQ_INT(plat_map_grant(d0, 5, 1, true, &a), -EINVAL);
	CHECK(plant("dom5/grant/1", "4096 0 rw\n"));
	CHECK_EQ_INT(plat_map_grant(d0, 5, 1, true, &a), 0);
	plat_unmap(d0, a);
	/* A grant of a frame that is not a page file. */
	CHECK(plant("dom5/grant/1", "5000 0 rw\n"));
	CHECK(plant("dom5/page/5000", "short"));
	CHECK_EQ_INT(plat_map_grant(d0, 5, 1, true, &a), -EINVAL);
	CHECK(plant("dom5/grant/1", "5001 0 rw\n"));
	CHECK_EQ_INT(plat_map_grant(d0, 5, 1, true, &a), -ENOENT);
	/* Symlinks are not followed. */
	{
		char target[512], link[512];

		snprintf(target, sizeof(target), "%s/dom0/state", dir);
		snprintf(link, sizeof(link), "%s/dom5/grant/2", dir);
		CHECK(symlink(target, link) == 0);
		CHECK_EQ_INT(plat_map_grant(d0, 5, 2, true, &a), -EINVAL);
		snprintf(link, sizeof(link), "%s/dom5/page/5002", dir);
		snprintf(target, sizeof(target), "%s/dom5/page/4096", dir);
		CHECK(symlink(target, link) == 0);
		CHECK(plant("dom5/grant/3", "5002 0 rw\n"));
		CHECK_EQ_INT(plat_map_grant(d0, 5, 3, true, &a), -EINVAL);
	}
	/* A FIFO in place of a text file neither blocks nor passes. */
	{
		char fifo[512];

		snprintf(fifo, sizeof(fifo), "%s/dom5/grant/4", dir);
		CHECK(mkfifo(fifo, 0600) == 0);
		CHECK_EQ_INT(plat_map_grant(d0, 5, 4, true, &a), -EINVAL);
	}

	/* State and start info. */
	CHECK(plant("dom5/state", "running\nrunning\n"));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), -EINVAL);
	CHECK(plant("dom5/state", "Running"));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), -EINVAL);
	CHECK(plant("dom5/state", "suspended"));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_SUSPENDED);
	CHECK(plant("dom5/state", "suspend"));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), -EINVAL);
	CHECK(plant("dom5/state", "dying"));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_DYING);
	CHECK(plant("dom5/start-info", "store_gfn=4096\n"));
	CHECK_EQ_INT(plat_start_info(d0, 5, &si), -EINVAL);
	CHECK(plant("dom5/start-info", "store_gfn=4096\nstore_evtchn=0\n"));
	CHECK_EQ_INT(plat_start_info(d0, 5, &si), -EINVAL);
	CHECK(plant("dom5/start-info", "store_gfn=4096\nstore_evtchn=1\n"
	                               "store_evtchn=2\n"));
	CHECK_EQ_INT(plat_start_info(d0, 5, &si), -EINVAL);
	CHECK(plant("dom5/start-info",
	            "future=x\nstore_evtchn=1\nstore_gfn=4096"));
	CHECK_EQ_INT(plat_start_info(d0, 5, &si), 0);
	CHECK_EQ_UINT(si.store_gfn, 4096);
	CHECK_EQ_UINT(si.store_evtchn, 1);

	/* Event channel side files. */
	CHECK(plant("dom5/evtchn/1.unbound", "zero"));
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, 1, &port), -EINVAL);
	CHECK(plant("dom5/evtchn/1.unbound", "0"));
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, 1, &d0port), 0);
	CHECK(plant("dom5/evtchn/1.peer", "0 1 2"));
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), -EINVAL);
	CHECK(plant("dom5/evtchn/1.peer", "0 0"));
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), -EINVAL);
	CHECK(plant("dom5/evtchn/1.peer", "0 99")); /* no such port */
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), -ENOTCONN);
	CHECK(plant("dom5/evtchn/1.peer", "0 1\n"));
	CHECK_EQ_INT(plat_evtchn_notify(g, 1), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, d0port);

	plat_close(g);
	plat_close(d0);
	teardown();
}

static void test_parse_num(void)
{
	const char *s;
	uint64_t v;

	s = "0";
	CHECK_EQ_INT(simfs_parse_num(&s, 10, &v), 0);
	CHECK_EQ_UINT(v, 0);
	s = "18446744073709551615";
	CHECK_EQ_INT(simfs_parse_num(&s, UINT64_MAX, &v), 0);
	CHECK_EQ_UINT(v, UINT64_MAX);
	s = "18446744073709551616";
	CHECK_EQ_INT(simfs_parse_num(&s, UINT64_MAX, &v), -EINVAL);
	s = "32752";
	CHECK_EQ_INT(simfs_parse_num(&s, SIM_DOMID_MAX, &v), -EINVAL);
	s = "32751x";
	CHECK_EQ_INT(simfs_parse_num(&s, SIM_DOMID_MAX, &v), 0);
	CHECK_EQ_STR(s, "x");
	s = "01";
	CHECK_EQ_INT(simfs_parse_num(&s, 10, &v), -EINVAL);
	s = "+1";
	CHECK_EQ_INT(simfs_parse_num(&s, 10, &v), -EINVAL);
	s = "5";
	CHECK_EQ_INT(simfs_parse_num(&s, 0, &v), -EINVAL);
	CHECK_EQ_INT(simfs_parse_name_num("12", 1, 20, &v), 0);
	CHECK_EQ_INT(simfs_parse_name_num("0", 1, 20, &v), -EINVAL);
	CHECK_EQ_INT(simfs_parse_name_num("12.peer", 1, 20, &v), -EINVAL);
	CHECK_EQ_INT(simfs_parse_name_num("", 0, 20, &v), -EINVAL);
}

/*
 * A guest's own view of its state: suspended and resumed (the state a
 * guest's multiplexer and xenbus buses follow), then its death, without
 * reading virq-dom-exc (the daemon's).
 */
static void test_guest_own_state(void)
{
	enum plat_dom_state st;
	struct plat *d0, *g, *g2;
	int fd, d0fd;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 6, "six", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g2), 0);
	d0fd = plat_domain_exc_fd(d0);
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0); /* nothing yet: fine */
	fd = plat_domain_exc_fd(g);
	CHECK(fd >= 0);
	CHECK_EQ_INT(plat_domain_exc_fd(g), fd); /* one per plat */
	CHECK(plat_domain_exc_fd(g2) >= 0);
	CHECK(!is_readable(fd));
	CHECK_EQ_INT(plat_domain_state(g, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_RUNNING);

	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_SUSPENDED), 0);
	CHECK(is_readable(fd));
	CHECK(is_readable(plat_domain_exc_fd(g2))); /* every process sees it */
	CHECK_EQ_INT(plat_domain_state(g, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_SUSPENDED);
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0);
	CHECK(!is_readable(fd));
	/* The daemon's FIFO got its byte: the guest took nothing from it. */
	CHECK(is_readable(d0fd));
	CHECK_EQ_INT(plat_domain_exc_ack(d0, NULL), 0);

	/* Another domain's change does not wake us. */
	CHECK_EQ_INT(sim_dom_set_state(dir, 6, PLAT_DOM_SHUTDOWN), 0);
	CHECK(!is_readable(fd));

	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_RUNNING), 0);
	CHECK(is_readable(fd));
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0);
	CHECK_EQ_INT(plat_domain_state(g, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_RUNNING);

	/* Written by hand as docs/sim.md says (rename over the file). */
	CHECK(plant("dom5/state.tmp.1", "suspended\n"));
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0); /* its close woke us */
	CHECK(!is_readable(fd));
	{
		char a[512], b[512];

		snprintf(a, sizeof(a), "%s/dom5/state.tmp.1", dir);
		snprintf(b, sizeof(b), "%s/dom5/state", dir);
		CHECK(rename(a, b) == 0);
	}
	CHECK(is_readable(fd));
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0);
	CHECK_EQ_INT(plat_domain_state(g, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_SUSPENDED);

	/* Death: dying, then the directory goes. */
	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_DYING), 0);
	CHECK(is_readable(fd));
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0);
	CHECK_EQ_INT(sim_dom_remove(dir, 5), 0);
	CHECK(is_readable(fd));
	CHECK_EQ_INT(plat_domain_exc_ack(g, NULL), 0);
	CHECK_EQ_INT(plat_domain_state(g, 5, &st), -ENOENT);
	CHECK(!is_readable(fd));
	plat_close(g2);
	plat_close(g);
	plat_close(d0);
	teardown();
}

/*
 * A device process inside a guest opens the platform without the store
 * port: events on it keep going to the guest's own plat alone.
 */
static void test_open_no_store_port(void)
{
	struct plat *d0, *g, *dev;
	unsigned int d0port, port, a;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open_flags(spec, 5, 1u << 7, &dev), -EINVAL);
	CHECK(dev == NULL);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	CHECK_EQ_INT(plat_open_flags(spec, 5, PLAT_OPEN_NO_STORE_PORT, &dev),
	             0);
	CHECK_EQ_UINT(plat_self(dev), 5);
	bind_store(d0, &d0port);

	CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), 0);
	CHECK(!is_readable(plat_evtchn_fd(dev)));
	CHECK_EQ_INT(plat_evtchn_pending(dev, &port), -EAGAIN);
	CHECK(is_readable(plat_evtchn_fd(g)));
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, 1);
	/* Not its port: it cannot notify or close it either. */
	CHECK_EQ_INT(plat_evtchn_notify(dev, 1), -EINVAL);
	CHECK_EQ_INT(plat_evtchn_unbind(dev, 1), -EINVAL);

	/* Its own ports work as any plat's. */
	CHECK_EQ_INT(plat_evtchn_alloc_unbound(dev, 0, &a), 0);
	CHECK(a != 1);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, a, &port), 0);
	CHECK_EQ_INT(plat_evtchn_notify(d0, port), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), -EAGAIN);
	CHECK_EQ_INT(plat_evtchn_pending(dev, &port), 0);
	CHECK_EQ_UINT(port, a);
	plat_close(dev);
	CHECK(exists("dom5/evtchn/1") && exists("dom5/evtchn/1.peer"));
	plat_close(g);
	plat_close(d0);
	teardown();
}

static void test_free_page(void)
{
	struct plat *g;
	uint64_t gfn, store_gfn = SIM_GFN_FIRST;
	uint32_t ref = 0;
	char rel[64];
	void *a;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	CHECK_EQ_INT(plat_alloc_page(g, &gfn), 0);
	snprintf(rel, sizeof(rel), "dom5/page/%llu", (unsigned long long)gfn);
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref), 0);
	CHECK_EQ_INT(plat_free_page(g, gfn), -EBUSY);
	CHECK(exists(rel));
	/* The store page is granted (grant 1) by the builder. */
	CHECK_EQ_INT(plat_free_page(g, store_gfn), -EBUSY);
	/* A garbage grant names no frame. */
	CHECK(plant("dom5/grant/20", "garbage"));
	CHECK_EQ_INT(plat_ungrant(g, ref), 0);
	CHECK_EQ_INT(plat_free_page(g, gfn), 0);
	CHECK(!exists(rel));
	CHECK_EQ_INT(plat_free_page(g, gfn), -ENOENT);
	CHECK_EQ_INT(plat_map_own(g, gfn, &a), -ENOENT);
	CHECK_EQ_INT(plat_free_page(g, 12345), -ENOENT);
	CHECK_EQ_INT(plat_free_page(g, SIM_GFN_MAX + 1), -EINVAL);
	plat_close(g);
	teardown();
}

/*
 * Map grant `ref` of domain 5 as dom0 in a child process, report on
 * `ready`, then wait until `go` closes and leave without unmapping (as
 * if it crashed).
 */
static pid_t mapper_spawn(uint32_t ref, int *go_w)
{
	int ready[2], go[2];
	pid_t pid;
	char c = 0;

	if (pipe(ready) < 0 || pipe(go) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct plat *c0;
		void *a;

		close(ready[0]);
		close(go[1]);
		if (plat_open(spec, 0, &c0) ||
		    plat_map_grant(c0, 5, ref, true, &a))
			_exit(1);
		if (write(ready[1], "m", 1) != 1)
			_exit(1);
		while (read(go[0], &c, 1) > 0)
			;
		_exit(0); /* no unmap, no close */
	}
	close(ready[1]);
	close(go[0]);
	if (pid < 0 || read(ready[0], &c, 1) != 1 || c != 'm') {
		close(ready[0]);
		close(go[1]);
		return -1;
	}
	close(ready[0]);
	*go_w = go[1];
	return pid;
}

static void test_ungrant_while_mapped(void)
{
	struct plat *d0, *d0b, *g;
	uint32_t ref = 0, ref2 = 0, refs[3];
	uint64_t gfn;
	void *a, *b;
	int go = -1, status;
	pid_t pid;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0b), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	CHECK_EQ_INT(plat_alloc_page(g, &gfn), 0);
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref), 0);

	/* Two mappers (two plats of this process): busy until both unmap. */
	CHECK_EQ_INT(plat_map_grant(d0, 5, ref, true, &a), 0);
	CHECK_EQ_INT(plat_map_grant(d0b, 5, ref, false, &b), 0);
	CHECK_EQ_INT(plat_ungrant(g, ref), -EBUSY);
	plat_unmap(d0, a);
	CHECK_EQ_INT(plat_ungrant(g, ref), -EBUSY);
	CHECK_EQ_STR((char *)b, ""); /* still mapped, still granted */
	plat_close(d0b);             /* closing unmaps too */
	CHECK_EQ_INT(plat_ungrant(g, ref), 0);
	CHECK_EQ_INT(plat_map_grant(d0, 5, ref, true, &a), -ENOENT);

	/* A mapper in another process; its death ends the mapping. */
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref2), 0);
	pid = mapper_spawn(ref2, &go);
	CHECK(pid > 0);
	CHECK_EQ_INT(plat_ungrant(g, ref2), -EBUSY);
	close(go);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ_INT(plat_ungrant(g, ref2), 0);

	/* A multi-page map holds every page's grant; a failed one none. */
	for (int i = 0; i < 3; i++) {
		refs[i] = 0;
		CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &refs[i]), 0);
	}
	CHECK_EQ_INT(plat_map_grants(d0, 5, refs, 3, true, &a), 0);
	CHECK_EQ_INT(plat_ungrant(g, refs[2]), -EBUSY);
	plat_unmap(d0, a);
	CHECK_EQ_INT(plat_ungrant(g, refs[2]), 0);
	CHECK_EQ_INT(plat_map_grants(d0, 5, refs, 3, true, &a), -ENOENT);
	CHECK(a == NULL);
	CHECK_EQ_INT(plat_ungrant(g, refs[0]), 0);
	CHECK_EQ_INT(plat_ungrant(g, refs[1]), 0);
	plat_close(g);
	plat_close(d0);
	teardown();
}

/* Several frames mapped as one contiguous area, both sides. */
static void test_map_pages(void)
{
	struct plat *d0, *g;
	uint64_t gfns[3];
	uint32_t refs[3];
	char *own, *peer, *one;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	for (int i = 0; i < 3; i++) {
		refs[i] = 0;
		CHECK_EQ_INT(plat_alloc_page(g, &gfns[i]), 0);
		CHECK_EQ_INT(plat_grant(g, gfns[i], 0, true, &refs[i]), 0);
	}
	CHECK_EQ_INT(plat_map_own_pages(g, gfns, 0, (void **)&own), -EINVAL);
	CHECK_EQ_INT(
	    plat_map_own_pages(g, gfns, PLAT_MAP_PAGES_MAX + 1, (void **)&own),
	    -EINVAL);
	CHECK_EQ_INT(plat_map_own_pages(g, gfns, 3, (void **)&own), 0);
	for (int i = 0; i < 3; i++)
		own[i * PLAT_PAGE_SIZE + 1] = (char)('a' + i);
	/* Reversed order: page i of the map is refs[i]'s frame. */
	{
		uint32_t rev[3] = {refs[2], refs[1], refs[0]};

		CHECK_EQ_INT(
		    plat_map_grants(d0, 5, rev, 3, true, (void **)&peer), 0);
	}
	CHECK_EQ_INT(peer[1], 'c');
	CHECK_EQ_INT(peer[PLAT_PAGE_SIZE + 1], 'b');
	CHECK_EQ_INT(peer[2 * PLAT_PAGE_SIZE + 1], 'a');
	peer[2 * PLAT_PAGE_SIZE + 2] = 'z';
	CHECK_EQ_INT(own[2], 'z');
	CHECK_EQ_INT(plat_map_own(g, gfns[1], (void **)&one), 0);
	CHECK_EQ_INT(one[1], 'b');
	plat_unmap(g, own);
	plat_unmap(d0, peer);
	/* One bad frame: nothing mapped. */
	gfns[1] = 12345;
	CHECK_EQ_INT(plat_map_own_pages(g, gfns, 3, (void **)&own), -ENOENT);
	CHECK(own == NULL);
	CHECK_EQ_INT(one[1], 'b');
	plat_close(g);
	plat_close(d0);
	teardown();
}

/*
 * A daemon that dies: a child process opens dom0, binds the store ports
 * of guests 5..7, maps guest 5's ring and writes into it, notifies guest
 * 5 and exits without plat_close, as kill -9 would leave it.  ports[i]
 * gets its port for guest 5 + i.
 */
static bool crashed_daemon(unsigned int ports[3])
{
	unsigned int v[3] = {0, 0, 0};
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return false;
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		struct plat *d0;
		char *ring;

		close(fds[0]);
		if (plat_open(spec, 0, &d0) == 0 &&
		    plat_evtchn_bind(d0, 5, 1, &v[0]) == 0 &&
		    plat_evtchn_bind(d0, 6, 1, &v[1]) == 0 &&
		    plat_evtchn_bind(d0, 7, 1, &v[2]) == 0 &&
		    plat_map_grant(d0, 5, PLAT_GRANT_XENSTORE, true,
		                   (void **)&ring) == 0) {
			memcpy(ring, "old", 4);
			plat_evtchn_notify(d0, v[0]);
		}
		_exit(write(fds[1], v, sizeof(v)) == sizeof(v) ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], ports, 3 * sizeof(*ports));
	close(fds[0]);
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0 && n == 3 * sizeof(*ports) &&
	       ports[0] && ports[1] && ports[2];
}

static void test_evtchn_rebind(void)
{
	struct plat *d0, *d0x, *g5, *g6, *g7;
	struct plat_start_info si;
	unsigned int old[3], port, p6, p7;
	char path[400], *ring, *ring2;
	enum plat_dom_state st;
	int exc;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", &si), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 6, "six", NULL), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 7, "seven", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g5), 0);
	CHECK_EQ_INT(plat_open(spec, 6, &g6), 0);
	CHECK_EQ_INT(plat_open(spec, 7, &g7), 0);
	CHECK(crashed_daemon(old));
	CHECK_EQ_INT(plat_evtchn_pending(g5, &port), 0); /* its last word */
	CHECK_EQ_UINT(port, 1);

	/* Its ports stayed; the guest notifies the dead daemon. */
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 5, 1, &port), -EBUSY);
	CHECK_EQ_INT(plat_evtchn_notify(g5, 1), 0);
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 5, 1, 0, &port), -EINVAL);

	/* The new daemon adopts the port: same number, the event waits. */
	port = 0;
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 5, 1, old[0], &port), 0);
	CHECK_EQ_UINT(port, old[0]);
	CHECK(is_readable(plat_evtchn_fd(d0)));
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, old[0]);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK_EQ_INT(plat_evtchn_notify(d0, old[0]), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g5, &port), 0);
	CHECK_EQ_UINT(port, 1);
	CHECK_EQ_INT(plat_evtchn_notify(g5, 1), 0); /* and on */
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, old[0]);
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 5, 1, old[0], &port), 0);
	CHECK_EQ_UINT(port, old[0]); /* already ours */

	/* The same ring again, through grant 1 or directly. */
	CHECK_EQ_INT(
	    plat_map_grant(d0, 5, PLAT_GRANT_XENSTORE, true, (void **)&ring),
	    0);
	CHECK_EQ_STR(ring, "old");
	CHECK_EQ_INT(plat_map_foreign(d0, 5, si.store_gfn, (void **)&ring2), 0);
	CHECK_EQ_STR(ring2, "old");
	plat_unmap(d0, ring2);
	plat_unmap(d0, ring);

	/* Its VIRQ_DOM_EXC too. */
	exc = plat_domain_exc_fd(d0);
	CHECK(exc >= 0);
	CHECK_EQ_INT(plat_domain_exc_ack(d0, NULL), 0);
	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_SHUTDOWN), 0);
	CHECK(is_readable(exc));
	CHECK_EQ_INT(plat_domain_exc_ack(d0, NULL), 0);
	CHECK(!is_readable(exc));
	CHECK_EQ_INT(plat_domain_state(d0, 5, &st), 0);
	CHECK_EQ_INT(st, PLAT_DOM_SHUTDOWN);

	/* Guest 6's old port was unbound meanwhile (by another dom0 plat
	 * that took it over, then let it go): a fresh bind. */
	CHECK_EQ_INT(plat_open(spec, 0, &d0x), 0);
	CHECK_EQ_INT(plat_evtchn_rebind(d0x, 6, 1, old[1], &port), 0);
	CHECK_EQ_UINT(port, old[1]);
	CHECK_EQ_INT(plat_evtchn_unbind(d0x, old[1]), 0);
	CHECK(exists("dom6/evtchn/1.unbound"));
	plat_close(d0x);
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 6, 1, old[1], &p6), 0);
	snprintf(path, sizeof(path), "dom0/evtchn/%u.peer", p6);
	CHECK(exists(path) && !exists("dom6/evtchn/1.unbound"));
	CHECK_EQ_INT(plat_evtchn_notify(g6, 1), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, p6);
	CHECK_EQ_INT(plat_evtchn_notify(d0, p6), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g6, &port), 0);
	CHECK_EQ_UINT(port, 1);

	/* Guest 7's: dom0's end removed by hand, the guest's claim left:
	 * plat_evtchn_bind refuses, the rebind clears it and binds. */
	snprintf(path, sizeof(path), "%s/dom0/evtchn/%u", dir, old[2]);
	CHECK(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/dom0/evtchn/%u.peer", dir, old[2]);
	CHECK(unlink(path) == 0);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 7, 1, &port), -EBUSY);
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 7, 1, old[2], &p7), 0);
	CHECK_EQ_INT(plat_evtchn_notify(d0, p7), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g7, &port), 0);
	CHECK_EQ_UINT(port, 1);

	/* An adopted port is the plat's own: closing it unbinds it. */
	plat_close(d0);
	snprintf(path, sizeof(path), "dom0/evtchn/%u", old[0]);
	CHECK(!exists(path) && exists("dom5/evtchn/1.unbound"));
	CHECK_EQ_INT(plat_evtchn_notify(g5, 1), -ENOTCONN);
	plat_close(g7);
	plat_close(g6);
	plat_close(g5);
	teardown();
}

/*
 * A dead binder's port whose remote end was reset meanwhile (the guest's
 * side made unbound again by hand) is nobody's: the rebind removes it.
 */
static void test_evtchn_rebind_orphan(void)
{
	struct plat *d0, *g;
	unsigned int old[3], port;
	char path[400];

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 6, "six", NULL), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 7, "seven", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 6, &g), 0);
	CHECK(crashed_daemon(old));
	CHECK(plant("dom6/evtchn/1.unbound", "0\n"));
	snprintf(path, sizeof(path), "%s/dom6/evtchn/1.peer", dir);
	CHECK(unlink(path) == 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 6, 1, old[1], &port), 0);
	/* The lowest free port: the orphan's number, free again. */
	CHECK_EQ_UINT(port, old[1]);
	CHECK_EQ_INT(plat_evtchn_notify(d0, port), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, 1);
	/* A port whose .peer names another channel is left alone. */
	CHECK_EQ_INT(plat_evtchn_rebind(d0, 7, 1, old[0], &port), -EBUSY);
	snprintf(path, sizeof(path), "dom0/evtchn/%u.peer", old[0]);
	CHECK(exists(path));
	plat_close(d0);
	plat_close(g);
	teardown();
}

/* How many fds this process has open. */
static int fd_count(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 4096; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n += access(path, F_OK) == 0;
	}
	return n;
}

static uint64_t peer_checks(struct plat *p)
{
	struct sim_counters c;

	sim_get_counters(p, &c);
	return c.peer_checks;
}

/* Is there an event on FIFO `rel` (opened by path: the file now there)? */
static bool fifo_has_event(const char *rel)
{
	char path[512];
	bool has;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_RDWR | O_NONBLOCK);
	if (fd < 0)
		return false;
	has = simfs_fifo_take(fd);
	close(fd);
	return has;
}

/*
 * Dom0's plat, whose fd is served as the daemon serves it, keeps the
 * remote FIFO open and looks at its .peer by path only after a change of
 * its evtchn directory: every change of the binding is seen by the next
 * notify after the plat read its fd.
 */
static void test_evtchn_peer_cache(void)
{
	struct plat *d0, *g, *g6;
	unsigned int d0port, d6port, gp, port;
	char rel[64], path[512], tmp[512];
	uint64_t before;

	open_three(&d0, &g, &g6);
	CHECK(plat_evtchn_fd(d0) >= 0);
	bind_store(d0, &d0port);
	CHECK_EQ_INT(plat_evtchn_bind(d0, 6, 1, &d6port), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);

	/* The hot path: one look at .peer for the first notify, then none. */
	before = peer_checks(d0);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), 0);
		CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	}
	CHECK(peer_checks(d0) - before <= 1);
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, 1);

	/* The guest unbinds its store port and binds dom0's port (unbound
	 * for it again) from a new port: notifies follow. */
	CHECK_EQ_INT(plat_evtchn_unbind(g, 1), 0);
	CHECK_EQ_INT(plat_evtchn_bind(g, 0, d0port, &gp), 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g, &port), 0);
	CHECK_EQ_UINT(port, gp);

	/* Its plat closes (unbinding what it bound): dom0's notify fails. */
	plat_close(g);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK_EQ_INT(plat_evtchn_notify(d0, d0port), -ENOTCONN);

	/* Guest 6's FIFO made anew (and dom0's .peer rewritten, by hand,
	 * naming it again): the notify reaches the new FIFO. */
	CHECK_EQ_INT(plat_evtchn_notify(d0, d6port), 0);
	CHECK_EQ_INT(plat_evtchn_pending(g6, &port), 0);
	snprintf(path, sizeof(path), "%s/dom6/evtchn/1", dir);
	CHECK(unlink(path) == 0 && mkfifo(path, 0600) == 0);
	snprintf(rel, sizeof(rel), "dom0/evtchn/%u.peer", d6port);
	CHECK(plant(rel, "6 1\n"));
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK_EQ_INT(plat_evtchn_notify(d0, d6port), 0);
	CHECK(fifo_has_event("dom6/evtchn/1"));
	/* The same after a rename over it (the sim's own atomic write). */
	snprintf(path, sizeof(path), "%s/dom6/evtchn/1", dir);
	CHECK(unlink(path) == 0 && mkfifo(path, 0600) == 0);
	snprintf(tmp, sizeof(tmp), "%s/dom0/evtchn/x.tmp.1", dir);
	snprintf(path, sizeof(path), "%s/dom0/evtchn/%u.peer", dir, d6port);
	CHECK(plant("dom0/evtchn/x.tmp.1", "6 1\n"));
	CHECK(rename(tmp, path) == 0);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), -EAGAIN);
	CHECK_EQ_INT(plat_evtchn_notify(d0, d6port), 0);
	CHECK(fifo_has_event("dom6/evtchn/1"));

	/* Without the watch (a guest's plat), every notify looks. */
	before = peer_checks(g6);
	CHECK_EQ_INT(plat_evtchn_notify(g6, 1), 0);
	CHECK_EQ_INT(plat_evtchn_notify(g6, 1), 0);
	CHECK_EQ_UINT(peer_checks(g6) - before, 2);
	CHECK_EQ_INT(plat_evtchn_pending(d0, &port), 0);
	CHECK_EQ_UINT(port, d6port);
	plat_close(d0);
	plat_close(g6);
	teardown();
}

/*
 * With the remote FIFOs held open capped, notifies to more ports than
 * the cap all arrive, and the plat holds at most the cap open.
 */
static void test_evtchn_peer_fds_max(void)
{
	enum { N = 24, CAP = 4 };
	struct plat *d0, *g[N];
	unsigned int d0port[N], port;
	struct sim_counters c;
	int fds;

	CHECK(setup());
	for (unsigned int i = 0; i < N; i++)
		CHECK_EQ_INT(sim_dom_create(dir, 10 + i, "g", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	sim_set_peer_fds_max(d0, CAP);
	CHECK(plat_evtchn_fd(d0) >= 0);
	for (unsigned int i = 0; i < N; i++) {
		CHECK_EQ_INT(plat_open(spec, 10 + i, &g[i]), 0);
		CHECK_EQ_INT(plat_evtchn_bind(d0, 10 + i, 1, &d0port[i]), 0);
	}
	fds = fd_count();
	for (int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < N; i++) {
			CHECK_EQ_INT(plat_evtchn_notify(d0, d0port[i]), 0);
			/* A recent one again: it stays open. */
			CHECK_EQ_INT(plat_evtchn_notify(d0, d0port[i / 2]), 0);
		}
		for (unsigned int i = 0; i < N; i++) {
			CHECK_EQ_INT(plat_evtchn_pending(g[i], &port), 0);
			CHECK_EQ_UINT(port, 1);
			CHECK_EQ_INT(plat_evtchn_pending(g[i], &port), -EAGAIN);
		}
		sim_get_counters(d0, &c);
		CHECK(c.peer_fds <= CAP);
		CHECK(fd_count() <= fds + CAP);
	}
	plat_close(d0);
	for (unsigned int i = 0; i < N; i++)
		plat_close(g[i]);
	teardown();
}

/*
 * A mapping through a grant holds the grant file (the granter sees it
 * mapped) without holding an fd: the daemon maps one per guest, and
 * 10 000 guests' fds would not fit beside their event channels.
 */
static void test_map_grant_no_fd(void)
{
	struct plat *d0, *g;
	uint32_t ref = 0;
	uint64_t gfn;
	void *a;
	int fds;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	CHECK_EQ_INT(plat_open(spec, 5, &g), 0);
	CHECK_EQ_INT(plat_alloc_page(g, &gfn), 0);
	CHECK_EQ_INT(plat_grant(g, gfn, 0, true, &ref), 0);
	fds = fd_count();
	CHECK_EQ_INT(plat_map_grant(d0, 5, ref, true, &a), 0);
	CHECK_EQ_INT(fd_count(), fds);
	CHECK_EQ_INT(plat_ungrant(g, ref), -EBUSY);
	plat_unmap(d0, a);
	CHECK_EQ_INT(plat_ungrant(g, ref), 0);
	plat_close(g);
	plat_close(d0);
	teardown();
}

/* The domains virq-dom-exc names (docs/sim.md): "<D>\n" lines, no
 * repeats; anything else, too many, or a pipe that filled: is_all. */
static void test_exc_named(void)
{
	struct plat_exc ex;
	struct plat *d0;
	char line[8];
	int fd, wfd, root;

	CHECK(setup());
	CHECK_EQ_INT(sim_dom_create(dir, 5, "five", NULL), 0);
	CHECK_EQ_INT(sim_dom_create(dir, 7, "seven", NULL), 0);
	CHECK_EQ_INT(plat_open(spec, 0, &d0), 0);
	fd = plat_domain_exc_fd(d0);
	CHECK(fd >= 0);

	/* nothing pending: nothing changed */
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(!ex.is_all);
	CHECK_EQ_UINT(ex.n, 0);

	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_SHUTDOWN), 0);
	CHECK_EQ_INT(sim_dom_set_state(dir, 7, PLAT_DOM_SHUTDOWN), 0);
	CHECK_EQ_INT(sim_dom_set_state(dir, 5, PLAT_DOM_RUNNING), 0);
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(!ex.is_all);
	CHECK_EQ_UINT(ex.n, 2);
	CHECK_EQ_UINT(ex.domid[0], 5);
	CHECK_EQ_UINT(ex.domid[1], 7);
	CHECK(!is_readable(fd));

	/* a writer naming none (docs/sim.md allows any bytes) */
	root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	CHECK_EQ_INT(simfs_fifo_open(root, SIM_VIRQ_DOM_EXC, &wfd), 0);
	close(root);
	CHECK_EQ_INT(write(wfd, "x", 1), 1);
	CHECK_EQ_INT(simfs_exc_raise(wfd, 5), 0);
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(ex.is_all);

	/* more than PLAT_EXC_MAX domains */
	for (unsigned int i = 1; i <= PLAT_EXC_MAX + 1; i++)
		CHECK_EQ_INT(simfs_exc_raise(wfd, i), 0);
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(ex.is_all);
	for (unsigned int i = 1; i <= PLAT_EXC_MAX; i++)
		CHECK_EQ_INT(simfs_exc_raise(wfd, i), 0);
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(!ex.is_all);
	CHECK_EQ_UINT(ex.n, PLAT_EXC_MAX);

	/* Many lines of one domain: reads cut lines, which are carried. */
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(simfs_exc_raise(wfd, 32751), 0);
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(!ex.is_all);
	CHECK_EQ_UINT(ex.n, 1);
	CHECK_EQ_UINT(ex.domid[0], 32751);

	/* A full pipe refuses a writer's line: the reader checks all. */
	snprintf(line, sizeof(line), "%u\n", 9u);
	while (write(wfd, line, 2) == 2)
		;
	CHECK_EQ_INT(errno, EAGAIN);
	CHECK_EQ_INT(simfs_exc_raise(wfd, 5), 0); /* lost, and success */
	CHECK_EQ_INT(plat_domain_exc_ack(d0, &ex), 0);
	CHECK(ex.is_all);
	CHECK(!is_readable(fd));
	close(wfd);
	plat_close(d0);
	teardown();
}

/* The line parser alone: what names a domain and what does not. */
static void test_exc_parse(void)
{
	static const struct {
		const char *in;
		bool is_all;
		unsigned int n, first;
		size_t used;
	} cases[] = {
	    {"5\n", false, 1, 5, 2},
	    {"0\n", false, 1, 0, 2},
	    {"32751\n", false, 1, 32751, 6},
	    {"32752\n", true, 0, 0, 6},  /* past SIM_DOMID_MAX */
	    {"123456\n", true, 0, 0, 7}, /* too long */
	    {"05\n", true, 0, 0, 3},     /* leading zero */
	    {"\n", true, 0, 0, 1},       /* empty */
	    {"-1\n", true, 0, 0, 3},
	    {"5 \n", true, 0, 0, 3},
	    {"x", false, 0, 0, 0}, /* unfinished: left for the next read */
	    {"7\n12", false, 1, 7, 2},
	    {"7\n7\n", false, 1, 7, 4}, /* no repeats */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct plat_exc ex = {false, 0, {0}};
		size_t used =
		    simfs_exc_parse(cases[i].in, strlen(cases[i].in), &ex);

		CHECK_EQ_UINT(used, cases[i].used);
		CHECK_EQ_INT(ex.is_all, cases[i].is_all);
		CHECK_EQ_UINT(ex.n, cases[i].n);
		if (ex.n)
			CHECK_EQ_UINT(ex.domid[0], cases[i].first);
	}
}

static const struct check_test tests[] = {
    CHECK_TEST(test_open),
    CHECK_TEST(test_builder),
    CHECK_TEST(test_pages_and_grants),
    CHECK_TEST(test_evtchn_store_port),
    CHECK_TEST(test_evtchn_unbound_and_close),
    CHECK_TEST(test_domain_state),
    CHECK_TEST(test_exc_named),
    CHECK_TEST(test_exc_parse),
    CHECK_TEST(test_guest_own_state),
    CHECK_TEST(test_garbage),
    CHECK_TEST(test_parse_num),
    CHECK_TEST(test_open_no_store_port),
    CHECK_TEST(test_free_page),
    CHECK_TEST(test_ungrant_while_mapped),
    CHECK_TEST(test_map_pages),
    CHECK_TEST(test_evtchn_rebind),
    CHECK_TEST(test_evtchn_rebind_orphan),
    CHECK_TEST(test_evtchn_peer_cache),
    CHECK_TEST(test_evtchn_peer_fds_max),
    CHECK_TEST(test_map_grant_no_fd),
};

CHECK_MAIN(tests)
