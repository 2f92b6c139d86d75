/*
 * crawler/seeding.c -- loading seed sheets into the queue.
 *
 * All sheets are read and checked before anything is written, so a bad row
 * in the third sheet leaves the queue as it was. The sheets go to the ledger
 * before the queue commits them: the ledger commit runs in a thread while
 * the queue inserts the rows, and the queue's commit waits for it (a failed
 * ledger commit rolls the queue back). A row's crawl settings and
 * its other columns travel to the queue as JSON (params and meta).
 */
#include "seeding.h"

#include "../common/error.h"
#include "../common/strset.h"
#include "../queue/url.h"
#include "../seeds/sheet.h"
#include "row.h"

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
	sv_seed_report_fn fn;
	void *ctx;
	size_t reported, total;
} reporter;

static void emit(reporter *r, const sv_seed_event *e)
{
	if (r->fn)
		r->fn(r->ctx, e);
}

static void report(reporter *r, const char *path, unsigned line, unsigned col, const char *msg)
{
	r->total++;
	if (r->reported++ < SV_SEED_MAX_REPORTED)
		emit(r, &(sv_seed_event){.kind = SV_SEED_PROBLEM, .path = path, .line = line, .column = col,
					 .message = msg});
}

/*
 * The converted rows' strings, packed in large blocks: 300,000 separate
 * allocations for 100,000 rows cost as much to make and free as to fill,
 * and each of their pages was a fault of its own. Blocks are 2 MiB-aligned
 * and offered to the kernel as huge pages where it takes them.
 */
#define BLOCK_ALIGN ((size_t)2 << 20)
#define BLOCK_SIZE (2 * BLOCK_ALIGN)

typedef struct block {
	struct block *next;
	size_t used, cap; /* bytes of data[] */
	char data[];
} block;

static void blocks_free(block *b)
{
	while (b) {
		block *next = b->next;
		free(b);
		b = next;
	}
}

/* A copy of s in *blocks, or NULL when out of memory. */
static char *keep(block **blocks, const char *s)
{
	size_t len = strlen(s) + 1;
	block *b = *blocks;
	if (!b || b->cap - b->used < len) {
		size_t size = offsetof(block, data) + len; /* a long string has a block of its own */
		size = size < BLOCK_SIZE ? BLOCK_SIZE : (size + BLOCK_ALIGN - 1) & ~(BLOCK_ALIGN - 1);
		if (!(b = aligned_alloc(BLOCK_ALIGN, size)))
			return NULL;
#ifdef MADV_HUGEPAGE
		madvise(b, size, MADV_HUGEPAGE);
#endif
		b->used = 0;
		b->cap = size - offsetof(block, data);
		b->next = *blocks;
		*blocks = b;
	}
	char *d = memcpy(b->data + b->used, s, len);
	b->used += len;
	return d;
}

typedef struct {
	sv_sheet *sheet;
	sv_queue_seed *seeds; /* one per good row, strings in blocks */
	size_t n;
	block *blocks;
} loaded_sheet;

static void loaded_free(loaded_sheet *l)
{
	blocks_free(l->blocks);
	free(l->seeds);
	sv_sheet_free(l->sheet);
}

/*
 * Compiles the row's scope, for what it refuses (SV_EINVAL, the message
 * naming the pattern). The seed URL is normalised already, so only the
 * patterns can be refused: each pair of include and exclude is compiled
 * once per sheet (compiling every row of 100,000 took a tenth of the load).
 */
static int check_patterns(sv_strset *checked, const sv_sheet_row *row, const char *url)
{
	const char *inc = row->include ? row->include : "", *exc = row->exclude ? row->exclude : "";
	size_t ni = strlen(inc), ne = strlen(exc);
	char none[] = "0:", *key = ni + ne ? malloc(ni + ne + 24) : none;
	sv_row *settings = NULL;
	int rc;
	if (!key)
		return sv_error_set(SV_EIO, "out of memory");
	/* include's length, ':', include, exclude: one key per pair */
	if (key != none) {
		int at = snprintf(key, 24, "%zu:", ni);
		memcpy(key + at, inc, ni);
		memcpy(key + at + ni, exc, ne + 1);
	}
	rc = 0;
	if (!sv_strset_get(checked, key, NULL) && (rc = sv_row_from_sheet(&settings, row, url)) == 0) {
		sv_row_free(settings);
		rc = sv_strset_add(checked, key, 0, NULL);
	}
	if (key != none)
		free(key);
	return rc;
}

