/*
 * cli/cli.c -- helpers shared by the subcommands.
 */
#include "cli.h"

#include "../common/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The escape of the control at *p into out (at least 7 bytes), its length; 0 if *p starts no control. */
static size_t control_escape(const unsigned char *p, int keep_newlines, char *out, size_t *skip)
{
	*skip = 1;
	if ((*p < 0x20 && !(keep_newlines && *p == '\n')) || *p == 0x7f)
		return (size_t)snprintf(out, 7, "\\x%02x", *p);
	if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { /* C1 controls, U+0080-U+009F (CSI is U+009B) */
		*skip = 2;
		return (size_t)snprintf(out, 7, "\\u%04x", p[1]);
	}
	return 0;
}

void sv_cli_put_text(FILE *f, const char *s, int keep_newlines)
{
	char esc[8];
	size_t n, skip;
	for (const unsigned char *p = (const unsigned char *)s; *p; p += skip) {
		if ((n = control_escape(p, keep_newlines, esc, &skip)))
			fwrite(esc, 1, n, f);
		else
			fputc(*p, f);
	}
}

const char *sv_cli_escape(char *buf, size_t cap, const char *s)
{
	char esc[8];
	size_t o = 0, n, skip;
	for (const unsigned char *p = (const unsigned char *)s; *p; p += skip) {
		if (!(n = control_escape(p, 0, esc, &skip)))
			esc[n++] = (char)*p;
		if (o + n >= cap)
			break;
		memcpy(buf + o, esc, n);
		o += n;
	}
	if (cap)
		buf[o] = '\0';
	return buf;
}

int sv_cli_error(int code)
{
	/* Messages may quote what a mirror or a server sent. */
	fputs("salvage: ", stderr);
	sv_cli_put_text(stderr, sv_error_last(), 1);
	fputc('\n', stderr);
	return sv_error_exit_status(code);
}

int sv_cli_usage(const sv_command *cmd, const char *fmt, ...)
{
	va_list ap;
	fputs("salvage: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", cmd->usage);
	return 2;
}

int sv_cli_wants_help(const sv_command *cmd, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(cmd->usage, stdout);
			return 1;
		}
	}
	return 0;
}

int sv_cli_archive(sv_archive **out)
{
	int rc = sv_archive_find(out);
	return rc ? sv_cli_error(rc) : 0;
}

int sv_cli_read_queue(const char *queue_url, sv_archive **a, sv_queue **q)
{
	int rc = sv_archive_find(a);
	if (rc && queue_url) {
		*a = NULL;
		return sv_queue_open(q, queue_url, NULL);
	}
	return rc ? rc : sv_archive_queue(*a, queue_url, q);
}

int sv_cli_progress_enabled(void)
{
	const char *ci = getenv("CI");
	return isatty(STDERR_FILENO) && !(ci && *ci && strcmp(ci, "0") && strcmp(ci, "false"));
}

void sv_cli_meter_start(sv_cli_meter *m)
{
	clock_gettime(CLOCK_MONOTONIC, &m->start);
	m->last = m->start;
}

static double diff_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

double sv_cli_meter_seconds(const sv_cli_meter *m)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return diff_s(&m->start, &now);
}

int sv_cli_meter_due(sv_cli_meter *m)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (diff_s(&m->last, &now) < 0.2)
		return 0;
	m->last = now;
	return 1;
}

void sv_cli_progress_clear(void)
{
	fputs("\r\033[K", stderr);
}

int sv_cli_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return sv_error_errno(errno, "cannot write to standard output");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void sv_cli_seed_report(void *ctx, const sv_seed_event *e)
{
	(void)ctx;
	switch (e->kind) {
	case SV_SEED_PROBLEM:
		fprintf(stderr, "%s:%u:%u: %s\n", e->path, e->line, e->column, e->message);
		break;
	case SV_SEED_UNREADABLE:
		fprintf(stderr, "salvage: %s\n", e->message);
		break;
	case SV_SEED_MORE_PROBLEMS:
		fprintf(stderr, "... and %zu more problems\n", e->count);
		break;
	case SV_SEED_SKIPPING:
		fprintf(stderr, "salvage: %zu problem%s: loading the good rows only (--skip-bad-rows)\n", e->count,
			e->count == 1 ? "" : "s");
		break;
	case SV_SEED_LOADED:
		printf("%s: %zu row%s: %zu new, %zu updated, %zu unchanged, %zu removed\n", e->path, e->rows,
		       e->rows == 1 ? "" : "s", e->result->added, e->result->updated, e->result->unchanged,
		       e->result->paused);
		break;
	}
}

int sv_cli_int_option(const sv_command *cmd, int argc, char **argv, int *i, long min, long max, int *out)
{
	const char *name = argv[*i], *v;
	long n;
	if (*i + 1 >= argc)
		return sv_cli_usage(cmd, "%s needs a number (%ld to %ld)", name, min, max);
	v = argv[++*i];
	errno = 0;
	n = strtol(v, NULL, 10);
	/* digits only: no sign, spaces, fraction or unit, which strtol would pass over */
	if (!*v || v[strspn(v, "0123456789")] || errno || n < min || n > max)
		return sv_cli_usage(cmd, "%s takes a whole number from %ld to %ld, not '%s'", name, min, max, v);
	*out = (int)n;
	return 0;
}
