/*
 * testenable.c: Test & Enable, the asynchronous evaluation that follows
 * testemailconfigurationscheduled=true (docs/fidelity.md). Alert texts and
 * codes are the support articles'.
 *
 * A direction is tested only when its delivery method is Server-Side
 * Synchronization (incoming/outgoing 2, ACT 1); the others keep status 0
 * Not Run. Checks, in this order of precedence (the first failing
 * check of 1-4 fails every tested direction and stops; 5 and 6 concern
 * ACT only, as KB 4346733 and KB 4015092 describe):
 *   1. the mailbox's user is disabled             -> MailboxDisabled
 *   2. no email server profile, or an inactive one -> InvalidIncoming-
 *      EmailServerProfile
 *   3. the address is not approved while the organization requires
 *      approval (requireapprovalforuseremail / queueemail) -> one alert
 *      per tested direction, "... requires an approval by an Office 365
 *      administrator", codes OutgoingEmailS2SApprovalNeeded,
 *      IncomingEmailS2SApprovalNeeded, ExchangeSyncEmailS2SApprovalNeeded
 *      (KB 4052727)
 *   4. the Exchange side, for the mailbox's location:
 *      Exchange Online mailbox: user deleted and recreated, no licence,
 *      a Hybrid or on-premises profile, address differing from the
 *      Exchange mailbox's -> 401;
 *      on-premises mailbox: an Exchange Online profile, an address
 *      differing -> 401; a profile whose service account may not
 *      impersonate (impersonation error).
 *      KB 3212785 gives one text for every 401 whatever its cause, so
 *      the 401 alerts carry no details; only the recreated user adds an
 *      alert of its own naming NoUserFoundWithGivenClaims, with "User
 *      does not exist in tenant with id '<id>'" in its details.
 *   5. the mailbox's owner is not its user        -> UserPrivilegeError
 *   6. the user's roles (business-unit copies follow their root role)
 *      lack a privilege of KB 4015092 at the depth it needs
 *      (Basic when the privilege takes it, else Global) ->
 *      Crm.80040220.PrivilegeDenied naming the first missing privilege
 * Queue mailboxes skip 5 and 6. Then the statuses, enabledfor*,
 * mailboxstatus, testmailboxaccesscompletedon and the retry count are
 * set, the flag is cleared (kept under --variant te-flag-stays), and
 * alerts are written to tracelogs (level 3 per failure; level 1 on
 * success). An alert that recurs for the same mailbox updates the
 * existing row's modifiedon, as the service does.
 *
 * Scheduling (dv_test_schedule()): testandenablelastattemptedon and its
 * "by" are stamped, the three statuses go back to 0 Not Run (kept under
 * te-status-kept), and the test runs the test delay later; under
 * te-postponed dvsim sets postponetestemailconfigurationuntil to that
 * moment (whole seconds) and the test waits for it, as would a test
 * postponed by the service. docs/fidelity.md lists the variants.
 *
 * Self-approval (§1.5): a user who schedules the test of their own
 * mailbox (UPN = address, not a queue) approves its address when the
 * organization does not require the privilege to self-approve
 * (simulator flag "requireprivilegetoselfapprove", off by default) or
 * the user holds prvApproveRejectEmailAddress. It does not apply when an
 * application user scheduled the test: an application user has no
 * mailbox of its own to self-approve.
 *
 * tracecode: Microsoft documents no values, only the column's range
 * (0 to 1,000,000,000); dvsim numbers its alerts itself within it (enum
 * below), the 401 alerts carry 401.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "dvsim/org.h"
#include "dvsim/variant.h"

#include "banned.h"

enum { DIR_IN, DIR_OUT, DIR_ACT, NDIR };

/* dvsim's tracecode of each alert (see above) */
enum {
	TC_PROFILE = 1,
	TC_USER_PRIVILEGE = 2,
	TC_IMPERSONATION = 3,
	TC_APPROVAL = 4,
	TC_DISABLED = 5,
	TC_PRIVILEGE_DENIED = 6,
	TC_NO_USER = 7,
	TC_UNAUTHORIZED = 401,
};

struct alert {
	char text[1024];
	char type[160];
	char details[1024];
	int code;
};

struct eval {
	struct dv_org *org;
	struct dv_row *mbx;
	const char *name;
	bool tested[NDIR];
	int status[NDIR];
	struct alert alerts[NDIR + 3];
	size_t nalerts;
};

