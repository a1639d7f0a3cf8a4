/*
 * plan_show.c: the now and then values of `mbxfix plan` (plan_show.h).
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>

#include "act_util.h"
#include "plan_show.h"

#include "banned.h"

void show_set(struct row_state *rs, enum action_id id, const char *now,
	      const char *then)
{
	free(rs->now[id]);
	free(rs->then[id]);
	rs->now[id] = xstrdup(now ? now : "");
	rs->then[id] = xstrdup(then ? then : "");
}

void show_release(struct row_state *rs)
{
	for (int i = 0; i < ACTION_COUNT; i++) {
		free(rs->now[i]);
		free(rs->then[i]);
		rs->now[i] = rs->then[i] = NULL;
	}
}

bool show_lookup(struct action_ctx *c, const char *set, const char *id,
		 const char *col, const char **out)
{
	char url[256];
	bool pending = false;
	const cJSON *j;

	*out = NULL;
	if (!id)
		return false;
	snprintf(url, sizeof(url), "%s(%s)?$select=%s", set, id, col);
	j = action_lookup(c, url, &pending, NULL);
	if (!j)
		return pending;
	*out = actu_str(j, col);
	return false;
}

const char *show_delivery(int col, int v)
{
	/* the option sets of docs/fidelity.md; ACT is numbered otherwise */
	static const char *const email[] = {"None", "Outlook",
					    "Server-Side Synchronization",
					    "Forward Mailbox"};
	static const char *const act[] = {
	    "Outlook", "Server-Side Synchronization", "None"};

	if (col == ROWS_ACTDELIVERY)
		return v >= 0 && v < 3 ? act[v] : "(unset)";
	if (col == ROWS_OUTGOING && v == 3)
		return "(unset)";
	return v >= 0 && v < 4 ? email[v] : "(unset)";
}

const char *show_status(int v)
{
	static const char *const names[] = {"Not Run", "Success", "Failure"};

	return v >= 0 && v < 3 ? names[v] : "unknown";
}

const char *show_approval(int v)
{
	static const char *const names[] = {"Empty", "Approved",
					    "Pending Approval", "Rejected"};

	return v >= 0 && v < 4 ? names[v] : "unknown";
}
