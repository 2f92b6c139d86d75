/*
 * seeds/sheet.c -- reading and checking a seed sheet (see sheet.h).
 *
 * The bytes are checked as UTF-8 first, then fed to libcsv (CSV_STRICT,
 * CSV_STRICT_FINI) one byte at a time: a cell's first byte is the one that
 * ends the spaces after a comma or line end, so every cell knows its physical
 * line and its column in characters, even after cells with line breaks.
 * The first row that is not blank is the header; every later row is checked
 * cell by cell, in sheet order, so errors come out in sheet order.
 *
 * What must stay true: a row with any error is not in rows[]; after a fatal
 * error the sheet holds exactly that one error and no rows; a row's meta keys
 * point at the sheet's own column names (freed once, with the sheet), only
 * the values belong to the row; raw is the input, byte for byte.
 */
#include "sheet.h"

#include "../common/error.h"
#include "../common/redact.h"
#include "../common/strset.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csv.h>

/* A value quoted in a message is cut to about this many bytes. */
#define SHOW_MAX 96
#define DELAY_MAX_MS 3600000
/* sv_sheet_load reads this much at most: one byte past the limit is enough to refuse. */
#define READ_MAX ((size_t)SV_SHEET_MAX_BYTES + 1)

enum col_kind {
	COL_NONE,    /* empty header cell: data under it is an error */
	COL_IGNORED, /* a duplicate column: reported once, at its header */
	COL_META,
	COL_URL,
	COL_SCOPE,
	COL_DEPTH,
	COL_PRIORITY,
	COL_INCLUDE,
	COL_EXCLUDE,
	COL_ROBOTS,
	COL_DELAY,
	COL_MAX_URLS,
	COL_MAX_BYTES,
	COL_DATASETS,
	COL_KIND,
};

static const struct {
	const char *name;
	enum col_kind kind;
} KNOWN[] = {
	{"url", COL_URL},           {"scope", COL_SCOPE},       {"depth", COL_DEPTH},
	{"priority", COL_PRIORITY}, {"include", COL_INCLUDE},   {"exclude", COL_EXCLUDE},
	{"robots", COL_ROBOTS},     {"delay", COL_DELAY},       {"max_urls", COL_MAX_URLS},
	{"max_bytes", COL_MAX_BYTES}, {"datasets", COL_DATASETS}, {"kind", COL_KIND},
};

static const char *const SCOPE_NAMES[] = {"page", "prefix", "host", "domain"};
static const char *const KIND_NAMES[] = {"site", "dcat", "ckan", "socrata", "arcgis", "datagov", "auto"};

typedef struct {
	unsigned line, column;
} pos;

typedef struct {
	char *name; /* the header cell as written, trimmed */
	enum col_kind kind;
} column;

/* The sheet as allocated: sv_sheet_free casts back from pub. */
typedef struct {
	sv_sheet pub;
	column *cols;
	size_t ncols;
} sheet_impl;

typedef struct {
	size_t off, len; /* the trimmed value, NUL-terminated, in parser.text */
	pos at;          /* the cell's first byte */
} cell;

/* Where the next cell starts, relative to the byte being fed. */
enum { AT_ROW_START, AT_CELL_START, IN_CELL };

typedef struct {
	sheet_impl *sh;
	struct csv_parser csv;
	pos here;         /* position of the byte being fed (or of the end) */
	int state;
	pos pending;      /* first byte after the comma: where an empty cell is */
	int pending_ok;
	pos start;        /* the current cell's first byte */
	int start_quoted;
	cell *cells;      /* the row being read */
	size_t ncells, cells_cap;
	char *text;
	size_t text_len, text_cap;
	int have_header;
	int fatal;
	int oom;
	sv_strset urls;   /* the urls so far, with the line of each */
	size_t rows_cap;
} parser;

const char *sv_sheet_kind_name(sv_sheet_kind kind)
{
	if ((unsigned)kind < sizeof(KIND_NAMES) / sizeof(KIND_NAMES[0]))
		return KIND_NAMES[kind];
	return "?";
}

int sv_sheet_kind_parse(const char *name, sv_sheet_kind *out)
{
	for (size_t i = 0; name && i < sizeof(KIND_NAMES) / sizeof(KIND_NAMES[0]); i++) {
		if (strcasecmp(name, KIND_NAMES[i]) == 0) {
			*out = (sv_sheet_kind)i;
			return 0;
		}
	}
	return -1;
}

