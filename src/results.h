/*
 * results.h: the files of one run, under OUTPUT/JOB/RUN-ID/.
 *
 * RUN-ID is the UTC start time and the process id, "20261120T231500Z-4242"
 * (sorts by time; "-2", "-3"... is appended in the unlikely case the
 * directory exists). OUTPUT/JOB/latest is a relative symlink to the newest
 * 'run', replaced atomically when it starts (results_open()); 'plan' and
 * 'diagnose' move latest-plan and latest-diagnose instead.
 *
 *   journal      append-only: every row's lines and every write's intent,
 *                sending and outcome (docs/journal.md). results.csv and
 *                failed.csv are derived from it: a line reaches them only
 *                once the journal holds it, and --resume rebuilds both
 *                from the journal whenever the process died.
 *   run.json     what the run is: command, job file and its SHA-256,
 *                input path and SHA-256, options; input_copy names
 *                input.csv, the run's own input (--rerun-failed)
 *
 *   results.csv  one line per input row, in INPUT ORDER: the input fields
 *                as given (padded with empty cells or cut to the header's
 *                width so the result columns stay aligned), then
 *                result,set_profile,set_delivery,fix_owner,grant_privileges,
 *                approve,test_enable,error_code,error_message,hint,attempts,
 *                incoming_status,outgoing_status,act_status,mailbox_id
 *   failed.csv   the failed and invalid rows: the input header and the
 *                input fields as given (a shorter row padded with empty
 *                cells to the header's width, a longer one kept whole),
 *                then mbxfix_error_code and mbxfix_error (the row's
 *                error_code and error_message); usable as input again as
 *                it is: the reader drops those two columns (rows.h)
 *   summary.json version, command, exit status, start and end times, the
 *                input and its SHA-256, counts by result, per action and
 *                by error code, requests, retries, throttling, timings
 *   run.log      one JSON object per line
 *
 * Rows complete out of order; results_add() records each in the journal at
 * once and writes its lines to results.csv as soon as every earlier row is
 * written, flushing each line (or whole lines every few hundred ms,
 * results_set_flush_ms()), so an interrupted run leaves a valid prefix of
 * results.csv. A row completed ahead of an earlier one is held as the
 * place of its lines in the journal (a few dozen bytes), not the lines.
 *
 * Both CSV files are UTF-8 (a byte that is not becomes U+FFFD, a NUL is
 * dropped), use the input's delimiter, start with a UTF-8 BOM when
 * results_setup.bom says so (the job's output_bom; by default when the
 * input had a BOM or was decoded from another encoding), end lines with
 * CRLF (RFC 4180; the reader takes both), and quote a cell holding the
 * delimiter, a quote, CR or LF (quotes doubled). A cell a spreadsheet
 * would execute is neutralised with a leading single quote, in every
 * column of both files (cell.h: numbers are not); the reader (rows.h)
 * removes exactly that quote again, so failed.csv runs again as it is.
 *
 * Status cells: "not-run", "success", "failure" (option values 0/1/2),
 * empty when unknown.
 */
#ifndef MBXFIX_RESULTS_H
#define MBXFIX_RESULTS_H

/* The two last columns of failed.csv, which the reader drops (rows.h). */
#define RESULTS_FAILED_CODE_COL "mbxfix_error_code"
#define RESULTS_FAILED_MSG_COL "mbxfix_error"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "rows.h"

enum results_outcome {
	RESULTS_OK = 0,	 /* "ok": every asked action done or unchanged */
	RESULTS_FAILED,	 /* "failed" */
	RESULTS_INVALID, /* "invalid": the row could not be understood */
	RESULTS_NOUTCOMES
};

enum results_state {
	RESULTS_EMPTY = 0,  /* "": not asked */
	RESULTS_DONE,	    /* "done" */
	RESULTS_UNCHANGED,  /* "unchanged" */
	RESULTS_FAILED_ACT, /* "failed" */
	RESULTS_SKIPPED,    /* "skipped" */
	RESULTS_WOULD,	    /* "would-change": plan only, a write is needed */
	RESULTS_NSTATES
};

/* Status value not known: written as an empty cell. */
#define RESULTS_STATUS_UNKNOWN (-1)

/*
 * The outcome of one row, filled by the engine. Strings are borrowed for
 * the call; NULL is written as an empty cell.
 */
struct results_row {
	enum results_outcome result;
	enum results_state action[ROWS_NACTIONS]; /* by enum rows_action */
	const char *error_code;
	const char *error_message;
	const char *hint;
	int attempts;
	int status[ROWS_NDELIVERY]; /* incoming/outgoing/act status, or
				       RESULTS_STATUS_UNKNOWN */
	const char *mailbox_id;
	/* plan: <action>_now and <action>_then (NULL: empty cell) */
	const char *now[ROWS_NACTIONS];
	const char *then[ROWS_NACTIONS];
};

/* Initialise 'r': outcome ok, every action empty, statuses unknown. */
void results_row_init(struct results_row *r);

