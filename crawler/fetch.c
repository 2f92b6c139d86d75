/*
 * crawler/fetch.c -- one fetcher process: the loop (see fetch.h; the other
 * jobs of a fetcher are in the files fetcher.h names).
 *
 * The loop: claim URLs while there is room, run them as transfers on one
 * curl multi handle, hand each ended transfer to outcome.c, and checkpoint
 * (checkpoint.c) every checkpoint_ms, or when many outcomes wait. Leases are
 * renewed well before they run out; a stop gives back every lease held.
 */
#include "fetcher.h"

#include "../common/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sv_fetch_options_init(sv_fetch_options *o)
{
	memset(o, 0, sizeof(*o));
	o->node = "local";
	o->machine = "local";
	o->transfers = 32;
	o->lease_ms = 120000;
	o->max_attempts = 5;
	o->robots_attempts = 5;
	o->connect_timeout_s = 30;
	o->low_speed_time_s = 60;
	o->checkpoint_ms = 5000;
	o->max_redirects = 10;
	o->robots = 1;
	o->user_agent = "salvage/" SV_VERSION;
}

static void unlink_running(fetcher *f, transfer *t)
{
	if (t->run_prev)
		t->run_prev->run_next = t->run_next;
	else
		f->running = t->run_next;
	if (t->run_next)
		t->run_next->run_prev = t->run_prev;
	t->run_prev = t->run_next = NULL;
}

/* Notes that t's host connection is free (told to the queue after this round of messages). */
void sv_fetch_note_ended(fetcher *f, const transfer *t)
{
	if (!t->item.id)
		return;
	if (f->nended == f->capended) {
		size_t c = f->capended ? f->capended * 2 : 64;
		int64_t *p = realloc(f->ended, c * sizeof(*p));
		if (!p)
			return; /* the slot comes back with the outcome instead */
		f->ended = p;
		f->capended = c;
	}
	f->ended[f->nended++] = t->item.id;
}

/*
 * A cookie check answered: the same URL again at once, with the lease it has
 * and the cookie now in the jar. A fresh transfer takes over the claimed item.
 */
static int fetch_again(fetcher *f, transfer *t)
{
	transfer *n = sv_fetch_transfer_new();
	if (!n)
		return sv_error_set(SV_EIO, "out of memory");
	n->item = t->item;
	memset(&t->item, 0, sizeof(t->item)); /* n owns the strings now */
	n->seed = t->seed;
	n->host = t->host;
	n->in_scope = t->in_scope;
	n->cookie_again = t->cookie_again + 1;
	int rc = sv_fetch_transfer_start(f, n);
	if (rc) {
		t->item = n->item; /* back to t, whose end is noted as usual */
		memset(&n->item, 0, sizeof(n->item));
		sv_fetch_transfer_free(n);
		return rc;
	}
	sv_fetch_transfer_free(t);
	return 0;
}

static void done(fetcher *f, transfer *t, CURLcode res)
{
	long status = 0;
	int rc;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	sv_fetch_transfer_ip(t);
	curl_multi_remove_handle(f->multi, t->easy);
	unlink_running(f, t);
	f->active--;
	f->stats->inflight = f->active;
	if (t->received >= BIG_BODY && f->stats->big_inflight)
		f->stats->big_inflight--;
	if (res == CURLE_OK && t->store_rc == 0) {
		rc = sv_fetch_finish_response(f, t, status);
		if (rc == 1) /* short body after all */
			rc = sv_fetch_finish_error(f, t, CURLE_PARTIAL_FILE, status);
		if (rc == 2 && (rc = fetch_again(f, t)) == 0)
			return; /* the same URL on the same host slot */
	} else {
		rc = sv_fetch_finish_error(f, t, res, status);
	}
	sv_fetch_note_ended(f, t);
	if (rc && !f->fatal)
		f->fatal = rc;
	sv_fetch_transfer_free(t);
}

static int claim_more(fetcher *f)
{
	size_t room = (size_t)f->o->transfers > f->active + f->parked ? (size_t)f->o->transfers - f->active - f->parked : 0;
	sv_queue_item *items = NULL;
	size_t n = 0;
	int rc;
	if (room == 0 && f->nended == 0)
		return 0;
	/* The host slots of ended transfers are freed in the claim's own transaction. */
	if ((rc = sv_queue_claim(f->q, f->o->node, f->ended, f->nended, room, f->o->lease_ms, &items, &n)))
		return rc;
	f->nended = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		transfer *t = sv_fetch_transfer_new();
		if (!t) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		t->f = f;
		t->item = items[i];
		memset(&items[i], 0, sizeof(items[i])); /* the transfer owns the strings now */
		int src = sv_fetch_seed_get(f, t->item.seed, &t->seed);
		if (src == 0 && t->seed)
			src = sv_fetch_seed_meets(f, t->seed, &t->item);
		if (src == SV_EUNREACHABLE) {
			/* The row's settings or landings cannot be read now: rather than wait
			 * (and stall every running transfer), the URL goes back (kept in the
			 * outbox until the queue answers) and is claimed again later. */
			rc = sv_queue_release(f->q, f->o->node, &t->item.id, 1);
			sv_fetch_transfer_free(t);
			continue;
		}
		if (t->seed && src) {
			rc = src;
			sv_fetch_transfer_free(t);
			break;
		}
		t->host = sv_fetch_host_get(f, t->item.host);
		/* Whether this URL is itself in scope: only then are its links followed further. */
		t->in_scope = t->seed && sv_scope_item_in_scope(t->seed->scope, t->item.url, t->item.depth,
								t->item.kind == SV_KIND_SITEMAP);
		if (!t->host) {
			sv_fetch_transfer_free(t);
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		rc = sv_fetch_start_item(f, t);
	}
	sv_queue_items_free(items, n);
	return rc < 0 ? rc : (int)n;
}