const char *sv_scope_name(sv_scope scope)
{
	if ((unsigned)scope < sizeof(SCOPE_NAMES) / sizeof(SCOPE_NAMES[0]))
		return SCOPE_NAMES[scope];
	return "?";
}

/* ---- positions and text ---- */

/* Moves p past the byte at data[off]: LF, CRLF and a lone CR end a line. */
static void advance(pos *p, const unsigned char *data, size_t off, size_t len)
{
	unsigned char b = data[off];
	if (b == '\n' || (b == '\r' && (off + 1 == len || data[off + 1] != '\n'))) {
		p->line++;
		p->column = 1;
	} else if ((b & 0xC0) != 0x80) {
		p->column++;
	}
}

/* Offset of the first byte that is not valid UTF-8 (or is NUL), or len. */
static size_t utf8_bad(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c < 0x80) {
			if (c == 0)
				return i;
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0; /* overlong */
			else if (c == 0xED)
				hi = 0x9F; /* surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90; /* overlong */
			else if (c == 0xF4)
				hi = 0x8F; /* above U+10FFFF */
		} else {
			return i;
		}
		if (len - i <= need || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += need + 1;
	}
	return len;
}

static int is_blank_byte(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Trims ASCII white space and no-break spaces (U+00A0, pasted from web pages). */
static void trim(const char **s, size_t *len)
{
	const unsigned char *b = (const unsigned char *)*s;
	size_t n = *len;
	for (;;) {
		if (n && is_blank_byte(b[0])) {
			b++, n--;
		} else if (n >= 2 && b[0] == 0xC2 && b[1] == 0xA0) {
			b += 2, n -= 2;
		} else {
			break;
		}
	}
	for (;;) {
		if (n && is_blank_byte(b[n - 1]))
			n--;
		else if (n >= 2 && b[n - 2] == 0xC2 && b[n - 1] == 0xA0)
			n -= 2;
		else
			break;
	}
	*s = (const char *)b;
	*len = n;
}

/* A value as it goes in a message: control characters escaped, long ones cut. */
static const char *show(char buf[static SHOW_MAX + 8], const char *v)
{
	size_t o = 0;
	for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
		if (o >= SHOW_MAX && (*s & 0xC0) != 0x80) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (*s == '\n' || *s == '\r' || *s == '\t') {
			buf[o++] = '\\';
			buf[o++] = *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't';
		} else if (*s < 0x20 || *s == 0x7f) {
			o += (size_t)snprintf(buf + o, 5, "\\x%02x", *s);
		} else {
			buf[o++] = (char)*s;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* ---- errors ---- */

__attribute__((format(printf, 3, 0)))
static void add_error_va(sv_sheet *sh, pos at, const char *fmt, va_list ap)
{
	sh->total_errors++;
	if (sh->nerrors < SV_SHEET_MAX_ERRORS) {
		sv_sheet_error *e = &sh->errors[sh->nerrors++];
		e->line = at.line;
		e->column = at.column;
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
	}
}

__attribute__((format(printf, 3, 4)))
static void add_error(parser *p, pos at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_error_va(&p->sh->pub, at, fmt, ap);
	va_end(ap);
}

/* A fatal error replaces every other: the sheet is not read further. */
__attribute__((format(printf, 3, 4)))
static void set_fatal(sv_sheet *sh, pos at, const char *fmt, ...)
{
	va_list ap;
	sh->nerrors = sh->total_errors = 0;
	va_start(ap, fmt);
	add_error_va(sh, at, fmt, ap);
	va_end(ap);
}

/* ---- values ---- */

/* Digits only into *out, at most max: 0, -1 not digits, -2 more than max. */
static int parse_digits(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (max - (uint64_t)(*s - '0')) / 10) {
			while (s[1] >= '0' && s[1] <= '9')
				s++;
			return s[1] ? -1 : -2;
		}
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int is_negative_number(const char *s)
{
	uint64_t ignored;
	return s[0] == '-' && parse_digits(s + 1, UINT64_MAX, &ignored) == 0;
}

static void check_scope(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	char b[SHOW_MAX + 8];
	if (!*v)
		return;
	for (size_t i = 0; i < sizeof(SCOPE_NAMES) / sizeof(SCOPE_NAMES[0]); i++) {
		if (strcasecmp(v, SCOPE_NAMES[i]) == 0) {
			r->scope = (sv_scope)i;
			return;
		}
	}
	add_error(p, at, "unknown scope '%s' (page, prefix, host or domain)", show(b, v));
}

static void check_kind(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	char b[SHOW_MAX + 8];
	if (*v && sv_sheet_kind_parse(v, &r->kind) != 0)
		add_error(p, at, "unknown kind '%s' (site, dcat, ckan, socrata, arcgis, datagov or auto)", show(b, v));
}

/*
 * A whole number of column name, from min (0 or 1) to max. *out is set only
 * when it is sound; the messages say what a user should write instead.
 */
static int check_count(parser *p, const char *name, const char *v, pos at, uint64_t min, uint64_t max,
		       const char *negative_hint, uint64_t *out)
{
	char b[SHOW_MAX + 8];
	int rc = is_negative_number(v) ? -3 : parse_digits(v, max, out);
	if (rc == -3 || (rc == 0 && *out < min)) {
		add_error(p, at, "%s '%s' %s", name, show(b, v), negative_hint);
		return -1;
	}
	if (rc == -1)
		add_error(p, at, "%s '%s' is not a whole number", name, show(b, v));
	else if (rc == -2)
		add_error(p, at, "%s '%s' is too large", name, show(b, v));
	return rc;
}

static void check_depth(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	uint64_t n;
	if (*v && check_count(p, "depth", v, at, 0, INT_MAX, "is negative (leave it empty for no limit)", &n) == 0)
		r->depth = (int)n;
}

static void check_priority(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	char b[SHOW_MAX + 8];
	int neg = v[0] == '-';
	const char *d = (v[0] == '-' || v[0] == '+') ? v + 1 : v;
	uint64_t n;
	int rc;
	if (!*v)
		return;
	rc = parse_digits(d, neg ? (uint64_t)INT_MAX + 1 : INT_MAX, &n);
	if (rc == -1)
		add_error(p, at, "priority '%s' is not a whole number", show(b, v));
	else if (rc == -2)
		add_error(p, at, "priority '%s' is too large", show(b, v));
	else
		r->priority = neg ? (int)(-(int64_t)n) : (int)n;
}

static void check_robots(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	char b[SHOW_MAX + 8];
	if (!*v)
		return;
	if (strcasecmp(v, "respect") == 0)
		r->robots = 1;
	else if (strcasecmp(v, "ignore") == 0)
		r->robots = 0;
	else
		add_error(p, at, "robots '%s' is not respect or ignore", show(b, v));
}

static void check_datasets(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	static const char *const yes[] = {"yes", "true", "1"}, *const no[] = {"no", "false", "0"};
	char b[SHOW_MAX + 8];
	if (!*v)
		return;
	for (size_t i = 0; i < 3; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			r->datasets = 1;
			return;
		}
		if (strcasecmp(v, no[i]) == 0) {
			r->datasets = 0;
			return;
		}
	}
	add_error(p, at, "datasets '%s' is not yes or no", show(b, v));
}

/* Seconds, with an optional fraction, into milliseconds rounded to nearest. */
static void check_delay(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	char b[SHOW_MAX + 8];
	int64_t ms = 0, unit = 100;
	int digits = 0, big = 0, neg = v[0] == '-';
	const char *s = v + neg;
	if (!*v)
		return;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		if (ms > DELAY_MAX_MS)
			big = 1;
		else
			ms = ms * 10 + (*s - '0') * 1000;
	}
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
			if (unit >= 1)
				ms += (*s - '0') * unit;
			else if (unit == 0 && *s >= '5')
				ms++; /* rounded on the first digit past milliseconds */
			unit = unit >= 1 ? unit / 10 : -1;
		}
	}
	if (*s || !digits)
		add_error(p, at, "delay '%s' is not a number of seconds", show(b, v));
	else if (neg)
		add_error(p, at, "delay '%s' is negative", show(b, v));
	else if (big || ms > DELAY_MAX_MS)
		add_error(p, at, "delay '%s' is more than 3600 seconds", show(b, v));
	else
		r->delay_ms = (int)ms;
}

