/*
 * action.h: the interface between the engine and the remediation actions.
 *
 * The engine (engine.c) streams rows, resolves each row's mailbox with
 * batched lookups, then walks the row's actions in docs/design.md order, one
 * stage at a time:
 *
 *	stage 0  fix_owner
 *	stage 1  set_profile + set_delivery   (one merged mailbox PATCH)
 *	stage 2  grant_privileges
 *	stage 3  approve
 *	stage 4  test_enable
 *
 * For each asked action of the current stage it calls plan(). An action
 * reads the row (rs->row, rows.h: values with job defaults applied,
 * already validated), the mailbox as read (rs->mailbox, with
 * every column named in the actions' 'columns') and any cached lookup,
 * then either says the target state already holds (ACTION_UNCHANGED),
 * or asks for writes/reads and returns ACTION_SENT:
 *
 *   - action_patch_mailbox(): add a property to the stage's mailbox PATCH.
 *     Every action of the stage adds to the same body; the engine sends
 *     one PATCH mailboxes(<id>) with If-Match: * and hands its answer to
 *     each action that added to it.
 *   - action_emit(): any other operation (POST an action, GET a read-back,
 *     PATCH another entity). With a 'share_key', operations of many rows
 *     carrying the same key are sent once and the one answer is handed to
 *     every row (a role granted once, reported on each row naming it).
 *
 * Operations are packed into $batch requests by the engine, retried when
 * transient (429, 5xx, resets, timeouts) and only the failed ones are
 * re-sent. answer() sees only the final answer of each operation: success,
 * or a definitive error (4xx, or retries exhausted).
 *
 * Lookups: action_lookup(c, url) returns the cached JSON answer of a GET
 * (relative URL, e.g. "emailserverprofiles?$select=...&$filter=..."); the
 * first call for a URL queues the GET and returns NULL with *pending set:
 * plan() then returns ACTION_WAIT and is called again when the answer is
 * in. A URL is fetched once per run however many rows ask for it.
 *
 * Multi-step actions keep their progress in rs->act[id].step and may ask
 * to be planned again later: answer() returns ACTION_AGAIN (plan() is
 * called again at once) or ACTION_WAIT after setting rs->act[id].wake_ms
 * (plan() is called again once that time has passed), e.g. polling.
 *
 * A failed action (action_fail()) marks the later actions of its row
 * 'skipped' with the reason; rows are independent.
 *
 * Everything runs on the engine's single thread; no locking.
 */
#ifndef MBXFIX_ACTION_H
#define MBXFIX_ACTION_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "rows.h"

struct job;
struct action_ctx; /* engine services, valid during a plan()/answer() call */

/*
 * The same numbering as enum rows_action (results column order); the run
 * order is given by each action's 'stage'.
 */
enum action_id {
	ACTION_SET_PROFILE = ROWS_SET_PROFILE,
	ACTION_SET_DELIVERY = ROWS_SET_DELIVERY,
	ACTION_FIX_OWNER = ROWS_FIX_OWNER,
	ACTION_GRANT_PRIVILEGES = ROWS_GRANT_PRIVILEGES,
	ACTION_APPROVE = ROWS_APPROVE,
	ACTION_TEST_ENABLE = ROWS_TEST_ENABLE,
	ACTION_COUNT = ROWS_NACTIONS
};

/* What an action reports in its results column. */
enum action_status {
	ACTION_ST_NONE = 0,   /* not asked: empty cell */
	ACTION_ST_PENDING,    /* asked, not finished */
	ACTION_ST_DONE,	      /* written and confirmed */
	ACTION_ST_UNCHANGED,  /* target state already held; nothing sent */
	ACTION_ST_WOULD,      /* plan: would be written */
	ACTION_ST_FAILED,     /* see the row's error */
	ACTION_ST_SKIPPED,    /* an earlier action of the row failed */
};

/* Return values of plan() and answer(). */
enum action_step {
	ACTION_UNCHANGED, /* plan(): nothing to do, state holds */
	ACTION_SENT,	  /* operations asked for; answers will follow */
	ACTION_WAIT,	  /* lookup pending, or wake at act[id].wake_ms */
	ACTION_AGAIN,	  /* answer(): call plan() again (next step) */
	ACTION_DONE,	  /* finished, written and confirmed */
	ACTION_FAILED,	  /* finished with action_fail() called */
};

/* Per-row, per-action progress kept by the engine for the action. */
struct action_state {
	enum action_status status;
	int step;	 /* the action's own step counter, starts at 0 */
	int64_t wake_ms; /* for ACTION_WAIT on time; 0 = not waiting */
	int outstanding; /* engine: answers still expected */
};

/*
 * The engine's state for one row in flight. Only rows in flight have one;
 * it is freed once the row's result line is handed to results.
 */
struct row_state {
	struct row *row;      /* the parsed input row (rows.h): effective
				 values, job defaults applied */
	unsigned long lineno; /* input row number, for messages */
	char mailbox_id[40];  /* resolved mailboxid (GUID) */
	cJSON *mailbox;	      /* the mailbox as read; NULL until resolved */
	unsigned asked;	      /* bit (1u << action_id) per asked action */
	struct action_state act[ACTION_COUNT];
	int stage;    /* current stage, 0..ACTION_STAGES */
	int attempts; /* most attempts any of its operations took */
	/*
	 * first failure of the row; the message and hint are allocated when
	 * set (most rows never fail), NULL until then
	 */
	char error_code[32];
	char *error_message;
	char *hint;
	/*
	 * statuses reported by test_enable, as results_status_name() writes
	 * them ("not-run", "success", "failure"); empty when unknown
	 */
	char status_incoming[16];
	char status_outgoing[16];
	char status_act[16];
	void *priv[ACTION_COUNT]; /* action-private data, freed by release() */
	/* plan: the value now and the value the run would leave, in words
	 * (plan_show.h); NULL when not shown */
	char *now[ACTION_COUNT];
	char *then[ACTION_COUNT];
};

