/*
 * engine_ops.c: operations in flight.
 *
 * Actions add operations (action_emit(), action_patch_mailbox()); the
 * queued ones go out packed in a $batch (send_batch()); answers are mapped
 * back to their rows (handle_done(), handle_batch_answer(), op_final()),
 * retried (retry_op()), writes of unknown fate verified by a read
 * (verify_write(), verified()) and journaled (journal_intent(),
 * journal_outcome()).
 *
 * Just over 1,000 lines: sending, answering, retrying and verifying all
 * act on the same struct op and its journal sequence, and an operation's
 * fate (sent, answered, unknown, verified) must be decided in one place.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "act_util.h"
#include "action.h"
#include "batch.h"
#include "engine.h"
#include "engine_int.h"
#include "jsonmem.h"
#include "log.h"
#include "odata.h"
#include "retry.h"
#include "runlog.h"
#include "sched.h"

#include "banned.h"

/* The service protection limit an error code names (Dataverse codes). */
static const char *limit_name(const char *code)
{
	static const struct {
		const char *code, *name;
	} limits[] = {
	    {"0x80072322", "requests"},
	    {"0x80072321", "execution_time"},
	    {"0x80072326", "concurrent_requests"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(limits); i++)
		if (!strcasecmp(code, limits[i].code))
			return limits[i].name;
	return *code ? code : "unknown";
}

/* A 429: remember which limit and Retry-After for the wait's event. */
void note_throttle(struct engine *en, const char *body, size_t len, long ra_s)
{
	struct odata_error oe;

	en->thr_ra_s = ra_s;
	if (body && odata_parse_error(&oe, body, len) == 0)
		snprintf(en->thr_limit, sizeof(en->thr_limit), "%s",
			 limit_name(oe.code));
	else
		snprintf(en->thr_limit, sizeof(en->thr_limit), "unknown");
}

/* A wait for Retry-After is over: count it and say so. */
void log_throttle_wait(struct engine *en, double waited_s, const char *during)
{
	struct runlog_line l;

	en->st.throttled_waits++;
	en->st.throttled_s += waited_s;
	if (!runlog_begin(en->log, &l, LOG_WARN, "throttle"))
		return;
	runlog_str(&l, "limit", *en->thr_limit ? en->thr_limit : "unknown");
	runlog_int(&l, "http_status", 429);
	if (en->thr_ra_s >= 0)
		runlog_int(&l, "retry_after_s", en->thr_ra_s);
	runlog_num(&l, "waited_s", waited_s);
	runlog_str(&l, "during", during);
	runlog_end(&l);
}

/* "PATCH mailboxes(...)": the operation, its path cut to a readable size. */
static void log_operation(struct runlog_line *l, const char *method,
			  const char *url, const char *api_root)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL);
	size_t n = strlen(api_root);

	if (!strncmp(url, api_root, n))
		url += n;
	buf_addf(&b, "%s %.160s%s", method, url,
		 strlen(url) > 160 ? "..." : "");
	runlog_str(l, "operation", b.ptr);
	buf_release(&b);
}

/* An operation sent again: 'attempt' is the one that failed. */
void log_retry(struct engine *en, const char *method, const char *url,
	       int attempt, const char *cause, long status, long delay_ms,
	       size_t row)
{
	struct runlog_line l;

	if (!runlog_begin(en->log, &l, LOG_INFO, "retry"))
		return;
	log_operation(&l, method, url, en->api_root);
	runlog_int(&l, "attempt", attempt);
	runlog_str(&l, "cause", *cause ? cause : "unknown");
	if (status)
		runlog_int(&l, "http_status", status);
	runlog_int(&l, "delay_ms", delay_ms);
	if (row)
		runlog_int(&l, "row", (long long)row);
	runlog_end(&l);
}

/* A token: the first one ("sign_in") or a renewal. */
void log_token(struct engine *en, const struct lane *ln, bool first)
{
	struct runlog_line l;

	if (!runlog_begin(en->log, &l, LOG_INFO,
			  first ? "sign_in" : "token_renewed"))
		return;
	if (en->nlanes > 1)
		runlog_str(&l, "client_id", ln->client_id);
	if (first) {
		runlog_str(&l, "authority", en->job->authority);
		runlog_str(&l, "method", job_auth_name(ln->auth->method));
	} else {
		runlog_str(&l, "reason",
			   en->token_refused ? "refused" : "expiring");
	}
	runlog_int(&l, "expires_in_s",
		   (long long)((ln->auth->expires_ms - en->now) / 1000));
	runlog_end(&l);
	en->token_refused = false;
}

