/*
 * The actions' decisions, with the engine's services replaced by a fake
 * that records what an action asks for: what approve sends (the user or
 * queue record) and how it reads the record and the mailbox back (a
 * service that accepts the write but does not approve), set_profile and
 * fix_owner reading the state first, and when test_enable takes a test
 * for finished (whatever the flag does), postponed or not.
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "action.h"
#include "rows.h"

#include "banned.h"

struct action_ctx {
	int emitted;
	char method[8];
	char url[512];
	char prev_url[512]; /* the operation asked before the last */
	int64_t now_ms;
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
	memcpy(c->prev_url, c->url, sizeof(c->url));
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

/* test_enable's other services: job defaults, a clock the test sets */
bool action_readonly(const struct action_ctx *c)
{
	(void)c;
	return false;
}

const struct job *action_job(const struct action_ctx *c)
{
	(void)c;
	return NULL; /* test_timeout 900 s, poll_interval 15 s */
}

int64_t action_now_ms(const struct action_ctx *c)
{
	return c->now_ms;
}

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

#define QUEUE "cccccccc-0000-0000-0000-000000000001"
#define USER_MAILBOX                                                           \
	"{\"emailrouteraccessapproval\":2,\"_regardingobjectid_value\":"       \
	"\"" USER "\",\"_regardingobjectid_value@Microsoft.Dynamics.CRM."      \
	"lookuplogicalname\":\"systemuser\"}"

/* Hand approve the read-back answers; returns the second one's step. */
static enum action_step read_back(struct action_ctx *c, struct row_state *rs,
				  int tag_record, const char *record,
				  int tag_mailbox, const char *mailbox)
{
	cJSON *jr = cJSON_Parse(record), *jm = cJSON_Parse(mailbox);
	struct action_answer ar = {.tag = tag_record,
				   .status = 200,
				   .json = jr,
				   .code = "",
				   .message = ""};
	struct action_answer am = {.tag = tag_mailbox,
				   .status = 200,
				   .json = jm,
				   .code = "",
				   .message = ""};
	enum action_step st;

	/* the first of the two reads: wait for the other */
	assert_int_equal(action_approve.answer(c, rs, &am), ACTION_SENT);
	st = action_approve.answer(c, rs, &ar);
	cJSON_Delete(jr);
	cJSON_Delete(jm);
	return st;
}

/*
 * The real clients approve the user or queue record, emailrouteraccess-
 * approval alone; the service carries it to the mailbox. Both are read
 * back: done only when both say Approved.
 */
static void test_approve_writes_the_user_record_then_reads_both(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;
	struct action_answer ok = {
	    .tag = 0, .status = 204, .code = "", .message = ""};
	int tag_record, tag_mailbox;

	(void)state;
	setup_row(&rs, &row, USER_MAILBOX);
	assert_int_equal(action_approve.plan(&c, &rs), ACTION_SENT);
	assert_string_equal(c.method, "PATCH");
	assert_string_equal(c.url, "systemusers(" USER ")");
	/* the attribute alone, in a request of its own, update only */
	assert_string_equal(c.body, "{\"emailrouteraccessapproval\":1}");
	assert_true(c.flags & ACTION_OP_ALONE);
	assert_true(c.flags & ACTION_OP_IF_MATCH);
	assert_null(c.patch);

	ok.tag = c.tag;
	c.emitted = 0;
	assert_int_equal(action_approve.answer(&c, &rs, &ok), ACTION_SENT);
	assert_int_equal(c.emitted, 2);
	assert_string_equal(c.prev_url, "systemusers(" USER
					")?$select=emailrouteraccessapproval");
	assert_non_null(strstr(c.url, "mailboxes(" MBX ")?$select="));
	assert_non_null(strstr(c.url, "emailrouteraccessapproval"));
	assert_non_null(strstr(c.url, "isemailaddressapprovedbyo365admin"));
	tag_mailbox = c.tag;
	tag_record = tag_mailbox - 1;

	assert_int_equal(
	    read_back(&c, &rs, tag_record, "{\"emailrouteraccessapproval\":1}",
		      tag_mailbox,
		      "{\"emailrouteraccessapproval\":1,"
		      "\"isemailaddressapprovedbyo365admin\":true}"),
	    ACTION_DONE);
	action_approve.release(&rs);
	cJSON_Delete(rs.mailbox);

	/* a queue's mailbox: the queue record */
	memset(&c, 0, sizeof(c));
	setup_row(&rs, &row,
		  "{\"emailrouteraccessapproval\":0,\"_regardingobjectid_"
		  "value\":\"" QUEUE "\",\"_regardingobjectid_value@"
		  "Microsoft.Dynamics.CRM.lookuplogicalname\":\"queue\"}");
	assert_int_equal(action_approve.plan(&c, &rs), ACTION_SENT);
	assert_string_equal(c.url, "queues(" QUEUE ")");
	ok.tag = c.tag;
	assert_int_equal(action_approve.answer(&c, &rs, &ok), ACTION_SENT);
	assert_string_equal(c.prev_url, "queues(" QUEUE
					")?$select=emailrouteraccessapproval");
	action_approve.release(&rs);
	cJSON_Delete(rs.mailbox);
}

