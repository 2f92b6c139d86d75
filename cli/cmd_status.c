/*
 * cli/cmd_status.c -- salvage status [--json]: progress per seed row.
 */
#include "cli.h"

#include "../common/error.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

static void human_bytes(int64_t b, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	double v = (double)b;
	int u = 0;
	while (v >= 1000 && u < 5) {
		v /= 1000;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* The row's other columns, "key: value · key: value", from its meta JSON. */
static void print_meta(const char *meta)
{
	json_t *o = meta ? json_loads(meta, 0, NULL) : NULL;
	const char *key;
	json_t *v;
	int first = 1;
	if (!json_is_object(o) || json_object_size(o) == 0) {
		json_decref(o);
		return;
	}
	fputs("      ", stdout);
	json_object_foreach(o, key, v)
	{
		/* A cell typed with Alt+Enter must not break the table. */
		printf("%s%s: ", first ? "" : " · ", key);
		for (const char *c = json_string_value(v) ? json_string_value(v) : ""; *c; c++)
			putchar(*c == '\r' || *c == '\n' || *c == '\t' ? ' ' : *c);
		first = 0;
	}
	putchar('\n');
	json_decref(o);
}

static json_t *row_json(const sv_queue_seed_stats *r)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queued", (json_int_t)r->queued,
			      "leased", (json_int_t)r->leased, "done", (json_int_t)r->done, "failed",
			      (json_int_t)r->failed, "skipped", (json_int_t)r->skipped, "paused",
			      (json_int_t)r->paused, "bytes", (json_int_t)r->bytes, "datasets",
			      (json_int_t)r->datasets, "rescued", (json_int_t)r->rescued);
	if (o && r->seed) {
		json_t *meta = r->meta ? json_loads(r->meta, 0, NULL) : NULL;
		json_object_set_new(o, "sheet", json_string(r->sheet));
		json_object_set_new(o, "line", json_integer(r->line));
		json_object_set_new(o, "url", json_string(r->url));
		json_object_set_new(o, "active", json_boolean(r->active));
		json_object_set_new(o, "landing", r->landing ? json_string(r->landing) : json_null());
		json_object_set_new(o, "meta", meta ? meta : json_object());
	}
	return o;
}

static int print_json(const sv_queue_seed_stats *rows, size_t n, const sv_queue_seed_stats *total)
{
	json_t *arr = json_array(), *doc;
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, row_json(&rows[i]));
	doc = json_pack("{s:o, s:o}", "rows", arr, "total", row_json(total));
	if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
		json_decref(doc);
		return sv_error_set(SV_EIO, "cannot write JSON");
	}
	putchar('\n');
	json_decref(doc);
	return 0;
}

static void print_row(const char *label, const sv_queue_seed_stats *r, const char *url)
{
	char bytes[32];
	human_bytes(r->bytes, bytes, sizeof(bytes));
	printf("%-18s %8lld %7lld %8lld %7lld %10s %9lld  %s\n", label, (long long)r->queued,
	       (long long)r->leased, (long long)r->done, (long long)r->failed, bytes, (long long)r->datasets,
	       url);
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, total;
	const char *queue_url = NULL;
	size_t n = 0;
	int json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			queue_url = argv[++i];
		else
			return sv_cli_usage(cmd, "unknown argument '%s'", argv[i]);
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if ((rc = sv_archive_queue(a, queue_url, &q)) || (rc = sv_queue_stats(q, &rows, &n, &total)))
		goto done;
	if (json) {
		rc = print_json(rows, n, &total);
		goto done;
	}
	if (n == 0) {
		printf("no seed rows yet: load a sheet with 'salvage seed SHEET.csv'\n");
		goto done;
	}
	printf("%-18s %8s %7s %8s %7s %10s %9s  %s\n", "ROW", "QUEUED", "LEASED", "DONE", "FAILED", "BYTES",
	       "DATASETS", "URL");
	for (size_t i = 0; i < n; i++) {
		char label[64];
		snprintf(label, sizeof(label), "%.12s:%u%s", rows[i].sheet, rows[i].line,
			 rows[i].active ? "" : " (off)");
		print_row(label, &rows[i], rows[i].url);
		if (rows[i].landing)
			printf("      lands on %s (the seed redirects there; the row's scope follows)\n", rows[i].landing);
		print_meta(rows[i].meta);
	}
	print_row("TOTAL", &total, "");
	if (total.paused)
		printf("%lld URL%s paused: their rows were taken out of the sheet\n", (long long)total.paused,
		       total.paused == 1 ? "" : "s");
done:
	if (rc)
		rc = sv_cli_error(rc);
	sv_queue_stats_free(rows, n);
	sv_queue_close(q);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_status = {
	"status", run, "progress per seed row",
	"usage: salvage status [--json] [--queue URL]\n"
	"\n"
	"One line per seed row: URLs queued, leased (being fetched), done and failed,\n"
	"payload bytes fetched and datasets found, with where the seed lands when it\n"
	"redirects and the row's other columns (agency, title, notes...) beneath;\n"
	"then the totals. --json gives the same for scripts, with each row's\n"
	"\"landing\" and \"rescued\" (URLs done with a 2xx answer, robots.txt and\n"
	"sitemaps aside): {\"rows\": [...], \"total\": {...}}.\n",
};