/*
 * Services for actions (action.h).
 */
bool action_readonly(const struct action_ctx *c)
{
	return c->en->readonly;
}

const struct job *action_job(const struct action_ctx *c)
{
	return c->en->job;
}

int64_t action_now_ms(const struct action_ctx *c)
{
	return c->en->now;
}

void action_patch_mailbox(struct action_ctx *c, const char *name, cJSON *value)
{
	if (!c->patch)
		c->patch = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(c->patch, name);
	cJSON_AddItemToObject(c->patch, name, value);
	c->contributed |= 1u << c->cur;
}

#define PRINT_SMALL 512

char *print_body(cJSON *body)
{
	char small[PRINT_SMALL], *s, *copy;

	if (!body)
		return NULL;
	/* most bodies are a few columns: no allocation while printing */
	if (cJSON_PrintPreallocated(body, small, sizeof(small), false)) {
		cJSON_Delete(body);
		return xstrdup(small);
	}
	s = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	copy = s ? xstrdup(s) : NULL;
	cJSON_free(s);
	if (!copy)
		BUG("cJSON_PrintUnformatted failed");
	return copy;
}

static void deliver_later(struct engine *en, struct shared *sh,
			  struct eng_row *row, int action, int tag)
{
	struct delivery *d = xcalloc(1, sizeof(*d));

	d->sh = sh;
	d->w.row = row;
	d->w.action = action;
	d->w.tag = tag;
	d->next = en->deliveries;
	en->deliveries = d;
}

void action_emit(struct action_ctx *c, const char *method, const char *url,
		 cJSON *body, const char *share_key, int tag, unsigned flags)
{
	struct engine *en = c->en;
	struct eng_row *row = c->row;
	struct action_state *st = &row->rs.act[c->cur];
	struct op *op;

	if (en->readonly && strcmp(method, "GET")) {
		cJSON_Delete(body);
		row->would |= 1u << c->cur;
		return;
	}
	st->outstanding++;
	if (share_key) {
		void **slot = table_slot(&en->shares, share_key, true);
		struct shared *sh = *slot;

		if (sh) {
			cJSON_Delete(body);
			if (sh->done)
				deliver_later(en, sh, row, c->cur, tag);
			else
				add_waiter(&sh->w, &sh->nw, &sh->aw, row,
					   c->cur, tag);
			return;
		}
		sh = xcalloc(1, sizeof(*sh));
		sh->key = xstrdup(share_key);
		*slot = sh;
		add_waiter(&sh->w, &sh->nw, &sh->aw, row, c->cur, tag);
		op = op_new(OP_SHARED, method, url, print_body(body));
		op->shared = sh;
	} else {
		op = op_new(OP_ROW, method, url, print_body(body));
		op->row = row;
		op->action = c->cur;
		op->tag = tag;
	}
	op->flags = flags;
	enqueue(en, op);
}

/*
 * Answers.
 */
static void answer_action(struct engine *en, struct eng_row *row, int id,
			  const struct action_answer *a)
{
	struct action_ctx c = {.en = en, .row = row, .cur = id};
	struct action_state *st = &row->rs.act[id];
	const struct action *act = action_get(id);
	enum action_step step;

	if (st->outstanding > 0)
		st->outstanding--;
	if (a->attempts > row->rs.attempts)
		row->rs.attempts = a->attempts;
	if (st->status != ACTION_ST_PENDING) {
		/* skipped or failed meanwhile: the answer changes nothing */
		make_ready(en, row);
		return;
	}
	step = act->answer(&c, &row->rs, a);
	if (c.patch) /* answer() may not add to a PATCH */
		cJSON_Delete(c.patch);
	apply_step(en, row, id, step, false);
	make_ready(en, row);
}

static void fill_answer(struct action_answer *a, cJSON **json, long status,
			const char *body, const char *code, const char *message,
			int tag, int attempts)
{
	memset(a, 0, sizeof(*a));
	a->tag = tag;
	a->status = status;
	a->body = body ? body : "";
	*json = body && *body ? json_parse(body, strlen(body)) : NULL;
	a->json = *json;
	a->code = code ? code : "";
	a->message = message ? message : "";
	a->attempts = attempts;
}

void deliver_shared(struct engine *en, struct shared *sh,
		    const struct waiter *w)
{
	struct action_answer a;
	cJSON *json;

	fill_answer(&a, &json, sh->status, sh->body, sh->code, sh->message,
		    w->tag, sh->attempts);
	answer_action(en, w->row, w->action, &a);
	cJSON_Delete(json);
}

