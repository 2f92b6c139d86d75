/*
 * storage/capture.c -- writing and reading capture records (see capture.h).
 */
#include "capture.h"

#include "../common/error.h"
#include "../common/hex.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* Sets key to v; v is NULL only when out of memory. */
static int set(json_t *o, const char *key, json_t *v)
{
	if (!v || json_object_set_new(o, key, v))
		return sv_error_set(SV_EIO, "out of memory");
	return 0;
}

/* Length of the valid UTF-8 sequence at s[0..n) (1 to 4), or 0 when the byte
 * there does not start one (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;
		hi = s[0] == 0xed ? 0x9f : 0xbf;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A text from the network as a JSON string: as it is when it is UTF-8, else
 * with each byte that is not part of valid UTF-8 written %XX (a Latin-1
 * "Donn\xe9es" becomes "Donn%E9es"), so that no server can make a record
 * unbuildable. NULL only when out of memory.
 */
static json_t *text(const char *s)
{
	size_t n = strlen(s), bad = 0;
	for (size_t i = 0, k; i < n; i += k ? k : 1)
		if (!(k = utf8_seq((const unsigned char *)s + i, n - i)))
			bad++;
	if (!bad)
		return json_stringn(s, n);
	char *e = malloc(n + 2 * bad + 1), *o = e;
	if (!e)
		return NULL;
	for (size_t i = 0, k; i < n; i += k ? k : 1) {
		if ((k = utf8_seq((const unsigned char *)s + i, n - i))) {
			memcpy(o, s + i, k);
			o += k;
		} else {
			o += sprintf(o, "%%%02X", (unsigned char)s[i]);
		}
	}
	json_t *j = json_stringn(e, (size_t)(o - e));
	free(e);
	return j;
}

static json_t *str_or_null(const char *s)
{
	return s ? text(s) : json_null();
}

/*
 * A raw header block, byte for byte: as the string `key` when it is UTF-8
 * without NUL (which readers refuse), else as `key`_b64, the standard base64
 * of the bytes. An absent block is null (always-written) or no key at all.
 */
static int set_block(json_t *o, const char *key, const char *p, size_t len, int always)
{
	char b64key[32];
	if (!p)
		return always ? set(o, key, json_null()) : 0;
	json_t *v = memchr(p, 0, len) ? NULL : json_stringn(p, len);
	if (v)
		return set(o, key, v);
	if (len > (size_t)INT_MAX / 4 * 3)
		return sv_error_set(SV_EINVAL, "a header block of %zu bytes", len);
	unsigned char *b = malloc((len + 2) / 3 * 4 + 1);
	if (!b)
		return sv_error_set(SV_EIO, "out of memory");
	EVP_EncodeBlock(b, (const unsigned char *)p, (int)len);
	v = json_string((const char *)b);
	free(b);
	snprintf(b64key, sizeof(b64key), "%s_b64", key);
	return set(o, b64key, v);
}

