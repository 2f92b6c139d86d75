/*
 * queue/url.c -- URL normalisation on libcurl's URL API (see url.h).
 *
 * curl_url parses, checks hosts and ports and converts Unicode hosts to
 * punycode. This file resolves relative references against the normalised
 * base (RFC 3986 5.2.2), normalises path and query, decides what is accepted
 * and writes the result from its parts: scheme "://" host [":" port] path
 * ["?" query]. Building it from parts is what drops the user info (user:password@): credentials never reach the
 * queue, its keys or the logs, and error messages show them as "***@".
 * The fragment and an empty query are dropped the same way.
 *
 * Links are read as browsers read them (the WHATWG URL standard for the
 * special schemes http and https) where RFC 3986 and browsers disagree:
 * '\' before the query is '/'; "http:x" or "http:/x" on an http page is a
 * relative reference, and with another scheme or no base any number of
 * slashes after "http:" mean "//"; the user info ends at the last '@'; a
 * host that ends in a number is an IPv4 address in any of its forms (hex,
 * octal, fewer parts, a trailing dot) or is refused; IPv6 addresses are
 * written in hex pieces. The differences kept on purpose are listed in the
 * README ("Where salvage differs from browsers and Google on purpose").
 *
 * What must stay true:
 * - the result is http or https, at most SV_URL_MAX bytes, and normalising
 *   it again gives it back unchanged (the unit tests check every case);
 * - a percent escape of a reserved character (%2F, %3F, %23, %25 ...) is
 *   never decoded: only escapes of unreserved characters are (path and
 *   query are written by sv_pct_normalize, common/pct.h, which robots.txt
 *   matching shares);
 * - no transfer is ever made: curl_url only parses. Unicode hosts become
 *   punycode through libidn2 inside libcurl, which is pure computation.
 */
#include "url.h"

#include "../common/error.h"
#include "../common/pct.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longer input cannot be worth parsing; refusing it early bounds the work. */
#define INPUT_MAX (16 * SV_URL_MAX)
/* Room for a host rewritten as an IPv4 or IPv6 address, beyond its own length. */
#define HOST_ROOM 48
/* How much of a URL an error message shows, in bytes. */
#define SHOW_MAX 200
#define SHOW_BUF (3 * SHOW_MAX + 8)

static const char HEX[] = "0123456789ABCDEF";

static int is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * Length of the RFC 3986 scheme that s starts with (ALPHA *(ALPHA / DIGIT /
 * "+" / "-" / ".") ":"), without the colon; 0 when s is a relative reference.
 */
static size_t scheme_len(const char *s)
{
	size_t n = 0;
	if (!is_alpha((unsigned char)s[0]))
		return 0;
	while (is_alpha((unsigned char)s[n]) || (s[n] >= '0' && s[n] <= '9') || s[n] == '+' || s[n] == '-' ||
	       s[n] == '.')
		n++;
	return s[n] == ':' ? n : 0;
}

static int is_http(const char *s, size_t n)
{
	return (n == 4 && strncasecmp(s, "http", 4) == 0) || (n == 5 && strncasecmp(s, "https", 5) == 0);
}

/*
 * url as an error message shows it: user info replaced by "***", control
 * bytes escaped, cut after SHOW_MAX bytes (not inside a UTF-8 sequence).
 */
static const char *show(char *buf, const char *url)
{
	const char *auth = NULL, *at = NULL, *p;
	size_t n = scheme_len(url), w = 0;

	if (n && url[n + 1] == '/' && url[n + 2] == '/')
		auth = url + n + 3;
	else if (!n && url[0] == '/' && url[1] == '/')
		auth = url + 2;
	if (auth) {
		for (p = auth; *p && !strchr("/?#\\", *p); p++)
			if (*p == '@')
				at = p;
	}
	for (p = url; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (w >= SHOW_MAX) {
			while (w > 0 && ((unsigned char)buf[w - 1] & 0xc0) == 0x80)
				w--;
			if (w > 0 && (unsigned char)buf[w - 1] >= 0xc0)
				w--;
			memcpy(buf + w, "...", 3);
			w += 3;
			break;
		}
		if (at && p == auth) {
			memcpy(buf + w, "***", 3);
			w += 3;
			p = at - 1;
		} else if (c < 0x20 || c == 0x7f) {
			buf[w++] = '%';
			buf[w++] = HEX[c >> 4];
			buf[w++] = HEX[c & 15];
		} else {
			buf[w++] = (char)c;
		}
	}
	buf[w] = '\0';
	return buf;
}

