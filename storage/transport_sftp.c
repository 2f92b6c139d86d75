/*
 * storage/transport_sftp.c -- the sftp transport: SFTP through libcurl (with
 * libssh2), its requests run by transport_curl.c. Renames, removals and
 * folder listings are quote commands and long listings; sizes come from
 * the reply, or from the folder's listing for empty files.
 *
 * What must stay true: the host key must match known_hosts before anything
 * is sent (an unknown or changed key is refused); a file appears under its
 * name only complete (upload to a temp name beside it, then rename); at most
 * SFTP_MAX_TRANSFERS connections at once.
 */
#include "transport_backend.h"

#include "../common/error.h"
#include "../common/path.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenSSH's default MaxStartups (10:30:100) drops unauthenticated connections beyond 10. */
#define SFTP_MAX_TRANSFERS 8
#define SFTP_LIST_BODY_MAX (256u << 20) /* one folder's long listing */

static int on_host_key(CURL *e, const struct curl_khkey *known, const struct curl_khkey *found, enum curl_khmatch match,
		       void *ud)
{
	job *j = ud;
	(void)e;
	(void)known;
	(void)found;
	if (match == CURLKHMATCH_OK)
		return CURLKHSTAT_FINE;
	j->host_key_bad = (int)match + 1;
	return CURLKHSTAT_REJECT;
}



/* The ssh side of every request: keys, known_hosts, and the quote commands around it. */
static void sftp_setup(job *j, CURL *e)
{
	const sv_transport *t = j->t;
	curl_easy_setopt(e, CURLOPT_SSH_AUTH_TYPES, t->ssh_auth);
	if (t->ssh_key)
		curl_easy_setopt(e, CURLOPT_SSH_PRIVATE_KEYFILE, t->ssh_key);
	curl_easy_setopt(e, CURLOPT_SSH_KNOWNHOSTS, t->known_hosts);
	curl_easy_setopt(e, CURLOPT_SSH_KEYFUNCTION, on_host_key);
	curl_easy_setopt(e, CURLOPT_SSH_KEYDATA, (void *)j);
	if (j->create_dirs)
		curl_easy_setopt(e, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR);
	if (j->quote)
		curl_easy_setopt(e, CURLOPT_QUOTE, j->quote);
	if (j->postquote)
		curl_easy_setopt(e, CURLOPT_POSTQUOTE, j->postquote);
}