/*
 * An application user's approval accepted without effect (Microsoft.Xrm.
 * Data.PowerShell #454; dvsim --variant approve-no-effect): NotApproved,
 * with a hint that approval needs an administrator's own sign-in. The
 * record approved but the mailbox not is no success either.
 */
static void test_approve_accepted_without_effect(void **state)
{
	static const struct {
		const char *record, *mailbox, *msg_has;
	} t[] = {
	    {"{\"emailrouteraccessapproval\":2}",
	     "{\"emailrouteraccessapproval\":2,"
	     "\"isemailaddressapprovedbyo365admin\":false}",
	     "user's email address is still 'Pending Approval'"},
	    {"{\"emailrouteraccessapproval\":1}",
	     "{\"emailrouteraccessapproval\":0}", "mailbox's 'Empty'"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct action_ctx c = {0};
		struct row_state rs;
		struct row row;
		struct action_answer ok = {
		    .tag = 0, .status = 204, .code = "", .message = ""};

		setup_row(&rs, &row, USER_MAILBOX);
		assert_int_equal(action_approve.plan(&c, &rs), ACTION_SENT);
		ok.tag = c.tag;
		assert_int_equal(action_approve.answer(&c, &rs, &ok),
				 ACTION_SENT);
		assert_int_equal(read_back(&c, &rs, c.tag - 1, t[i].record,
					   c.tag, t[i].mailbox),
				 ACTION_FAILED);
		assert_string_equal(c.fail_code, "NotApproved");
		if (!strstr(c.fail_msg, t[i].msg_has))
			fail_msg("'%s' lacks '%s'", c.fail_msg, t[i].msg_has);
		assert_non_null(
		    strstr(c.fail_hint, "an administrator's own sign-in"));
		assert_non_null(strstr(c.fail_hint,
				       "Global or Exchange admin with System "
				       "Administrator"));
		assert_non_null(
		    strstr(c.fail_hint, "Delegated Mailbox Approver"));
		action_approve.release(&rs);
		cJSON_Delete(rs.mailbox);
	}
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
	setup_row(&rs, &row, USER_MAILBOX);
	assert_int_equal(action_approve.plan(&c, &rs), ACTION_SENT);
	assert_int_equal(action_approve.answer(&c, &rs, &no), ACTION_FAILED);
	assert_string_equal(c.fail_code, "0x8009000B");
	assert_non_null(strstr(c.fail_hint, "Delegated Mailbox Approver"));
	action_approve.release(&rs);
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

/* ---- test_enable ---- */

#define PROFILE_ROW                                                            \
	"{\"emailserverprofileid\":\"" PROFILE "\",\"statecode\":0,"           \
	"\"name\":\"Microsoft Exchange Online\",\"servertype\":3}"

/* A mailbox tested before: statuses success, times and count set. */
#define TESTED_BEFORE                                                          \
	"{\"testmailboxaccesscompletedon\":\"2026-11-01T10:00:00Z\","          \
	"\"testandenablelastattemptedon\":\"2026-11-01T09:59:58Z\","           \
	"\"testemailconfigurationretrycount\":3,\"incomingemailstatus\":1,"    \
	"\"outgoingemailstatus\":1,\"actstatus\":1,\"actdeliverymethod\":1,"   \
	"\"_regardingobjectid_value\":\"" USER "\"}"

/* Schedule the test: the flag in the stage's PATCH, then its answer. */
static void te_start(struct action_ctx *c, struct row_state *rs,
		     struct row *row, const char *mailbox)
{
	struct action_answer ok = {
	    .tag = 0, .status = 204, .code = "", .message = ""};
	char *s;

	setup_row(rs, row, mailbox);
	c->now_ms = 1000;
	assert_int_equal(action_test_enable.plan(c, rs), ACTION_SENT);
	s = cJSON_PrintUnformatted(c->patch);
	assert_string_equal(s, "{\"testemailconfigurationscheduled\":true}");
	cJSON_free(s);
	cJSON_Delete(c->patch);
	c->patch = NULL;
	assert_int_equal(action_test_enable.answer(c, rs, &ok), ACTION_WAIT);
}

/* One poll answered with 'json' (the mailbox's test columns). */
static enum action_step te_poll(struct action_ctx *c, struct row_state *rs,
				const char *json)
{
	cJSON *j = cJSON_Parse(json);
	struct action_answer a = {
	    .status = 200, .json = j, .code = "", .message = ""};
	enum action_step st;

	assert_non_null(j);
	c->now_ms += 15000;
	assert_int_equal(action_test_enable.plan(c, rs), ACTION_SENT);
	assert_string_equal(c->method, "GET");
	assert_non_null(strstr(c->url, "mailboxes(" MBX ")?$select="));
	a.tag = c->tag;
	st = action_test_enable.answer(c, rs, &a);
	if (st == ACTION_AGAIN)
		rs->act[ACTION_TEST_ENABLE].step = 2; /* as the engine keeps */
	cJSON_Delete(j);
	return st;
}

static void te_end(struct row_state *rs)
{
	action_test_enable.release(rs);
	cJSON_Delete(rs->mailbox);
	cJSON_Delete(lookup_json);
	lookup_json = NULL;
}

/*
 * --variant te-flag-stays: the flag stays true after the test; the
 * completion time advanced, so the test has finished. Then the profile
 * is read (once per profile) and the alerts since the test.
 */
static void test_te_finished_with_the_flag_still_true(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;
	cJSON *j;

	(void)state;
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":true,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T11:00:05Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"testemailconfigurationretrycount\":4,"
		    "\"incomingemailstatus\":1,\"outgoingemailstatus\":1,"
		    "\"actstatus\":1,\"_emailserverprofile_value\":\"" PROFILE
		    "\"}"),
	    ACTION_AGAIN);

	c.lookup_answer = PROFILE_ROW;
	assert_int_equal(action_test_enable.plan(&c, &rs), ACTION_SENT);
	assert_string_equal(c.lookup_url, "emailserverprofiles(" PROFILE
					  ")?$select=statecode,name,"
					  "servertype");
	assert_non_null(strstr(c.url, "tracelogs?"));
	j = cJSON_Parse("{\"value\":[]}");
	{
		struct action_answer a = {.tag = c.tag,
					  .status = 200,
					  .json = j,
					  .code = "",
					  .message = ""};

		assert_int_equal(action_test_enable.answer(&c, &rs, &a),
				 ACTION_DONE);
	}
	assert_string_equal(rs.status_incoming, "success");
	cJSON_Delete(j);
	te_end(&rs);
}