/*
 * The input as curl can take it: whitespace and controls around it trimmed,
 * tabs and newlines inside removed (as browsers do), and the other bytes curl
 * refuses anywhere (controls, space, DEL) percent-encoded. Structure
 * characters are untouched, so this changes no part's meaning.
 */
static int clean(char **out, const char *in)
{
	size_t len = strlen(in), w = 0;
	char *s;

	while (len > 0 && (unsigned char)in[len - 1] <= 0x20)
		len--;
	while (len > 0 && (unsigned char)*in <= 0x20) {
		in++;
		len--;
	}
	if (len > INPUT_MAX)
		return sv_error_set(SV_EINVAL, "URL longer than %d bytes", SV_URL_MAX);
	if (!(s = malloc(3 * len + 1)))
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c <= 0x20 || c == 0x7f) {
			s[w++] = '%';
			s[w++] = HEX[c >> 4];
			s[w++] = HEX[c & 15];
		} else {
			s[w++] = (char)c;
		}
	}
	s[w] = '\0';
	*out = s;
	return 0;
}

/* The error for curl refusing url (already cleaned). */
static int refused(CURLUcode cu, const char *url)
{
	char buf[SHOW_BUF];
	switch (cu) {
	case CURLUE_OUT_OF_MEMORY:
		return sv_error_set(SV_EIO, "out of memory");
	case CURLUE_BAD_PORT_NUMBER:
		return sv_error_set(SV_EINVAL, "'%s' has an invalid port", show(buf, url));
	case CURLUE_NO_HOST:
		return sv_error_set(SV_EINVAL, "'%s' has no host", show(buf, url));
	case CURLUE_BAD_HOSTNAME:
	case CURLUE_BAD_IPV6:
		return sv_error_set(SV_EINVAL, "'%s' has an invalid host", show(buf, url));
	default:
		return sv_error_set(SV_EINVAL, "'%s' is not a valid URL: %s", show(buf, url), curl_url_strerror(cu));
	}
}

/*
 * Replaces the Unicode host *host by its punycode form. libcurl hands the
 * host to libidn2 as text in the locale's charset, so the conversion runs
 * under C.UTF-8 in this thread only (uselocale), whatever the program's
 * locale is.
 */
static int to_punycode(CURLU *u, char **host, const char *url)
{
	char buf[SHOW_BUF], *puny = NULL;
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0), old;
	CURLUcode cu;

	if (utf8 == (locale_t)0)
		return sv_error_set(SV_EINVAL, "'%s' has a non-ASCII host and the C.UTF-8 locale needed to convert it is missing",
				    show(buf, url));
	old = uselocale(utf8);
	cu = curl_url_get(u, CURLUPART_HOST, &puny, CURLU_PUNYCODE);
	uselocale(old);
	freelocale(utf8);
	if (cu != CURLUE_OK) {
		/* libcurl can leave a copy of the host in puny when the conversion fails. */
		curl_free(puny);
		if (cu == CURLUE_LACKS_IDN)
			return sv_error_set(SV_EINVAL, "'%s' has a non-ASCII host and this libcurl cannot convert it",
					    show(buf, url));
		return sv_error_set(SV_EINVAL, "'%s' has a host that is not a valid internationalised domain name",
				    show(buf, url));
	}
	curl_free(*host);
	*host = puny;
	return 0;
}

/*
 * Removes "." and ".." segments (RFC 3986 5.2.4) from the path p[0..len),
 * which starts with '/', in place; returns the new length. It runs after
 * escapes are decoded, so "%2E%2E" counts as ".." (as in RFC 3986 6.2.2 and
 * in browsers); curl is told to leave dots alone (CURLU_PATH_AS_IS).
 */
