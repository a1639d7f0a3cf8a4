#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "privs.h"

#include "banned.h"

/* Run from the top of the tree (make unit does). */
#define TEMPLATE "templates/privileges/server-side-sync.cfg"

/* KB 4015092, with the depth the template must give. */
static const struct {
	const char *name;
	int depth;
} sss[] = {
    {"prvReadEmailServerProfile", PRIVS_GLOBAL},
    {"prvWriteMailbox", PRIVS_BASIC},
    {"prvReadMailbox", PRIVS_BASIC},
    {"prvReadOrganization", PRIVS_GLOBAL},
    {"prvSyncToOutlook", PRIVS_GLOBAL},
    {"prvReadActionCard", PRIVS_BASIC},
    {"prvDeleteActivity", PRIVS_BASIC},
    {"prvAppendActivity", PRIVS_BASIC},
    {"prvWriteActivity", PRIVS_BASIC},
    {"prvCreateActivity", PRIVS_BASIC},
    {"prvReadActivity", PRIVS_BASIC},
    {"prvAppendToActivity", PRIVS_BASIC},
    {"prvReadConnection", PRIVS_BASIC},
    {"prvAssignContact", PRIVS_BASIC},
    {"prvReadContact", PRIVS_BASIC},
    {"prvWriteContact", PRIVS_BASIC},
    {"prvCreateContact", PRIVS_BASIC},
    {"prvDeleteContact", PRIVS_BASIC},
    {"prvReadUserQuery", PRIVS_BASIC},
    {"prvReadQueue", PRIVS_BASIC},
    {"prvReadQuery", PRIVS_GLOBAL},
    {"prvReadIncident", PRIVS_BASIC},
    {"prvSearchAvailability", PRIVS_GLOBAL},
    {"prvOverrideCreatedOnCreatedBy", PRIVS_GLOBAL},
};

static void test_template_holds_every_sss_privilege(void **state)
{
	struct privs_list l = PRIVS_LIST_INIT;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(privs_template_load(&l, TEMPLATE, &e), 0);
	assert_int_equal(l.n, ARRAY_SIZE(sss));
	for (size_t i = 0; i < ARRAY_SIZE(sss); i++) {
		const struct privs_item *it = privs_list_find(&l, sss[i].name);

		assert_non_null(it);
		assert_int_equal(it->depth, sss[i].depth);
	}
	privs_list_release(&l);
}

