/*
 * storage/transport_file.c -- the file transport: a mirror in a folder of
 * this machine (file:///abs/path).
 *
 * What must stay true: a file appears under its name only complete (a temp
 * file beside it, renamed into place), and a batch is reported done only
 * once one syncfs made all of it durable; the folder must exist when opened,
 * except that a push makes its last folder when the one above it exists (as
 * rsync and restic do for a first copy; a missing disk whose mount point
 * itself is gone still stops it).
 */
#include "transport_backend.h"

#include "../common/error.h"
#include "../common/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Threads copying one batch to a file mirror at once (fewer if transfers says so). */
#define FILE_WORKERS 4


static char *file_path(const sv_transport *t, const char *name)
{
	return *name ? sv_path_dup(t->root, name) : strdup(t->root);
}

static int file_stat(sv_transport *t, const char *name, int64_t *size)
{
	struct stat st;
	char *path = file_path(t, name);
	int rc = 0;
	if (!path)
		return sv_transport_oom(t);
	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			*size = -1;
		else
			rc = sv_transport_fail(t, SV_EIO, "cannot stat '%s': %s", name, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		rc = sv_transport_fail(t, SV_EIO, "'%s' is not a regular file", name);
	} else {
		*size = (int64_t)st.st_size;
	}
	free(path);
	return rc;
}

/* Walks rel (a folder under root, "" for root itself); name holds rel, PATH_MAX long. */
static int file_walk(list_state *ls, char *name, size_t len)
{
	sv_transport *t = ls->t;
	char *path = file_path(t, name);
	DIR *d;
	struct dirent *de;
	int rc = 0;
	if (!path)
		return sv_transport_oom(t);
	d = opendir(path);
	free(path);
	if (!d) {
		if (errno == ENOENT || (errno == ENOTDIR && len > 0))
			return 0;
		return sv_transport_fail(t, SV_EIO, "cannot list '%s': %s", name, strerror(errno));
	}
	while (rc == 0) {
		struct stat st;
		size_t n;
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				rc = sv_transport_fail(t, SV_EIO, "cannot list '%s': %s", name, strerror(errno));
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n = strlen(de->d_name);
		if (len + n + 2 > PATH_MAX)
			continue;
		if (len)
			name[len] = '/';
		memcpy(name + len + (len ? 1 : 0), de->d_name, n + 1);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				rc = sv_transport_fail(t, SV_EIO, "cannot stat '%s': %s", name, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			if (sv_transport_segment_ok(de->d_name, n))
				rc = file_walk(ls, name, len + n + (len ? 1 : 0));
		} else if (S_ISREG(st.st_mode)) {
			rc = sv_transport_emit(ls, name, (int64_t)st.st_size);
		}
		name[len] = '\0';
	}
	closedir(d);
	return rc;
}

static int file_list(sv_transport *t, const char *dir, int temps, sv_transport_list_fn fn, void *ctx)
{
	list_state ls = {t, temps, fn, ctx};
	char name[PATH_MAX];
	snprintf(name, sizeof(name), "%s", dir);
	return file_walk(&ls, name, strlen(name));
}

/* mkdir -p of name's folder under root (root itself must exist). */
static int file_make_parents(sv_transport *t, const char *name)
{
	char rel[SV_TRANSPORT_NAME_MAX + 1];
	snprintf(rel, sizeof(rel), "%s", name);
	for (char *p = strchr(rel, '/'); p; p = strchr(p + 1, '/')) {
		char *path;
		*p = '\0';
		path = file_path(t, rel);
		if (!path)
			return sv_transport_oom(t);
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			int e = errno;
			free(path);
			return sv_transport_fail(t, SV_EIO, "cannot create folder '%s': %s", rel, strerror(e));
		}
		free(path);
		*p = '/';
	}
	return 0;
}

/* Copies everything from in to out; -1 with errno, and *which: 0 reading, 1 writing. */
static int copy_fd(int in, int out, int64_t max, int *which, int *too_big)
{
	char *buf = malloc(IO_CHUNK);
	int64_t total = 0;
	int rc = 0;
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		ssize_t r = read(in, buf, IO_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*which = 0;
			rc = -1;
			break;
		}
		if (r == 0)
			break;
		total += r;
		if (max >= 0 && total > max) {
			*too_big = 1;
			rc = -1;
			break;
		}
		if (sv_transport_write_all(out, buf, (size_t)r) != 0) {
			*which = 1;
			rc = -1;
			break;
		}
	}
	free(buf);
	return rc;
}

/*
 * Copies the file in to out whole, in the kernel where it can (copy_file_range:
 * no trip through our memory, and a reflink where the file system shares
 * blocks); -1 with errno and *which as copy_fd.
 */
