/*
 * storage/ledger_remote.c -- the ledger's git remotes (see ledger.h): push,
 * push of given tips, remote_contains, fetch and tips, with the credentials,
 * host key and push-plan callbacks libgit2 calls.
 *
 * What must stay true: pushes and fetches never move a branch anywhere but
 * forward (on_push_plan refuses a push that is not a fast-forward; a fetch
 * updates nothing if any branch would be rewritten); no message carries a
 * password from a URL (URLs are shown through sv_ledger_url_redact and
 * libgit2's messages scrubbed, both by common/redact.h's policy).
 *
 * libgit2 1.5 does not read known_hosts: without a certificate_check callback
 * it accepts any ssh host key. on_certificate compares the raw key libssh2
 * saw with the known_hosts files itself (known_hosts.h).
 */
#include "ledger_private.h"
#include "known_hosts.h"

#include "../common/error.h"
#include "../common/redact.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- remotes: URLs */

typedef struct {
	int local; /* file:// or a plain path */
	int ssh;   /* ssh://, ssh+git://, git+ssh:// or scp-like user@host:path */
	char path[PATH_MAX]; /* local: the folder; ssh: the path git-receive-pack gets */
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
	/* The path as libgit2 1.5 sends it: not decoded; ssh://host/~/x is ~/x. */
	if (sep)
		snprintf(u->path, sizeof(u->path), "%s", end[0] == '/' && end[1] == '~' ? end + 1 : end);
	else
		snprintf(u->path, sizeof(u->path), "%s", end + 1);
	/* libgit2 puts the path between single quotes for the server's shell, without escaping any. */
	if (u->ssh && strchr(u->path, '\''))
		return sv_error_set(SV_EINVAL, "a single quote in an ssh ledger path cannot be sent safely");
	return 0;
}

void sv_ledger_url_redact(const char *url, char *buf, size_t cap)
{
	sv_redact_url(url, buf, cap);
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
	const char *files[2] = {c->known_hosts[0], c->known_hosts[1]};
	char why[1024];
	(void)valid;

	/* TLS: libgit2's own verdict stands. */
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return GIT_PASSTHROUGH;
	git_cert_hostkey *hk = (git_cert_hostkey *)cert;
	if (!(hk->type & GIT_CERT_SSH_RAW))
		return refuse(c, SV_EIO, "cannot check the host key of %s: libssh2 gave no raw key", host);
	if (sv_known_hosts_check(files, 2, c->u.host[0] ? c->u.host : host, c->u.port,
				 (const unsigned char *)hk->hostkey, hk->hostkey_len, why, sizeof(why)) == 0)
		return 0;
	return refuse(c, SV_EIO, "%s", why);
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
		return sv_ledger_git_fail(rc, "cannot open the ledger's objects");
	return 0;
}

/* Sets the error for a failed remote operation: our callback's reason, or libgit2's without secrets. */
static int remote_fail(remote_ctx *c, int gitrc, const char *what)
{
	char msg[1400];
	if (c->why[0])
		return sv_error_set(c->why_code, "%s", c->why);
	snprintf(msg, sizeof(msg), "%s '%s': %s", what, c->shown, sv_ledger_git_msg());
	sv_redact_scrub(msg, sizeof(msg), c->url);
	/* Remote messages (git's "fatal: ...") come with their newline. */
	for (size_t n = strlen(msg); n && isspace((unsigned char)msg[n - 1]);)
		msg[--n] = '\0';
	return sv_error_set(sv_ledger_code_of(gitrc), "%s", msg);
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
		rc = sv_ledger_git_fail(rc, "cannot read '%s'", git_reference_name(ref));
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
	int rc = sv_ledger_each_branch(l, add_tip, &t);

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
		nf->rc = sv_ledger_git_fail(-1, "cannot read '%s' in the ledger", d->new_file.path);
		return -1;
	}
	nf->rc = sv_ledger_blob_lines(blob, d->new_file.path, nf->fn, nf->ctx, &nf->line, &nf->cap);
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
		rc = sv_ledger_git_fail(rc, "cannot read commit %s", git_oid_tostr_s(ours));
		goto done;
	}
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.pathspec.strings = captures;
	o.pathspec.count = 1;
	if ((rc = git_diff_tree_to_tree(&diff, l->repo, ta, tb, &o)) < 0) {
		rc = sv_ledger_git_fail(rc, "cannot compare commit %s with the remote's", git_oid_tostr_s(ours));
		goto done;
	}
	rc = git_diff_foreach(diff, on_new_file, NULL, NULL, NULL, &nf);
	if (rc != 0)
		rc = nf.rc ? nf.rc : sv_ledger_git_fail(rc, "cannot read the changes of commit %s", git_oid_tostr_s(ours));
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
	return rc < 0 ? sv_ledger_git_fail(rc, "cannot configure ledger '%s'", l->path) : 0;
}

/*
 * After a push to an ssh ledger could not connect (rc, its error set), the
 * repository may not exist yet: a first push makes it, as one to a file://
 * ledger does. 1 if it was made (connect again), else the error to report:
 * the push's own when a repository is there or the server could not even be
 * reached as the push would have.
 */
static int first_ssh_push(remote_ctx *c, int rc)
{
	const char *files[2] = {c->known_hosts[0], c->known_hosts[1]};
	char user[128], first[1400];
	struct passwd *pw;
	int made;

	/* Our own refusals (host key, authentication) stand. */
	if (!c->u.ssh || c->why[0])
		return rc;
	if (c->u.user[0])
		snprintf(user, sizeof(user), "%s", c->u.user);
	else
		snprintf(user, sizeof(user), "%s", (pw = getpwuid(getuid())) ? pw->pw_name : "git");
	snprintf(first, sizeof(first), "%s", sv_error_last());
	sv_ledger_ssh_target t = {c->u.host, user, c->shown, c->u.port, c->u.path, files, 2,
				  (const char(*)[PATH_MAX])c->keys, c->nkeys, c->o ? c->o->ssh_passphrase : NULL};
	if ((made = sv_ledger_ssh_create(&t)) == 0)
		return sv_error_set(rc, "%s", first);
	c->tried = 0; /* the keys again, for the next connection */
	return made;
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
	if ((rc = connect_and_list(&c, &remote, GIT_DIRECTION_PUSH, &cb, &heads, &nheads)) < 0 &&
	    (rc = first_ssh_push(&c, rc)) > 0) {
		git_remote_free(remote);
		remote = NULL;
		rc = connect_and_list(&c, &remote, GIT_DIRECTION_PUSH, &cb, &heads, &nheads);
	}
	if (rc < 0)
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
				rc = sv_ledger_git_fail(rc, "cannot make the ref '%s'", src);
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
		if (sv_ledger_branch_ref(items[i].dst, sizeof(items[i].dst), tips[i].branch) < 0 ||
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
	if ((rc = sv_ledger_take_turn(l, &turn)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++) {
		if ((b[i].have_ours = sv_ledger_ref_tip(l->repo, b[i].name, &b[i].ours)) < 0) {
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
	if ((rc = sv_ledger_sync_parents(l, NULL, 1)) < 0)
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
			rc = sv_ledger_git_fail(rc, "cannot update %s", b[i].name);
		else
			rc = sv_ledger_sync_parents(l, b[i].name, 0);
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

