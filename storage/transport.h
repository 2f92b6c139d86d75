/*
 * storage/transport.h -- copying files to and from a mirror's object location.
 *
 * A transport is opened from a URL:
 *   file:///abs/path              plain files on this machine
 *   sftp://user@host[:port]/path  SFTP (libcurl with libssh2); /~/path is under
 *                                 the user's home. The host key must be in
 *                                 known_hosts: an unknown or changed key is refused.
 *   s3://bucket[/prefix]          S3 or a compatible server, signed with AWS
 *                                 SigV4, path-style: ENDPOINT/bucket/prefix/NAME
 *
 * Files are named by relative paths under that location, such as
 * "objects/sha256/ab/<64 hex>.zst": segments of 1 to 180 bytes of
 * [A-Za-z0-9._-] joined by single '/', none "." or "..", none starting with
 * ".svtmp" (reserved for temp names), at most SV_TRANSPORT_NAME_MAX bytes in
 * all. Other names are SV_EINVAL, before anything is sent.
 *
 * A file appears under its name only complete: file and sftp upload to a temp
 * name in the same remote folder (".svtmp.<time>.<pid>.<counter>.<random>.<base>",
 * so two pushes at once never collide) and rename it; an S3 PUT is atomic by
 * nature; large files go up as S3 multipart uploads, and appear under their
 * name only once complete. Missing folders are made. A push that is
 * interrupted can leave temp files (unfinished multipart uploads on s3);
 * listings never show them and sv_transport_clean_temps() removes them.
 *
 * Errors are sv_error_set() codes: SV_EINVAL for a bad URL, name or option,
 * SV_ENOTFOUND for a missing remote file, SV_EIO for everything else (network,
 * refused keys, server errors). Messages name the URL without its user name or
 * password, and never contain a secret.
 *
 * Network transfers give up when they cannot connect (and, for sftp, log in)
 * within connect_timeout_s, or move no data for about stall_timeout_s (curl
 * averages the speed over a few seconds). Only the URL's own scheme is used,
 * redirects are not followed, and https endpoints have their certificates
 * checked against the system's CAs.
 *
 * A transport handle is used by one thread at a time.
 */
#ifndef SV_TRANSPORT_H
#define SV_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#define SV_TRANSPORT_NAME_MAX 1024
/* The defaults of sv_transport_options' multipart sizes. */
#define SV_TRANSPORT_MULTIPART_THRESHOLD ((int64_t)64 << 20)
#define SV_TRANSPORT_MULTIPART_PART_SIZE ((int64_t)16 << 20)

typedef struct sv_transport sv_transport;

typedef struct {
	/* s3 only. The endpoint is required: "https://s3.eu-west-1.amazonaws.com",
	 * "http://127.0.0.1:9000". Region NULL: "us-east-1". The keys are the
	 * caller's (from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, if set,
	 * AWS_SESSION_TOKEN); this module reads no environment. */
	const char *s3_endpoint;
	const char *s3_region;
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* NULL or "": none */
	/* sftp only. ssh_key NULL: the first of ~/.ssh/id_ed25519, id_ecdsa and
	 * id_rsa that exists (unencrypted); the ssh-agent is tried as well.
	 * ssh_known_hosts NULL: ~/.ssh/known_hosts. A password in the URL is used
	 * if the server asks for one. */
	const char *ssh_key;
	const char *ssh_known_hosts;
	/* Transfers at once; 0: 16. SFTP opens one connection per transfer, so it
	 * uses at most 8 (OpenSSH drops unauthenticated connections beyond 10 by
	 * default). */
	int transfers;
	int connect_timeout_s; /* 0: 30 */
	int stall_timeout_s;   /* 0: 60 */
	/* 1 for a push: a missing location is made (file: its last folder, when
	 * the folder above exists; sftp: the folders of each upload; s3: a
	 * prefix needs nothing). 0: a missing file location is an error. */
	int create;
	/* s3 only. An http:// endpoint sends the keys' signatures and any session
	 * token in clear: refused (SV_EINVAL) unless this is set. */
	int s3_allow_http;
	/* s3 only: files from multipart_threshold bytes on (0: 64 MiB) go up as
	 * multipart uploads in parts of multipart_part_size bytes (0: 16 MiB; raised
	 * as needed to stay within S3's 10,000 parts). Real S3 refuses parts under
	 * 5 MiB except the last: smaller sizes are for test servers. */
	int64_t multipart_threshold;
	int64_t multipart_part_size;
	/* s3 only: a folder of this machine where each multipart upload under way
	 * keeps its upload id and the ETags of its stored parts (one file per remote
	 * name, made durable after each part), so that a push killed midway resumes
	 * it without sending those parts again. NULL: an interrupted multipart upload
	 * starts over (and the old one is aborted when it is old enough). */
	const char *multipart_state_dir;
} sv_transport_options;
#define SV_TRANSPORT_OPTIONS_INIT {NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, NULL}

