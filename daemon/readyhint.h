/*
 * readyhint.h - learn without a system call that an fd has had input
 * since the last look.
 *
 * The loop asks between units of bulk work (a guest's ring) whether a
 * prompt fd (dom0's sockets, in one epoll set) waits.  Asking epoll is a
 * system call, ~1 us in a VM: more than a guest's small request, so it
 * could only be asked every few kicks, and dom0 waited for them.  A
 * multishot poll of that epoll set through io_uring makes the kernel say
 * it in memory we map: the waker sets a flag in the shared ring
 * (IORING_SQ_TASKRUN, with IORING_SETUP_TASKRUN_FLAG) at once, and the
 * completion lands in the completion queue at our next system call, so
 * a look is two loads.
 *
 * A hint, never an answer: it says "something arrived since the last
 * readyhint_clear", possibly input already served; the caller confirms
 * with epoll before acting.  It never misses input that arrives after a
 * clear while the hint is live.
 *
 * Make it in the process and thread that will look: io_uring sends the
 * poll's completion to the task that armed it, and cancels the poll when
 * that task exits (a hint armed before the daemon forks dies with the
 * parent).  Single-threaded; the owner closes the watched fd after
 * readyhint_free.
 */
#ifndef XSTORE_READYHINT_H
#define XSTORE_READYHINT_H

#include <stdbool.h>

struct readyhint;

/*
 * readyhint_new - watch `fd` (any pollable fd; here an epoll set) for
 * input.  Returns the hint, or NULL with *err = -errno: -ENOSYS or
 * -EPERM where io_uring is missing or forbidden (kernel.io_uring_disabled,
 * seccomp), -EINVAL on kernels before 5.19 (no TASKRUN flag), -ENOMEM.
 * The caller then asks the fd itself every time.
 */
struct readyhint *readyhint_new(int fd, int *err);

/* readyhint_free - cancel the poll and unmap the ring (NULL: no-op). */
void readyhint_free(struct readyhint *h);

/*
 * readyhint_peek - true if input may have arrived since the last clear:
 * two loads from shared memory, no system call.  Also true once the
 * hint is dead (readyhint_is_live false), so a caller that only asks
 * the fd when this says so never misses input.
 */
bool readyhint_peek(const struct readyhint *h);

/*
 * readyhint_clear - forget what the hint has seen so far.  Only
 * completions already posted are taken: call it before the look at the
 * fd that it stands for (epoll_wait), so input in between is seen by
 * both.  Re-arms the poll if the kernel ended it (a full completion
 * queue), a system call that is rare; a poll that fails kills the hint.
 */
void readyhint_clear(struct readyhint *h);

/* readyhint_is_live - the poll is armed and peek means something. */
bool readyhint_is_live(const struct readyhint *h);

#endif
