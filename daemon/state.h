/*
 * state.h - the state of one xstored process, in one struct (no globals
 * beyond the log sink), so that tests and the fuzzer can run a daemon
 * in-process.  Declarations only: every daemon module includes this,
 * none of them includes daemon.h (the life cycle, at the top of the
 * module graph: see daemon.h).  The comments on the fields say which
 * module owns each part, i.e. who will save and restore it.
 */
#ifndef XSTORE_STATE_H
#define XSTORE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"
#include "store/quota.h"
#include "xstore/wire.h"

struct daemon;
struct conn;
struct conn_handlers;
struct domain;
struct loop;
struct plat;
struct persist;
struct store;
struct update;
struct watch_index;

/* How many guests' rings the poll window looks at (conn.c). */
#define CONN_HOT_RINGS 8

/* Why a request was refused, for the counters (CONTROL domstats). */
enum dom_refusal {
	DOM_REFUSED_QUOTA, /* a quota (nodes, memory, watches, ...) */
	DOM_REFUSED_PERM,  /* EACCES/EROFS: privilege, permissions */
	DOM_REFUSED_COUNT,
};

/*
 * Counters of one domain's requests, bumped on the request path (one
 * increment each).  They live as long as the domain's record; when it
 * goes they are added to the daemon's count of the departed, so that
 * the daemon-wide totals never go down.
 */
struct dom_stats {
	uint64_t requests;
	uint64_t refused[DOM_REFUSED_COUNT];
	uint64_t throttled; /* paused by the write-rate limit */
};

/*
 * daemon_special_fn - fire special watch event `name` ("@introduceDomain",
 * "@releaseDomain") for domain `domid`: how domain.c reaches the watch
 * side without including it (daemon_init sets it).
 */
typedef void daemon_special_fn(struct daemon *d, const char *name,
                               unsigned int domid);

struct loop;
struct store;
struct watch_index;
struct conn;
struct plat;
struct domain;

struct daemon_config {
	char *rundir;     /* sockets live here */
	char *pid_file;   /* NULL: none */
	char *log_file;   /* NULL: stderr */
	char *trace_file; /* NULL: no trace */
	int log_level;    /* syslog level */
	bool foreground;
	struct quota_set quota;      /* hard, for unprivileged domains */
	struct quota_set quota_soft; /* warn only */
	unsigned int watch_event_timeout_ms; /* undelivered events expire */
	size_t conn_out_max; /* bytes queued per connection before reads stop */
	unsigned int conn_events_max; /* undelivered events per connection */
	/* Bytes of undelivered events across all connections: past it the
	 * oldest events of the biggest queue go first (0: no bound). */
	size_t events_total_max;
	/* Xen leaves the privileged domain unbounded; these keep one
	 * runaway dom0 client from exhausting the daemon. */
	unsigned int priv_watches_max; /* per privileged connection */
	unsigned int priv_txns_max;    /* per privileged connection */
	char *platform; /* "sim", "sim:DIR", "xen"; NULL: "sim" if present */
	/* Write-rate limit per unprivileged domain (XSA-206 class): changes
	 * per second sustained, and the burst allowed. */
	unsigned int write_rate;
	unsigned int write_burst;
	/* Upper bound of the loop's adaptive poll window (loop_set_poll),
	 * in microseconds; 0: always sleep. */
	unsigned int poll_us;
	/* The journal (persist.c): kept unless --no-persist, in state_dir
	 * (the run directory unless --state-dir), fdatasync'd if is_sync,
	 * compacted past compact_min bytes (0: the journal's default). */
	bool is_persistent;
	bool is_sync;
	char *state_dir;
	size_t compact_min;
};

struct daemon {
	/* daemon.c: set by daemon_init, read-only after (options.c fills
	 * it before).  Restored from the command line, never saved. */
	struct daemon_config cfg;
	struct loop *loop;

	/* The store and the watch index (daemon.c makes them; the request
	 * handlers, dispatch.c, change the tree; session.c adds and drops
	 * watches, each owned by a connection's session; events.c carries
	 * the store's events through the index).  What the journal saves:
	 * the tree, and the watches of guests (per session). */
	struct store *store;
	struct watch_index *watches;
	/* daemon.c: the store's node bytes at their highest since memory
	 * was last given back (daemon_end_turn's trim), and how often it was
	 * (memreport). */
	uint64_t store_high;
	uint64_t mem_trims;

