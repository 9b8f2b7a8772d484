/*
 * test_num.c - strict decimal parsing (common/num.c): what passes, what
 * does not, and the bounds, ULONG_MAX included (a value that wraps around
 * must not pass as a small one).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "common/num.h"
#include "tests/support/check.h"

static void test_accepts(void)
{
	unsigned long v = 7;

	CHECK_EQ_INT(parse_uint("0", 10, &v), 0);
	CHECK_EQ_UINT(v, 0);
	CHECK_EQ_INT(parse_uint("10", 10, &v), 0);
	CHECK_EQ_UINT(v, 10);
	CHECK_EQ_INT(parse_uint("007", 10, &v), 0);
	CHECK_EQ_UINT(v, 7);
	CHECK_EQ_INT(parse_uint("32767", 0x7fff, &v), 0);
	CHECK_EQ_UINT(v, 0x7fff);
}

static void test_refuses(void)
{
	static const char *const bad[] = {"",   "-1", "+1",   " 1",
	                                  "1 ", "1a", "0x10", "1.0"};
	unsigned long v = 7;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ_INT(parse_uint(bad[i], 100, &v), -EINVAL);
		CHECK_EQ_UINT(v, 7);
	}
	CHECK_EQ_INT(parse_uint("11", 10, &v), -EINVAL);
	CHECK_EQ_INT(parse_uint("9", 5, &v), -EINVAL);
	CHECK_EQ_UINT(v, 7);
}

static void test_ulong_max(void)
{
	char s[64];
	unsigned long v = 7;

	snprintf(s, sizeof(s), "%lu", ULONG_MAX);
	CHECK_EQ_INT(parse_uint(s, ULONG_MAX, &v), 0);
	CHECK(v == ULONG_MAX);
	/* ULONG_MAX + 1 and 10 * ULONG_MAX wrap around in unsigned
	 * arithmetic: a check after the fact would let them through. */
	CHECK_EQ_INT(parse_uint("18446744073709551616", ULONG_MAX, &v),
	             -EINVAL);
	CHECK_EQ_INT(parse_uint("184467440737095516150", ULONG_MAX, &v),
	             -EINVAL);
	CHECK_EQ_INT(parse_uint("99999999999999999999999", ULONG_MAX, &v),
	             -EINVAL);
	CHECK(v == ULONG_MAX);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_accepts),
    CHECK_TEST(test_refuses),
    CHECK_TEST(test_ulong_max),
};

CHECK_MAIN(tests)
