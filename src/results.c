/*
 * results.c: the files of one run (results.h).
 *
 * About 1,600 lines: the run directory and its pointers, the reorder of
 * finished rows into input order, results.csv and failed.csv lines, the
 * journal records they are derived from, summary.json and --resume's
 * rebuild all turn on the one struct results and its invariant (a line
 * reaches results.csv or failed.csv only once the journal holds it), so
 * they stay together; cell quoting is cell.c, the journal's file format
 * journal.c, run.log runlog.c.
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <csv.h>
#include <openssl/evp.h>

#include "buf.h"
#include "cell.h"
#include "journal.h"
#include "plan_summary.h"
#include "results.h"
#include "runlog.h"
#include "testhook.h"

#include "banned.h"

/* A line may not be larger than this (a row is at most ROWS_MAX_RECORD). */
#define LINE_MAX_BYTES (4 * ROWS_MAX_RECORD)
/* Lines held back for a timed flush are written out beyond this size. */
#define HOLD_MAX_BYTES (64 * 1024)

static const char *const outcome_names[RESULTS_NOUTCOMES] = {"ok", "failed",
							     "invalid"};
static const char *const state_names[RESULTS_NSTATES] = {
    "", "done", "unchanged", "failed", "skipped", "would-change"};
static const char *const status_names[] = {"not-run", "success", "failure"};

static const char *const result_cols[] = {
    "result",		"set_profile", "set_delivery", "fix_owner",
    "grant_privileges", "approve",     "test_enable",  "error_code",
    "error_message",	"hint",	       "attempts",     "incoming_status",
    "outgoing_status",	"act_status",  "mailbox_id",
};

/*
 * A row completed ahead of an earlier one: its lines are in the journal
 * (a results.csv line and, when it did not succeed, a failed.csv line
 * right after it), read back when its turn comes. Memory per row held is
 * this struct, not the lines.
 */
struct slot {
	bool used;
	size_t num;
	off_t off;	      /* of the payload in the journal */
	size_t rlen;	      /* results.csv line */
	size_t flen;	      /* failed.csv line, 0 when the row succeeded */
	unsigned char result; /* read back: enum results_outcome */
	unsigned char state[ROWS_NACTIONS]; /* read back: the actions */
};

struct results {
	char *jobdir; /* OUTPUT/JOB */
	char *dir;    /* OUTPUT/JOB/RUN-ID */
	char *runid;
	char *input;
	char *command; /* "run", "plan", "diagnose" */
	char *res_path, *failed_path, *log_path, *journal_path;
	FILE *res, *failed, *log;
	char delim;
	size_t ncols;
	char started[40];

	size_t next;	     /* the next row number to write */
	size_t resumed;	     /* rows done by an earlier process */
	struct slot *done;   /* --resume: rows the journal holds, by number */
	size_t ndone, idone; /* idone: the first not yet in results.csv */
	struct journal *j;
	bool broken;	 /* results.csv or failed.csv cannot be written */
	struct err werr; /* why */
	unsigned long lines_out; /* results.csv lines written (test hook) */
	struct slot *win;
	size_t wcap; /* power of two */
	size_t npending;
	struct results_counts counts;

	/* results_set_flush_ms(): whole lines held back, written together */
	long flush_ms;
	int64_t flushed_at; /* CLOCK_MONOTONIC, ms */
	struct buf hold, fhold;
	struct buf line, fline; /* results_add(): reused, not re-grown */
	struct buf head;	/* a journal record's head, reused */

	struct results_code_count *codes; /* count_code() */
	size_t ncodes;

	/* plan: <action>_now/_then columns, plan.csv, the grouped changes */
	bool plan;
	struct plan_summary *ps;
};

const char *results_outcome_name(enum results_outcome o)
{
	return (int)o >= 0 && o < RESULTS_NOUTCOMES ? outcome_names[o] : "";
}

const char *results_state_name(enum results_state s)
{
	return (int)s >= 0 && s < RESULTS_NSTATES ? state_names[s] : "";
}

const char *results_status_name(int status)
{
	if (status < 0 || (size_t)status >= ARRAY_SIZE(status_names))
		return "";
	return status_names[status];
}

void results_row_init(struct results_row *r)
{
	memset(r, 0, sizeof(*r));
	r->result = RESULTS_OK;
	for (int i = 0; i < ROWS_NDELIVERY; i++)
		r->status[i] = RESULTS_STATUS_UNKNOWN;
}

void results_row_invalid(struct results_row *r, const struct row *row)
{
	results_row_init(r);
	r->result = RESULTS_INVALID;
	r->error_code = "InvalidRow";
	r->error_message = row->reason;
	r->hint = "correct the row in failed.csv and run it again "
		  "(mbxfix run JOB --rerun-failed)";
}

/* The bytes that make a cell quoted, besides the delimiter. */
static const bool needs_quotes[256] = {
    ['"'] = true, ['\r'] = true, ['\n'] = true};

/*
 * 's' as valid UTF-8 without NUL bytes, in 'tmp' when it is not already:
 * a byte that starts no valid sequence becomes U+FFFD, a NUL is dropped.
 */
static const char *utf8_clean(const char *s, size_t *len, struct buf *tmp)
{
	size_t i = 0, n = *len;

	while (i < n && (unsigned char)s[i] - 1u < 0x7fu)
		i++; /* ASCII without NUL: the common case */
	while (i < n) {
		size_t k = cell_utf8_seq(s + i, n - i);

		if (!k || !s[i])
			break;
		i += k;
	}
	if (i == n)
		return s;
	buf_add(tmp, s, i);
	while (i < n) {
		size_t k = cell_utf8_seq(s + i, n - i);

		if (!k) {
			buf_addstr(tmp, "\xef\xbf\xbd");
			k = 1;
		} else if (s[i]) {
			buf_add(tmp, s + i, k);
		}
		i += k;
	}
	*len = tmp->len;
	return tmp->ptr;
}

int results_csv_cell(struct buf *out, const char *s, size_t len, char delim,
		     bool neutralise)
{
	struct buf tmp = BUF_INIT(3 * len + 1);
	bool quote = false;
	int rc = 0;

	s = utf8_clean(s, &len, &tmp);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (needs_quotes[c] || c == (unsigned char)delim) {
			quote = true;
			break;
		}
	}
	if (quote)
		rc |= buf_addch(out, '"');
	/* what a spreadsheet would execute (OWASP CSV injection): cell.h */
	if (neutralise && cell_needs_mark(s, len))
		rc |= buf_addch(out, '\'');
	if (!quote) {
		rc |= buf_add(out, s, len);
	} else {
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '"')
				rc |= buf_addch(out, '"');
			rc |= buf_addch(out, s[i]);
		}
		rc |= buf_addch(out, '"');
	}
	buf_release(&tmp);
	return rc ? -1 : 0;
}

