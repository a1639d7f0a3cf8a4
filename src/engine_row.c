/*
 * engine_row.c: the row state machine.
 *
 * A row's actions run in stages (fix_owner, then set_profile and
 * set_delivery in one PATCH, grant_privileges, approve, test_enable);
 * advance() moves a row through them: each action's plan() decides what
 * to read or write, apply_step() takes its verdict, and a failed action
 * skips the ones after it. finish_row() turns the row's state into its
 * result (results_add()) and frees it. The loop that calls advance() is
 * in engine.c; the operations the actions emit go out through
 * engine_ops.c (docs/architecture.md).
 */
#include "compat.h"

#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "action.h"
#include "engine.h"
#include "engine_int.h"
#include "log.h"
#include "plan_show.h"
#include "preflight.h"
#include "runlog.h"

#include "banned.h"

void row_free(struct engine *en, struct eng_row *row)
{
	for (int i = 0; i < ACTION_COUNT; i++) {
		const struct action *a = action_get(i);

		if (a && a->release && row->rs.priv[i])
			a->release(&row->rs);
	}
	if (row->timers > 0)
		sched_timer_cancel(&en->sched, row);
	if (row->in_order)
		order_del(en, row);
	if (row->prev_all)
		row->prev_all->next_all = row->next_all;
	else
		en->all = row->next_all;
	if (row->next_all)
		row->next_all->prev_all = row->prev_all;
	cJSON_Delete(row->rs.mailbox);
	cJSON_Delete(row->patch);
	rows_row_free(row->rs.row);
	free(row->rs.error_message);
	free(row->rs.hint);
	show_release(&row->rs);
	free(row);
	en->in_flight_rows--;
}

static const struct action *stage_action(int id, int stage)
{
	const struct action *a = action_get(id);

	return a && a->stage == stage ? a : NULL;
}

/* The stage an action runs in, also when it is not built in. */
static int action_stage(int id)
{
	static const int stages[ACTION_COUNT] = {
	    [ACTION_FIX_OWNER] = 0,    [ACTION_SET_PROFILE] = 1,
	    [ACTION_SET_DELIVERY] = 1, [ACTION_GRANT_PRIVILEGES] = 2,
	    [ACTION_APPROVE] = 3,      [ACTION_TEST_ENABLE] = 4,
	};
	const struct action *a = action_get(id);

	return a ? a->stage : stages[id];
}

/* Longest message and hint kept for a row's result (bytes). */
#define ERROR_MAX 511
#define HINT_MAX 1023

static void set_error(struct row_state *rs, const char *code,
		      const char *message, const char *hint)
{
	if (rs->error_code[0] || rs->error_message)
		return; /* the first failure of a row is the one reported */
	snprintf(rs->error_code, sizeof(rs->error_code), "%s",
		 code ? code : "");
	rs->error_message = xstrndup(message ? message : "", ERROR_MAX);
	free(rs->hint);
	rs->hint = xstrndup(hint ? hint : "", HINT_MAX);
	/* server text may quote a secret or a token: log.h */
	log_scrub(rs->error_message);
	log_scrub(rs->hint);
}

void action_hint(struct row_state *rs, const char *hint)
{
	if (!rs->hint) {
		rs->hint = xstrndup(hint, HINT_MAX);
		log_scrub(rs->hint);
	}
}

/* Mark action 'id' failed and skip what cannot run any more. */
static void fail_action(struct engine *en, struct eng_row *row, int id)
{
	struct row_state *rs = &row->rs;

	(void)en;
	/* an action may report itself skipped (a test that cannot pass) */
	if (rs->act[id].status != ACTION_ST_SKIPPED)
		rs->act[id].status = ACTION_ST_FAILED;
	if (!rs->error_code[0] && !rs->error_message)
		set_error(rs, "Failed", "the action failed", NULL);
	row->failed = true;
	for (int i = 0; i < ACTION_COUNT; i++) {
		if (i == id || rs->act[i].status != ACTION_ST_PENDING)
			continue;
		if (rs->act[i].outstanding > 0)
			continue; /* its answer will still be reported */
		rs->act[i].status = ACTION_ST_SKIPPED;
	}
}

