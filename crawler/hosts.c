/*
 * crawler/hosts.c -- what one fetcher keeps per host and per sheet row.
 *
 * robots.txt is fetched once per host by whichever fetcher meets the host
 * first and kept in the queue for the others; URLs of a host wait in memory
 * (parked) until its rules are known. A row's settings are read from the
 * queue once; where its seed landed (seed_landings, written by the fetcher
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

static void release_waiting(fetcher *f, host_info *h);

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

seed_info *sv_fetch_seed_get(fetcher *f, int64_t id)
{
	for (seed_info *s = f->seeds; s; s = s->next)
		if (s->id == id)
			return s;
	char *params = NULL;
	seed_info *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->id = id;
	/* Checked when the sheet was loaded; settings that cannot be read follow nothing. */
	if (sv_queue_seed_params(f->q, id, &params) == 0 && params)
		sv_row_from_json(&s->row, params);
	free(params);
	if (refresh_landings(f, s) != 0) {
		sv_fetch_seed_free(s);
		return NULL;
	}
	s->scope = sv_row_scope(s->row);
	s->robots = sv_row_robots(s->row);
	s->max_bytes = sv_row_max_bytes(s->row);
	s->next = f->seeds;
	f->seeds = s;
	return s;
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

void sv_fetch_robots_known(fetcher *f, host_info *h, const char *body, size_t len, int status)
{
	sv_robots *r = NULL;
	if (sv_robots_parse(&r, body ? body : "", len, status, "salvage") != 0)
		r = NULL;
	sv_robots_free(h->robots);
	h->robots = r;
	h->robots_state = ROBOTS_KNOWN;
	if (body || status)
		sv_queue_host_set_robots(f->q, h->key, body ? body : "", status,
					  r ? sv_robots_crawl_delay_ms(r) : -1);
	release_waiting(f, h);
}

static void release_waiting(fetcher *f, host_info *h)
{
	transfer *t = h->waiting;
	h->waiting = NULL;
	while (t) {
		transfer *next = t->next;
		f->parked--;
		t->next = NULL;
		int rc = sv_fetch_start_item(f, t);
		if (rc && !f->fatal)
			f->fatal = rc;
		t = next;
	}
}

/* Starts a claimed URL, or parks it until its host's robots.txt is known. */
int sv_fetch_start_item(fetcher *f, transfer *t)
{
	host_info *h = t->host;
	int respect = f->o->robots && (!t->seed || t->seed->robots);
	if (respect && h->robots_state != ROBOTS_KNOWN) {
		if (h->robots_state == ROBOTS_UNKNOWN) {
			sv_queue_host qh;
			if (sv_queue_host_get(f->q, h->key, &qh) == 0 && qh.robots_at_ms > 0) {
				h->robots_state = ROBOTS_FETCHING; /* known below, without a fetch */
				t->next = h->waiting;
				h->waiting = t;
				f->parked++;
				sv_fetch_robots_known(f, h, qh.robots, qh.robots ? strlen(qh.robots) : 0, qh.robots_status);
				sv_queue_host_clear(&qh);
				return 0;
			}
			sv_queue_host_clear(&qh);
			transfer *r = sv_fetch_transfer_new();
			const char *scheme_end = strstr(t->item.url, "://");
			size_t slen = scheme_end ? (size_t)(scheme_end - t->item.url) : 4;
			if (!r || !(r->item.url = malloc(slen + strlen(h->key) + 16)) ||
			    !(r->item.host = strdup(h->key))) {
				sv_fetch_transfer_free(r);
				return sv_error_set(SV_EIO, "out of memory");
			}
			sprintf(r->item.url, "%.*s://%s/robots.txt", (int)slen, t->item.url, h->key);
			r->item.seed = t->item.seed;
			r->item.kind = SV_KIND_ROBOTS;
			r->is_robots = 1;
			r->host = h;
			h->robots_state = ROBOTS_FETCHING;
			int rc = sv_fetch_transfer_start(f, r);
			if (rc) {
				sv_fetch_transfer_free(r);
				return rc;
			}
		}
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
