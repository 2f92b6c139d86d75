/*
 * cli/cmd_put.c -- salvage put FILE... [--url URL [--note TEXT]]: store
 * files by hand.
 *
 * Every file is checked before anything is stored, so a typo in the last name
 * writes nothing. Output is sha256sum's: "<sha256>  <name>". With --url, the
 * file is a manual capture of that URL (data harvested by hand, kind
 * "manual"): its record goes to the ledger once the object is synced, then to
 * the queue database so `salvage ls` lists it.
 */
#include "cli.h"

#include "../common/clock.h"
#include "../common/error.h"
#include "../queue/url.h"
#include "../storage/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int check_file(const char *name)
{
	struct stat st;
	if (!strcmp(name, "-"))
		return 0;
	if (stat(name, &st) != 0)
		return sv_error_set(SV_EINVAL, "cannot read '%s': %s", name, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return sv_error_set(SV_EINVAL, "'%s' is a folder", name);
	if (access(name, R_OK) != 0)
		return sv_error_set(SV_EINVAL, "cannot read '%s': %s", name, strerror(errno));
	return 0;
}

typedef struct {
	const char *name;
	int64_t total; /* -1 when unknown */
	sv_cli_meter meter;
} put_progress;

static void on_progress(void *arg, uint64_t done)
{
	put_progress *p = arg;
	if (!sv_cli_meter_due(&p->meter))
		return;
	double mb = (double)done / 1e6, t = sv_cli_meter_seconds(&p->meter);
	if (p->total > 0)
		fprintf(stderr, "\r\033[Kput %s: %.0f of %.0f MB (%.0f%%), %.0f MB/s", p->name, mb,
			(double)p->total / 1e6, 100.0 * (double)done / (double)p->total, mb / t);
	else
		fprintf(stderr, "\r\033[Kput %s: %.0f MB, %.0f MB/s", p->name, mb, mb / t);
}

/* What one stored file came to, for its capture record. */
typedef struct {
	char hex[SV_DIGEST_HEX_LEN + 1];
	sv_objects_commit_info info;
} put_result;

static int put_one(sv_objects *store, const char *name, put_result *res)
{
	int fd = STDIN_FILENO, rc;
	int64_t hint = -1;
	struct stat st;
	sv_digest d;
	char *hex = res->hex;

	if (strcmp(name, "-") && (fd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
		return sv_error_set(SV_EINVAL, "cannot read '%s': %s", name, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		hint = st.st_size;
	put_progress p = {name, hint, {{0, 0}, {0, 0}}};
	int show = sv_cli_progress_enabled();
	sv_cli_meter_start(&p.meter);
	rc = sv_objects_put_fd(store, fd, hint, &d, &res->info, show ? on_progress : NULL, &p);
	if (show)
		sv_cli_progress_clear();
	if (fd != STDIN_FILENO)
		close(fd);
	if (rc) {
		if (sv_error_code() == SV_EINVAL && hint >= 0)
			return sv_error_set(SV_EINVAL, "'%s' changed while it was read", name);
		return sv_error_prefix("cannot store '%s'", name);
	}
	sv_digest_to_hex(&d, hex);
	printf("%s  %s\n", hex, name);
	return 0;
}

/* The capture record of a manual put (DESIGN.md "Ledger"). */
static char *manual_record(const char *url, const char *note, const char *file, const put_result *r,
			   const char *machine, char ts[SV_RFC3339_LEN])
{
	sv_capture c = SV_CAPTURE_INIT;
	char *s = NULL, id[SV_CAPTURE_ID_LEN];
	if (sv_capture_new_id(id))
		return NULL;
	c.id = id;
	sv_rfc3339_now(ts);
	c.url = url;
	c.ts = ts;
	c.length = (int64_t)r->info.length;
	c.sha256 = r->hex;
	c.stored = (int64_t)r->info.stored;
	c.kind = SV_KIND_MANUAL;
	c.node = machine;
	/* The file's own name, not where it was on this machine. */
	const char *base = strrchr(file, '/');
	c.file = strcmp(file, "-") ? (base ? base + 1 : file) : "(standard input)";
	c.note = note;
	return sv_capture_to_json(&c, &s) == 0 ? s : NULL;
}

/* Ledger first, then the capture index: the order a crawl's checkpoint keeps. */
static int record_manual(const sv_archive *a, const char *url, const char *note, const char *file,
			 const put_result *r)
{
	char machine[256], ts[SV_RFC3339_LEN];
	sv_ledger *ledger = NULL;
	sv_index *ix = NULL;
	unsigned seq = 0;
	int rc;
	sv_archive_machine(machine, sizeof(machine));
	char *rec = manual_record(url, note, file, r, machine, ts);
	if (!rec)
		return sv_error_set(SV_EIO, "out of memory");
	const char *recs[] = {rec};
	if ((rc = sv_archive_ledger(a, &ledger)) == 0 && (rc = sv_archive_index(a, &ix)) == 0)
		rc = sv_archive_commit_records(ledger, ix, "main", machine, &seq, recs, 1, "salvage put");
	sv_index_close(ix);
	sv_ledger_free(ledger);
	free(rec);
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_objects *store = NULL;
	const char *url_arg = NULL, *note = NULL;
	char *url = NULL, *files[256];
	int nfiles = 0, rc, stdin_seen = 0, options = 1;
	put_result res;

	for (int i = 1; i < argc; i++) {
		if (options && !strcmp(argv[i], "--")) {
			options = 0;
		} else if (options && (!strcmp(argv[i], "--url") || !strcmp(argv[i], "--note"))) {
			if (i + 1 >= argc)
				return sv_cli_usage(cmd, "%s needs a value", argv[i]);
			*(argv[i][2] == 'u' ? &url_arg : &note) = argv[i + 1];
			i++;
		} else if (options && argv[i][0] == '-' && argv[i][1]) {
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		} else if (nfiles == (int)(sizeof(files) / sizeof(files[0]))) {
			return sv_cli_usage(cmd, "too many files (at most 256 at once)");
		} else {
			files[nfiles++] = argv[i];
		}
	}
	if (nfiles == 0)
		return sv_cli_usage(cmd, "put needs at least one file");
	if (note && !url_arg)
		return sv_cli_usage(cmd, "--note goes with --url");
	if (url_arg && nfiles != 1)
		return sv_cli_usage(cmd, "--url names the source of one file; give one FILE");
	if (url_arg) {
		if (sv_url_normalize(&url, url_arg, NULL) != 0)
			return sv_cli_error(sv_error_prefix("--url '%s'", url_arg));
	}
	for (int i = 0; i < nfiles; i++) {
		if (!strcmp(files[i], "-") && stdin_seen++) {
			free(url);
			return sv_cli_usage(cmd, "standard input ('-') can be read once");
		}
		if ((rc = check_file(files[i]))) {
			free(url);
			return sv_cli_error(rc);
		}
	}
	if ((rc = sv_cli_archive(&a))) {
		free(url);
		return rc;
	}
	if ((rc = sv_archive_objects(a, &store)) || (rc = sv_objects_clean_temps(store, NULL))) {
		rc = sv_cli_error(rc);
		goto done;
	}
	rc = 0;
	for (int i = 0; i < nfiles && rc == 0; i++)
		rc = put_one(store, files[i], &res);
	/* What was stored is made durable even when a later file failed. */
	int sync_rc = sv_objects_sync(store);
	if (rc == 0)
		rc = sync_rc;
	if (rc == 0 && url)
		rc = record_manual(a, url, note, files[0], &res);
	if (fflush(stdout) != 0 && rc == 0)
		rc = sv_error_errno(errno, "cannot write to standard output");
	if (rc)
		rc = sv_cli_error(rc);
done:
	free(url);
	sv_objects_free(store);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_put = {
	"put", run, "store files by hand, print their SHA-256",
	"usage: salvage put FILE...\n"
	"       salvage put FILE --url URL [--note TEXT]\n"
	"\n"
	"Stores each FILE ('-' for standard input) in the archive's object store,\n"
	"compressed with zstd and named by its SHA-256, and prints '<sha256>  <name>'\n"
	"lines as sha256sum does. A file already stored is not written again.\n"
	"\n"
	"With --url, FILE is a manual capture of URL (data harvested by hand, for\n"
	"pages a crawler cannot reach): a capture record of kind 'manual', with the\n"
	"note if given, goes to the ledger and shows in 'salvage ls'.\n",
};
