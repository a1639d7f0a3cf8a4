/*
 * mbxfix run / plan / diagnose: build the objects, run the engine, report.
 *
 * Order matters for "nothing half-written": the job, the input header and
 * the sign-in (token plus one probe read) are checked before the results
 * directory is created, so exit 2 and exit 3 for an unreachable endpoint
 * or a refused sign-in leave no run behind.
 */
#include "compat.h"

#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "act_util.h"
#include "cmds.h"
#include "graph.h"
#include "engine.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "opts.h"
#include "plan_summary.h"
#include "preflight.h"
#include "progress.h"
#include "remediate.h"
#include "report.h"
#include "results.h"
#include "rows.h"
#include "runlog.h"
#include "runreport.h"
#include "select.h"
#include "version.h"

#include "banned.h"

static volatile sig_atomic_t stop;

/*
 * The first SIGINT or SIGTERM ends every wait and transfer at once (the
 * engine records what was in flight and the run exits 3); a second one
 * ends the process there and then, as the signal does by default.
 */
static void on_signal(int sig)
{
	if (stop) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	stop = 1;
	http_interrupt();
}

static void catch_signals(void)
{
	struct sigaction sa;

	http_interrupt_init();
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

/*
 * --rerun-failed when the latest run left nothing to do (no failed or
 * invalid row, no row it never reached): say so and stop before signing
 * in, so that no new run is made and 'latest' keeps pointing at the run
 * that settled everything. 'from' is that run when known. True then.
 */
static bool nothing_to_rerun(const struct opts *o, const struct job *job,
			     const char *from)
{
	struct err e = ERR_INIT;
	struct rows *r;
	struct row *row = NULL;
	bool none;

	if (!o->rerun_failed ||
	    rows_open_encoding(&r, job->input, &job->defaults,
			       job->input_encoding, &e) < 0)
		return false;
	none = rows_next(r, &row, &e) == 0 && !row;
	rows_row_free(row);
	rows_free(r);
	if (!none)
		return false;
	if (o->json)
		printf("{\"command\": \"run\", \"exit_status\": 0, "
		       "\"nothing_to_rerun\": true}\n");
	else
		printf("nothing to rerun: the latest run of job '%s' left no "
		       "failed or invalid row (%s)\n",
		       job->name, from ? from : job->input);
	return true;
}

/*
 * run.log of the run in 'res': the start event first (runlog.h holds the
 * sign-in's lines until now), then every line so far.
 */
static int open_run_log(struct runlog *rl, struct results *res, const char *cmd,
			const char *job_path, const struct job *job,
			const char *sha, const char *resume_dir,
			const char *rerun_of, struct err *e)
{
	struct buf lp = BUF_INIT(SIZE_MAX / 2);
	const char *id = strrchr(results_dir(res), '/');
	int rc;

	runreport_start(rl, cmd, job_path, job, sha, resume_dir, rerun_of);
	buf_addf(&lp, "%s/run.log", results_dir(res));
	rc = runlog_open(rl, lp.ptr, id ? id + 1 : results_dir(res), e);
	buf_release(&lp);
	return rc;
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
		if (a == ROWS_GRANT_PRIVILEGES && results_plan_summary(res)) {
			/* a role is one change, whatever rows name it */
			size_t roles =
			    plan_summary_targets(results_plan_summary(res), a);

			fprintf(fp,
				"  %-16s would change %zu role%s (%zu rows), "
				"unchanged %zu, failed %zu, skipped %zu\n",
				rows_action_name(a), roles,
				roles == 1 ? "" : "s", s[RESULTS_WOULD],
				s[RESULTS_UNCHANGED], s[RESULTS_FAILED_ACT],
				s[RESULTS_SKIPPED]);
			continue;
		}
		fprintf(fp,
			"  %-16s done %zu, would change %zu, unchanged %zu, "
			"failed %zu, skipped %zu\n",
			rows_action_name(a), s[RESULTS_DONE], s[RESULTS_WOULD],
			s[RESULTS_UNCHANGED], s[RESULTS_FAILED_ACT],
			s[RESULTS_SKIPPED]);
	}
	if (results_plan_summary(res))
		plan_summary_print(results_plan_summary(res), fp);
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

/* 'path' for a shell command line: quoted when it holds more than
 * letters, digits and "/._-+:@,=". */
static void print_path(FILE *fp, const char *path)
{
	if (*path &&
	    strspn(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
			 "STUVWXYZ0123456789/._-+:@,=") == strlen(path)) {
		fputs(path, fp);
		return;
	}
	fputc('\'', fp);
	for (; *path; path++)
		if (*path == '\'')
			fputs("'\\''", fp);
		else
			fputc(*path, fp);
	fputc('\'', fp);
}

/* The closing lines of the text summary: what to do next. */
static void print_next(FILE *fp, const char *cmd, const struct opts *o,
		       const struct results_counts *c, const char *dir)
{
	const char *job_path = o->job;
	size_t bad =
	    c->by_outcome[RESULTS_FAILED] + c->by_outcome[RESULTS_INVALID];

	if (!strcmp(cmd, "plan")) {
		fprintf(fp,
			"next: look at the changes in %s/plan.csv (the "
			"<action>_now and <action>_then columns), then apply "
			"with: mbxfix run ",
			dir);
		for (size_t i = 0; i < o->nwhere; i++) {
			fputs("--where ", fp);
			print_path(fp, o->where[i]);
			fputc(' ', fp);
		}
		print_path(fp, job_path);
		fputc('\n', fp);
		return;
	}
	if (!strcmp(cmd, "diagnose")) {
		fprintf(fp,
			"next: check %s/remediation.csv, then: mbxfix run "
			"--input ",
			dir);
		print_path(fp, dir);
		fputs("/remediation.csv ", fp);
		print_path(fp, job_path);
		fputc('\n', fp);
		return;
	}
	if (!bad) {
		fprintf(fp,
			"next: nothing left to do; every row is in "
			"%s/results.csv\n",
			dir);
		return;
	}
	fprintf(fp,
		"next: open %s/results.csv (error_code and hint of each "
		"row), fix what the hints name, then rerun the %zu row%s "
		"left with:\n  mbxfix run --rerun-failed ",
		dir, bad, bad == 1 ? "" : "s");
	print_path(fp, job_path);
	fputc('\n', fp);
}

/* The exit status (cmds.h) of a run that got as far as its results. */
static int exit_status(const struct err *e, const struct results_counts *c)
{
	if (err_is_set(e))
		return err_exit_code(e);
	return c->by_outcome[RESULTS_FAILED] || c->by_outcome[RESULTS_INVALID]
		   ? 1
		   : 0;
}

/* Whether two paths name the same file (or are the same string). */
static bool same_path(const char *a, const char *b)
{
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!strcmp(a, b))
		return true;
	return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* Whether 'path' still has the SHA-256 'want'; a missing file has not. */
static bool same_content(const char *path, const char *want)
{
	struct err e = ERR_INIT;
	char sha[65];

	return want && results_sha256(path, sha, &e) == 0 && !strcmp(sha, want);
}

/*
 * --resume continues only an interrupted 'run' of the same input: the
 * job's latest run, with its journal and without the journal's end.
 * Anything else is refused, saying why (exit 2: nothing was sent yet).
 */
static int prepare_resume(struct job *job, char **dir, size_t *skip,
			  struct err *e)
{
	struct results_prior p;
	const char *input;
	int rc = -1;

	*dir = results_latest_dir(job->output, job->name, e);
	if (!*dir)
		return -1;
	if (results_prior_read(*dir, &p, e) < 0) {
		results_prior_release(&p);
		return -1;
	}
	input = p.input_copy ? p.input_copy : job->input;
	if (strcmp(p.command, "run"))
		err_set(e, ERR_CONFIG,
			"cannot resume '%s': it is a %s, and --resume "
			"continues only an interrupted run",
			*dir, p.command);
	else if (!p.has_journal)
		err_set(e, ERR_CONFIG, "cannot resume '%s': it has no journal",
			*dir);
	else if (p.finished)
		err_set(e, ERR_CONFIG,
			"cannot resume '%s': it finished (%zu rows, %zu not "
			"ok); --resume continues only an interrupted run, "
			"--rerun-failed runs its failed rows again",
			*dir, p.rows_done, p.rows_failed);
	else if (!p.input_copy && !same_path(p.input, job->input))
		err_set(e, ERR_CONFIG,
			"cannot resume '%s': it read '%s', not '%s'", *dir,
			p.input, job->input);
	else if (!same_content(input, p.input_sha256))
		err_set(e, ERR_CONFIG,
			"cannot resume '%s': its input '%s' changed since it "
			"started (SHA-256 differs)",
			*dir, input);
	else
		rc = 0;
	if (!rc && p.input_copy) {
		/* an interrupted --rerun-failed reads its own copy */
		free(job->input);
		job->input = xstrdup(p.input_copy);
	}
	*skip = p.rows_done;
	results_prior_release(&p);
	return rc;
}

/*
 * --rerun-failed: the failed and invalid rows of the job's latest run and,
 * when it was interrupted, the rows it never reached, written to a file
 * the new run keeps as its input.csv. '*tmp' gets that file, '*from' the
 * run it came from.
 */
static int prepare_rerun(struct job *job, char **tmp, char **from,
			 struct err *e)
{
	struct results_prior p;
	struct err pe = ERR_INIT;
	const char *input = NULL;
	size_t n;
	char name[64];
	char *dir = results_latest_dir(job->output, job->name, e);
	int rc = -1;

	if (!dir)
		return -1;
	if (results_prior_read(dir, &p, &pe) < 0 || !p.has_journal) {
		/* a run of an older mbxfix: its failed.csv as it is */
		char *failed = results_latest_failed(job->output, job->name, e);

		results_prior_release(&p);
		free(dir);
		if (!failed)
			return -1;
		free(job->input);
		job->input = failed;
		job_set_str(&job->input_encoding, ""); /* mbxfix wrote UTF-8 */
		return 0;
	}
	if (!p.finished) {
		input = p.input_copy ? p.input_copy : p.input;
		if (!same_content(input, p.input_sha256)) {
			err_set(
			    e, ERR_CONFIG,
			    "cannot rerun '%s': it was interrupted and its "
			    "input '%s' changed since, so the rows it never "
			    "reached are unknown",
			    dir, input);
			goto out;
		}
	}
	snprintf(name, sizeof(name), "/.rerun-%ld.csv", (long)getpid());
	{
		size_t len =
		    strlen(job->output) + strlen(job->name) + strlen(name) + 2;

		*tmp = xmalloc(len);
		snprintf(*tmp, len, "%s/%s%s", job->output, job->name, name);
	}
	unlink(*tmp);
	if (results_rerun_input(&p, input, job->input_encoding, *tmp, &n, e) <
	    0) {
		free(*tmp);
		*tmp = NULL;
		goto out;
	}
	free(job->input);
	job->input = xstrdup(*tmp);
	job_set_str(&job->input_encoding, ""); /* mbxfix wrote UTF-8 */
	*from = dir;
	dir = NULL;
	rc = 0;
out:
	results_prior_release(&p);
	free(dir);
	return rc;
}

static bool job_dir_exists(const struct job *job)
{
	struct stat st;
	size_t len = strlen(job->output) + strlen(job->name) + 2;
	char *p = xmalloc(len);
	bool ok;

	snprintf(p, len, "%s/%s", job->output, job->name);
	ok = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	free(p);
	return ok;
}

/* The options as given, for run.json. */
static char *options_text(int argc, char **argv)
{
	size_t len = 1;
	char *s;

	for (int i = 1; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = xcalloc(1, len);
	for (int i = 1; i < argc; i++) {
		if (i > 1)
			strncat(s, " ", len - strlen(s) - 1);
		strncat(s, argv[i], len - strlen(s) - 1);
	}
	return s;
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

/*
 * The selection of this run (select.h): the job's 'select' group and the
 * --where terms, or for diagnose without any input every mailbox that is
 * not healthy. None for --resume and --rerun-failed, whose rows are
 * known. -1 with 'e' set for a bad --where.
 */
static int gather_selection(const struct opts *o, const struct job *job,
			    const char *cmd, struct select_set *sel,
			    struct err *e)
{
	char why[256];

	if (o->resume || o->rerun_failed)
		return 0;
	for (size_t i = 0; i < job->select.n; i++) {
		struct buf t = BUF_INIT(BUF_MAX_SMALL);
		const struct select_term *st = &job->select.t[i];

		buf_addf(&t, "%s=%s", select_keys[st->key], st->value);
		if (select_add(sel, t.ptr, st->origin, why, sizeof(why)) < 0)
			BUG("select term '%s' parsed once already", t.ptr);
		buf_release(&t);
	}
	for (size_t i = 0; i < o->nwhere; i++)
		if (select_add(sel, o->where[i], "--where", why, sizeof(why)) <
		    0)
			return err_set(e, ERR_USAGE, "--where %s: %s",
				       o->where[i], why);
	if (!sel->n && !job->input && !strcmp(cmd, "diagnose") &&
	    select_add(sel, "status=unhealthy", "diagnose", why, sizeof(why)) <
		0)
		BUG("diagnose's default selection: %s", why);
	return 0;
}

/*
 * diagnose asks for no action and no role: rows that name none are
 * diagnosed (test_enable explains instead of testing), and without a
 * role grant_privileges is not asked of them (the diagnosis names the
 * role where a privilege is missing: remediate.h).
 */
static void diagnose_defaults(struct job *job)
{
	if (!*job->defaults.role)
		job->defaults.actions &= ~ROWS_ACT(ROWS_GRANT_PRIVILEGES);
	if (!job->defaults.actions)
		job->defaults.actions = ROWS_ACT(ROWS_TEST_ENABLE);
}

/*
 * Sign in and run the selection into a file the run then takes as its
 * input (kept as the run's input.csv, like --rerun-failed's): '*tmp'.
 */
static int run_selection(struct select_set *sel, struct engine *en,
			 struct job *job, char **tmp, size_t *nsel,
			 struct err *e)
{
	char name[64];
	size_t len;

	snprintf(name, sizeof(name), "/.select-%ld.csv", (long)getpid());
	len = strlen(job->output) + strlen(job->name) + strlen(name) + 2;
	*tmp = xmalloc(len);
	snprintf(*tmp, len, "%s/%s%s", job->output, job->name, name);
	if (select_run(sel, en, job, *tmp, nsel, e) < 0)
		return -1;
	free(job->input);
	job->input = xstrdup(*tmp);
	job_set_str(&job->input_encoding, ""); /* written in UTF-8 */
	return 0;
}

static int run_job(const char *cmd, bool readonly, int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct opts o;
	struct job job;
	struct rows *rows = NULL;
	struct results *res = NULL;
	struct engine *en = NULL;
	struct graph *graph = NULL;
	struct preflight *pf = NULL;
	struct progress prog;
	struct engine_setup es = {0};
	struct results_setup rs = {0};
	struct results_summary sum = {0};
	char *resume_dir = NULL, *rerun_tmp = NULL, *rerun_from = NULL;
	char *options = NULL;
	char job_sha[65] = "", input_sha[65] = "";
	int lock = -1;
	size_t skip = 0;
	double start = wall_now();
	struct runlog *rl = NULL;
	char sha[65] = "";
	bool nothing = false;
	struct select_set sel = {0};
	size_t nsel = 0;
	struct buf seldesc = BUF_INIT(BUF_MAX_SMALL);
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
	if (job_load(&job, o.job, &e) < 0 || opts_apply(&o, &job, &e) < 0 ||
	    gather_selection(&o, &job, cmd, &sel, &e) < 0)
		goto out;
	if (!strcmp(cmd, "diagnose"))
		diagnose_defaults(&job);
	/*
	 * One run of a job at a time, held until the process ends. A job
	 * never run has no folder yet and nothing to resume: its lock is
	 * taken just before the run is created, so a refused sign-in still
	 * leaves nothing behind.
	 */
	if (job_dir_exists(&job)) {
		lock = results_lock(job.output, job.name, &e);
		if (lock < 0)
			goto out;
	}
	if (o.resume && prepare_resume(&job, &resume_dir, &skip, &e) < 0)
		goto out;
	if (o.rerun_failed &&
	    prepare_rerun(&job, &rerun_tmp, &rerun_from, &e) < 0)
		goto out;
	if (nothing_to_rerun(&o, &job, rerun_from)) {
		nothing = true;
		goto out;
	}
	rl = runlog_new(o.verbosity > 0 ? LOG_DEBUG
					: (enum log_level)job.log_level);
	es.log = rl;
	es.job = &job;
	es.readonly = readonly;
	es.skip_rows = skip;
	es.stop = &stop;
	if (sel.n) {
		/*
		 * The mailboxes are known once signed in: the CSV (if any) is
		 * checked first, then the engine connects and the selection
		 * becomes the run's input.
		 */
		if (job.input &&
		    rows_open_encoding(&rows, job.input, &job.defaults,
				       job.input_encoding, &e) < 0)
			goto out;
		rows_free(rows);
		rows = NULL;
		catch_signals();
		if (lock < 0) {
			lock = results_lock(job.output, job.name, &e);
			if (lock < 0)
				goto out;
		}
		if (engine_new(&en, &es, &e) < 0 ||
		    engine_connect(en, &e) < 0 ||
		    run_selection(&sel, en, &job, &rerun_tmp, &nsel, &e) < 0)
			goto out;
		select_describe(&sel, &seldesc);
	}
	if (rows_open_encoding(&rows, job.input, &job.defaults,
			       job.input_encoding, &e) < 0)
		goto out;
	if (!resume_dir && (results_sha256(job.path, job_sha, &e) < 0 ||
			    results_sha256(job.input, input_sha, &e) < 0))
		goto out;
	/* names the rows use: templates now, the others once signed in */
	if (preflight_collect(&pf, &job, skip, &e) < 0 ||
	    preflight_templates(pf, &job, &e) < 0)
		goto out;
	/* run.log: held until the run folder exists (runlog.h) */
	if (*input_sha)
		memcpy(sha, input_sha, sizeof(sha));
	else
		runreport_sha256(job.input, sha);
	es.rows = rows;
	catch_signals();
	progress_init(&prog, stderr, !o.no_progress && o.verbosity >= 0,
		      isatty(STDERR_FILENO), 0);
	if (prog.enabled) {
		es.total_rows = count_rows(&job);
		es.total_rows = es.total_rows > skip ? es.total_rows - skip : 0;
		es.progress = &prog;
	}
	if (en)
		engine_set_rows(en, rows, es.total_rows, es.progress);
	if ((!en &&
	     (engine_new(&en, &es, &e) < 0 || engine_connect(en, &e) < 0)) ||
	    preflight_resolve(pf, en, &job, &e) < 0)
		goto out;
	engine_set_preflight(en, pf);
	/* the Exchange side, checked in Microsoft Graph (graph.h) */
	if (job.exchange_checks) {
		if (graph_new(&graph, &job, &e) < 0)
			goto out;
		graph_set_current(graph);
	}
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
	rs.command = cmd;
	rs.job_path = job.path;
	rs.job_sha256 = job_sha;
	rs.input_sha256 = input_sha;
	options = options_text(argc, argv);
	rs.options = options;
	rs.input_copy = rerun_tmp;
	rs.input_source = rerun_from;
	if (lock < 0) {
		lock = results_lock(job.output, job.name, &e);
		if (lock < 0)
			goto out;
	}
	if (results_open(&res, &rs, &e) < 0)
		goto out;
	if (rerun_tmp) {
		/* it is the run's input.csv now */
		free(rerun_tmp);
		rerun_tmp = NULL;
		{
			struct buf ip = BUF_INIT(SIZE_MAX / 2);

			buf_addf(&ip, "%s/input.csv", results_dir(res));
			free(job.input);
			job.input = buf_detach(&ip, NULL);
		}
	}
	if (open_run_log(rl, res, cmd, o.job, &job, sha, resume_dir, rerun_from,
			 &e) < 0)
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
		sum.throttled_waits = st->throttled_waits;
	}
	sum.version = MBXFIX_VERSION;
	sum.input_sha256 = *sha ? sha : NULL;
	sum.exit_status = exit_status(&e, results_counts(res));
	sum.pruned = runreport_prune(rl, results_dir(res), job.keep);
	runreport_end(rl, results_counts(res), &sum);
	if (results_finish(res, &sum, err_is_set(&e) ? NULL : &e) < 0)
		goto out;
	if (!rows_count(rows) && !skip && sel.n)
		log_warn("the selection (%s) matched no mailbox", seldesc.ptr);
	else if (!rows_count(rows) && !skip)
		log_warn("%s: no rows: the file holds a header and nothing "
			 "else",
			 job.input);
	report_and_say(res, o.verbosity >= 0 && !o.json);
	if (o.json) {
		if (runreport_json(stdout, results_dir(res),
				   err_is_set(&e) ? NULL : &e) < 0)
			goto out;
	} else if (o.verbosity < 0) {
		runreport_quiet(stdout, results_counts(res), sum.exit_status,
				results_dir(res));
	}
	if (o.verbosity >= 0 && !o.json)
		print_summary(stdout, cmd, res, engine_stats(en), sum.wall_s);
	if (o.verbosity >= 0 && !o.json && sel.n)
		printf("  selected    %zu mailbox%s where %s\n", nsel,
		       nsel == 1 ? "" : "es", seldesc.ptr);
	if (o.verbosity >= 0 && !o.json && strcmp(cmd, "diagnose"))
		print_next(stdout, cmd, &o, results_counts(res),
			   results_dir(res));
	if (!strcmp(cmd, "diagnose")) {
		size_t n = 0;

		if (remediate_write(results_dir(res), &n, &e) < 0)
			goto out;
		if (o.verbosity >= 0 && !o.json) {
			printf("  remediation %s/remediation.csv (%zu rows)\n",
			       results_dir(res), n);
			print_next(stdout, cmd, &o, results_counts(res),
				   results_dir(res));
		}
	}
out:
	if (nothing) {
		rc = 0;
	} else if (err_is_set(&e)) {
		fprintf(stderr, "mbxfix: %s\n", e.msg);
		rc = err_exit_code(&e);
		/*
		 * exit 2 says the job or its input is wrong and nothing was
		 * changed: never once a write went out (a default that does
		 * not resolve is found by reads, before any write: still 2)
		 */
		if (rc == 2 && en && engine_stats(en)->writes > 0)
			rc = 3;
	} else {
		const struct results_counts *c = results_counts(res);

		rc = c->by_outcome[RESULTS_FAILED] ||
			     c->by_outcome[RESULTS_INVALID]
			 ? 1
			 : 0;
	}
	{
		struct err le = ERR_INIT;

		if (runlog_close(rl, &le) < 0)
			fprintf(stderr, "mbxfix: %s\n", le.msg);
	}
	graph_free(graph);
	engine_free(en);
	preflight_free(pf);
	results_free(res);
	rows_free(rows);
	job_release(&job);
	free(resume_dir);
	if (rerun_tmp)
		unlink(rerun_tmp);
	free(rerun_tmp);
	free(rerun_from);
	free(options);
	select_release(&sel);
	buf_release(&seldesc);
	if (lock >= 0)
		close(lock);
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
