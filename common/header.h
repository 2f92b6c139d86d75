/*
 * common/header.h -- an HTTP header's value, from one header line as
 * libcurl hands it over, or from a whole header block as capture records
 * keep it. Names compare case-insensitively; the value is trimmed of
 * spaces, tabs and the line's CRLF.
 */
#ifndef SV_HEADER_H
#define SV_HEADER_H

#include <stddef.h>

/* The value of header name on line (len bytes), malloc'd; NULL when the line is another header. */
char *sv_header_value(const char *line, size_t len, const char *name);
/* The value of the first header name in block (len bytes, lines ending in LF), malloc'd, or NULL. */
char *sv_header_find(const char *block, size_t len, const char *name);

#endif
