/*
 * dispatch.c - from a framed request to store operations and replies.
 * The per-connection watches and transactions are session.c's, the
 * delivery of watch events is events.c's; this file decides and replies.
 *
 * Every request gets exactly one reply.  Checks happen in Xen's order:
 * known type, privilege, read-only socket, transaction id, then the
 * handler validates its arguments and calls the store.  The payload
 * always has a nul after it (conn.c adds one), so argument scanning can
 * never run off the end; "is_terminated" tells whether the client sent
 * that nul itself.
 *
 * Watch events caused by a request are queued before its reply, as Xen
 * 4.17 does (checked on it): a client sees the event of its own write
 * first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "daemon/dispatch.h"
#include "daemon/dispatch_int.h"
#include "daemon/domain.h"
#include "daemon/events.h"
#include "daemon/session.h"
#include "daemon/loop.h"
#include "plat/plat.h"
#include "store/path.h"
#include "store/tree.h"
#include "store/watch.h"

/* ---- replies and arguments ---- */

void reply(struct req *r, const void *data, size_t len)
{
	const struct xs_wire_hdr *h = r->hdr;

	if (conn_send(r->c, h->type, h->req_id, h->tx_id, data, len, false))
		conn_kill(r->c, "out of memory queuing a reply");
}

void reply_str(struct req *r, const char *s)
{
	reply(r, s, strlen(s) + 1);
}

static void reply_error(struct req *r, int err)
{
	if (conn_send_error(r->c, r->hdr->req_id, r->hdr->tx_id, err))
		conn_kill(r->c, "out of memory queuing an error");
}

static void split_args(struct req *r)
{
	const char *p = r->payload, *end = r->payload + r->hdr->len;

	r->argc = 0;
	while (p < end) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));

		if (!nul)
			break;
		if (r->argc < MAX_ARGS)
			r->argv[r->argc] = p;
		r->argc++;
		p = nul + 1;
	}
	r->is_terminated = r->hdr->len > 0 && end[-1] == '\0';
}

/* Exactly one nul-terminated argument and nothing else. */
static int one_arg(const struct req *r, const char **arg)
{
	if (r->argc != 1 || !r->is_terminated)
		return -EINVAL;
	*arg = r->argv[0];
	return 0;
}

static size_t path_max(const struct req *r)
{
	return r->d->cfg.quota.v[QUOTA_PATH_MAX];
}

/* Make the request's path argument absolute into d->path. */
static int canon(struct req *r, const char *arg, unsigned int flags)
{
	return path_canon(r->d->path, sizeof(r->d->path), arg, r->c->domid,
	                  flags | PATH_ALLOW_RELATIVE, path_max(r));
}

static int one_path(struct req *r, unsigned int flags)
{
	const char *arg;
	int err = one_arg(r, &arg);

	return err ? err : canon(r, arg, flags);
}

static void charge_write(struct req *r);

/* A node's bookkeeping beyond its name and value (tree.h node_mem). */
#define PINNED_NODE_OVERHEAD 64u

/*
 * The path of a refused request for its log line: the canonical one if
 * the handler got that far, else the first argument as sent, cut short
 * and with anything unprintable replaced (a guest must not be able to
 * forge log lines).
 */
