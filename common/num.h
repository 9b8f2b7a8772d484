/*
 * num.h - strict parsing of the decimal numbers that come from outside
 * (wire arguments, environment variables): digits only, no sign, no
 * space, no base prefix, bounded, so that "12abc" or "-1" never pass.
 */
#ifndef XSTORE_COMMON_NUM_H
#define XSTORE_COMMON_NUM_H

/*
 * parse_uint - `s` as a decimal value <= max into *out.  0, or -EINVAL
 * (empty, a non-digit, or over max; *out unchanged).  Any thread.
 */
int parse_uint(const char *s, unsigned long max, unsigned long *out);

#endif
