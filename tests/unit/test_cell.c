/*
 * The neutraliser (results.c, cell.h) and the reader (rows.c) as a pair:
 * what spreadsheets would execute is marked, numbers are not, and reading
 * a written cell gives back its exact bytes.
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cell.h"
#include "results.h"
#include "rows.h"

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

static void test_numbers(void **state)
{
	static const char *const yes[] = {
	    "0",
	    "-12.5",
	    "+12.5",
	    "+33 1 23 45 67 89",
	    "-1,234.56",
	    "1.234,56",
	    "-1e5",
	    "+1.5E-3",
	    "-.5",
	    "12%",
	    "-12 345,67",
	    "+44 20 7946 0958",
	    "1\xc2\xa0"
	    "234",
	    "-1\xe2\x80\xaf"
	    "234,5",
	};
	static const char *const no[] = {
	    "",	     "-",     "+",	"--1",	 "-1-2",    "+1-555-0100",
	    "-1+1",  "=1",    "-A1",	"+1 ",	 "- 1",	    "-1,",
	    "-1..2", "-1e",   "-1e+",	"+1(2)", "-SUM(1)", "-1%%",
	    "-1 e5", "+1\t2", "-1\xc2", "-0x10", "-1_000",  "-1;2",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!cell_is_number(yes[i], strlen(yes[i])))
			fail_msg("'%s' should be a number", yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (cell_is_number(no[i], strlen(no[i])))
			fail_msg("'%s' should not be a number", no[i]);
}

static void test_dangerous(void **state)
{
	static const char *const yes[] = {
	    "=1+1",
	    "@SUM(A1)",
	    "\tx",
	    "\rx",
	    "+1-555-0100",
	    "-x",
	    "-",
	    "+SUM(1)",
	    "-1+cmd|'/c calc'!A0",
	    "=HYPERLINK(\"http://x\")",
	};
	static const char *const no[] = {
	    "",	   "a=b", "-12.5", "+33 1 23 45 67 89",
	    "'=1", "x@y", " =1",   "'-12",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!cell_dangerous(yes[i], strlen(yes[i])))
			fail_msg("'%s' should be dangerous", yes[i]);
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (cell_dangerous(no[i], strlen(no[i])))
			fail_msg("'%s' should not be dangerous", no[i]);
}

/* The writer's cell with the reader's removal applied. */
static void written_then_read(const char *v, struct buf *w, struct buf *r)
{
	const char *s;
	size_t len;

	buf_reset(w);
	buf_reset(r);
	if (results_csv_cell(w, v, strlen(v), ',', true) < 0)
		fail_msg("results_csv_cell('%s')", v);
	/* no quoting needed for these: the cell is the written bytes */
	s = w->ptr;
	len = w->len;
	if (cell_marked(s, len))
		s++, len--;
	buf_add(r, s, len);
}

/*
 * Every cell made of up to four bytes from an alphabet of the bytes that
 * matter comes back exactly, and writing what was read is a fixed point.
 */
static void test_mark_removed_exactly(void **state)
{
	static const char alpha[] = "'=+-@1. a";
	const size_t na = sizeof(alpha) - 1;
	struct buf w = BUF_INIT(1024), r = BUF_INIT(1024), w2 = BUF_INIT(1024),
		   r2 = BUF_INIT(1024);
	char v[8];
	size_t tried = 0;

	(void)state;
	for (size_t len = 0; len <= 4; len++) {
		size_t total = 1;

		for (size_t i = 0; i < len; i++)
			total *= na;
		for (size_t k = 0; k < total; k++) {
			size_t x = k;

			for (size_t i = 0; i < len; i++, x /= na)
				v[i] = alpha[x % na];
			v[len] = '\0';
			written_then_read(v, &w, &r);
			if (strcmp(r.ptr, v))
				fail_msg("'%s' written '%s' read '%s'", v,
					 w.ptr, r.ptr);
			/* a second round writes the same bytes */
			written_then_read(r.ptr, &w2, &r2);
			if (strcmp(w2.ptr, w.ptr))
				fail_msg("'%s' written '%s' then '%s'", v,
					 w.ptr, w2.ptr);
			/* the mark is there exactly when it must be */
			if ((w.len != len) != cell_needs_mark(v, len))
				fail_msg("'%s': mark %zu", v, w.len - len);
			tried++;
		}
	}
	assert_true(tried > 6000);
	buf_release(&w);
	buf_release(&r);
	buf_release(&w2);
	buf_release(&r2);
}

/* The reader removes the mark in every column, header included. */
static void test_reader_removes_mark_in_every_column(void **state)
{
	static const char *const cells[] = {
	    "=1+1", "'=1", "-12.5", "'abc", "''=x", "@x", "-x", "+33 1 2",
	};
	struct buf line = BUF_INIT(4096), hdr = BUF_INIT(4096);
	struct err e = ERR_INIT;
	struct rows *r;
	struct row *row;
	const char *path;

	(void)state;
	buf_addstr(&hdr, "mailbox");
	buf_addstr(&line, "a@x.com");
	for (size_t i = 0; i < ARRAY_SIZE(cells); i++) {
		buf_addf(&hdr, ",c%zu", i);
		buf_addch(&line, ',');
		results_csv_cell(&line, cells[i], strlen(cells[i]), ',', true);
	}
	buf_addch(&hdr, ',');
	results_csv_cell(&hdr, "=h", 2, ',', true);
	buf_addstr(&line, ",\n");
	buf_addch(&hdr, '\n');
	buf_addstr(&hdr, line.ptr);
	path = io_write(dir, "cells.csv", hdr.ptr, hdr.len);
	assert_int_equal(rows_open(&r, path, NULL, &e), 0);
	assert_string_equal(rows_header(r)[ARRAY_SIZE(cells) + 1], "=h");
	assert_int_equal(rows_next(r, &row, &e), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cells); i++)
		assert_string_equal(row->fields[i + 1], cells[i]);
	rows_row_free(row);
	rows_free(r);
	buf_release(&line);
	buf_release(&hdr);
}

/* Outputs are valid UTF-8: stray bytes become U+FFFD, NUL is dropped. */
static void test_writer_keeps_utf8_valid(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int_equal(results_csv_cell(&b,
					  "a\xe9"
					  "b\0c",
					  5, ',', true),
			 0);
	assert_string_equal(b.ptr, "a\xef\xbf\xbd"
				   "bc");
	buf_reset(&b);
	assert_int_equal(results_csv_cell(&b, "caf\xc3\xa9", 5, ',', true), 0);
	assert_string_equal(b.ptr, "caf\xc3\xa9");
	buf_reset(&b);
	/* what is left after cleaning decides the mark */
	assert_int_equal(results_csv_cell(&b, "\0=1", 3, ',', true), 0);
	assert_string_equal(b.ptr, "'=1");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_dangerous),
	    cmocka_unit_test(test_mark_removed_exactly),
	    cmocka_unit_test(test_reader_removes_mark_in_every_column),
	    cmocka_unit_test(test_writer_keeps_utf8_valid),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
