/*
 * cli/cmd_crawl.c -- salvage crawl [SHEET.csv...]: load the sheets, run the
 * fetcher processes (crawler/crawl.c) until the queue drains, and say how it
 * went (cli/fetching.c). Captures go on the ledger's main branch.
 */
#include "fetching.h"
#include "../crawler/seeding.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_crawl_options co = {0, 0, 1, NULL, NULL, 0, NULL, NULL, NULL};
	sv_archive *a = NULL;
	char *sheets[256];
	size_t nsheets = 0;
	int skip = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (sv_cli_fetch_option(cmd, argc, argv, &i, &co, &rc)) {
			if (rc)
				return rc;
		} else if (!strcmp(argv[i], "--skip-bad-rows"))
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
	sv_cli_fetch_defaults(a, &co);

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
		if (rc == 0 && (rc = sv_crawl_prepare(a, co.queue_url, 1, &reclaimed)) == 0 && reclaimed)
			printf("%zu URLs held by stopped fetchers of this machine are queued again\n", reclaimed);
		if (rc) {
			rc = sv_cli_error(rc);
			sv_archive_free(a);
			return rc;
		}
	}
	rc = sv_cli_fetch(a, &co, "crawl");
	sv_archive_free(a);
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
