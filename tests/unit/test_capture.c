/*
 * tests/unit/test_capture.c -- capture records: the bytes the ledger keeps,
 * field by field and in order, and reading them back.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/capture.h"

#include <jansson.h>

static char *to_json(const sv_capture *c)
{
	char *s = NULL;
	cr_assert_eq(sv_capture_to_json(c, &s), 0, "%s", sv_error_last());
	return s;
}

Test(capture, crawl_record_fields_in_order)
{
	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/data.csv";
	c.ts = "2026-12-05T08:00:00.123Z";
	c.status = 200;
	c.mime = "text/csv";
	c.length = 12;
	c.sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	c.stored = 30;
	c.headers = "HTTP/1.1 200 OK\r\n\r\n";
	c.headers_len = strlen(c.headers);
	c.seed = 3;
	c.via = "https://a.gov/";
	c.kind = SV_KIND_DATASET;
	c.node = "laptop";
	c.attempt = 2;
	char *s = to_json(&c);
	cr_assert_str_eq(s, "{\"url\":\"https://a.gov/data.csv\",\"ts\":\"2026-12-05T08:00:00.123Z\",\"status\":200,"
			    "\"mime\":\"text/csv\",\"length\":12,\"sha256\":"
			    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"stored\":30,"
			    "\"headers\":\"HTTP/1.1 200 OK\\r\\n\\r\\n\",\"seed\":3,\"via\":\"https://a.gov/\","
			    "\"kind\":\"dataset\",\"node\":\"laptop\",\"attempt\":2}");
	free(s);
}

Test(capture, failure_record_has_nulls_and_optional_fields)
{
	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/big.zip";
	c.ts = "2026-12-05T08:00:00.000Z";
	c.status = 0;
	c.seed = 1;
	c.node = "n";
	c.content_encoding = "gzip";
	c.resumed_at = 4194304;
	c.redirect = "https://b.gov/";
	c.truncated = "disconnect";
	c.error = "Connection reset";
	c.headers_truncated = 1;
	c.attempt = 5;
	char *s = to_json(&c);
	cr_assert_str_eq(s, "{\"url\":\"https://a.gov/big.zip\",\"ts\":\"2026-12-05T08:00:00.000Z\",\"status\":0,"
			    "\"mime\":null,\"length\":null,\"sha256\":null,\"stored\":null,\"headers\":null,\"seed\":1,"
			    "\"via\":null,\"kind\":\"page\",\"node\":\"n\",\"content_encoding\":\"gzip\","
			    "\"resumed_at\":4194304,\"redirect\":\"https://b.gov/\",\"truncated\":\"disconnect\","
			    "\"error\":\"Connection reset\",\"headers_truncated\":true,\"attempt\":5}");
	free(s);
}

/* A capture made with TLS verification off says so; one made with it on has no such key. */
Test(capture, tls_unverified_written_only_when_set_and_read_back)
{
	sv_capture c = SV_CAPTURE_INIT;
	sv_capture_parsed p;
	c.url = "https://a.gov/";
	c.status = 200;
	c.attempt = 1;
	c.tls_unverified = 1;
	char *s = to_json(&c);
	cr_assert_str_eq(s, "{\"url\":\"https://a.gov/\",\"ts\":null,\"status\":200,\"mime\":null,\"length\":null,"
			    "\"sha256\":null,\"stored\":null,\"headers\":null,\"seed\":null,\"via\":null,"
			    "\"kind\":\"page\",\"node\":null,\"attempt\":1,\"tls_unverified\":true}");
	cr_assert_eq(sv_capture_parse(&p, s, strlen(s)), 0);
	cr_assert_eq(p.c.tls_unverified, 1);
	sv_capture_parsed_clear(&p);
	free(s);
	c.tls_unverified = 0;
	s = to_json(&c);
	cr_assert_null(strstr(s, "tls_unverified"), "%s", s);
	cr_assert_eq(sv_capture_parse(&p, s, strlen(s)), 0);
	cr_assert_eq(p.c.tls_unverified, 0);
	sv_capture_parsed_clear(&p);
	free(s);
}

