/*
 * tests/conformance/runner.c -- feeds other people's test suites (Google's
 * robots.txt tests with RFC 9309's examples; the WHATWG URL tests with RFC
 * 3986 5.4) to salvage's robots.txt matcher and URL normaliser.
 *
 *   conformance DIR KNOWN
 *
 * DIR holds robots_cases.json and url_cases.json (../shared/conformance, see
 * its README); they are read, never copied into the project. KNOWN lists the
 * cases that fail on purpose, one "suite:id reason" a line (the README's
 * "Where salvage differs from browsers and Google on purpose" summarises
 * them). Prints each failure and a count per suite; exits 1 when a case not
 * in KNOWN fails or a case in KNOWN passes (the list must say what is true),
 * 2 on bad input. Every URL the normaliser gives is normalised again: a key
 * that changes the second time fails its case.
 */
#include "../../common/error.h"
#include "../../crawler/robots.h"
#include "../../queue/url.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	char **ids;
	size_t n;
	char *used; /* per id: a case of that id was met */
} known_list;

typedef struct {
	int pass, known, fail, stale;
	int base_total, base_pass; /* URL cases with an http(s) base */
} tally;

static int read_known(known_list *k, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];

	if (!f) {
		fprintf(stderr, "conformance: cannot open '%s'\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, " \t\r\n");
		if (n == 0 || line[0] == '#')
			continue;
		k->ids = realloc(k->ids, (k->n + 1) * sizeof(char *));
		k->ids[k->n++] = strndup(line, n);
	}
	fclose(f);
	k->used = calloc(k->n + 1, 1);
	return 0;
}

static int is_known(known_list *k, const char *suite, const char *id)
{
	char key[512];
	snprintf(key, sizeof(key), "%s:%s", suite, id);
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->ids[i], key) == 0) {
			k->used[i] = 1;
			return 1;
		}
	return 0;
}

