/*
 * test_path.c - path rules (store/path.c).  The expected results are
 * those of Xen 4.17's C xenstored, probed over its socket, except where
 * path.c documents a deliberate difference (marked "differs" here).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xstore/wire.h"
#include "store/path.h"
#include "tests/support/check.h"

#define ANY (PATH_ALLOW_SPECIAL | PATH_ALLOW_RELATIVE)

/* A path of exactly `len` bytes: `head` padded with 'a'. */
static char *make_path(const char *head, size_t len)
{
	size_t hl = strlen(head);
	char *p = malloc(len + 1);

	if (!p)
		abort();
	memcpy(p, head, hl < len ? hl : len);
	if (len > hl)
		memset(p + hl, 'a', len - hl);
	p[len] = '\0';
	return p;
}

/* Canonicalize a generated path; returns path_canon's result. */
static int canon_len(const char *head, size_t len, unsigned int domid,
                     size_t rel_max)
{
	char out[XS_ABS_PATH_MAX + 1];
	char *p = make_path(head, len);
	int r = path_canon(out, sizeof(out), p, domid, ANY, rel_max);

	free(p);
	return r;
}

static void test_check_every_byte(void)
{
	/* Exactly [A-Za-z0-9-/_@] pass, in the middle of a component. */
	for (int c = 1; c < 256; c++) {
		char p[] = "/a?b";
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '/' ||
		          c == '_' || c == '@';

		p[2] = (char)c;
		CHECK_EQ_INT(path_check(p, 0), ok ? 0 : -EINVAL);
		CHECK_EQ_INT(path_check(p + 1, PATH_ALLOW_RELATIVE),
		             ok ? 0 : -EINVAL);
	}
	/* The last byte too, and special paths alike (differs). */
	CHECK_EQ_INT(path_check("/a.", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/a\x7f", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/a\xff", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/ a", 0), -EINVAL);
	CHECK_EQ_INT(path_check("@a b", PATH_ALLOW_SPECIAL), -EINVAL);
	CHECK_EQ_INT(path_check("@a.b", PATH_ALLOW_SPECIAL), -EINVAL);
	CHECK_EQ_INT(path_check("@a!b", PATH_ALLOW_SPECIAL), -EINVAL);
	CHECK_EQ_INT(path_check("/AZaz09-_@", 0), 0);
}

static void test_check_shape(void)
{
	CHECK_EQ_INT(path_check("", 0), -EINVAL);
	CHECK_EQ_INT(path_check("", ANY), -EINVAL);
	CHECK_EQ_INT(path_check("/", 0), 0);
	CHECK_EQ_INT(path_check("/a", 0), 0);
	CHECK_EQ_INT(path_check("/a/b/c", 0), 0);
	CHECK_EQ_INT(path_check("//", 0), -EINVAL);
	CHECK_EQ_INT(path_check("//a", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/a//b", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/a///b", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/a/", 0), -EINVAL);
	CHECK_EQ_INT(path_check("/a/b/", 0), -EINVAL);
	/* '@' inside a path is an ordinary character. */
	CHECK_EQ_INT(path_check("/a@b", 0), 0);
	CHECK_EQ_INT(path_check("/@b", 0), 0);
	CHECK_EQ_INT(path_check("/a/@", 0), 0);
}

static void test_check_special(void)
{
	CHECK_EQ_INT(path_check("@releaseDomain", 0), -EINVAL);
	CHECK_EQ_INT(path_check("@releaseDomain", PATH_ALLOW_RELATIVE),
	             -EINVAL);
	CHECK_EQ_INT(path_check("@releaseDomain", PATH_ALLOW_SPECIAL), 0);
	CHECK_EQ_INT(path_check("@introduceDomain", ANY), 0);
	CHECK_EQ_INT(path_check("@releaseDomain/5", PATH_ALLOW_SPECIAL), 0);
	CHECK_EQ_INT(path_check("@", PATH_ALLOW_SPECIAL), 0);
	CHECK_EQ_INT(path_check("@/a", PATH_ALLOW_SPECIAL), 0);
	/* Xen accepts these as watch paths; we do not (differs). */
	CHECK_EQ_INT(path_check("@a//b", PATH_ALLOW_SPECIAL), -EINVAL);
	CHECK_EQ_INT(path_check("@a/", PATH_ALLOW_SPECIAL), -EINVAL);
	CHECK_EQ_INT(path_check("@/", PATH_ALLOW_SPECIAL), -EINVAL);
}

static void test_check_relative(void)
{
	CHECK_EQ_INT(path_check("a", 0), -EINVAL);
	CHECK_EQ_INT(path_check("a", PATH_ALLOW_SPECIAL), -EINVAL);
	CHECK_EQ_INT(path_check("a", PATH_ALLOW_RELATIVE), 0);
	CHECK_EQ_INT(path_check("a/b", PATH_ALLOW_RELATIVE), 0);
	CHECK_EQ_INT(path_check("a@b", PATH_ALLOW_RELATIVE), 0);
	CHECK_EQ_INT(path_check("-", PATH_ALLOW_RELATIVE), 0);
	CHECK_EQ_INT(path_check("a/", PATH_ALLOW_RELATIVE), -EINVAL);
	CHECK_EQ_INT(path_check("a//b", PATH_ALLOW_RELATIVE), -EINVAL);
	CHECK_EQ_INT(path_check("a.b", PATH_ALLOW_RELATIVE), -EINVAL);
	CHECK_EQ_INT(path_check(".", PATH_ALLOW_RELATIVE), -EINVAL);
}

static void test_canon_forms(void)
{
	char out[XS_ABS_PATH_MAX + 1];

	CHECK_EQ_INT(path_canon(out, sizeof(out), "/a/b", 3, ANY, 2048), 0);
	CHECK_EQ_STR(out, "/a/b");
	CHECK_EQ_INT(path_canon(out, sizeof(out), "/", 3, ANY, 2048), 0);
	CHECK_EQ_STR(out, "/");
	CHECK_EQ_INT(path_canon(out, sizeof(out), "x/y", 3, ANY, 2048), 0);
	CHECK_EQ_STR(out, "/local/domain/3/x/y");
	CHECK_EQ_INT(path_canon(out, sizeof(out), "x", 0, ANY, 2048), 0);
	CHECK_EQ_STR(out, "/local/domain/0/x");
	CHECK_EQ_INT(path_canon(out, sizeof(out), "x", 65535, ANY, 0), 0);
	CHECK_EQ_STR(out, "/local/domain/65535/x");
	CHECK_EQ_INT(
	    path_canon(out, sizeof(out), "@releaseDomain", 3, ANY, 2048), 0);
	CHECK_EQ_STR(out, "@releaseDomain");
	/* Errors leave out alone. */
	strcpy(out, "keep");
	CHECK_EQ_INT(path_canon(out, sizeof(out), "x", 65536, ANY, 0), -EINVAL);
	CHECK_EQ_INT(path_canon(out, sizeof(out), "x", 1, 0, 0), -EINVAL);
	CHECK_EQ_INT(
	    path_canon(out, sizeof(out), "@x", 1, PATH_ALLOW_RELATIVE, 0),
	    -EINVAL);
	CHECK_EQ_INT(path_canon(out, sizeof(out), "/a/", 1, ANY, 0), -EINVAL);
	CHECK_EQ_INT(path_canon(out, sizeof(out), "", 1, ANY, 0), -EINVAL);
	CHECK_EQ_STR(out, "keep");
}

/* path_canon into an exactly-sized heap buffer, so ASan sees overruns. */
static int canon_exact(const char *p, size_t outsz, const char *want)
{
	char *out = malloc(outsz);
	int r;

	if (!out)
		abort();
	r = path_canon(out, outsz, p, 3, ANY, 0);
	if (r == 0 && strcmp(out, want) != 0)
		r = 1;
	free(out);
	return r;
}

static void test_canon_small_buffer(void)
{
	/* "/local/domain/3/x/y" is 19 bytes + nul. */
	CHECK_EQ_INT(canon_exact("x/y", 20, "/local/domain/3/x/y"), 0);
	CHECK_EQ_INT(canon_exact("x/y", 19, NULL), -ERANGE);
	CHECK_EQ_INT(canon_exact("x/y", 1, NULL), -ERANGE);
	CHECK_EQ_INT(canon_exact("/abcd", 5, NULL), -ERANGE);
	CHECK_EQ_INT(canon_exact("/abcd", 6, "/abcd"), 0);
	CHECK_EQ_INT(path_canon(NULL, 0, "/a", 3, ANY, 0), -ERANGE);
}

static void test_canon_lengths(void)
{
	/* Outside /local/domain/N/ the whole path counts (Xen: dom0 too). */
	CHECK_EQ_INT(canon_len("/h/", 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("/h/", 2049, 0, 2048), -EINVAL);
	CHECK_EQ_INT(canon_len("/h/", 3072, 0, 2048), -EINVAL);
	CHECK_EQ_INT(canon_len("/h/", 100, 0, 100), 0);
	CHECK_EQ_INT(canon_len("/h/", 101, 0, 100), -EINVAL);
	/* Relative: the relative part counts. */
	CHECK_EQ_INT(canon_len("r", 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("r", 2049, 0, 2048), -EINVAL);
	CHECK_EQ_INT(canon_len("r", 2048, 65535, 2048), 0);
	/* Under /local/domain/N/ the part after the prefix counts. */
	CHECK_EQ_INT(canon_len("/local/domain/0/", 16 + 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("/local/domain/0/", 16 + 2049, 0, 2048),
	             -EINVAL);
	CHECK_EQ_INT(canon_len("/local/domain/99999/", 20 + 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("/local/domain/00000/", 20 + 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("/local/domain/123456/", 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("/local/domain/123456/", 2049, 0, 2048),
	             -EINVAL);
	/* Xen's sscanf takes "-1" as a domid; we do not (differs). */
	CHECK_EQ_INT(canon_len("/local/domain/-1/", 2049, 0, 2048), -EINVAL);
	/* Special paths: the whole name counts. */
	CHECK_EQ_INT(canon_len("@w", 2048, 0, 2048), 0);
	CHECK_EQ_INT(canon_len("@w", 2049, 0, 2048), -EINVAL);
	/* With no quota, the spec's absolute limit still holds. */
	CHECK_EQ_INT(canon_len("/h/", XS_ABS_PATH_MAX, 0, 0), 0);
	CHECK_EQ_INT(canon_len("/h/", XS_ABS_PATH_MAX + 1, 0, 0), -EINVAL);
	CHECK_EQ_INT(canon_len("@w", XS_ABS_PATH_MAX + 1, 0, 0), -EINVAL);
	/* "/local/domain/65535/" is 20 bytes. */
	CHECK_EQ_INT(canon_len("r", XS_ABS_PATH_MAX - 20, 65535, 0), 0);
	CHECK_EQ_INT(canon_len("r", XS_ABS_PATH_MAX - 19, 65535, 0), -EINVAL);
	CHECK_EQ_INT(canon_len("r", XS_ABS_PATH_MAX - 16, 7, 0), 0);
	CHECK_EQ_INT(canon_len("r", XS_ABS_PATH_MAX - 15, 7, 0), -EINVAL);
	CHECK_EQ_INT(canon_len("/local/domain/7/", XS_ABS_PATH_MAX + 1, 0,
	                       XS_ABS_PATH_MAX),
	             -EINVAL);
}

static void test_domain_prefix_len(void)
{
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/5/x"), 16);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/5/"), 16);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/5"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/12345/x"), 20);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/99999/x"), 20);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/00000/x"), 20);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/123456/x"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain//x"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/5x/"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/-1/"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domain/"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domains/5/"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("/local/domai"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len("local/domain/5/"), 0);
	CHECK_EQ_UINT(path_domain_prefix_len(""), 0);
}

static void test_is_child(void)
{
	static const struct {
		const char *child, *parent;
		bool expect;
	} t[] = {
	    {"/a", "/a", true},
	    {"/a/b", "/a", true},
	    {"/a/b/c", "/a", true},
	    {"/ab", "/a", false},
	    {"/a", "/a/b", false},
	    {"/", "/", true},
	    {"/a", "/", true},
	    {"/", "/a", false},
	    {"@introduceDomain", "/", false},
	    {"@releaseDomain", "@releaseDomain", true},
	    {"@releaseDomain/5", "@releaseDomain", true},
	    {"@releaseDomainX", "@releaseDomain", false},
	    {"@releaseDomain", "@releaseDomain/5", false},
	    {"@intro", "@introduceDomain", false},
	    {"/local/domain/1", "/local/domain/1", true},
	    {"/local/domain/10", "/local/domain/1", false},
	    {"/local/domain/1/x", "/local/domain/1", true},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (path_is_child(t[i].child, t[i].parent) != t[i].expect) {
			printf("  child %s parent %s\n", t[i].child,
			       t[i].parent);
			CHECK(path_is_child(t[i].child, t[i].parent) ==
			      t[i].expect);
		}
	}
}

static void test_depth_parent_basename(void)
{
	CHECK_EQ_UINT(path_depth("/"), 0);
	CHECK_EQ_UINT(path_depth("/a"), 1);
	CHECK_EQ_UINT(path_depth("/a/b"), 2);
	CHECK_EQ_UINT(path_depth("/a/b/c"), 3);
	CHECK_EQ_UINT(path_depth("@releaseDomain"), 0);
	CHECK_EQ_UINT(path_depth("@releaseDomain/5"), 1);
	CHECK_EQ_UINT(path_depth("a"), 1);
	CHECK_EQ_UINT(path_depth("a/b"), 2);
	CHECK_EQ_UINT(path_depth(""), 0);

	CHECK_EQ_UINT(path_parent_len("/a/b"), 2);
	CHECK_EQ_UINT(path_parent_len("/a"), 1);
	CHECK_EQ_UINT(path_parent_len("/abc/def/g"), 8);
	CHECK_EQ_UINT(path_parent_len("/"), 0);
	CHECK_EQ_UINT(path_parent_len("@x"), 0);
	CHECK_EQ_UINT(path_parent_len("@x/5"), 2);

	CHECK_EQ_STR(path_basename("/a/b"), "b");
	CHECK_EQ_STR(path_basename("/a"), "a");
	CHECK_EQ_STR(path_basename("/"), "");
	CHECK_EQ_STR(path_basename("@x"), "@x");
	CHECK_EQ_STR(path_basename("@x/5"), "5");

	CHECK(path_is_special("@x"));
	CHECK(!path_is_special("/@x"));
	CHECK(!path_is_special(""));
}

/* Walking up with path_parent_len from any path ends at "/" in depth steps. */
static void test_parent_walk(void)
{
	char p[] = "/a/bb/ccc/d";
	size_t len = strlen(p);
	unsigned int steps = 0, depth = path_depth(p);

	while (len > 1) {
		len = path_parent_len(p);
		p[len] = '\0';
		CHECK_EQ_INT(path_check(p, 0), 0);
		CHECK_EQ_UINT(path_depth(p), depth - ++steps);
	}
	CHECK_EQ_STR(p, "/");
	CHECK_EQ_UINT(steps, depth);
}

static const struct check_test tests[] = {
    CHECK_TEST(test_check_every_byte), CHECK_TEST(test_check_shape),
    CHECK_TEST(test_check_special),    CHECK_TEST(test_check_relative),
    CHECK_TEST(test_canon_forms),      CHECK_TEST(test_canon_small_buffer),
    CHECK_TEST(test_canon_lengths),    CHECK_TEST(test_domain_prefix_len),
    CHECK_TEST(test_is_child),         CHECK_TEST(test_depth_parent_basename),
    CHECK_TEST(test_parent_walk),
};

CHECK_MAIN(tests)
