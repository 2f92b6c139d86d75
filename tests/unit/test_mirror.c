/*
 * tests/unit/test_mirror.c -- the mirror engine on its own handles, against a
 * folder remote: what push, verify and pull report through their results and
 * callbacks, what they leave on disk (the remote's files, STATE/NAME.have),
 * and that they print nothing themselves.
 */
#include "helpers.h"

#include <criterion/redirect.h>

#include "../../common/error.h"
#include "../../storage/ledger.h"
#include "../../storage/mirror.h"
#include "../../storage/objects.h"

#include <fcntl.h>
#include <sys/stat.h>

static char dir[4096];

/* One archive's side: store, ledger, state and tmp folders under dir/<who>. */
typedef struct {
	sv_mirror_local l;
	char state[4200], tmp[4200];
} side;

static void side_open(side *s, const char *who)
{
	char path[4200];
	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", dir, who);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/objects", dir, who);
	cr_assert_eq(sv_objects_open(&s->l.objects, path, NULL), 0, "%s", sv_error_last());
	snprintf(path, sizeof(path), "%s/%s/ledger.git", dir, who);
	cr_assert_eq(sv_ledger_init(path), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_open(&s->l.ledger, path, "n1"), 0, "%s", sv_error_last());
	snprintf(s->state, sizeof(s->state), "%s/%s/mirrors", dir, who);
	snprintf(s->tmp, sizeof(s->tmp), "%s/%s/tmp", dir, who);
	cr_assert_eq(mkdir(s->tmp, 0755), 0);
	s->l.state_dir = s->state;
	s->l.tmp_dir = s->tmp;
}

static void side_close(side *s)
{
	sv_objects_free(s->l.objects);
	sv_ledger_free(s->l.ledger);
}

static void remote_for(sv_mirror_remote *r, char *objects, char *ledger, size_t cap)
{
	snprintf(objects, cap, "file://%s/remote/objects", dir);
	snprintf(ledger, cap, "%s/remote/ledger.git", dir);
	char path[4300];
	snprintf(path, sizeof(path), "%s/remote", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/remote/objects", dir);
	mkdir(path, 0755);
	memset(r, 0, sizeof(*r));
	r->name = "eu";
	r->objects = objects;
	r->ledger = ledger;
}

/* Stores text as an object; its digest into d. */
static void put_text(side *s, const char *text, sv_digest *d)
{
	sv_objects_writer *w;
	cr_assert_eq(sv_objects_writer_new(&w, s->l.objects, -1), 0);
	cr_assert_eq(sv_objects_writer_write(w, text, strlen(text)), 0);
	cr_assert_eq(sv_objects_writer_commit(w, d, NULL), 0, "%s", sv_error_last());
}

/* Commits one capture record per digest (url http://x/<i>) to main. */
static void commit_records(side *s, const sv_digest *d, size_t n)
{
	char body[8192], hex[SV_DIGEST_HEX_LEN + 1];
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		sv_digest_to_hex(&d[i], hex);
		len += (size_t)snprintf(body + len, sizeof(body) - len,
					"{\"url\":\"http://x/%zu\",\"ts\":\"2026-01-01T00:00:00.000Z\",\"status\":200,"
					"\"sha256\":\"%s\",\"length\":5,\"kind\":\"page\"}\n",
					i, hex);
	}
	sv_ledger_file f = {"captures/n1/2026-01-01/1.jsonl", body, len};
	cr_assert_eq(sv_ledger_commit(s->l.ledger, "main", "captures", &f, 1, NULL, NULL), 0, "%s", sv_error_last());
}

/* What the callbacks saw. */
typedef struct {
	int progress, failed, problems, warnings, captures;
	char last_problem[2048];
	char urls[8][64];
	const char *known_url; /* reported as already in the archive, with this payload */
	char known_sha[SV_DIGEST_HEX_LEN + 1];
} seen;

static void cb_progress(void *ctx, const sv_mirror_progress *p)
{
	seen *s = ctx;
	cr_assert_leq(p->done, p->total);
	s->progress++;
}

static void cb_failed(void *ctx, const char *name, const char *why)
{
	(void)name;
	(void)why;
	((seen *)ctx)->failed++;
}

static void cb_problem(void *ctx, const char *text)
{
	seen *s = ctx;
	s->problems++;
	snprintf(s->last_problem, sizeof(s->last_problem), "%s", text);
}

static void cb_warning(void *ctx, const char *text)
{
	(void)text;
	((seen *)ctx)->warnings++;
}

static int cb_known(void *ctx, sv_mirror_seen_fn fn, void *set)
{
	seen *s = ctx;
	return s->known_url ? fn(set, s->known_url, "2026-01-01T00:00:00.000Z", 200, s->known_sha) : 0;
}

static int cb_capture(void *ctx, const sv_mirror_capture *c)
{
	seen *s = ctx;
	cr_assert_lt(s->captures, 8);
	cr_assert_str_eq(c->kind, "page");
	cr_assert_not_null(strstr(c->record, c->url), "the record as the ledger holds it");
	snprintf(s->urls[s->captures++], 64, "%s", c->url);
	return 0;
}

