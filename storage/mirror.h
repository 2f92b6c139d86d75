/*
 * storage/mirror.h -- offsite mirrors: copying an archive's objects and
 * ledger to a remote (push), checking the copy (verify) and bringing an
 * archive up to date from it (pull; clone is a pull into a new archive).
 *
 * A remote holds the objects at <objects URL>/sha256/ab/<hex>.zst, byte for
 * byte the files of the local store (sv_objects_name), and the ledger in a
 * git repository.
 *
 * What stays true:
 * - The remote never gets a ledger that names objects it lacks: the branch
 *   tips are snapshotted first, then the objects are uploaded, then exactly
 *   those tips are pushed, and only if every upload succeeded and every
 *   object their new capture records name is known to be on the remote.
 * - What the remote holds is remembered in STATE/NAME.have (one hex digest a
 *   line, after a header naming the objects URL), appended and fsync'd after
 *   each batch of finished uploads. A push killed at any point loses at most
 *   the record of one batch, whose objects are uploaded again (harmlessly:
 *   objects never change) by the next push.
 * - A pull never lets an unverified object appear under its final name: each
 *   one is taken in through sv_objects_adopt, which re-hashes it first.
 * - No secret is written to salvage.conf, and none appears in a message:
 *   keys come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *   AWS_SESSION_TOKEN) or from ssh key files and the agent.
 *
 * The engine works on the handles it is given and prints nothing: counts come
 * back in a result struct, progress and each problem through the callbacks of
 * the options. Functions return 0 or a negative SV_E code, with the message
 * kept aside (common/error.h). Deciding what that means for an exit status is
 * the caller's business.
 */
#ifndef SV_MIRROR_H
#define SV_MIRROR_H

#include "ledger.h"
#include "objects.h"

#include <stddef.h>
#include <stdint.h>

/*
 * A mirror's settings (a [remote "NAME"] section of salvage.conf). Strings
 * are NULL when not set. No secret is ever kept here.
 */
typedef struct {
	char *name;
	char *objects;     /* remote.NAME.objects: file:///path, sftp://user@host[:port]/path, s3://bucket/prefix */
	char *ledger;      /* remote.NAME.ledger: a git URL or path (see sv_ledger_push) */
	char *s3_endpoint; /* remote.NAME.s3Endpoint, e.g. https://s3.eu-west-1.amazonaws.com */
	char *s3_region;   /* remote.NAME.s3Region; NULL: us-east-1 */
	char *ssh_key;     /* remote.NAME.sshKey: a private key file */
	char *known_hosts; /* remote.NAME.knownHosts: the host keys to trust */
	int allow_http;    /* mirror.NAME.allowHttp: an http:// S3 endpoint is accepted (keys' signatures
			    * and any session token then travel in clear) */
} sv_mirror_remote;

void sv_mirror_remote_free(sv_mirror_remote *r); /* NULL is a no-op */

/*
 * Checks a remote before it is saved, and makes it fit to save: a valid
 * name, known URL schemes, no password anywhere, s3 settings only for s3,
 * an https S3 endpoint (http only with allow_http).
 * Relative ledger paths and key files become absolute. SV_EINVAL with a
 * message naming the problem.
 */
int sv_mirror_check_remote(sv_mirror_remote *r);

/* The archive's side of a mirror. */
typedef struct {
	sv_objects *objects;   /* the object store */
	sv_ledger *ledger;     /* the ledger */
	const char *state_dir; /* NAME.have and the locks (DIR/mirrors; made if missing) */
	const char *tmp_dir;   /* verify's downloads, and pull's partial ones (DIR/tmp) */
	/* mirror.multipartThreshold and mirror.multipartPartSize (0: the transport's
	 * defaults): s3 objects from this size go up in parts of that size, and pull
	 * keeps a download of an object from this size that was cut short and
	 * resumes it with a Range request. */
	int64_t multipart_threshold, multipart_part_size;
} sv_mirror_local;

typedef struct {
	uint64_t done;  /* objects uploaded (or failed), re-hashed or downloaded so far */
	uint64_t total; /* of this many */
	uint64_t bytes; /* object bytes moved so far (push, pull) */
} sv_mirror_progress;

/* A capture record that pull brings. Strings live until the callback returns. */
typedef struct {
	const char *record; /* the record as the ledger holds it, one JSON object */
	const char *url, *ts;
	const char *sha256; /* hex digest of the payload, or NULL */
	const char *kind;   /* "page" when the record has none */
	int status;
	int64_t length; /* payload bytes, -1 if absent */
} sv_mirror_capture;

/* Tells pull that the archive already has the capture of url at ts (sha256 NULL when none). */
typedef int (*sv_mirror_seen_fn)(void *set, const char *url, const char *ts, int status, const char *sha256);

