/*
 * cli.h - the xstore command-line tool's shared pieces: the invocation
 * state, a buffered output (printed only once a transaction commits, so
 * a retried transaction never prints twice), value escaping, and the
 * commands of each file.
 *
 * Invoked as xenstore-read, -write, -ls, -list, -rm, -exists, -chmod,
 * -watch or -control, or as "xenstore <mode>", the tool is a drop-in for
 * Debian's xenstore-utils: same options, output, messages and exit
 * status.  Invoked as "xstore", it takes global options and adds its own
 * commands (mkdir, getperms, quota, domain-path, request, trace, devices).
 */
#ifndef XSTORE_TOOLS_CLI_H
#define XSTORE_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "xstore/xstore.h"

/* Output held back until the transaction commits. */
struct outbuf {
	char *buf;
	size_t len, cap;
};

void out_printf(struct outbuf *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void out_bytes(struct outbuf *o, const void *p, size_t len);
void out_flush(struct outbuf *o);
void out_free(struct outbuf *o);

struct cli {
	const char *argv0;     /* as invoked, for usage lines */
	const char *mode_name; /* "read"... when multi-call, else NULL */
	const char *spec;      /* connection spec (NULL: the default) */
	bool is_xstore;        /* invoked as "xstore": our extensions on */
	bool is_trace;         /* print requests and replies to stderr */
	struct xstore *h;
	struct outbuf out;
};

/*
 * cli_connect - open c->h on c->spec (the default when NULL), with the
 * trace hook if asked; exits 1 with "xs_open: <error>" on failure, as
 * xenstore-utils do.
 */
void cli_connect(struct cli *c);

/*
 * cli_check - c->h is open: bound its waits for replies ($XSTORE_TIMEOUT,
 * tools/tool.h) and make sure the daemon answers at all.  0, or -errno
 * after a message naming the daemon's socket on stderr; then c->h is
 * closed and NULL.
 */
int cli_check(struct cli *c);

/* escape.c: Xen's value escaping (xenstore-read / xenstore-write). */
void cli_escape(struct outbuf *o, const char *val, size_t len);
/* Escaped form as a malloc'ed string (for printf precision); exits on OOM. */
char *cli_escape_str(const char *val, size_t len);
/* Undo it into `out` (strlen(in) + 1 bytes); returns the length. */
size_t cli_unescape(const char *in, char *out);

/* compat.c: the xenstore-utils commands; `name` is the mode. */
bool compat_has_mode(const char *name);
int compat_main(struct cli *c, const char *name, int argc, char **argv);

/* xcmd.c: xstore's own commands. */
bool xcmd_has(const char *name);
int xcmd_main(struct cli *c, const char *name, int argc, char **argv);
void xcmd_list(void);

/* control.c: xenstore-control. */
int control_main(struct cli *c, int argc, char **argv);

/* top.c: "xstore top", the live per-domain view (CONTROL domstats). */
int top_main(struct cli *c, int argc, char **argv);

#endif
