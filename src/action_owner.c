/*
 * fix_owner: make the mailbox's owner its own user (KB 4346733,
 * UserPrivilegeError), or the user the row's owner column names.
 *
 * A queue mailbox has no "own user": its owner changes only when the row
 * names one; otherwise the action is unchanged. Assigning is a PATCH of
 * ownerid@odata.bind (docs/fidelity.md), alone in stage 0.
 */
#include "compat.h"

#include <stdio.h>

#include "act_util.h"
#include "action.h"
#include "plan_show.h"

#include "banned.h"

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	const char *want = NULL;

	if (*rs->row->owner) {
		const cJSON *user = NULL;

		switch (actu_user(c, rs, rs->row->owner, &user)) {
		case ACTU_WAIT:
			return ACTION_WAIT;
		case ACTU_FAILED:
			return ACTION_FAILED;
		case ACTU_FOUND:
			break;
		}
		want = actu_str(user, "systemuserid");
	} else {
		bool is_user = false;

		switch (actu_regarding_is_user(c, rs, &is_user)) {
		case ACTU_WAIT:
			return ACTION_WAIT;
		case ACTU_FAILED:
			return ACTION_FAILED;
		case ACTU_FOUND:
			break;
		}
		if (!is_user)
			return ACTION_UNCHANGED; /* a queue's: leave it */
		want = actu_str(rs->mailbox, "_regardingobjectid_value");
	}
	if (action_readonly(c)) {
		const char *cur_id = actu_str(rs->mailbox, "_ownerid_value");
		const char *cur = NULL, *to = NULL;

		if (show_lookup(c, "systemusers", cur_id, "domainname", &cur) ||
		    show_lookup(c, "systemusers", want, "domainname", &to))
			return ACTION_WAIT;
		show_set(rs, ACTION_FIX_OWNER,
			 cur ? cur : (cur_id ? cur_id : "(none)"),
			 to ? to : want);
	}
	return actu_bind(c, rs, "_ownerid_value", "ownerid", "systemusers",
			 want);
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	if (a->status >= 200 && a->status < 300)
		return ACTION_DONE;
	return actu_fail_write(c, rs, a, "fix_owner");
}

const struct action action_fix_owner = {
    .name = "fix_owner",
    .id = ACTION_FIX_OWNER,
    .stage = 0,
    .columns = "_ownerid_value,_regardingobjectid_value",
    .plan = plan,
    .answer = answer,
    .release = NULL,
};
