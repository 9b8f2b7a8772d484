/*
 * loop.c - the event loop: epoll for fds, a binary min-heap for one-shot
 * timers, and a hook run at the end of every turn.
 *
 * A turn is: wait (epoll_wait, bounded by the earliest timer), run the
 * callbacks of the prompt fds returned, then (if there were bulk ones too)
 * the turn hook, then the callbacks of the bulk fds, the timers that are
 * due, and the turn hook.  After a turn that served fds, the wait may first
 * poll for a short adaptive window before sleeping (see loop_set_poll).
 * Level-triggered, so a callback may leave work for the next turn.
 * Invariants: fds[fd].cb != NULL iff fd is in the epoll set, and a prompt
 * fd (not LOOP_BULK) is in the prompt set too, with the same events;
 * heap[] is ordered by (when, seq) and every live timer record knows its
 * heap index.  Nothing here reads the clock except now_ns() (and
 * loop_now_ms(), its milliseconds).
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/loop.h"
#include "daemon/readyhint.h"

#define LOOP_MAX_EVENTS 128

/*
 * One registered fd.  `gen` changes on every loop_add, and each epoll
 * event carries the generation it was armed with, so an event still in
 * this turn's batch for an fd that was deleted (and maybe reused by a
 * new connection) is recognised as stale and skipped.
 */
struct loop_fd {
	loop_fd_cb *cb;
	void *arg;
	unsigned int events;
	uint32_t gen;
	bool is_bulk;
};

/*
 * Timer records live in a slot table so that a timer id can find its
 * record in O(1): id = (generation << 32) | (slot + 1).  The generation
 * makes a stale id (timer already fired or cancelled, slot reused)
 * harmless.  The heap holds slot numbers.
 */
struct loop_timer {
	uint64_t when; /* loop_now_ms() deadline */
	uint64_t seq;  /* order of creation: ties fire oldest first */
	loop_timer_cb *cb;
	void *arg;
	uint32_t gen;
	uint32_t heap_idx; /* index in heap[], or UINT32_MAX when free */
	uint32_t next_free;
};

struct loop {
	int epfd;
	/* The prompt fds again, for loop_should_yield: a bulk callback asks
	 * it between units of work whether one waits. */
	int prompt_epfd;
	bool is_stopping;

	struct loop_fd *fds; /* indexed by fd */
	size_t nr_fds;       /* allocated entries */

	struct loop_timer *timers; /* slot table */
	uint32_t nr_timers;        /* allocated slots */
	uint32_t free_timer;       /* head of free slots, UINT32_MAX: none */
	uint32_t *heap;            /* slot numbers, min-heap by (when, seq) */
	uint32_t heap_len;
	uint64_t next_seq;

	loop_timer_cb *turn_cb;
	void *turn_arg;

	/* Adaptive polling (loop_set_poll): the current window and its
	 * bound, in nanoseconds; the window is 0 while polling would not
	 * have paid.  `was_busy`: the last turn ran fd callbacks. */
	uint64_t poll_ns, poll_max_ns;
	bool was_busy;
	struct loop_poll_stats stats;
	/* loop_set_poll_hook's; `hook_turns`: turns it ended since the
	 * fds were last polled. */
	loop_poll_cb *poll_cb;
	void *poll_arg;
	unsigned int hook_turns;
	/* loop_should_yield said yes during this turn's bulk callbacks. */
	bool is_prompt_waiting;
	/* loop_set_yield_filter's; `is_refused_waiting`: the last look saw
	 * ready prompt fds, all refused (the next ask looks again, since
	 * the hint tells only of news). */
	loop_yield_filter *yield_filter;
	void *yield_filter_arg;
	bool is_refused_waiting;
	/* News of the prompt fds without a system call (loop_enable_yield_
	 * hint), cleared before every wait.  It costs every prompt fd's
	 * wakeup a little (the kernel's poll of the prompt set), so it is
	 * made when a bulk callback asks loop_should_yield and freed after
	 * LOOP_HINT_IDLE_NS without one: only while guests keep the loop
	 * busy.  `asks`: loop_should_yield calls, `asks_seen` as of
	 * `asked_ns`, the last time a wait saw them change. */
	struct readyhint *hint;
	bool is_hint_on, is_hint_wanted;
	uint64_t asks, asks_seen, asked_ns;
};

