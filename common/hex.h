/*
 * common/hex.h -- the value of a hex digit, and lower-case hex text (both ways).
 */
#ifndef SV_HEX_H
#define SV_HEX_H

#include <stddef.h>

/* 0..15 for a hex digit of either case, -1 for anything else. */
static inline int sv_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The n bytes at p as 2n lower-case hex digits and a NUL, into out. */
static inline void sv_hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* 1 if the n bytes at s are all lower-case hex digits, as digests are written. */
static inline int sv_hex_is_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

#endif
