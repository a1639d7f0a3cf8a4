#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "act_util.h"
#include "action.h"
#include "batch.h"
#include "engine.h"
#include "jsonmem.h"
#include "log.h"
#include "odata.h"
#include "preflight.h"
#include "progress.h"
#include "retry.h"
#include "runlog.h"
#include "sched.h"

#include "banned.h"

/* Engine-only operation flag (next to action.h's ACTION_OP_*). */
#define OP_ANNOTATIONS 0x100 /* Prefer: odata.include-annotations=... */
/* run.log "phase" events: the phase is sampled this often */
#define ENGINE_PHASE_MS 500

/* What a timer in the sched heap points at: an op or a row. */
enum titem { TI_OP = 1, TI_ROW };

enum op_kind {
	OP_RESOLVE, /* GET mailboxes In(...) for a group of rows */
	OP_LOOKUP,  /* a cached GET asked by action_lookup() */
	OP_PATCH,   /* the merged mailbox PATCH of a row's stage */
	OP_ROW,	    /* one operation of one row's action */
	OP_SHARED,  /* one operation for every row with the same key */
	OP_VERIFY,  /* the read that tells whether a write was applied */
};

struct eng_row;
struct lookup;
struct shared;

struct op {
	enum titem ti; /* first: see struct timer items */
	enum op_kind kind;
	struct op *next;
	char *method, *url, *body;
	unsigned flags;
	int attempts;	     /* times sent */
	unsigned long jseq;  /* a write: its journal records, 0 if none */
	bool reauthed;	     /* a 401 was seen: sign in again once */
	unsigned reauth_gen; /* the token generation that got the 401 */
	/* OP_PATCH, OP_ROW */
	struct eng_row *row;
	int action;
	int tag;
	unsigned contributors; /* OP_PATCH: actions that added to it */
	/* OP_RESOLVE */
	struct eng_row **group;
	size_t ngroup;
	/* OP_LOOKUP, OP_SHARED */
	struct lookup *lookup;
	struct shared *shared;
	/*
	 * A write whose fate is unknown (timeout, reset, cut answer) is read
	 * back before it is sent again (verify_write()); the next send is
	 * conditioned on the version that read saw.
	 */
	struct op *target;   /* OP_VERIFY: the write it checks */
	char *if_match;	     /* "If-Match: <etag>" for the next send, or NULL */
	const char *hdrs[2]; /* the header list of the send */
	bool fresh;	     /* OP_VERIFY: the write goes out right after */
	bool unknown;	     /* its last send may have been applied */
	bool read_back;	     /* a read afterwards found it not applied */
	bool timed_out;	     /* its last send got no answer in time */
	/* last failure */
	long status;
	char code[64];
	char message[512];
};

struct eng_row {
	enum titem ti;	     /* first: TI_ROW */
	struct row_state rs; /* what actions see */
	struct eng_row *next_ready;
	bool ready;
	bool failed;
	bool finished;
	bool resolved;
	unsigned would;	      /* readonly: actions that would write */
	cJSON *patch;	      /* a stage PATCH held back, see patch_waits() */
	unsigned contributed; /* the actions that added to it */
	int timers;	      /* timers pending for this row */
	struct eng_row *prev_all, *next_all;
	/*
	 * Rows pass the identity gate in input order, once their mailbox is
	 * known (pass_gate()); 'duplicate' is the earlier row with the same
	 * mailbox id, the row is then invalid.
	 */
	struct eng_row *prev_order, *next_order;
	bool in_order, known;
	size_t duplicate;
};

struct waiter {
	struct eng_row *row;
	int action;
	int tag;
};

struct lookup {
	char *url;
	bool done;
	cJSON *json;
	char *error;
	struct waiter *w;
	size_t nw, aw;
};

struct shared {
	char *key;
	bool done;
	long status;
	char *body;
	char code[64];
	char message[512];
	int attempts;
	struct waiter *w;
	size_t nw, aw;
};

/* A string-keyed table for lookups and shared operations. */
struct table {
	char **keys;
	void **vals;
	size_t n, cap;
};

/* A shared answer that arrived before a row asked for it. */
struct delivery {
	struct delivery *next;
	struct shared *sh;
	struct waiter w;
};

struct flight {
	struct batch b;
	struct op **ops;
	size_t n;
	unsigned epoch;	 /* the batch size's, when sent (sched.h) */
	bool exec_limit; /* a part hit the execution-time limit */
	bool token;
	unsigned token_gen; /* which token the request carried */
};

