#include "compat.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "retry.h"

#include "banned.h"

/* The example of docs/design.md, with no attempt limit. */
static void test_retry_after_wins_over_backoff(void **state)
{
	static const struct {
		int attempt;
		long status, after_s, want_ms;
	} t[] = {
	    {1, 429, 2, 2000},	 /* server says 2 s */
	    {1, 503, -1, 500},	 /* no header: base backoff */
	    {3, 503, -1, 2000},	 /* doubled twice */
	    {1, 429, 90, -1},	 /* beyond the 60 s budget: give up */
	    {1, 400, -1, -1},	 /* not transient */
	    {1, 429, 60, 60000}, /* exactly the budget: wait */
	    {1, 429, 0, 0},	 /* Retry-After: 0 means now */
	    {2, 503, 5, 5000},	 /* Retry-After beats the 1 s backoff */
	    {1, 400, 5, -1},	 /* Retry-After on a final status */
	    {5, 500, -1, 8000},	 /* 500 << 4 = 8000, the cap */
	    {9, 502, -1, 8000},	 /* capped */
	    {40, 504, -1, 8000}, /* no overflow far out */
	    {1, 0, -1, 500},	 /* transport failure */
	    {2, 408, -1, 1000},
	};
	struct retry_policy p = {
	    .base_ms = 500, .max_ms = 8000, .budget_s = 60};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long got = retry_next_delay_ms(&p, t[i].attempt, t[i].status,
					       t[i].after_s, 0);

		if (got != t[i].want_ms)
			fail_msg("case %zu: attempt %d status %ld after %ld: "
				 "got %ld, want %ld",
				 i, t[i].attempt, t[i].status, t[i].after_s,
				 got, t[i].want_ms);
	}
}

static void test_max_attempts(void **state)
{
	struct retry_policy p = RETRY_POLICY_INIT;

	(void)state;
	assert_int_equal(p.max_attempts, 6);
	/* attempts 1..5 failed: one more is allowed; after the 6th, none */
	for (int a = 1; a < 6; a++)
		assert_true(retry_next_delay_ms(&p, a, 503, -1, 0) >= 0);
	assert_int_equal(retry_next_delay_ms(&p, 6, 503, -1, 0), -1);
	assert_int_equal(retry_next_delay_ms(&p, 6, 429, 1, 0), -1);
	assert_int_equal(retry_next_delay_ms(&p, 7, 503, -1, 0), -1);
	p.max_attempts = 1; /* no retry at all */
	assert_int_equal(retry_next_delay_ms(&p, 1, 503, -1, 0), -1);
	p.max_attempts = 0; /* no limit */
	assert_int_equal(retry_next_delay_ms(&p, 1000, 503, -1, 0), p.max_ms);
}

static void test_defaults(void **state)
{
	struct retry_policy p = RETRY_POLICY_INIT;

	(void)state;
	/* the service protection window is 300 s: honour up to that */
	assert_int_equal(retry_next_delay_ms(&p, 1, 429, 300, 0), 300000);
	assert_int_equal(retry_next_delay_ms(&p, 1, 429, 301, 0), -1);
	assert_int_equal(retry_next_delay_ms(&p, 2, 503, -1, 0), 1000);
}

/*
 * Lone failures among answered requests each wait as a first attempt,
 * however often the same operation was unlucky; a run of failed
 * requests (an outage) grows the wait with the operation's attempts, up
 * to the streak; the attempt limit counts every attempt either way.
 */
static void test_streak(void **state)
{
	struct retry_policy p = RETRY_POLICY_INIT;

	(void)state;
	assert_int_equal(retry_streak_delay_ms(&p, 1, 1, 503, -1, 0), 200);
	assert_int_equal(retry_streak_delay_ms(&p, 2, 1, 503, -1, 0), 200);
	assert_int_equal(retry_streak_delay_ms(&p, 4, 1, 0, -1, 0), 200);
	assert_int_equal(retry_streak_delay_ms(&p, 4, 0, 0, -1, 0), 200);
	/* an outage: as retry_next_delay_ms() */
	assert_int_equal(retry_streak_delay_ms(&p, 2, 2, 503, -1, 0), 1000);
	assert_int_equal(retry_streak_delay_ms(&p, 3, 2, 503, -1, 0), 1000);
	assert_int_equal(retry_streak_delay_ms(&p, 3, 30, 503, -1, 0), 2000);
	for (int a = 1; a < p.max_attempts; a++)
		assert_int_equal(retry_streak_delay_ms(&p, a, 100, 503, -1, 0),
				 retry_next_delay_ms(&p, a, 503, -1, 0));
	/* the limit and the other reasons to give up still hold */
	assert_int_equal(
	    retry_streak_delay_ms(&p, p.max_attempts, 1, 503, -1, 0), -1);
	assert_int_equal(retry_streak_delay_ms(&p, 1, 1, 404, -1, 0), -1);
	assert_int_equal(retry_streak_delay_ms(&p, 2, 1, 429, 7, 0), 7000);
	assert_in_range(retry_streak_delay_ms(&p, 3, 1, 503, -1, 49), 200, 250);
}

