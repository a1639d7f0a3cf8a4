/*
 * The actions' decisions, with the engine's services replaced by a fake
 * that records what an action asks for: what approve sends and how it
 * reads the answer back (a service that accepts the write but does not
 * approve, which dvsim cannot be made to do), set_profile and fix_owner
 * reading the state first.
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "action.h"
#include "rows.h"

#include "banned.h"

struct action_ctx {
	int emitted;
	char method[8];
	char url[512];
	char body[512];
	unsigned flags;
	int tag;
	cJSON *patch;
	const char *lookup_answer; /* JSON the fake lookup returns */
	char lookup_url[512];
	char fail_code[64];
	char fail_msg[512];
	char fail_hint[1024];
};

void action_emit(struct action_ctx *c, const char *method, const char *url,
		 cJSON *body, const char *share_key, int tag, unsigned flags)
{
	char *s = body ? cJSON_PrintUnformatted(body) : NULL;

	(void)share_key;
	c->emitted++;
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->url, sizeof(c->url), "%s", url);
	snprintf(c->body, sizeof(c->body), "%s", s ? s : "");
	c->flags = flags;
	c->tag = tag;
	cJSON_free(s);
	cJSON_Delete(body);
}

void action_patch_mailbox(struct action_ctx *c, const char *name, cJSON *value)
{
	if (!c->patch)
		c->patch = cJSON_CreateObject();
	cJSON_AddItemToObject(c->patch, name, value);
}

static cJSON *lookup_json;

const cJSON *action_lookup(struct action_ctx *c, const char *url, bool *pending,
			   const char **err)
{
	snprintf(c->lookup_url, sizeof(c->lookup_url), "%s", url);
	*pending = false;
	if (err)
		*err = NULL;
	cJSON_Delete(lookup_json);
	lookup_json = cJSON_Parse(c->lookup_answer);
	return lookup_json;
}

void action_fail(struct action_ctx *c, struct row_state *rs, const char *code,
		 const char *message, const char *hint)
{
	(void)rs;
	snprintf(c->fail_code, sizeof(c->fail_code), "%s", code);
	snprintf(c->fail_msg, sizeof(c->fail_msg), "%s", message);
	snprintf(c->fail_hint, sizeof(c->fail_hint), "%s", hint ? hint : "");
}

enum action_step action_fail_answer(struct action_ctx *c, struct row_state *rs,
				    const struct action_answer *a,
				    const char *hint)
{
	action_fail(c, rs, a->code, a->message, hint);
	return ACTION_FAILED;
}

#define MBX "11111111-2222-3333-4444-555555555555"
#define USER "aaaaaaaa-0000-0000-0000-000000000001"
#define OTHER "aaaaaaaa-0000-0000-0000-000000000002"
#define PROFILE "bbbbbbbb-0000-0000-0000-000000000001"

static void setup_row(struct row_state *rs, struct row *row,
		      const char *mailbox_json)
{
	memset(rs, 0, sizeof(*rs));
	memset(row, 0, sizeof(*row));
	row->profile = (char *)"Microsoft Exchange Online";
	row->owner = (char *)"";
	rs->row = row;
	snprintf(rs->mailbox_id, sizeof(rs->mailbox_id), "%s", MBX);
	rs->mailbox = cJSON_Parse(mailbox_json);
	assert_non_null(rs->mailbox);
}

