/*
 * crawler/hosts.c -- what one fetcher keeps per host and per sheet row.
 *
 * robots.txt is fetched once per host by whichever fetcher meets the host
 * first (the queue leases one URL of a host whose robots.txt is unknown) and
 * kept in the queue for the others once its capture is durable; that URL
 * waits in memory (parked) until the rules are known. A robots.txt that
 * cannot be fetched is tried again later (RFC 9309: disallow for now), its
 * host's URLs waiting in the queue. A row's settings are read from the queue
 * once; where its seed landed (seed_landings, written by the fetcher
 * that followed the seed's redirect before it queued the target) is read
 * again whenever this fetcher claims a URL of the seed's own redirect chain
 * or meets a host it has not seen for the row: another fetcher may have
 * rebased the row's scope since.
 */
#include "fetcher.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Takes the row's landings added since the last read into its scope. */
static int refresh_landings(fetcher *f, seed_info *s)
{
	char **urls = NULL;
	size_t n = 0;
	int rc;
	if (!s->row)
		return 0;
	if ((rc = sv_queue_landings(f->q, s->id, &urls, &n)))
		return rc;
	for (size_t i = s->nlandings; i < n && rc == 0; i++)
		if ((rc = sv_row_add_landing(s->row, urls[i])) == SV_EINVAL)
			rc = 0; /* kept by a fetcher that could follow it: cannot happen, and follows nothing */
	if (rc == 0 && n > s->nlandings) {
		s->nlandings = n;
		/* The scope grew: a host met before may be in it now. */
		for (size_t i = 0; i < s->nhosts; i++)
			free(s->hosts[i]);
		s->nhosts = 0;
	}
	sv_queue_landings_free(urls, n);
	return rc;
}

void sv_fetch_seed_free(seed_info *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nhosts; i++)
		free(s->hosts[i]);
	free(s->hosts);
	sv_row_free(s->row);
	free(s);
}

/*
 * A URL of row s was claimed: reads the row's landings again when it is on
 * the seed's own redirect chain (depth 0, a page) or on a host this fetcher
 * has not met for the row.
 */
int sv_fetch_seed_meets(fetcher *f, seed_info *s, const sv_queue_item *item)
{
	int chain = item->depth == 0 && item->kind == SV_KIND_PAGE;
	size_t i = 0;
	while (i < s->nhosts && strcmp(s->hosts[i], item->host))
		i++;
	if (i == s->nhosts) {
		char **more = realloc(s->hosts, (s->nhosts + 1) * sizeof(*more));
		if (!more || !(more[s->nhosts] = strdup(item->host))) {
			if (more)
				s->hosts = more;
			return sv_error_set(SV_EIO, "out of memory");
		}
		s->hosts = more;
		s->nhosts++;
	} else if (!chain) {
		return 0;
	}
	return refresh_landings(f, s);
}

int sv_fetch_seed_get(fetcher *f, int64_t id, seed_info **out)
{
	*out = NULL;
	for (seed_info *s = f->seeds; s; s = s->next)
		if (s->id == id) {
			*out = s;
			return 0;
		}
	char *params = NULL;
	seed_info *s = calloc(1, sizeof(*s));
	int rc;
	if (!s)
		return sv_error_set(SV_EIO, "out of memory");
	s->id = id;
	/* Checked when the sheet was loaded; settings that cannot be read follow nothing. A queue
	 * that cannot be asked now is not "no settings": the caller gives the URL back. */
	if ((rc = sv_queue_seed_params(f->q, id, &params)) == SV_EUNREACHABLE) {
		sv_fetch_seed_free(s);
		return rc;
	}
	if (rc == 0 && params)
		sv_row_from_json(&s->row, params);
	free(params);
	if ((rc = refresh_landings(f, s)) != 0) {
		sv_fetch_seed_free(s);
		return rc;
	}
	s->scope = sv_row_scope(s->row);
	s->robots = sv_row_robots(s->row);
	s->max_bytes = sv_row_max_bytes(s->row);
	s->next = f->seeds;
	f->seeds = s;
	*out = s;
	return 0;
}

static unsigned host_hash(const char *s)
{
	unsigned h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h % HOST_BUCKETS;
}

host_info *sv_fetch_host_get(fetcher *f, const char *key)
{
	unsigned b = host_hash(key);
	for (host_info *h = f->hosts[b]; h; h = h->next)
		if (!strcmp(h->key, key))
			return h;
	host_info *h = calloc(1, sizeof(*h));
	if (!h || !(h->key = strdup(key))) {
		free(h);
		return NULL;
	}
	h->next = f->hosts[b];
	f->hosts[b] = h;
	return h;
}

/* The rules of h, from robots.txt as fetched or as the queue keeps it. */
static void set_rules(host_info *h, const char *body, size_t len, int status)
{
	sv_robots *r = NULL;
	if (sv_robots_parse(&r, body ? body : "", len, status, "salvage") != 0)
		r = NULL;
	sv_robots_free(h->robots);
	h->robots = r;
	h->robots_state = ROBOTS_KNOWN;
}

/* The URLs parked for h: started, or with requeue given back to the queue
 * (no attempt counted), which hands them out when the host may be asked. */
static int release_waiting(fetcher *f, host_info *h, int requeue)
{
	transfer *t = h->waiting;
	int rc = 0;
	h->waiting = NULL;
	while (t) {
		transfer *next = t->next;
		int r;
		f->parked--;
		t->next = NULL;
		if (requeue) {
			r = sv_queue_release(f->q, f->o->node, &t->item.id, 1);
			sv_fetch_transfer_free(t);
		} else {
			r = sv_fetch_start_item(f, t);
		}
		if (r && !rc)
			rc = r;
		t = next;
	}
	return rc;
}

