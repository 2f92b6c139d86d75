/*
 * storage/ledger.c -- the tamper-evident ledger (see ledger.h).
 *
 * What must stay true: a branch moves only by compare-and-swap from the tip a
 * commit was built on (git_reference_create_matching; the zero id stands for
 * "must not exist yet"), so no writer ever overwrites another's commit.
 * Salvage processes also take turns (an flock), so among themselves they
 * never even have to retry; plain git moving a branch meanwhile makes the
 * commit retry on the new tip. Pushes and fetches never move a branch
 * anywhere but forward, and no message carries a password from a URL.
 *
 * Durability: libgit2 fsyncs objects and refs (GIT_OPT_ENABLE_FSYNC_GITDIR)
 * with the folder each is in; the folders above that it may have just
 * created are synced here (sync_parents).
 *
 * libgit2 1.5 does not read known_hosts: without a certificate_check callback
 * it accepts any ssh host key. The callback here compares the raw key libssh2
 * saw with known_hosts entries itself (plain, "[host]:port", wildcard and
 * hashed "|1|salt|hash" names, @revoked keys).
 */
#include "ledger.h"

#include "../common/error.h"
#include "../common/path.h"
#include "../common/redact.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
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
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* A ref lock file older than this was left by a writer that died. */
#define STALE_LOCK_SECS 10
/* How long a commit keeps retrying against other writers before giving up. */
#define COMMIT_DEADLINE_SECS 60

struct sv_ledger {
	git_repository *repo;
	char *path;
	char email[80]; /* salvage@<node> */
};

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

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message ? e->message : "libgit2 error";
}

/* The SV_E* code for a libgit2 failure. */
static int code_of(int gitrc)
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
__attribute__((format(printf, 2, 3))) static int git_fail(int gitrc, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return sv_error_set(code_of(gitrc), "%s: %s", what, git_msg());
}

static int branch_ref(char *buf, size_t cap, const char *branch)
{
	int valid = 0;
	if (!branch || !*branch || (size_t)snprintf(buf, cap, "refs/heads/%s", branch) >= cap ||
	    git_reference_name_is_valid(&valid, buf) < 0 || !valid)
		return sv_error_set(SV_EINVAL, "invalid branch name '%s'", branch ? branch : "");
	return 0;
}

/* 1 and the id if the ref exists, 0 if not, negative on error. */
static int ref_tip(git_repository *repo, const char *refname, git_oid *out)
{
	int rc = git_reference_name_to_id(out, repo, refname);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return git_fail(rc, "cannot read '%s'", refname);
	return 1;
}

