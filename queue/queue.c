/*
 * queue/queue.c -- choosing a backend, and what all backends share.
 */
#include "queue.h"

#include "../common/error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int sv_queue_open(sv_queue **out, const char *location, const sv_queue_options *opts)
{
	sv_queue_options def = SV_QUEUE_OPTIONS_INIT;
	*out = NULL;
	if (!opts)
		opts = &def;
	if (!strncmp(location, "sqlite:", 7))
		return sv_queue_sqlite_open(out, location + 7, opts);
	if (strstr(location, "://"))
		return sv_error_set(SV_EINVAL, "unsupported queue location '%s' (this build has sqlite:PATH)",
				    location);
	return sv_queue_sqlite_open(out, location, opts);
}

void sv_queue_close(sv_queue *q)
{
	if (q)
		q->ops.close(q);
}

int64_t sv_queue_now_ms(const sv_queue *q)
{
	struct timespec t;
	if (q->opts.now_ms)
		return q->opts.now_ms(q->opts.clock_ctx);
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void sv_queue_items_free(sv_queue_item *items, size_t n)
{
	if (!items)
		return;
	for (size_t i = 0; i < n; i++) {
		free(items[i].url);
		free(items[i].host);
		free(items[i].kind);
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
	}
	free(rows);
}

void sv_queue_host_clear(sv_queue_host *h)
{
	free(h->robots);
	memset(h, 0, sizeof(*h));
}
