/*
 * tests/unit/helpers.h -- shared by the unit tests: temp folders, data
 * generators and an independent SHA-256.
 */
#ifndef SV_TEST_HELPERS_H
#define SV_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh temp folder under $SALVAGE_TEST_TMP (or /tmp), into buf. */
static inline void th_tempdir(char *buf, size_t cap)
{
	const char *base = getenv("SALVAGE_TEST_TMP");
	snprintf(buf, cap, "%s/salvage-unit.XXXXXX", base && *base ? base : "/tmp");
	cr_assert_not_null(mkdtemp(buf), "mkdtemp failed");
}

static inline void th_rmrf(const char *dir)
{
	char cmd[8400];
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
	cr_assert_eq(system(cmd), 0);
}

/* Deterministic bytes: compressible (text-like) when text, else random. */
static inline void th_fill(unsigned char *buf, size_t len, uint64_t *state, int text)
{
	static const char alphabet[] = "abcdefghij,0123456789\n \"";
	for (size_t i = 0; i < len; i++) {
		uint64_t x = *state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*state = x;
		buf[i] = text ? (unsigned char)alphabet[(x >> 20) % (sizeof(alphabet) - 1)] : (unsigned char)(x >> 24);
	}
}

static inline void th_sha256_hex(const void *buf, size_t len, char *hex)
{
	unsigned char md[32];
	unsigned int n;
	EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
}

/* Number of entries (other than . and ..) in a folder. */
static inline int th_count_entries(const char *dir)
{
	char cmd[4200];
	int n = -1;
	snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 -maxdepth 1 | wc -l", dir);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

/* Output of a shell command's first line, into buf. */
static inline void th_run_line(const char *cmd, char *buf, size_t cap)
{
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p, "cannot run %s", cmd);
	if (!fgets(buf, (int)cap, p))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	pclose(p);
}

/* The repository: three levels above this binary (build/rel/tests/), else the working folder. */
static inline void th_repo_root(char *buf, size_t cap)
{
	char exe[4096], probe[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 4; up++) {
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = '\0';
		}
		snprintf(probe, sizeof(probe), "%s/tests/servers/sshd.sh", exe);
		if (access(probe, R_OK) == 0) {
			snprintf(buf, cap, "%s", exe);
			return;
		}
	}
	if (!getcwd(buf, cap))
		snprintf(buf, cap, ".");
}

/* Exports the `export K=V` lines of a server's env file into this process. */
static inline void th_load_env(const char *path)
{
	char line[8192];
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot read %s", path);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *eq, *v;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		if (!(eq = strchr(p, '=')))
			continue;
		*eq = '\0';
		v = eq + 1;
		if (*v == '\'' && v[strlen(v) - 1] == '\'') {
			v[strlen(v) - 1] = '\0';
			v++;
		}
		setenv(p, v, 1);
	}
	fclose(f);
}

#endif