static int open_repo(git_repository **out, const char *path)
{
	int rc = git_repository_open_ext(out, path, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (rc == GIT_ENOTFOUND)
		return sv_error_set(SV_ENOTFOUND, "no ledger at '%s'", path);
	if (rc < 0)
		return git_fail(rc, "cannot open ledger '%s'", path);
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
		return git_fail(rc, "cannot open ledger '%s'", path);
	if (stat(path, &st) == 0 && !dir_is_empty(path))
		return sv_error_set(SV_EINVAL, "'%s' exists and is not a git repository", path);
	git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
	o.initial_head = "main";
	if ((rc = git_repository_init_ext(&repo, path, &o)) < 0)
		return git_fail(rc, "cannot create ledger '%s'", path);
	/* Ref logs let check() see rewritten history; a ledger used as a push
	 * target refuses to be rewritten or to lose branches. */
	if ((rc = git_repository_config(&cfg, repo)) < 0 ||
	    (rc = git_config_set_bool(cfg, "core.logAllRefUpdates", 1)) < 0 ||
	    (rc = git_config_set_bool(cfg, "receive.denyNonFastForwards", 1)) < 0 ||
	    (rc = git_config_set_bool(cfg, "receive.denyDeletes", 1)) < 0)
		rc = git_fail(rc, "cannot configure ledger '%s'", path);
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
static int take_turn(sv_ledger *l, int *fd)
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
static int sync_parents(sv_ledger *l, const char *refname, int objects)
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
	if ((have = ref_tip(l->repo, j->refname, &tip)) < 0)
		return have;
	if (have && ((rc = git_commit_lookup(&parent, l->repo, &tip)) < 0 || (rc = git_commit_tree(&base, parent)) < 0)) {
		rc = git_fail(rc, "cannot read the tip of '%s'", j->refname);
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
		rc = sv_error_set(e && e->klass == GIT_ERROR_TREE ? SV_EINVAL : code_of(rc), "cannot add files to '%s': %s",
				  j->refname, git_msg());
		goto done;
	}
	if (base && git_oid_equal(&tree_id, git_tree_id(base))) {
		rc = 0;
		goto done;
	}
	if ((rc = git_tree_lookup(&tree, l->repo, &tree_id)) < 0 ||
	    (rc = git_commit_create(out, l->repo, NULL, j->sig, j->sig, NULL, j->msg, tree, have ? 1 : 0,
				    (const git_commit **)&parent)) < 0) {
		rc = git_fail(rc, "cannot write a commit on '%s'", j->refname);
		goto done;
	}
	if ((rc = sync_parents(l, j->refname, 1)) < 0)
		goto done;
	/* Compare-and-swap; the zero id means "the branch must not exist yet". */
	memset(&zero, 0, sizeof(zero));
	rc = git_reference_create_matching(&ref, l->repo, j->refname, out, 1, have ? &tip : &zero, j->logmsg);
	if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS || rc == GIT_ELOCKED)
		rc = RETRY;
	else if (rc < 0)
		rc = git_fail(rc, "cannot update '%s'", j->refname);
	else if ((rc = sync_parents(l, j->refname, 0)) == 0)
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
	if ((rc = branch_ref(refname, sizeof(refname), branch)) < 0)
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
			rc = git_fail(rc, "cannot write '%s' to the ledger", files[i].path);
			goto done;
		}
		ups[i].action = GIT_TREE_UPDATE_UPSERT;
		ups[i].filemode = GIT_FILEMODE_BLOB;
		ups[i].path = files[i].path;
	}
	if ((rc = git_signature_now(&sig, "salvage", l->email)) < 0) {
		rc = git_fail(rc, "cannot make the commit signature");
		goto done;
	}

	commit_job job = {refname, ups, n, sig, msg, logmsg};
	int turn;
	if ((rc = take_turn(l, &turn)) < 0)
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
	int rc = ref_tip(repo, refname, &tip);
	if (rc == 0)
		return sv_error_set(SV_ENOTFOUND, "no branch '%s' in the ledger", refname + strlen("refs/heads/"));
	if (rc < 0)
		return rc;
	if ((rc = git_commit_lookup(&c, repo, &tip)) < 0 || (rc = git_commit_tree(out, c)) < 0)
		rc = git_fail(rc, "cannot read the tip of '%s'", refname);
	git_commit_free(c);
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
	if ((rc = branch_ref(refname, sizeof(refname), branch)) < 0 || (rc = tip_tree(l->repo, refname, &tree)) < 0)
		return rc;
	rc = git_tree_entry_bypath(&e, tree, path);
	if (rc == GIT_ENOTFOUND) {
		rc = sv_error_set(SV_ENOTFOUND, "no file '%s' in branch '%s' of the ledger", path, branch);
		goto done;
	}
	if (rc < 0) {
		rc = git_fail(rc, "cannot look up '%s' in branch '%s'", path, branch);
		goto done;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		rc = sv_error_set(SV_EINVAL, "'%s' in branch '%s' is not a file", path, branch);
		goto done;
	}
	if ((rc = git_blob_lookup(&blob, l->repo, git_tree_entry_id(e))) < 0) {
		rc = git_fail(rc, "cannot read '%s' in branch '%s'", path, branch);
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
static int each_branch(sv_ledger *l, int (*fn)(sv_ledger *l, git_reference *ref, void *ctx), void *ctx)
{
	git_branch_iterator *it = NULL;
	git_reference *ref = NULL;
	git_branch_t type;
	int rc, next;

	if ((rc = git_branch_iterator_new(&it, l->repo, GIT_BRANCH_LOCAL)) < 0)
		return git_fail(rc, "cannot list the ledger's branches");
	while ((next = git_branch_next(&ref, &type, it)) == 0) {
		rc = fn(l, ref, ctx);
		git_reference_free(ref);
		if (rc < 0)
			break;
	}
	if (rc == 0 && next != GIT_ITEROVER)
		rc = git_fail(next, "cannot list the ledger's branches");
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
			rc = list->rc ? list->rc : git_fail(rc, "cannot read captures/ of '%s'", git_reference_name(ref));
	}
	git_tree_free(sub);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return rc;
}

/* Every capture file of every branch tip, sorted by path. */
static int collect_captures(sv_ledger *l, rec_list *list)
{
	int rc = each_branch(l, collect_branch, list);
	if (rc == 0 && list->n)
		qsort(list->v, list->n, sizeof(*list->v), rec_cmp);
	return rc;
}

/* Calls fn for each line of a blob (see sv_ledger_records); *line is a buffer kept between calls. */
static int blob_lines(git_blob *blob, const char *path, sv_ledger_record_fn fn, void *ctx, char **line, size_t *cap)
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
			rc = git_fail(rc, "cannot read '%s' in the ledger", list.v[i].path);
			break;
		}
		rc = blob_lines(blob, list.v[i].path, fn, ctx, &line, &line_cap);
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
		       hex, ref, rc == GIT_ENOTFOUND ? "missing" : git_msg());
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
		report(c, "tree %s (reachable from %s): %s", git_oid_tostr_s(id), ref, git_msg());
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
			       git_msg());
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
		rc = git_fail(rc, "cannot check ledger '%s'", l->path);
		goto done;
	}
	while (!c.rc && (next = git_reference_next(&ref, it)) == 0) {
		git_reference *direct = NULL;
		const char *name = git_reference_name(ref);
		if (git_reference_resolve(&direct, ref) < 0) {
			report(&c, "%s: cannot resolve: %s", name, git_msg());
		} else {
			git_oid tip = *git_reference_target(direct);
			check_history(&c, &tip, name);
			check_rewrites(&c, name, &tip);
		}
		git_reference_free(direct);
		git_reference_free(ref);
	}
	if (!c.rc && next != GIT_ITEROVER)
		report(&c, "refs: cannot list: %s", git_msg());
	rc = c.rc;
	*problems = c.count;
done:
	free(c.seen.slot);
	git_reference_iterator_free(it);
	git_odb_free(c.odb);
	git_repository_free(c.repo);
	return rc;
}

/* ---------------------------------------------------------------- remotes: URLs */

typedef struct {
	int local; /* file:// or a plain path */
	int ssh;   /* ssh://, ssh+git://, git+ssh:// or scp-like user@host:path */
	char path[PATH_MAX]; /* local only */
	char user[128];
	char host[256];
	int port;
} remote_url;

