/*
 * common/error.c -- the per-thread last error message.
 */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];
static _Thread_local int last_code;

/* Appends ": " and text to last_msg, cut to fit. */
static void append(const char *text)
{
	size_t n = strlen(last_msg);
	for (const char *p = ": "; *p && n + 1 < sizeof(last_msg); p++)
		last_msg[n++] = *p;
	while (*text && n + 1 < sizeof(last_msg))
		last_msg[n++] = *text++;
	last_msg[n] = '\0';
}

static int set_va(int code, const char *suffix, const char *fmt, va_list ap)
{
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	if (suffix)
		append(suffix);
	last_code = code;
	return code;
}

int sv_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_va(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int sv_error_errno(int errnum, const char *fmt, ...)
{
	int code = (errnum == ENOSPC || errnum == EFBIG || errnum == EDQUOT) ? SV_ENOSPC : SV_EIO;
	va_list ap;
	va_start(ap, fmt);
	set_va(code, strerror(errnum), fmt, ap);
	va_end(ap);
	return code;
}

int sv_error_prefix(const char *fmt, ...)
{
	char old[sizeof(last_msg)];
	va_list ap;
	memcpy(old, last_msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	append(old);
	return last_code;
}

const char *sv_error_last(void)
{
	return last_msg[0] ? last_msg : "unknown error";
}

int sv_error_code(void)
{
	return last_code;
}

int sv_error_exit_status(int code)
{
	switch (code) {
	case SV_OK:
		return 0;
	case SV_ENOTFOUND:
	case SV_ECORRUPT:
		return 1;
	case SV_EINVAL:
		return 2;
	default:
		return 3;
	}
}
