/*
 * crawler/mirror.h -- offsite mirrors: copying an archive's objects and
 * ledger to a remote (push), checking the copy (verify) and rebuilding an
 * archive from it (pull, clone).
 *
 * A remote (a [remote "NAME"] section of salvage.conf, see archive.h) holds
 * the objects at <objects URL>/sha256/ab/<hex>.zst, byte for byte the files
 * of the local objects/ folder, and the ledger in a git repository.
 *
 * What stays true:
 * - The remote never gets a ledger that names objects it lacks: the branch
 *   tips are snapshotted first, then the objects are uploaded, then exactly
 *   those tips are pushed, and only if every upload succeeded and every
 *   object their new capture records name is known to be on the remote.
 * - What the remote holds is remembered in DIR/mirrors/NAME.have (one hex
 *   digest a line, after a header naming the objects URL), appended and
 *   fsync'd after each batch of finished uploads. A push killed at any point
 *   loses at most the record of one batch, whose objects are uploaded again
 *   (harmlessly: objects never change) by the next push.
 * - A pull never lets an unverified object appear under its final name: each
 *   one is downloaded to DIR/tmp/, decompressed and re-hashed against its
 *   name while it is written again through the object store.
 * - No secret is written to salvage.conf, and none appears in a message:
 *   keys come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *   AWS_SESSION_TOKEN) or from ssh key files and the agent.
 *
 * The functions below print: a summary and each problem to out, errors to
 * stderr as "salvage: <what>: <why>". They return the exit status of
 * DESIGN.md: 0 fine, 1 problems found, 2 bad usage or configuration,
 * 3 environment failure (remote unreachable, disk full).
 */
#ifndef SV_MIRROR_H
#define SV_MIRROR_H

#include "archive.h"

#include <stdio.h>

/*
 * Checks a remote before it is saved, and makes it fit to save: a valid
 * name, known URL schemes, no password anywhere, s3 settings only for s3.
 * Relative ledger paths and key files become absolute. SV_EINVAL with a
 * message naming the problem.
 */
int sv_mirror_check_remote(sv_archive_remote *r);

typedef struct {
	int recheck; /* list the remote instead of trusting DIR/mirrors/NAME.have */
} sv_mirror_push_options;

/* salvage mirror push NAME. */
int sv_mirror_push(const sv_archive *a, const char *name, const sv_mirror_push_options *o, FILE *out);

/*
 * salvage mirror verify NAME (and salvage verify --remote NAME): every object
 * named by a capture record of the ledger is on the remote with the size of
 * the local object file (one listing of the remote's sha256/ folder), and the
 * remote ledger holds every branch tip of this one. deep: every such object
 * is also downloaded, decompressed and re-hashed; otherwise sample (percent,
 * 0 for none) of them, picked at random, are. Objects found missing or
 * damaged are dropped from DIR/mirrors/NAME.have, so the next push sends them
 * again. Each problem is one line on out; exit status 1 if there are any.
 */
int sv_mirror_verify(const sv_archive *a, const char *name, int deep, double sample, FILE *out);

/*
 * salvage mirror pull: brings archive a up to date from remote r: fetches the
 * ledger, downloads the objects of the remote that a lacks (each re-hashed),
 * then adds the capture records new to a's queue, so that ls lists them.
 * Running it again changes nothing.
 */
int sv_mirror_pull(const sv_archive *a, const sv_archive_remote *r, FILE *out);


#endif
