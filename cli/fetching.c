/*
 * cli/fetching.c -- what `salvage crawl` and `salvage worker` share once the
 * queue is ready: run this machine's fetchers (crawler/crawl.c), show
 * progress on a terminal, say when a stop was asked, and print the summary
 * from the queue when every fetcher is gone, with the exit status.
 */
#include "fetching.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	int show;
	sv_queue *watch; /* for the queue's counts on the progress line */
	sv_cli_meter meter, tick;
} watcher;

static void progress(const sv_fetch_stats *s, int jobs, sv_queue *q, const sv_cli_meter *m)
{
	sv_fetch_stats t = {0};
	int64_t queued = 0, leased = 0;
	for (int i = 0; i < jobs; i++) {
		t.done += s[i].done;
		t.pages += s[i].pages;
		t.datasets += s[i].datasets;
		t.failed += s[i].failed;
		t.bytes += s[i].bytes;
		t.inflight += s[i].inflight;
		t.big_inflight += s[i].big_inflight;
	}
	if (q)
		sv_queue_pending(q, &queued, &leased);
	double secs = sv_cli_meter_seconds(m);
	fprintf(stderr,
		"\r\033[K%llu done (%llu pages, %llu datasets), %lld queued, %llu in flight%s, %llu failed, "
		"%.1f pages/s, %.1f MB/s",
		(unsigned long long)t.done, (unsigned long long)t.pages, (unsigned long long)t.datasets,
		(long long)queued, (unsigned long long)t.inflight, t.big_inflight ? " (large downloads)" : "",
		(unsigned long long)t.failed, secs > 0 ? (double)t.pages / secs : 0.0,
		secs > 0 ? (double)t.bytes / 1e6 / secs : 0.0);
}

static int print_reason(void *ctx, const char *reason, int64_t count)
{
	(void)ctx;
	printf("  %6lld  %s\n", (long long)count, reason);
	return 0;
}

static int print_waiting_host(void *ctx, const char *host, const char *reason, int64_t urls)
{
	int *hosts = ctx;
	if ((*hosts)++ == 0)
		printf("waiting for robots.txt (not fetched, not skipped):\n");
	printf("  %s: %lld URLs waiting; %s\n", host, (long long)urls, reason);
	return 0;
}

/* Hosts whose robots.txt could not be fetched in this run: their URLs wait for the next one. */
static int robots_waiting(sv_queue *q)
{
	int hosts = 0;
	sv_queue_robots_waiting(q, print_waiting_host, &hosts);
	return hosts;
}

/* The run's summary from the queue's totals t; 1 when URLs failed or wait for a robots.txt. */
static int summary(sv_queue *q, const sv_queue_seed_stats *t, const char *what, int stopped, double secs)
{
	printf("%s %s after %.1f s: %lld URLs done, %.1f MB; %lld failed; %lld skipped (robots.txt); "
	       "%lld datasets found\n",
	       what, stopped ? "stopped" : "finished", secs, (long long)t->done, (double)t->bytes / 1e6,
	       (long long)t->failed, (long long)t->skipped, (long long)t->datasets);
	if (t->failed) {
		printf("failures by reason:\n");
		sv_queue_failures(q, print_reason, NULL);
	}
	int waiting = robots_waiting(q);
	if (stopped || t->queued + t->leased > 0)
		printf("%lld URLs remain: run the same command again to resume\n", (long long)(t->queued + t->leased));
	return (t->failed > 0 || waiting) && !stopped ? 1 : 0;
}

static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * Rows whose URLs are all finished and that rescued nothing: no 2xx page,
 * dataset, requisite or other file, only redirects, failures, skips,
 * robots.txt and sitemaps. Each is named, and so is a run that rescued
 * nothing at all: never a success. 1 when one was found, 0 when none.
 */
static int nothing_rescued(const sv_queue_seed_stats *rows, size_t n, const sv_queue_seed_stats *t)
{
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		const sv_queue_seed_stats *r = &rows[i];
		int64_t other = r->done - r->redirects;
		/* URLs still queued when a crawl ends wait for a robots.txt (listed above). */
		if (!r->active || r->leased > 0 || r->done + r->failed + r->skipped + r->queued == 0 || r->rescued)
			continue;
		printf("row %s:%u (%s): nothing rescued: %lld %s, %lld other %s (errors, sitemaps), %lld failed, "
		       "%lld skipped, %lld waiting%s%s\n",
		       r->sheet, r->line, r->url, (long long)r->redirects, plural(r->redirects, "redirect", "redirects"),
		       (long long)other, plural(other, "answer", "answers"), (long long)r->failed, (long long)r->skipped,
		       (long long)r->queued, r->landing ? "; the seed lands on " : "", r->landing ? r->landing : "");
		found = 1;
	}
	if (n && t->leased == 0 && t->rescued == 0 && t->done + t->failed + t->skipped + t->queued > 0) {
		printf("nothing rescued in this run: no page, dataset or file was captured\n");
		found = 1;
	}
	return found;
}

