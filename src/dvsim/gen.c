/*
 * gen.c: a generated organisation, the same for the same arguments.
 *
 * Shape: a root business unit and two child units; the privilege
 * catalogue; root roles (System Administrator, Delegated Mailbox
 * Approver, Salesperson, and two custom roles that lack some of the
 * privileges Server-Side Synchronization needs) with copies in each child
 * unit; email server profiles; an administrator; n users, each with a
 * mailbox whose address is the user's UPN; a few queues with queue
 * mailboxes; the organization row. Mailboxes start untested (statuses 0
 * Not Run).
 *
 * The MIX (--problems) says how often each known problem occurs, as
 * comma-separated percentages of the users' mailboxes:
 *
 *   profile=P        no email server profile, or an inactive one
 *   hybrid=P         "Exchange Server (Hybrid)" profile on an Exchange
 *                    Online mailbox (401 at Test & Enable)
 *   delivery=P       incoming/outgoing/ACT delivery methods not all SSS
 *   owner=P          the mailbox's owner is another user
 *   privileges=P     the user's only role is a custom role lacking some
 *                    SSS privileges (the same role shared by many users)
 *   approval=P       address pending approval (the org requires approval)
 *   address=P        the Exchange mailbox has another address (401)
 *   licence=P        no Exchange Online licence (401)
 *   impersonation=P  on-premises Exchange mailbox on a profile whose
 *                    service account may not impersonate
 *   disabled=P       the user is disabled
 *   recreated=P      the user was deleted and recreated in Entra ID (401,
 *                    NoUserFoundWithGivenClaims)
 *   tenant=P         the mailbox is in another tenant's Exchange Online
 *                    (address @fabrikam.com, not a verified domain: 401)
 *
 * Each mailbox gets at most one problem, drawn with these weights; the
 * rest (100 minus the sum) are healthy. A MIX names only the kinds it
 * wants: "delivery=50" leaves half the mailboxes healthy, "ok" alone
 * (or "none") none broken. The default mix leaves most mailboxes broken
 * in ways a tool can fix through the Web API (profile, hybrid, delivery,
 * owner, privileges, approval) and some it can only explain:
 */
#define GEN_DEFAULT_MIX                                                        \
	"profile=12,hybrid=6,delivery=20,owner=8,privileges=10,approval=14,"   \
	"address=4,licence=4,impersonation=3,disabled=2,recreated=2"

#include "compat.h"

#include <assert.h>
#include <string.h>
#include <strings.h>

#include "dvsim/org.h"

#include "banned.h"

enum problem {
	PB_OK,
	PB_PROFILE,
	PB_HYBRID,
	PB_DELIVERY,
	PB_OWNER,
	PB_PRIVILEGES,
	PB_APPROVAL,
	PB_ADDRESS,
	PB_LICENCE,
	PB_IMPERSONATION,
	PB_DISABLED,
	PB_RECREATED,
	PB_TENANT,
	PB_N
};

static const char *const pb_names[PB_N] = {
    "ok",	"profile", "hybrid",  "delivery",      "owner",	   "privileges",
    "approval", "address", "licence", "impersonation", "disabled", "recreated",
    "tenant",
};

static const char *const first_names[] = {
    "Ada",  "Ben",   "Chloe", "David", "Elena", "Farid", "Grace",
    "Hugo", "Ines",  "Jonas", "Kira",  "Liam",	"Maya",	 "Noah",
    "Olga", "Pavel", "Quinn", "Rosa",  "Sven",	"Tara",	 "Umar",
    "Vera", "Wim",   "Xenia", "Yusuf", "Zoe",
};
static const char *const last_names[] = {
    "Adams",  "Brown",	 "Chen",   "Dubois",   "Evans",	  "Fischer", "Garcia",
    "Hansen", "Ivanova", "Jensen", "Kowalski", "Lopez",	  "Muller",  "Nakamura",
    "OBrien", "Petrov",	 "Quist",  "Rossi",    "Schmidt", "Tanaka",  "Ueda",
    "Varga",  "Weber",	 "Xu",	   "Young",    "Zimmer",
};

#define DOMAIN "contoso.com"

