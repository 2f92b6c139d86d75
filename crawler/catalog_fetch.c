/*
 * crawler/catalog_fetch.c -- catalogs in the fetch loop: a catalog row's
 * passes started, each catalog answer read by its step's reader while it
 * arrives, and what the reader finds queued.
 *
 * A pass starts when a crawl starts and the row has nothing queued or
 * leased (the last run finished it): the first request is queued again
 * and every page after it follows from the answers, so a later run reads
 * the catalog again and fetches only what changed (sv_queue_datasets_put).
 * A run killed in the middle of a pass resumes it: the queue still holds
 * its next request, and datasets listed twice are kept once.
 *
 * Datasets go to the queue in batches while the answer arrives (memory
 * holds one batch, whatever the catalog's size); the request that follows
 * a page, and the end of the listing, only once the answer is complete
 * and sound. The end of a pass is told to the queue after the checkpoint
 * that makes the last page's capture durable (vanished datasets are
 * recorded then).
 */
#include "fetcher.h"

#include "catalog.h"
#include "inflate.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DATASETS_FLUSH 256 /* datasets queued at once while an answer arrives */

typedef struct {
	sv_queue_dataset d;
	sv_queue_url *urls;
	char **owned; /* every string of d and urls, freed with it */
	size_t nowned;
} held_dataset;

struct catalog_read {
	fetcher *f;
	transfer *t;
	const sv_catalog_reader *reader;
	void *r;
	sv_catalog_sink sink;
	char step[32];
	int pass;
	json_t *counts;
	json_t *next;      /* requests found: [{url, meta}] */
	int ended, failed, broken;
	char why[256];
	z_stream *z;
	held_dataset *held;
	size_t nheld;
	int64_t listed;    /* datasets this answer listed */
	int64_t anon;      /* datasets without identifier, for their keys */
	int rc;            /* an environment error while queueing */
};

/* ---- the item's meta ---- */

static json_t *item_meta(const transfer *t)
{
	return t->item.meta ? json_loads(t->item.meta, 0, NULL) : NULL;
}

static const char *row_url(const transfer *t)
{
	return t->seed && t->seed->row ? sv_row_url(t->seed->row) : t->item.url;
}

/* ---- what a reader finds ---- */

static void on_count(void *ctx, const char *what, int64_t n)
{
	struct catalog_read *c = ctx;
	json_int_t was = json_integer_value(json_object_get(c->counts, what));
	json_object_set_new(c->counts, what, json_integer(was + n));
}

static char *keep(held_dataset *h, const char *s)
{
	char *k = s ? strdup(s) : NULL;
	if (k)
		h->owned[h->nowned++] = k;
	return k;
}

static void held_free(held_dataset *h)
{
	for (size_t i = 0; i < h->nowned; i++)
		free(h->owned[i]);
	free(h->owned);
	free(h->urls);
}

static const char *role_name(sv_dist_role r)
{
	static const char *const names[] = {"download", "access", "api", "layer", "metadata", "none"};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "download";
}

static sv_kind role_kind(sv_dist_role r)
{
	return r == SV_DIST_ACCESS ? SV_KIND_PAGE : r == SV_DIST_LAYER && sv_catalog_reader_for("arcgis-layer") ? SV_KIND_CATALOG
										      : SV_KIND_DATASET;
}

/* Whether a dataset's `modified` cannot tell a change (none, or a repeating interval such as R/P1D):
 * its files are then asked again each pass, with their validators (transfer.c). */
static int modified_unknown(const char *modified)
{
	return !modified || (modified[0] == 'R' && modified[1] == '/');
}

/* The meta of one URL of dataset ds (its key and metadata) in role role. */
static char *url_meta(json_t *ds, const char *key, const char *role, const char *step, json_t *state, int pass)
{
	const char *modified = json_string_value(json_object_get(ds, "modified"));
	json_t *m = json_pack("{s:O, s:s, s:s}", "dataset", ds, "key", key, "role", role);
	if (m && modified_unknown(modified))
		json_object_set_new(m, "revalidate", json_true());
	char *s = NULL;
	if (m && step)
		json_object_set_new(m, "step", json_string(step)), json_object_set(m, "state", state ? state : json_null()),
			json_object_set_new(m, "pass", json_integer(pass));
	if (m)
		s = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return s;
}

