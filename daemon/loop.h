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

typedef void loop_fd_cb(struct loop *l, int fd, unsigned int events, void *arg);
typedef void loop_timer_cb(struct loop *l, void *arg);

/* loop_new - a loop with no fds.  NULL on failure (errno not used). */
struct loop *loop_new(void);

/* loop_free - close the epoll fd; the caller closes its own fds first. */
void loop_free(struct loop *l);

/*
 * loop_add - watch `fd` for `events` (LOOP_IN|LOOP_OUT), calling `cb`.
 * One registration per fd.  Returns 0 or -errno.
 */
int loop_add(struct loop *l, int fd, unsigned int events, loop_fd_cb *cb,
             void *arg);

/* loop_mod - change the events of a registered fd.  0 or -errno. */
int loop_mod(struct loop *l, int fd, unsigned int events);

/* loop_del - stop watching fd (safe from inside its own callback). */
void loop_del(struct loop *l, int fd);

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

/* loop_run - run until loop_stop().  0, or -errno if epoll fails. */
int loop_run(struct loop *l);

/* loop_stop - make loop_run return after the current turn. */
void loop_stop(struct loop *l);

/* loop_now_ms - monotonic milliseconds (the loop's clock). */
uint64_t loop_now_ms(void);

#endif
