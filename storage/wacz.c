/*
 * storage/wacz.c -- a WACZ 1.1.1 package of the archive (wacz.h): the WARC
 * export, its index and the list of pages, zipped with libzip from a work
 * folder, with the datapackage.json that names and hashes each of them.
 */
#include "wacz.h"

#include "decode.h"

#include "../common/clock.h"
#include "../common/error.h"
#include "../common/hex.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zip.h>

#define TITLE_READ (256u << 10) /* of a page's payload, looked at for its <title> */
#define TITLE_MAX 1000          /* bytes of a title kept */
#define CHUNK (1u << 20)

/* The files of the package, in the order they are zipped; the last two are made from the others. */
enum { F_WARC, F_CDXJ, F_PAGES, F_PACKAGE, F_DIGEST, F_COUNT };
static const char *const member[F_COUNT] = {"archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl",
					    "datapackage.json", "datapackage-digest.json"};
static const char *const work_name[F_COUNT] = {"data.warc.gz", "data.cdxj", "pages.jsonl", "datapackage.json",
					       "datapackage-digest.json"};

typedef struct {
	const sv_export_wacz_options *o;
	const sv_objects *store;
	sv_wacz_stats st;
	char *dir;              /* the work folder */
	char *path[F_COUNT];    /* its files */
	FILE *pages;
	char *main_url, *main_ts; /* the first page */
	unsigned char *raw; /* TITLE_READ bytes: the beginning of a page */
} wacz;

/* ---- titles ---- */

static const char *find_ci(const char *s, const char *end, const char *what)
{
	size_t n = strlen(what);
	for (; s + n <= end; s++)
		if (!strncasecmp(s, what, n))
			return s;
	return NULL;
}

