/*
 * crawler/cmd_verify.c -- salvage verify [--fast]: check every stored object.
 * Each problem is one line on stdout, "<path>: <problem>", paths relative to
 * the archive; a summary follows. Exit 1 when anything is damaged.
 */
#include "cli.h"

#include "../common/error.h"
#include "../storage/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *root;
	int progress;
	sv_cli_meter meter;
} verify_ctx;

static void on_damaged(void *arg, const char *path, const char *problem)
{
	verify_ctx *c = arg;
	size_t n = strlen(c->root);
	if (!strncmp(path, c->root, n) && path[n] == '/')
		path += n + 1;
	if (c->progress)
		sv_cli_progress_clear();
	printf("%s: %s\n", path, problem);
	fflush(stdout);
}

static void on_progress(void *arg, const sv_verify_stats *s)
{
	verify_ctx *c = arg;
	double t = sv_cli_meter_seconds(&c->meter);
	fprintf(stderr, "\r\033[Kverify: %llu objects, %.0f MB, %.0f MB/s, %llu damaged",
		(unsigned long long)s->objects, (double)s->bytes / 1e6,
		t > 0 ? (double)s->bytes / 1e6 / t : 0.0, (unsigned long long)s->damaged);
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_verify_options o = SV_VERIFY_OPTIONS_INIT;
	sv_verify_stats s;
	sv_archive *a = NULL;
	verify_ctx c = {0};
	char *objects = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fast"))
			o.fast = 1;
		else
			return sv_cli_usage(cmd, "unknown argument '%s'", argv[i]);
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (!(objects = sv_archive_path(a, "objects"))) {
		rc = sv_cli_error(sv_error_set(SV_EIO, "out of memory"));
		goto done;
	}
	c.root = a->root;
	c.progress = sv_cli_progress_enabled();
	sv_cli_meter_start(&c.meter);
	o.damaged = on_damaged;
	o.progress = c.progress ? on_progress : NULL;
	o.ctx = &c;
	rc = sv_verify_objects(objects, &o, &s);
	if (c.progress)
		sv_cli_progress_clear();
	if (rc) {
		rc = sv_cli_error(rc);
		goto done;
	}
	printf("%s %llu objects (%.1f MB) in %.1f s: %s\n", o.fast ? "checked (fast)" : "verified",
	       (unsigned long long)s.objects, (double)s.bytes / 1e6, sv_cli_meter_seconds(&c.meter),
	       s.damaged ? "DAMAGE FOUND" : "all sound");
	if (s.damaged)
		printf("%llu problem%s\n", (unsigned long long)s.damaged, s.damaged == 1 ? "" : "s");
	rc = s.damaged ? 1 : 0;
done:
	free(objects);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_verify = {
	"verify", run, "check every stored object",
	"usage: salvage verify [--fast]\n"
	"\n"
	"Decompresses and re-hashes every object on all CPUs and lists each damaged\n"
	"one (wrong hash, truncated or invalid zstd, misplaced file, leftover temp\n"
	"file) as '<path>: <problem>'. Exit status 1 if anything is damaged.\n"
	"\n"
	"  --fast   check presence, names and zstd frame structure (including the\n"
	"           recorded content size) without decompressing\n",
};