/* Normalises and converts the sheet's good rows; reports rows that fail. */
static int convert(loaded_sheet *l, reporter *rep)
{
	sv_sheet *sh = l->sheet;
	sv_strset seen = {.borrowed = 1}; /* normalised urls (in l->blocks), with their lines */
	sv_strset checked = {0}; /* see check_patterns */
	int rc = 0;
	l->seeds = calloc(sh->nrows ? sh->nrows : 1, sizeof(*l->seeds));
	if (!l->seeds || sv_strset_reserve(&seen, sh->nrows))
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < sh->nrows && rc == 0; i++) {
		const sv_sheet_row *row = &sh->rows[i];
		char *norm = NULL, *params = NULL, *meta = NULL;
		if (sv_url_normalize(&norm, row->url, NULL) != 0) {
			report(rep, sh->path, row->url_line, row->url_column, sv_error_last());
			continue;
		}
		const char *url = keep(&l->blocks, norm);
		free(norm);
		if (!url) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		/* Two spellings of one URL would be one queue key. */
		unsigned first = 0;
		int dup = sv_strset_add(&seen, url, row->line, &first);
		if (dup < 0) {
			rc = dup;
			break;
		}
		if (dup) {
			char msg[160];
			snprintf(msg, sizeof(msg), "url is the same as on line %u once normalised", first);
			report(rep, sh->path, row->url_line, row->url_column, msg);
			continue;
		}
		/* Patterns are checked now, not when the crawl meets them. */
		if ((rc = check_patterns(&checked, row, url)) == SV_EINVAL) {
			report(rep, sh->path, row->line, 1, sv_error_last());
			rc = 0;
			continue;
		}
		const char *kept_params = NULL, *kept_meta = NULL;
		if (rc == 0 && (rc = sv_row_sheet_json(row, url, &params)) == 0 && (rc = sv_row_meta_json(row, &meta)) == 0 &&
		    (!(kept_params = keep(&l->blocks, params)) || !(kept_meta = keep(&l->blocks, meta))))
			rc = sv_error_set(SV_EIO, "out of memory");
		if (rc == 0)
			l->seeds[l->n++] = (sv_queue_seed){.url = url, .line = row->line, .priority = row->priority,
							   .max_urls = row->max_urls, .delay_ms = row->delay_ms,
							   .params = kept_params, .meta = kept_meta,
							   .catalog = row->kind != SV_SHEET_SITE};
		free(params);
		free(meta);
	}
	sv_strset_free(&seen);
	sv_strset_free(&checked);
	return rc;
}

/*
 * Each sheet, byte for byte as loaded, into the ledger as sheets/<name>.csv,
 * before the queue sees it: the ledger says what was asked for. A sheet
 * loaded again unchanged makes no commit.
 */
static int commit_sheets(sv_ledger *ledger, loaded_sheet *sheets, size_t n)
{
	sv_ledger_file *files = calloc(n ? n : 1, sizeof(*files));
	char (*paths)[300] = calloc(n ? n : 1, sizeof(*paths));
	char msg[1024];
	size_t nf = 0, used = 0;
	int rc = 0;
	if (!files || !paths) {
		free(files);
		free(paths);
		return sv_error_set(SV_EIO, "out of memory");
	}
	used = (size_t)snprintf(msg, sizeof(msg), "sheets: load");
	for (size_t i = 0; i < n; i++) {
		sv_sheet *sh = sheets[i].sheet;
		if (!sh || !sheets[i].seeds)
			continue;
		if ((size_t)snprintf(paths[nf], sizeof(paths[nf]), "sheets/%s.csv", sh->name) >= sizeof(paths[nf])) {
			rc = sv_error_set(SV_EINVAL, "%s: sheet name too long for the ledger", sh->path);
			break;
		}
		files[nf] = (sv_ledger_file){paths[nf], sh->raw, sh->raw_len};
		if (used < sizeof(msg))
			used += (size_t)snprintf(msg + used, sizeof(msg) - used, " %s.csv (%zu row%s)", sh->name,
						 sheets[i].n, sheets[i].n == 1 ? "" : "s");
		nf++;
	}
	if (rc == 0 && nf)
		rc = sv_ledger_commit(ledger, "main", msg, files, nf, NULL, NULL);
	free(files);
	free(paths);
	return rc;
}

/* The ledger commit, made in a thread beside the queue's inserts. */
typedef struct {
	pthread_t thread;
	sv_ledger *ledger;
	loaded_sheet *sheets;
	size_t n;
	int started, rc;
	char msg[1024]; /* its error message: messages are per thread */
} ledger_job;

static void *ledger_run(void *arg)
{
	ledger_job *job = arg;
	if ((job->rc = commit_sheets(job->ledger, job->sheets, job->n)))
		snprintf(job->msg, sizeof(job->msg), "%s", sv_error_last());
	return NULL;
}

static void ledger_join(ledger_job *job)
{
	if (job->started)
		pthread_join(job->thread, NULL);
	job->started = 0;
}

/* The queue's gate: the ledger commit's result (and so a rollback when it failed). */
static int ledger_wait(void *arg)
{
	ledger_job *job = arg;
	ledger_join(job);
	return job->rc ? sv_error_set(job->rc, "%s", job->msg) : 0;
}

