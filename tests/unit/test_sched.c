#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "sched.h"

static void fill(struct sched *s, int64_t now)
{
	while (sched_can_send(s, now))
		sched_sent(s);
}

static void test_fixed_limit(void **state)
{
	struct sched s;

	(void)state;
	sched_init(&s, 3, 0);
	fill(&s, 0);
	assert_int_equal(s.in_flight, 3);
	/* healthy answers and hints never move a fixed limit */
	sched_done(&s, 10, 200, -1, 40);
	fill(&s, 10);
	assert_int_equal(s.in_flight, 3);
	assert_int_equal(s.limit, 3);
	sched_done(&s, 20, 429, 2000, 0);
	assert_int_equal(s.limit, 3);
	sched_release(&s);
}

static void test_retry_after_gate(void **state)
{
	static const struct {
		int64_t at;
		bool can;
	} t[] = {
	    {1000, false},
	    {2999, false},
	    {3000, true},
	    {5000, true},
	};
	struct sched s;

	(void)state;
	sched_init(&s, 4, 0);
	sched_sent(&s);
	sched_done(&s, 1000, 429, 2000, 0);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(sched_can_send(&s, t[i].at), t[i].can);
	/* the held sends were counted as one throttled wait */
	assert_int_equal(s.gate_waits, 1);
	assert_int_equal(s.throttled, 1);
	sched_release(&s);
}

static void test_gate_only_moves_out(void **state)
{
	struct sched s;

	(void)state;
	sched_init(&s, 4, 0);
	sched_throttled(&s, 0, 5000);
	sched_throttled(&s, 100, 1000); /* earlier end: ignored */
	assert_true(sched_gated(&s, 4999));
	assert_false(sched_gated(&s, 5000));
	sched_throttled(&s, 4000, 3000);
	assert_true(sched_gated(&s, 6999));
	/* no Retry-After: hold a second */
	sched_throttled(&s, 10000, -1);
	assert_true(sched_gated(&s, 10999));
	assert_false(sched_gated(&s, 11000));
	sched_release(&s);
}

static void test_adaptive_hint_backoff_growth(void **state)
{
	struct sched s;
	int64_t now = 0;

	(void)state;
	sched_init(&s, 0, 0);
	assert_int_equal(s.limit, SCHED_START_LIMIT);
	sched_sent(&s);
	sched_done(&s, now, 200, -1, 8);
	assert_int_equal(s.limit, 8);
	/* 429: halve and close the gate */
	sched_sent(&s);
	sched_done(&s, now, 429, 1000, 8);
	assert_int_equal(s.limit, 4);
	assert_false(sched_can_send(&s, 999));
	sched_sent(&s);
	sched_done(&s, 1000, 429, 1000, 0);
	assert_int_equal(s.limit, 2);
	/* a hint after throttling does not undo the back-off */
	sched_sent(&s);
	sched_done(&s, 2000, 200, -1, 8);
	assert_int_equal(s.limit, 2);
	/* grow by one after 'limit' healthy answers, never past the hint */
	for (int i = 0; i < 400; i++) {
		sched_sent(&s);
		sched_done(&s, 3000 + i, 204, -1, 8);
	}
	assert_int_equal(s.limit, 8);
	/* 5xx resets the healthy streak but does not shrink */
	sched_sent(&s);
	sched_done(&s, 5000, 503, -1, 0);
	assert_int_equal(s.limit, 8);
	assert_int_equal(s.healthy, 0);
	/* never below one */
	for (int i = 0; i < 10; i++)
		sched_throttled(&s, 6000, 10);
	assert_int_equal(s.limit, 1);
	sched_release(&s);
}

static void healthy(struct sched *s, int64_t now, int n, int hint)
{
	for (int i = 0; i < n; i++) {
		sched_sent(s);
		sched_done(s, now, 200, -1, hint);
	}
}

