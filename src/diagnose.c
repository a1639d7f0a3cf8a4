#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "diagnose.h"

#include "banned.h"

/*
 * The hints. Where mbxfix can act, the hint names the action to put in the
 * row's `actions` column; where it cannot (Exchange, licences, tenants),
 * it says what the administrator must do, from the support articles
 * (docs/fidelity.md).
 */
static const struct rule {
	enum diag_kind kind;
	const char *code;
	const char *action;
	const char *hint;
} rules[] = {
    {DIAG_NONE, "", NULL, ""},
    {DIAG_PRIVILEGE_DENIED, "PrivilegeDenied", "grant_privileges",
     NULL /* built in fill() around the privilege names */},
    {DIAG_USER_PRIVILEGE_ERROR, "UserPrivilegeError", "fix_owner",
     "the mailbox's owner is not its user: set the owner to the mailbox's "
     "user (action fix_owner), check that user's roles hold the "
     "Server-Side Sync privileges (grant_privileges with "
     "privileges=server-side-sync), then test_enable"},
    {DIAG_UNAUTHORIZED, "Unauthorized", NULL,
     NULL /* built in fill() from the profile's type */},
    {DIAG_UNAUTH_ADDRESS, "Unauthorized", NULL,
     "Exchange has no mailbox with this email address: correct the "
     "user's primary email (or the mailbox's address) to match the "
     "Exchange mailbox, approve it again if needed (action approve), then "
     "test_enable"},
    {DIAG_UNAUTH_HYBRID, "Unauthorized", "set_profile",
     NULL /* built in fill() */},
    {DIAG_UNAUTH_RECREATED, "NoUserFoundWithGivenClaims", NULL,
     "Exchange refused the credentials (401): the user or mailbox was "
     "deleted and recreated with the same address; make sure the old one "
     "is permanently deleted (caches may take up to 72 hours), then "
     "test_enable"},
    {DIAG_IMPERSONATION, "ImpersonationError", NULL,
     "the account of the mailbox's email server profile may not "
     "impersonate this mailbox: grant it impersonation rights in "
     "Exchange (outside Dataverse), then test_enable"},
    {DIAG_NOT_APPROVED, "EmailAddressNotApproved", "approve",
     "the mailbox's email address is not approved: approve it (action "
     "approve; needs a Global or Exchange admin with System "
     "Administrator, or the Delegated Mailbox Approver role), then "
     "test_enable"},
    {DIAG_NO_PROFILE, "InvalidEmailServerProfile", "set_profile",
     "the mailbox has no email server profile or its profile is "
     "inactive: set an active profile (action set_profile), then "
     "test_enable"},
    {DIAG_DISABLED, "MailboxDisabled", NULL,
     "the mailbox is deactivated or disabled for email, or its user is "
     "disabled: activate the mailbox or enable the user (Dynamics 365 / "
     "Microsoft 365 admin center), then test_enable"},
    {DIAG_DELIVERY, "DeliveryMethod", "set_delivery",
     "the delivery methods are not Server-Side Synchronization: set them "
     "(action set_delivery), then test_enable"},
    {DIAG_TEST_TIMEOUT, "TestTimeout", "test_enable",
     "Test & Enable did not finish within test_timeout: run test_enable "
     "again later or raise run.test_timeout"},
    {DIAG_OTHER, "TestFailed", NULL,
     "Test & Enable reported an error mbxfix does not recognise: read "
     "the mailbox's alerts in Dynamics 365"},
    /* verified in Microsoft Graph (graph.h); one sentence each */
    {DIAG_EX_RECREATED, "UserRecreated", NULL,
     "the Entra user was deleted and recreated with the same address: the "
     "Entra admin must permanently delete the old user (or restore it) so "
     "that the Dynamics 365 user and Exchange refer to the same object, "
     "then test_enable (Exchange caches take up to 72 hours)"},
    {DIAG_EX_TENANT, "OtherTenant", NULL,
     "the mailbox is in another tenant's Exchange: Server-Side "
     "Synchronization with Exchange Online needs the mailbox in the "
     "tenant of Dynamics 365, so the Exchange admin must move it there (or "
     "the user must get a mailbox of this tenant), then test_enable"},
    {DIAG_EX_LICENCE, "NoExchangeLicence", NULL,
     "the user has no enabled Exchange Online plan: the Microsoft 365 "
     "admin must assign a licence that includes Exchange Online (and wait "
     "for the mailbox to be created), then test_enable"},
    {DIAG_EX_ADDRESS, "AddressDiffersFromExchange", NULL,
     "the mailbox's address is not an address of the Exchange mailbox: "
     "the Exchange admin must add it as a proxy address, or the mailbox's "
     "address in Dynamics 365 must be set to the Exchange one (and "
     "approved again), then test_enable"},
    {DIAG_EX_HYBRID, "HybridProfileForCloudMailbox", "set_profile",
     "the mailbox is in Exchange Online but its profile is for Exchange "
     "Server: use the Exchange Online profile (action set_profile with "
     "profile=Microsoft Exchange Online), then test_enable"},
};

