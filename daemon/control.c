/*
 * control.c - CONTROL commands and the GET_QUOTA/SET_QUOTA requests:
 * the operator's view into the daemon.  Output formats follow Xen 4.17's
 * xenstored where it has the command (xenstore-control users parse them);
 * domstats (ours: `xstore top` reads it) is one "key=value" line per
 * domain, in pages that fit one reply.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "daemon/dispatch.h"
#include "daemon/dispatch_int.h"
#include "daemon/domain.h"
#include "store/watch.h"

/* A bounded text builder over d->reply. */
struct text {
	char *buf;
	size_t len, cap;
	bool is_truncated;
};

static void text_add(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->is_truncated)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->is_truncated = true;
		return;
	}
	t->len += (size_t)n;
}

static int text_reply(struct req *r, struct text *t)
{
	if (t->is_truncated)
		return -E2BIG;
	reply(r, t->buf, t->len + 1);
	return 0;
}

static struct text text_of(struct req *r)
{
	struct text t = {r->d->reply, 0, XS_PAYLOAD_MAX, false};

	t.buf[0] = '\0';
	return t;
}

/* Xen's order and wording for the quota list. */
static const struct {
	enum quota_id id;
	const char *what;
} quota_rows[] = {
    {QUOTA_NODES, "Nodes per domain"},
    {QUOTA_WATCHES, "Watches per domain"},
    {QUOTA_TRANSACTIONS, "Transactions per domain"},
    {QUOTA_OUTSTANDING, "Outstanding requests per domain"},
    {QUOTA_TXN_NODES, "Max. number of accessed nodes per transaction"},
    {QUOTA_MEMORY, "Total Xenstore memory per domain (error level)"},
    {QUOTA_NODE_SIZE, "Max. size of a node"},
    {QUOTA_PATH_MAX, "Max. length of a node path"},
    {QUOTA_PERMS, "Max. number of permissions per node"},
};

/*
 * Set quota `name` of `q`; `what` names the set for the log ("quota" or
 * "quota-soft") and `domid` its domain (-1: the default of new domains).
 */
static int quota_set_arg(struct quota_set *q, const char *name,
                         const char *value, const char *what, long domid)
{
	char who[32];
	unsigned long v;
	int id = quota_find(name);

	if (id < 0 || parse_uint(value, UINT32_MAX, &v))
		return -EINVAL;
	/* Xen's ceiling for paths: the protocol's relative maximum. */
	if (id == QUOTA_PATH_MAX && (v == 0 || v > XS_REL_PATH_MAX))
		return -EINVAL;
	if (domid < 0)
		snprintf(who, sizeof(who), "default");
	else
		snprintf(who, sizeof(who), "domain %ld", domid);
	log_info("%s set: %s %s %lu (was %lu)", what, who, name, v, q->v[id]);
	q->v[id] = v;
	return 0;
}

static int ctl_quota_domain(struct req *r, const char *arg)
{
	struct text t = text_of(r);
	unsigned long domid, watches = 0, txns = 0, outstanding = 0, mem = 0;

	if (parse_uint(arg, XS_DOMID_MAX, &domid))
		return -EINVAL;
	for (const struct conn *c = r->d->conns; c; c = c->next) {
		if (c->domid != domid)
			continue;
		watches += dispatch_conn_watches(c);
		txns += dispatch_conn_txns(c);
		outstanding += c->out_replies;
		mem += dispatch_conn_mem(r->d, c);
	}
	text_add(&t, "Domain %lu:\n", domid);
	text_add(&t, "%-16s: %8lu\n", "nodes",
	         store_domain_nodes(r->d->store, (unsigned int)domid));
	text_add(&t, "%-16s: %8lu\n", "watches", watches);
	text_add(&t, "%-16s: %8lu\n", "transactions", txns);
	text_add(&t, "%-16s: %8lu\n", "outstanding", outstanding);
	/* Everything charged to its memory quota, as the quota sees it. */
	text_add(&t, "%-16s: %8llu\n", "memory",
	         store_domain_bytes(r->d->store, (unsigned int)domid) + mem);
	return text_reply(r, &t);
}

static int ctl_quota(struct req *r, bool is_soft)
{
	struct quota_set *q =
	    is_soft ? &r->d->cfg.quota_soft : &r->d->cfg.quota;
	struct text t = text_of(r);

	if (r->argc == 4 && !strcmp(r->argv[1], "set")) {
		int err = quota_set_arg(q, r->argv[2], r->argv[3],
		                        is_soft ? "quota-soft" : "quota", -1);

		if (!err)
			reply_str(r, "OK");
		return err;
	}
	if (r->argc == 2 && !is_soft)
		return ctl_quota_domain(r, r->argv[1]);
	if (r->argc != 1)
		return -EINVAL;
	text_add(&t, "Quota settings:\n");
	for (size_t i = 0; i < sizeof(quota_rows) / sizeof(quota_rows[0]);
	     i++) {
		enum quota_id id = quota_rows[i].id;

		if (is_soft && !q->v[id])
			continue;
		text_add(
		    &t, "%-17s: %8lu %s\n", quota_name(id), q->v[id],
		    id == QUOTA_MEMORY && is_soft
		        ? "Total Xenstore memory per domain (warning level)"
		        : quota_rows[i].what);
	}
	return text_reply(r, &t);
}