/*
 * Fill 'r' for an invalid row: result invalid, error_code "InvalidRow",
 * error_message = row->reason (borrowed from 'row'), hint telling to fix
 * the row and run failed.csv again.
 */
void results_row_invalid(struct results_row *r, const struct row *row);

/* What the engine measured; results_finish() adds the counts it kept. */
struct results_summary {
	const char *command; /* "run", "plan", "diagnose" */
	double wall_s;	     /* start to end */
	double cpu_s;	     /* user + system CPU of the process */
	long peak_rss_kb;    /* 0 when unknown */
	uint64_t requests;   /* HTTP requests sent, token requests included */
	uint64_t batches;    /* of which $batch requests */
	uint64_t operations; /* operations inside and outside batches */
	uint64_t retries;    /* operations sent again */
	uint64_t throttled;  /* 429 answers (and changesets) received */
	double throttled_s;  /* time spent waiting for Retry-After */
	bool interrupted;    /* the run stopped before every row was done */
	/* summary_extra() in results.c */
	const char *version;	  /* mbxfix's */
	int exit_status;	  /* the process's (cmds.h) */
	const char *input_sha256; /* hex; NULL: unknown */
	uint64_t throttled_waits; /* waits for Retry-After, probe included */
	size_t pruned;		  /* run folders removed (retention.h) */
};

/* Counts kept by results_add(). */
struct results_counts {
	size_t rows;
	size_t by_outcome[RESULTS_NOUTCOMES];
	size_t by_action[ROWS_NACTIONS][RESULTS_NSTATES];
};

/* Rows that were not ok, by error code (count_code() in results.c). */
struct results_code_count {
	char code[64];
	size_t n;
};

/* What results_open() needs; strings borrowed for the call. */
struct results_setup {
	const char *output; /* the job's output directory */
	const char *job_name;
	const char *input; /* the input path, recorded in summary.json */
	const char *const *header; /* the input's header fields as given */
	size_t ncols;
	char delim;		/* rows_delim() */
	bool bom;		/* write a UTF-8 BOM */
	const char *resume_dir; /* NULL: a new run; else continue this run
				   directory (see results_resume_point()) */
	/* recorded in run.json */
	const char *command; /* "run" (NULL too), "plan", "diagnose" */
	const char *job_path;
	const char *job_sha256;
	const char *input_sha256;
	const char *options;	  /* the command line's options */
	const char *input_copy;	  /* a file moved into the run as input.csv,
				     which becomes its input */
	const char *input_source; /* the run input_copy was taken from */
};

struct results;

/*
 * Create OUTPUT/JOB/RUN-ID/ (parents too), write run.json, the journal's
 * first records, the headers of results.csv and failed.csv, open run.log
 * and point OUTPUT/JOB/latest (or latest-plan...) at the new run. With
 * 'resume_dir', reopen that run instead: results.csv and failed.csv are
 * written again from the journal, whose rows count as done
 * (results_row_done()) and in the counts (the header must match).
 * Returns 0 with '*out' to free with results_free(), or -1 with 'e' set
 * (ERR_IO, exit 3: not writable; ERR_INPUT: resume header mismatch).
 */
int results_open(struct results **out, const struct results_setup *s,
		 struct err *e);

/* The run directory "OUTPUT/JOB/RUN-ID"; borrowed. */
const char *results_dir(const struct results *r);

/*
 * Record the outcome of 'row'. Rows may come in any order but each row
 * number from the first expected one up must come exactly once (BUG()
 * otherwise). Lines are written as soon as all earlier rows are written.
 * Returns 0, or -1 with 'e' set (ERR_IO) when a write fails.
 */
int results_add(struct results *r, const struct row *row,
		const struct results_row *res, struct err *e);

/*
 * Flush results.csv and failed.csv at most every 'ms' milliseconds
 * instead of after every line (0, the default: every line). Lines are
 * held whole and written together, so the files still hold a valid
 * prefix at any point; results_flush(), results_finish() and
 * results_free() write what is held.
 */
void results_set_flush_ms(struct results *r, long ms);

/* Write the held lines if the last flush is older than the interval. */
int results_flush_due(struct results *r, struct err *e);

/* Write the held lines now. Returns 0, or -1 with 'e' set (ERR_IO). */
int results_flush(struct results *r, struct err *e);

/*
 * Whether results.csv or failed.csv could not be written: the rows are
 * still journalled, the engine takes no new row, and results_finish()
 * returns the error (exit 3).
 */
bool results_broken(const struct results *r);

/* --resume: whether the journal already holds row 'num'. */
bool results_row_done(const struct results *r, size_t num);

/*
 * The journal's records of one write operation 'seq' (unique in the
 * process): its intent (row, action, method, URL, body) added before the
 * request holding it is built, results_sync() before it is sent, then
 * results_sent() and, once its answer is known, results_outcome() with
 * the HTTP status (0: no answer) and error code.
 */
int results_intent(struct results *r, unsigned long seq, size_t row,
		   const char *action, const char *method, const char *url,
		   const char *body);
