/*
 * meta.c: the entity metadata dvsim serves: entity sets, attributes and
 * their types, option-set values (docs/fidelity.md) and the
 * single-valued navigation properties used to read, bind and expand
 * lookups.
 */
#include "compat.h"

#include <string.h>

#include "dvsim/org.h"

#include "banned.h"

#define OPTS(a) a, ARRAY_SIZE(a)

static const struct dv_option o_incoming[] = {
    {0, "None"},
    {1, "Microsoft Dynamics 365 for Outlook"},
    {2, "Server-Side Synchronization or Email Router"},
    {3, "Forward Mailbox"},
};
static const struct dv_option o_outgoing[] = {
    {0, "None"},
    {1, "Microsoft Dynamics 365 for Outlook"},
    {2, "Server-Side Synchronization or Email Router"},
};
/* ACT: note the order differs from the email columns */
static const struct dv_option o_act[] = {
    {0, "Microsoft Dynamics 365 for Outlook"},
    {1, "Server-Side Synchronization"},
    {2, "None"},
};
static const struct dv_option o_status[] = {
    {0, "Not Run"},
    {1, "Success"},
    {2, "Failure"},
};
static const struct dv_option o_approval[] = {
    {0, "Empty"},
    {1, "Approved"},
    {2, "Pending Approval"},
    {3, "Rejected"},
};
static const struct dv_option o_state[] = {
    {0, "Active"},
    {1, "Inactive"},
};
static const struct dv_option o_statusc[] = {
    {1, "Active"},
    {2, "Inactive"},
};
static const struct dv_option o_servertype[] = {
    {0, "Exchange Server"},
    {1, "Other (POP3/SMTP)"},
    {2, "Exchange Server (Hybrid)"},
    {3, "Exchange Online (Hybrid)"},
    {4, "IMAP/SMTP"},
};
static const struct dv_option o_cred[] = {
    {0, "Credentials Specified by a User or Queue"},
    {1, "Credentials Specified in Email Server Profile"},
    {2, "Server to Server Authentication"},
    {3, "Windows Integrated Authentication"},
    {4, "Without Credentials (Anonymous)"},
    {5, "Gmail OAuth"},
    {6, "Exchange Hybrid Modern Auth (HMA)"},
    {7, "Azure AD OAuth"},
};
static const struct dv_option o_level[] = {
    {1, "Information"},
    {2, "Warning"},
    {3, "Error"},
};
static const struct dv_option o_accessright[] = {
    {0, "None"},
    {1, "ReadAccess"},
    {2, "WriteAccess"},
    {4, "AppendAccess"},
    {16, "AppendToAccess"},
    {32, "CreateAccess"},
    {65536, "DeleteAccess"},
    {262144, "ShareAccess"},
    {524288, "AssignAccess"},
};
static const struct dv_option o_depthmask[] = {
    {1, "Basic"},
    {2, "Local"},
    {4, "Deep"},
    {8, "Global"},
};

#define COMMON_ATTRS                                                           \
	{"createdon", DV_DATE, DV_RO}, {"modifiedon", DV_DATE, DV_RO},         \
	{                                                                      \
		"versionnumber", DV_BIGINT, DV_RO                              \
	}

