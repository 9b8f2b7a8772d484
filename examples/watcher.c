/*
 * watcher.c - libxstore example: watch a path and print every change.
 *
 *   watcher [-c SPEC] [-n COUNT] PATH
 *
 * Prints one line per event, "<path> = <value>" (or "<path> removed"),
 * and stops after COUNT events (default: forever).  SPEC is a connection
 * ("unix:PATH", "ring:DOMID"); the default is $XENSTORED_PATH, then the
 * daemon's socket.  Shows: a watch callback running on the library's
 * watch thread, reading the store from inside the callback, and handing
 * work back to the main thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xstore/xstore.h"

struct state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long seen, limit;
};

/* Runs on the watch thread, one event at a time, in order. */
static void on_change(struct xstore *h, struct xstore_watch *w,
                      const char *path, unsigned int flags, void *arg)
{
	struct state *s = arg;
	char *val;
	int err;

	if (flags & XSTORE_EVENT_OVERFLOW)
		printf("(events were merged: re-reading %s)\n", path);
	err = xstore_read(h, XSTORE_TXN_NONE, path, &val, NULL);
	if (err == 0) {
		printf("%s = %s\n", path, val);
		free(val);
	} else if (err == -ENOENT) {
		printf("%s removed\n", path);
	} else {
		printf("%s: %s\n", path, strerror(-err));
	}
	fflush(stdout);
	pthread_mutex_lock(&s->lock);
	s->seen++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int main(int argc, char **argv)
{
	struct state s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	                  0, -1};
	const char *spec = NULL;
	struct xstore_watch *w;
	struct xstore *h;
	int opt, err;

	while ((opt = getopt(argc, argv, "c:n:")) != -1) {
		switch (opt) {
		case 'c':
			spec = optarg;
			break;
		case 'n':
			s.limit = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [-c SPEC] [-n COUNT] PATH\n",
			        argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-c SPEC] [-n COUNT] PATH\n",
		        argv[0]);
		return 2;
	}
	err = xstore_open(spec, 0, &h);
	if (err) {
		fprintf(stderr, "watcher: cannot connect: %s\n",
		        strerror(-err));
		return 1;
	}
	/* The daemon fires once straight away: the current state. */
	err = xstore_watch_add(h, argv[optind], -1, on_change, &s, &w);
	if (err) {
		fprintf(stderr, "watcher: cannot watch %s: %s\n", argv[optind],
		        strerror(-err));
		xstore_close(h);
		return 1;
	}
	pthread_mutex_lock(&s.lock);
	while (s.limit < 0 || s.seen < s.limit)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	/* Waits for a running callback, drops queued events. */
	xstore_watch_remove(h, w);
	xstore_close(h);
	return 0;
}
