/*
 * crawler/links.h -- finds the links of an HTML or CSS body while it arrives.
 *
 * The fetch loop feeds each chunk of a body as libcurl hands it over; the
 * callback gets every link at once, already resolved against the
 * document's base and normalised (queue/url.h), so it can be queued as is.
 * Nothing is kept of the body: memory stays bounded whatever its size.
 *
 * HTML goes through libxml2's HTML push parser in SAX mode (no tree; no
 * network, no files, HTML's built-in entities only). What is taken:
 *   a, area href; iframe, frame src; link href (rel other than below)  PAGE
 *   link href with rel stylesheet, icon, preload, prefetch, manifest,
 *     modulepreload, apple-touch-icon(-precomposed), mask-icon;
 *   img src srcset; script src; source src srcset; video src poster;
 *   audio, embed, track src; input type=image src; object data;
 *   background on any element; url() and @import in style attributes
 *     and <style> text                                            REQUISITE
 *   meta http-equiv=refresh content="N; url=..."                  REFRESH
 * The first <base href> (relative to the document URL) is the base of the
 * links after it. link rel=preconnect|dns-prefetch name hosts, not
 * resources, and are ignored.
 * Dropped, and counted: empty references, fragment-only ones ("#top"),
 * anything that is not http(s) (javascript:, mailto:, data:, tel: ...),
 * what sv_url_normalize refuses, and links to the document itself.
 *
 * Character encoding: the Content-Type charset when given
 * (sv_links_set_charset), else a byte order mark, else a <meta charset> or
 * <meta http-equiv=content-type> in the first 1024 bytes (the browsers'
 * prescan), else UTF-8. The body is converted to UTF-8 before the parser
 * sees it; bytes that are not valid in the encoding never stop parsing
 * (U+FFFD, or in UTF-8 the byte read as Latin-1). Non-ASCII characters
 * of a URL leave percent-encoded: in UTF-8 in its path, in the document's
 * encoding in its query (as browsers send them; UTF-16 documents: UTF-8).
 *
 * Memory and the max_bytes trade-off: only the first max_bytes of a body
 * are parsed (default SV_LINKS_MAX_BYTES, 8 MiB); the caller still stores
 * the whole body. Parsing costs CPU (about 40 MB/s) and the links far down
 * a huge page are mostly more of the same (table rows, archive listings):
 * a 50 MB listing page gives the links of its first 8 MiB, 84,866 of its
 * 519,457, in 0.24 s. Pass SIZE_MAX to parse everything (1.2 s for it).
 * Memory does not depend on max_bytes or on the page: the parser gets the
 * body in pieces of at most 32 KiB, its consumed input is released after
 * each one, and a parser that holds too much (one construct over 1 MiB, a
 * start tag over 64 KiB, nesting deeper than 4096, more than 10000 distinct
 * names) is replaced by a fresh one that carries the base on. Parsed to the
 * end, a 50 MB or a 500 MB page adds 1.3 MB to the peak RSS (libxml2's push
 * parser alone: +52 MB for 50 MB); hostile pages measured stay under +5 MB.
 * What is given up past those limits: the links inside that one construct.
 *
 * CSS (text/css bodies, SV_LINKS_CSS) goes through a small streaming
 * tokenizer that finds url(...) (quoted or not, with escapes) and
 * @import "..."; comments and other strings are skipped. CSS is read as
 * bytes: URLs with non-ASCII bytes are percent-encoded as they are.
 *
 * One sv_links serves one body; it is not shared between threads. The
 * callback must not call back into the sv_links that called it.
 */
#ifndef SV_LINKS_H
#define SV_LINKS_H

#include <stddef.h>

typedef enum {
	SV_LINK_PAGE,      /* a page to crawl (if in scope) */
	SV_LINK_REQUISITE, /* needed to display this page: image, stylesheet, script ... */
	SV_LINK_REFRESH,   /* where a meta refresh sends the reader */
} sv_link_kind;

/* One link, resolved and normalised; url lives until the callback returns. */
typedef void (*sv_link_fn)(void *ctx, const char *url, sv_link_kind kind);

typedef enum { SV_LINKS_HTML, SV_LINKS_CSS } sv_links_type;

typedef struct sv_links sv_links;

/* Bytes of a body parsed when max_bytes is 0. */
#define SV_LINKS_MAX_BYTES (8u << 20)

/*
 * A link extractor for one body fetched from doc_url (which must normalise:
 * SV_EINVAL otherwise). max_bytes: parse only the first max_bytes bytes (0:
 * SV_LINKS_MAX_BYTES; SIZE_MAX: all).
 */
int sv_links_new(sv_links **out, sv_links_type type, const char *doc_url, size_t max_bytes, sv_link_fn fn,
		 void *ctx);

/*
 * The charset of the Content-Type header ("utf-8", "ISO-8859-1", "\"Shift_JIS\"" ...),
 * before the first sv_links_feed (SV_EINVAL after). Unknown names are
 * ignored: the body's own declaration is used then. NULL forgets it.
 */
int sv_links_set_charset(sv_links *l, const char *charset);

/*
 * HTML: hands the text between tags to the parser too, before the first
 * sv_links_feed (SV_EINVAL after). By default it is dropped before parsing
 * (it holds no links); with it kept, the parser sees the page exactly as it
 * is, which the tests compare against.
 */
int sv_links_keep_text(sv_links *l);

/*
 * Parses the next bytes of the body. Bad markup is never an error; only
 * running out of memory is (SV_EIO). Bytes past max_bytes are ignored.
 */
int sv_links_feed(sv_links *l, const void *buf, size_t len);

/* The body is complete: reports the links still pending. Later calls do nothing. */
int sv_links_finish(sv_links *l);

size_t sv_links_found(const sv_links *l);   /* links passed to the callback */
size_t sv_links_dropped(const sv_links *l); /* references refused (see above) */
int sv_links_truncated(const sv_links *l);  /* 1 when the body was longer than max_bytes */
size_t sv_links_text_dropped(const sv_links *l); /* bytes of text between tags not parsed */

void sv_links_free(sv_links *l); /* NULL is a no-op */

/*
 * 1 when a body without a useful Content-Type looks like HTML: after an
 * optional UTF-8 byte order mark and whitespace it opens with one of the
 * tags of the WHATWG MIME sniffing rules (<!DOCTYPE HTML, <html, <head,
 * <body, <script, <iframe, <h1, <div, <font, <table, <a, <style, <title,
 * <b, <br, <p, <!--), in any case, followed by a space, '>' or a line break.
 */
int sv_links_sniff_html(const void *buf, size_t len);

#endif