static void test_approve_alone_then_read_back(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;
	struct action_answer ok = {
	    .tag = 0, .status = 204, .code = "", .message = ""};
	cJSON *json;

	(void)state;
	setup_row(&rs, &row, "{\"emailrouteraccessapproval\":2}");
	assert_int_equal(action_approve.plan(&c, &rs), ACTION_SENT);
	assert_string_equal(c.method, "PATCH");
	assert_string_equal(c.url, "mailboxes(" MBX ")");
	/* the attribute alone, in a request of its own, update only */
	assert_string_equal(c.body, "{\"emailrouteraccessapproval\":1}");
	assert_true(c.flags & ACTION_OP_ALONE);
	assert_true(c.flags & ACTION_OP_IF_MATCH);
	assert_null(c.patch);

	ok.tag = c.tag;
	assert_int_equal(action_approve.answer(&c, &rs, &ok), ACTION_SENT);
	assert_string_equal(c.method, "GET");
	assert_non_null(strstr(c.url, "$select=emailrouteraccessapproval"));

	/* accepted, but still pending: not done */
	json = cJSON_Parse("{\"emailrouteraccessapproval\":2}");
	{
		struct action_answer rd = {.tag = c.tag,
					   .status = 200,
					   .json = json,
					   .code = "",
					   .message = ""};

		assert_int_equal(action_approve.answer(&c, &rs, &rd),
				 ACTION_FAILED);
	}
	assert_string_equal(c.fail_code, "NotApproved");
	assert_non_null(strstr(c.fail_msg, "Pending Approval"));
	assert_non_null(strstr(c.fail_hint, "Delegated Mailbox Approver"));
	assert_non_null(strstr(c.fail_hint,
			       "Global or Exchange admin with System "
			       "Administrator"));
	cJSON_Delete(json);

	/* approved: done */
	json = cJSON_Parse("{\"emailrouteraccessapproval\":1}");
	{
		struct action_answer rd = {.tag = c.tag,
					   .status = 200,
					   .json = json,
					   .code = "",
					   .message = ""};

		assert_int_equal(action_approve.answer(&c, &rs, &rd),
				 ACTION_DONE);
	}
	cJSON_Delete(json);
	cJSON_Delete(rs.mailbox);
}

static void test_approve_refused_and_unchanged(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;
	struct action_answer no = {.tag = 1,
				   .status = 403,
				   .code = "0x8009000B",
				   .message = "only a Global admin"};

	(void)state;
	setup_row(&rs, &row, "{\"emailrouteraccessapproval\":0}");
	assert_int_equal(action_approve.plan(&c, &rs), ACTION_SENT);
	assert_int_equal(action_approve.answer(&c, &rs, &no), ACTION_FAILED);
	assert_string_equal(c.fail_code, "0x8009000B");
	assert_non_null(strstr(c.fail_hint, "Delegated Mailbox Approver"));
	cJSON_Delete(rs.mailbox);

	memset(&c, 0, sizeof(c));
	setup_row(&rs, &row, "{\"emailrouteraccessapproval\":1}");
	assert_int_equal(action_approve.plan(&c, &rs), ACTION_UNCHANGED);
	assert_int_equal(c.emitted, 0);
	cJSON_Delete(rs.mailbox);
}

static void test_set_profile_reads_state_first(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;
	char *s;

	(void)state;
	c.lookup_answer = "{\"value\":[{\"emailserverprofileid\":\"" PROFILE
			  "\",\"name\":\"Microsoft Exchange Online\","
			  "\"statecode\":0}]}";
	setup_row(&rs, &row, "{\"_emailserverprofile_value\":\"" PROFILE "\"}");
	assert_int_equal(action_set_profile.plan(&c, &rs), ACTION_UNCHANGED);
	assert_null(c.patch);
	assert_non_null(strstr(c.lookup_url, "emailserverprofiles?"));
	assert_non_null(strstr(c.lookup_url, "Microsoft%20Exchange%20Online"));
	cJSON_Delete(rs.mailbox);

	setup_row(&rs, &row, "{\"_emailserverprofile_value\":null}");
	assert_int_equal(action_set_profile.plan(&c, &rs), ACTION_SENT);
	s = cJSON_PrintUnformatted(c.patch);
	assert_string_equal(s, "{\"emailserverprofile@odata.bind\":"
			       "\"/emailserverprofiles(" PROFILE ")\"}");
	cJSON_free(s);
	cJSON_Delete(c.patch);
	c.patch = NULL;
	cJSON_Delete(rs.mailbox);

	/* an inactive profile is refused */
	c.lookup_answer = "{\"value\":[{\"emailserverprofileid\":\"" PROFILE
			  "\",\"name\":\"Old\",\"statecode\":1}]}";
	setup_row(&rs, &row, "{\"_emailserverprofile_value\":null}");
	assert_int_equal(action_set_profile.plan(&c, &rs), ACTION_FAILED);
	assert_string_equal(c.fail_code, "InactiveProfile");
	assert_null(c.patch);
	cJSON_Delete(rs.mailbox);

	/* two profiles of that name */
	c.lookup_answer = "{\"value\":[{\"emailserverprofileid\":\"a\","
			  "\"statecode\":0},{\"emailserverprofileid\":\"b\","
			  "\"statecode\":0}]}";
	setup_row(&rs, &row, "{\"_emailserverprofile_value\":null}");
	assert_int_equal(action_set_profile.plan(&c, &rs), ACTION_FAILED);
	assert_string_equal(c.fail_code, "AmbiguousProfile");
	cJSON_Delete(rs.mailbox);
}