static void test_resolve_by_template_name(void **state)
{
	struct privs_list l = PRIVS_LIST_INIT;
	struct err e = ERR_INIT;

	(void)state;
	assert_true(privs_is_template_name("server-side-sync"));
	assert_false(privs_is_template_name("prvReadMailbox"));
	assert_false(privs_is_template_name("../etc/passwd"));
	assert_false(privs_is_template_name("prvA;prvB"));
	assert_int_equal(
	    privs_resolve(&l, "server-side-sync", "templates/privileges", &e),
	    0);
	assert_int_equal(l.n, ARRAY_SIZE(sss));
	privs_list_release(&l);

	assert_int_equal(
	    privs_resolve(&l, "no-such-template", "templates/privileges", &e),
	    -1);
	assert_non_null(strstr(e.msg, "no-such-template.cfg"));
	privs_list_release(&l);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_template_errors_name_file_line_setting(void **state)
{
	static const struct {
		const char *text, *want;
	} t[] = {
	    {"privileges = ( { name = \"prvA\"; depth = \"Huge\"; } );\n",
	     ":1: setting 'privileges.[0].depth': unknown depth 'Huge'"},
	    {"x = 1;\nprivileges = ( { depth = \"Basic\"; } );\n",
	     ":2: setting 'privileges.[0].name'"},
	    {"other = 1;\n", "setting 'privileges': missing"},
	    {"privileges = ( { name = \"bad name\"; } );\n",
	     "'bad name' is not a privilege name"},
	    {"privileges = ( { name = \"prvA\"  } ;\n", ":1: "},
	};
	char path[] = "/tmp/test_privs_XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct privs_list l = PRIVS_LIST_INIT;
		struct err e = ERR_INIT;

		write_file(path, t[i].text);
		assert_int_equal(privs_template_load(&l, path, &e), -1);
		assert_non_null(strstr(e.msg, path));
		if (!strstr(e.msg, t[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg,
				 t[i].want);
		privs_list_release(&l);
	}
	unlink(path);
}

static void test_inline_lists(void **state)
{
	struct privs_list l = PRIVS_LIST_INIT;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(privs_parse_inline(&l,
					    " prvReadMailbox ; prvReadQuery:"
					    "global;prvWriteMailbox:1;"
					    "prvReadMailbox:Deep;",
					    PRIVS_BASIC, &e),
			 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].name, "prvReadMailbox");
	assert_int_equal(l.v[0].depth, PRIVS_DEEP); /* deeper of the two */
	assert_int_equal(l.v[1].depth, PRIVS_GLOBAL);
	assert_int_equal(l.v[2].depth, PRIVS_LOCAL);
	privs_list_release(&l);

	assert_int_equal(privs_parse_inline(&l, "prvA:Huge", 0, &e), -1);
	assert_non_null(strstr(e.msg, "unknown depth 'Huge'"));
	err_clear(&e);
	assert_int_equal(privs_parse_inline(&l, " ; ", 0, &e), -1);
	assert_non_null(strstr(e.msg, "empty"));
	err_clear(&e);
	assert_int_equal(privs_parse_inline(&l, "prv A", 0, &e), -1);
	privs_list_release(&l);
}

static void test_depth_names(void **state)
{
	static const struct {
		const char *s;
		int rc, depth;
	} t[] = {
	    {"Basic", 0, PRIVS_BASIC},
	    {"user", 0, PRIVS_BASIC},
	    {"LOCAL", 0, PRIVS_LOCAL},
	    {"BusinessUnit", 0, PRIVS_LOCAL},
	    {"deep", 0, PRIVS_DEEP},
	    {"ParentChild", 0, PRIVS_DEEP},
	    {"Global", 0, PRIVS_GLOBAL},
	    {"Organization", 0, PRIVS_GLOBAL},
	    {"3", 0, PRIVS_GLOBAL},
	    {"0", 0, PRIVS_BASIC},
	    {"4", -1, 0},
	    {"", -1, 0},
	    {"glob", -1, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		int d = -1;

		assert_int_equal(privs_depth_parse(t[i].s, &d), t[i].rc);
		if (!t[i].rc)
			assert_int_equal(d, t[i].depth);
	}
	assert_string_equal(privs_depth_name(PRIVS_DEEP), "Deep");
}

static void test_fit_depth_raises_to_nearest_allowed(void **state)
{
	static const struct {
		int want;
		unsigned mask;
		int got;
	} t[] = {
	    {PRIVS_BASIC, PRIVS_MASK_ALL, PRIVS_BASIC},
	    {PRIVS_BASIC, PRIVS_MASK_GLOBAL, PRIVS_GLOBAL},
	    {PRIVS_BASIC, PRIVS_MASK_DEEP | PRIVS_MASK_GLOBAL, PRIVS_DEEP},
	    {PRIVS_LOCAL, PRIVS_MASK_BASIC | PRIVS_MASK_GLOBAL, PRIVS_GLOBAL},
	    /* nothing deeper allowed: the deepest allowed one */
	    {PRIVS_GLOBAL, PRIVS_MASK_BASIC | PRIVS_MASK_LOCAL, PRIVS_LOCAL},
	    {PRIVS_GLOBAL, 0, -1},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(privs_fit_depth(t[i].want, t[i].mask),
				 t[i].got);
}

static const char catalog_json[] =
    "{\"@odata.context\":\"x\",\"value\":["
    "{\"privilegeid\":\"00000000-0000-0000-0000-00000000000a\","
    "\"name\":\"prvReadMailbox\",\"canbebasic\":true,\"canbelocal\":true,"
    "\"canbedeep\":true,\"canbeglobal\":true},"
    "{\"privilegeid\":\"00000000-0000-0000-0000-00000000000b\","
    "\"name\":\"prvReadOrganization\",\"canbebasic\":false,"
    "\"canbelocal\":false,\"canbedeep\":false,\"canbeglobal\":true},"
    "{\"privilegeid\":\"00000000-0000-0000-0000-00000000000c\","
    "\"name\":\"prvWriteMailbox\",\"canbebasic\":true,\"canbelocal\":true,"
    "\"canbedeep\":true,\"canbeglobal\":true},"
    "{\"privilegeid\":\"00000000-0000-0000-0000-00000000000d\","
    "\"name\":\"prvReadQuery\",\"canbebasic\":false,\"canbelocal\":false,"
    "\"canbedeep\":false,\"canbeglobal\":true}]}";

static const char held_json[] =
    "{\"RolePrivileges\":["
    /* held at Local: enough for Basic */
    "{\"Depth\":\"Local\",\"PrivilegeId\":"
    "\"00000000-0000-0000-0000-00000000000A\",\"BusinessUnitId\":\"b\"},"
    /* held at Basic: the Global asked for must still be sent */
    "{\"Depth\":0,\"PrivilegeId\":\"00000000-0000-0000-0000-00000000000c\","
    "\"PrivilegeName\":\"prvWriteMailbox\"},"
    /* held at Global, depth as a number in a string */
    "{\"Depth\":\"3\",\"PrivilegeId\":"
    "\"00000000-0000-0000-0000-00000000000d\"}]}";

static void test_plan_fits_depths_and_skips_held(void **state)
{
	struct privs_list want = PRIVS_LIST_INIT, cat = PRIVS_LIST_INIT;
	struct privs_list held = PRIVS_LIST_INIT, send = PRIVS_LIST_INIT;
	struct buf notes = BUF_INIT(4096), body = BUF_INIT(4096);
	struct err e = ERR_INIT;
	cJSON *root, *arr, *p;

	(void)state;
	assert_int_equal(privs_catalog_parse(&cat, catalog_json, &e), 0);
	assert_int_equal(cat.n, 4);
	assert_int_equal(privs_list_find(&cat, "prvreadorganization")->mask,
			 PRIVS_MASK_GLOBAL);
	assert_int_equal(privs_held_parse(&held, held_json, &e), 0);
	assert_int_equal(held.n, 3);

	assert_int_equal(privs_parse_inline(&want,
					    "prvReadMailbox;prvReadOrganization"
					    ";prvWriteMailbox:Global;"
					    "prvReadQuery",
					    PRIVS_BASIC, &e),
			 0);
	assert_int_equal(privs_plan(&want, &cat, &held, &send, &notes, &e), 0);
	/* prvReadMailbox held at Local >= Basic; prvReadQuery held Global */
	assert_int_equal(send.n, 2);
	assert_string_equal(send.v[0].name, "prvReadOrganization");
	assert_int_equal(send.v[0].depth, PRIVS_GLOBAL);
	assert_string_equal(send.v[1].name, "prvWriteMailbox");
	assert_int_equal(send.v[1].depth, PRIVS_GLOBAL);
	assert_string_equal(notes.ptr,
			    "prvReadOrganization: Basic not allowed, granted "
			    "at Global; prvReadQuery: Basic not allowed, "
			    "granted at Global");

	assert_int_equal(privs_body(&send, "bu-1", &body), 0);
	root = cJSON_Parse(body.ptr);
	assert_non_null(root);
	arr = cJSON_GetObjectItem(root, "Privileges");
	assert_int_equal(cJSON_GetArraySize(arr), 2);
	p = cJSON_GetArrayItem(arr, 0);
	assert_string_equal(cJSON_GetObjectItem(p, "PrivilegeId")->valuestring,
			    "00000000-0000-0000-0000-00000000000b");
	assert_string_equal(
	    cJSON_GetObjectItem(p, "BusinessUnitId")->valuestring, "bu-1");
	assert_string_equal(cJSON_GetObjectItem(p, "Depth")->valuestring,
			    "Global");
	cJSON_Delete(root);

	privs_list_release(&want);
	privs_list_release(&cat);
	privs_list_release(&held);
	privs_list_release(&send);
	buf_release(&notes);
	buf_release(&body);
}

static void test_plan_nothing_to_send_when_all_held(void **state)
{
	struct privs_list want = PRIVS_LIST_INIT, cat = PRIVS_LIST_INIT;
	struct privs_list held = PRIVS_LIST_INIT, send = PRIVS_LIST_INIT;
	struct buf notes = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(privs_catalog_parse(&cat, catalog_json, &e), 0);
	assert_int_equal(privs_held_parse(&held, held_json, &e), 0);
	assert_int_equal(privs_parse_inline(&want,
					    "prvReadMailbox:Local;"
					    "prvReadQuery:Global",
					    PRIVS_BASIC, &e),
			 0);
	assert_int_equal(privs_plan(&want, &cat, &held, &send, &notes, &e), 0);
	assert_int_equal(send.n, 0);
	assert_string_equal(notes.ptr, "");
	privs_list_release(&want);
	privs_list_release(&cat);
	privs_list_release(&held);
	buf_release(&notes);
}

static void test_plan_unknown_privileges_fail(void **state)
{
	struct privs_list want = PRIVS_LIST_INIT, cat = PRIVS_LIST_INIT;
	struct privs_list held = PRIVS_LIST_INIT, send = PRIVS_LIST_INIT;
	struct buf notes = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(privs_catalog_parse(&cat, catalog_json, &e), 0);
	assert_int_equal(privs_parse_inline(&want,
					    "prvNope;prvReadMailbox;"
					    "prvAlsoNot",
					    PRIVS_BASIC, &e),
			 0);
	assert_int_equal(privs_plan(&want, &cat, &held, &send, &notes, &e), -1);
	assert_string_equal(e.msg, "unknown privilege(s): prvNope, prvAlsoNot");
	privs_list_release(&want);
	privs_list_release(&cat);
	privs_list_release(&send);
	buf_release(&notes);
}

/*
 * PrivilegeDepth 4, RecordFilter, in a RetrieveRolePrivilegesRole answer
 * (with its RecordFilterId): not a failed lookup of the role, and no
 * Basic..Global depth held, so the privilege is still granted.
 */
static void test_record_filter_depth_is_not_held(void **state)
{
	static const char *const forms[] = {"\"RecordFilter\"", "4", "\"4\"",
					    "\"recordfilter\""};
	struct privs_list want = PRIVS_LIST_INIT, cat = PRIVS_LIST_INIT;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(privs_catalog_parse(&cat, catalog_json, &e), 0);
	assert_int_equal(privs_parse_inline(&want,
					    "prvWriteMailbox;prvReadMailbox",
					    PRIVS_BASIC, &e),
			 0);
	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		struct privs_list held = PRIVS_LIST_INIT,
				  send = PRIVS_LIST_INIT;
		struct buf notes = BUF_INIT(4096);
		char json[512];

		snprintf(json, sizeof(json),
			 "{\"RolePrivileges\":[{\"Depth\":%s,\"PrivilegeId\":"
			 "\"00000000-0000-0000-0000-00000000000c\","
			 "\"PrivilegeName\":\"prvWriteMailbox\","
			 "\"RecordFilterId\":\"f1\",\"RecordFilterUniqueName\":"
			 "\"f\"},{\"Depth\":\"Global\",\"PrivilegeId\":"
			 "\"00000000-0000-0000-0000-00000000000A\"}]}",
			 forms[i]);
		if (privs_held_parse(&held, json, &e) < 0)
			fail_msg("Depth %s: %s", forms[i], e.msg);
		assert_int_equal(held.n, 1);
		assert_null(privs_list_find(&held, "prvWriteMailbox"));
		assert_int_equal(
		    privs_plan(&want, &cat, &held, &send, &notes, &e), 0);
		assert_int_equal(send.n, 1);
		assert_string_equal(send.v[0].name, "prvWriteMailbox");
		assert_int_equal(send.v[0].depth, PRIVS_BASIC);
		privs_list_release(&held);
		privs_list_release(&send);
		buf_release(&notes);
	}
	privs_list_release(&want);
	privs_list_release(&cat);
}

static void test_bad_answers(void **state)
{
	static const char *const bad[] = {
	    "not json",
	    "{\"value\":{}}",
	    "{\"value\":[{\"name\":\"prvA\"}]}",
	};
	static const char *const bad_held[] = {
	    "{}",
	    "{\"RolePrivileges\":[{\"Depth\":\"Huge\",\"PrivilegeId\":\"x\"}]}",
	    "{\"RolePrivileges\":[{\"Depth\":\"Basic\"}]}",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct privs_list l = PRIVS_LIST_INIT;
		struct err e = ERR_INIT;

		assert_int_equal(privs_catalog_parse(&l, bad[i], &e), -1);
		assert_int_equal(e.kind, ERR_PROTOCOL);
		privs_list_release(&l);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_held); i++) {
		struct privs_list l = PRIVS_LIST_INIT;
		struct err e = ERR_INIT;

		assert_int_equal(privs_held_parse(&l, bad_held[i], &e), -1);
		privs_list_release(&l);
	}
}

/* The compiled-in default is the committed file, byte for byte. */
static void test_builtin_template_is_the_file(void **state)
{
	struct privs_list l = PRIVS_LIST_INIT, f = PRIVS_LIST_INIT;
	struct err e = ERR_INIT;
	char text[16384];
	FILE *fp = fopen(TEMPLATE, "r");
	size_t n;

	(void)state;
	assert_non_null(fp);
	n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	assert_string_equal(privs_builtin_server_side_sync, text);
	assert_int_equal(privs_template_parse(&l,
					      privs_builtin_server_side_sync,
					      "built-in", &e),
			 0);
	assert_int_equal(privs_template_load(&f, TEMPLATE, &e), 0);
	assert_int_equal(l.n, f.n);
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.v[i].name, f.v[i].name);
		assert_int_equal(l.v[i].depth, f.v[i].depth);
	}
	privs_list_release(&l);
	privs_list_release(&f);
}