/* Ready prompt fds one loop_should_yield looks at, for the filter. */
#define LOOP_YIELD_LOOK 8

/* A made hint costs ~60 us (io_uring_setup and its mappings): at most
 * once per this long. */
#define LOOP_HINT_IDLE_NS 200000000u

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t loop_now_ms(void)
{
	return now_ns() / 1000000u;
}

uint64_t loop_now_us(void)
{
	return now_ns() / 1000u;
}

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		xfree(l);
		return NULL;
	}
	l->prompt_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->prompt_epfd < 0) {
		close(l->epfd);
		xfree(l);
		return NULL;
	}
	l->free_timer = UINT32_MAX;
	l->next_seq = 1;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	readyhint_free(l->hint);
	close(l->epfd);
	close(l->prompt_epfd);
	xfree(l->fds);
	xfree(l->timers);
	xfree(l->heap);
	xfree(l);
}

static uint32_t to_epoll(unsigned int events)
{
	uint32_t ev = 0;

	if (events & LOOP_IN)
		ev |= EPOLLIN;
	if (events & LOOP_OUT)
		ev |= EPOLLOUT;
	return ev;
}

static unsigned int from_epoll(uint32_t ev)
{
	unsigned int events = 0;

	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLPRI))
		events |= LOOP_IN;
	if (ev & EPOLLOUT)
		events |= LOOP_OUT;
	if (ev & (EPOLLERR | EPOLLHUP))
		events |= LOOP_ERR;
	return events;
}

static int fd_slot_reserve(struct loop *l, int fd)
{
	size_t n;
	struct loop_fd *fds;

	if ((size_t)fd < l->nr_fds)
		return 0;
	n = l->nr_fds ? l->nr_fds : 64;
	while (n <= (size_t)fd)
		n *= 2;
	fds = xrealloc_array(l->fds, n, sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	memset(fds + l->nr_fds, 0, (n - l->nr_fds) * sizeof(*fds));
	l->fds = fds;
	l->nr_fds = n;
	return 0;
}

/* Add or modify fd in the loop's set, and in the prompt set unless bulk
 * (an add undone in the first if the second fails). */
static int epoll_set(struct loop *l, int op, int fd)
{
	struct loop_fd *f = &l->fds[fd];
	struct epoll_event ev = {
	    .events = to_epoll(f->events),
	    .data.u64 = ((uint64_t)f->gen << 32) | (uint32_t)fd,
	};

	if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
		return -errno;
	if (!f->is_bulk && epoll_ctl(l->prompt_epfd, op, fd, &ev) < 0) {
		int err = -errno;

		if (op == EPOLL_CTL_ADD)
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		return err;
	}
	return 0;
}

int loop_add(struct loop *l, int fd, unsigned int events, loop_fd_cb *cb,
             void *arg)
{
	struct loop_fd *f;
	int err;

	if (fd < 0 || !cb || (events & ~(LOOP_IN | LOOP_OUT | LOOP_BULK)))
		return -EINVAL;
	err = fd_slot_reserve(l, fd);
	if (err)
		return err;
	f = &l->fds[fd];
	if (f->cb)
		return -EEXIST;
	f->cb = cb;
	f->arg = arg;
	f->events = events & (LOOP_IN | LOOP_OUT);
	f->is_bulk = events & LOOP_BULK;
	f->gen++;
	err = epoll_set(l, EPOLL_CTL_ADD, fd);
	if (err)
		f->cb = NULL;
	return err;
}

int loop_mod(struct loop *l, int fd, unsigned int events)
{
	struct loop_fd *f;

	if (fd < 0 || (size_t)fd >= l->nr_fds || !l->fds[fd].cb)
		return -ENOENT;
	f = &l->fds[fd];
	events &= LOOP_IN | LOOP_OUT;
	if (f->events == events)
		return 0;
	f->events = events;
	return epoll_set(l, EPOLL_CTL_MOD, fd);
}

void loop_del(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nr_fds || !l->fds[fd].cb)
		return;
	/* May fail if the fd is already closed; the kernel dropped it then. */
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (!l->fds[fd].is_bulk)
		epoll_ctl(l->prompt_epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].cb = NULL;
	l->fds[fd].arg = NULL;
	l->fds[fd].events = 0;
}

