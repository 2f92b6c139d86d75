/*
 * storage/export.c -- WARC files and their CDXJ index from the capture index
 * and the object store (export.h).
 */
#include "export.h"

#include "capture.h"
#include "warc.h"

#include "../common/clock.h"
#include "../common/error.h"
#include "../common/hex.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#define DEFAULT_MAX_SIZE (1000ull * 1000 * 1000)
#define SMALL_PAYLOAD (4u << 20) /* read once into memory; larger ones are read twice */
#define CHUNK (1u << 20)

/* ---- SURT ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *sv_surt(const char *url)
{
	const char *p = url;
	int https = !strncasecmp(p, "https://", 8);
	if (!https && strncasecmp(p, "http://", 7))
		return strdup(url);
	p += https ? 8 : 7;
	/* www, www2, ...: dropped */
	if (!strncmp(p, "www", 3)) { /* as warcio: lower-case only */
		const char *q = p + 3;
		while (isdigit((unsigned char)*q))
			q++;
		if (*q == '.')
			p = q + 1;
	}
	size_t n = strlen(p);
	char *low = malloc(n + 1), *out = malloc(2 * n + 8);
	char **args = NULL;
	if (!low || !out)
		goto fail;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)p[i]);
	char *host = low, *rest = low + strcspn(low, "/?#");
	char saved = *rest;
	*rest = '\0';
	char *at = strrchr(host, '@');
	if (at)
		host = at + 1;
	char *port = NULL;
	if (*host == '[') {
		char *close = strchr(host, ']');
		if (close && close[1] == ':')
			port = close + 1;
	} else {
		port = strrchr(host, ':');
	}
	if (port)
		*port++ = '\0';
	if (port && (!*port || !strcmp(port, https ? "443" : "80")))
		port = NULL;
	/* the host's labels, last first */
	size_t o = 0;
	char *end = host + strlen(host);
	while (end > host) {
		char *dot = end;
		while (dot > host && dot[-1] != '.')
			dot--;
		memcpy(out + o, dot, (size_t)(end - dot));
		o += (size_t)(end - dot);
		end = dot > host ? dot - 1 : host;
		if (dot > host)
			out[o++] = ',';
	}
	if (port)
		o += (size_t)sprintf(out + o, ":%s", port);
	out[o++] = ')';
	*rest = saved;
	char *path = rest, *query = NULL;
	char *hash = strchr(path, '#');
	if (hash)
		*hash = '\0';
	char *qm = strchr(path, '?');
	if (qm) {
		*qm = '\0';
		query = qm + 1;
	}
	if (!*path)
		out[o++] = '/';
	o += (size_t)sprintf(out + o, "%s", path);
	if (query && *query) {
		size_t na = 1;
		for (char *c = query; *c; c++)
			na += *c == '&';
		if (!(args = malloc(na * sizeof(*args))))
			goto fail;
		na = 0;
		for (char *s = query, *e;; s = e + 1) {
			e = s + strcspn(s, "&");
			char last = *e;
			*e = '\0';
			args[na++] = s;
			if (!last)
				break;
		}
		qsort(args, na, sizeof(*args), cmp_str);
		out[o++] = '?';
		for (size_t i = 0; i < na; i++)
			o += (size_t)sprintf(out + o, "%s%s", i ? "&" : "", args[i]);
	}
	out[o] = '\0';
	free(args);
	free(low);
	return out;
fail:
	free(args);
	free(low);
	free(out);
	return NULL;
}

/* ---- record ids ---- */

/* A record id made from bytes: the same capture gets the same id in every export. */
static void derived_id(char out[SV_CAPTURE_ID_LEN], const char *what, const char *s, size_t n)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	memset(md, 0, sizeof(md));
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(c, what, strlen(what));
		EVP_DigestUpdate(c, s, n);
		EVP_DigestFinal_ex(c, md, &len);
	}
	EVP_MD_CTX_free(c);
	sv_capture_id_format(out, md, 8);
}

/* ---- the export ---- */

typedef struct {
	const sv_export_warc_options *o;
	const sv_objects *store;
	sv_export_stats st;
	sv_warc_codec codec;
	sqlite3 *db;            /* the CDXJ lines to sort, and payloads written once */
	sqlite3_stmt *add_cdx, *seen, *add_seen;
	/* the file being written */
	unsigned part;
	char *final_path, *tmp_path, *name;
	int fd;
	sv_warc_file *w;
	uint64_t file_captures;
	char warcinfo_id[SV_CAPTURE_ID_LEN];
	unsigned char *buf; /* a small payload, or a chunk */
	struct cdx_entry *cdx_head, *cdx_tail; /* index lines waiting for their record's place, in order */
	int rc;    /* what stopped the walk over the index */
	int cb_rc; /* the first failure told by the writer's callback */
} exporter;

