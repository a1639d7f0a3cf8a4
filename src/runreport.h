/*
 * runreport.h: what `mbxfix run`, `plan` and `diagnose` report about a
 * run besides results.csv: the start and end events of run.log
 * (runlog.h), the input's SHA-256, pruning old run folders (retention.h),
 * and the closing output on stdout: summary.json with --json, one line
 * with -q:
 *   ok 437, failed 76, invalid 0, exit 1, results in output/wave-3/...
 */
#ifndef MBXFIX_RUNREPORT_H
#define MBXFIX_RUNREPORT_H

#include <stdio.h>

#include "err.h"
#include "job.h"
#include "results.h"
#include "runlog.h"

/* The SHA-256 of file 'path' as 64 hex digits in 'hex'; -1 (and "") when
 * it cannot be read. */
int runreport_sha256(const char *path, char hex[65]);

/*
 * The "start" event, put first in run.log: version, command, job file,
 * input and its digest, the run resumed ('resume_dir') or rerun
 * ('rerun_of'), both NULL for a new run, and the settings that matter.
 */
void runreport_start(struct runlog *rl, const char *cmd, const char *job_path,
		     const struct job *j, const char *sha256,
		     const char *resume_dir, const char *rerun_of);

/* The "end" event: exit status, counts, requests, retries, throttling. */
void runreport_end(struct runlog *rl, const struct results_counts *c,
		   const struct results_summary *s);

/*
 * Apply run.keep to the job folder holding 'run_dir' (retention.h): one
 * "prune" event per run folder removed. Returns how many were removed;
 * a failure is a warning (in run.log and on stderr), never an error.
 */
size_t runreport_prune(struct runlog *rl, const char *run_dir, int keep);

/* -q: the one closing line. */
void runreport_quiet(FILE *fp, const struct results_counts *c, int exit_status,
		     const char *run_dir);

/* --json: copy 'run_dir'/summary.json to 'fp'. -1 with 'e' set. */
int runreport_json(FILE *fp, const char *run_dir, struct err *e);

#endif
