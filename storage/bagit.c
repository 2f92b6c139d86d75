/*
 * storage/bagit.c -- a BagIt 1.0 bag of the archive (bagit.h).
 * The captures to export and their names live in a work database (SQLite,
 * in the caller's tmp folder, nameless once open): the latest capture per
 * URL is kept as the index is read, then the names are made unique with
 * two queries per round, then the files are written in path order.
 */
#include "bagit.h"

#include "capture.h"
#include "export.h"

#include "../common/error.h"
#include "../common/path.h"
#include "../common/hex.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#define CHUNK (1u << 20)
#define HASH_HEX 16
#define MAX_ROUNDS 8
/* Past this many bytes, no more folders: room is left for a suffixed folder, the last segment and its suffix. */
#define SEGMENT_MAX (SV_BAGIT_COMPONENT_KEEP + 1 + HASH_HEX)
#define DEEP (SV_BAGIT_PATH_MAX - 2 * (SEGMENT_MAX + 1))

/* ---- names ---- */

/* 16 hex digits of the SHA-256 of s[0..n) (and of the round, past the first) into out. */
static void short_hash(const char *s, size_t n, unsigned round, char out[HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	memset(md, 0, sizeof(md));
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, s, n);
		if (round > 1) {
			char r[16];
			int k = snprintf(r, sizeof(r), "\n%u", round);
			EVP_DigestUpdate(c, r, (size_t)k);
		}
		EVP_DigestFinal_ex(c, md, NULL);
	}
	EVP_MD_CTX_free(c);
	sv_hex_encode(md, HASH_HEX / 2, out);
}

static int safe_byte(unsigned char c)
{
	return isalnum(c) || (c && strchr("-._~+,=@()", c));
}

/* DOS device names, which Windows will not create whatever the extension. */
static int dos_device(const char *s, size_t n)
{
	static const char *const names[] = {"con", "prn", "aux", "nul"};
	size_t stem = 0;
	while (stem < n && s[stem] != '.')
		stem++;
	for (size_t i = 0; i < 4; i++)
		if (stem == 3 && !strncasecmp(s, names[i], 3))
			return 1;
	return stem == 4 && (!strncasecmp(s, "com", 3) || !strncasecmp(s, "lpt", 3)) && isdigit((unsigned char)s[3]);
}

/*
 * Appends the safe form of one segment (raw, percent-encoded, n bytes) to
 * out at *o; whole is the URL up to the segment's end, for the suffix.
 */
static void put_segment(char *out, size_t *o, const char *raw, size_t n, const char *whole, size_t whole_len)
{
	size_t start = *o, k = 0;
	int changed = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c == '%' && i + 2 < n && sv_hex_value((unsigned char)raw[i + 1]) >= 0 &&
		    sv_hex_value((unsigned char)raw[i + 2]) >= 0) {
			c = (unsigned char)(sv_hex_value((unsigned char)raw[i + 1]) << 4 | sv_hex_value((unsigned char)raw[i + 2]));
			i += 2;
		}
		if (!safe_byte(c)) {
			c = '_';
			changed = 1;
		}
		out[start + k++] = (char)c;
	}
	char *seg = out + start;
	size_t dots = 0;
	while (dots < k && seg[dots] == '.')
		dots++;
	if (k == 0) { /* an empty segment ("a//b") */
		seg[k++] = '_';
		changed = 1;
	} else if (dots == k) { /* "." and "..", however written */
		memset(seg, '_', k);
		changed = 1;
	} else if (seg[k - 1] == '.') { /* Windows drops a trailing dot */
		seg[k - 1] = '_';
		changed = 1;
	} else if (dos_device(seg, k)) { /* "con.txt" is the console on Windows, "_con.txt" a file */
		memmove(seg + 1, seg, k++);
		seg[0] = '_';
		changed = 1;
	}
	if (k > SV_BAGIT_COMPONENT_KEEP) {
		k = SV_BAGIT_COMPONENT_KEEP;
		changed = 1;
	}
	if (changed) {
		out[start + k++] = '~';
		short_hash(whole, whole_len, 1, out + start + k);
		k += HASH_HEX;
	}
	*o = start + k;
}