/* The privileges KB 4015092 lists. */
const char *const dv_sss_privs[] = {
    "prvReadEmailServerProfile",
    "prvWriteMailbox",
    "prvReadMailbox",
    "prvReadOrganization",
    "prvSyncToOutlook",
    "prvReadActionCard",
    "prvDeleteActivity",
    "prvAppendActivity",
    "prvWriteActivity",
    "prvCreateActivity",
    "prvReadActivity",
    "prvAppendToActivity",
    "prvReadConnection",
    "prvAssignContact",
    "prvReadContact",
    "prvWriteContact",
    "prvCreateContact",
    "prvDeleteContact",
    "prvReadUserQuery",
    "prvReadQueue",
    "prvReadQuery",
    "prvReadIncident",
    "prvSearchAvailability",
    "prvOverrideCreatedOnCreatedBy",
};
const size_t dv_sss_nprivs = ARRAY_SIZE(dv_sss_privs);

static struct alert *alert(struct eval *ev, const char *type, int code)
{
	struct alert *a = &ev->alerts[ev->nalerts++];

	snprintf(a->type, sizeof(a->type), "%s", type);
	a->code = code;
	a->text[0] = a->details[0] = '\0';
	return a;
}

/* Fail every tested direction (checks 1-4). */
static void fail_all(struct eval *ev)
{
	for (int d = 0; d < NDIR; d++)
		if (ev->tested[d])
			ev->status[d] = 2;
}

static const char *profile_name(struct dv_row *p)
{
	const char *n = p ? dv_str(p->obj, "name") : NULL;

	return n ? n : "";
}

/* The 401 alerts of KB 3212785: one text per direction, no cause. */
static void unauthorized(struct eval *ev)
{
	static const char code[] = "Http server returned 401 Unauthorized "
				   "exception.";

	if (ev->tested[DIR_OUT]) {
		struct alert *a = alert(ev, code, TC_UNAUTHORIZED);

		snprintf(a->text, sizeof(a->text),
			 "The email message \"Test Message\" cannot be sent. "
			 "Make sure that the credentials specified in the "
			 "mailbox %s are correct and have sufficient "
			 "permissions for sending email. Then, enable the "
			 "mailbox for email processing.",
			 ev->name);
	}
	if (ev->tested[DIR_ACT]) {
		struct alert *a = alert(ev, code, TC_UNAUTHORIZED);

		snprintf(a->text, sizeof(a->text),
			 "Appointments, contacts, and tasks can't be "
			 "synchronized. Make sure that the credentials "
			 "specified in the mailbox %s are correct and have "
			 "sufficient permissions. Then, enable the mailbox "
			 "for appointments, contacts, and tasks "
			 "synchronization.",
			 ev->name);
	}
	if (ev->tested[DIR_IN]) {
		struct alert *a = alert(ev, code, TC_UNAUTHORIZED);

		snprintf(a->text, sizeof(a->text),
			 "Email cannot be received for the mailbox %s. Make "
			 "sure that the credentials specified in the mailbox "
			 "are correct and have sufficient permissions for "
			 "receiving email. Then, enable the mailbox for email "
			 "processing.",
			 ev->name);
	}
	fail_all(ev);
}

/*
 * KB 3212785 cause 6: NoUserFoundWithGivenClaims in an error alert whose
 * details say the user does not exist in the tenant. The alert's own
 * text is not given; this one is dvsim's.
 */
static void no_user(struct eval *ev, struct dv_row *user)
{
	const char *aad =
	    user ? dv_str(user->obj, "azureactivedirectoryobjectid") : NULL;
	struct alert *a = alert(ev, "NoUserFoundWithGivenClaims", TC_NO_USER);

	snprintf(a->text, sizeof(a->text),
		 "Exchange Online refused the mailbox %s: "
		 "NoUserFoundWithGivenClaims.",
		 ev->name);
	snprintf(a->details, sizeof(a->details),
		 "User does not exist in tenant with id '%s'", aad ? aad : "");
}

