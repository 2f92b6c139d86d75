/*
 * cli/cmd_crawl.c -- salvage crawl [SHEET.csv...]: load the sheets, fork
 * fetcher processes, and run until the queue drains.
 *
 * The parent only watches: it shows progress on a terminal, passes Ctrl-C
 * on, and prints the summary from the queue when every fetcher is gone. A
 * fetcher holds its own queue connection and object store handle (SQLite
 * connections must not cross fork()). Running the same command again after
 * a stop, a crash or kill -9 resumes: leases of dead fetchers expire.
 */
#include "cli.h"
#include "../crawler/fetch.h"
#include "../crawler/partial.h"
#include "../crawler/seeding.h"

#include "../common/error.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Ctrl-C reaches the parent only (fetchers ignore SIGINT); the parent passes
 * each stop on as SIGTERM: the first makes fetchers stop cleanly, the second
 * ends them at once (their leases expire and the next run resumes).
 */
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

typedef struct {
	int jobs, transfers, robots;
	const char *queue_url;
} crawl_opts;

/* "host:" -- the start of every lease name this machine's fetchers use. */
static int node_prefix(char *buf, size_t cap)
{
	char host[128] = "localhost";
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	return snprintf(buf, cap, "%s:", host) < (int)cap ? 0 : -1;
}

/*
 * A lease name is "host:pid:index"; the fetcher is alive while a salvage
 * process that is not a zombie has its pid (a reused pid is not the fetcher).
 */