/* An index line waiting for where its record lands (the writer compresses on threads). */
typedef struct cdx_entry {
	struct cdx_entry *next;
	char *url, *ts, *mime, *digest;
	int status;
} cdx_entry;

static int db_fail(exporter *x, const char *what)
{
	return sv_error_set(SV_EIO, "export: cannot %s: %s", what, sqlite3_errmsg(x->db));
}

/* OUT.warc.gz, OUT-00001.warc.gz, ...; ext_cdxj: the same with .cdxj for .warc.*. */
static char *part_path(const char *path, unsigned part, int cdxj)
{
	const char *ext = strstr(path, ".warc.");
	const char *e;
	while (ext && (e = strstr(ext + 1, ".warc.")))
		ext = e;
	size_t stem = ext ? (size_t)(ext - path) : strlen(path);
	char num[16] = "";
	if (part)
		snprintf(num, sizeof(num), "-%05u", part);
	const char *tail = cdxj ? ".cdxj" : ext ? ext : "";
	size_t n = stem + strlen(num) + strlen(tail) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%.*s%s%s", (int)stem, path, num, tail);
	return s;
}

static void hex_of(const unsigned char *md, char out[SV_DIGEST_HEX_LEN + 8])
{
	memcpy(out, "sha256:", 7);
	sv_hex_encode(md, SV_DIGEST_LEN, out + 7);
}

void sv_export_field(FILE *f, const char *name, const char *value, const char *eol)
{
	fprintf(f, "%s: ", name);
	for (const char *c = value; *c; c++)
		fputc(*c == '\r' || *c == '\n' ? ' ' : *c, f);
	fputs(eol, f);
}

/* "name: value" and CRLF into a warc-fields block. */
static void put_field(FILE *m, const char *name, const char *value)
{
	sv_export_field(m, name, value, "\r\n");
}

