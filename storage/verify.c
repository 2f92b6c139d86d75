/*
 * storage/verify.c -- checking every object of a store (see verify.h).
 *
 * One thread walks the tree and hands object paths to workers through a
 * bounded queue, so memory does not grow with the number of objects. Anything
 * under objects/ that is not a well-named object, the tmp/ folder or the sync
 * stamp is reported: a file that is not where its name says cannot be found.
 */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_getFrameHeader, for the fast check */
#include "verify.h"

#include "../common/error.h"
#include "../common/hex.h"
#include "../common/path.h"
#include "objects.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zstd.h>

#define QUEUE_CAP 256
/* Objects larger than this overlap decompression and hashing on two threads. */
#define PIPELINE_MIN (16u << 20)
#define SLOTS 4
#define SLOT_SIZE (1u << 20)

typedef struct {
	const sv_verify_options *opts;
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full, progressed;
	char *queue[QUEUE_CAP];
	unsigned head, tail; /* head - tail items queued */
	int closed;
	unsigned busy; /* workers checking an object */
	sv_verify_stats stats;
	struct timespec last_progress;
} verify_run;

static void report(verify_run *v, const char *path, const char *problem)
{
	pthread_mutex_lock(&v->mu);
	v->stats.damaged++;
	if (v->opts->damaged)
		v->opts->damaged(v->opts->ctx, path, problem);
	pthread_mutex_unlock(&v->mu);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sv_verify_frames(int fd, const char *path)
{
	struct stat st;
	unsigned char h[ZSTD_FRAMEHEADERSIZE_MAX];
	unsigned frames = 0;
	long long off = 0, size;

	if (fstat(fd, &st) != 0)
		return sv_error_errno(errno, "cannot stat '%s'", path);
	size = (long long)st.st_size;
	if (size == 0)
		return sv_error_set(SV_ECORRUPT, "empty file");
	while (off < size) {
		ZSTD_frameHeader fh;
		ssize_t n = pread(fd, h, sizeof(h), (off_t)off);
		if (n < 0)
			return sv_error_errno(errno, "cannot read '%s'", path);
		if (n >= 4 && (le32(h) & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START) {
			if (n < 8)
				return sv_error_set(SV_ECORRUPT, "truncated skippable frame at offset %lld", off);
			off += 8 + (long long)le32(h + 4);
			continue;
		}
		size_t r = ZSTD_getFrameHeader(&fh, h, (size_t)n);
		if (ZSTD_isError(r))
			return sv_error_set(SV_ECORRUPT, "invalid zstd frame header at offset %lld: %s", off,
					    ZSTD_getErrorName(r));
		if (r > 0)
			return sv_error_set(SV_ECORRUPT, "truncated zstd frame header at offset %lld", off);
		if (!fh.checksumFlag)
			return sv_error_set(SV_ECORRUPT, "zstd frame at offset %lld has no checksum", off);
		long long frame_off = off;
		unsigned long long exact = 0, compressed_blocks = 0;
		off += fh.headerSize;
		for (;;) {
			unsigned char b[3];
			if (pread(fd, b, 3, (off_t)off) != 3)
				return sv_error_set(SV_ECORRUPT, "truncated zstd frame (block header at offset %lld)",
						    off);
			uint32_t bh = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
			unsigned last = bh & 1, type = (bh >> 1) & 3, bsize = bh >> 3;
			off += 3;
			if (type == 3 || bsize > fh.blockSizeMax)
				return sv_error_set(SV_ECORRUPT, "invalid zstd block at offset %lld", off - 3);
			if (type == 0) {
				off += bsize;
				exact += bsize;
			} else if (type == 1) {
				off += 1;
				exact += bsize;
			} else {
				off += bsize;
				compressed_blocks++;
			}
			if (off > size)
				return sv_error_set(SV_ECORRUPT, "truncated zstd frame (block at offset %lld)",
						    off);
			if (last)
				break;
		}
		off += 4; /* checksum */
		if (off > size)
			return sv_error_set(SV_ECORRUPT, "truncated zstd frame (checksum)");
		if (fh.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN &&
		    (fh.frameContentSize < exact ||
		     fh.frameContentSize > exact + compressed_blocks * fh.blockSizeMax))
			return sv_error_set(SV_ECORRUPT,
					    "zstd frame at offset %lld records %llu bytes, its blocks do not",
					    frame_off, fh.frameContentSize);
		frames++;
	}
	if (off != size)
		return sv_error_set(SV_ECORRUPT, "truncated zstd frame");
	return 0;
}

/* ---- deep check of a large object: decompress here, hash on a second thread ---- */

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *buf[SLOTS];
	size_t len[SLOTS];
	unsigned head, tail;
	int eof;
	EVP_MD_CTX *md;
} hash_pipe;

static void *hasher_main(void *arg)
{
	hash_pipe *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (p->head == p->tail && !p->eof)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->head == p->tail) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		unsigned slot = p->tail % SLOTS;
		pthread_mutex_unlock(&p->mu);
		EVP_DigestUpdate(p->md, p->buf[slot], p->len[slot]);
		pthread_mutex_lock(&p->mu);
		p->tail++;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

static int check_pipelined(const char *path, const sv_digest *expect)
{
	hash_pipe p = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	sv_objects_reader *r = NULL;
	pthread_t th;
	int rc, started = 0;

	p.md = EVP_MD_CTX_new();
	for (int i = 0; i < SLOTS; i++)
		p.buf[i] = malloc(SLOT_SIZE);
	for (int i = 0; i < SLOTS; i++)
		if (!p.buf[i]) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
	if (!p.md || EVP_DigestInit_ex(p.md, EVP_sha256(), NULL) != 1) {
		rc = sv_error_set(SV_EIO, "cannot initialise SHA-256");
		goto done;
	}
	if ((rc = sv_objects_reader_open_path(&r, path, NULL)))
		goto done;
	if (pthread_create(&th, NULL, hasher_main, &p) != 0) {
		rc = sv_error_set(SV_EIO, "cannot start a thread");
		goto done;
	}
	started = 1;
	for (;;) {
		pthread_mutex_lock(&p.mu);
		while (p.head - p.tail == SLOTS)
			pthread_cond_wait(&p.cv, &p.mu);
		unsigned slot = p.head % SLOTS;
		pthread_mutex_unlock(&p.mu);
		size_t fill = 0, got;
		while (fill < SLOT_SIZE &&
		       (rc = sv_objects_reader_read(r, p.buf[slot] + fill, SLOT_SIZE - fill, &got)) == 0 &&
		       got > 0)
			fill += got;
		if (rc)
			break;
		if (fill == 0)
			break;
		pthread_mutex_lock(&p.mu);
		p.len[slot] = fill;
		p.head++;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
	}
done:
	if (started) {
		pthread_mutex_lock(&p.mu);
		p.eof = 1;
		pthread_cond_broadcast(&p.cv);
		pthread_mutex_unlock(&p.mu);
		pthread_join(th, NULL);
	}
	if (rc == 0) {
		unsigned char got[SV_DIGEST_LEN];
		unsigned int len;
		if (EVP_DigestFinal_ex(p.md, got, &len) != 1) {
			rc = sv_error_set(SV_EIO, "SHA-256 final failed");
		} else if (memcmp(got, expect->bytes, SV_DIGEST_LEN) != 0) {
			char hex[SV_DIGEST_HEX_LEN + 1];
			sv_digest_to_hex((const sv_digest *)got, hex);
			rc = sv_error_set(SV_ECORRUPT, "content hashes to %s", hex);
		}
	}
	sv_objects_reader_free(r);
	EVP_MD_CTX_free(p.md);
	for (int i = 0; i < SLOTS; i++)
		free(p.buf[i]);
	return rc;
}

/* ---- one object ---- */

static void check_object(verify_run *v, const char *path)
{
	const char *name = strrchr(path, '/') + 1;
	char hex[SV_DIGEST_HEX_LEN + 1];
	sv_digest d;
	struct stat st;
	int rc, fd;

	memcpy(hex, name, SV_DIGEST_HEX_LEN);
	hex[SV_DIGEST_HEX_LEN] = '\0';
	sv_digest_from_hex(&d, hex); /* the walker checked the name */

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		sv_error_errno(errno, "cannot open");
		report(v, path, sv_error_last());
		return;
	}
	rc = fstat(fd, &st) != 0 ? sv_error_errno(errno, "cannot stat") : sv_verify_frames(fd, path);
	close(fd);
	if (rc == 0 && !v->opts->fast)
		rc = st.st_size >= (off_t)PIPELINE_MIN ? check_pipelined(path, &d)
						       : sv_objects_check_path(path, &d);
	pthread_mutex_lock(&v->mu);
	v->stats.objects++;
	v->stats.bytes += (uint64_t)st.st_size;
	pthread_mutex_unlock(&v->mu);
	if (rc)
		report(v, path, sv_error_last());
}

