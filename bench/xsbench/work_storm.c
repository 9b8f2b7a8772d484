/*
 * work_storm.c - workload 8: a domain-creation storm, toolstack side.
 *
 * One client creates domains back to back with the requests a Xen
 * toolstack (libxl) makes over the socket: the domain skeleton in one
 * transaction (nodes made with "" then given permissions, as libxl's
 * mknod does), the post-build keys in a second, and two devices (a vbd
 * and a vif: frontend and backend directories with their permissions,
 * plus libxl's own copy) in one transaction each, then the hotplug
 * scripts' writes, with the backend drivers' four watches set before
 * them.  About 100 nodes per domain with the devices; the exact count of
 * requests is in the row's note.  An op is one domain;
 * its latency is the whole sequence.  Requests are sequential, as
 * libxenstore's are.  Last comes INTRODUCE, so the daemon maps the
 * guest's store ring and makes it a connection: for a server given with
 * --sim, the domain is first built in the simulator (sim_dom_create, as
 * xsim does; that part, the hypervisor's, is not counted in the time);
 * Xen's daemons run on the peers' stub hypervisor, where the domids the
 * driver lists exist.  Domains are destroyed at teardown in libxl's
 * order: watches dropped and paths removed, then RELEASE (the death).
 *
 * Then the scale phase (storm-scale, issue 15): up to
 * xb_opts.storm_max live domains in steps, DIRECTORY and
 * DIRECTORY_PART of /local/domain at the top, @releaseDomain to
 * xb_opts.storm_watchers watchers, and the destruction of all, down the
 * same steps; one result row per step (bench/README.md).
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/xsbench/xsbench.h"
#include "plat/sim_dom.h"

#define FIRST_DOMID 1000
/* The most guests' FIFOs the simulator keeps open in the daemon
 * (PEER_FDS_MAX in plat/sim.c). */
#define SIM_PEER_FDS 1024

/* op: S start, E end (commit), W write, P set perms, R rm (may fail),
 * X watch (arg: the token), I introduce.
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
    /* the backend drivers' watches (blkback, netback: dom0's kernel),
     * one connection for all domains, token the domid */
    {'X', DOM "/device/vbd/51712/state", "$D"},
    {'X', VBD "/physical-device", "$D"},
    {'X', DOM "/device/vif/0/state", "$D"},
    {'X', VIF "/hotplug-status", "$D"},
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

/* Send what is queued; the reply's errno (0: fine).  The watches'
 * events come on the same connection: they are skipped. */
static int reply_of(struct xconn *c)
{
	struct xmsg m;

	xc_flush(c);
	do
		xc_recv(c, &m);
	while (m.h.type == XS_WATCH_EVENT);
	return xc_reply_err(&m);
}

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
	case 'X':
		xc_queue(c, XS_WATCH, 0, path, strlen(path) + 1, arg,
		         strlen(arg) + 1);
		break;
	default: /* 'P': "n0 r5" -> "n0\0r5\0" */
		len = strlen(arg);
		for (i = 0; i < len; i++)
			if (arg[i] == ' ')
				arg[i] = '\0';
		xc_queue(c, XS_SET_PERMS, *tx, path, strlen(path) + 1, arg,
		         len + 1);
		break;
	}
	return reply_of(c);
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

/* Create domain `domid`: the simulator's part first (its time in *sim),
 * then the toolstack's requests.  0, or -1 with st->why said. */
static int create_one(struct server *s, struct cstate *st, unsigned int domid,
                      double *sim)
{
	struct dom d = {domid, domid, 1, 0};
	size_t i;
	int err;

	*sim = s->simdir ? sim_create(s, st, &d) : 0;
	if (*sim < 0)
		return -1;
	for (i = 0; i < NSTORM; i++) {
		err = storm_req(&s->main, &storm[i], &d);
		if (!err)
			continue;
		/* Xen's daemons refuse an owner domain that does not
		 * exist (the driver lists the domids for them): leave the
		 * server out, say why. */
		snprintf(st->why, sizeof(st->why),
		         "domain %u, request %zu (%c %s): %s", domid, i,
		         storm[i].op, storm[i].path, strerror(err));
		st->is_skip = true;
		return -1;
	}
	return 0;
}