static int cell(struct buf *out, const char *s, char delim, bool first)
{
	if (!first && buf_addch(out, delim) < 0)
		return -1;
	if (!s)
		s = "";
	return results_csv_cell(out, s, strlen(s), delim, true);
}

/*
 * One of our own names (outcome, state, status): lower-case words that
 * need neither quotes nor neutralising, so they go as they are.
 */
static int name_cell(struct buf *out, const char *name, char delim, bool first)
{
	if (!first && buf_addch(out, delim) < 0)
		return -1;
	return buf_addstr(out, name);
}

/*
 * The two cells failed.csv ends with, after the row's fields (the reader
 * drops them: rows.h).
 */
static int failed_error_cells(struct buf *b, const char *code, const char *msg,
			      char delim, bool first)
{
	int rc = cell(b, code, delim, first);

	return rc | cell(b, msg, delim, false);
}

/* The header line of results.csv or (results false) failed.csv. */
static int header_line(struct buf *b, const char *const *header, size_t ncols,
		       char delim, bool results, bool plan)
{
	int rc = 0;

	for (size_t i = 0; i < ncols; i++)
		rc |= cell(b, header[i], delim, i == 0);
	for (size_t i = 0; results && i < ARRAY_SIZE(result_cols); i++)
		rc |= cell(b, result_cols[i], delim, ncols == 0 && i == 0);
	for (int a = 0; results && plan && a < ROWS_NACTIONS; a++) {
		char name[64];

		snprintf(name, sizeof(name), "%s_now",
			 rows_action_name((enum rows_action)a));
		rc |= cell(b, name, delim, false);
		snprintf(name, sizeof(name), "%s_then",
			 rows_action_name((enum rows_action)a));
		rc |= cell(b, name, delim, false);
	}
	if (!results)
		rc |= failed_error_cells(b, RESULTS_FAILED_CODE_COL,
					 RESULTS_FAILED_MSG_COL, delim,
					 ncols == 0);
	rc |= buf_addstr(b, "\r\n");
	return rc ? -1 : 0;
}

static char *join(const char *a, const char *b)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);

	buf_addf(&p, "%s/%s", a, b);
	return buf_detach(&p, NULL);
}

/* mkdir -p for the directories of 'path' and 'path' itself. */
static int mkdirs(const char *path, struct err *e)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; *s && !rc; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST)
			rc = err_set_errno(e, ERR_IO, "cannot create '%s'", p);
		*s = '/';
	}
	if (!rc && mkdir(p, 0777) < 0 && errno != EEXIST)
		rc = err_set_errno(e, ERR_IO, "cannot create '%s'", p);
	free(p);
	return rc;
}

static void now_iso(char *out, size_t len, bool compact)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (compact) {
		strftime(out, len, "%Y%m%dT%H%M%SZ", &tm);
	} else {
		char base[32];

		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(out, len, "%.20s.%03dZ", base,
			 (int)(ts.tv_nsec / 1000000) % 1000);
	}
}

static FILE *open_file(const char *path, const char *mode, struct err *e)
{
	FILE *fp = fopen(path, mode);

	if (!fp)
		err_set_errno(e, ERR_IO, "cannot open '%s' for writing", path);
	return fp;
}

static int write_flush(FILE *fp, const char *path, const void *data, size_t len,
		       struct err *e)
{
	if ((len && fwrite(data, 1, len, fp) != len) || fflush(fp) != 0)
		return err_set_errno(e, ERR_IO, "cannot write '%s'", path);
	return 0;
}

/*
 * Point JOBDIR/latest at 'runid', atomically; a plan or diagnose moves
 * its own pointer, latest-plan or latest-diagnose, so 'latest' (what
 * --resume and --rerun-failed read) is always a run that wrote.
 */
static int set_latest(struct results *r, struct err *e)
{
	char tmpname[64], name[64];
	char *tmp, *latest;
	int rc = 0;

	if (!strcmp(r->command, "run"))
		snprintf(name, sizeof(name), "latest");
	else
		snprintf(name, sizeof(name), "latest-%s", r->command);
	snprintf(tmpname, sizeof(tmpname), ".latest-%ld", (long)getpid());
	tmp = join(r->jobdir, tmpname);
	latest = join(r->jobdir, name);
	unlink(tmp);
	if (symlink(r->runid, tmp) < 0)
		rc = err_set_errno(e, ERR_IO, "cannot create '%s'", tmp);
	else if (rename(tmp, latest) < 0)
		rc = err_set_errno(e, ERR_IO, "cannot replace '%s'", latest);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(latest);
	return rc;
}

static int new_run_dir(struct results *r, struct err *e)
{
	char stamp[32], id[64];

	if (mkdirs(r->jobdir, e) < 0)
		return -1;
	now_iso(stamp, sizeof(stamp), true);
	for (int i = 1; i < 100; i++) {
		if (i == 1)
			snprintf(id, sizeof(id), "%s-%ld", stamp,
				 (long)getpid());
		else
			snprintf(id, sizeof(id), "%s-%ld-%d", stamp,
				 (long)getpid(), i);
		free(r->dir);
		r->dir = join(r->jobdir, id);
		if (mkdir(r->dir, 0777) == 0) {
			r->runid = xstrdup(id);
			return 0;
		}
		if (errno != EEXIST)
			return err_set_errno(e, ERR_IO, "cannot create '%s'",
					     r->dir);
	}
	return err_set(e, ERR_IO, "cannot create a run directory in '%s'",
		       r->jobdir);
}

static int write_ready(struct results *r, struct err *e);

/*
 * Reading a journal back: the header record and the row records.
 */
struct jscan {
	struct slot *rows;
	size_t n, cap;
	char *hdr; /* results header line then failed header line */
	size_t hdrlen, rhdrlen;
	bool bom, has_header, ended;
	char delim;
};

static int scan_record(void *data, int argc, char **argv, off_t off,
		       const char *payload, size_t len)
{
	struct jscan *js = data;

	if (!strcmp(argv[0], "header") && argc == 4 && !js->has_header) {
		js->has_header = true;
		js->bom = argv[1][0] == '1';
		js->delim = (char)(int)strtol(argv[2], NULL, 10);
		js->rhdrlen = strtoul(argv[3], NULL, 10);
		if (js->rhdrlen > len)
			js->rhdrlen = len;
		js->hdr = xmalloc(len + 1);
		memcpy(js->hdr, payload, len + 1);
		js->hdrlen = len;
	} else if (!strcmp(argv[0], "row") && argc == 5) {
		struct slot *s;
		size_t rlen = strtoul(argv[4], NULL, 10);

		if (rlen > len || strlen(argv[3]) != ROWS_NACTIONS ||
		    (int)strtol(argv[2], NULL, 10) < 0 ||
		    (int)strtol(argv[2], NULL, 10) >= RESULTS_NOUTCOMES)
			return 0; /* not ours: left out */
		if (js->n == js->cap) {
			js->cap = js->cap ? 2 * js->cap : 256;
			js->rows = xrealloc(js->rows, js->cap * sizeof(*s));
		}
		s = &js->rows[js->n++];
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->num = strtoul(argv[1], NULL, 10);
		s->off = off;
		s->rlen = rlen;
		s->flen = len - rlen;
		s->result = (unsigned char)(int)strtol(argv[2], NULL, 10);
		for (int a = 0; a < ROWS_NACTIONS; a++) {
			int st = argv[3][a] - '0';

			s->state[a] =
			    (unsigned char)(st >= 0 && st < RESULTS_NSTATES
						? st
						: 0);
		}
	} else if (!strcmp(argv[0], "end")) {
		js->ended = true;
	}
	return 0;
}

