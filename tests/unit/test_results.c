#include "compat.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "buf.h"
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

static void assert_contains(const char *s, const char *sub)
{
	if (!strstr(s, sub))
		fail_msg("'%s' does not contain '%s'", s, sub);
}

static const char *const header3[] = {"mailbox", "actions", "notes"};

/* A row as the reader would make it, raw fields only. */
struct trow {
	struct row row;
	char *f[4];
};

static void trow_set(struct trow *t, size_t num, const char *mb,
		     const char *actions, const char *notes)
{
	memset(t, 0, sizeof(*t));
	t->f[0] = (char *)mb;
	t->f[1] = (char *)actions;
	t->f[2] = (char *)notes;
	t->row.num = num;
	t->row.line = num + 1;
	t->row.nfields = 3;
	t->row.fields = t->f;
	t->row.valid = true;
	t->row.reason = (char *)"";
}

static struct results *open_run(const char *output, char delim, bool bom,
				const char *resume)
{
	struct results_setup s = {
	    .output = output,
	    .job_name = "wave",
	    .input = "in.csv",
	    .header = header3,
	    .ncols = 3,
	    .delim = delim,
	    .bom = bom,
	    .resume_dir = resume,
	};
	struct err e = ERR_INIT;
	struct results *r;

	if (results_open(&r, &s, &e) < 0)
		fail_msg("results_open: %s", e.msg);
	return r;
}

static char *run_file(const struct results *r, const char *name)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/%s", results_dir(r), name);
	return io_read(p);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void add(struct results *r, size_t num, enum results_outcome o)
{
	struct err e = ERR_INIT;
	struct results_row res;
	struct trow t;
	char mb[64];

	snprintf(mb, sizeof(mb), "u%zu@x.com", num);
	trow_set(&t, num, mb, "approve", "");
	results_row_init(&res);
	res.result = o;
	res.action[ROWS_APPROVE] =
	    o == RESULTS_OK ? RESULTS_DONE : RESULTS_FAILED_ACT;
	res.attempts = 1;
	if (results_add(r, &t.row, &res, &e) < 0)
		fail_msg("results_add: %s", e.msg);
}

static void test_header_and_columns(void **state)
{
	char out[512];
	struct results *r;
	char *s;

	(void)state;
	snprintf(out, sizeof(out), "%s/hdr", dir);
	r = open_run(out, ',', false, NULL);
	s = run_file(r, "results.csv");
	assert_string_equal(
	    s, "mailbox,actions,notes,result,set_profile,set_delivery,"
	       "fix_owner,grant_privileges,approve,test_enable,error_code,"
	       "error_message,hint,attempts,incoming_status,"
	       "outgoing_status,act_status,mailbox_id\r\n");
	free(s);
	s = run_file(r, "failed.csv");
	assert_string_equal(
	    s, "mailbox,actions,notes,mbxfix_error_code,mbxfix_error\r\n");
	free(s);
	results_free(r);
}

static void test_input_order_with_out_of_order_completion(void **state)
{
	static const struct {
		size_t num;
		size_t lines_after; /* data lines in results.csv afterwards */
	} t[] = {{3, 0}, {1, 1}, {2, 3}, {6, 3}, {5, 3}, {4, 6}};
	char out[512];
	struct results *r;
	char *s;

	(void)state;
	snprintf(out, sizeof(out), "%s/order", dir);
	r = open_run(out, ',', false, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		add(r, t[i].num, t[i].num == 5 ? RESULTS_FAILED : RESULTS_OK);
		s = run_file(r, "results.csv");
		/* written as soon as every earlier row is, and flushed */
		assert_int_equal(count_lines(s) - 1, t[i].lines_after);
		assert_int_equal(results_written(r), t[i].lines_after);
		free(s);
	}
	assert_int_equal(results_pending(r), 0);
	s = run_file(r, "results.csv");
	{
		const char *p = s;

		for (int n = 1; n <= 6; n++) {
			char want[32];

			p = strchr(p, '\n') + 1;
			snprintf(want, sizeof(want), "u%d@x.com,", n);
			assert_int_equal(strncmp(p, want, strlen(want)), 0);
		}
	}
	assert_contains(s, "u5@x.com,approve,,failed,,,,,failed,,");
	assert_contains(s, "u4@x.com,approve,,ok,,,,,done,,,,,1,,,,\r\n");
	free(s);
	s = run_file(r, "failed.csv");
	assert_string_equal(s, "mailbox,actions,notes,mbxfix_error_code,"
			       "mbxfix_error\r\nu5@x.com,approve,,,\r\n");
	free(s);
	assert_int_equal(results_counts(r)->rows, 6);
	assert_int_equal(results_counts(r)->by_outcome[RESULTS_OK], 5);
	assert_int_equal(results_counts(r)->by_outcome[RESULTS_FAILED], 1);
	assert_int_equal(
	    results_counts(r)->by_action[ROWS_APPROVE][RESULTS_DONE], 5);
	results_free(r);
}

