/*
 * storage/ledger.c -- the tamper-evident ledger (see ledger.h): init, open,
 * commit, read, records and check. Pushing and fetching (git remotes) are in
 * ledger_remote.c, host keys in known_hosts.c.
 *
 * What must stay true: a branch moves only by compare-and-swap from the tip a
 * commit was built on (git_reference_create_matching; the zero id stands for
 * "must not exist yet"), so no writer ever overwrites another's commit.
 * Salvage processes also take turns (an flock), so among themselves they
 * never even have to retry; plain git moving a branch meanwhile makes the
 * commit retry on the new tip.
 *
 * Durability: libgit2 fsyncs objects and refs (GIT_OPT_ENABLE_FSYNC_GITDIR)
 * with the folder each is in; the folders above that it may have just
 * created are synced here (sv_ledger_sync_parents).
 */
#include "ledger_private.h"

#include "../common/error.h"
#include "../common/path.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <git2.h>

/* A ref lock file older than this was left by a writer that died. */
#define STALE_LOCK_SECS 10
/* How long a commit keeps retrying against other writers before giving up. */
#define COMMIT_DEADLINE_SECS 60


static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static int setup_rc;

static void setup_libgit2(void)
{
	/* Objects, refs and packs are fsync'd before libgit2 returns. */
	if (git_libgit2_init() < 0 || git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0)
		setup_rc = -1;
}

static int setup(void)
{
	pthread_once(&setup_once, setup_libgit2);
	return setup_rc < 0 ? sv_error_set(SV_EIO, "cannot initialise libgit2") : 0;
}

const char *sv_ledger_git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "libgit2 error";
}

/* The SV_E* code for a libgit2 failure. */
int sv_ledger_code_of(int gitrc)
{
	const git_error *e = git_error_last();
	switch (gitrc) {
	case GIT_ENOTFOUND:
		return SV_ENOTFOUND;
	case GIT_ENONFASTFORWARD:
	case GIT_EMISMATCH:
		return SV_ECORRUPT;
	case GIT_EINVALIDSPEC:
	case GIT_EINVALID:
	case GIT_EAMBIGUOUS:
		return SV_EINVAL;
	default:
		break;
	}
	if (e && (e->klass == GIT_ERROR_ODB || e->klass == GIT_ERROR_ZLIB || e->klass == GIT_ERROR_OBJECT))
		return SV_ECORRUPT;
	if (e && e->klass == GIT_ERROR_OS && (errno == ENOSPC || errno == EDQUOT || errno == EFBIG))
		return SV_ENOSPC;
	return SV_EIO;
}

/* Sets "<what>: <libgit2's message>" with the code for gitrc; returns the code. */
__attribute__((format(printf, 2, 3))) int sv_ledger_git_fail(int gitrc, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return sv_error_set(sv_ledger_code_of(gitrc), "%s: %s", what, sv_ledger_git_msg());
}

int sv_ledger_branch_ref(char *buf, size_t cap, const char *branch)
{
	int valid = 0;
	if (!branch || !*branch || (size_t)snprintf(buf, cap, "refs/heads/%s", branch) >= cap ||
	    git_reference_name_is_valid(&valid, buf) < 0 || !valid)
		return sv_error_set(SV_EINVAL, "invalid branch name '%s'", branch ? branch : "");
	return 0;
}

/* 1 and the id if the ref exists, 0 if not, negative on error. */
int sv_ledger_ref_tip(git_repository *repo, const char *refname, git_oid *out)
{
	int rc = git_reference_name_to_id(out, repo, refname);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return sv_ledger_git_fail(rc, "cannot read '%s'", refname);
	return 1;
}

static int open_repo(git_repository **out, const char *path)
{
	int rc = git_repository_open_ext(out, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc == GIT_ENOTFOUND)
		return sv_error_set(SV_ENOTFOUND, "no ledger at '%s'", path);
	if (rc < 0)
		return sv_ledger_git_fail(rc, "cannot open ledger '%s'", path);
	if (!git_repository_is_bare(*out)) {
		git_repository_free(*out);
		*out = NULL;
		return sv_error_set(SV_EINVAL, "'%s' has a work tree: a ledger is a bare repository", path);
	}
	return 0;
}

/* ---------------------------------------------------------------- init, open */

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;
	if (!d)
		return 0;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