static size_t remove_dots(char *p, size_t len)
{
	size_t r = 0, w = 0;

	while (r < len) {
		size_t s = r + 1, e = s;
		while (e < len && p[e] != '/')
			e++;
		if (e - s == 1 && p[s] == '.') {
			if (e == len)
				p[w++] = '/';
		} else if (e - s == 2 && p[s] == '.' && p[s + 1] == '.') {
			while (w > 0 && p[--w] != '/')
				;
			if (e == len)
				p[w++] = '/';
		} else {
			memmove(p + w, p + r, e - r);
			w += e - r;
		}
		r = e;
	}
	if (w == 0)
		p[w++] = '/';
	return w;
}

/* '\' before the query or fragment is '/' in http(s) URLs, as browsers read them. */
static void backslashes(char *s)
{
	for (; *s && *s != '?' && *s != '#'; s++)
		if (*s == '\\')
			*s = '/';
}

/* rest with any leading slashes replaced by exactly "//" and prefix (may be "") before it. */
static int two_slashes(char **out, const char *prefix, size_t plen, const char *rest)
{
	size_t len;
	char *s;

	while (*rest == '/')
		rest++;
	len = strlen(rest);
	if (!(s = malloc(plen + 2 + len + 1)))
		return sv_error_set(SV_EIO, "out of memory");
	memcpy(s, prefix, plen);
	memcpy(s + plen, "//", 2);
	memcpy(s + plen + 2, rest, len + 1);
	*out = s;
	return 0;
}

/*
 * Drops the user info of the absolute URL s in place: everything of the
 * authority up to its last '@' (browsers split there; the user info is never
 * kept anyway). -1 when nothing follows that '@': no host.
 */
static int drop_userinfo(char *s)
{
	char *auth = strstr(s, "://"), *at = NULL;
	size_t n;

	auth += 3;
	n = strcspn(auth, "/?#");
	for (size_t i = 0; i < n; i++)
		if (auth[i] == '@')
			at = auth + i;
	if (!at)
		return 0;
	if (at + 1 == auth + n)
		return -1;
	memmove(auth, at + 1, strlen(at + 1) + 1);
	return 0;
}

/*
 * One part of an IPv4 address in the WHATWG forms: decimal, octal with a
 * leading 0, hex with 0x ("0x" alone is 0). -1 if it is not a number;
 * values past 2^32 are clamped to 2^32 (too big for any part).
 */
static int64_t ipv4_part(const char *s, size_t n)
{
	int64_t v = 0;
	int radix = 10;

	if (n == 0)
		return -1;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		radix = 16;
		s += 2;
		n -= 2;
	} else if (n >= 2 && s[0] == '0') {
		radix = 8;
		s++;
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : 99;
		if (d >= radix)
			return -1;
		v = v * radix + d;
		if (v > 4294967296LL)
			v = 4294967296LL;
	}
	return v;
}

/*
 * The host h (lower case, at most cap bytes with its NUL) when it ends in a
 * number (its last label, a trailing dot aside, is decimal digits or 0x hex):
 * then it must be an IPv4 address in one of the WHATWG forms, and is
 * rewritten as a dotted quad ("0xc0.0250.01" and "1.2.3.4." become
 * "192.168.0.1" and "1.2.3.4"); 0 when done or not needed, -1 when it is not
 * a valid address. Any other name is left as it is.
 */
static int ipv4_host(char *h, size_t cap)
{
	size_t len = strlen(h), parts = 0, start, end = len;
	const char *last;
	int64_t v[4], addr = 0;

	if (len > 1 && h[len - 1] == '.')
		end--;
	for (start = end; start > 0 && h[start - 1] != '.'; start--)
		;
	last = h + start;
	if (end == start)
		return 0;
	if (!(strspn(last, "0123456789") == end - start ||
	      (end - start >= 2 && last[0] == '0' && last[1] == 'x' && strspn(last + 2, "0123456789abcdef") == end - start - 2)))
		return 0;
	for (size_t i = 0; i <= end; parts++) {
		size_t j = i;
		while (j < end && h[j] != '.')
			j++;
		if (parts == 4 || (v[parts] = ipv4_part(h + i, j - i)) < 0)
			return -1;
		i = j + 1;
	}
	for (size_t i = 0; i + 1 < parts; i++) {
		if (v[i] > 255)
			return -1;
		addr = addr * 256 + v[i];
	}
	if (v[parts - 1] >= (int64_t)1 << (8 * (5 - parts)))
		return -1;
	addr = (addr << (8 * (5 - parts))) + v[parts - 1];
	snprintf(h, cap, "%d.%d.%d.%d", (int)(addr >> 24), (int)(addr >> 16 & 255), (int)(addr >> 8 & 255),
		 (int)(addr & 255));
	return 0;
}

