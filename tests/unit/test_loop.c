/*
 * test_loop.c - the event loop (daemon/loop.c): timer order and
 * cancellation, fd callbacks over pipes, deletion from callbacks, the
 * turn hook, allocation failure, the adaptive poll window (its rule,
 * and that a loop whose next request is already waiting polls instead of
 * sleeping, and that with a poll hook the fds are polled at a pace, not
 * at every step), and bulk fds (prompt ones served and answered first, a bulk
 * callback yielding to a prompt fd, no starvation of either), with and
 * without the io_uring hint that makes loop_should_yield a look at memory
 * (and the hint itself: news after a clear, none before, survival of a
 * full completion queue, input from another thread while the bulk
 * callback makes no system call).  Time is only ever checked as a lower
 * bound (a timer never fires early), never as a speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/loop.h"
#include "daemon/readyhint.h"
#include "tests/support/check.h"

/* A record of what fired, in order. */
struct trace {
	int ids[2048];
	size_t n;
	unsigned int turns;
	struct loop *l;
	uint64_t cancel; /* timer to cancel when the first one fires */
	int stop_after;  /* loop_stop once this many have fired */
};

static struct trace tr;

struct tctx {
	int id;
	uint64_t due;    /* loop_now_ms() it was set for, at the earliest */
	uint64_t due_hi; /* at the latest (the clock ticks while adding) */
};

static bool early; /* a timer fired before its time */

static void timer_cb(struct loop *l, void *arg)
{
	struct tctx *t = arg;

	if (loop_now_ms() < t->due)
		early = true;
	tr.ids[tr.n++] = t->id;
	if (tr.cancel) {
		loop_timer_del(l, tr.cancel);
		tr.cancel = 0;
	}
	if (tr.stop_after && (int)tr.n >= tr.stop_after)
		loop_stop(l);
}

static void turn_cb(struct loop *l, void *arg)
{
	tr.turns++;
}

static void stop_cb(struct loop *l, void *arg)
{
	loop_stop(l);
}

static void reset(struct loop *l)
{
	memset(&tr, 0, sizeof(tr));
	tr.l = l;
	early = false;
}

static void test_new_free(void)
{
	struct loop *l = loop_new();
	uint64_t a = loop_now_ms(), b;

	CHECK(l != NULL);
	b = loop_now_ms();
	CHECK(b >= a);
	/* Stopping before running returns at once. */
	loop_stop(l);
	CHECK_EQ_INT(loop_run(l), 0);
	loop_free(l);
	loop_free(NULL);
}

static void test_timer_order(void)
{
	struct loop *l = loop_new();
	struct tctx t[5];
	static const uint64_t ms[5] = {30, 10, 20, 10, 0};
	uint64_t now = loop_now_ms();

	CHECK(l != NULL);
	reset(l);
	for (int i = 0; i < 5; i++) {
		t[i].id = i;
		t[i].due = now + ms[i];
		t[i].due_hi = 0;
		CHECK(loop_timer_add(l, ms[i], timer_cb, &t[i]) != 0);
	}
	tr.stop_after = 5;
	CHECK_EQ_INT(loop_run(l), 0);
	/* By deadline; the two 10 ms timers in the order they were added. */
	CHECK_EQ_UINT(tr.n, 5);
	CHECK_EQ_INT(tr.ids[0], 4);
	CHECK_EQ_INT(tr.ids[1], 1);
	CHECK_EQ_INT(tr.ids[2], 3);
	CHECK_EQ_INT(tr.ids[3], 2);
	CHECK_EQ_INT(tr.ids[4], 0);
	CHECK(!early);
	loop_free(l);
}

