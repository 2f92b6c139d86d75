/*
 * common/path.h -- joining path names without silent truncation.
 */
#ifndef SV_PATH_H
#define SV_PATH_H

#include <stddef.h>

/* "a/b" into buf; SV_EINVAL (with a message) if it does not fit. */
int sv_path_join(char *buf, size_t cap, const char *a, const char *b);
/* "a/b" in a fresh string, NULL when out of memory. */
char *sv_path_dup(const char *a, const char *b);
/* Writes all of buf to fd (the file at path, for the message), retrying short writes and EINTR. */
int sv_path_write_all(int fd, const void *buf, size_t len, const char *path);
/* fsync()s the folder at path, so that entries made or renamed in it are durable. */
int sv_path_fsync_dir(const char *path);

#endif
