#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "diagnose.h"

#include "banned.h"

/* The alert texts of docs/fidelity.md, verbatim. */
#define PRIV_TEXT                                                              \
	"Appointments, contacts, and tasks can't be synchronized for the "     \
	"mailbox Ann Lee because the mailbox user doesn't have sufficient "    \
	"permissions on this mailbox."
#define PRIV_DETAILS                                                           \
	"Principal user (Id=6f1c2a8e-0b0e-4c53-9d1c-2f6b8f0c1a11, type=8) "    \
	"is missing prvReadEmailServerProfile privilege "                      \
	"(Id=edebe6f6-cf2e-4520-b635-ae0615d41e34)"
#define UPE_TEXT                                                               \
	"An internal Microsoft Dynamics 365 error occurred while "             \
	"synchronizing appointments, contacts, and tasks for the mailbox "     \
	"Ann Lee. The mailbox didn't synchronize. The owner of the "           \
	"associated email server profile Microsoft Exchange Online has been "  \
	"notified."
#define U401_SEND                                                              \
	"The email message \"Test Message\" cannot be sent. Make sure that "   \
	"the credentials specified in the mailbox Ann Lee are correct and "    \
	"have sufficient permissions for sending email. Then, enable the "     \
	"mailbox for email processing."
#define U401_ACT                                                               \
	"Appointments, contacts, and tasks can't be synchronized. Make sure "  \
	"that the credentials specified in the mailbox Ann Lee are correct "   \
	"and have sufficient permissions. Then, enable the mailbox for "       \
	"appointments, contacts, and tasks synchronization."
#define U401_RECV                                                              \
	"Email cannot be received for the mailbox Ann Lee. Make sure that "    \
	"the credentials specified in the mailbox are correct and have "       \
	"sufficient permissions for receiving email. Then, enable the "        \
	"mailbox for email processing."
#define U401_CODE                                                              \
	"Email Server Error Code: Http server returned 401 Unauthorized "      \
	"exception."
#define IMP_SEND                                                               \
	"An impersonation error occurred in accessing the mailbox while "      \
	"sending the email message \"Test Message\". Ann Lee didn't "          \
	"synchronize. The owner of the associated email server profile "       \
	"Contoso Hybrid has been notified."
#define IMP_DETAILS                                                            \
	"System.Web.Services.Protocols.SoapException: The account does not "   \
	"have permission to impersonate the requested user."
#define NOPROFILE_TEXT                                                         \
	"Email cannot be received because the mailbox Ann Lee does not have "  \
	"an email server profile associated with it or the email server "      \
	"profile is inactive."

