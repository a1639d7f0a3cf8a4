#include "compat.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>

#include "log.h"
#include "opts.h"
#include "results.h"

#include "banned.h"

enum {
	O_INPUT = 1 << 0,
	O_OUTPUT = 1 << 1,
	O_PARALLEL = 1 << 2,
	O_BATCH = 1 << 3,
	O_RERUN = 1 << 4,
	O_RESUME = 1 << 5,
	O_NOPROGRESS = 1 << 6,
	O_JSON = 1 << 7,
	O_WHERE = 1 << 8,
	O_ALL = (1 << 9) - 1
};

static const struct cmdopts {
	const char *cmd;
	unsigned allowed;
	const char *synopsis;
	const char *what;
} cmds[] = {
    {"check", O_INPUT, "[-qv] [--input FILE] JOB.cfg",
     "validate the job file and every input row, offline"},
    {"diagnose",
     O_INPUT | O_OUTPUT | O_PARALLEL | O_BATCH | O_NOPROGRESS | O_JSON |
	 O_WHERE,
     "[-qv] [--batch-size N] [--input FILE] [--json] [--no-progress]\n"
     "       [--output DIR] [--parallel N] [--where K=V]... JOB.cfg",
     "read mailboxes and alerts, explain each problem, write remediation "
     "rows"},
    {"plan",
     O_INPUT | O_OUTPUT | O_PARALLEL | O_BATCH | O_NOPROGRESS | O_JSON |
	 O_WHERE,
     "[-qv] [--batch-size N] [--input FILE] [--json] [--no-progress]\n"
     "       [--output DIR] [--parallel N] [--where K=V]... JOB.cfg",
     "read-only: report what run would change"},
    {"run", O_ALL,
     "[-qv] [--batch-size N] [--input FILE | --rerun-failed] [--json]\n"
     "       [--no-progress] [--output DIR] [--parallel N] [--resume]\n"
     "       [--where K=V]... JOB.cfg",
     "apply the job"},
};

static const struct {
	unsigned bit;
	const char *text;
} opt_help[] = {
    {O_BATCH, "  --batch-size N  operations per $batch (0..1000, 0 = "
	      "choose)\n"},
    {O_INPUT, "  --input FILE    input CSV (overrides the job's 'input')\n"},
    {O_JSON, "  --json          print summary.json on stdout at the end\n"},
    {O_NOPROGRESS, "  --no-progress   no progress line\n"},
    {O_OUTPUT, "  --output DIR    results directory (overrides 'output')\n"},
    {O_PARALLEL, "  --parallel N    requests in flight (0..256, 0 = "
		 "choose)\n"},
    {O_RERUN, "  --rerun-failed  input = failed.csv of the job's latest "
	      "run\n"},
    {O_RESUME, "  --resume        continue the job's latest, interrupted "
	       "run\n"},
    {O_WHERE,
     "  --where K=V     choose mailboxes: profile=NAME, status=failure|"
     "never-tested|\n"
     "                  not-enabled|unhealthy, approval=not-approved,"
     " business_unit=NAME,\n"
     "                  type=user|queue, view=NAME (a saved or personal "
     "view)\n"
     "                  (repeatable, all must hold)\n"},
};

static const struct cmdopts *find(const char *cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(cmds[i].cmd, cmd))
			return &cmds[i];
	BUG("opts: unknown command '%s'", cmd);
}

void opts_usage(const char *cmd, FILE *fp)
{
	const struct cmdopts *c = find(cmd);

	fprintf(fp, "usage: mbxfix %s %s\n\n%s\n\n", c->cmd, c->synopsis,
		c->what);
	for (size_t i = 0; i < ARRAY_SIZE(opt_help); i++)
		if (c->allowed & opt_help[i].bit)
			fputs(opt_help[i].text, fp);
	fputs("  -q, --quiet     errors and one closing line only\n"
	      "  -v, --verbose   more detail (repeat for more)\n"
	      "  -h, --help      this text\n",
	      fp);
	if (!strcmp(cmd, "check"))
		fputs("\nexit status: 0 all rows valid, 1 some rows invalid, "
		      "2 job-file, input-file or usage error\n",
		      fp);
}

static int number(const char *opt, const char *arg, int min, int max, int *out,
		  struct err *e)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		return err_set(e, ERR_USAGE,
			       "%s: '%s' is not a number from %d to %d", opt,
			       arg, min, max);
	*out = (int)v;
	return 0;
}

int opts_parse(struct opts *o, const char *cmd, int argc, char **argv,
	       struct err *e)
{
	enum {
		L_BATCH = 256,
		L_INPUT,
		L_JSON,
		L_NOPROG,
		L_OUTPUT,
		L_PARALLEL,
		L_RERUN,
		L_RESUME,
		L_WHERE
	};
	static const struct option longopts[] = {
	    {"batch-size", required_argument, NULL, L_BATCH},
	    {"help", no_argument, NULL, 'h'},
	    {"input", required_argument, NULL, L_INPUT},
	    {"json", no_argument, NULL, L_JSON},
	    {"no-progress", no_argument, NULL, L_NOPROG},
	    {"output", required_argument, NULL, L_OUTPUT},
	    {"parallel", required_argument, NULL, L_PARALLEL},
	    {"quiet", no_argument, NULL, 'q'},
	    {"rerun-failed", no_argument, NULL, L_RERUN},
	    {"resume", no_argument, NULL, L_RESUME},
	    {"verbose", no_argument, NULL, 'v'},
	    {"where", required_argument, NULL, L_WHERE},
	    {NULL, 0, NULL, 0},
	};
	const struct cmdopts *c = find(cmd);
	int ch;

