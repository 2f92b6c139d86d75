/*
 * crawler/partial.c -- partial downloads kept in tmp/ (see partial.h).
 */
#include "partial.h"

#include "../common/error.h"
#include "../storage/objects.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define REPLAY_CHUNK (1u << 20)

void sv_partial_init(sv_partial *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

static int name(sv_partial *p, const char *tmp_dir, const char *url)
{
	sv_digest d;
	unsigned int n;
	char hex[SV_DIGEST_HEX_LEN + 1];
	if (EVP_Digest(url, strlen(url), d.bytes, &n, EVP_sha256(), NULL) != 1)
		return sv_error_set(SV_EIO, "SHA-256 failed");
	sv_digest_to_hex(&d, hex);
	if (snprintf(p->path, sizeof(p->path), "%s/partial-%s", tmp_dir, hex) >= (int)sizeof(p->path) ||
	    snprintf(p->meta, sizeof(p->meta), "%s/partial-%s.meta", tmp_dir, hex) >= (int)sizeof(p->meta))
		return sv_error_set(SV_EINVAL, "temp path too long under '%s'", tmp_dir);
	return 0;
}

int sv_partial_find(sv_partial *p, const char *tmp_dir, const char *url)
{
	char buf[8192 + 600];
	struct stat st;
	sv_partial_init(p);
	if (name(p, tmp_dir, url) != 0)
		return 0;
	FILE *m = fopen(p->meta, "re");
	if (!m)
		return 0;
	p->exists = 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, m);
	fclose(m);
	buf[n] = '\0';
	/* "URL\nVALIDATOR\n": the URL must be this one (a hash collision is not a resume). */
	char *nl = strchr(buf, '\n');
	if (!nl || (size_t)(nl - buf) != strlen(url) || memcmp(buf, url, strlen(url)))
		return 0;
	char *v = nl + 1, *end = strchr(v, '\n');
	if (!end || end == v || (size_t)(end - v) >= sizeof(p->validator))
		return 0;
	memcpy(p->validator, v, (size_t)(end - v));
	p->validator[end - v] = '\0';
	if (stat(p->path, &st) != 0 || st.st_size == 0)
		return 0;
	p->have = st.st_size;
	return 1;
}

int sv_partial_begin(sv_partial *p, const char *tmp_dir, const char *url, const char *validator)
{
	int rc;
	sv_partial_init(p);
	if ((rc = name(p, tmp_dir, url)))
		return rc;
	if (strlen(validator) >= sizeof(p->validator) || strchr(validator, '\n'))
		return sv_error_set(SV_EINVAL, "validator not kept");
	snprintf(p->validator, sizeof(p->validator), "%s", validator);
	/* The body first, the meta file last: a meta file always describes its body. */
	p->exists = 1;
	unlink(p->meta);
	p->fd = open(p->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (p->fd < 0)
		return sv_error_errno(errno, "cannot create '%s'", p->path);
	FILE *m = fopen(p->meta, "we");
	if (!m || fprintf(m, "%s\n%s\n", url, validator) < 0 || fclose(m) != 0) {
		if (m)
			fclose(m);
		sv_partial_discard(p);
		return sv_error_errno(errno, "cannot write '%s'", p->meta);
	}
	return 0;
}

int sv_partial_resume(sv_partial *p)
{
	p->fd = open(p->path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (p->fd < 0)
		return sv_error_errno(errno, "cannot open '%s'", p->path);
	return 0;
}

int sv_partial_append(sv_partial *p, const void *buf, size_t len)
{
	const char *c = buf;
	while (len > 0) {
		ssize_t n = write(p->fd, c, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sv_error_errno(errno, "cannot write '%s'", p->path);
		}
		c += n;
		len -= (size_t)n;
		p->have += n;
	}
	return 0;
}

int sv_partial_replay(const sv_partial *p, int (*fn)(void *ctx, const void *buf, size_t len), void *ctx)
{
	int fd = open(p->path, O_RDONLY | O_CLOEXEC), rc = 0;
	char *buf = malloc(REPLAY_CHUNK);
	int64_t left = p->have;
	if (fd < 0 || !buf) {
		rc = fd < 0 ? sv_error_errno(errno, "cannot open '%s'", p->path) : sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	while (left > 0 && rc == 0) {
		ssize_t n = read(fd, buf, left < REPLAY_CHUNK ? (size_t)left : REPLAY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = sv_error_set(SV_EIO, "'%s' is shorter than it was", p->path);
			break;
		}
		rc = fn(ctx, buf, (size_t)n);
		left -= n;
	}
done:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static void drop_fd(sv_partial *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

void sv_partial_close(sv_partial *p)
{
	/* Kept for a resume: on disk before anything relies on it, so that a
	 * power cut cannot leave a body whose tail was never written. */
	if (p->fd >= 0)
		fdatasync(p->fd);
	drop_fd(p);
}

void sv_partial_discard(sv_partial *p)
{
	drop_fd(p);
	if (p->exists) {
		unlink(p->meta);
		unlink(p->path);
	}
	p->exists = 0;
	p->have = 0;
}

int sv_partial_clean(const char *tmp_dir)
{
	DIR *d = opendir(tmp_dir);
	struct dirent *e;
	if (!d)
		return errno == ENOENT ? 0 : sv_error_errno(errno, "cannot read '%s'", tmp_dir);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "partial-", 8) != 0 || (len > 5 && !strcmp(e->d_name + len - 5, ".meta")))
			continue;
		char meta[NAME_MAX + 8];
		snprintf(meta, sizeof(meta), "%s.meta", e->d_name);
		if (faccessat(dirfd(d), meta, F_OK, 0) != 0 && errno == ENOENT)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return 0;
}
