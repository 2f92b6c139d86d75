/*
 * crawler/archive.c -- finding, creating and opening an archive.
 */
#include "archive.h"

#include "guard.h"

#include "../storage/ledger.h"

#include "../common/error.h"
#include "../common/path.h"

#include <errno.h>
#include <jansson.h>
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <git2.h>

#define CONF_NAME "salvage.conf"

static int git_fail(const char *what, const char *path)
{
	const git_error *e = git_error_last();
	return sv_error_set(SV_EINVAL, "%s '%s': %s", what, path, e && e->message ? e->message : "libgit2 error");
}

static void libgit2_once(void)
{
	static int done;
	if (!done) {
		git_libgit2_init();
		done = 1;
	}
}

char *sv_archive_path(const sv_archive *a, const char *rel)
{
	return sv_path_dup(a->root, rel);
}

static int mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof(buf))
		return sv_error_set(SV_EINVAL, "path too long: '%s'", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return sv_error_errno(errno, "cannot create '%s'", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return sv_error_errno(errno, "cannot create '%s'", buf);
	return 0;
}

static int is_archive(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	return sv_path_join(path, sizeof(path), dir, CONF_NAME) == 0 && stat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

static int dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int empty = 1;
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static int make_subdirs(const char *dir)
{
	static const char *const subdirs[] = {"objects/sha256", "objects/tmp", "tmp", "logs"};
	char path[PATH_MAX];
	int rc;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		if ((rc = sv_path_join(path, sizeof(path), dir, subdirs[i])) || (rc = mkdirs(path)))
			return rc;
	}
	if ((rc = sv_path_join(path, sizeof(path), dir, "ledger.git")))
		return rc;
	return sv_ledger_init(path);
}

int sv_archive_init(const char *dir, int *existed)
{
	char conf[PATH_MAX], tmp[PATH_MAX];
	struct stat st;
	git_config *cfg = NULL;
	int rc;

	*existed = 0;
	if (strlen(dir) + sizeof("/" CONF_NAME ".new") >= PATH_MAX)
		return sv_error_set(SV_EINVAL, "path too long: '%s'", dir);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return sv_error_set(SV_EINVAL, "'%s' exists and is not a folder", dir);
		if (is_archive(dir)) {
			*existed = 1;
			return make_subdirs(dir);
		}
		int empty = dir_is_empty(dir);
		if (empty < 0)
			return sv_error_errno(errno, "cannot read '%s'", dir);
		if (!empty)
			return sv_error_set(SV_EINVAL, "'%s' is not empty and is not an archive", dir);
	} else if (errno != ENOENT) {
		return sv_error_errno(errno, "cannot stat '%s'", dir);
	}
	if ((rc = mkdirs(dir)) || (rc = make_subdirs(dir)))
		return rc;

	libgit2_once();
	if ((rc = sv_path_join(conf, sizeof(conf), dir, CONF_NAME)) ||
	    (rc = sv_path_join(tmp, sizeof(tmp), dir, CONF_NAME ".new")))
		return rc;
	unlink(tmp);
	if (git_config_open_ondisk(&cfg, tmp) < 0 ||
	    git_config_set_int32(cfg, "salvage.version", SV_ARCHIVE_VERSION) < 0 ||
	    git_config_set_int32(cfg, "storage.zstdLevel", 3) < 0 ||
	    git_config_set_int32(cfg, "storage.compressThreads", 0) < 0) {
		rc = git_fail("cannot write", tmp);
		goto done;
	}
	if (rename(tmp, conf) != 0)
		rc = sv_error_errno(errno, "cannot create '%s'", conf);
done:
	git_config_free(cfg);
	if (rc)
		unlink(tmp);
	return rc;
}

int sv_archive_check_contact(const char *value)
{
	size_t n = strlen(value);
	int ok = n > 0 && n <= SV_ARCHIVE_CONTACT_MAX &&
		 (strchr(value, '@') || !strncmp(value, "http://", 7) || !strncmp(value, "https://", 8));

	for (const char *p = value; ok && *p; p++)
		ok = *p > ' ' && *p < 0x7f && !strchr("()\\", *p);
	if (!ok)
		return sv_error_set(SV_EINVAL,
				    "crawl.contact must be a URL (http:// or https://) or an e-mail address of at most %d "
				    "bytes, printable ASCII without spaces, '(', ')' or '\\'",
				    SV_ARCHIVE_CONTACT_MAX);
	return 0;
}

