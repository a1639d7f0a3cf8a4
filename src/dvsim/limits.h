/*
 * limits.h: Dataverse service protection limits for one application user
 * (docs/fidelity.md), as pure accounting: the caller passes the time in.
 *
 * Three measures over a sliding window: the number of requests (a $batch
 * counts once), the combined execution time (every operation counts), and
 * the requests in progress. The concurrency limit fails at once; the other
 * two are evaluated when a request arrives and, once exceeded, the user is
 * throttled until the window has recovered. A request sent while throttled
 * is refused and lengthens the throttled period by 'penalty_ms'.
 *
 * The window is kept as LIMITS_NBUCKETS time buckets, so memory does not
 * grow with the request rate; its edge is exact to one bucket width.
 */
#ifndef DVSIM_LIMITS_H
#define DVSIM_LIMITS_H

#include <stdbool.h>

#define LIMITS_NBUCKETS 256

struct limits_cfg {
	long window_ms;	     /* 300000 */
	long max_requests;   /* 6000 */
	long max_exec_ms;    /* 1200000 */
	long max_concurrent; /* 52 */
	long penalty_ms;     /* added per request sent while throttled */
};

enum limits_verdict {
	LIMITS_OK = 0,
	LIMITS_REQUESTS,   /* 0x80072322 */
	LIMITS_EXEC_TIME,  /* 0x80072321 */
	LIMITS_CONCURRENT, /* 0x80072326 */
};

struct limits_bucket {
	long idx; /* now_ms / width_ms of the bucket's slot, -1 if unused */
	long requests;
	long exec_ms;
};

struct limits_user {
	struct limits_bucket b[LIMITS_NBUCKETS];
	long width_ms;
	long concurrent;
	long throttled_until_ms; /* 0 when not throttled */
	enum limits_verdict throttle_reason;
};

void limits_user_init(struct limits_user *u, const struct limits_cfg *c);

/*
 * A request arrives at 'now_ms'. LIMITS_OK: it is admitted (counted, and
 * in progress until limits_done()). Otherwise it is refused and
 * '*retry_after_s' (>= 1) says when to come back; '*violation' is set when
 * it came while the user was already throttled.
 */
enum limits_verdict limits_admit(struct limits_user *u,
				 const struct limits_cfg *c, long now_ms,
				 long *retry_after_s, bool *violation);

/* An admitted request finished; it ran for 'exec_ms' in total. */
void limits_done(struct limits_user *u, const struct limits_cfg *c, long now_ms,
		 long exec_ms);

/* What is left in the window at 'now_ms' (never below 0). */
long limits_requests_left(const struct limits_user *u,
			  const struct limits_cfg *c, long now_ms);
long limits_exec_ms_left(const struct limits_user *u,
			 const struct limits_cfg *c, long now_ms);

/*
 * 'ms' as x-ms-ratelimit-time-remaining-xrm-requests writes it: seconds
 * with thousands separators and two decimals (1199460 -> "1,199.46").
 */
void limits_format_seconds(long ms, char *out, size_t outlen);

/* The error code and message Dataverse sends for 'v'. */
const char *limits_code(enum limits_verdict v);
int limits_message(enum limits_verdict v, const struct limits_cfg *c, char *out,
		   size_t outlen);

#endif
