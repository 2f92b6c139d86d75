/*
 * crawler/checkpoint.c -- what one fetcher holds for its next checkpoint,
 * and the checkpoint (see fetch.h for the order it keeps).
 *
 * Outcomes and their capture records wait here, and so do the links found,
 * until the checkpoint makes them durable in the one order that keeps every
 * promise after a crash: links queued, objects synced, records committed to
 * the ledger and then the capture index, robots.txt rules kept in the queue,
 * outcomes marked in the queue.
 */
#include "fetcher.h"

#include "../common/error.h"
#include "../queue/url.h"
#include "../storage/capture.h"

#include <stdlib.h>
#include <string.h>

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

void sv_fetch_outcome_free(pending_outcome *p)
{
	free(p->record);
	free(p->reason);
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

static char *dup_or_null(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = 1;
	return d;
}

static void link_free(pending_link *l)
{
	free(l->url);
	free(l->via);
	free(l->meta);
	free(l->dataset);
	free(l->role);
}

int sv_fetch_add_link_meta(fetcher *f, const char *url, int64_t seed, int depth, sv_kind kind, const char *via,
			   const char *meta, const char *dataset, const char *role, int refresh)
{
	int oom = 0;
	if (f->nlinks == f->caplinks) {
		size_t c = f->caplinks ? f->caplinks * 2 : 256;
		pending_link *p = realloc(f->links, c * sizeof(*p));
		if (!p)
			return sv_error_set(SV_EIO, "out of memory");
		f->links = p;
		f->caplinks = c;
	}
	pending_link *l = &f->links[f->nlinks];
	*l = (pending_link){.url = dup_or_null(url, &oom), .via = dup_or_null(via, &oom), .meta = dup_or_null(meta, &oom),
			    .dataset = dup_or_null(dataset, &oom), .role = dup_or_null(role, &oom)};
	if (oom) {
		link_free(l);
		return sv_error_set(SV_EIO, "out of memory");
	}
	l->u = (sv_queue_url){l->url, seed, depth, kind, l->via, 0, l->meta, l->dataset, l->role, refresh};
	f->nlinks++;
	return 0;
}

int sv_fetch_add_link(fetcher *f, const char *url, int64_t seed, int depth, sv_kind kind, const char *via,
		    int redirects)
{
	int rc;
	if (seen_before(f, url))
		return 0;
	if ((rc = sv_fetch_add_link_meta(f, url, seed, depth, kind, via, NULL, NULL, NULL, 0)) == 0)
		f->links[f->nlinks - 1].u.redirects = redirects;
	return rc;
}

/* Queues the links found so far. They need no sync: a link whose page is
 * lost to a crash is found again when the page is fetched again. */
int sv_fetch_flush_links(fetcher *f)
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
	for (size_t i = 0; i < f->nlinks; i++)
		link_free(&f->links[i]);
	f->nlinks = 0;
	return 0;
}

