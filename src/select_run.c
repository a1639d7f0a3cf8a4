/*
 * select_run.c: a selection run through the Web API and written as the
 * run's input (select.h). Apart from select.c, whose parser the job file
 * loader uses, so that it brings no engine along.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "engine.h"
#include "job.h"
#include "odata.h"
#include "preflight.h"
#include "results.h"
#include "rows.h"
#include "select.h"

#include "banned.h"

/*
 * Network part.
 */

/* The URL relative to the API root of an @odata.nextLink. */
static const char *relative(const char *link)
{
	const char *p = strstr(link, "/api/data/");

	if (!p)
		return link;
	p = strchr(p + strlen("/api/data/"), '/');
	return p ? p + 1 : link;
}

/*
 * GET 'url' and every page after it; 'fn' is called with each page's
 * "value" array. -1 with 'e' set when a page cannot be read.
 */
static int each_page(struct engine *en, const char *url, const char *what,
		     void (*fn)(void *ctx, const cJSON *value), void *ctx,
		     struct err *e)
{
	char *cur = xstrdup(url);

	for (;;) {
		const cJSON *j, *next;
		const char *why = NULL;
		char *u[1] = {cur};

		if (engine_prefetch(en, u, 1, e) < 0) {
			free(cur);
			return -1;
		}
		j = engine_cached(en, cur, &why);
		if (!j) {
			err_set(e, ERR_NETWORK, "cannot read %s: %s", what,
				why ? why : "no answer");
			free(cur);
			return -1;
		}
		fn(ctx, cJSON_GetObjectItemCaseSensitive(j, "value"));
		next = cJSON_GetObjectItemCaseSensitive(j, "@odata.nextLink");
		free(cur);
		if (!cJSON_IsString(next))
			return 0;
		cur = xstrdup(relative(next->valuestring));
	}
}

struct named {
	const char *idcol;
	char **ids, **names;
	size_t n;
};

static void collect_named(void *ctx, const cJSON *value)
{
	struct named *nm = ctx;
	const cJSON *it;

	cJSON_ArrayForEach(it, value)
	{
		const cJSON *id =
		    cJSON_GetObjectItemCaseSensitive(it, nm->idcol);
		const cJSON *name =
		    cJSON_GetObjectItemCaseSensitive(it, "name");

		if (!cJSON_IsString(id))
			continue;
		nm->ids = xrealloc(nm->ids, (nm->n + 1) * sizeof(*nm->ids));
		nm->names =
		    xrealloc(nm->names, (nm->n + 1) * sizeof(*nm->names));
		nm->ids[nm->n] = xstrdup(id->valuestring);
		nm->names[nm->n] =
		    xstrdup(cJSON_IsString(name) ? name->valuestring : "");
		nm->n++;
	}
}

static void named_release(struct named *nm)
{
	for (size_t i = 0; i < nm->n; i++) {
		free(nm->ids[i]);
		free(nm->names[i]);
	}
	free(nm->ids);
	free(nm->names);
}

/* The id of the profile or business unit term 't' names. */
static char *resolve_name(struct engine *en, const struct select_term *t,
			  struct err *e)
{
	bool profile = t->key == SELECT_PROFILE;
	struct named nm = {profile ? "emailserverprofileid" : "businessunitid",
			   NULL, NULL, 0};
	const char *what = profile ? "email server profile" : "business unit";
	char *id = NULL;
	long i;

	if (each_page(en,
		      profile ? "emailserverprofiles?$select="
				"emailserverprofileid,name"
			      : "businessunits?$select=businessunitid,name",
		      profile ? "the email server profiles"
			      : "the business units",
		      collect_named, &nm, e) < 0)
		goto out;
	i = select_match_name(t->value, (const char *const *)nm.names, nm.n);
	if (i >= 0) {
		id = xstrdup(nm.ids[i]);
	} else if (i == -2) {
		err_set(e, ERR_CONFIG,
			"%s: %s=%s: more than one %s has that name; rename "
			"one of them",
			t->origin, select_keys[t->key], t->value, what);
	} else {
		struct buf sug = BUF_INIT(BUF_MAX_SMALL);

		preflight_suggest(&sug, t->value, (const char *const *)nm.names,
				  nm.n);
		err_set(e, ERR_CONFIG, "%s: %s=%s: no %s '%s'%s", t->origin,
			select_keys[t->key], t->value, what, t->value,
			sug.len ? sug.ptr : "");
		buf_release(&sug);
	}
out:
	named_release(&nm);
	return id;
}

