/*
 * storage/ledger_ssh.c -- makes a missing ledger repository on an ssh server
 * for a first push (see ledger_private.h). libgit2 pushes to a repository but
 * cannot create one, so this opens its own libssh2 session, with the push's
 * known_hosts and keys, and has the server's shell run `git init --bare`:
 * plain OpenSSH with git on the server is all it takes.
 *
 * What must stay true: nothing is sent before the host key matched
 * known_hosts; the path reaches the shell only inside single quotes, so a
 * space, quote or ';' in it runs nothing; only the last folder is made, and
 * only when the one above it exists (a disk that is not mounted is not
 * filled); a folder that exists and is not empty is never written to.
 */
#include "ledger_private.h"
#include "known_hosts.h"

#include "../common/error.h"

#include <libssh2.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SSH_TIMEOUT_S 30
#define SSH_STDERR_MAX 1024

/* The script's own exit statuses (git's are 0, 1, 128, 129; the shell's 126, 127). */
#define NO_PARENT 97
#define NOT_EMPTY 98
#define A_REPO 99

/* Appends s single-quoted for a POSIX shell (each ' as '\''); -1 if it does not fit. */
static int put_quoted(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = *len;
	if (n + 1 >= cap)
		return -1;
	buf[n++] = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			if (n + 4 >= cap)
				return -1;
			memcpy(buf + n, "'\\''", 4);
			n += 4;
		} else {
			if (n + 1 >= cap)
				return -1;
			buf[n++] = *s;
		}
	}
	if (n + 1 >= cap)
		return -1;
	buf[n++] = '\'';
	buf[n] = '\0';
	*len = n;
	return 0;
}

/* Appends the script text fmt, with each '@' a quoted word from words, in turn. */
static int put_script(char *buf, size_t cap, size_t *len, const char *fmt, const char *const *words)
{
	for (const char *p = fmt; *p; p++) {
		if (*p == '@') {
			if (put_quoted(buf, cap, len, *words++) < 0)
				return -1;
		} else if (*len + 1 < cap) {
			buf[(*len)++] = *p;
			buf[*len] = '\0';
		} else {
			return -1;
		}
	}
	return 0;
}

int sv_ledger_ssh_script(const char *path, char *buf, size_t cap, char *parent, size_t pcap)
{
	char dir[PATH_MAX], *slash;
	const char *last;
	size_t len = 0;

	/* ~/x is x in the home folder, where the session starts; ~user/x is left to the user. */
	if (!strcmp(path, "~") || !strncmp(path, "~/", 2))
		path += path[1] ? 2 : 1;
	else if (path[0] == '~')
		return sv_error_set(SV_EINVAL, "cannot make a ledger under '%.100s' (another user's home)", path);
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return sv_error_set(SV_EINVAL, "ledger path too long");
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/';)
		dir[--n] = '\0';
	if ((slash = strrchr(dir, '/'))) {
		*slash = '\0';
		last = slash + 1;
		/* Relative folders start with ./ so that the server's CDPATH is not searched. */
		snprintf(parent, pcap, "%s%s", dir[0] ? (path[0] == '/' ? "" : "./") : "/", dir);
	} else {
		last = dir;
		snprintf(parent, pcap, ".");
	}
	if (!*last || !strcmp(last, ".") || !strcmp(last, ".."))
		return sv_error_set(SV_EINVAL, "cannot make a ledger at '%.100s': no folder name", path);
	const char *words[] = {parent, last, last, last, last, last, last, last};
	if (put_script(buf, cap, &len,
		       /* Exit statuses: NO_PARENT, A_REPO, NOT_EMPTY. */
		       "exec 1>&2; cd -- @ 2>/dev/null || exit 97\n"
		       "if [ -e @ ] || [ -L @ ]; then\n"
		       " git --git-dir=@ rev-parse --git-dir >/dev/null 2>&1 && exit 99\n"
		       " [ -d @ ] && [ -z \"$(ls -A -- @)\" ] || exit 98\n"
		       "fi\n"
		       "git init --bare --quiet -- @ && cd -- @ &&\n"
		       " git config core.logAllRefUpdates true &&\n"
		       " git config receive.denyNonFastForwards true &&\n"
		       " git config receive.denyDeletes true &&\n"
		       " git symbolic-ref HEAD refs/heads/main\n",
		       words) < 0)
		return sv_error_set(SV_EINVAL, "ledger path too long");
	return 0;
}

static int connect_tcp(const char *host, int port, int *fd)
{
	struct addrinfo hints = {0}, *res = NULL;
	struct timeval tv = {SSH_TIMEOUT_S, 0};
	char service[16];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) != 0)
		return sv_error_set(SV_EIO, "cannot resolve '%s': %s", host, gai_strerror(rc));
	*fd = -1;
	for (struct addrinfo *a = res; a && *fd < 0; a = a->ai_next) {
		int s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (s < 0)
			continue;
		/* A send timeout bounds connect() too. */
		setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(s, a->ai_addr, a->ai_addrlen) == 0)
			*fd = s;
		else
			close(s);
	}
	freeaddrinfo(res);
	return *fd < 0 ? sv_error_set(SV_EIO, "cannot connect to %s port %d", host, port) : 0;
}

static int agent_auth(LIBSSH2_SESSION *s, const char *user)
{
	LIBSSH2_AGENT *agent = libssh2_agent_init(s);
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	int ok = 0;
	if (agent && libssh2_agent_connect(agent) == 0 && libssh2_agent_list_identities(agent) == 0)
		while (!ok && libssh2_agent_get_identity(agent, &id, prev) == 0) {
			ok = libssh2_agent_userauth(agent, user, id) == 0;
			prev = id;
		}
	if (agent) {
		libssh2_agent_disconnect(agent);
		libssh2_agent_free(agent);
	}
	return ok;
}