	/* conn.c: every connection, its queues and the event bounds.
	 * Runtime only: sockets do not survive a restart, rings are made
	 * again from the domains. */
	struct conn *conns, *conns_tail; /* oldest first */
	/* Connections with output queued this turn: the end-of-turn flush
	 * visits only these, so idle connections cost nothing per turn. */
	struct conn *flush_head;
	/* Connections whose session the journal saves this turn (guests'
	 * rings whose input or queued output changed). */
	struct conn *save_head;
	/* Connections killed and not yet freed, newest first
	 * (conn->dead_next): the reap visits only them, not every
	 * connection (10 000 guests' rings). */
	struct conn *dead_head;
	/* The connections that read requests most recently, which the
	 * loop's poll window looks at directly (conn_poll_hot): the last
	 * socket, and up to CONN_HOT_RINGS guests' rings (round robin). */
	struct conn *hot_sock;
	struct conn *hot_rings[CONN_HOT_RINGS];
	unsigned int hot_next;
	unsigned int hot_sock_misses; /* looks at hot_sock in vain since
	                                 it last sent */
	/* The guests' batches' time, in all (conn_guests_served): what a
	 * socket's debt is paid in. */
	uint64_t guests_clock_us;
	uint64_t next_conn_id;
	unsigned int nr_conns;
	unsigned int nr_dead; /* killed since the last reap */
	size_t event_bytes;   /* undelivered events, all connections (conn.c) */
	struct siphash_key event_key; /* keys conn.c's index of queued events */
	/* What conn.c calls for a connection's life and its requests (the
	 * request handlers, dispatch.c): set by daemon_init, so that conn.c
	 * never includes dispatch.h. */
	const struct conn_handlers *conn_handlers;
	/* How domain.c fires @introduceDomain/@releaseDomain (events.c's
	 * events_fire_special): set by daemon_init. */
	daemon_special_fn *fire_special;
	/* The journal (persist.c) hears of every change of a domain record
	 * (domain_touch): NULL when nothing is persisted. */
	void (*on_domain_change)(struct daemon *d, unsigned int domid);
	/* persist.c: its state (NULL: --no-persist), and the error that
	 * stops changes while the journal cannot be written (0: none):
	 * the request handlers refuse changes with it. */
	struct persist *persist;
	int persist_err;
	/* persist.c: CONTROL journal's report (NULL: not persisting). */
	int (*journal_report)(struct daemon *d, char *buf, size_t size);

	/* update.c: CONTROL live-update, which control.c reaches through
	 * this (set by daemon_init): `argv` its arguments after
	 * "live-update".  It writes its answer ("OK", "BUSY" or an error
	 * text) into out[size] and returns 1, or returns 0 when the answer
	 * comes later (-s: from the new binary), or -errno for an ERROR
	 * reply.  Its state (NULL: no update under way), never saved. */
	int (*live_update)(struct daemon *d, struct conn *c,
	                   const struct xs_wire_hdr *hdr, unsigned int argc,
	                   const char *const *argv, char *out, size_t size);
	struct update *update;

	/* domain.c: the platform and the domains.  What the journal saves:
	 * each introduced domain (domid, ring frame, port, target, quota,
	 * features); the rest is rebuilt from it and the platform. */
	struct plat *plat;       /* NULL: sockets only */
	struct domain **domains; /* by domid, XS_DOMID_MAX + 1 slots */
	/* Deaths: a counter bumped each time a domain's rights
	 * are forgotten, and per domid the count at its last forgetting
	 * (lazily allocated), so that a transaction can tell whether a
	 * domain it named died after the name was checked. */
	uint32_t death_seq;
	uint32_t *forgotten_at;
	struct domain *dom_list; /* every record, for state checks */
	/* The state sweep after the platform said some domain
	 * changed: every record checked, a time slice per loop turn. */
	uint64_t sweep_timer;    /* its next slice, 0: none running */
	unsigned int sweep_next; /* the domid to check next */
	bool sweep_again;        /* another change came during the sweep */
	/* State checks made (a platform call each), and full sweeps
	 * begun: logged at exit (domain_log_checks). */
	uint64_t nr_state_checks;
	uint64_t nr_sweeps;
	/* Request counters of domain 0's connections, and of
	 * every record freed so far (daemon-wide totals never go down). */
	struct dom_stats stats_dom0;
	struct dom_stats stats_gone;
	/* The last batch of guests' events stopped with ports still
	 * pending (its bound or a dom0 request), or served more than
	 * CONN_HOT_RINGS of them: the poll window then serves no ring
	 * ahead of the batches (conn.c), which do many guests at less
	 * cost each. */
	bool evtchn_backlog;
	struct domain **by_port; /* by our event-channel port */
	unsigned int by_port_cap;
	unsigned int nr_domains;
	/* Domains whose target (SET_TARGET) is set: forget() looks for
	 * those naming a dead domain only if there are any. */
	unsigned int nr_targets;

	/* sock.c (main.c opens and closes): the listening sockets. */
	int sock_fd;    /* rundir/socket, or -1 */
	int sock_ro_fd; /* rundir/socket_ro, or -1 */
	/* SOCK_INHERITED_* bits: listening fds a service manager
	 * handed over, whose socket files are its own to remove. */
	unsigned int sock_inherited;
	/* Whether this kernel peeks unix streams at SO_PEEK_OFF (sock.c
	 * reads requests so): 0 not probed yet, 1 yes, -1 no. */
	int sock_peek_ok;
	bool is_stopping; /* main.c */

	/* dispatch.c and control.c: scratch for the request being handled
	 * (one at a time), meaningless between requests. */
	char path[XS_ABS_PATH_MAX + 1];
	char reply[XS_PAYLOAD_MAX + 1];
};

#endif
