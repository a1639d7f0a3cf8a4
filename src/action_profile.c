/*
 * set_profile: the mailbox's email server profile.
 *
 * The profile is named by name or id on the row (or the job's default)
 * and resolved once per run through the engine's lookup cache; an
 * unknown, ambiguous or inactive profile fails the row. The bind goes
 * into the same mailbox PATCH as set_delivery's columns (stage 1).
 */
#include "compat.h"

#include <stdio.h>

#include "act_util.h"
#include "action.h"
#include "orgdefaults.h"
#include "plan_show.h"

#include "banned.h"

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	const cJSON *profile = NULL;
	const char *want, *name = rs->row->profile;

	if (rs->row->actions & ROWS_ACT_APPLY_DEFAULTS) {
		const cJSON *org = NULL;

		switch (orgdefaults_get(c, rs, &org)) {
		case 1:
			return ACTION_WAIT;
		case -1:
			return ACTION_FAILED;
		}
		name = actu_str(org, "_defaultemailserverprofileid_value");
		if (!name) {
			action_fail(c, rs, "NoDefaultProfile",
				    "the organisation has no default email "
				    "server profile",
				    "set one in the Power Platform admin "
				    "center (Email > Server profiles, Set as "
				    "default), or use set_profile with a "
				    "profile");
			return ACTION_FAILED;
		}
	}
	switch (actu_profile(c, rs, name, &profile)) {
	case ACTU_WAIT:
		return ACTION_WAIT;
	case ACTU_FAILED:
		return ACTION_FAILED;
	case ACTU_FOUND:
		break;
	}
	want = actu_str(profile, "emailserverprofileid");
	if (action_readonly(c)) {
		const char *cur_id =
		    actu_str(rs->mailbox, "_emailserverprofile_value");
		const char *cur = NULL;

		if (show_lookup(c, "emailserverprofiles", cur_id, "name", &cur))
			return ACTION_WAIT;
		show_set(rs, ACTION_SET_PROFILE,
			 cur_id ? (cur ? cur : cur_id) : "(none)",
			 actu_str(profile, "name"));
	}
	return actu_bind(c, rs, "_emailserverprofile_value",
			 "emailserverprofile", "emailserverprofiles", want);
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	if (a->status >= 200 && a->status < 300)
		return ACTION_DONE;
	return actu_fail_write(c, rs, a, "set_profile");
}

const struct action action_set_profile = {
    .name = "set_profile",
    .id = ACTION_SET_PROFILE,
    .stage = 1,
    .columns = "_emailserverprofile_value",
    .plan = plan,
    .answer = answer,
    .release = NULL,
};
