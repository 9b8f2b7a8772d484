/*
 * control.c - xenstore-control (and "xstore control"): one CONTROL
 * request, its answer printed.  Exit statuses as Xen 4.17's tool: 0 done,
 * 1 no daemon, 2 the command failed, 3 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/xstore/cli.h"

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