/* Writes key = value into dir's salvage.conf. */
static int set_key(const char *dir, const char *key, const char *value)
{
	char conf[PATH_MAX];
	git_config *cfg = NULL;
	int rc;

	if ((rc = sv_path_join(conf, sizeof(conf), dir, CONF_NAME)))
		return rc;
	libgit2_once();
	if (git_config_open_ondisk(&cfg, conf) < 0 || git_config_set_string(cfg, key, value) < 0)
		rc = git_fail("cannot write", conf);
	git_config_free(cfg);
	return rc;
}

int sv_archive_set_contact(const char *dir, const char *value)
{
	int rc = sv_archive_check_contact(value);
	return rc ? rc : set_key(dir, "crawl.contact", value);
}

int sv_archive_check_node(const char *value)
{
	size_t n = strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	if (n == 0 || value[n] || n > SV_ARCHIVE_NODE_MAX)
		return sv_error_set(SV_EINVAL, "node.name = '%.100s': a node name is 1 to %d letters, digits, '.', '_' or '-'",
				    value, SV_ARCHIVE_NODE_MAX);
	return 0;
}

int sv_archive_set_node(sv_archive *a, const char *value)
{
	int rc = sv_archive_check_node(value);
	if (rc == 0 && (rc = set_key(a->root, "node.name", value)) == 0) {
		snprintf(a->node, sizeof(a->node), "%s", value);
		a->node_set = 1;
	}
	return rc;
}

/* node.name, checked (a bad one is a config error, exit 2), or the host name made safe. */
static int get_node(git_config *cfg, sv_archive *a)
{
	git_buf buf = GIT_BUF_INIT;
	int e = git_config_get_string_buf(&buf, cfg, "node.name"), rc = 0;

	if (e == GIT_ENOTFOUND) {
		char host[256];
		sv_archive_machine(host, sizeof(host));
		snprintf(a->node, sizeof(a->node), "%.*s", SV_ARCHIVE_NODE_MAX, host);
		return 0;
	}
	if (e < 0)
		return git_fail("bad value in", a->conf_path);
	if ((rc = sv_archive_check_node(buf.ptr)))
		rc = sv_error_prefix("%s", a->conf_path);
	else {
		snprintf(a->node, sizeof(a->node), "%s", buf.ptr);
		a->node_set = 1;
	}
	git_buf_dispose(&buf);
	return rc;
}

void sv_archive_user_agent(const sv_archive *a, char *buf, size_t cap)
{
	if (a->contact)
		snprintf(buf, cap, "salvage/%s (+%s)", SV_VERSION, a->contact);
	else
		snprintf(buf, cap, "salvage/%s", SV_VERSION);
}

/* crawl.contact, checked: a bad one is a config error (exit 2), not a header that breaks. */
static int get_contact(git_config *cfg, sv_archive *a)
{
	git_buf buf = GIT_BUF_INIT;
	int e = git_config_get_string_buf(&buf, cfg, "crawl.contact"), rc = 0;

	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return git_fail("bad value in", a->conf_path);
	if ((rc = sv_archive_check_contact(buf.ptr)))
		rc = sv_error_prefix("%s", a->conf_path);
	else if (!(a->contact = strdup(buf.ptr)))
		rc = sv_error_set(SV_EIO, "out of memory");
	git_buf_dispose(&buf);
	return rc;
}

/* A string key, malloc'd into *out; left NULL when absent. */
static int get_string(git_config *cfg, const char *key, const char *path, char **out)
{
	git_buf buf = GIT_BUF_INIT;
	int e = git_config_get_string_buf(&buf, cfg, key), rc = 0;
	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return git_fail("bad value in", path);
	if (!(*out = strdup(buf.ptr)))
		rc = sv_error_set(SV_EIO, "out of memory");
	git_buf_dispose(&buf);
	return rc;
}

static int get_int(git_config *cfg, const char *key, int def, int lo, int hi, const char *path, int *out)
{
	int32_t v;
	int e = git_config_get_int32(&v, cfg, key);
	if (e == GIT_ENOTFOUND) {
		*out = def;
		return 0;
	}
	if (e < 0)
		return git_fail("bad value in", path);
	if (v < lo || v > hi)
		return sv_error_set(SV_EINVAL, "%s: %s = %d is out of range %d..%d", path, key, (int)v, lo, hi);
	*out = v;
	return 0;
}

/* A size in bytes (git's k, m and g suffixes work); def when absent. */
static int get_size(git_config *cfg, const char *key, int64_t lo, int64_t hi, const char *path, int64_t *out)
{
	int64_t v;
	int e = git_config_get_int64(&v, cfg, key);
	if (e == GIT_ENOTFOUND) {
		*out = 0;
		return 0;
	}
	if (e < 0)
		return git_fail("bad value in", path);
	if (v < lo || v > hi)
		return sv_error_set(SV_EINVAL, "%s: %s = %lld is out of range %lld..%lld", path, key, (long long)v,
				    (long long)lo, (long long)hi);
	*out = v;
	return 0;
}