static void test_parallel_follows_hint(void **state)
{
	struct sched s;

	(void)state;
	/* no hint: grow towards SCHED_DEFAULT_MAX */
	sched_init(&s, 0, 0);
	healthy(&s, 0, 2000, 0);
	assert_int_equal(s.limit, SCHED_DEFAULT_MAX);
	sched_release(&s);

	/* a hint above the old ceiling is followed (real ones: 4 to 48) */
	sched_init(&s, 0, 0);
	healthy(&s, 0, 1, 48);
	assert_int_equal(s.limit, 48);
	healthy(&s, 0, 500, 48);
	assert_int_equal(s.limit, 48);
	/* a smaller hint later lowers the ceiling at once */
	healthy(&s, 0, 1, 4);
	assert_int_equal(s.limit, 4);
	healthy(&s, 0, 200, 4);
	assert_int_equal(s.limit, 4);
	/* a larger one raises it; the limit climbs towards it */
	healthy(&s, 0, 1, 12);
	assert_int_equal(s.max, 12);
	assert_in_range(s.limit, 4, 5);
	healthy(&s, 0, 400, 12);
	assert_int_equal(s.limit, 12);
	assert_int_equal(s.hint, 12);
	/* absurd hints are bounded */
	healthy(&s, 0, 1, 5000);
	assert_int_equal(s.max, SCHED_HINT_MAX);
	sched_release(&s);

	/* a fixed --parallel keeps its meaning whatever the hint */
	sched_init(&s, 6, 0);
	healthy(&s, 0, 1, 48);
	healthy(&s, 0, 100, 2);
	assert_int_equal(s.limit, 6);
	assert_int_equal(s.hint, 2);
	sched_release(&s);
}

/* A healthy $batch answer of 'nops' operations that took 'took' ms. */
static void answer(struct sched *s, int nops, long took, long budget_ms)
{
	struct sched_answer a = {
	    .nops = nops,
	    .epoch = s->epoch,
	    .sent_ms = 1000,
	    .status = 200,
	    .budget_ms = budget_ms,
	};

	sched_batch_done(s, 1000 + took, &a);
}

static void test_batch_grows_while_fast(void **state)
{
	struct sched s;

	(void)state;
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 120000);
	assert_int_equal(s.target_ms, SCHED_TARGET_MS);
	assert_int_equal(s.batch, SCHED_BATCH_START);
	assert_int_equal(sched_batch_size(&s, 1000), 10);
	/* one fast answer is not enough; two double the size */
	answer(&s, 10, 50, -1);
	assert_int_equal(s.batch, 10);
	answer(&s, 10, 50, -1);
	assert_int_equal(s.batch, 20);
	/* answers of batches much smaller than the size tell nothing */
	for (int i = 0; i < 5; i++)
		answer(&s, 9, 40, -1);
	assert_int_equal(s.batch, 20);
	/* fast answers (within half the target) keep doubling it... */
	for (int i = 0; i < 2; i++)
		answer(&s, 20, 70, -1);
	assert_int_equal(s.batch, 40);
	for (int i = 0; i < 4; i++)
		answer(&s, s.batch, 30 + 2 * s.batch, -1);
	assert_int_equal(s.batch, 100);
	/* ...never past SCHED_BATCH_MAX */
	for (int i = 0; i < 10; i++)
		answer(&s, 100, 230, -1);
	assert_int_equal(s.batch, SCHED_BATCH_MAX);
	assert_int_equal(sched_batch_size(&s, 100000), SCHED_BATCH_MAX);
	sched_release(&s);

	/* an answer between half the target and the target holds the size */
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 120000);
	for (int i = 0; i < 10; i++)
		answer(&s, 10, SCHED_TARGET_MS * 3 / 4, -1);
	assert_int_equal(s.batch, 10);
	sched_release(&s);
}