static void *worker_main(void *arg)
{
	verify_run *v = arg;
	for (;;) {
		pthread_mutex_lock(&v->mu);
		while (v->head == v->tail && !v->closed)
			pthread_cond_wait(&v->not_empty, &v->mu);
		if (v->head == v->tail) {
			pthread_mutex_unlock(&v->mu);
			return NULL;
		}
		char *path = v->queue[v->tail++ % QUEUE_CAP];
		v->busy++;
		pthread_cond_signal(&v->not_full);
		pthread_mutex_unlock(&v->mu);

		check_object(v, path);
		free(path);

		pthread_mutex_lock(&v->mu);
		v->busy--;
		pthread_cond_signal(&v->progressed);
		pthread_mutex_unlock(&v->mu);
	}
}

/* ---- the walk ---- */

static void maybe_progress(verify_run *v)
{
	struct timespec now;
	if (!v->opts->progress)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (now.tv_sec - v->last_progress.tv_sec) * 1000LL +
		       (now.tv_nsec - v->last_progress.tv_nsec) / 1000000;
	if (ms < 200)
		return;
	v->last_progress = now;
	pthread_mutex_lock(&v->mu);
	sv_verify_stats s = v->stats;
	pthread_mutex_unlock(&v->mu);
	v->opts->progress(v->opts->ctx, &s);
}