static int write_warcinfo(exporter *x)
{
	sv_warc_header h;
	char *block = NULL;
	size_t blen = 0;
	FILE *m = open_memstream(&block, &blen);
	if (!m)
		return sv_error_set(SV_EIO, "out of memory");
	put_field(m, "software", x->o->software ? x->o->software : "salvage");
	put_field(m, "format", "WARC File Format 1.1");
	put_field(m, "conformsTo", "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/");
	if (x->o->node)
		put_field(m, "salvage-node", x->o->node);
	for (const char *const *f = x->o->info; f && f[0] && f[1]; f += 2)
		put_field(m, f[0], f[1]);
	if (fclose(m) != 0) {
		free(block);
		return sv_error_set(SV_EIO, "out of memory");
	}
	char ts[SV_RFC3339_LEN];
	sv_rfc3339_now(ts);
	char id[SV_CAPTURE_ID_LEN + 2];
	int rc = sv_capture_new_id(x->warcinfo_id);
	snprintf(id, sizeof(id), "<%s>", x->warcinfo_id);
	sv_warc_header_begin(&h, "warcinfo");
	sv_warc_header_add(&h, "WARC-Record-ID", id);
	sv_warc_header_add(&h, "WARC-Date", ts);
	sv_warc_header_add(&h, "WARC-Filename", x->name);
	sv_warc_header_add(&h, "Content-Type", "application/warc-fields");
	unsigned char md[EVP_MAX_MD_SIZE];
	char bd[SV_DIGEST_HEX_LEN + 8];
	if (!EVP_Digest(block, blen, md, NULL, EVP_sha256(), NULL))
		rc = sv_error_set(SV_EIO, "SHA-256 failed");
	hex_of(md, bd);
	sv_warc_header_add(&h, "WARC-Block-Digest", bd);
	if (rc == 0)
		rc = sv_warc_header_end(&h, blen);
	if (rc == 0)
		rc = sv_warc_write(x->w, h.buf, h.len, block, blen, 0, NULL, NULL, NULL);
	if (rc == 0)
		x->st.records++;
	sv_warc_header_free(&h);
	free(block);
	return rc;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static void on_written(void *ctx, void *tag, uint64_t offset, uint64_t length);

static int open_part(exporter *x)
{
	int rc;
	if (!(x->final_path = part_path(x->o->path, x->part, 0)))
		return sv_error_set(SV_EIO, "out of memory");
	size_t n = strlen(x->final_path) + 32;
	if (!(x->tmp_path = malloc(n)))
		return sv_error_set(SV_EIO, "out of memory");
	snprintf(x->tmp_path, n, "%s.tmp-%ld", x->final_path, (long)getpid());
	x->name = (char *)base_name(x->final_path);
	x->fd = open(x->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (x->fd < 0)
		return sv_error_errno(errno, "cannot write '%s'", x->tmp_path);
	if ((rc = sv_warc_open(&x->w, x->fd, x->codec, x->o->threads, on_written, x)))
		return rc;
	x->file_captures = 0;
	x->st.files++;
	x->st.file = x->final_path;
	return write_warcinfo(x);
}

/* Writes the part's CDXJ, sorted, beside it (through a temp name). */
static int write_cdxj(exporter *x)
{
	char *path = part_path(x->o->path, x->part, 1), *tmp = NULL;
	sqlite3_stmt *st = NULL;
	FILE *f = NULL;
	int rc = 0;
	if (!path || !(tmp = malloc(strlen(path) + 32))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	sprintf(tmp, "%s.tmp-%ld", path, (long)getpid());
	if (!(f = fopen(tmp, "we"))) {
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
		goto done;
	}
	if (sqlite3_prepare_v2(x->db, "SELECT line FROM cdx WHERE part = ? ORDER BY line", -1, &st, NULL) != SQLITE_OK) {
		rc = db_fail(x, "sort the index");
		goto done;
	}
	sqlite3_bind_int(st, 1, (int)x->part);
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		fwrite(sqlite3_column_blob(st, 0), 1, (size_t)sqlite3_column_bytes(st, 0), f);
		fputc('\n', f);
	}
	if (s != SQLITE_DONE)
		rc = db_fail(x, "sort the index");
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
		rc = rc ? rc : sv_error_errno(errno, "cannot write '%s'", tmp);
	if (fclose(f) != 0 && !rc)
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
	f = NULL;
	if (!rc && rename(tmp, path) != 0)
		rc = sv_error_errno(errno, "cannot rename '%s' to '%s'", tmp, path);
	if (rc)
		unlink(tmp);
done:
	if (f)
		fclose(f);
	sqlite3_finalize(st);
	free(tmp);
	free(path);
	return rc;
}

/* Ends the part under way: flushed, synced, renamed, its CDXJ written. */
static int close_part(exporter *x, int keep)
{
	int rc = 0;
	uint64_t size = 0;
	if (x->w) {
		rc = sv_warc_close(x->w, &size);
		x->w = NULL;
		x->st.bytes += size;
		if (rc == 0)
			rc = x->cb_rc;
	}
	if (x->fd >= 0) {
		if (!rc && keep && fsync(x->fd) != 0)
			rc = sv_error_errno(errno, "cannot write '%s'", x->tmp_path);
		close(x->fd);
		x->fd = -1;
		if (!rc && keep && rename(x->tmp_path, x->final_path) != 0)
			rc = sv_error_errno(errno, "cannot rename '%s' to '%s'", x->tmp_path, x->final_path);
		if (rc || !keep)
			unlink(x->tmp_path);
		else
			rc = write_cdxj(x);
	}
	free(x->final_path);
	free(x->tmp_path);
	x->final_path = x->tmp_path = NULL;
	return rc;
}

static int add_cdx(exporter *x, const char *url, const char *ts, const char *mime, int status, const char *digest,
		   uint64_t offset, uint64_t length)
{
	char stamp[15], num[32];
	size_t k = 0;
	for (const char *c = ts ? ts : ""; *c && k < 14; c++)
		if (isdigit((unsigned char)*c))
			stamp[k++] = *c;
	stamp[k] = '\0';
	json_t *o = json_object();
	char *surt = sv_surt(url), *js = NULL;
	int rc = 0;
	if (!o || !surt)
		rc = sv_error_set(SV_EIO, "out of memory");
	if (!rc) {
		json_object_set_new(o, "url", json_string(url));
		if (mime) {
			size_t n = strcspn(mime, ";");
			while (n && isspace((unsigned char)mime[n - 1]))
				n--;
			size_t s = 0;
			while (s < n && isspace((unsigned char)mime[s]))
				s++;
			json_object_set_new(o, "mime", json_stringn(mime + s, n - s));
		}
		if (status > 0) {
			snprintf(num, sizeof(num), "%d", status);
			json_object_set_new(o, "status", json_string(num));
		}
		if (digest)
			json_object_set_new(o, "digest", json_string(digest));
		snprintf(num, sizeof(num), "%llu", (unsigned long long)length);
		json_object_set_new(o, "length", json_string(num));
		snprintf(num, sizeof(num), "%llu", (unsigned long long)offset);
		json_object_set_new(o, "offset", json_string(num));
		json_object_set_new(o, "filename", json_string(x->name));
		if (!(js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
			rc = sv_error_set(SV_EIO, "out of memory");
	}
	if (!rc) {
		char *line = NULL;
		int n = asprintf(&line, "%s %s %s", surt, stamp, js);
		if (n < 0) {
			rc = sv_error_set(SV_EIO, "out of memory");
		} else {
			sqlite3_reset(x->add_cdx);
			sqlite3_bind_int(x->add_cdx, 1, (int)x->part);
			sqlite3_bind_blob(x->add_cdx, 2, line, n, SQLITE_TRANSIENT);
			if (sqlite3_step(x->add_cdx) != SQLITE_DONE)
				rc = db_fail(x, "keep an index line");
			free(line);
		}
	}
	free(js);
	free(surt);
	json_decref(o);
	return rc;
}

static void cdx_free(cdx_entry *e)
{
	free(e->url), free(e->ts), free(e->mime), free(e->digest), free(e);
}

/* The index line of the next record the writer hands back. */
static cdx_entry *cdx_new(exporter *x, const sv_capture *c, const char *mime, int status)
{
	cdx_entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->url = strdup(c->url)) || (c->ts && !(e->ts = strdup(c->ts))) ||
	    (mime && !(e->mime = strdup(mime))) || (c->sha256 && !(e->digest = strdup(c->sha256)))) {
		if (e)
			cdx_free(e);
		sv_error_set(SV_EIO, "out of memory");
		return NULL;
	}
	e->status = status;
	if (x->cdx_tail)
		x->cdx_tail->next = e;
	else
		x->cdx_head = e;
	x->cdx_tail = e;
	return e;
}

/* The writer says where a record landed: records come back in the order they were handed over. */
static void on_written(void *ctx, void *tag, uint64_t offset, uint64_t length)
{
	exporter *x = ctx;
	cdx_entry *e = x->cdx_head;
	if (!e || e != tag) {
		x->cb_rc = x->cb_rc ? x->cb_rc : sv_error_set(SV_EIO, "export: records came back out of order");
		return;
	}
	x->cdx_head = e->next;
	if (!x->cdx_head)
		x->cdx_tail = NULL;
	int rc = add_cdx(x, e->url, e->ts, e->mime, e->status, e->digest, offset, length);
	if (rc && !x->cb_rc)
		x->cb_rc = rc;
	cdx_free(e);
}

/* The source of a record's tail: a payload from the store. */
typedef struct {
	sv_objects_reader *r;
	const unsigned char *mem; /* or these bytes */
	size_t len, pos;
} payload_src;

static int read_payload(void *ctx, void *buf, size_t cap, size_t *got)
{
	payload_src *p = ctx;
	if (p->mem) {
		size_t n = p->len - p->pos < cap ? p->len - p->pos : cap;
		memcpy(buf, p->mem + p->pos, n);
		p->pos += n;
		*got = n;
		return 0;
	}
	return sv_objects_reader_read(p->r, buf, cap, got);
}


/*
 * The block digest of head followed by the payload, reading the payload:
 * into x->buf when small (p->mem set), else streamed (read again to write).
 */
static int block_digest(exporter *x, const sv_capture *c, const sv_digest *d, const char *head, size_t head_len,
			uint64_t len, payload_src *p, char out[SV_DIGEST_HEX_LEN + 8])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	sv_objects_reader *r = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = 0;
	memset(p, 0, sizeof(*p));
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return sv_error_set(SV_EIO, "SHA-256 failed");
	}
	EVP_DigestUpdate(ctx, head, head_len);
	if (len > 0 && (rc = sv_objects_reader_open(&r, x->store, d)) != 0)
		rc = sv_error_prefix("%s: its payload %s", c->url, c->sha256);
	uint64_t total = 0;
	size_t got = 0;
	if (r && len <= SMALL_PAYLOAD) {
		while (rc == 0 && (rc = sv_objects_reader_read(r, x->buf + total, SMALL_PAYLOAD + 1 - total, &got)) == 0 &&
		       got > 0 && (total += got) <= SMALL_PAYLOAD)
			;
		p->mem = x->buf;
		p->len = (size_t)total;
		EVP_DigestUpdate(ctx, x->buf, (size_t)(total < SMALL_PAYLOAD ? total : SMALL_PAYLOAD));
	} else if (r) {
		while (rc == 0 && (rc = sv_objects_reader_read(r, x->buf, CHUNK, &got)) == 0 && got > 0) {
			EVP_DigestUpdate(ctx, x->buf, got);
			total += got;
		}
	}
	sv_objects_reader_free(r);
	if (rc == 0 && total != len)
		rc = sv_error_set(SV_ECORRUPT, "%s: its payload %s has %llu bytes, its record says %llu", c->url,
				  c->sha256, (unsigned long long)total, (unsigned long long)len);
	else if (rc)
		rc = sv_error_prefix("%s: its payload %s", c->url, c->sha256);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	hex_of(md, out);
	return rc;
}