void sv_capture_id_format(char out[SV_CAPTURE_ID_LEN], const unsigned char bytes[16], int version)
{
	unsigned char b[16];
	char hex[33];
	memcpy(b, bytes, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	sv_hex_encode(b, sizeof(b), hex);
	snprintf(out, SV_CAPTURE_ID_LEN, "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

int sv_capture_new_id(char out[SV_CAPTURE_ID_LEN])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return sv_error_set(SV_EIO, "no random bytes for a record id");
	sv_capture_id_format(out, b, 4);
	return 0;
}

static json_t *int_or_null(int64_t v)
{
	return v >= 0 ? json_integer((json_int_t)v) : json_null();
}

int sv_capture_to_json(const sv_capture *c, char **out)
{
	json_t *o = json_object();
	int rc = o ? 0 : sv_error_set(SV_EIO, "out of memory");
	*out = NULL;
	if (rc == 0 && !c->url)
		rc = sv_error_set(SV_EINVAL, "capture record without a URL");
	if (rc == 0)
		rc = set(o, "url", text(c->url));
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
	if (rc == 0)
		rc = set_block(o, "headers", c->headers, c->headers_len, 1);
	if (rc == 0)
		rc = set(o, "seed", int_or_null(c->seed));
	if (rc == 0)
		rc = set(o, "via", str_or_null(c->via));
	if (rc == 0)
		rc = set(o, "kind", json_string(sv_kind_name(c->kind)));
	if (rc == 0)
		rc = set(o, "node", str_or_null(c->node));
	if (rc == 0 && c->id)
		rc = set(o, "id", text(c->id));
	if (rc == 0 && c->content_encoding)
		rc = set(o, "content_encoding", text(c->content_encoding));
	if (rc == 0 && c->resumed_at >= 0)
		rc = set(o, "resumed_at", json_integer((json_int_t)c->resumed_at));
	if (rc == 0 && c->redirect)
		rc = set(o, "redirect", text(c->redirect));
	if (rc == 0 && c->truncated)
		rc = set(o, "truncated", text(c->truncated));
	if (rc == 0 && c->error)
		rc = set(o, "error", text(c->error));
	if (rc == 0 && c->headers_truncated)
		rc = set(o, "headers_truncated", json_true());
	if (rc == 0 && c->attempt > 0)
		rc = set(o, "attempt", json_integer(c->attempt));
	if (rc == 0 && c->tls_unverified)
		rc = set(o, "tls_unverified", json_true());
	if (rc == 0)
		rc = set_block(o, "request", c->request, c->request_len, 0);
	if (rc == 0 && c->ip)
		rc = set(o, "ip", text(c->ip));
	if (rc == 0 && c->file)
		rc = set(o, "file", text(c->file));
	if (rc == 0 && c->note)
		rc = set(o, "note", text(c->note));
	if (rc == 0 && c->source)
		rc = set(o, "source", text(c->source));
	if (rc == 0 && c->dataset)
		rc = set(o, "dataset", json_loads(c->dataset, 0, NULL));
	if (rc == 0 && c->catalog)
		rc = set(o, "catalog", json_loads(c->catalog, 0, NULL));
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

/* A block written by set_block, into *p and *len (decoded into *buf when base64). */
static int get_block(json_t *j, const char *key, const char **p, size_t *len, char **buf)
{
	char b64key[32];
	json_t *v = json_object_get(j, key);
	if (v && json_is_string(v)) {
		*p = json_string_value(v);
		*len = json_string_length(v);
		return 0;
	}
	snprintf(b64key, sizeof(b64key), "%s_b64", key);
	if (!(v = json_object_get(j, b64key)) || !json_is_string(v))
		return 0;
	const char *b = json_string_value(v);
	size_t n = json_string_length(v);
	int got;
	if (n % 4 || n > INT_MAX || !(*buf = malloc(n / 4 * 3 + 1)) ||
	    (got = EVP_DecodeBlock((unsigned char *)*buf, (const unsigned char *)b, (int)n)) < 0)
		return sv_error_set(SV_ECORRUPT, "not a capture record: bad %s", b64key);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	*len = (size_t)got - (n && b[n - 1] == '=') - (n > 1 && b[n - 2] == '=');
	(*buf)[*len] = '\0';
	*p = *buf;
	return 0;
}

int sv_capture_parse(sv_capture_parsed *out, const char *line, size_t len)
{
	sv_capture init = SV_CAPTURE_INIT;
	json_t *j = json_loadb(line, len, 0, NULL), *v;
	int rc;
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
	if ((rc = get_block(j, "headers", &c->headers, &c->headers_len, &out->headers_buf)))
		return rc;
	c->seed = get_int(j, "seed");
	c->via = get_str(j, "via");
	const char *kind = get_str(j, "kind");
	out->kind_known = kind && sv_kind_parse(kind, &c->kind) == 0;
	if (!out->kind_known)
		c->kind = SV_KIND_PAGE;
	c->node = get_str(j, "node");
	c->id = get_str(j, "id");
	c->content_encoding = get_str(j, "content_encoding");
	c->resumed_at = get_int(j, "resumed_at");
	c->redirect = get_str(j, "redirect");
	c->truncated = get_str(j, "truncated");
	c->error = get_str(j, "error");
	c->headers_truncated = json_is_true(json_object_get(j, "headers_truncated"));
	c->attempt = get_int(j, "attempt") > 0 ? (int)get_int(j, "attempt") : 0;
	c->tls_unverified = json_is_true(json_object_get(j, "tls_unverified"));
	if ((rc = get_block(j, "request", &c->request, &c->request_len, &out->request_buf)))
		return rc;
	c->ip = get_str(j, "ip");
	c->file = get_str(j, "file");
	c->note = get_str(j, "note");
	c->source = get_str(j, "source");
	/* Objects written back as text: what sv_capture_to_json takes. */
	json_t *ds = json_object_get(j, "dataset"), *cat = json_object_get(j, "catalog");
	if ((json_is_object(ds) && !(c->dataset = out->dataset_buf = json_dumps(ds, JSON_COMPACT | JSON_PRESERVE_ORDER))) ||
	    (json_is_object(cat) && !(c->catalog = out->catalog_buf = json_dumps(cat, JSON_COMPACT | JSON_PRESERVE_ORDER))))
		return sv_error_set(SV_EIO, "out of memory");
	return 0;
}

void sv_capture_parsed_clear(sv_capture_parsed *p)
{
	if (!p)
		return;
	json_decref(p->json);
	free(p->headers_buf);
	free(p->request_buf);
	free(p->dataset_buf);
	free(p->catalog_buf);
	memset(p, 0, sizeof(*p));
}