struct gen {
	struct dv_org *org;
	char orgid[37], rootbu[37], bus[3][37];
	char p_online[37], p_hybrid[37], p_onprem_ok[37], p_onprem_bad[37],
	    p_inactive[37];
	char admin[37];
	/* root roles */
	char r_sysadmin[37], r_approver[37], r_sales[37], r_restricted[37],
	    r_lite[37];
	int weights[PB_N];
	char **users; /* ids of generated users, for owner problems */
	size_t nusers;
};

static int parse_mix(struct gen *g, const char *mix, struct err *e)
{
	const char *p = mix ? mix : GEN_DEFAULT_MIX;
	int sum = 0;

	memset(g->weights, 0, sizeof(g->weights));
	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);
		size_t nlen;
		long v = 0;
		int k;

		eq = memchr(p, '=', len);
		nlen = eq ? (size_t)(eq - p) : len;
		for (k = 0; k < PB_N; k++)
			if (strlen(pb_names[k]) == nlen &&
			    !strncasecmp(pb_names[k], p, nlen))
				break;
		if (k == PB_N && nlen == 4 && !strncasecmp(p, "none", 4))
			k = PB_OK;
		if (k == PB_N)
			return err_set(e, ERR_USAGE,
				       "unknown problem '%.*s' in --problems "
				       "(known: profile, hybrid, delivery, "
				       "owner, privileges, approval, address, "
				       "licence, impersonation, disabled, "
				       "recreated, ok)",
				       (int)nlen, p);
		if (eq) {
			char num[16], *ep;
			size_t vlen = len - nlen - 1;

			if (vlen == 0 || vlen >= sizeof(num))
				return err_set(e, ERR_USAGE,
					       "bad percentage for '%.*s' in "
					       "--problems",
					       (int)nlen, p);
			memcpy(num, eq + 1, vlen);
			num[vlen] = '\0';
			v = strtol(num, &ep, 10);
			if (*ep || v < 0 || v > 100)
				return err_set(e, ERR_USAGE,
					       "bad percentage '%s' for '%.*s' "
					       "in --problems",
					       num, (int)nlen, p);
		} else if (k != PB_OK) {
			return err_set(e, ERR_USAGE,
				       "'%.*s' in --problems needs '=PERCENT'",
				       (int)nlen, p);
		}
		if (k != PB_OK) {
			g->weights[k] = (int)v;
			sum += (int)v;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	if (sum > 100)
		return err_set(e, ERR_USAGE,
			       "--problems percentages add up to %d (> 100)",
			       sum);
	g->weights[PB_OK] = 100 - sum;
	return 0;
}

/* A uniform integer in [0, n). */
static unsigned pick(struct gen *g, unsigned n)
{
	return (unsigned)(dv_rand(g->org) % n);
}

static enum problem draw(struct gen *g)
{
	unsigned r = pick(g, 100);
	int acc = 0;

	for (int k = 1; k < PB_N; k++) {
		acc += g->weights[k];
		if ((int)r < acc)
			return (enum problem)k;
	}
	return PB_OK;
}

static cJSON *row_new(struct dv_org *org, const char *key, char id[37])
{
	cJSON *o = cJSON_CreateObject();

	dv_new_guid(org, id);
	dv_set_str(o, key, id);
	return o;
}

static void add_bu(struct gen *g, const char *name, const char *parent,
		   char id[37])
{
	cJSON *o = row_new(g->org, "businessunitid", id);

	dv_set_str(o, "name", name);
	dv_set_bool(o, "isdisabled", false);
	dv_set_str(o, "_parentbusinessunitid_value", parent);
	dv_row_insert(g->org, dv_table(g->org, DV_BUS), o);
}

