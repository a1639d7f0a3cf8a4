/*
 * test_enable: Test & Enable the mailbox and report what it found.
 *
 * There is no Web API message for Test & Enable: setting
 * testemailconfigurationscheduled = true asks the service to test, which
 * it does asynchronously. So the action
 *   step 0  PATCHes the flag (remembering when, and the mailbox's test
 *           columns as they were before),
 *   step 1  polls the mailbox every poll_interval (a GET per mailbox; the
 *           engine packs the GETs of all mailboxes under test into
 *           $batch requests) until the test has finished, or
 *           test_timeout passes,
 *   step 2  reads the alerts written since it scheduled the test and
 *           explains them (diagnose.h). An alert that recurs for the same
 *           mailbox is not written again: its modifiedon advances, so
 *           the alerts are chosen by modifiedon.
 *
 * When a test has finished is not documented, and whether the flag goes
 * back to false is not either (docs/fidelity.md, "Test & Enable, approval
 * and alerts"): the flag is never waited on. A test has finished when
 * something the test writes has advanced since it was scheduled:
 *   - testmailboxaccesscompletedon changed (and is not older than the
 *     service's stamp of this attempt, testandenablelastattemptedon),
 *   - testemailconfigurationretrycount grew,
 *   - the three statuses left 0 Not Run after being seen there (the
 *     service may reset them when scheduling, or keep the old values
 *     until the end: only a move away from Not Run counts),
 *   - an alert regarding the mailbox was written after the attempt's
 *     stamp (read with the poll, $expand of tracelog_Mailbox).
 * testandenablelastattemptedon itself is "the last test and enable
 * attempt": the attempt, not its end, so it never counts as completion.
 * A test the service postponed (postponetestemailconfigurationuntil in
 * the future) past test_timeout fails as TestPostponed with the date.
 * The three statuses are reported on the row whatever the outcome.
 * This is a request to test, not a state, so it is never "unchanged".
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "act_util.h"
#include "action.h"
#include "diagnose.h"
#include "graph.h"
#include "job.h"
#include "log.h"
#include "odata.h"
#include "plan_show.h"
#include "results.h"

#include "banned.h"

enum { STEP_SCHEDULE, STEP_POLL, STEP_ALERTS };
enum { TAG_SCHEDULE = 1, TAG_POLL, TAG_ALERTS, TAG_DIAGNOSE, TAG_ROLES };

#define STATUS_NOT_RUN 0
#define STATUS_SUCCESS 1
#define STATUS_FAILURE 2

#define POLL_SELECT                                                            \
	"testemailconfigurationscheduled,testmailboxaccesscompletedon,"        \
	"incomingemailstatus,outgoingemailstatus,actstatus,"                   \
	"incomingemaildeliverymethod,outgoingemaildeliverymethod,"             \
	"actdeliverymethod,testemailconfigurationretrycount,"                  \
	"testandenablelastattemptedon,postponetestemailconfigurationuntil,"    \
	"_emailserverprofile_value"

/* The profile's columns the diagnosis reads (one lookup per profile). */
#define PROFILE_SELECT "statecode,name,servertype"

/* Alerts of this test are written around its completion time. */
#define ALERT_WINDOW_S 60

struct test {
	char since[32];	       /* UTC time the test was asked, for the alerts */
	char prev_done[48];    /* testmailboxaccesscompletedon before */
	char done[48];	       /* ... after this test */
	char prev_attempt[48]; /* testandenablelastattemptedon before */
	char attempt[48];      /* ... the service's stamp of this attempt */
	char postponed[48];    /* postponetestemailconfigurationuntil */
	char profile[48];      /* _emailserverprofile_value as polled */
	int prev_count;	       /* testemailconfigurationretrycount before */
	bool not_run_seen;     /* the three statuses seen at Not Run */
	int64_t deadline_ms;
	int status[3]; /* incoming, outgoing, act as last read */
	int in_method, out_method, act_method;
	int profile_state; /* the profile's statecode, 1 unknown */
	int profile_type;  /* its servertype, -1 unknown */
	/* the Exchange side as Microsoft Graph shows it (graph.h) */
	bool gdone;	/* checked, or nothing to check */
	bool gchecked;	/* Graph answered for the user */
	char gcode[40]; /* the verified cause, "" when none */
	char gdetail[640];
	int gtype; /* the profile type the check assumed */
	/* a PrivilegeDenied failure waiting for the user's role names */
	char code[64];
	char msg[512];
	char hint[DIAG_HINT_MAX];
};

static struct test *test_of(struct row_state *rs)
{
	struct test *t = rs->priv[ACTION_TEST_ENABLE];

	if (!t) {
		t = xcalloc(1, sizeof(*t));
		rs->priv[ACTION_TEST_ENABLE] = t;
	}
	return t;
}