/*
 * The IPv6 literal h ("[...]") written as browsers write it: hex pieces, the
 * first longest run of two or more zero pieces as "::", an embedded IPv4
 * part in hex too ("[::ffff:1.2.3.4]" is "[::ffff:102:304]"). h has room
 * for 48 bytes; a zone id was refused before.
 */
static void ipv6_host(char *h)
{
	char in[64], *w = h;
	unsigned char a[16];
	int run = -1, runlen = 0;
	size_t n = strlen(h);

	if (n < 3 || n - 2 >= sizeof(in))
		return;
	memcpy(in, h + 1, n - 2);
	in[n - 2] = '\0';
	if (inet_pton(AF_INET6, in, a) != 1)
		return;
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && a[2 * j] == 0 && a[2 * j + 1] == 0)
			j++;
		if (j - i > runlen && j - i >= 2) {
			run = i;
			runlen = j - i;
		}
		i = j > i ? j : i + 1;
	}
	*w++ = '[';
	for (int i = 0; i < 8; i++) {
		if (i == run) {
			*w++ = ':';
			if (i == 0)
				*w++ = ':';
			i += runlen - 1;
			continue;
		}
		w += sprintf(w, "%x", a[2 * i] << 8 | a[2 * i + 1]);
		if (i < 7)
			*w++ = ':';
	}
	*w++ = ']';
	*w = '\0';
}

/*
 * Resolves ref, a reference without a scheme, against base, a normalised URL
 * (RFC 3986 5.2.2): *out is base's part that ref keeps, then ref. Dot
 * segments and a fragment may remain; the parse that follows drops them.
 * curl_url can resolve too, but it writes the base out again first (most of
 * its cost) and takes "" and "#f" to the base's folder instead of the base.
 */
static int resolve(char **out, const char *base, const char *ref)
{
	/* base is "scheme://authority/path[?query]": it always has the '/' */
	const char *auth = strstr(base, "://") + 3;
	const char *path = auth + strcspn(auth, "/");
	const char *query = path + strcspn(path, "?");
	size_t keep, len = strlen(ref);
	char *s;

	if (ref[0] == '/' && ref[1] == '/')
		keep = (size_t)(auth - 2 - base); /* the scheme and its ':' */
	else if (ref[0] == '/')
		keep = (size_t)(path - base);
	else if (ref[0] == '?')
		keep = (size_t)(query - base);
	else if (ref[0] == '\0' || ref[0] == '#')
		keep = strlen(base);
	else {
		const char *slash = query;
		while (*--slash != '/')
			;
		keep = (size_t)(slash + 1 - base); /* the base's folder */
	}
	if (!(s = malloc(keep + len + 1)))
		return sv_error_set(SV_EIO, "out of memory");
	memcpy(s, base, keep);
	memcpy(s + keep, ref, len + 1);
	*out = s;
	return 0;
}

/*
 * Whether the host, after punycode and in lower case, is one a request can
 * go to: an IPv6 literal (curl has checked it) or letters, digits, '-', '.'
 * and '_'. curl lets through some bytes no name can hold, such as '%'.
 */
static int host_ok(const char *h)
{
	if (*h == '[')
		return 1;
	for (; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= '0' && *h <= '9') || *h == '-' || *h == '.' || *h == '_'))
			return 0;
	return 1;
}

