#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "dv_harness.h"

#include "banned.h"

static struct dv_org *org;
static const char *approver, *limited;

static int setup(void **state)
{
	(void)state;
	org = gen_org(40, "ok", 11);
	approver = dv_org_app_user(org, APPROVER_APP);
	limited = dv_org_app_user(org, LIMITED_APP);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dv_org_free(org);
	return 0;
}

static struct call get(const char *url)
{
	return dv_call(org, approver, "GET", url, NULL, NULL);
}

static struct call patch(const char *caller, const char *url, const char *body,
			 const char *ifmatch)
{
	char h[128];
	const char *hdrs[] = {h, NULL};

	snprintf(h, sizeof(h), "If-Match: %s", ifmatch ? ifmatch : "");
	return dv_call(org, caller, "PATCH", url, body, ifmatch ? hdrs : NULL);
}

static void mbx_url(char *out, size_t n, const struct dv_row *m)
{
	snprintf(out, n, "mailboxes(%s)", m->id);
}

static void test_get_select_and_unknown_column(void **state)
{
	struct call c;
	cJSON *v;

	(void)state;
	c = get("mailboxes?$select=name,emailaddress&$top=3");
	assert_int_equal(c.status, 200);
	v = cJSON_GetObjectItem(c.json, "value");
	assert_int_equal(cJSON_GetArraySize(v), 3);
	assert_non_null(dv_str(cJSON_GetArrayItem(v, 0), "mailboxid"));
	assert_non_null(dv_str(cJSON_GetArrayItem(v, 0), "@odata.etag"));
	assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(v, 0),
					"incomingemailstatus"));
	assert_string_equal(dv_str(c.json, "@odata.context"),
			    BASE "$metadata#mailboxes(name,emailaddress)");
	call_release(&c);

	c = get("mailboxes?$select=name,nosuch");
	assert_int_equal(c.status, 400);
	assert_string_equal(err_code(&c), "0x80060888");
	assert_string_equal(err_msg(&c),
			    "Could not find a property named 'nosuch' on type "
			    "'Microsoft.Dynamics.CRM.mailbox'.");
	call_release(&c);

	c = get("nosuchset?$select=name");
	assert_int_equal(c.status, 404);
	assert_string_equal(err_code(&c), "0x80060888");
	call_release(&c);

	c = get("mailboxes?$filter=name%20eq");
	assert_int_equal(c.status, 400);
	assert_string_equal(err_code(&c), "0x80060888");
	call_release(&c);
}

static void test_get_by_address_percent_encoded(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 5);
	const char *addr = dv_str(m->obj, "emailaddress");
	char url[512];
	struct call c;
	cJSON *v;

	(void)state;
	snprintf(url, sizeof(url),
		 "mailboxes?$select=mailboxid&$filter=emailaddress%%20eq%%20%%"
		 "27%s%%27",
		 addr);
	c = get(url);
	assert_int_equal(c.status, 200);
	v = cJSON_GetObjectItem(c.json, "value");
	assert_int_equal(cJSON_GetArraySize(v), 1);
	assert_string_equal(dv_str(cJSON_GetArrayItem(v, 0), "mailboxid"),
			    m->id);
	call_release(&c);

	/* In() over addresses, one unknown */
	snprintf(
	    url, sizeof(url),
	    "mailboxes?$select=emailaddress&$filter=Microsoft.Dynamics.CRM."
	    "In(PropertyName='emailaddress',PropertyValues=['%s','no@x.y',"
	    "'%s'])",
	    addr, dv_str(nth_user_mailbox(org, 6)->obj, "emailaddress"));
	c = get(url);
	assert_int_equal(c.status, 200);
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "value")), 2);
	call_release(&c);
}

