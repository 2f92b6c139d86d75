/*
 * cli/cmd_status.c -- salvage status [--json]: progress per seed row, and
 * per node of a shared queue (what each worker did, and when it was last
 * heard from).
 */
#include "cli.h"

#include "../common/error.h"
#include "../crawler/catalog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A catalog row's datasets by state (sv_dataset_state), per seed id. */
typedef struct {
	int64_t seed;
	int64_t n[5];
} dataset_counts;

typedef struct {
	dataset_counts *rows;
	size_t n, cap;
} datasets_seen;

static int count_dataset(void *ctx, const sv_queue_dataset_row *d)
{
	datasets_seen *s = ctx;
	if (!s->n || s->rows[s->n - 1].seed != d->seed) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 8;
			dataset_counts *p = realloc(s->rows, cap * sizeof(*p));
			if (!p)
				return sv_error_set(SV_EIO, "out of memory");
			s->rows = p;
			s->cap = cap;
		}
		s->rows[s->n++] = (dataset_counts){d->seed, {0}};
	}
	s->rows[s->n - 1].n[sv_catalog_dataset_state(d, NULL, NULL)]++;
	return 0;
}

static const dataset_counts *counts_of(const datasets_seen *s, int64_t seed)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->rows[i].seed == seed)
			return &s->rows[i];
	return NULL;
}

static json_t *catalog_json(const dataset_counts *c)
{
	int64_t listed = c->n[SV_DATASET_PENDING] + c->n[SV_DATASET_RESCUED] + c->n[SV_DATASET_PARTLY] +
			 c->n[SV_DATASET_NEEDS_HANDS];
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "listed", (json_int_t)listed, "rescued",
			 (json_int_t)c->n[SV_DATASET_RESCUED], "partly", (json_int_t)c->n[SV_DATASET_PARTLY],
			 "needs_hands", (json_int_t)c->n[SV_DATASET_NEEDS_HANDS], "pending",
			 (json_int_t)c->n[SV_DATASET_PENDING], "vanished", (json_int_t)c->n[SV_DATASET_VANISHED]);
}

static void print_catalog(const dataset_counts *c)
{
	json_t *j = catalog_json(c);
	printf("      datasets: %lld listed: %lld rescued, %lld partly, %lld need hands, %lld pending; %lld vanished%s\n",
	       (long long)json_integer_value(json_object_get(j, "listed")), (long long)c->n[SV_DATASET_RESCUED],
	       (long long)c->n[SV_DATASET_PARTLY], (long long)c->n[SV_DATASET_NEEDS_HANDS],
	       (long long)c->n[SV_DATASET_PENDING], (long long)c->n[SV_DATASET_VANISHED],
	       c->n[SV_DATASET_PARTLY] + c->n[SV_DATASET_NEEDS_HANDS] ? " (salvage report --needs-hands)" : "");
	json_decref(j);
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
		json_object_set_new(o, "seed", json_integer((json_int_t)r->seed)); /* the row's number: export --seed */
		json_object_set_new(o, "sheet", json_string(r->sheet));
		json_object_set_new(o, "line", json_integer(r->line));
		json_object_set_new(o, "url", json_string(r->url));
		json_object_set_new(o, "active", json_boolean(r->active));
		json_object_set_new(o, "landing", r->landing ? json_string(r->landing) : json_null());
		json_object_set_new(o, "meta", meta ? meta : json_object());
	}
	return o;
}

/* Done in the last minute, per second. */
static double rate(const sv_queue_node_stats *r)
{
	return (double)r->done_last_minute / 60.0;
}

static json_t *node_json(const sv_queue_node_stats *r, int64_t now)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:o}", "node", r->node, "done", (json_int_t)r->done,
			 "leased", (json_int_t)r->leased, "bytes", (json_int_t)r->bytes, "done_last_minute",
			 (json_int_t)r->done_last_minute, "urls_per_s", rate(r), "last_seen_ms",
			 (json_int_t)r->last_seen_ms, "last_seen_age_s",
			 r->last_seen_ms ? json_real((double)(now - r->last_seen_ms) / 1000.0) : json_null());
}