/* Writes the normalised URL from u's parts; url (cleaned) is for messages. */
static int assemble(char **out, CURLU *u, const char *url)
{
	char buf[SHOW_BUF], *scheme = NULL, *host = NULL, *zone = NULL, *port = NULL, *path = NULL, *query = NULL;
	char *res = NULL, *w, *h, *p;
	size_t cap;
	CURLUcode cu;
	int rc = 0;

	if ((cu = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) != CURLUE_OK) {
		rc = refused(cu, url);
		goto done;
	}
	if (!is_http(scheme, strlen(scheme))) {
		rc = sv_error_set(SV_EINVAL, "'%s' is not an http or https URL", show(buf, url));
		goto done;
	}
	cu = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (cu != CURLUE_OK || !*host) {
		rc = refused(cu == CURLUE_OK ? CURLUE_NO_HOST : cu, url);
		goto done;
	}
	if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
		rc = sv_error_set(SV_EINVAL, "'%s' has an IPv6 zone id, which names a local interface", show(buf, url));
		goto done;
	}
	for (h = host; *h; h++) {
		if ((unsigned char)*h >= 0x80) {
			if ((rc = to_punycode(u, &host, url)) < 0)
				goto done;
			break;
		}
	}
	cu = curl_url_get(u, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT);
	if (cu != CURLUE_OK && cu != CURLUE_NO_PORT) {
		rc = refused(cu, url);
		goto done;
	}
	if (port && strcmp(port, "0") == 0) {
		rc = refused(CURLUE_BAD_PORT_NUMBER, url);
		goto done;
	}
	if ((cu = curl_url_get(u, CURLUPART_PATH, &path, 0)) != CURLUE_OK) {
		rc = refused(cu, url);
		goto done;
	}
	cu = curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (cu != CURLUE_OK && cu != CURLUE_NO_QUERY) {
		rc = refused(cu, url);
		goto done;
	}

	cap = strlen(scheme) + 3 + strlen(host) + HOST_ROOM + 1 + (port ? strlen(port) : 0) + 1 + 3 * strlen(path) + 1 +
		     (query ? 3 * strlen(query) : 0) + 1;
	if (!(res = malloc(cap))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	w = res;
	for (const char *s = scheme; *s; s++)
		*w++ = lower(*s);
	memcpy(w, "://", 3);
	w += 3;
	h = w;
	for (const char *s = host; *s; s++)
		*w++ = lower(*s);
	*w = '\0';
	if (!*h) { /* nothing left of the name after IDNA ("\xC2\xAD", a soft hyphen) */
		rc = refused(CURLUE_NO_HOST, url);
		goto done;
	}
	if (*h == '[')
		ipv6_host(h);
	else if (ipv4_host(h, HOST_ROOM) < 0 || !host_ok(h)) {
		rc = refused(CURLUE_BAD_HOSTNAME, url);
		goto done;
	}
	w = h + strlen(h);
	if (port) {
		*w++ = ':';
		w = stpcpy(w, port);
	}
	p = w;
	if (*path != '/')
		*w++ = '/';
	w += sv_pct_normalize(w, path, strlen(path));
	w = p + remove_dots(p, (size_t)(w - p));
	if (query && *query) {
		*w++ = '?';
		w += sv_pct_normalize(w, query, strlen(query));
	}
	*w = '\0';
	if (w - res > SV_URL_MAX) {
		rc = sv_error_set(SV_EINVAL, "URL longer than %d bytes", SV_URL_MAX);
		goto done;
	}
	*out = res;
	res = NULL;
done:
	free(res);
	curl_free(scheme);
	curl_free(host);
	curl_free(zone);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	return rc;
}

/* Bytes that every step below leaves as they are in a path or query: the
 * unreserved ones and the sub-delimiters, ':', '@' and '/' ('%', '\\', '#',
 * '?' in a path, spaces, controls and non-ASCII are not among them). */
static int plain_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~!$&'()*+,;=:@/", c));
}

/*
 * The length of url when it is normalised already, 0 when it may not be (or
 * is not): "http://" or "https://" in lower case; a host of lower-case
 * letters, digits and '-' in non-empty labels whose last label starts with a
 * letter (so it is a name, not an IPv4 address in any form, and needs no
 * punycode); no port nor user info; then nothing, or a path of plain_byte()s
 * with no "." or ".." segment, then nothing or '?' and a non-empty query of
 * plain_byte()s and '?'. Every step of the full parse gives such a URL back
 * unchanged (an empty path becomes "/", which the caller adds): catalog
 * sheets are almost all of this form, and the full parse was a tenth of
 * loading one. The unit tests compare both ways over generated URLs.
 */
