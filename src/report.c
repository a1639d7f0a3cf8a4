#include "compat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <csv.h>

#include "buf.h"
#include "cell.h"
#include "report.h"
#include "results.h"
#include "rows.h"

#include "banned.h"

/* The columns results.csv ends with (results.h), from the end. */
#define NRESULT_COLS 15
#define C_RESULT 0
#define C_ACTIONS 1 /* six: set_profile .. test_enable */
#define C_CODE 7
#define C_MESSAGE 8
#define C_HINT 9
#define C_ATTEMPTS 10

/* Distinct error codes counted at most; the rest go under "(other)". */
#define MAX_CODES 64

struct failed_row {
	size_t num;
	char *mailbox, *result, *code, *message, *hint, *attempts;
};

struct code_count {
	char *code;
	size_t n;
};

struct tally {
	/* the record being read: its fields in 'fb', offsets in 'fo' */
	struct buf fb;
	size_t *fo, *fl;
	size_t nf, cap;

	size_t records; /* the header included */
	size_t ncols;	/* of the header */
	long mailbox;	/* column of 'mailbox', -1 */
	bool bad;	/* the header is not results.csv's */

	size_t rows;
	size_t outcome[RESULTS_NOUTCOMES];
	size_t action[ROWS_NACTIONS][RESULTS_NSTATES];
	struct code_count codes[MAX_CODES + 1];
	size_t ncodes;
	struct failed_row *failed;
	size_t nfailed, failed_cap, failed_total;
};

static void on_field(void *s, size_t len, void *data)
{
	struct tally *t = data;

	if (t->nf == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 32;
		t->fo = xrealloc(t->fo, t->cap * sizeof(*t->fo));
		t->fl = xrealloc(t->fl, t->cap * sizeof(*t->fl));
	}
	t->fo[t->nf] = t->fb.len;
	t->fl[t->nf] = len;
	t->nf++;
	buf_add(&t->fb, s, len);
	buf_addch(&t->fb, '\0');
}

/* Field 'i' of the record, the writer's mark removed (cell.h); "" if none. */
static const char *field(const struct tally *t, size_t i)
{
	const char *s;

	if (i >= t->nf)
		return "";
	s = t->fb.ptr + t->fo[i];
	return cell_marked(s, t->fl[i]) ? s + 1 : s;
}

static int name_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

static void count_code(struct tally *t, const char *code)
{
	size_t i;

	for (i = 0; i < t->ncodes; i++)
		if (!strcmp(t->codes[i].code, code))
			break;
	if (i == t->ncodes) {
		if (t->ncodes == MAX_CODES) {
			code = "(other)";
			for (i = 0; i < t->ncodes; i++)
				if (!strcmp(t->codes[i].code, code))
					break;
		}
		if (i == t->ncodes) {
			t->codes[i].code = xstrdup(code);
			t->codes[i].n = 0;
			t->ncodes++;
		}
	}
	t->codes[i].n++;
}

static void on_header(struct tally *t)
{
	t->ncols = t->nf;
	t->mailbox = -1;
	if (t->nf < NRESULT_COLS ||
	    strcmp(field(t, t->nf - NRESULT_COLS), "result") ||
	    strcmp(field(t, t->nf - 1), "mailbox_id")) {
		t->bad = true;
		return;
	}
	for (size_t i = 0; i + NRESULT_COLS < t->nf; i++) {
		size_t len = strlen(field(t, i));
		const char *s = field(t, i);

		while (len && (*s == ' ' || *s == '\t'))
			s++, len--;
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 7 && !strncasecmp(s, "mailbox", 7)) {
			t->mailbox = (long)i;
			break;
		}
	}
}

