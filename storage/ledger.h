/*
 * storage/ledger.h -- the tamper-evident ledger: a bare git repository
 * (DIR/ledger.git) written directly with libgit2, no work tree.
 *
 * Each checkpoint is one commit on a branch ("main", or "nodes/<node>" in a
 * distributed crawl) whose tree is the branch tip's tree plus the files of
 * the checkpoint: sheets/<name>.csv and captures/<node>/<YYYY-MM-DD>/<seq>.jsonl.
 * Commit ids chain every earlier capture, so history is the chain of custody.
 *
 * What stays true:
 * - A commit is durable when sv_ledger_commit returns: libgit2 fsyncs every
 *   object and the ref (GIT_OPT_ENABLE_FSYNC_GITDIR, set for the process).
 * - A branch only moves forward. Ref updates are compare-and-swap against the
 *   tip the commit was built on, so processes committing to one branch never
 *   lose each other's commits (salvage processes take turns through an flock
 *   on ledger.git/salvage.lock; anything else moving the branch makes the
 *   commit retry on the new tip). Pushes and fetches refuse anything that is
 *   not a fast-forward.
 * - Every ref update is logged (core.logAllRefUpdates), which lets
 *   sv_ledger_check notice a branch whose history was rewritten afterwards.
 *
 * Errors: 0 or a negative SV_E* code with the message kept aside
 * (common/error.h). A handle is used by one thread at a time and is not
 * shared across fork(): open one per process.
 */
#ifndef SV_LEDGER_H
#define SV_LEDGER_H

#include <stddef.h>

typedef struct sv_ledger sv_ledger;

/* Creates a bare repository at path (parents too) with HEAD -> refs/heads/main.
 * An existing bare repository is left as it is; anything else at path is SV_EINVAL. */
int sv_ledger_init(const char *path);

/* Opens the ledger at path. node names the committer ("salvage <salvage@NODE>");
 * NULL uses the host name. */
int sv_ledger_open(sv_ledger **out, const char *path, const char *node);
void sv_ledger_free(sv_ledger *l); /* NULL is a no-op */

typedef struct {
	const char *path; /* in the tree, e.g. "captures/n1/2026-11-24/1.jsonl" */
	const void *data;
	size_t len;
} sv_ledger_file;

/*
 * One commit on refs/heads/<branch>: the tip's tree plus files (added, or
 * replacing the file at the same path; folders created as needed), with
 * message. If that leaves the tree as it was, no commit is made (*made = 0,
 * commit_hex = the current tip, or "" for a branch that does not exist).
 * Otherwise *made = 1 and commit_hex is the new commit. Either output may be
 * NULL. A path given twice, a path that would replace a folder by a file or
 * the reverse, or a path with empty, "." or ".." parts is SV_EINVAL.
 */
int sv_ledger_commit(sv_ledger *l, const char *branch, const char *message, const sv_ledger_file *files,
		     size_t n, int *made, char commit_hex[41]);

/*
 * Calls fn for every line of every file under captures/ in the tip of every
 * branch (refs/heads/...), files in byte order of their paths (as git sorts
 * them: "10.jsonl" comes before "2.jsonl"), lines in file order. line is NUL-terminated, without its '\n'; a file's final '\n' does
 * not start an empty line. A file identical in several branches (same path
 * and content) is read once. Stops at, and returns, fn's first non-zero value.
 */
int sv_ledger_records(sv_ledger *l, int (*fn)(void *ctx, const char *path, const char *line, size_t len),
		      void *ctx);

/* The file at path in the tip of branch, in a fresh NUL-terminated buffer
 * (free() it); SV_ENOTFOUND if the branch or the file does not exist. */
int sv_ledger_read(sv_ledger *l, const char *branch, const char *path, char **data, size_t *len);
/* The names of the files in folder dir of the tip of branch, sorted, into
 * *names (free each, then the array); none when the branch or the folder is
 * not there. */
int sv_ledger_list(sv_ledger *l, const char *branch, const char *dir, char ***names, size_t *n);

