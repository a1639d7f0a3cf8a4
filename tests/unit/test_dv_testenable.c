#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dv_harness.h"
#include "dvsim/variant.h"

#include "banned.h"

/* Schedule Test & Enable on 'm' through the API and run it. */
static void test_and_enable(struct dv_org *org, struct dv_row *m)
{
	const char *app = dv_org_app_user(org, APPROVER_APP);
	const char *h[] = {"If-Match: *", NULL};
	char url[128];
	struct call c;

	snprintf(url, sizeof(url), "mailboxes(%s)", m->id);
	c = dv_call(org, app, "PATCH", url,
		    "{\"testemailconfigurationscheduled\":true}", h);
	assert_int_equal(c.status, 204);
	call_release(&c);
	assert_true(dv_bool(m->obj, "testemailconfigurationscheduled"));
	dv_org_tick(org);
}

/* The alerts of 'm', newest last, as a JSON array (caller deletes). */
static cJSON *alerts(struct dv_org *org, struct dv_row *m)
{
	const char *app = dv_org_app_user(org, APPROVER_APP);
	char url[256];
	struct call c;
	cJSON *v;

	snprintf(url, sizeof(url),
		 "tracelogs?$select=level,text,errortypedisplay,errordetails,"
		 "tracecode,createdon&$filter=_regardingobjectid_value eq %s",
		 m->id);
	c = dv_call(org, app, "GET", url, NULL, NULL);
	assert_int_equal(c.status, 200);
	v = cJSON_DetachItemFromObject(c.json, "value");
	call_release(&c);
	return v;
}

static bool has_alert(const cJSON *arr, int level, const char *type,
		      const char *text_part, const char *details_part)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
	{
		const char *ty = dv_str(it, "errortypedisplay");
		const char *tx = dv_str(it, "text");
		const char *de = dv_str(it, "errordetails");

		if (dv_int(it, "level", 0) != level)
			continue;
		if (type && (!ty || strcmp(ty, type)))
			continue;
		if (text_part && (!tx || !strstr(tx, text_part)))
			continue;
		if (details_part && (!de || !strstr(de, details_part)))
			continue;
		return true;
	}
	return false;
}

struct kind {
	const char *mix;
	const char *type; /* expected errortypedisplay; NULL: success */
	const char *text;
	const char *details;
	int in, out, act; /* expected statuses */
};

static const char T401[] = "Http server returned 401 Unauthorized exception.";

static const struct kind kinds[] = {
    {"ok", NULL, "was tested and enabled", NULL, 1, 1, 1},
    {"profile=100", "InvalidIncomingEmailServerProfile",
     "does not have an email server profile associated with it or the "
     "email server profile is inactive",
     NULL, 2, 2, 2},
    {"hybrid=100", T401,
     "Make sure that the credentials specified in the "
     "mailbox",
     NULL, 2, 2, 2},
    {"owner=100", "UserPrivilegeError",
     "An internal Microsoft Dynamics 365 error occurred while "
     "synchronizing appointments, contacts, and tasks for the mailbox",
     "is not the mailbox's user", 1, 1, 2},
    {"privileges=100", "Crm.80040220.PrivilegeDenied",
     "because the mailbox user doesn't have sufficient permissions on "
     "this mailbox",
     ", type=8) is missing prv", 1, 1, 2},
    /* KB 4052727: one alert per direction */
    {"approval=100", "OutgoingEmailS2SApprovalNeeded",
     "Email cannot be sent because the email address of the mailbox", NULL, 2,
     2, 2},
    {"approval=100", "IncomingEmailS2SApprovalNeeded",
     "requires an approval by an Office 365 administrator. The mailbox "
     "didn't synchronize. A notification",
     NULL, 2, 2, 2},
    {"approval=100", "ExchangeSyncEmailS2SApprovalNeeded",
     "Appointments, contacts, and tasks can't be synchronized because "
     "the email address",
     NULL, 2, 2, 2},
    /* KB 3212785: the same 401 texts whatever the cause */
    {"address=100", T401, "cannot be sent", NULL, 2, 2, 2},
    {"licence=100", T401, "Email cannot be received for the mailbox", NULL, 2,
     2, 2},
    {"recreated=100", T401,
     "Appointments, contacts, and tasks can't be "
     "synchronized",
     NULL, 2, 2, 2},
    {"recreated=100", "NoUserFoundWithGivenClaims",
     "NoUserFoundWithGivenClaims", "User does not exist in tenant with id", 2,
     2, 2},
    {"impersonation=100", "ImpersonationError",
     "An impersonation error occurred in accessing the mailbox while "
     "sending the email message \"Test Message\"",
     "The account does not have permission to impersonate the requested "
     "user.",
     2, 2, 2},
    {"disabled=100", "MailboxDisabled", "is deactivated or disabled", NULL, 2,
     2, 2},
};

