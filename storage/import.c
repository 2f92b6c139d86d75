/*
 * storage/import.c -- WARC records in (import.h): a decompressing stream
 * (plain, gzip members, zstd frames), the record reader, digest checks, and
 * the capture records made of what passes.
 */
#include "import.h"

#include "capture.h"

#include "../common/error.h"
#include "../common/hex.h"
#include "../common/strset.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <zlib.h>
#include <zstd.h>

#define IN_CAP (1u << 20)
#define OUT_CAP (1u << 20)
#define WARC_HEADER_MAX (256u << 10)  /* a WARC header block */
#define HTTP_HEADER_MAX (256u << 10)  /* an HTTP header block inside a record */
#define REQUEST_MAX (16u << 10)       /* a request block kept with the response that follows it */
#define LENGTH_MAX (1ull << 40)       /* a record's Content-Length */
#define BATCH 1000                    /* records handed to commit at once, at most */
#define BATCH_BYTES (16u << 20)       /* and at most this much of them */

/* ---- the decompressed stream ---- */

enum { PLAIN, GZIP, ZSTD };

typedef struct {
	sv_import_read_fn rd;
	void *ctx;
	int codec;
	unsigned char *in, *out;
	size_t in_len, in_pos, out_len, out_pos;
	int in_eof, frame_open; /* frame_open: a gzip member or zstd frame started and not ended */
	int pending;            /* an error found after bytes that were handed out first */
	z_stream z;
	int z_init;
	ZSTD_DCtx *zd;
	uint64_t pos; /* decompressed bytes handed out */
	uint64_t *bytes_in;
} stream;

static int fill_in(stream *s)
{
	size_t got = 0;
	if (s->in_pos < s->in_len || s->in_eof)
		return 0;
	int rc = s->rd(s->ctx, s->in, IN_CAP, &got);
	if (rc)
		return rc;
	s->in_len = got;
	s->in_pos = 0;
	*s->bytes_in += got;
	if (got == 0)
		s->in_eof = 1;
	return 0;
}

/* More decompressed bytes into out; out_len 0 at the end of the file. */
static int fill_out(stream *s)
{
	int rc;
	s->out_len = s->out_pos = 0;
	if (s->pending)
		return s->pending;
	while (s->out_len == 0) {
		if ((rc = fill_in(s)))
			return rc;
		if (s->in_pos == s->in_len) { /* the file's end */
			if (s->frame_open)
				return sv_error_set(SV_ECORRUPT, "the file ends inside a %s",
						    s->codec == GZIP ? "gzip member" : "zstd frame");
			return 0;
		}
		if (s->codec == PLAIN) {
			size_t n = s->in_len - s->in_pos;
			memcpy(s->out, s->in + s->in_pos, n);
			s->in_pos += n;
			s->out_len = n;
		} else if (s->codec == GZIP) {
			if (!s->frame_open) {
				if (s->in[s->in_pos] != 0x1f)
					return sv_error_set(SV_ECORRUPT, "bytes that are no gzip member after member end");
				inflateReset(&s->z);
				s->frame_open = 1;
			}
			s->z.next_in = s->in + s->in_pos;
			s->z.avail_in = (uInt)(s->in_len - s->in_pos);
			s->z.next_out = s->out;
			s->z.avail_out = OUT_CAP;
			int zr = inflate(&s->z, Z_NO_FLUSH);
			s->in_pos = s->in_len - s->z.avail_in;
			s->out_len = OUT_CAP - s->z.avail_out;
			if (zr == Z_STREAM_END) {
				s->frame_open = 0;
			} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
				/* The bytes before the damage go out first: the record they belong to is named. */
				s->pending = sv_error_set(SV_ECORRUPT, "a damaged gzip member: %s",
							  s->z.msg ? s->z.msg : "bad data");
				return s->out_len ? 0 : s->pending;
			}
		} else {
			ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
			ZSTD_outBuffer o = {s->out, OUT_CAP, 0};
			size_t r = ZSTD_decompressStream(s->zd, &o, &in);
			if (ZSTD_isError(r))
				return sv_error_set(SV_ECORRUPT, "a damaged zstd frame: %s", ZSTD_getErrorName(r));
			s->in_pos = in.pos;
			s->out_len = o.pos;
			s->frame_open = r != 0;
		}
	}
	return 0;
}

