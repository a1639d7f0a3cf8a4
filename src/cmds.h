/*
 * cmds.h: the subcommands, called from main.c's command table.
 *
 * main() calls cmd_X(argc - 1, argv + 1): argv[0] is the command name
 * ("run"), options and the JOB.cfg operand follow (parsed with
 * opts_parse()). Each returns the process exit status of docs/design.md:
 * 0 every row ok or unchanged, 1 some rows failed or were invalid,
 * 2 usage, job-file or input errors found before anything was written, 3 the run
 * could not proceed. Each prints its own diagnostics.
 */
#ifndef MBXFIX_CMDS_H
#define MBXFIX_CMDS_H

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_diagnose(int argc, char **argv);
/* mbxfix logout JOB.cfg: forget the job's device code sign-ins. */
int cmd_logout(int argc, char **argv);

/*
 * mbxfix check JOB.cfg [--input FILE]: offline validation of the job file
 * and every input row. Problems go to stderr, one per line with file and
 * row numbers; one summary line to stdout. Exit 0 all valid, 1 some rows
 * invalid (what 'run' would report for them), 2 usage, job-file, or
 * input-file/header errors.
 */
int cmd_check(int argc, char **argv);

#endif
