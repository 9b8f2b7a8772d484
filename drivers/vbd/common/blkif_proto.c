/*
 * blkif_proto.c - the backend's consumer of a guest's blkif ring and the
 * request decoder.  Everything a guest writes is checked here before the
 * daemon acts on it: the ring indexes (an impossible req_prod breaks the
 * ring), then each request, copied out of the shared slot exactly once so
 * that what is checked is what is used (the double-fetch class, XSA-155).
 * The decoder never trusts a count or an index to size an access: every
 * segment is within its page, every transfer within the image.
 */
#include <errno.h>
#include <string.h>

#include "drivers/vbd/common/blkif_proto.h"

static const char *const refusal_names[BLKIF_REFUSAL_COUNT] = {
    [BLKIF_OK] = "ok",
    [BLKIF_BAD_OP] = "unknown or unadvertised operation",
    [BLKIF_BAD_NSEG] = "bad segment count",
    [BLKIF_BAD_SECT] = "bad first_sect/last_sect",
    [BLKIF_BAD_RANGE] = "sectors beyond the image",
    [BLKIF_READONLY] = "write on a read-only device",
    [BLKIF_BAD_INDIRECT] = "bad indirect request",
    [BLKIF_BAD_GRANT] = "grant reference not mappable",
    [BLKIF_IO_ERROR] = "I/O error on the image",
};

const char *blkif_refusal_str(enum blkif_refusal r)
{
	if ((unsigned int)r >= BLKIF_REFUSAL_COUNT)
		return "?";
	return refusal_names[r];
}

int16_t blkif_refusal_status(enum blkif_refusal r)
{
	if (r == BLKIF_OK)
		return BLKIF_RSP_OKAY;
	/* Linux's blkback answers EOPNOTSUPP only for what it does not
	 * offer; everything malformed is an I/O error. */
	return r == BLKIF_BAD_OP ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR;
}

/* sector + n within the image, without overflowing. */
static bool is_in_image(uint64_t sector, uint64_t n, uint64_t nr_sectors)
{
	return sector <= nr_sectors && n <= nr_sectors - sector;
}

enum blkif_refusal
blkif_req_check_segs(struct blkif_req *req,
                     const struct blkif_request_segment *segs, unsigned int n,
                     const struct blkif_limits *lim)
{
	uint64_t total = 0;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t first = segs[i].first_sect, last = segs[i].last_sect;

		if (first > last || last >= BLKIF_SECTS_PER_PAGE)
			return BLKIF_BAD_SECT;
		total += (uint64_t)(last - first) + 1;
		if (!req->is_indirect) {
			req->seg[i].gref = segs[i].gref;
			req->seg[i].first = first;
			req->seg[i].last = last;
		}
	}
	if (!is_in_image(req->sector, total, lim->nr_sectors))
		return BLKIF_BAD_RANGE;
	req->nr_sectors = total;
	return BLKIF_OK;
}

static enum blkif_refusal decode_discard(const blkif_request_t *in,
                                         const struct blkif_limits *lim,
                                         struct blkif_req *out)
{
	blkif_request_discard_t d;

	memcpy(&d, in, sizeof(d)); /* no aliasing of the union member */
	if (!lim->has_discard)
		return BLKIF_BAD_OP;
	if (lim->is_readonly)
		return BLKIF_READONLY;
	out->kind = BLKIF_K_DISCARD;
	out->is_secure = (d.flag & BLKIF_DISCARD_SECURE) != 0;
	out->sector = d.sector_number;
	out->nr_sectors = d.nr_sectors;
	if (!is_in_image(out->sector, out->nr_sectors, lim->nr_sectors))
		return BLKIF_BAD_RANGE;
	return BLKIF_OK;
}

static enum blkif_refusal decode_indirect(const blkif_request_t *in,
                                          const struct blkif_limits *lim,
                                          struct blkif_req *out)
{
	blkif_request_indirect_t ind;

	memcpy(&ind, in, sizeof(ind));
	if (!lim->max_indirect)
		return BLKIF_BAD_OP;
	if (ind.indirect_op == BLKIF_OP_READ)
		out->kind = BLKIF_K_READ;
	else if (ind.indirect_op == BLKIF_OP_WRITE)
		out->kind = BLKIF_K_WRITE;
	else
		return BLKIF_BAD_INDIRECT;
	if (out->kind == BLKIF_K_WRITE && lim->is_readonly)
		return BLKIF_READONLY;
	if (ind.nr_segments == 0 || ind.nr_segments > lim->max_indirect ||
	    ind.nr_segments > BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST *
	                          BLKIF_SEGS_PER_INDIRECT_PAGE)
		return BLKIF_BAD_NSEG;
	out->is_indirect = true;
	out->sector = ind.sector_number;
	out->nseg = ind.nr_segments;
	out->n_indirect = (out->nseg + BLKIF_SEGS_PER_INDIRECT_PAGE - 1) /
	                  BLKIF_SEGS_PER_INDIRECT_PAGE;
	for (unsigned int i = 0; i < out->n_indirect; i++)
		out->indirect_grefs[i] = ind.indirect_grefs[i];
	/* Quick reject before mapping anything: even one sector per
	 * segment would not fit. */
	if (!is_in_image(out->sector, out->nseg, lim->nr_sectors))
		return BLKIF_BAD_RANGE;
	return BLKIF_OK;
}

enum blkif_refusal blkif_req_decode(const blkif_request_t *in,
                                    const struct blkif_limits *lim,
                                    struct blkif_req *out)
{
	unsigned int nseg = in->nr_segments;
	bool may_be_empty = false;

