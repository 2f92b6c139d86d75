/*
 * tests/unit/test_known_hosts.c -- known_hosts lookups (storage/known_hosts.h)
 * as they are: host field patterns (plain, wildcards, negations,
 * "[host]:port", hashed |1| names, case), file lookups (match, changed key,
 * @revoked, @cert-authority skipped, comments, unreadable file) and ssh's
 * fingerprint format. The ssh end-to-end checks are in test_ledger.c.
 *
 * Parameter structs hold inline arrays: Criterion re-runs the parameter
 * function in each worker, and pointers would not survive the trip.
 */
#include "helpers.h"

#include "../../storage/known_hosts.h"

#include <openssl/hmac.h>

/* "|1|<salt>|<hash>" for name, as ssh-keygen -H writes it, with a fixed salt. */
static void hashed_field(const char *name, char *buf, size_t cap)
{
	unsigned char salt[20], md[EVP_MAX_MD_SIZE], s64[64], h64[64];
	unsigned int mdlen = 0;
	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 37 + 11);
	HMAC(EVP_sha1(), salt, sizeof(salt), (const unsigned char *)name, strlen(name), md, &mdlen);
	EVP_EncodeBlock(s64, salt, sizeof(salt));
	EVP_EncodeBlock(h64, md, (int)mdlen);
	snprintf(buf, cap, "|1|%s|%s", s64, h64);
}

typedef struct {
	char field[96]; /* "#hash:NAME" stands for the hashed field of NAME */
	char name[64];
	int matches;
} field_case;

