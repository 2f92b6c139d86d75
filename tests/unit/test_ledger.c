/*
 * tests/unit/test_ledger.c -- the git ledger: what the real git CLI sees in
 * it, commits that keep and replace files, capture records across branches,
 * concurrent committers, damage and rewritten history found by check, and
 * mirroring by push and fetch (file://, and ssh:// against tests/servers/sshd.sh).
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/ledger.h"

#include <sys/stat.h>
#include <sys/wait.h>

static char dir[4096], repo[4200];
static sv_ledger *L;

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
	snprintf(repo, sizeof(repo), "%s/ledger.git", dir);
	cr_assert_eq(sv_ledger_init(repo), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_open(&L, repo, "n1"), 0, "%s", sv_error_last());
}

static void teardown(void)
{
	sv_ledger_free(L);
	L = NULL;
	th_rmrf(dir);
}

TestSuite(ledger, .init = setup, .fini = teardown, .timeout = 300);

/* Runs a shell command; its whole stdout (and stderr, with 2>&1 in cmd) into buf; returns the exit status. */
static int run(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *buf, size_t cap, const char *fmt, ...)
{
	char cmd[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "cannot run %s", cmd);
	size_t n = fread(buf, 1, cap - 1, p);
	buf[n] = '\0';
	char rest[4096];
	while (fread(rest, 1, sizeof(rest), p) > 0) /* the command must not die of SIGPIPE */
		;
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* One file, one commit; returns the new commit's id. */
static void commit1(sv_ledger *l, const char *branch, const char *path, const char *content, const char *msg, char hex[41])
{
	sv_ledger_file f = {path, content, strlen(content)};
	int made = -1;
	cr_assert_eq(sv_ledger_commit(l, branch, msg, &f, 1, &made, hex), 0, "%s", sv_error_last());
	cr_assert_eq(made, 1);
	cr_assert_eq(strlen(hex), 40);
}

static void tip(const char *gitdir, const char *branch, char hex[41])
{
	char out[256];
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-parse --verify -q refs/heads/%s", gitdir, branch), 0,
		     "no branch %s in %s", branch, gitdir);
	snprintf(hex, 41, "%s", out);
}

/* ---------------------------------------------------------------- the repository */

Test(ledger, init_is_idempotent_and_bare)
{
	char out[4096], other[4300];

	cr_assert_eq(sv_ledger_init(repo), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_init(repo), 0, "%s", sv_error_last());
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-parse --is-bare-repository", repo), 0);
	cr_assert_str_eq(out, "true\n");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' symbolic-ref HEAD", repo), 0);
	cr_assert_str_eq(out, "refs/heads/main\n");
	cr_assert_eq(run(out, sizeof(out), "find '%s' -name index -o -name '*.orig' | wc -l", repo), 0);
	cr_assert_str_eq(out, "0\n", "no work tree, no index");

	/* Not silently turned into a ledger: a folder with files, a repository with a work tree. */
	snprintf(other, sizeof(other), "%s/notes", dir);
	cr_assert_eq(run(out, sizeof(out), "mkdir -p '%s' && echo x > '%s/a.txt'", other, other), 0);
	cr_assert_eq(sv_ledger_init(other), SV_EINVAL);
	cr_assert_eq(run(out, sizeof(out), "git init -q '%s/work'", dir), 0);
	snprintf(other, sizeof(other), "%s/work", dir);
	cr_assert_eq(sv_ledger_init(other), SV_EINVAL);
	cr_assert(strstr(sv_error_last(), "work tree"), "%s", sv_error_last());

	sv_ledger *l;
	snprintf(other, sizeof(other), "%s/missing.git", dir);
	cr_assert_eq(sv_ledger_open(&l, other, NULL), SV_ENOTFOUND);
	cr_assert_null(l);
}

Test(ledger, git_cli_reads_what_was_committed)
{
	/* Bytes a JSON line really carries: UTF-8, escapes, a tab. */
	const char *rec = "{\"url\":\"https://example.org/d\\u00e9p\\u00f4t.csv\",\"title\":\"Dépôt\t1\",\"status\":200}\n"
			  "{\"url\":\"https://example.org/b.zip\",\"status\":404,\"error\":\"not found\"}\n";
	char h1[41], h2[41], h3[41], out[8192], head[41];

	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", rec, "checkpoint 1: 2 captures", h1);
	commit1(L, "main", "sheets/agencies.csv", "url,agency\nhttps://example.org/,EPA\n", "sheet agencies.csv", h2);
	commit1(L, "main", "captures/n1/2026-11-24/2.jsonl", "{\"url\":\"x\"}\n", "checkpoint 2: 1 capture", h3);

	cr_assert_eq(run(out, sizeof(out), "git -C '%s' fsck --strict 2>&1", repo), 0, "git fsck: %s", out);
	cr_assert_eq(strstr(out, "error") || strstr(out, "warning") || strstr(out, "dangling"), 0, "git fsck: %s", out);

	cr_assert_eq(run(out, sizeof(out), "git -C '%s' log --format=%%s main", repo), 0);
	cr_assert_str_eq(out, "checkpoint 2: 1 capture\nsheet agencies.csv\ncheckpoint 1: 2 captures\n");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' log --format='%%an <%%ae>|%%cn <%%ce>' -1", repo), 0);
	cr_assert_str_eq(out, "salvage <salvage@n1>|salvage <salvage@n1>\n");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' log --format=%%P -1 %s", repo, h3), 0);
	cr_assert_eq(strncmp(out, h2, 40), 0, "each commit chains the one before");

	cr_assert_eq(run(out, sizeof(out), "git -C '%s' show main:captures/n1/2026-11-24/1.jsonl", repo), 0);
	cr_assert_str_eq(out, rec);
	tip(repo, "main", head);
	cr_assert_str_eq(head, h3);

	/* The commit time is now. */
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' log -1 --format=%%ct", repo), 0);
	long t = atol(out);
	cr_assert(labs(t - (long)time(NULL)) < 60, "commit time %ld", t);
}