/* ---- timers ---- */

static bool timer_before(const struct loop *l, uint32_t a, uint32_t b)
{
	const struct loop_timer *ta = &l->timers[a], *tb = &l->timers[b];

	return ta->when < tb->when ||
	       (ta->when == tb->when && ta->seq < tb->seq);
}

static void heap_place(struct loop *l, uint32_t idx, uint32_t slot)
{
	l->heap[idx] = slot;
	l->timers[slot].heap_idx = idx;
}

static void heap_up(struct loop *l, uint32_t idx)
{
	uint32_t slot = l->heap[idx];

	while (idx > 0) {
		uint32_t parent = (idx - 1) / 2;

		if (!timer_before(l, slot, l->heap[parent]))
			break;
		heap_place(l, idx, l->heap[parent]);
		idx = parent;
	}
	heap_place(l, idx, slot);
}

static void heap_down(struct loop *l, uint32_t idx)
{
	uint32_t slot = l->heap[idx];

	for (;;) {
		uint32_t child = 2 * idx + 1;

		if (child >= l->heap_len)
			break;
		if (child + 1 < l->heap_len &&
		    timer_before(l, l->heap[child + 1], l->heap[child]))
			child++;
		if (!timer_before(l, l->heap[child], slot))
			break;
		heap_place(l, idx, l->heap[child]);
		idx = child;
	}
	heap_place(l, idx, slot);
}

/* Take slot out of the heap and put it on the free list. */
static void timer_release(struct loop *l, uint32_t slot)
{
	struct loop_timer *t = &l->timers[slot];
	uint32_t idx = t->heap_idx;
	uint32_t last = l->heap[--l->heap_len];

	if (idx != l->heap_len) {
		heap_place(l, idx, last);
		heap_down(l, idx);
		heap_up(l, l->timers[last].heap_idx);
	}
	t->heap_idx = UINT32_MAX;
	t->cb = NULL;
	t->arg = NULL;
	t->gen++; /* old ids for this slot go stale */
	t->next_free = l->free_timer;
	l->free_timer = slot;
}

static int timer_grow(struct loop *l)
{
	uint32_t n = l->nr_timers ? l->nr_timers * 2 : 16;
	struct loop_timer *timers;
	uint32_t *heap;

	if (l->nr_timers >= UINT32_MAX / 4)
		return -ENOMEM;
	heap = xrealloc_array(l->heap, n, sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	l->heap = heap;
	timers = xrealloc_array(l->timers, n, sizeof(*timers));
	if (!timers)
		return -ENOMEM;
	l->timers = timers;
	/* Thread the new slots onto the free list, lowest first. */
	for (uint32_t i = n; i-- > l->nr_timers;) {
		memset(&timers[i], 0, sizeof(timers[i]));
		timers[i].heap_idx = UINT32_MAX;
		timers[i].next_free = l->free_timer;
		l->free_timer = i;
	}
	l->nr_timers = n;
	return 0;
}

uint64_t loop_timer_add(struct loop *l, uint64_t msec, loop_timer_cb *cb,
                        void *arg)
{
	struct loop_timer *t;
	uint32_t slot;
	uint64_t now = loop_now_ms();

	if (!cb)
		return 0;
	if (l->free_timer == UINT32_MAX && timer_grow(l) < 0)
		return 0;
	slot = l->free_timer;
	t = &l->timers[slot];
	l->free_timer = t->next_free;
	t->when = msec > UINT64_MAX - now ? UINT64_MAX : now + msec;
	t->seq = l->next_seq++;
	t->cb = cb;
	t->arg = arg;
	heap_place(l, l->heap_len++, slot);
	heap_up(l, t->heap_idx);
	return ((uint64_t)t->gen << 32) | ((uint64_t)slot + 1);
}

void loop_timer_del(struct loop *l, uint64_t id)
{
	uint64_t slot1 = id & 0xffffffffu;
	uint32_t slot;

	if (slot1 == 0 || slot1 > l->nr_timers)
		return;
	slot = (uint32_t)(slot1 - 1);
	if (l->timers[slot].gen != (uint32_t)(id >> 32) ||
	    l->timers[slot].heap_idx == UINT32_MAX)
		return;
	timer_release(l, slot);
}

/* Milliseconds epoll may sleep: until the earliest timer, or forever. */
static int wait_timeout(const struct loop *l)
{
	uint64_t now, when;

	if (l->heap_len == 0)
		return -1;
	when = l->timers[l->heap[0]].when;
	now = loop_now_ms();
	if (when <= now)
		return 0;
	return when - now > INT_MAX ? INT_MAX : (int)(when - now);
}

/*
 * Fire the timers due now.  A timer added by a callback here (even with
 * msec 0) has a seq at or past `seq_limit` and waits for the next turn,
 * so a timer re-arming itself cannot starve the fds.  Ordering by
 * (when, seq) means that once such a timer is at the top, no older due
 * timer remains below it.
 */
static void run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();
	uint64_t seq_limit = l->next_seq;

	while (l->heap_len > 0) {
		uint32_t slot = l->heap[0];
		struct loop_timer *t = &l->timers[slot];
		loop_timer_cb *cb = t->cb;
		void *arg = t->arg;

		if (t->when > now || t->seq >= seq_limit)
			break;
		/* Release first: the callback may add timers (and grow the
		 * table, moving `t`) or try to cancel its own id. */
		timer_release(l, slot);
		cb(l, arg);
	}
}

