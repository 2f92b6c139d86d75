/*
 * crawler/transfer.c -- one transfer: the request, the response headers, the
 * body streamed into the object store (and kept in tmp/ to resume a large
 * download with Range), and handed to discovery for more URLs.
 */
#include "fetcher.h"

#include "guard.h"

#include "../common/error.h"
#include "../common/header.h"
#include "../queue/url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void on_found(void *ctx, const char *url, sv_found_kind kind);

/*
 * A zeroed transfer whose partial file is "none" (fd -1): a zeroed one would
 * have fd 0, and freeing it would close standard input or, where there is
 * none, whatever socket or object file had taken descriptor 0.
 */
transfer *sv_fetch_transfer_new(void)
{
	transfer *t = calloc(1, sizeof(*t));
	if (t)
		sv_partial_init(&t->part);
	return t;
}

void sv_fetch_transfer_free(transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	sv_objects_writer_abort(t->w);
	sv_discover_free(t->discover);
	sv_fetch_catalog_free(t->cat);
	free(t->catalog_json);
	free(t->content_type);
	free(t->location);
	free(t->encoding);
	free(t->retry_after);
	free(t->disposition);
	free(t->etag);
	free(t->last_modified);
	free(t->content_range);
	curl_slist_free_all(t->req_headers);
	sv_partial_close(&t->part);
	free(t->headers);
	free(t->request);
	free(t->mem);
	free(t->item.url);
	free(t->item.host);
	free(t->item.via);
	free(t->item.meta);
	free(t);
}

static void set_field(char **field, char *value)
{
	if (value) {
		free(*field);
		*field = value;
	}
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	transfer *t = ud;
	size_t len = size * n;
	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		/* A new response (after a 1xx): only the last one counts. */
		t->hlen = 0;
		t->headers_cut = 0;
		t->content_length = -1;
		free(t->content_type), t->content_type = NULL;
		free(t->location), t->location = NULL;
		free(t->encoding), t->encoding = NULL;
		free(t->retry_after), t->retry_after = NULL;
		free(t->disposition), t->disposition = NULL;
		free(t->etag), t->etag = NULL;
		free(t->last_modified), t->last_modified = NULL;
		free(t->content_range), t->content_range = NULL;
		t->set_cookie = 0;
	}
	if (t->hlen + len <= HEADERS_MAX) {
		if (!t->headers && !(t->headers = malloc(HEADERS_MAX)))
			return 0;
		memcpy(t->headers + t->hlen, p, len);
		t->hlen += len;
	} else {
		t->headers_cut = 1;
	}
	char *v;
	if ((v = sv_header_value(p, len, "Content-Length"))) {
		char *end;
		long long cl = strtoll(v, &end, 10);
		t->content_length = (*v && !*end && cl >= 0) ? cl : -1;
		free(v);
	}
	set_field(&t->content_type, sv_header_value(p, len, "Content-Type"));
	set_field(&t->location, sv_header_value(p, len, "Location"));
	set_field(&t->encoding, sv_header_value(p, len, "Content-Encoding"));
	set_field(&t->retry_after, sv_header_value(p, len, "Retry-After"));
	set_field(&t->disposition, sv_header_value(p, len, "Content-Disposition"));
	set_field(&t->etag, sv_header_value(p, len, "ETag"));
	set_field(&t->last_modified, sv_header_value(p, len, "Last-Modified"));
	set_field(&t->content_range, sv_header_value(p, len, "Content-Range"));
	if (len > 11 && !strncasecmp(p, "Set-Cookie:", 11))
		t->set_cookie = 1;
	return len;
}

/* The value of a request header that holds credentials (from crawl.netrcFile,
 * or a catalog API's key) is replaced: records are published with the ledger. */
static int is_credential(const char *line, size_t len)
{
	static const char *const names[] = {"Authorization:", "Proxy-Authorization:", "X-App-Token:", "X-Api-Key:"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (len >= n && !strncasecmp(line, names[i], n))
			return 1;
	}
	return 0;
}

/* Appends n bytes to the request kept, or marks it cut. */
static void request_add(transfer *t, const char *p, size_t n)
{
	if (t->rlen + n > REQUEST_MAX) {
		t->rlen = REQUEST_MAX + 1; /* too long: none is recorded */
		return;
	}
	memcpy(t->request + t->rlen, p, n);
	t->rlen += n;
}