static void impersonation(struct eval *ev, struct dv_row *profile)
{
	static const char det[] =
	    "System.Web.Services.Protocols.SoapException: The account "
	    "does not have permission to impersonate the requested user.";

	if (ev->tested[DIR_OUT]) {
		struct alert *a =
		    alert(ev, "ImpersonationError", TC_IMPERSONATION);

		snprintf(a->text, sizeof(a->text),
			 "An impersonation error occurred in accessing the "
			 "mailbox while sending the email message \"Test "
			 "Message\". %s didn't synchronize. The owner of the "
			 "associated email server profile %s has been "
			 "notified.",
			 ev->name, profile_name(profile));
		snprintf(a->details, sizeof(a->details), "%s", det);
	}
	if (ev->tested[DIR_IN] || ev->tested[DIR_ACT]) {
		struct alert *a =
		    alert(ev, "ImpersonationError", TC_IMPERSONATION);

		snprintf(a->text, sizeof(a->text),
			 "An impersonation error occurred in accessing the "
			 "mailbox while receiving email. %s didn't "
			 "synchronize. The owner of the associated email "
			 "server profile %s has been notified.",
			 ev->name, profile_name(profile));
		snprintf(a->details, sizeof(a->details), "%s", det);
	}
	fail_all(ev);
}

static bool addr_eq(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

/* Check 4; true when it failed the mailbox. */
static bool exchange_side(struct eval *ev, struct dv_row *user,
			  struct dv_row *profile, const cJSON *x)
{
	const char *loc = dv_str(x, "location");
	bool online = !loc || strcmp(loc, "onprem");
	int st = dv_int(profile->obj, "servertype", 3);
	const char *mine = dv_str(ev->mbx->obj, "emailaddress");
	const char *theirs = dv_str(x, "address");

	if (online) {
		/* KB 3212785: Dynamics 365 and Exchange Online in two tenants
		 */
		if (dv_str(x, "tenant")) {
			unauthorized(ev);
			return true;
		}
		if (dv_bool(x, "recreated")) {
			unauthorized(ev);
			no_user(ev, user);
			return true;
		}
		if (cJSON_IsFalse(
			cJSON_GetObjectItemCaseSensitive(x, "licensed")) ||
		    st == 2 || st == 0 || !addr_eq(mine, theirs)) {
			unauthorized(ev);
			return true;
		}
		return false;
	}
	if (st == 3 || !addr_eq(mine, theirs)) {
		unauthorized(ev);
		return true;
	}
	{
		cJSON *sim = dv_sim_profile(ev->org, profile->id);

		if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(
			sim, "impersonation"))) {
			impersonation(ev, profile);
			return true;
		}
	}
	return false;
}

static void self_approve(struct eval *ev, const char *scheduler,
			 struct dv_row *user, bool queue)
{
	struct dv_org *org = ev->org;
	struct dv_row *s = scheduler[0]
			       ? dv_row_get(dv_table(org, DV_USERS), scheduler)
			       : NULL;
	const cJSON *sim = org->sim;
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	struct dv_table *ut = dv_table(org, DV_USERS);

	if (!s || dv_str(s->obj, "applicationid") || queue || !user ||
	    s != user)
		return;
	if (!addr_eq(dv_str(user->obj, "domainname"),
		     dv_str(ev->mbx->obj, "emailaddress")))
		return;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		sim, "requireprivilegetoselfapprove")) &&
	    dv_user_depth(org, user->id, "prvApproveRejectEmailAddress") ==
		DV_DEPTH_NONE)
		return;
	if (dv_user_depth(org, user->id, "prvWriteMailbox") == DV_DEPTH_NONE)
		return;
	if (dv_int(ev->mbx->obj, "emailrouteraccessapproval", 0) != 1) {
		dv_row_begin_update(org, mt, ev->mbx);
		dv_set_int(ev->mbx->obj, "emailrouteraccessapproval", 1);
		dv_row_end_update(org, mt, ev->mbx);
	}
	if (dv_int(user->obj, "emailrouteraccessapproval", 0) != 1) {
		dv_row_begin_update(org, ut, user);
		dv_set_int(user->obj, "emailrouteraccessapproval", 1);
		dv_row_end_update(org, ut, user);
	}
}