Test(capture, manual_record)
{
	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/x";
	c.ts = "2026-12-05T08:00:00.000Z";
	c.length = 3;
	c.sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	c.stored = 12;
	c.kind = SV_KIND_MANUAL;
	c.node = "n";
	c.file = "x.csv";
	c.note = "by hand";
	char *s = to_json(&c);
	cr_assert_str_eq(s, "{\"url\":\"https://a.gov/x\",\"ts\":\"2026-12-05T08:00:00.000Z\",\"status\":null,"
			    "\"mime\":null,\"length\":3,\"sha256\":"
			    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"stored\":12,"
			    "\"headers\":null,\"seed\":null,\"via\":null,\"kind\":\"manual\",\"node\":\"n\","
			    "\"file\":\"x.csv\",\"note\":\"by hand\"}");
	free(s);
}

/* A text from the server that is not UTF-8 has its bad bytes written %XX; the capture is still recorded. */
Test(capture, bad_text_escaped)
{
	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/";
	c.status = 200;
	c.mime = "text/html; charset=\xe9";
	c.via = "https://a.gov/caf\xc3\xa9";
	c.redirect = "https://a.gov/\xff\xc3";
	c.error = "bad \xed\xa0\x80 surrogate";
	char *s = to_json(&c);
	cr_assert_not_null(strstr(s, "\"mime\":\"text/html; charset=%E9\""), "%s", s);
	cr_assert_not_null(strstr(s, "\"via\":\"https://a.gov/caf\xc3\xa9\""));
	cr_assert_not_null(strstr(s, "\"redirect\":\"https://a.gov/%FF%C3\""), "%s", s);
	cr_assert_not_null(strstr(s, "\"error\":\"bad %ED%A0%80 surrogate\""), "%s", s);
	free(s);
}

/* A Latin-1 header block (Content-Disposition: filename="Donn\xe9es.csv") is
 * kept byte for byte, as headers_b64, and read back as the same bytes. */
Test(capture, latin1_headers_round_trip)
{
	static const char block[] = "HTTP/1.1 200 OK\r\nContent-Disposition: attachment; "
				    "filename=\"Donn\xe9" "es.csv\"\r\nX-Nul: a\0b\r\n\r\n";
	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/d";
	c.headers = block;
	c.headers_len = sizeof(block) - 1;
	char *s = to_json(&c);
	cr_assert_null(strstr(s, "\"headers\""), "%s", s);
	cr_assert_not_null(strstr(s, "\"headers_b64\":\""), "%s", s);
	sv_capture_parsed p;
	cr_assert_eq(sv_capture_parse(&p, s, strlen(s)), 0, "%s", sv_error_last());
	cr_assert_eq(p.c.headers_len, sizeof(block) - 1);
	cr_assert_eq(memcmp(p.c.headers, block, sizeof(block) - 1), 0);
	sv_capture_parsed_clear(&p);
	free(s);
	/* Every length modulo 3, for the padding. */
	for (size_t n = sizeof(block) - 4; n < sizeof(block); n++) {
		c.headers_len = n;
		s = to_json(&c);
		cr_assert_eq(sv_capture_parse(&p, s, strlen(s)), 0);
		cr_assert_eq(p.c.headers_len, n);
		cr_assert_eq(memcmp(p.c.headers, block, n), 0);
		sv_capture_parsed_clear(&p);
		free(s);
	}
}

Test(capture, no_url_is_refused)
{
	sv_capture c = SV_CAPTURE_INIT;
	char *s = (char *)"x";
	cr_assert_eq(sv_capture_to_json(&c, &s), SV_EINVAL);
	cr_assert_null(s);
}

Test(capture, round_trip)
{
	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/d.csv";
	c.ts = "2026-12-05T08:00:00.000Z";
	c.status = 206;
	c.mime = "text/csv";
	c.length = 10;
	c.sha256 = "abcdef6789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	c.stored = 20;
	c.headers = "H: 1\r\n";
	c.headers_len = 6;
	c.seed = 7;
	c.via = "https://a.gov/";
	c.kind = SV_KIND_SITEMAP;
	c.node = "n";
	c.resumed_at = 5;
	c.truncated = "time";
	c.attempt = 3;
	char *s = to_json(&c);
	sv_capture_parsed p;
	cr_assert_eq(sv_capture_parse(&p, s, strlen(s)), 0);
	cr_assert_str_eq(p.c.url, c.url);
	cr_assert_str_eq(p.c.ts, c.ts);
	cr_assert_eq(p.c.status, 206);
	cr_assert_str_eq(p.c.mime, "text/csv");
	cr_assert_eq(p.c.length, 10);
	cr_assert_str_eq(p.c.sha256, c.sha256);
	cr_assert_eq(p.c.stored, 20);
	cr_assert_eq(p.c.headers_len, 6);
	cr_assert_eq(memcmp(p.c.headers, "H: 1\r\n", 6), 0);
	cr_assert_eq(p.c.seed, 7);
	cr_assert_str_eq(p.c.via, c.via);
	cr_assert(p.kind_known);
	cr_assert_eq(p.c.kind, SV_KIND_SITEMAP);
	cr_assert_str_eq(p.c.node, "n");
	cr_assert_eq(p.c.resumed_at, 5);
	cr_assert_str_eq(p.c.truncated, "time");
	cr_assert_null(p.c.error);
	cr_assert_eq(p.c.attempt, 3);
	sv_capture_parsed_clear(&p);
	free(s);
}

