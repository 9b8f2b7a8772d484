/*
 * sim.c - placeholder until the simulator lands: reports the platform
 * as absent, so that nothing silently pretends to have domains.
 */
#include <errno.h>

#include "plat/plat_int.h"

int sim_open(const char *dir, unsigned int self, struct plat **out)
{
	(void)dir;
	(void)self;
	*out = NULL;
	return -ENOENT;
}
