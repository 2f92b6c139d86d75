/*
 * storage/objects.c -- the content-addressed object store (see objects.h).
 *
 * What must stay true: a file appears under objects/sha256/ only by rename of
 * a complete temp file; an object that verifies is never replaced; temp files
 * are flock()ed by their writer for their whole life, so "unlocked" means
 * "left by a writer that died".
 */
#include "objects.h"
#include "verify.h"

#include "../common/error.h"
#include "../common/hex.h"
#include "../common/path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <openssl/evp.h>
#include <zstd.h>

/* Payloads up to this size are buffered and compressed in one shot on commit. */
#define HEAD_MAX (256u * 1024)
/* Payloads of at least this size (or of unknown size) use compression workers. */
#define MT_MIN (8u * 1024 * 1024)
/*
 * Bytes per compression job. zstd's default (4 windows, 8 MiB at level 3)
 * holds about 115 MiB for incompressible input on two workers; 3 MiB keeps
 * that near 50 MiB at the same speed (bench/RESULTS.md).
 */
#define MT_JOB_SIZE (3u << 20)
/* Read size of put_fd and of readers. */
#define IO_CHUNK (1u << 20)
/* An object renamed less than this before the last sync began is not trusted blindly. */
#define SYNC_MARGIN_NS 1000000000LL

struct sv_objects {
	char *dir;        /* objects/ */
	char *sha_dir;    /* objects/sha256 */
	char *tmp_dir;    /* objects/tmp */
	char *stamp_path; /* objects/sync-stamp: its mtime is when the last completed sync began */
	int dirfd;        /* open on dir, for syncfs */
	int level;
	int threads;
	ZSTD_CCtx *oneshot; /* shared by the small-payload path */
	int mt_writers;     /* writers compressing with workers now: at most one, memory stays bounded */
	unsigned char have_dir[256 / 8]; /* objects/sha256/XX/ known to exist */
};

struct sv_objects_writer {
	sv_objects *store;
	int64_t hint; /* announced length, or -1 */
	uint64_t length;
	EVP_MD_CTX *md;
	unsigned char *head; /* payload so far, until it outgrows HEAD_MAX */
	size_t head_len, head_cap;
	ZSTD_CCtx *cctx; /* non-NULL once streaming */
	unsigned char *out;
	size_t out_cap;
	uint64_t stored;
	int fd;
	int mt; /* counted in store->mt_writers */
	char tmp_path[4096];
};

struct sv_objects_reader {
	int fd;
	ZSTD_DCtx *dctx;
	EVP_MD_CTX *md; /* NULL when the caller does not want the hash checked */
	sv_digest expect;
	unsigned char *in_buf;
	ZSTD_inBuffer in;
	uint64_t compressed; /* bytes read from the file */
	size_t last_ret;     /* ZSTD_decompressStream's last result: 0 at a frame end */
	int eof, done;
	char path[4096];
};

void sv_digest_to_hex(const sv_digest *d, char *hex)
{
	sv_hex_encode(d->bytes, SV_DIGEST_LEN, hex);
}


