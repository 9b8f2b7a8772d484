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
#define PATH_ALLOW_SPECIAL  0x1u /* accept "@..." (special watch paths) */
#define PATH_ALLOW_RELATIVE 0x2u /* accept a path not starting with '/' */

/*
 * path_check - is `p` (nul-terminated) a valid path?  Rules, as Xen 4.17
 * applies them: not empty; characters [A-Za-z0-9-/_@] only; no "//"; no
 * trailing '/' except in the root "/".  It must start with '/', or with
 * '@' if `flags` has PATH_ALLOW_SPECIAL, or with any other character if
 * `flags` has PATH_ALLOW_RELATIVE ('@...' is never relative).  Special
 * paths obey the same character and slash rules (Xen 4.17 does not check
 * them; see path.c).  Length is not checked here (see path_canon).
 * Returns 0 or -EINVAL.
 */
int path_check(const char *p, unsigned int flags);

/*
 * path_canon - the absolute form of request path `p` for domain `domid`,
 * written nul-terminated into `out` (`outsz` bytes; XS_ABS_PATH_MAX + 1
 * always suffice).  An absolute or special path is copied; a relative
 * one becomes "/local/domain/<domid>/<p>".  The path is validated
 * (path_check with `flags`, which should include PATH_ALLOW_RELATIVE for
 * requests from domains), the absolute result must be at most
 * XS_ABS_PATH_MAX bytes, and when `rel_max` is non-zero the part after
 * "/local/domain/<n>/" (see path_domain_prefix_len; all of a relative
 * `p`; the whole path if it has no such prefix) must be at most
 * `rel_max` bytes (Xen's path-max quota, 2048 by default, which Xen
 * applies to dom0 too).  Returns 0, -EINVAL (bad path, too long, or a
 * relative path with domid > XS_DOMID_MAX), or -ERANGE (the result does
 * not fit in `outsz`: a caller's bug).  On error `out` is left unchanged.
 */
int path_canon(char *out, size_t outsz, const char *p, unsigned int domid,
               unsigned int flags, size_t rel_max);

/*
 * path_is_child - is `child` a child of `parent` in the spec's sense:
 * identical, or parent is "/", or parent + "/" is a prefix of child?
 * "/" is the parent of absolute paths only, never of special ones (a
 * watch on "/" does not see "@introduceDomain" in Xen).  For special
 * paths the prefix rule applies to the '@' names ("@releaseDomain" is a
 * parent of "@releaseDomain/5").  Both arguments nul-terminated.
 */
bool path_is_child(const char *child, const char *parent);

/* path_name_valid - are the `len` bytes at `name` one path component
 * that path_check would accept (its characters, no '/')?  For names
 * that come back from a snapshot or an image. */
bool path_name_valid(const unsigned char *name, size_t len);

/*
 * path_depth - number of components: "/" -> 0, "/a" -> 1, "/a/b" -> 2;
 * "@releaseDomain" -> 0, "@releaseDomain/5" -> 1; a relative path has
 * one more than its slashes ("a/b" -> 2).  "" -> 0.
 */
unsigned int path_depth(const char *p);

/*
 * path_parent_len - length of the parent of `p`: "/a/b" -> 2 ("/a"),
 * "/a" -> 1 ("/"), "/" -> 0 (no parent); "@x/5" -> 2 ("@x"), "@x" -> 0.
 */
size_t path_parent_len(const char *p);

/*
 * path_basename - the last component, pointing into `p`: "/a/b" -> "b";
 * "/" -> ""; a path without '/' -> `p` itself.
 */
const char *path_basename(const char *p);

/* path_is_special - does `p` name a special watch path ("@...")? */
static inline bool path_is_special(const char *p)
{
	return p[0] == '@';
}

/*
 * path_domain_prefix_len - if `p` starts with "/local/domain/<n>/", n one
 * to five ASCII digits (leading zeros allowed, as in Xen; no sign), the
 * length of that prefix, else 0.  "/local/domain/5/x" -> 16,
 * "/local/domain/5" -> 0, "/local/domain/123456/x" -> 0.
 */
size_t path_domain_prefix_len(const char *p);

#endif
