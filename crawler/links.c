/*
 * crawler/links.c -- link extraction while a body arrives (see links.h).
 *
 * HTML: raw bytes -> decoder (charset chosen from the header, a byte order
 * mark or a <meta> in the first PRESCAN bytes) -> valid UTF-8 -> markup
 * filter (drops the text between tags, see put) -> a stage of PIECE bytes
 * -> libxml2's HTML push parser, SAX callbacks only. CSS: raw
 * bytes -> the tokenizer below, which also reads <style> text and style
 * attributes for the HTML side.
 *
 * libxml2 2.9's push parser needs four corrections:
 * - a lookup for the end of a start tag that stops inside a quoted
 *   attribute value resumes without its quote character and then never
 *   finds the '>': the parser buffers the rest of the body (+52 MB for a
 *   50 MB page). Lookups are made to start over after every piece
 *   (html_settle);
 * - consumed input is only released inside text: a page of tags without
 *   text stays in memory whole. It is released after every piece
 *   (html_settle);
 * - "</sty" at the very end of its input counts as text inside <style> or
 *   <script>, and the element runs on to the next end tag: pieces end
 *   before a '<' (html_push);
 * - the parser stops for good at content after </html>. It is replaced
 *   by a fresh one that gets the unparsed input (html_restart).
 *
 * What must stay true:
 * - memory does not grow with the body: the parser sees at most PIECE
 *   new bytes at a time, keeps at most PENDING_MAX unparsed bytes (TAG_MAX
 *   in a start tag), DEPTH_MAX open elements and DICT_MAX distinct names;
 *   a parser over a limit is replaced (html_restart), the base URL carries;
 * - the parser only ever gets valid UTF-8 without NUL bytes, so it never
 *   switches encodings or stops on one, and what it has not parsed can be
 *   handed to a fresh parser as it is;
 * - nothing reaches the network or a file: NONET, no DTD, no entities but
 *   HTML's own;
 * - every candidate reference is passed on (found) or counted (dropped).
 */
#include "links.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>

/* Bytes handed to the parser per call. */
#define PIECE (32u << 10)
/* Unparsed input a parser may hold: a longer comment, script or text run is given up. */
#define PENDING_MAX (1u << 20)
/* Unparsed input while in a start tag: libxml2 checks attribute names for duplicates in quadratic time. */
#define TAG_MAX (64u << 10)
/* Open elements: deeper nesting is garbage, and costs memory per level. */
#define DEPTH_MAX 4096
/* Distinct tag and attribute names: libxml2's dictionary slows down past this. */
#define DICT_MAX 10000
/* Fresh parsers tried on the same unparsed input before it is given up. */
#define RESTARTS_MAX 4
/* Consumed input is released once it is at least this long and longer than what remains. */
#define SHRINK_MIN (16u << 10)
/* Bytes looked at for a <meta> charset, as browsers do. */
#define PRESCAN 1024
/* Longest URL the CSS tokenizer keeps, in bytes: longer ones are dropped. */
#define CSS_URL_CAP (2 * SV_URL_MAX)
/* Longest reference passed to sv_url_normalize, which refuses longer ones. */
#define REF_MAX (16 * SV_URL_MAX)

static const unsigned char REPLACEMENT[3] = {0xef, 0xbf, 0xbd}; /* U+FFFD in UTF-8 */

/* CSS tokenizer states: just enough of CSS Syntax Level 3 to find URLs. */
enum {
	CSS_DATA,
	CSS_SLASH,        /* '/', maybe a comment */
	CSS_COMMENT,
	CSS_COMMENT_STAR, /* '*' in a comment */
	CSS_STRING,
	CSS_STRING_ESC,   /* '\' in a string */
	CSS_WORD,         /* an identifier, at-keyword or hash */
	CSS_WORD_ESC,
	CSS_HEX,          /* hex digits of an escape; esc_ret says where */
	CSS_URL_START,    /* after "url(", before the value */
	CSS_URL,          /* an unquoted url( value */
	CSS_URL_ESC,
	CSS_URL_END,      /* whitespace after an unquoted value, before ')' */
	CSS_URL_BAD,      /* a broken url(: skipped to its ')' */
	CSS_URL_BAD_ESC,
	CSS_URL_STR_END,  /* after url("..."), before ')' */
};

typedef struct {
	unsigned char state;
	unsigned char esc_ret;  /* CSS_STRING, CSS_WORD or CSS_URL */
	unsigned char str_end;  /* state after the closing quote: CSS_DATA or CSS_URL_STR_END */
	unsigned char quote;
	unsigned char capture;  /* the current string is a URL */
	unsigned char import;   /* an @import came last: a string now is a URL */
	unsigned char at;       /* the word began with '@' */
	unsigned char cr;       /* the last byte was CR: a LF now ends the same line */
	unsigned char url_long; /* the URL outgrew url[] */
	unsigned char esc_len;
	uint32_t esc_val;
	size_t word_len;        /* may exceed sizeof(word): such words match nothing */
	char word[8];           /* lower case; non-ASCII as 0x80 */
	size_t url_len;
	char url[CSS_URL_CAP + 1];
} css_tok;

/* Where the markup filter (put) is in the HTML. */
typedef enum {
	MK_TEXT,    /* between tags: dropped */
	MK_LT,      /* a '<' in text, its next byte not seen yet */
	MK_TAG,     /* a start or end tag, after the '<' */
	MK_DECL,    /* <!...> or <?...>, after the '<' */
	MK_QUOTE,   /* a quoted attribute value or doctype literal */
	MK_COMMENT, /* after "<!--" */
	MK_RAW      /* <script> or <style> content */
} markup_state;

/* Where in a tag (MK_TAG). */
typedef enum {
	TP_NAME,         /* the element's name */
	TP_END,          /* an end tag after its name */
	TP_BEFORE_ATTR,  /* a blank came */
	TP_ATTR,         /* an attribute's name */
	TP_AFTER_NAME,   /* after an attribute's name */
	TP_BEFORE_VALUE, /* after '=' */
	TP_UNQUOTED,     /* an unquoted value */
	TP_AFTER_VALUE,  /* after a quoted value */
	TP_SLASH         /* '/' outside a value: only "/>" may follow */
} tag_part;

typedef struct {
	markup_state state;
	tag_part part;
	unsigned char quote; /* MK_QUOTE: the closing quote */
	int end_tag;         /* the tag is "</..." */
	int self_closing;    /* it ended with "/>" */
	int doctype;         /* MK_DECL: <!DOCTYPE */
	size_t pos;          /* bytes after the '<' (MK_COMMENT: after "<!--") */
	char open[8];        /* MK_DECL: its first bytes */
	size_t name_len;     /* may exceed sizeof(name) - 1: such names match nothing */
	char name[8];        /* lower case */
	size_t attr_len;
	const char *raw;     /* MK_RAW: "</script" or "</style" */
	size_t match;        /* MK_RAW: bytes of raw matched; MK_COMMENT: dashes in a row */
} markup_filter;

struct sv_links {
	sv_links_type type;
	sv_link_fn fn;
	void *ctx;
	char *doc_url; /* normalised */
	char *base;    /* what references resolve against: doc_url, or the first <base href> */
	int base_seen;
	size_t max_bytes;
	size_t fed; /* body bytes taken, at most max_bytes */
	size_t found, dropped;
	int truncated, finished;
	int err; /* SV_EIO once memory ran out */

	/* HTML input */
	char charset[64];             /* from Content-Type, "" if none */
	unsigned char head[PRESCAN];  /* the first bytes, until the encoding is chosen */
	size_t head_len;
	int decided;                  /* the encoding is chosen; head has gone on */
	iconv_t cd;                   /* (iconv_t)-1: UTF-8, checked by utf8_feed */
	iconv_t qcd;                  /* UTF-8 to the document's encoding, for queries; (iconv_t)-1: UTF-8 */
	unsigned char tail[8];        /* an incomplete character at the end of the last chunk */
	size_t tail_len;
	unsigned char *stage;         /* UTF-8 for the parser, PIECE bytes */
	size_t stage_len;
	htmlParserCtxtPtr html;       /* NULL until the first piece and after the last */