int sv_digest_from_hex(sv_digest *out, const char *hex)
{
	if (strlen(hex) != SV_DIGEST_HEX_LEN)
		return sv_error_set(SV_EINVAL, "'%s' is not a SHA-256 digest (64 hex digits)", hex);
	for (int i = 0; i < SV_DIGEST_LEN; i++) {
		int hi = sv_hex_value(hex[2 * i]), lo = sv_hex_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return sv_error_set(SV_EINVAL, "'%s' is not a SHA-256 digest (64 hex digits)", hex);
		out->bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int mkdir_p1(const char *path)
{
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return sv_error_errno(errno, "cannot create '%s'", path);
	return 0;
}

int sv_objects_open(sv_objects **out, const char *objects_dir, const sv_objects_options *opts)
{
	sv_objects_options def = SV_OBJECTS_OPTIONS_INIT;
	sv_objects *s;
	int rc;

	*out = NULL;
	if (!opts)
		opts = &def;
	if (opts->level < 1 || opts->level > ZSTD_maxCLevel())
		return sv_error_set(SV_EINVAL, "zstd level %d is out of range 1..%d", opts->level,
				    ZSTD_maxCLevel());
	s = calloc(1, sizeof(*s));
	if (!s)
		return sv_error_set(SV_EIO, "out of memory");
	s->dirfd = -1;
	s->level = opts->level;
	s->threads = opts->threads > 0 ? opts->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (s->threads < 1)
		s->threads = 1;
	s->dir = strdup(objects_dir);
	s->sha_dir = sv_path_dup(objects_dir, "sha256");
	s->tmp_dir = sv_path_dup(objects_dir, "tmp");
	s->stamp_path = sv_path_dup(objects_dir, "sync-stamp");
	if (!s->dir || !s->sha_dir || !s->tmp_dir || !s->stamp_path) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto fail;
	}
	if ((rc = mkdir_p1(s->dir)) || (rc = mkdir_p1(s->sha_dir)) || (rc = mkdir_p1(s->tmp_dir)))
		goto fail;
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		rc = sv_error_errno(errno, "cannot open '%s'", s->dir);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sv_objects_free(s);
	return rc;
}

void sv_objects_free(sv_objects *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	ZSTD_freeCCtx(s->oneshot);
	free(s->dir);
	free(s->sha_dir);
	free(s->tmp_dir);
	free(s->stamp_path);
	free(s);
}

void sv_objects_name(const sv_digest *d, char name[SV_OBJECTS_NAME_LEN + 1])
{
	char hex[SV_DIGEST_HEX_LEN + 1];
	sv_digest_to_hex(d, hex);
	snprintf(name, SV_OBJECTS_NAME_LEN + 1, "sha256/%.2s/%s.zst", hex, hex);
}

int sv_objects_name_parse(const char *name, sv_digest *out)
{
	char again[SV_OBJECTS_NAME_LEN + 1], hex[SV_DIGEST_HEX_LEN + 1];
	if (strlen(name) != SV_OBJECTS_NAME_LEN || strncmp(name, "sha256/", 7) != 0)
		return 0;
	memcpy(hex, name + 10, SV_DIGEST_HEX_LEN);
	hex[SV_DIGEST_HEX_LEN] = '\0';
	if (sv_digest_from_hex(out, hex) != 0)
		return 0;
	/* Only the canonical spelling: lower case, in the folder of its first byte. */
	sv_objects_name(out, again);
	return strcmp(again, name) == 0;
}

int sv_objects_path(const sv_objects *s, const sv_digest *d, char *buf, size_t cap)
{
	char name[SV_OBJECTS_NAME_LEN + 1];
	sv_objects_name(d, name);
	int n = snprintf(buf, cap, "%s/%s", s->dir, name);
	if (n < 0 || (size_t)n >= cap)
		return sv_error_set(SV_EINVAL, "object path too long under '%s'", s->dir);
	return 0;
}

int sv_objects_foreach(const sv_objects *s, int with_sizes, sv_objects_each_fn fn, void *ctx)
{
	DIR *d = opendir(s->sha_dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return sv_error_errno(errno, "cannot read '%s'", s->sha_dir);
	while (rc == 0 && (errno = 0, e = readdir(d))) {
		if (strlen(e->d_name) != 2 || sv_hex_value(e->d_name[0]) < 0 || sv_hex_value(e->d_name[1]) < 0)
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *sub = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *f;
		if (!sub) {
			rc = sv_error_errno(errno, "cannot read '%s/%s'", s->sha_dir, e->d_name);
			if (fd >= 0)
				close(fd);
			break;
		}
		while (rc == 0 && (errno = 0, f = readdir(sub))) {
			char name[sizeof("sha256/ab/") + sizeof(f->d_name)];
			struct stat st;
			sv_digest dg;
			int64_t size = -1;
			snprintf(name, sizeof(name), "sha256/%s/%s", e->d_name, f->d_name);
			if (!sv_objects_name_parse(name, &dg))
				continue;
			if (with_sizes) {
				if (fstatat(dirfd(sub), f->d_name, &st, 0) != 0) {
					if (errno == ENOENT)
						continue;
					rc = sv_error_errno(errno, "cannot stat '%s/%s'", s->dir, name);
					break;
				}
				size = (int64_t)st.st_size;
			}
			rc = fn(ctx, &dg, size);
		}
		if (rc == 0 && errno)
			rc = sv_error_errno(errno, "cannot read '%s/%s'", s->sha_dir, e->d_name);
		closedir(sub);
	}
	if (rc == 0 && errno)
		rc = sv_error_errno(errno, "cannot read '%s'", s->sha_dir);
	closedir(d);
	return rc;
}

int sv_objects_exists(const sv_objects *s, const sv_digest *d)
{
	char path[4096];
	struct stat st;
	int rc = sv_objects_path(s, d, path, sizeof(path));
	if (rc)
		return rc;
	if (stat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return sv_error_errno(errno, "cannot stat '%s'", path);
}

static long long ts_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int sv_objects_sync(sv_objects *s)
{
	struct timespec began;
	struct stat st;
	int fd, rc = 0;

	clock_gettime(CLOCK_REALTIME, &began);
	if (syncfs(s->dirfd) != 0)
		return sv_error_errno(errno, "cannot sync '%s'", s->dir);
	/* The stamp only moves forward: another process may have synced later. */
	fd = open(s->stamp_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return sv_error_errno(errno, "cannot open '%s'", s->stamp_path);
	if (fstat(fd, &st) == 0 && ts_ns(st.st_mtim) < ts_ns(began)) {
		struct timespec times[2] = {began, began};
		if (futimens(fd, times) != 0)
			rc = sv_error_errno(errno, "cannot update '%s'", s->stamp_path);
	}
	close(fd);
	return rc;
}

int sv_objects_temp_stale(int dirfd, const char *name, int remove)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	int stale = fd < 0 || flock(fd, LOCK_EX | LOCK_NB) == 0;
	/* Removed under the lock: a live writer re-checks its file after locking. */
	if (stale && remove && unlinkat(dirfd, name, 0) != 0)
		stale = 0;
	if (fd >= 0)
		close(fd);
	return stale;
}

int sv_objects_clean_temps(sv_objects *s, unsigned *removed)
{
	DIR *d = opendir(s->tmp_dir);
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return sv_error_errno(errno, "cannot open '%s'", s->tmp_dir);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (sv_objects_temp_stale(dirfd(d), e->d_name, 1))
			n++;
	}
	closedir(d);
	if (removed)
		*removed = n;
	return 0;
}

/* ---- writing ---- */

static int write_all(int fd, const void *buf, size_t len, const char *path)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sv_error_errno(errno, "cannot write '%s'", path);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int zstd_err(size_t r, const char *what)
{
	return sv_error_set(SV_EIO, "zstd %s: %s", what, ZSTD_getErrorName(r));
}

int sv_objects_writer_new(sv_objects_writer **out, sv_objects *s, int64_t size_hint)
{
	sv_objects_writer *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (!w)
		return sv_error_set(SV_EIO, "out of memory");
	w->store = s;
	w->hint = size_hint < 0 ? -1 : size_hint;
	w->fd = -1;
	w->md = EVP_MD_CTX_new();
	if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		sv_objects_writer_abort(w);
		return sv_error_set(SV_EIO, "cannot initialise SHA-256");
	}
	*out = w;
	return 0;
}

/*
 * A fresh temp file under objects/tmp/, locked for its whole life (so a
 * cleaner knows it is live), its path into path. On failure after the file
 * was made, path and *fd still name it for the caller to remove.
 */
static int open_temp(sv_objects *s, char *path, size_t cap, int *fd)
{
	int n = snprintf(path, cap, "%s/obj-XXXXXX", s->tmp_dir);
	*fd = -1;
	if (n < 0 || (size_t)n >= cap) {
		path[0] = '\0';
		return sv_error_set(SV_EINVAL, "temp path too long under '%s'", s->tmp_dir);
	}
	for (int tries = 0; tries < 10; tries++) {
		struct stat st;
		memcpy(path + n - 6, "XXXXXX", 6);
		*fd = mkostemp(path, O_CLOEXEC);
		if (*fd < 0) {
			int e = errno;
			path[0] = '\0';
			return sv_error_errno(e, "cannot create a temp file in '%s'", s->tmp_dir);
		}
		if (flock(*fd, LOCK_EX) != 0)
			return sv_error_errno(errno, "cannot lock '%s'", path);
		/* A cleaner may have taken it for stale between mkostemp and flock. */
		if (fstat(*fd, &st) == 0 && st.st_nlink > 0)
			return 0;
		close(*fd);
		*fd = -1;
	}
	path[0] = '\0';
	return sv_error_set(SV_EIO, "temp files in '%s' keep vanishing", s->tmp_dir);
}

static int set_params(ZSTD_CCtx *c, int level, int workers)
{
	size_t r;
	if (ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)) ||
	    ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, workers)))
		return zstd_err(r, "parameters");
	if (workers > 0 && ZSTD_isError(r = ZSTD_CCtx_setParameter(c, ZSTD_c_jobSize, MT_JOB_SIZE)))
		return zstd_err(r, "job size");
	return 0;
}

