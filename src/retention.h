/*
 * retention.h: run.keep, how many run folders of a job stay after a run.
 *
 * A run folder is a directory of OUTPUT/JOB whose name is a RUN-ID
 * (results.h: the UTC start time "20261120T231500Z" then "-PID" and maybe
 * more); anything else there ('latest', files, folders of the user's) is
 * never touched. The 'keep' newest run folders stay (by start time, then
 * name). Of the older ones each is removed unless a pointer of the job
 * folder ('latest', 'latest-plan', 'latest-diagnose': any symbolic link
 * whose name starts with "latest") points at it. That keeps the one run
 * that can still be resumed: --resume continues only the run 'latest'
 * points at (docs/journal.md), and the lock of the job (results.h) means
 * no other run of it is under way while a run prunes.
 * keep = 0 keeps every run.
 */
#ifndef MBXFIX_RETENTION_H
#define MBXFIX_RETENTION_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* Called for each run folder removed (its RUN-ID), or that could not be
 * ('why' set: it stays, the others go on). */
typedef void (*retention_fn)(void *ctx, const char *run_id, const char *why);

/*
 * Prune the run folders of 'jobdir' (OUTPUT/JOB) down to 'keep' as
 * above; 'fn' (may be NULL) hears about each removal. '*removed' (may be
 * NULL) gets the number removed. Returns 0, or -1 with 'e' set (ERR_IO)
 * when 'jobdir' cannot be read; a folder that cannot be removed is
 * reported through 'fn' and is not an error.
 */
int retention_prune(const char *jobdir, int keep, retention_fn fn, void *ctx,
		    size_t *removed, struct err *e);

/* Whether 'name' has the form of a RUN-ID. */
bool retention_is_run_id(const char *name);

#endif
