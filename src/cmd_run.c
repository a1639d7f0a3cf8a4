/*
 * mbxfix run / plan / diagnose: build the objects, run the engine, report.
 *
 * Order matters for "nothing half-written": the job, the input header and
 * the sign-in (token plus one probe read) are checked before the results
 * directory is created, so exit 2 and exit 3 for an unreachable endpoint
 * or a refused sign-in leave no run behind.
 */
#include "compat.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "act_util.h"
#include "cmds.h"
#include "engine.h"
#include "job.h"
#include "log.h"
#include "opts.h"
#include "progress.h"
#include "remediate.h"
#include "report.h"
#include "results.h"
#include "rows.h"

#include "banned.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage_cpu(double *cpu_s, long *rss_kb)
{
	struct rusage ru;

	*cpu_s = 0;
	*rss_kb = 0;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	*cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	*rss_kb = ru.ru_maxrss;
}

/* Count the data rows for the progress line's total and ETA. */
static size_t count_rows(const struct job *job)
{
	struct err e = ERR_INIT;
	struct rows *r;
	struct row *row;
	size_t n = 0;

	if (rows_open_encoding(&r, job->input, &job->defaults,
			       job->input_encoding, &e) < 0)
		return 0;
	while (rows_next(r, &row, &e) == 0 && row) {
		n++;
		rows_row_free(row);
	}
	rows_free(r);
	return n;
}

static void print_summary(FILE *fp, const char *cmd, struct results *res,
			  const struct engine_stats *st, double wall)
{
	const struct results_counts *c = results_counts(res);

	fprintf(fp, "%s finished in %.1f s\n", cmd, wall);
	fprintf(fp, "  rows        %zu\n", c->rows);
	fprintf(fp, "  ok          %zu\n", c->by_outcome[RESULTS_OK]);
	fprintf(fp, "  failed      %zu\n", c->by_outcome[RESULTS_FAILED]);
	fprintf(fp, "  invalid     %zu\n", c->by_outcome[RESULTS_INVALID]);
	for (int a = 0; a < ROWS_NACTIONS; a++) {
		const size_t *s = c->by_action[a];

		if (!s[RESULTS_DONE] && !s[RESULTS_UNCHANGED] &&
		    !s[RESULTS_FAILED_ACT] && !s[RESULTS_SKIPPED] &&
		    !s[RESULTS_WOULD])
			continue;
		fprintf(fp,
			"  %-16s done %zu, would change %zu, unchanged %zu, "
			"failed %zu, skipped %zu\n",
			rows_action_name(a), s[RESULTS_DONE], s[RESULTS_WOULD],
			s[RESULTS_UNCHANGED], s[RESULTS_FAILED_ACT],
			s[RESULTS_SKIPPED]);
	}
	fprintf(
	    fp,
	    "  requests    %llu ($batch %llu, operations %llu, retries "
	    "%llu, throttled %llu, throttled waits %llu)\n",
	    (unsigned long long)st->requests, (unsigned long long)st->batches,
	    (unsigned long long)st->operations, (unsigned long long)st->retries,
	    (unsigned long long)st->throttled,
	    (unsigned long long)st->throttled_waits);
	fprintf(fp, "  rate        %.1f rows/s\n",
		wall > 0 ? (double)c->rows / wall : 0.0);
	fprintf(fp, "  results     %s\n", results_dir(res));
}

/* report.html in the run directory; a failure to write it is a warning. */
static void report_and_say(struct results *res, bool say)
{
	struct err e = ERR_INIT;
	char *path = report_write(results_dir(res), &e);

	if (!path)
		log_warn("%s", e.msg);
	else if (say)
		printf("  report      %s\n", path);
	free(path);
}

