/*
 * perm.h - node permissions: the list of (domid, access) entries of a
 * node, their wire form ("n0", "r5", "w7", "b9"), and the access check.
 *
 * Semantics (xenstore.txt, and Xen 4.17's perm_for_conn): entry 0 names
 * the owner, who always has read and write, and its access letter is the
 * default for every domain without an entry of its own.  The privileged
 * domain has every right.  A domain that is the target of the caller
 * (SET_TARGET) lends the caller its rights: the caller is treated as the
 * owner of the target's nodes and gets the first entry naming either
 * itself or its target.  Pure functions; thread-safe.
 */
#ifndef XSTORE_PERM_H
#define XSTORE_PERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERM_NONE  0x0u
#define PERM_READ  0x1u
#define PERM_WRITE 0x2u
#define PERM_BOTH  (PERM_READ | PERM_WRITE)
#define PERM_OWNER 0x4u /* only in perm_access results */

#define PERM_NO_TARGET UINT32_MAX

struct perm_entry {
	uint16_t domid;
	uint8_t access; /* PERM_NONE/READ/WRITE/BOTH */
};

/*
 * perm_parse - parse the first `n` wire permission strings, each
 * nul-terminated, packed in `buf` of `len` bytes (the strings after the
 * path in a SET_PERMS payload), into `out` (room for `n` entries).  A
 * string is one letter of "nrwb" and a domid in strict decimal: "0" or
 * 1..65535 without leading zeros, sign or spaces, with nothing after it.
 * (Stricter than Xen 4.17, which takes strtol()'s hex, octal, signs and
 * any value; see perm.c.)  Strings after the n-th are ignored; n comes
 * from perm_count_strings, the entry limit is the caller's (quota).
 * Returns 0, or -EINVAL (n == 0, bad letter, bad number, fewer than n
 * strings); on error `out` holds garbage.
 */
int perm_parse(const char *buf, size_t len, unsigned int n,
               struct perm_entry *out);

/*
 * perm_count_strings - the number of nul-terminated strings in `buf`
 * (`len` bytes), i.e. its nul bytes; bytes after the last nul do not
 * count (Xen ignores them too).
 */
unsigned int perm_count_strings(const char *buf, size_t len);

/*
 * perm_format - write `n` entries in wire form, each followed by a nul
 * ("n0\0r5\0"), into `out` of `outsz` bytes.  Returns the bytes needed
 * (as snprintf, but the count includes every nul); if that exceeds
 * `outsz`, only the first `outsz` bytes were written.  `out` may be NULL
 * when `outsz` is 0.  At most 7 bytes per entry.
 */
size_t perm_format(const struct perm_entry *e, unsigned int n, char *out,
                   size_t outsz);

/*
 * perm_access - the rights of domain `domid` on a node with entries
 * `e[0..n)`: a mask of PERM_READ|PERM_WRITE|PERM_OWNER.  In order:
 * `is_privileged` gives every right; the owner (e[0]), or a caller whose
 * `target` (its SET_TARGET domain, else PERM_NO_TARGET) is the owner,
 * gets every right; else the first entry e[1..n) naming `domid` or
 * `target` gives its access; else e[0]'s access is the default.  Only
 * the first two cases include PERM_OWNER.  Entries of domains that no
 * longer exist must be dropped or skipped by the caller (Xen marks them
 * ignored).  n must be >= 1 (asserted; n == 0 gives PERM_NONE unless
 * privileged).
 */
unsigned int perm_access(const struct perm_entry *e, unsigned int n,
                         unsigned int domid, uint32_t target,
                         bool is_privileged);

/*
 * perm_letter - 'n', 'r', 'w' or 'b' for an access value (bits other
 * than PERM_BOTH are ignored).
 */
char perm_letter(unsigned int access);

#endif