/* Feeds src (may be empty) to the stream and writes what comes out. */
static int feed(sv_objects_writer *w, const void *src, size_t len, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {src, len, 0};
	size_t rem;
	int rc;
	do {
		ZSTD_outBuffer out = {w->out, w->out_cap, 0};
		rem = ZSTD_compressStream2(w->cctx, &out, &in, mode);
		if (ZSTD_isError(rem))
			return zstd_err(rem, "compression");
		if (out.pos && (rc = write_all(w->fd, w->out, out.pos, w->tmp_path)))
			return rc;
		w->stored += out.pos;
	} while (mode == ZSTD_e_end ? rem != 0 : in.pos < in.size);
	return 0;
}

static int start_stream(sv_objects_writer *w)
{
	sv_objects *s = w->store;
	/* One multithreaded writer per store at a time: each holds ~50 MB of job
	 * buffers on incompressible input; others compress on the calling thread. */
	int mt = s->threads > 1 && s->mt_writers == 0 && (w->hint < 0 || (uint64_t)w->hint >= MT_MIN);
	size_t r;
	int rc;

	if ((rc = open_temp(w->store, w->tmp_path, sizeof(w->tmp_path), &w->fd)))
		return rc;
	w->cctx = ZSTD_createCCtx();
	w->out_cap = ZSTD_CStreamOutSize();
	w->out = malloc(w->out_cap);
	if (!w->cctx || !w->out)
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = set_params(w->cctx, s->level, mt ? s->threads : 0)))
		return rc;
	if (mt) {
		w->mt = 1;
		s->mt_writers++;
	}
	if (w->hint >= 0 && ZSTD_isError(r = ZSTD_CCtx_setPledgedSrcSize(w->cctx, (unsigned long long)w->hint)))
		return zstd_err(r, "pledged size");
	if ((rc = feed(w, w->head, w->head_len, ZSTD_e_continue)))
		return rc;
	free(w->head);
	w->head = NULL;
	w->head_len = w->head_cap = 0;
	return 0;
}

