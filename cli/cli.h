/*
 * cli/cli.h -- what every subcommand shares: its table entry, error
 * printing with DESIGN.md's exit statuses, and whether to show progress.
 * Only this layer prints; the modules below keep their messages aside.
 */
#ifndef SV_CLI_H
#define SV_CLI_H

#include "../crawler/archive.h"
#include "../crawler/seeding.h"
#include "../storage/mirror.h"

#include <stdio.h>
#include <time.h>

typedef struct sv_command {
	const char *name;
	int (*run)(const struct sv_command *cmd, int argc, char **argv); /* argv[0] is the name */
	const char *summary; /* one line for `salvage --help` */
	const char *usage;   /* the full text for `salvage CMD --help` */
} sv_command;

/* Prints "salvage: <last error>" and returns the exit status for code. */
int sv_cli_error(int code);
/*
 * Writes s to f with control bytes shown escaped (\x1b; C1 controls as
 * \u009b), so that text from a ledger, a mirror or a server never drives the
 * terminal. keep_newlines: '\n' is written as it is (multi-line messages).
 */
void sv_cli_put_text(FILE *f, const char *s, int keep_newlines);
/* The same into buf (cut to fit, whole escapes only); returns buf. */
const char *sv_cli_escape(char *buf, size_t cap, const char *s);
/* Prints "salvage: <message>" and the command's usage to stderr; returns 2. */
int sv_cli_usage(const sv_command *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 if argv[i] is -h or --help (and prints the usage to stdout). */
int sv_cli_wants_help(const sv_command *cmd, int argc, char **argv);
/* The archive the command runs in (after -C); prints the error itself and returns the exit status. */
int sv_cli_archive(sv_archive **out);
/*
 * The queue a command that only reads it shows (status, report): queue_url
 * (--queue), else the archive's (queue.url, else its queue.db). With
 * queue_url no archive is needed (*a NULL): a coordinator may look from
 * anywhere. Errors are returned, not printed.
 */
int sv_cli_read_queue(const char *queue_url, sv_archive **a, sv_queue **q);
/*
 * The number after option argv[*i] (moving *i past it), digits only, from
 * min to max; else the usage message and 2, which the command returns.
 */
int sv_cli_int_option(const sv_command *cmd, int argc, char **argv, int *i, long min, long max, int *out);
/* Progress lines go to stderr only on a terminal, and never under CI. */
int sv_cli_progress_enabled(void);
/* Elapsed time for progress lines and summaries. */
typedef struct {
	struct timespec start, last;
} sv_cli_meter;
void sv_cli_meter_start(sv_cli_meter *m);
double sv_cli_meter_seconds(const sv_cli_meter *m);
/* 1 when a progress line is due (at most every 200 ms). */
int sv_cli_meter_due(sv_cli_meter *m);
/* Clears the progress line. */
void sv_cli_progress_clear(void);

/* Prints what loading sheets reports (sv_seed_sheets): problems to stderr, each sheet loaded to stdout. */
void sv_cli_seed_report(void *ctx, const sv_seed_event *e);

/* Writes all of buf to fd, retrying short writes. */
int sv_cli_write_all(int fd, const void *buf, size_t len);

/*
 * For add and clone: if argv[*i] is one of a remote's options (--objects,
 * --ledger, --s3-endpoint, --s3-region, --ssh-key, --known-hosts; "--x=V"
 * or "--x V"), stores its value in r and returns 1, with *rc = 2 after
 * printing cmd's usage when the value is missing or given twice; 0 if it is
 * something else.
 */
int sv_mirror_parse_remote_flag(sv_mirror_remote *r, int argc, char **argv, int *i, const sv_command *cmd, int *rc);
/*
 * The mirror commands that others run too (clone, verify --remote): they
 * print what `mirror verify` and `mirror pull` print and return their exit
 * status.
 */
int sv_cli_mirror_verify(const sv_archive *a, const char *name, int deep, double sample);
int sv_cli_mirror_pull(const sv_archive *a, const sv_mirror_remote *r);

extern const sv_command sv_cmd_mirror, sv_cmd_clone;
extern const sv_command sv_cmd_init, sv_cmd_put, sv_cmd_cat, sv_cmd_verify, sv_cmd_seed, sv_cmd_status, sv_cmd_ls,
	sv_cmd_crawl, sv_cmd_reindex, sv_cmd_worker, sv_cmd_export, sv_cmd_import, sv_cmd_report;

#endif
