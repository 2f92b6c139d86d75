/*
 * crawler/fetch.c -- one fetcher process (see fetch.h).
 *
 * The loop: claim URLs while there is room, run them as transfers on one
 * curl multi handle, and at each checkpoint (every checkpoint_ms, or when
 * many outcomes wait) queue the links found, sync the object store, commit
 * the capture records to the ledger, then complete the outcomes. Leases are renewed well
 * before they run out. robots.txt is fetched once per host by whichever
 * fetcher meets the host first and kept in the queue for the others; URLs of
 * a host wait in memory until its rules are known.
 *
 * Every HTTP response is a capture, whatever its status; a URL fails only
 * when no complete response came after every attempt. 5xx, 408 and 429 are
 * retried with exponential backoff and jitter, and the last response is kept.
 */
#include "fetch.h"

#include "../common/clock.h"
#include "../common/error.h"
#include "../queue/url.h"
#include "links.h"
#include "partial.h"
#include "robots.h"
#include "scope.h"
#include "sitemap.h"

#include <errno.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#define HEADERS_MAX (64u * 1024)   /* raw response headers kept per capture */
#define ROBOTS_MAX (500u * 1024)   /* RFC 9309: at least 500 KiB must be parsed */
#define HOST_BUCKETS 4096
#define BIG_BODY (10u * 1024 * 1024)
#define LINKS_FLUSH 4096           /* queue discovered links at least this often */
#define LINKS_MS 1000              /* and at least every second */
#define OUTCOMES_FLUSH 4096        /* outcomes waiting for a checkpoint, at most */
#define RECORDS_FLUSH (8u << 20)   /* bytes of capture records waiting, at most */
#define RESUME_MIN (4u * 1024 * 1024) /* bodies from this size are kept in tmp/ to resume by Range */

typedef struct seed_info {
	int64_t id;
	sv_scope_compiled *scope;
	int robots;        /* 1 respect */
	int64_t max_bytes; /* -1 none */
	struct seed_info *next;
} seed_info;

enum { ROBOTS_UNKNOWN, ROBOTS_FETCHING, ROBOTS_KNOWN };

struct transfer;

typedef struct host_info {
	char *key; /* authority */
	int robots_state;
	sv_robots *robots;
	struct transfer *waiting; /* claimed URLs waiting for robots.txt */
	struct host_info *next;
} host_info;

typedef struct transfer {
	struct fetcher *f;
	sv_queue_item item; /* for a robots.txt transfer: id 0, url the robots URL */
	int is_robots;
	host_info *host;
	seed_info *seed;
	CURL *easy;
	char ts[SV_RFC3339_LEN];
	int64_t content_length;
	char *content_type, *location, *encoding, *retry_after, *disposition;
	char *etag, *last_modified, *content_range;
	sv_partial part;       /* the raw body kept in tmp/, for a Range resume */
	int64_t resume_from;   /* bytes asked with Range (0: whole) */
	int resumed;           /* the server answered 206 from resume_from */
	struct curl_slist *req_headers;
	char *headers;
	size_t hlen;
	int headers_cut;
	sv_objects_writer *w;
	int store_rc; /* an error from the object store while receiving */
	uint64_t received;
	sv_links *links;
	z_stream *inflater; /* a gzip or deflate page: inflated for the link extractor only */
	sv_sitemap *sitemap;
	int links_decided;
	unsigned char *mem; /* robots.txt body */
	size_t mlen;
	int too_big;
	int in_scope; /* links found here may lead further (an in-scope page or stylesheet) */
	char errbuf[CURL_ERROR_SIZE];
	struct transfer *next;              /* in a host's waiting list */
	struct transfer *run_prev, *run_next; /* in the running list */
} transfer;

/* An outcome waiting for the next checkpoint, with the strings it owns. */
typedef struct {
	sv_queue_outcome o;
	sv_queue_capture c;
	char *record, *reason, *url;
	char ts[SV_RFC3339_LEN], sha[SV_DIGEST_HEX_LEN + 1];
	sv_kind kind;
	int64_t length;
	int has_capture, has_sha;
} pending_outcome;

/*
 * The capture of a pending outcome. Its pointers are taken only now: the
 * array of pending outcomes moves when it grows.
 */
static sv_queue_capture *capture_of(pending_outcome *p)
{
	if (!p->has_capture)
		return NULL;
	p->c = (sv_queue_capture){p->record, p->ts, p->has_sha ? p->sha : NULL, p->length, p->kind};
	return &p->c;
}

typedef struct {
	sv_queue_url u;
	char *url, *via;
} pending_link;

typedef struct fetcher {
	sv_queue *q;
	sv_objects *store;
	const sv_fetch_options *o;
	sv_fetch_stats local;
	sv_fetch_stats *stats;
	CURLM *multi;
	transfer *running; /* on the multi handle */
	size_t active, parked;
	pending_outcome *outs;
	size_t nouts, capouts;
	pending_outcome *robots_caps; /* captures of robots.txt fetches (no queued URL) */
	size_t nrobots, caprobots;
	pending_link *links;
	size_t nlinks, caplinks;
	uint64_t *seen;    /* 128-bit keys of URLs this fetcher has queued (see seen_before) */
	size_t nseen;
	seed_info *seeds;
	host_info *hosts[HOST_BUCKETS];
	int64_t last_checkpoint, last_links, last_renew;
	size_t pending_bytes; /* of capture records waiting for the checkpoint */
	int fatal; /* an environment error: stop */
	int64_t *ended; /* leased URLs whose transfer ended: host slots to free */
	size_t nended, capended;
	FILE *log; /* JSON lines: the capture records, as they are completed */
} fetcher;

void sv_fetch_options_init(sv_fetch_options *o)
{
	memset(o, 0, sizeof(*o));
	o->node = "local";
	o->machine = "local";
	o->transfers = 32;
	o->lease_ms = 120000;
	o->max_attempts = 5;
	o->connect_timeout_s = 30;
	o->low_speed_time_s = 60;
	o->checkpoint_ms = 5000;
	o->max_redirects = 10;
	o->robots = 1;
	o->user_agent = "salvage/" SV_VERSION;
}

