/*
 * storage/known_hosts.c -- OpenSSH known_hosts lookups (see known_hosts.h).
 *
 * What must stay true: a revoked key is never reported as anything but
 * revoked, and a line whose !pattern matches never counts for the host.
 */
#include "known_hosts.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Decodes standard base64 (padded) into a fresh buffer. */
static unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	int n;
	if (inlen == 0 || inlen % 4 || inlen > INT_MAX || !(out = malloc(inlen / 4 * 3 + 1)))
		return NULL;
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen)) < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	*outlen = (size_t)n - (in[inlen - 1] == '=') - (in[inlen - 2] == '=');
	return out;
}

void sv_known_hosts_fingerprint(const unsigned char *key, size_t len, char *buf, size_t cap)
{
	unsigned char md[32], b64[48];
	unsigned int mdlen;
	EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
	int n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(buf, cap, "SHA256:%.*s", n, b64);
}

/* OpenSSH's host patterns: '*' and '?' only ('[' is literal, as in "[host]:port"). */
static int wildcard(const char *pat, const char *s)
{
	for (; *pat; pat++, s++) {
		if (*pat == '*') {
			for (pat++;; s++) {
				if (wildcard(pat, s))
					return 1;
				if (!*s)
					return 0;
			}
		}
		if (!*s || (*pat != '?' && *pat != *s))
			return 0;
	}
	return !*s;
}

int sv_known_hosts_field_matches(char *field, const char *name)
{
	if (strncmp(field, "|1|", 3) == 0) {
		char *salt = field + 3, *hash = strchr(salt, '|');
		unsigned char *s, *h, md[EVP_MAX_MD_SIZE];
		size_t slen, hlen;
		unsigned int mdlen = 0;
		int ok = 0;
		if (!hash)
			return 0;
		s = b64_decode(salt, (size_t)(hash - salt), &slen);
		h = b64_decode(hash + 1, strlen(hash + 1), &hlen);
		if (s && h && slen <= INT_MAX &&
		    HMAC(EVP_sha1(), s, (int)slen, (const unsigned char *)name, strlen(name), md, &mdlen) && hlen == mdlen)
			ok = !memcmp(md, h, mdlen);
		free(s);
		free(h);
		return ok;
	}
	/* Comma-separated patterns with * and ?; a matching !pattern rules the line out. */
	int hit = 0;
	for (char *save = NULL, *pat = strtok_r(field, ",", &save); pat; pat = strtok_r(NULL, ",", &save)) {
		int negated = *pat == '!';
		for (char *p = pat; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (wildcard(pat + negated, name)) {
			if (negated)
				return 0;
			hit = 1;
		}
	}
	return hit;
}

int sv_known_hosts_lookup(const char *file, const char *name, const unsigned char *key, size_t keylen, int *verdict)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	if (!f)
		return -1;
	while (getline(&line, &cap, f) >= 0) {
		char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
		int revoked = 0;
		if (!tok || *tok == '#')
			continue;
		if (*tok == '@') {
			if (strcmp(tok, "@revoked") != 0) /* @cert-authority: certificates are not used here */
				continue;
			revoked = 1;
			tok = strtok_r(NULL, " \t\r\n", &save);
		}
		char *hosts = tok, *type = strtok_r(NULL, " \t\r\n", &save), *b64 = strtok_r(NULL, " \t\r\n", &save);
		if (!hosts || !type || !b64)
			continue;
		size_t len;
		unsigned char *blob = b64_decode(b64, strlen(b64), &len);
		int same = blob && len == keylen && !memcmp(blob, key, keylen);
		free(blob);
		if (revoked) {
			if (same)
				*verdict = SV_KH_REVOKED;
		} else if (sv_known_hosts_field_matches(hosts, name) && *verdict != SV_KH_REVOKED) {
			if (same)
				*verdict = SV_KH_MATCH;
			else if (*verdict == SV_KH_UNKNOWN)
				*verdict = SV_KH_CHANGED;
		}
	}
	free(line);
	fclose(f);
	return 0;
}
