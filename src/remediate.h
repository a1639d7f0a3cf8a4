/*
 * remediate.h: the remediation rows `mbxfix diagnose` writes.
 *
 * `diagnose` runs like `plan` (nothing written) and, for test_enable,
 * explains each mailbox's current alerts instead of testing it. From the
 * results.csv of that run, remediate_write() makes remediation.csv, an
 * input file `mbxfix run` accepts:
 *   - the input columns as given, with 'actions' (added after 'mailbox'
 *     when the input had none) set to the actions that would change
 *     something, plus the action the diagnosis names (its hint says
 *     "action <name>"), plus test_enable to confirm; in docs/design.md order;
 *   - 'role' (added when the input had none): the role a PrivilegeDenied
 *     diagnosis names, where the row names none;
 *   - a 'diagnosis' column: "error_code: hint", carried through by `run`;
 *   - only the rows with something to do: rows whose every action is
 *     unchanged and whose diagnosis found nothing are left out, and so are
 *     invalid rows (results.csv says why).
 */
#ifndef MBXFIX_REMEDIATE_H
#define MBXFIX_REMEDIATE_H

#include <stddef.h>

#include "err.h"

/*
 * Read RUN_DIR/results.csv, write RUN_DIR/remediation.csv. '*nrows' (may
 * be NULL) receives the number of rows written. -1 with 'e' set (ERR_IO,
 * ERR_INPUT) when a file cannot be read or written.
 */
int remediate_write(const char *run_dir, size_t *nrows, struct err *e);

/*
 * The same from 'results_csv' to 'out_csv' (tests use this one).
 */
int remediate_file(const char *results_csv, const char *out_csv, size_t *nrows,
		   struct err *e);

#endif