static void test_empty_results(void **state)
{
	static const char *const urls[] = {
	    "mailboxes?$select=name&$filter=emailaddress eq 'nobody@x.y'",
	    "mailboxes?$select=name&$filter=emailaddress eq "
	    "'nobody@x.y'&$orderby=name desc",
	    "mailboxes?$select=name&$filter=statecode eq 5&$orderby=name",
	    "mailboxes?$select=name&$filter=mailboxid eq "
	    "00000000-0000-4000-8000-000000000001",
	    "mailboxes?$select=name&$filter=Microsoft.Dynamics.CRM.In("
	    "PropertyName='emailaddress',PropertyValues=['a@b','c@d'])",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		struct call c = get(urls[i]);

		assert_int_equal(c.status, 200);
		assert_int_equal(
		    cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "value")),
		    0);
		assert_null(cJSON_GetObjectItem(c.json, "@odata.nextLink"));
		call_release(&c);
	}
}

static void test_single_row_and_missing_row(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 0);
	char url[256];
	struct call c;

	(void)state;
	snprintf(url, sizeof(url), "mailboxes(%s)?$select=name", m->id);
	c = get(url);
	assert_int_equal(c.status, 200);
	assert_string_equal(dv_str(c.json, "mailboxid"), m->id);
	assert_non_null(strstr(dv_str(c.json, "@odata.context"), "/$entity"));
	call_release(&c);

	c = get("mailboxes(00000000-0000-4000-8000-000000000001)");
	assert_int_equal(c.status, 404);
	assert_string_equal(err_code(&c), "0x80040217");
	assert_string_equal(
	    err_msg(&c),
	    "mailbox With Id = 00000000-0000-4000-8000-000000000001 "
	    "Does Not Exist");
	call_release(&c);
}

static void test_paging_with_maxpagesize(void **state)
{
	const char *h[] = {"Prefer: odata.maxpagesize=7", NULL};
	char *next = NULL;
	size_t seen = 0, pages = 0;
	size_t total = 0;
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);

	(void)state;
	for (size_t i = 0; i < mt->n; i++)
		total += !mt->rows[i]->dead;
	do {
		const char *url = next ? next + strlen(BASE)
				       : "mailboxes?$select=name&$orderby=name";
		struct call c = dv_call(org, approver, "GET", url, NULL, h);
		const char *nl;

		assert_int_equal(c.status, 200);
		assert_non_null(strstr(
		    c.headers, "Preference-Applied: odata.maxpagesize=7"));
		seen += (size_t)cJSON_GetArraySize(
		    cJSON_GetObjectItem(c.json, "value"));
		pages++;
		free(next);
		nl = dv_str(c.json, "@odata.nextLink");
		next = nl ? xstrdup(nl) : NULL;
		if (next)
			assert_non_null(strstr(next, "$skiptoken="));
		call_release(&c);
	} while (next && pages < 100);
	assert_int_equal(seen, total);
	assert_int_equal(pages, (total + 6) / 7);
}

static void test_expand_and_annotations(void **state)
{
	const char *h[] = {"Prefer: odata.include-annotations=\"*\"", NULL};
	struct dv_row *m = nth_user_mailbox(org, 1);
	char url[256];
	struct call c;
	cJSON *p;

	(void)state;
	snprintf(url, sizeof(url),
		 "mailboxes(%s)?$select=name,_ownerid_value&$expand="
		 "emailserverprofile($select=name)",
		 m->id);
	c = dv_call(org, approver, "GET", url, NULL, h);
	assert_int_equal(c.status, 200);
	p = cJSON_GetObjectItem(c.json, "emailserverprofile");
	assert_string_equal(dv_str(p, "name"), "Microsoft Exchange Online");
	assert_string_equal(
	    dv_str(c.json,
		   "_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"),
	    "systemuser");
	assert_string_equal(dv_str(c.json,
				   "_ownerid_value@Microsoft.Dynamics.CRM."
				   "associatednavigationproperty"),
			    "ownerid");
	call_release(&c);

	snprintf(url, sizeof(url), "mailboxes(%s)?$expand=nosuchnav", m->id);
	c = get(url);
	assert_int_equal(c.status, 400);
	call_release(&c);
}

