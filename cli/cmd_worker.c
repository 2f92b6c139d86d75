/*
 * cli/cmd_worker.c -- salvage worker [--queue URL] [--forever]: one node of a
 * crawl shared by many machines. This machine's fetchers take URLs from the
 * shared queue and store them in the local archive, committing capture
 * records on the ledger branch nodes/<node> (never main: the coordinator's
 * main, with its sheets, is the only one, so pushes from many nodes never
 * collide). `salvage mirror push` sends them on.
 *
 * The node is node.name, else the host name made safe. Two archives on one
 * machine must be two nodes: with no node.name, the first worker run takes
 * the host name, or "<host>-2", "-3"... when the queue already knows that
 * name (another archive's), and writes its choice into salvage.conf.
 *
 * Politeness is the crawl's, not the machine's: the crawl.hostConnections
 * and crawl.delayMs the coordinator wrote into the queue when it seeded
 * replace this archive's (said once when they differ), so that every worker
 * claims with the same per-host cap and delay.
 *
 * A worker starts no catalog pass: the coordinator's seed does (workers come
 * and go; one started late must not read every finished catalog again). It
 * goes on with the passes under way, and ends those whose listing it reads
 * to the end.
 */
#include "fetching.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int known(const sv_queue_node_stats *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].node, name))
			return 1;
	return 0;
}

/*
 * The first worker run of an archive with no node.name: a name no other node
 * of the queue has, announced at once with a heartbeat (so that a second
 * archive starting now sees it taken) and kept as node.name.
 */
static int choose_node(sv_archive *a, sv_queue *q)
{
	sv_queue_node_stats *rows = NULL;
	size_t n = 0;
	char name[SV_ARCHIVE_NODE_MAX + 1], holder[SV_ARCHIVE_NODE_MAX + 32];
	int rc;

	if ((rc = sv_queue_nodes(q, &rows, &n)))
		goto done;
	snprintf(name, sizeof(name), "%s", a->node);
	for (int k = 2; known(rows, n, name); k++) {
		char suffix[16];
		int len = snprintf(suffix, sizeof(suffix), "-%d", k);
		snprintf(name, sizeof(name), "%.*s%s", SV_ARCHIVE_NODE_MAX - len, a->node, suffix);
	}
	snprintf(holder, sizeof(holder), "%s:%d:0", name, (int)getpid());
	if ((rc = sv_queue_renew(q, holder, NULL, 0, 0)))
		goto done;
	if (strcmp(name, a->node))
		printf("node '%s' is another archive's in this queue: this archive is node '%s'\n", a->node, name);
	if ((rc = sv_archive_set_node(a, name)) == 0)
		printf("node.name = %s written to salvage.conf\n", name);
done:
	sv_queue_node_stats_free(rows, n);
	return rc;
}

/* The queue's politeness, when it holds some, in place of this archive's. */
static int use_queue_settings(sv_archive *a, sv_queue *q)
{
	sv_queue_crawl_settings s = {a->host_max_inflight, a->host_delay_ms};
	int found = 0, rc;
	if ((rc = sv_queue_crawl_settings_get(q, &s, &found)) == 0 &&
	    found && s.host_connections > 0 &&
	    (s.host_connections != a->host_max_inflight || s.delay_ms != a->host_delay_ms)) {
		printf("the queue's crawl.hostConnections %d and crawl.delayMs %d apply to every worker (salvage.conf here"
		       " says %d and %d)\n",
		       s.host_connections, s.delay_ms, a->host_max_inflight, a->host_delay_ms);
		a->host_max_inflight = s.host_connections;
		a->host_delay_ms = s.delay_ms;
	}
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	sv_crawl_options co = {0, 0, 1, NULL, NULL, 0, NULL, NULL, NULL};
	sv_archive *a = NULL;
	sv_queue *q = NULL;
	char branch[SV_ARCHIVE_NODE_MAX + 8];
	size_t reclaimed = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (sv_cli_fetch_option(cmd, argc, argv, &i, &co, &rc)) {
			if (rc)
				return rc;
		} else if (!strcmp(argv[i], "--forever"))
			co.forever = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else
			return sv_cli_usage(cmd, "a worker takes no sheets ('%s'): the coordinator loads them with "
					    "'salvage seed --queue URL'", argv[i]);
	}
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if (!co.queue_url)
		co.queue_url = a->queue_url;
	if (!co.queue_url) {
		sv_archive_free(a);
		return sv_cli_usage(cmd, "a worker needs the shared queue: --queue URL, or queue.url in salvage.conf");
	}
	sv_cli_fetch_defaults(a, &co);

	if ((rc = sv_archive_queue(a, co.queue_url, &q)) == 0 && (rc = use_queue_settings(a, q)) == 0 && !a->node_set)
		rc = choose_node(a, q);
	sv_queue_close(q);
	if (rc || (rc = sv_crawl_prepare(a, co.queue_url, 0, &reclaimed))) {
		rc = sv_cli_error(rc);
		sv_archive_free(a);
		return rc;
	}
	if (reclaimed)
		printf("%zu URLs held by stopped fetchers of this node are queued again\n", reclaimed);
	snprintf(branch, sizeof(branch), "nodes/%s", a->node);
	co.branch = branch;
	rc = sv_cli_fetch(a, &co, "worker");
	sv_archive_free(a);
	return rc;
}

const sv_command sv_cmd_worker = {
	"worker", run, "fetch from a shared queue into this archive",
	"usage: salvage worker [--queue URL] [--jobs N] [--transfers N] [--forever]\n"
	"\n"
	"One node of a crawl shared by many machines: takes URLs from the shared\n"
	"queue (--queue, else queue.url in salvage.conf: postgresql://... or\n"
	"sqlite:/shared/file.db) and fetches them into this archive, as 'salvage\n"
	"crawl' does, until the queue drains. Sheets are loaded by the coordinator\n"
	"('salvage seed --queue URL SHEET.csv'). Captures are committed on ledger\n"
	"branch nodes/<node>; 'salvage mirror push NAME' sends them to the shared\n"
	"mirror. The node is node.name in salvage.conf; with none, the first run\n"
	"takes the host name, or <host>-2, -3... if another archive uses it in\n"
	"this queue, and writes it there. The per-host politeness is the queue's:\n"
	"crawl.hostConnections and crawl.delayMs as the coordinator's seed wrote\n"
	"them, whatever salvage.conf here says. A catalog row's pass is started by\n"
	"the coordinator's seed; workers read it, whichever fetches each page.\n"
	"Exit status as crawl's.\n"
	"\n"
	"  --jobs N        fetcher processes (default: one per CPU)\n"
	"  --transfers N   transfers at once per fetcher (default crawl.transfers, 32)\n"
	"  --forever       when the queue drains, wait for new work and fetch it,\n"
	"                  until Ctrl-C or SIGTERM\n",
};
