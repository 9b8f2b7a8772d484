/*
 * readyhint.c - a multishot io_uring poll whose news is read from shared
 * memory (readyhint.h says why).
 *
 * Raw system calls on the kernel's uapi header: the daemon needs one
 * request kind on one small ring, not a library.  The ring is set up
 * with COOP_TASKRUN (the kernel does not interrupt us with an IPI to
 * post a completion; it waits for our next system call, which a batch
 * of guests' requests makes anyway) and TASKRUN_FLAG (so the waker's
 * flag tells us at once all the same).  One submission entry is enough:
 * the poll is the only request, armed once and again only if it ends.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "daemon/readyhint.h"

#define HINT_SQ_ENTRIES 2u
/* Completions pile up only between two clears (one per loop turn); a
 * full queue ends the multishot poll and costs a re-arm, no more. */
#define HINT_CQ_ENTRIES 64u
#define HINT_POLL_DATA  0x1u /* user_data of the poll */

struct readyhint {
	int ring_fd;
	int fd; /* the watched fd */
	bool is_armed;
	bool is_dead; /* the poll failed: peek always says "look" */

	void *sq_map, *cq_map; /* cq_map == sq_map with one mapping */
	size_t sq_map_len, cq_map_len;
	struct io_uring_sqe *sqes;
	size_t sqes_len;

	unsigned int *sq_tail, *sq_mask, *sq_array, *sq_flags;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
};

static int sys_setup(unsigned int entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned int to_submit, unsigned int flags)
{
	return (int)syscall(__NR_io_uring_enter, fd, to_submit, 0u, flags, NULL,
	                    (size_t)0);
}

static void *field(void *map, uint32_t off)
{
	return (char *)map + off;
}

static int map_rings(struct readyhint *h, const struct io_uring_params *p)
{
	h->sq_map_len = p->sq_off.array + p->sq_entries * sizeof(unsigned int);
	h->cq_map_len =
	    p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		if (h->cq_map_len > h->sq_map_len)
			h->sq_map_len = h->cq_map_len;
		h->cq_map_len = h->sq_map_len;
	}
	h->sq_map =
	    mmap(NULL, h->sq_map_len, PROT_READ | PROT_WRITE,
	         MAP_SHARED | MAP_POPULATE, h->ring_fd, IORING_OFF_SQ_RING);
	if (h->sq_map == MAP_FAILED) {
		h->sq_map = NULL;
		return -errno;
	}
	if (p->features & IORING_FEAT_SINGLE_MMAP) {
		h->cq_map = h->sq_map;
	} else {
		h->cq_map = mmap(NULL, h->cq_map_len, PROT_READ | PROT_WRITE,
		                 MAP_SHARED | MAP_POPULATE, h->ring_fd,
		                 IORING_OFF_CQ_RING);
		if (h->cq_map == MAP_FAILED) {
			h->cq_map = NULL;
			return -errno;
		}
	}
	h->sqes_len = p->sq_entries * sizeof(struct io_uring_sqe);
	h->sqes = mmap(NULL, h->sqes_len, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_POPULATE, h->ring_fd, IORING_OFF_SQES);
	if (h->sqes == MAP_FAILED) {
		h->sqes = NULL;
		return -errno;
	}
	h->sq_tail = field(h->sq_map, p->sq_off.tail);
	h->sq_mask = field(h->sq_map, p->sq_off.ring_mask);
	h->sq_array = field(h->sq_map, p->sq_off.array);
	h->sq_flags = field(h->sq_map, p->sq_off.flags);
	h->cq_head = field(h->cq_map, p->cq_off.head);
	h->cq_tail = field(h->cq_map, p->cq_off.tail);
	h->cq_mask = field(h->cq_map, p->cq_off.ring_mask);
	h->cqes = field(h->cq_map, p->cq_off.cqes);
	return 0;
}

