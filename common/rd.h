/*
 * rd.h - reading little-endian fields out of a buffer that came from
 * outside (a journal, a live update's stream): every read checks the
 * length, and a reader that ran short stays failed and returns zeros,
 * so that a decoder checks is_bad once, at the end, instead of after
 * every field.  Header only; no allocation.
 */
#ifndef XSTORE_COMMON_RD_H
#define XSTORE_COMMON_RD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rd {
	const unsigned char *p;
	size_t len, off;
	bool is_bad;
};

/* rd_take - the next `n` bytes (borrowed from the buffer), or NULL and
 * the reader failed if fewer are left. */
static inline const void *rd_take(struct rd *r, size_t n)
{
	const void *at;

	if (r->is_bad || r->len - r->off < n) {
		r->is_bad = true;
		return NULL;
	}
	at = r->p + r->off;
	r->off += n;
	return at;
}

/* rd_le - the next `size` (<= 8) bytes as a little-endian number; 0
 * once failed. */
static inline uint64_t rd_le(struct rd *r, size_t size)
{
	const unsigned char *b = rd_take(r, size);
	uint64_t v = 0;

	for (size_t i = 0; b && i < size; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

/* rd_str - the next nul-terminated string (borrowed), or NULL and the
 * reader failed if no nul is left. */
static inline const char *rd_str(struct rd *r)
{
	const char *s = (const char *)r->p + r->off;
	const void *nul;

	if (r->is_bad)
		return NULL;
	nul = memchr(s, '\0', r->len - r->off);
	if (!nul) {
		r->is_bad = true;
		return NULL;
	}
	r->off += (size_t)((const char *)nul - s) + 1;
	return s;
}

#endif