int sv_ledger_init(const char *path)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	git_repository_init_options o;
	struct stat st;
	int rc;

	if ((rc = setup()) < 0)
		return rc;
	rc = git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc == 0) {
		int bare = git_repository_is_bare(repo);
		git_repository_free(repo);
		return bare ? 0 : sv_error_set(SV_EINVAL, "'%s' has a work tree: a ledger is a bare repository", path);
	}
	if (rc != GIT_ENOTFOUND)
		return sv_ledger_git_fail(rc, "cannot open ledger '%s'", path);
	if (stat(path, &st) == 0 && !dir_is_empty(path))
		return sv_error_set(SV_EINVAL, "'%s' exists and is not a git repository", path);
	git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
	o.initial_head = "main";
	if ((rc = git_repository_init_ext(&repo, path, &o)) < 0)
		return sv_ledger_git_fail(rc, "cannot create ledger '%s'", path);
	/* Ref logs let check() see rewritten history; a ledger used as a push
	 * target refuses to be rewritten or to lose branches. */
	if ((rc = git_repository_config(&cfg, repo)) < 0 ||
	    (rc = git_config_set_bool(cfg, "core.logAllRefUpdates", 1)) < 0 ||
	    (rc = git_config_set_bool(cfg, "receive.denyNonFastForwards", 1)) < 0 ||
	    (rc = git_config_set_bool(cfg, "receive.denyDeletes", 1)) < 0)
		rc = sv_ledger_git_fail(rc, "cannot configure ledger '%s'", path);
	git_config_free(cfg);
	git_repository_free(repo);
	return rc;
}

int sv_ledger_open(sv_ledger **out, const char *path, const char *node)
{
	sv_ledger *l;
	char host[256];
	size_t n;
	int rc;

	*out = NULL;
	if ((rc = setup()) < 0)
		return rc;
	if (!(l = calloc(1, sizeof(*l))) || !(l->path = strdup(path))) {
		free(l);
		return sv_error_set(SV_EIO, "out of memory");
	}
	if ((rc = open_repo(&l->repo, path)) < 0) {
		sv_ledger_free(l);
		return rc;
	}
	if (!node || !*node) {
		if (gethostname(host, sizeof(host)) != 0 || !host[0])
			snprintf(host, sizeof(host), "unknown");
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	/* Only characters an e-mail address and a git ident take as they are. */
	n = (size_t)snprintf(l->email, sizeof(l->email), "salvage@");
	for (const char *p = node; *p && n + 1 < sizeof(l->email); p++)
		l->email[n++] = (isalnum((unsigned char)*p) || strchr("._-", *p)) ? *p : '-';
	l->email[n] = '\0';
	*out = l;
	return 0;
}

void sv_ledger_free(sv_ledger *l)
{
	if (!l)
		return;
	git_repository_free(l->repo);
	free(l->path);
	free(l);
}

/* ---------------------------------------------------------------- commit */

static int check_path(const char *path)
{
	const char *p = path;
	if (!p || !*p)
		return sv_error_set(SV_EINVAL, "empty path in a ledger commit");
	for (;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)) ||
		    (n == 4 && !strncasecmp(p, ".git", 4)))
			return sv_error_set(SV_EINVAL, "invalid path '%s' in a ledger commit", path);
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

static double now_secs(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Salvage processes that move refs take turns: an flock on <ledger>/salvage.lock
 * (released by the kernel if the holder dies). Without it, concurrent
 * committers would still lose nothing (compare-and-swap), but every lost race
 * would cost a retry and leave a dangling commit behind.
 */
int sv_ledger_take_turn(sv_ledger *l, int *fd)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%ssalvage.lock", git_repository_path(l->repo)) >= sizeof(path))
		return sv_error_set(SV_EINVAL, "ledger path too long");
	if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return sv_error_errno(errno, "cannot open '%s'", path);
	while (flock(*fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			int e = errno;
			close(*fd);
			return sv_error_errno(e, "cannot lock '%s'", path);
		}
	}
	return 0;
}

/*
 * Another writer (plain git) holds refname's lock file: a live one holds it
 * for milliseconds, so wait a little. One older than STALE_LOCK_SECS was left
 * by a writer that died (kill -9, power cut) and would block the branch for
 * good: it is removed. Called in our turn, so no other salvage process can
 * be removing it too, or be creating a fresh one in its place.
 */
