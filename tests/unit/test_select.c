/*
 * The --where / select parser, the OData filter it builds, name matching,
 * the FetchXML paging of views (select.h), the organisation's default
 * email settings (orgdefaults.h) and plan's grouped summary
 * (plan_summary.h).
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "orgdefaults.h"
#include "plan_summary.h"
#include "select.h"

#include "banned.h"

static void test_parse_terms(void **state)
{
	struct select_set s = {0};
	char why[256];

	(void)state;
	assert_int_equal(select_add(&s, " profile = Exchange Server (Hybrid) ",
				    NULL, why, sizeof(why)),
			 0);
	assert_int_equal(s.t[0].key, SELECT_PROFILE);
	assert_string_equal(s.t[0].value, "Exchange Server (Hybrid)");
	assert_string_equal(s.t[0].origin, "--where");
	assert_int_equal(select_add(&s, "STATUS=failure, never-tested", "x",
				    why, sizeof(why)),
			 0);
	assert_int_equal(s.t[1].v, SELECT_ST_FAILURE | SELECT_ST_NEVER);
	assert_int_equal(
	    select_add(&s, "status=unhealthy", "x", why, sizeof(why)), 0);
	assert_int_equal(s.t[2].v, SELECT_ST_FAILURE | SELECT_ST_NEVER |
				       SELECT_ST_NOT_ENABLED);
	assert_int_equal(
	    select_add(&s, "approval=Not-Approved", "x", why, sizeof(why)), 0);
	assert_int_equal(s.t[3].v, SELECT_NOT_APPROVED);
	assert_int_equal(select_add(&s, "bu=Sales", "x", why, sizeof(why)), 0);
	assert_int_equal(s.t[4].key, SELECT_BU);
	assert_int_equal(select_add(&s, "type=queue", "x", why, sizeof(why)),
			 0);
	assert_int_equal(s.t[5].v, SELECT_QUEUE);
	assert_int_equal(
	    select_add(&s, "view=Active Mailboxes", "x", why, sizeof(why)), 0);
	assert_int_equal(s.t[6].key, SELECT_VIEW);
	/* a value may hold '=' */
	assert_int_equal(select_add(&s, "profile=a=b", "x", why, sizeof(why)),
			 0);
	assert_string_equal(s.t[7].value, "a=b");
	assert_int_equal(s.n, 8);
	{
		struct buf d = BUF_INIT(4096);

		select_describe(&s, &d);
		assert_non_null(strstr(d.ptr,
				       "profile=Exchange Server (Hybrid), "
				       "status=failure, never-tested"));
		assert_non_null(strstr(d.ptr, "business_unit=Sales"));
		buf_release(&d);
	}
	select_release(&s);
	assert_int_equal(s.n, 0);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *in, *why;
	} t[] = {
	    {"failure", "is not key=value"},
	    {"colour=blue", "unknown key 'colour'"},
	    {"profile=", "empty value"},
	    {"profile=   ", "empty value"},
	    {"status=broken", "unknown status 'broken'"},
	    {"status=failure,,bogus", "unknown status 'bogus'"},
	    {"status=,", "no value"},
	    {"approval=maybe", "unknown approval 'maybe'"},
	    {"type=team", "unknown type 'team'"},
	};
	struct select_set s = {0};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char why[256] = "";

		assert_int_equal(
		    select_add(&s, t[i].in, "--where", why, sizeof(why)), -1);
		if (!strstr(why, t[i].why))
			fail_msg("'%s': '%s' lacks '%s'", t[i].in, why,
				 t[i].why);
	}
	assert_int_equal(s.n, 0);
}