static void test_timer_cancel(void)
{
	struct loop *l = loop_new();
	struct tctx a = {.id = 1}, b = {.id = 2}, c = {.id = 3};
	uint64_t ida, idb, idc;

	CHECK(l != NULL);
	reset(l);
	ida = loop_timer_add(l, 0, timer_cb, &a);
	idb = loop_timer_add(l, 0, timer_cb, &b);
	idc = loop_timer_add(l, 5, timer_cb, &c);
	CHECK(ida && idb && idc && ida != idb && idb != idc);
	/* a fires first and cancels b, due in the same turn. */
	tr.cancel = idb;
	loop_timer_add(l, 50, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(tr.n, 2);
	CHECK_EQ_INT(tr.ids[0], 1);
	CHECK_EQ_INT(tr.ids[1], 3);
	/* Stale ids (fired, cancelled, never issued) are harmless. */
	loop_timer_del(l, ida);
	loop_timer_del(l, idb);
	loop_timer_del(l, 0);
	loop_timer_del(l, ~(uint64_t)0);
	/* A slot reused by a new timer is not cancelled by the old id. */
	reset(l);
	idc = loop_timer_add(l, 0, timer_cb, &c);
	loop_timer_del(l, ida);
	tr.stop_after = 1;
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(tr.n, 1);
	loop_free(l);
}

/* A 0 ms timer that re-arms itself must not starve the turn. */
static void rearm_cb(struct loop *l, void *arg)
{
	int *left = arg;

	tr.ids[tr.n++] = (int)tr.turns;
	if (--*left > 0)
		CHECK(loop_timer_add(l, 0, rearm_cb, left) != 0);
	else
		loop_stop(l);
}

static void test_timer_rearm_next_turn(void)
{
	struct loop *l = loop_new();
	int left = 5;

	CHECK(l != NULL);
	reset(l);
	loop_set_turn_hook(l, turn_cb, NULL);
	CHECK(loop_timer_add(l, 0, rearm_cb, &left) != 0);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(tr.n, 5);
	/* One firing per turn, and the hook ran after each. */
	for (size_t i = 0; i < tr.n; i++)
		CHECK_EQ_INT(tr.ids[i], (int)i);
	CHECK_EQ_UINT(tr.turns, 5);
	loop_free(l);
}

/* Many timers, half cancelled: the rest fire once each, in order. */
static void test_timer_heap(void)
{
	enum { N = 1000 };
	struct loop *l = loop_new();
	static struct tctx t[N];
	static uint64_t ids[N];
	static bool cancelled[N];
	size_t expect = 0;

	CHECK(l != NULL);
	reset(l);
	srand(7);
	for (int i = 0; i < N; i++) {
		uint64_t ms = (uint64_t)(rand() % 20);

		t[i].id = i;
		t[i].due = loop_now_ms() + ms;
		ids[i] = loop_timer_add(l, ms, timer_cb, &t[i]);
		t[i].due_hi = loop_now_ms() + ms;
		CHECK(ids[i] != 0);
	}
	for (int i = 0; i < N; i++) {
		cancelled[i] = rand() % 2;
		if (cancelled[i])
			loop_timer_del(l, ids[i]);
		else
			expect++;
	}
	tr.stop_after = (int)expect;
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(tr.n, expect);
	CHECK(!early);
	for (size_t i = 0; i < tr.n; i++) {
		int id = tr.ids[i];

		CHECK(!cancelled[id]);
		cancelled[id] = true; /* fires once */
		/* Fired in deadline order, as far as the clock lets us
		 * know the deadlines. */
		if (i > 0)
			CHECK(t[tr.ids[i - 1]].due <= t[id].due_hi);
	}
	loop_free(l);
}

/* ---- fds ---- */

struct fdctx {
	struct loop *l;
	int rfd[2], wfd[2]; /* two pipes */
	unsigned int calls[2];
	unsigned int last_events;
	bool del_other; /* first callback deletes the other pipe */
};

static void pipe_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct fdctx *x = arg;
	int which = fd == x->rfd[0] ? 0 : 1;
	char buf[16];

	x->calls[which]++;
	x->last_events = events;
	if (read(fd, buf, sizeof(buf)) < 0)
		return;
	if (x->del_other) {
		/* The first to run deletes and closes the other; its event,
		 * already in this turn's batch, must not be delivered. */
		int other = 1 - which;

		loop_del(l, x->rfd[other]);
		close(x->rfd[other]);
		x->rfd[other] = -1;
		x->del_other = false;
	}
	loop_stop(l);
}

static bool open_pipes(struct fdctx *x)
{
	for (int i = 0; i < 2; i++) {
		int p[2];

		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
			return false;
		x->rfd[i] = p[0];
		x->wfd[i] = p[1];
	}
	return true;
}

static void close_pipes(struct fdctx *x)
{
	for (int i = 0; i < 2; i++) {
		if (x->rfd[i] >= 0)
			close(x->rfd[i]);
		close(x->wfd[i]);
	}
}