static void test_fix_owner(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;
	char *s;

	(void)state;
	/* a user mailbox owned by another user: assign to its user */
	setup_row(&rs, &row,
		  "{\"_ownerid_value\":\"" OTHER "\",\"_regardingobjectid_"
		  "value\":\"" USER "\",\"_regardingobjectid_value@Microsoft."
		  "Dynamics.CRM.lookuplogicalname\":\"systemuser\"}");
	assert_int_equal(action_fix_owner.plan(&c, &rs), ACTION_SENT);
	s = cJSON_PrintUnformatted(c.patch);
	assert_string_equal(s, "{\"ownerid@odata.bind\":\"/systemusers(" USER
			       ")\"}");
	cJSON_free(s);
	cJSON_Delete(c.patch);
	c.patch = NULL;
	cJSON_Delete(rs.mailbox);

	/* a queue mailbox and no owner named: left alone */
	setup_row(&rs, &row,
		  "{\"_ownerid_value\":\"" OTHER "\",\"_regardingobjectid_"
		  "value\":\"" USER "\",\"_regardingobjectid_value@Microsoft."
		  "Dynamics.CRM.lookuplogicalname\":\"queue\"}");
	assert_int_equal(action_fix_owner.plan(&c, &rs), ACTION_UNCHANGED);
	assert_null(c.patch);
	cJSON_Delete(rs.mailbox);

	/* already its user's */
	setup_row(&rs, &row,
		  "{\"_ownerid_value\":\"" USER "\",\"_regardingobjectid_"
		  "value\":\"" USER "\",\"_regardingobjectid_value@Microsoft."
		  "Dynamics.CRM.lookuplogicalname\":\"systemuser\"}");
	assert_int_equal(action_fix_owner.plan(&c, &rs), ACTION_UNCHANGED);
	cJSON_Delete(rs.mailbox);

	/* a named owner unknown */
	c.lookup_answer = "{\"value\":[]}";
	setup_row(&rs, &row,
		  "{\"_ownerid_value\":\"" USER "\",\"_regardingobjectid_"
		  "value\":\"" USER "\"}");
	row.owner = (char *)"nobody@contoso.com";
	assert_int_equal(action_fix_owner.plan(&c, &rs), ACTION_FAILED);
	assert_string_equal(c.fail_code, "UnknownUser");
	assert_non_null(strstr(c.lookup_url, "domainname%20eq%20%27nobody"));
	cJSON_Delete(rs.mailbox);
	cJSON_Delete(lookup_json);
	lookup_json = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_approve_alone_then_read_back),
	    cmocka_unit_test(test_approve_refused_and_unchanged),
	    cmocka_unit_test(test_set_profile_reads_state_first),
	    cmocka_unit_test(test_fix_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