static int ctl_log(struct req *r)
{
	const char *sw;

	if (r->argc == 1) {
		struct text t = text_of(r);

		text_add(&t,
		         "Log switches: on off +trace -trace +debug "
		         "-debug\ntrace is %s, level %s\n",
		         log_is_trace() ? "on" : "off",
		         log_get_level() >= LOG_DEBUG ? "debug" : "info");
		return text_reply(r, &t);
	}
	if (r->argc != 2)
		return -EINVAL;
	sw = r->argv[1];
	if (!strcmp(sw, "on") || !strcmp(sw, "+trace"))
		log_set_trace(true);
	else if (!strcmp(sw, "off") || !strcmp(sw, "-trace"))
		log_set_trace(false);
	else if (!strcmp(sw, "+debug"))
		log_set_level(LOG_DEBUG);
	else if (!strcmp(sw, "-debug"))
		log_set_level(LOG_INFO);
	else
		return -EINVAL;
	reply_str(r, "OK");
	return 0;
}

static int ctl_logfile(struct req *r)
{
	int err;

	if (r->argc != 2 || !r->argv[1][0])
		return -EINVAL;
	err = log_open(r->argv[1], log_get_level());
	if (err)
		return err == -ENOMEM ? err : -EINVAL;
	log_info("log file is now %s", r->argv[1]);
	reply_str(r, "OK");
	return 0;
}

static int ctl_memreport(struct req *r)
{
	struct store_stats st;
	unsigned long watches = watch_count(r->d->watches);
	FILE *f = NULL;

	if (r->argc > 2)
		return -EINVAL;
	if (r->argc == 2) {
		int err = log_open_file(r->argv[1], &f);

		if (err)
			return err == -ENOMEM ? err : -EINVAL;
	}
	store_stats(r->d->store, &st);
#define MEMLINE(...)                                                           \
	do {                                                                   \
		if (f)                                                         \
			fprintf(f, __VA_ARGS__);                               \
		else                                                           \
			log_info(__VA_ARGS__);                                 \
	} while (0)
	MEMLINE("memreport: %" PRIu64 " nodes in the tree, %" PRIu64
	        " alive in all versions, %" PRIu64 " bytes",
	        st.main_nodes, st.nodes, st.node_bytes);
	MEMLINE("memreport: %u connections, %lu watches, %u transactions, "
	        "generation %" PRIu64,
	        r->d->nr_conns, watches, st.open_txns, st.generation);
	MEMLINE("memreport: free memory given back to the system %" PRIu64
	        " times (after the store shrank by a quarter and 4 MiB)",
	        r->d->mem_trims);
#undef MEMLINE
	if (f)
		fclose(f);
	reply_str(r, "OK");
	return 0;
}

static int ctl_check(struct req *r)
{
	char why[256];
	int err = store_check(r->d->store, why, sizeof(why));

	if (err == -EIO) {
		log_err("check: %s", why);
		return -EIO;
	}
	if (err)
		return err;
	reply_str(r, "OK");
	return 0;
}

static int ctl_print(struct req *r)
{
	if (r->argc != 2)
		return -EINVAL;
	log_info("print: %s", r->argv[1]);
	reply_str(r, "OK");
	return 0;
}

/* ---- domstats ---- */

/* One row of domstats: what a domain holds and what it asked for. */
struct domrow {
	unsigned long nodes, watches, txns, outstanding;
	unsigned long long mem;
	struct dom_stats st;
};

/* Domain 0: every connection that speaks for it (the sockets). */
static void domrow_dom0(const struct daemon *d, struct domrow *row)
{
	memset(row, 0, sizeof(*row));
	for (const struct conn *c = d->conns; c; c = c->next) {
		if (c->domid != 0 || c->is_dead)
			continue;
		row->watches += dispatch_conn_watches(c);
		row->txns += dispatch_conn_txns(c);
		row->outstanding += c->out_replies;
		row->mem += dispatch_conn_mem(d, c);
	}
	row->nodes = store_domain_nodes(d->store, 0);
	row->mem += store_domain_bytes(d->store, 0);
	row->st = d->stats_dom0;
}

