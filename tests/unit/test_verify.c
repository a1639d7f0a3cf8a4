/*
 * Reading back a write whose fate is unknown (act_util.h): which read
 * tells, and whether its answer shows the write in place.
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "act_util.h"

#include "banned.h"

#define MB "mailboxes(6f1c2d3e-0000-4000-8000-000000000001)"
#define ROLE "7a2b3c4d-0000-4000-8000-000000000002"
#define PRV1 "11111111-0000-4000-8000-000000000003"
#define PRV2 "22222222-0000-4000-8000-000000000004"

static char *verify_url(const char *method, const char *url, const char *body)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL);

	if (actu_verify_url(method, url, body, &b) < 0) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static bool holds(const char *method, const char *url, const char *body,
		  const char *read)
{
	cJSON *r = cJSON_Parse(read);
	bool ok;

	assert_non_null(r);
	ok = actu_write_holds(method, url, body, r);
	cJSON_Delete(r);
	return ok;
}

static void test_patch_reads_its_columns(void **state)
{
	char *u;

	(void)state;
	u = verify_url("PATCH", MB,
		       "{\"incomingemaildeliverymethod\":2,"
		       "\"emailserverprofile@odata.bind\":"
		       "\"/emailserverprofiles(AB-1)\"}");
	assert_string_equal(u, MB "?$select=incomingemaildeliverymethod,"
				  "_emailserverprofile_value");
	free(u);
	u = verify_url("PATCH", "systemusers(1)",
		       "{\"emailrouteraccessapproval\":1}");
	assert_string_equal(u,
			    "systemusers(1)?$select=emailrouteraccessapproval");
	free(u);
	/* nothing written, or not a row: no read can tell */
	assert_null(verify_url("PATCH", MB, "{}"));
	assert_null(verify_url("PATCH", "mailboxes(1)/x", "{\"a\":1}"));
	assert_null(
	    verify_url("POST", "roles(1)/Microsoft.Dynamics.CRM.Other", "{}"));
}

static void test_patch_holds(void **state)
{
	const char *body = "{\"incomingemaildeliverymethod\":2,"
			   "\"testemailconfigurationscheduled\":true,"
			   "\"ownerid@odata.bind\":\"/systemusers(ab-CD)\"}";

	(void)state;
	assert_true(holds("PATCH", MB, body,
			  "{\"@odata.etag\":\"W/\\\"9\\\"\","
			  "\"incomingemaildeliverymethod\":2,"
			  "\"testemailconfigurationscheduled\":true,"
			  "\"_ownerid_value\":\"AB-cd\"}"));
	/* one value not in place is enough to send it again */
	assert_false(holds("PATCH", MB, body,
			   "{\"incomingemaildeliverymethod\":1,"
			   "\"testemailconfigurationscheduled\":true,"
			   "\"_ownerid_value\":\"ab-cd\"}"));
	assert_false(holds("PATCH", MB, body,
			   "{\"incomingemaildeliverymethod\":2,"
			   "\"testemailconfigurationscheduled\":false,"
			   "\"_ownerid_value\":\"ab-cd\"}"));
	assert_false(holds("PATCH", MB, body,
			   "{\"incomingemaildeliverymethod\":2,"
			   "\"testemailconfigurationscheduled\":true,"
			   "\"_ownerid_value\":\"ab-ce\"}"));
	/* a column missing from the answer is not in place */
	assert_false(holds("PATCH", MB, body,
			   "{\"incomingemaildeliverymethod\":2,"
			   "\"testemailconfigurationscheduled\":true}"));
}

static void test_add_privileges(void **state)
{
	const char *url = "roles(" ROLE ")/Microsoft.Dynamics.CRM."
			  "AddPrivilegesRole";
	const char *body = "{\"Privileges\":[{\"PrivilegeId\":\"" PRV1 "\","
			   "\"Depth\":\"Deep\"},{\"PrivilegeId\":\"" PRV2 "\","
			   "\"Depth\":\"Basic\"}]}";
	char *u;

	(void)state;
	u = verify_url("POST", url, body);
	assert_string_equal(u, "RetrieveRolePrivilegesRole(RoleId=" ROLE ")");
	free(u);
	/* held at the depth or deeper, as a name or a number */
	assert_true(holds("POST", url, body,
			  "{\"RolePrivileges\":[{\"PrivilegeId\":\"" PRV1 "\","
			  "\"Depth\":\"Global\"},{\"PrivilegeId\":\"" PRV2
			  "\",\"Depth\":0}]}"));
	/* held less deep, or not at all: not in place */
	assert_false(holds("POST", url, body,
			   "{\"RolePrivileges\":[{\"PrivilegeId\":\"" PRV1
			   "\",\"Depth\":\"Local\"},{\"PrivilegeId\":\"" PRV2
			   "\",\"Depth\":\"Basic\"}]}"));
	assert_false(holds("POST", url, body,
			   "{\"RolePrivileges\":[{\"PrivilegeId\":\"" PRV1
			   "\",\"Depth\":\"Deep\"}]}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_patch_reads_its_columns),
	    cmocka_unit_test(test_patch_holds),
	    cmocka_unit_test(test_add_privileges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
