/*
 * tests/unit/test_import.c -- WARC records in: digests stated in base32,
 * hex and base64 checked, chunked bodies de-chunked, a record that does not
 * match refused with nothing of it kept, revisits resolved.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/capture.h"
#include "../../storage/import.h"

#include <jansson.h>
#include <openssl/evp.h>

static char dir[4096];
static sv_objects *store;
static char *got[16];
static size_t ngot, nrefused;

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
	cr_assert_eq(sv_objects_open(&store, dir, NULL), 0, "%s", sv_error_last());
	ngot = nrefused = 0;
}

static void teardown(void)
{
	for (size_t i = 0; i < ngot; i++)
		free(got[i]);
	sv_objects_free(store);
	th_rmrf(dir);
}

TestSuite(import, .init = setup, .fini = teardown);

static int normalize(char **out, const char *url)
{
	if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
		return -1;
	*out = strdup(url);
	return 0;
}

static int commit(void *ctx, const char *const *records, size_t n)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++) {
		cr_assert_lt(ngot, 16);
		got[ngot++] = strdup(records[i]);
	}
	return 0;
}

static void refused(void *ctx, const char *why)
{
	(void)ctx;
	(void)why;
	nrefused++;
}

typedef struct {
	const char *p;
	size_t len, pos;
} mem;

static int from_mem(void *ctx, void *buf, size_t cap, size_t *n)
{
	mem *m = ctx;
	*n = m->len - m->pos < cap ? m->len - m->pos : cap;
	memcpy(buf, m->p + m->pos, *n);
	m->pos += *n;
	return 0;
}

/* A digest of s in the form asked: "b32", "hex" or "b64". */
static void digest_of(const char *alg, const char *form, const void *p, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_Digest(p, n, md, &len, EVP_get_digestbyname(alg), NULL);
	int k = sprintf(out, "%s:", alg);
	if (!strcmp(form, "hex")) {
		for (unsigned i = 0; i < len; i++)
			k += sprintf(out + k, "%02x", md[i]);
	} else if (!strcmp(form, "b64")) {
		EVP_EncodeBlock((unsigned char *)out + k, md, (int)len);
	} else {
		static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
		unsigned long long acc = 0;
		int bits = 0;
		for (unsigned i = 0; i < len; i++) {
			acc = acc << 8 | md[i];
			bits += 8;
			while (bits >= 5)
				out[k++] = a[(acc >> (bits -= 5)) & 31];
		}
		if (bits)
			out[k++] = a[(acc << (5 - bits)) & 31];
		out[k] = '\0';
	}
}

/* A response record of body (sent as raw, chunked or not) with its digests. */
static char *response(const char *url, const char *http_head, const char *raw, const char *alg, const char *form,
		      int break_digest)
{
	char block[4096], bd[200], pd[200], *out = NULL;
	snprintf(block, sizeof(block), "%s%s", http_head, raw);
	digest_of(alg, form, block, strlen(block), bd);
	digest_of(alg, form, raw, strlen(raw), pd);
	if (break_digest)
		bd[strlen(bd) - 3] = bd[strlen(bd) - 3] == 'A' ? 'B' : 'A';
	cr_assert_gt(asprintf(&out,
			      "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: <%s>\r\n"
			      "WARC-Date: 2026-12-05T08:00:00Z\r\nWARC-Record-ID: <urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427>\r\n"
			      "Content-Type: application/http;msgtype=response\r\nWARC-Block-Digest: %s\r\n"
			      "WARC-Payload-Digest: %s\r\nContent-Length: %zu\r\n\r\n%s\r\n\r\n",
			      url, bd, pd, strlen(block), block),
		     0);
	return out;
}

static int run(const char *warc, sv_import_stats *st)
{
	sv_importer *im = NULL;
	sv_import_options o = {"n", normalize, commit, refused, NULL, NULL};
	mem m = {warc, strlen(warc), 0};
	cr_assert_eq(sv_importer_new(&im, store, &o), 0);
	int rc = sv_importer_warc(im, "t.warc", from_mem, &m);
	if (rc == 0)
		rc = sv_importer_finish(im);
	*st = *sv_importer_stats(im);
	sv_importer_free(im);
	return rc;
}

static json_t *record(size_t i)
{
	cr_assert_lt(i, ngot);
	json_t *j = json_loads(got[i], 0, NULL);
	cr_assert_not_null(j);
	return j;
}