static int flush_held(struct catalog_read *c)
{
	fetcher *f = c->f;
	int rc = 0;
	if (c->nheld && !c->rc) {
		sv_queue_dataset *ds = malloc(c->nheld * sizeof(*ds));
		sv_queue_datasets_result res = {0};
		if (!ds)
			rc = sv_error_set(SV_EIO, "out of memory");
		for (size_t i = 0; ds && i < c->nheld; i++)
			ds[i] = c->held[i].d;
		if (ds)
			rc = sv_queue_datasets_put(f->q, c->t->item.seed, c->pass, ds, c->nheld, &res);
		free(ds);
		if (rc == 0 && res.repeated)
			on_count(c, "listed_again", (int64_t)res.repeated);
		if (rc == 0 && res.changed)
			on_count(c, "changed", (int64_t)res.changed);
		if (rc == 0 && res.added)
			on_count(c, "new", (int64_t)res.added);
	}
	for (size_t i = 0; i < c->nheld; i++)
		held_free(&c->held[i]);
	c->nheld = 0;
	if (rc && !c->rc)
		c->rc = rc;
	return rc;
}

/* Adds URL raw (as the catalog wrote it) of role role to h, or an issue to issues. */
static int add_dist(struct catalog_read *c, held_dataset *h, json_t *ds, json_t *issues, const sv_catalog_dist *x)
{
	transfer *t = c->t;
	char *url = NULL;
	const char *why;
	if (x->role == SV_DIST_NONE || !x->url) {
		json_array_append_new(issues, json_pack("{s:s, s:s?}", "why", "listed with no URL", "title", x->title));
		return 0;
	}
	if (!strstr(x->url, "://") && strncmp(x->url, "//", 2))
		on_count(c, "relative_url", 1);
	if (sv_url_normalize(&url, x->url, t->item.url) != 0) {
		on_count(c, "bad_url", 1);
		json_array_append_new(issues, json_pack("{s:s, s:s}", "why", "not an http(s) URL", "url", x->url));
		return 0;
	}
	if ((why = sv_scope_catalog_refuses(t->seed ? t->seed->scope : NULL, url))) {
		on_count(c, !strcmp(why, SV_SCOPE_WHY_EXCLUDED) || !strcmp(why, SV_SCOPE_WHY_NOT_INCLUDED) ? "not_wanted"
													     : "refused_url",
			 1);
		if (strcmp(why, SV_SCOPE_WHY_EXCLUDED) && strcmp(why, SV_SCOPE_WHY_NOT_INCLUDED))
			json_array_append_new(issues, json_pack("{s:s, s:s}", "why", why, "url", url));
		free(url);
		return 0;
	}
	for (size_t i = 0; i < h->d.nurls; i++)
		if (!strcmp(h->urls[i].url, url)) {
			on_count(c, "repeated_url", 1);
			free(url);
			return 0;
		}
	sv_kind kind = role_kind(x->role);
	const char *step = kind == SV_KIND_CATALOG ? "arcgis-layer" : x->state ? "arcgis-batch" : NULL;
	if (kind == SV_KIND_CATALOG) {
		/* A layer is exported whole: its description first (catalog_arcgis.c). */
		char *asked = sv_catalog_url_set(url, "f", "json");
		free(url);
		if (!(url = asked))
			return sv_error_set(SV_EIO, "out of memory");
	}
	char *meta = url_meta(ds, h->d.key, role_name(x->role), step, x->state, c->pass);
	if (!meta) {
		free(url);
		return sv_error_set(SV_EIO, "out of memory");
	}
	h->owned[h->nowned++] = url;
	h->owned[h->nowned++] = meta;
	h->urls[h->d.nurls++] = (sv_queue_url){url, t->item.seed, t->item.depth + 1, kind, t->item.url, 0, meta,
					       h->d.key, role_name(x->role), 0};
	return 0;
}

