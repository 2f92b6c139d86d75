/*
 * crawler/requeue.c -- queue.db made again from the archive (see requeue.h).
 *
 * In four steps, none of which fetches: the sheets of the ledger are loaded
 * again (new row ids); every capture record is placed under its row (the
 * record's row id is the old queue's: a row is matched by its seed URL's
 * own record, else by the same id) and its URL queued, at the depth its via
 * chain gives; each is then ended as the record says (done, failed,
 * skipped); last, each stored page or sitemap of a 2xx record is read again
 * with the crawl's own readers (discover.h), and what it links to is
 * queued as the fetcher would have (transfer.c on_found): URLs captured
 * already are in the queue by then, so only the missing ones are added.
 *
 * What must stay true: see requeue.h. robots.txt is not restored: the next
 * crawl asks each host for it again, as the rules may have changed.
 */
#include "requeue.h"

#include "../common/error.h"
#include "../common/strset.h"
#include "../queue/url.h"
#include "../storage/capture.h"
#include "discover.h"
#include "row.h"
#include "seeding.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
	char *url, *via, *ts, *sha256, *mime, *encoding, *redirect, *error;
	int status;
	int64_t length, seed; /* seed: the old queue's row id */
	sv_kind kind;
	int depth; /* -1 not known yet, -2 being worked out */
	size_t row; /* index in requeue.rows + 1; 0 unplaced */
} record;

typedef struct {
	int64_t id;
	char *url;
	sv_row *row;
} seed_row;

typedef struct {
	sv_strset by_url; /* record URL -> index + 1 */
	record *recs;
	size_t n, cap;
	seed_row *rows;
	size_t nrows;
	sv_strset seed_urls; /* seed URL -> index in rows + 1 */
	sv_queue_url *found; /* links of the page being read, strings owned */
	size_t nfound, capfound;
	const record *reading;
	int in_scope;
	int rc;
} requeue;

static char *dup_opt(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = 1;
	return d;
}

/* Keeps the latest record of each URL. */
static int on_record(void *ctx, const char *path, const char *line, size_t len)
{
	requeue *r = ctx;
	sv_capture_parsed p;
	int oom = 0, rc = 0;
	unsigned at = 0;
	(void)path;
	if (sv_capture_parse(&p, line, len) != 0 || p.c.status < 0) {
		sv_capture_parsed_clear(&p); /* not a record, or a file put by hand: no queue entry */
		return 0;
	}
	if ((rc = sv_strset_add(&r->by_url, p.c.url, (unsigned)r->n + 1, &at)) < 0)
		goto done;
	record *x;
	if (rc == 1) {
		x = &r->recs[at - 1];
		if (x->ts && p.c.ts && strcmp(p.c.ts, x->ts) < 0)
			goto done; /* an older one */
		free(x->via), free(x->ts), free(x->sha256), free(x->mime), free(x->encoding), free(x->redirect),
			free(x->error);
		char *url = x->url;
		memset(x, 0, sizeof(*x));
		x->url = url;
	} else {
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 256;
			record *t = realloc(r->recs, cap * sizeof(*t));
			if (!t) {
				rc = sv_error_set(SV_EIO, "out of memory");
				goto done;
			}
			r->recs = t;
			r->cap = cap;
		}
		x = &r->recs[r->n++];
		memset(x, 0, sizeof(*x));
		x->url = dup_opt(p.c.url, &oom);
	}
	rc = 0;
	x->via = dup_opt(p.c.via, &oom);
	x->ts = dup_opt(p.c.ts, &oom);
	x->sha256 = dup_opt(p.c.sha256, &oom);
	x->mime = dup_opt(p.c.mime, &oom);
	x->encoding = dup_opt(p.c.content_encoding, &oom);
	x->redirect = dup_opt(p.c.redirect, &oom);
	x->error = dup_opt(p.c.error, &oom);
	x->status = p.c.status;
	x->length = p.c.length;
	x->seed = p.c.seed;
	x->kind = p.c.kind;
	x->depth = -1;
	if (oom)
		rc = sv_error_set(SV_EIO, "out of memory");
done:
	sv_capture_parsed_clear(&p);
	return rc;
}

static void requeue_free(requeue *r)
{
	for (size_t i = 0; i < r->n; i++) {
		record *x = &r->recs[i];
		free(x->url), free(x->via), free(x->ts), free(x->sha256), free(x->mime), free(x->encoding),
			free(x->redirect), free(x->error);
	}
	free(r->recs);
	for (size_t i = 0; i < r->nrows; i++) {
		free(r->rows[i].url);
		sv_row_free(r->rows[i].row);
	}
	free(r->rows);
	sv_strset_free(&r->by_url);
	sv_strset_free(&r->seed_urls);
}

