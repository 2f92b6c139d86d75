/*
 * cli/cmd_clone.c -- salvage clone --objects URL --ledger URL DIR: a new
 * archive rebuilt from a mirror (disaster recovery). The mirror is saved as
 * "origin" before anything is downloaded, so an interrupted clone resumes
 * with `salvage -C DIR mirror pull origin`.
 */
#include "cli.h"

#include "../common/error.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* 0 if dir does not exist or is an empty folder; SV_EINVAL otherwise. */
static int check_target(const char *dir)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int empty = 1;
	if (stat(dir, &st) != 0)
		return errno == ENOENT ? 0 : sv_error_errno(errno, "cannot stat '%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return sv_error_set(SV_EINVAL, "'%s' exists and is not a folder", dir);
	if (!(d = opendir(dir)))
		return sv_error_errno(errno, "cannot read '%s'", dir);
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty ? 0 : sv_error_set(SV_EINVAL, "'%s' exists and is not empty", dir);
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_mirror_remote *r = calloc(1, sizeof(*r));
	sv_archive *a = NULL;
	const char *dir = NULL;
	int rc = 0, existed = 0;

	if (!r || !(r->name = strdup("origin"))) {
		free(r);
		return sv_cli_error(sv_error_set(SV_EIO, "out of memory"));
	}
	for (int i = 1; i < argc && rc == 0; i++) {
		if (sv_mirror_parse_remote_flag(r, argc, argv, &i, cmd, &rc))
			continue;
		if (argv[i][0] == '-')
			rc = sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (dir)
			rc = sv_cli_usage(cmd, "clone takes one folder");
		else
			dir = argv[i];
	}
	if (rc)
		goto done;
	if (!dir || !r->objects || !r->ledger) {
		rc = sv_cli_usage(cmd, "clone needs --objects URL, --ledger URL and a folder");
		goto done;
	}
	if ((rc = sv_mirror_check_remote(r)) || (rc = check_target(dir)) || (rc = sv_archive_init(dir, &existed)) ||
	    (rc = sv_archive_open(&a, dir)) || (rc = sv_archive_remote_add(a, r))) {
		rc = sv_cli_error(rc);
		goto done;
	}
	rc = sv_cli_mirror_pull(a, r);
	if (rc == 0)
		printf("cloned into '%s'\n", dir);
	else if (rc != 2)
		fprintf(stderr, "salvage: the clone in '%s' is incomplete; run 'salvage -C %s mirror pull origin' to "
				"continue\n",
			dir, dir);
done:
	sv_archive_free(a);
	sv_mirror_remote_free(r);
	return rc;
}

const sv_command sv_cmd_clone = {
	"clone", run, "rebuild an archive from a mirror",
	"usage: salvage clone --objects URL --ledger URL [--s3-endpoint URL] [--s3-region REGION]\n"
	"                     [--allow-http] [--ssh-key FILE] [--known-hosts FILE] DIR\n"
	"\n"
	"Creates a new archive in DIR (missing or empty), saves the mirror in its\n"
	"salvage.conf as \"origin\" and pulls everything from it: the ledger, every\n"
	"object (each one decompressed and re-hashed before it is stored) and the\n"
	"capture records, so that 'salvage verify' and 'salvage ls' work at once.\n"
	"URLs and keys as for 'salvage mirror add'. An interrupted clone continues\n"
	"with 'salvage -C DIR mirror pull origin'.\n",
};
