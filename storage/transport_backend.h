/*
 * storage/transport_backend.h -- what the transports of storage/ share
 * behind transport.h: the handle, the table of operations each backend fills
 * in, name checks, messages, and the curl request runner of sftp and s3.
 * Private: only storage/transport*.c include it.
 *
 * Files: transport.c (the interface, names, opening by scheme),
 * transport_file.c, transport_sftp.c, transport_s3.c (one backend each) and
 * transport_curl.c (requests over a curl multi handle, replies).
 */
#ifndef SV_TRANSPORT_BACKEND_H
#define SV_TRANSPORT_BACKEND_H

#include "transport.h"

#include <stdint.h>

#include <curl/curl.h>
#include <libxml/tree.h>

#define DEFAULT_TRANSFERS 16
#define DEFAULT_CONNECT_TIMEOUT_S 30
#define DEFAULT_STALL_TIMEOUT_S 60
/* Temp files: TEMP_PREFIX<time>.<pid>.<counter>.<random hex>.<base name>. */
#define TEMP_PREFIX ".svtmp."
#define TEMP_PREFIX_LEN 7
/* Longest name segment: a temp name adds at most 60 bytes and must fit NAME_MAX (255). */
#define SEGMENT_MAX 180
/* Bounds on what is kept from the network. */
#define ERROR_BODY_MAX (64u * 1024) /* an HTTP error document */
#define IO_CHUNK (1u << 20)

typedef struct {
	const char *local; /* a file to upload, or NULL for data */
	const void *data;
	size_t len;
	const char *name;
} put_item;

typedef struct transport_job job;

/* A backend: what sv_transport_* call once names are checked. */
typedef struct {
	int (*stat)(sv_transport *t, const char *name, int64_t *size);
	/* Lists valid names (temps 0) or only temp files (temps 1) under dir. */
	int (*list)(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx);
	/* replace: NAME may exist with other content and must end up with ours. */
	int (*put)(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx);
	/* fd holds NAME's first `from` bytes (0: none) and is positioned after them; the
	 * rest is appended (or, if the server cannot resume, fd is emptied and all of
	 * NAME written). max: NAME's largest acceptable size; < 0: no limit. */
	int (*get)(sv_transport *t, const char *name, int fd, int64_t from, int64_t max);
	/* NULL when uploads leave no temp files (s3). */
	int (*remove)(sv_transport *t, const char *const *names, size_t n);
	/* s3: aborts unfinished multipart uploads under dir begun before `before` (a time_t)
	 * that are not ours to resume; *removed counts them. NULL elsewhere. */
	int (*clean_uploads)(sv_transport *t, const char *dir, int64_t before, size_t *removed);
	/* curl backends: sets the options of their own on each request (NULL for file). */
	void (*curl_setup)(job *j, CURL *e);
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
	int64_t mp_threshold, mp_part_size; /* multipart uploads: objects from this size, in parts of this size */
	char *mp_state_dir;                 /* NULL: multipart uploads are not resumed */
	char *token_header; /* "x-amz-security-token: ..." or NULL */
	/* Strings never to show in a message. */
	char *secrets[4];
};

/* A listing under way: which files the caller wants, and where they go. */
typedef struct {
	sv_transport *t;
	int temps;
	sv_transport_list_fn fn;
	void *ctx;
} list_state;

/* One request: what it sends, where its reply goes, and how it ended. */
struct transport_job {
	sv_transport *t;
	size_t index; /* the caller's item */
	char *url;
	char errbuf[CURL_ERROR_SIZE];
	int nobody;
	const char *method; /* NULL: curl's choice (GET, HEAD, or PUT for uploads) */
	int create_dirs;
	struct curl_slist *headers, *quote, *postquote;
	/* upload source: a file or memory */
	int upload;
	int in_fd;
	const unsigned char *data;
	int64_t in_off; /* where in in_fd the body starts (a multipart upload's part) */
	int64_t size, sent;
	int read_errno;
	/* reply: into out_fd, or into body (listings, and any HTTP error document) */
	int out_fd;
	int to_body;
	int64_t from;          /* a resumed GET: out_fd holds the first `from` bytes */
	int64_t range_start;   /* the first byte of a 206 reply (Content-Range), -1 if none */
	int restarted;         /* the server sent all of it (200): out_fd was emptied first */
	int range_bad;         /* a 206 reply for another range than asked */
	int64_t got, max;      /* max: limit on from + got; < 0: none */
	int write_errno, too_big;
	char *body;
	size_t body_len, body_max;
	/* how it ended */
	int failed;       /* set instead of running: the code, its message already set */
	int host_key_bad; /* an enum curl_khmatch + 1 when the host key was refused */
	CURLcode result;
	long status;    /* HTTP status; 0 for sftp */
	int64_t length; /* Content-Length or the remote file's size; -1 unknown */
	char etag[128]; /* the reply's ETag header, quotes included; "" if none */
	char *tmp;      /* sftp put: the temp name */
};

/* ---- transport.c: names, messages, shared helpers */