static void release(struct row_state *rs)
{
	free(rs->priv[ACTION_TEST_ENABLE]);
	rs->priv[ACTION_TEST_ENABLE] = NULL;
}

static void timing(struct action_ctx *c, long *timeout_s, long *poll_s)
{
	const struct job *j = action_job(c);

	*timeout_s = j && j->test_timeout > 0 ? j->test_timeout : 900;
	*poll_s = j && j->poll_interval > 0 ? j->poll_interval : 15;
}

static void read_statuses(struct test *t, const cJSON *m)
{
	t->status[0] = actu_int(m, "incomingemailstatus", -1);
	t->status[1] = actu_int(m, "outgoingemailstatus", -1);
	t->status[2] = actu_int(m, "actstatus", -1);
	t->in_method = actu_int(m, "incomingemaildeliverymethod", -1);
	t->out_method = actu_int(m, "outgoingemaildeliverymethod", -1);
	t->act_method = actu_int(m, "actdeliverymethod", t->act_method);
}

static void report_statuses(struct row_state *rs, const struct test *t)
{
	char *cells[3] = {rs->status_incoming, rs->status_outgoing,
			  rs->status_act};

	for (int i = 0; i < 3; i++) {
		const char *s = t->status[i] >= 0
				    ? results_status_name(t->status[i])
				    : NULL;

		snprintf(cells[i], sizeof(rs->status_incoming), "%s",
			 s ? s : "");
	}
}

static enum action_step schedule(struct action_ctx *c, struct row_state *rs,
				 struct test *t)
{
	const char *prev =
	    actu_str(rs->mailbox, "testmailboxaccesscompletedon");
	const char *attempt =
	    actu_str(rs->mailbox, "testandenablelastattemptedon");
	time_t now = time(NULL);
	struct tm tm;
	long timeout_s, poll_s;