static int cmp_slot(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->num != y->num)
		return x->num < y->num ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Read 'path'; rows sorted by number, a row recorded twice kept once. */
static int scan_journal(const char *path, struct jscan *js, off_t *end,
			struct err *e)
{
	size_t w = 0;

	memset(js, 0, sizeof(*js));
	if (journal_read(path, scan_record, js, end, e) < 0)
		return -1;
	if (!js->has_header)
		return err_set(e, ERR_INPUT, "'%s' has no header record", path);
	qsort(js->rows, js->n, sizeof(*js->rows), cmp_slot);
	for (size_t i = 0; i < js->n; i++) {
		/* the later record of a row wins */
		if (w && js->rows[w - 1].num == js->rows[i].num)
			w--;
		js->rows[w++] = js->rows[i];
	}
	js->n = w;
	return 0;
}

static void jscan_release(struct jscan *js)
{
	free(js->rows);
	free(js->hdr);
}

int results_resume_point(const char *run_dir, size_t *rows_done, struct err *e)
{
	char *path = join(run_dir, "journal");
	struct jscan js;
	off_t end;
	int rc = scan_journal(path, &js, &end, e);

	*rows_done = rc < 0 ? 0 : js.n;
	jscan_release(&js);
	free(path);
	return rc;
}

/* The rows a journal holds are written again from it (--resume). */
static int reopen_run(struct results *r, const struct results_setup *s,
		      const char *hdr, size_t hdrlen, struct err *e)
{
	struct jscan js;
	off_t end;
	const char *bom = s->bom ? "\xef\xbb\xbf" : "";
	int rc = -1;

	r->dir = xstrdup(s->resume_dir);
	{
		const char *slash = strrchr(r->dir, '/');

		r->runid = xstrdup(slash ? slash + 1 : r->dir);
	}
	r->res_path = join(r->dir, "results.csv");
	r->failed_path = join(r->dir, "failed.csv");
	r->log_path = join(r->dir, "run.log");
	r->journal_path = join(r->dir, "journal");
	if (scan_journal(r->journal_path, &js, &end, e) < 0)
		goto out;
	if (js.rhdrlen != hdrlen || memcmp(js.hdr, hdr, hdrlen) ||
	    js.bom != s->bom) {
		err_set(e, ERR_INPUT,
			"cannot resume '%s': its columns differ from those "
			"of the input",
			r->dir);
		goto out;
	}
	if (journal_open(&r->j, r->journal_path, false, end, e) < 0)
		goto out;
	/* results.csv and failed.csv are rebuilt whole from the journal */
	if (!(r->res = open_file(r->res_path, "wb", e)) ||
	    !(r->failed = open_file(r->failed_path, "wb", e)) ||
	    !(r->log = open_file(r->log_path, "ab", e)))
		goto out;
	if (write_flush(r->res, r->res_path, bom, strlen(bom), e) < 0 ||
	    write_flush(r->res, r->res_path, js.hdr, js.rhdrlen, e) < 0 ||
	    write_flush(r->failed, r->failed_path, bom, strlen(bom), e) < 0 ||
	    write_flush(r->failed, r->failed_path, js.hdr + js.rhdrlen,
			js.hdrlen - js.rhdrlen, e) < 0)
		goto out;
	r->done = js.rows;
	r->ndone = js.n;
	js.rows = NULL;
	for (size_t i = 0; i < r->ndone; i++) {
		const struct slot *d = &r->done[i];

		r->counts.rows++;
		r->counts.by_outcome[d->result]++;
		for (int a = 0; a < ROWS_NACTIONS; a++)
			r->counts.by_action[a][d->state[a]]++;
	}
	r->resumed = r->ndone;
	r->next = 1;
	if (write_ready(r, e) < 0)
		goto out;
	if (r->broken) {
		*e = r->werr;
		goto out;
	}
	{
		char head[64];

		snprintf(head, sizeof(head), "resume %ld", (long)getpid());
		journal_add(r->j, head, "", 0);
	}
	rc = 0;
out:
	jscan_release(&js);
	return rc;
}