/* ---- seeds and hosts ---- */

static seed_info *seed_get(fetcher *f, int64_t id)
{
	for (seed_info *s = f->seeds; s; s = s->next)
		if (s->id == id)
			return s;
	char *params = NULL;
	json_t *j = NULL;
	seed_info *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	s->robots = 1;
	s->max_bytes = -1;
	if (sv_queue_seed_params(f->q, id, &params) == 0 && params && (j = json_loads(params, 0, NULL))) {
		sv_scope_rules r = SV_SCOPE_RULES_INIT;
		const char *scope = json_string_value(json_object_get(j, "scope"));
		r.seed_url = json_string_value(json_object_get(j, "url"));
		r.scope = !scope                     ? SV_SCOPE_PREFIX
			  : !strcmp(scope, "page")   ? SV_SCOPE_PAGE
			  : !strcmp(scope, "host")   ? SV_SCOPE_HOST
			  : !strcmp(scope, "domain") ? SV_SCOPE_DOMAIN
						     : SV_SCOPE_PREFIX;
		r.depth = (int)json_integer_value(json_object_get(j, "depth"));
		r.include = json_string_value(json_object_get(j, "include"));
		r.exclude = json_string_value(json_object_get(j, "exclude"));
		r.datasets = json_is_false(json_object_get(j, "datasets")) ? 0 : 1;
		s->robots = json_is_false(json_object_get(j, "robots")) ? 0 : 1;
		s->max_bytes = json_integer_value(json_object_get(j, "max_bytes"));
		if (!json_object_get(j, "max_bytes"))
			s->max_bytes = -1;
		if (r.seed_url && sv_scope_compile(&s->scope, &r) != 0)
			s->scope = NULL; /* checked when the sheet was loaded; a bad rule follows nothing */
	}
	json_decref(j);
	free(params);
	s->next = f->seeds;
	f->seeds = s;
	return s;
}

static unsigned host_hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % HOST_BUCKETS;
}

static host_info *host_get(fetcher *f, const char *key)
{
	unsigned b = host_hash(key);
	for (host_info *h = f->hosts[b]; h; h = h->next)
		if (!strcmp(h->key, key))
			return h;
	host_info *h = calloc(1, sizeof(*h));
	if (!h || !(h->key = strdup(key))) {
		free(h);
		return NULL;
	}
	h->next = f->hosts[b];
	f->hosts[b] = h;
	return h;
}

/* ---- pending work for the next checkpoint ---- */

static pending_outcome *new_outcome(pending_outcome **arr, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		pending_outcome *p = realloc(*arr, c * sizeof(*p));
		if (!p)
			return NULL;
		*arr = p;
		*cap = c;
	}
	pending_outcome *p = &(*arr)[(*n)++];
	memset(p, 0, sizeof(*p));
	return p;
}

static void free_outcome(pending_outcome *p)
{
	free(p->record);
	free(p->reason);
	free(p->url);
}

#define SEEN_SLOTS (1u << 19) /* 8 MB of 128-bit keys; cleared when half full */

/*
 * Whether this fetcher has queued url already; marks it if not. Most links on
 * a site point to pages found long ago, and each would cost the queue a
 * lookup in its unique index (and a copy here): they stop at this table. The
 * queue keeps a URL's first sighting and ignores the others, so skipping a
 * URL queued before changes nothing. The key is 128 bits (two independent
 * 64-bit hashes), so two URLs taken for one another is not a practical risk
 * (about 1e-27 for a full table). When the table fills up it starts again:
 * it only saves work.
 */
static int seen_before(fetcher *f, const char *url)
{
	uint64_t a = 1469598103934665603ull, b = 0x9e3779b97f4a7c15ull;
	for (const unsigned char *c = (const unsigned char *)url; *c; c++) {
		a = (a ^ *c) * 1099511628211ull;
		b = (b + *c) * 0xff51afd7ed558ccdull;
		b ^= b >> 29;
	}
	a |= 1; /* never 0, which marks a free slot */
	if (!f->seen && !(f->seen = calloc(SEEN_SLOTS, 2 * sizeof(*f->seen))))
		return 0;
	if (f->nseen >= SEEN_SLOTS / 2) {
		memset(f->seen, 0, SEEN_SLOTS * 2 * sizeof(*f->seen));
		f->nseen = 0;
	}
	for (size_t i = a & (SEEN_SLOTS - 1);; i = (i + 1) & (SEEN_SLOTS - 1)) {
		uint64_t *slot = &f->seen[2 * i];
		if (slot[0] == a && slot[1] == b)
			return 1;
		if (slot[0] == 0) {
			slot[0] = a;
			slot[1] = b;
			f->nseen++;
			return 0;
		}
	}
}

static int add_link(fetcher *f, const char *url, int64_t seed, int depth, sv_kind kind, const char *via,
		    int redirects)
{
	if (seen_before(f, url))
		return 0;
	if (f->nlinks == f->caplinks) {
		size_t c = f->caplinks ? f->caplinks * 2 : 256;
		pending_link *p = realloc(f->links, c * sizeof(*p));
		if (!p)
			return sv_error_set(SV_EIO, "out of memory");
		f->links = p;
		f->caplinks = c;
	}
	pending_link *l = &f->links[f->nlinks];
	l->url = strdup(url);
	l->via = via ? strdup(via) : NULL;
	if (!l->url || (via && !l->via)) {
		free(l->url);
		free(l->via);
		return sv_error_set(SV_EIO, "out of memory");
	}
	l->u = (sv_queue_url){l->url, seed, depth, kind, l->via, redirects};
	f->nlinks++;
	return 0;
}

/* Queues the links found so far. They need no sync: a link whose page is
 * lost to a crash is found again when the page is fetched again. */
static int flush_links(fetcher *f)
{
	int rc;
	f->last_links = sv_now_ms();
	if (f->nlinks == 0)
		return 0;
	sv_queue_url *u = malloc(f->nlinks * sizeof(*u));
	if (!u)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < f->nlinks; i++)
		u[i] = f->links[i].u;
	rc = sv_queue_enqueue(f->q, u, f->nlinks, NULL);
	free(u);
	if (rc)
		return rc;
	for (size_t i = 0; i < f->nlinks; i++) {
		free(f->links[i].url);
		free(f->links[i].via);
	}
	f->nlinks = 0;
	return 0;
}

