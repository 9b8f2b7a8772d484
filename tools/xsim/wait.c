/*
 * wait.c - waiting, with a timeout, until a condition on the store (or
 * the sim) holds, as libxl waits for a backend or a guest: watches wake
 * the waiter, which re-checks the condition itself; nothing polls.
 *
 * The watch callbacks run on libxstore's watch thread and only count
 * events under a mutex; the condition is always evaluated on the
 * caller's thread, so it may read the store through the same handle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "tools/xsim/xsim.h"

#define WAIT_PATHS_MAX 4

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	unsigned long events;
};

static void on_event(struct xstore *h, struct xstore_watch *w, const char *path,
                     unsigned int flags, void *arg)
{
	struct waiter *wt = arg;

	pthread_mutex_lock(&wt->lock);
	wt->events++;
	pthread_cond_signal(&wt->cond);
	pthread_mutex_unlock(&wt->lock);
}

static struct timespec deadline_of(unsigned long timeout_ms)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(timeout_ms / 1000);
	t.tv_nsec += (long)(timeout_ms % 1000) * 1000000l;
	if (t.tv_nsec >= 1000000000l) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000l;
	}
	return t;
}

/* Sleep until an event newer than `seen`; false once `end` has passed. */
static bool wait_event(struct waiter *wt, unsigned long seen,
                       const struct timespec *end)
{
	bool has_time = true;

	pthread_mutex_lock(&wt->lock);
	while (wt->events == seen && has_time)
		has_time = pthread_cond_timedwait(&wt->cond, &wt->lock, end) !=
		           ETIMEDOUT;
	pthread_mutex_unlock(&wt->lock);
	return has_time;
}

int xsim_wait(struct xstore *xs, const char *const *paths, size_t npaths,
              xsim_check_fn *check, void *arg, unsigned long timeout_ms)
{
	struct xstore_watch *w[WAIT_PATHS_MAX] = {NULL};
	struct waiter wt = {.lock = PTHREAD_MUTEX_INITIALIZER};
	pthread_condattr_t attr;
	struct timespec end = deadline_of(timeout_ms);
	size_t nw = 0;
	int err = 0;

	if (npaths > WAIT_PATHS_MAX)
		return -EINVAL;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wt.cond, &attr);
	pthread_condattr_destroy(&attr);
	for (; nw < npaths && !err; nw++)
		err =
		    xstore_watch_add(xs, paths[nw], -1, on_event, &wt, &w[nw]);
	if (err)
		nw--; /* the failed one was not added */
	while (!err) {
		unsigned long seen;
		bool has_time;
		int r;

		pthread_mutex_lock(&wt.lock);
		seen = wt.events;
		pthread_mutex_unlock(&wt.lock);
		r = check(arg);
		if (r) {
			err = r > 0 ? 0 : r;
			break;
		}
		has_time = wait_event(&wt, seen, &end);
		if (!has_time) {
			/* One last look: the change may be just in. */
			r = check(arg);
			err = r > 0 ? 0 : r < 0 ? r : -ETIMEDOUT;
			break;
		}
	}
	/* Removal waits for a running callback: wt is then unused. */
	while (nw)
		xstore_watch_remove(xs, w[--nw]);
	pthread_cond_destroy(&wt.cond);
	pthread_mutex_destroy(&wt.lock);
	return err;
}
