/*
 * work_storm.c - workload 8: a domain-creation storm, toolstack side.
 *
 * One client creates domains back to back with the requests a Xen
 * toolstack (libxl) makes over the socket: the domain skeleton in one
 * transaction (nodes made with "" then given permissions, as libxl's
 * mknod does), the post-build keys in a second, and two devices (a vbd
 * and a vif: frontend and backend directories with their permissions,
 * plus libxl's own copy) in one transaction each, then the hotplug
 * scripts' writes.  About 100 nodes per domain with the devices; the
 * exact count of requests is in the row's note.  An op is one domain;
 * its latency is the whole sequence.  Requests are sequential, as
 * libxenstore's are.  Last comes INTRODUCE, so the daemon maps the
 * guest's store ring and makes it a connection: for a server given with
 * --sim, the domain is first built in the simulator (sim_dom_create, as
 * xsim does; that part, the hypervisor's, is not counted in the time);
 * Xen's daemons run on the peers' stub hypervisor, where the domids the
 * driver lists exist.  Domains are released and removed at teardown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/xsbench/xsbench.h"
#include "plat/sim_dom.h"

#define FIRST_DOMID 1000

/* op: S start, E end (commit), W write, P set perms, R rm (may fail),
 * I introduce.
 * In path and arg, $D is the domid, $U the VM's uuid, $B the backend
 * path prefix /local/domain/0/backend. */
struct tmpl {
	char op;
	const char *path;
	const char *arg; /* value (W), perms separated by spaces (P) */
};

#define DOM "/local/domain/$D"
#define VBD "$B/vbd/$D/51712"
#define VIF "$B/vif/$D/0"

