/*
 * set_delivery: the mailbox's three delivery methods.
 *
 * The option values differ between the columns (reference/dataverse.md
 * §1.1): for the email columns 0 None, 1 Outlook, 2 Server-Side Sync,
 * 3 Forward Mailbox (incoming only); for ACT 0 Outlook, 1 Server-Side
 * Sync, 2 None. Only the columns that differ are written.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>

#include "action.h"

#include "banned.h"

struct column {
	const char *csv;       /* CSV column (and job default) */
	const char *attribute; /* mailbox column */
	int sss, outlook, none, forward;
};

static const struct column columns[] = {
	{"incoming", "incomingemaildeliverymethod", 2, 1, 0, 3},
	{"outgoing", "outgoingemaildeliverymethod", 2, 1, 0, -1},
	{"act", "actdeliverymethod", 1, 0, 2, -1},
};

/* The option value for 'name' in column 'c', or -1 when not allowed. */
static int option_value(const struct column *c, const char *name)
{
	if (!strcasecmp(name, "server-side-sync"))
		return c->sss;
	if (!strcasecmp(name, "outlook"))
		return c->outlook;
	if (!strcasecmp(name, "none"))
		return c->none;
	if (!strcasecmp(name, "forward"))
		return c->forward;
	return -1;
}

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	char msg[256];
	int changes = 0;

	for (size_t i = 0; i < ARRAY_SIZE(columns); i++) {
		const struct column *col = &columns[i];
		const char *want = action_row_value(rs, col->csv);
		const cJSON *have;
		int v;

		if (!*want)
			continue; /* neither the row nor the job asks */
		v = option_value(col, want);
		if (v < 0) {
			snprintf(msg, sizeof(msg), "%s: '%s' is not allowed",
				 col->csv, want);
			action_fail(c, rs, "InvalidValue", msg,
				    "use server-side-sync, outlook, none, or "
				    "forward (incoming only)");
			return ACTION_FAILED;
		}
		have = cJSON_GetObjectItemCaseSensitive(rs->mailbox,
							col->attribute);
		if (cJSON_IsNumber(have) && have->valueint == v)
			continue;
		action_patch_mailbox(c, col->attribute, cJSON_CreateNumber(v));
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