/*
 * The request header block as libcurl sent it (CURLINFO_HEADER_OUT; for
 * HTTP/2, libcurl's HTTP/1.1-like text of the request), for the WARC request
 * record. Only the last request counts (robots.txt follows redirects).
 */
static int on_debug(CURL *e, curl_infotype type, char *p, size_t len, void *ud)
{
	transfer *t = ud;
	(void)e;
	if (type != CURLINFO_HEADER_OUT)
		return 0;
	if (!t->request && !(t->request = malloc(REQUEST_MAX)))
		return 0;
	if (t->rlen > REQUEST_MAX || (t->rlen >= 4 && !memcmp(t->request + t->rlen - 4, "\r\n\r\n", 4)))
		t->rlen = 0; /* a new request */
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (p + i)) + 1 : len - i;
		if (is_credential(p + i, n)) {
			const char *colon = memchr(p + i, ':', n);
			request_add(t, p + i, (size_t)(colon - (p + i)) + 1);
			request_add(t, " ***\r\n", 6);
		} else {
			request_add(t, p + i, n);
		}
		i += n;
	}
	return 0;
}

/* The server's address, once the transfer is done or failed. */
void sv_fetch_transfer_ip(transfer *t)
{
	char *ip = NULL;
	if (curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && *ip)
		snprintf(t->ip, sizeof(t->ip), "%s", ip);
}

int sv_fetch_is_kind(const transfer *t, sv_kind kind)
{
	return t->item.kind == kind;
}

/* Decides, on the first bytes of a 2xx body, whether a discovery reader looks for URLs in it. */
static void decide_discovery(transfer *t, const void *buf, size_t len)
{
	long status = 0;
	t->discover_decided = 1;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300 || t->is_robots)
		return;
	if (sv_fetch_catalog_wanted(t)) {
		int rc = sv_fetch_catalog_open(t->f, t);
		if (rc)
			t->f->fatal = rc;
		return;
	}
	sv_discover_response r = {t->item.url, sv_fetch_is_kind(t, SV_KIND_SITEMAP), t->content_type, t->encoding, buf, len};
	if (sv_discover_open(&t->discover, &r, on_found, t) != 0)
		t->discover = NULL; /* no reading for this body; the download goes on */
}

static int replay_into(void *ctx, const void *buf, size_t len)
{
	return sv_objects_writer_write(ctx, buf, len);
}

/*
 * The first bytes of a body: the writer is created, and a partial download
 * is resumed (206 from where it stopped: its kept bytes go first) or started
 * (a large body with a validator is also kept in tmp/).
 */
static int begin_body(transfer *t)
{
	fetcher *f = t->f;
	long status = 0;
	int64_t hint = t->content_length;
	int rc;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (t->resume_from > 0) {
		long long first = -1, last = -1, total = -1;
		if (status == 206 && t->content_range &&
		    sscanf(t->content_range, "bytes %lld-%lld/%lld", &first, &last, &total) >= 2 &&
		    first == t->resume_from) {
			hint = total > 0 ? total : -1;
			if ((rc = sv_objects_writer_new(&t->w, f->store, hint)) ||
			    (rc = sv_partial_replay(&t->part, replay_into, t->w)) || (rc = sv_partial_resume(&t->part)))
				return rc;
			t->resumed = 1;
			t->received = (uint64_t)t->resume_from;
			t->discover_decided = 1; /* large bodies resumed are not read for links */
			return 0;
		}
		sv_partial_discard(&t->part); /* changed, or no Range support: the whole body again */
		t->resume_from = 0;
	}
	if ((rc = sv_objects_writer_new(&t->w, f->store, hint)))
		return rc;
	const char *validator = t->etag ? t->etag : t->last_modified;
	/* A catalog answer is read as it arrives: it is fetched whole, never resumed (a resumed body
	 * would reach its reader without its beginning). */
	if (status == 200 && !t->is_robots && !sv_fetch_catalog_wanted(t) && hint >= (int64_t)RESUME_MIN && validator &&
	    f->o->tmp_dir &&
	    sv_partial_begin(&t->part, f->o->tmp_dir, t->item.url, validator) != 0)
		sv_partial_init(&t->part); /* cannot keep it: the download still goes on */
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	transfer *t = ud;
	fetcher *f = t->f;
	size_t len = size * n;
	if (!t->w && (t->store_rc = begin_body(t)))
		return 0;
	if (t->seed && !t->is_robots && t->seed->max_bytes >= 0 && t->received + len > (uint64_t)t->seed->max_bytes) {
		t->too_big = 1;
		return 0;
	}
	if ((t->store_rc = sv_objects_writer_write(t->w, p, len)))
		return 0;
	if (t->part.fd >= 0 && sv_partial_append(&t->part, p, len) != 0)
		sv_partial_discard(&t->part); /* tmp/ full: no resume for this one, but no harm */
	if (t->received < BIG_BODY && t->received + len >= BIG_BODY)
		f->stats->big_inflight++;
	t->received += len;
	f->stats->bytes += len;
	if (!t->discover_decided)
		decide_discovery(t, p, len);
	sv_discover_feed(t->discover, p, len);
	sv_fetch_catalog_feed(t, p, len);
	if (t->is_robots && t->mlen < ROBOTS_MAX) {
		size_t take = len < ROBOTS_MAX - t->mlen ? len : ROBOTS_MAX - t->mlen;
		if (!t->mem && !(t->mem = malloc(ROBOTS_MAX)))
			return 0;
		memcpy(t->mem + t->mlen, p, take);
		t->mlen += take;
	}
	return len;
}

