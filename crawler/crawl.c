/*
 * crawler/crawl.c -- the fetcher processes of a crawl (see crawl.h).
 */
#include "crawl.h"

#include "catalog.h"

#include "partial.h"

#include "../common/clock.h"
#include "../queue/outbox.h"

#include "../common/error.h"
#include "../common/header.h"
#include "../storage/capture.h"
#include "../storage/index.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requests;
static int in_fetcher;

static void on_signal(int sig)
{
	(void)sig;
	stop_requests++;
	if (in_fetcher && stop_requests >= 2)
		_exit(130);
}

static void install_signals(int fetcher)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	in_fetcher = fetcher;
	if (fetcher)
		signal(SIGINT, SIG_IGN);
	else
		sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * A lease name is "node:pid:index" (node: the archive's, sv_archive.node; every
 * lease name of this archive's fetchers starts with "node:"); the fetcher is alive while a salvage
 * process that is not a zombie has its pid (a reused pid is not the fetcher).
 */
static int pid_alive(int64_t pid)
{
	char path[64], buf[512];
	if (pid <= 0)
		return 1; /* not ours to judge */
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ...": comm may hold spaces and parentheses, state follows the last ')'. */
	char *open = strchr(buf, '('), *close = strrchr(buf, ')');
	if (!open || !close || close[1] != ' ')
		return 1;
	char state = close[2];
	*close = '\0';
	return strcmp(open + 1, "salvage") == 0 && state != 'Z' && state != 'X';
}

static int node_alive(const char *node)
{
	const char *p = strchr(node, ':');
	return pid_alive(p ? strtol(p + 1, NULL, 10) : 0);
}

/*
 * The queue as fetchers use it. A shared queue (any location but the
 * archive's queue.db) is seen through the archive's outbox.db
 * (queue/outbox.h): while its database cannot be reached, fetchers go on and
 * their writes wait there; the archive's own queue is used as it is.
 */
static int fetch_queue(const sv_archive *a, const char *queue_url, sv_queue **out)
{
	sv_queue_outbox_options oo = SV_QUEUE_OUTBOX_OPTIONS_INIT;
	sv_queue *q = NULL;
	int rc = sv_archive_fetch_queue(a, queue_url, &q);
	if (rc || !sv_archive_queue_shared(a, queue_url)) {
		*out = q;
		return rc;
	}
	char *path = sv_archive_path(a, "outbox.db");
	if (!path) {
		sv_queue_close(q);
		return sv_error_set(SV_EIO, "out of memory");
	}
	oo.alive = pid_alive;
	rc = sv_queue_outbox_open(out, q, path, &oo);
	free(path);
	return rc;
}

/* A fetcher's way into the ledger (one file of capture records per checkpoint), then the capture index. */
typedef struct {
	sv_ledger *ledger;
	sv_index *index;
	const char *branch;
	const char *machine;
	unsigned seq;
} ledger_sink;

static int commit_records(void *ctx, const char *const *records, size_t n)
{
	ledger_sink *ls = ctx;
	char by[64];
	snprintf(by, sizeof(by), "fetcher %d", (int)getpid());
	return sv_archive_commit_records(ls->ledger, ls->index, ls->branch, ls->machine, &ls->seq, records, n, by);
}

/* The last 2xx capture of one URL, exactly: its ETag and Last-Modified. */
typedef struct {
	const char *url;
	char *etag, *last_modified;
} validators_found;

static int see_capture(void *ctx, const sv_index_row *row)
{
	validators_found *v = ctx;
	sv_capture_parsed c;
	if (strcmp(row->url, v->url) || row->status < 200 || row->status >= 300)
		return 0;
	if (sv_capture_parse(&c, row->record, strlen(row->record)) == 0 && c.c.headers) {
		free(v->etag);
		free(v->last_modified);
		v->etag = sv_header_find(c.c.headers, c.c.headers_len, "ETag");
		v->last_modified = sv_header_find(c.c.headers, c.c.headers_len, "Last-Modified");
	}
	sv_capture_parsed_clear(&c);
	return 0;
}

static int validators_of(void *ctx, const char *url, char **etag, char **last_modified)
{
	ledger_sink *ls = ctx;
	validators_found v = {url, NULL, NULL};
	int rc = sv_index_list(ls->index, url, see_capture, &v);
	*etag = v.etag;
	*last_modified = v.last_modified;
	return rc;
}

static int child(const sv_archive *a, const sv_crawl_options *co, sv_fetch_stats *stats, int index)
{
	sv_queue *q = NULL;
	sv_objects *store = NULL;
	sv_fetch_options o;
	char node[SV_ARCHIVE_NODE_MAX + 32], log[64], *tmp = sv_archive_path(a, "tmp"), *log_path;
	char agent[SV_ARCHIVE_CONTACT_MAX + 64];
	ledger_sink sink = {NULL, NULL, co->branch ? co->branch : "main", a->node, 0};
	int rc;

	install_signals(1);
	snprintf(node, sizeof(node), "%s:%d:%d", a->node, (int)getpid(), index);
	snprintf(log, sizeof(log), "logs/captures-%d.jsonl", (int)getpid());
	log_path = sv_archive_path(a, log);
	sv_fetch_options_init(&o);
	o.node = node;
	o.machine = a->node;
	o.commit_records = commit_records;
	o.commit_ctx = &sink;
	o.validators = validators_of;
	o.validators_ctx = &sink;
	o.tmp_dir = tmp;
	o.transfers = co->transfers;
	o.robots = co->robots;
	o.ca_file = a->ca_file;
	o.netrc_file = a->netrc_file;
	o.socrata_token = a->socrata_token;
	o.datagov_key = a->datagov_key;
	o.insecure_hosts = (const char *const *)a->insecure_hosts;
	o.ninsecure = a->ninsecure;
	o.allow_private = (const char *const *)a->allow_private;
	o.nallow_private = a->nallow_private;
	o.allow_private_all = a->allow_private_all;
	o.robots_attempts = a->robots_attempts;
	o.lease_ms = a->lease_seconds * 1000;
	sv_archive_user_agent(a, agent, sizeof(agent));
	o.user_agent = agent;
	o.stop = &stop_requests;
	o.stats = stats;
	o.log_path = log_path;
	if ((rc = fetch_queue(a, co->queue_url, &q)) == 0 && (rc = sv_archive_objects(a, &store)) == 0 &&
	    (rc = sv_archive_ledger(a, &sink.ledger)) == 0 && (rc = sv_archive_index(a, &sink.index)) == 0) {
		if (co->jobs > 1)
			sv_queue_set_node_share(q, (a->host_max_inflight + co->jobs - 1) / co->jobs);
		sv_queue_set_robots_first(q, co->robots);
		rc = sv_fetch_run(q, store, &o);
	}
	if (rc && co->event)
		co->event(co->ctx, &(sv_crawl_event){SV_CRAWL_FETCHER_FAILED, index, sv_error_last()});
	int64_t down_since = 0, kept = 0;
	if (q)
		sv_queue_reach(q, &down_since, &kept);
	if (kept && co->event) {
		char msg[160];
		snprintf(msg, sizeof(msg), "%lld updates kept in outbox.db: the next crawl or worker on this archive delivers them",
			 (long long)kept);
		co->event(co->ctx, &(sv_crawl_event){SV_CRAWL_KEPT_LOCALLY, index, msg});
	}
	sv_index_close(sink.index);
	sv_ledger_free(sink.ledger);
	sv_objects_free(store);
	sv_queue_close(q);
	free(tmp);
	free(log_path);
	return rc ? sv_error_exit_status(rc) : 0;
}

int sv_crawl_prepare(const sv_archive *a, const char *queue_url, int catalog_passes, size_t *reclaimed)
{
	sv_queue *q = NULL;
	sv_objects *store = NULL;
	char prefix[SV_ARCHIVE_NODE_MAX + 2];
	int rc;
	*reclaimed = 0;
	/* Leases of this archive's fetchers that died (kill -9, power cut) come back now,
	 * not when they expire. */
	snprintf(prefix, sizeof(prefix), "%s:", a->node);
	if ((rc = fetch_queue(a, queue_url, &q)) == 0)
		rc = sv_queue_reclaim(q, prefix, node_alive, reclaimed);
	/* Hosts whose robots.txt failed in an earlier run get their tries again: their URLs continue. */
	size_t retried;
	if (rc == 0)
		rc = sv_queue_robots_retry(q, &retried);
	/* Catalog rows whose last pass is over read their catalog again. */
	size_t passes;
	if (rc == 0 && catalog_passes)
		rc = sv_catalog_start_passes(q, &passes);
	/* A shared queue that cannot be reached now: the fetchers wait for it (the
	 * leases of dead fetchers then run out instead of coming back at once). */
	if (rc == SV_EUNREACHABLE)
		rc = 0;
	if (rc == 0 && (rc = sv_archive_objects(a, &store)) == 0)
		rc = sv_objects_clean_temps(store, NULL);
	if (rc == 0) {
		char *tmp = sv_archive_path(a, "tmp");
		rc = tmp ? sv_partial_clean(tmp) : sv_error_set(SV_EIO, "out of memory");
		free(tmp);
	}
	/* An index never built is built now, once, rather than by every fetcher at once. */
	sv_index *ix = NULL;
	if (rc == 0)
		rc = sv_archive_index(a, &ix);
	sv_index_close(ix);
	sv_objects_free(store);
	sv_queue_close(q);
	return rc;
}

#define DOWN_TELL_MS 30000 /* how often an outage is told again while it lasts */

/* Tells when the fetchers' shared queue cannot be reached (and again every DOWN_TELL_MS), and when it answers again. */
static void watch_reach(const sv_crawl_options *co, const sv_fetch_stats *stats, int jobs, int64_t *told,
			int64_t *told_at)
{
	int64_t since = 0, now = sv_now_ms();
	uint64_t kept = 0;
	char msg[160];
	for (int i = 0; i < jobs; i++) {
		if (stats[i].queue_down_since_ms && (!since || stats[i].queue_down_since_ms < since))
			since = stats[i].queue_down_since_ms;
		kept += stats[i].kept_locally;
	}
	if (!co->event || (since && *told && now - *told_at < DOWN_TELL_MS) || (!since && !*told))
		return;
	if (since) {
		time_t t = (time_t)(since / 1000);
		struct tm tm;
		localtime_r(&t, &tm);
		snprintf(msg, sizeof(msg), "queue unreachable since %02d:%02d:%02d, %llu updates kept locally; "
			 "downloads go on", tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned long long)kept);
	} else {
		snprintf(msg, sizeof(msg), "queue reachable again; %llu updates still to deliver",
			 (unsigned long long)kept);
	}
	co->event(co->ctx, &(sv_crawl_event){since ? SV_CRAWL_QUEUE_DOWN : SV_CRAWL_QUEUE_BACK, 0, msg});
	*told = since;
	*told_at = now;
}

