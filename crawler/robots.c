/*
 * crawler/robots.c -- robots.txt parsing and matching (see robots.h).
 *
 * The body is read line by line once. Every group is given a rank for our
 * product token (-1 not ours, 0 the "*" group, n the length of the name that
 * matched); the rules of the best-ranked groups are kept, those of groups of
 * equal rank merged, and a better rank seen later replaces what was kept.
 * Patterns are stored in one pool, normalised: percent-encoding in one form
 * (so "%62" and "b" compare equal, "%2F" and "/" do not: RFC 9309 2.2.2),
 * runs of '*' collapsed, and a final '$' kept as a flag. A '*' or '$' that is
 * part of the path is written "%2A" or "%24" on both sides (pattern and
 * path), so that "%2A" in a rule matches a literal '*' in the path and is no
 * wildcard, and "%24" matches '$' (RFC 9309 2.2.3).
 *
 * Lenient reading, as the authors of robots.txt files need: a UTF-8 BOM
 * (or the start of one, as Google reads it),
 * CR, LF or CRLF line ends, spaces around everything, '#' comments, key names
 * in any case with a few common misspellings ("useragent", "disalow"), and a
 * known key followed by a space instead of a colon ("Disallow /x"). Other
 * lines are ignored. Rules before any User-agent line belong to no group and
 * are ignored; a pattern that does not start with '/' or '*' is read as if it
 * did ("Disallow: private" means "/private").
 */
#include "robots.h"

#include "../common/error.h"
#include "../common/pct.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MODE_RULES, MODE_ALLOW_ALL, MODE_DISALLOW_ALL };

enum { KEY_NONE, KEY_USER_AGENT, KEY_ALLOW, KEY_DISALLOW, KEY_CRAWL_DELAY, KEY_SITEMAP };

/* Product tokens longer than this cannot be anyone's; longer agents are cut. */
#define TOKEN_MAX 128
/* URLs whose path escapes fit here are checked without allocating. */
#define STACK_PATH 1024
/* Bytes of a line read; the rest of a longer line is ignored (Google: 2083 * 8 - 1). */
#define LINE_MAX_BYTES 16663

static const struct {
	const char *name;
	int key;
} KEYS[] = {
	{"user-agent", KEY_USER_AGENT}, {"useragent", KEY_USER_AGENT}, {"user agent", KEY_USER_AGENT},
	{"allow", KEY_ALLOW},
	{"disallow", KEY_DISALLOW},     {"dissallow", KEY_DISALLOW},   {"dissalow", KEY_DISALLOW},
	{"disalow", KEY_DISALLOW},      {"diasllow", KEY_DISALLOW},    {"disallaw", KEY_DISALLOW},
	{"crawl-delay", KEY_CRAWL_DELAY}, {"crawldelay", KEY_CRAWL_DELAY}, {"crawl delay", KEY_CRAWL_DELAY},
	{"sitemap", KEY_SITEMAP},       {"site-map", KEY_SITEMAP},
};

typedef struct {
	size_t off, len; /* the normalised pattern, in the pool, without its '$' */
	int allow;
	int anchored;    /* written with a final '$' */
} rule;

struct sv_robots {
	int mode;
	rule *rules;
	size_t nrules, rules_cap;
	char *pool; /* the patterns, back to back */
	size_t pool_len, pool_cap;
	int delay_ms; /* -1 = none */
	char **sitemaps;
	size_t nsitemaps, sitemaps_cap;
};

/* What the parser knows about the group it is in. */
typedef struct {
	char token[TOKEN_MAX]; /* our product token */
	size_t token_len;
	int in_group;  /* a User-agent line has been seen */
	int has_rules; /* the current group has had a rule line: the next User-agent starts a new group */
	int rank;      /* the current group's rank; -1 not ours */
	int best;      /* rank of the groups whose rules are kept; -1 none yet */
} parser;

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static int is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

size_t sv_robots_normalize_escapes(char *dst, const char *src, size_t len)
{
	return sv_pct_normalize(dst, src, len);
}

/*
 * s[0..len) with each '$' (and each '*' when stars) written "%24" ("%2A"),
 * in place; the caller leaves room for 2 more bytes per such character.
 * Returns the new length.
 */