/*
 * Folders are searched in order, the first holding NAME.cfg wins; the
 * built-in server-side-sync needs none; an unknown name lists them all.
 */
static void test_resolve_searches_folders(void **state)
{
	struct privs_list l = PRIVS_LIST_INIT;
	struct privs_dirs d = {.n = 0};
	struct err e = ERR_INIT;
	char tmpl[] = "/tmp/privs-dirs.XXXXXX", a[300], b[300], p[400];

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(a, sizeof(a), "%s/a", tmpl);
	snprintf(b, sizeof(b), "%s/b", tmpl);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	snprintf(p, sizeof(p), "%s/mini.cfg", b);
	write_file(p, "privileges = ( { name = \"prvReadQueue\"; } );\n");
	d.v[d.n++] = xstrdup(a);
	d.v[d.n++] = xstrdup(b);

	assert_int_equal(privs_resolve_in(&l, "mini", &d, &e), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].name, "prvReadQueue");
	privs_list_release(&l);

	/* none of the folders has it: the compiled-in one */
	assert_int_equal(privs_resolve_in(&l, "server-side-sync", &d, &e), 0);
	assert_int_equal(l.n, ARRAY_SIZE(sss));
	privs_list_release(&l);

	/* a file of that name in a folder comes first */
	snprintf(p, sizeof(p), "%s/server-side-sync.cfg", a);
	write_file(p, "privileges = ( { name = \"prvReadQuery\"; } );\n");
	assert_int_equal(privs_resolve_in(&l, "server-side-sync", &d, &e), 0);
	assert_int_equal(l.n, 1);
	privs_list_release(&l);
	unlink(p);

	assert_int_equal(privs_resolve_in(&l, "nosuch", &d, &e), -1);
	assert_non_null(strstr(e.msg, "no privilege template 'nosuch'"));
	assert_non_null(strstr(e.msg, a));
	assert_non_null(strstr(e.msg, b));
	privs_list_release(&l);
	privs_dirs_release(&d);

	/* a job's folders: beside the job file, then the installed ones */
	privs_dirs_for_job(&d, "/srv/jobs/w.cfg", "/srv/jobs/mine", "/env/t");
	assert_int_equal(d.n, 5);
	assert_string_equal(d.v[0], "/srv/jobs/mine");
	assert_string_equal(d.v[1], "/env/t");
	assert_string_equal(d.v[2], "/srv/jobs/templates/privileges");
	assert_string_equal(d.v[3], "/srv/jobs/../templates/privileges");
	assert_string_equal(d.v[4], MBXFIX_DATADIR "/templates/privileges");
	privs_dirs_release(&d);
	privs_dirs_for_job(&d, "w.cfg", NULL, NULL);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0], "./templates/privileges");
	privs_dirs_release(&d);

	snprintf(p, sizeof(p), "%s/mini.cfg", b);
	unlink(p);
	rmdir(a);
	rmdir(b);
	rmdir(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_template_holds_every_sss_privilege),
	    cmocka_unit_test(test_resolve_by_template_name),
	    cmocka_unit_test(test_builtin_template_is_the_file),
	    cmocka_unit_test(test_resolve_searches_folders),
	    cmocka_unit_test(test_template_errors_name_file_line_setting),
	    cmocka_unit_test(test_inline_lists),
	    cmocka_unit_test(test_depth_names),
	    cmocka_unit_test(test_fit_depth_raises_to_nearest_allowed),
	    cmocka_unit_test(test_plan_fits_depths_and_skips_held),
	    cmocka_unit_test(test_plan_nothing_to_send_when_all_held),
	    cmocka_unit_test(test_plan_unknown_privileges_fail),
	    cmocka_unit_test(test_record_filter_depth_is_not_held),
	    cmocka_unit_test(test_bad_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
