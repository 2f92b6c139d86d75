/*
 * tests/unit/test_ledger_ssh.c -- the shell script that makes a missing
 * ledger on an ssh server (storage/ledger_ssh.c), run here by /bin/sh as the
 * server's shell would run it: a path with spaces, quotes and ';' is one
 * word and runs nothing; only the last folder is made; a folder holding
 * something, or a repository already there, is left alone. The ssh session
 * itself is tested end to end in tests/e2e/test_mirror.sh.
 */
#include "helpers.h"

#include "../../storage/ledger_private.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Runs the script for path with dir as the home folder; its exit status. */
static int run_script(const char *dir, const char *path)
{
	char script[4 * PATH_MAX + 512], parent[PATH_MAX + 2];
	cr_assert_eq(sv_ledger_ssh_script(path, script, sizeof(script), parent, sizeof(parent)), 0, "%s", path);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(90);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(91);
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Entries of a folder (th_count_entries goes through a shell, which these names would upset). */
static int entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;
	cr_assert_not_null(d, "cannot open %s", path);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static int is_bare_repo(const char *path)
{
	char head[PATH_MAX + 8];
	struct stat st;
	snprintf(head, sizeof(head), "%s/HEAD", path);
	return stat(head, &st) == 0 && S_ISREG(st.st_mode);
}

Test(ledger_ssh, odd_path_is_one_word)
{
	char dir[PATH_MAX], odd[PATH_MAX], path[PATH_MAX], pwned[PATH_MAX + 16];
	th_tempdir(dir, sizeof(dir));
	snprintf(odd, sizeof(odd), "%s/a b'c\"d;touch pwned;$(touch pwned)`touch pwned`", dir);
	cr_assert_eq(mkdir(odd, 0755), 0);
	snprintf(path, sizeof(path), "%s/ledger.git", odd);
	cr_assert_eq(run_script(dir, path), 0);
	cr_assert(is_bare_repo(path));
	snprintf(pwned, sizeof(pwned), "%s/pwned", dir);
	cr_assert_neq(access(pwned, F_OK), 0, "a word of the path ran as a command");
	cr_assert_eq(entries(odd), 1);
	/* Again: a repository is there now. */
	cr_assert_eq(run_script(dir, path), 99);
	th_rmrf(dir);
}

Test(ledger_ssh, only_the_last_folder)
{
	char dir[PATH_MAX], path[PATH_MAX], above[PATH_MAX];
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/unmounted/off/ledger.git", dir);
	cr_assert_eq(run_script(dir, path), 97);
	snprintf(above, sizeof(above), "%s/unmounted", dir);
	cr_assert_neq(access(above, F_OK), 0, "a folder above the ledger was made");
	th_rmrf(dir);
}

Test(ledger_ssh, taken_folder_left_alone)
{
	char dir[PATH_MAX], path[PATH_MAX], note[PATH_MAX + 16];
	th_tempdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/taken", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(note, sizeof(note), "%s/notes.txt", path);
	FILE *f = fopen(note, "w");
	cr_assert(f);
	fputs("someone's\n", f);
	fclose(f);
	cr_assert_eq(run_script(dir, path), 98);
	cr_assert_eq(entries(path), 1);
	/* An empty folder is taken as the place for it. */
	snprintf(path, sizeof(path), "%s/empty", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(run_script(dir, path), 0);
	cr_assert(is_bare_repo(path));
	th_rmrf(dir);
}

Test(ledger_ssh, home_relative_paths)
{
	char dir[PATH_MAX], path[PATH_MAX], script[1024], parent[64];
	th_tempdir(dir, sizeof(dir));
	/* ~/x and x are x in the home folder, where an ssh session starts; -x is not an option. */
	cr_assert_eq(run_script(dir, "~/one.git"), 0);
	cr_assert_eq(run_script(dir, "-two.git"), 0);
	snprintf(path, sizeof(path), "%s/one.git", dir);
	cr_assert(is_bare_repo(path));
	snprintf(path, sizeof(path), "%s/-two.git", dir);
	cr_assert(is_bare_repo(path));
	cr_assert_lt(sv_ledger_ssh_script("~bob/x.git", script, sizeof(script), parent, sizeof(parent)), 0);
	cr_assert_lt(sv_ledger_ssh_script("/srv/..", script, sizeof(script), parent, sizeof(parent)), 0);
	th_rmrf(dir);
}