static void test_expand_collections(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 10);
	const char *uid = dv_str(m->obj, "_regardingobjectid_value");
	const char *h[] = {"If-Match: *", NULL};
	char url[300];
	struct call c;
	cJSON *roles, *alerts;

	(void)state;
	snprintf(url, sizeof(url),
		 "systemusers(%s)?$select=fullname&$expand="
		 "systemuserroles_association($select=name)",
		 uid);
	c = get(url);
	assert_int_equal(c.status, 200);
	roles = cJSON_GetObjectItem(c.json, "systemuserroles_association");
	assert_int_equal(cJSON_GetArraySize(roles), 1);
	assert_string_equal(dv_str(cJSON_GetArrayItem(roles, 0), "name"),
			    "Salesperson");
	call_release(&c);

	/* two Test & Enable runs with different results: two alerts */
	snprintf(url, sizeof(url), "mailboxes(%s)", m->id);
	c = dv_call(org, approver, "PATCH", url,
		    "{\"testemailconfigurationscheduled\":true}", h);
	call_release(&c);
	dv_org_tick(org);
	c = dv_call(org, approver, "PATCH", url,
		    "{\"emailserverprofile@odata.bind\":null,"
		    "\"testemailconfigurationscheduled\":true}",
		    h);
	call_release(&c);
	dv_org_tick(org);
	snprintf(url, sizeof(url),
		 "mailboxes(%s)?$select=name&$expand=tracelog_Mailbox($select="
		 "level,errortypedisplay;$filter=level eq 3;$top=5)",
		 m->id);
	c = get(url);
	assert_int_equal(c.status, 200);
	alerts = cJSON_GetObjectItem(c.json, "tracelog_Mailbox");
	assert_int_equal(cJSON_GetArraySize(alerts), 1);
	assert_string_equal(
	    dv_str(cJSON_GetArrayItem(alerts, 0), "errortypedisplay"),
	    "InvalidIncomingEmailServerProfile");
	call_release(&c);

	snprintf(url, sizeof(url),
		 "mailboxes(%s)?$expand=tracelog_Mailbox($filter=nosuch eq 1)",
		 m->id);
	c = get(url);
	assert_int_equal(c.status, 400);
	assert_non_null(strstr(err_msg(&c), "'nosuch'"));
	call_release(&c);
	snprintf(url, sizeof(url),
		 "mailboxes(%s)?$expand=emailserverprofile($top=1)", m->id);
	c = get(url);
	assert_int_equal(c.status, 400);
	call_release(&c);
}

static void test_patch_if_match_and_upsert(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 2);
	char url[128], etag[48];
	struct call c;

	(void)state;
	mbx_url(url, sizeof(url), m);
	c = patch(approver, url, "{\"incomingemaildeliverymethod\":1}", "*");
	assert_int_equal(c.status, 204);
	assert_non_null(
	    strstr(c.headers, "OData-EntityId: " BASE "mailboxes("));
	call_release(&c);
	assert_int_equal(dv_int(m->obj, "incomingemaildeliverymethod", -1), 1);

	/* stale ETag */
	c = patch(approver, url, "{\"incomingemaildeliverymethod\":2}",
		  "W/\"1\"");
	assert_int_equal(c.status, 412);
	assert_string_equal(err_code(&c), "0x80060882");
	call_release(&c);
	/* current ETag */
	snprintf(
	    etag, sizeof(etag), "W/\"%.0f\"",
	    cJSON_GetNumberValue(cJSON_GetObjectItem(m->obj, "versionnumber")));
	c = patch(approver, url, "{\"incomingemaildeliverymethod\":2}", etag);
	assert_int_equal(c.status, 204);
	call_release(&c);

	/* missing row with If-Match: * -> 404 */
	c = patch(approver, "mailboxes(00000000-0000-4000-8000-0000000000aa)",
		  "{\"name\":\"x\"}", "*");
	assert_int_equal(c.status, 404);
	assert_string_equal(err_code(&c), "0x80040217");
	assert_string_equal(
	    err_msg(&c),
	    "mailbox With Id = 00000000-0000-4000-8000-0000000000aa "
	    "Does Not Exist");
	call_release(&c);
	/* without If-Match: upsert creates it */
	c = patch(approver, "mailboxes(00000000-0000-4000-8000-0000000000aa)",
		  "{\"name\":\"created by upsert\"}", NULL);
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_non_null(dv_row_get(dv_table(org, DV_MAILBOXES),
				   "00000000-0000-4000-8000-0000000000aa"));
}