static int by_id(const void *a, const void *b)
{
	int64_t x = ((const seed_row *)a)->id, y = ((const seed_row *)b)->id;
	return (x > y) - (x < y);
}

/* The new rows (in id order), with their settings, and the seed URL of each. */
static int read_rows(requeue *r, sv_queue *q)
{
	sv_queue_seed_stats *stats = NULL, total;
	size_t n = 0;
	int rc = sv_queue_stats(q, &stats, &n, &total);
	if (rc == 0 && !(r->rows = calloc(n ? n : 1, sizeof(*r->rows))))
		rc = sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		seed_row *s = &r->rows[r->nrows];
		char *params = NULL;
		s->id = stats[i].seed;
		if (!(s->url = strdup(stats[i].url)))
			rc = sv_error_set(SV_EIO, "out of memory");
		else if ((rc = sv_queue_seed_params(q, s->id, &params)) == 0 && params)
			rc = sv_row_from_json(&s->row, params);
		free(params);
		r->nrows++;
	}
	sv_queue_stats_free(stats, n);
	if (rc == 0) {
		qsort(r->rows, r->nrows, sizeof(*r->rows), by_id);
		for (size_t i = 0; i < r->nrows && rc == 0; i++)
			if ((rc = sv_strset_add(&r->seed_urls, r->rows[i].url, (unsigned)i + 1, NULL)) > 0)
				rc = 0;
	}
	return rc;
}

static const record *by_url(const requeue *r, const char *url)
{
	unsigned at = 0;
	return url && sv_strset_get(&r->by_url, url, &at) ? &r->recs[at - 1] : NULL;
}

/*
 * Each record's row in the new queue: the row whose seed URL is the
 * record's (or the record's own via chain's first URL's), else the row of
 * the same id, if any.
 */
static size_t place(requeue *r, record *x, int hops)
{
	unsigned at = 0;
	if (x->row || hops > 64)
		return x->row;
	if (sv_strset_get(&r->seed_urls, x->url, &at) && !x->via)
		return x->row = at;
	record *via = (record *)by_url(r, x->via);
	if (via && via != x && place(r, via, hops + 1))
		return x->row = via->row;
	seed_row key = {.id = x->seed};
	seed_row *same = bsearch(&key, r->rows, r->nrows, sizeof(*r->rows), by_id);
	return same ? (x->row = (size_t)(same - r->rows) + 1) : 0;
}

/*
 * Hops from the seed, as the crawl counted them: a redirect keeps its
 * source's depth; a first sitemap (robots.txt's or /sitemap.xml) is at 0, one
 * an index lists one hop further than the index.
 */
static int depth_of(requeue *r, record *x)
{
	if (x->depth >= 0)
		return x->depth;
	if (x->depth == -2)
		return 0; /* a via cycle */
	x->depth = -2;
	int d = 0;
	record *via = (record *)by_url(r, x->via);
	if (!via || (x->kind == SV_KIND_SITEMAP && via->kind != SV_KIND_SITEMAP))
		d = 0;
	else if (via->redirect && !strcmp(via->redirect, x->url))
		d = depth_of(r, via);
	else
		d = depth_of(r, via) + 1;
	return x->depth = d;
}

static sv_queue_outcome outcome_of(const record *x)
{
	sv_queue_outcome o = {0};
	o.status = x->status;
	o.bytes = x->length > 0 ? x->length : 0;
	o.reason = x->error;
	if (x->sha256)
		o.kind = SV_OUTCOME_DONE;
	else if (x->error && !strncmp(x->error, "disallowed by robots.txt", 24))
		o.kind = SV_OUTCOME_SKIPPED;
	else if (x->error)
		o.kind = SV_OUTCOME_FAILED;
	else
		o.kind = SV_OUTCOME_DONE;
	return o;
}

static void add_found(requeue *r, const char *url, int depth, sv_kind kind)
{
	if (r->rc)
		return;
	if (r->nfound == r->capfound) {
		size_t cap = r->capfound ? r->capfound * 2 : 64;
		sv_queue_url *t = realloc(r->found, cap * sizeof(*t));
		if (!t) {
			r->rc = sv_error_set(SV_EIO, "out of memory");
			return;
		}
		r->found = t;
		r->capfound = cap;
	}
	const record *x = r->reading;
	char *u = strdup(url), *via = strdup(x->url);
	if (!u || !via) {
		free(u);
		free(via);
		r->rc = sv_error_set(SV_EIO, "out of memory");
		return;
	}
	r->found[r->nfound++] = (sv_queue_url){u, r->rows[x->row - 1].id, depth, kind, via, 0, NULL, NULL, NULL, 0};
}