int sv_objects_writer_write(sv_objects_writer *w, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (w->hint >= 0 && w->length + len > (uint64_t)w->hint)
		return sv_error_set(SV_EINVAL, "more bytes than the %lld announced", (long long)w->hint);
	if (EVP_DigestUpdate(w->md, buf, len) != 1)
		return sv_error_set(SV_EIO, "SHA-256 update failed");
	w->length += len;
	if (!w->cctx) {
		if (w->head_len + len <= HEAD_MAX) {
			if (w->head_len + len > w->head_cap) {
				size_t cap = w->head_cap ? w->head_cap : 16384;
				while (cap < w->head_len + len)
					cap *= 2;
				if (cap > HEAD_MAX)
					cap = HEAD_MAX;
				unsigned char *p = realloc(w->head, cap);
				if (!p)
					return sv_error_set(SV_EIO, "out of memory");
				w->head = p;
				w->head_cap = cap;
			}
			memcpy(w->head + w->head_len, buf, len);
			w->head_len += len;
			return 0;
		}
		int rc = start_stream(w);
		if (rc)
			return rc;
	}
	return feed(w, buf, len, ZSTD_e_continue);
}

/*
 * 1 if an object at path can be kept as it is: it was made durable by a
 * completed sync, or it verifies now. 0 if absent or damaged.
 */
