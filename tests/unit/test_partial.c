/*
 * tests/unit/test_partial.c -- partial downloads in tmp/: kept, found again,
 * replayed, discarded; and the start-of-crawl clean-up of bodies whose meta
 * file was never written.
 */
#include "helpers.h"

#include "../../crawler/partial.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];

static void setup(void)
{
	th_tempdir(dir, sizeof(dir));
}

static void teardown(void)
{
	th_rmrf(dir);
}

TestSuite(partial, .init = setup, .fini = teardown, .timeout = 60);

static void touch(const char *name, const char *text)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

static int exists(const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int collect(void *ctx, const void *buf, size_t len)
{
	char *out = ctx;
	strncat(out, buf, len);
	return 0;
}

Test(partial, kept_found_replayed_and_discarded)
{
	sv_partial p, again;
	char got[64] = "";
	const char *url = "http://127.0.0.1:1/big.csv";
	cr_assert_eq(sv_partial_find(&p, dir, url), 0, "nothing kept yet");
	cr_assert_eq(sv_partial_begin(&p, dir, url, "\"etag-1\""), 0);
	cr_assert_eq(sv_partial_append(&p, "abc", 3), 0);
	cr_assert_eq(sv_partial_append(&p, "def", 3), 0);
	sv_partial_close(&p);
	cr_assert_eq(sv_partial_find(&again, dir, url), 1);
	cr_assert_eq(again.have, 6);
	cr_assert_str_eq(again.validator, "\"etag-1\"");
	cr_assert_eq(sv_partial_find(&p, dir, "http://127.0.0.1:1/other.csv"), 0, "another URL has none");
	cr_assert_eq(sv_partial_replay(&again, collect, got), 0);
	cr_assert_str_eq(got, "abcdef");
	sv_partial_discard(&again);
	cr_assert_eq(th_count_entries(dir), 0, "both files removed");
	cr_assert_eq(sv_partial_find(&p, dir, url), 0);
}

Test(partial, clean_removes_bodies_without_meta_only)
{
	char name[128];
	touch("partial-aaaa", "orphan body: the crawl died before its meta file");
	touch("partial-bbbb", "body");
	touch("partial-bbbb.meta", "http://x/\n\"e\"\n");
	touch("partial-cccc.meta", "meta alone is harmless; find() needs the body too");
	touch("unrelated", "not ours");
	cr_assert_eq(sv_partial_clean(dir), 0);
	cr_assert(!exists("partial-aaaa"));
	cr_assert(exists("partial-bbbb") && exists("partial-bbbb.meta"));
	cr_assert(exists("partial-cccc.meta"));
	cr_assert(exists("unrelated"));
	snprintf(name, sizeof(name), "%s/missing", dir);
	cr_assert_eq(sv_partial_clean(name), 0, "no tmp/ yet is not an error");
}
