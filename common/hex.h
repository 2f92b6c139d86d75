/*
 * common/hex.h -- the value of a hex digit, and lower-case hex text.
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

/* 1 if the n bytes at s are all lower-case hex digits, as digests are written. */
static inline int sv_hex_is_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

#endif