int sv_bagit_name(const char *url, char **out)
{
	*out = NULL;
	const char *sep = strstr(url, "://");
	if (!sep || sep == url)
		return sv_error_set(SV_EINVAL, "'%s' is not a URL", url);
	const char *auth = sep + 3, *auth_end = auth + strcspn(auth, "/?#");
	const char *host = auth;
	for (const char *p = auth; p < auth_end; p++)
		if (*p == '@')
			host = p + 1;
	const char *path = auth_end, *path_end = path + strcspn(path, "?#");
	const char *query = *path_end == '?' ? path_end : NULL;
	const char *end = query ? query + strcspn(query, "#") : path_end;
	size_t n = strlen(url);
	/* the folders stop at DEEP bytes; the last segment is written whole before it is cut */
	char *buf = malloc(n + SV_BAGIT_PATH_MAX + 64);
	if (!buf)
		return sv_error_set(SV_EIO, "out of memory");
	size_t o = 0;
	/* the host, lower case; ":port" as "+port" (no host name holds a '+') */
	char hostbuf[512];
	size_t hn = 0;
	for (const char *p = host; p < auth_end && hn + 1 < sizeof(hostbuf); p++)
		hostbuf[hn++] = *p == ':' && !memchr(host, '[', (size_t)(auth_end - host)) ? '+' : (char)tolower((unsigned char)*p);
	put_segment(buf, &o, hostbuf, hn, url, (size_t)(auth_end - url));
	const char *p = path;
	if (p < path_end && *p == '/')
		p++;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(path_end - p));
		int last = slash == NULL;
		const char *seg_end = last ? path_end : slash;
		const char *whole_end = last ? end : seg_end;
		if (!last && o > DEEP) {
			/* too deep or too long: the rest becomes one suffixed name */
			buf[o++] = '/';
			put_segment(buf, &o, "", 0, url, (size_t)(end - url));
			break;
		}
		buf[o++] = '/';
		if (last) {
			char *seg = NULL;
			size_t seg_len = (size_t)(seg_end - p), q_len = query ? (size_t)(end - query) : 0;
			int index = seg_len == 0;
			if (asprintf(&seg, "%.*s%.*s", index ? 10 : (int)seg_len, index ? "index.html" : p, (int)q_len,
				     query ? query : "") < 0) {
				free(buf);
				return sv_error_set(SV_EIO, "out of memory");
			}
			put_segment(buf, &o, seg, strlen(seg), url, (size_t)(whole_end - url));
			free(seg);
			break;
		}
		put_segment(buf, &o, p, (size_t)(seg_end - p), url, (size_t)(whole_end - url));
		p = slash + 1;
	}
	buf[o] = '\0';
	*out = buf;
	return 0;
}

/* path with "~<hash>" after its last segment (cut to SV_BAGIT_COMPONENT_KEEP first). malloc'd. */
static char *suffixed(const char *path, const char *url, unsigned round)
{
	const char *slash = strrchr(path, '/');
	size_t dir = slash ? (size_t)(slash + 1 - path) : 0, last = strlen(path) - dir;
	if (last > SV_BAGIT_COMPONENT_KEEP)
		last = SV_BAGIT_COMPONENT_KEEP;
	char h[HASH_HEX + 1], *out = NULL;
	short_hash(url, strlen(url), round, h);
	if (asprintf(&out, "%.*s~%s", (int)(dir + last), path, h) < 0)
		return NULL;
	return out;
}

static int db_fail(sqlite3 *db, const char *what)
{
	return sv_error_set(SV_EIO, "bagit: cannot %s: %s", what, sqlite3_errmsg(db));
}

static char *lower(const char *s)
{
	char *l = strdup(s);
	for (char *c = l; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return l;
}

/* Sets a row's path (and its lower-case twin). */
static int set_path(sqlite3 *db, sqlite3_stmt *st, sqlite3_int64 id, const char *path)
{
	char *l = lower(path);
	if (!l)
		return sv_error_set(SV_EIO, "out of memory");
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, l, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, id);
	int s = sqlite3_step(st);
	free(l);
	return s == SQLITE_DONE ? 0 : db_fail(db, "keep a name");
}

/*
 * Makes the paths of table caps(url, base, path, lpath) unique, as
 * sv_bagit_names says: each round suffixes the files that clash.
 */