static void test_patch_validation(void **state)
{
	static const struct {
		const char *body;
		int status;
		const char *code;
		const char *msg; /* part of the message */
	} t[] = {
	    {"{\"incomingemaildeliverymethod\":7}", 400, "0x80044331",
	     "outside the valid range. Accepted Values: 0,1,2,3"},
	    {"{\"actdeliverymethod\":3}", 400, "0x80044331",
	     "Accepted Values: "
	     "0,1,2"},
	    {"{\"nosuch\":1}", 400, "0x80048d19",
	     "Microsoft.OData.ODataException: The property 'nosuch' does not "
	     "exist on type 'Microsoft.Dynamics.CRM.mailbox'."},
	    {"{\"_ownerid_value\":\"00000000-0000-4000-8000-000000000001\"}",
	     400, "0x80048d19", "Use Navigation properties instead"},
	    {"{\"regardingobjectid_queue@odata.bind\":\"/queues(00000000-0000-"
	     "4000-8000-000000000001)\"}",
	     400, "0x80048d19",
	     "The property 'regardingobjectid_queue' is read-only"},
	    {"{\"mailboxstatus\":1}", 400, "0x80048d19", "read-only"},
	    {"{\"incomingemaildeliverymethod\":\"2\"}", 400, "0x80048d19",
	     "Edm.Int32"},
	    {"{\"testemailconfigurationscheduled\":1}", 400, "0x80048d19",
	     "Edm.Boolean"},
	    {"not json", 400, "0x80048d19", "Invalid JSON"},
	    {"{\"emailserverprofile@odata.bind\":\"emailserverprofiles/abc\"}",
	     400, "0x80090800", "emailserverprofile@odata.bind"},
	    {"{\"emailserverprofile@odata.bind\":\"/systemusers(00000000-0000-"
	     "4000-8000-000000000001)\"}",
	     400, "0x80090800", "not valid"},
	    {"{\"emailserverprofile@odata.bind\":\"/emailserverprofiles("
	     "00000000-0000-4000-8000-000000000001)\"}",
	     404, "0x80040217", "emailserverprofile With Id = "},
	    {"{\"ownerid@odata.bind\":\"/systemusers(00000000-0000-4000-8000-"
	     "000000000001)\"}",
	     404, "0x80040217", "systemuser With Id = "},
	    {"{\"nosuchnav@odata.bind\":\"/systemusers(00000000-0000-4000-8000-"
	     "000000000001)\"}",
	     400, "0x80048d19",
	     "The property 'nosuchnav' does not exist on type "
	     "'Microsoft.Dynamics.CRM.mailbox'."},
	    {"{\"statecode\":1,\"statuscode\":1}", 400, "0x80048408",
	     "not a valid status code"},
	    {"{\"emailaddress\":\"" /* 101 characters */
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     "aaa"
	     "aaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.yz\"}",
	     400, "0x80044331", "maximum allowed length of '100'"},
	};
	struct dv_row *m = nth_user_mailbox(org, 3);
	char url[128];
	cJSON *before = cJSON_Duplicate(m->obj, 1);

	(void)state;
	mbx_url(url, sizeof(url), m);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct call c = patch(approver, url, t[i].body, "*");

		if (c.status != t[i].status || !err_code(&c) ||
		    strcmp(err_code(&c), t[i].code) ||
		    !strstr(err_msg(&c), t[i].msg))
			fail_msg("%s -> %d %s", t[i].body, c.status, c.body);
		call_release(&c);
	}
	/* nothing was written */
	assert_true(cJSON_Compare(before, m->obj, 1));
	cJSON_Delete(before);
}