void loop_set_turn_hook(struct loop *l, loop_timer_cb *cb, void *arg)
{
	l->turn_cb = cb;
	l->turn_arg = arg;
}

/*
 * Run the callbacks of the events of one class (bulk or prompt), in the
 * batch's order.  Returns how many events of the other class it saw;
 * *ran: how many callbacks it ran.
 */
static int run_class(struct loop *l, const struct epoll_event *evs, int n,
                     bool is_bulk, int *ran)
{
	int others = 0;

	*ran = 0;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct loop_fd *f;

		/* fds[] may be reallocated by a callback: index each time. */
		if ((size_t)fd >= l->nr_fds)
			continue;
		f = &l->fds[fd];
		if (!f->cb || f->gen != gen)
			continue; /* deleted (or replaced) earlier this turn */
		if (f->is_bulk != is_bulk) {
			others++;
			continue;
		}
		(*ran)++;
		f->cb(l, fd, from_epoll(evs[i].events), f->arg);
	}
	return others;
}

/*
 * The prompt fds first, then the bulk ones.  The turn hook (which sends
 * the replies) runs in between when both had events: a prompt request
 * answered this turn never waits for a batch of bulk work to be
 * answered (with the journal on, that costs a second, smaller commit).
 * A bulk callback that stops for a prompt fd (loop_should_yield) has it
 * served right after, before the turn hook writes the batch's journal
 * records and replies (a guests' batch ends in tens of notifies): its
 * reply goes out in that same hook, first (the flush takes the latest
 * queued first).
 */
static void run_fd_events(struct loop *l, const struct epoll_event *evs, int n)
{
	int ran, bulk = run_class(l, evs, n, false, &ran);

	if (!bulk)
		return;
	if (ran && l->turn_cb) {
		l->turn_cb(l, l->turn_arg);
		/* The replies just sent woke their clients.  On a CPU they
		 * share with us (dom0's toolstack beside the daemon) they
		 * would wait for the whole bulk batch, or for the
		 * scheduler's tick, before reading them and sending their
		 * next request: let them go first.  Returns at once when
		 * nothing else is runnable here. */
		sched_yield();
	}
	l->is_prompt_waiting = false;
	l->is_refused_waiting = false;
	run_class(l, evs, n, true, &ran);
	if (l->is_prompt_waiting) {
		struct epoll_event pevs[LOOP_MAX_EVENTS];
		int pn = epoll_wait(l->prompt_epfd, pevs, LOOP_MAX_EVENTS, 0);

		if (pn > 0)
			run_class(l, pevs, pn, false, &ran);
	}
}