Test(import, digests_in_every_form_are_checked)
{
	const char *forms[][2] = {{"sha1", "b32"}, {"sha1", "hex"}, {"sha256", "hex"}, {"sha256", "b64"}, {"md5", "b32"}};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char *w = response("http://a.gov/x.csv", "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\r\n", "1,2\n3,4\n",
				   forms[i][0], forms[i][1], 0);
		sv_import_stats st;
		cr_assert_eq(run(w, &st), 0, "%s", sv_error_last());
		cr_assert_eq(st.captures, 1, "%s %s", forms[i][0], forms[i][1]);
		cr_assert_eq(st.refused, 0, "%s %s", forms[i][0], forms[i][1]);
		free(w);
		w = response("http://a.gov/x.csv", "HTTP/1.1 200 OK\r\n\r\n", "1,2\n", forms[i][0], forms[i][1], 1);
		cr_assert_eq(run(w, &st), 0);
		cr_assert_eq(st.captures, 0, "a wrong %s %s digest passed", forms[i][0], forms[i][1]);
		cr_assert_eq(st.refused, 1);
		free(w);
	}
	json_t *j = record(0);
	cr_assert_str_eq(json_string_value(json_object_get(j, "kind")), "imported");
	cr_assert_str_eq(json_string_value(json_object_get(j, "url")), "http://a.gov/x.csv");
	cr_assert_str_eq(json_string_value(json_object_get(j, "ts")), "2026-12-05T08:00:00.000Z");
	cr_assert_str_eq(json_string_value(json_object_get(j, "id")), "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427");
	cr_assert_str_eq(json_string_value(json_object_get(j, "mime")), "text/csv");
	cr_assert_eq(json_integer_value(json_object_get(j, "status")), 200);
	cr_assert_eq(json_integer_value(json_object_get(j, "length")), 8);
	json_decref(j);
}

Test(import, chunked_body_is_stored_dechunked)
{
	const char *raw = "4\r\n1,2\n\r\n4;ext=1\r\n3,4\n\r\n0\r\nX-Trailer: y\r\n\r\n";
	char *w = response("http://a.gov/c.csv", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", raw, "sha1",
			   "b32", 0);
	sv_import_stats st;
	cr_assert_eq(run(w, &st), 0, "%s", sv_error_last());
	cr_assert_eq(st.captures, 1);
	json_t *j = record(0);
	cr_assert_eq(json_integer_value(json_object_get(j, "length")), 8);
	unsigned char md[32];
	char hex[65];
	EVP_Digest("1,2\n3,4\n", 8, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	cr_assert_str_eq(json_string_value(json_object_get(j, "sha256")), hex);
	json_decref(j);
	free(w);
	/* framing that does not de-chunk: refused */
	w = response("http://a.gov/c.csv", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "zz\r\nxx", "sha1",
		     "b32", 0);
	cr_assert_eq(run(w, &st), 0);
	cr_assert_eq(st.refused, 1);
	free(w);
}

Test(import, revisit_resolves_to_the_payload_before_it)
{
	char *w = response("http://a.gov/x.csv", "HTTP/1.1 200 OK\r\n\r\n", "1,2\n", "sha1", "b32", 0);
	char pd[200], *all = NULL;
	digest_of("sha1", "b32", "1,2\n", 4, pd);
	const char *head = "HTTP/1.1 200 OK\r\n\r\n";
	cr_assert_gt(asprintf(&all,
			      "%sWARC/1.1\r\nWARC-Type: revisit\r\nWARC-Target-URI: http://a.gov/y.csv\r\n"
			      "WARC-Date: 2026-12-05T09:00:00.5Z\r\nWARC-Profile: "
			      "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest\r\n"
			      "WARC-Payload-Digest: %s\r\nContent-Length: %zu\r\n\r\n%s\r\n\r\n"
			      "WARC/1.1\r\nWARC-Type: revisit\r\nWARC-Target-URI: http://a.gov/z.csv\r\n"
			      "WARC-Payload-Digest: sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\nContent-Length: %zu\r\n\r\n%s\r\n\r\n",
			      w, pd, strlen(head), head, strlen(head), head),
		     0);
	sv_import_stats st;
	cr_assert_eq(run(all, &st), 0, "%s", sv_error_last());
	cr_assert_eq(st.captures, 2);
	cr_assert_eq(st.revisits, 1);
	cr_assert_eq(st.refused, 1, "a revisit of nothing imported is refused");
	json_t *a = record(0), *b = record(1);
	cr_assert_str_eq(json_string_value(json_object_get(b, "url")), "http://a.gov/y.csv");
	cr_assert_str_eq(json_string_value(json_object_get(b, "sha256")), json_string_value(json_object_get(a, "sha256")));
	cr_assert_str_eq(json_string_value(json_object_get(b, "ts")), "2026-12-05T09:00:00.500Z");
	json_decref(a);
	json_decref(b);
	free(w);
	free(all);
}

Test(import, truncated_record_stops_with_its_name)
{
	char *w = response("http://a.gov/x.csv", "HTTP/1.1 200 OK\r\n\r\n", "1,2\n3,4\n5,6\n", "sha1", "b32", 0);
	w[strlen(w) - 10] = '\0';
	sv_import_stats st;
	cr_assert_eq(run(w, &st), SV_ECORRUPT);
	cr_assert(strstr(sv_error_last(), "t.warc: the response record <urn:uuid:"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "http://a.gov/x.csv"), "%s", sv_error_last());
	cr_assert_eq(st.captures, 0);
	free(w);
}
