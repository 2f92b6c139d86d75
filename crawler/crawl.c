/*
 * crawler/crawl.c -- the fetcher processes of a crawl (see crawl.h).
 */
#include "crawl.h"

#include "partial.h"

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

/* A fetcher's way into the ledger (one file of capture records per checkpoint), then the capture index. */
typedef struct {
	sv_ledger *ledger;
	sv_index *index;
	const char *machine;
	unsigned seq;
} ledger_sink;

static int commit_records(void *ctx, const char *const *records, size_t n)
{
	ledger_sink *ls = ctx;
	char by[64];
	snprintf(by, sizeof(by), "fetcher %d", (int)getpid());
	return sv_archive_commit_records(ls->ledger, ls->index, ls->machine, &ls->seq, records, n, by);
}

static int child(const sv_archive *a, const sv_crawl_options *co, sv_fetch_stats *stats, int index)
{
	sv_queue *q = NULL;
	sv_objects *store = NULL;
	sv_fetch_options o;
	char host[128] = "localhost", machine[256], node[200], log[64], *tmp = sv_archive_path(a, "tmp"), *log_path;
	char agent[SV_ARCHIVE_CONTACT_MAX + 64];
	ledger_sink sink = {NULL, NULL, machine, 0};
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
	o.ca_file = a->ca_file;
	o.netrc_file = a->netrc_file;
	o.insecure_hosts = (const char *const *)a->insecure_hosts;
	o.ninsecure = a->ninsecure;
	o.allow_private = (const char *const *)a->allow_private;
	o.nallow_private = a->nallow_private;
	o.allow_private_all = a->allow_private_all;
	o.robots_attempts = a->robots_attempts;
	sv_archive_user_agent(a, agent, sizeof(agent));
	o.user_agent = agent;
	o.stop = &stop_requests;
	o.stats = stats;
	o.log_path = log_path;
	if ((rc = sv_archive_queue(a, co->queue_url, &q)) == 0 && (rc = sv_archive_objects(a, &store)) == 0 &&
	    (rc = sv_archive_ledger(a, &sink.ledger)) == 0 && (rc = sv_archive_index(a, &sink.index)) == 0) {
		if (co->jobs > 1)
			sv_queue_set_node_share(q, (a->host_max_inflight + co->jobs - 1) / co->jobs);
		sv_queue_set_robots_first(q, co->robots);
		rc = sv_fetch_run(q, store, &o);
	}
	if (rc && co->event)
		co->event(co->ctx, &(sv_crawl_event){SV_CRAWL_FETCHER_FAILED, index, sv_error_last()});
	sv_index_close(sink.index);
	sv_ledger_free(sink.ledger);
	sv_objects_free(store);
	sv_queue_close(q);
	free(tmp);
	free(log_path);
	return rc ? sv_error_exit_status(rc) : 0;
}

int sv_crawl_prepare(const sv_archive *a, const char *queue_url, size_t *reclaimed)
{
	sv_queue *q = NULL;
	sv_objects *store = NULL;
	char prefix[160];
	int rc;
	*reclaimed = 0;
	/* Leases of this machine's fetchers that died (kill -9, power cut) come back now,
	 * not when they expire. */
	if ((rc = sv_archive_queue(a, queue_url, &q)) == 0 && node_prefix(prefix, sizeof(prefix)) == 0)
		rc = sv_queue_reclaim(q, prefix, node_alive, reclaimed);
	/* Hosts whose robots.txt failed in an earlier run get their tries again: their URLs continue. */
	size_t retried;
	if (rc == 0)
		rc = sv_queue_robots_retry(q, &retried);
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

int sv_crawl_run(const sv_archive *a, const sv_crawl_options *co, sv_crawl_result *out)
{
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
	munmap(stats, sizeof(sv_fetch_stats) * (size_t)co->jobs);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	out->stopped = stop_requests > 0;
	curl_global_cleanup();
	return 0;
}
