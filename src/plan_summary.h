/*
 * plan_summary.h: `mbxfix plan`'s summary grouped by what changes (pure).
 *
 * Every row's would-change actions are added with their now and then
 * texts (plan_show.h); identical changes make one group, counted once per
 * target: a mailbox change per mailbox ("77 mailboxes: Exchange Server
 * (Hybrid) -> Microsoft Exchange Online"), a role's privileges per role
 * ("role Salesperson: +9 privileges"), whatever number of rows name it.
 */
#ifndef MBXFIX_PLAN_SUMMARY_H
#define MBXFIX_PLAN_SUMMARY_H

#include <stddef.h>
#include <stdio.h>

#include "rows.h"

#define PLAN_SUMMARY_SHOW 10 /* groups printed per action at most */

struct plan_summary;

struct plan_summary *plan_summary_new(void);
void plan_summary_free(struct plan_summary *ps);

/* One row's action that would change; NULL texts count as "". */
void plan_summary_add(struct plan_summary *ps, enum rows_action a,
		      const char *now, const char *then);

/* Distinct targets that would change for action 'a' (roles for
 * grant_privileges, mailboxes otherwise). */
size_t plan_summary_targets(const struct plan_summary *ps, enum rows_action a);

/* The grouped lines, most frequent first, under a "would change:" line. */
void plan_summary_print(const struct plan_summary *ps, FILE *fp);

#endif