/* Callbacks, each optional (NULL), all given ctx. */
typedef struct {
	/* After each object handled, with the counts so far. */
	void (*progress)(void *ctx, const sv_mirror_progress *p);
	/* push: an upload failed; name as on the remote ("sha256/ab/<hex>.zst"). */
	void (*failed)(void *ctx, const char *name, const char *why);
	/* verify, pull: one problem found, as one line of text. */
	void (*problem)(void *ctx, const char *text);
	/* Something the user should know that stops nothing (verify could not update NAME.have). */
	void (*warning)(void *ctx, const char *text);
	/* pull: calls seen for every capture the archive already has. */
	int (*known)(void *ctx, sv_mirror_seen_fn seen, void *set);
	/* pull: a capture record the archive does not have yet, once each; non-zero stops the pull. */
	int (*capture)(void *ctx, const sv_mirror_capture *c);
	void *ctx;
} sv_mirror_callbacks;

/* ---- push */

typedef struct {
	int recheck; /* list the remote instead of trusting STATE/NAME.have */
	sv_mirror_callbacks cb;
} sv_mirror_push_options;
#define SV_MIRROR_PUSH_OPTIONS_INIT {.recheck = 0}

typedef enum {
	SV_MIRROR_LEDGER_NOT_PUSHED,
	SV_MIRROR_LEDGER_PUSHED,     /* branches were sent */
	SV_MIRROR_LEDGER_UP_TO_DATE, /* the remote had every branch */
	SV_MIRROR_LEDGER_EMPTY,      /* there is no branch to push */
} sv_mirror_ledger_state;

typedef struct {
	int finished;       /* 1 once the push got past its uploads: the counts below are final */
	uint64_t uploaded;  /* objects uploaded */
	uint64_t bytes;     /* their bytes */
	uint64_t already;   /* objects the remote held before */
	uint64_t failed;    /* uploads that failed */
	uint64_t not_tried; /* objects left when the remote stopped answering (stopped) */
	int stopped;        /* the remote stopped answering: the push returns SV_EIO */
	int first_failure;  /* the code of the first failed upload (SV_ENOSPC: the remote is full) */
	sv_mirror_ledger_state ledger;
	size_t branches; /* branches pushed */
} sv_mirror_push_result;

/*
 * Uploads the objects remote r lacks, then pushes the ledger's branch tips as
 * they were when the push began (only if every upload succeeded). Failed
 * uploads are counted, not errors; a remote that stops answering is SV_EIO
 * ("stopped: ...") with out->finished and the counts set. out is always set.
 */
int sv_mirror_push(const sv_mirror_local *l, const sv_mirror_remote *r, const sv_mirror_push_options *o,
		   sv_mirror_push_result *out);

/* ---- verify */

typedef struct {
	int deep;      /* download and re-hash every object */
	double sample; /* otherwise this percentage of them, picked at random (0: none) */
	sv_mirror_callbacks cb;
} sv_mirror_verify_options;
#define SV_MIRROR_VERIFY_OPTIONS_INIT {.deep = 0}

typedef struct {
	size_t objects;    /* objects named by capture records */
	uint64_t records;  /* capture records read */
	size_t rehashed;   /* objects downloaded and re-hashed */
	size_t branches;   /* branch tips looked for in the remote ledger */
	uint64_t problems; /* problems reported */
} sv_mirror_verify_result;

/*
 * Every object named by a capture record of the ledger is on the remote with
 * the size of the local object file (one listing of the remote's sha256/
 * folder), and the remote ledger holds every branch tip of this one. Objects
 * found missing or damaged are dropped from STATE/NAME.have, so the next push
 * sends them again. Each problem goes to cb.problem and is counted; 0 when
 * the check ran, whatever it found.
 */
int sv_mirror_verify(const sv_mirror_local *l, const sv_mirror_remote *r, const sv_mirror_verify_options *o,
		     sv_mirror_verify_result *out);

/* ---- pull */

typedef struct {
	sv_mirror_callbacks cb;
} sv_mirror_pull_options;
#define SV_MIRROR_PULL_OPTIONS_INIT {.cb = {.ctx = NULL}}

typedef struct {
	size_t downloaded; /* objects brought in */
	uint64_t bytes;    /* their bytes on the remote */
	size_t already;    /* remote objects this archive had */
	uint64_t added;    /* capture records cb.capture took */
	uint64_t problems; /* problems reported */
} sv_mirror_pull_result;

/*
 * Brings the archive up to date from remote r: fetches the ledger, downloads
 * the objects of the remote it lacks (each re-hashed), then hands every
 * capture record not known (cb.known) to cb.capture, so that the caller can
 * list it. Running it again changes nothing. 0 when it ran, whatever
 * problems it found.
 */
int sv_mirror_pull(const sv_mirror_local *l, const sv_mirror_remote *r, const sv_mirror_pull_options *o,
		   sv_mirror_pull_result *out);

#endif