static int stream_open(stream *s, sv_import_read_fn rd, void *ctx, uint64_t *bytes_in)
{
	memset(s, 0, sizeof(*s));
	s->rd = rd;
	s->ctx = ctx;
	s->bytes_in = bytes_in;
	if (!(s->in = malloc(IN_CAP)) || !(s->out = malloc(OUT_CAP)))
		return sv_error_set(SV_EIO, "out of memory");
	/* The first bytes tell the codec. */
	while (s->in_len < 4 && !s->in_eof) {
		size_t got = 0;
		int rc = rd(ctx, s->in + s->in_len, IN_CAP - s->in_len, &got);
		if (rc)
			return rc;
		if (got == 0)
			s->in_eof = 1;
		s->in_len += got;
		*bytes_in += got;
	}
	if (s->in_len >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b) {
		s->codec = GZIP;
		if (inflateInit2(&s->z, 15 + 16) != Z_OK)
			return sv_error_set(SV_EIO, "out of memory");
		s->z_init = 1;
	} else if (s->in_len >= 4 && !memcmp(s->in, "\x28\xb5\x2f\xfd", 4)) {
		s->codec = ZSTD;
	} else if (s->in_len >= 4 && (s->in[0] & 0xf0) == 0x50 && !memcmp(s->in + 1, "\x2a\x4d\x18", 3)) {
		s->codec = ZSTD; /* a skippable frame first (a dictionary's, in the IIPC proposal) */
	} else if (s->in_len >= 4 && !memcmp(s->in, "WARC", 4)) {
		s->codec = PLAIN;
	} else {
		return sv_error_set(SV_EINVAL, "not a WARC file (neither WARC records, gzip nor zstd)");
	}
	if (s->codec == ZSTD) {
		if (!(s->zd = ZSTD_createDCtx()) ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(s->zd, ZSTD_d_windowLogMax, 27)))
			return sv_error_set(SV_EIO, "out of memory");
	}
	return 0;
}

static void stream_close(stream *s)
{
	if (s->z_init)
		inflateEnd(&s->z);
	ZSTD_freeDCtx(s->zd);
	free(s->in);
	free(s->out);
}

/* Up to cap bytes; *got 0 at the end of the file. */
static int s_read(stream *s, void *buf, size_t cap, size_t *got)
{
	int rc;
	*got = 0;
	if (s->out_pos == s->out_len && (rc = fill_out(s)))
		return rc;
	size_t n = s->out_len - s->out_pos < cap ? s->out_len - s->out_pos : cap;
	memcpy(buf, s->out + s->out_pos, n);
	s->out_pos += n;
	s->pos += n;
	*got = n;
	return 0;
}

/* A line, '\n' included, into buf (NUL-terminated); *len 0 at the end of the
 * file; SV_ECORRUPT if it is longer than cap - 1. */
