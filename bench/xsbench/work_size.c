/*
 * work_size.c - workload 7: store size.
 *
 * The store grows in steps (xb_opts.sizes leaf nodes: 10 000, 100 000,
 * 1 000 000) by pipelined WRITEs of /bench/s/A/B/C (100 children per
 * directory, 8-byte values), each server in turn, timed.  After each step:
 *   - load: nodes per second so far, the server's CPU per leaf so far
 *     (one timed write-out, not interleaved), and memory: the server's VmRSS
 *     growth since before the first step, per node (leaves and the
 *     directories made on the way), with the key (full path) and value
 *     bytes per node shown beside it, so that the overhead is their
 *     difference;
 *   - unload (after the largest step, unless --keep): the whole load
 *     removed by one RM, then the server's RSS again, against its RSS
 *     before the first step (issue 15: back within 10 %);
 *   - size-read / size-write: sequential READs and WRITEs (overwrites)
 *     of leaves chosen uniformly at random among all loaded, interleaved
 *     with the other servers as every case is.
 * Size 0 is the store before loading (the ~2 100 base keys).  A server
 * marked as an empty twin (--empty-twin: a second instance of the
 * daemon under test) is never grown: it holds TWIN_LEAVES leaves of the
 * same shape (/bench/s/0/B/C, ~1 000 nodes beside the base keys) and
 * always reads and overwrites those, so that "loaded / empty" is
 * measured in the same slices, free of the machine's drift between
 * steps, and on paths of the same depth: the base keys' /bench/r/N is
 * two levels (two lookups) shorter, which was counted as growth.  A server
 * that cannot load a step within xb_opts.load_budget seconds in total
 * stops there (noted), and is left out of the steps after.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/xsbench/xsbench.h"

#define FANOUT      100
#define TWIN_LEAVES 1000

struct sizestate {
	long loaded;
	double load_secs;
	double
	    load_cpu; /* the server's CPU seconds in its loads; NAN: unknown */
	long rss_base;
	/* The anonymous part of rss_base (RssAnon: heap, stacks): what the
	 * daemon itself holds, without the shared library and program
	 * pages a load runs for the first time. */
	long anon_base;
	bool is_out;
	char why[96];
};

static struct sizestate sz[XB_MAX_SERVERS]; /* by server idx */

static void size_key(long i, char *path, size_t psz, char *val, size_t vsz,
                     void *arg)
{
	(void)arg;
	snprintf(path, psz, "/bench/s/%ld/%ld/%ld", i / (FANOUT * FANOUT),
	         i / FANOUT % FANOUT, i % FANOUT);
	snprintf(val, vsz, "%08lx", (unsigned long)i & 0xffffffffu);
}

/* Nodes made by leaves [0, n) and the bytes of their paths and values. */
static void size_nodes(long n, long *nodes, double *kv)
{
	char path[64], val[16];
	long i;

	*nodes = n ? 1 : 0; /* /bench/s */
	*kv = n ? (double)strlen("/bench/s") : 0;
	for (i = 0; i < n; i++) {
		size_key(i, path, sizeof(path), val, sizeof(val), NULL);
		*nodes += 1;
		*kv += (double)(strlen(path) + strlen(val));
		if (i % FANOUT == 0) { /* /bench/s/A/B */
			*nodes += 1;
			*kv += (double)(strrchr(path, '/') - path);
		}
		if (i % (FANOUT * FANOUT) == 0) { /* /bench/s/A */
			*nodes += 1;
			*kv += (double)(strchr(path + 9, '/') - path);
		}
	}
}

static void load_step(struct server *srv, int nsrv, long target)
{
	static const struct bcase lk = {
	    .workload = "7", .name = "load", .unit = "node"};
	struct result *rows[XB_MAX_SERVERS] = {0};
	struct bcase k = lk;
	double t0, dt, kv, cpu0;
	long nodes, rss;
	int i, j;

	k.param = target;
	fprintf(stderr, "[7] load %ld\n", target);
	for (i = 0; i < nsrv; i++) {
		struct sizestate *z = &sz[i];
		struct result *r;

		if (srv[i].is_echo || srv[i].is_twin || z->is_out)
			continue;
		cpu0 = server_cpu(&srv[i]);
		t0 = now();
		z->loaded += xb_pipeline_write(
		    &srv[i].main, z->loaded, target, 64, size_key, NULL,
		    t0 + xb_opts.load_budget - z->load_secs);
		dt = now() - t0;
		z->load_secs += dt;
		z->load_cpu += server_cpu(&srv[i]) - cpu0;
		rss = server_rss_kb(&srv[i]);
		size_nodes(z->loaded, &nodes, &kv);
		r = rows[i] = results_add(&k, &srv[i]);
		r->nruns = 1;
		r->ops[0] = r->ops_med = (double)z->loaded / z->load_secs;
		if (z->loaded && !isnan(z->load_cpu))
			r->cpu_us = z->load_cpu * 1e6 / (double)z->loaded;
		result_extra(r, "load_s", z->load_secs);
		result_extra(r, "nodes", (double)nodes);
		if (rss >= 0 && z->rss_base >= 0) {
			double per = (double)(rss - z->rss_base) * 1024 / nodes;

			result_extra(r, "rss_kb", (double)rss);
			result_extra(r, "bytes_per_node", per);
			result_extra(r, "kv_per_node", kv / nodes);
			result_extra(r, "overhead_per_node", per - kv / nodes);
		}
		if (z->loaded < target) {
			z->is_out = true;
			snprintf(z->why, sizeof(z->why),
			         "stopped at %ld nodes after %.0f s (budget)",
			         z->loaded, z->load_secs);
			snprintf(r->note, sizeof(r->note), "%s", z->why);
		}
		fprintf(stderr,
		        "  %-8s %ld leaves in %.2f s total, RSS %ld kB%s\n",
		        srv[i].name, z->loaded, z->load_secs, rss,
		        z->is_out ? " (stopped: budget)" : "");
	}
	for (i = 0; i < nsrv; i++)
		for (j = 0; j < nsrv && rows[i]; j++)
			if (rows[j])
				rows[i]->ratio[j] =
				    rows[i]->ops_med / rows[j]->ops_med;
}