static void test_each_problem_kind(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		const struct kind *k = &kinds[i];
		struct dv_org *org = gen_org(6, k->mix, 5);
		struct dv_row *m = nth_user_mailbox(org, 0);
		cJSON *a;

		test_and_enable(org, m);
		if (dv_int(m->obj, "incomingemailstatus", -1) != k->in ||
		    dv_int(m->obj, "outgoingemailstatus", -1) != k->out ||
		    dv_int(m->obj, "actstatus", -1) != k->act)
			fail_msg("%s: statuses %d/%d/%d", k->mix,
				 dv_int(m->obj, "incomingemailstatus", -1),
				 dv_int(m->obj, "outgoingemailstatus", -1),
				 dv_int(m->obj, "actstatus", -1));
		assert_false(
		    dv_bool(m->obj, "testemailconfigurationscheduled"));
		assert_int_equal(
		    dv_int(m->obj, "testemailconfigurationretrycount", -1), 1);
		assert_non_null(dv_str(m->obj, "testmailboxaccesscompletedon"));
		assert_int_equal(dv_int(m->obj, "mailboxstatus", -1),
				 k->type ? 2 : 1);
		assert_int_equal(dv_bool(m->obj, "enabledforact"), k->act == 1);
		a = alerts(org, m);
		if (k->type ? !has_alert(a, 3, k->type, k->text, k->details)
			    : !has_alert(a, 1, NULL, k->text, NULL)) {
			char *s = cJSON_Print(a);

			fail_msg("%s: alerts %s", k->mix, s);
		}
		if (k->type)
			assert_false(has_alert(a, 1, NULL, NULL, NULL));
		{
			const cJSON *it;

			cJSON_ArrayForEach(it, a)
			{
				const char *ty = dv_str(it, "errortypedisplay");
				int tc = dv_int(it, "tracecode", -1);

				/* the column's range */
				assert_in_range(tc, 0, 1000000000);
				/* a 401 does not say its cause */
				if (ty && !strcmp(ty, T401))
					assert_null(dv_str(it, "errordetails"));
			}
		}
		cJSON_Delete(a);
		dv_org_free(org);
	}
}

static void test_delivery_not_sss_is_not_tested(void **state)
{
	struct dv_org *org = gen_org(30, "delivery=100", 9);
	int seen_untested = 0;

	(void)state;
	for (size_t i = 0; i < 10; i++) {
		struct dv_row *m = nth_user_mailbox(org, i);
		bool in = dv_int(m->obj, "incomingemaildeliverymethod", 0) == 2;
		bool out =
		    dv_int(m->obj, "outgoingemaildeliverymethod", 0) == 2;
		bool act = dv_int(m->obj, "actdeliverymethod", 0) == 1;

		assert_false(in && out && act); /* the problem is there */
		test_and_enable(org, m);
		assert_int_equal(dv_int(m->obj, "incomingemailstatus", -1),
				 in ? 1 : 0);
		assert_int_equal(dv_int(m->obj, "outgoingemailstatus", -1),
				 out ? 1 : 0);
		assert_int_equal(dv_int(m->obj, "actstatus", -1), act ? 1 : 0);
		seen_untested += !act;
	}
	assert_true(seen_untested > 0);
	dv_org_free(org);
}

