/*
 * storage/decode.c -- undoing a stored Content-Encoding (decode.h).
 * Each coding is a stage that reads the stage below it (the first reads the
 * source), so a list of codings is a chain of stages; each holds one input
 * buffer of IN_CHUNK bytes and its library's state, nothing more.
 */
#include "decode.h"

#include "objects.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>

#define IN_CHUNK (64u << 10)
#define RATIO_FLOOR (1u << 20) /* the ratio cap applies past this many decoded bytes */

typedef enum { C_GZIP, C_DEFLATE, C_BR } coding;

typedef struct {
	coding kind;
	const char *name;
	sv_decode_source_fn src; /* what this stage reads */
	void *ctx;
	unsigned char *in;
	size_t in_len, in_pos;
	int in_eof;
	int started; /* the library's state is set up */
	int ended;   /* the stream reached its end */
	z_stream z;
	BrotliDecoderState *br;
} stage;

struct sv_decoder {
	stage st[SV_DECODE_MAX_CODINGS];
	unsigned n;
	sv_decode_source_fn src; /* the source, for identity */
	void *ctx;
	uint64_t in_total, out_total;
	sv_decode_limits lim;
};

int sv_decode_object_source(void *ctx, void *buf, size_t cap, size_t *got)
{
	return sv_objects_reader_read(ctx, buf, cap, got);
}

static int corrupt(const stage *s, const char *why)
{
	return sv_error_set(SV_ECORRUPT, "the body does not decode as %s: %s", s->name, why);
}

/* Refills s's input when it is used up; 0 with in_eof set at the source's end. */
static int fill(stage *s)
{
	if (s->in_pos < s->in_len || s->in_eof)
		return 0;
	size_t got = 0;
	int rc = s->src(s->ctx, s->in, IN_CHUNK, &got);
	if (rc)
		return rc;
	s->in_len = got;
	s->in_pos = 0;
	s->in_eof = got == 0;
	return 0;
}

