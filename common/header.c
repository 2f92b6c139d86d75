/*
 * common/header.c -- an HTTP header's value (see header.h).
 */
#include "header.h"

#include <string.h>
#include <strings.h>

char *sv_header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) || line[n] != ':')
		return NULL;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return strndup(v, (size_t)(end - v));
}

char *sv_header_find(const char *block, size_t len, const char *name)
{
	for (const char *p = block, *end = block + len; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t l = eol ? (size_t)(eol - p) + 1 : (size_t)(end - p);
		char *v = sv_header_value(p, l, name);
		if (v)
			return v;
		p += l;
	}
	return NULL;
}