static int ref_lock_wait(sv_ledger *l, const char *refname, double started)
{
	char lock[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(lock, sizeof(lock), "%s%s.lock", git_repository_path(l->repo), refname) >= sizeof(lock))
		return sv_error_set(SV_EINVAL, "ledger path too long");
	if (stat(lock, &st) != 0)
		return 0;
	if (time(NULL) - st.st_mtime >= STALE_LOCK_SECS) {
		if (unlink(lock) != 0 && errno != ENOENT)
			return sv_error_errno(errno, "cannot remove the stale lock '%s'", lock);
		return 0;
	}
	if (now_secs() - started > COMMIT_DEADLINE_SECS)
		return sv_error_set(SV_EIO, "'%s' stays locked by '%s'", refname, lock);
	unsigned seed = (unsigned)getpid() ^ (unsigned)(now_secs() * 1e6);
	struct timespec nap = {0, (1 + rand_r(&seed) % 20) * 1000000L};
	nanosleep(&nap, NULL);
	return 0;
}

/*
 * libgit2 fsyncs each object with its fan-out folder, and the ref with its
 * folder, but not the folders above when it creates new ones (objects/ab/,
 * refs/heads/nodes/). objects/ is synced before the ref moves, the ref's
 * folders up to refs/ after, so no power cut can lose what the ref names.
 */
int sv_ledger_sync_parents(sv_ledger *l, const char *refname, int objects)
{
	char path[PATH_MAX];
	const char *gitdir = git_repository_path(l->repo);
	int rc;
	if (objects) {
		if ((size_t)snprintf(path, sizeof(path), "%sobjects", gitdir) >= sizeof(path))
			return sv_error_set(SV_EINVAL, "ledger path too long");
		return sv_path_fsync_dir(path);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s%s", gitdir, refname) >= sizeof(path))
		return sv_error_set(SV_EINVAL, "ledger path too long");
	for (char *slash; (slash = strrchr(path, '/')) && slash - path > (ptrdiff_t)strlen(gitdir) + 3;) {
		*slash = '\0'; /* refs/heads/nodes, refs/heads, refs */
		if ((rc = sv_path_fsync_dir(path)) < 0)
			return rc;
	}
	return 0;
}

/* The reflog line for a commit: "commit: <first line of message>". */
static void reflog_line(char *buf, size_t cap, const char *message)
{
	size_t n = strcspn(message, "\n");
	snprintf(buf, cap, "commit: %.*s", (int)(n > 200 ? 200 : n), message);
}

typedef struct {
	const char *refname;
	const git_tree_update *ups;
	size_t n;
	const git_signature *sig;
	const char *msg, *logmsg;
} commit_job;

#define RETRY 1

/*
 * One attempt: the tree of the tip plus the files, a commit on the tip, and
 * the ref moved from that tip to it. 0 when done (*made says whether a commit
 * was made), RETRY when another writer moved or held the ref, negative on error.
 */
static int try_commit(sv_ledger *l, const commit_job *j, int *made, git_oid *out)
{
	git_oid tip, tree_id, zero;
	git_commit *parent = NULL;
	git_tree *base = NULL, *tree = NULL;
	git_reference *ref = NULL;
	int have, rc;

	*made = 0;
	if ((have = sv_ledger_ref_tip(l->repo, j->refname, &tip)) < 0)
		return have;
	if (have && ((rc = git_commit_lookup(&parent, l->repo, &tip)) < 0 || (rc = git_commit_tree(&base, parent)) < 0)) {
		rc = sv_ledger_git_fail(rc, "cannot read the tip of '%s'", j->refname);
		goto done;
	}
	/* What the caller sees if nothing changes: the tip, or zero for no branch. */
	memset(out, 0, sizeof(*out));
	if (have)
		git_oid_cpy(out, &tip);
	if (j->n == 0) {
		rc = 0;
		goto done;
	}
	if ((rc = git_tree_create_updated(&tree_id, l->repo, base, j->n, j->ups)) < 0) {
		/* Path clashes (file against folder, a path twice) are the caller's. */
		const git_error *e = git_error_last();
		rc = sv_error_set(e && e->klass == GIT_ERROR_TREE ? SV_EINVAL : sv_ledger_code_of(rc), "cannot add files to '%s': %s",
				  j->refname, sv_ledger_git_msg());
		goto done;
	}
	if (base && git_oid_equal(&tree_id, git_tree_id(base))) {
		rc = 0;
		goto done;
	}
	if ((rc = git_tree_lookup(&tree, l->repo, &tree_id)) < 0 ||
	    (rc = git_commit_create(out, l->repo, NULL, j->sig, j->sig, NULL, j->msg, tree, have ? 1 : 0,
				    (const git_commit **)&parent)) < 0) {
		rc = sv_ledger_git_fail(rc, "cannot write a commit on '%s'", j->refname);
		goto done;
	}
	if ((rc = sv_ledger_sync_parents(l, j->refname, 1)) < 0)
		goto done;
	/* Compare-and-swap; the zero id means "the branch must not exist yet". */
	memset(&zero, 0, sizeof(zero));
	rc = git_reference_create_matching(&ref, l->repo, j->refname, out, 1, have ? &tip : &zero, j->logmsg);
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ELOCKED)
		rc = RETRY;
	else if (rc < 0)
		rc = sv_ledger_git_fail(rc, "cannot update '%s'", j->refname);
	else if ((rc = sv_ledger_sync_parents(l, j->refname, 0)) == 0)
		*made = 1;
done:
	git_reference_free(ref);
	git_tree_free(tree);
	git_tree_free(base);
	git_commit_free(parent);
	return rc;
}