static void check_max_urls(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	uint64_t n;
	if (*v && check_count(p, "max_urls", v, at, 1, INT64_MAX, "must be at least 1", &n) == 0)
		r->max_urls = (int64_t)n;
}

/* A whole number of bytes with an optional K, M, G or T (powers of 1024). */
static void check_max_bytes(parser *p, sv_sheet_row *r, const char *v, pos at)
{
	static const char UNITS[] = "kmgt";
	char b[SHOW_MAX + 8], num_text[32];
	const char *unit;
	size_t len = strlen(v);
	unsigned shift = 0;
	uint64_t num;
	int rc, neg = v[0] == '-';
	if (!*v)
		return;
	if ((unit = strchr(UNITS, v[len - 1] | 0x20)) != NULL) {
		shift = 10 * (unsigned)(unit - UNITS + 1);
		len--;
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
	}
	len -= (size_t)neg;
	if (len >= sizeof(num_text)) {
		rc = -1;
		if (strspn(v + neg, "0123456789") >= len)
			rc = -2;
	} else {
		memcpy(num_text, v + neg, len);
		num_text[len] = '\0';
		rc = parse_digits(num_text, INT64_MAX >> shift, &num);
	}
	if (rc == -1)
		add_error(p, at, "max_bytes '%s' is not a size "
			  "(a whole number, optionally followed by K, M, G or T)", show(b, v));
	else if (neg)
		add_error(p, at, "max_bytes '%s' must be at least 1", show(b, v));
	else if (rc == -2)
		add_error(p, at, "max_bytes '%s' is too large", show(b, v));
	else if (num == 0)
		add_error(p, at, "max_bytes '%s' must be at least 1", show(b, v));
	else
		r->max_bytes = (int64_t)(num << shift);
}