static void verified(struct engine *en, struct op *v, long status,
		     const char *body);

/*
 * A write that failed for good says what is known of its fate: a failed
 * row never hides a change that may have been applied.
 */
static void fate_note(struct op *op)
{
	size_t len = strlen(op->message);
	const char *note =
	    op->unknown ? "; whether the service applied the change is unknown"
	    : op->read_back ? "; read back afterwards, it was not applied "
			      "(the unanswered request may still be)"
			    : "";

	snprintf(op->message + len, sizeof(op->message) - len, "%s", note);
}

/* The operation's final answer: success or a definitive failure. */
/*
 * The journal's records of a write (docs/journal.md): its intent before
 * the request holding it goes out, then its outcome.
 */
static void journal_intent(struct engine *en, struct op *op)
{
	struct buf what = BUF_INIT(BUF_MAX_SMALL);
	size_t num = op->row ? op->row->rs.row->num : 0;

	if (!en->res || !strcmp(op->method, "GET"))
		return;
	if (op->kind == OP_PATCH) {
		for (int i = 0; i < ACTION_COUNT; i++)
			if (op->contributors & (1u << i))
				buf_addf(&what, "%s%s", what.len ? "+" : "",
					 action_name((enum action_id)i));
	} else if (op->kind == OP_ROW) {
		buf_addstr(&what, action_name((enum action_id)op->action));
	} else {
		buf_addstr(&what, "shared");
	}
	op->jseq = ++en->jseq;
	results_intent(en->res, op->jseq, num, what.ptr, op->method, op->url,
		       op->body);
	buf_release(&what);
}

void journal_outcome(struct engine *en, struct op *op, long status)
{
	if (en->res && op->jseq)
		results_outcome(en->res, op->jseq, status,
				status >= 300 ? op->code : "");
	op->jseq = 0;
}

/* With several users: which one applied a write (docs/design.md). */
static void log_applied(struct engine *en, const struct op *op, long status)
{
	struct runlog_line l;

	if (en->nlanes < 2 || status < 200 || status >= 300 ||
	    op->kind == OP_VERIFY || !strcmp(op->method, "GET") ||
	    !runlog_begin(en->log, &l, LOG_INFO, "applied"))
		return;
	if (op->row)
		runlog_int(&l, "row", (long long)op->row->rs.row->num);
	runlog_str(&l, "method", op->method);
	runlog_str(&l, "client_id", en->lanes[op->lane].client_id);
	runlog_end(&l);
}

static void op_final(struct engine *en, struct op *op, long status,
		     const char *body)
{
	struct action_answer a;
	cJSON *json = NULL;
	const char *code = status >= 300 ? op->code : "";
	const char *msg = status >= 300 ? op->message : "";

	log_applied(en, op, status);
	if (status >= 300 && op->kind != OP_VERIFY && strcmp(op->method, "GET"))
		fate_note(op);
	journal_outcome(en, op, status);
	switch (op->kind) {
	case OP_VERIFY:
		verified(en, op, status, body);
		break;
	case OP_RESOLVE:
		if (status >= 200 && status < 300) {
			json = body ? json_parse(body, strlen(body)) : NULL;
			if (json) {
				resolved(en, op, json);
				break;
			}
			code = "BadResponse";
			msg = "the mailbox lookup answered no JSON";
		}
		for (size_t i = 0; i < op->ngroup; i++) {
			struct row_state *rs = &op->group[i]->rs;

			if (op->attempts > rs->attempts)
				rs->attempts = op->attempts;
			fail_row(en, op->group[i], code, msg, NULL);
		}
		pass_gate(en);
		break;
	case OP_LOOKUP: {
		struct lookup *l = op->lookup;

		l->done = true;
		if (status >= 200 && status < 300)
			l->json = body ? json_parse(body, strlen(body)) : NULL;
		if (!l->json) {
			struct buf b = BUF_INIT(BUF_MAX_SMALL);

			buf_addf(&b, "%s%s%s", code, *code ? ": " : "",
				 *msg ? msg : "lookup failed");
			l->error = buf_detach(&b, NULL);
		}
		for (size_t i = 0; i < l->nw; i++) {
			struct eng_row *row = l->w[i].row;
			struct action_state *st = &row->rs.act[l->w[i].action];

			if (st->outstanding > 0)
				st->outstanding--;
			make_ready(en, row);
		}
		free(l->w);
		l->w = NULL;
		l->nw = l->aw = 0;
		break;
	}
	case OP_PATCH:
		fill_answer(&a, &json, status, body, code, msg, 0,
			    op->attempts);
		for (int i = 0; i < ACTION_COUNT; i++)
			if (op->contributors & (1u << i))
				answer_action(en, op->row, i, &a);
		break;
	case OP_ROW:
		fill_answer(&a, &json, status, body, code, msg, op->tag,
			    op->attempts);
		answer_action(en, op->row, op->action, &a);
		break;
	case OP_SHARED: {
		struct shared *sh = op->shared;

		sh->done = true;
		sh->status = status;
		sh->body = xstrdup(body ? body : "");
		snprintf(sh->code, sizeof(sh->code), "%s", code);
		snprintf(sh->message, sizeof(sh->message), "%s", msg);
		sh->attempts = op->attempts;
		for (size_t i = 0; i < sh->nw; i++)
			deliver_shared(en, sh, &sh->w[i]);
		free(sh->w);
		sh->w = NULL;
		sh->nw = sh->aw = 0;
		break;
	}
	}
	cJSON_Delete(json);
	op_free(op);
}

