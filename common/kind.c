/*
 * common/kind.c -- the names of the capture kinds (see kind.h). The table
 * is indexed by the enum: a kind added there needs its name here.
 */
#include "kind.h"

#include "error.h"

#include <string.h>

static const char *const NAMES[] = {
	[SV_KIND_PAGE] = "page",
	[SV_KIND_DATASET] = "dataset",
	[SV_KIND_REQUISITE] = "requisite",
	[SV_KIND_ROBOTS] = "robots",
	[SV_KIND_SITEMAP] = "sitemap",
	[SV_KIND_MANUAL] = "manual",
	[SV_KIND_IMPORTED] = "imported",
	[SV_KIND_CATALOG] = "catalog",
};

#define NKINDS (sizeof(NAMES) / sizeof(NAMES[0]))

const char *sv_kind_name(sv_kind kind)
{
	return (unsigned)kind < NKINDS ? NAMES[kind] : NAMES[SV_KIND_PAGE];
}

int sv_kind_parse(const char *name, sv_kind *out)
{
	for (size_t i = 0; name && i < NKINDS; i++)
		if (!strcmp(name, NAMES[i])) {
			*out = (sv_kind)i;
			return 0;
		}
	return sv_error_set(SV_EINVAL, "unknown kind '%.64s'", name ? name : "(none)");
}
