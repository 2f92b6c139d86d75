/*
 * tests/unit/test_bagit.c -- the names a bag gives URLs: never outside
 * data/<host>/, no "." or ".." segment, no control byte, no segment over
 * 255 bytes, a bounded path; and, across a bag, no two names that a
 * case-insensitive file system takes for one, no file where another name
 * needs a folder.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/bagit.h"

#include <ctype.h>
#include <strings.h>

/* What every name must be, whatever the URL. */
static void expect_safe(const char *url, const char *name, const char *host)
{
	size_t n = strlen(name);
	cr_assert_leq(n, (size_t)SV_BAGIT_PATH_MAX, "%s: %zu bytes", url, n);
	cr_assert(!strncmp(name, host, strlen(host)) && name[strlen(host)] == '/', "%s: %s is not under %s/", url,
		  name, host);
	cr_assert_neq(name[n - 1], '/', "%s: %s is a folder", url, name);
	for (const char *seg = name;;) {
		size_t len = strcspn(seg, "/");
		cr_assert_gt(len, 0, "%s: an empty segment in %s", url, name);
		cr_assert_leq(len, 255, "%s: a segment of %zu bytes", url, len);
		cr_assert(!(len == 1 && seg[0] == '.') && !(len == 2 && !strncmp(seg, "..", 2)), "%s: %s", url, name);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)seg[i];
			cr_assert(c > 0x20 && c < 0x7f && c != '%' && c != '\\' && c != ':', "%s: byte 0x%02x in %s", url, c,
				  name);
		}
		if (!seg[len])
			break;
		seg += len + 1;
	}
}

static char *name_of(const char *url)
{
	char *name = NULL;
	cr_assert_eq(sv_bagit_name(url, &name), 0, "%s: %s", url, sv_error_last());
	expect_safe(url, name, strncmp(url, "http://h:", 9) ? "h" : "h+8080");
	return name;
}

Test(bagit, plain_urls_keep_their_names)
{
	static const char *const cases[][2] = {
		{"http://h/data/table.csv", "h/data/table.csv"},
		{"http://h/", "h/index.html"},
		{"http://h", "h/index.html"},
		{"http://h/a/b/", "h/a/b/index.html"},
		{"http://h:8080/x.csv", "h+8080/x.csv"},
		{"https://user:pw@h/x#frag", "h/x"},
		{"http://h/r%C3%A9sum%C3%A9.pdf", NULL}, /* non-ASCII: suffixed */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *name = name_of(cases[i][0]);
		if (cases[i][1])
			cr_assert_str_eq(name, cases[i][1], "%s", cases[i][0]);
		else
			cr_assert(strchr(name, '~'), "%s: %s has no suffix", cases[i][0], name);
		free(name);
	}
}

Test(bagit, attacks_stay_inside_with_a_suffix)
{
	static const char *const urls[] = {
		"http://h/../../etc/passwd",  "http://h/%2e%2e/%2e%2e/x", "http://h/%2E%2e/./x", "http://h/..%2f..%2fx",
		"http://h/a%2Fb",             "http://h/c%01d%0ae%7f",     "http://h/a\x01" "b\tc", "http://h//x",
		"http://h/x?q=../../y",       "http://h/con.txt",          "http://h/trail.",      "http://h/%00x",
		"http://h/a%5Cb",             "http://h/..",               "http://h/.",           "http://h/%",
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		char *name = name_of(urls[i]);
		/* every changed segment is suffixed, and a decoded '/' made no folder */
		cr_assert(strchr(name, '~'), "%s: %s", urls[i], name);
		free(name);
	}
	char *a = name_of("http://h/a%2Fb");
	cr_assert_eq(strchr(a, '/'), strrchr(a, '/'), "%s: an encoded slash made a folder", a);
	free(a);
	char *dos = name_of("http://h/con.txt");
	cr_assert(strncasecmp(dos, "h/con", 5) != 0, "%s: still a DOS device", dos);
	free(dos);
	/* a suffix depends on the URL: two attacks that clean up alike still differ */
	char *x = name_of("http://h/%2e%2e/x"), *y = name_of("http://h/../x");
	cr_assert_str_neq(x, y);
	free(x);
	free(y);
}