/* SHA-256 of a file as 64 hex digits. */
int results_sha256(const char *path, char hex[65], struct err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *chunk;
	EVP_MD_CTX *ctx;
	FILE *fp = fopen(path, "rb");
	size_t n;
	int rc = 0;

	hex[0] = '\0';
	if (!fp)
		return err_set_errno(e, ERR_INPUT, "cannot open '%s'", path);
	ctx = EVP_MD_CTX_new();
	chunk = xmalloc(65536);
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		rc = err_set(e, ERR_INTERNAL, "SHA-256 is not available");
	while (!rc && (n = fread(chunk, 1, 65536, fp)) > 0)
		if (!EVP_DigestUpdate(ctx, chunk, n))
			rc = err_set(e, ERR_INTERNAL, "SHA-256 failed");
	if (!rc && ferror(fp))
		rc = err_set_errno(e, ERR_INPUT, "cannot read '%s'", path);
	if (!rc && !EVP_DigestFinal_ex(ctx, md, &mdlen))
		rc = err_set(e, ERR_INTERNAL, "SHA-256 failed");
	for (unsigned int i = 0; !rc && i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	EVP_MD_CTX_free(ctx);
	free(chunk);
	fclose(fp);
	return rc;
}

/* RUN-DIR/run.json: what this run is (see results.h). */
static int write_run_info(struct results *r, const struct results_setup *s,
			  struct err *e)
{
	cJSON *o = cJSON_CreateObject();
	char *text, *path = join(r->dir, "run.json");
	FILE *fp;
	int rc;

	cJSON_AddStringToObject(o, "command", s->command ? s->command : "run");
	cJSON_AddStringToObject(o, "job", s->job_path ? s->job_path : "");
	cJSON_AddStringToObject(o, "job_sha256",
				s->job_sha256 ? s->job_sha256 : "");
	cJSON_AddStringToObject(o, "input", r->input);
	cJSON_AddStringToObject(o, "input_sha256",
				s->input_sha256 ? s->input_sha256 : "");
	if (s->input_copy)
		cJSON_AddStringToObject(o, "input_copy", "input.csv");
	if (s->input_source)
		cJSON_AddStringToObject(o, "input_source", s->input_source);
	cJSON_AddStringToObject(o, "options", s->options ? s->options : "");
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	cJSON_AddStringToObject(o, "started", r->started);
	text = cJSON_Print(o);
	cJSON_Delete(o);
	fp = open_file(path, "wbx", e);
	rc = fp ? write_flush(fp, path, text, strlen(text), e) : -1;
	if (!rc)
		rc = write_flush(fp, path, "\n", 1, e);
	if (fp && fclose(fp) != 0 && !rc)
		rc = err_set_errno(e, ERR_IO, "cannot write '%s'", path);
	cJSON_free(text);
	free(path);
	return rc;
}

int results_open(struct results **out, const struct results_setup *s,
		 struct err *e)
{
	struct results *r = xcalloc(1, sizeof(*r));
	struct buf hdr = BUF_INIT(LINE_MAX_BYTES);
	struct buf fhdr = BUF_INIT(LINE_MAX_BYTES);
	const char *bom = s->bom ? "\xef\xbb\xbf" : "";

	*out = NULL;
	r->delim = s->delim;
	r->ncols = s->ncols;
	r->next = 1;
	r->command = xstrdup(s->command ? s->command : "run");
	r->plan = !strcmp(r->command, "plan");
	if (r->plan)
		r->ps = plan_summary_new();
	buf_init(&r->hold, 2 * HOLD_MAX_BYTES + LINE_MAX_BYTES);
	buf_init(&r->fhold, 2 * HOLD_MAX_BYTES + LINE_MAX_BYTES);
	buf_init(&r->line, LINE_MAX_BYTES);
	buf_init(&r->fline, LINE_MAX_BYTES);
	buf_init(&r->head, BUF_MAX_SMALL);
	now_iso(r->started, sizeof(r->started), false);
	r->jobdir = join(s->output, s->job_name);
	if (header_line(&hdr, s->header, s->ncols, s->delim, true, r->plan) <
		0 ||
	    header_line(&fhdr, s->header, s->ncols, s->delim, false, false) <
		0) {
		err_set(e, ERR_INPUT, "the input header is too long");
		goto fail;
	}
	if (s->resume_dir) {
		r->input = xstrdup(s->input ? s->input : "");
		if (reopen_run(r, s, hdr.ptr, hdr.len, e) < 0)
			goto fail;
	} else {
		char head[96];

		if (new_run_dir(r, e) < 0)
			goto fail;
		if (s->input_copy) {
			/* the run keeps its own input (--rerun-failed) */
			char *copy = join(r->dir, "input.csv");

			if (rename(s->input_copy, copy) < 0) {
				err_set_errno(e, ERR_IO,
					      "cannot move '%s' to '%s'",
					      s->input_copy, copy);
				free(copy);
				goto fail;
			}
			r->input = copy;
		} else {
			r->input = xstrdup(s->input ? s->input : "");
		}
		if (write_run_info(r, s, e) < 0)
			goto fail;
		r->res_path = join(r->dir, "results.csv");
		r->failed_path = join(r->dir, "failed.csv");
		r->log_path = join(r->dir, "run.log");
		r->journal_path = join(r->dir, "journal");
		if (journal_open(&r->j, r->journal_path, true, 0, e) < 0)
			goto fail;
		snprintf(head, sizeof(head), "header %d %d %zu", s->bom ? 1 : 0,
			 (int)(unsigned char)s->delim, hdr.len);
		if (buf_add(&hdr, fhdr.ptr, fhdr.len) < 0)
			BUG("results: header past its cap");
		journal_add(r->j, head, hdr.ptr, hdr.len);
		buf_setlen(&hdr, hdr.len - fhdr.len);
		if (journal_flush(r->j, e) < 0)
			goto fail;
		if (!(r->res = open_file(r->res_path, "wbx", e)) ||
		    !(r->failed = open_file(r->failed_path, "wbx", e)) ||
		    !(r->log = open_file(r->log_path, "wbx", e)))
			goto fail;
		if (write_flush(r->res, r->res_path, bom, strlen(bom), e) < 0 ||
		    write_flush(r->res, r->res_path, hdr.ptr, hdr.len, e) < 0 ||
		    write_flush(r->failed, r->failed_path, bom, strlen(bom),
				e) < 0 ||
		    write_flush(r->failed, r->failed_path, fhdr.ptr, fhdr.len,
				e) < 0)
			goto fail;
	}
	if (set_latest(r, e) < 0)
		goto fail;
	buf_release(&hdr);
	buf_release(&fhdr);
	*out = r;
	return 0;
fail:
	buf_release(&hdr);
	buf_release(&fhdr);
	results_free(r);
	return -1;
}

const char *results_dir(const struct results *r)
{
	return r->dir;
}

size_t results_written(const struct results *r)
{
	return r->next - 1;
}

size_t results_pending(const struct results *r)
{
	return r->npending;
}

const struct results_counts *results_counts(const struct results *r)
{
	return &r->counts;
}

/* A non-negative count as text, in the end of 'tmp'. */
static const char *digits(char *tmp, size_t size, int v)
{
	char *p = tmp + size;
	unsigned u = v > 0 ? (unsigned)v : 0;

	*--p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u && p > tmp);
	return p;
}

/*
 * A failed.csv line: the row's fields as given, padded with empty cells to
 * the header's width when it has fewer (so the error columns line up; a
 * longer row keeps all its fields), then the error code and message.
 */
static int failed_line(const struct results *r, const struct row *row,
		       const struct results_row *res, struct buf *fline)
{
	size_t n = row->nfields > r->ncols ? row->nfields : r->ncols;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		rc |= cell(fline, i < row->nfields ? row->fields[i] : "",
			   r->delim, i == 0);
	rc |= failed_error_cells(fline, res->error_code, res->error_message,
				 r->delim, n == 0);
	return rc | buf_addstr(fline, "\r\n");
}

static int format_row(const struct results *r, const struct row *row,
		      const struct results_row *res, struct buf *line,
		      struct buf *fline)
{
	char num[32];
	int rc = 0;

