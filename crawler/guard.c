/*
 * crawler/guard.c -- the private-address guard (see guard.h).
 *
 * Addresses are read as bytes from the socket address: IPv4, IPv6, and the
 * IPv6 forms that carry an IPv4 address (mapped ::ffff:a.b.c.d, the old
 * compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d), which are judged by the
 * IPv4 address inside. A server is "host:port" with the host as URLs are
 * normalised (queue/url.h) and the port always written.
 */
#include "guard.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *v4_kind(const unsigned char *a)
{
	if (a[0] == 0)
		return "an unspecified address";
	if (a[0] == 127)
		return "a loopback address";
	if (a[0] == 169 && a[1] == 254)
		return "a link-local address";
	if (a[0] == 10 || (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168))
		return "a private address";
	if (a[0] == 100 && (a[1] & 0xc0) == 64)
		return "a shared address (carrier-grade NAT)";
	return NULL;
}

/* The IPv4 address an IPv6 address carries (mapped, compatible, NAT64), or NULL. */
static const unsigned char *v4_inside(const unsigned char *a)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
	static const unsigned char zero[12];
	if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) || !memcmp(a, zero, 12))
		return a + 12;
	return NULL;
}

static const char *v6_kind(const unsigned char *a)
{
	static const unsigned char loopback[16] = {[15] = 1}, zero[16];
	const unsigned char *v4;
	if (!memcmp(a, zero, 16))
		return "an unspecified address";
	if (!memcmp(a, loopback, 16))
		return "a loopback address";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "a link-local address";
	if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)) /* unique local; old site-local */
		return "a private address";
	return (v4 = v4_inside(a)) ? v4_kind(v4) : NULL;
}

const char *sv_guard_private_kind(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_kind((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return v6_kind(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
	return "not an internet address";
}

/* The address of sa as IPv4 when it is one or carries one (*v4 = 1), else IPv6; its port. */
static void sa_bytes(const struct sockaddr *sa, unsigned char out[16], int *v4, int *port)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		memcpy(out, &s->sin_addr, 4);
		*v4 = 1;
		*port = ntohs(s->sin_port);
		return;
	}
	const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
	const unsigned char *in = v4_inside(s->sin6_addr.s6_addr);
	*v4 = in && memcmp(s->sin6_addr.s6_addr, (unsigned char[12]){0}, 12) != 0; /* ::1 is not 0.0.0.1 */
	memcpy(out, *v4 ? in : s->sin6_addr.s6_addr, *v4 ? 4 : 16);
	*port = ntohs(s->sin6_port);
}

/* "host:port" of a normalised URL, the port always written, into buf. -1 when it has none. */
static int url_server(const char *url, char *buf, size_t len)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL;
	int rc = -1;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		int n = snprintf(buf, len, "%s:%s", host, port);
		rc = n > 0 && (size_t)n < len ? 0 : -1;
		for (char *c = buf; rc == 0 && *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

int sv_guard_server_key(char **out, const char *value)
{
	const char *close = value[0] == '[' ? strchr(value, ']') : NULL;
	const char *colon = strrchr(close ? close : value, ':');
	char url[600], key[600], *n = NULL;
	*out = NULL;
	if (!colon || colon == value || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    (!close && memchr(value, ':', (size_t)(colon - value))) || strlen(value) > 512)
		return sv_error_set(SV_EINVAL, "'%s' is not host:port", value);
	snprintf(url, sizeof(url), "http://%s/", value);
	if (sv_url_normalize(&n, url, NULL) != 0 || strcmp(strchr(n + 7, '/'), "/") != 0) {
		free(n);
		return sv_error_set(SV_EINVAL, "'%s' is not host:port", value);
	}
	int rc = url_server(n, key, sizeof(key));
	free(n);
	if (rc || !(*out = strdup(key)))
		return rc ? sv_error_set(SV_EINVAL, "'%s' is not host:port", value) : sv_error_set(SV_EIO, "out of memory");
	return 0;
}

/* Whether the server key names the address and port of sa (a key whose host is an address). */
static int key_is_address(const char *key, const unsigned char *addr, int v4, int port)
{
	char host[512];
	unsigned char want[16];
	const char *colon = strrchr(key, ':');
	size_t hlen = (size_t)(colon - key);
	if (atoi(colon + 1) != port || hlen >= sizeof(host))
		return 0;
	if (key[0] == '[') {
		memcpy(host, key + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, host, want) != 1)
			return 0;
		const unsigned char *in = v4_inside(want);
		if (in && memcmp(want, (unsigned char[12]){0}, 12) != 0)
			return v4 && !memcmp(in, addr, 4);
		return !v4 && !memcmp(want, addr, 16);
	}
	memcpy(host, key, hlen);
	host[hlen] = '\0';
	return v4 && inet_pton(AF_INET, host, want) == 1 && !memcmp(want, addr, 4);
}

int sv_guard_check(const struct sockaddr *sa, const char *url, const char *row_url, const char *const *allowed,
		   size_t nallowed, char *why, size_t len)
{
	const char *kind = sv_guard_private_kind(sa);
	char server[600], row[600], shown[INET6_ADDRSTRLEN + 8];
	unsigned char addr[16];
	int v4, port;
	if (!kind)
		return 1;
	sa_bytes(sa, addr, &v4, &port);
	/* The URL's server by name: the row's own, or one salvage.conf names. */
	if (url && url_server(url, server, sizeof(server)) == 0) {
		if (row_url && url_server(row_url, row, sizeof(row)) == 0 && !strcmp(server, row))
			return 1;
		for (size_t i = 0; i < nallowed; i++)
			if (!strcmp(server, allowed[i]))
				return 1;
	}
	/* Or by address: crawl.allowPrivate = 127.0.0.1:8080 is that server whatever name reached it. */
	for (size_t i = 0; i < nallowed; i++)
		if (key_is_address(allowed[i], addr, v4, port))
			return 1;
	char text[INET6_ADDRSTRLEN];
	inet_ntop(v4 ? AF_INET : AF_INET6, addr, text, sizeof(text));
	snprintf(shown, sizeof(shown), v4 ? "%s:%d" : "[%s]:%d", text, port);
	snprintf(why, len, "refused: %s is %s; allow it with crawl.allowPrivate", shown, kind);
	return 0;
}
