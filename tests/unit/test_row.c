/*
 * tests/unit/test_row.c -- a sheet row's settings: the JSON the queue keeps
 * (unchanged since the first archives), and the same scope after the trip.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../crawler/row.h"

#include <jansson.h>
#include <stdint.h>

static sv_sheet_row sheet_row(void)
{
	sv_sheet_row r;
	memset(&r, 0, sizeof(r));
	r.url = (char *)"https://a.gov/data/";
	r.scope = SV_SCOPE_PREFIX;
	r.depth = 2;
	r.include = (char *)"*.csv";
	r.robots = 0;
	r.delay_ms = 1500;
	r.max_urls = 100;
	r.max_bytes = 1 << 20;
	r.datasets = 1;
	return r;
}

Test(row, json_as_the_queue_keeps_it)
{
	sv_sheet_row sr = sheet_row();
	sv_row *r = NULL;
	char *json = NULL;
	cr_assert_eq(sv_row_from_sheet(&r, &sr, "https://a.gov/data/"), 0, "%s", sv_error_last());
	cr_assert_eq(sv_row_to_json(r, &json), 0);
	cr_assert_str_eq(json, "{\"url\":\"https://a.gov/data/\",\"scope\":\"prefix\",\"depth\":2,\"include\":\"*.csv\","
			       "\"exclude\":null,\"robots\":false,\"delay_ms\":1500,\"max_urls\":100,\"max_bytes\":1048576,"
			       "\"datasets\":true}");
	free(json);
	sv_row_free(r);
}

/* The JSON is written by hand: byte for byte what jansson writes, for the patterns a row can hold. */
Test(row, json_as_jansson_writes_it)
{
	const char *patterns[] = {"*d\xc3\xa9p\xc3\xb4t*", "*\\x*", "*/a b/*", "*%22*|*?q=1&r=[2]*", "*\xe2\x80\xa8*"};
	size_t accepted = 0;
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		sv_sheet_row sr = sheet_row();
		sv_row *r = NULL;
		char *json = NULL, *want = NULL;
		sr.include = (char *)patterns[i];
		sr.exclude = (char *)patterns[(i + 1) % 5];
		sr.depth = -1;
		sr.max_urls = INT64_MAX;
		sr.max_bytes = -1;
		sr.robots = 1;
		sr.datasets = 0;
		sr.scope = SV_SCOPE_DOMAIN;
		if (sv_row_from_sheet(&r, &sr, "https://a.gov/d%C3%A9p/") != 0)
			continue;
		accepted++;
		cr_assert_eq(sv_row_to_json(r, &json), 0);
		json_t *o = json_pack("{s:s, s:s, s:i, s:s?, s:s?, s:b, s:i, s:I, s:I, s:b}", "url",
				      "https://a.gov/d%C3%A9p/", "scope", "domain", "depth", -1, "include", sr.include,
				      "exclude", sr.exclude, "robots", 1, "delay_ms", 1500, "max_urls",
				      (json_int_t)INT64_MAX, "max_bytes", (json_int_t)-1, "datasets", 0);
		cr_assert_not_null(o);
		want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		cr_assert_str_eq(json, want);
		json_decref(o);
		free(want);
		free(json);
		sv_row_free(r);
	}
	cr_assert_geq(accepted, 3);
}

/* The other columns, too: byte for byte what json_object and json_dumps wrote. */
Test(row, meta_json_as_jansson_writes_it)
{
	sv_sheet_row sr = sheet_row();
	sv_sheet_meta meta[] = {{(char *)"agency", (char *)"Dept. of \"Energy\""},
				{(char *)"Note\tB", (char *)"line\nbreak \\ d\xc3\xa9p\xc3\xb4t \x01"},
				{(char *)"z", (char *)"last"}};
	char *got = NULL, *want;
	sr.meta = meta;
	sr.nmeta = 3;
	cr_assert_eq(sv_row_meta_json(&sr, &got), 0);
	json_t *o = json_object();
	for (size_t i = 0; i < 3; i++)
		json_object_set_new(o, meta[i].key, json_string(meta[i].value));
	want = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cr_assert_str_eq(got, want);
	free(got);
	free(want);
	json_decref(o);
	sr.nmeta = 0;
	cr_assert_eq(sv_row_meta_json(&sr, &got), 0);
	cr_assert_str_eq(got, "{}");
	free(got);
}

Test(row, round_trip_keeps_the_decisions)
{
	sv_sheet_row sr = sheet_row();
	sr.exclude = (char *)"*secret*";
	sv_row *a = NULL, *b = NULL;
	char *json = NULL;
	cr_assert_eq(sv_row_from_sheet(&a, &sr, "https://a.gov/data/"), 0);
	cr_assert_eq(sv_row_to_json(a, &json), 0);
	cr_assert_eq(sv_row_from_json(&b, json), 0, "%s", sv_error_last());
	cr_assert_eq(sv_row_robots(b), 0);
	cr_assert_eq(sv_row_max_bytes(b), 1 << 20);
	const char *urls[] = {"https://a.gov/data/x.csv", "https://a.gov/data/secret.csv", "https://a.gov/other/y.csv",
			      "https://a.gov/data/page.html", "https://b.gov/data/z.csv"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		sv_scope_decision da, db;
		cr_assert_eq(sv_scope_decide(sv_row_scope(a), urls[i], 0, 1, 0, &da), 0);
		cr_assert_eq(sv_scope_decide(sv_row_scope(b), urls[i], 0, 1, 0, &db), 0);
		cr_assert_eq(da.follow, db.follow, "%s", urls[i]);
		cr_assert_eq(da.kind, db.kind, "%s", urls[i]);
	}
	free(json);
	sv_row_free(a);
	sv_row_free(b);
}

Test(row, bad_pattern_is_refused_when_loaded)
{
	sv_sheet_row sr = sheet_row();
	sv_row *r = (sv_row *)1;
	sr.include = (char *)"/\\.csv$/"; /* a regular expression: refused */
	cr_assert_eq(sv_row_from_sheet(&r, &sr, "https://a.gov/data/"), SV_EINVAL);
	cr_assert_null(r);
}

Test(row, unreadable_settings)
{
	sv_row *r = (sv_row *)1;
	cr_assert_eq(sv_row_from_json(&r, "not json"), SV_ECORRUPT);
	cr_assert_null(r);
	cr_assert_eq(sv_row_from_json(&r, "{\"scope\":\"host\"}"), SV_ECORRUPT);
	cr_assert_null(r);
	/* No row: robots respected, no size cap, no scope. */
	cr_assert_eq(sv_row_robots(NULL), 1);
	cr_assert_eq(sv_row_max_bytes(NULL), -1);
	cr_assert_null(sv_row_scope(NULL));
}
