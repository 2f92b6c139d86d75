/*
 * storage/transport_s3_multipart.c -- S3 multipart uploads, for files too
 * large for one PUT (S3 refuses a single PUT over 5 GiB): CreateMultipartUpload,
 * the parts in parallel over the transport's multi handle (UploadPart, each
 * with its own SHA-256), CompleteMultipartUpload; AbortMultipartUpload and
 * ListMultipartUploads for uploads left behind.
 *
 * Resuming: each upload under way has a state file in the transport's
 * mp_state_dir, named after the remote name ('/' as '+'):
 *   upload SIZE PARTSIZE UPLOADID
 *   part N ETAG            (one line per stored part, appended)
 * A part's line is written, and fdatasync'd, only once the server has stored
 * the part, so a push killed at any point (kill -9 included) loses at most the
 * parts in flight; the next push sends only the parts without a line. A torn
 * last line is ignored. A state file made for another size or part size is
 * dropped and its upload aborted, never mixed with new parts.
 *
 * What must stay true: the object appears under its name only when the
 * upload completes; no secret reaches a message (all go through
 * sv_transport_fail); replies are kept only up to MP_REPLY_MAX.
 */
#include "transport_backend.h"

#include "../common/error.h"
#include "../common/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MP_REPLY_MAX (1u << 20) /* an Initiate, Complete or ListMultipartUploads reply */
#define MP_ID_MAX 1024
#define MP_LINE_MAX (MP_ID_MAX + 128)

typedef struct {
	sv_transport *t;
	const put_item *it;
	int64_t size, part; /* the file's bytes, and each part's (the last may be shorter) */
	unsigned nparts;
	char id[MP_ID_MAX];   /* "" until the upload is created */
	char (*etags)[128];   /* one per part; "" until the server stored it */
	char *path;           /* the state file, or NULL when uploads are not resumed */
	int fd;               /* the state file open for appending, or -1 */
	unsigned *todo;       /* the parts of this round */
	int first;            /* the round's first failure, its message in first_msg */
	char *first_msg;
	int gone; /* the server no longer knows the upload id */
} upload;

/* ---- the state file ------------------------------------------------------------------- */

static char *state_path(const sv_transport *t, const char *name)
{
	char *path, *p;
	if (!t->mp_state_dir || asprintf(&path, "%s/%s.upload", t->mp_state_dir, name) < 0)
		return NULL;
	for (p = path + strlen(t->mp_state_dir) + 1; *p; p++)
		if (*p == '/')
			*p = '+';
	return path;
}

/* Reads the state file, if there is one for this size and part size; (id, size, part) of one that is not into old. */
static void state_load(upload *u, char *old_id, size_t cap)
{
	char line[MP_LINE_MAX];
	FILE *f = u->path ? fopen(u->path, "re") : NULL;
	long long size, part;
	old_id[0] = '\0';
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && strchr(line, '\n') &&
	    sscanf(line, "upload %lld %lld %1023s", &size, &part, u->id) == 3) {
		if (size != u->size || part != u->part) {
			snprintf(old_id, cap, "%s", u->id);
			u->id[0] = '\0';
		}
	} else {
		u->id[0] = '\0';
	}
	while (u->id[0] && fgets(line, sizeof(line), f) && strchr(line, '\n')) {
		unsigned k;
		char etag[128];
		if (sscanf(line, "part %u %127s", &k, etag) == 2 && k >= 1 && k <= u->nparts)
			snprintf(u->etags[k - 1], sizeof(u->etags[0]), "%s", etag);
	}
	fclose(f);
}

static int state_fail(upload *u, const char *what)
{
	return sv_transport_fail(u->t, SV_EIO, "cannot put '%s': cannot %s '%s': %s", u->it->name, what, u->path,
				 strerror(errno));
}

