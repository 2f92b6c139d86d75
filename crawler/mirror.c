/*
 * crawler/mirror.c -- push, verify and pull for offsite mirrors (see mirror.h).
 *
 * Objects are named on the remote as in the local store, so a listing of the
 * remote's sha256/ folder tells what it holds; DIR/mirrors/NAME.have keeps
 * that knowledge between pushes so that a push with nothing new sends no
 * request for objects at all. A missing or stale .have file (another objects
 * URL in its header) is rebuilt from one listing, counting as held only the
 * remote files whose size is that of the local object.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_findDecompressedSize: a pulled object's payload size */
#include "mirror.h"
#include "../cli/cli.h"

#include "../common/error.h"
#include "../common/path.h"
#include "../storage/transport.h"
#include "../storage/verify.h"

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
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zstd.h>

/* Uploads between two appends to the .have file: at most this many files or bytes. */
#define BATCH_FILES 256
#define BATCH_BYTES (64 << 20)
/* Remote temp files older than this were left by pushes that died. */
#define STALE_TEMP_SECS (24 * 3600)
/* Failures named one by one before the rest are only counted. */
#define SHOWN_FAILURES 10
#define HAVE_HEADER "# salvage mirror: objects held by "
/* "sha256/ab/<64 hex>.zst" */
#define REMOTE_NAME_LEN (7 + 3 + SV_DIGEST_HEX_LEN + 4)

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

/* ---------------------------------------------------------------- names and small helpers */

static void remote_name(const sv_digest *d, char name[REMOTE_NAME_LEN + 1])
{
	char hex[SV_DIGEST_HEX_LEN + 1];
	sv_digest_to_hex(d, hex);
	snprintf(name, REMOTE_NAME_LEN + 1, "sha256/%.2s/%s.zst", hex, hex);
}

/* 1 and the digest if name is exactly "sha256/ab/<hex>.zst" as the store names objects. */
static int parse_remote_name(const char *name, sv_digest *d)
{
	char again[REMOTE_NAME_LEN + 1], hex[SV_DIGEST_HEX_LEN + 1];
	if (strlen(name) != REMOTE_NAME_LEN || strncmp(name, "sha256/", 7) != 0)
		return 0;
	memcpy(hex, name + 10, SV_DIGEST_HEX_LEN);
	hex[SV_DIGEST_HEX_LEN] = '\0';
	if (sv_digest_from_hex(d, hex) != 0)
		return 0;
	remote_name(d, again);
	return strcmp(again, name) == 0;
}

static char *local_object(const sv_archive *a, const sv_digest *d)
{
	char rel[REMOTE_NAME_LEN + 16];
	char name[REMOTE_NAME_LEN + 1];
	remote_name(d, name);
	snprintf(rel, sizeof(rel), "objects/%s", name);
	return sv_archive_path(a, rel);
}

static int mkdir_in(const sv_archive *a, const char *rel, char **out)
{
	char *path = sv_archive_path(a, rel);
	if (!path)
		return sv_error_set(SV_EIO, "out of memory");
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		int rc = sv_error_errno(errno, "cannot create '%s'", path);
		free(path);
		return rc;
	}
	if (out)
		*out = path;
	else
		free(path);
	return 0;
}


