/*
 * storage/transport.c -- file, sftp and s3 transports for mirrors (see transport.h).
 *
 * Each kind is a table of operations copied into the handle. sftp and s3 run
 * their requests through one curl multi handle per transport (so connections
 * are reused between calls), at most `limit` at a time, in the shape of
 * curl's 10-at-a-time example.
 *
 * What must stay true: a remote file appears under its name only complete;
 * temp names are unique across processes and machines and carry the time
 * their upload began; nothing read from the network is kept without a bound;
 * no message carries a credential (they all pass through fail()).
 */
#include "transport.h"

#include "../common/error.h"
#include "../common/path.h"
#include "../common/redact.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#define DEFAULT_TRANSFERS 16
/* OpenSSH's default MaxStartups (10:30:100) drops unauthenticated connections beyond 10. */
#define SFTP_MAX_TRANSFERS 8
#define DEFAULT_CONNECT_TIMEOUT_S 30
#define DEFAULT_STALL_TIMEOUT_S 60
/* Temp files: TEMP_PREFIX<time>.<pid>.<counter>.<random hex>.<base name>. */
#define TEMP_PREFIX ".svtmp."
#define TEMP_PREFIX_LEN 7
/* Longest name segment: a temp name adds at most 60 bytes and must fit NAME_MAX (255). */
#define SEGMENT_MAX 180
/* Bounds on what is kept from the network. */
#define ERROR_BODY_MAX (64u * 1024)     /* an S3 error document */
#define S3_LIST_BODY_MAX (16u << 20)    /* one ListObjectsV2 page (at most 1000 keys) */
#define SFTP_LIST_BODY_MAX (256u << 20) /* one folder's long listing */
#define IO_CHUNK (1u << 20)
/* Threads copying one batch to a file mirror at once (fewer if transfers says so). */
#define FILE_WORKERS 4
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct {
	const char *local; /* a file to upload, or NULL for data */
	const void *data;
	size_t len;
	const char *name;
} put_item;

typedef struct {
	int (*stat)(sv_transport *t, const char *name, int64_t *size);
	/* Lists valid names (temps 0) or only temp files (temps 1) under dir. */
	int (*list)(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx);
	/* replace: NAME may exist with other content and must end up with ours. */
	int (*put)(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx);
	/* max < 0: no limit. */
	int (*get)(sv_transport *t, const char *name, int fd, int64_t max);
	int (*remove)(sv_transport *t, const char *const *names, size_t n);
} transport_ops;

struct sv_transport {
	transport_ops ops;
	char *display; /* the URL without credentials */
	/* file */
	char *root;
	/* sftp and s3 */
	CURLM *multi;
	CURL **pool; /* `limit` easy handles, made when first needed */
	size_t limit;
	long connect_timeout_s, stall_timeout_s;
	const char *protocol; /* the one scheme requests may use: "sftp", "http" or "https" */
	char *base_url; /* sftp: the URL (with user) without trailing '/'; s3: ENDPOINT/bucket */
	/* sftp */
	char *qbase; /* the folder as quote commands name it: decoded, relative to home for /~/ */
	char *ssh_key;
	char *known_hosts;
	long ssh_auth;
	/* s3 */
	char *prefix; /* "" or "a/b", no slash at either end */
	char *sigv4;
	char *access_key, *secret_key;
	char *token_header; /* "x-amz-security-token: ..." or NULL */
	/* Strings never to show in a message. */
	char *secrets[4];
};

/* ---- names ------------------------------------------------------------------------- */

