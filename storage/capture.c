/*
 * storage/capture.c -- writing and reading capture records (see capture.h).
 */
#include "capture.h"

#include "../common/error.h"
#include "../common/hex.h"

#include <jansson.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

/*
 * Sets key to v. v is NULL when a text from the server is not UTF-8 (a
 * hostile Content-Type, say): the key is left out, and the capture is still
 * recorded.
 */
static int set(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return 0;
	return json_object_set_new(o, key, v) ? sv_error_set(SV_EIO, "out of memory") : 0;
}

int sv_capture_to_json(const sv_capture *c, char **out)
{
	json_t *o = json_object();
	int rc = o ? 0 : sv_error_set(SV_EIO, "out of memory");
	*out = NULL;
	if (rc == 0 && !c->url)
		rc = sv_error_set(SV_EINVAL, "capture record without a URL");
	if (rc == 0)
		rc = set(o, "url", json_string(c->url));
	if (rc == 0)
		rc = set(o, "ts", str_or_null(c->ts));
	if (rc == 0)
		rc = set(o, "status", c->status >= 0 ? json_integer(c->status) : json_null());
	if (rc == 0)
		rc = set(o, "mime", str_or_null(c->mime));
	if (rc == 0)
		rc = set(o, "length", int_or_null(c->length));
	if (rc == 0)
		rc = set(o, "sha256", str_or_null(c->sha256));
	if (rc == 0)
		rc = set(o, "stored", int_or_null(c->stored));
	/* Header blocks are kept as sent, whatever their bytes. */
	if (rc == 0)
		rc = set(o, "headers", c->headers ? json_stringn_nocheck(c->headers, c->headers_len) : json_null());
	if (rc == 0)
		rc = set(o, "seed", int_or_null(c->seed));
	if (rc == 0)
		rc = set(o, "via", str_or_null(c->via));
	if (rc == 0)
		rc = set(o, "kind", json_string(sv_kind_name(c->kind)));
	if (rc == 0)
		rc = set(o, "node", str_or_null(c->node));
	if (rc == 0 && c->content_encoding)
		rc = set(o, "content_encoding", json_string(c->content_encoding));
	if (rc == 0 && c->resumed_at >= 0)
		rc = set(o, "resumed_at", json_integer((json_int_t)c->resumed_at));
	if (rc == 0 && c->redirect)
		rc = set(o, "redirect", json_string(c->redirect));
	if (rc == 0 && c->truncated)
		rc = set(o, "truncated", json_string(c->truncated));
	if (rc == 0 && c->error)
		rc = set(o, "error", json_string(c->error));
	if (rc == 0 && c->headers_truncated)
		rc = set(o, "headers_truncated", json_true());
	if (rc == 0 && c->attempt > 0)
		rc = set(o, "attempt", json_integer(c->attempt));
	if (rc == 0 && c->tls_unverified)
		rc = set(o, "tls_unverified", json_true());
	if (rc == 0 && c->file)
		rc = set(o, "file", json_string(c->file));
	if (rc == 0 && c->note)
		rc = set(o, "note", json_string(c->note));
	if (rc == 0 && !(*out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		rc = sv_error_set(SV_EIO, "out of memory");
	json_decref(o);
	return rc;
}

/* Records name objects as their files are named: 64 lower-case hex digits. */
static int is_hex64(const char *s)
{
	return strlen(s) == 64 && sv_hex_is_lower(s, 64);
}

static const char *get_str(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static int64_t get_int(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

int sv_capture_parse(sv_capture_parsed *out, const char *line, size_t len)
{
	sv_capture init = SV_CAPTURE_INIT;
	json_t *j = json_loadb(line, len, 0, NULL), *v;
	memset(out, 0, sizeof(*out));
	out->c = init;
	out->json = j;
	if (!json_is_object(j) || !(out->c.url = get_str(j, "url")))
		return sv_error_set(SV_ECORRUPT, "not a capture record");
	v = json_object_get(j, "sha256");
	if (v && !json_is_null(v) && (!json_is_string(v) || !is_hex64(json_string_value(v))))
		return sv_error_set(SV_ECORRUPT, "not a capture record: a bad sha256");
	sv_capture *c = &out->c;
	c->sha256 = json_string_value(v);
	c->ts = get_str(j, "ts");
	c->status = (int)get_int(j, "status");
	c->mime = get_str(j, "mime");
	c->length = get_int(j, "length");
	c->stored = get_int(j, "stored");
	if ((v = json_object_get(j, "headers")) && json_is_string(v)) {
		c->headers = json_string_value(v);
		c->headers_len = json_string_length(v);
	}
	c->seed = get_int(j, "seed");
	c->via = get_str(j, "via");
	const char *kind = get_str(j, "kind");
	out->kind_known = kind && sv_kind_parse(kind, &c->kind) == 0;
	if (!out->kind_known)
		c->kind = SV_KIND_PAGE;
	c->node = get_str(j, "node");
	c->content_encoding = get_str(j, "content_encoding");
	c->resumed_at = get_int(j, "resumed_at");
	c->redirect = get_str(j, "redirect");
	c->truncated = get_str(j, "truncated");
	c->error = get_str(j, "error");
	c->headers_truncated = json_is_true(json_object_get(j, "headers_truncated"));
	c->attempt = get_int(j, "attempt") > 0 ? (int)get_int(j, "attempt") : 0;
	c->tls_unverified = json_is_true(json_object_get(j, "tls_unverified"));
	c->file = get_str(j, "file");
	c->note = get_str(j, "note");
	return 0;
}

void sv_capture_parsed_clear(sv_capture_parsed *p)
{
	if (!p)
		return;
	json_decref(p->json);
	memset(p, 0, sizeof(*p));
}