static int has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static int parse_url(const char *url, remote_url *u)
{
	const char *sep = strstr(url, "://"), *auth, *end, *at, *colon;
	memset(u, 0, sizeof(*u));
	u->port = 22;
	if (has_prefix(url, "file://")) {
		u->local = 1;
		snprintf(u->path, sizeof(u->path), "%s", url + strlen("file://"));
		return 0;
	}
	if (!sep) {
		colon = strchr(url, ':');
		if (!colon || memchr(url, '/', (size_t)(colon - url))) {
			u->local = 1;
			snprintf(u->path, sizeof(u->path), "%s", url);
			return 0;
		}
		/* scp-like: [user@]host:path */
		u->ssh = 1;
		auth = url;
		end = colon;
	} else {
		u->ssh = has_prefix(url, "ssh://") || has_prefix(url, "ssh+git://") || has_prefix(url, "git+ssh://");
		auth = sep + 3;
		end = auth + strcspn(auth, "/");
	}
	at = memrchr(auth, '@', (size_t)(end - auth));
	if (at) {
		size_t ulen = strcspn(auth, ":@");
		snprintf(u->user, sizeof(u->user), "%.*s", (int)ulen, auth);
		auth = at + 1;
	}
	if (*auth == '[') {
		const char *close = memchr(auth, ']', (size_t)(end - auth));
		if (!close)
			return sv_error_set(SV_EINVAL, "bad host in ledger URL");
		snprintf(u->host, sizeof(u->host), "%.*s", (int)(close - auth - 1), auth + 1);
		auth = close + 1;
	} else {
		size_t hlen = sep ? strcspn(auth, ":/") : (size_t)(end - auth);
		if (auth + hlen > end)
			hlen = (size_t)(end - auth);
		snprintf(u->host, sizeof(u->host), "%.*s", (int)hlen, auth);
		auth += hlen;
	}
	if (sep && *auth == ':' && auth + 1 < end) {
		char *stop;
		long port = strtol(auth + 1, &stop, 10);
		if (stop != end || port < 1 || port > 65535)
			return sv_error_set(SV_EINVAL, "bad port in ledger URL");
		u->port = (int)port;
	}
	for (char *p = u->host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!u->host[0])
		return sv_error_set(SV_EINVAL, "no host in ledger URL");
	return 0;
}

void sv_ledger_url_redact(const char *url, char *buf, size_t cap)
{
	sv_redact_url(url, buf, cap);
}

/* ---------------------------------------------------------------- remotes: host keys */

/* Decodes standard base64 (padded) into a fresh buffer. */
static unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen)
{
	unsigned char *out;
	int n;
	if (inlen == 0 || inlen % 4 || inlen > INT_MAX || !(out = malloc(inlen / 4 * 3 + 1)))
		return NULL;
	if ((n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen)) < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	*outlen = (size_t)n - (in[inlen - 1] == '=') - (in[inlen - 2] == '=');
	return out;
}

/* "SHA256:<base64>" as ssh prints fingerprints. */
static void fingerprint(const unsigned char *key, size_t len, char *buf, size_t cap)
{
	unsigned char md[32], b64[48];
	unsigned int mdlen;
	EVP_Digest(key, len, md, &mdlen, EVP_sha256(), NULL);
	int n = EVP_EncodeBlock(b64, md, (int)mdlen);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(buf, cap, "SHA256:%.*s", n, b64);
}

/* OpenSSH's host patterns: '*' and '?' only ('[' is literal, as in "[host]:port"). */
static int wildcard(const char *pat, const char *s)
{
	for (; *pat; pat++, s++) {
		if (*pat == '*') {
			for (pat++;; s++) {
				if (wildcard(pat, s))
					return 1;
				if (!*s)
					return 0;
			}
		}
		if (!*s || (*pat != '?' && *pat != *s))
			return 0;
	}
	return !*s;
}

/* Does a known_hosts host field name host (already in "[host]:port" form where needed)? */
static int hosts_field_matches(char *field, const char *name)
{
	if (has_prefix(field, "|1|")) {
		char *salt = field + 3, *hash = strchr(salt, '|');
		unsigned char *s, *h, md[EVP_MAX_MD_SIZE];
		size_t slen, hlen;
		unsigned int mdlen = 0;
		int ok = 0;
		if (!hash)
			return 0;
		s = b64_decode(salt, (size_t)(hash - salt), &slen);
		h = b64_decode(hash + 1, strlen(hash + 1), &hlen);
		if (s && h && slen <= INT_MAX &&
		    HMAC(EVP_sha1(), s, (int)slen, (const unsigned char *)name, strlen(name), md, &mdlen) && hlen == mdlen)
			ok = !memcmp(md, h, mdlen);
		free(s);
		free(h);
		return ok;
	}
	/* Comma-separated patterns with * and ?; a matching !pattern rules the line out. */
	int hit = 0;
	for (char *save = NULL, *pat = strtok_r(field, ",", &save); pat; pat = strtok_r(NULL, ",", &save)) {
		int negated = *pat == '!';
		for (char *p = pat; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (wildcard(pat + negated, name)) {
			if (negated)
				return 0;
			hit = 1;
		}
	}
	return hit;
}

enum { KH_UNKNOWN, KH_MATCH, KH_CHANGED, KH_REVOKED };

/* Looks name's key up in one known_hosts file; -1 if it cannot be read. */
static int known_hosts_file(const char *file, const char *name, const unsigned char *key, size_t keylen, int *verdict)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	if (!f)
		return -1;
	while (getline(&line, &cap, f) >= 0) {
		char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save);
		int revoked = 0;
		if (!tok || *tok == '#')
			continue;
		if (*tok == '@') {
			if (strcmp(tok, "@revoked") != 0) /* @cert-authority: certificates are not used here */
				continue;
			revoked = 1;
			tok = strtok_r(NULL, " \t\r\n", &save);
		}
		char *hosts = tok, *type = strtok_r(NULL, " \t\r\n", &save), *b64 = strtok_r(NULL, " \t\r\n", &save);
		if (!hosts || !type || !b64)
			continue;
		size_t len;
		unsigned char *blob = b64_decode(b64, strlen(b64), &len);
		int same = blob && len == keylen && !memcmp(blob, key, keylen);
		free(blob);
		if (revoked) {
			if (same)
				*verdict = KH_REVOKED;
		} else if (hosts_field_matches(hosts, name) && *verdict != KH_REVOKED) {
			if (same)
				*verdict = KH_MATCH;
			else if (*verdict == KH_UNKNOWN)
				*verdict = KH_CHANGED;
		}
	}
	free(line);
	fclose(f);
	return 0;
}

