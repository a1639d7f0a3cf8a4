/*
 * What spreadsheets write, read by rows.c: encodings (UTF-16 with a
 * byte-order mark, input_encoding), delimiters (',', ';', TAB, '|' and a
 * "sep=" line), failed.csv's error columns, trailing empty fields.
 */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
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

static void assert_contains(const char *s, const char *sub)
{
	if (!strstr(s, sub))
		fail_msg("'%s' does not contain '%s'", s, sub);
}

/* Open 'csv' in 'enc'; rows without actions get "approve". */
static struct rows *open_enc(const char *csv, size_t len, const char *enc)
{
	struct rows_defaults d = {.actions = ROWS_ACT(ROWS_APPROVE)};
	struct err e = ERR_INIT;
	struct rows *r;
	const char *path = io_write(dir, "in.csv", csv, len);

	for (int i = 0; i < ROWS_NDELIVERY; i++)
		d.delivery[i] = ROWS_UNSET;
	if (rows_open_encoding(&r, path, &d, enc, &e) < 0)
		fail_msg("rows_open: %s", e.msg);
	return r;
}

/* The job-level error of opening 'csv'. */
static void open_fails(const char *csv, size_t len, const char *enc,
		       const char *want)
{
	struct err e = ERR_INIT;
	struct rows *r;
	const char *path = io_write(dir, "bad.csv", csv, len);

	assert_int_equal(rows_open_encoding(&r, path, NULL, enc, &e), -1);
	assert_null(r);
	assert_int_equal(e.kind, ERR_INPUT);
	assert_contains(e.msg, want);
}

static struct row *next(struct rows *r)
{
	struct err e = ERR_INIT;
	struct row *row;

	if (rows_next(r, &row, &e) < 0)
		fail_msg("rows_next: %s", e.msg);
	return row;
}

/* UTF-8 text as UTF-16 (LE or BE), BMP and surrogate pairs. */
static void to_utf16(struct buf *out, const char *s, bool le)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned long cp;
		int n;

		if (*p < 0x80)
			cp = *p, n = 0;
		else if (*p < 0xe0)
			cp = *p & 0x1f, n = 1;
		else if (*p < 0xf0)
			cp = *p & 0x0f, n = 2;
		else
			cp = *p & 0x07, n = 3;
		p++;
		while (n--)
			cp = (cp << 6) | (*p++ & 0x3f);
		if (cp >= 0x10000) {
			unsigned long v = cp - 0x10000;
			unsigned hi = 0xd800 + (unsigned)(v >> 10),
				 lo = 0xdc00 + (unsigned)(v & 0x3ff);

			buf_addch(out, (char)(le ? hi & 0xff : hi >> 8));
			buf_addch(out, (char)(le ? hi >> 8 : hi & 0xff));
			cp = lo;
		}
		buf_addch(out, (char)(le ? cp & 0xff : cp >> 8));
		buf_addch(out, (char)(le ? cp >> 8 : cp & 0xff));
	}
}

/*
 * Excel's "Unicode Text": UTF-16 LE with a byte-order mark, TAB-separated;
 * large enough that characters straddle the reads.
 */
