/*
 * storage/objects.h -- the content-addressed object store.
 *
 * An object is objects/sha256/ab/<64 hex>.zst: standard zstd (checksum flag
 * set, content size recorded where known) whose decompressed bytes hash to
 * the file name. Writers stream: the payload is hashed and compressed in one
 * pass into a locked temp file under objects/tmp/ (same filesystem), which is
 * renamed into place on commit. A reader never sees a partial object, an
 * existing object is never rewritten, and memory stays flat whatever the size.
 *
 * Durability is batched: commit does not fsync; sv_objects_sync() makes every
 * object committed so far durable with one syncfs(). Objects renamed after the
 * last completed sync are "unconfirmed": if a power cut left one damaged, the
 * next writer of the same payload notices and replaces it.
 *
 * A store handle is used by one thread at a time.
 */
#ifndef SV_OBJECTS_H
#define SV_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

#define SV_DIGEST_LEN 32
#define SV_DIGEST_HEX_LEN 64

typedef struct {
	unsigned char bytes[SV_DIGEST_LEN];
} sv_digest;

/* hex must hold SV_DIGEST_HEX_LEN + 1 bytes. */
void sv_digest_to_hex(const sv_digest *d, char *hex);
/* Accepts exactly 64 hex digits, either case; SV_EINVAL otherwise. */
int sv_digest_from_hex(sv_digest *out, const char *hex);

typedef struct sv_objects sv_objects;
typedef struct sv_objects_writer sv_objects_writer;
typedef struct sv_objects_reader sv_objects_reader;

typedef struct {
	int level;   /* zstd level, 1..19; default 3 */
	int threads; /* compression workers for large payloads; 0 = one per CPU, 1 = none */
} sv_objects_options;
#define SV_OBJECTS_OPTIONS_INIT {3, 0}

/* Opens the store rooted at objects_dir (created if missing, with sha256/ and tmp/). */
int sv_objects_open(sv_objects **out, const char *objects_dir, const sv_objects_options *opts);
void sv_objects_free(sv_objects *store); /* NULL is a no-op */

/*
 * Names. An object's name is its path under the store's folder,
 * "sha256/ab/<64 hex>.zst" (lower-case hex); mirrors name their copies the
 * same way. This is the one place that spells it.
 */
#define SV_OBJECTS_NAME_LEN (7 + 3 + SV_DIGEST_HEX_LEN + 4)
void sv_objects_name(const sv_digest *d, char name[SV_OBJECTS_NAME_LEN + 1]);
/* 1 and the digest into *out if name is exactly an object's name as sv_objects_name writes it, else 0. */
int sv_objects_name_parse(const char *name, sv_digest *out);
/* The object's absolute path, into buf (at least PATH_MAX bytes is always enough). */
int sv_objects_path(const sv_objects *store, const sv_digest *d, char *buf, size_t cap);
/* 1 if present, 0 if not, negative on error. */
int sv_objects_exists(const sv_objects *store, const sv_digest *d);

/* Called once per stored object; size is the file's bytes, or -1 when not asked for. Non-zero stops. */
typedef int (*sv_objects_each_fn)(void *ctx, const sv_digest *d, int64_t size);
/*
 * Calls fn for every object file under sha256/ (files named as the store
 * names them, in no particular order; temp files and strays are skipped),
 * stat()ing each one only if with_sizes. A file that vanishes meanwhile is
 * skipped. Returns fn's first non-zero value, or an error.
 */
int sv_objects_foreach(const sv_objects *store, int with_sizes, sv_objects_each_fn fn, void *ctx);

/* Makes every object committed so far (by any process, on this filesystem) durable. */
int sv_objects_sync(sv_objects *store);

/* Removes temp files left by writers that died (no live writer holds their lock). */
int sv_objects_clean_temps(sv_objects *store, unsigned *removed);
/* 1 if the temp file name in dirfd was left by a dead writer (and, with remove, is now gone). */
int sv_objects_temp_stale(int dirfd, const char *name, int remove);

/*
 * Writing. size_hint is the payload length when known in advance (recorded in
 * the frame; writing a different number of bytes fails), or -1.
 */
int sv_objects_writer_new(sv_objects_writer **out, sv_objects *store, int64_t size_hint);
int sv_objects_writer_write(sv_objects_writer *w, const void *buf, size_t len);

typedef struct {
	uint64_t length; /* payload bytes */
	uint64_t stored; /* bytes of the object file */
	int existed;     /* 1 if the object was already stored (nothing written) */
} sv_objects_commit_info;

/* Finishes the object and frees the writer, whatever the result. info may be NULL. */
int sv_objects_writer_commit(sv_objects_writer *w, sv_digest *out, sv_objects_commit_info *info);
/* Drops the payload written so far and frees the writer. NULL is a no-op. */
void sv_objects_writer_abort(sv_objects_writer *w);

/* Writes an object file's bytes, as found elsewhere, into fd (a fresh temp file). */
typedef int (*sv_objects_fill_fn)(void *ctx, int fd);

/*
 * Takes in an object file made elsewhere (a mirror's copy) byte for byte:
 * fill writes it into a locked temp file under objects/tmp/, which is then
 * decompressed and re-hashed against d (SV_ECORRUPT, and nothing is kept,
 * if it does not match), its frames checked as verify checks them, and
 * linked under its name; an existing object is kept (info->existed). A
 * sound payload in frames that break the store's rules (no checksum, say)
 * is written again through a writer instead. Like commit, it does not
 * fsync: sv_objects_sync() does. info may be NULL.
 */
int sv_objects_adopt(sv_objects *store, const sv_digest *d, sv_objects_fill_fn fill, void *ctx,
		     sv_objects_commit_info *info);

/* Called after each chunk with the bytes read so far. */
typedef void (*sv_objects_progress_fn)(void *ctx, uint64_t done);

/* Streams everything from fd into a new object. progress may be NULL. */
int sv_objects_put_fd(sv_objects *store, int fd, int64_t size_hint, sv_digest *out,
		      sv_objects_commit_info *info, sv_objects_progress_fn progress, void *ctx);

/*
 * Reading. The reader re-hashes what it returns: the read that reaches the end
 * fails with SV_ECORRUPT if the payload does not match its name or the frames
 * are truncated or invalid.
 */
int sv_objects_reader_open(sv_objects_reader **out, const sv_objects *store, const sv_digest *d);
/* The same for an object file named by path; expect NULL skips the hash check. */
int sv_objects_reader_open_path(sv_objects_reader **out, const char *path, const sv_digest *expect);
/* Reads a whole object file and checks it, as the reader does; 0 if sound. */
int sv_objects_check_path(const char *path, const sv_digest *expect);
/* Reads up to cap bytes into buf; *got is 0 only at the (verified) end. */
int sv_objects_reader_read(sv_objects_reader *r, void *buf, size_t cap, size_t *got);
void sv_objects_reader_free(sv_objects_reader *r); /* NULL is a no-op */

#endif