/* Take the completions posted so far; note a poll that ended. */
static void drain(struct readyhint *h)
{
	unsigned int head = *h->cq_head;
	unsigned int tail = __atomic_load_n(h->cq_tail, __ATOMIC_ACQUIRE);

	for (; head != tail; head++) {
		const struct io_uring_cqe *cqe = &h->cqes[head & *h->cq_mask];

		if (cqe->user_data != HINT_POLL_DATA ||
		    (cqe->flags & IORING_CQE_F_MORE))
			continue;
		/* The poll ended: the queue overflowed (re-arm), or it
		 * failed, and would fail again. */
		h->is_armed = false;
		if (cqe->res < 0)
			h->is_dead = true;
	}
	__atomic_store_n(h->cq_head, head, __ATOMIC_RELEASE);
}

/* Queue the multishot poll and submit it (a failure kills the hint),
 * and take what it says at once. */
static void hint_arm(struct readyhint *h)
{
	unsigned int tail = *h->sq_tail, idx = tail & *h->sq_mask;
	struct io_uring_sqe *sqe = &h->sqes[idx];
	uint32_t events = POLLIN;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_POLL_ADD;
	sqe->fd = h->fd;
	sqe->len = IORING_POLL_ADD_MULTI;
	sqe->user_data = HINT_POLL_DATA;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* The kernel reads the two halves swapped there. */
	events = (events << 16) | (events >> 16);
#endif
	sqe->poll32_events = events;
	h->sq_array[idx] = idx;
	__atomic_store_n(h->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (sys_enter(h->ring_fd, 1, 0) != 1) {
		h->is_dead = true;
		return;
	}
	h->is_armed = true;
	/* A poll armed while input waits reports it at once: old news. */
	drain(h);
}

struct readyhint *readyhint_new(int fd, int *err)
{
	struct io_uring_params p;
	struct readyhint *h = xcalloc(1, sizeof(*h));

	if (!h) {
		*err = -ENOMEM;
		return NULL;
	}
	h->fd = fd;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
	          IORING_SETUP_CQSIZE;
	p.cq_entries = HINT_CQ_ENTRIES;
	h->ring_fd = sys_setup(HINT_SQ_ENTRIES, &p);
	if (h->ring_fd < 0) {
		*err = -errno;
		xfree(h);
		return NULL;
	}
	*err = map_rings(h, &p);
	if (!*err) {
		hint_arm(h);
		if (h->is_dead)
			*err = -EIO;
	}
	if (*err) {
		readyhint_free(h);
		return NULL;
	}
	return h;
}

void readyhint_free(struct readyhint *h)
{
	if (!h)
		return;
	/* Closing the ring cancels the poll. */
	if (h->sqes)
		munmap(h->sqes, h->sqes_len);
	if (h->cq_map && h->cq_map != h->sq_map)
		munmap(h->cq_map, h->cq_map_len);
	if (h->sq_map)
		munmap(h->sq_map, h->sq_map_len);
	close(h->ring_fd);
	xfree(h);
}

bool readyhint_peek(const struct readyhint *h)
{
	unsigned int flags = __atomic_load_n(h->sq_flags, __ATOMIC_RELAXED);

	if (!h->is_armed || h->is_dead ||
	    (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)))
		return true;
	return __atomic_load_n(h->cq_tail, __ATOMIC_ACQUIRE) != *h->cq_head;
}

void readyhint_clear(struct readyhint *h)
{
	if (h->is_dead)
		return;
	drain(h);
	/* Completions that did not fit wait in the kernel until asked,
	 * once there is room: the poll's last one is among them. */
	for (int i = 0;
	     i < 4 && (__atomic_load_n(h->sq_flags, __ATOMIC_RELAXED) &
	               IORING_SQ_CQ_OVERFLOW);
	     i++) {
		(void)sys_enter(h->ring_fd, 0, IORING_ENTER_GETEVENTS);
		drain(h);
	}
	if (h->is_armed || h->is_dead)
		return;
	hint_arm(h);
}

bool readyhint_is_live(const struct readyhint *h)
{
	return h->is_armed && !h->is_dead;
}