static int segment_ok(const char *s, size_t len)
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
static int name_ok(const char *name, int allow_empty)
{
	size_t len = strlen(name);
	if (len == 0)
		return allow_empty;
	if (len > SV_TRANSPORT_NAME_MAX)
		return 0;
	for (const char *p = name;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (!segment_ok(p, n))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

static int check_name(const sv_transport *t, const char *name, int allow_empty)
{
	if (!name_ok(name, allow_empty))
		return sv_error_set(SV_EINVAL, "%s: invalid remote name '%.100s'", t->display, name);
	return 0;
}

static const char *base_of(const char *name)
{
	const char *slash = strrchr(name, '/');
	return slash ? slash + 1 : name;
}

/* 1 if name is a temp file in a valid folder, with the time its upload began. */
static int temp_parse(const char *name, int64_t *began)
{
	const char *base = base_of(name);
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
		if (!name_ok(dir, 0))
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
static char *temp_name(const char *name)
{
	static atomic_uint counter;
	unsigned rnd;
	const char *base = base_of(name);
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
static int fail(const sv_transport *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const sv_transport *t, int code, const char *fmt, ...)
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

static int oom(const sv_transport *t)
{
	return fail(t, SV_EIO, "out of memory");
}

/* ---- file:// ------------------------------------------------------------------------- */

static char *file_path(const sv_transport *t, const char *name)
{
	return *name ? sv_path_dup(t->root, name) : strdup(t->root);
}

static int file_stat(sv_transport *t, const char *name, int64_t *size)
{
	struct stat st;
	char *path = file_path(t, name);
	int rc = 0;
	if (!path)
		return oom(t);
	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			*size = -1;
		else
			rc = fail(t, SV_EIO, "cannot stat '%s': %s", name, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = fail(t, SV_EIO, "'%s' is not a regular file", name);
	} else {
		*size = (int64_t)st.st_size;
	}
	free(path);
	return rc;
}

typedef struct {
	sv_transport *t;
	int temps;
	sv_transport_list_fn fn;
	void *ctx;
} list_state;

/* Passes one listed file on, if it is what the listing is for. */
static int emit(list_state *ls, const char *name, int64_t size)
{
	if (ls->temps ? !temp_parse(name, NULL) : !name_ok(name, 0))
		return 0;
	return ls->fn(ls->ctx, name, size);
}

/* Walks rel (a folder under root, "" for root itself); name holds rel, PATH_MAX long. */
static int file_walk(list_state *ls, char *name, size_t len)
{
	sv_transport *t = ls->t;
	char *path = file_path(t, name);
	DIR *d;
	struct dirent *de;
	int rc = 0;
	if (!path)
		return oom(t);
	d = opendir(path);
	free(path);
	if (!d) {
		if (errno == ENOENT || (errno == ENOTDIR && len > 0))
			return 0;
		return fail(t, SV_EIO, "cannot list '%s': %s", name, strerror(errno));
	}
	while (rc == 0) {
		struct stat st;
		size_t n;
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = fail(t, SV_EIO, "cannot list '%s': %s", name, strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n = strlen(de->d_name);
		if (len + n + 2 > PATH_MAX)
			continue;
		if (len)
			name[len] = '/';
		memcpy(name + len + (len ? 1 : 0), de->d_name, n + 1);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				rc = fail(t, SV_EIO, "cannot stat '%s': %s", name, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (segment_ok(de->d_name, n))
				rc = file_walk(ls, name, len + n + (len ? 1 : 0));
		} else if (S_ISREG(st.st_mode)) {
			rc = emit(ls, name, (int64_t)st.st_size);
		}
		name[len] = '\0';
	}
	closedir(d);
	return rc;
}

static int file_list(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx)
{
	list_state ls = {t, temps, fn, ctx};
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s", dir);
	return file_walk(&ls, name, strlen(name));
}

/* mkdir -p of name's folder under root (root itself must exist). */
static int file_make_parents(sv_transport *t, const char *name)
{
	char rel[SV_TRANSPORT_NAME_MAX + 1];
	snprintf(rel, sizeof(rel), "%s", name);
	for (char *p = strchr(rel, '/'); p; p = strchr(p + 1, '/')) {
		char *path;
		*p = '\0';
		path = file_path(t, rel);
		if (!path)
			return oom(t);
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			int e = errno;
			free(path);
			return fail(t, SV_EIO, "cannot create folder '%s': %s", rel, strerror(e));
		}
		free(path);
		*p = '/';
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
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

/* Copies everything from in to out; -1 with errno, and *which: 0 reading, 1 writing. */
static int copy_fd(int in, int out, int64_t max, int *which, int *too_big)
{
	char *buf = malloc(IO_CHUNK);
	int64_t total = 0;
	int rc = 0;
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		ssize_t r = read(in, buf, IO_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*which = 0;
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		total += r;
		if (max >= 0 && total > max) {
			*too_big = 1;
			rc = -1;
			break;
		}
		if (write_all(out, buf, (size_t)r) != 0) {
			*which = 1;
			rc = -1;
			break;
		}
	}
	free(buf);
	return rc;
}

/*
 * Copies the file in to out whole, in the kernel where it can (copy_file_range:
 * no trip through our memory, and a reflink where the file system shares
 * blocks); -1 with errno and *which as copy_fd.
 */
static int copy_file(int in, int out, int *which)
{
	int too_big = 0;
	for (;;) {
		ssize_t r = copy_file_range(in, NULL, out, NULL, IO_CHUNK, 0);
		if (r > 0)
			continue;
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		/* Not between these two (other file systems, old kernels): copy it ourselves, from where it stopped. */
		if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)
			return copy_fd(in, out, -1, which, &too_big);
		*which = errno == ENOSPC || errno == EDQUOT || errno == EFBIG;
		return -1;
	}
}

/* Uploads one item; its parent folders exist. */
static int file_put_one(sv_transport *t, const put_item *it)
{
	char *tmp_rel = NULL, *tmp = NULL, *final = NULL;
	int in = -1, out = -1, rc = 0, which = 0;

	tmp_rel = temp_name(it->name);
	tmp = tmp_rel ? file_path(t, tmp_rel) : NULL;
	final = file_path(t, it->name);
	if (!tmp || !final) {
		rc = oom(t);
		goto done;
	}
	if (it->local && (in = open(it->local, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = fail(t, SV_EIO, "cannot put '%s': cannot open '%s': %s", it->name, it->local, strerror(errno));
		goto done;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = fail(t, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "cannot put '%s': cannot create '%s': %s", it->name,
			  tmp_rel, strerror(errno));
		goto done;
	}
	if (it->local ? copy_file(in, out, &which) != 0 : write_all(out, it->data, it->len) != 0) {
		int e = errno;
		if (it->local && which == 0)
			rc = fail(t, SV_EIO, "cannot put '%s': cannot read '%s': %s", it->name, it->local, strerror(e));
		else
			rc = fail(t, e == ENOSPC || e == EDQUOT ? SV_ENOSPC : SV_EIO, "cannot put '%s': %s", it->name,
				  strerror(e));
		goto done;
	}
	if (close(out) != 0) {
		out = -1;
		rc = fail(t, SV_EIO, "cannot put '%s': cannot write: %s", it->name, strerror(errno));
		goto done;
	}
	out = -1;
	if (rename(tmp, final) != 0) {
		rc = fail(t, SV_EIO, "cannot put '%s': cannot rename: %s", it->name, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL;
	/* Durable at the end of the batch: one syncfs, not two fsyncs a file. */
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(tmp_rel);
	free(final);
	return rc;
}

/* One batch of file puts, shared by the threads that copy it. */
typedef struct {
	sv_transport *t;
	const put_item *items;
	size_t n;
	atomic_size_t next; /* the next item to take */
	int *rcs;           /* each item's outcome */
	char **msgs;        /* and its message, when it failed */
} file_batch;

static void *file_worker(void *arg)
{
	file_batch *b = arg;
	for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;) {
		if (b->rcs[i]) /* its folder could not be made */
			continue;
		if ((b->rcs[i] = file_put_one(b->t, &b->items[i])) != 0)
			b->msgs[i] = strdup(sv_error_last());
	}
	return NULL;
}

/* 1 if names a and b are in the same folder. */
static int same_folder(const char *a, const char *b)
{
	size_t la = (size_t)(base_of(a) - a);
	return la == (size_t)(base_of(b) - b) && strncmp(a, b, la) == 0;
}

/* Makes each item's parent folders, each folder once; an item whose folder cannot be made fails. */
static void file_make_folders(file_batch *b)
{
	const char **made = calloc(b->n ? b->n : 1, sizeof(*made)); /* without it, each item's are made */
	size_t nmade = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t k = 0;
		while (k < nmade && !same_folder(made[k], b->items[i].name))
			k++;
		if (k < nmade)
			continue;
		if ((b->rcs[i] = file_make_parents(b->t, b->items[i].name)) != 0)
			b->msgs[i] = strdup(sv_error_last());
		else if (made)
			made[nmade++] = b->items[i].name;
	}
	free(made);
}

/*
 * Every file goes to a temp name and is renamed into place, by up to
 * FILE_WORKERS threads at once (the cost is the file system's, per file: a
 * new inode and two names); then one syncfs makes the whole batch durable,
 * and only then is each reported done (the caller remembers what the mirror
 * holds from those reports). rsync-like speed for thousands of small objects,
 * with the same promise as one fsync per file.
 */
static int file_put(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx)
{
	int first = 0, synced = 0;
	const char *first_msg = NULL;
	file_batch b = {t, items, n, 0, calloc(n ? n : 1, sizeof(int)), calloc(n ? n : 1, sizeof(char *))};
	pthread_t threads[FILE_WORKERS - 1];
	size_t nthreads = 0, want = n < t->limit ? n : t->limit;
	(void)replace; /* rename replaces atomically */
	if (!b.rcs || !b.msgs) {
		free(b.rcs);
		free(b.msgs);
		return oom(t);
	}
	file_make_folders(&b);
	/* This thread copies too; a thread that cannot start leaves its share to the others. */
	if (want > FILE_WORKERS)
		want = FILE_WORKERS;
	while (nthreads + 1 < want && pthread_create(&threads[nthreads], NULL, file_worker, &b) == 0)
		nthreads++;
	file_worker(&b);
	for (size_t k = 0; k < nthreads; k++)
		pthread_join(threads[k], NULL);

	int fd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	synced = fd >= 0 && syncfs(fd) == 0;
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (!synced) {
		char why[600];
		snprintf(why, sizeof(why), "cannot sync the mirror folder: %s", strerror(e));
		for (size_t i = 0; i < n; i++)
			if (!b.rcs[i]) {
				b.rcs[i] = SV_EIO;
				b.msgs[i] = strdup(why);
			}
	}
	for (size_t i = 0; i < n; i++) {
		const char *msg = b.rcs[i] ? (b.msgs[i] ? b.msgs[i] : "upload failed") : NULL;
		if (b.rcs[i] && !first) {
			first = b.rcs[i];
			first_msg = msg;
		}
		if (done)
			done(ctx, i, b.rcs[i], msg);
	}
	if (first)
		sv_error_set(first, "%s", first_msg);
	for (size_t i = 0; i < n; i++)
		free(b.msgs[i]);
	free(b.msgs);
	free(b.rcs);
	return first;
}

static int file_get(sv_transport *t, const char *name, int fd, int64_t max)
{
	char *path = file_path(t, name);
	int in, rc = 0, which = 0, too_big = 0;
	if (!path)
		return oom(t);
	in = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (in < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return fail(t, SV_ENOTFOUND, "cannot get '%s': no such file", name);
		return fail(t, SV_EIO, "cannot get '%s': %s", name, strerror(errno));
	}
	if (copy_fd(in, fd, max, &which, &too_big) != 0) {
		int e = errno;
		if (too_big)
			rc = fail(t, SV_EIO, "cannot get '%s': larger than %lld bytes", name, (long long)max);
		else
			rc = fail(t, which && (e == ENOSPC || e == EDQUOT) ? SV_ENOSPC : SV_EIO, "cannot get '%s': %s",
				  name, strerror(e));
	}
	close(in);
	return rc;
}

static int file_remove(sv_transport *t, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *path = file_path(t, names[i]);
		if (!path)
			return oom(t);
		if (unlink(path) != 0 && errno != ENOENT) {
			int e = errno;
			free(path);
			return fail(t, SV_EIO, "cannot remove '%s': %s", names[i], strerror(e));
		}
		free(path);
	}
	return 0;
}

static const transport_ops file_ops = {file_stat, file_list, file_put, file_get, file_remove};

/* ---- curl requests --------------------------------------------------------------------- */

static pthread_once_t libs_once = PTHREAD_ONCE_INIT;
static CURLcode libs_rc;

static void libs_init(void)
{
	libs_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

/* One request: what it sends, where its reply goes, and how it ended. */
typedef struct {
	sv_transport *t;
	size_t index; /* the caller's item */
	char *url;
	char errbuf[CURL_ERROR_SIZE];
	int nobody;
	int create_dirs;
	struct curl_slist *headers, *quote, *postquote;
	/* upload source: a file or memory */
	int upload;
	int in_fd;
	const unsigned char *data;
	int64_t size, sent;
	int read_errno;
	/* reply: into out_fd, or into body (listings, and any HTTP error document) */
	int out_fd;
	int to_body;
	int64_t got, max;
	int write_errno, too_big;
	char *body;
	size_t body_len, body_max;
	/* how it ended */
	int failed;       /* set instead of running: the code, its message already set */
	int host_key_bad; /* an enum curl_khmatch + 1 when the host key was refused */
	CURLcode result;
	long status;    /* HTTP status; 0 for sftp */
	int64_t length; /* Content-Length or the remote file's size; -1 unknown */
	char *tmp;      /* sftp put: the temp name */
} job;

static void job_init(job *j, sv_transport *t)
{
	memset(j, 0, sizeof(*j));
	j->t = t;
	j->in_fd = -1;
	j->out_fd = -1;
	j->max = -1;
	j->body_max = ERROR_BODY_MAX;
	j->length = -1;
}

static void job_clear(job *j)
{
	free(j->url);
	curl_slist_free_all(j->headers);
	curl_slist_free_all(j->quote);
	curl_slist_free_all(j->postquote);
	if (j->in_fd >= 0)
		close(j->in_fd);
	free(j->body);
	free(j->tmp);
	job_init(j, j->t);
}

static int status_ok(const job *j)
{
	return j->status == 0 || (j->status >= 200 && j->status < 300);
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	job *j = ud;
	size_t want = size * nmemb;
	if ((int64_t)want > j->size - j->sent)
		want = (size_t)(j->size - j->sent);
	if (want == 0)
		return 0;
	if (j->data) {
		memcpy(buf, j->data + j->sent, want);
		j->sent += (int64_t)want;
		return want;
	}
	for (;;) {
		ssize_t r = pread(j->in_fd, buf, want, j->sent);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* The file failed or shrank under us: the upload fails, it is never cut short. */
			j->read_errno = r < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		j->sent += r;
		return (size_t)r;
	}
}

static int body_append(job *j, const char *buf, size_t len)
{
	char *nb;
	if (len > j->body_max - j->body_len) {
		j->too_big = 1;
		return -1;
	}
	nb = realloc(j->body, j->body_len + len + 1);
	if (!nb) {
		j->write_errno = ENOMEM;
		return -1;
	}
	j->body = nb;
	memcpy(j->body + j->body_len, buf, len);
	j->body_len += len;
	j->body[j->body_len] = '\0';
	return 0;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *ud)
{
	job *j = ud;
	size_t len = size * nmemb;
	if (j->to_body)
		return body_append(j, buf, len) == 0 ? len : 0;
	if (!status_ok(j)) {
		/* An HTTP error's body is an error document, not the file: keep its start. */
		size_t keep = j->body_max - j->body_len;
		if (keep > len)
			keep = len;
		if (keep)
			body_append(j, buf, keep);
		return len;
	}
	j->got += (int64_t)len;
	if (j->max >= 0 && j->got > j->max) {
		j->too_big = 1;
		return 0;
	}
	if (j->out_fd < 0)
		return len;
	if (write_all(j->out_fd, buf, len) != 0) {
		j->write_errno = errno;
		return 0;
	}
	return len;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *ud)
{
	job *j = ud;
	size_t len = size * nmemb;
	/* Each status line starts a new response (a 100 Continue comes first). */
	if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', len);
		j->status = sp ? strtol(sp + 1, NULL, 10) : 0;
	}
	return len;
}

static int on_host_key(CURL *e, const struct curl_khkey *known, const struct curl_khkey *found, enum curl_khmatch match,
		       void *ud)
{
	job *j = ud;
	(void)e;
	(void)known;
	(void)found;
	if (match == CURLKHMATCH_OK)
		return CURLKHSTAT_FINE;
	j->host_key_bad = (int)match + 1;
	return CURLKHSTAT_REJECT;
}

/* Sets every option of the request j on the (reset) handle e. */
static void job_setup(job *j, CURL *e)
{
	sv_transport *t = j->t;
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)j);
	curl_easy_setopt(e, CURLOPT_URL, j->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, t->protocol);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, t->connect_timeout_s);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, t->stall_timeout_s);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "salvage/" SV_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)j);
	if (j->nobody)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	if (j->upload) {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, (void *)j);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->size);
	}
	if (t->ssh_auth) {
		curl_easy_setopt(e, CURLOPT_SSH_AUTH_TYPES, t->ssh_auth);
		if (t->ssh_key)
			curl_easy_setopt(e, CURLOPT_SSH_PRIVATE_KEYFILE, t->ssh_key);
		curl_easy_setopt(e, CURLOPT_SSH_KNOWNHOSTS, t->known_hosts);
		curl_easy_setopt(e, CURLOPT_SSH_KEYFUNCTION, on_host_key);
		curl_easy_setopt(e, CURLOPT_SSH_KEYDATA, (void *)j);
		if (j->create_dirs)
			curl_easy_setopt(e, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR);
		if (j->quote)
			curl_easy_setopt(e, CURLOPT_QUOTE, j->quote);
		if (j->postquote)
			curl_easy_setopt(e, CURLOPT_POSTQUOTE, j->postquote);
	} else {
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, (void *)j);
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, t->sigv4);
		curl_easy_setopt(e, CURLOPT_USERNAME, t->access_key);
		curl_easy_setopt(e, CURLOPT_PASSWORD, t->secret_key);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers);
	}
}

