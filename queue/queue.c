/*
 * queue/queue.c -- choosing a backend, and what all backends share.
 *
 * A location names its backend by its start (BACKENDS); one that names none
 * and has no "://" is a path, and the sqlite backend's. A backend listed
 * without an open function is known but not in this build: its locations
 * get a message that says so, not "unsupported". Messages show a location
 * with its user info (user:password@) replaced by "***@".
 */
#include "backend.h"

#include "../common/clock.h"
#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *prefix; /* how a location starts */
	const char *name;
	/* 1: open is given what follows the prefix (a path); 0: the whole location (a URL) */
	int strip;
	int (*open)(sv_queue **out, const char *location, const sv_queue_options *opts); /* NULL: not built */
} backend;

static const backend BACKENDS[] = {
	{"sqlite:", "sqlite", 1, sv_queue_sqlite_open},
	{"postgresql://", "postgresql", 0, sv_queue_postgres_open},
	{"postgres://", "postgresql", 0, sv_queue_postgres_open},
};

/* A location with no known prefix and no "://": a path. */
static const backend PLAIN_PATH = {"", "sqlite", 1, sv_queue_sqlite_open};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* location, cut to fit, its user info (up to the last '@' of the authority) as "***". */
const char *sv_queue_shown(char *buf, size_t cap, const char *location)
{
	const char *auth = strstr(location, "://");
	const char *at = auth ? memrchr(auth + 3, '@', strcspn(auth + 3, "/?#")) : NULL;
	if (!at)
		snprintf(buf, cap, "%.200s", location);
	else
		snprintf(buf, cap, "%.*s***%.200s", (int)(auth + 3 - location), location, at);
	return buf;
}

int sv_queue_authority(const char *url, const char **start, size_t *len)
{
	const char *p = strstr(url, "://");
	size_t n;
	if (!p || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
		return sv_error_set(SV_EINVAL, "'%.200s' is not a normalised http(s) URL", url);
	p += 3;
	n = strcspn(p, "/?#");
	if (n == 0 || p[n] != '/')
		return sv_error_set(SV_EINVAL, "'%.200s' is not a normalised http(s) URL", url);
	*start = p;
	*len = n;
	return 0;
}

void sv_queue_stats_add(sv_queue_seed_stats *total, const sv_queue_seed_stats *r)
{
	total->queued += r->queued;
	total->leased += r->leased;
	total->done += r->done;
	total->failed += r->failed;
	total->paused += r->paused;
	total->bytes += r->bytes;
	total->datasets += r->datasets;
	total->skipped += r->skipped;
	total->rescued += r->rescued;
	total->redirects += r->redirects;
}

int sv_queue_open(sv_queue **out, const char *location, const sv_queue_options *opts)
{
	sv_queue_options def = SV_QUEUE_OPTIONS_INIT;
	const backend *b = NULL;
	char buf[512];
	*out = NULL;
	if (!opts)
		opts = &def;
	for (size_t i = 0; i < COUNT(BACKENDS) && !b; i++)
		if (!strncmp(location, BACKENDS[i].prefix, strlen(BACKENDS[i].prefix)))
			b = &BACKENDS[i];
	if (!b && strstr(location, "://"))
		return sv_error_set(SV_EINVAL, "unsupported queue location '%s' (this build has sqlite:PATH and postgresql://)",
				    sv_queue_shown(buf, sizeof(buf), location));
	if (!b)
		b = &PLAIN_PATH;
	if (!b->open)
		return sv_error_set(SV_EINVAL, "queue '%s': this build has no %s queue backend (it has sqlite:PATH)",
				    sv_queue_shown(buf, sizeof(buf), location), b->name);
	return b->open(out, b->strip ? location + strlen(b->prefix) : location, opts);
}

void sv_queue_close(sv_queue *q)
{
	if (q)
		q->ops.close(q);
}

int64_t sv_queue_now_ms(const sv_queue *q)
{
	if (q->opts.now_ms)
		return q->opts.now_ms(q->opts.clock_ctx);
	return sv_now_ms();
}

void sv_queue_items_free(sv_queue_item *items, size_t n)
{
	if (!items)
		return;
	for (size_t i = 0; i < n; i++) {
		free(items[i].url);
		free(items[i].host);
		free(items[i].via);
		free(items[i].meta);
	}
	free(items);
}

void sv_queue_stats_free(sv_queue_seed_stats *rows, size_t n)
{
	if (!rows)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].sheet);
		free(rows[i].url);
		free(rows[i].meta);
		free(rows[i].params);
		free(rows[i].landing);
	}
	free(rows);
}