struct queue {
	struct op *head, *tail;
	size_t n;
};

struct engine {
	const struct job *job;
	bool readonly;
	struct rows *rows;
	struct progress *progress;
	size_t total_rows, skip_rows;
	struct results *res;

	struct http http;
	struct auth auth;
	struct sched sched;
	struct retry_policy policy;
	int batch_size;
	/*
	 * The service answered a failure naming no operation: from then on
	 * one operation per $batch, so every answer is its own.
	 */
	bool one_per_batch;

	char *api_root; /* "https://host/api/data/v9.2/" */
	char *api_path; /* "/api/data/v9.2/" */
	char *batch_url;

	struct queue reads, writes;
	struct eng_row *ready_head, *ready_tail;
	struct eng_row *all; /* every row in flight */
	size_t in_flight_rows;
	struct delivery *deliveries;

	/* rows waiting to be resolved */
	struct eng_row *pend_addr[ENGINE_RESOLVE_GROUP];
	size_t npend_addr;
	struct eng_row *pend_id[ENGINE_RESOLVE_GROUP];
	size_t npend_id;

	struct table lookups, shares;
	/* rows not through the identity gate yet, in input order */
	struct eng_row *order_head, *order_tail;
	struct table claimed; /* mailbox id -> the row that has it */
	bool eof;
	bool ever_answered;
	unsigned long batch_seq;
	unsigned long jseq; /* journal numbers of writes */
	unsigned token_gen; /* bumped with every new token */
	int64_t now;
	int64_t gate_start; /* when the current gate closed */
	bool aborting;
	struct err *err;
	volatile sig_atomic_t *stop;
	struct engine_stats st;
	const struct preflight *pf; /* names resolved before the run */

	/* run.log (runlog.h): events of the run */
	struct runlog *log;
	char thr_limit[64]; /* the limit the last 429 named */
	long thr_ra_s;	    /* its Retry-After, -1 when absent */
	bool token_refused; /* the next token replaces one refused (401) */
	int64_t phase_at;   /* last phase sample */
	int phase_seen, phase_logged; /* enum progress_phase; -1: none */
};

struct action_ctx {
	struct engine *en;
	struct eng_row *row;
	int cur;
	cJSON *patch;
	unsigned contributed;
};

static int64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Table.
 */
static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void **table_slot(struct table *t, const char *key, bool insert)
{
	size_t i;

	if (insert && (t->n + 1) * 2 > t->cap) {
		struct table nt = {0};

		nt.cap = t->cap ? 2 * t->cap : 64;
		nt.keys = xcalloc(nt.cap, sizeof(*nt.keys));
		nt.vals = xcalloc(nt.cap, sizeof(*nt.vals));
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->keys[k])
				continue;
			i = hash(t->keys[k]) & (nt.cap - 1);
			while (nt.keys[i])
				i = (i + 1) & (nt.cap - 1);
			nt.keys[i] = t->keys[k];
			nt.vals[i] = t->vals[k];
		}
		nt.n = t->n;
		free(t->keys);
		free(t->vals);
		*t = nt;
	}
	if (!t->cap)
		return NULL;
	i = hash(key) & (t->cap - 1);
	while (t->keys[i]) {
		if (!strcmp(t->keys[i], key))
			return &t->vals[i];
		i = (i + 1) & (t->cap - 1);
	}
	if (!insert)
		return NULL;
	t->keys[i] = xstrdup(key);
	t->n++;
	return &t->vals[i];
}

static void table_release(struct table *t, void (*fn)(void *))
{
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->keys[i])
			continue;
		free(t->keys[i]);
		fn(t->vals[i]);
	}
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

