/*
 * sched.h: how many requests may be in flight, and when (pure).
 *
 * No clock, no socket: every function takes the loop's time as 'now_ms'
 * (CLOCK_MONOTONIC, ms) so tests can drive it.
 *
 * - Concurrency: at most 'limit' requests in flight. With a fixed
 *   'parallel' the limit never changes. With parallel = 0 the limit starts
 *   small, jumps to the server's x-ms-dop-hint when one is seen, halves on
 *   each 429 and grows by one after 'limit' healthy answers in a row, never
 *   past the latest hint (or 'max' while there is none): the hint is the
 *   degree of parallelism Microsoft tells clients to use
 *   (docs/fidelity.md, "Batch size, parallelism and service protection").
 * - Batch size: operations per $batch. A fixed size never changes. Else it
 *   starts at SCHED_BATCH_START, doubles while answers come back fast and
 *   the execution-time budget the server reports is well inside, halves on
 *   an execution-time 429 (0x80072321), a slow answer or a timeout, and is
 *   capped so that a batch's estimated time (the quickest answer seen plus
 *   its operations times the measured time per operation) stays within
 *   'target_ms': a quarter of the request timeout, SCHED_TARGET_MS at most.
 * - Retry-After gate: after a 429 nothing is sent before now + Retry-After
 *   (the service limits are per user; a run signs in as one user, so the
 *   gate is global). A later 429 can only push the gate further out.
 * - Timers: a min-heap of (due_ms, item) for delayed retries, polls and
 *   other deadlines; sched_timer_pop() hands back the due ones in order.
 */
#ifndef MBXFIX_SCHED_H
#define MBXFIX_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SCHED_START_LIMIT 2  /* parallel = 0, before any hint */
#define SCHED_DEFAULT_MAX 32 /* parallel = 0, no hint: never more than this */
#define SCHED_HINT_MAX 256   /* a larger x-ms-dop-hint is taken as this */

#define SCHED_BATCH_START 10  /* operations per $batch at first */
#define SCHED_BATCH_MAX 100   /* never more when the size is chosen */
#define SCHED_TARGET_MS 5000  /* a batch's answer time aimed at, at most */
#define SCHED_TIMEOUT_SHARE 4 /* ... and 1/4 of the request timeout */
#define SCHED_GROW_AFTER 2    /* fast answers before the size doubles */
#define SCHED_SIZE_LOG 12     /* size changes kept: first and last N */
#define SCHED_ERR_EXEC_TIME "0x80072321" /* execution-time limit */

struct sched_timer {
	int64_t due_ms;
	uint64_t seq; /* insertion order: equal due times pop FIFO */
	void *item;
};

/* How the batch size evolved during a run, for the log (compact). */
struct sched_size_log {
	int first[SCHED_SIZE_LOG]; /* the first sizes chosen, in order */
	int last[SCHED_SIZE_LOG];  /* ring of the latest sizes chosen */
	unsigned long nsizes;	   /* sizes chosen (start + changes) */
	unsigned long grew, shrank;
	unsigned long hist[10]; /* batches sent: 1, 2-3, 4-7, ..., 512+ ops */
	unsigned long batches;
	int sent_first, sent_last, sent_min, sent_max;
};

struct sched {
	bool adaptive;
	int limit;		    /* current concurrency limit, >= 1 */
	int max;		    /* adaptive ceiling */
	int cap;		    /* sched_init()'s 'max', 0 = none */
	int hint;		    /* latest x-ms-dop-hint, 0 = none yet */
	int in_flight;		    /* requests sent and not answered */
	int healthy;		    /* healthy answers since the last change */
	int64_t gate_ms;	    /* nothing is sent before this */
	unsigned long throttled;    /* 429s seen */
	unsigned long gate_waits;   /* times a send was held by the gate */
	bool held;		    /* a send is held by the gate now */
	bool hinted;		    /* a dop hint was applied */
	struct sched_timer *timers; /* min-heap on (due_ms, seq) */
	size_t ntimers, alloc;
	uint64_t seq;

	/* batch size */
	bool batch_fixed;
	int batch;	  /* operations per $batch now */
	unsigned epoch;	  /* bumped with every change of 'batch' */
	int fast;	  /* fast answers at the current size */
	long target_ms;	  /* a batch's answer time aimed at */
	double op_ms;	  /* measured time per operation, 0 = unknown */
	bool op_guess;	  /* op_ms is the probe's guess */
	long base_ms;	  /* quickest answer seen, -1 = none */
	long budget_ms;	  /* x-ms-ratelimit-time-remaining, -1 = unknown */
	long budget_peak; /* the largest seen */
	struct sched_size_log log;
};