Test(bagit, long_names_and_deep_paths_are_bounded)
{
	char *url = malloc(20100);
	strcpy(url, "http://h/");
	memset(url + 9, 'n', 10000);
	strcpy(url + 10009, ".csv");
	char *a = name_of(url);
	cr_assert(strchr(a, '~'));
	/* the same long name but for its end differs */
	url[10008] = 'm';
	char *b = name_of(url);
	cr_assert_str_neq(a, b);
	free(a);
	free(b);
	/* 5,000 folders deep, and a long query */
	strcpy(url, "http://h");
	for (int i = 0; i < 5000; i++)
		strcat(url, "/d");
	strcat(url, "/f?");
	memset(url + strlen(url), 'q', 3000);
	url[8 + 5000 * 2 + 3 + 3000] = '\0';
	free(name_of(url));
	free(url);
}

/* No two names alike but for case; no name is a folder of another. */
static void expect_distinct(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			if (i == j)
				continue;
			size_t li = strlen(paths[i]);
			cr_assert(strcasecmp(paths[i], paths[j]) != 0, "%s and %s clash", paths[i], paths[j]);
			cr_assert(!(strncasecmp(paths[i], paths[j], li) == 0 && paths[j][li] == '/'),
				  "%s is a file and a folder of %s", paths[i], paths[j]);
		}
}

Test(bagit, names_in_one_bag_never_clash)
{
	const char *urls[] = {
		"http://h/A", "http://h/a", "http://h/a/b", "http://h/X/1", "http://h/x/1", "http://h/d/", "http://h/d/index.html",
		"http://h/t.csv?x=1", "http://h/t.csv?x=2", "http://h/", "http://h/index.html",
	};
	size_t n = sizeof(urls) / sizeof(urls[0]);
	char **paths = NULL;
	cr_assert_eq(sv_bagit_names(urls, n, &paths), 0, "%s", sv_error_last());
	for (size_t i = 0; i < n; i++)
		expect_safe(urls[i], paths[i], "h");
	expect_distinct(paths, n);
	/* the folder keeps its name; the file beside it moves */
	cr_assert_str_eq(paths[2], "h/a/b");
	cr_assert(!strncmp(paths[1], "h/a~", 4), "%s", paths[1]);
	/* a URL with no rival keeps its plain name */
	char **one = NULL;
	cr_assert_eq(sv_bagit_names(urls + 2, 1, &one), 0);
	cr_assert_str_eq(one[0], "h/a/b");
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(one[0]);
	free(one);
}

/* ---- a whole bag, from an index and a store made here ---- */

#include "../../storage/capture.h"

#include <sys/stat.h>
#include <zlib.h>

static void store(sv_objects *st, const void *buf, size_t len, char hex[65])
{
	sv_objects_writer *w = NULL;
	sv_digest d;
	cr_assert_eq(sv_objects_writer_new(&w, st, (int64_t)len), 0);
	cr_assert_eq(sv_objects_writer_write(w, buf, len), 0);
	cr_assert_eq(sv_objects_writer_commit(w, &d, NULL), 0);
	sv_digest_to_hex(&d, hex);
}

static void capture(sv_index *ix, sv_objects *st, const char *url, const char *ts, int status, const char *ce,
		    const void *buf, size_t len)
{
	char hex[65];
	store(st, buf, len, hex);
	sv_capture c = SV_CAPTURE_INIT;
	char *json = NULL;
	c.url = url;
	c.ts = ts;
	c.status = status;
	c.length = (int64_t)len;
	c.sha256 = hex;
	c.content_encoding = ce;
	c.headers = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\r\n";
	c.headers_len = strlen(c.headers);
	c.kind = SV_KIND_DATASET;
	c.node = "n1";
	char id[SV_CAPTURE_ID_LEN];
	cr_assert_eq(sv_capture_new_id(id), 0);
	c.id = id;
	cr_assert_eq(sv_capture_to_json(&c, &json), 0);
	const char *recs[] = {json};
	cr_assert_eq(sv_index_add(ix, recs, 1, NULL, NULL), 0, "%s", sv_error_last());
	free(json);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "cannot read %s", path);
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

