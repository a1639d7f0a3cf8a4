#include "compat.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>

#include "buf.h"
#include "cell.h"
#include "results.h"

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

struct slot {
	bool used;
	size_t num;
	char *line; /* results.csv line */
	size_t len;
	char *fline; /* failed.csv line, NULL when the row did not fail */
	size_t flen;
};

struct results {
	char *jobdir; /* OUTPUT/JOB */
	char *dir;    /* OUTPUT/JOB/RUN-ID */
	char *runid;
	char *input;
	char *res_path, *failed_path, *log_path;
	FILE *res, *failed, *log;
	char delim;
	size_t ncols;
	char started[40];

	size_t next;	/* the next row number to write */
	size_t resumed; /* rows written by an earlier process */
	struct slot *win;
	size_t wcap; /* power of two */
	size_t npending;
	struct results_counts counts;

	/* results_set_flush_ms(): whole lines held back, written together */
	long flush_ms;
	int64_t flushed_at; /* CLOCK_MONOTONIC, ms */
	struct buf hold, fhold;
	struct buf line, fline; /* results_add(): reused, not re-grown */
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
		       char delim, bool results)
{
	int rc = 0;

	for (size_t i = 0; i < ncols; i++)
		rc |= cell(b, header[i], delim, i == 0);
	for (size_t i = 0; results && i < ARRAY_SIZE(result_cols); i++)
		rc |= cell(b, result_cols[i], delim, ncols == 0 && i == 0);
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

/* Point JOBDIR/latest at 'runid', atomically. */
static int set_latest(struct results *r, struct err *e)
{
	char tmpname[64];
	char *tmp, *latest;
	int rc = 0;

	snprintf(tmpname, sizeof(tmpname), ".latest-%ld", (long)getpid());
	tmp = join(r->jobdir, tmpname);
	latest = join(r->jobdir, "latest");
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

/*
 * Scan 'path' (a results.csv): complete records, and the byte offset just
 * past the last complete one. A record is complete when its line end was
 * written; a cut last line is not counted.
 */
struct scan {
	size_t records;
	long seg_end;
	long last_end;
};

static void scan_field(void *s, size_t len, void *data)
{
	(void)s;
	(void)len;
	(void)data;
}

static void scan_record(int term, void *data)
{
	struct scan *sc = data;

	(void)term;
	sc->records++;
	sc->last_end = sc->seg_end;
}

static int scan_results(const char *path, char delim, struct scan *sc,
			struct err *e)
{
	struct csv_parser p;
	char *chunk = xmalloc(65536);
	long off = 0;
	size_t n;
	FILE *fp = fopen(path, "rb");
	int rc = -1;

	memset(sc, 0, sizeof(*sc));
	if (!fp) {
		free(chunk);
		return err_set_errno(e, ERR_INPUT, "cannot open '%s'", path);
	}
	if (csv_init(&p, 0) != 0) {
		err_set(e, ERR_INPUT, "cannot set up the CSV parser");
		goto out_close;
	}
	csv_set_delim(&p, (unsigned char)delim);
	while ((n = fread(chunk, 1, 65536, fp)) > 0) {
		size_t o = 0;

		while (o < n) {
			const char *nl = memchr(chunk + o, '\n', n - o);
			size_t len =
			    nl ? (size_t)(nl - (chunk + o)) + 1 : n - o;

			sc->seg_end = off + (long)(o + len);
			if (csv_parse(&p, chunk + o, len, scan_field,
				      scan_record, sc) != len) {
				err_set(e, ERR_INPUT, "%s: %s", path,
					csv_strerror(csv_error(&p)));
				goto out;
			}
			o += len;
		}
		off += (long)n;
	}
	if (ferror(fp)) {
		err_set_errno(e, ERR_INPUT, "cannot read '%s'", path);
		goto out;
	}
	rc = 0;
out:
	csv_free(&p);
out_close:
	fclose(fp);
	free(chunk);
	return rc;
}

/* The delimiter of a results.csv header (',' when none is found). */
static char header_delim(const char *first)
{
	static const char *const pats[] = {"result;set_profile;",
					   "result\tset_profile\t",
					   "result|set_profile|"};

	/* the header always holds these two columns, side by side */
	for (size_t i = 0; i < ARRAY_SIZE(pats); i++)
		if (strstr(first, pats[i]))
			return pats[i][6];
	return ',';
}

int results_resume_point(const char *run_dir, size_t *rows_done, struct err *e)
{
	char *path = join(run_dir, "results.csv");
	struct scan sc;
	char first[4096];
	size_t n;
	FILE *fp;
	char delim;

	*rows_done = 0;
	fp = fopen(path, "rb");
	if (!fp) {
		err_set_errno(e, ERR_INPUT, "cannot open '%s'", path);
		free(path);
		return -1;
	}
	n = fread(first, 1, sizeof(first) - 1, fp);
	fclose(fp);
	first[n] = '\0';
	delim = header_delim(first);
	if (scan_results(path, delim, &sc, e) < 0) {
		free(path);
		return -1;
	}
	free(path);
	*rows_done = sc.records ? sc.records - 1 : 0;
	return 0;
}

static int reopen_run(struct results *r, const struct results_setup *s,
		      const char *hdr, size_t hdrlen, struct err *e)
{
	struct scan sc;
	char *buf;
	FILE *fp;
	size_t n;
	size_t skip = s->bom ? 3 : 0;

	r->dir = xstrdup(s->resume_dir);
	r->res_path = join(r->dir, "results.csv");
	fp = fopen(r->res_path, "rb");
	if (!fp)
		return err_set_errno(e, ERR_INPUT, "cannot open '%s'",
				     r->res_path);
	buf = xmalloc(hdrlen + skip + 1);
	n = fread(buf, 1, hdrlen + skip, fp);
	fclose(fp);
	if (n != hdrlen + skip || memcmp(buf + skip, hdr, hdrlen) ||
	    (skip && memcmp(buf, "\xef\xbb\xbf", 3))) {
		free(buf);
		return err_set(e, ERR_INPUT,
			       "cannot resume '%s': its columns differ from "
			       "those of the input",
			       r->res_path);
	}
	free(buf);
	if (scan_results(r->res_path, r->delim, &sc, e) < 0)
		return -1;
	if (truncate(r->res_path, sc.last_end) < 0)
		return err_set_errno(e, ERR_IO, "cannot truncate '%s'",
				     r->res_path);
	r->resumed = sc.records ? sc.records - 1 : 0;
	/* failed.csv too may end in a line cut short */
	r->failed_path = join(r->dir, "failed.csv");
	if (scan_results(r->failed_path, r->delim, &sc, e) < 0)
		return -1;
	if (truncate(r->failed_path, sc.last_end) < 0)
		return err_set_errno(e, ERR_IO, "cannot truncate '%s'",
				     r->failed_path);
	r->next = r->resumed + 1;
	{
		const char *slash = strrchr(r->dir, '/');

		r->runid = xstrdup(slash ? slash + 1 : r->dir);
	}
	return 0;
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
	buf_init(&r->hold, 2 * HOLD_MAX_BYTES + LINE_MAX_BYTES);
	buf_init(&r->fhold, 2 * HOLD_MAX_BYTES + LINE_MAX_BYTES);
	buf_init(&r->line, LINE_MAX_BYTES);
	buf_init(&r->fline, LINE_MAX_BYTES);
	r->input = xstrdup(s->input ? s->input : "");
	now_iso(r->started, sizeof(r->started), false);
	{
		char *o = join(s->output, s->job_name);

		r->jobdir = o;
	}
	if (header_line(&hdr, s->header, s->ncols, s->delim, true) < 0 ||
	    header_line(&fhdr, s->header, s->ncols, s->delim, false) < 0) {
		err_set(e, ERR_INPUT, "the input header is too long");
		goto fail;
	}
	if (s->resume_dir) {
		if (reopen_run(r, s, hdr.ptr, hdr.len, e) < 0)
			goto fail;
		r->log_path = join(r->dir, "run.log");
		if (!(r->res = open_file(r->res_path, "ab", e)) ||
		    !(r->failed = open_file(r->failed_path, "ab", e)) ||
		    !(r->log = open_file(r->log_path, "ab", e)))
			goto fail;
	} else {
		if (new_run_dir(r, e) < 0)
			goto fail;
		r->res_path = join(r->dir, "results.csv");
		r->failed_path = join(r->dir, "failed.csv");
		r->log_path = join(r->dir, "run.log");
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
 * Write the held lines with one write per file. Each file gets whole
 * lines only, so an interruption at any point leaves a valid prefix.
 */
static int flush_held(struct results *r, struct err *e)
{
	int rc = 0;

	if (r->hold.len &&
	    write_flush(r->res, r->res_path, r->hold.ptr, r->hold.len, e) < 0)
		rc = -1;
	if (!rc && r->fhold.len &&
	    write_flush(r->failed, r->failed_path, r->fhold.ptr, r->fhold.len,
			e) < 0)
		rc = -1;
	buf_reset(&r->hold);
	buf_reset(&r->fhold);
	r->flushed_at = mono_ms();
	return rc;
}

static int write_slot(struct results *r, struct slot *s, struct err *e)
{
	if (r->flush_ms > 0) {
		if (buf_add(&r->hold, s->line, s->len) < 0 ||
		    (s->fline && buf_add(&r->fhold, s->fline, s->flen) < 0))
			BUG("results: held lines past their cap");
		if (r->hold.len >= HOLD_MAX_BYTES ||
		    r->fhold.len >= HOLD_MAX_BYTES)
			return flush_held(r, e);
		return 0;
	}
	if (write_flush(r->res, r->res_path, s->line, s->len, e) < 0)
		return -1;
	if (s->fline &&
	    write_flush(r->failed, r->failed_path, s->fline, s->flen, e) < 0)
		return -1;
	return 0;
}

static void slot_clear(struct slot *s)
{
	free(s->line);
	free(s->fline);
	memset(s, 0, sizeof(*s));
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

int results_add(struct results *r, const struct row *row,
		const struct results_row *res, struct err *e)
{
	struct buf *line = &r->line, *fline = &r->fline;
	struct slot s = {0};
	int rc = -1;

	if (row->num < r->next)
		BUG("results_add: row %zu already written", row->num);
	buf_reset(line);
	buf_reset(fline);
	if (format_row(r, row, res, line, fline) < 0) {
		err_set(e, ERR_IO, "row %zu: result line too long", row->num);
		goto out;
	}
	r->counts.rows++;
	r->counts.by_outcome[res->result]++;
	for (int a = 0; a < ROWS_NACTIONS; a++)
		r->counts.by_action[a][res->action[a]]++;

	s.used = true;
	s.num = row->num;
	s.line = line->ptr;
	s.len = line->len;
	if (res->result != RESULTS_OK) {
		s.fline = fline->ptr;
		s.flen = fline->len;
	}

	if (row->num != r->next) {
		struct slot *dst;

		/* held until the rows before it are written: a copy */
		s.line = xstrndup(s.line, s.len);
		if (s.fline)
			s.fline = xstrndup(s.fline, s.flen);
		window_fit(r, row->num);
		dst = &r->win[row->num & (r->wcap - 1)];
		if (dst->used)
			BUG("results_add: row %zu added twice", row->num);
		*dst = s;
		r->npending++;
		rc = 0;
		goto out;
	}
	rc = write_slot(r, &s, e); /* 's' borrows r->line and r->fline */
	if (rc < 0)
		goto out;
	r->next++;
	while (r->npending && r->wcap) {
		struct slot *n = &r->win[r->next & (r->wcap - 1)];

		if (!n->used || n->num != r->next)
			break;
		rc = write_slot(r, n, e);
		slot_clear(n);
		r->npending--;
		if (rc < 0)
			goto out;
		r->next++;
	}
	rc = results_flush_due(r, e);
out:
	return rc;
}

void results_set_flush_ms(struct results *r, long ms)
{
	r->flush_ms = ms > 0 ? ms : 0;
	r->flushed_at = mono_ms();
}

int results_flush_due(struct results *r, struct err *e)
{
	if (!r->hold.len && !r->fhold.len)
		return 0;
	if (mono_ms() - r->flushed_at < r->flush_ms)
		return 0;
	return flush_held(r, e);
}

int results_flush(struct results *r, struct err *e)
{
	return flush_held(r, e);
}

/* A JSON string; bytes of invalid UTF-8 are escaped as Latin-1. */
static void json_str(struct buf *b, const char *s)
{
	bool utf8 = rows_is_utf8(s, strlen(s));

	buf_addch(b, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_addf(b, "\\%c", c);
		else if (c == '\n')
			buf_addstr(b, "\\n");
		else if (c == '\r')
			buf_addstr(b, "\\r");
		else if (c == '\t')
			buf_addstr(b, "\\t");
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			buf_addf(b, "\\u%04x", c);
		else
			buf_addch(b, (char)c);
	}
	buf_addch(b, '"');
}

int results_log(struct results *r, const struct results_event *ev,
		struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL * 4);
	char t[40];
	int rc;

	now_iso(t, sizeof(t), false);
	buf_addf(&b, "{\"time\":\"%s\",\"level\":", t);
	json_str(&b, ev->level ? ev->level : "info");
	if (ev->row)
		buf_addf(&b, ",\"row\":%zu", ev->row);
	if (ev->action) {
		buf_addstr(&b, ",\"action\":");
		json_str(&b, ev->action);
	}
	if (ev->http_status)
		buf_addf(&b, ",\"http_status\":%ld", ev->http_status);
	if (ev->error_code) {
		buf_addstr(&b, ",\"error_code\":");
		json_str(&b, ev->error_code);
	}
	if (ev->message) {
		buf_addstr(&b, ",\"message\":");
		json_str(&b, ev->message);
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
	now_iso(finished, sizeof(finished), false);
	buf_addstr(&b, "{\n  \"job_dir\": ");
	json_str(&b, r->jobdir);
	buf_addstr(&b, ",\n  \"run\": ");
	json_str(&b, r->runid);
	buf_addstr(&b, ",\n  \"command\": ");
	json_str(&b, s->command ? s->command : "run");
	buf_addstr(&b, ",\n  \"input\": ");
	json_str(&b, r->input);
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
	    "\n  \"throttled_wait_s\": %.3f,\n  \"rows_per_s\": %.1f\n}\n",
	    s->wall_s, s->cpu_s, s->peak_rss_kb,
	    (unsigned long long)s->requests, (unsigned long long)s->batches,
	    (unsigned long long)s->operations, (unsigned long long)s->retries,
	    (unsigned long long)s->throttled, s->throttled_s,
	    s->wall_s > 0 ? (double)r->counts.rows / s->wall_s : 0.0);
	path = join(r->dir, "summary.json");
	fp = open_file(path, "wb", e);
	rc = fp ? write_flush(fp, path, b.ptr, b.len, e) : -1;
	if (fp && fclose(fp) != 0 && rc == 0)
		rc = err_set_errno(e, ERR_IO, "cannot write '%s'", path);
	free(path);
	buf_release(&b);
	return rc;
}

void results_free(struct results *r)
{
	if (!r)
		return;
	if (r->res) {
		struct err e = ERR_INIT;

		/* best effort: results_finish() reports write errors */
		flush_held(r, &e);
		fclose(r->res);
	}
	if (r->failed)
		fclose(r->failed);
	if (r->log)
		fclose(r->log);
	for (size_t i = 0; i < r->wcap; i++)
		slot_clear(&r->win[i]);
	free(r->win);
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