/*
 * A file named by key (relative to the archive folder unless absolute) into
 * *out, absolute; *out stays NULL when the key is not set.
 */
/* A key an API wants (sent as a header, never recorded): the environment's, else the config's. A value
 * that could break a header line (control bytes) is refused. */
static int get_secret(git_config *cfg, const char *key, const char *env, const char *path, char **out)
{
	const char *e = getenv(env);
	int rc = e && *e ? ((*out = strdup(e)) ? 0 : sv_error_set(SV_EIO, "out of memory")) : get_string(cfg, key, path, out);
	for (const char *c = *out; rc == 0 && c && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			rc = sv_error_set(SV_EINVAL, "%s: %s holds a control character", e && *e ? env : path, key);
	return rc;
}

static int get_file(git_config *cfg, sv_archive *a, const char *key, char **out)
{
	git_buf buf = GIT_BUF_INIT;
	int e = git_config_get_path(&buf, cfg, key), rc = 0;
	if (e == GIT_ENOTFOUND)
		return 0;
	if (e < 0)
		return git_fail("bad value in", a->conf_path);
	if (!*buf.ptr)
		rc = sv_error_set(SV_EINVAL, "%s: %s is empty", a->conf_path, key);
	else if (!(*out = buf.ptr[0] == '/' ? strdup(buf.ptr) : sv_archive_path(a, buf.ptr)))
		rc = sv_error_set(SV_EIO, "out of memory");
	git_buf_dispose(&buf);
	return rc;
}

/*
 * crawl.netrcFile: user names and passwords per host in netrc syntax, so
 * that none is ever written in a sheet, which is published with the ledger.
 * It must be readable: a typo is a config error, not a crawl in which every
 * login fails.
 */
static int get_netrc_file(git_config *cfg, sv_archive *a)
{
	int rc = get_file(cfg, a, "crawl.netrcFile", &a->netrc_file);
	if (rc == 0 && a->netrc_file && access(a->netrc_file, R_OK) != 0)
		rc = sv_error_set(SV_EINVAL, "%s: crawl.netrcFile = %s: %s", a->conf_path, a->netrc_file, strerror(errno));
	return rc;
}

/*
 * crawl.caFile: a PEM file that must hold a certificate, so that a typo is a
 * config error and not a crawl in which every https URL fails.
 */
static int get_ca_file(git_config *cfg, sv_archive *a)
{
	char head[1 << 16];
	int rc = get_file(cfg, a, "crawl.caFile", &a->ca_file);
	if (rc || !a->ca_file)
		return rc;
	FILE *f = fopen(a->ca_file, "re");
	if (!f)
		return sv_error_set(SV_EINVAL, "%s: crawl.caFile = %s: %s", a->conf_path, a->ca_file, strerror(errno));
	size_t n = fread(head, 1, sizeof(head) - 1, f);
	fclose(f);
	head[n] = '\0';
	if (!strstr(head, "-----BEGIN CERTIFICATE-----"))
		return sv_error_set(SV_EINVAL, "%s: crawl.caFile = %s holds no PEM certificate", a->conf_path,
				    a->ca_file);
	return 0;
}

/*
 * One crawl.insecureHost value as the host key of URLs names it: lower case,
 * "host" or "host:port" (an IPv6 address in brackets), port 443 dropped.
 */
static char *insecure_host_key(const char *v)
{
	const char *p = v, *colon;
	if (*p == '[') {
		if (!(p = strchr(p, ']')) || p == v + 1)
			return NULL;
		for (const char *c = v + 1; c < p; c++)
			if (!strchr("0123456789abcdefABCDEF:.", *c))
				return NULL;
		colon = p[1] == ':' ? p + 1 : NULL;
		if (p[1] && !colon)
			return NULL;
	} else {
		colon = strchr(v, ':');
		for (const char *c = v; c < (colon ? colon : v + strlen(v)); c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
			      *c == '.'))
				return NULL;
		if (colon == v || !*v || *v == '.' || *v == '-')
			return NULL;
	}
	size_t hlen = colon ? (size_t)(colon - v) : strlen(v);
	if (colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (!colon[1] || *end || port < 1 || port > 65535 || colon[1] == '0' || colon[1] == '+' || colon[1] == '-')
			return NULL;
		if (port == 443)
			colon = NULL;
	}
	char *key = colon ? strdup(v) : strndup(v, hlen);
	for (char *c = key; c && *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return key;
}

typedef struct {
	sv_archive *a;
	int rc;
} insecure_ctx;

/* Appends key (NULL: ic->rc says why) to the list; GIT_EUSER, with ic->rc set, when it cannot. */
static int keep_key(insecure_ctx *ic, char ***list, size_t *n, char *key)
{
	char **bigger = key ? realloc(*list, (*n + 1) * sizeof(*bigger)) : NULL;
	if (key && !bigger)
		ic->rc = sv_error_set(SV_EIO, "out of memory");
	if (ic->rc) {
		free(key);
		return GIT_EUSER;
	}
	*list = bigger;
	(*list)[(*n)++] = key;
	return 0;
}

static int add_insecure_host(const git_config_entry *e, void *ctx)
{
	insecure_ctx *ic = ctx;
	char *key = insecure_host_key(e->value ? e->value : "");
	if (!key)
		ic->rc = sv_error_set(SV_EINVAL, "%s: crawl.insecureHost = %s (host or host:port)", ic->a->conf_path,
				      e->value ? e->value : "");
	return keep_key(ic, &ic->a->insecure_hosts, &ic->a->ninsecure, key);
}

/* One crawl.allowPrivate value: "true" (every private address), or a server as "host:port". */
static int add_allow_private(const git_config_entry *e, void *ctx)
{
	insecure_ctx *ic = ctx;
	sv_archive *a = ic->a;
	const char *v = e->value ? e->value : "";
	char *key = NULL;
	if (!strcmp(v, "true")) {
		a->allow_private_all = 1;
		return 0;
	}
	if (sv_guard_server_key(&key, v) != 0)
		ic->rc = sv_error_set(SV_EINVAL, "%s: crawl.allowPrivate = %s (host:port, or true for every private address)",
				      a->conf_path, v);
	return keep_key(ic, &a->allow_private, &a->nallow_private, key);
}

int sv_archive_open(sv_archive **out, const char *dir)
{
	sv_archive *a = calloc(1, sizeof(*a));
	git_config *cfg = NULL;
	char real[PATH_MAX];
	int rc, version;

	*out = NULL;
	if (!a)
		return sv_error_set(SV_EIO, "out of memory");
	if (!realpath(dir, real)) {
		rc = sv_error_errno(errno, "cannot open archive '%s'", dir);
		goto fail;
	}
	if (!is_archive(real)) {
		rc = sv_error_set(SV_EINVAL, "'%s' is not an archive (no " CONF_NAME ")", dir);
		goto fail;
	}
	a->root = strdup(real);
	a->conf_path = a->root ? sv_archive_path(a, CONF_NAME) : NULL;
	if (!a->conf_path) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto fail;
	}
	libgit2_once();
	if (git_config_open_ondisk(&cfg, a->conf_path) < 0) {
		rc = git_fail("cannot read", a->conf_path);
		goto fail;
	}
	if ((rc = get_int(cfg, "salvage.version", 0, 0, INT32_MAX, a->conf_path, &version)))
		goto fail;
	if (version != SV_ARCHIVE_VERSION) {
		rc = sv_error_set(SV_EINVAL, "%s: salvage.version = %d, this salvage reads version %d",
				  a->conf_path, version, SV_ARCHIVE_VERSION);
		goto fail;
	}
	if ((rc = get_int(cfg, "storage.zstdLevel", 3, 1, 19, a->conf_path, &a->zstd_level)) ||
	    (rc = get_int(cfg, "storage.compressThreads", 0, 0, 64, a->conf_path, &a->compress_threads)) ||
	    (rc = get_int(cfg, "crawl.hostConnections", 4, 1, 256, a->conf_path, &a->host_max_inflight)) ||
	    (rc = get_int(cfg, "crawl.delayMs", 0, 0, 3600000, a->conf_path, &a->host_delay_ms)) ||
	    (rc = get_int(cfg, "crawl.transfers", 32, 1, 1024, a->conf_path, &a->transfers)) ||
	    (rc = get_int(cfg, "crawl.robotsAttempts", 5, 1, 100, a->conf_path, &a->robots_attempts)) ||
	    (rc = get_int(cfg, "queue.leaseSeconds", 120, 3, 86400, a->conf_path, &a->lease_seconds)) ||
	    /* Below S3's 5 MiB part minimum only for test servers (see README). */
	    (rc = get_size(cfg, "mirror.multipartThreshold", 1, INT64_MAX, a->conf_path, &a->multipart_threshold)) ||
	    (rc = get_size(cfg, "mirror.multipartPartSize", 1024, (int64_t)5 << 30, a->conf_path,
			   &a->multipart_part_size)))
		goto fail;
	{
		git_buf buf = GIT_BUF_INIT;
		int e = git_config_get_string_buf(&buf, cfg, "crawl.robots");
		a->robots = 1;
		if (e == 0) {
			if (!strcmp(buf.ptr, "ignore"))
				a->robots = 0;
			else if (strcmp(buf.ptr, "respect"))
				rc = sv_error_set(SV_EINVAL, "%s: crawl.robots = %s (respect or ignore)", a->conf_path,
						  buf.ptr);
			git_buf_dispose(&buf);
			if (rc)
				goto fail;
		} else if (e != GIT_ENOTFOUND) {
			rc = git_fail("bad value in", a->conf_path);
			goto fail;
		}
	}
	if ((rc = get_string(cfg, "queue.url", a->conf_path, &a->queue_url)) ||
	    (rc = get_string(cfg, "bag.sourceOrganization", a->conf_path, &a->bag_source_org)) ||
	    (rc = get_secret(cfg, "catalog.socrataAppToken", "SALVAGE_SOCRATA_APP_TOKEN", a->conf_path, &a->socrata_token)) ||
	    (rc = get_secret(cfg, "catalog.dataGovApiKey", "SALVAGE_DATAGOV_API_KEY", a->conf_path, &a->datagov_key)))
		goto fail;
	if ((rc = get_ca_file(cfg, a)) || (rc = get_netrc_file(cfg, a)) || (rc = get_contact(cfg, a)) ||
	    (rc = get_node(cfg, a)))
		goto fail;
	/* The multi-valued keys, each value checked as it is kept. */
	static const struct {
		const char *key;
		git_config_foreach_cb add;
	} lists[] = {{"crawl.insecureHost", add_insecure_host}, {"crawl.allowPrivate", add_allow_private}};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		insecure_ctx ic = {a, 0};
		int e = git_config_get_multivar_foreach(cfg, lists[i].key, NULL, lists[i].add, &ic);
		if (ic.rc)
			rc = ic.rc;
		else if (e < 0 && e != GIT_ENOTFOUND)
			rc = git_fail("bad value in", a->conf_path);
		if (rc)
			goto fail;
	}
	git_config_free(cfg);
	*out = a;
	return 0;