static void test_privilege_fix_then_retest_succeeds(void **state)
{
	struct dv_org *org = gen_org(6, "privileges=100", 5);
	struct dv_row *m = nth_user_mailbox(org, 0);
	const char *app = dv_org_app_user(org, APPROVER_APP);
	const char *uid = dv_str(m->obj, "_regardingobjectid_value");
	struct dv_table *ur = dv_table(org, DV_USERROLES);
	struct dv_row *role = NULL;
	char url[200], body[512], prvname[64] = "", *p;
	cJSON *a;
	int guard = 0;

	(void)state;
	for (;;) {
		const cJSON *it;

		test_and_enable(org, m);
		if (dv_int(m->obj, "actstatus", -1) == 1)
			break;
		assert_true(++guard < 10);
		a = alerts(org, m);
		/* the details name the privilege: take the newest */
		it = cJSON_GetArrayItem(a, cJSON_GetArraySize(a) - 1);
		p = strstr(dv_str(it, "errordetails"), "missing ");
		assert_non_null(p);
		snprintf(prvname, sizeof(prvname), "%s", p + 8);
		*strchr(prvname, ' ') = '\0';
		cJSON_Delete(a);
		/* the user's role, by its root */
		for (size_t i = 0; i < ur->n && !role; i++)
			if (!strcmp(dv_str(ur->rows[i]->obj, "systemuserid"),
				    uid))
				role = dv_role_root(
				    org, dv_row_get(dv_table(org, DV_ROLES),
						    dv_str(ur->rows[i]->obj,
							   "roleid")));
		assert_non_null(role);
		snprintf(url, sizeof(url),
			 "roles(%s)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
			 role->id);
		snprintf(body, sizeof(body),
			 "{\"Privileges\":[{\"PrivilegeId\":\"%s\","
			 "\"Depth\":\"Global\"}]}",
			 dv_privilege_by_name(org, prvname)->id);
		{
			struct call c =
			    dv_call(org, app, "POST", url, body, NULL);

			assert_int_equal(c.status, 204);
			call_release(&c);
		}
	}
	assert_true(guard > 0); /* it did fail first */
	a = alerts(org, m);
	assert_true(has_alert(a, 1, NULL, "was tested and enabled", NULL));
	cJSON_Delete(a);
	dv_org_free(org);
}

static void test_self_approval_by_the_user_only(void **state)
{
	struct dv_org *org = gen_org(6, "approval=100", 5);
	struct dv_row *m = nth_user_mailbox(org, 0);
	const char *uid = dv_str(m->obj, "_regardingobjectid_value");
	char url[128];
	struct call c;

	(void)state;
	/* scheduled by the application user: not approved, not enabled */
	test_and_enable(org, m);
	assert_int_not_equal(dv_int(m->obj, "emailrouteraccessapproval", -1),
			     1);
	assert_int_equal(dv_int(m->obj, "incomingemailstatus", -1), 2);
	/* scheduled by the mailbox's own user (UPN = address) */
	snprintf(url, sizeof(url), "mailboxes(%s)", m->id);
	c = dv_call(org, uid, "PATCH", url,
		    "{\"testemailconfigurationscheduled\":true}", NULL);
	assert_int_equal(c.status, 204);
	call_release(&c);
	dv_org_tick(org);
	assert_int_equal(dv_int(m->obj, "emailrouteraccessapproval", -1), 1);
	assert_int_equal(dv_int(m->obj, "incomingemailstatus", -1), 1);
	assert_int_equal(dv_int(m->obj, "actstatus", -1), 1);
	dv_org_free(org);
}

static void test_recurring_alert_updates_existing_row(void **state)
{
	struct dv_org *org = gen_org(4, "disabled=100", 5);
	struct dv_row *m = nth_user_mailbox(org, 0);
	cJSON *a;

	(void)state;
	test_and_enable(org, m);
	test_and_enable(org, m);
	a = alerts(org, m);
	assert_int_equal(cJSON_GetArraySize(a), 1);
	cJSON_Delete(a);
	assert_int_equal(dv_int(m->obj, "testemailconfigurationretrycount", -1),
			 2);
	dv_org_free(org);
}

