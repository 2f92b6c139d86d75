/*
 * tests/unit/test_url.c -- URL normalisation: RFC 3986 resolution, each
 * normalisation rule, refusals, idempotence over the whole table, host keys,
 * and hostile input (long, control bytes, random junk).
 *
 * Parameter structs hold inline arrays: Criterion re-runs the parameter
 * function in each worker, and pointers would not survive the trip.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../queue/url.h"

#include <jansson.h>
#include <pthread.h>

typedef struct {
	char in[300];
	char base[100]; /* "" = no base */
	char want[300]; /* the result, or when !ok a part of the error message */
	int ok;
} url_case;

#define RFC_BASE "http://a/b/c/d;p?q"
#define NOT_HTTP "is not an http or https URL"

static url_case cases[] = {
	/* RFC 3986 5.4.1, normal examples (fragments dropped, empty path "/") */
	{"g:h", RFC_BASE, NOT_HTTP, 0},
	{"g", RFC_BASE, "http://a/b/c/g", 1},
	{"./g", RFC_BASE, "http://a/b/c/g", 1},
	{"g/", RFC_BASE, "http://a/b/c/g/", 1},
	{"/g", RFC_BASE, "http://a/g", 1},
	{"//g", RFC_BASE, "http://g/", 1},
	{"?y", RFC_BASE, "http://a/b/c/d;p?y", 1},
	{"g?y", RFC_BASE, "http://a/b/c/g?y", 1},
	{"#s", RFC_BASE, "http://a/b/c/d;p?q", 1},
	{"g#s", RFC_BASE, "http://a/b/c/g", 1},
	{"g?y#s", RFC_BASE, "http://a/b/c/g?y", 1},
	{";x", RFC_BASE, "http://a/b/c/;x", 1},
	{"g;x", RFC_BASE, "http://a/b/c/g;x", 1},
	{"g;x?y#s", RFC_BASE, "http://a/b/c/g;x?y", 1},
	{"", RFC_BASE, "http://a/b/c/d;p?q", 1},
	{".", RFC_BASE, "http://a/b/c/", 1},
	{"./", RFC_BASE, "http://a/b/c/", 1},
	{"..", RFC_BASE, "http://a/b/", 1},
	{"../", RFC_BASE, "http://a/b/", 1},
	{"../g", RFC_BASE, "http://a/b/g", 1},
	{"../..", RFC_BASE, "http://a/", 1},
	{"../../", RFC_BASE, "http://a/", 1},
	{"../../g", RFC_BASE, "http://a/g", 1},
	/* RFC 3986 5.4.2, abnormal examples */
	{"../../../g", RFC_BASE, "http://a/g", 1},
	{"../../../../g", RFC_BASE, "http://a/g", 1},
	{"/./g", RFC_BASE, "http://a/g", 1},
	{"/../g", RFC_BASE, "http://a/g", 1},
	{"g.", RFC_BASE, "http://a/b/c/g.", 1},
	{".g", RFC_BASE, "http://a/b/c/.g", 1},
	{"g..", RFC_BASE, "http://a/b/c/g..", 1},
	{"..g", RFC_BASE, "http://a/b/c/..g", 1},
	{"./../g", RFC_BASE, "http://a/b/g", 1},
	{"./g/.", RFC_BASE, "http://a/b/c/g/", 1},
	{"g/./h", RFC_BASE, "http://a/b/c/g/h", 1},
	{"g/../h", RFC_BASE, "http://a/b/c/h", 1},
	{"g;x=1/./y", RFC_BASE, "http://a/b/c/g;x=1/y", 1},
	{"g;x=1/../y", RFC_BASE, "http://a/b/c/y", 1},
	{"g?y/./x", RFC_BASE, "http://a/b/c/g?y/./x", 1},
	{"g?y/../x", RFC_BASE, "http://a/b/c/g?y/../x", 1},
	{"g#s/./x", RFC_BASE, "http://a/b/c/g", 1},
	{"g#s/../x", RFC_BASE, "http://a/b/c/g", 1},
	{"http:g", RFC_BASE, "http://a/b/c/g", 1}, /* the browsers' reading (RFC 3986 5.4.2 allows it) */
	/* resolution against other bases */
	{"?y", "http://a/b#frag", "http://a/b?y", 1},
	{"", "http://a/b#frag", "http://a/b", 1},
	{"../d?", "HTTPS://U:P@A:443/b/c?x", "https://a/d", 1},
	{"HTTP://C/x", "http://a/b", "http://c/x", 1},
	{"  g  ", "http://a/b/", "http://a/b/g", 1},
	{"%2e%2e/g", RFC_BASE, "http://a/b/g", 1},
	{"../?x", RFC_BASE, "http://a/b/?x", 1},
	{"../?", RFC_BASE, "http://a/b/", 1},
	{"../g", "http://a/b/./c/d", "http://a/b/g", 1},
	{"../g", "http://a/b/%2E/c/d", "http://a/b/g", 1},
	{"../../g", "http://a/b/./d", "http://a/g", 1},
	{"g", "ftp://a/", "base: 'ftp://a/' is not an http or https URL", 0},
	{"g", "http://a b/", "has an invalid host", 0},
	/* scheme and host in lower case, path case kept */
	{"HTTP://ExAmple.COM/A/B", "", "http://example.com/A/B", 1},
	{"HTTPS://WWW.Example.org", "", "https://www.example.org/", 1},
	{"http://ex%41mple.com/", "", "http://example.com/", 1},
	{"http://Example.COM./p", "", "http://example.com./p", 1},
	{"http://0x7f.1/", "", "http://127.0.0.1/", 1},
	{"http://[::FFFF:1.2.3.4]:8080/", "", "http://[::ffff:102:304]:8080/", 1},
	{"http://[0:0::1]/", "", "http://[::1]/", 1},
	{"http://[::1]:80/x", "", "http://[::1]/x", 1},
	/* ports */
	{"http://a:80/", "", "http://a/", 1},
	{"https://a:443/", "", "https://a/", 1},
	{"https://a:80/", "", "https://a:80/", 1},
	{"http://a:443/", "", "http://a:443/", 1},
	{"http://a:0080/", "", "http://a/", 1},
	{"http://a:8080", "", "http://a:8080/", 1},
	{"http://a:/", "", "http://a/", 1},
	{"http://a:65535/", "", "http://a:65535/", 1},
	/* dot segments, empty path */
	{"http://a/a/./b/../c", "", "http://a/a/c", 1},
	{"http://a", "", "http://a/", 1},
	{"http://a?x", "", "http://a/?x", 1},
	{"http://a/%2e%2E/b", "", "http://a/b", 1},
	{"http://a/x/%2e", "", "http://a/x/", 1},
	{"http://a/b/%2e%2E/../c", "", "http://a/c", 1},
	{"http://a/b//c", "", "http://a/b//c", 1},
	/* fragment, user info */
	{"http://a/b#frag", "", "http://a/b", 1},
	{"http://a/b?#", "", "http://a/b", 1},
	{"http://user:password@a/x", "", "http://a/x", 1},
	{"https://user@a:8443/", "", "https://a:8443/", 1},
	/* percent-encoding */
	{"http://a/%7Euser", "", "http://a/~user", 1},
	{"http://a/%41%62%30%2d%2e%5f%7e", "", "http://a/Ab0-._~", 1},
	{"http://a/%2f%3f%23%25%5b?%2f%3d%26%25", "", "http://a/%2F%3F%23%25%5B?%2F%3D%26%25", 1},
	{"http://a/a b?c d", "", "http://a/a%20b?c%20d", 1},
	{"http://a/\"<>\\^`{|}", "", "http://a/%22%3C%3E/%5E%60%7B%7C%7D", 1},
	{"http://a/x?\"<>\\^`{|}", "", "http://a/x?%22%3C%3E%5C%5E%60%7B%7C%7D", 1},
	{"http://a/caf\xC3\xA9?q=\xC3\xA9", "", "http://a/caf%C3%A9?q=%C3%A9", 1},
	{"http://a/%c3%a9", "", "http://a/%C3%A9", 1},
	{"http://a/%", "", "http://a/%25", 1},
	{"http://a/%zz%4?%g", "", "http://a/%25zz%254?%25g", 1},
	{"http://a/x\x01"
	 "y\x7f",
	 "", "http://a/x%01y%7F", 1},
	/* query: order kept, empty dropped, '+' untouched */
	{"http://a/?b=2&a=1&b=1", "", "http://a/?b=2&a=1&b=1", 1},
	{"http://a/p?", "", "http://a/p", 1},
	{"http://a/?q=%2b+x", "", "http://a/?q=%2B+x", 1},
	/* whitespace */
	{"  http://a/b  ", "", "http://a/b", 1},
	{"\thttp://a/\tb\nc\r\n", "", "http://a/bc", 1},
	{"http://a/b c \n", "", "http://a/b%20c", 1},
	/* internationalised hosts */
	{"http://b\xC3\xBC" "cher.de/", "", "http://xn--bcher-kva.de/", 1},
	{"http://B\xC3\x9C" "CHER.de/x", "", "http://xn--bcher-kva.de/x", 1},
	{"http://b%C3%BCcher.de/", "", "http://xn--bcher-kva.de/", 1},
	{"http://fa\xC3\x9F.de/", "", "http://xn--fa-hia.de/", 1},
	{"http://\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E.jp/", "", "http://xn--wgv71a119e.jp/", 1},
	{"http://XN--BCHER-KVA.de/", "", "http://xn--bcher-kva.de/", 1},
	{"http://ex%E9mple.com/", "", "not a valid internationalised domain name", 0},
	/* read as browsers read them (WHATWG URL, special schemes) */
	{"img\\a.png", "http://a/b/", "http://a/b/img/a.png", 1},
	{"\\img\\a.png?x\\y", "http://a/b/", "http://a/img/a.png?x%5Cy", 1},
	{"\\\\x\\hello", "http://a/b/", "http://x/hello", 1},
	{"http://a\\b/", "", "http://a/b/", 1},
	{"http:\\\\a\\b", "", "http://a/b", 1},
	{"http:/example.com/", "http://example.org/foo/bar", "http://example.org/example.com/", 1},
	{"http:foo.com", "http://example.org/foo/bar", "http://example.org/foo/foo.com", 1},
	{"http:", "http://example.org/foo/bar", "http://example.org/foo/bar", 1},
	{"https:example.com/", "http://example.org/", "https://example.com/", 1},
	{"http:/example.com/", "", "http://example.com/", 1},
	{"http:///example.com/", "", "http://example.com/", 1},
	{"///\\//\\//test", "http://example.org/", "http://test/", 1},
	{"http://::@c@d:2", "", "http://d:2/", 1},
	{"https://@@@example", "", "https://example/", 1},
	{"http://%30%78%63%30%2e%30%32%35%30.01", "", "http://192.168.0.1/", 1},
	{"http://%30%78%63%30%2e%30%32%35%30.01%2e", "", "http://192.168.0.1/", 1},
	{"http://\xEF\xBC\x90\xEF\xBC\xB8\xEF\xBD\x83\xEF\xBC\x90\xEF\xBC\x8E\xEF\xBC\x90\xEF\xBC\x92\xEF\xBC\x95"
	 "\xEF\xBC\x90\xEF\xBC\x8E\xEF\xBC\x90\xEF\xBC\x91", "", "http://192.168.0.1/", 1},
	{"http://1.2.3.4./", "", "http://1.2.3.4/", 1},
	{"http://192.168.257./x", "", "http://192.168.1.1/x", 1},
	{"http://999999999.", "", "http://59.154.201.255/", 1},
	{"https://0x.0x.0", "", "https://0.0.0.0/", 1},
	{"http://[::127.0.0.1]", "", "http://[::7f00:1]/", 1},
	{"http://[1:0:0:2:0:0:0:3]/", "", "http://[1:0:0:2::3]/", 1},
	{"http://[1::]/", "", "http://[1::]/", 1},
	{"http://example.com./", "", "http://example.com./", 1}, /* a name: the dot stays */
	/* refused */
	{"ftp://a/", "", NOT_HTTP, 0},
	{"file:///etc/passwd", "", NOT_HTTP, 0},
	{"mailto:x@y", "", NOT_HTTP, 0},
	{"javascript:alert(1)", "", NOT_HTTP, 0},
	{"data:text/plain,x", "", NOT_HTTP, 0},
	{"ws://a/", "", NOT_HTTP, 0},
	{"javascript:alert(1)", RFC_BASE, NOT_HTTP, 0},
	{"a/b", "", NOT_HTTP, 0},
	{"//a/b", "", NOT_HTTP, 0},
	{"", "", NOT_HTTP, 0},
	{"   ", "", NOT_HTTP, 0},
	{"http://", "", "has no host", 0},
	{"http:///", "", "has no host", 0},
	{"http://:80/", "", "has no host", 0},
	{"http://a b/", "", "has an invalid host", 0},
	{"http://a%2Fb/", "", "has an invalid host", 0},
	{"http://[zz]/", "", "has an invalid host", 0},
	{"http://a%25b/", "", "has an invalid host", 0},
	{"http://%zz/", "", "has an invalid host", 0},
	{"http://[fe80::1%25eth0]/", "", "zone id", 0},
	{"http://a:99999/", "", "has an invalid port", 0},
	{"http://a:0/", "", "has an invalid port", 0},
	{"http://a:-1/", "", "has an invalid port", 0},
	{"https://\xC2\xAD/", "", "has no host", 0}, /* a soft hyphen: nothing left after IDNA */
	{"https://%C2%AD/", "", "has no host", 0},
	{"http://@/www.example.com", "", "has no host", 0},
	{"http:a:b@/www.example.com", "", "has no host", 0},
	{"http://192.168.0.257", "", "has an invalid host", 0},
	{"http://256.0.0.1/", "", "has an invalid host", 0},
	{"http://4294967296", "", "has an invalid host", 0},
	{"http://1.2.3.4.5", "", "has an invalid host", 0},
	{"http://1.2.3.08", "", "has an invalid host", 0},
	{"http://foo.09", "", "has an invalid host", 0},
	{"http://foo.0x4.", "", "has an invalid host", 0},
	{"http://0..0x300/", "", "has an invalid host", 0},
	{"http://\xF0\x9F\x92\xA9.123/", "", "has an invalid host", 0},
};