static int node_alive(const char *node)
{
	const char *p = strchr(node, ':');
	long pid = p ? strtol(p + 1, NULL, 10) : 0;
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

/* A fetcher's way into the ledger: one file of capture records per checkpoint. */
typedef struct {
	sv_ledger *ledger;
	const char *machine;
	unsigned seq;
} ledger_sink;

static int commit_records(void *ctx, const char *const *records, size_t n)
{
	ledger_sink *ls = ctx;
	char by[64];
	snprintf(by, sizeof(by), "fetcher %d", (int)getpid());
	return sv_archive_commit_records(ls->ledger, ls->machine, &ls->seq, records, n, by);
}

static int child(const sv_archive *a, const crawl_opts *co, sv_fetch_stats *stats, int index)
{
	sv_queue *q = NULL;
	sv_objects *store = NULL;
	sv_fetch_options o;
	char host[128] = "localhost", machine[256], node[200], log[64], *tmp = sv_archive_path(a, "tmp"), *log_path;
	ledger_sink sink = {NULL, machine, 0};
	int rc;

	install_signals(1);
	gethostname(host, sizeof(host) - 1);
	sv_archive_machine(machine, sizeof(machine));
	snprintf(node, sizeof(node), "%s:%d:%d", host, (int)getpid(), index);
	snprintf(log, sizeof(log), "logs/captures-%d.jsonl", (int)getpid());
	log_path = sv_archive_path(a, log);
	sv_fetch_options_init(&o);
	o.node = node;
	o.machine = machine;
	o.commit_records = commit_records;
	o.commit_ctx = &sink;
	o.tmp_dir = tmp;
	o.transfers = co->transfers;
	o.robots = co->robots;
	o.stop = &stop_requests;
	o.stats = stats;
	o.log_path = log_path;
	if ((rc = sv_archive_queue(a, co->queue_url, &q)) == 0 && (rc = sv_archive_objects(a, &store)) == 0 &&
	    (rc = sv_archive_ledger(a, &sink.ledger)) == 0) {
		if (co->jobs > 1)
			sv_queue_set_node_share(q, (a->host_max_inflight + co->jobs - 1) / co->jobs);
		rc = sv_fetch_run(q, store, &o);
	}
	if (rc)
		fprintf(stderr, "salvage: fetcher %d: %s\n", index, sv_error_last());
	sv_ledger_free(sink.ledger);
	sv_objects_free(store);
	sv_queue_close(q);
	free(tmp);
	free(log_path);
	return rc ? sv_error_exit_status(rc) : 0;
}

static void progress(const sv_fetch_stats *s, int jobs, sv_queue *q, const sv_cli_meter *m)
{
	sv_fetch_stats t = {0};
	int64_t queued = 0, leased = 0;
	for (int i = 0; i < jobs; i++) {
		t.done += s[i].done;
		t.pages += s[i].pages;
		t.datasets += s[i].datasets;
		t.failed += s[i].failed;
		t.bytes += s[i].bytes;
		t.inflight += s[i].inflight;
		t.big_inflight += s[i].big_inflight;
	}
	if (q)
		sv_queue_pending(q, &queued, &leased);
	double secs = sv_cli_meter_seconds(m);
	fprintf(stderr,
		"\r\033[K%llu done (%llu pages, %llu datasets), %lld queued, %llu in flight%s, %llu failed, "
		"%.1f pages/s, %.1f MB/s",
		(unsigned long long)t.done, (unsigned long long)t.pages, (unsigned long long)t.datasets,
		(long long)queued, (unsigned long long)t.inflight, t.big_inflight ? " (large downloads)" : "",
		(unsigned long long)t.failed, secs > 0 ? (double)t.pages / secs : 0.0,
		secs > 0 ? (double)t.bytes / 1e6 / secs : 0.0);
}

static int print_reason(void *ctx, const char *reason, int64_t count)
{
	(void)ctx;
	printf("  %6lld  %s\n", (long long)count, reason);
	return 0;
}

static int summary(const sv_archive *a, const crawl_opts *co, int stopped, double secs)
{
	sv_queue *q = NULL;
	sv_queue_seed_stats *rows = NULL, t;
	size_t n = 0;
	int rc;
	if ((rc = sv_archive_queue(a, co->queue_url, &q)) || (rc = sv_queue_stats(q, &rows, &n, &t))) {
		sv_queue_close(q);
		return -sv_cli_error(rc);
	}
	printf("%s after %.1f s: %lld URLs done, %.1f MB; %lld failed; %lld skipped (robots.txt); "
	       "%lld datasets found\n",
	       stopped ? "crawl stopped" : "crawl finished", secs, (long long)t.done, (double)t.bytes / 1e6,
	       (long long)t.failed, (long long)t.skipped, (long long)t.datasets);
	if (t.failed) {
		printf("failures by reason:\n");
		sv_queue_failures(q, print_reason, NULL);
	}
	if (stopped || t.queued + t.leased > 0)
		printf("%lld URLs remain: run the same command again to resume\n", (long long)(t.queued + t.leased));
	sv_queue_stats_free(rows, n);
	sv_queue_close(q);
	return t.failed > 0 && !stopped ? 1 : 0;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	crawl_opts co = {0, 0, 1, NULL};
	sv_archive *a = NULL;
	char *sheets[256];
	size_t nsheets = 0;
	int skip = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
			co.jobs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--transfers") && i + 1 < argc)
			co.transfers = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--queue") && i + 1 < argc)
			co.queue_url = argv[++i];
		else if (!strcmp(argv[i], "--skip-bad-rows"))
			skip = 1;
		else if (!strcmp(argv[i], "--ignore-robots"))
			co.robots = 0;
		else if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (nsheets == sizeof(sheets) / sizeof(sheets[0]))
			return sv_cli_usage(cmd, "too many sheets (at most 256 at once)");
		else
			sheets[nsheets++] = argv[i];
	}
	if (co.jobs < 0 || co.jobs > 64 || co.transfers < 0 || co.transfers > 1024)
		return sv_cli_usage(cmd, "--jobs takes 1..64 and --transfers 1..1024");
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (co.jobs == 0)
		co.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN) > 0 ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1;
	if (co.transfers == 0)
		co.transfers = a->transfers;
	if (!a->robots)
		co.robots = 0;

	/* Load the sheets, and clean what an earlier run left, before any fetcher starts. */
	{
		sv_queue *q = NULL;
		sv_objects *store = NULL;
		char prefix[160];
		size_t reclaimed = 0;
		sv_ledger *ledger = NULL;
		if ((rc = sv_archive_queue(a, co.queue_url, &q)) == 0 && (rc = sv_archive_ledger(a, &ledger)) == 0 &&
		    nsheets)
			rc = sv_seed_sheets(q, ledger, sheets, nsheets, skip, stdout, stderr);
		sv_ledger_free(ledger);
		/* Leases of this machine's fetchers that died (kill -9, power cut) come back now,
		 * not when they expire. */
		if (rc == 0 && node_prefix(prefix, sizeof(prefix)) == 0 &&
		    (rc = sv_queue_reclaim(q, prefix, node_alive, &reclaimed)) == 0 && reclaimed)
			printf("%zu URLs held by stopped fetchers of this machine are queued again\n", reclaimed);
		if (rc == 0 && (rc = sv_archive_objects(a, &store)) == 0)
			rc = sv_objects_clean_temps(store, NULL);
		if (rc == 0) {
			char *tmp = sv_archive_path(a, "tmp");
			rc = tmp ? sv_partial_clean(tmp) : sv_error_set(SV_EIO, "out of memory");
			free(tmp);
		}
		sv_objects_free(store);
		sv_queue_close(q);
		if (rc) {
			rc = sv_cli_error(rc);
			sv_archive_free(a);
			return rc;
		}
	}
	fflush(stdout);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sv_fetch_stats *stats = mmap(NULL, sizeof(sv_fetch_stats) * (size_t)co.jobs, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED) {
		sv_archive_free(a);
		return sv_cli_error(sv_error_errno(errno, "cannot share statistics"));
	}
	memset(stats, 0, sizeof(sv_fetch_stats) * (size_t)co.jobs);
	install_signals(0);
	signal(SIGPIPE, SIG_IGN);

	sv_cli_meter meter;
	sv_cli_meter_start(&meter);
	pid_t pids[64];
	int started = 0, worst = 0;
	for (; started < co.jobs; started++) {
		pid_t pid = fork();
		if (pid == 0)
			exit(child(a, &co, &stats[started], started)); /* exit, not _exit: leak checks run */
		if (pid < 0) {
			fprintf(stderr, "salvage: cannot start a fetcher: %s\n", strerror(errno));
			worst = 3;
			break;
		}
		pids[started] = pid;
	}

	int show = sv_cli_progress_enabled(), alive = started, forwarded = 0;
	sv_queue *watch = NULL;
	sv_cli_meter tick;
	sv_cli_meter_start(&tick);
	if (show && sv_archive_queue(a, co.queue_url, &watch) != 0)
		watch = NULL;
	while (alive > 0) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0 || (pid < 0 && errno == EINTR)) {
			if (stop_requests > forwarded) {
				if (show)
					sv_cli_progress_clear();
				if (!forwarded)
					fprintf(stderr, "salvage: stopping: keeping what is stored, releasing the rest "
							"(Ctrl-C again to stop at once)\n");
				for (int i = 0; i < started; i++)
					kill(pids[i], stop_requests >= 2 ? SIGKILL : SIGTERM);
				forwarded = stop_requests;
			}
			if (show && sv_cli_meter_due(&tick))
				progress(stats, started, watch, &meter);
			usleep(50000);
			continue;
		}
		if (pid < 0)
			break;
		alive--;
		int code = WIFEXITED(status) ? WEXITSTATUS(status) : 3;
		if (stop_requests && (!WIFEXITED(status) || code == 130))
			code = 0; /* stopped at the user's request */
		if (code > worst)
			worst = code;
	}
	sv_queue_close(watch);
	if (show)
		sv_cli_progress_clear();
	munmap(stats, sizeof(sv_fetch_stats) * (size_t)co.jobs);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	rc = summary(a, &co, stop_requests > 0, sv_cli_meter_seconds(&meter));
	sv_archive_free(a);
	curl_global_cleanup();
	if (rc < 0)
		return -rc;
	if (worst == 3)
		return 3;
	return rc;
}

const sv_command sv_cmd_crawl = {
	"crawl", run, "load sheets and fetch until the queue drains",
	"usage: salvage crawl [--jobs N] [--transfers N] [--skip-bad-rows] [--ignore-robots]\n"
	"                     [--queue URL] [SHEET.csv...]\n"
	"\n"
	"Loads the sheets (as 'salvage seed' does) and fetches every page and dataset\n"
	"in scope of their rows, storing each payload once in the archive. Ctrl-C\n"
	"stops cleanly (twice: at once); running the same command again resumes.\n"
	"Exit status 0 when everything was fetched, 1 when URLs failed for good.\n"
	"\n"
	"  --jobs N        fetcher processes (default: one per CPU)\n"
	"  --transfers N   transfers at once per fetcher (default crawl.transfers, 32)\n"
	"  --ignore-robots do not fetch or obey robots.txt (also crawl.robots = ignore)\n",
};