	timing(c, &timeout_s, &poll_s);
	gmtime_r(&now, &tm);
	strftime(t->since, sizeof(t->since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(t->prev_done, sizeof(t->prev_done), "%s", prev ? prev : "");
	snprintf(t->prev_attempt, sizeof(t->prev_attempt), "%s",
		 attempt ? attempt : "");
	t->attempt[0] = t->postponed[0] = t->profile[0] = '\0';
	t->profile_type = -1;
	t->prev_count =
	    actu_int(rs->mailbox, "testemailconfigurationretrycount", -1);
	t->not_run_seen =
	    actu_int(rs->mailbox, "incomingemailstatus", 0) == 0 &&
	    actu_int(rs->mailbox, "outgoingemailstatus", 0) == 0 &&
	    actu_int(rs->mailbox, "actstatus", 0) == 0;
	t->act_method = actu_int(rs->mailbox, "actdeliverymethod", -1);
	if (rs->row->delivery[ROWS_ACTDELIVERY] != ROWS_UNSET &&
	    (rs->asked & (1u << ACTION_SET_DELIVERY)))
		t->act_method = rs->row->delivery[ROWS_ACTDELIVERY];
	t->deadline_ms = action_now_ms(c) + timeout_s * 1000;
	action_patch_mailbox(c, "testemailconfigurationscheduled",
			     cJSON_CreateTrue());
	return ACTION_SENT;
}

/*
 * The poll: the mailbox's test columns and, once the service's stamp of
 * this attempt is known, whether an alert regarding the mailbox was
 * written after it.
 */
static void emit_poll(struct action_ctx *c, struct row_state *rs,
		      const struct test *t)
{
	struct buf url = BUF_INIT(BUF_MAX_SMALL);

	buf_addf(&url, "mailboxes(%s)?$select=" POLL_SELECT, rs->mailbox_id);
	if (*t->attempt) {
		char expr[96];

		snprintf(expr, sizeof(expr), "modifiedon gt %s", t->attempt);
		buf_addstr(&url, "&$expand=tracelog_Mailbox($select="
				 "modifiedon;$filter=");
		odata_url_encode(&url, expr, strlen(expr));
		buf_addstr(&url, ";$top=1)");
	}
	action_emit(c, "GET", url.ptr, NULL, NULL, TAG_POLL, 0);
	buf_release(&url);
}

/* "2026-11-20T23:22:04Z" (fractions ignored) -> seconds; -1 if not. */
static time_t parse_utc(const char *s)
{
	struct tm tm = {0};

	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
			 &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/*
 * Which alerts belong to this test: those modified since shortly before
 * the service says the test completed, and after the previous test
 * completed. Both times are the server's, so a skewed local clock does
 * not matter; without them, the local time the test was asked.
 */
static void alerts_since(const struct test *t, char *out, size_t size)
{
	time_t done = parse_utc(t->done), prev = parse_utc(t->prev_done);
	time_t since;
	struct tm tm;

	if (done < 0) { /* finished by what else advanced */
		snprintf(out, size, "%s", *t->attempt ? t->attempt : t->since);
		return;
	}
	since = done - ALERT_WINDOW_S;
	if (prev >= 0 && since <= prev)
		since = prev + 1;
	if (since > done)
		since = done;
	gmtime_r(&since, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void emit_alerts(struct action_ctx *c, struct row_state *rs,
			const struct test *t)
{
	struct buf expr = BUF_INIT(BUF_MAX_SMALL),
		   url = BUF_INIT(BUF_MAX_SMALL);
	char since[48];

	alerts_since(t, since, sizeof(since));
	buf_addf(&expr, "_regardingobjectid_value eq %s and modifiedon ge %s",
		 rs->mailbox_id, since);
	actu_query(&url, "tracelogs",
		   "level,text,errortypedisplay,errordetails,modifiedon",
		   expr.ptr);
	buf_addstr(&url, "&$orderby=modifiedon%20desc");
	action_emit(c, "GET", url.ptr, NULL, NULL, TAG_ALERTS, 0);
	buf_release(&expr);
	buf_release(&url);
}

static bool read_profile(struct action_ctx *c, struct test *t, const char *pid);

/* The placeholder diagnose.h's PrivilegeDenied hint has for the role. */
#define ROLE_PLACEHOLDER "<the user's role>"

/*
 * Fail the row with 'd'. For PrivilegeDenied the hint should name the
 * role to grant to: read the user's roles first (TAG_ROLES), then fail.
 */
static enum action_step conclude(struct action_ctx *c, struct row_state *rs,
				 struct test *t, const struct diag *d,
				 const char *msg)
{
	const char *user = actu_str(rs->mailbox, "_regardingobjectid_value");
	char url[256];

	if (d->kind != DIAG_PRIVILEGE_DENIED || !user ||
	    !strstr(d->hint, ROLE_PLACEHOLDER)) {
		action_fail(c, rs, d->code, msg, d->hint);
		return ACTION_FAILED;
	}
	snprintf(t->code, sizeof(t->code), "%s", d->code);
	snprintf(t->msg, sizeof(t->msg), "%s", msg);
	snprintf(t->hint, sizeof(t->hint), "%s", d->hint);
	snprintf(url, sizeof(url),
		 "systemusers(%s)/systemuserroles_association?$select=name,"
		 "roleid",
		 user);
	action_emit(c, "GET", url, NULL, NULL, TAG_ROLES, 0);
	return ACTION_SENT;
}

/* Put the user's role name(s) into the saved hint, and fail the row. */
static enum action_step conclude_roles(struct action_ctx *c,
				       struct row_state *rs, struct test *t,
				       const cJSON *json)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(json, "value"), *it;
	struct buf names = BUF_INIT(DIAG_HINT_MAX), hint = BUF_INIT(4096);
	const char *at = strstr(t->hint, ROLE_PLACEHOLDER);
	int n = 0;

	cJSON_ArrayForEach(it, arr)
	{
		const char *name = actu_str(it, "name");

		if (!name)
			continue;
		if (n == 1)
			buf_addstr(&names,
				   " (or another of the user's roles: ");
		buf_addf(&names, "%s%s", n > 1 ? ", " : "", name);
		n++;
	}
	if (n > 1)
		buf_addch(&names, ')');
	if (at && n) {
		buf_add(&hint, t->hint, (size_t)(at - t->hint));
		buf_addstr(&hint, names.ptr);
		buf_addstr(&hint, at + strlen(ROLE_PLACEHOLDER));
	} else {
		buf_addstr(&hint, t->hint);
	}
	action_fail(c, rs, t->code, t->msg, hint.ptr);
	buf_release(&names);
	buf_release(&hint);
	return ACTION_FAILED;
}

/* How long a row waits before it asks the Graph client again. */
#define GRAPH_POLL_MS 50

/*
 * The Exchange side of the mailbox, verified in Microsoft Graph when the
 * job asks for it (exchange_checks, graph.h): the Dataverse user's object
 * id and UPN (a cached lookup), then the Entra user. Returns true while
 * it waits (plan() returns ACTION_WAIT); t->gcode holds the cause found.
 */
static bool exchange_check(struct action_ctx *c, struct row_state *rs,
			   struct test *t, int profile_type)
{
	struct graph *g = graph_current();
	const char *kind =
	    actu_str(rs->mailbox, "_regardingobjectid_value@Microsoft.Dynamics."
				  "CRM.lookuplogicalname");
	const char *uid = actu_str(rs->mailbox, "_regardingobjectid_value");
	struct graph_subject s;
	const cJSON *u, *user = NULL;
	const char *why = NULL;
	bool pending = false;
	char url[160];

	if (!g || t->gdone)
		return false;
	if (!uid || (kind && strcmp(kind, "systemuser"))) {
		t->gdone = true; /* a queue has no Entra user */
		return false;
	}
	snprintf(url, sizeof(url),
		 "systemusers(%s)?$select=azureactivedirectoryobjectid,"
		 "domainname",
		 uid);
	u = action_lookup(c, url, &pending, NULL);
	if (!u && pending)
		return true;
	s.objectid = actu_str(u, "azureactivedirectoryobjectid");
	s.upn = actu_str(u, "domainname");
	s.address = actu_str(rs->mailbox, "emailaddress");
	s.profile_type = profile_type;
	switch (graph_user(g, s.upn, &user, &why)) {
	case GRAPH_PENDING:
		rs->act[ACTION_TEST_ENABLE].wake_ms =
		    action_now_ms(c) + GRAPH_POLL_MS;
		return true;
	case GRAPH_FOUND:
	case GRAPH_NOT_FOUND:
		t->gchecked = true;
		snprintf(t->gcode, sizeof(t->gcode), "%s",
			 graph_cause_code(graph_judge(&s, user, graph_tenant(g),
						      t->gdetail,
						      sizeof(t->gdetail))));
		break;
	case GRAPH_FAILED:
		log_warn("row %lu: %s", rs->lineno, why);
		break;
	case GRAPH_OFF:
		break;
	}
	t->gdone = true;
	return false;
}

/*
 * Put the verified cause into a diagnosis: it replaces a 401 (the
 * generic text) and stands for a mailbox nothing else is wrong with;
 * beside another problem it is added to the hint. 'msg' gets Graph's
 * finding. Graph finding nothing leaves what the 401 leaves
 * (diagnose_exchange_clear()).
 */
static void apply_exchange(const struct test *t, struct diag *d, char *msg,
			   size_t size, int profile_type)
{
	bool generic =
	    d->kind == DIAG_NONE || d->kind == DIAG_UNAUTHORIZED ||
	    d->kind == DIAG_UNAUTH_HYBRID || d->kind == DIAG_UNAUTH_ADDRESS ||
	    d->kind == DIAG_UNAUTH_RECREATED || d->kind == DIAG_OTHER;
	size_t len;

	if (!*t->gcode) {
		if (t->gchecked)
			diagnose_exchange_clear(d, profile_type);
		return;
	}
	if (generic) {
		diagnose_exchange(t->gcode, d);
		len = strlen(msg);
		snprintf(msg + len, size - len, "%sMicrosoft Graph: %s",
			 len ? "; " : "", t->gdetail);
		return;
	}
	len = strlen(d->hint);
	snprintf(d->hint + len, sizeof(d->hint) - len,
		 "; Microsoft Graph also shows %s: %s", t->gcode, t->gdetail);
}

/*
 * Before the test: a mailbox Graph shows cannot pass is not tested
 * (run.test_when_unfixable = skip); the row says why. Returns true when
 * the test was skipped.
 */
static bool skip_hopeless(struct action_ctx *c, struct row_state *rs,
			  const struct test *t)
{
	const struct job *j = action_job(c);
	struct diag d;
	char msg[800];

	if (!*t->gcode || (j && j->test_when_unfixable))
		return false;
	if (!diagnose_exchange(t->gcode, &d))
		return false;
	snprintf(msg, sizeof(msg),
		 "Test & Enable not run: it cannot pass; Microsoft Graph: %s",
		 t->gdetail);
	rs->act[ACTION_TEST_ENABLE].status = ACTION_ST_SKIPPED;
	action_fail(c, rs, d.code, msg, d.hint);
	return true;
}

/*
 * The profile the mailbox will have when it is tested: the row's (set by
 * set_profile in an earlier stage) or its own. Returns true while a
 * lookup is pending; *type is -1 when unknown.
 */
static bool profile_at_test(struct action_ctx *c, struct row_state *rs,
			    struct test *t, int *type)
{
	const char *pid = actu_str(rs->mailbox, "_emailserverprofile_value");

	*type = -1;
	if ((rs->asked & (1u << ACTION_SET_PROFILE)) &&
	    rs->act[ACTION_SET_PROFILE].status != ACTION_ST_FAILED) {
		const cJSON *p = NULL;

		switch (actu_profile(c, rs, rs->row->profile, &p)) {
		case ACTU_WAIT:
			return true;
		case ACTU_FAILED:
			return false;
		case ACTU_FOUND:
			*type = actu_int(p, "servertype", -1);
			return false;
		}
	}
	if (pid && read_profile(c, t, pid))
		return true;
	*type = pid ? t->profile_type : -1;
	return false;
}

/*
 * `mbxfix diagnose`: explain what the mailbox's columns and the alerts of
 * its last test say, without testing. The profile's state comes from a
 * cached lookup (one per profile for the whole run).
 */
/*
 * The alerts of a tracelogs answer, borrowed from 'json'; free() the
 * array. 'msg' gets the first warning or error with its details (which
 * say the cause, e.g. of a 401), or stays as it was.
 */
static struct diag_alert *read_alerts(const cJSON *json, size_t *n, char *msg,
				      size_t size)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(json, "value");
	const cJSON *it;
	struct diag_alert *alerts;

	alerts = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(*alerts));
	*n = 0;
	cJSON_ArrayForEach(it, arr)
	{
		struct diag_alert *a = &alerts[(*n)++];

		a->level = actu_int(it, "level", 3);
		a->text = actu_str(it, "text");
		a->errortype = actu_str(it, "errortypedisplay");
		a->details = actu_str(it, "errordetails");
		if (!*msg && a->level >= 2 && a->text)
			snprintf(msg, size, "%s%s%s", a->text,
				 a->details ? " " : "",
				 a->details ? a->details : "");
	}
	return alerts;
}

/*
 * The state and type of profile 'pid', from a lookup cached for the whole
 * run. Returns true while the lookup is pending (plan() waits); a profile
 * that cannot be read counts as missing.
 */
static bool read_profile(struct action_ctx *c, struct test *t, const char *pid)
{
	char url[160];
	bool pending = false;
	const cJSON *j;

	snprintf(url, sizeof(url), "emailserverprofiles(%s)?$select=%s", pid,
		 PROFILE_SELECT);
	j = action_lookup(c, url, &pending, NULL);
	if (!j && pending)
		return true;
	t->profile_state = j ? actu_int(j, "statecode", 1) : 1;
	t->profile_type = j ? actu_int(j, "servertype", -1) : -1;
	return false;
}

static enum action_step diagnose_plan(struct action_ctx *c,
				      struct row_state *rs)
{
	const char *pid = actu_str(rs->mailbox, "_emailserverprofile_value");
	const char *done =
	    actu_str(rs->mailbox, "testmailboxaccesscompletedon");
	struct test *t = test_of(rs);
	struct buf expr = BUF_INIT(BUF_MAX_SMALL),
		   url = BUF_INIT(BUF_MAX_SMALL);

	t->act_method = -1;
	t->profile_type = -1;
	if (pid && read_profile(c, t, pid))
		return ACTION_WAIT;
	if (exchange_check(c, rs, t, pid ? t->profile_type : -1))
		return ACTION_WAIT;
	buf_addf(&expr, "_regardingobjectid_value eq %s", rs->mailbox_id);
	if (done)
		buf_addf(&expr, " and modifiedon ge %s", done);
	actu_query(&url, "tracelogs",
		   "level,text,errortypedisplay,errordetails,modifiedon",
		   expr.ptr);
	buf_addstr(&url, "&$orderby=modifiedon%20desc");
	action_emit(c, "GET", url.ptr, NULL, NULL, TAG_DIAGNOSE, 0);
	buf_release(&expr);
	buf_release(&url);
	return ACTION_SENT;
}

static enum action_step diagnose_answer(struct action_ctx *c,
					struct row_state *rs, const cJSON *json)
{
	const cJSON *mb = rs->mailbox;
	const char *pid = actu_str(mb, "_emailserverprofile_value");
	const char *kind =
	    actu_str(mb, "_regardingobjectid_value@Microsoft.Dynamics.CRM."
			 "lookuplogicalname");
	struct test *t = test_of(rs);
	struct diag_alert *alerts;
	struct diag_mailbox m;
	struct diag d;
	char msg[512] = "";
	size_t n = 0;
	enum action_step st = ACTION_UNCHANGED;

	t->status[0] = actu_int(mb, "incomingemailstatus", -1);
	t->status[1] = actu_int(mb, "outgoingemailstatus", -1);
	t->status[2] = actu_int(mb, "actstatus", -1);
	report_statuses(rs, t);

	diagnose_mailbox_init(&m);
	m.statecode = actu_int(mb, "statecode", -1);
	m.approval = actu_int(mb, "emailrouteraccessapproval", -1);
	m.incoming_status = t->status[0];
	m.outgoing_status = t->status[1];
	m.act_status = t->status[2];
	m.incoming_method = actu_int(mb, "incomingemaildeliverymethod", -1);
	m.outgoing_method = actu_int(mb, "outgoingemaildeliverymethod", -1);
	m.is_queue = kind && strcmp(kind, "systemuser");
	/* queues synchronise email only: their ACT setting is no fault */
	m.act_method = m.is_queue ? -1 : actu_int(mb, "actdeliverymethod", -1);
	m.has_profile = pid != NULL;
	m.profile_active = pid && t->profile_state == 0;
	m.profile_type = pid ? t->profile_type : -1;
	m.owner_is_user =
	    actu_guid_eq(actu_str(mb, "_ownerid_value"),
			 actu_str(mb, "_regardingobjectid_value"));

	alerts = read_alerts(json, &n, msg, sizeof(msg));
	diagnose_mailbox(&m, alerts, n, &d);
	apply_exchange(t, &d, msg, sizeof(msg), m.profile_type);
	if (d.kind != DIAG_NONE) {
		if (!*msg)
			snprintf(msg, sizeof(msg), "%s", d.code);
		st = conclude(c, rs, t, &d, msg);
	}
	free(alerts);
	return st;
}

/*
 * run.retest (job.h): a mailbox whose three statuses are Success (ACT
 * counts only where it is on Server-Side Synchronization) is not tested
 * again under "unhealthy", nor under "changed" when no other action of
 * its row changes anything in this run. Its statuses are reported.
 */
static bool no_retest(struct action_ctx *c, struct row_state *rs,
		      struct test *t)
{
	const struct job *j = action_job(c);
	const cJSON *mb = rs->mailbox;
	int act_method = actu_int(mb, "actdeliverymethod", -1);

	if (!j || j->retest == JOB_RETEST_ALWAYS)
		return false;
	t->status[0] = actu_int(mb, "incomingemailstatus", -1);
	t->status[1] = actu_int(mb, "outgoingemailstatus", -1);
	t->status[2] = actu_int(mb, "actstatus", -1);
	if (t->status[0] != STATUS_SUCCESS || t->status[1] != STATUS_SUCCESS ||
	    !(t->status[2] == STATUS_SUCCESS ||
	      (act_method != 1 && act_method != -1 &&
	       t->status[2] != STATUS_FAILURE)))
		return false;
	if (j->retest == JOB_RETEST_CHANGED)
		for (int i = 0; i < ACTION_COUNT; i++)
			if (i != ACTION_TEST_ENABLE &&
			    (rs->act[i].status == ACTION_ST_DONE ||
			     rs->act[i].status == ACTION_ST_WOULD))
				return false;
	report_statuses(rs, t);
	return true;
}

/* "incoming Success, outgoing Failure, ACT Not Run" from the mailbox. */
static void statuses_text(const cJSON *mb, struct buf *out)
{
	buf_addf(out, "incoming %s, outgoing %s, ACT %s",
		 show_status(actu_int(mb, "incomingemailstatus", -1)),
		 show_status(actu_int(mb, "outgoingemailstatus", -1)),
		 show_status(actu_int(mb, "actstatus", -1)));
}

/* Causes Test & Enable meets again whatever the run changes in Dataverse. */
static bool outside_dataverse(enum diag_kind k)
{
	return k == DIAG_UNAUTHORIZED || k == DIAG_UNAUTH_ADDRESS ||
	       k == DIAG_UNAUTH_RECREATED || k == DIAG_IMPERSONATION ||
	       k == DIAG_DISABLED;
}

/*
 * plan: the last test's statuses, and what a new test would give where
 * the mailbox's latest alerts say it fails for a reason outside Dataverse
 * (diagnose.h). True while the alerts' lookup is pending.
 */
static bool show_test(struct action_ctx *c, struct row_state *rs,
		      struct test *t)
{
	const char *pid = actu_str(rs->mailbox, "_emailserverprofile_value");
	const cJSON *mb = rs->mailbox, *json;
	const char *done = actu_str(mb, "testmailboxaccesscompletedon");
	struct buf now = BUF_INIT(BUF_MAX_SMALL), then = BUF_INIT(4096),
		   expr = BUF_INIT(BUF_MAX_SMALL),
		   url = BUF_INIT(BUF_MAX_SMALL);
	bool failed =
	    actu_int(mb, "incomingemailstatus", -1) == STATUS_FAILURE ||
	    actu_int(mb, "outgoingemailstatus", -1) == STATUS_FAILURE ||
	    actu_int(mb, "actstatus", -1) == STATUS_FAILURE;
	bool pending = false;

	statuses_text(mb, &now);
	buf_addstr(&then, "tested");
	t->profile_type = -1;
	if (failed && pid && read_profile(c, t, pid))
		pending = true;
	if (failed && !pending) {
		buf_addf(&expr, "_regardingobjectid_value eq %s",
			 rs->mailbox_id);
		if (done)
			buf_addf(&expr, " and modifiedon ge %s", done);
		actu_query(
		    &url, "tracelogs",
		    "level,text,errortypedisplay,errordetails,modifiedon",
		    expr.ptr);
		buf_addstr(&url, "&$orderby=modifiedon%20desc");
		json = action_lookup(c, url.ptr, &pending, NULL);
		if (json) {
			struct diag_mailbox m;
			struct diag d;
			struct diag_alert *alerts;
			char msg[512] = "";
			size_t n = 0;

			diagnose_mailbox_init(&m);
			m.profile_type = pid ? t->profile_type : -1;
			alerts = read_alerts(json, &n, msg, sizeof(msg));
			if (diagnose_mailbox(&m, alerts, n, &d) != DIAG_NONE &&
			    outside_dataverse(d.kind)) {
				buf_reset(&then);
				buf_addf(&then,
					 "fails again: %s (nothing this job "
					 "writes fixes it: "
					 "%s)",
					 d.code, d.hint);
			}
			free(alerts);
		}
	}
	if (!pending)
		show_set(rs, ACTION_TEST_ENABLE, now.ptr, then.ptr);
	buf_release(&now);
	buf_release(&then);
	buf_release(&expr);
	buf_release(&url);
	return pending;
}

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	struct test *t = test_of(rs);

	if (action_readonly(c) && actu_diagnosing())
		return diagnose_plan(c, rs);

	switch (rs->act[ACTION_TEST_ENABLE].step) {
	case STEP_SCHEDULE:
		if (no_retest(c, rs, t)) {
			if (action_readonly(c)) {
				struct buf now = BUF_INIT(BUF_MAX_SMALL);

				statuses_text(rs->mailbox, &now);
				show_set(rs, ACTION_TEST_ENABLE, now.ptr,
					 now.ptr);
				buf_release(&now);
			}
			return ACTION_UNCHANGED;
		}
		if (action_readonly(c) && show_test(c, rs, t))
			return ACTION_WAIT;
		if (graph_current() && !t->gdone) {
			int type;

			if (profile_at_test(c, rs, t, &type) ||
			    exchange_check(c, rs, t, type))
				return ACTION_WAIT;
			t->gtype = type;
		}
		if (skip_hopeless(c, rs, t))
			return ACTION_FAILED;
		return schedule(c, rs, t);
	case STEP_POLL:
		emit_poll(c, rs, t);
		return ACTION_SENT;
	default:
		/* a 401 is narrowed by the profile's type (diagnose.h) */
		if (*t->profile && read_profile(c, t, t->profile))
			return ACTION_WAIT;
		emit_alerts(c, rs, t);
		return ACTION_SENT;
	}
}

/* Compare two "...Z" times: -1, 0 or 1; -2 when either does not parse. */
static int utc_cmp(const char *a, const char *b)
{
	time_t ta = parse_utc(a), tb = parse_utc(b);

	if (ta < 0 || tb < 0)
		return -2;
	return ta < tb ? -1 : ta > tb;
}

/*
 * Whether the test asked at step 0 has finished, from what the poll 'm'
 * shows advanced (see the top of this file). Also notes the service's
 * stamp of the attempt and whether the statuses were seen at Not Run.
 */
static bool completed(struct test *t, const cJSON *m)
{
	const char *done = actu_str(m, "testmailboxaccesscompletedon");
	const char *attempt = actu_str(m, "testandenablelastattemptedon");
	const cJSON *alerts =
	    cJSON_GetObjectItemCaseSensitive(m, "tracelog_Mailbox");
	int count = actu_int(m, "testemailconfigurationretrycount", -1);
	bool all_not_run =
	    t->status[0] <= 0 && t->status[1] <= 0 && t->status[2] <= 0;

	if (attempt && strcmp(attempt, t->prev_attempt) &&
	    utc_cmp(attempt, t->prev_attempt) != -1)
		snprintf(t->attempt, sizeof(t->attempt), "%s", attempt);
	if (done && strcmp(done, t->prev_done) &&
	    !(*t->attempt && utc_cmp(done, t->attempt) == -1))
		return true;
	/* same second as the previous test: the run count tells */
	if (count >= 0 && t->prev_count >= 0 && count > t->prev_count)
		return true;
	if (cJSON_GetArraySize(alerts) > 0)
		return true;
	if (all_not_run) {
		t->not_run_seen = true;
		return false;
	}
	return t->not_run_seen;
}

/* ACT counts only where it is configured for Server-Side Sync (value 1). */
static bool all_success(const struct test *t)
{
	bool act_ok = t->status[2] == STATUS_SUCCESS ||
		      (t->act_method != 1 && t->status[2] != STATUS_FAILURE);

	return t->status[0] == STATUS_SUCCESS &&
	       t->status[1] == STATUS_SUCCESS && act_ok;
}

static enum action_step explain(struct action_ctx *c, struct row_state *rs,
				struct test *t, const cJSON *json)
{
	struct diag_alert *alerts;
	struct diag_mailbox m;
	struct diag d;
	size_t n = 0;
	char msg[512] = "";
	enum action_step st;

