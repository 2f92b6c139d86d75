/*
 * tests/unit/test_transport.c -- the mirror transports against real servers on
 * loopback: a folder, OpenSSH (tests/servers/sshd.sh) and an S3 server that
 * checks SigV4 signatures (tests/servers/s3.sh). The servers start once, in
 * the runner process, and every test gets a folder or prefix of its own, so
 * tests can run in parallel. What the remote holds is checked on the server's
 * own disk as well as through the transport.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/transport.h"
#include "../../storage/transport_backend.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

enum kind { K_FILE, K_SFTP, K_S3 };

/* ---- the servers, started once for the whole binary ---- */

static char servers_dir[4096];


/* Runs `bash tests/servers/NAME.sh start|stop DIR/NAME`; 0 if it worked. */
static int server_script(const char *root, const char *name, const char *verb)
{
	char cmd[13000];
	snprintf(cmd, sizeof(cmd), "bash '%s/tests/servers/%s.sh' %s '%s/%s' </dev/null >'%s/%s.out' 2>&1", root, name,
		 verb, servers_dir, name, servers_dir, name);
	return system(cmd);
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	char root[4096], pid[32], err[8400];
	(void)set;
	const char *base = getenv("SALVAGE_TEST_TMP");
	snprintf(servers_dir, sizeof(servers_dir), "%s/salvage-servers.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(servers_dir)) {
		setenv("SV_TEST_SERVERS_ERROR", "mkdtemp failed", 1);
		return;
	}
	th_repo_root(root, sizeof(root));
	/* The servers stop by themselves if this process dies without stopping them. */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("SV_SERVER_OWNER_PID", pid, 1);
	setenv("SV_TEST_SERVERS", servers_dir, 1);
	if (server_script(root, "sshd", "start") != 0) {
		snprintf(err, sizeof(err), "sshd.sh start failed; see %s/sshd.out", servers_dir);
		setenv("SV_TEST_SERVERS_ERROR", err, 1);
	}
	if (server_script(root, "s3", "start") != 0) {
		const char *before = getenv("SV_TEST_SERVERS_ERROR");
		snprintf(err, sizeof(err), "%s%ss3.sh start failed; see %s/s3.out", before ? before : "",
			 before ? "; " : "", servers_dir);
		setenv("SV_TEST_SERVERS_ERROR", err, 1);
	}
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	char root[4096], cmd[4200];
	(void)stats;
	if (!servers_dir[0])
		return;
	th_repo_root(root, sizeof(root));
	server_script(root, "sshd", "stop");
	server_script(root, "s3", "stop");
	/* After a failed start the folder stays, with the scripts' output in it. */
	if (getenv("SV_TEST_SERVERS_ERROR"))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", servers_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", servers_dir);
}


static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set by the server scripts", name);
	return v;
}

/* ---- one remote location per test ---- */

typedef struct {
	enum kind kind;
	char url[4400];
	char disk[4400];  /* where the server keeps the files: folder, or the s3 bucket's folder */
	char local[4096]; /* a local scratch folder */
	char known_hosts[4200];
	sv_transport_options o;
	sv_transport *t;
} remote;

static remote R;

static void servers_ready(void)
{
	const char *err = getenv("SV_TEST_SERVERS_ERROR");
	const char *dir = getenv("SV_TEST_SERVERS");
	char path[4200];
	cr_assert(!err, "%s", err ? err : "");
	cr_assert_not_null(dir, "the servers were not started");
	snprintf(path, sizeof(path), "%s/sshd/sshd.env", dir);
	th_load_env(path);
	snprintf(path, sizeof(path), "%s/s3/s3.env", dir);
	th_load_env(path);
}

/* A fresh, empty location of the given kind; R.o holds its options. */
static void remote_make(remote *r, enum kind kind)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	th_tempdir(r->local, sizeof(r->local));
	sv_transport_options init = SV_TRANSPORT_OPTIONS_INIT;
	r->o = init;
	r->o.connect_timeout_s = 10;
	r->o.stall_timeout_s = 20;
	switch (kind) {
	case K_FILE:
		snprintf(r->disk, sizeof(r->disk), "%s/mirror", r->local);
		cr_assert_eq(mkdir(r->disk, 0755), 0);
		snprintf(r->url, sizeof(r->url), "file://%s", r->disk);
		break;
	case K_SFTP: {
		snprintf(r->disk, sizeof(r->disk), "%s/t.XXXXXX", env("SV_SSHD_ROOT"));
		cr_assert_not_null(mkdtemp(r->disk));
		/* A folder below it that does not exist yet: puts must make it. */
		strcat(r->disk, "/mirror");
		snprintf(r->url, sizeof(r->url), "sftp://%s@127.0.0.1:%s%s", env("SV_SSHD_USER"), env("SV_SSHD_PORT"),
			 r->disk);
		snprintf(r->known_hosts, sizeof(r->known_hosts), "%s", env("SV_SSHD_KNOWN_HOSTS"));
		r->o.ssh_key = env("SV_SSHD_KEY");
		r->o.ssh_known_hosts = r->known_hosts;
		break;
	}
	case K_S3: {
		char prefix[64];
		unsigned rnd;
		cr_assert_eq(getentropy(&rnd, sizeof(rnd)), 0);
		snprintf(prefix, sizeof(prefix), "t-%ld-%08x/mirror", (long)getpid(), rnd);
		snprintf(r->url, sizeof(r->url), "s3://%s/%s", env("SV_S3_BUCKET"), prefix);
		snprintf(r->disk, sizeof(r->disk), "%s/%s/%s", env("SV_S3_DATA"), env("SV_S3_BUCKET"), prefix);
		r->o.s3_endpoint = env("SV_S3_ENDPOINT");
		r->o.s3_region = env("SV_S3_REGION");
		r->o.access_key = env("AWS_ACCESS_KEY_ID");
		r->o.secret_key = env("AWS_SECRET_ACCESS_KEY");
		r->o.s3_allow_http = 1; /* the test server is plain http on loopback */
		break;
	}
	}
}