static void test_patch_binds(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 4);
	struct dv_row *other = nth_user_mailbox(org, 5);
	const char *ouser = dv_str(other->obj, "_regardingobjectid_value");
	struct dv_table *pt = dv_table(org, DV_PROFILES);
	const char *hybrid = NULL;
	char url[128], body[512];
	struct call c;

	(void)state;
	for (size_t i = 0; i < pt->n; i++)
		if (!strcmp(dv_str(pt->rows[i]->obj, "name"),
			    "Exchange Server (Hybrid)"))
			hybrid = pt->rows[i]->id;
	assert_non_null(hybrid);
	mbx_url(url, sizeof(url), m);
	snprintf(body, sizeof(body),
		 "{\"emailserverprofile@odata.bind\":\"" BASE
		 "emailserverprofiles(%s)\",\"ownerid@odata.bind\":"
		 "\"/systemusers(%s)\"}",
		 hybrid, ouser);
	c = patch(approver, url, body, "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_string_equal(dv_str(m->obj, "_emailserverprofile_value"),
			    hybrid);
	assert_string_equal(dv_str(m->obj, "_ownerid_value"), ouser);
	assert_string_equal(dv_str(m->obj, "_owninguser_value"), ouser);

	c = patch(approver, url, "{\"emailserverprofile@odata.bind\":null}",
		  "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_null(dv_str(m->obj, "_emailserverprofile_value"));
}

/* A user of the given business unit (root when 'root'), not an app user. */
static struct dv_row *user_in_bu(bool root, const char *except)
{
	struct dv_table *ut = dv_table(org, DV_USERS);
	struct dv_table *bt = dv_table(org, DV_BUS);

	for (size_t i = 0; i < ut->n; i++) {
		const cJSON *o = ut->rows[i]->obj;
		const char *dn = dv_str(o, "domainname");
		struct dv_row *bu;

		if (!strcmp(ut->rows[i]->id, except) || !dn || !*dn ||
		    !strncmp(dn, "admin@", 6))
			continue;
		bu = dv_row_get(bt, dv_str(o, "_businessunitid_value"));
		if (!dv_str(bu->obj, "_parentbusinessunitid_value") == root)
			return ut->rows[i];
	}
	return NULL;
}

static void test_caller_privileges_enforced(void **state)
{
	struct dv_row *u = user_in_bu(true, "");
	struct dv_row *peer = user_in_bu(true, u->id);
	struct dv_row *far = user_in_bu(false, "");
	char url[160];
	struct call c;

	(void)state;
	assert_non_null(u);
	assert_non_null(peer);
	assert_non_null(far);
	/* Salesperson holds no prvReadRole nor prvReadTraceLog */
	c = dv_call(org, u->id, "GET", "roles?$select=name", NULL, NULL);
	assert_int_equal(c.status, 403);
	assert_string_equal(err_code(&c), "0x80040220");
	assert_non_null(strstr(err_msg(&c), "is missing prvReadRole privilege "
					    "on role entity(OTC=1036)"));
	assert_non_null(strstr(err_msg(&c), u->id));
	call_release(&c);
	c = dv_call(org, u->id, "GET", "tracelogs?$select=text", NULL, NULL);
	assert_int_equal(c.status, 403);
	assert_non_null(strstr(err_msg(&c), "prvReadTraceLog"));
	call_release(&c);

	/* Local prvWriteMailbox: the peer's mailbox in the same unit ... */
	snprintf(url, sizeof(url), "mailboxes(%s)",
		 dv_str(peer->obj, "_defaultmailbox_value"));
	c = dv_call(org, u->id, "PATCH", url, "{\"actdeliverymethod\":1}",
		    NULL);
	assert_int_equal(c.status, 204);
	call_release(&c);
	/* ... but not one owned in another unit */
	snprintf(url, sizeof(url), "mailboxes(%s)",
		 dv_str(far->obj, "_defaultmailbox_value"));
	c = dv_call(org, u->id, "PATCH", url, "{\"actdeliverymethod\":1}",
		    NULL);
	assert_int_equal(c.status, 403);
	assert_non_null(strstr(err_msg(&c), "prvWriteMailbox"));
	call_release(&c);
}

