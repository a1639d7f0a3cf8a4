/*
 * approve: approve the mailbox's email address.
 *
 * The clients that approve for real (Approve-CrmEmailAddress, a package
 * deployer) write the mailbox's user or queue record, not the mailbox,
 * and the service carries approval between that record and the mailbox
 * (docs/fidelity.md, "Test & Enable, approval and alerts"). The admin
 * guide adds that an update carrying other attributes as well may not
 * approve. So the action
 *   1. reads the current state: the mailbox as read (approved already:
 *      unchanged) and whose address it is (user or queue);
 *   2. builds the write: PATCH systemusers(id) or queues(id) with
 *      emailrouteraccessapproval = 1 alone, in a request of its own;
 *   3. reads back the record and the mailbox (emailrouteraccessapproval,
 *      and the mailbox's isemailaddressapprovedbyo365admin): done only
 *      when both say Approved. A service may accept an application
 *      user's approval and not apply it; that row fails NotApproved with
 *      a hint that approval needs an administrator's own sign-in.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_util.h"
#include "action.h"
#include "plan_show.h"

#include "banned.h"

enum { TAG_PATCH = 1, TAG_READ_RECORD = 2, TAG_READ_MAILBOX = 3 };

#define APPROVED 1

static const char *const approval_names[] = {"Empty", "Approved",
					     "Pending Approval", "Rejected"};

static const char refused_hint[] =
    "the service accepted the approval without applying it, as it may "
    "for an application user: approval needs an administrator's own "
    "sign-in, a Global or Exchange admin with System Administrator, or a "
    "user with the Delegated Mailbox Approver role and System "
    "Administrator; approve the address in the Power Platform admin "
    "center (or with such an administrator's sign-in), then test_enable";

/* What the approval writes to: the mailbox's user or queue record. */
struct approve_target {
	const char *set; /* "systemusers" or "queues" */
	const char *id;	 /* borrowed from rs->mailbox */
};

/* Read-back of the record and of the mailbox; -1 while not in. */
struct approve_check {
	int record, mailbox;
	int o365; /* isemailaddressapprovedbyo365admin: 1, 0, -1 unknown */
	bool queue;
};

/*
 * Step 1: the current state. ACTU_FOUND with '*held' true when the
 * mailbox is approved already; otherwise 't' names the record to write.
 */
static enum actu_res approval_state(struct action_ctx *c, struct row_state *rs,
				    bool *held, struct approve_target *t)
{
	bool is_user = true;
	enum actu_res r;

	*held =
	    actu_int(rs->mailbox, "emailrouteraccessapproval", -1) == APPROVED;
	if (*held)
		return ACTU_FOUND;
	r = actu_regarding_is_user(c, rs, &is_user);
	if (r != ACTU_FOUND)
		return r;
	t->set = is_user ? "systemusers" : "queues";
	t->id = actu_str(rs->mailbox, "_regardingobjectid_value");
	return ACTU_FOUND;
}

/* Step 2: the write, emailrouteraccessapproval alone, update only. */
static void approval_write(struct action_ctx *c, const struct approve_target *t)
{
	cJSON *body = cJSON_CreateObject();
	char url[128];

	cJSON_AddItemToObject(body, "emailrouteraccessapproval",
			      actu_json_int(APPROVED));
	snprintf(url, sizeof(url), "%s(%s)", t->set, t->id);
	action_emit(c, "PATCH", url, body, NULL, TAG_PATCH,
		    ACTION_OP_IF_MATCH | ACTION_OP_ALONE);
}

static struct approve_check *check_of(struct row_state *rs)
{
	struct approve_check *k = rs->priv[ACTION_APPROVE];

	if (!k) {
		k = xcalloc(1, sizeof(*k));
		k->record = k->mailbox = k->o365 = -1;
		rs->priv[ACTION_APPROVE] = k;
	}
	return k;
}

static void release(struct row_state *rs)
{
	free(rs->priv[ACTION_APPROVE]);
	rs->priv[ACTION_APPROVE] = NULL;
}

/* The roles an approver needs besides prvApproveRejectEmailAddress. */
#define ROLE_SYSADMIN "System Administrator"
#define ROLE_APPROVER "Delegated Mailbox Approver"

/*
 * plan: whether this caller's approval would take effect, from its roles
 * (docs/fidelity.md: System Administrator with Delegated Mailbox
 * Approver). True while a lookup is pending.
 */