/*
 * A row that could not be resolved: its first action (in run order) fails
 * with the reason, the others are skipped.
 */
void fail_row(struct engine *en, struct eng_row *row, const char *code,
	      const char *message, const char *hint)
{
	int first = -1;

	set_error(&row->rs, code, message, hint);
	for (int stage = 0; stage < ACTION_STAGES && first < 0; stage++)
		for (int i = 0; i < ACTION_COUNT && first < 0; i++)
			if (action_stage(i) == stage &&
			    row->rs.act[i].status == ACTION_ST_PENDING)
				first = i;
	for (int i = 0; i < ACTION_COUNT; i++)
		if (row->rs.act[i].status == ACTION_ST_PENDING)
			row->rs.act[i].status =
			    i == first ? ACTION_ST_FAILED : ACTION_ST_SKIPPED;
	row->failed = true;
	row->known = true;
	make_ready(en, row);
}

/*
 * A row whose names preflight could not resolve: action 'id' fails with
 * the reason, every other action of the row is skipped, nothing is sent.
 */
void fail_row_preflight(struct engine *en, struct eng_row *row,
			const struct preflight_failure *f)
{
	set_error(&row->rs, f->code, f->message, f->hint);
	for (int i = 0; i < ACTION_COUNT; i++)
		if (row->rs.act[i].status == ACTION_ST_PENDING)
			row->rs.act[i].status = i == (int)f->action
						    ? ACTION_ST_FAILED
						    : ACTION_ST_SKIPPED;
	row->failed = true;
	make_ready(en, row);
}

static enum results_state result_state(enum action_status s)
{
	switch (s) {
	case ACTION_ST_NONE:
		return RESULTS_EMPTY;
	case ACTION_ST_DONE:
		return RESULTS_DONE;
	case ACTION_ST_WOULD:
		return RESULTS_WOULD;
	case ACTION_ST_UNCHANGED:
		return RESULTS_UNCHANGED;
	case ACTION_ST_SKIPPED:
		return RESULTS_SKIPPED;
	default:
		return RESULTS_FAILED_ACT;
	}
}

static int status_value(const char *name)
{
	for (int v = 0; v <= 2; v++)
		if (*name && !strcmp(name, results_status_name(v)))
			return v;
	return RESULTS_STATUS_UNKNOWN;
}

/*
 * run.log events (the schema: mbxfix(1), RUN LOG).
 */
/* A row whose result is not ok. */
void log_row(struct engine *en, const struct row *row, const char *result,
	     const char *action, const char *code, const char *message)
{
	struct runlog_line l;

	if (!runlog_begin(en->log, &l, LOG_ERROR, "row"))
		return;
	runlog_int(&l, "row", (long long)row->num);
	runlog_str(&l, "mailbox", row->mailbox);
	runlog_str(&l, "result", result);
	runlog_str(&l, "action", action);
	runlog_str(&l, "error_code", code && *code ? code : NULL);
	runlog_str(&l, "message", message);
	runlog_end(&l);
}
static int finish_row(struct engine *en, struct eng_row *row)
{
	struct row_state *rs = &row->rs;
	struct results_row rr;
	bool failed = row->failed;
	int rc;

	results_row_init(&rr);
	for (int i = 0; i < ACTION_COUNT; i++) {
		if (rs->act[i].status == ACTION_ST_PENDING) {
			rs->act[i].status = ACTION_ST_FAILED;
			failed = true;
		}
		if (rs->act[i].status == ACTION_ST_FAILED)
			failed = true;
		rr.action[i] = result_state(rs->act[i].status);
		rr.now[i] = rs->now[i];
		rr.then[i] = rs->then[i];
	}
	rr.result = failed ? RESULTS_FAILED : RESULTS_OK;
	if (failed && !rs->error_code[0] && !rs->error_message)
		set_error(rs, "Failed", "the row did not complete", NULL);
	rr.error_code = rs->error_code;
	rr.error_message = rs->error_message ? rs->error_message : "";
	rr.hint = rs->hint ? rs->hint : "";
	rr.attempts = rs->attempts;
	rr.status[ROWS_INCOMING] = status_value(rs->status_incoming);
	rr.status[ROWS_OUTGOING] = status_value(rs->status_outgoing);
	rr.status[ROWS_ACTDELIVERY] = status_value(rs->status_act);
	rr.mailbox_id = rs->mailbox_id;
	row->finished = true;
	if (failed) {
		const char *action = NULL;

		for (int i = 0; i < ACTION_COUNT && !action; i++)
			if (rs->act[i].status == ACTION_ST_FAILED)
				action = action_name((enum action_id)i);
		en->st.rows_failed++;
		log_row(en, rs->row, "failed", action, rs->error_code,
			rr.error_message);
	}
	en->st.rows_done++;
	rc = results_add(en->res, rs->row, &rr, en->err);
	row_free(en, row);
	return rc;
}

