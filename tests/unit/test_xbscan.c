/*
 * test_xbscan.c - xenbus_scan() against the real daemon (over its socket,
 * as dom0): well-formed frontend/backend pairs, the domain filter, and
 * garbage a guest or a half-finished toolstack can leave (non-numeric
 * domains, types' ids and domids, bad states, values with nuls, relative
 * and dangling other-end paths, missing nodes), none of which may fail
 * the scan or hide the good devices.  One daemon for the whole binary;
 * each test works under domain ids of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check.h"
#include "tests/support/xsd.h"
#include "xstore/xenbus.h"
#include "xstore/xstore.h"

static struct xsd daemon_;
static bool has_daemon;

static void stop_daemon(void)
{
	if (has_daemon)
		xsd_stop(&daemon_);
}

static struct xstore *open_store(void)
{
	struct xstore *h = NULL;

	if (!has_daemon) {
		if (xsd_start(&daemon_, NULL))
			return NULL;
		has_daemon = true;
		atexit(stop_daemon);
	}
	if (xstore_open(daemon_.spec, 0, &h))
		return NULL;
	return h;
}

static bool put(struct xstore *h, const char *path, const char *value)
{
	int err = xstore_write_str(h, XSTORE_TXN_NONE, path, value);

	if (err)
		printf("write %s: %s\n", path, strerror(-err));
	return err == 0;
}

/* A frontend/backend pair as a toolstack writes it, both in `state`. */
static bool put_pair(struct xstore *h, unsigned int fe, const char *type,
                     unsigned int id, int state)
{
	char fn[128], bn[128], p[192], v[16];

	snprintf(fn, sizeof(fn), "/local/domain/%u/device/%s/%u", fe, type, id);
	snprintf(bn, sizeof(bn), "/local/domain/0/backend/%s/%u/%u", type, fe,
	         id);
	snprintf(v, sizeof(v), "%d", state);
	snprintf(p, sizeof(p), "%s/state", fn);
	if (!put(h, p, v))
		return false;
	snprintf(p, sizeof(p), "%s/backend", fn);
	if (!put(h, p, bn))
		return false;
	snprintf(p, sizeof(p), "%s/backend-id", fn);
	if (!put(h, p, "0"))
		return false;
	snprintf(p, sizeof(p), "%s/state", bn);
	if (!put(h, p, v))
		return false;
	snprintf(p, sizeof(p), "%s/frontend", bn);
	if (!put(h, p, fn))
		return false;
	snprintf(p, sizeof(p), "%s/frontend-id", bn);
	snprintf(v, sizeof(v), "%u", fe);
	return put(h, p, v);
}

static const struct xenbus_devinfo *find(const struct xenbus_devinfo *v,
                                         unsigned int n, const char *node)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(v[i].node, node))
			return &v[i];
	return NULL;
}

static void test_pair(void)
{
	struct xstore *h = open_store();
	struct xenbus_devinfo *v = NULL;
	const struct xenbus_devinfo *d;
	unsigned int n = 0;

	CHECK(h);
	CHECK(put_pair(h, 11, "vif", 0, XENBUS_STATE_CONNECTED));
	CHECK_EQ_INT(xenbus_scan(h, 11, &v, &n), 0);
	CHECK_EQ_UINT(n, 1);
	CHECK_EQ_STR(v[0].node, "/local/domain/11/device/vif/0");
	CHECK_EQ_STR(v[0].type, "vif");
	CHECK_EQ_UINT(v[0].domid, 11);
	CHECK_EQ_UINT(v[0].id, 0);
	CHECK(!v[0].is_backend);
	CHECK_EQ_INT(v[0].state, XENBUS_STATE_CONNECTED);
	CHECK_EQ_INT(v[0].otherend_id, 0);
	CHECK_EQ_STR(v[0].otherend, "/local/domain/0/backend/vif/11/0");
	CHECK_EQ_INT(v[0].otherend_state, XENBUS_STATE_CONNECTED);
	xenbus_devinfo_free(v, n);

	/* Every domain: the backend in dom0 is there too. */
	CHECK_EQ_INT(xenbus_scan(h, -1, &v, &n), 0);
	d = find(v, n, "/local/domain/0/backend/vif/11/0");
	CHECK(d);
	CHECK(d->is_backend);
	CHECK_EQ_UINT(d->domid, 0);
	CHECK_EQ_INT(d->otherend_id, 11);
	CHECK_EQ_STR(d->otherend, "/local/domain/11/device/vif/0");
	CHECK_EQ_INT(d->otherend_state, XENBUS_STATE_CONNECTED);
	CHECK(find(v, n, "/local/domain/11/device/vif/0"));
	xenbus_devinfo_free(v, n);
	xstore_close(h);
}

