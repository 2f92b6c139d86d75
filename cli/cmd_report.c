/*
 * cli/cmd_report.c -- salvage report --needs-hands [ROW]: what a catalog
 * row's rescue could not do on its own, as a CSV the volunteers paste into
 * their spreadsheet and work through (`salvage put FILE --url URL`).
 *
 * One line per URL to look at (its problems joined), so that the file is
 * itself a seed sheet: its `url` column holds http(s) URLs, once each, and
 * every other column is metadata to the sheet reader.
 */
#include "cli.h"

#include "../common/error.h"
#include "../crawler/catalog.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One field, quoted when it must be (RFC 4180); line breaks inside a cell become spaces. */
static void csv_field(const char *s, int last)
{
	s = s ? s : "";
	int quote = strpbrk(s, ",\"\r\n") != NULL || *s == ' ';
	if (quote)
		putchar('"');
	for (; *s; s++) {
		if (*s == '"')
			putchar('"');
		putchar(*s == '\r' || *s == '\n' ? ' ' : *s);
	}
	if (quote)
		putchar('"');
	putchar(last ? '\n' : ',');
}

typedef struct {
	json_t *lines; /* url -> {problems: [...], dataset fields} in first-seen order */
	json_t *current;
	const char *row;
	int64_t datasets, listed;
} report;

static void on_problem(void *ctx, const char *url, const char *why)
{
	report *r = ctx;
	json_t *line = json_object_get(r->lines, url);
	if (!line) {
		line = json_deep_copy(r->current);
		json_object_set_new(line, "problems", json_array());
		json_object_set_new(r->lines, url, line);
	} else {
		/* One URL of several datasets (a shared file, the catalog itself): each is named. */
		const char *had = json_string_value(json_object_get(line, "dataset"));
		const char *also = json_string_value(json_object_get(r->current, "dataset"));
		if (had && also && strlen(had) < 4096 && !strstr(had, also)) {
			char *both = NULL;
			if (asprintf(&both, "%s | %s", had, also) > 0)
				json_object_set_new(line, "dataset", json_string(both));
			free(both);
		}
	}
	json_t *problems = json_object_get(line, "problems");
	size_t i;
	json_t *p;
	json_array_foreach(problems, i, p)
		if (!strcmp(json_string_value(p), why))
			return;
	json_array_append_new(problems, json_string(why));
}

static int on_dataset(void *ctx, const sv_queue_dataset_row *d)
{
	report *r = ctx;
	json_t *meta = d->meta ? json_loads(d->meta, 0, NULL) : NULL;
	json_t *ds = json_object_get(meta, "dataset");
	r->current = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:I}", "dataset", d->identifier ? d->identifier : d->key,
			       "title", d->title, "publisher", d->publisher, "modified", d->modified, "catalog",
			       json_string_value(json_object_get(ds, "catalog")), "row", (json_int_t)d->seed);
	sv_dataset_state st = sv_catalog_dataset_state(d, on_problem, r);
	r->listed += st != SV_DATASET_VANISHED;
	r->datasets += st == SV_DATASET_PARTLY || st == SV_DATASET_NEEDS_HANDS;
	json_decref(r->current);
	r->current = NULL;
	json_decref(meta);
	return 0;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	const char *queue_url = NULL;
	int needs_hands = 0, rc;
	long row = 0;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "--needs-hands"))
			needs_hands = 1;
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			queue_url = argv[++i];
		else if (argv[i][0] != '-' && !row && (row = strtol(argv[i], &end, 10)) > 0 && !*end)
			continue;
		else
			return sv_cli_usage(cmd, "unknown argument '%s'", argv[i]);
	}
	if (!needs_hands)
		return sv_cli_usage(cmd, "say which report: --needs-hands");
	report r = {json_object(), NULL, NULL, 0, 0};
	if ((rc = sv_cli_read_queue(queue_url, &a, &q)) == 0)
		rc = sv_queue_datasets(q, row, on_dataset, &r);
	if (rc == 0) {
		static const char *const cols[] = {"url", "problem", "dataset", "title", "publisher", "modified", "catalog",
						   "row"};
		const char *url;
		json_t *line;
		for (size_t i = 0; i < 8; i++)
			csv_field(cols[i], i == 7);
		json_object_foreach(r.lines, url, line) {
			char rowbuf[32], *problems = NULL;
			size_t k, len = 0;
			json_t *p;
			json_array_foreach(json_object_get(line, "problems"), k, p)
				len += strlen(json_string_value(p)) + 3;
			problems = calloc(1, len + 1);
			json_array_foreach(json_object_get(line, "problems"), k, p) {
				if (problems && k)
					strcat(problems, " | ");
				if (problems)
					strcat(problems, json_string_value(p));
			}
			snprintf(rowbuf, sizeof(rowbuf), "%lld", (long long)json_integer_value(json_object_get(line, "row")));
			csv_field(url, 0);
			csv_field(problems, 0);
			static const char *const keys[] = {"dataset", "title", "publisher", "modified", "catalog"};
			for (size_t c = 0; c < 5; c++)
				csv_field(json_string_value(json_object_get(line, keys[c])), 0);
			csv_field(rowbuf, 1);
			free(problems);
		}
		if (fflush(stdout) != 0)
			rc = sv_error_set(SV_EIO, "cannot write the report");
		else
			fprintf(stderr, "%lld of %lld datasets listed need a human (%zu URLs to look at)\n",
				(long long)r.datasets, (long long)r.listed, json_object_size(r.lines));
	}
	json_decref(r.lines);
	if (rc)
		rc = sv_cli_error(rc);
	sv_queue_close(q);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_report = {
	"report", run, "what still needs a human, as CSV",
	"usage: salvage report --needs-hands [--queue URL] [ROW] > todo.csv\n"
	"\n"
	"For catalog rows (kind dcat, ckan, socrata, arcgis, datagov or auto): every\n"
	"dataset salvage could not rescue on its own, or only in part, as CSV on\n"
	"standard output: one line per URL to look at, with what went wrong (a\n"
	"landing page with no data file found, an API or JavaScript-only page, a\n"
	"failure after retries, a file over max_bytes, a distribution listed with\n"
	"no usable URL) and the catalog's metadata: url, problem, dataset, title,\n"
	"publisher, modified, catalog, row. ROW (the number `salvage status --json`\n"
	"gives each row as \"seed\") keeps one row's. The file loads as a sheet, and\n"
	"each file harvested by hand goes in with `salvage put FILE --url URL`.\n"
	"A summary goes to standard error. The rows are the queue's: --queue URL,\n"
	"else queue.url in salvage.conf (a crawl shared by workers), else the\n"
	"archive's own; with --queue, report runs from any folder.\n",
};