/* A guest: its ring's connection (NULL while the ring is failed). */
static void domrow_guest(const struct daemon *d, const struct domain *dom,
                         struct domrow *row)
{
	const struct conn *c = dom->conn;

	memset(row, 0, sizeof(*row));
	if (c && !c->is_dead) {
		row->watches = dispatch_conn_watches(c);
		row->txns = dispatch_conn_txns(c);
		row->outstanding = c->out_replies;
		row->mem = dispatch_conn_mem(d, c);
	}
	row->nodes = store_domain_nodes(d->store, dom->domid);
	row->mem += store_domain_bytes(d->store, dom->domid);
	row->st = dom->stats;
}

static void domrow_text(struct text *t, const struct domrow *row)
{
	const struct dom_stats *st = &row->st;

	text_add(t,
	         " nodes=%lu memory=%llu watches=%lu transactions=%lu "
	         "outstanding=%lu requests=%" PRIu64 " refused=%" PRIu64
	         " refused_quota=%" PRIu64 " refused_perm=%" PRIu64
	         " throttled=%" PRIu64 "\n",
	         row->nodes, row->mem, row->watches, row->txns,
	         row->outstanding, st->requests,
	         st->refused[DOM_REFUSED_QUOTA] + st->refused[DOM_REFUSED_PERM],
	         st->refused[DOM_REFUSED_QUOTA], st->refused[DOM_REFUSED_PERM],
	         st->throttled);
}

/* The longest row, with room to spare: a page ends before it may not fit. */
#define DOMROW_MAX 320u

/*
 * domstats [<first-domid>]: a "total" line (daemon-wide: live domains,
 * connections, every counter; requests and refusals include departed
 * domains), then one "domain <id>" line per live domain (0 and the
 * introduced) from <first-domid> on, in domid order, and a final
 * "more <domid>" when the reply is full (ask again from there).  Counts
 * are of the moment; requests and refusals only grow.
 */
static int ctl_domstats(struct req *r)
{
	const struct daemon *d = r->d;
	struct text t = text_of(r);
	struct store_stats sst;
	struct domrow row;
	struct dom_stats tot;
	unsigned long first = 0, outstanding = 0, live = 1;
	unsigned long long mem;

	if (r->argc > 2 ||
	    (r->argc == 2 && parse_uint(r->argv[1], XS_DOMID_MAX, &first)))
		return -EINVAL;
	store_stats(d->store, &sst);
	domain_stats_total(d, &tot);
	for (const struct conn *c = d->conns; c; c = c->next)
		outstanding += c->is_dead ? 0 : c->out_replies;
	domrow_dom0(d, &row);
	mem = row.mem;
	for (const struct domain *dom = d->dom_list; dom; dom = dom->next) {
		if (!dom->is_introduced)
			continue;
		domrow_guest(d, dom, &row);
		mem += row.mem;
		live++;
	}
	text_add(&t,
	         "total domains=%lu connections=%u nodes=%" PRIu64
	         " memory=%llu watches=%lu transactions=%u outstanding=%lu",
	         live, d->nr_conns, sst.main_nodes, mem,
	         watch_count(d->watches), sst.open_txns, outstanding);
	text_add(&t,
	         " requests=%" PRIu64 " refused=%" PRIu64
	         " refused_quota=%" PRIu64 " refused_perm=%" PRIu64
	         " throttled=%" PRIu64 "\n",
	         tot.requests,
	         tot.refused[DOM_REFUSED_QUOTA] + tot.refused[DOM_REFUSED_PERM],
	         tot.refused[DOM_REFUSED_QUOTA], tot.refused[DOM_REFUSED_PERM],
	         tot.throttled);
	for (unsigned long id = first; id <= XS_DOMID_MAX; id++) {
		const struct domain *dom = id ? domain_find(d, id) : NULL;

		if (id && (!dom || !dom->is_introduced))
			continue;
		if (t.cap - t.len < DOMROW_MAX) {
			text_add(&t, "more %lu\n", id);
			break;
		}
		if (id)
			domrow_guest(d, dom, &row);
		else
			domrow_dom0(d, &row);
		text_add(&t, "domain %lu", id);
		domrow_text(&t, &row);
	}
	return text_reply(r, &t);
}

static int ctl_help(struct req *r);

/* journal: the state directory's figures (persist.c writes them). */
static int ctl_journal(struct req *r)
{
	char buf[1024];

	if (r->argc != 1)
		return -EINVAL;
	if (!r->d->journal_report)
		reply_str(r, "state off (--no-persist)\n");
	else if (r->d->journal_report(r->d, buf, sizeof(buf)) < 0)
		return -EIO;
	else
		reply_str(r, buf);
	return 0;
}