static void test_filter(void **state)
{
	struct select_set s = {0};
	struct buf f = BUF_INIT(4096);
	const char *ids[8] = {"p-id", NULL, NULL, "bu-id", NULL, NULL};
	char why[128];

	(void)state;
	select_add(&s, "profile=X", NULL, why, sizeof(why));
	select_add(&s, "status=failure,not-enabled", NULL, why, sizeof(why));
	select_add(&s, "approval=not-approved", NULL, why, sizeof(why));
	select_add(&s, "bu=Y", NULL, why, sizeof(why));
	select_add(&s, "type=user", NULL, why, sizeof(why));
	select_add(&s, "view=Z", NULL, why, sizeof(why));
	select_filter(&s, ids, &f);
	assert_string_equal(
	    f.ptr,
	    "_emailserverprofile_value eq p-id and (incomingemailstatus eq 2 "
	    "or outgoingemailstatus eq 2 or actstatus eq 2 or "
	    "incomingemailstatus ne 1 or outgoingemailstatus ne 1) and "
	    "emailrouteraccessapproval ne 1 and _owningbusinessunit_value eq "
	    "bu-id");
	buf_release(&f);
	select_release(&s);

	/* nothing to filter on: no expression */
	select_add(&s, "type=queue", NULL, why, sizeof(why));
	select_filter(&s, ids, &f);
	assert_true(f.len == 0);
	buf_release(&f);
	select_release(&s);

	select_add(&s, "status=never-tested", NULL, why, sizeof(why));
	select_filter(&s, ids, &f);
	assert_string_equal(f.ptr, "(testmailboxaccesscompletedon eq null)");
	buf_release(&f);
	select_release(&s);
}

static void test_match_name(void **state)
{
	const char *names[] = {"Microsoft Exchange Online",
			       "Exchange Server (Hybrid)", NULL,
			       " exchange server (hybrid)"};

	(void)state;
	assert_int_equal(
	    select_match_name("  microsoft EXCHANGE online ", names, 2), 0);
	assert_int_equal(
	    select_match_name("Exchange Server (Hybrid)", names, 2), 1);
	assert_int_equal(select_match_name("Exchange Server", names, 2), -1);
	/* a blank more is the same name: two of them */
	assert_int_equal(
	    select_match_name("exchange server (hybrid)", names, 4), -2);
}

static void test_fetch_page(void **state)
{
	char *x;

	(void)state;
	x = select_fetch_page("<fetch version=\"1.0\" mapping='logical'>"
			      "<entity name=\"mailbox\" /></fetch>",
			      1, 5000, NULL);
	assert_string_equal(x, "<fetch version=\"1.0\" mapping=\"logical\" "
			       "count=\"5000\" page=\"1\"><entity "
			       "name=\"mailbox\" /></fetch>");
	free(x);
	/* the view's own count stays, its page and cookie are replaced */
	x = select_fetch_page(
	    "<?xml version=\"1.0\"?>\n<fetch count=\"3\" "
	    "page=\"9\" paging-cookie=\"old\"><entity "
	    "name=\"mailbox\" /></fetch>",
	    2, 5000,
	    "<cookie page=\"1\"><mailboxid last=\"{A&B}\" /></cookie>");
	assert_string_equal(
	    x, "<?xml version=\"1.0\"?>\n<fetch count=\"3\" page=\"2\" "
	       "paging-cookie=\"&lt;cookie page=&quot;1&quot;&gt;&lt;"
	       "mailboxid last=&quot;{A&amp;B}&quot; /&gt;&lt;/cookie&gt;\">"
	       "<entity name=\"mailbox\" /></fetch>");
	free(x);
	assert_null(
	    select_fetch_page("<entity name=\"mailbox\" />", 1, 50, NULL));
	assert_null(select_fetch_page("<fetchy>", 1, 50, NULL));
	assert_null(select_fetch_page("<fetch count=3>", 1, 50, NULL));
}

static void test_fetch_next(void **state)
{
	long page;
	char *cookie;

	(void)state;
	assert_int_equal(
	    select_fetch_next(
		"<cookie pagenumber=\"2\" pagingcookie=\"%253ccookie%2520page"
		"%253d%25221%2522%253e%253cmailboxid%2520last%253d%2522%257b"
		"AB%257d%2522%2520%252f%253e%253c%252fcookie%253e\" "
		"istracking=\"False\" />",
		&page, &cookie),
	    0);
	assert_int_equal(page, 2);
	assert_string_equal(cookie,
			    "<cookie page=\"1\"><mailboxid last=\"{AB}\" "
			    "/></cookie>");
	free(cookie);
	assert_int_equal(
	    select_fetch_next("<cookie pagenumber=\"2\" />", &page, &cookie),
	    -1);
	assert_null(cookie);
	assert_int_equal(select_fetch_next("nonsense", &page, &cookie), -1);
	assert_int_equal(select_fetch_next("<cookie pagenumber=\"x\" "
					   "pagingcookie=\"a\" />",
					   &page, &cookie),
			 -1);
}