static void test_approval_rules(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 8);
	struct dv_row *u =
	    dv_row_get(dv_table(org, DV_USERS),
		       dv_str(m->obj, "_regardingobjectid_value"));
	char url[128];
	struct call c;

	(void)state;
	mbx_url(url, sizeof(url), m);
	/* make it pending */
	c = patch(approver, url, "{\"emailrouteraccessapproval\":2}", "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_int_equal(dv_int(m->obj, "emailrouteraccessapproval", -1), 2);
	assert_int_equal(dv_int(u->obj, "emailrouteraccessapproval", -1), 2);

	/* System Administrator alone: O365RoleUnsupportedForEmailApproval */
	c = patch(limited, url, "{\"emailrouteraccessapproval\":1}", "*");
	assert_int_equal(c.status, 403);
	assert_string_equal(err_code(&c), "0x8009000B");
	call_release(&c);
	assert_int_equal(dv_int(m->obj, "emailrouteraccessapproval", -1), 2);

	/* with another attribute: succeeds, silently not approved */
	c = patch(approver, url,
		  "{\"emailrouteraccessapproval\":1,\"actdeliverymethod\":1}",
		  "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_int_equal(dv_int(m->obj, "emailrouteraccessapproval", -1), 2);

	/* alone, by an approver: approved, on the user too */
	c = patch(approver, url, "{\"emailrouteraccessapproval\":1}", "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_int_equal(dv_int(m->obj, "emailrouteraccessapproval", -1), 1);
	assert_int_equal(dv_int(u->obj, "emailrouteraccessapproval", -1), 1);
	assert_string_equal(dv_str(m->obj, "_emailaddressapprovedby_value"),
			    approver);

	/* an ordinary user without the privilege: PrivilegeDenied */
	c = patch(approver, url, "{\"emailrouteraccessapproval\":2}", "*");
	call_release(&c);
	c = dv_call(org, u->id, "PATCH", url,
		    "{\"emailrouteraccessapproval\":1}", NULL);
	assert_int_equal(c.status, 403);
	assert_string_equal(err_code(&c), "0x80040220");
	assert_non_null(strstr(err_msg(&c), "prvApproveRejectEmailAddress"));
	call_release(&c);

	/* a new address must be approved again */
	c = patch(approver, url, "{\"emailrouteraccessapproval\":1}", "*");
	call_release(&c);
	c = patch(approver, url, "{\"emailaddress\":\"new.addr@contoso.com\"}",
		  "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_int_equal(dv_int(m->obj, "emailrouteraccessapproval", -1), 2);
}

static struct dv_row *role_named(const char *name, bool root)
{
	struct dv_table *rt = dv_table(org, DV_ROLES);

	for (size_t i = 0; i < rt->n; i++) {
		struct dv_row *r = rt->rows[i];

		if (!strcmp(dv_str(r->obj, "name"), name) &&
		    (dv_role_root(org, r) == r) == root)
			return r;
	}
	return NULL;
}

static void test_add_privileges_role(void **state)
{
	struct dv_row *role = role_named("Sales Restricted", true);
	struct dv_row *copy = role_named("Sales Restricted", false);
	struct dv_row *prv =
	    dv_privilege_by_name(org, "prvReadEmailServerProfile");
	struct dv_row *org_prv =
	    dv_privilege_by_name(org, "prvReadOrganization");
	const char *bu = dv_str(role->obj, "_businessunitid_value");
	char url[200], body[512];
	struct call c;
	cJSON *arr, *it;
	bool found = false;
	static const struct {
		const char *depth;
		bool org_owned;
		int status;
	} t[] = {
	    {"\"Basic\"", false, 204},	{"\"0\"", false, 204},
	    {"\"Global\"", false, 204}, {"\"3\"", true, 204},
	    {"\"Basic\"", true, 400},	{"\"1\"", true, 400},
	    {"\"Deep\"", true, 400},	{"\"Everything\"", false, 400},
	    {"\"9\"", false, 400},	{"2", false, 204},
	};

	(void)state;
	assert_non_null(copy);
	snprintf(url, sizeof(url),
		 "roles(%s)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
		 role->id);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		snprintf(body, sizeof(body),
			 "{\"Privileges\":[{\"PrivilegeId\":\"%s\","
			 "\"BusinessUnitId\":\"%s\",\"Depth\":%s}]}",
			 (t[i].org_owned ? org_prv : prv)->id, bu, t[i].depth);
		c = dv_call(org, approver, "POST", url, body, NULL);
		if (c.status != t[i].status)
			fail_msg("Depth %s -> %d %s", t[i].depth, c.status,
				 c.body);
		if (t[i].status == 400 && t[i].org_owned)
			assert_string_equal(err_code(&c), "0x8004140b");
		call_release(&c);
	}
	/* the last one (Deep) overwrote Global: read it back */
	snprintf(url, sizeof(url), "RetrieveRolePrivilegesRole(RoleId=%s)",
		 copy->id);
	c = get(url);
	assert_int_equal(c.status, 200);
	arr = cJSON_GetObjectItem(c.json, "RolePrivileges");
	cJSON_ArrayForEach(it, arr)
	{
		if (!strcmp(dv_str(it, "PrivilegeName"),
			    "prvReadEmailServerProfile")) {
			assert_string_equal(dv_str(it, "Depth"), "Deep");
			assert_string_equal(dv_str(it, "PrivilegeId"), prv->id);
			/* the copy follows its root role */
			assert_string_equal(
			    dv_str(it, "BusinessUnitId"),
			    dv_str(copy->obj, "_businessunitid_value"));
			found = true;
		}
	}
	assert_true(found);
	call_release(&c);

	/* the copy in a child unit cannot be edited */
	snprintf(url, sizeof(url),
		 "roles(%s)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
		 copy->id);
	snprintf(
	    body, sizeof(body),
	    "{\"Privileges\":[{\"PrivilegeId\":\"%s\",\"Depth\":\"Global\"}]}",
	    prv->id);
	c = dv_call(org, approver, "POST", url, body, NULL);
	assert_int_equal(c.status, 403);
	assert_string_equal(err_code(&c), "0x80048405");
	assert_non_null(strstr(err_msg(&c), role->id));
	call_release(&c);

	/* an unknown privilege: nothing applied */
	snprintf(url, sizeof(url),
		 "roles(%s)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
		 role->id);
	c = dv_call(
	    org, approver, "POST", url,
	    "{\"Privileges\":[{\"PrivilegeId\":\"00000000-0000-4000-8000-"
	    "000000000009\",\"Depth\":\"Global\"}]}",
	    NULL);
	assert_int_equal(c.status, 404);
	call_release(&c);
}

static void test_user_roles_ref(void **state)
{
	struct dv_row *u = user_in_bu(true, "");
	struct dv_row *far = user_in_bu(false, "");
	struct dv_row *role = role_named("Field Service Lite", true);
	struct dv_row *dma = role_named(DV_ROLE_APPROVER, true);
	char url[200], body[300];
	struct call c;
	int before;

	(void)state;
	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association?$select=name",
		 u->id);
	c = get(url);
	assert_int_equal(c.status, 200);
	before = cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "value"));
	call_release(&c);

	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association/$ref", u->id);
	snprintf(body, sizeof(body), "{\"@odata.id\":\"" BASE "roles(%s)\"}",
		 role->id);
	c = dv_call(org, approver, "POST", url, body, NULL);
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_int_equal(dv_user_depth(org, u->id, "prvReadMailbox"),
			 DV_LOCAL); /* Salesperson still; Lite adds none */

	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association?$select=name",
		 u->id);
	c = get(url);
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "value")),
	    before + 1);
	call_release(&c);

	/* a root role for a user of a child unit: refused */
	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association/$ref", far->id);
	c = dv_call(org, approver, "POST", url, body, NULL);
	assert_int_equal(c.status, 400);
	call_release(&c);
	/* the Delegated Mailbox Approver role: only an O365 admin */
	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association/$ref", u->id);
	snprintf(body, sizeof(body), "{\"@odata.id\":\"" BASE "roles(%s)\"}",
		 dma->id);
	c = dv_call(org, approver, "POST", url, body, NULL);
	assert_int_equal(c.status, 403);
	assert_string_equal(err_code(&c), "0x80090904");
	call_release(&c);

	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association(%s)/$ref", u->id,
		 role->id);
	c = dv_call(org, approver, "DELETE", url, NULL, NULL);
	assert_int_equal(c.status, 204);
	call_release(&c);
	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association?$select=name",
		 u->id);
	c = get(url);
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "value")), before);
	call_release(&c);
}