static void storm_step(struct server *s, const struct bcase *k,
                       struct cstate *st, double secs, struct meas *m)
{
	double t0 = now(), t = t0, t1, sim = 0, sim1;

	(void)k;
	do {
		if (create_one(s, st, (unsigned int)st->i, &sim1))
			return;
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
 * Destroy domain `domid` in libxl's order (libxl__destroy_domid): the
 * devices go first (the backend drivers drop their watches, the backend
 * directories are removed), then the VM's, the domain's and libxl's own
 * paths, and only then is the domain destroyed in the hypervisor; the
 * daemon hears of the death last (RELEASE stands for the VIRQ_DOM_EXC
 * that Xen's daemons act on).  Returns the simulator's part of the time.
 */
static void destroy_paths(struct server *s, unsigned int domid);

static double destroy_one(struct server *s, unsigned int domid)
{
	char tok[16];
	double t1, sim = 0;

	destroy_paths(s, domid);
	snprintf(tok, sizeof(tok), "%u", domid);
	xc_rpc(&s->main, XS_RELEASE, 0, tok, NULL, NULL);
	if (s->simdir) {
		t1 = now();
		sim_dom_remove(s->simdir, domid);
		sim = now() - t1;
	}
	return sim;
}

/* What the toolstack removes before the domain dies. */
static void destroy_paths(struct server *s, unsigned int domid)
{
	static const char *const roots[] = {"$B/vbd/$D", "$B/vif/$D", "/vm/$U",
	                                    DOM, "/libxl/$D"};
	char path[256], tok[16];
	size_t r;

	snprintf(tok, sizeof(tok), "%u", domid);
	for (r = 0; r < NSTORM; r++) {
		if (storm[r].op != 'X')
			continue;
		expand(storm[r].path, domid, path, sizeof(path));
		xc_queue(&s->main, XS_UNWATCH, 0, path, strlen(path) + 1, tok,
		         strlen(tok) + 1);
		reply_of(&s->main);
	}
	for (r = 0; r < sizeof(roots) / sizeof(roots[0]); r++) {
		expand(roots[r], domid, path, sizeof(path));
		xc_rpc(&s->main, XS_RM, 0, path, NULL, NULL);
	}
}

/*
 * Destroy every domain made; the mean time per domain (the simulator's
 * part left out) goes into the row's note.
 */
static void storm_teardown(struct server *s, const struct bcase *k,
                           struct cstate *st)
{
	double t0 = now(), sim = 0;
	size_t len;
	long d;

	(void)k;
	if (s->is_echo || st->i <= FIRST_DOMID)
		return;
	for (d = FIRST_DOMID; d < st->i; d++)
		sim += destroy_one(s, (unsigned int)d);
	len = strlen(st->why);
	snprintf(st->why + len, sizeof(st->why) - len,
	         "; destroy %.2f ms/domain (%ld domains)",
	         (now() - t0 - sim) * 1e3 / (double)(st->i - FIRST_DOMID),
	         st->i - FIRST_DOMID);
}

/* ---- the scale phase (issue 15, item 3): up to xb_opts.storm_max ---- */

struct scale {
	long made;      /* live domains: FIRST_DOMID .. FIRST_DOMID+made-1 */
	long cap;       /* the most this server is given */
	double secs;    /* creation time so far, the simulator's left out */
	long rss_base;  /* kB before the first domain */
	long rss_top;   /* kB at the most domains */
	bool is_out;    /* stopped (budget, or an error) */
	bool is_fanned; /* @releaseDomain's fan-out measured */
	char why[160];
};

static struct scale sc[XB_MAX_SERVERS];

/* Same-phase ratios of the rows of one step, as load_step does. */
static void cross_ratios(struct result **rows, int nsrv)
{
	int i, j;

	for (i = 0; i < nsrv; i++)
		for (j = 0; j < nsrv && rows[i]; j++)
			if (rows[j] && rows[j]->ops_med > 0)
				rows[i]->ratio[j] =
				    rows[i]->ops_med / rows[j]->ops_med;
}

static struct result *row(const char *name, long param, const char *unit,
                          struct server *s, double ops, struct samples *lat)
{
	struct bcase k = {
	    .workload = "8", .name = name, .param = param, .unit = unit};
	struct result *r = results_add(&k, s);

	r->nruns = 1;
	r->ops[0] = r->ops_med = ops;
	if (lat && lat->n) {
		r->p50 = samples_pct(lat, 50);
		r->p99 = samples_pct(lat, 99);
	}
	return r;
}

/* Create domains on server i until it has `target` (or its cap). */
static void scale_create(struct server *srv, int nsrv, long target)
{
	struct result *rows[XB_MAX_SERVERS] = {0};
	struct samples lat = {0};
	struct cstate st;
	double t0, t, t1, sim, simsum, cpu0, budget = 5 * xb_opts.load_budget;
	long from, want, rss;
	int i;

	fprintf(stderr, "[8] create %ld\n", target);
	for (i = 0; i < nsrv; i++) {
		struct scale *z = &sc[i];
		struct server *s = &srv[i];
		struct result *r;

		if (s->is_echo || z->is_out || z->made >= z->cap)
			continue;
		want = target < z->cap ? target : z->cap;
		from = z->made;
		samples_clear(&lat);
		memset(&st, 0, sizeof(st));
		cpu0 = server_cpu(s);
		simsum = 0;
		t0 = t = now();
		while (z->made < want) {
			if (create_one(s, &st,
			               (unsigned int)(FIRST_DOMID + z->made),
			               &sim)) {
				z->is_out = true;
				snprintf(z->why, sizeof(z->why), "%s", st.why);
				break;
			}
			z->made++;
			t1 = now();
			samples_add(&lat, t1 - t - sim);
			simsum += sim;
			t = t1;
			if (z->secs + (t - t0 - simsum) > budget) {
				z->is_out = true;
				snprintf(z->why, sizeof(z->why),
				         "stopped at %ld domains after %.0f s "
				         "(budget)",
				         z->made, budget);
				break;
			}
		}
		z->secs += t - t0 - simsum;
		if (z->made == from)
			continue;
		rss = server_rss_kb(s);
		r = rows[i] =
		    row("create", z->made, "domain", s,
		        (double)(z->made - from) / (t - t0 - simsum), &lat);
		if (!isnan(cpu0))
			r->cpu_us = (server_cpu(s) - cpu0) * 1e6 /
			            (double)(z->made - from);
		result_extra(r, "domains", (double)z->made);
		if (rss >= 0 && z->rss_base >= 0) {
			z->rss_top = rss;
			result_extra(r, "rss_kb", (double)rss);
			result_extra(r, "kb_per_domain",
			             (double)(rss - z->rss_base) /
			                 (double)z->made);
		}
		if (z->is_out || (z->made == z->cap && z->why[0]))
			snprintf(r->note, sizeof(r->note), "%s", z->why);
		else if (z->made == z->cap && z->cap < xb_opts.storm_max)
			snprintf(r->note, sizeof(r->note),
			         "capped at %ld domains (--storm-peer-max)",
			         z->cap);
		fprintf(stderr,
		        "  %-8s %ld domains, %.0f/s in this step, RSS "
		        "%ld kB%s\n",
		        s->name, z->made, r->ops_med, rss,
		        z->is_out ? " (stopped)" : "");
	}
	cross_ratios(rows, nsrv);
	samples_free(&lat);
}

/* Destroy domains on every server until it has `target` left. */
static void scale_destroy(struct server *srv, int nsrv, long target)
{
	struct result *rows[XB_MAX_SERVERS] = {0};
	struct samples lat = {0};
	double t0, t, t1, sim, simsum, cpu0;
	long from;
	int i;

	fprintf(stderr, "[8] destroy down to %ld\n", target);
	for (i = 0; i < nsrv; i++) {
		struct scale *z = &sc[i];
		struct server *s = &srv[i];
		struct result *r;

		if (s->is_echo || z->made <= target)
			continue;
		from = z->made;
		samples_clear(&lat);
		cpu0 = server_cpu(s);
		simsum = 0;
		t0 = t = now();
		while (z->made > target) {
			z->made--;
			sim = destroy_one(
			    s, (unsigned int)(FIRST_DOMID + z->made));
			t1 = now();
			samples_add(&lat, t1 - t - sim);
			simsum += sim;
			t = t1;
		}
		r = rows[i] =
		    row("destroy", from, "domain", s,
		        (double)(from - z->made) / (t - t0 - simsum), &lat);
		if (!isnan(cpu0))
			r->cpu_us = (server_cpu(s) - cpu0) * 1e6 /
			            (double)(from - z->made);
		result_extra(r, "domains", (double)from);
		if (!target) {
			long rss = server_rss_kb(s);

			if (rss >= 0)
				result_extra(r, "rss_kb_after", (double)rss);
		}
		fprintf(stderr, "  %-8s %ld -> %ld domains, %.0f/s\n", s->name,
		        from, z->made, r->ops_med);
	}
	cross_ratios(rows, nsrv);
	samples_free(&lat);
}

/* DIRECTORY of /local/domain (one reply: E2BIG past 4096 bytes), and the
 * whole list by DIRECTORY_PART, as libxenstore's xs_directory does when
 * DIRECTORY says E2BIG. */
static void scale_dir(struct server *srv, int nsrv)
{
	int reps = xb_opts.is_quick ? 5 : 21, i, k;
	struct result *rows[XB_MAX_SERVERS] = {0}, *r;
	struct samples lat = {0};
	char off[24], gen0[24];
	double t0, secs;
	struct xmsg m;
	long parts, names;
	int err;

	fprintf(stderr, "[8] dir /local/domain\n");
	for (i = 0; i < nsrv; i++) {
		struct server *s = &srv[i];

		if (s->is_echo || !sc[i].made)
			continue;
		samples_clear(&lat);
		secs = 0;
		err = 0;
		for (k = 0; k < reps; k++) {
			t0 = now();
			err = xc_rpc(&s->main, XS_DIRECTORY, 0, "/local/domain",
			             NULL, &m);
			samples_add(&lat, now() - t0);
			secs += now() - t0;
		}
		r = row("dir-domains", sc[i].made, "dir", s, reps / secs, &lat);
		if (err)
			snprintf(r->note, sizeof(r->note), "DIRECTORY: %s",
			         strerror(err));
		else
			result_extra(r, "reply_bytes", (double)m.h.len);
	}
	cross_ratios(rows, nsrv);
	memset(rows, 0, sizeof(rows));
	for (i = 0; i < nsrv; i++) {
		struct server *s = &srv[i];

		if (s->is_echo || !sc[i].made)
			continue;
		samples_clear(&lat);
		secs = 0;
		err = 0;
		parts = names = 0;
		for (k = 0; k < reps && !err; k++) {
			size_t at = 0, glen, n;

			t0 = now();
			parts = names = 0;
			gen0[0] = '\0';
			for (;;) {
				snprintf(off, sizeof(off), "%zu", at);
				xc_queue(&s->main, XS_DIRECTORY_PART, 0,
				         "/local/domain", 14, off,
				         strlen(off) + 1);
				xc_flush(&s->main);
				do
					xc_recv(&s->main, &m);
				while (m.h.type == XS_WATCH_EVENT);
				err = xc_reply_err(&m);
				if (err)
					break;
				parts++;
				glen = strnlen(m.body, m.h.len);
				if (glen + 1 > m.h.len)
					die("%s: DIRECTORY_PART: no generation",
					    s->name);
				if (gen0[0] && (glen >= sizeof(gen0) ||
				                strncmp(gen0, m.body, glen)))
					die("%s: /local/domain changed during "
					    "the listing",
					    s->name);
				snprintf(gen0, sizeof(gen0), "%.*s", (int)glen,
				         m.body);
				n = m.h.len - glen - 1; /* names, nul each */
				for (size_t b = 0; b < n; b++)
					names += m.body[glen + 1 + b] == '\0';
				/* The last part ends with an empty name. */
				if (n == 0 ||
				    (n >= 2 && !m.body[m.h.len - 2]) ||
				    (n == 1 && !m.body[m.h.len - 1])) {
					names--;
					break;
				}
				at += n;
			}
			samples_add(&lat, now() - t0);
			secs += now() - t0;
		}
		r = rows[i] = row("dir-part", sc[i].made, "listing", s,
		                  err ? 0 : reps / secs, &lat);
		if (err) {
			snprintf(r->note, sizeof(r->note), "DIRECTORY_PART: %s",
			         strerror(err));
		} else {
			result_extra(r, "parts", (double)parts);
			result_extra(r, "children", (double)names);
		}
		fprintf(stderr,
		        "  %-8s DIRECTORY_PART: %ld names in %ld parts"
		        "%s%s\n",
		        s->name, names, parts, err ? ": " : "",
		        err ? strerror(err) : "");
	}
	cross_ratios(rows, nsrv);
	samples_free(&lat);
}

/* A watcher: one connection with a watch on @releaseDomain. */
struct watcher {
	int fd;
	size_t have;
	char buf[256];
};

/* Read what `w` has; the WATCH_EVENTs of @releaseDomain in it. */
static int watcher_read(struct watcher *w, struct server *s)
{
	struct xs_wire_hdr h;
	ssize_t n;
	int evs = 0;

	do
		n = read(w->fd, w->buf + w->have, sizeof(w->buf) - w->have);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		die("%s: a watcher's connection: %s", s->name,
		    n ? strerror(errno) : "closed");
	w->have += (size_t)n;
	while (w->have >= sizeof(h)) {
		memcpy(&h, w->buf, sizeof(h));
		if (h.len > sizeof(w->buf) - sizeof(h))
			die("%s: a watcher got a long message", s->name);
		if (w->have < sizeof(h) + h.len)
			break;
		evs += h.type == XS_WATCH_EVENT;
		memmove(w->buf, w->buf + sizeof(h) + h.len,
		        w->have - sizeof(h) - h.len);
		w->have -= sizeof(h) + h.len;
	}
	return evs;
}

/*
 * @releaseDomain to N watchers: N connections (each a toolstack or an
 * xl process) watch it; the last live domains are destroyed one by one
 * (paths first, as destroy_one), and each RELEASE is timed from its
 * write to the event's arrival on the last watcher.
 */
static void scale_fanout(struct server *srv, int nsrv)
{
	int nw = xb_opts.storm_watchers, reps = xb_opts.is_quick ? 3 : 7;
	struct result *rows[XB_MAX_SERVERS] = {0}, *r;
	struct samples lat = {0}, first = {0};
	struct pollfd *pf = calloc((size_t)nw, sizeof(*pf));
	struct watcher *w = calloc((size_t)nw, sizeof(*w));
	unsigned int domid;
	double t0, tf, secs;
	char msg[64], tok[16];
	int i, k, j, got, ev;

	if (!pf || !w)
		die("out of memory");
	for (i = 0; i < nsrv; i++) {
		struct server *s = &srv[i];
		struct xs_wire_hdr h = {XS_WATCH, 1, 0, 0};

		long lim = server_fd_limit(s), used = server_fds_open(s);

		/* The watchers' connections need fds in the daemon: after a
		 * destroy step that freed enough (see storm_scale). */
		if (s->is_echo || sc[i].is_fanned || sc[i].made <= reps ||
		    (lim > 0 && used >= 0 && lim - used < nw + 64))
			continue;
		sc[i].is_fanned = true;
		fprintf(stderr, "[8] @releaseDomain to %d watchers, %s\n", nw,
		        s->name);
		for (j = 0; j < nw; j++) {
			int n =
			    snprintf(msg + sizeof(h), sizeof(msg) - sizeof(h),
			             "@releaseDomain%cw%d", '\0', j);

			w[j].fd = xc_connect(s->path);
			w[j].have = 0;
			if (w[j].fd < 0)
				die("%s: watcher %d: %s", s->name, j,
				    strerror(-w[j].fd));
			h.len = (uint32_t)n + 1;
			memcpy(msg, &h, sizeof(h));
			if (write(w[j].fd, msg, sizeof(h) + h.len) < 0)
				die("%s: watcher %d: %s", s->name, j,
				    strerror(errno));
			pf[j].fd = w[j].fd;
			pf[j].events = POLLIN;
		}
		/* Each gets its reply and the watch's first event. */
		for (j = 0; j < nw; j++)
			for (got = 0; got < 1;)
				got += watcher_read(&w[j], s);
		xc_drain(&s->main, 0);
		samples_clear(&lat);
		samples_clear(&first);
		secs = 0;
		for (k = 0; k < reps; k++) {
			domid = (unsigned int)(FIRST_DOMID + --sc[i].made);
			destroy_paths(s, domid);
			snprintf(tok, sizeof(tok), "%u", domid);
			xc_queue_str(&s->main, XS_RELEASE, 0, tok, NULL);
			t0 = now();
			tf = 0;
			xc_flush(&s->main);
			for (got = 0; got < nw;) {
				if (poll(pf, (nfds_t)nw, 10000) <= 0)
					die("%s: @releaseDomain reached %d of "
					    "%d watchers",
					    s->name, got, nw);
				for (j = 0; j < nw; j++) {
					if (!pf[j].revents)
						continue;
					ev = watcher_read(&w[j], s);
					if (ev && !tf)
						tf = now();
					got += ev;
				}
			}
			samples_add(&lat, now() - t0);
			samples_add(&first, tf - t0);
			secs += now() - t0;
			if (reply_of(&s->main))
				die("%s: RELEASE %u failed", s->name, domid);
			if (s->simdir)
				sim_dom_remove(s->simdir, domid);
		}
		r = rows[i] =
		    row("release-fanout", nw, "release", s, reps / secs, &lat);
		result_extra(r, "watchers", (double)nw);
		result_extra(r, "first_us", samples_pct(&first, 50));
		result_extra(r, "domains", (double)sc[i].made);
		fprintf(stderr,
		        "  %-8s last of %d watchers p50 %.0f us (first "
		        "%.0f us)\n",
		        s->name, nw, r->p50, samples_pct(&first, 50));
		for (j = 0; j < nw; j++)
			close(w[j].fd);
	}
	cross_ratios(rows, nsrv);
	samples_free(&lat);
	samples_free(&first);
	free(pf);
	free(w);
}

static void storm_scale(struct server *srv, int nsrv)
{
	long max = xb_opts.storm_max, step = max / 10, c;
	int i;

	if (max < 10)
		return;
	memset(sc, 0, sizeof(sc));
	for (i = 0; i < nsrv; i++) {
		long lim = server_fd_limit(&srv[i]);
		long used = server_fds_open(&srv[i]);

		sc[i].rss_base = server_rss_kb(&srv[i]);
		sc[i].cap = srv[i].simdir ? max
		            : xb_opts.storm_peer_max < max
		                ? xb_opts.storm_peer_max
		                : max;
		/* The simulator keeps one fd per domain open in the daemon
		 * (its event channel; on Xen, none: one device fd in all),
		 * plus at most SIM_PEER_FDS guests' FIFOs it notifies: the
		 * daemon's fd limit caps the domains. */
		if (used < 0)
			used = 0;
		if (srv[i].simdir && lim > 0 &&
		    lim - used - 64 - SIM_PEER_FDS < sc[i].cap) {
			sc[i].cap = lim - used - 64 - SIM_PEER_FDS;
			snprintf(
			    sc[i].why, sizeof(sc[i].why),
			    "capped at %ld domains by the daemon's fd limit "
			    "(%ld; the simulator holds 1 fd per domain and "
			    "up to %d guests' FIFOs)",
			    sc[i].cap, lim, SIM_PEER_FDS);
		}
	}
	scale_create(srv, nsrv, max / 100 ? max / 100 : 1);
	for (c = step; c <= max; c += step)
		scale_create(srv, nsrv, c);
	scale_dir(srv, nsrv);
	/* Down the same steps: the rate with c live domains, c falling.
	 * The fan-out after the first step, with fds free for the
	 * watchers' connections. */
	for (c = max - step; c >= step; c -= step) {
		scale_destroy(srv, nsrv, c);
		if (xb_opts.storm_watchers > 0)
			scale_fanout(srv, nsrv);
	}
	scale_destroy(srv, nsrv, max / 100 ? max / 100 : 1);
	scale_destroy(srv, nsrv, 0);
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
	if (case_wanted("storm-scale"))
		storm_scale(srv, nsrv);
}
