/*
 * cli/cmd_crawl.c -- salvage crawl [SHEET.csv...]: load the sheets, run the
 * fetcher processes (crawler/crawl.c) until the queue drains, and say how it
 * went.
 *
 * This side only watches: it shows progress on a terminal, says when a stop
 * was asked, and prints the summary from the queue when every fetcher is
 * gone.
 */
#include "cli.h"
#include "../crawler/crawl.h"
#include "../crawler/seeding.h"

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

static int summary(const sv_archive *a, const char *queue_url, int stopped, double secs)
{
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, t;
	size_t n = 0;
	int rc;
	if ((rc = sv_archive_queue(a, queue_url, &q)) || (rc = sv_queue_stats(q, &rows, &n, &t))) {
		sv_queue_close(q);
		return -sv_cli_error(rc);
	}
	printf("%s after %.1f s: %lld URLs done, %.1f MB; %lld failed; %lld skipped (robots.txt); "
	       "%lld datasets found\n",
	       stopped ? "crawl stopped" : "crawl finished", secs, (long long)t.done, (double)t.bytes / 1e6,
	       (long long)t.failed, (long long)t.skipped, (long long)t.datasets);
	if (t.failed) {
		printf("failures by reason:\n");
		sv_queue_failures(q, print_reason, NULL);
	}
	int waiting = robots_waiting(q);
	if (stopped || t.queued + t.leased > 0)
		printf("%lld URLs remain: run the same command again to resume\n", (long long)(t.queued + t.leased));
	sv_queue_stats_free(rows, n);
	sv_queue_close(q);
	return (t.failed > 0 || waiting) && !stopped ? 1 : 0;
}

static const char *plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * Rows whose URLs are all finished and that rescued nothing: no 2xx page,
 * dataset, requisite or other file, only redirects, failures, skips,
 * robots.txt and sitemaps. Each is named, and so is a run that rescued
 * nothing at all: never a success. 1 when one was found, 0 when none, or a
 * negative exit status.
 */
static int nothing_rescued(const sv_archive *a, const char *queue_url, int stopped)
{
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, t;
	size_t n = 0;
	int rc, found = 0;
	if (stopped)
		return 0;
	if ((rc = sv_archive_queue(a, queue_url, &q)) || (rc = sv_queue_stats(q, &rows, &n, &t))) {
		sv_queue_close(q);
		return -sv_cli_error(rc);
	}
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
	if (n && t.leased == 0 && t.rescued == 0 && t.done + t.failed + t.skipped + t.queued > 0) {
		printf("nothing rescued in this run: no page, dataset or file was captured\n");
		found = 1;
	}
	sv_queue_stats_free(rows, n);
	sv_queue_close(q);
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
		fprintf(stderr, "salvage: fetcher %d: %s\n", e->index, e->message);
		break;
	case SV_CRAWL_CANNOT_START:
		fprintf(stderr, "salvage: %s\n", e->message);
		break;
	}
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_crawl_options co = {0, 0, 1, NULL, on_progress, on_event, NULL};
	sv_crawl_result res;
	watcher w;
	sv_archive *a = NULL;
	char *sheets[256];
	size_t nsheets = 0;
	int skip = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--jobs")) {
			if ((rc = sv_cli_int_option(cmd, argc, argv, &i, 1, SV_CRAWL_MAX_JOBS, &co.jobs)))
				return rc;
		} else if (!strcmp(argv[i], "--transfers")) {
			if ((rc = sv_cli_int_option(cmd, argc, argv, &i, 1, 1024, &co.transfers)))
				return rc;
		} else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			co.queue_url = argv[++i];
		else if (!strcmp(argv[i], "--skip-bad-rows"))
			skip = 1;
		else if (!strcmp(argv[i], "--ignore-robots"))
			co.robots = 0;
		else if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (nsheets == sizeof(sheets) / sizeof(sheets[0]))
			return sv_cli_usage(cmd, "too many sheets (at most 256 at once)");
		else
			sheets[nsheets++] = argv[i];
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (co.jobs == 0)
		co.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN) > 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1;
	if (co.jobs > SV_CRAWL_MAX_JOBS)
		co.jobs = SV_CRAWL_MAX_JOBS;
	if (co.transfers == 0)
		co.transfers = a->transfers;
	if (!a->robots)
		co.robots = 0;

	/* Load the sheets, and clean what an earlier run left, before any fetcher starts. */
	{
		sv_queue *q = NULL;
		sv_ledger *ledger = NULL;
		size_t reclaimed = 0;
		if (nsheets && (rc = sv_archive_queue(a, co.queue_url, &q)) == 0 &&
		    (rc = sv_archive_ledger(a, &ledger)) == 0)
			rc = sv_seed_sheets(q, ledger, sheets, nsheets, skip, sv_cli_seed_report, NULL);
		sv_ledger_free(ledger);
		sv_queue_close(q);
		if (rc == 0 && (rc = sv_crawl_prepare(a, co.queue_url, &reclaimed)) == 0 && reclaimed)
			printf("%zu URLs held by stopped fetchers of this machine are queued again\n", reclaimed);
		if (rc) {
			rc = sv_cli_error(rc);
			sv_archive_free(a);
			return rc;
		}
	}
	fflush(stdout); /* before the fetchers are forked, or they would print it again */

	memset(&w, 0, sizeof(w));
	w.show = sv_cli_progress_enabled();
	sv_cli_meter_start(&w.meter);
	sv_cli_meter_start(&w.tick);
	if (w.show && sv_archive_queue(a, co.queue_url, &w.watch) != 0)
		w.watch = NULL;
	co.ctx = &w;
	rc = sv_crawl_run(a, &co, &res);
	sv_queue_close(w.watch);
	if (w.show)
		sv_cli_progress_clear();
	if (rc) {
		rc = sv_cli_error(rc);
		sv_archive_free(a);
		return rc;
	}
	rc = summary(a, co.queue_url, res.stopped, sv_cli_meter_seconds(&w.meter));
	if (rc >= 0) {
		int none = nothing_rescued(a, co.queue_url, res.stopped);
		rc = none < 0 ? none : none ? 1 : rc;
	}
	sv_archive_free(a);
	if (rc < 0)
		return -rc;
	if (res.failed_fetchers)
		return 3;
	return rc;
}

const sv_command sv_cmd_crawl = {
	"crawl", run, "load sheets and fetch until the queue drains",
	"usage: salvage crawl [--jobs N] [--transfers N] [--skip-bad-rows] [--ignore-robots]\n"
	"                     [--queue URL] [SHEET.csv...]\n"
	"\n"
	"Loads the sheets (as 'salvage seed' does) and fetches every page and dataset\n"
	"in scope of their rows, storing each payload once in the archive. Ctrl-C\n"
	"stops cleanly (twice: at once); running the same command again resumes.\n"
	"Exit status 0 when everything was fetched, 1 when URLs failed for good or\n"
	"a row rescued nothing (only redirects, failures, skips: named in the summary), or\n"
	"URLs wait for a robots.txt that could not be fetched (run again to continue).\n"
	"\n"
	"  --jobs N        fetcher processes (default: one per CPU)\n"
	"  --transfers N   transfers at once per fetcher (default crawl.transfers, 32)\n"
	"  --ignore-robots do not fetch or obey robots.txt (also crawl.robots = ignore)\n",
};
