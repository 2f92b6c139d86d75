/*
 * crawler/row.c -- a sheet row's crawl settings (see row.h).
 */
#include "row.h"

#include "../common/error.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sv_row {
	char *url;          /* normalised */
	sv_scope scope;
	int depth;          /* -1 unlimited */
	char *include, *exclude;
	int robots;         /* 1 respect */
	int delay_ms;       /* -1 the default */
	int64_t max_urls;   /* -1 none */
	int64_t max_bytes;  /* -1 none */
	int datasets;       /* 1 fetch them */
	sv_sheet_kind kind; /* a site, or a catalog */
	sv_scope_compiled *compiled;
};

void sv_row_free(sv_row *r)
{
	if (!r)
		return;
	free(r->url);
	free(r->include);
	free(r->exclude);
	sv_scope_free(r->compiled);
	free(r);
}

static int dup_or_null(char **out, const char *s)
{
	*out = NULL;
	return s && !(*out = strdup(s)) ? sv_error_set(SV_EIO, "out of memory") : 0;
}

/* Copies the strings and compiles the scope; frees r on failure. */
static int finish(sv_row **out, sv_row *r, const char *url, const char *include, const char *exclude)
{
	sv_scope_rules rules = SV_SCOPE_RULES_INIT;
	int rc;
	if ((rc = dup_or_null(&r->url, url)) || (rc = dup_or_null(&r->include, include)) ||
	    (rc = dup_or_null(&r->exclude, exclude)))
		goto done;
	rules.scope = r->scope;
	rules.depth = r->depth;
	rules.include = r->include;
	rules.exclude = r->exclude;
	rules.datasets = r->datasets;
	rules.seed_url = r->url;
	rc = sv_scope_compile(&r->compiled, &rules);
done:
	if (rc) {
		sv_row_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int sv_row_from_sheet(sv_row **out, const sv_sheet_row *row, const char *url)
{
	sv_row *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return sv_error_set(SV_EIO, "out of memory");
	r->scope = row->scope;
	r->depth = row->depth;
	r->robots = row->robots;
	r->delay_ms = row->delay_ms;
	r->max_urls = row->max_urls;
	r->max_bytes = row->max_bytes;
	r->datasets = row->datasets;
	r->kind = row->kind;
	return finish(out, r, url, row->include, row->exclude);
}

static void put(char **o, const char *s)
{
	size_t n = strlen(s);
	memcpy(*o, s, n);
	*o += n;
}

static void put_int(char **o, int64_t v)
{
	char digits[24], *d = digits + sizeof(digits);
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do
		*--d = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--d = '-';
	memcpy(*o, d, (size_t)(digits + sizeof(digits) - d));
	*o += digits + sizeof(digits) - d;
}

/* Appends s as a JSON string, or null, escaped as jansson escapes it. */
static void put_json_string(char **o, const char *s)
{
	static const char HEX[] = "0123456789ABCDEF";
	char *p = *o;
	if (!s) {
		put(o, "null");
		return;
	}
	*p++ = '"';
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		const char *short_form = *c == '"' ? "\\\"" : *c == '\\' ? "\\\\" : *c == '\b' ? "\\b"
					: *c == '\f' ? "\\f" : *c == '\n' ? "\\n" : *c == '\r' ? "\\r"
					: *c == '\t' ? "\\t" : NULL;
		if (short_form) {
			memcpy(p, short_form, 2);
			p += 2;
		} else if (*c < 0x20) {
			memcpy(p, "\\u00", 4);
			p[4] = HEX[*c >> 4];
			p[5] = HEX[*c & 15];
			p += 6;
		} else {
			*p++ = (char)*c;
		}
	}
	*p++ = '"';
	*o = p;
}

/* Gives back what the worst case reserved past the end: 100,000 rows kept
 * about 600 bytes each for 250 of JSON. */
static char *fit(char *buf, char *end)
{
	*end = '\0';
	char *t = realloc(buf, (size_t)(end - buf) + 1);
	return t ? t : buf;
}

/*
 * Written by hand, byte for byte what json_pack and json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER) wrote before (a queue compares the text to tell an
 * unchanged row): jansson took a third of the time of loading a sheet.
 */
static int write_json(const sv_row *r, char **out)
{
	size_t strings = strlen(r->url) + (r->include ? strlen(r->include) : 0) +
			 (r->exclude ? strlen(r->exclude) : 0);
	char *buf = malloc(6 * strings + 256), *p = buf; /* \u00XX is the longest escape */
	*out = NULL;
	if (!buf)
		return sv_error_set(SV_EIO, "out of memory");
	put(&p, "{\"url\":");
	put_json_string(&p, r->url);
	put(&p, ",\"scope\":\"");
	put(&p, sv_scope_name(r->scope));
	put(&p, "\",\"depth\":");
	put_int(&p, r->depth);
	put(&p, ",\"include\":");
	put_json_string(&p, r->include);
	put(&p, ",\"exclude\":");
	put_json_string(&p, r->exclude);
	put(&p, r->robots ? ",\"robots\":true,\"delay_ms\":" : ",\"robots\":false,\"delay_ms\":");
	put_int(&p, r->delay_ms);
	put(&p, ",\"max_urls\":");
	put_int(&p, r->max_urls);
	put(&p, ",\"max_bytes\":");
	put_int(&p, r->max_bytes);
	put(&p, r->datasets ? ",\"datasets\":true" : ",\"datasets\":false");
	if (r->kind != SV_SHEET_SITE) { /* a site row's text stays as it was: the queue compares it */
		put(&p, ",\"kind\":\"");
		put(&p, sv_sheet_kind_name(r->kind));
		put(&p, "\"");
	}
	put(&p, "}");
	*out = fit(buf, p);
	return 0;
}

int sv_row_meta_json(const sv_sheet_row *row, char **out)
{
	size_t len = 2;
	for (size_t i = 0; i < row->nmeta; i++)
		len += 6 * (strlen(row->meta[i].key) + strlen(row->meta[i].value)) + 6;
	char *buf = malloc(len + 1), *p = buf;
	*out = NULL;
	if (!buf)
		return sv_error_set(SV_EIO, "out of memory");
	*p++ = '{';
	for (size_t i = 0; i < row->nmeta; i++) {
		if (i)
			*p++ = ',';
		put_json_string(&p, row->meta[i].key);
		*p++ = ':';
		put_json_string(&p, row->meta[i].value);
	}
	*p++ = '}';
	*out = fit(buf, p);
	return 0;
}

int sv_row_to_json(const sv_row *r, char **out)
{
	return write_json(r, out);
}

int sv_row_sheet_json(const sv_sheet_row *row, const char *url, char **out)
{
	sv_row r = {
		.url = (char *)url, .scope = row->scope, .depth = row->depth, .include = row->include,
		.exclude = row->exclude, .robots = row->robots, .delay_ms = row->delay_ms,
		.max_urls = row->max_urls, .max_bytes = row->max_bytes, .datasets = row->datasets, .kind = row->kind,
	};
	return write_json(&r, out);
}

static int64_t int_or(json_t *j, const char *key, int64_t def)
{
	json_t *v = json_object_get(j, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

int sv_row_from_json(sv_row **out, const char *json)
{
	json_t *j = json_loads(json, 0, NULL);
	sv_row *r = NULL;
	int rc;
	*out = NULL;
	const char *url = json_string_value(json_object_get(j, "url"));
	const char *scope = json_string_value(json_object_get(j, "scope"));
	if (!url) {
		rc = sv_error_set(SV_ECORRUPT, "a seed row's settings in the queue cannot be read");
		goto done;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	r->scope = !scope                     ? SV_SCOPE_PREFIX
		   : !strcmp(scope, "page")   ? SV_SCOPE_PAGE
		   : !strcmp(scope, "host")   ? SV_SCOPE_HOST
		   : !strcmp(scope, "domain") ? SV_SCOPE_DOMAIN
					      : SV_SCOPE_PREFIX;
	r->depth = (int)int_or(j, "depth", -1);
	r->robots = json_is_false(json_object_get(j, "robots")) ? 0 : 1;
	r->delay_ms = (int)int_or(j, "delay_ms", -1);
	r->max_urls = int_or(j, "max_urls", -1);
	r->max_bytes = int_or(j, "max_bytes", -1);
	r->datasets = json_is_false(json_object_get(j, "datasets")) ? 0 : 1;
	if (sv_sheet_kind_parse(json_string_value(json_object_get(j, "kind")), &r->kind) != 0)
		r->kind = SV_SHEET_SITE;
	rc = finish(out, r, url, json_string_value(json_object_get(j, "include")),
		    json_string_value(json_object_get(j, "exclude")));
done:
	json_decref(j);
	return rc;
}

const sv_scope_compiled *sv_row_scope(const sv_row *r)
{
	return r ? r->compiled : NULL;
}

int sv_row_add_landing(sv_row *r, const char *url)
{
	return sv_scope_add_landing(r->compiled, url);
}

int sv_row_robots(const sv_row *r)
{
	return r ? r->robots : 1;
}

int64_t sv_row_max_bytes(const sv_row *r)
{
	return r ? r->max_bytes : -1;
}

sv_sheet_kind sv_row_kind(const sv_row *r)
{
	return r ? r->kind : SV_SHEET_SITE;
}

const char *sv_row_url(const sv_row *r)
{
	return r ? r->url : NULL;
}