/* Timed flushing holds whole lines back until a flush, never part of one. */
static void test_timed_flush_holds_whole_lines(void **state)
{
	char out[512], path[700];
	struct results *r;
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	snprintf(out, sizeof(out), "%s/timed", dir);
	r = open_run(out, ',', false, NULL);
	results_set_flush_ms(r, 3600 * 1000L);
	add(r, 1, RESULTS_OK);
	add(r, 3, RESULTS_OK);
	add(r, 2, RESULTS_FAILED);
	assert_int_equal(results_written(r), 3);
	assert_int_equal(results_flush_due(r, &e), 0);
	s = run_file(r, "results.csv");
	assert_int_equal(count_lines(s), 1); /* the header only */
	free(s);
	s = run_file(r, "failed.csv");
	assert_int_equal(count_lines(s), 1);
	free(s);
	assert_int_equal(results_flush(r, &e), 0);
	s = run_file(r, "results.csv");
	assert_int_equal(count_lines(s), 4);
	assert_contains(s, "\r\nu3@x.com,approve,,ok,");
	free(s);
	s = run_file(r, "failed.csv");
	assert_string_equal(s, "mailbox,actions,notes,mbxfix_error_code,"
			       "mbxfix_error\r\nu2@x.com,approve,,,\r\n");
	free(s);
	/* held lines reach the file when the results are freed, too */
	add(r, 4, RESULTS_OK);
	snprintf(path, sizeof(path), "%s/results.csv", results_dir(r));
	results_free(r);
	s = io_read(path);
	assert_int_equal(count_lines(s), 5);
	assert_contains(s, "\r\nu4@x.com,approve,,ok,");
	free(s);
}

static void test_cell_quoting_and_neutralising(void **state)
{
	static const struct {
		const char *in;
		char delim;
		const char *want;
	} t[] = {
	    {"plain", ',', "plain"},
	    {"a,b", ',', "\"a,b\""},
	    {"a,b", ';', "a,b"},
	    {"a;b", ';', "\"a;b\""},
	    {"say \"hi\"", ',', "\"say \"\"hi\"\"\""},
	    {"two\nlines", ',', "\"two\nlines\""},
	    {"cr\rhere", ',', "\"cr\rhere\""},
	    {"=1+2", ',', "'=1+2"},
	    {"+1", ',', "+1"},
	    {"-12.5", ',', "-12.5"},
	    {"+33 1 23 45 67 89", ',', "+33 1 23 45 67 89"},
	    {"-1,234.5e-3%", ',', "\"-1,234.5e-3%\""},
	    {"+1-555-0100", ',', "'+1-555-0100"},
	    {"-", ',', "'-"},
	    {"'=1", ',', "''=1"},
	    {"'abc", ',', "'abc"},
	    {"'-12", ',', "'-12"},
	    {"caf\xe9", ',', "caf\xef\xbf\xbd"},
	    {"-bob@x.com", ',', "'-bob@x.com"},
	    {"@SUM(A1)", ',', "'@SUM(A1)"},
	    {"\tx", ',', "'\tx"},
	    {"\rx", ',', "\"'\rx\""},
	    {"=HYPERLINK(\"u\",\"a,b\")", ',',
	     "\"'=HYPERLINK(\"\"u\"\",\"\"a,b\"\")\""},
	    {"a=b", ',', "a=b"},
	    {"", ',', ""},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf b = BUF_INIT(1024);

		assert_int_equal(results_csv_cell(&b, t[i].in, strlen(t[i].in),
						  t[i].delim, true),
				 0);
		assert_string_equal(b.ptr, t[i].want);
		buf_release(&b);
	}
}

