/*
 * le.h - little-endian integers in byte buffers, for the store's change
 * records (apply.c) and snapshots (dump.c): both formats are defined
 * byte by byte, whatever the host's order.
 */
#ifndef XSTORE_STORE_LE_H
#define XSTORE_STORE_LE_H

#include <stdint.h>

static inline void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static inline void put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static inline void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get32(const unsigned char *p)
{
	return get16(p) | ((uint32_t)get16(p + 2) << 16);
}

static inline uint64_t get64(const unsigned char *p)
{
	return get32(p) | ((uint64_t)get32(p + 4) << 32);
}

#endif