static void on_record(int term, void *data)
{
	static const char *const outcomes[] = {"ok", "failed", "invalid"};
	static const char *const states[] = {
	    "", "done", "unchanged", "failed", "skipped", "would-change"};
	struct tally *t = data;
	size_t base;
	int o;

	(void)term;
	if (!t->records++) {
		on_header(t);
		goto out;
	}
	if (t->bad || t->nf < NRESULT_COLS)
		goto out;
	base = t->nf - NRESULT_COLS;
	t->rows++;
	o = name_index(outcomes, RESULTS_NOUTCOMES, field(t, base + C_RESULT));
	if (o >= 0)
		t->outcome[o]++;
	for (int a = 0; a < ROWS_NACTIONS; a++) {
		int st = name_index(states, RESULTS_NSTATES,
				    field(t, base + C_ACTIONS + (size_t)a));

		if (st > 0)
			t->action[a][st]++;
	}
	if (o == RESULTS_OK)
		goto out;
	count_code(t, *field(t, base + C_CODE) ? field(t, base + C_CODE)
					       : "(none)");
	t->failed_total++;
	if (t->nfailed < REPORT_MAX_ROWS) {
		struct failed_row *f;

		if (t->nfailed == t->failed_cap) {
			t->failed_cap = t->failed_cap ? 2 * t->failed_cap : 64;
			t->failed = xrealloc(t->failed, t->failed_cap *
							    sizeof(*t->failed));
		}
		f = &t->failed[t->nfailed++];
		f->num = t->rows;
		f->mailbox = xstrdup(
		    t->mailbox >= 0 ? field(t, (size_t)t->mailbox) : "");
		f->result = xstrdup(field(t, base + C_RESULT));
		f->code = xstrdup(field(t, base + C_CODE));
		f->message = xstrdup(field(t, base + C_MESSAGE));
		f->hint = xstrdup(field(t, base + C_HINT));
		f->attempts = xstrdup(field(t, base + C_ATTEMPTS));
	}
out:
	t->nf = 0;
	buf_reset(&t->fb);
}

/* The delimiter of a results.csv header: the one after "result". */
static char results_delim(const char *s, size_t len)
{
	static const char cand[] = {',', ';', '\t', '|'};
	struct buf line = BUF_INIT(SIZE_MAX / 2);
	const char *nl = memchr(s, '\n', len);
	char pat[32], d = ',';

	buf_add(&line, s, nl ? (size_t)(nl - s) : len);
	for (size_t i = 0; i < ARRAY_SIZE(cand); i++) {
		snprintf(pat, sizeof(pat), "result%cset_profile%c", cand[i],
			 cand[i]);
		if (strstr(line.ptr, pat)) {
			d = cand[i];
			break;
		}
	}
	buf_release(&line);
	return d;
}

/*
 * A line with no quote, split as libcsv would: fields trimmed of spaces
 * and tabs, a blank line no record. Nearly every line of results.csv is
 * one of these; reading them without the parser's per-byte callbacks
 * keeps the report's cost small next to the run's.
 */
static void plain_line(struct tally *t, const char *s, size_t len, char delim)
{
	const char *end;

	while (len && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	if (!len)
		return;
	end = s + len;
	for (;;) {
		const char *d = memchr(s, delim, (size_t)(end - s));
		const char *fe = d ? d : end;
		const char *fs = s;

		while (fs < fe && (*fs == ' ' || *fs == '\t'))
			fs++;
		while (fe > fs && (fe[-1] == ' ' || fe[-1] == '\t'))
			fe--;
		on_field((void *)(uintptr_t)fs, (size_t)(fe - fs), t);
		if (!d)
			break;
		s = d + 1;
	}
	on_record('\n', t);
}

static int read_results(const char *path, struct tally *t, struct err *e)
{
	struct csv_parser p;
	FILE *fp = fopen(path, "rb");
	char *line = NULL, delim = ',';
	size_t cap = 0;
	ssize_t n;
	bool first = true, quoted = false;
	int rc = -1;

	if (!fp)
		return err_set_errno(e, ERR_IO, "cannot open '%s'", path);
	if (csv_init(&p, CSV_APPEND_NULL) != 0) {
		err_set(e, ERR_IO, "cannot set up the CSV parser");
		goto out_close;
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		const char *s = line;
		size_t len = (size_t)n, before = t->records;

		if (first) {
			first = false;
			if (len >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
				s += 3, len -= 3;
			delim = results_delim(s, len);
			csv_set_delim(&p, (unsigned char)delim);
		}
		/* a line with a quote, or inside a quoted field: the parser */
		if (!quoted && !memchr(s, '"', len)) {
			plain_line(t, s, len, delim);
			continue;
		}
		if (csv_parse(&p, s, len, on_field, on_record, t) != len) {
			err_set(e, ERR_IO, "%s: %s", path,
				csv_strerror(csv_error(&p)));
			goto out;
		}
		quoted = t->records == before;
	}
	csv_fini(&p, on_field, on_record, t);
	if (ferror(fp)) {
		err_set_errno(e, ERR_IO, "cannot read '%s'", path);
		goto out;
	}
	rc = 0;
out:
	csv_free(&p);
out_close:
	free(line);
	fclose(fp);
	return rc;
}

static void tally_free(struct tally *t)
{
	for (size_t i = 0; i < t->nfailed; i++) {
		struct failed_row *f = &t->failed[i];

		free(f->mailbox);
		free(f->result);
		free(f->code);
		free(f->message);
		free(f->hint);
		free(f->attempts);
	}
	free(t->failed);
	for (size_t i = 0; i < t->ncodes; i++)
		free(t->codes[i].code);
	free(t->fo);
	free(t->fl);
	buf_release(&t->fb);
}

/* --- HTML ------------------------------------------------------------ */

static void esc(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			buf_addstr(b, "&amp;");
			break;
		case '<':
			buf_addstr(b, "&lt;");
			break;
		case '>':
			buf_addstr(b, "&gt;");
			break;
		case '"':
			buf_addstr(b, "&quot;");
			break;
		case '\'':
			buf_addstr(b, "&#39;");
			break;
		default:
			buf_addch(b, *s);
		}
	}
}

