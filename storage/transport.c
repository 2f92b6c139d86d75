/*
 * storage/transport.c -- the mirror transports' interface (see transport.h):
 * the sv_transport_* functions, the checks of remote names and temp names
 * every backend shares, messages, and opening a transport by its URL's
 * scheme. The backends are transport_file.c, transport_sftp.c and
 * transport_s3.c, each a table of operations copied into the handle
 * (transport_backend.h); sftp and s3 run their requests through
 * transport_curl.c.
 *
 * What must stay true: no name reaches a backend before it is checked; temp
 * names are unique across processes and machines and carry the time their
 * upload began; no message carries a credential (they all pass through
 * sv_transport_fail(), and URLs through common/redact.h).
 */
#include "transport_backend.h"

#include "../common/error.h"
#include "../common/redact.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- names ------------------------------------------------------------------------- */


int sv_transport_segment_ok(const char *s, size_t len)
{
	if (len == 0 || len > SEGMENT_MAX || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	if (len >= TEMP_PREFIX_LEN - 1 && strncmp(s, TEMP_PREFIX, TEMP_PREFIX_LEN - 1) == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* 1 if name is a valid relative name ("" only with allow_empty). */
int sv_transport_name_ok(const char *name, int allow_empty)
{
	size_t len = strlen(name);
	if (len == 0)
		return allow_empty;
	if (len > SV_TRANSPORT_NAME_MAX)
		return 0;
	for (const char *p = name;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!sv_transport_segment_ok(p, n))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

static int check_name(const sv_transport *t, const char *name, int allow_empty)
{
	if (!sv_transport_name_ok(name, allow_empty))
		return sv_error_set(SV_EINVAL, "%s: invalid remote name '%.100s'", t->display, name);
	return 0;
}

const char *sv_transport_base_of(const char *name)
{
	const char *slash = strrchr(name, '/');
	return slash ? slash + 1 : name;
}

/* 1 if name is a temp file in a valid folder, with the time its upload began. */
static int temp_parse(const char *name, int64_t *began)
{
	const char *base = sv_transport_base_of(name);
	char *end;
	if (strncmp(base, TEMP_PREFIX, TEMP_PREFIX_LEN) != 0 || strlen(base) > 255)
		return 0;
	if (base != name) {
		size_t dirlen = (size_t)(base - name - 1);
		char dir[SV_TRANSPORT_NAME_MAX + 1];
		if (dirlen > SV_TRANSPORT_NAME_MAX)
			return 0;
		memcpy(dir, name, dirlen);
		dir[dirlen] = '\0';
		if (!sv_transport_name_ok(dir, 0))
			return 0;
	}
	errno = 0;
	long long v = strtoll(base + TEMP_PREFIX_LEN, &end, 10);
	if (errno || end == base + TEMP_PREFIX_LEN || *end != '.')
		return 0;
	if (began)
		*began = v;
	return 1;
}

/* A fresh temp name beside name, unique across processes and machines. */
char *sv_transport_temp_name(const char *name)
{
	static atomic_uint counter;
	unsigned rnd;
	const char *base = sv_transport_base_of(name);
	char *out;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		rnd = (unsigned)ts.tv_nsec ^ (unsigned)getpid() << 16;
	}
	if (asprintf(&out, "%.*s" TEMP_PREFIX "%lld.%ld.%u.%08x.%s", (int)(base - name), name, (long long)time(NULL),
		     (long)getpid(), atomic_fetch_add(&counter, 1), rnd, base) < 0)
		return NULL;
	return out;
}

/* ---- messages ------------------------------------------------------------------------ */

/* Sets the last error to "<url>: <fmt...>" with every secret replaced by "***". */
int sv_transport_fail(const sv_transport *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sv_transport_fail(const sv_transport *t, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "%s: ", t->display);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < sizeof(t->secrets) / sizeof(t->secrets[0]); i++)
		if (t->secrets[i])
			sv_redact_secret(msg, sizeof(msg), t->secrets[i], strlen(t->secrets[i]));
	return sv_error_set(code, "%s", msg);
}

int sv_transport_oom(const sv_transport *t)
{
	return sv_transport_fail(t, SV_EIO, "out of memory");
}

/* Passes one listed file on, if it is what the listing is for. */
int sv_transport_emit(list_state *ls, const char *name, int64_t size)
{
	if (ls->temps ? !temp_parse(name, NULL) : !sv_transport_name_ok(name, 0))
		return 0;
	return ls->fn(ls->ctx, name, size);
}


int sv_transport_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

void sv_transport_free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

char *sv_transport_url_part(CURLU *u, CURLUPart part, unsigned flags)
{
	char *v = NULL, *copy;
	if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
		return NULL;
	copy = strdup(v);
	curl_free(v);
	return copy;
}

void sv_transport_strip_slashes(char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

/* Each backend, by the scheme of its URLs. */
static const struct {
	const char *scheme;
	int (*open)(sv_transport *t, CURLU *u, const sv_transport_options *o);
} backends[] = {
	{"file", sv_transport_file_open},
	{"sftp", sv_transport_sftp_open},
	{"s3", sv_transport_s3_open},
};

int sv_transport_open(sv_transport **out, const char *url, const sv_transport_options *opts)
{
	static const sv_transport_options none = SV_TRANSPORT_OPTIONS_INIT;
	const sv_transport_options *o = opts ? opts : &none;
	sv_transport *t;
	CURLU *u = NULL;
	char *scheme = NULL, *query = NULL, *fragment = NULL;
	char shown[512];
	int rc = 0;

	*out = NULL;
	sv_redact_url_anonymous(url, shown, sizeof(shown));
	if (sv_transport_curl_init() != 0)
		return sv_error_set(SV_EIO, "%s: cannot initialize libcurl", shown);
	if (!(t = calloc(1, sizeof(*t))))
		return sv_error_set(SV_EIO, "%s: out of memory", shown);
	if (!(t->display = strdup(shown)) || !(u = curl_url())) {
		rc = sv_transport_oom(t);
		goto done;
	}
	t->limit = o->transfers > 0 ? (size_t)o->transfers : DEFAULT_TRANSFERS;
	t->connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT_S;
	t->stall_timeout_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : DEFAULT_STALL_TIMEOUT_S;

	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    !(scheme = sv_transport_url_part(u, CURLUPART_SCHEME, 0))) {
		rc = sv_transport_fail(t, SV_EINVAL, "invalid mirror URL");
		goto done;
	}
	if ((query = sv_transport_url_part(u, CURLUPART_QUERY, 0)) ||
	    (fragment = sv_transport_url_part(u, CURLUPART_FRAGMENT, 0))) {
		rc = sv_transport_fail(t, SV_EINVAL, "a mirror URL has no query or fragment");
		goto done;
	}
	/* Messages show the URL as curl reads it, less any user name and password. */
	{
		CURLU *d = curl_url_dup(u);
		char *shown_url = NULL;
		if (d && curl_url_set(d, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
		    curl_url_set(d, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
		    curl_url_set(d, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK)
			shown_url = sv_transport_url_part(d, CURLUPART_URL, 0);
		curl_url_cleanup(d);
		if (shown_url) {
			sv_transport_strip_slashes(shown_url);
			free(t->display);
			t->display = shown_url;
		}
	}
	size_t b = 0;
	while (b < sizeof(backends) / sizeof(backends[0]) && strcmp(scheme, backends[b].scheme) != 0)
		b++;
	if (b == sizeof(backends) / sizeof(backends[0]))
		rc = sv_transport_fail(t, SV_EINVAL, "unsupported mirror URL scheme '%s' (file, sftp or s3)", scheme);
	else
		rc = backends[b].open(t, u, o);
	if (rc == 0 && t->ops.curl_setup)
		rc = sv_transport_curl_start(t);
done:
	curl_url_cleanup(u);
	free(scheme);
	free(query);
	free(fragment);
	if (rc) {
		sv_transport_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void sv_transport_free(sv_transport *t)
{
	if (!t)
		return;
	sv_transport_curl_close(t);
	free(t->display);
	free(t->root);
	free(t->base_url);
	free(t->qbase);
	free(t->ssh_key);
	free(t->known_hosts);
	free(t->prefix);
	free(t->sigv4);
	free(t->access_key);
	free(t->mp_state_dir);
	free_secret(t->secret_key);
	free_secret(t->token_header);
	for (size_t i = 0; i < sizeof(t->secrets) / sizeof(t->secrets[0]); i++)
		free_secret(t->secrets[i]);
	free(t);
}

/* ---- the interface ------------------------------------------------------------------------ */

const char *sv_transport_url(const sv_transport *t)
{
	return t->display;
}

int sv_transport_stat(sv_transport *t, const char *name, int64_t *size)
{
	int rc;
	*size = -1;
	if ((rc = check_name(t, name, 0)) != 0)
		return rc;
	return t->ops.stat(t, name, size);
}

int sv_transport_list(sv_transport *t, const char *dir, sv_transport_list_fn fn, void *ctx)
{
	int rc;
	if ((rc = check_name(t, dir, 1)) != 0)
		return rc;
	return t->ops.list(t, dir, 0, fn, ctx);
}

int sv_transport_put_many(sv_transport *t, const char *const *local, const char *const *name, size_t n,
			  sv_transport_done_fn done, void *ctx)
{
	put_item *items = calloc(n ? n : 1, sizeof(*items));
	int rc = 0;
	if (!items)
		return sv_transport_oom(t);
	for (size_t i = 0; i < n && !rc; i++) {
		items[i].local = local[i];
		items[i].name = name[i];
		rc = check_name(t, name[i], 0);
	}
	if (!rc)
		rc = t->ops.put(t, items, n, 0, done, ctx);
	free(items);
	return rc;
}

int sv_transport_put_data(sv_transport *t, const char *name, const void *buf, size_t len)
{
	put_item it = {NULL, buf, len, name};
	int rc;
	if ((rc = check_name(t, name, 0)) != 0)
		return rc;
	return t->ops.put(t, &it, 1, 1, NULL, NULL);
}

int sv_transport_get(sv_transport *t, const char *name, int fd, int64_t max)
{
	int rc;
	if ((rc = check_name(t, name, 0)) != 0)
		return rc;
	return t->ops.get(t, name, fd, 0, max);
}

int sv_transport_get_rest(sv_transport *t, const char *name, int fd, int64_t from, int64_t max)
{
	int rc;
	if ((rc = check_name(t, name, 0)) != 0)
		return rc;
	if (from < 0 || lseek(fd, from, SEEK_SET) != from)
		return sv_transport_fail(t, SV_EINVAL, "cannot get '%s': cannot resume after %lld bytes", name,
					 (long long)from);
	return t->ops.get(t, name, fd, from, max);
}

int sv_transport_get_data(sv_transport *t, const char *name, size_t max, char **out, size_t *len)
{
	int fd, rc;
	off_t size;
	char *buf = NULL;
	*out = NULL;
	*len = 0;
	if ((rc = check_name(t, name, 0)) != 0)
		return rc;
	if ((fd = memfd_create("salvage-transport", MFD_CLOEXEC)) < 0)
		return sv_transport_fail(t, SV_EIO, "cannot get '%s': memfd_create: %s", name, strerror(errno));
	if ((rc = t->ops.get(t, name, fd, 0, (uint64_t)max > (uint64_t)INT64_MAX ? -1 : (int64_t)max)) != 0)
		goto done;
	if ((size = lseek(fd, 0, SEEK_END)) < 0 || lseek(fd, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)size + 1))) {
		rc = sv_transport_fail(t, SV_EIO, "cannot get '%s': %s", name, strerror(errno ? errno : ENOMEM));
		goto done;
	}
	for (off_t got = 0; got < size;) {
		ssize_t r = read(fd, buf + got, (size_t)(size - got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = sv_transport_fail(t, SV_EIO, "cannot get '%s': %s", name, r < 0 ? strerror(errno) : "short read");
			goto done;
		}
		got += r;
	}
	buf[size] = '\0';
	*out = buf;
	*len = (size_t)size;
	buf = NULL;
done:
	free(buf);
	close(fd);
	return rc;
}

typedef struct {
	sv_transport *t;
	int64_t before; /* temps whose upload began before this are stale */
	char **names;
	size_t n, cap;
} temps_state;

static int collect_temp(void *ctx, const char *name, int64_t size)
{
	temps_state *s = ctx;
	int64_t began;
	(void)size;
	if (!temp_parse(name, &began) || began >= s->before)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		char **nn = realloc(s->names, cap * sizeof(*nn));
		if (!nn)
			return sv_transport_oom(s->t);
		s->names = nn;
		s->cap = cap;
	}
	if (!(s->names[s->n] = strdup(name)))
		return sv_transport_oom(s->t);
	s->n++;
	return 0;
}

int sv_transport_clean_temps(sv_transport *t, const char *dir, int64_t min_age_s, size_t *removed)
{
	temps_state s = {t, (int64_t)time(NULL) - (min_age_s > 0 ? min_age_s : 0), NULL, 0, 0};
	int rc;
	if (removed)
		*removed = 0;
	if ((rc = check_name(t, dir, 1)) != 0)
		return rc;
	if (!t->ops.remove) /* S3 leaves unfinished multipart uploads instead */
		return t->ops.clean_uploads ? t->ops.clean_uploads(t, dir, s.before, removed) : 0;
	rc = t->ops.list(t, dir, 1, collect_temp, &s);
	if (!rc && s.n)
		rc = t->ops.remove(t, (const char *const *)s.names, s.n);
	if (!rc && removed)
		*removed = s.n;
	sv_transport_free_strings(s.names, s.n);
	return rc;
}

