/*
 * common/strset.c -- a set of strings with a number each (see strset.h):
 * open addressing with linear probing, FNV-1a, kept at most half full.
 */
#include "strset.h"

#include "error.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sv_strset_slot {
	char *key;
	uint64_t hash; /* kept, so growing does not read every key again */
	unsigned num;
};

/* Eight bytes at a time (FNV-1a byte by byte was a tenth of loading a
 * 100,000-row sheet); any fixed mix does, as long as it is the same. */
static uint64_t hash(const char *s)
{
	size_t len = strlen(s), i = 0;
	uint64_t h = 1469598103934665603ull ^ len, w;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0x9E3779B97F4A7C15ull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s + i, len - i);
	h = (h ^ w) * 0x9E3779B97F4A7C15ull;
	return h ^ h >> 32;
}

static int grow(sv_strset *set, size_t cap)
{
	sv_strset_slot *t = calloc(cap, sizeof(*t));
	if (!t)
		return sv_error_set(SV_EIO, "out of memory");
	for (size_t k = 0; k < set->cap; k++) {
		size_t i;
		if (!set->slots[k].key)
			continue;
		for (i = set->slots[k].hash & (cap - 1); t[i].key; i = (i + 1) & (cap - 1))
			;
		t[i] = set->slots[k];
	}
	free(set->slots);
	set->slots = t;
	set->cap = cap;
	return 0;
}

/* The slot holding key, or the empty slot where it would go. cap > 0. */
static size_t find(const sv_strset *set, const char *key, uint64_t h)
{
	size_t mask = set->cap - 1, i;
	for (i = h & mask; set->slots[i].key; i = (i + 1) & mask)
		if (set->slots[i].hash == h && strcmp(set->slots[i].key, key) == 0)
			break;
	return i;
}

int sv_strset_add(sv_strset *set, const char *key, unsigned num, unsigned *first)
{
	uint64_t h = hash(key);
	size_t i;
	int rc;
	if ((set->n + 1) * 2 > set->cap && (rc = grow(set, set->cap ? set->cap * 2 : 256)))
		return rc;
	i = find(set, key, h);
	if (set->slots[i].key) {
		if (first)
			*first = set->slots[i].num;
		return 1;
	}
	if (!(set->slots[i].key = set->borrowed ? (char *)key : strdup(key)))
		return sv_error_set(SV_EIO, "out of memory");
	set->slots[i].hash = h;
	set->slots[i].num = num;
	set->n++;
	return 0;
}

int sv_strset_reserve(sv_strset *set, size_t n)
{
	size_t cap = set->cap ? set->cap : 256;
	while (cap < 2 * n)
		cap *= 2;
	return cap > set->cap ? grow(set, cap) : 0;
}

int sv_strset_get(const sv_strset *set, const char *key, unsigned *num)
{
	if (!set->cap)
		return 0;
	const sv_strset_slot *slot = &set->slots[find(set, key, hash(key))];
	if (slot->key && num)
		*num = slot->num;
	return slot->key != NULL;
}

void sv_strset_free(sv_strset *set)
{
	for (size_t i = 0; i < set->cap && !set->borrowed; i++)
		free(set->slots[i].key);
	free(set->slots);
	set->slots = NULL;
	set->n = set->cap = 0;
}