static const char *refusal_path(const struct req *r, char *buf, size_t size)
{
	const char *p = r->d->path[0] ? r->d->path : r->payload;
	size_t i;

	for (i = 0; p[i] && i + 4 < size; i++)
		buf[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	if (p[i] && i + 4 >= size)
		buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
	buf[i] = '\0';
	return i ? buf : "-";
}

/*
 * The one line for a refused guest request (rate limited per domain):
 * which domain, which request, the rule, the path.  Privileged callers
 * (dom0) get their errors and no line.
 */
static void log_refused(struct req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_refused(struct req *r, const char *fmt, ...)
{
	const char *type = xs_type_name(r->hdr->type);
	char path[96], rule[128];
	va_list ap;

	if (r->c->is_privileged || r->is_refusal_logged)
		return;
	r->is_refusal_logged = true;
	va_start(ap, fmt);
	vsnprintf(rule, sizeof(rule), fmt, ap);
	va_end(ap);
	log_limited(r->c->domid, "refused", LOG_WARNING,
	            "domain %u: %s refused: %s; path %s", r->c->domid,
	            type ? type : "?", rule,
	            refusal_path(r, path, sizeof(path)));
}

/* The rule behind a handler's error, for the ones that are refusals
 * (ENOENT, EEXIST, EAGAIN... are answers). */
static void log_refused_err(struct req *r, int err)
{
	switch (-err) {
	case EACCES:
		log_refused(r, "permission denied (node permissions)");
		break;
	case E2BIG:
		log_refused(r, "size limit (the reply would exceed %u bytes)",
		            (unsigned int)XS_PAYLOAD_MAX);
		break;
	case EINVAL:
		/* A path that failed canon may be half-written: show the
		 * argument as sent. */
		r->d->path[0] = '\0';
		log_refused(r, "invalid argument or path (path-max %zu)",
		            path_max(r));
		break;
	case EBUSY:
		log_refused(r, "transaction rule (no nested transactions)");
		break;
	}
}

/*
 * A request refused by quota `id`: say so in the log, naming the domain
 * and the quota, so that an operator sees why a guest failed.
 */
static int quota_refused(struct req *r, enum quota_id id, int err)
{
	domain_stats_of(r->d, r->c->domid)->refused[DOM_REFUSED_QUOTA]++;
	log_refused(r, "quota %s (%lu) reached", quota_name(id),
	            r->caller.quota ? r->caller.quota->v[id] : 0ul);
	return err;
}

/* ---- store operations ---- */

static int do_read(struct req *r)
{
	const char *value;
	size_t len;
	int err = one_path(r, 0);

	if (!err)
		err = store_read(r->d->store, r->txn, &r->caller, r->d->path,
		                 &value, &len);
	if (!err)
		reply(r, value, len);
	return err;
}

static int do_directory(struct req *r)
{
	size_t len;
	int err = one_path(r, 0);

	if (!err)
		err =
		    store_directory(r->d->store, r->txn, &r->caller, r->d->path,
		                    r->d->reply, XS_PAYLOAD_MAX, &len, NULL);
	if (!err)
		reply(r, r->d->reply, len);
	return err;
}

static int do_directory_part(struct req *r)
{
	struct daemon *d = r->d;
	unsigned long offset;
	uint64_t gen;
	size_t len, glen;
	bool is_complete;
	int err;

	if (r->argc != 2 || !r->is_terminated)
		return -EINVAL;
	err = canon(r, r->argv[0], 0);
	if (!err)
		err = parse_uint(r->argv[1], UINT32_MAX, &offset);
	/* A first look for the generation, whose length sets the room. */
	if (!err)
		err = store_directory_part(d->store, r->txn, &r->caller,
		                           d->path, offset, d->reply, 0, &len,
		                           &gen, &is_complete);
	if (err)
		return err;
	glen = (size_t)snprintf(d->reply, 24, "%" PRIu64, gen) + 1;
	/* Whole pieces while they fit, and a final nul if the end came. */
	err = store_directory_part(
	    d->store, r->txn, &r->caller, d->path, offset, d->reply + glen,
	    XS_PAYLOAD_MAX - glen - 1, &len, &gen, &is_complete);
	if (err)
		return err;
	if (is_complete)
		d->reply[glen + len++] = '\0';
	reply(r, d->reply, glen + len);
	return 0;
}

static int do_get_perms(struct req *r)
{
	size_t len;
	int err = one_path(r, PATH_ALLOW_SPECIAL);

	if (!err)
		err =
		    store_get_perms(r->d->store, r->txn, &r->caller, r->d->path,
		                    r->d->reply, XS_PAYLOAD_MAX, &len);
	if (!err)
		reply(r, r->d->reply, len);
	return err;
}

static int do_write(struct req *r)
{
	size_t plen;
	int err;

	if (r->argc < 1)
		return -EINVAL;
	err = canon(r, r->argv[0], 0);
	if (err)
		return err;
	plen = strlen(r->argv[0]) + 1;
	err = store_write(r->d->store, r->txn, &r->caller, r->d->path,
	                  r->payload + plen, r->hdr->len - plen);
	if (!err) {
		reply_str(r, "OK");
		charge_write(r);
	}
	return err;
}

static int do_mkdir(struct req *r)
{
	int err = one_path(r, 0);

	if (!err)
		err = store_mkdir(r->d->store, r->txn, &r->caller, r->d->path);
	if (!err) {
		reply_str(r, "OK");
		charge_write(r);
	}
	return err;
}

static int do_rm(struct req *r)
{
	int err = one_path(r, 0);

	if (!err)
		err = store_rm(r->d->store, r->txn, &r->caller, r->d->path);
	if (!err) {
		reply_str(r, "OK");
		charge_write(r);
	}
	return err;
}

/*
 * Permissions must name domains that exist, or a domain born later with
 * that id would inherit rights (XSA-322 class): as Xen 4.17, an owner the
 * platform does not know is ENOENT; another entry for an absent domain is
 * dropped (Xen keeps it but ignores it forever).  Every domain named gets
 * a record, so that its death is noticed and forgotten even if it was
 * never introduced.  Without a platform the owner rule holds all the
 * same (only dom0 exists: INTRODUCE needs a platform), but other entries
 * are kept, as Xen keeps them, since no domain can ever be born there to
 * inherit them.  Updates *n.
 */
static int check_perm_domains(struct daemon *d, struct perm_entry *e,
                              unsigned int *n)
{
	unsigned int kept = 0;

	for (unsigned int i = 0; i < *n; i++) {
		/* A dying domain is refused too: its id is about to be
		 * free, and rights on it would pass to the next domain
		 * born with it (XSA-322 class). */
		bool exists =
		    e[i].domid == 0 || (domain_is_alive(d, e[i].domid) &&
		                        domain_get(d, e[i].domid));

		if (!exists && i == 0)
			return -ENOENT;
		if (exists || !d->plat)
			e[kept++] = e[i];
	}
	*n = kept;
	return 0;
}

static int do_set_perms(struct req *r)
{
	const char *path;
	struct perm_entry *e;
	unsigned int n;
	size_t plen;
	int err;

	/* path, then one or more permissions (a trailing "?" is allowed
	 * to be absent). */
	if (r->argc < 2 || !r->is_terminated)
		return -EINVAL;
	path = r->argv[0];
	err = canon(r, path, PATH_ALLOW_SPECIAL);
	if (err)
		return err;
	plen = strlen(path) + 1;
	n = r->argc - 1;
	if (n > XS_PAYLOAD_MAX / 2)
		return -EINVAL;
	e = xmalloc(n * sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = perm_parse(r->payload + plen, r->hdr->len - plen, n, e);
	/* The quota counts what was asked for, before absent domains'
	 * entries are dropped (as Xen). */
	if (!err && !r->c->is_privileged &&
	    quota_is_over(r->caller.quota, QUOTA_PERMS, n))
		err = quota_refused(r, QUOTA_PERMS, -ENOSPC);
	if (!err)
		err = check_perm_domains(r->d, e, &n);
	if (!err)
		err = store_set_perms(r->d->store, r->txn, &r->caller,
		                      r->d->path, e, n);
	xfree(e);
	if (!err) {
		reply_str(r, "OK");
		charge_write(r);
	}
	return err;
}

/* ---- watches ---- */

/*
 * Inside a transaction, requests grow the transaction's records (its log,
 * its touched set) even when no node grows; outside, while transactions
 * are open, a change pins the old version in their snapshots.  Once the
 * caller is over its memory quota with these, such requests are refused
 * (not TRANSACTION_END or RM, which let it recover).
 */
static bool is_txn_over_memory(const struct req *r)
{
	const struct store_caller *c = &r->caller;

	const struct sess *s = r->c->sess;
	uint32_t type = r->hdr->type;

	if (c->is_privileged || !c->quota || type == XS_TRANSACTION_END ||
	    type == XS_RM)
		return false;
	if (!r->txn &&
	    !(s && s->nr_txns &&
	      (type == XS_WRITE || type == XS_MKDIR || type == XS_SET_PERMS)))
		return false;
	return quota_is_over(c->quota, QUOTA_MEMORY,
	                     store_domain_bytes(r->d->store, c->domid) +
	                         c->extra_mem + r->hdr->len);
}

static int do_watch(struct req *r)
{
	struct sess *s = r->c->sess;
	const char *path, *token;
	unsigned long depth = 0;
	bool has_depth = false;
	struct watch *w;
	size_t rel = 0;
	int err;

	/*
	 * path, token and, with the WATCHDEPTH feature, a depth.  Xen 4.17
	 * takes exactly two strings (the depth came later in the spec).
	 */
	if ((r->argc != 2 && r->argc != 3) || !r->is_terminated)
		return -EINVAL;
	path = r->argv[0];
	token = r->argv[1];
	if (r->argc == 3) {
		err = parse_uint(r->argv[2], INT32_MAX, &depth);
		if (err)
			return err;
		has_depth = true;
	}
	err = canon(r, path, PATH_ALLOW_SPECIAL);
	if (err)
		return err;
	if (path[0] != '/' && path[0] != '@')
		rel = strlen(r->d->path) - strlen(path);
	if (watch_find(r->d->watches, r->c, r->d->path, token))
		return -EEXIST;
	if (r->c->is_privileged ? s->nr_watches >= r->d->cfg.priv_watches_max
	                        : quota_is_over(r->caller.quota, QUOTA_WATCHES,
	                                        s->nr_watches + 1ul))
		return quota_refused(r, QUOTA_WATCHES, -E2BIG);
	if (!r->c->is_privileged &&
	    quota_is_over(r->caller.quota, QUOTA_MEMORY,
	                  store_domain_bytes(r->d->store, r->c->domid) +
	                      r->caller.extra_mem + sizeof(*w) + strlen(path) +
	                      strlen(token)))
		return quota_refused(r, QUOTA_MEMORY, -ENOMEM);
	err = watch_add(r->d->watches, r->d->path, token,
	                has_depth ? (int)depth : -1, rel, r->c, &w);
	if (err)
		return err;
	session_add_watch(s, w);
	reply_str(r, "OK");
	/* The first event, straight away, with the path as given. */
	events_send(r->c, w, r->d->path);
	return 0;
}

static int do_unwatch(struct req *r)
{
	struct watch *w;
	int err;

	if (r->argc != 2 || !r->is_terminated)
		return -EINVAL;
	err = canon(r, r->argv[0], PATH_ALLOW_SPECIAL);
	if (err)
		return err;
	w = watch_find(r->d->watches, r->c, r->d->path, r->argv[1]);
	if (!w)
		return -ENOENT;
	session_drop_watch(r->d, r->c->sess, w);
	reply_str(r, "OK");
	return 0;
}

/* ---- transactions ---- */

static int do_txn_start(struct req *r)
{
	struct sess *s = r->c->sess;
	uint32_t id;
	char buf[16];
	int err;

	if (r->txn)
		return -EBUSY;
	if (r->c->is_privileged
	        ? s->nr_txns >= r->d->cfg.priv_txns_max
	        : quota_is_over(r->caller.quota, QUOTA_TRANSACTIONS,
	                        s->nr_txns + 1ul))
		return quota_refused(r, QUOTA_TRANSACTIONS, -ENOSPC);
	err = session_start_txn(r->d, s, &r->caller, &id);
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "%u", id);
	reply_str(r, buf);
	return 0;
}

static int do_txn_end(struct req *r)
{
	const char *arg;
	int err;

	if (!r->hdr->tx_id)
		return -ENOENT;
	err = one_arg(r, &arg);
	if (err)
		return err;
	if (strcmp(arg, "T") && strcmp(arg, "F"))
		return -EINVAL;
	err = session_end_txn(r->d, r->c->sess, r->hdr->tx_id, arg[0] == 'T');
	if (!err)
		reply_str(r, "OK");
	return err;
}

static int do_reset_watches(struct req *r)
{
	session_reset(r->d, r->c->sess);
	reply_str(r, "OK");
	return 0;
}

/* ---- domains ---- */

static int one_domid(const struct req *r, unsigned long *domid)
{
	const char *arg;
	int err = one_arg(r, &arg);

	return err ? err : parse_uint(arg, XS_DOMID_MAX, domid);
}

static int do_get_domain_path(struct req *r)
{
	unsigned long domid;
	char buf[32];
	int err = one_domid(r, &domid);

	if (err)
		return err;
	snprintf(buf, sizeof(buf), "/local/domain/%lu", domid);
	reply_str(r, buf);
	return 0;
}

static int do_is_domain_introduced(struct req *r)
{
	unsigned long domid;
	const struct domain *dom;
	int err = one_domid(r, &domid);

	if (err)
		return err;
	dom = domain_find(r->d, (unsigned int)domid);
	/* Domain 0 is always there: it is us. */
	reply_str(r, domid == 0 || (dom && dom->is_introduced) ? "T" : "F");
	return 0;
}

static int do_introduce(struct req *r)
{
	unsigned long domid = 0, port = 0;
	long long gfn;
	char *end;
	int err;

	/* <domid>|<gfn>|<evtchn>|? : the gfn in signed decimal (spec). */
	if ((r->argc != 3 && r->argc != 4) || !r->is_terminated)
		return -EINVAL;
	err = parse_uint(r->argv[0], XS_DOMID_FIRST_SPECIAL - 1, &domid);
	if (!err)
		err = parse_uint(r->argv[2], UINT32_MAX, &port);
	if (err || domid == 0 || port == 0)
		return -EINVAL;
	errno = 0;
	gfn = strtoll(r->argv[1], &end, 10);
	if (errno || end == r->argv[1] || *end)
		return -EINVAL;
	err = domain_introduce(r->d, (unsigned int)domid, (uint64_t)gfn,
	                       (unsigned int)port);
	if (!err)
		reply_str(r, "OK");
	return err;
}

static int do_release(struct req *r)
{
	unsigned long domid;
	int err = one_domid(r, &domid);

	if (err)
		return err;
	if (domid == 0)
		return -EINVAL; /* dom0 stays, as in Xen */
	err = domain_release(r->d, (unsigned int)domid, false);
	if (!err)
		reply_str(r, "OK");
	return err;
}

static int do_resume(struct req *r)
{
	unsigned long domid;
	int err = one_domid(r, &domid);

	if (err)
		return err;
	if (domid == 0)
		return -EINVAL;
	err = domain_resume(r->d, (unsigned int)domid);
	if (!err)
		reply_str(r, "OK");
	return err;
}

static int do_set_target(struct req *r)
{
	unsigned long domid, target;
	int err;

	if (r->argc != 2 || !r->is_terminated)
		return -EINVAL;
	err = parse_uint(r->argv[0], XS_DOMID_MAX, &domid);
	if (!err)
		err = parse_uint(r->argv[1], XS_DOMID_MAX, &target);
	if (err)
		return err;
	err =
	    domain_set_target(r->d, (unsigned int)domid, (unsigned int)target);
	if (!err)
		reply_str(r, "OK");
	return err;
}

#define SERVER_FEATURES                                                        \
	(XS_FEATURE_RECONNECTION | XS_FEATURE_ERROR | XS_FEATURE_WATCHDEPTH)

static int do_get_feature(struct req *r)
{
	unsigned long domid;
	const struct domain *dom;
	unsigned int features = SERVER_FEATURES;
	char buf[16];
	int err;

	if (r->hdr->len > 0) {
		if (!r->c->is_privileged)
			return -EACCES;
		err = one_domid(r, &domid);
		if (err)
			return err;
		if (domid != 0) {
			dom = domain_get(r->d, (unsigned int)domid);
			if (!dom)
				return -ENOENT;
			features = dom->features;
		}
	}
	snprintf(buf, sizeof(buf), "%u", features);
	reply_str(r, buf);
	return 0;
}

static int do_set_feature(struct req *r)
{
	unsigned long domid, value;
	struct domain *dom;
	int err;

	if (r->argc != 2 || !r->is_terminated)
		return -EINVAL;
	err = parse_uint(r->argv[0], XS_DOMID_MAX, &domid);
	if (!err)
		err = parse_uint(r->argv[1], UINT32_MAX, &value);
	if (err)
		return err;
	dom = domain_get(r->d, (unsigned int)domid);
	if (!dom)
		return -ENOENT;
	/* Only before INTRODUCE, and only features we have (spec). */
	if (dom->is_introduced || (value & ~(unsigned long)SERVER_FEATURES))
		return -EINVAL;
	dom->features = (uint32_t)value;
	domain_touch(r->d, dom);
	reply_str(r, "OK");
	return 0;
}

/*
 * The write-rate limit (XSA-206 class): an unprivileged domain that
 * changes the store faster than its credit allows is not refused, but
 * its next requests wait, so that one guest writing in a loop cannot
 * starve everyone else's transactions.
 */
static void charge_write(struct req *r)
{
	struct sess *s = r->c->sess;
	struct domain *dom;

	if (r->c->is_privileged)
		return;
	if (!r->txn && s->nr_txns)
		s->pinned_bytes += r->hdr->len + PINNED_NODE_OVERHEAD;
	dom = domain_find(r->d, r->c->domid);
	if (dom && !domain_charge_write(r->d, dom)) {
		uint64_t ms = 1 + (uint64_t)(-dom->credit * 1000.0 /
		                             r->d->cfg.write_rate);

		dom->stats.throttled++;
		log_limited(r->c->domid, "write rate", LOG_WARNING,
		            "domain %u: %s delayed %llu ms: write rate %u/s "
		            "(burst %u) exceeded; path %s",
		            r->c->domid, xs_type_name(r->hdr->type),
		            (unsigned long long)ms, r->d->cfg.write_rate,
		            r->d->cfg.write_burst, r->d->path);
		conn_pause_for(r->c, ms);
	}
}

/* ---- the table ---- */

#define F_NOTID 0x1u /* the tx_id is ignored */
#define F_PRIV  0x2u /* privileged callers only */
#define F_WRITE 0x4u /* changes state: refused on the read-only socket */

static const struct handler {
	int (*fn)(struct req *r);
	unsigned int flags;
} handlers[XS_TYPE_COUNT] = {
    [XS_CONTROL] = {control_request, F_NOTID | F_PRIV | F_WRITE},
    [XS_DIRECTORY] = {do_directory, 0},
    [XS_READ] = {do_read, 0},
    [XS_GET_PERMS] = {do_get_perms, 0},
    [XS_WATCH] = {do_watch, F_NOTID},
    [XS_UNWATCH] = {do_unwatch, F_NOTID},
    [XS_TRANSACTION_START] = {do_txn_start, 0},
    [XS_TRANSACTION_END] = {do_txn_end, 0},
    [XS_INTRODUCE] = {do_introduce, F_NOTID | F_PRIV | F_WRITE},
    [XS_RELEASE] = {do_release, F_NOTID | F_PRIV | F_WRITE},
    [XS_GET_DOMAIN_PATH] = {do_get_domain_path, F_NOTID},
    [XS_WRITE] = {do_write, F_WRITE},
    [XS_MKDIR] = {do_mkdir, F_WRITE},
    [XS_RM] = {do_rm, F_WRITE},
    [XS_SET_PERMS] = {do_set_perms, F_WRITE},
    [XS_IS_DOMAIN_INTRODUCED] = {do_is_domain_introduced, F_NOTID | F_PRIV},
    [XS_RESUME] = {do_resume, F_NOTID | F_PRIV | F_WRITE},
    [XS_SET_TARGET] = {do_set_target, F_NOTID | F_PRIV | F_WRITE},
    [XS_RESET_WATCHES] = {do_reset_watches, F_NOTID},
    [XS_DIRECTORY_PART] = {do_directory_part, 0},
    [XS_GET_FEATURE] = {do_get_feature, F_NOTID},
    [XS_SET_FEATURE] = {do_set_feature, F_NOTID | F_PRIV | F_WRITE},
    [XS_GET_QUOTA] = {quota_get_request, F_NOTID | F_PRIV},
    [XS_SET_QUOTA] = {quota_set_request, F_NOTID | F_PRIV | F_WRITE},
};

/*
 * While the journal cannot be written, a request that would change
 * recorded state could not be acknowledged: refuse it before it does.
 * Changes inside a transaction wait for the commit, which is refused.
 */
static bool is_unrecordable(const struct req *r, unsigned int flags)
{
	switch (r->hdr->type) {
	case XS_CONTROL:
		return false; /* its commands read, or act on the process */
	case XS_TRANSACTION_END:
		return r->hdr->len > 0 && r->payload[0] == 'T';
	case XS_WATCH:
	case XS_UNWATCH:
	case XS_RESET_WATCHES:
		return r->c->ops->commit != NULL; /* a guest's: recorded */
	default:
		return (flags & F_WRITE) && !r->txn;
	}
}

void dispatch_request(struct daemon *d, struct conn *c,
                      const struct xs_wire_hdr *hdr, const char *payload)
{
	struct req r = {.d = d, .c = c, .hdr = hdr, .payload = payload};
	const struct handler *h = NULL;
	struct dom_stats *st = domain_stats_of(d, c->domid);
	int err;

	st->requests++;
	if (hdr->type < XS_TYPE_COUNT)
		h = &handlers[hdr->type];
	d->path[0] = '\0'; /* no path yet, for log_refused */
	if (!h || !h->fn) {
		log_refused(&r, "unknown request type %u", hdr->type);
		reply_error(&r, ENOSYS);
		return;
	}
	if ((h->flags & F_PRIV) && !c->is_privileged) {
		st->refused[DOM_REFUSED_PERM]++;
		log_refused(&r, "privileged request (dom0 only)");
		reply_error(&r, EACCES);
		return;
	}
	if ((h->flags & F_WRITE) && c->is_readonly) {
		st->refused[DOM_REFUSED_PERM]++;
		reply_error(&r, EROFS);
		return;
	}
	if (!(h->flags & F_NOTID) && hdr->tx_id) {
		struct sess_txn *t = session_find_txn(c->sess, hdr->tx_id);

		if (!t) {
			reply_error(&r, ENOENT);
			return;
		}
		/* Lost in a restart of the daemon: only its end is
		 * served (with EAGAIN, by session_end_txn). */
		if (!t->txn && hdr->type != XS_TRANSACTION_END) {
			reply_error(&r, EAGAIN);
			return;
		}
		r.txn = t->txn;
	}
	session_caller(d, c, &r.caller);
	if (is_txn_over_memory(&r)) {
		quota_refused(&r, QUOTA_MEMORY, -ENOMEM);
		reply_error(&r, ENOMEM);
		return;
	}
	if (d->persist_err && is_unrecordable(&r, h->flags)) {
		log_limited(c->domid, "journal failed", LOG_WARNING,
		            "conn %llu (dom%u): %s refused: the journal "
		            "cannot be written (%s)",
		            (unsigned long long)c->id, c->domid,
		            xs_type_name(hdr->type), strerror(-d->persist_err));
		reply_error(&r, -d->persist_err);
		return;
	}
	split_args(&r);
	store_clear_quota_hit(d->store);
	err = h->fn(&r);
	if (err && !c->is_privileged && store_quota_hit(d->store) >= 0)
		quota_refused(&r, (enum quota_id)store_quota_hit(d->store),
		              err);
	/* Looked up again: the handler may have freed a record. */
	if (err == -EACCES)
		domain_stats_of(d, c->domid)->refused[DOM_REFUSED_PERM]++;
	if (err)
		log_refused_err(&r, err);
	if (err)
		reply_error(&r, -err);
}

/* ---- connections ---- */

int dispatch_conn_new(struct daemon *d, struct conn *c)
{
	return session_new(d, c);
}

void dispatch_conn_gone(struct daemon *d, struct conn *c)
{
	session_free(d, c);
}

unsigned int dispatch_conn_watches(const struct conn *c)
{
	return session_nr_watches(c);
}

unsigned int dispatch_conn_txns(const struct conn *c)
{
	return session_nr_txns(c);
}

unsigned long dispatch_conn_mem(const struct daemon *d, const struct conn *c)
{
	return session_mem(d, c);
}

const struct conn_handlers dispatch_conn_handlers = {
    .on_new = dispatch_conn_new,
    .on_gone = dispatch_conn_gone,
    .on_request = dispatch_request,
};