static const struct tmpl storm[] = {
    /* libxl__domain_make */
    {'S', "", NULL},
    {'R', DOM, NULL},
    {'W', DOM, ""},
    {'P', DOM, "n0 r$D"},
    {'R', "/vm/$U", NULL},
    {'W', "/vm/$U", ""},
    {'P', "/vm/$U", "n0 r$D"},
    {'R', "/libxl/$D", NULL},
    {'W', "/libxl/$D", ""},
    {'P', "/libxl/$D", "n0"},
    {'W', "/libxl/$D/device", ""},
    {'P', "/libxl/$D/device", "n0"},
    {'W', DOM "/vm", "/vm/$U"},
    {'W', DOM "/name", "guest-$D"},
    {'W', "/vm/$U/name", "guest-$D"},
    {'W', DOM "/platform/acpi", "1"},
    {'W', DOM "/platform/acpi_s3", "0"},
    {'W', DOM "/platform/acpi_s4", "0"},
    {'W', DOM "/control/platform-feature-multiprocessor-suspend", "1"},
    {'W', DOM "/control/platform-feature-xs_reset_watches", "1"},
    {'W', DOM "/device", ""},
    {'P', DOM "/device", "n0 r$D"},
    {'W', DOM "/control", ""},
    {'P', DOM "/control", "n0 r$D"},
    {'W', DOM "/control/shutdown", ""},
    {'P', DOM "/control/shutdown", "n$D"},
    {'W', DOM "/control/feature-poweroff", ""},
    {'P', DOM "/control/feature-poweroff", "n$D"},
    {'W', DOM "/control/feature-reboot", ""},
    {'P', DOM "/control/feature-reboot", "n$D"},
    {'W', DOM "/control/feature-suspend", ""},
    {'P', DOM "/control/feature-suspend", "n$D"},
    {'W', DOM "/control/sysrq", ""},
    {'P', DOM "/control/sysrq", "n$D"},
    {'W', DOM "/data", ""},
    {'P', DOM "/data", "n$D"},
    {'W', DOM "/drivers", ""},
    {'P', DOM "/drivers", "n$D"},
    {'W', DOM "/feature", ""},
    {'P', DOM "/feature", "n$D"},
    {'W', DOM "/attr", ""},
    {'P', DOM "/attr", "n$D"},
    {'W', DOM "/error", ""},
    {'P', DOM "/error", "n$D"},
    {'W', "/vm/$U/uuid", "$U"},
    {'W', "/vm/$U/image/ostype", "linux"},
    {'W', "/vm/$U/image/kernel", "/boot/vmlinuz"},
    {'W', "/vm/$U/image/cmdline", "root=/dev/xvda1 ro console=hvc0"},
    {'W', "/vm/$U/image/ramdisk", "/boot/initrd.img"},
    {'W', "/vm/$U/start_time", "1700000000.00"},
    {'W', "/libxl/$D/type", "pvh"},
    {'W', "/libxl/$D/dm-version", "none"},
    {'E', "T", NULL},
    /* libxl__build_post */
    {'S', "", NULL},
    {'W', DOM "/memory/static-max", "1048576"},
    {'W', DOM "/memory/target", "1048576"},
    {'W', DOM "/memory/videoram", "-1"},
    {'W', DOM "/cpu/0/availability", "online"},
    {'W', DOM "/cpu/1/availability", "online"},
    {'W', DOM "/store/port", "1"},
    {'W', DOM "/store/ring-ref", "1"},
    {'W', DOM "/console/backend", "$B/console/$D/0"},
    {'W', DOM "/console/backend-id", "0"},
    {'W', DOM "/console/limit", "1048576"},
    {'W', DOM "/console/type", "xenconsoled"},
    {'W', DOM "/console/output", "pty"},
    {'W', DOM "/console/tty", ""},
    {'W', DOM "/console/port", "2"},
    {'W', DOM "/console/ring-ref", "2"},
    {'W', DOM "/domid", "$D"},
    {'W', DOM "/image/entry", "0x1000000"},
    {'W', DOM "/serial/0/tty", "/dev/pts/3"},
    {'E', "T", NULL},
    /* libxl__device_generic_add: the vbd */
    {'S', "", NULL},
    {'R', DOM "/device/vbd/51712", NULL},
    {'R', VBD, NULL},
    {'W', DOM "/device/vbd/51712", ""},
    {'P', DOM "/device/vbd/51712", "n$D r0"},
    {'W', VBD, ""},
    {'P', VBD, "n0 r$D"},
    {'W', DOM "/device/vbd/51712/backend", VBD},
    {'W', DOM "/device/vbd/51712/backend-id", "0"},
    {'W', DOM "/device/vbd/51712/state", "1"},
    {'W', DOM "/device/vbd/51712/virtual-device", "51712"},
    {'W', DOM "/device/vbd/51712/device-type", "disk"},
    {'W', VBD "/frontend", DOM "/device/vbd/51712"},
    {'W', VBD "/frontend-id", "$D"},
    {'W', VBD "/online", "1"},
    {'W', VBD "/removable", "0"},
    {'W', VBD "/bootable", "1"},
    {'W', VBD "/state", "1"},
    {'W', VBD "/dev", "xvda"},
    {'W', VBD "/type", "phy"},
    {'W', VBD "/mode", "w"},
    {'W', VBD "/device-type", "disk"},
    {'W', VBD "/discard-enable", "1"},
    {'W', VBD "/params", "/dev/vg/guest-$D"},
    {'W', VBD "/script", "/etc/xen/scripts/block"},
    {'W', "/libxl/$D/device/vbd/51712/frontend", DOM "/device/vbd/51712"},
    {'W', "/libxl/$D/device/vbd/51712/backend", VBD},
    {'E', "T", NULL},
    /* the vif */
    {'S', "", NULL},
    {'R', DOM "/device/vif/0", NULL},
    {'R', VIF, NULL},
    {'W', DOM "/device/vif/0", ""},
    {'P', DOM "/device/vif/0", "n$D r0"},
    {'W', VIF, ""},
    {'P', VIF, "n0 r$D"},
    {'W', DOM "/device/vif/0/backend", VIF},
    {'W', DOM "/device/vif/0/backend-id", "0"},
    {'W', DOM "/device/vif/0/state", "1"},
    {'W', DOM "/device/vif/0/handle", "0"},
    {'W', DOM "/device/vif/0/mac", "00:16:3e:00:00:01"},
    {'W', DOM "/device/vif/0/mtu", "1500"},
    {'W', VIF "/frontend", DOM "/device/vif/0"},
    {'W', VIF "/frontend-id", "$D"},
    {'W', VIF "/online", "1"},
    {'W', VIF "/state", "1"},
    {'W', VIF "/script", "/etc/xen/scripts/vif-bridge"},
    {'W', VIF "/mac", "00:16:3e:00:00:01"},
    {'W', VIF "/bridge", "xenbr0"},
    {'W', VIF "/handle", "0"},
    {'W', VIF "/type", "vif"},
    {'W', "/libxl/$D/device/vif/0/frontend", DOM "/device/vif/0"},
    {'W', "/libxl/$D/device/vif/0/backend", VIF},
    {'E', "T", NULL},
    /* hotplug scripts */
    {'W', VBD "/physical-device", "fe:0"},
    {'W', VBD "/hotplug-status", "connected"},
    {'W', VIF "/hotplug-status", "connected"},
    {'I', "$D", NULL},
};