/* A fresh state file naming the new upload, durable before any part is sent. */
static int state_create(upload *u)
{
	char *tmp = NULL, line[MP_LINE_MAX];
	int fd = -1, rc = 0, n;
	if (!u->path)
		return 0;
	if (mkdir(u->t->mp_state_dir, 0755) != 0 && errno != EEXIST)
		return sv_transport_fail(u->t, SV_EIO, "cannot put '%s': cannot create '%s': %s", u->it->name,
					 u->t->mp_state_dir, strerror(errno));
	if (asprintf(&tmp, "%s.new", u->path) < 0)
		return sv_transport_oom(u->t);
	n = snprintf(line, sizeof(line), "upload %lld %lld %s\n", (long long)u->size, (long long)u->part, u->id);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    sv_transport_write_all(fd, line, (size_t)n) != 0 || fsync(fd) != 0 || rename(tmp, u->path) != 0 ||
	    sv_path_fsync_dir(u->t->mp_state_dir) != 0)
		rc = state_fail(u, "write");
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Records a stored part: one write, made durable. */
static int state_part(upload *u, unsigned k)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "part %u %s\n", k + 1, u->etags[k]);
	if (!u->path)
		return 0;
	if (u->fd < 0 && (u->fd = open(u->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		return state_fail(u, "open");
	if (sv_transport_write_all(u->fd, line, (size_t)n) != 0 || fdatasync(u->fd) != 0)
		return state_fail(u, "write");
	return 0;
}

static void state_drop(upload *u)
{
	if (u->path)
		unlink(u->path);
}

/* ---- requests ----------------------------------------------------------------------- */

/* NAME's URL with a query (already encoded and sorted, as SigV4 signs it as sent). */
static char *query_url(sv_transport *t, const char *name, const char *fmt, const char *a, const char *b)
{
	char *base = sv_transport_remote_url(t, name, 0), *url = NULL;
	char *ea = a ? sv_transport_s3_query_encode(a) : NULL, *eb = b ? sv_transport_s3_query_encode(b) : NULL;
	char query[64 + 3 * (MP_ID_MAX + SV_TRANSPORT_NAME_MAX)];
	if (base && (!a || ea) && (!b || eb)) {
		snprintf(query, sizeof(query), fmt, ea ? ea : "", eb ? eb : "");
		if (asprintf(&url, "%s?%s", base, query) < 0)
			url = NULL;
	}
	free(base);
	free(ea);
	free(eb);
	return url;
}

/* Runs one request (a POST sends body, or nothing) and keeps its reply in j->body; j is the caller's to clear. */
static int small_request(sv_transport *t, job *j, const char *method, char *url, const char *body)
{
	put_item it = {NULL, body ? body : "", body ? strlen(body) : 0, ""};
	char hex[2 * 64 + 1] = EMPTY_SHA256;
	int rc;
	sv_transport_job_init(j, t);
	j->url = url;
	j->method = strcmp(method, "GET") ? method : NULL;
	j->to_body = 1;
	j->body_max = MP_REPLY_MAX;
	if (!url)
		return sv_transport_oom(t);
	if (strcmp(method, "POST") == 0 &&
	    ((rc = sv_transport_put_source(t, &it, j)) != 0 || (rc = sv_transport_s3_body_sha256(t, &it, j, hex)) != 0))
		return rc;
	if ((rc = sv_transport_s3_headers(t, j, hex)) != 0)
		return rc;
	return sv_transport_run_one(t, j);
}

/* The root element of a reply, if it is named root_name; its document into *doc (free it). */
static xmlNodePtr reply_root(const job *j, const char *root_name, xmlDocPtr *doc)
{
	xmlNodePtr root;
	*doc = j->body ? sv_transport_xml_parse(j->body, j->body_len) : NULL;
	root = *doc ? xmlDocGetRootElement(*doc) : NULL;
	return root && strcmp((const char *)root->name, root_name) == 0 ? root : NULL;
}

/* 1 if the reply is S3's error `code`. */
static int reply_error_is(const job *j, const char *code)
{
	char buf[64];
	xmlDocPtr doc;
	xmlNodePtr root = reply_root(j, "Error", &doc);
	int is = root && strcmp(sv_transport_xml_text(sv_transport_xml_child(root, "Code"), buf, sizeof(buf)), code) == 0;
	xmlFreeDoc(doc);
	return is;
}

static int create(upload *u)
{
	job j;
	xmlDocPtr doc = NULL;
	xmlNodePtr root;
	int rc = small_request(u->t, &j, "POST", query_url(u->t, u->it->name, "uploads=", NULL, NULL), NULL);
	if (rc == 0 && !sv_transport_job_ok(&j))
		rc = sv_transport_job_error(&j, "start a multipart upload of", u->it->name);
	if (rc == 0) {
		root = reply_root(&j, "InitiateMultipartUploadResult", &doc);
		sv_transport_xml_text(sv_transport_xml_child(root, "UploadId"), u->id, sizeof(u->id));
		if (!u->id[0] || strlen(u->id) + 1 >= sizeof(u->id) || strpbrk(u->id, " \t\r\n"))
			rc = sv_transport_fail(u->t, SV_EIO, "cannot put '%s': the server gave no usable upload id",
					       u->it->name);
	}
	xmlFreeDoc(doc);
	sv_transport_job_clear(&j);
	return rc;
}

/* Aborts upload id of name; its own error, if any, is kept from the message of the caller. */
static int abort_upload(sv_transport *t, const char *name, const char *id)
{
	job j;
	int rc = small_request(t, &j, "DELETE", query_url(t, name, "uploadId=%s", id, NULL), NULL);
	if (rc == 0 && !sv_transport_job_ok(&j) && !reply_error_is(&j, "NoSuchUpload"))
		rc = sv_transport_job_error(&j, "abort the multipart upload of", name);
	sv_transport_job_clear(&j);
	return rc;
}

static void abort_quietly(sv_transport *t, const char *name, const char *id)
{
	char *kept = strdup(sv_error_last());
	abort_upload(t, name, id);
	if (kept)
		sv_error_set(SV_EIO, "%s", kept);
	free(kept);
}

static int part_prepare(void *ctx, size_t i, job *j)
{
	upload *u = ctx;
	unsigned k = u->todo[i];
	char hex[2 * 64 + 1], num[16];
	int rc;
	if ((rc = sv_transport_put_source(u->t, u->it, j)) != 0)
		return rc;
	if (j->size != u->size)
		return sv_transport_fail(u->t, SV_EIO, "cannot put '%s': '%s' changed size during the upload",
					 u->it->name, u->it->local);
	j->in_off = (int64_t)k * u->part;
	j->size = u->size - j->in_off < u->part ? u->size - j->in_off : u->part;
	snprintf(num, sizeof(num), "%u", k + 1);
	if ((rc = sv_transport_s3_body_sha256(u->t, u->it, j, hex)) != 0 ||
	    (rc = sv_transport_s3_headers(u->t, j, hex)) != 0)
		return rc;
	if (!(j->url = query_url(u->t, u->it->name, "partNumber=%s&uploadId=%s", num, u->id)))
		return sv_transport_oom(u->t);
	return 0;
}

static void part_complete(void *ctx, job *j)
{
	upload *u = ctx;
	unsigned k = u->todo[j->index];
	int rc;
	if (!sv_transport_job_ok(j)) {
		u->gone |= reply_error_is(j, "NoSuchUpload");
		rc = sv_transport_job_error(j, "put", u->it->name);
	} else if (!j->etag[0] || strpbrk(j->etag, " \t")) {
		rc = sv_transport_fail(u->t, SV_EIO, "cannot put '%s': the server gave part %u no ETag", u->it->name, k + 1);
	} else {
		snprintf(u->etags[k], sizeof(u->etags[0]), "%s", j->etag);
		rc = state_part(u, k);
	}
	if (rc && !u->first) {
		u->first = rc;
		u->first_msg = strdup(sv_error_last());
	}
}

char *sv_transport_s3_complete_xml(const char (*etags)[128], unsigned n)
{
	static const char head[] = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
	static const char tail[] = "</CompleteMultipartUpload>";
	size_t cap = sizeof(head) + sizeof(tail) + (size_t)n * (64 + 5 * 128), o = 0;
	char *xml = malloc(cap);
	if (!xml)
		return NULL;
	o += (size_t)snprintf(xml, cap, "%s", head);
	for (unsigned k = 0; k < n; k++) {
		o += (size_t)snprintf(xml + o, cap - o, "<Part><PartNumber>%u</PartNumber><ETag>", k + 1);
		for (const char *p = etags[k]; *p; p++) {
			const char *esc = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
			if (esc)
				o += (size_t)snprintf(xml + o, cap - o, "%s", esc);
			else
				xml[o++] = *p;
		}
		o += (size_t)snprintf(xml + o, cap - o, "</ETag></Part>");
	}
	snprintf(xml + o, cap - o, "%s", tail);
	return xml;
}

/* 1 if NAME is on the server with size bytes (a completion whose reply was lost). */
static int stored_already(upload *u)
{
	int64_t size = -1;
	char *kept = strdup(sv_error_last());
	int there = u->t->ops.stat(u->t, u->it->name, &size) == 0 && size == u->size;
	if (kept)
		sv_error_set(SV_EIO, "%s", kept);
	free(kept);
	return there;
}

static int complete(upload *u)
{
	job j;
	xmlDocPtr doc = NULL;
	char *xml = sv_transport_s3_complete_xml((const char(*)[128])u->etags, u->nparts);
	int rc;
	if (!xml)
		return sv_transport_oom(u->t);
	rc = small_request(u->t, &j, "POST", query_url(u->t, u->it->name, "uploadId=%s", u->id, NULL), xml);
	/* S3 may answer 200 and still fail: the reply says which. */
	if (rc == 0 && (!sv_transport_job_ok(&j) || !reply_root(&j, "CompleteMultipartUploadResult", &doc))) {
		u->gone = reply_error_is(&j, "NoSuchUpload") || reply_error_is(&j, "InvalidPart");
		if (sv_transport_job_ok(&j))
			j.status = 500; /* for job_error: the Error document explains it */
		rc = sv_transport_job_error(&j, "complete the multipart upload of", u->it->name);
	}
	xmlFreeDoc(doc);
	sv_transport_job_clear(&j);
	free(xml);
	return rc;
}

int sv_transport_s3_multipart(sv_transport *t, const put_item *it, int64_t size)
{
	upload u;
	char old_id[MP_ID_MAX];
	size_t ntodo = 0;
	int rc = 0;

	memset(&u, 0, sizeof(u));
	u.t = t;
	u.it = it;
	u.fd = -1;
	u.size = size;
	u.part = t->mp_part_size;
	if ((size + u.part - 1) / u.part > MP_MAX_PARTS)
		u.part = (size + MP_MAX_PARTS - 1) / MP_MAX_PARTS;
	u.nparts = (unsigned)((size + u.part - 1) / u.part);
	if (!(u.etags = calloc(u.nparts, sizeof(*u.etags))) || !(u.todo = calloc(u.nparts, sizeof(*u.todo))) ||
	    (t->mp_state_dir && !(u.path = state_path(t, it->name)))) {
		rc = sv_transport_oom(t);
		goto done;
	}
	state_load(&u, old_id, sizeof(old_id));
	if (old_id[0]) {
		abort_quietly(t, it->name, old_id);
		state_drop(&u);
	}
	if (!u.id[0] && ((rc = create(&u)) != 0 || (rc = state_create(&u)) != 0))
		goto done;
	for (unsigned k = 0; k < u.nparts; k++)
		if (!u.etags[k][0])
			u.todo[ntodo++] = k;
	if (ntodo && (rc = sv_transport_run_batch(t, ntodo, part_prepare, part_complete, &u)) == 0 && u.first)
		rc = sv_error_set(u.first, "%s", u.first_msg ? u.first_msg : "a part failed");
	if (rc == 0)
		rc = complete(&u);
	if (rc && u.gone && stored_already(&u))
		rc = 0;
	if (rc == 0 || u.gone) /* done, or nothing left to resume: the next push starts afresh */
		state_drop(&u);
done:
	if (u.fd >= 0)
		close(u.fd);
	free(u.path);
	free(u.etags);
	free(u.todo);
	free(u.first_msg);
	return rc;
}

/* ---- uploads left behind ---------------------------------------------------------------- */

static int64_t parse_time(const char *s)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	if (!(end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) || (*end && *end != '.' && *end != 'Z'))
		return -1;
	return (int64_t)timegm(&tm);
}

int sv_transport_s3_parse_uploads(const char *body, size_t len, sv_s3_upload_fn fn, void *ctx, char **next_key,
				  char **next_id)
{
	xmlDocPtr doc = sv_transport_xml_parse(body, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char key[SV_TRANSPORT_NAME_MAX + 512], id[MP_ID_MAX], when[64], truncated[16];
	int rc = 0;
	*next_key = *next_id = NULL;
	if (!root || strcmp((const char *)root->name, "ListMultipartUploadsResult") != 0) {
		xmlFreeDoc(doc);
		return SV_EIO;
	}
	for (xmlNodePtr c = root->children; c && !rc; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Upload") != 0)
			continue;
		sv_transport_xml_text(sv_transport_xml_child(c, "Key"), key, sizeof(key));
		sv_transport_xml_text(sv_transport_xml_child(c, "UploadId"), id, sizeof(id));
		sv_transport_xml_text(sv_transport_xml_child(c, "Initiated"), when, sizeof(when));
		if (key[0] && id[0])
			rc = fn(ctx, key, id, parse_time(when));
	}
	sv_transport_xml_text(sv_transport_xml_child(root, "IsTruncated"), truncated, sizeof(truncated));
	if (!rc && strcmp(truncated, "true") == 0) {
		sv_transport_xml_text(sv_transport_xml_child(root, "NextKeyMarker"), key, sizeof(key));
		sv_transport_xml_text(sv_transport_xml_child(root, "NextUploadIdMarker"), id, sizeof(id));
		if (!key[0] || !(*next_key = strdup(key)) || !(*next_id = strdup(id))) {
			free(*next_key);
			*next_key = NULL;
			rc = SV_EIO;
		}
	}
	xmlFreeDoc(doc);
	return rc;
}

typedef struct {
	sv_transport *t;
	const char *key_prefix;
	int64_t before;
	size_t removed;
} stale_state;

/* Aborts an upload under our folder begun before s->before, unless a state file of ours resumes it. */
static int stale_upload(void *ctx, const char *key, const char *upload_id, int64_t initiated)
{
	stale_state *s = ctx;
	size_t plen = strlen(s->t->prefix);
	const char *name = key + (plen ? plen + 1 : 0);
	if (strncmp(key, s->key_prefix, strlen(s->key_prefix)) != 0 || !sv_transport_name_ok(name, 0) || initiated < 0 ||
	    initiated >= s->before)
		return 0;
	if (s->t->mp_state_dir) {
		char *path = state_path(s->t, name), line[MP_LINE_MAX], id[MP_ID_MAX];
		FILE *f = path ? fopen(path, "re") : NULL;
		long long a, b;
		int ours = f && fgets(line, sizeof(line), f) && sscanf(line, "upload %lld %lld %1023s", &a, &b, id) == 3 &&
			   strcmp(id, upload_id) == 0;
		if (f)
			fclose(f);
		free(path);
		if (ours)
			return 0;
	}
	if (abort_upload(s->t, name, upload_id) == 0)
		s->removed++;
	return 0;
}

int sv_transport_s3_clean_uploads(sv_transport *t, const char *dir, int64_t before, size_t *removed)
{
	stale_state s = {t, NULL, before, 0};
	char *key_prefix = NULL, *marker_key = NULL, *marker_id = NULL;
	int rc = 0;
	if (asprintf(&key_prefix, "%s%s%s%s", t->prefix, *t->prefix && *dir ? "/" : "", dir,
		     *t->prefix || *dir ? "/" : "") < 0)
		return sv_transport_oom(t);
	s.key_prefix = key_prefix;
	do {
		job j;
		/* The bucket's URL, ENDPOINT/bucket?..., its query sorted as SigV4 signs it. */
		char *ek = marker_key ? sv_transport_s3_query_encode(marker_key) : NULL;
		char *ei = marker_key ? sv_transport_s3_query_encode(marker_id ? marker_id : "") : NULL;
		char *ep = sv_transport_s3_query_encode(key_prefix), *url = NULL;
		if (ep && (!marker_key || (ek && ei)) &&
		    asprintf(&url, "%s?%s%s%sprefix=%s%s%s&uploads=", t->base_url, marker_key ? "key-marker=" : "",
			     marker_key ? ek : "", marker_key ? "&" : "", ep, marker_key ? "&upload-id-marker=" : "",
			     marker_key ? ei : "") < 0)
			url = NULL;
		free(ek);
		free(ei);
		free(ep);
		free(marker_key);
		free(marker_id);
		marker_key = marker_id = NULL;
		rc = small_request(t, &j, "GET", url, NULL);
		if (rc == 0 && !sv_transport_job_ok(&j)) {
			/* Servers without ListMultipartUploads (test servers) have nothing to clean this way. */
			if (j.status != 501 && !reply_error_is(&j, "NotImplemented"))
				rc = sv_transport_job_error(&j, "list the multipart uploads under", *dir ? dir : ".");
			sv_transport_job_clear(&j);
			break;
		}
		if (rc == 0 && sv_transport_s3_parse_uploads(j.body, j.body_len, stale_upload, &s, &marker_key, &marker_id))
			rc = sv_transport_fail(t, SV_EIO, "cannot list the multipart uploads under '%s': a bad reply",
					       *dir ? dir : ".");
		sv_transport_job_clear(&j);
	} while (rc == 0 && marker_key);
	free(marker_key);
	free(marker_id);
	free(key_prefix);
	if (removed)
		*removed = s.removed;
	return rc;
}