int sv_ledger_commit(sv_ledger *l, const char *branch, const char *message, const sv_ledger_file *files,
		     size_t n, int *made, char commit_hex[41])
{
	char refname[512], logmsg[256];
	git_tree_update *ups = NULL;
	git_signature *sig = NULL;
	char *msg = NULL;
	double started = now_secs();
	int rc, did = 0;
	git_oid id;

	if (made)
		*made = 0;
	if (commit_hex)
		commit_hex[0] = '\0';
	if ((rc = sv_ledger_branch_ref(refname, sizeof(refname), branch)) < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = check_path(files[i].path)) < 0)
			return rc;
	if (!message || !*message)
		return sv_error_set(SV_EINVAL, "a ledger commit needs a message");

	/* git's convention: the message ends with a newline. */
	size_t mlen = strlen(message);
	if (!(msg = malloc(mlen + 2)) || (n && !(ups = calloc(n, sizeof(*ups))))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	memcpy(msg, message, mlen + 1);
	if (message[mlen - 1] != '\n')
		memcpy(msg + mlen, "\n", 2);
	reflog_line(logmsg, sizeof(logmsg), message);

	/* Blobs do not depend on the tip: written once, before taking a turn. */
	for (size_t i = 0; i < n; i++) {
		if ((rc = git_blob_create_from_buffer(&ups[i].id, l->repo, files[i].data, files[i].len)) < 0) {
			rc = sv_ledger_git_fail(rc, "cannot write '%s' to the ledger", files[i].path);
			goto done;
		}
		ups[i].action = GIT_TREE_UPDATE_UPSERT;
		ups[i].filemode = GIT_FILEMODE_BLOB;
		ups[i].path = files[i].path;
	}
	if ((rc = git_signature_now(&sig, "salvage", l->email)) < 0) {
		rc = sv_ledger_git_fail(rc, "cannot make the commit signature");
		goto done;
	}

	commit_job job = {refname, ups, n, sig, msg, logmsg};
	int turn;
	if ((rc = sv_ledger_take_turn(l, &turn)) < 0)
		goto done;
	/* Retries only when something other than salvage moves the branch. */
	while ((rc = try_commit(l, &job, &did, &id)) == RETRY) {
		if ((rc = ref_lock_wait(l, refname, started)) < 0)
			break;
		if (now_secs() - started > COMMIT_DEADLINE_SECS) {
			rc = sv_error_set(SV_EIO, "cannot update '%s': other writers keep moving it", refname);
			break;
		}
	}
	close(turn);
	if (rc == 0) {
		if (made)
			*made = did;
		if (commit_hex && !git_oid_is_zero(&id))
			git_oid_tostr(commit_hex, 41, &id);
	}
done:
	git_signature_free(sig);
	free(ups);
	free(msg);
	return rc;
}

/* ---------------------------------------------------------------- reading */

/* The tree of a branch tip, by full ref name. */
static int tip_tree(git_repository *repo, const char *refname, git_tree **out)
{
	git_oid tip;
	git_commit *c = NULL;
	int rc = sv_ledger_ref_tip(repo, refname, &tip);
	if (rc == 0)
		return sv_error_set(SV_ENOTFOUND, "no branch '%s' in the ledger", refname + strlen("refs/heads/"));
	if (rc < 0)
		return rc;
	if ((rc = git_commit_lookup(&c, repo, &tip)) < 0 || (rc = git_commit_tree(out, c)) < 0)
		rc = sv_ledger_git_fail(rc, "cannot read the tip of '%s'", refname);
	git_commit_free(c);
	return rc;
}