static void record_error(struct op *op, long status, const char *body,
			 size_t len, const char *fallback)
{
	struct odata_error oe;

	op->status = status;
	if (body && odata_parse_error(&oe, body, len) == 0) {
		snprintf(op->code, sizeof(op->code), "%s", oe.code);
		snprintf(op->message, sizeof(op->message), "%s", oe.message);
	} else {
		if (status)
			snprintf(op->code, sizeof(op->code), "HTTP %ld",
				 status);
		else
			snprintf(op->code, sizeof(op->code), "Transport");
		snprintf(op->message, sizeof(op->message), "%s", fallback);
	}
}

/*
 * A request that got no HTTP answer. A timeout is named as such: the
 * operation may still have been applied, so the message says so.
 */
static void record_transport_error(struct engine *en, struct op *op,
				   const struct request *r)
{
	op->timed_out = r->result == CURLE_OPERATION_TIMEDOUT;
	if (!op->timed_out) {
		record_error(op, 0, NULL, 0, r->error);
		return;
	}
	op->status = 0;
	snprintf(op->code, sizeof(op->code), "Timeout");
	snprintf(op->message, sizeof(op->message),
		 "no answer within %d s (run.request_timeout)",
		 en->job->request_timeout);
}

/*
 * Read back write 'w' (actu_verify_url()) now, or at 'at' when later;
 * 'fresh': send it right after the read. false when no read can tell.
 */
static bool verify_write(struct engine *en, struct op *w, bool fresh,
			 int64_t at)
{
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	struct op *v;

	if (actu_verify_url(w->method, w->url, w->body, &url) < 0) {
		buf_release(&url);
		return false;
	}
	v = op_new(OP_VERIFY, "GET", url.ptr, NULL);
	buf_release(&url);
	v->target = w;
	v->fresh = fresh;
	if (at > en->now)
		sched_retry_add(&en->sched, at, v);
	else
		enqueue(en, v);
	return true;
}

/*
 * The wait before an operation's next attempt. A failure while the
 * service answers other requests waits as a first one, so a row unlucky
 * twice does not hold the end of a run for seconds; a run of failed
 * requests (an outage) backs off in full (docs/design.md, "Retries").
 */
static long backoff_ms(const struct engine *en, int attempts, long status,
		       long retry_after_s, unsigned jitter)
{
	return retry_streak_delay_ms(&en->policy, attempts, en->fail_streak,
				     status, retry_after_s, jitter);
}

/*
 * The read-back of a write of unknown fate answered. The change in place:
 * the write is done, whichever attempt applied it. Not in place: send it
 * again after the backoff, conditioned on the version read (a 412 then
 * means the row changed meanwhile, perhaps by that very write landing
 * late: read again). A write that timed out waits at least
 * run.request_timeout, as long as it was given to land. A write with no
 * version to condition on (AddPrivilegesRole) is read once more just
 * before it goes. The read failing for good leaves the fate unknown.
 */