static void enqueue(verify_run *v, char *path)
{
	pthread_mutex_lock(&v->mu);
	while (v->head - v->tail == QUEUE_CAP)
		pthread_cond_wait(&v->not_full, &v->mu);
	v->queue[v->head++ % QUEUE_CAP] = path;
	pthread_cond_signal(&v->not_empty);
	pthread_mutex_unlock(&v->mu);
	maybe_progress(v);
}

static int is_object_name(const char *name)
{
	return strlen(name) == SV_DIGEST_HEX_LEN + 4 && sv_hex_is_lower(name, SV_DIGEST_HEX_LEN) &&
	       strcmp(name + SV_DIGEST_HEX_LEN, ".zst") == 0;
}

static int walk_prefix_dir(verify_run *v, const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return sv_error_errno(errno, "cannot open '%s'", dir);
	while ((e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *path = sv_path_dup(dir, e->d_name);
		if (!path) {
			closedir(d);
			return sv_error_set(SV_EIO, "out of memory");
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
			report(v, path, "not a regular file: does not belong in the object store");
		} else if (!is_object_name(e->d_name)) {
			report(v, path, "misplaced: not named <sha256>.zst");
		} else if (strncmp(e->d_name, prefix, 2) != 0) {
			char why[128];
			snprintf(why, sizeof(why), "misplaced: belongs in %.2s/, not %s/", e->d_name, prefix);
			report(v, path, why);
		} else {
			enqueue(v, path);
			continue;
		}
		free(path);
	}
	closedir(d);
	return 0;
}

static int walk_temps(verify_run *v, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	if (!d)
		return errno == ENOENT ? 0 : sv_error_errno(errno, "cannot open '%s'", dir);
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (sv_objects_temp_stale(dirfd(d), e->d_name, 0)) {
			char *path = sv_path_dup(dir, e->d_name);
			report(v, path ? path : e->d_name, "leftover temp file from an interrupted write (the next put removes it)");
			free(path);
		}
	}
	closedir(d);
	return 0;
}

