/*
 * num.c - strict decimal parsing (num.h).
 */
#include <errno.h>

#include "common/num.h"

int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned long digit;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		digit = (unsigned long)(*s - '0');
		/* v * 10 + digit <= max, without overflow */
		if (digit > max || v > (max - digit) / 10)
			return -EINVAL;
		v = v * 10 + digit;
	}
	*out = v;
	return 0;
}