static size_t literal_escapes(char *s, size_t len, int stars)
{
	size_t extra = 0, w;

	for (size_t i = 0; i < len; i++)
		extra += s[i] == '$' || (stars && s[i] == '*');
	if (extra == 0)
		return len;
	w = len + 2 * extra;
	for (size_t i = len; i-- > 0;) {
		char c = s[i];
		if (c == '$' || (stars && c == '*')) {
			w -= 3;
			s[w] = '%';
			s[w + 1] = '2';
			s[w + 2] = c == '$' ? '4' : 'A';
		} else {
			s[--w] = s[i];
		}
	}
	return len + 2 * extra;
}

/*
 * The pattern is literal pieces between '*'s: the first must start s, the
 * last must end s when anchored, and each piece between is taken at its
 * leftmost place after the one before (memmem). Taking the leftmost place
 * never loses a match that a later place would give, so there is no
 * backtracking: the work is linear in plen + slen.
 */
int sv_robots_match(const char *pattern, size_t plen, int anchored, const char *s, size_t slen)
{
	const char *p = pattern, *end = pattern + plen, *star = memchr(p, '*', plen);
	size_t pos, n;

	if (!star)
		return anchored ? plen == slen && memcmp(p, s, plen) == 0 : plen <= slen && memcmp(p, s, plen) == 0;
	n = (size_t)(star - p);
	if (n > slen || memcmp(p, s, n) != 0)
		return 0;
	pos = n;
	for (p = star + 1; (star = memchr(p, '*', (size_t)(end - p))); p = star + 1) {
		const char *hit;
		if ((n = (size_t)(star - p)) == 0)
			continue;
		if (!(hit = memmem(s + pos, slen - pos, p, n)))
			return 0;
		pos = (size_t)(hit - s) + n;
	}
	/* p..end is the piece after the last '*' */
	n = (size_t)(end - p);
	if (!anchored)
		return n == 0 || memmem(s + pos, slen - pos, p, n) != NULL;
	return n <= slen - pos && memcmp(p, s + slen - n, n) == 0;
}

/* buf with room for need items of size bytes (*cap updated), or NULL when out of memory. */
static void *grow(void *buf, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	if (need <= *cap)
		return buf;
	while (n < need)
		n *= 2;
	if (!(buf = realloc(buf, n * size)))
		return NULL;
	*cap = n;
	return buf;
}

static int add_rule(sv_robots *r, const char *v, size_t n, int allow)
{
	int anchored = 0;
	size_t start, len, k = 0;
	char *w;
	void *p;

	if (n == 0 || r->nrules >= SV_ROBOTS_MAX_RULES) /* an empty rule says nothing */
		return 0;
	if (v[n - 1] == '$') {
		anchored = 1;
		n--;
	}
	if (!(p = grow(r->pool, &r->pool_cap, r->pool_len + 3 * n + 2, 1)))
		return sv_error_set(SV_EIO, "out of memory");
	r->pool = p;
	if (!(p = grow(r->rules, &r->rules_cap, r->nrules + 1, sizeof(rule))))
		return sv_error_set(SV_EIO, "out of memory");
	r->rules = p;
	start = r->pool_len;
	w = r->pool + start;
	if (n == 0 || (v[0] != '/' && v[0] != '*'))
		*w++ = '/';
	len = (size_t)(w - (r->pool + start));
	len += sv_robots_normalize_escapes(w, v, n);
	/* "**" means what "*" means, and must not weigh more in the longest-match rule */
	w = r->pool + start;
	for (size_t i = 0; i < len; i++)
		if (!(w[i] == '*' && k > 0 && w[k - 1] == '*'))
			w[k++] = w[i];
	len = literal_escapes(w, k, 0); /* a '$' before the end is a literal */
	if (anchored && w[len - 1] == '*')
		anchored = 0;
	r->rules[r->nrules++] = (rule){start, len, allow, anchored};
	r->pool_len = start + len;
	return 0;
}

/*
 * Crawl-delay in ms from "10", "2.5" or ".5" (seconds); -1 if it is not a
 * non-negative decimal number. Capped at SV_ROBOTS_MAX_DELAY_MS.
 */
static int parse_delay(const char *v, size_t n)
{
	long ms = 0, scale = 1000;
	size_t i = 0, digits = 0;

	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++)
		if (ms <= SV_ROBOTS_MAX_DELAY_MS)
			ms = ms * 10 + (v[i] - '0') * 1000;
	if (i < n && v[i] == '.') {
		for (i++; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
			scale /= 10;
			ms += (v[i] - '0') * scale;
		}
	}
	if (!digits || i != n)
		return -1;
	return ms > SV_ROBOTS_MAX_DELAY_MS ? SV_ROBOTS_MAX_DELAY_MS : (int)ms;
}