static void test_missing_domain(void)
{
	struct xstore *h = open_store();
	struct xenbus_devinfo *v = (void *)1;
	unsigned int n = 99;

	CHECK(h);
	CHECK_EQ_INT(xenbus_scan(h, 4000, &v, &n), 0);
	CHECK_EQ_UINT(n, 0);
	xenbus_devinfo_free(v, n);
	CHECK_EQ_INT(xenbus_scan(h, 0x10000, &v, &n), -EINVAL);
	xstore_close(h);
}

/* Garbage around one good device: the good one is still reported. */
static void test_garbage(void)
{
	struct xstore *h = open_store();
	struct xenbus_devinfo *v = NULL;
	const struct xenbus_devinfo *d;
	unsigned int n = 0;
	static const char nul_val[] = "/local/domain/0\0x";

	CHECK(h);
	CHECK(put_pair(h, 12, "vbd", 768, XENBUS_STATE_INITWAIT));
	/* Non-numeric names at every level that is a number. */
	CHECK(put(h, "/local/domain/12/device/vbd/abc/state", "4"));
	CHECK(put(h, "/local/domain/12/device/vbd/-1/state", "4"));
	CHECK(put(h, "/local/domain/12/device/vbd/99999999999/state", "4"));
	CHECK(put(h, "/local/domain/12/backend/vbd/zz/0/state", "4"));
	CHECK(put(h, "/local/domain/12/backend/vbd/70000/0/state", "4"));
	CHECK(put(h, "/local/domain/junk/device/vbd/0/state", "4"));
	/* A type with a value but no children; a device with no nodes. */
	CHECK(put(h, "/local/domain/12/device/vif", "x"));
	CHECK(put(h, "/local/domain/12/device/vkbd/0", ""));
	/* Bad state, bad id, other end that does not exist. */
	CHECK(put(h, "/local/domain/12/device/vfb/1/state", "4x"));
	CHECK(put(h, "/local/domain/12/device/vfb/1/backend-id", "12junk"));
	CHECK(put(h, "/local/domain/12/device/vfb/1/backend",
	          "/local/domain/0/backend/vfb/12/404"));
	/* Out of range state; relative other end; a nul in the value. */
	CHECK(put(h, "/local/domain/12/device/vfb/2/state", "9"));
	CHECK(
	    put(h, "/local/domain/12/device/vfb/2/backend", "device/vbd/768"));
	CHECK(put(h, "/local/domain/12/device/vfb/2/backend-id", "-1"));
	/* What the relative path would name if read from dom0's home. */
	CHECK(put(h, "/local/domain/0/device/vbd/768/state", "4"));
	CHECK_EQ_INT(xstore_write(h, XSTORE_TXN_NONE,
	                          "/local/domain/12/device/vfb/3/backend",
	                          nul_val, sizeof(nul_val) - 1),
	             0);

	CHECK_EQ_INT(xenbus_scan(h, 12, &v, &n), 0);
	CHECK_EQ_UINT(n, 5);
	d = find(v, n, "/local/domain/12/device/vbd/768");
	CHECK(d);
	CHECK_EQ_INT(d->state, XENBUS_STATE_INITWAIT);
	CHECK_EQ_INT(d->otherend_state, XENBUS_STATE_INITWAIT);
	d = find(v, n, "/local/domain/12/device/vkbd/0");
	CHECK(d);
	CHECK_EQ_INT(d->state, -1);
	CHECK_EQ_INT(d->otherend_id, -1);
	CHECK(!d->otherend);
	CHECK_EQ_INT(d->otherend_state, -1);
	d = find(v, n, "/local/domain/12/device/vfb/1");
	CHECK(d);
	CHECK_EQ_INT(d->state, -1);
	CHECK_EQ_INT(d->otherend_id, -1);
	CHECK_EQ_STR(d->otherend, "/local/domain/0/backend/vfb/12/404");
	CHECK_EQ_INT(d->otherend_state, -1);
	d = find(v, n, "/local/domain/12/device/vfb/2");
	CHECK(d);
	CHECK_EQ_INT(d->state, -1);
	CHECK_EQ_INT(d->otherend_id, -1);
	CHECK_EQ_STR(d->otherend, "device/vbd/768");
	/* Relative: not read against our own home. */
	CHECK_EQ_INT(d->otherend_state, -1);
	d = find(v, n, "/local/domain/12/device/vfb/3");
	CHECK(d);
	CHECK(!d->otherend);
	xenbus_devinfo_free(v, n);
	CHECK_EQ_INT(
	    xstore_rm(h, XSTORE_TXN_NONE, "/local/domain/0/device/vbd"), 0);

	/* And the whole-store scan is not derailed by /local/domain/junk. */
	CHECK_EQ_INT(xenbus_scan(h, -1, &v, &n), 0);
	CHECK(find(v, n, "/local/domain/12/device/vbd/768"));
	CHECK(find(v, n, "/local/domain/0/backend/vbd/12/768"));
	for (unsigned int i = 0; i < n; i++)
		CHECK(!strstr(v[i].node, "junk"));
	xenbus_devinfo_free(v, n);
	xstore_close(h);
}