static void test_delay_is_honoured(void **state)
{
	struct dv_org *org = gen_org(4, "ok", 5);
	struct dv_row *m = nth_user_mailbox(org, 0);

	(void)state;
	dv_org_set_test_delay(org, 1000);
	org->now_override_ms = 50000;
	test_and_enable(org, m);
	assert_true(dv_bool(m->obj, "testemailconfigurationscheduled"));
	assert_int_equal(dv_int(m->obj, "actstatus", -1), 0);
	org->now_override_ms = 50999;
	dv_org_tick(org);
	assert_true(dv_bool(m->obj, "testemailconfigurationscheduled"));
	org->now_override_ms = 51000;
	dv_org_tick(org);
	assert_false(dv_bool(m->obj, "testemailconfigurationscheduled"));
	assert_int_equal(dv_int(m->obj, "actstatus", -1), 1);
	dv_org_free(org);
}

/*
 * Scheduling stamps the attempt and resets the three statuses to Not Run
 * (kept under te-status-kept); the flag is cleared at the end (kept
 * under te-flag-stays).
 */
static void test_scheduling_and_the_te_variants(void **state)
{
	static const unsigned variants[] = {0, DV_VAR_TE_STATUS_KEPT,
					    DV_VAR_TE_FLAG_STAYS};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		struct dv_org *org = gen_org(4, "ok", 5);
		struct dv_row *m = nth_user_mailbox(org, 0);

		test_and_enable(org, m); /* statuses success */
		assert_int_equal(dv_int(m->obj, "incomingemailstatus", -1), 1);
		dv_variants = variants[i];
		dv_org_set_test_delay(org, 1000);
		org->now_override_ms = 50000;
		test_and_enable(org, m);
		assert_non_null(dv_str(m->obj, "testandenablelastattemptedon"));
		assert_int_equal(dv_int(m->obj, "incomingemailstatus", -1),
				 variants[i] == DV_VAR_TE_STATUS_KEPT ? 1 : 0);
		assert_int_equal(dv_int(m->obj, "actstatus", -1),
				 variants[i] == DV_VAR_TE_STATUS_KEPT ? 1 : 0);
		org->now_override_ms = 51000;
		dv_org_tick(org);
		assert_int_equal(dv_int(m->obj, "incomingemailstatus", -1), 1);
		assert_int_equal(
		    dv_int(m->obj, "testemailconfigurationretrycount", -1), 2);
		assert_int_equal(
		    dv_bool(m->obj, "testemailconfigurationscheduled"),
		    variants[i] == DV_VAR_TE_FLAG_STAYS);
		dv_variants = 0;
		dv_org_free(org);
	}
}

/*
 * te-postponed: scheduling sets postponetestemailconfigurationuntil to
 * the test delay from now, in whole seconds, and the test waits for it.
 */
static void test_postponed_variant(void **state)
{
	struct dv_org *org = gen_org(4, "ok", 5);
	struct dv_row *m = nth_user_mailbox(org, 0);
	time_t before = time(NULL), until;
	struct tm tm = {0};
	const char *s;

	(void)state;
	dv_variants = DV_VAR_TE_POSTPONED;
	dv_org_set_test_delay(org, 1500);
	org->now_override_ms = 50000;
	test_and_enable(org, m);
	s = dv_str(m->obj, "postponetestemailconfigurationuntil");
	assert_non_null(s);
	assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year,
				&tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
				&tm.tm_min, &tm.tm_sec),
			 6);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	until = timegm(&tm);
	assert_in_range(until - before, 1, 3);
	org->now_override_ms = 51499;
	dv_org_tick(org);
	assert_int_equal(dv_int(m->obj, "testemailconfigurationretrycount", -1),
			 0);
	org->now_override_ms = 52600;
	dv_org_tick(org);
	assert_int_equal(dv_int(m->obj, "testemailconfigurationretrycount", -1),
			 1);
	dv_variants = 0;
	dv_org_free(org);
}