static const struct rule *rule_of(enum diag_kind k)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (rules[i].kind == k)
			return &rules[i];
	BUG("no rule for diagnosis %d", (int)k);
}

/*
 * The 401 causes of KB 3212785 that Dataverse cannot tell apart, each
 * with what to do; the hints list the ones left for a profile type.
 */
static const char c401_hybrid[] =
    "the mailbox is in Exchange Online but the profile is for Exchange "
    "Server: use the Exchange Online profile (action set_profile with "
    "profile=Microsoft Exchange Online)";
static const char c401_address[] =
    "the mailbox's email address differs from the Exchange mailbox's: "
    "correct the user's primary email (or the mailbox's address) to "
    "match, and approve it again";
static const char c401_licence[] =
    "the user has no Exchange Online licence: assign one in the "
    "Microsoft 365 admin center";
static const char c401_recreated[] =
    "the user was deleted and recreated with the same address: "
    "permanently delete the old one (caches take up to 72 hours)";
static const char c401_tenant[] =
    "Dynamics 365 and Exchange Online are in different tenants: an "
    "Exchange Online profile needs them in one";
static const char c401_basic[] =
    "the mailbox is on Exchange Server and Basic authentication is off "
    "for EWS there: enable it";

static void hint_401(struct diag *out, int profile_type)
{
	const char *online[] = {c401_address, c401_licence, c401_recreated,
				c401_tenant};
	const char *server[] = {c401_hybrid, c401_basic, c401_address,
				c401_recreated};
	const char *any[] = {c401_address,   c401_licence, c401_hybrid,
			     c401_recreated, c401_tenant,  c401_basic};
	const char *const *list = any;
	size_t n = ARRAY_SIZE(any), len;
	const char *what = "whatever the profile";

	if (profile_type == 3) {
		list = online;
		n = ARRAY_SIZE(online);
		what = "with an Exchange Online profile";
	} else if (profile_type == 0 || profile_type == 2) {
		list = server;
		n = ARRAY_SIZE(server);
		what = "with an Exchange Server profile";
	}
	len = (size_t)snprintf(out->hint, sizeof(out->hint),
			       "Exchange refused the credentials (401) and "
			       "the alert does not say why; %s the causes "
			       "are, most likely first:",
			       what);
	for (size_t i = 0; i < n && len < sizeof(out->hint); i++)
		len +=
		    (size_t)snprintf(out->hint + len, sizeof(out->hint) - len,
				     " (%zu) %s;", i + 1, list[i]);
	if (len < sizeof(out->hint))
		snprintf(out->hint + len, sizeof(out->hint) - len,
			 " then test_enable");
}

