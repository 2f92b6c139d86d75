/*
 * cli/cmd_seed.c -- salvage seed SHEET.csv...: load seed sheets into the
 * queue without fetching. Loading the same sheet again adds nothing; an
 * edited sheet updates its rows; rows taken out of it are paused.
 */
#include "cli.h"
#include "../crawler/seeding.h"

#include "../common/error.h"

#include <stdio.h>
#include <string.h>

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	const char *queue_url = NULL;
	char *paths[256];
	size_t n = 0;
	int skip = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--skip-bad-rows"))
			skip = 1;
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			queue_url = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (n == sizeof(paths) / sizeof(paths[0]))
			return sv_cli_usage(cmd, "too many sheets (at most 256 at once)");
		else
			paths[n++] = argv[i];
	}
	if (n == 0)
		return sv_cli_usage(cmd, "seed needs at least one sheet");
	if ((rc = sv_cli_archive(&a)))
		return rc;
	sv_ledger *ledger = NULL;
	if ((rc = sv_archive_queue(a, queue_url, &q)) == 0 && (rc = sv_archive_ledger(a, &ledger)) == 0)
		rc = sv_seed_sheets(q, ledger, paths, n, skip, sv_cli_seed_report, NULL);
	if (rc)
		rc = sv_cli_error(rc);
	sv_ledger_free(ledger);
	sv_queue_close(q);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_seed = {
	"seed", run, "load seed sheets into the queue",
	"usage: salvage seed [--skip-bad-rows] [--queue URL] SHEET.csv...\n"
	"\n"
	"Reads each sheet (CSV from Excel, LibreOffice or Google Sheets; a header row\n"
	"with a 'url' column) and queues its rows. Every problem is reported as\n"
	"FILE:LINE:COLUMN: message and nothing is loaded, unless --skip-bad-rows.\n"
	"Loading a sheet again adds nothing; edited rows are updated; rows taken\n"
	"out of the sheet are paused.\n"
	"\n"
	"Columns: url (required), scope (page|prefix|host|domain), depth, priority,\n"
	"include, exclude, robots (respect|ignore), delay (seconds), max_urls,\n"
	"max_bytes, datasets (yes|no). Any other column is kept and shown by status.\n"
	"\n"
	"  --skip-bad-rows  load the good rows, still reporting the bad ones\n"
	"  --queue URL      the queue to load into (default: queue.url, or queue.db here)\n",
};