static void add_profile(struct gen *g, const char *name, int servertype,
			const char *typename, int cred, int state,
			bool impersonation, char id[37])
{
	cJSON *o = row_new(g->org, "emailserverprofileid", id);
	cJSON *sim = cJSON_CreateObject();

	dv_set_str(o, "name", name);
	dv_set_int(o, "servertype", servertype);
	dv_set_str(o, "emailservertypename", typename);
	dv_set_int(o, "incomingcredentialretrieval", cred);
	dv_set_int(o, "outgoingcredentialretrieval", cred);
	dv_set_str(o, "incomingserverlocation",
		   servertype == 3
		       ? "https://outlook.office365.com/EWS/Exchange.asmx"
		       : "https://mail.contoso.com/EWS/Exchange.asmx");
	dv_set_str(o, "outgoingserverlocation",
		   servertype == 3
		       ? "https://outlook.office365.com/EWS/Exchange.asmx"
		       : "https://mail.contoso.com/EWS/Exchange.asmx");
	dv_set_int(o, "statecode", state);
	dv_set_int(o, "statuscode", state ? 2 : 1);
	dv_set_str(o, "_ownerid_value", g->admin[0] ? g->admin : NULL);
	dv_set_str(o, "_owningbusinessunit_value", g->rootbu);
	dv_row_insert(g->org, dv_table(g->org, DV_PROFILES), o);
	cJSON_AddBoolToObject(sim, "impersonation", impersonation);
	cJSON_AddItemToObject(
	    cJSON_GetObjectItemCaseSensitive(g->org->sim, "profiles"), id, sim);
}

/* A root role and its copies in the child business units. */
static void add_role(struct gen *g, const char *name, char id[37])
{
	struct dv_table *t = dv_table(g->org, DV_ROLES);
	cJSON *o = row_new(g->org, "roleid", id);

	dv_set_str(o, "name", name);
	dv_set_bool(o, "ismanaged", false);
	dv_set_str(o, "_businessunitid_value", g->rootbu);
	dv_set_null(o, "_parentroleid_value");
	dv_set_str(o, "_parentrootroleid_value", id);
	dv_row_insert(g->org, t, o);
	for (int i = 1; i < 3; i++) {
		char cid[37];
		cJSON *c = row_new(g->org, "roleid", cid);

		dv_set_str(c, "name", name);
		dv_set_bool(c, "ismanaged", false);
		dv_set_str(c, "_businessunitid_value", g->bus[i]);
		dv_set_str(c, "_parentroleid_value", id);
		dv_set_str(c, "_parentrootroleid_value", id);
		dv_row_insert(g->org, t, c);
	}
}

/* The copy of root role 'root' in business unit 'bu'. */
static const char *role_in_bu(struct gen *g, const char *root, const char *bu)
{
	struct dv_table *t = dv_table(g->org, DV_ROLES);
	struct hent *e;

	if (!strcmp(bu, g->rootbu))
		return root;
	for (e = dv_index_find(dv_table_index(t, "_parentrootroleid_value"),
			       root);
	     e; e = hmap_next(e->next, root)) {
		const char *b = dv_str(e->row->obj, "_businessunitid_value");

		if (b && !strcmp(b, bu))
			return e->row->id;
	}
	return root;
}

static void grant(struct gen *g, const char *roleid, const char *prv,
		  enum dv_depth depth)
{
	struct dv_row *role = dv_row_get(dv_table(g->org, DV_ROLES), roleid);
	struct dv_row *p = dv_privilege_by_name(g->org, prv);

	assert(role != NULL && p != NULL); /* both seeded just before */
	dv_role_set_privilege(g->org, role, p, depth);
}

/* The least depth KB 4015092 says works: Basic when the
 * privilege takes it, else Global (organization-owned). */
static enum dv_depth least_depth(struct gen *g, const char *prv)
{
	struct dv_row *p = dv_privilege_by_name(g->org, prv);

	return dv_bool(p->obj, "canbebasic") ? DV_BASIC : DV_GLOBAL;
}

