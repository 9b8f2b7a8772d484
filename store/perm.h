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
 * perm_parse - parse `n` wire permission strings, each nul-terminated,
 * packed in `buf` of `len` bytes (the strings after the path in a
 * SET_PERMS payload), into `out` (room for `n` entries).  A string is
 * one letter of "nrwb" and a decimal domid 0..65535 with nothing after
 * it.  Returns 0 or -EINVAL (bad letter, bad number, too few strings).
 */
int perm_parse(const char *buf, size_t len, unsigned int n,
	       struct perm_entry *out);

/*
 * perm_count_strings - the number of nul-terminated strings in `buf`
 * (`len` bytes); bytes after the last nul do not count.
 */
unsigned int perm_count_strings(const char *buf, size_t len);

/*
 * perm_format - write `n` entries in wire form, each followed by a nul
 * ("n0\0r5\0"), into `out` of `outsz` bytes.  Returns the bytes needed
 * (as snprintf); writes nothing beyond outsz.
 */
size_t perm_format(const struct perm_entry *e, unsigned int n, char *out,
		   size_t outsz);

/*
 * perm_access - the rights of domain `domid` on a node with entries
 * `e[0..n)`: a mask of PERM_READ|PERM_WRITE|PERM_OWNER.  `target` is the
 * caller's SET_TARGET domain or PERM_NO_TARGET; `is_privileged` gives
 * every right.  n must be >= 1.
 */
unsigned int perm_access(const struct perm_entry *e, unsigned int n,
			 unsigned int domid, uint32_t target,
			 bool is_privileged);

/* perm_letter - 'n', 'r', 'w' or 'b' for an access value. */
char perm_letter(unsigned int access);

#endif
