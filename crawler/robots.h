/*
 * crawler/robots.h -- robots.txt (RFC 9309): which paths of a host we may
 * fetch, its Crawl-delay and its Sitemap lines.
 *
 * A parsed file keeps only what applies to one product token: the rules of
 * our group (or of the "*" group when none names us), so a check costs one
 * pass over those rules. What must stay true:
 * - the outcome follows the fetch status as RFC 9309 2.3.1 says: a file that
 *   is unavailable (3xx after redirects, 4xx) allows everything; one that is
 *   unreachable (5xx, 429, no answer) disallows everything;
 * - the longest matching rule decides and Allow wins a tie; "/robots.txt"
 *   itself is always allowed;
 * - work and memory are bounded whatever the file holds: at most
 *   SV_ROBOTS_MAX_BYTES are read, SV_ROBOTS_MAX_RULES kept, a line is cut
 *   after 16663 bytes as Google cuts it (the cut rule is kept), and a match
 *   costs time linear in the pattern's and the path's lengths, however many
 *   '*' the pattern holds.
 */
#ifndef SV_ROBOTS_H
#define SV_ROBOTS_H

#include <stddef.h>

#define SV_ROBOTS_MAX_BYTES (500u * 1024) /* bytes of a body read, as RFC 9309 2.5 allows */
#define SV_ROBOTS_MAX_RULES 10000         /* Allow/Disallow rules kept for our group */
#define SV_ROBOTS_MAX_DELAY_MS 60000      /* Crawl-delay is capped at 60 s */

typedef struct sv_robots sv_robots;

/*
 * Parses a robots.txt body (any bytes; only the first SV_ROBOTS_MAX_BYTES are
 * read, and a line cut by that limit is dropped) for the product token at the
 * start of agent ("salvage" or "salvage/0.1 (+https://...)": the leading
 * letters, '-' and '_'). status is the HTTP status the fetch ended with,
 * after redirects:
 *   2xx             the body is parsed;
 *   3xx, 4xx        allow everything (3xx here means redirects ran out);
 *   429, 5xx, 0     (0: no answer) disallow everything, until fetched again;
 *   anything else   disallow everything.
 * Group selection: the groups whose User-agent names our token, case
 * insensitively, merged; a token of ours with a '-' also takes the group of
 * its leading part ("salvage-images" falls back to "salvage"), the longest
 * such name winning; else the "*" groups, merged; else no rules.
 * SV_EINVAL when agent has no product token, SV_EIO when out of memory.
 */
int sv_robots_parse(sv_robots **out, const char *body, size_t len, int status, const char *agent);

/*
 * 1 if url may be fetched, else 0. url is a normalised absolute URL (its
 * path and query are checked) or a bare path starting with '/'. NULL r
 * allows everything. Out of memory for a very long URL answers 0.
 */
int sv_robots_allowed(const sv_robots *r, const char *url);

/* Crawl-delay of the group we obey, in ms (capped at SV_ROBOTS_MAX_DELAY_MS); -1 if none. */
int sv_robots_crawl_delay_ms(const sv_robots *r);

/*
 * The Sitemap lines of the whole file, in file order, values as written
 * (comments and surrounding spaces removed; the caller resolves and
 * normalises them). Returns their number; *out stays valid until r is freed.
 */
size_t sv_robots_sitemaps(const sv_robots *r, const char *const **out);

void sv_robots_free(sv_robots *r); /* NULL is a no-op */

/*
 * The pattern tools, shared with the scope rules (scope.c).
 *
 * sv_robots_normalize_escapes is sv_pct_normalize (common/pct.h): src[0..len)
 * to dst in the one percent-encoding form of the queue's URL keys, so that a
 * pattern and the URL path it is matched against are written alike. '*' and
 * '$' are left as they are. dst has room for 3 * len + 1 bytes; it is
 * NUL-terminated and its length is returned.
 */
size_t sv_robots_normalize_escapes(char *dst, const char *src, size_t len);

/*
 * Whether s[0..slen) matches pattern[0..plen), where '*' stands for any run
 * of bytes (including none) and every other byte for itself. anchored: the
 * pattern must cover all of s; else a match of a prefix of s is enough (the
 * robots.txt rule without '$'). Linear in plen + slen, without backtracking.
 */
int sv_robots_match(const char *pattern, size_t plen, int anchored, const char *s, size_t slen);

#endif
