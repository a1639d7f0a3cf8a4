/*
 * report.h: report.html, the page an administrator opens after a run.
 *
 * One self-contained file in the run directory (no network, no other
 * file: styles, charts and script are inline), written from the run's
 * summary.json and results.csv once both are complete:
 *   - a line of counts, then rows by outcome, actions by state and rows
 *     not ok by error code, each as an inline SVG bar chart; every bar
 *     carries data-label and data-count attributes (what tests read);
 *   - the rows that did not end "ok" (the first REPORT_MAX_ROWS) with
 *     their error code, message and hint, in a table that a few lines of
 *     plain JavaScript sort (click a column title, or
 *     "report.html#sort=N", "#sort=-N" descending, N from 0) and filter
 *     (the box above it, or "report.html#filter=TEXT"; both:
 *     "#filter=x&sort=1").
 * Counts come from results.csv, so a resumed run's report covers the rows
 * of the earlier process too.
 */
#ifndef MBXFIX_REPORT_H
#define MBXFIX_REPORT_H

#include "err.h"

/* Rows listed in the table at most; the counts cover them all. */
#define REPORT_MAX_ROWS 5000

/*
 * Write 'run_dir'/report.html (through a temporary file renamed into
 * place). Returns its path (free()), or NULL with 'e' set (ERR_IO).
 */
char *report_write(const char *run_dir, struct err *e);

#endif