/* One character reference at s (after '&'): its UTF-8 bytes into out, *used the bytes read; 0 if none. */
static size_t entity(const char *s, const char *end, char out[4], size_t *used)
{
	static const struct { const char *name; char c; } named[] = {
		{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"#39;", '\''}, {"apos;", '\''}, {"nbsp;", ' '}};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		size_t n = strlen(named[i].name);
		if ((size_t)(end - s) >= n && !strncmp(s, named[i].name, n)) {
			out[0] = named[i].c;
			*used = n;
			return 1;
		}
	}
	if (s >= end || *s != '#')
		return 0;
	const char *p = s + 1;
	int hex = p < end && (*p == 'x' || *p == 'X');
	p += hex;
	unsigned long v = 0;
	const char *digits = p;
	while (p < end && (hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p)) && p - digits < 7)
		v = v * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)*p) ? *p - '0' : (tolower(*p) - 'a' + 10)), p++;
	if (p == digits || p >= end || *p != ';' || v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*used = (size_t)(p + 1 - s);
	if (v < 0x80) {
		out[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		out[0] = (char)(0xc0 | (v >> 6));
		out[1] = (char)(0x80 | (v & 0x3f));
		return 2;
	}
	if (v < 0x10000) {
		out[0] = (char)(0xe0 | (v >> 12));
		out[1] = (char)(0x80 | ((v >> 6) & 0x3f));
		out[2] = (char)(0x80 | (v & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (v >> 18));
	out[1] = (char)(0x80 | ((v >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((v >> 6) & 0x3f));
	out[3] = (char)(0x80 | (v & 0x3f));
	return 4;
}

char *sv_wacz_html_title(const char *html, size_t len)
{
	const char *end = html + len, *s = html;
	/* "<title" followed by '>' or a space: not <titles> */
	while ((s = find_ci(s, end, "<title")) && s + 6 < end && s[6] != '>' && !isspace((unsigned char)s[6]))
		s += 6;
	if (!s || !(s = memchr(s, '>', (size_t)(end - s))))
		return NULL;
	s++;
	const char *e = find_ci(s, end, "</title");
	if (!e)
		return NULL;
	char *out = malloc(TITLE_MAX + 8);
	size_t o = 0;
	int space = 0;
	if (!out)
		return NULL;
	while (s < e && o < TITLE_MAX) {
		char buf[4];
		size_t used = 1, n;
		if (isspace((unsigned char)*s)) {
			space = o > 0;
			s++;
			continue;
		}
		if (*s == '&' && (n = entity(s + 1, e, buf, &used)) > 0) {
			used++;
		} else {
			buf[0] = *s;
			n = 1;
		}
		s += used;
		if (n == 1 && buf[0] == ' ') { /* &nbsp; */
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		memcpy(out + o, buf, n);
		o += n;
	}
	out[o] = '\0';
	if (!o) {
		free(out);
		return NULL;
	}
	return out;
}

/*
 * Up to TITLE_READ bytes of the page's payload, its Content-Encoding undone
 * (storage/decode.h), into *html. 0 when there is nothing to look at (an
 * encoding salvage does not undo, a payload that cannot be read).
 */
static size_t page_head(wacz *w, const sv_capture *c, const unsigned char **html)
{
	sv_digest d;
	sv_objects_reader *r = NULL;
	sv_decoder *dec = NULL;
	size_t n = 0, got = 0;
	if (sv_digest_from_hex(&d, c->sha256) != 0 || sv_objects_reader_open(&r, w->store, &d) != 0)
		return 0;
	/* The beginning of the page as the server meant it; what decodes before any damage counts. */
	if (sv_decoder_new(&dec, c->content_encoding, sv_decode_object_source, r, NULL) == 0)
		while (n < TITLE_READ && sv_decoder_read(dec, w->raw + n, TITLE_READ - n, &got) == 0 && got > 0)
			n += got;
	sv_decoder_free(dec);
	sv_objects_reader_free(r);
	*html = w->raw;
	return n;
}

static int is_html(const char *mime)
{
	if (!mime)
		return 0;
	while (isspace((unsigned char)*mime))
		mime++;
	size_t n = strcspn(mime, "; \t");
	return (n == 9 && !strncasecmp(mime, "text/html", 9)) || (n == 21 && !strncasecmp(mime, "application/xhtml+xml", 21));
}

/* Each exported capture: a line of pages.jsonl when it is an HTML page served with 200. */
static int on_capture(void *ctx, const sv_capture *c)
{
	wacz *w = ctx;
	if (c->status != 200 || !c->sha256 || !c->ts || !is_html(c->mime))
		return 0;
	char id[SV_DIGEST_HEX_LEN + 1];
	if (c->id && !strncmp(c->id, "urn:uuid:", 9)) {
		snprintf(id, sizeof(id), "%s", c->id + 9);
	} else { /* records older than ids: one made from the URL and time */
		unsigned char md[EVP_MAX_MD_SIZE];
		char *key = NULL;
		if (asprintf(&key, "%s %s", c->url, c->ts) < 0)
			return sv_error_set(SV_EIO, "out of memory");
		EVP_Digest(key, strlen(key), md, NULL, EVP_sha256(), NULL);
		free(key);
		sv_hex_encode(md, 16, id);
	}
	const unsigned char *html = NULL;
	size_t n = c->length > 0 ? page_head(w, c, &html) : 0;
	char *title = n ? sv_wacz_html_title((const char *)html, n) : NULL;
	json_t *line = json_object();
	json_object_set_new(line, "id", json_string(id));
	json_object_set_new(line, "url", json_string(c->url));
	json_object_set_new(line, "ts", json_string(c->ts));
	json_t *t = title ? json_string(title) : NULL; /* NULL too when not UTF-8 */
	if (t)
		json_object_set_new(line, "title", t);
	free(title);
	int rc = 0;
	errno = 0;
	if (json_object_size(line) < 3 || json_dumpf(line, w->pages, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 ||
	    fputc('\n', w->pages) == EOF)
		rc = sv_error_errno(errno ? errno : ENOMEM, "cannot write '%s'", w->path[F_PAGES]);
	json_decref(line);
	if (rc == 0 && !w->main_url) {
		w->main_url = strdup(c->url);
		w->main_ts = strdup(c->ts);
	}
	if (rc == 0)
		w->st.pages++;
	return rc;
}

static void on_warc_progress(void *ctx, const sv_export_stats *s)
{
	wacz *w = ctx;
	w->st.warc = *s;
	if (w->o->progress)
		w->o->progress(w->o->ctx, &w->st);
}

static void on_zip_progress(zip_t *z, double done, void *ctx)
{
	(void)z;
	wacz *w = ctx;
	w->st.zipped = done;
	if (w->o->progress)
		w->o->progress(w->o->ctx, &w->st);
}

/* ---- the package ---- */

/* "sha256:<hex>" and the size of a file, read in chunks. */
static int hash_file(const char *path, char out[8 + SV_DIGEST_HEX_LEN], uint64_t *bytes, unsigned char *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sv_error_errno(errno, "cannot read '%s'", path);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	int rc = 0;
	ssize_t n;
	*bytes = 0;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		rc = sv_error_set(SV_EIO, "SHA-256 failed");
	while (rc == 0 && (n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = sv_error_errno(errno, "cannot read '%s'", path);
		else if (EVP_DigestUpdate(ctx, buf, (size_t)n) == 1)
			*bytes += (uint64_t)n;
		else
			rc = sv_error_set(SV_EIO, "SHA-256 failed");
	}
	if (rc == 0 && EVP_DigestFinal_ex(ctx, md, NULL) != 1)
		rc = sv_error_set(SV_EIO, "SHA-256 failed");
	EVP_MD_CTX_free(ctx);
	close(fd);
	if (rc == 0) {
		memcpy(out, "sha256:", 7);
		sv_hex_encode(md, SV_DIGEST_LEN, out + 7);
	}
	return rc;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return sv_error_errno(errno, "cannot write '%s'", path);
	int bad = fputs(text, f) == EOF;
	if (fclose(f) != 0 || bad)
		return sv_error_errno(errno, "cannot write '%s'", path);
	return 0;
}

/* datapackage.json, naming and hashing the files before it, and datapackage-digest.json. */
static int write_package(wacz *w, unsigned char *buf)
{
	char ts[SV_RFC3339_LEN], hash[8 + SV_DIGEST_HEX_LEN];
	uint64_t bytes = 0;
	int rc = 0;
	sv_rfc3339_now(ts);
	json_t *pkg = json_object(), *res = json_array();
	json_object_set_new(pkg, "profile", json_string("data-package"));
	json_object_set_new(pkg, "wacz_version", json_string("1.1.1"));
	json_object_set_new(pkg, "title", json_string(w->o->title ? w->o->title : "salvage archive"));
	json_object_set_new(pkg, "created", json_string(ts));
	json_object_set_new(pkg, "software", json_string(w->o->software ? w->o->software : "salvage"));
	if (w->main_url) {
		json_object_set_new(pkg, "mainPageURL", json_string(w->main_url));
		json_object_set_new(pkg, "mainPageDate", json_string(w->main_ts));
	}
	for (int i = F_WARC; rc == 0 && i < F_PACKAGE; i++) {
		if ((rc = hash_file(w->path[i], hash, &bytes, buf)) != 0)
			break;
		json_t *r = json_object();
		json_object_set_new(r, "name", json_string(strrchr(member[i], '/') + 1));
		json_object_set_new(r, "path", json_string(member[i]));
		json_object_set_new(r, "hash", json_string(hash));
		json_object_set_new(r, "bytes", json_integer((json_int_t)bytes));
		json_array_append_new(res, r);
	}
	json_object_set_new(pkg, "resources", res);
	char *text = rc == 0 ? json_dumps(pkg, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(pkg);
	if (rc == 0 && !text)
		rc = sv_error_set(SV_EIO, "out of memory");
	if (rc == 0)
		rc = write_text(w->path[F_PACKAGE], text);
	free(text);
	if (rc == 0)
		rc = hash_file(w->path[F_PACKAGE], hash, &bytes, buf);
	if (rc == 0) {
		json_t *d = json_pack("{s:s, s:s}", "path", "datapackage.json", "hash", hash);
		text = d ? json_dumps(d, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(d);
		rc = text ? write_text(w->path[F_DIGEST], text) : sv_error_set(SV_EIO, "out of memory");
		free(text);
	}
	return rc;
}

static int zip_fail(zip_t *z, const char *path)
{
	return sv_error_set(SV_EIO, "cannot write '%s': %s", path, zip_strerror(z));
}

/* The ZIP of the work folder's files at tmp, synced. */
static int write_zip(wacz *w, const char *tmp)
{
	int zerr = 0;
	zip_t *z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
	if (!z) {
		zip_error_t e;
		zip_error_init_with_code(&e, zerr);
		int rc = sv_error_set(SV_EIO, "cannot write '%s': %s", tmp, zip_error_strerror(&e));
		zip_error_fini(&e);
		return rc;
	}
	for (int i = 0; i < F_COUNT; i++) {
		zip_source_t *src = zip_source_file(z, w->path[i], 0, -1);
		zip_int64_t at = src ? zip_file_add(z, member[i], src, ZIP_FL_ENC_UTF_8) : -1;
		if (at < 0) {
			int rc = zip_fail(z, tmp);
			zip_source_free(src);
			zip_discard(z);
			return rc;
		}
		/* the WARC is gzip already and is read by offset: stored as it is */
		if (zip_set_file_compression(z, (zip_uint64_t)at, i == F_WARC ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0) != 0) {
			int rc = zip_fail(z, tmp);
			zip_discard(z);
			return rc;
		}
	}
	zip_register_progress_callback_with_state(z, 0.01, on_zip_progress, NULL, w);
	if (zip_close(z) != 0) {
		int rc = zip_fail(z, tmp);
		zip_discard(z);
		return rc;
	}
	w->st.members = F_COUNT;
	int fd = open(tmp, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	int rc = 0;
	if (fd < 0 || fsync(fd) != 0 || fstat(fd, &sb) != 0)
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
	else
		w->st.bytes = (uint64_t)sb.st_size;
	if (fd >= 0)
		close(fd);
	return rc;
}

int sv_export_wacz(sv_index *ix, const sv_objects *store, const sv_export_wacz_options *o, sv_wacz_stats *stats)
{
	wacz w;
	char *tmp = NULL;
	unsigned char *buf = NULL;
	int rc = 0, made_dir = 0;
	memset(&w, 0, sizeof(w));
	w.o = o;
	w.store = store;
	json_t *title = o->title ? json_string(o->title) : NULL;
	if (o->title && !title)
		return sv_error_set(SV_EINVAL, "the title is not UTF-8");
	json_decref(title);
	if (asprintf(&w.dir, "%s/wacz-%ld", o->tmp_dir ? o->tmp_dir : "/tmp", (long)getpid()) < 0 ||
	    asprintf(&tmp, "%s.tmp-%ld", o->path, (long)getpid()) < 0) {
		w.dir = tmp = NULL;
		rc = sv_error_set(SV_EIO, "out of memory");
	}
	for (int i = 0; rc == 0 && i < F_COUNT; i++)
		if (asprintf(&w.path[i], "%s/%s", w.dir, work_name[i]) < 0) {
			w.path[i] = NULL;
			rc = sv_error_set(SV_EIO, "out of memory");
		}
	if (rc == 0 && (!(w.raw = malloc(TITLE_READ)) || !(buf = malloc(CHUNK))))
		rc = sv_error_set(SV_EIO, "out of memory");
	/* the output's folder is checked before the work, not after it */
	int fd = rc == 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
	if (rc == 0 && fd < 0)
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
	if (fd >= 0)
		close(fd);
	if (rc == 0 && mkdir(w.dir, 0700) != 0)
		rc = sv_error_errno(errno, "cannot make '%s'", w.dir);
	made_dir = rc == 0;
	if (rc == 0 && !(w.pages = fopen(w.path[F_PAGES], "we")))
		rc = sv_error_errno(errno, "cannot write '%s'", w.path[F_PAGES]);
	if (rc == 0 && fputs("{\"format\": \"json-pages-1.0\", \"id\": \"pages\", \"title\": \"All Pages\"}\n", w.pages) == EOF)
		rc = sv_error_errno(errno, "cannot write '%s'", w.path[F_PAGES]);
	if (rc == 0) {
		sv_export_warc_options wo = {
			.path = w.path[F_WARC],
			.seed = o->seed,
			.since = o->since,
			.max_size = UINT64_MAX, /* one WARC: archive/data.warc.gz */
			.software = o->software,
			.node = o->node,
			.info = o->info,
			.tmp_dir = w.dir,
			.progress = on_warc_progress,
			.exported = on_capture,
			.ctx = &w,
		};
		rc = sv_export_warc(ix, store, &wo, &w.st.warc);
	}
	if (w.pages && fclose(w.pages) != 0 && rc == 0)
		rc = sv_error_errno(errno, "cannot write '%s'", w.path[F_PAGES]);
	if (rc == 0)
		rc = write_package(&w, buf);
	if (rc == 0)
		rc = write_zip(&w, tmp);
	if (rc == 0 && rename(tmp, o->path) != 0)
		rc = sv_error_errno(errno, "cannot rename '%s' to '%s'", tmp, o->path);
	if (rc != 0 && tmp)
		unlink(tmp);
	for (int i = 0; i < F_COUNT; i++) {
		if (w.path[i])
			unlink(w.path[i]);
		free(w.path[i]);
	}
	if (made_dir)
		rmdir(w.dir);
	if (stats)
		*stats = w.st;
	free(w.dir);
	free(tmp);
	free(w.main_url);
	free(w.main_ts);
	free(w.raw);
	free(buf);
	return rc;
}