static void write_alert(struct eval *ev, int level, const char *text,
			const char *type, const char *details, int code)
{
	struct dv_org *org = ev->org;
	struct dv_table *t = dv_table(org, DV_TRACELOGS);
	char id[37];
	cJSON *o;

	for (struct hent *e = dv_index_find(
		 dv_table_index(t, "_regardingobjectid_value"), ev->mbx->id);
	     e; e = hmap_next(e->next, ev->mbx->id)) {
		const char *et = dv_str(e->row->obj, "text");
		const char *ty = dv_str(e->row->obj, "errortypedisplay");

		if (et && !strcmp(et, text) &&
		    !strcmp(ty ? ty : "", type ? type : "")) {
			/* begin_update drops the index entry 'e' */
			struct dv_row *row = e->row;

			dv_row_begin_update(org, t, row);
			dv_set_str(row->obj, "errordetails",
				   details && *details ? details : NULL);
			dv_row_end_update(org, t, row);
			return;
		}
	}
	o = cJSON_CreateObject();
	dv_new_guid(org, id);
	dv_set_str(o, "tracelogid", id);
	dv_set_str(o, "text", text);
	dv_set_int(o, "level", level);
	dv_set_int(o, "tracecode", code);
	dv_set_str(o, "errortypedisplay", type && *type ? type : NULL);
	dv_set_str(o, "errordetails", details && *details ? details : NULL);
	dv_set_bool(o, "tracestatus", level != 3);
	dv_set_str(o, "machinename", "dvsim");
	dv_set_str(o, "_regardingobjectid_value", ev->mbx->id);
	dv_row_insert(org, t, o);
}

/* Check 3: the alerts of KB 4052727, one per tested direction. */
static void approval_needed(struct eval *ev, struct dv_row *profile)
{
	const char *p = profile_name(profile);

	if (ev->tested[DIR_OUT]) {
		struct alert *a =
		    alert(ev, "OutgoingEmailS2SApprovalNeeded", TC_APPROVAL);

		snprintf(a->text, sizeof(a->text),
			 "Email cannot be sent because the email address of "
			 "the mailbox %s requires an approval by an Office 365 "
			 "administrator. The mailbox didn't synchronize. The "
			 "owner of the email server profile %s has been "
			 "notified.",
			 ev->name, p);
	}
	if (ev->tested[DIR_IN]) {
		struct alert *a =
		    alert(ev, "IncomingEmailS2SApprovalNeeded", TC_APPROVAL);

		snprintf(a->text, sizeof(a->text),
			 "Email cannot be received because the email address "
			 "of the mailbox %s requires an approval by an Office "
			 "365 administrator. The mailbox didn't synchronize. A "
			 "notification about this is posted on the alerts "
			 "wall for the owner of the email server profile %s.",
			 ev->name, p);
	}
	if (ev->tested[DIR_ACT]) {
		struct alert *a = alert(
		    ev, "ExchangeSyncEmailS2SApprovalNeeded", TC_APPROVAL);

		snprintf(a->text, sizeof(a->text),
			 "Appointments, contacts, and tasks can't be "
			 "synchronized because the email address of the "
			 "mailbox %s requires an approval by an Office 365 "
			 "administrator. A notification about this is posted "
			 "on the alerts wall for the owner of the email "
			 "server profile %s.",
			 ev->name, p);
	}
}