static void remote_open(remote *r)
{
	cr_assert_eq(sv_transport_open(&r->t, r->url, &r->o), 0, "%s: %s", r->url, sv_error_last());
	cr_assert_not_null(r->t);
}

static void setup(void)
{
	servers_ready();
}

static void teardown(void)
{
	sv_transport_free(R.t);
	R.t = NULL;
	if (R.local[0])
		th_rmrf(R.local);
}

TestSuite(transport, .init = setup, .fini = teardown, .timeout = 300);

/* ---- helpers ---- */

typedef struct {
	const char *name;
	size_t size;
	int text;
} file_case;

/* Names as the mirror uses them, an empty file and a multi-MB one among them. */
static const file_case files[] = {
	{"objects/sha256/00/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.zst", 0, 0},
	{"objects/sha256/ab/ab01.zst", 100, 1},
	{"objects/sha256/ab/ab02.zst", (5u << 20) + 123, 0},
	{"objects/sha256/cd/cd-03_x.zst", 300001, 0},
	{"top.txt", 11, 1},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static unsigned char *content[NFILES];
static char local_paths[NFILES][4200];

/* Writes the local copies of files[] (content depends on seed). */
static void make_files(const remote *r, uint64_t seed)
{
	for (size_t i = 0; i < NFILES; i++) {
		uint64_t s = seed + i;
		FILE *f;
		free(content[i]);
		content[i] = malloc(files[i].size + 1);
		th_fill(content[i], files[i].size, &s, files[i].text);
		snprintf(local_paths[i], sizeof(local_paths[i]), "%s/local-%zu", r->local, i);
		f = fopen(local_paths[i], "wb");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(content[i], 1, files[i].size, f), files[i].size);
		cr_assert_eq(fclose(f), 0);
	}
}

typedef struct {
	int calls[NFILES];
	int codes[NFILES];
	char msgs[NFILES][1024];
} done_log;

static void on_done(void *ctx, size_t i, int code, const char *message)
{
	done_log *d = ctx;
	cr_assert_lt(i, NFILES);
	d->calls[i]++;
	d->codes[i] = code;
	snprintf(d->msgs[i], sizeof(d->msgs[i]), "%s", message ? message : "");
	cr_assert_eq(code == 0, message == NULL, "a message goes with a failure, and only then");
}

static void put_all(remote *r)
{
	const char *locals[NFILES], *names[NFILES];
	done_log d;
	memset(&d, 0, sizeof(d));
	for (size_t i = 0; i < NFILES; i++) {
		locals[i] = local_paths[i];
		names[i] = files[i].name;
	}
	cr_assert_eq(sv_transport_put_many(r->t, locals, names, NFILES, on_done, &d), 0, "%s", sv_error_last());
	for (size_t i = 0; i < NFILES; i++) {
		cr_assert_eq(d.calls[i], 1, "done called %d times for %s", d.calls[i], files[i].name);
		cr_assert_eq(d.codes[i], 0, "%s: %s", files[i].name, d.msgs[i]);
	}
}

/* Downloads name and compares it with want. */
static void expect_content(remote *r, const char *name, const unsigned char *want, size_t len)
{
	char path[4300];
	struct stat st;
	unsigned char *got;
	int fd;
	snprintf(path, sizeof(path), "%s/download", r->local);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(sv_transport_get(r->t, name, fd, -1), 0, "get %s: %s", name, sv_error_last());
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert_eq((size_t)st.st_size, len, "%s: got %lld bytes, want %zu", name, (long long)st.st_size, len);
	got = malloc(len + 1);
	cr_assert_eq(pread(fd, got, len, 0), (ssize_t)len);
	cr_assert(len == 0 || memcmp(got, want, len) == 0, "%s: content differs", name);
	free(got);
	close(fd);
}

typedef struct {
	int n;
	char names[2048][256];
	int64_t sizes[2048];
} listing;

static int on_list(void *ctx, const char *name, int64_t size)
{
	listing *l = ctx;
	cr_assert_lt(l->n, 2048);
	cr_assert_lt(strlen(name), sizeof(l->names[0]));
	strcpy(l->names[l->n], name);
	l->sizes[l->n++] = size;
	return 0;
}

static int64_t listed_size(const listing *l, const char *name)
{
	int64_t size = -1;
	int seen = 0;
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0) {
			size = l->sizes[i];
			seen++;
		}
	cr_assert_leq(seen, 1, "%s listed %d times", name, seen);
	return size;
}

/* Files on the server's disk whose name holds "svtmp": temp files (s3rver keeps a key per file). */
static int temps_on_disk(const remote *r)
{
	char cmd[4600], line[64];
	snprintf(cmd, sizeof(cmd), "find '%s' -name '*svtmp*' 2>/dev/null | wc -l", r->disk);
	th_run_line(cmd, line, sizeof(line));
	return atoi(line);
}