	markup_filter mk; /* what of the UTF-8 reaches the stage */
	int keep_text;    /* no filtering (sv_links_keep_text, or the filter gave up) */
	size_t text_dropped;

	/* HTML state the parser does not keep for us */
	int in_style;  /* inside <style>: text goes to css */
	int keep_css;  /* a fresh parser reopens <style>: css goes on where it was */
	css_tok css;      /* the CSS body, or the current <style> text */
	css_tok attr_css; /* style="" values */

	char *scratch; /* NUL-terminated copies of references cut out of longer text */
	size_t scratch_cap;
};

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

static int is_space(unsigned c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_alpha(unsigned c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned c)
{
	return c >= '0' && c <= '9';
}

static unsigned lower(unsigned c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int hex_value(unsigned c)
{
	if (is_digit(c))
		return (int)(c - '0');
	c = lower(c);
	return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

/* Whether s, less surrounding whitespace, is word in any case. */
static int equals_word(const char *s, const char *word)
{
	size_t n = strlen(word);
	while (is_space((unsigned char)*s))
		s++;
	if (strncasecmp(s, word, n) != 0)
		return 0;
	for (s += n; is_space((unsigned char)*s); s++)
		;
	return *s == '\0';
}

/* Writes code point cp as UTF-8 to out (4 bytes of room); returns the length. */
static size_t utf8_encode(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static void out_of_memory(sv_links *l)
{
	l->err = sv_error_set(SV_EIO, "links: out of memory");
}

/* ------------------------------------------------------------------ */
/* Resolving and reporting                                             */

static size_t utf8_len(unsigned char c);

/*
 * As browsers read a reference in a document that is not UTF-8 (WHATWG URL,
 * "query state"; HTML, "encoding-parsing a URL"): the characters of its query
 * are percent-encoded in the document's encoding, not in UTF-8 as the path
 * is, and one the encoding cannot hold becomes "&#N;" (percent-encoded).
 * A page in Windows-1252 linking "?région=1" asks for "?r%E9gion=1".
 * Returns raw itself when nothing changes (no query, or an ASCII one), a new
 * string otherwise, NULL when memory ran out.
 */
static char *query_in_document_encoding(sv_links *l, const char *raw)
{
	const char *q = strchr(raw, '?'), *end, *p;
	size_t hash, need;
	char *out, *o;

	if (l->qcd == (iconv_t)-1 || !q)
		return (char *)raw;
	hash = strcspn(q, "#");
	end = q + hash;
	for (p = q; p < end && (unsigned char)*p < 0x80; p++)
		;
	if (p == end)
		return (char *)raw;
	need = strlen(raw) + 1 + hash * 4 * 8; /* at most 8 output bytes (or "%26%23N%3B") a byte */
	if (!(out = malloc(need)))
		return NULL;
	memcpy(out, raw, (size_t)(q - raw));
	o = out + (q - raw);
	for (p = q; p < end;) {
		unsigned char c = (unsigned char)*p;
		size_t n = utf8_len(c);
		if (n == 0 || p + n > end) {
			*o++ = *p++;
			continue;
		}
		char enc[16], *ip = (char *)p, *op = enc;
		size_t left = n, room = sizeof(enc);
		iconv(l->qcd, NULL, NULL, NULL, NULL);
		if (iconv(l->qcd, &ip, &left, &op, &room) != (size_t)-1 &&
		    iconv(l->qcd, NULL, NULL, &op, &room) != (size_t)-1) {
			for (char *b = enc; b < op; b++)
				o += sprintf(o, "%%%02X", (unsigned char)*b);
		} else {
			uint32_t cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
			for (size_t k = 1; k < n; k++)
				cp = cp << 6 | ((unsigned char)p[k] & 0x3f);
			o += sprintf(o, "%%26%%23%u%%3B", (unsigned)cp);
		}
		p += n;
	}
	strcpy(o, end);
	return out;
}

/* Resolves the reference raw, NUL-terminated, and reports it or counts it dropped. */
static void emit(sv_links *l, const char *raw, sv_link_kind kind)
{
	char *url = NULL, *ref;
	int rc;

	while (is_space((unsigned char)*raw))
		raw++;
	if (*raw == '\0' || *raw == '#') {
		l->dropped++;
		return;
	}
	if (!(ref = query_in_document_encoding(l, raw))) {
		out_of_memory(l);
		return;
	}
	rc = sv_url_normalize(&url, ref, l->base);
	if (ref != raw)
		free(ref);
	if (rc == SV_EIO) {
		out_of_memory(l);
		return;
	}
	if (rc < 0 || strcmp(url, l->doc_url) == 0) {
		l->dropped++;
		free(url);
		return;
	}
	l->found++;
	l->fn(l->ctx, url, kind);
	free(url);
}

/* emit() for the reference s[0..n), which is part of a longer string. */
static void emit_n(sv_links *l, const char *s, size_t n, sv_link_kind kind)
{
	if (n > REF_MAX) {
		l->dropped++;
		return;
	}
	if (n + 1 > l->scratch_cap) {
		size_t cap = l->scratch_cap ? l->scratch_cap : 256;
		char *p;
		while (cap < n + 1)
			cap *= 2;
		if (!(p = realloc(l->scratch, cap))) {
			out_of_memory(l);
			return;
		}
		l->scratch = p;
		l->scratch_cap = cap;
	}
	memcpy(l->scratch, s, n);
	l->scratch[n] = '\0';
	emit(l, l->scratch, kind);
}

/* ------------------------------------------------------------------ */
/* CSS                                                                 */

static void css_reset(css_tok *t)
{
	t->state = CSS_DATA;
	t->capture = t->import = t->at = t->cr = t->url_long = 0;
	t->word_len = t->url_len = 0;
}

static void word_put(css_tok *t, uint32_t cp)
{
	if (t->word_len < sizeof(t->word))
		t->word[t->word_len] = cp < 0x80 ? (char)lower(cp) : (char)0x80;
	t->word_len++;
}

static int word_is(const css_tok *t, const char *w)
{
	size_t n = strlen(w);
	return t->word_len == n && memcmp(t->word, w, n) == 0;
}

static void url_put_bytes(css_tok *t, const void *p, size_t n)
{
	if (t->url_len + n > CSS_URL_CAP) {
		t->url_long = 1;
		return;
	}
	memcpy(t->url + t->url_len, p, n);
	t->url_len += n;
}

static void url_put_cp(css_tok *t, uint32_t cp)
{
	unsigned char b[4];
	url_put_bytes(t, b, utf8_encode(b, cp));
}

static void url_put(css_tok *t, unsigned c)
{
	unsigned char b = (unsigned char)c;
	if (c == 0)
		url_put_bytes(t, REPLACEMENT, 3);
	else
		url_put_bytes(t, &b, 1);
}

static void url_begin(css_tok *t)
{
	t->url_len = 0;
	t->url_long = 0;
}

static void string_begin(css_tok *t, unsigned quote, int capture, unsigned str_end)
{
	t->quote = (unsigned char)quote;
	t->capture = (unsigned char)capture;
	t->str_end = (unsigned char)str_end;
	if (capture)
		url_begin(t);
	t->state = CSS_STRING;
}

static void hex_begin(css_tok *t, unsigned c, unsigned ret)
{
	t->esc_val = (uint32_t)hex_value(c);
	t->esc_len = 1;
	t->esc_ret = (unsigned char)ret;
	t->state = CSS_HEX;
}

/* The code point of a finished hex escape goes where the escape was. */
static void hex_done(css_tok *t)
{
	uint32_t cp = t->esc_val;
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	if (t->esc_ret == CSS_WORD)
		word_put(t, cp);
	else if (t->esc_ret == CSS_URL || t->capture)
		url_put_cp(t, cp);
	t->state = t->esc_ret;
}

static void css_emit(sv_links *l, css_tok *t)
{
	if (t->url_long) {
		l->dropped++;
	} else {
		t->url[t->url_len] = '\0';
		emit(l, t->url, SV_LINK_REQUISITE);
	}
	t->capture = 0;
}

static int is_name(unsigned c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c >= 0x80;
}

static int is_nonprintable(unsigned c)
{
	return c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f;
}

/*
 * One step of the tokenizer on byte c (CR and FF already read as LF).
 * Returns 1 when c is consumed, 0 when the new state must look at it again;
 * every 0 changes the state to one that consumes c or moves on, so a byte
 * is looked at a bounded number of times.
 */
static int css_step(sv_links *l, css_tok *t, unsigned c)
{
	switch (t->state) {
	case CSS_DATA:
		if (c == '/') {
			t->state = CSS_SLASH;
			return 1;
		}
		if (is_space(c))
			return 1; /* whitespace keeps a pending @import */
		if (c == '"' || c == '\'') {
			string_begin(t, c, t->import, CSS_DATA);
			t->import = 0;
			return 1;
		}
		t->import = 0;
		if (c == '@' || c == '#' || c == '\\' || is_name(c)) {
			t->word_len = 0;
			t->at = c == '@';
			if (c == '#')
				word_put(t, c);
			t->state = c == '\\' ? CSS_WORD_ESC : CSS_WORD;
			return !is_name(c); /* a name character is the word's first */
		}
		return 1;
	case CSS_SLASH:
		if (c == '*') {
			t->state = CSS_COMMENT;
			return 1;
		}
		t->import = 0;
		t->state = CSS_DATA;
		return 0;
	case CSS_COMMENT:
		if (c == '*')
			t->state = CSS_COMMENT_STAR;
		return 1;
	case CSS_COMMENT_STAR:
		if (c == '/')
			t->state = CSS_DATA;
		else if (c != '*')
			t->state = CSS_COMMENT;
		return 1;
	case CSS_STRING:
		if (c == t->quote) {
			t->state = t->str_end;
			if (t->str_end == CSS_DATA && t->capture)
				css_emit(l, t);
			return 1;
		}
		if (c == '\n') { /* a bad string: the line break is looked at again */
			if (t->str_end == CSS_URL_STR_END) {
				t->state = CSS_URL_BAD;
			} else {
				t->state = CSS_DATA;
				t->capture = 0;
			}
			return 0;
		}
		if (c == '\\')
			t->state = CSS_STRING_ESC;
		else if (t->capture)
			url_put(t, c);
		return 1;
	case CSS_STRING_ESC:
		if (c != '\n') { /* an escaped line break continues the string */
			if (hex_value(c) >= 0) {
				hex_begin(t, c, CSS_STRING);
				return 1;
			}
			if (t->capture)
				url_put(t, c);
		}
		t->state = CSS_STRING;
		return 1;
	case CSS_WORD:
		if (is_name(c)) {
			word_put(t, c);
			return 1;
		}
		if (c == '\\') {
			t->state = CSS_WORD_ESC;
			return 1;
		}
		if (c == '(' && !t->at && word_is(t, "url")) {
			url_begin(t);
			t->state = CSS_URL_START;
			return 1;
		}
		t->import = t->at && word_is(t, "import");
		t->state = CSS_DATA;
		return 0;
	case CSS_WORD_ESC:
		if (c == '\n') { /* not an escape: the word ends before the '\' */
			t->state = CSS_DATA;
			return 0;
		}
		if (hex_value(c) >= 0) {
			hex_begin(t, c, CSS_WORD);
			return 1;
		}
		word_put(t, c);
		t->state = CSS_WORD;
		return 1;
	case CSS_HEX:
		if (hex_value(c) >= 0 && t->esc_len < 6) {
			t->esc_val = t->esc_val * 16 + (uint32_t)hex_value(c);
			t->esc_len++;
			return 1;
		}
		hex_done(t);
		return is_space(c); /* one whitespace after a hex escape belongs to it */
	case CSS_URL_START:
		if (is_space(c))
			return 1;
		if (c == '"' || c == '\'') {
			string_begin(t, c, 1, CSS_URL_STR_END);
			return 1;
		}
		t->state = CSS_URL;
		return 0;
	case CSS_URL:
		if (c == ')') {
			css_emit(l, t);
			t->state = CSS_DATA;
		} else if (is_space(c)) {
			t->state = CSS_URL_END;
		} else if (c == '"' || c == '\'' || c == '(' || is_nonprintable(c)) {
			t->state = CSS_URL_BAD;
		} else if (c == '\\') {
			t->state = CSS_URL_ESC;
		} else {
			url_put(t, c);
		}
		return 1;
	case CSS_URL_ESC:
		if (c == '\n') {
			t->state = CSS_URL_BAD;
			return 0;
		}
		if (hex_value(c) >= 0) {
			hex_begin(t, c, CSS_URL);
			return 1;
		}
		url_put(t, c);
		t->state = CSS_URL;
		return 1;
	case CSS_URL_END:
	case CSS_URL_STR_END:
		if (is_space(c))
			return 1;
		if (c == ')') {
			css_emit(l, t);
			t->state = CSS_DATA;
			return 1;
		}
		t->state = CSS_URL_BAD;
		return 0;
	case CSS_URL_BAD:
		if (c == ')') {
			l->dropped++;
			t->capture = 0;
			t->state = CSS_DATA;
		} else if (c == '\\') {
			t->state = CSS_URL_BAD_ESC;
		}
		return 1;
	case CSS_URL_BAD_ESC:
		t->state = CSS_URL_BAD;
		return 1;
	}
	t->state = CSS_DATA;
	return 1;
}

static void css_feed(sv_links *l, css_tok *t, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n && !l->err; i++) {
		unsigned c = p[i];
		if (t->cr && c == '\n') {
			t->cr = 0;
			continue;
		}
		t->cr = c == '\r';
		if (c == '\r' || c == '\f')
			c = '\n';
		while (!css_step(l, t, c))
			;
	}
}

/* The end of the CSS text: a pending URL is reported when emit_pending, else dropped. */
static void css_end(sv_links *l, css_tok *t, int emit_pending)
{
	if (emit_pending) {
		if (t->state == CSS_HEX)
			hex_done(t);
		switch (t->state) {
		case CSS_URL:
		case CSS_URL_ESC:
		case CSS_URL_END:
		case CSS_URL_STR_END:
			css_emit(l, t);
			break;
		case CSS_STRING:
		case CSS_STRING_ESC:
			if (t->capture)
				css_emit(l, t);
			break;
		}
	}
	css_reset(t);
}

/* ------------------------------------------------------------------ */
/* HTML attributes                                                     */

/* The value of attribute name, "" for one without a value, NULL when absent. */
static const char *attr(const xmlChar **atts, const char *name)
{
	for (; atts[0]; atts += 2)
		if (strcmp((const char *)atts[0], name) == 0)
			return atts[1] ? (const char *)atts[1] : "";
	return NULL;
}

/* Every URL of a srcset value (HTML "parse a srcset attribute"): commas inside a URL stay. */
static void emit_srcset(sv_links *l, const char *p)
{
	for (;;) {
		const char *u, *e;
		int paren = 0;

		while (is_space((unsigned char)*p) || *p == ',')
			p++;
		if (!*p)
			return;
		for (u = p; *p && !is_space((unsigned char)*p); p++)
			;
		e = p;
		if (e[-1] == ',') { /* "a.jpg," has no descriptors */
			while (e[-1] == ',')
				e--;
			emit_n(l, u, (size_t)(e - u), SV_LINK_REQUISITE);
			continue;
		}
		emit_n(l, u, (size_t)(e - u), SV_LINK_REQUISITE);
		for (; *p; p++) { /* descriptors, up to a comma outside parentheses */
			if (*p == '(')
				paren = 1;
			else if (*p == ')')
				paren = 0;
			else if (*p == ',' && !paren) {
				p++;
				break;
			}
		}
	}
}

/* The URL of a meta refresh content value (HTML "shared declarative refresh steps"). */
static void emit_refresh(sv_links *l, const char *p)
{
	const char *url, *end;
	char quote = 0;

	while (is_space((unsigned char)*p))
		p++;
	if (!is_digit((unsigned char)*p) && *p != '.')
		return;
	while (is_digit((unsigned char)*p) || *p == '.')
		p++;
	if (*p != ';' && *p != ',' && !is_space((unsigned char)*p))
		return; /* also "5" alone: a refresh of this page */
	while (is_space((unsigned char)*p))
		p++;
	if (*p == ';' || *p == ',')
		p++;
	while (is_space((unsigned char)*p))
		p++;
	if (!*p)
		return;
	url = p;
	if (lower((unsigned char)p[0]) == 'u') {
		if (lower((unsigned char)p[1]) != 'r' || lower((unsigned char)p[2]) != 'l') {
			emit(l, url, SV_LINK_REFRESH);
			return;
		}
		for (p += 3; is_space((unsigned char)*p); p++)
			;
		if (*p != '=') {
			emit(l, url, SV_LINK_REFRESH);
			return;
		}
		for (p++; is_space((unsigned char)*p); p++)
			;
	}
	if (*p == '"' || *p == '\'')
		quote = *p++;
	end = quote ? strchr(p, quote) : NULL;
	if (!end)
		end = p + strlen(p);
	emit_n(l, p, (size_t)(end - p), SV_LINK_REFRESH);
}

/* link href: a requisite for the rel values that fetch something the page uses. */
static void emit_link(sv_links *l, const xmlChar **atts)
{
	static const char *const requisite[] = {"stylesheet", "icon",       "preload",          "prefetch",
						"manifest",   "modulepreload", "apple-touch-icon", "apple-touch-icon-precomposed",
						"mask-icon"};
	const char *href = attr(atts, "href"), *rel = attr(atts, "rel"), *p;
	int req = 0, hint = 0;

	if (!href)
		return;
	for (p = rel ? rel : ""; *p;) {
		size_t n;
		while (is_space((unsigned char)*p))
			p++;
		for (n = 0; p[n] && !is_space((unsigned char)p[n]); n++)
			;
		for (size_t i = 0; i < sizeof(requisite) / sizeof(requisite[0]); i++)
			if (strlen(requisite[i]) == n && strncasecmp(p, requisite[i], n) == 0)
				req = 1;
		if ((n == 10 && strncasecmp(p, "preconnect", n) == 0) || (n == 12 && strncasecmp(p, "dns-prefetch", n) == 0))
			hint = 1;
		p += n;
	}
	if (req || !hint)
		emit(l, href, req ? SV_LINK_REQUISITE : SV_LINK_PAGE);
}

/* The first <base href> sets the base (resolved against the document URL). */
static void set_base(sv_links *l, const char *href)
{
	char *b = NULL;
	int rc;

	if (!href || l->base_seen)
		return;
	l->base_seen = 1;
	char *ref = query_in_document_encoding(l, href);
	if (!ref) {
		out_of_memory(l);
		return;
	}
	rc = sv_url_normalize(&b, ref, l->doc_url);
	if (ref != href)
		free(ref);
	if (rc == SV_EIO)
		out_of_memory(l);
	if (rc < 0)
		return;
	free(l->base);
	l->base = b;
}

/* Attributes that hold one URL, by element. */
static const struct {
	const char *tag, *attr;
	sv_link_kind kind;
	int srcset; /* a list of URLs with descriptors */
} URL_ATTRS[] = {
	{"a", "href", SV_LINK_PAGE, 0},
	{"area", "href", SV_LINK_PAGE, 0},
	{"iframe", "src", SV_LINK_PAGE, 0},
	{"frame", "src", SV_LINK_PAGE, 0},
	{"img", "src", SV_LINK_REQUISITE, 0},
	{"img", "srcset", SV_LINK_REQUISITE, 1},
	{"script", "src", SV_LINK_REQUISITE, 0},
	{"source", "src", SV_LINK_REQUISITE, 0},
	{"source", "srcset", SV_LINK_REQUISITE, 1},
	{"video", "src", SV_LINK_REQUISITE, 0},
	{"video", "poster", SV_LINK_REQUISITE, 0},
	{"audio", "src", SV_LINK_REQUISITE, 0},
	{"embed", "src", SV_LINK_REQUISITE, 0},
	{"track", "src", SV_LINK_REQUISITE, 0},
	{"object", "data", SV_LINK_REQUISITE, 0},
};

/* ------------------------------------------------------------------ */
/* SAX callbacks (libxml2 gives tag and attribute names in lower case)  */

static void on_start(void *ud, const xmlChar *xname, const xmlChar **atts)
{
	sv_links *l = ud;
	const char *name = (const char *)xname, *v;

	if (l->err)
		return;
	if (strcmp(name, "style") == 0) {
		if (!l->keep_css)
			css_reset(&l->css);
		l->keep_css = 0;
		l->in_style = 1;
	}
	if (!atts)
		return;
	if (strcmp(name, "base") == 0) {
		set_base(l, attr(atts, "href"));
		return;
	}
	for (size_t i = 0; i < sizeof(URL_ATTRS) / sizeof(URL_ATTRS[0]); i++) {
		if (strcmp(URL_ATTRS[i].tag, name) != 0 || !(v = attr(atts, URL_ATTRS[i].attr)))
			continue;
		if (URL_ATTRS[i].srcset)
			emit_srcset(l, v);
		else
			emit(l, v, URL_ATTRS[i].kind);
	}
	if (strcmp(name, "link") == 0) {
		emit_link(l, atts);
	} else if (strcmp(name, "input") == 0) {
		if ((v = attr(atts, "type")) && equals_word(v, "image") && (v = attr(atts, "src")))
			emit(l, v, SV_LINK_REQUISITE);
	} else if (strcmp(name, "meta") == 0) {
		if ((v = attr(atts, "http-equiv")) && equals_word(v, "refresh") && (v = attr(atts, "content")))
			emit_refresh(l, v);
	}
	if ((v = attr(atts, "style"))) {
		css_reset(&l->attr_css);
		css_feed(l, &l->attr_css, (const unsigned char *)v, strlen(v));
		css_end(l, &l->attr_css, 1);
	}
	if ((v = attr(atts, "background")))
		emit(l, v, SV_LINK_REQUISITE);
}

static void on_end(void *ud, const xmlChar *name)
{
	sv_links *l = ud;
	if (l->in_style && strcmp((const char *)name, "style") == 0) {
		css_end(l, &l->css, 1);
		l->in_style = 0;
	}
}

static void on_text(void *ud, const xmlChar *text, int len)
{
	sv_links *l = ud;
	if (l->in_style && !l->err && len > 0)
		css_feed(l, &l->css, text, (size_t)len);
}

/* libxml2's complaints about the markup: bad markup is the normal case. */
static void on_error(void *ud, xmlErrorPtr e)
{
	(void)ud;
	(void)e;
}

/* ------------------------------------------------------------------ */
/* The parser                                                          */

static void html_close(sv_links *l)
{
	if (l->html)
		htmlFreeParserCtxt(l->html);
	l->html = NULL;
}

static int html_open(sv_links *l)
{
	htmlSAXHandler sax;

	memset(&sax, 0, sizeof(sax));
	sax.startElement = on_start;
	sax.endElement = on_end;
	sax.characters = on_text;
	sax.cdataBlock = on_text; /* <style> text comes this way */
	sax.serror = on_error;
	sax.initialized = XML_SAX2_MAGIC; /* so that serror is used */
	l->html = htmlCreatePushParserCtxt(&sax, l, NULL, 0, NULL, XML_CHAR_ENCODING_UTF8);
	if (!l->html) {
		out_of_memory(l);
		return l->err;
	}
	/* The input is UTF-8 already: IGNORE_ENC keeps a <meta charset> from switching. */
	htmlCtxtUseOptions(l->html, HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR |
					    HTML_PARSE_NOWARNING | HTML_PARSE_IGNORE_ENC);
	return 0;
}

/*
 * Replaces the parser with a fresh one. With carry, the input the old one
 * had not parsed yet goes to the new one, behind "<script>" or "<style>"
 * when the old one was inside such an element (their text is not markup).
 */
static void html_restart(sv_links *l, int carry)
{
	htmlParserCtxtPtr old = l->html;
	xmlParserInputPtr in = old->input;
	const char *open = "";
	char *keep = NULL;
	size_t n = 0;

	if (carry && in && in->cur && in->end > in->cur) {
		size_t pending = (size_t)(in->end - in->cur);
		if (old->instate != XML_PARSER_EOF && old->nameNr > 0 && old->name) {
			if (strcmp((const char *)old->name, "script") == 0)
				open = "<script>";
			else if (strcmp((const char *)old->name, "style") == 0)
				open = "<style>";
		}
		if (!(keep = malloc(strlen(open) + pending))) {
			out_of_memory(l);
			return;
		}
		memcpy(keep, open, strlen(open));
		memcpy(keep + strlen(open), in->cur, pending);
		n = strlen(open) + pending;
	}
	if (l->in_style) {
		if (strcmp(open, "<style>") == 0)
			l->keep_css = 1;
		else
			css_end(l, &l->css, 0);
		l->in_style = 0;
	}
	html_close(l);
	if (html_open(l) == 0 && n > 0)
		htmlParseChunk(l->html, keep, (int)n, 0);
	free(keep);
}

/*
 * After each piece: replaces a parser that stopped or holds too much, and
 * releases consumed input. After </html> (the EPILOG state) libxml2 takes
 * nothing but comments and stops at the next tag, so a parser there is
 * replaced too. A fresh parser that makes no progress on what it was handed
 * gets it again at most RESTARTS_MAX times.
 */
static void html_settle(sv_links *l)
{
	xmlParserInputPtr in;
	size_t used, pending, last = SIZE_MAX;
	int stuck = 0;

	while (!l->err) {
		htmlParserCtxtPtr c = l->html;
		int dead, over, bloated;

		in = c->input;
		if (c->errNo == XML_ERR_NO_MEMORY) {
			out_of_memory(l);
			return;
		}
		pending = in && in->cur ? (size_t)(in->end - in->cur) : 0;
		dead = !in || c->instate == XML_PARSER_EOF || c->instate == XML_PARSER_EPILOG || c->disableSAX;
		over = pending > PENDING_MAX || (c->instate == XML_PARSER_START_TAG && pending > TAG_MAX);
		bloated = c->nameNr > DEPTH_MAX || xmlDictSize(c->dict) > DICT_MAX;
		if (!dead && !over && !bloated)
			break;
		if (pending >= last)
			stuck++;
		last = pending;
		html_restart(l, !over && stuck < RESTARTS_MAX);
	}
	if (l->err)
		return;
	l->html->checkIndex = 0;
	in = l->html->input;
	used = (size_t)(in->cur - in->base);
	pending = (size_t)(in->end - in->cur);
	if (in->buf && used > SHRINK_MIN && used >= pending)
		xmlParserInputShrink(in);
}

/*
 * Hands the stage to the parser: all of it when all is set (the body is
 * complete), else up to its last '<', the rest staying for the next piece.
 * libxml2 2.9 reads "</sty" at the end of its input as text inside <style>
 * and <script>, and the element then runs on to the next end tag: a piece
 * that ends before a '<' never ends inside a tag.
 */
static void html_push(sv_links *l, int all)
{
	size_t n = l->stage_len;
	unsigned char *lt;

	if (!all && n > 0 && (lt = memrchr(l->stage, '<', n)) && lt > l->stage)
		n = (size_t)(lt - l->stage);
	if (l->err) {
		l->stage_len = 0;
		return;
	}
	if (n > 0 && (l->html || html_open(l) == 0)) {
		htmlParseChunk(l->html, (const char *)l->stage, (int)n, 0);
		html_settle(l);
	}
	memmove(l->stage, l->stage + n, l->stage_len - n);
	l->stage_len -= n;
}

/* ------------------------------------------------------------------ */
/* Decoding to UTF-8                                                   */

/* Appends UTF-8 to the stage, pushing it whenever it is full. */
static void stage_put(sv_links *l, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	while (n > 0) {
		size_t k = PIECE - l->stage_len;
		if (k > n)
			k = n;
		memcpy(l->stage + l->stage_len, p, k);
		l->stage_len += k;
		p += k;
		n -= k;
		if (l->stage_len == PIECE)
			html_push(l, 0);
	}
}

/*
 * The markup filter, between the decoder and the stage: text between tags
 * never holds a link, and libxml2 reads it a character at a time (most of
 * its time on a page of prose), so it is dropped before the parser sees it.
 * Everything else goes through as it is: tags, comments, <!...> and <?...>,
 * and the content of <script> and <style> (libxml2's raw-text elements;
 * <style> text is CSS).
 *
 * Dropping is only safe while the filter and the parser agree on where
 * each tag, comment and raw text ends, and libxml2 2.9 reads malformed
 * markup its own way (a bogus attribute ends at the first blank or '>',
 * whatever the quotes). So the filter reads a strict grammar that both read
 * the same way, and at the first thing outside it (a quote in the wrong
 * place, '\f' in a tag, "--!>", "<script/>", an over-long name...) it stops
 * filtering for the rest of the body: such a page is parsed as it is, only
 * more slowly. A '<' is text, as it is to the parser, unless a letter, '_',
 * ':', '.', '/', '!' or '?' follows ("a < b", "<3").
 */

/* A blank to libxml2 (IS_BLANK_CH): not '\f'. */
static int blank(unsigned c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int name_start(unsigned c)
{
	return is_alpha(c) || c == '_' || c == ':' || c == '.';
}

static int name_char(unsigned c)
{
	return name_start(c) || is_digit(c) || c == '-';
}

/* Gives up: the rest of the body goes to the parser unfiltered. */
static void mk_give_up(sv_links *l)
{
	l->keep_text = 1;
}

/* The tag ends at this '>': raw text after <script> and <style>. */
static void mk_tag_end(sv_links *l)
{
	markup_filter *m = &l->mk;

	m->state = MK_TEXT;
	if (m->end_tag || m->name_len > 6)
		return;
	m->name[m->name_len] = '\0';
	if (strcmp(m->name, "script") == 0 || strcmp(m->name, "style") == 0) {
		if (m->self_closing) {
			mk_give_up(l); /* libxml2 closes <script/> at once; HTML does not */
			return;
		}
		m->state = MK_RAW;
		m->raw = m->name[1] == 'c' ? "</script" : "</style";
		m->match = 0;
	}
}

/* One byte of a start or end tag (MK_TAG), after its '<'. */
static void mk_tag(sv_links *l, unsigned c)
{
	markup_filter *m = &l->mk;

	if (++m->pos > 4096) { /* longer than libxml2's lookups reach unhurried */
		mk_give_up(l);
		return;
	}
	switch (m->part) {
	case TP_NAME:
		if (m->pos == 1 && c == '/') {
			m->end_tag = 1;
			return;
		}
		if (name_char(c) && (m->name_len > 0 || name_start(c))) {
			if (m->name_len < sizeof(m->name) - 1)
				m->name[m->name_len] = (char)lower(c);
			if (++m->name_len > 90)
				mk_give_up(l); /* libxml2 cuts names at 100 bytes */
			return;
		}
		if (m->name_len == 0)
			break;
		if (m->end_tag) {
			m->part = TP_END;
			mk_tag(l, c);
			return;
		}
		m->part = TP_BEFORE_ATTR;
		mk_tag(l, c);
		return;
	case TP_END: /* blanks up to '>' */
		if (blank(c))
			return;
		if (c == '>') {
			mk_tag_end(l);
			return;
		}
		break;
	case TP_BEFORE_ATTR:
	case TP_AFTER_NAME:
	case TP_AFTER_VALUE:
		if (blank(c)) {
			if (m->part == TP_AFTER_VALUE)
				m->part = TP_BEFORE_ATTR;
			return;
		}
		if (c == '>') {
			mk_tag_end(l);
			return;
		}
		if (c == '/') {
			m->part = TP_SLASH;
			return;
		}
		if (m->part == TP_AFTER_NAME && c == '=') {
			m->part = TP_BEFORE_VALUE;
			return;
		}
		if (m->part != TP_AFTER_VALUE && name_start(c)) {
			m->part = TP_ATTR;
			m->attr_len = 1;
			return;
		}
		break;
	case TP_ATTR:
		if (name_char(c)) {
			if (++m->attr_len > 90)
				break;
			return;
		}
		m->part = TP_AFTER_NAME;
		mk_tag(l, c);
		return;
	case TP_BEFORE_VALUE:
		if (blank(c))
			return;
		if (c == '"' || c == '\'') {
			m->state = MK_QUOTE;
			m->quote = (unsigned char)c;
			m->part = TP_AFTER_VALUE;
			return;
		}
		if (c == '>' || c == '<' || c == '=' || c == '`')
			break;
		m->part = TP_UNQUOTED;
		return;
	case TP_UNQUOTED:
		if (blank(c)) {
			m->part = TP_BEFORE_ATTR;
			return;
		}
		if (c == '>') {
			mk_tag_end(l);
			return;
		}
		if (c == '"' || c == '\'' || c == '<' || c == '=' || c == '`')
			break;
		return;
	case TP_SLASH:
		if (c == '>') {
			m->self_closing = 1;
			mk_tag_end(l);
			return;
		}
		break;
	}
	mk_give_up(l);
}

/* One byte of <!...> or <?...> (MK_DECL), after the '<'. */
static void mk_decl(sv_links *l, unsigned c)
{
	markup_filter *m = &l->mk;

	if (m->pos < sizeof(m->open))
		m->open[m->pos] = (char)c;
	m->pos++;
	if (m->pos == 3 && memcmp(m->open, "!--", 3) == 0) {
		m->state = MK_COMMENT;
		m->match = 0;
		m->pos = 0;
		return;
	}
	if (m->pos == 8 && strncasecmp(m->open, "!DOCTYPE", 8) == 0) {
		m->doctype = 1;
		return;
	}
	if (m->pos > 4096 || c == '<') {
		mk_give_up(l);
	} else if (m->doctype && (c == '"' || c == '\'')) { /* elsewhere libxml2 skips to the first '>' */
		m->state = MK_QUOTE;
		m->quote = (unsigned char)c;
	} else if (c == '>') {
		m->state = MK_TEXT;
	}
}

/* A '<' that opens markup, followed by c. */
static void mk_open(sv_links *l, unsigned c)
{
	markup_filter *m = &l->mk;

	m->pos = 0;
	m->end_tag = 0;
	m->self_closing = 0;
	m->name_len = 0;
	m->doctype = 0;
	m->part = TP_NAME;
	m->state = c == '!' || c == '?' ? MK_DECL : MK_TAG;
}

/* Passes UTF-8 on to the stage, less the text between tags. */
static void put(sv_links *l, const void *buf, size_t n)
{
	const unsigned char *p = buf, *end = p + n, *keep = p, *lt;
	markup_filter *m = &l->mk;
	unsigned c;

	while (p < end && !l->keep_text) {
		switch (m->state) {
		case MK_TEXT: /* dropped up to a '<', which waits for the next byte */
			if (p > keep)
				stage_put(l, keep, (size_t)(p - keep));
			lt = memchr(p, '<', (size_t)(end - p));
			l->text_dropped += (size_t)((lt ? lt : end) - p);
			p = lt ? lt + 1 : end;
			keep = p;
			if (lt)
				m->state = MK_LT;
			break;
		case MK_LT:
			if (name_start(*p) || *p == '/' || *p == '!' || *p == '?') {
				stage_put(l, "<", 1);
				mk_open(l, *p);
			} else {
				m->state = MK_TEXT; /* "a < b" */
			}
			break;
		case MK_TAG:
			mk_tag(l, *p++);
			break;
		case MK_DECL:
			mk_decl(l, *p++);
			break;
		case MK_QUOTE:
			lt = memchr(p, m->quote, (size_t)(end - p));
			if (m->doctype) {
				const unsigned char *stop = lt ? lt : end;
				if (memchr(p, '>', (size_t)(stop - p)) || memchr(p, '<', (size_t)(stop - p)))
					mk_give_up(l); /* libxml2 may skip to the first '>' */
			}
			p = lt ? lt + 1 : end;
			if (lt)
				m->state = m->doctype ? MK_DECL : MK_TAG;
			break;
		case MK_COMMENT: /* up to "-->"; "<!-->", "<!--->" and "--!>" are read differently */
			c = *p++;
			if (++m->pos <= 2 && c == '>')
				mk_give_up(l); /* "<!-->", "<!--->" (and "<!--x>", read alike to be safe) */
			else if (c == '>' && m->match >= 2)
				m->state = MK_TEXT;
			else if (c == '!' && m->match >= 2)
				mk_give_up(l);
			m->match = c == '-' ? m->match + 1 : 0;
			break;
		case MK_RAW: /* up to "</" and the element's name, then blanks and '>' */
			if (m->match == 0) {
				lt = memchr(p, '<', (size_t)(end - p));
				p = lt ? lt + 1 : end;
				m->match = lt != NULL;
				break;
			}
			c = lower(*p++);
			if (c != (unsigned char)m->raw[m->match]) {
				m->match = c == '<';
			} else if (m->raw[++m->match] == '\0') {
				mk_open(l, '/');
				m->end_tag = 1;
				m->part = TP_END;
				m->name_len = 7; /* matches nothing */
			}
			break;
		}
	}
	if (l->keep_text)
		p = end;
	if (p > keep)
		stage_put(l, keep, (size_t)(p - keep));
}

/* A byte that is not part of valid UTF-8, read as Latin-1. */
static void put_latin1(sv_links *l, unsigned char c)
{
	unsigned char u[2] = {(unsigned char)(0xc0 | c >> 6), (unsigned char)(0x80 | (c & 0x3f))};
	put(l, u, 2);
}

/* Length of the UTF-8 sequence lead byte c starts, 0 if c cannot start one. */
static size_t utf8_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* Whether b can follow lead byte c at position i (1..3): no overlong forms, surrogates or code points past U+10FFFF. */
static int utf8_follows(unsigned char c, size_t i, unsigned char b)
{
	if ((b & 0xc0) != 0x80)
		return 0;
	if (i == 1) {
		if (c == 0xe0)
			return b >= 0xa0;
		if (c == 0xed)
			return b <= 0x9f;
		if (c == 0xf0)
			return b >= 0x90;
		if (c == 0xf4)
			return b <= 0x8f;
	}
	return 1;
}

static void flush_latin1(sv_links *l)
{
	for (size_t j = 0; j < l->tail_len; j++)
		put_latin1(l, l->tail[j]);
	l->tail_len = 0;
}

/* UTF-8 in, valid UTF-8 out: NUL becomes U+FFFD, a byte that fits no sequence is Latin-1. */
static void utf8_feed(sv_links *l, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && !l->err) {
		if (l->tail_len > 0) {
			if (utf8_follows(l->tail[0], l->tail_len, p[i])) {
				l->tail[l->tail_len++] = p[i++];
				if (l->tail_len == utf8_len(l->tail[0])) {
					put(l, l->tail, l->tail_len);
					l->tail_len = 0;
				}
			} else {
				flush_latin1(l); /* and p[i] is looked at again */
			}
			continue;
		}
		size_t s = i;
		while (i < n && p[i] < 0x80 && p[i] != 0)
			i++;
		if (i > s)
			put(l, p + s, i - s);
		else if (p[i] == 0)
			put(l, REPLACEMENT, 3);
		else if (utf8_len(p[i]) == 0)
			put_latin1(l, p[i]);
		else
			l->tail[l->tail_len++] = p[i];
		if (i == s)
			i++;
	}
}

/* Appends iconv's output (valid UTF-8) to the stage, NUL as U+FFFD. */
static void put_converted(sv_links *l, const char *p, size_t n)
{
	const char *nul;
	while (n > 0 && (nul = memchr(p, '\0', n))) {
		put(l, p, (size_t)(nul - p));
		put(l, REPLACEMENT, 3);
		n -= (size_t)(nul - p) + 1;
		p = nul + 1;
	}
	put(l, p, n);
}

/* Converts *in with iconv; stops at an incomplete character at the end. */
static void iconv_run(sv_links *l, const unsigned char **in, size_t *left)
{
	char out[4096];

	while (*left > 0 && !l->err) {
		char *ip = (char *)*in, *op = out;
		size_t room = sizeof(out);
		size_t r = iconv(l->cd, &ip, left, &op, &room);
		int e = errno;

		*in = (const unsigned char *)ip;
		put_converted(l, out, (size_t)(op - out));
		if (r != (size_t)-1)
			return;
		if (e == EILSEQ) {
			put(l, REPLACEMENT, 3);
			(*in)++;
			(*left)--;
		} else if (e != E2BIG || op == out) {
			return; /* EINVAL: the rest is the start of a character */
		}
	}
}

static void iconv_feed(sv_links *l, const unsigned char *p, size_t n)
{
	/* complete the character the last chunk ended inside, a byte at a time */
	while (l->tail_len > 0 && n > 0 && !l->err) {
		const unsigned char *in = l->tail;
		size_t left;

		l->tail[l->tail_len++] = *p++;
		n--;
		left = l->tail_len;
		iconv_run(l, &in, &left);
		memmove(l->tail, in, left);
		l->tail_len = left;
		if (l->tail_len == sizeof(l->tail)) {
			put(l, REPLACEMENT, 3);
			memmove(l->tail, l->tail + 1, --l->tail_len);
		}
	}
	iconv_run(l, &p, &n);
	while (n >= sizeof(l->tail)) {
		put(l, REPLACEMENT, 3);
		p++;
		n--;
	}
	memcpy(l->tail + l->tail_len, p, n);
	l->tail_len += n;
}

static void decode(sv_links *l, const unsigned char *p, size_t n)
{
	if (l->cd == (iconv_t)-1)
		utf8_feed(l, p, n);
	else
		iconv_feed(l, p, n);
}

/* The end of the body: an incomplete last character is replaced. */
static void decode_end(sv_links *l)
{
	char out[64], *op = out;
	size_t room = sizeof(out);

	if (l->cd == (iconv_t)-1) {
		flush_latin1(l);
		return;
	}
	if (l->tail_len > 0)
		put(l, REPLACEMENT, 3);
	l->tail_len = 0;
	iconv(l->cd, NULL, NULL, &op, &room); /* what a stateful encoding still holds */
	put_converted(l, out, (size_t)(op - out));
}

/* ------------------------------------------------------------------ */
/* Choosing the encoding                                               */

/*
 * The iconv name for an encoding label: "UTF-8", "WINDOWS-1252" for the
 * labels the WHATWG Encoding standard maps to it (which include
 * ISO-8859-1 and US-ASCII), else the label itself.
 */
static const char *canonical(const char *label)
{
	static const char *const utf8[] = {"utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8",
					   "x-unicode20utf8"};
	static const char *const w1252[] = {"ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819",
					    "iso-8859-1", "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1",
					    "iso_8859-1:1987", "l1", "latin1", "us-ascii", "windows-1252", "x-cp1252"};
	for (size_t i = 0; i < sizeof(utf8) / sizeof(utf8[0]); i++)
		if (strcasecmp(label, utf8[i]) == 0)
			return "UTF-8";
	for (size_t i = 0; i < sizeof(w1252) / sizeof(w1252[0]); i++)
		if (strcasecmp(label, w1252[i]) == 0)
			return "WINDOWS-1252";
	return label;
}

/* Copies s to out (cap bytes), less surrounding whitespace and quotes. */
static void copy_label(char *out, size_t cap, const char *s, size_t n)
{
	while (n > 0 && (is_space((unsigned char)*s) || *s == '"' || *s == '\'')) {
		s++;
		n--;
	}
	while (n > 0 && (is_space((unsigned char)s[n - 1]) || s[n - 1] == '"' || s[n - 1] == '\''))
		n--;
	if (n >= cap)
		n = 0; /* no encoding has so long a name */
	memcpy(out, s, n);
	out[n] = '\0';
}

/* WHATWG "get an attribute" of the prescan: 0 at '>' or the end. Names and values in lower case. */
static int prescan_attr(const unsigned char **pp, const unsigned char *end, char *name, size_t ncap, char *value,
			size_t vcap)
{
	const unsigned char *p = *pp;
	size_t nl = 0, vl = 0;

	while (p < end && (is_space(*p) || *p == '/'))
		p++;
	if (p >= end || *p == '>') {
		*pp = p;
		return 0;
	}
	do { /* a leading '=' is part of the name */
		if (nl + 1 < ncap)
			name[nl++] = (char)lower(*p);
		p++;
	} while (p < end && !is_space(*p) && *p != '/' && *p != '>' && *p != '=');
	name[nl] = '\0';
	value[0] = '\0';
	while (p < end && is_space(*p))
		p++;
	if (p < end && *p == '=') {
		for (p++; p < end && is_space(*p); p++)
			;
		if (p < end && (*p == '"' || *p == '\'')) {
			unsigned char q = *p++;
			for (; p < end && *p != q; p++)
				if (vl + 1 < vcap)
					value[vl++] = (char)lower(*p);
			if (p < end)
				p++;
		} else {
			for (; p < end && !is_space(*p) && *p != '>'; p++)
				if (vl + 1 < vcap)
					value[vl++] = (char)lower(*p);
		}
		value[vl] = '\0';
	}
	*pp = p;
	return 1;
}

/* WHATWG "extract a character encoding from a meta element", from a content value. */
static int charset_from_content(const char *s, char *out, size_t cap)
{
	const char *p = s;
	while ((p = strstr(p, "charset"))) {
		const char *v, *e;
		for (p += 7; is_space((unsigned char)*p); p++)
			;
		if (*p != '=')
			continue;
		for (p++; is_space((unsigned char)*p); p++)
			;
		if (*p == '"' || *p == '\'') {
			if (!(e = strchr(p + 1, *p)))
				return 0;
			v = p + 1;
		} else {
			for (v = e = p; *e && !is_space((unsigned char)*e) && *e != ';'; e++)
				;
		}
		copy_label(out, cap, v, (size_t)(e - v));
		return out[0] != '\0';
	}
	return 0;
}

/* Whether [p, end) starts with s, ASCII case-insensitively. */
static int starts_with(const unsigned char *p, const unsigned char *end, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(end - p) >= n && strncasecmp((const char *)p, s, n) == 0;
}

/* WHATWG "prescan a byte stream to determine its encoding", simplified; 1 when a <meta> names one. */
static int prescan(const unsigned char *p, size_t len, char *out, size_t cap)
{
	const unsigned char *end = p + len;
	char name[16], value[256];

	while (p < end) {
		if (starts_with(p, end, "<!--")) {
			const unsigned char *q;
			for (q = p + 2; q + 3 <= end && memcmp(q, "-->", 3) != 0; q++)
				;
			if (q + 3 > end)
				return 0;
			p = q + 3;
			continue;
		}
		if (starts_with(p, end, "<meta") && p + 5 < end && (is_space(p[5]) || p[5] == '/')) {
			int seen_he = 0, seen_content = 0, seen_charset = 0, pragma = 0, need_pragma = -1;
			char charset[64] = "";
			p += 5;
			while (prescan_attr(&p, end, name, sizeof(name), value, sizeof(value))) {
				if (strcmp(name, "http-equiv") == 0 && !seen_he) {
					seen_he = 1;
					pragma = strcmp(value, "content-type") == 0;
				} else if (strcmp(name, "content") == 0 && !seen_content) {
					seen_content = 1;
					if (!charset[0] && charset_from_content(value, charset, sizeof(charset)))
						need_pragma = 1;
				} else if (strcmp(name, "charset") == 0 && !seen_charset) {
					seen_charset = 1;
					copy_label(charset, sizeof(charset), value, strlen(value));
					need_pragma = 0;
				}
			}
			if (charset[0] && need_pragma >= 0 && (need_pragma == 0 || pragma)) {
				/* a page that can declare itself in ASCII is not UTF-16 */
				const char *c = strncmp(charset, "utf-16", 6) == 0 ? "utf-8" : charset;
				copy_label(out, cap, c, strlen(c));
				return out[0] != '\0';
			}
		} else if (p + 2 < end && p[0] == '<' && (is_alpha(p[1]) || (p[1] == '/' && is_alpha(p[2])))) {
			while (p < end && !is_space(*p) && *p != '>')
				p++;
			while (prescan_attr(&p, end, name, sizeof(name), value, sizeof(value)))
				;
		} else if (p + 1 < end && p[0] == '<' && (p[1] == '!' || p[1] == '/' || p[1] == '?')) {
			while (p < end && *p != '>')
				p++;
		}
		p++;
	}
	return 0;
}

/* Sets the decoder for an encoding label; 0 when iconv does not know it. */
static int use_encoding(sv_links *l, const char *label)
{
	const char *name = canonical(label);
	if (strcmp(name, "UTF-8") == 0)
		return 1;
	l->cd = iconv_open("UTF-8", name);
	/* A UTF-16 document's URLs are encoded in UTF-8 (WHATWG Encoding, "get an output encoding"). */
	if (l->cd != (iconv_t)-1 && strncasecmp(name, "UTF-16", 6) != 0)
		l->qcd = iconv_open(name, "UTF-8");
	return l->cd != (iconv_t)-1;
}

/*
 * Chooses the decoder as browsers do: a byte order mark, else the header's
 * charset, else a <meta> in the first PRESCAN bytes, else UTF-8; a name
 * iconv does not know counts as none. Then sends head through it.
 */
static void decide(sv_links *l)
{
	const unsigned char *h = l->head;
	size_t n = l->head_len, bom = 0;
	char found[64] = "";

	if (n >= 3 && h[0] == 0xef && h[1] == 0xbb && h[2] == 0xbf)
		bom = 3;
	else if (n >= 2 && h[0] == 0xfe && h[1] == 0xff)
		bom = 2, use_encoding(l, "UTF-16BE");
	else if (n >= 2 && h[0] == 0xff && h[1] == 0xfe)
		bom = 2, use_encoding(l, "UTF-16LE");
	else if (!(l->charset[0] && use_encoding(l, l->charset)) && prescan(h, n, found, sizeof(found)))
		use_encoding(l, found);
	l->decided = 1;
	decode(l, h + bom, n - bom);
}

/* Takes body bytes, holding the first PRESCAN back until the encoding is chosen. */
static void html_take(sv_links *l, const unsigned char *p, size_t n)
{
	if (!l->decided) {
		size_t k = PRESCAN - l->head_len;
		if (k > n)
			k = n;
		memcpy(l->head + l->head_len, p, k);
		l->head_len += k;
		p += k;
		n -= k;
		if (l->head_len < PRESCAN)
			return;
		decide(l);
	}
	decode(l, p, n);
}

/* ------------------------------------------------------------------ */
/* The interface                                                       */

int sv_links_new(sv_links **out, sv_links_type type, const char *doc_url, size_t max_bytes, sv_link_fn fn,
		 void *ctx)
{
	sv_links *l;
	int rc;

	*out = NULL;
	if ((type != SV_LINKS_HTML && type != SV_LINKS_CSS) || !fn || !doc_url)
		return sv_error_set(SV_EINVAL, "links: bad arguments");
	pthread_once(&xml_once, xml_init);
	if (!(l = calloc(1, sizeof(*l))))
		return sv_error_set(SV_EIO, "links: out of memory");
	l->type = type;
	l->fn = fn;
	l->ctx = ctx;
	l->max_bytes = max_bytes ? max_bytes : SV_LINKS_MAX_BYTES;
	l->cd = (iconv_t)-1;
	l->qcd = (iconv_t)-1;
	if ((rc = sv_url_normalize(&l->doc_url, doc_url, NULL)) < 0) {
		sv_error_prefix("links: document URL");
		goto fail;
	}
	if (!(l->base = strdup(l->doc_url)) || (type == SV_LINKS_HTML && !(l->stage = malloc(PIECE)))) {
		rc = sv_error_set(SV_EIO, "links: out of memory");
		goto fail;
	}
	*out = l;
	return 0;
fail:
	sv_links_free(l);
	return rc;
}

int sv_links_set_charset(sv_links *l, const char *charset)
{
	if (l->fed > 0)
		return sv_error_set(SV_EINVAL, "links: charset set after the body began");
	l->charset[0] = '\0';
	if (charset)
		copy_label(l->charset, sizeof(l->charset), charset, strlen(charset));
	return 0;
}

/* max_bytes reached and more arrived: parse what is complete, drop what is not. */
static void cut(sv_links *l)
{
	l->truncated = 1;
	if (l->type == SV_LINKS_CSS) {
		css_end(l, &l->css, 0);
		return;
	}
	if (!l->decided)
		decide(l);
	l->tail_len = 0;
	html_push(l, 1);
	if (l->in_style)
		css_end(l, &l->css, 0);
	l->in_style = 0;
	html_close(l);
}

int sv_links_keep_text(sv_links *l)
{
	if (l->fed > 0 || l->finished)
		return sv_error_set(SV_EINVAL, "links: keep_text after the body began");
	l->keep_text = 1;
	return 0;
}

int sv_links_feed(sv_links *l, const void *buf, size_t len)
{
	size_t room, take;

	if (l->err)
		return sv_error_set(l->err, "links: out of memory");
	if (l->finished)
		return sv_error_set(SV_EINVAL, "links: body fed after its end");
	if (l->truncated || len == 0)
		return 0;
	room = l->max_bytes - l->fed;
	take = len < room ? len : room;
	l->fed += take;
	if (l->type == SV_LINKS_CSS)
		css_feed(l, &l->css, buf, take);
	else
		html_take(l, buf, take);
	if (len > room && !l->err)
		cut(l);
	return l->err ? sv_error_set(l->err, "links: out of memory") : 0;
}

int sv_links_finish(sv_links *l)
{
	if (l->finished || l->err) {
		l->finished = 1;
		return l->err ? sv_error_set(l->err, "links: out of memory") : 0;
	}
	l->finished = 1;
	if (l->truncated)
		return 0;
	if (l->type == SV_LINKS_CSS) {
		css_end(l, &l->css, 1);
	} else {
		if (!l->decided)
			decide(l);
		decode_end(l);
		html_push(l, 1);
		if (l->html && !l->err)
			htmlParseChunk(l->html, NULL, 0, 1);
		if (l->in_style)
			css_end(l, &l->css, 1);
		l->in_style = 0;
		html_close(l);
	}
	return l->err ? sv_error_set(l->err, "links: out of memory") : 0;
}

size_t sv_links_found(const sv_links *l)
{
	return l->found;
}

size_t sv_links_dropped(const sv_links *l)
{
	return l->dropped;
}

size_t sv_links_text_dropped(const sv_links *l)
{
	return l->text_dropped;
}

int sv_links_truncated(const sv_links *l)
{
	return l->truncated;
}

void sv_links_free(sv_links *l)
{
	if (!l)
		return;
	html_close(l);
	if (l->cd != (iconv_t)-1)
		iconv_close(l->cd);
	if (l->qcd != (iconv_t)-1)
		iconv_close(l->qcd);
	free(l->doc_url);
	free(l->base);
	free(l->stage);
	free(l->scratch);
	free(l);
}

int sv_links_sniff_html(const void *buf, size_t len)
{
	static const char *const tags[] = {"!doctype html", "html", "head", "script", "iframe", "h1", "div", "font",
					   "table", "a", "style", "title", "b", "body", "br", "p", "!--"};
	const unsigned char *p = buf, *end = p + len;

	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		p += 3;
	while (p < end && is_space(*p))
		p++;
	if (p >= end || *p++ != '<')
		return 0;
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		size_t n = strlen(tags[i]);
		if ((size_t)(end - p) > n && strncasecmp((const char *)p, tags[i], n) == 0 &&
		    (is_space(p[n]) || p[n] == '>'))
			return 1;
	}
	return 0;
}
