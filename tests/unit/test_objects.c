/*
 * tests/unit/test_objects.c -- the object store: round trips at the edges of
 * zstd's block size and beyond, dedup, damaged objects, failed writes.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/objects.h"
#include "../../storage/verify.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zstd.h>

static char dir[4096];
static sv_objects *store;

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
	cr_assert_eq(sv_objects_open(&store, dir, NULL), 0, "%s", sv_error_last());
}

static void teardown(void)
{
	sv_objects_free(store);
	th_rmrf(dir);
}

TestSuite(objects, .init = setup, .fini = teardown, .timeout = 300);

static void put_buf(const unsigned char *buf, size_t len, int64_t hint, sv_digest *d,
		    sv_objects_commit_info *info)
{
	sv_objects_writer *w;
	cr_assert_eq(sv_objects_writer_new(&w, store, hint), 0);
	/* Odd chunk sizes cross every internal buffer boundary. */
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 77777 ? len - off : 77777;
		cr_assert_eq(sv_objects_writer_write(w, buf + off, n), 0, "%s", sv_error_last());
		off += n;
	}
	cr_assert_eq(sv_objects_writer_commit(w, d, info), 0, "%s", sv_error_last());
}

static void read_all(const sv_digest *d, unsigned char *buf, size_t cap, size_t *len)
{
	sv_objects_reader *r;
	size_t got;
	*len = 0;
	cr_assert_eq(sv_objects_reader_open(&r, store, d), 0, "%s", sv_error_last());
	for (;;) {
		cr_assert_eq(sv_objects_reader_read(r, buf + *len, cap - *len > 65536 ? 65536 : cap - *len, &got), 0,
			     "%s", sv_error_last());
		if (got == 0)
			break;
		*len += got;
		cr_assert_leq(*len, cap);
		if (*len == cap) { /* one more read must report the verified end */
			unsigned char extra;
			cr_assert_eq(sv_objects_reader_read(r, &extra, 1, &got), 0, "%s", sv_error_last());
			cr_assert_eq(got, 0);
			break;
		}
	}
	sv_objects_reader_free(r);
}

typedef struct {
	size_t size;
	int hinted;
	int text;
} rt_case;