/* ---------------------------------------------------------------- remotes: callbacks */

typedef struct {
	const char *url;
	char shown[1024]; /* url without its password, for messages */
	remote_url u;
	const sv_ledger_remote_options *o;
	git_repository *repo;
	git_odb *odb;
	char known_hosts[2][PATH_MAX];
	char keys[4][PATH_MAX]; /* ssh keys to try, in order; "" for the agent */
	int nkeys, tried;
	char why[1024]; /* our reason when a callback refused */
	int why_code;
	char rejected[1024]; /* what the remote refused, from push_update_reference */
} remote_ctx;

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	if (home && *home)
		return home;
	pw = getpwuid(getuid());
	return pw ? pw->pw_dir : "/";
}

static int refuse(remote_ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(remote_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	c->why_code = code;
	git_error_set_str(GIT_ERROR_CALLBACK, c->why);
	return -1;
}

static int on_certificate(git_cert *cert, int valid, const char *host, void *payload)
{
	remote_ctx *c = payload;
	char name[300], fp[64];
	int verdict = KH_UNKNOWN, readable = 0;
	(void)valid;

	/* TLS: libgit2's own verdict stands. */
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH;
	git_cert_hostkey *hk = (git_cert_hostkey *)cert;
	if (!(hk->type & GIT_CERT_SSH_RAW))
		return refuse(c, SV_EIO, "cannot check the host key of %s: libssh2 gave no raw key", host);
	const char *h = c->u.host[0] ? c->u.host : host;
	if (c->u.port == 22)
		snprintf(name, sizeof(name), "%s", h);
	else
		snprintf(name, sizeof(name), "[%s]:%d", h, c->u.port);
	for (int i = 0; i < 2 && c->known_hosts[i][0]; i++)
		if (known_hosts_file(c->known_hosts[i], name, (const unsigned char *)hk->hostkey, hk->hostkey_len, &verdict) == 0)
			readable = 1;
	fingerprint((const unsigned char *)hk->hostkey, hk->hostkey_len, fp, sizeof(fp));
	switch (verdict) {
	case KH_MATCH:
		return 0;
	case KH_REVOKED:
		return refuse(c, SV_EIO, "the host key of %s (%s) is revoked in known_hosts", name, fp);
	case KH_CHANGED:
		return refuse(c, SV_EIO,
			      "the host key of %s (%s) does not match known_hosts '%s': the key changed, or someone "
			      "is in the middle; refusing to connect",
			      name, fp, c->known_hosts[0]);
	default:
		if (!readable)
			return refuse(c, SV_EIO, "cannot check the host key of %s: cannot read known_hosts '%s'", name,
				      c->known_hosts[0]);
		return refuse(c, SV_EIO, "%s is not in known_hosts '%s' (its key is %s); add it once you trust it", name,
			      c->known_hosts[0], fp);
	}
}

static int on_credentials(git_credential **out, const char *url, const char *user_from_url, unsigned int allowed,
			  void *payload)
{
	remote_ctx *c = payload;
	const char *user = user_from_url && *user_from_url ? user_from_url : c->u.user;
	struct passwd *pw;
	(void)url;

	if (!*user)
		user = (pw = getpwuid(getuid())) ? pw->pw_name : "git";
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user);
	if (!(allowed & GIT_CREDENTIAL_SSH_KEY))
		return GIT_PASSTHROUGH;
	/* Each way once: libgit2 asks again after every refusal. */
	while (c->tried < c->nkeys) {
		const char *key = c->keys[c->tried++];
		char pub[PATH_MAX + 8];
		if (!*key)
			return git_credential_ssh_key_from_agent(out, user);
		snprintf(pub, sizeof(pub), "%s.pub", key);
		return git_credential_ssh_key_new(out, user, access(pub, R_OK) == 0 ? pub : NULL, key,
						  c->o && c->o->ssh_passphrase ? c->o->ssh_passphrase : NULL);
	}
	return refuse(c, SV_EIO, "ssh authentication as '%s' to %s port %d failed (tried %s)", user, c->u.host, c->u.port,
		      c->nkeys == 0 ? "nothing: no agent, no key file" :
		      c->o && c->o->ssh_key ? "the key file" : "the ssh agent and key files");
}

static int on_push_status(const char *refname, const char *status, void *payload)
{
	remote_ctx *c = payload;
	size_t n = strlen(c->rejected);
	if (status)
		snprintf(c->rejected + n, sizeof(c->rejected) - n, "%s%s (%s)", n ? ", " : "", refname, status);
	return 0;
}

