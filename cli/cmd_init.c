/*
 * cli/cmd_init.c -- salvage init DIR: create an archive.
 */
#include "cli.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Asks for crawl.contact on a terminal until it is valid or left empty
 * (empty: none). Returns a malloc'd value or NULL.
 */
static char *ask_contact(void)
{
	char line[512];

	for (;;) {
		fputs("Who runs this crawl? A URL or e-mail that site operators can reach\n"
		      "(sent as User-Agent: salvage/" SV_VERSION " (+CONTACT); empty for none): ",
		      stdout);
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return NULL;
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			return NULL;
		if (sv_archive_check_contact(line) == 0)
			return strdup(line);
		printf("%s\n", sv_error_last());
	}
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	const char *dir = NULL, *contact = NULL;
	char *asked = NULL;
	int existed, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--contact") && i + 1 < argc)
			contact = argv[++i];
		else if (!strncmp(argv[i], "--contact=", 10))
			contact = argv[i] + 10;
		else if (argv[i][0] == '-' || dir)
			return sv_cli_usage(cmd, argv[i][0] == '-' ? "unknown option '%s'" : "init takes one folder",
					    argv[i]);
		else
			dir = argv[i];
	}
	if (!dir)
		return sv_cli_usage(cmd, "init needs a folder");
	if (!dir[0])
		return sv_cli_usage(cmd, "init needs a folder, not an empty name");
	if (contact && sv_archive_check_contact(contact))
		return sv_cli_usage(cmd, "--contact: %s", sv_error_last());
	if ((rc = sv_archive_init(dir, &existed)))
		return sv_cli_error(rc);
	if (!contact && !existed && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))
		contact = asked = ask_contact();
	rc = contact ? sv_archive_set_contact(dir, contact) : 0;
	free(asked);
	if (rc)
		return sv_cli_error(rc);
	if (existed)
		printf("'%s' is already an archive; %s\n", dir, contact ? "crawl.contact set" : "nothing changed");
	else
		printf("created an empty archive in '%s'\n", dir);
	return 0;
}

const sv_command sv_cmd_init = {
	"init", run, "create an archive in DIR",
	"usage: salvage init [--contact URL|E-MAIL] DIR\n"
	"\n"
	"Creates an archive in DIR (made if missing; refused if DIR holds other files):\n"
	"salvage.conf, objects/, tmp/ and logs/. An existing archive is left as it is.\n"
	"\n"
	"--contact  who runs the crawl, as crawl.contact in salvage.conf: every request\n"
	"           says User-Agent: salvage/" SV_VERSION " (+CONTACT). Asked for when init\n"
	"           runs on a terminal; sets it on an existing archive too.\n",
};