#define NSTORM (sizeof(storm) / sizeof(storm[0]))

/* Expand $D, $U, $B of `in` for domain `domid` into out. */
static void expand(const char *in, unsigned int domid, char *out, size_t sz)
{
	size_t o = 0;
	int n;

	for (; *in && o + 1 < sz; in++) {
		if (in[0] != '$' || !in[1]) {
			out[o++] = *in;
			continue;
		}
		switch (*++in) {
		case 'D':
			n = snprintf(out + o, sz - o, "%u", domid);
			break;
		case 'U':
			n = snprintf(out + o, sz - o,
			             "00000000-0000-4000-8000-%012x", domid);
			break;
		default:
			n = snprintf(out + o, sz - o,
			             "/local/domain/0/backend");
			break;
		}
		o += n > 0 ? (size_t)n : 0;
		if (o >= sz)
			o = sz - 1;
	}
	out[o] = '\0';
}

/* One request of the template; returns the reply's errno (0: fine). */
/* The domain being made, and the transaction open on it. */
struct dom {
	unsigned int domid;
	uint64_t gfn;      /* its store page */
	unsigned int port; /* its store event channel */
	uint32_t tx;
};

static int introduce(struct xconn *c, const struct dom *d)
{
	char buf[64];
	struct xmsg m;
	int n = snprintf(buf, sizeof(buf), "%u%c%llu%c%u", d->domid, '\0',
	                 (unsigned long long)d->gfn, '\0', d->port);

	xc_queue(c, XS_INTRODUCE, 0, buf, (size_t)n + 1, NULL, 0);
	xc_flush(c);
	do
		xc_recv(c, &m);
	while (m.h.type == XS_WATCH_EVENT);
	return xc_reply_err(&m);
}

static int storm_req(struct xconn *c, const struct tmpl *t, struct dom *d)
{
	unsigned int domid = d->domid;
	uint32_t *tx = &d->tx;
	char path[256], arg[256], num[16];
	struct xmsg m;
	size_t i, len;
	int err;

	expand(t->path, domid, path, sizeof(path));
	if (t->arg)
		expand(t->arg, domid, arg, sizeof(arg));
	switch (t->op) {
	case 'S':
		xc_rpc_ok(c, XS_TRANSACTION_START, 0, "", NULL, &m);
		len = m.h.len < sizeof(num) - 1 ? m.h.len : sizeof(num) - 1;
		memcpy(num, m.body, len);
		num[len] = '\0';
		*tx = (uint32_t)strtoul(num, NULL, 10);
		return 0;
	case 'E':
		err = xc_rpc(c, XS_TRANSACTION_END, *tx, "T", NULL, NULL);
		*tx = 0;
		return err;
	case 'R':
		xc_rpc(c, XS_RM, *tx, path, NULL, NULL);
		return 0;
	case 'I':
		return introduce(c, d);
	case 'W':
		return xc_rpc(c, XS_WRITE, *tx, path, arg, NULL);
	default: /* 'P': "n0 r5" -> "n0\0r5\0" */
		len = strlen(arg);
		for (i = 0; i < len; i++)
			if (arg[i] == ' ')
				arg[i] = '\0';
		xc_queue(c, XS_SET_PERMS, *tx, path, strlen(path) + 1, arg,
		         len + 1);
		xc_flush(c);
		xc_recv(c, &m);
		return xc_reply_err(&m);
	}
}

