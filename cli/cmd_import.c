/*
 * cli/cmd_import.c -- salvage import FILE.warc|.warc.gz|.warc.zst|.wacz...:
 * what other tools captured, taken in as captures of kind `imported`
 * (storage/import.h). A WACZ's WARCs (the .warc, .warc.gz and .warc.zst files under archive/) are read
 * from the ZIP as they are, never unpacked to disk.
 */
#include "cli.h"

#include "../common/error.h"
#include "../queue/url.h"
#include "../storage/import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#define WACZ_MEMBERS_MAX 100000

typedef struct {
	const sv_archive *a;
	sv_objects *store;
	sv_ledger *ledger;
	sv_index *ix;
	unsigned seq;
	sv_cli_meter m;
	int show;
} import_ctx;

static int normalize(char **out, const char *url)
{
	return sv_url_normalize(out, url, NULL);
}

/* Objects first, durable; then the ledger; then the index: a record never names what is not stored. */
static int commit(void *ctx, const char *const *records, size_t n)
{
	import_ctx *c = ctx;
	int rc = sv_objects_sync(c->store);
	if (rc == 0)
		rc = sv_archive_commit_records(c->ledger, c->ix, "main", c->a->node, &c->seq, records, n, "salvage import");
	return rc;
}

static void on_refused(void *ctx, const char *why)
{
	import_ctx *c = ctx;
	if (c->show)
		sv_cli_progress_clear();
	fputs("salvage: refused: ", stderr);
	sv_cli_put_text(stderr, why, 0);
	fputc('\n', stderr);
}

static void on_progress(void *ctx, const sv_import_stats *s)
{
	import_ctx *c = ctx;
	if (!c->show || !sv_cli_meter_due(&c->m))
		return;
	fprintf(stderr, "\r\033[Kimport: %llu records, %llu captures, %.1f MB read",
		(unsigned long long)s->records, (unsigned long long)s->captures, (double)s->bytes_in / 1e6);
	fflush(stderr);
}

static int read_fd(void *ctx, void *buf, size_t cap, size_t *got)
{
	int fd = *(int *)ctx;
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n >= 0) {
			*got = (size_t)n;
			return 0;
		}
		if (errno != EINTR)
			return sv_error_errno(errno, "cannot read");
	}
}

static int read_zip(void *ctx, void *buf, size_t cap, size_t *got)
{
	zip_int64_t n = zip_fread((zip_file_t *)ctx, buf, cap);
	if (n < 0)
		return sv_error_set(SV_ECORRUPT, "cannot read the ZIP member: %s", zip_file_strerror((zip_file_t *)ctx));
	*got = (size_t)n;
	return 0;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && !strcmp(s + n - t, tail);
}

/* A member name that could mean a place outside the package (as unzip would take it). */
static int unsafe_member(const char *name)
{
	if (name[0] == '/' || name[0] == '\\' || strchr(name, '\\'))
		return 1;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 2 && !strncmp(p, "..", 2)) || n == 0)
			return 1;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

