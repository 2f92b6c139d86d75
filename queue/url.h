/*
 * queue/url.h -- URL normalisation, so that one resource has one queue key.
 *
 * Built on libcurl's URL API (curl_url). A normalised URL is absolute http or
 * https, with scheme and host in lower case, no default port, no dot
 * segments, no fragment, no user info (credentials never reach the queue, its
 * keys or the logs), an empty path written "/", and percent-encoding in one
 * form: unreserved characters decoded, escapes in upper-case hex, bytes that
 * must be escaped escaped. Anything else is refused with a reason.
 */
#ifndef SV_URL_H
#define SV_URL_H

#include <stddef.h>

#define SV_URL_MAX 4096 /* longest normalised URL accepted, in bytes */

/*
 * Normalises url, resolved against base when it is relative (base NULL: url
 * must be absolute). *out is a fresh string. SV_EINVAL with the reason when
 * the result is not http(s), is malformed or is longer than SV_URL_MAX.
 */
int sv_url_normalize(char **out, const char *url, const char *base);

/* The politeness key of any URL (normalised first): host, plus ":port" when not the default. */
int sv_url_host_key(char **out, const char *url);

#endif
