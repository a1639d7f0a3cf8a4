#include "compat.h"

#include <string.h>
#include <strings.h>

#include "buf.h"
#include "remediate.h"
#include "results.h"
#include "rows.h"

#include "banned.h"

/* The columns results.csv adds after the input columns (results.h). */
static const char *const result_cols[] = {
    "result",		"set_profile", "set_delivery", "fix_owner",
    "grant_privileges", "approve",     "test_enable",  "error_code",
    "error_message",	"hint",	       "attempts",     "incoming_status",
    "outgoing_status",	"act_status",  "mailbox_id",
};
#define NRESULT ARRAY_SIZE(result_cols)

/* The actions in the order they run (docs/design.md). */
static const enum rows_action run_order[] = {
    ROWS_FIX_OWNER,	   ROWS_SET_PROFILE, ROWS_SET_DELIVERY,
    ROWS_GRANT_PRIVILEGES, ROWS_APPROVE,     ROWS_TEST_ENABLE,
};

struct layout {
	size_t ninput;		     /* input columns: 0 .. ninput-1 */
	size_t col[NRESULT];	     /* index of each result column */
	long mailbox, actions, role; /* input columns, -1 when absent */
	long diagnosis;		     /* an input 'diagnosis' column, or -1 */
};

static int find_layout(struct layout *l, const char *const *h, size_t n,
		       const char *path, struct err *e)
{
	if (n < NRESULT)
		return err_set(e, ERR_INPUT, "%s: not a results file", path);
	l->ninput = n - NRESULT;
	for (size_t i = 0; i < NRESULT; i++) {
		if (strcasecmp(h[l->ninput + i], result_cols[i]))
			return err_set(e, ERR_INPUT,
				       "%s: not a results file (column %zu "
				       "is '%s', not '%s')",
				       path, l->ninput + i + 1,
				       h[l->ninput + i], result_cols[i]);
		l->col[i] = l->ninput + i;
	}
	l->mailbox = l->actions = l->role = l->diagnosis = -1;
	for (size_t i = 0; i < l->ninput; i++) {
		if (!strcasecmp(h[i], "mailbox"))
			l->mailbox = (long)i;
		else if (!strcasecmp(h[i], "actions"))
			l->actions = (long)i;
		else if (!strcasecmp(h[i], "role"))
			l->role = (long)i;
		else if (!strcasecmp(h[i], "diagnosis"))
			l->diagnosis = (long)i;
	}
	if (l->mailbox < 0)
		return err_set(e, ERR_INPUT, "%s: no 'mailbox' column", path);
	return 0;
}

static const char *field(const struct row *r, size_t i)
{
	return i < r->nfields ? r->fields[i] : "";
}

static const char *rcol(const struct row *r, const struct layout *l,
			const char *name)
{
	for (size_t i = 0; i < NRESULT; i++)
		if (!strcmp(result_cols[i], name))
			return field(r, l->col[i]);
	BUG("no result column '%s'", name);
}

/* The actions a hint names: "... (action set_profile ...". */
static unsigned hinted(const char *hint)
{
	unsigned set = 0;
	const char *p = hint;

	while ((p = strstr(p, "action ")) != NULL) {
		p += strlen("action ");
		for (int a = 0; a < ROWS_NACTIONS; a++) {
			const char *name = rows_action_name(a);
			size_t n = strlen(name);

			if (!strncmp(p, name, n) &&
			    !(p[n] == '_' || (p[n] >= 'a' && p[n] <= 'z')))
				set |= ROWS_ACT(a);
		}
	}
	return set;
}

static int cell(struct buf *line, const char *s, char delim, bool first,
		bool neutralise)
{
	if (!first && buf_addch(line, delim) < 0)
		return -1;
	return results_csv_cell(line, s, strlen(s), delim, neutralise);
}

static int write_header(FILE *out, const char *const *h, const struct layout *l,
			char delim)
{
	struct buf line = BUF_INIT(BUF_MAX_BODY);
	int rc = 0;

	for (size_t i = 0; i < l->ninput; i++) {
		/* read without the mark (cell.h): written with it again */
		rc |= cell(&line, h[i], delim, i == 0, true);
		if ((long)i == l->mailbox && l->actions < 0)
			rc |= cell(&line, "actions", delim, false, false);
	}
	if (l->role < 0)
		rc |= cell(&line, "role", delim, false, false);
	if (l->diagnosis < 0)
		rc |= cell(&line, "diagnosis", delim, false, false);
	rc |= buf_addstr(&line, "\r\n");
	if (!rc && fwrite(line.ptr, 1, line.len, out) != line.len)
		rc = -1;
	buf_release(&line);
	return rc;
}

/*
 * The role a PrivilegeDenied hint names: "... with role=Sales Restricted
 * and privileges=..." (or "role=X (or another of ..."). Empty when the
 * hint names none.
 */
static void hinted_role(const char *hint, struct buf *out)
{
	const char *p = strstr(hint, "with role="), *end, *e2;

	if (!p)
		return;
	p += strlen("with role=");
	end = strstr(p, " and privileges=");
	e2 = strstr(p, " (or another");
	if (e2 && (!end || e2 < end))
		end = e2;
	if (!end || end == p || *p == '<')
		return;
	buf_add(out, p, (size_t)(end - p));
}