/* failed.csv is input again: the reader gets back what was meant. */
static void test_failed_csv_round_trip(void **state)
{
	static const char *const mb[] = {
	    "-bob@x.com",
	    "=eve@x.com",
	    "plain@x.com",
	    "ok@x.com",
	};
	static const char *const notes[] = {
	    "=HYPERLINK(\"http://evil\";\"x\")",
	    "a;b\nc \"q\"",
	    "+1",
	    "",
	};
	char out[512], path[700];
	struct results *r;
	struct rows *rd;
	struct row *row;
	struct err e = ERR_INIT;

	(void)state;
	snprintf(out, sizeof(out), "%s/round", dir);
	r = open_run(out, ';', true, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(mb); i++) {
		struct results_row res;
		struct trow t;

		trow_set(&t, i + 1, mb[i], "approve;test_enable", notes[i]);
		results_row_init(&res);
		res.result = i == 3 ? RESULTS_OK : RESULTS_FAILED;
		res.error_message = "-boom";
		assert_int_equal(results_add(r, &t.row, &res, &e), 0);
	}
	snprintf(path, sizeof(path), "%s/failed.csv", results_dir(r));
	{
		char *s = io_read(path);

		/* neutralised in the file */
		assert_contains(s, "\n'-bob@x.com;");
		assert_contains(
		    s, "\"'=HYPERLINK(\"\"http://evil\"\";\"\"x\"\")\"");
		assert_null(strstr(s, "ok@x.com"));
		free(s);
	}
	{
		char *s = run_file(r, "results.csv");

		assert_contains(s, ";'-boom;");
		free(s);
	}
	results_free(r);

	assert_int_equal(rows_open(&rd, path, NULL, &e), 0);
	assert_true(rows_has_bom(rd));
	assert_int_equal(rows_delim(rd), ';');
	assert_int_equal(rows_ncols(rd), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(rows_next(rd, &row, &e), 0);
		assert_non_null(row);
		assert_true(row->valid);
		assert_int_equal(row->num, i + 1);
		assert_string_equal(row->mailbox, mb[i]);
		assert_int_equal(row->actions, ROWS_ACT(ROWS_APPROVE) |
						   ROWS_ACT(ROWS_TEST_ENABLE));
		if (i == 1)
			assert_string_equal(row->fields[2], notes[1]);
		rows_row_free(row);
	}
	assert_int_equal(rows_next(rd, &row, &e), 0);
	assert_null(row);
	rows_free(rd);
}

static void test_invalid_row_and_ragged_fields(void **state)
{
	char out[512];
	struct results *r;
	struct results_row res;
	struct row row = {0};
	char *f[] = {(char *)"a@x.com", (char *)"approve", (char *)"n",
		     (char *)"extra"};
	struct err e = ERR_INIT;
	char *s;

	(void)state;
	snprintf(out, sizeof(out), "%s/invalid", dir);
	r = open_run(out, ',', false, NULL);
	row.num = 1;
	row.nfields = 4;
	row.fields = f;
	row.reason = (char *)"4 fields, the header has 3";
	results_row_invalid(&res, &row);
	assert_int_equal(results_add(r, &row, &res, &e), 0);
	row.num = 2;
	row.nfields = 1;
	results_row_invalid(&res, &row);
	assert_int_equal(results_add(r, &row, &res, &e), 0);
	s = run_file(r, "results.csv");
	/* results.csv stays aligned: cut or padded to the header's width */
	assert_contains(s, "\r\na@x.com,approve,n,invalid,,,,,,,InvalidRow,"
			   "\"4 fields, the header has 3\",");
	assert_contains(s, "\r\na@x.com,,,invalid,");
	free(s);
	s = run_file(r, "failed.csv");
	/*
	 * failed.csv keeps the row's fields, all of them, padded to the
	 * header's width so its two error columns line up
	 */
	assert_string_equal(s, "mailbox,actions,notes,mbxfix_error_code,"
			       "mbxfix_error\r\n"
			       "a@x.com,approve,n,extra,InvalidRow,\"4 fields, "
			       "the header has 3\"\r\n"
			       "a@x.com,,,InvalidRow,\"4 fields, the header "
			       "has 3\"\r\n");
	free(s);
	assert_int_equal(results_counts(r)->by_outcome[RESULTS_INVALID], 2);
	results_free(r);
}

