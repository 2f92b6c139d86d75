/*
 * crawler/guard.h -- the private-address guard: a sheet of public sites must
 * not make a volunteer's machine fetch its own loopback, link-local or
 * private-network services (a router's admin page, a cloud metadata service,
 * a database's HTTP port) because a page links there or redirects there.
 *
 * The fetcher asks sv_guard_check with the address a connection is about to
 * be made to (libcurl's socket callback, see transfer.c), never with a name:
 * a host name that resolves to 127.0.0.1, DNS rebinding, and every spelling
 * of an address (0x7f000001, 2130706433, [::ffff:127.0.0.1]) end as the same
 * socket address.
 *
 * What must stay true: a private address is reached only for a server named
 * by the URL's own row (its url cell) or by crawl.allowPrivate, compared as
 * host and port (another port is another server); nothing else -- not where
 * a seed lands, not a link, not a redirect -- makes one allowed.
 */
#ifndef SV_GUARD_H
#define SV_GUARD_H

#include <stddef.h>
#include <sys/socket.h>

/* NULL when sa is a public address; else what it is: "a loopback address", "a private address"... */
const char *sv_guard_private_kind(const struct sockaddr *sa);

/*
 * A crawl.allowPrivate value ("host:port", an IPv6 address in brackets) as
 * the guard compares it, "host:port" in lower case with the host normalised
 * as URLs are (0x7f000001 is 127.0.0.1), malloc'd into *out. SV_EINVAL when
 * it is not host:port.
 */
int sv_guard_server_key(char **out, const char *value);

/*
 * Whether a connection to sa for url may be made. allowed: server keys
 * (sv_guard_server_key) that may be private; the row's own URL is passed in
 * row_url (may be NULL). 1 allowed; 0 refused, with why in why[0..len),
 * such as "refused: 127.0.0.1:8080 is a loopback address; allow it with
 * crawl.allowPrivate".
 */
int sv_guard_check(const struct sockaddr *sa, const char *url, const char *row_url, const char *const *allowed,
		   size_t nallowed, char *why, size_t len);

#endif
