/*
 * Tests of opts.c and of 'mbxfix check' (cmd_check.c is not in
 * libmbxfix.a; the Makefile links its object into this test).
 */
#include "compat.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "job.h"
#include "log.h"
#include "opts.h"
#include "results.h"

#include "io_util.h"

#include "cmds.h"

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

/* Parse a NULL-terminated list of arguments. */
static int parse(struct opts *o, struct err *e, const char *cmd, ...)
{
	static char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = (char *)cmd;
	va_start(ap, cmd);
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	err_clear(e);
	return opts_parse(o, cmd, argc, argv, e);
}

static void test_run_takes_every_option(void **state)
{
	struct opts o;
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(parse(&o, &e, "run", "--input", "in.csv", "--output",
			       "out", "--parallel", "16", "--batch-size", "0",
			       "--resume", "--no-progress", "-v", "-v",
			       "jobs/a.cfg", (char *)NULL),
			 0);
	assert_string_equal(o.job, "jobs/a.cfg");
	assert_string_equal(o.input, "in.csv");
	assert_string_equal(o.output, "out");
	assert_int_equal(o.parallel, 16);
	assert_int_equal(o.batch_size, 0);
	assert_true(o.resume);
	assert_true(o.no_progress);
	assert_false(o.rerun_failed);
	assert_int_equal(o.verbosity, 2);
	assert_int_equal(opts_log_level(&o), LOG_DEBUG);

	/* options after the operand, '=' forms */
	assert_int_equal(parse(&o, &e, "run", "a.cfg", "--parallel=4", "-q",
			       "--rerun-failed", (char *)NULL),
			 0);
	assert_string_equal(o.job, "a.cfg");
	assert_int_equal(o.parallel, 4);
	assert_int_equal(o.batch_size, OPTS_UNSET);
	assert_true(o.rerun_failed);
	assert_int_equal(opts_log_level(&o), LOG_ERROR);
	assert_null(o.input);
}

static void test_usage_errors(void **state)
{
	static const struct {
		const char *cmd;
		const char *a[4];
		const char *want;
	} t[] = {
	    {"run",
	     {"--parallel", "3x", "a.cfg"},
	     "--parallel: '3x' is not a number from 0 to 256"},
	    {"run", {"--parallel", "-1", "a.cfg"}, "'-1' is not a number"},
	    {"run", {"--parallel", "", "a.cfg"}, "'' is not a number"},
	    {"run",
	     {"--batch-size", "1001", "a.cfg"},
	     "--batch-size: '1001' is not a number from 0 to 1000"},
	    {"run",
	     {"--batch-size", "99999999999999999999", "a.cfg"},
	     "is not a number"},
	    {"run", {"--frobnicate", "a.cfg"}, "unknown option '--frobnicate'"},
	    {"run", {"-x", "a.cfg"}, "unknown option '-x'"},
	    {"run", {"a.cfg", "--input"}, "option '--input' needs a value"},
	    {"run", {NULL}, "mbxfix run: no job file given"},
	    {"run", {"a.cfg", "b.cfg"}, "one job file only ('a.cfg', 'b.cfg')"},
	    {"run",
	     {"--input", "x.csv", "--rerun-failed", "a.cfg"},
	     "--input and --rerun-failed cannot be used together"},
	    {"run",
	     {"--resume", "--rerun-failed", "a.cfg"},
	     "--resume and --rerun-failed cannot be used together"},
	    {"check",
	     {"--parallel", "2", "a.cfg"},
	     "mbxfix check does not take --parallel"},
	    {"check", {"--resume", "a.cfg"}, "does not take --resume"},
	    {"plan",
	     {"--rerun-failed", "a.cfg"},
	     "mbxfix plan does not take --rerun-failed"},
	    {"diagnose", {"--resume", "a.cfg"}, "does not take --resume"},
	};
	struct opts o;
	struct err e = ERR_INIT;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		int rc = parse(&o, &e, t[i].cmd, t[i].a[0], t[i].a[1],
			       t[i].a[2], t[i].a[3], (char *)NULL);

		if (rc != -1)
			fail_msg("case %zu parsed", i);
		assert_int_equal(e.kind, ERR_USAGE);
		assert_int_equal(err_exit_code(&e), 2);
		assert_contains(e.msg, t[i].want);
	}
}