static void test_latest_and_rerun_path(void **state)
{
	char out[512], want[700];
	struct results *r1, *r2;
	struct err e = ERR_INIT;
	char *p;

	(void)state;
	snprintf(out, sizeof(out), "%s/latest", dir);
	assert_null(results_latest_failed(out, "wave", &e));
	assert_int_equal(e.kind, ERR_INPUT);
	assert_contains(e.msg, "no earlier run of job 'wave'");

	r1 = open_run(out, ',', false, NULL);
	r2 = open_run(out, ',', false, NULL);
	assert_string_not_equal(results_dir(r1), results_dir(r2));
	/* run ids sort by time */
	assert_true(strcmp(results_dir(r1), results_dir(r2)) < 0);
	err_clear(&e);
	p = results_latest_failed(out, "wave", &e);
	assert_non_null(p);
	snprintf(want, sizeof(want), "%s/failed.csv", results_dir(r2));
	assert_string_equal(p, want);
	free(p);
	p = results_latest_dir(out, "wave", &e);
	assert_string_equal(p, results_dir(r2));
	free(p);
	results_free(r1);
	results_free(r2);
}

static void test_output_not_writable(void **state)
{
	struct results_setup s = {
	    .job_name = "wave", .header = header3, .ncols = 3, .delim = ','};
	char out[512];
	struct err e = ERR_INIT;
	struct results *r;

	(void)state;
	/* a file where a directory must go: fails even for root */
	io_write(dir, "plainfile", "x", 1);
	snprintf(out, sizeof(out), "%s/plainfile/out", dir);
	s.output = out;
	assert_int_equal(results_open(&r, &s, &e), -1);
	assert_null(r);
	assert_int_equal(e.kind, ERR_IO);
	assert_int_equal(err_exit_code(&e), 3);
	assert_contains(e.msg, "cannot create '");
	assert_contains(e.msg, "Not a directory");
}

static void test_summary_and_log(void **state)
{
	struct results_summary sum = {
	    .command = "run",
	    .wall_s = 2.0,
	    .cpu_s = 0.1,
	    .requests = 12,
	    .batches = 3,
	    .operations = 40,
	    .retries = 2,
	    .throttled = 1,
	    .throttled_s = 1.5,
	};
	struct results_event ev = {
	    .level = "error",
	    .row = 7,
	    .action = "set_delivery",
	    .http_status = 400,
	    .error_code = "0x80040203",
	    .message = "bad \"value\"\nnext line \x01",
	};
	struct results_event ev2 = {.level = "info", .message = "started"};
	char out[512];
	struct results *r;
	struct err e = ERR_INIT;
	cJSON *j, *x;
	char *s, *nl;

	(void)state;
	snprintf(out, sizeof(out), "%s/summary", dir);
	r = open_run(out, ',', false, NULL);
	add(r, 1, RESULTS_OK);
	add(r, 2, RESULTS_FAILED);
	add(r, 4, RESULTS_OK); /* 3 never comes: interrupted */
	assert_int_equal(results_log(r, &ev, &e), 0);
	assert_int_equal(results_log(r, &ev2, &e), 0);
	sum.interrupted = true;
	assert_int_equal(results_finish(r, &sum, &e), 0);

	s = run_file(r, "summary.json");
	j = cJSON_Parse(s);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "rows")->valueint, 3);
	assert_int_equal(cJSON_GetObjectItem(j, "unwritten_rows")->valueint, 1);
	x = cJSON_GetObjectItem(j, "results");
	assert_int_equal(cJSON_GetObjectItem(x, "ok")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(x, "failed")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(x, "invalid")->valueint, 0);
	x = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "actions"), "approve");
	assert_int_equal(cJSON_GetObjectItem(x, "done")->valueint, 2);
	assert_int_equal(cJSON_GetObjectItem(x, "failed")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(j, "requests")->valueint, 12);
	assert_int_equal(cJSON_GetObjectItem(j, "retries")->valueint, 2);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "interrupted")));
	assert_true(cJSON_GetObjectItem(j, "rows_per_s")->valuedouble == 1.5);
	assert_string_equal(cJSON_GetObjectItem(j, "command")->valuestring,
			    "run");
	cJSON_Delete(j);
	free(s);

	s = run_file(r, "run.log");
	nl = strchr(s, '\n');
	assert_non_null(nl);
	*nl = '\0';
	j = cJSON_Parse(s);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring,
			    "error");
	assert_int_equal(cJSON_GetObjectItem(j, "row")->valueint, 7);
	assert_int_equal(cJSON_GetObjectItem(j, "http_status")->valueint, 400);
	assert_string_equal(cJSON_GetObjectItem(j, "error_code")->valuestring,
			    "0x80040203");
	assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring,
			    ev.message);
	assert_int_equal(strlen(cJSON_GetObjectItem(j, "time")->valuestring),
			 strlen("2026-11-20T23:15:00.123Z"));
	cJSON_Delete(j);
	j = cJSON_Parse(nl + 1);
	assert_non_null(j);
	assert_null(cJSON_GetObjectItem(j, "row"));
	assert_null(cJSON_GetObjectItem(j, "http_status"));
	cJSON_Delete(j);
	free(s);
	results_free(r);
}

