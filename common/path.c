/*
 * common/path.c -- joining path names without silent truncation.
 */
#include "path.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sv_path_join(char *buf, size_t cap, const char *a, const char *b)
{
	int n = snprintf(buf, cap, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= cap)
		return sv_error_set(SV_EINVAL, "path too long: '%s/%s'", a, b);
	return 0;
}

char *sv_path_dup(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", a, b);
	return s;
}