static void on_progress(void *ctx, const sv_fetch_stats *stats, int jobs)
{
	watcher *w = ctx;
	if (w->show && sv_cli_meter_due(&w->tick))
		progress(stats, jobs, w->watch, &w->meter);
}

static void on_event(void *ctx, const sv_crawl_event *e)
{
	watcher *w = ctx;
	switch (e->kind) {
	case SV_CRAWL_STOPPING:
		if (w->show)
			sv_cli_progress_clear();
		fprintf(stderr, "salvage: stopping: keeping what is stored, releasing the rest "
				"(Ctrl-C again to stop at once)\n");
		break;
	case SV_CRAWL_FETCHER_FAILED:
	case SV_CRAWL_KEPT_LOCALLY:
		fprintf(stderr, "salvage: fetcher %d: %s\n", e->index, e->message);
		break;
	case SV_CRAWL_CANNOT_START:
	case SV_CRAWL_QUEUE_DOWN:
	case SV_CRAWL_QUEUE_BACK:
		if (w->show)
			sv_cli_progress_clear();
		fprintf(stderr, "salvage: %s\n", e->message);
		break;
	}
}


/* A worker's own share of the queue's done URLs. */
static void node_summary(sv_queue *q, const char *node)
{
	sv_queue_node_stats *rows = NULL;
	size_t n = 0;
	if (sv_queue_nodes(q, &rows, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (!strcmp(rows[i].node, node))
				printf("node %s: %lld URLs done, %.1f MB, on ledger branch nodes/%s\n", node,
				       (long long)rows[i].done, (double)rows[i].bytes / 1e6, node);
	sv_queue_node_stats_free(rows, n);
}

int sv_cli_fetch_option(const sv_command *cmd, int argc, char **argv, int *i, sv_crawl_options *co, int *rc)
{
	*rc = 0;
	if (!strcmp(argv[*i], "--jobs"))
		*rc = sv_cli_int_option(cmd, argc, argv, i, 1, SV_CRAWL_MAX_JOBS, &co->jobs);
	else if (!strcmp(argv[*i], "--transfers"))
		*rc = sv_cli_int_option(cmd, argc, argv, i, 1, 1024, &co->transfers);
	else if (!strcmp(argv[*i], "--queue") && *i + 1 < argc)
		co->queue_url = argv[++*i];
	else
		return 0;
	return 1;
}

void sv_cli_fetch_defaults(const sv_archive *a, sv_crawl_options *co)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (co->jobs == 0)
		co->jobs = cpus > 0 ? (int)cpus : 1;
	if (co->jobs > SV_CRAWL_MAX_JOBS)
		co->jobs = SV_CRAWL_MAX_JOBS;
	if (co->transfers == 0)
		co->transfers = a->transfers;
	if (!a->robots)
		co->robots = 0;
}

int sv_cli_fetch(const sv_archive *a, sv_crawl_options *co, const char *what)
{
	sv_crawl_result res;
	watcher w;
	int rc;

	fflush(stdout); /* before the fetchers are forked, or they would print it again */
	memset(&w, 0, sizeof(w));
	w.show = sv_cli_progress_enabled();
	sv_cli_meter_start(&w.meter);
	sv_cli_meter_start(&w.tick);
	if (w.show && sv_archive_queue(a, co->queue_url, &w.watch) != 0)
		w.watch = NULL;
	co->progress = on_progress;
	co->event = on_event;
	co->ctx = &w;
	rc = sv_crawl_run(a, co, &res);
	sv_queue_close(w.watch);
	if (w.show)
		sv_cli_progress_clear();
	if (rc)
		return sv_cli_error(rc);
	/* One read of the queue for the summary, the rows that rescued nothing and the node's share. */
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, t;
	size_t n = 0;
	if ((rc = sv_archive_queue(a, co->queue_url, &q)) || (rc = sv_queue_stats(q, &rows, &n, &t))) {
		sv_queue_close(q);
		return sv_cli_error(rc);
	}
	rc = summary(q, &t, what, res.stopped, sv_cli_meter_seconds(&w.meter));
	if (!res.stopped && nothing_rescued(rows, n, &t))
		rc = 1;
	if (co->branch)
		node_summary(q, a->node);
	sv_queue_stats_free(rows, n);
	sv_queue_close(q);
	return res.failed_fetchers ? 3 : rc;
}