static void verified(struct engine *en, struct op *v, long status,
		     const char *body)
{
	struct op *w = v->target;
	cJSON *json = NULL;
	const char *etag;
	long delay;

	v->target = NULL;
	if (status >= 200 && status < 300 && body)
		json = json_parse(body, strlen(body));
	if (!json) {
		op_final(en, w, w->status ? w->status : 599, NULL);
		return;
	}
	if (actu_write_holds(w->method, w->url, w->body, json)) {
		log_info("%s %s: read back, the change is in place", w->method,
			 w->url);
		cJSON_Delete(json);
		w->unknown = false;
		op_final(en, w, 204, "");
		return;
	}
	w->unknown = false;
	w->read_back = true;
	free(w->if_match);
	w->if_match = NULL;
	etag = string_item(json, "@odata.etag");
	if (etag && !strcmp(w->method, "PATCH")) {
		struct buf h = BUF_INIT(BUF_MAX_SMALL);

		buf_addf(&h, "If-Match: %s", etag);
		w->if_match = buf_detach(&h, NULL);
	}
	cJSON_Delete(json);
	/*
	 * one jitter for every read-back answered in this turn (they came in
	 * one answer): their writes come due together and go out packed
	 */
	delay =
	    backoff_ms(en, w->attempts, 0, -1, (unsigned)en->now * 2654435761u);
	if (delay < 0) {
		op_final(en, w, w->status ? w->status : 599, NULL);
		return;
	}
	/*
	 * the service just answered the read: that round trip was the wait
	 * (a write with no version to condition on is read once more first)
	 */
	if (en->fail_streak == 0 && w->if_match)
		delay = 0;
	if (w->timed_out && delay < en->job->request_timeout * 1000L)
		delay = en->job->request_timeout * 1000L;
	if (!w->if_match && !v->fresh &&
	    verify_write(en, w, true, en->now + delay))
		return;
	log_info("%s %s: read back, not applied; sending it again", w->method,
		 w->url);
	en->st.retries++;
	log_retry(en, w->method, w->url, w->attempts, "NotApplied", 0,
		  v->fresh ? 0 : delay, w->row ? w->row->rs.row->num : 0);
	if (v->fresh || delay == 0)
		enqueue(en, w);
	else
		sched_retry_add(&en->sched, en->now + delay, w);
}

/*
 * Try 'op' again after a failure, or give it its final (failed) answer.
 * 'unknown': the operation may have been applied (reset, cut answer).
 * 'jitter' is drawn once per answer: the operations of one failed request
 * come due together and are sent again packed, not one request each.
 */
static void retry_op(struct engine *en, struct op *op, long status,
		     long retry_after_s, bool unknown, unsigned jitter)
{
	long delay;

	if (unknown && strcmp(op->method, "GET")) {
		/* never send a write twice: read it back first */
		op->unknown = true;
		journal_outcome(en, op, 0);
		if (verify_write(en, op, false, 0))
			return;
	}
	delay = backoff_ms(en, op->attempts, status, retry_after_s, jitter);
	if (delay < 0) {
		op_final(en, op, op->status ? op->status : 599, NULL);
		return;
	}
	en->st.retries++;
	log_retry(en, op->method, op->url, op->attempts, op->code, status,
		  delay, op->row ? op->row->rs.row->num : 0);
	journal_outcome(en, op, unknown ? 0 : status);
	sched_retry_add(&en->sched, en->now + delay, op);
}

long parse_retry_after(const char *v)
{
	long s;

	if (!v || !*v || retry_parse_after(v, time(NULL), &s) < 0)
		return -1;
	return s;
}

/*
 * A 401: the token was refused. Sign in again and send the operation once
 * more; a second 401 with a newer token is final. Returns true when the
 * operation was queued again.
 */
static bool reauth(struct engine *en, const struct flight *f, struct op *op)
{
	struct lane *ln = &en->lanes[f->lane];

	if (op->reauthed && f->token_gen != op->reauth_gen)
		return false;
	op->reauthed = true;
	op->reauth_gen = f->token_gen;
	if (f->token_gen == ln->token_gen) {
		auth_invalidate(ln->auth);
		en->token_refused = true;
	}
	enqueue(en, op);
	return true;
}

static void handle_batch_answer(struct engine *en, struct flight *f,
				struct request *r, unsigned jitter)
{
	struct batch_response resp = BATCH_RESPONSE_INIT;
	struct batch_result *res = xcalloc(f->n, sizeof(*res));
	struct err e = ERR_INIT;