static int copy_file(int in, int out, int *which)
{
	int too_big = 0;
	for (;;) {
		ssize_t r = copy_file_range(in, NULL, out, NULL, IO_CHUNK, 0);
		if (r > 0)
			continue;
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		/* Not between these two (other file systems, old kernels): copy it ourselves, from where it stopped. */
		if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)
			return copy_fd(in, out, -1, which, &too_big);
		*which = errno == ENOSPC || errno == EDQUOT || errno == EFBIG;
		return -1;
	}
}

/* Uploads one item; its parent folders exist. */
static int file_put_one(sv_transport *t, const put_item *it)
{
	char *tmp_rel = NULL, *tmp = NULL, *final = NULL;
	int in = -1, out = -1, rc = 0, which = 0;

	tmp_rel = sv_transport_temp_name(it->name);
	tmp = tmp_rel ? file_path(t, tmp_rel) : NULL;
	final = file_path(t, it->name);
	if (!tmp || !final) {
		rc = sv_transport_oom(t);
		goto done;
	}
	if (it->local && (in = open(it->local, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = sv_transport_fail(t, SV_EIO, "cannot put '%s': cannot open '%s': %s", it->name, it->local, strerror(errno));
		goto done;
	}
	out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		rc = sv_transport_fail(t, errno == ENOSPC ? SV_ENOSPC : SV_EIO, "cannot put '%s': cannot create '%s': %s", it->name,
			  tmp_rel, strerror(errno));
		goto done;
	}
	if (it->local ? copy_file(in, out, &which) != 0 : sv_transport_write_all(out, it->data, it->len) != 0) {
		int e = errno;
		if (it->local && which == 0)
			rc = sv_transport_fail(t, SV_EIO, "cannot put '%s': cannot read '%s': %s", it->name, it->local, strerror(e));
		else
			rc = sv_transport_fail(t, e == ENOSPC || e == EDQUOT ? SV_ENOSPC : SV_EIO, "cannot put '%s': %s", it->name,
				  strerror(e));
		goto done;
	}
	if (close(out) != 0) {
		out = -1;
		rc = sv_transport_fail(t, SV_EIO, "cannot put '%s': cannot write: %s", it->name, strerror(errno));
		goto done;
	}
	out = -1;
	if (rename(tmp, final) != 0) {
		rc = sv_transport_fail(t, SV_EIO, "cannot put '%s': cannot rename: %s", it->name, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL;
	/* Durable at the end of the batch: one syncfs, not two fsyncs a file. */
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(tmp_rel);
	free(final);
	return rc;
}

/* One batch of file puts, shared by the threads that copy it. */
typedef struct {
	sv_transport *t;
	const put_item *items;
	size_t n;
	atomic_size_t next; /* the next item to take */
	int *rcs;           /* each item's outcome */
	char **msgs;        /* and its message, when it failed */
} file_batch;

static void *file_worker(void *arg)
{
	file_batch *b = arg;
	for (size_t i; (i = atomic_fetch_add(&b->next, 1)) < b->n;) {
		if (b->rcs[i]) /* its folder could not be made */
			continue;
		if ((b->rcs[i] = file_put_one(b->t, &b->items[i])) != 0)
			b->msgs[i] = strdup(sv_error_last());
	}
	return NULL;
}

/* 1 if names a and b are in the same folder. */
static int same_folder(const char *a, const char *b)
{
	size_t la = (size_t)(sv_transport_base_of(a) - a);
	return la == (size_t)(sv_transport_base_of(b) - b) && strncmp(a, b, la) == 0;
}

/* Makes each item's parent folders, each folder once; an item whose folder cannot be made fails. */
static void file_make_folders(file_batch *b)
{
	const char **made = calloc(b->n ? b->n : 1, sizeof(*made)); /* without it, each item's are made */
	size_t nmade = 0;
	for (size_t i = 0; i < b->n; i++) {
		size_t k = 0;
		while (k < nmade && !same_folder(made[k], b->items[i].name))
			k++;
		if (k < nmade)
			continue;
		if ((b->rcs[i] = file_make_parents(b->t, b->items[i].name)) != 0)
			b->msgs[i] = strdup(sv_error_last());
		else if (made)
			made[nmade++] = b->items[i].name;
	}
	free(made);
}

/*
 * Every file goes to a temp name and is renamed into place, by up to
 * FILE_WORKERS threads at once (the cost is the file system's, per file: a
 * new inode and two names); then one syncfs makes the whole batch durable,
 * and only then is each reported done (the caller remembers what the mirror
 * holds from those reports). rsync-like speed for thousands of small objects,
 * with the same promise as one fsync per file.
 */
static int file_put(sv_transport *t, const put_item *items, size_t n, int replace, sv_transport_done_fn done, void *ctx)
{
	int first = 0, synced = 0;
	const char *first_msg = NULL;
	file_batch b = {t, items, n, 0, calloc(n ? n : 1, sizeof(int)), calloc(n ? n : 1, sizeof(char *))};
	pthread_t threads[FILE_WORKERS - 1];
	size_t nthreads = 0, want = n < t->limit ? n : t->limit;
	(void)replace; /* rename replaces atomically */
	if (!b.rcs || !b.msgs) {
		free(b.rcs);
		free(b.msgs);
		return sv_transport_oom(t);
	}
	file_make_folders(&b);
	/* This thread copies too; a thread that cannot start leaves its share to the others. */
	if (want > FILE_WORKERS)
		want = FILE_WORKERS;
	while (nthreads + 1 < want && pthread_create(&threads[nthreads], NULL, file_worker, &b) == 0)
		nthreads++;
	file_worker(&b);
	for (size_t k = 0; k < nthreads; k++)
		pthread_join(threads[k], NULL);

	int fd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	synced = fd >= 0 && syncfs(fd) == 0;
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (!synced) {
		char why[600];
		snprintf(why, sizeof(why), "cannot sync the mirror folder: %s", strerror(e));
		for (size_t i = 0; i < n; i++)
			if (!b.rcs[i]) {
				b.rcs[i] = SV_EIO;
				b.msgs[i] = strdup(why);
			}
	}
	for (size_t i = 0; i < n; i++) {
		const char *msg = b.rcs[i] ? (b.msgs[i] ? b.msgs[i] : "upload failed") : NULL;
		if (b.rcs[i] && !first) {
			first = b.rcs[i];
			first_msg = msg;
		}
		if (done)
			done(ctx, i, b.rcs[i], msg);
	}
	if (first)
		sv_error_set(first, "%s", first_msg);
	for (size_t i = 0; i < n; i++)
		free(b.msgs[i]);
	free(b.msgs);
	free(b.rcs);
	return first;
}

static int file_get(sv_transport *t, const char *name, int fd, int64_t from, int64_t max)
{
	char *path = file_path(t, name);
	int in, rc = 0, which = 0, too_big = 0;
	if (!path)
		return sv_transport_oom(t);
	in = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (in < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return sv_transport_fail(t, SV_ENOTFOUND, "cannot get '%s': no such file", name);
		return sv_transport_fail(t, SV_EIO, "cannot get '%s': %s", name, strerror(errno));
	}
	if (from > 0 && lseek(in, from, SEEK_SET) != from) {
		rc = sv_transport_fail(t, SV_EIO, "cannot get '%s': cannot resume after %lld bytes: %s", name,
				       (long long)from, strerror(errno));
	} else if (copy_fd(in, fd, max < 0 ? max : max > from ? max - from : 0, &which, &too_big) != 0) {
		int e = errno;
		if (too_big)
			rc = sv_transport_fail(t, SV_ECORRUPT, "cannot get '%s': larger than %lld bytes", name, (long long)max);
		else
			rc = sv_transport_fail(t, which && (e == ENOSPC || e == EDQUOT) ? SV_ENOSPC : SV_EIO, "cannot get '%s': %s",
				  name, strerror(e));
	}
	close(in);
	return rc;
}

static int file_remove(sv_transport *t, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *path = file_path(t, names[i]);
		if (!path)
			return sv_transport_oom(t);
		if (unlink(path) != 0 && errno != ENOENT) {
			int e = errno;
			free(path);
			return sv_transport_fail(t, SV_EIO, "cannot remove '%s': %s", names[i], strerror(e));
		}
		free(path);
	}
	return 0;
}

static const transport_ops file_ops = {file_stat, file_list, file_put, file_get, file_remove, NULL, NULL};

int sv_transport_file_open(sv_transport *t, CURLU *u, const sv_transport_options *o)
{
	char *host = sv_transport_url_part(u, CURLUPART_HOST, 0);
	struct stat st;
	int rc = 0;
	if (host && *host && strcmp(host, "localhost") != 0)
		rc = sv_transport_fail(t, SV_EINVAL, "a file URL names a folder on this machine (file:///path)");
	free(host);
	if (rc)
		return rc;
	if (!(t->root = sv_transport_url_part(u, CURLUPART_PATH, CURLU_URLDECODE)))
		return sv_transport_oom(t);
	sv_transport_strip_slashes(t->root);
	if (t->root[0] != '/')
		return sv_transport_fail(t, SV_EINVAL, "a file URL needs an absolute path");
	/* Only one level is made: a mirror on a disk that is not mounted must not fill a parent. */
	if (stat(t->root, &st) != 0 &&
	    !(errno == ENOENT && o && o->create && mkdir(t->root, 0755) == 0 && stat(t->root, &st) == 0))
		return sv_transport_fail(t, SV_EIO, "cannot open: %s", strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return sv_transport_fail(t, SV_EINVAL, "not a folder");
	t->ops = file_ops;
	return 0;
}