static int resolve(sqlite3 *db)
{
	sqlite3_stmt *clash = NULL, *upd = NULL;
	int rc = 0;
	if (sqlite3_prepare_v2(db,
			       "SELECT rowid, url, base FROM caps WHERE lpath IN "
			       "(SELECT lpath FROM caps GROUP BY lpath HAVING count(*) > 1) "
			       "UNION SELECT a.rowid, a.url, a.base FROM caps a WHERE EXISTS "
			       "(SELECT 1 FROM caps b WHERE b.lpath >= a.lpath || '/' AND b.lpath < a.lpath || '0')",
			       -1, &clash, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE caps SET path = ?, lpath = ? WHERE rowid = ?", -1, &upd, NULL) != SQLITE_OK) {
		rc = db_fail(db, "compare names");
		goto done;
	}
	for (unsigned round = 1;; round++) {
		/* the clashes first, then the renames: a query does not see its own updates well */
		sqlite3_int64 *ids = NULL;
		char **news = NULL;
		size_t n = 0, cap = 0;
		int s;
		sqlite3_reset(clash);
		while (rc == 0 && (s = sqlite3_step(clash)) == SQLITE_ROW) {
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				sqlite3_int64 *i2 = realloc(ids, cap * sizeof(*ids));
				char **n2 = i2 ? realloc(news, cap * sizeof(*news)) : NULL;
				if (i2)
					ids = i2;
				if (n2)
					news = n2;
				if (!i2 || !n2) {
					rc = sv_error_set(SV_EIO, "out of memory");
					break;
				}
			}
			ids[n] = sqlite3_column_int64(clash, 0);
			news[n] = suffixed((const char *)sqlite3_column_text(clash, 2),
					   (const char *)sqlite3_column_text(clash, 1), round);
			if (!news[n++])
				rc = sv_error_set(SV_EIO, "out of memory");
		}
		if (rc == 0 && s != SQLITE_DONE)
			rc = db_fail(db, "compare names");
		if (rc == 0 && n > 0 && round == MAX_ROUNDS)
			rc = sv_error_set(SV_EINVAL, "bagit: %zu names still clash after %d rounds", n, MAX_ROUNDS);
		for (size_t i = 0; i < n; i++) {
			if (rc == 0)
				rc = set_path(db, upd, ids[i], news[i]);
			free(news[i]);
		}
		free(ids);
		free(news);
		if (rc || n == 0)
			break;
	}
done:
	sqlite3_finalize(clash);
	sqlite3_finalize(upd);
	return rc;
}

/* The work database at path (":memory:" or a file, unlinked once open). */
static int open_work(sqlite3 **db, const char *path)
{
	if (strcmp(path, ":memory:"))
		unlink(path);
	int s = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (strcmp(path, ":memory:"))
		unlink(path);
	if (s != SQLITE_OK)
		return db_fail(*db, "open its work space");
	if (sqlite3_exec(*db,
			 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			 "CREATE TABLE caps(url TEXT PRIMARY KEY, record TEXT, base TEXT, path TEXT, lpath TEXT);"
			 "CREATE INDEX caps_lpath ON caps(lpath);",
			 NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(*db, "set up its work space");
	return 0;
}

/* Names every row of caps (base from sv_bagit_name) and makes them unique. */
static int name_all(sqlite3 *db)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int rc = 0, s;
	if (sqlite3_prepare_v2(db, "SELECT rowid, url FROM caps", -1, &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE caps SET base = ?1, path = ?1, lpath = ?2 WHERE rowid = ?3", -1, &upd,
			       NULL) != SQLITE_OK) {
		rc = db_fail(db, "name files");
		goto done;
	}
	while (rc == 0 && (s = sqlite3_step(sel)) == SQLITE_ROW) {
		char *name = NULL;
		if ((rc = sv_bagit_name((const char *)sqlite3_column_text(sel, 1), &name)) == 0)
			rc = set_path(db, upd, sqlite3_column_int64(sel, 0), name);
		free(name);
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_fail(db, "name files");
	if (rc == 0)
		rc = resolve(db);
done:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return rc;
}

int sv_bagit_names(const char *const *urls, size_t n, char ***paths)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL, *sel = NULL;
	char **out = calloc(n + 1, sizeof(*out));
	int rc = out ? open_work(&db, ":memory:") : sv_error_set(SV_EIO, "out of memory");
	if (rc == 0 && (sqlite3_prepare_v2(db, "INSERT INTO caps(url) VALUES(?)", -1, &ins, NULL) != SQLITE_OK ||
			sqlite3_prepare_v2(db, "SELECT path FROM caps WHERE url = ?", -1, &sel, NULL) != SQLITE_OK))
		rc = db_fail(db, "name files");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, urls[i], -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = db_fail(db, "name files");
	}
	if (rc == 0)
		rc = name_all(db);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(sel);
		sqlite3_bind_text(sel, 1, urls[i], -1, SQLITE_STATIC);
		if (sqlite3_step(sel) != SQLITE_ROW || !(out[i] = strdup((const char *)sqlite3_column_text(sel, 0))))
			rc = sv_error_set(SV_EIO, "bagit: cannot read a name back");
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(sel);
	sqlite3_close(db);
	if (rc) {
		for (size_t i = 0; out && i < n; i++)
			free(out[i]);
		free(out);
		out = NULL;
	}
	*paths = out;
	return rc;
}

