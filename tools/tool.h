/*
 * tool.h - what every command-line tool of ours does alike (xstore, xsim,
 * xsmux): the --version text, and the bound on waiting for a daemon that
 * accepted the connection but may never answer.  Header only, so that no
 * tool links another's objects.
 */
#ifndef XSTORE_TOOLS_TOOL_H
#define XSTORE_TOOLS_TOOL_H

#include <stdio.h>
#include <stdlib.h>

#include "common/version.h"

/* tool_version - "<name> (xstore) <version>" and the platforms, on f. */
static inline void tool_version(FILE *f, const char *name)
{
	fprintf(f, "%s (xstore) %s\nplatforms: %s\n", name, XSTORE_VERSION,
	        XSTORE_PLATFORMS);
}

/*
 * The first reply must come within this (a stopped daemon still accepts
 * connections through its listen backlog, then never answers); later
 * replies, once the daemon has shown it is alive, within
 * TOOL_TIMEOUT_LATER_MS at least.
 */
#define TOOL_TIMEOUT_FIRST_MS 2000u
#define TOOL_TIMEOUT_LATER_MS 30000u

/*
 * tool_timeout_ms - the first-reply bound in milliseconds: $XSTORE_TIMEOUT
 * (seconds, fractions allowed; 0 = wait forever) or the default.  A value
 * that does not parse is the default.
 */
static inline unsigned int tool_timeout_ms(void)
{
	const char *s = getenv("XSTORE_TIMEOUT");
	char *end;
	double v;

	if (!s || !*s)
		return TOOL_TIMEOUT_FIRST_MS;
	v = strtod(s, &end);
	if (*end || !(v >= 0.0) || v > 86400.0)
		return TOOL_TIMEOUT_FIRST_MS;
	return v > 0.0 && v < 0.001 ? 1u : (unsigned int)(v * 1000.0);
}

/* tool_timeout_later_ms - the bound once the daemon has answered. */
static inline unsigned int tool_timeout_later_ms(unsigned int first_ms)
{
	if (!first_ms)
		return 0;
	return first_ms > TOOL_TIMEOUT_LATER_MS ? first_ms
	                                        : TOOL_TIMEOUT_LATER_MS;
}

#endif
