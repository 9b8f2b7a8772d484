/*
 * check.h - a tiny unit-test harness with no dependencies.
 *
 * A test file defines `static void test_x(void)` functions, lists them in
 * a table and ends with CHECK_MAIN(table):
 *
 *	static const struct check_test tests[] = {
 *		CHECK_TEST(test_x),
 *		CHECK_TEST(test_y),
 *	};
 *	CHECK_MAIN(tests)
 *
 * The CHECK* macros print "file:line: expression" and the values on
 * failure, mark the running test failed and `return` from the enclosing
 * function, so they are used directly in a test function.  A helper
 * function may use them too; its caller then continues unless it tests
 * check_failed() (or use CHECK_OK(helper(...)) with a helper returning
 * bool).  Each argument of a CHECK macro is evaluated exactly once.
 *
 * The binary runs every test, or only the one named by argv[1] ("-l"
 * lists the names), prints "PASS name" / "FAIL name" per test and finally
 * exactly "N passed, N failed"; it exits 1 if any test failed, 2 on a
 * usage error.  Output goes to stdout, line-buffered, so that it stays in
 * order with sanitizer reports on stderr.  Not thread-safe: tests run one
 * after the other in one thread.
 */
#ifndef XSTORE_TESTS_CHECK_H
#define XSTORE_TESTS_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct check_test {
	const char *name;
	void (*fn)(void);
};

#define CHECK_TEST(fn)                                                         \
	{                                                                      \
#fn, fn                                                        \
	}

/*
 * check_main - run `tests[0..n)` as described above and return the exit
 * status for main().
 */
int check_main(int argc, char **argv, const struct check_test *tests, size_t n);

#define CHECK_MAIN(table)                                                      \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		return check_main(argc, argv, (table),                         \
		                  sizeof(table) / sizeof((table)[0]));         \
	}

/* check_failed - has the running test failed so far? */
bool check_failed(void);

/*
 * The failure reporters behind the macros.  Each prints its message with
 * `file`:`line`, marks the running test failed and returns false when
 * the comparison fails; true otherwise.
 */
bool check_true(bool ok, const char *expr, const char *file, int line);
bool check_eq_int(intmax_t a, intmax_t b, const char *ea, const char *eb,
                  const char *file, int line);
bool check_eq_uint(uintmax_t a, uintmax_t b, const char *ea, const char *eb,
                   const char *file, int line);
bool check_eq_str(const char *a, const char *b, const char *ea, const char *eb,
                  const char *file, int line);
bool check_eq_mem(const void *a, const void *b, size_t len, const char *ea,
                  const char *eb, const char *file, int line);

/* CHECK(cond): cond must be true. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!check_true((cond) ? true : false, #cond, __FILE__,        \
		                __LINE__))                                     \
			return;                                                \
	} while (0)

/* CHECK_OK(call): a helper returning bool must return true. */
#define CHECK_OK(call) CHECK(call)

/* Signed integers (compared as intmax_t). */
#define CHECK_EQ_INT(a, b)                                                     \
	do {                                                                   \
		if (!check_eq_int((intmax_t)(a), (intmax_t)(b), #a, #b,        \
		                  __FILE__, __LINE__))                         \
			return;                                                \
	} while (0)

/* Unsigned integers (compared as uintmax_t, printed also in hex). */
#define CHECK_EQ_UINT(a, b)                                                    \
	do {                                                                   \
		if (!check_eq_uint((uintmax_t)(a), (uintmax_t)(b), #a, #b,     \
		                   __FILE__, __LINE__))                        \
			return;                                                \
	} while (0)

/* Nul-terminated strings; NULL equals only NULL. */
#define CHECK_EQ_STR(a, b)                                                     \
	do {                                                                   \
		if (!check_eq_str((a), (b), #a, #b, __FILE__, __LINE__))       \
			return;                                                \
	} while (0)

/* `len` bytes; on failure the first differing offset and bytes around it. */
#define CHECK_EQ_MEM(a, b, len)                                                \
	do {                                                                   \
		if (!check_eq_mem((a), (b), (len), #a, #b, __FILE__,           \
		                  __LINE__))                                   \
			return;                                                \
	} while (0)

#endif
