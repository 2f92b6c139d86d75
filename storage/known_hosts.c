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

/*
 * Reads one file: with key, updates *verdict (see sv_known_hosts_lookup);
 * with types, appends the key type of each line for name, comma-separated.
 */
static int scan(const char *file, const char *name, const unsigned char *key, size_t keylen, int *verdict, char *types,
		size_t cap)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t linecap = 0;
	if (!f)
		return -1;
	while (getline(&line, &linecap, f) >= 0) {
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
		if (!key) {
			size_t n = strlen(types);
			if (!revoked && sv_known_hosts_field_matches(hosts, name) && !strstr(types, type))
				snprintf(types + n, cap - n, "%s%s", n ? "," : "", type);
			continue;
		}
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

int sv_known_hosts_lookup(const char *file, const char *name, const unsigned char *key, size_t keylen, int *verdict)
{
	return scan(file, name, key, keylen, verdict, NULL, 0);
}

/* "host", or "[host]:port" for a port other than 22, into buf. */
static void host_name(char *buf, size_t cap, const char *host, int port)
{
	if (port == 22)
		snprintf(buf, cap, "%s", host);
	else
		snprintf(buf, cap, "[%s]:%d", host, port);
}

void sv_known_hosts_types(const char *const *files, size_t nfiles, const char *host, int port, char *types, size_t cap)
{
	char name[300];
	host_name(name, sizeof(name), host, port);
	types[0] = '\0';
	for (size_t i = 0; i < nfiles && files[i] && files[i][0]; i++)
		scan(files[i], name, NULL, 0, NULL, types, cap);
}

int sv_known_hosts_check(const char *const *files, size_t nfiles, const char *host, int port, const unsigned char *key,
			 size_t keylen, char *why, size_t cap)
{
	char name[300], fp[64];
	int verdict = SV_KH_UNKNOWN, readable = 0;

	host_name(name, sizeof(name), host, port);
	for (size_t i = 0; i < nfiles && files[i] && files[i][0]; i++)
		if (sv_known_hosts_lookup(files[i], name, key, keylen, &verdict) == 0)
			readable = 1;
	sv_known_hosts_fingerprint(key, keylen, fp, sizeof(fp));
	switch (verdict) {
	case SV_KH_MATCH:
		return 0;
	case SV_KH_REVOKED:
		snprintf(why, cap, "the host key of %s (%s) is revoked in known_hosts", name, fp);
		break;
	case SV_KH_CHANGED:
		snprintf(why, cap,
			 "the host key of %s (%s) does not match known_hosts '%s': the key changed, or someone is in the "
			 "middle; refusing to connect",
			 name, fp, files[0]);
		break;
	default:
		if (!readable)
			snprintf(why, cap, "cannot check the host key of %s: cannot read known_hosts '%s'", name, files[0]);
		else
			snprintf(why, cap, "%s is not in known_hosts '%s' (its key is %s); add it once you trust it", name,
				 files[0], fp);
	}
	return -1;
}