int sv_seed_sheets(sv_queue *q, sv_ledger *ledger, char **paths, size_t n, int skip_bad_rows,
		   sv_seed_report_fn report_fn, void *ctx)
{
	loaded_sheet *sheets = calloc(n ? n : 1, sizeof(*sheets));
	reporter rep = {report_fn, ctx, 0, 0};
	size_t readable = 0, credentials = 0;
	int rc = 0;

	if (!sheets)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		int lrc = sv_sheet_load(&sheets[i].sheet, paths[i]);
		sv_sheet *sh = sheets[i].sheet;
		if (lrc && !sh) {
			if (lrc != SV_EINVAL) {
				rc = lrc;
				break;
			}
			rep.total++;
			if (rep.reported++ < SV_SEED_MAX_REPORTED)
				emit(&rep, &(sv_seed_event){.kind = SV_SEED_UNREADABLE, .message = sv_error_last()});
			continue;
		}
		for (size_t e = 0; e < sh->nerrors; e++)
			report(&rep, sh->path, sh->errors[e].line, sh->errors[e].column, sh->errors[e].message);
		credentials += sh->credentials;
		rep.total += sh->total_errors - sh->nerrors;
		rep.reported += sh->total_errors - sh->nerrors;
		if (lrc)
			continue; /* not a sheet at all: nothing of it can load */
		for (size_t j = 0; j < i; j++)
			if (sheets[j].sheet && !strcmp(sheets[j].sheet->name, sh->name)) {
				char a[PATH_MAX], b[PATH_MAX], msg[300];
				if (realpath(sheets[j].sheet->path, a) && realpath(sh->path, b) && !strcmp(a, b)) {
					lrc = 1; /* the same file twice: load it once */
					break;
				}
				snprintf(msg, sizeof(msg), "a sheet named '%s' is given twice (also %s): rename one",
					 sh->name, sheets[j].sheet->path);
				report(&rep, sh->path, 1, 1, msg);
				lrc = SV_EINVAL;
				break;
			}
		if (lrc == 1) {
			sv_sheet_free(sh);
			sheets[i].sheet = NULL;
			continue;
		}
		if (lrc)
			continue;
		readable++;
		rc = convert(&sheets[i], &rep);
		sv_sheet_drop_rows(sh); /* converted: the memory goes to the queue's inserts */
	}
	if (rc == 0 && rep.total > 0) {
		if (rep.total > SV_SEED_MAX_REPORTED)
			emit(&rep, &(sv_seed_event){.kind = SV_SEED_MORE_PROBLEMS,
						    .count = rep.total - SV_SEED_MAX_REPORTED});
		if (credentials)
			/* The sheets go into the ledger byte for byte: leaving the rows out is not enough. */
			rc = sv_error_set(SV_EINVAL, "%zu URL%s with credentials in the sheet%s: nothing loaded, "
				"even with --skip-bad-rows", credentials, credentials == 1 ? "" : "s", n == 1 ? "" : "s");
		else if (!skip_bad_rows)
			rc = sv_error_set(SV_EINVAL, "%zu problem%s in the sheet%s: nothing loaded"
				" (fix them, or use --skip-bad-rows to load the good rows)",
				rep.total, rep.total == 1 ? "" : "s", n == 1 ? "" : "s");
		else if (readable == 0)
			rc = sv_error_set(SV_EINVAL, "no sheet could be read: nothing loaded");
		else
			emit(&rep, &(sv_seed_event){.kind = SV_SEED_SKIPPING, .count = rep.total});
	}
	ledger_job job = {.ledger = ledger, .sheets = sheets, .n = n};
	if (rc == 0 && ledger) {
		if (pthread_create(&job.thread, NULL, ledger_run, &job) == 0)
			job.started = 1;
		else
			ledger_run(&job); /* no thread: first the ledger, then the queue */
		sv_queue_set_sheet_gate(q, ledger_wait, &job);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		sv_queue_sheet_result res;
		sv_sheet *sh = sheets[i].sheet;
		if (!sh || !sheets[i].seeds)
			continue;
		rc = sv_queue_add_sheet(q, sh->name, sh->raw, sh->raw_len, sheets[i].seeds, sheets[i].n, &res);
		if (rc == 0)
			emit(&rep, &(sv_seed_event){.kind = SV_SEED_LOADED, .path = sh->path, .rows = sheets[i].n,
						    .result = &res});
	}
	if (ledger) { /* also when no sheet reached the queue */
		if (rc == 0)
			rc = ledger_wait(&job);
		ledger_join(&job);
		sv_queue_set_sheet_gate(q, NULL, NULL);
	}
	for (size_t i = 0; i < n; i++)
		loaded_free(&sheets[i]);
	free(sheets);
	return rc;
}

int sv_seed_sheet_again(sv_queue *q, const char *path, const void *data, size_t len, size_t *rows)
{
	loaded_sheet l = {0};
	reporter rep = {NULL, NULL, 0, 0};
	sv_queue_sheet_result res;
	int rc = sv_sheet_parse(&l.sheet, path, data, len);
	*rows = 0;
	if (rc == SV_EINVAL && l.sheet)
		rc = 0; /* a sheet that is not one any more loads nothing */
	if (rc == 0 && l.sheet && l.sheet->nrows && (rc = convert(&l, &rep)) == 0 && l.n &&
	    (rc = sv_queue_add_sheet(q, l.sheet->name, l.sheet->raw, l.sheet->raw_len, l.seeds, l.n, &res)) == 0)
		*rows = res.added;
	loaded_free(&l);
	return rc;
}