static size_t plain_len(const char *url)
{
	const char *p = url, *label;
	if (strncmp(p, "http://", 7) == 0)
		p += 7;
	else if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else
		return 0;
	for (;;) {
		label = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
			p++;
		if (p == label)
			return 0;
		if (*p != '.')
			break;
		p++;
	}
	if (!(*label >= 'a' && *label <= 'z'))
		return 0;
	if (*p == '/') {
		for (; *p && *p != '?'; p++) {
			if (!plain_byte((unsigned char)*p))
				return 0;
			if (*p == '/' && p[1] == '.' &&
			    (!p[2] || p[2] == '/' || p[2] == '?' || (p[2] == '.' && (!p[3] || p[3] == '/' || p[3] == '?'))))
				return 0;
		}
		if (*p == '?') {
			if (!*++p)
				return 0;
			for (; *p; p++)
				if (!plain_byte((unsigned char)*p) && *p != '?')
					return 0;
		}
	} else if (*p) {
		return 0;
	}
	return (size_t)(p - url) < SV_URL_MAX ? (size_t)(p - url) : 0;
}

int sv_url_normalize(char **out, const char *url, const char *base)
{
	size_t plain = plain_len(url);
	if (plain) {
		size_t slash = !strchr(strstr(url, "://") + 3, '/'); /* an empty path is "/" */
		if (!(*out = malloc(plain + slash + 1)))
			return sv_error_set(SV_EIO, "out of memory");
		memcpy(*out, url, plain);
		(*out)[plain] = '/';
		(*out)[plain + slash] = '\0';
		return 0;
	}
	char buf[SHOW_BUF], *ref = NULL, *nbase = NULL, *abs = NULL, *merged = NULL;
	const char *rel = NULL;
	CURLU *u = NULL;
	CURLUcode cu;
	size_t n;
	int rc;

	*out = NULL;
	if ((rc = clean(&ref, url)) < 0)
		goto done;
	n = scheme_len(ref);
	if (n ? !is_http(ref, n) : !base) {
		rc = sv_error_set(SV_EINVAL, "'%s' is not an http or https URL", show(buf, ref));
		goto done;
	}
	backslashes(ref);
	/* the base matters to a reference, and to "http:" without "//" */
	if (base && (!n || strncmp(ref + n + 1, "//", 2) != 0) && (rc = sv_url_normalize(&nbase, base, NULL)) < 0) {
		if (!n) {
			rc = sv_error_prefix("base");
			goto done;
		}
		rc = 0; /* "http:x" with a bad base: read as "http://x" */
	}
	/*
	 * "http:x" on an http page is the reference "x"; otherwise the slashes
	 * after "http:" (none, one or many) stand for "//", and so do two or
	 * more at the start of a reference without a scheme.
	 */
	if (!n)
		rel = ref;
	else if (nbase && strncasecmp(nbase, ref, n) == 0 && nbase[n] == ':' && strncmp(ref + n + 1, "//", 2) != 0)
		rel = ref + n + 1;
	if (rel && strncmp(rel, "//", 2) == 0) {
		if ((rc = two_slashes(&abs, "", 0, rel)) < 0)
			goto done;
		rel = abs;
	} else if (!rel && (rc = two_slashes(&abs, ref, n + 1, ref + n + 1)) < 0) {
		goto done;
	}
	if (rel && (rc = resolve(&merged, nbase, rel)) < 0)
		goto done;
	if (!merged) {
		merged = abs;
		abs = NULL;
	}
	if (drop_userinfo(merged) < 0) {
		rc = refused(CURLUE_NO_HOST, ref);
		goto done;
	}
	if (!(u = curl_url())) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if ((cu = curl_url_set(u, CURLUPART_URL, merged, CURLU_PATH_AS_IS)) != CURLUE_OK) {
		rc = refused(cu, ref);
		goto done;
	}
	rc = assemble(out, u, ref);
done:
	curl_url_cleanup(u);
	free(ref);
	free(nbase);
	free(abs);
	free(merged);
	return rc;
}

int sv_url_host_key(char **out, const char *url)
{
	char *norm, *auth, *end;
	int rc;

	*out = NULL;
	if ((rc = sv_url_normalize(&norm, url, NULL)) < 0)
		return rc;
	auth = strstr(norm, "://") + 3;
	end = strchr(auth, '/');
	*end = '\0';
	*out = strdup(auth);
	free(norm);
	return *out ? 0 : sv_error_set(SV_EIO, "out of memory");
}
