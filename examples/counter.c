/*
 * counter.c - libxstore example: a counter incremented in a transaction,
 * retried while the commit fails with EAGAIN.
 *
 *   counter [-c SPEC] [-n TIMES] PATH
 *
 * Reads PATH (missing counts as 0), writes it plus one, commits; TIMES
 * times (default 1); prints the final value.  Run several at once and
 * no increment is lost: a commit that raced another fails with -EAGAIN
 * and the whole transaction -- the read included -- is done again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xstore/xstore.h"

/* One increment; the new value in *out.  0 or -errno. */
static int increment(struct xstore *h, const char *path, long *out)
{
	xstore_txn_t t;
	long v;
	int err;

	for (;;) {
		err = xstore_txn_start(h, &t);
		if (err)
			return err;
		err = xstore_scanf(h, t, path, NULL, "%ld", &v);
		if (err == -ENOENT) {
			v = 0;
			err = 0;
		}
		if (!err)
			err = xstore_printf(h, t, path, "%ld", v + 1);
		if (err) {
			xstore_txn_end(h, t, false);
			return err;
		}
		err = xstore_txn_end(h, t, true);
		if (err != -EAGAIN)
			break;
		/* Someone else committed first: start over. */
	}
	if (!err)
		*out = v + 1;
	return err;
}

int main(int argc, char **argv)
{
	const char *spec = NULL;
	long times = 1, value = 0;
	struct xstore *h;
	int opt, err = 0;

	while ((opt = getopt(argc, argv, "c:n:")) != -1) {
		switch (opt) {
		case 'c':
			spec = optarg;
			break;
		case 'n':
			times = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-c SPEC] [-n TIMES] PATH\n",
			        argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-c SPEC] [-n TIMES] PATH\n",
		        argv[0]);
		return 2;
	}
	err = xstore_open(spec, 0, &h);
	if (err) {
		fprintf(stderr, "counter: cannot connect: %s\n",
		        strerror(-err));
		return 1;
	}
	for (long i = 0; i < times && !err; i++)
		err = increment(h, argv[optind], &value);
	xstore_close(h);
	if (err) {
		fprintf(stderr, "counter: %s: %s\n", argv[optind],
		        strerror(-err));
		return 1;
	}
	printf("%ld\n", value);
	return 0;
}
