/*
 * cli/cmd_ls.c -- salvage ls [--json] [URL-PREFIX]: one line per capture.
 */
#include "cli.h"

#include "../common/error.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	int json;
	size_t n;
} ls_ctx;

static int print_capture(void *arg, const sv_index_row *r)
{
	ls_ctx *c = arg;
	c->n++;
	if (c->json) {
		puts(r->record);
		return 0;
	}
	char len[24];
	if (r->length >= 0)
		snprintf(len, sizeof(len), "%lld", (long long)r->length);
	else
		snprintf(len, sizeof(len), "-");
	char status[16] = "  -"; /* a manual capture has no HTTP status */
	if (r->status > 0)
		snprintf(status, sizeof(status), "%3d", r->status);
	/* Records may come from a mirror: nothing in them reaches the terminal raw. */
	char ts[128], sha[256], kind[128];
	printf("%s  %s  %-64s  %10s  %-9s  ", sv_cli_escape(ts, sizeof(ts), r->ts), status,
	       sv_cli_escape(sha, sizeof(sha), r->sha256 ? r->sha256 : "-"), len,
	       sv_cli_escape(kind, sizeof(kind), r->kind ? r->kind : "-"));
	sv_cli_put_text(stdout, r->url, 0);
	putchar('\n');
	return 0;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_index *ix = NULL;
	const char *prefix = "";
	ls_ctx c = {0, 0};
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			c.json = 1;
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			i++; /* captures are in the archive's own index, whatever queue it fetched from */
		else if (argv[i][0] == '-')
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (*prefix)
			return sv_cli_usage(cmd, "ls takes one URL prefix");
		else
			prefix = argv[i];
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if ((rc = sv_archive_index(a, &ix)) == 0)
		rc = sv_index_list(ix, prefix, print_capture, &c);
	if (rc == 0 && fflush(stdout) != 0)
		rc = sv_error_set(SV_EIO, "cannot write to standard output");
	if (rc)
		rc = sv_cli_error(rc);
	sv_index_close(ix);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_ls = {
	"ls", run, "list captures: time, status, sha256, length, kind, URL",
	"usage: salvage ls [--json] [URL-PREFIX]\n"
	"\n"
	"One line per capture (every fetch outcome, failures included), oldest first:\n"
	"time, HTTP status (0 when no response came), sha256 of the payload, its\n"
	"length, kind (page, dataset, requisite, robots...) and URL. Only URLs that\n"
	"start with URL-PREFIX when given. --json prints each capture record as one\n"
	"JSON object per line, with every field (headers, via, seed, error...).\n"
	"Captures are read from the archive's capture index (index.db), which\n"
	"'salvage reindex' makes anew from the ledger.\n",
};