/* The remote's history must never be rewritten: each update has to be a fast-forward. */
static int on_push_plan(const git_push_update **updates, size_t len, void *payload)
{
	remote_ctx *c = payload;
	for (size_t i = 0; i < len; i++) {
		/* src is what the remote holds now, dst what it would hold. */
		const git_oid *now = &updates[i]->src, *next = &updates[i]->dst;
		if (git_oid_is_zero(now) || git_oid_equal(now, next))
			continue;
		if (git_oid_is_zero(next) || !git_odb_exists(c->odb, now) ||
		    git_graph_descendant_of(c->repo, next, now) != 1)
			return refuse(c, SV_ECORRUPT,
				      "cannot push %s to '%s': it holds commits this ledger does not have (not a "
				      "fast-forward); the remote's history is never rewritten",
				      updates[i]->dst_refname, c->shown);
	}
	return 0;
}

/* ---------------------------------------------------------------- remotes: push, fetch */

static int ctx_init(remote_ctx *c, sv_ledger *l, const char *url, const sv_ledger_remote_options *o)
{
	static const char *const defaults[] = {"id_ed25519", "id_ecdsa", "id_rsa"};
	const char *home = home_dir();
	int rc;

	memset(c, 0, sizeof(*c));
	c->url = url;
	c->o = o;
	c->repo = l->repo;
	sv_ledger_url_redact(url, c->shown, sizeof(c->shown));
	if ((rc = parse_url(url, &c->u)) < 0)
		return sv_error_prefix("bad ledger URL '%s'", c->shown);
	if (o && o->known_hosts) {
		snprintf(c->known_hosts[0], PATH_MAX, "%s", o->known_hosts);
	} else {
		snprintf(c->known_hosts[0], PATH_MAX, "%s/.ssh/known_hosts", home);
		snprintf(c->known_hosts[1], PATH_MAX, "/etc/ssh/ssh_known_hosts");
	}
	if (o && o->ssh_key) {
		snprintf(c->keys[c->nkeys++], PATH_MAX, "%s", o->ssh_key);
	} else {
		const char *agent = getenv("SSH_AUTH_SOCK");
		if (agent && *agent)
			c->keys[c->nkeys++][0] = '\0';
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
			snprintf(c->keys[c->nkeys], PATH_MAX, "%s/.ssh/%s", home, defaults[i]);
			if (access(c->keys[c->nkeys], R_OK) == 0)
				c->nkeys++;
		}
	}
	if ((rc = git_repository_odb(&c->odb, l->repo)) < 0)
		return git_fail(rc, "cannot open the ledger's objects");
	return 0;
}

/* Sets the error for a failed remote operation: our callback's reason, or libgit2's without secrets. */
static int remote_fail(remote_ctx *c, int gitrc, const char *what)
{
	char msg[1400];
	if (c->why[0])
		return sv_error_set(c->why_code, "%s", c->why);
	snprintf(msg, sizeof(msg), "%s '%s': %s", what, c->shown, git_msg());
	sv_redact_scrub(msg, sizeof(msg), c->url);
	/* Remote messages (git's "fatal: ...") come with their newline. */
	for (size_t n = strlen(msg); n && isspace((unsigned char)msg[n - 1]);)
		msg[--n] = '\0';
	return sv_error_set(code_of(gitrc), "%s", msg);
}

static void set_callbacks(git_remote_callbacks *cb, remote_ctx *c)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = on_credentials;
	cb->certificate_check = on_certificate;
	cb->push_negotiation = on_push_plan;
	cb->push_update_reference = on_push_status;
	cb->payload = c;
}

static int connect_remote(remote_ctx *c, git_remote **out, git_direction dir, const git_remote_callbacks *cb)
{
	git_remote_create_options ro;
	int rc = git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	/* The URL is used as written: no url.*.insteadOf rewriting from the user's
	 * git config (whose regexp matching also leaks in libgit2 1.5). */
	ro.repository = c->repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (rc < 0 || (rc = git_remote_create_with_opts(out, c->url, &ro)) < 0 ||
	    (rc = git_remote_connect(*out, dir, cb, NULL, NULL)) < 0)
		return remote_fail(c, rc, "cannot connect to");
	return 0;
}

/* Connects with this context's callbacks and lists the remote's refs. */
static int connect_and_list(remote_ctx *c, git_remote **out, git_direction dir, git_remote_callbacks *cb,
			    const git_remote_head ***heads, size_t *nheads)
{
	int rc;
	set_callbacks(cb, c);
	if ((rc = connect_remote(c, out, dir, cb)) < 0)
		return rc;
	if ((rc = git_remote_ls(heads, nheads, *out)) < 0)
		return remote_fail(c, rc, "cannot list the branches of");
	return 0;
}

/* The id the remote advertises for refname, or NULL. */
static const git_oid *advertised(const git_remote_head **heads, size_t n, const char *refname)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(heads[i]->name, refname))
			return &heads[i]->oid;
	return NULL;
}

typedef struct {
	sv_ledger_tip *v;
	size_t n, cap;
} tip_list;

/* One branch's name and commit onto the tip_list ctx. */
static int add_tip(sv_ledger *l, git_reference *ref, void *ctx)
{
	tip_list *t = ctx;
	git_reference *direct = NULL;
	const char *name = git_reference_name(ref) + strlen("refs/heads/");
	int rc = git_reference_resolve(&direct, ref);

	(void)l;
	if (rc < 0)
		rc = git_fail(rc, "cannot read '%s'", git_reference_name(ref));
	else if (strlen(name) >= sizeof(t->v->branch))
		rc = sv_error_set(SV_EINVAL, "branch name too long: '%.100s...'", name);
	else if (t->n == t->cap) {
		sv_ledger_tip *bigger = realloc(t->v, (t->cap ? t->cap * 2 : 8) * sizeof(*t->v));
		if (!bigger)
			rc = sv_error_set(SV_EIO, "out of memory");
		else {
			t->v = bigger;
			t->cap = t->cap ? t->cap * 2 : 8;
		}
	}
	if (rc == 0) {
		snprintf(t->v[t->n].branch, sizeof(t->v->branch), "%s", name);
		git_oid_tostr(t->v[t->n].commit, sizeof(t->v->commit), git_reference_target(direct));
		t->n++;
	}
	git_reference_free(direct);
	return rc;
}

