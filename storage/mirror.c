/*
 * storage/mirror.c -- push, verify and pull for offsite mirrors (see mirror.h).
 *
 * Objects are named on the remote as in the local store, so a listing of the
 * remote's sha256/ folder tells what it holds; STATE/NAME.have keeps that
 * knowledge between pushes so that a push with nothing new sends no request
 * for objects at all. A missing or stale .have file (another objects URL in
 * its header) is rebuilt from one listing, counting as held only the remote
 * files whose size is that of the local object. Nothing here prints.
 */
#include "mirror.h"

#include "capture.h"

#include "transport.h"

#include "../common/error.h"
#include "../common/path.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

/* Uploads between two appends to the .have file: at most this many files or bytes. */
#define BATCH_FILES 256
#define BATCH_BYTES (64 << 20)
/* Remote temp files older than this were left by pushes that died. */
#define STALE_TEMP_SECS (24 * 3600)
#define HAVE_HEADER "# salvage mirror: objects held by "

/* ---------------------------------------------------------------- a set of digests */

typedef struct {
	sv_digest d;
	int64_t size; /* bytes of the object file, -1 if unknown */
	unsigned char used, gone;
} dslot;

typedef struct {
	dslot *slot;
	size_t cap, n;
} dset;

static size_t dhash(const sv_digest *d)
{
	uint64_t h;
	memcpy(&h, d->bytes, sizeof(h));
	return (size_t)h;
}

static dslot *dset_find(const dset *s, const sv_digest *d)
{
	if (!s->cap)
		return NULL;
	for (size_t i = dhash(d) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (!s->slot[i].used)
			return NULL;
		if (!memcmp(s->slot[i].d.bytes, d->bytes, SV_DIGEST_LEN))
			return &s->slot[i];
	}
}

/* Adds d (or updates its size); the slot into *out (may be NULL). Negative when out of memory. */
static int dset_put(dset *s, const sv_digest *d, int64_t size, dslot **out)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		dset bigger = {calloc(cap, sizeof(dslot)), cap, 0};
		if (!bigger.slot)
			return sv_error_set(SV_EIO, "out of memory");
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i].used) {
				size_t j = dhash(&s->slot[i].d) & (cap - 1);
				while (bigger.slot[j].used)
					j = (j + 1) & (cap - 1);
				bigger.slot[j] = s->slot[i];
				bigger.n++;
			}
		free(s->slot);
		*s = bigger;
	}
	size_t i = dhash(d) & (s->cap - 1);
	while (s->slot[i].used && memcmp(s->slot[i].d.bytes, d->bytes, SV_DIGEST_LEN))
		i = (i + 1) & (s->cap - 1);
	if (!s->slot[i].used) {
		s->slot[i].d = *d;
		s->slot[i].used = 1;
		s->n++;
	}
	s->slot[i].size = size;
	s->slot[i].gone = 0;
	if (out)
		*out = &s->slot[i];
	return 0;
}

static int dset_has(const dset *s, const sv_digest *d)
{
	const dslot *e = dset_find(s, d);
	return e && !e->gone;
}

/* ---------------------------------------------------------------- small helpers */

/* STATE/<name><suffix>, into a fresh string. */
static char *state_path(const sv_mirror_local *l, const char *name, const char *suffix)
{
	char *path = NULL;
	return asprintf(&path, "%s/%s%s", l->state_dir, name, suffix) < 0 ? NULL : path;
}

/*
 * The archive-wide turn for one mirror (STATE/NAME.lock): pushes and pulls
 * of the same mirror, and .have rewrites, never run at once. An error if
 * another process holds it.
 */
static int take_lock(const sv_mirror_local *l, const char *name, const char *what, int *fd)
{
	char *path;
	int rc = 0;
	*fd = -1;
	if (mkdir(l->state_dir, 0755) != 0 && errno != EEXIST)
		return sv_error_errno(errno, "cannot create '%s'", l->state_dir);
	if (!(path = state_path(l, name, ".lock")))
		return sv_error_set(SV_EIO, "out of memory");
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (*fd < 0) {
		rc = sv_error_errno(errno, "cannot open '%s'", path);
	} else if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? sv_error_set(SV_EIO, "another salvage is %s (it holds '%s')", what, path)
					  : sv_error_errno(errno, "cannot lock '%s'", path);
		close(*fd);
		*fd = -1;
	}
	free(path);
	return rc;
}

/* ---------------------------------------------------------------- opening a remote */

static void transport_options(const sv_mirror_local *l, const sv_mirror_remote *r, const char *uploads,
			      sv_transport_options *o)
{
	*o = (sv_transport_options)SV_TRANSPORT_OPTIONS_INIT;
	o->s3_allow_http = r->allow_http;
	o->multipart_threshold = l->multipart_threshold;
	o->multipart_part_size = l->multipart_part_size;
	o->multipart_state_dir = uploads;
	o->s3_endpoint = r->s3_endpoint;
	o->s3_region = r->s3_region;
	o->access_key = getenv("AWS_ACCESS_KEY_ID");
	o->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	o->session_token = getenv("AWS_SESSION_TOKEN");
	o->ssh_key = r->ssh_key;
	o->ssh_known_hosts = r->known_hosts;
}

static void ledger_options(const sv_mirror_remote *r, sv_ledger_remote_options *o)
{
	*o = (sv_ledger_remote_options)SV_LEDGER_REMOTE_OPTIONS_INIT;
	o->known_hosts = r->known_hosts;
	o->ssh_key = r->ssh_key;
}

/* create: for a push, which makes a missing location (see transport.h);
 * STATE/NAME.uploads keeps the multipart uploads under way. */
static int open_transport(const sv_mirror_local *l, const sv_mirror_remote *r, int create, sv_transport **t)
{
	sv_transport_options o;
	char *uploads = state_path(l, r->name, ".uploads");
	int rc;
	if (!uploads)
		return sv_error_set(SV_EIO, "out of memory");
	transport_options(l, r, uploads, &o);
	o.create = create;
	if ((rc = sv_transport_open(t, r->objects, &o)))
		sv_error_prefix("mirror '%s'", r->name);
	free(uploads);
	return rc;
}

/* ---------------------------------------------------------------- what the remote holds */

/* Lists the remote's objects into set, with their sizes. */
static int collect_remote(void *ctx, const char *name, int64_t size)
{
	sv_digest d;
	if (!sv_objects_name_parse(name, &d))
		return 0;
	return dset_put(ctx, &d, size, NULL);
}

static int list_remote(sv_transport *t, dset *set)
{
	return sv_transport_list(t, "sha256", collect_remote, set);
}