/* The url as messages show it: without any password or token it holds.
 * Only a row with a problem pays for it. */
static const char *redacted(const char *v, char *buf, size_t cap)
{
	if (!strstr(v, "://"))
		return v;
	sv_redact_url(v, buf, cap);
	return buf;
}

/*
 * The simple check the sheet can make: http:// or https:// and a host;
 * normalisation happens when the seed is queued. Returns 0 when it is good.
 */
static int check_url(parser *p, const char *v, pos at)
{
	char b[SHOW_MAX + 8], r[4 * SHOW_MAX];
	const char *rest, *end, *host;
	if (!*v) {
		add_error(p, at, "the url is empty");
		return -1;
	}
	/* Any scheme: the sheet is committed to the ledger and pushed to every mirror as it is. */
	if ((rest = strstr(v, "://")) && memchr(rest + 3, '@', strcspn(rest + 3, "/?#"))) {
		add_error(p, at, "credentials in a URL would be published with the ledger; remove them from "
			  "the sheet and name a netrc file holding them in salvage.conf (crawl.netrcFile)");
		p->sh->pub.credentials++;
		return -1;
	}
	for (const unsigned char *s = (const unsigned char *)v; *s; s++) {
		if (*s < 0x20 || *s == 0x7f) {
			add_error(p, at, "url '%s' has a line break or control character in it "
				  "(one url per row)", show(b, redacted(v, r, sizeof(r))));
			return -1;
		}
	}
	if (strncasecmp(v, "http://", 7) == 0) {
		rest = v + 7;
	} else if (strncasecmp(v, "https://", 8) == 0) {
		rest = v + 8;
	} else {
		if (!strchr(v, ':') && strchr(v, '.') && !strchr(v, ' '))
			add_error(p, at, "'%s' is not an http or https URL (did you mean 'https://%s'?)",
				  show(b, redacted(v, r, sizeof(r))), b);
		else
			add_error(p, at, "'%s' is not an http or https URL", show(b, redacted(v, r, sizeof(r))));
		return -1;
	}
	end = rest + strcspn(rest, "/?#");
	host = rest;
	if (*host == '[') {
		const char *close = memchr(host, ']', (size_t)(end - host));
		if (!close || close == host + 1)
			host = end;
	} else {
		const char *colon = memchr(host, ':', (size_t)(end - host));
		if (colon)
			end = colon;
	}
	if (host >= end) {
		add_error(p, at, "'%s' has no host", show(b, redacted(v, r, sizeof(r))));
		return -1;
	}
	return 0;
}

/* The line the url is already on, or 0 after adding it at line. */
static unsigned url_seen(parser *p, const char *url, unsigned line)
{
	unsigned first = 0;
	int rc = sv_strset_add(&p->urls, url, line, &first);
	if (rc < 0)
		p->oom = 1;
	return rc == 1 ? first : 0;
}