int sv_ledger_tips(sv_ledger *l, sv_ledger_tip **out, size_t *n)
{
	tip_list t = {0};
	int rc = each_branch(l, add_tip, &t);

	if (rc < 0) {
		free(t.v);
		*out = NULL;
		*n = 0;
		return rc;
	}
	*out = t.v;
	*n = t.n;
	return 0;
}

/* Where a pushed tip waits while it is sent: a ref of this process's own. */
#define PUSH_REFS "refs/salvage/push/"

typedef struct {
	char dst[300]; /* refs/heads/<branch> */
	git_oid id;
	const git_oid *theirs; /* what the remote holds, or NULL */
	int made;              /* the temp ref was created */
} push_item;

typedef struct {
	sv_ledger *l;
	sv_ledger_record_fn fn;
	void *ctx;
	char *line;
	size_t cap;
	int rc;
} new_files;

static int on_new_file(const git_diff_delta *d, float progress, void *payload)
{
	new_files *nf = payload;
	git_blob *blob = NULL;
	(void)progress;
	if (d->status != GIT_DELTA_ADDED && d->status != GIT_DELTA_MODIFIED)
		return 0;
	if (git_blob_lookup(&blob, nf->l->repo, &d->new_file.id) < 0) {
		nf->rc = git_fail(-1, "cannot read '%s' in the ledger", d->new_file.path);
		return -1;
	}
	nf->rc = blob_lines(blob, d->new_file.path, nf->fn, nf->ctx, &nf->line, &nf->cap);
	git_blob_free(blob);
	return nf->rc ? -1 : 0;
}

/* Calls fn for each line of the capture files in ours that theirs (NULL or unknown here: none) lacks. */
static int new_records(sv_ledger *l, git_odb *odb, const git_oid *theirs, const git_oid *ours, sv_ledger_record_fn fn,
		       void *ctx)
{
	static char *captures[] = {"captures"};
	git_commit *a = NULL, *b = NULL;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	git_diff_options o;
	new_files nf = {l, fn, ctx, NULL, 0, 0};
	int rc;

	if (theirs && git_odb_exists(odb, theirs) && git_commit_lookup(&a, l->repo, theirs) == 0 &&
	    git_commit_tree(&ta, a) < 0)
		ta = NULL;
	if ((rc = git_commit_lookup(&b, l->repo, ours)) < 0 || (rc = git_commit_tree(&tb, b)) < 0) {
		rc = git_fail(rc, "cannot read commit %s", git_oid_tostr_s(ours));
		goto done;
	}
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.pathspec.strings = captures;
	o.pathspec.count = 1;
	if ((rc = git_diff_tree_to_tree(&diff, l->repo, ta, tb, &o)) < 0) {
		rc = git_fail(rc, "cannot compare commit %s with the remote's", git_oid_tostr_s(ours));
		goto done;
	}
	rc = git_diff_foreach(diff, on_new_file, NULL, NULL, NULL, &nf);
	if (rc != 0)
		rc = nf.rc ? nf.rc : git_fail(rc, "cannot read the changes of commit %s", git_oid_tostr_s(ours));
done:
	free(nf.line);
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	git_commit_free(a);
	git_commit_free(b);
	return rc;
}

/* PUSH_REFS<pid>/heads/<branch> into buf. */
static void push_ref_name(char *buf, size_t cap, long pid, const char *dst)
{
	snprintf(buf, cap, PUSH_REFS "%ld/%s", pid, dst + strlen("refs/"));
}

/* Removes the temp refs of pushes whose process is gone (killed mid-push). */
static void drop_stale_push_refs(sv_ledger *l)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	if (git_reference_iterator_glob_new(&it, l->repo, PUSH_REFS "*") < 0)
		return;
	while (git_reference_next(&ref, it) == 0) {
		long pid = strtol(git_reference_name(ref) + strlen(PUSH_REFS), NULL, 10);
		if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
			git_reference_delete(ref);
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
}

/*
 * Pushes send the ledger's objects whole (zlib only), without a delta
 * search: the capture records of one checkpoint share little with another's,
 * and the search was most of a push (2.3 s of 4 s for 22,500 captures).
 * libgit2 1.5 takes its big-file threshold, above which it never looks for
 * deltas, from "pack.deltaCacheSize" (a slip for "pack.bigFileThreshold",
 * which it never reads), so both are set to 1 in the ledger's config; to
 * git, pack.deltaCacheSize is only the size of a cache.
 */
static int pack_without_deltas(sv_ledger *l)
{
	static const char *const keys[] = {"pack.deltaCacheSize", "pack.bigFileThreshold"};
	git_config *cfg = NULL;
	int rc = git_repository_config(&cfg, l->repo);
	for (size_t i = 0; rc >= 0 && i < sizeof(keys) / sizeof(keys[0]); i++) {
		int64_t v;
		if (git_config_get_int64(&v, cfg, keys[i]) < 0 || v != 1)
			rc = git_config_set_int64(cfg, keys[i], 1);
	}
	git_config_free(cfg);
	return rc < 0 ? git_fail(rc, "cannot configure ledger '%s'", l->path) : 0;
}