/* ---- the bag ---- */

typedef struct {
	const sv_bagit_options *o;
	const sv_objects *store;
	sqlite3 *db;
	sqlite3_stmt *keep;
	char *root;  /* DIR.tmp-<pid> */
	int rootfd;
	FILE *m256, *m512, *files, *caps;
	unsigned char *buf;
	sv_bagit_stats st;
	int rc;
} bagger;

/* Whole 2xx payloads (and files put by hand) of the seed asked for; a later capture of a URL replaces an earlier. */
static int on_row(void *ctx, const sv_index_row *row)
{
	bagger *b = ctx;
	sv_capture_parsed p;
	if (sv_capture_parse(&p, row->record, strlen(row->record)) == 0) {
		const sv_capture *c = &p.c;
		int ok = c->sha256 && c->length >= 0 && !c->truncated &&
			 ((c->status >= 200 && c->status <= 299) || (c->kind == SV_KIND_MANUAL && c->status <= 0));
		if (ok && (b->o->seed < 0 || c->seed == b->o->seed)) {
			sqlite3_reset(b->keep);
			sqlite3_bind_text(b->keep, 1, c->url, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(b->keep, 2, row->record, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(b->keep) != SQLITE_DONE)
				b->rc = db_fail(b->db, "keep a capture");
		}
	}
	sv_capture_parsed_clear(&p);
	return b->rc ? 1 : 0;
}


/* Makes the folders of path (relative to the bag) below the bag. */
static int make_parents(bagger *b, const char *path)
{
	char *d = strdup(path);
	int rc = d ? 0 : sv_error_set(SV_EIO, "out of memory");
	for (char *s = d ? strchr(d, '/') : NULL; rc == 0 && s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdirat(b->rootfd, d, 0755) != 0 && errno != EEXIST)
			rc = sv_error_errno(errno, "cannot make '%s/%s'", b->root, d);
		*s = '/';
	}
	free(d);
	return rc;
}

/* Streams the payload d (length bytes), its coding ce undone, into fd, hashing what is written; *total its bytes. */
static int copy_payload(bagger *b, const sv_digest *d, int64_t length, const char *ce, int fd, const char *path,
			EVP_MD_CTX *h256, EVP_MD_CTX *h512, uint64_t *total)
{
	sv_objects_reader *r = NULL;
	sv_decoder *dec = NULL;
	size_t got = 0;
	int rc = 0;
	*total = 0;
	if (EVP_DigestInit_ex(h256, EVP_sha256(), NULL) != 1 || EVP_DigestInit_ex(h512, EVP_sha512(), NULL) != 1)
		return sv_error_set(SV_EIO, "SHA-2 failed");
	if (length > 0 && (rc = sv_objects_reader_open(&r, b->store, d)) == 0)
		rc = sv_decoder_new(&dec, ce, sv_decode_object_source, r, &b->o->limits);
	while (rc == 0 && dec && (rc = sv_decoder_read(dec, b->buf, CHUNK, &got)) == 0 && got > 0) {
		EVP_DigestUpdate(h256, b->buf, got);
		EVP_DigestUpdate(h512, b->buf, got);
		rc = sv_path_write_all(fd, b->buf, got, path);
		*total += got;
	}
	sv_decoder_free(dec);
	sv_objects_reader_free(r);
	return rc;
}

/*
 * One payload file: decoded, written, hashed both ways in one pass. A body
 * that does not decode (or in a coding salvage does not know) is written
 * again as stored, and files.tsv says so; a damaged object fails both ways.
 */
