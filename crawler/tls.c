/*
 * crawler/tls.c -- HTTP/2 and certificate trust for every crawl transfer.
 *
 * crawl.caFile adds certificates to the trust, it does not replace it:
 * CURLOPT_CAINFO would drop the system's bundle, and real sites would fail.
 * So the fetcher makes one PEM blob of libcurl's default bundle followed by
 * the file, once, and hands it to every transfer (CURLOPT_CAINFO_BLOB);
 * libcurl's default CA folder (CAPATH), where it has one, stays as it is.
 *
 * What must stay true: verification is turned off only for a URL whose host
 * key is exactly one of crawl.insecureHost, never for any other server, and
 * every https capture made that way says so (tls_unverified).
 */
#include "fetcher.h"

#include "../common/error.h"
#include "../queue/url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Appends the whole file at path to *buf; a missing file appends nothing when optional. */
static int append_file(char **buf, size_t *len, const char *path, int optional)
{
	FILE *in = fopen(path, "re");
	char chunk[65536];
	size_t n;
	int rc = 0;
	if (!in)
		return optional ? 0 : sv_error_set(SV_EINVAL, "cannot read '%s': %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0) {
		char *bigger = realloc(*buf, *len + n + 2);
		if (!bigger) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		*buf = bigger;
		memcpy(*buf + *len, chunk, n);
		*len += n;
	}
	if (!rc && ferror(in))
		rc = sv_error_errno(errno, "cannot read '%s'", path);
	fclose(in);
	if (!rc && *buf)
		(*buf)[(*len)++] = '\n'; /* a file without a final newline must not glue two PEM blocks */
	return rc;
}

int sv_fetch_tls_init(fetcher *f)
{
	const char *system_bundle = NULL;
	int rc;
	if (!f->o->ca_file)
		return 0;
	CURL *e = curl_easy_init();
	if (!e)
		return sv_error_set(SV_EIO, "cannot start libcurl");
	curl_easy_getinfo(e, CURLINFO_CAINFO, &system_bundle);
	rc = system_bundle ? append_file(&f->ca_pem, &f->ca_len, system_bundle, 1) : 0;
	curl_easy_cleanup(e);
	if (!rc)
		rc = append_file(&f->ca_pem, &f->ca_len, f->o->ca_file, 0);
	return rc;
}

static int is_insecure(const fetcher *f, const char *url)
{
	char *key = NULL;
	int hit = 0;
	if (f->o->ninsecure == 0 || strncasecmp(url, "https:", 6) || sv_url_host_key(&key, url) != 0)
		return 0;
	for (size_t i = 0; i < f->o->ninsecure && !hit; i++)
		hit = !strcmp(key, f->o->insecure_hosts[i]);
	free(key);
	return hit;
}

void sv_fetch_tls_set(fetcher *f, transfer *t)
{
	CURL *e = t->easy;
	/* HTTP/2 where the server offers it in the TLS handshake (ALPN), as agency servers do. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	if (f->ca_pem) {
		struct curl_blob blob = {f->ca_pem, f->ca_len, CURL_BLOB_NOCOPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	}
	t->tls_unverified = is_insecure(f, t->item.url);
	if (t->tls_unverified) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}
