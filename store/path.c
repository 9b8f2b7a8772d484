/*
 * path.c - XenStore path rules: which strings name a node or a special
 * watch, how a relative path becomes absolute, and the parent/child
 * relations.
 *
 * Every function is a bounded, non-recursive scan of a nul-terminated
 * string: no allocation, no globals.  The rules follow Xen 4.17's C
 * xenstored, checked against a running one; where we differ on purpose
 * the reason is written next to the code.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xstore/wire.h"
#include "store/path.h"

/* "/local/domain/" -- the home of every domain's relative paths. */
#define DOMAIN_DIR     "/local/domain/"
#define DOMAIN_DIR_LEN (sizeof(DOMAIN_DIR) - 1)

/*
 * The spec's character set: ASCII alphanumerics and "-/_@".  A table
 * indexed by byte makes the scan one load and one compare per byte;
 * '/' has its own class because of the "//" rule.  NUL (and every byte
 * outside the set) is PC_BAD, which ends the scan.
 */
enum { PC_BAD = 0, PC_OK = 1, PC_SLASH = 2 };

#define PC_ALNUM_ROW(base)                                                     \
	[base] = PC_OK, [base + 1] = PC_OK, [base + 2] = PC_OK,                \
	[base + 3] = PC_OK, [base + 4] = PC_OK
static const unsigned char path_char_class[256] = {
    PC_ALNUM_ROW('a'), PC_ALNUM_ROW('f'), PC_ALNUM_ROW('k'), PC_ALNUM_ROW('p'),
    PC_ALNUM_ROW('u'), ['z'] = PC_OK,     PC_ALNUM_ROW('A'), PC_ALNUM_ROW('F'),
    PC_ALNUM_ROW('K'), PC_ALNUM_ROW('P'), PC_ALNUM_ROW('U'), ['Z'] = PC_OK,
    PC_ALNUM_ROW('0'), PC_ALNUM_ROW('5'), ['-'] = PC_OK,     ['_'] = PC_OK,
    ['@'] = PC_OK,     ['/'] = PC_SLASH,
};
#undef PC_ALNUM_ROW

/*
 * path_check's rules in one pass; returns the length of p (so that
 * path_canon need not measure it again) or -EINVAL.
 */
static long path_scan(const char *p, unsigned int flags)
{
	const char *s;
	unsigned char c;

	if (p[0] == '\0')
		return -EINVAL;
	/*
	 * '@' always starts a special name, never a relative path: Xen
	 * makes a path relative only if it starts with neither '/' nor '@'.
	 *
	 * Deliberate difference: Xen 4.17 checks nothing but the length of
	 * a special watch path ("@a b", "@a//b" and "@x/" are accepted).  We
	 * apply the spec's rules (characters, no "//", no trailing '/') to
	 * every path: such watches can never fire anyway, and one rule for
	 * every path keeps odd bytes out of the watch index and of the
	 * events echoed back to clients.
	 */
	if (p[0] == '@') {
		if (!(flags & PATH_ALLOW_SPECIAL))
			return -EINVAL;
	} else if (p[0] != '/' && !(flags & PATH_ALLOW_RELATIVE)) {
		return -EINVAL;
	}
	for (s = p;; s++) {
		c = path_char_class[(unsigned char)*s];
		if (c == PC_OK)
			continue;
		if (c != PC_SLASH)
			break;
		if (s[1] == '/')
			return -EINVAL;
	}
	if (*s != '\0')
		return -EINVAL;
	/* No trailing '/' but in the root "/" itself. */
	if (s[-1] == '/' && s != p + 1)
		return -EINVAL;
	return (long)(s - p);
}

int path_check(const char *p, unsigned int flags)
{
	long len = path_scan(p, flags);

	return len < 0 ? (int)len : 0;
}

size_t path_domain_prefix_len(const char *p)
{
	size_t i, digits;

	if (strncmp(p, DOMAIN_DIR, DOMAIN_DIR_LEN) != 0)
		return 0;
	/*
	 * Xen reads the number with sscanf("%5u"), which also takes a sign
	 * ("/local/domain/-1/"); a domain's directory is never named so, and
	 * we take only 1..5 ASCII digits.  Leading zeros are accepted, as in
	 * Xen.  This only moves where the path-length limit is measured from.
	 */
	i = DOMAIN_DIR_LEN;
	for (digits = 0; p[i] >= '0' && p[i] <= '9'; i++)
		if (++digits > 5)
			return 0;
	if (digits == 0 || p[i] != '/')
		return 0;
	return i + 1;
}

int path_canon(char *out, size_t outsz, const char *p, unsigned int domid,
               unsigned int flags, size_t rel_max)
{
	char home[sizeof(DOMAIN_DIR "65535/")];
	size_t len, rel_len, home_len = 0;
	long scanned;

	scanned = path_scan(p, flags);
	if (scanned < 0)
		return (int)scanned;
	len = (size_t)scanned;
	if (p[0] == '/') {
		rel_len = len - path_domain_prefix_len(p);
	} else if (p[0] == '@') {
		rel_len = len;
	} else {
		if (domid > XS_DOMID_MAX)
			return -EINVAL;
		home_len = (size_t)snprintf(home, sizeof(home),
		                            DOMAIN_DIR "%u/", domid);
		rel_len = len;
	}
	/*
	 * Xen 4.17 measures every path, dom0's included, after any
	 * "/local/domain/<n>/" prefix against its path-max quota (2048, and
	 * -M can only lower it): EINVAL beyond.  It never checks the 3072
	 * byte absolute limit, which that quota makes unreachable (at most
	 * 20 + 2048 bytes).  We check both, so that the spec's limit holds
	 * when rel_max is 0 or larger than Xen allows.
	 */
	if (home_len + len > XS_ABS_PATH_MAX)
		return -EINVAL;
	if (rel_max && rel_len > rel_max)
		return -EINVAL;
	if (home_len + len >= outsz)
		return -ERANGE;
	memcpy(out, home, home_len);
	memcpy(out + home_len, p, len + 1);
	return 0;
}

bool path_name_valid(const unsigned char *name, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '@'))
			return false;
	}
	return true;
}

bool path_is_child(const char *child, const char *parent)
{
	size_t len = strlen(parent);

	/*
	 * "/" is the parent of every absolute path but of no special one:
	 * a watch on "/" does not see @introduceDomain (checked on Xen).
	 */
	if (parent[0] == '/' && parent[1] == '\0')
		return child[0] == '/';
	if (strncmp(child, parent, len) != 0)
		return false;
	return child[len] == '\0' || child[len] == '/';
}

unsigned int path_depth(const char *p)
{
	unsigned int depth = 0;

	if (p[0] == '/' && p[1] == '\0')
		return 0;
	for (const char *s = p; *s; s++)
		if (*s == '/')
			depth++;
	/* A relative path ("a/b") has one component more than slashes. */
	if (p[0] != '/' && p[0] != '@' && p[0] != '\0')
		depth++;
	return depth;
}

size_t path_parent_len(const char *p)
{
	const char *slash = strrchr(p, '/');

	if (!slash || (slash == p && p[1] == '\0'))
		return 0;
	if (slash == p)
		return 1;
	return (size_t)(slash - p);
}

const char *path_basename(const char *p)
{
	const char *slash = strrchr(p, '/');

	return slash ? slash + 1 : p;
}