void action_fail(struct action_ctx *c, struct row_state *rs, const char *code,
		 const char *message, const char *hint)
{
	(void)c;
	set_error(rs, code, message, hint);
}

enum action_step action_fail_answer(struct action_ctx *c, struct row_state *rs,
				    const struct action_answer *a,
				    const char *hint)
{
	char code[32];

	if (a->code && *a->code) {
		action_fail(c, rs, a->code, a->message, hint);
	} else {
		snprintf(code, sizeof(code), "HTTP %ld", a->status);
		action_fail(c, rs, code,
			    a->message && *a->message ? a->message
						      : "the service refused",
			    hint);
	}
	return ACTION_FAILED;
}

/*
 * Planning: walk a row's stages.
 */
static void wake_at(struct engine *en, struct eng_row *row, int64_t at)
{
	row->timers++;
	sched_timer_add(&en->sched, at, row);
}

/* Apply what plan() or answer() returned for action 'id'. */
void apply_step(struct engine *en, struct eng_row *row, int id,
		enum action_step step, bool from_plan)
{
	struct action_state *st = &row->rs.act[id];

	switch (step) {
	case ACTION_UNCHANGED:
		st->status = ACTION_ST_UNCHANGED;
		break;
	case ACTION_SENT:
		if (st->outstanding == 0 && row->would & (1u << id))
			st->status = ACTION_ST_WOULD;
		break;
	case ACTION_WAIT:
		if (st->outstanding == 0 && st->wake_ms > en->now)
			wake_at(en, row, st->wake_ms);
		break;
	case ACTION_AGAIN:
		break;
	case ACTION_DONE:
		st->status = ACTION_ST_DONE;
		break;
	case ACTION_FAILED:
		fail_action(en, row, id);
		break;
	}
	(void)from_plan;
}

static bool stage_pending(const struct eng_row *row, int stage)
{
	for (int i = 0; i < ACTION_COUNT; i++)
		if (action_stage(i) == stage &&
		    row->rs.act[i].status == ACTION_ST_PENDING)
			return true;
	return false;
}

static bool row_busy(const struct eng_row *row)
{
	for (int i = 0; i < ACTION_COUNT; i++)
		if (row->rs.act[i].outstanding > 0)
			return true;
	/* a failed row's timers are cancelled when it is freed */
	return row->timers > 0 && !row->failed;
}

/*
 * Should the stage's PATCH wait? Yes while an action of the stage that
 * has not added to it yet is still waiting (a lookup, a timer), so that
 * set_profile and set_delivery go in one PATCH.
 */
static bool patch_waits(const struct eng_row *row, const struct action_ctx *c)
{
	for (int i = 0; i < ACTION_COUNT; i++) {
		const struct action_state *st = &row->rs.act[i];

		if (action_stage(i) != row->rs.stage ||
		    c->contributed & (1u << i) ||
		    st->status != ACTION_ST_PENDING)
			continue;
		if (st->outstanding > 0 || st->wake_ms > c->en->now)
			return true;
	}
	return false;
}