/* Logs in with the push's keys, in its order; 0 or an error. */
static int authenticate(LIBSSH2_SESSION *s, const sv_ledger_ssh_target *t)
{
	for (int i = 0; i < t->nkeys; i++) {
		char pub[PATH_MAX + 8];
		if (!t->keys[i][0]) {
			if (agent_auth(s, t->user))
				return 0;
			continue;
		}
		snprintf(pub, sizeof(pub), "%s.pub", t->keys[i]);
		if (libssh2_userauth_publickey_fromfile(s, t->user, access(pub, R_OK) == 0 ? pub : NULL, t->keys[i],
							t->passphrase) == 0)
			return 0;
	}
	return sv_error_set(SV_EIO, "ssh authentication as '%s' to %s port %d failed", t->user, t->host, t->port);
}

/* Runs script in an exec channel: its exit status into *status, its stderr (first line, printable) into err. */
static int run(LIBSSH2_SESSION *s, const sv_ledger_ssh_target *t, const char *script, int *status, char *err,
	       size_t cap)
{
	LIBSSH2_CHANNEL *ch = libssh2_channel_open_session(s);
	char buf[4096];
	size_t n = 0;
	ssize_t got;
	int rc = 0;

	err[0] = '\0';
	if (!ch)
		return sv_error_set(SV_EIO, "cannot open an ssh channel to %s port %d", t->host, t->port);
	if (libssh2_channel_exec(ch, script) != 0) {
		rc = sv_error_set(SV_EIO, "%s port %d would not run a command over ssh", t->host, t->port);
		goto done;
	}
	/* The script sends everything to stderr; stdout only ends. */
	while ((got = libssh2_channel_read(ch, buf, sizeof(buf))) > 0)
		;
	while ((got = libssh2_channel_read_stderr(ch, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got && n + 1 < cap; i++)
			err[n++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : buf[i] == '\n' ? '\n' : '?';
	err[n] = '\0';
	err[strcspn(err, "\n")] = '\0';
	if (got < 0) {
		rc = sv_error_set(SV_EIO, "lost the ssh connection to %s port %d", t->host, t->port);
		goto done;
	}
	libssh2_channel_close(ch);
	libssh2_channel_wait_closed(ch);
	*status = libssh2_channel_get_exit_status(ch);
done:
	libssh2_channel_free(ch);
	return rc;
}

int sv_ledger_ssh_create(const sv_ledger_ssh_target *t)
{
	LIBSSH2_SESSION *s = NULL;
	char script[4 * PATH_MAX + 512], parent[PATH_MAX + 2], types[256], why[1024], err[SSH_STDERR_MAX];
	const char *key;
	size_t keylen;
	int keytype, status = -1, fd = -1, rc;

	if ((rc = sv_ledger_ssh_script(t->path, script, sizeof(script), parent, sizeof(parent))) < 0)
		return rc;
	if (libssh2_init(0) != 0)
		return sv_error_set(SV_EIO, "cannot start libssh2");
	if ((rc = connect_tcp(t->host, t->port, &fd)) < 0)
		goto done;
	if (!(s = libssh2_session_init())) {
		rc = sv_error_set(SV_EIO, "out of memory");
		goto done;
	}
	libssh2_session_set_timeout(s, SSH_TIMEOUT_S * 1000L);
	/* Ask for a kind of host key known_hosts holds for this server. */
	sv_known_hosts_types(t->known_hosts, t->nknown, t->host, t->port, types, sizeof(types));
	if (types[0] && libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, types) != 0)
		libssh2_session_method_pref(s, LIBSSH2_METHOD_HOSTKEY, NULL);
	if (libssh2_session_handshake(s, fd) != 0) {
		rc = sv_error_set(SV_EIO, "no ssh handshake with %s port %d", t->host, t->port);
		goto done;
	}
	if (!(key = libssh2_session_hostkey(s, &keylen, &keytype))) {
		rc = sv_error_set(SV_EIO, "cannot check the host key of %s: libssh2 gave no key", t->host);
		goto done;
	}
	if (sv_known_hosts_check(t->known_hosts, t->nknown, t->host, t->port, (const unsigned char *)key, keylen, why,
				 sizeof(why)) != 0) {
		rc = sv_error_set(SV_EIO, "%s", why);
		goto done;
	}
	if ((rc = authenticate(s, t)) < 0 || (rc = run(s, t, script, &status, err, sizeof(err))) < 0)
		goto done;
	switch (status) {
	case 0:
		rc = 1;
		break;
	case A_REPO:
		rc = 0;
		break;
	case NO_PARENT:
		rc = sv_error_set(SV_EIO,
				  "cannot make the ledger '%s': the folder '%s' is not on the server (a disk not "
				  "mounted?); only the last folder is made",
				  t->shown, parent);
		break;
	case NOT_EMPTY:
		rc = sv_error_set(SV_EINVAL, "cannot make the ledger '%s': it exists and is not a git repository", t->shown);
		break;
	default:
		rc = sv_error_set(SV_EIO, "cannot make the ledger '%s' on the server (git init --bare, exit %d)%s%s",
				  t->shown, status, err[0] ? ": " : "", err);
	}
done:
	if (s) {
		libssh2_session_disconnect(s, "done");
		libssh2_session_free(s);
	}
	if (fd >= 0)
		close(fd);
	libssh2_exit();
	return rc;
}