/*
 * A URL found in a body being received: another sitemap from an index, one
 * hop further than the index; a URL a sitemap lists, one hop further than
 * the sitemap; a link, one hop further than the page it is on. The row's
 * scope decides which are queued, and nothing found on a sitemap or page
 * outside it is (t->in_scope).
 */
static void on_found(void *ctx, const char *url, sv_found_kind kind)
{
	transfer *t = ctx;
	fetcher *f = t->f;
	int depth, rc = 0;
	sv_kind as;
	if (f->fatal || !t->seed)
		return;
	int taken = 0;
	if ((rc = sv_fetch_catalog_found(f, t, url, kind, &taken)) || taken) {
		if (rc)
			f->fatal = rc;
		return;
	}
	if (sv_scope_follow_found(t->seed->scope, url, t->item.depth, t->in_scope, kind == SV_FOUND_SITEMAP,
				  kind == SV_FOUND_REQUISITE, &depth, &as))
		rc = sv_fetch_add_link(f, url, t->item.seed, depth, as, t->item.url, 0);
	if (rc)
		f->fatal = rc;
}

/*
 * The private-address guard (guard.h), on every connection curl opens for
 * t: it sees the address about to be connected to, before any packet is
 * sent. So a name resolved to a private address (DNS rebinding included),
 * every spelling of an address, and each hop of a redirect curl follows
 * (robots.txt) are judged by where the socket would go. CURLOPT_PREREQFUNCTION
 * would see the address only once the connection (and a TLS handshake) to
 * the private service was made. The server named is the URL curl is on
 * (CURLINFO_EFFECTIVE_URL: the redirect's target, inside a redirect).
 */
static curl_socket_t open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	transfer *t = ctx;
	fetcher *f = t->f;
	char *url = NULL;
	(void)purpose;
	curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (!sv_guard_check(&a->addr, url ? url : t->item.url,
			    t->seed && t->seed->scope ? sv_scope_seed_url(t->seed->scope) : NULL, f->o->allow_private,
			    f->o->nallow_private, t->refused, sizeof(t->refused)))
		return CURL_SOCKET_BAD; /* curl tries the host's next address, if any */
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* The same server: scheme-less host and port compared (sv_url_host_key). */
static int same_server(const char *a, const char *b)
{
	char *ka = NULL, *kb = NULL;
	int same = a && b && sv_url_host_key(&ka, a) == 0 && sv_url_host_key(&kb, b) == 0 && !strcmp(ka, kb);
	free(ka);
	free(kb);
	return same;
}

/*
 * A catalog row's API key: a Socrata row's X-App-Token on every request to
 * its own server (the catalog, exports and metadata: Socrata throttles
 * requests without one), a data.gov row's X-Api-Key on its catalog pages.
 * Never sent anywhere else; masked in the records (is_credential).
 */