static void add_waiter(struct waiter **w, size_t *n, size_t *a,
		       struct eng_row *row, int action, int tag)
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
static struct op *op_new(enum op_kind kind, const char *method, const char *url,
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

static void op_free(struct op *op)
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

static void enqueue(struct engine *en, struct op *op)
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

static struct op *dequeue(struct queue *q)
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
static void make_ready(struct engine *en, struct eng_row *row)
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

static void order_del(struct engine *en, struct eng_row *row)
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
static void fail_row(struct engine *en, struct eng_row *row, const char *code,
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
static void note_throttle(struct engine *en, const char *body, size_t len,
			  long ra_s)
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
static void log_throttle_wait(struct engine *en, double waited_s,
			      const char *during)
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
static void log_retry(struct engine *en, const char *method, const char *url,
		      int attempt, const char *cause, long status,
		      long delay_ms, size_t row)
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
static void log_token(struct engine *en, bool first)
{
	struct runlog_line l;

	if (!runlog_begin(en->log, &l, LOG_INFO,
			  first ? "sign_in" : "token_renewed"))
		return;
	if (first) {
		runlog_str(&l, "authority", en->job->authority);
		runlog_str(&l, "method", job_auth_name(en->job->auth));
	} else {
		runlog_str(&l, "reason",
			   en->token_refused ? "refused" : "expiring");
	}
	runlog_int(&l, "expires_in_s",
		   (long long)((en->auth.expires_ms - en->now) / 1000));
	runlog_end(&l);
	en->token_refused = false;
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

/*
 * Resolution.
 */
/* The mailbox columns the actions in 'asked' read, each once. */
static void add_select(struct buf *b, unsigned asked)
{
	size_t start = b->len;

	/*
	 * what rows are matched on; who the mailbox belongs to comes with
	 * the actions that read it (fix_owner's columns, and every column
	 * for Test & Enable, grant_privileges and read-only runs)
	 */
	buf_addstr(b, "mailboxid,emailaddress");
	for (int i = 0; i < ACTION_COUNT; i++) {
		const struct action *a = action_get(i);
		const char *p;

		if (!(asked & (1u << i)) || !a || !a->columns)
			continue;
		for (p = a->columns; *p;) {
			size_t len = strcspn(p, ",");
			const char *have = b->ptr + start;
			bool dup = false;

			while (*have && !dup) {
				size_t hl = strcspn(have, ",");

				dup = hl == len && !strncmp(have, p, len);
				have += hl + (have[hl] == ',');
			}
			if (len && !dup) {
				buf_addch(b, ',');
				buf_add(b, p, len);
			}
			p += len + (p[len] == ',');
		}
	}
}

/*
 * Which actions' columns a group's read selects. Actions that only check
 * their own columns (the writes) get just those: a much smaller answer to
 * parse. Test & Enable, grant_privileges and read-only runs (plan,
 * diagnose) explain problems from the whole mailbox: every column.
 */
static unsigned select_mask(const struct engine *en,
			    struct eng_row *const *rows, size_t n)
{
	const unsigned whole =
	    ROWS_ACT(ROWS_TEST_ENABLE) | ROWS_ACT(ROWS_GRANT_PRIVILEGES);
	unsigned asked = 0;

	for (size_t i = 0; i < n; i++)
		asked |= rows[i]->rs.asked;
	return en->readonly || (asked & whole) ? ~0u : asked;
}

static void flush_group(struct engine *en, bool ids)
{
	struct eng_row **pend = ids ? en->pend_id : en->pend_addr;
	size_t *n = ids ? &en->npend_id : &en->npend_addr;
	const char *values[ENGINE_RESOLVE_GROUP];
	struct buf expr = BUF_INIT(BUF_MAX_BODY), url = BUF_INIT(BUF_MAX_BODY);
	struct err e = ERR_INIT;
	struct op *op;

	if (!*n)
		return;
	for (size_t i = 0; i < *n; i++)
		values[i] = pend[i]->rs.row->mailbox;
	if (ids) {
		/* GUIDs are bare in OData; In() takes them quoted, too */
		odata_in_filter(&expr, "mailboxid", values, *n, &e);
	} else {
		odata_in_filter(&expr, "emailaddress", values, *n, &e);
	}
	buf_addstr(&url, "mailboxes?$select=");
	add_select(&url, select_mask(en, pend, *n));
	buf_addstr(&url, "&$filter=");
	odata_url_encode(&url, expr.ptr, expr.len);
	op = op_new(OP_RESOLVE, "GET", url.ptr, NULL);
	op->flags = OP_ANNOTATIONS;
	op->group = xmalloc(*n * sizeof(*op->group));
	memcpy(op->group, pend, *n * sizeof(*op->group));
	op->ngroup = *n;
	*n = 0;
	buf_release(&expr);
	buf_release(&url);
	enqueue(en, op);
}

static void want_resolve(struct engine *en, struct eng_row *row)
{
	bool ids = row->rs.row->mailbox_is_id;

	if (ids) {
		en->pend_id[en->npend_id++] = row;
		if (en->npend_id == ENGINE_RESOLVE_GROUP)
			flush_group(en, true);
	} else {
		en->pend_addr[en->npend_addr++] = row;
		if (en->npend_addr == ENGINE_RESOLVE_GROUP)
			flush_group(en, false);
	}
}

/* A mailbox of a lookup answer, with the keys rows are matched on. */
struct answer_mb {
	cJSON *mb; /* NULL once a row took it */
	const char *addr, *id;
	uint32_t haddr, hid; /* key_hash() of each: most pairs differ there */
};

/* FNV-1a over the lower-cased key, which is compared case-insensitively. */
static uint32_t key_hash(const char *s)
{
	uint32_t h = 2166136261u;

	if (!s)
		return 0;
	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 16777619u;
	}
	return h;
}

static const char *string_item(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* snprintf(dst, size, "%s", id) without the format machinery */
static void copy_id(char *dst, size_t size, const char *id)
{
	size_t len = strlen(id);

	if (len >= size)
		len = size - 1;
	memcpy(dst, id, len);
	dst[len] = '\0';
}

/*
 * The identity gate: two rows naming one mailbox, by address on one and
 * by id on the other, are known only once resolved (rows.c catches the
 * same address or id given twice, whatever the case). A row goes through
 * once its own mailbox is known and every earlier row naming a mailbox
 * the other way is known too, so the second row in input order is the
 * one made invalid, whichever resolved first, and a row does nothing
 * before it is through. Rows that all use one form never wait.
 */
static void pass_gate(struct engine *en)
{
	bool wait_addr = false, wait_id = false; /* an earlier row unknown */
	struct eng_row *row = en->order_head, *next;

	for (; row && !(wait_addr && wait_id); row = next) {
		bool is_id = row->rs.row->mailbox_is_id;
		char id[sizeof(row->rs.mailbox_id)];
		void **slot;

		next = row->next_order;
		if (!row->known || (is_id ? wait_addr : wait_id)) {
			if (!row->known)
				*(is_id ? &wait_id : &wait_addr) = true;
			continue;
		}
		order_del(en, row);
		if (row->failed || !row->resolved)
			continue;
		for (size_t i = 0; i < sizeof(id); i++)
			id[i] =
			    (char)tolower((unsigned char)row->rs.mailbox_id[i]);
		slot = table_slot(&en->claimed, id, true);
		if (*slot)
			row->duplicate = (size_t)(uintptr_t)*slot;
		else
			*slot = (void *)(uintptr_t)row->rs.row->num;
		make_ready(en, row);
	}
}

static void resolved(struct engine *en, struct op *op, cJSON *json)
{
	cJSON *value = cJSON_GetObjectItemCaseSensitive(json, "value");
	char msg[512];
	struct answer_mb *mbs;
	size_t nmb = 0;
	cJSON *mb;

	/* look each mailbox's keys up once, not once per row of the group */
	cJSON_ArrayForEach(mb, value) nmb++;
	mbs = xcalloc(nmb ? nmb : 1, sizeof(*mbs));
	nmb = 0;
	cJSON_ArrayForEach(mb, value)
	{
		mbs[nmb].mb = mb;
		mbs[nmb].addr = string_item(mb, "emailaddress");
		mbs[nmb].id = string_item(mb, "mailboxid");
		mbs[nmb].haddr = key_hash(mbs[nmb].addr);
		mbs[nmb].hid = key_hash(mbs[nmb].id);
		nmb++;
	}
	for (size_t i = 0; i < op->ngroup; i++) {
		struct eng_row *row = op->group[i];
		const struct row *in = row->rs.row;
		struct answer_mb *found = NULL;
		uint32_t h = key_hash(in->mailbox);
		int n = 0;

		for (size_t k = 0; k < nmb; k++) {
			const char *key =
			    in->mailbox_is_id ? mbs[k].id : mbs[k].addr;

			if (!mbs[k].mb || !key ||
			    (in->mailbox_is_id ? mbs[k].hid : mbs[k].haddr) !=
				h)
				continue;
			if (!strcasecmp(key, in->mailbox)) {
				found = &mbs[k];
				n++;
			}
		}
		if (n != 1) {
			if (n)
				snprintf(msg, sizeof(msg),
					 "%d mailboxes have the address '%s'",
					 n, row->rs.row->mailbox);
			else
				snprintf(msg, sizeof(msg),
					 "mailbox '%s' does not exist",
					 row->rs.row->mailbox);
			fail_row(en, row, n ? "AmbiguousMailbox" : "0x80040217",
				 msg,
				 n ? "name the mailbox by its id (mailboxid)"
				   : "check the address or id; the user or "
				     "queue may not have a mailbox yet");
			continue;
		}
		if (found->id)
			copy_id(row->rs.mailbox_id, sizeof(row->rs.mailbox_id),
				found->id);
		cJSON_Delete(row->rs.mailbox);
		/* the row takes the object out of the answer: no copy */
		row->rs.mailbox = cJSON_DetachItemViaPointer(value, found->mb);
		found->mb = NULL;
		row->resolved = true;
		row->known = true;
	}
	free(mbs);
	pass_gate(en);
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

static char *print_body(cJSON *body)
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

const cJSON *action_lookup(struct action_ctx *c, const char *url, bool *pending,
			   const char **err)
{
	struct engine *en = c->en;
	void **slot = table_slot(&en->lookups, url, true);
	struct lookup *l = *slot;
	struct op *op;

	*pending = false;
	if (err)
		*err = NULL;
	if (l && l->done) {
		if (!l->json && err)
			*err = l->error;
		return l->json;
	}
	*pending = true;
	c->row->rs.act[c->cur].outstanding++;
	if (l) {
		add_waiter(&l->w, &l->nw, &l->aw, c->row, c->cur, 0);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->url = xstrdup(url);
	*slot = l;
	add_waiter(&l->w, &l->nw, &l->aw, c->row, c->cur, 0);
	op = op_new(OP_LOOKUP, "GET", url, NULL);
	op->lookup = l;
	enqueue(en, op);
	return NULL;
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
static void apply_step(struct engine *en, struct eng_row *row, int id,
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

static void deliver_shared(struct engine *en, struct shared *sh,
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

static void journal_outcome(struct engine *en, struct op *op, long status)
{
	if (en->res && op->jseq)
		results_outcome(en->res, op->jseq, status,
				status >= 300 ? op->code : "");
	op->jseq = 0;
}

static void op_final(struct engine *en, struct op *op, long status,
		     const char *body)
{
	struct action_answer a;
	cJSON *json = NULL;
	const char *code = status >= 300 ? op->code : "";
	const char *msg = status >= 300 ? op->message : "";

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
	delay = retry_next_delay_ms(&en->policy, w->attempts, 0, -1,
				    (unsigned)en->now * 2654435761u);
	if (delay < 0) {
		op_final(en, w, w->status ? w->status : 599, NULL);
		return;
	}
	if (w->timed_out && delay < en->job->request_timeout * 1000L)
		delay = en->job->request_timeout * 1000L;
	if (!w->if_match && !v->fresh &&
	    verify_write(en, w, true, en->now + delay))
		return;
	log_info("%s %s: read back, not applied; sending it again", w->method,
		 w->url);
	en->st.retries++;
	if (v->fresh)
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
	delay = retry_next_delay_ms(&en->policy, op->attempts, status,
				    retry_after_s, jitter);
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

static long parse_retry_after(const char *v)
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
	if (op->reauthed && f->token_gen != op->reauth_gen)
		return false;
	op->reauthed = true;
	op->reauth_gen = f->token_gen;
	if (f->token_gen == en->token_gen) {
		auth_invalidate(&en->auth);
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
				sched_throttled(&en->sched, en->now,
						ra >= 0 ? ra * 1000 : -1);
				retry_op(en, op, st, ra, false, jitter);
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

static void flight_free(struct flight *f)
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
	sched_batch_done(&en->sched, en->now, &a);
	if (en->sched.batch != was)
		log_debug("batch size %d -> %d (answer of %zu operations in "
			  "%ld ms, HTTP %ld%s)",
			  was, en->sched.batch, f->n,
			  (long)(en->now - r->started_ms), status,
			  a.exec_limit ? ", execution-time limit" : "");
}

static int handle_done(struct engine *en, struct request *r)
{
	struct flight *f = r->owner;
	long ra_s, status = r->result == CURLE_OK ? r->status : 0;
	unsigned jitter = (unsigned)rand();

	if (f->token) {
		int rc = auth_finish(&en->auth, r, en->now, en->err);

		if (rc == 0) {
			en->token_gen++;
			log_token(en, false);
		}
		flight_free(f);
		request_free(r);
		return rc < 0 ? -1 : 0;
	}
	ra_s = parse_retry_after(r->retry_after);
	sched_done(&en->sched, en->now, status, ra_s >= 0 ? ra_s * 1000 : -1,
		   r->dop_hint);
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
		handle_batch_answer(en, f, r, jitter);
		goto out;
	}
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
			retry_op(en, op, status, ra_s, status != 429, jitter);
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

static void common_headers(struct engine *en, struct request *r)
{
	const char *auth = auth_header(&en->auth, en->now);

	if (auth)
		request_add_header(r, auth);
	request_add_header(r, "Accept: application/json");
	request_add_header(r, "OData-MaxVersion: 4.0");
	request_add_header(r, "OData-Version: 4.0");
}

static int send_batch(struct engine *en)
{
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
		struct batch_req br = {0};

		if (!op)
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
		journal_intent(en, op);
		f->ops[f->n++] = op;
		if (op->flags & ACTION_OP_ALONE)
			break;
	}
	snprintf(id, sizeof(id), "mbx%lu", ++en->batch_seq);
	if (batch_encode(&f->b, id, en->api_path, &body, &ct, &e) < 0)
		BUG("batch_encode: %s", e.msg);
	r = request_new("POST", en->batch_url);
	common_headers(en, r);
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
	f->token_gen = en->token_gen;
	f->epoch = en->sched.epoch;
	if (log_get_level() >= LOG_DEBUG)
		log_debug("POST $batch %s: %zu operations", id, f->n);
	{
		struct runlog_line l;

		if (runlog_begin(en->log, &l, LOG_DEBUG, "batch")) {
			runlog_str(&l, "id", id);
			runlog_int(&l, "operations", (long long)f->n);
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
	sched_sent(&en->sched);
	sched_batch_sent(&en->sched, (int)f->n);
	en->st.requests++;
	en->st.batches++;
	en->st.operations += f->n;
	return 0;
}

static int start_token(struct engine *en)
{
	struct request *r = auth_request(&en->auth, en->now, en->err);
	struct flight *f;

	if (!r)
		return -1;
	f = xcalloc(1, sizeof(*f));
	batch_init(&f->b);
	f->token = true;
	r->owner = f;
	if (http_start(&en->http, r, en->now, en->err) < 0) {
		flight_free(f);
		request_free(r);
		return -1;
	}
	en->st.requests++;
	return 0;
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

static int loop_once(struct engine *en, long cap_ms)
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

/*
 * Preflight.
 */
void engine_set_preflight(struct engine *en, const struct preflight *pf)
{
	en->pf = pf;
}

int engine_prefetch(struct engine *en, char *const *urls, size_t n,
		    struct err *e)
{
	bool pending;

	en->err = e;
	en->now = clock_ms();
	for (size_t i = 0; i < n; i++) {
		void **slot = table_slot(&en->lookups, urls[i], true);
		struct lookup *l;
		struct op *op;

		if (*slot)
			continue;
		l = xcalloc(1, sizeof(*l));
		l->url = xstrdup(urls[i]);
		*slot = l;
		op = op_new(OP_LOOKUP, "GET", urls[i], NULL);
		op->lookup = l;
		enqueue(en, op);
	}
	for (;;) {
		pending = false;
		for (size_t i = 0; i < n && !pending; i++) {
			const struct lookup *l =
			    *table_slot(&en->lookups, urls[i], false);

			pending = !l->done;
		}
		if (!pending)
			return 0;
		if (en->stop && *en->stop)
			return err_set(e, ERR_INTERNAL, "interrupted");
		if (loop_once(en, 1000) < 0)
			return -1;
	}
}

const cJSON *engine_cached(struct engine *en, const char *url, const char **err)
{
	void **slot = table_slot(&en->lookups, url, false);
	const struct lookup *l = slot ? *slot : NULL;

	if (err)
		*err = l && l->done && !l->json ? l->error : "not fetched";
	return l && l->done ? l->json : NULL;
}

void engine_seed(struct engine *en, const char *url, cJSON *json)
{
	void **slot = table_slot(&en->lookups, url, true);
	struct lookup *l;

	if (*slot) {
		cJSON_Delete(json);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->url = xstrdup(url);
	l->done = true;
	l->json = json;
	*slot = l;
}