static int s_line(stream *s, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	int rc;
	for (;;) {
		if (s->out_pos == s->out_len) {
			if ((rc = fill_out(s)))
				return rc;
			if (s->out_len == 0)
				break;
		}
		unsigned char *p = s->out + s->out_pos, *nl = memchr(p, '\n', s->out_len - s->out_pos);
		size_t k = nl ? (size_t)(nl - p) + 1 : s->out_len - s->out_pos;
		if (n + k >= cap)
			return sv_error_set(SV_ECORRUPT, "a header line over %zu bytes", cap);
		memcpy(buf + n, p, k);
		n += k;
		s->out_pos += k;
		s->pos += k;
		if (nl)
			break;
	}
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* ---- digests as WARC writes them ---- */

typedef struct {
	const EVP_MD *md;
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned len;
	EVP_MD_CTX *ctx;
	char *text; /* as written */
} digest;

static int b32_value(int c)
{
	c = toupper(c);
	return c >= 'A' && c <= 'Z' ? c - 'A' : c >= '2' && c <= '7' ? c - '2' + 26 : -1;
}

/* "alg:value" into d (value in base32, hex or base64); 0, or -1 if it cannot be read. */
static int digest_parse(digest *d, const char *text)
{
	char alg[16];
	const char *colon = strchr(text, ':');
	if (!colon || colon - text >= (long)sizeof(alg))
		return -1;
	size_t al = (size_t)(colon - text);
	for (size_t i = 0; i < al; i++)
		alg[i] = (char)tolower((unsigned char)text[i]);
	alg[al] = '\0';
	if (!strcmp(alg, "sha-1"))
		strcpy(alg, "sha1");
	else if (!strcmp(alg, "sha-256"))
		strcpy(alg, "sha256");
	else if (!strcmp(alg, "sha-512"))
		strcpy(alg, "sha512");
	if (strcmp(alg, "sha1") && strcmp(alg, "sha256") && strcmp(alg, "sha512") && strcmp(alg, "md5"))
		return -1;
	d->md = EVP_get_digestbyname(alg);
	if (!d->md)
		return -1;
	d->len = (unsigned)EVP_MD_size(d->md);
	const char *v = colon + 1;
	size_t n = strlen(v);
	while (n && v[n - 1] == '=')
		n--;
	if (n == 2 * d->len) { /* hex */
		for (unsigned i = 0; i < d->len; i++) {
			int hi = sv_hex_value((unsigned char)v[2 * i]), lo = sv_hex_value((unsigned char)v[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return -1;
			d->want[i] = (unsigned char)(hi << 4 | lo);
		}
		return 0;
	}
	if (n == (d->len * 8 + 4) / 5) { /* base32 */
		unsigned long long acc = 0;
		int bits = 0;
		unsigned o = 0;
		for (size_t i = 0; i < n; i++) {
			int x = b32_value((unsigned char)v[i]);
			if (x < 0)
				return -1;
			acc = acc << 5 | (unsigned)x;
			bits += 5;
			if (bits >= 8) {
				bits -= 8;
				if (o < d->len)
					d->want[o++] = (unsigned char)(acc >> bits);
			}
		}
		return o == d->len ? 0 : -1;
	}
	/* base64 */
	unsigned char tmp[EVP_MAX_MD_SIZE + 4];
	size_t full = strlen(v);
	if (full % 4 || full > 4 * ((EVP_MAX_MD_SIZE + 2) / 3))
		return -1;
	int got = EVP_DecodeBlock(tmp, (const unsigned char *)v, (int)full);
	if (got < 0 || (unsigned)got - (full - n) != d->len)
		return -1;
	memcpy(d->want, tmp, d->len);
	return 0;
}

static int digest_start(digest *d, const char *text)
{
	memset(d, 0, sizeof(*d));
	if (!text)
		return 0;
	if (!(d->text = strdup(text)))
		return sv_error_set(SV_EIO, "out of memory");
	if (digest_parse(d, text) != 0) {
		d->md = NULL; /* an algorithm or form not known: not checked */
		return 0;
	}
	if (!(d->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(d->ctx, d->md, NULL) != 1)
		return sv_error_set(SV_EIO, "cannot hash");
	return 0;
}

static void digest_update(digest *d, const void *p, size_t n)
{
	if (d->ctx)
		EVP_DigestUpdate(d->ctx, p, n);
}

/* 1 when the bytes hashed match what was stated (or nothing checkable was stated). */
static int digest_matches(digest *d)
{
	unsigned char got[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (!d->ctx)
		return 1;
	EVP_DigestFinal_ex(d->ctx, got, &n);
	return n == d->len && !memcmp(got, d->want, n);
}

static void digest_free(digest *d)
{
	EVP_MD_CTX_free(d->ctx);
	free(d->text);
	memset(d, 0, sizeof(*d));
}

/* ---- the importer ---- */

typedef struct {
	char sha256[SV_DIGEST_HEX_LEN + 1];
	int64_t length, stored;
} payload;

struct sv_importer {
	sv_objects *store;
	sv_import_options o;
	sv_import_stats st;
	char **batch;
	size_t nbatch, batch_bytes;
	sv_strset payloads; /* a payload digest as stated ("sha1:...") or "sha256:<hex>" -> index */
	payload *pl;
	size_t npl, capl;
	char *req_uri, *req_block; /* the last request record, for the response after it */
	size_t req_len;
	unsigned char *buf;
};

typedef struct {
	char *type, *uri, *date, *id, *ctype, *pdig, *bdig, *ip, *truncated, *profile;
	uint64_t length;
	int has_length;
	uint64_t start; /* where its header began, in the file's content */
} warc_rec;

static void rec_clear(warc_rec *r)
{
	free(r->type), free(r->uri), free(r->date), free(r->id), free(r->ctype), free(r->pdig), free(r->bdig);
	free(r->ip), free(r->truncated), free(r->profile);
	memset(r, 0, sizeof(*r));
}

int sv_importer_new(sv_importer **out, sv_objects *store, const sv_import_options *o)
{
	sv_importer *im = calloc(1, sizeof(*im));
	*out = NULL;
	if (!im || !(im->batch = calloc(BATCH, sizeof(*im->batch))) || !(im->buf = malloc(OUT_CAP))) {
		if (im)
			free(im->batch);
		free(im);
		return sv_error_set(SV_EIO, "out of memory");
	}
	im->store = store;
	im->o = *o;
	*out = im;
	return 0;
}

const sv_import_stats *sv_importer_stats(const sv_importer *im)
{
	return &im->st;
}

static int flush(sv_importer *im)
{
	int rc = 0;
	if (im->nbatch)
		rc = im->o.commit(im->o.ctx, (const char *const *)im->batch, im->nbatch);
	for (size_t i = 0; i < im->nbatch; i++)
		free(im->batch[i]);
	im->nbatch = 0;
	im->batch_bytes = 0;
	return rc;
}

int sv_importer_finish(sv_importer *im)
{
	return flush(im);
}

void sv_importer_free(sv_importer *im)
{
	if (!im)
		return;
	for (size_t i = 0; i < im->nbatch; i++)
		free(im->batch[i]);
	free(im->batch);
	sv_strset_free(&im->payloads);
	free(im->pl);
	free(im->req_uri);
	free(im->req_block);
	free(im->buf);
	free(im);
}

static int add_record(sv_importer *im, const sv_capture *c)
{
	char *s = NULL;
	int rc = sv_capture_to_json(c, &s);
	if (rc)
		return rc;
	im->batch[im->nbatch++] = s;
	im->batch_bytes += strlen(s);
	im->st.captures++;
	return im->nbatch == BATCH || im->batch_bytes >= BATCH_BYTES ? flush(im) : 0;
}

static int note_payload(sv_importer *im, const char *key, const payload *p)
{
	if (!key)
		return 0;
	if (im->npl == im->capl) {
		size_t cap = im->capl ? 2 * im->capl : 256;
		payload *n = realloc(im->pl, cap * sizeof(*n));
		if (!n)
			return sv_error_set(SV_EIO, "out of memory");
		im->pl = n;
		im->capl = cap;
	}
	int r = sv_strset_add(&im->payloads, key, (unsigned)im->npl, NULL);
	if (r < 0)
		return r;
	if (r == 0)
		im->pl[im->npl++] = *p;
	return 0;
}

/* "alg:value" with the algorithm in lower case, as the payload map keys it. */
static char *digest_key(const char *text)
{
	char *k = strdup(text);
	for (char *c = k; c && *c && *c != ':'; c++)
		*c = (char)tolower((unsigned char)*c);
	return k;
}

/* WARC-Date (second, or finer) as the records' RFC 3339 with milliseconds. */
static void capture_ts(const char *date, char out[32])
{
	int y, mo, d, h, mi, s;
	char frac[8] = "000";
	if (!date || sscanf(date, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6) {
		snprintf(out, 32, "%s", date ? date : "");
		return;
	}
	const char *dot = strchr(date, '.');
	if (dot)
		for (int i = 0; i < 3 && isdigit((unsigned char)dot[1 + i]); i++)
			frac[i] = dot[1 + i];
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", y, mo, d, h, mi, s, frac);
}

/* The value of header name in an HTTP header block (malloc'd), or NULL. */
static char *http_header(const char *block, size_t len, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(block + i, '\n', len - i);
		size_t l = nl ? (size_t)(nl - (block + i)) + 1 : len - i;
		const char *line = block + i;
		if (l > n && !strncasecmp(line, name, n) && line[n] == ':') {
			const char *v = line + n + 1, *end = line + l;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			while (end > v && isspace((unsigned char)end[-1]))
				end--;
			return strndup(v, (size_t)(end - v));
		}
		i += l;
	}
	return NULL;
}

/* "<urn:...>" without its angle brackets. */
static char *unbracket(const char *v)
{
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '<' && v[n - 1] == '>')
		return strndup(v + 1, n - 2);
	return strdup(v);
}

static int read_header(stream *s, warc_rec *r, char *line, int *eof)
{
	size_t len, total = 0;
	int rc;
	*eof = 0;
	/* Blank lines between records are let pass. */
	do {
		if ((rc = s_line(s, line, 8192, &len)))
			return rc;
		if (len == 0) {
			*eof = 1;
			return 0;
		}
	} while (!strcmp(line, "\r\n") || !strcmp(line, "\n"));
	r->start = s->pos - len;
	if (strncmp(line, "WARC/1.0", 8) && strncmp(line, "WARC/1.1", 8))
		return sv_error_set(SV_ECORRUPT, "no WARC record at byte %llu of its content",
				    (unsigned long long)r->start);
	char **last = NULL;
	for (;;) {
		if ((rc = s_line(s, line, 8192, &len)))
			return rc;
		if (len == 0)
			return sv_error_set(SV_ECORRUPT, "the file ends inside the header of the record at byte %llu",
					    (unsigned long long)r->start);
		if ((total += len) > WARC_HEADER_MAX)
			return sv_error_set(SV_ECORRUPT, "a record header over %u bytes", WARC_HEADER_MAX);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			break;
		if ((line[0] == ' ' || line[0] == '\t') && last && *last) { /* a folded line */
			char *j = NULL;
			if (asprintf(&j, "%s %s", *last, line + strspn(line, " \t")) < 0)
				return sv_error_set(SV_EIO, "out of memory");
			free(*last);
			*last = j;
			continue;
		}
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		v += strspn(v, " \t");
		static const struct {
			const char *name;
			size_t off;
		} fields[] = {
			{"WARC-Type", offsetof(warc_rec, type)},
			{"WARC-Target-URI", offsetof(warc_rec, uri)},
			{"WARC-Date", offsetof(warc_rec, date)},
			{"WARC-Record-ID", offsetof(warc_rec, id)},
			{"Content-Type", offsetof(warc_rec, ctype)},
			{"WARC-Payload-Digest", offsetof(warc_rec, pdig)},
			{"WARC-Block-Digest", offsetof(warc_rec, bdig)},
			{"WARC-IP-Address", offsetof(warc_rec, ip)},
			{"WARC-Truncated", offsetof(warc_rec, truncated)},
			{"WARC-Profile", offsetof(warc_rec, profile)},
		};
		last = NULL;
		if (!strcasecmp(line, "Content-Length")) {
			char *end;
			unsigned long long n = strtoull(v, &end, 10);
			if (!isdigit((unsigned char)*v) || *end || n > LENGTH_MAX)
				return sv_error_set(SV_ECORRUPT, "the record at byte %llu has a bad Content-Length '%.40s'",
						    (unsigned long long)r->start, v);
			r->length = n;
			r->has_length = 1;
			continue;
		}
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (!strcasecmp(line, fields[i].name)) {
				char **f = (char **)((char *)r + fields[i].off);
				free(*f);
				if (!(*f = strdup(v)))
					return sv_error_set(SV_EIO, "out of memory");
				last = f;
			}
	}
	if (!r->has_length)
		return sv_error_set(SV_ECORRUPT, "the record at byte %llu has no Content-Length",
				    (unsigned long long)r->start);
	return 0;
}

/* A chunked body, de-chunked as it comes (RFC 9112 7.1); bad framing fails. */
typedef struct {
	int state; /* 0 size line, 1 data, 2 CRLF after data, 3 trailers, 4 done */
	uint64_t left;
	char line[64];
	size_t ll;
	int bad;
} dechunk;

/* Feeds n raw bytes; calls out for each run of data bytes. */
static int dechunk_feed(dechunk *d, const unsigned char *p, size_t n,
			int (*out)(void *ctx, const unsigned char *p, size_t n), void *ctx)
{
	int rc;
	for (size_t i = 0; i < n && !d->bad;) {
		if (d->state == 1) {
			size_t k = n - i < d->left ? n - i : (size_t)d->left;
			if ((rc = out(ctx, p + i, k)))
				return rc;
			i += k;
			if ((d->left -= k) == 0)
				d->state = 2, d->ll = 0;
			continue;
		}
		if (d->state == 4) { /* bytes after the last chunk */
			d->bad = 1;
			break;
		}
		char c = (char)p[i++];
		if (d->ll + 1 >= sizeof(d->line)) {
			if (d->state != 3) {
				d->bad = 1;
				break;
			}
			d->ll = 0; /* a long trailer line: only its end matters */
		}
		d->line[d->ll++] = c;
		if (c != '\n')
			continue;
		d->line[d->ll] = '\0';
		if (d->state == 0) {
			char *end;
			unsigned long long sz = strtoull(d->line, &end, 16);
			if (end == d->line || (*end != ';' && *end != '\r' && *end != '\n' && *end != ' '))
				d->bad = 1;
			d->left = sz;
			d->state = sz ? 1 : 3;
		} else if (d->state == 2) {
			if (strcmp(d->line, "\r\n") && strcmp(d->line, "\n"))
				d->bad = 1;
			d->state = 0;
		} else if (d->state == 3 && (!strcmp(d->line, "\r\n") || !strcmp(d->line, "\n"))) {
			d->state = 4;
		}
		d->ll = 0;
	}
	return 0;
}

typedef struct {
	sv_objects_writer *w;
	digest *payload2; /* the payload digest over the de-chunked bytes too */
	uint64_t length;
} sink;

static int to_store(void *ctx, const unsigned char *p, size_t n)
{
	sink *k = ctx;
	digest_update(k->payload2, p, n);
	k->length += n;
	return sv_objects_writer_write(k->w, p, n);
}

/* Reads n bytes of the record's block (n may be 0 to end it). */
static int read_exact(stream *s, void *buf, size_t n)
{
	size_t done = 0, got;
	int rc;
	while (done < n) {
		if ((rc = s_read(s, (char *)buf + done, n - done, &got)))
			return rc;
		if (got == 0)
			return sv_error_set(SV_ECORRUPT, "the file ends inside a record");
		done += got;
	}
	return 0;
}

/* Skips the rest of a block and the CRLF CRLF after it. */
static int skip_block(stream *s, unsigned char *buf, uint64_t left)
{
	int rc;
	while (left > 0) {
		size_t n = left < OUT_CAP ? (size_t)left : OUT_CAP;
		if ((rc = read_exact(s, buf, n)))
			return rc;
		left -= n;
	}
	return 0;
}

/*
 * After a record's block: the CRLF CRLF that ends it, and, in a compressed
 * file, the rest of its member or frame (its checksum and length), so that
 * damage there is told as this record's before anything of it is kept.
 */
static int record_end(stream *s)
{
	char end[4];
	size_t got = 0;
	int rc = 0;
	/* CRLF CRLF; some writers put less: what is there must be line ends. */
	for (size_t i = 0; i < 4 && rc == 0; i++) {
		if (s->out_pos == s->out_len && (rc = fill_out(s)))
			return rc;
		if (s->out_len == 0)
			break;
		if (s->out[s->out_pos] != '\r' && s->out[s->out_pos] != '\n')
			break;
		rc = s_read(s, end, 1, &got);
	}
	while (rc == 0 && s->codec != PLAIN && s->out_pos == s->out_len && s->frame_open)
		rc = fill_out(s);
	if (rc == 0 && s->out_pos == s->out_len && s->pending)
		rc = s->pending;
	return rc;
}

static void refuse(sv_importer *im, const char *name, const warc_rec *r, const char *fmt, const char *a, const char *b)
{
	char why[1024], what[512];
	im->st.refused++;
	snprintf(what, sizeof(what), fmt, a, b);
	snprintf(why, sizeof(why), "%s: the %s record %s of %s at byte %llu: %s", name, r->type ? r->type : "?",
		 r->id ? r->id : "(no id)", r->uri ? r->uri : "(no URI)", (unsigned long long)r->start, what);
	if (im->o.refused)
		im->o.refused(im->o.ctx, why);
}

/* One record's block: the payload stored, the digests checked, the capture made. */
static int import_record(sv_importer *im, stream *s, const char *name, warc_rec *r)
{
	int rc = 0;
	const char *type = r->type ? r->type : "";
	int is_response = !strcasecmp(type, "response"), is_resource = !strcasecmp(type, "resource"),
	    is_revisit = !strcasecmp(type, "revisit"), is_request = !strcasecmp(type, "request");
	char *url = NULL, *uri = r->uri ? unbracket(r->uri) : NULL;
	if (r->uri && !uri)
		return sv_error_set(SV_EIO, "out of memory");
	int http = uri && im->o.normalize_url(&url, uri) == 0;
	free(uri);
	if (is_request && http && r->length <= REQUEST_MAX) { /* kept for the response after it */
		free(im->req_block);
		free(im->req_uri);
		im->req_uri = url;
		im->req_len = (size_t)r->length;
		if (!(im->req_block = malloc(im->req_len + 1)))
			return sv_error_set(SV_EIO, "out of memory");
		if ((rc = read_exact(s, im->req_block, im->req_len)))
			return rc;
		im->req_block[im->req_len] = '\0';
		im->st.skipped++;
		return record_end(s);
	}
	if (!http || !(is_response || is_resource || is_revisit)) {
		free(url);
		im->st.skipped++;
		return (rc = skip_block(s, im->buf, r->length)) ? rc : record_end(s);
	}
	digest bd, pd, pd2;
	memset(&pd2, 0, sizeof(pd2));
	char *head = NULL, *te = NULL, *mime = NULL, *ce = NULL;
	size_t head_len = 0;
	uint64_t left = r->length;
	sv_objects_writer *w = NULL;
	int refused = 0, status = -1, ended = 0;
	if ((rc = digest_start(&bd, r->bdig)) || (rc = digest_start(&pd, r->pdig)))
		goto done;
	/* The HTTP header block of a response or revisit. */
	if (is_response || is_revisit) {
		size_t cap = HTTP_HEADER_MAX;
		if (!(head = malloc(cap + 1))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		for (;;) {
			size_t len = 0;
			if (left == 0)
				break;
			if ((rc = s_line(s, head + head_len, cap + 1 - head_len, &len))) {
				if (rc == SV_ECORRUPT)
					rc = sv_error_set(SV_ECORRUPT, "an HTTP header block over %zu bytes", cap);
				goto done;
			}
			if (len == 0) {
				rc = sv_error_set(SV_ECORRUPT, "the file ends inside a record");
				goto done;
			}
			if (len > left) {
				rc = sv_error_set(SV_ECORRUPT, "a record's HTTP header runs past its Content-Length");
				goto done;
			}
			left -= len;
			head_len += len;
			const char *l = head + head_len - len;
			if (!strcmp(l, "\r\n") || !strcmp(l, "\n"))
				break;
		}
		digest_update(&bd, head, head_len);
		int code = 0;
		if (head_len < 12 || strncmp(head, "HTTP/", 5) || sscanf(head + strcspn(head, " "), " %3d", &code) != 1) {
			refuse(im, name, r, "%s%s", "its block is not an HTTP response", "");
			refused = 1;
		}
		te = http_header(head, head_len, "Transfer-Encoding");
		mime = http_header(head, head_len, "Content-Type");
		ce = http_header(head, head_len, "Content-Encoding");
		status = code;
	}
	sv_digest d;
	sv_objects_commit_info info;
	memset(&info, 0, sizeof(info));
	char hex[SV_DIGEST_HEX_LEN + 1] = "";
	payload found;
	memset(&found, 0, sizeof(found));
	if (is_revisit) {
		if ((rc = skip_block(s, im->buf, left)))
			goto done;
		left = 0;
		unsigned idx = 0;
		char *key = r->pdig ? digest_key(r->pdig) : NULL;
		int have = key && sv_strset_get(&im->payloads, key, &idx);
		free(key);
		if (!refused && !have) {
			refuse(im, name, r, "%s%s", "the payload it revisits is in no record imported before it", "");
			refused = 1;
		}
		if (!refused)
			found = im->pl[idx];
	} else if (!refused) {
		int chunked = te && strcasestr(te, "chunked");
		sink k = {NULL, NULL, 0};
		dechunk dc;
		memset(&dc, 0, sizeof(dc));
		if (chunked && r->pdig && (rc = digest_start(&pd2, r->pdig)))
			goto done;
		if ((rc = sv_objects_writer_new(&w, im->store, chunked ? -1 : (int64_t)left)))
			goto done;
		k.w = w;
		k.payload2 = &pd2;
		while (left > 0) {
			size_t n = left < OUT_CAP ? (size_t)left : OUT_CAP;
			if ((rc = read_exact(s, im->buf, n)))
				goto done;
			digest_update(&bd, im->buf, n);
			digest_update(&pd, im->buf, n);
			rc = chunked ? dechunk_feed(&dc, im->buf, n, to_store, &k) : to_store(&k, im->buf, n);
			if (rc)
				goto done;
			left -= n;
		}
		if ((rc = record_end(s)))
			goto done;
		ended = 1;
		if (chunked && (dc.bad || dc.state != 4)) {
			refuse(im, name, r, "%s%s", "its body says chunked but does not de-chunk", "");
			refused = 1;
		}
		/* The payload digest holds over the bytes as sent, or as de-chunked (writers differ). */
		int bd_ok = digest_matches(&bd), pd_ok = digest_matches(&pd);
		if (!pd_ok && chunked && pd2.ctx)
			pd_ok = digest_matches(&pd2);
		if (!refused && !bd_ok) {
			refuse(im, name, r, "WARC-Block-Digest %s does not match its bytes%s", r->bdig, "");
			refused = 1;
		} else if (!refused && !pd_ok) {
			refuse(im, name, r, "WARC-Payload-Digest %s does not match its payload%s", r->pdig, "");
			refused = 1;
		}
		if (refused) {
			sv_objects_writer_abort(w);
			w = NULL;
		} else {
			rc = sv_objects_writer_commit(w, &d, &info);
			w = NULL;
			if (rc)
				goto done;
			sv_digest_to_hex(&d, hex);
			memcpy(found.sha256, hex, sizeof(hex));
			found.length = (int64_t)info.length;
			found.stored = (int64_t)info.stored;
			char *key = r->pdig ? digest_key(r->pdig) : NULL, own[SV_DIGEST_HEX_LEN + 8];
			snprintf(own, sizeof(own), "sha256:%s", hex);
			if ((r->pdig && !key) || (rc = note_payload(im, key, &found)) || (rc = note_payload(im, own, &found))) {
				free(key);
				rc = rc ? rc : sv_error_set(SV_EIO, "out of memory");
				goto done;
			}
			free(key);
			im->st.payload_bytes += info.length;
		}
	} else {
		if ((rc = skip_block(s, im->buf, left)))
			goto done;
		left = 0;
	}
	if (!ended && (rc = record_end(s)))
		goto done;
	if (!refused) {
		sv_capture c = SV_CAPTURE_INIT;
		char ts[32], *id = r->id ? unbracket(r->id) : NULL;
		capture_ts(r->date, ts);
		c.url = url;
		c.ts = ts;
		c.status = status;
		c.mime = is_resource ? r->ctype : mime;
		c.length = found.length;
		c.sha256 = found.sha256;
		c.stored = found.stored;
		c.headers = head;
		c.headers_len = head_len;
		c.kind = SV_KIND_IMPORTED;
		c.node = im->o.node;
		c.id = id;
		c.content_encoding = ce;
		c.truncated = r->truncated;
		c.ip = r->ip;
		c.source = name;
		if (im->req_uri && !strcmp(im->req_uri, url)) {
			c.request = im->req_block;
			c.request_len = im->req_len;
		}
		rc = add_record(im, &c);
		free(id);
		if (rc == 0 && is_revisit)
			im->st.revisits++;
	}
done:
	sv_objects_writer_abort(w);
	digest_free(&bd);
	digest_free(&pd);
	digest_free(&pd2);
	free(head);
	free(te);
	free(mime);
	free(ce);
	free(url);
	return rc;
}

int sv_importer_warc(sv_importer *im, const char *name, sv_import_read_fn rd, void *rd_ctx)
{
	stream s;
	char *line = malloc(8192);
	int rc = line ? stream_open(&s, rd, rd_ctx, &im->st.bytes_in) : sv_error_set(SV_EIO, "out of memory");
	if (rc)
		sv_error_prefix("%s", name);
	while (rc == 0) {
		warc_rec r;
		int eof = 0;
		memset(&r, 0, sizeof(r));
		rc = read_header(&s, &r, line, &eof);
		if (rc == 0 && eof) {
			rec_clear(&r);
			break;
		}
		if (rc == 0) {
			im->st.records++;
			rc = import_record(im, &s, name, &r);
		}
		if (rc && rc != SV_EIO)
			sv_error_prefix("%s: the %s record %s of %s at byte %llu", name, r.type ? r.type : "?",
					r.id ? r.id : "(no id)", r.uri ? r.uri : "(no URI)", (unsigned long long)r.start);
		rec_clear(&r);
		if (rc == 0 && im->o.progress)
			im->o.progress(im->o.ctx, &im->st);
	}
	if (line)
		stream_close(&s);
	free(line);
	return rc;
}
