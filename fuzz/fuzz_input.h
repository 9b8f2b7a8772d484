/*
 * fuzz_input.h - the byte cursor the fuzzers decode their input with:
 * reads past the end give zeros, so every input decodes to some program.
 * Header-only: each fuzzer is its own binary.
 */
#ifndef XSTORE_FUZZ_INPUT_H
#define XSTORE_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t get8(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

#endif
