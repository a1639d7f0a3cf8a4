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
	      .throttled = 1},
	     10000,
	     "rows 50/200, failed 2, retries 7, throttled waits 1, "
	     "5.0 rows/s, ETA 0:30"},
	    {{.done = 0, .total = 0},
	     0,
	     "rows 0/?, failed 0, retries 0, throttled waits 0, "
	     "0.0 rows/s, ETA ?"},
	    {{.done = 10, .total = 7210},
	     1000,
	     "rows 10/7210, failed 0, retries 0, throttled waits 0, "
	     "10.0 rows/s, ETA 12:00"},
	};
	char line[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		progress_format(line, sizeof(line), &t[i].c, t[i].elapsed_ms);
		assert_string_equal(line, t[i].want);
	}
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
	assert_non_null(strstr(text, "mbxfix: rows 1/2"));
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
	    cmocka_unit_test(test_plain_mode_throttles_lines),
	    cmocka_unit_test(test_disabled_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
