/*
 * tests/unit/test_redact.c -- the one redaction policy (common/redact.h):
 * URLs as messages show them (every case the ledger's and the transports'
 * old policies covered, and secret query parameters), message scrubbing, and
 * cutting a message that has no room rather than showing part of a secret.
 *
 * Parameter structs hold inline arrays: Criterion re-runs the parameter
 * function in each worker, and pointers would not survive the trip.
 */
#include "helpers.h"

#include "../../common/redact.h"

typedef struct {
	char in[160];
	char out[160];       /* sv_redact_url */
	char anonymous[160]; /* sv_redact_url_anonymous */
} url_case;

ParameterizedTestParameters(redact, urls)
{
	static url_case cases[] = {
		/* http(s): all of the user info is secret (tokens travel as user names) */
		{"https://user:s3cret@git.example.org/l.git", "https://git.example.org/l.git",
		 "https://git.example.org/l.git"},
		{"https://ghp_t0ken@git.example.org/l.git", "https://git.example.org/l.git", "https://git.example.org/l.git"},
		{"HTTP://user:pw@host/x", "HTTP://host/x", "HTTP://host/x"},
		{"https://user@host", "https://host", "https://host"},
		/* other schemes: the password goes, the user name stays unless anonymous */
		{"ssh://git:s3cret@host.example:2222/srv/l.git", "ssh://git@host.example:2222/srv/l.git",
		 "ssh://host.example:2222/srv/l.git"},
		{"ssh://git@host.example/srv/l.git", "ssh://git@host.example/srv/l.git", "ssh://host.example/srv/l.git"},
		{"ssh://git:@host/x", "ssh://git@host/x", "ssh://host/x"},
		{"sftp://me:p@ss@127.0.0.1:22/x", "sftp://me@127.0.0.1:22/x", "sftp://127.0.0.1:22/x"},
		{"s3://user:pw@bucket/x", "s3://user@bucket/x", "s3://bucket/x"},
		{"sftp://u:pw@[::1]:2222/x", "sftp://u@[::1]:2222/x", "sftp://[::1]:2222/x"},
		/* scp-like: the password goes too */
		{"me:hunter2pw@127.0.0.1:l.git", "me@127.0.0.1:l.git", "127.0.0.1:l.git"},
		{"git@host:srv/l.git", "git@host:srv/l.git", "host:srv/l.git"},
		/* no user info: as written; an '@' in the path or the query is not user info */
		{"file:///srv/mirror/l.git", "file:///srv/mirror/l.git", "file:///srv/mirror/l.git"},
		{"/srv/mirror/l.git", "/srv/mirror/l.git", "/srv/mirror/l.git"},
		{"/srv/a:b@c/l.git", "/srv/a:b@c/l.git", "/srv/a:b@c/l.git"},
		{"https://host/a@b/l.git", "https://host/a@b/l.git", "https://host/a@b/l.git"},
		{"https://host?x=a@b", "https://host?x=a@b", "https://host?x=a@b"},
		{"not a url", "not a url", "not a url"},
		{"", "", ""},
		/* secret query and fragment parameters: the value becomes *** */
		{"https://h/l.git?token=abc123", "https://h/l.git?token=***", "https://h/l.git?token=***"},
		{"https://h/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=AK%2F1&X-Amz-Signature=ff00&X-Amz-Expires=60",
		 "https://h/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
		 "https://h/o?X-Amz-Algorithm=AWS4&X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"},
		{"https://h/b?sv=2020&sig=S1G&se=x", "https://h/b?sv=2020&sig=***&se=x", "https://h/b?sv=2020&sig=***&se=x"},
		{"https://h/?key=K;api_key=A&Password=P&access_token=T#id_token=I",
		 "https://h/?key=***;api_key=***&Password=***&access_token=***#id_token=***",
		 "https://h/?key=***;api_key=***&Password=***&access_token=***#id_token=***"},
		{"https://u:p@h/?X-Amz-Security-Token=st&page=2", "https://h/?X-Amz-Security-Token=***&page=2",
		 "https://h/?X-Amz-Security-Token=***&page=2"},
		{"https://h/?q=token&token=&page", "https://h/?q=token&token=&page", "https://h/?q=token&token=&page"},
		/* a local path's '?' is part of the name */
		{"/srv/l.git?token=x", "/srv/l.git?token=x", "/srv/l.git?token=x"},
	};
	return cr_make_param_array(url_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(url_case *c, redact, urls)
{
	char buf[256];
	sv_redact_url(c->in, buf, sizeof(buf));
	cr_assert_str_eq(buf, c->out, "%s", c->in);
	sv_redact_url_anonymous(c->in, buf, sizeof(buf));
	cr_assert_str_eq(buf, c->anonymous, "%s", c->in);
}

Test(redact, a_short_buffer_is_cut_and_shows_no_secret)
{
	char buf[16];
	sv_redact_url("https://h/?token=abcdefghijklmnop", buf, sizeof(buf));
	cr_assert_str_eq(buf, "https://h/?toke");
	sv_redact_url("ssh://u:pw@host", buf, 1);
	cr_assert_str_eq(buf, "");
}

typedef struct {
	char url[128];
	char msg[160];
	char out[160];
} scrub_case;

ParameterizedTestParameters(redact, scrub)
{
	static scrub_case cases[] = {
		{"ssh://git:hunter2@h/x", "failed to connect to git:hunter2@h: refused", "failed to connect to git:***@h: refused"},
		{"https://ghp_t0ken@h/x", "401 for https://ghp_t0ken@h/x (ghp_t0ken)", "401 for https://***@h/x (***)"},
		{"https://u:p%40ss@h/x", "sent p@ss, p%40ss, u:p@ss", "sent ***, ***, u:***"},
		{"https://h/x?token=T0K3N&sig=S1G", "bad T0K3N, S1G", "bad ***, ***"},
		{"ssh://git:a@h/x", "a password a", "*** p***ssword ***"},
		{"ssh://git@h/x", "git@h: refused", "git@h: refused"},
		{"/srv/l.git", "no such path /srv/l.git", "no such path /srv/l.git"},
		{"ssh://git:***@h/x", "*** and ***", "*** and ***"},
	};
	return cr_make_param_array(scrub_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(scrub_case *c, redact, scrub)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", c->msg);
	sv_redact_scrub(msg, sizeof(msg), c->url);
	cr_assert_str_eq(msg, c->out, "%s in %s", c->url, c->msg);
}

typedef struct {
	char secret[32];
	char msg[64];
	size_t cap;
	char out[64];
} secret_case;

ParameterizedTestParameters(redact, secret_without_room)
{
	static secret_case cases[] = {
		{"ab", "xabyab", 64, "x***y***"},
		/* growing past cap: the rest is cut, and no start of the secret is left at the end */
		{"ab", "xabyyyyab", 10, "x***yyyy"},
		{"ab", "abcdefgha", 10, "***cdefgh"},
		{"ab", "abcdaXX", 7, "***cd"},
		{"abcd", "xab", 64, "xab"},
		{"ab", "xyab", 5, "xy"},
		{"ab", "cab", 4, "c"},
		{"", "abc", 64, "abc"},
	};
	return cr_make_param_array(secret_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(secret_case *c, redact, secret_without_room)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "%s", c->msg);
	sv_redact_secret(msg, c->cap, c->secret, strlen(c->secret));
	cr_assert_str_eq(msg, c->out, "'%s' in '%s' (cap %zu)", c->secret, c->msg, c->cap);
	cr_assert_lt(strlen(msg), c->cap);
}
