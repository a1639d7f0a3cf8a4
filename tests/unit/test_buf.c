#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"

#include "banned.h"

static void test_starts_empty_and_terminated(void **state)
{
	struct buf b = BUF_INIT(16);

	(void)state;
	assert_non_null(b.ptr);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

static void test_cap_refuses_growth(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(buf_addstr(&b, "12345678"), 0);
	assert_int_equal(buf_addch(&b, '9'), -1);
	assert_string_equal(b.ptr, "12345678");
	assert_int_equal(buf_addf(&b, "%d", 1), -1);
	assert_int_equal(b.len, 8);
	buf_release(&b);
}

/* Appends at the edges of the allocated room and of the cap. */
static void test_add_edges(void **state)
{
	struct buf b = BUF_INIT(200);
	char big[200];

	(void)state;
	memset(big, 'x', sizeof(big));
	assert_int_equal(buf_add(&b, NULL, 0), 0); /* nothing, not even room */
	assert_int_equal(b.cap, 0);
	assert_int_equal(buf_addch(&b, 'a'), 0);
	/* fill the allocated room but the NUL, then one more byte */
	assert_int_equal(buf_add(&b, big, b.cap - b.len - 1), 0);
	assert_int_equal(b.len + 1, b.cap);
	assert_int_equal(buf_addch(&b, 'b'), 0);
	assert_true(b.len < b.cap);
	assert_int_equal(b.ptr[b.len], '\0');
	assert_int_equal(b.ptr[b.len - 1], 'b');
	/* up to the cap exactly, then refused without a change */
	assert_int_equal(buf_add(&b, big, 200 - b.len), 0);
	assert_int_equal(b.len, 200);
	assert_int_equal(buf_addch(&b, 'c'), -1);
	assert_int_equal(buf_addstr(&b, "c"), -1);
	assert_int_equal(b.len, 200);
	assert_int_equal(b.ptr[200], '\0');
	buf_reset(&b);
	assert_int_equal(buf_add(&b, big, 200), 0);
	assert_int_equal(buf_add(&b, big, 1), -1);
	buf_release(&b);
}

static void test_addf_and_detach(void **state)
{
	struct buf b = BUF_INIT(1024);
	size_t len;
	char *s;

	(void)state;
	for (int i = 0; i < 100; i++)
		assert_int_equal(buf_addf(&b, "%d,", i), 0);
	assert_int_equal(strncmp(b.ptr, "0,1,2,", 6), 0);
	s = buf_detach(&b, &len);
	assert_int_equal(len, strlen(s));
	assert_string_equal(b.ptr, "");
	free(s);
	s = buf_detach(&b, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_reset_keeps_memory(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	buf_addstr(&b, "hello");
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_true(b.cap > 0);
	assert_string_equal(b.ptr, "");
	buf_release(&b);
	assert_int_equal(b.cap, 0);
}

/* Decimal numbers as printf would write them, the extremes included. */
static void test_numbers(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	buf_addu(&b, 0);
	buf_addch(&b, ' ');
	buf_addu(&b, 18446744073709551615ULL);
	buf_addch(&b, ' ');
	buf_addi(&b, -1);
	buf_addch(&b, ' ');
	buf_addi(&b, (long long)(-9223372036854775807LL - 1));
	buf_addch(&b, ' ');
	buf_addi(&b, 9223372036854775807LL);
	buf_addch(&b, ' ');
	buf_addi(&b, 412);
	assert_string_equal(b.ptr, "0 18446744073709551615 -1 "
				   "-9223372036854775808 9223372036854775807 "
				   "412");
	buf_release(&b);
	/* past the cap: nothing appended */
	buf_init(&b, 3);
	assert_int_equal(buf_addu(&b, 12345), -1);
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_empty_and_terminated),
		cmocka_unit_test(test_cap_refuses_growth),
		cmocka_unit_test(test_add_edges),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_addf_and_detach),
		cmocka_unit_test(test_reset_keeps_memory),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