/* Rank of a User-agent value for our token: -1 not ours, 0 "*", else the length of the name that matched. */
static int rank_of(const parser *ps, const char *v, size_t n)
{
	size_t t = 0;

	if (n >= 1 && v[0] == '*' && (n == 1 || is_space((unsigned char)v[1])))
		return 0;
	while (t < n && is_token_char((unsigned char)v[t]))
		t++;
	if (t == 0 || t > ps->token_len || strncasecmp(v, ps->token, t) != 0)
		return -1;
	if (t == ps->token_len || ps->token[t] == '-')
		return (int)t;
	return -1;
}

static int key_of(const char *k, size_t n)
{
	for (size_t i = 0; i < sizeof(KEYS) / sizeof(KEYS[0]); i++)
		if (strlen(KEYS[i].name) == n && strncasecmp(KEYS[i].name, k, n) == 0)
			return KEYS[i].key;
	return KEY_NONE;
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* Splits a line (comment and outer spaces removed) into its key and value. */
static int split_line(const char *line, size_t n, const char **value, size_t *vlen)
{
	const char *colon = memchr(line, ':', n);
	const char *k = line;
	size_t klen;
	int key;

	if (colon) {
		klen = (size_t)(colon - line);
		trim(&k, &klen);
		if ((key = key_of(k, klen)) != KEY_NONE) {
			*value = colon + 1;
			*vlen = n - (size_t)(colon + 1 - line);
			trim(value, vlen);
			return key;
		}
	}
	/* "Disallow /x" or "Sitemap https://...": a known key, then spaces */
	for (klen = 0; klen < n && !is_space((unsigned char)line[klen]); klen++)
		;
	if (klen == n || (key = key_of(line, klen)) == KEY_NONE)
		return KEY_NONE;
	*value = line + klen;
	*vlen = n - klen;
	trim(value, vlen);
	return key;
}

static int add_sitemap(sv_robots *r, const char *v, size_t n)
{
	char *s;
	void *p;

	if (n == 0)
		return 0;
	if (!(p = grow(r->sitemaps, &r->sitemaps_cap, r->nsitemaps + 1, sizeof(char *))))
		return sv_error_set(SV_EIO, "out of memory");
	r->sitemaps = p;
	if (!(s = strndup(v, n)))
		return sv_error_set(SV_EIO, "out of memory");
	r->sitemaps[r->nsitemaps++] = s;
	return 0;
}

static int parse_line(sv_robots *r, parser *ps, const char *line, size_t n)
{
	const char *hash = memchr(line, '#', n), *v = NULL;
	size_t vlen = 0;
	int key;

	if (hash)
		n = (size_t)(hash - line);
	trim(&line, &n);
	if (n == 0)
		return 0;
	key = split_line(line, n, &v, &vlen);
	switch (key) {
	case KEY_USER_AGENT: {
		int rank = rank_of(ps, v, vlen);
		if (!ps->in_group || ps->has_rules) {
			ps->in_group = 1;
			ps->has_rules = 0;
			ps->rank = -1;
		}
		if (rank > ps->rank)
			ps->rank = rank;
		if (ps->rank > ps->best) {
			/* a better group than any so far: what was kept does not apply */
			ps->best = ps->rank;
			r->nrules = 0;
			r->pool_len = 0;
			r->delay_ms = -1;
		}
		return 0;
	}
	case KEY_ALLOW:
	case KEY_DISALLOW:
	case KEY_CRAWL_DELAY:
		if (!ps->in_group)
			return 0;
		ps->has_rules = 1;
		if (ps->rank < 0 || ps->rank != ps->best)
			return 0;
		if (key == KEY_CRAWL_DELAY) {
			int ms = parse_delay(v, vlen);
			if (ms > r->delay_ms)
				r->delay_ms = ms; /* merged groups: the slowest wins */
			return 0;
		}
		return add_rule(r, v, vlen, key == KEY_ALLOW);
	case KEY_SITEMAP:
		return add_sitemap(r, v, vlen);
	default:
		return 0;
	}
}

static int parse_body(sv_robots *r, parser *ps, const char *body, size_t len)
{
	size_t pos = 0;
	int truncated = len > SV_ROBOTS_MAX_BYTES, rc;

	if (truncated)
		len = SV_ROBOTS_MAX_BYTES;
	while (pos < 3 && pos < len && body[pos] == "\xEF\xBB\xBF"[pos])
		pos++;
	while (pos < len) {
		size_t eol = pos;
		while (eol < len && body[eol] != '\n' && body[eol] != '\r')
			eol++;
		if (eol == len && truncated)
			break; /* cut by the limit: half a rule could mean the wrong thing */
		if ((rc = parse_line(r, ps, body + pos, eol - pos > LINE_MAX_BYTES ? LINE_MAX_BYTES : eol - pos)) < 0)
			return rc;
		pos = eol + 1;
		if (eol + 1 < len && body[eol] == '\r' && body[eol + 1] == '\n')
			pos++;
	}
	return 0;
}

int sv_robots_parse(sv_robots **out, const char *body, size_t len, int status, const char *agent)
{
	sv_robots *r;
	parser ps = {.rank = -1, .best = -1};
	int rc;

	*out = NULL;
	while (agent && ps.token_len < TOKEN_MAX - 1 && is_token_char((unsigned char)agent[ps.token_len])) {
		ps.token[ps.token_len] = agent[ps.token_len];
		ps.token_len++;
	}
	if (ps.token_len == 0)
		return sv_error_set(SV_EINVAL, "user agent '%s' has no product token", agent ? agent : "");
	if (!(r = calloc(1, sizeof(*r))))
		return sv_error_set(SV_EIO, "out of memory");
	r->delay_ms = -1;
	if (status >= 200 && status < 300) {
		r->mode = MODE_RULES;
		if (body && (rc = parse_body(r, &ps, body, len)) < 0) {
			sv_robots_free(r);
			return rc;
		}
	} else if (status >= 300 && status < 500 && status != 429) {
		r->mode = MODE_ALLOW_ALL;
	} else {
		r->mode = MODE_DISALLOW_ALL;
	}
	*out = r;
	return 0;
}

/* The path and query of url (absolute, or a bare path), without a fragment. */
static const char *path_of(const char *url, size_t *n)
{
	const char *p = url[0] == '/' ? NULL : strstr(url, "://");

	if (p) {
		p += 3;
		p += strcspn(p, "/?#");
	} else {
		p = url;
	}
	*n = strcspn(p, "#");
	return p;
}

int sv_robots_allowed(const sv_robots *r, const char *url)
{
	char stack[3 * STACK_PATH + 2], *buf = stack;
	const char *path;
	size_t n, len, best_len = 0;
	int matched = 0, allow = 1;

	if (!r || r->mode == MODE_ALLOW_ALL)
		return 1;
	path = path_of(url, &n);
	if (n == 11 && memcmp(path, "/robots.txt", 11) == 0)
		return 1;
	if (r->mode == MODE_DISALLOW_ALL)
		return 0;
	if (r->nrules == 0)
		return 1;
	if (n > STACK_PATH && !(buf = malloc(3 * n + 2)))
		return 0;
	len = 0;
	if (n == 0 || path[0] != '/')
		buf[len++] = '/'; /* "http://a" and "http://a?q" have the path "/" */
	len += sv_robots_normalize_escapes(buf + len, path, n);
	len = literal_escapes(buf, len, 1);
	for (size_t i = 0; i < r->nrules; i++) {
		const rule *ru = &r->rules[i];
		if (matched && (ru->len < best_len || (ru->len == best_len && (allow || !ru->allow))))
			continue; /* could not change the outcome */
		if (sv_robots_match(r->pool + ru->off, ru->len, ru->anchored, buf, len)) {
			matched = 1;
			best_len = ru->len;
			allow = ru->allow;
		}
	}
	if (buf != stack)
		free(buf);
	return allow;
}

int sv_robots_crawl_delay_ms(const sv_robots *r)
{
	return r ? r->delay_ms : -1;
}

size_t sv_robots_sitemaps(const sv_robots *r, const char *const **out)
{
	if (!r) {
		*out = NULL;
		return 0;
	}
	*out = (const char *const *)r->sitemaps;
	return r->nsitemaps;
}

void sv_robots_free(sv_robots *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nsitemaps; i++)
		free(r->sitemaps[i]);
	free(r->sitemaps);
	free(r->rules);
	free(r->pool);
	free(r);
}
