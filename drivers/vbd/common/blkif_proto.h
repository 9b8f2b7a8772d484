/*
 * blkif_proto.h - the blkif protocol as both halves of the vbd driver
 * see it: the ring types of Xen's own headers (xen/io/blkif.h and ring.h,
 * included, never re-typed), the backend's consumer of a guest's shared
 * ring (indexes checked before anything is read) and the decoder that
 * turns one request, copied out of the shared page once, into either a
 * checked description of the I/O or a refusal.  Pure: no I/O, no
 * globals, no allocation; the fuzzer (fuzz/fuzz_blkif.c) and the unit
 * tests drive it directly.
 */
#ifndef VBD_BLKIF_PROTO_H
#define VBD_BLKIF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * ring.h leaves the barriers to its user from interface 3.2.8 on (before,
 * it calls a kernel's mb()); we are a user program with C11 fences.
 */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00030208
#endif
#define xen_mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#define BLKIF_PAGE_SIZE      4096u
#define BLKIF_SECTOR_SIZE    512u
#define BLKIF_SECTS_PER_PAGE (BLKIF_PAGE_SIZE / BLKIF_SECTOR_SIZE)
/* Segments in one indirect page. */
#define BLKIF_SEGS_PER_INDIRECT_PAGE                                           \
	(BLKIF_PAGE_SIZE / sizeof(struct blkif_request_segment))
/* The most indirect segments we ever advertise (Linux's default max). */
#define BLKIF_MAX_INDIRECT_SEGS 256u
/* The largest ring: 2^4 pages. */
#define BLKIF_MAX_RING_ORDER 4u

/* What the device allows: the decoder's whole view of it. */
struct blkif_limits {
	uint64_t nr_sectors;       /* image size, 512-byte sectors */
	unsigned int max_indirect; /* advertised max segments; 0: none */
	bool is_readonly;
	bool has_discard;
	bool has_flush;   /* feature-flush-cache */
	bool has_barrier; /* feature-barrier */
};

/* Why a request was refused: one log line per class. */
enum blkif_refusal {
	BLKIF_OK = 0,
	BLKIF_BAD_OP,       /* unknown or unadvertised operation */
	BLKIF_BAD_NSEG,     /* 0 or too many segments */
	BLKIF_BAD_SECT,     /* first_sect/last_sect out of the page */
	BLKIF_BAD_RANGE,    /* sectors beyond the image */
	BLKIF_READONLY,     /* a write on a read-only device */
	BLKIF_BAD_INDIRECT, /* an indirect header that cannot be */
	BLKIF_BAD_GRANT,    /* a grant that could not be mapped */
	BLKIF_IO_ERROR,     /* the image refused the I/O */
	BLKIF_REFUSAL_COUNT
};

/* blkif_refusal_str - a short name of `r` (static).  Any thread. */
const char *blkif_refusal_str(enum blkif_refusal r);

/* The kinds of I/O a decoded request asks for. */
enum blkif_kind {
	BLKIF_K_READ,
	BLKIF_K_WRITE,
	BLKIF_K_FLUSH,   /* segments (if any) written, then flushed */
	BLKIF_K_BARRIER, /* as flush, after everything before it */
	BLKIF_K_DISCARD,
};

/* One checked segment: bytes [first*512, (last+1)*512) of page `gref`. */
struct blkif_seg {
	uint32_t gref;
	uint8_t first, last;
};

/*
 * A decoded request.  id and op are always set (for the response);
 * the rest only when blkif_req_decode() returned BLKIF_OK.  For an
 * indirect request, the segments are not known yet: nseg is the count
 * the header promises, n_indirect its pages, and blkif_req_set_segs()
 * checks the segments once they are copied out of those pages.
 */
struct blkif_req {
	uint64_t id;
	uint8_t op; /* the operation as the guest wrote it (echoed) */
	enum blkif_kind kind;
	bool is_indirect;
	bool is_secure;      /* discard: BLKIF_DISCARD_SECURE */
	uint64_t sector;     /* first sector */
	uint64_t nr_sectors; /* the whole transfer, once segments are known */
	unsigned int nseg;
	unsigned int n_indirect;
	uint32_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct blkif_seg seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

/*
 * blkif_req_decode - check the private copy `in` of a request against
 * `lim`, fill *out.  Never reads the shared ring: the caller copied the
 * request out once (a guest may rewrite the slot meanwhile: XSA-155).
 * Returns BLKIF_OK or why the request must get an error response
 * (BLKIF_BAD_OP answers BLKIF_RSP_EOPNOTSUPP, the others
 * BLKIF_RSP_ERROR: see blkif_refusal_status()).  Any thread.
 */
enum blkif_refusal blkif_req_decode(const blkif_request_t *in,
                                    const struct blkif_limits *lim,
                                    struct blkif_req *out);

/*
 * blkif_req_check_segs - check `n` segments (direct ones from the
 * request, or indirect ones from a private copy of the indirect pages)
 * for `req` and record the transfer's length; for a direct request it
 * also copies them into req->seg.  BLKIF_OK or the refusal.  Any thread.
 */
enum blkif_refusal
blkif_req_check_segs(struct blkif_req *req,
                     const struct blkif_request_segment *segs, unsigned int n,
                     const struct blkif_limits *lim);

/* blkif_refusal_status - the BLKIF_RSP_* for a refusal. */
int16_t blkif_refusal_status(enum blkif_refusal r);

/*
 * A backend's view of a guest's shared ring.  The guest owns req_prod
 * and rsp_event and may write anything there at any time; we read each
 * once per look and check it before use.
 */
struct blkif_backring {
	blkif_back_ring_t r;
	RING_IDX rsp_published; /* our rsp_prod (the page's is writable) */
	bool is_broken;         /* the guest's indexes were impossible */
};

/*
 * blkif_backring_init - attach to the shared ring of `npages` pages at
 * `sring` (mapped, not initialised by us: the frontend did).  Any thread.
 */
void blkif_backring_init(struct blkif_backring *br, void *sring,
                         unsigned int npages);

/*
 * blkif_backring_take - copy the next request out of the ring into
 * *out (once: the copy is what gets checked and used), if there is one
 * and a response slot for it (we never take more requests than we can
 * answer, so no response overwrites one the guest has not consumed).
 * Returns 1 with a request, 0 when there is none to take now (re-arms
 * req_event before saying so), -EPROTO when the guest's req_prod is
 * impossible (more requests than slots): the ring is broken from then
 * on, and the caller stops the device.
 */
int blkif_backring_take(struct blkif_backring *br, blkif_request_t *out);

/*
 * blkif_backring_respond - queue a response (id, op, status) in the next
 * response slot.  Call at most once per taken request.
 * blkif_backring_push - publish the queued responses; true when the
 * guest asked to be notified.
 */
void blkif_backring_respond(struct blkif_backring *br, uint64_t id, uint8_t op,
                            int16_t status);
bool blkif_backring_push(struct blkif_backring *br);

/* blkif_backring_in_flight - requests taken and not answered yet. */
unsigned int blkif_backring_in_flight(const struct blkif_backring *br);

#endif /* VBD_BLKIF_PROTO_H */
