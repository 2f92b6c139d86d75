/*
 * cli/fetching.h -- running this machine's fetchers for a command (crawl,
 * worker) once its queue is ready: progress on a terminal, the summary, the
 * exit status.
 */
#ifndef SV_CLI_FETCHING_H
#define SV_CLI_FETCHING_H

#include "cli.h"
#include "../crawler/crawl.h"

/*
 * Runs the fetchers of co (its progress, event and ctx are set here) and
 * prints the summary, "<what> finished after ..." or "<what> stopped ...",
 * with this node's share when co->branch is set (a worker). Returns the exit
 * status: 0 when everything was fetched, 1 when URLs failed for good, a row
 * rescued nothing or URLs wait for a robots.txt, 3 when fetchers failed.
 */
int sv_cli_fetch(const sv_archive *a, sv_crawl_options *co, const char *what);

/* If argv[*i] is --jobs N, --transfers N or --queue URL: takes it into co (moving *i past
 * it) and returns 1, with *rc = 2 after the usage message when its value is bad; else 0. */
int sv_cli_fetch_option(const sv_command *cmd, int argc, char **argv, int *i, sv_crawl_options *co, int *rc);
/* What the options left unset: one fetcher per CPU, crawl.transfers, crawl.robots. */
void sv_cli_fetch_defaults(const sv_archive *a, sv_crawl_options *co);

#endif
