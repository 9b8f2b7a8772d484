/*
 * plat_int.h - how an implementation plugs into plat.h: a table of
 * operations behind the first member of its own struct.  Internal to
 * plat/.
 */
#ifndef XSTORE_PLAT_INT_H
#define XSTORE_PLAT_INT_H

#include "plat/plat.h"

#define SIM_DEFAULT_DIR "/var/run/xenstored/sim"

struct plat_ops {
	const char *name;
	void (*close)(struct plat *p);
	int (*domain_state)(struct plat *p, unsigned int domid,
	                    enum plat_dom_state *out);
	int (*domain_exc_fd)(struct plat *p);
	/* `out` is never NULL, and set to is_all on entry */
	int (*domain_exc_ack)(struct plat *p, struct plat_exc *out);
	int (*start_info)(struct plat *p, unsigned int domid,
	                  struct plat_start_info *out);
	/* n pages, contiguous; plat.c has checked 1 <= n <= MAX */
	int (*map_grants)(struct plat *p, unsigned int domid,
	                  const uint32_t *refs, unsigned int n,
	                  bool is_writable, void **addr);
	int (*map_foreign)(struct plat *p, unsigned int domid, uint64_t gfn,
	                   void **addr);
	int (*map_own_pages)(struct plat *p, const uint64_t *gfns,
	                     unsigned int n, void **addr);
	void (*unmap)(struct plat *p, void *addr);
	int (*grant)(struct plat *p, uint64_t gfn, unsigned int grantee,
	             bool is_writable, uint32_t *ref);
	int (*ungrant)(struct plat *p, uint32_t ref);
	int (*alloc_page)(struct plat *p, uint64_t *gfn);
	int (*free_page)(struct plat *p, uint64_t gfn);
	int (*evtchn_alloc_unbound)(struct plat *p, unsigned int remote,
	                            unsigned int *port);
	int (*evtchn_bind)(struct plat *p, unsigned int remote,
	                   unsigned int remote_port, unsigned int *port);
	/* NULL: plat.c binds instead (a plat whose ports die with their
	 * process, as Xen's) */
	int (*evtchn_rebind)(struct plat *p, unsigned int remote,
	                     unsigned int remote_port, unsigned int old_port,
	                     unsigned int *port);
	int (*evtchn_unbind)(struct plat *p, unsigned int port);
	int (*evtchn_notify)(struct plat *p, unsigned int port);
	int (*evtchn_fd)(struct plat *p);
	int (*evtchn_pending)(struct plat *p, unsigned int *port);
};

/* Every implementation's struct starts with this. */
struct plat {
	const struct plat_ops *ops;
	unsigned int self;
};

/* sim.c: the simulator rooted at `dir`; `flags` PLAT_OPEN_*. */
int sim_open(const char *dir, unsigned int self, unsigned int flags,
             struct plat **out);

/* What the sim counts, for tests (sim_get_counters). */
struct sim_counters {
	/* Looks at a .peer file by path before a notify (a hit of the
	 * cache costs none). */
	uint64_t peer_checks;
	unsigned int peer_fds; /* remote FIFOs held open now */
};

/* sim_get_counters - the counters of sim plat `p` (tests). */
void sim_get_counters(struct plat *p, struct sim_counters *out);

/*
 * sim_set_peer_fds_max - hold at most `max` (0: 1) remote FIFOs open in
 * sim plat `p`, closing the least recently notified beyond it (tests;
 * the default is derived from RLIMIT_NOFILE, see sim.c).
 */
void sim_set_peer_fds_max(struct plat *p, unsigned int max);

/* xen.c: the real hypervisor (-ENOTSUP in builds without it). */
int xen_open(unsigned int self, struct plat **out);

#endif