static void seed_roles(struct gen *g)
{
	struct dv_table *pt = dv_table(g->org, DV_PRIVILEGES);

	add_role(g, DV_ROLE_SYSADMIN, g->r_sysadmin);
	add_role(g, DV_ROLE_APPROVER, g->r_approver);
	add_role(g, "Salesperson", g->r_sales);
	add_role(g, "Sales Restricted", g->r_restricted);
	add_role(g, "Field Service Lite", g->r_lite);
	for (size_t i = 0; i < pt->n; i++) {
		struct dv_row *p = pt->rows[i];
		const char *name = dv_str(p->obj, "name");

		if (dv_bool(p->obj, "canbeglobal"))
			grant(g, g->r_sysadmin, name, DV_GLOBAL);
	}
	grant(g, g->r_approver, "prvApproveRejectEmailAddress", DV_GLOBAL);
	grant(g, g->r_approver, "prvReadMailbox", DV_GLOBAL);
	grant(g, g->r_approver, "prvReadUser", DV_GLOBAL);
	for (size_t i = 0; i < dv_sss_nprivs; i++) {
		const char *n = dv_sss_privs[i];
		enum dv_depth d = least_depth(g, n);

		grant(g, g->r_sales, n, d == DV_BASIC ? DV_LOCAL : d);
		/* Sales Restricted lacks the profile and Outlook sync
		 * privileges; Field Service Lite lacks prvReadMailbox and
		 * prvOverrideCreatedOnCreatedBy. */
		if (strcmp(n, "prvReadEmailServerProfile") &&
		    strcmp(n, "prvSyncToOutlook"))
			grant(g, g->r_restricted, n, d);
		if (strcmp(n, "prvReadMailbox") &&
		    strcmp(n, "prvOverrideCreatedOnCreatedBy"))
			grant(g, g->r_lite, n, d);
	}
	grant(g, g->r_sales, "prvReadUser", DV_LOCAL);
	grant(g, g->r_restricted, "prvReadUser", DV_LOCAL);
	grant(g, g->r_lite, "prvReadUser", DV_LOCAL);
}

static void add_user(struct gen *g, const char *first, const char *last,
		     const char *upn, const char *bu, char id[37])
{
	cJSON *o = row_new(g->org, "systemuserid", id);
	char full[256], aad[37];

	snprintf(full, sizeof(full), "%s %s", first, last);
	dv_new_guid(g->org, aad);
	dv_set_str(o, "fullname", full);
	dv_set_str(o, "firstname", first);
	dv_set_str(o, "lastname", last);
	dv_set_str(o, "domainname", upn);
	dv_set_str(o, "internalemailaddress", upn);
	dv_set_int(o, "emailrouteraccessapproval", 1);
	dv_set_str(o, "azureactivedirectoryobjectid", aad);
	dv_set_null(o, "applicationid");
	dv_set_bool(o, "isdisabled", false);
	dv_set_int(o, "accessmode", 0);
	dv_set_str(o, "_businessunitid_value", bu);
	dv_set_null(o, "_defaultmailbox_value");
	dv_set_null(o, "_queueid_value");
	dv_row_insert(g->org, dv_table(g->org, DV_USERS), o);
}

static cJSON *set_exchange(struct gen *g, const char *userid,
			   const char *location, bool licensed,
			   const char *address, bool recreated)
{
	cJSON *x = cJSON_CreateObject();

	cJSON_AddStringToObject(x, "location", location);
	cJSON_AddBoolToObject(x, "licensed", licensed);
	cJSON_AddStringToObject(x, "address", address);
	cJSON_AddBoolToObject(x, "recreated", recreated);
	cJSON_AddItemToObject(
	    cJSON_GetObjectItemCaseSensitive(g->org->sim, "exchange"), userid,
	    x);
	return x;
}

static cJSON *mailbox_new(struct gen *g, const char *name, const char *address,
			  const char *regarding, const char *owner,
			  const char *bu, char id[37])
{
	cJSON *o = row_new(g->org, "mailboxid", id);

	dv_set_str(o, "name", name);
	dv_set_str(o, "emailaddress", address);
	dv_set_int(o, "incomingemaildeliverymethod", 2);
	dv_set_int(o, "outgoingemaildeliverymethod", 2);
	dv_set_int(o, "actdeliverymethod", 1);
	dv_set_int(o, "incomingemailstatus", 0);
	dv_set_int(o, "outgoingemailstatus", 0);
	dv_set_int(o, "actstatus", 0);
	dv_set_int(o, "mailboxstatus", 0);
	dv_set_int(o, "emailrouteraccessapproval", 1);
	dv_set_bool(o, "enabledforincomingemail", true);
	dv_set_bool(o, "enabledforoutgoingemail", true);
	dv_set_bool(o, "enabledforact", true);
	dv_set_bool(o, "testemailconfigurationscheduled", false);
	dv_set_int(o, "testemailconfigurationretrycount", 0);
	dv_set_null(o, "testmailboxaccesscompletedon");
	dv_set_null(o, "postponetestemailconfigurationuntil");
	dv_set_null(o, "testandenablelastattemptedon");
	dv_set_null(o, "emailaddressapprovedon");
	dv_set_bool(o, "isemailaddressapprovedbyo365admin", true);
	dv_set_bool(o, "isforwardmailbox", false);
	dv_set_bool(o, "isserviceaccount", false);
	dv_set_int(o, "processingstatecode", 0);
	dv_set_null(o, "lastsyncerror");
	dv_set_null(o, "lastsyncerrorcode");
	dv_set_int(o, "transientfailurecount", 0);
	dv_set_int(o, "statecode", 0);
	dv_set_int(o, "statuscode", 1);
	dv_set_str(o, "_emailserverprofile_value", g->p_online);
	dv_set_str(o, "_regardingobjectid_value", regarding);
	dv_set_str(o, "_ownerid_value", owner);
	dv_set_str(o, "_owninguser_value", owner);
	dv_set_str(o, "_owningbusinessunit_value", bu);
	dv_set_str(o, "_organizationid_value", g->orgid);
	dv_set_null(o, "_testandenablelastattemptedby_value");
	dv_set_null(o, "_emailaddressapprovedby_value");
	return o;
}

