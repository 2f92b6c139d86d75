/*
 * crawler/catalog.c -- the table of catalog steps, each catalog kind's
 * first request, and what the readers share (see catalog.h): the stream
 * every reader parses its answer with, error envelopes, and the one URL
 * builder and percent-encoder of the catalogs' APIs.
 *
 * What stays true: a reader fails an answer at most once, and says nothing
 * after; every URL a reader makes is built here, so one query value is
 * encoded one way whichever API it goes to.
 */
#include "catalog.h"

#include "../common/error.h"
#include "../common/pct.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const sv_catalog_reader *const readers[] = {
	&sv_catalog_dcat,	     &sv_catalog_ckan,		&sv_catalog_socrata,   &sv_catalog_datagov,
	&sv_catalog_arcgis_services, &sv_catalog_arcgis_layer, &sv_catalog_arcgis_ids, &sv_catalog_arcgis_batch,
	&sv_catalog_probe,
};

const sv_catalog_reader *sv_catalog_reader_for(const char *step)
{
	for (size_t i = 0; step && i < sizeof(readers) / sizeof(readers[0]); i++)
		if (!strcmp(readers[i]->step, step))
			return readers[i];
	return NULL;
}

/* ---- first requests ---- */

static char *dcat_first(const char *url, const char **step, json_t **state)
{
	*step = "dcat";
	*state = json_object();
	return strdup(url);
}

static sv_catalog_first_fn *const firsts[] = {
	[SV_SHEET_DCAT] = dcat_first,
	[SV_SHEET_CKAN] = sv_catalog_ckan_first,
	[SV_SHEET_SOCRATA] = sv_catalog_socrata_first,
	[SV_SHEET_ARCGIS] = sv_catalog_arcgis_first,
	[SV_SHEET_DATAGOV] = sv_catalog_datagov_probe_first,
	[SV_SHEET_AUTO] = sv_catalog_auto_first,
};

int sv_catalog_first(sv_sheet_kind kind, const char *url, char **url_out, const char **step, json_t **state)
{
	*url_out = NULL;
	*state = NULL;
	if ((size_t)kind >= sizeof(firsts) / sizeof(firsts[0]) || !firsts[kind])
		return sv_error_set(SV_EINVAL, "a row of kind %s is not a catalog salvage reads yet",
				    sv_sheet_kind_name(kind));
	char *out = firsts[kind](url, step, state);
	if (!out || !*state) {
		free(out);
		json_decref(*state);
		*state = NULL;
		return sv_error_set(SV_EIO, "out of memory");
	}
	*url_out = out;
	return 0;
}

/* ---- what the readers share ---- */

const char *sv_catalog_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		return NULL;
	for (const char *c = s; *c; c++)
		if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
			return s;
	return NULL;
}

int64_t sv_catalog_int(const json_t *o, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d)
			return (int64_t)d;
	}
	return dflt;
}

void sv_catalog_count(const sv_catalog_sink *sink, const char *what, int64_t n)
{
	if (sink->count)
		sink->count(sink->ctx, what, n);
}

int sv_catalog_is_service_format(const char *format)
{
	static const char *const formats[] = {"api",	   "wms",   "wfs",   "wcs",	  "wmts",
					      "esri rest", "sparql", "odata", "arcgis geoservices rest api"};
	for (size_t i = 0; format && i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcasecmp(format, formats[i]))
			return 1;
	return format && !strncasecmp(format, "ogc", 3); /* OGC, "OGC WMS", "OGC:WFS" */
}

/* A code that may be a number or a string (ArcGIS: 400; api.data.gov: "OVER_RATE_LIMIT"), into buf. */
static const char *code_text(const json_t *v, char *buf, size_t cap)
{
	if (json_is_integer(v)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
		return buf;
	}
	return json_string_value(v);
}

void sv_catalog_fail_with(sv_catalog_stream *s, const char *what, const json_t *err)
{
	char num[32];
	const char *code = NULL, *message = json_string_value(err);
	if (json_is_object(err)) {
		code = code_text(json_object_get(err, "code"), num, sizeof(num));
		if (!code)
			code = sv_catalog_str(err, "__type"); /* CKAN */
		message = sv_catalog_str(err, "message");
	}
	if (code && message)
		sv_catalog_fail(s, "%s: %s: %s", what, code, message);
	else if (code || message)
		sv_catalog_fail(s, "%s: %s", what, message ? message : code);
	else
		sv_catalog_fail(s, "%s", what);
}

int sv_catalog_request(const sv_catalog_sink *sink, char *url, const char *step, json_t *state)
{
	int rc;
	if (!url || !state)
		rc = sv_error_set(SV_EIO, "out of memory");
	else
		rc = sink->request(sink->ctx, url, step, state);
	free(url);
	json_decref(state);
	return rc;
}

/* ---- the stream under every reader ---- */

