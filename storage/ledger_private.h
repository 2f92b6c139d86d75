/*
 * storage/ledger_private.h -- what ledger.c shares with ledger_remote.c: the
 * handle and the helpers both sides of the ledger use. Private: only
 * storage/ledger*.c include it.
 */
#ifndef SV_LEDGER_PRIVATE_H
#define SV_LEDGER_PRIVATE_H

#include "ledger.h"

#include <git2.h>
#include <limits.h>

struct sv_ledger {
	git_repository *repo;
	char *path;
	char email[80]; /* salvage@<node> */
};

/* libgit2's last message, or "libgit2 error". */
const char *sv_ledger_git_msg(void);
/* The SV_E* code for a libgit2 failure. */
int sv_ledger_code_of(int gitrc);
/* Sets "<what>: <libgit2's message>" with the code for gitrc; returns the code. */
int sv_ledger_git_fail(int gitrc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "refs/heads/<branch>" into buf; SV_EINVAL for a name git refuses. */
int sv_ledger_branch_ref(char *buf, size_t cap, const char *branch);
/* 1 and the id if the ref exists, 0 if not, negative on error. */
int sv_ledger_ref_tip(git_repository *repo, const char *refname, git_oid *out);
/* Waits for this process's turn to move refs: an flock held while *fd is open (close it to end the turn). */
int sv_ledger_take_turn(sv_ledger *l, int *fd);
/* Syncs objects/ (objects 1), or the folders above refname up to refs/ (objects 0). */
int sv_ledger_sync_parents(sv_ledger *l, const char *refname, int objects);
/* Calls fn for each local branch, in the iterator's order; stops at the first result < 0. */
int sv_ledger_each_branch(sv_ledger *l, int (*fn)(sv_ledger *l, git_reference *ref, void *ctx), void *ctx);
/* Calls fn for each line of a blob (see sv_ledger_records); *line is a buffer kept between calls. */
int sv_ledger_blob_lines(git_blob *blob, const char *path, sv_ledger_record_fn fn, void *ctx, char **line,
			 size_t *cap);

/* Where and how to reach an ssh server, as the push does (ledger_remote.c). */
typedef struct {
	const char *host, *user, *shown; /* shown: the ledger URL, for messages */
	int port;
	const char *path; /* the repository's path on the server, as git-receive-pack gets it */
	const char *const *known_hosts;
	size_t nknown;
	const char (*keys)[PATH_MAX]; /* "" for the ssh agent */
	int nkeys;
	const char *passphrase;
} sv_ledger_ssh_target;

/*
 * Makes a bare repository at t->path on the server (`git init --bare` run by
 * its shell over ssh, configured as sv_ledger_init does) when nothing but an
 * empty folder is there, only the last folder of the path, and only when the
 * folder above exists. 1 if it made one, 0 if a repository is there already,
 * else an error (SV_EINVAL: something else is there).
 */
int sv_ledger_ssh_create(const sv_ledger_ssh_target *t);

/*
 * The shell script sv_ledger_ssh_create runs for path (into buf; the folder
 * it must find into parent): into the folder above, then `git init --bare`
 * of the last name if nothing but an empty folder is there. Exit status 0
 * made, 97 no folder above, 98 something else there, 99 a repository there.
 */
int sv_ledger_ssh_script(const char *path, char *buf, size_t cap, char *parent, size_t pcap);

#endif
