/*
 * storage/transport_s3.c -- the s3 transport: S3 or a compatible server,
 * path-style (ENDPOINT/bucket/prefix/NAME), every request signed with AWS
 * SigV4 by libcurl and run by transport_curl.c. Listings are ListObjectsV2
 * pages (XML); uploads are single PUTs, atomic by nature, except for files
 * from the multipart threshold on, which go up as multipart uploads
 * (transport_s3_multipart.c). An http:// endpoint is refused unless the
 * options allow it.
 *
 * What must stay true: every request carries the SHA-256 of its body
 * (x-amz-content-sha256), so the server checks each upload as it lands;
 * the secret key and session token never reach a message (they are the
 * transport's secrets); a listing page is kept only up to S3_LIST_BODY_MAX.
 */
#include "transport_backend.h"

#include "../common/error.h"
#include "../common/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define S3_LIST_BODY_MAX (16u << 20) /* one ListObjectsV2 page (at most 1000 keys) */

/* Signing: curl computes SigV4 from the access key, the secret and the region. */
static void s3_setup(job *j, CURL *e)
{
	const sv_transport *t = j->t;
	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, t->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, t->access_key);
	curl_easy_setopt(e, CURLOPT_PASSWORD, t->secret_key);
}


int sv_transport_s3_headers(sv_transport *t, job *j, const char *sha_hex)
{
	char line[128];
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha_hex);
	if (!(j->headers = curl_slist_append(NULL, line)))
		return sv_transport_oom(t);
	if (t->token_header && !curl_slist_append(j->headers, t->token_header))
		return sv_transport_oom(t);
	return 0;
}

static int s3_stat(sv_transport *t, const char *name, int64_t *size)
{
	job j;
	int rc;
	sv_transport_job_init(&j, t);
	j.nobody = 1;
	if ((rc = sv_transport_s3_headers(t, &j, EMPTY_SHA256)) != 0 || !(j.url = sv_transport_remote_url(t, name, 0))) {
		sv_transport_job_clear(&j);
		return rc ? rc : sv_transport_oom(t);
	}
	if ((rc = sv_transport_run_one(t, &j)) == 0) {
		if (sv_transport_job_ok(&j) && j.length >= 0)
			*size = j.length;
		else if (sv_transport_job_ok(&j))
			rc = sv_transport_fail(t, SV_EIO, "cannot stat '%s': the server did not give its size", name);
		else if ((rc = sv_transport_job_error(&j, "stat", name)) == SV_ENOTFOUND)
			*size = -1, rc = 0;
	}
	sv_transport_job_clear(&j);
	return rc;
}

