/*
 * common/pct.c -- percent-encoding in one form (see pct.h).
 */
#include "pct.h"

#include "hex.h"

#include <string.h>

static const char HEX[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_' || c == '~';
}

/* Bytes that may not stand raw in a normalised path or query. */
static int must_escape(unsigned char c)
{
	if (c <= 0x20 || c >= 0x7f)
		return 1;
	return strchr("\"<>\\^`{|}", c) != NULL;
}

size_t sv_pct_encode(char *dst, const char *src, const char *keep)
{
	char *w = dst;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if (is_unreserved(*p) || strchr(keep, *p)) {
			*w++ = (char)*p;
			continue;
		}
		*w++ = '%';
		*w++ = HEX[*p >> 4];
		*w++ = HEX[*p & 15];
	}
	*w = '\0';
	return (size_t)(w - dst);
}

size_t sv_pct_normalize(char *dst, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src, *end = p + len;
	char *w = dst;

	for (; p < end; p++) {
		int hi, lo;
		if (*p == '%' && end - p >= 3 && (hi = sv_hex_value(p[1])) >= 0 && (lo = sv_hex_value(p[2])) >= 0) {
			unsigned char c = (unsigned char)(hi << 4 | lo);
			if (is_unreserved(c)) {
				*w++ = (char)c;
			} else {
				*w++ = '%';
				*w++ = HEX[hi];
				*w++ = HEX[lo];
			}
			p += 2;
		} else if (*p == '%' || must_escape(*p)) {
			*w++ = '%';
			*w++ = HEX[*p >> 4];
			*w++ = HEX[*p & 15];
		} else {
			*w++ = (char)*p;
		}
	}
	*w = '\0';
	return (size_t)(w - dst);
}