void loop_set_yield_filter(struct loop *l, loop_yield_filter *f, void *arg)
{
	l->yield_filter = f;
	l->yield_filter_arg = arg;
}

/* Does the filter (if any) accept one of the ready prompt fds evs[]? */
static bool filter_accepts(struct loop *l, const struct epoll_event *evs, int n)
{
	if (!l->yield_filter)
		return true;
	for (int i = 0; i < n; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		const struct loop_fd *f;

		if ((size_t)fd >= l->nr_fds)
			continue;
		f = &l->fds[fd];
		if (f->cb && f->gen == gen &&
		    l->yield_filter(f->cb, f->arg, l->yield_filter_arg))
			return true;
	}
	return false;
}

bool loop_should_yield(struct loop *l)
{
	struct epoll_event evs[LOOP_YIELD_LOOK];
	int n;

	l->asks++;
	if (l->hint) {
		if (!l->is_refused_waiting && !readyhint_peek(l->hint))
			return false;
		/* Before the look, so that what comes after it is news. */
		readyhint_clear(l->hint);
	} else {
		l->is_hint_wanted = l->is_hint_on;
	}
	n = epoll_wait(l->prompt_epfd, evs, LOOP_YIELD_LOOK, 0);
	if (n <= 0) {
		l->stats.hint_stale +=
		    l->hint != NULL && !l->is_refused_waiting;
		l->is_refused_waiting = false;
		return false;
	}
	l->is_refused_waiting = !filter_accepts(l, evs, n);
	if (l->is_refused_waiting)
		return false;
	l->stats.hint_yields += l->hint != NULL;
	l->is_prompt_waiting = true;
	return true;
}

int loop_enable_yield_hint(struct loop *l)
{
	int err = 0;
	struct readyhint *h = readyhint_new(l->prompt_epfd, &err);

	readyhint_free(h);
	l->is_hint_on = h != NULL;
	return err;
}

/*
 * Before a wait: make the hint if a bulk callback asked without one, or
 * free it once none has asked for LOOP_HINT_IDLE_NS, and clear it.  This
 * turn's prompt fds are served before any bulk work, so the hint need
 * only tell of input that comes after the wait.
 */
static void hint_tend(struct loop *l)
{
	int err;

	if (!l->hint) {
		if (!l->is_hint_wanted)
			return;
		l->is_hint_wanted = false;
		l->hint = readyhint_new(l->prompt_epfd, &err);
		if (!l->hint)
			return; /* out of fds or memory: epoll, and again */
		l->stats.hints_made++;
		l->asks_seen = l->asks;
		l->asked_ns = now_ns();
		return;
	}
	if (l->asks != l->asks_seen) {
		l->asks_seen = l->asks;
		l->asked_ns = now_ns();
	} else if (now_ns() - l->asked_ns > LOOP_HINT_IDLE_NS) {
		readyhint_free(l->hint);
		l->hint = NULL;
		return;
	}
	readyhint_clear(l->hint);
}

bool loop_yield_is_cheap(const struct loop *l)
{
	return l->hint && readyhint_is_live(l->hint);
}

void loop_set_poll(struct loop *l, unsigned int max_us)
{
	l->poll_max_ns = (uint64_t)max_us * 1000u;
	l->poll_ns = 0;
}

void loop_poll_stats(const struct loop *l, struct loop_poll_stats *st)
{
	*st = l->stats;
	st->window_ns = l->poll_ns;
}

uint64_t loop_poll_adapt(uint64_t window_ns, uint64_t max_ns, uint64_t idle_ns,
                         bool had_events)
{
	if (idle_ns > max_ns || !had_events) {
		/* A long sleep (or a timer): polling longer would only have
		 * burnt CPU.  Halve, and stop below the starting window. */
		window_ns /= 2;
		return window_ns < LOOP_POLL_START_NS ? 0 : window_ns;
	}
	if (window_ns >= idle_ns)
		return window_ns; /* it was long enough */
	/* Work came back within the bound, after the window: a longer
	 * window would have saved a sleep and a wakeup. */
	window_ns = window_ns ? window_ns * 2 : LOOP_POLL_START_NS;
	return window_ns > max_ns ? max_ns : window_ns;
}

