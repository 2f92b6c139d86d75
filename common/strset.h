/*
 * common/strset.h -- a set of strings, each with a number (a sheet's line):
 * duplicate checks over a whole sheet in linear time, where comparing every
 * pair took seconds at 100,000 rows or columns.
 *
 * What must stay true: keys are copied in, unless the set is made borrowing
 * (then they must outlive it); a number of 0 is allowed and is returned as
 * it was given (callers tell "new" by the return value, not by the number).
 */
#ifndef SV_STRSET_H
#define SV_STRSET_H

#include <stddef.h>

typedef struct sv_strset_slot sv_strset_slot;

typedef struct {
	sv_strset_slot *slots; /* open addressing; cap is a power of two */
	size_t n, cap;
	int borrowed; /* 1: keys are kept as given, not copied (set before the first add) */
} sv_strset;

/*
 * Adds key with num unless it is there: 0 when added, 1 when it was there
 * (*first set to the number it was added with), SV_EIO when out of memory.
 * first may be NULL.
 */
int sv_strset_add(sv_strset *set, const char *key, unsigned num, unsigned *first);
/* Room for n keys in all without growing (each growth is a fresh table to
 * fault in and fill); 0, or SV_EIO when out of memory. */
int sv_strset_reserve(sv_strset *set, size_t n);
/* 1 when key is in the set (*num set to its number; num may be NULL), else 0. */
int sv_strset_get(const sv_strset *set, const char *key, unsigned *num);
void sv_strset_free(sv_strset *set);

#endif
