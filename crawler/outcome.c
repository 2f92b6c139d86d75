/*
 * crawler/outcome.c -- what a finished transfer means.
 *
 * Every HTTP response is a capture, whatever its status; a URL fails only
 * when no complete response came after every attempt. 5xx, 408 and 429 are
 * retried with exponential backoff and jitter (429 and 503 also cool the
 * host down, honouring Retry-After), and the last response is kept.
 * Redirects are captures; their targets are queued after a scope check,
 * except on the seed's own redirect chain (depth 0, a page): there, as
 * Heritrix's seedsRedirectNewSeeds, the target is where the seed lands, on
 * any host: it is kept in the queue (seed_landings) before it is queued,
 * and the row's scope is rebased on it (see hosts.c for other fetchers).
 * A redirect to the URL itself that sets a cookie (a cookie check) is
 * fetched again at once, with the cookie, at most COOKIE_AGAIN times.
 * robots.txt is a capture too; what its answer means for its host is
 * hosts.c's (a 5xx, 429 or no answer: its URLs wait for another try).
 */
#include "fetcher.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COOKIE_AGAIN 2

static int64_t backoff_ms(int attempts)
{
	int64_t base = 2000LL << (attempts < 8 ? attempts : 8);
	if (base > 600000)
		base = 600000;
	return base / 2 + (int64_t)((double)base * ((double)rand() / RAND_MAX));
}

/* Retry-After: seconds or an HTTP date; capped at an hour. */
static int64_t retry_after_ms(const char *v)
{
	if (!v)
		return 0;
	char *end;
	long s = strtol(v, &end, 10);
	if (*v && !*end && s >= 0)
		return (s > 3600 ? 3600 : s) * 1000LL;
	time_t when = curl_getdate(v, NULL);
	if (when > 0) {
		int64_t ms = (int64_t)(when - time(NULL)) * 1000;
		return ms < 0 ? 0 : ms > 3600000 ? 3600000 : ms;
	}
	return 0;
}

static sv_kind capture_kind(transfer *t)
{
	if (t->is_robots)
		return SV_KIND_ROBOTS;
	if (sv_fetch_is_kind(t, SV_KIND_SITEMAP))
		return SV_KIND_SITEMAP;
	if (sv_fetch_is_kind(t, SV_KIND_CATALOG))
		return SV_KIND_CATALOG;
	if (sv_scope_is_dataset_type(t->content_type, t->item.url, t->disposition))
		return SV_KIND_DATASET;
	return t->item.kind;
}

static void count(fetcher *f, sv_kind kind)
{
	f->stats->done++;
	if (kind == SV_KIND_PAGE)
		f->stats->pages++;
	else if (kind == SV_KIND_DATASET)
		f->stats->datasets++;
	else if (kind == SV_KIND_REQUISITE)
		f->stats->requisites++;
	else
		f->stats->other++;
}

