/*
 * engine_int.h: the engine's internal structures and the functions shared
 * between src/engine.c, src/engine_row.c, src/engine_resolve.c and
 * src/engine_ops.c.
 *
 * Internal to src/engine*.c: the rest of the program uses engine.h.
 */
#ifndef MBXFIX_ENGINE_INT_H
#define MBXFIX_ENGINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "action.h"
#include "batch.h"
#include "engine.h"
#include "retry.h"
#include "sched.h"
#include "table.h"

/* Engine-only operation flag (next to action.h's ACTION_OP_*). */
#define OP_ANNOTATIONS 0x100 /* Prefer: odata.include-annotations=... */
#define OP_PAGING 0x200	     /* ... the FetchXML paging annotations */
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
struct preflight_failure;

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
	size_t lane;	     /* the user it last went out as */
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

/* A shared answer that arrived before a row asked for it. */
struct delivery {
	struct delivery *next;
	struct shared *sh;
	struct waiter w;
};

struct flight {
	struct batch b;
	size_t lane; /* the user it went out as (struct lane) */
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

/*
 * One signed-in user (docs/architecture.md, "Users"): auth's own
 * (lane 0, whose sched is also the engine's: timers and batch size), each
 * of auth.pool, and approve_auth (approve writes only). Each has its
 * token, its Retry-After gate and its share of the parallelism from its
 * own x-ms-dop-hint, since the service protection limits are per user.
 */
struct lane {
	struct auth *auth;   /* &en->auth for lane 0, else &own_auth */
	struct sched *sched; /* &en->sched for lane 0, else &own_sched */
	struct auth own_auth;
	struct sched own_sched;
	const char *client_id; /* borrowed from the job */
	bool pool;	       /* auth's or one of auth.pool */
	bool approver;	       /* approve_auth */
	bool dropped;	       /* its sign-in failed: not used any more */
	unsigned token_gen;    /* bumped with every new token */
	int64_t gate_start;    /* when its current gate closed */
	unsigned long writes;  /* writes it sent */
	long budget_ms;	       /* x-ms-ratelimit-time-remaining, -1: unknown */
	int64_t budget_at;     /* when it was reported */
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
	struct lane *lanes; /* nlanes >= 1 */
	size_t nlanes;
	int approve_lane; /* index of approve_auth's, -1 without */
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
	/*
	 * $batch requests that failed as a whole (no answer, or an error
	 * status) since the last one the service answered: the length of
	 * the current outage, which sets how long retries back off
	 */
	int fail_streak;
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

/* engine.c */
int64_t clock_ms(void);
void add_waiter(struct waiter **w, size_t *n, size_t *a, struct eng_row *row,
		int action, int tag);
struct op *op_new(enum op_kind kind, const char *method, const char *url,
		  char *body);
void op_free(struct op *op);
void enqueue(struct engine *en, struct op *op);
struct op *dequeue(struct queue *q);
void make_ready(struct engine *en, struct eng_row *row);
void order_del(struct engine *en, struct eng_row *row);
int loop_once(struct engine *en, long cap_ms);

/* engine_row.c */
void row_free(struct engine *en, struct eng_row *row);
void fail_row(struct engine *en, struct eng_row *row, const char *code,
	      const char *message, const char *hint);
void fail_row_preflight(struct engine *en, struct eng_row *row,
			const struct preflight_failure *f);
void log_row(struct engine *en, const struct row *row, const char *result,
	     const char *action, const char *code, const char *message);
void apply_step(struct engine *en, struct eng_row *row, int id,
		enum action_step step, bool from_plan);
/* Move 'row' on as far as it can go; 0, or -1 on a fatal error. */
int advance(struct engine *en, struct eng_row *row);

/* engine_resolve.c */
void flush_group(struct engine *en, bool ids);
void want_resolve(struct engine *en, struct eng_row *row);
const char *string_item(const cJSON *obj, const char *name);
void pass_gate(struct engine *en);
void resolved(struct engine *en, struct op *op, cJSON *json);

/* engine_ops.c */
void note_throttle(struct engine *en, const char *body, size_t len, long ra_s);
void log_throttle_wait(struct engine *en, double waited_s, const char *during);
void log_retry(struct engine *en, const char *method, const char *url,
	       int attempt, const char *cause, long status, long delay_ms,
	       size_t row);
void log_token(struct engine *en, const struct lane *ln, bool first);
char *print_body(cJSON *body);
void deliver_shared(struct engine *en, struct shared *sh,
		    const struct waiter *w);
void journal_outcome(struct engine *en, struct op *op, long status);
long parse_retry_after(const char *v);
void flight_free(struct flight *f);
int handle_done(struct engine *en, struct request *r);
void common_headers(struct engine *en, const struct lane *ln,
		    struct request *r);
int send_batch(struct engine *en, size_t lane);
int start_token(struct engine *en, size_t lane);

/* engine_lanes.c */
int lanes_init(struct engine *en, struct err *e);
void lanes_release(struct engine *en);
/* Sign every lane in (engine_connect): device code prompts included. */
int lanes_sign_in(struct engine *en, struct err *e);
/* The first lane that is neither dropped nor approve_auth's. */
struct lane *lane_main(struct engine *en);
/* Start the token requests that are due. -1 with en->err set. */
int lanes_tokens(struct engine *en);
/* The lane to send the queues' next operations with, or -1. */
int lane_pick(struct engine *en);
/* Does 'op' go out with 'ln' (approve writes with approve_auth)? */
bool lane_takes(const struct engine *en, const struct lane *ln,
		const struct op *op);
/*
 * Is another pool user than 'lane' open now (signed in, not held by its
 * gate)? A throttled operation is then sent again at once, by it.
 */
bool lane_other_open(const struct engine *en, size_t lane);
/* Every usable lane is held by its Retry-After gate; 'until' the first
 * to open. */
bool lanes_gated(const struct engine *en, int64_t *until);
/* How long the loop may sleep for the lanes (gates, token retries). */
long lanes_wait_ms(const struct engine *en, long wait);
/*
 * approve_auth: say whether the person may approve (WhoAmI, the
 * systemuser's roles, the token's directory roles), before any write.
 */
int lanes_check_approver(struct engine *en, struct err *e);
/* A lane's sign-in failed for good: drop it, or -1 when none is left. */
int lane_drop(struct engine *en, struct lane *ln, const struct err *why);

#endif
