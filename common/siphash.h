/*
 * siphash.h - keyed SipHash-2-4 (Aumasson and Bernstein, 2012).
 *
 * Every hash table whose keys a guest can choose (paths, tokens) is keyed
 * with a secret drawn at start-up, so that no guest can aim its keys at
 * one bucket.  Pure function; thread-safe.
 */
#ifndef XSTORE_SIPHASH_H
#define XSTORE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1;
};

/* siphash24 - the 64-bit SipHash-2-4 of `len` bytes at `data`. */
uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

/*
 * siphash_key_random - fill `key` from getrandom(2); falls back to a mix of
 * time and pid only if the kernel refuses (never in practice).
 */
void siphash_key_random(struct siphash_key *key);

#endif