struct bar {
	const char *label;
	size_t n;
	const char *color;
};

/* A horizontal bar chart as inline SVG; 'id' names it for the tests. */
static void chart(struct buf *b, const char *id, const char *title,
		  const struct bar *bars, size_t nbars)
{
	const int row = 24, label_w = 230, bar_w = 420;
	size_t max = 0;

	for (size_t i = 0; i < nbars; i++)
		if (bars[i].n > max)
			max = bars[i].n;
	buf_addf(b, "<section><h2>%s</h2>\n", title);
	if (!nbars) {
		buf_addf(b, "<p class=\"none\" id=\"%s\">none</p></section>\n",
			 id);
		return;
	}
	buf_addf(b,
		 "<svg id=\"%s\" class=\"chart\" role=\"img\" width=\"%d\" "
		 "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
		 id, label_w + bar_w + 80, (int)nbars * row + 4,
		 label_w + bar_w + 80, (int)nbars * row + 4);
	for (size_t i = 0; i < nbars; i++) {
		int y = (int)i * row + 2;
		int w =
		    max ? (int)((double)bars[i].n * bar_w / (double)max) : 0;

		if (bars[i].n && w < 2)
			w = 2;
		buf_addstr(b, "<g class=\"bar\" data-label=\"");
		esc(b, bars[i].label);
		buf_addf(b, "\" data-count=\"%zu\">", bars[i].n);
		buf_addf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
			 label_w - 8, y + 16);
		esc(b, bars[i].label);
		buf_addf(b,
			 "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" "
			 "height=\"%d\" fill=\"%s\"/><text x=\"%d\" "
			 "y=\"%d\">%zu</text></g>\n",
			 label_w, y + 2, w, row - 6, bars[i].color,
			 label_w + w + 6, y + 16, bars[i].n);
	}
	buf_addstr(b, "</svg></section>\n");
}

static const char *outcome_color(int o)
{
	return o == RESULTS_OK	     ? "#2e7d32"
	       : o == RESULTS_FAILED ? "#c62828"
				     : "#ef6c00";
}

static const char *state_color(int st)
{
	switch (st) {
	case RESULTS_DONE:
		return "#2e7d32";
	case RESULTS_UNCHANGED:
		return "#81c784";
	case RESULTS_FAILED_ACT:
		return "#c62828";
	case RESULTS_SKIPPED:
		return "#9e9e9e";
	default:
		return "#1565c0";
	}
}

static void summary_table(struct buf *b, const cJSON *sum)
{
	const cJSON *it;

	buf_addstr(b, "<section><h2>The run</h2>\n<table class=\"kv\" "
		      "id=\"summary\">\n");
	cJSON_ArrayForEach(it, sum)
	{
		char num[64];
		const char *v = NULL;

		if (cJSON_IsString(it)) {
			v = it->valuestring;
		} else if (cJSON_IsBool(it)) {
			v = cJSON_IsTrue(it) ? "true" : "false";
		} else if (cJSON_IsNumber(it)) {
			double d = it->valuedouble;

			if (d == (double)(long long)d)
				snprintf(num, sizeof(num), "%lld",
					 (long long)d);
			else
				snprintf(num, sizeof(num), "%.3f", d);
			v = num;
		}
		if (!v)
			continue; /* the counts are charted below */
		buf_addstr(b, "<tr><th>");
		esc(b, it->string ? it->string : "");
		buf_addstr(b, "</th><td>");
		esc(b, v);
		buf_addstr(b, "</td></tr>\n");
	}
	buf_addstr(b, "</table></section>\n");
}

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:left;vertical-align:top}"
    "table.kv th{background:#f4f4f4;font-weight:600}"
    "#rows th{background:#eee;cursor:pointer;user-select:none}"
    "#rows th.asc::after{content:' \\25b2'}"
    "#rows th.desc::after{content:' \\25bc'}"
    "#rows td.msg{max-width:38em}svg.chart text{font-size:13px}"
    "#filter{margin:6px 0;padding:4px;width:28em}.note{color:#555}"
    ".lead{font-size:16px}";

