/*
 * cli/cmd_reindex.c -- salvage reindex: make the capture index anew from the
 * ledger.
 */
#include "cli.h"

#include "../common/error.h"

#include <stdio.h>

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	size_t indexed = 0, skipped = 0;
	int rc;
	if (argc != 1)
		return sv_cli_usage(cmd, "reindex takes no arguments ('%s')", argv[1]);
	if ((rc = sv_cli_archive(&a)))
		return rc;
	rc = sv_archive_reindex(a, &indexed, &skipped);
	sv_archive_free(a);
	if (rc)
		return sv_cli_error(rc);
	printf("indexed %zu capture%s from the ledger", indexed, indexed == 1 ? "" : "s");
	if (skipped)
		printf("; %zu line%s that %s no capture record left out (see 'salvage verify')", skipped,
		       skipped == 1 ? "" : "s", skipped == 1 ? "is" : "are");
	putchar('\n');
	return 0;
}

const sv_command sv_cmd_reindex = {
	"reindex", run, "make the capture index anew from the ledger",
	"usage: salvage reindex\n"
	"\n"
	"Empties the capture index (index.db), which ls and cat URL read, and indexes\n"
	"every capture record of the ledger again. An archive from before the index\n"
	"also gets the captures its queue.db kept. Run it after restoring a ledger by\n"
	"hand, or when index.db was lost; salvage builds a missing index by itself.\n",
};
