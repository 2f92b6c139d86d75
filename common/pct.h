/*
 * common/pct.h -- percent-encoding in one form: the form of the queue's URL
 * keys (queue/url.c) and of robots.txt and scope patterns (crawler/robots.c,
 * crawler/scope.c), and the catalogs' query values (crawler/catalog.c).
 *
 * What must stay true: the uses write the same form, because a pattern
 * is matched against a URL path that is already a key; "%62" and "b" must
 * compare equal there, and "%2F" and "/" must not (RFC 9309 2.2.2, RFC 3986
 * 6.2.2.2). Normalising a normalised string gives it back unchanged.
 */
#ifndef SV_PCT_H
#define SV_PCT_H

#include <stddef.h>

/*
 * Writes src[0..len) to dst with: escapes of unreserved characters
 * (ALPHA DIGIT - . _ ~) decoded; other escapes kept, their hex in upper
 * case; a '%' that starts no escape, and bytes that may not stand raw in a
 * path or query (controls, space, DEL, non-ASCII, " < > \ ^ ` { | }),
 * escaped. Everything else, reserved characters and '*' and '$' among them,
 * is copied. dst has room for 3 * len + 1 bytes; it is NUL-terminated and
 * its length is returned. src may hold NUL bytes (written as %00).
 */
size_t sv_pct_normalize(char *dst, const char *src, size_t len);

/*
 * Writes the string src to dst as one URL component: unreserved characters
 * and those in keep (e.g. "*", or "/" for a path) as they are, every other
 * byte escaped in upper-case hex -- the form sv_pct_normalize leaves as it
 * is. dst has room for 3 * strlen(src) + 1 bytes; its length is returned.
 */
size_t sv_pct_encode(char *dst, const char *src, const char *keep);

#endif
