#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "engine_int.h"

/* An engine with 'n' pool users (the last one approve_auth's when
 * 'approver'), no sign-in needed, one write queued. */
struct fixture {
	struct engine en;
	struct job job;
	struct op op;
};

static void setup_lanes(struct fixture *f, size_t n, bool approver)
{
	memset(f, 0, sizeof(*f));
	f->job.npool = n - 1;
	f->en.job = &f->job;
	f->en.stop = NULL;
	sched_init(&f->en.sched, 0, 0);
	f->en.sched.op_ms = 10; /* a batch of 10 costs 100 ms */
	f->en.sched.batch = 10;
	f->en.lanes = xcalloc(n, sizeof(*f->en.lanes));
	f->en.nlanes = n;
	f->en.approve_lane = -1;
	for (size_t i = 0; i < n; i++) {
		struct lane *ln = &f->en.lanes[i];

		ln->auth = &ln->own_auth;
		ln->own_auth.method = JOB_AUTH_NONE;
		ln->sched = &ln->own_sched;
		sched_init(ln->sched, 4, 0);
		ln->pool = true;
		ln->budget_ms = -1;
		ln->client_id = "c";
	}
	if (approver) {
		f->en.lanes[n - 1].pool = false;
		f->en.lanes[n - 1].approver = true;
		f->en.approve_lane = (int)n - 1;
		f->job.npool--;
	}
	f->op.kind = OP_ROW;
	f->op.action = ACTION_SET_DELIVERY;
	f->op.method = (char *)"PATCH";
	f->en.writes.head = f->en.writes.tail = &f->op;
	f->en.writes.n = 1;
	f->en.now = 100000;
}

static void teardown_lanes(struct fixture *f)
{
	for (size_t i = 0; i < f->en.nlanes; i++)
		sched_release(&f->en.lanes[i].own_sched);
	free(f->en.lanes);
	sched_release(&f->en.sched);
}

static void budget(struct fixture *f, size_t i, long ms)
{
	f->en.lanes[i].budget_ms = ms;
	f->en.lanes[i].budget_at = f->en.now;
}

static void test_most_budget_first(void **state)
{
	struct fixture f;

	(void)state;
	setup_lanes(&f, 3, false);
	budget(&f, 0, 5000);
	budget(&f, 1, 9000);
	budget(&f, 2, 7000);
	assert_int_equal(lane_pick(&f.en), 1);
	/* unknown budget counts as the most (nothing spent yet) */
	f.en.lanes[2].budget_ms = -1;
	assert_int_equal(lane_pick(&f.en), 2);
	teardown_lanes(&f);
}

static void test_ties_go_to_the_least_busy(void **state)
{
	struct fixture f;

	(void)state;
	setup_lanes(&f, 3, false);
	sched_sent(f.en.lanes[0].sched);
	sched_sent(f.en.lanes[0].sched);
	sched_sent(f.en.lanes[1].sched);
	assert_int_equal(lane_pick(&f.en), 2);
	teardown_lanes(&f);
}

static void test_throttled_full_dropped_skipped(void **state)
{
	struct fixture f;

	(void)state;
	setup_lanes(&f, 3, false);
	/* lane 0 throttled: its gate holds it, the others go on */
	sched_throttled(f.en.lanes[0].sched, f.en.now, 30000);
	assert_true(lane_other_open(&f.en, 0));
	assert_int_not_equal(lane_pick(&f.en), 0);
	/* lane 1 at its concurrency limit */
	for (int i = 0; i < 4; i++)
		sched_sent(f.en.lanes[1].sched);
	assert_int_equal(lane_pick(&f.en), 2);
	/* lane 2 dropped: nobody can send, but not every lane is gated */
	f.en.lanes[2].dropped = true;
	assert_int_equal(lane_pick(&f.en), -1);
	assert_false(lanes_gated(&f.en, NULL));
	/* lane 1 throttled too: every usable lane is held */
	sched_throttled(f.en.lanes[1].sched, f.en.now, 20000);
	{
		int64_t until = 0;

		assert_true(lanes_gated(&f.en, &until));
		assert_int_equal(until, f.en.now + 20000);
	}
	assert_false(lane_other_open(&f.en, 0));
	/* the gate opens: lane 0 again */
	f.en.now += 30000;
	assert_int_equal(lane_pick(&f.en), 0);
	teardown_lanes(&f);
}

static void test_low_budget_skipped_until_news(void **state)
{
	struct fixture f;

	(void)state;
	setup_lanes(&f, 2, false);
	budget(&f, 0, 50);   /* less than one batch (100 ms) */
	budget(&f, 1, 250);  /* two batches */
	assert_int_equal(lane_pick(&f.en), 1);
	sched_sent(f.en.lanes[1].sched);
	assert_int_equal(lane_pick(&f.en), 1); /* 2 x 100 <= 250 */
	sched_sent(f.en.lanes[1].sched);
	/* three would need 300: neither can send */
	assert_int_equal(lane_pick(&f.en), -1);
	/* lane 0 has nothing in flight: asked again after a while */
	f.en.now += 1000;
	assert_int_equal(lane_pick(&f.en), 0);
	teardown_lanes(&f);
}

static void test_approvals_only_by_approve_auth(void **state)
{
	struct fixture f;

	(void)state;
	setup_lanes(&f, 3, true);
	assert_int_equal(lane_pick(&f.en), 0); /* a delivery write */
	assert_false(lane_takes(&f.en, &f.en.lanes[2], &f.op));
	f.op.action = ACTION_APPROVE;
	assert_int_equal(lane_pick(&f.en), 2);
	assert_true(lane_takes(&f.en, &f.en.lanes[2], &f.op));
	assert_false(lane_takes(&f.en, &f.en.lanes[0], &f.op));
	/* a read of the approve action goes with anyone */
	f.op.method = (char *)"GET";
	assert_int_equal(lane_pick(&f.en), 0);
	/* approve_auth throttled: the approval waits for it */
	f.op.method = (char *)"PATCH";
	sched_throttled(f.en.lanes[2].sched, f.en.now, 5000);
	assert_int_equal(lane_pick(&f.en), -1);
	assert_false(lane_other_open(&f.en, 2));
	teardown_lanes(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_most_budget_first),
	    cmocka_unit_test(test_ties_go_to_the_least_busy),
	    cmocka_unit_test(test_throttled_full_dropped_skipped),
	    cmocka_unit_test(test_low_budget_skipped_until_news),
	    cmocka_unit_test(test_approvals_only_by_approve_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