static int walk(verify_run *v, const char *objects_dir)
{
	char *sha = sv_path_dup(objects_dir, "sha256"), *tmp = sv_path_dup(objects_dir, "tmp");
	DIR *top = NULL, *d = NULL;
	struct dirent *e;
	int rc = 0;

	if (!sha || !tmp) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if (!(top = opendir(objects_dir))) {
		rc = sv_error_errno(errno, "cannot open '%s'", objects_dir);
		goto done;
	}
	while ((e = readdir(top))) {
		const char *n = e->d_name;
		if (strcmp(n, ".") && strcmp(n, "..") && strcmp(n, "sha256") && strcmp(n, "tmp") &&
		    strcmp(n, "sync-stamp")) {
			char *path = sv_path_dup(objects_dir, n);
			report(v, path ? path : n, "unexpected file in the object store");
			free(path);
		}
	}
	if (!(d = opendir(sha))) {
		rc = sv_error_errno(errno, "cannot open '%s'", sha);
		goto done;
	}
	while (rc == 0 && (e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *path = sv_path_dup(sha, e->d_name);
		if (!path) {
			rc = sv_error_set(SV_EIO, "out of memory");
			break;
		}
		if (strlen(e->d_name) == 2 && sv_hex_is_lower(e->d_name, 2) &&
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			rc = walk_prefix_dir(v, path, e->d_name);
		else
			report(v, path, "misplaced: not an object or a two-digit prefix folder");
		free(path);
	}
	if (rc == 0)
		rc = walk_temps(v, tmp);
done:
	if (d)
		closedir(d);
	if (top)
		closedir(top);
	free(sha);
	free(tmp);
	return rc;
}

int sv_verify_objects(const char *objects_dir, const sv_verify_options *opts, sv_verify_stats *out)
{
	verify_run v = {.opts = opts};
	pthread_t th[64];
	int n = opts->threads > 0 ? opts->threads : (int)sysconf(_SC_NPROCESSORS_ONLN), started = 0;
	int rc;

	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	pthread_mutex_init(&v.mu, NULL);
	pthread_cond_init(&v.not_empty, NULL);
	pthread_cond_init(&v.not_full, NULL);
	pthread_cond_init(&v.progressed, NULL);
	clock_gettime(CLOCK_MONOTONIC, &v.last_progress);
	for (; started < n; started++)
		if (pthread_create(&th[started], NULL, worker_main, &v) != 0)
			break;
	if (started == 0) {
		rc = sv_error_set(SV_EIO, "cannot start a thread");
		goto done;
	}
	rc = walk(&v, objects_dir);

	pthread_mutex_lock(&v.mu);
	v.closed = 1;
	pthread_cond_broadcast(&v.not_empty);
	while (v.head != v.tail || v.busy > 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&v.progressed, &v.mu, &until);
		pthread_mutex_unlock(&v.mu);
		maybe_progress(&v);
		pthread_mutex_lock(&v.mu);
	}
	pthread_mutex_unlock(&v.mu);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
done:
	if (out)
		*out = v.stats;
	pthread_mutex_destroy(&v.mu);
	pthread_cond_destroy(&v.not_empty);
	pthread_cond_destroy(&v.not_full);
	pthread_cond_destroy(&v.progressed);
	return rc;
}
