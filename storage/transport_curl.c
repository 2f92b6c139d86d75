/*
 * storage/transport_curl.c -- the libcurl request runner of the sftp and s3
 * transports: a request (job) is set up on an easy handle of the transport's
 * pool and run with others over one curl multi handle (so connections are
 * reused between calls), at most `limit` at a time, in the shape of curl's
 * 10-at-a-time example. Also what replies share: the reading of HTTP error
 * documents (XML) into messages, GETs and the upload sources of puts.
 *
 * What must stay true: nothing read from the network is kept without a bound
 * (ERROR_BODY_MAX, or the job's own body_max and max); only the transport's
 * one protocol is used and redirects are not followed; every message goes
 * through sv_transport_fail(), which keeps secrets out.
 */
#include "transport_backend.h"

#include "../common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>

/* ---- requests ------------------------------------------------------------------------- */

static pthread_once_t libs_once = PTHREAD_ONCE_INIT;
static CURLcode libs_rc;

static void libs_init(void)
{
	libs_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

int sv_transport_curl_init(void)
{
	pthread_once(&libs_once, libs_init);
	return libs_rc == CURLE_OK ? 0 : SV_EIO;
}

int sv_transport_curl_start(sv_transport *t)
{
	if (!(t->multi = curl_multi_init()) || !(t->pool = calloc(t->limit, sizeof(*t->pool))))
		return sv_transport_oom(t);
	curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)t->limit);
	return 0;
}

void sv_transport_curl_close(sv_transport *t)
{
	for (size_t k = 0; t->pool && k < t->limit; k++)
		if (t->pool[k])
			curl_easy_cleanup(t->pool[k]);
	free(t->pool);
	if (t->multi)
		curl_multi_cleanup(t->multi);
}


void sv_transport_job_init(job *j, sv_transport *t)
{
	memset(j, 0, sizeof(*j));
	j->t = t;
	j->in_fd = -1;
	j->out_fd = -1;
	j->max = -1;
	j->body_max = ERROR_BODY_MAX;
	j->length = -1;
	j->range_start = -1;
}

void sv_transport_job_clear(job *j)
{
	free(j->url);
	curl_slist_free_all(j->headers);
	curl_slist_free_all(j->quote);
	curl_slist_free_all(j->postquote);
	if (j->in_fd >= 0)
		close(j->in_fd);
	free(j->body);
	free(j->tmp);
	sv_transport_job_init(j, j->t);
}

static int status_ok(const job *j)
{
	return j->status == 0 || (j->status >= 200 && j->status < 300);
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	job *j = ud;
	size_t want = size * nmemb;
	if ((int64_t)want > j->size - j->sent)
		want = (size_t)(j->size - j->sent);
	if (want == 0)
		return 0;
	if (j->data) {
		memcpy(buf, j->data + j->sent, want);
		j->sent += (int64_t)want;
		return want;
	}
	for (;;) {
		ssize_t r = pread(j->in_fd, buf, want, j->in_off + j->sent);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* The file failed or shrank under us: the upload fails, it is never cut short. */
			j->read_errno = r < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		j->sent += r;
		return (size_t)r;
	}
}

static int body_append(job *j, const char *buf, size_t len)
{
	char *nb;
	if (len > j->body_max - j->body_len) {
		j->too_big = 1;
		return -1;
	}
	nb = realloc(j->body, j->body_len + len + 1);
	if (!nb) {
		j->write_errno = ENOMEM;
		return -1;
	}
	j->body = nb;
	memcpy(j->body + j->body_len, buf, len);
	j->body_len += len;
	j->body[j->body_len] = '\0';
	return 0;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	job *j = ud;
	size_t len = size * nmemb;
	if (j->to_body)
		return body_append(j, buf, len) == 0 ? len : 0;
	if (!status_ok(j)) {
		/* An HTTP error's body is an error document, not the file: keep its start. */
		size_t keep = j->body_max - j->body_len;
		if (keep > len)
			keep = len;
		if (keep)
			body_append(j, buf, keep);
		return len;
	}
	if (j->got == 0 && j->from > 0 && j->status != 0) {
		/* A resumed GET: 206 must be the range asked for; 200 is all of it, from the start. */
		if (j->status == 206 && j->range_start != j->from) {
			j->range_bad = 1;
			return 0;
		}
		if (j->status != 206) {
			if (ftruncate(j->out_fd, 0) != 0 || lseek(j->out_fd, 0, SEEK_SET) != 0) {
				j->write_errno = errno;
				return 0;
			}
			j->from = 0;
			j->restarted = 1;
		}
	}
	j->got += (int64_t)len;
	if (j->max >= 0 && j->from + j->got > j->max) {
		j->too_big = 1;
		return 0;
	}
	if (j->out_fd < 0)
		return len;
	if (sv_transport_write_all(j->out_fd, buf, len) != 0) {
		j->write_errno = errno;
		return 0;
	}
	return len;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
	job *j = ud;
	size_t len = size * nmemb;
	/* Each status line starts a new response (a 100 Continue comes first). */
	if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);
		j->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		j->range_start = -1;
		j->etag[0] = '\0';
	} else if (len > 5 && len < sizeof(j->etag) && strncasecmp(buf, "ETag:", 5) == 0) {
		size_t k = 5;
		while (k < len && buf[k] == ' ')
			k++;
		memcpy(j->etag, buf + k, len - k);
		j->etag[len - k] = '\0';
		sv_transport_trim_newline(j->etag);
	} else if (len > 20 && len < 200 && strncasecmp(buf, "Content-Range: bytes ", 21) == 0) {
		char line[200], *end;
		memcpy(line, buf + 21, len - 21);
		line[len - 21] = '\0';
		long long start = strtoll(line, &end, 10);
		j->range_start = end != line && *end == '-' && start >= 0 ? (int64_t)start : -1;
	}
	return len;
}

