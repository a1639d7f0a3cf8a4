/* report.html from a run directory's summary.json and results.csv. */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"

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
		fail_msg("report does not contain '%s'", sub);
}

static const char results_hdr[] =
    "result;set_profile;set_delivery;fix_owner;grant_privileges;approve;"
    "test_enable;error_code;error_message;hint;attempts;incoming_status;"
    "outgoing_status;act_status;mailbox_id\r\n";

static void test_counts_rows_and_escaping(void **state)
{
	char csv[2048];
	char *path, *html;
	struct err e = ERR_INIT;

	(void)state;
	io_write(dir, "summary.json",
		 "{\"run\": \"R-1\", \"rows\": 4, \"interrupted\": false, "
		 "\"wall_s\": 1.25, \"results\": {\"ok\": 2}}",
		 (size_t)-1);
	/* ';'-separated with a BOM; a column of the input named 'result' */
	snprintf(csv, sizeof(csv),
		 "\xef\xbb\xbf"
		 "Mailbox;result;%s"
		 "a@x.com;x;ok;;done;;;;;;;;1;;;;id\r\n"
		 "b@x.com;x;ok;;unchanged;;;;;;;;0;;;;id\r\n"
		 "'=c@x.com;x;failed;;failed;;;;;0x80040217;\"<b>gone</b> "
		 "& \"\"q\"\"\";'-check it;2;;;;\r\n"
		 "d;x;invalid;;;;;;;InvalidRow;\"column 'mailbox': bad\";fix "
		 "it;0;;;;\r\n",
		 results_hdr);
	io_write(dir, "results.csv", csv, (size_t)-1);
	path = report_write(dir, &e);
	if (!path)
		fail_msg("report_write: %s", e.msg);
	html = io_read(path);
	assert_non_null(html);
	assert_contains(html, "<title>mbxfix run R-1</title>");
	assert_contains(html, "4 rows: 2 ok, 1 failed, 1 invalid.");
	assert_contains(html, "data-label=\"ok\" data-count=\"2\"");
	assert_contains(html, "data-label=\"failed\" data-count=\"1\"");
	assert_contains(html, "data-label=\"invalid\" data-count=\"1\"");
	assert_contains(html,
			"data-label=\"set_delivery: done\" data-count=\"1\"");
	assert_contains(html, "data-label=\"set_delivery: unchanged\" "
			      "data-count=\"1\"");
	assert_contains(html, "data-label=\"0x80040217\" data-count=\"1\"");
	assert_contains(html, "data-label=\"InvalidRow\" data-count=\"1\"");
	assert_contains(html, "id=\"rows\" data-total=\"2\"");
	/* the writer's mark removed, text escaped */
	assert_contains(html, "<td>3</td><td>=c@x.com</td><td>failed</td>");
	assert_contains(html, "&lt;b&gt;gone&lt;/b&gt; &amp; &quot;q&quot;");
	assert_contains(html, "<td class=\"msg\">-check it</td>");
	assert_null(strstr(html, "<b>gone"));
	/* the summary's values */
	assert_contains(html, "<th>wall_s</th><td>1.250</td>");
	assert_contains(html, "<th>interrupted</th><td>false</td>");
	free(html);
	free(path);
}

/*
 * Plain lines and quoted ones read alike: a message over two lines, the
 * plain row after it, blanks around fields, blank lines, no final newline.
 */
static void test_mixed_lines(void **state)
{
	char csv[2048];
	char *path, *html;
	struct err e = ERR_INIT;

	(void)state;
	io_write(dir, "summary.json", "{\"run\": \"R-2\", \"rows\": 4}",
		 (size_t)-1);
	snprintf(csv, sizeof(csv),
		 "mailbox;%s"
		 "a@x.com;failed;;failed;;;;;Code1;\"line one\r\nline "
		 "two\";h;2;;;;id\r\n"
		 "b@x.com ; failed ;;failed;;;;; Code2 ;plain msg;h;3;;;;id\r\n"
		 "\r\n"
		 "c@x.com;ok;;done;;;;;;;;1;;;;id\r\n"
		 "d@x.com;\"failed\";;failed;;;;;Code1;\"multi\nline\";h;1;;;;"
		 "id\n"
		 "e@x.com;ok;;unchanged;;;;;;;;0;;;;id",
		 results_hdr);
	io_write(dir, "results.csv", csv, (size_t)-1);
	path = report_write(dir, &e);
	if (!path)
		fail_msg("report_write: %s", e.msg);
	html = io_read(path);
	assert_non_null(html);
	assert_contains(html, "data-label=\"ok\" data-count=\"2\"");
	assert_contains(html, "data-label=\"failed\" data-count=\"3\"");
	assert_contains(html, "data-label=\"Code1\" data-count=\"2\"");
	assert_contains(html, "data-label=\"Code2\" data-count=\"1\"");
	assert_contains(html,
			"data-label=\"set_delivery: done\" data-count=\"1\"");
	assert_contains(html, "data-label=\"set_delivery: unchanged\" "
			      "data-count=\"1\"");
	assert_contains(html, "<td>2</td><td>b@x.com</td><td>failed</td>");
	assert_contains(html, "plain msg");
	assert_contains(html, "line two");
	assert_contains(html, "<td>4</td><td>d@x.com</td><td>failed</td>");
	free(html);
	free(path);
}

static void test_missing_files(void **state)
{
	struct err e = ERR_INIT;
	char sub[400];

	(void)state;
	snprintf(sub, sizeof(sub), "%s/none", dir);
	assert_null(report_write(sub, &e));
	assert_int_equal(e.kind, ERR_IO);
	assert_contains(e.msg, "summary.json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counts_rows_and_escaping),
	    cmocka_unit_test(test_mixed_lines),
	    cmocka_unit_test(test_missing_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
