#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "retention.h"

#include "io_util.h"

#include "banned.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s", io_tmpdir());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	io_rmrf(dir);
	return 0;
}

static bool exists(const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0;
}

/* A run folder: 'summary' NULL = none (killed), else its summary.json. */
static void run(const char *id, const char *summary)
{
	char p[128];

	{
		char d[512];

		snprintf(d, sizeof(d), "%s/%s", dir, id);
		assert_int_equal(mkdir(d, 0777), 0);
	}
	snprintf(p, sizeof(p), "%.64s/results.csv", id);
	io_write(dir, p, "mailbox,result\r\n", (size_t)-1);
	if (summary) {
		snprintf(p, sizeof(p), "%.64s/summary.json", id);
		io_write(dir, p, summary, (size_t)-1);
	}
}

static void latest(const char *name, const char *id)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	assert_int_equal(symlink(id, p), 0);
}

struct seen {
	char names[16][64];
	int n;
};

static void note(void *ctx, const char *run_id, const char *why)
{
	struct seen *s = ctx;

	assert_null(why);
	snprintf(s->names[s->n++], 64, "%s", run_id);
}

#define DONE "{\n  \"interrupted\": false,\n  \"rows\": 3\n}\n"
#define STOPPED "{\n  \"interrupted\": true,\n  \"rows\": 1\n}\n"

static void test_keeps_newest_and_pointed(void **state)
{
	struct err e = ERR_INIT;
	struct seen s = {0};
	size_t removed = 99;

	(void)state;
	run("20261101T020000Z-100", DONE);    /* old, complete: goes */
	run("20261102T020000Z-101", NULL);    /* old, killed: goes too */
	run("20261103T020000Z-102", STOPPED); /* 'latest': stays */
	run("20261104T020000Z-103", DONE);    /* 'latest-plan': stays */
	run("20261105T020000Z-104", DONE);    /* old, complete: goes */
	run("20261106T020000Z-105", DONE);    /* kept: among the 2 newest */
	run("20261106T020000Z-105-2", DONE);  /* kept: the newest */
	latest("latest", "20261103T020000Z-102");
	latest("latest-plan", "20261104T020000Z-103");
	{
		char p[512];

		snprintf(p, sizeof(p), "%s/notes", dir);
		assert_int_equal(mkdir(p, 0777), 0);
	}
	io_write(dir, "20261101T010000Z-1", "a file, not a run", (size_t)-1);

	assert_int_equal(retention_prune(dir, 2, note, &s, &removed, &e), 0);
	assert_int_equal(removed, 3);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "20261105T020000Z-104");
	assert_string_equal(s.names[1], "20261102T020000Z-101");
	assert_string_equal(s.names[2], "20261101T020000Z-100");
	assert_false(exists("20261101T020000Z-100"));
	assert_false(exists("20261102T020000Z-101"));
	assert_false(exists("20261105T020000Z-104"));
	assert_true(exists("20261103T020000Z-102"));
	assert_true(exists("20261104T020000Z-103"));
	assert_true(exists("20261106T020000Z-105"));
	assert_true(exists("20261106T020000Z-105-2"));
	assert_true(exists("latest"));
	assert_true(exists("latest-plan"));
	assert_true(exists("notes"));
	assert_true(exists("20261101T010000Z-1"));

	/* again: nothing more can go */
	s.n = 0;
	assert_int_equal(retention_prune(dir, 2, note, &s, &removed, &e), 0);
	assert_int_equal(removed, 0);

	/* keep = 1: the newest, plus what the pointers name */
	assert_int_equal(retention_prune(dir, 1, note, &s, &removed, &e), 0);
	assert_int_equal(removed, 1);
	assert_false(exists("20261106T020000Z-105"));
	assert_true(exists("20261106T020000Z-105-2"));
	assert_true(exists("20261103T020000Z-102"));
	assert_true(exists("20261104T020000Z-103"));
}

static void test_keep_zero_keeps_all(void **state)
{
	struct err e = ERR_INIT;
	size_t removed = 99;

	(void)state;
	for (int i = 0; i < 5; i++) {
		char id[64];

		snprintf(id, sizeof(id), "2026110%dT020000Z-1", i + 1);
		run(id, DONE);
	}
	latest("latest", "20261105T020000Z-1");
	assert_int_equal(retention_prune(dir, 0, NULL, NULL, &removed, &e), 0);
	assert_int_equal(removed, 0);
	assert_true(exists("20261101T020000Z-1"));
	assert_int_equal(retention_prune(dir, 3, NULL, NULL, &removed, &e), 0);
	assert_int_equal(removed, 2);
	assert_false(exists("20261101T020000Z-1"));
	assert_false(exists("20261102T020000Z-1"));
	assert_true(exists("20261103T020000Z-1"));
}

static void test_run_ids(void **state)
{
	(void)state;
	assert_true(retention_is_run_id("20261120T231500Z-4242"));
	assert_true(retention_is_run_id("20261120T231500Z-4242-2"));
	assert_false(retention_is_run_id("latest"));
	assert_false(retention_is_run_id("20261120T231500Z"));
	assert_false(retention_is_run_id("20261120T231500Z-"));
	assert_false(retention_is_run_id("2026112XT231500Z-1"));
	assert_false(retention_is_run_id("20261120T231500Z-1/.."));
	assert_false(retention_is_run_id(".latest-42"));
}

static void test_missing_dir(void **state)
{
	struct err e = ERR_INIT;
	char p[512];

	(void)state;
	snprintf(p, sizeof(p), "%s/none", dir);
	assert_int_equal(retention_prune(p, 3, NULL, NULL, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keeps_newest_and_pointed,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keep_zero_keeps_all, setup,
					    teardown),
	    cmocka_unit_test(test_run_ids),
	    cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
