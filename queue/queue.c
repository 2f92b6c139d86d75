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
	{"postgresql://", "postgresql", 0, NULL},
	{"postgres://", "postgresql", 0, NULL},
};

/* A location with no known prefix and no "://": a path. */
static const backend PLAIN_PATH = {"", "sqlite", 1, sv_queue_sqlite_open};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* location, cut to fit, its user info (up to the last '@' of the authority) as "***". */
static const char *shown(char *buf, size_t cap, const char *location)
{
	const char *auth = strstr(location, "://");
	const char *at = auth ? memrchr(auth + 3, '@', strcspn(auth + 3, "/?#")) : NULL;
	if (!at)
		snprintf(buf, cap, "%.200s", location);
	else
		snprintf(buf, cap, "%.*s***%.200s", (int)(auth + 3 - location), location, at);
	return buf;
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
		return sv_error_set(SV_EINVAL, "unsupported queue location '%s' (this build has sqlite:PATH)",
				    shown(buf, sizeof(buf), location));
	if (!b)
		b = &PLAIN_PATH;
	if (!b->open)
		return sv_error_set(SV_EINVAL, "queue '%s': this build has no %s queue backend (it has sqlite:PATH)",
				    shown(buf, sizeof(buf), location), b->name);
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