int sv_queue_landing_add(sv_queue *q, int64_t seed, const char *url)
{
	return q->ops.landing_add(q, seed, url);
}

int sv_queue_settle(sv_queue *q, const char *url, const sv_queue_outcome *how)
{
	return q->ops.settle(q, url, how);
}

int sv_queue_landings(sv_queue *q, int64_t seed, char ***urls, size_t *n)
{
	return q->ops.landings(q, seed, urls, n);
}

static int no_catalogs(const sv_queue *q)
{
	return sv_error_set(SV_EINVAL, "catalog rows need the embedded queue: the %s queue does not keep catalogs yet",
			    q->ops.name);
}

int sv_queue_datasets_put(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			  sv_queue_datasets_result *res)
{
	return q->ops.datasets_put ? q->ops.datasets_put(q, seed, pass, ds, n, res) : no_catalogs(q);
}

int sv_queue_catalog_get(sv_queue *q, int64_t seed, sv_queue_catalog_info *out)
{
	return q->ops.catalog_get ? q->ops.catalog_get(q, seed, out) : no_catalogs(q);
}

int sv_queue_catalog_begin(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first)
{
	return q->ops.catalog_begin ? q->ops.catalog_begin(q, seed, pass, first) : no_catalogs(q);
}

int sv_queue_datasets(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	return q->ops.datasets ? q->ops.datasets(q, seed, fn, ctx) : 0; /* none kept: none to list */
}

int sv_queue_catalog_end(sv_queue *q, int64_t seed, int pass,
			 int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	return q->ops.catalog_end ? q->ops.catalog_end(q, seed, pass, fn, ctx) : no_catalogs(q);
}

/* ---- dataset listings ---- */

static void listing_clear(sv_queue_listing *l)
{
	for (int i = 0; i < 6; i++) {
		free(l->text[i]);
		l->text[i] = NULL;
	}
	for (size_t i = 0; i < l->nurls * 4; i++)
		free(l->owned[i]);
	l->nurls = 0;
	l->id = 0;
}

static int listing_flush(sv_queue_listing *l)
{
	if (!l->id)
		return 0;
	l->row.key = l->text[0];
	l->row.identifier = l->text[1];
	l->row.title = l->text[2];
	l->row.publisher = l->text[3];
	l->row.modified = l->text[4];
	l->row.meta = l->text[5];
	l->row.urls = l->urls;
	l->row.nurls = l->nurls;
	int rc = l->fn(l->ctx, &l->row);
	listing_clear(l);
	return rc;
}

static char *dup_or_null(const char *s, int *oom)
{
	char *d = s ? strdup(s) : NULL;
	if (s && !d)
		*oom = 1;
	return d;
}

