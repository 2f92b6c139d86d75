/*
 * crawler/jsonstream.c -- a JSON document read as it arrives, the parts a
 * reader wants built as jansson values one at a time (see jsonstream.h).
 *
 * yajl's callbacks keep a stack of frames (the path); a value being
 * collected is built on a second stack of jansson containers, counted in
 * bytes against its cap. yajl is told not to check UTF-8 itself: every
 * string is checked here and mended instead, so one bad byte in a 300 MB
 * catalog costs one U+FFFD, not the catalog.
 */
#include "jsonstream.h"

#include "../common/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

typedef struct {
	json_t *container;
	char *key; /* the pending member name, in an object being collected */
} build_frame;

struct sv_js {
	yajl_handle h;
	sv_js_want_fn want;
	sv_js_value_fn value;
	sv_js_keep_fn keep;
	int skip_member; /* the member whose key was just read is left out */
	void *ctx;
	size_t collect_max;
	sv_js_frame frames[SV_JS_MAX_DEPTH + 1];
	char *keys[SV_JS_MAX_DEPTH + 1]; /* owned copies of frames[].key */
	int is_array[SV_JS_MAX_DEPTH + 1];
	size_t depth;
	/* skipping: containers still open inside a skipped value */
	size_t skip;
	/* collecting: the value under construction */
	build_frame build[SV_JS_MAX_DEPTH + 1];
	size_t nbuild;
	size_t collect_bytes;
	int dropping;         /* the collected value outgrew its cap: the rest of it is skipped */
	int rc;               /* the error that stopped the reading */
	int bom_checked;
	unsigned char bom[3];
	size_t nbom;
	sv_js_stats stats;
};

/* ---- UTF-8 ---- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0 (RFC 3629: no surrogates, no overlongs). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
			return 0;
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
			return 0;
		return 4;
	}
	return 0;
}

int sv_js_utf8_clean(const char *s, size_t n, char **out, size_t *out_len, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t nbad = 0, len = 0;
	char *o = malloc(n * 3 + 1); /* each bad byte becomes 3 */
	if (!o)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);
		if (k == 0 && p[i] == 0xED && i + 2 < n && p[i + 1] >= 0xA0 && p[i + 1] <= 0xBF &&
		    (p[i + 2] & 0xC0) == 0x80) {
			/* a UTF-16 surrogate written as UTF-8 (yajl does so with a lone "\udc92"): one character */
			memcpy(o + len, "\xEF\xBF\xBD", 3);
			len += 3;
			nbad++;
			i += 3;
			continue;
		}
		if (k == 0 || (k == 1 && p[i] == 0)) {
			memcpy(o + len, "\xEF\xBF\xBD", 3); /* U+FFFD; a NUL too, which C strings cannot hold */
			len += 3;
			nbad++;
			i++;
			continue;
		}
		memcpy(o + len, p + i, k);
		len += k;
		i += k;
	}
	o[len] = '\0';
	*out = o;
	if (out_len)
		*out_len = len;
	if (bad)
		*bad = nbad;
	return 0;
}