/* Sets every option of the request j on the (reset) handle e. */
static void job_setup(job *j, CURL *e)
{
	sv_transport *t = j->t;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)j);
	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, t->protocol);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, t->connect_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, t->stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "salvage/" SV_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)j);
	if (j->nobody)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (j->method)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
	if (j->upload) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, (void *)j);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->size);
	}
	if (strncmp(t->protocol, "http", 4) == 0) {
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)j);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
		if (j->from > 0) {
			/* Not RESUME_FROM: curl would fail on a 200, which on_write takes as a fresh start. */
			char range[32];
			snprintf(range, sizeof(range), "%lld-", (long long)j->from);
			curl_easy_setopt(e, CURLOPT_RANGE, range);
		}
	} else if (j->from > 0) {
		curl_easy_setopt(e, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)j->from);
	}
	t->ops.curl_setup(j, e);
}

static int pool_handle(sv_transport *t, size_t k, CURL **out)
{
	if (!t->pool[k] && !(t->pool[k] = curl_easy_init()))
		return sv_transport_oom(t);
	curl_easy_reset(t->pool[k]);
	*out = t->pool[k];
	return 0;
}

static void job_finish(job *j, CURL *e, CURLcode result)
{
	curl_off_t cl = -1;
	j->result = result;
	if (curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
		j->length = (int64_t)cl;
}

/*
 * Runs n requests, up to t->limit at once, on the transport's multi handle.
 * Returns 0, or a negative code if the multi handle itself failed (items not
 * yet completed are then completed as failed with that code).
 */
int sv_transport_run_batch(sv_transport *t, size_t n, prepare_fn prepare, complete_fn complete, void *ctx)
{
	size_t limit = n < t->limit ? n : t->limit, next = 0, running = 0, nfree;
	job *slots = calloc(limit ? limit : 1, sizeof(*slots));
	size_t *free_slots = calloc(limit ? limit : 1, sizeof(*free_slots));
	int rc = 0;

	if (!slots || !free_slots) {
		free(slots);
		free(free_slots);
		return sv_transport_oom(t);
	}
	for (size_t k = 0; k < limit; k++) {
		sv_transport_job_init(&slots[k], t);
		free_slots[k] = limit - 1 - k;
	}
	nfree = limit;
	for (;;) {
		while (next < n && nfree > 0) {
			size_t k = free_slots[--nfree];
			job *j = &slots[k];
			CURL *e = NULL;
			j->index = next++;
			if (rc)
				j->failed = rc;
			else if ((j->failed = prepare(ctx, j->index, j)) == 0 &&
				 (j->failed = pool_handle(t, k, &e)) == 0) {
				job_setup(j, e);
				if (curl_multi_add_handle(t->multi, e) == CURLM_OK) {
					running++;
					continue;
				}
				j->failed = sv_transport_oom(t);
			}
			complete(ctx, j);
			sv_transport_job_clear(j);
			free_slots[nfree++] = k;
		}
		if (running == 0)
			break;

		int still;
		CURLMcode mc = curl_multi_perform(t->multi, &still);
		CURLMsg *m;
		int queued;
		if (mc == CURLM_OK) {
			while ((m = curl_multi_info_read(t->multi, &queued))) {
				CURL *e = m->easy_handle;
				CURLcode result = m->data.result;
				char *priv;
				job *j;
				if (m->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
				j = (job *)(void *)priv;
				job_finish(j, e, result);
				curl_multi_remove_handle(t->multi, e);
				curl_easy_reset(e); /* no pointers into the slot outlive it */
				running--;
				complete(ctx, j);
				sv_transport_job_clear(j);
				free_slots[nfree++] = (size_t)(j - slots);
			}
			if (next < n && nfree > 0)
				continue;
			if (running)
				mc = curl_multi_poll(t->multi, NULL, 0, 1000, NULL);
		}
		if (mc != CURLM_OK) {
			rc = sv_transport_fail(t, SV_EIO, "curl: %s", curl_multi_strerror(mc));
			for (size_t k = 0; k < limit; k++) {
				job *j = &slots[k];
				if (!j->url || !t->pool[k])
					continue;
				curl_multi_remove_handle(t->multi, t->pool[k]);
				curl_easy_reset(t->pool[k]);
				j->failed = rc;
				complete(ctx, j);
				sv_transport_job_clear(j);
			}
			running = 0;
			nfree = limit;
			for (size_t k = 0; k < limit; k++)
				free_slots[k] = k;
		}
	}
	free(slots);
	free(free_slots);
	return rc;
}

typedef struct {
	job *one;
} single;

static int single_prepare(void *ctx, size_t i, job *j)
{
	single *s = ctx;
	sv_transport *t = j->t;
	(void)i;
	/* The batch owns its slot: move the prepared request in, and back out when done. */
	*j = *s->one;
	j->t = t;
	sv_transport_job_init(s->one, t);
	return 0;
}

static void single_complete(void *ctx, job *j)
{
	single *s = ctx;
	*s->one = *j;
	sv_transport_job_init(j, j->t);
}

/* Runs one prepared request; its outcome is in j (which the caller clears). */
int sv_transport_run_one(sv_transport *t, job *j)
{
	single s = {j};
	return sv_transport_run_batch(t, 1, single_prepare, single_complete, &s);
}

/* ---- replies -------------------------------------------------------------------------- */

/* A reply's XML, parsed without network access, DTDs or entity substitution; NULL if not XML. */
xmlDocPtr sv_transport_xml_parse(const char *buf, size_t len)
{
	xmlDocPtr doc;
	if (len == 0 || len > INT_MAX || memmem(buf, len, "<!DOCTYPE", 9) || memmem(buf, len, "<!ENTITY", 8))
		return NULL;
	doc = xmlReadMemory(buf, (int)len, "reply.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

xmlNodePtr sv_transport_xml_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* The text directly inside an element, into buf (cut to fit); "" if none. */
const char *sv_transport_xml_text(xmlNodePtr n, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
			continue;
		for (const xmlChar *p = c->content; *p && o + 1 < cap; p++)
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
	return buf;
}

void sv_transport_trim_newline(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/*
 * Sets the message for a request that did not succeed ("cannot VERB 'NAME': why")
 * and returns its code. Call only when sv_transport_job_ok(j) is false.
 */
int sv_transport_job_error(job *j, const char *verb, const char *name)
{
	sv_transport *t = j->t;
	if (j->failed)
		return j->failed;
	if (j->host_key_bad) {
		if (j->host_key_bad - 1 == CURLKHMATCH_MISMATCH)
			return sv_transport_fail(t, SV_EIO,
				    "cannot %s '%s': the server's host key does not match the one in %s "
				    "(refused: this may not be the server you expect)",
				    verb, name, t->known_hosts);
		return sv_transport_fail(t, SV_EIO,
			    "cannot %s '%s': the server's host key is not in %s (refused: add it once you "
			    "have checked its fingerprint)",
			    verb, name, t->known_hosts);
	}
	if (j->read_errno)
		return sv_transport_fail(t, SV_EIO, "cannot %s '%s': cannot read the local file: %s", verb, name,
			    strerror(j->read_errno));
	if (j->write_errno)
		return sv_transport_fail(t, j->write_errno == ENOSPC || j->write_errno == EDQUOT ? SV_ENOSPC : SV_EIO,
			    "cannot %s '%s': %s", verb, name, strerror(j->write_errno));
	if (j->range_bad)
		return sv_transport_fail(t, SV_EIO, "cannot %s '%s': asked for the bytes from %lld on, the server sent others",
			    verb, name, (long long)j->from);
	if (j->too_big)
		return sv_transport_fail(t, j->to_body ? SV_EIO : SV_ECORRUPT, "cannot %s '%s': the reply is larger than %lld bytes", verb, name,
			    (long long)(j->to_body ? (int64_t)j->body_max : j->max));
	if (j->result != CURLE_OK) {
		sv_transport_trim_newline(j->errbuf);
		return sv_transport_fail(t, j->result == CURLE_REMOTE_FILE_NOT_FOUND ? SV_ENOTFOUND : SV_EIO,
			    "cannot %s '%s': %s%s%s%s", verb, name, curl_easy_strerror(j->result),
			    j->errbuf[0] ? " (" : "", j->errbuf, j->errbuf[0] ? ")" : "");
	}
	/* An HTTP error: S3 explains it in an XML document (except for HEAD). */
	char code[128], msg[512];
	xmlDocPtr doc = j->body ? sv_transport_xml_parse(j->body, j->body_len) : NULL;
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	int rc;
	code[0] = msg[0] = '\0';
	if (root && strcmp((const char *)root->name, "Error") == 0) {
		sv_transport_xml_text(sv_transport_xml_child(root, "Code"), code, sizeof(code));
		sv_transport_xml_text(sv_transport_xml_child(root, "Message"), msg, sizeof(msg));
	}
	xmlFreeDoc(doc);
	if (j->status == 404 && (!code[0] || strcmp(code, "NoSuchKey") == 0))
		return sv_transport_fail(t, SV_ENOTFOUND, "cannot %s '%s': no such file", verb, name);
	if (code[0])
		rc = sv_transport_fail(t, SV_EIO, "cannot %s '%s': HTTP %ld: %s%s%s", verb, name, j->status, code,
			  msg[0] ? ": " : "", msg);
	else if (j->status == 403)
		rc = sv_transport_fail(t, SV_EIO, "cannot %s '%s': HTTP 403 (refused: check the keys, the region and the clock)",
			  verb, name);
	else if (j->status == 301 || j->status == 307)
		rc = sv_transport_fail(t, SV_EIO, "cannot %s '%s': HTTP %ld (the bucket wants another endpoint or region)", verb,
			  name, j->status);
	else
		rc = sv_transport_fail(t, SV_EIO, "cannot %s '%s': HTTP %ld", verb, name, j->status);
	return rc;
}

int sv_transport_job_ok(const job *j)
{
	return !j->failed && j->result == CURLE_OK && status_ok(j);
}

char *sv_transport_remote_url(const sv_transport *t, const char *name, int folder)
{
	char *url;
	const char *sep = t->prefix && *t->prefix ? "/" : "";
	if (asprintf(&url, "%s/%s%s%s%s", t->base_url, t->prefix ? t->prefix : "", *name ? sep : "", name,
		     folder && *name ? "/" : "") < 0)
		return NULL;
	return url;
}

int sv_transport_curl_get(sv_transport *t, job *j, const char *name, int fd, int64_t from, int64_t max)
{
	int rc;
	j->out_fd = fd;
	j->from = from;
	j->max = max;
	if (!(j->url = sv_transport_remote_url(t, name, 0))) {
		sv_transport_job_clear(j);
		return sv_transport_oom(t);
	}
	if ((rc = sv_transport_run_one(t, j)) == 0 && !sv_transport_job_ok(j)) {
		rc = sv_transport_job_error(j, "get", name);
		if (rc == SV_ENOTFOUND)
			rc = sv_transport_fail(t, SV_ENOTFOUND, "cannot get '%s': no such file", name);
	}
	sv_transport_job_clear(j);
	return rc;
}

void sv_transport_put_report(put_state *s, size_t i, int rc)
{
	if (rc && !s->first) {
		s->first = rc;
		s->first_msg = strdup(sv_error_last());
	}
	if (s->done)
		s->done(s->ctx, i, rc, rc ? sv_error_last() : NULL);
}

int sv_transport_put_source(sv_transport *t, const put_item *it, job *j)
{
	struct stat st;
	j->upload = 1;
	if (!it->local) {
		j->data = it->data;
		j->size = (int64_t)it->len;
		return 0;
	}
	if ((j->in_fd = open(it->local, O_RDONLY | O_CLOEXEC)) < 0 || fstat(j->in_fd, &st) != 0)
		return sv_transport_fail(t, SV_EIO, "cannot put '%s': cannot open '%s': %s", it->name, it->local,
					 strerror(errno));
	if (!S_ISREG(st.st_mode))
		return sv_transport_fail(t, SV_EIO, "cannot put '%s': '%s' is not a regular file", it->name, it->local);
	j->size = (int64_t)st.st_size;
	return 0;
}

int sv_transport_put_finish(put_state *s, int rc)
{
	if (!rc && s->first)
		rc = s->first;
	if (rc && s->first_msg)
		sv_error_set(rc, "%s", s->first_msg);
	free(s->first_msg);
	return rc;
}