static void fill(struct diag *out, enum diag_kind k, int profile_type)
{
	const struct rule *r = rule_of(k);

	out->kind = k;
	out->code = r->code;
	out->action = r->action;
	if (k == DIAG_UNAUTHORIZED || k == DIAG_UNAUTH_HYBRID) {
		hint_401(out, profile_type);
	} else if (k == DIAG_PRIVILEGE_DENIED) {
		const char *p =
		    *out->privileges ? out->privileges : "a required privilege";

		snprintf(out->hint, sizeof(out->hint),
			 "the mailbox's user lacks %s: grant it to a security "
			 "role of that user (action grant_privileges with "
			 "role=<the user's role> and privileges=%s, or the "
			 "server-side-sync template), then test_enable",
			 p, p);
	} else {
		snprintf(out->hint, sizeof(out->hint), "%s", r->hint);
	}
}

static void clear(struct diag *out)
{
	out->kind = DIAG_NONE;
	out->code = "";
	out->action = NULL;
	out->privileges[0] = '\0';
	out->hint[0] = '\0';
}

/* Case-insensitive substring test; NULL haystacks hold nothing. */
static bool has(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	if (!s)
		return false;
	for (; *s; s++)
		if (!strncasecmp(s, needle, n))
			return true;
	return false;
}

static bool any_has(const struct diag_alert *a, const char *needle)
{
	return has(a->text, needle) || has(a->errortype, needle) ||
	       has(a->details, needle);
}

bool diagnose_missing_privilege(const char *text, char *out, size_t size)
{
	const char *p = text;

	/* "... is missing prvReadEmailServerProfile privilege (Id=...)" */
	while (p && (p = strstr(p, "missing ")) != NULL) {
		const char *name = p + strlen("missing "), *end = name;

		while (isalnum((unsigned char)*end) || *end == '_')
			end++;
		if (end > name && !strncmp(name, "prv", 3)) {
			snprintf(out, size, "%.*s", (int)(end - name), name);
			return true;
		}
		p = name;
	}
	return false;
}

static enum diag_kind classify(const struct diag_alert *a, char *priv,
			       size_t priv_size)
{
	if (any_has(a, "PrivilegeDenied") || any_has(a, "80040220")) {
		if (!diagnose_missing_privilege(a->details, priv, priv_size))
			diagnose_missing_privilege(a->text, priv, priv_size);
		return DIAG_PRIVILEGE_DENIED;
	}
	if (any_has(a, "UserPrivilegeError"))
		return DIAG_USER_PRIVILEGE_ERROR;
	if (any_has(a, "impersonat"))
		return DIAG_IMPERSONATION;
	if (any_has(a, "NoUserFoundWithGivenClaims") ||
	    any_has(a, "User does not exist in tenant"))
		return DIAG_UNAUTH_RECREATED;
	/* KB 4052727: "... requires an approval by an Office 365
	 * administrator", codes <direction>EmailS2SApprovalNeeded */
	if (any_has(a, "S2SApprovalNeeded") ||
	    any_has(a, "requires an approval by an Office 365 administrator"))
		return DIAG_NOT_APPROVED;
	/* KB 3212785: the same text for every cause (diagnose.h) */
	if (any_has(a, "401 Unauthorized") || any_has(a, "Unauthorized"))
		return DIAG_UNAUTHORIZED;
	/* Test & Enable for an address unknown to Exchange (K45). */
	if (any_has(a, "no user was found with the email address"))
		return DIAG_UNAUTH_ADDRESS;
	if (any_has(a, "EmailServerProfile") ||
	    any_has(a, "email server profile associated") ||
	    any_has(a, "profile is inactive"))
		return DIAG_NO_PROFILE;
	if (any_has(a, "not approved") || any_has(a, "NotApproved") ||
	    any_has(a, "approve the email address"))
		return DIAG_NOT_APPROVED;
	if (any_has(a, "MailboxDisabled") || any_has(a, "deactivated") ||
	    any_has(a, "is disabled"))
		return DIAG_DISABLED;
	if (a->level >= 3 || (a->errortype && *a->errortype))
		return DIAG_OTHER;
	return DIAG_NONE;
}

enum diag_kind diagnose_alert(const struct diag_alert *a, struct diag *out)
{
	enum diag_kind k;