/*
 * Sort by a column (click its title, or "#sort=N" / "#sort=-N" for column
 * N from 0, descending), filter by a text (the box, or "#filter=TEXT").
 */
static const char script[] =
    "(function(){\n"
    "var t=document.getElementById('rows');if(!t)return;\n"
    "var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows),\n"
    "f=document.getElementById('filter'),"
    "shown=document.getElementById('shown');\n"
    "function apply(){var q=f.value.toLowerCase(),n=0;\n"
    " rows.forEach(function(r){var ok=!q||"
    "r.textContent.toLowerCase().indexOf(q)>=0;\n"
    "  r.style.display=ok?'':'none';if(ok)n++;});\n"
    " shown.textContent=n+' of '+rows.length+' rows shown';"
    " shown.setAttribute('data-shown',n);}\n"
    "Array.prototype.forEach.call(t.tHead.rows[0].cells,"
    "function(th,i){\n"
    " th.addEventListener('click',function(){\n"
    "  var asc=!th.classList.contains('asc'),num=th.dataset.num;\n"
    "  Array.prototype.forEach.call(th.parentNode.cells,"
    "function(c){c.classList.remove('asc','desc');});\n"
    "  th.classList.add(asc?'asc':'desc');\n"
    "  rows.sort(function(a,b){var x=a.cells[i].textContent,"
    "y=b.cells[i].textContent;\n"
    "   var c=num?(+x)-(+y):x.localeCompare(y);return asc?c:-c;});\n"
    "  rows.forEach(function(r){tb.appendChild(r);});});});\n"
    "f.addEventListener('input',apply);\n"
    "var m=/[#&]filter=([^&]*)/.exec(location.hash);\n"
    "if(m)f.value=decodeURIComponent(m[1]);apply();\n"
    "m=/[#&]sort=(-?)(\\d+)/.exec(location.hash);\n"
    "if(m){var th=t.tHead.rows[0].cells[+m[2]];if(th){th.click();"
    "if(m[1])th.click();}}\n"
    "})();\n";

static void failed_table(struct buf *b, const struct tally *t)
{
	buf_addstr(b, "<section><h2>Rows that did not end ok</h2>\n");
	if (!t->failed_total) {
		buf_addstr(b, "<p id=\"no-failed\">none: every row ended "
			      "ok.</p></section>\n");
		return;
	}
	buf_addstr(b, "<p class=\"note\">failed.csv holds these rows with "
		      "their error in its last two columns; correct them and "
		      "run it again (mbxfix run JOB --rerun-failed).</p>\n");
	if (t->failed_total > t->nfailed)
		buf_addf(b,
			 "<p class=\"note\" id=\"cut\">The first %zu of %zu "
			 "are listed; failed.csv has them all.</p>\n",
			 t->nfailed, t->failed_total);
	buf_addstr(b, "<input id=\"filter\" type=\"search\" "
		      "placeholder=\"filter: mailbox, code, text...\"> "
		      "<span id=\"shown\"></span>\n<table id=\"rows\" "
		      "data-total=\"");
	buf_addf(b,
		 "%zu\"><thead><tr><th data-num=\"1\">row</th>"
		 "<th>mailbox</th><th>result</th><th>error code</th>"
		 "<th>message</th><th>hint</th>"
		 "<th data-num=\"1\">attempts</th></tr></thead><tbody>\n",
		 t->failed_total);
	for (size_t i = 0; i < t->nfailed; i++) {
		const struct failed_row *f = &t->failed[i];

		buf_addf(b, "<tr><td>%zu</td><td>", f->num);
		esc(b, f->mailbox);
		buf_addstr(b, "</td><td>");
		esc(b, f->result);
		buf_addstr(b, "</td><td>");
		esc(b, f->code);
		buf_addstr(b, "</td><td class=\"msg\">");
		esc(b, f->message);
		buf_addstr(b, "</td><td class=\"msg\">");
		esc(b, f->hint);
		buf_addstr(b, "</td><td>");
		esc(b, f->attempts);
		buf_addstr(b, "</td></tr>\n");
	}
	buf_addstr(b, "</tbody></table></section>\n");
}