fail:
	git_config_free(cfg);
	sv_archive_free(a);
	return rc;
}

int sv_archive_find(sv_archive **out)
{
	char dir[PATH_MAX];
	*out = NULL;
	if (!getcwd(dir, sizeof(dir)))
		return sv_error_errno(errno, "cannot get the current folder");
	for (;;) {
		if (is_archive(dir))
			return sv_archive_open(out, dir);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			if (strcmp(dir, "/") != 0 && is_archive("/"))
				return sv_archive_open(out, "/");
			break;
		}
		*slash = '\0';
	}
	return sv_error_set(SV_EINVAL, "not in an archive (no " CONF_NAME " here or above; use -C DIR or salvage init)");
}

void sv_archive_free(sv_archive *a)
{
	if (!a)
		return;
	free(a->root);
	free(a->conf_path);
	free(a->queue_url);
	free(a->bag_source_org);
	free(a->ca_file);
	free(a->netrc_file);
	free(a->socrata_token);
	free(a->datagov_key);
	free(a->contact);
	for (size_t i = 0; i < a->ninsecure; i++)
		free(a->insecure_hosts[i]);
	free(a->insecure_hosts);
	for (size_t i = 0; i < a->nallow_private; i++)
		free(a->allow_private[i]);
	free(a->allow_private);
	free(a);
}