static void test_batch_grows_within_budget(void **state)
{
	struct sched s;

	(void)state;
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 120000);
	answer(&s, 10, 50, 1199460);
	answer(&s, 10, 50, 1199000);
	assert_int_equal(s.batch, 20);
	assert_int_equal(s.budget_peak, 1199460);
	/* less than half the budget left: fast answers no longer grow it */
	for (int i = 0; i < 10; i++)
		answer(&s, 20, 60, 500000);
	assert_int_equal(s.batch, 20);
	/* the window recovered: growth again */
	answer(&s, 20, 60, 900000);
	answer(&s, 20, 60, 900000);
	assert_int_equal(s.batch, 40);
	sched_release(&s);
}

static void test_batch_shrinks_on_exec_limit(void **state)
{
	struct sched s;
	struct sched_answer a = {.nops = 80,
				 .sent_ms = 0,
				 .status = 429,
				 .exec_limit = true,
				 .budget_ms = -1};
	unsigned old;

	(void)state;
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 120000);
	for (int i = 0; i < 6; i++)
		answer(&s, s.batch, 100, -1);
	assert_int_equal(s.batch, 80);
	old = s.epoch;
	a.epoch = old;
	sched_batch_done(&s, 20, &a);
	assert_int_equal(s.batch, 40);
	/* the other answers of that burst were sent at 80: no second halving */
	for (int i = 0; i < 5; i++)
		sched_batch_done(&s, 30, &a);
	assert_int_equal(s.batch, 40);
	/* a batch sent at 40 hits it again: 20 */
	a.epoch = s.epoch;
	sched_batch_done(&s, 40, &a);
	assert_int_equal(s.batch, 20);
	/* a 429 for the number of requests (0x80072322) leaves the size */
	a.epoch = s.epoch;
	a.exec_limit = false;
	sched_batch_done(&s, 50, &a);
	assert_int_equal(s.batch, 20);
	/* never below one */
	a.exec_limit = true;
	for (int i = 0; i < 10; i++) {
		a.epoch = s.epoch;
		sched_batch_done(&s, 60, &a);
	}
	assert_int_equal(s.batch, 1);
	assert_int_equal(sched_batch_size(&s, 1000), 1);
	sched_release(&s);
}

static void test_batch_shrinks_when_slow(void **state)
{
	struct sched s;
	struct sched_answer t = {
	    .sent_ms = 0, .timed_out = true, .budget_ms = -1};

	(void)state;
	/* request_timeout 8 s: a batch should answer within 2 s */
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 8000);
	assert_int_equal(s.target_ms, 2000);
	for (int i = 0; i < 6; i++)
		answer(&s, s.batch, 40 + s.batch, -1);
	assert_int_equal(s.batch, 80);
	/* slower than the target: halved */
	answer(&s, 80, 2100, -1);
	assert_int_equal(s.batch, 40);
	/* abandoned at the timeout: halved again, and the time per
	 * operation it shows caps the size: 8000 ms over 40 operations */
	t.nops = 40;
	t.epoch = s.epoch;
	sched_batch_done(&s, 8000, &t);
	assert_true(s.batch <= 20);
	assert_true(s.op_ms >= 150);
	assert_true(sched_batch_size(&s, 1000) * s.op_ms + s.base_ms <= 2000);
	sched_release(&s);
}

static void test_batch_capped_by_time(void **state)
{
	struct sched s;

	(void)state;
	/* request_timeout 2 s: 500 ms per batch; the probe took 100 ms */
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 2000);
	sched_batch_probe(&s, 1, 100);
	assert_int_equal(s.batch, 4);
	assert_int_equal(sched_batch_size(&s, 1000), 4);
	/*
	 * The service: 60 ms per request and 40 per operation. The size
	 * grows from 4 while a batch stays within 500 ms (about 11), not
	 * to 16 or beyond.
	 */
	for (int i = 0; i < 20; i++)
		answer(&s, s.batch, 60 + 40L * s.batch, -1);
	assert_in_range(s.batch, 8, 11);
	assert_true(60 + 40 * sched_batch_size(&s, 1000) <= 500);
	/* operations get slower (100 ms): the cap brings the size down */
	for (int i = 0; i < 20; i++)
		answer(&s, s.batch, 60 + 100L * s.batch, -1);
	assert_in_range(s.batch, 1, 4);
	assert_true(60 + 100 * sched_batch_size(&s, 1000) <= 500);
	sched_release(&s);
}