ParameterizedTestParameters(known_hosts, host_fields)
{
	static field_case cases[] = {
		{"example.org", "example.org", 1},
		{"example.org", "example.com", 0},
		{"a.example,example.org,b.example", "example.org", 1},
		{"EXAMPLE.org", "example.org", 1},
		{"example.org", "EXAMPLE.org", 0}, /* names come lower-cased */
		{"*.example.org", "git.example.org", 1},
		{"*.example.org", "example.org", 0},
		{"*", "anything", 1},
		{"git?.example.org", "git1.example.org", 1},
		{"git?.example.org", "git12.example.org", 0},
		{"*.example.org,!bad.example.org", "bad.example.org", 0},
		{"!bad.example.org,*.example.org", "bad.example.org", 0},
		{"*.example.org,!bad.example.org", "good.example.org", 1},
		{"!bad.example.org", "good.example.org", 0},
		{"[127.0.0.1]:2222", "[127.0.0.1]:2222", 1},
		{"[127.0.0.1]:2222", "127.0.0.1", 0},
		{"127.0.0.1", "[127.0.0.1]:2222", 0},
		{"[127.0.0.?]:2222,!elsewhere", "[127.0.0.1]:2222", 1},
		{"[127.0.0.1]:*", "[127.0.0.1]:2222", 1},
		{"#hash:example.org", "example.org", 1},
		{"#hash:example.org", "example.com", 0},
		{"#hash:[127.0.0.1]:2222", "[127.0.0.1]:2222", 1},
		{"|1|bad", "example.org", 0},
		{"|1|!!!!|!!!!", "example.org", 0},
		{"", "example.org", 0},
	};
	return cr_make_param_array(field_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(field_case *c, known_hosts, host_fields)
{
	char field[256];
	if (strncmp(c->field, "#hash:", 6) == 0)
		hashed_field(c->field + 6, field, sizeof(field));
	else
		snprintf(field, sizeof(field), "%s", c->field);
	cr_assert_eq(sv_known_hosts_field_matches(field, c->name), c->matches, "'%s' for '%s'", c->field, c->name);
}

/* Two made-up key blobs, and their base64 as a known_hosts line has it. */
static const unsigned char KEY_A[] = "\0\0\0\x0b" "ssh-ed25519\0\0\0\x20" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
static const unsigned char KEY_B[] = "\0\0\0\x0b" "ssh-ed25519\0\0\0\x20" "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
#define KEY_LEN (sizeof(KEY_A) - 1)

static void b64(const unsigned char *key, char *buf)
{
	EVP_EncodeBlock((unsigned char *)buf, key, (int)KEY_LEN);
}

typedef struct {
	char lines[400]; /* "A" and "B" stand for the keys' base64 */
	char name[32];
	int start; /* the verdict before the lookup */
	int verdict;
} file_case;

ParameterizedTestParameters(known_hosts, files)
{
	static file_case cases[] = {
		{"h.example ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_MATCH},
		{"h.example ssh-ed25519 B\n", "h.example", SV_KH_UNKNOWN, SV_KH_CHANGED},
		{"other.example ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_UNKNOWN},
		{"h.example ssh-ed25519 B\nh.example ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_MATCH},
		{"h.example ssh-ed25519 A\nh.example ssh-ed25519 B\n", "h.example", SV_KH_UNKNOWN, SV_KH_MATCH},
		/* a revoked key is refused for every host, whatever else matches */
		{"h.example ssh-ed25519 A\n@revoked * ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_REVOKED},
		{"@revoked other.example ssh-ed25519 A\nh.example ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN,
		 SV_KH_REVOKED},
		{"@revoked * ssh-ed25519 B\nh.example ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_MATCH},
		/* certificates are not used: @cert-authority lines count for nothing */
		{"@cert-authority *.example ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_UNKNOWN},
		/* comments, blank lines, short lines and options are skipped */
		{"# h.example ssh-ed25519 A\n\n   \nh.example\nh.example ssh-ed25519\n", "h.example", SV_KH_UNKNOWN,
		 SV_KH_UNKNOWN},
		{"\th.example\tssh-ed25519\tA\tcomment here\r\n", "h.example", SV_KH_UNKNOWN, SV_KH_MATCH},
		{"h.example ssh-ed25519 not-base64\n", "h.example", SV_KH_UNKNOWN, SV_KH_CHANGED},
		/* the verdict carries over from an earlier file: a match stays, a revocation stays */
		{"h.example ssh-ed25519 B\n", "h.example", SV_KH_MATCH, SV_KH_MATCH},
		{"h.example ssh-ed25519 A\n", "h.example", SV_KH_REVOKED, SV_KH_REVOKED},
		{"h.example ssh-ed25519 A\n", "h.example", SV_KH_CHANGED, SV_KH_MATCH},
		{"[h.example]:2222 ssh-ed25519 A\n", "[h.example]:2222", SV_KH_UNKNOWN, SV_KH_MATCH},
		{"[h.example]:2222 ssh-ed25519 A\n", "h.example", SV_KH_UNKNOWN, SV_KH_UNKNOWN},
	};
	return cr_make_param_array(file_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(file_case *c, known_hosts, files)
{
	char dir[4096], path[4200], a[128], b[128];
	FILE *f;
	int verdict = c->start;
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/known_hosts", dir);
	b64(KEY_A, a);
	b64(KEY_B, b);
	cr_assert_not_null(f = fopen(path, "w"));
	for (const char *p = c->lines; *p; p++) {
		if (*p == 'A' && (p[1] == '\n' || p[1] == '\t'))
			fputs(a, f);
		else if (*p == 'B' && p[1] == '\n')
			fputs(b, f);
		else
			fputc(*p, f);
	}
	fclose(f);
	cr_assert_eq(sv_known_hosts_lookup(path, c->name, KEY_A, KEY_LEN, &verdict), 0);
	cr_assert_eq(verdict, c->verdict, "%s", c->lines);
	th_rmrf(dir);
}

Test(known_hosts, an_unreadable_file_is_minus_one_and_leaves_the_verdict)
{
	int verdict = SV_KH_CHANGED;
	cr_assert_eq(sv_known_hosts_lookup("/no/such/known_hosts", "h", KEY_A, KEY_LEN, &verdict), -1);
	cr_assert_eq(verdict, SV_KH_CHANGED);
}

Test(known_hosts, fingerprints_as_ssh_prints_them)
{
	char fp[64];
	/* The SHA-256 of nothing, base64 without padding. */
	sv_known_hosts_fingerprint((const unsigned char *)"", 0, fp, sizeof(fp));
	cr_assert_str_eq(fp, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
	sv_known_hosts_fingerprint(KEY_A, KEY_LEN, fp, sizeof(fp));
	cr_assert_eq(strncmp(fp, "SHA256:", 7), 0);
	cr_assert_eq(strlen(fp), 7 + 43, "%s", fp);
}