static void page(struct buf *b, const cJSON *sum, const struct tally *t)
{
	static const char *const onames[] = {"ok", "failed", "invalid"};
	static const char *const snames[] = {
	    "", "done", "unchanged", "failed", "skipped", "would change"};
	struct bar bars[ROWS_NACTIONS * RESULTS_NSTATES + MAX_CODES + 1];
	char labels[ROWS_NACTIONS * RESULTS_NSTATES][64];
	const cJSON *run = cJSON_GetObjectItemCaseSensitive(sum, "run");
	size_t n = 0;

	buf_addstr(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		      "<meta charset=\"utf-8\"><title>mbxfix run ");
	esc(b, cJSON_IsString(run) ? run->valuestring : "");
	buf_addf(b, "</title><style>%s</style></head><body>\n<h1>mbxfix run ",
		 style);
	esc(b, cJSON_IsString(run) ? run->valuestring : "");
	buf_addf(b,
		 "</h1>\n<p class=\"lead\" id=\"lead\">%zu rows: %zu ok, %zu "
		 "failed, %zu invalid.</p>\n",
		 t->rows, t->outcome[RESULTS_OK], t->outcome[RESULTS_FAILED],
		 t->outcome[RESULTS_INVALID]);

	for (int o = 0; o < RESULTS_NOUTCOMES; o++)
		bars[n++] =
		    (struct bar){onames[o], t->outcome[o], outcome_color(o)};
	chart(b, "by-outcome", "Rows by outcome", bars, n);

	n = 0;
	for (int a = 0; a < ROWS_NACTIONS; a++)
		for (int st = RESULTS_DONE; st < RESULTS_NSTATES; st++) {
			if (!t->action[a][st])
				continue;
			snprintf(labels[n], sizeof(labels[n]), "%s: %s",
				 rows_action_name((enum rows_action)a),
				 snames[st]);
			bars[n] = (struct bar){labels[n], t->action[a][st],
					       state_color(st)};
			n++;
		}
	chart(b, "by-action", "Actions by state", bars, n);

	n = 0;
	for (size_t i = 0; i < t->ncodes; i++)
		bars[n++] =
		    (struct bar){t->codes[i].code, t->codes[i].n, "#6a1b9a"};
	chart(b, "by-code", "Rows not ok, by error code", bars, n);

	failed_table(b, t);
	summary_table(b, sum);
	buf_addf(b, "<script>%s</script>\n</body></html>\n", script);
}

static char *join(const char *dir, const char *name)
{
	struct buf p = BUF_INIT(SIZE_MAX / 2);

	buf_addf(&p, "%s/%s", dir, name);
	return buf_detach(&p, NULL);
}

static cJSON *read_summary(const char *path, struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_BODY);
	char chunk[4096];
	FILE *fp = fopen(path, "rb");
	size_t n;
	cJSON *j;

	if (!fp) {
		err_set_errno(e, ERR_IO, "cannot open '%s'", path);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_add(&b, chunk, n);
	fclose(fp);
	j = cJSON_ParseWithLength(b.ptr, b.len);
	buf_release(&b);
	if (!j)
		err_set(e, ERR_IO, "%s: not JSON", path);
	return j;
}

char *report_write(const char *run_dir, struct err *e)
{
	struct tally t = {.fb = BUF_INIT(4 * ROWS_MAX_RECORD + 64)};
	struct buf html = BUF_INIT(SIZE_MAX / 2);
	char *sum_path = join(run_dir, "summary.json");
	char *res_path = join(run_dir, "results.csv");
	char *path = join(run_dir, "report.html");
	char *tmp = join(run_dir, ".report.html.tmp");
	cJSON *sum = read_summary(sum_path, e);
	FILE *fp = NULL;
	bool ok = false;

	if (!sum || read_results(res_path, &t, e) < 0)
		goto out;
	page(&html, sum, &t);
	fp = fopen(tmp, "wb");
	if (!fp) {
		err_set_errno(e, ERR_IO, "cannot create '%s'", tmp);
		goto out;
	}
	if ((fwrite(html.ptr, 1, html.len, fp) != html.len) | fclose(fp)) {
		err_set_errno(e, ERR_IO, "cannot write '%s'", tmp);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		err_set_errno(e, ERR_IO, "cannot rename '%s'", tmp);
		unlink(tmp);
		goto out;
	}
	ok = true;
out:
	cJSON_Delete(sum);
	tally_free(&t);
	buf_release(&html);
	free(sum_path);
	free(res_path);
	free(tmp);
	if (!ok) {
		free(path);
		return NULL;
	}
	return path;
}
