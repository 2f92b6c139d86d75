/*
 * cli/cmd_mirror.c -- salvage mirror add|list|push|verify|pull: offsite
 * copies of the archive. The work is in storage/mirror.c; this file opens
 * the archive's parts for it, prints what it reports (summaries and problems
 * to stdout, failures and progress to stderr) and picks the exit status.
 */
#include "cli.h"

#include "../common/error.h"
#include "../queue/queue.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Options that take a value, and where add keeps them. */
static const struct {
	const char *flag;
	size_t off;
} remote_flags[] = {
	{"--objects", offsetof(sv_mirror_remote, objects)},
	{"--ledger", offsetof(sv_mirror_remote, ledger)},
	{"--s3-endpoint", offsetof(sv_mirror_remote, s3_endpoint)},
	{"--s3-region", offsetof(sv_mirror_remote, s3_region)},
	{"--ssh-key", offsetof(sv_mirror_remote, ssh_key)},
	{"--known-hosts", offsetof(sv_mirror_remote, known_hosts)},
};

int sv_mirror_parse_remote_flag(sv_mirror_remote *r, int argc, char **argv, int *i, const sv_command *cmd, int *rc)
{
	const char *arg = argv[*i];
	*rc = 0;
	if (strcmp(arg, "--allow-http") == 0) {
		r->allow_http = 1;
		return 1;
	}
	for (size_t f = 0; f < sizeof(remote_flags) / sizeof(remote_flags[0]); f++) {
		size_t n = strlen(remote_flags[f].flag);
		const char *value;
		if (strncmp(arg, remote_flags[f].flag, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
			continue;
		if (arg[n] == '=') {
			value = arg + n + 1;
		} else {
			if (*i + 1 >= argc) {
				*rc = sv_cli_usage(cmd, "%s needs a value", remote_flags[f].flag);
				return 1;
			}
			value = argv[++*i];
		}
		char **slot = (char **)((char *)r + remote_flags[f].off);
		if (*slot) {
			*rc = sv_cli_usage(cmd, "%s given twice", remote_flags[f].flag);
			return 1;
		}
		if (!(*slot = strdup(value))) {
			*rc = sv_cli_error(sv_error_set(SV_EIO, "out of memory"));
			return 1;
		}
		return 1;
	}
	return 0;
}

/* Upload failures named one by one before the rest are only counted. */
#define SHOWN_FAILURES 10

/* ---------------------------------------------------------------- the engine's side of the archive */

typedef struct {
	sv_mirror_local l;
	char *state_dir, *tmp_dir;
} local_parts;

static void local_close(local_parts *p)
{
	sv_objects_free(p->l.objects);
	sv_ledger_free(p->l.ledger);
	free(p->state_dir);
	free(p->tmp_dir);
	memset(p, 0, sizeof(*p));
}

static int local_open(const sv_archive *a, local_parts *p)
{
	int rc;
	memset(p, 0, sizeof(*p));
	p->state_dir = sv_archive_path(a, "mirrors");
	p->tmp_dir = sv_archive_path(a, "tmp");
	if (!p->state_dir || !p->tmp_dir)
		rc = sv_error_set(SV_EIO, "out of memory");
	else if ((rc = sv_archive_ledger(a, &p->l.ledger)) == 0)
		rc = sv_archive_objects(a, &p->l.objects);
	p->l.state_dir = p->state_dir;
	p->l.tmp_dir = p->tmp_dir;
	p->l.multipart_threshold = a->multipart_threshold;
	p->l.multipart_part_size = a->multipart_part_size;
	if (rc)
		local_close(p);
	return rc;
}

/* Remote NAME of salvage.conf, with both of its URLs. */
static int load_remote(const sv_archive *a, const char *name, sv_mirror_remote **r)
{
	int rc = sv_archive_remote_get(a, name, r);
	if (rc == SV_ENOTFOUND)
		return sv_error_set(SV_EINVAL, "no mirror named '%s' (see 'salvage mirror list')", name);
	if (rc == 0 && (!(*r)->objects || !(*r)->ledger)) {
		rc = sv_error_set(SV_EINVAL, "mirror '%s' needs both remote.%s.objects and remote.%s.ledger in %s", name,
				  name, name, a->conf_path);
		sv_mirror_remote_free(*r);
		*r = NULL;
	}
	return rc;
}

/* ---------------------------------------------------------------- what the engine reports */

typedef struct {
	const char *verb; /* "push", "verify", "pull" */
	const char *name;
	int progress;
	sv_cli_meter meter;
	uint64_t failed;
	/* pull: the capture index the new captures go to */
	sv_index *ix;
} ui;

static double mb(uint64_t bytes)
{
	return (double)bytes / 1e6;
}

static const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static void on_progress(void *ctx, const sv_mirror_progress *p)
{
	ui *u = ctx;
	if (!sv_cli_meter_due(&u->meter))
		return;
	if (!strcmp(u->verb, "verify")) {
		fprintf(stderr, "\r\033[Kverify %s: re-hashed %llu of %llu objects", u->name, (unsigned long long)p->done,
			(unsigned long long)p->total);
		return;
	}
	double t = sv_cli_meter_seconds(&u->meter);
	fprintf(stderr, "\r\033[K%s %s: %llu of %llu objects, %.1f MB, %.1f MB/s", u->verb, u->name,
		(unsigned long long)p->done, (unsigned long long)p->total, mb(p->bytes), t > 0 ? mb(p->bytes) / t : 0.0);
}

static void on_failed(void *ctx, const char *name, const char *why)
{
	ui *u = ctx;
	if (u->failed++ >= SHOWN_FAILURES)
		return;
	if (u->progress)
		sv_cli_progress_clear();
	fprintf(stderr, "salvage: cannot upload %s: ", name);
	sv_cli_put_text(stderr, why, 0);
	fputc('\n', stderr);
}

static void on_problem(void *ctx, const char *text)
{
	ui *u = ctx;
	if (u->progress)
		sv_cli_progress_clear();
	sv_cli_put_text(stdout, text, 0);
	putchar('\n');
	fflush(stdout);
}

static void on_warning(void *ctx, const char *text)
{
	(void)ctx;
	fputs("salvage: ", stderr);
	sv_cli_put_text(stderr, text, 0);
	fputc('\n', stderr);
}

typedef struct {
	sv_mirror_seen_fn seen;
	void *set;
} seen_walk;

static int seen_row(void *ctx, const sv_index_row *row)
{
	seen_walk *w = ctx;
	return w->seen(w->set, row->url, row->ts, row->status, row->sha256);
}

/* pull: the captures the archive has, so that only new ones are added. */
static int on_known(void *ctx, sv_mirror_seen_fn seen, void *set)
{
	ui *u = ctx;
	seen_walk w = {seen, set};
	return sv_index_list(u->ix, "", seen_row, &w);
}

static int on_capture(void *ctx, const sv_mirror_capture *c)
{
	ui *u = ctx;
	return sv_index_add(u->ix, &c->record, 1, NULL, NULL);
}

static void ui_start(ui *u, sv_mirror_callbacks *cb, const char *verb, const char *name)
{
	memset(u, 0, sizeof(*u));
	u->verb = verb;
	u->name = name;
	u->progress = sv_cli_progress_enabled();
	sv_cli_meter_start(&u->meter);
	memset(cb, 0, sizeof(*cb));
	cb->progress = u->progress ? on_progress : NULL;
	cb->failed = on_failed;
	cb->problem = on_problem;
	cb->warning = on_warning;
	cb->ctx = u;
}

/* ---------------------------------------------------------------- the commands */

static int add(const sv_command *cmd, int argc, char **argv)
{
	sv_mirror_remote *r = calloc(1, sizeof(*r));
	sv_archive *a = NULL;
	int rc = 0;

	if (!r)
		return sv_cli_error(sv_error_set(SV_EIO, "out of memory"));
	for (int i = 2; i < argc && rc == 0; i++) {
		if (sv_mirror_parse_remote_flag(r, argc, argv, &i, cmd, &rc))
			continue;
		if (argv[i][0] == '-')
			rc = sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (r->name)
			rc = sv_cli_usage(cmd, "mirror add takes one name");
		else if (!(r->name = strdup(argv[i])))
			rc = sv_cli_error(sv_error_set(SV_EIO, "out of memory"));
	}
	if (rc == 0 && !r->name)
		rc = sv_cli_usage(cmd, "mirror add needs a name");
	if (rc == 0 && (!r->objects || !r->ledger))
		rc = sv_cli_usage(cmd, "mirror add needs --objects URL and --ledger URL");
	if (rc == 0 && (rc = sv_mirror_check_remote(r)))
		rc = sv_cli_error(rc);
	if (rc == 0 && (rc = sv_cli_archive(&a)) == 0 && (rc = sv_archive_remote_add(a, r)))
		rc = sv_cli_error(rc);
	if (rc == 0) {
		char shown[1024];
		sv_ledger_url_redact(r->ledger, shown, sizeof(shown));
		printf("added mirror '%s': objects %s, ledger %s\n", r->name, r->objects, shown);
	}
	sv_archive_free(a);
	sv_mirror_remote_free(r);
	return rc;
}

static int list(const sv_command *cmd, int argc)
{
	sv_archive *a = NULL;
	char **names = NULL;
	size_t n = 0;
	int rc;
	if (argc > 2)
		return sv_cli_usage(cmd, "mirror list takes no arguments");
	if ((rc = sv_cli_archive(&a)))
		return rc;
	if ((rc = sv_archive_remote_names(a, &names, &n)))
		rc = sv_cli_error(rc);
	for (size_t i = 0; i < n; i++) {
		sv_mirror_remote *r = NULL;
		if (rc == 0 && sv_archive_remote_get(a, names[i], &r) == 0) {
			char objects[1024], ledger[1024];
			/* A password typed into the file by hand is not shown either. */
			sv_ledger_url_redact(r->objects ? r->objects : "-", objects, sizeof(objects));
			sv_ledger_url_redact(r->ledger ? r->ledger : "-", ledger, sizeof(ledger));
			printf("%s\t%s\t%s\n", r->name, objects, ledger);
		}
		sv_mirror_remote_free(r);
		free(names[i]);
	}
	free(names);
	sv_archive_free(a);
	return rc;
}

/* The one NAME of push, verify (and their options through opt). */
static int one_name(const sv_command *cmd, int argc, char **argv, const char **name,
		    int (*opt)(void *ctx, int argc, char **argv, int *i), void *ctx)
{
	*name = NULL;
	for (int i = 2; i < argc; i++) {
		int rc;
		if (argv[i][0] == '-') {
			if ((rc = opt ? opt(ctx, argc, argv, &i) : -1) < 0)
				return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
			if (rc > 0)
				return rc;
		} else if (*name) {
			return sv_cli_usage(cmd, "mirror %s takes one name", argv[1]);
		} else {
			*name = argv[i];
		}
	}
	if (!*name)
		return sv_cli_usage(cmd, "mirror %s needs the mirror's name", argv[1]);
	return 0;
}

static int push_opt(void *ctx, int argc, char **argv, int *i)
{
	sv_mirror_push_options *o = ctx;
	(void)argc;
	if (strcmp(argv[*i], "--recheck") == 0) {
		o->recheck = 1;
		return 0;
	}
	return -1;
}

static const char *ledger_state(sv_mirror_ledger_state s)
{
	switch (s) {
	case SV_MIRROR_LEDGER_PUSHED:
		return "ledger pushed";
	case SV_MIRROR_LEDGER_UP_TO_DATE:
		return "ledger up to date";
	case SV_MIRROR_LEDGER_EMPTY:
		return "ledger empty";
	default:
		return "ledger not pushed";
	}
}

static int push(const sv_command *cmd, int argc, char **argv)
{
	sv_mirror_push_options o = SV_MIRROR_PUSH_OPTIONS_INIT;
	sv_mirror_push_result res;
	sv_mirror_remote *r = NULL;
	sv_archive *a = NULL;
	local_parts lp = {0};
	const char *name;
	ui u;
	int rc;
	if ((rc = one_name(cmd, argc, argv, &name, push_opt, &o)) || (rc = sv_cli_archive(&a)))
		return rc;
	if ((rc = load_remote(a, name, &r)) || (rc = local_open(a, &lp))) {
		rc = sv_cli_error(rc);
		goto done;
	}
	ui_start(&u, &o.cb, "push", name);
	rc = sv_mirror_push(&lp.l, r, &o, &res);
	if (u.progress)
		sv_cli_progress_clear();
	if (res.finished) {
		printf("mirror %s: %llu %s uploaded (%.1f MB), %llu already there", name, (unsigned long long)res.uploaded,
		       plural(res.uploaded, "object", "objects"), mb(res.bytes), (unsigned long long)res.already);
		if (res.failed)
			printf(", %llu failed", (unsigned long long)res.failed);
		if (res.stopped)
			printf(", %llu not tried", (unsigned long long)res.not_tried);
		if (res.branches)
			printf("; %s (%zu %s)\n", ledger_state(res.ledger), res.branches,
			       plural(res.branches, "branch", "branches"));
		else
			printf("; %s\n", ledger_state(res.ledger));
		fflush(stdout);
	}
	if (rc) {
		rc = sv_cli_error(rc);
	} else if (res.failed) {
		if (res.failed > SHOWN_FAILURES)
			fprintf(stderr, "salvage: ... and %llu more failed uploads\n",
				(unsigned long long)(res.failed - SHOWN_FAILURES));
		fprintf(stderr, "salvage: the ledger was not pushed: %llu %s failed; push again to retry them\n",
			(unsigned long long)res.failed, plural(res.failed, "upload", "uploads"));
		rc = res.first_failure == SV_ENOSPC ? 3 : 1;
	}
done:
	local_close(&lp);
	sv_mirror_remote_free(r);
	sv_archive_free(a);
	return rc;
}

typedef struct {
	const sv_command *cmd;
	int deep;
	double sample;
} verify_opts;

static int verify_opt(void *ctx, int argc, char **argv, int *i)
{
	verify_opts *o = ctx;
	const char *v = NULL;
	if (strcmp(argv[*i], "--deep") == 0) {
		o->deep = 1;
		return 0;
	}
	if (strncmp(argv[*i], "--sample=", 9) == 0)
		v = argv[*i] + 9;
	else if (strcmp(argv[*i], "--sample") == 0 && *i + 1 < argc)
		v = argv[++*i];
	else
		return -1;
	char *end;
	errno = 0;
	o->sample = strtod(v, &end);
	if (*end == '%')
		end++;
	if (errno || end == v || *end || !(o->sample > 0 && o->sample <= 100))
		return sv_cli_usage(o->cmd, "--sample takes a percentage above 0 and up to 100, such as 5%%");
	return 0;
}

static int verify(const sv_command *cmd, int argc, char **argv)
{
	verify_opts o = {cmd, 0, 0};
	sv_archive *a = NULL;
	const char *name;
	int rc;
	if ((rc = one_name(cmd, argc, argv, &name, verify_opt, &o)))
		return rc;
	if (o.deep && o.sample > 0)
		return sv_cli_usage(cmd, "--deep and --sample do not go together (--deep re-hashes everything)");
	if ((rc = sv_cli_archive(&a)))
		return rc;
	rc = sv_cli_mirror_verify(a, name, o.deep, o.sample);
	sv_archive_free(a);
	return rc;
}

int sv_cli_mirror_verify(const sv_archive *a, const char *name, int deep, double sample)
{
	sv_mirror_verify_options o = SV_MIRROR_VERIFY_OPTIONS_INIT;
	sv_mirror_verify_result res;
	sv_mirror_remote *r = NULL;
	local_parts lp = {0};
	ui u;
	int rc;

	if ((rc = load_remote(a, name, &r)) || (rc = local_open(a, &lp))) {
		rc = sv_cli_error(rc);
		goto done;
	}
	ui_start(&u, &o.cb, "verify", name);
	o.deep = deep;
	o.sample = sample;
	rc = sv_mirror_verify(&lp.l, r, &o, &res);
	if (u.progress)
		sv_cli_progress_clear();
	if (rc) {
		rc = sv_cli_error(rc);
		goto done;
	}
	printf("verified mirror %s: %zu %s named by %llu %s (sizes), %zu re-hashed, %zu ledger %s: %s\n", name,
	       res.objects, plural(res.objects, "object", "objects"), (unsigned long long)res.records,
	       plural(res.records, "record", "records"), res.rehashed, res.branches,
	       plural(res.branches, "branch", "branches"), res.problems ? "PROBLEMS FOUND" : "all sound");
	if (res.problems)
		printf("%llu %s\n", (unsigned long long)res.problems, plural(res.problems, "problem", "problems"));
	fflush(stdout);
	rc = res.problems ? 1 : 0;
done:
	local_close(&lp);
	sv_mirror_remote_free(r);
	return rc;
}

int sv_cli_mirror_pull(const sv_archive *a, const sv_mirror_remote *r)
{
	sv_mirror_pull_options o = SV_MIRROR_PULL_OPTIONS_INIT;
	sv_mirror_pull_result res;
	local_parts lp = {0};
	ui u;
	int rc;

	if ((rc = local_open(a, &lp)))
		return sv_cli_error(rc);
	ui_start(&u, &o.cb, "pull", r->name);
	/* Opened (and built, if it never was) before the pull fetches the ledger. */
	if ((rc = sv_archive_index(a, &u.ix))) {
		local_close(&lp);
		return sv_cli_error(rc);
	}
	o.cb.known = on_known;
	o.cb.capture = on_capture;
	rc = sv_mirror_pull(&lp.l, r, &o, &res);
	if (u.progress)
		sv_cli_progress_clear();
	if (rc) {
		rc = sv_cli_error(rc);
		goto done;
	}
	printf("pulled from %s: ledger fetched, %zu %s downloaded (%.1f MB), %zu already here, %llu %s added", r->name,
	       res.downloaded, plural(res.downloaded, "object", "objects"), mb(res.bytes), res.already,
	       (unsigned long long)res.added, plural(res.added, "capture", "captures"));
	if (res.problems)
		printf("; %llu %s\n", (unsigned long long)res.problems, plural(res.problems, "problem", "problems"));
	else
		putchar('\n');
	fflush(stdout);
	rc = res.problems ? 1 : 0;
done:
	sv_index_close(u.ix);
	local_close(&lp);
	return rc;
}

/* 1 if dir holds salvage.conf. */
static int is_archive(const char *dir)
{
	char path[4096];
	struct stat st;
	snprintf(path, sizeof(path), "%s/salvage.conf", dir);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * pull NAME [DIR]: NAME is read from this archive's salvage.conf (or DIR's);
 * DIR, when given, is the archive brought up to date, made first if it is
 * missing or empty (and then given the mirror under the same name).
 */
static int pull(const sv_command *cmd, int argc, char **argv)
{
	sv_archive *here = NULL, *target = NULL;
	sv_mirror_remote *r = NULL;
	const char *name = NULL, *dir = NULL;
	int rc = 0, existed = 0, fresh = 0;

	for (int i = 2; i < argc; i++) {
		if (argv[i][0] == '-')
			return sv_cli_usage(cmd, "unknown option '%s'", argv[i]);
		if (!name)
			name = argv[i];
		else if (!dir)
			dir = argv[i];
		else
			return sv_cli_usage(cmd, "mirror pull takes a name and at most one folder");
	}
	if (!name)
		return sv_cli_usage(cmd, "mirror pull needs the mirror's name");

	if (sv_archive_find(&here) == 0 && sv_archive_remote_get(here, name, &r) == 0) {
		/* the mirror as this archive knows it */
	} else if (dir && is_archive(dir)) {
		if ((rc = sv_archive_open(&target, dir)) || (rc = sv_archive_remote_get(target, name, &r)))
			goto fail;
	} else {
		rc = here ? sv_error_set(SV_EINVAL, "no mirror named '%s' (see 'salvage mirror list')", name)
			  : sv_archive_find(&here);
		goto fail;
	}
	if (!dir) {
		target = here;
		here = NULL;
	} else if (!target) {
		if ((rc = sv_archive_init(dir, &existed)) || (rc = sv_archive_open(&target, dir)))
			goto fail;
		fresh = !existed;
		if (!fresh) {
			sv_mirror_remote *mine = NULL;
			if (sv_archive_remote_get(target, name, &mine) == SV_ENOTFOUND)
				fresh = 1; /* an archive without this mirror learns it */
			sv_mirror_remote_free(mine);
		}
		if (fresh && (rc = sv_archive_remote_add(target, r)))
			goto fail;
	}
	rc = sv_cli_mirror_pull(target, r);
	goto done;
fail:
	rc = sv_cli_error(rc);
done:
	sv_mirror_remote_free(r);
	sv_archive_free(here);
	sv_archive_free(target);
	return rc;
}

static int run(const sv_command *cmd, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "list"))
		return list(cmd, argc < 2 ? 2 : argc);
	if (!strcmp(argv[1], "add"))
		return add(cmd, argc, argv);
	if (!strcmp(argv[1], "push"))
		return push(cmd, argc, argv);
	if (!strcmp(argv[1], "verify"))
		return verify(cmd, argc, argv);
	if (!strcmp(argv[1], "pull"))
		return pull(cmd, argc, argv);
	return sv_cli_usage(cmd, "unknown mirror command '%s'", argv[1]);
}

