/*
 * cli/cmd_seed.c -- salvage seed SHEET.csv...: load seed sheets into the
 * queue without fetching. Loading the same sheet again adds nothing; an
 * edited sheet updates its rows; rows taken out of it are paused.
 *
 * On a shared queue (--queue or queue.url) the coordinator's politeness
 * (crawl.hostConnections, crawl.delayMs) is written into the queue for every
 * worker; --grant-worker ROLE makes a PostgreSQL role that may do a worker's
 * work and nothing else. A password is read only from --password-file, never
 * taken on the command line, and is shown nowhere.
 *
 * Catalog rows whose last pass is over (or that never had one) start a pass
 * here, as `crawl` does when it starts: on a shared queue the coordinator
 * decides when catalogs are read again, not whichever worker starts next.
 */
#include "cli.h"
#include "../crawler/catalog.h"
#include "../crawler/seeding.h"

#include "../common/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The first line of path (its line end cut) into buf: 0, or SV_EINVAL. */
static int read_password(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	int rc = 0;
	if (!f)
		return sv_error_set(SV_EINVAL, "cannot read the password file '%s': %s", path, strerror(errno));
	if (!fgets(buf, (int)cap, f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0])
		rc = sv_error_set(SV_EINVAL, "the password file '%s' has no password on its first line", path);
	else if (strlen(buf) + 1 >= cap)
		rc = sv_error_set(SV_EINVAL, "the password in '%s' is longer than %zu bytes", path, cap - 2);
	return rc;
}

/* Catalog rows with no pass under way start one: their catalog is read (again). */
static int start_passes(sv_queue *q)
{
	size_t started = 0;
	int rc = sv_catalog_start_passes(q, &started);
	if (rc == 0 && started)
		printf("%zu catalog row%s: a pass started (read by the crawl, or the workers)\n", started,
		       started == 1 ? "" : "s");
	return rc;
}

/* The coordinator's politeness, held by the shared queue for every worker; told
 * when it is new or changed (seeding again with the same settings says nothing). */
static int share_settings(const sv_archive *a, sv_queue *q)
{
	sv_queue_crawl_settings s = {a->host_max_inflight, a->host_delay_ms}, held = s;
	int found = 0, rc = sv_queue_crawl_settings_get(q, &held, &found);
	if (rc || (found && held.host_connections == s.host_connections && held.delay_ms == s.delay_ms))
		return rc;
	if ((rc = sv_queue_crawl_settings_put(q, &s)) == 0)
		printf("every worker of this queue keeps crawl.hostConnections %d and crawl.delayMs %d\n",
		       s.host_connections, s.delay_ms);
	return rc;
}

static int grant(sv_queue *q, const char *role, const char *password)
{
	int created = 0, rc = sv_queue_grant_worker(q, role, password, &created);
	if (rc)
		return rc;
	printf("role %s %s: it may claim, renew, complete and queue URLs and keep catalogs' datasets, nothing else\n",
	       role, created ? "created" : "exists");
	if (password)
		printf("role %s: password set from the password file\n", role);
	else if (created)
		printf("role %s has no password: set one with psql's \\password %s, or run this again with"
		       " --password-file FILE\n",
		       role, role);
	return 0;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	const char *queue_url = NULL, *role = NULL, *password_file = NULL;
	char password[1024] = "";
	char *paths[256];
	size_t n = 0;
	int skip = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--skip-bad-rows"))
			skip = 1;
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			queue_url = argv[++i];
		else if (!strcmp(argv[i], "--grant-worker") && i + 1 < argc)
			role = argv[++i];
		else if (!strcmp(argv[i], "--password-file") && i + 1 < argc)
			password_file = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (n == sizeof(paths) / sizeof(paths[0]))
			return sv_cli_usage(cmd, "too many sheets (at most 256 at once)");
		else
			paths[n++] = argv[i];
	}
	if (n == 0 && !role)
		return sv_cli_usage(cmd, "seed needs at least one sheet");
	if (password_file && !role)
		return sv_cli_usage(cmd, "--password-file is the password of --grant-worker's role");
	if (password_file && (rc = read_password(password_file, password, sizeof(password))))
		return sv_cli_error(rc);
	if ((rc = sv_cli_archive(&a))) {
		explicit_bzero(password, sizeof(password));
		return rc;
	}
	if (!queue_url)
		queue_url = a->queue_url;
	sv_ledger *ledger = NULL;
	rc = sv_archive_queue(a, queue_url, &q);
	if (rc == 0 && role)
		rc = grant(q, role, password_file ? password : NULL);
	explicit_bzero(password, sizeof(password));
	if (rc == 0 && sv_archive_queue_shared(a, queue_url))
		rc = share_settings(a, q);
	if (rc == 0 && n && (rc = sv_archive_ledger(a, &ledger)) == 0)
		rc = sv_seed_sheets(q, ledger, paths, n, skip, sv_cli_seed_report, NULL);
	if (rc == 0 && n)
		rc = start_passes(q);
	if (rc)
		rc = sv_cli_error(rc);
	sv_ledger_free(ledger);
	sv_queue_close(q);
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_seed = {
	"seed", run, "load seed sheets into the queue",
	"usage: salvage seed [--skip-bad-rows] [--queue URL] SHEET.csv...\n"
	"       salvage seed --queue postgresql://... --grant-worker ROLE [--password-file FILE] [SHEET.csv...]\n"
	"\n"
	"Reads each sheet (CSV from Excel, LibreOffice or Google Sheets; a header row\n"
	"with a 'url' column) and queues its rows. Every problem is reported as\n"
	"FILE:LINE:COLUMN: message and nothing is loaded, unless --skip-bad-rows.\n"
	"Loading a sheet again adds nothing; edited rows are updated; rows taken\n"
	"out of the sheet are paused. A catalog row (kind dcat, ckan, socrata, arcgis,\n"
	"datagov, auto) with no pass under way starts one: its catalog is read, and\n"
	"read again, fetching only what changed, each time it is seeded after that.\n"
	"\n"
	"Columns: url (required), scope (page|prefix|host|domain), depth, priority,\n"
	"include, exclude, robots (respect|ignore), delay (seconds), max_urls,\n"
	"max_bytes, datasets (yes|no). Any other column is kept and shown by status.\n"
	"\n"
	"  --skip-bad-rows  load the good rows, still reporting the bad ones\n"
	"  --queue URL      the queue to load into (default: queue.url, or queue.db here)\n"
	"  --grant-worker ROLE\n"
	"                   make PostgreSQL role ROLE (LOGIN) if there is none, and let it\n"
	"                   do a worker's work and nothing else (no DELETE, no table\n"
	"                   writes, no schema changes, no other node's leases); again:\n"
	"                   the same rights\n"
	"  --password-file FILE\n"
	"                   ROLE's password: the first line of FILE (sent to the server\n"
	"                   only as a SCRAM verifier)\n"
	"\n"
	"On a shared queue (--queue or queue.url), this archive's crawl.hostConnections\n"
	"and crawl.delayMs are written into the queue: every worker uses them.\n",
};