/* Writes one record whose block is head and then the payload d (len bytes). */
static int write_block(exporter *x, sv_warc_header *h, const sv_capture *c, const sv_digest *d, const char *head,
		       size_t head_len, uint64_t len, cdx_entry *tag)
{
	payload_src p;
	char bd[SV_DIGEST_HEX_LEN + 8];
	int rc = block_digest(x, c, d, head, head_len, len, &p, bd);
	if (rc)
		return rc;
	sv_warc_header_add(h, "WARC-Block-Digest", bd);
	if ((rc = sv_warc_header_end(h, head_len + len)))
		return rc;
	if (!p.mem && len > 0 && (rc = sv_objects_reader_open(&p.r, x->store, d)))
		return sv_error_prefix("%s: its payload %s", c->url, c->sha256);
	rc = sv_warc_write(x->w, h->buf, h->len, head, head_len, len, read_payload, &p, tag);
	sv_objects_reader_free(p.r);
	if (rc == SV_ECORRUPT)
		rc = sv_error_prefix("%s: its payload %s", c->url, c->sha256);
	if (rc == 0) {
		x->st.records++;
		x->st.payload_bytes += len;
	}
	return rc;
}

/* A copy of the header block with Transfer-Encoding renamed: the body is kept
 * de-chunked, so a reader must not de-chunk it again (as Common Crawl does). */
