/*
 * approve: approve the mailbox's email address.
 *
 * The admin guide (server-side-sync.md section 5): an external
 * application approves by sending emailrouteraccessapproval = 1 in its
 * update, and when the request carries other attributes too the address
 * may not be approved. So the PATCH holds that attribute alone, in a
 * request of its own, and the value is read back: a service that accepts
 * the write but does not approve (the caller lacks the admin roles) must
 * not be reported as done.
 */
#include "compat.h"

#include <stdio.h>

#include "act_util.h"
#include "action.h"

#include "banned.h"

enum { TAG_PATCH = 1, TAG_READ = 2 };

#define APPROVED 1

static const char *const approval_names[] = {"Empty", "Approved",
					     "Pending Approval", "Rejected"};

static const char refused_hint[] =
    "approval needs a Global or Exchange admin with System "
    "Administrator, or the Delegated Mailbox Approver role with System "
    "Administrator (and prvApproveRejectEmailAddress): give mbxfix's "
    "application user the Delegated Mailbox Approver role, or approve "
    "the address in the Power Platform admin center";

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	cJSON *body;
	char url[128];

	if (actu_int(rs->mailbox, "emailrouteraccessapproval", -1) == APPROVED)
		return ACTION_UNCHANGED;
	body = cJSON_CreateObject();
	cJSON_AddItemToObject(body, "emailrouteraccessapproval",
			      actu_json_int(APPROVED));
	snprintf(url, sizeof(url), "mailboxes(%s)", rs->mailbox_id);
	action_emit(c, "PATCH", url, body, NULL, TAG_PATCH,
		    ACTION_OP_IF_MATCH | ACTION_OP_ALONE);
	return ACTION_SENT;
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	char url[160], msg[256];
	int v;

	if (a->status < 200 || a->status >= 300)
		return actu_fail_write(c, rs, a, "approve");
	if (a->tag == TAG_PATCH) {
		snprintf(url, sizeof(url),
			 "mailboxes(%s)?$select=emailrouteraccessapproval",
			 rs->mailbox_id);
		action_emit(c, "GET", url, NULL, NULL, TAG_READ, 0);
		return ACTION_SENT;
	}
	v = actu_int(a->json, "emailrouteraccessapproval", -1);
	if (v == APPROVED)
		return ACTION_DONE;
	snprintf(msg, sizeof(msg),
		 "the service accepted the approval but the email address "
		 "is still '%s'",
		 v >= 0 && v < (int)ARRAY_SIZE(approval_names)
		     ? approval_names[v]
		     : "unknown");
	action_fail(c, rs, "NotApproved", msg, refused_hint);
	return ACTION_FAILED;
}

const struct action action_approve = {
    .name = "approve",
    .id = ACTION_APPROVE,
    .stage = 3,
    .columns = "emailrouteraccessapproval",
    .plan = plan,
    .answer = answer,
    .release = NULL,
};