static int write_payload(bagger *b, const sv_capture *c, const char *path)
{
	sv_digest d;
	EVP_MD_CTX *h256 = EVP_MD_CTX_new(), *h512 = EVP_MD_CTX_new();
	int fd = -1, rc = 0;
	const char *ce = sv_decode_needed(c->content_encoding) ? c->content_encoding : NULL, *kept = NULL;
	uint64_t total = 0;
	if (!h256 || !h512) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if ((rc = sv_digest_from_hex(&d, c->sha256)) || (rc = make_parents(b, path)))
		goto done;
	fd = openat(b->rootfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = sv_error_errno(errno, "cannot write '%s/%s'", b->root, path);
		goto done;
	}
	rc = copy_payload(b, &d, c->length, ce, fd, path, h256, h512, &total);
	if (ce && (rc == SV_EINVAL || rc == SV_ECORRUPT)) {
		kept = rc == SV_EINVAL ? "a coding salvage does not decode" : "does not decode";
		if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
			rc = sv_error_errno(errno, "cannot write '%s/%s'", b->root, path);
		else
			rc = copy_payload(b, &d, c->length, NULL, fd, path, h256, h512, &total);
	}
	if (rc && rc != SV_ENOSPC && rc != SV_EIO)
		rc = sv_error_prefix("%s: its payload %s", c->url, c->sha256);
	if (close(fd) != 0 && rc == 0)
		rc = sv_error_errno(errno, "cannot write '%s/%s'", b->root, path);
	if (rc)
		goto done;
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned n = 0;
	EVP_DigestFinal_ex(h256, md, &n);
	sv_hex_encode(md, n, hex);
	fprintf(b->m256, "%s  %s\n", hex, path);
	EVP_DigestFinal_ex(h512, md, &n);
	sv_hex_encode(md, n, hex);
	fprintf(b->m512, "%s  %s\n", hex, path);
	fprintf(b->files, "%s\t%s\t%s\t%s\t%s", path, c->url, c->ts ? c->ts : "", c->sha256, kept ? "kept as stored: " : "");
	/* the coding as the server wrote it, which may hold a tab */
	for (const char *k = ce ? ce : ""; *k; k++)
		fputc(*k == '\t' || *k == '\r' || *k == '\n' ? ' ' : *k, b->files);
	fprintf(b->files, "%s%s\n", kept ? " " : "", kept ? kept : "");
	b->st.files++;
	b->st.bytes += total;
	if (kept)
		b->st.kept++;
	else if (ce)
		b->st.decoded++;
done:
	EVP_MD_CTX_free(h256);
	EVP_MD_CTX_free(h512);
	return rc;
}

static FILE *open_tag(bagger *b, const char *name)
{
	int fd = openat(b->rootfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		sv_error_errno(errno, "cannot write '%s/%s'", b->root, name);
		if (fd >= 0)
			close(fd);
	}
	return f;
}

/* Closes a tag file being written (none open: 0). */
static int close_tag(bagger *b, FILE **f, const char *name)
{
	if (!*f)
		return 0;
	int bad = ferror(*f);
	errno = 0;
	if (fclose(*f) != 0)
		bad = 1;
	*f = NULL;
	return bad ? sv_error_errno(errno ? errno : EIO, "cannot write '%s/%s'", b->root, name) : 0;
}

/* The payload files in path order, with their manifests, files.tsv and captures.jsonl. */
static int write_data(bagger *b)
{
	sqlite3_stmt *st = NULL;
	int rc = 0, s;
	if (!(b->m256 = open_tag(b, "manifest-sha256.txt")) || !(b->m512 = open_tag(b, "manifest-sha512.txt")) ||
	    !(b->files = open_tag(b, "salvage/files.tsv")) || !(b->caps = open_tag(b, "salvage/captures.jsonl")))
		return sv_error_code();
	fputs("path\turl\tcapture_time\tpayload_sha256\tcontent_encoding_undone\n", b->files);
	if (sqlite3_prepare_v2(b->db, "SELECT record, path FROM caps ORDER BY path", -1, &st, NULL) != SQLITE_OK)
		return db_fail(b->db, "list the captures");
	while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW) {
		const char *record = (const char *)sqlite3_column_text(st, 0);
		char *path = NULL;
		sv_capture_parsed p;
		rc = sv_capture_parse(&p, record, strlen(record));
		if (rc == 0 && asprintf(&path, "data/%s", (const char *)sqlite3_column_text(st, 1)) < 0)
			rc = sv_error_set(SV_EIO, "out of memory");
		if (rc == 0) {
			b->st.url = p.c.url;
			rc = write_payload(b, &p.c, path);
		}
		if (rc == 0) {
			fprintf(b->caps, "%s\n", record);
			if (b->o->progress)
				b->o->progress(b->o->ctx, &b->st);
		}
		b->st.url = NULL;
		free(path);
		sv_capture_parsed_clear(&p);
	}
	if (rc == 0 && s != SQLITE_DONE)
		rc = db_fail(b->db, "list the captures");
	sqlite3_finalize(st);
	return rc;
}