/* live-update: update.c's (d->live_update); answers are text, as Xen's
 * xenstore-control expects ("OK", "BUSY" or what went wrong). */
static int ctl_live_update(struct req *r)
{
	char out[512];
	int rc;

	if (!r->d->live_update)
		return -ENOSYS;
	rc = r->d->live_update(r->d, r->c, r->hdr, r->argc - 1, r->argv + 1,
	                       out, sizeof(out));
	if (rc > 0)
		reply_str(r, out);
	return rc < 0 ? rc : 0;
}

static const struct {
	const char *name;
	const char *args;
	int (*fn)(struct req *r);
} commands[] = {
    {"check", "", ctl_check},
    {"domstats",
     "[<first-domid>]\tlines \"total k=v...\", \"domain <id> k=v...\", "
     "\"more <next-domid>\"",
     ctl_domstats},
    {"journal", "\tdir, epoch, sizes, last compaction, state", ctl_journal},
    {"log", "[on|off|+trace|-trace|+debug|-debug]", ctl_log},
    {"live-update",
     "-f <file>|-c <options>|-s [-t <sec>] [-F]|-a\treplace the daemon "
     "by <file>, connections kept",
     ctl_live_update},
    {"logfile", "<file>", ctl_logfile},
    {"memreport", "[<file>]", ctl_memreport},
    {"print", "<string>", ctl_print},
    {"quota", "[set <name> <val>|<domid>]", NULL},
    {"quota-soft", "[set <name> <val>]", NULL},
    {"help", "", ctl_help},
};

static int ctl_help(struct req *r)
{
	struct text t = text_of(r);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		text_add(&t, "%s\t%s\n", commands[i].name, commands[i].args);
	return text_reply(r, &t);
}

int control_request(struct req *r)
{
	/* DEBUG/CONTROL: the command and its arguments, all nul-terminated. */
	if (r->argc < 1 || r->argc > MAX_ARGS || !r->is_terminated)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(r->argv[0], commands[i].name))
			continue;
		if (!strcmp(commands[i].name, "quota"))
			return ctl_quota(r, false);
		if (!strcmp(commands[i].name, "quota-soft"))
			return ctl_quota(r, true);
		return commands[i].fn(r);
	}
	return -EINVAL;
}

/*
 * The quota set of `domid` for GET_QUOTA/SET_QUOTA: a guest's own record
 * (made on first use for a domain the platform knows), -ENOENT for an
 * unknown one, -EINVAL for domain 0, which quotas never limit.
 */
static int domain_quota(struct req *r, const char *arg, struct quota_set **q,
                        unsigned long *out_domid)
{
	unsigned long domid;
	struct domain *dom;

	if (parse_uint(arg, XS_DOMID_MAX, &domid))
		return -EINVAL;
	if (domid == 0)
		return -EINVAL;
	dom = domain_get(r->d, (unsigned int)domid);
	if (!dom)
		return -ENOENT;
	*q = &dom->quota;
	*out_domid = domid;
	return 0;
}

/*
 * GET_QUOTA [[<domid>|]<quota>|]: no argument lists the names; a name
 * gives the global value (the default for new domains); a domid and a
 * name, that domain's.
 */
int quota_get_request(struct req *r)
{
	struct quota_set *q = &r->d->cfg.quota;
	unsigned long domid;
	char buf[32];
	int id, err;

	if (r->hdr->len == 0) {
		struct text t = text_of(r);

		for (int i = 0; i < QUOTA_COUNT; i++)
			text_add(&t, "%s%s", i ? " " : "",
			         quota_name((enum quota_id)i));
		return text_reply(r, &t);
	}
	if (!r->is_terminated || (r->argc != 1 && r->argc != 2))
		return -EINVAL;
	if (r->argc == 2) {
		err = domain_quota(r, r->argv[0], &q, &domid);
		if (err)
			return err;
	}
	id = quota_find(r->argv[r->argc - 1]);
	if (id < 0)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%lu", q->v[id]);
	reply_str(r, buf);
	return 0;
}

/* SET_QUOTA [<domid>|]<quota>|<value>| */
int quota_set_request(struct req *r)
{
	struct quota_set *q = &r->d->cfg.quota;
	unsigned long domid;
	long who = -1;
	int err;

	if (!r->is_terminated || (r->argc != 2 && r->argc != 3))
		return -EINVAL;
	if (r->argc == 3) {
		err = domain_quota(r, r->argv[0], &q, &domid);
		if (err)
			return err;
		who = (long)domid;
	}
	err = quota_set_arg(q, r->argv[r->argc - 2], r->argv[r->argc - 1],
	                    "quota", who);
	if (!err && who >= 0)
		domain_touch(r->d, domain_find(r->d, (unsigned int)who));
	if (!err)
		reply_str(r, "OK");
	return err;
}