int sv_catalog_reader_new(void **out, size_t size, const char *url, const char *cursor, const sv_catalog_sink *sink,
			  sv_js_want_fn want, sv_js_value_fn value)
{
	sv_catalog_stream *s = calloc(1, size);
	int rc;
	*out = NULL;
	if (!s)
		return sv_error_set(SV_EIO, "out of memory");
	s->sink = sink;
	s->url = strdup(url);
	s->cursor = cursor ? strdup(cursor) : NULL;
	if (!s->url || (cursor && !s->cursor)) {
		sv_catalog_reader_free(s);
		return sv_error_set(SV_EIO, "out of memory");
	}
	if ((rc = sv_js_new(&s->js, want, value, s, 0))) {
		sv_catalog_reader_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int key_is(const sv_js_frame *f, const char *key)
{
	return key && f->key && !strcmp(f->key, key);
}

sv_js_action sv_catalog_want_page(const sv_js_path *p, const char *list, const char *member, int *listed)
{
	const sv_js_frame *f = p->frames;
	if (p->depth == 0)
		return SV_JS_DESCEND;
	if (p->depth == 1 && key_is(&f[0], list)) {
		*listed = 1;
		return SV_JS_DESCEND;
	}
	if ((p->depth == 2 && key_is(&f[0], list) && !f[1].key) || (p->depth == 1 && key_is(&f[0], member)) ||
	    sv_catalog_is_error(p))
		return SV_JS_COLLECT;
	return SV_JS_SKIP;
}

void sv_catalog_fail(sv_catalog_stream *s, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	if (s->failed)
		return;
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (s->sink->fail)
		s->sink->fail(s->sink->ctx, why);
}

void sv_catalog_end(sv_catalog_stream *s)
{
	if (!s->failed && s->sink->end)
		s->sink->end(s->sink->ctx);
}

/* The reading stops at the first bytes that are not JSON: the answer is no catalog (or is cut). */
int sv_catalog_feed(void *r, const void *buf, size_t len)
{
	sv_catalog_stream *s = r;
	int rc = sv_js_feed(s->js, buf, len);
	if (rc)
		sv_catalog_fail(s, "%s", sv_error_last());
	return rc;
}

int sv_catalog_is_error(const sv_js_path *p)
{
	return p->depth == 1 && key_is(&p->frames[0], "error");
}

int sv_catalog_keep_error(sv_catalog_stream *s, json_t *v)
{
	json_decref(s->error);
	s->error = v ? json_incref(v) : json_string("an error too large to keep");
	return 0;
}

int sv_catalog_stream_finish(sv_catalog_stream *s, const char *api)
{
	char what[64];
	if (s->failed)
		return -1;
	if (sv_js_finish(s->js)) {
		sv_catalog_fail(s, "%s", sv_error_last());
		return -1;
	}
	const sv_js_stats *st = sv_js_stats_get(s->js);
	if (st->bad_text)
		sv_catalog_count(s->sink, "bad_text", (int64_t)st->bad_text);
	if (s->error) {
		snprintf(what, sizeof(what), "%s error", api);
		sv_catalog_fail_with(s, what, s->error);
		return -1;
	}
	return 0;
}

void sv_catalog_keyset_see(sv_catalog_keyset *k, const sv_catalog_sink *sink, const char *after, const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (!id || n > SV_CATALOG_ID_MAX) {
		sv_catalog_count(sink, id ? "id_too_long" : "no_id", 1);
		return;
	}
	if (after && strcmp(id, after) <= 0)
		k->behind = 1;
	if (k->last[0] && strcmp(id, k->last) <= 0)
		k->unsorted = 1;
	memcpy(k->last, id, n + 1);
}

void sv_catalog_reader_free(void *r)
{
	sv_catalog_stream *s = r;
	if (!s)
		return;
	sv_js_free(s->js);
	json_decref(s->error);
	free(s->url);
	free(s->cursor);
	free(s);
}

/* ---- URLs ---- */

static void url_grow(sv_catalog_url *u, size_t more)
{
	if (u->oom || u->len + more + 1 <= u->cap)
		return;
	size_t cap = u->cap ? u->cap : 128;
	while (cap < u->len + more + 1)
		cap *= 2;
	char *s = realloc(u->s, cap);
	if (!s) {
		u->oom = 1;
		return;
	}
	u->s = s;
	u->cap = cap;
}

void sv_catalog_url_raw(sv_catalog_url *u, const char *s, size_t n)
{
	url_grow(u, n);
	if (u->oom)
		return;
	memcpy(u->s + u->len, s, n);
	u->len += n;
	u->s[u->len] = '\0';
}

void sv_catalog_url_enc(sv_catalog_url *u, const char *s, int keep_slash)
{
	url_grow(u, 3 * strlen(s));
	if (!u->oom)
		u->len += sv_pct_encode(u->s + u->len, s, keep_slash ? "*/" : "*");
}

void sv_catalog_url_param(sv_catalog_url *u, const char *key, const char *value)
{
	int first = !u->s || !memchr(u->s, '?', u->len);
	sv_catalog_url_raw(u, first ? "?" : "&", 1);
	sv_catalog_url_enc(u, key, 0);
	sv_catalog_url_raw(u, "=", 1);
	sv_catalog_url_enc(u, value, 0);
}

void sv_catalog_url_num(sv_catalog_url *u, const char *key, int64_t n)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)n);
	sv_catalog_url_param(u, key, buf);
}

char *sv_catalog_url_take(sv_catalog_url *u)
{
	char *s = u->oom ? NULL : u->s;
	if (u->oom)
		free(u->s);
	else if (!s)
		s = strdup("");
	*u = (sv_catalog_url){0};
	return s;
}

char *sv_catalog_url_set(const char *url, const char *key, const char *value)
{
	sv_catalog_url u = {0};
	size_t end = strcspn(url, "#"), q = strcspn(url, "?#"), klen = strlen(key);
	sv_catalog_url_raw(&u, url, q);
	for (const char *p = url + q; p < url + end;) {
		p++; /* the '?' or '&' before a parameter */
		size_t n = strcspn(p, "&#");
		if (n && !(n >= klen && !strncmp(p, key, klen) && (n == klen || p[klen] == '='))) {
			sv_catalog_url_raw(&u, u.len > q ? "&" : "?", 1);
			sv_catalog_url_raw(&u, p, n);
		}
		p += n;
	}
	if (value)
		sv_catalog_url_param(&u, key, value);
	return sv_catalog_url_take(&u);
}

size_t sv_catalog_base_len(const char *url)
{
	size_t n = strcspn(url, "?#");
	while (n > 0 && url[n - 1] == '/')
		n--;
	return n;
}