static void link_mailbox(struct gen *g, enum dv_set set, const char *ownerid,
			 const char *mailboxid)
{
	struct dv_table *t = dv_table(g->org, set);
	struct dv_row *r = dv_row_get(t, ownerid);

	dv_row_begin_update(g->org, t, r);
	dv_set_str(r->obj, "_defaultmailbox_value", mailboxid);
	dv_row_end_update(g->org, t, r);
}

static void apply_problem(struct gen *g, enum problem pb, cJSON *mbx,
			  const char *userid, size_t ui, cJSON *x)
{
	struct dv_table *ut = dv_table(g->org, DV_USERS);
	struct dv_row *u = dv_row_get(ut, userid);
	const char *upn = dv_str(u->obj, "domainname");
	char alt[256];

	switch (pb) {
	case PB_PROFILE:
		if (pick(g, 2))
			dv_set_null(mbx, "_emailserverprofile_value");
		else
			dv_set_str(mbx, "_emailserverprofile_value",
				   g->p_inactive);
		break;
	case PB_HYBRID:
		dv_set_str(mbx, "_emailserverprofile_value", g->p_hybrid);
		break;
	case PB_DELIVERY:
		switch (pick(g, 3)) {
		case 0: /* Outlook for everything */
			dv_set_int(mbx, "incomingemaildeliverymethod", 1);
			dv_set_int(mbx, "outgoingemaildeliverymethod", 1);
			dv_set_int(mbx, "actdeliverymethod", 0);
			break;
		case 1: /* never configured */
			dv_set_int(mbx, "incomingemaildeliverymethod", 0);
			dv_set_int(mbx, "outgoingemaildeliverymethod", 0);
			dv_set_int(mbx, "actdeliverymethod", 2);
			break;
		default: /* email on SSS, ACT not */
			dv_set_int(mbx, "actdeliverymethod", 2);
			break;
		}
		break;
	case PB_OWNER: {
		const char *other = g->admin;

		if (g->nusers > 1)
			other = g->users[(ui + 1 +
					  pick(g, (unsigned)g->nusers - 1)) %
					 g->nusers];
		if (!strcmp(other, userid))
			other = g->admin;
		dv_set_str(mbx, "_ownerid_value", other);
		dv_set_str(mbx, "_owninguser_value", other);
		break;
	}
	case PB_APPROVAL:
		dv_set_int(mbx, "emailrouteraccessapproval",
			   pick(g, 4) ? 2 : 0);
		dv_set_bool(mbx, "isemailaddressapprovedbyo365admin", false);
		dv_row_begin_update(g->org, ut, u);
		dv_set_int(u->obj, "emailrouteraccessapproval",
			   dv_int(mbx, "emailrouteraccessapproval", 0));
		dv_row_end_update(g->org, ut, u);
		break;
	case PB_ADDRESS: {
		const char *at = strchr(upn, '@');

		snprintf(alt, sizeof(alt), "%.*s@contoso.onmicrosoft.com",
			 (int)(at ? at - upn : (long)strlen(upn)), upn);
		cJSON_ReplaceItemInObjectCaseSensitive(x, "address",
						       cJSON_CreateString(alt));
		break;
	}
	case PB_LICENCE:
		cJSON_ReplaceItemInObjectCaseSensitive(x, "licensed",
						       cJSON_CreateFalse());
		break;
	case PB_IMPERSONATION:
		cJSON_ReplaceItemInObjectCaseSensitive(
		    x, "location", cJSON_CreateString("onprem"));
		dv_set_str(mbx, "_emailserverprofile_value", g->p_onprem_bad);
		break;
	case PB_DISABLED:
		dv_row_begin_update(g->org, ut, u);
		dv_set_bool(u->obj, "isdisabled", true);
		dv_row_end_update(g->org, ut, u);
		break;
	case PB_RECREATED:
		cJSON_ReplaceItemInObjectCaseSensitive(x, "recreated",
						       cJSON_CreateTrue());
		break;
	case PB_TENANT: {
		const char *at = strchr(upn, '@');

		snprintf(alt, sizeof(alt), "%.*s@fabrikam.com",
			 (int)(at ? at - upn : (long)strlen(upn)), upn);
		dv_set_str(mbx, "emailaddress", alt);
		cJSON_ReplaceItemInObjectCaseSensitive(x, "address",
						       cJSON_CreateString(alt));
		cJSON_AddStringToObject(x, "tenant", "fabrikam.com");
		break;
	}
	case PB_PRIVILEGES: /* handled when the roles are linked */
	case PB_OK:
	case PB_N:
		break;
	}
}