	clear(out);
	/* Information alerts (Test & Enable succeeded) report nothing. */
	if (a->level == 1)
		return DIAG_NONE;
	k = classify(a, out->privileges, sizeof(out->privileges));
	if (k != DIAG_NONE)
		fill(out, k, -1);
	return k;
}

void diagnose_mailbox_init(struct diag_mailbox *m)
{
	m->statecode = -1;
	m->approval = -1;
	m->incoming_status = -1;
	m->outgoing_status = -1;
	m->act_status = -1;
	m->incoming_method = -1;
	m->outgoing_method = -1;
	m->act_method = -1;
	m->profile_type = -1;
	m->has_profile = true;
	m->profile_active = true;
	m->owner_is_user = true;
	m->is_queue = false;
}

/* Lower ranks are more useful to report (they say what to do). */
static int rank(enum diag_kind k)
{
	static const enum diag_kind order[] = {
	    DIAG_DISABLED,
	    DIAG_NO_PROFILE,
	    DIAG_USER_PRIVILEGE_ERROR,
	    DIAG_PRIVILEGE_DENIED,
	    DIAG_UNAUTH_HYBRID,
	    DIAG_NOT_APPROVED,
	    DIAG_UNAUTH_ADDRESS,
	    DIAG_UNAUTH_RECREATED,
	    DIAG_UNAUTHORIZED,
	    DIAG_IMPERSONATION,
	    DIAG_DELIVERY,
	    DIAG_OTHER,
	    DIAG_TEST_TIMEOUT,
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++)
		if (order[i] == k)
			return (int)i;
	return (int)ARRAY_SIZE(order);
}

static void add_privilege(char *list, size_t size, const char *p)
{
	size_t len = strlen(list), n = strlen(p);
	const char *s = list;

	/* already listed? */
	while (*s) {
		const char *end = strchr(s, ';');
		size_t l = end ? (size_t)(end - s) : strlen(s);

		if (l == n && !strncmp(s, p, n))
			return;
		if (!end)
			break;
		s = end + 1;
	}
	if (len + n + 2 > size)
		return;
	if (len)
		list[len++] = ';';
	memcpy(list + len, p, n + 1);
}

enum diag_kind diagnose_mailbox(const struct diag_mailbox *m,
				const struct diag_alert *alerts, size_t n,
				struct diag *out)
{
	enum diag_kind best = DIAG_NONE;
	char privs[DIAG_PRIVS_MAX] = "";

	clear(out);
	for (size_t i = 0; i < n; i++) {
		char p[DIAG_PRIVS_MAX] = "";
		enum diag_kind k;

		if (alerts[i].level == 1)
			continue;
		k = classify(&alerts[i], p, sizeof(p));
		if (k == DIAG_NONE)
			continue;
		if (k == DIAG_PRIVILEGE_DENIED && *p)
			add_privilege(privs, sizeof(privs), p);
		if (best == DIAG_NONE || rank(k) < rank(best))
			best = k;
	}

	/* What the columns show, when the alerts said nothing sharper. */
	if (m->statecode == 1 && rank(DIAG_DISABLED) < rank(best))
		best = DIAG_DISABLED;
	if ((!m->has_profile || !m->profile_active) &&
	    (best == DIAG_NONE || rank(DIAG_NO_PROFILE) < rank(best)))
		best = DIAG_NO_PROFILE;
	if (best == DIAG_NONE && !m->owner_is_user && !m->is_queue)
		best = DIAG_USER_PRIVILEGE_ERROR;
	if (best == DIAG_NONE && m->approval >= 0 && m->approval != 1)
		best = DIAG_NOT_APPROVED;
	if (best == DIAG_NONE &&
	    ((m->incoming_method >= 0 && m->incoming_method != 2) ||
	     (m->outgoing_method >= 0 && m->outgoing_method != 2) ||
	     (m->act_method >= 0 && m->act_method != 1)))
		best = DIAG_DELIVERY;
	if (best == DIAG_NONE &&
	    (m->incoming_status == 2 || m->outgoing_status == 2 ||
	     m->act_status == 2))
		best = DIAG_OTHER;
	if (best == DIAG_NONE)
		return DIAG_NONE;
	/* a 401 on an Exchange Server profile: most likely the profile */
	if (best == DIAG_UNAUTHORIZED &&
	    (m->profile_type == 0 || m->profile_type == 2))
		best = DIAG_UNAUTH_HYBRID;
	snprintf(out->privileges, sizeof(out->privileges), "%s", privs);
	fill(out, best, m->profile_type);
	return best;
}

