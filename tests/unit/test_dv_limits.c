/* Service protection accounting (limits.c): time is passed in. */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "dvsim/limits.h"

#include "banned.h"

static const struct limits_cfg cfg = {
    .window_ms = 10000,
    .max_requests = 3,
    .max_exec_ms = 100000,
    .max_concurrent = 2,
    .penalty_ms = 1000,
};

static enum limits_verdict admit(struct limits_user *u, long now, long *ra,
				 bool *viol)
{
	return limits_admit(u, &cfg, now, ra, viol);
}

static void test_request_count_window(void **state)
{
	struct limits_user u;
	long ra;
	bool viol;

	(void)state;
	limits_user_init(&u, &cfg);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(admit(&u, 1000 + i * 100, &ra, &viol),
				 LIMITS_OK);
		limits_done(&u, &cfg, 1000 + i * 100 + 10, 10);
	}
	assert_int_equal(limits_requests_left(&u, &cfg, 1300), 0);
	/* the 4th within the window: throttled until the first expires */
	assert_int_equal(admit(&u, 2000, &ra, &viol), LIMITS_REQUESTS);
	assert_false(viol);
	/* the first request leaves the window at about 11000 */
	assert_in_range(ra, 9, 10);
	/* still throttled at 5000: a violation that lengthens the period */
	assert_int_equal(admit(&u, 5000, &ra, &viol), LIMITS_REQUESTS);
	assert_true(viol);
	assert_in_range(ra, 7, 8);
	/* the old end (about 11000) is now 1 s later */
	assert_int_equal(admit(&u, 11500, &ra, &viol), LIMITS_REQUESTS);
	assert_true(viol);
	/* that violation added another second; after it, the window recovered
	 */
	assert_int_equal(admit(&u, 13600, &ra, &viol), LIMITS_OK);
	assert_false(viol);
	limits_done(&u, &cfg, 13600, 5);
}

static void test_recovery_without_violations(void **state)
{
	struct limits_user u;
	long ra;
	bool viol;

	(void)state;
	limits_user_init(&u, &cfg);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(admit(&u, 0, &ra, &viol), LIMITS_OK);
		limits_done(&u, &cfg, 0, 1);
	}
	assert_int_equal(admit(&u, 500, &ra, &viol), LIMITS_REQUESTS);
	assert_int_equal(ra, 10);
	/* honouring Retry-After works */
	assert_int_equal(admit(&u, 500 + ra * 1000, &ra, &viol), LIMITS_OK);
	assert_false(viol);
}

static void test_exec_time(void **state)
{
	struct limits_cfg c = cfg;
	struct limits_user u;
	long ra;
	bool viol;

	(void)state;
	c.max_requests = 1000;
	c.max_exec_ms = 500;
	limits_user_init(&u, &c);
	assert_int_equal(limits_admit(&u, &c, 0, &ra, &viol), LIMITS_OK);
	limits_done(&u, &c, 300, 300);
	assert_int_equal(limits_exec_ms_left(&u, &c, 400), 200);
	assert_int_equal(limits_admit(&u, &c, 400, &ra, &viol), LIMITS_OK);
	limits_done(&u, &c, 700, 300);
	assert_int_equal(limits_exec_ms_left(&u, &c, 800), 0);
	assert_int_equal(limits_admit(&u, &c, 800, &ra, &viol),
			 LIMITS_EXEC_TIME);
	assert_string_equal(limits_code(LIMITS_EXEC_TIME), "0x80072321");
	/* both buckets (300 and 700) must leave: 700 + window */
	assert_in_range(ra, 10, 11);
	assert_int_equal(limits_admit(&u, &c, 800 + ra * 1000, &ra, &viol),
			 LIMITS_OK);
}

static void test_format_seconds(void **state)
{
	static const struct {
		long ms;
		const char *out;
	} t[] = {
	    {1199460, "1,199.46"}, {1200000, "1,200.00"},
	    {0, "0.00"},	   {-5, "0.00"},
	    {4, "0.00"},	   {5, "0.01"},
	    {100, "0.10"},	   {999994, "999.99"},
	    {999995, "1,000.00"},  {86400000, "86,400.00"},
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		limits_format_seconds(t[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, t[i].out);
	}
}

static void test_concurrency(void **state)
{
	struct limits_cfg c = cfg;
	struct limits_user u;
	long ra;
	bool viol;

	(void)state;
	c.max_requests = 1000;
	limits_user_init(&u, &c);
	assert_int_equal(limits_admit(&u, &c, 0, &ra, &viol), LIMITS_OK);
	assert_int_equal(limits_admit(&u, &c, 0, &ra, &viol), LIMITS_OK);
	assert_int_equal(limits_admit(&u, &c, 0, &ra, &viol),
			 LIMITS_CONCURRENT);
	assert_int_equal(ra, 1);
	assert_false(viol);
	/* concurrency does not throttle: one finishes, the next gets in */
	limits_done(&u, &c, 10, 10);
	assert_int_equal(limits_admit(&u, &c, 11, &ra, &viol), LIMITS_OK);
	/* refused requests were not counted */
	assert_int_equal(limits_requests_left(&u, &c, 20), 1000 - 3);
}

static void test_messages(void **state)
{
	struct limits_cfg c = {.window_ms = 300000,
			       .max_requests = 6000,
			       .max_exec_ms = 1200000,
			       .max_concurrent = 52};
	char msg[512];

	(void)state;
	limits_message(LIMITS_REQUESTS, &c, msg, sizeof(msg));
	assert_string_equal(msg, "Number of requests exceeded the limit of "
				 "6000 over time window of 300 seconds.");
	limits_message(LIMITS_CONCURRENT, &c, msg, sizeof(msg));
	assert_string_equal(msg, "Number of concurrent requests exceeded the "
				 "limit of 52.");
	limits_message(LIMITS_EXEC_TIME, &c, msg, sizeof(msg));
	assert_non_null(strstr(msg, "limit of 1,200,000 milliseconds over "
				    "time window of 300 seconds"));
	assert_string_equal(limits_code(LIMITS_REQUESTS), "0x80072322");
	assert_string_equal(limits_code(LIMITS_CONCURRENT), "0x80072326");
}

static void test_big_window_buckets(void **state)
{
	struct limits_cfg c = {.window_ms = 300000,
			       .max_requests = 6000,
			       .max_exec_ms = 1200000,
			       .max_concurrent = 52,
			       .penalty_ms = 1000};
	struct limits_user u;
	long ra, t;
	bool viol;

	(void)state;
	limits_user_init(&u, &c);
	/* 6000 requests spread over 60 s fit; the next is refused */
	for (t = 0; t < 6000; t++) {
		assert_int_equal(limits_admit(&u, &c, t * 10, &ra, &viol),
				 LIMITS_OK);
		limits_done(&u, &c, t * 10, 0);
	}
	assert_int_equal(limits_admit(&u, &c, 60000, &ra, &viol),
			 LIMITS_REQUESTS);
	/* the oldest requests leave at about 300 s: Retry-After about 240 s */
	assert_in_range(ra, 238, 243);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_count_window),
	    cmocka_unit_test(test_recovery_without_violations),
	    cmocka_unit_test(test_exec_time),
	    cmocka_unit_test(test_format_seconds),
	    cmocka_unit_test(test_concurrency),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_big_window_buckets),
	};

	return cmocka_run_group_tests_name("dv_limits", tests, NULL, NULL);
}