static sv_mirror_callbacks callbacks(seen *s)
{
	sv_mirror_callbacks cb = {cb_progress, cb_failed, cb_problem, cb_warning, cb_known, cb_capture, s};
	memset(s, 0, sizeof(*s));
	return cb;
}

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
}

static void teardown(void)
{
	th_rmrf(dir);
}

/* Nothing the engine does may reach the terminal. */
static void quiet(void)
{
	cr_redirect_stdout();
	cr_redirect_stderr();
}

TestSuite(mirror, .init = setup, .fini = teardown, .timeout = 120);

/* Archive a (dir/a) holding texts as objects, the first named of them by capture records; remote r for it. */
typedef struct {
	side a;
	sv_mirror_remote r;
	char objects[4200], ledger[4200];
	sv_digest d[4];
} world;

static void world_make(world *w, const char *const *texts, size_t n, size_t named)
{
	side_open(&w->a, "a");
	remote_for(&w->r, w->objects, w->ledger, sizeof(w->objects));
	for (size_t i = 0; i < n; i++)
		put_text(&w->a, texts[i], &w->d[i]);
	commit_records(&w->a, w->d, named);
}

/* Cuts the remote's copy of d to its first 5 bytes; its name into name. */
static void damage_remote(const sv_digest *d, char name[SV_OBJECTS_NAME_LEN + 1])
{
	char path[4300];
	sv_objects_name(d, name);
	snprintf(path, sizeof(path), "%s/remote/objects/%s", dir, name);
	chmod(path, 0644);
	cr_assert_eq(truncate(path, 5), 0);
}

static int lines_of(const char *path)
{
	char cmd[4300], out[64];
	snprintf(cmd, sizeof(cmd), "wc -l < '%s'", path);
	th_run_line(cmd, out, sizeof(out));
	return atoi(out);
}

Test(mirror, push_verify_pull_report_through_results_and_callbacks, .init = quiet)
{
	static const char *const texts[] = {"one", "two", "three, named by no record"};
	char path[4300], name[SV_OBJECTS_NAME_LEN + 1];
	world w;
	side b, *a = &w.a;
	sv_mirror_remote *r = &w.r;
	sv_digest *d = w.d;
	seen s;

	world_make(&w, texts, 3, 2);

	sv_mirror_push_options po = SV_MIRROR_PUSH_OPTIONS_INIT;
	sv_mirror_push_result pr;
	po.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_push(&a->l, r, &po, &pr), 0, "%s", sv_error_last());
	cr_assert_eq(pr.finished, 1);
	cr_assert_eq(pr.uploaded, 3);
	cr_assert_eq(pr.already, 0);
	cr_assert_eq(pr.failed, 0);
	cr_assert_eq(pr.ledger, SV_MIRROR_LEDGER_PUSHED);
	cr_assert_eq(pr.branches, 1);
	cr_assert_eq(s.progress, 3, "one progress call per upload");
	for (int i = 0; i < 3; i++) {
		sv_objects_name(&d[i], name);
		snprintf(path, sizeof(path), "%s/remote/objects/%s", dir, name);
		cr_assert_eq(access(path, R_OK), 0, "%s on the remote", name);
	}
	snprintf(path, sizeof(path), "%s/eu.have", a->state);
	cr_assert_eq(lines_of(path), 4, "the header and one line per object held");

	/* Nothing new: nothing sent. */
	po.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_push(&a->l, r, &po, &pr), 0, "%s", sv_error_last());
	cr_assert_eq(pr.uploaded, 0);
	cr_assert_eq(pr.already, 3);
	cr_assert_eq(pr.ledger, SV_MIRROR_LEDGER_UP_TO_DATE);
	cr_assert_eq(s.progress, 0);

	sv_mirror_verify_options vo = SV_MIRROR_VERIFY_OPTIONS_INIT;
	sv_mirror_verify_result vr;
	vo.deep = 1;
	vo.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_verify(&a->l, r, &vo, &vr), 0, "%s", sv_error_last());
	cr_assert_eq(vr.objects, 2);
	cr_assert_eq(vr.records, 2);
	cr_assert_eq(vr.rehashed, 2);
	cr_assert_eq(vr.branches, 1);
	cr_assert_eq(vr.problems, 0);
	cr_assert_eq(s.problems, 0);

	/* A remote copy damaged: one problem, forgotten in eu.have, sent again by the next push. */
	damage_remote(&d[1], name);
	vo.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_verify(&a->l, r, &vo, &vr), 0, "%s", sv_error_last());
	cr_assert_eq(vr.problems, 1);
	cr_assert_eq(s.problems, 1);
	cr_assert_not_null(strstr(s.last_problem, name), "%s", s.last_problem);
	snprintf(path, sizeof(path), "%s/eu.have", a->state);
	cr_assert_eq(lines_of(path), 3);
	po.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_push(&a->l, r, &po, &pr), 0, "%s", sv_error_last());
	cr_assert_eq(pr.uploaded, 1);
	cr_assert_eq(pr.already, 2);

	/* Pull into an empty archive: every object, and the records it does not know. */
	side_open(&b, "b");
	sv_mirror_pull_options plo = SV_MIRROR_PULL_OPTIONS_INIT;
	sv_mirror_pull_result plr;
	plo.cb = callbacks(&s);
	s.known_url = "http://x/0";
	sv_digest_to_hex(&d[0], s.known_sha);
	cr_assert_eq(sv_mirror_pull(&b.l, r, &plo, &plr), 0, "%s", sv_error_last());
	cr_assert_eq(plr.downloaded, 3);
	cr_assert_eq(plr.already, 0);
	cr_assert_eq(plr.added, 1, "the capture the archive knew is not handed over");
	cr_assert_eq(plr.problems, 0);
	cr_assert_eq(s.captures, 1);
	cr_assert_str_eq(s.urls[0], "http://x/1");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(sv_objects_exists(b.l.objects, &d[i]), 1);
	plo.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_pull(&b.l, r, &plo, &plr), 0, "%s", sv_error_last());
	cr_assert_eq(plr.downloaded, 0);
	cr_assert_eq(plr.already, 3);

	side_close(a);
	side_close(&b);
	fflush(stdout);
	fflush(stderr);
	cr_assert_stdout_eq_str("", "the engine prints nothing");
	cr_assert_stderr_eq_str("", "the engine prints nothing");
}