static void evaluate(struct dv_org *org, struct dv_row *mbx,
		     const char *scheduler)
{
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	struct dv_table *orgs = dv_table(org, DV_ORGS);
	const cJSON *o = mbx->obj;
	const char *reg = dv_str(o, "_regardingobjectid_value");
	struct dv_row *user =
	    reg ? dv_row_get(dv_table(org, DV_USERS), reg) : NULL;
	bool queue = !user;
	const char *pid = dv_str(o, "_emailserverprofile_value");
	struct dv_row *profile =
	    pid ? dv_row_get(dv_table(org, DV_PROFILES), pid) : NULL;
	const cJSON *orgrow = orgs->n ? orgs->rows[0]->obj : NULL;
	struct eval ev;
	char now[32];
	bool any_fail = false, any_ok = false;

	memset(&ev, 0, sizeof(ev));
	ev.org = org;
	ev.mbx = mbx;
	ev.name = dv_str(o, "name") ? dv_str(o, "name") : "";
	ev.tested[DIR_IN] = dv_int(o, "incomingemaildeliverymethod", 0) == 2;
	ev.tested[DIR_OUT] = dv_int(o, "outgoingemaildeliverymethod", 0) == 2;
	ev.tested[DIR_ACT] = dv_int(o, "actdeliverymethod", 2) == 1;
	for (int d = 0; d < NDIR; d++)
		ev.status[d] = ev.tested[d] ? 1 : 0;

	self_approve(&ev, scheduler, user, queue);

	if (!ev.tested[DIR_IN] && !ev.tested[DIR_OUT] && !ev.tested[DIR_ACT]) {
		/* nothing to test */
	} else if (user && dv_bool(user->obj, "isdisabled")) {
		struct alert *a = alert(&ev, "MailboxDisabled", TC_DISABLED);

		snprintf(a->text, sizeof(a->text),
			 "Email cannot be sent or received because the mailbox "
			 "%s is deactivated or disabled: its user %s is "
			 "disabled.",
			 ev.name, dv_str(user->obj, "domainname"));
		fail_all(&ev);
	} else if (!profile || dv_int(profile->obj, "statecode", 0) != 0) {
		struct alert *a =
		    alert(&ev, "InvalidIncomingEmailServerProfile", TC_PROFILE);

		snprintf(a->text, sizeof(a->text),
			 "Email cannot be received because the mailbox %s does "
			 "not have an email server profile associated with it "
			 "or the email server profile is inactive.",
			 ev.name);
		if (profile)
			snprintf(a->details, sizeof(a->details),
				 "The email server profile %s (Id=%s) is "
				 "inactive.",
				 profile_name(profile), profile->id);
		fail_all(&ev);
	} else if (orgrow &&
		   dv_bool(orgrow, queue ? "requireapprovalforqueueemail"
					 : "requireapprovalforuseremail") &&
		   dv_int(o, "emailrouteraccessapproval", 0) != 1) {
		approval_needed(&ev, profile);
		fail_all(&ev);
	} else {
		cJSON *x = user ? dv_sim_exchange(org, user->id) : NULL;
		const char *owner = dv_str(o, "_ownerid_value");

		if (x && exchange_side(&ev, user, profile, x)) {
			/* failed */
		} else if (!queue && ev.tested[DIR_ACT] &&
			   (!owner || strcmp(owner, user->id))) {
			struct alert *a =
			    alert(&ev, "UserPrivilegeError", TC_USER_PRIVILEGE);

			snprintf(a->text, sizeof(a->text),
				 "An internal Microsoft Dynamics 365 error "
				 "occurred while synchronizing appointments, "
				 "contacts, and tasks for the mailbox %s. The "
				 "mailbox didn't synchronize. The owner of the "
				 "associated email server profile %s has been "
				 "notified.",
				 ev.name, profile_name(profile));
			snprintf(a->details, sizeof(a->details),
				 "The owner of the mailbox (Id=%s) is not the "
				 "mailbox's user (Id=%s).",
				 owner ? owner : "", user->id);
			ev.status[DIR_ACT] = 2;
		} else if (!queue && ev.tested[DIR_ACT]) {
			for (size_t i = 0; i < dv_sss_nprivs; i++) {
				struct dv_row *p =
				    dv_privilege_by_name(org, dv_sss_privs[i]);
				enum dv_depth need, have;
				struct alert *a;

				if (!p)
					continue;
				need = dv_bool(p->obj, "canbebasic")
					   ? DV_BASIC
					   : DV_GLOBAL;
				have = dv_user_depth(org, user->id,
						     dv_sss_privs[i]);
				if (have >= need)
					continue;
				a = alert(&ev, "Crm.80040220.PrivilegeDenied",
					  TC_PRIVILEGE_DENIED);
				snprintf(
				    a->text, sizeof(a->text),
				    "Appointments, contacts, and tasks "
				    "can't be synchronized for the mailbox "
				    "%s because the mailbox user doesn't "
				    "have sufficient permissions on this "
				    "mailbox.",
				    ev.name);
				snprintf(a->details, sizeof(a->details),
					 "Principal user (Id=%s, type=8) is "
					 "missing %s privilege (Id=%s)",
					 user->id, dv_sss_privs[i], p->id);
				ev.status[DIR_ACT] = 2;
				break;
			}
		}
	}

	dv_now_iso(now);
	dv_row_begin_update(org, mt, mbx);
	dv_set_int(mbx->obj, "incomingemailstatus", ev.status[DIR_IN]);
	dv_set_int(mbx->obj, "outgoingemailstatus", ev.status[DIR_OUT]);
	dv_set_int(mbx->obj, "actstatus", ev.status[DIR_ACT]);
	for (int d = 0; d < NDIR; d++) {
		static const char *const en[] = {"enabledforincomingemail",
						 "enabledforoutgoingemail",
						 "enabledforact"};

		if (ev.status[d] == 1)
			any_ok = true;
		if (ev.status[d] == 2)
			any_fail = true;
		if (ev.tested[d])
			dv_set_bool(mbx->obj, en[d], ev.status[d] == 1);
	}
	dv_set_int(mbx->obj, "mailboxstatus", any_fail ? 2 : any_ok ? 1 : 0);
	dv_set_str(mbx->obj, "testmailboxaccesscompletedon", now);
	dv_set_int(mbx->obj, "testemailconfigurationretrycount",
		   dv_int(mbx->obj, "testemailconfigurationretrycount", 0) + 1);
	if (!dv_variant(DV_VAR_TE_FLAG_STAYS))
		dv_set_bool(mbx->obj, "testemailconfigurationscheduled", false);
	if (ev.nalerts) {
		dv_set_str(mbx->obj, "lastsyncerror", ev.alerts[0].text);
		dv_set_int(mbx->obj, "lastsyncerrorcode", ev.alerts[0].code);
	}
	dv_row_end_update(org, mt, mbx);

	for (size_t i = 0; i < ev.nalerts; i++)
		write_alert(&ev, 3, ev.alerts[i].text, ev.alerts[i].type,
			    ev.alerts[i].details, ev.alerts[i].code);
	if (any_ok && !any_fail) {
		char text[600];

		snprintf(text, sizeof(text),
			 "The mailbox %s was tested and enabled: incoming "
			 "email %s, outgoing email %s, appointments, contacts, "
			 "and tasks %s.",
			 ev.name, ev.tested[DIR_IN] ? "Success" : "Not Run",
			 ev.tested[DIR_OUT] ? "Success" : "Not Run",
			 ev.tested[DIR_ACT] ? "Success" : "Not Run");
		write_alert(&ev, 1, text, NULL, NULL, 0);
	}
}