/* A "Label: value" line of bag-info.txt. */
static void info_line(FILE *f, const char *label, const char *value)
{
	sv_export_field(f, label, value, "\n");
}

static int write_info(bagger *b)
{
	FILE *f = open_tag(b, "bagit.txt");
	if (!f)
		return sv_error_code();
	fputs("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", f);
	int rc = close_tag(b, &f, "bagit.txt");
	if (rc || !(f = open_tag(b, "bag-info.txt")))
		return rc ? rc : sv_error_code();
	char date[11], id[SV_CAPTURE_ID_LEN], oxum[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof(date), "%Y-%m-%d", gmtime_r(&now, &tm));
	if ((rc = sv_capture_new_id(id))) {
		fclose(f);
		return rc;
	}
	snprintf(oxum, sizeof(oxum), "%llu.%llu", (unsigned long long)b->st.bytes, (unsigned long long)b->st.files);
	if (b->o->source_org)
		info_line(f, "Source-Organization", b->o->source_org);
	info_line(f, "Bagging-Date", date);
	info_line(f, "Bagging-Software", b->o->software ? b->o->software : "salvage");
	info_line(f, "External-Identifier", id);
	if (b->o->node)
		info_line(f, "Internal-Sender-Identifier", b->o->node);
	info_line(f, "Payload-Oxum", oxum);
	for (const char *const *i = b->o->info; i && i[0] && i[1]; i += 2)
		info_line(f, i[0], i[1]);
	return close_tag(b, &f, "bag-info.txt");
}

