/*
 * crawler/discover.c -- the table of readers, and handing a body to the one
 * that takes it (see discover.h).
 */
#include "discover.h"

#include "../common/error.h"

#include <stdlib.h>

/* Asked in order; the first that takes a response reads it. */
static const sv_discover_reader *const readers[] = {
	&sv_discover_sitemap,
	&sv_discover_links,
};

struct sv_discover {
	const sv_discover_reader *reader;
	void *state;
};

int sv_discover_open(sv_discover **out, const sv_discover_response *r, sv_found_fn fn, void *ctx)
{
	*out = NULL;
	for (size_t i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
		void *state = NULL;
		int rc = readers[i]->open(&state, r, fn, ctx);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		sv_discover *d = malloc(sizeof(*d));
		if (!d) {
			readers[i]->free(state);
			return sv_error_set(SV_EIO, "out of memory");
		}
		d->reader = readers[i];
		d->state = state;
		*out = d;
		return 0;
	}
	return 0;
}

void sv_discover_feed(sv_discover *d, const void *buf, size_t len)
{
	if (d && d->state && d->reader->feed(d->state, buf, len) != 0) {
		d->reader->free(d->state);
		d->state = NULL;
	}
}

void sv_discover_finish(sv_discover *d)
{
	if (d && d->state)
		d->reader->finish(d->state);
}

void sv_discover_free(sv_discover *d)
{
	if (!d)
		return;
	if (d->state)
		d->reader->free(d->state);
	free(d);
}