int sv_ledger_list(sv_ledger *l, const char *branch, const char *dir, char ***names, size_t *n)
{
	char refname[512];
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *e = NULL;
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = sv_ledger_branch_ref(refname, sizeof(refname), branch)) < 0)
		return rc;
	if ((rc = tip_tree(l->repo, refname, &tree)) < 0)
		return rc == SV_ENOTFOUND ? 0 : rc;
	rc = git_tree_entry_bypath(&e, tree, dir);
	if (rc == GIT_ENOTFOUND || (rc == 0 && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
		rc = 0;
		goto done;
	}
	if (rc < 0 || (rc = git_tree_lookup(&sub, l->repo, git_tree_entry_id(e))) < 0) {
		rc = sv_ledger_git_fail(rc, "cannot read '%s' in branch '%s'", dir, branch);
		goto done;
	}
	size_t count = git_tree_entrycount(sub);
	if (!(*names = calloc(count ? count : 1, sizeof(**names)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < count; i++) {
		const git_tree_entry *f = git_tree_entry_byindex(sub, i);
		if (git_tree_entry_type(f) != GIT_OBJECT_BLOB)
			continue;
		if (!((*names)[*n] = strdup(git_tree_entry_name(f)))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		(*n)++;
	}
done:
	git_tree_free(sub);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return rc;
}

int sv_ledger_read(sv_ledger *l, const char *branch, const char *path, char **data, size_t *len)
{
	char refname[512];
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = sv_ledger_branch_ref(refname, sizeof(refname), branch)) < 0 || (rc = tip_tree(l->repo, refname, &tree)) < 0)
		return rc;
	rc = git_tree_entry_bypath(&e, tree, path);
	if (rc == GIT_ENOTFOUND) {
		rc = sv_error_set(SV_ENOTFOUND, "no file '%s' in branch '%s' of the ledger", path, branch);
		goto done;
	}
	if (rc < 0) {
		rc = sv_ledger_git_fail(rc, "cannot look up '%s' in branch '%s'", path, branch);
		goto done;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		rc = sv_error_set(SV_EINVAL, "'%s' in branch '%s' is not a file", path, branch);
		goto done;
	}
	if ((rc = git_blob_lookup(&blob, l->repo, git_tree_entry_id(e))) < 0) {
		rc = sv_ledger_git_fail(rc, "cannot read '%s' in branch '%s'", path, branch);
		goto done;
	}
	*len = (size_t)git_blob_rawsize(blob);
	if (!(*data = malloc(*len + 1))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	memcpy(*data, git_blob_rawcontent(blob), *len);
	(*data)[*len] = '\0';
	rc = 0;
done:
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return rc;
}

typedef struct {
	char *path;
	git_oid id;
} rec_file;

typedef struct {
	rec_file *v;
	size_t n, cap;
	int rc;
} rec_list;

static int collect_blob(const char *root, const git_tree_entry *e, void *payload)
{
	rec_list *list = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		rec_file *v = realloc(list->v, cap * sizeof(*v));
		if (!v)
			goto oom;
		list->v = v;
		list->cap = cap;
	}
	rec_file *f = &list->v[list->n];
	size_t len = strlen("captures/") + strlen(root) + strlen(git_tree_entry_name(e)) + 1;
	if (!(f->path = malloc(len)))
		goto oom;
	snprintf(f->path, len, "captures/%s%s", root, git_tree_entry_name(e));
	git_oid_cpy(&f->id, git_tree_entry_id(e));
	list->n++;
	return 0;
oom:
	list->rc = sv_error_set(SV_EIO, "out of memory");
	return -1;
}

static int rec_cmp(const void *a, const void *b)
{
	const rec_file *x = a, *y = b;
	int c = strcmp(x->path, y->path);
	return c ? c : git_oid_cmp(&x->id, &y->id);
}

/* Calls fn for each local branch, in the iterator's order; stops at the first result < 0. */
int sv_ledger_each_branch(sv_ledger *l, int (*fn)(sv_ledger *l, git_reference *ref, void *ctx), void *ctx)
{
	git_branch_iterator *it = NULL;
	git_reference *ref = NULL;
	git_branch_t type;
	int rc, next;

	if ((rc = git_branch_iterator_new(&it, l->repo, GIT_BRANCH_LOCAL)) < 0)
		return sv_ledger_git_fail(rc, "cannot list the ledger's branches");
	while ((next = git_branch_next(&ref, &type, it)) == 0) {
		rc = fn(l, ref, ctx);
		git_reference_free(ref);
		if (rc < 0)
			break;
	}
	if (rc == 0 && next != GIT_ITEROVER)
		rc = sv_ledger_git_fail(next, "cannot list the ledger's branches");
	git_branch_iterator_free(it);
	return rc;
}

/* The capture files of one branch tip into the rec_list ctx. */
static int collect_branch(sv_ledger *l, git_reference *ref, void *ctx)
{
	rec_list *list = ctx;
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *e = NULL;
	int rc = tip_tree(l->repo, git_reference_name(ref), &tree);

	if (rc == 0) {
		rc = git_tree_entry_bypath(&e, tree, "captures");
		if (rc == GIT_ENOTFOUND || (rc == 0 && git_tree_entry_type(e) != GIT_OBJECT_TREE))
			rc = 0;
		else if (rc < 0 || (rc = git_tree_lookup(&sub, l->repo, git_tree_entry_id(e))) < 0 ||
			 (rc = git_tree_walk(sub, GIT_TREEWALK_PRE, collect_blob, list)) < 0)
			rc = list->rc ? list->rc : sv_ledger_git_fail(rc, "cannot read captures/ of '%s'", git_reference_name(ref));
	}
	git_tree_free(sub);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return rc;
}

/* Every capture file of every branch tip, sorted by path. */
static int collect_captures(sv_ledger *l, rec_list *list)
{
	int rc = sv_ledger_each_branch(l, collect_branch, list);
	if (rc == 0 && list->n)
		qsort(list->v, list->n, sizeof(*list->v), rec_cmp);
	return rc;
}

/* Calls fn for each line of a blob (see sv_ledger_records); *line is a buffer kept between calls. */
int sv_ledger_blob_lines(git_blob *blob, const char *path, sv_ledger_record_fn fn, void *ctx, char **line, size_t *cap)
{
	const char *p = git_blob_rawcontent(blob), *end = p + git_blob_rawsize(blob);
	int rc = 0;
	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		if (len + 1 > *cap) {
			char *bigger = realloc(*line, len + 1);
			if (!bigger)
				return sv_error_set(SV_EIO, "out of memory");
			*line = bigger;
			*cap = len + 1;
		}
		memcpy(*line, p, len);
		(*line)[len] = '\0';
		rc = fn(ctx, path, *line, len);
		p += len + 1;
	}
	return rc;
}

