/*
 * cli/cmd_export.c -- salvage export warc OUT.warc.gz|OUT.warc.zst
 * [--seed ROW] [--since TIME] [--max-size SIZE]: the archive as WARC files,
 * each with its CDXJ index beside it (storage/export.h); salvage export wacz
 * OUT.wacz [--seed ROW] [--since TIME]: the same as one WACZ (storage/wacz.h);
 * salvage export bagit DIR [--seed ROW]: a BagIt bag of what was published
 * (storage/bagit.h).
 */
#include "cli.h"

#include "../common/error.h"

#include "../storage/bagit.h"
#include "../storage/export.h"
#include "../storage/wacz.h"
#include "../storage/warc.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	sv_cli_meter m;
	int show;
} progress_ctx;

static void on_progress(void *ctx, const sv_export_stats *s)
{
	progress_ctx *p = ctx;
	if (!p->show || !sv_cli_meter_due(&p->m))
		return;
	fprintf(stderr, "\r\033[Kexport: %llu captures, %llu records, %.1f MB written, file %u",
		(unsigned long long)s->captures, (unsigned long long)s->records, (double)s->bytes / 1e6, s->files);
	fflush(stderr);
}

/* "1000000", "64k", "512m", "1g" (powers of 1024): bytes, at least 1 MiB. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10, end++;
	else if (*end == 'm' || *end == 'M')
		shift = 20, end++;
	else if (*end == 'g' || *end == 'G')
		shift = 30, end++;
	if (*end || v > (~0ull >> shift) >> 1 || (v << shift) < (1u << 20))
		return -1;
	*out = v << shift;
	return 0;
}

/* A seed row number, 1 or more. */
static int parse_seed(const char *v, int64_t *out)
{
	char *end;
	long long s = strtoll(v, &end, 10);
	if (!isdigit((unsigned char)*v) || *end || s < 1)
		return -1;
	*out = s;
	return 0;
}

/* YYYY-MM-DD, or that with THH:MM[:SS[.mmm]]Z: compared as text with the records' ts. */
static int valid_since(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t n = strlen(s);
	if (n != 10 && n != 17 && n != 20 && n != 24)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char want = i + 1 == n && n > 10 ? 'Z' : shape[i];
		if (want == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != want)
			return 0;
	}
	return 1;
}

/* The warcinfo fields of one seed row: its sheet, line, URL and other columns. */
static int row_info(const sv_archive *a, int64_t seed, char ***info)
{
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, total;
	size_t n = 0, k = 0;
	int rc = sv_archive_queue(a, NULL, &q);
	if (rc == 0)
		rc = sv_queue_stats(q, &rows, &n, &total);
	const sv_queue_seed_stats *r = NULL;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (rows[i].seed == seed)
			r = &rows[i];
	if (rc == 0 && !r)
		rc = sv_error_set(SV_EINVAL, "no seed row %lld in this archive's queue (salvage status --json lists them)",
				  (long long)seed);
	json_t *meta = r && r->meta ? json_loads(r->meta, 0, NULL) : NULL;
	size_t cap = 8 + 2 * (json_is_object(meta) ? json_object_size(meta) : 0) + 1;
	char **f = rc == 0 ? calloc(cap, sizeof(*f)) : NULL;
	if (rc == 0 && !f)
		rc = sv_error_set(SV_EIO, "out of memory");
	if (rc == 0) {
		char num[64];
		snprintf(num, sizeof(num), "%lld", (long long)seed);
		f[k++] = strdup("salvage-seed");
		f[k++] = strdup(num);
		f[k++] = strdup("salvage-seed-url");
		f[k++] = strdup(r->url ? r->url : "");
		snprintf(num, sizeof(num), "%u", r->line);
		f[k++] = strdup("salvage-sheet");
		f[k++] = NULL;
		if (asprintf(&f[k - 1], "%s.csv line %s", r->sheet ? r->sheet : "?", num) < 0)
			f[k - 1] = NULL;
		const char *key;
		json_t *v;
		json_object_foreach(meta, key, v) {
			if (!json_is_string(v))
				continue;
			/* a column's name as a field name: only the characters a field name may hold */
			char *name = NULL;
			if (asprintf(&name, "salvage-row-%s", key) < 0)
				break;
			for (char *c = name; *c; c++)
				if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.')
					*c = '_';
			f[k++] = name;
			f[k++] = strdup(json_string_value(v));
		}
		for (size_t i = 0; i < k; i++)
			if (!f[i])
				rc = sv_error_set(SV_EIO, "out of memory");
	}
	json_decref(meta);
	sv_queue_stats_free(rows, n);
	sv_queue_close(q);
	*info = f;
	return rc;
}