int sv_archive_objects(const sv_archive *a, sv_objects **out)
{
	sv_objects_options o = SV_OBJECTS_OPTIONS_INIT;
	char *dir = sv_archive_path(a, "objects");
	int rc;
	if (!dir)
		return sv_error_set(SV_EIO, "out of memory");
	o.level = a->zstd_level;
	o.threads = a->compress_threads;
	rc = sv_objects_open(out, dir, &o);
	free(dir);
	return rc;
}

/* The queue at override or queue.url; wait_ms > 0: no call to a PostgreSQL queue waits longer. */
static int open_queue(const sv_archive *a, const char *override, int wait_ms, sv_queue **out)
{
	sv_queue_options o = SV_QUEUE_OPTIONS_INIT;
	const char *where = override ? override : a->queue_url;
	char *local = NULL;
	int rc;

	o.host_max_inflight = a->host_max_inflight;
	o.host_delay_ms = a->host_delay_ms;
	if (wait_ms > 0 && where && (!strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11)))
		o.busy_timeout_ms = wait_ms;
	if (!where) {
		if (!(local = sv_archive_path(a, "queue.db")))
			return sv_error_set(SV_EIO, "out of memory");
		where = local;
	}
	rc = sv_queue_open(out, where, &o);
	free(local);
	return rc;
}

