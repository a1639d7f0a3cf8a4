/*
 * set_delivery: the mailbox's three delivery methods.
 *
 * rows.c has turned the names into option values (docs/fidelity.md; note
 * actdeliverymethod's own numbering) and refused the values a column
 * does not allow. Only the columns that differ are written.
 */
#include "compat.h"

#include <string.h>

#include "act_util.h"
#include "action.h"
#include "orgdefaults.h"
#include "plan_show.h"

#include "banned.h"

static const char *const attributes[ROWS_NDELIVERY] = {
    [ROWS_INCOMING] = "incomingemaildeliverymethod",
    [ROWS_OUTGOING] = "outgoingemaildeliverymethod",
    [ROWS_ACTDELIVERY] = "actdeliverymethod",
};

static const char *const labels[ROWS_NDELIVERY] = {"incoming", "outgoing",
						   "ACT"};

/* plan: the asked columns now and as the row wants them, by name. */
static void show(struct row_state *rs, const int *wanted)
{
	struct buf now = BUF_INIT(BUF_MAX_SMALL),
		   then = BUF_INIT(BUF_MAX_SMALL);

	for (int i = 0; i < ROWS_NDELIVERY; i++) {
		int want = wanted[i];

		if (want == ROWS_UNSET)
			continue;
		buf_addf(
		    &now, "%s%s %s", now.len ? ", " : "", labels[i],
		    show_delivery(i, actu_int(rs->mailbox, attributes[i], -1)));
		buf_addf(&then, "%s%s %s", then.len ? ", " : "", labels[i],
			 show_delivery(i, want));
	}
	show_set(rs, ACTION_SET_DELIVERY, now.ptr ? now.ptr : "",
		 then.ptr ? then.ptr : "");
	buf_release(&now);
	buf_release(&then);
}

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	int changes = 0;
	int wanted[ROWS_NDELIVERY];

	memcpy(wanted, rs->row->delivery, sizeof(wanted));
	if (rs->row->actions & ROWS_ACT_APPLY_DEFAULTS) {
		const cJSON *org = NULL;

		switch (orgdefaults_get(c, rs, &org)) {
		case 1:
			return ACTION_WAIT;
		case -1:
			return ACTION_FAILED;
		}
		if (!orgdefaults_parse(actu_str(org, "defaultemailsettings"),
				       wanted)) {
			action_fail(c, rs, "NoDefaultEmailSettings",
				    "the organisation's default email "
				    "settings name no delivery method",
				    "set them in the Power Platform admin "
				    "center, or use set_delivery with the "
				    "methods");
			return ACTION_FAILED;
		}
	}
	if (action_readonly(c))
		show(rs, wanted);

	for (size_t i = 0; i < ROWS_NDELIVERY; i++) {
		int want = wanted[i];
		const cJSON *have;

		if (want == ROWS_UNSET)
			continue; /* neither the row nor the job asks */
		have = cJSON_GetObjectItemCaseSensitive(rs->mailbox,
							attributes[i]);
		if (cJSON_IsNumber(have) && have->valueint == want)
			continue;
		action_patch_mailbox(c, attributes[i], actu_json_int(want));
		changes++;
	}
	return changes ? ACTION_SENT : ACTION_UNCHANGED;
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	if (a->status >= 200 && a->status < 300)
		return ACTION_DONE;
	return action_fail_answer(c, rs, a, NULL);
}

const struct action action_set_delivery = {
    .name = "set_delivery",
    .id = ACTION_SET_DELIVERY,
    .stage = 1,
    .columns = "incomingemaildeliverymethod,outgoingemaildeliverymethod,"
	       "actdeliverymethod",
    .plan = plan,
    .answer = answer,
    .release = NULL,
};
