/*
 * tests/server/testserver.c -- the HTTP/1.1 server that the end-to-end tests,
 * the demo and the benchmarks crawl (libmicrohttpd).
 *
 *   testserver [--port N] --root DIR [--port-file FILE] [--log FILE]
 *              [--cookie-check | --cookie-never]
 *              [--fail PATH=CODE[:TIMES]]... [--basic-auth USER:PASSWORD]
 *
 * It listens on 127.0.0.1 only, never on another address. Port 0 (the
 * default) picks a free port; FILE receives it, written atomically once the
 * server accepts connections. SIGTERM or SIGINT stops it: exit status 0.
 *
 * Static files: GET and HEAD of files under DIR, never outside it. A ".."
 * segment, an encoded NUL or a request target that is not a path gives 400;
 * a path resolving outside DIR (through a symlink) gives 403; a directory
 * redirects to its slash form (301) and serves its index.html. Answers carry
 * Content-Type by extension, Content-Length, ETag ("size-mtime"),
 * Last-Modified and Accept-Ranges; a single byte range gives 206 with
 * Content-Range, an unsatisfiable one 416, several are answered with the
 * whole entity; If-Range, If-None-Match and If-Modified-Since are honoured.
 * Files go out with MHD_create_response_from_fd (sendfile), never read whole.
 *
 * Traps, selected by path; they take precedence over files of the same name.
 * Prefix modifiers stack, in any order, in front of whatever the rest of the
 * path serves (a file or a generated route), e.g. /reset/1M/big.bin?mb=200.
 * Counters are per raw request target (path and query): vary the query (say
 * &t=2) to get a fresh one. Sizes take a K, M, G or T suffix (powers of 1024).
 *   /reset/N/REST     headers announce REST's true length, the connection is
 *                     dropped after N bytes of body; with ?once=1 only the
 *                     first GET of that target is cut, later ones (and Range
 *                     resumes) are served whole. Ranges apply before the cut.
 *   /short/REST       announces Content-Length = true length + ?extra=N
 *                     (default 4096), sends the true body, then drops the
 *                     connection. Range is ignored (Accept-Ranges: none).
 *   /slow/RATE/REST   drips REST at RATE bytes/s.
 *   /gzip/REST        REST compressed with gzip in memory (up to 64 MiB), sent
 *                     with Content-Encoding: gzip whatever Accept-Encoding says;
 *                     ranges address the compressed bytes.
 *   /chunked/REST     no Content-Length: chunked transfer, Range ignored.
 *   /header/REST?name=N&value=V   REST with one more response header N: V,
 *                     V percent-decoded into raw bytes (Latin-1 and all).
 *   /cookie-check/REST   a cookie check: a request without the cookie
 *                     sv_check=ok gets 302 + Set-Cookie: sv_check=ok; Path=/
 *                     + Location: its own target; with the cookie, REST.
 *   /cookie-never/REST   the same 302 + Set-Cookie every time, cookie or not.
 *                     --cookie-check and --cookie-never put every path of the
 *                     server (robots.txt too) behind these.
 *   /basic-auth/REST  REST for a request whose Authorization header holds
 *                     the --basic-auth USER:PASSWORD; any other request gets
 *                     401 + WWW-Authenticate: Basic (so does every one when
 *                     --basic-auth is not given). The password is never in a URL.
 *   /status/CODE[/REST][?retry_after=S][&times=K]
 *                     answers CODE (200-599), with Retry-After: S verbatim
 *                     when given; with times=K only the first K requests do,
 *                     later ones serve REST (or a small 200 page).
 * --fail PATH=CODE[:TIMES] (repeatable): a GET or HEAD of exactly PATH (the
 * query aside; /robots.txt, say, which no prefix can reach) answers CODE
 * (200-599) like /status/ does, the first TIMES requests only when given
 * (then PATH is served as usual), every one otherwise.
 * Generated routes:
 *   /loop/N           302 to /loop/N+1, forever.
 *   /redirect?to=URL[&code=3xx]   redirect (302 by default) to any Location,
 *                     file:///etc/passwd and ftp:// included.
 *   /redirect-chain/K 302 to /redirect-chain/K-1 ... /redirect-chain/0: a page.
 *   /malformed.html   broken HTML: unclosed tags, bytes invalid in UTF-8, NULs,
 *                     with links /gen/malformed-1.html ... -5.html inside (see
 *                     README.md for which sit after what).
 *   /huge.html?mb=N[&links=L]   an N MiB page (default 1) of 128-byte lines,
 *                     each with a link; targets /gen/huge-0.html ...
 *                     /gen/huge-(L-1).html (default L=100) in order over the
 *                     page, then /gen/huge-end.html. Generated as it is sent.
 *   /calendar/[YYYY/MM/]   an endless calendar: each month links the previous
 *                     and the next month.
 *   /big.bin?mb=N|bytes=N[&seed=S]  deterministic pseudo-random bytes with a
 *                     stable ETag and Last-Modified; ranges are computed, not
 *                     read. Default 1 MiB.
 *   /bigger-than-it-says[?bytes=N][&rate=R]   the /big.bin stream announcing
 *                     5 GiB (or N) and sent at 256 KiB/s (or R; a /slow/
 *                     prefix also sets it): for size caps.
 *   /gen/NAME         a tiny page, 200, for any NAME: the targets of the links
 *                     above, so following them costs one small fetch each.
 *
 * Log (--log): one line per request, appended when the request ends:
 *   SECS.MS METHOD TARGET STATUS range=R if-range=I bytes=N end=E ms=D ua=U cookie=C
 * SECS.MS is the arrival time (Unix epoch); TARGET the raw request target; R,
 * I, U and C the Range, If-Range, User-Agent and Cookie headers ("-" when absent);
 * N the body bytes handed to the connection (for files sent by sendfile, the
 * response's length; else what was produced); E ok, error (the server cut the
 * body), abort (the client left), timeout, shutdown or read-error; D the
 * duration in ms. Bytes outside printable ASCII and spaces appear as %XX.
 *
 * One thread per connection (up to 1024): the drip behaviours sleep in the
 * content reader, which would stall every other connection sharing a thread
 * in a pool. Sleeps are sliced so a shutdown ends them within 0.1 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define KIB 1024ull
#define MIB (1024ull * KIB)
#define GIB (1024ull * MIB)
#define BLOCK_SIZE (64 * 1024)        /* bytes per content-reader call */
#define GZIP_MAX (64 * MIB)           /* largest entity /gzip/ compresses */
#define GEN_MAX (1ull << 44)          /* largest generated entity: 16 TiB */
#define RATE_MAX GIB                  /* fastest drip, bytes/s */
#define NO_CUT UINT64_MAX
#define HUGE_LINE 128                 /* bytes per line of /huge.html */
#define GEN_MTIME ((time_t)1704067200) /* Last-Modified of generated bytes: 2024-01-01 */
#define SLICE_NS 100000000L           /* longest sleep between shutdown checks */
#define NBUCKETS 1024                 /* counter hash buckets */
#define MAX_CONNECTIONS 1024

#define FAILS_MAX 16