int sv_archive_queue_shared(const sv_archive *a, const char *override)
{
	const char *where = override ? override : a->queue_url;
	char *mine, *r1 = NULL, *r2 = NULL;
	int same;
	if (!where)
		return 0;
	if (strstr(where, "://"))
		return 1;
	if (!strncmp(where, "sqlite:", 7))
		where += 7;
	mine = sv_archive_path(a, "queue.db");
	same = mine && (r1 = realpath(where, NULL)) && (r2 = realpath(mine, NULL)) && !strcmp(r1, r2);
	free(mine);
	free(r1);
	free(r2);
	return !same;
}

int sv_archive_queue(const sv_archive *a, const char *override, sv_queue **out)
{
	return open_queue(a, override, 0, out);
}

int sv_archive_fetch_queue(const sv_archive *a, const char *override, sv_queue **out)
{
	int wait_ms = a->lease_seconds * 1000 / 3;
	return open_queue(a, override, wait_ms < SV_ARCHIVE_FETCH_WAIT_MIN_MS ? SV_ARCHIVE_FETCH_WAIT_MIN_MS
				       : wait_ms > SV_ARCHIVE_FETCH_WAIT_MAX_MS ? SV_ARCHIVE_FETCH_WAIT_MAX_MS
										: wait_ms,
			  out);
}

/* The index, built from the ledger (and an old queue.db's captures) when unbuilt or when always is set. */
static int open_index(const sv_archive *a, int always, sv_index **out, size_t *indexed, size_t *skipped)
{
	char *path = sv_archive_path(a, "index.db"), *queue_db = sv_archive_path(a, "queue.db");
	sv_ledger *ledger = NULL;
	int unbuilt = 0, rc;
	*out = NULL;
	if (!path || !queue_db)
		rc = sv_error_set(SV_EIO, "out of memory");
	else if ((rc = sv_index_open(out, path, &unbuilt)) == 0 && (unbuilt || always) &&
		 (rc = sv_archive_ledger(a, &ledger)) == 0)
		rc = sv_index_rebuild(*out, ledger, queue_db, indexed, skipped);
	if (rc) {
		sv_index_close(*out);
		*out = NULL;
	}
	sv_ledger_free(ledger);
	free(path);
	free(queue_db);
	return rc;
}

int sv_archive_reindex(const sv_archive *a, size_t *indexed, size_t *skipped)
{
	sv_index *ix = NULL;
	int rc = open_index(a, 1, &ix, indexed, skipped);
	sv_index_close(ix);
	return rc;
}

int sv_archive_index(const sv_archive *a, sv_index **out)
{
	return open_index(a, 0, out, NULL, NULL);
}

void sv_archive_machine(char *buf, size_t cap)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
		snprintf(host, sizeof(host), "localhost");
	/* It names a folder in the ledger: letters, digits, '-', '_' and inner dots only. */
	for (char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_' || (*c == '.' && c != host && c[1])))
			*c = '_';
	snprintf(buf, cap, "%s", host);
}

int sv_archive_ledger(const sv_archive *a, sv_ledger **out)
{
	char *path = sv_archive_path(a, "ledger.git");
	int rc;
	*out = NULL;
	if (!path)
		return sv_error_set(SV_EIO, "out of memory");
	/* Archives made before the ledger existed get one now. */
	if ((rc = sv_ledger_init(path)) == 0)
		rc = sv_ledger_open(out, path, a->node);
	free(path);
	return rc;
}

/*
 * captures/<machine>/<YYYY-MM-DD>/<HHMMSS.mmm>-<pid>-<n>.jsonl (UTC): unique
 * per process and checkpoint, and in time order within a day as git sorts.
 */