/* What the fetcher does with a URL found (transfer.c on_found): the same rule. */
static void on_found(void *ctx, const char *url, sv_found_kind kind)
{
	requeue *r = ctx;
	const record *x = r->reading;
	int depth;
	sv_kind as;
	if (sv_scope_follow_found(sv_row_scope(r->rows[x->row - 1].row), url, x->depth, r->in_scope,
				  kind == SV_FOUND_SITEMAP, kind == SV_FOUND_REQUISITE, &depth, &as))
		add_found(r, url, depth, as);
}

/* Reads a stored payload again with the crawl's readers; found links go to r->found. */
static int read_links(requeue *r, const sv_objects *store, const record *x, int *read)
{
	sv_digest dg;
	sv_objects_reader *rd = NULL;
	sv_discover *d = NULL;
	static char buf[1 << 16];
	size_t got = 0;
	const sv_scope_compiled *scope = sv_row_scope(r->rows[x->row - 1].row);
	int rc;

	*read = 0;
	if (!scope || sv_digest_from_hex(&dg, x->sha256) != 0)
		return 0;
	if ((rc = sv_objects_reader_open(&rd, store, &dg)) != 0)
		return rc == SV_EIO || rc == SV_ENOSPC ? rc : 0; /* a missing object: verify's business */
	r->reading = x;
	r->in_scope = sv_scope_item_in_scope(scope, x->url, x->depth, x->kind == SV_KIND_SITEMAP);
	if ((rc = sv_objects_reader_read(rd, buf, sizeof(buf), &got)) == 0) {
		sv_discover_response resp = {x->url, x->kind == SV_KIND_SITEMAP, x->mime, x->encoding, buf, got};
		rc = sv_discover_open(&d, &resp, on_found, r);
	}
	if (rc == 0 && d) {
		*read = 1;
		while (rc == 0 && got > 0) {
			sv_discover_feed(d, buf, got);
			rc = sv_objects_reader_read(rd, buf, sizeof(buf), &got);
		}
		if (rc == 0)
			sv_discover_finish(d);
	}
	sv_discover_free(d);
	sv_objects_reader_free(rd);
	if (rc == SV_ECORRUPT)
		rc = 0; /* a damaged object: its links are found when it is fetched again */
	return rc ? rc : r->rc;
}

/* queue.db, -wal and -shm moved aside under one time stamp. */
static int move_aside(const char *db, char *aside, size_t cap)
{
	static const char *const SUFFIX[] = {"", "-wal", "-shm"};
	char stamp[32], from[4096], to[4096];
	struct stat st;
	time_t now = time(NULL);
	struct tm tm;
	aside[0] = '\0';
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	for (size_t i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s%s", db, SUFFIX[i]);
		if (lstat(from, &st) != 0)
			continue;
		snprintf(to, sizeof(to), "%s.damaged-%s%s", db, stamp, SUFFIX[i]);
		if (lstat(to, &st) == 0)
			return sv_error_set(SV_EIO, "cannot move '%s' aside: '%s' is there already", from, to);
		if (rename(from, to) != 0)
			return sv_error_errno(errno, "cannot move '%s' aside to '%s'", from, to);
		if (i == 0) {
			const char *base = strrchr(to, '/');
			snprintf(aside, cap, "%.60s", base ? base + 1 : to);
		}
	}
	return 0;
}

