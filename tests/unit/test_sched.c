#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

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
	/* grow by one after 'limit' healthy answers, never past 2 * hint */
	for (int i = 0; i < 400; i++) {
		sched_sent(&s);
		sched_done(&s, 3000 + i, 204, -1, 8);
	}
	assert_int_equal(s.limit, 16);
	/* 5xx resets the healthy streak but does not shrink */
	sched_sent(&s);
	sched_done(&s, 5000, 503, -1, 0);
	assert_int_equal(s.limit, 16);
	assert_int_equal(s.healthy, 0);
	/* never below one */
	for (int i = 0; i < 10; i++)
		sched_throttled(&s, 6000, 10);
	assert_int_equal(s.limit, 1);
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

/*
 * The operations of failed requests are retried with jittered delays:
 * those that come due within one tick leave the heap in the same turn of
 * the loop (and go out in one request), never before they were due.
 */
static void test_retries_come_due_together(void **state)
{
	struct sched s;
	int a, b, c, row;

	(void)state;
	sched_init(&s, 4, 0);
	sched_retry_add(&s, 1000 + 510, &a);
	sched_retry_add(&s, 1000 + 590, &b);
	sched_retry_add(&s, 1000 + 620, &c);
	sched_timer_add(&s, 1000 + 530, &row); /* a plain timer: exact */
	assert_int_equal(sched_wait_ms(&s, 1000, 5000), 530);
	assert_ptr_equal(sched_timer_pop(&s, 1530), &row);
	/* a and b are not due before 1590 at least, and come out together */
	assert_null(sched_timer_pop(&s, 1590));
	assert_int_equal(sched_wait_ms(&s, 1590, 5000), 10);
	assert_ptr_equal(sched_timer_pop(&s, 1600), &a);
	assert_ptr_equal(sched_timer_pop(&s, 1600), &b);
	assert_null(sched_timer_pop(&s, 1600));
	assert_ptr_equal(sched_timer_pop(&s, 1700), &c);
	/* already on a tick: not moved */
	sched_retry_add(&s, 1800, &a);
	assert_null(sched_timer_pop(&s, 1799));
	assert_ptr_equal(sched_timer_pop(&s, 1800), &a);
	sched_release(&s);
}

/*
 * Rows enter the window by the chunk: taken one by one as others
 * completed, each filled a lookup group alone and the groups went out one
 * request each. A row waiting on a retry still holds only its own place.
 */
static void test_refill_by_chunk(void **state)
{
	(void)state;
	assert_true(sched_refill(0, 2000, 500));
	assert_false(sched_refill(1999, 2000, 500));
	assert_false(sched_refill(1501, 2000, 500));
	assert_true(sched_refill(1500, 2000, 500));
	assert_true(sched_refill(3, 2000, 500));
	/* a chunk larger than the window: wait for an empty window */
	assert_false(sched_refill(1, 10, 500));
	assert_true(sched_refill(0, 10, 500));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fixed_limit),
	    cmocka_unit_test(test_retry_after_gate),
	    cmocka_unit_test(test_gate_only_moves_out),
	    cmocka_unit_test(test_adaptive_hint_backoff_growth),
	    cmocka_unit_test(test_503_retry_after_gates),
	    cmocka_unit_test(test_timers_order_and_wait),
	    cmocka_unit_test(test_timers_many),
	    cmocka_unit_test(test_retries_come_due_together),
	    cmocka_unit_test(test_refill_by_chunk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