/*
 * A lone fault (a dropped connection, one 503 among answered requests)
 * is retried soon: the rows of that request are otherwise the last ones
 * of the run. The later attempts keep the long backoff, so a service
 * that stays down is still waited for as long as before (15 s).
 */
static void test_first_retry_short(void **state)
{
	struct retry_policy p = RETRY_POLICY_INIT;
	long total = 0;

	(void)state;
	assert_int_equal(retry_next_delay_ms(&p, 1, 503, -1, 0), 200);
	assert_int_equal(retry_next_delay_ms(&p, 1, 0, -1, 0), 200);
	assert_in_range(retry_next_delay_ms(&p, 1, 502, -1, 49), 200, 250);
	assert_int_equal(retry_next_delay_ms(&p, 1, 503, -1, 51), 200);
	/* Retry-After is still honoured exactly */
	assert_int_equal(retry_next_delay_ms(&p, 1, 503, 3, 7), 3000);
	for (int a = 1; a < p.max_attempts; a++)
		total += retry_next_delay_ms(&p, a, 503, -1, 0);
	assert_int_equal(total, 200 + 1000 + 2000 + 4000 + 8000);
	assert_int_equal(retry_next_delay_ms(&p, p.max_attempts, 503, -1, 0),
			 -1);
}

static void test_jitter_bounds(void **state)
{
	struct retry_policy p = {
	    .base_ms = 400, .max_ms = 8000, .budget_s = 60};
	long seen_min = LONG_MAX, seen_max = 0;

	(void)state;
	for (unsigned j = 0; j < 5000; j++) {
		long d1 = retry_next_delay_ms(&p, 1, 503, -1, j * 2654435761u);
		long d3 = retry_next_delay_ms(&p, 3, 503, -1, j * 2654435761u);

		/* within [d, 1.25 d] */
		assert_in_range(d1, 400, 500);
		assert_in_range(d3, 1600, 2000);
		if (d1 < seen_min)
			seen_min = d1;
		if (d1 > seen_max)
			seen_max = d1;
		/* jitter never touches a server's Retry-After */
		assert_int_equal(retry_next_delay_ms(&p, 1, 429, 7, j), 7000);
	}
	/* and it actually spreads the delays */
	assert_true(seen_max - seen_min >= 90);
	/* the same jitter gives the same delay */
	assert_int_equal(retry_next_delay_ms(&p, 2, 503, -1, 12345),
			 retry_next_delay_ms(&p, 2, 503, -1, 12345));
}