/* --fail rules: PATH answers CODE, for the first TIMES requests (0: always). */
static struct fail_rule {
	const char *path;
	unsigned code;
	uint64_t times;
} fails[FAILS_MAX];
static size_t nfails;

static const char *basic_auth; /* --basic-auth USER:PASSWORD, or NULL */

static const char usage[] =
	"usage: testserver [--port N] --root DIR [--port-file FILE] [--log FILE]\n"
	"                  [--cookie-check | --cookie-never]\n"
	"                  [--fail PATH=CODE[:TIMES]]... [--basic-auth USER:PASSWORD]\n"
	"Serves DIR, and the traps described in tests/server/README.md, on 127.0.0.1.\n";

/* One request, from the request line to the log line. */
struct req {
	char *uri;                 /* raw request target, as sent */
	struct timespec t0;        /* CLOCK_MONOTONIC at arrival */
	struct timespec wall;      /* CLOCK_REALTIME at arrival */
	char method[16];
	char range[128], if_range[128], ua[160], cookie[256]; /* "" when absent */
	bool head;
	bool seen;                 /* the access handler ran once (headers only) */
	unsigned status;           /* 0 until a response is queued */
	uint64_t bytes;            /* body bytes handed to the connection */
};

enum kind { K_FILE, K_MEM, K_BIG, K_HUGE };

/* What a URL serves, before ranges and modifiers. Owns fd and mem. */
struct entity {
	enum kind kind;
	uint64_t size;             /* bytes */
	const char *type;          /* Content-Type */
	const char *encoding;      /* Content-Encoding, or NULL */
	char etag[96];             /* quoted; "" for none */
	time_t mtime;              /* Last-Modified; 0 for none */
	int fd;                    /* K_FILE; -1 once handed over */
	unsigned char *mem;        /* K_MEM; NULL once handed over */
	uint64_t seed;             /* K_BIG: which byte stream */
	uint64_t lines, links;     /* K_HUGE: 128-byte lines; distinct link targets */
};

/* Prefix modifiers, gathered while the path is peeled. */
struct mods {
	uint64_t rate;             /* bytes/s; 0 = as fast as the socket takes */
	uint64_t cut;              /* body bytes before the connection drops; NO_CUT */
	uint64_t extra;            /* bytes announced beyond the body (/short/) */
	bool lie;                  /* /short/ */
	bool gzip, chunked;
	const char *hname, *hvalue; /* /header/: one more response header, bytes as given */
};

/* A body sent through the content reader. */
struct body {
	struct entity e;
	uint64_t start, len;       /* the slice of the entity sent */
	struct mods m;
	struct timespec t0;        /* when the first byte was asked for */
	struct req *req;           /* outlives every reader call */
};

struct counter {
	struct counter *next;
	uint64_t n;
	char key[];
};

static char root[PATH_MAX];
static size_t root_len;
static int log_fd = -1;
static atomic_bool stopping;
static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static struct counter *buckets[NBUCKETS];

