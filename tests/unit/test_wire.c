/*
 * test_wire.c - message type names and the errno <-> wire string table
 * (common/wire.c).
 */
#include <errno.h>
#include <string.h>

#include "xstore/wire.h"
#include "tests/support/check.h"

static void test_type_names(void)
{
	static const char *const names[XS_TYPE_COUNT] = {
	    "CONTROL",
	    "DIRECTORY",
	    "READ",
	    "GET_PERMS",
	    "WATCH",
	    "UNWATCH",
	    "TRANSACTION_START",
	    "TRANSACTION_END",
	    "INTRODUCE",
	    "RELEASE",
	    "GET_DOMAIN_PATH",
	    "WRITE",
	    "MKDIR",
	    "RM",
	    "SET_PERMS",
	    "WATCH_EVENT",
	    "ERROR",
	    "IS_DOMAIN_INTRODUCED",
	    "RESUME",
	    "SET_TARGET",
	    NULL, /* 20: RESTRICT, removed */
	    "RESET_WATCHES",
	    "DIRECTORY_PART",
	    "GET_FEATURE",
	    "SET_FEATURE",
	    "GET_QUOTA",
	    "SET_QUOTA",
	};

	CHECK_EQ_INT(XS_TYPE_COUNT, 27);
	for (uint32_t t = 0; t < XS_TYPE_COUNT; t++)
		CHECK_EQ_STR(xs_type_name(t), names[t]);
	/* The numbers the protocol fixes, spot-checked through the enum. */
	CHECK_EQ_STR(xs_type_name(XS_READ), "READ");
	CHECK_EQ_STR(xs_type_name(XS_WRITE), "WRITE");
	CHECK_EQ_INT(XS_WRITE, 11);
	CHECK_EQ_INT(XS_ERROR, 16);
	CHECK_EQ_INT(XS_SET_QUOTA, 26);
	/* Everything else is unnamed. */
	CHECK_EQ_STR(xs_type_name(XS_TYPE_COUNT), NULL);
	CHECK_EQ_STR(xs_type_name(28), NULL);
	CHECK_EQ_STR(xs_type_name(XS_INVALID), NULL);
	CHECK_EQ_STR(xs_type_name(UINT32_MAX), NULL);
}

static const struct {
	int err;
	const char *name;
} errors[] = {
    {EINVAL, "EINVAL"}, {EACCES, "EACCES"},   {EEXIST, "EEXIST"},
    {EISDIR, "EISDIR"}, {ENOENT, "ENOENT"},   {ENOMEM, "ENOMEM"},
    {ENOSPC, "ENOSPC"}, {EIO, "EIO"},         {ENOTEMPTY, "ENOTEMPTY"},
    {ENOSYS, "ENOSYS"}, {EROFS, "EROFS"},     {EBUSY, "EBUSY"},
    {EAGAIN, "EAGAIN"}, {EISCONN, "EISCONN"}, {E2BIG, "E2BIG"},
    {EPERM, "EPERM"},
};

#define NERRORS (sizeof(errors) / sizeof(errors[0]))

static void test_errno_names(void)
{
	for (size_t i = 0; i < NERRORS; i++)
		CHECK_EQ_STR(xs_errno_name(errors[i].err), errors[i].name);
}

static void test_errno_round_trip(void)
{
	for (size_t i = 0; i < NERRORS; i++) {
		const char *name = xs_errno_name(errors[i].err);
		size_t len = strlen(name);

		/* With and without the trailing nul. */
		CHECK_EQ_INT(xs_errno_parse(name, len + 1), errors[i].err);
		CHECK_EQ_INT(xs_errno_parse(name, len), errors[i].err);
	}
}

static void test_errno_unknown(void)
{
	/* Errors outside the table travel as EINVAL. */
	CHECK_EQ_STR(xs_errno_name(0), "EINVAL");
	CHECK_EQ_STR(xs_errno_name(-1), "EINVAL");
	CHECK_EQ_STR(xs_errno_name(-ENOENT), "EINVAL");
	CHECK_EQ_STR(xs_errno_name(ERANGE), "EINVAL");
	CHECK_EQ_STR(xs_errno_name(ENAMETOOLONG), "EINVAL");
	CHECK_EQ_STR(xs_errno_name(9999), "EINVAL");
	/* Strings outside the table parse as EINVAL. */
	CHECK_EQ_INT(xs_errno_parse("", 0), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("", 1), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("ERANGE", 7), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("enoent", 7), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("ENOEN", 6), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("ENOENTX", 8), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("ENOENT ", 8), EINVAL);
	CHECK_EQ_INT(xs_errno_parse(" ENOENT", 8), EINVAL);
	/* A prefix of the string is not the string. */
	CHECK_EQ_INT(xs_errno_parse("ENOENT", 3), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("EIOX", 3), EIO);
	/* Two nuls, or an embedded one: not a name. */
	CHECK_EQ_INT(xs_errno_parse("ENOENT\0", 8), EINVAL);
	CHECK_EQ_INT(xs_errno_parse("EIO\0EIO", 8), EINVAL);
}

/* Every name is distinct and every errno distinct: a true bijection. */
static void test_errno_table_distinct(void)
{
	for (size_t i = 0; i < NERRORS; i++)
		for (size_t j = i + 1; j < NERRORS; j++) {
			CHECK(errors[i].err != errors[j].err);
			CHECK(strcmp(xs_errno_name(errors[i].err),
			             xs_errno_name(errors[j].err)) != 0);
		}
}

static const struct check_test tests[] = {
    CHECK_TEST(test_type_names),           CHECK_TEST(test_errno_names),
    CHECK_TEST(test_errno_round_trip),     CHECK_TEST(test_errno_unknown),
    CHECK_TEST(test_errno_table_distinct),
};

CHECK_MAIN(tests)
