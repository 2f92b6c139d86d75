/*
 * storage/known_hosts.h -- OpenSSH known_hosts files, read to check an ssh
 * server's host key (libgit2 1.5 does not read them itself).
 *
 * Understood: plain host names and comma-separated patterns with '*' and '?'
 * ('[' is literal, as in "[host]:port"), "!pattern" negations that rule a
 * line out, hashed names ("|1|<base64 salt>|<base64 HMAC-SHA1>"), comments,
 * and "@revoked" lines (a revoked key is refused for every host, whatever
 * else matches). "@cert-authority" lines are skipped: certificates are not
 * used. Host names are matched as given: callers lower-case them and write
 * a port other than 22 as "[host]:port".
 */
#ifndef SV_KNOWN_HOSTS_H
#define SV_KNOWN_HOSTS_H

#include <stddef.h>

/* What the known_hosts files say about a host's key; a lookup only ever moves it up this list. */
enum { SV_KH_UNKNOWN, SV_KH_MATCH, SV_KH_CHANGED, SV_KH_REVOKED };

/*
 * Looks host name's key (the raw key blob, as in the file's base64) up in
 * one file, updating *verdict: SV_KH_REVOKED if a @revoked line has the key;
 * else SV_KH_MATCH if a line for name has it; else SV_KH_CHANGED if a line
 * for name has another key. Call once per file, the same verdict across
 * files. Returns -1 if the file cannot be read, else 0.
 */
int sv_known_hosts_lookup(const char *file, const char *name, const unsigned char *key, size_t keylen, int *verdict);

/* 1 if a known_hosts host field names name (the field is lower-cased in place). */
int sv_known_hosts_field_matches(char *field, const char *name);

/*
 * Checks host's raw key (port 22: looked up as "host", else "[host]:port";
 * host lower-cased by the caller) against nfiles known_hosts files, files[0]
 * named in messages. 0 if it matches; else -1 with why (revoked, changed,
 * unknown, or no file readable) in buf, a refusal to connect.
 */
int sv_known_hosts_check(const char *const *files, size_t nfiles, const char *host, int port, const unsigned char *key,
			 size_t keylen, char *why, size_t cap);

/*
 * The key types ("ssh-ed25519,ecdsa-sha2-nistp256") of the lines for host
 * (named as for sv_known_hosts_check) into types: the host keys worth asking
 * the server for, so that it does not show one that no line holds.
 */
void sv_known_hosts_types(const char *const *files, size_t nfiles, const char *host, int port, char *types, size_t cap);

/* "SHA256:<base64, unpadded>", as ssh prints a key's fingerprint, into buf. */
void sv_known_hosts_fingerprint(const unsigned char *key, size_t len, char *buf, size_t cap);

#endif