/* opts may be NULL (an s3 URL then fails: it needs an endpoint and keys). */
int sv_transport_open(sv_transport **out, const char *url, const sv_transport_options *opts);
void sv_transport_free(sv_transport *t); /* NULL is a no-op */

/* The URL without user name or password, for messages. */
const char *sv_transport_url(const sv_transport *t);

/* The size of NAME in bytes into *size, or -1 if there is no such file. */
int sv_transport_stat(sv_transport *t, const char *name, int64_t *size);

/* Called for each file found; a non-zero return stops the listing and is returned. */
typedef int (*sv_transport_list_fn)(void *ctx, const char *name, int64_t size);

/*
 * Every file under the folder DIR ("" for the whole location), at any depth,
 * in no particular order, with names relative to the location (as given to
 * put). A missing folder lists nothing. Temp files and names that are not
 * valid names are left out.
 */
int sv_transport_list(sv_transport *t, const char *dir, sv_transport_list_fn fn, void *ctx);

/* Called once per file of a put_many: code 0 and message NULL when it was stored. */
typedef void (*sv_transport_done_fn)(void *ctx, size_t i, int code, const char *message);

/*
 * Uploads local[i] to name[i] for i < n, up to opts->transfers at once. For
 * files that never change once written (objects): where the remote already
 * has name[i], the remote copy may be kept (sftp) or replaced. done may be
 * NULL. Returns 0 if every file was stored, else the code of the first
 * failure, whose message is then the last error.
 */
int sv_transport_put_many(sv_transport *t, const char *const *local, const char *const *name, size_t n,
			  sv_transport_done_fn done, void *ctx);

/*
 * Stores len bytes as NAME, replacing any file of that name (markers, state
 * files). Readers see the old or the new content, except on sftp, where a
 * replacement is a remove then a rename: a reader may briefly find no file.
 */
int sv_transport_put_data(sv_transport *t, const char *name, const void *buf, size_t len);

/* Writes NAME's content to fd, from its current offset. The caller checks what
 * it got; after a failure fd may hold part of the file. max >= 0: a file
 * larger than max bytes fails with SV_ECORRUPT as soon as more has come (at
 * most one network buffer past max is read, none is written), so that a
 * mirror sending more than its listing said cannot fill the disk. */
int sv_transport_get(sv_transport *t, const char *name, int fd, int64_t max);

/*
 * Resumes a download cut short: fd holds the first `from` bytes of NAME, and
 * gets the rest after them (an HTTP Range request for s3; a 206 reply must
 * start where asked). A server that sends all of NAME instead (200) is taken
 * as a fresh start: fd is emptied first. The caller checks what it got.
 */
int sv_transport_get_rest(sv_transport *t, const char *name, int fd, int64_t from, int64_t max);

/* Reads NAME, at most max bytes (a larger file fails), into a malloc'd *out (NUL-terminated). */
int sv_transport_get_data(sv_transport *t, const char *name, size_t max, char **out, size_t *len);

/*
 * Removes temp files under DIR ("" for all) whose upload began more than
 * min_age_s seconds ago: leftovers of interrupted pushes. Pick an age longer
 * than any push takes, so that uploads running now are spared. removed may be NULL.
 */
int sv_transport_clean_temps(sv_transport *t, const char *dir, int64_t min_age_s, size_t *removed);

#endif
