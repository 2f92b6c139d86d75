/*
 * common/redact.h -- the one policy for keeping secrets out of messages.
 *
 * What a URL's secrets are:
 * - the password of the user info ("user:PASSWORD@host"), also in the
 *   scp-like form "user:PASSWORD@host:path";
 * - for http and https, all of the user info: tokens travel as user names
 *   ("https://TOKEN@host/");
 * - the value of every query or fragment parameter whose name says it is a
 *   secret: it contains "token", "sig", "key", "secret", "pass", "pwd",
 *   "credential" or "auth" in any case (?token=, X-Amz-Signature,
 *   X-Amz-Credential, X-Amz-Security-Token, sig=, key=, api_key=, password=).
 *
 * What must stay true: no function here ever puts a secret, or the start of
 * one, into its output. Output that does not fit is cut, never left holding
 * part of a secret.
 */
#ifndef SV_REDACT_H
#define SV_REDACT_H

#include <stddef.h>

/*
 * url for messages, into buf: the password (with its ':') and, for http(s),
 * the whole user info (with its '@') left out; secret parameter values
 * replaced by "***". Anything else is kept as written: "ssh://git@host/x".
 */
void sv_redact_url(const char *url, char *buf, size_t cap);

/* As sv_redact_url, and the user name goes too, whatever the scheme: "sftp://host/x". */
void sv_redact_url_anonymous(const char *url, char *buf, size_t cap);

/*
 * Replaces in msg (NUL-terminated, in a buffer of cap bytes) every copy of
 * every secret url holds, as written and percent-decoded, by "***": for
 * messages that libraries built from the URL themselves.
 */
void sv_redact_scrub(char *msg, size_t cap, const char *url);

/*
 * Replaces every copy of the len bytes at secret in msg (NUL-terminated, in a
 * buffer of cap bytes) by "***". If that does not fit, the message is cut
 * instead (and any start of the secret at its new end goes too). len 0: nothing.
 */
void sv_redact_secret(char *msg, size_t cap, const char *secret, size_t len);

#endif