static int on_dataset(void *ctx, const sv_catalog_dataset *d)
{
	struct catalog_read *c = ctx;
	held_dataset *h;
	char anon[64];
	int rc = 0;
	if (c->rc)
		return c->rc;
	if (c->nheld == DATASETS_FLUSH && flush_held(c))
		return c->rc;
	h = &c->held[c->nheld];
	memset(h, 0, sizeof(*h));
	if (!(h->urls = calloc(d->ndists + 1, sizeof(*h->urls))) ||
	    !(h->owned = calloc(2 * d->ndists + 8, sizeof(*h->owned))))
		return c->rc = sv_error_set(SV_EIO, "out of memory");
	c->nheld++;
	c->listed++;
	const char *key = d->identifier;
	if (!key) {
		snprintf(anon, sizeof(anon), "(no identifier) %lld", (long long)c->anon++);
		key = d->landing ? d->landing : d->title ? d->title : anon;
	}
	json_t *ds = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s}", "identifier", d->identifier, "title", d->title,
			       "publisher", d->publisher, "modified", d->modified, "landing", d->landing, "access_level",
			       d->access_level, "catalog", row_url(c->t));
	json_t *issues = json_array();
	h->d.key = keep(h, key);
	h->d.identifier = keep(h, d->identifier);
	h->d.title = keep(h, d->title);
	h->d.publisher = keep(h, d->publisher);
	h->d.modified = keep(h, d->modified);
	if (!ds || !issues || !h->d.key)
		rc = sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; rc == 0 && i < d->ndists; i++)
		rc = add_dist(c, h, ds, issues, &d->dists[i]);
	if (rc == 0) {
		json_t *m = json_pack("{s:O, s:O}", "dataset", ds, "issues", issues);
		char *s = m ? json_dumps(m, JSON_COMPACT) : NULL;
		json_decref(m);
		if (!s)
			rc = sv_error_set(SV_EIO, "out of memory");
		else
			h->owned[h->nowned++] = s, h->d.meta = s;
	}
	h->d.urls = h->urls;
	json_decref(ds);
	json_decref(issues);
	if (rc)
		c->rc = rc;
	return rc;
}

static int on_request(void *ctx, const char *url, const char *step, json_t *state)
{
	struct catalog_read *c = ctx;
	char *n = NULL;
	if (sv_url_normalize(&n, url, c->t->item.url) != 0) {
		on_count(c, "bad_request_url", 1);
		return 0;
	}
	json_t *m = json_pack("{s:s, s:O?, s:i}", "step", step, "state", state, "pass", c->pass);
	json_t *r = m ? json_pack("{s:s, s:o}", "url", n, "meta", m) : NULL;
	free(n);
	if (!r || json_array_append_new(c->next, r))
		return c->rc = sv_error_set(SV_EIO, "out of memory");
	return 0;
}

static void on_end(void *ctx)
{
	((struct catalog_read *)ctx)->ended = 1;
}

static void on_fail(void *ctx, const char *why)
{
	struct catalog_read *c = ctx;
	if (c->failed)
		return;
	c->failed = 1;
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "not what was asked");
}

/* ---- the fetcher's side ---- */

int sv_fetch_catalog_wanted(const transfer *t)
{
	return t->item.kind == SV_KIND_CATALOG || (t->item.meta && strstr(t->item.meta, "\"step\":"));
}

void sv_fetch_catalog_free(struct catalog_read *c)
{
	if (!c)
		return;
	if (c->reader && c->r)
		c->reader->free(c->r);
	for (size_t i = 0; i < c->nheld; i++)
		held_free(&c->held[i]);
	free(c->held);
	json_decref(c->counts);
	json_decref(c->next);
	sv_inflater_free(c->z);
	free(c);
}