/* 1 if the len bytes at s are a valid name segment. */
int sv_transport_segment_ok(const char *s, size_t len);
/* 1 if name is a valid relative name ("" only with allow_empty). */
int sv_transport_name_ok(const char *name, int allow_empty);
/* The last segment of name. */
const char *sv_transport_base_of(const char *name);
/* A fresh temp name beside name, unique across processes and machines; NULL when out of memory. */
char *sv_transport_temp_name(const char *name);
/* Passes one listed file on to the caller, if it is what the listing is for. */
int sv_transport_emit(list_state *ls, const char *name, int64_t size);
/* Sets the last error to "<url>: <fmt...>" with every secret of t replaced by "***"; returns code. */
int sv_transport_fail(const sv_transport *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sv_transport_oom(const sv_transport *t);
/* write(2) until all is written; -1 with errno. */
int sv_transport_write_all(int fd, const void *buf, size_t len);
void sv_transport_free_strings(char **v, size_t n);
/* A part of a parsed URL in a fresh string, or NULL. */
char *sv_transport_url_part(CURLU *u, CURLUPart part, unsigned flags);
void sv_transport_strip_slashes(char *s);

/* ---- the backends: each fills in t (its ops among them) from the parsed URL */

int sv_transport_file_open(sv_transport *t, CURLU *u, const sv_transport_options *o);
int sv_transport_sftp_open(sv_transport *t, CURLU *u, const sv_transport_options *o);
int sv_transport_s3_open(sv_transport *t, CURLU *u, const sv_transport_options *o);

/* ---- transport_s3.c and transport_s3_multipart.c */

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MP_MAX_PARTS 10000

/* The x-amz-content-sha256 header (and the session token's) on j. */
int sv_transport_s3_headers(sv_transport *t, job *j, const char *sha_hex);
/* Percent-encodes s as SigV4 wants query values; NULL when out of memory. */
char *sv_transport_s3_query_encode(const char *s);
/* The SHA-256 of j's upload source (size bytes from in_off) into hex. */
int sv_transport_s3_body_sha256(sv_transport *t, const put_item *it, const job *j, char *hex);
/* Uploads the size bytes of it->local as a multipart upload, resuming the one its state file names. */
int sv_transport_s3_multipart(sv_transport *t, const put_item *it, int64_t size);
int sv_transport_s3_clean_uploads(sv_transport *t, const char *dir, int64_t before, size_t *removed);
/* The CompleteMultipartUpload document for n parts (ETags as the server gave them); NULL when out of memory. */
char *sv_transport_s3_complete_xml(const char (*etags)[128], unsigned n);
/* Calls fn for each upload of a ListMultipartUploads page (Initiated as a time_t, -1 if unreadable);
 * *next_key and *next_id are the next page's markers (malloc'd) or NULL. SV_EIO if not such a page. */
typedef int (*sv_s3_upload_fn)(void *ctx, const char *key, const char *upload_id, int64_t initiated);
int sv_transport_s3_parse_uploads(const char *body, size_t len, sv_s3_upload_fn fn, void *ctx, char **next_key,
				  char **next_id);

/* ---- transport_curl.c: requests */

/* libcurl's and libxml2's global setup, once per process; 0 or SV_EIO. */
int sv_transport_curl_init(void);
/* The multi handle and handle pool of a curl backend, after its open. */
int sv_transport_curl_start(sv_transport *t);
void sv_transport_curl_close(sv_transport *t);

void sv_transport_job_init(job *j, sv_transport *t);
/* Frees what j holds and makes it fresh. */
void sv_transport_job_clear(job *j);
/* 1 if the request ran and succeeded (HTTP 2xx, or sftp). */
int sv_transport_job_ok(const job *j);
/*
 * Sets the message for a request that did not succeed ("cannot VERB 'NAME': why")
 * and returns its code. Call only when job_ok(j) is false.
 */
int sv_transport_job_error(job *j, const char *verb, const char *name);

/* Makes j ready (0), or returns the negative code it failed with (message set). */
typedef int (*prepare_fn)(void *ctx, size_t i, job *j);
/* Called once per item, after its request ended or its prepare failed. */
typedef void (*complete_fn)(void *ctx, job *j);
/*
 * Runs n requests, up to t->limit at once, on the transport's multi handle.
 * Returns 0, or a negative code if the multi handle itself failed (items not
 * yet completed are then completed as failed with that code).
 */
int sv_transport_run_batch(sv_transport *t, size_t n, prepare_fn prepare, complete_fn complete, void *ctx);
/* Runs one prepared request; its outcome is in j (which the caller clears). */
int sv_transport_run_one(sv_transport *t, job *j);

/* base_url/prefix/name, with a trailing '/' for a folder; NULL when out of memory. */
char *sv_transport_remote_url(const sv_transport *t, const char *name, int folder);
/* GETs name into fd with the headers j holds, resuming after `from` bytes (see
 * transport_ops.get; at most max bytes in all, max < 0: no limit); clears j. */
int sv_transport_curl_get(sv_transport *t, job *j, const char *name, int fd, int64_t from, int64_t max);

/* A batch of uploads under way. */
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

/* Item i is done: rc 0, or its code with the message last set. */
void sv_transport_put_report(put_state *s, size_t i, int rc);
/* Opens the upload source of it into j. */
int sv_transport_put_source(sv_transport *t, const put_item *it, job *j);
/* The batch's result: rc, or the first item's failure (its message set again). */
int sv_transport_put_finish(put_state *s, int rc);

/* ---- transport_curl.c: replies */

/* A reply's XML, parsed without network access, DTDs or entity substitution; NULL if not XML. */
xmlDocPtr sv_transport_xml_parse(const char *buf, size_t len);
xmlNodePtr sv_transport_xml_child(xmlNodePtr parent, const char *name);
/* The text directly inside an element, into buf (cut to fit); "" if none. */
const char *sv_transport_xml_text(xmlNodePtr n, char *buf, size_t cap);
void sv_transport_trim_newline(char *s);

#endif
