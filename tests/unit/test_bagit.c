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
