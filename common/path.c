/*
 * common/path.c -- joining path names without silent truncation; writing whole buffers; syncing folders.
 */
#include "path.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int sv_path_join(char *buf, size_t cap, const char *a, const char *b)
{
	int n = snprintf(buf, cap, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= cap)
		return sv_error_set(SV_EINVAL, "path too long: '%s/%s'", a, b);
	return 0;
}

int sv_path_write_all(int fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sv_error_errno(errno, "cannot write '%s'", path);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

char *sv_path_dup(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}

int sv_path_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
	if (fd < 0 || fsync(fd) != 0)
		rc = sv_error_errno(errno, "cannot sync '%s'", path);
	if (fd >= 0)
		close(fd);
	return rc;
}