/* A sorted set of lower-case strings. */
struct strset {
	char **v;
	size_t n, alloc;
	bool sorted;
};

static void set_add(struct strset *s, const char *str)
{
	char *c = xstrdup(str);

	for (char *p = c; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 64;
		s->v = xrealloc(s->v, s->alloc * sizeof(*s->v));
	}
	s->v[s->n++] = c;
	s->sorted = false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool set_has(struct strset *s, const char *str)
{
	char low[256];
	const char *k = low;
	size_t i;

	if (!s->n)
		return false;
	if (!s->sorted) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
		s->sorted = true;
	}
	for (i = 0; str[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)str[i]);
	low[i] = '\0';
	/* braces around a GUID do not make another mailbox */
	if (low[0] == '{' && i > 2 && low[i - 1] == '}') {
		low[i - 1] = '\0';
		k = low + 1;
	}
	return bsearch(&k, s->v, s->n, sizeof(*s->v), cmp_str) != NULL;
}

static void set_release(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static void collect_queues(void *ctx, const cJSON *value)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, value)
	{
		const cJSON *id =
		    cJSON_GetObjectItemCaseSensitive(it, "queueid");

		if (cJSON_IsString(id))
			set_add(ctx, id->valuestring);
	}
}

/* The saved and personal views of mailboxes, with their FetchXML. */
struct views {
	char **names, **fetch;
	size_t n;
};

static void collect_views(void *ctx, const cJSON *value)
{
	struct views *v = ctx;
	const cJSON *it;

	cJSON_ArrayForEach(it, value)
	{
		const cJSON *name =
		    cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *fx =
		    cJSON_GetObjectItemCaseSensitive(it, "fetchxml");

		if (!cJSON_IsString(name) || !cJSON_IsString(fx))
			continue;
		v->names = xrealloc(v->names, (v->n + 1) * sizeof(*v->names));
		v->fetch = xrealloc(v->fetch, (v->n + 1) * sizeof(*v->fetch));
		v->names[v->n] = xstrdup(name->valuestring);
		v->fetch[v->n] = xstrdup(fx->valuestring);
		v->n++;
	}
}

/* The FetchXML of the view term 't' names (system or personal). */
static char *resolve_view(struct engine *en, const struct select_term *t,
			  struct err *e)
{
	static const char *const sets[] = {"savedqueries", "userqueries"};
	struct views v = {0};
	char *fetch = NULL;
	long i;

	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		struct buf url = BUF_INIT(BUF_MAX_SMALL);
		static const char expr[] = "returnedtypecode eq 'mailbox'";
		int rc;

		buf_addf(&url, "%s?$select=name,fetchxml&$filter=", sets[s]);
		odata_url_encode(&url, expr, strlen(expr));
		rc = each_page(en, url.ptr, "the views of mailboxes",
			       collect_views, &v, e);
		buf_release(&url);
		if (rc < 0)
			goto out;
	}
	i = select_match_name(t->value, (const char *const *)v.names, v.n);
	if (i >= 0) {
		fetch = xstrdup(v.fetch[i]);
	} else if (i == -2) {
		err_set(e, ERR_CONFIG,
			"%s: view=%s: more than one view of mailboxes has "
			"that name (a system view and a personal one?); "
			"rename one of them",
			t->origin, t->value);
	} else {
		struct buf sug = BUF_INIT(BUF_MAX_SMALL);

		preflight_suggest(&sug, t->value, (const char *const *)v.names,
				  v.n);
		err_set(e, ERR_CONFIG,
			"%s: view=%s: no saved or personal view of mailboxes "
			"'%s'%s",
			t->origin, t->value, t->value, sug.len ? sug.ptr : "");
		buf_release(&sug);
	}
out:
	for (size_t k = 0; k < v.n; k++) {
		free(v.names[k]);
		free(v.fetch[k]);
	}
	free(v.names);
	free(v.fetch);
	return fetch;
}

#define SELECT_FETCH_COUNT 5000 /* rows per FetchXML page, the most */

