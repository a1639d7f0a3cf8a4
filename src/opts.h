/*
 * opts.h: the common command-line options of mbxfix's commands.
 *
 *   --input FILE     use FILE as the input CSV (overrides the job's 'input')
 *   --output DIR     write results under DIR (overrides 'output')
 *   --parallel N     requests in flight, 0..256, 0 = choose
 *   --batch-size N   operations per $batch, 0..1000, 0 = choose
 *   --rerun-failed   input = failed.csv of the job's latest run
 *   --resume         continue the job's latest (interrupted) run
 *   --where K=V      choose mailboxes by query (select.h); repeatable,
 *                    all must hold; added to the job's 'select'
 *   --no-progress    no progress line
 *   --json           print summary.json on stdout at the end
 *   -q, --quiet      errors and one closing line only
 *   -v, --verbose    more detail; may be repeated
 *   -h, --help       usage on stdout
 *
 * Which options a command accepts (see opts_usage()):
 *   run       all of them
 *   plan      --input --output --parallel --batch-size --no-progress --json
 *             -q -v
 *   diagnose  the same as plan
 *   check     --input -q -v
 * Options and the one JOB.cfg operand may come in any order.
 */
#ifndef MBXFIX_OPTS_H
#define MBXFIX_OPTS_H

#include <stdbool.h>
#include <stdio.h>

#include "err.h"
#include "job.h"

#define OPTS_UNSET (-1)
#define OPTS_MAX_WHERE 32

/* Strings are borrowed from argv. */
struct opts {
	const char *cmd;    /* "run", "plan", "diagnose", "check" */
	const char *job;    /* the JOB.cfg operand */
	const char *input;  /* NULL: not given */
	const char *output; /* NULL: not given */
	int parallel;	    /* OPTS_UNSET: not given */
	int batch_size;	    /* OPTS_UNSET: not given */
	bool rerun_failed;
	bool resume;
	bool no_progress;
	bool json;
	int verbosity; /* -1 with -q, else the number of -v */
	bool help;     /* -h/--help: print opts_usage() to stdout, exit 0 */
	const char *where[OPTS_MAX_WHERE]; /* --where terms, in order */
	size_t nwhere;
};

/*
 * Parse 'argv' of command 'cmd' (argv[0] is the command name; getopt_long
 * starts at argv[1]). Numbers are checked with strtol and an end pointer.
 * Returns 0 (with o->help set when help was asked: nothing else is then
 * checked), or -1 with 'e' set (ERR_USAGE, exit 2) for an unknown
 * option, an option 'cmd' does not take, a bad number, a missing or
 * extra operand, --input with --rerun-failed, --resume with
 * --rerun-failed. BUG() for an unknown 'cmd'.
 */
int opts_parse(struct opts *o, const char *cmd, int argc, char **argv,
	       struct err *e);

/* Write the usage text of 'cmd' to 'fp' ("usage: mbxfix run [...]..."). */
void opts_usage(const char *cmd, FILE *fp);

/*
 * Apply the overrides of 'o' to 'j': input, output, parallel, batch_size.
 * Afterwards j->input is set (but for --rerun-failed, whose input the run
 * builds from the latest run: results_rerun_input()) or -1 is returned
 * with 'e' set (ERR_CONFIG: "JOB: no input: set 'input' or use --input").
 */
int opts_apply(const struct opts *o, struct job *j, struct err *e);

/* The log level for o->verbosity: -1 LOG_ERROR, 0 LOG_WARN, 1 INFO, 2+ DEBUG.
 */
int opts_log_level(const struct opts *o);

#endif
