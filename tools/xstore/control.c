/*
 * control.c - xenstore-control (and "xstore control"): one CONTROL
 * request, its answer printed; and live-update FILE, which takes the
 * several requests of Xen's tool.  Exit statuses as Xen 4.17's tool: 0
 * done, 1 no daemon, 2 the command failed, 3 usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/xstore/cli.h"

/* One live-update step: its answer, which must be "OK" (or "BUSY"
 * for -s).  0, 2 after a message. */
static int lu_step(struct cli *c, const char *const *args, unsigned int n,
                   char **ans)
{
	int err = xstore_control(c->h, args, n, ans);

	if (err) {
		fprintf(stderr, "live-update %s: %s\n", args[1],
		        strerror(-err));
		return 2;
	}
	return 0;
}

/*
 * live-update FILE [-t|--timeout SEC] [-F|--force] [-c OPTIONS]: Xen's
 * sequence (-f, -c, then -s retried while BUSY); the daemon's answer to
 * -s comes from the new binary.  On failure the update is aborted (-a).
 */
static int live_update_main(struct cli *c, int argc, char **argv)
{
	const char *file = NULL, *opts = NULL, *timeout = "60";
	char path[PATH_MAX], *ans = NULL;
	bool is_forced = false;
	int rc;

	for (int i = 2; i < argc; i++) {
		if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--timeout")) &&
		    i + 1 < argc)
			timeout = argv[++i];
		else if (!strcmp(argv[i], "-F") || !strcmp(argv[i], "--force"))
			is_forced = true;
		else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			opts = argv[++i];
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else
			file = NULL, i = argc;
	}
	if (!file) {
		fprintf(stderr,
		        "Usage: %s live-update FILE [--timeout SEC] [--force] "
		        "[-c OPTIONS]\n",
		        c->argv0);
		return 3;
	}
	if (!realpath(file, path)) {
		fprintf(stderr, "live-update: %s: %s\n", file, strerror(errno));
		return 2;
	}
	{
		const char *f[] = {"live-update", "-f", path};

		rc = lu_step(c, f, 3, &ans);
	}
	if (!rc && strcmp(ans, "OK"))
		rc = 2;
	if (!rc && opts) {
		const char *o[] = {"live-update", "-c", opts};

		free(ans);
		ans = NULL;
		rc = lu_step(c, o, 3, &ans);
		if (!rc && strcmp(ans, "OK"))
			rc = 2;
	}
	while (!rc) {
		const char *s[] = {"live-update", "-s", "-t", timeout, "-F"};

		free(ans);
		ans = NULL;
		rc = lu_step(c, s, is_forced ? 5 : 4, &ans);
		if (rc || strcmp(ans, "BUSY"))
			break;
		usleep(20000); /* a transaction is open: ask again */
	}
	if (!rc && strcmp(ans, "OK"))
		rc = 2;
	if (rc) {
		const char *a[] = {"live-update", "-a"};
		char *ignored = NULL;

		if (ans)
			fprintf(stderr, "%s\n", ans);
		xstore_control(c->h, a, 2, &ignored);
		free(ignored);
	}
	free(ans);
	return rc;
}

int control_main(struct cli *c, int argc, char **argv)
{
	char *ans = NULL;
	int err;

	if (argc < 2) {
		fprintf(stderr, "Usage:\n%s <command> [<arg>...]\n", c->argv0);
		return 3;
	}
	err = xstore_open(c->spec, 0, &c->h);
	if (err) {
		fprintf(stderr, "Failed to contact Xenstored.\n");
		return 1;
	}
	if (cli_check(c)) {
		fprintf(stderr, "Failed to contact Xenstored.\n");
		return 1;
	}
	if (c->is_trace)
		cli_connect(c); /* only installs the trace hook */
	if (!strcmp(argv[1], "live-update") && argc >= 3 && argv[2][0] != '-')
		return live_update_main(c, argc, argv);
	err = xstore_control(c->h, (const char *const *)argv + 1,
	                     (unsigned int)(argc - 1), &ans);
	if (err) {
		fprintf(stderr, "Failed to execute command %s, errno=%d\n",
		        argv[1], -err);
		return 2;
	}
	if (ans[0])
		printf("%s\n", ans);
	free(ans);
	return 0;
}
