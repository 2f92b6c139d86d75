/*
 * crawler/cmd_cat.c -- salvage cat DIGEST: write a stored payload to stdout.
 * The payload is re-hashed as it streams; damage is reported at the end.
 */
#include "cli.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK (1u << 20)

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_objects *store = NULL;
	sv_objects_reader *r = NULL;
	unsigned char *buf = NULL;
	sv_digest d;
	size_t got;
	int rc;

	if (argc != 2)
		return sv_cli_usage(cmd, argc < 2 ? "cat needs a digest" : "cat takes one digest");
	if ((rc = sv_digest_from_hex(&d, argv[1])))
		return sv_cli_error(rc);
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (!(buf = malloc(CHUNK))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if ((rc = sv_archive_objects(a, &store)) || (rc = sv_objects_reader_open(&r, store, &d)))
		goto done;
	while ((rc = sv_objects_reader_read(r, buf, CHUNK, &got)) == 0 && got > 0)
		if ((rc = sv_cli_write_all(STDOUT_FILENO, buf, got)))
			break;
	if (rc == SV_ECORRUPT)
		sv_error_prefix("object %s is damaged", argv[1]);
done:
	if (rc)
		rc = sv_cli_error(rc);
	sv_objects_reader_free(r);
	sv_objects_free(store);
	sv_archive_free(a);
	free(buf);
	return rc;
}

const sv_command sv_cmd_cat = {
	"cat", run, "write a stored payload to standard output",
	"usage: salvage cat DIGEST\n"
	"\n"
	"Writes the payload whose SHA-256 is DIGEST to standard output, checking it\n"
	"as it goes. Exit status 1 if there is no such object or it is damaged.\n",
};