/* Forks the fetchers and watches them until every one is gone. */
static void run_fetchers(const sv_archive *a, const sv_crawl_options *co, sv_fetch_stats *stats, sv_crawl_result *out)
{
	pid_t pids[SV_CRAWL_MAX_JOBS];
	int started = 0;
	for (; started < co->jobs; started++) {
		pid_t pid = fork();
		if (pid == 0)
			exit(child(a, co, &stats[started], started)); /* exit, not _exit: leak checks run */
		if (pid < 0) {
			char msg[256];
			snprintf(msg, sizeof(msg), "cannot start a fetcher: %s", strerror(errno));
			if (co->event)
				co->event(co->ctx, &(sv_crawl_event){SV_CRAWL_CANNOT_START, started, msg});
			out->failed_fetchers++;
			break;
		}
		pids[started] = pid;
	}

	int alive = started, forwarded = 0;
	int64_t down_told = 0, told_at = 0;
	while (alive > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0 || (pid < 0 && errno == EINTR)) {
			if (stop_requests > forwarded) {
				if (!forwarded && co->event)
					co->event(co->ctx, &(sv_crawl_event){SV_CRAWL_STOPPING, 0, NULL});
				for (int i = 0; i < started; i++)
					kill(pids[i], stop_requests >= 2 ? SIGKILL : SIGTERM);
				forwarded = stop_requests;
			}
			if (co->progress)
				co->progress(co->ctx, stats, started);
			watch_reach(co, stats, started, &down_told, &told_at);
			usleep(50000);
			continue;
		}
		if (pid < 0)
			break;
		alive--;
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
		if (stop_requests && (!WIFEXITED(status) || code == 130))
			code = 0; /* stopped at the user's request */
		if (code == 3)
			out->failed_fetchers++;
	}
	watch_reach(co, stats, started, &down_told, &told_at); /* the last word of fetchers that ended */
}