/* 0: nothing to do for this row; 1: written; -1: write error. */
static int write_row(FILE *out, const struct row *r, const struct layout *l,
		     char delim)
{
	struct buf line = BUF_INIT(BUF_MAX_BODY), acts = BUF_INIT(4096),
		   diag = BUF_INIT(4096), role = BUF_INIT(4096);
	const char *result = rcol(r, l, "result");
	const char *code = rcol(r, l, "error_code");
	const char *hint = rcol(r, l, "hint");
	unsigned set = 0;
	int rc = 0;

	if (strcmp(result, "ok") && strcmp(result, "failed"))
		goto out; /* invalid rows: results.csv says why */
	for (int a = 0; a < ROWS_NACTIONS; a++)
		if (!strcmp(rcol(r, l, rows_action_name(a)),
			    results_state_name(RESULTS_WOULD)))
			set |= ROWS_ACT(a);
	if (!strcmp(result, "failed"))
		set |= hinted(hint);
	set &= ~ROWS_ACT(ROWS_TEST_ENABLE);
	if (!set && !strcmp(result, "ok"))
		goto out; /* healthy */
	set |= ROWS_ACT(ROWS_TEST_ENABLE);
	for (size_t i = 0; i < ARRAY_SIZE(run_order); i++)
		if (set & ROWS_ACT(run_order[i]))
			buf_addf(&acts, "%s%s", acts.len ? ";" : "",
				 rows_action_name(run_order[i]));
	if (*code)
		buf_addf(&diag, "%s: %s", code, *hint ? hint : "");
	else
		buf_addstr(&diag, "would change: ");
	if (!*code) {
		bool first = true;

		for (int a = 0; a < ROWS_NACTIONS; a++)
			if (a != ROWS_TEST_ENABLE &&
			    !strcmp(rcol(r, l, rows_action_name(a)),
				    results_state_name(RESULTS_WOULD))) {
				buf_addf(&diag, "%s%s", first ? "" : ", ",
					 rows_action_name(a));
				first = false;
			}
	}

	if (l->role >= 0)
		buf_addstr(&role, field(r, (size_t)l->role));
	if (!role.len && (set & ROWS_ACT(ROWS_GRANT_PRIVILEGES)))
		hinted_role(hint, &role);

	for (size_t i = 0; i < l->ninput; i++) {
		const char *v = field(r, i);

		if ((long)i == l->actions)
			rc |= cell(&line, acts.ptr, delim, i == 0, true);
		else if ((long)i == l->diagnosis)
			rc |= cell(&line, diag.ptr, delim, i == 0, true);
		else if ((long)i == l->role && !*v && role.len)
			rc |= cell(&line, role.ptr, delim, i == 0, true);
		else
			rc |= cell(&line, v, delim, i == 0, true);
		if ((long)i == l->mailbox && l->actions < 0)
			rc |= cell(&line, acts.ptr, delim, false, true);
	}
	if (l->role < 0)
		rc |= cell(&line, role.ptr, delim, false, true);
	if (l->diagnosis < 0)
		rc |= cell(&line, diag.ptr, delim, false, true);
	rc |= buf_addstr(&line, "\r\n");
	if (!rc && fwrite(line.ptr, 1, line.len, out) != line.len)
		rc = -1;
	rc = rc ? -1 : 1;
out:
	buf_release(&line);
	buf_release(&acts);
	buf_release(&diag);
	buf_release(&role);
	return rc;
}

int remediate_file(const char *results_csv, const char *out_csv, size_t *nrows,
		   struct err *e)
{
	struct rows *rd = NULL;
	struct row *r = NULL;
	struct layout l;
	FILE *out = NULL;
	size_t n = 0;
	int rc = -1;

	if (nrows)
		*nrows = 0;
	if (rows_open(&rd, results_csv, NULL, e) < 0)
		return -1;
	if (find_layout(&l, rows_header(rd), rows_ncols(rd), results_csv, e) <
	    0)
		goto out;
	out = fopen(out_csv, "wb");
	if (!out) {
		err_set_errno(e, ERR_IO, "cannot write '%s'", out_csv);
		goto out;
	}
	if (rows_has_bom(rd) && fputs("\xef\xbb\xbf", out) < 0)
		goto out_write;
	if (write_header(out, rows_header(rd), &l, rows_delim(rd)) < 0)
		goto out_write;
	for (;;) {
		int w;

		if (rows_next(rd, &r, e) < 0)
			goto out;
		if (!r)
			break;
		w = write_row(out, r, &l, rows_delim(rd));
		rows_row_free(r);
		r = NULL;
		if (w < 0)
			goto out_write;
		n += (size_t)w;
	}
	if (fclose(out) != 0) {
		out = NULL;
		goto out_write;
	}
	out = NULL;
	if (nrows)
		*nrows = n;
	rc = 0;
	goto out;
out_write:
	err_set_errno(e, ERR_IO, "cannot write '%s'", out_csv);
out:
	if (out)
		fclose(out);
	rows_free(rd);
	return rc;
}

int remediate_write(const char *run_dir, size_t *nrows, struct err *e)
{
	struct buf in = BUF_INIT(8192), out = BUF_INIT(8192);
	int rc;

	if (buf_addf(&in, "%s/results.csv", run_dir) < 0 ||
	    buf_addf(&out, "%s/remediation.csv", run_dir) < 0)
		rc = err_set(e, ERR_IO, "path too long: '%s'", run_dir);
	else
		rc = remediate_file(in.ptr, out.ptr, nrows, e);
	buf_release(&in);
	buf_release(&out);
	return rc;
}