static void test_generator_is_deterministic(void **state)
{
	struct dv_org *a = gen_org(200, NULL, 42), *b = gen_org(200, NULL, 42);
	struct dv_org *c = gen_org(200, NULL, 43);
	struct buf ja = BUF_INIT(BUF_MAX_BODY), jb = BUF_INIT(BUF_MAX_BODY),
		   jc = BUF_INIT(BUF_MAX_BODY);
	char *p;

	(void)state;
	assert_int_equal(dv_org_to_json(a, &ja), 0);
	assert_int_equal(dv_org_to_json(b, &jb), 0);
	assert_int_equal(dv_org_to_json(c, &jc), 0);
	/* createdon/modifiedon carry the wall clock: blank them */
	for (struct buf *x = &ja; x; x = x == &ja ? &jb : x == &jb ? &jc : NULL)
		for (p = x->ptr; (p = strstr(p, "\"20")) != NULL; p++)
			if (p[11] == 'T' && p[20] == 'Z')
				memset(p + 1, '0', 19);
	assert_string_equal(ja.ptr, jb.ptr);
	assert_string_not_equal(ja.ptr, jc.ptr);
	buf_release(&ja);
	buf_release(&jb);
	buf_release(&jc);
	dv_org_free(a);
	dv_org_free(b);
	dv_org_free(c);
}

static void test_default_mix_proportions(void **state)
{
	struct dv_org *org = gen_org(1000, NULL, 1);
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	size_t noprofile = 0, pending = 0, users = 0;

	(void)state;
	for (size_t i = 0; i < 1000; i++) {
		struct dv_row *m = nth_user_mailbox(org, i);

		users++;
		noprofile += !dv_str(m->obj, "_emailserverprofile_value");
		pending += dv_int(m->obj, "emailrouteraccessapproval", 1) != 1;
	}
	assert_int_equal(users, 1000);
	/* profile=12, half of them without a profile: about 60 */
	assert_in_range(noprofile, 30, 95);
	/* approval=14 */
	assert_in_range(pending, 100, 180);
	assert_true(mt->n > 1000); /* plus admin and queues */
	dv_org_free(org);
}

static void test_bad_mix_is_refused(void **state)
{
	static const char *const bad[] = {"profile=101", "nosuch=1", "profile",
					  "profile=60,owner=50", "profile=x"};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct dv_org *org = dv_org_new();
		struct err e = ERR_INIT;

		assert_int_equal(dv_org_generate(org, 5, bad[i], 1, &e), -1);
		assert_int_equal(e.kind, ERR_USAGE);
		dv_org_free(org);
	}
}

static void test_dump_round_trips(void **state)
{
	struct dv_org *a = gen_org(50, NULL, 8), *b = dv_org_new();
	struct buf ja = BUF_INIT(BUF_MAX_BODY), jb = BUF_INIT(BUF_MAX_BODY);
	char path[] = "/tmp/dvsim-dump-XXXXXX";
	struct err e = ERR_INIT;
	int fd;
	FILE *f;

	(void)state;
	test_and_enable(a, nth_user_mailbox(a, 0));
	assert_int_equal(dv_org_to_json(a, &ja), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_int_equal(fwrite(ja.ptr, 1, ja.len, f), ja.len);
	fclose(f);
	assert_int_equal(dv_org_load(b, path, &e), 0);
	unlink(path);
	assert_int_equal(dv_org_to_json(b, &jb), 0);
	assert_string_equal(ja.ptr, jb.ptr);
	/* the app users are there; adding them again changes nothing */
	assert_non_null(dv_org_app_user(b, APPROVER_APP));
	assert_int_equal(
	    dv_org_add_app_user(b, APPROVER_APP, DV_APP_APPROVER, &e), 0);
	buf_release(&ja);
	buf_release(&jb);
	dv_org_free(a);
	dv_org_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_problem_kind),
	    cmocka_unit_test(test_delivery_not_sss_is_not_tested),
	    cmocka_unit_test(test_privilege_fix_then_retest_succeeds),
	    cmocka_unit_test(test_self_approval_by_the_user_only),
	    cmocka_unit_test(test_recurring_alert_updates_existing_row),
	    cmocka_unit_test(test_delay_is_honoured),
	    cmocka_unit_test(test_scheduling_and_the_te_variants),
	    cmocka_unit_test(test_postponed_variant),
	    cmocka_unit_test(test_generator_is_deterministic),
	    cmocka_unit_test(test_default_mix_proportions),
	    cmocka_unit_test(test_bad_mix_is_refused),
	    cmocka_unit_test(test_dump_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