/*
 * Sends items[i].id to items[i].dst for every item the remote does not hold
 * as it is. temp: each is sent from a temp ref of this process (libgit2 pushes
 * refs, not ids), else from dst itself (the branch as it is when sent).
 */
static int push_items(sv_ledger *l, const char *url, const sv_ledger_remote_options *o, push_item *items, size_t n,
		      int temp, sv_ledger_record_fn check, void *ctx, size_t *pushed)
{
	remote_ctx c;
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	git_push_options po;
	const git_remote_head **heads;
	size_t nheads;
	git_strarray specs = {NULL, 0};
	char src[600];
	int rc;

	if (pushed)
		*pushed = 0;
	if ((rc = ctx_init(&c, l, url, o)) < 0)
		goto done;
	if (c.u.local && (rc = sv_ledger_init(c.u.path)) < 0) {
		sv_error_prefix("cannot create the mirror ledger");
		goto done;
	}
	if ((rc = connect_and_list(&c, &remote, GIT_DIRECTION_PUSH, &cb, &heads, &nheads)) < 0)
		goto done;
	if (!(specs.strings = calloc(n ? n : 1, sizeof(char *)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	if (temp)
		drop_stale_push_refs(l);
	/* Only branches the remote does not already hold as they are. */
	for (size_t i = 0; i < n; i++) {
		items[i].theirs = advertised(heads, nheads, items[i].dst);
		if (items[i].theirs && git_oid_equal(items[i].theirs, &items[i].id))
			continue;
		if (check && (rc = new_records(l, c.odb, items[i].theirs, &items[i].id, check, ctx)) != 0)
			goto done;
		if (temp) {
			git_reference *ref = NULL;
			push_ref_name(src, sizeof(src), (long)getpid(), items[i].dst);
			if ((rc = git_reference_create(&ref, l->repo, src, &items[i].id, 1, NULL)) < 0) {
				rc = git_fail(rc, "cannot make the ref '%s'", src);
				goto done;
			}
			git_reference_free(ref);
			items[i].made = 1;
		} else {
			snprintf(src, sizeof(src), "%s", items[i].dst);
		}
		if (asprintf(&specs.strings[specs.count], "%s:%s", src, items[i].dst) < 0) {
			specs.strings[specs.count] = NULL;
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		specs.count++;
	}
	if (specs.count == 0)
		goto done;
	if ((rc = pack_without_deltas(l)) < 0)
		goto done;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = cb;
	if ((rc = git_remote_push(remote, &specs, &po)) < 0) {
		rc = remote_fail(&c, rc, "cannot push the ledger to");
		goto done;
	}
	if (c.rejected[0])
		rc = sv_error_set(SV_EIO, "'%s' refused %s", c.shown, c.rejected);
	else if (pushed)
		*pushed = specs.count;
done:
	for (size_t i = 0; i < n; i++)
		if (items[i].made) {
			push_ref_name(src, sizeof(src), (long)getpid(), items[i].dst);
			git_reference_remove(l->repo, src);
			items[i].made = 0;
		}
	for (size_t i = 0; i < specs.count; i++)
		free(specs.strings[i]);
	free(specs.strings);
	git_remote_free(remote);
	git_odb_free(c.odb);
	return rc;
}

/* push_item for each tip; SV_EINVAL for a bad one. */
static int tip_items(const sv_ledger_tip *tips, size_t n, push_item **out)
{
	push_item *items = calloc(n ? n : 1, sizeof(*items));
	*out = NULL;
	if (!items)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (branch_ref(items[i].dst, sizeof(items[i].dst), tips[i].branch) < 0 ||
		    strnlen(tips[i].commit, sizeof(tips[i].commit)) != GIT_OID_HEXSZ ||
		    git_oid_fromstrn(&items[i].id, tips[i].commit, GIT_OID_HEXSZ) < 0) {
			free(items);
			return sv_error_set(SV_EINVAL, "bad tip '%.100s' at '%.41s'", tips[i].branch, tips[i].commit);
		}
	}
	*out = items;
	return 0;
}

int sv_ledger_push(sv_ledger *l, const char *url, const sv_ledger_remote_options *o)
{
	sv_ledger_tip *tips = NULL;
	push_item *items = NULL;
	size_t n;
	int rc;
	if ((rc = sv_ledger_tips(l, &tips, &n)) == 0 && (rc = tip_items(tips, n, &items)) == 0)
		rc = push_items(l, url, o, items, n, 0, NULL, NULL, NULL);
	free(items);
	free(tips);
	return rc;
}

int sv_ledger_push_tips(sv_ledger *l, const char *url, const sv_ledger_remote_options *o, const sv_ledger_tip *tips,
			size_t n, sv_ledger_record_fn check, void *ctx, size_t *pushed)
{
	push_item *items = NULL;
	int rc;
	if (pushed)
		*pushed = 0;
	if ((rc = tip_items(tips, n, &items)) == 0)
		rc = push_items(l, url, o, items, n, 1, check, ctx, pushed);
	free(items);
	return rc;
}

int sv_ledger_remote_contains(sv_ledger *l, const char *url, const sv_ledger_remote_options *o,
			      const sv_ledger_tip *tips, size_t n, int *has)
{
	remote_ctx c;
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	git_fetch_options fo;
	const git_remote_head **heads;
	size_t nheads;
	push_item *items = NULL;
	git_strarray specs = {NULL, 0};
	int rc;

	for (size_t i = 0; i < n; i++)
		has[i] = 0;
	if ((rc = tip_items(tips, n, &items)) < 0)
		return rc;
	if ((rc = ctx_init(&c, l, url, o)) < 0)
		goto done;
	if ((rc = connect_and_list(&c, &remote, GIT_DIRECTION_FETCH, &cb, &heads, &nheads)) < 0)
		goto done;
	if (!(specs.strings = calloc(n ? n : 1, sizeof(char *)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	/* Remote commits unknown here are needed to tell whether they descend from ours. */
	for (size_t i = 0; i < n; i++) {
		items[i].theirs = advertised(heads, nheads, items[i].dst);
		if (items[i].theirs && !git_odb_exists(c.odb, items[i].theirs))
			specs.strings[specs.count++] = items[i].dst;
	}
	if (specs.count) {
		git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
		fo.callbacks = cb;
		fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
		fo.update_fetchhead = 0;
		if ((rc = git_remote_download(remote, &specs, &fo)) < 0) {
			rc = remote_fail(&c, rc, "cannot fetch the ledger from");
			goto done;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const git_oid *theirs = items[i].theirs;
		has[i] = theirs && (git_oid_equal(theirs, &items[i].id) ||
				    (git_odb_exists(c.odb, theirs) &&
				     git_graph_descendant_of(l->repo, theirs, &items[i].id) == 1));
	}
done:
	free(specs.strings);
	free(items);
	git_remote_free(remote);
	git_odb_free(c.odb);
	return rc;
}

typedef struct {
	char *name;
	git_oid theirs, ours;
	int have_ours;
} fetched_branch;

int sv_ledger_fetch(sv_ledger *l, const char *url, const sv_ledger_remote_options *o)
{
	static char *fetch_spec[] = {"refs/heads/*:refs/heads/*"};
	const git_strarray specs = {fetch_spec, 1};
	remote_ctx c;
	git_remote *remote = NULL;
	git_remote_callbacks cb;
	git_fetch_options fo;
	const git_remote_head **heads;
	size_t nheads, n = 0;
	fetched_branch *b = NULL;
	char clash[1024] = "", logmsg[1100];
	int rc, turn = -1;

	if ((rc = ctx_init(&c, l, url, o)) < 0)
		goto done;
	if ((rc = connect_and_list(&c, &remote, GIT_DIRECTION_FETCH, &cb, &heads, &nheads)) < 0)
		goto done;
	if (nheads && !(b = calloc(nheads, sizeof(*b)))) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nheads; i++) {
		int valid = 0;
		if (!has_prefix(heads[i]->name, "refs/heads/") || git_reference_name_is_valid(&valid, heads[i]->name) < 0 ||
		    !valid)
			continue;
		if (!(b[n].name = strdup(heads[i]->name))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		git_oid_cpy(&b[n++].theirs, &heads[i]->oid);
	}
	/* Objects first, refs after: nothing moves until every branch is known to be safe. */
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	fo.callbacks = cb;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	fo.update_fetchhead = 0;
	if ((rc = git_remote_download(remote, &specs, &fo)) < 0) {
		rc = remote_fail(&c, rc, "cannot fetch the ledger from");
		goto done;
	}
	git_remote_disconnect(remote);

	/* Plan and update in one turn, so no salvage commit slips in between. */
	if ((rc = take_turn(l, &turn)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if ((b[i].have_ours = ref_tip(l->repo, b[i].name, &b[i].ours)) < 0) {
			rc = b[i].have_ours;
			goto done;
		}
		if (!git_odb_exists(c.odb, &b[i].theirs)) {
			rc = sv_error_set(SV_ECORRUPT, "'%s' did not send the commits of %s", c.shown, b[i].name);
			goto done;
		}
		if (b[i].have_ours && !git_oid_equal(&b[i].ours, &b[i].theirs) &&
		    git_graph_descendant_of(l->repo, &b[i].theirs, &b[i].ours) != 1 &&
		    git_graph_descendant_of(l->repo, &b[i].ours, &b[i].theirs) != 1) {
			size_t len = strlen(clash);
			snprintf(clash + len, sizeof(clash) - len, "%s%s", len ? ", " : "", b[i].name);
		}
	}
	if (clash[0]) {
		rc = sv_error_set(SV_ECORRUPT,
				  "fetching from '%s' would rewrite %s: the histories differ; nothing was updated",
				  c.shown, clash);
		goto done;
	}
	snprintf(logmsg, sizeof(logmsg), "fetch: fast-forward from %s", c.shown);
	if ((rc = sync_parents(l, NULL, 1)) < 0)
		goto done;
	for (size_t i = 0; i < n && rc == 0; i++) {
		git_reference *ref = NULL;
		git_oid zero;
		/* Equal, or ours already ahead: nothing to do. */
		if (b[i].have_ours && (git_oid_equal(&b[i].ours, &b[i].theirs) ||
				       git_graph_descendant_of(l->repo, &b[i].ours, &b[i].theirs) == 1))
			continue;
		memset(&zero, 0, sizeof(zero));
		rc = git_reference_create_matching(&ref, l->repo, b[i].name, &b[i].theirs, 1,
						   b[i].have_ours ? &b[i].ours : &zero, logmsg);
		git_reference_free(ref);
		if (rc == GIT_EMODIFIED || rc == GIT_ELOCKED)
			rc = sv_error_set(SV_EIO, "%s moved during the fetch from '%s'; fetch again", b[i].name, c.shown);
		else if (rc < 0)
			rc = git_fail(rc, "cannot update %s", b[i].name);
		else
			rc = sync_parents(l, b[i].name, 0);
	}
done:
	if (turn >= 0)
		close(turn);
	for (size_t i = 0; i < n; i++)
		free(b[i].name);
	free(b);
	git_remote_free(remote);
	git_odb_free(c.odb);
	return rc;
}
