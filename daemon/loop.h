/*
 * loop.h - the daemon's event loop: one epoll set, fd callbacks, one-shot
 * timers and "idle" work run once per turn.
 *
 * Single-threaded by design (as both Xen daemons are): callbacks run one
 * at a time, in a deterministic order within a turn, so nothing in the
 * daemon needs a lock.  The loop owns no callback argument.
 */
#ifndef XSTORE_LOOP_H
#define XSTORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* Event bits passed to and from fd callbacks. */
#define LOOP_IN  0x1u
#define LOOP_OUT 0x2u
#define LOOP_ERR 0x4u /* error or hang-up, always reported */
/*
 * loop_add flag: the fd's callback does bulk work (guests' rings) that
 * must not delay the other, prompt fds (dom0's sockets, signals, the
 * control plane).  In a turn, the prompt callbacks run first and the
 * turn hook runs after them before any bulk one does; a bulk callback
 * asks loop_should_yield between units of work.
 */
#define LOOP_BULK 0x8u

typedef void loop_fd_cb(struct loop *l, int fd, unsigned int events, void *arg);
typedef void loop_timer_cb(struct loop *l, void *arg);

/* loop_new - a loop with no fds.  NULL on failure (errno not used). */
struct loop *loop_new(void);

/* loop_free - close the epoll fd; the caller closes its own fds first. */
void loop_free(struct loop *l);

/*
 * loop_add - watch `fd` for `events` (LOOP_IN|LOOP_OUT, with LOOP_BULK
 * for bulk work), calling `cb`.  One registration per fd; the class
 * stays until loop_del.  Returns 0 or -errno (-EINVAL: other bits).
 */
int loop_add(struct loop *l, int fd, unsigned int events, loop_fd_cb *cb,
             void *arg);

/* loop_mod - change the events (LOOP_IN|LOOP_OUT) of a registered fd,
 * keeping its class.  0 or -errno. */
int loop_mod(struct loop *l, int fd, unsigned int events);

/* loop_del - stop watching fd (safe from inside its own callback). */
void loop_del(struct loop *l, int fd);

/*
 * loop_should_yield - true when a prompt fd has events waiting now: a
 * bulk callback should return (leaving the rest of its work ready, to be
 * found again next turn) so that the prompt one is served and answered
 * first: the loop serves the prompt fds right after that callback, in
 * the same turn, and the turn hook then sends their replies with the
 * batch's.  One epoll_wait with no timeout on the prompt fds, or, with
 * the hint (loop_enable_yield_hint), two loads from memory unless input
 * came since the loop last waited; from any callback, on the loop's
 * thread.
 */
bool loop_should_yield(struct loop *l);

/*
 * loop_yield_filter - may the prompt fd whose callback is `cb` with
 * `cb_arg` have a bulk callback yield to it now?  `arg`: the one given
 * to loop_set_yield_filter.  Called by loop_should_yield for each ready
 * prompt fd it sees (up to 8); must not change the loop's fds.
 */
typedef bool loop_yield_filter(loop_fd_cb *cb, void *cb_arg, void *arg);

/*
 * loop_set_yield_filter - from now on loop_should_yield says yes only
 * for a ready prompt fd `f` accepts (NULL: any).  While the only ready
 * fds are refused, each ask looks again (a system call), hint or not:
 * the filter's answer may change between two asks.
 */
void loop_set_yield_filter(struct loop *l, loop_yield_filter *f, void *arg);

/*
 * loop_enable_yield_hint - let loop_should_yield learn without a system
 * call whether a prompt fd has news (readyhint.h: a multishot io_uring
 * poll of the prompt set), while bulk callbacks keep asking: the loop
 * makes the hint at the first ask and frees it after 200 ms without
 * one, since it costs every prompt fd's wakeup a little.  With the hint
 * a prompt fd's input counts only if it came after the loop's last
 * wait: input a prompt callback left unread waits for the next turn,
 * not for a yield.  Returns 0, or -errno when the kernel cannot (no
 * io_uring, forbidden, older than 5.19): the loop then asks epoll every
 * time, as without this call.
 */
int loop_enable_yield_hint(struct loop *l);

/* loop_yield_is_cheap - loop_should_yield costs no system call while
 * nothing came (the hint is made and live): a bulk callback may ask it
 * after every unit of work. */