ParameterizedTestParameters(objects, round_trip)
{
	static rt_case cases[] = {
		{0, 0, 1},      {0, 1, 1},      {1, 0, 0},      {1, 1, 0},
		{131071, 0, 0}, {131071, 1, 1}, {131072, 0, 1}, {131072, 1, 0},
		{131073, 0, 0}, {131073, 1, 1}, {262144, 0, 1}, {262145, 0, 0},
		{10u << 20, 0, 1}, {10u << 20, 1, 1}, {10u << 20, 1, 0}, {10u << 20, 0, 0},
	};
	return cr_make_param_array(rt_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(rt_case *c, objects, round_trip)
{
	unsigned char *in = malloc(c->size + 1), *back = malloc(c->size + 1);
	uint64_t seed = 12345 + c->size;
	char want[65], got[65], path[4096], cmd[4300], line[256];
	sv_digest d;
	sv_objects_commit_info info;
	struct stat st;
	size_t len;

	th_fill(in, c->size, &seed, c->text);
	th_sha256_hex(in, c->size, want);
	put_buf(in, c->size, c->hinted ? (int64_t)c->size : -1, &d, &info);
	sv_digest_to_hex(&d, got);
	cr_assert_str_eq(got, want);
	cr_assert_eq(info.length, c->size);
	cr_assert_eq(info.existed, 0);
	cr_assert_eq(sv_objects_exists(store, &d), 1);

	read_all(&d, back, c->size, &len);
	cr_assert_eq(len, c->size);
	cr_assert(c->size == 0 || memcmp(in, back, c->size) == 0);

	/* The format needs nothing but zstd and sha256sum to check. */
	sv_objects_path(store, &d, path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0444, "objects are read-only");
	cr_assert_eq((uint64_t)st.st_size, info.stored);
	snprintf(cmd, sizeof(cmd), "zstd -dc '%s' | sha256sum", path);
	th_run_line(cmd, line, sizeof(line));
	cr_assert(strncmp(line, want, 64) == 0, "zstd -dc | sha256sum gave %s", line);

	/* The frame records its checksum flag and, where known, the content size. */
	unsigned char head[ZSTD_FRAMEHEADERSIZE_MAX];
	FILE *f = fopen(path, "rb");
	size_t hn = fread(head, 1, sizeof(head), f);
	fclose(f);
	ZSTD_frameHeader fh;
	cr_assert_eq(ZSTD_getFrameHeader(&fh, head, hn), 0);
	cr_assert(fh.checksumFlag);
	if (c->hinted || c->size <= 256 * 1024)
		cr_assert_eq(fh.frameContentSize, c->size);
	free(in);
	free(back);
}

Test(objects, one_gigabyte_stream_flat_memory)
{
	const size_t chunk = 1 << 20;
	const int chunks = 1024;
	unsigned char *buf = malloc(chunk);
	unsigned char md[32];
	char want[65], got[65];
	uint64_t seed = 99;
	unsigned int mdlen;
	EVP_MD_CTX *ref = EVP_MD_CTX_new();
	sv_objects_writer *w;
	sv_objects_reader *r;
	sv_digest d;
	struct rusage ru;
	size_t n, total = 0;

	EVP_DigestInit_ex(ref, EVP_sha256(), NULL);
	cr_assert_eq(sv_objects_writer_new(&w, store, -1), 0);
	for (int i = 0; i < chunks; i++) {
		/* Mostly zeros with generated stretches: a sparse-like, fast stream. */
		memset(buf, 0, chunk);
		th_fill(buf, 4096, &seed, i & 1);
		EVP_DigestUpdate(ref, buf, chunk);
		cr_assert_eq(sv_objects_writer_write(w, buf, chunk), 0, "%s", sv_error_last());
	}
	cr_assert_eq(sv_objects_writer_commit(w, &d, NULL), 0, "%s", sv_error_last());
	EVP_DigestFinal_ex(ref, md, &mdlen);
	EVP_MD_CTX_free(ref);
	for (int i = 0; i < 32; i++)
		sprintf(want + 2 * i, "%02x", md[i]);
	sv_digest_to_hex(&d, got);
	cr_assert_str_eq(got, want);

	cr_assert_eq(sv_objects_reader_open(&r, store, &d), 0);
	for (;;) {
		cr_assert_eq(sv_objects_reader_read(r, buf, chunk, &n), 0, "%s", sv_error_last());
		if (n == 0)
			break;
		total += n;
	}
	sv_objects_reader_free(r);
	cr_assert_eq(total, (size_t)chunks * chunk);

	getrusage(RUSAGE_SELF, &ru);
	cr_assert_lt(ru.ru_maxrss, 200 * 1024, "peak RSS %ld KB: the payload must stream", ru.ru_maxrss);
	free(buf);
}

Test(objects, dedup_keeps_the_first_copy)
{
	unsigned char buf[100000];
	uint64_t seed = 7;
	sv_digest a, b;
	sv_objects_commit_info info;
	char path[4096];
	struct stat st1, st2;

	th_fill(buf, sizeof(buf), &seed, 1);
	put_buf(buf, sizeof(buf), -1, &a, &info);
	cr_assert_eq(info.existed, 0);
	sv_objects_path(store, &a, path, sizeof(path));
	cr_assert_eq(stat(path, &st1), 0);
	put_buf(buf, sizeof(buf), sizeof(buf), &b, &info);
	cr_assert_eq(info.existed, 1);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	cr_assert_eq(stat(path, &st2), 0);
	cr_assert_eq(st1.st_ino, st2.st_ino, "an existing object is not rewritten");
	cr_assert_eq(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(tmp), 0, "no temp file left behind");
}

Test(objects, small_objects_are_read_only_and_leave_no_temp)
{
	unsigned char buf[1000];
	uint64_t seed = 12;
	sv_digest d;
	sv_objects_commit_info info;
	char path[4096], tmp[4200];
	struct stat st;
	th_fill(buf, sizeof(buf), &seed, 1);
	put_buf(buf, sizeof(buf), -1, &d, &info);
	sv_objects_path(store, &d, path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0444);
	cr_assert_eq(st.st_nlink, 1);
	cr_assert_eq((uint64_t)st.st_size, info.stored);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(tmp), 0);
	cr_assert_eq(sv_objects_check_path(path, &d), 0, "%s", sv_error_last());
}

Test(objects, a_removed_fan_out_folder_is_made_again)
{
	unsigned char buf[5000];
	uint64_t seed = 11;
	sv_digest a, b;
	sv_objects_commit_info info;
	char path[4096], fan[4096];

	th_fill(buf, sizeof(buf), &seed, 1);
	put_buf(buf, sizeof(buf), -1, &a, &info);
	sv_objects_path(store, &a, path, sizeof(path));
	snprintf(fan, sizeof(fan), "%s", path);
	*strrchr(fan, '/') = '\0';
	/* Someone empties objects/sha256/XX/ behind the store's back. */
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(rmdir(fan), 0);
	put_buf(buf, sizeof(buf), -1, &b, &info);
	cr_assert_eq(info.existed, 0);
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
	unsigned char back[5000];
	size_t len;
	read_all(&a, back, sizeof(back), &len);
	cr_assert_eq(len, sizeof(buf));
	cr_assert_eq(memcmp(back, buf, len), 0);
}

ParameterizedTestParameters(objects, damaged_unsynced_object_is_replaced)
{
	/* streamed (over 256 KiB) and one-shot (linked from an unnamed file) */
	static size_t sizes[] = {300000, 4000};
	return cr_make_param_array(size_t, sizes, 2);
}

ParameterizedTest(size_t *size, objects, damaged_unsynced_object_is_replaced)
{
	static unsigned char buf[300000];
	uint64_t seed = 8;
	sv_digest d;
	sv_objects_commit_info info;
	char path[4096];

	th_fill(buf, *size, &seed, 1);
	put_buf(buf, *size, -1, &d, &info);
	sv_objects_path(store, &d, path, sizeof(path));
	/* As a power cut before the sync could leave it. */
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(truncate(path, 10), 0);
	cr_assert_neq(sv_objects_check_path(path, &d), 0);
	put_buf(buf, *size, -1, &d, &info);
	cr_assert_eq(info.existed, 0, "a damaged object must be rewritten");
	cr_assert_eq(sv_objects_check_path(path, &d), 0, "%s", sv_error_last());
}

Test(objects, wrong_announced_size_stores_nothing)
{
	unsigned char buf[4096] = {1};
	sv_objects_writer *w;
	sv_digest d;
	char sub[4200];

	cr_assert_eq(sv_objects_writer_new(&w, store, 100), 0);
	cr_assert_eq(sv_objects_writer_write(w, buf, 101), SV_EINVAL);
	sv_objects_writer_abort(w);

	cr_assert_eq(sv_objects_writer_new(&w, store, 1 << 20), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(sv_objects_writer_write(w, buf, sizeof(buf)), 0);
	cr_assert_eq(sv_objects_writer_commit(w, &d, NULL), SV_EINVAL);

	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(sub), 0);
	snprintf(sub, sizeof(sub), "%s/sha256", dir);
	cr_assert_eq(th_count_entries(sub), 0);
}

Test(objects, file_size_limit_fails_cleanly)
{
	const size_t len = 5u << 20;
	unsigned char *buf = malloc(len);
	uint64_t seed = 3;
	struct rlimit lim = {512 * 1024, 512 * 1024};
	sv_objects_writer *w;
	sv_digest d;
	char sub[4200];
	int rc = 0;

	th_fill(buf, len, &seed, 0);
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cr_assert_eq(sv_objects_writer_new(&w, store, -1), 0);
	for (size_t off = 0; off < len && rc == 0; off += 65536)
		rc = sv_objects_writer_write(w, buf + off, 65536);
	if (rc == 0)
		rc = sv_objects_writer_commit(w, &d, NULL);
	else
		sv_objects_writer_abort(w);
	cr_assert_eq(rc, SV_ENOSPC, "got %d: %s", rc, sv_error_last());
	snprintf(sub, sizeof(sub), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(sub), 0, "the temp file is removed");
	snprintf(sub, sizeof(sub), "%s/sha256", dir);
	cr_assert_eq(th_count_entries(sub), 0, "no partial object");
	free(buf);
}

Test(objects, reader_reports_damage)
{
	unsigned char buf[200000], out[65536];
	uint64_t seed = 5;
	sv_digest d;
	char path[4096];
	sv_objects_reader *r;
	size_t got;
	int rc;

	th_fill(buf, sizeof(buf), &seed, 0);
	put_buf(buf, sizeof(buf), -1, &d, NULL);
	sv_objects_path(store, &d, path, sizeof(path));
	chmod(path, 0644);
	int fd = open(path, O_WRONLY);
	cr_assert_eq(pwrite(fd, "\x55", 1, 5000), 1);
	close(fd);
	cr_assert_eq(sv_objects_reader_open(&r, store, &d), 0);
	while ((rc = sv_objects_reader_read(r, out, sizeof(out), &got)) == 0 && got > 0)
		;
	sv_objects_reader_free(r);
	cr_assert_eq(rc, SV_ECORRUPT);

	sv_digest missing = d;
	missing.bytes[0] ^= 1;
	cr_assert_eq(sv_objects_reader_open(&r, store, &missing), SV_ENOTFOUND);
}

Test(objects, stale_temps_are_cleaned_live_ones_kept)
{
	char stale[4200], live[4200];
	unsigned removed;
	snprintf(stale, sizeof(stale), "%s/tmp/obj-stale1", dir);
	snprintf(live, sizeof(live), "%s/tmp/obj-live01", dir);
	close(open(stale, O_CREAT | O_WRONLY, 0600));
	int fd = open(live, O_CREAT | O_WRONLY, 0600);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
	cr_assert_eq(sv_objects_clean_temps(store, &removed), 0);
	cr_assert_eq(removed, 1);
	cr_assert_neq(access(stale, F_OK), 0);
	cr_assert_eq(access(live, F_OK), 0, "a temp a live writer holds is kept");
	close(fd);
}

Test(objects, sync_moves_the_stamp_forward)
{
	char stamp[4200];
	struct stat a, b;
	snprintf(stamp, sizeof(stamp), "%s/sync-stamp", dir);
	cr_assert_eq(sv_objects_sync(store), 0);
	cr_assert_eq(stat(stamp, &a), 0);
	usleep(20000);
	cr_assert_eq(sv_objects_sync(store), 0);
	cr_assert_eq(stat(stamp, &b), 0);
	cr_assert_gt(b.st_mtim.tv_sec * 1000000000LL + b.st_mtim.tv_nsec,
		     a.st_mtim.tv_sec * 1000000000LL + a.st_mtim.tv_nsec);
}

typedef struct {
	char text[80]; /* inline: parameters are copied into a re-executed worker */
	int ok;
} hex_case;

ParameterizedTestParameters(digest, from_hex)
{
	static hex_case cases[] = {
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 1},
		{"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", 1},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85", 0},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555", 0},
		{"g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0},
		{"", 0},
		{"../../etc/passwd", 0},
	};
	return cr_make_param_array(hex_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(hex_case *c, digest, from_hex)
{
	sv_digest d;
	char back[65];
	int rc = sv_digest_from_hex(&d, c->text);
	cr_assert_eq(rc, c->ok ? 0 : SV_EINVAL, "%s", c->text);
	if (c->ok) {
		sv_digest_to_hex(&d, back);
		cr_assert_str_eq(back, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	}
}

Test(objects, concurrent_large_writers_stay_bounded)
{
	/* Two large incompressible payloads at once (a fetcher's two big
	 * downloads): only one may hold multithreaded job buffers. */
	const size_t chunk = 1 << 20, chunks = 64;
	unsigned char *buf = malloc(chunk);
	uint64_t seed = 11;
	sv_objects_writer *a, *b;
	sv_digest da, db;
	struct rusage ru;

	cr_assert_eq(sv_objects_writer_new(&a, store, (int64_t)(chunk * chunks)), 0);
	cr_assert_eq(sv_objects_writer_new(&b, store, (int64_t)(chunk * chunks)), 0);
	for (size_t i = 0; i < chunks; i++) {
		th_fill(buf, chunk, &seed, 0);
		cr_assert_eq(sv_objects_writer_write(a, buf, chunk), 0, "%s", sv_error_last());
		cr_assert_eq(sv_objects_writer_write(b, buf, chunk), 0, "%s", sv_error_last());
	}
	cr_assert_eq(sv_objects_writer_commit(a, &da, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(sv_objects_writer_commit(b, &db, NULL), 0, "%s", sv_error_last());
	cr_assert_eq(memcmp(&da, &db, sizeof(da)), 0, "the same bytes, the same object");
	getrusage(RUSAGE_SELF, &ru);
	cr_assert_lt(ru.ru_maxrss, 90 * 1024, "peak RSS %ld KB with two large writers", ru.ru_maxrss);
	free(buf);
}

/* ---- names, walking the store, adopting a file made elsewhere ---- */

Test(objects, name_and_path_spell_the_layout)
{
	sv_digest d, back;
	char hex[SV_DIGEST_HEX_LEN + 1], want[256], name[SV_OBJECTS_NAME_LEN + 1], path[4096], bad[256];
	for (int i = 0; i < SV_DIGEST_LEN; i++)
		d.bytes[i] = (unsigned char)(0xab + 37 * i);
	sv_digest_to_hex(&d, hex);
	snprintf(want, sizeof(want), "sha256/ab/%s.zst", hex);
	sv_objects_name(&d, name);
	cr_assert_str_eq(name, want);
	cr_assert_eq(sv_objects_path(store, &d, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/sha256/ab/%s.zst", dir, hex);
	cr_assert_str_eq(path, want);
	cr_assert_neq(sv_objects_path(store, &d, path, 20), 0, "a path that does not fit is an error");
	cr_assert_eq(sv_objects_name_parse(name, &back), 1);
	cr_assert_eq(memcmp(&back, &d, sizeof(d)), 0);
	/* Only the store's own spelling is an object's name. */
	const char *wrong[] = {"sha256/ac/%s.zst", "sha256/AB/%s.zst", "sha256/ab/%s.zs", "sha256/ab/%s.zst.tmp",
			       "objects/ab/%s.zst"};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		snprintf(bad, sizeof(bad), wrong[i], hex);
		cr_assert_eq(sv_objects_name_parse(bad, &back), 0, "%s", bad);
	}
	for (char *c = name; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	cr_assert_eq(sv_objects_name_parse(name, &back), 0, "upper-case hex");
}

typedef struct {
	sv_digest d[8];
	int64_t size[8];
	size_t n;
} walk;

static int collect(void *ctx, const sv_digest *d, int64_t size)
{
	walk *w = ctx;
	cr_assert_lt(w->n, 8, "more objects than were put");
	w->d[w->n] = *d;
	w->size[w->n++] = size;
	return 0;
}

static int stop_at_first(void *ctx, const sv_digest *d, int64_t size)
{
	(void)d;
	(void)size;
	++*(int *)ctx;
	return 42;
}

Test(objects, foreach_lists_what_was_put_and_nothing_else)
{
	unsigned char buf[3000];
	uint64_t seed = 21;
	sv_digest put[3];
	sv_objects_commit_info info[3];
	char path[4200];
	walk w = {0};

	for (int i = 0; i < 3; i++) {
		th_fill(buf, sizeof(buf), &seed, 1);
		put_buf(buf, sizeof(buf) - (size_t)i * 100, -1, &put[i], &info[i]);
	}
	/* Strays: a file in the wrong fan-out folder, a foreign file, a temp file. */
	char hex[SV_DIGEST_HEX_LEN + 1];
	sv_digest_to_hex(&put[0], hex);
	snprintf(path, sizeof(path), "%s/sha256/%s", dir, hex[0] == '0' ? "11" : "00");
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sha256/%s/%s.zst", dir, hex[0] == '0' ? "11" : "00", hex);
	cr_assert_eq(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);
	snprintf(path, sizeof(path), "%s/sha256/%.2s/notes.txt", dir, hex);
	cr_assert_eq(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);
	snprintf(path, sizeof(path), "%s/tmp/obj-abcdef", dir);
	cr_assert_eq(close(open(path, O_CREAT | O_WRONLY, 0644)), 0);

	cr_assert_eq(sv_objects_foreach(store, 1, collect, &w), 0, "%s", sv_error_last());
	cr_assert_eq(w.n, 3);
	for (int i = 0; i < 3; i++) {
		size_t j = 0;
		while (j < w.n && memcmp(&w.d[j], &put[i], sizeof(sv_digest)))
			j++;
		cr_assert_lt(j, w.n, "object %d listed", i);
		cr_assert_eq(w.size[j], (int64_t)info[i].stored, "its file size");
	}
	memset(&w, 0, sizeof(w));
	cr_assert_eq(sv_objects_foreach(store, 0, collect, &w), 0);
	cr_assert_eq(w.n, 3);
	cr_assert_eq(w.size[0], -1, "no size when not asked");
	int calls = 0;
	cr_assert_eq(sv_objects_foreach(store, 0, stop_at_first, &calls), 42, "fn's value stops the walk");
	cr_assert_eq(calls, 1);
}

typedef struct {
	const void *bytes;
	size_t len;
} fill_src;

static int fill_from(void *ctx, int fd)
{
	fill_src *f = ctx;
	return write(fd, f->bytes, f->len) == (ssize_t)f->len ? 0 : sv_error_set(SV_EIO, "short write");
}

/* payload compressed as one zstd frame, with or without the checksum the store requires. */
static size_t compress_frame(const void *payload, size_t len, int checksum, void *out, size_t cap)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
	size_t n = ZSTD_compress2(c, out, cap, payload, len);
	ZSTD_freeCCtx(c);
	cr_assert(!ZSTD_isError(n));
	return n;
}

static void digest_of(const void *buf, size_t len, sv_digest *d)
{
	char hex[SV_DIGEST_HEX_LEN + 1];
	th_sha256_hex(buf, len, hex);
	cr_assert_eq(sv_digest_from_hex(d, hex), 0);
}

Test(objects, adopt_links_a_sound_file_byte_for_byte)
{
	static unsigned char payload[50000], file[60000], back[50000];
	uint64_t seed = 31;
	sv_digest d;
	sv_objects_commit_info info;
	char path[4096], tmp[4200];
	struct stat st;
	size_t len;

	th_fill(payload, sizeof(payload), &seed, 1);
	digest_of(payload, sizeof(payload), &d);
	/* Level 19: not what the store would write itself, so a byte-for-byte copy is visible. */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 19);
	size_t n = ZSTD_compress2(c, file, sizeof(file), payload, sizeof(payload));
	ZSTD_freeCCtx(c);
	cr_assert(!ZSTD_isError(n));
	fill_src src = {file, n};
	cr_assert_eq(sv_objects_adopt(store, &d, fill_from, &src, &info), 0, "%s", sv_error_last());
	cr_assert_eq(info.existed, 0);
	cr_assert_eq(info.length, sizeof(payload));
	cr_assert_eq(info.stored, n);
	sv_objects_path(store, &d, path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq((size_t)st.st_size, n, "the file as it came");
	cr_assert_eq(st.st_mode & 0777, 0444);
	cr_assert_eq(st.st_nlink, 1, "no temp name left linked");
	read_all(&d, back, sizeof(back), &len);
	cr_assert_eq(len, sizeof(payload));
	cr_assert_eq(memcmp(back, payload, len), 0);
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(tmp), 0, "no temp file left behind");

	/* Again: the object is kept as it is. */
	cr_assert_eq(sv_objects_adopt(store, &d, fill_from, &src, &info), 0, "%s", sv_error_last());
	cr_assert_eq(info.existed, 1);
	cr_assert_eq(th_count_entries(tmp), 0);
}

Test(objects, adopt_refuses_a_file_that_does_not_hash_to_its_name)
{
	static unsigned char payload[20000], other[20000], file[30000];
	uint64_t seed = 41;
	sv_digest d;
	char path[4096], tmp[4200], fan[4200];

	th_fill(payload, sizeof(payload), &seed, 1);
	th_fill(other, sizeof(other), &seed, 1);
	digest_of(payload, sizeof(payload), &d);
	fill_src src = {file, compress_frame(other, sizeof(other), 1, file, sizeof(file))};
	cr_assert_eq(sv_objects_adopt(store, &d, fill_from, &src, NULL), SV_ECORRUPT);
	cr_assert_eq(sv_objects_exists(store, &d), 0);
	sv_objects_path(store, &d, path, sizeof(path));
	snprintf(fan, sizeof(fan), "%s", path);
	*strrchr(fan, '/') = '\0';
	cr_assert(access(fan, F_OK) != 0 || th_count_entries(fan) == 0, "nothing under sha256/");
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(tmp), 0, "no temp file left behind");

	/* A truncated file, and a fill that fails, leave nothing either. */
	compress_frame(payload, sizeof(payload), 1, file, sizeof(file));
	src.len = 100;
	cr_assert_eq(sv_objects_adopt(store, &d, fill_from, &src, NULL), SV_ECORRUPT);
	src.len = 0;
	cr_assert_eq(sv_objects_adopt(store, &d, fill_from, &src, NULL), SV_ECORRUPT);
	cr_assert_eq(sv_objects_exists(store, &d), 0);
	cr_assert_eq(th_count_entries(tmp), 0);
}

Test(objects, adopt_writes_again_a_payload_in_frames_without_checksum)
{
	static unsigned char payload[20000], file[30000], back[20000];
	uint64_t seed = 51;
	sv_digest d;
	sv_objects_commit_info info;
	char path[4096];
	size_t len;
	int fd;

	th_fill(payload, sizeof(payload), &seed, 1);
	digest_of(payload, sizeof(payload), &d);
	fill_src src = {file, compress_frame(payload, sizeof(payload), 0, file, sizeof(file))};
	cr_assert_eq(sv_objects_adopt(store, &d, fill_from, &src, &info), 0, "%s", sv_error_last());
	cr_assert_eq(info.length, sizeof(payload));
	read_all(&d, back, sizeof(back), &len);
	cr_assert_eq(len, sizeof(payload));
	cr_assert_eq(memcmp(back, payload, len), 0);
	sv_objects_path(store, &d, path, sizeof(path));
	cr_assert_geq(fd = open(path, O_RDONLY), 0);
	cr_assert_eq(sv_verify_frames(fd, path), 0, "the stored copy follows the store's rules: %s", sv_error_last());
	close(fd);
}
