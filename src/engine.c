/*
 * engine.c: the run loop and the row state machine.
 *
 * Rows enter a bounded window (take_rows()), walk their actions' stages
 * (advance()) and leave it with their results (finish_row()); the loop
 * (loop_once()) runs timers, ready rows, the transfers and the progress
 * line, and stops on a signal. Resolution lives in engine_resolve.c, the
 * operations in flight in engine_ops.c (engine_int.h).
 *
 * About 1,300 lines: the row state machine (advance() and the stages),
 * the window, the loop and the connection probe (engine_connect()) share
 * the row and engine state; the probe could move out, and will if this
 * file grows.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "action.h"
#include "plan_show.h"
#include "batch.h"
#include "engine.h"
#include "engine_int.h"
#include "log.h"
#include "odata.h"
#include "preflight.h"
#include "progress.h"
#include "retry.h"
#include "runlog.h"
#include "sched.h"

#include "banned.h"

int64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void add_waiter(struct waiter **w, size_t *n, size_t *a, struct eng_row *row,
		int action, int tag)
{
	if (*n == *a) {
		*a = *a ? 2 * *a : 4;
		*w = xrealloc(*w, *a * sizeof(**w));
	}
	(*w)[*n].row = row;
	(*w)[*n].action = action;
	(*w)[*n].tag = tag;
	(*n)++;
}

static void lookup_free(void *p)
{
	struct lookup *l = p;

	free(l->url);
	cJSON_Delete(l->json);
	free(l->error);
	free(l->w);
	free(l);
}

static void no_free(void *p)
{
	(void)p;
}

static void shared_free(void *p)
{
	struct shared *s = p;

	free(s->key);
	free(s->body);
	free(s->w);
	free(s);
}

/*
 * Operations and queues.
 */
struct op *op_new(enum op_kind kind, const char *method, const char *url,
		  char *body)
{
	struct op *op = xcalloc(1, sizeof(*op));

	op->ti = TI_OP;
	op->kind = kind;
	op->method = xstrdup(method);
	op->url = xstrdup(url);
	op->body = body;
	return op;
}

void op_free(struct op *op)
{
	if (!op)
		return;
	free(op->method);
	free(op->url);
	free(op->body);
	free(op->group);
	free(op->if_match);
	op_free(op->target);
	free(op);
}

void enqueue(struct engine *en, struct op *op)
{
	struct queue *q = !strcmp(op->method, "GET") ? &en->reads : &en->writes;

	op->next = NULL;
	if (q->tail)
		q->tail->next = op;
	else
		q->head = op;
	q->tail = op;
	q->n++;
}

struct op *dequeue(struct queue *q)
{
	struct op *op = q->head;

	if (!op)
		return NULL;
	q->head = op->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	op->next = NULL;
	return op;
}

/*
 * Rows.
 */
void make_ready(struct engine *en, struct eng_row *row)
{
	if (row->ready || row->finished)
		return;
	row->ready = true;
	row->next_ready = NULL;
	if (en->ready_tail)
		en->ready_tail->next_ready = row;
	else
		en->ready_head = row;
	en->ready_tail = row;
}

void order_del(struct engine *en, struct eng_row *row)
{
	if (row->prev_order)
		row->prev_order->next_order = row->next_order;
	else
		en->order_head = row->next_order;
	if (row->next_order)
		row->next_order->prev_order = row->prev_order;
	else
		en->order_tail = row->prev_order;
	row->prev_order = row->next_order = NULL;
	row->in_order = false;
}

