/*
 * cli/cmd_cat.c -- salvage cat DIGEST|URL: write a stored payload to
 * stdout. A URL means its latest capture with a payload. The payload is
 * re-hashed as it streams; damage is reported at the end.
 */
#include "cli.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

typedef struct {
	const char *url;
	char sha[SV_DIGEST_HEX_LEN + 1];
} latest;

static int keep_latest(void *ctx, const sv_index_row *r)
{
	latest *l = ctx;
	if (!strcmp(r->url, l->url) && r->sha256 && strlen(r->sha256) == SV_DIGEST_HEX_LEN)
		memcpy(l->sha, r->sha256, sizeof(l->sha));
	return 0;
}

/* The digest of a URL's latest capture that has a payload. */
static int digest_of_url(const sv_archive *a, const char *arg, sv_digest *d)
{
	sv_index *ix = NULL;
	char *url = NULL;
	latest l = {NULL, ""};
	int rc;
	if ((rc = sv_url_normalize(&url, arg, NULL)))
		return sv_error_set(SV_EINVAL, "'%s' is neither a SHA-256 digest (64 hex digits) nor an http(s) URL",
				    arg);
	l.url = url;
	if ((rc = sv_archive_index(a, &ix)) == 0)
		rc = sv_index_list(ix, url, keep_latest, &l);
	if (rc == 0 && !l.sha[0])
		rc = sv_error_set(SV_ENOTFOUND, "no capture of %s with a payload", url);
	if (rc == 0)
		rc = sv_digest_from_hex(d, l.sha);
	sv_index_close(ix);
	free(url);
	return rc;
}

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
		return sv_cli_usage(cmd, argc < 2 ? "cat needs a digest or a URL" : "cat takes one digest or URL");
	int is_url = strstr(argv[1], "://") != NULL;
	if (!is_url && (rc = sv_digest_from_hex(&d, argv[1])))
		return sv_cli_error(rc);
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (is_url && (rc = digest_of_url(a, argv[1], &d)))
		goto done;
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
	"usage: salvage cat DIGEST|URL\n"
	"\n"
	"Writes the payload whose SHA-256 is DIGEST (or the latest capture of URL that\n"
	"has a payload) to standard output, checking it as it goes. Exit status 1 if\n"
	"there is no such object or capture, or the object is damaged.\n",
};
