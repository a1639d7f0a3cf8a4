/*
 * engine.c: the run loop.
 *
 * Rows enter a bounded window (take_rows()), walk their actions' stages
 * (advance(), engine_row.c) and leave it with their results; the loop
 * (loop_once()) runs timers, ready rows, the transfers and the progress
 * line, and stops on a signal. Resolution lives in engine_resolve.c, the
 * operations in flight in engine_ops.c (engine_int.h).
 *
 * The row state machine (advance(), finish_row()) is in engine_row.c.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "action.h"
#include "batch.h"
#include "engine.h"
#include "engine_int.h"
#include "graph.h"
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
	int64_t until;

	if (lanes_gated(en, &until)) {
		pc->phase = PROGRESS_WAITING;
		pc->wait_s = (long)((until - en->now + 999) / 1000);
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
	gated = lanes_gated(en, NULL);
	if (gated && !en->gate_start)
		en->gate_start = en->now;
	if (!gated && en->gate_start) {
		log_throttle_wait(en, (double)(en->now - en->gate_start) / 1e3,
				  "run");
		en->gate_start = 0;
	}
	if (lanes_tokens(en) < 0)
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
	while (en->reads.head || en->writes.head) {
		int ln = lane_pick(en);

		if (ln < 0)
			break;
		if (send_batch(en, (size_t)ln) < 0)
			return -1;
	}
	wait =
	    en->ready_head || en->deliveries
		? 0
		: lanes_wait_ms(en, sched_wait_ms(&en->sched, en->now, cap_ms));
	if (graph_current()) { /* the Exchange checks' own transfers */
		long gw = graph_pump(graph_current(), en->now);

		if (gw >= 0 && gw < wait)
			wait = gw;
	}
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
	if (lanes_init(en, e) < 0) {
		sched_release(&en->sched);
		auth_release(&en->auth);
		http_release(&en->http);
		free(en);
		return -1;
	}
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
	lanes_release(en);
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
	struct lane *main_ln;

	en->err = e;
	en->now = clock_ms();
sign_in:
	if (lanes_sign_in(en, e) < 0)
		goto out;
	main_ln = lane_main(en);
	buf_reset(&url);
	buf_addf(&url, "%smailboxes?$select=mailboxid&$top=1", en->api_root);
	for (tries = 0;; tries++) {
		struct request *r = request_new("GET", url.ptr);
		int64_t wait_from;
		bool throttled;
		long ra;

		common_headers(en, main_ln, r);
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
			sched_sent(main_ln->sched);
			sched_done(main_ln->sched, en->now, 200, -1,
				   r->dop_hint);
			sched_batch_probe(&en->sched, 1,
					  (long)(en->now - r->started_ms));
			request_free(r);
			break;
		}
		if (r->status == 401 && auth_enabled(main_ln->auth) &&
		    !reauthed) {
			/* a token revoked since it was issued: once more */
			reauthed = true;
			request_free(r);
			auth_invalidate(main_ln->auth);
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
	rc = lanes_check_approver(en, e);
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