/* Every mailbox id the view's FetchXML gives, page after page. */
static int run_view(struct engine *en, const struct select_term *t,
		    const char *fetch, struct strset *ids, struct err *e)
{
	long page = 1;
	char *cookie = NULL;
	int rc = -1;

	for (;;) {
		char *xml =
		    select_fetch_page(fetch, page, SELECT_FETCH_COUNT, cookie);
		struct buf url = BUF_INIT(BUF_MAX_BODY);
		const cJSON *j, *it, *ann;
		const char *why = NULL;

		if (!xml) {
			err_set(e, ERR_CONFIG,
				"%s: view=%s: its query is not FetchXML",
				t->origin, t->value);
			break;
		}
		buf_addstr(&url, "mailboxes?fetchXml=");
		odata_url_encode(&url, xml, strlen(xml));
		free(xml);
		if (engine_prefetch_paging(en, url.ptr, e) < 0) {
			buf_release(&url);
			break;
		}
		j = engine_cached(en, url.ptr, &why);
		buf_release(&url);
		if (!j) {
			err_set(e, ERR_CONFIG,
				"%s: view=%s: the service refused its query: "
				"%s",
				t->origin, t->value, why ? why : "no answer");
			break;
		}
		cJSON_ArrayForEach(it,
				   cJSON_GetObjectItemCaseSensitive(j, "value"))
		{
			const cJSON *id =
			    cJSON_GetObjectItemCaseSensitive(it, "mailboxid");

			if (cJSON_IsString(id))
				set_add(ids, id->valuestring);
		}
		ann = cJSON_GetObjectItemCaseSensitive(
		    j, "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie");
		free(cookie);
		cookie = NULL;
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			j, "@Microsoft.Dynamics.CRM.morerecords"))) {
			rc = 0;
			break;
		}
		if (!cJSON_IsString(ann) ||
		    select_fetch_next(ann->valuestring, &page, &cookie) < 0)
			page++; /* more records without a cookie */
	}
	free(cookie);
	return rc;
}

/* Writing the run's input. */
struct out {
	FILE *fp;
	const char *path;
	char delim;
	size_t ncols; /* of the header written */
	size_t mailbox_col;
	struct strset named; /* what the CSV names */
	struct strset queues;
	struct strset view; /* the view's mailboxes, when has_view */
	bool has_view;
	int type;	    /* SELECT_USER, SELECT_QUEUE or 0 */
	const char *source; /* "where ..." */
	size_t added;
	bool failed;
};

static void put_line(struct out *o, const char *const *cells, size_t n)
{
	struct buf line = BUF_INIT(BUF_MAX_BODY);

	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addch(&line, o->delim);
		results_csv_cell(&line, cells[i], strlen(cells[i]), o->delim,
				 true);
	}
	buf_addstr(&line, "\r\n");
	if (fwrite(line.ptr, 1, line.len, o->fp) != line.len)
		o->failed = true;
	buf_release(&line);
}

static void collect_mailboxes(void *ctx, const cJSON *value)
{
	struct out *o = ctx;
	const cJSON *it;
	const char **cells = xcalloc(o->ncols, sizeof(*cells));

	cJSON_ArrayForEach(it, value)
	{
		const cJSON *id =
		    cJSON_GetObjectItemCaseSensitive(it, "mailboxid");
		const cJSON *addr =
		    cJSON_GetObjectItemCaseSensitive(it, "emailaddress");
		const cJSON *name =
		    cJSON_GetObjectItemCaseSensitive(it, "name");
		const cJSON *reg = cJSON_GetObjectItemCaseSensitive(
		    it, "_regardingobjectid_value");

		if (!cJSON_IsString(id))
			continue;
		if (o->has_view && !set_has(&o->view, id->valuestring))
			continue;
		if (o->type) {
			bool queue = cJSON_IsString(reg) &&
				     set_has(&o->queues, reg->valuestring);

			if (queue != (o->type == SELECT_QUEUE))
				continue;
		}
		if (set_has(&o->named, id->valuestring) ||
		    (cJSON_IsString(addr) && *addr->valuestring &&
		     set_has(&o->named, addr->valuestring)))
			continue;
		for (size_t i = 0; i < o->ncols; i++)
			cells[i] = "";
		cells[o->mailbox_col] = id->valuestring;
		if (o->ncols == 4) { /* mailbox,email,name,source */
			cells[1] =
			    cJSON_IsString(addr) ? addr->valuestring : "";
			cells[2] =
			    cJSON_IsString(name) ? name->valuestring : "";
		}
		cells[o->ncols - 1] = o->source;
		put_line(o, cells, o->ncols);
		o->added++;
	}
	free(cells);
}