static char *http_head(const sv_capture *c, size_t *len)
{
	static const char te[] = "transfer-encoding:", renamed[] = "X-Crawler-Transfer-Encoding:";
	size_t n = c->headers_len, extra = 0;
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(c->headers + i, '\n', n - i);
		size_t l = nl ? (size_t)(nl - (c->headers + i)) + 1 : n - i;
		if (l > sizeof(te) - 1 && !strncasecmp(c->headers + i, te, sizeof(te) - 1))
			extra += sizeof(renamed) - sizeof(te);
		i += l;
	}
	char *out = malloc(n + extra + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(c->headers + i, '\n', n - i);
		size_t l = nl ? (size_t)(nl - (c->headers + i)) + 1 : n - i;
		if (l > sizeof(te) - 1 && !strncasecmp(c->headers + i, te, sizeof(te) - 1)) {
			memcpy(o, renamed, sizeof(renamed) - 1);
			o += sizeof(renamed) - 1;
			memcpy(o, c->headers + i + sizeof(te) - 1, l - (sizeof(te) - 1));
			o += l - (sizeof(te) - 1);
		} else {
			memcpy(o, c->headers + i, l);
			o += l;
		}
		i += l;
	}
	*len = (size_t)(o - out);
	return out;
}

/* The first time a payload was written in this export: 1 and its URI and date, or 0 (and it is now). */
static int seen_before(exporter *x, const sv_capture *c, char **uri, char **date, char **id)
{
	*uri = *date = *id = NULL;
	sqlite3_reset(x->seen);
	sqlite3_bind_text(x->seen, 1, c->sha256, -1, SQLITE_STATIC);
	int s = sqlite3_step(x->seen);
	if (s == SQLITE_ROW) {
		*uri = strdup((const char *)sqlite3_column_text(x->seen, 0));
		*date = strdup((const char *)sqlite3_column_text(x->seen, 1));
		*id = strdup((const char *)sqlite3_column_text(x->seen, 2));
		sqlite3_reset(x->seen);
		return *uri && *date && *id ? 1 : sv_error_set(SV_EIO, "out of memory");
	}
	if (s != SQLITE_DONE)
		return db_fail(x, "look up a payload");
	return 0;
}