static int existing_is_good(sv_objects *s, const char *path, const sv_digest *d)
{
	struct stat obj, stamp;
	if (stat(path, &obj) != 0)
		return 0;
	if (stat(s->stamp_path, &stamp) == 0 &&
	    ts_ns(obj.st_mtim) + SYNC_MARGIN_NS < ts_ns(stamp.st_mtim))
		return 1;

	return sv_objects_check_path(path, d) == 0;
}

static void writer_free(sv_objects_writer *w)
{
	if (w->mt)
		w->store->mt_writers--;
	if (w->fd >= 0)
		close(w->fd);
	EVP_MD_CTX_free(w->md);
	ZSTD_freeCCtx(w->cctx);
	free(w->head);
	free(w->out);
	free(w);
}

void sv_objects_writer_abort(sv_objects_writer *w)
{
	if (!w)
		return;
	if (w->tmp_path[0])
		unlink(w->tmp_path);
	writer_free(w);
}

/* Compresses the buffered small payload as one frame into w->out. */
static int compress_oneshot(sv_objects_writer *w)
{
	sv_objects *s = w->store;
	size_t bound = ZSTD_compressBound(w->head_len), n;
	int rc;

	if (!s->oneshot) {
		if (!(s->oneshot = ZSTD_createCCtx()))
			return sv_error_set(SV_EIO, "out of memory");
		if ((rc = set_params(s->oneshot, s->level, 0)))
			return rc;
	}
	free(w->out);
	w->out_cap = bound;
	if (!(w->out = malloc(bound)))
		return sv_error_set(SV_EIO, "out of memory");
	n = ZSTD_compress2(s->oneshot, w->out, bound, w->head ? w->head : (const void *)"", w->head_len);
	if (ZSTD_isError(n))
		return zstd_err(n, "compression");
	w->stored = n;
	return 0;
}

/*
 * A small object whose name is known before a byte is written: an unnamed
 * file in its own folder (O_TMPFILE), linked under its name once complete.
 * No temp name, no lock, no rename, nothing left behind by a crash. 1 when
 * done; 0 when this way is not available (filesystem without O_TMPFILE, a
 * damaged object to replace): the caller then uses a named temp file.
 */