Test(mirror, pull_names_a_damaged_remote_object_and_skips_it)
{
	static const char *const texts[] = {"sound", "to be damaged"};
	char path[4300], name[SV_OBJECTS_NAME_LEN + 1];
	world w;
	side b, *a = &w.a;
	sv_mirror_remote *r = &w.r;
	sv_digest *d = w.d;
	seen s;

	world_make(&w, texts, 2, 2);
	sv_mirror_push_result pr;
	cr_assert_eq(sv_mirror_push(&a->l, r, NULL, &pr), 0, "%s", sv_error_last());
	damage_remote(&d[1], name);

	side_open(&b, "b");
	sv_mirror_pull_options plo = SV_MIRROR_PULL_OPTIONS_INIT;
	sv_mirror_pull_result plr;
	plo.cb = callbacks(&s);
	cr_assert_eq(sv_mirror_pull(&b.l, r, &plo, &plr), 0, "%s", sv_error_last());
	cr_assert_eq(plr.downloaded, 1);
	/* One for the damaged copy, one for the record that names what neither side now holds. */
	cr_assert_eq(plr.problems, 2);
	cr_assert_eq(s.problems, 2);
	cr_assert_eq(sv_objects_exists(b.l.objects, &d[1]), 0, "a damaged copy never gets its name");
	cr_assert_eq(plr.added, 2, "every record is still listed");
	snprintf(path, sizeof(path), "%s/b/objects/tmp", dir);
	cr_assert_eq(th_count_entries(path), 0, "no temp file left behind");
	side_close(a);
	side_close(&b);
}

/* Arrays, not pointers: parameters are copied into the test's own process. */
typedef struct {
	char name[16], objects[64], ledger[64], s3_endpoint[64];
	char message[64]; /* part of the error */
} bad_remote;

ParameterizedTestParameters(mirror, check_remote_refuses)
{
	static bad_remote cases[] = {
		{"-eu", "file:///srv/o", "/srv/l.git", "", "bad mirror name"},
		{"eu", "ftp://host/o", "/srv/l.git", "", "unknown scheme 'ftp'"},
		{"eu", "sftp://u:hunter2@host/o", "/srv/l.git", "", "password"},
		{"eu", "file:///srv/o", "https://token@example.org/l.git", "", "token"},
		{"eu", "s3://bucket/p", "/srv/l.git", "", "--s3-endpoint"},
		{"eu", "file:///srv/o", "/srv/l.git", "https://s3.example.org", "s3:// objects only"},
		{"eu", "srv/o", "/srv/l.git", "", "is not a URL"},
		{"eu", "s3://bucket/p", "/srv/l.git", "http://127.0.0.1:9000", "remote.eu.allowHttp = true"},
	};
	return cr_make_param_array(bad_remote, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(bad_remote *c, mirror, check_remote_refuses)
{
	sv_mirror_remote r = {c->name, c->objects, strdup(c->ledger), c->s3_endpoint[0] ? c->s3_endpoint : NULL,
			      NULL, NULL, NULL, 0};
	cr_assert_eq(sv_mirror_check_remote(&r), SV_EINVAL);
	cr_assert_not_null(strstr(sv_error_last(), c->message), "%s", sv_error_last());
	cr_assert_null(strstr(sv_error_last(), "hunter2"), "no secret in a message");
	free(r.ledger);
}