void results_sent(struct results *r, unsigned long seq);
void results_outcome(struct results *r, unsigned long seq, long status,
		     const char *code);

/* Write the journal's records added so far. 0 or -1 (ERR_IO). */
int results_sync(struct results *r, struct err *e);

/* Rows written to results.csv so far (resumed rows included). */
size_t results_written(const struct results *r);

/* Rows added but waiting for an earlier one. */
size_t results_pending(const struct results *r);

/* Counts of the rows of the run (those of a resumed run's journal too). */
const struct results_counts *results_counts(const struct results *r);

/* One run.log line. Strings borrowed; NULL/0 fields are left out. */
struct results_event {
	const char *level;  /* "error", "warn", "info", "debug" */
	size_t row;	    /* 0: not about a row */
	const char *action; /* "set_delivery", "auth", "batch"... */
	long http_status;   /* 0: none */
	const char *error_code;
	const char *message; /* never a secret or token */
};

/*
 * Append {"time":"2026-11-20T23:15:00.123Z","level":...,"row":N,
 * "action":...,"http_status":N,"error_code":...,"message":...} and a
 * newline to run.log, flushed. Returns 0, or -1 with 'e' set (ERR_IO).
 */
int results_log(struct results *r, const struct results_event *ev,
		struct err *e);

/*
 * Write summary.json from 's' and the counts (rows, by result, per
 * action, throughput = rows / wall_s) and flush everything. Rows still
 * pending are not written (an interrupted run). Returns 0 or -1 (ERR_IO).
 */
int results_finish(struct results *r, const struct results_summary *s,
		   struct err *e);

/* Close the files and free; NULL does nothing. */
void results_free(struct results *r);

/*
 * Path of the newest run's failed.csv, "OUTPUT/JOB/latest/failed.csv",
 * for --rerun-failed. Returns a new string (free()) or NULL with 'e' set
 * (ERR_INPUT) when there is no previous run or it has no failed.csv.
 */
char *results_latest_failed(const char *output, const char *job_name,
			    struct err *e);

/*
 * The newest run's directory, resolved through 'latest' (for --resume).
 * Returns a new string (free()) or NULL with 'e' set (ERR_INPUT).
 */
char *results_latest_dir(const char *output, const char *job_name,
			 struct err *e);

/*
 * For --resume: how many data rows 'run_dir'/journal holds (in any
 * order; results_row_done() tells which). Returns 0 or -1 with 'e' set.
 */
int results_resume_point(const char *run_dir, size_t *rows_done, struct err *e);

/*
 * One run of a job at a time: take OUTPUT/JOB/.lock (flock, released when
 * the process ends, however it ends) and write our pid and start time in
 * it. Returns the descriptor to keep open, or -1 with 'e' set (ERR_IO,
 * naming the job and the holder's pid and start time).
 */
int results_lock(const char *output, const char *job_name, struct err *e);

/* An earlier run, from its run.json and journal. */
struct results_prior {
	char *dir;
	char *command;	    /* "run", "plan", "diagnose" */
	char *input;	    /* the input it read */
	char *input_sha256; /* of that input when the run started */
	char *input_copy;   /* its own copy (RUN-DIR/input.csv) or NULL */
	bool has_journal;
	bool finished; /* every row done (the journal's "end" record) */
	size_t rows_done, rows_failed;
};

/* Fill 'p' (release with results_prior_release()); -1 with 'e' set. */
int results_prior_read(const char *run_dir, struct results_prior *p,
		       struct err *e);
void results_prior_release(struct results_prior *p);

/*
 * --rerun-failed: write to 'out_path' (a new file) the input header and,
 * in input order, the rows of run 'p' that did not succeed: the failed
 * and invalid rows of its journal and, when it was interrupted, the rows
 * it never reached, read from 'input' (its input, checked by the caller,
 * in 'encoding': rows_open_encoding()), all as failed.csv lines (the
 * never reached ones with empty error cells). The file is UTF-8 whatever
 * the input's encoding. '*nrows' gets their number. Returns 0 or -1 with
 * 'e' set.
 */
int results_rerun_input(const struct results_prior *p, const char *input,
			const char *encoding, const char *out_path,
			size_t *nrows, struct err *e);

/* SHA-256 of the file 'path' as 64 hex digits. 0 or -1 with 'e' set. */
int results_sha256(const char *path, char hex[65], struct err *e);

/*
 * Append one CSV cell to 'out': made valid UTF-8, neutralised as above
 * when 'neutralise', then quoted when needed. Returns 0 or -1 when 'out'
 * is full.
 */
int results_csv_cell(struct buf *out, const char *s, size_t len, char delim,
		     bool neutralise);

/* plan: the changes grouped (plan_summary.h); NULL for other commands. */
struct plan_summary;
const struct plan_summary *results_plan_summary(const struct results *r);

/* "ok"/"failed"/"invalid", "done"/..., "not-run"/"success"/"failure". */
const char *results_outcome_name(enum results_outcome o);
const char *results_state_name(enum results_state s);
const char *results_status_name(int status);

#endif