static void test_batch_fixed_and_spread(void **state)
{
	struct sched s;
	struct sched_answer a = {.nops = 25,
				 .sent_ms = 0,
				 .status = 429,
				 .exec_limit = true,
				 .budget_ms = -1};

	(void)state;
	/* --batch-size fixes the size whatever happens */
	sched_init(&s, 0, 0);
	sched_batch_init(&s, 25, 1000);
	sched_batch_probe(&s, 1, 900);
	sched_batch_done(&s, 10, &a);
	answer(&s, 25, 5000, -1);
	assert_int_equal(s.batch, 25);
	assert_int_equal(sched_batch_size(&s, 3), 25);
	sched_release(&s);

	/* chosen: a short queue is spread over the requests, down to half */
	sched_init(&s, 4, 0);
	sched_batch_init(&s, 0, 120000);
	for (int i = 0; i < 6; i++)
		answer(&s, s.batch, 50, -1);
	assert_int_equal(s.batch, 80);
	assert_int_equal(sched_batch_size(&s, 1000), 80);
	assert_int_equal(sched_batch_size(&s, 240), 60);
	assert_int_equal(sched_batch_size(&s, 40), 40);
	assert_int_equal(sched_batch_size(&s, 3), 40);
	sched_release(&s);
}

static void test_parse_time_remaining(void **state)
{
	static const struct {
		const char *in;
		long ms;
	} t[] = {
	    {"1,199.46", 1199460},
	    {"1,200.00", 1200000},
	    {"0.01", 10},
	    {"59.5", 59500},
	    {"1199.46", 1199460},
	    {"1,234,567.8", 1234567800L},
	    {"12,345,678.90", -1}, /* beyond any real budget */
	    {"300", 300000},
	    {" 1,199.46 ", 1199460},
	    {"1.234", 1234},
	    {"1.2345", 1234},
	    {"", -1},
	    {"abc", -1},
	    {"-5.00", -1},
	    {"1,19.46", -1},
	    {"1,1999.46", -1},
	    {"1234,567.00", -1},
	    {",199.46", -1},
	    {"1,199.", -1},
	    {"1,199.46 s", -1},
	    {"1,199,46", -1},
	    {"1.199.46", -1},
	    {".46", -1},
	    {"99999999999999999999", -1},
	};

	(void)state;
	assert_int_equal(sched_parse_time_remaining(NULL), -1);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		long got = sched_parse_time_remaining(t[i].in);

		if (got != t[i].ms)
			fail_msg("'%s': got %ld, want %ld", t[i].in, got,
				 t[i].ms);
	}
}

static void test_size_summary(void **state)
{
	struct sched s;
	struct buf b = BUF_INIT(BUF_MAX_SMALL);

	(void)state;
	sched_init(&s, 0, 0);
	sched_batch_init(&s, 0, 120000);
	healthy(&s, 0, 1, 4);
	sched_batch_sent(&s, 10);
	answer(&s, 10, 50, -1);
	sched_batch_sent(&s, 10);
	answer(&s, 10, 50, -1);
	sched_batch_sent(&s, 20);
	sched_batch_sent(&s, 3);
	sched_size_summary(&s, &b);
	assert_string_equal(b.ptr, "4 batches (first 10, last 3, min 3, max 20 "
				   "operations); by size 2-3:1 8-15:2 16-31:1; "
				   "chosen 10 20 (grew 1, shrank 0 times); "
				   "parallel 4 (x-ms-dop-hint 4)");
	/* a long run: the first and the last sizes, and how many between */
	for (int i = 0; i < 40; i++) {
		struct sched_answer a = {.nops = 1,
					 .epoch = s.epoch,
					 .status = 429,
					 .exec_limit = true,
					 .budget_ms = -1};

		sched_batch_done(&s, 10, &a);
		answer(&s, s.batch, 10, -1);
		answer(&s, s.batch, 10, -1);
	}
	buf_reset(&b);
	sched_size_summary(&s, &b);
	assert_non_null(strstr(b.ptr, "chosen 10 20 10 20 10 20 10 20 10 20 "
				      "10 20 ...(58 more) 10 20"));
	assert_non_null(strstr(b.ptr, "(grew 41, shrank 40 times)"));
	buf_release(&b);
	sched_release(&s);

	sched_init(&s, 2, 0);
	sched_batch_init(&s, 7, 120000);
	buf_reset(&b);
	sched_size_summary(&s, &b);
	assert_string_equal(b.ptr, "0 batches; by size; fixed at 7; "
				   "parallel 2");
	buf_release(&b);
	sched_release(&s);
}