/* Hands the capture records of the pending outcomes to the ledger. */
static int commit_records(fetcher *f)
{
	const sv_fetch_options *o = f->o;
	size_t n = 0;
	int rc;
	if (!o->commit_records)
		return 0;
	const char **recs = malloc((f->nouts + f->nrobots + 1) * sizeof(*recs));
	if (!recs)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < f->nrobots; i++)
		if (f->robots_caps[i].record)
			recs[n++] = f->robots_caps[i].record;
	for (size_t i = 0; i < f->nouts; i++)
		if (f->outs[i].record)
			recs[n++] = f->outs[i].record;
	rc = n ? o->commit_records(o->commit_ctx, recs, n) : 0;
	free(recs);
	return rc;
}

/*
 * A checkpoint, in the order that keeps every promise after a crash: the
 * links found are queued; the object store is synced; the capture records
 * are committed to the ledger; only then are the outcomes marked in the
 * queue. A URL marked done is in the ledger, and every ledger record points
 * to an object on disk.
 */
static int checkpoint(fetcher *f)
{
	int rc;
	f->last_checkpoint = sv_now_ms();
	if ((rc = flush_links(f)))
		return rc;
	if (f->nouts == 0 && f->nrobots == 0)
		return 0;
	if ((rc = sv_objects_sync(f->store)) || (rc = commit_records(f)))
		return rc;
	for (size_t i = 0; i < f->nrobots && rc == 0; i++) {
		rc = sv_queue_add_capture(f->q, f->robots_caps[i].url, capture_of(&f->robots_caps[i]),
					   f->robots_caps[i].o.status);
		if (rc == 0 && f->log)
			fprintf(f->log, "%s\n", f->robots_caps[i].record);
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < f->nrobots; i++)
		free_outcome(&f->robots_caps[i]);
	f->nrobots = 0;
	if (f->nouts) {
		sv_queue_outcome *o = malloc(f->nouts * sizeof(*o));
		if (!o)
			return sv_error_set(SV_EIO, "out of memory");
		for (size_t i = 0; i < f->nouts; i++) {
			o[i] = f->outs[i].o;
			o[i].capture = capture_of(&f->outs[i]);
		}
		rc = sv_queue_complete(f->q, f->o->node, o, f->nouts, NULL);
		free(o);
		if (rc)
			return rc;
		for (size_t i = 0; i < f->nouts; i++) {
			if (f->log && f->outs[i].record)
				fprintf(f->log, "%s\n", f->outs[i].record);
			free_outcome(&f->outs[i]);
		}
		f->nouts = 0;
	}
	if (f->log)
		fflush(f->log);
	f->pending_bytes = 0;
	return 0;
}

/* ---- capture records ---- */

static char *capture_record(fetcher *f, transfer *t, long status, const sv_objects_commit_info *info,
			    const char *sha, sv_kind kind, const char *truncated, const char *error,
			    const char *redirect)
{
	json_t *o = json_object();
	char *s;
	if (!o)
		return NULL;
	json_object_set_new(o, "url", json_string(t->item.url));
	json_object_set_new(o, "ts", json_string(t->ts));
	json_object_set_new(o, "status", json_integer(status));
	json_object_set_new(o, "mime", t->content_type ? json_string(t->content_type) : json_null());
	json_object_set_new(o, "length", info ? json_integer((json_int_t)info->length) : json_null());
	json_object_set_new(o, "sha256", sha ? json_string(sha) : json_null());
	json_object_set_new(o, "stored", info ? json_integer((json_int_t)info->stored) : json_null());
	json_object_set_new(o, "headers", t->headers ? json_stringn_nocheck(t->headers, t->hlen) : json_null());
	json_object_set_new(o, "seed", json_integer(t->item.seed));
	json_object_set_new(o, "via", t->item.via ? json_string(t->item.via) : json_null());
	json_object_set_new(o, "kind", json_string(sv_kind_name(kind)));
	json_object_set_new(o, "node", json_string(f->o->machine));
	if (t->encoding)
		json_object_set_new(o, "content_encoding", json_string(t->encoding));
	if (t->resumed)
		json_object_set_new(o, "resumed_at", json_integer((json_int_t)t->resume_from));
	if (redirect)
		json_object_set_new(o, "redirect", json_string(redirect));
	if (truncated)
		json_object_set_new(o, "truncated", json_string(truncated));
	if (error)
		json_object_set_new(o, "error", json_string(error));
	if (t->headers_cut)
		json_object_set_new(o, "headers_truncated", json_true());
	json_object_set_new(o, "attempt", json_integer(t->item.attempts + 1));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/* Queues the outcome of t for the next checkpoint. capture: keep a record. */
static int record(fetcher *f, transfer *t, sv_outcome_kind kind, long status, const sv_objects_commit_info *info,
		  const sv_digest *d, sv_kind ckind, const char *truncated, const char *error,
		  const char *redirect, int64_t retry_at)
{
	pending_outcome *p = t->is_robots ? new_outcome(&f->robots_caps, &f->nrobots, &f->caprobots)
					  : new_outcome(&f->outs, &f->nouts, &f->capouts);
	if (!p)
		return sv_error_set(SV_EIO, "out of memory");
	if (d)
		sv_digest_to_hex(d, p->sha);
	snprintf(p->ts, sizeof(p->ts), "%s", t->ts);
	p->o = (sv_queue_outcome){t->item.id, kind, retry_at, NULL, (int)status, info ? (int64_t)info->length : 0,
				  NULL};
	if (error && !(p->reason = strdup(error)))
		return sv_error_set(SV_EIO, "out of memory");
	p->o.reason = p->reason;
	if (kind != SV_OUTCOME_RETRY) {
		p->record = capture_record(f, t, status, info, d ? p->sha : NULL, ckind, truncated, error, redirect);
		if (!p->record)
			return sv_error_set(SV_EIO, "out of memory");
		f->pending_bytes += strlen(p->record);
		p->kind = ckind;
		p->length = info ? (int64_t)info->length : -1;
		p->has_sha = d != NULL;
		p->has_capture = 1;
	}
	if (t->is_robots && !(p->url = strdup(t->item.url)))
		return sv_error_set(SV_EIO, "out of memory");
	return 0;
}

/* ---- transfers ---- */

/*
 * A zeroed transfer whose partial file is "none" (fd -1): a zeroed one would
 * have fd 0, and freeing it would close standard input or, where there is
 * none, whatever socket or object file had taken descriptor 0.
 */
static transfer *transfer_new(void)
{
	transfer *t = calloc(1, sizeof(*t));
	if (t)
		sv_partial_init(&t->part);
	return t;
}

static void transfer_free(transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	sv_objects_writer_abort(t->w);
	sv_links_free(t->links);
	if (t->inflater) {
		inflateEnd(t->inflater);
		free(t->inflater);
	}
	sv_sitemap_free(t->sitemap);
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
	free(t->mem);
	free(t->item.url);
	free(t->item.host);
	free(t->item.via);
	free(t);
}

static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(v, (size_t)(end - v));
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
	if ((v = header_value(p, len, "Content-Length"))) {
		char *end;
		long long cl = strtoll(v, &end, 10);
		t->content_length = (*v && !*end && cl >= 0) ? cl : -1;
		free(v);
	}
	set_field(&t->content_type, header_value(p, len, "Content-Type"));
	set_field(&t->location, header_value(p, len, "Location"));
	set_field(&t->encoding, header_value(p, len, "Content-Encoding"));
	set_field(&t->retry_after, header_value(p, len, "Retry-After"));
	set_field(&t->disposition, header_value(p, len, "Content-Disposition"));
	set_field(&t->etag, header_value(p, len, "ETag"));
	set_field(&t->last_modified, header_value(p, len, "Last-Modified"));
	set_field(&t->content_range, header_value(p, len, "Content-Range"));
	return len;
}