/* The job's CSV rows, each with its 'source'; its mailboxes noted. */
static int copy_input(struct out *o, const struct job *job, struct err *e)
{
	struct rows *r;
	struct row *row;
	const char *const *hdr;
	const char **cells;
	size_t n;
	char src[64];

	if (rows_open_encoding(&r, job->input, &job->defaults,
			       job->input_encoding, e) < 0)
		return -1;
	hdr = rows_header(r);
	n = rows_ncols(r);
	o->delim = rows_delim(r);
	cells = xcalloc(n + 1, sizeof(*cells));
	for (size_t i = 0; i < n; i++) {
		cells[i] = hdr[i];
		if (select_name_eq(hdr[i], "mailbox"))
			o->mailbox_col = i;
	}
	cells[n] = "source";
	o->ncols = n + 1;
	put_line(o, cells, n + 1);
	for (;;) {
		if (rows_next(r, &row, e) < 0) {
			free(cells);
			rows_free(r);
			return -1;
		}
		if (!row)
			break;
		for (size_t i = 0; i < n; i++)
			cells[i] = i < row->nfields ? row->fields[i] : "";
		snprintf(src, sizeof(src), "input row %zu", row->num);
		cells[n] = src;
		put_line(o, cells, n + 1);
		if (*row->mailbox)
			set_add(&o->named, row->mailbox);
		rows_row_free(row);
	}
	free(cells);
	rows_free(r);
	return 0;
}

int select_run(const struct select_set *s, struct engine *en,
	       const struct job *job, const char *out_csv, size_t *nsel,
	       struct err *e)
{
	struct out o = {0};
	char **ids = xcalloc(s->n + 1, sizeof(*ids));
	struct buf expr = BUF_INIT(BUF_MAX_BODY), url = BUF_INIT(BUF_MAX_BODY),
		   src = BUF_INIT(BUF_MAX_SMALL);
	int rc = -1;

	*nsel = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct select_term *t = &s->t[i];

		if (t->key == SELECT_PROFILE || t->key == SELECT_BU) {
			ids[i] = resolve_name(en, t, e);
			if (!ids[i])
				goto out;
		}
		if (t->key == SELECT_TYPE) {
			if (o.type && o.type != (int)t->v) {
				err_set(e, ERR_CONFIG,
					"%s: type=%s: the selection also asks "
					"for the other type: no mailbox is "
					"both",
					t->origin, t->value);
				goto out;
			}
			o.type = (int)t->v;
		}
		if (t->key == SELECT_VIEW) {
			char *fetch;
			int vrc;

			if (o.has_view) {
				err_set(e, ERR_CONFIG,
					"%s: view=%s: one view at a time",
					t->origin, t->value);
				goto out;
			}
			fetch = resolve_view(en, t, e);
			if (!fetch)
				goto out;
			vrc = run_view(en, t, fetch, &o.view, e);
			free(fetch);
			if (vrc < 0)
				goto out;
			o.has_view = true;
		}
	}
	if (o.type && each_page(en, "queues?$select=queueid", "the queues",
				collect_queues, &o.queues, e) < 0)
		goto out;

	o.path = out_csv;
	o.fp = fopen(out_csv, "wb");
	if (!o.fp) {
		err_set(e, ERR_IO, "%s: cannot write: %s", out_csv,
			strerror(errno));
		goto out;
	}
	o.delim = ',';
	if (job->input) {
		if (copy_input(&o, job, e) < 0)
			goto out;
	} else {
		static const char *const hdr[] = {"mailbox", "email", "name",
						  "source"};

		o.ncols = 4;
		o.mailbox_col = 0;
		put_line(&o, hdr, 4);
	}
	buf_addstr(&src, "where ");
	select_describe(s, &src);
	o.source = src.ptr;

	select_filter(s, (const char *const *)ids, &expr);
	buf_addstr(&url, "mailboxes?$select=mailboxid,emailaddress,name,"
			 "_regardingobjectid_value");
	if (expr.len) {
		buf_addstr(&url, "&$filter=");
		odata_url_encode(&url, expr.ptr, expr.len);
	}
	if (each_page(en, url.ptr, "the selected mailboxes", collect_mailboxes,
		      &o, e) < 0)
		goto out;
	if (o.failed || fflush(o.fp) != 0) {
		err_set(e, ERR_IO, "%s: cannot write", out_csv);
		goto out;
	}
	*nsel = o.added;
	rc = 0;
out:
	if (o.fp && fclose(o.fp) != 0 && !rc)
		rc = err_set(e, ERR_IO, "%s: cannot write", out_csv);
	for (size_t i = 0; i < s->n; i++)
		free(ids[i]);
	free(ids);
	set_release(&o.named);
	set_release(&o.queues);
	set_release(&o.view);
	buf_release(&expr);
	buf_release(&url);
	buf_release(&src);
	return rc;
}
