/*
 * cli/cmd_cat.c -- salvage cat [--decoded] DIGEST|URL: write a stored
 * payload to stdout. A URL means its latest capture with a payload. The
 * payload is re-hashed as it streams; damage is reported at the end. With
 * --decoded (a URL only: the capture record says the coding), the
 * Content-Encoding the server applied is undone (storage/decode.h).
 */
#include "cli.h"

#include "../common/error.h"
#include "../queue/url.h"
#include "../storage/capture.h"
#include "../storage/decode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

typedef struct {
	const char *url;
	char sha[SV_DIGEST_HEX_LEN + 1];
	char *record; /* its capture record */
	int failed;
} latest;

static int keep_latest(void *ctx, const sv_index_row *r)
{
	latest *l = ctx;
	if (!strcmp(r->url, l->url) && r->sha256 && strlen(r->sha256) == SV_DIGEST_HEX_LEN) {
		memcpy(l->sha, r->sha256, sizeof(l->sha));
		free(l->record);
		l->failed |= !(l->record = strdup(r->record));
	}
	return 0;
}

/* The digest of a URL's latest capture that has a payload, and that capture's Content-Encoding (malloc'd, or NULL). */
static int digest_of_url(const sv_archive *a, const char *arg, sv_digest *d, char **encoding)
{
	sv_index *ix = NULL;
	char *url = NULL;
	latest l = {NULL, "", NULL, 0};
	int rc;
	if ((rc = sv_url_normalize(&url, arg, NULL)))
		return sv_error_set(SV_EINVAL, "'%s' is neither a SHA-256 digest (64 hex digits) nor an http(s) URL",
				    arg);
	l.url = url;
	if ((rc = sv_archive_index(a, &ix)) == 0)
		rc = sv_index_list(ix, url, keep_latest, &l);
	if (rc == 0 && !l.sha[0])
		rc = sv_error_set(SV_ENOTFOUND, "no capture of %s with a payload", url);
	if (rc == 0 && l.failed)
		rc = sv_error_set(SV_EIO, "out of memory");
	if (rc == 0)
		rc = sv_digest_from_hex(d, l.sha);
	if (rc == 0) {
		sv_capture_parsed p;
		if (sv_capture_parse(&p, l.record, strlen(l.record)) == 0 && p.c.content_encoding &&
		    !(*encoding = strdup(p.c.content_encoding)))
			rc = sv_error_set(SV_EIO, "out of memory");
		sv_capture_parsed_clear(&p);
	}
	free(l.record);
	sv_index_close(ix);
	free(url);
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_objects *store = NULL;
	sv_objects_reader *r = NULL;
	sv_decoder *dec = NULL;
	unsigned char *buf = NULL;
	char *encoding = NULL;
	sv_digest d;
	size_t got;
	int rc, decoded = 0;

	const char *arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--decoded"))
			decoded = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (arg)
			return sv_cli_usage(cmd, "cat takes one digest or URL");
		else
			arg = argv[i];
	}
	if (!arg)
		return sv_cli_usage(cmd, "cat needs a digest or a URL");
	int is_url = strstr(arg, "://") != NULL;
	if (decoded && !is_url)
		return sv_cli_usage(cmd, "--decoded needs a URL: a digest alone does not say how the payload was encoded");
	if (!is_url && (rc = sv_digest_from_hex(&d, arg)))
		return sv_cli_error(rc);
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (is_url && (rc = digest_of_url(a, arg, &d, &encoding)))
		goto done;
	if (!(buf = malloc(CHUNK))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if ((rc = sv_archive_objects(a, &store)) || (rc = sv_objects_reader_open(&r, store, &d)) ||
	    (rc = sv_decoder_new(&dec, decoded ? encoding : NULL, sv_decode_object_source, r, NULL)))
		goto done;
	while ((rc = sv_decoder_read(dec, buf, CHUNK, &got)) == 0 && got > 0)
		if ((rc = sv_cli_write_all(STDOUT_FILENO, buf, got)))
			break;
	if (rc == SV_ECORRUPT && decoded)
		sv_error_prefix("the payload of %s", arg);
	else if (rc == SV_ECORRUPT)
		sv_error_prefix("object %s is damaged", arg);
done:
	if (rc)
		rc = sv_cli_error(rc);
	sv_decoder_free(dec);
	free(encoding);
	sv_objects_reader_free(r);
	sv_objects_free(store);
	sv_archive_free(a);
	free(buf);
	return rc;
}

const sv_command sv_cmd_cat = {
	"cat", run, "write a stored payload to standard output",
	"usage: salvage cat [--decoded] DIGEST|URL\n"
	"\n"
	"Writes the payload whose SHA-256 is DIGEST (or the latest capture of URL that\n"
	"has a payload) to standard output, checking it as it goes. Exit status 1 if\n"
	"there is no such object or capture, or the object is damaged.\n"
	"\n"
	"  --decoded  (with a URL) undo the capture's Content-Encoding (gzip, deflate, br):\n"
	"             the bytes the server meant, not the bytes it sent; exit 1 if they do\n"
	"             not decode, 2 for a coding salvage does not know\n",
};