static int renew(fetcher *f)
{
	int64_t *ids = malloc((f->active + f->parked + 1) * sizeof(*ids));
	size_t n = 0;
	if (!ids)
		return sv_error_set(SV_EIO, "out of memory");
	for (unsigned b = 0; b < HOST_BUCKETS; b++)
		for (host_info *h = f->hosts[b]; h; h = h->next)
			for (transfer *t = h->waiting; t; t = t->next)
				if (t->item.id)
					ids[n++] = t->item.id;
	for (transfer *t = f->running; t; t = t->run_next)
		if (t->item.id)
			ids[n++] = t->item.id;
	int rc = n ? sv_queue_renew(f->q, f->o->node, ids, n, f->o->lease_ms) : 0;
	free(ids);
	f->last_renew = sv_now_ms();
	return rc;
}

/*
 * Shows whether a shared queue answers (sv_fetch_stats); when it answers
 * again after an outage, leases are renewed at once: some may be close to
 * running out.
 */
static void note_reach(fetcher *f)
{
	int64_t since, kept;
	sv_queue_reach(f->q, &since, &kept);
	if (!since && f->stats->queue_down_since_ms)
		f->last_renew = 0;
	f->stats->queue_down_since_ms = since;
	f->stats->kept_locally = (uint64_t)kept;
}

/* Stops every transfer and gives their leases back. */
static int release_all(fetcher *f)
{
	int64_t *ids = malloc((f->active + f->parked + 1) * sizeof(*ids));
	size_t n = 0;
	if (!ids)
		return sv_error_set(SV_EIO, "out of memory");
	while (f->running) {
		transfer *t = f->running;
		curl_multi_remove_handle(f->multi, t->easy);
		unlink_running(f, t);
		if (t->item.id)
			ids[n++] = t->item.id;
		sv_fetch_transfer_free(t);
	}
	for (unsigned b = 0; b < HOST_BUCKETS; b++)
		for (host_info *h = f->hosts[b]; h; h = h->next) {
			transfer *t = h->waiting;
			h->waiting = NULL;
			while (t) {
				transfer *next = t->next;
				ids[n++] = t->item.id;
				sv_fetch_transfer_free(t);
				t = next;
			}
		}
	f->active = f->parked = 0;
	int rc = n ? sv_queue_release(f->q, f->o->node, ids, n) : 0;
	free(ids);
	return rc;
}

static void fetcher_free(fetcher *f)
{
	free(f->seen);
	for (seed_info *s = f->seeds; s;) {
		seed_info *next = s->next;
		sv_fetch_seed_free(s);
		s = next;
	}
	for (unsigned b = 0; b < HOST_BUCKETS; b++)
		for (host_info *h = f->hosts[b]; h;) {
			host_info *next = h->next;
			sv_robots_free(h->robots);
			free(h->key);
			free(h);
			h = next;
		}
	for (size_t i = 0; i < f->nouts; i++)
		sv_fetch_outcome_free(&f->outs[i]);
	for (size_t i = 0; i < f->nrobots; i++)
		sv_fetch_outcome_free(&f->robots_caps[i]);
	for (size_t i = 0; i < f->nlinks; i++) {
		free(f->links[i].url);
		free(f->links[i].via);
	}
	for (size_t i = 0; i < f->nrules; i++)
		sv_fetch_rules_free(&f->rules[i]);
	free(f->rules);
	free(f->outs);
	free(f->ended);
	free(f->robots_caps);
	free(f->links);
	if (f->multi)
		curl_multi_cleanup(f->multi);
	if (f->cookies)
		curl_share_cleanup(f->cookies); /* after every easy handle that used it */
	if (f->log)
		fclose(f->log);
	free(f->ca_pem); /* after every transfer: they borrow it (CURL_BLOB_NOCOPY) */
}