	for (size_t i = 0; i < r->ncols; i++)
		rc |= cell(line, i < row->nfields ? row->fields[i] : "",
			   r->delim, i == 0);
	rc |= name_cell(line, results_outcome_name(res->result), r->delim,
			r->ncols == 0);
	for (int a = 0; a < ROWS_NACTIONS; a++)
		rc |= name_cell(line, results_state_name(res->action[a]),
				r->delim, false);
	rc |= cell(line, res->error_code, r->delim, false);
	rc |= cell(line, res->error_message, r->delim, false);
	rc |= cell(line, res->hint, r->delim, false);
	rc |= cell(line, digits(num, sizeof(num), res->attempts), r->delim,
		   false);
	for (int i = 0; i < ROWS_NDELIVERY; i++)
		rc |= name_cell(line, results_status_name(res->status[i]),
				r->delim, false);
	rc |= cell(line, res->mailbox_id, r->delim, false);
	for (int a = 0; r->plan && a < ROWS_NACTIONS; a++) {
		rc |= cell(line, res->now[a], r->delim, false);
		rc |= cell(line, res->then[a], r->delim, false);
	}
	rc |= buf_addstr(line, "\r\n");
	if (res->result != RESULTS_OK)
		rc |= failed_line(r, row, res, fline);
	return rc ? -1 : 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * results.csv or failed.csv cannot be written (disk full, read-only):
 * remember why and stop writing them. The journal still takes every row,
 * so --resume rebuilds both files once the cause is fixed.
 */
static void broken(struct results *r, const struct err *e)
{
	if (!r->broken) {
		r->broken = true;
		r->werr = *e;
	}
}

static int write_out(struct results *r, FILE *fp, const char *path,
		     const void *data, size_t len)
{
	struct err e = ERR_INIT;

	if (r->broken)
		return -1;
	if (write_flush(fp, path, data, len, &e) < 0) {
		broken(r, &e);
		return -1;
	}
	return 0;
}

/*
 * Write the held lines with one write per file, the journal first: a
 * line reaches results.csv or failed.csv only once the journal has it,
 * so the two files can always be rebuilt from the journal. Each file
 * gets whole lines only, so an interruption at any point leaves a valid
 * prefix.
 */
static int flush_held(struct results *r, struct err *e)
{
	if (r->j && journal_flush(r->j, e) < 0)
		return -1;
	if (r->hold.len)
		write_out(r, r->res, r->res_path, r->hold.ptr, r->hold.len);
	if (r->fhold.len)
		write_out(r, r->failed, r->failed_path, r->fhold.ptr,
			  r->fhold.len);
	buf_reset(&r->hold);
	buf_reset(&r->fhold);
	r->flushed_at = mono_ms();
	return 0;
}

/* Test builds: die after results.csv got line N, failed.csv not yet. */
static void hook_results_line(struct results *r, const char *line, size_t len)
{
	struct err e = ERR_INIT;

	if (!testhook_kill("results"))
		return;
	/* as flush_held() does: the journal first */
	if (journal_flush(r->j, &e) < 0)
		return;
	if (r->flush_ms > 0)
		write_out(r, r->res, r->res_path, r->hold.ptr, r->hold.len);
	else
		write_out(r, r->res, r->res_path, line, len);
	testhook_die();
}

/* Write (or hold) one row's lines, in input order. */
static int write_lines(struct results *r, const char *line, size_t len,
		       const char *fline, size_t flen, struct err *e)
{
	r->lines_out++;
	if (r->flush_ms > 0) {
		if (buf_add(&r->hold, line, len) < 0 ||
		    (flen && buf_add(&r->fhold, fline, flen) < 0))
			BUG("results: held lines past their cap");
		hook_results_line(r, line, len);
		if (r->hold.len >= HOLD_MAX_BYTES ||
		    r->fhold.len >= HOLD_MAX_BYTES)
			return flush_held(r, e);
		return 0;
	}
	if (r->j && journal_flush(r->j, e) < 0)
		return -1;
	write_out(r, r->res, r->res_path, line, len);
	hook_results_line(r, line, len);
	if (flen)
		write_out(r, r->failed, r->failed_path, fline, flen);
	return 0;
}

/* Write a row whose lines are in the journal only. */
static int write_from_journal(struct results *r, const struct slot *s,
			      struct err *e)
{
	struct buf *b = &r->line;