static int pool_handle(sv_transport *t, size_t k, CURL **out)
{
	if (!t->pool[k] && !(t->pool[k] = curl_easy_init()))
		return oom(t);
	curl_easy_reset(t->pool[k]);
	*out = t->pool[k];
	return 0;
}

static void job_finish(job *j, CURL *e, CURLcode result)
{
	curl_off_t cl = -1;
	j->result = result;
	if (curl_easy_getinfo(e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
		j->length = (int64_t)cl;
}

/* Makes j ready (0), or returns the negative code it failed with (message set). */
typedef int (*prepare_fn)(void *ctx, size_t i, job *j);
/* Called once per item, after its request ended or its prepare failed. */
typedef void (*complete_fn)(void *ctx, job *j);

/*
 * Runs n requests, up to t->limit at once, on the transport's multi handle.
 * Returns 0, or a negative code if the multi handle itself failed (items not
 * yet completed are then completed as failed with that code).
 */
static int run_batch(sv_transport *t, size_t n, prepare_fn prepare, complete_fn complete, void *ctx)
{
	size_t limit = n < t->limit ? n : t->limit, next = 0, running = 0, nfree;
	job *slots = calloc(limit ? limit : 1, sizeof(*slots));
	size_t *free_slots = calloc(limit ? limit : 1, sizeof(*free_slots));
	int rc = 0;

	if (!slots || !free_slots) {
		free(slots);
		free(free_slots);
		return oom(t);
	}
	for (size_t k = 0; k < limit; k++) {
		job_init(&slots[k], t);
		free_slots[k] = limit - 1 - k;
	}
	nfree = limit;
	for (;;) {
		while (next < n && nfree > 0) {
			size_t k = free_slots[--nfree];
			job *j = &slots[k];
			CURL *e = NULL;
			j->index = next++;
			if (rc)
				j->failed = rc;
			else if ((j->failed = prepare(ctx, j->index, j)) == 0 &&
				 (j->failed = pool_handle(t, k, &e)) == 0) {
				job_setup(j, e);
				if (curl_multi_add_handle(t->multi, e) == CURLM_OK) {
					running++;
					continue;
				}
				j->failed = oom(t);
			}
			complete(ctx, j);
			job_clear(j);
			free_slots[nfree++] = k;
		}
		if (running == 0)
			break;

		int still;
		CURLMcode mc = curl_multi_perform(t->multi, &still);
		CURLMsg *m;
		int queued;
		if (mc == CURLM_OK) {
			while ((m = curl_multi_info_read(t->multi, &queued))) {
				CURL *e = m->easy_handle;
				CURLcode result = m->data.result;
				char *priv;
				job *j;
				if (m->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
				j = (job *)(void *)priv;
				job_finish(j, e, result);
				curl_multi_remove_handle(t->multi, e);
				curl_easy_reset(e); /* no pointers into the slot outlive it */
				running--;
				complete(ctx, j);
				job_clear(j);
				free_slots[nfree++] = (size_t)(j - slots);
			}
			if (next < n && nfree > 0)
				continue;
			if (running)
				mc = curl_multi_poll(t->multi, NULL, 0, 1000, NULL);
		}
		if (mc != CURLM_OK) {
			rc = fail(t, SV_EIO, "curl: %s", curl_multi_strerror(mc));
			for (size_t k = 0; k < limit; k++) {
				job *j = &slots[k];
				if (!j->url || !t->pool[k])
					continue;
				curl_multi_remove_handle(t->multi, t->pool[k]);
				curl_easy_reset(t->pool[k]);
				j->failed = rc;
				complete(ctx, j);
				job_clear(j);
			}
			running = 0;
			nfree = limit;
			for (size_t k = 0; k < limit; k++)
				free_slots[k] = k;
		}
	}
	free(slots);
	free(free_slots);
	return rc;
}

typedef struct {
	job *one;
} single;

static int single_prepare(void *ctx, size_t i, job *j)
{
	single *s = ctx;
	sv_transport *t = j->t;
	(void)i;
	/* The batch owns its slot: move the prepared request in, and back out when done. */
	*j = *s->one;
	j->t = t;
	job_init(s->one, t);
	return 0;
}

static void single_complete(void *ctx, job *j)
{
	single *s = ctx;
	*s->one = *j;
	job_init(j, j->t);
}

/* Runs one prepared request; its outcome is in j (which the caller clears). */
static int run_one(sv_transport *t, job *j)
{
	single s = {j};
	return run_batch(t, 1, single_prepare, single_complete, &s);
}

/* ---- replies -------------------------------------------------------------------------- */

/* A reply's XML, parsed without network access, DTDs or entity substitution; NULL if not XML. */
static xmlDocPtr xml_parse(const char *buf, size_t len)
{
	xmlDocPtr doc;
	if (len == 0 || len > INT_MAX || memmem(buf, len, "<!DOCTYPE", 9) || memmem(buf, len, "<!ENTITY", 8))
		return NULL;
	doc = xmlReadMemory(buf, (int)len, "reply.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static xmlNodePtr xml_child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* The text directly inside an element, into buf (cut to fit); "" if none. */
static const char *xml_text(xmlNodePtr n, char *buf, size_t cap)
{
	size_t o = 0;
	buf[0] = '\0';
	for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next) {
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) || !c->content)
			continue;
		for (const xmlChar *p = c->content; *p && o + 1 < cap; p++)
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
	return buf;
}

static void trim_newline(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/*
 * Sets the message for a request that did not succeed ("cannot VERB 'NAME': why")
 * and returns its code. Call only when job_ok(j) is false.
 */
static int job_error(job *j, const char *verb, const char *name)
{
	sv_transport *t = j->t;
	if (j->failed)
		return j->failed;
	if (j->host_key_bad) {
		if (j->host_key_bad - 1 == CURLKHMATCH_MISMATCH)
			return fail(t, SV_EIO,
				    "cannot %s '%s': the server's host key does not match the one in %s "
				    "(refused: this may not be the server you expect)",
				    verb, name, t->known_hosts);
		return fail(t, SV_EIO,
			    "cannot %s '%s': the server's host key is not in %s (refused: add it once you "
			    "have checked its fingerprint)",
			    verb, name, t->known_hosts);
	}
	if (j->read_errno)
		return fail(t, SV_EIO, "cannot %s '%s': cannot read the local file: %s", verb, name,
			    strerror(j->read_errno));
	if (j->write_errno)
		return fail(t, j->write_errno == ENOSPC || j->write_errno == EDQUOT ? SV_ENOSPC : SV_EIO,
			    "cannot %s '%s': %s", verb, name, strerror(j->write_errno));
	if (j->too_big)
		return fail(t, SV_EIO, "cannot %s '%s': the reply is larger than %lld bytes", verb, name,
			    (long long)(j->to_body ? (int64_t)j->body_max : j->max));
	if (j->result != CURLE_OK) {
		trim_newline(j->errbuf);
		return fail(t, j->result == CURLE_REMOTE_FILE_NOT_FOUND ? SV_ENOTFOUND : SV_EIO,
			    "cannot %s '%s': %s%s%s%s", verb, name, curl_easy_strerror(j->result),
			    j->errbuf[0] ? " (" : "", j->errbuf, j->errbuf[0] ? ")" : "");
	}
	/* An HTTP error: S3 explains it in an XML document (except for HEAD). */
	char code[128], msg[512];
	xmlDocPtr doc = j->body ? xml_parse(j->body, j->body_len) : NULL;
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	int rc;
	code[0] = msg[0] = '\0';
	if (root && strcmp((const char *)root->name, "Error") == 0) {
		xml_text(xml_child(root, "Code"), code, sizeof(code));
		xml_text(xml_child(root, "Message"), msg, sizeof(msg));
	}
	xmlFreeDoc(doc);
	if (j->status == 404 && (!code[0] || strcmp(code, "NoSuchKey") == 0))
		return fail(t, SV_ENOTFOUND, "cannot %s '%s': no such file", verb, name);
	if (code[0])
		rc = fail(t, SV_EIO, "cannot %s '%s': HTTP %ld: %s%s%s", verb, name, j->status, code,
			  msg[0] ? ": " : "", msg);
	else if (j->status == 403)
		rc = fail(t, SV_EIO, "cannot %s '%s': HTTP 403 (refused: check the keys, the region and the clock)",
			  verb, name);
	else if (j->status == 301 || j->status == 307)
		rc = fail(t, SV_EIO, "cannot %s '%s': HTTP %ld (the bucket wants another endpoint or region)", verb,
			  name, j->status);
	else
		rc = fail(t, SV_EIO, "cannot %s '%s': HTTP %ld", verb, name, j->status);
	return rc;
}

static int job_ok(const job *j)
{
	return !j->failed && j->result == CURLE_OK && status_ok(j);
}

/* ---- sftp:// -------------------------------------------------------------------------- */

static char *remote_url(const sv_transport *t, const char *name, int folder)
{
	char *url;
	const char *sep = t->prefix && *t->prefix ? "/" : "";
	if (asprintf(&url, "%s/%s%s%s%s", t->base_url, t->prefix ? t->prefix : "", *name ? sep : "", name,
		     folder && *name ? "/" : "") < 0)
		return NULL;
	return url;
}

/* NAME as a quote command argument: the folder's path and the name, in double quotes. */
static char *sftp_qpath(const sv_transport *t, const char *name)
{
	size_t n = strlen(t->qbase), m = strlen(name);
	char *out = malloc(2 * n + m + 5), *o = out;
	if (!out)
		return NULL;
	*o++ = '"';
	for (const char *p = t->qbase; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	if (*name) {
		if (o[-1] != '/')
			*o++ = '/';
		memcpy(o, name, m);
		o += m;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

/* Appends "CMD A [B]" to *list. */
static int add_quote(const sv_transport *t, struct curl_slist **list, const char *cmd, const char *a, const char *b)
{
	char *pa = sftp_qpath(t, a), *pb = b ? sftp_qpath(t, b) : NULL, *line = NULL;
	struct curl_slist *nl = NULL;
	if (pa && (!b || pb) && asprintf(&line, "%s %s%s%s", cmd, pa, pb ? " " : "", pb ? pb : "") >= 0)
		nl = curl_slist_append(*list, line);
	free(pa);
	free(pb);
	free(line);
	if (!nl)
		return oom(t);
	*list = nl;
	return 0;
}

/* Parses one line of a long (ls -l style) SFTP listing: type, size and name. */
static int parse_long_entry(char *line, char *type, int64_t *size, const char **name)
{
	char *p = line, *end;
	*type = line[0];
	/* mode, links, owner, group, size, month, day, time or year, then the name */
	for (int field = 0; field < 8; field++) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		if (field == 3) {
			errno = 0;
			long long v = strtoll(p, &end, 10);
			if (errno || end == p || *end != ' ' || v < 0)
				return -1;
			*size = v;
		}
	}
	*name = p;
	return 0;
}

/*
 * The size of name from its folder's listing. curl reports an empty file's
 * size as unknown, so this is how an empty file is told from a size the
 * server kept to itself.
 */
static int sftp_stat_listed(sv_transport *t, const char *name, int64_t *size)
{
	const char *base = base_of(name);
	char dir[SV_TRANSPORT_NAME_MAX + 1];
	job j;
	int rc;
	snprintf(dir, sizeof(dir), "%.*s", base > name ? (int)(base - name - 1) : 0, name);
	job_init(&j, t);
	j.to_body = 1;
	j.body_max = SFTP_LIST_BODY_MAX;
	if (!(j.url = remote_url(t, dir, 1)))
		return oom(t);
	*size = -1;
	if ((rc = run_one(t, &j)) == 0 && !job_ok(&j))
		rc = job_error(&j, "stat", name);
	for (char *line = j.body, *nl; !rc && line && *line; line = nl ? nl + 1 : NULL) {
		char type;
		int64_t n = -1;
		const char *entry;
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		trim_newline(line);
		if (parse_long_entry(line, &type, &n, &entry) != 0 || strcmp(entry, base) != 0)
			continue;
		if (type != '-')
			rc = fail(t, SV_EIO, "cannot stat '%s': not a regular file", name);
		*size = n;
	}
	job_clear(&j);
	if (rc == SV_ENOTFOUND)
		rc = 0;
	return rc;
}

static int sftp_stat(sv_transport *t, const char *name, int64_t *size)
{
	job j;
	int rc;
	job_init(&j, t);
	j.nobody = 1;
	if (!(j.url = remote_url(t, name, 0)))
		return oom(t);
	if ((rc = run_one(t, &j)) == 0) {
		if (job_ok(&j) && j.length >= 0)
			*size = j.length;
		else if (job_ok(&j))
			rc = sftp_stat_listed(t, name, size);
		else if ((rc = job_error(&j, "stat", name)) == SV_ENOTFOUND)
			*size = -1, rc = 0;
	}
	job_clear(&j);
	return rc;
}

static int net_get(sv_transport *t, const char *name, int fd, int64_t max)
{
	job j;
	int rc;
	job_init(&j, t);
	j.out_fd = fd;
	j.max = max;
	if (t->token_header || t->sigv4)
		j.headers = curl_slist_append(NULL, "x-amz-content-sha256: " EMPTY_SHA256);
	if (!(j.url = remote_url(t, name, 0)) || (t->sigv4 && !j.headers) ||
	    (t->token_header && !curl_slist_append(j.headers, t->token_header))) {
		job_clear(&j);
		return oom(t);
	}
	if ((rc = run_one(t, &j)) == 0 && !job_ok(&j)) {
		rc = job_error(&j, "get", name);
		if (rc == SV_ENOTFOUND)
			rc = fail(t, SV_ENOTFOUND, "cannot get '%s': no such file", name);
	}
	job_clear(&j);
	return rc;
}

typedef struct {
	list_state *ls;
	char **dirs; /* this round's folders */
	char **next; /* the next round's */
	size_t nnext, capnext;
	int rc;
	int stop; /* the caller's callback asked to stop */
} sftp_list_state;

static int sftp_list_prepare(void *ctx, size_t i, job *j)
{
	sftp_list_state *s = ctx;
	j->to_body = 1;
	j->body_max = SFTP_LIST_BODY_MAX;
	if (!(j->url = remote_url(j->t, s->dirs[i], 1)))
		return oom(j->t);
	return 0;
}

static int sftp_list_add(sftp_list_state *s, const char *dir, const char *base)
{
	char *child;
	if (s->nnext == s->capnext) {
		size_t cap = s->capnext ? 2 * s->capnext : 64;
		char **nd = realloc(s->next, cap * sizeof(*nd));
		if (!nd)
			return oom(s->ls->t);
		s->next = nd;
		s->capnext = cap;
	}
	if (asprintf(&child, "%s%s%s", dir, *dir ? "/" : "", base) < 0)
		return oom(s->ls->t);
	s->next[s->nnext++] = child;
	return 0;
}

static void sftp_list_complete(void *ctx, job *j)
{
	sftp_list_state *s = ctx;
	const char *dir = s->dirs[j->index];
	char rel[SV_TRANSPORT_NAME_MAX + 256];
	if (s->rc || s->stop)
		return;
	if (!job_ok(j)) {
		/* A folder that is not there (or went away) holds nothing. */
		if (j->result != CURLE_REMOTE_FILE_NOT_FOUND || j->failed || j->host_key_bad)
			s->rc = job_error(j, "list", *dir ? dir : ".");
		return;
	}
	for (char *line = j->body, *nl; line && *line && !s->rc && !s->stop; line = nl ? nl + 1 : NULL) {
		char type;
		int64_t size = -1;
		const char *base;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		trim_newline(line);
		if (!*line)
			continue;
		if (parse_long_entry(line, &type, &size, &base) != 0) {
			s->rc = fail(j->t, SV_EIO, "cannot list '%s': unexpected listing line '%.80s'",
				     *dir ? dir : ".", line);
			return;
		}
		if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			continue;
		if (type == 'd') {
			if (segment_ok(base, strlen(base)))
				s->rc = sftp_list_add(s, dir, base);
		} else if (type == '-') {
			if (snprintf(rel, sizeof(rel), "%s%s%s", dir, *dir ? "/" : "", base) >= (int)sizeof(rel))
				continue;
			int r = emit(s->ls, rel, size);
			if (r) {
				s->rc = r;
				s->stop = 1;
			}
		}
	}
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Lists folder by folder, each round's folders at once. */
static int sftp_list(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx)
{
	list_state ls = {t, temps, fn, ctx};
	sftp_list_state s = {&ls, NULL, NULL, 0, 0, 0, 0};
	size_t ndirs = 1;
	int rc;
	s.dirs = malloc(sizeof(*s.dirs));
	if (!s.dirs || !(s.dirs[0] = strdup(dir))) {
		free(s.dirs);
		return oom(t);
	}
	while (ndirs > 0) {
		rc = run_batch(t, ndirs, sftp_list_prepare, sftp_list_complete, &s);
		if (rc && !s.rc)
			s.rc = rc;
		free_strings(s.dirs, ndirs);
		s.dirs = s.next;
		ndirs = s.nnext;
		s.next = NULL;
		s.nnext = s.capnext = 0;
		if (s.rc)
			break;
	}
	free_strings(s.dirs, s.rc ? ndirs : 0);
	return s.rc;
}

typedef struct {
	sv_transport *t;
	const put_item *items;
	int replace;
	sv_transport_done_fn done;
	void *ctx;
	int first;       /* the first failure's code */
	char *first_msg; /* and its message */
	size_t *recheck; /* sftp: items whose rename found the name taken */
	size_t nrecheck;
	char **recheck_tmp; /* and their temp names */
} put_state;

static void put_report(put_state *s, size_t i, int rc)
{
	if (rc && !s->first) {
		s->first = rc;
		s->first_msg = strdup(sv_error_last());
	}
	if (s->done)
		s->done(s->ctx, i, rc, rc ? sv_error_last() : NULL);
}

/* Opens the upload source of item i and, for s3, computes its SHA-256 into hex. */
static int put_source(sv_transport *t, const put_item *it, job *j, char *hex)
{
	struct stat st;
	j->upload = 1;
	if (!it->local) {
		j->data = it->data;
		j->size = (int64_t)it->len;
	} else {
		if ((j->in_fd = open(it->local, O_RDONLY | O_CLOEXEC)) < 0 || fstat(j->in_fd, &st) != 0)
			return fail(t, SV_EIO, "cannot put '%s': cannot open '%s': %s", it->name, it->local,
				    strerror(errno));
		if (!S_ISREG(st.st_mode))
			return fail(t, SV_EIO, "cannot put '%s': '%s' is not a regular file", it->name, it->local);
		j->size = (int64_t)st.st_size;
	}
	if (!hex)
		return 0;

	/* S3 checks the body against this: the copy is verified as it lands. */
	unsigned char md[EVP_MAX_MD_SIZE], *buf = NULL;
	unsigned mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = 0;
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
		rc = oom(t);
		goto done;
	}
	if (j->data) {
		EVP_DigestUpdate(c, j->data, (size_t)j->size);
	} else {
		int64_t off = 0;
		if (!(buf = malloc(IO_CHUNK))) {
			rc = oom(t);
			goto done;
		}
		while (off < j->size) {
			ssize_t r = pread(j->in_fd, buf, IO_CHUNK, off);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				rc = fail(t, SV_EIO, "cannot put '%s': cannot read '%s': %s", it->name, it->local,
					  r < 0 ? strerror(errno) : "the file shrank");
				goto done;
			}
			EVP_DigestUpdate(c, buf, (size_t)r);
			off += r;
		}
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	for (unsigned k = 0; k < mdlen; k++)
		sprintf(hex + 2 * k, "%02x", md[k]);
done:
	EVP_MD_CTX_free(c);
	free(buf);
	return rc;
}

static int sftp_put_prepare(void *ctx, size_t i, job *j)
{
	put_state *s = ctx;
	sv_transport *t = s->t;
	const put_item *it = &s->items[i];
	int rc;
	if ((rc = put_source(t, it, j, NULL)) != 0)
		return rc;
	if (!(j->tmp = temp_name(it->name)) || !(j->url = remote_url(t, j->tmp, 0)))
		return oom(t);
	j->create_dirs = 1;
	/* SFTP's rename will not replace a file: a replacing put removes it first. */
	if (s->replace && (rc = add_quote(t, &j->postquote, "*rm", it->name, NULL)) != 0)
		return rc;
	return add_quote(t, &j->postquote, "rename", j->tmp, it->name);
}

static void sftp_put_complete(void *ctx, job *j)
{
	put_state *s = ctx;
	if (!s->replace && j->result == CURLE_QUOTE_ERROR && !j->failed && !j->host_key_bad) {
		/* The upload worked but the rename did not: most likely the name is taken already. */
		s->recheck[s->nrecheck] = j->index;
		s->recheck_tmp[s->nrecheck++] = j->tmp;
		j->tmp = NULL;
		return;
	}
	put_report(s, j->index, job_ok(j) ? 0 : job_error(j, "put", s->items[j->index].name));
}

static int sftp_recheck_prepare(void *ctx, size_t i, job *j)
{
	put_state *s = ctx;
	/* Remove the temp file, then look at what holds the name. */
	j->nobody = 1;
	if (!(j->url = remote_url(s->t, s->items[s->recheck[i]].name, 0)))
		return oom(s->t);
	return add_quote(s->t, &j->quote, "*rm", s->recheck_tmp[i], NULL);
}

static void sftp_recheck_complete(void *ctx, job *j)
{
	put_state *s = ctx;
	size_t i = s->recheck[j->index];
	int rc = 0;
	if (!job_ok(j)) {
		rc = job_error(j, "put", s->items[i].name);
		if (rc == SV_ENOTFOUND)
			rc = fail(s->t, SV_EIO, "cannot put '%s': cannot rename '%s' to it", s->items[i].name,
				  s->recheck_tmp[j->index]);
	}
	put_report(s, i, rc);
}

static int put_finish(put_state *s, int rc)
{
	if (!rc && s->first)
		rc = s->first;
	if (rc && s->first_msg)
		sv_error_set(rc, "%s", s->first_msg);
	free(s->first_msg);
	return rc;
}

static int sftp_put(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx)
{
	put_state s = {t, items, replace, done, ctx, 0, NULL, NULL, 0, NULL};
	int rc;
	s.recheck = malloc((n ? n : 1) * sizeof(*s.recheck));
	s.recheck_tmp = malloc((n ? n : 1) * sizeof(*s.recheck_tmp));
	if (!s.recheck || !s.recheck_tmp) {
		free(s.recheck);
		free(s.recheck_tmp);
		return oom(t);
	}
	rc = run_batch(t, n, sftp_put_prepare, sftp_put_complete, &s);
	if (rc == 0 && s.nrecheck)
		rc = run_batch(t, s.nrecheck, sftp_recheck_prepare, sftp_recheck_complete, &s);
	free_strings(s.recheck_tmp, s.nrecheck);
	free(s.recheck);
	return put_finish(&s, rc);
}

static int sftp_remove(sv_transport *t, const char *const *names, size_t n)
{
	/* One request per 256 names: quote commands run before an empty transfer of the folder. */
	for (size_t at = 0; at < n; at += 256) {
		job j;
		int rc = 0;
		job_init(&j, t);
		j.nobody = 1;
		if (!(j.url = remote_url(t, "", 1)))
			rc = oom(t);
		for (size_t i = at; i < n && i < at + 256 && !rc; i++)
			rc = add_quote(t, &j.quote, "*rm", names[i], NULL);
		if (!rc && (rc = run_one(t, &j)) == 0 && !job_ok(&j))
			rc = job_error(&j, "remove", names[at]);
		job_clear(&j);
		if (rc)
			return rc;
	}
	return 0;
}

static const transport_ops sftp_ops = {sftp_stat, sftp_list, sftp_put, net_get, sftp_remove};

/* ---- s3:// ---------------------------------------------------------------------------- */

static int s3_headers(sv_transport *t, job *j, const char *sha_hex)
{
	char line[128];
	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha_hex);
	if (!(j->headers = curl_slist_append(NULL, line)))
		return oom(t);
	if (t->token_header && !curl_slist_append(j->headers, t->token_header))
		return oom(t);
	return 0;
}

static int s3_stat(sv_transport *t, const char *name, int64_t *size)
{
	job j;
	int rc;
	job_init(&j, t);
	j.nobody = 1;
	if ((rc = s3_headers(t, &j, EMPTY_SHA256)) != 0 || !(j.url = remote_url(t, name, 0))) {
		job_clear(&j);
		return rc ? rc : oom(t);
	}
	if ((rc = run_one(t, &j)) == 0) {
		if (job_ok(&j) && j.length >= 0)
			*size = j.length;
		else if (job_ok(&j))
			rc = fail(t, SV_EIO, "cannot stat '%s': the server did not give its size", name);
		else if ((rc = job_error(&j, "stat", name)) == SV_ENOTFOUND)
			*size = -1, rc = 0;
	}
	job_clear(&j);
	return rc;
}

/* Percent-encodes s as SigV4 wants query values: all but A-Z a-z 0-9 - _ . ~ */
static char *query_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		    *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

/* Handles one ListObjectsV2 page; *token becomes the next page's token, or NULL. */
static int s3_list_page(list_state *ls, const char *key_prefix, const job *j, char **token)
{
	sv_transport *t = ls->t;
	xmlDocPtr doc = xml_parse(j->body, j->body_len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	size_t plen = strlen(t->prefix);
	char truncated[16], key[SV_TRANSPORT_NAME_MAX + 512], num[32], next[2048];
	int rc = 0;
	*token = NULL;
	if (!root || strcmp((const char *)root->name, "ListBucketResult") != 0) {
		xmlFreeDoc(doc);
		return fail(t, SV_EIO, "cannot list '%s': the reply is not a bucket listing", key_prefix);
	}
	for (xmlNodePtr c = root->children; c && !rc; c = c->next) {
		char *end;
		long long size;
		if (c->type != XML_ELEMENT_NODE || strcmp((const char *)c->name, "Contents") != 0)
			continue;
		xml_text(xml_child(c, "Key"), key, sizeof(key));
		xml_text(xml_child(c, "Size"), num, sizeof(num));
		errno = 0;
		size = strtoll(num, &end, 10);
		if (errno || end == num || *end || size < 0) {
			rc = fail(t, SV_EIO, "cannot list '%s': bad size for '%.200s'", key_prefix, key);
			break;
		}
		if (plen && (strncmp(key, t->prefix, plen) != 0 || key[plen] != '/'))
			continue;
		rc = emit(ls, key + (plen ? plen + 1 : 0), (int64_t)size);
	}
	if (!rc && strcmp(xml_text(xml_child(root, "IsTruncated"), truncated, sizeof(truncated)), "true") == 0) {
		xml_text(xml_child(root, "NextContinuationToken"), next, sizeof(next));
		if (!next[0] || strlen(next) + 1 >= sizeof(next))
			rc = fail(t, SV_EIO,
				  "cannot list '%s': a truncated listing without a usable continuation token",
				  key_prefix);
		else if (!(*token = strdup(next)))
			rc = oom(t);
	}
	xmlFreeDoc(doc);
	return rc;
}

static int s3_list(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx)
{
	list_state ls = {t, temps, fn, ctx};
	char *key_prefix = NULL, *enc_prefix = NULL, *token = NULL;
	int rc = 0;
	if (asprintf(&key_prefix, "%s%s%s%s", t->prefix, *t->prefix && *dir ? "/" : "", dir,
		     *t->prefix || *dir ? "/" : "") < 0)
		return oom(t);
	if (!(enc_prefix = query_encode(key_prefix))) {
		free(key_prefix);
		return oom(t);
	}
	do {
		job j;
		char *enc_token = token ? query_encode(token) : NULL;
		job_init(&j, t);
		j.to_body = 1;
		j.body_max = S3_LIST_BODY_MAX;
		/* SigV4 signs the query as sent, and curl 7.88 does not sort it: keep it sorted and encoded. */
		if ((token && !enc_token) ||
		    asprintf(&j.url, "%s?%s%s%slist-type=2&prefix=%s", t->base_url, token ? "continuation-token=" : "",
			     token ? enc_token : "", token ? "&" : "", enc_prefix) < 0) {
			j.url = NULL;
			rc = oom(t);
		}
		free(enc_token);
		free(token);
		token = NULL;
		if (!rc)
			rc = s3_headers(t, &j, EMPTY_SHA256);
		if (!rc)
			rc = run_one(t, &j);
		if (!rc && !job_ok(&j))
			rc = job_error(&j, "list", *dir ? dir : ".");
		if (!rc)
			rc = s3_list_page(&ls, key_prefix, &j, &token);
		job_clear(&j);
	} while (!rc && token);
	free(token);
	free(key_prefix);
	free(enc_prefix);
	return rc;
}

static int s3_put_prepare(void *ctx, size_t i, job *j)
{
	put_state *s = ctx;
	sv_transport *t = s->t;
	const put_item *it = &s->items[i];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	int rc;
	/* curl 7.88 signs uploads as if their body were empty unless told the hash: tell it. */
	if ((rc = put_source(t, it, j, hex)) != 0 || (rc = s3_headers(t, j, hex)) != 0)
		return rc;
	if (!(j->url = remote_url(t, it->name, 0)))
		return oom(t);
	return 0;
}

static void s3_put_complete(void *ctx, job *j)
{
	put_state *s = ctx;
	put_report(s, j->index, job_ok(j) ? 0 : job_error(j, "put", s->items[j->index].name));
}

static int s3_put(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx)
{
	put_state s = {t, items, replace, done, ctx, 0, NULL, NULL, 0, NULL};
	return put_finish(&s, run_batch(t, n, s3_put_prepare, s3_put_complete, &s));
}

static const transport_ops s3_ops = {s3_stat, s3_list, s3_put, net_get, NULL};

/* ---- opening ----------------------------------------------------------------------------- */

static char *url_part(CURLU *u, CURLUPart part, unsigned flags)
{
	char *v = NULL, *copy;
	if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
		return NULL;
	copy = strdup(v);
	curl_free(v);
	return copy;
}

static void strip_trailing_slashes(char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

static int open_file(sv_transport *t, CURLU *u)
{
	char *host = url_part(u, CURLUPART_HOST, 0);
	struct stat st;
	int rc = 0;
	if (host && *host && strcmp(host, "localhost") != 0)
		rc = fail(t, SV_EINVAL, "a file URL names a folder on this machine (file:///path)");
	free(host);
	if (rc)
		return rc;
	if (!(t->root = url_part(u, CURLUPART_PATH, CURLU_URLDECODE)))
		return oom(t);
	strip_trailing_slashes(t->root);
	if (t->root[0] != '/')
		return fail(t, SV_EINVAL, "a file URL needs an absolute path");
	/* The folder must exist: a mirror on a disk that is not mounted must not fill the parent. */
	if (stat(t->root, &st) != 0)
		return fail(t, SV_EIO, "cannot open: %s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return fail(t, SV_EINVAL, "not a folder");
	t->ops = file_ops;
	return 0;
}

static char *home_file(const char *rel)
{
	const char *home = getenv("HOME");
	return home && *home ? sv_path_dup(home, rel) : NULL;
}

static int open_sftp(sv_transport *t, CURLU *u, const sv_transport_options *o)
{
	char *user = url_part(u, CURLUPART_USER, 0);
	char *path = url_part(u, CURLUPART_PATH, CURLU_URLDECODE);
	int rc = 0;
	t->secrets[0] = url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
	t->secrets[1] = url_part(u, CURLUPART_PASSWORD, 0);
	if (!user || !*user)
		rc = fail(t, SV_EINVAL, "an sftp URL needs a user name (sftp://user@host/path)");
	else if (!path || path[0] != '/')
		rc = fail(t, SV_EINVAL, "an sftp URL needs a path");
	free(user);
	if (rc) {
		free(path);
		return rc;
	}
	strip_trailing_slashes(path);
	/* Quote commands run in the user's home: /~/x is x there. */
	if (strcmp(path, "/~") == 0)
		t->qbase = strdup(".");
	else if (strncmp(path, "/~/", 3) == 0)
		t->qbase = strdup(path + 3);
	else
		t->qbase = strdup(path);
	free(path);
	if (!t->qbase)
		return oom(t);

	if (!(t->base_url = url_part(u, CURLUPART_URL, 0)))
		return oom(t);
	strip_trailing_slashes(t->base_url);

	t->known_hosts = o->ssh_known_hosts ? strdup(o->ssh_known_hosts) : home_file(".ssh/known_hosts");
	if (!t->known_hosts)
		return fail(t, SV_EINVAL, "no known_hosts file (HOME is not set)");
	if (access(t->known_hosts, R_OK) != 0)
		return fail(t, SV_EINVAL, "cannot read the known_hosts file '%s': %s", t->known_hosts, strerror(errno));

	t->ssh_auth = CURLSSH_AUTH_PUBLICKEY | CURLSSH_AUTH_AGENT;
	if (t->secrets[0] && *t->secrets[0])
		t->ssh_auth |= CURLSSH_AUTH_PASSWORD;
	if (o->ssh_key) {
		if (!(t->ssh_key = strdup(o->ssh_key)))
			return oom(t);
		if (access(t->ssh_key, R_OK) != 0)
			return fail(t, SV_EINVAL, "cannot read the ssh key '%s': %s", t->ssh_key, strerror(errno));
	} else {
		static const char *const defaults[] = {".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"};
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]) && !t->ssh_key; i++) {
			char *k = home_file(defaults[i]);
			if (k && access(k, R_OK) == 0)
				t->ssh_key = k;
			else
				free(k);
		}
	}
	t->limit = t->limit < SFTP_MAX_TRANSFERS ? t->limit : SFTP_MAX_TRANSFERS;
	t->protocol = "sftp";
	t->ops = sftp_ops;
	return 0;
}

static int all_chars(const char *s, const char *allowed)
{
	return *s && strspn(s, allowed) == strlen(s);
}

static int open_s3(sv_transport *t, CURLU *u, const sv_transport_options *o)
{
	char *bucket = url_part(u, CURLUPART_HOST, 0);
	char *path = url_part(u, CURLUPART_PATH, CURLU_URLDECODE);
	char *user = url_part(u, CURLUPART_USER, 0), *port = url_part(u, CURLUPART_PORT, 0);
	const char *region = o->s3_region && *o->s3_region ? o->s3_region : "us-east-1";
	CURLU *eu = NULL;
	char *ep = NULL, *scheme = NULL, *query = NULL;
	int rc = 0;

	if (user || port)
		rc = fail(t, SV_EINVAL, "an s3 URL is s3://bucket/prefix, with no user or port");
	else if (!bucket || strlen(bucket) < 3 || strlen(bucket) > 63 ||
		 !all_chars(bucket, "abcdefghijklmnopqrstuvwxyz0123456789.-"))
		rc = fail(t, SV_EINVAL, "invalid bucket name");
	else if (!path)
		rc = oom(t);
	free(user);
	free(port);
	if (rc)
		goto done;
	{
		const char *p = path;
		while (*p == '/')
			p++;
		if (!(t->prefix = strdup(p))) {
			rc = oom(t);
			goto done;
		}
		strip_trailing_slashes(t->prefix);
		if (!name_ok(t->prefix, 1)) {
			rc = fail(t, SV_EINVAL, "invalid prefix (segments of A-Z a-z 0-9 . _ -)");
			goto done;
		}
	}

	if (!o->s3_endpoint || !*o->s3_endpoint) {
		rc = fail(t, SV_EINVAL, "no S3 endpoint given");
		goto done;
	}
	if (!all_chars(region, "abcdefghijklmnopqrstuvwxyz0123456789-")) {
		rc = fail(t, SV_EINVAL, "invalid S3 region '%s'", region);
		goto done;
	}
	if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key) {
		rc = fail(t, SV_EINVAL, "no S3 keys given (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
		goto done;
	}
	if (!(eu = curl_url())) {
		rc = oom(t);
		goto done;
	}
	if (curl_url_set(eu, CURLUPART_URL, o->s3_endpoint, 0) != CURLUE_OK ||
	    !(scheme = url_part(eu, CURLUPART_SCHEME, 0)) || (strcmp(scheme, "http") && strcmp(scheme, "https")) ||
	    (query = url_part(eu, CURLUPART_QUERY, 0)) || curl_url_set(eu, CURLUPART_USER, NULL, 0) != CURLUE_OK ||
	    curl_url_set(eu, CURLUPART_PASSWORD, NULL, 0) != CURLUE_OK ||
	    curl_url_set(eu, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK || !(ep = url_part(eu, CURLUPART_URL, 0))) {
		rc = fail(t, SV_EINVAL,
			  "the S3 endpoint must be an http or https URL, such as https://s3.amazonaws.com");
		goto done;
	}
	strip_trailing_slashes(ep);
	if (asprintf(&t->base_url, "%s/%s", ep, bucket) < 0 || asprintf(&t->sigv4, "aws:amz:%s:s3", region) < 0) {
		t->base_url = t->sigv4 = NULL;
		rc = oom(t);
		goto done;
	}
	t->access_key = strdup(o->access_key);
	t->secret_key = strdup(o->secret_key);
	t->secrets[0] = strdup(o->secret_key);
	if (o->session_token && *o->session_token) {
		t->secrets[1] = strdup(o->session_token);
		if (asprintf(&t->token_header, "x-amz-security-token: %s", o->session_token) < 0)
			t->token_header = NULL;
		if (!t->token_header || !t->secrets[1]) {
			rc = oom(t);
			goto done;
		}
	}
	if (!t->access_key || !t->secret_key || !t->secrets[0]) {
		rc = oom(t);
		goto done;
	}
	t->protocol = strcmp(scheme, "https") == 0 ? "https" : "http";
	t->ops = s3_ops;
done:
	free(bucket);
	free(path);
	free(scheme);
	free(query);
	free(ep);
	curl_url_cleanup(eu);
	return rc;
}

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
	pthread_once(&libs_once, libs_init);
	if (libs_rc != CURLE_OK)
		return sv_error_set(SV_EIO, "%s: cannot initialize libcurl", shown);
	if (!(t = calloc(1, sizeof(*t))))
		return sv_error_set(SV_EIO, "%s: out of memory", shown);
	if (!(t->display = strdup(shown)) || !(u = curl_url())) {
		rc = oom(t);
		goto done;
	}
	t->limit = o->transfers > 0 ? (size_t)o->transfers : DEFAULT_TRANSFERS;
	t->connect_timeout_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : DEFAULT_CONNECT_TIMEOUT_S;
	t->stall_timeout_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : DEFAULT_STALL_TIMEOUT_S;

	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    !(scheme = url_part(u, CURLUPART_SCHEME, 0))) {
		rc = fail(t, SV_EINVAL, "invalid mirror URL");
		goto done;
	}
	if ((query = url_part(u, CURLUPART_QUERY, 0)) || (fragment = url_part(u, CURLUPART_FRAGMENT, 0))) {
		rc = fail(t, SV_EINVAL, "a mirror URL has no query or fragment");
		goto done;
	}
	/* Messages show the URL as curl reads it, less any user name and password. */
	{
		CURLU *d = curl_url_dup(u);
		char *shown_url = NULL;
		if (d && curl_url_set(d, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
		    curl_url_set(d, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
		    curl_url_set(d, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK)
			shown_url = url_part(d, CURLUPART_URL, 0);
		curl_url_cleanup(d);
		if (shown_url) {
			strip_trailing_slashes(shown_url);
			free(t->display);
			t->display = shown_url;
		}
	}
	if (strcmp(scheme, "file") == 0) {
		rc = open_file(t, u);
	} else if (strcmp(scheme, "sftp") == 0) {
		rc = open_sftp(t, u, o);
	} else if (strcmp(scheme, "s3") == 0) {
		rc = open_s3(t, u, o);
	} else {
		rc = fail(t, SV_EINVAL, "unsupported mirror URL scheme '%s' (file, sftp or s3)", scheme);
	}
	if (rc == 0 && t->ops.put != file_put) {
		if (!(t->multi = curl_multi_init()) || !(t->pool = calloc(t->limit, sizeof(*t->pool)))) {
			rc = oom(t);
			goto done;
		}
		curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)t->limit);
	}
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
	for (size_t k = 0; t->pool && k < t->limit; k++)
		if (t->pool[k])
			curl_easy_cleanup(t->pool[k]);
	free(t->pool);
	if (t->multi)
		curl_multi_cleanup(t->multi);
	free(t->display);
	free(t->root);
	free(t->base_url);
	free(t->qbase);
	free(t->ssh_key);
	free(t->known_hosts);
	free(t->prefix);
	free(t->sigv4);
	free(t->access_key);
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
		return oom(t);
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

int sv_transport_get(sv_transport *t, const char *name, int fd)
{
	int rc;
	if ((rc = check_name(t, name, 0)) != 0)
		return rc;
	return t->ops.get(t, name, fd, -1);
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
		return fail(t, SV_EIO, "cannot get '%s': memfd_create: %s", name, strerror(errno));
	if ((rc = t->ops.get(t, name, fd, (uint64_t)max > (uint64_t)INT64_MAX ? -1 : (int64_t)max)) != 0)
		goto done;
	if ((size = lseek(fd, 0, SEEK_END)) < 0 || lseek(fd, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)size + 1))) {
		rc = fail(t, SV_EIO, "cannot get '%s': %s", name, strerror(errno ? errno : ENOMEM));
		goto done;
	}
	for (off_t got = 0; got < size;) {
		ssize_t r = read(fd, buf + got, (size_t)(size - got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = fail(t, SV_EIO, "cannot get '%s': %s", name, r < 0 ? strerror(errno) : "short read");
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
			return oom(s->t);
		s->names = nn;
		s->cap = cap;
	}
	if (!(s->names[s->n] = strdup(name)))
		return oom(s->t);
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
	if (!t->ops.remove) /* S3 uploads leave no temp files */
		return 0;
	rc = t->ops.list(t, dir, 1, collect_temp, &s);
	if (!rc && s.n)
		rc = t->ops.remove(t, (const char *const *)s.names, s.n);
	if (!rc && removed)
		*removed = s.n;
	free_strings(s.names, s.n);
	return rc;
}