/* The answer to one $batch, for sched_batch_done(). */
struct sched_answer {
	int nops;	 /* operations it carried */
	unsigned epoch;	 /* s->epoch when it was sent */
	int64_t sent_ms; /* when it was sent */
	long status;	 /* HTTP status; 0 = no answer */
	bool timed_out;	 /* abandoned at the request timeout */
	bool exec_limit; /* a 429 0x80072321, of the request or a part */
	long budget_ms;	 /* x-ms-ratelimit-time-remaining, -1 = absent */
};

/*
 * 'parallel' > 0: fixed limit; 0: adaptive, never above the latest
 * x-ms-dop-hint (SCHED_DEFAULT_MAX while none came) nor 'max' if > 0.
 * The batch size starts chosen (sched_batch_init() changes that).
 * sched_release() frees the timer heap.
 */
void sched_init(struct sched *s, int parallel, int max);
void sched_release(struct sched *s);

/* true when one more request may be sent at 'now_ms'. */
bool sched_can_send(struct sched *s, int64_t now_ms);

/* A request was handed to the transport. */
void sched_sent(struct sched *s);

/*
 * A request finished. 'status' is the HTTP status (0 for a transport
 * failure), 'retry_after_ms' the Retry-After of a 429/503 (-1 if absent),
 * 'dop_hint' the x-ms-dop-hint header (0 if absent).
 */
void sched_done(struct sched *s, int64_t now_ms, long status,
		long retry_after_ms, int dop_hint);

/*
 * A throttling answer found inside a $batch part (the outer request was
 * 200): closes the gate and backs off like a 429 of the request itself.
 */
void sched_throttled(struct sched *s, int64_t now_ms, long retry_after_ms);

/* The gate: true while 'now_ms' is before it. */
bool sched_gated(const struct sched *s, int64_t now_ms);

/*
 * Batch size. 'fixed' > 0 fixes it (--batch-size); else it adapts, aiming
 * at answers within 'request_timeout_ms' / SCHED_TIMEOUT_SHARE (and
 * SCHED_TARGET_MS). Call after sched_init().
 */
void sched_batch_init(struct sched *s, int fixed, long request_timeout_ms);

/*
 * A request of 'nops' operations (or the probe, nops = 1) was answered
 * after 'answer_ms': a first measure of the time per operation.
 */
void sched_batch_probe(struct sched *s, int nops, long answer_ms);

/*
 * Operations for the next $batch when 'queued' are waiting: the current
 * size, capped by the time estimate, and split over the requests that may
 * be in flight when the queue is short (down to half the size).
 */
int sched_batch_size(const struct sched *s, size_t queued);

/* A $batch of 'nops' operations was sent (for the size log). */
void sched_batch_sent(struct sched *s, int nops);

/*
 * A $batch was answered (or abandoned) at 'now_ms': adapt the size. Only
 * batches sent at the current size move it, so one burst of answers to
 * batches sent before a change does not change it again.
 */
void sched_batch_done(struct sched *s, int64_t now_ms,
		      const struct sched_answer *a);

/*
 * x-ms-ratelimit-time-remaining-xrm-requests: seconds with thousands
 * separators and two decimals ("1,199.46"). Milliseconds, or -1 when
 * 'v' is NULL, empty or not of that form.
 */
long sched_parse_time_remaining(const char *v);

/*
 * One line on how the batch size evolved, appended to 'out': batches sent
 * (first, last, min, max size, a histogram) and the sizes chosen in turn.
 */
void sched_size_summary(const struct sched *s, struct buf *out);

/* Timers. The item pointer is borrowed; sched never dereferences it. */
void sched_timer_add(struct sched *s, int64_t due_ms, void *item);
/* The next due item (earliest first), or NULL when none is due. */
void *sched_timer_pop(struct sched *s, int64_t now_ms);
/* Remove every timer of 'item' (when it is freed early). */
void sched_timer_cancel(struct sched *s, const void *item);

/*
 * How long the loop may sleep, in ms: until the earliest timer or the
 * gate opening, capped at 'cap_ms'; 0 when something is due now.
 */
long sched_wait_ms(const struct sched *s, int64_t now_ms, long cap_ms);

#endif