int sv_ledger_records(sv_ledger *l, int (*fn)(void *ctx, const char *path, const char *line, size_t len),
		      void *ctx)
{
	rec_list list = {0};
	char *line = NULL;
	size_t line_cap = 0;
	int rc = collect_captures(l, &list);

	for (size_t i = 0; rc == 0 && i < list.n; i++) {
		if (i > 0 && !strcmp(list.v[i].path, list.v[i - 1].path) && git_oid_equal(&list.v[i].id, &list.v[i - 1].id))
			continue;
		git_blob *blob = NULL;
		if ((rc = git_blob_lookup(&blob, l->repo, &list.v[i].id)) < 0) {
			rc = sv_ledger_git_fail(rc, "cannot read '%s' in the ledger", list.v[i].path);
			break;
		}
		rc = sv_ledger_blob_lines(blob, list.v[i].path, fn, ctx, &line, &line_cap);
		git_blob_free(blob);
	}
	for (size_t i = 0; i < list.n; i++)
		free(list.v[i].path);
	free(list.v);
	free(line);
	return rc;
}

/* ---------------------------------------------------------------- check */

/* A set of object ids (open addressing; the zero id marks a free slot). */
typedef struct {
	git_oid *slot;
	size_t cap, n;
} oid_set;

static size_t oid_hash(const git_oid *id)
{
	uint64_t h;
	memcpy(&h, id->id, sizeof(h));
	return (size_t)h;
}

/* 1 if id was added, 0 if it was there already, negative when out of memory. */
static int oid_set_add(oid_set *s, const git_oid *id)
{
	if (2 * (s->n + 1) > s->cap) {
		oid_set bigger = {calloc(s->cap ? s->cap * 2 : 1024, sizeof(git_oid)), s->cap ? s->cap * 2 : 1024, 0};
		if (!bigger.slot)
			return sv_error_set(SV_EIO, "out of memory");
		for (size_t i = 0; i < s->cap; i++)
			if (!git_oid_is_zero(&s->slot[i]))
				oid_set_add(&bigger, &s->slot[i]);
		free(s->slot);
		*s = bigger;
	}
	for (size_t i = oid_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (git_oid_is_zero(&s->slot[i])) {
			git_oid_cpy(&s->slot[i], id);
			s->n++;
			return 1;
		}
		if (git_oid_equal(&s->slot[i], id))
			return 0;
	}
}