static const struct {
	const char *what;
	struct diag_alert a;
	enum diag_kind kind;
	const char *code, *action, *privilege, *hint_has;
} alerts[] = {
    {"privilege denied, privilege named in details",
     {3, PRIV_TEXT, "Crm.80040220.PrivilegeDenied", PRIV_DETAILS},
     DIAG_PRIVILEGE_DENIED,
     "PrivilegeDenied",
     "grant_privileges",
     "prvReadEmailServerProfile",
     "lacks prvReadEmailServerProfile"},
    {"privilege denied, code in text only",
     {3, PRIV_TEXT " Email Server Error Code: Crm.80040220.PrivilegeDenied", "",
      "Principal user (Id=x, type=8) is missing prvSyncToOutlook "
      "privilege (Id=y)"},
     DIAG_PRIVILEGE_DENIED,
     "PrivilegeDenied",
     "grant_privileges",
     "prvSyncToOutlook",
     "privileges=prvSyncToOutlook"},
    {"user privilege error",
     {3, UPE_TEXT, "UserPrivilegeError", ""},
     DIAG_USER_PRIVILEGE_ERROR,
     "UserPrivilegeError",
     "fix_owner",
     "",
     "fix_owner"},
    {"user privilege error, code in text",
     {3, UPE_TEXT " Email Server Error Code: UserPrivilegeError", NULL, NULL},
     DIAG_USER_PRIVILEGE_ERROR,
     "UserPrivilegeError",
     "fix_owner",
     "",
     "grant_privileges"},
    {"401 sending, no cause",
     {3, U401_SEND, "", U401_CODE},
     DIAG_UNAUTHORIZED,
     "Unauthorized",
     NULL,
     "",
     "Exchange Online licence"},
    {"401 ACT, no cause",
     {3, U401_ACT " " U401_CODE, NULL, NULL},
     DIAG_UNAUTHORIZED,
     "Unauthorized",
     NULL,
     "",
     "set_profile"},
    {"401 receiving, recreated user",
     {3, U401_RECV " NoUserFoundWithGivenClaims", "",
      "User does not exist in tenant with id "
      "'0b5f1f43-4f7e-4f0e-9d7e-0f6f3e7b1c22'"},
     DIAG_UNAUTH_RECREATED,
     "NoUserFoundWithGivenClaims",
     NULL,
     "",
     "permanently deleted"},
    {"401 with details: the cause is still not taken from the text",
     {3, U401_RECV, "",
      U401_CODE " The mailbox is in Exchange Online but its profile is "
		"an Exchange Server (Hybrid) profile."},
     DIAG_UNAUTHORIZED,
     "Unauthorized",
     NULL,
     "",
     "whatever the profile"},
    {"no user in Exchange with the address (K45)",
     {3,
      "Test and Enable failed because no user was found with the email "
      "address ann.lee@contoso.com.",
      "", ""},
     DIAG_UNAUTH_ADDRESS,
     "Unauthorized",
     NULL,
     "",
     "match the Exchange mailbox"},
    {"not approved, sending (KB 4052727)",
     {3,
      "Email cannot be sent because the email address of the mailbox "
      "Ann Lee requires an approval by an Office 365 administrator. The "
      "mailbox didn't synchronize. The owner of the email server profile "
      "Microsoft Exchange Online  has been notified.",
      "OutgoingEmailS2SApprovalNeeded", ""},
     DIAG_NOT_APPROVED,
     "EmailAddressNotApproved",
     "approve",
     "",
     "action approve"},
    {"not approved, receiving, code in text only",
     {3,
      "Email cannot be received because the email address of the "
      "mailbox Ann Lee requires an approval by an Office 365 "
      "administrator. Email Server Error Code: "
      "IncomingEmailS2SApprovalNeeded",
      NULL, NULL},
     DIAG_NOT_APPROVED,
     "EmailAddressNotApproved",
     "approve",
     "",
     "Global or Exchange admin"},
    {"not approved, ACT, code only",
     {3, "Appointments, contacts, and tasks can't be synchronized.",
      "ExchangeSyncEmailS2SApprovalNeeded", ""},
     DIAG_NOT_APPROVED,
     "EmailAddressNotApproved",
     "approve",
     "",
     "approve"},
    {"impersonation, sending",
     {3, IMP_SEND, "", IMP_DETAILS},
     DIAG_IMPERSONATION,
     "ImpersonationError",
     NULL,
     "",
     "impersonation rights in Exchange"},
    {"impersonation, receiving",
     {3,
      "An impersonation error occurred in accessing the mailbox while "
      "receiving email. Ann Lee didn't synchronize.",
      NULL, NULL},
     DIAG_IMPERSONATION,
     "ImpersonationError",
     NULL,
     "",
     "outside Dataverse"},
    {"no or inactive profile",
     {3,
      NOPROFILE_TEXT " Email Server Error Code: "
		     "InvalidIncomingEmailServerProfile",
      "InvalidIncomingEmailServerProfile", ""},
     DIAG_NO_PROFILE,
     "InvalidEmailServerProfile",
     "set_profile",
     "",
     "set_profile"},
    {"address not approved",
     {3,
      "Email cannot be received for the mailbox Ann Lee because the "
      "email address of the mailbox is not approved.",
      "EmailAddressNotApproved", ""},
     DIAG_NOT_APPROVED,
     "EmailAddressNotApproved",
     "approve",
     "",
     "Delegated Mailbox Approver"},
    {"disabled",
     {3,
      "The email message cannot be sent because the mailbox is "
      "deactivated or disabled for outgoing email.",
      "MailboxDisabled", ""},
     DIAG_DISABLED,
     "MailboxDisabled",
     NULL,
     "",
     "activate the mailbox"},
    {"unknown error alert",
     {3, "The mailbox location could not be determined.", "", ""},
     DIAG_OTHER,
     "TestFailed",
     NULL,
     "",
     "alerts"},
    {"success alert",
     {1, "The mailbox Ann Lee was tested and enabled for email processing.", "",
      ""},
     DIAG_NONE,
     "",
     NULL,
     "",
     ""},
};