static char *sftp_qpath(const sv_transport *t, const char *name)
{
	size_t n = strlen(t->qbase), m = strlen(name);
	char *out = malloc(2 * n + m + 5), *o = out;
	if (!out)
		return NULL;
	*o++ = '"';
	for (const char *p = t->qbase; *p; p++) {
		if (*p == '"' || *p == '\\')
			*o++ = '\\';
		*o++ = *p;
	}
	if (*name) {
		if (o[-1] != '/')
			*o++ = '/';
		memcpy(o, name, m);
		o += m;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

/* Appends "CMD A [B]" to *list. */
static int add_quote(const sv_transport *t, struct curl_slist **list, const char *cmd, const char *a, const char *b)
{
	char *pa = sftp_qpath(t, a), *pb = b ? sftp_qpath(t, b) : NULL, *line = NULL;
	struct curl_slist *nl = NULL;
	if (pa && (!b || pb) && asprintf(&line, "%s %s%s%s", cmd, pa, pb ? " " : "", pb ? pb : "") >= 0)
		nl = curl_slist_append(*list, line);
	free(pa);
	free(pb);
	free(line);
	if (!nl)
		return sv_transport_oom(t);
	*list = nl;
	return 0;
}

/* Parses one line of a long (ls -l style) SFTP listing: type, size and name. */
static int parse_long_entry(char *line, char *type, int64_t *size, const char **name)
{
	char *p = line, *end;
	*type = line[0];
	/* mode, links, owner, group, size, month, day, time or year, then the name */
	for (int field = 0; field < 8; field++) {
		while (*p && *p != ' ')
			p++;
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		if (field == 3) {
			errno = 0;
			long long v = strtoll(p, &end, 10);
			if (errno || end == p || *end != ' ' || v < 0)
				return -1;
			*size = v;
		}
	}
	*name = p;
	return 0;
}

/*
 * The size of name from its folder's listing. curl reports an empty file's
 * size as unknown, so this is how an empty file is told from a size the
 * server kept to itself.
 */
static int sftp_stat_listed(sv_transport *t, const char *name, int64_t *size)
{
	const char *base = sv_transport_base_of(name);
	char dir[SV_TRANSPORT_NAME_MAX + 1];
	job j;
	int rc;
	snprintf(dir, sizeof(dir), "%.*s", base > name ? (int)(base - name - 1) : 0, name);
	sv_transport_job_init(&j, t);
	j.to_body = 1;
	j.body_max = SFTP_LIST_BODY_MAX;
	if (!(j.url = sv_transport_remote_url(t, dir, 1)))
		return sv_transport_oom(t);
	*size = -1;
	if ((rc = sv_transport_run_one(t, &j)) == 0 && !sv_transport_job_ok(&j))
		rc = sv_transport_job_error(&j, "stat", name);
	for (char *line = j.body, *nl; !rc && line && *line; line = nl ? nl + 1 : NULL) {
		char type;
		int64_t n = -1;
		const char *entry;
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		sv_transport_trim_newline(line);
		if (parse_long_entry(line, &type, &n, &entry) != 0 || strcmp(entry, base) != 0)
			continue;
		if (type != '-')
			rc = sv_transport_fail(t, SV_EIO, "cannot stat '%s': not a regular file", name);
		*size = n;
	}
	sv_transport_job_clear(&j);
	if (rc == SV_ENOTFOUND)
		rc = 0;
	return rc;
}

static int sftp_stat(sv_transport *t, const char *name, int64_t *size)
{
	job j;
	int rc;
	sv_transport_job_init(&j, t);
	j.nobody = 1;
	if (!(j.url = sv_transport_remote_url(t, name, 0)))
		return sv_transport_oom(t);
	if ((rc = sv_transport_run_one(t, &j)) == 0) {
		if (sv_transport_job_ok(&j) && j.length >= 0)
			*size = j.length;
		else if (sv_transport_job_ok(&j))
			rc = sftp_stat_listed(t, name, size);
		else if ((rc = sv_transport_job_error(&j, "stat", name)) == SV_ENOTFOUND)
			*size = -1, rc = 0;
	}
	sv_transport_job_clear(&j);
	return rc;
}

typedef struct {
	list_state *ls;
	char **dirs; /* this round's folders */
	char **next; /* the next round's */
	size_t nnext, capnext;
	int rc;
	int stop; /* the caller's callback asked to stop */
} sftp_list_state;

static int sftp_list_prepare(void *ctx, size_t i, job *j)
{
	sftp_list_state *s = ctx;
	j->to_body = 1;
	j->body_max = SFTP_LIST_BODY_MAX;
	if (!(j->url = sv_transport_remote_url(j->t, s->dirs[i], 1)))
		return sv_transport_oom(j->t);
	return 0;
}

static int sftp_list_add(sftp_list_state *s, const char *dir, const char *base)
{
	char *child;
	if (s->nnext == s->capnext) {
		size_t cap = s->capnext ? 2 * s->capnext : 64;
		char **nd = realloc(s->next, cap * sizeof(*nd));
		if (!nd)
			return sv_transport_oom(s->ls->t);
		s->next = nd;
		s->capnext = cap;
	}
	if (asprintf(&child, "%s%s%s", dir, *dir ? "/" : "", base) < 0)
		return sv_transport_oom(s->ls->t);
	s->next[s->nnext++] = child;
	return 0;
}

static void sftp_list_complete(void *ctx, job *j)
{
	sftp_list_state *s = ctx;
	const char *dir = s->dirs[j->index];
	char rel[SV_TRANSPORT_NAME_MAX + 256];
	if (s->rc || s->stop)
		return;
	if (!sv_transport_job_ok(j)) {
		/* A folder that is not there (or went away) holds nothing. */
		if (j->result != CURLE_REMOTE_FILE_NOT_FOUND || j->failed || j->host_key_bad)
			s->rc = sv_transport_job_error(j, "list", *dir ? dir : ".");
		return;
	}
	for (char *line = j->body, *nl; line && *line && !s->rc && !s->stop; line = nl ? nl + 1 : NULL) {
		char type;
		int64_t size = -1;
		const char *base;
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		sv_transport_trim_newline(line);
		if (!*line)
			continue;
		if (parse_long_entry(line, &type, &size, &base) != 0) {
			s->rc = sv_transport_fail(j->t, SV_EIO, "cannot list '%s': unexpected listing line '%.80s'",
				     *dir ? dir : ".", line);
			return;
		}
		if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			continue;
		if (type == 'd') {
			if (sv_transport_segment_ok(base, strlen(base)))
				s->rc = sftp_list_add(s, dir, base);
		} else if (type == '-') {
			if (snprintf(rel, sizeof(rel), "%s%s%s", dir, *dir ? "/" : "", base) >= (int)sizeof(rel))
				continue;
			int r = sv_transport_emit(s->ls, rel, size);
			if (r) {
				s->rc = r;
				s->stop = 1;
			}
		}
	}
}

/* Lists folder by folder, each round's folders at once. */
static int sftp_list(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx)
{
	list_state ls = {t, temps, fn, ctx};
	sftp_list_state s = {&ls, NULL, NULL, 0, 0, 0, 0};
	size_t ndirs = 1;
	int rc;
	s.dirs = malloc(sizeof(*s.dirs));
	if (!s.dirs || !(s.dirs[0] = strdup(dir))) {
		free(s.dirs);
		return sv_transport_oom(t);
	}
	while (ndirs > 0) {
		rc = sv_transport_run_batch(t, ndirs, sftp_list_prepare, sftp_list_complete, &s);
		if (rc && !s.rc)
			s.rc = rc;
		sv_transport_free_strings(s.dirs, ndirs);
		s.dirs = s.next;
		ndirs = s.nnext;
		s.next = NULL;
		s.nnext = s.capnext = 0;
		if (s.rc)
			break;
	}
	sv_transport_free_strings(s.dirs, s.rc ? ndirs : 0);
	return s.rc;
}

static int sftp_put_prepare(void *ctx, size_t i, job *j)
{
	put_state *s = ctx;
	sv_transport *t = s->t;
	const put_item *it = &s->items[i];
	int rc;
	if ((rc = sv_transport_put_source(t, it, j)) != 0)
		return rc;
	if (!(j->tmp = sv_transport_temp_name(it->name)) || !(j->url = sv_transport_remote_url(t, j->tmp, 0)))
		return sv_transport_oom(t);
	j->create_dirs = 1;
	/* SFTP's rename will not replace a file: a replacing put removes it first. */
	if (s->replace && (rc = add_quote(t, &j->postquote, "*rm", it->name, NULL)) != 0)
		return rc;
	return add_quote(t, &j->postquote, "rename", j->tmp, it->name);
}

static void sftp_put_complete(void *ctx, job *j)
{
	put_state *s = ctx;
	if (!s->replace && j->result == CURLE_QUOTE_ERROR && !j->failed && !j->host_key_bad) {
		/* The upload worked but the rename did not: most likely the name is taken already. */
		s->recheck[s->nrecheck] = j->index;
		s->recheck_tmp[s->nrecheck++] = j->tmp;
		j->tmp = NULL;
		return;
	}
	int rc = sv_transport_job_ok(j) ? 0 : sv_transport_job_error(j, "put", s->items[j->index].name);
	sv_transport_put_report(s, j->index, rc);
}

static int sftp_recheck_prepare(void *ctx, size_t i, job *j)
{
	put_state *s = ctx;
	/* Remove the temp file, then look at what holds the name. */
	j->nobody = 1;
	if (!(j->url = sv_transport_remote_url(s->t, s->items[s->recheck[i]].name, 0)))
		return sv_transport_oom(s->t);
	return add_quote(s->t, &j->quote, "*rm", s->recheck_tmp[i], NULL);
}

static void sftp_recheck_complete(void *ctx, job *j)
{
	put_state *s = ctx;
	size_t i = s->recheck[j->index];
	int rc = 0;
	if (!sv_transport_job_ok(j)) {
		rc = sv_transport_job_error(j, "put", s->items[i].name);
		if (rc == SV_ENOTFOUND)
			rc = sv_transport_fail(s->t, SV_EIO, "cannot put '%s': cannot rename '%s' to it", s->items[i].name,
				  s->recheck_tmp[j->index]);
	}
	sv_transport_put_report(s, i, rc);
}

static int sftp_put(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx)
{
	put_state s = {t, items, replace, done, ctx, 0, NULL, NULL, 0, NULL};
	int rc;
	s.recheck = malloc((n ? n : 1) * sizeof(*s.recheck));
	s.recheck_tmp = malloc((n ? n : 1) * sizeof(*s.recheck_tmp));
	if (!s.recheck || !s.recheck_tmp) {
		free(s.recheck);
		free(s.recheck_tmp);
		return sv_transport_oom(t);
	}
	rc = sv_transport_run_batch(t, n, sftp_put_prepare, sftp_put_complete, &s);
	if (rc == 0 && s.nrecheck)
		rc = sv_transport_run_batch(t, s.nrecheck, sftp_recheck_prepare, sftp_recheck_complete, &s);
	sv_transport_free_strings(s.recheck_tmp, s.nrecheck);
	free(s.recheck);
	return sv_transport_put_finish(&s, rc);
}

static int sftp_remove(sv_transport *t, const char *const *names, size_t n)
{
	/* One request per 256 names: quote commands run before an empty transfer of the folder. */
	for (size_t at = 0; at < n; at += 256) {
		job j;
		int rc = 0;
		sv_transport_job_init(&j, t);
		j.nobody = 1;
		if (!(j.url = sv_transport_remote_url(t, "", 1)))
			rc = sv_transport_oom(t);
		for (size_t i = at; i < n && i < at + 256 && !rc; i++)
			rc = add_quote(t, &j.quote, "*rm", names[i], NULL);
		if (!rc && (rc = sv_transport_run_one(t, &j)) == 0 && !sv_transport_job_ok(&j))
			rc = sv_transport_job_error(&j, "remove", names[at]);
		sv_transport_job_clear(&j);
		if (rc)
			return rc;
	}
	return 0;
}

static int sftp_get(sv_transport *t, const char *name, int fd, int64_t from, int64_t max)
{
	job j;
	sv_transport_job_init(&j, t);
	return sv_transport_curl_get(t, &j, name, fd, from, max);
}

static const transport_ops sftp_ops = {sftp_stat, sftp_list, sftp_put, sftp_get, sftp_remove, NULL, sftp_setup};

static char *home_file(const char *rel)
{
	const char *home = getenv("HOME");
	return home && *home ? sv_path_dup(home, rel) : NULL;
}

int sv_transport_sftp_open(sv_transport *t, CURLU *u, const sv_transport_options *o)
{
	char *user = sv_transport_url_part(u, CURLUPART_USER, 0);
	char *path = sv_transport_url_part(u, CURLUPART_PATH, CURLU_URLDECODE);
	int rc = 0;
	t->secrets[0] = sv_transport_url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE);
	t->secrets[1] = sv_transport_url_part(u, CURLUPART_PASSWORD, 0);
	if (!user || !*user)
		rc = sv_transport_fail(t, SV_EINVAL, "an sftp URL needs a user name (sftp://user@host/path)");
	else if (!path || path[0] != '/')
		rc = sv_transport_fail(t, SV_EINVAL, "an sftp URL needs a path");
	free(user);
	if (rc) {
		free(path);
		return rc;
	}
	sv_transport_strip_slashes(path);
	/* Quote commands run in the user's home: /~/x is x there. */
	if (strcmp(path, "/~") == 0)
		t->qbase = strdup(".");
	else if (strncmp(path, "/~/", 3) == 0)
		t->qbase = strdup(path + 3);
	else
		t->qbase = strdup(path);
	free(path);
	if (!t->qbase)
		return sv_transport_oom(t);

	if (!(t->base_url = sv_transport_url_part(u, CURLUPART_URL, 0)))
		return sv_transport_oom(t);
	sv_transport_strip_slashes(t->base_url);

	t->known_hosts = o->ssh_known_hosts ? strdup(o->ssh_known_hosts) : home_file(".ssh/known_hosts");
	if (!t->known_hosts)
		return sv_transport_fail(t, SV_EINVAL, "no known_hosts file (HOME is not set)");
	if (access(t->known_hosts, R_OK) != 0)
		return sv_transport_fail(t, SV_EINVAL, "cannot read the known_hosts file '%s': %s", t->known_hosts, strerror(errno));

	t->ssh_auth = CURLSSH_AUTH_PUBLICKEY | CURLSSH_AUTH_AGENT;
	if (t->secrets[0] && *t->secrets[0])
		t->ssh_auth |= CURLSSH_AUTH_PASSWORD;
	if (o->ssh_key) {
		if (!(t->ssh_key = strdup(o->ssh_key)))
			return sv_transport_oom(t);
		if (access(t->ssh_key, R_OK) != 0)
			return sv_transport_fail(t, SV_EINVAL, "cannot read the ssh key '%s': %s", t->ssh_key, strerror(errno));
	} else {
		static const char *const defaults[] = {".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"};
		for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]) && !t->ssh_key; i++) {
			char *k = home_file(defaults[i]);
			if (k && access(k, R_OK) == 0)
				t->ssh_key = k;
			else
				free(k);
		}
	}
	t->limit = t->limit < SFTP_MAX_TRANSFERS ? t->limit : SFTP_MAX_TRANSFERS;
	t->protocol = "sftp";
	t->ops = sftp_ops;
	return 0;
}