static void size_setup(struct server *s, const struct bcase *k,
                       struct cstate *st)
{
	struct sizestate *z = &sz[s->idx];

	/* 0: the base keys */
	st->i = s->is_twin ? TWIN_LEAVES : k->param;
	if (z->is_out) {
		st->is_skip = true;
		snprintf(st->why, sizeof(st->why), "%s", z->why);
	} else if (!s->is_echo && !s->is_twin && k->param &&
	           z->loaded < k->param) {
		st->is_skip = true;
		snprintf(st->why, sizeof(st->why), "not loaded");
	}
}

static void size_step(struct server *s, const struct bcase *k,
                      struct cstate *st, double secs, struct meas *m)
{
	double t0 = now(), t = t0, t1;
	bool is_write = !strcmp(k->name, "size-write");
	char path[64], val[16];
	long i;

	do {
		i = (long)(xb_rand(&st->rnd) %
		           (uint64_t)(st->i ? st->i : 1000));
		if (st->i)
			size_key(i, path, sizeof(path), val, sizeof(val), NULL);
		else
			snprintf(path, sizeof(path), "/bench/%s/%ld",
			         is_write ? "wr" : "r", i);
		snprintf(val, sizeof(val), "%08lx",
		         (unsigned long)(m->ops & 0xffffffffu));
		xc_rpc_ok(&s->main, is_write ? XS_WRITE : XS_READ, 0, path,
		          is_write ? val : NULL, NULL);
		t1 = now();
		samples_add(&m->lat, t1 - t);
		t = t1;
		m->ops++;
	} while (t - t0 < secs);
	m->secs += t - t0;
}

static void measure_level(struct server *srv, int nsrv, long level)
{
	struct bcase k = {
	    .workload = "7",
	    .param = level,
	    .setup = size_setup,
	    .step = size_step,
	};

	k.name = "size-read";
	k.unit = "read";
	run_case(srv, nsrv, &k);
	k.name = "size-write";
	k.unit = "write";
	run_case(srv, nsrv, &k);
}

static void unload_step(struct server *srv, int nsrv)
{
	static const struct bcase uk = {
	    .workload = "7", .name = "unload", .unit = "node"};
	struct bcase k = uk;
	double t0, dt, kv;
	long nodes, rss, anon;
	int i;

	fprintf(stderr, "[7] unload\n");
	for (i = 0; i < nsrv; i++) {
		struct sizestate *z = &sz[i];
		struct result *r;

		if (srv[i].is_echo || srv[i].is_twin || !z->loaded)
			continue;
		size_nodes(z->loaded, &nodes, &kv);
		k.param = z->loaded;
		t0 = now();
		xc_rpc_ok(&srv[i].main, XS_RM, 0, "/bench/s", NULL, NULL);
		dt = now() - t0;
		/* A daemon may give memory back after its reply (xstored: at
		 * the end of the turn): one more round trip first. */
		xc_rpc_ok(&srv[i].main, XS_DIRECTORY, 0, "/bench", NULL, NULL);
		rss = server_rss_kb(&srv[i]);
		anon = server_status_kb(&srv[i], "RssAnon");
		r = results_add(&k, &srv[i]);
		r->nruns = 1;
		r->ops[0] = r->ops_med = (double)nodes / dt;
		result_extra(r, "nodes", (double)nodes);
		if (rss >= 0 && z->rss_base > 0) {
			result_extra(r, "rss_kb", (double)rss);
			result_extra(r, "rss_base_kb", (double)z->rss_base);
			result_extra(r, "over_base",
			             (double)(rss - z->rss_base) /
			                 (double)z->rss_base);
		}
		if (anon >= 0 && z->anon_base > 0) {
			result_extra(r, "anon_kb", (double)anon);
			result_extra(r, "anon_base_kb", (double)z->anon_base);
		}
		fprintf(stderr,
		        "  %-8s %ld nodes removed in %.2f s, RSS %ld kB (%ld "
		        "kB before the load)\n",
		        srv[i].name, nodes, dt, rss, z->rss_base);
		z->loaded = 0;
	}
}

void work_size(struct server *srv, int nsrv)
{
	int i;

	memset(sz, 0, sizeof(sz));
	for (i = 0; i < nsrv; i++) {
		sz[i].rss_base = server_rss_kb(&srv[i]);
		sz[i].anon_base = server_status_kb(&srv[i], "RssAnon");
		if (srv[i].is_twin &&
		    xb_pipeline_write(
		        &srv[i].main, 0, TWIN_LEAVES, 64, size_key, NULL,
		        now() + xb_opts.load_budget) < TWIN_LEAVES)
			die("%s: cannot write its %d leaves", srv[i].name,
			    TWIN_LEAVES);
	}
	measure_level(srv, nsrv, 0);
	for (i = 0; i < xb_opts.nsizes; i++) {
		load_step(srv, nsrv, xb_opts.sizes[i]);
		measure_level(srv, nsrv, xb_opts.sizes[i]);
	}
	if (!xb_opts.is_keep && case_wanted("unload"))
		unload_step(srv, nsrv);
}