#define ACTION_STAGES 5

/* The final answer to one operation an action asked for. */
struct action_answer {
	int tag;	     /* as given to action_emit(); 0 for the PATCH */
	long status;	     /* HTTP status of the operation (or its last try) */
	const char *body;    /* response body, NUL-terminated, may be "" */
	const cJSON *json;   /* body parsed as JSON, or NULL */
	const char *code;    /* error code ("0x80040217"), "" on success */
	const char *message; /* error message, "" on success */
	int attempts;
};

struct action {
	const char *name;  /* CSV name, e.g. "set_delivery" */
	enum action_id id;
	int stage;	   /* 0..ACTION_STAGES-1, see above */
	const char *columns; /* mailbox columns it reads, comma-separated */
	/*
	 * Decide, and ask for operations through the action_ctx. Returns
	 * ACTION_UNCHANGED, ACTION_SENT, ACTION_WAIT, ACTION_DONE or
	 * ACTION_FAILED (after action_fail()).
	 */
	enum action_step (*plan)(struct action_ctx *c, struct row_state *rs);
	/*
	 * Interpret the final answer to one of its operations (answers with
	 * a status >= 300 included). Returns ACTION_DONE, ACTION_FAILED
	 * (after action_fail()), ACTION_AGAIN, ACTION_WAIT, or ACTION_SENT
	 * when it asked for more operations from here.
	 */
	enum action_step (*answer)(struct action_ctx *c, struct row_state *rs,
				   const struct action_answer *a);
	/* Free rs->priv[id]; may be NULL. */
	void (*release)(struct row_state *rs);
};

/*
 * The registry (action.c), indexed by id: NULL for an action not built
 * in. action_get() runs in the engine's inner loops, so it is inline.
 */
extern const struct action *const action_registry[ACTION_COUNT];

static inline const struct action *action_get(enum action_id id)
{
	return (unsigned)id < ACTION_COUNT ? action_registry[id] : NULL;
}
/* By CSV name (case-insensitive); NULL when unknown. */
const struct action *action_by_name(const char *name);
/* The CSV name of 'id' (always known). */
const char *action_name(enum action_id id);

/*
 * Engine services, implemented in engine_row.c and engine_ops.c.
 */

/* true in `plan` mode: plan() runs, nothing is written (reads still are). */
bool action_readonly(const struct action_ctx *c);

/* The job being run (run.test_timeout, poll_interval...); borrowed. */
const struct job *action_job(const struct action_ctx *c);

/* Give the row a hint for its result unless it has one already. */
void action_hint(struct row_state *rs, const char *hint);

/* The current time (ms, monotonic) of the engine's loop. */
int64_t action_now_ms(const struct action_ctx *c);

/*
 * Add "name": value to the current stage's mailbox PATCH. 'value' is
 * consumed (owned by the body from now on).
 */
void action_patch_mailbox(struct action_ctx *c, const char *name,
			  cJSON *value);

/* Flags for action_emit(). */
#define ACTION_OP_IF_MATCH 0x1 /* add If-Match: * (every PATCH of a row) */
#define ACTION_OP_ALONE 0x2    /* send in a $batch of its own */

/*
 * Ask for one operation. 'url' is relative to the API root
 * ("roles(<id>)/Microsoft.Dynamics.CRM.AddPrivilegesRole"); 'body' is
 * consumed (may be NULL); 'share_key' (may be NULL) coalesces identical
 * operations of many rows into one; 'tag' comes back in the answer.
 */
void action_emit(struct action_ctx *c, const char *method, const char *url,
		 cJSON *body, const char *share_key, int tag, unsigned flags);

/*
 * The cached answer (parsed JSON) of GET 'url' (relative to the API root),
 * or NULL. When not cached yet the GET is queued, '*pending' is set and
 * plan() must return ACTION_WAIT. A lookup that failed for good returns
 * NULL with '*pending' false and '*err' (if not NULL) pointing at a
 * message borrowed from the cache.
 */
const cJSON *action_lookup(struct action_ctx *c, const char *url,
			   bool *pending, const char **err);

/*
 * Record the row's failure for this action: 'code' (Dataverse hex code or
 * our own short name), 'message', and 'hint' (what to do next, may be
 * NULL). The first failure of a row is the one reported.
 */
void action_fail(struct action_ctx *c, struct row_state *rs, const char *code,
		 const char *message, const char *hint);

/* Shortcut for answer(): fail with the answer's code and message. */
enum action_step action_fail_answer(struct action_ctx *c, struct row_state *rs,
				    const struct action_answer *a,
				    const char *hint);

/* The actions built in (action_*.c). */
extern const struct action action_set_delivery;
extern const struct action action_set_profile;
extern const struct action action_fix_owner;
extern const struct action action_grant_privileges;
extern const struct action action_approve;
extern const struct action action_test_enable;

#endif