/*
 * Views of mailboxes (docs/fidelity.md, "Saved views and FetchXML"): two
 * system views and two personal views of the administrator. Their ids are
 * fixed, not drawn, so the organisation's other rows stay those of the
 * seed.
 */
static void add_view(struct gen *g, enum dv_set set, unsigned n,
		     const char *name, const char *fetch)
{
	bool user = set == DV_USERQUERIES;
	char id[37];
	cJSON *o = cJSON_CreateObject();

	snprintf(id, sizeof(id), "%s-0000-4000-8000-0000000000%02u",
		 user ? "5e1f0000" : "5a7ed000", n);
	dv_set_str(o, user ? "userqueryid" : "savedqueryid", id);
	dv_set_str(o, "name", name);
	dv_set_str(o, "returnedtypecode", "mailbox");
	dv_set_str(o, "fetchxml", fetch);
	dv_set_int(o, "querytype", 0);
	dv_set_int(o, "statecode", 0);
	dv_set_int(o, "statuscode", 1);
	if (user)
		dv_set_str(o, "_ownerid_value", g->admin);
	dv_row_insert(g->org, dv_table(g->org, set), o);
}

static void add_views(struct gen *g)
{
	char fetch[1024];

	add_view(g, DV_SAVEDQUERIES, 1, "Active Mailboxes",
		 "<fetch version=\"1.0\" mapping=\"logical\"><entity "
		 "name=\"mailbox\"><attribute name=\"name\" /><attribute "
		 "name=\"emailaddress\" /><filter type=\"and\"><condition "
		 "attribute=\"statecode\" operator=\"eq\" value=\"0\" />"
		 "</filter></entity></fetch>");
	add_view(g, DV_SAVEDQUERIES, 2, "Mailboxes with Test & Enable failures",
		 "<fetch version=\"1.0\" mapping=\"logical\"><entity "
		 "name=\"mailbox\"><attribute name=\"name\" /><filter "
		 "type=\"or\"><condition attribute=\"incomingemailstatus\" "
		 "operator=\"eq\" value=\"2\" /><condition "
		 "attribute=\"outgoingemailstatus\" operator=\"eq\" "
		 "value=\"2\" /><condition attribute=\"actstatus\" "
		 "operator=\"eq\" value=\"2\" /></filter></entity></fetch>");
	snprintf(fetch, sizeof(fetch),
		 "<fetch><entity name=\"mailbox\"><attribute name=\"name\" "
		 "/><filter><condition attribute=\"emailserverprofile\" "
		 "operator=\"eq\" value=\"{%s}\" /></filter></entity>"
		 "</fetch>",
		 g->p_hybrid);
	add_view(g, DV_USERQUERIES, 1, "My Hybrid mailboxes", fetch);
	snprintf(
	    fetch, sizeof(fetch),
	    "<fetch><entity name=\"mailbox\"><attribute name=\"name\" "
	    "/><filter type=\"and\"><condition attribute=\"statecode\" "
	    "operator=\"eq\" value=\"0\" /><filter type=\"or\">"
	    "<condition attribute=\"owningbusinessunit\" "
	    "operator=\"in\"><value>%s</value><value>%s</value>"
	    "</condition><condition attribute=\"emailrouteraccessapproval\" "
	    "operator=\"ne\" value=\"1\" /></filter></filter></entity>"
	    "</fetch>",
	    g->bus[1], g->bus[2]);
	add_view(g, DV_USERQUERIES, 2,
		 "Sales and Service or unapproved mailboxes", fetch);
}