static void test_txn_rollback_leaves_no_trace(void **state)
{
	struct dv_row *m = nth_user_mailbox(org, 9);
	struct buf before = BUF_INIT(BUF_MAX_BODY),
		   after = BUF_INIT(BUF_MAX_BODY);
	char url[128];
	struct call c;
	int64_t version = org->version;

	(void)state;
	assert_int_equal(dv_org_to_json(org, &before), 0);
	dv_org_txn_begin(org);
	mbx_url(url, sizeof(url), m);
	c = patch(approver, url,
		  "{\"incomingemaildeliverymethod\":0,"
		  "\"testemailconfigurationscheduled\":true}",
		  "*");
	assert_int_equal(c.status, 204);
	call_release(&c);
	c = patch(approver, "mailboxes(00000000-0000-4000-8000-0000000000bb)",
		  "{\"name\":\"temp\"}", NULL);
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_int_equal(org->ntests, 1);
	dv_org_txn_rollback(org);
	org->version = version; /* versions handed out are not reused */
	assert_int_equal(dv_org_to_json(org, &after), 0);
	assert_string_equal(before.ptr, after.ptr);
	assert_null(dv_row_get(dv_table(org, DV_MAILBOXES),
			       "00000000-0000-4000-8000-0000000000bb"));
	/* the index follows the restored row */
	snprintf(url, sizeof(url),
		 "mailboxes?$select=name&$filter=emailaddress eq '%s'",
		 dv_str(m->obj, "emailaddress"));
	c = get(url);
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItem(c.json, "value")), 1);
	call_release(&c);
	buf_release(&before);
	buf_release(&after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_select_and_unknown_column),
	    cmocka_unit_test(test_get_by_address_percent_encoded),
	    cmocka_unit_test(test_empty_results),
	    cmocka_unit_test(test_single_row_and_missing_row),
	    cmocka_unit_test(test_paging_with_maxpagesize),
	    cmocka_unit_test(test_expand_and_annotations),
	    cmocka_unit_test(test_expand_collections),
	    cmocka_unit_test(test_patch_if_match_and_upsert),
	    cmocka_unit_test(test_patch_validation),
	    cmocka_unit_test(test_patch_binds),
	    cmocka_unit_test(test_caller_privileges_enforced),
	    cmocka_unit_test(test_approval_rules),
	    cmocka_unit_test(test_add_privileges_role),
	    cmocka_unit_test(test_user_roles_ref),
	    cmocka_unit_test(test_txn_rollback_leaves_no_trace),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