int sv_archive_commit_records(sv_ledger *ledger, sv_index *ix, const char *branch, const char *machine,
			      unsigned *seq, const char *const *records, size_t n, const char *by)
{
	struct timespec now;
	struct tm tm;
	char path[512], msg[8192];
	size_t len = 0, cap = 0;
	int rc;

	if (n == 0)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(path, sizeof(path), "captures/%s/%04d-%02d-%02d/%02d%02d%02d.%03ld-%d-%u.jsonl", machine,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 now.tv_nsec / 1000000, (int)getpid(), ++*seq);
	for (size_t i = 0; i < n; i++)
		cap += strlen(records[i]) + 1;
	char *body = malloc(cap ? cap : 1);
	if (!body)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(records[i]);
		memcpy(body + len, records[i], l);
		len += l;
		body[len++] = '\n';
	}
	/* The first line sums up; the body names the first and last URL. */
	json_t *first = json_loads(records[0], 0, NULL), *last = json_loads(records[n - 1], 0, NULL);
	snprintf(msg, sizeof(msg), "captures: %zu record%s from %s (%s)\n\nfirst: %.2000s\nlast:  %.2000s\n", n,
		 n == 1 ? "" : "s", machine, by,
		 first ? json_string_value(json_object_get(first, "url")) : "?",
		 last ? json_string_value(json_object_get(last, "url")) : "?");
	json_decref(first);
	json_decref(last);
	sv_ledger_file f = {path, body, len};
	rc = sv_ledger_commit(ledger, branch, msg, &f, 1, NULL, NULL);
	free(body);
	return rc ? rc : sv_index_add(ix, records, n, NULL, NULL);
}
/* ---------------------------------------------------------------- remotes */

static const struct {
	const char *key;
	size_t off;
} remote_keys[] = {
	{"objects", offsetof(sv_mirror_remote, objects)},
	{"ledger", offsetof(sv_mirror_remote, ledger)},
	{"s3Endpoint", offsetof(sv_mirror_remote, s3_endpoint)},
	{"s3Region", offsetof(sv_mirror_remote, s3_region)},
	{"sshKey", offsetof(sv_mirror_remote, ssh_key)},
	{"knownHosts", offsetof(sv_mirror_remote, known_hosts)},
};

#define REMOTE_FIELD(r, i) ((char **)((char *)(r) + remote_keys[i].off))

static int open_conf(const sv_archive *a, git_config **cfg)
{
	libgit2_once();
	if (git_config_open_ondisk(cfg, a->conf_path) < 0)
		return git_fail("cannot read", a->conf_path);
	return 0;
}

/* 1 if remote.NAME has any of our keys, 0 if none, negative on error. */
static int remote_exists(git_config *cfg, const char *name, const char *path)
{
	for (size_t i = 0; i < sizeof(remote_keys) / sizeof(remote_keys[0]); i++) {
		char key[512];
		git_config_entry *e = NULL;
		snprintf(key, sizeof(key), "remote.%s.%s", name, remote_keys[i].key);
		int rc = git_config_get_entry(&e, cfg, key);
		git_config_entry_free(e);
		if (rc == 0)
			return 1;
		if (rc != GIT_ENOTFOUND)
			return git_fail("bad value in", path);
	}
	return 0;
}

int sv_archive_remote_get(const sv_archive *a, const char *name, sv_mirror_remote **out)
{
	sv_mirror_remote *r = calloc(1, sizeof(*r));
	git_config *cfg = NULL;
	int rc, found;

	*out = NULL;
	if (!r || !(r->name = strdup(name))) {
		free(r);
		return sv_error_set(SV_EIO, "out of memory");
	}
	if (strlen(name) > 200) {
		rc = sv_error_set(SV_EINVAL, "mirror name too long");
		goto fail;
	}
	if ((rc = open_conf(a, &cfg)))
		goto fail;
	if ((found = remote_exists(cfg, name, a->conf_path)) <= 0) {
		rc = found < 0 ? found : sv_error_set(SV_ENOTFOUND, "no mirror '%s' in %s", name, a->conf_path);
		goto fail;
	}
	for (size_t i = 0; i < sizeof(remote_keys) / sizeof(remote_keys[0]); i++) {
		char key[512];
		git_buf buf = GIT_BUF_INIT;
		snprintf(key, sizeof(key), "remote.%s.%s", name, remote_keys[i].key);
		int e = git_config_get_string_buf(&buf, cfg, key);
		if (e == GIT_ENOTFOUND)
			continue;
		if (e < 0) {
			rc = git_fail("bad value in", a->conf_path);
			goto fail;
		}
		char *v = *buf.ptr ? strdup(buf.ptr) : NULL;
		int empty = !*buf.ptr;
		git_buf_dispose(&buf);
		if (!v && !empty) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto fail;
		}
		*REMOTE_FIELD(r, i) = v;
	}
	{
		char key[512];
		int e;
		snprintf(key, sizeof(key), "remote.%s.allowHttp", name);
		if ((e = git_config_get_bool(&r->allow_http, cfg, key)) == GIT_ENOTFOUND) {
			r->allow_http = 0;
		} else if (e < 0) {
			rc = git_fail("bad value in", a->conf_path);
			goto fail;
		}
	}
	git_config_free(cfg);
	*out = r;
	return 0;