static int utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(s + i, n - i);
		if (k == 0 || s[i] == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* ---- paths ---- */

static sv_js_path path_of(const sv_js *js)
{
	return (sv_js_path){js->frames + 1, js->depth};
}

int sv_js_path_is(const sv_js_path *p, const char *pattern)
{
	size_t i = 0;
	const char *s = pattern;
	while (*s) {
		const char *dot = strchr(s, '.');
		size_t n = dot ? (size_t)(dot - s) : strlen(s);
		/* a token: "name", "name[]", "*", "*[]" or "[]" */
		int elems = n >= 2 && s[n - 2] == '[' && s[n - 1] == ']';
		size_t klen = elems ? n - 2 : n;
		if (klen) {
			if (i >= p->depth || !p->frames[i].key)
				return 0;
			if (!(klen == 1 && s[0] == '*') &&
			    (strlen(p->frames[i].key) != klen || memcmp(p->frames[i].key, s, klen)))
				return 0;
			i++;
		}
		if (elems) {
			if (i >= p->depth || p->frames[i].key)
				return 0;
			i++;
		}
		s += n;
		if (*s == '.')
			s++;
	}
	return i == p->depth;
}

/* ---- building a collected value ---- */

static void pop_frame(sv_js *js);

static int fail(sv_js *js, int rc)
{
	if (!js->rc)
		js->rc = rc;
	return 0; /* yajl: stop */
}

static void drop_build(sv_js *js)
{
	for (size_t i = 0; i < js->nbuild; i++) {
		json_decref(js->build[i].container);
		free(js->build[i].key);
	}
	js->nbuild = 0;
}

/* The collected value is complete: hand it over. */
static int deliver(sv_js *js, json_t *v)
{
	sv_js_path p = path_of(js);
	int rc;
	js->stats.collected++;
	rc = js->value(js->ctx, &p, v);
	json_decref(v);
	return rc ? fail(js, rc) : 1;
}

/* Adds v (a new reference) where the collection is: into the open container, or as the whole value. */
static int add_built(sv_js *js, json_t *v, int opens)
{
	if (!v)
		return fail(js, sv_error_set(SV_EIO, "out of memory"));
	if (js->nbuild == 0 && !opens)
		return deliver(js, v);
	if (js->nbuild > 0) {
		build_frame *b = &js->build[js->nbuild - 1];
		int rc;
		if (json_is_array(b->container)) {
			rc = json_array_append(b->container, v);
		} else {
			rc = json_object_set(b->container, b->key ? b->key : "", v);
			/* The member's name: a container's stays with the frame above it (the path of
			 * what is inside it, for sv_js_set_keep); a scalar's goes. */
			if (opens && js->keep) {
				free(js->keys[js->depth]);
				js->keys[js->depth] = b->key;
			} else {
				free(b->key);
				js->frames[js->depth].key = NULL;
			}
			b->key = NULL;
		}
		if (rc) {
			json_decref(v);
			return fail(js, sv_error_set(SV_EIO, "out of memory"));
		}
	}
	if (opens) {
		if (js->nbuild >= SV_JS_MAX_DEPTH) {
			json_decref(v);
			return fail(js, sv_error_set(SV_ECORRUPT, "JSON nested deeper than %d", SV_JS_MAX_DEPTH));
		}
		js->build[js->nbuild++] = (build_frame){v, NULL}; /* our reference is the stack's */
		return 1;
	}
	json_decref(v); /* the parent holds it */
	return 1;
}

/* The value being collected outgrew its cap: it is dropped, and the rest of
 * it (its open containers, and `opening` more) is skipped. */
static void abandon(sv_js *js, size_t opening)
{
	js->skip = js->nbuild + opening;
	for (size_t i = 0; i < js->nbuild; i++)
		pop_frame(js); /* each collected container has its frame */
	drop_build(js);
	js->dropping = 1;
}

/* Counts n bytes of the value being collected against its cap: 0 when over. */
static int within_cap(sv_js *js, size_t n)
{
	js->collect_bytes += n + 8;
	return js->collect_bytes <= js->collect_max;
}

/* The end of a value dropped for its size. */
static int report_dropped(sv_js *js)
{
	sv_js_path p = path_of(js);
	int rc;
	js->dropping = 0;
	js->stats.too_big++;
	if ((rc = js->value(js->ctx, &p, NULL)))
		return fail(js, rc);
	return 1;
}

/* ---- the path, outside collected values ---- */

static int push_frame(sv_js *js, int is_array)
{
	if (js->depth >= SV_JS_MAX_DEPTH)
		return fail(js, sv_error_set(SV_ECORRUPT, "JSON nested deeper than %d", SV_JS_MAX_DEPTH));
	js->depth++;
	js->frames[js->depth] = (sv_js_frame){NULL, 0};
	js->keys[js->depth] = NULL;
	js->is_array[js->depth] = is_array;
	return 1;
}

static void pop_frame(sv_js *js)
{
	free(js->keys[js->depth]);
	js->keys[js->depth] = NULL;
	js->depth--;
}

/* A value ends at the current position: the next array element gets the next index. */
static void value_done(sv_js *js)
{
	if (js->depth > 0 && js->is_array[js->depth])
		js->frames[js->depth].index++;
}

/*
 * A value starts (outside any collection, not skipping): asks the reader.
 * Returns the action; for an array element the frame's key stays NULL.
 */
static sv_js_action start_value(sv_js *js)
{
	sv_js_path p = path_of(js);
	return js->want(js->ctx, &p);
}

/* ---- yajl callbacks ---- */

/* A member left out (sv_js_set_keep): its pending key goes, and its value is passed by. */
static int leave_out(sv_js *js, int opens)
{
	build_frame *b = &js->build[js->nbuild - 1];
	free(b->key);
	b->key = NULL;
	js->skip_member = 0;
	if (opens)
		js->skip = 1;
	return 1;
}

static int scalar(sv_js *js, json_t *(*make)(const void *, size_t, sv_js *), const void *a, size_t n)
{
	if (js->skip)
		return 1;
	if (js->skip_member)
		return leave_out(js, 0);
	if (js->nbuild > 0) {
		if (!within_cap(js, n)) {
			abandon(js, 0);
			return 1;
		}
		return add_built(js, make(a, n, js), 0);
	}
	int rc = 1;
	if (start_value(js) == SV_JS_COLLECT) {
		js->collect_bytes = 0;
		rc = within_cap(js, n) ? add_built(js, make(a, n, js), 0) : report_dropped(js);
	}
	value_done(js);
	return rc;
}

static json_t *make_null(const void *a, size_t n, sv_js *js)
{
	(void)a, (void)n, (void)js;
	return json_null();
}

static json_t *make_bool(const void *a, size_t n, sv_js *js)
{
	(void)n, (void)js;
	return json_boolean(*(const int *)a);
}

static json_t *make_number(const void *a, size_t n, sv_js *js)
{
	char buf[64], *end = NULL;
	(void)js;
	if (n >= sizeof(buf))
		return json_real(0); /* no sane number is this long; the text is kept by no one */
	memcpy(buf, a, n);
	buf[n] = '\0';
	if (!memchr(buf, '.', n) && !memchr(buf, 'e', n) && !memchr(buf, 'E', n)) {
		errno = 0;
		long long v = strtoll(buf, &end, 10);
		if (!errno && end && *end == '\0')
			return json_integer(v);
	}
	return json_real(strtod(buf, NULL));
}

static json_t *make_string(const void *a, size_t n, sv_js *js)
{
	if (utf8_valid(a, n))
		return json_stringn_nocheck(a, n);
	char *clean = NULL;
	size_t len = 0, bad = 0;
	if (sv_js_utf8_clean(a, n, &clean, &len, &bad))
		return NULL;
	js->stats.bad_text++;
	json_t *v = json_stringn_nocheck(clean, len);
	free(clean);
	return v;
}

static int on_null(void *ctx)
{
	return scalar(ctx, make_null, NULL, 0);
}

static int on_boolean(void *ctx, int b)
{
	return scalar(ctx, make_bool, &b, 1);
}

static int on_number(void *ctx, const char *s, size_t n)
{
	return scalar(ctx, make_number, s, n);
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
	sv_js *js = ctx;
	if (js->skip || js->skip_member) {
		/* Passed by, but still counted when it is not UTF-8 (most text is ASCII: one quick look). */
		size_t i = 0;
		while (i < n && s[i] < 0x80)
			i++;
		if (i < n && !utf8_valid(s + i, n - i))
			js->stats.bad_text++;
	}
	return scalar(ctx, make_string, s, n);
}

static int open_container(sv_js *js, int is_array)
{
	if (js->skip) {
		js->skip++;
		return 1;
	}
	if (js->skip_member)
		return leave_out(js, 1);
	if (js->nbuild > 0) {
		if (!within_cap(js, 0)) {
			abandon(js, 1);
			return 1;
		}
		return add_built(js, is_array ? json_array() : json_object(), 1) && push_frame(js, is_array);
	}
	sv_js_action act = start_value(js);
	if (act == SV_JS_SKIP) {
		js->skip = 1;
		return 1;
	}
	if (act == SV_JS_COLLECT) {
		js->collect_bytes = 0;
		return add_built(js, is_array ? json_array() : json_object(), 1) && push_frame(js, is_array);
	}
	return push_frame(js, is_array);
}

static int close_container(sv_js *js)
{
	if (js->skip) {
		if (--js->skip > 0)
			return 1;
		int rc = js->dropping ? report_dropped(js) : 1;
		value_done(js);
		return rc;
	}
	if (js->nbuild > 0) {
		build_frame *b = &js->build[--js->nbuild];
		free(b->key);
		js->frames[js->depth].key = NULL; /* it pointed at a build frame's key */
		pop_frame(js);
		if (js->nbuild > 0) {
			json_decref(b->container); /* the parent holds it */
			return 1;
		}
		int rc = deliver(js, b->container);
		value_done(js);
		return rc;
	}
	pop_frame(js);
	value_done(js);
	return 1;
}

static int on_start_map(void *ctx)
{
	return open_container(ctx, 0);
}

static int on_start_array(void *ctx)
{
	return open_container(ctx, 1);
}

static int on_end(void *ctx)
{
	return close_container(ctx);
}

static int on_map_key(void *ctx, const unsigned char *s, size_t n)
{
	sv_js *js = ctx;
	if (js->skip)
		return 1;
	char *key = NULL;
	size_t len = 0, bad = 0;
	if (js->nbuild > 0) {
		build_frame *b = &js->build[js->nbuild - 1];
		if (!within_cap(js, n)) {
			abandon(js, 0);
			return 1;
		}
		if (utf8_valid(s, n)) {
			if (!(key = strndup((const char *)s, n)))
				return fail(js, sv_error_set(SV_EIO, "out of memory"));
		} else {
			if (sv_js_utf8_clean((const char *)s, n, &key, &len, &bad))
				return fail(js, SV_EIO);
			js->stats.bad_text++;
		}
		free(b->key);
		b->key = key;
		if (js->keep) {
			/* The frame names the member (the build frame owns the name until its value is
			 * added: add_built). The previous member's name, if it was a container's, goes. */
			free(js->keys[js->depth]);
			js->keys[js->depth] = NULL;
			js->frames[js->depth].key = key;
			sv_js_path p = path_of(js);
			js->skip_member = !js->keep(js->ctx, &p);
		}
		return 1;
	}
	if (sv_js_utf8_clean((const char *)s, n > SV_JS_KEY_MAX ? SV_JS_KEY_MAX : n, &key, &len, &bad))
		return fail(js, SV_EIO);
	if (bad)
		js->stats.bad_text++;
	free(js->keys[js->depth]);
	js->keys[js->depth] = key;
	js->frames[js->depth].key = key;
	return 1;
}

static const yajl_callbacks callbacks = {
	on_null, on_boolean, NULL, NULL, on_number, on_string, on_start_map, on_map_key, on_end, on_start_array, on_end,
};

int sv_js_new(sv_js **out, sv_js_want_fn want, sv_js_value_fn value, void *ctx, size_t collect_max)
{
	sv_js *js = calloc(1, sizeof(*js));
	*out = NULL;
	if (!js || !(js->h = yajl_alloc(&callbacks, NULL, js))) {
		free(js);
		return sv_error_set(SV_EIO, "out of memory");
	}
	yajl_config(js->h, yajl_dont_validate_strings, 1);
	js->want = want;
	js->value = value;
	js->ctx = ctx;
	js->collect_max = collect_max ? collect_max : SV_JS_COLLECT_MAX;
	*out = js;
	return 0;
}

static int parse_error(sv_js *js, const unsigned char *buf, size_t len)
{
	unsigned char *msg = yajl_get_error(js->h, 0, buf, len);
	int rc = sv_error_set(SV_ECORRUPT, "not JSON near byte %llu: %s",
			      (unsigned long long)(js->stats.bytes - len + yajl_get_bytes_consumed(js->h)),
			      msg ? (const char *)msg : "parse error");
	if (msg)
		yajl_free_error(js->h, msg);
	return rc;
}

int sv_js_feed(sv_js *js, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (js->rc)
		return js->rc;
	if (!js->bom_checked) {
		/* A UTF-8 byte-order mark before the document, which yajl would refuse. */
		while (len > 0 && js->nbom < 3) {
			js->bom[js->nbom++] = *p++;
			len--;
			js->stats.bytes++;
		}
		if (js->nbom < 3)
			return 0;
		js->bom_checked = 1;
		if (memcmp(js->bom, "\xEF\xBB\xBF", 3) != 0) {
			js->stats.bytes -= 3;
			js->nbom = 0;
			int rc = sv_js_feed(js, js->bom, 3);
			if (rc)
				return rc;
		}
	}
	if (len == 0)
		return 0;
	js->stats.bytes += len;
	if (yajl_parse(js->h, p, len) != yajl_status_ok) {
		if (!js->rc)
			js->rc = parse_error(js, p, len);
	}
	return js->rc;
}

int sv_js_finish(sv_js *js)
{
	if (js->rc)
		return js->rc;
	if (!js->bom_checked && js->nbom > 0) {
		js->bom_checked = 1;
		unsigned char held[3];
		size_t n = js->nbom;
		memcpy(held, js->bom, n);
		js->stats.bytes -= n;
		if (!(n == 3 && !memcmp(held, "\xEF\xBB\xBF", 3)) && sv_js_feed(js, held, n))
			return js->rc;
	}
	if (yajl_complete_parse(js->h) != yajl_status_ok && !js->rc)
		js->rc = parse_error(js, (const unsigned char *)"", 0);
	return js->rc;
}

void sv_js_set_keep(sv_js *js, sv_js_keep_fn keep)
{
	js->keep = keep;
}

const sv_js_stats *sv_js_stats_get(const sv_js *js)
{
	return &js->stats;
}

void sv_js_free(sv_js *js)
{
	if (!js)
		return;
	drop_build(js);
	while (js->depth > 0)
		pop_frame(js);
	yajl_free(js->h);
	free(js);
}