static void test_transient(void **state)
{
	static const struct {
		long status;
		int curl;
		bool want;
	} t[] = {
	    {429, CURLE_OK, true},
	    {503, CURLE_OK, true},
	    {502, CURLE_OK, true},
	    {504, CURLE_OK, true},
	    {500, CURLE_OK, true},
	    {408, CURLE_OK, true},
	    {501, CURLE_OK, false},
	    {505, CURLE_OK, false},
	    {200, CURLE_OK, false},
	    {204, CURLE_OK, false},
	    {400, CURLE_OK, false},
	    {401, CURLE_OK, false}, /* refresh the token, not a retry */
	    {403, CURLE_OK, false},
	    {404, CURLE_OK, false},
	    {412, CURLE_OK, false},
	    {0, CURLE_OK, false},
	    {0, CURLE_COULDNT_CONNECT, true},
	    {0, CURLE_OPERATION_TIMEDOUT, true},
	    {0, CURLE_SEND_ERROR, true},
	    {0, CURLE_RECV_ERROR, true}, /* connection reset */
	    {0, CURLE_GOT_NOTHING, true},
	    {0, CURLE_PARTIAL_FILE, true},
	    {0, CURLE_HTTP2_STREAM, true},
	    {0, CURLE_COULDNT_RESOLVE_HOST, false},
	    {0, CURLE_PEER_FAILED_VERIFICATION, false},
	    {0, CURLE_SSL_CONNECT_ERROR, false},
	    {0, CURLE_URL_MALFORMAT, false},
	    {0, CURLE_UNSUPPORTED_PROTOCOL, false},
	    {0, CURLE_OUT_OF_MEMORY, false},
	    {503, CURLE_RECV_ERROR, true},
	    {503, CURLE_SSL_CONNECT_ERROR, false}, /* the transport decides */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (retry_is_transient(t[i].status, t[i].curl) != t[i].want)
			fail_msg("case %zu: status %ld curl %d", i, t[i].status,
				 t[i].curl);
}

static void test_parse_after(void **state)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT */
	const time_t date = 784111777;
	static const struct {
		const char *value;
		long now_offset;
		int rc;
		long want;
	} t[] = {
	    {"120", 0, 0, 120},
	    {"0", 0, 0, 0},
	    {"  7 ", 0, 0, 7},
	    {"1\r\n", 0, 0, 1},
	    {"99999999999999999999", 0, 0, RETRY_AFTER_MAX_S},
	    {"Sun, 06 Nov 1994 08:49:37 GMT", -30, 0, 30},
	    {"Sun, 06 Nov 1994 08:49:37 GMT", 0, 0, 0},
	    {"Sun, 06 Nov 1994 08:49:37 GMT", 10, 0, 0}, /* past: now */
	    {"Sunday, 06-Nov-94 08:49:37 GMT", -2, 0, 2},
	    {"Sun Nov  6 08:49:37 1994", -5, 0, 5},
	    {"Sun Nov 6 08:49:37 1994", -5, 0, 5},
	    {"sun, 06 nov 1994 08:49:37 GMT", -1, 0, 1},
	    {"Sun, 06 Nov 1994 08:49:37 GMT", -200000, 0, RETRY_AFTER_MAX_S},
	    {"", 0, -1, 0},
	    {"   ", 0, -1, 0},
	    {"-5", 0, -1, 0},
	    {"+5", 0, -1, 0},
	    {"5s", 0, -1, 0},
	    {"1.5", 0, -1, 0},
	    {"soon", 0, -1, 0},
	    {"Sun, 06 Nov 1994 08:49:37", 0, -1, 0}, /* no GMT */
	    {"Sun, 06 Nov 1994 08:49:37 GMT junk", 0, -1, 0},
	    {"Sun, 06 Foo 1994 08:49:37 GMT", 0, -1, 0},
	    {"Sun, 32 Nov 1994 08:49:37 GMT", 0, -1, 0},
	    {"Sun, 06 Nov 1994 24:49:37 GMT", 0, -1, 0},
	    {"Sun, 06 Nov 1994 08:60:37 GMT", 0, -1, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long got = -42;
		int rc =
		    retry_parse_after(t[i].value, date + t[i].now_offset, &got);

		if (rc != t[i].rc || (rc == 0 && got != t[i].want))
			fail_msg("case %zu '%s': rc %d got %ld, want rc %d %ld",
				 i, t[i].value, rc, got, t[i].rc, t[i].want);
		if (rc < 0)
			assert_int_equal(got, -42);
	}
}

/* Dates on both sides of leap days and year ends agree with timegm(). */
static void test_parse_after_calendar(void **state)
{
	static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
					 "Thu", "Fri", "Sat"};
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};

	(void)state;
	/* every 7 hours 13 minutes from 1999 to 2040 */
	for (time_t t = 915148800; t < 2208988800; t += 7 * 3600 + 13 * 60) {
		struct tm tm;
		char s[64];
		long d = -1;

		assert_non_null(gmtime_r(&t, &tm));
		snprintf(s, sizeof(s), "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 wd[tm.tm_wday], tm.tm_mday, mon[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
		assert_int_equal(retry_parse_after(s, t - 61, &d), 0);
		if (d != 61)
			fail_msg("'%s' at %lld: %ld", s, (long long)t, d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_after_wins_over_backoff),
	    cmocka_unit_test(test_max_attempts),
	    cmocka_unit_test(test_first_retry_short),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_streak),
	    cmocka_unit_test(test_jitter_bounds),
	    cmocka_unit_test(test_transient),
	    cmocka_unit_test(test_parse_after),
	    cmocka_unit_test(test_parse_after_calendar),
	};
	return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