Test(ledger, commit_keeps_earlier_files_and_replaces)
{
	char h[41], out[4096];
	char *data;
	size_t len;

	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "one\n", "c1", h);
	commit1(L, "main", "sheets/deep/er/still/s.csv", "a,b\n", "c2", h);
	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "one, corrected\n", "c3", h);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' ls-tree -r --name-only main", repo), 0);
	cr_assert_str_eq(out, "captures/n1/2026-11-24/1.jsonl\nsheets/deep/er/still/s.csv\n");
	cr_assert_eq(sv_ledger_read(L, "main", "captures/n1/2026-11-24/1.jsonl", &data, &len), 0, "%s", sv_error_last());
	cr_assert_eq(len, strlen("one, corrected\n"));
	cr_assert_str_eq(data, "one, corrected\n");
	free(data);
	cr_assert_eq(sv_ledger_read(L, "main", "sheets/deep/er/still/s.csv", &data, &len), 0, "%s", sv_error_last());
	cr_assert_str_eq(data, "a,b\n");
	free(data);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --count main", repo), 0);
	cr_assert_str_eq(out, "3\n");

	/* Several files in one commit, one of them in a folder that is new. */
	sv_ledger_file fs[] = {
		{"captures/n1/2026-11-25/1.jsonl", "x\n", 2},
		{"captures/n1/2026-11-24/2.jsonl", "y\n", 2},
		{"sheets/t.csv", "", 0},
	};
	int made;
	cr_assert_eq(sv_ledger_commit(L, "main", "three at once", fs, 3, &made, h), 0, "%s", sv_error_last());
	cr_assert_eq(made, 1);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' ls-tree -r --name-only main | wc -l", repo), 0);
	cr_assert_str_eq(out, "5\n");
	cr_assert_eq(sv_ledger_read(L, "main", "sheets/t.csv", &data, &len), 0, "%s", sv_error_last());
	cr_assert_eq(len, 0);
	free(data);

	cr_assert_eq(sv_ledger_read(L, "main", "sheets/none.csv", &data, &len), SV_ENOTFOUND);
	cr_assert_eq(sv_ledger_read(L, "nodes/none", "sheets/t.csv", &data, &len), SV_ENOTFOUND);
	cr_assert_eq(sv_ledger_read(L, "main", "sheets", &data, &len), SV_EINVAL);
}

Test(ledger, unchanged_tree_makes_no_commit)
{
	char h1[41], h2[41] = "x", out[256];
	int made = -1;
	sv_ledger_file f = {"captures/n1/d/1.jsonl", "same\n", 5};

	cr_assert_eq(sv_ledger_commit(L, "main", "nothing", NULL, 0, &made, h2), 0, "%s", sv_error_last());
	cr_assert_eq(made, 0);
	cr_assert_str_eq(h2, "", "no branch, no tip");
	cr_assert_neq(run(out, sizeof(out), "git -C '%s' rev-parse -q --verify refs/heads/main", repo), 0);

	commit1(L, "main", f.path, "same\n", "first", h1);
	cr_assert_eq(sv_ledger_commit(L, "main", "again", &f, 1, &made, h2), 0, "%s", sv_error_last());
	cr_assert_eq(made, 0, "the same bytes at the same path change nothing");
	cr_assert_str_eq(h2, h1);
	cr_assert_eq(sv_ledger_commit(L, "main", "empty", NULL, 0, &made, h2), 0, "%s", sv_error_last());
	cr_assert_eq(made, 0);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --count main", repo), 0);
	cr_assert_str_eq(out, "1\n");
}

typedef struct {
	char path[64];
	char branch[32];
} bad_case;