int dv_org_generate(struct dv_org *org, unsigned n, const char *mix,
		    unsigned long seed, struct err *e)
{
	struct gen g;
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	cJSON *o;
	enum problem *pbs;
	cJSON **xs;
	unsigned nq;

	memset(&g, 0, sizeof(g));
	g.org = org;
	if (parse_mix(&g, mix, e) < 0)
		return -1;
	if (n > 1000000)
		return err_set(e, ERR_USAGE, "--generate %u: at most 1000000",
			       n);
	org->rng = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 1;
	dv_org_seed_catalogue(org);

	dv_new_guid(org, g.orgid);
	add_bu(&g, "contoso", NULL, g.rootbu);
	memcpy(g.bus[0], g.rootbu, 37);
	add_bu(&g, "Sales", g.rootbu, g.bus[1]);
	add_bu(&g, "Service", g.rootbu, g.bus[2]);
	seed_roles(&g);

	add_user(&g, "Admin", "Contoso", "admin@" DOMAIN, g.rootbu, g.admin);
	set_exchange(&g, g.admin, "online", true, "admin@" DOMAIN, false);
	dv_org_link_role(org, g.admin, g.r_sysadmin);

	/* servertype of the automatic Exchange Online profile is not in
	 * the reference (open question 5); dvsim uses 3 with the type
	 * name "Exchange Online". */
	add_profile(&g, "Microsoft Exchange Online", 3, "Exchange Online", 2, 0,
		    true, g.p_online);
	add_profile(&g, "Exchange Server (Hybrid)", 2,
		    "Exchange Server (Hybrid)", 6, 0, true, g.p_hybrid);
	add_profile(&g, "Exchange On-Premises (Contoso DC)", 0,
		    "Exchange Server", 1, 0, true, g.p_onprem_ok);
	add_profile(&g, "Exchange On-Premises (Fabrikam)", 0, "Exchange Server",
		    1, 0, false, g.p_onprem_bad);
	add_profile(&g, "Exchange Online (old tenant)", 3, "Exchange Online", 7,
		    1, true, g.p_inactive);

	o = row_new(org, "organizationid", g.orgid);
	dv_set_str(o, "organizationid", g.orgid);
	dv_set_str(o, "name", "contoso");
	dv_set_bool(o, "requireapprovalforuseremail", true);
	dv_set_bool(o, "requireapprovalforqueueemail", true);
	dv_set_str(
	    o, "defaultemailsettings",
	    "<EmailSettings><IncomingEmailDeliveryMethod>2"
	    "</IncomingEmailDeliveryMethod><OutgoingEmailDeliveryMethod>2"
	    "</OutgoingEmailDeliveryMethod><ACTDeliveryMethod>1"
	    "</ACTDeliveryMethod></EmailSettings>");
	dv_set_str(o, "_defaultemailserverprofileid_value", g.p_online);
	dv_row_insert(org, dv_table(org, DV_ORGS), o);

	{
		char mid[37];

		o = mailbox_new(&g, "Admin Contoso", "admin@" DOMAIN, g.admin,
				g.admin, g.rootbu, mid);
		dv_row_insert(org, mt, o);
		link_mailbox(&g, DV_USERS, g.admin, mid);
	}

	g.users = xcalloc(n ? n : 1, sizeof(*g.users));
	pbs = xcalloc(n ? n : 1, sizeof(*pbs));
	xs = xcalloc(n ? n : 1, sizeof(*xs));
	for (unsigned i = 0; i < n; i++) {
		const char *first =
		    first_names[pick(&g, ARRAY_SIZE(first_names))];
		const char *last = last_names[pick(&g, ARRAY_SIZE(last_names))];
		unsigned b = pick(&g, 100);
		const char *bu = b < 70	  ? g.rootbu
				 : b < 85 ? g.bus[1]
					  : g.bus[2];
		char upn[256], id[37];

		snprintf(upn, sizeof(upn), "%s.%s%u@" DOMAIN, first, last,
			 i + 1);
		dv_lower(upn);
		add_user(&g, first, last, upn, bu, id);
		xs[i] = set_exchange(&g, id, "online", true, upn, false);
		g.users[g.nusers++] = xstrdup(id);
		pbs[i] = draw(&g);
		dv_org_link_role(
		    org, id,
		    role_in_bu(&g,
			       pbs[i] == PB_PRIVILEGES
				   ? (pick(&g, 3) ? g.r_restricted : g.r_lite)
				   : g.r_sales,
			       bu));
	}
	for (unsigned i = 0; i < n; i++) {
		struct dv_row *u =
		    dv_row_get(dv_table(org, DV_USERS), g.users[i]);
		char mid[37];

		o = mailbox_new(&g, dv_str(u->obj, "fullname"),
				dv_str(u->obj, "domainname"), u->id, u->id,
				dv_str(u->obj, "_businessunitid_value"), mid);
		apply_problem(&g, pbs[i], o, u->id, i, xs[i]);
		dv_row_insert(org, mt, o);
		link_mailbox(&g, DV_USERS, u->id, mid);
	}

	nq = n / 50 + 2;
	if (nq > 20)
		nq = 20;
	for (unsigned i = 0; i < nq; i++) {
		static const char *const qn[] = {"Support", "Sales Inquiries",
						 "Billing", "Info"};
		char name[64], addr[96], qid[37], mid[37];

		snprintf(name, sizeof(name), "%s %u", qn[i % ARRAY_SIZE(qn)],
			 i + 1);
		snprintf(addr, sizeof(addr), "queue%u@" DOMAIN, i + 1);
		o = row_new(org, "queueid", qid);
		dv_set_str(o, "name", name);
		dv_set_str(o, "emailaddress", addr);
		dv_set_int(o, "emailrouteraccessapproval", 1);
		dv_set_int(o, "incomingemaildeliverymethod", 2);
		dv_set_int(o, "outgoingemaildeliverymethod", 2);
		dv_set_int(o, "statecode", 0);
		dv_set_int(o, "statuscode", 1);
		dv_set_null(o, "_defaultmailbox_value");
		dv_set_str(o, "_ownerid_value", g.admin);
		dv_set_str(o, "_businessunitid_value", g.rootbu);
		dv_row_insert(org, dv_table(org, DV_QUEUES), o);
		o = mailbox_new(&g, name, addr, qid, g.admin, g.rootbu, mid);
		/* queue mailboxes synchronise email only */
		dv_set_int(o, "actdeliverymethod", 2);
		dv_row_insert(org, mt, o);
		link_mailbox(&g, DV_QUEUES, qid, mid);
	}

	/*
	 * A record filter does not give the privilege (PrivilegeDepth 4):
	 * Sales Restricted still lacks prvReadEmailServerProfile, and reading
	 * the role shows the grant. Made last, so the random draws above
	 * (names, problems) stay those of the seed.
	 */
	grant(&g, g.r_restricted, "prvReadEmailServerProfile", DV_RECORDFILTER);
	{
		/* the Entra tenant Microsoft Graph shows (dvsim/graph.h) */
		cJSON *t = cJSON_AddObjectToObject(org->sim, "tenant"), *d;
		char tid[37];

		dv_new_guid(org, tid);
		cJSON_AddStringToObject(t, "id", tid);
		d = cJSON_AddArrayToObject(t, "domains");
		cJSON_AddItemToArray(d, cJSON_CreateString(DOMAIN));
		cJSON_AddItemToArray(
		    d, cJSON_CreateString("contoso.onmicrosoft.com"));
	}
	add_views(&g);

	for (size_t i = 0; i < g.nusers; i++)
		free(g.users[i]);
	free(g.users);
	free(pbs);
	free(xs);
	dv_sim_reindex(org);
	return 0;
}