/* The transfer ended with a complete response. */
int sv_fetch_finish_response(fetcher *f, transfer *t, long status)
{
	sv_objects_commit_info info;
	sv_digest d;
	int rc;

	if (!t->w && (rc = sv_objects_writer_new(&t->w, f->store, 0)))
		return rc;
	rc = sv_objects_writer_commit(t->w, &d, &info);
	t->w = NULL;
	if (rc == SV_EINVAL) /* fewer bytes than Content-Length announced */
		return 1;
	if (rc)
		return rc;
	sv_partial_discard(&t->part);
	if (t->resumed)
		status = 200; /* the whole entity, in two responses: the record says which (resumed_at) */
	if (t->discover) {
		sv_discover_finish(t->discover);
		sv_discover_free(t->discover);
		t->discover = NULL;
	}
	if (t->cat) {
		char why[300];
		rc = sv_fetch_catalog_finish(f, t, &t->catalog_json, why, sizeof(why));
		sv_fetch_catalog_free(t->cat);
		t->cat = NULL;
		if (rc)
			return rc;
		if (why[0]) {
			/* An answer that is not the catalog asked for (an error sent with 200): asked again, then failed;
			 * a probe of a row of kind auto is not asked again: the next probe is. */
			char error[400];
			int probe, next;
			snprintf(error, sizeof(error), "not a catalog answer: %s", why);
			if ((rc = sv_fetch_catalog_probe_failed(f, t, &probe, &next)))
				return rc;
			if (probe && next) {
				count(f, t->item.kind);
				return sv_fetch_record(f, t, SV_OUTCOME_DONE, status, &info, &d, capture_kind(t), NULL, error,
						       NULL, 0);
			}
			if (probe)
				snprintf(error, sizeof(error), "no catalog found by probing (each probe's answer is a capture of this row): %s",
					 why);
			if (!probe && t->item.attempts + 1 < f->o->max_attempts) {
				f->stats->retried++;
				return sv_fetch_record(f, t, SV_OUTCOME_RETRY, status, &info, &d, capture_kind(t), NULL, error,
						       NULL, sv_now_ms() + backoff_ms(t->item.attempts));
			}
			f->stats->failed++;
			if ((rc = sv_fetch_catalog_unread(f, t)))
				return rc;
			return sv_fetch_record(f, t, SV_OUTCOME_FAILED, status, &info, &d, capture_kind(t), NULL, error, NULL,
					       0);
		}
	}
	if (t->is_robots) {
		/* The capture first: the rules reach the queue only once it is durable. */
		if ((rc = sv_fetch_record(f, t, SV_OUTCOME_DONE, status, &info, &d, SV_KIND_ROBOTS, NULL, NULL, NULL, 0)) ||
		    (rc = sv_fetch_robots_fetched(f, t, (int)status)))
			return rc;
		const char *const *maps;
		size_t nmaps = t->host->robots_state == ROBOTS_KNOWN && t->host->robots
				       ? sv_robots_sitemaps(t->host->robots, &maps)
				       : 0;
		for (size_t i = 0; i < nmaps && i < 100; i++)
			if ((rc = sv_fetch_queue_sitemap(f, t, maps[i])))
				return rc;
		return 0;
	}
	/* A seed's own page, and every page its redirects land on: their hosts'
	 * /sitemap.xml seeds discovery too. */
	int chain = t->item.depth == 0 && sv_fetch_is_kind(t, SV_KIND_PAGE);
	if (chain && (rc = sv_fetch_queue_sitemap(f, t, "/sitemap.xml")))
		return rc;
	sv_kind kind = capture_kind(t);
	int retryable = status >= 500 || status == 408 || status == 429;
	if (status == 429 || status == 503) {
		int64_t wait = retry_after_ms(t->retry_after);
		sv_queue_host_cooldown(f->q, t->item.host, sv_now_ms() + (wait ? wait : backoff_ms(t->item.attempts)), 0);
	}
	if (retryable && t->item.attempts + 1 < f->o->max_attempts) {
		f->stats->retried++;
		int64_t at = sv_now_ms() + backoff_ms(t->item.attempts);
		if (status == 429 || status == 503) {
			int64_t ra = retry_after_ms(t->retry_after);
			if (ra && sv_now_ms() + ra > at)
				at = sv_now_ms() + ra;
		}
		char why[32];
		snprintf(why, sizeof(why), "HTTP %ld", status);
		return sv_fetch_record(f, t, SV_OUTCOME_RETRY, status, NULL, NULL, kind, NULL, why, NULL, at);
	}
	char *target = NULL;
	const char *note = NULL;
	int taken = 0;
	if ((status < 200 || status >= 400) && sv_fetch_is_kind(t, SV_KIND_CATALOG)) {
		/* A probe that found nothing there: the next probe. */
		int probe, next;
		if ((rc = sv_fetch_catalog_probe_failed(f, t, &probe, &next)) || (!next && (rc = sv_fetch_catalog_unread(f, t))))
			return rc;
		if (probe && !next) {
			f->stats->failed++;
			return sv_fetch_record(f, t, SV_OUTCOME_FAILED, status, &info, &d, kind, NULL,
					       "no catalog found by probing (each probe's answer is a capture of this row)", NULL, 0);
		}
	}
	if (status >= 300 && status < 400 && t->location) {
		if (sv_url_normalize(&target, t->location, t->item.url) != 0) {
			note = "redirect to a URL that is not http(s): not followed";
		} else if (t->set_cookie && !strcmp(target, t->item.url)) {
			/* The queue would drop the target as a URL it has: ask again here,
			 * keeping the lease; this response is a capture of its own. */
			int again = t->cookie_again < COOKIE_AGAIN;
			t->no_outcome = again;
			if (!again)
				f->stats->failed++;
			rc = sv_fetch_record(f, t, again ? SV_OUTCOME_DONE : SV_OUTCOME_FAILED, status, &info, &d, kind,
					     NULL, again ? NULL : "redirects to itself: its cookie was not accepted", target,
					     0);
			free(target);
			return rc ? rc : again ? 2 : 0;
		} else if (t->item.redirects + 1 > f->o->max_redirects) {
			note = "too many redirects: not followed";
		} else if (chain && t->seed && t->seed->row) {
			if ((rc = sv_queue_landing_add(f->q, t->item.seed, target)) ||
			    (rc = sv_row_add_landing(t->seed->row, target)) ||
			    (rc = sv_fetch_add_link(f, target, t->item.seed, 0, SV_KIND_PAGE, t->item.url,
						    t->item.redirects + 1))) {
				free(target);
				return rc;
			}
		} else if ((rc = sv_fetch_catalog_redirect(f, t, target, &taken)) || taken) {
			if (rc) {
				free(target);
				return rc;
			}
			if (taken == 2)
				note = "redirect target refused by the row's patterns: not followed";
		} else if (t->seed && t->seed->scope) {
			if (sv_scope_follow_redirect(t->seed->scope, target, t->item.depth, kind)) {
				if ((rc = sv_fetch_add_link(f, target, t->item.seed, t->item.depth, kind, t->item.url,
						   t->item.redirects + 1))) {
					free(target);
					return rc;
				}
			} else {
				note = "redirect target out of scope: not followed";
			}
		}
	}
	count(f, kind);
	rc = sv_fetch_record(f, t, SV_OUTCOME_DONE, status, &info, &d, kind, NULL, note, target, 0);
	free(target);
	return rc;
}

