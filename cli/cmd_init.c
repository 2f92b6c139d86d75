/*
 * cli/cmd_init.c -- salvage init DIR: create an archive.
 */
#include "cli.h"

#include "../common/error.h"

#include <stdio.h>

static int run(const sv_command *cmd, int argc, char **argv)
{
	int existed, rc;
	if (argc != 2 || argv[1][0] == '-')
		return sv_cli_usage(cmd, argc < 2 ? "init needs a folder" : "init takes one folder");
	if (!argv[1][0])
		return sv_cli_usage(cmd, "init needs a folder, not an empty name");
	if ((rc = sv_archive_init(argv[1], &existed)))
		return sv_cli_error(rc);
	if (existed)
		printf("'%s' is already an archive; nothing changed\n", argv[1]);
	else
		printf("created an empty archive in '%s'\n", argv[1]);
	return 0;
}

const sv_command sv_cmd_init = {
	"init", run, "create an archive in DIR",
	"usage: salvage init DIR\n"
	"\n"
	"Creates an archive in DIR (made if missing; refused if DIR holds other files):\n"
	"salvage.conf, objects/, tmp/ and logs/. An existing archive is left as it is.\n",
};