typedef struct {
	sv_digest *v;
	int64_t *sizes;
	size_t n, cap;
} digest_list;

static int collect_local(void *ctx, const sv_digest *d, int64_t size)
{
	digest_list *dl = ctx;
	if (dl->n == dl->cap) {
		size_t cap = dl->cap ? dl->cap * 2 : 1024;
		sv_digest *v = realloc(dl->v, cap * sizeof(*v));
		if (v)
			dl->v = v;
		int64_t *sz = v ? realloc(dl->sizes, cap * sizeof(*sz)) : NULL;
		if (sz)
			dl->sizes = sz;
		if (!v || !sz)
			return sv_error_set(SV_EIO, "out of memory");
		dl->cap = cap;
	}
	dl->v[dl->n] = *d;
	dl->sizes[dl->n++] = size;
	return 0;
}

/* Every object of the local store, with its file size if sizes is set (else -1). */
static int list_local(sv_objects *store, int sizes, digest_list *out)
{
	int rc = sv_objects_foreach(store, sizes, collect_local, out);
	if (rc) {
		free(out->v);
		free(out->sizes);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}

/* ---------------------------------------------------------------- STATE/NAME.have */

typedef struct {
	char *path;
	char header[1100]; /* HAVE_HEADER <objects URL>\n */
	int fd;            /* open for appending, or -1 */
	dset set;
} have_file;

static void have_free(have_file *h)
{
	if (h->fd >= 0)
		close(h->fd);
	free(h->path);
	free(h->set.slot);
	memset(h, 0, sizeof(*h));
	h->fd = -1;
}

/*
 * Reads STATE/NAME.have into h->set. *valid = 0 when there is no file,
 * or it was written for another objects URL: then it says nothing.
 * A torn last line (a write cut by a crash) is ignored.
 */
static int have_load(have_file *h, const sv_mirror_local *l, const sv_mirror_remote *r, int *valid)
{
	char shown[1024];
	struct stat st;
	char *buf = NULL;
	int fd, rc = 0;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	*valid = 0;
	sv_ledger_url_redact(r->objects, shown, sizeof(shown));
	snprintf(h->header, sizeof(h->header), HAVE_HEADER "%s\n", shown);
	if (!(h->path = state_path(l, r->name, ".have")))
		return sv_error_set(SV_EIO, "out of memory");
	if ((fd = open(h->path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : sv_error_errno(errno, "cannot read '%s'", h->path);
	if (fstat(fd, &st) != 0) {
		rc = sv_error_errno(errno, "cannot read '%s'", h->path);
		goto done;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r2 = read(fd, buf + got, (size_t)st.st_size - got);
		if (r2 < 0 && errno == EINTR)
			continue;
		if (r2 <= 0)
			break;
		got += (size_t)r2;
	}
	buf[got] = '\0';
	size_t hl = strlen(h->header);
	if (got < hl || memcmp(buf, h->header, hl) != 0)
		goto done;
	*valid = 1;
	for (char *p = buf + hl; *p;) {
		char *nl = strchr(p, '\n');
		sv_digest d;
		if (!nl)
			break;
		*nl = '\0';
		if (nl - p == SV_DIGEST_HEX_LEN && sv_digest_from_hex(&d, p) == 0 && (rc = dset_put(&h->set, &d, -1, NULL)))
			break;
		p = nl + 1;
	}
done:
	free(buf);
	close(fd);
	return rc;
}

/* Writes the header and every digest of the set not gone to a fresh file, then renames it into place. */
static int have_rewrite(have_file *h)
{
	char *tmp = NULL, *dir = NULL, *buf = NULL, *slash;
	size_t len = strlen(h->header);
	int fd = -1, rc = 0;

	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
	if (asprintf(&tmp, "%s.new", h->path) < 0) {
		tmp = NULL;
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if (!(dir = strdup(h->path)) || !(buf = malloc(len + h->set.n * (SV_DIGEST_HEX_LEN + 1)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	memcpy(buf, h->header, len);
	for (size_t i = 0; i < h->set.cap; i++)
		if (h->set.slot[i].used && !h->set.slot[i].gone) {
			sv_digest_to_hex(&h->set.slot[i].d, buf + len);
			len += SV_DIGEST_HEX_LEN;
			buf[len++] = '\n';
		}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
		rc = sv_error_errno(errno, "cannot create '%s'", tmp);
		goto done;
	}
	if ((rc = sv_path_write_all(fd, buf, len, tmp)))
		goto done;
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
		goto done;
	}
	fd = -1;
	if (rename(tmp, h->path) != 0) {
		rc = sv_error_errno(errno, "cannot rename '%s'", tmp);
		goto done;
	}
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	rc = sv_path_fsync_dir(dir);
done:
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	free(buf);
	return rc;
}

/* Appends n digests as one write and makes them durable. */
static int have_append(have_file *h, const sv_digest *d, size_t n)
{
	char *buf;
	size_t len = 0;
	int rc = 0;
	if (!n)
		return 0;
	if (h->fd < 0 && (h->fd = open(h->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		return sv_error_errno(errno, "cannot open '%s'", h->path);
	if (!(buf = malloc(n * (SV_DIGEST_HEX_LEN + 1))))
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < n; i++) {
		sv_digest_to_hex(&d[i], buf + len);
		len += SV_DIGEST_HEX_LEN;
		buf[len++] = '\n';
	}
	if ((rc = sv_path_write_all(h->fd, buf, len, h->path)) == 0 && fdatasync(h->fd) != 0)
		rc = sv_error_errno(errno, "cannot write '%s'", h->path);
	free(buf);
	return rc;
}

/*
 * Opens the .have file for appending, after making it sound: a torn last
 * line is cut off so the next append starts a line of its own.
 */
static int have_open_append(have_file *h)
{
	struct stat st;
	char c;
	if ((h->fd = open(h->path, O_RDWR | O_APPEND | O_CLOEXEC)) < 0)
		return sv_error_errno(errno, "cannot open '%s'", h->path);
	if (fstat(h->fd, &st) != 0)
		return sv_error_errno(errno, "cannot read '%s'", h->path);
	off_t end = st.st_size;
	while (end > 0 && pread(h->fd, &c, 1, end - 1) == 1 && c != '\n')
		end--;
	if (end != st.st_size && ftruncate(h->fd, end) != 0)
		return sv_error_errno(errno, "cannot repair '%s'", h->path);
	return 0;
}

/* ---------------------------------------------------------------- checking a remote's settings */

static int name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 63 || !isalnum((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return strstr(name, "..") == NULL;
}

static char *url_part(CURLU *u, CURLUPart part)
{
	char *v = NULL, *copy;
	if (curl_url_get(u, part, &v, 0) != CURLUE_OK)
		return NULL;
	copy = strdup(v);
	curl_free(v);
	return copy;
}

typedef struct {
	char *scheme, *user, *password, *host, *path, *query, *fragment;
} url_parts;

static void parts_free(url_parts *p)
{
	free(p->scheme);
	free(p->user);
	if (p->password)
		explicit_bzero(p->password, strlen(p->password));
	free(p->password);
	free(p->host);
	free(p->path);
	free(p->query);
	free(p->fragment);
}

static int parse_parts(const char *url, url_parts *p)
{
	CURLU *u = curl_url();
	memset(p, 0, sizeof(*p));
	if (!u)
		return sv_error_set(SV_EIO, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS) != CURLUE_OK) {
		curl_url_cleanup(u);
		return SV_EINVAL;
	}
	p->scheme = url_part(u, CURLUPART_SCHEME);
	p->user = url_part(u, CURLUPART_USER);
	p->password = url_part(u, CURLUPART_PASSWORD);
	p->host = url_part(u, CURLUPART_HOST);
	p->path = url_part(u, CURLUPART_PATH);
	p->query = url_part(u, CURLUPART_QUERY);
	p->fragment = url_part(u, CURLUPART_FRAGMENT);
	curl_url_cleanup(u);
	return 0;
}

static const char *no_secrets =
	"salvage keeps no secret in salvage.conf: use an ssh key (--ssh-key) or the ssh agent, and "
	"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment";

static int check_objects_url(const sv_mirror_remote *r)
{
	url_parts p;
	char shown[1024];
	int rc = 0;
	sv_ledger_url_redact(r->objects, shown, sizeof(shown));
	if (!strstr(r->objects, "://"))
		return sv_error_set(SV_EINVAL,
				    "objects URL '%s' is not a URL: use file:///absolute/path, sftp://user@host/path or "
				    "s3://bucket/prefix",
				    shown);
	if (parse_parts(r->objects, &p) != 0 || !p.scheme)
		rc = sv_error_set(SV_EINVAL, "objects URL '%s' is not a valid URL", shown);
	else if (p.password)
		rc = sv_error_set(SV_EINVAL, "the objects URL holds a password: %s", no_secrets);
	else if (strcmp(p.scheme, "file") && strcmp(p.scheme, "sftp") && strcmp(p.scheme, "s3"))
		rc = sv_error_set(SV_EINVAL, "unknown scheme '%s' in objects URL '%s' (file, sftp or s3)", p.scheme, shown);
	else if (p.query || p.fragment)
		rc = sv_error_set(SV_EINVAL, "objects URL '%s' has a query or fragment", shown);
	else if (!strcmp(p.scheme, "file") && ((p.host && *p.host && strcmp(p.host, "localhost")) || !p.path ||
					       p.path[0] != '/' || !p.path[1]))
		rc = sv_error_set(SV_EINVAL, "a file URL names a folder on this machine: file:///absolute/path");
	else if (!strcmp(p.scheme, "sftp") && (!p.user || !*p.user))
		rc = sv_error_set(SV_EINVAL, "an sftp URL needs a user name: sftp://user@host[:port]/path");
	else if (!strcmp(p.scheme, "s3") && p.user)
		rc = sv_error_set(SV_EINVAL, "an s3 URL is s3://bucket/prefix: keys come from AWS_ACCESS_KEY_ID and "
					     "AWS_SECRET_ACCESS_KEY");
	else if (!strcmp(p.scheme, "s3") && (!r->s3_endpoint || !*r->s3_endpoint))
		rc = sv_error_set(SV_EINVAL, "an s3 mirror needs --s3-endpoint (such as https://s3.eu-west-1.amazonaws.com)");
	else if (strcmp(p.scheme, "s3") && (r->s3_endpoint || r->s3_region))
		rc = sv_error_set(SV_EINVAL, "--s3-endpoint and --s3-region are for s3:// objects only");
	parts_free(&p);
	return rc;
}

static int check_endpoint(const char *endpoint, const sv_mirror_remote *r)
{
	url_parts p;
	int rc = 0;
	if (parse_parts(endpoint, &p) != 0 || !p.scheme || (strcmp(p.scheme, "http") && strcmp(p.scheme, "https")) ||
	    !p.host)
		rc = sv_error_set(SV_EINVAL, "the S3 endpoint must be an http or https URL, such as https://s3.amazonaws.com");
	else if (p.user || p.password)
		rc = sv_error_set(SV_EINVAL, "the S3 endpoint holds a user name or password: %s", no_secrets);
	else if (p.query || p.fragment)
		rc = sv_error_set(SV_EINVAL, "the S3 endpoint has a query or fragment");
	else if (strcmp(p.scheme, "https") != 0 && !r->allow_http)
		rc = sv_error_set(SV_EINVAL,
				  "mirror '%s': the S3 endpoint is plain http: request signatures and any session token "
				  "would travel in clear; use https, or allow it for a server on this machine or a "
				  "trusted network (remote.%s.allowHttp = true in salvage.conf, or --allow-http)",
				  r->name, r->name);
	parts_free(&p);
	return rc;
}

/*
 * A path made absolute against the current folder. It need not exist; where
 * it or its folder does, symlinks, "." and ".." are resolved as realpath does.
 */
static int absolute(char **path)
{
	char cwd[PATH_MAX], real[PATH_MAX], *abs = NULL, *slash;
	if ((*path)[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)))
			return sv_error_errno(errno, "cannot get the current folder");
		if (!(abs = sv_path_dup(cwd, *path)))
			return sv_error_set(SV_EIO, "out of memory");
		free(*path);
		*path = abs;
	}
	if (realpath(*path, real)) {
		abs = strdup(real);
	} else if ((slash = strrchr(*path, '/')) && slash != *path && slash[1]) {
		*slash = '\0';
		abs = realpath(*path, real) ? sv_path_dup(real, slash + 1) : NULL;
		*slash = '/';
		if (!abs)
			return 0;
	} else {
		return 0;
	}
	if (!abs)
		return sv_error_set(SV_EIO, "out of memory");
	free(*path);
	*path = abs;
	return 0;
}

static int check_ledger_url(sv_mirror_remote *r)
{
	char shown[1024];
	const char *sep = strstr(r->ledger, "://");
	url_parts p;
	int rc = 0;

	sv_ledger_url_redact(r->ledger, shown, sizeof(shown));
	if (!*r->ledger)
		return sv_error_set(SV_EINVAL, "empty ledger URL");
	if (!sep) {
		const char *colon = strchr(r->ledger, ':');
		const char *at = strchr(r->ledger, '@');
		/* scp-like [user@]host:path; a ':' before the '@' would be a password. */
		if (colon && !memchr(r->ledger, '/', (size_t)(colon - r->ledger))) {
			if (at && colon < at)
				return sv_error_set(SV_EINVAL, "the ledger URL holds a password: %s", no_secrets);
			return 0;
		}
		return absolute(&r->ledger);
	}
	if (parse_parts(r->ledger, &p) != 0 || !p.scheme)
		rc = sv_error_set(SV_EINVAL, "ledger URL '%s' is not a valid URL", shown);
	else if (p.password)
		rc = sv_error_set(SV_EINVAL, "the ledger URL holds a password: %s", no_secrets);
	else if (strcmp(p.scheme, "file") && strcmp(p.scheme, "ssh") && strcmp(p.scheme, "git+ssh") &&
		 strcmp(p.scheme, "ssh+git") && strcmp(p.scheme, "https") && strcmp(p.scheme, "http"))
		rc = sv_error_set(SV_EINVAL, "unknown scheme '%s' in ledger URL '%s' (file, ssh or https)", p.scheme, shown);
	else if (!strncmp(p.scheme, "http", 4) && p.user)
		/* Tokens travel as user names in https URLs. */
		rc = sv_error_set(SV_EINVAL, "the ledger URL holds a user name or token: %s", no_secrets);
	else if (p.query || p.fragment)
		rc = sv_error_set(SV_EINVAL, "ledger URL '%s' has a query or fragment", shown);
	else if (!strcmp(p.scheme, "file") && ((p.host && *p.host && strcmp(p.host, "localhost")) || !p.path ||
					       p.path[0] != '/'))
		rc = sv_error_set(SV_EINVAL, "a file URL names a folder on this machine: file:///absolute/path");
	parts_free(&p);
	return rc;
}

static int check_file(char **path, const char *what)
{
	int rc;
	if (!**path)
		return sv_error_set(SV_EINVAL, "empty %s path", what);
	if ((rc = absolute(path)))
		return rc;
	if (access(*path, R_OK) != 0)
		return sv_error_set(SV_EINVAL, "cannot read the %s '%s': %s", what, *path, strerror(errno));
	return 0;
}

void sv_mirror_remote_free(sv_mirror_remote *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->objects);
	free(r->ledger);
	free(r->s3_endpoint);
	free(r->s3_region);
	free(r->ssh_key);
	free(r->known_hosts);
	free(r);
}

int sv_mirror_check_remote(sv_mirror_remote *r)
{
	int rc;
	if (!name_ok(r->name))
		return sv_error_set(SV_EINVAL,
				    "bad mirror name '%s': 1 to 63 letters, digits, '.', '_' or '-', starting with a "
				    "letter or digit",
				    r->name);
	if (!r->objects || !r->ledger)
		return sv_error_set(SV_EINVAL, "a mirror needs --objects URL and --ledger URL");
	if ((rc = check_objects_url(r)) || (rc = check_ledger_url(r)))
		return rc;
	if (r->s3_endpoint && (rc = check_endpoint(r->s3_endpoint, r)))
		return rc;
	if (r->s3_region && (!*r->s3_region || strspn(r->s3_region, "abcdefghijklmnopqrstuvwxyz0123456789-") !=
							 strlen(r->s3_region)))
		return sv_error_set(SV_EINVAL, "bad S3 region '%s' (such as eu-west-1)", r->s3_region);
	if (r->ssh_key && (rc = check_file(&r->ssh_key, "ssh key")))
		return rc;
	if (r->known_hosts && (rc = check_file(&r->known_hosts, "known_hosts file")))
		return rc;
	return 0;
}

/* ---------------------------------------------------------------- capture records */

/* A capture record as mirrors need it: its url and ts, and the object it names, if any. */
typedef struct {
	sv_capture_parsed p;
	const char *url, *ts;
	char sha256[SV_DIGEST_HEX_LEN + 1]; /* "" if none; lower case */
	sv_digest d;
} record;

/* 0 if line is a capture record with a url and a ts. Clear rec with record_clear whatever it returns. */
static int parse_record(const char *line, size_t len, record *rec)
{
	int rc = sv_capture_parse(&rec->p, line, len);
	rec->url = rec->p.c.url;
	rec->ts = rec->p.c.ts;
	rec->sha256[0] = '\0';
	if (rc == 0 && rec->p.c.sha256 && sv_digest_from_hex(&rec->d, rec->p.c.sha256) == 0)
		sv_digest_to_hex(&rec->d, rec->sha256);
	return rc == 0 && rec->url && rec->ts ? 0 : -1;
}

static void record_clear(record *rec)
{
	sv_capture_parsed_clear(&rec->p);
}

/* ---------------------------------------------------------------- push */

typedef struct {
	const sv_mirror_local *l;
	const sv_mirror_remote *r;
	const sv_mirror_callbacks *cb;
	sv_mirror_push_result *res;
	have_file have;
	/* the batch being uploaded */
	sv_digest *digests;
	int64_t *sizes;
	unsigned char *ok;
	uint64_t total;
} push_state;

static void report_progress(const sv_mirror_callbacks *cb, uint64_t done, uint64_t total, uint64_t bytes)
{
	sv_mirror_progress p = {done, total, bytes};
	if (cb->progress)
		cb->progress(cb->ctx, &p);
}

static void on_uploaded(void *ctx, size_t i, int code, const char *message)
{
	push_state *s = ctx;
	sv_mirror_push_result *res = s->res;
	char name[SV_OBJECTS_NAME_LEN + 1];
	s->ok[i] = code == 0;
	if (code == 0) {
		res->uploaded++;
		res->bytes += (uint64_t)s->sizes[i];
	} else {
		if (!res->first_failure)
			res->first_failure = code;
		res->failed++;
		sv_objects_name(&s->digests[i], name);
		if (s->cb->failed)
			s->cb->failed(s->cb->ctx, name, message ? message : "failed");
	}
	report_progress(s->cb, res->uploaded + res->failed, s->total, res->bytes);
}

/* The push's check before the ledger goes out: every object a new record names is on the remote. */
static int check_named(void *ctx, const char *path, const char *line, size_t len)
{
	push_state *s = ctx;
	record rec;
	int rc = 0;
	if (parse_record(line, len, &rec) == 0 && rec.sha256[0] && !dset_has(&s->have.set, &rec.d))
		rc = sv_error_set(SV_ECORRUPT,
				  "the ledger names object %s (%s, in %s), which mirror '%s' does not hold and this archive "
				  "lacks: the ledger was not pushed (see 'salvage verify')",
				  rec.sha256, rec.url, path, s->r->name);
	record_clear(&rec);
	return rc;
}

/* 1 if the remote does not answer a question about a file that is not there. */
static int remote_down(sv_transport *t)
{
	int64_t size;
	return sv_transport_stat(t, "salvage-probe", &size) != 0;
}

/*
 * The upload order: objects live in folders by their first byte, and files
 * made at once in one folder wait for each other (the folder is locked while
 * the file system finds each new file an inode). So a run of consecutive
 * objects cycles through 16 folders -- first byte's high half, then the
 * second byte, then the low half -- and the transfers at once land in
 * different folders, while one batch still touches only 16 of them.
 */
static int upload_order(const void *pa, const void *pb)
{
	const unsigned char *a = ((const sv_digest *)pa)->bytes, *b = ((const sv_digest *)pb)->bytes;
	int ka = (a[0] >> 4) << 16 | a[1] << 8 | (a[0] & 15), kb = (b[0] >> 4) << 16 | b[1] << 8 | (b[0] & 15);
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return memcmp(a + 2, b + 2, SV_DIGEST_LEN - 2);
}

/* Uploads the objects in todo, in batches; each batch's successes are appended to the .have file. */
static int upload(push_state *s, sv_transport *t, const sv_digest *todo, size_t n, int *stopped)
{
	const char **local = calloc(BATCH_FILES, sizeof(char *)), **names = calloc(BATCH_FILES, sizeof(char *));
	char(*namebuf)[SV_OBJECTS_NAME_LEN + 1] = calloc(BATCH_FILES, SV_OBJECTS_NAME_LEN + 1);
	sv_digest *done = calloc(BATCH_FILES, sizeof(sv_digest));
	int rc = 0;

	*stopped = 0;
	s->digests = calloc(BATCH_FILES, sizeof(sv_digest));
	s->sizes = calloc(BATCH_FILES, sizeof(int64_t));
	s->ok = calloc(BATCH_FILES, 1);
	if (!local || !names || !namebuf || !done || !s->digests || !s->sizes || !s->ok) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	for (size_t next = 0; next < n && rc == 0;) {
		size_t k = 0;
		uint64_t batch_bytes = 0;
		while (next < n && k < BATCH_FILES && batch_bytes < BATCH_BYTES) {
			struct stat st;
			char *path = malloc(PATH_MAX);
			if (!path) {
				rc = sv_error_set(SV_EIO, "out of memory");
				break;
			}
			if ((rc = sv_objects_path(s->l->objects, &todo[next], path, PATH_MAX))) {
				free(path);
				break;
			}
			if (stat(path, &st) != 0) {
				/* Objects are never removed by salvage; one that vanished is not ours to send. */
				free(path);
				next++;
				continue;
			}
			s->digests[k] = todo[next++];
			s->sizes[k] = (int64_t)st.st_size;
			batch_bytes += (uint64_t)st.st_size;
			local[k] = path;
			sv_objects_name(&s->digests[k], namebuf[k]);
			names[k] = namebuf[k];
			k++;
		}
		if (rc == 0 && k) {
			uint64_t failed_before = s->res->failed;
			size_t good = 0;
			memset(s->ok, 0, k);
			sv_transport_put_many(t, local, names, k, on_uploaded, s);
			for (size_t i = 0; i < k; i++)
				if (s->ok[i]) {
					done[good++] = s->digests[i];
					if ((rc = dset_put(&s->have.set, &s->digests[i], -1, NULL)))
						break;
				}
			if (rc == 0)
				rc = have_append(&s->have, done, good);
			/* Nothing of a batch arrived: if the remote no longer answers, stop rather than try every object. */
			if (rc == 0 && good == 0 && s->res->failed > failed_before && remote_down(t))
				*stopped = 1;
		}
		for (size_t i = 0; i < k; i++)
			free((char *)local[i]);
		if (*stopped)
			break;
	}
done:
	free(local);
	free(names);
	free(namebuf);
	free(done);
	free(s->digests);
	free(s->sizes);
	free(s->ok);
	s->digests = NULL;
	s->sizes = NULL;
	s->ok = NULL;
	return rc;
}

/* Rebuilds what the .have file says from one listing of the remote. */
static int recheck(push_state *s, sv_transport *t, const sv_digest *local, const int64_t *sizes, size_t n)
{
	dset remote = {0};
	int rc = list_remote(t, &remote);
	free(s->have.set.slot);
	memset(&s->have.set, 0, sizeof(s->have.set));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const dslot *e = dset_find(&remote, &local[i]);
		if (e && e->size == sizes[i])
			rc = dset_put(&s->have.set, &local[i], -1, NULL);
	}
	free(remote.slot);
	if (rc == 0)
		rc = have_rewrite(&s->have);
	return rc;
}

int sv_mirror_push(const sv_mirror_local *l, const sv_mirror_remote *r, const sv_mirror_push_options *po,
		   sv_mirror_push_result *out)
{
	static const sv_mirror_push_options defaults = SV_MIRROR_PUSH_OPTIONS_INIT;
	sv_ledger_tip *tips = NULL;
	sv_transport *t = NULL;
	sv_digest *todo = NULL;
	digest_list local = {0};
	size_t ntips = 0, ntodo = 0;
	push_state s;
	sv_ledger_remote_options lo;
	int rc, lock = -1, valid = 0, stopped = 0;

	memset(out, 0, sizeof(*out));
	memset(&s, 0, sizeof(s));
	s.have.fd = -1;
	if (!po)
		po = &defaults;
	s.l = l;
	s.r = r;
	s.cb = &po->cb;
	s.res = out;
	if ((r->s3_endpoint && (rc = check_endpoint(r->s3_endpoint, r))) ||
	    (rc = take_lock(l, r->name, "pushing to or checking this mirror", &lock)))
		goto done;
	/* 1. The tips to publish, before anything else: their objects are all in the store now. */
	if ((rc = sv_ledger_tips(l->ledger, &tips, &ntips)))
		goto done;
	/* 2. The objects, and what the remote holds of them. */
	if ((rc = list_local(l->objects, 0, &local)) || (rc = have_load(&s.have, l, r, &valid)))
		goto done;
	if (!valid || po->recheck) {
		free(local.v);
		free(local.sizes);
		memset(&local, 0, sizeof(local));
		if ((rc = list_local(l->objects, 1, &local)) || (rc = open_transport(l, r, 1, &t)) ||
		    (rc = recheck(&s, t, local.v, local.sizes, local.n)))
			goto done;
	}
	if ((rc = have_open_append(&s.have)))
		goto done;
	if (!(todo = malloc((local.n ? local.n : 1) * sizeof(*todo)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < local.n; i++)
		if (!dset_has(&s.have.set, &local.v[i]))
			todo[ntodo++] = local.v[i];
	s.total = ntodo;
	qsort(todo, ntodo, sizeof(*todo), upload_order);
	/* 3. Upload what is missing. */
	if (ntodo) {
		size_t removed = 0;
		if (!t && (rc = open_transport(l, r, 1, &t)))
			goto done;
		/* Leftovers of pushes that died long ago; recent ones may belong to a push still running. */
		sv_transport_clean_temps(t, "sha256", STALE_TEMP_SECS, &removed);
		if ((rc = upload(&s, t, todo, ntodo, &stopped)))
			goto done;
	}
	out->finished = 1;
	out->already = local.n - ntodo;
	/* 4. The ledger, exactly as snapshotted, once every object is there. */
	if (out->failed == 0) {
		ledger_options(r, &lo);
		rc = sv_ledger_push_tips(l->ledger, r->ledger, &lo, tips, ntips, check_named, &s, &out->branches);
		if (rc == 0)
			out->ledger = out->branches ? SV_MIRROR_LEDGER_PUSHED
				      : ntips	    ? SV_MIRROR_LEDGER_UP_TO_DATE
						    : SV_MIRROR_LEDGER_EMPTY;
		else
			out->branches = 0;
	}
	if (stopped) {
		out->stopped = 1;
		out->not_tried = ntodo - out->uploaded - out->failed;
		rc = sv_error_set(SV_EIO, "stopped: %s no longer answers; push again to continue", sv_transport_url(t));
	}
done:
	have_free(&s.have);
	sv_transport_free(t);
	free(todo);
	free(local.v);
	free(local.sizes);
	free(tips);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* ---------------------------------------------------------------- verify */

typedef struct {
	dset named; /* objects named by the ledger; size: "stored" from the record, or -1 */
	uint64_t records;
} named_state;

static int collect_named(void *ctx, const char *path, const char *line, size_t len)
{
	named_state *n = ctx;
	record rec;
	int rc = 0;
	(void)path;
	n->records++;
	if (parse_record(line, len, &rec) == 0 && rec.sha256[0]) {
		dslot *e = dset_find(&n->named, &rec.d);
		if (!e)
			rc = dset_put(&n->named, &rec.d, rec.p.c.stored, NULL);
	}
	record_clear(&rec);
	return rc;
}

/* Removes stale temp files of ours in tmpdir (prefix, then the pid of a process that is gone). */
static void clean_own_temps(const char *tmpdir, const char *prefix)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	size_t pl = strlen(prefix);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, pl) != 0)
			continue;
		long pid = strtol(e->d_name + pl, NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/*
 * Downloads a remote object of at most size bytes (the listing's: a larger one
 * is stopped there, SV_ECORRUPT) to a temp file in tmpdir; its path into *path
 * (unlink and free it).
 */
static int download(const char *tmpdir, sv_transport *t, const sv_digest *d, int64_t size, const char *prefix,
		    char **path, int *fd)
{
	char name[SV_OBJECTS_NAME_LEN + 1];
	static unsigned counter;
	int rc;
	*fd = -1;
	if (asprintf(path, "%s/%s%ld.%u", tmpdir, prefix, (long)getpid(), counter++) < 0) {
		*path = NULL;
		return sv_error_set(SV_EIO, "out of memory");
	}
	if ((*fd = open(*path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = sv_error_errno(errno, "cannot create '%s'", *path);
		free(*path);
		*path = NULL;
		return rc;
	}
	sv_objects_name(d, name);
	if ((rc = sv_transport_get(t, name, *fd, size)))
		return rc;
	if (lseek(*fd, 0, SEEK_SET) != 0)
		return sv_error_errno(errno, "cannot read '%s'", *path);
	return 0;
}

static void drop_download(char *path, int fd)
{
	if (fd >= 0)
		close(fd);
	if (path) {
		unlink(path);
		free(path);
	}
}

typedef struct {
	const sv_mirror_callbacks *cb;
	uint64_t problems;
} problems;

__attribute__((format(printf, 2, 3))) static void problem(problems *p, const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (p->cb->problem)
		p->cb->problem(p->cb->ctx, text);
	p->problems++;
}

/* Forgets what verify found missing or damaged (gone in named), so the next push sends it again. */
static void forget_gone(const sv_mirror_local *l, const sv_mirror_remote *r, const dset *named,
			const sv_mirror_callbacks *cb)
{
	have_file h;
	int valid = 0, lock = -1, dropped = 0;
	char text[2048];
	if (have_load(&h, l, r, &valid) == 0 && valid) {
		for (size_t i = 0; i < named->cap; i++) {
			dslot *e = named->slot[i].used && named->slot[i].gone ? dset_find(&h.set, &named->slot[i].d) : NULL;
			if (e && !e->gone) {
				e->gone = 1;
				dropped++;
			}
		}
		if (dropped && take_lock(l, r->name, "pushing to or checking this mirror", &lock) == 0) {
			have_rewrite(&h);
		} else if (dropped && cb->warning) {
			snprintf(text, sizeof(text), "%s; push again once it is done", sv_error_last());
			cb->warning(cb->ctx, text);
		}
	}
	if (lock >= 0)
		close(lock);
	have_free(&h);
}

int sv_mirror_verify(const sv_mirror_local *l, const sv_mirror_remote *r, const sv_mirror_verify_options *vo,
		     sv_mirror_verify_result *out)
{
	static const sv_mirror_verify_options defaults = SV_MIRROR_VERIFY_OPTIONS_INIT;
	sv_ledger_tip *tips = NULL;
	sv_transport *t = NULL;
	named_state ns = {{0}, 0};
	dset remote = {0};
	sv_digest *check = NULL;
	int *has = NULL;
	size_t ntips = 0, ncheck = 0, nhashed = 0;
	problems p;
	sv_ledger_remote_options lo;
	double sample;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!vo)
		vo = &defaults;
	p.cb = &vo->cb;
	p.problems = 0;
	sample = vo->deep ? 100 : vo->sample;
	if (!(vo->sample >= 0 && vo->sample <= 100))
		return sv_error_set(SV_EINVAL, "the sample must be a percentage, 0 to 100");
	if (r->s3_endpoint && (rc = check_endpoint(r->s3_endpoint, r)))
		return rc;
	/* The tips first: the records read next hold at least everything they do. */
	if ((rc = sv_ledger_tips(l->ledger, &tips, &ntips)) || (rc = sv_ledger_records(l->ledger, collect_named, &ns)))
		goto done;
	if ((rc = open_transport(l, r, 0, &t)) || (rc = list_remote(t, &remote)))
		goto done;
	if (!(check = malloc((ns.named.n ? ns.named.n : 1) * sizeof(*check)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}

	/* Sizes: the local object file's, else the record's "stored". */
	for (size_t i = 0; i < ns.named.cap; i++) {
		dslot *e = &ns.named.slot[i];
		char rname[SV_OBJECTS_NAME_LEN + 1], path[PATH_MAX];
		struct stat st;
		if (!e->used)
			continue;
		sv_objects_name(&e->d, rname);
		if (sv_objects_path(l->objects, &e->d, path, sizeof(path)) == 0 && stat(path, &st) == 0)
			e->size = (int64_t)st.st_size;
		const dslot *there = dset_find(&remote, &e->d);
		if (!there) {
			problem(&p, "%s: missing on mirror %s", rname, r->name);
			e->gone = 1;
		} else if (e->size >= 0 && there->size != e->size) {
			problem(&p, "%s: %lld bytes on mirror %s, %lld expected", rname, (long long)there->size, r->name,
				(long long)e->size);
			e->gone = 1;
		} else {
			check[ncheck++] = e->d;
		}
	}

	/* Re-hash all of them (deep) or a random sample. */
	double share = (double)ncheck * sample / 100.0;
	size_t want = sample >= 100 ? ncheck : (size_t)share;
	if ((double)want < share)
		want++; /* rounded up: any sample of a non-empty set checks something */
	if (want > ncheck)
		want = ncheck;
	if (want)
		clean_own_temps(l->tmp_dir, "mirror-verify.");
	for (size_t i = 0; i < want; i++) {
		char rname[SV_OBJECTS_NAME_LEN + 1], *path = NULL;
		int fd = -1;
		if (want < ncheck) { /* a partial Fisher-Yates shuffle picks the sample */
			uint64_t x = 0;
			if (getrandom(&x, sizeof(x), 0) != (ssize_t)sizeof(x))
				x = (uint64_t)rand();
			size_t j = i + (size_t)(x % (ncheck - i));
			sv_digest tmp = check[i];
			check[i] = check[j];
			check[j] = tmp;
		}
		sv_objects_name(&check[i], rname);
		const dslot *there = dset_find(&remote, &check[i]);
		rc = download(l->tmp_dir, t, &check[i], there ? there->size : -1, "mirror-verify.", &path, &fd);
		if (rc == 0)
			rc = sv_objects_check_path(path, &check[i]);
		drop_download(path, fd);
		nhashed++;
		if (rc == SV_ECORRUPT || rc == SV_ENOTFOUND) {
			problem(&p, "%s: damaged on mirror %s: %s", rname, r->name, sv_error_last());
			dslot *e = dset_find(&ns.named, &check[i]);
			if (e)
				e->gone = 1;
		} else if (rc) {
			goto done;
		}
		report_progress(p.cb, nhashed, want, 0);
	}
	rc = 0;

	/* The remote ledger holds every tip of ours. */
	if (ntips) {
		char shown[1024];
		if (!(has = calloc(ntips, sizeof(*has)))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		ledger_options(r, &lo);
		sv_ledger_url_redact(r->ledger, shown, sizeof(shown));
		if ((rc = sv_ledger_remote_contains(l->ledger, r->ledger, &lo, tips, ntips, has)))
			goto done;
		for (size_t i = 0; i < ntips; i++)
			if (!has[i])
				problem(&p, "ledger: branch %s (%.12s) is not on mirror %s (%s)", tips[i].branch,
					tips[i].commit, r->name, shown);
	}
	forget_gone(l, r, &ns.named, p.cb);
	out->objects = ns.named.n;
	out->records = ns.records;
	out->rehashed = nhashed;
	out->branches = ntips;
	out->problems = p.problems;
done:
	free(has);
	free(check);
	free(remote.slot);
	free(ns.named.slot);
	sv_transport_free(t);
	free(tips);
	return rc;
}

/* ---------------------------------------------------------------- pull */

typedef struct {
	sv_transport *t;
	const char *name;
	const char *partial; /* a large object: the download kept between pulls, or NULL */
	int64_t size;        /* its size on the remote: no more is taken */
} fetch_ctx;

/*
 * A large object goes to its partial file first, resumed from what an earlier
 * pull left there (a Range request), then is copied into fd; the partial stays
 * when the download is cut short again.
 */
static int fetch_into(void *ctx, int fd)
{
	fetch_ctx *f = ctx;
	struct stat st;
	int pfd, rc = 0;
	if (!f->partial)
		return sv_transport_get(f->t, f->name, fd, f->size);
	if ((pfd = open(f->partial, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || fstat(pfd, &st) != 0) {
		rc = sv_error_errno(errno, "cannot open '%s'", f->partial);
		goto done;
	}
	if (st.st_size > f->size && ftruncate(pfd, 0) != 0) {
		rc = sv_error_errno(errno, "cannot truncate '%s'", f->partial);
		goto done;
	}
	if (st.st_size != f->size && (rc = sv_transport_get_rest(f->t, f->name, pfd, st.st_size > f->size ? 0 : st.st_size, f->size)))
		goto done;
	if (lseek(pfd, 0, SEEK_SET) != 0) {
		rc = sv_error_errno(errno, "cannot read '%s'", f->partial);
		goto done;
	}
	for (;;) {
		ssize_t n = copy_file_range(pfd, NULL, fd, NULL, 1 << 30, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = sv_error_errno(errno, "cannot copy '%s'", f->partial);
			break;
		}
		if (n == 0)
			break;
	}
done:
	if (pfd >= 0)
		close(pfd);
	return rc;
}

/* A capture's identity: its URL, time, status and payload. */
static void capture_key(const char *url, const char *ts, int status, const char *sha256, sv_digest *out)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	char st[16];
	unsigned int len = 0;
	snprintf(st, sizeof(st), "%d", status);
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	EVP_DigestUpdate(c, url, strlen(url) + 1);
	EVP_DigestUpdate(c, ts, strlen(ts) + 1);
	EVP_DigestUpdate(c, st, strlen(st) + 1);
	EVP_DigestUpdate(c, sha256 ? sha256 : "", sha256 ? strlen(sha256) : 0);
	EVP_DigestFinal_ex(c, out->bytes, &len);
	EVP_MD_CTX_free(c);
}

static int seen_capture(void *set, const char *url, const char *ts, int status, const char *sha256)
{
	sv_digest k;
	capture_key(url, ts, status, sha256, &k);
	return dset_put(set, &k, 0, NULL);
}

typedef struct {
	const sv_mirror_callbacks *cb;
	dset seen;           /* captures the archive has */
	const dset *objects; /* objects the archive now holds */
	problems *p;
	const char *name;
	uint64_t added, bad;
} import_state;

static int import_record(void *ctx, const char *path, const char *line, size_t len)
{
	import_state *s = ctx;
	record rec;
	sv_digest k;
	int rc = 0;
	if (parse_record(line, len, &rec) != 0) {
		if (s->bad++ == 0)
			problem(s->p, "%s: a line that is not a capture record", path);
		record_clear(&rec);
		return 0;
	}
	int status = rec.p.c.status > 0 ? rec.p.c.status : 0;
	capture_key(rec.url, rec.ts, status, rec.sha256[0] ? rec.sha256 : NULL, &k);
	if (!dset_has(&s->seen, &k)) {
		const char *kind = rec.p.kind_known ? sv_kind_name(rec.p.c.kind) : "page";
		sv_mirror_capture c = {line, rec.url, rec.ts, rec.sha256[0] ? rec.sha256 : NULL, kind, status,
				       rec.p.c.length};
		if ((!s->cb->capture || (rc = s->cb->capture(s->cb->ctx, &c)) == 0) &&
		    (rc = dset_put(&s->seen, &k, 0, NULL)) == 0)
			s->added++;
	}
	if (rc == 0 && rec.sha256[0] && !dset_has(s->objects, &rec.d)) {
		char rname[SV_OBJECTS_NAME_LEN + 1];
		sv_objects_name(&rec.d, rname);
		problem(s->p, "%s: named by the capture of %s at %s, but neither this archive nor mirror %s holds it", rname,
			rec.url, rec.ts, s->name);
	}
	record_clear(&rec);
	return rc;
}

static int collect_here(void *ctx, const sv_digest *d, int64_t size)
{
	(void)size;
	return dset_put(ctx, d, -1, NULL);
}

int sv_mirror_pull(const sv_mirror_local *l, const sv_mirror_remote *r, const sv_mirror_pull_options *po,
		   sv_mirror_pull_result *out)
{
	static const sv_mirror_pull_options defaults = SV_MIRROR_PULL_OPTIONS_INIT;
	sv_transport *t = NULL;
	dset remote = {0}, here = {0};
	size_t want = 0, damaged = 0;
	problems p;
	import_state is;
	sv_ledger_remote_options lo;
	int rc, lock = -1;

	memset(out, 0, sizeof(*out));
	memset(&is, 0, sizeof(is));
	if (!po)
		po = &defaults;
	p.cb = &po->cb;
	p.problems = 0;
	if (!r->objects || !r->ledger)
		return sv_error_set(SV_EINVAL, "mirror '%s' needs both an objects and a ledger URL", r->name);
	if (r->s3_endpoint && (rc = check_endpoint(r->s3_endpoint, r)))
		return rc;
	if ((rc = take_lock(l, ".pull", "pulling into this archive", &lock)))
		goto done;
	/* What a pull killed midway left in objects/tmp (its partial downloads stay in tmp/ to resume). */
	sv_objects_clean_temps(l->objects, NULL);
	/* 1. The ledger: the remote had every object it names before it got it. */
	ledger_options(r, &lo);
	if ((rc = sv_ledger_fetch(l->ledger, r->ledger, &lo)))
		goto done;
	/* 2. The objects this archive lacks. */
	if ((rc = open_transport(l, r, 0, &t)) || (rc = list_remote(t, &remote)) ||
	    (rc = sv_objects_foreach(l->objects, 0, collect_here, &here)))
		goto done;
	for (size_t i = 0; i < remote.cap; i++)
		if (remote.slot[i].used && !dset_has(&here, &remote.slot[i].d))
			want++;
	for (size_t i = 0; i < remote.cap; i++) {
		const sv_digest *d = &remote.slot[i].d;
		char rname[SV_OBJECTS_NAME_LEN + 1];
		if (!remote.slot[i].used || dset_has(&here, d))
			continue;
		sv_objects_name(d, rname);
		/* Byte for byte as the remote holds it: its size matches the mirror's, and a clone pushed on is the same copy. */
		fetch_ctx f = {t, rname, NULL, remote.slot[i].size};
		char *partial = NULL, hex[SV_DIGEST_HEX_LEN + 1];
		sv_digest_to_hex(d, hex);
		if (remote.slot[i].size >= (l->multipart_threshold > 0 ? l->multipart_threshold
									: SV_TRANSPORT_MULTIPART_THRESHOLD) &&
		    asprintf(&partial, "%s/mirror-pull.%s.part", l->tmp_dir, hex) < 0) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		f.partial = partial;
		rc = sv_objects_adopt(l->objects, d, fetch_into, &f, NULL);
		/* Kept only for a download cut short: what was got whole has been checked, good or bad. */
		if (partial && (rc == 0 || rc == SV_ECORRUPT || rc == SV_ENOTFOUND))
			unlink(partial);
		free(partial);
		if (rc == SV_ECORRUPT || rc == SV_ENOTFOUND) {
			problem(&p, "%s: damaged on mirror %s, not copied: %s", rname, r->name, sv_error_last());
			damaged++;
		} else if (rc) {
			goto done;
		} else {
			out->downloaded++;
			out->bytes += (uint64_t)remote.slot[i].size;
			if ((rc = dset_put(&here, d, -1, NULL)))
				goto done;
		}
		report_progress(p.cb, out->downloaded + damaged, want, out->bytes);
	}
	/* Objects durable before the records that name them. */
	if (out->downloaded && (rc = sv_objects_sync(l->objects)))
		goto done;
	/* 3. Capture records new to the archive. */
	is.cb = p.cb;
	is.objects = &here;
	is.p = &p;
	is.name = r->name;
	if ((p.cb->known && (rc = p.cb->known(p.cb->ctx, seen_capture, &is.seen))) ||
	    (rc = sv_ledger_records(l->ledger, import_record, &is)))
		goto done;
	out->already = remote.n - want;
	out->added = is.added;
	out->problems = p.problems;
done:
	free(is.seen.slot);
	free(remote.slot);
	free(here.slot);
	sv_transport_free(t);
	if (lock >= 0)
		close(lock);
	return rc;
}
