/*
 * check.c - the runner and failure reporters of check.h.
 *
 * The one piece of state is whether the running test has failed: the
 * CHECK macros must work in a void test function without threading a
 * context through every call, so it lives in a file-scope variable.
 * Tests run sequentially in one thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static bool current_failed;

bool check_failed(void)
{
	return current_failed;
}

static void fail_at(const char *file, int line)
{
	current_failed = true;
	printf("%s:%d: check failed: ", file, line);
}

/* Print `len` bytes of `s`, quoted, with non-printable bytes as \xNN. */
static void print_quoted(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	putchar('"');
}

bool check_true(bool ok, const char *expr, const char *file, int line)
{
	if (ok)
		return true;
	fail_at(file, line);
	printf("%s\n", expr);
	return false;
}

bool check_eq_int(intmax_t a, intmax_t b, const char *ea, const char *eb,
                  const char *file, int line)
{
	if (a == b)
		return true;
	fail_at(file, line);
	printf("%s == %s\n  left:  %" PRIdMAX "\n  right: %" PRIdMAX "\n", ea,
	       eb, a, b);
	return false;
}

bool check_eq_uint(uintmax_t a, uintmax_t b, const char *ea, const char *eb,
                   const char *file, int line)
{
	if (a == b)
		return true;
	fail_at(file, line);
	printf("%s == %s\n  left:  %" PRIuMAX " (0x%" PRIxMAX ")\n"
	       "  right: %" PRIuMAX " (0x%" PRIxMAX ")\n",
	       ea, eb, a, a, b, b);
	return false;
}

bool check_eq_str(const char *a, const char *b, const char *ea, const char *eb,
                  const char *file, int line)
{
	if (a == b || (a && b && strcmp(a, b) == 0))
		return true;
	fail_at(file, line);
	printf("%s == %s\n  left:  ", ea, eb);
	if (a)
		print_quoted(a, strlen(a));
	else
		printf("NULL");
	printf("\n  right: ");
	if (b)
		print_quoted(b, strlen(b));
	else
		printf("NULL");
	putchar('\n');
	return false;
}

bool check_eq_mem(const void *a, const void *b, size_t len, const char *ea,
                  const char *eb, const char *file, int line)
{
	const char *pa = a, *pb = b;
	size_t i, from, n;

	if (len == 0 || memcmp(a, b, len) == 0)
		return true;
	for (i = 0; pa[i] == pb[i]; i++)
		continue;
	fail_at(file, line);
	from = i > 8 ? i - 8 : 0;
	n = len - from < 24 ? len - from : 24;
	printf("%s == %s (%zu bytes)\n  first difference at offset %zu;"
	       " bytes from offset %zu:\n  left:  ",
	       ea, eb, len, i, from);
	print_quoted(pa + from, n);
	printf("\n  right: ");
	print_quoted(pb + from, n);
	putchar('\n');
	return false;
}

static void usage(const char *prog, const struct check_test *tests, size_t n)
{
	fprintf(stderr, "usage: %s [-l | TEST]\ntests:", prog);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %s", tests[i].name);
	fputc('\n', stderr);
}

int check_main(int argc, char **argv, const struct check_test *tests, size_t n)
{
	const char *only = argc > 1 ? argv[1] : NULL;
	unsigned int passed = 0, failed = 0;
	bool found = false;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 2) {
		usage(argv[0], tests, n);
		return 2;
	}
	if (only && strcmp(only, "-l") == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (only && strcmp(only, tests[i].name) != 0)
			continue;
		found = true;
		current_failed = false;
		tests[i].fn();
		if (current_failed) {
			failed++;
			printf("FAIL %s\n", tests[i].name);
		} else {
			passed++;
			printf("PASS %s\n", tests[i].name);
		}
	}
	if (only && !found) {
		fprintf(stderr, "%s: no test named '%s'\n", argv[0], only);
		usage(argv[0], tests, n);
		return 2;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
