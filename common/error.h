/*
 * common/error.h -- error codes and the last error message.
 * Library code returns 0 or a negative SV_E* code and keeps a message aside
 * with sv_error_set(); only the command layer prints it. The message is kept
 * per thread, so verify's workers do not overwrite each other's.
 */
#ifndef SV_ERROR_H
#define SV_ERROR_H

enum {
	SV_OK = 0,
	SV_EINVAL = -1,    /* bad input or usage: exit 2 */
	SV_ENOTFOUND = -2, /* the thing asked for does not exist: exit 1 */
	SV_ECORRUPT = -3,  /* stored data is damaged: exit 1 */
	SV_EIO = -4,       /* the environment failed (disk, I/O, memory): exit 3 */
	SV_ENOSPC = -5,    /* no space left, or file size limit: exit 3 */
	SV_EUNREACHABLE = -6, /* a server (the shared queue's database) cannot be reached now: try
	                         again later; exit 3 if it never comes back */
};

/* Sets the message of the last error and returns code, for `return sv_error_set(...)`. */
int sv_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like sv_error_set, with ": strerror(errnum)" appended; ENOSPC/EFBIG/EDQUOT give SV_ENOSPC. */
int sv_error_errno(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Puts "<prefix>: " before the last message, keeping its code; returns the code. */
int sv_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *sv_error_last(void);
int sv_error_code(void);

/* The exit status of DESIGN.md for an error code: 0, 1, 2 or 3. */
int sv_error_exit_status(int code);

#endif