static int oid_set_has(const oid_set *s, const git_oid *id)
{
	if (!s->cap)
		return 0;
	for (size_t i = oid_hash(id) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (git_oid_is_zero(&s->slot[i]))
			return 0;
		if (git_oid_equal(&s->slot[i], id))
			return 1;
	}
}

typedef struct {
	git_repository *repo;
	git_odb *odb;
	oid_set seen;
	void (*problem)(void *ctx, const char *what);
	void *ctx;
	long count;
	int rc; /* set when the check itself cannot go on */
} checker;

__attribute__((format(printf, 2, 3))) static void report(checker *c, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->count++;
	if (c->problem)
		c->problem(c->ctx, what);
}

/* Reads (and so re-hashes) an object; 0 and the object, or -1 after reporting. */
static int read_checked(checker *c, const git_oid *id, git_object_t want, const char *ref, git_odb_object **out)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	int rc = git_odb_read(out, c->odb, id);
	if (rc < 0) {
		report(c, "%s %s (reachable from %s): %s", want == GIT_OBJECT_ANY ? "object" : git_object_type2string(want),
		       hex, ref, rc == GIT_ENOTFOUND ? "missing" : sv_ledger_git_msg());
		return -1;
	}
	if (want != GIT_OBJECT_ANY && git_odb_object_type(*out) != want) {
		report(c, "%s %s (reachable from %s): is a %s", git_object_type2string(want), hex, ref,
		       git_object_type2string(git_odb_object_type(*out)));
		git_odb_object_free(*out);
		return -1;
	}
	return 0;
}

static int seen_first(checker *c, const git_oid *id)
{
	int rc = oid_set_add(&c->seen, id);
	if (rc < 0)
		c->rc = rc;
	return rc == 1;
}

static void check_tree(checker *c, const git_oid *id, const char *ref);

/* The entries of a tree already read and checked. */
static void check_tree_entries(checker *c, const git_oid *id, const char *ref)
{
	git_odb_object *o;
	git_tree *tree;
	if (git_tree_lookup(&tree, c->repo, id) < 0) {
		report(c, "tree %s (reachable from %s): %s", git_oid_tostr_s(id), ref, sv_ledger_git_msg());
		return;
	}
	for (size_t i = 0; i < git_tree_entrycount(tree) && !c->rc; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			check_tree(c, git_tree_entry_id(e), ref);
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && seen_first(c, git_tree_entry_id(e)) &&
			 read_checked(c, git_tree_entry_id(e), GIT_OBJECT_BLOB, ref, &o) == 0)
			git_odb_object_free(o);
	}
	git_tree_free(tree);
}

static void check_tree(checker *c, const git_oid *id, const char *ref)
{
	git_odb_object *o;
	if (!seen_first(c, id) || read_checked(c, id, GIT_OBJECT_TREE, ref, &o) < 0)
		return;
	git_odb_object_free(o);
	check_tree_entries(c, id, ref);
}

/* Everything reachable from one ref: commits, their parents, trees, blobs (and tags). */
static void check_history(checker *c, const git_oid *start, const char *ref)
{
	typedef struct {
		git_oid id;
		git_object_t type;
	} item;
	item *stack = malloc(64 * sizeof(*stack));
	size_t n = 0, cap = 64;

	if (!stack) {
		c->rc = sv_error_set(SV_EIO, "out of memory");
		return;
	}
	stack[n++] = (item){*start, GIT_OBJECT_ANY};
	while (n && !c->rc) {
		item it = stack[--n];
		git_odb_object *o;
		if (!seen_first(c, &it.id) || read_checked(c, &it.id, it.type, ref, &o) < 0)
			continue;
		git_object_t type = git_odb_object_type(o);
		git_odb_object_free(o);
		if (type == GIT_OBJECT_TREE) {
			check_tree_entries(c, &it.id, ref);
			continue;
		}
		git_object *obj;
		if (type != GIT_OBJECT_COMMIT && type != GIT_OBJECT_TAG)
			continue;
		if (git_object_lookup(&obj, c->repo, &it.id, type) < 0) {
			report(c, "%s %s (reachable from %s): %s", git_object_type2string(type), git_oid_tostr_s(&it.id), ref,
			       sv_ledger_git_msg());
			continue;
		}
		size_t more = type == GIT_OBJECT_TAG ? 1 : git_commit_parentcount((git_commit *)obj);
		if (n + more > cap) {
			item *bigger = realloc(stack, (n + more) * 2 * sizeof(*stack));
			if (!bigger) {
				c->rc = sv_error_set(SV_EIO, "out of memory");
				git_object_free(obj);
				break;
			}
			stack = bigger;
			cap = (n + more) * 2;
		}
		if (type == GIT_OBJECT_TAG) {
			stack[n++] = (item){*git_tag_target_id((git_tag *)obj), GIT_OBJECT_ANY};
		} else {
			for (unsigned i = 0; i < git_commit_parentcount((git_commit *)obj); i++)
				stack[n++] = (item){*git_commit_parent_id((git_commit *)obj, i), GIT_OBJECT_COMMIT};
			check_tree(c, git_commit_tree_id((git_commit *)obj), ref);
		}
		git_object_free(obj);
	}
	free(stack);
}