static int link_oneshot(sv_objects_writer *w, char *path, size_t fan_end, int *rc)
{
	char proc[64];
	*rc = 0;
	path[fan_end] = '\0';
	int fd = open(path, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
	path[fan_end] = '/';
	if (fd < 0)
		return 0;
	if ((*rc = write_all(fd, w->out, w->stored, path))) {
		close(fd);
		return 1;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc works for everyone else. */
	int linked = linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH) == 0 ||
		     ((errno == EPERM || errno == ENOENT) &&
		      linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0);
	int e = errno;
	if (close(fd) != 0 && linked) {
		*rc = sv_error_errno(errno, "cannot close '%s'", path);
		unlink(path); /* not known to be complete: never leave it under its name */
		return 1;
	}
	if (!linked && e != EEXIST && e != EPERM && e != ENOENT)
		*rc = sv_error_errno(e, "cannot link '%s'", path);
	return linked || *rc;
}

int sv_objects_writer_commit(sv_objects_writer *w, sv_digest *out, sv_objects_commit_info *info)
{
	sv_objects *s = w->store;
	char path[4096];
	unsigned int mdlen;
	int rc;

	if (w->hint >= 0 && w->length != (uint64_t)w->hint) {
		rc = sv_error_set(SV_EINVAL, "%llu bytes instead of the %lld announced",
				  (unsigned long long)w->length, (long long)w->hint);
		goto fail;
	}
	if (EVP_DigestFinal_ex(w->md, out->bytes, &mdlen) != 1 || mdlen != SV_DIGEST_LEN) {
		rc = sv_error_set(SV_EIO, "SHA-256 final failed");
		goto fail;
	}
	if ((rc = sv_objects_path(s, out, path, sizeof(path))))
		goto fail;
	if (info) {
		info->length = w->length;
		info->existed = 0;
	}
	if (w->cctx) {
		if ((rc = feed(w, NULL, 0, ZSTD_e_end)))
			goto fail;
	} else if (existing_is_good(s, path, out)) {
		goto existed;
	} else if ((rc = compress_oneshot(w))) {
		goto fail;
	}
	if (w->cctx && existing_is_good(s, path, out))
		goto existed;

	/* objects/sha256/ab/, once per store (a rename that finds it gone makes it again) */
	size_t fan_end = strlen(s->sha_dir) + 3;
	unsigned fan = out->bytes[0];
	if (!(s->have_dir[fan / 8] & (1u << (fan % 8)))) {
		path[fan_end] = '\0';
		rc = mkdir_p1(path);
		path[fan_end] = '/';
		if (rc)
			goto fail;
		s->have_dir[fan / 8] |= (unsigned char)(1u << (fan % 8));
	}
	if (!w->cctx) {
		if (link_oneshot(w, path, fan_end, &rc)) {
			if (rc)
				goto fail;
			if (info)
				info->stored = w->stored;
			writer_free(w);
			return 0;
		}
		if ((rc = open_temp(s, w->tmp_path, sizeof(w->tmp_path), &w->fd)) ||
		    (rc = write_all(w->fd, w->out, w->stored, w->tmp_path)))
			goto fail;
	}
	if (fchmod(w->fd, 0444) != 0) {
		rc = sv_error_errno(errno, "cannot chmod '%s'", w->tmp_path);
		goto fail;
	}
	/* Rename while the lock is held, so clean_temps never races us. */
	int renamed = rename(w->tmp_path, path);
	if (renamed != 0 && errno == ENOENT) {
		path[strlen(s->sha_dir) + 3] = '\0';
		rc = mkdir_p1(path);
		path[strlen(s->sha_dir) + 3] = '/';
		if (rc)
			goto fail;
		renamed = rename(w->tmp_path, path);
	}
	if (renamed != 0) {
		rc = sv_error_errno(errno, "cannot rename '%s' to '%s'", w->tmp_path, path);
		goto fail;
	}
	w->tmp_path[0] = '\0';
	if (close(w->fd) != 0) {
		w->fd = -1;
		rc = sv_error_errno(errno, "cannot close '%s'", path);
		unlink(path); /* not known to be complete: never leave it under its name */
		goto fail_freed;
	}
	w->fd = -1;
	if (info)
		info->stored = w->stored;
	writer_free(w);
	return 0;

existed:
	if (info) {
		struct stat st;
		info->existed = 1;
		info->stored = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	sv_objects_writer_abort(w);
	return 0;
fail:
	sv_objects_writer_abort(w);
	return rc;
fail_freed:
	writer_free(w);
	return rc;
}

int sv_objects_put_fd(sv_objects *s, int fd, int64_t size_hint, sv_digest *out,
		      sv_objects_commit_info *info, sv_objects_progress_fn progress, void *ctx)
{
	sv_objects_writer *w;
	unsigned char *buf = malloc(IO_CHUNK);
	int rc;

	if (!buf)
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = sv_objects_writer_new(&w, s, size_hint))) {
		free(buf);
		return rc;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = read(fd, buf, IO_CHUNK);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = sv_error_errno(errno, "read error");
			break;
		}
		if (n == 0)
			break;
		if ((rc = sv_objects_writer_write(w, buf, (size_t)n)))
			break;
		if (progress)
			progress(ctx, w->length);
	}
	free(buf);
	if (rc) {
		sv_objects_writer_abort(w);
		return rc;
	}
	return sv_objects_writer_commit(w, out, info);
}