	if (batch_parse(&resp, r->content_type, r->response.ptr,
			r->response.len, &e) < 0 ||
	    batch_map(&f->b, &resp, res, &e) < 0) {
		log_warn("unusable $batch answer: %s", e.msg);
		for (size_t i = 0; i < f->n; i++) {
			record_error(f->ops[i], 502, NULL, 0, e.msg);
			retry_op(en, f->ops[i], 502, -1, true, jitter);
		}
		goto out;
	}
	for (size_t i = 0; i < f->n; i++) {
		struct op *op = f->ops[i];
		const struct batch_answer *an = res[i].answer;
		long st = res[i].status;

		switch (res[i].fate) {
		case BATCH_ANSWERED:
			if (st >= 200 && st < 300) {
				op_final(en, op, st, an->body);
				break;
			}
			record_error(op, st, an->body, an->body_len,
				     "the operation failed");
			if (st == 401 && reauth(en, f, op))
				break;
			if (st == 412 && op->if_match) {
				/* changed since it was read: read again */
				journal_outcome(en, op, st);
				op->timed_out = false;
				if (verify_write(en, op, false, 0))
					break;
			}
			if (st == 429) {
				long ra = parse_retry_after(
				    batch_answer_header(an, "Retry-After"));

				en->st.throttled++;
				note_throttle(en, an->body, an->body_len, ra);
				if (!strcmp(op->code, SCHED_ERR_EXEC_TIME))
					f->exec_limit = true;
				sched_throttled(en->lanes[f->lane].sched,
						en->now,
						ra >= 0 ? ra * 1000 : -1);
				/* another user may send it now */
				retry_op(en, op, st,
					 lane_other_open(en, f->lane) ? 0 : ra,
					 false, jitter);
				break;
			}
			if (retry_is_transient(st, 0)) {
				retry_op(en, op, st, -1, false, jitter);
				break;
			}
			op_final(en, op, st, an->body);
			break;
		case BATCH_UNREPORTED_OK:
			/* applied, but a read still needs its data */
			if (strcmp(op->method, "GET"))
				op_final(en, op, 204, "");
			else
				enqueue(en, op);
			break;
		case BATCH_ROLLED_BACK:
		case BATCH_NOT_EXECUTED:
			/* nothing of it was applied: send it again as is */
			enqueue(en, op);
			break;
		case BATCH_UNANSWERED:
			record_error(op, 502, NULL, 0,
				     "no answer for the operation");
			retry_op(en, op, 502, -1, true, jitter);
			break;
		case BATCH_UNATTRIBUTED:
			/* applied, failed or not run: never guessed */
			if (!en->one_per_batch)
				log_warn(
				    "the $batch answer named no operation; "
				    "sending one operation per request");
			en->one_per_batch = true;
			record_error(op, 502, NULL, 0,
				     "the $batch answer named no operation");
			retry_op(en, op, 502, -1, true, jitter);
			break;
		}
	}
out:
	batch_response_release(&resp);
	free(res);
}

void flight_free(struct flight *f)
{
	batch_release(&f->b);
	free(f->ops);
	free(f);
}

/* Tell the batch sizing how a $batch went (sched.h). */
static void size_done(struct engine *en, const struct flight *f,
		      const struct request *r, long status)
{
	struct sched_answer a = {
	    .nops = (int)f->n,
	    .epoch = f->epoch,
	    .sent_ms = r->started_ms,
	    .status = status,
	    .timed_out = r->result == CURLE_OPERATION_TIMEDOUT,
	    .exec_limit = f->exec_limit,
	    .budget_ms = sched_parse_time_remaining(r->time_remaining),
	};
	struct odata_error oe;
	int was = en->sched.batch;

	if (status == 429 &&
	    odata_parse_error(&oe, r->response.ptr, r->response.len) == 0 &&
	    !strcmp(oe.code, SCHED_ERR_EXEC_TIME))
		a.exec_limit = true;
	/*
	 * One pool user's spent budget is no reason for shorter requests:
	 * another user sends them (docs/design.md, auth.pool).
	 */
	if (a.exec_limit && lane_other_open(en, f->lane))
		a.exec_limit = false;
	sched_batch_done(&en->sched, en->now, &a);
	if (en->sched.batch != was)
		log_debug("batch size %d -> %d (answer of %zu operations in "
			  "%ld ms, HTTP %ld%s)",
			  was, en->sched.batch, f->n,
			  (long)(en->now - r->started_ms), status,
			  a.exec_limit ? ", execution-time limit" : "");
}