int sv_fetch_catalog_open(fetcher *f, transfer *t)
{
	json_t *m = item_meta(t);
	const char *step = json_string_value(json_object_get(m, "step"));
	const sv_catalog_reader *rd = sv_catalog_reader_for(step);
	const char *enc = t->encoding;
	struct catalog_read *c = NULL;
	int rc = 0;
	if (!rd) {
		json_decref(m);
		return 0; /* no reader (an older salvage's meta, a step unknown here): the answer is kept, not read */
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->counts = json_object()) || !(c->next = json_array()) ||
	    !(c->held = calloc(DATASETS_FLUSH, sizeof(*c->held)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	c->f = f;
	c->t = t;
	c->reader = rd;
	snprintf(c->step, sizeof(c->step), "%s", step);
	c->pass = (int)json_integer_value(json_object_get(m, "pass"));
	c->sink = (sv_catalog_sink){c, on_dataset, on_request, on_end, on_fail, on_count};
	switch (sv_inflater_coding(enc)) {
	case -1:
		on_fail(c, "a Content-Encoding salvage cannot read");
		c->broken = 1;
		break;
	case 1:
		if ((rc = sv_inflater_new(&c->z)))
			goto done;
		break;
	}
	if (!c->broken && (rc = rd->open(&c->r, t->item.url, json_object_get(m, "state"), &c->sink)))
		goto done;
	t->cat = c;
	c = NULL;
done:
	sv_fetch_catalog_free(c);
	json_decref(m);
	return rc;
}

static void give(void *ctx, const void *buf, size_t len)
{
	struct catalog_read *c = ctx;
	if (!c->broken && c->reader->feed(c->r, buf, len) != 0)
		c->broken = 1;
}

void sv_fetch_catalog_feed(transfer *t, const void *buf, size_t len)
{
	struct catalog_read *c = t->cat;
	if (!c || c->broken)
		return;
	if (!c->z) {
		give(c, buf, len);
		return;
	}
	if (sv_inflater_feed(c->z, buf, len, give, c) != 0) {
		on_fail(c, "a gzip or deflate body that does not inflate");
		c->broken = 1;
	}
}

int sv_fetch_catalog_finish(fetcher *f, transfer *t, char **record_json, char *why, size_t whylen)
{
	struct catalog_read *c = t->cat;
	int rc = 0;
	*record_json = NULL;
	why[0] = '\0';
	if (!c)
		return 0;
	if (!c->broken)
		c->reader->finish(c->r);
	if (!c->failed && c->broken)
		on_fail(c, "the answer could not be read");
	if ((rc = flush_held(c)) || (rc = c->rc))
		return rc;
	if (c->failed) {
		snprintf(why, whylen, "%s", c->why);
	} else {
		size_t i;
		json_t *r;
		json_array_foreach(c->next, i, r) {
			const char *url = json_string_value(json_object_get(r, "url"));
			char *meta = json_dumps(json_object_get(r, "meta"), JSON_COMPACT);
			if (!meta)
				return sv_error_set(SV_EIO, "out of memory");
			rc = sv_fetch_add_link_meta(f, url, t->item.seed, t->item.depth, SV_KIND_CATALOG, t->item.url, meta,
						    NULL, "catalog", 1);
			free(meta);
			if (rc)
				return rc;
		}
		if (c->ended && (rc = sv_fetch_catalog_end_later(f, t->item.seed, c->pass)))
			return rc;
	}
	json_t *rec = json_pack("{s:s, s:i, s:I, s:b, s:O}", "step", c->step, "pass", c->pass, "datasets",
				(json_int_t)c->listed, "ended", c->ended && !c->failed, "counts", c->counts);
	*record_json = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(rec);
	return *record_json ? 0 : sv_error_set(SV_EIO, "out of memory");
}

/* ---- a dataset's URLs: its record, and the data files a page of it links ---- */

int sv_fetch_catalog_dataset_json(const transfer *t, char **out)
{
	json_t *m = item_meta(t);
	json_t *ds = json_object_get(m, "dataset");
	*out = NULL;
	if (json_is_object(ds)) {
		json_t *copy = json_copy(ds);
		if (copy && json_string_value(json_object_get(m, "role")))
			json_object_set(copy, "role", json_object_get(m, "role"));
		*out = copy ? json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(copy);
	}
	json_decref(m);
	return 0;
}

int sv_fetch_catalog_found(fetcher *f, transfer *t, const char *url, sv_found_kind kind, int *taken)
{
	*taken = 0;
	if (!t->item.meta || !strstr(t->item.meta, "\"dataset\":"))
		return 0;
	*taken = 1; /* a dataset's page: its data files, one hop, and nothing else */
	if (kind != SV_FOUND_PAGE || !sv_scope_url_is_dataset(url) ||
	    sv_scope_catalog_refuses(t->seed ? t->seed->scope : NULL, url))
		return 0;
	json_t *m = item_meta(t);
	const char *key = json_string_value(json_object_get(m, "key"));
	char *meta = NULL;
	int rc = 0;
	if (key && strcmp(json_string_value(json_object_get(m, "role")) ? json_string_value(json_object_get(m, "role")) : "", "found")) {
		json_object_set_new(m, "role", json_string("found"));
		if (!(meta = json_dumps(m, JSON_COMPACT)))
			rc = sv_error_set(SV_EIO, "out of memory");
		else
			rc = sv_fetch_add_link_meta(f, url, t->item.seed, t->item.depth + 1, SV_KIND_DATASET, t->item.url,
						    meta, key, "found", 0);
	}
	free(meta);
	json_decref(m);
	return rc;
}

/* ---- passes ---- */

/* A vanished dataset's record: what the catalog no longer lists, as a capture of the ledger. */
static int vanished(void *ctx, const sv_queue_dataset_row *d)
{
	fetcher *f = ctx;
	json_t *meta = d->meta ? json_loads(d->meta, 0, NULL) : NULL;
	json_t *ds = json_object_get(meta, "dataset");
	char *dsj = json_is_object(ds) ? json_dumps(ds, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	const char *catalog = json_string_value(json_object_get(ds, "catalog"));
	const char *url = d->nurls ? d->urls[0].url : catalog;
	int rc = 0;
	if (url)
		rc = sv_fetch_note_capture(f, url, d->seed, SV_KIND_CATALOG, catalog, dsj,
					   "vanished from the catalog: no longer listed");
	free(dsj);
	json_decref(meta);
	return rc;
}

int sv_fetch_catalog_ends(fetcher *f)
{
	size_t i = 0;
	int rc = 0;
	for (; i < f->nends && rc == 0; i++)
		rc = sv_queue_catalog_end(f->q, f->ends[i].seed, f->ends[i].pass, vanished, f);
	/* A shared queue that cannot be reached now (writes kept in the outbox wait before it): the
	 * ends not made wait for the next checkpoint. One never made (the fetcher stopped first) is
	 * the next pass's: a pass starts when the last one has nothing pending, done or not. */
	if (rc == SV_EUNREACHABLE) {
		i--;
		memmove(f->ends, f->ends + i, (f->nends - i) * sizeof(*f->ends));
		f->nends -= i;
		return 0;
	}
	f->nends = 0;
	return rc;
}

int sv_fetch_catalog_end_later(fetcher *f, int64_t seed, int pass)
{
	if (f->nends == f->capends) {
		size_t cap = f->capends ? f->capends * 2 : 4;
		void *p = realloc(f->ends, cap * sizeof(*f->ends));
		if (!p)
			return sv_error_set(SV_EIO, "out of memory");
		f->ends = p;
		f->capends = cap;
	}
	f->ends[f->nends].seed = seed;
	f->ends[f->nends++].pass = pass;
	return 0;
}

int sv_catalog_start_passes(sv_queue *q, size_t *started)
{
	sv_queue_seed_stats *rows = NULL, total;
	size_t n = 0;
	int rc = sv_queue_stats(q, &rows, &n, &total);
	*started = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *url = NULL, *meta = NULL;
		sv_row *row = NULL;
		sv_queue_catalog_info ci;
		const char *step;
		json_t *state = NULL;
		if (!rows[i].active || !rows[i].params || sv_row_from_json(&row, rows[i].params) ||
		    sv_row_kind(row) == SV_SHEET_SITE)
			goto next;
		if ((rc = sv_queue_catalog_get(q, rows[i].seed, &ci)) || (ci.pass > 0 && ci.pending > 0))
			goto next; /* a pass under way: it goes on */
		if ((rc = sv_catalog_first(sv_row_kind(row), sv_row_url(row), &url, &step, &state)))
			goto next;
		json_t *m = json_pack("{s:s, s:O, s:i}", "step", step, "state", state, "pass", ci.pass + 1);
		/* A catalog file read again answers 304 when unchanged: not downloaded again (and not read:
		 * its datasets are as they were). Paged APIs are asked whole: a page is no file. */
		if (m && ci.pass > 0 && !strcmp(step, "dcat"))
			json_object_set_new(m, "revalidate", json_true());
		if (!m || !(meta = json_dumps(m, JSON_COMPACT)))
			rc = sv_error_set(SV_EIO, "out of memory");
		json_decref(m);
		sv_queue_url first = {url, rows[i].seed, 0, SV_KIND_CATALOG, NULL, 0, meta, NULL, "catalog", 1};
		if (rc == 0 && (rc = sv_queue_catalog_begin(q, rows[i].seed, ci.pass + 1, &first)) == 0)
			(*started)++;
	next:
		json_decref(state);
		free(meta);
		free(url);
		sv_row_free(row);
	}
	sv_queue_stats_free(rows, n);
	return rc;
}

/* ---- a row of kind auto ---- */

int sv_fetch_catalog_probe_failed(fetcher *f, transfer *t, int *is_probe, int *next_queued)
{
	json_t *m = item_meta(t), *next = NULL;
	char *url = NULL, *meta = NULL;
	int rc = 0;
	*is_probe = *next_queued = 0;
	if (strcmp(json_string_value(json_object_get(m, "step")) ? json_string_value(json_object_get(m, "step")) : "",
		   "probe")) {
		json_decref(m);
		return 0;
	}
	*is_probe = 1;
	if ((rc = sv_catalog_probe_next(json_object_get(m, "state"), &url, &next)) == 0 && url) {
		json_t *nm = json_pack("{s:s, s:O, s:O?}", "step", "probe", "state", next, "pass", json_object_get(m, "pass"));
		if (!nm || !(meta = json_dumps(nm, JSON_COMPACT)))
			rc = sv_error_set(SV_EIO, "out of memory");
		else
			rc = sv_fetch_add_link_meta(f, url, t->item.seed, t->item.depth, SV_KIND_CATALOG, t->item.url, meta,
						    NULL, "catalog", 1);
		json_decref(nm);
		*next_queued = rc == 0;
	}
	free(meta);
	free(url);
	json_decref(next);
	json_decref(m);
	return rc;
}

int sv_fetch_catalog_redirect(fetcher *f, transfer *t, const char *target, int *taken)
{
	json_t *m = item_meta(t);
	int rc = 0;
	*taken = 0;
	if (!m) /* a URL of no catalog: the row's scope decides */
		return 0;
	*taken = 1;
	/* A catalog's request, or one of its datasets, redirected (http to https, another host): followed
	 * with what it carries, wherever it leads unless the row's patterns refuse it. */
	if (!sv_scope_catalog_refuses(t->seed ? t->seed->scope : NULL, target))
		rc = sv_fetch_add_link_meta(f, target, t->item.seed, t->item.depth, t->item.kind, t->item.url, t->item.meta,
					    json_string_value(json_object_get(m, "key")),
					    json_string_value(json_object_get(m, "role")), t->item.kind == SV_KIND_CATALOG);
	else
		*taken = 2;
	json_decref(m);
	return rc;
}

/*
 * A catalog request that could not be read (an error status, not the answer
 * asked for, a failure after retries): whatever it would have listed is
 * missing, so it is kept as a dataset of its own ("unread"), which status
 * counts and the needs-hands report lists with the reason, until a later
 * pass reads it.
 */
int sv_fetch_catalog_unread(fetcher *f, transfer *t)
{
	json_t *m = item_meta(t);
	char key[64 + 2048], *meta = NULL;
	int rc = 0;
	if (!sv_fetch_is_kind(t, SV_KIND_CATALOG)) {
		json_decref(m);
		return 0;
	}
	snprintf(key, sizeof(key), SV_QUEUE_UNREAD_PREFIX "%s", t->item.url);
	json_t *dm = json_pack("{s:{s:s, s:s}, s:b}", "dataset", "title", "a part of the catalog that could not be read",
			       "catalog", row_url(t), "unread", 1);
	if (!dm || !(meta = json_dumps(dm, JSON_COMPACT)))
		rc = sv_error_set(SV_EIO, "out of memory");
	sv_queue_url u = {t->item.url, t->item.seed, t->item.depth, SV_KIND_CATALOG, t->item.via, 0, t->item.meta, NULL,
			  "catalog", 0};
	sv_queue_dataset d = {key, NULL, "a part of the catalog that could not be read", NULL, NULL, meta, &u, 1};
	if (rc == 0)
		rc = sv_queue_datasets_put(f->q, t->item.seed, (int)json_integer_value(json_object_get(m, "pass")), &d, 1,
					   NULL);
	json_decref(dm);
	free(meta);
	json_decref(m);
	return rc;
}