const sv_command sv_cmd_mirror = {
	"mirror", run, "copy the archive offsite (add, push, verify, pull, list)",
	"usage: salvage mirror add NAME --objects URL --ledger URL [--s3-endpoint URL]\n"
	"                          [--s3-region REGION] [--allow-http] [--ssh-key FILE] [--known-hosts FILE]\n"
	"       salvage mirror push [--recheck] NAME\n"
	"       salvage mirror verify [--deep | --sample N%] NAME\n"
	"       salvage mirror pull NAME [DIR]\n"
	"       salvage mirror list\n"
	"\n"
	"A mirror keeps the objects at <objects URL>/sha256/ab/<sha256>.zst (the files\n"
	"of objects/, as they are) and the ledger in a git repository.\n"
	"\n"
	"  add     saves a mirror in salvage.conf as [remote \"NAME\"]. Objects URLs:\n"
	"          file:///absolute/path, sftp://user@host[:port]/path, s3://bucket/prefix\n"
	"          (with --s3-endpoint, e.g. https://s3.eu-west-1.amazonaws.com; an http\n"
	"          endpoint is refused unless --allow-http, which saves\n"
	"          remote.NAME.allowHttp = true: signatures and tokens go in clear). Ledger:\n"
	"          a path, file:///path, ssh://user@host[:port]/path (an existing bare\n"
	"          repository) or https://. No password is ever saved: S3 keys come from\n"
	"          AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); ssh\n"
	"          uses --ssh-key or the agent, and checks host keys against\n"
	"          --known-hosts (default ~/.ssh/known_hosts).\n"
	"  push    uploads the objects the mirror lacks, then pushes the ledger as it\n"
	"          was when the push began: never a ledger naming objects not yet\n"
	"          there. What the mirror holds is remembered in mirrors/NAME.have, so\n"
	"          a push with nothing new sends nothing; an interrupted push just\n"
	"          continues. --recheck lists the mirror instead of trusting that.\n"
	"          S3 objects from mirror.multipartThreshold (64 MiB) go up as multipart\n"
	"          uploads (parts of mirror.multipartPartSize, 16 MiB, in parallel); one\n"
	"          cut short resumes from its last stored part (mirrors/NAME.uploads).\n"
	"          Exit 1 if uploads failed (the ledger is then not pushed).\n"
	"  verify  checks that every object named by the ledger is on the mirror with\n"
	"          the right size, and that the mirror's ledger has every branch.\n"
	"          --deep downloads and re-hashes every object; --sample N% a random\n"
	"          N% of them. Each problem is one line; exit 1 if there are any.\n"
	"  pull    fetches the ledger, downloads (and re-hashes) the objects this\n"
	"          archive lacks, and adds the new captures (salvage ls). With DIR,\n"
	"          brings the archive DIR up to date instead, making it if needed. A\n"
	"          download of an object from mirror.multipartThreshold on that was cut\n"
	"          short is kept (tmp/) and resumed with a Range request.\n"
	"  list    one line per mirror: name, objects URL, ledger URL.\n",
};
