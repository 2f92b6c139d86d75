/*
 * cli/cmd_reindex.c -- salvage reindex [--queue]: make the capture index
 * anew from the ledger; with --queue, queue.db too.
 */
#include "cli.h"
#include "../crawler/requeue.h"

#include "../common/error.h"

#include <stdio.h>
#include <string.h>

static const char *plural(size_t n)
{
	return n == 1 ? "" : "s";
}

static int requeue(const sv_archive *a)
{
	sv_requeue_result r;
	int rc = sv_archive_requeue(a, &r);
	if (rc)
		return sv_cli_error(rc);
	if (r.aside[0])
		printf("moved the old queue aside as %s\n", r.aside);
	printf("queue.db made again: %zu sheet%s (%zu row%s), %zu captured URL%s ended as recorded, "
	       "%zu stored page%s read again, %zu URL%s queued from them\n",
	       r.sheets, plural(r.sheets), r.rows, plural(r.rows), r.captures, plural(r.captures), r.read,
	       plural(r.read), r.queued, plural(r.queued));
	if (r.unplaced)
		printf("%zu capture%s left out: %s sheet row is not in the ledger's sheets any more\n", r.unplaced,
		       plural(r.unplaced), r.unplaced == 1 ? "its" : "their");
	return 0;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	size_t indexed = 0, skipped = 0;
	int queue = 0, rc;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--queue"))
			queue = 1;
		else
			return sv_cli_usage(cmd, "reindex takes only --queue ('%s')", argv[i]);
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	rc = sv_archive_reindex(a, &indexed, &skipped);
	if (rc) {
		sv_archive_free(a);
		return sv_cli_error(rc);
	}
	printf("indexed %zu capture%s from the ledger", indexed, plural(indexed));
	if (skipped)
		printf("; %zu line%s that %s no capture record left out (see 'salvage verify')", skipped,
		       plural(skipped), skipped == 1 ? "is" : "are");
	putchar('\n');
	if (queue)
		rc = requeue(a);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_reindex = {
	"reindex", run, "make the capture index (and the queue) anew from the ledger",
	"usage: salvage reindex [--queue]\n"
	"\n"
	"Empties the capture index (index.db), which ls and cat URL read, and indexes\n"
	"every capture record of the ledger again. An archive from before the index\n"
	"also gets the captures its queue.db kept. Run it after restoring a ledger by\n"
	"hand, or when index.db was lost; salvage builds a missing index by itself.\n"
	"\n"
	"  --queue  also make queue.db again, with no network, when it was lost or\n"
	"           damaged: the old file (if any) is moved aside as\n"
	"           queue.db.damaged-<time>, never deleted; the sheets in the ledger\n"
	"           are loaded again, every captured URL is ended as its record says\n"
	"           (the next crawl does not fetch it again), and the links of the\n"
	"           stored pages are queued as the crawl would have queued them.\n",
};