static void test_help(void **state)
{
	struct opts o;
	struct err e = ERR_INIT;
	char path[512];
	FILE *fp;
	char *s;

	(void)state;
	assert_int_equal(parse(&o, &e, "plan", "--help", (char *)NULL), 0);
	assert_true(o.help);
	assert_int_equal(parse(&o, &e, "check", "-h", "--bogus", (char *)NULL),
			 0);
	assert_true(o.help);

	snprintf(path, sizeof(path), "%s/usage.txt", dir);
	fp = fopen(path, "w");
	opts_usage("check", fp);
	opts_usage("run", fp);
	fclose(fp);
	s = io_read(path);
	assert_contains(s,
			"usage: mbxfix check [-qv] [--input FILE] JOB.cfg\n");
	assert_contains(s, "usage: mbxfix run [-qv] [--batch-size N] [--input "
			   "FILE | --rerun-failed]");
	assert_contains(s, "--resume ");
	free(s);
}

static const char *job_file(const char *name, const char *input)
{
	static char path[512];
	char cfg[1024];

	snprintf(cfg, sizeof(cfg),
		 "name = \"t\";\n"
		 "environment = { url = \"https://x.crm.dynamics.com\"; };\n"
		 "auth = { method = \"none\"; };\n"
		 "%s%s%s"
		 "output = \"%s/out\";\n"
		 "defaults = { actions = [\"set_delivery\"]; incoming = "
		 "\"server-side-sync\"; };\n",
		 input ? "input = \"" : "", input ? input : "",
		 input ? "\";\n" : "", dir);
	snprintf(path, sizeof(path), "%s",
		 io_write(dir, name, cfg, (size_t)-1));
	return path;
}

static void test_apply_overrides(void **state)
{
	struct opts o;
	struct err e = ERR_INIT;
	struct job j;
	char *jobpath = xstrdup(job_file("apply.cfg", NULL));
	char out[600];

	(void)state;
	assert_int_equal(job_load(&j, jobpath, &e), 0);
	/* no input anywhere */
	assert_int_equal(parse(&o, &e, "run", jobpath, (char *)NULL), 0);
	assert_int_equal(opts_apply(&o, &j, &e), -1);
	assert_int_equal(e.kind, ERR_CONFIG);
	assert_contains(e.msg, "no input: set 'input' in the job file or use "
			       "--input");

	assert_int_equal(parse(&o, &e, "run", "--input", "x.csv", "--output",
			       "o2", "--parallel", "3", "--batch-size", "50",
			       jobpath, (char *)NULL),
			 0);
	assert_int_equal(opts_apply(&o, &j, &e), 0);
	assert_string_equal(j.input, "x.csv");
	assert_string_equal(j.output, "o2");
	assert_int_equal(j.parallel, 3);
	assert_int_equal(j.batch_size, 50);
	job_release(&j);

	/*
	 * --rerun-failed: the run builds its input from the latest run
	 * (cmd_run.c, tests/e2e/t-journal.sh); the job's is left alone
	 */
	assert_int_equal(job_load(&j, jobpath, &e), 0);
	snprintf(out, sizeof(out), "%s", j.input ? j.input : "");
	assert_int_equal(
	    parse(&o, &e, "run", "--rerun-failed", jobpath, (char *)NULL), 0);
	assert_int_equal(opts_apply(&o, &j, &e), 0);
	assert_string_equal(j.input ? j.input : "", out);
	job_release(&j);
	free(jobpath);
}