static const struct dv_attr a_mailbox[] = {
    {"mailboxid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 200},
    {"emailaddress", DV_STR, 0, NULL, 0, 100},
    {"incomingemaildeliverymethod", DV_CHOICE, 0, OPTS(o_incoming)},
    {"outgoingemaildeliverymethod", DV_CHOICE, 0, OPTS(o_outgoing)},
    {"actdeliverymethod", DV_CHOICE, 0, OPTS(o_act)},
    {"incomingemailstatus", DV_CHOICE, 0, OPTS(o_status)},
    {"outgoingemailstatus", DV_CHOICE, 0, OPTS(o_status)},
    {"actstatus", DV_CHOICE, 0, OPTS(o_status)},
    {"mailboxstatus", DV_CHOICE, DV_RO, OPTS(o_status)},
    {"emailrouteraccessapproval", DV_CHOICE, 0, OPTS(o_approval)},
    {"enabledforincomingemail", DV_BOOL, 0},
    {"enabledforoutgoingemail", DV_BOOL, 0},
    {"enabledforact", DV_BOOL, 0},
    {"testemailconfigurationscheduled", DV_BOOL, 0},
    {"testemailconfigurationretrycount", DV_INT, 0},
    {"testmailboxaccesscompletedon", DV_DATE, 0},
    {"postponetestemailconfigurationuntil", DV_DATE, 0},
    {"testandenablelastattemptedon", DV_DATE, DV_RO},
    {"emailaddressapprovedon", DV_DATE, DV_RO},
    {"isemailaddressapprovedbyo365admin", DV_BOOL, 0},
    {"isforwardmailbox", DV_BOOL, DV_RO},
    {"isserviceaccount", DV_BOOL, DV_RO},
    {"processingstatecode", DV_INT, DV_RO},
    {"lastsyncerror", DV_STR, DV_RO, NULL, 0, 2048},
    {"lastsyncerrorcode", DV_INT, DV_RO},
    {"transientfailurecount", DV_INT, DV_RO},
    {"statecode", DV_CHOICE, 0, OPTS(o_state)},
    {"statuscode", DV_CHOICE, 0, OPTS(o_statusc)},
    {"_emailserverprofile_value", DV_LOOKUP, 0},
    {"_regardingobjectid_value", DV_LOOKUP, 0},
    {"_ownerid_value", DV_LOOKUP, 0},
    {"_owninguser_value", DV_LOOKUP, DV_RO},
    {"_owningbusinessunit_value", DV_LOOKUP, DV_RO},
    {"_organizationid_value", DV_LOOKUP, DV_RO},
    {"_testandenablelastattemptedby_value", DV_LOOKUP, DV_RO},
    {"_emailaddressapprovedby_value", DV_LOOKUP, DV_RO},
    COMMON_ATTRS,
};
static const struct dv_nav n_mailbox[] = {
    {"emailserverprofile", "_emailserverprofile_value", "emailserverprofiles",
     true},
    /* read-only: the mailbox's user or queue is set by the service */
    {"regardingobjectid", "_regardingobjectid_value", "systemusers", false},
    {"regardingobjectid_queue", "_regardingobjectid_value", "queues", false},
    {"ownerid", "_ownerid_value", "systemusers", true},
    {"owninguser", "_owninguser_value", "systemusers", false},
    {"owningbusinessunit", "_owningbusinessunit_value", "businessunits", false},
    {"organizationid", "_organizationid_value", "organizations", false},
    {"testandenablelastattemptedby_mailbox",
     "_testandenablelastattemptedby_value", "systemusers", false},
    {"emailaddressapprovedby_mailbox", "_emailaddressapprovedby_value",
     "systemusers", false},
};
/*
 * Indexes: columns looked up by value with many distinct values. A column
 * shared by most rows (a profile, a business unit) is left out: its chain
 * would make every update of such a row walk all of them.
 */
static const char *const i_mailbox[] = {
    "emailaddress", "name", "_regardingobjectid_value", "_ownerid_value", NULL};

static const struct dv_attr a_profile[] = {
    {"emailserverprofileid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 100},
    {"servertype", DV_CHOICE, 0, OPTS(o_servertype)},
    {"emailservertypename", DV_STR, DV_RO},
    {"incomingcredentialretrieval", DV_CHOICE, 0, OPTS(o_cred)},
    {"outgoingcredentialretrieval", DV_CHOICE, 0, OPTS(o_cred)},
    {"incomingserverlocation", DV_STR, 0},
    {"outgoingserverlocation", DV_STR, 0},
    {"statecode", DV_CHOICE, 0, OPTS(o_state)},
    {"statuscode", DV_CHOICE, 0, OPTS(o_statusc)},
    {"_ownerid_value", DV_LOOKUP, 0},
    {"_owningbusinessunit_value", DV_LOOKUP, DV_RO},
    COMMON_ATTRS,
};
static const struct dv_nav n_profile[] = {
    {"ownerid", "_ownerid_value", "systemusers", true},
    {"owningbusinessunit", "_owningbusinessunit_value", "businessunits", false},
};
static const char *const i_profile[] = {"name", NULL};

static const struct dv_attr a_user[] = {
    {"systemuserid", DV_GUID, 0},
    {"fullname", DV_STR, DV_RO},
    {"firstname", DV_STR, 0, NULL, 0, 256},
    {"lastname", DV_STR, 0, NULL, 0, 256},
    {"domainname", DV_STR, 0, NULL, 0, 1024},
    {"internalemailaddress", DV_STR, 0, NULL, 0, 100},
    {"emailrouteraccessapproval", DV_CHOICE, 0, OPTS(o_approval)},
    {"azureactivedirectoryobjectid", DV_GUID, DV_RO},
    {"applicationid", DV_GUID, 0},
    {"isdisabled", DV_BOOL, DV_RO},
    {"accessmode", DV_INT, 0},
    {"_businessunitid_value", DV_LOOKUP, 0},
    {"_defaultmailbox_value", DV_LOOKUP, DV_RO},
    {"_queueid_value", DV_LOOKUP, DV_RO},
    COMMON_ATTRS,
};
static const struct dv_nav n_user[] = {
    {"businessunitid", "_businessunitid_value", "businessunits", true},
    {"defaultmailbox", "_defaultmailbox_value", "mailboxes", false},
    {"queueid", "_queueid_value", "queues", false},
};
static const char *const i_user[] = {"domainname", "internalemailaddress",
				     "applicationid", NULL};

static const struct dv_attr a_bu[] = {
    {"businessunitid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 160},
    {"isdisabled", DV_BOOL, DV_RO},
    {"_parentbusinessunitid_value", DV_LOOKUP, 0},
    COMMON_ATTRS,
};
static const struct dv_nav n_bu[] = {
    {"parentbusinessunitid", "_parentbusinessunitid_value", "businessunits",
     true},
};
static const char *const i_bu[] = {"name", "_parentbusinessunitid_value", NULL};

static const struct dv_attr a_queue[] = {
    {"queueid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 400},
    {"emailaddress", DV_STR, 0, NULL, 0, 100},
    {"emailrouteraccessapproval", DV_CHOICE, 0, OPTS(o_approval)},
    {"incomingemaildeliverymethod", DV_CHOICE, 0, OPTS(o_incoming)},
    {"outgoingemaildeliverymethod", DV_CHOICE, 0, OPTS(o_outgoing)},
    {"statecode", DV_CHOICE, 0, OPTS(o_state)},
    {"statuscode", DV_CHOICE, 0, OPTS(o_statusc)},
    {"_defaultmailbox_value", DV_LOOKUP, DV_RO},
    {"_ownerid_value", DV_LOOKUP, 0},
    {"_businessunitid_value", DV_LOOKUP, 0},
    COMMON_ATTRS,
};
static const struct dv_nav n_queue[] = {
    {"defaultmailbox", "_defaultmailbox_value", "mailboxes", false},
    {"ownerid", "_ownerid_value", "systemusers", true},
    {"businessunitid", "_businessunitid_value", "businessunits", true},
};
static const char *const i_queue[] = {"name", "emailaddress", NULL};

static const struct dv_attr a_role[] = {
    {"roleid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 100},
    {"ismanaged", DV_BOOL, DV_RO},
    {"_businessunitid_value", DV_LOOKUP, 0},
    {"_parentroleid_value", DV_LOOKUP, DV_RO},
    {"_parentrootroleid_value", DV_LOOKUP, DV_RO},
    COMMON_ATTRS,
};
static const struct dv_nav n_role[] = {
    {"businessunitid", "_businessunitid_value", "businessunits", true},
    {"parentroleid", "_parentroleid_value", "roles", false},
    {"parentrootroleid", "_parentrootroleid_value", "roles", false},
};
static const char *const i_role[] = {"name", "_parentrootroleid_value",
				     "_businessunitid_value", NULL};

static const struct dv_attr a_privilege[] = {
    {"privilegeid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 100},
    {"accessright", DV_CHOICE, 0, OPTS(o_accessright)},
    {"canbebasic", DV_BOOL, 0},
    {"canbelocal", DV_BOOL, 0},
    {"canbedeep", DV_BOOL, 0},
    {"canbeglobal", DV_BOOL, 0},
    {"canbeentityreference", DV_BOOL, 0},
    {"canbeparententityreference", DV_BOOL, 0},
    COMMON_ATTRS,
};
static const char *const i_privilege[] = {"name", NULL};

static const struct dv_attr a_roleprivs[] = {
    {"roleprivilegeid", DV_GUID, 0},
    {"roleid", DV_GUID, 0},
    {"privilegeid", DV_GUID, 0},
    {"privilegedepthmask", DV_CHOICE, 0, OPTS(o_depthmask)},
    {"versionnumber", DV_BIGINT, DV_RO},
};
static const char *const i_roleprivs[] = {"roleid", NULL};

static const struct dv_attr a_userroles[] = {
    {"systemuserroleid", DV_GUID, 0},
    {"systemuserid", DV_GUID, 0},
    {"roleid", DV_GUID, 0},
    {"versionnumber", DV_BIGINT, DV_RO},
};
static const char *const i_userroles[] = {"systemuserid", NULL};

static const struct dv_attr a_tracelog[] = {
    {"tracelogid", DV_GUID, 0},
    {"text", DV_STR, 0, NULL, 0, 2000},
    {"level", DV_CHOICE, 0, OPTS(o_level)},
    {"tracecode", DV_INT, 0},
    {"errortypedisplay", DV_STR, 0, NULL, 0, 320},
    {"errordetails", DV_STR, 0, NULL, 0, 2048},
    {"tracestatus", DV_BOOL, 0},
    {"machinename", DV_STR, 0},
    {"_regardingobjectid_value", DV_LOOKUP, 0},
    COMMON_ATTRS,
};
static const struct dv_nav n_tracelog[] = {
    {"regardingobjectid_mailbox", "_regardingobjectid_value", "mailboxes",
     true},
    {"regardingobjectid_emailserverprofile", "_regardingobjectid_value",
     "emailserverprofiles", true},
};
static const char *const i_tracelog[] = {"_regardingobjectid_value", NULL};

static const struct dv_attr a_org[] = {
    {"organizationid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 160},
    {"requireapprovalforuseremail", DV_BOOL, 0},
    {"requireapprovalforqueueemail", DV_BOOL, 0},
    {"defaultemailsettings", DV_STR, 0},
    {"_defaultemailserverprofileid_value", DV_LOOKUP, 0},
    COMMON_ATTRS,
};
static const struct dv_nav n_org[] = {
    {"defaultemailserverprofileid", "_defaultemailserverprofileid_value",
     "emailserverprofiles", true},
};

/*
 * sdkmessagefilters lists which tables a message supports; docs/fidelity.md
 * probes it for UpdateMultiple on mailbox. dvsim has none for mailbox
 * (the mailbox reference does not list UpdateMultiple), so that probe
 * answers an empty collection.
 */
static const struct dv_attr a_sdkfilter[] = {
    {"sdkmessagefilterid", DV_GUID, 0},
    {"primaryobjecttypecode", DV_STR, 0},
    {"_sdkmessageid_value", DV_LOOKUP, 0},
    {"versionnumber", DV_BIGINT, DV_RO},
};
static const struct dv_nav n_sdkfilter[] = {
    {"sdkmessageid", "_sdkmessageid_value", "sdkmessages", false},
};

static const struct dv_attr a_sdkmessage[] = {
    {"sdkmessageid", DV_GUID, 0},
    {"name", DV_STR, 0},
    {"versionnumber", DV_BIGINT, DV_RO},
};
static const char *const i_sdkmessage[] = {"name", NULL};

/*
 * Saved (system) and personal views: returnedtypecode is the logical
 * name of the table the view lists, fetchxml its query (fetchxml.h).
 */
static const struct dv_attr a_savedquery[] = {
    {"savedqueryid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 200},
    {"returnedtypecode", DV_STR, 0},
    {"fetchxml", DV_STR, 0},
    {"querytype", DV_INT, 0},
    {"statecode", DV_CHOICE, 0, OPTS(o_state)},
    {"statuscode", DV_CHOICE, 0, OPTS(o_statusc)},
    COMMON_ATTRS,
};
static const struct dv_attr a_userquery[] = {
    {"userqueryid", DV_GUID, 0},
    {"name", DV_STR, 0, NULL, 0, 200},
    {"returnedtypecode", DV_STR, 0},
    {"fetchxml", DV_STR, 0},
    {"querytype", DV_INT, 0},
    {"statecode", DV_CHOICE, 0, OPTS(o_state)},
    {"statuscode", DV_CHOICE, 0, OPTS(o_statusc)},
    {"_ownerid_value", DV_LOOKUP, 0},
    COMMON_ATTRS,
};

const struct dv_entity dv_entities[DV_NSETS] = {
    [DV_MAILBOXES] = {"mailboxes", "mailbox", "mailboxid", "name", 9606,
		      "Mailbox", true, false, OPTS(a_mailbox), OPTS(n_mailbox),
		      i_mailbox},
    [DV_PROFILES] = {"emailserverprofiles", "emailserverprofile",
		     "emailserverprofileid", "name", 9605, "EmailServerProfile",
		     true, false, OPTS(a_profile), OPTS(n_profile), i_profile},
    [DV_USERS] = {"systemusers", "systemuser", "systemuserid", "fullname", 8,
		  "User", false, false, OPTS(a_user), OPTS(n_user), i_user},
    [DV_BUS] = {"businessunits", "businessunit", "businessunitid", "name", 10,
		"BusinessUnit", false, false, OPTS(a_bu), OPTS(n_bu), i_bu},
    [DV_QUEUES] = {"queues", "queue", "queueid", "name", 2020, "Queue", true,
		   false, OPTS(a_queue), OPTS(n_queue), i_queue},
    [DV_ROLES] = {"roles", "role", "roleid", "name", 1036, "Role", false, false,
		  OPTS(a_role), OPTS(n_role), i_role},
    [DV_PRIVILEGES] = {"privileges", "privilege", "privilegeid", "name", 1023,
		       NULL, false, true, OPTS(a_privilege), NULL, 0,
		       i_privilege},
    [DV_ROLEPRIVS] = {"roleprivilegescollection", "roleprivileges",
		      "roleprivilegeid", NULL, 12, "Role", false, true,
		      OPTS(a_roleprivs), NULL, 0, i_roleprivs},
    [DV_USERROLES] = {"systemuserrolescollection", "systemuserroles",
		      "systemuserroleid", NULL, 15, "User", false, true,
		      OPTS(a_userroles), NULL, 0, i_userroles},
    [DV_TRACELOGS] = {"tracelogs", "tracelog", "tracelogid", "text", 8050,
		      "TraceLog", false, true, OPTS(a_tracelog),
		      OPTS(n_tracelog), i_tracelog},
    [DV_ORGS] = {"organizations", "organization", "organizationid", "name",
		 1019, "Organization", false, false, OPTS(a_org), OPTS(n_org),
		 NULL},
    [DV_SDKFILTERS] = {"sdkmessagefilters", "sdkmessagefilter",
		       "sdkmessagefilterid", NULL, 4607, NULL, false, true,
		       OPTS(a_sdkfilter), OPTS(n_sdkfilter), NULL},
    [DV_SAVEDQUERIES] = {"savedqueries", "savedquery", "savedqueryid", "name",
			 1039, NULL, false, true, OPTS(a_savedquery), NULL, 0,
			 NULL},
    [DV_USERQUERIES] = {"userqueries", "userquery", "userqueryid", "name", 4230,
			NULL, false, false, OPTS(a_userquery), NULL, 0, NULL},
    [DV_SDKMESSAGES] = {"sdkmessages", "sdkmessage", "sdkmessageid", "name",
			4606, NULL, false, true, OPTS(a_sdkmessage), NULL, 0,
			i_sdkmessage},
};

const struct dv_entity *dv_entity_by_set(const char *set)
{
	for (size_t i = 0; i < DV_NSETS; i++)
		if (!strcmp(dv_entities[i].set, set))
			return &dv_entities[i];
	return NULL;
}

const struct dv_attr *dv_entity_attr(const struct dv_entity *ent,
				     const char *name)
{
	for (size_t i = 0; i < ent->nattrs; i++)
		if (!strcmp(ent->attrs[i].name, name))
			return &ent->attrs[i];
	return NULL;
}

const struct dv_nav *dv_entity_nav(const struct dv_entity *ent, const char *nav)
{
	for (size_t i = 0; i < ent->nnavs; i++)
		if (!strcmp(ent->navs[i].nav, nav))
			return &ent->navs[i];
	return NULL;
}

const struct dv_nav *dv_entity_nav_by_attr(const struct dv_entity *ent,
					   const char *attr)
{
	for (size_t i = 0; i < ent->nnavs; i++)
		if (!strcmp(ent->navs[i].attr, attr))
			return &ent->navs[i];
	return NULL;
}

const char *dv_type_edm_name(enum dv_type t)
{
	switch (t) {
	case DV_STR:
		return "Edm.String";
	case DV_INT:
	case DV_CHOICE:
		return "Edm.Int32";
	case DV_BIGINT:
		return "Edm.Int64";
	case DV_BOOL:
		return "Edm.Boolean";
	case DV_GUID:
	case DV_LOOKUP:
		return "Edm.Guid";
	case DV_DATE:
		return "Edm.DateTimeOffset";
	}
	return "Edm.String";
}

const char *dv_option_label(const struct dv_attr *a, int value)
{
	for (size_t i = 0; i < a->noptions; i++)
		if (a->options[i].value == value)
			return a->options[i].label;
	return NULL;
}