bool loop_yield_is_cheap(const struct loop *l);

/*
 * loop_timer_add - call `cb` once, `msec` milliseconds from now.  Returns
 * a non-zero timer id, or 0 when out of memory.
 */
uint64_t loop_timer_add(struct loop *l, uint64_t msec, loop_timer_cb *cb,
                        void *arg);

/* loop_timer_del - cancel a timer that has not fired (no-op otherwise). */
void loop_timer_del(struct loop *l, uint64_t id);

/*
 * loop_set_turn_hook - `cb` runs at the end of every turn, after all fd
 * callbacks: the daemon's safe point (flush output, free dead connections).
 */
void loop_set_turn_hook(struct loop *l, loop_timer_cb *cb, void *arg);

/*
 * loop_set_poll - after a turn that ran fd callbacks, poll (epoll_wait
 * with no timeout, in a loop) for up to an adaptive window before
 * sleeping, the window never above `max_us` microseconds; 0 (the
 * default of loop_new) never polls.  A sleep and its wakeup cost more
 * than a small request in a VM, so a client sending back-to-back
 * requests is served without either; the window grows (from
 * LOOP_POLL_START_NS, doubling) only while the loop's idle periods are
 * shorter than `max_us`, and halves after every longer one, so an idle
 * daemon stops polling after a few sleeps.  The CPU spent is bounded by
 * the window per busy turn.
 */
void loop_set_poll(struct loop *l, unsigned int max_us);

/*
 * loop_set_poll_hook - while polling, call `cb` before each epoll_wait:
 * it looks for work that needs no system call to find (a guest's ring
 * index in shared memory) or that one call both finds and takes (a read
 * of the connection served last), serves it, and returns true if it
 * served anything.  That ends the wait as fd events would (the turn's
 * timers and turn hook run, and the next wait polls again) with no
 * epoll_wait.  While the hook finds nothing, the fds are polled at
 * once and then every LOOP_POLL_FDS_NS (the hook alone in between, so a
 * hot connection is looked at as often as one system call allows), and
 * after LOOP_POLL_HOOK_TURNS turns in a row that the hook ended, so no
 * fd waits behind it for long.  NULL removes it.
 */
typedef bool loop_poll_cb(struct loop *l, void *arg);
void loop_set_poll_hook(struct loop *l, loop_poll_cb *cb, void *arg);
#define LOOP_POLL_HOOK_TURNS 8u
#define LOOP_POLL_FDS_NS     4000u

/* The first window after polling has paused, in nanoseconds. */
#define LOOP_POLL_START_NS 8000u

/*
 * loop_poll_adapt - the next poll window (ns) given the current one, the
 * bound, how long the loop was idle before its last events (`idle_ns`,
 * polling included) and whether the wait ended with fd events (false:
 * a timer or nothing).  Pure; exposed for the tests.
 */
uint64_t loop_poll_adapt(uint64_t window_ns, uint64_t max_ns, uint64_t idle_ns,
                         bool had_events);

/* What polling did, for logs and tests. */
struct loop_poll_stats {
	uint64_t poll_hits;   /* polls that found events: sleeps saved */
	uint64_t poll_misses; /* polls that ran out of window */
	uint64_t sleeps;      /* waits that slept in epoll_wait */
	uint64_t hook_hits;   /* polls that the poll hook ended */
	uint64_t fd_polls;    /* epoll_waits without a timeout while polling */
	uint64_t window_ns;   /* the current window */
	uint64_t hints_made;  /* loop_enable_yield_hint's hint made */
	uint64_t hint_yields; /* yields the hint told of */
	uint64_t hint_stale;  /* the hint told, epoll found nothing */
};

/* loop_poll_stats - copy the counters into `st`. */
void loop_poll_stats(const struct loop *l, struct loop_poll_stats *st);

/* loop_run - run until loop_stop().  0, or -errno if epoll fails. */
int loop_run(struct loop *l);

/* loop_stop - make loop_run return after the current turn. */
void loop_stop(struct loop *l);

/* loop_now_ms - monotonic milliseconds (the loop's clock). */
uint64_t loop_now_ms(void);
/* loop_now_us - the same clock in microseconds, for work budgets. */
uint64_t loop_now_us(void);

#endif