int sv_queue_listing_add(sv_queue_listing *l, const sv_queue_listing_row *r)
{
	int rc, oom = 0;
	if (l->id && l->id != r->id && (rc = listing_flush(l)))
		return rc;
	if (!l->id) {
		const char *text[6] = {r->key, r->identifier, r->title, r->publisher, r->modified, r->meta};
		l->id = r->id;
		l->row.seed = r->seed;
		for (int i = 0; i < 6; i++)
			l->text[i] = dup_or_null(text[i], &oom);
		l->row.first_pass = r->first_pass;
		l->row.last_pass = r->last_pass;
		l->row.vanished_pass = r->vanished_pass;
		if (oom)
			return sv_error_set(SV_EIO, "out of memory");
	}
	if (!r->url)
		return 0; /* a dataset with no URL */
	if (l->nurls == l->cap) {
		size_t c = l->cap ? l->cap * 2 : 8;
		sv_queue_dataset_url *u = realloc(l->urls, c * sizeof(*u));
		if (u)
			l->urls = u;
		char **o = u ? realloc(l->owned, c * 4 * sizeof(*o)) : NULL;
		if (!o)
			return sv_error_set(SV_EIO, "out of memory");
		l->owned = o;
		l->cap = c;
	}
	char **o = &l->owned[l->nurls * 4];
	const char *text[4] = {r->url, r->kind, r->role, r->reason};
	for (int i = 0; i < 4; i++)
		o[i] = dup_or_null(text[i], &oom);
	if (oom) {
		for (int i = 0; i < 4; i++)
			free(o[i]);
		return sv_error_set(SV_EIO, "out of memory");
	}
	l->urls[l->nurls++] = (sv_queue_dataset_url){o[0], o[1], o[2], o[3], r->state, r->status, r->bytes};
	return 0;
}

int sv_queue_listing_end(sv_queue_listing *l, int rc)
{
	if (rc == 0)
		rc = listing_flush(l);
	listing_clear(l);
	free(l->urls);
	free(l->owned);
	l->urls = NULL;
	l->owned = NULL;
	l->cap = 0;
	return rc;
}

void sv_queue_landings_free(char **urls, size_t n)
{
	for (size_t i = 0; urls && i < n; i++)
		free(urls[i]);
	free(urls);
}

void sv_queue_host_clear(sv_queue_host *h)
{
	free(h->robots);
	free(h->robots_error);
	memset(h, 0, sizeof(*h));
}

void sv_queue_set_node_share(sv_queue *q, int host_node_max)
{
	q->opts.host_node_max = host_node_max;
}

void sv_queue_set_robots_first(sv_queue *q, int on)
{
	q->opts.robots_first = on;
}

void sv_queue_set_sheet_gate(sv_queue *q, sv_queue_gate_fn fn, void *ctx)
{
	q->sheet_gate = fn;
	q->sheet_gate_ctx = ctx;
}

int sv_queue_add_sheet(sv_queue *q, const char *name, const void *raw, size_t raw_len, const sv_queue_seed *rows, size_t n, sv_queue_sheet_result *res)
{
	return q->ops.add_sheet(q, name, raw, raw_len, rows, n, res);
}

int sv_queue_enqueue(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added)
{
	return q->ops.enqueue(q, urls, n, added);
}

int sv_queue_claim(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms, sv_queue_item **items, size_t *n)
{
	return q->ops.claim(q, node, freed, nfreed, max, lease_ms, items, n);
}

int sv_queue_renew(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms)
{
	return q->ops.renew(q, node, ids, n, lease_ms);
}

int sv_queue_complete(sv_queue *q, const char *node, const sv_queue_outcome *outcomes, size_t n, size_t *accepted)
{
	return q->ops.complete(q, node, outcomes, n, accepted);
}

int sv_queue_seed_params(sv_queue *q, int64_t seed, char **params)
{
	return q->ops.seed_params(q, seed, params);
}

int sv_queue_stats(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total)
{
	return q->ops.stats(q, rows, n, total);
}

int sv_queue_nodes(sv_queue *q, sv_queue_node_stats **rows, size_t *n)
{
	return q->ops.node_stats(q, rows, n);
}

void sv_queue_node_stats_free(sv_queue_node_stats *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].node);
	free(rows);
}

int sv_queue_wait(sv_queue *q, int timeout_ms)
{
	return q->ops.wait(q, timeout_ms);
}

int sv_queue_host_get(sv_queue *q, const char *host, sv_queue_host *out)
{
	return q->ops.host_get(q, host, out);
}