/* Arrays, not pointers: Criterion runs each case in a new process. */
typedef struct {
	char line[128];
	int rc;
} parse_case;

ParameterizedTestParameters(capture, parse_refuses)
{
	static parse_case cases[] = {
		{"", SV_ECORRUPT},
		{"[1,2]", SV_ECORRUPT},
		{"{\"ts\":\"x\"}", SV_ECORRUPT},
		{"{\"url\":3}", SV_ECORRUPT},
		{"{\"url\":\"u\",\"sha256\":\"abc\"}", SV_ECORRUPT},
		{"{\"url\":\"u\",\"sha256\":5}", SV_ECORRUPT},
		{"{\"url\":\"u\",\"sha256\":\"ABCDEF6789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
		 SV_ECORRUPT},
		{"{\"url\":\"u\",\"sha256\":null}", 0},
		{"{\"url\":\"u\",\"kind\":\"weird\"}", 0},
		{"{\"url\":\"u\",\"headers_b64\":\"abc\"}", SV_ECORRUPT},
		{"{\"url\":\"u\",\"headers_b64\":\"a!==\"}", SV_ECORRUPT},
	};
	return cr_make_param_array(parse_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(parse_case *pc, capture, parse_refuses)
{
	sv_capture_parsed p;
	cr_assert_eq(sv_capture_parse(&p, pc->line, strlen(pc->line)), pc->rc, "%s", pc->line);
	if (pc->rc == 0) {
		cr_assert_null(p.c.sha256);
		cr_assert_eq(p.c.length, -1);
		cr_assert_eq(p.c.status, -1);
	}
	if (strstr(pc->line, "weird"))
		cr_assert_not(p.kind_known);
	sv_capture_parsed_clear(&p);
}

/* Two fetches alike (same URL, millisecond and answer) make two records:
 * each has its own id, written after node and read back. */
Test(capture, record_ids_tell_alike_fetches_apart)
{
	char a[SV_CAPTURE_ID_LEN], b[SV_CAPTURE_ID_LEN];
	cr_assert_eq(sv_capture_new_id(a), 0);
	cr_assert_eq(sv_capture_new_id(b), 0);
	cr_assert_str_neq(a, b);
	cr_assert_eq(strlen(a), SV_CAPTURE_ID_LEN - 1);
	cr_assert_eq(strncmp(a, "urn:uuid:", 9), 0);
	const char *u = a + 9;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			cr_assert_eq(u[i], '-', "%s", a);
		else
			cr_assert(strchr("0123456789abcdef", u[i]) && u[i], "%s", a);
	}
	cr_assert_eq(u[14], '4', "version 4: %s", a);
	cr_assert(strchr("89ab", u[19]), "variant: %s", a);

	sv_capture c = SV_CAPTURE_INIT;
	c.url = "https://a.gov/";
	c.ts = "2026-12-05T08:00:00.000Z";
	c.status = 302;
	c.node = "n";
	c.id = a;
	char *s1 = to_json(&c);
	c.id = b;
	char *s2 = to_json(&c);
	cr_assert_str_neq(s1, s2);
	char want[256];
	snprintf(want, sizeof(want), "\"kind\":\"page\",\"node\":\"n\",\"id\":\"%s\"}", a);
	cr_assert(strstr(s1, want), "%s", s1);
	sv_capture_parsed p;
	cr_assert_eq(sv_capture_parse(&p, s1, strlen(s1)), 0, "%s", sv_error_last());
	cr_assert_str_eq(p.c.id, a);
	sv_capture_parsed_clear(&p);
	free(s1);
	free(s2);
}
