#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "progress.h"

static void test_format(void **state)
{
	static const struct {
		struct progress_counts c;
		int64_t elapsed_ms;
		const char *want;
	} t[] = {
	    {{.done = 50,
	      .total = 200,
	      .failed = 2,
	      .retries = 7,
	      .throttled = 1,
	      .phase = PROGRESS_WRITING},
	     10000,
	     "0:10 writing, rows 50/200, failed 2, ETA 0:30, 5.0 rows/s, "
	     "retries 7, throttled waits 1"},
	    {{.done = 0, .total = 0},
	     0,
	     "0:00 starting, rows 0/?, failed 0, ETA ?, 0.0 rows/s, "
	     "retries 0, throttled waits 0"},
	    {{.done = 10,
	      .total = 7210,
	      .phase = PROGRESS_TESTING,
	      .testing = 12},
	     1000,
	     "0:01 testing 12 mailboxes, rows 10/7210, failed 0, ETA 12:00, "
	     "10.0 rows/s, retries 0, throttled waits 0"},
	    {{.done = 100,
	      .total = 100000,
	      .phase = PROGRESS_WAITING,
	      .wait_s = 12},
	     3725000,
	     "1:02:05 waiting 12 s for Retry-After, rows 100/100000, failed 0, "
	     "ETA 1033:41:15, 0.0 rows/s, retries 0, throttled waits 0"},
	};
	char line[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		progress_format(line, sizeof(line), &t[i].c, t[i].elapsed_ms,
				0);
		assert_string_equal(line, t[i].want);
	}
}

/* Narrower terminals: fields go or shorten, the line never gets wider. */
static void test_format_fits_width(void **state)
{
	const struct progress_counts c = {.done = 120,
					  .total = 513,
					  .failed = 3,
					  .retries = 7,
					  .throttled = 2,
					  .phase = PROGRESS_WAITING,
					  .wait_s = 12};
	char line[512];

	(void)state;
	progress_format(line, sizeof(line), &c, 9600, 200);
	assert_string_equal(line, "0:09 waiting 12 s for Retry-After, rows "
				  "120/513, failed 3, ETA 0:31, 12.5 rows/s, "
				  "retries 7, throttled waits 2");
	progress_format(line, sizeof(line), &c, 9600, 80);
	assert_string_equal(line, "0:09 waiting 12 s for Retry-After, rows "
				  "120/513, failed 3, ETA 0:31, 12.5 rows/s");
	progress_format(line, sizeof(line), &c, 9600, 79);
	assert_string_equal(line, "0:09 wait 12s, 120/513, failed 3, ETA 0:31, "
				  "12.5/s");
	progress_format(line, sizeof(line), &c, 9600, 59);
	assert_string_equal(line, "0:09 wait 12s, 120/513, failed 3, ETA 0:31, "
				  "12.5/s");
	progress_format(line, sizeof(line), &c, 9600, 35);
	assert_string_equal(line, "0:09 wait 12s, 120/513, failed 3");
	progress_format(line, sizeof(line), &c, 9600, 10);
	assert_string_equal(line, "wait 12s, ");
	for (int cols = 1; cols <= 200; cols++) {
		progress_format(line, sizeof(line), &c, 9600, cols);
		assert_true(strlen(line) <= (size_t)cols);
		assert_true(strlen(line) > 0);
	}
}

/* On a terminal: the line is rewritten in place, cut to 'cols' - 1. */
static void test_tty_line_in_place(void **state)
{
	struct progress p;
	const struct progress_counts c = {
	    .done = 5, .total = 10, .phase = PROGRESS_RESOLVING};
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	progress_init(&p, fp, true, true, 0);
	p.cols = 31;
	progress_update(&p, PROGRESS_TTY_MS, &c, false);
	progress_update(&p, 2 * PROGRESS_TTY_MS, &c, true);
	fclose(fp);
	assert_string_equal(text, "\r0:00 resolving, 5/10, failed 0\033[K"
				  "\r0:00 resolving, 5/10, failed 0\033[K\n");
	free(text);
}

static void test_plain_mode_throttles_lines(void **state)
{
	struct progress p;
	struct progress_counts c = {.done = 1, .total = 2};
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	progress_init(&p, fp, true, false, 0);
	progress_update(&p, 100, &c, false); /* too soon: nothing */
	progress_update(&p, PROGRESS_PLAIN_MS, &c, false);
	progress_update(&p, PROGRESS_PLAIN_MS + 10, &c, false);
	progress_update(&p, PROGRESS_PLAIN_MS + 20, &c, true); /* final */
	fclose(fp);
	/* two lines: one after the interval, one final */
	assert_int_equal(strchr(text, '\n') - text + 1 < (long)len, 1);
	assert_non_null(strstr(text, "mbxfix: 0:05 starting, rows 1/2"));
	{
		int lines = 0;

		for (size_t i = 0; i < len; i++)
			lines += text[i] == '\n';
		assert_int_equal(lines, 2);
	}
	free(text);
}

static void test_disabled_writes_nothing(void **state)
{
	struct progress p;
	struct progress_counts c = {.done = 1};
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	progress_init(&p, fp, false, true, 0);
	progress_update(&p, 100000, &c, true);
	fclose(fp);
	assert_int_equal(len, 0);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_format_fits_width),
	    cmocka_unit_test(test_tty_line_in_place),
	    cmocka_unit_test(test_plain_mode_throttles_lines),
	    cmocka_unit_test(test_disabled_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