	memset(out, 0, sizeof(*out));
	out->id = in->id;
	out->op = in->operation;
	switch (in->operation) {
	case BLKIF_OP_READ:
		out->kind = BLKIF_K_READ;
		break;
	case BLKIF_OP_WRITE:
		out->kind = BLKIF_K_WRITE;
		break;
	case BLKIF_OP_FLUSH_DISKCACHE:
		if (!lim->has_flush)
			return BLKIF_BAD_OP;
		out->kind = BLKIF_K_FLUSH;
		may_be_empty = true;
		break;
	case BLKIF_OP_WRITE_BARRIER:
		if (!lim->has_barrier)
			return BLKIF_BAD_OP;
		out->kind = BLKIF_K_BARRIER;
		may_be_empty = true;
		break;
	case BLKIF_OP_DISCARD:
		return decode_discard(in, lim, out);
	case BLKIF_OP_INDIRECT:
		return decode_indirect(in, lim, out);
	default:
		return BLKIF_BAD_OP;
	}
	if ((nseg == 0 && !may_be_empty) ||
	    nseg > BLKIF_MAX_SEGMENTS_PER_REQUEST)
		return BLKIF_BAD_NSEG;
	/* A flush with nothing to write flushes a read-only image
	 * harmlessly; anything that writes may not. */
	if (lim->is_readonly && out->kind != BLKIF_K_READ && nseg)
		return BLKIF_READONLY;
	out->sector = in->sector_number;
	out->nseg = nseg;
	return blkif_req_check_segs(out, in->seg, nseg, lim);
}

/* ---- the ring ---- */

void blkif_backring_init(struct blkif_backring *br, void *sring,
                         unsigned int npages)
{
	memset(br, 0, sizeof(*br));
	BACK_RING_INIT(&br->r, (blkif_sring_t *)sring,
	               (size_t)npages * BLKIF_PAGE_SIZE);
}

/*
 * The shared indexes are read and written with acquire/release (and
 * seq_cst where a store must be seen before a load, Dekker style)
 * accesses rather than ring.h's fence macros: the same ordering on the
 * machine, and ThreadSanitizer builds accept it.
 */
static RING_IDX req_prod_get(const struct blkif_backring *br)
{
	/* Acquire: the requests up to prod are read after prod. */
	return __atomic_load_n(&br->r.sring->req_prod, __ATOMIC_ACQUIRE);
}

/* An index the guest can only have written by mistake or malice: more
 * requests than slots, or req_prod behind what we consumed. */
static bool is_prod_bad(const struct blkif_backring *br, RING_IDX prod)
{
	RING_IDX ahead = prod - br->r.rsp_prod_pvt;

	return ahead > RING_SIZE(&br->r) ||
	       (RING_IDX)(prod - br->r.req_cons) > ahead;
}

int blkif_backring_take(struct blkif_backring *br, blkif_request_t *out)
{
	RING_IDX prod;

	if (br->is_broken)
		return -EPROTO;
	/* No response slot for another one: wait for completions. */
	if (RING_REQUEST_CONS_OVERFLOW(&br->r, br->r.req_cons))
		return 0;
	prod = req_prod_get(br);
	if (prod == br->r.req_cons) {
		/* Ask for an event at the next request, then look again:
		 * one published meanwhile would have no event. */
		__atomic_store_n(&br->r.sring->req_event, br->r.req_cons + 1,
		                 __ATOMIC_SEQ_CST);
		prod =
		    __atomic_load_n(&br->r.sring->req_prod, __ATOMIC_SEQ_CST);
		if (prod == br->r.req_cons)
			return 0;
	}
	if (is_prod_bad(br, prod)) {
		br->is_broken = true;
		return -EPROTO;
	}
	/* The one read of the slot: everything after works on *out. */
	memcpy(out, RING_GET_REQUEST(&br->r, br->r.req_cons), sizeof(*out));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	br->r.req_cons++;
	return 1;
}

void blkif_backring_respond(struct blkif_backring *br, uint64_t id, uint8_t op,
                            int16_t status)
{
	blkif_response_t rsp;

	memset(&rsp, 0, sizeof(rsp));
	rsp.id = id;
	rsp.operation = op;
	rsp.status = status;
	memcpy(RING_GET_RESPONSE(&br->r, br->r.rsp_prod_pvt), &rsp,
	       sizeof(rsp));
	br->r.rsp_prod_pvt++;
}

/*
 * ring.h's RING_PUSH_RESPONSES_AND_CHECK_NOTIFY with atomics: publish
 * rsp_prod (release: the responses first), then read rsp_event (seq_cst
 * on both: the guest's "rsp_event = cons + 1; check rsp_prod" and our
 * "rsp_prod = new; check rsp_event" cannot both miss), and notify when
 * rsp_event lies in (old, new].
 */
bool blkif_backring_push(struct blkif_backring *br)
{
	RING_IDX old = br->rsp_published, new = br->r.rsp_prod_pvt, ev;

	br->rsp_published = new;
	__atomic_store_n(&br->r.sring->rsp_prod, new, __ATOMIC_SEQ_CST);
	ev = __atomic_load_n(&br->r.sring->rsp_event, __ATOMIC_SEQ_CST);
	return (RING_IDX)(new - ev) < (RING_IDX)(new - old);
}

unsigned int blkif_backring_in_flight(const struct blkif_backring *br)
{
	return br->r.req_cons - br->r.rsp_prod_pvt;
}