static const struct {
	const char *ext, *type;
} types[] = {
	{"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
	{"asp", "text/html"}, /* no charset: the page's <meta> says (an old IIS site in Windows-1252) */
	{"css", "text/css; charset=utf-8"}, {"js", "text/javascript; charset=utf-8"},
	{"csv", "text/csv; charset=utf-8"}, {"tsv", "text/tab-separated-values; charset=utf-8"},
	{"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
	{"json", "application/json"}, {"geojson", "application/geo+json"},
	{"xml", "application/xml"}, {"rss", "application/rss+xml"}, {"atom", "application/atom+xml"},
	{"zip", "application/zip"}, {"pdf", "application/pdf"}, {"gz", "application/gzip"},
	{"tgz", "application/gzip"}, {"zst", "application/zstd"}, {"bz2", "application/x-bzip2"},
	{"xz", "application/x-xz"}, {"tar", "application/x-tar"},
	{"png", "image/png"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
	{"svg", "image/svg+xml"}, {"ico", "image/x-icon"}, {"webp", "image/webp"},
	{"xls", "application/vnd.ms-excel"},
	{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
	{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
	{"ods", "application/vnd.oasis.opendocument.spreadsheet"},
	{"kml", "application/vnd.google-earth.kml+xml"}, {"woff2", "font/woff2"},
};

static const char malformed[] =
	"<!DOCTYPE html>\n<html><head><title>Quarterly records (draft)</title>\n"
	"<body><h1>Records <b><i>never closed\n"
	"<p>First: <a href=\"/gen/malformed-1.html\">one</a>\n"
	"<table><tr><td><a href=/gen/malformed-2.html>two, unquoted, unclosed</td></tr>\n"
	"<p>Bytes invalid in UTF-8: \xff\xfe\xc3\x28\x80\x81 and a lone \xe2\x82.\n"
	"<div <<< class=\"x\"\"\" >>><A HREF='/gen/malformed-3.html'>three, upper case</A>\n"
	"<script>var s = \"<a href='/gen/in-script.html'>not a link</a>\";</script>\n"
	"<p>NULs follow: \0\0\0 then <a href=\"/gen/malformed-4.html?a=1&amp;b=2\">four</a>\n"
	"</div></div></span></table>\n"
	"<p>The file ends inside a tag: <a href=\"/gen/malformed-5.html\">five\n<p>trailing <b";

static const char huge_head[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Register of records</title>"
	"</head>\n<body><h1>Register of records</h1>\n";
static const char huge_foot[] =
	"<p><a href=\"/gen/huge-end.html\">end of the register</a></p>\n</body></html>\n";
#define HUGE_HEAD_LEN (sizeof huge_head - 1)
#define HUGE_FOOT_LEN (sizeof huge_foot - 1)

/* --- small helpers --- */

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* All N bytes of S are decimal digits: their value, without overflow. */
static bool parse_digits(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* Digits with an optional K, M, G or T suffix (powers of 1024): all N bytes of S. */
static bool parse_size(const char *s, size_t n, uint64_t *out)
{
	static const char suffixes[] = "KMGT";
	const char *at = n ? strchr(suffixes, s[n - 1] & ~0x20) : NULL;
	uint64_t v, mult = 1;

	if (at && *at) { /* strchr also finds the terminator */
		mult = KIB << (10 * (at - suffixes));
		n--;
	}
	if (!parse_digits(s, n, &v) || v > UINT64_MAX / mult)
		return false;
	*out = v * mult;
	return true;
}

static void http_date(char out[40], time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static bool parse_http_date(const char *s, time_t *out)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return false;
	*out = timegm(&tm);
	return true;
}

static const char *type_for(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
			if (!strcasecmp(dot + 1, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

/* Copies S into OUT, %XX-escaping spaces and bytes outside printable ASCII; "-" for "". */
static void log_escape(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (!s || !*s)
		s = "-";
	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch <= 0x20 || ch >= 0x7f) {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
}

/* Appends S to OUT with &, <, > and " escaped; false when it does not fit. */
static bool html_escape(char *out, size_t cap, const char *s)
{
	size_t o = strlen(out);
	for (; *s; s++) {
		const char *rep = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;"
				: *s == '"' ? "&quot;" : NULL;
		size_t n = rep ? strlen(rep) : 1;
		if (o + n >= cap)
			return false;
		memcpy(out + o, rep ? rep : s, n);
		o += n;
	}
	out[o] = '\0';
	return true;
}

static const char *hdr(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

/* *out = size argument NAME, or DFLT when absent; false when it is no size. */
static bool arg_size(struct MHD_Connection *c, const char *name, uint64_t dflt, uint64_t *out)
{
	const char *v = arg(c, name);
	if (!v) {
		*out = dflt;
		return true;
	}
	return parse_size(v, strlen(v), out);
}

static bool arg_flag(struct MHD_Connection *c, const char *name)
{
	const char *v = arg(c, name);
	return v && *v && strcmp(v, "0") != 0;
}

/* Length of PREFIX when PATH starts with it, else 0. */
static size_t starts(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(path, prefix, n) ? 0 : n;
}

/*
 * PATH = PREFIX, a size segment, REST: returns 1 with *num and *rest ("" or
 * "/..."); -1 when the segment is no size; 0 when PATH lacks PREFIX.
 */
static int peel(const char *path, const char *prefix, uint64_t *num, const char **rest)
{
	size_t pl = starts(path, prefix);
	const char *s, *e;

	if (!pl)
		return 0;
	s = path + pl;
	e = strchrnul(s, '/');
	*rest = e;
	return parse_size(s, (size_t)(e - s), num) ? 1 : -1;
}

static bool has_dotdot(const char *path)
{
	for (const char *s = path; *s;) {
		const char *e = strchrnul(s, '/');
		if (e - s == 2 && s[0] == '.' && s[1] == '.')
			return true;
		s = *e ? e + 1 : e;
	}
	return false;
}

static bool inside_root(const char *real)
{
	return !strncmp(real, root, root_len) && (real[root_len] == '/' || real[root_len] == '\0');
}

/* Returns the count of requests seen for KIND and the raw target URI, this one included. */
static uint64_t counter_bump(const char *kind, const char *uri)
{
	size_t kl = strlen(kind), ul = strlen(uri);
	uint64_t h = fnv1a(uri, ul, fnv1a(kind, kl, 0xcbf29ce484222325ull));
	struct counter **slot = &buckets[h % NBUCKETS], *ct;
	uint64_t n = UINT64_MAX;

	pthread_mutex_lock(&counters_lock);
	for (ct = *slot; ct; ct = ct->next)
		if (!strncmp(ct->key, kind, kl) && ct->key[kl] == ' ' && !strcmp(ct->key + kl + 1, uri))
			break;
	if (!ct && (ct = malloc(sizeof *ct + kl + ul + 2))) {
		memcpy(ct->key, kind, kl);
		ct->key[kl] = ' ';
		memcpy(ct->key + kl + 1, uri, ul + 1);
		ct->n = 0;
		ct->next = *slot;
		*slot = ct;
	}
	if (ct)
		n = ++ct->n;
	pthread_mutex_unlock(&counters_lock);
	return n;
}

static void counters_free(void)
{
	for (size_t i = 0; i < NBUCKETS; i++)
		while (buckets[i]) {
			struct counter *next = buckets[i]->next;
			free(buckets[i]);
			buckets[i] = next;
		}
}

/* --- entities --- */

static void entity_init(struct entity *e, enum kind kind, const char *type)
{
	memset(e, 0, sizeof *e);
	e->kind = kind;
	e->type = type;
	e->fd = -1;
}

static void entity_release(struct entity *e)
{
	if (e->fd >= 0)
		close(e->fd);
	e->fd = -1;
	free(e->mem);
	e->mem = NULL;
}

/* A page built from FMT, with an ETag from its bytes; false when out of memory. */
static bool entity_html(struct entity *e, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return false;
	entity_init(e, K_MEM, "text/html; charset=utf-8");
	e->mem = (unsigned char *)s;
	e->size = (uint64_t)n;
	snprintf(e->etag, sizeof e->etag, "\"m-%016" PRIx64 "\"", fnv1a(s, (size_t)n, 0xcbf29ce484222325ull));
	return true;
}

static void gen_big(uint64_t seed, uint64_t off, unsigned char *buf, size_t n)
{
	uint64_t key = seed * 0x9e3779b97f4a7c15ull, blk = off >> 3, v = mix64(blk ^ key);

	for (size_t i = 0; i < n; i++, off++) {
		if (off >> 3 != blk) {
			blk = off >> 3;
			v = mix64(blk ^ key);
		}
		buf[i] = (unsigned char)(v >> ((off & 7) * 8));
	}
}

static void huge_line(char out[HUGE_LINE + 1], uint64_t i, uint64_t target)
{
	int n = snprintf(out, HUGE_LINE + 1,
			 "<p>Row %010" PRIu64 " of the register: <a href=\"/gen/huge-%" PRIu64
			 ".html\">record %" PRIu64 "</a></p>", i, target, target);
	memset(out + n, ' ', (size_t)(HUGE_LINE - 1 - n));
	out[HUGE_LINE - 1] = '\n';
}

static void gen_huge(const struct entity *e, uint64_t off, char *buf, size_t n)
{
	uint64_t body_end = HUGE_HEAD_LEN + e->lines * HUGE_LINE;
	char line[HUGE_LINE + 1];

	while (n > 0) {
		const char *src;
		uint64_t k;
		if (off < HUGE_HEAD_LEN) {
			src = huge_head + off;
			k = HUGE_HEAD_LEN - off;
		} else if (off < body_end) {
			uint64_t i = (off - HUGE_HEAD_LEN) / HUGE_LINE, at = (off - HUGE_HEAD_LEN) % HUGE_LINE;
			huge_line(line, i, i * e->links / e->lines);
			src = line + at;
			k = HUGE_LINE - at;
		} else {
			src = huge_foot + (off - body_end);
			k = HUGE_FOOT_LEN - (off - body_end);
		}
		if (k > n)
			k = n;
		memcpy(buf, src, (size_t)k);
		buf += k;
		off += k;
		n -= (size_t)k;
	}
}

/* Copies N bytes at OFF of the entity into BUF; -1 on a read error. */
static int entity_read(const struct entity *e, uint64_t off, char *buf, size_t n)
{
	switch (e->kind) {
	case K_FILE:
		while (n > 0) {
			ssize_t k = pread(e->fd, buf, n, (off_t)off);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return -1; /* the file shrank under us */
			buf += k;
			off += (uint64_t)k;
			n -= (size_t)k;
		}
		return 0;
	case K_MEM:
		memcpy(buf, e->mem + off, n);
		return 0;
	case K_BIG:
		gen_big(e->seed, off, (unsigned char *)buf, n);
		return 0;
	case K_HUGE:
		gen_huge(e, off, buf, n);
		return 0;
	}
	return -1;
}

/* Replaces the entity by its gzip encoding, compressed in memory. */
static int gzip_entity(struct entity *e)
{
	z_stream z;
	unsigned char *in = NULL, *out = NULL;
	size_t cap;
	uint64_t off = 0;
	int rc = Z_OK, ret = -1;

	if (e->size > GZIP_MAX)
		return -1;
	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	cap = deflateBound(&z, (uLong)e->size) + 64;
	in = malloc(BLOCK_SIZE);
	out = malloc(cap);
	if (!in || !out)
		goto done;
	do {
		size_t n = e->size - off < BLOCK_SIZE ? (size_t)(e->size - off) : BLOCK_SIZE;
		int flush;
		if (entity_read(e, off, (char *)in, n))
			goto done;
		off += n;
		flush = off == e->size ? Z_FINISH : Z_NO_FLUSH;
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			if (z.total_out == cap) {
				unsigned char *grown = realloc(out, cap * 2);
				if (!grown)
					goto done;
				out = grown;
				cap *= 2;
			}
			z.next_out = out + z.total_out;
			z.avail_out = (uInt)(cap - z.total_out);
			rc = deflate(&z, flush);
			if (rc == Z_STREAM_ERROR)
				goto done;
		} while (z.avail_in > 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
	} while (off < e->size);
	entity_release(e);
	e->kind = K_MEM;
	e->mem = out;
	e->size = z.total_out;
	e->encoding = "gzip";
	out = NULL;
	if (e->etag[0]) {
		size_t n = strlen(e->etag);
		snprintf(e->etag + n - 1, sizeof e->etag - (n - 1), "-gzip\"");
	}
	ret = 0;
done:
	deflateEnd(&z);
	free(in);
	free(out);
	return ret;
}

/* --- responses --- */

/*
 * Queues a response with a copy of BODY and the header pairs that follow
 * (name, value, ..., NULL).
 */
static enum MHD_Result respond(struct MHD_Connection *c, struct req *r, unsigned status,
			       const char *type, const char *body, ...)
{
	size_t len = strlen(body);
	struct MHD_Response *resp;
	enum MHD_Result ret;
	const char *name;
	va_list ap;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Server", "salvage-testserver");
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	va_start(ap, body);
	while ((name = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);
		MHD_add_response_header(resp, name, value);
	}
	va_end(ap);
	r->status = status;
	r->bytes = r->head ? 0 : len;
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result fail(struct MHD_Connection *c, struct req *r, unsigned status, const char *why)
{
	char body[512];
	snprintf(body, sizeof body,
		 "<!DOCTYPE html>\n<html><head><title>%u %s</title></head>"
		 "<body><h1>%u %s</h1><p>%s</p></body></html>\n",
		 status, MHD_get_reason_phrase_for(status), status, MHD_get_reason_phrase_for(status), why);
	return respond(c, r, status, "text/html; charset=utf-8", body, NULL);
}

static enum MHD_Result redirect(struct MHD_Connection *c, struct req *r, unsigned status, const char *location)
{
	if (strpbrk(location, "\r\n"))
		return fail(c, r, MHD_HTTP_BAD_REQUEST, "a Location cannot hold a line break");
	return respond(c, r, status, "text/html; charset=utf-8",
		       "<!DOCTYPE html>\n<html><body><p>Moved.</p></body></html>\n",
		       MHD_HTTP_HEADER_LOCATION, location, NULL);
}

/* Sleeps until POS bytes at RATE bytes/s are due after T0; false on shutdown. */
static bool pace(const struct timespec *t0, uint64_t pos, uint64_t rate)
{
	int64_t due = (int64_t)t0->tv_sec * 1000000000 + t0->tv_nsec
		      + (int64_t)(pos / rate) * 1000000000 + (int64_t)(pos % rate * 1000000000 / rate);

	for (;;) {
		struct timespec now, nap = {0, 0};
		int64_t left;
		if (atomic_load(&stopping))
			return false;
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = due - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
		if (left <= 0)
			return true;
		nap.tv_nsec = left < SLICE_NS ? (long)left : SLICE_NS;
		nanosleep(&nap, NULL);
	}
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body *b = cls;
	uint64_t n;

	if (pos == 0)
		clock_gettime(CLOCK_MONOTONIC, &b->t0);
	if (atomic_load(&stopping) || pos >= b->m.cut)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (pos >= b->len)
		return b->m.lie ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
	n = b->len - pos;
	if (n > max)
		n = max;
	if (n > b->m.cut - pos)
		n = b->m.cut - pos;
	if (b->m.rate) {
		uint64_t tick = b->m.rate / 10 ? b->m.rate / 10 : 1; /* ~0.1 s of data per call */
		if (n > tick)
			n = tick;
		if (!pace(&b->t0, pos, b->m.rate))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (entity_read(&b->e, b->start + pos, buf, (size_t)n))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	b->req->bytes += n;
	return (ssize_t)n;
}

static void body_free(void *cls)
{
	struct body *b = cls;
	entity_release(&b->e);
	free(b);
}

/* The response for LEN bytes at START of the entity; takes the entity's fd or memory. */
static struct MHD_Response *make_body(struct entity *e, uint64_t start, uint64_t len,
				      const struct mods *m, struct req *r)
{
	struct MHD_Response *resp;
	struct body *b;

	if (e->kind == K_FILE && !m->rate && m->cut == NO_CUT && !m->lie && !m->chunked && len > 0) {
		resp = MHD_create_response_from_fd_at_offset64(len, e->fd, start);
		if (resp) {
			e->fd = -1; /* MHD closes it */
			r->bytes = len;
		}
		return resp;
	}
	b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->e = *e;
	b->start = start;
	b->len = len;
	b->m = *m;
	b->req = r;
	resp = MHD_create_response_from_callback(m->chunked ? MHD_SIZE_UNKNOWN : len + (m->lie ? m->extra : 0),
						 BLOCK_SIZE, body_read, b, body_free);
	if (!resp) {
		free(b);
		return NULL;
	}
	e->fd = -1;
	e->mem = NULL;
	return resp;
}

/* Is ETAG among the If-None-Match list V (weak comparison)? */
static bool etag_listed(const char *v, const char *etag)
{
	size_t el = strlen(etag);

	while (*v) {
		const char *e;
		v += strspn(v, " \t,");
		if (*v == '*')
			return true;
		if (!strncmp(v, "W/", 2))
			v += 2;
		e = v + strcspn(v, ",");
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if ((size_t)(e - v) == el && !strncmp(v, etag, el))
			return true;
		v += strcspn(v, ",");
	}
	return false;
}

static bool not_modified(struct MHD_Connection *c, const struct entity *e)
{
	const char *inm = hdr(c, MHD_HTTP_HEADER_IF_NONE_MATCH), *ims;
	time_t t;

	if (inm)
		return e->etag[0] && etag_listed(inm, e->etag);
	ims = hdr(c, MHD_HTTP_HEADER_IF_MODIFIED_SINCE);
	return ims && e->mtime && parse_http_date(ims, &t) && e->mtime <= t;
}

static bool if_range_holds(struct MHD_Connection *c, const struct entity *e)
{
	const char *v = hdr(c, MHD_HTTP_HEADER_IF_RANGE);
	time_t t;

	if (!v)
		return true;
	if (v[0] == '"')
		return e->etag[0] && !strcmp(v, e->etag);
	if (!strncmp(v, "W/", 2))
		return false; /* a weak tag never validates a range */
	return e->mtime && parse_http_date(v, &t) && t == e->mtime;
}

enum range_result { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

/* One "bytes=" range of an entity of SIZE bytes; RANGE_NONE when it must be ignored. */
static enum range_result parse_range(const char *h, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p = h + strspn(h, " ");
	const char *dash, *end;
	uint64_t a, b;

	if (strncasecmp(p, "bytes", 5))
		return RANGE_NONE;
	p += 5;
	p += strspn(p, " ");
	if (*p++ != '=')
		return RANGE_NONE;
	p += strspn(p, " ");
	if (strchr(p, ','))
		return RANGE_NONE; /* several ranges: the whole entity answers them */
	end = p + strcspn(p, " ");
	if (end[strspn(end, " ")] != '\0' || !(dash = memchr(p, '-', (size_t)(end - p))))
		return RANGE_NONE;
	if (dash == p) {
		if (!parse_digits(p + 1, (size_t)(end - p - 1), &b))
			return RANGE_NONE;
		if (b == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		*len = b < size ? b : size;
		*start = size - *len;
		return RANGE_OK;
	}
	if (!parse_digits(p, (size_t)(dash - p), &a))
		return RANGE_NONE;
	if (dash + 1 == end) {
		b = UINT64_MAX;
	} else if (!parse_digits(dash + 1, (size_t)(end - dash - 1), &b) || b < a) {
		return RANGE_NONE;
	}
	if (a >= size)
		return RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return RANGE_OK;
}

/* Answers with the entity, after conditionals, Range and modifiers; consumes it. */
static enum MHD_Result serve(struct MHD_Connection *c, struct req *r, struct entity *e, const struct mods *m)
{
	bool ranges = !m->lie && !m->chunked;
	uint64_t start = 0, len = e->size;
	unsigned status = MHD_HTTP_OK;
	char date[40], crange[96] = "";
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;
	const char *h;

	if (e->mtime)
		http_date(date, e->mtime);
	if (not_modified(c, e)) {
		/* MHD 0.9.75 adds "Content-Length: 0" to a 304; clients ignore it. */
		status = MHD_HTTP_NOT_MODIFIED;
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		r->bytes = 0;
	} else if (ranges && (h = hdr(c, MHD_HTTP_HEADER_RANGE)) && if_range_holds(c, e)) {
		switch (parse_range(h, e->size, &start, &len)) {
		case RANGE_UNSATISFIABLE:
			snprintf(crange, sizeof crange, "bytes */%" PRIu64, e->size);
			entity_release(e);
			return respond(c, r, MHD_HTTP_RANGE_NOT_SATISFIABLE, "text/html; charset=utf-8",
				       "<!DOCTYPE html>\n<html><body><p>Range not satisfiable.</p></body></html>\n",
				       MHD_HTTP_HEADER_CONTENT_RANGE, crange, NULL);
		case RANGE_OK:
			status = MHD_HTTP_PARTIAL_CONTENT;
			snprintf(crange, sizeof crange, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
				 start, start + len - 1, e->size);
			break;
		case RANGE_NONE:
			break;
		}
	}
	if (!resp)
		resp = make_body(e, start, len, m, r);
	if (!resp) {
		entity_release(e);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Server", "salvage-testserver");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, e->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES, ranges ? "bytes" : "none");
	if (e->encoding) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, e->encoding);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	}
	if (e->etag[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, e->etag);
	if (e->mtime)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, date);
	if (crange[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, crange);
	if (m->hname)
		MHD_add_response_header(resp, m->hname, m->hvalue);
	if (r->head)
		r->bytes = 0;
	r->status = status;
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	entity_release(e);
	return ret;
}

static enum MHD_Result finish(struct MHD_Connection *c, struct req *r, struct entity *e, const struct mods *m)
{
	if (m->gzip && gzip_entity(e)) {
		entity_release(e);
		return fail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot gzip this (over 64 MiB?)");
	}
	return serve(c, r, e, m);
}

/* --- routes --- */

static enum MHD_Result route_file(struct MHD_Connection *c, struct req *r, const char *path,
				  const struct mods *m)
{
	char want[PATH_MAX], real[PATH_MAX];
	struct entity e;
	struct stat st;
	int fd;

	if (snprintf(want, sizeof want, "%s%s", root, path) >= (int)sizeof want)
		return fail(c, r, MHD_HTTP_URI_TOO_LONG, "path too long");
	if (!realpath(want, real))
		return fail(c, r, errno == EACCES ? MHD_HTTP_FORBIDDEN : MHD_HTTP_NOT_FOUND, "no such file");
	if (!inside_root(real))
		return fail(c, r, MHD_HTTP_FORBIDDEN, "outside the served folder");
	if (stat(real, &st))
		return fail(c, r, MHD_HTTP_NOT_FOUND, "no such file");
	if (S_ISDIR(st.st_mode)) {
		const char *q = strchr(r->uri, '?');
		size_t plen = q ? (size_t)(q - r->uri) : strlen(r->uri);
		if (path[strlen(path) - 1] != '/') {
			char *loc;
			enum MHD_Result ret;
			if (asprintf(&loc, "%.*s/%s", (int)plen, r->uri, q ? q : "") < 0)
				return MHD_NO;
			ret = redirect(c, r, MHD_HTTP_MOVED_PERMANENTLY, loc);
			free(loc);
			return ret;
		}
		if (snprintf(want, sizeof want, "%s/index.html", real) >= (int)sizeof want || !realpath(want, real))
			return fail(c, r, MHD_HTTP_NOT_FOUND, "no index.html in this folder");
		if (!inside_root(real))
			return fail(c, r, MHD_HTTP_FORBIDDEN, "outside the served folder");
	}
	fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(c, r, errno == EACCES ? MHD_HTTP_FORBIDDEN : MHD_HTTP_NOT_FOUND, "cannot open");
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(c, r, MHD_HTTP_FORBIDDEN, "not a regular file");
	}
	entity_init(&e, K_FILE, type_for(real));
	e.fd = fd;
	e.size = (uint64_t)st.st_size;
	e.mtime = st.st_mtime;
	snprintf(e.etag, sizeof e.etag, "\"%" PRIx64 "-%" PRIx64 "\"", e.size,
		 (uint64_t)st.st_mtim.tv_sec * 1000000000 + (uint64_t)st.st_mtim.tv_nsec);
	return finish(c, r, &e, m);
}

static enum MHD_Result route_calendar(struct MHD_Connection *c, struct req *r, const char *path,
				      const struct mods *m)
{
	static const char *const months[] = {"January", "February", "March", "April", "May", "June", "July",
					     "August", "September", "October", "November", "December"};
	const char *s = path + strlen("/calendar/"), *slash;
	uint64_t y, mo, py, pm, ny, nm;
	char prev[96] = "";
	struct entity e;

	if (!strcmp(path, "/calendar"))
		return redirect(c, r, MHD_HTTP_MOVED_PERMANENTLY, "/calendar/");
	if (!*s) {
		if (!entity_html(&e, "<!DOCTYPE html>\n<html><head><title>Events calendar</title></head><body>\n"
				 "<h1>Events calendar</h1>\n<p><a href=\"/calendar/2024/01/\">January 2024</a></p>\n"
				 "</body></html>\n"))
			return MHD_NO;
		return finish(c, r, &e, m);
	}
	slash = strchrnul(s, '/');
	if (slash - s < 4 || slash - s > 9 || *slash != '/' || !parse_size(s, (size_t)(slash - s), &y)
	    || s[3] > '9' || y == 0)
		return fail(c, r, MHD_HTTP_NOT_FOUND, "no such month");
	s = slash + 1;
	if (strlen(s) < 2 || s[0] < '0' || s[0] > '1' || s[1] < '0' || s[1] > '9' || (s[2] && strcmp(s + 2, "/")))
		return fail(c, r, MHD_HTTP_NOT_FOUND, "no such month");
	mo = (uint64_t)(s[0] - '0') * 10 + (uint64_t)(s[1] - '0');
	if (mo < 1 || mo > 12)
		return fail(c, r, MHD_HTTP_NOT_FOUND, "no such month");
	if (!s[2]) {
		char loc[64];
		snprintf(loc, sizeof loc, "/calendar/%04" PRIu64 "/%02" PRIu64 "/", y, mo);
		return redirect(c, r, MHD_HTTP_MOVED_PERMANENTLY, loc);
	}
	py = mo == 1 ? y - 1 : y;
	pm = mo == 1 ? 12 : mo - 1;
	ny = mo == 12 ? y + 1 : y;
	nm = mo == 12 ? 1 : mo + 1;
	if (py > 0)
		snprintf(prev, sizeof prev, "<a href=\"/calendar/%04" PRIu64 "/%02" PRIu64 "/\">previous month</a> | ",
			 py, pm);
	if (!entity_html(&e, "<!DOCTYPE html>\n<html><head><title>Events: %s %04" PRIu64 "</title></head><body>\n"
			 "<h1>Events: %s %04" PRIu64 "</h1>\n<p>No events are scheduled this month.</p>\n"
			 "<p>%s<a href=\"/calendar/%04" PRIu64 "/%02" PRIu64 "/\">next month</a> | "
			 "<a href=\"/calendar/\">calendar</a></p>\n</body></html>\n",
			 months[mo - 1], y, months[mo - 1], y, prev, ny, nm))
		return MHD_NO;
	return finish(c, r, &e, m);
}

static enum MHD_Result route_gen(struct MHD_Connection *c, struct req *r, const char *name,
				 const struct mods *m)
{
	char esc[512] = "";
	struct entity e;

	if (!*name || !html_escape(esc, sizeof esc, name))
		return fail(c, r, MHD_HTTP_NOT_FOUND, "no such generated page");
	if (!entity_html(&e, "<!DOCTYPE html>\n<html><head><title>%s</title></head><body>\n"
			 "<p>Generated page %s.</p>\n<p><a href=\"/\">home</a></p>\n</body></html>\n", esc, esc))
		return MHD_NO;
	return finish(c, r, &e, m);
}

/* The generated routes; false in *handled when PATH is none of them. */
static enum MHD_Result route_generated(struct MHD_Connection *c, struct req *r, const char *path,
				       struct mods *m, bool *handled)
{
	struct entity e;
	const char *rest;
	uint64_t n, k;
	char loc[64];
	int got;

	*handled = true;
	if ((got = peel(path, "/loop/", &n, &rest))) {
		if (got < 0 || *rest || n == UINT64_MAX)
			return fail(c, r, MHD_HTTP_NOT_FOUND, "the loop wants /loop/N");
		snprintf(loc, sizeof loc, "/loop/%" PRIu64, n + 1);
		return redirect(c, r, MHD_HTTP_FOUND, loc);
	}
	if ((got = peel(path, "/redirect-chain/", &n, &rest))) {
		if (got < 0 || *rest)
			return fail(c, r, MHD_HTTP_NOT_FOUND, "the chain wants /redirect-chain/K");
		if (n > 0) {
			snprintf(loc, sizeof loc, "/redirect-chain/%" PRIu64, n - 1);
			return redirect(c, r, MHD_HTTP_FOUND, loc);
		}
		if (!entity_html(&e, "<!DOCTYPE html>\n<html><head><title>End of the chain</title></head><body>\n"
				 "<p>End of the redirect chain.</p>\n</body></html>\n"))
			return MHD_NO;
		return finish(c, r, &e, m);
	}
	if (!strcmp(path, "/redirect")) {
		const char *to = arg(c, "to");
		if (!to || !arg_size(c, "code", MHD_HTTP_FOUND, &k) || k < 300 || k > 399)
			return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /redirect?to=URL[&code=3xx]");
		return redirect(c, r, (unsigned)k, to);
	}
	if (!strcmp(path, "/malformed.html")) {
		entity_init(&e, K_MEM, "text/html; charset=utf-8");
		e.size = sizeof malformed - 1;
		if (!(e.mem = malloc(sizeof malformed)))
			return MHD_NO;
		memcpy(e.mem, malformed, sizeof malformed);
		snprintf(e.etag, sizeof e.etag, "\"malformed-%zu\"", sizeof malformed - 1);
		return finish(c, r, &e, m);
	}
	if (!strcmp(path, "/huge.html")) {
		if (!arg_size(c, "mb", 1, &n) || n == 0 || n > GEN_MAX / MIB || !arg_size(c, "links", 100, &k)
		    || k == 0 || k > 1000000)
			return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /huge.html?mb=N[&links=L]");
		entity_init(&e, K_HUGE, "text/html; charset=utf-8");
		e.lines = (n * MIB - HUGE_HEAD_LEN - HUGE_FOOT_LEN) / HUGE_LINE;
		e.links = k;
		e.size = HUGE_HEAD_LEN + e.lines * HUGE_LINE + HUGE_FOOT_LEN;
		e.mtime = GEN_MTIME;
		snprintf(e.etag, sizeof e.etag, "\"huge-%" PRIu64 "-%" PRIu64 "\"", n, k);
		return finish(c, r, &e, m);
	}
	if (!strcmp(path, "/big.bin") || !strcmp(path, "/bigger-than-it-says")) {
		bool bigger = strcmp(path, "/big.bin") != 0;
		uint64_t mb, seed;
		if (!arg_size(c, "mb", 1, &mb) || mb > GEN_MAX / MIB
		    || !arg_size(c, "bytes", bigger ? 5 * GIB : mb * MIB, &n) || n > GEN_MAX
		    || !arg_size(c, "seed", 0, &seed))
			return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /big.bin?mb=N|bytes=N[&seed=S]");
		if (bigger) {
			if (!arg_size(c, "rate", m->rate ? m->rate : 256 * KIB, &k) || k == 0 || k > RATE_MAX)
				return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /bigger-than-it-says[?bytes=N][&rate=R]");
			m->rate = k;
		}
		entity_init(&e, K_BIG, "application/octet-stream");
		e.size = n;
		e.seed = seed;
		e.mtime = GEN_MTIME;
		snprintf(e.etag, sizeof e.etag, "\"big-%" PRIu64 "-%" PRIu64 "\"", n, seed);
		return finish(c, r, &e, m);
	}
	if ((got = (int)starts(path, "/gen/")))
		return route_gen(c, r, path + got, m);
	if (starts(path, "/calendar"))
		return route_calendar(c, r, path, m);
	*handled = false;
	return MHD_NO;
}

#define CHECK_COOKIE "sv_check=ok"

enum cookie_mode { COOKIE_OFF, COOKIE_CHECK, COOKIE_NEVER };
static enum cookie_mode cookie_site; /* --cookie-check or --cookie-never: every path */

/* Whether the Cookie header holds sv_check=ok as one of its pairs. */
static bool has_check_cookie(const char *h)
{
	size_t n = strlen(CHECK_COOKIE);
	for (const char *p = h; (p = strstr(p, CHECK_COOKIE)); p += n)
		if ((p == h || p[-1] == ' ' || p[-1] == ';') && (p[n] == '\0' || p[n] == ';'))
			return true;
	return false;
}

/* The cookie check: 302 to the request's own target, setting the cookie. */
static enum MHD_Result cookie_redirect(struct MHD_Connection *c, struct req *r)
{
	return respond(c, r, MHD_HTTP_FOUND, "text/html; charset=utf-8",
		       "<!DOCTYPE html>\n<html><body><p>Checking your browser.</p></body></html>\n",
		       MHD_HTTP_HEADER_LOCATION, r->uri, MHD_HTTP_HEADER_SET_COOKIE, CHECK_COOKIE "; Path=/", NULL);
}

static enum MHD_Result status_page(struct MHD_Connection *c, struct req *r, unsigned code)
{
	const char *ra = arg(c, "retry_after"), *reason = MHD_get_reason_phrase_for(code);
	char body[256] = "";

	if (ra && strpbrk(ra, "\r\n"))
		return fail(c, r, MHD_HTTP_BAD_REQUEST, "Retry-After cannot hold a line break");
	if (code != MHD_HTTP_NO_CONTENT && code != MHD_HTTP_NOT_MODIFIED)
		snprintf(body, sizeof body, "<!DOCTYPE html>\n<html><head><title>%u %s</title></head>"
			 "<body><h1>%u %s</h1></body></html>\n", code, reason, code, reason);
	return respond(c, r, code, "text/html; charset=utf-8", body, ra ? "Retry-After" : NULL, ra, NULL);
}

static enum MHD_Result route(struct MHD_Connection *c, struct req *r, const char *url)
{
	struct mods m = {.cut = NO_CUT};
	const char *p = url, *rest;
	enum MHD_Result ret;
	bool handled;
	uint64_t n, times;
	size_t skip;
	int got;

	if (url[0] != '/' || strcasestr(r->uri, "%00"))
		return fail(c, r, MHD_HTTP_BAD_REQUEST, "the target must be a path without NULs");
	if (has_dotdot(url))
		return fail(c, r, MHD_HTTP_BAD_REQUEST, "no .. in paths");
	for (size_t i = 0; i < nfails; i++)
		if (!strcmp(url, fails[i].path) &&
		    (fails[i].times == 0 || counter_bump("fail", fails[i].path) <= fails[i].times))
			return status_page(c, r, fails[i].code);
	if (cookie_site == COOKIE_NEVER || (cookie_site == COOKIE_CHECK && !has_check_cookie(r->cookie)))
		return cookie_redirect(c, r);
	for (;;) {
		if ((skip = starts(p, "/cookie-never/"))) {
			return cookie_redirect(c, r);
		} else if ((skip = starts(p, "/cookie-check/"))) {
			if (!has_check_cookie(r->cookie))
				return cookie_redirect(c, r);
			rest = p + skip - 1;
		} else if ((got = peel(p, "/reset/", &n, &rest))) {
			if (got < 0)
				return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /reset/N/PATH[?once=1]");
			if (!r->head && (!arg_flag(c, "once") || counter_bump("reset", r->uri) == 1))
				m.cut = n < m.cut ? n : m.cut;
		} else if ((got = peel(p, "/slow/", &n, &rest))) {
			if (got < 0 || n == 0 || n > RATE_MAX)
				return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /slow/BYTES_PER_SECOND/PATH");
			m.rate = n;
		} else if ((got = peel(p, "/status/", &n, &rest))) {
			if (got < 0 || n < 200 || n > 599 || !arg_size(c, "times", 0, &times))
				return fail(c, r, MHD_HTTP_BAD_REQUEST,
					    "usage: /status/CODE[/PATH][?retry_after=S][&times=K], CODE 200-599");
			if (times == 0 || counter_bump("status", r->uri) <= times)
				return status_page(c, r, (unsigned)n);
			if (!*rest)
				return respond(c, r, MHD_HTTP_OK, "text/html; charset=utf-8",
					       "<!DOCTYPE html>\n<html><body><p>Recovered.</p></body></html>\n", NULL);
		} else if ((skip = starts(p, "/basic-auth/"))) {
			char *pass = NULL, *user = MHD_basic_auth_get_username_password(c, &pass);
			size_t ul = user ? strlen(user) : 0;
			bool ok = basic_auth && user && pass && !strncmp(basic_auth, user, ul) && basic_auth[ul] == ':' &&
				  !strcmp(basic_auth + ul + 1, pass);
			MHD_free(user);
			MHD_free(pass);
			if (!ok)
				return respond(c, r, MHD_HTTP_UNAUTHORIZED, "text/html; charset=utf-8",
					       "<!DOCTYPE html>\n<html><body><p>Log in first.</p></body></html>\n",
					       MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"salvage-test\"", NULL);
			rest = p + skip - 1;
		} else if ((skip = starts(p, "/short/"))) {
			if (!arg_size(c, "extra", 4096, &m.extra) || m.extra == 0 || m.extra > GEN_MAX)
				return fail(c, r, MHD_HTTP_BAD_REQUEST, "usage: /short/PATH[?extra=N]");
			m.lie = true;
			rest = p + skip - 1;
		} else if ((skip = starts(p, "/gzip/"))) {
			m.gzip = true;
			rest = p + skip - 1;
		} else if ((skip = starts(p, "/chunked/"))) {
			m.chunked = true;
			rest = p + skip - 1;
		} else if ((skip = starts(p, "/header/"))) {
			m.hname = arg(c, "name");
			m.hvalue = arg(c, "value");
			if (!m.hname || !*m.hname || !m.hvalue || strpbrk(m.hname, ": \t\r\n") ||
			    strpbrk(m.hvalue, "\r\n"))
				return fail(c, r, MHD_HTTP_BAD_REQUEST,
					    "usage: /header/PATH?name=NAME&value=PERCENT-ENCODED-BYTES (no line breaks)");
			rest = p + skip - 1;
		} else {
			break;
		}
		p = *rest ? rest : "/";
	}
	ret = route_generated(c, r, p, &m, &handled);
	return handled ? ret : route_file(c, r, p, &m);
}

/* --- MHD callbacks --- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *r = calloc(1, sizeof *r);

	(void)cls;
	(void)c;
	if (!r)
		return NULL;
	if (!(r->uri = strdup(uri))) {
		free(r);
		return NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	clock_gettime(CLOCK_REALTIME, &r->wall);
	return r;
}

static void copy_header(char *out, size_t cap, struct MHD_Connection *c, const char *name)
{
	const char *v = hdr(c, name);
	snprintf(out, cap, "%s", v ? v : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)version;
	(void)upload;
	if (!r)
		return MHD_NO;
	/*
	 * Answer on the last call, once any request body has been read and
	 * dropped: a response queued earlier makes MHD close the connection.
	 */
	if (!r->seen || *upload_size) {
		r->seen = true;
		*upload_size = 0;
		return MHD_YES;
	}
	snprintf(r->method, sizeof r->method, "%s", method);
	copy_header(r->range, sizeof r->range, c, MHD_HTTP_HEADER_RANGE);
	copy_header(r->if_range, sizeof r->if_range, c, MHD_HTTP_HEADER_IF_RANGE);
	copy_header(r->ua, sizeof r->ua, c, MHD_HTTP_HEADER_USER_AGENT);
	copy_header(r->cookie, sizeof r->cookie, c, MHD_HTTP_HEADER_COOKIE);
	r->head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
	if (!r->head && strcmp(method, MHD_HTTP_METHOD_GET))
		return respond(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "text/html; charset=utf-8",
			       "<!DOCTYPE html>\n<html><body><p>Only GET and HEAD.</p></body></html>\n",
			       MHD_HTTP_HEADER_ALLOW, "GET, HEAD", NULL);
	return route(c, r, url);
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	static const char *const ends[] = {
		[MHD_REQUEST_TERMINATED_COMPLETED_OK] = "ok",
		[MHD_REQUEST_TERMINATED_WITH_ERROR] = "error",
		[MHD_REQUEST_TERMINATED_TIMEOUT_REACHED] = "timeout",
		[MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN] = "shutdown",
		[MHD_REQUEST_TERMINATED_READ_ERROR] = "read-error",
		[MHD_REQUEST_TERMINATED_CLIENT_ABORT] = "abort",
	};
	struct req *r = *req_cls;
	char uri[1024], range[400], if_range[400], ua[480], cookie[800], line[4000];
	struct timespec now;
	int64_t ms;
	int n;

	(void)cls;
	(void)c;
	if (!r)
		return;
	*req_cls = NULL;
	if (log_fd >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = ((int64_t)now.tv_sec - r->t0.tv_sec) * 1000 + (now.tv_nsec - r->t0.tv_nsec) / 1000000;
		log_escape(uri, sizeof uri, r->uri);
		log_escape(range, sizeof range, r->range);
		log_escape(if_range, sizeof if_range, r->if_range);
		log_escape(ua, sizeof ua, r->ua);
		log_escape(cookie, sizeof cookie, r->cookie);
		n = snprintf(line, sizeof line,
			     "%lld.%03ld %s %s %u range=%s if-range=%s bytes=%" PRIu64 " end=%s ms=%" PRId64 " ua=%s cookie=%s\n",
			     (long long)r->wall.tv_sec, r->wall.tv_nsec / 1000000, r->method[0] ? r->method : "-", uri,
			     r->status, range, if_range, r->bytes,
			     (unsigned)toe < sizeof ends / sizeof ends[0] && ends[toe] ? ends[toe] : "other", ms, ua, cookie);
		if (n >= (int)sizeof line) {
			n = (int)sizeof line - 1;
			line[n - 1] = '\n';
		}
		if (write(log_fd, line, (size_t)n) < 0) /* O_APPEND: one write per line keeps lines whole */
			fprintf(stderr, "testserver: cannot write the log: %s\n", strerror(errno));
	}
	free(r->uri);
	free(r);
}

/* --- main --- */

static int write_port_file(const char *path, unsigned port)
{
	char tmp[PATH_MAX], text[16];
	int fd, n = snprintf(text, sizeof text, "%u\n", port);

	if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, (size_t)n) != n || close(fd) || rename(tmp, path)) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* PATH=CODE[:TIMES] into fails[]; 0, or -1 when malformed. */
static int parse_fail(char *arg)
{
	char *eq = strrchr(arg, '='), *end;
	unsigned long code;
	unsigned long long times = 0;

	if (!eq || arg[0] != '/' || nfails == FAILS_MAX)
		return -1;
	*eq = '\0';
	errno = 0;
	code = strtoul(eq + 1, &end, 10);
	if (*end == ':')
		times = strtoull(end + 1, &end, 10);
	if (errno || *end || code < 200 || code > 599)
		return -1;
	fails[nfails++] = (struct fail_rule){arg, (unsigned)code, times};
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'}, {"root", required_argument, NULL, 'r'},
		{"port-file", required_argument, NULL, 'f'}, {"log", required_argument, NULL, 'l'},
		{"cookie-check", no_argument, NULL, 'c'}, {"cookie-never", no_argument, NULL, 'n'},
		{"fail", required_argument, NULL, 'F'}, {"basic-auth", required_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
	};
	const char *root_arg = NULL, *port_file = NULL, *log_path = NULL;
	const union MHD_DaemonInfo *info;
	struct sockaddr_in addr;
	struct MHD_Daemon *d;
	unsigned long port = 0;
	struct stat st;
	sigset_t stop;
	char *end;
	int opt, sig;

	while ((opt = getopt_long(argc, argv, "p:r:f:l:F:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			errno = 0;
			port = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || port > 65535) {
				fprintf(stderr, "testserver: bad port '%s'\n%s", optarg, usage);
				return 2;
			}
			break;
		case 'r': root_arg = optarg; break;
		case 'f': port_file = optarg; break;
		case 'l': log_path = optarg; break;
		case 'a': basic_auth = optarg; break;
		case 'c': cookie_site = COOKIE_CHECK; break;
		case 'n': cookie_site = COOKIE_NEVER; break;
		case 'F':
			if (parse_fail(optarg)) {
				fprintf(stderr, "testserver: bad --fail '%s' (PATH=CODE[:TIMES], CODE 200-599, at most %d)\n%s",
					optarg, FAILS_MAX, usage);
				return 2;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!root_arg || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (!realpath(root_arg, root) || stat(root, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "testserver: cannot serve '%s': not a folder\n", root_arg);
		return 2;
	}
	root_len = strlen(root);
	if (root_len == 1) {
		fputs("testserver: refusing to serve /\n", stderr);
		return 2;
	}
	if (log_path && (log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
		fprintf(stderr, "testserver: cannot open '%s': %s\n", log_path, strerror(errno));
		return 3;
	}

	/* Block the stop signals before MHD starts its threads, so only sigwait sees them. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, whatever else happens */
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL
			     | MHD_USE_ERROR_LOG,
			     (uint16_t)port, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
			     MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)MAX_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
			     MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
			     MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "testserver: cannot listen on 127.0.0.1:%lu\n", port);
		return 3;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info ? info->port : 0;
	if (port_file && write_port_file(port_file, (unsigned)port)) {
		fprintf(stderr, "testserver: cannot write '%s': %s\n", port_file, strerror(errno));
		MHD_stop_daemon(d);
		return 3;
	}
	fprintf(stderr, "testserver: serving %s on http://127.0.0.1:%lu/\n", root, port);

	do
		sig = 0;
	while (sigwait(&stop, &sig) != 0);
	atomic_store(&stopping, true);
	MHD_stop_daemon(d);
	counters_free();
	if (log_fd >= 0)
		close(log_fd);
	return 0;
}