Test(bagit, a_bag_holds_the_latest_payloads_decoded_or_as_stored)
{
	char dir[4096], path[8192];
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/objects", dir);
	sv_objects *st = NULL;
	sv_objects_options oo = SV_OBJECTS_OPTIONS_INIT;
	cr_assert_eq(sv_objects_open(&st, path, &oo), 0);
	snprintf(path, sizeof(path), "%s/index.db", dir);
	sv_index *ix = NULL;
	cr_assert_eq(sv_index_open(&ix, path, NULL), 0);

	const char plain[] = "a,b\n1,2\n", old[] = "old,version\n";
	unsigned char gz[256];
	uLongf gzlen = sizeof(gz);
	z_stream z;
	memset(&z, 0, sizeof(z));
	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)plain;
	z.avail_in = sizeof(plain) - 1;
	z.next_out = gz;
	z.avail_out = (uInt)gzlen;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	gzlen = sizeof(gz) - z.avail_out;
	deflateEnd(&z);
	capture(ix, st, "http://h/t.csv", "2026-12-01T00:00:00.000Z", 200, NULL, old, sizeof(old) - 1);
	capture(ix, st, "http://h/t.csv", "2026-12-02T00:00:00.000Z", 200, NULL, plain, sizeof(plain) - 1);
	capture(ix, st, "http://h/g.csv", "2026-12-02T00:00:00.000Z", 200, "gzip", gz, gzlen);
	capture(ix, st, "http://h/bad.csv", "2026-12-02T00:00:00.000Z", 200, "gzip", "not gzip", 8);
	capture(ix, st, "http://h/z.csv", "2026-12-02T00:00:00.000Z", 200, "compress", "zzz", 3);
	capture(ix, st, "http://h/gone", "2026-12-02T00:00:00.000Z", 404, NULL, "no", 2);

	/* a folder that is not empty is refused and left alone */
	char bag[8192], *keep;
	snprintf(bag, sizeof(bag), "%s/full", dir);
	mkdir(bag, 0755);
	snprintf(path, sizeof(path), "%s/full/x", dir);
	fclose(fopen(path, "w"));
	sv_bagit_options o = {.dir = bag, .seed = -1, .software = "salvage/test", .tmp_dir = dir};
	cr_assert_eq(sv_export_bagit(ix, st, &o, NULL), SV_EINVAL);
	cr_assert_eq(th_count_entries(bag), 1);

	snprintf(bag, sizeof(bag), "%s/bag", dir);
	sv_bagit_stats stats;
	cr_assert_eq(sv_export_bagit(ix, st, &o, &stats), 0, "%s", sv_error_last());
	cr_assert_eq(stats.files, 4);
	cr_assert_eq(stats.decoded, 1);
	cr_assert_eq(stats.kept, 2);
	size_t n;
	static const char *const want[][2] = {
		{"h/t.csv", "a,b\n1,2\n"}, {"h/g.csv", "a,b\n1,2\n"}, {"h/bad.csv", "not gzip"}, {"h/z.csv", "zzz"}};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/data/%s", bag, want[i][0]);
		keep = slurp(path, &n);
		cr_assert_str_eq(keep, want[i][1], "%s", want[i][0]);
		/* the manifest hashes the bytes in the bag */
		char hex[65], line[512];
		th_sha256_hex(keep, n, hex);
		snprintf(line, sizeof(line), "%s  data/%s\n", hex, want[i][0]);
		free(keep);
		snprintf(path, sizeof(path), "%s/manifest-sha256.txt", bag);
		keep = slurp(path, &n);
		cr_assert_not_null(strstr(keep, line), "%s not in:\n%s", line, keep);
		free(keep);
	}
	snprintf(path, sizeof(path), "%s/data/h/gone", bag);
	cr_assert_neq(access(path, F_OK), 0, "a 404 is in the bag");
	snprintf(path, sizeof(path), "%s/salvage/files.tsv", bag);
	keep = slurp(path, &n);
	cr_assert_not_null(strstr(keep, "\thttp://h/bad.csv\t"), "%s", keep);
	cr_assert_not_null(strstr(keep, "kept as stored: gzip does not decode\n"), "%s", keep);
	cr_assert_not_null(strstr(keep, "kept as stored: compress a coding salvage does not decode\n"), "%s", keep);
	free(keep);
	snprintf(path, sizeof(path), "%s/bag-info.txt", bag);
	keep = slurp(path, &n);
	cr_assert_not_null(strstr(keep, "Payload-Oxum: 27.4\n"), "%s", keep);
	free(keep);
	sv_index_close(ix);
	sv_objects_free(st);
	th_rmrf(dir);
}