/* Stores the payload of the object file at path (named d) anew through a writer. */
static int rewrite(sv_objects *s, const char *path, const sv_digest *d, sv_objects_commit_info *info)
{
	sv_objects_reader *rd = NULL;
	sv_objects_writer *w = NULL;
	unsigned char *buf = malloc(IO_CHUNK);
	sv_digest got;
	int rc;

	if (!buf)
		return sv_error_set(SV_EIO, "out of memory");
	if ((rc = sv_objects_reader_open_path(&rd, path, d)) || (rc = sv_objects_writer_new(&w, s, -1)))
		goto done;
	for (;;) {
		size_t n;
		if ((rc = sv_objects_reader_read(rd, buf, IO_CHUNK, &n)))
			goto done;
		if (n == 0)
			break;
		if ((rc = sv_objects_writer_write(w, buf, n)))
			goto done;
	}
	rc = sv_objects_writer_commit(w, &got, info);
	w = NULL;
	if (rc == 0 && memcmp(got.bytes, d->bytes, SV_DIGEST_LEN) != 0)
		rc = sv_error_set(SV_ECORRUPT, "payload does not match its name");
done:
	sv_objects_writer_abort(w);
	sv_objects_reader_free(rd);
	free(buf);
	return rc;
}

static int check_file(const char *path, const sv_digest *expect, uint64_t *length);

int sv_objects_adopt(sv_objects *s, const sv_digest *d, sv_objects_fill_fn fill, void *ctx,
		     sv_objects_commit_info *info)
{
	char tmp[4096], path[4096];
	sv_objects_commit_info mine;
	struct stat st;
	int fd = -1, rc;

	if (!info)
		info = &mine;
	memset(info, 0, sizeof(*info));
	if ((rc = sv_objects_path(s, d, path, sizeof(path))) || (rc = open_temp(s, tmp, sizeof(tmp), &fd)))
		goto done;
	if ((rc = fill(ctx, fd)) || (rc = check_file(tmp, d, &info->length)))
		goto done;
	if (sv_verify_frames(fd, tmp) != 0) {
		rc = rewrite(s, tmp, d, info);
		goto done;
	}
	if (fstat(fd, &st) != 0 || fchmod(fd, 0444) != 0) {
		rc = sv_error_errno(errno, "cannot chmod '%s'", tmp);
		goto done;
	}
	info->stored = (uint64_t)st.st_size;
	/* Linked, not renamed: an object already there is never replaced. */
	int linked = link(tmp, path);
	if (linked != 0 && errno == ENOENT) {
		size_t fan_end = strlen(s->sha_dir) + 3;
		path[fan_end] = '\0';
		rc = mkdir_p1(path);
		path[fan_end] = '/';
		if (rc)
			goto done;
		linked = link(tmp, path);
	}
	if (linked != 0 && errno == EEXIST)
		info->existed = 1;
	else if (linked != 0)
		rc = sv_error_errno(errno, "cannot link '%s' to '%s'", tmp, path);
done:
	/* Removed under the lock, so a cleaner never takes a live file. */
	if (tmp[0] && fd >= 0)
		unlink(tmp);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- reading ---- */

int sv_objects_reader_open(sv_objects_reader **out, const sv_objects *s, const sv_digest *d)
{
	char path[4096];
	int rc = sv_objects_path(s, d, path, sizeof(path));
	if (rc)
		return rc;
	return sv_objects_reader_open_path(out, path, d);
}

int sv_objects_reader_open_path(sv_objects_reader **out, const char *path, const sv_digest *expect)
{
	sv_objects_reader *r;
	char hex[SV_DIGEST_HEX_LEN + 1];
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && expect) {
			sv_digest_to_hex(expect, hex);
			return sv_error_set(SV_ENOTFOUND, "no object %s", hex);
		}
		return sv_error_errno(e, "cannot open '%s'", path);
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return sv_error_set(SV_EIO, "out of memory");
	}
	r->fd = fd;
	r->last_ret = 1;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->dctx = ZSTD_createDCtx();
	r->in_buf = malloc(ZSTD_DStreamInSize());
	if (expect) {
		r->expect = *expect;
		r->md = EVP_MD_CTX_new();
		if (!r->md || EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) {
			sv_objects_reader_free(r);
			return sv_error_set(SV_EIO, "cannot initialise SHA-256");
		}
	}
	if (!r->dctx || !r->in_buf) {
		sv_objects_reader_free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = r;
	return 0;
}

