/*
 * mbxfix check JOB.cfg [--input FILE]: validate the job file and every
 * input row without touching the network.
 *
 * Every problem goes to stderr, one line each, naming the file and the
 * row (and line); one summary line goes to stdout. Exit status:
 *   0  the job file and every row are valid
 *   1  some rows are invalid: 'run' would report them 'invalid' and go
 *      on with the others (and itself exit 1)
 *   2  usage error, job-file error, or an input file that cannot be used
 *      at all (unreadable, no header, no 'mailbox' column): 'run' would
 *      stop before any request
 * An unset secret_env variable is a warning only: check runs offline,
 * often where the secret is not available. Privilege templates are
 * checked here too (preflight.h): a row naming one that does not load is
 * invalid, a defaults.privileges that does not load is a job error; the
 * names only Dataverse knows (profiles, roles, owners) wait for
 * run/plan's preflight.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "job.h"
#include "log.h"
#include "opts.h"
#include "preflight.h"
#include "rows.h"

#include "banned.h"

static void count_actions(size_t counts[ROWS_NACTIONS], unsigned mask)
{
	for (int a = 0; a < ROWS_NACTIONS; a++)
		if (mask & ROWS_ACT(a))
			counts[a]++;
}

int cmd_check(int argc, char **argv)
{
	struct err e = ERR_INIT;
	struct opts o;
	struct job job;
	struct rows *rows = NULL;
	struct preflight *pf = NULL;
	struct row *row;
	size_t valid = 0, invalid = 0, acts[ROWS_NACTIONS] = {0};
	int rc = 2;

	memset(&job, 0, sizeof(job));
	if (opts_parse(&o, "check", argc, argv, &e) < 0) {
		fprintf(stderr, "mbxfix: %s\n", e.msg);
		opts_usage("check", stderr);
		return 2;
	}
	if (o.help) {
		opts_usage("check", stdout);
		return 0;
	}
	log_set_level((enum log_level)opts_log_level(&o));
	if (job_load(&job, o.job, &e) < 0 || opts_apply(&o, &job, &e) < 0)
		goto out;
	if (job.auth == JOB_AUTH_SECRET && job.secret_env &&
	    !getenv(job.secret_env))
		log_warn("%s: environment variable '%s' (auth.secret_env) is "
			 "not set; 'run' will need it",
			 job.path, job.secret_env);
	if (rows_open_encoding(&rows, job.input, &job.defaults,
			       job.input_encoding, &e) < 0 ||
	    preflight_collect(&pf, &job, 0, &e) < 0 ||
	    preflight_templates(pf, &job, &e) < 0)
		goto out;
	for (;;) {
		struct preflight_failure f;

		if (rows_next(rows, &row, &e) < 0)
			goto out;
		if (!row)
			break;
		if (row->valid && preflight_row(pf, row, &f)) {
			invalid++;
			fprintf(stderr,
				"%s: row %zu (line %zu): column "
				"'privileges': %s\n",
				rows_path(rows), row->num, row->line,
				f.message);
		} else if (row->valid) {
			valid++;
			count_actions(acts, row->actions);
			log_info("%s: row %zu (line %zu): mailbox '%s' ok",
				 rows_path(rows), row->num, row->line,
				 row->mailbox);
		} else {
			invalid++;
			fprintf(stderr, "%s\n", row->error);
		}
		rows_row_free(row);
	}
	printf("%s: %zu rows in '%s': %zu valid, %zu invalid", job.path,
	       valid + invalid, job.input, valid, invalid);
	for (int a = 0, first = 1; a < ROWS_NACTIONS; a++) {
		if (!acts[a])
			continue;
		printf("%s %s %zu", first ? ";" : ",",
		       rows_action_name((enum rows_action)a), acts[a]);
		first = 0;
	}
	putchar('\n');
	if (!valid && !invalid)
		printf("%s: no rows: the file holds a header and nothing "
		       "else\n",
		       job.input);
	fflush(stdout);
	rc = invalid ? 1 : 0;
out:
	if (err_is_set(&e))
		fprintf(stderr, "mbxfix: %s\n", e.msg);
	rows_free(rows);
	preflight_free(pf);
	job_release(&job);
	return rc;
}
