/*
 * common/redact.c -- the one policy for keeping secrets out of messages (see redact.h).
 *
 * One walk over a URL finds its cuts (text left out of or replaced in a
 * shown URL) and the secret each covers, in order; showing a URL and
 * scrubbing a message are two uses of that walk, so they never disagree
 * about what is secret.
 */
#include "redact.h"

#include "hex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MASK "***"
#define MASK_LEN 3

/* A span of the URL to leave out or replace by `with`, and the secret inside it (slen 0: none). */
typedef struct {
	size_t off, len;
	const char *with;
	size_t soff, slen;
} cut;

typedef void (*cut_fn)(void *ctx, const cut *c);

/* 1 if the n bytes at s contain a word that names a secret parameter. */
static int secret_name(const char *s, size_t n)
{
	static const char *const words[] = {"token", "sig", "key", "secret", "pass", "pwd", "credential", "auth"};
	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w]);
		for (size_t i = 0; i + wl <= n; i++)
			if (strncasecmp(s + i, words[w], wl) == 0)
				return 1;
	}
	return 0;
}

/* The length of url's scheme (before "://"), or 0 if it has none. */
static size_t scheme_len(const char *url)
{
	size_t n = strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	return n > 0 && strncmp(url + n, "://", 3) == 0 ? n : 0;
}

static int is_scheme(const char *url, size_t n, const char *name)
{
	return n == strlen(name) && strncasecmp(url, name, n) == 0;
}

/* Calls fn for each cut of url, in order. anonymous: the user name goes as well. */
static void walk(const char *url, int anonymous, cut_fn fn, void *ctx)
{
	size_t slen = scheme_len(url), auth, end;
	const char *at, *colon;
	int http = 0;

	if (slen) {
		auth = slen + 3;
		end = auth + strcspn(url + auth, "/?#");
		http = is_scheme(url, slen, "http") || is_scheme(url, slen, "https");
	} else {
		/* scp-like [user@]host:path, as git reads it: a ':' with no '/' before it. */
		colon = strchr(url, ':');
		if (!colon || memchr(url, '/', (size_t)(colon - url)))
			return;
		auth = 0;
		end = strcspn(url, "/");
	}
	if ((at = memrchr(url + auth, '@', end - auth))) {
		size_t at_off = (size_t)(at - url);
		colon = memchr(url + auth, ':', at_off - auth);
		cut c = {auth, at_off + 1 - auth, "", 0, 0};
		if (http && colon) {
			/* The password alone is secret too, wherever a message shows it. */
			cut pw = {auth, 0, "", (size_t)(colon - url) + 1, at_off - (size_t)(colon - url) - 1};
			fn(ctx, &pw);
		}
		if (http) {
			c.soff = auth;
			c.slen = at_off - auth;
		} else if (colon) {
			c.soff = (size_t)(colon - url) + 1;
			c.slen = at_off - c.soff;
			if (!anonymous) {
				c.off = c.soff - 1;
				c.len = c.slen + 1;
			}
		}
		if (http || anonymous || colon)
			fn(ctx, &c);
	}
	if (!slen)
		return;
	/* Parameters of the query and the fragment: name=value, split at '&' or ';'. */
	for (const char *q = url + end + strcspn(url + end, "?#"); *q;) {
		size_t n = strcspn(++q, "&;#");
		const char *eq = memchr(q, '=', n);
		if (eq && secret_name(q, (size_t)(eq - q)) && eq + 1 < q + n) {
			size_t off = (size_t)(eq + 1 - url), len = n - (size_t)(eq + 1 - q);
			cut c = {off, len, MASK, off, len};
			fn(ctx, &c);
		}
		q += n;
	}
}

typedef struct {
	const char *url;
	char *buf;
	size_t cap, o, from; /* written so far; the URL's next byte to copy */
} shown;

static void put(shown *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n && s->o + 1 < s->cap; i++)
		s->buf[s->o++] = p[i];
}

static void on_cut_show(void *ctx, const cut *c)
{
	shown *s = ctx;
	put(s, s->url + s->from, c->off - s->from);
	put(s, c->with, strlen(c->with));
	s->from = c->off + c->len;
}

static void show(const char *url, int anonymous, char *buf, size_t cap)
{
	shown s = {url, buf, cap, 0, 0};
	if (cap == 0)
		return;
	walk(url, anonymous, on_cut_show, &s);
	put(&s, url + s.from, strlen(url + s.from));
	buf[s.o] = '\0';
}

void sv_redact_url(const char *url, char *buf, size_t cap)
{
	show(url, 0, buf, cap);
}

void sv_redact_url_anonymous(const char *url, char *buf, size_t cap)
{
	show(url, 1, buf, cap);
}

/* The largest k < len such that the last k bytes of msg (length n) are the first k of secret; 0 if none. */
static size_t partial_tail(const char *msg, size_t n, const char *secret, size_t len)
{
	for (size_t k = len - 1 < n ? len - 1 : n; k > 0; k--)
		if (memcmp(msg + n - k, secret, k) == 0)
			return k;
	return 0;
}

void sv_redact_secret(char *msg, size_t cap, const char *secret, size_t len)
{
	char *p = msg, *hit;
	if (len == 0 || cap == 0)
		return;
	while ((hit = memmem(p, strlen(p), secret, len))) {
		size_t at = (size_t)(hit - msg), tail = strlen(hit + len);
		if (at + MASK_LEN + 1 > cap) {
			*hit = '\0';
			break;
		}
		if (at + MASK_LEN + tail + 1 > cap) {
			/* No room for all of the rest: keep what fits, and no start of the secret at the end. */
			tail = cap - 1 - at - MASK_LEN;
			memmove(hit + MASK_LEN, hit + len, tail);
			hit[MASK_LEN + tail] = '\0';
			memcpy(hit, MASK, MASK_LEN);
			tail -= partial_tail(hit + MASK_LEN, tail, secret, len);
			hit[MASK_LEN + tail] = '\0';
			p = hit + MASK_LEN;
			continue;
		}
		memmove(hit + MASK_LEN, hit + len, tail + 1);
		memcpy(hit, MASK, MASK_LEN);
		p = hit + MASK_LEN;
	}
}

typedef struct {
	const char *url;
	char *msg;
	size_t cap;
} scrubbing;

static void on_cut_scrub(void *ctx, const cut *c)
{
	scrubbing *s = ctx;
	const char *raw = s->url + c->soff;
	char *plain;
	size_t n = 0;
	if (c->slen == 0)
		return;
	sv_redact_secret(s->msg, s->cap, raw, c->slen);
	/* Libraries may show the secret percent-decoded, as they send it. */
	if (!(plain = malloc(c->slen))) {
		s->msg[0] = '\0';
		return;
	}
	for (size_t i = 0; i < c->slen; i++) {
		int hi = i + 2 < c->slen && raw[i] == '%' ? sv_hex_value(raw[i + 1]) : -1;
		int lo = hi >= 0 ? sv_hex_value(raw[i + 2]) : -1;
		if (lo >= 0) {
			plain[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			plain[n++] = raw[i];
		}
	}
	if (n != c->slen)
		sv_redact_secret(s->msg, s->cap, plain, n);
	free(plain);
}

void sv_redact_scrub(char *msg, size_t cap, const char *url)
{
	scrubbing s = {url, msg, cap};
	walk(url, 0, on_cut_scrub, &s);
}