/* The transfer ended without a complete response. */
int sv_fetch_finish_error(fetcher *f, transfer *t, CURLcode res, long status)
{
	const char *truncated = NULL;
	char error[CURL_ERROR_SIZE + 64];
	int permanent = 0, timed_out = 0, rc;

	sv_objects_writer_abort(t->w);
	t->w = NULL;
	if (t->store_rc && t->store_rc != SV_EINVAL)
		return t->store_rc; /* disk full or I/O error: stop the fetcher */
	snprintf(error, sizeof(error), "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(res));
	if (res == CURLE_COULDNT_CONNECT && t->refused[0]) {
		/* The guard refused every address of the server: a failure at once, never retried. */
		snprintf(error, sizeof(error), "%s", t->refused);
		permanent = 1;
		if (t->is_robots) {
			/* No rules can come from a server salvage will not reach; its URLs are each refused
			 * (and recorded) in turn, as if it had none. */
			rc = sv_fetch_record(f, t, SV_OUTCOME_FAILED, status, NULL, NULL, SV_KIND_ROBOTS, NULL, error,
					     NULL, 0);
			return rc ? rc : sv_fetch_robots_fetched(f, t, 404);
		}
	}
	switch (res) {
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WRITE_ERROR:
		if (t->too_big || res == CURLE_FILESIZE_EXCEEDED) {
			snprintf(error, sizeof(error), "larger than the row's max_bytes (%lld)",
				 (long long)(t->seed ? t->seed->max_bytes : -1));
			truncated = "length";
			permanent = 1;
		} else {
			truncated = "length"; /* more bytes than Content-Length announced */
		}
		break;
	case CURLE_OPERATION_TIMEDOUT:
		truncated = t->received ? "time" : NULL;
		timed_out = 1;
		break;
	case CURLE_PARTIAL_FILE:
		truncated = "length";
		break;
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
		truncated = t->received ? "disconnect" : NULL;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_TOO_MANY_REDIRECTS:
		permanent = 1;
		break;
	default:
		break;
	}
	if (t->is_robots) {
		/* Unreachable: RFC 9309 disallows for now; the host's URLs wait for another try. */
		char why[sizeof(error) + 16];
		snprintf(why, sizeof(why), "robots.txt: %s", error);
		rc = sv_fetch_record(f, t, SV_OUTCOME_FAILED, status, NULL, NULL, SV_KIND_ROBOTS, truncated, error, NULL, 0);
		return rc ? rc : sv_fetch_robots_failed(f, t, why, permanent);
	}
	if (timed_out) {
		int64_t pause_ms = 1000 * (1LL << (t->item.attempts < 8 ? t->item.attempts : 8));
		sv_queue_host_cooldown(f->q, t->item.host, sv_now_ms() + pause_ms, 1);
	}
	if (!permanent && t->item.attempts + 1 < f->o->max_attempts) {
		sv_partial_close(&t->part); /* kept: the next attempt resumes with Range */
		f->stats->retried++;
		return sv_fetch_record(f, t, SV_OUTCOME_RETRY, status, NULL, NULL, t->item.kind, NULL, error, NULL,
			      sv_now_ms() + backoff_ms(t->item.attempts));
	}
	sv_partial_discard(&t->part);
	int probe, next;
	if ((rc = sv_fetch_catalog_probe_failed(f, t, &probe, &next)))
		return rc;
	f->stats->failed += !next;
	if (!next && (rc = sv_fetch_catalog_unread(f, t)))
		return rc;
	return sv_fetch_record(f, t, next ? SV_OUTCOME_DONE : SV_OUTCOME_FAILED, status, NULL, NULL, t->item.kind,
			       truncated, error, NULL, 0);
}