	buf_reset(b);
	if (buf_grow(b, s->rlen + s->flen + 1) < 0)
		return err_set(e, ERR_IO, "row %zu: result line too long",
			       s->num);
	if (journal_pread(r->j, s->off, b->ptr, s->rlen + s->flen, e) < 0)
		return -1;
	return write_lines(r, b->ptr, s->rlen, b->ptr + s->rlen, s->flen, e);
}

/* Make the window hold row numbers next .. num. */
static void window_fit(struct results *r, size_t num)
{
	size_t ncap;
	struct slot *nwin;

	if (num - r->next < r->wcap)
		return;
	ncap = r->wcap ? r->wcap : 64;
	while (num - r->next >= ncap)
		ncap *= 2;
	nwin = xcalloc(ncap, sizeof(*nwin));
	for (size_t i = 0; i < r->wcap; i++)
		if (r->win[i].used)
			nwin[r->win[i].num & (ncap - 1)] = r->win[i];
	free(r->win);
	r->win = nwin;
	r->wcap = ncap;
}

/* summary.json's "error_codes": the rows not ok, by error code. */
static void count_code(struct results *r, const struct results_row *res)
{
	const char *code =
	    res->error_code && *res->error_code ? res->error_code : "unknown";
	size_t i;

	if (res->result == RESULTS_OK)
		return;
	for (i = 0; i < r->ncodes; i++)
		if (!strcmp(r->codes[i].code, code))
			break;
	if (i == r->ncodes) {
		/* distinct codes are few; one more slot at a time is enough */
		r->codes =
		    xrealloc(r->codes, (r->ncodes + 1) * sizeof(*r->codes));
		memset(&r->codes[i], 0, sizeof(r->codes[i]));
		snprintf(r->codes[i].code, sizeof(r->codes[i].code), "%s",
			 code);
		r->ncodes++;
	}
	r->codes[i].n++;
}

/* Write every row that is next in input order and known. */
static int write_ready(struct results *r, struct err *e)
{
	for (;;) {
		struct slot *n =
		    r->wcap ? &r->win[r->next & (r->wcap - 1)] : NULL;

		if (n && n->used && n->num == r->next) {
			struct slot s = *n;

			memset(n, 0, sizeof(*n));
			r->npending--;
			if (write_from_journal(r, &s, e) < 0)
				return -1;
		} else if (r->idone < r->ndone &&
			   r->done[r->idone].num == r->next) {
			if (write_from_journal(r, &r->done[r->idone++], e) < 0)
				return -1;
		} else {
			return 0;
		}
		r->next++;
	}
}

/* The journal's row record: "row NUM RESULT STATES RLEN". */
static void row_head(char *head, size_t size, size_t num,
		     const struct results_row *res, size_t rlen)
{
	char states[ROWS_NACTIONS + 1];

	for (int a = 0; a < ROWS_NACTIONS; a++)
		states[a] = (char)('0' + res->action[a]);
	states[ROWS_NACTIONS] = '\0';
	snprintf(head, size, "row %zu %d %s %zu", num, (int)res->result, states,
		 rlen);
}

int results_add(struct results *r, const struct row *row,
		const struct results_row *res, struct err *e)
{
	struct buf *line = &r->line, *fline = &r->fline;
	char head[128];
	size_t rlen, flen;
	off_t off;

	if (row->num < r->next)
		BUG("results_add: row %zu already written", row->num);
	buf_reset(line);
	buf_reset(fline);
	if (format_row(r, row, res, line, fline) < 0 ||
	    buf_add(line, fline->ptr, fline->len) < 0)
		return err_set(e, ERR_IO, "row %zu: result line too long",
			       row->num);
	rlen = line->len - fline->len;
	flen = fline->len;
	r->counts.rows++;
	r->counts.by_outcome[res->result]++;
	count_code(r, res);
	for (int a = 0; a < ROWS_NACTIONS; a++) {
		r->counts.by_action[a][res->action[a]]++;
		if (r->ps && res->action[a] == RESULTS_WOULD)
			plan_summary_add(r->ps, (enum rows_action)a,
					 res->now[a], res->then[a]);
	}

	/* the journal first: results.csv and failed.csv derive from it */
	row_head(head, sizeof(head), row->num, res, rlen);
	off = journal_add(r->j, head, line->ptr, line->len);
	if (testhook_kill("row")) {
		if (journal_flush(r->j, e) == 0)
			testhook_die();
	}
	if (journal_buffered(r->j) >= HOLD_MAX_BYTES &&
	    journal_flush(r->j, e) < 0)
		return -1;

	if (row->num != r->next) {
		struct slot *dst;

		window_fit(r, row->num);
		dst = &r->win[row->num & (r->wcap - 1)];
		if (dst->used)
			BUG("results_add: row %zu added twice", row->num);
		dst->used = true;
		dst->num = row->num;
		dst->off = off;
		dst->rlen = rlen;
		dst->flen = flen;
		r->npending++;
		return 0;
	}
	if (write_lines(r, line->ptr, rlen, line->ptr + rlen, flen, e) < 0)
		return -1;
	r->next++;
	if (write_ready(r, e) < 0)
		return -1;
	return results_flush_due(r, e);
}

void results_set_flush_ms(struct results *r, long ms)
{
	r->flush_ms = ms > 0 ? ms : 0;
	r->flushed_at = mono_ms();
}

int results_flush_due(struct results *r, struct err *e)
{
	if (!r->hold.len && !r->fhold.len && !journal_buffered(r->j))
		return 0;
	if (mono_ms() - r->flushed_at < r->flush_ms)
		return 0;
	return flush_held(r, e);
}

int results_flush(struct results *r, struct err *e)
{
	return flush_held(r, e);
}

bool results_broken(const struct results *r)
{
	return r->broken;
}

bool results_row_done(const struct results *r, size_t num)
{
	size_t lo = 0, hi = r->ndone;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->done[mid].num == num)
			return true;
		if (r->done[mid].num < num)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * The journal's records of writes (see results.h). 'what' is the action
 * and the method; the URL and body go in the payload.
 */
/*
 * A record's head, word by word, without snprintf()'s cost (every write
 * has three records).
 */
static const char *head(struct results *r, const char *word,
			const long long *num, size_t n)
{
	buf_reset(&r->head);
	buf_addstr(&r->head, word);
	for (size_t i = 0; i < n; i++) {
		buf_addch(&r->head, ' ');
		buf_addi(&r->head, num[i]);
	}
	return r->head.ptr;
}

static void head_word(struct results *r, const char *w)
{
	buf_addch(&r->head, ' ');
	buf_addstr(&r->head, w);
}

int results_intent(struct results *r, unsigned long seq, size_t row,
		   const char *action, const char *method, const char *url,
		   const char *body)
{
	long long nums[] = {(long long)seq, (long long)row};
	size_t ulen = strlen(url);

	head(r, "intent", nums, ARRAY_SIZE(nums));
	head_word(r, action && *action ? action : "-");
	head_word(r, method);
	buf_addch(&r->head, ' ');
	buf_addu(&r->head, ulen);
	body = body ? body : "";
	journal_add2(r->j, r->head.ptr, url, ulen, body, strlen(body));
	return 0;
}

void results_sent(struct results *r, unsigned long seq)
{
	long long nums[] = {(long long)seq};

	journal_add(r->j, head(r, "sent", nums, 1), "", 0);
}

void results_outcome(struct results *r, unsigned long seq, long status,
		     const char *code)
{
	long long nums[] = {(long long)seq, status};

	head(r, "outcome", nums, ARRAY_SIZE(nums));
	head_word(r, code && *code && !strchr(code, ' ') ? code : "-");
	journal_add(r->j, r->head.ptr, "", 0);
}

int results_sync(struct results *r, struct err *e)
{
	return journal_flush(r->j, e);
}

int results_log(struct results *r, const struct results_event *ev,
		struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL * 4);
	char t[40];
	int rc;

	now_iso(t, sizeof(t), false);
	buf_addf(&b, "{\"time\":\"%s\",\"level\":", t);
	runlog_json_str(&b, ev->level ? ev->level : "info");
	if (ev->row)
		buf_addf(&b, ",\"row\":%zu", ev->row);
	if (ev->action) {
		buf_addstr(&b, ",\"action\":");
		runlog_json_str(&b, ev->action);
	}
	if (ev->http_status)
		buf_addf(&b, ",\"http_status\":%ld", ev->http_status);
	if (ev->error_code) {
		buf_addstr(&b, ",\"error_code\":");
		runlog_json_str(&b, ev->error_code);
	}
	if (ev->message) {
		buf_addstr(&b, ",\"message\":");
		runlog_json_str(&b, ev->message);
	}
	/* a line cut by the cap would not be JSON: close it anyway */
	if (buf_addstr(&b, "}\n") < 0) {
		buf_reset(&b);
		buf_addf(&b,
			 "{\"time\":\"%s\",\"level\":\"warn\","
			 "\"message\":\"log line too long\"}\n",
			 t);
	}
	rc = write_flush(r->log, r->log_path, b.ptr, b.len, e);
	buf_release(&b);
	return rc;
}

/*
 * The members of summary.json after "rows_per_s", and its end: version,
 * exit status, the input's SHA-256, counts by error code, throttled
 * waits, run folders pruned.
 */
static void summary_extra(struct buf *b, const struct results *r,
			  const struct results_summary *s)
{
	buf_addstr(b, ",\n  \"version\": ");
	runlog_json_str(b, s->version ? s->version : "");
	buf_addf(b, ",\n  \"exit_status\": %d,\n  \"input_sha256\": ",
		 s->exit_status);
	if (s->input_sha256)
		runlog_json_str(b, s->input_sha256);
	else
		buf_addstr(b, "null");
	buf_addstr(b, ",\n  \"error_codes\": {");
	for (size_t i = 0; i < r->ncodes; i++) {
		buf_addstr(b, i ? ", " : "");
		runlog_json_str(b, r->codes[i].code);
		buf_addf(b, ": %zu", r->codes[i].n);
	}
	buf_addf(b,
		 "},\n  \"throttled_waits\": %llu,\n  \"pruned_runs\": %zu"
		 "\n}\n",
		 (unsigned long long)s->throttled_waits, s->pruned);
}

