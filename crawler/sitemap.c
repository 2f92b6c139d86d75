/*
 * crawler/sitemap.c -- reading sitemaps as they arrive (see sitemap.h).
 *
 * Memory stays bounded: a <loc> longer than LOC_MAX is dropped, inflated
 * bytes go to the parser in small pieces, and the parser is stopped after
 * max_urls locations or INPUT_MAX bytes (sitemaps.org caps a sitemap at
 * 50 MB uncompressed).
 */
#include "sitemap.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <zlib.h>

#define LOC_MAX 4096
#define INPUT_MAX (64u << 20)
#define INFLATE_CHUNK 65536

struct sv_sitemap {
	xmlParserCtxtPtr ctxt;
	sv_sitemap_fn fn;
	void *ctx;
	size_t max, found;
	int index;    /* the root element is <sitemapindex> */
	int level;    /* elements open: 0 before the root */
	int in_loc;
	char loc[LOC_MAX];
	size_t loc_len;
	int loc_too_long;
	int gzip;     /* -1 undecided, 0 plain, 1 gzip */
	z_stream z;
	int z_open;
	size_t input; /* bytes given to the parser */
	int done;     /* stopped: enough read */
};

static int is_local(const xmlChar *name, const char *want)
{
	return name && !strcmp((const char *)name, want);
}

static void on_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri, int nns,
		     const xmlChar **ns, int nattr, int ndef, const xmlChar **attrs)
{
	sv_sitemap *s = ud;
	(void)prefix, (void)uri, (void)nns, (void)ns, (void)nattr, (void)ndef, (void)attrs;
	/* Only the root says what the document is: a <sitemapindex> deeper down is not an index. */
	if (s->level++ == 0)
		s->index = is_local(local, "sitemapindex");
	if (is_local(local, "loc")) {
		s->in_loc = 1;
		s->loc_len = 0;
		s->loc_too_long = 0;
	}
}

static void on_chars(void *ud, const xmlChar *ch, int len)
{
	sv_sitemap *s = ud;
	if (!s->in_loc || len <= 0)
		return;
	if (s->loc_len + (size_t)len >= LOC_MAX) {
		s->loc_too_long = 1;
		return;
	}
	memcpy(s->loc + s->loc_len, ch, (size_t)len);
	s->loc_len += (size_t)len;
}

static void on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
	sv_sitemap *s = ud;
	(void)prefix, (void)uri;
	if (s->level > 0)
		s->level--;
	if (!is_local(local, "loc") || !s->in_loc)
		return;
	s->in_loc = 0;
	if (s->loc_too_long || s->found >= s->max)
		return;
	/* Trim the white space around the URL. */
	char *b = s->loc, *e = s->loc + s->loc_len;
	while (b < e && (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'))
		b++;
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		e--;
	if (b == e)
		return;
	*e = '\0';
	s->found++;
	s->fn(s->ctx, b, s->index);
	if (s->found >= s->max)
		s->done = 1;
}

static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx, (void)msg;
}

int sv_sitemap_new(sv_sitemap **out, size_t max_urls, sv_sitemap_fn fn, void *ctx)
{
	static xmlSAXHandler sax;
	sv_sitemap *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return sv_error_set(SV_EIO, "out of memory");
	memset(&sax, 0, sizeof(sax));
	sax.initialized = XML_SAX2_MAGIC;
	sax.startElementNs = on_start;
	sax.endElementNs = on_end;
	sax.characters = on_chars;
	sax.cdataBlock = on_chars;
	sax.warning = quiet;
	sax.error = quiet;
	s->fn = fn;
	s->ctx = ctx;
	s->max = max_urls ? max_urls : 50000;
	s->gzip = -1;
	s->ctxt = xmlCreatePushParserCtxt(&sax, s, NULL, 0, NULL);
	if (!s->ctxt) {
		free(s);
		return sv_error_set(SV_EIO, "cannot start the XML parser");
	}
	/* No network, no entity expansion, no external DTD; recover from bad markup. */
	xmlCtxtUseOptions(s->ctxt, XML_PARSE_NONET | XML_PARSE_RECOVER | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	*out = s;
	return 0;
}

static void parse(sv_sitemap *s, const void *buf, size_t len)
{
	if (s->done || len == 0)
		return;
	if (s->input + len > INPUT_MAX) {
		len = INPUT_MAX - s->input;
		s->done = 1;
	}
	s->input += len;
	xmlParseChunk(s->ctxt, buf, (int)len, 0);
}

int sv_sitemap_feed(sv_sitemap *s, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	if (s->done || len == 0)
		return 0;
	if (s->gzip < 0) {
		s->gzip = len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
		if (s->gzip) {
			memset(&s->z, 0, sizeof(s->z));
			if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
				s->done = 1;
				return 0;
			}
			s->z_open = 1;
		}
	}
	if (!s->gzip) {
		parse(s, buf, len);
		return 0;
	}
	unsigned char out[INFLATE_CHUNK];
	s->z.next_in = (unsigned char *)p;
	s->z.avail_in = (uInt)len;
	while (s->z.avail_in > 0 && !s->done) {
		s->z.next_out = out;
		s->z.avail_out = sizeof(out);
		int r = inflate(&s->z, Z_NO_FLUSH);
		parse(s, out, sizeof(out) - s->z.avail_out);
		if (r == Z_STREAM_END || (r != Z_OK && r != Z_BUF_ERROR)) {
			s->done = 1; /* one gzip member is a sitemap; anything after, or damage, ends it */
			break;
		}
		if (r == Z_BUF_ERROR)
			break;
	}
	return 0;
}

int sv_sitemap_finish(sv_sitemap *s)
{
	xmlParseChunk(s->ctxt, NULL, 0, 1);
	return 0;
}

size_t sv_sitemap_found(const sv_sitemap *s)
{
	return s->found;
}

void sv_sitemap_free(sv_sitemap *s)
{
	if (!s)
		return;
	if (s->z_open)
		inflateEnd(&s->z);
	if (s->ctxt) {
		xmlFreeDoc(s->ctxt->myDoc);
		xmlFreeParserCtxt(s->ctxt);
	}
	free(s);
}