static void test_fd_in(void)
{
	struct loop *l = loop_new();
	struct fdctx x = {0};

	CHECK(l != NULL);
	CHECK(open_pipes(&x));
	CHECK_EQ_INT(loop_add(l, x.rfd[0], LOOP_IN, pipe_cb, &x), 0);
	CHECK_EQ_INT(loop_add(l, x.rfd[0], LOOP_IN, pipe_cb, &x), -EEXIST);
	CHECK_EQ_INT(loop_add(l, -1, LOOP_IN, pipe_cb, &x), -EINVAL);
	CHECK_EQ_INT(loop_mod(l, x.rfd[1], LOOP_IN), -ENOENT);
	CHECK_EQ_INT(write(x.wfd[0], "a", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(x.calls[0], 1);
	CHECK_EQ_UINT(x.last_events, LOOP_IN);
	/* Interest off: data waits, a timer ends the run instead. */
	CHECK_EQ_INT(loop_mod(l, x.rfd[0], 0), 0);
	CHECK_EQ_INT(write(x.wfd[0], "b", 1), 1);
	loop_timer_add(l, 10, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(x.calls[0], 1);
	/* Interest back on: the waiting byte is reported. */
	CHECK_EQ_INT(loop_mod(l, x.rfd[0], LOOP_IN), 0);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(x.calls[0], 2);
	/* Hang-up (writer closed) is reported as LOOP_ERR with LOOP_IN. */
	close(x.wfd[0]);
	x.wfd[0] = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK(x.last_events & LOOP_ERR);
	loop_del(l, x.rfd[0]);
	loop_del(l, x.rfd[0]); /* twice: harmless */
	close_pipes(&x);
	loop_free(l);
}

static void out_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	unsigned int *got = arg;

	*got = events;
	loop_del(l, fd); /* from inside its own callback */
	loop_stop(l);
}

static void test_fd_out(void)
{
	struct loop *l = loop_new();
	int p[2];
	unsigned int got = 0;

	CHECK(l != NULL);
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	CHECK_EQ_INT(loop_add(l, p[1], LOOP_OUT, out_cb, &got), 0);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(got, LOOP_OUT);
	/* Deleted: may be added again, with another callback. */
	CHECK_EQ_INT(loop_add(l, p[1], LOOP_OUT, out_cb, &got), 0);
	loop_del(l, p[1]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/* An event for an fd deleted earlier in the same turn is not delivered. */
static void test_fd_del_in_batch(void)
{
	struct loop *l = loop_new();
	struct fdctx x = {0};

	CHECK(l != NULL);
	CHECK(open_pipes(&x));
	x.del_other = true;
	CHECK_EQ_INT(loop_add(l, x.rfd[0], LOOP_IN, pipe_cb, &x), 0);
	CHECK_EQ_INT(loop_add(l, x.rfd[1], LOOP_IN, pipe_cb, &x), 0);
	/* Both readable before the wait: both events in one batch. */
	CHECK_EQ_INT(write(x.wfd[0], "a", 1), 1);
	CHECK_EQ_INT(write(x.wfd[1], "b", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(x.calls[0] + x.calls[1], 1);
	for (int i = 0; i < 2; i++) {
		if (x.rfd[i] >= 0)
			loop_del(l, x.rfd[i]);
	}
	close_pipes(&x);
	loop_free(l);
}

static void test_turn_hook(void)
{
	struct loop *l = loop_new();

	CHECK(l != NULL);
	reset(l);
	loop_set_turn_hook(l, turn_cb, NULL);
	loop_timer_add(l, 0, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
	/* The hook runs at the end of the turn that stopped the loop. */
	CHECK_EQ_UINT(tr.turns, 1);
	/* The loop can be run again. */
	loop_timer_add(l, 1, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK(tr.turns >= 2);
	loop_free(l);
}

static void test_alloc_failure(void)
{
	struct loop *l;
	struct tctx t = {.id = 1};
	int p[2];

	xalloc_fail_after(0);
	l = loop_new();
	xalloc_fail_after(-1);
	CHECK(l == NULL);

	l = loop_new();
	CHECK(l != NULL);
	/* The first timer grows the table: make that fail. */
	xalloc_fail_after(0);
	CHECK_EQ_UINT(loop_timer_add(l, 0, timer_cb, &t), 0);
	xalloc_fail_after(1); /* the second allocation of the growth */
	CHECK_EQ_UINT(loop_timer_add(l, 0, timer_cb, &t), 0);
	xalloc_fail_after(-1);
	/* Nothing half-made: the next add works and fires. */
	reset(l);
	tr.stop_after = 1;
	CHECK(loop_timer_add(l, 0, timer_cb, &t) != 0);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(tr.n, 1);

	/* The fd table grows on first use. */
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	xalloc_fail_after(0);
	CHECK_EQ_INT(loop_add(l, p[0], LOOP_IN, pipe_cb, NULL), -ENOMEM);
	xalloc_fail_after(-1);
	CHECK_EQ_INT(loop_add(l, p[0], LOOP_IN, pipe_cb, NULL), 0);
	loop_del(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/* The window's rule, step by step (nanoseconds; bound 64 us). */
static void test_poll_adapt(void)
{
	const uint64_t max = 64000, start = LOOP_POLL_START_NS;

	/* Short idle with work: start, then double up to the bound. */
	CHECK_EQ_UINT(loop_poll_adapt(0, max, 20000, true), start);
	CHECK_EQ_UINT(loop_poll_adapt(start, max, 20000, true), 2 * start);
	CHECK_EQ_UINT(loop_poll_adapt(32000, max, 50000, true), max);
	CHECK_EQ_UINT(loop_poll_adapt(max, max, 63000, true), max);
	/* Long enough already: kept. */
	CHECK_EQ_UINT(loop_poll_adapt(32000, max, 5000, true), 32000);
	/* Idle past the bound, or woken by no fd: halve, then stop. */
	CHECK_EQ_UINT(loop_poll_adapt(max, max, 1000000, true), max / 2);
	CHECK_EQ_UINT(loop_poll_adapt(32000, max, 100, false), 16000);
	CHECK_EQ_UINT(loop_poll_adapt(start, max, 1000000, true), 0);
	CHECK_EQ_UINT(loop_poll_adapt(0, max, 1000000, true), 0);
}

/* Each callback makes the next byte ready at once: after the first
 * wait, every wait is a poll that finds it (no sleep). */
struct chain {
	int rfd, wfd;
	unsigned int left;
};

static void chain_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct chain *c = arg;
	char b;

	if (read(fd, &b, 1) != 1)
		return;
	if (--c->left == 0)
		loop_stop(l);
	else if (write(c->wfd, "x", 1) != 1)
		loop_stop(l);
}

static void test_poll(void)
{
	struct loop *l = loop_new();
	struct loop_poll_stats st;
	struct chain c = {.left = 10};
	int p[2];

	CHECK(l != NULL);
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	c.rfd = p[0];
	c.wfd = p[1];
	/* A bound of 1 s: any idle time of this test is within it. */
	loop_set_poll(l, 1000000);
	CHECK_EQ_INT(loop_add(l, p[0], LOOP_IN, chain_cb, &c), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.sleeps, 1);
	CHECK_EQ_UINT(st.poll_hits, 9);
	CHECK_EQ_UINT(st.poll_misses, 0);
	CHECK_EQ_UINT(st.window_ns, LOOP_POLL_START_NS);

	/* Then only a timer: one poll in vain, and the sleep it ends in
	 * (no fd) halves the window below the start: polling stops. */
	loop_timer_add(l, 2, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.poll_misses, 1);
	CHECK_EQ_UINT(st.sleeps, 2);
	CHECK_EQ_UINT(st.window_ns, 0);
	loop_timer_add(l, 2, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.poll_misses, 1);

	/* Polling off: the same chain sleeps every time. */
	loop_set_poll(l, 0);
	c.left = 5;
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.poll_hits, 9);
	CHECK_EQ_UINT(c.left, 0);
	loop_del(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/*
 * Bulk fds.  Pipe 0 is a prompt fd (dom0's socket), pipe 1 a bulk one
 * (the guests' event channel) with `units` requests behind it, served
 * one per unit as domain.c's on_evtchn serves a port per kick.  What
 * ran goes in log[]: 'D' dom0's request, 'g' a guest's, 'h' the turn
 * hook (where replies leave).
 */
struct bulkctx {
	struct fdctx x;
	char log[512];
	size_t n;
	unsigned int units;      /* guest requests left */
	unsigned int arrive_at;  /* dom0's request comes with this unit */
	unsigned int served;     /* guest requests served */
	unsigned int served_at;  /* guest requests served when dom0's was */
	bool is_yielding;        /* the bulk callback asks loop_should_yield */
	bool is_prompt_drained;  /* the prompt callback reads its pipe */
	unsigned int bulk_turns; /* bulk callbacks run */
	unsigned int stop_after; /* loop_stop after this many bulk turns */
	bool was_cheap;          /* the first bulk turn had the hint */
};

static void blog(struct bulkctx *b, char c)
{
	if (b->n < sizeof(b->log) - 1)
		b->log[b->n++] = c;
}

static void bulk_hook(struct loop *l, void *arg)
{
	blog(arg, 'h');
}

static void dom0_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct bulkctx *b = arg;
	char buf[16];

	blog(b, 'D');
	b->served_at = b->served;
	if (b->is_prompt_drained && read(fd, buf, sizeof(buf)) < 0)
		return;
	if (!b->units)
		loop_stop(l);
}

static void guests_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct bulkctx *b = arg;
	char buf[16];

	if (!b->bulk_turns++)
		b->was_cheap = loop_yield_is_cheap(l);
	while (b->units) {
		b->units--;
		b->served++;
		blog(b, 'g');
		if (b->served == b->arrive_at &&
		    write(b->x.wfd[0], "r", 1) != 1)
			return;
		if (b->is_yielding && loop_should_yield(l))
			break;
	}
	if (!b->units && read(fd, buf, sizeof(buf)) < 0)
		return;
	if (b->stop_after && b->bulk_turns >= b->stop_after)
		loop_stop(l);
}

/* The bulk tests run twice: loop_should_yield asking epoll each time,
 * then looking at the hint first (loop_enable_yield_hint). */
static bool with_hint;

static void ask_once_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	(void)loop_should_yield(l);
	loop_stop(l);
}

/* Enable the hint and have a bulk callback ask once: the loop makes the
 * hint at its next wait, as the daemon's does when guests get busy. */
static void hint_warm(struct loop *l)
{
	int p[2];

	CHECK_EQ_INT(loop_enable_yield_hint(l), 0);
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	CHECK_EQ_INT(write(p[1], "w", 1), 1);
	CHECK_EQ_INT(loop_add(l, p[0], LOOP_IN | LOOP_BULK, ask_once_cb, NULL),
	             0);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK(!loop_yield_is_cheap(l)); /* not before the next wait */
	loop_del(l, p[0]);
	close(p[0]);
	close(p[1]);
}

static void bulk_setup(struct loop *l, struct bulkctx *b)
{
	CHECK(!loop_yield_is_cheap(l));
	if (with_hint) {
		hint_warm(l);
		if (check_failed())
			return;
	}
	CHECK(open_pipes(&b->x));
	loop_set_turn_hook(l, bulk_hook, b);
	CHECK_EQ_INT(loop_add(l, b->x.rfd[0], LOOP_IN, dom0_cb, b), 0);
	CHECK_EQ_INT(
	    loop_add(l, b->x.rfd[1], LOOP_IN | LOOP_BULK, guests_cb, b), 0);
}

static void bulk_teardown(struct loop *l, struct bulkctx *b)
{
	loop_del(l, b->x.rfd[0]);
	loop_del(l, b->x.rfd[1]);
	close_pipes(&b->x);
	loop_free(l);
	/* The hinted runs did look at the hint (if the test got so far). */
	if (b->bulk_turns)
		CHECK_EQ_INT(b->was_cheap, with_hint);
}

/* Both ready in one turn (the guests' first): dom0's request is served
 * first and answered (the hook) before any guest's. */
static void test_bulk_after_prompt(void)
{
	struct loop *l = loop_new();
	struct bulkctx b = {
	    .units = 3, .is_prompt_drained = true, .stop_after = 1};

	CHECK(l != NULL);
	bulk_setup(l, &b);
	CHECK_EQ_INT(
	    loop_add(l, b.x.rfd[0] + 100, LOOP_IN | 0x100, dom0_cb, &b),
	    -EINVAL);
	CHECK_EQ_INT(write(b.x.wfd[1], "k", 1), 1);
	CHECK_EQ_INT(write(b.x.wfd[0], "r", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_STR(b.log, "Dhgggh");
	bulk_teardown(l, &b);
}

static unsigned int go_at;

/* dom0's fd is refused until `go_at` guest requests were served. */
static bool refuse_until(loop_fd_cb *cb, void *cb_arg, void *arg)
{
	const struct bulkctx *b = arg;

	return cb != dom0_cb || b->served >= go_at;
}

/* 100 guest requests, dom0's coming with the 3rd, run on `l` to the
 * end; with the yield filter refusing dom0 before `refuse_before` (0:
 * no filter). */
static void run_yield_case(struct loop *l, struct bulkctx *b,
                           unsigned int refuse_before)
{
	*b = (struct bulkctx){.units = 100,
	                      .arrive_at = 3,
	                      .is_yielding = true,
	                      .is_prompt_drained = true,
	                      .stop_after = 2};
	bulk_setup(l, b);
	if (refuse_before) {
		go_at = refuse_before;
		loop_set_yield_filter(l, refuse_until, b);
	}
	CHECK_EQ_INT(write(b->x.wfd[1], "k", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
}

/* 100 guest requests ready; dom0's comes while the 3rd is served: it is
 * served right after the 3rd, before that turn's hook (where the
 * guests' replies and journal records go), and answered in that hook,
 * before a 4th is served, whatever the time budget. */
static void test_bulk_yield(void)
{
	struct loop *l = loop_new();
	struct bulkctx b;
	const char *d;

	CHECK(l != NULL);
	run_yield_case(l, &b, 0);
	CHECK_EQ_UINT(b.served, 100);
	CHECK_EQ_UINT(b.served_at, 3);
	d = strchr(b.log, 'D');
	CHECK(d != NULL);
	/* "ggg", dom0's request, the end of that turn, then the rest */
	CHECK(!strncmp(b.log, "gggDh", 5));
	CHECK_EQ_INT((int)(d - b.log), 3);
	CHECK_EQ_INT(d[1], 'h');
	CHECK_EQ_INT(d[2], 'g');
	bulk_teardown(l, &b);
}

/* The yield filter (loop_set_yield_filter): dom0's fd, ready from the
 * third unit on, is refused until the sixth (a client still owing the
 * guests their share, conn.h); the bulk callback yields to it then,
 * not before, and not later: with the hint too, a refused fd is looked
 * at again on the next ask although no news came since. */
static void test_bulk_yield_filtered(void)
{
	struct loop *l = loop_new();
	struct bulkctx b;

	CHECK(l != NULL);
	run_yield_case(l, &b, 6);
	CHECK_EQ_UINT(b.served, 100);
	CHECK_EQ_UINT(b.served_at, 6);
	CHECK(!strncmp(b.log, "ggggggDhg", 9));
	bulk_teardown(l, &b);
}

/* A prompt fd that stays ready (a toolstack that never stops) does not
 * starve the bulk fd: both run every turn (the prompt one first, and
 * again when the bulk one yields to it). */
static void test_bulk_not_starved(void)
{
	struct loop *l = loop_new();
	struct bulkctx b = {.units = 5, .is_yielding = true, .stop_after = 5};

	CHECK(l != NULL);
	bulk_setup(l, &b);
	CHECK_EQ_INT(write(b.x.wfd[0], "r", 1), 1);
	CHECK_EQ_INT(write(b.x.wfd[1], "k", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_UINT(b.served, 5);
	/* With the hint, input left over is no news: the batch runs
	 * through, and the prompt fd goes first again the next turn. */
	CHECK_EQ_STR(b.log,
	             with_hint ? "DhggggghDh" : "DhgDhDhgDhDhgDhDhgDhDhgDh");
	bulk_teardown(l, &b);
}

/* A prompt request already served this turn is no reason to yield:
 * the guests' batch runs through (with the hint: its news came before
 * the wait, which cleared it). */
static void test_bulk_no_stale_yield(void)
{
	struct loop *l = loop_new();
	struct bulkctx b = {.units = 3,
	                    .is_yielding = true,
	                    .is_prompt_drained = true,
	                    .stop_after = 1};

	CHECK(l != NULL);
	bulk_setup(l, &b);
	CHECK_EQ_INT(write(b.x.wfd[0], "r", 1), 1);
	CHECK_EQ_INT(write(b.x.wfd[1], "k", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_STR(b.log, "Dhgggh");
	bulk_teardown(l, &b);
}

/* Can this kernel give the hint?  If not, say why, once per test. */
static bool hint_available(const char *test)
{
	int p[2], err = 0;
	struct readyhint *h;

	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return false;
	h = readyhint_new(p[0], &err);
	readyhint_free(h);
	close(p[0]);
	close(p[1]);
	if (!h)
		printf("SKIP %s: no io_uring hint here: %s\n", test,
		       strerror(-err));
	return h != NULL;
}

#define WITH_HINT(name)                                                        \
	static void name##_hint(void)                                          \
	{                                                                      \
		if (!hint_available(#name "_hint"))                            \
			return;                                                \
		with_hint = true;                                              \
		name();                                                        \
		with_hint = false;                                             \
	}
WITH_HINT(test_bulk_after_prompt)
WITH_HINT(test_bulk_yield)
WITH_HINT(test_bulk_not_starved)
WITH_HINT(test_bulk_no_stale_yield)
WITH_HINT(test_bulk_yield_filtered)

/*
 * The hint itself, on a pipe: news only of input after the last clear
 * (data still unread from before is not news), and it outlives a full
 * completion queue: 200 writes with no clear end the kernel's multishot
 * poll (64 completions fit), and the clear arms it again.
 */
static void test_hint_news(void)
{
	struct readyhint *h;
	int p[2], err = 0;

	if (!hint_available(__func__))
		return;
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	h = readyhint_new(p[0], &err);
	CHECK(h != NULL);
	CHECK(readyhint_is_live(h));
	CHECK(!readyhint_peek(h));
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK(readyhint_peek(h));
	readyhint_clear(h);
	CHECK(!readyhint_peek(h)); /* "x" is still there, but old */
	CHECK_EQ_INT(write(p[1], "y", 1), 1);
	CHECK(readyhint_peek(h));
	readyhint_clear(h);
	for (int i = 0; i < 200; i++)
		CHECK_EQ_INT(write(p[1], "z", 1), 1);
	CHECK(readyhint_peek(h));
	readyhint_clear(h);
	CHECK(readyhint_is_live(h));
	CHECK(!readyhint_peek(h));
	CHECK_EQ_INT(write(p[1], "w", 1), 1);
	CHECK(readyhint_peek(h));
	readyhint_free(h);
	close(p[0]);
	close(p[1]);
}

/*
 * dom0's request comes from another thread while a guests' batch runs
 * and makes no system call at all between its looks: the hint still
 * says so (the waker sets the flag in shared memory; the completion
 * would wait for our next system call), and the batch yields.  A hint
 * that missed it would spin here until the deadline.
 */
struct spinctx {
	int wfd;
	atomic_bool is_spinning;
	bool has_yielded;
	bool is_early; /* yielded before the request was sent */
	atomic_bool is_sent;
	bool was_cheap; /* the batch had the hint */
};

static void *send_later(void *arg)
{
	struct spinctx *c = arg;

	while (!atomic_load(&c->is_spinning))
		sched_yield();
	usleep(20000);
	atomic_store(&c->is_sent, true);
	if (write(c->wfd, "r", 1) != 1)
		atomic_store(&c->is_sent, false);
	return NULL;
}

static void spin_guest_cb(struct loop *l, int fd, unsigned int events,
                          void *arg)
{
	struct spinctx *c = arg;
	uint64_t deadline = loop_now_ms() + 10000;
	char b;

	c->was_cheap = loop_yield_is_cheap(l);
	atomic_store(&c->is_spinning, true);
	while (loop_now_ms() < deadline) {
		if (loop_should_yield(l)) {
			c->has_yielded = true;
			c->is_early = !atomic_load(&c->is_sent);
			break;
		}
	}
	if (read(fd, &b, 1) < 0)
		return;
}

static void spin_dom0_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	char b;

	if (read(fd, &b, 1) < 0)
		return;
	loop_stop(l);
}

static void test_hint_other_thread(void)
{
	struct loop *l = loop_new();
	struct spinctx c = {0};
	struct loop_poll_stats st;
	struct fdctx x;
	pthread_t th;

	if (!hint_available(__func__)) {
		loop_free(l);
		return;
	}
	CHECK(l != NULL);
	hint_warm(l);
	if (check_failed())
		return;
	CHECK(open_pipes(&x));
	c.wfd = x.wfd[0];
	CHECK_EQ_INT(loop_add(l, x.rfd[0], LOOP_IN, spin_dom0_cb, &c), 0);
	CHECK_EQ_INT(
	    loop_add(l, x.rfd[1], LOOP_IN | LOOP_BULK, spin_guest_cb, &c), 0);
	CHECK_EQ_INT(write(x.wfd[1], "k", 1), 1);
	CHECK_EQ_INT(pthread_create(&th, NULL, send_later, &c), 0);
	CHECK_EQ_INT(loop_run(l), 0);
	CHECK_EQ_INT(pthread_join(th, NULL), 0);
	CHECK(c.was_cheap);
	CHECK(c.has_yielded);
	CHECK(!c.is_early);
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.hints_made, 1);
	CHECK_EQ_UINT(st.hint_yields, 1);
	loop_del(l, x.rfd[0]);
	loop_del(l, x.rfd[1]);
	close_pipes(&x);
	loop_free(l);
}

/* One turn of the loop: its wait, a timer, its end. */
static void turn_once(struct loop *l)
{
	loop_timer_add(l, 1, stop_cb, NULL);
	CHECK_EQ_INT(loop_run(l), 0);
}

/* The hint costs every prompt wakeup a little: made at a wait after a
 * bulk callback asked, it goes at the first wait after 200 ms (here
 * 300) without an ask, and comes back with the next ask. */
static void test_hint_idle(void)
{
	struct loop *l = loop_new();
	struct loop_poll_stats st;

	CHECK(l != NULL);
	if (!hint_available(__func__)) {
		loop_free(l);
		return;
	}
	for (int round = 0; round < 2; round++) {
		hint_warm(l);
		if (check_failed())
			return;
		turn_once(l);
		CHECK(loop_yield_is_cheap(l));
		if (round)
			break;
		usleep(300000);
		turn_once(l);
		CHECK(!loop_yield_is_cheap(l));
	}
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.hints_made, 2);
	loop_free(l);
}

/*
 * The poll hook (loop_set_poll_hook): work it finds ends the wait like
 * an fd event (the turn hook runs after it), and it cannot starve the
 * fds: with work for it forever, an fd that is ready is served after
 * LOOP_POLL_HOOK_TURNS turns of it.  'F' fd callback, 'k' a hook hit,
 * 'h' the turn hook.
 */
struct hookctx {
	int rfd, wfd;
	unsigned int fd_runs;
	bool has_work;
	char log[64];
	size_t len;
};

static void hook_log(struct hookctx *h, char ch)
{
	if (h->len + 1 < sizeof(h->log))
		h->log[h->len++] = ch;
}

static void hook_fd_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct hookctx *h = arg;
	char b;

	(void)events;
	if (read(fd, &b, 1) != 1)
		return;
	hook_log(h, 'F');
	h->has_work = true; /* from now on the hook always finds some */
	if (++h->fd_runs == 2)
		loop_stop(l);
	else if (write(h->wfd, "x", 1) != 1) /* ready again at once */
		loop_stop(l);
}

static bool hook_poll_cb(struct loop *l, void *arg)
{
	struct hookctx *h = arg;

	(void)l;
	if (!h->has_work)
		return false;
	hook_log(h, 'k');
	return true;
}

static void hook_turn_cb(struct loop *l, void *arg)
{
	(void)l;
	hook_log(arg, 'h');
}

static void test_poll_hook(void)
{
	struct loop *l = loop_new();
	struct loop_poll_stats st;
	struct hookctx h = {0};
	char want[64];
	size_t n = 0;
	int p[2];

	CHECK(l != NULL);
	CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	h.rfd = p[0];
	h.wfd = p[1];
	loop_set_poll(l, 1000000);
	loop_set_poll_hook(l, hook_poll_cb, &h);
	loop_set_turn_hook(l, hook_turn_cb, &h);
	CHECK_EQ_INT(loop_add(l, p[0], LOOP_IN, hook_fd_cb, &h), 0);
	CHECK_EQ_INT(write(p[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	want[n++] = 'F';
	want[n++] = 'h';
	for (unsigned int i = 0; i < LOOP_POLL_HOOK_TURNS; i++) {
		want[n++] = 'k';
		want[n++] = 'h';
	}
	want[n++] = 'F';
	want[n++] = 'h';
	want[n] = '\0';
	h.log[h.len] = '\0';
	CHECK_EQ_STR(h.log, want);
	loop_poll_stats(l, &st);
	CHECK_EQ_UINT(st.hook_hits, LOOP_POLL_HOOK_TURNS);
	CHECK_EQ_UINT(st.sleeps, 1);
	loop_set_poll_hook(l, NULL, NULL);
	loop_del(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/*
 * While the hook finds nothing, the fds are polled only every
 * LOOP_POLL_FDS_NS, not at every step: an epoll_wait costs a system call
 * that a hot connection's read has to wait behind.  A peer thread answers
 * each byte 200 us later, so the window grows until it covers the gap;
 * meanwhile the hook is called at every step.  Counts, not speed: an
 * fd poll per hook call (the old rule) fails, however slow the machine.
 */
struct pace {
	int rfd, wfd;     /* the loop's pipe */
	int ask_r, ask_w; /* the loop asks the peer for the next byte */
	unsigned int left;
	unsigned long hook_calls;
};

static void *pace_peer(void *arg)
{
	struct pace *p = arg;
	const struct timespec gap = {0, 200000};
	char b;

	while (read(p->ask_r, &b, 1) == 1) {
		nanosleep(&gap, NULL);
		if (write(p->wfd, "x", 1) != 1)
			break;
	}
	return NULL;
}

static bool pace_hook(struct loop *l, void *arg)
{
	(void)l;
	((struct pace *)arg)->hook_calls++;
	return false;
}

static void pace_cb(struct loop *l, int fd, unsigned int events, void *arg)
{
	struct pace *p = arg;
	char b;

	(void)events;
	if (read(fd, &b, 1) != 1)
		return;
	if (--p->left == 0 || write(p->ask_w, "?", 1) != 1)
		loop_stop(l);
}

static void test_poll_hook_fd_pace(void)
{
	struct loop *l = loop_new();
	struct loop_poll_stats st;
	struct pace p = {.left = 16};
	pthread_t th;
	int a[2], q[2];

	CHECK(l != NULL);
	CHECK(pipe2(a, O_NONBLOCK | O_CLOEXEC) == 0);
	CHECK(pipe2(q, O_CLOEXEC) == 0);
	p.rfd = a[0];
	p.wfd = a[1];
	p.ask_r = q[0];
	p.ask_w = q[1];
	CHECK_EQ_INT(pthread_create(&th, NULL, pace_peer, &p), 0);
	loop_set_poll(l, 1000000);
	loop_set_poll_hook(l, pace_hook, &p);
	CHECK_EQ_INT(loop_add(l, a[0], LOOP_IN, pace_cb, &p), 0);
	CHECK_EQ_INT(write(a[1], "x", 1), 1);
	CHECK_EQ_INT(loop_run(l), 0);
	close(q[1]);
	CHECK_EQ_INT(pthread_join(th, NULL), 0);
	loop_poll_stats(l, &st);
	CHECK(st.poll_hits + st.poll_misses > 0); /* it did poll */
	CHECK(st.fd_polls > 0);
	/* Each step calls the hook; an fd poll at most every 4 us. */
	CHECK(st.fd_polls * 4 < p.hook_calls);
	loop_del(l, a[0]);
	close(a[0]);
	close(a[1]);
	close(q[0]);
	loop_free(l);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_new_free),
    CHECK_TEST(test_timer_order),
    CHECK_TEST(test_timer_cancel),
    CHECK_TEST(test_timer_rearm_next_turn),
    CHECK_TEST(test_timer_heap),
    CHECK_TEST(test_fd_in),
    CHECK_TEST(test_fd_out),
    CHECK_TEST(test_fd_del_in_batch),
    CHECK_TEST(test_turn_hook),
    CHECK_TEST(test_alloc_failure),
    CHECK_TEST(test_poll_adapt),
    CHECK_TEST(test_poll),
    CHECK_TEST(test_poll_hook),
    CHECK_TEST(test_poll_hook_fd_pace),
    CHECK_TEST(test_bulk_after_prompt),
    CHECK_TEST(test_bulk_yield),
    CHECK_TEST(test_bulk_yield_filtered),
    CHECK_TEST(test_bulk_not_starved),
    CHECK_TEST(test_bulk_no_stale_yield),
    CHECK_TEST(test_bulk_after_prompt_hint),
    CHECK_TEST(test_bulk_yield_hint),
    CHECK_TEST(test_bulk_not_starved_hint),
    CHECK_TEST(test_bulk_no_stale_yield_hint),
    CHECK_TEST(test_bulk_yield_filtered_hint),
    CHECK_TEST(test_hint_news),
    CHECK_TEST(test_hint_other_thread),
    CHECK_TEST(test_hint_idle),
};

CHECK_MAIN(tests)