int sv_fetch_run(sv_queue *q, sv_objects *store, const sv_fetch_options *o)
{
	fetcher f;
	int rc = 0;
	int64_t idle_until = 0;

	memset(&f, 0, sizeof(f));
	f.q = q;
	f.store = store;
	f.o = o;
	f.stats = o->stats ? o->stats : &f.local;
	srand((unsigned)(sv_now_ms() ^ (int64_t)getpid()));
	/* One cookie jar for the fetcher (a cookie check passed once serves every
	 * URL of its host here). It lives in memory and ends with the fetcher.
	 * Which server gets a cookie is curl's domain rules: a cookie without
	 * Domain= goes back only to the host that set it; like browsers
	 * (RFC 6265), curl does not tell ports apart. Single-threaded: no locks. */
	if (!(f.multi = curl_multi_init()) || !(f.cookies = curl_share_init()) ||
	    curl_share_setopt(f.cookies, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK) {
		fetcher_free(&f);
		return sv_error_set(SV_EIO, "cannot start libcurl");
	}
	if (o->log_path && !(f.log = fopen(o->log_path, "ae")))
		rc = sv_error_errno(errno, "cannot open '%s'", o->log_path);
	if (rc || (rc = sv_fetch_tls_init(&f))) {
		fetcher_free(&f);
		return rc;
	}
	curl_multi_setopt(f.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 8L);
	f.last_checkpoint = f.last_links = f.last_renew = sv_now_ms();

	while (!f.fatal) {
		int64_t now = sv_now_ms();
		int stopping = o->stop && *o->stop;
		if (stopping)
			break;
		note_reach(&f);
		if (now >= idle_until) {
			int got = claim_more(&f);
			if (got < 0) {
				rc = got;
				break;
			}
			if (got == 0 && f.active == 0 && f.parked == 0) {
				/* Idle. Links found go out at once, for this fetcher or another. */
				int had_links = f.nlinks > 0;
				if ((rc = sv_fetch_flush_links(&f)))
					break;
				int64_t queued = 0, leased = 0;
				if ((rc = sv_queue_pending(q, &queued, &leased)))
					break;
				if (queued == 0) {
					/* The end may be near: outcomes held here must not keep
					 * everyone waiting. While URLs are queued but not ready
					 * (a host's delay, its connection cap), they wait for the
					 * timed checkpoint: a polite crawl of one host is idle
					 * between most requests, and a ledger commit per URL
					 * would be slower than the crawl. */
					if ((rc = sv_fetch_checkpoint(&f)) || (rc = sv_queue_pending(q, &queued, &leased)))
						break;
					if (queued == 0 && leased == 0)
						break; /* drained */
				}
				idle_until = had_links ? 0 : now + 200; /* hosts waiting for their delay, or others working */
			} else if (got == 0) {
				idle_until = now + 100;
				/* Nothing to claim while links wait here: queue them now
				 * rather than at the next timed checkpoint (a crawl's first
				 * seconds, or a small site, would otherwise go in steps). */
				if (f.nlinks && now - f.last_links >= 50) {
					if ((rc = sv_fetch_flush_links(&f)))
						break;
					idle_until = 0;
				}
			}
		}
		int running = 0, numfds;
		curl_multi_perform(f.multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(f.multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			transfer *t;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			done(&f, t, m->data.result);
		}
		if (f.fatal)
			break;
		if (f.nended)
			idle_until = 0; /* room again: claim at once, which frees their host slots */
		now = sv_now_ms();
		/* robots.txt rules reach the queue (for the other fetchers) with the
		 * checkpoint that commits their capture: soon, not at the timed one. */
		if (now - f.last_checkpoint >= o->checkpoint_ms || f.nouts >= OUTCOMES_FLUSH ||
		    f.pending_bytes >= RECORDS_FLUSH || (f.nrules && now - f.last_checkpoint >= RULES_MS)) {
			if ((rc = sv_fetch_checkpoint(&f)))
				break;
		} else if (now - f.last_links >= LINKS_MS || f.nlinks >= LINKS_FLUSH) {
			if ((rc = sv_fetch_flush_links(&f)))
				break;
		}
		if (now - f.last_renew >= o->lease_ms / 3 && (rc = renew(&f)))
			break;
		/* A claim is due (transfers ended, or links came) and there is room:
		 * look for new work at once rather than after the poll's timeout,
		 * which with every transfer ended is all that would wake us. */
		int wait_ms = f.active ? 50 : 20;
		if (now >= idle_until && f.active + f.parked < (size_t)o->transfers)
			wait_ms = 0;
		curl_multi_poll(f.multi, NULL, 0, wait_ms, &numfds);
	}
	if (f.fatal && !rc)
		rc = f.fatal;
	/* Whatever happened: give back what is unfinished, keep what is done. */
	int rrc = release_all(&f);
	int crc = sv_fetch_checkpoint(&f);
	if (!rc)
		rc = rrc ? rrc : crc;
	note_reach(&f);
	f.stats->inflight = 0;
	f.stats->finished = 1;
	fetcher_free(&f);
	return rc;
}
