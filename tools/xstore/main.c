/*
 * main.c - the xstore tool's entry: who are we (by argv[0]), global
 * options, the connection and the trace view.
 *
 *   xenstore-<mode> ...        Debian's xenstore-<mode>, unchanged
 *   xenstore <mode> ...        Debian's multi-call xenstore
 *   xstore [-c SPEC] [-T] <command> ...
 *                              every mode above, plus control, top
 *                              (top.c) and the commands of xcmd.c
 * The connection is $XSTORE_CONNECT or -c SPEC when given ("unix:PATH",
 * "ring:DOMID"), else the library's default ($XENSTORED_PATH, ...).
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tool.h"
#include "tools/xstore/cli.h"

/* ---- the trace view ---- */

static void trace(void *arg, enum xstore_trace_dir dir,
                  const struct xs_wire_hdr *hdr, const void *payload)
{
	const char *name = xs_type_name(hdr->type);
	char *esc = cli_escape_str(payload, hdr->len);

	flockfile(stderr);
	fprintf(stderr, "%s %s", dir == XSTORE_TRACE_SEND ? ">" : "<",
	        name ? name : "?");
	if (!name)
		fprintf(stderr, "(%u)", hdr->type);
	fprintf(stderr, " req_id=%u tx_id=%u len=%u \"%s\"\n", hdr->req_id,
	        hdr->tx_id, hdr->len, esc);
	funlockfile(stderr);
	free(esc);
}

/* Where we talk to, for messages: the spec, or the default socket. */
static const char *daemon_name(const struct cli *c, char *buf, size_t size)
{
	if (c->spec)
		return strncmp(c->spec, "unix:", 5) ? c->spec : c->spec + 5;
	if (xstore_default_path(0, buf, size))
		return "the default socket";
	return buf;
}

int cli_check(struct cli *c)
{
	unsigned int ms = tool_timeout_ms();
	char buf[4096], *path = NULL;
	int err;

	/*
	 * Connecting proves little: a stopped daemon's socket still accepts
	 * (the kernel's backlog).  One cheap request that any daemon
	 * answers, bounded, tells a live daemon from a hung one before the
	 * command starts.  Any reply will do, an error too.
	 */
	xstore_set_timeout(c->h, ms, tool_timeout_later_ms(ms));
	err = xstore_get_domain_path(c->h, 0, &path);
	free(path);
	switch (err) {
	case -ETIMEDOUT:
		warnx("no answer from the daemon at %s within %u.%03u s (is it "
		      "stopped? XSTORE_TIMEOUT=SECONDS waits longer)",
		      daemon_name(c, buf, sizeof(buf)), ms / 1000, ms % 1000);
		break;
	case -ENOTCONN:
	case -ECONNRESET:
	case -ESHUTDOWN:
	case -EPIPE:
	case -EPROTO:
		warnx("the daemon at %s closed the connection: %s",
		      daemon_name(c, buf, sizeof(buf)), strerror(-err));
		break;
	default:
		return 0;
	}
	xstore_close(c->h);
	c->h = NULL;
	return err;
}

void cli_connect(struct cli *c)
{
	char buf[4096];
	int err;

	if (!c->h) {
		err = xstore_open(c->spec, 0, &c->h);
		if (err && c->is_xstore)
			errx(1, "xs_open: %s: %s",
			     daemon_name(c, buf, sizeof(buf)), strerror(-err));
		if (err)
			errx(1, "xs_open: %s", strerror(-err));
		if (cli_check(c))
			exit(1);
	}
	if (c->is_trace)
		xstore_set_trace(c->h, trace, NULL);
}

/* ---- xstore's own usage ---- */

static void xstore_usage(FILE *f, const char *argv0)
{
	fprintf(f,
	        "Usage: %s [-c SPEC] [-T] <command> [options] [args]\n"
	        "\n"
	        "  -c, --connect SPEC  unix:PATH or ring:DOMID (default:\n"
	        "                      $XSTORE_CONNECT, $XENSTORED_PATH, the "
	        "daemon's socket)\n"
	        "  -T, --trace         print every request and reply on "
	        "stderr\n"
	        "\n"
	        "Commands as xenstore-utils (same options and output):\n"
	        "  read, write, ls, list, rm, exists, chmod, watch [-d DEPTH]\n"
	        "Commands of xstore:\n",
	        argv0);
	if (f == stdout)
		xcmd_list();
	else
		fprintf(f, "  (%s --help lists them)\n", argv0);
	fprintf(f, "  top [--once] [--json] [-d S] [-n N] [--sort KEY]\n"
	           "                 live per-domain view (top --help)\n");
	fprintf(f, "  trace <command> ...        run <command> with -T\n");
	fprintf(f, "\n  -h, --help          this text\n"
	           "  -V, --version       version and platforms built in\n"
	           "\n$XSTORE_TIMEOUT: seconds to wait for the daemon's first "
	           "reply (default 2,\n0 = forever); a daemon that does not "
	           "answer is an error naming its socket.\n");
}

static int xstore_main(struct cli *c, int argc, char **argv)
{
	static const struct option lo[] = {
	    {"connect", required_argument, NULL, 'c'},
	    {"trace", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd;
	int ch;

	c->is_xstore = true;
	/* "+": options stop at the command; its own options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:ThV", lo, NULL)) != -1) {
		switch (ch) {
		case 'c':
			c->spec = optarg;
			break;
		case 'T':
			c->is_trace = true;
			break;
		case 'h':
			xstore_usage(stdout, argv[0]);
			return 0;
		case 'V':
			tool_version(stdout, "xstore");
			return 0;
		default:
			xstore_usage(stderr, argv[0]);
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	while (argc > 0 && !strcmp(argv[0], "trace")) {
		c->is_trace = true;
		argc--;
		argv++;
	}
	if (argc < 1) {
		xstore_usage(stderr, c->argv0);
		return 1;
	}
	cmd = argv[0];
	c->mode_name = cmd;
	if (compat_has_mode(cmd))
		return compat_main(c, cmd, argc, argv);
	if (xcmd_has(cmd))
		return xcmd_main(c, cmd, argc, argv);
	if (!strcmp(cmd, "top"))
		return top_main(c, argc, argv);
	errx(1, "unknown command %s (%s --help lists them)", cmd, c->argv0);
}

int main(int argc, char **argv)
{
	struct cli c;
	const char *base = strrchr(argv[0], '/');
	int ret;

	memset(&c, 0, sizeof(c));
	base = base ? base + 1 : argv[0];
	c.argv0 = argv[0];
	c.spec = getenv("XSTORE_CONNECT");
	if (c.spec && !*c.spec)
		c.spec = NULL;

	if (!strncmp(base, "xenstore-", 9)) {
		const char *mode = base + 9;

		if (!strcmp(mode, "control"))
			ret = control_main(&c, argc, argv);
		else if (compat_has_mode(mode))
			ret = compat_main(&c, mode, argc, argv);
		else
			errx(1, "unknown mode %s\n", mode);
	} else if (!strcmp(base, "xenstore")) {
		if (argc < 2)
			errx(1, "Usage: %s <mode> [-h] [...]", argv[0]);
		if (!compat_has_mode(argv[1]))
			errx(1, "unknown mode %s\n", argv[1]);
		c.mode_name = argv[1];
		ret = compat_main(&c, argv[1], argc - 1, argv + 1);
	} else {
		ret = xstore_main(&c, argc, argv);
	}
	fflush(stdout);
	xstore_close(c.h);
	out_free(&c.out);
	return ret;
}