static int import_wacz(sv_importer *im, const char *path)
{
	int err = 0;
	zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
	if (!z) {
		zip_error_t ze;
		zip_error_init_with_code(&ze, err);
		int rc = sv_error_set(err == ZIP_ER_NOENT || err == ZIP_ER_OPEN ? SV_EINVAL : SV_ECORRUPT,
				      "'%s' is not a WACZ (ZIP) file: %s", path, zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return rc;
	}
	zip_int64_t n = zip_get_num_entries(z, 0);
	int rc = 0, found = 0;
	if (n > WACZ_MEMBERS_MAX)
		rc = sv_error_set(SV_ECORRUPT, "'%s' has %lld members, over %d", path, (long long)n, WACZ_MEMBERS_MAX);
	/* Every name is checked before anything is read. */
	for (zip_int64_t i = 0; rc == 0 && i < n; i++) {
		const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
		if (!name || unsafe_member(name))
			rc = sv_error_set(SV_ECORRUPT, "'%s': member '%s' names a place outside the package", path,
					  name ? name : "(unnamed)");
	}
	for (zip_int64_t i = 0; rc == 0 && i < n; i++) {
		const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
		if (strncmp(name, "archive/", 8) ||
		    !(ends_with(name, ".warc") || ends_with(name, ".warc.gz") || ends_with(name, ".warc.zst")))
			continue;
		zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
		if (!f) {
			rc = sv_error_set(SV_ECORRUPT, "'%s': cannot read member '%s': %s", path, name, zip_strerror(z));
			break;
		}
		char *label = NULL;
		if (asprintf(&label, "%s/%s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, name) < 0)
			rc = sv_error_set(SV_EIO, "out of memory");
		else
			rc = sv_importer_warc(im, label, read_zip, f);
		free(label);
		zip_fclose(f);
		found++;
	}
	if (rc == 0 && !found)
		rc = sv_error_set(SV_EINVAL, "'%s' holds no WARC under archive/", path);
	zip_discard(z);
	return rc;
}

static int import_file(sv_importer *im, const char *path)
{
	if (ends_with(path, ".wacz"))
		return import_wacz(im, path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sv_error_errno(errno, "cannot read '%s'", path);
	const char *base = strrchr(path, '/');
	int rc = sv_importer_warc(im, base ? base + 1 : path, read_fd, &fd);
	close(fd);
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_importer *im = NULL;
	import_ctx c;
	int rc, nfiles = 0;
	memset(&c, 0, sizeof(c));
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		if (!ends_with(argv[i], ".warc") && !ends_with(argv[i], ".warc.gz") && !ends_with(argv[i], ".warc.zst") &&
		    !ends_with(argv[i], ".wacz"))
			return sv_cli_usage(cmd, "'%s': import reads .warc, .warc.gz, .warc.zst and .wacz files", argv[i]);
		if (access(argv[i], R_OK) != 0)
			return sv_cli_error(sv_error_errno(errno, "cannot read '%s'", argv[i]));
		nfiles++;
	}
	if (nfiles == 0)
		return sv_cli_usage(cmd, "import needs a WARC or WACZ file");
	if ((rc = sv_cli_archive(&a)))
		return rc;
	c.a = a;
	c.show = sv_cli_progress_enabled();
	sv_cli_meter_start(&c.m);
	sv_import_options o = {a->node, normalize, commit, on_refused, on_progress, &c};
	if ((rc = sv_archive_objects(a, &c.store)) == 0 && (rc = sv_objects_clean_temps(c.store, NULL)) == 0 &&
	    (rc = sv_archive_ledger(a, &c.ledger)) == 0 && (rc = sv_archive_index(a, &c.ix)) == 0)
		rc = sv_importer_new(&im, c.store, &o);
	for (int i = 1; rc == 0 && i < argc; i++)
		rc = import_file(im, argv[i]);
	/* What was read whole before a failure is kept. */
	int frc = im ? sv_importer_finish(im) : 0;
	if (rc == 0)
		rc = frc;
	if (c.show)
		sv_cli_progress_clear();
	if (im) {
		const sv_import_stats *s = sv_importer_stats(im);
		printf("imported %llu captures (%llu revisits) from %llu WARC records; %llu refused, %llu skipped "
		       "(requests, metadata, not http); %.1f MB of payloads, %.1f MB read, in %.1f s\n",
		       (unsigned long long)s->captures, (unsigned long long)s->revisits, (unsigned long long)s->records,
		       (unsigned long long)s->refused, (unsigned long long)s->skipped, (double)s->payload_bytes / 1e6,
		       (double)s->bytes_in / 1e6, sv_cli_meter_seconds(&c.m));
		if (rc == 0 && s->refused)
			rc = 1;
	}
	fflush(stdout);
	if (rc < 0)
		rc = sv_cli_error(rc);
	sv_importer_free(im);
	sv_index_close(c.ix);
	sv_ledger_free(c.ledger);
	sv_objects_free(c.store);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_import = {
	"import", run, "take in WARC and WACZ files other tools made",
	"usage: salvage import FILE.warc|FILE.warc.gz|FILE.warc.zst|FILE.wacz...\n"
	"\n"
	"Every response and resource record becomes a capture of kind 'imported',\n"
	"with the WARC's URI, date and record id: its payload goes into the object\n"
	"store and its record into the ledger ('salvage ls' lists it). A revisit\n"
	"becomes a capture of the payload it names. A record whose stated digests do\n"
	"not match its bytes is refused, by name, and nothing of it is stored; a file\n"
	"that ends inside a record stops there (what came before it is kept).\n"
	"Exit status 1 when a record was refused.\n",
};