int results_finish(struct results *r, const struct results_summary *s,
		   struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL * 4);
	char finished[40];
	char *path;
	FILE *fp;
	int rc;

	if (flush_held(r, e) < 0)
		return -1;
	if (r->broken)
		return err_set(e, ERR_IO,
			       "%s; every row done so far is in '%s': continue "
			       "with --resume once the files can be written",
			       r->werr.msg, r->journal_path);
	if (!s->interrupted && !r->npending) {
		char head[64];

		/* every row is done: --resume has nothing to continue */
		snprintf(head, sizeof(head), "end %zu", r->counts.rows);
		journal_add(r->j, head, "", 0);
		if (journal_flush(r->j, e) < 0)
			return -1;
	}
	now_iso(finished, sizeof(finished), false);
	buf_addstr(&b, "{\n  \"job_dir\": ");
	runlog_json_str(&b, r->jobdir);
	buf_addstr(&b, ",\n  \"run\": ");
	runlog_json_str(&b, r->runid);
	buf_addstr(&b, ",\n  \"command\": ");
	runlog_json_str(&b, s->command ? s->command : "run");
	buf_addstr(&b, ",\n  \"input\": ");
	runlog_json_str(&b, r->input);
	buf_addf(&b,
		 ",\n  \"started\": \"%s\",\n  \"finished\": \"%s\","
		 "\n  \"interrupted\": %s,\n  \"resumed_rows\": %zu,"
		 "\n  \"rows\": %zu,\n  \"unwritten_rows\": %zu,"
		 "\n  \"results\": {",
		 r->started, finished, s->interrupted ? "true" : "false",
		 r->resumed, r->counts.rows, r->npending);
	for (int o = 0; o < RESULTS_NOUTCOMES; o++)
		buf_addf(&b, "%s\"%s\": %zu", o ? ", " : "", outcome_names[o],
			 r->counts.by_outcome[o]);
	buf_addstr(&b, "},\n  \"actions\": {");
	for (int a = 0; a < ROWS_NACTIONS; a++) {
		buf_addf(&b, "%s\n    \"%s\": {", a ? "," : "",
			 rows_action_name((enum rows_action)a));
		for (int st = RESULTS_DONE; st < RESULTS_NSTATES; st++)
			buf_addf(&b, "%s\"%s\": %zu",
				 st != RESULTS_DONE ? ", " : "",
				 state_names[st], r->counts.by_action[a][st]);
		buf_addch(&b, '}');
	}
	buf_addf(
	    &b,
	    "\n  },\n  \"wall_s\": %.3f,\n  \"cpu_s\": %.3f,"
	    "\n  \"peak_rss_kb\": %ld,\n  \"requests\": %llu,"
	    "\n  \"batches\": %llu,\n  \"operations\": %llu,"
	    "\n  \"retries\": %llu,\n  \"throttled\": %llu,"
	    "\n  \"throttled_wait_s\": %.3f,\n  \"rows_per_s\": %.1f",
	    s->wall_s, s->cpu_s, s->peak_rss_kb,
	    (unsigned long long)s->requests, (unsigned long long)s->batches,
	    (unsigned long long)s->operations, (unsigned long long)s->retries,
	    (unsigned long long)s->throttled, s->throttled_s,
	    s->wall_s > 0 ? (double)r->counts.rows / s->wall_s : 0.0);
	summary_extra(&b, r, s);
	path = join(r->dir, "summary.json");
	fp = open_file(path, "wb", e);
	rc = fp ? write_flush(fp, path, b.ptr, b.len, e) : -1;
	if (fp && fclose(fp) != 0 && rc == 0)
		rc = err_set_errno(e, ERR_IO, "cannot write '%s'", path);
	free(path);
	buf_release(&b);
	if (rc == 0 && r->plan) {
		/* plan.csv: results.csv with its now and then columns */
		path = join(r->dir, "plan.csv");
		if (fflush(r->res) != 0 || link(r->res_path, path) < 0)
			rc =
			    err_set_errno(e, ERR_IO, "cannot write '%s'", path);
		free(path);
	}
	return rc;
}

const struct plan_summary *results_plan_summary(const struct results *r)
{
	return r->ps;
}

void results_free(struct results *r)
{
	if (r)
		plan_summary_free(r->ps);
	if (!r)
		return;
	if (r->res && r->j) {
		struct err e = ERR_INIT;

		/* best effort: results_finish() reports write errors */
		flush_held(r, &e);
	}
	journal_free(r->j);
	if (r->res)
		fclose(r->res);
	if (r->failed)
		fclose(r->failed);
	if (r->log)
		fclose(r->log);
	free(r->win);
	free(r->codes);
	free(r->done);
	free(r->command);
	free(r->journal_path);
	free(r->jobdir);
	free(r->dir);
	free(r->runid);
	free(r->input);
	free(r->res_path);
	free(r->failed_path);
	free(r->log_path);
	buf_release(&r->hold);
	buf_release(&r->fhold);
	buf_release(&r->line);
	buf_release(&r->fline);
	buf_release(&r->head);
	free(r);
}

char *results_latest_dir(const char *output, const char *job_name,
			 struct err *e)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);
	struct stat st;

	buf_addf(&p, "%s/%s/latest", output, job_name);
	if (stat(p.ptr, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err_set(e, ERR_INPUT,
			"no earlier run of job '%s' in '%s' ('%s' missing)",
			job_name, output, p.ptr);
		buf_release(&p);
		return NULL;
	}
	{
		char target[256];
		ssize_t n = readlink(p.ptr, target, sizeof(target) - 1);

		buf_reset(&p);
		if (n > 0 && (size_t)n < sizeof(target) - 1) {
			target[n] = '\0';
			if (target[0] == '/')
				buf_addstr(&p, target);
			else
				buf_addf(&p, "%s/%s/%s", output, job_name,
					 target);
		} else {
			buf_addf(&p, "%s/%s/latest", output, job_name);
		}
	}
	return buf_detach(&p, NULL);
}

char *results_latest_failed(const char *output, const char *job_name,
			    struct err *e)
{
	char *dir = results_latest_dir(output, job_name, e);
	char *path;

	if (!dir)
		return NULL;
	path = join(dir, "failed.csv");
	free(dir);
	if (access(path, R_OK) < 0) {
		err_set_errno(e, ERR_INPUT, "cannot read '%s'", path);
		free(path);
		return NULL;
	}
	return path;
}

