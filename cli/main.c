/*
 * cli/main.c -- the salvage program: global options and the table of
 * subcommands. Each subcommand lives in cli/cmd_<name>.c.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef SV_VERSION
#define SV_VERSION "0.0.0"
#endif

static const sv_command *const commands[] = {
	&sv_cmd_init,
	&sv_cmd_crawl,
	&sv_cmd_worker,
	&sv_cmd_put,
	&sv_cmd_cat,
	&sv_cmd_verify,
	&sv_cmd_seed,
	&sv_cmd_status,
	&sv_cmd_ls,
	&sv_cmd_mirror,
	&sv_cmd_clone,
	&sv_cmd_reindex,
	&sv_cmd_export,
	&sv_cmd_import,
	&sv_cmd_report,
};

static void usage(FILE *f)
{
	fputs("usage: salvage [-C DIR] COMMAND [ARGS...]\n"
	      "       salvage --version | --help\n"
	      "\n"
	      "salvage rescues public data: every payload stored once, named by its\n"
	      "SHA-256 and compressed with zstd.\n"
	      "\n"
	      "commands:\n",
	      f);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
	fputs("\n"
	      "  -C DIR   run as if started in DIR\n"
	      "\n"
	      "Run 'salvage COMMAND --help' for a command's options.\n"
	      "Exit status: 0 success, 1 problems found (damage, unknown digest),\n"
	      "2 bad usage or input, 3 environment failure (disk full, I/O error).\n",
	      f);
}

int main(int argc, char **argv)
{
	int i = 1;

	/* A file size limit must fail a write (EFBIG, exit 3), not kill us. */
	signal(SIGXFSZ, SIG_IGN);

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--version")) {
			printf("salvage %s\n", SV_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-C")) {
			if (i + 1 >= argc) {
				fputs("salvage: -C needs a folder\n", stderr);
				return 2;
			}
			if (chdir(argv[i + 1]) != 0) {
				fprintf(stderr, "salvage: cannot change to '%s': %s\n", argv[i + 1], strerror(errno));
				return 2;
			}
			i += 2;
		} else {
			fprintf(stderr, "salvage: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c]->name)) {
			if (sv_cli_wants_help(commands[c], argc - i, argv + i))
				return 0;
			return commands[c]->run(commands[c], argc - i, argv + i);
		}
	fprintf(stderr, "salvage: '%s' is not a salvage command; see 'salvage --help'\n", argv[i]);
	return 2;
}
