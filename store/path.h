/*
 * path.h - XenStore path rules (xenstore.txt): validation, making a path
 * absolute for a domain, and the parent/child relations the store and
 * the watch index use.
 *
 * Pure functions over nul-terminated strings; no allocation, no state,
 * thread-safe.  Guest input is validated here, never asserted.
 */
#ifndef XSTORE_PATH_H
#define XSTORE_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* path_check flags */
#define PATH_ALLOW_SPECIAL 0x1u /* accept "@..." (special watch paths) */
#define PATH_ALLOW_RELATIVE 0x2u /* accept a path not starting with '/' */

/*
 * path_check - is `p` a valid path?  Rules, as Xen 4.17 applies them:
 * characters [A-Za-z0-9-/_@] only; starts with '/' (or '@' with
 * PATH_ALLOW_SPECIAL, or anything else with PATH_ALLOW_RELATIVE); no
 * "//"; no trailing '/' except the root "/"; not empty.  Length is not
 * checked here (see path_canon).  Returns 0 or -EINVAL.
 */
int path_check(const char *p, unsigned int flags);

/*
 * path_canon - the absolute form of request path `p` for domain `domid`,
 * written into `out` (`outsz` bytes, at least XS_ABS_PATH_MAX + 1).
 * An absolute or special path is copied; a relative one becomes
 * "/local/domain/<domid>/<p>".  The path is validated (path_check with
 * `flags`, which should include PATH_ALLOW_RELATIVE), the absolute
 * result must be at most XS_ABS_PATH_MAX bytes, and when `rel_max` is
 * non-zero the part after "/local/domain/<n>/" (or the whole path if it
 * has no such prefix) must be at most `rel_max` bytes (Xen's path-max
 * quota).  Returns 0, or -EINVAL (bad path, too long).
 */
int path_canon(char *out, size_t outsz, const char *p, unsigned int domid,
	       unsigned int flags, size_t rel_max);

/*
 * path_is_child - is `child` a child of `parent` in the spec's sense:
 * identical, or parent is "/", or parent + "/" is a prefix of child.
 * (For special paths the same rule applies to the '@' names.)
 */
bool path_is_child(const char *child, const char *parent);

/*
 * path_depth - number of components: "/" -> 0, "/a" -> 1, "/a/b" -> 2;
 * "@releaseDomain" -> 0, "@releaseDomain/5" -> 1.
 */
unsigned int path_depth(const char *p);

/*
 * path_parent_len - length of the parent of absolute path `p`:
 * "/a/b" -> 2 ("/a"), "/a" -> 1 ("/"), "/" -> 0 (no parent).
 */
size_t path_parent_len(const char *p);

/* path_basename - the last component ("/a/b" -> "b"; "/" -> ""). */
const char *path_basename(const char *p);

/* path_is_special - does `p` name a special watch path ("@...")? */
static inline bool path_is_special(const char *p)
{
	return p[0] == '@';
}

/*
 * path_domain_prefix_len - if `p` starts with "/local/domain/<n>/" (n a
 * decimal of at most 5 digits), the length of that prefix, else 0.
 */
size_t path_domain_prefix_len(const char *p);

#endif