static void test_resume_after_interruption(void **state)
{
	char out[512], path[700], rundir[600];
	struct results *r;
	struct err e = ERR_INIT;
	size_t done;
	FILE *fp;
	char *s;

	(void)state;
	snprintf(out, sizeof(out), "%s/resume", dir);
	r = open_run(out, ';', true, NULL);
	add(r, 1, RESULTS_OK);
	add(r, 2, RESULTS_FAILED);
	add(r, 4, RESULTS_OK); /* pending, but in the journal */
	snprintf(rundir, sizeof(rundir), "%s", results_dir(r));
	results_free(r);
	/* the process died in the middle of a line */
	snprintf(path, sizeof(path), "%s/results.csv", rundir);
	fp = fopen(path, "ab");
	fputs("u3@x.com;appr", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/failed.csv", rundir);
	fp = fopen(path, "ab");
	fputs("u3@x.c", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/results.csv", rundir);

	/* rows 1, 2 and 4 are in the journal */
	assert_int_equal(results_resume_point(rundir, &done, &e), 0);
	assert_int_equal(done, 3);

	r = open_run(out, ';', true, rundir);
	assert_string_equal(results_dir(r), rundir);
	assert_int_equal(results_written(r), 2);
	assert_true(results_row_done(r, 4));
	assert_false(results_row_done(r, 3));
	add(r, 3, RESULTS_FAILED);
	assert_int_equal(results_written(r), 4);
	assert_int_equal(results_counts(r)->rows, 4);
	results_free(r);
	s = io_read(path);
	assert_null(strstr(s, "appr\n"));
	assert_null(strstr(s, "u3@x.com;appr;"));
	assert_int_equal(count_lines(s), 5);
	assert_contains(s, "\nu2@x.com;approve;;failed;");
	assert_contains(s, "\r\nu3@x.com;approve;;failed;");
	assert_true(strstr(s, "u3@x.com") < strstr(s, "u4@x.com"));
	free(s);
	assert_int_equal(results_resume_point(rundir, &done, &e), 0);
	assert_int_equal(done, 4);
	snprintf(path, sizeof(path), "%s/failed.csv", rundir);
	s = io_read(path);
	assert_string_equal(s,
			    "\xef\xbb\xbfmailbox;actions;notes;"
			    "mbxfix_error_code;mbxfix_error\r\n"
			    "u2@x.com;approve;;;\r\nu3@x.com;approve;;;\r\n");
	free(s);

	/* a run whose columns differ cannot be resumed */
	{
		static const char *const other[] = {"mailbox", "x", "y"};
		struct results_setup st = {.output = out,
					   .job_name = "wave",
					   .header = other,
					   .ncols = 3,
					   .delim = ';',
					   .bom = true,
					   .resume_dir = rundir};

		err_clear(&e);
		assert_int_equal(results_open(&r, &st, &e), -1);
		assert_int_equal(e.kind, ERR_INPUT);
		assert_contains(e.msg, "its columns differ");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_and_columns),
	    cmocka_unit_test(test_input_order_with_out_of_order_completion),
	    cmocka_unit_test(test_timed_flush_holds_whole_lines),
	    cmocka_unit_test(test_cell_quoting_and_neutralising),
	    cmocka_unit_test(test_failed_csv_round_trip),
	    cmocka_unit_test(test_invalid_row_and_ragged_fields),
	    cmocka_unit_test(test_latest_and_rerun_path),
	    cmocka_unit_test(test_output_not_writable),
	    cmocka_unit_test(test_summary_and_log),
	    cmocka_unit_test(test_resume_after_interruption),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
