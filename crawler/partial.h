/*
 * crawler/partial.h -- partial downloads kept in tmp/, so that a transfer cut
 * short (a reset, a timeout, kill -9, a restart) resumes with a Range request
 * instead of starting again.
 *
 * A partial file is named by the SHA-256 of its URL, never by the URL itself;
 * a sidecar .meta file holds the URL and the validator (ETag, else
 * Last-Modified) sent back in If-Range, so a changed file is fetched whole.
 */
#ifndef SV_PARTIAL_H
#define SV_PARTIAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	int fd;               /* open for appending while keeping; -1 otherwise */
	char path[4096], meta[4096];
	int64_t have;         /* bytes kept */
	char validator[512];  /* for If-Range */
	int exists;           /* files may be in tmp/ (found, or begun) */
} sv_partial;

void sv_partial_init(sv_partial *p);
/* 1 and p filled when a partial download of url is kept in tmp_dir, 0 when none. */
int sv_partial_find(sv_partial *p, const char *tmp_dir, const char *url);
/* Starts keeping url's body from its first byte, replacing any older partial file. */
int sv_partial_begin(sv_partial *p, const char *tmp_dir, const char *url, const char *validator);
/* Reopens a found partial file for appending after its last byte. */
int sv_partial_resume(sv_partial *p);
int sv_partial_append(sv_partial *p, const void *buf, size_t len);
/* Passes the kept bytes, in order, to fn (a non-zero return stops and is returned). */
int sv_partial_replay(const sv_partial *p, int (*fn)(void *ctx, const void *buf, size_t len), void *ctx);
void sv_partial_close(sv_partial *p);   /* keeps the files (synced) for a later resume */
void sv_partial_discard(sv_partial *p); /* removes them */
/* Removes partial bodies without a meta file (a crash between the two). */
int sv_partial_clean(const char *tmp_dir);

#endif
