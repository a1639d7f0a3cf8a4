#include "compat.h"

#include <string.h>

#include "limits.h"

#include "banned.h"

void limits_user_init(struct limits_user *u, const struct limits_cfg *c)
{
	memset(u, 0, sizeof(*u));
	u->width_ms = (c->window_ms + LIMITS_NBUCKETS - 1) / LIMITS_NBUCKETS;
	if (u->width_ms < 1)
		u->width_ms = 1;
	for (size_t i = 0; i < LIMITS_NBUCKETS; i++)
		u->b[i].idx = -1;
}

/* The oldest bucket index still inside the window ending at 'now_ms'. */
static long first_idx(const struct limits_user *u, const struct limits_cfg *c,
		      long now_ms)
{
	long cur = now_ms / u->width_ms;
	long first = (now_ms - c->window_ms) / u->width_ms + 1;

	if (now_ms - c->window_ms < 0)
		first = 0;
	if (first < cur - LIMITS_NBUCKETS + 1)
		first = cur - LIMITS_NBUCKETS + 1;
	return first;
}

static void sums(const struct limits_user *u, const struct limits_cfg *c,
		 long now_ms, long *req, long *exec)
{
	long first = first_idx(u, c, now_ms);

	*req = 0;
	*exec = 0;
	for (size_t i = 0; i < LIMITS_NBUCKETS; i++) {
		if (u->b[i].idx < first || u->b[i].idx > now_ms / u->width_ms)
			continue;
		*req += u->b[i].requests;
		*exec += u->b[i].exec_ms;
	}
}

static struct limits_bucket *bucket(struct limits_user *u, long now_ms)
{
	long idx = now_ms / u->width_ms;
	struct limits_bucket *b = &u->b[idx % LIMITS_NBUCKETS];

	if (b->idx != idx) {
		b->idx = idx;
		b->requests = 0;
		b->exec_ms = 0;
	}
	return b;
}

/*
 * When the window will be back under its limits: walk the buckets from
 * the oldest and let them expire until both sums are below their limits.
 */
static long recovery_ms(const struct limits_user *u, const struct limits_cfg *c,
			long now_ms)
{
	long req, exec, first = first_idx(u, c, now_ms);
	long cur = now_ms / u->width_ms;

	sums(u, c, now_ms, &req, &exec);
	for (long idx = first; idx <= cur; idx++) {
		const struct limits_bucket *b = &u->b[idx % LIMITS_NBUCKETS];

		if (req < c->max_requests && exec < c->max_exec_ms)
			break;
		if (b->idx != idx)
			continue;
		req -= b->requests;
		exec -= b->exec_ms;
		/* this bucket leaves the window at (idx + 1) * width + window
		 */
		if (req < c->max_requests && exec < c->max_exec_ms)
			return (idx + 1) * u->width_ms + c->window_ms;
	}
	return now_ms + u->width_ms;
}

static long ceil_s(long ms)
{
	long s = (ms + 999) / 1000;

	return s < 1 ? 1 : s;
}

enum limits_verdict limits_admit(struct limits_user *u,
				 const struct limits_cfg *c, long now_ms,
				 long *retry_after_s, bool *violation)
{
	long req, exec;

	*violation = false;
	*retry_after_s = 0;
	if (u->throttled_until_ms && now_ms < u->throttled_until_ms) {
		*violation = true;
		u->throttled_until_ms += c->penalty_ms;
		*retry_after_s = ceil_s(u->throttled_until_ms - now_ms);
		return u->throttle_reason;
	}
	u->throttled_until_ms = 0;
	if (u->concurrent >= c->max_concurrent) {
		*retry_after_s = 1;
		return LIMITS_CONCURRENT;
	}
	sums(u, c, now_ms, &req, &exec);
	if (req >= c->max_requests || exec >= c->max_exec_ms) {
		u->throttle_reason =
		    req >= c->max_requests ? LIMITS_REQUESTS : LIMITS_EXEC_TIME;
		u->throttled_until_ms = recovery_ms(u, c, now_ms);
		if (u->throttled_until_ms <= now_ms)
			u->throttled_until_ms = now_ms + 1;
		*retry_after_s = ceil_s(u->throttled_until_ms - now_ms);
		return u->throttle_reason;
	}
	bucket(u, now_ms)->requests++;
	u->concurrent++;
	return LIMITS_OK;
}

void limits_done(struct limits_user *u, const struct limits_cfg *c, long now_ms,
		 long exec_ms)
{
	(void)c;
	if (u->concurrent > 0)
		u->concurrent--;
	if (exec_ms > 0)
		bucket(u, now_ms)->exec_ms += exec_ms;
}

long limits_requests_left(const struct limits_user *u,
			  const struct limits_cfg *c, long now_ms)
{
	long req, exec;

	sums(u, c, now_ms, &req, &exec);
	return req >= c->max_requests ? 0 : c->max_requests - req;
}

long limits_exec_ms_left(const struct limits_user *u,
			 const struct limits_cfg *c, long now_ms)
{
	long req, exec;

	sums(u, c, now_ms, &req, &exec);
	return exec >= c->max_exec_ms ? 0 : c->max_exec_ms - exec;
}

const char *limits_code(enum limits_verdict v)
{
	switch (v) {
	case LIMITS_REQUESTS:
		return "0x80072322";
	case LIMITS_EXEC_TIME:
		return "0x80072321";
	case LIMITS_CONCURRENT:
		return "0x80072326";
	case LIMITS_OK:
		break;
	}
	return "";
}

/* 1200000 -> "1,200,000", as Dataverse writes the limit. */
static void grouped(long v, char *out, size_t outlen)
{
	char digits[32];
	size_t n, j = 0;

	n = (size_t)snprintf(digits, sizeof(digits), "%ld", v);
	for (size_t i = 0; i < n && j + 2 < outlen; i++) {
		if (i && (n - i) % 3 == 0 && digits[0] != '-')
			out[j++] = ',';
		out[j++] = digits[i];
	}
	out[j] = '\0';
}

void limits_format_seconds(long ms, char *out, size_t outlen)
{
	char whole[40];
	long cs = ms > 0 ? (ms + 5) / 10 : 0; /* hundredths, rounded */

	grouped(cs / 100, whole, sizeof(whole));
	snprintf(out, outlen, "%s.%02ld", whole, cs % 100);
}

int limits_message(enum limits_verdict v, const struct limits_cfg *c, char *out,
		   size_t outlen)
{
	long w = c->window_ms / 1000;
	char exec[40];

	switch (v) {
	case LIMITS_REQUESTS:
		return snprintf(out, outlen,
				"Number of requests exceeded the limit of %ld "
				"over time window of %ld seconds.",
				c->max_requests, w);
	case LIMITS_EXEC_TIME:
		grouped(c->max_exec_ms, exec, sizeof(exec));
		return snprintf(out, outlen,
				"Combined execution time of incoming requests "
				"exceeded limit of %s milliseconds over time "
				"window of %ld seconds. Decrease number of "
				"concurrent requests or reduce the duration of "
				"requests and try again later.",
				exec, w);
	case LIMITS_CONCURRENT:
		return snprintf(out, outlen,
				"Number of concurrent requests exceeded the "
				"limit of %ld.",
				c->max_concurrent);
	case LIMITS_OK:
		break;
	}
	return snprintf(out, outlen, "%s", "");
}
