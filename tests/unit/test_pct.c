/*
 * tests/unit/test_pct.c -- the one percent-encoding form that URL keys and
 * robots.txt patterns share: which escapes are decoded, which kept (upper
 * case), which bytes are escaped; and that the form is a fixed point.
 */
#include "helpers.h"

#include "../../common/pct.h"

typedef struct {
	char in[48];
	int len; /* bytes of in; -1: up to its NUL */
	char out[96];
} pct_case;

static pct_case CASES[] = {
	{"", -1, ""},
	{"/a/b/c.csv", -1, "/a/b/c.csv"},
	/* escapes of unreserved characters are decoded, in either case */
	{"%7e%7E", -1, "~~"},
	{"%41%5a%61%7A%30%39%2d%2E%5f", -1, "AZaz09-._"},
	{"/%2E%2E/x", -1, "/../x"},
	/* other escapes are kept, their hex upper-cased: %2F is not '/' */
	{"%2f%2F%3f%23%25%26%3d", -1, "%2F%2F%3F%23%25%26%3D"},
	{"%e3%81%82", -1, "%E3%81%82"},
	{"%20%00%7f", -1, "%20%00%7F"},
	/* a '%' that starts no escape is escaped itself */
	{"%", -1, "%25"},
	{"a%4", -1, "a%254"},
	{"%zz%4g", -1, "%25zz%254g"},
	{"%%41", -1, "%25A"},
	/* bytes that may not stand raw in a path or query */
	{" \t\x01\x7f", -1, "%20%09%01%7F"},
	{"\xc3\xa9t\xc3\xa9", -1, "%C3%A9t%C3%A9"},
	{"\"<>\\^`{|}", -1, "%22%3C%3E%5C%5E%60%7B%7C%7D"},
	/* reserved characters, and robots' '*' and '$', are left alone */
	{"*$!&'()+,;=:@/?[]", -1, "*$!&'()+,;=:@/?[]"},
	/* the length, not a NUL, ends the input */
	{"a\0b", 3, "a%00b"},
	{"%4", 2, "%254"},
	{"abc%41", 4, "abc%25"},
};

ParameterizedTestParameters(pct, normalize)
{
	return cr_make_param_array(pct_case, CASES, sizeof(CASES) / sizeof(CASES[0]));
}

ParameterizedTest(pct_case *c, pct, normalize)
{
	size_t len = c->len < 0 ? strlen(c->in) : (size_t)c->len;
	char *out = malloc(3 * len + 1); /* the room pct.h promises is enough: a sanitizer build checks it */
	cr_assert_not_null(out);
	size_t n = sv_pct_normalize(out, c->in, len);
	cr_assert_eq(n, strlen(c->out), "'%s': length %zu", c->out, n);
	cr_assert_eq(memcmp(out, c->out, n + 1), 0, "'%s' instead of '%s'", out, c->out);

	/* Normalising the form again changes nothing. */
	char *again = malloc(3 * n + 1);
	cr_assert_not_null(again);
	cr_assert_eq(sv_pct_normalize(again, out, n), n);
	cr_assert_str_eq(again, out);
	free(again);
	free(out);
}

/* Every byte: an unreserved one decoded from its escape, every other one kept escaped, in upper case. */
Test(pct, every_escaped_byte)
{
	for (int b = 0; b < 256; b++) {
		char in[4], out[16], want[4];
		snprintf(in, sizeof(in), "%%%02x", b);
		size_t n = sv_pct_normalize(out, in, 3);
		int unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' ||
				 b == '.' || b == '_' || b == '~';
		if (unreserved)
			snprintf(want, sizeof(want), "%c", b);
		else
			snprintf(want, sizeof(want), "%%%02X", b);
		cr_assert_str_eq(out, want, "byte %d", b);
		cr_assert_eq(n, strlen(want));
	}
}

/* A component encoded is in the normalised form already, and keeps only what it was told to. */
Test(pct, encode_a_component)
{
	static const struct {
		const char *in, *keep, *out;
	} cases[] = {
		{"", "", ""},
		{"id asc", "*", "id%20asc"},
		{"*:*", "*", "*%3A*"},
		{"id:{\"a\" TO *]", "*", "id%3A%7B%22a%22%20TO%20*%5D"},
		{"Public Works/Roads", "*/", "Public%20Works/Roads"},
		{"Public Works/Roads", "", "Public%20Works%2FRoads"},
		{"a&b=c?d#e%f+g", "", "a%26b%3Dc%3Fd%23e%25f%2Bg"},
		{"caf\xc3\xa9~-._", "", "caf%C3%A9~-._"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = malloc(3 * strlen(cases[i].in) + 1), *again;
		size_t n = sv_pct_encode(out, cases[i].in, cases[i].keep);
		cr_expect_str_eq(out, cases[i].out, "case %zu", i);
		cr_expect_eq(n, strlen(cases[i].out));
		again = malloc(3 * n + 1);
		sv_pct_normalize(again, out, n);
		cr_expect_str_eq(again, out, "case %zu: normalising changes nothing", i);
		free(again);
		free(out);
	}
}
