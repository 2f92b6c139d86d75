/*
 * cli/cmd_verify.c -- salvage verify [--fast]: check every stored object,
 * then the ledger: every commit, tree and blob readable and hashing to its
 * id, and every capture record naming an object that is there. Each problem
 * is one line on stdout, "<path>: <problem>", paths relative to the archive;
 * a summary follows. Exit 1 when anything is damaged.
 */
#include "cli.h"

#include "../common/error.h"
#include "../storage/capture.h"
#include "../storage/ledger.h"
#include "../storage/verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

typedef struct {
	verify_ctx *vc;
	const sv_archive *a;
	char last_path[512];
	unsigned long line;
	unsigned long long records, named, problems;
} ledger_walk;

static void ledger_problem(void *arg, const char *what)
{
	ledger_walk *w = arg;
	if (w->vc->progress)
		sv_cli_progress_clear();
	printf("ledger.git: %s\n", what);
	w->problems++;
}

/* One capture record: well formed, and its object present. */
static int ledger_record(void *arg, const char *path, const char *line, size_t len)
{
	ledger_walk *w = arg;
	char what[1024], rel[128];
	struct stat st;
	if (strcmp(path, w->last_path)) {
		snprintf(w->last_path, sizeof(w->last_path), "%s", path);
		w->line = 0;
	}
	w->line++;
	w->records++;
	sv_capture_parsed r;
	if (sv_capture_parse(&r, line, len) != 0) {
		snprintf(what, sizeof(what), "%s:%lu: not a capture record", path, w->line);
		ledger_problem(w, what);
	} else if (r.c.sha256) {
		const char *url = r.c.url;
		char name[SV_OBJECTS_NAME_LEN + 1];
		sv_digest d;
		w->named++;
		sv_digest_from_hex(&d, r.c.sha256);
		sv_objects_name(&d, name);
		snprintf(rel, sizeof(rel), "objects/%s", name);
		char *full = sv_archive_path(w->a, rel);
		if (full && stat(full, &st) != 0) {
			snprintf(what, sizeof(what), "%s:%lu: the capture of %.600s names %s, which is missing", path,
				 w->line, url, rel);
			ledger_problem(w, what);
		}
		free(full);
	}
	sv_capture_parsed_clear(&r);
	return 0;
}

/* The ledger's half of verify: 0 when it ran (problems counted in *w). */
static int verify_ledger(const sv_archive *a, verify_ctx *c, ledger_walk *w)
{
	sv_ledger *l = NULL;
	long problems = 0;
	int rc;
	memset(w, 0, sizeof(*w));
	w->vc = c;
	w->a = a;
	if ((rc = sv_archive_ledger(a, &l)))
		return rc;
	if ((rc = sv_ledger_check(l, ledger_problem, w, &problems)) == 0 &&
	    (rc = sv_ledger_records(l, ledger_record, w)) != 0 && (problems > 0 || rc == SV_ECORRUPT)) {
		/* A damaged ledger the check named already: the records cannot all be read. */
		char what[1024];
		snprintf(what, sizeof(what), "cannot read every capture record: %s", sv_error_last());
		ledger_problem(w, what);
		rc = 0;
	}
	sv_ledger_free(l);
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_verify_options o = SV_VERIFY_OPTIONS_INIT;
	sv_verify_stats s;
	sv_archive *a = NULL;
	verify_ctx c = {0};
	char *objects = NULL;
	int rc;

	const char *remote = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--fast"))
			o.fast = 1;
		else if (!strcmp(argv[i], "--remote") && i + 1 < argc)
			remote = argv[++i];
		else
			return sv_cli_usage(cmd, "unknown argument '%s'", argv[i]);
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (remote) {
		/* The mirror's copy, as `mirror verify NAME` checks it (deep unless --fast). */
		rc = sv_cli_mirror_verify(a, remote, !o.fast, 0);
		sv_archive_free(a);
		return rc;
	}
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
	ledger_walk w;
	if ((rc = verify_ledger(a, &c, &w))) {
		rc = sv_cli_error(sv_error_prefix("ledger"));
		goto done;
	}
	printf("ledger: %llu capture records, %llu naming objects: %s\n", w.records, w.named,
	       w.problems ? "DAMAGE FOUND" : "all sound");
	unsigned long long total = s.damaged + w.problems;
	if (total)
		printf("%llu problem%s\n", total, total == 1 ? "" : "s");
	rc = total ? 1 : 0;
done:
	free(objects);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_verify = {
	"verify", run, "check every stored object and the ledger",
	"usage: salvage verify [--fast] [--remote NAME]\n"
	"\n"
	"Decompresses and re-hashes every object on all CPUs and lists each damaged\n"
	"one (wrong hash, truncated or invalid zstd, misplaced file, leftover temp\n"
	"file) as '<path>: <problem>'. Then walks the ledger: every commit, tree and\n"
	"blob must read back and hash to its id, history must not have been\n"
	"rewritten, and every capture record must name an object that is there.\n"
	"Exit status 1 if anything is damaged.\n"
	"\n"
	"  --fast          check presence, names and zstd frame structure (including\n"
	"                  the recorded content size) without decompressing\n"
	"  --remote NAME   check mirror NAME instead: every object the ledger names\n"
	"                  is there, downloaded and re-hashed (with --fast: present\n"
	"                  with the right size), and the mirror's ledger has ours\n",
};
