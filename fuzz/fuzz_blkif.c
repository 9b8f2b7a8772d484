/*
 * fuzz_blkif.c - libFuzzer target: the blkif backend's ring consumer and
 * request decoder (drivers/vbd/common/blkif_proto.c) against a guest's
 * ring pages made of fuzzer bytes.
 *
 * Input: 16 bytes of device (image size, read-only/discard/flush/barrier
 * flags, advertised indirect segments, ring order 0..2), then the ring
 * pages (req_prod and every slot as the guest wrote them), then bytes
 * that play the indirect pages.  The oracle: nothing out of range is ever
 * accepted (every accepted transfer lies inside the image, every segment
 * inside its page, counts within the protocol's and the device's limits,
 * no write on a read-only device, unadvertised operations refused), the
 * consumer never holds more requests than response slots, never reads
 * outside the ring pages (ASan: they are one exact heap allocation), and
 * a request's copy does not change when the guest rewrites its slot.
 * Built as a stub where Xen's headers are missing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#if __has_include(<xen/io/blkif.h>)
#include "drivers/vbd/common/blkif_proto.h"

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c))                                                      \
			abort();                                               \
	} while (0)

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The invariants of an accepted request. */
static void check_accepted(const blkif_request_t *raw,
                           const struct blkif_req *q,
                           const struct blkif_limits *lim)
{
	CHECK(q->id == raw->id && q->op == raw->operation);
	CHECK(q->sector <= lim->nr_sectors);
	CHECK(q->nr_sectors <= lim->nr_sectors - q->sector);
	if (lim->is_readonly)
		CHECK(
		    q->kind == BLKIF_K_READ ||
		    ((q->kind == BLKIF_K_FLUSH || q->kind == BLKIF_K_BARRIER) &&
		     q->nseg == 0));
	switch (raw->operation) {
	case BLKIF_OP_READ:
	case BLKIF_OP_WRITE:
		CHECK(q->nseg >= 1);
		/* fall through */
	case BLKIF_OP_FLUSH_DISKCACHE:
	case BLKIF_OP_WRITE_BARRIER:
		CHECK(raw->operation != BLKIF_OP_FLUSH_DISKCACHE ||
		      lim->has_flush);
		CHECK(raw->operation != BLKIF_OP_WRITE_BARRIER ||
		      lim->has_barrier);
		CHECK(!q->is_indirect);
		CHECK(q->nseg <= BLKIF_MAX_SEGMENTS_PER_REQUEST);
		{
			uint64_t total = 0;

			for (unsigned int i = 0; i < q->nseg; i++) {
				CHECK(q->seg[i].first <= q->seg[i].last);
				CHECK(q->seg[i].last < BLKIF_SECTS_PER_PAGE);
				total += q->seg[i].last - q->seg[i].first + 1u;
			}
			CHECK(total == q->nr_sectors);
		}
		break;
	case BLKIF_OP_DISCARD:
		CHECK(lim->has_discard && !lim->is_readonly);
		CHECK(q->kind == BLKIF_K_DISCARD);
		break;
	case BLKIF_OP_INDIRECT:
		CHECK(lim->max_indirect);
		CHECK(q->is_indirect);
		CHECK(q->kind == BLKIF_K_READ || q->kind == BLKIF_K_WRITE);
		CHECK(q->nseg >= 1 && q->nseg <= lim->max_indirect);
		CHECK(q->n_indirect >= 1 &&
		      q->n_indirect <= BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
		CHECK((size_t)q->n_indirect * BLKIF_SEGS_PER_INDIRECT_PAGE >=
		      q->nseg);
		break;
	default:
		CHECK(!"an unknown operation was accepted");
	}
}

/* The indirect segments, from the input's tail (zeros past its end). */
static void check_indirect(struct blkif_req *q, const struct blkif_limits *lim,
                           const uint8_t *tail, size_t ntail)
{
	size_t n = q->nseg, bytes = n * sizeof(struct blkif_request_segment);
	struct blkif_request_segment *segs = calloc(n, sizeof(*segs));
	uint64_t total = 0, sector = q->sector;

	CHECK(segs);
	memcpy(segs, tail, bytes < ntail ? bytes : ntail);
	if (blkif_req_check_segs(q, segs, (unsigned int)n, lim) == BLKIF_OK) {
		for (size_t i = 0; i < n; i++) {
			CHECK(segs[i].first_sect <= segs[i].last_sect);
			CHECK(segs[i].last_sect < BLKIF_SECTS_PER_PAGE);
			total += segs[i].last_sect - segs[i].first_sect + 1u;
		}
		CHECK(total == q->nr_sectors);
		CHECK(sector + total <= lim->nr_sectors);
	}
	free(segs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blkif_limits lim = {0};
	struct blkif_backring br;
	unsigned int order, npages;
	size_t ring_bytes, used;
	uint8_t *ring;

	if (size < 16)
		return 0;
	lim.nr_sectors = get_u64(data) % (1ull << 40);
	lim.is_readonly = data[8] & 1;
	lim.has_discard = (data[8] & 2) && !lim.is_readonly;
	lim.has_flush = data[8] & 4;
	lim.has_barrier = data[8] & 8;
	lim.max_indirect =
	    ((unsigned int)data[9] | (unsigned int)data[10] << 8) %
	    (BLKIF_MAX_INDIRECT_SEGS * 2 + 1);
	order = data[11] % 3;
	npages = 1u << order;
	data += 16;
	size -= 16;

	ring_bytes = (size_t)npages * BLKIF_PAGE_SIZE;
	ring = calloc(1, ring_bytes);
	if (!ring)
		return 0;
	used = size < ring_bytes ? size : ring_bytes;
	memcpy(ring, data, used);
	blkif_backring_init(&br, ring, npages);

	/* Twice the ring: the consumer must stop at its slots. */
	for (unsigned int i = 0; i < 2 * br.r.nr_ents + 2; i++) {
		blkif_request_t raw, again;
		struct blkif_req q;
		int got = blkif_backring_take(&br, &raw);

		CHECK(blkif_backring_in_flight(&br) <= br.r.nr_ents);
		if (got <= 0)
			break;
		/* The guest rewrites the slot: our copy stays. */
		memcpy(&again, &raw, sizeof(raw));
		memset(RING_GET_REQUEST(&br.r, br.r.req_cons - 1), 0xa5,
		       sizeof(raw));
		CHECK(!memcmp(&again, &raw, sizeof(raw)));
		if (blkif_req_decode(&raw, &lim, &q) == BLKIF_OK) {
			check_accepted(&raw, &q, &lim);
			if (q.is_indirect)
				check_indirect(&q, &lim, data + used,
				               size - used);
		}
		/* Answer every other one, as completions would. */
		if (i & 1) {
			blkif_backring_respond(&br, q.id, q.op, BLKIF_RSP_OKAY);
			blkif_backring_push(&br);
		}
	}
	free(ring);
	return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0; /* no xen/io/blkif.h on this machine: nothing to fuzz */
}
#endif
