/*
 * domain.h - the guest domains xstored talks to: introduced by the
 * toolstack, served over their shared ring, released on death.
 *
 * A domain owns its ring mapping, its event channel and (while its ring
 * is healthy) one connection.  The table is indexed by domid.  Only the
 * daemon thread touches it.
 */
#ifndef XSTORE_DOMAIN_H
#define XSTORE_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/state.h"
#include "store/quota.h"

struct daemon;
struct conn;
struct ring;

struct domain {
	struct domain *next,
	    *prev; /* the daemon's list, in domid order of birth */
	unsigned int domid;
	bool is_introduced;
	bool is_shutdown_reported; /* @releaseDomain sent for a shutdown */
	uint32_t target;           /* SET_TARGET domain, or PERM_NO_TARGET */
	uint32_t features;         /* to advertise at INTRODUCE */
	/* The ring (page, event channel), owned: NULL unless introduced. */
	struct ring *ring;
	struct conn *conn;      /* NULL while the ring is failed */
	struct quota_set quota; /* this domain's limits */
	/* Write-rate limit (XSA-206 class): a token bucket of changes. */
	double credit;
	uint64_t credit_at_ms;
	struct dom_stats stats;
};

/* domain_table_init / _fini - the daemon's table (all domains released
 * by _fini).  0 or -ENOMEM. */
int domain_table_init(struct daemon *d);
void domain_table_fini(struct daemon *d);

/* domain_find - the introduced (or being introduced) domain, or NULL. */
struct domain *domain_find(const struct daemon *d, unsigned int domid);

/*
 * domain_introduce - INTRODUCE: map the ring of `domid` (grant 1, or
 * frame `gfn` if that fails), bind to its unbound port `port`, start
 * serving it and fire @introduceDomain.  Introducing an introduced domain
 * with the same ring is a no-op (0), as in Xen.  -EINVAL bad domid, no
 * such domain on the platform, or a different ring; -ENOSYS without a
 * platform; -ENOMEM.
 */
int domain_introduce(struct daemon *d, unsigned int domid, uint64_t gfn,
                     unsigned int port);

/*
 * domain_release - RELEASE, or the platform reporting death (`is_dead`,
 * for the log): drop the connection (watches, transactions), unbind,
 * unmap, remove the nodes the domain owns and strip it from every
 * permission list (as Xen 4.17 does on both), so that a later domain
 * with the same domid inherits nothing, and fire @releaseDomain.
 * -ENOENT if not introduced.
 */
int domain_release(struct daemon *d, unsigned int domid, bool is_dead);

/* domain_resume - RESUME: report the next shutdown again. */
int domain_resume(struct daemon *d, unsigned int domid);

/* domain_set_target - SET_TARGET: `domid` acts for `target`. */
int domain_set_target(struct daemon *d, unsigned int domid,
                      unsigned int target);

/* domain_kick - an event arrived on `port`: serve that domain's ring. */
void domain_kick(struct daemon *d, unsigned int port);

/*
 * domain_charge_write - account one change by `dom` against its write
 * rate; false when it must wait (the caller pauses its input).
 */
bool domain_charge_write(struct daemon *d, struct domain *dom);

/* domain_count - introduced domains. */
unsigned int domain_count(const struct daemon *d);

/*
 * domain_get - the domain record of `domid` for SET_QUOTA/SET_FEATURE,
 * made if the platform knows the domain and it has no record yet (it
 * need not be introduced).  NULL: no such domain (or out of memory).
 */
struct domain *domain_get(struct daemon *d, unsigned int domid);

/*
 * domain_is_alive - may `domid` be named in permissions now: dom0, or a
 * domain the platform has and that is not dying (never without a
 * platform).
 */
bool domain_is_alive(struct daemon *d, unsigned int domid);

/*
 * domain_gone_since - has `domid` died since d->death_seq was `seq` (its
 * id may be another domain's by now), or is it not alive?  Always false
 * without a platform, where nothing dies.
 */
bool domain_gone_since(struct daemon *d, unsigned int domid, uint32_t seq);

/*
 * domain_stats_of - the counters of requests from `domid`: its record's,
 * or for domain 0 (sockets) and a domain without a record the daemon's
 * own.  Cannot fail; the pointer is valid until the record goes.
 */
struct dom_stats *domain_stats_of(struct daemon *d, unsigned int domid);

/*
 * domain_stats_total - daemon-wide totals of every domain's counters,
 * live and departed, into *out.
 */
void domain_stats_total(const struct daemon *d, struct dom_stats *out);

/*
 * domain_log_checks - log (debug) how many domain state checks and full
 * sweeps the platform's news of domains cost so far, and the nodes
 * walked to forget dead domains.
 */
void domain_log_checks(const struct daemon *d);

/*
 * domain_touch - `dom` (NULL: nothing) changed in what the journal keeps
 * of it (quota, features): tell it.  domain.c calls it for its own
 * changes; the request handlers that change a record's quota or
 * features call it too.
 */
void domain_touch(struct daemon *d, struct domain *dom);

/* What the journal keeps of a domain record. */
struct domain_saved {
	unsigned int domid;
	bool is_introduced;
	bool is_shutdown_reported;
	uint32_t target;
	uint32_t features;
	uint64_t gfn;             /* introduced: the ring's frame ... */
	unsigned int remote_port; /* ... its port ... */
	unsigned int local_port;  /* ... and ours, taken back on restart */
	struct quota_set quota;
};

/* domain_save - what the journal keeps of `dom`, into *out. */
void domain_save(const struct domain *dom, struct domain_saved *out);

/*
 * domain_restore - after a restart of the daemon, make record `s` again.
 * Introduced: its ring page is mapped again and its event channel taken
 * back (ring_reopen), and it gets a new connection (dom->conn) whose
 * session the caller restores; no @introduceDomain (its watchers saw
 * it).  *out gets the record.  -ESRCH: the domain died while the daemon
 * was down (nothing made: call domain_forget_dead once the watches are
 * back); -EEXIST, -EINVAL (no platform, bad domid or ring), -ENOMEM.
 */
int domain_restore(struct daemon *d, const struct domain_saved *s,
                   struct domain **out);

/*
 * domain_forget_dead - `domid` died while the daemon was down: clean up
 * as if its death had been seen (its nodes and rights go, its record if
 * any, @releaseDomain fires).
 */
void domain_forget_dead(struct daemon *d, unsigned int domid);

#endif
