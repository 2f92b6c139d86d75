/*
 * storage/verify.h -- checking every object of a store.
 *
 * Deep mode decompresses and re-hashes each object against its name, on
 * several threads (large objects also overlap decompression and hashing).
 * Fast mode checks presence, names and the zstd frame structure (headers,
 * block chain, checksum flag, recorded content size) without decompressing.
 * Both report misplaced files and temp files left by writers that died.
 */
#ifndef SV_VERIFY_H
#define SV_VERIFY_H

#include <stdint.h>

typedef struct {
	uint64_t objects; /* object files checked */
	uint64_t bytes;   /* bytes of object files read */
	uint64_t damaged; /* problems reported */
} sv_verify_stats;

typedef struct {
	int fast;
	int threads; /* 0 = one per CPU */
	/* Each problem, one call at a time: path of the file and what is wrong. */
	void (*damaged)(void *ctx, const char *path, const char *problem);
	/* Called about every 200 ms from the calling thread with the counts so far. */
	void (*progress)(void *ctx, const sv_verify_stats *so_far);
	void *ctx;
} sv_verify_options;
#define SV_VERIFY_OPTIONS_INIT {0, 0, NULL, NULL, NULL}

/*
 * Checks the store under objects_dir. Returns 0 when the check ran (damage is
 * counted in out->damaged), negative when it could not run.
 */
int sv_verify_objects(const char *objects_dir, const sv_verify_options *opts, sv_verify_stats *out);

/* Fast check of one object file's frame structure; 0 if sound, SV_ECORRUPT with a message if not. */
int sv_verify_frames(int fd, const char *path);

#endif