/* A branch whose ref log names tips that are no longer in its history was rewritten. */
static void check_rewrites(checker *c, const char *ref, const git_oid *tip)
{
	git_reflog *log = NULL;
	git_revwalk *walk = NULL;
	oid_set history = {0};
	const git_reflog_entry *latest = NULL;
	size_t lost = 0;
	git_oid id;
	int rc;

	if (git_reflog_read(&log, c->repo, ref) < 0 || git_reflog_entrycount(log) == 0 ||
	    git_revwalk_new(&walk, c->repo) < 0 || git_revwalk_push(walk, tip) < 0)
		goto done;
	while ((rc = git_revwalk_next(&id, walk)) == 0)
		if (oid_set_add(&history, &id) < 0) {
			c->rc = SV_EIO;
			goto done;
		}
	if (rc != GIT_ITEROVER) /* damaged history: the object walk reports it */
		goto done;
	for (size_t i = 0; i < git_reflog_entrycount(log); i++) {
		const git_reflog_entry *e = git_reflog_entry_byindex(log, i); /* newest first */
		const git_oid *was = git_reflog_entry_id_new(e);
		if (!git_oid_is_zero(was) && !oid_set_has(&history, was) && lost++ == 0)
			latest = e;
	}
	if (lost) {
		char when[32] = "?";
		char hex[GIT_OID_HEXSZ + 1];
		time_t t = (time_t)git_reflog_entry_committer(latest)->when.time;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		git_oid_tostr(hex, sizeof(hex), git_reflog_entry_id_new(latest));
		report(c, "%s: history rewritten: %zu earlier tip%s no longer in it (the latest, %s, was recorded %s)",
		       ref, lost, lost == 1 ? " is" : "s are", hex, when);
	}
done:
	free(history.slot);
	git_revwalk_free(walk);
	git_reflog_free(log);
}

int sv_ledger_check(sv_ledger *l, void (*problem)(void *ctx, const char *what), void *ctx, long *problems)
{
	checker c = {.problem = problem, .ctx = ctx};
	git_reference_iterator *it = NULL;
	git_reference *ref;
	int rc, next;

	*problems = 0;
	/* A handle of its own: every object is read from disk, none from a cache. */
	if ((rc = open_repo(&c.repo, l->path)) < 0)
		return rc;
	if ((rc = git_repository_odb(&c.odb, c.repo)) < 0 || (rc = git_reference_iterator_new(&it, c.repo)) < 0) {
		rc = sv_ledger_git_fail(rc, "cannot check ledger '%s'", l->path);
		goto done;
	}
	while (!c.rc && (next = git_reference_next(&ref, it)) == 0) {
		git_reference *direct = NULL;
		const char *name = git_reference_name(ref);
		if (git_reference_resolve(&direct, ref) < 0) {
			report(&c, "%s: cannot resolve: %s", name, sv_ledger_git_msg());
		} else {
			git_oid tip = *git_reference_target(direct);
			check_history(&c, &tip, name);
			check_rewrites(&c, name, &tip);
		}
		git_reference_free(direct);
		git_reference_free(ref);
	}
	if (!c.rc && next != GIT_ITEROVER)
		report(&c, "refs: cannot list: %s", sv_ledger_git_msg());
	rc = c.rc;
	*problems = c.count;
done:
	free(c.seen.slot);
	git_reference_iterator_free(it);
	git_odb_free(c.odb);
	git_repository_free(c.repo);
	return rc;
}