/* Percent-encodes s as SigV4 wants query values: all but A-Z a-z 0-9 - _ . ~ */
char *sv_transport_s3_query_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Handles one ListObjectsV2 page; *token becomes the next page's token, or NULL. */
static int s3_list_page(list_state *ls, const char *key_prefix, const job *j, char **token)
{
	sv_transport *t = ls->t;
	xmlDocPtr doc = sv_transport_xml_parse(j->body, j->body_len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	size_t plen = strlen(t->prefix);
	char truncated[16], key[SV_TRANSPORT_NAME_MAX + 512], num[32], next[2048];
	int rc = 0;
	*token = NULL;
	if (!root || strcmp((const char *)root->name, "ListBucketResult") != 0) {
		xmlFreeDoc(doc);
		return sv_transport_fail(t, SV_EIO, "cannot list '%s': the reply is not a bucket listing", key_prefix);
	}
	for (xmlNodePtr c = root->children; c && !rc; c = c->next) {
		char *end;
		long long size;
		if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Contents") != 0)
			continue;
		sv_transport_xml_text(sv_transport_xml_child(c, "Key"), key, sizeof(key));
		sv_transport_xml_text(sv_transport_xml_child(c, "Size"), num, sizeof(num));
		errno = 0;
		size = strtoll(num, &end, 10);
		if (errno || end == num || *end || size < 0) {
			rc = sv_transport_fail(t, SV_EIO, "cannot list '%s': bad size for '%.200s'", key_prefix, key);
			break;
		}
		if (plen && (strncmp(key, t->prefix, plen) != 0 || key[plen] != '/'))
			continue;
		rc = sv_transport_emit(ls, key + (plen ? plen + 1 : 0), (int64_t)size);
	}
	sv_transport_xml_text(sv_transport_xml_child(root, "IsTruncated"), truncated, sizeof(truncated));
	if (!rc && strcmp(truncated, "true") == 0) {
		sv_transport_xml_text(sv_transport_xml_child(root, "NextContinuationToken"), next, sizeof(next));
		if (!next[0] || strlen(next) + 1 >= sizeof(next))
			rc = sv_transport_fail(t, SV_EIO,
				  "cannot list '%s': a truncated listing without a usable continuation token",
				  key_prefix);
		else if (!(*token = strdup(next)))
			rc = sv_transport_oom(t);
	}
	xmlFreeDoc(doc);
	return rc;
}

static int s3_list(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx)
{
	list_state ls = {t, temps, fn, ctx};
	char *key_prefix = NULL, *enc_prefix = NULL, *token = NULL;
	int rc = 0;
	if (asprintf(&key_prefix, "%s%s%s%s", t->prefix, *t->prefix && *dir ? "/" : "", dir,
		     *t->prefix || *dir ? "/" : "") < 0)
		return sv_transport_oom(t);
	if (!(enc_prefix = sv_transport_s3_query_encode(key_prefix))) {
		free(key_prefix);
		return sv_transport_oom(t);
	}
	do {
		job j;
		char *enc_token = token ? sv_transport_s3_query_encode(token) : NULL;
		sv_transport_job_init(&j, t);
		j.to_body = 1;
		j.body_max = S3_LIST_BODY_MAX;
		/* SigV4 signs the query as sent, and curl 7.88 does not sort it: keep it sorted and encoded. */
		if ((token && !enc_token) ||
		    asprintf(&j.url, "%s?%s%s%slist-type=2&prefix=%s", t->base_url, token ? "continuation-token=" : "",
			     token ? enc_token : "", token ? "&" : "", enc_prefix) < 0) {
			j.url = NULL;
			rc = sv_transport_oom(t);
		}
		free(enc_token);
		free(token);
		token = NULL;
		if (!rc)
			rc = sv_transport_s3_headers(t, &j, EMPTY_SHA256);
		if (!rc)
			rc = sv_transport_run_one(t, &j);
		if (!rc && !sv_transport_job_ok(&j))
			rc = sv_transport_job_error(&j, "list", *dir ? dir : ".");
		if (!rc)
			rc = s3_list_page(&ls, key_prefix, &j, &token);
		sv_transport_job_clear(&j);
	} while (!rc && token);
	free(token);
	free(key_prefix);
	free(enc_prefix);
	return rc;
}

/* The SHA-256 of the upload source j holds (its size bytes from in_off), into
 * hex. S3 checks the body against it: the copy is verified as it lands. */
int sv_transport_s3_body_sha256(sv_transport *t, const put_item *it, const job *j, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE], *buf = NULL;
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = 0;
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		rc = sv_transport_oom(t);
		goto done;
	}
	if (j->data) {
		EVP_DigestUpdate(c, j->data, (size_t)j->size);
	} else {
		int64_t off = j->in_off, end = j->in_off + j->size;
		if (!(buf = malloc(IO_CHUNK))) {
			rc = sv_transport_oom(t);
			goto done;
		}
		while (off < end) {
			ssize_t r = pread(j->in_fd, buf, end - off < IO_CHUNK ? (size_t)(end - off) : IO_CHUNK, off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				rc = sv_transport_fail(t, SV_EIO, "cannot put '%s': cannot read '%s': %s", it->name,
						       it->local, r < 0 ? strerror(errno) : "the file shrank");
				goto done;
			}
			EVP_DigestUpdate(c, buf, (size_t)r);
			off += r;
		}
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	sv_hex_encode(md, mdlen, hex);
done:
	EVP_MD_CTX_free(c);
	free(buf);
	return rc;
}

