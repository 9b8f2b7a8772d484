/*
 * fakeplat.h - a platform (plat/plat.h) without a hypervisor, for
 * in-process tests and fuzzers of the daemon's guest side: domains are
 * entries in a table, each with a ring page the test owns in ordinary
 * memory; event channels are numbers (the daemon's port for domain D is
 * D + FAKEPLAT_PORT_BASE) and a notify only counts.  The test delivers
 * the guest's events itself (domain_kick).  Not thread-safe.
 */
#ifndef XSTORE_TEST_FAKEPLAT_H
#define XSTORE_TEST_FAKEPLAT_H

#include <stdbool.h>

#include "plat/plat.h"

#define FAKEPLAT_DOMS      8  /* domids 1 .. FAKEPLAT_DOMS - 1 */
#define FAKEPLAT_PORT_BASE 10 /* the daemon's local port of domain D */

/*
 * fakeplat_new - a plat with no domain yet; the daemon owns it once
 * given (d->plat; plat_close frees it).  0 or -ENOMEM.
 */
int fakeplat_new(struct plat **out);

/*
 * fakeplat_set_domain - make domain `domid` (1 .. FAKEPLAT_DOMS - 1)
 * exist with ring page `page` (the caller's, PLAT_PAGE_SIZE bytes, kept
 * until the domain is removed), or remove it (page NULL: its state gives
 * -ENOENT, maps fail).  -EINVAL for a domid out of range.
 */
int fakeplat_set_domain(struct plat *p, unsigned int domid, void *page);

/* fakeplat_notifies - events the daemon sent to domain `domid` so far. */
unsigned long fakeplat_notifies(const struct plat *p, unsigned int domid);

/* fakeplat_is_mapped - does the daemon hold `domid`'s page mapped? */
bool fakeplat_is_mapped(const struct plat *p, unsigned int domid);

#endif