int sv_archive_requeue(const sv_archive *a, sv_requeue_result *res)
{
	requeue r = {0};
	sv_queue *q = NULL;
	sv_ledger *ledger = NULL;
	sv_objects *store = NULL;
	char *db = NULL, **names = NULL;
	size_t nnames = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	if (a->queue_url)
		return sv_error_set(SV_EINVAL, "reindex --queue makes the archive's own queue.db again; this archive's "
				    "queue is queue.url '%s'", a->queue_url);
	if (!(db = sv_archive_path(a, "queue.db")))
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = sv_archive_ledger(a, &ledger)) || (rc = sv_archive_objects(a, &store)) ||
	    (rc = move_aside(db, res->aside, sizeof(res->aside))) || (rc = sv_archive_queue(a, NULL, &q)))
		goto done;

	/* 1. The sheets, as the ledger keeps them. */
	if ((rc = sv_ledger_list(ledger, "main", "sheets", &names, &nnames)))
		goto done;
	for (size_t i = 0; i < nnames && rc == 0; i++) {
		size_t len = 0, rows = 0, nl = strlen(names[i]);
		char *data = NULL, path[4096];
		if (nl < 5 || strcmp(names[i] + nl - 4, ".csv"))
			continue;
		snprintf(path, sizeof(path), "sheets/%s", names[i]);
		if ((rc = sv_ledger_read(ledger, "main", path, &data, &len)) == 0 &&
		    (rc = sv_seed_sheet_again(q, path, data, len, &rows)) == 0) {
			res->sheets++;
			res->rows += rows;
		}
		free(data);
	}
	if (rc || (rc = read_rows(&r, q)))
		goto done;

	/* 2. Every captured URL, under its row, at its depth. */
	if ((rc = sv_ledger_records(ledger, on_record, &r)))
		goto done;
	sv_queue_url *urls = calloc(r.n ? r.n : 1, sizeof(*urls));
	size_t nurls = 0;
	if (!urls) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < r.n; i++) {
		record *x = &r.recs[i];
		if (x->kind == SV_KIND_ROBOTS || !place(&r, x, 0)) {
			res->unplaced += x->kind != SV_KIND_ROBOTS;
			continue;
		}
		urls[nurls++] =
			(sv_queue_url){x->url, r.rows[x->row - 1].id, depth_of(&r, x), x->kind, x->via, 0, NULL, NULL, NULL, 0};
	}
	rc = sv_queue_enqueue(q, urls, nurls, NULL);
	free(urls);

	/* 3. Ended as the record says. */
	for (size_t i = 0; i < r.n && rc == 0; i++) {
		record *x = &r.recs[i];
		if (!x->row || x->kind == SV_KIND_ROBOTS)
			continue;
		sv_queue_outcome o = outcome_of(x);
		if ((rc = sv_queue_settle(q, x->url, &o)) == 0)
			res->captures++;
		/* The seed's own redirects: where the row landed, which its scope follows too. */
		if (rc == 0 && x->redirect && x->depth == 0 && x->kind == SV_KIND_PAGE &&
		    (rc = sv_queue_landing_add(q, r.rows[x->row - 1].id, x->redirect)) == 0 && r.rows[x->row - 1].row)
			rc = sv_row_add_landing(r.rows[x->row - 1].row, x->redirect);
	}

	/* 4. The links of stored pages and sitemaps that are not captured yet. */
	for (size_t i = 0; i < r.n && rc == 0; i++) {
		record *x = &r.recs[i];
		int read = 0;
		if (!x->row || (!x->sha256 && !x->redirect))
			continue;
		r.nfound = 0;
		r.reading = x;
		/* A seed's own page, and where its redirects land: their host's
		 * /sitemap.xml, as outcome.c queues it, when the scope reads it. */
		if (x->depth == 0 && x->kind == SV_KIND_PAGE) {
			char *map = NULL;
			sv_scope_decision md;
			if (sv_url_normalize(&map, "/sitemap.xml", x->url) == 0 && sv_row_scope(r.rows[x->row - 1].row) &&
			    sv_scope_decide_sitemap(sv_row_scope(r.rows[x->row - 1].row), map, 0, &md) == 0 && md.follow)
				add_found(&r, map, 0, SV_KIND_SITEMAP);
			free(map);
			rc = r.rc;
		}
		/* Where it redirected, if that was not fetched yet (outcome.c). */
		if (rc == 0 && x->redirect && !by_url(&r, x->redirect)) {
			if (x->depth == 0 && x->kind == SV_KIND_PAGE)
				add_found(&r, x->redirect, 0, SV_KIND_PAGE);
			else if (sv_scope_follow_redirect(sv_row_scope(r.rows[x->row - 1].row), x->redirect, x->depth,
							  x->kind))
				add_found(&r, x->redirect, x->depth, x->kind);
			rc = r.rc;
		}
		if (rc == 0 && x->status >= 200 && x->status <= 299 &&
		    (x->kind == SV_KIND_PAGE || x->kind == SV_KIND_SITEMAP))
			rc = read_links(&r, store, x, &read);
		if (rc == 0 && r.nfound) {
			size_t added = 0;
			rc = sv_queue_enqueue(q, r.found, r.nfound, &added);
			res->queued += added;
		}
		res->read += (size_t)read;
		for (size_t k = 0; k < r.nfound; k++) {
			free((char *)r.found[k].url);
			free((char *)r.found[k].via);
		}
	}
done:
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(r.found);
	requeue_free(&r);
	sv_queue_close(q);
	sv_objects_free(store);
	sv_ledger_free(ledger);
	free(db);
	return rc;
}
