/*
 * test_blkif.c - unit tests of the blkif request decoder and the
 * backend's ring consumer (drivers/vbd/common/blkif_proto.c): each
 * refusal class, the edges of the image, the ring index checks, and the
 * double fetch (the copy a request is decoded from is taken once).
 * Without Xen's headers it reports one skip and no tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/check.h"

#if __has_include(<xen/io/blkif.h>)
#include "drivers/vbd/common/blkif_proto.h"

static const struct blkif_limits lim = {.nr_sectors = 1024,
                                        .max_indirect = 256,
                                        .has_discard = true,
                                        .has_flush = true,
                                        .has_barrier = true};

static blkif_request_t rw(uint8_t op, uint64_t sector, unsigned int nseg,
                          uint8_t first, uint8_t last)
{
	blkif_request_t r;

	memset(&r, 0, sizeof(r));
	r.operation = op;
	r.nr_segments = (uint8_t)nseg;
	r.id = 0x1234;
	r.sector_number = sector;
	for (unsigned int i = 0; i < nseg && i < 11; i++)
		r.seg[i] = (struct blkif_request_segment){
		    .gref = 8 + i, .first_sect = first, .last_sect = last};
	return r;
}

static enum blkif_refusal dec(blkif_request_t r, const struct blkif_limits *l)
{
	struct blkif_req q;

	return blkif_req_decode(&r, l, &q);
}

static void test_read_write_ok(void)
{
	struct blkif_req q;
	blkif_request_t r = rw(BLKIF_OP_WRITE, 1024 - 88, 11, 0, 7);

	CHECK_EQ_INT(blkif_req_decode(&r, &lim, &q), BLKIF_OK);
	CHECK_EQ_UINT(q.nr_sectors, 88);
	CHECK_EQ_UINT(q.id, 0x1234);
	CHECK_EQ_INT(q.kind, BLKIF_K_WRITE);
	CHECK_EQ_UINT(q.seg[10].gref, 18);
	r = rw(BLKIF_OP_READ, 1023, 1, 7, 7);
	CHECK_EQ_INT(blkif_req_decode(&r, &lim, &q), BLKIF_OK);
	CHECK_EQ_UINT(q.nr_sectors, 1);
}

static void test_range(void)
{
	CHECK_EQ_INT(dec(rw(BLKIF_OP_WRITE, 1024 - 87, 11, 0, 7), &lim),
	             BLKIF_BAD_RANGE);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 1024, 1, 0, 0), &lim),
	             BLKIF_BAD_RANGE);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, UINT64_MAX - 3, 1, 0, 7), &lim),
	             BLKIF_BAD_RANGE);
}

static void test_segments(void)
{
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 0, 0, 0, 7), &lim), BLKIF_BAD_NSEG);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 0, 12, 0, 7), &lim), BLKIF_BAD_NSEG);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 0, 255, 0, 7), &lim),
	             BLKIF_BAD_NSEG);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 0, 1, 3, 2), &lim), BLKIF_BAD_SECT);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 0, 1, 0, 8), &lim), BLKIF_BAD_SECT);
	/* A flush may carry nothing. */
	CHECK_EQ_INT(dec(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0), &lim),
	             BLKIF_OK);
}

static void test_ops(void)
{
	struct blkif_limits plain = lim;
	blkif_request_discard_t d = {.operation = BLKIF_OP_DISCARD,
	                             .id = 9,
	                             .sector_number = 1000,
	                             .nr_sectors = 24};
	blkif_request_t r;

	CHECK_EQ_INT(dec(rw(4, 0, 1, 0, 7), &lim), BLKIF_BAD_OP);
	CHECK_EQ_INT(dec(rw(200, 0, 1, 0, 7), &lim), BLKIF_BAD_OP);
	CHECK_EQ_INT(blkif_refusal_status(BLKIF_BAD_OP), BLKIF_RSP_EOPNOTSUPP);
	CHECK_EQ_INT(blkif_refusal_status(BLKIF_BAD_RANGE), BLKIF_RSP_ERROR);
	plain.has_flush = plain.has_barrier = plain.has_discard = false;
	plain.max_indirect = 0;
	CHECK_EQ_INT(dec(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0), &plain),
	             BLKIF_BAD_OP);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_WRITE_BARRIER, 0, 0, 0, 0), &plain),
	             BLKIF_BAD_OP);
	memset(&r, 0, sizeof(r));
	memcpy(&r, &d, sizeof(d));
	CHECK_EQ_INT(dec(r, &lim), BLKIF_OK);
	CHECK_EQ_INT(dec(r, &plain), BLKIF_BAD_OP);
	d.nr_sectors = 25;
	memcpy(&r, &d, sizeof(d));
	CHECK_EQ_INT(dec(r, &lim), BLKIF_BAD_RANGE);
	d.sector_number = UINT64_MAX;
	d.nr_sectors = 2;
	memcpy(&r, &d, sizeof(d));
	CHECK_EQ_INT(dec(r, &lim), BLKIF_BAD_RANGE);
}

static void test_readonly(void)
{
	struct blkif_limits ro = lim;

	ro.is_readonly = true;
	CHECK_EQ_INT(dec(rw(BLKIF_OP_WRITE, 0, 1, 0, 7), &ro), BLKIF_READONLY);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_WRITE_BARRIER, 0, 1, 0, 7), &ro),
	             BLKIF_READONLY);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0, 0), &ro),
	             BLKIF_OK);
	CHECK_EQ_INT(dec(rw(BLKIF_OP_READ, 0, 1, 0, 7), &ro), BLKIF_OK);
}