static void test_utf16_unicode_text(void **state)
{
	static const char note[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
	struct buf u8 = BUF_INIT(SIZE_MAX / 2), u16 = BUF_INIT(SIZE_MAX / 2);
	const size_t nrows = 3000;
	struct rows *r;
	struct row *row;
	char want[128];

	(void)state;
	buf_addstr(&u8, "mailbox\tactions\tnote\r\n");
	for (size_t i = 1; i <= nrows; i++)
		buf_addf(&u8, "u%zu@x.com\tapprove\t%s %zu\r\n", i, note, i);
	for (int le = 1; le >= 0; le--) {
		buf_reset(&u16);
		buf_add(&u16, le ? "\xff\xfe" : "\xfe\xff", 2);
		to_utf16(&u16, u8.ptr, le);
		r = open_enc(u16.ptr, u16.len, NULL);
		assert_int_equal(rows_delim(r), '\t');
		assert_true(rows_has_bom(r));
		assert_string_equal(rows_encoding(r),
				    le ? "UTF-16LE" : "UTF-16BE");
		assert_string_equal(rows_header(r)[2], "note");
		for (size_t i = 1; i <= nrows; i++) {
			row = next(r);
			assert_non_null(row);
			if (!row->valid)
				fail_msg("row %zu: %s", i, row->error);
			assert_int_equal(row->line, i + 1);
			snprintf(want, sizeof(want), "%s %zu", note, i);
			assert_string_equal(row->fields[2], want);
			rows_row_free(row);
		}
		assert_null(next(r));
		rows_free(r);
	}
	buf_release(&u8);
	buf_release(&u16);
}

/* Excel's plain "CSV" on Windows: Windows-1252, named by input_encoding. */
static void test_windows_1252(void **state)
{
	static const char csv[] = "mailbox;note\r\n"
				  "a@x.com;caf\xe9 \x80 \x9c\r\n"
				  "b@x.com;na\xefve\r\n";
	struct rows *r;
	struct row *row;

	(void)state;
	r = open_enc(csv, sizeof(csv) - 1, "windows-1252");
	assert_false(rows_has_bom(r));
	assert_string_equal(rows_encoding(r), "windows-1252");
	row = next(r);
	assert_string_equal(row->fields[1],
			    "caf\xc3\xa9 \xe2\x82\xac \xc5\x93");
	rows_row_free(row);
	row = next(r);
	assert_string_equal(row->fields[1], "na\xc3\xafve");
	rows_row_free(row);
	rows_free(r);

	/* without the setting, the row says what to do */
	r = open_enc(csv, sizeof(csv) - 1, NULL);
	assert_null(rows_encoding(r));
	row = next(r);
	assert_false(row->valid);
	assert_contains(row->error, "row 1 (line 2): column 'note': not valid "
				    "UTF-8");
	assert_contains(row->error, "save it as \"CSV UTF-8\"");
	assert_contains(row->error, "input_encoding");
	rows_row_free(row);
	rows_free(r);

	/* "UTF-8" is no decoding; a UTF-8 byte-order mark wins */
	r = open_enc("\xef\xbb\xbfmailbox\na@x.com\n", (size_t)-1,
		     "windows-1252");
	assert_null(rows_encoding(r));
	assert_true(rows_has_bom(r));
	rows_free(r);
	r = open_enc("mailbox\na@x.com\n", (size_t)-1, "utf-8");
	assert_null(rows_encoding(r));
	rows_free(r);
}

static void test_encoding_errors(void **state)
{
	static const char u16_no_bom[] = "m\0a\0i\0l\0b\0o\0x\0\r\0\n\0";

	(void)state;
	open_fails("mailbox\na@x.com\n", (size_t)-1, "no-such-encoding",
		   "input_encoding 'no-such-encoding' is not an encoding");
	/* 0x81 has no character in Windows-1252 */
	open_fails("mailbox\na@x.com\nb\x81@x.com\n", (size_t)-1,
		   "windows-1252",
		   "line 3: a character that windows-1252 "
		   "cannot decode (byte 0x81)");
	open_fails("mailbox,n\xe9\n", (size_t)-1, NULL,
		   "column 2 of the header is not valid UTF-8: save the file "
		   "as \"CSV UTF-8\"");
	open_fails(u16_no_bom, sizeof(u16_no_bom) - 1, NULL,
		   "Set input_encoding = \"UTF-16LE\"");
	/* a UTF-16 file cut in the middle of a character */
	open_fails("\xff\xfem\0a\0i\0l\0b\0o\0x\0\n\0a", 19, NULL,
		   "the file ends in a character");
}

static void test_delimiters(void **state)
{
	static const struct {
		const char *csv;
		char delim;
		size_t line; /* of the first row */
	} t[] = {
	    {"mailbox,notes\na@x.com,n\n", ',', 2},
	    {"mailbox;notes\na@x.com;n\n", ';', 2},
	    {"mailbox\tnotes\na@x.com\tn\n", '\t', 2},
	    {"mailbox|notes\na@x.com|n\n", '|', 2},
	    /* TAB wins a tie: a name may hold a comma, hardly a TAB */
	    {"mailbox\tnotes, free\na@x.com\tn\n", '\t', 2},
	    {"\"a|b\",mailbox,notes\nx,a@x.com,n\n", ',', 2},
	    /* a first line sep=X, as Excel reads it */
	    {"sep=;\r\nmailbox;notes,x\r\na@x.com;n,x\r\n", ';', 3},
	    {"sep=|\nmailbox|notes;a;b\na@x.com|n;a;b\n", '|', 3},
	    {"SEP=,\nmailbox,notes;x;y\na@x.com,n;x;y\n", ',', 3},
	    /* saved again by a spreadsheet, with empty cells after it */
	    {"sep=;;\r\nmailbox;notes\r\na@x.com;n\r\n", ';', 3},
	    {"\xef\xbb\xbfsep=\t\nmailbox\tnotes\na@x.com\tn\n", '\t', 3},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct rows *r = open_enc(t[i].csv, (size_t)-1, NULL);
		struct row *row = next(r);

		if (rows_delim(r) != t[i].delim)
			fail_msg("case %zu: delimiter '%c'", i, rows_delim(r));
		assert_non_null(row);
		if (!row->valid)
			fail_msg("case %zu: %s", i, row->error);
		assert_string_equal(row->mailbox, "a@x.com");
		assert_int_equal(row->line, t[i].line);
		assert_int_equal(row->nfields, rows_ncols(r));
		rows_row_free(row);
		rows_free(r);
	}
}

static void test_missing_mailbox_says_what_to_do(void **state)
{
	(void)state;
	open_fails("email;notes\na@x.com;n\n", (size_t)-1, NULL,
		   "required column 'mailbox' missing from the header "
		   "('email', 'notes'; delimiter ';' detected)");
	open_fails("email;notes\na@x.com;n\n", (size_t)-1, NULL, "sep=;");
}

/* A common export artifact: empty fields after the last column. */
static void test_trailing_empty_fields(void **state)
{
	static const char csv[] = "mailbox,actions,notes\n"
				  "a@x.com,approve,n,\n"
				  "b@x.com,approve,n,,,\n"
				  "c@x.com,approve,n,x\n"
				  "d@x.com,approve,n, \n";
	struct rows *r = open_enc(csv, (size_t)-1, NULL);
	struct row *row;

	(void)state;
	for (int i = 0; i < 2; i++) {
		row = next(r);
		assert_true(row->valid);
		assert_int_equal(row->nfields, 3);
		rows_row_free(row);
	}
	/* something in them: nothing is dropped, the row is invalid */
	for (int i = 0; i < 2; i++) {
		row = next(r);
		assert_false(row->valid);
		assert_int_equal(row->nfields, 4);
		assert_contains(row->reason, "4 fields, the header has 3");
		rows_row_free(row);
	}
	rows_free(r);
}

/* failed.csv runs again as it is: its two error columns are dropped. */
static void test_failed_error_columns_dropped(void **state)
{
	static const char csv[] =
	    "mailbox,actions,notes,mbxfix_error_code,mbxfix_error\r\n"
	    "a@x.com,approve,n,0x80040217,\"mailbox 'a' does not exist\"\r\n"
	    "b@x.com,approve,n,x,InvalidRow,\"4 fields, the header has 3\"\r\n"
	    "c@x.com,approve,,,\r\n"
	    "d@x.com,approve,,,,\r\n"
	    "e@x.com,approve\r\n";
	struct rows *r = open_enc(csv, (size_t)-1, NULL);
	struct row *row;

	(void)state;
	assert_int_equal(rows_ncols(r), 3);
	row = next(r);
	assert_true(row->valid);
	assert_int_equal(row->nfields, 3);
	assert_string_equal(row->fields[2], "n");
	rows_row_free(row);
	/* a longer row: its error cells are its two last fields */
	row = next(r);
	assert_false(row->valid);
	assert_int_equal(row->nfields, 4);
	assert_string_equal(row->fields[3], "x");
	rows_row_free(row);
	/* error cells emptied in a spreadsheet, or one more empty cell */
	for (int i = 0; i < 2; i++) {
		row = next(r);
		assert_true(row->valid);
		assert_int_equal(row->nfields, 3);
		rows_row_free(row);
	}
	/* a row added by hand without them */
	row = next(r);
	assert_int_equal(row->nfields, 2);
	rows_row_free(row);
	rows_free(r);

	/* only the two of them, last, in this order, are failed.csv's */
	r = open_enc("mailbox,mbxfix_error,mbxfix_error_code\na@x.com,x,y\n",
		     (size_t)-1, NULL);
	assert_int_equal(rows_ncols(r), 3);
	rows_free(r);
}

static void test_header_only(void **state)
{
	struct rows *r = open_enc("mailbox,actions\r\n", (size_t)-1, NULL);

	(void)state;
	assert_null(next(r));
	assert_int_equal(rows_count(r), 0);
	rows_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf16_unicode_text),
	    cmocka_unit_test(test_windows_1252),
	    cmocka_unit_test(test_encoding_errors),
	    cmocka_unit_test(test_delimiters),
	    cmocka_unit_test(test_missing_mailbox_says_what_to_do),
	    cmocka_unit_test(test_trailing_empty_fields),
	    cmocka_unit_test(test_failed_error_columns_dropped),
	    cmocka_unit_test(test_header_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