static void free_info(char **info)
{
	for (char **f = info; f && *f; f++)
		free(*f);
	free(info);
}

/* What every export reads: the archive, its index and store, the seed row's fields, its tmp/ folder. */
typedef struct {
	sv_archive *a;
	sv_index *ix;
	sv_objects *store;
	char **info; /* the seed row's fields, with --seed */
	char *tmp;
} export_env;

/* Opens what an export reads; the exit status when the archive cannot be found, else 0 or an error code. */
static int env_open(export_env *e, int64_t seed, int *exit_status)
{
	int rc;
	memset(e, 0, sizeof(*e));
	*exit_status = 0;
	if ((rc = sv_cli_archive(&e->a))) {
		*exit_status = rc;
		return 0;
	}
	if (seed >= 0 && (rc = row_info(e->a, seed, &e->info)))
		return rc;
	if (!(e->tmp = sv_archive_path(e->a, "tmp")))
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = sv_archive_index(e->a, &e->ix)))
		return rc;
	return sv_archive_objects(e->a, &e->store);
}

static void env_close(export_env *e)
{
	free_info(e->info);
	free(e->tmp);
	sv_objects_free(e->store);
	sv_index_close(e->ix);
	sv_archive_free(e->a);
}

typedef struct {
	int wacz;             /* export wacz, else warc */
	const char *out;
	int64_t seed;         /* -1: all */
	const char *since;
	uint64_t max_size;    /* warc only */
} export_args;

static int parse_args(const sv_command *cmd, int argc, char **argv, export_args *x)
{
	const char *fmt = x->wacz ? "wacz" : "warc";
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") || !strcmp(argv[i], "--since") ||
		    (!x->wacz && !strcmp(argv[i], "--max-size"))) {
			if (i + 1 >= argc)
				return sv_cli_usage(cmd, "%s needs a value", argv[i]);
			const char *v = argv[++i];
			if (!strcmp(argv[i - 1], "--seed")) {
				if (parse_seed(v, &x->seed) != 0)
					return sv_cli_usage(cmd, "--seed '%s' is not a seed row number", v);
			} else if (!strcmp(argv[i - 1], "--since")) {
				if (!valid_since(v))
					return sv_cli_usage(cmd, "--since '%s' is not a UTC time like 2026-12-05 or "
							    "2026-12-05T08:00:00Z", v);
				x->since = v;
			} else if (parse_size(v, &x->max_size) != 0) {
				return sv_cli_usage(cmd, "--max-size '%s' is not a size of at least 1m (like 500m or 1g)", v);
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		} else if (x->out) {
			return sv_cli_usage(cmd, "export %s takes one output file", fmt);
		} else {
			x->out = argv[i];
		}
	}
	sv_warc_codec codec;
	size_t n = x->out ? strlen(x->out) : 0;
	if (!x->out)
		return sv_cli_usage(cmd, "export %s needs an output file (%s)", fmt,
				    x->wacz ? "OUT.wacz" : "OUT.warc.gz or OUT.warc.zst");
	if (x->wacz && (n < 6 || strcmp(x->out + n - 5, ".wacz")))
		return sv_cli_usage(cmd, "'%s' does not end in .wacz", x->out);
	if (!x->wacz && sv_warc_codec_of(x->out, &codec) != 0)
		return sv_cli_usage(cmd, "%s", sv_error_last());
	return 0;
}

static void on_wacz_progress(void *ctx, const sv_wacz_stats *s)
{
	progress_ctx *p = ctx;
	if (!p->show || !sv_cli_meter_due(&p->m))
		return;
	if (s->zipped > 0)
		fprintf(stderr, "\r\033[Kexport: zipping, %.0f%%", 100 * s->zipped);
	else
		fprintf(stderr, "\r\033[Kexport: %llu captures, %llu pages, %.1f MB of WARC written",
			(unsigned long long)s->warc.captures, (unsigned long long)s->pages, (double)s->warc.bytes / 1e6);
	fflush(stderr);
}