static int reader_end(sv_objects_reader *r)
{
	unsigned char got[SV_DIGEST_LEN];
	unsigned int len;
	r->done = 1;
	if (r->compressed == 0)
		return sv_error_set(SV_ECORRUPT, "empty file");
	if (r->last_ret != 0)
		return sv_error_set(SV_ECORRUPT, "truncated zstd frame");
	if (!r->md)
		return 0;
	if (EVP_DigestFinal_ex(r->md, got, &len) != 1)
		return sv_error_set(SV_EIO, "SHA-256 final failed");
	if (memcmp(got, r->expect.bytes, SV_DIGEST_LEN) != 0) {
		char hex[SV_DIGEST_HEX_LEN + 1];
		sv_digest_to_hex((const sv_digest *)got, hex);
		return sv_error_set(SV_ECORRUPT, "content hashes to %s", hex);
	}
	return 0;
}

int sv_objects_reader_read(sv_objects_reader *r, void *buf, size_t cap, size_t *got)
{
	ZSTD_outBuffer out = {buf, cap, 0};
	*got = 0;
	if (r->done)
		return 0;
	for (;;) {
		if (r->in.pos == r->in.size && !r->eof) {
			ssize_t n = read(r->fd, r->in_buf, ZSTD_DStreamInSize());
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return sv_error_errno(errno, "cannot read '%s'", r->path);
			}
			if (n == 0)
				r->eof = 1;
			r->compressed += (uint64_t)n;
			r->in = (ZSTD_inBuffer){r->in_buf, (size_t)n, 0};
		}
		size_t in_before = r->in.pos, out_before = out.pos;
		size_t ret = ZSTD_decompressStream(r->dctx, &out, &r->in);
		if (ZSTD_isError(ret)) {
			r->done = 1;
			return sv_error_set(SV_ECORRUPT, "invalid zstd data: %s", ZSTD_getErrorName(ret));
		}
		/* A call with nothing to do returns a hint, not the state of the frame. */
		if (r->in.pos != in_before || out.pos != out_before)
			r->last_ret = ret;
		if (out.pos > 0)
			break;
		if (r->in.pos == r->in.size && r->eof)
			return reader_end(r);
	}
	if (r->md && EVP_DigestUpdate(r->md, buf, out.pos) != 1)
		return sv_error_set(SV_EIO, "SHA-256 update failed");
	*got = out.pos;
	return 0;
}

/* Reads a whole object file and checks it; its payload bytes into *length. */
static int check_file(const char *path, const sv_digest *expect, uint64_t *length)
{
	sv_objects_reader *r;
	unsigned char *sink = malloc(IO_CHUNK);
	size_t got;
	int rc;

	*length = 0;
	if (!sink)
		return sv_error_set(SV_EIO, "out of memory");
	if (!(rc = sv_objects_reader_open_path(&r, path, expect))) {
		while ((rc = sv_objects_reader_read(r, sink, IO_CHUNK, &got)) == 0 && got > 0)
			*length += got;
		sv_objects_reader_free(r);
	}
	free(sink);
	return rc;
}

int sv_objects_check_path(const char *path, const sv_digest *expect)
{
	uint64_t length;
	return check_file(path, expect, &length);
}

void sv_objects_reader_free(sv_objects_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	EVP_MD_CTX_free(r->md);
	free(r->in_buf);
	free(r);
}