static void judge(tally *t, known_list *k, const char *suite, const char *id, int ok, const char *what)
{
	int listed = is_known(k, suite, id);
	if (ok && listed) {
		t->stale++;
		printf("STALE %s:%s passes but is listed in known.txt\n", suite, id);
	} else if (ok) {
		t->pass++;
	} else if (listed) {
		t->known++;
	} else {
		t->fail++;
		printf("FAIL %s:%s %s\n", suite, id, what);
	}
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* The case's body, from body or body_hex; *len its length. */
static char *body_of(json_t *c, size_t *len)
{
	const char *hex = json_string_value(json_object_get(c, "body_hex"));
	json_t *b = json_object_get(c, "body");
	char *out;

	if (!hex) {
		*len = json_string_length(b);
		out = malloc(*len + 1);
		memcpy(out, json_string_value(b) ? json_string_value(b) : "", *len + 1);
		return out;
	}
	*len = strlen(hex) / 2;
	out = malloc(*len + 1);
	for (size_t i = 0; i < *len; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (char)v;
	}
	out[*len] = '\0';
	return out;
}

static void robots_case(tally *t, known_list *k, json_t *c)
{
	const char *id = str(c, "id"), *kind = str(c, "kind");
	json_t *want = json_object_get(c, "expected");
	char what[1024];
	sv_robots *r = NULL;
	int ok = 0;

	if (strcmp(kind, "allowed") == 0) {
		size_t len;
		char *body = body_of(c, &len);
		int status = json_object_get(c, "status") ? (int)json_integer_value(json_object_get(c, "status")) : 200;
		int got = -1;
		if (sv_robots_parse(&r, body, len, status, str(c, "agent")) == 0)
			got = sv_robots_allowed(r, *str(c, "url") ? str(c, "url") : "/");
		ok = got == json_is_true(want);
		snprintf(what, sizeof(what), "agent '%s' url '%s': got %s, want %s", str(c, "agent"), str(c, "url"),
			 got < 0 ? "an error" : got ? "allowed" : "disallowed", json_is_true(want) ? "allowed" : "disallowed");
		free(body);
	} else if (strcmp(kind, "agent") == 0) {
		int valid = sv_robots_parse(&r, "", 0, 200, str(c, "agent")) == 0;
		ok = valid == json_is_true(want);
		snprintf(what, sizeof(what), "agent '%s': %s, want %s", str(c, "agent"), valid ? "accepted" : "refused",
			 json_is_true(want) ? "accepted" : "refused");
	} else if (strcmp(kind, "escape") == 0) {
		const char *in = str(c, "input");
		char *got = malloc(3 * strlen(in) + 1);
		sv_robots_normalize_escapes(got, in, strlen(in));
		ok = strcmp(got, json_string_value(want)) == 0;
		snprintf(what, sizeof(what), "'%s': got '%s', want '%s'", in, got, json_string_value(want));
		free(got);
	} else if (strcmp(kind, "sitemaps") == 0) {
		size_t len, n;
		char *body = body_of(c, &len);
		const char *const *maps;
		sv_robots_parse(&r, body, len, 200, "salvage");
		n = sv_robots_sitemaps(r, &maps);
		ok = n == json_array_size(want);
		for (size_t i = 0; ok && i < n; i++)
			ok = strcmp(maps[i], json_string_value(json_array_get(want, i))) == 0;
		snprintf(what, sizeof(what), "%zu sitemaps, want %zu", n, json_array_size(want));
		free(body);
	} else {
		snprintf(what, sizeof(what), "unknown kind '%s'", kind);
	}
	sv_robots_free(r);
	judge(t, k, "robots", id, ok, what);
}

static void url_case(tally *t, known_list *k, json_t *c)
{
	const char *id = str(c, "id"), *in = str(c, "input");
	const char *base = json_string_value(json_object_get(c, "base"));
	json_t *want = json_object_get(c, "expected"), *w;
	char what[2048], *got = NULL, *again = NULL;
	int ok = 0, stable = 1;
	size_t i;

	if (sv_url_normalize(&got, in, base) == 0 && sv_url_normalize(&again, got, NULL) == 0)
		stable = strcmp(again, got) == 0;
	else if (got)
		stable = 0;
	json_array_foreach(want, i, w)
		if (json_is_null(w) ? !got : got && json_string_value(w) && strcmp(got, json_string_value(w)) == 0)
			ok = stable;
	snprintf(what, sizeof(what), "'%s' on '%s': got %s%s%s%s%s, want %s", in, base ? base : "(none)",
		 got ? "'" : "", got ? got : "refused", got ? "'" : "", stable ? "" : ", normalised again: ",
		 stable ? "" : again ? again : "refused",
		 json_is_null(json_array_get(want, 0)) ? "refused" : json_string_value(json_array_get(want, 0)));
	if (base && (strncmp(base, "http:", 5) == 0 || strncmp(base, "https:", 6) == 0)) {
		t->base_total++;
		t->base_pass += ok;
	}
	free(got);
	free(again);
	judge(t, k, "url", id, ok, what);
}

static json_t *load(const char *dir, const char *name)
{
	char path[4096];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(j = json_load_file(path, JSON_ALLOW_NUL, &e)))
		fprintf(stderr, "conformance: cannot read '%s': %s (line %d)\n", path, e.text, e.line);
	return j;
}

int main(int argc, char **argv)
{
	known_list k = {0};
	tally rt = {0}, ut = {0};
	json_t *robots, *urls, *c;
	size_t i;
	int rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: conformance DIR KNOWN\n");
		return 2;
	}
	if (read_known(&k, argv[2]) < 0 || !(robots = load(argv[1], "robots_cases.json")) ||
	    !(urls = load(argv[1], "url_cases.json")))
		return 2;
	json_array_foreach(json_object_get(robots, "cases"), i, c)
		robots_case(&rt, &k, c);
	json_array_foreach(json_object_get(urls, "cases"), i, c)
		url_case(&ut, &k, c);
	for (i = 0; i < k.n; i++)
		if (!k.used[i]) {
			printf("STALE %s is listed in known.txt but is no case\n", k.ids[i]);
			rt.stale++;
		}
	printf("robots: %d/%zu pass, %d known differences, %d failed\n", rt.pass,
	       json_array_size(json_object_get(robots, "cases")), rt.known, rt.fail);
	printf("url: %d/%zu pass (%d/%d with an http(s) base), %d known differences, %d failed\n", ut.pass,
	       json_array_size(json_object_get(urls, "cases")), ut.base_pass, ut.base_total, ut.known, ut.fail);
	if (rt.fail || ut.fail || rt.stale || ut.stale)
		rc = 1;
	printf("RESULT %d %d\n", rt.pass + ut.pass + rt.known + ut.known, rt.fail + ut.fail + rt.stale + ut.stale);
	json_decref(robots);
	json_decref(urls);
	for (i = 0; i < k.n; i++)
		free(k.ids[i]);
	free(k.ids);
	free(k.used);
	return rc;
}