static int run_job(const char *cmd, bool readonly, int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct opts o;
	struct job job;
	struct rows *rows = NULL;
	struct results *res = NULL;
	struct engine *en = NULL;
	struct progress prog;
	struct engine_setup es = {0};
	struct results_setup rs = {0};
	struct results_summary sum = {0};
	char *resume_dir = NULL;
	size_t skip = 0;
	double start = wall_now();
	int rc;

	memset(&job, 0, sizeof(job));
	if (opts_parse(&o, cmd, argc, argv, &e) < 0) {
		fprintf(stderr, "mbxfix: %s\n", e.msg);
		opts_usage(cmd, stderr);
		return 2;
	}
	if (o.help) {
		opts_usage(cmd, stdout);
		return 0;
	}
	log_set_level((enum log_level)opts_log_level(&o));
	if (job_load(&job, o.job, &e) < 0 || opts_apply(&o, &job, &e) < 0)
		goto out;
	if (o.resume) {
		resume_dir = results_latest_dir(job.output, job.name, &e);
		if (!resume_dir ||
		    results_resume_point(resume_dir, &skip, &e) < 0)
			goto out;
	}
	if (rows_open_encoding(&rows, job.input, &job.defaults,
			       job.input_encoding, &e) < 0)
		goto out;

	es.job = &job;
	es.readonly = readonly;
	es.rows = rows;
	es.skip_rows = skip;
	es.stop = &stop;
	catch_signals();
	progress_init(&prog, stderr, !o.no_progress && o.verbosity >= 0,
		      isatty(STDERR_FILENO), 0);
	if (prog.enabled) {
		es.total_rows = count_rows(&job);
		es.total_rows = es.total_rows > skip ? es.total_rows - skip : 0;
		es.progress = &prog;
	}
	if (engine_new(&en, &es, &e) < 0 || engine_connect(en, &e) < 0)
		goto out;
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		progress_init(&prog, stderr, prog.enabled, prog.tty,
			      (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	}

	rs.output = job.output;
	rs.job_name = job.name;
	rs.input = job.input;
	rs.header = rows_header(rows);
	rs.ncols = rows_ncols(rows);
	rs.delim = rows_delim(rows);
	rs.bom = job.output_bom >= 0
		     ? job.output_bom
		     : rows_has_bom(rows) || rows_encoding(rows);
	rs.resume_dir = resume_dir;
	if (results_open(&res, &rs, &e) < 0)
		goto out;
	if (engine_run(en, res, &e) < 0)
		sum.interrupted = true;

	sum.command = cmd;
	sum.wall_s = wall_now() - start;
	usage_cpu(&sum.cpu_s, &sum.peak_rss_kb);
	{
		const struct engine_stats *st = engine_stats(en);

		sum.requests = st->requests;
		sum.batches = st->batches;
		sum.operations = st->operations;
		sum.retries = st->retries;
		sum.throttled = st->throttled;
		sum.throttled_s = st->throttled_s;
	}
	if (results_finish(res, &sum, err_is_set(&e) ? NULL : &e) < 0)
		goto out;
	if (!rows_count(rows) && !skip)
		log_warn("%s: no rows: the file holds a header and nothing "
			 "else",
			 job.input);
	if (o.verbosity >= 0)
		print_summary(stdout, cmd, res, engine_stats(en), sum.wall_s);
	report_and_say(res, o.verbosity >= 0);
	if (!strcmp(cmd, "diagnose")) {
		size_t n = 0;

		if (remediate_write(results_dir(res), &n, &e) < 0)
			goto out;
		if (o.verbosity >= 0)
			printf("  remediation %s/remediation.csv (%zu rows)\n",
			       results_dir(res), n);
	}
out:
	if (err_is_set(&e)) {
		fprintf(stderr, "mbxfix: %s\n", e.msg);
		rc = err_exit_code(&e);
	} else {
		const struct results_counts *c = results_counts(res);

		rc = c->by_outcome[RESULTS_FAILED] ||
			     c->by_outcome[RESULTS_INVALID]
			 ? 1
			 : 0;
	}
	engine_free(en);
	results_free(res);
	rows_free(rows);
	job_release(&job);
	free(resume_dir);
	return rc;
}

int cmd_run(int argc, char **argv)
{
	return run_job("run", false, argc, argv);
}

int cmd_plan(int argc, char **argv)
{
	return run_job("plan", true, argc, argv);
}

int cmd_diagnose(int argc, char **argv)
{
	actu_set_diagnose(true);
	return run_job("diagnose", true, argc, argv);
}