static void storm_setup(struct server *s, const struct bcase *k,
                        struct cstate *st)
{
	(void)k;
	st->i = FIRST_DOMID;
	snprintf(st->why, sizeof(st->why), "%zu requests/domain%s", NSTORM,
	         s->simdir ? "; domains built in the simulator" : "");
}

/* Build domain d->domid in the simulator; the time it took, or -1 (and
 * the server is left out). */
static double sim_create(struct server *s, struct cstate *st, struct dom *d)
{
	struct plat_start_info si;
	double t0 = now();
	char name[32];
	int err;

	snprintf(name, sizeof(name), "guest-%u", d->domid);
	err = sim_dom_create(s->simdir, d->domid, name, &si);
	if (err) {
		snprintf(st->why, sizeof(st->why),
		         "sim_dom_create %u in %s: %s", d->domid, s->simdir,
		         strerror(-err));
		st->is_skip = true;
		return -1;
	}
	d->gfn = si.store_gfn;
	d->port = si.store_evtchn;
	return now() - t0;
}

static void storm_step(struct server *s, const struct bcase *k,
                       struct cstate *st, double secs, struct meas *m)
{
	double t0 = now(), t = t0, t1, sim = 0, sim1;
	struct dom d;
	size_t i;
	int err;

	(void)k;
	do {
		d = (struct dom){(unsigned int)st->i, st->i, 1, 0};
		sim1 = s->simdir ? sim_create(s, st, &d) : 0;
		if (sim1 < 0)
			return;
		for (i = 0; i < NSTORM; i++) {
			err = storm_req(&s->main, &storm[i], &d);
			if (!err)
				continue;
			/* Xen's daemons refuse an owner domain that does
			 * not exist (the driver lists the domids for
			 * them): leave the server out, say why. */
			snprintf(st->why, sizeof(st->why),
			         "domain %ld, request %zu (%c %s): %s", st->i,
			         i, storm[i].op, storm[i].path, strerror(err));
			st->is_skip = true;
			return;
		}
		st->i++;
		t1 = now();
		samples_add(&m->lat, t1 - t - sim1);
		sim += sim1;
		t = t1;
		m->ops++;
	} while (t - t0 < secs);
	m->secs += t - t0 - sim;
}

/*
 * Destroy every domain made, as a toolstack does: RELEASE, then remove
 * its nodes; the mean time per domain (the simulator's part left out)
 * goes into the row's note.
 */
static void storm_teardown(struct server *s, const struct bcase *k,
                           struct cstate *st)
{
	static const char *const roots[] = {DOM, "/vm/$U", "/libxl/$D",
	                                    "$B/vbd/$D", "$B/vif/$D"};
	double t0 = now(), sim = 0, t1;
	char path[256];
	size_t r, len;
	long d;

	(void)k;
	if (s->is_echo || st->i <= FIRST_DOMID)
		return;
	for (d = FIRST_DOMID; d < st->i; d++) {
		snprintf(path, sizeof(path), "%ld", d);
		xc_rpc(&s->main, XS_RELEASE, 0, path, NULL, NULL);
		for (r = 0; r < sizeof(roots) / sizeof(roots[0]); r++) {
			expand(roots[r], (unsigned int)d, path, sizeof(path));
			xc_rpc(&s->main, XS_RM, 0, path, NULL, NULL);
		}
		if (s->simdir) {
			t1 = now();
			sim_dom_remove(s->simdir, (unsigned int)d);
			sim += now() - t1;
		}
	}
	len = strlen(st->why);
	snprintf(st->why + len, sizeof(st->why) - len,
	         "; destroy %.2f ms/domain (%ld domains)",
	         (now() - t0 - sim) * 1e3 / (double)(st->i - FIRST_DOMID),
	         st->i - FIRST_DOMID);
}

void work_storm(struct server *srv, int nsrv)
{
	struct bcase k = {
	    .workload = "8",
	    .name = "storm",
	    .unit = "domain",
	    .param = -1,
	    .setup = storm_setup,
	    .step = storm_step,
	    .teardown = storm_teardown,
	};

	run_case(srv, nsrv, &k);
}