static void test_alerts_map_to_code_and_hint(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(alerts); i++) {
		struct diag d;
		enum diag_kind k = diagnose_alert(&alerts[i].a, &d);

		if (k != alerts[i].kind)
			fail_msg("%s: kind %d, want %d", alerts[i].what, (int)k,
				 (int)alerts[i].kind);
		assert_int_equal(d.kind, k);
		assert_string_equal(d.code, alerts[i].code);
		if (alerts[i].action)
			assert_string_equal(d.action, alerts[i].action);
		else
			assert_null(d.action);
		assert_string_equal(d.privileges, alerts[i].privilege);
		if (!strstr(d.hint, alerts[i].hint_has))
			fail_msg("%s: hint '%s' lacks '%s'", alerts[i].what,
				 d.hint, alerts[i].hint_has);
	}
}

static void test_missing_privilege_extraction(void **state)
{
	static const struct {
		const char *text, *want;
	} t[] = {
	    {PRIV_DETAILS, "prvReadEmailServerProfile"},
	    /* Dataverse's PrivilegeDenied error template */
	    {"SystemUser(Id = 1) is missing prvWriteMailbox privilege on "
	     "mailbox entity(OTC=9606).",
	     "prvWriteMailbox"},
	    {"missing the point; is missing prvApproveRejectEmailAddress "
	     "privilege",
	     "prvApproveRejectEmailAddress"},
	    {"nothing here", NULL},
	    {NULL, NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char out[64] = "";
		bool ok =
		    diagnose_missing_privilege(t[i].text, out, sizeof(out));

		assert_int_equal(ok, t[i].want != NULL);
		if (t[i].want)
			assert_string_equal(out, t[i].want);
	}
}

static void test_mailbox_collects_privileges_and_ranks(void **state)
{
	struct diag_mailbox m;
	struct diag d;
	const struct diag_alert a[] = {
	    {1, "Mailbox tested and enabled.", "", ""},
	    {3, PRIV_TEXT, "Crm.80040220.PrivilegeDenied", PRIV_DETAILS},
	    {3, U401_SEND, "", U401_CODE},
	    {3, PRIV_TEXT, "Crm.80040220.PrivilegeDenied",
	     "Principal user (Id=x, type=8) is missing prvReadMailbox "
	     "privilege (Id=y)"},
	    {3, PRIV_TEXT, "Crm.80040220.PrivilegeDenied", PRIV_DETAILS},
	};

	(void)state;
	diagnose_mailbox_init(&m);
	assert_int_equal(diagnose_mailbox(&m, a, ARRAY_SIZE(a), &d),
			 DIAG_PRIVILEGE_DENIED);
	assert_string_equal(d.privileges,
			    "prvReadEmailServerProfile;prvReadMailbox");
	assert_non_null(strstr(d.hint, "privileges=prvReadEmailServerProfile;"
				       "prvReadMailbox"));

	/* UserPrivilegeError outranks PrivilegeDenied: fix the owner first */
	{
		const struct diag_alert b[] = {
		    a[1],
		    {3, UPE_TEXT, "UserPrivilegeError", ""},
		};

		assert_int_equal(diagnose_mailbox(&m, b, ARRAY_SIZE(b), &d),
				 DIAG_USER_PRIVILEGE_ERROR);
	}
}

/*
 * KB 3212785: one 401 text for six causes. The profile's type narrows
 * them; a NoUserFoundWithGivenClaims alert names the recreated user.
 */
static void test_401_narrowed_by_what_dataverse_shows(void **state)
{
	const struct diag_alert a[] = {
	    {3, U401_SEND, "Http server returned 401 Unauthorized exception.",
	     ""},
	    {3, U401_RECV, "Http server returned 401 Unauthorized exception.",
	     ""},
	};
	const struct diag_alert rec[] = {
	    a[0],
	    {3,
	     "Exchange Online refused the mailbox Ann Lee: "
	     "NoUserFoundWithGivenClaims.",
	     "NoUserFoundWithGivenClaims",
	     "User does not exist in tenant with id 'x'"},
	};
	struct diag_mailbox m;
	struct diag d;
	const char *p1, *p2, *p3, *p4;

	(void)state;
	diagnose_mailbox_init(&m);

	/* an Exchange Server (Hybrid) profile: the profile first */
	m.profile_type = 2;
	assert_int_equal(diagnose_mailbox(&m, a, ARRAY_SIZE(a), &d),
			 DIAG_UNAUTH_HYBRID);
	assert_string_equal(d.code, "Unauthorized");
	assert_string_equal(d.action, "set_profile");
	p1 = strstr(d.hint, "(1) the mailbox is in Exchange Online");
	assert_non_null(p1);
	assert_non_null(strstr(d.hint, "action set_profile with "
				       "profile=Microsoft Exchange Online"));
	assert_non_null(strstr(d.hint, "Basic authentication"));
	assert_null(strstr(d.hint, "licence"));
	m.profile_type = 0; /* Exchange Server */
	assert_int_equal(diagnose_mailbox(&m, a, 1, &d), DIAG_UNAUTH_HYBRID);

	/* Exchange Online: the four causes left, most likely first */
	m.profile_type = 3;
	assert_int_equal(diagnose_mailbox(&m, a, ARRAY_SIZE(a), &d),
			 DIAG_UNAUTHORIZED);
	assert_string_equal(d.code, "Unauthorized");
	assert_null(d.action);
	p1 = strstr(d.hint, "(1) the mailbox's email address differs");
	p2 = strstr(d.hint, "(2) the user has no Exchange Online licence");
	p3 = strstr(d.hint, "(3) the user was deleted and recreated");
	p4 = strstr(d.hint, "(4) Dynamics 365 and Exchange Online are in "
			    "different tenants");
	assert_true(p1 && p2 && p3 && p4 && p1 < p2 && p2 < p3 && p3 < p4);
	/* no action the remediation would add, nothing for on-premises */
	assert_null(strstr(d.hint, "action "));
	assert_null(strstr(d.hint, "Basic authentication"));
	assert_non_null(strstr(d.hint, "then test_enable"));

	/* profile unknown: all six */
	m.profile_type = -1;
	assert_int_equal(diagnose_mailbox(&m, a, 1, &d), DIAG_UNAUTHORIZED);
	assert_non_null(strstr(d.hint, "(6) "));

	/* the recreated user's own alert wins over the profile */
	m.profile_type = 3;
	assert_int_equal(diagnose_mailbox(&m, rec, ARRAY_SIZE(rec), &d),
			 DIAG_UNAUTH_RECREATED);
	assert_string_equal(d.code, "NoUserFoundWithGivenClaims");
	assert_non_null(strstr(d.hint, "permanently deleted"));
	m.profile_type = 2;
	assert_int_equal(diagnose_mailbox(&m, rec, ARRAY_SIZE(rec), &d),
			 DIAG_UNAUTH_RECREATED);
}

static void test_mailbox_columns_without_alerts(void **state)
{
	static const struct {
		const char *what;
		int statecode, approval, in_m, out_m, act_m, act_status;
		bool has_profile, active, owner_is_user, is_queue;
		enum diag_kind want;
	} t[] = {
	    {"healthy", 0, 1, 2, 2, 1, 1, true, true, true, false, DIAG_NONE},
	    {"inactive", 1, 1, 2, 2, 1, 0, true, true, true, false,
	     DIAG_DISABLED},
	    {"no profile", 0, 1, 2, 2, 1, 0, false, true, true, false,
	     DIAG_NO_PROFILE},
	    {"inactive profile", 0, 0, 2, 2, 1, 0, true, false, true, false,
	     DIAG_NO_PROFILE},
	    {"owner", 0, 1, 2, 2, 1, 0, true, true, false, false,
	     DIAG_USER_PRIVILEGE_ERROR},
	    {"queue owner is not a problem", 0, 1, 2, 2, 1, 0, true, true,
	     false, true, DIAG_NONE},
	    {"pending approval", 0, 2, 2, 2, 1, 0, true, true, true, false,
	     DIAG_NOT_APPROVED},
	    {"outlook delivery", 0, 1, 1, 2, 1, 0, true, true, true, false,
	     DIAG_DELIVERY},
	    {"act none", 0, 1, 2, 2, 2, 0, true, true, true, false,
	     DIAG_DELIVERY},
	    {"failed without alert", 0, 1, 2, 2, 1, 2, true, true, true, false,
	     DIAG_OTHER},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct diag_mailbox m;
		struct diag d;
		enum diag_kind k;

		diagnose_mailbox_init(&m);
		m.statecode = t[i].statecode;
		m.approval = t[i].approval;
		m.incoming_method = t[i].in_m;
		m.outgoing_method = t[i].out_m;
		m.act_method = t[i].act_m;
		m.act_status = t[i].act_status;
		m.has_profile = t[i].has_profile;
		m.profile_active = t[i].active;
		m.owner_is_user = t[i].owner_is_user;
		m.is_queue = t[i].is_queue;
		k = diagnose_mailbox(&m, NULL, 0, &d);
		if (k != t[i].want)
			fail_msg("%s: kind %d, want %d", t[i].what, (int)k,
				 (int)t[i].want);
		if (k != DIAG_NONE)
			assert_true(*d.hint);
	}
}

static void test_write_errors(void **state)
{
	static const struct {
		const char *code, *message, *action, *want_code, *hint_has;
	} t[] = {
	    {"0x8009000B",
	     "The email address can only be approved by an Office 365 "
	     "Global Administrator or Exchange Administrator.",
	     "approve", "0x8009000B", "Delegated Mailbox Approver"},
	    {"0x8009000b", "", "approve", "0x8009000B",
	     "Global or Exchange admin with System Administrator"},
	    {"0x80040220",
	     "SystemUser(Id = 1) is missing prvApproveRejectEmailAddress "
	     "privilege on mailbox entity(OTC=9606).",
	     "approve", "0x80040220", "Delegated Mailbox Approver"},
	    {"0x80040220",
	     "SystemUser(Id = 1) is missing prvWriteMailbox privilege on "
	     "mailbox entity(OTC=9606).",
	     "set_delivery", "0x80040220",
	     "lacks prvWriteMailbox for set_delivery"},
	    {"0x80040217", "mailbox With Id = 1 Does Not Exist", NULL,
	     "0x80040217", "not found"},
	    {"0x8004140b", "invalid depth", "grant_privileges", "0x8004140b",
	     "allowed depths"},
	    {"0x80044331", "A validation error occurred.", NULL, "", ""},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct diag d;

		diagnose_write_error(t[i].code, t[i].message, t[i].action, &d);
		assert_string_equal(d.code, t[i].want_code);
		if (!strstr(d.hint, t[i].hint_has))
			fail_msg("case %zu: hint '%s' lacks '%s'", i, d.hint,
				 t[i].hint_has);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alerts_map_to_code_and_hint),
	    cmocka_unit_test(test_missing_privilege_extraction),
	    cmocka_unit_test(test_mailbox_collects_privileges_and_ranks),
	    cmocka_unit_test(test_401_narrowed_by_what_dataverse_shows),
	    cmocka_unit_test(test_mailbox_columns_without_alerts),
	    cmocka_unit_test(test_write_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