/* The SHA-256 of a tag file, as hex. */
static int hash_tag(bagger *b, const char *name, char hex[SV_DIGEST_HEX_LEN + 1])
{
	int fd = openat(b->rootfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	if (fd < 0 || !h || EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		rc = sv_error_errno(fd < 0 ? errno : ENOMEM, "cannot read '%s/%s'", b->root, name);
	} else {
		ssize_t n;
		while ((n = read(fd, b->buf, CHUNK)) > 0)
			EVP_DigestUpdate(h, b->buf, (size_t)n);
		if (n < 0)
			rc = sv_error_errno(errno, "cannot read '%s/%s'", b->root, name);
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned len = 0;
		EVP_DigestFinal_ex(h, md, &len);
		sv_hex_encode(md, len, hex);
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(h);
	return rc;
}

static int write_tagmanifest(bagger *b)
{
	static const char *const tags[] = {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
					   "salvage/captures.jsonl", "salvage/files.tsv", "salvage/headers.warc.gz",
					   "salvage/headers.cdxj"};
	FILE *f = open_tag(b, "tagmanifest-sha256.txt");
	int rc = f ? 0 : sv_error_code();
	for (size_t i = 0; rc == 0 && i < sizeof(tags) / sizeof(tags[0]); i++) {
		char hex[SV_DIGEST_HEX_LEN + 1];
		if ((rc = hash_tag(b, tags[i], hex)) == 0)
			fprintf(f, "%s  %s\n", hex, tags[i]);
	}
	int crc = close_tag(b, &f, "tagmanifest-sha256.txt");
	return rc ? rc : crc;
}

static int write_headers(bagger *b, sv_index *ix)
{
	sv_export_warc_options w;
	memset(&w, 0, sizeof(w));
	char *path = NULL;
	if (asprintf(&path, "%s/salvage/headers.warc.gz", b->root) < 0)
		return sv_error_set(SV_EIO, "out of memory");
	w.path = path;
	w.seed = b->o->seed;
	w.software = b->o->software;
	w.node = b->o->node;
	w.info = b->o->info;
	w.tmp_dir = b->o->tmp_dir;
	w.headers_only = 1;
	int rc = sv_export_warc(ix, b->store, &w, NULL);
	free(path);
	return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* DIR is missing: 0; an empty folder: 1 (taken away, for the rename); else SV_EINVAL. */
static int check_target(const char *dir)
{
	struct stat sb;
	if (lstat(dir, &sb) != 0)
		return errno == ENOENT ? 0 : sv_error_errno(errno, "cannot look at '%s'", dir);
	if (!S_ISDIR(sb.st_mode))
		return sv_error_set(SV_EINVAL, "'%s' is there and is not a folder", dir);
	if (rmdir(dir) == 0)
		return 1;
	if (errno == ENOTEMPTY || errno == EEXIST)
		return sv_error_set(SV_EINVAL, "'%s' is not empty: a bag goes into a new or empty folder", dir);
	return sv_error_errno(errno, "cannot use '%s'", dir);
}

int sv_export_bagit(sv_index *ix, const sv_objects *store, const sv_bagit_options *o, sv_bagit_stats *stats)
{
	bagger b;
	memset(&b, 0, sizeof(b));
	b.o = o;
	b.store = store;
	b.rootfd = -1;
	char *dir = strdup(o->dir), *work = NULL;
	int rc = dir ? 0 : sv_error_set(SV_EIO, "out of memory");
	for (size_t n = dir ? strlen(dir) : 0; n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = '\0';
	if (rc == 0 && (asprintf(&b.root, "%s.tmp-%ld", dir, (long)getpid()) < 0 ||
			asprintf(&work, "%s/bagit-%ld.db", o->tmp_dir ? o->tmp_dir : "/tmp", (long)getpid()) < 0 ||
			!(b.buf = malloc(CHUNK))))
		rc = sv_error_set(SV_EIO, "out of memory");
	/* refuse a full folder before any work; an empty one is taken away now and made by the rename */
	int emptied = rc == 0 ? check_target(dir) : 0;
	if (emptied < 0)
		rc = emptied;
	if (rc == 0 && mkdir(b.root, 0755) != 0)
		rc = sv_error_errno(errno, "cannot make '%s'", b.root);
	int made = rc == 0;
	if (rc == 0 && (b.rootfd = open(b.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		rc = sv_error_errno(errno, "cannot open '%s'", b.root);
	if (rc == 0 && (mkdirat(b.rootfd, "data", 0755) != 0 || mkdirat(b.rootfd, "salvage", 0755) != 0))
		rc = sv_error_errno(errno, "cannot make folders in '%s'", b.root);
	if (rc == 0)
		rc = open_work(&b.db, work);
	if (rc == 0 && sqlite3_prepare_v2(b.db, "INSERT OR REPLACE INTO caps(url, record) VALUES(?, ?)", -1, &b.keep,
					  NULL) != SQLITE_OK)
		rc = db_fail(b.db, "keep a capture");
	if (rc == 0 && (rc = sv_index_list(ix, "", on_row, &b)) == 1)
		rc = b.rc;
	if (rc == 0)
		rc = name_all(b.db);
	if (rc == 0)
		rc = write_data(&b);
	int crc[4] = {close_tag(&b, &b.m256, "manifest-sha256.txt"), close_tag(&b, &b.m512, "manifest-sha512.txt"),
		      close_tag(&b, &b.files, "salvage/files.tsv"), close_tag(&b, &b.caps, "salvage/captures.jsonl")};
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = crc[i];
	if (rc == 0)
		rc = write_headers(&b, ix);
	if (rc == 0)
		rc = write_info(&b);
	if (rc == 0)
		rc = write_tagmanifest(&b);
	if (rc == 0 && syncfs(b.rootfd) != 0)
		rc = sv_error_errno(errno, "cannot sync '%s'", b.root);
	if (rc == 0 && rename(b.root, dir) != 0)
		rc = sv_error_errno(errno, "cannot rename '%s' to '%s'", b.root, dir);
	if (rc && made)
		nftw(b.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (rc && emptied == 1)
		mkdir(dir, 0755); /* the empty folder as it was */
	if (stats)
		*stats = b.st;
	if (b.rootfd >= 0)
		close(b.rootfd);
	sqlite3_finalize(b.keep);
	sqlite3_close(b.db);
	free(b.buf);
	free(b.root);
	free(work);
	free(dir);
	return rc;
}
