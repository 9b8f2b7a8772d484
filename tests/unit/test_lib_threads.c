/*
 * test_lib_threads.c - libxstore under concurrency, for ThreadSanitizer
 * (tests/run-tsan.sh) as much as for its own checks, over the socket and
 * over a simulated guest's ring:
 *   - many threads with requests in flight at once on one handle;
 *   - watches added and removed by several threads while a writer floods
 *     events; no callback may run after its watch_remove() returned;
 *   - callbacks that remove their own watch, and others';
 *   - suspend/resume and reconnection while threads make requests.
 * Worker threads count failures in atomics; the CHECKs run in the test's
 * thread (check.h is not thread-safe).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/check.h"
#include "tests/support/xsd.h"
#include "xstore/xstore.h"

#define GUEST   5
#define THREADS 8

enum transport { TR_UNIX, TR_RING };

static struct xsd daemon_;
static bool has_daemon, has_guest;
static enum transport tr;

static void stop_daemon(void)
{
	if (has_daemon)
		xsd_stop(&daemon_);
}

static struct xstore *dom0(void)
{
	struct xstore *h = NULL;

	if (!has_daemon) {
		if (xsd_start_sim(&daemon_))
			return NULL;
		has_daemon = true;
		atexit(stop_daemon);
	}
	if (xstore_open(daemon_.spec, 0, &h))
		return NULL;
	return h;
}

static struct xstore *conn(void)
{
	/* --no-mux: the test's handle owns the ring. */
	static const char *const create[] = {"create", "5", "--no-mux", NULL};
	struct xstore *h = NULL, *o;
	char spec[512];

	o = dom0();
	if (tr == TR_UNIX || !o)
		return o;
	xstore_close(o);
	if (!has_guest) {
		if (xsd_xsim(&daemon_, create))
			return NULL;
		has_guest = true;
	}
	snprintf(spec, sizeof(spec), "ring:%d:%s", GUEST, daemon_.sim);
	if (xstore_open(spec, 0, &h))
		return NULL;
	return h;
}