/* zlib's state for s's first bytes: gzip, or deflate with or without its zlib wrapper. */
static int start_zlib(stage *s)
{
	int bits = 15 + 16;
	if (s->kind == C_DEFLATE) {
		/* a zlib header: method 8, window at most 32 KiB, the check bits right (RFC 1950) */
		const unsigned char *p = s->in + s->in_pos;
		int wrapped = s->in_len - s->in_pos >= 2 && (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 &&
			      ((unsigned)p[0] << 8 | p[1]) % 31 == 0;
		bits = wrapped ? 15 : -15;
	}
	memset(&s->z, 0, sizeof(s->z));
	if (inflateInit2(&s->z, bits) != Z_OK)
		return sv_error_set(SV_EIO, "zlib: out of memory");
	s->started = 1;
	return 0;
}

static int read_zlib(stage *s, unsigned char *buf, size_t cap, size_t *got)
{
	s->z.next_out = buf;
	s->z.avail_out = (uInt)cap;
	while (s->z.avail_out == cap) {
		int rc = fill(s);
		if (rc)
			return rc;
		if (s->ended) {
			if (s->in_pos == s->in_len && s->in_eof)
				break;
			if (s->kind != C_GZIP)
				return corrupt(s, "bytes after the end of the stream");
			/* another gzip member follows */
			if (inflateReset(&s->z) != Z_OK)
				return corrupt(s, "cannot start the next member");
			s->ended = 0;
		}
		/* with no input left zlib may still hold output: asked, it says Z_BUF_ERROR when it holds none */
		s->z.next_in = s->in + s->in_pos;
		s->z.avail_in = (uInt)(s->in_len - s->in_pos);
		int zr = inflate(&s->z, Z_NO_FLUSH);
		s->in_pos = s->in_len - s->z.avail_in;
		if (zr == Z_STREAM_END)
			s->ended = 1;
		else if (zr == Z_MEM_ERROR)
			return sv_error_set(SV_EIO, "zlib: out of memory");
		else if (zr == Z_BUF_ERROR && s->in_pos == s->in_len && s->in_eof)
			return corrupt(s, "the stream stops short");
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return corrupt(s, s->z.msg ? s->z.msg : "invalid data");
	}
	*got = cap - s->z.avail_out;
	return 0;
}

static int read_br(stage *s, unsigned char *buf, size_t cap, size_t *got)
{
	size_t avail_out = cap;
	uint8_t *next_out = buf;
	while (avail_out == cap) {
		int rc = fill(s);
		if (rc)
			return rc;
		if (s->ended) {
			if (s->in_pos < s->in_len)
				return corrupt(s, "bytes after the end of the stream");
			if (s->in_eof)
				break;
			continue;
		}
		size_t avail_in = s->in_len - s->in_pos;
		const uint8_t *next_in = s->in + s->in_pos;
		BrotliDecoderResult r = BrotliDecoderDecompressStream(s->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
		s->in_pos = s->in_len - avail_in;
		if (r == BROTLI_DECODER_RESULT_SUCCESS)
			s->ended = 1;
		else if (r == BROTLI_DECODER_RESULT_ERROR)
			return corrupt(s, BrotliDecoderErrorString(BrotliDecoderGetErrorCode(s->br)));
		else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && s->in_pos == s->in_len && s->in_eof)
			return corrupt(s, "the stream stops short");
	}
	*got = cap - avail_out;
	return 0;
}

static int stage_read(void *ctx, void *buf, size_t cap, size_t *got)
{
	stage *s = ctx;
	int rc;
	*got = 0;
	if (cap == 0)
		return 0;
	if (!s->started) {
		if ((rc = fill(s)))
			return rc;
		if (s->in_eof)
			return 0; /* an empty body: nothing to decode */
		/* deflate's first two bytes tell whether a zlib header wraps it; a source may give one at a time */
		while (s->kind == C_DEFLATE && s->in_len < 2) {
			size_t got2 = 0;
			if ((rc = s->src(s->ctx, s->in + s->in_len, IN_CHUNK - s->in_len, &got2)))
				return rc;
			if (got2 == 0)
				break;
			s->in_len += got2;
		}
		if (s->kind == C_BR) {
			if (!(s->br = BrotliDecoderCreateInstance(NULL, NULL, NULL)))
				return sv_error_set(SV_EIO, "brotli: out of memory");
			s->started = 1;
		} else if ((rc = start_zlib(s))) {
			return rc;
		}
	}
	if (cap > UINT32_MAX)
		cap = UINT32_MAX;
	return s->kind == C_BR ? read_br(s, buf, cap, got) : read_zlib(s, buf, cap, got);
}

/* Counts the encoded bytes read from the source, for the ratio cap. */
static int counted_source(void *ctx, void *buf, size_t cap, size_t *got)
{
	sv_decoder *d = ctx;
	int rc = d->src(d->ctx, buf, cap, got);
	if (rc == 0)
		d->in_total += *got;
	return rc;
}

/* The next coding of a Content-Encoding list at *p, trimmed, into *tok and *len (0 at the end); identity is skipped. */
static int next_coding(const char **p, const char **tok, size_t *len)
{
	while (**p) {
		size_t n = strcspn(*p, ",");
		size_t s = strspn(*p, " \t"), e = n;
		while (e > s && ((*p)[e - 1] == ' ' || (*p)[e - 1] == '\t'))
			e--;
		*tok = *p + s;
		*len = e > s ? e - s : 0;
		*p += n + ((*p)[n] == ',');
		if (*len && !(*len == 8 && !strncasecmp(*tok, "identity", 8)))
			return 1;
	}
	return 0;
}

int sv_decode_needed(const char *ce)
{
	const char *p = ce ? ce : "", *tok;
	size_t len;
	return next_coding(&p, &tok, &len);
}

int sv_decoder_new(sv_decoder **out, const char *ce, sv_decode_source_fn src, void *ctx, const sv_decode_limits *lim)
{
	static const struct {
		const char *name;
		coding kind;
	} known[] = {{"gzip", C_GZIP}, {"x-gzip", C_GZIP}, {"deflate", C_DEFLATE}, {"br", C_BR}};
	coding list[SV_DECODE_MAX_CODINGS];
	const char *names[SV_DECODE_MAX_CODINGS];
	unsigned n = 0;
	*out = NULL;
	const char *p = ce ? ce : "", *tok;
	size_t len;
	while (next_coding(&p, &tok, &len)) {
		size_t k = 0;
		while (k < sizeof(known) / sizeof(known[0]) &&
		       !(strlen(known[k].name) == len && !strncasecmp(tok, known[k].name, len)))
			k++;
		if (k == sizeof(known) / sizeof(known[0]))
			return sv_error_set(SV_EINVAL, "Content-Encoding '%.*s' is not one salvage decodes "
						       "(gzip, deflate, br, identity)", (int)len, tok);
		if (n == SV_DECODE_MAX_CODINGS)
			return sv_error_set(SV_EINVAL, "Content-Encoding '%s' has more than %d codings", ce,
					    SV_DECODE_MAX_CODINGS);
		list[n] = known[k].kind;
		names[n++] = known[k].name;
	}
	sv_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return sv_error_set(SV_EIO, "out of memory");
	d->src = src;
	d->ctx = ctx;
	if (lim)
		d->lim = *lim;
	if (!d->lim.max_out)
		d->lim.max_out = SV_DECODE_DEFAULT_MAX_OUT;
	/* the coding applied last is undone first: it reads the source */
	for (unsigned i = 0; i < n; i++) {
		stage *s = &d->st[i];
		s->kind = list[n - 1 - i];
		s->name = names[n - 1 - i];
		s->src = i == 0 ? counted_source : stage_read;
		s->ctx = i == 0 ? (void *)d : (void *)&d->st[i - 1];
		if (!(s->in = malloc(IN_CHUNK))) {
			sv_decoder_free(d);
			return sv_error_set(SV_EIO, "out of memory");
		}
		d->n++;
	}
	*out = d;
	return 0;
}

int sv_decoder_read(sv_decoder *d, void *buf, size_t cap, size_t *got)
{
	int rc = d->n ? stage_read(&d->st[d->n - 1], buf, cap, got) : counted_source(d, buf, cap, got);
	if (rc)
		return rc;
	d->out_total += *got;
	if (d->out_total > d->lim.max_out)
		return sv_error_set(SV_ECORRUPT, "the body decodes to more than %llu bytes (the limit)",
				    (unsigned long long)d->lim.max_out);
	if (d->lim.max_ratio && d->out_total > RATIO_FLOOR && d->out_total / d->lim.max_ratio > d->in_total)
		return sv_error_set(SV_ECORRUPT, "the body decodes to more than %llu times its size (the limit)",
				    (unsigned long long)d->lim.max_ratio);
	return 0;
}

void sv_decoder_free(sv_decoder *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->n; i++) {
		stage *s = &d->st[i];
		if (s->started && s->kind != C_BR)
			inflateEnd(&s->z);
		if (s->br)
			BrotliDecoderDestroyInstance(s->br);
		free(s->in);
	}
	free(d);
}
