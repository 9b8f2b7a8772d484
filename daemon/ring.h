/*
 * ring.h - the shared-ring transport of guest connections.
 */
#ifndef XSTORE_RING_H
#define XSTORE_RING_H

#include <stdbool.h>

#include "daemon/conn.h"

struct domain;

/* The transport of CONN_RING connections; conn->transport is the
 * struct domain. */
extern const struct transport_ops ring_ops;

/* ring_set_error - record XS_ERROR_* in the page, if that feature is
 * advertised. */
void ring_set_error(struct domain *dom, unsigned int code);

/* ring_is_sane - are both index pairs within a ring's worth? */
bool ring_is_sane(struct domain *dom);

/* ring_wants_reconnect - has the guest asked for a reset? */
bool ring_wants_reconnect(struct domain *dom);

/* ring_reset - empty both queues, clear the error, mark connected. */
void ring_reset(struct domain *dom);

/* ring_advertise - publish dom->features in the page. */
void ring_advertise(struct domain *dom);

#endif