/* The title of a WACZ: the archive's folder, and the row exported. */
static char *wacz_title(const sv_archive *a, int64_t seed)
{
	const char *base = strrchr(a->root, '/');
	char *t = NULL;
	base = base && base[1] ? base + 1 : a->root;
	if (seed >= 0 ? asprintf(&t, "salvage archive %s, seed row %lld", base, (long long)seed) < 0
		      : asprintf(&t, "salvage archive %s", base) < 0)
		return NULL;
	return t;
}

static int export(const sv_command *cmd, int argc, char **argv, int wacz)
{
	export_args x = {.wacz = wacz, .seed = -1};
	int rc = parse_args(cmd, argc, argv, &x);
	if (rc)
		return rc;

	export_env e;
	char *title = NULL;
	sv_export_stats st;
	sv_wacz_stats wst;
	progress_ctx p = {.show = sv_cli_progress_enabled()};
	int status;
	rc = env_open(&e, x.seed, &status);
	if (status) {
		env_close(&e);
		return status;
	}
	memset(&st, 0, sizeof(st));
	memset(&wst, 0, sizeof(wst));
	if (rc == 0 && wacz && !(title = wacz_title(e.a, x.seed)))
		rc = sv_error_set(SV_EIO, "out of memory");
	sv_archive *a = e.a;
	char **info = e.info;
	if (rc == 0) {
		sv_cli_meter_start(&p.m);
		if (wacz) {
			sv_export_wacz_options o = {
				.path = x.out, .seed = x.seed, .since = x.since, .title = title,
				.software = "salvage/" SV_VERSION, .node = a->node, .info = (const char *const *)info,
				.tmp_dir = e.tmp, .progress = on_wacz_progress, .ctx = &p,
			};
			rc = sv_export_wacz(e.ix, e.store, &o, &wst);
			st = wst.warc;
		} else {
			sv_export_warc_options o = {
				.path = x.out, .seed = x.seed, .since = x.since, .max_size = x.max_size,
				.software = "salvage/" SV_VERSION, .node = a->node, .info = (const char *const *)info,
				.tmp_dir = e.tmp, .progress = on_progress, .ctx = &p,
			};
			rc = sv_export_warc(e.ix, e.store, &o, &st);
		}
		if (p.show)
			sv_cli_progress_clear();
	}
	if (rc == 0 && wacz)
		printf("exported %llu captures (%llu WARC records, %llu pages) as %s: %u files, %.1f MB, in %.1f s\n",
		       (unsigned long long)st.captures, (unsigned long long)st.records, (unsigned long long)wst.pages,
		       x.out, wst.members, (double)wst.bytes / 1e6, sv_cli_meter_seconds(&p.m));
	else if (rc == 0)
		printf("exported %llu captures as %llu WARC records (%llu revisits, %llu without a payload) "
		       "in %u file%s, %.1f MB; %.1f MB of payloads, in %.1f s\n",
		       (unsigned long long)st.captures, (unsigned long long)st.records,
		       (unsigned long long)st.revisits, (unsigned long long)st.failures, st.files,
		       st.files == 1 ? "" : "s", (double)st.bytes / 1e6, (double)st.payload_bytes / 1e6,
		       sv_cli_meter_seconds(&p.m));
	else
		rc = sv_cli_error(rc);
	free(title);
	env_close(&e);
	return rc;
}

static void on_bag_progress(void *ctx, const sv_bagit_stats *s)
{
	progress_ctx *p = ctx;
	if (!p->show || !sv_cli_meter_due(&p->m))
		return;
	fprintf(stderr, "\r\033[Kexport bagit: %llu files, %.1f MB", (unsigned long long)s->files,
		(double)s->bytes / 1e6);
	fflush(stderr);
}