fail:
	git_config_free(cfg);
	sv_mirror_remote_free(r);
	return rc;
}

static int fsync_path(const char *path, int dir)
{
	int fd = open(path, (dir ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC), rc = 0;
	if (fd < 0 || fsync(fd) != 0)
		rc = sv_error_errno(errno, "cannot sync '%s'", path);
	if (fd >= 0)
		close(fd);
	return rc;
}

int sv_archive_remote_add(const sv_archive *a, const sv_mirror_remote *r)
{
	git_config *cfg = NULL;
	git_transaction *tx = NULL;
	int rc, found;

	char **names = NULL;
	size_t n = 0;
	if ((rc = sv_archive_remote_names(a, &names, &n)))
		return rc;
	/* "EU" beside "eu" would share mirrors/eu.have on a case-insensitive disk. */
	for (size_t i = 0; i < n; i++) {
		if (!rc && !strcasecmp(names[i], r->name))
			rc = sv_error_set(SV_EINVAL, "a mirror named '%s' already exists", names[i]);
		free(names[i]);
	}
	free(names);
	if (rc || (rc = open_conf(a, &cfg)))
		return rc;
	if ((found = remote_exists(cfg, r->name, a->conf_path)) != 0) {
		rc = found < 0 ? found : sv_error_set(SV_EINVAL, "a mirror named '%s' already exists", r->name);
		goto done;
	}
	/* Every key or none: libgit2 writes the locked file once, on commit. */
	if (git_config_lock(&tx, cfg) < 0) {
		rc = git_fail("cannot lock", a->conf_path);
		goto done;
	}
	for (size_t i = 0; i < sizeof(remote_keys) / sizeof(remote_keys[0]); i++) {
		const char *v = *REMOTE_FIELD(r, i);
		char key[512];
		if (!v)
			continue;
		snprintf(key, sizeof(key), "remote.%s.%s", r->name, remote_keys[i].key);
		if (git_config_set_string(cfg, key, v) < 0) {
			rc = git_fail("cannot write", a->conf_path);
			goto done;
		}
	}
	if (r->allow_http) {
		char key[512];
		snprintf(key, sizeof(key), "remote.%s.allowHttp", r->name);
		if (git_config_set_bool(cfg, key, 1) < 0) {
			rc = git_fail("cannot write", a->conf_path);
			goto done;
		}
	}
	if (git_transaction_commit(tx) < 0) {
		rc = git_fail("cannot write", a->conf_path);
		goto done;
	}
	if ((rc = fsync_path(a->conf_path, 0)) == 0)
		rc = fsync_path(a->root, 1);
done:
	git_transaction_free(tx);
	git_config_free(cfg);
	return rc;
}

int sv_archive_remote_names(const sv_archive *a, char ***names, size_t *n)
{
	git_config *cfg = NULL;
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char **v = NULL;
	size_t cap = 0;
	int rc, next;

	*names = NULL;
	*n = 0;
	if ((rc = open_conf(a, &cfg)))
		return rc;
	/* Not git_config_iterator_glob_new: its regex leaks in libgit2 1.5. */
	if (git_config_iterator_new(&it, cfg) < 0) {
		rc = git_fail("cannot read", a->conf_path);
		goto done;
	}
	while ((next = git_config_next(&e, it)) == 0) {
		const char *first = strchr(e->name, '.'), *last = strrchr(e->name, '.');
		if (strncmp(e->name, "remote.", 7) != 0 || !first || last <= first || strcmp(last, ".objects") != 0)
			continue;
		if (*n == cap) {
			char **bigger = realloc(v, (cap ? cap * 2 : 8) * sizeof(*v));
			if (!bigger) {
				rc = sv_error_set(SV_EIO, "out of memory");
				goto done;
			}
			v = bigger;
			cap = cap ? cap * 2 : 8;
		}
		if (!(v[*n] = strndup(first + 1, (size_t)(last - first - 1)))) {
			rc = sv_error_set(SV_EIO, "out of memory");
			goto done;
		}
		(*n)++;
	}
	if (next != GIT_ITEROVER)
		rc = git_fail("cannot read", a->conf_path);
done:
	git_config_iterator_free(it);
	git_config_free(cfg);
	if (rc) {
		for (size_t i = 0; i < *n; i++)
			free(v[i]);
		free(v);
		*n = 0;
		return rc;
	}
	*names = v;
	return 0;
}
