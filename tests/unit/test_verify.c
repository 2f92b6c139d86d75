/*
 * tests/unit/test_verify.c -- verify finds each kind of damage, names the
 * damaged file and only it, in deep and in fast mode.
 */
#include "helpers.h"

#include "../../common/error.h"
#include "../../storage/objects.h"
#include "../../storage/verify.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

static char dir[4096];
static sv_objects *store;
static sv_digest good[3];

typedef struct {
	int n;
	char paths[16][4200];
	char problems[16][256];
} found;

static void on_damaged(void *ctx, const char *path, const char *problem)
{
	found *f = ctx;
	if (f->n < 16) {
		snprintf(f->paths[f->n], sizeof(f->paths[0]), "%s", path);
		snprintf(f->problems[f->n], sizeof(f->problems[0]), "%s", problem);
	}
	f->n++;
}

static sv_verify_stats run(int fast, found *f)
{
	sv_verify_options o = SV_VERIFY_OPTIONS_INIT;
	sv_verify_stats s;
	memset(f, 0, sizeof(*f));
	o.fast = fast;
	o.damaged = on_damaged;
	o.ctx = f;
	cr_assert_eq(sv_verify_objects(dir, &o, &s), 0, "%s", sv_error_last());
	cr_assert_eq(s.damaged, (uint64_t)f->n);
	return s;
}

static void setup(void)
{
	/* Three objects: small, medium, and large enough for the pipelined check. */
	static const size_t sizes[3] = {1000, 300000, 40u << 20};
	uint64_t seed = 1;
	th_tempdir(dir, sizeof(dir));
	cr_assert_eq(sv_objects_open(&store, dir, NULL), 0);
	for (int i = 0; i < 3; i++) {
		unsigned char *buf = malloc(sizes[i]);
		th_fill(buf, sizes[i], &seed, i != 1);
		sv_objects_writer *w;
		cr_assert_eq(sv_objects_writer_new(&w, store, -1), 0);
		cr_assert_eq(sv_objects_writer_write(w, buf, sizes[i]), 0);
		cr_assert_eq(sv_objects_writer_commit(w, &good[i], NULL), 0);
		free(buf);
	}
}

static void teardown(void)
{
	sv_objects_free(store);
	th_rmrf(dir);
}

TestSuite(verify, .init = setup, .fini = teardown, .timeout = 120);

static void object_path(int i, char *buf)
{
	sv_objects_path(store, &good[i], buf, 4096);
	chmod(buf, 0644);
}

Test(verify, clean_store)
{
	found f;
	sv_verify_stats s = run(0, &f);
	cr_assert_eq(f.n, 0, "unexpected: %s: %s", f.paths[0], f.problems[0]);
	cr_assert_eq(s.objects, 3);
	s = run(1, &f);
	cr_assert_eq(f.n, 0);
	cr_assert_eq(s.objects, 3);
}

/* Damage applied to object i, and whether fast mode must see it. */
typedef struct {
	char name[32];
	int object;
	int fast_sees;
} damage_case;