static int note_first(exporter *x, const sv_capture *c, const char *id)
{
	sqlite3_reset(x->add_seen);
	sqlite3_bind_text(x->add_seen, 1, c->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(x->add_seen, 2, c->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(x->add_seen, 3, c->ts ? c->ts : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(x->add_seen, 4, id, -1, SQLITE_STATIC);
	return sqlite3_step(x->add_seen) == SQLITE_DONE ? 0 : db_fail(x, "note a payload");
}

static void begin(sv_warc_header *h, exporter *x, const char *type, const char *id, const sv_capture *c)
{
	char b[SV_CAPTURE_ID_LEN + 2];
	sv_warc_header_begin(h, type);
	snprintf(b, sizeof(b), "<%s>", id);
	sv_warc_header_add(h, "WARC-Record-ID", b);
	sv_warc_header_add(h, "WARC-Date", c->ts);
	sv_warc_header_add(h, "WARC-Target-URI", c->url);
	snprintf(b, sizeof(b), "<%s>", x->warcinfo_id);
	sv_warc_header_add(h, "WARC-Warcinfo-ID", b);
}

/* The catalog dataset a capture is part of (its record's "dataset"), as fields: "dataset-identifier: ...". */
static int put_dataset_fields(FILE *m, const char *dataset)
{
	json_t *ds = dataset ? json_loads(dataset, 0, NULL) : NULL;
	const char *key;
	json_t *v;
	char name[96];
	int n = 0;
	json_object_foreach(ds, key, v) {
		if (!json_string_value(v))
			continue;
		snprintf(name, sizeof(name), "dataset-%s", key);
		for (char *p = name; *p; p++)
			*p = *p == '_' ? '-' : *p;
		put_field(m, name, json_string_value(v));
		n++;
	}
	json_decref(ds);
	return n;
}

/* What a capture without a payload says, as application/warc-fields. */
static int write_failure(exporter *x, const sv_capture *c, const char *id)
{
	sv_warc_header h;
	char *block = NULL;
	size_t blen = 0;
	FILE *m = open_memstream(&block, &blen);
	if (!m)
		return sv_error_set(SV_EIO, "out of memory");
	fprintf(m, "salvage-outcome: %s\r\n", c->error ? "not rescued" : "no payload");
	if (c->status > 0)
		fprintf(m, "http-status: %d\r\n", c->status);
	const char *fields[][2] = {{"error", c->error}, {"kind", sv_kind_name(c->kind)}, {"via", c->via},
				   {"redirect", c->redirect}, {"truncated", c->truncated}, {"node", c->node}};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i][1])
			put_field(m, fields[i][0], fields[i][1]);
	if (c->attempt > 0)
		fprintf(m, "attempt: %d\r\n", c->attempt);
	put_dataset_fields(m, c->dataset);
	if (fclose(m) != 0) {
		free(block);
		return sv_error_set(SV_EIO, "out of memory");
	}
	begin(&h, x, "metadata", id, c);
	sv_warc_header_add(&h, "WARC-IP-Address", c->ip);
	sv_warc_header_add(&h, "Content-Type", "application/warc-fields");
	int rc = write_block(x, &h, c, NULL, block, blen, 0, NULL);
	sv_warc_header_free(&h);
	free(block);
	if (rc == 0)
		x->st.failures++;
	return rc;
}

/* A capture of a catalog's dataset: a metadata record about its record (WARC-Concurrent-To), the dataset's fields. */
static int write_dataset(exporter *x, const sv_capture *c, const char *about)
{
	char *block = NULL, id[SV_CAPTURE_ID_LEN], b[SV_CAPTURE_ID_LEN + 2];
	size_t blen = 0;
	sv_warc_header h;
	int rc, n;
	if (!c->dataset)
		return 0;
	FILE *m = open_memstream(&block, &blen);
	if (!m)
		return sv_error_set(SV_EIO, "out of memory");
	n = put_dataset_fields(m, c->dataset);
	if (fclose(m) != 0 || n == 0) {
		free(block);
		return n ? sv_error_set(SV_EIO, "out of memory") : 0;
	}
	derived_id(id, "dataset ", about, strlen(about));
	begin(&h, x, "metadata", id, c);
	snprintf(b, sizeof(b), "<%s>", about);
	sv_warc_header_add(&h, "WARC-Concurrent-To", b);
	sv_warc_header_add(&h, "Content-Type", "application/warc-fields");
	rc = write_block(x, &h, c, NULL, block, blen, 0, NULL);
	sv_warc_header_free(&h);
	free(block);
	return rc;
}

static int export_capture(exporter *x, const sv_capture *c, const char *record, size_t record_len)
{
	char id[SV_CAPTURE_ID_LEN], req_id[SV_CAPTURE_ID_LEN], b[SV_CAPTURE_ID_LEN + 2], pd[SV_DIGEST_HEX_LEN + 8];
	sv_warc_header h;
	sv_digest d;
	cdx_entry *e;
	int rc = 0;
	if (c->id && strlen(c->id) == SV_CAPTURE_ID_LEN - 1 && !strncmp(c->id, "urn:uuid:", 9))
		snprintf(id, sizeof(id), "%s", c->id);
	else
		derived_id(id, "capture ", record, record_len);
	if (!c->sha256 || sv_digest_from_hex(&d, c->sha256) != 0 || c->length < 0)
		return write_failure(x, c, id);
	snprintf(pd, sizeof(pd), "sha256:%s", c->sha256);
	int http = c->headers && c->headers_len > 0 && !c->headers_truncated && c->status > 0;
	/* headers only: the payload stays out of every block, said by WARC-Truncated */
	const char *truncated = x->o->headers_only && c->length > 0 ? "length" : c->truncated;
	uint64_t body = x->o->headers_only ? 0 : (uint64_t)c->length;
	if (!http) {
		begin(&h, x, "resource", id, c);
		sv_warc_header_add(&h, "Content-Type", c->mime ? c->mime : "application/octet-stream");
		sv_warc_header_add(&h, "WARC-Payload-Digest", pd);
		sv_warc_header_add(&h, "WARC-Truncated", truncated);
		e = cdx_new(x, c, c->mime ? c->mime : "application/octet-stream", 0);
		rc = e ? write_block(x, &h, c, &d, NULL, 0, body, e) : SV_EIO;
		sv_warc_header_free(&h);
		return rc ? rc : write_dataset(x, c, id);
	}
	size_t head_len = 0;
	char *head = http_head(c, &head_len), *ref_uri = NULL, *ref_date = NULL, *ref_id = NULL;
	if (!head)
		return sv_error_set(SV_EIO, "out of memory");
	int revisit = 0;
	if (c->length > 0 && !x->o->headers_only && (revisit = seen_before(x, c, &ref_uri, &ref_date, &ref_id)) < 0) {
		free(head);
		return revisit;
	}
	derived_id(req_id, "request ", id, strlen(id));
	int has_request = c->request && c->request_len > 0;
	if (has_request) {
		begin(&h, x, "request", req_id, c);
		sv_warc_header_add(&h, "WARC-IP-Address", c->ip);
		snprintf(b, sizeof(b), "<%s>", id);
		sv_warc_header_add(&h, "WARC-Concurrent-To", b);
		sv_warc_header_add(&h, "Content-Type", "application/http;msgtype=request");
		rc = write_block(x, &h, c, NULL, c->request, c->request_len, 0, NULL);
		sv_warc_header_free(&h);
	}
	if (rc == 0) {
		begin(&h, x, revisit ? "revisit" : "response", id, c);
		sv_warc_header_add(&h, "WARC-IP-Address", c->ip);
		if (has_request) {
			snprintf(b, sizeof(b), "<%s>", req_id);
			sv_warc_header_add(&h, "WARC-Concurrent-To", b);
		}
		sv_warc_header_add(&h, "Content-Type", "application/http;msgtype=response");
		sv_warc_header_add(&h, "WARC-Payload-Digest", pd);
		if (revisit) {
			sv_warc_header_add(&h, "WARC-Profile",
					   "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest");
			sv_warc_header_add(&h, "WARC-Refers-To-Target-URI", ref_uri);
			sv_warc_header_add(&h, "WARC-Refers-To-Date", ref_date);
			snprintf(b, sizeof(b), "<%s>", ref_id);
			sv_warc_header_add(&h, "WARC-Refers-To", b);
			e = cdx_new(x, c, "warc/revisit", c->status);
			rc = e ? write_block(x, &h, c, NULL, head, head_len, 0, e) : SV_EIO;
			if (rc == 0)
				x->st.revisits++;
		} else {
			sv_warc_header_add(&h, "WARC-Truncated", truncated);
			e = cdx_new(x, c, c->mime, c->status);
			rc = e ? write_block(x, &h, c, &d, head, head_len, body, e) : SV_EIO;
			if (rc == 0 && body > 0)
				rc = note_first(x, c, id);
		}
		sv_warc_header_free(&h);
	}
	free(head);
	free(ref_uri);
	free(ref_date);
	free(ref_id);
	return rc ? rc : write_dataset(x, c, id);
}

static int on_row(void *ctx, const sv_index_row *row)
{
	exporter *x = ctx;
	sv_capture_parsed p;
	size_t len = strlen(row->record);
	int rc;
	if (sv_capture_parse(&p, row->record, len) != 0) {
		sv_capture_parsed_clear(&p);
		return 0; /* the index holds only records it could read */
	}
	const sv_capture *c = &p.c;
	if ((x->o->seed >= 0 && c->seed != x->o->seed) ||
	    (x->o->since && (!c->ts || strcmp(c->ts, x->o->since) < 0))) {
		sv_capture_parsed_clear(&p);
		return 0;
	}
	rc = 0;
	if (x->w && x->file_captures > 0 && sv_warc_offset(x->w) >= (x->o->max_size ? x->o->max_size : DEFAULT_MAX_SIZE)) {
		if ((rc = close_part(x, 1)) == 0) {
			x->part++;
			rc = open_part(x);
		}
	}
	if (rc == 0 && !x->w)
		rc = open_part(x);
	if (rc == 0 && (rc = export_capture(x, c, row->record, len)) == 0 && x->o->exported)
		rc = x->o->exported(x->o->ctx, c);
	if (rc == 0 && (rc = x->cb_rc) == 0) {
		x->st.captures++;
		x->file_captures++;
		if (x->o->progress) {
			sv_export_stats s = x->st;
			s.bytes += sv_warc_offset(x->w);
			x->o->progress(x->o->ctx, &s);
		}
	}
	sv_capture_parsed_clear(&p);
	x->rc = rc;
	return rc ? 1 : 0;
}

static int open_db(exporter *x)
{
	char *path = NULL;
	if (asprintf(&path, "%s/export-%ld.db", x->o->tmp_dir ? x->o->tmp_dir : "/tmp", (long)getpid()) < 0)
		return sv_error_set(SV_EIO, "out of memory");
	unlink(path);
	int s = sqlite3_open_v2(path, &x->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	unlink(path); /* an open file with no name: gone with the process */
	free(path);
	if (s != SQLITE_OK)
		return db_fail(x, "open its work space");
	if (sqlite3_exec(x->db,
			 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
			 "CREATE TABLE cdx(part INTEGER, line BLOB);"
			 "CREATE TABLE seen(sha256 TEXT PRIMARY KEY, uri TEXT, date TEXT, id TEXT);",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(x->db, "INSERT INTO cdx VALUES(?, ?)", -1, &x->add_cdx, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(x->db, "SELECT uri, date, id FROM seen WHERE sha256 = ?", -1, &x->seen, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(x->db, "INSERT INTO seen VALUES(?, ?, ?, ?)", -1, &x->add_seen, NULL) != SQLITE_OK)
		return db_fail(x, "set up its work space");
	return 0;
}

int sv_export_warc(sv_index *ix, const sv_objects *store, const sv_export_warc_options *o, sv_export_stats *stats)
{
	exporter x;
	memset(&x, 0, sizeof(x));
	x.o = o;
	x.store = store;
	x.fd = -1;
	int rc = sv_warc_codec_of(o->path, &x.codec);
	if (rc == 0 && !(x.buf = malloc(SMALL_PAYLOAD + 1)))
		rc = sv_error_set(SV_EIO, "out of memory");
	if (rc == 0)
		rc = open_db(&x);
	if (rc == 0 && (rc = sv_index_list(ix, "", on_row, &x)) == 1)
		rc = x.rc;
	if (rc == 0 && !x.w)
		rc = open_part(&x); /* nothing matched: a WARC with its warcinfo only */
	int crc = close_part(&x, rc == 0);
	if (rc == 0)
		rc = crc;
	while (x.cdx_head) { /* records never written, after a failure */
		cdx_entry *e = x.cdx_head;
		x.cdx_head = e->next;
		cdx_free(e);
	}
	x.st.file = NULL;
	if (stats)
		*stats = x.st;
	sqlite3_finalize(x.add_cdx);
	sqlite3_finalize(x.seen);
	sqlite3_finalize(x.add_seen);
	sqlite3_close(x.db);
	free(x.buf);
	return rc;
}