static int add_header(transfer *t, const char *name, const char *value)
{
	char line[1200];
	snprintf(line, sizeof(line), "%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(t->req_headers, line);
	if (!l)
		return -1;
	t->req_headers = l;
	return 0;
}

/*
 * A URL a catalog gives again whose change the catalog cannot tell (a
 * data.json read again, a dataset with no `modified` or a repeating one):
 * asked with the validators of its last capture here, so an unchanged file
 * answers 304 and is not downloaded nor stored again.
 */
static int add_validators(fetcher *f, transfer *t)
{
	char *etag = NULL, *lm = NULL;
	int rc = 0;
	if (!f->o->validators || !t->item.meta || !strstr(t->item.meta, "\"revalidate\":true") || t->resume_from > 0)
		return 0;
	if (f->o->validators(f->o->validators_ctx, t->item.url, &etag, &lm) == 0) {
		if (etag && add_header(t, "If-None-Match", etag))
			rc = -1;
		if (lm && rc == 0 && add_header(t, "If-Modified-Since", lm))
			rc = -1;
	}
	free(etag);
	free(lm);
	return rc;
}

static int add_api_key(fetcher *f, transfer *t)
{
	char line[1200];
	sv_sheet_kind kind = t->seed && t->seed->row ? sv_row_kind(t->seed->row) : SV_SHEET_SITE;
	line[0] = '\0';
	if (kind == SV_SHEET_SOCRATA && f->o->socrata_token && same_server(t->item.url, sv_row_url(t->seed->row)))
		snprintf(line, sizeof(line), "X-App-Token: %s", f->o->socrata_token);
	else if (kind == SV_SHEET_DATAGOV && f->o->datagov_key && sv_fetch_is_kind(t, SV_KIND_CATALOG))
		snprintf(line, sizeof(line), "X-Api-Key: %s", f->o->datagov_key);
	if (!line[0])
		return 0;
	struct curl_slist *l = curl_slist_append(t->req_headers, line);
	if (!l)
		return -1;
	t->req_headers = l;
	return 0;
}

int sv_fetch_transfer_start(fetcher *f, transfer *t)
{
	CURL *e = curl_easy_init();
	if (!e)
		return sv_error_set(SV_EIO, "cannot start a transfer");
	t->easy = e;
	t->f = f;
	t->content_length = -1;
	t->refused[0] = '\0';
	sv_rfc3339_now(t->ts);
	curl_easy_setopt(e, CURLOPT_URL, t->item.url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Redirects are captures of their own; only robots.txt follows them (RFC 9309). */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->is_robots ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	/* Cookies: the fetcher's jar, in memory, never a file ("" reads none);
	 * curl's domain rules decide which server gets which (see fetch.c). */
	curl_easy_setopt(e, CURLOPT_SHARE, f->cookies);
	curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
	curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L); /* the payload is the entity as sent */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)f->o->connect_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1000L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)f->o->low_speed_time_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, f->o->user_agent);
	if (f->o->netrc_file) {
		/* libcurl takes from it only the entry of the URL's own host, for each request. */
		curl_easy_setopt(e, CURLOPT_NETRC_FILE, f->o->netrc_file);
		curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	}
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(e, CURLOPT_DEBUGDATA, t);
	curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	sv_fetch_tls_set(f, t);
	if (!f->o->allow_private_all) {
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	}
	if (t->seed && !t->is_robots && t->seed->max_bytes >= 0)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->seed->max_bytes);
	if (!t->is_robots && !sv_fetch_catalog_wanted(t) && f->o->tmp_dir &&
	    sv_partial_find(&t->part, f->o->tmp_dir, t->item.url)) {
		char range[32], ifrange[600];
		snprintf(range, sizeof(range), "%lld-", (long long)t->part.have);
		snprintf(ifrange, sizeof(ifrange), "If-Range: %s", t->part.validator);
		t->req_headers = curl_slist_append(NULL, ifrange);
		if (t->req_headers) {
			t->resume_from = t->part.have;
			curl_easy_setopt(e, CURLOPT_RANGE, range);
			curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
		}
	}
	if (!t->is_robots && (add_api_key(f, t) != 0 || add_validators(f, t) != 0))
		return sv_error_set(SV_EIO, "out of memory");
	if (t->req_headers)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->req_headers);
	if (curl_multi_add_handle(f->multi, e) != CURLM_OK)
		return sv_error_set(SV_EIO, "cannot start a transfer");
	t->run_next = f->running;
	if (f->running)
		f->running->run_prev = t;
	f->running = t;
	f->active++;
	f->stats->inflight = f->active;
	return 0;
}