static void test_indirect(void)
{
	blkif_request_indirect_t in = {.operation = BLKIF_OP_INDIRECT,
	                               .indirect_op = BLKIF_OP_WRITE,
	                               .nr_segments = 513,
	                               .sector_number = 0};
	struct blkif_request_segment segs[2] = {{8, 0, 7}, {9, 2, 3}};
	struct blkif_req q;
	blkif_request_t r;

	memset(&r, 0, sizeof(r));
	memcpy(&r, &in, sizeof(in));
	CHECK_EQ_INT(blkif_req_decode(&r, &lim, &q), BLKIF_BAD_NSEG);
	in.nr_segments = 2;
	memcpy(&r, &in, sizeof(in));
	CHECK_EQ_INT(blkif_req_decode(&r, &lim, &q), BLKIF_OK);
	CHECK_EQ_UINT(q.n_indirect, 1);
	CHECK_EQ_INT(blkif_req_check_segs(&q, segs, 2, &lim), BLKIF_OK);
	CHECK_EQ_UINT(q.nr_sectors, 10);
	segs[1].last_sect = 9;
	CHECK_EQ_INT(blkif_req_check_segs(&q, segs, 2, &lim), BLKIF_BAD_SECT);
	in.indirect_op = BLKIF_OP_DISCARD;
	memcpy(&r, &in, sizeof(in));
	CHECK_EQ_INT(blkif_req_decode(&r, &lim, &q), BLKIF_BAD_INDIRECT);
}

/* A one-page ring in heap memory, as the frontend initialised it. */
static void *ring_new(struct blkif_backring *br)
{
	blkif_sring_t *s = calloc(1, BLKIF_PAGE_SIZE);

	if (s) {
		SHARED_RING_INIT(s);
		blkif_backring_init(br, s, 1);
	}
	return s;
}

static void test_ring_indexes(void)
{
	struct blkif_backring br;
	blkif_sring_t *s = ring_new(&br);
	blkif_request_t r;

	CHECK(s != NULL);
	CHECK_EQ_UINT(br.r.nr_ents, 32);
	/* Nothing there: an event without a request takes nothing and
	 * asks for an event at the next one. */
	CHECK_EQ_INT(blkif_backring_take(&br, &r), 0);
	CHECK_EQ_UINT(s->req_event, 1);
	/* 32 requests: all taken; a 33rd waits for a response slot. */
	s->req_prod = 32;
	for (int i = 0; i < 32; i++)
		CHECK_EQ_INT(blkif_backring_take(&br, &r), 1);
	CHECK_EQ_INT(blkif_backring_take(&br, &r), 0);
	CHECK_EQ_UINT(blkif_backring_in_flight(&br), 32);
	blkif_backring_respond(&br, 1, 0, 0);
	blkif_backring_push(&br);
	CHECK_EQ_UINT(s->rsp_prod, 1);
	CHECK_EQ_INT(blkif_backring_take(&br, &r), 0); /* none published */
	/* req_prod jumping past the ring: broken for good. */
	s->req_prod = 1 + 33 + 1;
	CHECK_EQ_INT(blkif_backring_take(&br, &r), -EPROTO);
	s->req_prod = 33;
	CHECK_EQ_INT(blkif_backring_take(&br, &r), -EPROTO);
	free(s);
}

static void test_ring_prod_backwards(void)
{
	struct blkif_backring br;
	blkif_sring_t *s = ring_new(&br);
	blkif_request_t r;

	CHECK(s != NULL);
	s->req_prod = 4;
	for (int i = 0; i < 4; i++)
		CHECK_EQ_INT(blkif_backring_take(&br, &r), 1);
	s->req_prod = 2; /* behind what we consumed */
	CHECK_EQ_INT(blkif_backring_take(&br, &r), -EPROTO);
	free(s);
}

/* XSA-155 class: the decoder works on the copy take() made, whatever
 * the guest writes into the slot afterwards. */
static void test_double_fetch(void)
{
	struct blkif_backring br;
	blkif_sring_t *s = ring_new(&br);
	blkif_request_t r, good = rw(BLKIF_OP_READ, 0, 1, 0, 7);
	struct blkif_req q;

	CHECK(s != NULL);
	memcpy(&s->ring[0].req, &good, sizeof(good));
	s->req_prod = 1;
	CHECK_EQ_INT(blkif_backring_take(&br, &r), 1);
	s->ring[0].req.nr_segments = 255;
	s->ring[0].req.sector_number = UINT64_MAX;
	s->ring[0].req.operation = BLKIF_OP_WRITE;
	CHECK_EQ_INT(blkif_req_decode(&r, &lim, &q), BLKIF_OK);
	CHECK_EQ_INT(q.kind, BLKIF_K_READ);
	CHECK_EQ_UINT(q.sector, 0);
	CHECK_EQ_UINT(q.nseg, 1);
	free(s);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_read_write_ok), CHECK_TEST(test_range),
    CHECK_TEST(test_segments),      CHECK_TEST(test_ops),
    CHECK_TEST(test_readonly),      CHECK_TEST(test_indirect),
    CHECK_TEST(test_ring_indexes),  CHECK_TEST(test_ring_prod_backwards),
    CHECK_TEST(test_double_fetch),
};
CHECK_MAIN(tests)
#else
int main(void)
{
	printf("SKIP blkif: no /usr/include/xen/io/blkif.h\n");
	printf("0 passed, 0 failed\n");
	return 0;
}
#endif