	report_statuses(rs, t);
	alerts = read_alerts(json, &n, msg, sizeof(msg));
	if (all_success(t)) {
		st = ACTION_DONE;
		goto out;
	}
	diagnose_mailbox_init(&m);
	m.incoming_status = t->status[0];
	m.outgoing_status = t->status[1];
	m.act_status = t->status[2];
	m.incoming_method = t->in_method;
	m.outgoing_method = t->out_method;
	m.profile_type = *t->profile ? t->profile_type : -1;
	/* ACT off is a choice, not a fault, unless nothing was tested */
	if (t->status[0] != STATUS_NOT_RUN || t->status[1] != STATUS_NOT_RUN)
		m.act_method = -1;
	else
		m.act_method = t->act_method;
	if (diagnose_mailbox(&m, alerts, n, &d) == DIAG_NONE)
		diagnose_mailbox(&m, NULL, 0, &d);
	/* the generic 401 becomes the cause Graph verified */
	apply_exchange(t, &d, msg, sizeof(msg),
		       m.profile_type >= 0 ? m.profile_type : t->gtype);
	if (!*msg)
		snprintf(msg, sizeof(msg),
			 "Test & Enable: incoming %s, outgoing %s, ACT %s",
			 rs->status_incoming, rs->status_outgoing,
			 rs->status_act);
	if (!*d.code)
		d.code = "TestFailed";
	st = conclude(c, rs, t, &d, msg);
out:
	free(alerts);
	return st;
}

/* What the poll says besides completion: the profile, a postponement. */
static void read_poll(struct test *t, const cJSON *m)
{
	const char *pid = actu_str(m, "_emailserverprofile_value");
	const char *until = actu_str(m, "postponetestemailconfigurationuntil");

	snprintf(t->profile, sizeof(t->profile), "%s", pid ? pid : "");
	snprintf(t->postponed, sizeof(t->postponed), "%s", until ? until : "");
}

/*
 * The service postponed the test (postponetestemailconfigurationuntil in
 * the future) to a time after test_timeout runs out: no poll can see it
 * finish, so the row fails now rather than at the deadline.
 */
static bool postponed_past_deadline(struct action_ctx *c, const struct test *t)
{
	time_t until = parse_utc(t->postponed), now = time(NULL);
	int64_t left_ms = t->deadline_ms - action_now_ms(c);

	if (until < 0 || until <= now)
		return false;
	return left_ms <= 0 || (int64_t)(until - now) * 1000 > left_ms;
}

static enum action_step fail_postponed(struct action_ctx *c,
				       struct row_state *rs,
				       const struct test *t, long timeout_s)
{
	char msg[200], hint[320];

	report_statuses(rs, t);
	snprintf(msg, sizeof(msg),
		 "the service postponed Test & Enable until %s, after "
		 "run.test_timeout (%ld s) runs out",
		 t->postponed, timeout_s);
	snprintf(hint, sizeof(hint),
		 "the service tests this mailbox at %s at the earliest "
		 "(postponetestemailconfigurationuntil): run test_enable "
		 "again after that time, or raise run.test_timeout beyond it",
		 t->postponed);
	action_fail(c, rs, "TestPostponed", msg, hint);
	return ACTION_FAILED;
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	struct test *t = test_of(rs);
	struct action_state *as = &rs->act[ACTION_TEST_ENABLE];
	long timeout_s, poll_s;

	if (a->tag == TAG_ROLES) /* unreadable roles: the hint stays general */
		return conclude_roles(c, rs, t,
				      a->status < 300 ? a->json : NULL);
	if (a->status < 200 || a->status >= 300)
		return actu_fail_write(c, rs, a, "test_enable");
	if (a->tag == TAG_DIAGNOSE)
		return diagnose_answer(c, rs, a->json);
	timing(c, &timeout_s, &poll_s);
	switch (as->step) {
	case STEP_SCHEDULE:
		as->step = STEP_POLL;
		as->wake_ms = action_now_ms(c) + poll_s * 1000;
		return ACTION_WAIT;
	case STEP_POLL:
		read_statuses(t, a->json);
		read_poll(t, a->json);
		if (completed(t, a->json)) {
			const char *done =
			    actu_str(a->json, "testmailboxaccesscompletedon");

			/* unchanged: finished by what else advanced */
			snprintf(t->done, sizeof(t->done), "%s",
				 done && strcmp(done, t->prev_done) ? done
								    : "");
			as->step = STEP_ALERTS;
			return ACTION_AGAIN;
		}
		if (postponed_past_deadline(c, t))
			return fail_postponed(c, rs, t, timeout_s);
		if (action_now_ms(c) >= t->deadline_ms) {
			char msg[160];

			report_statuses(rs, t);
			snprintf(msg, sizeof(msg),
				 "Test & Enable did not finish within %ld s",
				 timeout_s);
			action_fail(c, rs, "TestTimeout", msg,
				    "run test_enable again later or raise "
				    "run.test_timeout");
			return ACTION_FAILED;
		}
		as->wake_ms = action_now_ms(c) + poll_s * 1000;
		return ACTION_WAIT;
	default:
		return explain(c, rs, t, a->json);
	}
}

const struct action action_test_enable = {
    .name = "test_enable",
    .id = ACTION_TEST_ENABLE,
    .stage = 4,
    .columns = "testmailboxaccesscompletedon,incomingemailstatus,"
	       "outgoingemailstatus,actstatus,actdeliverymethod,"
	       "testandenablelastattemptedon,testemailconfigurationretrycount",
    .plan = plan,
    .answer = answer,
    .release = release,
};