/*
 * The attempt's stamp is not the end of the test; statuses reset to Not
 * Run and then leaving it are. Once the stamp is known, the poll also
 * asks for alerts written after it.
 */
static void test_te_statuses_leaving_not_run(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;

	(void)state;
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":false,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T10:00:00Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"incomingemailstatus\":0,\"outgoingemailstatus\":0,"
		    "\"actstatus\":0}"),
	    ACTION_WAIT);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":false,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T10:00:00Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"incomingemailstatus\":2,\"outgoingemailstatus\":2,"
		    "\"actstatus\":0}"),
	    ACTION_AGAIN);
	assert_non_null(strstr(c.url, "&$expand=tracelog_Mailbox($select="
				      "modifiedon;$filter=modifiedon%20gt%20"
				      "2026-11-01T11%3A00%3A00Z;$top=1)"));
	te_end(&rs);
}

/*
 * --variant te-status-kept: the old statuses stay until the test ends;
 * neither they nor the flag going back to false say it has finished.
 * A completion older than this attempt is an earlier test's.
 */
static void test_te_old_values_are_not_this_test(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;

	(void)state;
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":false,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T10:00:00Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"testemailconfigurationretrycount\":3,"
		    "\"incomingemailstatus\":1,\"outgoingemailstatus\":1,"
		    "\"actstatus\":1}"),
	    ACTION_WAIT);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":true,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T10:59:59Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"incomingemailstatus\":1,\"outgoingemailstatus\":1,"
		    "\"actstatus\":1}"),
	    ACTION_WAIT);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":true,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T11:00:02Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"incomingemailstatus\":2,\"outgoingemailstatus\":1,"
		    "\"actstatus\":1}"),
	    ACTION_AGAIN);
	te_end(&rs);
}