/* Many devices (the array grows) come back sorted by id, not by name. */
static void test_many_sorted(void)
{
	struct xstore *h = open_store();
	struct xenbus_devinfo *v = NULL;
	unsigned int n = 0;

	CHECK(h);
	for (unsigned int i = 0; i < 40; i++)
		CHECK(put_pair(h, 13, "vif", i * 7, XENBUS_STATE_INITIALISING));
	CHECK_EQ_INT(xenbus_scan(h, 13, &v, &n), 0);
	CHECK_EQ_UINT(n, 40);
	for (unsigned int i = 0; i < n; i++) {
		CHECK_EQ_UINT(v[i].id, i * 7);
		CHECK_EQ_INT(v[i].state, XENBUS_STATE_INITIALISING);
	}
	xenbus_devinfo_free(v, n);

	CHECK_EQ_INT(xenbus_scan(h, 0, &v, &n), 0);
	{
		unsigned int k = 0;

		for (unsigned int i = 0; i < n; i++) {
			char want[96];

			if (v[i].otherend_id != 13)
				continue;
			snprintf(want, sizeof(want),
			         "/local/domain/0/backend/vif/13/%u", k * 7);
			CHECK_EQ_STR(v[i].node, want);
			k++;
		}
		CHECK_EQ_UINT(k, 40);
	}
	xenbus_devinfo_free(v, n);
	xstore_close(h);
}

/* A device whose node is removed is gone from the next scan. */
static void test_removed(void)
{
	struct xstore *h = open_store();
	struct xenbus_devinfo *v = NULL;
	unsigned int n = 0;

	CHECK(h);
	CHECK(put_pair(h, 14, "vif", 1, XENBUS_STATE_CLOSED));
	CHECK(put_pair(h, 14, "vif", 2, XENBUS_STATE_CLOSED));
	CHECK_EQ_INT(
	    xstore_rm(h, XSTORE_TXN_NONE, "/local/domain/14/device/vif/1"), 0);
	CHECK_EQ_INT(xenbus_scan(h, 14, &v, &n), 0);
	CHECK_EQ_UINT(n, 1);
	CHECK_EQ_STR(v[0].node, "/local/domain/14/device/vif/2");
	CHECK_EQ_INT(v[0].state, XENBUS_STATE_CLOSED);
	xenbus_devinfo_free(v, n);
	xstore_close(h);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_pair),    CHECK_TEST(test_missing_domain),
    CHECK_TEST(test_garbage), CHECK_TEST(test_many_sorted),
    CHECK_TEST(test_removed),
};

CHECK_MAIN(tests)