static bool show(struct action_ctx *c, struct row_state *rs, bool held)
{
	int now = actu_int(rs->mailbox, "emailrouteraccessapproval", -1);
	const cJSON *who, *roles, *it;
	bool pending = false, admin = false, approver = false;
	struct buf names = BUF_INIT(BUF_MAX_SMALL), then = BUF_INIT(4096);
	char url[160];

	if (held) {
		show_set(rs, ACTION_APPROVE, show_approval(now),
			 show_approval(now));
		return false;
	}
	who = action_lookup(c, "WhoAmI", &pending, NULL);
	if (pending)
		return true;
	if (actu_str(who, "UserId")) {
		snprintf(url, sizeof(url),
			 "systemusers(%s)/systemuserroles_association?$select="
			 "name",
			 actu_str(who, "UserId"));
		roles = action_lookup(c, url, &pending, NULL);
		if (pending)
			return true;
		cJSON_ArrayForEach(
		    it, cJSON_GetObjectItemCaseSensitive(roles, "value"))
		{
			const char *n = actu_str(it, "name");

			if (!n)
				continue;
			admin |= !strcmp(n, ROLE_SYSADMIN);
			approver |= !strcmp(n, ROLE_APPROVER);
			buf_addf(&names, "%s%s", names.len ? ", " : "", n);
		}
	}
	if (admin && approver)
		buf_addstr(&then, show_approval(APPROVED));
	else
		buf_addf(&then,
			 "%s: this caller's roles (%s) lack %s; an "
			 "administrator must approve",
			 show_approval(now), names.len ? names.ptr : "unknown",
			 admin ? ROLE_APPROVER
			       : ROLE_SYSADMIN " and " ROLE_APPROVER);
	show_set(rs, ACTION_APPROVE, show_approval(now), then.ptr);
	buf_release(&names);
	buf_release(&then);
	return false;
}

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	struct approve_target t = {0};
	bool held = false;

	switch (approval_state(c, rs, &held, &t)) {
	case ACTU_WAIT:
		return ACTION_WAIT;
	case ACTU_FAILED:
		return ACTION_FAILED;
	case ACTU_FOUND:
		break;
	}
	if (action_readonly(c) && show(c, rs, held))
		return ACTION_WAIT;
	if (held)
		return ACTION_UNCHANGED;
	check_of(rs)->queue = !strcmp(t.set, "queues");
	approval_write(c, &t);
	return ACTION_SENT;
}

/* Step 3: read back the record and the mailbox. */
static void emit_reads(struct action_ctx *c, struct row_state *rs)
{
	struct approve_check *k = check_of(rs);
	char url[256];

	snprintf(url, sizeof(url), "%s(%s)?$select=emailrouteraccessapproval",
		 k->queue ? "queues" : "systemusers",
		 actu_str(rs->mailbox, "_regardingobjectid_value"));
	action_emit(c, "GET", url, NULL, NULL, TAG_READ_RECORD, 0);
	snprintf(url, sizeof(url),
		 "mailboxes(%s)?$select=emailrouteraccessapproval,"
		 "isemailaddressapprovedbyo365admin",
		 rs->mailbox_id);
	action_emit(c, "GET", url, NULL, NULL, TAG_READ_MAILBOX, 0);
}

static const char *approval_name(int v)
{
	return v >= 0 && v < (int)ARRAY_SIZE(approval_names) ? approval_names[v]
							     : "unknown";
}

static enum action_step verdict(struct action_ctx *c, struct row_state *rs,
				const struct approve_check *k)
{
	char msg[320];

	if (k->record == APPROVED && k->mailbox == APPROVED)
		return ACTION_DONE;
	snprintf(msg, sizeof(msg),
		 "the service accepted the approval but the %s's email "
		 "address is still '%s' and the mailbox's '%s' (approved by "
		 "an Office 365 admin: %s)",
		 k->queue ? "queue" : "user", approval_name(k->record),
		 approval_name(k->mailbox),
		 k->o365 < 0 ? "unknown"
		 : k->o365   ? "yes"
			     : "no");
	action_fail(c, rs, "NotApproved", msg, refused_hint);
	return ACTION_FAILED;
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	struct approve_check *k = check_of(rs);

	if (a->status < 200 || a->status >= 300)
		return actu_fail_write(c, rs, a, "approve");
	switch (a->tag) {
	case TAG_PATCH:
		emit_reads(c, rs);
		return ACTION_SENT;
	case TAG_READ_RECORD:
		k->record = actu_int(a->json, "emailrouteraccessapproval", 0);
		break;
	default:
		k->mailbox = actu_int(a->json, "emailrouteraccessapproval", 0);
		if (cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(
			a->json, "isemailaddressapprovedbyo365admin")))
			k->o365 = actu_bool(a->json,
					    "isemailaddressapprovedbyo365admin",
					    false);
		break;
	}
	if (k->record < 0 || k->mailbox < 0)
		return ACTION_SENT; /* the other read is still out */
	return verdict(c, rs, k);
}

const struct action action_approve = {
    .name = "approve",
    .id = ACTION_APPROVE,
    .stage = 3,
    .columns = "emailrouteraccessapproval,_regardingobjectid_value",
    .plan = plan,
    .answer = answer,
    .release = release,
};
