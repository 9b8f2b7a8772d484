/*
 * daemon.h - the state of one xstored process, in one struct (no globals
 * beyond the log sink), so that tests and the fuzzer can run a daemon
 * in-process.
 */
#ifndef XSTORE_DAEMON_H
#define XSTORE_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/siphash.h"
#include "daemon/domain.h"
#include "store/quota.h"
#include "xstore/wire.h"

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
};

struct daemon {
	struct daemon_config cfg;
	struct loop *loop;
	struct store *store;
	struct watch_index *watches;
	struct conn *conns, *conns_tail; /* oldest first */
	/* Connections with output queued this turn: the end-of-turn flush
	 * visits only these, so idle connections cost nothing per turn. */
	struct conn *flush_head;
	uint64_t next_conn_id;
	unsigned int nr_conns;
	unsigned int nr_dead; /* killed since the last reap */
	size_t event_bytes;   /* undelivered events, all connections (conn.c) */
	struct siphash_key event_key; /* keys conn.c's index of queued events */
	/* Guests: the platform (NULL: sockets only) and the domains. */
	struct plat *plat;
	struct domain **domains; /* by domid, XS_DOMID_MAX + 1 slots */
	/* Deaths (domain.c): a counter bumped each time a domain's rights
	 * are forgotten, and per domid the count at its last forgetting
	 * (lazily allocated), so that a transaction can tell whether a
	 * domain it named died after the name was checked. */
	uint32_t death_seq;
	uint32_t *forgotten_at;
	struct domain *dom_list; /* every record, for state checks */
	/* The state sweep (domain.c) after the platform said some domain
	 * changed: every record checked, a time slice per loop turn. */
	uint64_t sweep_timer;    /* its next slice, 0: none running */
	unsigned int sweep_next; /* the domid to check next */
	bool sweep_again;        /* another change came during the sweep */
	/* Request counters (domain.c) of domain 0's connections, and of
	 * every record freed so far (daemon-wide totals never go down). */
	struct dom_stats stats_dom0;
	struct dom_stats stats_gone;
	struct domain **by_port; /* by our event-channel port */
	unsigned int by_port_cap;
	unsigned int nr_domains;
	int sock_fd;    /* rundir/socket, or -1 */
	int sock_ro_fd; /* rundir/socket_ro, or -1 */
	/* SOCK_INHERITED_* bits (sock.c): listening fds a service manager
	 * handed over, whose socket files are its own to remove. */
	unsigned int sock_inherited;
	bool is_stopping;
	/* Scratch for the request being handled (one at a time). */
	char path[XS_ABS_PATH_MAX + 1];
	char reply[XS_PAYLOAD_MAX + 1];
};

/* daemon_config_defaults - fill `cfg` with the defaults (no rundir). */
void daemon_config_defaults(struct daemon_config *cfg);

/*
 * daemon_init - create the store (with Xen's initial tree), watch index
 * and loop.  No sockets.  0 or -errno; on error nothing is left allocated.
 */
int daemon_init(struct daemon *d, const struct daemon_config *cfg);

/*
 * daemon_end_turn - the end of one loop turn: the safe point.  Everything
 * the turn changed is final here; next, the journal is written here,
 * before any reply leaves.  Then queued replies and events are flushed
 * and the connections killed this turn are freed.  Called by the loop's
 * turn hook (main.c) and by the fuzzer after each record; never from a
 * request handler (connections it frees may be on the caller's stack).
 * Loop thread only; cannot fail (a failing connection is killed).
 */
void daemon_end_turn(struct daemon *d);

/* daemon_fini - free every connection, the store, the loop. */
void daemon_fini(struct daemon *d);

#endif