/* ---- rows ---- */

static void row_free(sv_sheet_row *r)
{
	free(r->url);
	free(r->include);
	free(r->exclude);
	for (size_t i = 0; i < r->nmeta; i++)
		free(r->meta[i].value); /* keys belong to the sheet */
	free(r->meta);
}

static char *dup_or_oom(parser *p, const char *s)
{
	char *d = strdup(s);
	if (!d)
		p->oom = 1;
	return d;
}

static void read_header(parser *p)
{
	sheet_impl *sh = p->sh;
	sv_strset seen = {0}; /* the names so far, in lower case */
	int have_url = 0;
	if (!(sh->cols = calloc(p->ncells, sizeof(*sh->cols)))) {
		p->oom = 1;
		return;
	}
	sh->ncols = p->ncells;
	for (size_t i = 0; i < p->ncells; i++) {
		char *name = p->text + p->cells[i].off;
		column *c = &sh->cols[i];
		char b[SHOW_MAX + 8];
		if (!(c->name = dup_or_oom(p, name)))
			break;
		if (!*name) {
			c->kind = COL_NONE;
			continue;
		}
		c->kind = COL_META;
		for (size_t k = 0; k < sizeof(KNOWN) / sizeof(KNOWN[0]); k++)
			if (strcasecmp(name, KNOWN[k].name) == 0)
				c->kind = KNOWN[k].kind;
		/* The cell's text is scratch: folded in place, as strcasecmp compares. */
		for (char *f = name; *f; f++)
			if (*f >= 'A' && *f <= 'Z')
				*f = (char)(*f - 'A' + 'a');
		int dup = sv_strset_add(&seen, name, 0, NULL);
		if (dup < 0) {
			p->oom = 1;
			break;
		}
		if (dup) {
			add_error(p, p->cells[i].at, "duplicate column '%s' in the header", show(b, c->name));
			c->kind = COL_IGNORED;
		}
		if (c->kind == COL_URL)
			have_url = 1;
	}
	sv_strset_free(&seen);
	if (p->oom)
		return;
	if (!have_url) {
		pos at = {p->cells[0].at.line, 1};
		set_fatal(&sh->pub, at, "no 'url' column in the header");
		p->fatal = 1;
	}
}

static void read_row(parser *p, pos row_end)
{
	sheet_impl *sh = p->sh;
	sv_sheet *pub = &sh->pub;
	sv_sheet_row r = {
		.line = p->cells[0].at.line, .scope = SV_SCOPE_PREFIX, .depth = -1, .robots = 1,
		.delay_ms = -1, .max_urls = -1, .max_bytes = -1, .datasets = 1,
	};
	size_t errors_before = pub->total_errors, nmeta = 0;
	int stray = 0, have_url = 0;
	char b[SHOW_MAX + 8];

	for (size_t i = 0; i < p->ncells && i < sh->ncols; i++)
		if (sh->cols[i].kind == COL_META && p->cells[i].len)
			nmeta++;
	if (nmeta && !(r.meta = calloc(nmeta, sizeof(*r.meta)))) {
		p->oom = 1;
		return;
	}
	for (size_t i = 0; i < p->ncells; i++) {
		const char *v = p->text + p->cells[i].off;
		pos at = p->cells[i].at;
		if (i >= sh->ncols || sh->cols[i].kind == COL_NONE) {
			if (*v && !stray) {
				if (i >= sh->ncols)
					add_error(p, at, "'%s' is past the last column of the header "
						  "(%zu columns)", show(b, v), sh->ncols);
				else
					add_error(p, at, "'%s' is in a column with no header", show(b, v));
				stray = 1;
			}
			continue;
		}
		switch (sh->cols[i].kind) {
		case COL_URL:
			have_url = 1;
			r.url_line = at.line;
			r.url_column = at.column;
			if (check_url(p, v, at) == 0) {
				unsigned first = url_seen(p, v, r.line);
				if (first)
					add_error(p, at, "url '%s' already listed on line %u",
						  show(b, v), first);
				r.url = dup_or_oom(p, v);
			}
			break;
		case COL_SCOPE: check_scope(p, &r, v, at); break;
		case COL_DEPTH: check_depth(p, &r, v, at); break;
		case COL_PRIORITY: check_priority(p, &r, v, at); break;
		case COL_ROBOTS: check_robots(p, &r, v, at); break;
		case COL_DELAY: check_delay(p, &r, v, at); break;
		case COL_MAX_URLS: check_max_urls(p, &r, v, at); break;
		case COL_MAX_BYTES: check_max_bytes(p, &r, v, at); break;
		case COL_DATASETS: check_datasets(p, &r, v, at); break;
		case COL_KIND: check_kind(p, &r, v, at); break;
		case COL_INCLUDE:
			if (*v)
				r.include = dup_or_oom(p, v);
			break;
		case COL_EXCLUDE:
			if (*v)
				r.exclude = dup_or_oom(p, v);
			break;
		case COL_META:
			if (*v) {
				r.meta[r.nmeta].key = sh->cols[i].name;
				r.meta[r.nmeta++].value = dup_or_oom(p, v);
			}
			break;
		case COL_NONE:
		case COL_IGNORED:
			break;
		}
	}
	if (!have_url)
		check_url(p, "", row_end); /* the row ends before its url cell */

	if (pub->total_errors != errors_before || p->oom) {
		row_free(&r);
		return;
	}
	if (pub->nrows == p->rows_cap) {
		size_t cap = p->rows_cap ? p->rows_cap * 2 : 64;
		sv_sheet_row *t = realloc(pub->rows, cap * sizeof(*t));
		if (!t) {
			p->oom = 1;
			row_free(&r);
			return;
		}
		pub->rows = t;
		p->rows_cap = cap;
	}
	pub->rows[pub->nrows++] = r;
}

