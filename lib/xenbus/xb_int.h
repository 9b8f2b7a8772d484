/*
 * xb_int.h - what the files of lib/xenbus/ share and nothing else sees:
 * the bus's platform handle (for the ring and event-channel helpers) and
 * the hook through which the bus tells them a device is gone.  Not
 * installed.
 */
#ifndef XSTORE_LIB_XENBUS_XB_INT_H
#define XSTORE_LIB_XENBUS_XB_INT_H

#include "plat/plat.h"
#include "xstore/xenbus.h"

/*
 * xb_bus_plat - the bus's platform, opened on first use from the bus
 * options (PLAT_OPEN_NO_STORE_PORT, as domain xenbus_bus_domid()).
 * *out stays owned by the bus (closed by xenbus_bus_free()).  A plat is
 * not thread-safe: hold xb_plat_lock() around every call on it.
 * -errno of plat_open_flags() when the platform cannot be opened.
 */
int xb_bus_plat(struct xenbus_bus *bus, struct plat **out);
void xb_plat_lock(struct xenbus_bus *bus);
void xb_plat_unlock(struct xenbus_bus *bus);

/*
 * xb_ring_dev_gone - called by the bus (bus thread) after a device's
 * detach callback returned: the ring helpers drop what they still track
 * for it (event-channel handlers; ports and mappings the driver forgot
 * are released and logged).  Implemented in lib/xenbus/ring.c.
 */
void xb_ring_dev_gone(struct xenbus_device *dev);

#endif