/* A row whose mailbox an earlier row has: invalid, nothing done. */
static int finish_duplicate(struct engine *en, struct eng_row *row)
{
	struct row *in = row->rs.row;
	struct results_row rr;
	struct buf b = BUF_INIT(BUF_MAX_SMALL);
	int rc;

	buf_addf(&b, "column 'mailbox': same mailbox as row %zu (mailboxid %s)",
		 row->duplicate, row->rs.mailbox_id);
	results_row_invalid(&rr, in);
	rr.error_message = b.ptr;
	row->finished = true;
	en->st.rows_invalid++;
	en->st.rows_done++;
	rc = results_add(en->res, in, &rr, en->err);
	buf_release(&b);
	row_free(en, row);
	return rc;
}

int advance(struct engine *en, struct eng_row *row)
{
	struct row_state *rs = &row->rs;

	if (row->duplicate)
		return finish_duplicate(en, row);
	if (row->failed)
		return row_busy(row) ? 0 : finish_row(en, row);
	if (!row->resolved)
		return 0;
	while (rs->stage < ACTION_STAGES) {
		/* a PATCH held while another action of the stage waited */
		struct action_ctx c = {.en = en,
				       .row = row,
				       .patch = row->patch,
				       .contributed = row->contributed};
		int loops = 0;

		row->patch = NULL;
		row->contributed = 0;

		for (int id = 0; id < ACTION_COUNT && !row->failed; id++) {
			struct action_state *st = &rs->act[id];
			const struct action *a;
			enum action_step step;

			if (action_stage(id) != rs->stage ||
			    st->status != ACTION_ST_PENDING ||
			    (c.contributed & (1u << id)) ||
			    st->outstanding > 0 ||
			    (st->wake_ms && st->wake_ms > en->now))
				continue;
			a = stage_action(id, rs->stage);
			if (!a) {
				char msg[128];

				snprintf(msg, sizeof(msg),
					 "action '%s' is not available in "
					 "this build",
					 action_name(id));
				set_error(rs, "NotImplemented", msg, NULL);
				fail_action(en, row, id);
				break;
			}
			st->wake_ms = 0;
			c.cur = id;
			step = a->plan(&c, rs);
			apply_step(en, row, id, step, true);
			if (step == ACTION_AGAIN && ++loops < 100)
				id--; /* plan it again at once */
		}
		if (c.patch && !row->failed && patch_waits(row, &c)) {
			/* one PATCH per stage: wait for the others' lookups */
			row->patch = c.patch;
			row->contributed = c.contributed;
			return 0;
		}
		if (c.patch && !row->failed) {
			if (en->readonly) {
				for (int i = 0; i < ACTION_COUNT; i++)
					if (c.contributed & (1u << i) &&
					    rs->act[i].status ==
						ACTION_ST_PENDING &&
					    !rs->act[i].outstanding)
						rs->act[i].status =
						    ACTION_ST_WOULD;
				cJSON_Delete(c.patch);
			} else {
				struct buf url = BUF_INIT(BUF_MAX_SMALL);
				struct op *op;

				buf_addstr(&url, "mailboxes(");
				buf_addstr(&url, rs->mailbox_id);
				buf_addch(&url, ')');
				op = op_new(OP_PATCH, "PATCH", url.ptr,
					    print_body(c.patch));
				buf_release(&url);
				op->flags = ACTION_OP_IF_MATCH;
				op->row = row;
				op->contributors = c.contributed;
				for (int i = 0; i < ACTION_COUNT; i++)
					if (c.contributed & (1u << i))
						rs->act[i].outstanding++;
				enqueue(en, op);
			}
		} else {
			cJSON_Delete(c.patch);
		}
		if (row->failed)
			break;
		if (stage_pending(row, rs->stage))
			return 0;
		rs->stage++;
	}
	if (row_busy(row))
		return 0;
	return finish_row(en, row);
}