int handle_done(struct engine *en, struct request *r)
{
	struct flight *f = r->owner;
	struct lane *ln = &en->lanes[f->lane];
	long ra_s, status = r->result == CURLE_OK ? r->status : 0, left;
	unsigned jitter = (unsigned)rand();

	if (f->token) {
		int rc = auth_finish(ln->auth, r, en->now, en->err);

		if (rc == 0) {
			ln->token_gen++;
			en->token_gen++;
			log_token(en, ln, false);
		}
		flight_free(f);
		request_free(r);
		if (rc < 0 && lane_drop(en, ln, en->err) == 0) {
			err_clear(en->err);
			rc = 0;
		}
		return rc < 0 ? -1 : 0;
	}
	ra_s = parse_retry_after(r->retry_after);
	sched_done(ln->sched, en->now, status, ra_s >= 0 ? ra_s * 1000 : -1,
		   r->dop_hint);
	left = sched_parse_time_remaining(r->time_remaining);
	if (left >= 0) {
		ln->budget_ms = left;
		ln->budget_at = en->now;
	}
	if (r->result != CURLE_OK) {
		if (!en->ever_answered &&
		    !retry_is_transient(0, (int)r->result)) {
			err_set(en->err, ERR_NETWORK, "cannot reach '%s': %s",
				en->batch_url, r->error);
			for (size_t i = 0; i < f->n; i++)
				op_free(f->ops[i]);
			flight_free(f);
			request_free(r);
			return -1;
		}
		en->fail_streak++;
		log_info("request failed: %s; retrying its operations",
			 r->error);
		for (size_t i = 0; i < f->n; i++) {
			record_transport_error(en, f->ops[i], r);
			retry_op(en, f->ops[i], 0, -1, true, jitter);
		}
		goto out;
	}
	en->ever_answered = true;
	/* a stop-on-error answer is multipart too, under an outer 400 */
	if (!strncasecmp(r->content_type, "multipart/", 10)) {
		en->fail_streak = 0;
		handle_batch_answer(en, f, r, jitter);
		goto out;
	}
	en->fail_streak++;
	if (status >= 200 && status < 300) {
		/* a $batch answer that is not multipart cannot be mapped */
		log_warn("$batch answered HTTP %ld with '%s'", status,
			 r->content_type);
		for (size_t i = 0; i < f->n; i++) {
			record_error(f->ops[i], 502, NULL, 0,
				     "the $batch answer was not multipart");
			retry_op(en, f->ops[i], 502, -1, true, jitter);
		}
		goto out;
	}
	if (status == 429) {
		en->st.throttled++;
		note_throttle(en, r->response.ptr, r->response.len, ra_s);
	}
	for (size_t i = 0; i < f->n; i++) {
		struct op *op = f->ops[i];

		record_error(op, status, r->response.ptr, r->response.len,
			     "the $batch request failed");
		if (status == 401 && reauth(en, f, op)) {
			continue;
		} else if (retry_is_transient(status, 0)) {
			/* a 5xx of the whole batch: its fate is unknown */
			retry_op(en, op, status,
				 status == 429 && lane_other_open(en, f->lane)
				     ? 0
				     : ra_s,
				 status != 429, jitter);
		} else {
			op_final(en, op, status, r->response.ptr);
		}
	}
out:
	size_done(en, f, r, status);
	flight_free(f);
	request_free(r);
	return 0;
}

/*
 * Sending.
 */
static size_t chosen_batch(struct engine *en)
{
	return (size_t)sched_batch_size(&en->sched, en->reads.n + en->writes.n);
}

void common_headers(struct engine *en, const struct lane *ln, struct request *r)
{
	const char *auth = auth_header(ln->auth, en->now);

	if (auth)
		request_add_header(r, auth);
	request_add_header(r, "Accept: application/json");
	request_add_header(r, "OData-MaxVersion: 4.0");
	request_add_header(r, "OData-Version: 4.0");
}