int sv_queue_host_set_robots(sv_queue *q, const char *host, const char *robots, int status, int crawl_delay_ms)
{
	return q->ops.host_set_robots(q, host, robots, status, crawl_delay_ms);
}

int sv_queue_host_cooldown(sv_queue *q, const char *host, int64_t until_ms, int timed_out)
{
	return q->ops.host_cooldown(q, host, until_ms, timed_out);
}

int sv_queue_release(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return q->ops.release(q, node, ids, n);
}

int sv_queue_free_slots(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return q->ops.free_slots(q, node, ids, n);
}

int sv_queue_failures(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx)
{
	return q->ops.failures(q, fn, ctx);
}

int sv_queue_reclaim(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released)
{
	return q->ops.reclaim(q, prefix, alive, released);
}

int sv_queue_host_robots_failed(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms,
				int give_up)
{
	return q->ops.host_robots_failed(q, host, reason, retry_at_ms, give_up);
}

int sv_queue_host_delay(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms)
{
	return q->ops.host_delay(q, host, crawl_delay_ms, delay_ms);
}

int sv_queue_robots_waiting(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			    void *ctx)
{
	return q->ops.robots_waiting(q, fn, ctx);
}

int sv_queue_robots_retry(sv_queue *q, size_t *hosts)
{
	return q->ops.robots_retry(q, hosts);
}

int sv_queue_pending(sv_queue *q, int64_t *queued, int64_t *leased)
{
	return q->ops.pending(q, queued, leased);
}

void sv_queue_reach(sv_queue *q, int64_t *down_since_ms, int64_t *kept)
{
	*down_since_ms = *kept = 0;
	if (q->ops.reach)
		q->ops.reach(q, down_since_ms, kept);
}

/* The settings' keys in the queue's meta table: salvage.conf's names. */
static const char KEY_CONNECTIONS[] = "crawl.hostConnections", KEY_DELAY[] = "crawl.delayMs";

static int setting_int(sv_queue *q, const char *key, int *value, int *found)
{
	char *v = NULL, *end;
	int rc = q->ops.setting_get(q, key, &v);
	if (rc == 0 && v) {
		long n = strtol(v, &end, 10);
		if (end == v || *end || n < 0 || n > 3600000)
			rc = sv_error_set(SV_ECORRUPT, "the queue's %s is '%s', not a number", key, v);
		else {
			*value = (int)n;
			*found = 1;
		}
	}
	free(v);
	return rc;
}

int sv_queue_crawl_settings_get(sv_queue *q, sv_queue_crawl_settings *out, int *found)
{
	sv_queue_crawl_settings s = *out;
	int has_cap = 0, has_delay = 0, rc;
	*found = 0;
	if ((rc = setting_int(q, KEY_CONNECTIONS, &s.host_connections, &has_cap)) ||
	    (rc = setting_int(q, KEY_DELAY, &s.delay_ms, &has_delay)))
		return rc;
	if (has_cap && has_delay) {
		*out = s;
		*found = 1;
	}
	return 0;
}

int sv_queue_crawl_settings_put(sv_queue *q, const sv_queue_crawl_settings *s)
{
	char cap[16], delay[16];
	snprintf(cap, sizeof(cap), "%d", s->host_connections);
	snprintf(delay, sizeof(delay), "%d", s->delay_ms);
	int rc = q->ops.setting_put(q, KEY_CONNECTIONS, cap);
	return rc ? rc : q->ops.setting_put(q, KEY_DELAY, delay);
}

int sv_queue_grant_worker(sv_queue *q, const char *role, const char *password, int *created)
{
	*created = 0;
	if (!q->ops.grant_worker)
		return sv_error_set(SV_EINVAL, "a %s queue has no roles to grant: --grant-worker needs a postgresql:// queue",
				    q->ops.name);
	return q->ops.grant_worker(q, role, password, created);
}