static double mb(uint64_t bytes)
{
	return (double)bytes / 1e6;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * The archive-wide turn for one mirror (DIR/mirrors/NAME.lock): pushes and
 * pulls of the same mirror, and .have rewrites, never run at once. -1 (with
 * the error set) if another process holds it.
 */
static int take_lock(const sv_archive *a, const char *name, const char *what, int *fd)
{
	char rel[300];
	char *path;
	int rc;
	*fd = -1;
	if ((rc = mkdir_in(a, "mirrors", NULL)))
		return rc;
	snprintf(rel, sizeof(rel), "mirrors/%s.lock", name);
	if (!(path = sv_archive_path(a, rel)))
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

static void transport_options(const sv_archive_remote *r, sv_transport_options *o)
{
	*o = (sv_transport_options)SV_TRANSPORT_OPTIONS_INIT;
	o->s3_endpoint = r->s3_endpoint;
	o->s3_region = r->s3_region;
	o->access_key = getenv("AWS_ACCESS_KEY_ID");
	o->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	o->session_token = getenv("AWS_SESSION_TOKEN");
	o->ssh_key = r->ssh_key;
	o->ssh_known_hosts = r->known_hosts;
}

static void ledger_options(const sv_archive_remote *r, sv_ledger_remote_options *o)
{
	*o = (sv_ledger_remote_options)SV_LEDGER_REMOTE_OPTIONS_INIT;
	o->known_hosts = r->known_hosts;
	o->ssh_key = r->ssh_key;
}

static int open_transport(const sv_archive_remote *r, sv_transport **t)
{
	sv_transport_options o;
	int rc;
	transport_options(r, &o);
	if ((rc = sv_transport_open(t, r->objects, &o)))
		sv_error_prefix("mirror '%s'", r->name);
	return rc;
}

static int load_remote(const sv_archive *a, const char *name, sv_archive_remote **r)
{
	int rc = sv_archive_remote_get(a, name, r);
	if (rc == SV_ENOTFOUND)
		return sv_error_set(SV_EINVAL, "no mirror named '%s' (see 'salvage mirror list')", name);
	if (rc == 0 && (!(*r)->objects || !(*r)->ledger)) {
		rc = sv_error_set(SV_EINVAL, "mirror '%s' needs both remote.%s.objects and remote.%s.ledger in %s", name,
				  name, name, a->conf_path);
		sv_archive_remote_free(*r);
		*r = NULL;
	}
	return rc;
}

/* ---------------------------------------------------------------- what the remote holds */

/* Lists the remote's objects into set, with their sizes. */
static int collect_remote(void *ctx, const char *name, int64_t size)
{
	sv_digest d;
	if (!parse_remote_name(name, &d))
		return 0;
	return dset_put(ctx, &d, size, NULL);
}

static int list_remote(sv_transport *t, dset *set)
{
	return sv_transport_list(t, "sha256", collect_remote, set);
}

/* Every object of the local store, with its file size if sizes is set. */
static int list_local(const sv_archive *a, int sizes, sv_digest **out, int64_t **out_sizes, size_t *n)
{
	char *top = sv_archive_path(a, "objects/sha256");
	DIR *d = NULL;
	struct dirent *e;
	sv_digest *v = NULL;
	int64_t *sz = NULL;
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (out_sizes)
		*out_sizes = NULL;
	if (!top)
		return sv_error_set(SV_EIO, "out of memory");
	if (!(d = opendir(top))) {
		rc = sv_error_errno(errno, "cannot read '%s'", top);
		goto done;
	}
	while (rc == 0 && (errno = 0, e = readdir(d))) {
		if (strlen(e->d_name) != 2 || !isxdigit((unsigned char)e->d_name[0]) ||
		    !isxdigit((unsigned char)e->d_name[1]))
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *sub = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *f;
		if (!sub) {
			rc = sv_error_errno(errno, "cannot read '%s/%s'", top, e->d_name);
			if (fd >= 0)
				close(fd);
			break;
		}
		while (rc == 0 && (errno = 0, f = readdir(sub))) {
			char hex[SV_DIGEST_HEX_LEN + 1];
			sv_digest dg;
			struct stat st;
			if (strlen(f->d_name) != SV_DIGEST_HEX_LEN + 4 || strcmp(f->d_name + SV_DIGEST_HEX_LEN, ".zst") ||
			    strncmp(f->d_name, e->d_name, 2))
				continue;
			memcpy(hex, f->d_name, SV_DIGEST_HEX_LEN);
			hex[SV_DIGEST_HEX_LEN] = '\0';
			if (sv_digest_from_hex(&dg, hex) != 0)
				continue;
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 1024;
				sv_digest *bv = realloc(v, ncap * sizeof(*v));
				int64_t *bs = sizes ? realloc(sz, ncap * sizeof(*sz)) : NULL;
				if (bv)
					v = bv;
				if (bs)
					sz = bs;
				if (!bv || (sizes && !bs)) {
					rc = sv_error_set(SV_EIO, "out of memory");
					break;
				}
				cap = ncap;
			}
			if (sizes) {
				if (fstatat(dirfd(sub), f->d_name, &st, 0) != 0) {
					if (errno == ENOENT)
						continue;
					rc = sv_error_errno(errno, "cannot stat '%s/%s/%s'", top, e->d_name, f->d_name);
					break;
				}
				sz[*n] = (int64_t)st.st_size;
			}
			v[(*n)++] = dg;
		}
		if (rc == 0 && errno)
			rc = sv_error_errno(errno, "cannot read '%s/%s'", top, e->d_name);
		closedir(sub);
	}
	if (rc == 0 && errno)
		rc = sv_error_errno(errno, "cannot read '%s'", top);
done:
	if (d)
		closedir(d);
	free(top);
	if (rc) {
		free(v);
		free(sz);
		*n = 0;
		return rc;
	}
	*out = v;
	if (out_sizes)
		*out_sizes = sz;
	else
		free(sz);
	return 0;
}

/* ---------------------------------------------------------------- DIR/mirrors/NAME.have */

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
 * Reads DIR/mirrors/NAME.have into h->set. *valid = 0 when there is no file,
 * or it was written for another objects URL: then it says nothing.
 * A torn last line (a write cut by a crash) is ignored.
 */
static int have_load(have_file *h, const sv_archive *a, const sv_archive_remote *r, int *valid)
{
	char rel[300], shown[1024];
	struct stat st;
	char *buf = NULL;
	int fd, rc = 0;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	*valid = 0;
	snprintf(rel, sizeof(rel), "mirrors/%s.have", r->name);
	sv_ledger_url_redact(r->objects, shown, sizeof(shown));
	snprintf(h->header, sizeof(h->header), HAVE_HEADER "%s\n", shown);
	if (!(h->path = sv_archive_path(a, rel)))
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
	char *tmp = NULL, *dir = NULL, *slash;
	FILE *f = NULL;
	int rc = 0;

	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
	if (asprintf(&tmp, "%s.new", h->path) < 0 || !(dir = strdup(h->path))) {
		tmp = NULL;
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if (!(f = fopen(tmp, "we"))) {
		rc = sv_error_errno(errno, "cannot create '%s'", tmp);
		goto done;
	}
	fputs(h->header, f);
	for (size_t i = 0; i < h->set.cap; i++)
		if (h->set.slot[i].used && !h->set.slot[i].gone) {
			char hex[SV_DIGEST_HEX_LEN + 1];
			sv_digest_to_hex(&h->set.slot[i].d, hex);
			fprintf(f, "%s\n", hex);
		}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
		goto done;
	}
	if (fclose(f) != 0) {
		f = NULL;
		rc = sv_error_errno(errno, "cannot write '%s'", tmp);
		goto done;
	}
	f = NULL;
	if (rename(tmp, h->path) != 0) {
		rc = sv_error_errno(errno, "cannot rename '%s'", tmp);
		goto done;
	}
	if ((slash = strrchr(dir, '/')))
		*slash = '\0';
	rc = sv_path_fsync_dir(dir);
done:
	if (f) {
		fclose(f);
		unlink(tmp);
	} else if (rc && tmp) {
		unlink(tmp);
	}
	free(tmp);
	free(dir);
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
	if (sv_cli_write_all(h->fd, buf, len) != 0 || fdatasync(h->fd) != 0)
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

static int check_objects_url(const sv_archive_remote *r)
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

static int check_endpoint(const char *endpoint)
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

static int check_ledger_url(sv_archive_remote *r)
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

int sv_mirror_check_remote(sv_archive_remote *r)
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
	if (r->s3_endpoint && (rc = check_endpoint(r->s3_endpoint)))
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

typedef struct {
	const char *url, *ts, *kind;
	char sha256[SV_DIGEST_HEX_LEN + 1]; /* "" if none */
	sv_digest d;
	int status;
	int64_t length, stored; /* -1 if absent */
} record;

/* Parses the fields of a capture record that mirrors need; 0 if it is usable. json is kept for the strings. */
static int parse_record(const char *line, size_t len, json_t **json, record *out)
{
	json_t *j = json_loadb(line, len, 0, NULL), *v;
	memset(out, 0, sizeof(*out));
	*json = j;
	if (!j || !json_is_object(j))
		return -1;
	out->url = json_string_value(json_object_get(j, "url"));
	out->ts = json_string_value(json_object_get(j, "ts"));
	out->kind = json_string_value(json_object_get(j, "kind"));
	out->status = (int)json_integer_value(json_object_get(j, "status"));
	v = json_object_get(j, "length");
	out->length = json_is_integer(v) ? json_integer_value(v) : -1;
	v = json_object_get(j, "stored");
	out->stored = json_is_integer(v) ? json_integer_value(v) : -1;
	v = json_object_get(j, "sha256");
	if (json_is_string(v) && sv_digest_from_hex(&out->d, json_string_value(v)) == 0)
		sv_digest_to_hex(&out->d, out->sha256);
	return out->url && out->ts ? 0 : -1;
}

/* ---------------------------------------------------------------- push */

typedef struct {
	const sv_archive *a;
	const sv_archive_remote *r;
	FILE *out;
	have_file have;
	/* the batch being uploaded */
	sv_digest *digests;
	int64_t *sizes;
	unsigned char *ok;
	/* totals */
	uint64_t uploaded, bytes, failed, total;
	int progress;
	sv_cli_meter meter;
	int first_failure;
} push_state;

static void on_uploaded(void *ctx, size_t i, int code, const char *message)
{
	push_state *s = ctx;
	char name[REMOTE_NAME_LEN + 1];
	s->ok[i] = code == 0;
	if (code == 0) {
		s->uploaded++;
		s->bytes += (uint64_t)s->sizes[i];
	} else {
		if (!s->first_failure)
			s->first_failure = code;
		if (s->failed < SHOWN_FAILURES) {
			remote_name(&s->digests[i], name);
			if (s->progress)
				sv_cli_progress_clear();
			fprintf(stderr, "salvage: cannot upload %s: %s\n", name, message ? message : "failed");
		}
		s->failed++;
	}
	if (s->progress && sv_cli_meter_due(&s->meter)) {
		double t = sv_cli_meter_seconds(&s->meter);
		fprintf(stderr, "\r\033[Kpush %s: %llu of %llu objects, %.1f MB, %.1f MB/s", s->r->name,
			(unsigned long long)(s->uploaded + s->failed), (unsigned long long)s->total, mb(s->bytes),
			t > 0 ? mb(s->bytes) / t : 0.0);
	}
}

/* The push's check before the ledger goes out: every object a new record names is on the remote. */
static int check_named(void *ctx, const char *path, const char *line, size_t len)
{
	push_state *s = ctx;
	json_t *j;
	record rec;
	int rc = 0;
	if (parse_record(line, len, &j, &rec) == 0 && rec.sha256[0] && !dset_has(&s->have.set, &rec.d))
		rc = sv_error_set(SV_ECORRUPT,
				  "the ledger names object %s (%s, in %s), which mirror '%s' does not hold and this archive "
				  "lacks: the ledger was not pushed (see 'salvage verify')",
				  rec.sha256, rec.url, path, s->r->name);
	json_decref(j);
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
	char(*namebuf)[REMOTE_NAME_LEN + 1] = calloc(BATCH_FILES, REMOTE_NAME_LEN + 1);
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
			char *path = local_object(s->a, &todo[next]);
			if (!path) {
				rc = sv_error_set(SV_EIO, "out of memory");
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
			remote_name(&s->digests[k], namebuf[k]);
			names[k] = namebuf[k];
			k++;
		}
		if (rc == 0 && k) {
			uint64_t failed_before = s->failed;
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
			if (rc == 0 && good == 0 && s->failed > failed_before && remote_down(t))
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

int sv_mirror_push(const sv_archive *a, const char *name, const sv_mirror_push_options *po, FILE *out)
{
	static const sv_mirror_push_options defaults = {0};
	sv_archive_remote *r = NULL;
	sv_ledger *l = NULL;
	sv_ledger_tip *tips = NULL;
	sv_transport *t = NULL;
	sv_digest *local = NULL, *todo = NULL;
	int64_t *sizes = NULL;
	size_t ntips = 0, nlocal = 0, ntodo = 0, pushed = 0;
	push_state s;
	sv_ledger_remote_options lo;
	int rc, lock = -1, valid = 0, stopped = 0, status = 0;
	const char *ledger_state = "ledger not pushed";

	memset(&s, 0, sizeof(s));
	s.have.fd = -1;
	if (!po)
		po = &defaults;
	if ((rc = load_remote(a, name, &r)))
		return sv_cli_error(rc);
	s.a = a;
	s.r = r;
	s.out = out;
	s.progress = sv_cli_progress_enabled();
	sv_cli_meter_start(&s.meter);
	if ((rc = take_lock(a, name, "pushing to or checking this mirror", &lock)))
		goto fail;
	/* 1. The tips to publish, before anything else: their objects are all in the store now. */
	if ((rc = sv_archive_ledger(a, &l)) || (rc = sv_ledger_tips(l, &tips, &ntips)))
		goto fail;
	/* 2. The objects, and what the remote holds of them. */
	if ((rc = list_local(a, 0, &local, NULL, &nlocal)) || (rc = have_load(&s.have, a, r, &valid)))
		goto fail;
	if (!valid || po->recheck) {
		free(local);
		local = NULL;
		if ((rc = list_local(a, 1, &local, &sizes, &nlocal)) || (rc = open_transport(r, &t)) ||
		    (rc = recheck(&s, t, local, sizes, nlocal)))
			goto fail;
	}
	if ((rc = have_open_append(&s.have)))
		goto fail;
	if (!(todo = malloc((nlocal ? nlocal : 1) * sizeof(*todo)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < nlocal; i++)
		if (!dset_has(&s.have.set, &local[i]))
			todo[ntodo++] = local[i];
	s.total = ntodo;
	qsort(todo, ntodo, sizeof(*todo), upload_order);
	/* 3. Upload what is missing. */
	if (ntodo) {
		size_t removed = 0;
		if (!t && (rc = open_transport(r, &t)))
			goto fail;
		/* Leftovers of pushes that died long ago; recent ones may belong to a push still running. */
		sv_transport_clean_temps(t, "sha256", STALE_TEMP_SECS, &removed);
		if ((rc = upload(&s, t, todo, ntodo, &stopped)))
			goto fail;
		if (s.progress)
			sv_cli_progress_clear();
	}
	/* 4. The ledger, exactly as snapshotted, once every object is there. */
	if (s.failed == 0) {
		ledger_options(r, &lo);
		rc = sv_ledger_push_tips(l, r->ledger, &lo, tips, ntips, check_named, &s, &pushed);
		if (rc == 0)
			ledger_state = pushed ? "ledger pushed" : ntips ? "ledger up to date" : "ledger empty";
	}
	fprintf(out, "mirror %s: %llu %s uploaded (%.1f MB), %llu already there", name,
		(unsigned long long)s.uploaded, plural(s.uploaded, "object", "objects"), mb(s.bytes),
		(unsigned long long)(nlocal - ntodo));
	if (s.failed)
		fprintf(out, ", %llu failed", (unsigned long long)s.failed);
	if (stopped)
		fprintf(out, ", %llu not tried", (unsigned long long)(ntodo - s.uploaded - s.failed));
	if (rc == 0 && pushed)
		fprintf(out, "; %s (%zu %s)\n", ledger_state, pushed, plural(pushed, "branch", "branches"));
	else
		fprintf(out, "; %s\n", ledger_state);
	fflush(out);
	if (rc) {
		if (s.progress)
			sv_cli_progress_clear();
		status = sv_cli_error(rc);
	} else if (stopped) {
		fprintf(stderr, "salvage: stopped: %s no longer answers; push again to continue\n", sv_transport_url(t));
		status = 3;
	} else if (s.failed) {
		if (s.failed > SHOWN_FAILURES)
			fprintf(stderr, "salvage: ... and %llu more failed uploads\n",
				(unsigned long long)(s.failed - SHOWN_FAILURES));
		fprintf(stderr, "salvage: the ledger was not pushed: %llu %s failed; push again to retry them\n",
			(unsigned long long)s.failed, plural(s.failed, "upload", "uploads"));
		status = s.first_failure == SV_ENOSPC ? 3 : 1;
	}
	goto done;
fail:
	if (s.progress)
		sv_cli_progress_clear();
	status = sv_cli_error(rc);
done:
	have_free(&s.have);
	sv_transport_free(t);
	free(todo);
	free(local);
	free(sizes);
	free(tips);
	sv_ledger_free(l);
	sv_archive_remote_free(r);
	if (lock >= 0)
		close(lock);
	return status;
}

/* ---------------------------------------------------------------- verify */

typedef struct {
	dset named; /* objects named by the ledger; size: "stored" from the record, or -1 */
	uint64_t records;
} named_state;

static int collect_named(void *ctx, const char *path, const char *line, size_t len)
{
	named_state *n = ctx;
	json_t *j;
	record rec;
	int rc = 0;
	(void)path;
	n->records++;
	if (parse_record(line, len, &j, &rec) == 0 && rec.sha256[0]) {
		dslot *e = dset_find(&n->named, &rec.d);
		if (!e)
			rc = dset_put(&n->named, &rec.d, rec.stored, NULL);
	}
	json_decref(j);
	return rc;
}

/* Removes stale temp files of ours in DIR/tmp (prefix, then the pid of a process that is gone). */
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

/* Downloads a remote object to a temp file in DIR/tmp; its path into *path (unlink and free it). */
static int download(const sv_archive *a, sv_transport *t, const sv_digest *d, const char *prefix, char **path,
		    int *fd)
{
	char rel[128], name[REMOTE_NAME_LEN + 1];
	static unsigned counter;
	int rc;
	*fd = -1;
	snprintf(rel, sizeof(rel), "tmp/%s%ld.%u", prefix, (long)getpid(), counter++);
	if (!(*path = sv_archive_path(a, rel)))
		return sv_error_set(SV_EIO, "out of memory");
	if ((*fd = open(*path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = sv_error_errno(errno, "cannot create '%s'", *path);
		free(*path);
		*path = NULL;
		return rc;
	}
	remote_name(d, name);
	if ((rc = sv_transport_get(t, name, *fd)))
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
	FILE *out;
	uint64_t problems;
	int progress;
} problems;

__attribute__((format(printf, 2, 3))) static void problem(problems *p, const char *fmt, ...)
{
	va_list ap;
	if (p->progress)
		sv_cli_progress_clear();
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	fputc('\n', p->out);
	fflush(p->out);
	p->problems++;
}

int sv_mirror_verify(const sv_archive *a, const char *name, int deep, double sample, FILE *out)
{
	sv_archive_remote *r = NULL;
	sv_ledger *l = NULL;
	sv_ledger_tip *tips = NULL;
	sv_transport *t = NULL;
	named_state ns = {{0}, 0};
	dset remote = {0};
	sv_digest *check = NULL;
	int *has = NULL;
	size_t ntips = 0, ncheck = 0, nhashed = 0;
	problems p = {out, 0, sv_cli_progress_enabled()};
	sv_cli_meter meter;
	sv_ledger_remote_options lo;
	char *tmpdir = NULL;
	int rc, status = 0;

	sv_cli_meter_start(&meter);
	if (!(sample >= 0 && sample <= 100))
		return sv_cli_error(sv_error_set(SV_EINVAL, "the sample must be a percentage, 0 to 100"));
	if (deep)
		sample = 100;
	if ((rc = load_remote(a, name, &r)))
		return sv_cli_error(rc);
	/* The tips first: the records read next hold at least everything they do. */
	if ((rc = sv_archive_ledger(a, &l)) || (rc = sv_ledger_tips(l, &tips, &ntips)) ||
	    (rc = sv_ledger_records(l, collect_named, &ns)))
		goto fail;
	if ((rc = open_transport(r, &t)) || (rc = list_remote(t, &remote)))
		goto fail;
	if (!(check = malloc((ns.named.n ? ns.named.n : 1) * sizeof(*check)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto fail;
	}

	/* Sizes: the local object file's, else the record's "stored". */
	for (size_t i = 0; i < ns.named.cap; i++) {
		dslot *e = &ns.named.slot[i];
		char rname[REMOTE_NAME_LEN + 1];
		struct stat st;
		if (!e->used)
			continue;
		remote_name(&e->d, rname);
		char *path = local_object(a, &e->d);
		if (path && stat(path, &st) == 0)
			e->size = (int64_t)st.st_size;
		free(path);
		const dslot *there = dset_find(&remote, &e->d);
		if (!there) {
			problem(&p, "%s: missing on mirror %s", rname, name);
			e->gone = 1;
		} else if (e->size >= 0 && there->size != e->size) {
			problem(&p, "%s: %lld bytes on mirror %s, %lld expected", rname, (long long)there->size, name,
				(long long)e->size);
			e->gone = 1;
		} else {
			check[ncheck++] = e->d;
		}
	}

	/* Re-hash all of them (--deep) or a random sample. */
	double share = (double)ncheck * sample / 100.0;
	size_t want = sample >= 100 ? ncheck : (size_t)share;
	if ((double)want < share)
		want++; /* rounded up: any sample of a non-empty set checks something */
	if (want > ncheck)
		want = ncheck;
	if (want) {
		if (!(tmpdir = sv_archive_path(a, "tmp"))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto fail;
		}
		clean_own_temps(tmpdir, "mirror-verify.");
	}
	for (size_t i = 0; i < want; i++) {
		char rname[REMOTE_NAME_LEN + 1], *path = NULL;
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
		remote_name(&check[i], rname);
		rc = download(a, t, &check[i], "mirror-verify.", &path, &fd);
		if (rc == 0)
			rc = sv_objects_check_path(path, &check[i]);
		drop_download(path, fd);
		nhashed++;
		if (rc == SV_ECORRUPT || rc == SV_ENOTFOUND) {
			problem(&p, "%s: damaged on mirror %s: %s", rname, name, sv_error_last());
			dslot *e = dset_find(&ns.named, &check[i]);
			if (e)
				e->gone = 1;
		} else if (rc) {
			goto fail;
		}
		if (p.progress && sv_cli_meter_due(&meter))
			fprintf(stderr, "\r\033[Kverify %s: re-hashed %zu of %zu objects", name, nhashed, want);
	}
	rc = 0;
	if (p.progress)
		sv_cli_progress_clear();

	/* The remote ledger holds every tip of ours. */
	if (ntips) {
		char shown[1024];
		if (!(has = calloc(ntips, sizeof(*has)))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto fail;
		}
		ledger_options(r, &lo);
		sv_ledger_url_redact(r->ledger, shown, sizeof(shown));
		if ((rc = sv_ledger_remote_contains(l, r->ledger, &lo, tips, ntips, has)))
			goto fail;
		for (size_t i = 0; i < ntips; i++)
			if (!has[i])
				problem(&p, "ledger: branch %s (%.12s) is not on mirror %s (%s)", tips[i].branch,
					tips[i].commit, name, shown);
	}

	/* Forget what was found missing or damaged, so the next push sends it again. */
	{
		have_file h;
		int valid = 0, lock = -1, dropped = 0;
		if (have_load(&h, a, r, &valid) == 0 && valid) {
			for (size_t i = 0; i < ns.named.cap; i++) {
				dslot *e = ns.named.slot[i].used && ns.named.slot[i].gone
						   ? dset_find(&h.set, &ns.named.slot[i].d)
						   : NULL;
				if (e && !e->gone) {
					e->gone = 1;
					dropped++;
				}
			}
			if (dropped && take_lock(a, name, "pushing to or checking this mirror", &lock) == 0)
				have_rewrite(&h);
			else if (dropped)
				fprintf(stderr, "salvage: %s; push again once it is done\n", sv_error_last());
		}
		if (lock >= 0)
			close(lock);
		have_free(&h);
	}

	fprintf(out, "verified mirror %s: %zu %s named by %llu %s (sizes), %zu re-hashed, %zu ledger %s: %s\n", name,
		ns.named.n, plural(ns.named.n, "object", "objects"), (unsigned long long)ns.records,
		plural(ns.records, "record", "records"), nhashed, ntips, plural(ntips, "branch", "branches"),
		p.problems ? "PROBLEMS FOUND" : "all sound");
	if (p.problems)
		fprintf(out, "%llu %s\n", (unsigned long long)p.problems, plural(p.problems, "problem", "problems"));
	fflush(out);
	status = p.problems ? 1 : 0;
	goto done;
fail:
	if (p.progress)
		sv_cli_progress_clear();
	status = sv_cli_error(rc);
done:
	free(tmpdir);
	free(has);
	free(check);
	free(remote.slot);
	free(ns.named.slot);
	sv_transport_free(t);
	free(tips);
	sv_ledger_free(l);
	sv_archive_remote_free(r);
	return status;
}

/* ---------------------------------------------------------------- pull */

/*
 * Stores a downloaded object through the store's writer: decompressed (and so
 * re-hashed) by the reader, compressed again by the writer into a temp file
 * that becomes the object only when the reader has confirmed the payload.
 */
static int store_download(sv_objects *store, const char *path, int fd, const sv_digest *d, uint64_t *payload)
{
	sv_objects_reader *rd = NULL;
	sv_objects_writer *w = NULL;
	sv_objects_commit_info info;
	int64_t hint = -1;
	char *buf = NULL;
	struct stat st;
	sv_digest got;
	int rc;

	/* The content size from the frame headers, when every frame records it. */
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			unsigned long long n = ZSTD_findDecompressedSize(map, (size_t)st.st_size);
			if (n != ZSTD_CONTENTSIZE_UNKNOWN && n != ZSTD_CONTENTSIZE_ERROR && n <= INT64_MAX)
				hint = (int64_t)n;
			munmap(map, (size_t)st.st_size);
		}
	}
	if (!(buf = malloc(1 << 20)))
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = sv_objects_reader_open_path(&rd, path, d)) || (rc = sv_objects_writer_new(&w, store, hint)))
		goto done;
	for (;;) {
		size_t n;
		if ((rc = sv_objects_reader_read(rd, buf, 1 << 20, &n)))
			goto done;
		if (n == 0)
			break;
		if ((rc = sv_objects_writer_write(w, buf, n)))
			goto done;
	}
	rc = sv_objects_writer_commit(w, &got, &info);
	w = NULL;
	if (rc == 0 && memcmp(got.bytes, d->bytes, SV_DIGEST_LEN) != 0)
		rc = sv_error_set(SV_ECORRUPT, "payload does not match its name");
	if (rc == 0)
		*payload = info.length;
done:
	sv_objects_writer_abort(w);
	sv_objects_reader_free(rd);
	free(buf);
	return rc;
}

/*
 * Brings one remote object into the store as the remote holds it, byte for
 * byte (so its size matches the mirror's, and so a clone pushed on is the
 * same copy): downloaded to a locked temp file in objects/tmp/, as the store's
 * writers do, decompressed and re-hashed, its frames checked as verify checks
 * them, then linked under its name (never over an existing object). A sound
 * payload in frames that break the archive's rules (no checksum, say) is
 * written again through the store instead.
 */
static int pull_object(sv_objects *store, sv_transport *t, const char *tmpdir, const char *final, const sv_digest *d)
{
	char tmp[PATH_MAX], name[REMOTE_NAME_LEN + 1];
	struct stat st;
	uint64_t payload;
	int fd = -1, rc, tries = 0;

	remote_name(d, name);
	for (;;) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s/mirror-XXXXXX", tmpdir) >= sizeof(tmp))
			return sv_error_set(SV_EINVAL, "path too long: '%s'", tmpdir);
		if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
			return sv_error_errno(errno, "cannot create a temp file in '%s'", tmpdir);
		if (flock(fd, LOCK_EX) != 0) {
			rc = sv_error_errno(errno, "cannot lock '%s'", tmp);
			goto done;
		}
		/* A cleaner may have taken it for a dead writer's before we locked it. */
		if (fstat(fd, &st) == 0 && st.st_nlink > 0)
			break;
		close(fd);
		if (++tries == 3)
			return sv_error_set(SV_EIO, "temp files in '%s' keep vanishing", tmpdir);
	}
	if ((rc = sv_transport_get(t, name, fd)) || (rc = sv_objects_check_path(tmp, d)))
		goto done;
	if (sv_verify_frames(fd, tmp) != 0) {
		if (lseek(fd, 0, SEEK_SET) != 0)
			rc = sv_error_errno(errno, "cannot read '%s'", tmp);
		else
			rc = store_download(store, tmp, fd, d, &payload);
		goto done;
	}
	if (fchmod(fd, 0444) != 0) {
		rc = sv_error_errno(errno, "cannot chmod '%s'", tmp);
		goto done;
	}
	/* objects/sha256/ab/ */
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", final);
	*strrchr(dir, '/') = '\0';
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		rc = sv_error_errno(errno, "cannot create '%s'", dir);
		goto done;
	}
	if (link(tmp, final) != 0 && errno != EEXIST)
		rc = sv_error_errno(errno, "cannot link '%s' to '%s'", tmp, final);
done:
	unlink(tmp);
	close(fd);
	return rc;
}

/* A capture's identity in the queue: its URL, time, status and payload. */
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

static int collect_capture(void *ctx, const sv_queue_capture_row *row)
{
	sv_digest k;
	capture_key(row->url, row->ts, row->status, row->sha256, &k);
	return dset_put(ctx, &k, 0, NULL);
}

typedef struct {
	sv_queue *q;
	dset seen;            /* captures the queue has */
	const dset *objects;  /* objects the archive now holds */
	problems *p;
	const char *name;
	uint64_t added, bad;
} import_state;

static int import_record(void *ctx, const char *path, const char *line, size_t len)
{
	import_state *s = ctx;
	json_t *j;
	record rec;
	sv_digest k;
	int rc = 0;
	if (parse_record(line, len, &j, &rec) != 0) {
		if (s->bad++ == 0)
			problem(s->p, "%s: a line that is not a capture record", path);
		json_decref(j);
		return 0;
	}
	capture_key(rec.url, rec.ts, rec.status, rec.sha256[0] ? rec.sha256 : NULL, &k);
	if (!dset_has(&s->seen, &k)) {
		sv_queue_capture c = {line, rec.ts, rec.sha256[0] ? rec.sha256 : NULL, rec.length, SV_KIND_PAGE};
		if (rec.kind && sv_kind_parse(rec.kind, &c.kind) != 0)
			c.kind = SV_KIND_PAGE; /* a kind this salvage does not know: listed as a page */
		if ((rc = sv_queue_add_capture(s->q, rec.url, &c, rec.status)) == 0 &&
		    (rc = dset_put(&s->seen, &k, 0, NULL)) == 0)
			s->added++;
	}
	if (rc == 0 && rec.sha256[0] && !dset_has(s->objects, &rec.d)) {
		char rname[REMOTE_NAME_LEN + 1];
		remote_name(&rec.d, rname);
		problem(s->p, "%s: named by the capture of %s at %s, but neither this archive nor mirror %s holds it", rname,
			rec.url, rec.ts, s->name);
	}
	json_decref(j);
	return rc;
}

int sv_mirror_pull(const sv_archive *a, const sv_archive_remote *r, FILE *out)
{
	sv_ledger *l = NULL;
	sv_transport *t = NULL;
	sv_objects *store = NULL;
	sv_queue *q = NULL;
	dset remote = {0}, here = {0};
	sv_digest *local = NULL;
	size_t nlocal = 0, want = 0, fetched = 0, damaged = 0;
	uint64_t bytes = 0;
	problems p = {out, 0, sv_cli_progress_enabled()};
	import_state is;
	sv_ledger_remote_options lo;
	sv_cli_meter meter;
	char *tmpdir = NULL;
	int rc, status = 0, lock = -1;

	memset(&is, 0, sizeof(is));
	sv_cli_meter_start(&meter);
	if (!r->objects || !r->ledger)
		return sv_cli_error(sv_error_set(SV_EINVAL, "mirror '%s' needs both an objects and a ledger URL", r->name));
	if ((rc = take_lock(a, ".pull", "pulling into this archive", &lock)))
		goto fail;
	/* 1. The ledger: the remote had every object it names before it got it. */
	ledger_options(r, &lo);
	if ((rc = sv_archive_ledger(a, &l)) || (rc = sv_ledger_fetch(l, r->ledger, &lo)))
		goto fail;
	/* 2. The objects this archive lacks. */
	if ((rc = open_transport(r, &t)) || (rc = list_remote(t, &remote)) ||
	    (rc = list_local(a, 0, &local, NULL, &nlocal)) || (rc = sv_archive_objects(a, &store)))
		goto fail;
	for (size_t i = 0; i < nlocal; i++)
		if ((rc = dset_put(&here, &local[i], -1, NULL)))
			goto fail;
	for (size_t i = 0; i < remote.cap; i++)
		if (remote.slot[i].used && !dset_has(&here, &remote.slot[i].d))
			want++;
	if (!(tmpdir = sv_archive_path(a, "objects/tmp"))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < remote.cap; i++) {
		const sv_digest *d = &remote.slot[i].d;
		char *final = NULL, rname[REMOTE_NAME_LEN + 1];
		if (!remote.slot[i].used || dset_has(&here, d))
			continue;
		remote_name(d, rname);
		if (!(final = local_object(a, d))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto fail;
		}
		rc = pull_object(store, t, tmpdir, final, d);
		free(final);
		if (rc == SV_ECORRUPT || rc == SV_ENOTFOUND) {
			problem(&p, "%s: damaged on mirror %s, not copied: %s", rname, r->name, sv_error_last());
			damaged++;
		} else if (rc) {
			goto fail;
		} else {
			fetched++;
			bytes += (uint64_t)remote.slot[i].size;
			if ((rc = dset_put(&here, d, -1, NULL)))
				goto fail;
		}
		if (p.progress && sv_cli_meter_due(&meter)) {
			double s = sv_cli_meter_seconds(&meter);
			fprintf(stderr, "\r\033[Kpull %s: %zu of %zu objects, %.1f MB, %.1f MB/s", r->name, fetched + damaged,
				want, mb(bytes), s > 0 ? mb(bytes) / s : 0.0);
		}
	}
	if (p.progress)
		sv_cli_progress_clear();
	/* Objects durable before the records that name them. */
	if (fetched && (rc = sv_objects_sync(store)))
		goto fail;
	/* 3. Capture records new to the queue. */
	if ((rc = sv_archive_queue(a, NULL, &q)))
		goto fail;
	is.q = q;
	is.objects = &here;
	is.p = &p;
	is.name = r->name;
	if ((rc = sv_queue_captures(q, "", collect_capture, &is.seen)) || (rc = sv_ledger_records(l, import_record, &is)))
		goto fail;
	fprintf(out, "pulled from %s: ledger fetched, %zu %s downloaded (%.1f MB), %zu already here, %llu %s added",
		r->name, fetched, plural(fetched, "object", "objects"), mb(bytes), remote.n - want,
		(unsigned long long)is.added, plural(is.added, "capture", "captures"));
	if (p.problems)
		fprintf(out, "; %llu %s\n", (unsigned long long)p.problems, plural(p.problems, "problem", "problems"));
	else
		fputc('\n', out);
	fflush(out);
	status = p.problems ? 1 : 0;
	goto done;
fail:
	if (p.progress)
		sv_cli_progress_clear();
	status = sv_cli_error(rc);
done:
	free(tmpdir);
	free(is.seen.slot);
	free(remote.slot);
	free(here.slot);
	free(local);
	sv_queue_close(q);
	sv_objects_free(store);
	sv_transport_free(t);
	sv_ledger_free(l);
	if (lock >= 0)
		close(lock);
	return status;
}
