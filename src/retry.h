/*
 * retry.h: which failures are worth another attempt, and how long to wait
 * before it. Pure: the current time and the jitter are passed in, so tests
 * drive every decision.
 *
 * Transient HTTP statuses (docs/fidelity.md "retry only 429 and
 * transient 5xx"; Microsoft's sample policy retries 408 and 5xx):
 *   408 Request Timeout, 429 Too Many Requests, 500 Internal Server Error,
 *   502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout.
 * Everything else is final: other 4xx are answers about the request
 * itself, 501 Not Implemented and 505 and above will not change.
 * Every operation mbxfix sends is safe to repeat (PATCH of absolute values
 * with If-Match: *, AddPrivilegesRole, reads), which is why a 500 or a
 * transport failure in the middle of a request may be retried.
 */
#ifndef MBXFIX_RETRY_H
#define MBXFIX_RETRY_H

#include <stdbool.h>
#include <time.h>

struct retry_policy {
	long
	    base_ms; /* backoff before the 2nd attempt; doubled for each next */
	/*
	 * When > 0, the backoff before the 2nd attempt instead of base_ms
	 * (the 3rd still waits 2 * base_ms): one failed request among
	 * answered ones is most often a lone fault (a dropped connection,
	 * one 503), and the rows it held are the last to finish.
	 */
	long first_ms;
	long max_ms; /* cap of the backoff (before jitter) */
	/*
	 * Longest Retry-After worth waiting for: a server asking for more
	 * means give up now rather than hold the row.
	 */
	long budget_s;
	/* Attempts in all, the first included; 0 = no limit. */
	int max_attempts;
};

/*
 * Defaults: 200 ms before the 2nd attempt, then 1 s doubling to 8 s (15 s
 * of waits over 6 attempts, as with 500 ms doubling), Retry-After up to
 * 300 s (the service protection window), 6 attempts (docs/design.md).
 */
#define RETRY_POLICY_INIT                                                      \
	{                                                                      \
		.base_ms = 500, .first_ms = 200, .max_ms = 8000,               \
		.budget_s = 300, .max_attempts = 6                             \
	}

/*
 * Delay in ms before the next attempt, or -1 to give up.
 *
 * 'attempt': how many attempts have been made so far (1 after the first
 * one failed). 'http_status': the status that failed it, or 0 for a
 * transport failure that retry_is_transient() accepted. 'retry_after_s':
 * the server's Retry-After in seconds, -1 when absent (see
 * retry_parse_after(); CURLINFO_RETRY_AFTER reports 0 for "absent" and,
 * before curl 8.12, a negative value for a past date: clamp first).
 * 'jitter': any random value, injected so tests are deterministic.
 *
 * Gives up (-1) when the status is not transient, when 'max_attempts'
 * attempts have been made, or when Retry-After exceeds 'budget_s'.
 * Otherwise a Retry-After wins and is honoured exactly (retry_after_s *
 * 1000, no jitter). Without one: d = base_ms << (attempt - 1), capped at
 * max_ms (first_ms instead for attempt 1 when it is set), plus
 * jitter % (d / 4 + 1), so the result lies in [d, 1.25 * d] and jitter 0
 * gives exactly d.
 */
long retry_next_delay_ms(const struct retry_policy *p, int attempt,
			 long http_status, long retry_after_s, unsigned jitter);

/*
 * retry_next_delay_ms() for an operation of a run of many requests.
 * 'streak': how many requests in a row have failed as a whole (no answer
 * or an error status), this operation's included, since the service last
 * answered one. A lone failure (streak <= 1) waits as a first attempt
 * whatever 'attempt' is: the service is answering, only this operation
 * was unlucky. In an outage the wait grows with min(attempt, streak).
 * 'max_attempts' still counts every attempt.
 */
long retry_streak_delay_ms(const struct retry_policy *p, int attempt,
			   int streak, long http_status, long retry_after_s,
			   unsigned jitter);

/*
 * Is a failure worth another attempt? 'curl_code' is the CURLcode of the
 * transfer (0 = CURLE_OK, the server answered 'http_status').
 * Transient transport failures: could not connect, timed out, connection
 * reset or closed while sending or receiving (send/recv error, empty
 * reply, partial file, HTTP/2 stream error). Not transient: name
 * resolution, TLS and certificate failures, bad URLs, and anything else
 * that another attempt would repeat. When 'curl_code' is 0, the answer
 * is whether 'http_status' is one of the transient statuses above.
 */
bool retry_is_transient(long http_status, int curl_code);

/*
 * Parse a Retry-After header value: delay-seconds ("120") or an HTTP
 * date (IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete
 * RFC 850 and asctime forms, RFC 9110 §5.6.7). 'now' is the current
 * time (epoch seconds) used to turn a date into a delay. Leading and
 * trailing blanks are ignored.
 *
 * Returns 0 with '*delay_s' >= 0 (a date in the past gives 0; a huge
 * value is clamped to RETRY_AFTER_MAX_S), or -1 ('*delay_s' untouched)
 * when the value is neither form.
 */
#define RETRY_AFTER_MAX_S 86400L
int retry_parse_after(const char *value, time_t now, long *delay_s);

#endif
