/*
 * queue/postgres.c -- the shared queue backend: PostgreSQL through libpq,
 * for many machines crawling one sheet (schema `salvage`, see
 * queue/postgres_sql.h for the tables and what they keep true).
 *
 * What must stay true:
 * - every operation is one transaction, and all but add_sheet one round
 *   trip: a call of a server-side function (claim, complete, enqueue...) or
 *   one statement, with whole batches passed as arrays;
 * - no call waits longer than the handle's timeout (busy_timeout_ms): every
 *   query is sent with libpq's asynchronous API and the socket polled, since
 *   a dropped Wi-Fi link is silent. A broken connection, a timeout or a
 *   server going away closes the connection and gives SV_EUNREACHABLE; the
 *   next call connects again. Leases are rows with an expiry, not sessions,
 *   so nothing is lost with the connection;
 * - deadlocks and serialization failures are retried inside the operation;
 * - no password reaches a message: locations are shown with their user info
 *   replaced (sv_queue_shown), libpq's messages are scrubbed of the URL's
 *   secrets.
 */
#include "backend.h"
#include "postgres_sql.h"

#include "../common/error.h"
#include "../common/redact.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

typedef struct {
	PGconn *conn;
	char *location; /* as given: libpq parses it */
	char shown[512];
	int timeout_ms;
	int listening; /* LISTEN salvage_work sent on this connection */
} pg_queue;

static pg_queue *impl(sv_queue *q)
{
	return q->impl;
}

/* ---- time ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- errors ---- */

/* The connection is gone or cannot be trusted: closed, so the next call connects again. */
static int unreachable(pg_queue *p, const char *what, const char *why)
{
	char msg[1024];
	snprintf(msg, sizeof(msg), "%s", why ? why : "");
	msg[strcspn(msg, "\n")] = '\0';
	sv_redact_scrub(msg, sizeof(msg), p->location);
	if (p->conn)
		PQfinish(p->conn);
	p->conn = NULL;
	p->listening = 0;
	return sv_error_set(SV_EUNREACHABLE, "queue '%s' cannot be reached: %s: %s", p->shown, what, msg);
}

static int conn_error(pg_queue *p, const char *what)
{
	return unreachable(p, what, p->conn ? PQerrorMessage(p->conn) : "no connection");
}