	memset(o, 0, sizeof(*o));
	o->cmd = c->cmd;
	o->parallel = OPTS_UNSET;
	o->batch_size = OPTS_UNSET;
	opterr = 0;
	optind = 0; /* glibc: start afresh (tests parse several times) */
	while ((ch = getopt_long(argc, argv, ":hqv", longopts, NULL)) != -1) {
		unsigned bit = 0;
		const char *name = NULL;

		switch (ch) {
		case L_BATCH:
			bit = O_BATCH, name = "--batch-size";
			break;
		case L_INPUT:
			bit = O_INPUT, name = "--input";
			break;
		case L_JSON:
			bit = O_JSON, name = "--json";
			break;
		case L_NOPROG:
			bit = O_NOPROGRESS, name = "--no-progress";
			break;
		case L_OUTPUT:
			bit = O_OUTPUT, name = "--output";
			break;
		case L_PARALLEL:
			bit = O_PARALLEL, name = "--parallel";
			break;
		case L_RERUN:
			bit = O_RERUN, name = "--rerun-failed";
			break;
		case L_RESUME:
			bit = O_RESUME, name = "--resume";
			break;
		case L_WHERE:
			bit = O_WHERE, name = "--where";
			break;
		case 'h':
			o->help = true;
			return 0;
		case 'q':
			o->verbosity = -1;
			continue;
		case 'v':
			if (o->verbosity >= 0)
				o->verbosity++;
			continue;
		case ':':
			return err_set(e, ERR_USAGE,
				       "option '%s' needs a value",
				       argv[optind - 1]);
		default:
			return err_set(e, ERR_USAGE, "unknown option '%s'",
				       argv[optind - 1]);
		}
		if (!(c->allowed & bit))
			return err_set(e, ERR_USAGE,
				       "mbxfix %s does not take %s", c->cmd,
				       name);
		switch (ch) {
		case L_BATCH:
			if (number(name, optarg, 0, 1000, &o->batch_size, e) <
			    0)
				return -1;
			break;
		case L_PARALLEL:
			if (number(name, optarg, 0, 256, &o->parallel, e) < 0)
				return -1;
			break;
		case L_INPUT:
			if (!*optarg)
				return err_set(e, ERR_USAGE,
					       "--input: empty file name");
			o->input = optarg;
			break;
		case L_OUTPUT:
			if (!*optarg)
				return err_set(
				    e, ERR_USAGE,
				    "--output: empty directory name");
			o->output = optarg;
			break;
		case L_JSON:
			o->json = true;
			break;
		case L_NOPROG:
			o->no_progress = true;
			break;
		case L_RERUN:
			o->rerun_failed = true;
			break;
		case L_RESUME:
			o->resume = true;
			break;
		case L_WHERE:
			if (o->nwhere == OPTS_MAX_WHERE)
				return err_set(e, ERR_USAGE,
					       "--where: at most %d terms",
					       OPTS_MAX_WHERE);
			o->where[o->nwhere++] = optarg;
			break;
		}
	}
	if (optind >= argc)
		return err_set(e, ERR_USAGE, "mbxfix %s: no job file given",
			       c->cmd);
	o->job = argv[optind++];
	/* getopt_long moved the operands last: more than one is an error */
	if (optind < argc)
		return err_set(e, ERR_USAGE,
			       "mbxfix %s: one job file only ('%s', '%s')",
			       c->cmd, o->job, argv[optind]);
	if (o->rerun_failed && o->input)
		return err_set(e, ERR_USAGE,
			       "--input and --rerun-failed cannot be used "
			       "together");
	if (o->nwhere && (o->rerun_failed || o->resume))
		return err_set(e, ERR_USAGE,
			       "--where cannot be used with %s (that run's "
			       "rows are known already)",
			       o->resume ? "--resume" : "--rerun-failed");
	if (o->rerun_failed && o->resume)
		return err_set(e, ERR_USAGE,
			       "--resume and --rerun-failed cannot be used "
			       "together");
	return 0;
}

int opts_apply(const struct opts *o, struct job *j, struct err *e)
{
	if (o->output)
		job_set_str(&j->output, o->output);
	if (o->input)
		job_set_str(&j->input, o->input);
	if (o->parallel != OPTS_UNSET)
		j->parallel = o->parallel;
	if (o->batch_size != OPTS_UNSET)
		j->batch_size = o->batch_size;
	/* --rerun-failed: the run picks its input (cmd_run.c); a selection
	 * or diagnose needs none */
	if (!j->input && !o->rerun_failed && !o->nwhere && !j->select.n &&
	    strcmp(o->cmd, "diagnose"))
		return err_set(e, ERR_CONFIG,
			       "%s: no input: set 'input' in the job file or "
			       "use --input",
			       j->path);
	return 0;
}

int opts_log_level(const struct opts *o)
{
	if (o->verbosity < 0)
		return LOG_ERROR;
	if (o->verbosity == 0)
		return LOG_WARN;
	if (o->verbosity == 1)
		return LOG_INFO;
	return LOG_DEBUG;
}