static int is_type(const char *ct, const char *type)
{
	size_t n = strlen(type);
	return ct && !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void on_link(void *ctx, const char *url, sv_link_kind kind);
static void on_sitemap_loc(void *ctx, const char *url, int index);

static int is_kind(const transfer *t, sv_kind kind)
{
	return t->item.kind == kind;
}

/* Decides, on the first bytes of a 2xx body, whether to look for links in it. */
static void decide_links(transfer *t, const void *buf, size_t len)
{
	long status = 0;
	t->links_decided = 1;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300 || t->is_robots)
		return;
	if (is_kind(t, SV_KIND_SITEMAP)) {
		/* Gzip, whether .xml.gz or Content-Encoding, is inflated by the reader. */
		if (sv_sitemap_new(&t->sitemap, 0, on_sitemap_loc, t) != 0)
			t->sitemap = NULL;
		return;
	}
	int inflate_it = 0;
	if (t->encoding && strcasecmp(t->encoding, "identity")) {
		/* Stored as sent; gzip and deflate are inflated for the link extractor only. */
		if (strcasecmp(t->encoding, "gzip") && strcasecmp(t->encoding, "x-gzip") &&
		    strcasecmp(t->encoding, "deflate"))
			return;
		inflate_it = 1;
	}
	sv_links_type type;
	if (is_type(t->content_type, "text/html") || is_type(t->content_type, "application/xhtml+xml"))
		type = SV_LINKS_HTML;
	else if (is_type(t->content_type, "text/css"))
		type = SV_LINKS_CSS;
	else if ((!t->content_type || is_type(t->content_type, "text/plain") ||
		  is_type(t->content_type, "application/octet-stream")) &&
		 sv_links_sniff_html(buf, len))
		type = SV_LINKS_HTML;
	else
		return;
	if (sv_links_new(&t->links, type, t->item.url, 0, on_link, t) != 0) {
		t->links = NULL;
		return;
	}
	if (inflate_it) {
		t->inflater = calloc(1, sizeof(*t->inflater));
		/* 15 + 32: zlib or gzip, told apart by the header. */
		if (!t->inflater || inflateInit2(t->inflater, 15 + 32) != Z_OK) {
			free(t->inflater);
			t->inflater = NULL;
			sv_links_free(t->links);
			t->links = NULL;
			return;
		}
	}
	const char *cs = t->content_type ? strcasestr(t->content_type, "charset=") : NULL;
	if (cs)
		sv_links_set_charset(t->links, cs + 8);
}