/* Run cmd_check with stdout and stderr captured to files. */
static int check(const char *jobpath, const char *input, char **out, char **err)
{
	char po[512], pe[512];
	char *argv[5];
	int argc = 0, rc, so, se, fo, fe;

	argv[argc++] = (char *)"check";
	argv[argc++] = (char *)jobpath;
	if (input) {
		argv[argc++] = (char *)"--input";
		argv[argc++] = (char *)input;
	}
	argv[argc] = NULL;
	snprintf(po, sizeof(po), "%s/check.out", dir);
	snprintf(pe, sizeof(pe), "%s/check.err", dir);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = cmd_check(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	*out = io_read(po);
	*err = io_read(pe);
	return rc;
}

static void test_check_exit_codes(void **state)
{
	char *jobpath, *out, *err, good[512], bad[512];

	(void)state;
	snprintf(good, sizeof(good), "%s",
		 io_write(dir, "good.csv",
			  "mailbox,actions,incoming\n"
			  "a@x.com,,\n"
			  "b@x.com,approve;set_delivery,outlook\n",
			  (size_t)-1));
	snprintf(bad, sizeof(bad), "%s",
		 io_write(dir, "bad.csv",
			  "mailbox,actions,incoming\n"
			  "a@x.com,,\n"
			  "b@x.com,approve,sideways\n"
			  "A@x.com,,\n"
			  "c@x.com,,,extra\n",
			  (size_t)-1));
	jobpath = xstrdup(job_file("check.cfg", good));

	/* all valid: 0, summary on stdout, nothing on stderr */
	assert_int_equal(check(jobpath, NULL, &out, &err), 0);
	assert_contains(out, ": 2 rows in '");
	assert_contains(out, "2 valid, 0 invalid; set_delivery 2, approve 1\n");
	assert_string_equal(err, "");
	free(out);
	free(err);

	/* invalid rows: 1, each named on stderr with row and line */
	assert_int_equal(check(jobpath, bad, &out, &err), 1);
	assert_contains(out, "4 rows in '");
	assert_contains(out, "1 valid, 3 invalid");
	assert_contains(err, "bad.csv: row 2 (line 3): column 'incoming': "
			     "unknown value 'sideways'");
	assert_contains(err, "bad.csv: row 3 (line 4): column 'mailbox': "
			     "duplicate of row 1");
	assert_contains(err, "bad.csv: row 4 (line 5): 4 fields, the header "
			     "has 3");
	free(out);
	free(err);

	/* input without the mailbox column: 2 */
	io_write(dir, "nomb.csv", "email\na@x.com\n", (size_t)-1);
	{
		char p[512];

		snprintf(p, sizeof(p), "%s/nomb.csv", dir);
		assert_int_equal(check(jobpath, p, &out, &err), 2);
	}
	assert_contains(err, "required column 'mailbox' missing");
	assert_string_equal(out, "");
	free(out);
	free(err);

	/* job-file error: 2 */
	io_write(dir, "broken.cfg", "environment = { url = 5; };\n",
		 (size_t)-1);
	{
		char p[512];

		snprintf(p, sizeof(p), "%s/broken.cfg", dir);
		assert_int_equal(check(p, good, &out, &err), 2);
	}
	assert_contains(err, "broken.cfg:1: setting 'environment.url': must be "
			     "a string");
	free(out);
	free(err);

	/* usage error: 2, usage on stderr */
	assert_int_equal(check(jobpath, "", &out, &err), 2);
	assert_contains(err, "--input: empty file name");
	assert_contains(err, "usage: mbxfix check");
	assert_string_equal(out, "");
	free(out);
	free(err);
	free(jobpath);
}

/* The committed example job and CSV are valid (run from the top). */
static void test_check_example(void **state)
{
	char *out, *err;

	(void)state;
	if (access("jobs/example.cfg", R_OK) < 0)
		fail_msg("run from the top of the tree: jobs/example.cfg");
	assert_int_equal(check("jobs/example.cfg", NULL, &out, &err), 0);
	assert_contains(out, "jobs/example.cfg: 6 rows in 'input/example.csv': "
			     "6 valid, 0 invalid; set_profile 2, set_delivery "
			     "2, fix_owner 2, grant_privileges 2, approve 2, "
			     "test_enable 3\n");
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_takes_every_option),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_apply_overrides),
	    cmocka_unit_test(test_check_exit_codes),
	    cmocka_unit_test(test_check_example),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