static void row_free(struct engine *en, struct eng_row *row)
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
static void fail_row_preflight(struct engine *en, struct eng_row *row,
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
static void log_row(struct engine *en, const struct row *row,
		    const char *result, const char *action, const char *code,
		    const char *message)
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

static int advance(struct engine *en, struct eng_row *row)
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

/*
 * The loop.
 */
static int take_rows(struct engine *en)
{
	/*
	 * Only rows in flight count: a completed row is in the journal at
	 * once, so one row waiting on a retry holds back no other.
	 */
	if (!sched_refill(en->in_flight_rows, ENGINE_WINDOW, ENGINE_REFILL))
		return 0;
	while (!en->eof && en->in_flight_rows < ENGINE_WINDOW &&
	       !(en->res && results_broken(en->res))) {
		struct row *row;
		struct eng_row *er;

		if (rows_next(en->rows, &row, en->err) < 0)
			return -1;
		if (!row) {
			en->eof = true;
			break;
		}
		if (en->res ? results_row_done(en->res, row->num)
			    : row->num <= en->skip_rows) {
			rows_row_free(row);
			continue;
		}
		if (!row->valid) {
			struct results_row rr;
			int rc;

			results_row_invalid(&rr, row);
			en->st.rows_invalid++;
			log_row(en, row, "invalid", NULL, rr.error_code,
				rr.error_message);
			en->st.rows_done++;
			rc = results_add(en->res, row, &rr, en->err);
			rows_row_free(row);
			if (rc < 0)
				return -1;
			continue;
		}
		er = xcalloc(1, sizeof(*er));
		er->ti = TI_ROW;
		er->rs.row = row;
		er->rs.lineno = row->num;
		er->rs.asked = row->actions;
		for (int i = 0; i < ACTION_COUNT; i++)
			if (row->actions & ROWS_ACT(i))
				er->rs.act[i].status = ACTION_ST_PENDING;
		er->next_all = en->all;
		if (en->all)
			en->all->prev_all = er;
		en->all = er;
		en->in_flight_rows++;
		{
			struct preflight_failure f;

			if (en->pf && preflight_row(en->pf, row, &f)) {
				fail_row_preflight(en, er, &f);
				continue;
			}
		}
		er->prev_order = en->order_tail;
		if (en->order_tail)
			en->order_tail->next_order = er;
		else
			en->order_head = er;
		en->order_tail = er;
		er->in_order = true;
		want_resolve(en, er);
	}
	return 0;
}

static void run_timers(struct engine *en)
{
	void *item;

	while ((item = sched_timer_pop(&en->sched, en->now))) {
		if (*(enum titem *)item == TI_OP) {
			enqueue(en, item);
		} else {
			struct eng_row *row = item;

			row->timers--;
			make_ready(en, row);
		}
	}
}

static int run_ready(struct engine *en)
{
	while (en->deliveries) {
		struct delivery *d = en->deliveries;

		en->deliveries = d->next;
		deliver_shared(en, d->sh, &d->w);
		free(d);
	}
	while (en->ready_head) {
		struct eng_row *row = en->ready_head;

		en->ready_head = row->next_ready;
		if (!en->ready_head)
			en->ready_tail = NULL;
		row->ready = false;
		if (advance(en, row) < 0)
			return -1;
	}
	return 0;
}

static bool idle_transport(const struct engine *en)
{
	return en->http.in_flight == 0 && !en->reads.head && !en->writes.head;
}

/*
 * What the run is mostly doing: held by Retry-After, else what most rows
 * in flight wait for (their mailbox, their writes, Test & Enable).
 */
static void engine_phase(const struct engine *en, struct progress_counts *pc)
{
	size_t resolving = 0, writing = 0, testing = 0;

	if (sched_gated(&en->sched, en->now)) {
		pc->phase = PROGRESS_WAITING;
		pc->wait_s = (long)((en->sched.gate_ms - en->now + 999) / 1000);
		return;
	}
	for (const struct eng_row *r = en->all; r; r = r->next_all) {
		const struct row_state *rs = &r->rs;
		bool other = false;

		if (r->finished || r->failed)
			continue;
		if (!r->resolved) {
			resolving++;
			continue;
		}
		for (int i = 0; i < ACTION_COUNT; i++)
			if (i != ACTION_TEST_ENABLE &&
			    rs->act[i].status == ACTION_ST_PENDING)
				other = true;
		if (other)
			writing++;
		else if (rs->act[ACTION_TEST_ENABLE].status ==
			 ACTION_ST_PENDING)
			testing++;
	}
	pc->testing = testing;
	if (resolving && resolving >= writing)
		pc->phase = PROGRESS_RESOLVING;
	else if (writing)
		pc->phase = PROGRESS_WRITING;
	else if (testing)
		pc->phase = PROGRESS_TESTING;
	else if (en->eof)
		pc->phase = PROGRESS_FINISHING;
	else
		pc->phase = PROGRESS_STARTING;
}

/*
 * A "phase" event when what the run mostly does has changed and stayed so
 * for two samples ENGINE_PHASE_MS apart (rows move between phases all the
 * time; a flicker is not worth a line).
 */
static void log_phase(struct engine *en)
{
	struct progress_counts pc = {0};
	struct runlog_line l;

	if (!runlog_wants(en->log, LOG_INFO) ||
	    en->now - en->phase_at < ENGINE_PHASE_MS)
		return;
	en->phase_at = en->now;
	engine_phase(en, &pc);
	if ((int)pc.phase != en->phase_seen) {
		en->phase_seen = (int)pc.phase;
		return;
	}
	if ((int)pc.phase == en->phase_logged ||
	    !runlog_begin(en->log, &l, LOG_INFO, "phase"))
		return;
	en->phase_logged = (int)pc.phase;
	runlog_str(&l, "phase", progress_phase_name(pc.phase));
	runlog_int(&l, "rows_done", (long long)en->st.rows_done);
	if (pc.phase == PROGRESS_TESTING)
		runlog_int(&l, "mailboxes", (long long)pc.testing);
	if (pc.phase == PROGRESS_WAITING)
		runlog_int(&l, "wait_s", pc.wait_s);
	runlog_end(&l);
}

static void progress_now(struct engine *en, bool final)
{
	struct progress_counts pc = {
	    .done = en->st.rows_done,
	    .total = en->total_rows,
	    .failed = en->st.rows_failed + en->st.rows_invalid,
	    .retries = en->st.retries,
	    .throttled = en->st.throttled_waits,
	};

	if (!en->progress || !en->progress->enabled ||
	    (!final && !progress_due(en->progress, en->now)))
		return;
	engine_phase(en, &pc);
	progress_update(en->progress, en->now, &pc, final);
}

int loop_once(struct engine *en, long cap_ms)
{
	long wait;
	struct request *r;
	bool gated;

	en->now = clock_ms();
	gated = sched_gated(&en->sched, en->now);
	if (gated && !en->gate_start)
		en->gate_start = en->now;
	if (!gated && en->gate_start) {
		log_throttle_wait(en, (double)(en->now - en->gate_start) / 1e3,
				  "run");
		en->gate_start = 0;
	}
	if (auth_should_request(&en->auth, en->now) && start_token(en) < 0)
		return -1;
	run_timers(en);
	if (run_ready(en) < 0)
		return -1;
	if (en->eof && en->in_flight_rows == 0 && idle_transport(en))
		return 0; /* nothing left to wait for */
	if ((en->eof || en->in_flight_rows >= ENGINE_WINDOW ||
	     idle_transport(en)) &&
	    !en->ready_head) {
		flush_group(en, false);
		flush_group(en, true);
	}
	while ((en->reads.head || en->writes.head) &&
	       (!auth_enabled(&en->auth) || auth_header(&en->auth, en->now)) &&
	       sched_can_send(&en->sched, en->now))
		if (send_batch(en) < 0)
			return -1;
	wait = en->ready_head || en->deliveries
		   ? 0
		   : sched_wait_ms(&en->sched, en->now, cap_ms);
	if (auth_enabled(&en->auth) && !en->auth.in_flight &&
	    en->auth.retry_ms > en->now && en->auth.retry_ms - en->now < wait)
		wait = (long)(en->auth.retry_ms - en->now);
	if (http_poll(&en->http, wait, en->err) < 0)
		return -1;
	en->now = clock_ms();
	while ((r = http_next_done(&en->http)))
		if (handle_done(en, r) < 0) {
			/* finish collecting so nothing is left in flight */
			while ((r = http_next_done(&en->http))) {
				struct flight *f = r->owner;

				for (size_t i = 0; i < f->n; i++)
					op_free(f->ops[i]);
				flight_free(f);
				request_free(r);
			}
			return -1;
		}
	return 0;
}

static bool stopping(const struct engine *en)
{
	return (en->stop && *en->stop) || http_interrupted();
}

/*
 * A write that may have been applied when the run stopped: its outcome
 * goes in the journal as 0 (no answer, docs/journal.md) and run.log names
 * it for its rows. Rows in flight have no row record, so --resume runs
 * them again, and every action reads the current state before it
 * writes: the write is verified there.
 */
static void note_unknown(struct engine *en, struct op *op, bool in_flight)
{
	struct results_event ev = {.level = "warn",
				   .error_code = "UnknownFate"};
	struct buf msg = BUF_INIT(BUF_MAX_SMALL);

	if (op->kind == OP_VERIFY)
		op = op->target;
	if (!op || !strcmp(op->method, "GET") || (!in_flight && !op->unknown))
		return;
	if (in_flight)
		journal_outcome(en, op, 0); /* 0: no answer, fate unknown */
	buf_addf(&msg,
		 "interrupted with %s %s unanswered: whether it was applied "
		 "is unknown; --resume reads it back before writing",
		 op->method, op->url);
	ev.message = msg.ptr;
	log_warn("%s", msg.ptr);
	if (op->kind == OP_SHARED) {
		for (size_t i = 0; i < op->shared->nw; i++) {
			ev.row = op->shared->w[i].row->rs.row->num;
			results_log(en->res, &ev, NULL);
		}
	} else if (op->row) {
		ev.row = op->row->rs.row->num;
		ev.action = op->kind == OP_ROW ? action_name(op->action) : NULL;
		results_log(en->res, &ev, NULL);
	}
	buf_release(&msg);
}

/*
 * Stop now: end every transfer in flight and note the writes whose fate
 * that leaves unknown (note_unknown()).
 */
static void stop_transfers(struct engine *en)
{
	struct request *r;
	void *item;

	http_abort_all(&en->http);
	while ((r = http_next_done(&en->http))) {
		struct flight *f = r->owner;

		for (size_t i = 0; i < f->n; i++) {
			if (en->res)
				note_unknown(en, f->ops[i], true);
			op_free(f->ops[i]);
		}
		flight_free(f);
		request_free(r);
	}
	for (struct op *op = en->reads.head; en->res && op; op = op->next)
		note_unknown(en, op, false);
	for (struct op *op = en->writes.head; en->res && op; op = op->next)
		note_unknown(en, op, false);
	while ((item = sched_timer_pop(&en->sched, INT64_MAX))) {
		if (*(enum titem *)item != TI_OP) {
			((struct eng_row *)item)->timers--;
			continue;
		}
		if (en->res)
			note_unknown(en, item, false);
		op_free(item);
	}
}

static void drain(struct engine *en)
{
	/* stop every transfer still running; the run is over */
	struct request *r;

	if (http_interrupted())
		http_abort_all(&en->http);
	while (en->http.in_flight > 0) {
		if (http_poll(&en->http, 100, NULL) < 0)
			break;
		while ((r = http_next_done(&en->http))) {
			struct flight *f = r->owner;

			for (size_t i = 0; i < f->n; i++)
				op_free(f->ops[i]);
			flight_free(f);
			request_free(r);
		}
	}
}

int engine_new(struct engine **out, const struct engine_setup *s, struct err *e)
{
	struct engine *en = xcalloc(1, sizeof(*en));
	struct http_opts ho = {0};
	struct buf b = BUF_INIT(BUF_MAX_SMALL);
	struct retry_policy p = RETRY_POLICY_INIT;

	*out = NULL;
	en->job = s->job;
	en->readonly = s->readonly;
	en->rows = s->rows;
	en->progress = s->progress;
	en->total_rows = s->total_rows;
	en->skip_rows = s->skip_rows;
	en->stop = s->stop;
	en->log = s->log;
	en->thr_ra_s = -1;
	en->phase_seen = en->phase_logged = -1;
	en->batch_size = s->job->batch_size;
	p.max_attempts = s->job->max_attempts;
	en->policy = p;
	ho.ca_file = s->job->ca_file;
	ho.timeout_ms = (long)s->job->request_timeout * 1000;
	ho.connect_timeout_ms = ho.timeout_ms < ENGINE_CONNECT_TIMEOUT_MS
				    ? ho.timeout_ms
				    : ENGINE_CONNECT_TIMEOUT_MS;
	if (http_init(&en->http, &ho, e) < 0) {
		free(en);
		return -1;
	}
	if (auth_init(&en->auth, s->job, e) < 0) {
		http_release(&en->http);
		free(en);
		return -1;
	}
	sched_init(&en->sched, s->job->parallel, 0);
	sched_batch_init(&en->sched, s->job->batch_size, ho.timeout_ms);
	{
		/* the URL may carry a path (a proxy prefix, dvsim scenarios) */
		const char *host = strstr(s->job->url, "://");
		const char *path = host ? strchr(host + 3, '/') : NULL;

		buf_addf(&b, "%s/api/data/v%s/", path ? path : "",
			 s->job->api_version);
	}
	en->api_path = buf_detach(&b, NULL);
	buf_addf(&b, "%s/api/data/v%s/", s->job->url, s->job->api_version);
	en->api_root = buf_detach(&b, NULL);
	buf_addf(&b, "%s$batch", en->api_root);
	en->batch_url = buf_detach(&b, NULL);
	*out = en;
	return 0;
}

void engine_free(struct engine *en)
{
	struct op *op;

	if (!en)
		return;
	drain(en);
	while ((op = dequeue(&en->reads)))
		op_free(op);
	while ((op = dequeue(&en->writes)))
		op_free(op);
	{
		void *item;

		while ((item = sched_timer_pop(&en->sched, INT64_MAX)))
			if (*(enum titem *)item == TI_OP)
				op_free(item);
	}
	while (en->deliveries) {
		struct delivery *d = en->deliveries;

		en->deliveries = d->next;
		free(d);
	}
	while (en->all)
		row_free(en, en->all);
	table_release(&en->lookups, lookup_free);
	table_release(&en->claimed, no_free);
	table_release(&en->shares, shared_free);
	sched_release(&en->sched);
	auth_release(&en->auth);
	http_release(&en->http);
	free(en->api_path);
	free(en->api_root);
	free(en->batch_url);
	free(en);
}

void engine_set_rows(struct engine *en, struct rows *rows, size_t total_rows,
		     struct progress *progress)
{
	en->rows = rows;
	en->total_rows = total_rows;
	en->progress = progress;
}

const struct engine_stats *engine_stats(const struct engine *en)
{
	return &en->st;
}

/* Run one request to completion (nothing else in flight). */
static struct request *call(struct engine *en, struct request *r, struct err *e)
{
	struct request *done = NULL;

	if (http_start(&en->http, r, en->now, e) < 0) {
		request_free(r);
		return NULL;
	}
	en->st.requests++;
	while (!done) {
		if (stopping(en))
			http_abort_all(&en->http);
		else if (http_poll(&en->http, 1000, e) < 0)
			break;
		done = http_next_done(&en->http);
	}
	en->now = clock_ms();
	if (done && stopping(en)) {
		request_free(done);
		err_set(e, ERR_INTERNAL, "interrupted before the run began");
		return NULL;
	}
	return done;
}

int engine_connect(struct engine *en, struct err *e)
{
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	int tries = 0, rc = -1;
	bool reauthed = false;

	en->err = e;
	en->now = clock_ms();
sign_in:
	while (auth_enabled(&en->auth) && !auth_header(&en->auth, en->now)) {
		struct request *r = auth_request(&en->auth, en->now, e);
		int ar;

		if (!r)
			goto out;
		r = call(en, r, e);
		if (!r)
			goto out;
		ar = auth_finish(&en->auth, r, en->now, e);
		request_free(r);
		if (ar < 0)
			goto out;
		if (ar == 0)
			log_token(en, !en->token_gen++);
		if (ar > 0) {
			if (++tries > 4)
				goto out_unreached;
			http_poll(&en->http,
				  (long)(en->auth.retry_ms - en->now), NULL);
			en->now = clock_ms();
			if (stopping(en)) {
				err_set(e, ERR_INTERNAL,
					"interrupted before the run began");
				goto out;
			}
		}
	}
	buf_reset(&url);
	buf_addf(&url, "%smailboxes?$select=mailboxid&$top=1", en->api_root);
	for (tries = 0;; tries++) {
		struct request *r = request_new("GET", url.ptr);
		int64_t wait_from;
		bool throttled;
		long ra;

		common_headers(en, r);
		r = call(en, r, e);
		if (!r)
			goto out;
		if (r->result != CURLE_OK) {
			/* a reset is worth another try; no listener is not */
			if (r->result == CURLE_COULDNT_CONNECT ||
			    !retry_is_transient(0, (int)r->result) ||
			    tries + 1 >= en->policy.max_attempts) {
				if (r->result == CURLE_OPERATION_TIMEDOUT)
					err_set(e, ERR_NETWORK,
						"cannot reach '%s': no answer "
						"within %d s "
						"(run.request_timeout), %d "
						"attempts",
						en->api_root,
						en->job->request_timeout,
						tries + 1);
				else
					err_set(e, ERR_NETWORK,
						"cannot reach '%s': %s",
						en->api_root, r->error);
				request_free(r);
				goto out;
			}
			log_info("probe request failed: %s; trying again",
				 r->error);
			request_free(r);
			http_poll(&en->http, 200L << tries, NULL);
			en->now = clock_ms();
			if (stopping(en)) {
				err_set(e, ERR_INTERNAL,
					"interrupted before the run began");
				goto out;
			}
			continue;
		}
		en->ever_answered = true;
		if (r->status == 200) {
			sched_sent(&en->sched);
			sched_done(&en->sched, en->now, 200, -1, r->dop_hint);
			sched_batch_probe(&en->sched, 1,
					  (long)(en->now - r->started_ms));
			request_free(r);
			break;
		}
		if (r->status == 401 && auth_enabled(&en->auth) && !reauthed) {
			/* a token revoked since it was issued: once more */
			reauthed = true;
			request_free(r);
			auth_invalidate(&en->auth);
			en->token_refused = true;
			goto sign_in;
		}
		if (r->status == 401 || r->status == 403) {
			struct odata_error oe;

			odata_parse_error(&oe, r->response.ptr,
					  r->response.len);
			err_set(e, ERR_AUTH,
				"the Web API at '%s' refused the sign-in "
				"(HTTP %ld)%s%s",
				en->api_root, r->status,
				*oe.message ? ": " : "", oe.message);
			request_free(r);
			goto out;
		}
		ra = parse_retry_after(r->retry_after);
		if (!retry_is_transient(r->status, 0) ||
		    tries + 1 >= en->policy.max_attempts) {
			err_set(e, ERR_PROTOCOL,
				"the Web API at '%s' answered HTTP %ld",
				en->api_root, r->status);
			request_free(r);
			goto out;
		}
		throttled = r->status == 429;
		if (throttled) {
			en->st.throttled++;
			note_throttle(en, r->response.ptr, r->response.len, ra);
		}
		{
			/* the probe is sent again: a retry too */
			struct odata_error oe;
			char cause[64];

			if (odata_parse_error(&oe, r->response.ptr,
					      r->response.len) == 0)
				snprintf(cause, sizeof(cause), "%s", oe.code);
			else
				snprintf(cause, sizeof(cause), "HTTP %ld",
					 r->status);
			en->st.retries++;
			log_retry(en, "GET", url.ptr, tries + 1, cause,
				  r->status, ra >= 0 ? ra * 1000 : 1000, 0);
		}
		request_free(r);
		/* honour Retry-After before the first real request */
		wait_from = en->now;
		http_poll(&en->http, ra >= 0 ? ra * 1000 : 1000, NULL);
		en->now = clock_ms();
		if (throttled)
			log_throttle_wait(
			    en, (double)(en->now - wait_from) / 1e3, "probe");
		if (stopping(en)) {
			err_set(e, ERR_INTERNAL,
				"interrupted before the run began");
			goto out;
		}
	}
	rc = 0;
	goto out;
out_unreached:
	err_set(e, ERR_NETWORK, "cannot get a token from '%s'",
		en->auth.token_url);
out:
	buf_release(&url);
	return rc;
}

/* -v: how the batch size and the parallelism evolved during the run. */
static void log_sizes(const struct engine *en)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL);

	if (log_get_level() < LOG_INFO)
		return;
	sched_size_summary(&en->sched, &b);
	log_info("batch sizes: %s", b.ptr);
	buf_release(&b);
}

int engine_run(struct engine *en, struct results *res, struct err *e)
{
	en->res = res;
	en->err = e;
	en->now = clock_ms();
	if (res)
		results_set_flush_ms(res, ENGINE_FLUSH_MS);
	for (;;) {
		if (stopping(en)) {
			stop_transfers(en);
			log_sizes(en);
			if (res && results_flush(res, e) < 0)
				return -1;
			return err_set(e, ERR_INTERNAL,
				       "interrupted; continue with --resume");
		}
		if (take_rows(en) < 0)
			return -1;
		if (loop_once(en, 1000) < 0)
			return -1;
		if (res && results_flush_due(res, e) < 0)
			return -1;
		log_phase(en);
		progress_now(en, false);
		if (en->eof && en->in_flight_rows == 0 && idle_transport(en) &&
		    !en->ready_head && !en->deliveries)
			break;
	}
	progress_now(en, true);
	log_sizes(en);
	return 0;
}