static int s3_put_prepare(void *ctx, size_t i, job *j)
{
	put_state *s = ctx;
	sv_transport *t = s->t;
	const put_item *it = &s->items[i];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int rc;
	/* curl 7.88 signs uploads as if their body were empty unless told the hash: tell it. */
	if ((rc = sv_transport_put_source(t, it, j)) != 0 || (rc = sv_transport_s3_body_sha256(t, it, j, hex)) != 0 ||
	    (rc = sv_transport_s3_headers(t, j, hex)) != 0)
		return rc;
	if (!(j->url = sv_transport_remote_url(t, it->name, 0)))
		return sv_transport_oom(t);
	return 0;
}

static void s3_put_complete(void *ctx, job *j)
{
	put_state *s = ctx;
	int rc = sv_transport_job_ok(j) ? 0 : sv_transport_job_error(j, "put", s->items[j->index].name);
	sv_transport_put_report(s, j->index, rc);
}

/* The caller's done, for a batch of some of its items (at[i] is item i's index there). */
typedef struct {
	sv_transport_done_fn done;
	void *ctx;
	const size_t *at;
} remap;

static void remap_done(void *ctx, size_t i, int code, const char *message)
{
	remap *m = ctx;
	if (m->done)
		m->done(m->ctx, m->at[i], code, message);
}