static void test_503_retry_after_gates(void **state)
{
	struct sched s;

	(void)state;
	sched_init(&s, 2, 0);
	sched_sent(&s);
	sched_done(&s, 100, 503, 700, 0);
	assert_false(sched_can_send(&s, 799));
	assert_true(sched_can_send(&s, 800));
	sched_release(&s);
}

static void test_timers_order_and_wait(void **state)
{
	struct sched s;
	int a, b, c, d;

	(void)state;
	sched_init(&s, 1, 0);
	assert_int_equal(sched_wait_ms(&s, 0, 250), 250);
	sched_timer_add(&s, 300, &a);
	sched_timer_add(&s, 100, &b);
	sched_timer_add(&s, 100, &c); /* same time as b: after b */
	sched_timer_add(&s, 200, &d);
	assert_int_equal(sched_wait_ms(&s, 0, 1000), 100);
	assert_null(sched_timer_pop(&s, 99));
	assert_ptr_equal(sched_timer_pop(&s, 150), &b);
	assert_ptr_equal(sched_timer_pop(&s, 150), &c);
	assert_null(sched_timer_pop(&s, 150));
	sched_timer_cancel(&s, &d);
	assert_int_equal(sched_wait_ms(&s, 150, 1000), 150);
	assert_ptr_equal(sched_timer_pop(&s, 1000), &a);
	assert_null(sched_timer_pop(&s, 1000));
	/* the gate wakes the loop too */
	sched_throttled(&s, 0, 40);
	assert_int_equal(sched_wait_ms(&s, 0, 1000), 40);
	assert_int_equal(sched_wait_ms(&s, 50, 1000), 1000);
	sched_release(&s);
}

static void test_timers_many(void **state)
{
	struct sched s;
	static int items[1000];
	int64_t last = -1;

	(void)state;
	sched_init(&s, 1, 0);
	for (int i = 0; i < 1000; i++)
		sched_timer_add(&s, (i * 7919) % 1000, &items[i]);
	for (int i = 0; i < 1000; i++) {
		int *p = sched_timer_pop(&s, 5000);
		int64_t due = ((p - items) * 7919) % 1000;

		assert_non_null(p);
		assert_true(due >= last);
		last = due;
	}
	assert_null(sched_timer_pop(&s, 5000));
	sched_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_limit),
	    cmocka_unit_test(test_retry_after_gate),
	    cmocka_unit_test(test_gate_only_moves_out),
	    cmocka_unit_test(test_adaptive_hint_backoff_growth),
	    cmocka_unit_test(test_parallel_follows_hint),
	    cmocka_unit_test(test_batch_grows_while_fast),
	    cmocka_unit_test(test_batch_grows_within_budget),
	    cmocka_unit_test(test_batch_shrinks_on_exec_limit),
	    cmocka_unit_test(test_batch_shrinks_when_slow),
	    cmocka_unit_test(test_batch_capped_by_time),
	    cmocka_unit_test(test_batch_fixed_and_spread),
	    cmocka_unit_test(test_parse_time_remaining),
	    cmocka_unit_test(test_size_summary),
	    cmocka_unit_test(test_503_retry_after_gates),
	    cmocka_unit_test(test_timers_order_and_wait),
	    cmocka_unit_test(test_timers_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