/* Inflates a piece of an encoded page into the link extractor; damage ends the parsing, not the download. */
static void feed_inflated(transfer *t, const void *buf, size_t len)
{
	unsigned char out[32768];
	z_stream *z = t->inflater;
	z->next_in = (unsigned char *)buf;
	z->avail_in = (uInt)len;
	while (z->avail_in > 0) {
		z->next_out = out;
		z->avail_out = sizeof(out);
		int r = inflate(z, Z_NO_FLUSH);
		if (sizeof(out) - z->avail_out)
			sv_links_feed(t->links, out, sizeof(out) - z->avail_out);
		if (r == Z_STREAM_END)
			break;
		if (r != Z_OK) {
			sv_links_free(t->links);
			t->links = NULL;
			break;
		}
	}
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
			t->links_decided = 1; /* large bodies resumed are not parsed for links */
			return 0;
		}
		sv_partial_discard(&t->part); /* changed, or no Range support: the whole body again */
		t->resume_from = 0;
	}
	if ((rc = sv_objects_writer_new(&t->w, f->store, hint)))
		return rc;
	const char *validator = t->etag ? t->etag : t->last_modified;
	if (status == 200 && !t->is_robots && hint >= (int64_t)RESUME_MIN && validator && f->o->tmp_dir &&
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
	if (t->seed && t->seed->max_bytes >= 0 && t->received + len > (uint64_t)t->seed->max_bytes) {
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
	if (!t->links_decided)
		decide_links(t, p, len);
	if (t->links && t->inflater)
		feed_inflated(t, p, len);
	else if (t->links)
		sv_links_feed(t->links, p, len);
	if (t->sitemap)
		sv_sitemap_feed(t->sitemap, p, len);
	if (t->is_robots && t->mlen < ROBOTS_MAX) {
		size_t take = len < ROBOTS_MAX - t->mlen ? len : ROBOTS_MAX - t->mlen;
		if (!t->mem && !(t->mem = malloc(ROBOTS_MAX)))
			return 0;
		memcpy(t->mem + t->mlen, p, take);
		t->mlen += take;
	}
	return len;
}

/* A <loc> of a sitemap: more sitemaps from an index, else pages one hop from the seed. */
static void on_sitemap_loc(void *ctx, const char *raw, int index)
{
	transfer *t = ctx;
	fetcher *f = t->f;
	sv_scope_decision d;
	char *url = NULL;
	if (f->fatal || !t->seed || !t->seed->scope || sv_url_normalize(&url, raw, t->item.url) != 0)
		return;
	int rc = 0;
	if (index)
		rc = add_link(f, url, t->item.seed, 0, SV_KIND_SITEMAP, t->item.url, 0);
	else if (sv_scope_decide(t->seed->scope, url, 0, 1, 0, &d) == 0 && d.follow)
		rc = add_link(f, url, t->item.seed, 1, sv_scope_kind_to_kind(d.kind), t->item.url, 0);
	if (rc)
		f->fatal = rc;
	free(url);
}

/* Queues http(s)://authority/sitemap.xml, or the Sitemap: lines of robots.txt, for a seed. */
static int queue_sitemap(fetcher *f, const char *url, const char *via, int64_t seed)
{
	char *n = NULL;
	if (sv_url_normalize(&n, url, via) != 0)
		return 0; /* a bad Sitemap: line is the site's problem, not ours */
	int rc = add_link(f, n, seed, 0, SV_KIND_SITEMAP, via, 0);
	free(n);
	return rc;
}

/* A link found in a page being received. */
static void on_link(void *ctx, const char *url, sv_link_kind kind)
{
	transfer *t = ctx;
	fetcher *f = t->f;
	sv_scope_decision d;
	if (!t->seed || !t->seed->scope || f->fatal)
		return;
	if (sv_scope_decide(t->seed->scope, url, t->item.depth, t->in_scope, kind == SV_LINK_REQUISITE, &d) != 0 ||
	    !d.follow)
		return;
	if (add_link(f, url, t->item.seed, t->item.depth + 1, sv_scope_kind_to_kind(d.kind), t->item.url, 0))
		f->fatal = sv_error_code();
}

static int start(fetcher *f, transfer *t)
{
	CURL *e = curl_easy_init();
	if (!e)
		return sv_error_set(SV_EIO, "cannot start a transfer");
	t->easy = e;
	t->f = f;
	t->content_length = -1;
	sv_rfc3339_now(t->ts);
	curl_easy_setopt(e, CURLOPT_URL, t->item.url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	/* Redirects are captures of their own; only robots.txt follows them (RFC 9309). */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, t->is_robots ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L); /* the payload is the entity as sent */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)f->o->connect_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1000L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)f->o->low_speed_time_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, f->o->user_agent);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	if (t->seed && t->seed->max_bytes >= 0)
		curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->seed->max_bytes);
	if (!t->is_robots && f->o->tmp_dir && sv_partial_find(&t->part, f->o->tmp_dir, t->item.url)) {
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

static int64_t backoff_ms(int attempts)
{
	int64_t base = 2000LL << (attempts < 8 ? attempts : 8);
	if (base > 600000)
		base = 600000;
	return base / 2 + (int64_t)((double)base * ((double)rand() / RAND_MAX));
}

/* Retry-After: seconds or an HTTP date; capped at an hour. */
static int64_t retry_after_ms(const char *v)
{
	if (!v)
		return 0;
	char *end;
	long s = strtol(v, &end, 10);
	if (*v && !*end && s >= 0)
		return (s > 3600 ? 3600 : s) * 1000LL;
	time_t when = curl_getdate(v, NULL);
	if (when > 0) {
		int64_t ms = (int64_t)(when - time(NULL)) * 1000;
		return ms < 0 ? 0 : ms > 3600000 ? 3600000 : ms;
	}
	return 0;
}

static sv_kind capture_kind(transfer *t)
{
	if (t->is_robots)
		return SV_KIND_ROBOTS;
	if (is_kind(t, SV_KIND_SITEMAP))
		return SV_KIND_SITEMAP;
	if (sv_scope_is_dataset_type(t->content_type, t->item.url, t->disposition))
		return SV_KIND_DATASET;
	return t->item.kind;
}

static void count(fetcher *f, sv_kind kind)
{
	f->stats->done++;
	if (kind == SV_KIND_PAGE)
		f->stats->pages++;
	else if (kind == SV_KIND_DATASET)
		f->stats->datasets++;
	else if (kind == SV_KIND_REQUISITE)
		f->stats->requisites++;
	else
		f->stats->other++;
}

static void robots_known(fetcher *f, host_info *h, const char *body, size_t len, int status);

/* The transfer ended with a complete response. */
static int finish_response(fetcher *f, transfer *t, long status)
{
	sv_objects_commit_info info;
	sv_digest d;
	int rc;

	if (!t->w && (rc = sv_objects_writer_new(&t->w, f->store, 0)))
		return rc;
	rc = sv_objects_writer_commit(t->w, &d, &info);
	t->w = NULL;
	if (rc == SV_EINVAL) /* fewer bytes than Content-Length announced */
		return 1;
	if (rc)
		return rc;
	sv_partial_discard(&t->part);
	if (t->resumed)
		status = 200; /* the whole entity, in two responses: the record says which (resumed_at) */
	if (t->links) {
		sv_links_finish(t->links);
		sv_links_free(t->links);
		t->links = NULL;
	}
	if (t->sitemap) {
		sv_sitemap_finish(t->sitemap);
		sv_sitemap_free(t->sitemap);
		t->sitemap = NULL;
	}
	if (t->is_robots) {
		robots_known(f, t->host, (const char *)t->mem, t->mlen, (int)status);
		const char *const *maps;
		size_t nmaps = t->host->robots ? sv_robots_sitemaps(t->host->robots, &maps) : 0;
		for (size_t i = 0; i < nmaps && i < 100; i++)
			if ((rc = queue_sitemap(f, maps[i], t->item.url, t->item.seed)))
				return rc;
		return record(f, t, SV_OUTCOME_DONE, status, &info, &d, SV_KIND_ROBOTS, NULL, NULL, NULL, 0);
	}
	/* A seed's own page: its host's /sitemap.xml seeds discovery too. */
	if (t->item.depth == 0 && t->item.redirects == 0 && is_kind(t, SV_KIND_PAGE) &&
	    (rc = queue_sitemap(f, "/sitemap.xml", t->item.url, t->item.seed)))
		return rc;
	sv_kind kind = capture_kind(t);
	int retryable = status >= 500 || status == 408 || status == 429;
	if (status == 429 || status == 503) {
		int64_t wait = retry_after_ms(t->retry_after);
		sv_queue_host_cooldown(f->q, t->item.host, sv_now_ms() + (wait ? wait : backoff_ms(t->item.attempts)), 0);
	}
	if (retryable && t->item.attempts + 1 < f->o->max_attempts) {
		f->stats->retried++;
		int64_t at = sv_now_ms() + backoff_ms(t->item.attempts);
		if (status == 429 || status == 503) {
			int64_t ra = retry_after_ms(t->retry_after);
			if (ra && sv_now_ms() + ra > at)
				at = sv_now_ms() + ra;
		}
		char why[32];
		snprintf(why, sizeof(why), "HTTP %ld", status);
		return record(f, t, SV_OUTCOME_RETRY, status, NULL, NULL, kind, NULL, why, NULL, at);
	}
	char *target = NULL;
	const char *note = NULL;
	if (status >= 300 && status < 400 && t->location) {
		if (sv_url_normalize(&target, t->location, t->item.url) != 0) {
			note = "redirect to a URL that is not http(s): not followed";
		} else if (t->item.redirects + 1 > f->o->max_redirects) {
			note = "too many redirects: not followed";
		} else if (t->seed && t->seed->scope) {
			sv_scope_decision sd;
			int from = t->item.depth > 0 ? t->item.depth - 1 : 0;
			if (sv_scope_decide(t->seed->scope, target, from, 1, kind != SV_KIND_PAGE, &sd) == 0 &&
			    sd.follow) {
				if ((rc = add_link(f, target, t->item.seed, t->item.depth, kind, t->item.url,
						   t->item.redirects + 1))) {
					free(target);
					return rc;
				}
			} else {
				note = "redirect target out of scope: not followed";
			}
		}
	}
	count(f, kind);
	rc = record(f, t, SV_OUTCOME_DONE, status, &info, &d, kind, NULL, note, target, 0);
	free(target);
	return rc;
}

/* The transfer ended without a complete response. */
static int finish_error(fetcher *f, transfer *t, CURLcode res, long status)
{
	const char *truncated = NULL;
	char error[CURL_ERROR_SIZE + 64];
	int permanent = 0, timed_out = 0;

	sv_objects_writer_abort(t->w);
	t->w = NULL;
	if (t->store_rc && t->store_rc != SV_EINVAL)
		return t->store_rc; /* disk full or I/O error: stop the fetcher */
	snprintf(error, sizeof(error), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
	switch (res) {
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WRITE_ERROR:
		if (t->too_big || res == CURLE_FILESIZE_EXCEEDED) {
			snprintf(error, sizeof(error), "larger than the row's max_bytes (%lld)",
				 (long long)(t->seed ? t->seed->max_bytes : -1));
			truncated = "length";
			permanent = 1;
		} else {
			truncated = "length"; /* more bytes than Content-Length announced */
		}
		break;
	case CURLE_OPERATION_TIMEDOUT:
		truncated = t->received ? "time" : NULL;
		timed_out = 1;
		break;
	case CURLE_PARTIAL_FILE:
		truncated = "length";
		break;
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
		truncated = t->received ? "disconnect" : NULL;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
		permanent = 1;
		break;
	default:
		break;
	}
	if (t->is_robots) {
		/* Unreachable robots.txt: RFC 9309 says assume complete disallow, but
		 * a host that does not answer at all will fail its URLs anyway. */
		robots_known(f, t->host, NULL, 0, 0);
		return record(f, t, SV_OUTCOME_FAILED, status, NULL, NULL, SV_KIND_ROBOTS, truncated, error, NULL, 0);
	}
	if (timed_out)
		sv_queue_host_cooldown(f->q, t->item.host, sv_now_ms() + 1000 * (1LL << (t->item.attempts < 8 ? t->item.attempts : 8)), 1);
	if (!permanent && t->item.attempts + 1 < f->o->max_attempts) {
		sv_partial_close(&t->part); /* kept: the next attempt resumes with Range */
		f->stats->retried++;
		return record(f, t, SV_OUTCOME_RETRY, status, NULL, NULL, t->item.kind, NULL, error, NULL,
			      sv_now_ms() + backoff_ms(t->item.attempts));
	}
	sv_partial_discard(&t->part);
	f->stats->failed++;
	return record(f, t, SV_OUTCOME_FAILED, status, NULL, NULL, t->item.kind, truncated,
		      error, NULL, 0);
}

static void unlink_running(fetcher *f, transfer *t)
{
	if (t->run_prev)
		t->run_prev->run_next = t->run_next;
	else
		f->running = t->run_next;
	if (t->run_next)
		t->run_next->run_prev = t->run_prev;
	t->run_prev = t->run_next = NULL;
}

/* Notes that t's host connection is free (told to the queue after this round of messages). */
static void note_ended(fetcher *f, const transfer *t)
{
	if (!t->item.id)
		return;
	if (f->nended == f->capended) {
		size_t c = f->capended ? f->capended * 2 : 64;
		int64_t *p = realloc(f->ended, c * sizeof(*p));
		if (!p)
			return; /* the slot comes back with the outcome instead */
		f->ended = p;
		f->capended = c;
	}
	f->ended[f->nended++] = t->item.id;
}

static void done(fetcher *f, transfer *t, CURLcode res)
{
	long status = 0;
	int rc;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(f->multi, t->easy);
	unlink_running(f, t);
	f->active--;
	f->stats->inflight = f->active;
	if (t->received >= BIG_BODY && f->stats->big_inflight)
		f->stats->big_inflight--;
	note_ended(f, t);
	if (res == CURLE_OK && t->store_rc == 0) {
		rc = finish_response(f, t, status);
		if (rc == 1) /* short body after all */
			rc = finish_error(f, t, CURLE_PARTIAL_FILE, status);
	} else {
		rc = finish_error(f, t, res, status);
	}
	if (rc && !f->fatal)
		f->fatal = rc;
	transfer_free(t);
}

/* ---- robots.txt ---- */

static void release_waiting(fetcher *f, host_info *h);

static void robots_known(fetcher *f, host_info *h, const char *body, size_t len, int status)
{
	sv_robots *r = NULL;
	if (sv_robots_parse(&r, body ? body : "", len, status, "salvage") != 0)
		r = NULL;
	sv_robots_free(h->robots);
	h->robots = r;
	h->robots_state = ROBOTS_KNOWN;
	if (body || status)
		sv_queue_host_set_robots(f->q, h->key, body ? body : "", status,
					  r ? sv_robots_crawl_delay_ms(r) : -1);
	release_waiting(f, h);
}

static int start_item(fetcher *f, transfer *t);

static void release_waiting(fetcher *f, host_info *h)
{
	transfer *t = h->waiting;
	h->waiting = NULL;
	while (t) {
		transfer *next = t->next;
		f->parked--;
		t->next = NULL;
		int rc = start_item(f, t);
		if (rc && !f->fatal)
			f->fatal = rc;
		t = next;
	}
}

/* Starts a claimed URL, or parks it until its host's robots.txt is known. */
static int start_item(fetcher *f, transfer *t)
{
	host_info *h = t->host;
	int respect = f->o->robots && (!t->seed || t->seed->robots);
	if (respect && h->robots_state != ROBOTS_KNOWN) {
		if (h->robots_state == ROBOTS_UNKNOWN) {
			sv_queue_host qh;
			if (sv_queue_host_get(f->q, h->key, &qh) == 0 && qh.robots_at_ms > 0) {
				h->robots_state = ROBOTS_FETCHING; /* known below, without a fetch */
				t->next = h->waiting;
				h->waiting = t;
				f->parked++;
				robots_known(f, h, qh.robots, qh.robots ? strlen(qh.robots) : 0, qh.robots_status);
				sv_queue_host_clear(&qh);
				return 0;
			}
			sv_queue_host_clear(&qh);
			transfer *r = transfer_new();
			const char *scheme_end = strstr(t->item.url, "://");
			size_t slen = scheme_end ? (size_t)(scheme_end - t->item.url) : 4;
			if (!r || !(r->item.url = malloc(slen + strlen(h->key) + 16)) ||
			    !(r->item.host = strdup(h->key))) {
				transfer_free(r);
				return sv_error_set(SV_EIO, "out of memory");
			}
			sprintf(r->item.url, "%.*s://%s/robots.txt", (int)slen, t->item.url, h->key);
			r->item.seed = t->item.seed;
			r->item.kind = SV_KIND_ROBOTS;
			r->is_robots = 1;
			r->host = h;
			h->robots_state = ROBOTS_FETCHING;
			int rc = start(f, r);
			if (rc) {
				transfer_free(r);
				return rc;
			}
		}
		t->next = h->waiting;
		h->waiting = t;
		f->parked++;
		return 0;
	}
	if (respect && h->robots && !sv_robots_allowed(h->robots, t->item.url)) {
		sv_rfc3339_now(t->ts);
		f->stats->skipped++;
		int rc = record(f, t, SV_OUTCOME_SKIPPED, 0, NULL, NULL, t->item.kind, NULL,
				"disallowed by robots.txt", NULL, 0);
		/* Its host slot is free now, not at the next checkpoint: with one
		 * connection per host, the whole host would wait for it. */
		note_ended(f, t);
		transfer_free(t);
		return rc;
	}
	int rc = start(f, t);
	if (rc)
		transfer_free(t);
	return rc;
}

/* ---- the loop ---- */

static int claim_more(fetcher *f)
{
	size_t room = (size_t)f->o->transfers > f->active + f->parked ? (size_t)f->o->transfers - f->active - f->parked : 0;
	sv_queue_item *items = NULL;
	size_t n = 0;
	int rc;
	if (room == 0 && f->nended == 0)
		return 0;
	/* The host slots of ended transfers are freed in the claim's own transaction. */
	if ((rc = sv_queue_claim(f->q, f->o->node, f->ended, f->nended, room, f->o->lease_ms, &items, &n)))
		return rc;
	f->nended = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		transfer *t = transfer_new();
		if (!t) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		t->f = f;
		t->item = items[i];
		memset(&items[i], 0, sizeof(items[i])); /* the transfer owns the strings now */
		t->seed = seed_get(f, t->item.seed);
		t->host = host_get(f, t->item.host);
		/* Whether this URL is itself in scope: only then are its links followed further. */
		sv_scope_decision self;
		t->in_scope = t->seed && t->seed->scope &&
			      sv_scope_decide(t->seed->scope, t->item.url, t->item.depth > 0 ? t->item.depth - 1 : 0, 1,
					      0, &self) == 0 &&
			      self.in_scope;
		if (!t->host) {
			transfer_free(t);
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		rc = start_item(f, t);
	}
	sv_queue_items_free(items, n);
	return rc < 0 ? rc : (int)n;
}

static int renew(fetcher *f)
{
	int64_t *ids = malloc((f->active + f->parked + 1) * sizeof(*ids));
	size_t n = 0;
	if (!ids)
		return sv_error_set(SV_EIO, "out of memory");
	for (unsigned b = 0; b < HOST_BUCKETS; b++)
		for (host_info *h = f->hosts[b]; h; h = h->next)
			for (transfer *t = h->waiting; t; t = t->next)
				if (t->item.id)
					ids[n++] = t->item.id;
	for (transfer *t = f->running; t; t = t->run_next)
		if (t->item.id)
			ids[n++] = t->item.id;
	int rc = n ? sv_queue_renew(f->q, f->o->node, ids, n, f->o->lease_ms) : 0;
	free(ids);
	f->last_renew = sv_now_ms();
	return rc;
}

/* Stops every transfer and gives their leases back. */
static int release_all(fetcher *f)
{
	int64_t *ids = malloc((f->active + f->parked + 1) * sizeof(*ids));
	size_t n = 0;
	if (!ids)
		return sv_error_set(SV_EIO, "out of memory");
	while (f->running) {
		transfer *t = f->running;
		curl_multi_remove_handle(f->multi, t->easy);
		unlink_running(f, t);
		if (t->item.id)
			ids[n++] = t->item.id;
		transfer_free(t);
	}
	for (unsigned b = 0; b < HOST_BUCKETS; b++)
		for (host_info *h = f->hosts[b]; h; h = h->next) {
			transfer *t = h->waiting;
			h->waiting = NULL;
			while (t) {
				transfer *next = t->next;
				ids[n++] = t->item.id;
				transfer_free(t);
				t = next;
			}
		}
	f->active = f->parked = 0;
	int rc = n ? sv_queue_release(f->q, f->o->node, ids, n) : 0;
	free(ids);
	return rc;
}

static void fetcher_free(fetcher *f)
{
	free(f->seen);
	for (seed_info *s = f->seeds; s;) {
		seed_info *next = s->next;
		sv_scope_free(s->scope);
		free(s);
		s = next;
	}
	for (unsigned b = 0; b < HOST_BUCKETS; b++)
		for (host_info *h = f->hosts[b]; h;) {
			host_info *next = h->next;
			sv_robots_free(h->robots);
			free(h->key);
			free(h);
			h = next;
		}
	for (size_t i = 0; i < f->nouts; i++)
		free_outcome(&f->outs[i]);
	for (size_t i = 0; i < f->nrobots; i++)
		free_outcome(&f->robots_caps[i]);
	for (size_t i = 0; i < f->nlinks; i++) {
		free(f->links[i].url);
		free(f->links[i].via);
	}
	free(f->outs);
	free(f->ended);
	free(f->robots_caps);
	free(f->links);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	if (f->log)
		fclose(f->log);
}

int sv_fetch_run(sv_queue *q, sv_objects *store, const sv_fetch_options *o)
{
	fetcher f;
	int rc = 0;
	int64_t idle_until = 0;

	memset(&f, 0, sizeof(f));
	f.q = q;
	f.store = store;
	f.o = o;
	f.stats = o->stats ? o->stats : &f.local;
	srand((unsigned)(sv_now_ms() ^ (int64_t)getpid()));
	if (!(f.multi = curl_multi_init()))
		return sv_error_set(SV_EIO, "cannot start libcurl");
	if (o->log_path && !(f.log = fopen(o->log_path, "ae"))) {
		rc = sv_error_errno(errno, "cannot open '%s'", o->log_path);
		fetcher_free(&f);
		return rc;
	}
	curl_multi_setopt(f.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	f.last_checkpoint = f.last_links = f.last_renew = sv_now_ms();

	while (!f.fatal) {
		int64_t now = sv_now_ms();
		int stopping = o->stop && *o->stop;
		if (stopping)
			break;
		if (now >= idle_until) {
			int got = claim_more(&f);
			if (got < 0) {
				rc = got;
				break;
			}
			if (got == 0 && f.active == 0 && f.parked == 0) {
				/* Idle. Links found go out at once, for this fetcher or another. */
				int had_links = f.nlinks > 0;
				if ((rc = flush_links(&f)))
					break;
				int64_t queued = 0, leased = 0;
				if ((rc = sv_queue_pending(q, &queued, &leased)))
					break;
				if (queued == 0) {
					/* The end may be near: outcomes held here must not keep
					 * everyone waiting. While URLs are queued but not ready
					 * (a host's delay, its connection cap), they wait for the
					 * timed checkpoint: a polite crawl of one host is idle
					 * between most requests, and a ledger commit per URL
					 * would be slower than the crawl. */
					if ((rc = checkpoint(&f)) || (rc = sv_queue_pending(q, &queued, &leased)))
						break;
					if (queued == 0 && leased == 0)
						break; /* drained */
				}
				idle_until = had_links ? 0 : now + 200; /* hosts waiting for their delay, or others working */
			} else if (got == 0) {
				idle_until = now + 100;
				/* Nothing to claim while links wait here: queue them now
				 * rather than at the next timed checkpoint (a crawl's first
				 * seconds, or a small site, would otherwise go in steps). */
				if (f.nlinks && now - f.last_links >= 50) {
					if ((rc = flush_links(&f)))
						break;
					idle_until = 0;
				}
			}
		}
		int running = 0, numfds;
		curl_multi_perform(f.multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(f.multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			transfer *t;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			done(&f, t, m->data.result);
		}
		if (f.fatal)
			break;
		if (f.nended)
			idle_until = 0; /* room again: claim at once, which frees their host slots */
		now = sv_now_ms();
		if (now - f.last_checkpoint >= o->checkpoint_ms || f.nouts >= OUTCOMES_FLUSH ||
		    f.pending_bytes >= RECORDS_FLUSH) {
			if ((rc = checkpoint(&f)))
				break;
		} else if (now - f.last_links >= LINKS_MS || f.nlinks >= LINKS_FLUSH) {
			if ((rc = flush_links(&f)))
				break;
		}
		if (now - f.last_renew >= o->lease_ms / 3 && (rc = renew(&f)))
			break;
		/* A claim is due (transfers ended, or links came) and there is room:
		 * look for new work at once rather than after the poll's timeout,
		 * which with every transfer ended is all that would wake us. */
		int wait_ms = f.active ? 50 : 20;
		if (now >= idle_until && f.active + f.parked < (size_t)o->transfers)
			wait_ms = 0;
		curl_multi_poll(f.multi, NULL, 0, wait_ms, &numfds);
	}
	if (f.fatal && !rc)
		rc = f.fatal;
	/* Whatever happened: give back what is unfinished, keep what is done. */
	int rrc = release_all(&f);
	int crc = checkpoint(&f);
	if (!rc)
		rc = rrc ? rrc : crc;
	f.stats->inflight = 0;
	f.stats->finished = 1;
	fetcher_free(&f);
	return rc;
}