/* Waits until the socket is ready for events or deadline (monotonic ms) passes: 1 ready, 0 timed out, -1 error. */
static int wait_socket(pg_queue *p, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd pfd = {PQsocket(p->conn), events, 0};
		if (pfd.fd < 0)
			return -1;
		int r = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* ---- connecting ---- */

/* The server's notices ("schema already exists, skipping") are not for the user: library code prints nothing. */
static void no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int pg_connect(pg_queue *p)
{
	char timeout_s[16], user_timeout[16], options[96];
	/* Our defaults first: what the location says overrides them (expand_dbname). */
	snprintf(timeout_s, sizeof(timeout_s), "%d", p->timeout_ms < 2000 ? 2 : (p->timeout_ms + 999) / 1000);
	snprintf(user_timeout, sizeof(user_timeout), "%d", p->timeout_ms);
	/* The server gives up on a statement we no longer wait for.
	 * synchronous_commit off: a commit returns before its WAL is flushed
	 * (the flush follows within wal_writer_delay), so a claim or an outcome
	 * does not wait for the server's disk. A server crash then loses the
	 * last commits, in their order, never a commit without the ones before
	 * it: a fetcher's links (enqueue) commit before its outcomes (complete),
	 * so a lost outcome only means a URL leased again and fetched again,
	 * and its capture is durable in the fetcher's archive before complete is
	 * sent. Loading a sheet and granting a role, which nothing would redo,
	 * turn it back on for their transaction. */
	snprintf(options, sizeof(options), "-c statement_timeout=%d -c synchronous_commit=off", p->timeout_ms);
	const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
			      "keepalives_count", "tcp_user_timeout", "application_name", "client_encoding",
			      "options", "dbname", NULL};
	const char *vals[] = {timeout_s, "1", "10", "5", "3", user_timeout, "salvage", "UTF8", options,
			      p->location, NULL};
	int64_t deadline = mono_ms() + p->timeout_ms;

	p->listening = 0;
	p->conn = PQconnectStartParams(keys, vals, 1);
	if (!p->conn)
		return sv_error_set(SV_EIO, "out of memory");
	for (;;) {
		PostgresPollingStatusType st =
			PQstatus(p->conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PQconnectPoll(p->conn);
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			return conn_error(p, "connect");
		int r = wait_socket(p, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
		if (r == 0)
			return unreachable(p, "connect", "no answer in time");
		if (r < 0)
			return conn_error(p, "connect");
	}
	if (PQsetnonblocking(p->conn, 1) != 0)
		return conn_error(p, "connect");
	PQsetNoticeProcessor(p->conn, no_notices, NULL);
	return 0;
}

/* ---- running a statement ---- */

enum { RUN_RETRY = 1 }; /* deadlock or serialization failure: run the transaction again */

/* What a failed result means, as an SV_E code (or RUN_RETRY). */
static int result_error(pg_queue *p, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[1024];
	if (!state || PQstatus(p->conn) == CONNECTION_BAD || !strncmp(state, "08", 2) || !strcmp(state, "57P01") ||
	    !strcmp(state, "57P02") || !strcmp(state, "57P03"))
		return unreachable(p, what, res ? PQresultErrorMessage(res) : PQerrorMessage(p->conn));
	if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		return RUN_RETRY;
	/* A statement the server gave up on (statement_timeout): the client's own deadline. */
	if (!strcmp(state, "57014"))
		return unreachable(p, what, "no answer in time");
	snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
	msg[strcspn(msg, "\n")] = '\0';
	sv_redact_scrub(msg, sizeof(msg), p->location);
	if (!strcmp(state, "53100"))
		return sv_error_set(SV_ENOSPC, "queue '%s': %s: %s", p->shown, what, msg);
	if (!strcmp(state, "22023"))
		return sv_error_set(SV_EINVAL, "queue '%s': %s: %s", p->shown, what, msg);
	return sv_error_set(SV_EIO, "queue '%s': %s: %s", p->shown, what, msg);
}

/*
 * Sends sql (with n text parameters, or binary where lens says so), waits
 * for its result within the timeout, and gives it in *out (NULL: cleared).
 * 0, RUN_RETRY, or a negative SV_E code.
 */
static int run_once(pg_queue *p, const char *what, const char *sql, int n, const char *const *vals,
		    const int *lens, const int *fmts, PGresult **out)
{
	int64_t deadline = mono_ms() + p->timeout_ms;
	PGresult *keep = NULL, *res;
	int rc;

	if (out)
		*out = NULL;
	if (!p->conn && (rc = pg_connect(p)))
		return rc;
	if (!(n || fmts ? PQsendQueryParams(p->conn, sql, n, NULL, vals, lens, fmts, 0) : PQsendQuery(p->conn, sql)))
		return conn_error(p, what);
	for (;;) {
		int f = PQflush(p->conn);
		if (f == 0)
			break;
		if (f < 0)
			return conn_error(p, what);
		int r = wait_socket(p, POLLOUT | POLLIN, deadline);
		if (r == 0)
			return unreachable(p, what, "no answer in time");
		if (r < 0 || !PQconsumeInput(p->conn))
			return conn_error(p, what);
	}
	for (;;) {
		while (PQisBusy(p->conn)) {
			int r = wait_socket(p, POLLIN, deadline);
			if (r == 0) {
				PQclear(keep);
				return unreachable(p, what, "no answer in time");
			}
			if (r < 0 || !PQconsumeInput(p->conn)) {
				PQclear(keep);
				return conn_error(p, what);
			}
		}
		if (!(res = PQgetResult(p->conn)))
			break;
		/* Of several results (a script), the first error is the one to report. */
		ExecStatusType ks = keep ? PQresultStatus(keep) : PGRES_COMMAND_OK;
		if (keep && (ks == PGRES_FATAL_ERROR || ks == PGRES_BAD_RESPONSE)) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
	ExecStatusType st = keep ? PQresultStatus(keep) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = result_error(p, keep, what);
		PQclear(keep);
		return rc;
	}
	if (out)
		*out = keep;
	else
		PQclear(keep);
	return 0;
}

/* run_once, with a deadlock or serialization failure retried a few times (a single statement: safe). */
static int run(pg_queue *p, const char *what, const char *sql, int n, const char *const *vals, const int *lens,
	       const int *fmts, PGresult **out)
{
	int rc = 0;
	for (int attempt = 0; attempt < 8; attempt++) {
		if ((rc = run_once(p, what, sql, n, vals, lens, fmts, out)) != RUN_RETRY)
			return rc;
		sleep_ms(5 << attempt);
	}
	return sv_error_set(SV_EIO, "queue '%s': %s: deadlocked again and again", p->shown, what);
}

static int run_text(pg_queue *p, const char *what, const char *sql, int n, const char *const *vals, PGresult **out)
{
	return run(p, what, sql, n, vals, NULL, NULL, out);
}

static int64_t val_i64(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static char *val_dup(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

/* The clock parameter: the test clock's time, or NULL for the server's clock. */
static const char *now_param(sv_queue *q, char *buf, size_t cap)
{
	if (!q->opts.now_ms)
		return NULL;
	snprintf(buf, cap, "%" PRId64, q->opts.now_ms(q->opts.clock_ctx));
	return buf;
}

/* ---- array literals for batch parameters ---- */

typedef struct {
	char *s;
	size_t len, cap;
	int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void arr_sep(sbuf *b)
{
	sb_put(b, b->len ? "," : "{", 1);
}

/* An element of len bytes at v (NULL: SQL NULL), quoted. */
static void arr_textn(sbuf *b, const char *v, size_t len)
{
	arr_sep(b);
	if (!v) {
		sb_put(b, "NULL", 4);
		return;
	}
	sb_put(b, "\"", 1);
	for (const char *s = v, *end = v + len; s < end;) {
		size_t n = 0;
		while (s + n < end && s[n] != '"' && s[n] != '\\')
			n++;
		sb_put(b, s, n);
		s += n;
		if (s < end) {
			char esc[2] = {'\\', *s++};
			sb_put(b, esc, 2);
		}
	}
	sb_put(b, "\"", 1);
}

static void arr_text(sbuf *b, const char *v)
{
	arr_textn(b, v, v ? strlen(v) : 0);
}

static void arr_int(sbuf *b, int64_t v)
{
	char num[24];
	arr_sep(b);
	sb_put(b, num, (size_t)snprintf(num, sizeof(num), "%" PRId64, v));
}

static void arr_bool(sbuf *b, int v)
{
	arr_sep(b);
	sb_put(b, v ? "t" : "f", 1);
}

/* Closes the literal ("{}" if empty); NULL when memory ran out. */
static const char *arr_end(sbuf *b)
{
	if (!b->len)
		sb_put(b, "{", 1);
	sb_put(b, "}", 1);
	return b->oom ? NULL : b->s;
}

static void arrs_free(sbuf *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(a[i].s);
}

/* Ends every literal of a; 0, or SV_EIO when memory ran out. */
static int arrs_end(sbuf *a, size_t n, const char **vals)
{
	for (size_t i = 0; i < n; i++)
		if (!(vals[i] = arr_end(&a[i])))
			return sv_error_set(SV_EIO, "out of memory");
	return 0;
}

/* ---- enqueue and sheets ---- */

enum { ENQUEUE_ARGS = 11 }; /* salvage.enqueue's arguments: url, host, seed ... refresh */

/* The arguments of salvage.enqueue for urls, ENQUEUE_ARGS array literals
 * into vals (their memory in a, freed by the caller); meta, dataset, role and
 * refresh NULL where no URL has one (a page's links: less to send). */
static int enqueue_args(const sv_queue_url *urls, size_t n, sbuf *a, const char **vals)
{
	const char *host;
	size_t hlen;
	int has_meta = 0, has_dataset = 0, has_refresh = 0, rc;
	for (size_t i = 0; i < n; i++) {
		const sv_queue_url *u = &urls[i];
		if ((rc = sv_queue_authority(u->url, &host, &hlen)))
			return rc;
		arr_text(&a[0], u->url);
		arr_textn(&a[1], host, hlen);
		arr_int(&a[2], u->seed);
		arr_int(&a[3], u->depth);
		arr_text(&a[4], sv_kind_name(u->kind));
		arr_text(&a[5], u->via);
		arr_int(&a[6], u->redirects);
		arr_text(&a[7], u->meta);
		arr_text(&a[8], u->dataset);
		arr_text(&a[9], u->role);
		arr_bool(&a[10], u->refresh);
		has_meta |= u->meta != NULL;
		has_dataset |= u->dataset != NULL;
		has_refresh |= u->refresh;
	}
	if ((rc = arrs_end(a, ENQUEUE_ARGS, vals)))
		return rc;
	if (!has_meta)
		vals[7] = NULL;
	if (!has_dataset)
		vals[8] = vals[9] = NULL;
	if (!has_refresh)
		vals[10] = NULL;
	return 0;
}

static int q_enqueue(sv_queue *q, const sv_queue_url *urls, size_t n, size_t *added)
{
	pg_queue *p = impl(q);
	sbuf a[ENQUEUE_ARGS] = {0};
	const char *vals[ENQUEUE_ARGS];
	PGresult *r = NULL;
	int rc;
	if (added)
		*added = 0;
	if (n == 0)
		return 0;
	if ((rc = enqueue_args(urls, n, a, vals)) == 0)
		rc = run_text(p, "queue URLs",
			      "SELECT salvage.enqueue($1::text[], $2::text[], $3::bigint[], $4::int[], $5::text[],"
			      " $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::boolean[])",
			      ENQUEUE_ARGS, vals, &r);
	if (rc == 0 && added)
		*added = (size_t)val_i64(r, 0, 0);
	PQclear(r);
	arrs_free(a, ENQUEUE_ARGS);
	return rc;
}

/*
 * Runs body between begin (BEGIN and what the transaction needs) and COMMIT,
 * or ROLLBACK when it fails; all of it again after a deadlock or
 * serialization failure (body returned RUN_RETRY), a few times.
 */
static int in_transaction(pg_queue *p, const char *what, const char *begin, int (*body)(pg_queue *p, void *ctx),
			  void *ctx)
{
	int rc = 0;
	for (int attempt = 0; attempt < 8; attempt++) {
		if ((rc = run_once(p, what, begin, 0, NULL, NULL, NULL, NULL)))
			break;
		rc = body(p, ctx);
		if (rc == 0)
			rc = run_once(p, what, "COMMIT", 0, NULL, NULL, NULL, NULL);
		else if (p->conn)
			run_once(p, what, "ROLLBACK", 0, NULL, NULL, NULL, NULL);
		if (rc != RUN_RETRY)
			break;
		sleep_ms(5 << attempt);
	}
	if (rc == RUN_RETRY)
		rc = sv_error_set(SV_EIO, "queue '%s': %s: deadlocked again and again", p->shown, what);
	return rc;
}

/* A sheet's load: its arguments, and what it did. */
typedef struct {
	sv_queue *q;
	const char *vals[12];
	int lens[12], fmts[12];
	sv_queue_sheet_result *res;
} sheet_load;

/* The load, then the caller's gate, in the transaction: the gate must see the load before it commits. */
static int load_sheet(pg_queue *p, void *ctx)
{
	static const char sql[] = "SELECT * FROM salvage.add_sheet($1, $2, $3, $4::text[], $5::text[], $6::int[],"
				  " $7::int[], $8::bigint[], $9::int[], $10::text[], $11::text[], $12::boolean[])";
	sheet_load *l = ctx;
	PGresult *r = NULL;
	memset(l->res, 0, sizeof(*l->res));
	int rc = run_once(p, "load the sheet", sql, 12, l->vals, l->lens, l->fmts, &r);
	if (rc == 0) {
		l->res->added = (size_t)val_i64(r, 0, 0);
		l->res->updated = (size_t)val_i64(r, 0, 1);
		l->res->unchanged = (size_t)val_i64(r, 0, 2);
		l->res->paused = (size_t)val_i64(r, 0, 3);
		if (l->q->sheet_gate)
			rc = l->q->sheet_gate(l->q->sheet_gate_ctx);
	}
	PQclear(r);
	return rc;
}

static int q_add_sheet(sv_queue *q, const char *name, const void *raw, size_t raw_len,
		       const sv_queue_seed *rows, size_t n, sv_queue_sheet_result *res)
{
	pg_queue *p = impl(q);
	sbuf a[9] = {0};
	sheet_load l = {q, {0}, {0}, {0}, res};
	const char *host;
	char now[32];
	size_t hlen;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((rc = sv_queue_authority(rows[i].url, &host, &hlen)))
			break;
		arr_text(&a[0], rows[i].url);
		arr_textn(&a[1], host, hlen);
		arr_int(&a[2], rows[i].line);
		arr_int(&a[3], rows[i].priority);
		arr_int(&a[4], rows[i].max_urls);
		arr_int(&a[5], rows[i].delay_ms);
		arr_text(&a[6], rows[i].params);
		arr_text(&a[7], rows[i].meta);
		arr_bool(&a[8], rows[i].catalog);
	}
	if (rc == 0 && (rc = arrs_end(a, 9, l.vals + 3)) == 0) {
		l.vals[0] = name;
		l.vals[1] = raw_len ? raw : "";
		l.lens[1] = (int)raw_len;
		l.fmts[1] = 1; /* the sheet's bytes as they are */
		l.vals[2] = now_param(q, now, sizeof(now));
		rc = in_transaction(p, "load the sheet", "BEGIN; SET LOCAL synchronous_commit = on", load_sheet, &l);
	}
	arrs_free(a, 9);
	return rc;
}

/* ---- leases ---- */

static const char *ids_literal(sbuf *b, const int64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		arr_int(b, ids[i]);
	return arr_end(b);
}

static int give_back(sv_queue *q, const char *node, const int64_t *ids, size_t n, int again, size_t *count)
{
	pg_queue *p = impl(q);
	sbuf b = {0};
	PGresult *r = NULL;
	const char *vals[3] = {node, ids_literal(&b, ids, n), again ? "true" : "false"};
	int rc = vals[1] ? run_text(p, again ? "release leases" : "free host slots",
				    "SELECT salvage.give_back($1, $2::bigint[], $3::boolean)", 3, vals, &r)
			 : sv_error_set(SV_EIO, "out of memory");
	if (rc == 0 && count)
		*count = (size_t)val_i64(r, 0, 0);
	PQclear(r);
	free(b.s);
	return rc;
}

static int q_release(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return n ? give_back(q, node, ids, n, 1, NULL) : 0;
}

static int q_free_slots(sv_queue *q, const char *node, const int64_t *ids, size_t n)
{
	return n ? give_back(q, node, ids, n, 0, NULL) : 0;
}

static int q_claim(sv_queue *q, const char *node, const int64_t *freed, size_t nfreed, size_t max, int lease_ms,
		   sv_queue_item **items, size_t *n)
{
	pg_queue *p = impl(q);
	char smax[24], slease[24], snow[32], scap[24], sdelay[24], snode[24], sexp[24];
	sbuf b = {0};
	PGresult *r = NULL;
	int rc;

	*items = NULL;
	*n = 0;
	if (max == 0)
		return q_free_slots(q, node, freed, nfreed);
	snprintf(smax, sizeof(smax), "%zu", max);
	snprintf(slease, sizeof(slease), "%d", lease_ms);
	snprintf(scap, sizeof(scap), "%d", q->opts.host_max_inflight);
	snprintf(sdelay, sizeof(sdelay), "%d", q->opts.host_delay_ms);
	snprintf(snode, sizeof(snode), "%d", q->opts.host_node_max);
	snprintf(sexp, sizeof(sexp), "%d", q->opts.max_expiries);
	const char *vals[10] = {node, ids_literal(&b, freed, nfreed), smax, slease, now_param(q, snow, sizeof(snow)),
				scap, sdelay, snode, q->opts.robots_first ? "true" : "false", sexp};
	if (!vals[1]) {
		free(b.s);
		return sv_error_set(SV_EIO, "out of memory");
	}
	rc = run_text(p, "claim URLs",
		      "SELECT * FROM salvage.claim($1, $2::bigint[], $3::int, $4::int, $5::bigint, $6::int, $7::int,"
		      " $8::int, $9::boolean, $10::int)",
		      10, vals, &r);
	free(b.s);
	if (rc)
		return rc;
	int rows = PQntuples(r);
	sv_queue_item *it = calloc(max, sizeof(*it));
	if (!it) {
		PQclear(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	for (int i = 0; i < rows && (size_t)i < max; i++) {
		sv_queue_item *x = &it[i];
		x->id = val_i64(r, i, 0);
		x->url = val_dup(r, i, 1);
		x->host = val_dup(r, i, 2);
		x->seed = val_i64(r, i, 3);
		x->depth = (int)val_i64(r, i, 4);
		/* This program writes only sv_kind_name's names; anything else reads as a page. */
		if (sv_kind_parse(PQgetvalue(r, i, 5), &x->kind) != 0)
			x->kind = SV_KIND_PAGE;
		x->via = val_dup(r, i, 6);
		x->attempts = (int)val_i64(r, i, 7);
		x->redirects = (int)val_i64(r, i, 8);
		x->meta = val_dup(r, i, 9);
		if (!x->url || !x->host || (!x->meta && !PQgetisnull(r, i, 9)))
			rc = sv_error_set(SV_EIO, "out of memory");
	}
	PQclear(r);
	if (rc) {
		sv_queue_items_free(it, max);
		return rc;
	}
	*items = it;
	*n = (size_t)rows;
	return 0;
}

static int q_renew(sv_queue *q, const char *node, const int64_t *ids, size_t n, int lease_ms)
{
	pg_queue *p = impl(q);
	char slease[24], snow[32];
	sbuf b = {0};
	int rc;
	/* Renewing nothing is still a heartbeat (a worker announces its node so). */
	snprintf(slease, sizeof(slease), "%d", lease_ms);
	const char *vals[4] = {node, ids_literal(&b, ids, n), slease, now_param(q, snow, sizeof(snow))};
	rc = vals[1] ? run_text(p, "renew leases", "SELECT salvage.renew($1, $2::bigint[], $3::int, $4::bigint)", 4,
				vals, NULL)
		     : sv_error_set(SV_EIO, "out of memory");
	free(b.s);
	return rc;
}

static int q_complete(sv_queue *q, const char *node, const sv_queue_outcome *o, size_t n, size_t *accepted)
{
	pg_queue *p = impl(q);
	sbuf a[7] = {0};
	const char *vals[9];
	char snow[32];
	PGresult *r = NULL;
	int rc;
	if (accepted)
		*accepted = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		arr_int(&a[0], o[i].id);
		arr_int(&a[1], (int64_t)o[i].kind);
		arr_int(&a[2], o[i].retry_at_ms);
		arr_text(&a[3], o[i].reason);
		arr_int(&a[4], o[i].status);
		arr_int(&a[5], o[i].bytes);
		arr_text(&a[6], o[i].kind == SV_OUTCOME_DONE ? o[i].digest : NULL);
	}
	vals[0] = node;
	vals[8] = now_param(q, snow, sizeof(snow));
	if ((rc = arrs_end(a, 7, vals + 1)) == 0)
		rc = run_text(p, "record outcomes",
			      "SELECT salvage.complete($1, $2::bigint[], $3::int[], $4::bigint[], $5::text[], $6::int[],"
			      " $7::bigint[], $8::text[], $9::bigint)",
			      9, vals, &r);
	if (rc == 0 && accepted)
		*accepted = (size_t)val_i64(r, 0, 0);
	PQclear(r);
	arrs_free(a, 7);
	return rc;
}

static int q_settle(sv_queue *q, const char *url, const sv_queue_outcome *how)
{
	char kind[8], status[16], bytes[24], now[32];
	snprintf(kind, sizeof(kind), "%d", (int)how->kind);
	snprintf(status, sizeof(status), "%d", how->status);
	snprintf(bytes, sizeof(bytes), "%" PRId64, how->bytes);
	const char *vals[6] = {url, kind, how->reason, status, bytes, now_param(q, now, sizeof(now))};
	return run_text(impl(q), "end a URL",
			"SELECT salvage.settle($1, $2::int, $3, $4::int, $5::bigint, $6::bigint)", 6, vals, NULL);
}

static int q_reclaim(sv_queue *q, const char *prefix, int (*alive)(const char *node), size_t *released)
{
	pg_queue *p = impl(q);
	PGresult *r = NULL;
	const char *vals[1] = {prefix};
	int rc;
	*released = 0;
	if ((rc = run_text(p, "list leases",
			   "SELECT DISTINCT node FROM salvage.work WHERE state = 1 AND starts_with(node, $1)", 1, vals,
			   &r)))
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		const char *node = PQgetvalue(r, i, 0);
		PGresult *g = NULL;
		if (alive(node))
			continue;
		const char *v[1] = {node};
		rc = run_text(p, "release leases",
			      "SELECT salvage.give_back($1, (SELECT array_agg(id) FROM salvage.work"
			      " WHERE state = 1 AND node = $1), true)",
			      1, v, &g);
		if (rc == 0)
			*released += (size_t)val_i64(g, 0, 0);
		PQclear(g);
	}
	PQclear(r);
	return rc;
}

static int q_pending(sv_queue *q, int64_t *queued, int64_t *leased)
{
	PGresult *r = NULL;
	int rc = run_text(impl(q), "count URLs",
			  "SELECT (SELECT count(*) FROM salvage.work w WHERE w.state = 0 AND NOT EXISTS"
			  " (SELECT 1 FROM salvage.hosts h WHERE h.id = w.host AND h.robots_held)),"
			  " (SELECT count(*) FROM salvage.work WHERE state = 1)",
			  0, NULL, &r);
	if (rc == 0) {
		*queued = val_i64(r, 0, 0);
		*leased = val_i64(r, 0, 1);
	}
	PQclear(r);
	return rc;
}

/* ---- reading ---- */

static int q_failures(sv_queue *q, int (*fn)(void *ctx, const char *reason, int64_t count), void *ctx)
{
	PGresult *r = NULL;
	int rc = run_text(impl(q), "count failures",
			  "SELECT coalesce(reason, 'unknown') COLLATE \"C\", count(*) FROM salvage.urls WHERE state = 3"
			  " GROUP BY 1 ORDER BY 2 DESC, 1",
			  0, NULL, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		rc = fn(ctx, PQgetvalue(r, i, 0), val_i64(r, i, 1));
	PQclear(r);
	return rc;
}

static int q_landing_add(sv_queue *q, int64_t seed, const char *url)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRId64, seed);
	const char *vals[2] = {s, url};
	return run_text(impl(q), "keep where a seed lands", "SELECT salvage.landing_add($1::bigint, $2)", 2, vals,
			NULL);
}

static int q_landings(sv_queue *q, int64_t seed, char ***urls, size_t *n)
{
	char s[24];
	PGresult *r = NULL;
	snprintf(s, sizeof(s), "%" PRId64, seed);
	const char *vals[1] = {s};
	*urls = NULL;
	*n = 0;
	int rc = run_text(impl(q), "read where a seed lands",
			  "SELECT url FROM salvage.seed_landings WHERE seed = $1::bigint ORDER BY id", 1, vals, &r);
	int rows = rc ? 0 : PQntuples(r);
	if (rows > 0 && !(*urls = calloc((size_t)rows, sizeof(**urls))))
		rc = sv_error_set(SV_EIO, "out of memory");
	for (int i = 0; rc == 0 && i < rows; i++) {
		if (!((*urls)[i] = val_dup(r, i, 0)))
			rc = sv_error_set(SV_EIO, "out of memory");
		*n = (size_t)i + 1;
	}
	PQclear(r);
	if (rc) {
		sv_queue_landings_free(*urls, *n);
		*urls = NULL;
		*n = 0;
	}
	return rc;
}

static int q_seed_params(sv_queue *q, int64_t seed, char **params)
{
	char s[24];
	PGresult *r = NULL;
	snprintf(s, sizeof(s), "%" PRId64, seed);
	const char *vals[1] = {s};
	*params = NULL;
	int rc = run_text(impl(q), "read a seed row", "SELECT params FROM salvage.seeds WHERE id = $1::bigint", 1,
			  vals, &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = sv_error_set(SV_ENOTFOUND, "no seed row %lld", (long long)seed);
	else if (rc == 0)
		*params = val_dup(r, 0, 0);
	PQclear(r);
	return rc;
}

static int q_stats(sv_queue *q, sv_queue_seed_stats **rows, size_t *n, sv_queue_seed_stats *total)
{
	static const char sql[] =
		"SELECT s.id, s.sheet, s.url, s.line, s.meta, s.active::int,"
		" coalesce(w.queued, 0), coalesce(w.leased, 0), coalesce(u.done, 0), coalesce(u.failed, 0),"
		" coalesce(w.paused, 0), coalesce(u.bytes, 0), coalesce(u.datasets, 0), coalesce(u.skipped, 0),"
		" coalesce(u.rescued, 0), coalesce(u.redirects, 0),"
		" (SELECT l.url FROM salvage.seed_landings l WHERE l.seed = s.id ORDER BY l.id DESC LIMIT 1), s.params"
		" FROM salvage.seeds s"
		" LEFT JOIN (SELECT seed, count(*) FILTER (WHERE state = 0) queued, count(*) FILTER (WHERE state = 1) leased,"
		"  count(*) FILTER (WHERE state = 4) paused FROM salvage.work GROUP BY seed) w ON w.seed = s.id"
		" LEFT JOIN (SELECT seed, count(*) FILTER (WHERE state = 2) done, count(*) FILTER (WHERE state = 3) failed,"
		"  count(*) FILTER (WHERE state = 5) skipped, sum(bytes) FILTER (WHERE state = 2) bytes,"
		"  count(*) FILTER (WHERE kind = 'dataset') datasets,"
		"  count(*) FILTER (WHERE state = 2 AND status BETWEEN 200 AND 299 AND kind NOT IN ('robots', 'sitemap')) rescued,"
		"  count(*) FILTER (WHERE state = 2 AND status BETWEEN 300 AND 399) redirects"
		"  FROM salvage.urls GROUP BY seed) u ON u.seed = s.id"
		" ORDER BY s.sheet COLLATE \"C\", s.line, s.id";
	PGresult *r = NULL;
	sv_queue_seed_stats *out = NULL;
	int rc;

	memset(total, 0, sizeof(*total));
	*rows = NULL;
	*n = 0;
	if ((rc = run_text(impl(q), "read statistics", sql, 0, NULL, &r)))
		return rc;
	size_t count = (size_t)PQntuples(r);
	if (count && !(out = calloc(count, sizeof(*out)))) {
		PQclear(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		sv_queue_seed_stats *x = &out[i];
		int k = (int)i;
		x->seed = val_i64(r, k, 0);
		x->sheet = val_dup(r, k, 1);
		x->url = val_dup(r, k, 2);
		x->line = (unsigned)val_i64(r, k, 3);
		x->meta = val_dup(r, k, 4);
		x->active = (int)val_i64(r, k, 5);
		x->queued = val_i64(r, k, 6);
		x->leased = val_i64(r, k, 7);
		x->done = val_i64(r, k, 8);
		x->failed = val_i64(r, k, 9);
		x->paused = val_i64(r, k, 10);
		x->bytes = val_i64(r, k, 11);
		x->datasets = val_i64(r, k, 12);
		x->skipped = val_i64(r, k, 13);
		x->rescued = val_i64(r, k, 14);
		x->redirects = val_i64(r, k, 15);
		x->landing = val_dup(r, k, 16);
		x->params = val_dup(r, k, 17);
		if (!x->sheet || !x->url)
			rc = sv_error_set(SV_EIO, "out of memory");
		sv_queue_stats_add(total, x);
	}
	PQclear(r);
	if (rc) {
		sv_queue_stats_free(out, count);
		return rc;
	}
	*rows = out;
	*n = count;
	return 0;
}

/* Nodes by heartbeat and by done URLs; leases count by their holder's node. */
static int q_node_stats(sv_queue *q, sv_queue_node_stats **rows, size_t *n)
{
	static const char sql[] =
		"WITH t(since) AS (SELECT coalesce($1::bigint, salvage.now_ms()) - 60000),"
		" d AS (SELECT done_node AS name, count(*) done, sum(bytes) bytes,"
		"  count(*) FILTER (WHERE done_ms >= (SELECT since FROM t)) recent"
		"  FROM salvage.urls WHERE state = 2 AND done_node IS NOT NULL GROUP BY done_node),"
		" l AS (SELECT split_part(node, ':', 1) AS name, count(*) held FROM salvage.work WHERE state = 1 GROUP BY 1),"
		" names AS (SELECT name FROM salvage.nodes UNION SELECT name FROM d)"
		" SELECT names.name, coalesce(d.done, 0), coalesce(l.held, 0), coalesce(d.bytes, 0), coalesce(d.recent, 0),"
		" coalesce(x.last_ms, 0) FROM names LEFT JOIN d ON d.name = names.name LEFT JOIN l ON l.name = names.name"
		" LEFT JOIN salvage.nodes x ON x.name = names.name ORDER BY names.name COLLATE \"C\"";
	char snow[32];
	const char *vals[1];
	PGresult *r = NULL;
	sv_queue_node_stats *out = NULL;
	int rc;
	*rows = NULL;
	*n = 0;
	/* The last minute by the caller's test clock, when there is one, as leases are. */
	vals[0] = now_param(q, snow, sizeof(snow));
	if ((rc = run_text(impl(q), "count per node", sql, 1, vals, &r)))
		return rc;
	size_t count = (size_t)PQntuples(r);
	if (count && !(out = calloc(count, sizeof(*out)))) {
		PQclear(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	for (size_t i = 0; i < count && rc == 0; i++) {
		sv_queue_node_stats *x = &out[i];
		x->node = val_dup(r, (int)i, 0);
		x->done = val_i64(r, (int)i, 1);
		x->leased = val_i64(r, (int)i, 2);
		x->bytes = val_i64(r, (int)i, 3);
		x->done_last_minute = val_i64(r, (int)i, 4);
		x->last_seen_ms = val_i64(r, (int)i, 5);
		if (!x->node)
			rc = sv_error_set(SV_EIO, "out of memory");
	}
	PQclear(r);
	if (rc) {
		sv_queue_node_stats_free(out, count);
		return rc;
	}
	*rows = out;
	*n = count;
	return 0;
}

/* ---- hosts ---- */

static int q_host_get(sv_queue *q, const char *host, sv_queue_host *out)
{
	PGresult *r = NULL;
	const char *vals[1] = {host};
	memset(out, 0, sizeof(*out));
	out->crawl_delay_ms = -1;
	int rc = run_text(impl(q), "read a host",
			  "SELECT robots, robots_ms, robots_status, crawl_delay_ms, cooldown_ms, inflight, timeouts,"
			  " robots_tries, robots_error, robots_held::int FROM salvage.hosts WHERE host = $1",
			  1, vals, &r);
	if (rc == 0 && PQntuples(r) == 1) {
		out->robots = val_dup(r, 0, 0);
		out->robots_at_ms = val_i64(r, 0, 1);
		out->robots_status = (int)val_i64(r, 0, 2);
		out->crawl_delay_ms = (int)val_i64(r, 0, 3);
		out->cooldown_until_ms = val_i64(r, 0, 4);
		out->inflight = (int)val_i64(r, 0, 5);
		out->timeouts = (int)val_i64(r, 0, 6);
		out->robots_tries = (int)val_i64(r, 0, 7);
		out->robots_error = val_dup(r, 0, 8);
		out->robots_held = (int)val_i64(r, 0, 9);
	}
	PQclear(r);
	return rc;
}

static int q_host_set_robots(sv_queue *q, const char *host, const char *robots, int status, int crawl_delay_ms)
{
	char s[16], d[16], now[32];
	snprintf(s, sizeof(s), "%d", status);
	snprintf(d, sizeof(d), "%d", crawl_delay_ms);
	const char *vals[5] = {host, robots ? robots : "", s, d, now_param(q, now, sizeof(now))};
	return run_text(impl(q), "update a host",
			"SELECT salvage.host_set_robots($1, $2, $3::int, $4::int, $5::bigint)", 5, vals, NULL);
}

static int q_host_cooldown(sv_queue *q, const char *host, int64_t until_ms, int timed_out)
{
	char u[24];
	snprintf(u, sizeof(u), "%" PRId64, until_ms);
	const char *vals[3] = {host, u, timed_out ? "true" : "false"};
	return run_text(impl(q), "update a host", "SELECT salvage.host_cooldown($1, $2::bigint, $3::boolean)", 3,
			vals, NULL);
}

static int q_host_robots_failed(sv_queue *q, const char *host, const char *reason, int64_t retry_at_ms,
				int give_up)
{
	char u[24];
	snprintf(u, sizeof(u), "%" PRId64, retry_at_ms);
	const char *vals[4] = {host, reason ? reason : "robots.txt: unreachable", u, give_up ? "true" : "false"};
	return run_text(impl(q), "update a host",
			"SELECT salvage.host_robots_failed($1, $2, $3::bigint, $4::boolean)", 4, vals, NULL);
}

static int q_host_delay(sv_queue *q, const char *host, int crawl_delay_ms, int *delay_ms)
{
	char d[16], def[16], now[32];
	PGresult *r = NULL;
	snprintf(d, sizeof(d), "%d", crawl_delay_ms);
	snprintf(def, sizeof(def), "%d", q->opts.host_delay_ms);
	const char *vals[4] = {host, d, now_param(q, now, sizeof(now)), def};
	*delay_ms = 0;
	int rc = run_text(impl(q), "update a host",
			  "SELECT salvage.host_delay($1, $2::int, $3::bigint, $4::int)", 4, vals, &r);
	if (rc == 0 && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		*delay_ms = (int)val_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

static int q_robots_waiting(sv_queue *q, int (*fn)(void *ctx, const char *host, const char *reason, int64_t urls),
			    void *ctx)
{
	PGresult *r = NULL;
	int rc = run_text(impl(q), "list hosts waiting for robots.txt",
			  "SELECT h.host, coalesce(h.robots_error, 'robots.txt: unreachable'), count(*)"
			  " FROM salvage.hosts h JOIN salvage.work w ON w.host = h.id AND w.state = 0"
			  " WHERE h.robots_held GROUP BY h.id ORDER BY h.host COLLATE \"C\"",
			  0, NULL, &r);
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		rc = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), val_i64(r, i, 2));
	PQclear(r);
	return rc;
}

static int q_robots_retry(sv_queue *q, size_t *hosts)
{
	PGresult *r = NULL;
	*hosts = 0;
	int rc = run_text(impl(q), "retry robots.txt", "SELECT salvage.robots_retry()", 0, NULL, &r);
	if (rc == 0)
		*hosts = (size_t)val_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

/* ---- crawl settings and roles ---- */

static int q_setting_get(sv_queue *q, const char *key, char **value)
{
	PGresult *r = NULL;
	const char *vals[1] = {key};
	*value = NULL;
	int rc = run_text(impl(q), "read a crawl setting", "SELECT value FROM salvage.meta WHERE key = $1", 1, vals, &r);
	if (rc == 0 && PQntuples(r) == 1 && !(*value = val_dup(r, 0, 0)))
		rc = sv_error_set(SV_EIO, "out of memory");
	PQclear(r);
	return rc;
}

static int q_setting_put(sv_queue *q, const char *key, const char *value)
{
	const char *vals[2] = {key, value};
	return run_text(impl(q), "keep a crawl setting", "SELECT salvage.setting_put($1, $2)", 2, vals, NULL);
}

/* Letters, digits, '_', '-', '.'; 1 to 63 bytes (PostgreSQL's limit); not pg_... (PostgreSQL's own roles). */
static int role_name_ok(const char *role)
{
	size_t n = strlen(role);
	if (n == 0 || n > 63 || !strncmp(role, "pg_", 3))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = role[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/*
 * The role made (if need be) and given exactly PG_WORKER_TABLES to read and
 * PG_WORKER_FUNCTIONS to call, all else it held in the schema revoked first,
 * in one transaction under the schema's lock: running it again changes
 * nothing. The password is sent as a SCRAM verifier computed here, never as
 * itself, so it reaches neither the server nor its log.
 */
static int q_grant_worker(sv_queue *q, const char *role, const char *password, int *created)
{
	pg_queue *p = impl(q);
	PGresult *r = NULL;
	char *ident = NULL, *name = NULL, *verifier = NULL, *secret = NULL, *sql = NULL;
	const char *vals[1] = {role};
	size_t cap = 0;
	int rc;

	*created = 0;
	if (!role_name_ok(role))
		return sv_error_set(SV_EINVAL, "'%s' cannot be a worker's role: 1 to 63 letters, digits, '_', '-' or '.',"
				    " not starting with pg_", role);
	if ((rc = run_text(p, "look up the role",
			   "SELECT rolsuper::int, (rolname = current_user)::int FROM pg_roles WHERE rolname = $1", 1,
			   vals, &r)))
		return rc;
	if (PQntuples(r) == 1 && (val_i64(r, 0, 0) || val_i64(r, 0, 1)))
		rc = sv_error_set(SV_EINVAL, "role '%s' is %s: a worker's role must be one that may do only a worker's work",
				  role, val_i64(r, 0, 1) ? "the one this queue is opened as" : "a superuser");
	*created = PQntuples(r) == 0;
	PQclear(r);
	if (rc)
		return rc;
	if (!(ident = PQescapeIdentifier(p->conn, role, strlen(role))) ||
	    !(name = PQescapeLiteral(p->conn, role, strlen(role)))) {
		rc = conn_error(p, "grant a worker's rights");
		goto done;
	}
	if (password) {
		if (!(verifier = PQencryptPasswordConn(p->conn, password, role, "scram-sha-256")) ||
		    !(secret = PQescapeLiteral(p->conn, verifier, strlen(verifier)))) {
			rc = conn_error(p, "compute the password's verifier");
			goto done;
		}
	}
	cap = 2048 + 12 * strlen(ident) + 2 * strlen(name) + (secret ? 2 * strlen(secret) : 0);
	if (!(sql = malloc(cap))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	/* One query string: one transaction, all or nothing. */
	snprintf(sql, cap,
		 "SET LOCAL synchronous_commit = on; SELECT pg_advisory_xact_lock(7735064117513461773);"
		 "DO $grant$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s) THEN"
		 " CREATE ROLE %s LOGIN%s%s; %s%s%s%s%s END IF; END$grant$;"
		 "REVOKE ALL ON ALL TABLES IN SCHEMA salvage FROM %s;"
		 "REVOKE ALL ON ALL SEQUENCES IN SCHEMA salvage FROM %s;"
		 "REVOKE ALL ON ALL FUNCTIONS IN SCHEMA salvage FROM %s;"
		 "REVOKE ALL ON SCHEMA salvage FROM %s;"
		 "GRANT USAGE ON SCHEMA salvage TO %s;"
		 "GRANT SELECT ON " PG_WORKER_TABLES " TO %s;"
		 "GRANT EXECUTE ON FUNCTION " PG_WORKER_FUNCTIONS " TO %s",
		 name, ident, secret ? " PASSWORD " : "", secret ? secret : "", secret ? "ELSE ALTER ROLE " : "",
		 secret ? ident : "", secret ? " PASSWORD " : "", secret ? secret : "", secret ? ";" : "", ident, ident, ident, ident,
		 ident, ident, ident);
	rc = run(p, "grant a worker's rights", sql, 0, NULL, NULL, NULL, NULL);
	if (secret && sql)
		memset(sql, 0, cap);
done:
	free(sql);
	PQfreemem(ident);
	PQfreemem(name);
	PQfreemem(verifier);
	PQfreemem(secret);
	return rc;
}

/* ---- waiting for work ---- */

/* 1 if a notification from another session is waiting (they are all consumed). */
static int notified(pg_queue *p)
{
	PGnotify *nf;
	int got = 0, self = PQbackendPID(p->conn);
	while ((nf = PQnotifies(p->conn))) {
		got |= nf->be_pid != self;
		PQfreemem(nf);
	}
	return got;
}

static int q_wait(sv_queue *q, int timeout_ms)
{
	pg_queue *p = impl(q);
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int rc;
	if (!p->listening) {
		if ((rc = run_text(p, "listen for work", "LISTEN salvage_work", 0, NULL, NULL)))
			return rc;
		p->listening = 1;
	}
	if (!PQconsumeInput(p->conn))
		return conn_error(p, "wait for work");
	while (!notified(p)) {
		int r = wait_socket(p, POLLIN, deadline);
		if (r == 0)
			break;
		if (r < 0 || !PQconsumeInput(p->conn))
			return conn_error(p, "wait for work");
	}
	return 0;
}

/* ---- catalogs ---- */

static int q_datasets_put(sv_queue *q, int64_t seed, int pass, const sv_queue_dataset *ds, size_t n,
			  sv_queue_datasets_result *res)
{
	static const char sql[] =
		"SELECT * FROM salvage.datasets_put($1::bigint, $2::int, $3::text[], $4::text[], $5::text[], $6::text[],"
		" $7::text[], $8::text[], $9::int[], $10::text[], $11::text[], $12::bigint[], $13::int[], $14::text[],"
		" $15::text[], $16::int[], $17::text[], $18::text[], $19::text[], $20::boolean[])";
	pg_queue *p = impl(q);
	sbuf d[7] = {0}, u[ENQUEUE_ARGS] = {0};
	const char *vals[9 + ENQUEUE_ARGS];
	char sseed[24], spass[16];
	sv_queue_url *flat = NULL;
	size_t nflat = 0, k = 0;
	PGresult *r = NULL;
	int rc = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		nflat += ds[i].nurls;
	if (nflat && !(flat = malloc(nflat * sizeof(*flat))))
		return sv_error_set(SV_EIO, "out of memory");
	/* Each URL goes with its dataset's key, and that dataset's place in the batch. */
	for (size_t i = 0; i < n; i++) {
		arr_text(&d[0], ds[i].key);
		arr_text(&d[1], ds[i].identifier);
		arr_text(&d[2], ds[i].title);
		arr_text(&d[3], ds[i].publisher);
		arr_text(&d[4], ds[i].modified);
		arr_text(&d[5], ds[i].meta);
		for (size_t j = 0; j < ds[i].nurls; j++) {
			flat[k] = ds[i].urls[j];
			flat[k++].dataset = ds[i].key;
			arr_int(&d[6], (int64_t)i + 1);
		}
	}
	snprintf(sseed, sizeof(sseed), "%" PRId64, seed);
	snprintf(spass, sizeof(spass), "%d", pass);
	vals[0] = sseed;
	vals[1] = spass;
	if ((rc = arrs_end(d, 7, vals + 2)) == 0 && (rc = enqueue_args(flat, nflat, u, vals + 9)) == 0)
		rc = run_text(p, "keep datasets", sql, 9 + ENQUEUE_ARGS, vals, &r);
	if (rc == 0 && res) {
		res->added += (size_t)val_i64(r, 0, 0);
		res->changed += (size_t)val_i64(r, 0, 1);
		res->unchanged += (size_t)val_i64(r, 0, 2);
		res->repeated += (size_t)val_i64(r, 0, 3);
	}
	PQclear(r);
	arrs_free(d, 7);
	arrs_free(u, ENQUEUE_ARGS);
	free(flat);
	return rc;
}

static int q_catalog_get(sv_queue *q, int64_t seed, sv_queue_catalog_info *out)
{
	char s[24];
	PGresult *r = NULL;
	snprintf(s, sizeof(s), "%" PRId64, seed);
	const char *vals[1] = {s};
	memset(out, 0, sizeof(*out));
	/* work has no index on seed (every claim would pay for one): a scan of the frontier, once per
	 * catalog row when a crawl starts or the coordinator seeds. */
	int rc = run_text(impl(q), "read a catalog row",
			  "SELECT catalog_pass, catalog_done_pass, (SELECT count(*) FROM salvage.work w"
			  " WHERE w.seed = s.id AND w.state IN (0, 1)) FROM salvage.seeds s WHERE s.id = $1::bigint",
			  1, vals, &r);
	if (rc == 0 && PQntuples(r) == 0)
		rc = sv_error_set(SV_ENOTFOUND, "no seed row %lld", (long long)seed);
	else if (rc == 0) {
		out->pass = (int)val_i64(r, 0, 0);
		out->done_pass = (int)val_i64(r, 0, 1);
		out->pending = val_i64(r, 0, 2);
	}
	PQclear(r);
	return rc;
}

static int q_catalog_begin(sv_queue *q, int64_t seed, int pass, const sv_queue_url *first)
{
	pg_queue *p = impl(q);
	sbuf a[ENQUEUE_ARGS] = {0};
	const char *vals[2 + ENQUEUE_ARGS];
	char sseed[24], spass[16];
	int rc;
	snprintf(sseed, sizeof(sseed), "%" PRId64, seed);
	snprintf(spass, sizeof(spass), "%d", pass);
	vals[0] = sseed;
	vals[1] = spass;
	if ((rc = enqueue_args(first, first ? 1 : 0, a, vals + 2)) == 0)
		rc = run_text(p, "start a catalog pass",
			      "SELECT salvage.catalog_begin($1::bigint, $2::int, $3::text[], $4::text[], $5::bigint[],"
			      " $6::int[], $7::text[], $8::text[], $9::int[], $10::text[], $11::text[], $12::text[],"
			      " $13::boolean[])",
			      2 + ENQUEUE_ARGS, vals, NULL);
	arrs_free(a, ENQUEUE_ARGS);
	return rc;
}

/* A dataset with each of its URLs, a row each (the order of sv_queue_listing_row); the
 * state of a URL being worked on is its work row's. */
#define DATASET_ROWS                                                                                              \
	"SELECT d.id, d.seed, d.key, d.identifier, d.title, d.publisher, d.modified, d.meta, d.first_pass,"       \
	" d.last_pass, d.vanished_pass, u.url, u.kind, x.role, u.reason, coalesce(w.state, u.state), u.status,"   \
	" u.bytes FROM salvage.datasets d LEFT JOIN salvage.dataset_urls x ON x.dataset = d.id"                     \
	" LEFT JOIN salvage.urls u ON u.id = x.url LEFT JOIN salvage.work w ON w.id = u.id"

#define DATASETS_FETCH 1000 /* rows read at once: memory holds that many, whatever the catalogs' size */
#define STR_(x) #x
#define STR(x) STR_(x)

static const char *val_str(PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/*
 * The datasets that declare (a DECLARE of cursor sv_datasets over
 * DATASET_ROWS, ordered by dataset) selects, read through the cursor in the
 * caller's transaction, one dataset at a time to fn. 0, RUN_RETRY or a
 * negative SV_E code.
 */
static int each_dataset(pg_queue *p, const char *declare, int n, const char *const *vals,
			int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	sv_queue_listing l = SV_QUEUE_LISTING_INIT(fn, ctx);
	int rc = run_once(p, "read datasets", declare, n, vals, NULL, NULL, NULL), rows = DATASETS_FETCH;
	while (rc == 0 && rows == DATASETS_FETCH) {
		PGresult *r = NULL;
		rc = run_once(p, "read datasets", "FETCH " STR(DATASETS_FETCH) " FROM sv_datasets", 0, NULL, NULL, NULL,
			      &r);
		rows = rc ? 0 : PQntuples(r);
		for (int i = 0; rc == 0 && i < rows; i++) {
			sv_queue_listing_row x = {
				val_i64(r, i, 0), val_i64(r, i, 1), val_str(r, i, 2), val_str(r, i, 3), val_str(r, i, 4),
				val_str(r, i, 5), val_str(r, i, 6), val_str(r, i, 7), (int)val_i64(r, i, 8),
				(int)val_i64(r, i, 9), (int)val_i64(r, i, 10), val_str(r, i, 11), val_str(r, i, 12),
				val_str(r, i, 13), val_str(r, i, 14), (int)val_i64(r, i, 15), (int)val_i64(r, i, 16),
				val_i64(r, i, 17)};
			rc = sv_queue_listing_add(&l, &x);
		}
		PQclear(r);
	}
	if (rc == 0)
		rc = run_once(p, "read datasets", "CLOSE sv_datasets", 0, NULL, NULL, NULL, NULL);
	return sv_queue_listing_end(&l, rc);
}

/* A listing of datasets: which, and to whom. */
typedef struct {
	char sseed[24], spass[16];
	int (*fn)(void *ctx, const sv_queue_dataset_row *d);
	void *ctx;
} listing_job;

static void listing_job_init(listing_job *j, int64_t seed, int pass,
			     int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	snprintf(j->sseed, sizeof(j->sseed), "%" PRId64, seed);
	snprintf(j->spass, sizeof(j->spass), "%d", pass);
	j->fn = fn;
	j->ctx = ctx;
}

static int list_all(pg_queue *p, void *ctx)
{
	listing_job *j = ctx;
	const char *vals[1] = {j->sseed};
	return each_dataset(p,
			    "DECLARE sv_datasets NO SCROLL CURSOR FOR " DATASET_ROWS
			    " WHERE $1::bigint = 0 OR d.seed = $1::bigint ORDER BY d.seed, d.key COLLATE \"C\", d.id, u.id",
			    1, vals, j->fn, j->ctx);
}

static int q_datasets(sv_queue *q, int64_t seed, int (*fn)(void *ctx, const sv_queue_dataset_row *d), void *ctx)
{
	listing_job j;
	listing_job_init(&j, seed, 0, fn, ctx);
	return in_transaction(impl(q), "read datasets", "BEGIN READ ONLY", list_all, &j);
}

/* Under the row's catalog lock: the datasets about to vanish told, then marked. */
static int end_pass(pg_queue *p, void *ctx)
{
	listing_job *j = ctx;
	const char *vals[2] = {j->sseed, j->spass};
	int rc = run_once(p, "end a catalog pass", "SELECT salvage.catalog_lock($1::bigint)", 1, vals, NULL, NULL, NULL);
	if (rc == 0)
		rc = each_dataset(p,
				  "DECLARE sv_datasets NO SCROLL CURSOR FOR " DATASET_ROWS
				  " WHERE d.seed = $1::bigint AND d.last_pass < $2::int AND d.vanished_pass = 0"
				  " AND d.key NOT LIKE '" SV_QUEUE_UNREAD_PREFIX "%'"
				  " ORDER BY d.key COLLATE \"C\", d.id, u.id",
				  2, vals, j->fn, j->ctx);
	if (rc == 0)
		rc = run_once(p, "end a catalog pass", "SELECT salvage.catalog_end($1::bigint, $2::int)", 2, vals, NULL,
			      NULL, NULL);
	return rc;
}

static int q_catalog_end(sv_queue *q, int64_t seed, int pass, int (*fn)(void *ctx, const sv_queue_dataset_row *d),
			 void *ctx)
{
	listing_job j;
	listing_job_init(&j, seed, pass, fn, ctx);
	if (!fn) {
		const char *vals[2] = {j.sseed, j.spass};
		return run_text(impl(q), "end a catalog pass", "SELECT salvage.catalog_end($1::bigint, $2::int)", 2, vals,
				NULL);
	}
	return in_transaction(impl(q), "end a catalog pass", "BEGIN", end_pass, &j);
}

/* ---- open and close ---- */

static void q_close(sv_queue *q)
{
	pg_queue *p = impl(q);
	if (p) {
		if (p->conn)
			PQfinish(p->conn);
		free(p->location);
		free(p);
	}
	free(q);
}

static const sv_queue_ops POSTGRES_OPS = {
	.name = "postgresql",
	.add_sheet = q_add_sheet,
	.enqueue = q_enqueue,
	.claim = q_claim,
	.renew = q_renew,
	.complete = q_complete,
	.seed_params = q_seed_params,
	.stats = q_stats,
	.host_get = q_host_get,
	.host_set_robots = q_host_set_robots,
	.host_cooldown = q_host_cooldown,
	.host_robots_failed = q_host_robots_failed,
	.host_delay = q_host_delay,
	.robots_waiting = q_robots_waiting,
	.robots_retry = q_robots_retry,
	.release = q_release,
	.free_slots = q_free_slots,
	.failures = q_failures,
	.reclaim = q_reclaim,
	.pending = q_pending,
	.landing_add = q_landing_add,
	.settle = q_settle,
	.landings = q_landings,
	.datasets_put = q_datasets_put,
	.catalog_get = q_catalog_get,
	.catalog_begin = q_catalog_begin,
	.datasets = q_datasets,
	.catalog_end = q_catalog_end,
	.node_stats = q_node_stats,
	.wait = q_wait,
	.setting_get = q_setting_get,
	.setting_put = q_setting_put,
	.grant_worker = q_grant_worker,
	.close = q_close,
};

/* An older schema this one migrates in place. */
static int schema_old(const char *version)
{
	return !strcmp(version, "1") || !strcmp(version, "2") || !strcmp(version, "3");
}

/* Creates the schema (version none) or migrates an old one, inside the caller's locked transaction. */
static int build_schema(pg_queue *p, const char *version)
{
	int rc;
	if (!version)
		rc = run_once(p, "create the schema", PG_SCHEMA, 0, NULL, NULL, NULL, NULL);
	else
		rc = run_once(p, "migrate the schema", PG_MIGRATE, 0, NULL, NULL, NULL, NULL);
	if (rc == 0)
		rc = run_once(p, "create the schema's functions", PG_FUNCTIONS, 0, NULL, NULL, NULL, NULL);
	if (rc == 0)
		rc = run_once(p, "create the schema's functions", PG_SECURE, 0, NULL, NULL, NULL, NULL);
	if (rc == 0)
		rc = run_once(p, "create the schema",
			      "INSERT INTO salvage.meta(key, value) VALUES('schema', '" PG_SCHEMA_VERSION "')"
			      " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
			      0, NULL, NULL, NULL, NULL);
	return rc;
}

/*
 * The schema's version, creating the schema if there is none, or migrating
 * an older one in place: under a transaction-level advisory lock, in one
 * transaction, so that two coordinators (or workers) opening at once make it
 * once. A current schema is read without the lock or any DDL, which a role
 * that may only claim and complete could not run.
 */
static int migrate(pg_queue *p)
{
	static const char read_version[] = "SELECT value FROM salvage.meta WHERE key = 'schema'";
	PGresult *r = NULL;
	int rc = run_once(p, "read the schema version", read_version, 0, NULL, NULL, NULL, &r);
	int built = 0;
	if (rc == SV_EIO || (rc == 0 && PQntuples(r) == 1 && schema_old(PQgetvalue(r, 0, 0)))) {
		/* No schema yet (or no meta table), or an old one: made or migrated under the lock. */
		for (int attempt = 0; attempt < 8; attempt++) {
			PQclear(r);
			r = NULL;
			rc = run_once(p, "create the schema",
				      "BEGIN; SELECT pg_advisory_xact_lock(7735064117513461773);"
				      " CREATE SCHEMA IF NOT EXISTS salvage;"
				      " CREATE TABLE IF NOT EXISTS salvage.meta(key text PRIMARY KEY, value text NOT NULL)",
				      0, NULL, NULL, NULL, NULL);
			if (rc == 0)
				rc = run_once(p, "read the schema version", read_version, 0, NULL, NULL, NULL, &r);
			if (rc == 0 && (PQntuples(r) == 0 || schema_old(PQgetvalue(r, 0, 0)))) {
				rc = build_schema(p, PQntuples(r) ? PQgetvalue(r, 0, 0) : NULL);
				built = 1;
			}
			if (rc == 0)
				rc = run_once(p, "create the schema", "COMMIT", 0, NULL, NULL, NULL, NULL);
			else if (p->conn)
				run_once(p, "create the schema", "ROLLBACK", 0, NULL, NULL, NULL, NULL);
			if (rc != RUN_RETRY)
				break;
		}
		if (rc == RUN_RETRY)
			rc = sv_error_set(SV_EIO, "queue '%s': create the schema: deadlocked again and again", p->shown);
	} else if (rc == RUN_RETRY) {
		rc = sv_error_set(SV_EIO, "queue '%s': read the schema version: deadlocked", p->shown);
	}
	if (rc == 0 && !built) {
		const char *v = PQntuples(r) ? PQgetvalue(r, 0, 0) : "(none)";
		if (strcmp(v, PG_SCHEMA_VERSION))
			rc = sv_error_set(SV_EINVAL, "queue '%s' has schema %s; this salvage reads %s", p->shown, v,
					  PG_SCHEMA_VERSION);
	}
	PQclear(r);
	return rc;
}

int sv_queue_postgres_open(sv_queue **out, const char *location, const sv_queue_options *opts)
{
	sv_queue *q = calloc(1, sizeof(*q));
	pg_queue *p = calloc(1, sizeof(*p));
	char *err = NULL;
	int rc;

	*out = NULL;
	if (!q || !p || !(p->location = strdup(location))) {
		free(q);
		if (p)
			free(p->location);
		free(p);
		return sv_error_set(SV_EIO, "out of memory");
	}
	q->ops = POSTGRES_OPS;
	q->opts = *opts;
	q->impl = p;
	/* User info replaced as everywhere, and any password given as a parameter. */
	sv_queue_shown(p->shown, sizeof(p->shown), location);
	sv_redact_scrub(p->shown, sizeof(p->shown), location);
	p->timeout_ms = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 60000;
	/* A location libpq cannot parse is bad usage, not an unreachable server. */
	PQconninfoOption *parsed = PQconninfoParse(location, &err);
	if (!parsed) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err ? err : "out of memory");
		msg[strcspn(msg, "\n")] = '\0';
		sv_redact_scrub(msg, sizeof(msg), location);
		PQfreemem(err);
		rc = sv_error_set(err ? SV_EINVAL : SV_EIO, "queue '%s': %s", p->shown, msg);
		q_close(q);
		return rc;
	}
	PQconninfoFree(parsed);
	if ((rc = pg_connect(p)) || (rc = migrate(p))) {
		q_close(q);
		return rc;
	}
	*out = q;
	return 0;
}