/*
 * Reads every object reachable from every ref, re-hashing each one: commits
 * and their parents, trees, blobs. Also reports a branch whose earlier tips
 * (from its ref log) are no longer in its history, i.e. history rewritten.
 * Each problem goes to problem(ctx, text) (may be NULL) and is counted in
 * *problems. Returns 0 when the check ran, whatever it found.
 */
int sv_ledger_check(sv_ledger *l, void (*problem)(void *ctx, const char *what), void *ctx, long *problems);

/* How to reach a remote ledger. Only ssh uses these; NULL fields take defaults. */
typedef struct {
	/* Host keys to trust. NULL: ~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts. */
	const char *known_hosts;
	/* Private key file (its public half at <key>.pub if present). NULL: the
	 * ssh agent (SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
	const char *ssh_key;
	const char *ssh_passphrase; /* for ssh_key; NULL if it has none */
} sv_ledger_remote_options;
#define SV_LEDGER_REMOTE_OPTIONS_INIT {NULL, NULL, NULL}

/*
 * Pushes every branch (refs/heads/...) to url: file:///path or a plain path (a
 * bare repository is created there if missing), ssh://[user@]host[:port]/path
 * or [user@]host:path (the repository must exist), or https (user and
 * password from the URL). The URL is used as written (no url.*.insteadOf).
 * An ssh host key must match the known_hosts file: unknown, changed and
 * revoked keys are refused (SV_EIO) before logging in. A push that is not a
 * fast-forward is refused (SV_ECORRUPT): the remote's history is never
 * rewritten. Branches the remote already holds are not sent again. o may be
 * NULL. Messages never show a password from url.
 */
int sv_ledger_push(sv_ledger *l, const char *url, const sv_ledger_remote_options *o);

/* A branch tip, as sv_ledger_tips snapshots it. */
typedef struct {
	char branch[256];  /* "main", "nodes/<node>" (without refs/heads/) */
	char commit[41];   /* hex id of the commit */
} sv_ledger_tip;

/* The tip of every branch now, into a malloc'd array (free() it; *n may be 0). */
int sv_ledger_tips(sv_ledger *l, sv_ledger_tip **out, size_t *n);

/* Called for one line of a capture file; a non-zero return stops and is returned. */
typedef int (*sv_ledger_record_fn)(void *ctx, const char *path, const char *line, size_t len);

/*
 * Like sv_ledger_push, but pushes exactly these tips (taken earlier with
 * sv_ledger_tips), wherever the branches have moved since: what a mirror
 * push needs, whose objects were copied for those tips and no later ones.
 * Before anything is sent, check (if not NULL) sees every line of every
 * capture file that the pushed tips hold and the remote's tips do not (all
 * of a tip's files when the remote's commit is unknown here); its first
 * non-zero return stops the push and is returned. *pushed (may be NULL) is
 * the number of branches sent (0: the remote had them all).
 */
int sv_ledger_push_tips(sv_ledger *l, const char *url, const sv_ledger_remote_options *o, const sv_ledger_tip *tips,
			size_t n, sv_ledger_record_fn check, void *ctx, size_t *pushed);

/*
 * For each tip, whether url holds it: has[i] = 1 if the remote's branch of
 * that name is that commit or a descendant of it, else 0. Commits of the
 * remote unknown here are downloaded into the ledger's object store first
 * (no branch moves).
 */
int sv_ledger_remote_contains(sv_ledger *l, const char *url, const sv_ledger_remote_options *o,
			      const sv_ledger_tip *tips, size_t n, int *has);

/*
 * Fetches every branch (refs/heads/...) of url into this ledger: new branches
 * are created, branches behind are fast-forwarded, branches ahead are kept.
 * If any local branch would be rewritten, nothing is updated (SV_ECORRUPT).
 */
int sv_ledger_fetch(sv_ledger *l, const char *url, const sv_ledger_remote_options *o);

/* url for messages: the password (and for http(s), the whole user part) removed, into buf.
 * The policy is common/redact.h's (sv_redact_url): secret query values show as "***" too. */
void sv_ledger_url_redact(const char *url, char *buf, size_t cap);

#endif