ParameterizedTestParameters(url, normalize)
{
	return cr_make_param_array(url_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(url_case *c, url, normalize)
{
	char *out = (char *)"untouched";
	int rc = sv_url_normalize(&out, c->in, c->base[0] ? c->base : NULL);
	if (c->ok) {
		cr_assert_eq(rc, 0, "'%s': %s", c->in, sv_error_last());
		cr_assert_str_eq(out, c->want, "'%s'", c->in);
		free(out);
	} else {
		cr_assert_eq(rc, SV_EINVAL, "'%s' gave %d", c->in, rc);
		cr_assert_null(out);
		cr_assert(strstr(sv_error_last(), c->want), "'%s': message '%s' lacks '%s'", c->in, sv_error_last(),
			  c->want);
	}
}

/* A normalised URL normalises to itself, and so does what the table expects. */
ParameterizedTestParameters(url, idempotent)
{
	return cr_make_param_array(url_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(url_case *c, url, idempotent)
{
	char *once, *twice;
	if (!c->ok)
		return;
	cr_assert_eq(sv_url_normalize(&once, c->in, c->base[0] ? c->base : NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_url_normalize(&twice, once, NULL), 0, "'%s': %s", once, sv_error_last());
	cr_assert_str_eq(twice, once);
	free(twice);
	/* ...also when given as a relative reference's base */
	cr_assert_eq(sv_url_normalize(&twice, "", once), 0, "'%s': %s", once, sv_error_last());
	cr_assert_str_eq(twice, once);
	free(twice);
	free(once);
}

typedef struct {
	char in[200];
	char want[100];
	int ok;
} key_case;

ParameterizedTestParameters(url, host_key)
{
	static key_case keys[] = {
		{"http://example.com/x", "example.com", 1},
		{"http://Example.COM:8080/x", "example.com:8080", 1},
		{"https://a:443/", "a", 1},
		{"http://a:80/", "a", 1},
		{"https://a:80/", "a:80", 1},
		{"http://a:443/", "a:443", 1},
		{"http://[::1]:8080/", "[::1]:8080", 1},
		{"http://[::1]/", "[::1]", 1},
		{"http://user:secret@a/", "a", 1},
		{"http://b\xC3\xBC"
		 "cher.de/",
		 "xn--bcher-kva.de", 1},
		{"http://a.b./", "a.b.", 1},
		{"ftp://a/", "", 0},
		{"not a url", "", 0},
	};
	return cr_make_param_array(key_case, keys, sizeof(keys) / sizeof(keys[0]));
}

ParameterizedTest(key_case *c, url, host_key)
{
	char *key = (char *)"untouched";
	int rc = sv_url_host_key(&key, c->in);
	if (c->ok) {
		cr_assert_eq(rc, 0, "'%s': %s", c->in, sv_error_last());
		cr_assert_str_eq(key, c->want);
		free(key);
	} else {
		cr_assert_eq(rc, SV_EINVAL);
		cr_assert_null(key);
	}
}

/* Every byte of the result is one a URL may carry raw, and escapes are upper-case hex. */
static void assert_clean_url(const char *u)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?[]@!$&'()*+,;=%";
	size_t len = strlen(u);
	cr_assert(strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0, "'%s'", u);
	cr_assert_leq(len, SV_URL_MAX);
	cr_assert_null(strchr(u, '#'), "'%s'", u);
	cr_assert_eq(strspn(u, ok), len, "'%s' has a byte that must be escaped", u);
	for (const char *p = strchr(u, '%'); p; p = strchr(p + 1, '%'))
		cr_assert(strchr("0123456789ABCDEF", p[1]) && p[1] && strchr("0123456789ABCDEF", p[2]) && p[2],
			  "'%s' has a bad escape", u);
	const char *auth = strstr(u, "://") + 3;
	cr_assert_null(memchr(auth, '@', strcspn(auth, "/")), "'%s' keeps user info", u);
}

static void assert_idempotent(const char *u)
{
	char *again;
	cr_assert_eq(sv_url_normalize(&again, u, NULL), 0, "'%s': %s", u, sv_error_last());
	cr_assert_str_eq(again, u);
	free(again);
}

Test(url, every_byte_in_path_and_query)
{
	for (int b = 1; b < 256; b++) {
		char in[64], *out;
		if (b == '#' || b == '\t' || b == '\n' || b == '\r')
			continue;
		snprintf(in, sizeof(in), "http://a/x%cy?q%cr", b, b);
		cr_assert_eq(sv_url_normalize(&out, in, NULL), 0, "byte %02x: %s", b, sv_error_last());
		assert_clean_url(out);
		assert_idempotent(out);
		free(out);
	}
}

Test(url, every_escape_in_path)
{
	for (int b = 0; b < 256; b++) {
		char in[64], want[64], *out;
		int unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
				 b == '-' || b == '.' || b == '_' || b == '~';
		snprintf(in, sizeof(in), "http://a/x%%%02xy?%%%02x", b, b);
		if (unreserved)
			snprintf(want, sizeof(want), "http://a/x%cy?%c", b, b);
		else
			snprintf(want, sizeof(want), "http://a/x%%%02Xy?%%%02X", b, b);
		cr_assert_eq(sv_url_normalize(&out, in, NULL), 0, "%s: %s", in, sv_error_last());
		cr_assert_str_eq(out, want);
		free(out);
	}
}

Test(url, length_limit)
{
	char in[SV_URL_MAX + 16], *out;
	memcpy(in, "http://a/", 9);
	memset(in + 9, 'b', SV_URL_MAX - 9);
	in[SV_URL_MAX] = '\0';
	cr_assert_eq(sv_url_normalize(&out, in, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(strlen(out), SV_URL_MAX);
	free(out);

	strcat(in, "b");
	cr_assert_eq(sv_url_normalize(&out, in, NULL), SV_EINVAL);
	cr_assert_str_eq(sv_error_last(), "URL longer than 4096 bytes");

	/* Escaping can push a short input over the limit. */
	memset(in + 9, ' ', 1500);
	in[1509] = 'x';
	in[1510] = '\0';
	cr_assert_eq(sv_url_normalize(&out, in, NULL), SV_EINVAL);
	cr_assert_str_eq(sv_error_last(), "URL longer than 4096 bytes");
}

Test(url, hostile_input)
{
	size_t big = 8u << 20;
	char *in = malloc(big + 1), *out;

	/* 8 MiB of path: refused at once, not parsed */
	memcpy(in, "http://a/", 9);
	memset(in + 9, 'x', big - 9);
	in[big] = '\0';
	cr_assert_eq(sv_url_normalize(&out, in, NULL), SV_EINVAL);

	/* 20,000 "../" climb no higher than the root */
	size_t w = 9;
	for (int i = 0; i < 20000; i++, w += 3)
		memcpy(in + w, "../", 3);
	strcpy(in + w, "x");
	cr_assert_eq(sv_url_normalize(&out, in, NULL), 0, "%s", sv_error_last());
	cr_assert_str_eq(out, "http://a/x");
	free(out);

	/* control bytes everywhere */
	for (int i = 0; i < 200; i++)
		in[9 + i] = (char)(1 + i % 31);
	in[209] = '\0';
	cr_assert_eq(sv_url_normalize(&out, in, NULL), 0, "%s", sv_error_last());
	assert_clean_url(out);
	assert_idempotent(out);
	free(out);

	/* a port too big for any integer type */
	cr_assert_eq(sv_url_normalize(&out, "http://a:99999999999999999999999999/", NULL), SV_EINVAL);
	free(in);
}

Test(url, messages_hide_credentials_and_stay_short)
{
	char in[2000], *out;
	const char *msg;

	cr_assert_eq(sv_url_normalize(&out, "ftp://user:secret@host/x", NULL), SV_EINVAL);
	cr_assert_str_eq(sv_error_last(), "'ftp://***@host/x' is not an http or https URL");
	cr_assert_eq(sv_url_normalize(&out, "http://user:secret@a b/", NULL), SV_EINVAL);
	cr_assert_null(strstr(sv_error_last(), "secret"), "%s", sv_error_last());
	cr_assert_eq(sv_url_normalize(&out, "g", "ftp://user:secret@host/"), SV_EINVAL);
	cr_assert_null(strstr(sv_error_last(), "secret"), "%s", sv_error_last());

	/* control bytes are shown escaped, never raw */
	cr_assert_eq(sv_url_normalize(&out, "ftp://a/\x1b[31mred", NULL), SV_EINVAL);
	cr_assert_str_eq(sv_error_last(), "'ftp://a/%1B[31mred' is not an http or https URL");

	/* long URLs are cut, and not inside a UTF-8 character */
	strcpy(in, "ftp://a/");
	for (int i = 0; i < 600; i++)
		strcat(in, "\xC3\xA9");
	cr_assert_eq(sv_url_normalize(&out, in, NULL), SV_EINVAL);
	msg = sv_error_last();
	cr_assert_lt(strlen(msg), 260, "%zu bytes", strlen(msg));
	cr_assert(strstr(msg, "...' is not an http or https URL"), "%s", msg);
	const char *dots = strstr(msg, "...");
	cr_assert_eq((unsigned char)dots[-1], 0xA9, "cut inside a character");
}

/* Appends k pieces, drawn with the xorshift state, to in[w..cap); returns the new length. */
static size_t add_pieces(char *in, size_t w, size_t cap, const char *const *pieces, size_t npieces, int k,
			 uint64_t *state)
{
	for (int i = 0; i < k; i++) {
		*state ^= *state << 13;
		*state ^= *state >> 7;
		*state ^= *state << 17;
		const char *p = pieces[(*state >> 20) % npieces];
		size_t len = strlen(p);
		if (w + len >= cap)
			break;
		memcpy(in + w, p, len);
		w += len;
	}
	return w;
}

/*
 * in normalised against base: refused (0), or a clean key with a host that
 * normalises to itself in one step (1).
 */
static int accepted_clean(const char *in, const char *base)
{
	char *out;
	int rc = sv_url_normalize(&out, in, base);
	if (rc == SV_EINVAL) {
		cr_assert_null(out);
		return 0;
	}
	cr_assert_eq(rc, 0, "'%s': %d %s", in, rc, sv_error_last());
	assert_clean_url(out);
	cr_assert_neq(out[strcspn(out, ":") + 3], '/', "'%s' gave '%s', a key with an empty host", in, out);
	assert_idempotent(out);
	free(out);
	return 1;
}

/* Random junk from URL-ish pieces: refused, or a clean, idempotent URL. */
Test(url, random_junk)
{
	static const char *pieces[] = {
		"http://", "https://", "HTTP://", "a", "B", ".", "..", "/", "./", "../", "%", "%2e", "%2E", "%41",
		"%2f", "%zz", "?", "#", "@", ":", ":80", ":443", ":8080", "[", "]", "[::1]", "\xC3\xA9", " ", "\t",
		"\x01", "\\", "~", "&", "=", "+", "xn--", "-", "%C3%BC", "\x7f", "\xff", ";", "//",
	};
	uint64_t state = 88172645463325252ull;
	int accepted = 0;

	for (int n = 0; n < 20000; n++) {
		char in[256], full[300];
		in[add_pieces(in, 0, sizeof(in), pieces, sizeof(pieces) / sizeof(pieces[0]), 1 + (int)(state % 12),
			      &state)] = '\0';
		/* half of them start as a URL, so that the interesting paths are taken */
		snprintf(full, sizeof(full), "%s%s", n % 2 ? "http://h/" : "", in);
		accepted += accepted_clean(full, n % 3 ? NULL : "http://base/p/q?r");
	}
	cr_assert_gt(accepted, 5000);
}

/*
 * Hosts made of the pieces that IPv4 forms, percent-encoding and IDNA turn
 * into other hosts: whatever is accepted is clean and normalises to itself
 * in one step (on c376f6b "%30%78%63%30%2e%30%32%35%30.01" took two).
 */
Test(url, idempotent_generated_hosts)
{
	static const char *pieces[] = {
		"0", "1", "7", "8", "9", "09", "0x", "0X", "0xff", "255", "256", "65536", "4294967295", "4294967296",
		".", ".", "..", "%2e", "%2E", "%30", "%31", "%78", "a", "f", "xn--", "-", "\xC2\xAD", "%C2%AD",
		"\xEF\xBC\x90", "\xEF\xBC\x8E", "\xEF\xBC\xB8", "@", ":", ":0", ":80", "\\", "/", "[::1]",
		"[::ffff:1.2.3.4]", "[0:0:0:0:0:0:13.1.68.3]", "\xF0\x9F\x92\xA9", "\xC3\xA9",
	};
	uint64_t state = 0x9E3779B97F4A7C15ull;
	int accepted = 0;

	for (int n = 0; n < 20000; n++) {
		char in[256];
		size_t w;
		memcpy(in, "http://", 7);
		w = add_pieces(in, 7, sizeof(in) - 3, pieces, sizeof(pieces) / sizeof(pieces[0]), 1 + (int)(state % 6),
			       &state);
		memcpy(in + w, "/x", 3);
		accepted += accepted_clean(in, n % 4 ? NULL : "http://base/p/q?r");
	}
	cr_assert_gt(accepted, 2000);
}

/* 1 when sv_url_normalize gives in back as it is (or with "/" added). */
static int same_way(const char *in, const char *base, int *fast)
{
	char *a = NULL, *b = NULL, *spaced = malloc(strlen(in) + 2);
	int ra, rb;
	/* The fast path takes only a URL that starts "http", so a leading space
	 * (trimmed, as browsers trim it) sends the same URL the full way. */
	cr_assert_not_null(spaced);
	spaced[0] = ' ';
	strcpy(spaced + 1, in);
	ra = sv_url_normalize(&a, in, base);
	rb = sv_url_normalize(&b, spaced, base);
	cr_assert_eq(ra, rb, "'%s': %d one way, %d the other", in, ra, rb);
	if (ra == 0) {
		cr_assert_str_eq(a, b, "'%s': '%s' one way, '%s' the other", in, a, b);
		*fast += !strncmp(a, in, strlen(in)) && strlen(a) - strlen(in) <= 1;
	}
	free(a);
	free(b);
	free(spaced);
	return ra == 0;
}

/*
 * The fast path for URLs that are normalised already (plain_len in url.c)
 * gives what the full parse gives, byte for byte, for URLs generated near
 * its limits: numeric and hex labels, long labels, dot segments, every
 * ASCII byte in paths and queries, empty queries, ports, user info.
 */
Test(url, fast_path_same_as_full_parse)
{
	static const char *host_pieces[] = {
		"a", "z", "ex", "0", "1", "09", "0x", "0xff", "255", "4294967296", "-", ".", "..", "xn--", "x-", "_",
		"A", "localhost", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	static const char *path_pieces[] = {
		"/", "/", "a", "Z", "9", ".", "..", "./", "../", "/.", "/..", "/.a", "/..a", "-", "_", "~", "!", "$",
		"&", "'", "(", ")", "*", "+", ",", ";", "=", ":", "@", "?", "??", "%", "%41", "%2e", "#", "#x", "\\",
		" ", "\t", "\"", "<", ">", "^", "`", "{", "|", "}", "[", "]", "\x7f", "\xc3\xa9", "//",
	};
	static const char *tails[] = {"", "", ":80", ":8080", ":0", "@h", ".", "?", "/", "#", ":"};
	uint64_t state = 0x2545F4914F6CDD1Dull;
	int accepted = 0, fast = 0;

	for (int n = 0; n < 30000; n++) {
		char in[300];
		size_t w = (size_t)snprintf(in, sizeof(in), "%s", n % 3 ? "https://" : "http://");
		w = add_pieces(in, w, 120, host_pieces, sizeof(host_pieces) / sizeof(host_pieces[0]),
			       1 + (int)(state % 5), &state);
		w += (size_t)snprintf(in + w, sizeof(in) - w, "%s", n % 4 ? "" : tails[(state >> 8) % 11]);
		if (n % 7)
			w = add_pieces(in, w, sizeof(in) - 1, path_pieces, sizeof(path_pieces) / sizeof(path_pieces[0]),
				       (int)(state % 9), &state);
		in[w] = '\0';
		accepted += same_way(in, n % 5 ? NULL : "http://base/p/q?r", &fast);
	}
	/* and at the length limit */
	char *lng = malloc(SV_URL_MAX + 16);
	for (int extra = -2; extra <= 1; extra++) {
		size_t len = (size_t)(SV_URL_MAX + extra);
		memset(lng, 'a', len);
		memcpy(lng, "http://h.example/", 17);
		lng[len] = '\0';
		accepted += same_way(lng, NULL, &fast);
		memcpy(lng, "http://h.example", 17);
		lng[len - 1 < 17 ? 17 : len - 1] = '\0';
		memset(lng + 16, 'b', strlen(lng) - 16);
		accepted += same_way(lng, NULL, &fast);
	}
	free(lng);
	cr_assert_gt(accepted, 5000, "%d accepted", accepted);
	cr_assert_gt(fast, 2000, "%d given back as they were", fast);
}

/*
 * Every input of the WHATWG and RFC 3986 suites (../shared/conformance, when
 * it is there: tests/run sets SV_CONFORMANCE) gives a key that normalises to
 * itself, alone and as a base.
 */
Test(url, idempotent_conformance_inputs)
{
	const char *dir = getenv("SV_CONFORMANCE");
	char path[4096];
	json_error_t e;
	json_t *j, *c;
	size_t i, accepted = 0;

	if (!dir || !*dir)
		cr_skip_test("SV_CONFORMANCE not set");
	snprintf(path, sizeof(path), "%s/url_cases.json", dir);
	cr_assert_not_null(j = json_load_file(path, JSON_ALLOW_NUL, &e), "%s: %s", path, e.text);
	json_array_foreach(json_object_get(j, "cases"), i, c) {
		const char *in = json_string_value(json_object_get(c, "input"));
		const char *base = json_string_value(json_object_get(c, "base"));
		char *out, *again;
		if (sv_url_normalize(&out, in, base) != 0)
			continue;
		assert_idempotent(out);
		cr_assert_eq(sv_url_normalize(&again, "", out), 0, "'%s': %s", out, sv_error_last());
		cr_assert_str_eq(again, out);
		free(again);
		free(out);
		accepted++;
	}
	cr_assert_gt(accepted, 250);
	json_decref(j);
}

static void *idn_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 500; i++) {
		char *out;
		if (sv_url_normalize(&out, "http://b\xC3\xBC"
					   "cher.de/x",
				     NULL) != 0)
			return (void *)1;
		int bad = strcmp(out, "http://xn--bcher-kva.de/x") != 0;
		free(out);
		if (bad || sv_url_normalize(&out, "http://A/%7e", NULL) != 0)
			return (void *)1;
		bad = strcmp(out, "http://a/~") != 0;
		free(out);
		if (bad)
			return (void *)1;
	}
	return NULL;
}

/* Punycode conversion switches locale per thread: threads must not disturb each other. */
Test(url, threads)
{
	pthread_t t[4];
	void *ret;
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, idn_worker, NULL), 0);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(pthread_join(t[i], &ret), 0);
		cr_assert_null(ret);
	}
}