void loop_set_poll_hook(struct loop *l, loop_poll_cb *cb, void *arg)
{
	l->poll_cb = cb;
	l->poll_arg = arg;
	l->hook_turns = 0;
}

/*
 * One step of the poll window: the hook (if any, and not owed the fds),
 * then the fds if the hook found nothing and they are due (`fds_due`),
 * or owed after LOOP_POLL_HOOK_TURNS hook turns.  >0: fd events; 0 with
 * *hooked: the hook served work; 0: nothing yet; <0: epoll failed.
 */
static int poll_step(struct loop *l, struct epoll_event *evs, bool *hooked,
                     bool fds_due)
{
	bool is_owed = l->hook_turns >= LOOP_POLL_HOOK_TURNS;

	if (l->poll_cb && !is_owed && l->poll_cb(l, l->poll_arg)) {
		l->hook_turns++;
		*hooked = true;
		return 0;
	}
	if (!fds_due && !is_owed)
		return 0;
	l->hook_turns = 0;
	l->stats.fd_polls++;
	return epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, 0);
}

/*
 * Wait for events.  Sleeping in epoll_wait and being woken costs more
 * than a whole request in a VM (the woken CPU has to leave its idle
 * state, an IPI through the hypervisor), so after a busy turn the loop
 * first polls without sleeping for the current window, as KVM's halt
 * polling does; loop_poll_adapt sizes the window from how long the
 * loop really stayed idle.  Polling never outlasts the earliest timer.
 * *hooked: the poll hook ended the wait (0 events, work done).
 */
static int loop_wait(struct loop *l, struct epoll_event *evs, bool *hooked)
{
	int timeout = wait_timeout(l);
	uint64_t t0;
	int n;

	*hooked = false;
	if (l->is_hint_on)
		hint_tend(l);
	if (!l->poll_max_ns)
		return epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout);
	t0 = now_ns();
	if (l->was_busy && l->poll_ns && timeout != 0) {
		uint64_t end = t0 + l->poll_ns, t = t0, fds_at = t0;

		if (timeout > 0 && (uint64_t)timeout * 1000000u < l->poll_ns)
			end = t0 + (uint64_t)timeout * 1000000u;
		/* With a hook, the steps between fd polls are the hook's
		 * alone: a system call costs ~1 us in this VM, and the
		 * sooner a client's next request is taken, the likelier it
		 * is still running, not asleep, so taking it needs no
		 * wakeup (unix sockets wake a sleeping sender when its
		 * data is read).  After each fd poll, let whatever else is
		 * runnable on this CPU go first: the client just woken by
		 * our reply often is, and spinning would keep it off the
		 * CPU for the whole window (dom0's toolstack beside the
		 * daemon; perf sched under make load).  With nothing else
		 * there, sched_yield returns at once. */
		for (;;) {
			bool fds_due = !l->poll_cb || t >= fds_at;

			n = poll_step(l, evs, hooked, fds_due);
			if (n != 0 || *hooked)
				break;
			t = now_ns();
			if (t >= end)
				break;
			if (fds_due) {
				sched_yield();
				fds_at = t + LOOP_POLL_FDS_NS;
			}
		}
		if (*hooked)
			l->stats.hook_hits++;
		if (n != 0 || *hooked) {
			if (n > 0)
				l->stats.poll_hits++;
			return n;
		}
		l->stats.poll_misses++;
		timeout = wait_timeout(l);
	}
	l->hook_turns = 0;
	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout);
	if (n >= 0) {
		l->stats.sleeps++;
		l->poll_ns = loop_poll_adapt(l->poll_ns, l->poll_max_ns,
		                             now_ns() - t0, n > 0);
	}
	return n;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int ret = 0;

	while (!l->is_stopping) {
		bool hooked;
		int n = loop_wait(l, evs, &hooked);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		l->was_busy = n > 0 || hooked;
		run_fd_events(l, evs, n);
		run_timers(l);
		if (l->turn_cb)
			l->turn_cb(l, l->turn_arg);
	}
	l->is_stopping = false; /* the loop may be run again */
	return ret;
}

void loop_stop(struct loop *l)
{
	l->is_stopping = true;
}