/* Everything under the caller's home, so both transports may write. */
static void path_of(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void path_of(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	memcpy(buf, "data/", 6);
	va_start(ap, fmt);
	vsnprintf(buf + 5, size - 5, fmt, ap);
	va_end(ap);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* ---- requests in flight from many threads ---- */

struct worker {
	struct xstore *h;
	int id;
	atomic_int *errors;
};

static void *requests_main(void *arg)
{
	struct worker *w = arg;
	char path[128], want[32], *v, **d;
	unsigned int n;
	xstore_txn_t t;

	for (int i = 0; i < 150; i++) {
		path_of(path, sizeof(path), "thr/req/%d/k%d", w->id, i % 10);
		snprintf(want, sizeof(want), "%d-%d", w->id, i);
		if (xstore_write_str(w->h, 0, path, want))
			atomic_fetch_add(w->errors, 1);
		if (xstore_read(w->h, 0, path, &v, NULL)) {
			atomic_fetch_add(w->errors, 1);
		} else {
			if (strcmp(v, want))
				atomic_fetch_add(w->errors, 1);
			free(v);
		}
		if (i % 10 == 0) {
			path_of(path, sizeof(path), "thr/req/%d", w->id);
			if (xstore_directory(w->h, 0, path, &d, &n))
				atomic_fetch_add(w->errors, 1);
			else
				free(d);
		}
		if (i % 25 == 0) {
			int err;

			path_of(path, sizeof(path), "thr/req/%d/txn", w->id);
			do {
				err = xstore_txn_start(w->h, &t);
				if (err)
					break;
				xstore_printf(w->h, t, path, "%d", i);
				err = xstore_txn_end(w->h, t, true);
			} while (err == -EAGAIN);
			if (err)
				atomic_fetch_add(w->errors, 1);
		}
	}
	return NULL;
}

static void test_requests(void)
{
	struct xstore *h = conn();
	struct worker w[THREADS];
	pthread_t t[THREADS];
	atomic_int errors = 0;

	CHECK(h != NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){h, i, &errors};
		pthread_create(&t[i], NULL, requests_main, &w[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(atomic_load(&errors), 0);
	CHECK_EQ_INT(xstore_rm(h, 0, "data/thr"), 0);
	xstore_close(h);
}

/* ---- watches added and removed while events arrive ---- */

struct wstate {
	atomic_bool is_removed; /* set once watch_remove() returned */
	atomic_int calls;
	atomic_int *violations;
	int self_remove_after; /* > 0: the callback removes itself then */
	atomic_bool did_self_remove;
};

static void counting_cb(struct xstore *h, struct xstore_watch *w,
                        const char *path, unsigned int flags, void *arg)
{
	struct wstate *s = arg;
	int n;

	if (atomic_load(&s->is_removed) || atomic_load(&s->did_self_remove))
		atomic_fetch_add(s->violations, 1);
	n = atomic_fetch_add(&s->calls, 1) + 1;
	if (s->self_remove_after > 0 && n == s->self_remove_after) {
		if (xstore_watch_remove(h, w))
			atomic_fetch_add(s->violations, 1);
		atomic_store(&s->did_self_remove, true);
	}
}

struct flood {
	struct xstore *h;
	atomic_bool stop;
	atomic_int writes;
};

/* The flood writes the watched nodes as dom0, by absolute path. */
static void *flood_main(void *arg)
{
	struct flood *f = arg;
	char path[160];

	for (int i = 0; !atomic_load(&f->stop); i++) {
		snprintf(path, sizeof(path), "/local/domain/%d/data/thr/w/n%d",
		         tr == TR_RING ? GUEST : 0, i % 20);
		if (xstore_printf(f->h, 0, path, "%d", i) == 0)
			atomic_fetch_add(&f->writes, 1);
	}
	return NULL;
}

struct churn {
	struct xstore *h;
	atomic_int *violations;
	atomic_int *errors;
	int id;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	for (int i = 0; i < 40; i++) {
		struct wstate *s = calloc(1, sizeof(*s));
		struct xstore_watch *w;

		s->violations = c->violations;
		/* Every third watch removes itself on its second event. */
		s->self_remove_after = i % 3 == 0 ? 2 : 0;
		if (xstore_watch_add(c->h, "data/thr/w", i % 2 ? -1 : 1,
		                     counting_cb, s, &w)) {
			atomic_fetch_add(c->errors, 1);
			free(s);
			continue;
		}
		sleep_ms(i % 4);
		if (s->self_remove_after > 0) {
			/* Its own callback frees it; wait for that. */
			for (int k = 0;
			     k < 2000 && !atomic_load(&s->did_self_remove); k++)
				sleep_ms(1);
			if (!atomic_load(&s->did_self_remove))
				atomic_fetch_add(c->errors, 1);
		} else {
			if (xstore_watch_remove(c->h, w))
				atomic_fetch_add(c->errors, 1);
			atomic_store(&s->is_removed, true);
		}
		/* A late callback would see is_removed and count it. */
		sleep_ms(1);
		free(s);
	}
	return NULL;
}

static void test_watch_churn(void)
{
	struct xstore *h = conn(), *o = dom0();
	struct flood f = {.h = o};
	struct churn c[4];
	pthread_t ft, ct[4];
	atomic_int violations = 0, errors = 0;

	CHECK(h != NULL && o != NULL);
	CHECK_EQ_INT(xstore_mkdir(h, 0, "data/thr/w"), 0);
	pthread_create(&ft, NULL, flood_main, &f);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){h, &violations, &errors, i};
		pthread_create(&ct[i], NULL, churn_main, &c[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(ct[i], NULL);
	atomic_store(&f.stop, true);
	pthread_join(ft, NULL);
	CHECK_EQ_INT(atomic_load(&violations), 0);
	CHECK_EQ_INT(atomic_load(&errors), 0);
	CHECK(atomic_load(&f.writes) > 0);
	xstore_close(h);
	xstore_close(o);
}

/* ---- suspend/resume and reconnection under load ---- */

struct loader {
	struct xstore *h;
	atomic_bool stop;
	atomic_int done, bad;
	int id;
};

static void *load_main(void *arg)
{
	struct loader *l = arg;
	char path[128];
	xstore_txn_t t;

	for (int i = 0; !atomic_load(&l->stop); i++) {
		int err;

		path_of(path, sizeof(path), "thr/load/%d", l->id);
		if (i % 4 == 0) {
			err = xstore_txn_start(l->h, &t);
			if (!err) {
				xstore_printf(l->h, t, path, "%d", i);
				err = xstore_txn_end(l->h, t, true);
			}
		} else {
			err = xstore_printf(l->h, 0, path, "%d", i);
		}
		/* A reset may take a request or a transaction with it. */
		if (err == 0 || err == -ECONNRESET || err == -EAGAIN ||
		    err == -ENOENT)
			atomic_fetch_add(&l->done, 1);
		else
			atomic_fetch_add(&l->bad, 1);
	}
	return NULL;
}

static void test_suspend_under_load(void)
{
	struct xstore *h = conn();
	struct loader l[4];
	pthread_t t[4];
	int bad = 0, done = 0;

	CHECK(h != NULL);
	for (int i = 0; i < 4; i++) {
		l[i] = (struct loader){.h = h, .id = i};
		pthread_create(&t[i], NULL, load_main, &l[i]);
	}
	for (int round = 0; round < 10; round++) {
		sleep_ms(10);
		CHECK_EQ_INT(xstore_suspend(h), 0);
		sleep_ms(5);
		CHECK_EQ_INT(xstore_resume(h), 0);
		sleep_ms(10);
		CHECK_EQ_INT(xstore_reconnect(h), 0);
	}
	for (int i = 0; i < 4; i++) {
		atomic_store(&l[i].stop, true);
		pthread_join(t[i], NULL);
		bad += atomic_load(&l[i].bad);
		done += atomic_load(&l[i].done);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK(done > 0);
	xstore_close(h);
}

/* Close while callbacks run and requests are in flight. */
static void test_close_under_load(void)
{
	for (int round = 0; round < 5; round++) {
		struct xstore *h = conn(), *o = dom0();
		struct flood f = {.h = o};
		struct wstate s = {0};
		atomic_int violations = 0;
		pthread_t ft;

		CHECK(h != NULL && o != NULL);
		s.violations = &violations;
		CHECK_EQ_INT(xstore_mkdir(h, 0, "data/thr/w"), 0);
		CHECK_EQ_INT(xstore_watch_add(h, "data/thr/w", -1, counting_cb,
		                              &s, NULL),
		             0);
		pthread_create(&ft, NULL, flood_main, &f);
		sleep_ms(20);
		xstore_close(h);
		atomic_store(&f.stop, true);
		pthread_join(ft, NULL);
		xstore_close(o);
		CHECK_EQ_INT(atomic_load(&violations), 0);
	}
}

#define BOTH(fn)                                                               \
	static void fn##_unix(void)                                            \
	{                                                                      \
		tr = TR_UNIX;                                                  \
		fn();                                                          \
	}                                                                      \
	static void fn##_ring(void)                                            \
	{                                                                      \
		tr = TR_RING;                                                  \
		fn();                                                          \
	}
BOTH(test_requests)
BOTH(test_watch_churn)
BOTH(test_suspend_under_load)
BOTH(test_close_under_load)

#define T2(fn) CHECK_TEST(fn##_unix), CHECK_TEST(fn##_ring)
static const struct check_test tests[] = {
    T2(test_requests),
    T2(test_watch_churn),
    T2(test_suspend_under_load),
    T2(test_close_under_load),
};

CHECK_MAIN(tests)