void dv_org_pretest(struct dv_org *org)
{
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	char now[32];

	dv_now_iso(now);
	for (size_t i = 0; i < mt->n; i++) {
		struct dv_row *mbx = mt->rows[i];

		if (mbx->dead)
			continue;
		dv_row_begin_update(org, mt, mbx);
		dv_set_str(mbx->obj, "testandenablelastattemptedon", now);
		dv_set_bool(mbx->obj, "testemailconfigurationscheduled", true);
		dv_row_end_update(org, mt, mbx);
		evaluate(org, mbx, ""); /* no scheduler: no self-approval */
	}
}

void dv_org_tick(struct dv_org *org)
{
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	int64_t now;
	size_t keep = 0;

	if (!org->ntests || org->in_txn)
		return;
	now = dv_now_ms(org);
	for (size_t i = 0; i < org->ntests; i++) {
		struct dv_pending_test p = org->tests[i];
		struct dv_row *mbx;

		if (p.due_ms > now) {
			org->tests[keep++] = p;
			continue;
		}
		mbx = dv_row_get(mt, p.mailbox);
		/* cleared again before it ran: nothing to do */
		if (!mbx ||
		    !dv_bool(mbx->obj, "testemailconfigurationscheduled"))
			continue;
		evaluate(org, mbx, p.scheduler);
	}
	org->ntests = keep;
}

void dv_test_schedule(struct dv_org *org, struct dv_row *mbx,
		      const char *caller)
{
	long delay = org->test_delay_ms;
	char now[32];

	dv_now_iso(now);
	dv_set_str(mbx->obj, "testandenablelastattemptedon", now);
	dv_set_str(mbx->obj, "_testandenablelastattemptedby_value", caller);
	if (!dv_variant(DV_VAR_TE_STATUS_KEPT)) {
		dv_set_int(mbx->obj, "incomingemailstatus", 0);
		dv_set_int(mbx->obj, "outgoingemailstatus", 0);
		dv_set_int(mbx->obj, "actstatus", 0);
	}
	if (dv_variant(DV_VAR_TE_POSTPONED)) {
		struct timespec ts;
		int64_t wall_ms;
		time_t until;
		struct tm tm;
		char iso[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		wall_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		/* the column holds whole seconds: round up */
		until = (time_t)((wall_ms + delay + 999) / 1000);
		delay = (long)((int64_t)until * 1000 - wall_ms);
		gmtime_r(&until, &tm);
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
		dv_set_str(mbx->obj, "postponetestemailconfigurationuntil",
			   iso);
	}
	dv_schedule_test(org, mbx->id, caller, delay);
}
