/*
 * common/hex.h -- the value of a hex digit.
 */
#ifndef SV_HEX_H
#define SV_HEX_H

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

#endif