/* Keeps robots.txt rules for the queue until the checkpoint that commits their capture. */
int sv_fetch_keep_rules(fetcher *f, const char *host, const char *body, size_t len, int status, int crawl_delay_ms)
{
	if (f->nrules == f->caprules) {
		size_t c = f->caprules ? f->caprules * 2 : 16;
		pending_rules *p = realloc(f->rules, c * sizeof(*p));
		if (!p)
			return sv_error_set(SV_EIO, "out of memory");
		f->rules = p;
		f->caprules = c;
	}
	pending_rules *r = &f->rules[f->nrules];
	r->host = strdup(host);
	r->body = strndup(body ? body : "", body ? len : 0);
	r->status = status;
	r->crawl_delay_ms = crawl_delay_ms;
	if (!r->host || !r->body) {
		sv_fetch_rules_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	f->nrules++;
	return 0;
}

void sv_fetch_rules_free(pending_rules *r)
{
	free(r->host);
	free(r->body);
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
 * are committed (to the ledger, then the capture index); only then are
 * robots.txt rules kept and the outcomes marked in the queue. A URL marked
 * done, and a host whose rules the queue keeps, is in the ledger, and every
 * ledger record points to an object on disk.
 */
int sv_fetch_checkpoint(fetcher *f)
{
	int rc;
	f->last_checkpoint = sv_now_ms();
	if ((rc = sv_fetch_flush_links(f)))
		return rc;
	if (f->nouts == 0 && f->nrobots == 0)
		return 0;
	if ((rc = sv_objects_sync(f->store)) || (rc = commit_records(f)))
		return rc;
	/* robots.txt rules, now that their captures are durable: kept in the queue for every fetcher. */
	for (size_t i = 0; i < f->nrules; i++)
		if ((rc = sv_queue_host_set_robots(f->q, f->rules[i].host, f->rules[i].body, f->rules[i].status,
						   f->rules[i].crawl_delay_ms)))
			return rc;
	for (size_t i = 0; i < f->nrules; i++)
		sv_fetch_rules_free(&f->rules[i]);
	f->nrules = 0;
	for (size_t i = 0; i < f->nrobots; i++) {
		if (f->log && f->robots_caps[i].record)
			fprintf(f->log, "%s\n", f->robots_caps[i].record);
		sv_fetch_outcome_free(&f->robots_caps[i]);
	}
	f->nrobots = 0;
	if (f->nouts) {
		sv_queue_outcome *o = malloc(f->nouts * sizeof(*o));
		if (!o)
			return sv_error_set(SV_EIO, "out of memory");
		for (size_t i = 0; i < f->nouts; i++) {
			o[i] = f->outs[i].o;
			/* The queue keeps, per done URL, the digest its capture record holds. */
			if (o[i].kind == SV_OUTCOME_DONE && f->outs[i].digest[0])
				o[i].digest = f->outs[i].digest;
		}
		rc = sv_queue_complete(f->q, f->o->node, o, f->nouts, NULL);
		free(o);
		if (rc)
			return rc;
		for (size_t i = 0; i < f->nouts; i++) {
			if (f->log && f->outs[i].record)
				fprintf(f->log, "%s\n", f->outs[i].record);
			sv_fetch_outcome_free(&f->outs[i]);
		}
		f->nouts = 0;
	}
	if (f->log)
		fflush(f->log);
	f->pending_bytes = 0;
	/* Catalog passes whose last page is now durable: their vanished datasets are recorded at once. */
	if (f->nends && ((rc = sv_fetch_catalog_ends(f)) || (f->nrobots && (rc = sv_fetch_checkpoint(f)))))
		return rc;
	return 0;
}

static char *capture_record(fetcher *f, transfer *t, long status, const sv_objects_commit_info *info,
			    const char *sha, sv_kind kind, const char *truncated, const char *error,
			    const char *redirect)
{
	sv_capture c = SV_CAPTURE_INIT;
	char *s = NULL, id[SV_CAPTURE_ID_LEN];
	if (sv_capture_new_id(id))
		return NULL;
	c.id = id;
	c.url = t->item.url;
	c.ts = t->ts;
	c.status = (int)status;
	c.mime = t->content_type;
	c.length = info ? (int64_t)info->length : -1;
	c.sha256 = sha;
	c.stored = info ? (int64_t)info->stored : -1;
	c.headers = t->headers;
	c.headers_len = t->hlen;
	c.seed = t->item.seed;
	c.via = t->item.via;
	c.kind = kind;
	c.node = f->o->machine;
	c.content_encoding = t->encoding;
	c.resumed_at = t->resumed ? t->resume_from : -1;
	c.redirect = redirect;
	c.truncated = truncated;
	c.error = error;
	c.headers_truncated = t->headers_cut;
	c.attempt = t->item.attempts + 1;
	c.tls_unverified = t->tls_unverified;
	if (t->request && t->rlen <= REQUEST_MAX) {
		c.request = t->request;
		c.request_len = t->rlen;
	}
	c.ip = t->ip[0] ? t->ip : NULL;
	c.catalog = t->catalog_json;
	char *dataset = NULL;
	sv_fetch_catalog_dataset_json(t, &dataset);
	c.dataset = dataset;
	int rc = sv_capture_to_json(&c, &s);
	free(dataset);
	return rc == 0 ? s : NULL;
}

/*
 * The record of a URL whose full record could not be built: url, ts and
 * why, so that the URL is a recorded failure rather than lost.
 */
static char *minimal_record(fetcher *f, transfer *t, long status, const char *why)
{
	sv_capture c = SV_CAPTURE_INIT;
	char *s = NULL, id[SV_CAPTURE_ID_LEN];
	if (sv_capture_new_id(id) == 0)
		c.id = id;
	c.url = t->item.url;
	c.ts = t->ts;
	c.status = (int)status;
	c.seed = t->item.seed;
	c.kind = t->is_robots ? SV_KIND_ROBOTS : t->item.kind;
	c.node = f->o->machine;
	c.error = why;
	c.attempt = t->item.attempts + 1;
	return sv_capture_to_json(&c, &s) == 0 ? s : NULL;
}

/*
 * Queues the outcome of t for the next checkpoint, with its capture record
 * (none for a retry). The outcome is added only once its record exists, so
 * a URL is never marked done without one; a record that cannot be built
 * makes the outcome a failure that says why.
 */
int sv_fetch_record(fetcher *f, transfer *t, sv_outcome_kind kind, long status, const sv_objects_commit_info *info,
		  const sv_digest *d, sv_kind ckind, const char *truncated, const char *error,
		  const char *redirect, int64_t retry_at)
{
	char sha[SV_DIGEST_HEX_LEN + 1], why[512];
	char *record = NULL, *reason = NULL;
	if (d)
		sv_digest_to_hex(d, sha);
	if (kind != SV_OUTCOME_RETRY &&
	    !(record = capture_record(f, t, status, info, d ? sha : NULL, ckind, truncated, error, redirect))) {
		snprintf(why, sizeof(why), "capture record cannot be built: %s", sv_error_last());
		if (!(record = minimal_record(f, t, status, why)))
			return sv_error_set(SV_EIO, "out of memory");
		if (kind == SV_OUTCOME_DONE && !t->is_robots && f->stats->done)
			f->stats->done--; /* counted by outcome.c as done */
		f->stats->failed++;
		kind = SV_OUTCOME_FAILED;
		error = why;
	}
	if (error && !(reason = strdup(error))) {
		free(record);
		return sv_error_set(SV_EIO, "out of memory");
	}
	pending_outcome *p = t->is_robots || t->no_outcome ? new_outcome(&f->robots_caps, &f->nrobots, &f->caprobots)
							   : new_outcome(&f->outs, &f->nouts, &f->capouts);
	if (!p) {
		free(record);
		free(reason);
		return sv_error_set(SV_EIO, "out of memory");
	}
	p->o = (sv_queue_outcome){t->item.id, kind, retry_at, reason, (int)status, info ? (int64_t)info->length : 0,
				  NULL};
	snprintf(p->digest, sizeof(p->digest), "%s", d ? sha : "");
	p->record = record;
	p->reason = reason;
	if (record)
		f->pending_bytes += strlen(record);
	return 0;
}

int sv_fetch_note_capture(fetcher *f, const char *url, int64_t seed, sv_kind kind, const char *via,
			  const char *dataset_json, const char *error)
{
	sv_capture c = SV_CAPTURE_INIT;
	char id[SV_CAPTURE_ID_LEN], ts[SV_RFC3339_LEN], *record = NULL, *reason = NULL;
	if (sv_capture_new_id(id))
		return sv_error_set(SV_EIO, "no random bytes for a record id");
	sv_rfc3339_now(ts);
	c.id = id;
	c.url = url;
	c.ts = ts;
	c.status = 0;
	c.seed = seed;
	c.via = via;
	c.kind = kind;
	c.node = f->o->machine;
	c.error = error;
	c.dataset = dataset_json;
	if (sv_capture_to_json(&c, &record) || !(reason = strdup(error))) {
		free(record);
		return sv_error_set(SV_EIO, "out of memory");
	}
	pending_outcome *p = new_outcome(&f->robots_caps, &f->nrobots, &f->caprobots);
	if (!p) {
		free(record);
		free(reason);
		return sv_error_set(SV_EIO, "out of memory");
	}
	p->record = record;
	p->reason = reason;
	f->pending_bytes += strlen(record);
	return 0;
}

/*
 * Queues http(s)://authority/sitemap.xml, or a Sitemap: line of robots.txt,
 * found by t for its row: a first sitemap, at depth 0, when the row's scope
 * reads it (sv_scope_decide_sitemap).
 */
int sv_fetch_queue_sitemap(fetcher *f, transfer *t, const char *url)
{
	sv_scope_decision d;
	char *n = NULL;
	int rc = 0;
	if (!t->seed || !t->seed->scope || sv_url_normalize(&n, url, t->item.url) != 0)
		return 0; /* a bad Sitemap: line is the site's problem, not ours */
	if (sv_scope_decide_sitemap(t->seed->scope, n, 0, &d) == 0 && d.follow)
		rc = sv_fetch_add_link(f, n, t->item.seed, 0, SV_KIND_SITEMAP, t->item.url, 0);
	free(n);
	return rc;
}