int send_batch(struct engine *en, size_t lane)
{
	struct lane *ln = &en->lanes[lane];
	size_t max = chosen_batch(en);
	struct flight *f = xcalloc(1, sizeof(*f));
	struct buf body = BUF_INIT(BUF_MAX_BODY), ct = BUF_INIT(BUF_MAX_SMALL);
	struct request *r;
	char id[32];
	struct err e = ERR_INIT;
	size_t heavy; /* reads other than read-backs in this batch */

	batch_init(&f->b);
	f->ops = xmalloc(max * sizeof(*f->ops));
	heavy = 0;
	while (f->n < max) {
		struct queue *q = en->reads.head ? &en->reads : &en->writes;
		struct op *op = q->head;
		static const char *const if_match[] = {"If-Match: *", NULL};
		static const char *const annotations[] = {
		    /* only what actions read: "*" triples the answer */
		    "Prefer: odata.include-annotations="
		    "\"Microsoft.Dynamics.CRM.lookuplogicalname\"",
		    NULL};
		static const char *const paging[] = {
		    "Prefer: odata.include-annotations="
		    "\"Microsoft.Dynamics.CRM.fetchxmlpagingcookie,"
		    "Microsoft.Dynamics.CRM.morerecords\"",
		    NULL};
		struct batch_req br = {0};

		if (!op || !lane_takes(en, ln, op))
			break;
		if ((op->flags & ACTION_OP_ALONE || en->one_per_batch) && f->n)
			break;
		/*
		 * A resolution GET covers ENGINE_RESOLVE_GROUP rows and the
		 * service runs a batch's operations one after the other:
		 * spread them over requests when choosing the size.
		 */
		if (q == &en->reads && en->batch_size <= 0 &&
		    op->kind != OP_VERIFY && heavy >= ENGINE_READS_PER_BATCH)
			break;
		/* a read-back is one record: it packs like a write */
		if (q == &en->reads && op->kind != OP_VERIFY)
			heavy++;
		br.method = op->method;
		br.url = op->url;
		br.headers = op->flags & ACTION_OP_IF_MATCH ? if_match
			     : op->flags & OP_ANNOTATIONS   ? annotations
			     : op->flags & OP_PAGING	    ? paging
							    : NULL;
		if (op->if_match) {
			/* sent again after a read: on the version read */
			op->hdrs[0] = op->if_match;
			op->hdrs[1] = NULL;
			br.headers = op->hdrs;
		}
		br.body = op->body;
		br.data = op;
		dequeue(q);
		if (batch_add(&f->b, &br, &e) < 0) {
			/* our own operation is malformed: a bug, not data */
			BUG("batch_add: %s", e.msg);
		}
		op->attempts++;
		op->lane = lane;
		journal_intent(en, op);
		f->ops[f->n++] = op;
		if (op->flags & ACTION_OP_ALONE)
			break;
	}
	snprintf(id, sizeof(id), "mbx%lu", ++en->batch_seq);
	if (batch_encode(&f->b, id, en->api_path, &body, &ct, &e) < 0)
		BUG("batch_encode: %s", e.msg);
	r = request_new("POST", en->batch_url);
	common_headers(en, ln, r);
	request_add_header(r, "Prefer: odata.continue-on-error");
	{
		struct buf h = BUF_INIT(BUF_MAX_SMALL);

		buf_addf(&h, "Content-Type: %s", ct.ptr);
		request_add_header(r, h.ptr);
		buf_release(&h);
	}
	{
		size_t len;
		char *p = buf_detach(&body, &len);

		request_set_body(r, p, len);
	}
	buf_release(&ct);
	r->owner = f;
	f->lane = lane;
	f->token_gen = ln->token_gen;
	f->epoch = en->sched.epoch;
	if (log_get_level() >= LOG_DEBUG)
		log_debug("POST $batch %s: %zu operations", id, f->n);
	{
		struct runlog_line l;

		if (runlog_begin(en->log, &l, LOG_DEBUG, "batch")) {
			runlog_str(&l, "id", id);
			runlog_int(&l, "operations", (long long)f->n);
			if (en->nlanes > 1)
				runlog_str(&l, "client_id", ln->client_id);
			runlog_end(&l);
		}
	}
	/* a write goes out only once its intent is in the journal */
	if (en->res && results_sync(en->res, en->err) < 0) {
		request_free(r);
		return -1;
	}
	if (http_start(&en->http, r, en->now, en->err) < 0) {
		request_free(r);
		return -1;
	}
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->ops[i]->method, "GET"))
			en->st.writes++;
		if (en->res && f->ops[i]->jseq)
			results_sent(en->res, f->ops[i]->jseq);
	}
	sched_sent(ln->sched);
	sched_batch_sent(&en->sched, (int)f->n);
	en->st.requests++;
	en->st.batches++;
	en->st.operations += f->n;
	return 0;
}

int start_token(struct engine *en, size_t lane)
{
	struct request *r =
	    auth_request(en->lanes[lane].auth, en->now, en->err);
	struct flight *f;

	if (!r)
		return -1;
	f = xcalloc(1, sizeof(*f));
	batch_init(&f->b);
	f->token = true;
	f->lane = lane;
	r->owner = f;
	if (http_start(&en->http, r, en->now, en->err) < 0) {
		flight_free(f);
		request_free(r);
		return -1;
	}
	en->st.requests++;
	return 0;
}
