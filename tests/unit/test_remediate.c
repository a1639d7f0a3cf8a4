#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "remediate.h"

#include "banned.h"

#define RESULT_COLS                                                            \
	"result,set_profile,set_delivery,fix_owner,grant_privileges,approve,"  \
	"test_enable,error_code,error_message,hint,attempts,incoming_status,"  \
	"outgoing_status,act_status,mailbox_id"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_rows_with_something_to_do(void **state)
{
	char in[] = "/tmp/test_remediate_in_XXXXXX";
	char out[] = "/tmp/test_remediate_out_XXXXXX";
	struct err e = ERR_INIT;
	size_t n = 99;
	int fd1 = mkstemp(in), fd2 = mkstemp(out);
	const char *got;

	(void)state;
	assert_true(fd1 >= 0 && fd2 >= 0);
	close(fd1);
	close(fd2);
	write_file(in,
		   "mailbox,role,ticket," RESULT_COLS "\r\n"
		   /* healthy: left out */
		   "a@x.com,Sales,T1,ok,unchanged,unchanged,unchanged,"
		   "unchanged,unchanged,unchanged,,,,1,success,success,"
		   "success,id1\r\n"
		   /* state that would change */
		   "b@x.com,Sales,T2,ok,would-change,unchanged,unchanged,"
		   "unchanged,would-change,unchanged,,,,1,,,,id2\r\n"
		   /* the diagnosis names an action */
		   "c@x.com,Sales,'=T3,failed,unchanged,unchanged,unchanged,"
		   "unchanged,unchanged,failed,UserPrivilegeError,\"An "
		   "internal error, sorry\",\"set the owner (action "
		   "fix_owner), check (grant_privileges with x), then "
		   "test_enable\",1,success,success,failure,id3\r\n"
		   /* nothing mbxfix can do but test again */
		   "d@x.com,Sales,T4,failed,unchanged,unchanged,unchanged,"
		   "unchanged,unchanged,failed,Unauthorized,401,\"assign a "
		   "licence, then test_enable\",1,failure,failure,failure,"
		   "id4\r\n"
		   /* invalid: left out */
		   "e@x.com,Sales,T5,invalid,,,,,,,InvalidRow,bad,fix it,0,,,,"
		   "\r\n");
	assert_int_equal(remediate_file(in, out, &n, &e), 0);
	assert_int_equal(n, 3);
	got = read_file(out);
	assert_string_equal(
	    got,
	    "mailbox,actions,role,ticket,diagnosis\r\n"
	    "b@x.com,set_profile;approve;test_enable,Sales,T2,"
	    "\"would change: set_profile, approve\"\r\n"
	    "c@x.com,fix_owner;test_enable,Sales,'=T3,\"UserPrivilegeError: "
	    "set the owner (action fix_owner), check (grant_privileges "
	    "with x), then test_enable\"\r\n"
	    "d@x.com,test_enable,Sales,T4,\"Unauthorized: assign a licence, "
	    "then test_enable\"\r\n");
	unlink(in);
	unlink(out);
}

static void test_existing_actions_column_replaced(void **state)
{
	char in[] = "/tmp/test_remediate_in_XXXXXX";
	char out[] = "/tmp/test_remediate_out_XXXXXX";
	struct err e = ERR_INIT;
	int fd1 = mkstemp(in), fd2 = mkstemp(out);

	(void)state;
	assert_true(fd1 >= 0 && fd2 >= 0);
	close(fd1);
	close(fd2);
	/* semicolon-delimited, as Excel writes in many locales */
	write_file(in, "Actions;Mailbox;result;set_profile;set_delivery;"
		       "fix_owner;grant_privileges;approve;test_enable;"
		       "error_code;error_message;hint;attempts;"
		       "incoming_status;outgoing_status;act_status;"
		       "mailbox_id\n"
		       "approve;q@x.com;failed;;;;;;failed;"
		       "EmailAddressNotApproved;m;approve it (action "
		       "approve);1;;;;id\n");
	assert_int_equal(remediate_file(in, out, NULL, &e), 0);
	assert_string_equal(read_file(out),
			    "Actions;Mailbox;role;diagnosis\r\n"
			    "\"approve;test_enable\";q@x.com;;"
			    "EmailAddressNotApproved: approve it (action "
			    "approve)\r\n");
	unlink(in);
	unlink(out);
}

static void test_role_from_privilege_diagnosis(void **state)
{
	char in[] = "/tmp/test_remediate_in_XXXXXX";
	char out[] = "/tmp/test_remediate_out_XXXXXX";
	struct err e = ERR_INIT;
	int fd1 = mkstemp(in), fd2 = mkstemp(out);

	(void)state;
	assert_true(fd1 >= 0 && fd2 >= 0);
	close(fd1);
	close(fd2);
	write_file(in, "mailbox,role," RESULT_COLS "\n"
		       /* the row names no role: the hint's is used */
		       "a@x.com,,failed,,,,,,failed,PrivilegeDenied,m,"
		       "\"lacks prvA: grant it (action grant_privileges "
		       "with role=Sales Restricted and privileges=prvA)\",1,"
		       ",,,id\n"
		       /* several roles: the first one */
		       "b@x.com,,failed,,,,,,failed,PrivilegeDenied,m,"
		       "\"(action grant_privileges with role=Lite (or another "
		       "of the user's roles: Sales) and privileges=prvA)\",1,"
		       ",,,id\n"
		       /* the row's own role wins */
		       "c@x.com,Mine,failed,,,,,,failed,PrivilegeDenied,m,"
		       "\"(action grant_privileges with role=Lite and "
		       "privileges=prvA)\",1,,,,id\n"
		       /* the placeholder is no role */
		       "d@x.com,,failed,,,,,,failed,PrivilegeDenied,m,"
		       "\"(action grant_privileges with role=<the user's "
		       "role> and privileges=prvA)\",1,,,,id\n");
	assert_int_equal(remediate_file(in, out, NULL, &e), 0);
	assert_string_equal(
	    read_file(out),
	    "mailbox,actions,role,diagnosis\r\n"
	    "a@x.com,grant_privileges;test_enable,Sales Restricted,"
	    "PrivilegeDenied: lacks prvA: grant it (action grant_privileges "
	    "with role=Sales Restricted and privileges=prvA)\r\n"
	    "b@x.com,grant_privileges;test_enable,Lite,PrivilegeDenied: "
	    "(action grant_privileges with role=Lite (or another of the "
	    "user's roles: Sales) and privileges=prvA)\r\n"
	    "c@x.com,grant_privileges;test_enable,Mine,PrivilegeDenied: "
	    "(action grant_privileges with role=Lite and "
	    "privileges=prvA)\r\n"
	    "d@x.com,grant_privileges;test_enable,,PrivilegeDenied: (action "
	    "grant_privileges with role=<the user's role> and "
	    "privileges=prvA)\r\n");
	unlink(in);
	unlink(out);
}

static void test_not_a_results_file(void **state)
{
	char in[] = "/tmp/test_remediate_in_XXXXXX";
	struct err e = ERR_INIT;
	int fd = mkstemp(in);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	write_file(in, "mailbox,actions\r\na@x.com,approve\r\n");
	assert_int_equal(remediate_file(in, "/tmp/unused", NULL, &e), -1);
	assert_non_null(strstr(e.msg, "not a results file"));
	unlink(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_with_something_to_do),
	    cmocka_unit_test(test_existing_actions_column_replaced),
	    cmocka_unit_test(test_role_from_privilege_diagnosis),
	    cmocka_unit_test(test_not_a_results_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
