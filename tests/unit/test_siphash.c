/*
 * test_siphash.c - SipHash-2-4 (common/siphash.c) against the reference
 * test vectors: key 00 01 .. 0f, message 00 01 .. (len - 1), for every
 * length 0..63.  The 64-bit results below are the published vectors read
 * as little-endian integers; each was also derived independently (by
 * OpenSSL 3's SIPHASH MAC with size 8 and by a separate implementation
 * written from the paper), and the three agree.  The paper's own example
 * is length 15: a129ca6149be45e5.
 */
#include <stdlib.h>
#include <string.h>

#include "common/siphash.h"
#include "tests/support/check.h"

static const uint64_t vectors[64] = {
    0x726fdb47dd0e0e31ULL, /*  0 */
    0x74f839c593dc67fdULL, /*  1 */
    0x0d6c8009d9a94f5aULL, /*  2 */
    0x85676696d7fb7e2dULL, /*  3 */
    0xcf2794e0277187b7ULL, /*  4 */
    0x18765564cd99a68dULL, /*  5 */
    0xcbc9466e58fee3ceULL, /*  6 */
    0xab0200f58b01d137ULL, /*  7 */
    0x93f5f5799a932462ULL, /*  8 */
    0x9e0082df0ba9e4b0ULL, /*  9 */
    0x7a5dbbc594ddb9f3ULL, /* 10 */
    0xf4b32f46226bada7ULL, /* 11 */
    0x751e8fbc860ee5fbULL, /* 12 */
    0x14ea5627c0843d90ULL, /* 13 */
    0xf723ca908e7af2eeULL, /* 14 */
    0xa129ca6149be45e5ULL, /* 15 */
    0x3f2acc7f57c29bdbULL, /* 16 */
    0x699ae9f52cbe4794ULL, /* 17 */
    0x4bc1b3f0968dd39cULL, /* 18 */
    0xbb6dc91da77961bdULL, /* 19 */
    0xbed65cf21aa2ee98ULL, /* 20 */
    0xd0f2cbb02e3b67c7ULL, /* 21 */
    0x93536795e3a33e88ULL, /* 22 */
    0xa80c038ccd5ccec8ULL, /* 23 */
    0xb8ad50c6f649af94ULL, /* 24 */
    0xbce192de8a85b8eaULL, /* 25 */
    0x17d835b85bbb15f3ULL, /* 26 */
    0x2f2e6163076bcfadULL, /* 27 */
    0xde4daaaca71dc9a5ULL, /* 28 */
    0xa6a2506687956571ULL, /* 29 */
    0xad87a3535c49ef28ULL, /* 30 */
    0x32d892fad841c342ULL, /* 31 */
    0x7127512f72f27cceULL, /* 32 */
    0xa7f32346f95978e3ULL, /* 33 */
    0x12e0b01abb051238ULL, /* 34 */
    0x15e034d40fa197aeULL, /* 35 */
    0x314dffbe0815a3b4ULL, /* 36 */
    0x027990f029623981ULL, /* 37 */
    0xcadcd4e59ef40c4dULL, /* 38 */
    0x9abfd8766a33735cULL, /* 39 */
    0x0e3ea96b5304a7d0ULL, /* 40 */
    0xad0c42d6fc585992ULL, /* 41 */
    0x187306c89bc215a9ULL, /* 42 */
    0xd4a60abcf3792b95ULL, /* 43 */
    0xf935451de4f21df2ULL, /* 44 */
    0xa9538f0419755787ULL, /* 45 */
    0xdb9acddff56ca510ULL, /* 46 */
    0xd06c98cd5c0975ebULL, /* 47 */
    0xe612a3cb9ecba951ULL, /* 48 */
    0xc766e62cfcadaf96ULL, /* 49 */
    0xee64435a9752fe72ULL, /* 50 */
    0xa192d576b245165aULL, /* 51 */
    0x0a8787bf8ecb74b2ULL, /* 52 */
    0x81b3e73d20b49b6fULL, /* 53 */
    0x7fa8220ba3b2eceaULL, /* 54 */
    0x245731c13ca42499ULL, /* 55 */
    0xb78dbfaf3a8d83bdULL, /* 56 */
    0xea1ad565322a1a0bULL, /* 57 */
    0x60e61c23a3795013ULL, /* 58 */
    0x6606d7e446282b93ULL, /* 59 */
    0x6ca4ecb15c5f91e1ULL, /* 60 */
    0x9f626da15c9625f3ULL, /* 61 */
    0xe51b38608ef25f57ULL, /* 62 */
    0x958a324ceb064572ULL, /* 63 */
};

static const struct siphash_key ref_key = {
    0x0706050403020100ULL, /* bytes 00..07, little-endian */
    0x0f0e0d0c0b0a0908ULL, /* bytes 08..0f */
};

static void fill(unsigned char *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		m[i] = (unsigned char)i;
}

/* The lengths the brief names, each with its message in an exact buffer. */
static void test_vectors_named_lengths(void)
{
	static const size_t lens[] = {0, 1, 7, 8, 15, 63};

	CHECK_EQ_UINT(vectors[0], 0x726fdb47dd0e0e31ULL);
	CHECK_EQ_UINT(vectors[15], 0xa129ca6149be45e5ULL);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		unsigned char *m = malloc(lens[i] ? lens[i] : 1);
		uint64_t h;

		CHECK(m != NULL);
		fill(m, lens[i]);
		h = siphash24(&ref_key, m, lens[i]);
		free(m);
		CHECK_EQ_UINT(h, vectors[lens[i]]);
	}
}

static void test_vectors_all_lengths(void)
{
	unsigned char m[64];

	fill(m, sizeof(m));
	for (size_t len = 0; len < 64; len++)
		CHECK_EQ_UINT(siphash24(&ref_key, m, len), vectors[len]);
}

/* Unaligned input gives the same result (the loads are bytewise). */
static void test_unaligned(void)
{
	unsigned char buf[64 + 8];

	for (size_t off = 1; off < 8; off++) {
		fill(buf + off, 64);
		for (size_t len = 0; len < 64; len++)
			CHECK_EQ_UINT(siphash24(&ref_key, buf + off, len),
			              vectors[len]);
	}
}

/* The key matters: each key bit changes the hash of the same message. */
static void test_key_sensitivity(void)
{
	unsigned char m[16];
	uint64_t base;

	fill(m, sizeof(m));
	base = siphash24(&ref_key, m, sizeof(m));
	for (int bit = 0; bit < 128; bit++) {
		struct siphash_key k = ref_key;

		if (bit < 64)
			k.k0 ^= 1ULL << bit;
		else
			k.k1 ^= 1ULL << (bit - 64);
		CHECK(siphash24(&k, m, sizeof(m)) != base);
	}
}

static void test_key_random(void)
{
	struct siphash_key a = {0, 0}, b = {0, 0};

	siphash_key_random(&a);
	siphash_key_random(&b);
	/* 2^-128 chance of a false failure. */
	CHECK(a.k0 != b.k0 || a.k1 != b.k1);
	CHECK(a.k0 != 0 || a.k1 != 0);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_vectors_named_lengths),
    CHECK_TEST(test_vectors_all_lengths),
    CHECK_TEST(test_unaligned),
    CHECK_TEST(test_key_sensitivity),
    CHECK_TEST(test_key_random),
};

CHECK_MAIN(tests)
