/*
 * crawler/cmd_put.c -- salvage put FILE...: store files by hand.
 *
 * Every file is checked before anything is stored, so a typo in the last name
 * writes nothing. Output is sha256sum's: "<sha256>  <name>".
 */
#include "cli.h"

#include "../common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

static int put_one(sv_objects *store, const char *name)
{
	int fd = STDIN_FILENO, rc;
	int64_t hint = -1;
	struct stat st;
	sv_digest d;
	char hex[SV_DIGEST_HEX_LEN + 1];

	if (strcmp(name, "-") && (fd = open(name, O_RDONLY | O_CLOEXEC)) < 0)
		return sv_error_set(SV_EINVAL, "cannot read '%s': %s", name, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		hint = st.st_size;
	put_progress p = {name, hint, {{0, 0}, {0, 0}}};
	int show = sv_cli_progress_enabled();
	sv_cli_meter_start(&p.meter);
	rc = sv_objects_put_fd(store, fd, hint, &d, NULL, show ? on_progress : NULL, &p);
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

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_objects *store = NULL;
	int first = 1, rc, stdin_seen = 0;

	if (first < argc && !strcmp(argv[first], "--"))
		first++;
	if (first >= argc)
		return sv_cli_usage(cmd, "put needs at least one file");
	for (int i = first; i < argc; i++) {
		if (argv[i][0] == '-' && argv[i][1] && first == 1)
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		if (!strcmp(argv[i], "-") && stdin_seen++)
			return sv_cli_usage(cmd, "standard input ('-') can be read once");
		if ((rc = check_file(argv[i])))
			return sv_cli_error(rc);
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if ((rc = sv_archive_objects(a, &store)) || (rc = sv_objects_clean_temps(store, NULL))) {
		rc = sv_cli_error(rc);
		goto done;
	}
	for (int i = first; i < argc && rc == 0; i++)
		rc = put_one(store, argv[i]);
	/* What was stored is made durable even when a later file failed. */
	int sync_rc = sv_objects_sync(store);
	if (rc == 0)
		rc = sync_rc;
	if (fflush(stdout) != 0 && rc == 0)
		rc = sv_error_errno(errno, "cannot write to standard output");
	if (rc)
		rc = sv_cli_error(rc);
done:
	sv_objects_free(store);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_put = {
	"put", run, "store files by hand, print their SHA-256",
	"usage: salvage put FILE...\n"
	"\n"
	"Stores each FILE ('-' for standard input) in the archive's object store,\n"
	"compressed with zstd and named by its SHA-256, and prints '<sha256>  <name>'\n"
	"lines as sha256sum does. A file already stored is not written again.\n",
};
