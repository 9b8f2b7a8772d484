/*
 * perm.c - node permissions: parsing and formatting their wire form, and
 * deciding a domain's rights on a node.
 *
 * Pure functions over caller-owned arrays: no allocation, no globals.
 * The access rule is Xen 4.17's, checked entry by entry against a running
 * C xenstored playing unprivileged guests; the parser is deliberately
 * stricter than Xen's (see perm_parse_one).
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "xstore/wire.h"
#include "store/perm.h"

unsigned int perm_count_strings(const char *buf, size_t len)
{
	unsigned int n = 0;

	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\0')
			n++;
	return n;
}

/*
 * Parse one permission string `s` (nul-terminated) into `e`.
 *
 * Deliberate differences from Xen 4.17, which reads the number with
 * strtol(s, &end, 0) into an unsigned int and checks only that nothing
 * follows it:
 *   - hex ("r0x5") and octal ("r010" -> 8 in Xen!) are refused, as are
 *     leading zeros ("r00005", "n00"), so that no string means one domain
 *     here and another in Xen;
 *   - a sign or whitespace before the number ("r-1", "r+5", "r 5") is
 *     refused;
 *   - values above 65535 are refused (Xen stores "r65536" and wraps
 *     "r4294967296" to r0, and reports "r4294967295" back as "r-1").
 * The spec says a domid is a decimal number 0..65535; every error here is
 * EINVAL, the reply Xen gives to the strings it does refuse.
 */
static int perm_parse_one(const char *s, struct perm_entry *e)
{
	unsigned int val = 0;
	const char *d;

	switch (s[0]) {
	case 'n':
		e->access = PERM_NONE;
		break;
	case 'r':
		e->access = PERM_READ;
		break;
	case 'w':
		e->access = PERM_WRITE;
		break;
	case 'b':
		e->access = PERM_BOTH;
		break;
	default:
		return -EINVAL;
	}
	d = s + 1;
	if (d[0] == '0' && d[1] != '\0')
		return -EINVAL;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return -EINVAL;
		val = val * 10 + (unsigned int)(*d - '0');
		if (val > XS_DOMID_MAX)
			return -EINVAL;
	}
	if (d == s + 1)
		return -EINVAL;
	e->domid = (uint16_t)val;
	return 0;
}

int perm_parse(const char *buf, size_t len, unsigned int n,
               struct perm_entry *out)
{
	size_t pos = 0;

	if (n == 0)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		const char *nul = memchr(buf + pos, '\0', len - pos);
		int err;

		if (!nul)
			return -EINVAL;
		err = perm_parse_one(buf + pos, &out[i]);
		if (err)
			return err;
		pos = (size_t)(nul - buf) + 1;
	}
	return 0;
}

char perm_letter(unsigned int access)
{
	static const char letters[4] = {'n', 'r', 'w', 'b'};

	return letters[access & PERM_BOTH];
}

size_t perm_format(const struct perm_entry *e, unsigned int n, char *out,
                   size_t outsz)
{
	size_t pos = 0;

	for (unsigned int i = 0; i < n; i++) {
		char tmp[8]; /* "b65535" and its nul */
		size_t len = 0, ndig = 0;
		unsigned int v = e[i].domid;
		char digits[5];

		tmp[len++] = perm_letter(e[i].access);
		do {
			digits[ndig++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		while (ndig)
			tmp[len++] = digits[--ndig];
		tmp[len++] = '\0';
		for (size_t j = 0; j < len; j++, pos++)
			if (pos < outsz)
				out[pos] = tmp[j];
	}
	return pos;
}

/*
 * The rule, in Xen 4.17's order: the privileged domain, the owner
 * (entry 0) and the domain whose target owns the node get everything;
 * otherwise the first later entry naming the domain or its target
 * decides; otherwise entry 0's access letter is the default.
 */
unsigned int perm_access(const struct perm_entry *e, unsigned int n,
                         unsigned int domid, uint32_t target,
                         bool is_privileged)
{
	const unsigned int all = PERM_BOTH | PERM_OWNER;
	bool has_target = target != PERM_NO_TARGET;

	assert(n >= 1);
	if (is_privileged)
		return all;
	if (n == 0)
		return PERM_NONE;
	if (e[0].domid == domid || (has_target && e[0].domid == target))
		return all;
	for (unsigned int i = 1; i < n; i++)
		if (e[i].domid == domid || (has_target && e[i].domid == target))
			return e[i].access & PERM_BOTH;
	return e[0].access & PERM_BOTH;
}
