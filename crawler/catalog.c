/*
 * crawler/catalog.c -- the table of catalog steps and each catalog kind's
 * first request (see catalog.h).
 */
#include "catalog.h"

#include "../common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const sv_catalog_reader *const readers[] = {
	&sv_catalog_dcat,
};

const sv_catalog_reader *sv_catalog_reader_for(const char *step)
{
	for (size_t i = 0; step && i < sizeof(readers) / sizeof(readers[0]); i++)
		if (!strcmp(readers[i]->step, step))
			return readers[i];
	return NULL;
}

/* url without its query and fragment, and without trailing '/' (malloc'd). */
static char *base_of(const char *url)
{
	size_t n = strcspn(url, "?#");
	while (n > 0 && url[n - 1] == '/')
		n--;
	return strndup(url, n);
}

static int ends_with(const char *s, const char *tail)
{
	size_t a = strlen(s), b = strlen(tail);
	return a >= b && !strcasecmp(s + a - b, tail);
}

int sv_catalog_first(sv_sheet_kind kind, const char *url, char **url_out, const char **step, json_t **state)
{
	char *base = base_of(url), *out = NULL;
	int rc = 0;
	*url_out = NULL;
	*state = NULL;
	if (!base)
		return sv_error_set(SV_EIO, "out of memory");
	switch (kind) {
	case SV_SHEET_DCAT:
		out = strdup(url);
		*step = "dcat";
		break;
	default:
		rc = sv_error_set(SV_EINVAL, "a row of kind %s is not a catalog salvage reads yet", sv_sheet_kind_name(kind));
		break;
	}
	(void)ends_with;
	free(base);
	if (rc)
		return rc;
	if (!out || !(*state = json_object())) {
		free(out);
		return sv_error_set(SV_EIO, "out of memory");
	}
	*url_out = out;
	return 0;
}