static int print_json(const sv_queue_seed_stats *rows, size_t n, const sv_queue_seed_stats *total,
		      const sv_queue_node_stats *nodes, size_t nn, int64_t now, const datasets_seen *ds)
{
	json_t *arr = json_array(), *narr = json_array(), *doc;
	for (size_t i = 0; i < n; i++) {
		json_t *row = row_json(&rows[i]);
		const dataset_counts *c = counts_of(ds, rows[i].seed);
		if (row && c)
			json_object_set_new(row, "catalog", catalog_json(c)); /* a catalog row's datasets */
		json_array_append_new(arr, row);
	}
	for (size_t i = 0; i < nn; i++)
		json_array_append_new(narr, node_json(&nodes[i], now));
	doc = json_pack("{s:o, s:o, s:o}", "rows", arr, "total", row_json(total), "nodes", narr);
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

/* The table of nodes (workers sharing the queue), if any. */
static void print_nodes(const sv_queue_node_stats *nodes, size_t nn, int64_t now)
{
	if (nn == 0)
		return;
	printf("\n%-24s %8s %9s %10s %7s  %s\n", "NODE", "DONE", "IN FLIGHT", "BYTES", "URLS/S", "LAST HEARTBEAT");
	for (size_t i = 0; i < nn; i++) {
		char bytes[32], seen[48];
		human_bytes(nodes[i].bytes, bytes, sizeof(bytes));
		if (nodes[i].last_seen_ms)
			snprintf(seen, sizeof(seen), "%.0f s ago", (double)(now - nodes[i].last_seen_ms) / 1000.0);
		else
			snprintf(seen, sizeof(seen), "never");
		printf("%-24s %8lld %9lld %10s %7.2f  %s\n", nodes[i].node, (long long)nodes[i].done,
		       (long long)nodes[i].leased, bytes, rate(&nodes[i]), seen);
	}
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, total;
	const char *queue_url = NULL;
	sv_queue_node_stats *nodes = NULL;
	size_t n = 0, nn = 0;
	datasets_seen ds = {0};
	int64_t now;
	int json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			queue_url = argv[++i];
		else
			return sv_cli_usage(cmd, "unknown argument '%s'", argv[i]);
	}
	if ((rc = sv_cli_read_queue(queue_url, &a, &q)) || (rc = sv_queue_stats(q, &rows, &n, &total)) ||
	    (rc = sv_queue_nodes(q, &nodes, &nn)) || (rc = sv_queue_datasets(q, 0, count_dataset, &ds)))
		goto done;
	now = sv_queue_now_ms(q);
	if (json) {
		rc = print_json(rows, n, &total, nodes, nn, now, &ds);
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
		if (counts_of(&ds, rows[i].seed))
			print_catalog(counts_of(&ds, rows[i].seed));
		print_meta(rows[i].meta);
	}
	print_row("TOTAL", &total, "");
	if (total.paused)
		printf("%lld URL%s paused: their rows were taken out of the sheet\n", (long long)total.paused,
		       total.paused == 1 ? "" : "s");
	print_nodes(nodes, nn, now);
done:
	if (rc)
		rc = sv_cli_error(rc);
	sv_queue_node_stats_free(nodes, nn);
	free(ds.rows);
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
	"sitemaps aside): {\"rows\": [...], \"total\": {...}, \"nodes\": [...]}.\n"
	"A catalog row (kind dcat, ckan...) also tells its datasets: listed, rescued,\n"
	"partly rescued, needing hands (salvage report --needs-hands), pending and\n"
	"vanished from the catalog; in --json, \"catalog\": {\"listed\", \"rescued\",\n"
	"\"partly\", \"needs_hands\", \"pending\", \"vanished\"}.\n"
	"\n"
	"A queue shared by workers ('salvage worker') also gets one line per node:\n"
	"URLs done, in flight, payload bytes, URLs/s over the last minute and the\n"
	"age of its last heartbeat (claim or lease renewal); in --json, \"nodes\":\n"
	"[{\"node\", \"done\", \"leased\", \"bytes\", \"done_last_minute\", \"urls_per_s\",\n"
	"\"last_seen_ms\", \"last_seen_age_s\"}]. With --queue, status runs from any\n"
	"folder, in an archive or not.\n",
};