/*
 * The queue drained: waits for new work (sv_queue_wait: notified on postgres,
 * a sleep on sqlite; never a busy poll). 1 when URLs are queued, or when
 * others' leases may have expired (SV_CRAWL_EXPIRY_MS with URLs leased: only a
 * claim gives expired leases back); 0 on a stop; or a negative error.
 */
#define SV_CRAWL_WAIT_MS 2000
#define SV_CRAWL_EXPIRY_MS 60000
static int wait_for_work(const sv_archive *a, const sv_crawl_options *co, sv_fetch_stats *stats)
{
	sv_queue *q = NULL;
	int64_t leased_since = 0;
	int rc = fetch_queue(a, co->queue_url, &q);
	while (rc == 0 && !stop_requests) {
		int64_t queued = 0, leased = 0, now;
		if ((rc = sv_queue_pending(q, &queued, &leased)))
			break;
		now = sv_queue_now_ms(q);
		leased_since = leased ? (leased_since ? leased_since : now) : 0;
		if (queued > 0 || (leased_since && now - leased_since >= SV_CRAWL_EXPIRY_MS)) {
			rc = 1;
			break;
		}
		if (co->progress)
			co->progress(co->ctx, stats, co->jobs);
		rc = sv_queue_wait(q, SV_CRAWL_WAIT_MS);
	}
	sv_queue_close(q);
	return rc;
}

int sv_crawl_run(const sv_archive *a, const sv_crawl_options *co, sv_crawl_result *out)
{
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (co->jobs < 1 || co->jobs > SV_CRAWL_MAX_JOBS)
		return sv_error_set(SV_EINVAL, "a crawl takes 1 to %d fetchers", SV_CRAWL_MAX_JOBS);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sv_fetch_stats *stats = mmap(NULL, sizeof(sv_fetch_stats) * (size_t)co->jobs, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED) {
		curl_global_cleanup();
		return sv_error_errno(errno, "cannot share statistics");
	}
	memset(stats, 0, sizeof(sv_fetch_stats) * (size_t)co->jobs);
	stop_requests = 0;
	install_signals(0);
	signal(SIGPIPE, SIG_IGN);

	do
		run_fetchers(a, co, stats, out);
	while (co->forever && !stop_requests && !out->failed_fetchers && (rc = wait_for_work(a, co, stats)) == 1);

	munmap(stats, sizeof(sv_fetch_stats) * (size_t)co->jobs);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	out->stopped = stop_requests > 0;
	curl_global_cleanup();
	return rc;
}
