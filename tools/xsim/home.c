/*
 * home.c - a domain's home nodes, as libxl lays them out (facts from
 * xenstore-paths and what xl-created domains show; written here anew).
 *
 * Permissions follow libxl: the home directory and /vm/<uuid> are owned
 * by dom0 with read access for the domain ("n0 rD"); the places a guest
 * writes (data, drivers, feature, attr, error, control/shutdown and the
 * control/feature-*, control/sysrq, device/suspend/event-channel) are
 * owned by the domain ("nD"); /libxl/<D> is dom0's alone ("n0").  Every
 * other node inherits its parent's.  All of it is one transaction, so a
 * watcher sees the domain's home appear whole.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tools/xsim/home.h"
#include "tools/xsim/xsim.h"
#include "xstore/wire.h"

#define TXN_TRIES 16

enum perm { P_INHERIT, P_RO, P_RW, P_PRIVATE };

struct put {
	struct xstore *xs;
	xstore_txn_t tx;
	unsigned int domid;
	int err; /* the first error; later puts do nothing */
};

/* Write `value` at the path made from `fmt` and give it `perm`. */
static void put(struct put *p, enum perm perm, const char *value,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void put(struct put *p, enum perm perm, const char *value,
                const char *fmt, ...)
{
	const struct xstore_perm perms[2] = {
	    {.domid = perm == P_RW ? p->domid : 0, .access = XS_PERM_NONE},
	    {.domid = p->domid, .access = XS_PERM_READ},
	};
	char path[XS_ABS_PATH_MAX + 1];
	va_list ap;
	int n;

	if (p->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		p->err = -ENAMETOOLONG;
		return;
	}
	p->err = xstore_write_str(p->xs, p->tx, path, value);
	if (p->err || perm == P_INHERIT)
		return;
	p->err =
	    xstore_set_perms(p->xs, p->tx, path, perms, perm == P_RO ? 2 : 1);
}

int home_uuid_new(char *buf)
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(buf, HOME_UUID_LEN + 1,
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	         "%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	         b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

static void put_all(struct put *p, const struct home *h)
{
	static const char *const rw_nodes[] = {
	    "control/shutdown",
	    "control/feature-poweroff",
	    "control/feature-reboot",
	    "control/feature-suspend",
	    "control/sysrq",
	    "device/suspend/event-channel",
	    "data",
	    "drivers",
	    "feature",
	    "attr",
	    "error",
	};
	const unsigned int d = h->domid;
	char num[32], vm[64];
	struct timespec now;

	snprintf(vm, sizeof(vm), "/vm/%s", h->uuid);
	put(p, P_RO, "", "/local/domain/%u", d);
	put(p, P_RO, "", "%s", vm);
	put(p, P_PRIVATE, "", "/libxl/%u", d);
	put(p, P_INHERIT, "pv", "/libxl/%u/type", d);

	put(p, P_INHERIT, vm, "/local/domain/%u/vm", d);
	put(p, P_INHERIT, h->name, "/local/domain/%u/name", d);
	snprintf(num, sizeof(num), "%u", d);
	put(p, P_INHERIT, num, "/local/domain/%u/domid", d);
	put(p, P_INHERIT, "", "/local/domain/%u/device", d);
	put(p, P_INHERIT, "1",
	    "/local/domain/%u/control/platform-feature-multiprocessor-suspend",
	    d);
	put(p, P_INHERIT, "1",
	    "/local/domain/%u/control/platform-feature-xs_reset_watches", d);
	for (size_t i = 0; i < sizeof(rw_nodes) / sizeof(*rw_nodes); i++)
		put(p, P_RW, "", "/local/domain/%u/%s", d, rw_nodes[i]);
	snprintf(num, sizeof(num), "%lu", h->memory_kb);
	put(p, P_INHERIT, num, "/local/domain/%u/memory/static-max", d);
	put(p, P_INHERIT, num, "/local/domain/%u/memory/target", d);
	for (unsigned int i = 0; i < h->vcpus; i++)
		put(p, P_INHERIT, "online",
		    "/local/domain/%u/cpu/%u/availability", d, i);
	snprintf(num, sizeof(num), "%u", h->store_port);
	put(p, P_INHERIT, num, "/local/domain/%u/store/port", d);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)h->store_gfn);
	put(p, P_INHERIT, num, "/local/domain/%u/store/ring-ref", d);

	put(p, P_INHERIT, h->uuid, "%s/uuid", vm);
	put(p, P_INHERIT, h->name, "%s/name", vm);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(num, sizeof(num), "%lld.%02ld", (long long)now.tv_sec,
	         now.tv_nsec / 10000000);
	put(p, P_INHERIT, num, "%s/start_time", vm);
}

int home_write(struct xstore *xs, const struct home *h)
{
	char path[64];
	int err = -EAGAIN;

	for (int i = 0; i < TXN_TRIES && err == -EAGAIN; i++) {
		struct put p = {.xs = xs, .domid = h->domid};

		if ((err = xstore_txn_start(xs, &p.tx)))
			return err;
		snprintf(path, sizeof(path), "/local/domain/%u", h->domid);
		p.err = rm_quiet(xs, p.tx, path);
		if (!p.err) {
			snprintf(path, sizeof(path), "/vm/%s", h->uuid);
			p.err = rm_quiet(xs, p.tx, path);
		}
		if (!p.err) {
			snprintf(path, sizeof(path), "/libxl/%u", h->domid);
			p.err = rm_quiet(xs, p.tx, path);
		}
		put_all(&p, h);
		if (p.err) {
			xstore_txn_end(xs, p.tx, false);
			return p.err;
		}
		err = xstore_txn_end(xs, p.tx, true);
	}
	return err;
}

/* Is `vm` "/vm/<uuid>" with a well-formed uuid (so rm cannot reach
 * anything else, whatever the node held)? */
static bool is_vm_path(const char *vm)
{
	if (strncmp(vm, "/vm/", 4) || strlen(vm + 4) != HOME_UUID_LEN)
		return false;
	for (size_t i = 0; i < HOME_UUID_LEN; i++) {
		char ch = vm[4 + i];
		bool is_dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (is_dash ? ch != '-'
		            : !((ch >= '0' && ch <= '9') ||
		                (ch >= 'a' && ch <= 'f') ||
		                (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

int home_remove(struct xstore *xs, unsigned int domid)
{
	char path[64];
	int err = -EAGAIN;

	for (int i = 0; i < TXN_TRIES && err == -EAGAIN; i++) {
		xstore_txn_t tx;
		char *vm = NULL;

		if ((err = xstore_txn_start(xs, &tx)))
			return err;
		snprintf(path, sizeof(path), "/local/domain/%u/vm", domid);
		err = xstore_read(xs, tx, path, &vm, NULL);
		if (!err && is_vm_path(vm))
			err = rm_quiet(xs, tx, vm);
		else if (err == -ENOENT || !err)
			err = 0; /* no (usable) vm path: nothing to remove */
		free(vm);
		if (!err) {
			snprintf(path, sizeof(path), "/local/domain/%u", domid);
			err = rm_quiet(xs, tx, path);
		}
		if (!err) {
			snprintf(path, sizeof(path), "/libxl/%u", domid);
			err = rm_quiet(xs, tx, path);
		}
		if (err) {
			xstore_txn_end(xs, tx, false);
			return err;
		}
		err = xstore_txn_end(xs, tx, true);
	}
	return err;
}