/* ---- libcsv callbacks ---- */

/* Where the cell that libcsv just ended began. */
static pos cell_start(const parser *p)
{
	if (p->state == IN_CELL)
		return p->start;
	return p->pending_ok ? p->pending : p->here;
}

static void on_cell(void *s, size_t len, void *data)
{
	parser *p = data;
	const char *v = s ? s : "";
	cell *c;
	if (p->fatal || p->oom)
		return;
	trim(&v, &len);
	if (p->ncells == p->cells_cap) {
		size_t cap = p->cells_cap ? p->cells_cap * 2 : 32;
		cell *t = realloc(p->cells, cap * sizeof(*t));
		if (!t) {
			p->oom = 1;
			return;
		}
		p->cells = t;
		p->cells_cap = cap;
	}
	if (p->text_len + len + 1 > p->text_cap) {
		size_t cap = p->text_cap ? p->text_cap : 1024;
		char *t;
		while (cap < p->text_len + len + 1)
			cap *= 2;
		if (!(t = realloc(p->text, cap))) {
			p->oom = 1;
			return;
		}
		p->text = t;
		p->text_cap = cap;
	}
	c = &p->cells[p->ncells++];
	c->off = p->text_len;
	c->len = len;
	c->at = cell_start(p);
	memcpy(p->text + p->text_len, v, len);
	p->text[p->text_len + len] = '\0';
	p->text_len += len + 1;
	p->state = AT_CELL_START;
	p->pending_ok = 0;
}

static void on_row(int c, void *data)
{
	parser *p = data;
	int blank = 1;
	(void)c;
	p->state = AT_ROW_START;
	p->pending_ok = 0;
	if (p->fatal || p->oom)
		goto done;
	for (size_t i = 0; i < p->ncells; i++)
		if (p->cells[i].len)
			blank = 0;
	if (blank || !p->ncells)
		goto done;
	if (!p->have_header) {
		p->have_header = 1;
		read_header(p);
	} else {
		read_row(p, p->here);
	}
done:
	p->ncells = 0;
	p->text_len = 0;
}

/* ---- the parse ---- */

static void parser_free(parser *p)
{
	csv_free(&p->csv);
	free(p->cells);
	free(p->text);
	sv_strset_free(&p->urls);
}

/* The bytes that can make libcsv end a cell or a row, or fail. */
static int ends_something(unsigned char b)
{
	return b == ',' || b == '"' || b == '\r' || b == '\n';
}

