/*
 * preflight.h: every name a job's rows use is resolved before the first
 * write (docs/design.md, "Preflight, paths and URLs").
 *
 * A row names an email server profile (set_profile), an owner
 * (fix_owner), a security role and a privilege template or list
 * (grant_privileges); the job's defaults fill the empty cells. Resolving
 * them row by row as rows are reached let a misspelt role fail after the
 * row's owner, profile and delivery were already written, and a misspelt
 * default profile fail every row one by one. Instead:
 *
 *   1. preflight_collect(): a first pass over the input (rows.h streams;
 *      memory grows with the number of distinct names, not of rows)
 *      gathers the distinct names of the rows 'run' will take;
 *   2. preflight_templates(): privilege templates and lists are checked
 *      offline (privs.h), before any request; `mbxfix check` does this
 *      too;
 *   3. preflight_resolve(): profiles, roles and owners are looked up in
 *      batches (Microsoft.Dynamics.CRM.In() over up to PREFLIGHT_GROUP
 *      names per GET, through the engine's batching and retries). When
 *      some are unknown, the names that exist are read once more to say
 *      "did you mean ...": compared case-insensitively, surrounding blanks
 *      ignored, closest by edit distance, PREFLIGHT_SUGGEST at most.
 *
 * A job default that does not resolve stops the run before any write
 * (a profile or role default when some row uses it; the privileges
 * default always, offline): ERR_CONFIG "JOB:LINE: setting
 * 'defaults.role': ...", which exits 2 for the template (no request
 * sent yet) and 3 for a profile or role (docs/design.md: exit 2 only
 * before the first request). A row
 * naming an unknown, ambiguous or inactive one fails before anything of
 * it is written: preflight_row() gives the action to report failed (the
 * row's other actions are skipped), the error code and message the
 * action itself would give (UnknownProfile, AmbiguousRole, ...) and a
 * hint. `plan` runs the same preflight and shows the same failures.
 *
 * A lookup that fails for good (after the engine's retries) decides
 * nothing: the names it asked about are left to the actions.
 */
#ifndef MBXFIX_PREFLIGHT_H
#define MBXFIX_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "rows.h"

struct buf;
struct engine;
struct job;
struct preflight;

#define PREFLIGHT_GROUP 50	  /* names per In() lookup */
#define PREFLIGHT_SUGGEST 3	  /* "did you mean" candidates at most */
#define PREFLIGHT_SUGGEST_FOR 50 /* unknown names per kind given any */

/* Why a row cannot run: the action that fails and what it reports. */
struct preflight_failure {
	enum rows_action action;
	const char *code;    /* "UnknownRole" */
	const char *message; /* "no security role 'Sales' (did you mean ...)" */
	const char *hint;
};

/*
 * The first pass over job->input: the distinct names of the valid rows
 * past 'skip_rows' (--resume), and of the job's defaults. -1 with 'e' set
 * when the input cannot be read (the same errors rows_next() gives).
 */
int preflight_collect(struct preflight **out, const struct job *job,
		      size_t skip_rows, struct err *e);

/*
 * Load every distinct privilege template and list (offline). -1 with 'e'
 * set (ERR_CONFIG) when the job's defaults.privileges does not load;
 * rows naming a bad one get their failure from preflight_row().
 */
int preflight_templates(struct preflight *pf, const struct job *job,
			struct err *e);

/*
 * Look up the profiles, roles and owners through 'en' (signed in, no row
 * taken yet). -1 with 'e' set: ERR_CONFIG when a job default does not
 * resolve, or what engine_prefetch() reported.
 */
int preflight_resolve(struct preflight *pf, struct engine *en,
		      const struct job *job, struct err *e);

/*
 * Whether 'row' names something that failed; then '*f' says what (its
 * strings belong to 'pf'). Only names of actions the row asks for count;
 * the first in run order (fix_owner, set_profile, grant_privileges) is
 * given.
 */
bool preflight_row(const struct preflight *pf, const struct row *row,
		   struct preflight_failure *f);

/* Distinct names gathered, all kinds together (for tests, summaries). */
size_t preflight_names(const struct preflight *pf);

void preflight_free(struct preflight *pf);

/*
 * Edit distance (Levenshtein) between 'a' and 'b' compared without case
 * and surrounding blanks; 'max' + 1 as soon as it must pass 'max'.
 */
size_t preflight_distance(const char *a, const char *b, size_t max);

/*
 * Up to PREFLIGHT_SUGGEST of 'names' closest to 'want' (distance 0 when
 * they differ only in case or blanks; at most a third of the length,
 * and 1 for very short names, away), closest first, appended to 'out' as
 * " (did you mean 'A', 'B'?)"; nothing when none is close.
 */
void preflight_suggest(struct buf *out, const char *want,
		       const char *const *names, size_t n);

#endif