static void test_orgdefaults(void **state)
{
	int v[ROWS_NDELIVERY];

	(void)state;
	assert_int_equal(
	    orgdefaults_parse("<EmailSettings><IncomingEmailDeliveryMethod>2"
			      "</IncomingEmailDeliveryMethod>"
			      "<OutgoingEmailDeliveryMethod> 1 "
			      "</OutgoingEmailDeliveryMethod><ACTDelivery"
			      "Method>0</ACTDeliveryMethod></EmailSettings>",
			      v),
	    3);
	assert_int_equal(v[ROWS_INCOMING], 2);
	assert_int_equal(v[ROWS_OUTGOING], 1);
	assert_int_equal(v[ROWS_ACTDELIVERY], 0);
	assert_int_equal(orgdefaults_parse("<EmailSettings><ACTDeliveryMethod>x"
					   "</ACTDeliveryMethod><Incoming"
					   "EmailDeliveryMethod>3"
					   "</IncomingEmailDeliveryMethod>",
					   v),
			 1);
	assert_int_equal(v[ROWS_INCOMING], 3);
	assert_int_equal(v[ROWS_OUTGOING], ROWS_UNSET);
	assert_int_equal(v[ROWS_ACTDELIVERY], ROWS_UNSET);
	assert_int_equal(orgdefaults_parse(NULL, v), 0);
	assert_int_equal(orgdefaults_parse("", v), 0);
}

static void test_plan_summary(void **state)
{
	struct plan_summary *ps = plan_summary_new();
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	for (int i = 0; i < 77; i++)
		plan_summary_add(ps, ROWS_SET_PROFILE,
				 "Exchange Server (Hybrid)",
				 "Microsoft Exchange Online");
	for (int i = 0; i < 5; i++)
		plan_summary_add(ps, ROWS_SET_PROFILE, "(none)",
				 "Microsoft Exchange Online");
	for (int i = 0; i < 500; i++)
		plan_summary_add(ps, ROWS_GRANT_PRIVILEGES,
				 i % 3 == 0   ? "role A lacks 1: prvX Global"
				 : i % 3 == 1 ? "role B lacks 1: prvX Global"
					      : "role C lacks 2: prvX Global, "
						"prvY Basic",
				 i % 3 == 0   ? "role A: +1 privilege"
				 : i % 3 == 1 ? "role B: +1 privilege"
					      : "role C: +2 privileges");
	assert_int_equal(plan_summary_targets(ps, ROWS_SET_PROFILE), 82);
	assert_int_equal(plan_summary_targets(ps, ROWS_GRANT_PRIVILEGES), 3);
	assert_int_equal(plan_summary_targets(ps, ROWS_APPROVE), 0);
	plan_summary_print(ps, fp);
	fclose(fp);
	assert_non_null(strstr(text, "set_profile: 82 mailboxes\n      77 "
				     "mailboxes: Exchange Server (Hybrid) -> "
				     "Microsoft Exchange Online\n      5 "
				     "mailboxes: (none) -> Microsoft "
				     "Exchange Online\n"));
	assert_non_null(strstr(text, "grant_privileges: 3 roles\n"));
	assert_non_null(strstr(text, "role C: +2 privileges (166 rows): role "
				     "C lacks 2: prvX Global, prvY Basic\n"));
	free(text);
	plan_summary_free(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_terms),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_filter),
	    cmocka_unit_test(test_match_name),
	    cmocka_unit_test(test_fetch_page),
	    cmocka_unit_test(test_fetch_next),
	    cmocka_unit_test(test_orgdefaults),
	    cmocka_unit_test(test_plan_summary),
	};
	return cmocka_run_group_tests_name("select", tests, NULL, NULL);
}
