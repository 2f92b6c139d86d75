/*
 * crawler/catalog_state.c -- what became of a catalog's datasets: rescued,
 * partly, needing hands (see catalog.h), from the queue's view of each
 * dataset's URLs, for `salvage status` and `salvage report --needs-hands`.
 */
#include "catalog.h"

#include "../queue/queue.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

const char *sv_dataset_state_name(sv_dataset_state s)
{
	static const char *const names[] = {"pending", "rescued", "partly", "needs hands", "vanished"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static int is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

/* A data file: what a rescue is for (an API's answer or a page is not one). */
static int is_file_role(const char *role)
{
	return is(role, "download") || is(role, "found");
}

/* Answered with what it is: 2xx, or 304 (asked again with its validators, unchanged: the capture
 * before holds it). */
static int answered(const sv_queue_dataset_url *u)
{
	return u->state == SV_URL_DONE && ((u->status >= 200 && u->status < 300) || u->status == 304);
}

typedef struct {
	void (*fn)(void *ctx, const char *url, const char *why);
	void *ctx;
	int n;
} told;

static void tell(told *t, const char *url, const char *why)
{
	t->n++;
	if (t->fn && url)
		t->fn(t->ctx, url, why);
}

/* Where a human starts on something the catalog listed without a usable URL. */
static const char *fallback_url(json_t *meta)
{
	json_t *ds = json_object_get(meta, "dataset");
	const char *landing = json_string_value(json_object_get(ds, "landing"));
	if (landing && (!strncmp(landing, "http://", 7) || !strncmp(landing, "https://", 8)))
		return landing;
	return json_string_value(json_object_get(ds, "catalog"));
}

sv_dataset_state sv_catalog_dataset_state(const sv_queue_dataset_row *d,
					  void (*problem)(void *ctx, const char *url, const char *why), void *ctx)
{
	told t = {problem, ctx, 0};
	int pending = 0, files = 0, pages = 0;
	char why[512];
	json_t *meta = d->meta ? json_loads(d->meta, 0, NULL) : NULL;
	for (size_t i = 0; i < d->nurls; i++) {
		const sv_queue_dataset_url *u = &d->urls[i];
		int ok = answered(u);
		switch (u->state) {
		case SV_URL_QUEUED:
		case SV_URL_LEASED:
			pending = 1;
			break;
		case SV_URL_DONE:
			if (!ok && !(u->status >= 300 && u->status < 400 && u->status != 304)) {
				snprintf(why, sizeof(why), "HTTP %d", u->status);
				tell(&t, u->url, why);
			} else if (ok && is_file_role(u->role)) {
				files++;
			} else if (ok && is(u->role, "access")) {
				pages++;
			} else if (ok && is(u->role, "api")) {
				tell(&t, u->url, "an API or service, not a file: a human must get the data");
			}
			break;
		case SV_URL_FAILED:
			snprintf(why, sizeof(why), "%s", u->reason ? u->reason : "failed after retries");
			tell(&t, u->url, why);
			break;
		case SV_URL_SKIPPED:
			snprintf(why, sizeof(why), "not fetched: %s", u->reason ? u->reason : "refused by robots.txt");
			tell(&t, u->url, why);
			break;
		default:
			break;
		}
	}
	if (!pending && !files)
		for (size_t i = 0; i < d->nurls; i++)
			if (answered(&d->urls[i]) && is(d->urls[i].role, "access"))
				tell(&t, d->urls[i].url,
				     "a page with no data file found on it (JavaScript-only, or links salvage cannot see)");
	size_t i;
	json_t *issue;
	json_array_foreach(json_object_get(meta, "issues"), i, issue) {
		const char *what = json_string_value(json_object_get(issue, "why"));
		const char *listed = json_string_value(json_object_get(issue, "url"));
		snprintf(why, sizeof(why), "%s%s%s", what ? what : "listed oddly", listed ? ": " : "", listed ? listed : "");
		tell(&t, fallback_url(meta), why);
	}
	if (d->nurls == 0 && t.n == 0)
		tell(&t, fallback_url(meta), "listed with no distribution");
	(void)pages;
	int unread = json_is_true(json_object_get(meta, "unread"));
	json_decref(meta);
	if (d->vanished_pass)
		return SV_DATASET_VANISHED;
	if (pending)
		return SV_DATASET_PENDING;
	if (unread) /* a catalog request that could not be read: rescued once a later pass reads it */
		return t.n ? SV_DATASET_NEEDS_HANDS : SV_DATASET_RESCUED;
	if (files)
		return t.n ? SV_DATASET_PARTLY : SV_DATASET_RESCUED;
	return SV_DATASET_NEEDS_HANDS;
}