bool diagnose_exchange(const char *code, struct diag *out)
{
	static const enum diag_kind kinds[] = {
	    DIAG_EX_RECREATED, DIAG_EX_TENANT, DIAG_EX_LICENCE,
	    DIAG_EX_ADDRESS,   DIAG_EX_HYBRID,
	};

	for (size_t i = 0; code && i < ARRAY_SIZE(kinds); i++)
		if (!strcmp(rule_of(kinds[i])->code, code)) {
			clear(out);
			fill(out, kinds[i], -1);
			return true;
		}
	return false;
}

void diagnose_exchange_clear(struct diag *out, int profile_type)
{
	if (out->kind != DIAG_UNAUTHORIZED && out->kind != DIAG_UNAUTH_HYBRID)
		return;
	if (profile_type != 0 && profile_type != 2)
		return;
	out->kind = DIAG_UNAUTHORIZED;
	out->code = "Unauthorized";
	out->action = NULL;
	snprintf(out->hint, sizeof(out->hint),
		 "Exchange refused the credentials (401) and Microsoft Graph "
		 "shows the user, its tenant and its address in order: with "
		 "an Exchange Server profile the cause left is Basic "
		 "authentication turned off for EWS on the Exchange server, "
		 "which Graph cannot see, so the Exchange admin must enable "
		 "it, then test_enable");
}

static const struct {
	const char *code;
	const char *name;
} write_codes[] = {
    {"0x8009000B", "O365RoleUnsupportedForEmailApproval"},
    {"0x80040220", "PrivilegeDenied"},
    {"0x80040217", "ObjectDoesNotExist"},
    {"0x8004140b", "InvalidPrivilegeDepth"},
};

void diagnose_write_error(const char *code, const char *message,
			  const char *action, struct diag *out)
{
	char priv[DIAG_PRIVS_MAX] = "";
	const char *what = action ? action : "the change";

	clear(out);
	out->kind = DIAG_OTHER;
	out->code = "";
	for (size_t i = 0; code && i < ARRAY_SIZE(write_codes); i++)
		if (!strcasecmp(code, write_codes[i].code))
			out->code = write_codes[i].code;
	if (!*out->code)
		return;
	if (!strcasecmp(out->code, "0x80040220"))
		diagnose_missing_privilege(message, priv, sizeof(priv));

	if (!strcasecmp(out->code, "0x8009000B") ||
	    !strcasecmp(priv, "prvApproveRejectEmailAddress")) {
		snprintf(out->hint, sizeof(out->hint),
			 "approval refused: approving an email address needs "
			 "the prvApproveRejectEmailAddress privilege and a "
			 "Global or Exchange admin with System Administrator, "
			 "or the Delegated Mailbox Approver role with System "
			 "Administrator; give mbxfix's application user the "
			 "Delegated Mailbox Approver role or approve in the "
			 "admin center");
	} else if (!strcasecmp(out->code, "0x80040220")) {
		snprintf(out->privileges, sizeof(out->privileges), "%s", priv);
		snprintf(out->hint, sizeof(out->hint),
			 "mbxfix's application user lacks %s for %s: add it "
			 "to one of that user's security roles",
			 *priv ? priv : "a privilege", what);
	} else if (!strcasecmp(out->code, "0x80040217")) {
		snprintf(out->hint, sizeof(out->hint),
			 "not found: check the mailbox, profile, user or role "
			 "named on the row (it may have been deleted)");
	} else {
		snprintf(out->hint, sizeof(out->hint),
			 "a privilege was asked at a depth it does not allow: "
			 "use one of its allowed depths (Basic, Local, Deep, "
			 "Global per its canbe* flags)");
	}
}