/* Feeds data[from..len) to libcsv, keeping track of where each cell starts. */
static void feed(parser *p, const unsigned char *data, size_t from, size_t len)
{
	sv_sheet *pub = &p->sh->pub;
	for (size_t off = from; off < len && !p->fatal && !p->oom; off++) {
		unsigned char b = data[off];
		if (p->state != IN_CELL) {
			/* libcsv skips line ends before a row, and spaces before a cell */
			if (p->state == AT_ROW_START && (b == '\r' || b == '\n')) {
				p->pending_ok = 0;
				goto fed;
			}
			if (!p->pending_ok) {
				p->pending = p->here;
				p->pending_ok = 1;
			}
			if (b == ' ' || b == '\t')
				goto fed;
			p->start = (b == ',' || b == '\r' || b == '\n') ? p->pending : p->here;
			p->start_quoted = b == '"';
			p->state = IN_CELL;
		}
fed:;
		/* Inside a cell, a run of bytes that end nothing goes to libcsv at
		 * once: no callback can come before its last byte, and the state
		 * above is only read at a cell's start. */
		size_t run = 1, took;
		if (p->state == IN_CELL && !ends_something(b))
			while (off + run < len && !ends_something(data[off + run]))
				run++;
		took = csv_parse(&p->csv, &data[off], run, on_cell, on_row, p);
		/* no line end in a run: its characters are its bytes that do not continue one */
		for (size_t k = 0; k < took && k + 1 < run; k++)
			p->here.column += (data[off + k] & 0xC0) != 0x80;
		off += took < run ? took : run - 1;
		if (took != run) {
			if (csv_error(&p->csv) != CSV_EPARSE) {
				p->oom = 1;
			} else if (p->start_quoted) {
				set_fatal(pub, p->here, "text after the closing quote of a quoted cell "
					  "(write a quote inside a cell as \"\")");
				p->fatal = 1;
			} else {
				set_fatal(pub, p->here, "quote inside a cell that does not start with a quote "
					  "(quote the whole cell and write the quote as \"\")");
				p->fatal = 1;
			}
		}
		advance(&p->here, data, off, len);
	}
}

