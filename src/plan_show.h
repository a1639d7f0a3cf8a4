/*
 * plan_show.h: what `mbxfix plan` shows of each action, the value now and
 * the value the run would leave, in words (docs/design.md, "What plan
 * shows"): profile names, delivery methods by name, owner UPNs, the
 * privileges a role lacks with their depths, approval states, statuses.
 *
 * Actions call show_set() from plan() or answer() when the engine is
 * read-only; the engine hands the two texts to results (plan.csv's
 * <action>_now and <action>_then columns) when the row finishes.
 */
#ifndef MBXFIX_PLAN_SHOW_H
#define MBXFIX_PLAN_SHOW_H

#include <stdbool.h>

#include "action.h"

/* Record (copies) what action 'id' of the row finds and would leave. */
void show_set(struct row_state *rs, enum action_id id, const char *now,
	      const char *then);

/* Free what show_set() recorded. */
void show_release(struct row_state *rs);

/*
 * Column 'col' of record 'set'('id') through the run's lookup cache:
 * false with '*out' set (NULL when it cannot be read), true while the
 * lookup is pending (plan() returns ACTION_WAIT).
 */
bool show_lookup(struct action_ctx *c, const char *set, const char *id,
		 const char *col, const char **out);

/* "Server-Side Synchronization", "Outlook"...; "(unset)" when unknown. */
const char *show_delivery(int col, int v);

/* "Not Run", "Success", "Failure"; "unknown" otherwise. */
const char *show_status(int v);

/* "Empty", "Approved", "Pending Approval", "Rejected". */
const char *show_approval(int v);

#endif
