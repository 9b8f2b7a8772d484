/*
 * home.h - the store nodes a Xen toolstack (libxl) writes for a domain
 * it creates, and removes when it destroys it: /local/domain/<D> with
 * its usual children and permissions, /vm/<uuid>, /libxl/<D>.
 */
#ifndef XSTORE_TOOLS_HOME_H
#define XSTORE_TOOLS_HOME_H

#include <stdint.h>

#include "xstore/xstore.h"

#define HOME_UUID_LEN 36 /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx */

struct home {
	unsigned int domid;
	const char *name;
	const char *uuid; /* HOME_UUID_LEN characters */
	uint64_t store_gfn;
	unsigned int store_port;
	unsigned long memory_kb;
	unsigned int vcpus;
};

/* home_uuid_new - a random (version 4) uuid into buf[HOME_UUID_LEN + 1]. */
int home_uuid_new(char *buf);

/* home_write - write all of `h`'s nodes in one transaction (retried on
 * EAGAIN), replacing whatever was there.  0 or -errno (libxstore's). */
int home_write(struct xstore *xs, const struct home *h);

/* home_remove - remove the nodes of domain `domid` (its /vm/<uuid> found
 * through /local/domain/<D>/vm), in one transaction.  Nodes already
 * gone are no error. */
int home_remove(struct xstore *xs, unsigned int domid);

#endif