int results_lock(const char *output, const char *job_name, struct err *e)
{
	char *jobdir = join(output, job_name);
	char *path = join(jobdir, ".lock");
	char info[128], t[40];
	int fd = -1;

	if (mkdirs(jobdir, e) < 0)
		goto out;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		err_set_errno(e, ERR_IO, "cannot open '%s'", path);
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = errno == EWOULDBLOCK
				? pread(fd, info, sizeof(info) - 1, 0)
				: -1;
		long pid = 0;

		if (n < 0) {
			err_set_errno(e, ERR_IO, "cannot lock '%s'", path);
		} else {
			info[n] = '\0';
			t[0] = '\0';
			if (sscanf(info, "%ld %39s", &pid, t) < 1)
				pid = 0;
			err_set(e, ERR_IO,
				"job '%s' is already running (pid %ld, started "
				"%s; lock '%s'): one run of a job at a time",
				job_name, pid, t[0] ? t : "unknown", path);
		}
		close(fd);
		fd = -1;
		goto out;
	}
	/* the lock is the flock(): these words only name its holder */
	now_iso(t, sizeof(t), false);
	snprintf(info, sizeof(info), "%ld %s\n", (long)getpid(), t);
	if (ftruncate(fd, 0) < 0 ||
	    pwrite(fd, info, strlen(info), 0) != (ssize_t)strlen(info)) {
		/* the lock holds all the same */
	}
out:
	free(jobdir);
	free(path);
	return fd;
}

static char *json_string(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) && v->valuestring ? xstrdup(v->valuestring)
						   : NULL;
}

int results_prior_read(const char *run_dir, struct results_prior *p,
		       struct err *e)
{
	char *path = join(run_dir, "run.json");
	struct buf b = BUF_INIT(BUF_MAX_SMALL);
	FILE *fp = fopen(path, "rb");
	cJSON *o = NULL;
	struct jscan js;
	off_t end;
	int rc = -1;

	memset(p, 0, sizeof(*p));
	p->dir = xstrdup(run_dir);
	if (!fp) {
		err_set(e, ERR_CONFIG,
			"run '%s' has no run.json (an older mbxfix made it): "
			"it can be neither resumed nor rerun",
			run_dir);
		goto out;
	}
	{
		char chunk[4096];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
			if (buf_add(&b, chunk, n) < 0)
				break;
		fclose(fp);
	}
	o = cJSON_Parse(b.ptr);
	if (!o || !(p->command = json_string(o, "command"))) {
		err_set(e, ERR_CONFIG, "'%s' is not a run description", path);
		goto out;
	}
	p->input = json_string(o, "input");
	p->input_sha256 = json_string(o, "input_sha256");
	{
		char *copy = json_string(o, "input_copy");

		if (copy) {
			p->input_copy = join(run_dir, copy);
			free(copy);
		}
	}
	free(path);
	path = join(run_dir, "journal");
	if (access(path, F_OK) == 0) {
		if (scan_journal(path, &js, &end, e) < 0) {
			jscan_release(&js);
			goto out;
		}
		p->has_journal = true;
		p->finished = js.ended;
		p->rows_done = js.n;
		for (size_t i = 0; i < js.n; i++)
			if (js.rows[i].result != RESULTS_OK)
				p->rows_failed++;
		jscan_release(&js);
	}
	rc = 0;
out:
	cJSON_Delete(o);
	buf_release(&b);
	free(path);
	return rc;
}

void results_prior_release(struct results_prior *p)
{
	free(p->dir);
	free(p->command);
	free(p->input);
	free(p->input_sha256);
	free(p->input_copy);
	memset(p, 0, sizeof(*p));
}

/* A row never reached, as failed.csv would hold it with no error. */
static void unreached_line(struct buf *line, const struct row *row,
			   size_t ncols, char delim)
{
	size_t n = row->nfields > ncols ? row->nfields : ncols;

	for (size_t i = 0; i < n; i++)
		cell(line, i < row->nfields ? row->fields[i] : "", delim,
		     i == 0);
	failed_error_cells(line, "", "", delim, n == 0);
	buf_addstr(line, "\r\n");
}

int results_rerun_input(const struct results_prior *p, const char *input,
			const char *encoding, const char *out_path,
			size_t *nrows, struct err *e)
{
	char *jpath = join(p->dir, "journal");
	struct jscan js;
	struct journal *j = NULL;
	struct rows *in = NULL;
	struct buf line = BUF_INIT(LINE_MAX_BYTES);
	FILE *fp = NULL;
	size_t k = 0;
	off_t end;
	int rc = -1;

	*nrows = 0;
	if (scan_journal(jpath, &js, &end, e) < 0)
		goto out;
	/* read-only use: journal_pread() of records already on disk */
	if (journal_open(&j, jpath, false, end, e) < 0)
		goto out;
	if (!js.ended) {
		/* the rows it never reached come from its input */
		if (!input) {
			err_set(e, ERR_CONFIG,
				"run '%s' was interrupted and its input is "
				"gone: cannot tell which rows it never reached",
				p->dir);
			goto out;
		}
		if (rows_open_encoding(&in, input, NULL, encoding, e) < 0)
			goto out;
	}
	if (!(fp = open_file(out_path, "wbx", e)))
		goto out;
	if (write_flush(fp, out_path, js.bom ? "\xef\xbb\xbf" : "",
			js.bom ? 3 : 0, e) < 0 ||
	    write_flush(fp, out_path, js.hdr + js.rhdrlen,
			js.hdrlen - js.rhdrlen, e) < 0)
		goto out;
	for (;;) {
		struct row *row = NULL;
		const struct slot *d;

		if (in && rows_next(in, &row, e) < 0)
			goto out;
		if (in && !row)
			break;
		if (!in && k == js.n)
			break;
		while (row && k < js.n && js.rows[k].num < row->num)
			k++;
		d = k < js.n && (!row || js.rows[k].num == row->num)
			? &js.rows[k]
			: NULL;
		if (!in)
			k++;
		buf_reset(&line);
		if (d && d->result != RESULTS_OK) {
			/* a failed row: its failed.csv line, as recorded */
			if (buf_grow(&line, d->flen + 1) < 0 ||
			    journal_pread(j, d->off + (off_t)d->rlen, line.ptr,
					  d->flen, e) < 0) {
				rows_row_free(row);
				goto out;
			}
			line.len = d->flen;
			line.ptr[line.len] = '\0';
		} else if (!d && row) {
			/* never reached: as failed.csv has it, no error */
			unreached_line(&line, row, rows_ncols(in), js.delim);
		}
		rows_row_free(row);
		if (line.len) {
			if (write_flush(fp, out_path, line.ptr, line.len, e) <
			    0)
				goto out;
			(*nrows)++;
		}
	}
	rc = 0;
out:
	if (fp && fclose(fp) != 0 && !rc)
		rc = err_set_errno(e, ERR_IO, "cannot write '%s'", out_path);
	if (rc && fp)
		unlink(out_path);
	rows_free(in);
	if (j) {
		/* nothing was added: closing writes nothing */
		journal_free(j);
	}
	jscan_release(&js);
	buf_release(&line);
	free(jpath);
	return rc;
}
