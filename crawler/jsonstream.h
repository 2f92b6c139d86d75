/*
 * crawler/jsonstream.h -- reading a JSON document as it arrives, one part
 * at a time: the catalogs' way of reading files of hundreds of MB.
 *
 * yajl parses the bytes as they come; the reader says, for each value as it
 * starts, whether to look inside it (DESCEND), to have it whole (COLLECT:
 * built as a jansson value and handed over once complete) or to pass it by
 * (SKIP). So a DCAT-US data.json is read one dataset at a time and memory
 * holds one dataset, never the document.
 *
 * What stays true: memory is bounded (a collected value larger than its cap
 * is dropped and reported as such, nesting deeper than SV_JS_MAX_DEPTH ends
 * the reading); text that is not UTF-8 -- raw bytes, lone UTF-16 surrogate
 * escapes such as "\udc92" from a Windows-1252 feed -- is kept with U+FFFD
 * in place of each bad sequence and counted, never refused; a byte-order
 * mark before the document is skipped.
 */
#ifndef SV_JSONSTREAM_H
#define SV_JSONSTREAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define SV_JS_MAX_DEPTH 256
#define SV_JS_KEY_MAX 256                 /* longer object keys are cut here for paths */
#define SV_JS_COLLECT_MAX (16u << 20)     /* default cap on one collected value, in bytes of text */

typedef enum { SV_JS_DESCEND, SV_JS_COLLECT, SV_JS_SKIP } sv_js_action;

/* Where a value is: one frame per enclosing container, outermost first. */
typedef struct {
	const char *key; /* the member's name in an object, or NULL for an array element */
	size_t index;    /* the element's position in an array (0 in an object) */
} sv_js_frame;

typedef struct {
	const sv_js_frame *frames;
	size_t depth; /* 0: the document itself */
} sv_js_path;

/* What to do with the value starting at p. */
typedef sv_js_action (*sv_js_want_fn)(void *ctx, const sv_js_path *p);
/* A collected value, complete (borrowed: it is freed after the call), or
 * NULL when it was larger than the cap and dropped. Non-zero stops the reading. */
typedef int (*sv_js_value_fn)(void *ctx, const sv_js_path *p, json_t *v);

/* Inside a value being collected: 0 to leave out the member at p (its last
 * frame names it), which is then passed by unread; 1 to keep it. */
typedef int (*sv_js_keep_fn)(void *ctx, const sv_js_path *p);

typedef struct sv_js sv_js;

typedef struct {
	uint64_t bytes;      /* bytes fed */
	uint64_t collected;  /* values handed over */
	uint64_t too_big;    /* values dropped for the cap */
	uint64_t bad_text;   /* strings (or keys) that were not UTF-8, kept with U+FFFD (also counted
			      * in values passed by) */
} sv_js_stats;

int sv_js_new(sv_js **out, sv_js_want_fn want, sv_js_value_fn value, void *ctx, size_t collect_max);
/* 0, or SV_ECORRUPT once the bytes are not JSON (the message says where),
 * or what value_fn returned. After an error, feeding does nothing. */
int sv_js_feed(sv_js *js, const void *buf, size_t len);
/* The document is complete: SV_ECORRUPT if it stopped short. */
int sv_js_finish(sv_js *js);
const sv_js_stats *sv_js_stats_get(const sv_js *js);
/* Members of collected objects are kept only where keep says so (NULL: all): a
 * reader that uses a few fields of large records builds only those. */
void sv_js_set_keep(sv_js *js, sv_js_keep_fn keep);
void sv_js_free(sv_js *js); /* NULL is a no-op */

/*
 * Whether p is the place pattern names: members separated by '.', "[]" for
 * an array's elements and "*" for any member name, from the document down:
 * "dataset[]", "result.results[]", "[]" (the elements of a top-level array),
 * "" (the document).
 */
int sv_js_path_is(const sv_js_path *p, const char *pattern);

/* UTF-8 text of s (n bytes) with every bad sequence as U+FFFD, malloc'd into
 * *out (NUL-terminated, *out_len bytes); *bad counts the replacements. */
int sv_js_utf8_clean(const char *s, size_t n, char **out, size_t *out_len, size_t *bad);

#endif