/* An alert regarding the mailbox written after the attempt: finished. */
static void test_te_new_alert_means_finished(void **state)
{
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;

	(void)state;
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":true,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T10:00:00Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"tracelog_Mailbox\":[]}"),
	    ACTION_WAIT);
	assert_int_equal(
	    te_poll(&c, &rs,
		    "{\"testemailconfigurationscheduled\":true,"
		    "\"testmailboxaccesscompletedon\":\"2026-11-01T10:00:00Z\","
		    "\"testandenablelastattemptedon\":\"2026-11-01T11:00:00Z\","
		    "\"tracelog_Mailbox\":[{\"modifiedon\":"
		    "\"2026-11-01T11:00:09Z\"}]}"),
	    ACTION_AGAIN);
	/* the alerts are then read from the attempt on */
	assert_int_equal(action_test_enable.plan(&c, &rs), ACTION_SENT);
	assert_non_null(strstr(c.url, "modifiedon%20ge%202026-11-01T11%3A00"
				      "%3A00Z"));
	te_end(&rs);
}

static void utc_in(char *out, size_t size, long from_now_s)
{
	time_t t = time(NULL) + from_now_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * --variant te-postponed: a test postponed past test_timeout fails at
 * once as TestPostponed with the date; one postponed within it is waited
 * for; at the deadline a postponement still ahead is TestPostponed too,
 * and none at all TestTimeout.
 */
static void test_te_postponed(void **state)
{
	char until[32], json[512];
	struct action_ctx c = {0};
	struct row_state rs;
	struct row row;

	(void)state;
	utc_in(until, sizeof(until), 2 * 3600);
	snprintf(json, sizeof(json),
		 "{\"testemailconfigurationscheduled\":true,"
		 "\"postponetestemailconfigurationuntil\":\"%s\","
		 "\"incomingemailstatus\":0,\"outgoingemailstatus\":0,"
		 "\"actstatus\":0}",
		 until);
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(te_poll(&c, &rs, json), ACTION_FAILED);
	assert_string_equal(c.fail_code, "TestPostponed");
	assert_non_null(strstr(c.fail_msg, until));
	assert_non_null(strstr(c.fail_hint, until));
	te_end(&rs);

	/* within test_timeout (900 s): wait; at the deadline: postponed */
	memset(&c, 0, sizeof(c));
	utc_in(until, sizeof(until), 120);
	snprintf(json, sizeof(json),
		 "{\"testemailconfigurationscheduled\":true,"
		 "\"postponetestemailconfigurationuntil\":\"%s\"}",
		 until);
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(te_poll(&c, &rs, json), ACTION_WAIT);
	c.now_ms += 900 * 1000;
	assert_int_equal(te_poll(&c, &rs, json), ACTION_FAILED);
	assert_string_equal(c.fail_code, "TestPostponed");
	te_end(&rs);

	/* a postponement in the past, nothing advanced: timeout */
	memset(&c, 0, sizeof(c));
	utc_in(until, sizeof(until), -3600);
	snprintf(json, sizeof(json),
		 "{\"testemailconfigurationscheduled\":true,"
		 "\"postponetestemailconfigurationuntil\":\"%s\"}",
		 until);
	te_start(&c, &rs, &row, TESTED_BEFORE);
	assert_int_equal(te_poll(&c, &rs, json), ACTION_WAIT);
	c.now_ms += 900 * 1000;
	assert_int_equal(te_poll(&c, &rs, json), ACTION_FAILED);
	assert_string_equal(c.fail_code, "TestTimeout");
	te_end(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_approve_writes_the_user_record_then_reads_both),
	    cmocka_unit_test(test_approve_accepted_without_effect),
	    cmocka_unit_test(test_approve_refused_and_unchanged),
	    cmocka_unit_test(test_te_finished_with_the_flag_still_true),
	    cmocka_unit_test(test_te_statuses_leaving_not_run),
	    cmocka_unit_test(test_te_old_values_are_not_this_test),
	    cmocka_unit_test(test_te_new_alert_means_finished),
	    cmocka_unit_test(test_te_postponed),
	    cmocka_unit_test(test_set_profile_reads_state_first),
	    cmocka_unit_test(test_fix_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
