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
 *   past 'max' (or the hint's double).
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

#define SCHED_START_LIMIT 2  /* parallel = 0, before any hint */
#define SCHED_DEFAULT_MAX 32 /* parallel = 0: never more than this */

struct sched_timer {
	int64_t due_ms;
	uint64_t seq; /* insertion order: equal due times pop FIFO */
	void *item;
};

struct sched {
	bool adaptive;
	int limit;		    /* current concurrency limit, >= 1 */
	int max;		    /* adaptive ceiling */
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
};

/*
 * 'parallel' > 0: fixed limit; 0: adaptive, never above 'max' (0 means
 * SCHED_DEFAULT_MAX). sched_release() frees the timer heap.
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
 * Should new rows be taken into a window of 'window' rows holding
 * 'in_flight'? Only once 'chunk' places are free (or the window is
 * empty): rows taken one by one as others complete would each fill a
 * lookup group on its own, and every group would go out as a request of
 * one operation; taken by the chunk, their lookups go out packed.
 */
bool sched_refill(size_t in_flight, size_t window, size_t chunk);

/* Timers. The item pointer is borrowed; sched never dereferences it. */
void sched_timer_add(struct sched *s, int64_t due_ms, void *item);
/*
 * A retry's timer: 'due_ms' is rounded up to the next multiple of
 * SCHED_RETRY_TICK_MS, so retries that come due close together (the
 * operations of one failed request, or of requests that failed close
 * together) leave the heap in the same turn of the loop and go out packed
 * in one request instead of one request each. Never earlier than asked.
 */
#define SCHED_RETRY_TICK_MS 100
void sched_retry_add(struct sched *s, int64_t due_ms, void *item);
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