/* How many rows there can be at most: the line ends, and one. */
static size_t lines(const unsigned char *data, size_t len)
{
	size_t n = 1;
	for (const unsigned char *p = data, *end = data + len; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		n++;
	return n;
}

/* Parses data, which the sheet takes over (it becomes raw). */
static int parse_owned(sv_sheet **out, const char *path, unsigned char *data, size_t len)
{
	sheet_impl *sh;
	sv_sheet *pub;
	parser p = {0};
	size_t from = 0, bad;
	const char *base, *name;
	size_t name_len;
	pos first = {1, 1};
	int rc = 0;

	*out = NULL;
	if (!path)
		path = "-";
	if (!(sh = calloc(1, sizeof(*sh)))) {
		free(data);
		return sv_error_set(SV_EIO, "out of memory reading '%s'", path);
	}
	pub = &sh->pub;
	pub->raw = data;
	pub->raw_len = len;
	base = strrchr(path, '/');
	name = base ? base + 1 : path;
	name_len = strlen(name);
	if (name_len > 4 && strcasecmp(name + name_len - 4, ".csv") == 0)
		name_len -= 4;
	pub->path = strdup(path);
	pub->name = strndup(name, name_len);
	if (!pub->path || !pub->name)
		goto oom;
	p.sh = sh;
	p.here = first;

	if (len > SV_SHEET_MAX_BYTES) {
		free(pub->raw); /* no use keeping what is refused */
		pub->raw = NULL;
		pub->raw_len = 0;
		set_fatal(pub, first, "the sheet is larger than the limit of %u MiB",
			  SV_SHEET_MAX_BYTES >> 20);
		goto fatal;
	}
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		from = 3; /* the BOM takes no column */
	bad = utf8_bad(data + from, len - from) + from;
	if (bad < len) {
		pos at = first;
		for (size_t off = from; off < bad; off++)
			advance(&at, data, off, len);
		if (bad == 0 && len >= 2 &&
		    (memcmp(data, "\xFF\xFE", 2) == 0 || memcmp(data, "\xFE\xFF", 2) == 0))
			set_fatal(pub, at, "the sheet is UTF-16 (save it as CSV UTF-8)");
		else if (len >= 4 && memcmp(data, "PK\x03\x04", 4) == 0)
			set_fatal(pub, first, "this is a spreadsheet file, not CSV (save it as CSV UTF-8)");
		else if (data[bad] == 0)
			set_fatal(pub, at, "NUL byte in the sheet (save it as CSV UTF-8)");
		else
			set_fatal(pub, at, "invalid UTF-8 byte 0x%02x (save the sheet as CSV UTF-8)",
				  data[bad]);
		goto fatal;
	}

	if (csv_init(&p.csv, CSV_STRICT | CSV_STRICT_FINI) != 0 || sv_strset_reserve(&p.urls, lines(data, len)))
		goto oom;
	feed(&p, data, from, len);
	if (p.oom)
		goto oom;
	if (p.fatal)
		goto fatal;
	if (csv_fini(&p.csv, on_cell, on_row, &p) != 0) {
		set_fatal(pub, p.start, "unterminated quoted field");
		goto fatal;
	}
	if (p.oom)
		goto oom;
	if (p.fatal)
		goto fatal;
	if (!p.have_header) {
		set_fatal(pub, first, "the sheet is empty (no header row)");
		goto fatal;
	}
	goto done;

oom:
	rc = sv_error_set(SV_EIO, "out of memory reading '%s'", path);
	parser_free(&p);
	sv_sheet_free(pub);
	return rc;
fatal:
	for (size_t i = 0; i < pub->nrows; i++)
		row_free(&pub->rows[i]);
	free(pub->rows);
	pub->rows = NULL;
	pub->nrows = 0;
	rc = sv_error_set(SV_EINVAL, "%s:%u:%u: %s", path, pub->errors[0].line, pub->errors[0].column,
			  pub->errors[0].message);
done:
	parser_free(&p);
	*out = pub;
	return rc;
}

int sv_sheet_parse(sv_sheet **out, const char *path, const void *data, size_t len)
{
	unsigned char *copy = NULL;
	*out = NULL;
	if (len <= SV_SHEET_MAX_BYTES) {
		if (!(copy = malloc(len ? len : 1)))
			return sv_error_set(SV_EIO, "out of memory reading '%s'", path ? path : "-");
		if (len)
			memcpy(copy, data, len);
	}
	return parse_owned(out, path, copy, len);
}

/* Errors that mean "this path is not a sheet you can read": bad input, not a broken machine. */
static int is_bad_path(int e)
{
	return e == ENOENT || e == EACCES || e == EPERM || e == EISDIR || e == ENOTDIR ||
	       e == ENAMETOOLONG || e == ELOOP || e == ENXIO;
}

static int read_error(int e, const char *path)
{
	if (is_bad_path(e))
		return sv_error_set(SV_EINVAL, "cannot read '%s': %s", path, strerror(e));
	return sv_error_errno(e, "cannot read '%s'", path);
}

int sv_sheet_load(sv_sheet **out, const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0, cap;
	struct stat st;
	int fd, rc;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return read_error(errno, path);
	if (fstat(fd, &st) != 0) {
		rc = read_error(errno, path);
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = read_error(EISDIR, path);
		goto done;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > SV_SHEET_MAX_BYTES) {
		close(fd);
		return parse_owned(out, path, NULL, READ_MAX); /* refused unread */
	}
	/* Read at most one byte past the limit (a pipe can say nothing of its size). */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 64 * 1024;
	for (;;) {
		ssize_t n;
		if (len == cap || !buf) {
			unsigned char *t;
			if (buf)
				cap = cap * 2 > READ_MAX ? READ_MAX : cap * 2;
			if (!(t = realloc(buf, cap))) {
				rc = sv_error_set(SV_EIO, "out of memory reading '%s'", path);
				goto done;
			}
			buf = t;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = read_error(errno, path);
			goto done;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SV_SHEET_MAX_BYTES)
			break;
	}
	close(fd);
	fd = -1;
	rc = parse_owned(out, path, buf, len);
	buf = NULL;
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

void sv_sheet_drop_rows(sv_sheet *sheet)
{
	for (size_t i = 0; i < sheet->nrows; i++)
		row_free(&sheet->rows[i]);
	free(sheet->rows);
	sheet->rows = NULL;
	sheet->nrows = 0;
}

void sv_sheet_free(sv_sheet *sheet)
{
	sheet_impl *sh = (sheet_impl *)sheet;
	if (!sheet)
		return;
	sv_sheet_drop_rows(sheet);
	for (size_t i = 0; i < sh->ncols; i++)
		free(sh->cols[i].name);
	free(sh->cols);
	free(sheet->path);
	free(sheet->name);
	free(sheet->raw);
	free(sh);
}
