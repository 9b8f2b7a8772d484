/*
 * reconnect_client.c - xsreconnect, a libxstore client that a test drives
 * line by line through a daemon's restart (tests/integration/
 * test_reconnect.py).  One handle on the socket given as argument;
 * commands on stdin, one answer line each on stdout ("ok [VALUE]" or
 * "err -ERRNO"); watch events come as "event PATH" lines whenever they
 * arrive.  The handle's bound is $XSTORE_RECONNECT_MS as libxstore reads
 * it, or the "bound" command's.
 *
 *   watch PATH | write PATH VALUE | read PATH | bound MS
 *   tstart | twrite PATH VALUE | tread PATH | tend 1|0   (one transaction)
 *   retry PATH VALUE   the usual loop: start, write, commit, again on EAGAIN
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xstore/xstore.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line at a time: the watch thread writes too. */
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&out_lock);
	vprintf(fmt, ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	va_end(ap);
}

static void result(int err, const char *value)
{
	if (err < 0)
		say("err %d\n", err);
	else if (value)
		say("ok %s\n", value);
	else
		say("ok\n");
}

static void on_event(struct xstore *h, struct xstore_watch *w, const char *path,
                     unsigned int flags, void *arg)
{
	say("event %s\n", path);
}

/* The caller's retry loop of libxl and the like. */
static int retry(struct xstore *h, const char *path, const char *value,
                 int *tries)
{
	xstore_txn_t t;
	int err;

	for (*tries = 1; *tries <= 100; (*tries)++) {
		err = xstore_txn_start(h, &t);
		if (err)
			return err;
		err = xstore_write_str(h, t, path, value);
		if (err && err != -EAGAIN) {
			xstore_txn_end(h, t, false);
			return err;
		}
		err = xstore_txn_end(h, t, true);
		if (err != -EAGAIN)
			return err;
	}
	return -EAGAIN;
}

static int command(struct xstore *h, char *line, xstore_txn_t *t)
{
	char *cmd = strtok(line, " \n"), *a = strtok(NULL, " \n"),
	     *b = strtok(NULL, "\n"), *v, num[16];
	int err, n;

	if (!cmd)
		return 0;
	if (!strcmp(cmd, "quit"))
		return 1;
	if (!strcmp(cmd, "bound") && a) {
		xstore_set_reconnect(h, (unsigned int)strtoul(a, NULL, 10));
		result(0, NULL);
	} else if (!strcmp(cmd, "watch") && a) {
		result(xstore_watch_add(h, a, -1, on_event, NULL, NULL), NULL);
	} else if (!strcmp(cmd, "write") && a && b) {
		result(xstore_write_str(h, 0, a, b), NULL);
	} else if ((!strcmp(cmd, "read") || !strcmp(cmd, "tread")) && a) {
		err = xstore_read(h, cmd[0] == 't' ? *t : 0, a, &v, NULL);
		result(err, err ? NULL : v);
		if (!err)
			free(v);
	} else if (!strcmp(cmd, "tstart")) {
		err = xstore_txn_start(h, t);
		snprintf(num, sizeof(num), "%u", (unsigned int)*t);
		result(err, err ? NULL : num);
	} else if (!strcmp(cmd, "twrite") && a && b) {
		result(xstore_write_str(h, *t, a, b), NULL);
	} else if (!strcmp(cmd, "tend") && a) {
		result(xstore_txn_end(h, *t, a[0] == '1'), NULL);
	} else if (!strcmp(cmd, "retry") && a && b) {
		err = retry(h, a, b, &n);
		snprintf(num, sizeof(num), "%d", n);
		result(err, err ? NULL : num);
	} else {
		result(-EINVAL, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct xstore *h;
	xstore_txn_t t = XSTORE_TXN_NONE;
	char line[4096];
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	err = xstore_open(argv[1], 0, &h);
	if (err) {
		fprintf(stderr, "xstore_open %s: %s\n", argv[1],
		        strerror(-err));
		return 1;
	}
	say("ready\n");
	while (fgets(line, sizeof(line), stdin))
		if (command(h, line, &t))
			break;
	xstore_close(h);
	return 0;
}