/* Single PUTs for the files under the multipart threshold (all at once), then one multipart upload each for the rest. */
static int s3_put(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx)
{
	put_item *small = calloc(n ? n : 1, sizeof(*small));
	size_t *at = calloc(n ? n : 1, sizeof(*at)), *big = calloc(n ? n : 1, sizeof(*big)), nsmall = 0, nbig = 0;
	int64_t *sizes = calloc(n ? n : 1, sizeof(*sizes));
	remap m = {done, ctx, at};
	put_state all = {t, items, replace, done, ctx, 0, NULL, NULL, 0, NULL};
	int rc = 0;
	if (!small || !at || !big || !sizes) {
		rc = sv_transport_oom(t);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (items[i].local && stat(items[i].local, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= t->mp_threshold) {
			sizes[nbig] = (int64_t)st.st_size;
			big[nbig++] = i;
		} else {
			at[nsmall] = i;
			small[nsmall++] = items[i];
		}
	}
	if (nsmall) {
		put_state s = {t, small, replace, remap_done, &m, 0, NULL, NULL, 0, NULL};
		rc = sv_transport_put_finish(&s, sv_transport_run_batch(t, nsmall, s3_put_prepare, s3_put_complete, &s));
		if (rc && !all.first) {
			all.first = rc;
			all.first_msg = strdup(sv_error_last());
		}
	}
	for (size_t k = 0; k < nbig; k++)
		sv_transport_put_report(&all, big[k], sv_transport_s3_multipart(t, &items[big[k]], sizes[k]));
	rc = sv_transport_put_finish(&all, 0);
done:
	free(small);
	free(at);
	free(big);
	free(sizes);
	return rc;
}

static int s3_get(sv_transport *t, const char *name, int fd, int64_t from, int64_t max)
{
	job j;
	int rc;
	sv_transport_job_init(&j, t);
	if ((rc = sv_transport_s3_headers(t, &j, EMPTY_SHA256)) != 0) {
		sv_transport_job_clear(&j);
		return rc;
	}
	return sv_transport_curl_get(t, &j, name, fd, from, max);
}

static const transport_ops s3_ops = {s3_stat, s3_list, s3_put, s3_get, NULL, sv_transport_s3_clean_uploads, s3_setup};

static int all_chars(const char *s, const char *allowed)
{
	return *s && strspn(s, allowed) == strlen(s);
}

int sv_transport_s3_open(sv_transport *t, CURLU *u, const sv_transport_options *o)
{
	char *bucket = sv_transport_url_part(u, CURLUPART_HOST, 0);
	char *path = sv_transport_url_part(u, CURLUPART_PATH, CURLU_URLDECODE);
	char *user = sv_transport_url_part(u, CURLUPART_USER, 0), *port = sv_transport_url_part(u, CURLUPART_PORT, 0);
	const char *region = o->s3_region && *o->s3_region ? o->s3_region : "us-east-1";
	CURLU *eu = NULL;
	char *ep = NULL, *scheme = NULL, *query = NULL;
	int rc = 0;

	if (user || port)
		rc = sv_transport_fail(t, SV_EINVAL, "an s3 URL is s3://bucket/prefix, with no user or port");
	else if (!bucket || strlen(bucket) < 3 || strlen(bucket) > 63 ||
		 !all_chars(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-"))
		rc = sv_transport_fail(t, SV_EINVAL, "invalid bucket name");
	else if (!path)
		rc = sv_transport_oom(t);
	free(user);
	free(port);
	if (rc)
		goto done;
	{
		const char *p = path;
		while (*p == '/')
			p++;
		if (!(t->prefix = strdup(p))) {
			rc = sv_transport_oom(t);
			goto done;
		}
		sv_transport_strip_slashes(t->prefix);
		if (!sv_transport_name_ok(t->prefix, 1)) {
			rc = sv_transport_fail(t, SV_EINVAL, "invalid prefix (segments of A-Z a-z 0-9 . _ -)");
			goto done;
		}
	}

	if (!o->s3_endpoint || !*o->s3_endpoint) {
		rc = sv_transport_fail(t, SV_EINVAL, "no S3 endpoint given");
		goto done;
	}
	if (!all_chars(region, "abcdefghijklmnopqrstuvwxyz0123456789-")) {
		rc = sv_transport_fail(t, SV_EINVAL, "invalid S3 region '%s'", region);
		goto done;
	}
	if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key) {
		rc = sv_transport_fail(t, SV_EINVAL, "no S3 keys given (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
		goto done;
	}
	if (!(eu = curl_url())) {
		rc = sv_transport_oom(t);
		goto done;
	}
	if (curl_url_set(eu, CURLUPART_URL, o->s3_endpoint, 0) != CURLUE_OK ||
	    !(scheme = sv_transport_url_part(eu, CURLUPART_SCHEME, 0)) ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https")) || (query = sv_transport_url_part(eu, CURLUPART_QUERY, 0)) ||
	    curl_url_set(eu, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(eu, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_set(eu, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    !(ep = sv_transport_url_part(eu, CURLUPART_URL, 0))) {
		rc = sv_transport_fail(t, SV_EINVAL,
			  "the S3 endpoint must be an http or https URL, such as https://s3.amazonaws.com");
		goto done;
	}
	sv_transport_strip_slashes(ep);
	if (asprintf(&t->base_url, "%s/%s", ep, bucket) < 0 || asprintf(&t->sigv4, "aws:amz:%s:s3", region) < 0) {
		t->base_url = t->sigv4 = NULL;
		rc = sv_transport_oom(t);
		goto done;
	}
	t->access_key = strdup(o->access_key);
	t->secret_key = strdup(o->secret_key);
	t->secrets[0] = strdup(o->secret_key);
	if (o->session_token && *o->session_token) {
		t->secrets[1] = strdup(o->session_token);
		if (asprintf(&t->token_header, "x-amz-security-token: %s", o->session_token) < 0)
			t->token_header = NULL;
		if (!t->token_header || !t->secrets[1]) {
			rc = sv_transport_oom(t);
			goto done;
		}
	}
	if (!t->access_key || !t->secret_key || !t->secrets[0]) {
		rc = sv_transport_oom(t);
		goto done;
	}
	if (strcmp(scheme, "https") != 0 && !o->s3_allow_http) {
		rc = sv_transport_fail(t, SV_EINVAL,
			  "the S3 endpoint %s is plain http: the request signatures and any session token would travel "
			  "in clear (refused; allow it only for a server on this machine or a trusted network)",
			  ep);
		goto done;
	}
	t->mp_threshold = o->multipart_threshold > 0 ? o->multipart_threshold : SV_TRANSPORT_MULTIPART_THRESHOLD;
	t->mp_part_size = o->multipart_part_size > 0 ? o->multipart_part_size : SV_TRANSPORT_MULTIPART_PART_SIZE;
	if (o->multipart_state_dir && !(t->mp_state_dir = strdup(o->multipart_state_dir))) {
		rc = sv_transport_oom(t);
		goto done;
	}
	t->protocol = strcmp(scheme, "https") == 0 ? "https" : "http";
	t->ops = s3_ops;
done:
	free(bucket);
	free(path);
	free(scheme);
	free(query);
	free(ep);
	curl_url_cleanup(eu);
	return rc;
}