/*
 * robots.txt answered (t is its transfer, its capture recorded). Its rules
 * hold in this fetcher at once and reach the queue at the next checkpoint,
 * after the capture (a crash in between fetches it again). The fetch was a
 * request to the host: the next one waits for the host's delay, so with a
 * delay the parked URLs go back to the queue rather than start now.
 */
int sv_fetch_robots_fetched(fetcher *f, transfer *t, int status)
{
	host_info *h = t->host;
	int delay = 0, rc;
	if (status >= 500 || status == 429) { /* RFC 9309: unreachable, disallow for now */
		char why[48];
		snprintf(why, sizeof(why), "robots.txt: HTTP %d", status);
		return sv_fetch_robots_failed(f, t, why, 0);
	}
	set_rules(h, (const char *)t->mem, t->mlen, status);
	int crawl_delay = h->robots ? sv_robots_crawl_delay_ms(h->robots) : -1;
	if ((rc = sv_fetch_keep_rules(f, h->key, (const char *)t->mem, t->mlen, status, crawl_delay)) ||
	    (rc = sv_queue_host_delay(f->q, h->key, crawl_delay, &delay)))
		return rc;
	return release_waiting(f, h, delay > 0);
}

/* A robots.txt transfer backs off 1, 2, 4... s (at most a minute) after its tries-th failure. */
static int64_t robots_backoff_ms(int tries)
{
	return 1000LL << (tries < 6 ? tries - 1 : 5);
}

/*
 * robots.txt could not be fetched (reason says why). Its host's URLs wait,
 * neither skipped nor failed: the parked ones go back to the queue, and the
 * host cools down until the next try. After the last try of this run (at
 * once for a permanent error such as a certificate problem) the host is
 * given up until the next run, whose start tries robots.txt again.
 */
int sv_fetch_robots_failed(fetcher *f, transfer *t, const char *reason, int permanent)
{
	host_info *h = t->host;
	sv_queue_host qh;
	int tries = sv_queue_host_get(f->q, h->key, &qh) == 0 ? qh.robots_tries + 1 : 1;
	sv_queue_host_clear(&qh);
	int give_up = permanent || tries >= f->o->robots_attempts;
	int rc = sv_queue_host_robots_failed(f->q, h->key, reason, sv_now_ms() + robots_backoff_ms(tries), give_up);
	h->robots_state = ROBOTS_UNKNOWN;
	int rrc = release_waiting(f, h, 1);
	return rc ? rc : rrc;
}

/* Starts robots.txt of t's host, for t's row. */
static int start_robots(fetcher *f, transfer *t)
{
	host_info *h = t->host;
	transfer *r = sv_fetch_transfer_new();
	const char *scheme_end = strstr(t->item.url, "://");
	size_t slen = scheme_end ? (size_t)(scheme_end - t->item.url) : 4;
	if (!r || !(r->item.url = malloc(slen + strlen(h->key) + 16)) || !(r->item.host = strdup(h->key))) {
		sv_fetch_transfer_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	sprintf(r->item.url, "%.*s://%s/robots.txt", (int)slen, t->item.url, h->key);
	r->item.seed = t->item.seed;
	r->seed = t->seed; /* its Sitemap: lines are read with the row's scope */
	r->item.kind = SV_KIND_ROBOTS;
	r->is_robots = 1;
	r->host = h;
	h->robots_state = ROBOTS_FETCHING;
	int rc = sv_fetch_transfer_start(f, r);
	if (rc)
		sv_fetch_transfer_free(r);
	return rc;
}

/* Starts a claimed URL, or parks it until its host's robots.txt is known. */
int sv_fetch_start_item(fetcher *f, transfer *t)
{
	host_info *h = t->host;
	int respect = f->o->robots && (!t->seed || t->seed->robots);
	/* Also for a row that ignores robots.txt, when the crawl does not: the
	 * queue hands out one URL of a host until its rules are kept (or have
	 * failed), whichever row asks. Such a URL starts without waiting. */
	if (f->o->robots && h->robots_state == ROBOTS_UNKNOWN) {
		sv_queue_host qh;
		if (sv_queue_host_get(f->q, h->key, &qh) == 0 && qh.robots_at_ms > 0)
			set_rules(h, qh.robots, qh.robots ? strlen(qh.robots) : 0, qh.robots_status);
		sv_queue_host_clear(&qh);
		int rc;
		if (h->robots_state == ROBOTS_UNKNOWN && (rc = start_robots(f, t)))
			return rc;
	}
	if (respect && h->robots_state != ROBOTS_KNOWN) {
		t->next = h->waiting;
		h->waiting = t;
		f->parked++;
		return 0;
	}
	if (respect && h->robots && !sv_robots_allowed(h->robots, t->item.url)) {
		sv_rfc3339_now(t->ts);
		f->stats->skipped++;
		int rc = sv_fetch_record(f, t, SV_OUTCOME_SKIPPED, 0, NULL, NULL, t->item.kind, NULL,
				"disallowed by robots.txt", NULL, 0);
		/* Its host slot is free now, not at the next checkpoint: with one
		 * connection per host, the whole host would wait for it. */
		sv_fetch_note_ended(f, t);
		sv_fetch_transfer_free(t);
		return rc;
	}
	int rc = sv_fetch_transfer_start(f, t);
	if (rc)
		sv_fetch_transfer_free(t);
	return rc;
}