ParameterizedTestParameters(ledger, bad_paths_and_branches_are_refused)
{
	static bad_case cases[] = {
		{"", "main"},        {"/etc/passwd", "main"},   {"a//b", "main"},  {"a/../b", "main"},
		{"./a", "main"},     {".git/config", "main"},   {"a/.GIT/x", "main"}, {"a/", "main"},
		{"ok.txt", "a..b"},  {"ok.txt", "nodes/x.lock"}, {"ok.txt", ""},    {"ok.txt", "-/x y"},
		{"sheets", "main"}, /* a folder already there */
		{"sheets/s.csv/x", "main"}, /* a file already there */
	};
	return cr_make_param_array(bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(bad_case *c, ledger, bad_paths_and_branches_are_refused)
{
	char h[41], out[256];
	int made = -1;
	commit1(L, "main", "sheets/s.csv", "a\n", "first", h);
	sv_ledger_file f = {c->path, "x\n", 2};
	cr_assert_eq(sv_ledger_commit(L, c->branch, "bad", &f, 1, &made, NULL), SV_EINVAL, "path '%s' branch '%s'",
		     c->path, c->branch);
	cr_assert_eq(made, 0);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --all --count", repo), 0);
	cr_assert_str_eq(out, "1\n", "nothing committed anywhere");
}

Test(ledger, same_path_twice_in_one_commit_is_refused)
{
	sv_ledger_file fs[] = {{"a/b.txt", "1", 1}, {"a/b.txt", "2", 1}};
	int made = -1;
	cr_assert_eq(sv_ledger_commit(L, "main", "twice", fs, 2, &made, NULL), SV_EINVAL);
	cr_assert_eq(made, 0);
}

/* ---------------------------------------------------------------- records */

typedef struct {
	char got[8192];
	int calls, stop_at;
} rec_ctx;

static int collect(void *ctx, const char *path, const char *line, size_t len)
{
	rec_ctx *r = ctx;
	size_t n = strlen(r->got);
	cr_assert_eq(strlen(line), len, "line is NUL-terminated at len");
	snprintf(r->got + n, sizeof(r->got) - n, "%s|%s\n", path, line);
	return ++r->calls == r->stop_at ? 7 : 0;
}

Test(ledger, records_cover_every_capture_of_every_branch)
{
	char h[41];
	sv_ledger *x;
	rec_ctx r = {.stop_at = -1};

	commit1(L, "main", "captures/n1/2026-11-24/2.jsonl", "{\"n\":3}", "c", h); /* no final newline */
	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{\"n\":1}\n{\"n\":2}\n", "c", h);
	commit1(L, "main", "sheets/s.csv", "url\nhttps://sheet.example/\n", "sheet", h);
	cr_assert_eq(sv_ledger_open(&x, repo, "x"), 0, "%s", sv_error_last());
	commit1(x, "nodes/x", "captures/x/2026-11-23/1.jsonl", "{\"n\":\"x1\"}\n\n{\"n\":\"x2\"}\n", "c", h);
	/* The same file in two branches is one set of records. */
	commit1(x, "nodes/x", "captures/n1/2026-11-24/1.jsonl", "{\"n\":1}\n{\"n\":2}\n", "c", h);
	commit1(x, "nodes/x", "sheets/s.csv", "url\nhttps://other.example/\n", "sheet", h);
	sv_ledger_free(x);

	cr_assert_eq(sv_ledger_records(L, collect, &r), 0, "%s", sv_error_last());
	cr_assert_str_eq(r.got, "captures/n1/2026-11-24/1.jsonl|{\"n\":1}\n"
				"captures/n1/2026-11-24/1.jsonl|{\"n\":2}\n"
				"captures/n1/2026-11-24/2.jsonl|{\"n\":3}\n"
				"captures/x/2026-11-23/1.jsonl|{\"n\":\"x1\"}\n"
				"captures/x/2026-11-23/1.jsonl|\n"
				"captures/x/2026-11-23/1.jsonl|{\"n\":\"x2\"}\n");

	/* fn's non-zero value stops the walk and comes back. */
	rec_ctx s = {.stop_at = 2};
	cr_assert_eq(sv_ledger_records(L, collect, &s), 7);
	cr_assert_eq(s.calls, 2);
}

Test(ledger, records_of_an_empty_ledger)
{
	rec_ctx r = {.stop_at = -1};
	cr_assert_eq(sv_ledger_records(L, collect, &r), 0, "%s", sv_error_last());
	cr_assert_eq(r.calls, 0);
}

/* ---------------------------------------------------------------- concurrency */

Test(ledger, two_processes_committing_lose_nothing)
{
	pid_t kids[2];
	char out[4096];

	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		cr_assert_neq(kids[k], -1);
		if (kids[k] == 0) {
			sv_ledger *l;
			char node[16], path[128], body[64], h[41];
			snprintf(node, sizeof(node), "p%d", k);
			if (sv_ledger_open(&l, repo, node) != 0)
				_exit(2);
			for (int i = 0; i < 50; i++) {
				snprintf(path, sizeof(path), "captures/%s/2026-11-24/%d.jsonl", node, i);
				snprintf(body, sizeof(body), "{\"node\":\"%s\",\"seq\":%d}\n", node, i);
				sv_ledger_file f = {path, body, strlen(body)};
				int made = 0;
				if (sv_ledger_commit(l, "main", "checkpoint", &f, 1, &made, h) != 0 || !made) {
					fprintf(stderr, "%s: %s\n", node, sv_error_last());
					_exit(1);
				}
			}
			sv_ledger_free(l);
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int st;
		cr_assert_eq(waitpid(kids[k], &st, 0), kids[k]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "committer %d failed", k);
	}
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' ls-tree -r --name-only main | grep -c jsonl", repo), 0);
	cr_assert_str_eq(out, "100\n", "every file of both processes is in the tip");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --count main", repo), 0);
	cr_assert_str_eq(out, "100\n", "one commit each");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --min-parents=2 --count main", repo), 0);
	cr_assert_str_eq(out, "0\n", "linear history");
	/* Each process's files arrive in its own order: history never lost one. */
	cr_assert_eq(run(out, sizeof(out),
			 "git -C '%s' log --reverse --format= --name-only main | sed -n 's|captures/p0/2026-11-24/||p' | tr '\\n' ' '",
			 repo),
		     0);
	char want[1024] = "";
	for (int i = 0; i < 50; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%d.jsonl ", i);
	cr_assert_str_eq(out, want);
	/* Salvage committers take turns: no attempt was wasted, so nothing dangles. */
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' fsck --strict 2>&1", repo), 0, "%s", out);
	cr_assert_null(strstr(out, "dangling"), "%s", out);
}

Test(ledger, commits_survive_a_foreign_writer_moving_the_branch)
{
	char h[41], out[4096], cmd[8192];
	pid_t kid;
	int st;

	commit1(L, "main", "captures/n1/2026-11-24/start.jsonl", "{}\n", "start", h);
	/* Plain git moves main on its own, with its own compare-and-swap, while we commit. */
	snprintf(cmd, sizeof(cmd),
		 "export GIT_AUTHOR_NAME=ext GIT_AUTHOR_EMAIL=ext@x GIT_COMMITTER_NAME=ext GIT_COMMITTER_EMAIL=ext@x; "
		 "cd '%s' && n=0; while [ $n -lt 40 ]; do old=$(git rev-parse main) && "
		 "c=$(echo ext | git commit-tree -p $old $old^{tree}) && "
		 "git update-ref refs/heads/main $c $old 2>/dev/null && n=$((n+1)); done",
		 repo);
	kid = fork();
	cr_assert_neq(kid, -1);
	if (kid == 0)
		_exit(system(cmd) == 0 ? 0 : 1);
	for (int i = 0; i < 40; i++) {
		char path[64];
		snprintf(path, sizeof(path), "captures/n1/2026-11-24/%d.jsonl", i);
		commit1(L, "main", path, "{}\n", "checkpoint", h);
	}
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' ls-tree -r --name-only main | grep -c jsonl", repo), 0);
	cr_assert_str_eq(out, "41\n", "every file we committed is in the tip");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' log --format=%%an main | sort | uniq -c | tr -s ' '", repo), 0);
	cr_assert_str_eq(out, " 40 ext\n 41 salvage\n", "both writers' commits are in one history");
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --min-parents=2 --count main", repo), 0);
	cr_assert_str_eq(out, "0\n");
}

Test(ledger, a_lock_left_by_a_dead_writer_is_cleared)
{
	char h[41], lock[4300], out[256];
	commit1(L, "main", "a.txt", "1\n", "first", h);
	/* As kill -9 between git's lock and rename leaves it, long ago. */
	snprintf(lock, sizeof(lock), "%s/refs/heads/main.lock", repo);
	cr_assert_eq(run(out, sizeof(out), "echo junk > '%s' && touch -d '1 hour ago' '%s'", lock, lock), 0);
	commit1(L, "main", "b.txt", "2\n", "second", h);
	cr_assert_neq(access(lock, F_OK), 0);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-list --count main", repo), 0);
	cr_assert_str_eq(out, "2\n");
}

/* ---------------------------------------------------------------- check */

typedef struct {
	char text[4096];
	int n;
} problems;

static void note(void *ctx, const char *what)
{
	problems *p = ctx;
	size_t len = strlen(p->text);
	snprintf(p->text + len, sizeof(p->text) - len, "%s\n", what);
	p->n++;
}

static void three_commits(char blob_hex[41])
{
	char h[41], out[256];
	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{\"a\":1}\n", "c1", h);
	commit1(L, "main", "captures/n1/2026-11-24/2.jsonl", "{\"a\":2}\n", "c2", h);
	commit1(L, "nodes/x", "captures/x/2026-11-24/1.jsonl", "{\"x\":1}\n", "c3", h);
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-parse main:captures/n1/2026-11-24/1.jsonl", repo), 0);
	snprintf(blob_hex, 41, "%s", out);
}

Test(ledger, check_of_a_sound_ledger_finds_nothing)
{
	char blob[41];
	problems p = {.n = 0};
	long n = -1;
	three_commits(blob);
	cr_assert_eq(sv_ledger_check(L, note, &p, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 0, "%s", p.text);
	cr_assert_eq(p.n, 0);
}

Test(ledger, check_reports_a_missing_object)
{
	char blob[41], path[4400];
	problems p = {.n = 0};
	long n = -1;
	three_commits(blob);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", repo, blob, blob + 2);
	cr_assert_eq(unlink(path), 0, "loose object %s", path);
	cr_assert_eq(sv_ledger_check(L, note, &p, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 1, "%s", p.text);
	cr_assert(strstr(p.text, blob) && strstr(p.text, "missing"), "%s", p.text);
}

Test(ledger, check_reports_a_corrupted_object)
{
	char blob[41], path[4400], out[256];
	problems p = {.n = 0};
	long n = -1;
	three_commits(blob);
	/* Same content size, other bytes: a stored blob that no longer hashes to its name. */
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", repo, blob, blob + 2);
	cr_assert_eq(run(out, sizeof(out),
			 "chmod u+w '%s' && printf 'blob 8\\0{\"a\":9}\\n' | python3 -c 'import sys,zlib;"
			 "sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' > '%s'",
			 path, path),
		     0);
	cr_assert_eq(sv_ledger_check(L, note, &p, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 1, "%s", p.text);
	cr_assert(strstr(p.text, blob), "%s", p.text);

	/* Garbage instead of zlib data is found as well, here in a commit. */
	char head[41];
	tip(repo, "nodes/x", head);
	snprintf(path, sizeof(path), "%s/objects/%.2s/%s", repo, head, head + 2);
	cr_assert_eq(run(out, sizeof(out), "chmod u+w '%s' && printf 'xxxx' | dd of='%s' bs=1 seek=4 conv=notrunc 2>/dev/null",
			 path, path),
		     0);
	p = (problems){.n = 0};
	cr_assert_eq(sv_ledger_check(L, note, &p, &n), 0, "%s", sv_error_last());
	cr_assert_geq(n, 2, "%s", p.text);
	cr_assert(strstr(p.text, head), "%s", p.text);
}

Test(ledger, check_reports_rewritten_history)
{
	char blob[41], out[1024];
	problems p = {.n = 0};
	long n = -1;
	three_commits(blob);
	/* Someone moves main back one commit with plain git. */
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' update-ref refs/heads/main main~1 2>&1", repo), 0, "%s", out);
	cr_assert_eq(sv_ledger_check(L, note, &p, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 1, "%s", p.text);
	cr_assert(strstr(p.text, "refs/heads/main") && strstr(p.text, "rewritten"), "%s", p.text);
}

/* ---------------------------------------------------------------- push and fetch */

static int count_files(const char *d)
{
	char out[64];
	run(out, sizeof(out), "find '%s/objects' -type f | wc -l", d);
	return atoi(out);
}

Test(ledger, push_to_a_file_mirror_and_fetch_back)
{
	char h[41], url[4400], mirror[4300], fresh[4300], a[41], b[41], out[256];
	sv_ledger *f;

	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{}\n", "c1", h);
	commit1(L, "nodes/x", "captures/x/2026-11-24/1.jsonl", "{}\n", "c2", h);
	snprintf(mirror, sizeof(mirror), "%s/far/away/mirror.git", dir);
	snprintf(url, sizeof(url), "file://%s", mirror);
	cr_assert_eq(sv_ledger_push(L, url, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' rev-parse --is-bare-repository", mirror), 0);
	cr_assert_str_eq(out, "true\n", "the mirror was created bare");
	for (int i = 0; i < 2; i++) {
		const char *br = i ? "nodes/x" : "main";
		tip(repo, br, a);
		tip(mirror, br, b);
		cr_assert_str_eq(a, b, "%s", br);
	}
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' fsck --strict 2>&1", mirror), 0, "%s", out);

	/* Nothing new: nothing sent. */
	int before = count_files(mirror);
	cr_assert_eq(sv_ledger_push(L, url, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(count_files(mirror), before);

	/* A fresh ledger fetches the same tips (a plain path works as well). */
	snprintf(fresh, sizeof(fresh), "%s/fresh.git", dir);
	cr_assert_eq(sv_ledger_init(fresh), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_open(&f, fresh, "n2"), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_fetch(f, mirror, NULL), 0, "%s", sv_error_last());
	for (int i = 0; i < 2; i++) {
		const char *br = i ? "nodes/x" : "main";
		tip(mirror, br, a);
		tip(fresh, br, b);
		cr_assert_str_eq(a, b, "%s", br);
	}
	long n = -1;
	cr_assert_eq(sv_ledger_check(f, NULL, NULL, &n), 0, "%s", sv_error_last());
	cr_assert_eq(n, 0);

	/* More commits travel on: pushed, then fetched as a fast-forward. */
	commit1(L, "main", "captures/n1/2026-11-24/2.jsonl", "{}\n", "c3", h);
	cr_assert_eq(sv_ledger_push(L, url, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_fetch(f, url, NULL), 0, "%s", sv_error_last());
	tip(fresh, "main", b);
	cr_assert_str_eq(b, h);

	/* A ledger ahead of the mirror keeps its own commits when it fetches. */
	commit1(f, "main", "captures/n2/2026-11-24/1.jsonl", "{}\n", "c4", h);
	cr_assert_eq(sv_ledger_fetch(f, url, NULL), 0, "%s", sv_error_last());
	tip(fresh, "main", b);
	cr_assert_str_eq(b, h);
	sv_ledger_free(f);
}

Test(ledger, push_that_would_rewrite_the_mirror_is_refused)
{
	char h[41], url[4400], mirror[4300], other[4300], before[41], after[41];
	sv_ledger *o;

	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{}\n", "c1", h);
	snprintf(mirror, sizeof(mirror), "%s/mirror.git", dir);
	snprintf(url, sizeof(url), "file://%s", mirror);
	cr_assert_eq(sv_ledger_push(L, url, NULL), 0, "%s", sv_error_last());
	tip(mirror, "main", before);

	/* Another history for main. */
	snprintf(other, sizeof(other), "%s/other.git", dir);
	cr_assert_eq(sv_ledger_init(other), 0);
	cr_assert_eq(sv_ledger_open(&o, other, "n9"), 0);
	commit1(o, "main", "captures/n9/2026-11-24/1.jsonl", "{}\n", "other", h);
	commit1(o, "nodes/n9", "captures/n9/2026-11-24/1.jsonl", "{}\n", "other", h);
	int rc = sv_ledger_push(o, url, NULL);
	cr_assert_eq(rc, SV_ECORRUPT, "rc %d: %s", rc, sv_error_last());
	cr_assert(strstr(sv_error_last(), "refs/heads/main") && strstr(sv_error_last(), "fast-forward"), "%s",
		  sv_error_last());
	tip(mirror, "main", after);
	cr_assert_str_eq(after, before, "the mirror's main is untouched");

	/* A ledger behind the mirror must not move it back either. */
	commit1(L, "main", "captures/n1/2026-11-24/2.jsonl", "{}\n", "c2", h);
	cr_assert_eq(sv_ledger_push(L, url, NULL), 0, "%s", sv_error_last());
	sv_ledger_free(o);
	snprintf(other, sizeof(other), "%s/behind.git", dir);
	cr_assert_eq(sv_ledger_init(other), 0);
	cr_assert_eq(sv_ledger_open(&o, other, "n8"), 0);
	cr_assert_eq(sv_ledger_fetch(o, url, NULL), 0, "%s", sv_error_last());
	commit1(L, "main", "captures/n1/2026-11-24/3.jsonl", "{}\n", "c3", h);
	cr_assert_eq(sv_ledger_push(L, url, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_push(o, url, NULL), SV_ECORRUPT, "%s", sv_error_last());
	tip(mirror, "main", after);
	cr_assert_str_eq(after, h);
	sv_ledger_free(o);
}

Test(ledger, fetch_that_would_rewrite_a_branch_is_refused)
{
	char h[41], url[4400], mirror[4300], mine[41], after[41], out[256];

	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{}\n", "local", mine);
	/* The mirror has its own main, and a branch this ledger lacks. */
	snprintf(mirror, sizeof(mirror), "%s/mirror.git", dir);
	cr_assert_eq(sv_ledger_init(mirror), 0);
	sv_ledger *m;
	cr_assert_eq(sv_ledger_open(&m, mirror, "m"), 0);
	commit1(m, "main", "captures/m/2026-11-24/1.jsonl", "{}\n", "theirs", h);
	commit1(m, "nodes/m", "captures/m/2026-11-24/1.jsonl", "{}\n", "theirs", h);
	sv_ledger_free(m);
	snprintf(url, sizeof(url), "file://%s", mirror);

	cr_assert_eq(sv_ledger_fetch(L, url, NULL), SV_ECORRUPT);
	cr_assert(strstr(sv_error_last(), "refs/heads/main") && strstr(sv_error_last(), "nothing was updated"), "%s",
		  sv_error_last());
	tip(repo, "main", after);
	cr_assert_str_eq(after, mine);
	cr_assert_neq(run(out, sizeof(out), "git -C '%s' rev-parse -q --verify refs/heads/nodes/m", repo), 0,
		      "no branch moved or appeared");
}

typedef struct {
	char in[96];
	char out[96];
} redact_case;

ParameterizedTestParameters(ledger, urls_in_messages_lose_their_secrets)
{
	static redact_case cases[] = {
		{"https://user:s3cret@git.example.org/l.git", "https://git.example.org/l.git"},
		{"https://ghp_t0ken@git.example.org/l.git", "https://git.example.org/l.git"},
		{"ssh://git:s3cret@host.example:2222/srv/l.git", "ssh://git@host.example:2222/srv/l.git"},
		{"ssh://git@host.example/srv/l.git", "ssh://git@host.example/srv/l.git"},
		{"file:///srv/mirror/l.git", "file:///srv/mirror/l.git"},
		{"/srv/mirror/l.git", "/srv/mirror/l.git"},
	};
	return cr_make_param_array(redact_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(redact_case *c, ledger, urls_in_messages_lose_their_secrets)
{
	char buf[256];
	sv_ledger_url_redact(c->in, buf, sizeof(buf));
	cr_assert_str_eq(buf, c->out);
}

Test(ledger, failed_push_does_not_show_the_password)
{
	char h[41];
	commit1(L, "main", "a.txt", "1\n", "c", h);
	/* Nothing listens on port 1 of loopback. */
	int rc = sv_ledger_push(L, "ssh://salvage:hunter2@127.0.0.1:1/srv/l.git", NULL);
	cr_assert_eq(rc, SV_EIO, "rc %d: %s", rc, sv_error_last());
	cr_assert_null(strstr(sv_error_last(), "hunter2"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "127.0.0.1"), "%s", sv_error_last());
}

/* ---------------------------------------------------------------- over ssh */

/*
 * libgit2 1.5.1 leaks what load_known_hosts() (transports/ssh.c) allocates on
 * every ssh connection, whatever the caller does. The sanitizer build leaves
 * out just those: full stacks (libgit2 has no frame pointers, so the fast
 * unwinder stops inside it) let the suppression name the call they come from.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libssh2_knownhost_init\nleak:git_remote_connect\n";
}

/* sshd (tests/servers/sshd.sh) runs once for the whole binary; workers find it through the environment. */
static char sshd_dir[4096];


static int sshd_script(const char *verb)
{
	char root[4096], cmd[13000];
	th_repo_root(root, sizeof(root));
	snprintf(cmd, sizeof(cmd), "bash '%s/tests/servers/sshd.sh' %s '%s/sshd' </dev/null >'%s/sshd.out' 2>&1", root,
		 verb, sshd_dir, sshd_dir);
	return system(cmd);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char pid[32], err[4300];
	const char *base = getenv("SALVAGE_TEST_TMP");
	(void)set;
	snprintf(sshd_dir, sizeof(sshd_dir), "%s/salvage-ledger-sshd.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(sshd_dir)) {
		setenv("SV_LEDGER_SSHD_ERROR", "mkdtemp failed", 1);
		return;
	}
	/* sshd stops by itself if this process dies without stopping it. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("SV_SERVER_OWNER_PID", pid, 1);
	setenv("SV_LEDGER_SSHD", sshd_dir, 1);
	if (sshd_script("start") != 0) {
		snprintf(err, sizeof(err), "sshd.sh start failed; see %s/sshd.out", sshd_dir);
		setenv("SV_LEDGER_SSHD_ERROR", err, 1);
	}
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	char cmd[4200];
	(void)stats;
	if (!sshd_dir[0])
		return;
	sshd_script("stop");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sshd_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", sshd_dir);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set by sshd.sh", name);
	return v;
}

/* Exports the `export K=V` lines of sshd.env into this process. */
static void sshd_env(void)
{
	const char *err = getenv("SV_LEDGER_SSHD_ERROR");
	char path[4200];
	cr_assert(!err, "%s", err ? err : "");
	snprintf(path, sizeof(path), "%s/sshd/sshd.env", env("SV_LEDGER_SSHD"));
	th_load_env(path);
}

typedef struct {
	char path[4400]; /* the remote ledger, as the server sees it (same machine) */
	char url[4600];
	sv_ledger_remote_options o;
} ssh_remote;

/* A fresh bare ledger on the server, and options that trust sshd.sh's host key and use its client key. */
static void ssh_remote_make(ssh_remote *r)
{
	sshd_env();
	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s/ledger.XXXXXX", env("SV_SSHD_ROOT"));
	cr_assert_not_null(mkdtemp(r->path));
	cr_assert_eq(sv_ledger_init(r->path), 0, "%s", sv_error_last());
	snprintf(r->url, sizeof(r->url), "ssh://%s@127.0.0.1:%s%s", env("SV_SSHD_USER"), env("SV_SSHD_PORT"), r->path);
	r->o.known_hosts = env("SV_SSHD_KNOWN_HOSTS");
	r->o.ssh_key = env("SV_SSHD_KEY");
}

TestSuite(ledger_ssh, .init = setup, .fini = teardown, .timeout = 300);

Test(ledger_ssh, push_and_fetch_over_ssh)
{
	ssh_remote r;
	char h[41], a[41], b[41], fresh[4300], out[256];
	sv_ledger *f;

	ssh_remote_make(&r);
	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{\"a\":1}\n", "c1", h);
	commit1(L, "nodes/x", "captures/x/2026-11-24/1.jsonl", "{\"x\":1}\n", "c2", h);
	cr_assert_eq(sv_ledger_push(L, r.url, &r.o), 0, "%s", sv_error_last());
	for (int i = 0; i < 2; i++) {
		const char *br = i ? "nodes/x" : "main";
		tip(repo, br, a);
		tip(r.path, br, b);
		cr_assert_str_eq(a, b, "%s", br);
	}
	cr_assert_eq(run(out, sizeof(out), "git -C '%s' fsck --strict 2>&1", r.path), 0, "%s", out);

	/* Again with one new commit, and fetched back over ssh into a fresh ledger. */
	commit1(L, "main", "captures/n1/2026-11-24/2.jsonl", "{\"a\":2}\n", "c3", h);
	cr_assert_eq(sv_ledger_push(L, r.url, &r.o), 0, "%s", sv_error_last());
	tip(r.path, "main", b);
	cr_assert_str_eq(b, h);
	snprintf(fresh, sizeof(fresh), "%s/fresh.git", dir);
	cr_assert_eq(sv_ledger_init(fresh), 0);
	cr_assert_eq(sv_ledger_open(&f, fresh, "n2"), 0);
	cr_assert_eq(sv_ledger_fetch(f, r.url, &r.o), 0, "%s", sv_error_last());
	tip(fresh, "main", a);
	cr_assert_str_eq(a, h);
	tip(fresh, "nodes/x", a);
	tip(repo, "nodes/x", b);
	cr_assert_str_eq(a, b);

	/* The same refusal of a rewrite as with a folder. */
	commit1(f, "main", "captures/n2/2026-11-24/1.jsonl", "{}\n", "n2", h);
	commit1(L, "main", "captures/n1/2026-11-24/3.jsonl", "{}\n", "c4", h);
	cr_assert_eq(sv_ledger_push(L, r.url, &r.o), 0, "%s", sv_error_last());
	cr_assert_eq(sv_ledger_push(f, r.url, &r.o), SV_ECORRUPT, "%s", sv_error_last());
	tip(r.path, "main", b);
	cr_assert_str_eq(b, h);
	sv_ledger_free(f);
}

enum kh_kind { KH_PLAIN, KH_HASHED, KH_PATTERN, KH_WRONG_KEY, KH_OTHER_HOST, KH_PORT_22, KH_REVOKED, KH_MISSING };

typedef struct {
	enum kh_kind kind;
	char refusal[48]; /* "" when the push must work */
} kh_case;

ParameterizedTestParameters(ledger_ssh, host_keys_are_checked_against_known_hosts)
{
	static kh_case cases[] = {
		{KH_PLAIN, ""},
		{KH_HASHED, ""},
		{KH_PATTERN, ""},
		{KH_WRONG_KEY, "does not match known_hosts"},
		{KH_OTHER_HOST, "is not in known_hosts"},
		{KH_PORT_22, "is not in known_hosts"},
		{KH_REVOKED, "is revoked"},
		{KH_MISSING, "cannot read known_hosts"},
	};
	return cr_make_param_array(kh_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(kh_case *c, ledger_ssh, host_keys_are_checked_against_known_hosts)
{
	ssh_remote r;
	char h[41], kh[4300], key[1024], other[1024], out[8192];
	FILE *f;

	ssh_remote_make(&r);
	commit1(L, "main", "captures/n1/2026-11-24/1.jsonl", "{}\n", "c1", h);
	cr_assert_eq(run(out, sizeof(out), "cut -d' ' -f2- '%s' | head -n 1", env("SV_SSHD_KNOWN_HOSTS")), 0);
	snprintf(key, sizeof(key), "%.*s", (int)strcspn(out, "\n"), out); /* "ssh-ed25519 AAAA..." */
	cr_assert_eq(run(out, sizeof(out),
			 "rm -f '%s/k' '%s/k.pub' && ssh-keygen -q -t ed25519 -N '' -f '%s/k' && cut -d' ' -f1,2 '%s/k.pub'",
			 dir, dir, dir, dir),
		     0);
	snprintf(other, sizeof(other), "%.*s", (int)strcspn(out, "\n"), out);

	snprintf(kh, sizeof(kh), "%s/known_hosts", dir);
	const char *port = env("SV_SSHD_PORT");
	if (c->kind != KH_MISSING) {
		cr_assert_not_null(f = fopen(kh, "w"));
		fprintf(f, "# comment line\n\nexample.org %s\n", other);
		switch (c->kind) {
		case KH_PLAIN:
		case KH_HASHED:
			fprintf(f, "[127.0.0.1]:%s %s\n", port, key);
			break;
		case KH_PATTERN:
			fprintf(f, "[127.0.0.?]:%s,!elsewhere %s\n", port, key);
			break;
		case KH_WRONG_KEY:
			fprintf(f, "[127.0.0.1]:%s %s\n", port, other);
			break;
		case KH_OTHER_HOST:
			fprintf(f, "[127.0.0.2]:%s %s\n", port, key);
			break;
		case KH_PORT_22:
			fprintf(f, "127.0.0.1 %s\n", key);
			break;
		case KH_REVOKED:
			fprintf(f, "[127.0.0.1]:%s %s\n@revoked * %s\n", port, key, key);
			break;
		default:
			break;
		}
		fclose(f);
	}
	if (c->kind == KH_HASHED) {
		cr_assert_eq(run(out, sizeof(out), "ssh-keygen -H -f '%s' 2>&1 && grep -c '^|1|' '%s'", kh, kh), 0, "%s", out);
		cr_assert_eq(run(out, sizeof(out), "grep -c 127.0.0.1 '%s'", kh), 1, "names are hashed: %s", out);
	}
	r.o.known_hosts = kh;

	int rc = sv_ledger_push(L, r.url, &r.o);
	if (!c->refusal[0]) {
		cr_assert_eq(rc, 0, "%s", sv_error_last());
		char a[41];
		tip(r.path, "main", a);
		cr_assert_str_eq(a, h);
		return;
	}
	cr_assert_eq(rc, SV_EIO, "rc %d: %s", rc, sv_error_last());
	cr_assert(strstr(sv_error_last(), c->refusal), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "SHA256:") || c->kind == KH_MISSING, "the message shows the key: %s",
		  sv_error_last());
	cr_assert_neq(run(out, sizeof(out), "git -C '%s' rev-parse -q --verify refs/heads/main", r.path), 0,
		      "nothing reached the server");
}