/* The whole check after a push: stat, list, get, nothing else there. */
static void expect_all_files(remote *r)
{
	listing *l = calloc(1, sizeof(*l));
	for (size_t i = 0; i < NFILES; i++) {
		int64_t size = -2;
		cr_assert_eq(sv_transport_stat(r->t, files[i].name, &size), 0, "%s", sv_error_last());
		cr_assert_eq(size, (int64_t)files[i].size, "stat %s: %lld", files[i].name, (long long)size);
		expect_content(r, files[i].name, content[i], files[i].size);
	}
	cr_assert_eq(sv_transport_list(r->t, "", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(l->n, (int)NFILES, "listed %d files, want %zu", l->n, NFILES);
	for (size_t i = 0; i < NFILES; i++)
		cr_assert_eq(listed_size(l, files[i].name), (int64_t)files[i].size, "%s", files[i].name);
	/* A folder lists only what is under it. */
	memset(l, 0, sizeof(*l));
	cr_assert_eq(sv_transport_list(r->t, "objects/sha256/ab", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(l->n, 2);
	cr_assert_eq(listed_size(l, "objects/sha256/ab/ab01.zst"), 100);
	cr_assert_eq(listed_size(l, "objects/sha256/ab/ab02.zst"), (5 << 20) + 123);
	cr_assert_eq(temps_on_disk(r), 0, "temp files left on the server");
	free(l);
}

ParameterizedTestParameters(transport, round_trip)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

ParameterizedTest(enum kind *k, transport, round_trip)
{
	remote_make(&R, *k);
	remote_open(&R);
	make_files(&R, 42);
	put_all(&R);
	expect_all_files(&R);

	/* The same push again (an interrupted push that is resumed) changes nothing. */
	put_all(&R);
	expect_all_files(&R);

	/* And so does a fresh handle on the same location. */
	sv_transport_free(R.t);
	remote_open(&R);
	expect_all_files(&R);
}

ParameterizedTestParameters(transport, missing)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

ParameterizedTest(enum kind *k, transport, missing)
{
	int64_t size = 7;
	char *data = NULL;
	size_t len = 9;
	listing *l = calloc(1, sizeof(*l));
	int fd;
	remote_make(&R, *k);
	remote_open(&R);
	/* Before anything was put: the folder itself is missing. */
	cr_assert_eq(sv_transport_stat(R.t, "objects/sha256/ab/nothing.zst", &size), 0, "%s", sv_error_last());
	cr_assert_eq(size, -1);
	cr_assert_eq(sv_transport_list(R.t, "", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_list(R.t, "objects", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(l->n, 0);

	cr_assert_eq(sv_transport_put_data(R.t, "objects/here.txt", "x", 1), 0, "%s", sv_error_last());
	size = 7;
	cr_assert_eq(sv_transport_stat(R.t, "objects/nothing.zst", &size), 0, "%s", sv_error_last());
	cr_assert_eq(size, -1);
	cr_assert_eq(sv_transport_get_data(R.t, "objects/nothing.zst", 100, &data, &len), SV_ENOTFOUND);
	cr_assert_null(data);
	cr_assert(strstr(sv_error_last(), "objects/nothing.zst"), "%s", sv_error_last());
	fd = open("/dev/null", O_WRONLY);
	cr_assert_eq(sv_transport_get(R.t, "nothing", fd, -1), SV_ENOTFOUND, "%s", sv_error_last());
	close(fd);
	cr_assert_eq(sv_transport_list(R.t, "other", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(l->n, 0);
	free(l);
}

ParameterizedTestParameters(transport, data_replace)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

/* Small files that change (markers): put_data replaces, get_data reads them back bounded. */
ParameterizedTest(enum kind *k, transport, data_replace)
{
	char *data = NULL;
	size_t len = 0;
	int64_t size;
	remote_make(&R, *k);
	remote_open(&R);
	cr_assert_eq(sv_transport_put_data(R.t, "state/pushed", "first version", 13), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_put_data(R.t, "state/pushed", "second", 6), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_get_data(R.t, "state/pushed", 1024, &data, &len), 0, "%s", sv_error_last());
	cr_assert_eq(len, 6);
	cr_assert_str_eq(data, "second");
	free(data);
	cr_assert_eq(sv_transport_stat(R.t, "state/pushed", &size), 0);
	cr_assert_eq(size, 6);
	cr_assert_eq(sv_transport_put_data(R.t, "state/empty", "", 0), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_get_data(R.t, "state/empty", 10, &data, &len), 0, "%s", sv_error_last());
	cr_assert_eq(len, 0);
	cr_assert_str_eq(data, "");
	free(data);
	/* More than the caller allows is refused, not truncated. */
	data = NULL;
	cr_assert_neq(sv_transport_get_data(R.t, "state/pushed", 5, &data, &len), 0);
	cr_assert_null(data);
	cr_assert(strstr(sv_error_last(), "larger than"), "%s", sv_error_last());
	cr_assert_eq(temps_on_disk(&R), 0);
}

ParameterizedTestParameters(transport, bad_names)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

ParameterizedTest(enum kind *k, transport, bad_names)
{
	static const char *const bad[] = {
		"", "/abs", "a//b", "a/", "../x", "a/../b", "./a", "a b", "a\nb", "a/.svtmp.1.2.3.4.b", "x?y", "%2e%2e",
	};
	int64_t size;
	remote_make(&R, *k);
	remote_open(&R);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *local = "/dev/null";
		cr_assert_eq(sv_transport_stat(R.t, bad[i], &size), SV_EINVAL, "stat '%s'", bad[i]);
		cr_assert_eq(sv_transport_put_data(R.t, bad[i], "x", 1), SV_EINVAL, "put_data '%s'", bad[i]);
		cr_assert_eq(sv_transport_put_many(R.t, &local, &bad[i], 1, NULL, NULL), SV_EINVAL, "put '%s'", bad[i]);
	}
	cr_assert_eq(sv_transport_list(R.t, "../x", on_list, NULL), SV_EINVAL);
	/* Nothing reached the server. */
	char cmd[4600], line[64];
	snprintf(cmd, sizeof(cmd), "find '%s' -type f 2>/dev/null | wc -l", R.disk);
	th_run_line(cmd, line, sizeof(line));
	cr_assert_eq(atoi(line), 0);
}

ParameterizedTestParameters(transport, clean_temps)
{
	static enum kind kinds[] = {K_FILE, K_SFTP};
	return cr_make_param_array(enum kind, kinds, 2);
}

/* An interrupted push leaves temp files: listings hide them, clean_temps removes the old ones. */
ParameterizedTest(enum kind *k, transport, clean_temps)
{
	char path[4600];
	listing *l = calloc(1, sizeof(*l));
	size_t removed = 99;
	long long now = (long long)time(NULL);
	remote_make(&R, *k);
	remote_open(&R);
	cr_assert_eq(sv_transport_put_data(R.t, "objects/sha256/ab/kept.zst", "kept", 4), 0, "%s", sv_error_last());
	snprintf(path, sizeof(path), "%s/objects/sha256/ab/.svtmp.%lld.123.4.deadbeef.x.zst", R.disk, now - 7200);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs("partial", f);
	fclose(f);
	/* One begun "now" (a minute ahead, so that the clock may tick during the test). */
	snprintf(path, sizeof(path), "%s/objects/sha256/ab/.svtmp.%lld.123.5.deadbeef.y.zst", R.disk, now + 60);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fclose(f);
	cr_assert_eq(temps_on_disk(&R), 2);

	cr_assert_eq(sv_transport_list(R.t, "", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(l->n, 1);
	cr_assert_str_eq(l->names[0], "objects/sha256/ab/kept.zst");

	/* Only the one older than an hour goes: the other may be an upload running now. */
	cr_assert_eq(sv_transport_clean_temps(R.t, "", 3600, &removed), 0, "%s", sv_error_last());
	cr_assert_eq(removed, 1);
	cr_assert_eq(temps_on_disk(&R), 1);
	cr_assert(access(path, F_OK) == 0, "the recent temp file was removed");
	cr_assert_eq(sv_transport_clean_temps(R.t, "objects", 0, &removed), 0, "%s", sv_error_last());
	cr_assert_eq(temps_on_disk(&R), 1, "a temp file begun now is spared even at age 0");
	snprintf(path, sizeof(path), "%s/objects/sha256/ab/kept.zst", R.disk);
	cr_assert(access(path, F_OK) == 0);
	free(l);
}

Test(transport, s3_has_no_temps)
{
	size_t removed = 99;
	remote_make(&R, K_S3);
	remote_open(&R);
	cr_assert_eq(sv_transport_put_data(R.t, "a/b", "x", 1), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_clean_temps(R.t, "", 0, &removed), 0, "%s", sv_error_last());
	cr_assert_eq(removed, 0);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "cannot create '%s'", path);
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

ParameterizedTestParameters(transport, many_files)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

/* More files than one S3 listing page (1000 keys) and than the transfers at once. */
ParameterizedTest(enum kind *k, transport, many_files)
{
	enum { N = 1234 };
	static char names[N][64];
	const char *locals[N], *pnames[N];
	listing *l = calloc(1, sizeof(*l));
	char path[4300];
	remote_make(&R, *k);
	R.o.transfers = 32;
	remote_open(&R);
	for (int i = 0; i < N; i++) {
		char text[16];
		snprintf(names[i], sizeof(names[i]), "objects/sha256/%02x/f%04d", i % 7, i);
		snprintf(path, sizeof(path), "%s/f%04d", R.local, i);
		snprintf(text, sizeof(text), "%d", i);
		write_text(path, text);
		locals[i] = strdup(path);
		pnames[i] = names[i];
	}
	cr_assert_eq(sv_transport_put_many(R.t, locals, pnames, N, NULL, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_list(R.t, "objects", on_list, l), 0, "%s", sv_error_last());
	cr_assert_eq(l->n, N);
	for (int i = 0; i < N; i += 97) {
		char want[16];
		snprintf(want, sizeof(want), "%d", i);
		cr_assert_eq(listed_size(l, names[i]), (int64_t)strlen(want), "%s", names[i]);
	}
	char *data;
	size_t len;
	cr_assert_eq(sv_transport_get_data(R.t, names[N - 1], 100, &data, &len), 0, "%s", sv_error_last());
	cr_assert_str_eq(data, "1233");
	free(data);
	for (int i = 0; i < N; i++)
		free((char *)locals[i]);
	free(l);
}

ParameterizedTestParameters(transport, file_batch_failures)
{
	static int transfers[] = {1, 16};
	return cr_make_param_array(int, transfers, 2);
}

typedef struct {
	int calls[64];
	int codes[64];
	char msgs[64][1024];
} batch_log;

static void on_batch_done(void *ctx, size_t i, int code, const char *message)
{
	batch_log *d = ctx;
	cr_assert_lt(i, 64);
	d->calls[i]++;
	d->codes[i] = code;
	snprintf(d->msgs[i], sizeof(d->msgs[i]), "%s", message ? message : "");
}

/*
 * A file mirror copies a batch with several threads: every file in a folder
 * that can be made arrives whole, the files of a folder that cannot be made
 * (a file holds its name) and one whose local copy is gone fail on their own,
 * each reported once, and no temp file is left.
 */
ParameterizedTest(int *transfers, transport, file_batch_failures)
{
	enum { N = 60 };
	char names[N][64], path[4300];
	const char *locals[N], *pnames[N];
	batch_log d;
	remote_make(&R, K_FILE);
	R.o.transfers = *transfers;
	remote_open(&R);
	snprintf(path, sizeof(path), "%s/sha256", R.disk);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sha256/0c", R.disk); /* the folder of every 13th file */
	write_text(path, "in the way");
	for (int i = 0; i < N; i++) {
		char text[32];
		snprintf(names[i], sizeof(names[i]), "sha256/%02x/f%02d.zst", i % 13, i);
		snprintf(path, sizeof(path), "%s/f%02d", R.local, i);
		snprintf(text, sizeof(text), "content %d", i);
		if (i != 41)
			write_text(path, text);
		locals[i] = strdup(path);
		pnames[i] = names[i];
	}
	memset(&d, 0, sizeof(d));
	cr_assert_eq(sv_transport_put_many(R.t, locals, pnames, N, on_batch_done, &d), SV_EIO);
	for (int i = 0; i < N; i++) {
		int64_t size;
		int bad = i % 13 == 12 || i == 41;
		cr_assert_eq(d.calls[i], 1, "done called %d times for %s", d.calls[i], names[i]);
		cr_assert_eq(d.codes[i] != 0, bad, "%s: code %d (%s)", names[i], d.codes[i], d.msgs[i]);
		cr_assert_eq(sv_transport_stat(R.t, names[i], &size), 0, "%s: %s", names[i], sv_error_last());
		if (bad) {
			cr_assert_eq(size, -1, "%s is there", names[i]);
			cr_assert(strstr(d.msgs[i], names[i]), "the message names the file: %s", d.msgs[i]);
			continue;
		}
		char want[32];
		snprintf(want, sizeof(want), "content %d", i);
		cr_assert_eq(size, (int64_t)strlen(want), "%s", names[i]);
		expect_content(&R, names[i], (const unsigned char *)want, strlen(want));
	}
	cr_assert_eq(temps_on_disk(&R), 0, "temp files left in the mirror");
	for (int i = 0; i < N; i++)
		free((char *)locals[i]);
}

static int stop_after_three(void *ctx, const char *name, int64_t size)
{
	int *n = ctx;
	(void)name;
	(void)size;
	return ++*n == 3 ? 42 : 0;
}

ParameterizedTestParameters(transport, list_stops)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

ParameterizedTest(enum kind *k, transport, list_stops)
{
	int n = 0;
	remote_make(&R, *k);
	remote_open(&R);
	make_files(&R, 7);
	put_all(&R);
	cr_assert_eq(sv_transport_list(R.t, "", stop_after_three, &n), 42);
	cr_assert_eq(n, 3);
}

ParameterizedTestParameters(transport, concurrent_pushes)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

/* Two pushes of the same objects at once (two machines, one mirror) both succeed. */
ParameterizedTest(enum kind *k, transport, concurrent_pushes)
{
	pid_t pid;
	int status;
	remote_make(&R, *k);
	make_files(&R, 99);
	pid = fork();
	cr_assert_geq(pid, 0);
	remote_open(&R);
	if (pid == 0) {
		const char *locals[NFILES], *names[NFILES];
		for (size_t i = 0; i < NFILES; i++) {
			locals[i] = local_paths[i];
			names[i] = files[i].name;
		}
		_exit(sv_transport_put_many(R.t, locals, names, NFILES, NULL, NULL) == 0 ? 0 : 1);
	}
	put_all(&R);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the other push failed");
	expect_all_files(&R);
}

/* ---- refusals and failures ---- */

Test(transport, sftp_wrong_host_key)
{
	char line[8400], pub[8192];
	FILE *f;
	int64_t size;
	remote_make(&R, K_SFTP);
	/* A known_hosts that pairs the server's address with another key (the client's). */
	snprintf(line, sizeof(line), "cut -d' ' -f1,2 '%s.pub'", env("SV_SSHD_KEY"));
	th_run_line(line, pub, sizeof(pub));
	cr_assert(strncmp(pub, "ssh-ed25519 ", 12) == 0, "%s", pub);
	snprintf(R.known_hosts, sizeof(R.known_hosts), "%s/known_hosts", R.local);
	f = fopen(R.known_hosts, "w");
	fprintf(f, "[127.0.0.1]:%s %s\n", env("SV_SSHD_PORT"), pub);
	fclose(f);
	/* A password in the URL must never show. */
	snprintf(R.url, sizeof(R.url), "sftp://%s:Sekr1t-pass@127.0.0.1:%s%s", env("SV_SSHD_USER"), env("SV_SSHD_PORT"),
		 R.disk);
	remote_open(&R);
	cr_assert_null(strstr(sv_transport_url(R.t), "Sekr1t"), "%s", sv_transport_url(R.t));
	cr_assert_null(strstr(sv_transport_url(R.t), "@"), "%s", sv_transport_url(R.t));

	cr_assert_eq(sv_transport_stat(R.t, "a", &size), SV_EIO);
	cr_assert(strstr(sv_error_last(), "host key does not match"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "127.0.0.1"), "%s", sv_error_last());
	cr_assert_null(strstr(sv_error_last(), "Sekr1t"), "%s", sv_error_last());

	make_files(&R, 1);
	const char *local = local_paths[1], *name = "x/y";
	done_log d;
	memset(&d, 0, sizeof(d));
	cr_assert_eq(sv_transport_put_many(R.t, &local, &name, 1, on_done, &d), SV_EIO);
	cr_assert_eq(d.calls[0], 1);
	cr_assert(strstr(d.msgs[0], "host key"), "%s", d.msgs[0]);
	cr_assert_null(strstr(d.msgs[0], "Sekr1t"), "%s", d.msgs[0]);
	cr_assert(access(R.disk, F_OK) != 0, "something was written to a server we do not trust");

	/* A host that is not in known_hosts at all is refused too. */
	sv_transport_free(R.t);
	f = fopen(R.known_hosts, "w");
	fclose(f);
	remote_open(&R);
	cr_assert_eq(sv_transport_stat(R.t, "a", &size), SV_EIO);
	cr_assert(strstr(sv_error_last(), "host key is not in"), "%s", sv_error_last());
}

Test(transport, sftp_unauthorized_key)
{
	char key[4300], cmd[8800];
	int64_t size;
	remote_make(&R, K_SFTP);
	snprintf(key, sizeof(key), "%s/other_key", R.local);
	snprintf(cmd, sizeof(cmd), "ssh-keygen -q -t ed25519 -N '' -f '%s' </dev/null", key);
	cr_assert_eq(system(cmd), 0);
	R.o.ssh_key = key;
	remote_open(&R);
	cr_assert_eq(sv_transport_stat(R.t, "a", &size), SV_EIO);
	cr_assert(strstr(sv_error_last(), "cannot stat 'a'"), "%s", sv_error_last());
	cr_assert(strstr(sv_error_last(), "uth"), "names the authentication failure: %s", sv_error_last());
}

Test(transport, s3_wrong_secret)
{
	char secret[256];
	int64_t size;
	listing *l = calloc(1, sizeof(*l));
	remote_make(&R, K_S3);
	snprintf(secret, sizeof(secret), "%sX", R.o.secret_key);
	R.o.secret_key = secret;
	remote_open(&R);
	make_files(&R, 5);
	const char *local = local_paths[2], *name = "objects/big";
	done_log d;
	memset(&d, 0, sizeof(d));
	cr_assert_eq(sv_transport_put_many(R.t, &local, &name, 1, on_done, &d), SV_EIO);
	cr_assert(strstr(d.msgs[0], "403"), "%s", d.msgs[0]);
	cr_assert(strstr(d.msgs[0], "SignatureDoesNotMatch"), "%s", d.msgs[0]);
	cr_assert(strstr(d.msgs[0], "objects/big"), "%s", d.msgs[0]);
	cr_assert(strstr(d.msgs[0], "s3://salvage-test/"), "%s", d.msgs[0]);
	cr_assert_null(strstr(d.msgs[0], secret), "%s", d.msgs[0]);
	cr_assert_null(strstr(d.msgs[0], R.o.access_key), "%s", d.msgs[0]);
	cr_assert_str_eq(sv_error_last(), d.msgs[0]);

	cr_assert_eq(sv_transport_stat(R.t, "objects/big", &size), SV_EIO);
	cr_assert(strstr(sv_error_last(), "403"), "%s", sv_error_last());
	cr_assert_eq(sv_transport_list(R.t, "", on_list, l), SV_EIO);
	cr_assert(strstr(sv_error_last(), "SignatureDoesNotMatch"), "%s", sv_error_last());
	cr_assert_null(strstr(sv_error_last(), secret));
	cr_assert_eq(l->n, 0);
	cr_assert(access(R.disk, F_OK) != 0, "the server stored a wrongly signed upload");

	/* An unknown access key is refused as well. */
	sv_transport_free(R.t);
	R.o.secret_key = env("AWS_SECRET_ACCESS_KEY");
	R.o.access_key = "AKNOBODY";
	remote_open(&R);
	cr_assert_eq(sv_transport_put_data(R.t, "a", "x", 1), SV_EIO);
	cr_assert(strstr(sv_error_last(), "InvalidAccessKeyId"), "%s", sv_error_last());
	cr_assert_null(strstr(sv_error_last(), env("AWS_SECRET_ACCESS_KEY")));
	free(l);
}

/* A loopback port: listening (but never answering) if listen, else closed. */
static int loopback_port(int listen_too, int *fd_out)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	if (listen_too) {
		cr_assert_eq(listen(fd, 16), 0);
		*fd_out = fd;
	} else {
		close(fd);
		*fd_out = -1;
	}
	return ntohs(a.sin_port);
}

typedef struct {
	enum kind kind;
	int listening; /* 1: the port accepts connections but nothing ever answers */
} dead_case;

ParameterizedTestParameters(transport, dead_server)
{
	static dead_case cases[] = {{K_SFTP, 0}, {K_SFTP, 1}, {K_S3, 0}, {K_S3, 1}};
	return cr_make_param_array(dead_case, cases, 4);
}

/* A server that is not there, or that never answers, is an error in bounded time, not a hang. */
ParameterizedTest(dead_case *c, transport, dead_server)
{
	int fd, port = loopback_port(c->listening, &fd);
	char endpoint[64];
	int64_t size;
	struct timespec t0, t1;
	remote_make(&R, c->kind);
	R.o.connect_timeout_s = 2;
	R.o.stall_timeout_s = 2;
	if (c->kind == K_SFTP)
		snprintf(R.url, sizeof(R.url), "sftp://%s@127.0.0.1:%d%s", env("SV_SSHD_USER"), port, R.disk);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
	R.o.s3_endpoint = endpoint;
	remote_open(&R);
	make_files(&R, 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(sv_transport_stat(R.t, "a", &size), SV_EIO);
	cr_assert(strstr(sv_error_last(), "cannot stat 'a'"), "%s", sv_error_last());
	const char *local = local_paths[2], *name = "objects/big";
	cr_assert_eq(sv_transport_put_many(R.t, &local, &name, 1, NULL, NULL), SV_EIO);
	cr_assert(strstr(sv_error_last(), "cannot put 'objects/big'"), "%s", sv_error_last());
	if (!c->listening)
		cr_assert(strstr(sv_error_last(), "onnect"), "%s", sv_error_last());
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 30, "took %ld s", (long)(t1.tv_sec - t0.tv_sec));
	if (fd >= 0)
		close(fd);
}

Test(transport, bad_urls)
{
	static const char *const urls[] = {
		"ftp://host/x",       "file://otherhost/x", "file:///no/such/folder/anywhere",
		"sftp://127.0.0.1/x", "s3://UPPER/x",       "s3://b/x?y=1",
		"s3://bucket/a//b",   "not a url",          "s3://user:pw@bucket/x",
	};
	sv_transport_options o = SV_TRANSPORT_OPTIONS_INIT;
	sv_transport *t = (sv_transport *)1;
	o.s3_endpoint = "http://127.0.0.1:1";
	o.access_key = "AK";
	o.secret_key = "SKSECRET";
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		cr_assert_neq(sv_transport_open(&t, urls[i], &o), 0, "%s opened", urls[i]);
		cr_assert_null(t);
		cr_assert_null(strstr(sv_error_last(), "pw@"), "%s", sv_error_last());
	}
	/* s3 needs an endpoint and keys; the endpoint is http(s) only. */
	o.s3_endpoint = NULL;
	cr_assert_eq(sv_transport_open(&t, "s3://bucket/x", &o), SV_EINVAL);
	cr_assert(strstr(sv_error_last(), "endpoint"), "%s", sv_error_last());
	o.s3_endpoint = "ftp://127.0.0.1/";
	cr_assert_eq(sv_transport_open(&t, "s3://bucket/x", &o), SV_EINVAL);
	/* Plain http sends signatures and tokens in clear: only when allowed. */
	o.s3_endpoint = "http://127.0.0.1:1";
	cr_assert_eq(sv_transport_open(&t, "s3://bucket/x", &o), SV_EINVAL);
	cr_assert(strstr(sv_error_last(), "plain http"), "%s", sv_error_last());
	cr_assert_null(strstr(sv_error_last(), "SKSECRET"), "%s", sv_error_last());
	o.s3_allow_http = 1;
	cr_assert_eq(sv_transport_open(&t, "s3://bucket/x", &o), 0, "%s", sv_error_last());
	sv_transport_free(t);
	o.secret_key = NULL;
	cr_assert_eq(sv_transport_open(&t, "s3://bucket/x", &o), SV_EINVAL);
	cr_assert(strstr(sv_error_last(), "keys"), "%s", sv_error_last());
	/* sftp: a known_hosts that cannot be read is refused at once. */
	o.ssh_known_hosts = "/no/such/known_hosts";
	cr_assert_eq(sv_transport_open(&t, "sftp://me@127.0.0.1/x", &o), SV_EINVAL);
	cr_assert(strstr(sv_error_last(), "known_hosts"), "%s", sv_error_last());
}

/* An https endpoint whose certificate is not trusted is refused, not used. */
Test(transport, s3_untrusted_certificate)
{
	char cmd[9000], accept[64], endpoint[64];
	int fd, port = loopback_port(0, &fd), up = 0;
	int64_t size;
	pid_t pid;
	remote_make(&R, K_S3);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
		 "subjectAltName=IP:127.0.0.1 -keyout '%s/key.pem' -out '%s/cert.pem' >/dev/null 2>&1",
		 R.local, R.local);
	cr_assert_eq(system(cmd), 0);
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char cert[4200], key[4200];
		snprintf(cert, sizeof(cert), "%s/cert.pem", R.local);
		snprintf(key, sizeof(key), "%s/key.pem", R.local);
		if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout))
			_exit(126);
		execlp("timeout", "timeout", "60", "openssl", "s_server", "-quiet", "-www", "-accept", accept, "-cert",
		       cert, "-key", key, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !up; i++) {
		struct sockaddr_in a;
		int s = socket(AF_INET, SOCK_STREAM, 0);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		up = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(s);
		if (!up)
			usleep(50000);
	}
	cr_assert(up, "openssl s_server did not start");
	snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%d", port);
	R.o.s3_endpoint = endpoint;
	remote_open(&R);
	cr_assert_eq(sv_transport_stat(R.t, "a", &size), SV_EIO);
	cr_assert(strstr(sv_error_last(), "certificate") || strstr(sv_error_last(), "SSL"), "%s", sv_error_last());
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* ---- resumed downloads and multipart uploads ---- */

ParameterizedTestParameters(transport, get_rest_resumes)
{
	static enum kind kinds[] = {K_FILE, K_SFTP, K_S3};
	return cr_make_param_array(enum kind, kinds, 3);
}

/* A download cut after `from` bytes gets only the rest, appended; with a bad start, the check finds it. */
ParameterizedTest(enum kind *k, transport, get_rest_resumes)
{
	const size_t big = 3; /* files[3]: 300001 bytes */
	const char *local, *name = files[big].name;
	char path[4300];
	int fd;
	remote_make(&R, *k);
	remote_open(&R);
	make_files(&R, 7);
	local = local_paths[big];
	cr_assert_eq(sv_transport_put_many(R.t, &local, &name, 1, NULL, NULL), 0, "%s", sv_error_last());
	snprintf(path, sizeof(path), "%s/partial", R.local);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content[big], 100000), 100000);
	cr_assert_eq(sv_transport_get_rest(R.t, name, fd, 100000, -1), 0, "%s", sv_error_last());
	cr_assert_eq(lseek(fd, 0, SEEK_END), (off_t)files[big].size);
	unsigned char *got = malloc(files[big].size);
	cr_assert_eq(pread(fd, got, files[big].size, 0), (ssize_t)files[big].size);
	cr_assert_eq(memcmp(got, content[big], files[big].size), 0, "the resumed file differs");
	free(got);
	close(fd);
}

/* Over the threshold: parts (several at once), then the object whole under its name; the state file goes. */
Test(transport, s3_multipart_round_trip)
{
	const size_t big = 2; /* files[2]: 5 MiB + 123 */
	const char *local, *name = files[big].name;
	char state[4300], path[4400];
	int64_t size;
	remote_make(&R, K_S3);
	snprintf(state, sizeof(state), "%s/uploads", R.local);
	R.o.multipart_threshold = 1 << 20;
	R.o.multipart_part_size = 512 << 10;
	R.o.multipart_state_dir = state;
	remote_open(&R);
	make_files(&R, 9);
	local = local_paths[big];
	cr_assert_eq(sv_transport_put_many(R.t, &local, &name, 1, NULL, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_transport_stat(R.t, name, &size), 0);
	cr_assert_eq(size, (int64_t)files[big].size);
	expect_content(&R, name, content[big], files[big].size);
	/* No state left behind. */
	snprintf(path, sizeof(path), "%s/objects+sha256+ab+ab02.zst.upload", state);
	cr_assert_neq(access(path, F_OK), 0, "the state file %s was left", path);
}

Test(transport, s3_complete_xml)
{
	char etags[3][128] = {"\"a1\"", "\"b2\"", "\"c&3\""};
	char *xml = sv_transport_s3_complete_xml((const char(*)[128])etags, 3);
	cr_assert_not_null(xml);
	cr_assert_str_eq(xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			      "<Part><PartNumber>1</PartNumber><ETag>\"a1\"</ETag></Part>"
			      "<Part><PartNumber>2</PartNumber><ETag>\"b2\"</ETag></Part>"
			      "<Part><PartNumber>3</PartNumber><ETag>\"c&amp;3\"</ETag></Part>"
			      "</CompleteMultipartUpload>");
	free(xml);
}

typedef struct {
	char keys[4][64], ids[4][64];
	int64_t when[4];
	int n;
} uploads_seen;

static int on_upload(void *ctx, const char *key, const char *id, int64_t initiated)
{
	uploads_seen *u = ctx;
	cr_assert_lt(u->n, 4);
	snprintf(u->keys[u->n], 64, "%s", key);
	snprintf(u->ids[u->n], 64, "%s", id);
	u->when[u->n++] = initiated;
	return 0;
}

Test(transport, s3_parse_uploads)
{
	static const char page[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Bucket>b</Bucket><IsTruncated>true</IsTruncated>"
		"<NextKeyMarker>p/sha256/cd/x.zst</NextKeyMarker><NextUploadIdMarker>ID2</NextUploadIdMarker>"
		"<Upload><Key>p/sha256/ab/y.zst</Key><UploadId>ID1</UploadId><Initiated>2024-01-02T03:04:05.000Z</Initiated></Upload>"
		"<Upload><Key>p/sha256/cd/x.zst</Key><UploadId>ID2</UploadId><Initiated>garbage</Initiated></Upload>"
		"</ListMultipartUploadsResult>";
	uploads_seen u = {0};
	char *nk = NULL, *ni = NULL;
	cr_assert_eq(sv_transport_s3_parse_uploads(page, sizeof(page) - 1, on_upload, &u, &nk, &ni), 0);
	cr_assert_eq(u.n, 2);
	cr_assert_str_eq(u.keys[0], "p/sha256/ab/y.zst");
	cr_assert_str_eq(u.ids[1], "ID2");
	cr_assert_eq(u.when[0], 1704164645);
	cr_assert_eq(u.when[1], -1);
	cr_assert_str_eq(nk, "p/sha256/cd/x.zst");
	cr_assert_str_eq(ni, "ID2");
	free(nk);
	free(ni);
	/* An error document is not a listing. */
	static const char err[] = "<Error><Code>NotImplemented</Code></Error>";
	cr_assert_neq(sv_transport_s3_parse_uploads(err, sizeof(err) - 1, on_upload, &u, &nk, &ni), 0);
}