static int export_bagit(const sv_command *cmd, int argc, char **argv)
{
	sv_bagit_options o;
	memset(&o, 0, sizeof(o));
	o.seed = -1;
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--seed")) {
			if (i + 1 >= argc)
				return sv_cli_usage(cmd, "--seed needs a value");
			if (parse_seed(argv[++i], &o.seed) != 0)
				return sv_cli_usage(cmd, "--seed '%s' is not a seed row number", argv[i]);
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return sv_cli_usage(cmd, "unknown option '%s' (export bagit takes --seed)", argv[i]);
		} else if (o.dir) {
			return sv_cli_usage(cmd, "export bagit takes one folder");
		} else {
			o.dir = argv[i];
		}
	}
	if (!o.dir)
		return sv_cli_usage(cmd, "export bagit needs a folder for the bag (new or empty)");

	export_env e;
	sv_bagit_stats st;
	progress_ctx p = {.show = sv_cli_progress_enabled()};
	int status, rc = env_open(&e, o.seed, &status);
	memset(&st, 0, sizeof(st));
	if (status) {
		env_close(&e);
		return status;
	}
	if (rc == 0) {
		o.software = "salvage/" SV_VERSION;
		o.node = e.a->node;
		o.source_org = e.a->bag_source_org;
		o.info = (const char *const *)e.info;
		o.tmp_dir = e.tmp;
		o.progress = on_bag_progress;
		o.ctx = &p;
		sv_cli_meter_start(&p.m);
		rc = sv_export_bagit(e.ix, e.store, &o, &st);
		if (p.show)
			sv_cli_progress_clear();
	}
	if (rc == 0)
		printf("bagged %llu files, %llu bytes (%llu decoded, %llu kept as stored) in %s, in %.1f s\n",
		       (unsigned long long)st.files, (unsigned long long)st.bytes, (unsigned long long)st.decoded,
		       (unsigned long long)st.kept, o.dir, sv_cli_meter_seconds(&p.m));
	else
		rc = sv_cli_error(rc);
	env_close(&e);
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	if (argc < 2)
		return sv_cli_usage(cmd, "export needs a format: warc, wacz or bagit");
	if (!strcmp(argv[1], "warc"))
		return export(cmd, argc, argv, 0);
	if (!strcmp(argv[1], "wacz"))
		return export(cmd, argc, argv, 1);
	if (!strcmp(argv[1], "bagit"))
		return export_bagit(cmd, argc, argv);
	return sv_cli_usage(cmd, "unknown export format '%s' (warc, wacz, bagit)", argv[1]);
}

const sv_command sv_cmd_export = {
	"export", run, "hand the archive to other tools: WARC files with their CDXJ index, a WACZ, a BagIt bag",
	"usage: salvage export warc OUT.warc.gz|OUT.warc.zst [--seed ROW] [--since TIME] [--max-size SIZE]\n"
	"       salvage export wacz OUT.wacz [--seed ROW] [--since TIME]\n"
	"       salvage export bagit DIR [--seed ROW]\n"
	"\n"
	"Writes the archive's captures as WARC 1.1: a warcinfo record, then for each\n"
	"capture a request and a response record (a revisit record when the payload\n"
	"was written already under another URL or time; a resource record for a file\n"
	"put by hand; a metadata record for a URL that could not be rescued). Each\n"
	"record is its own gzip member (.warc.gz) or zstd frame (.warc.zst). Beside each\n"
	"WARC file, OUT.cdxj indexes it (SURT key, timestamp, JSON), as pywb and warcio do.\n"
	"\n"
	"export wacz packs the same WARC (archive/data.warc.gz), its index\n"
	"(indexes/index.cdxj), the list of HTML pages (pages/pages.jsonl) and a\n"
	"datapackage.json with every file's sha256 into one WACZ 1.1.1 file, which\n"
	"ReplayWeb.page opens.\n"
	"\n"
	"  --seed ROW       only the captures of seed row ROW (its number in 'status --json');\n"
	"                   the row's sheet, line, URL and columns go into the warcinfo record\n"
	"  --since TIME     only captures at or after TIME (UTC: 2026-12-05 or 2026-12-05T08:00:00Z)\n"
	"  --max-size SIZE  start a new file (OUT-00001.warc.gz, ...) once one passes SIZE\n"
	"                   (default 1g; k, m, g suffixes; warc only)\n"
	"\n"
	"export bagit writes a BagIt 1.0 bag into DIR (new or empty): under data/<host>/<path>\n"
	"the latest whole 2xx payload of each URL, its Content-Encoding undone, with SHA-256\n"
	"and SHA-512 manifests; salvage/ holds the capture records, a table of where each\n"
	"file came from (files.tsv) and the HTTP headers as a WARC (headers.warc.gz).\n",
};