static void apply(const damage_case *c, char *damaged_path)
{
	char path[4096], other[4200], hex[65];
	object_path(c->object, path);
	strcpy(damaged_path, path);
	if (!strcmp(c->name, "flip")) {
		int fd = open(path, O_WRONLY);
		struct stat st;
		fstat(fd, &st);
		cr_assert_eq(pwrite(fd, "\xA5", 1, st.st_size / 2), 1);
		close(fd);
	} else if (!strcmp(c->name, "truncate")) {
		struct stat st;
		stat(path, &st);
		cr_assert_eq(truncate(path, st.st_size - 7), 0);
	} else if (!strcmp(c->name, "empty")) {
		cr_assert_eq(truncate(path, 0), 0);
	} else if (!strcmp(c->name, "wrong_prefix")) {
		sv_digest_to_hex(&good[c->object], hex);
		snprintf(other, sizeof(other), "%s/sha256/%s", dir, hex[0] == '0' ? "11" : "00");
		mkdir(other, 0755);
		snprintf(other, sizeof(other), "%s/sha256/%s/%s.zst", dir, hex[0] == '0' ? "11" : "00", hex);
		cr_assert_eq(rename(path, other), 0);
		strcpy(damaged_path, other);
	} else if (!strcmp(c->name, "misnamed")) {
		/* A valid object under another valid name in its own prefix folder. */
		sv_digest_to_hex(&good[c->object], hex);
		hex[63] = hex[63] == '0' ? '1' : '0';
		snprintf(other, sizeof(other), "%s/sha256/%.2s/%s.zst", dir, hex, hex);
		cr_assert_eq(rename(path, other), 0);
		strcpy(damaged_path, other);
	} else if (!strcmp(c->name, "stray_file")) {
		snprintf(damaged_path, 4096, "%s/sha256/%.2s/notes.txt", dir, path + strlen(dir) + 8);
		close(open(damaged_path, O_CREAT | O_WRONLY, 0644));
	} else if (!strcmp(c->name, "stray_dir")) {
		snprintf(damaged_path, 4096, "%s/sha256/zz", dir);
		mkdir(damaged_path, 0755);
	} else if (!strcmp(c->name, "leftover_temp")) {
		snprintf(damaged_path, 4096, "%s/tmp/obj-AbC123", dir);
		close(open(damaged_path, O_CREAT | O_WRONLY, 0600));
	} else if (!strcmp(c->name, "no_checksum")) {
		char cmd[8400];
		snprintf(cmd, sizeof(cmd), "zstd -dc '%s' | zstd -q --no-check -c > '%s.new' && mv '%s.new' '%s'",
			 path, path, path, path);
		cr_assert_eq(system(cmd), 0);
	} else {
		cr_assert_fail("unknown damage %s", c->name);
	}
}

ParameterizedTestParameters(verify, finds_damage)
{
	static damage_case cases[] = {
		{"flip", 0, 0},         {"flip", 1, 0},          {"flip", 2, 0},
		{"truncate", 0, 1},     {"truncate", 2, 1},      {"empty", 1, 1},
		{"wrong_prefix", 1, 1}, {"misnamed", 0, 0},      {"misnamed", 2, 0},
		{"stray_file", 1, 1},   {"stray_dir", 0, 1},     {"leftover_temp", 0, 1},
		{"no_checksum", 1, 1},
	};
	return cr_make_param_array(damage_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(damage_case *c, verify, finds_damage)
{
	char damaged[4200];
	found f;
	apply(c, damaged);

	run(0, &f);
	cr_assert_eq(f.n, 1, "%s of object %d: %d problems reported", c->name, c->object, f.n);
	cr_assert_str_eq(f.paths[0], damaged, "%s: reported %s (%s)", c->name, f.paths[0], f.problems[0]);

	run(1, &f);
	if (c->fast_sees) {
		cr_assert_eq(f.n, 1, "fast mode missed %s", c->name);
		cr_assert_str_eq(f.paths[0], damaged);
	} else {
		cr_assert_eq(f.n, 0, "fast mode does not decompress, so sees no %s", c->name);
	}
}

Test(verify, temp_held_by_a_live_writer_is_not_damage)
{
	sv_objects_writer *w;
	unsigned char buf[1 << 16] = {0};
	found f;
	cr_assert_eq(sv_objects_writer_new(&w, store, -1), 0);
	for (int i = 0; i < 16; i++) /* past the in-memory head: a temp file exists now */
		cr_assert_eq(sv_objects_writer_write(w, buf, sizeof(buf)), 0);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
	cr_assert_eq(th_count_entries(tmp), 1);
	run(0, &f);
	cr_assert_eq(f.n, 0);
	sv_objects_writer_abort(w);
}

Test(verify, content_size_that_blocks_contradict)
{
	/* A raw-block frame: header with content size 5, then a 5-byte raw block;
	 * claim 9 bytes instead. Fast mode must catch it. */
	char path[4096];
	unsigned char frame[] = {0x28, 0xB5, 0x2F, 0xFD, 0x24, 0x09, /* single segment, fcs=9, checksum */
				 0x29, 0x00, 0x00,                   /* last raw block, size 5 */
				 'h',  'e',  'l',  'l',  'o',  0, 0, 0, 0};
	object_path(0, path);
	int fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert_eq(write(fd, frame, sizeof(frame)), (ssize_t)sizeof(frame));
	close(fd);
	found f;
	run(1, &f);
	cr_assert_eq(f.n, 1);
	cr_assert(strstr(f.problems[0], "records 9 bytes") != NULL, "%s", f.problems[0]);
}
