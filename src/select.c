/*
 * select.c: mailboxes chosen by query (select.h).
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

const char *const select_keys[] = {
    "profile", "status", "approval", "business_unit", "type", "view", NULL};

/* Copy of 's' without surrounding blanks. */
static char *trimmed(const char *s, size_t len)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return xstrndup(s, len);
}

static int parse_status(const char *v, unsigned *bits, char *why, size_t whylen)
{
	static const struct {
		const char *name;
		unsigned bits;
	} names[] = {
	    {"failure", SELECT_ST_FAILURE},
	    {"never-tested", SELECT_ST_NEVER},
	    {"not-enabled", SELECT_ST_NOT_ENABLED},
	    {"unhealthy",
	     SELECT_ST_FAILURE | SELECT_ST_NEVER | SELECT_ST_NOT_ENABLED},
	};

	*bits = 0;
	while (*v) {
		size_t len = strcspn(v, ",");
		char *one = trimmed(v, len);
		bool ok = false;

		ok = !*one; /* an empty item, as in "failure," */
		for (size_t i = 0; i < ARRAY_SIZE(names) && !ok; i++)
			if (!strcasecmp(one, names[i].name)) {
				*bits |= names[i].bits;
				ok = true;
			}
		if (!ok) {
			snprintf(why, whylen,
				 "unknown status '%s' (expected failure, "
				 "never-tested, not-enabled or unhealthy)",
				 one);
			free(one);
			return -1;
		}
		free(one);
		v += len + (v[len] == ',');
	}
	if (!*bits) {
		snprintf(why, whylen, "status: no value");
		return -1;
	}
	return 0;
}

int select_add(struct select_set *s, const char *text, const char *origin,
	       char *why, size_t whylen)
{
	const char *eq = strchr(text, '=');
	char *key, *value;
	struct select_term t = {0};
	long k = -1;

	if (!eq) {
		snprintf(why, whylen,
			 "'%s' is not key=value (e.g. status=failure)", text);
		return -1;
	}
	key = trimmed(text, (size_t)(eq - text));
	value = trimmed(eq + 1, strlen(eq + 1));
	if (!strcasecmp(key, "bu"))
		k = SELECT_BU;
	for (size_t i = 0; k < 0 && select_keys[i]; i++)
		if (!strcasecmp(key, select_keys[i]))
			k = (long)i;
	if (k < 0) {
		snprintf(why, whylen,
			 "unknown key '%s' (expected profile, status, "
			 "approval, business_unit, type or view)",
			 key);
		goto bad;
	}
	t.key = (enum select_key)k;
	if (!*value) {
		snprintf(why, whylen, "%s: empty value", select_keys[k]);
		goto bad;
	}
	switch (t.key) {
	case SELECT_STATUS:
		if (parse_status(value, &t.v, why, whylen) < 0)
			goto bad;
		break;
	case SELECT_APPROVAL:
		if (!strcasecmp(value, "not-approved"))
			t.v = SELECT_NOT_APPROVED;
		else if (!strcasecmp(value, "approved"))
			t.v = SELECT_APPROVED;
		else {
			snprintf(why, whylen,
				 "unknown approval '%s' (expected "
				 "not-approved or approved)",
				 value);
			goto bad;
		}
		break;
	case SELECT_TYPE:
		if (!strcasecmp(value, "user"))
			t.v = SELECT_USER;
		else if (!strcasecmp(value, "queue"))
			t.v = SELECT_QUEUE;
		else {
			snprintf(why, whylen,
				 "unknown type '%s' (expected user or queue)",
				 value);
			goto bad;
		}
		break;
	case SELECT_PROFILE:
	case SELECT_BU:
	case SELECT_VIEW:
	case SELECT_NKEYS:
		break;
	}
	free(key);
	t.value = value;
	t.origin = xstrdup(origin ? origin : "--where");
	s->t = xrealloc(s->t, (s->n + 1) * sizeof(*s->t));
	s->t[s->n++] = t;
	return 0;
bad:
	free(key);
	free(value);
	return -1;
}

void select_release(struct select_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->t[i].value);
		free(s->t[i].origin);
	}
	free(s->t);
	s->t = NULL;
	s->n = 0;
}

void select_describe(const struct select_set *s, struct buf *out)
{
	for (size_t i = 0; i < s->n; i++)
		buf_addf(out, "%s%s=%s", i ? ", " : "",
			 select_keys[s->t[i].key], s->t[i].value);
}

static void and (struct buf * out)
{
	if (out->len)
		buf_addstr(out, " and ");
}

void select_filter(const struct select_set *s, const char *const *ids,
		   struct buf *out)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct select_term *t = &s->t[i];
		bool first = true;

		switch (t->key) {
		case SELECT_PROFILE:
			and(out);
			buf_addf(out, "_emailserverprofile_value eq %s",
				 ids[i]);
			break;
		case SELECT_BU:
			and(out);
			buf_addf(out, "_owningbusinessunit_value eq %s",
				 ids[i]);
			break;
		case SELECT_APPROVAL:
			and(out);
			buf_addf(out, "emailrouteraccessapproval %s 1",
				 t->v == SELECT_APPROVED ? "eq" : "ne");
			break;
		case SELECT_STATUS:
			and(out);
			buf_addch(out, '(');
			if (t->v & SELECT_ST_FAILURE) {
				buf_addstr(out, "incomingemailstatus eq 2 or "
						"outgoingemailstatus eq 2 or "
						"actstatus eq 2");
				first = false;
			}
			if (t->v & SELECT_ST_NEVER) {
				buf_addf(out,
					 "%stestmailboxaccesscompletedon eq "
					 "null",
					 first ? "" : " or ");
				first = false;
			}
			if (t->v & SELECT_ST_NOT_ENABLED)
				buf_addf(out,
					 "%sincomingemailstatus ne 1 or "
					 "outgoingemailstatus ne 1",
					 first ? "" : " or ");
			buf_addch(out, ')');
			break;
		case SELECT_TYPE: /* by the queues' ids, after the query */
		case SELECT_VIEW: /* by the view's mailbox ids, likewise */
		case SELECT_NKEYS:
			break;
		}
	}
}

static bool name_eq(const char *a, const char *b)
{
	size_t la, lb;

	while (isspace((unsigned char)*a))
		a++;
	while (isspace((unsigned char)*b))
		b++;
	la = strlen(a);
	lb = strlen(b);
	while (la && isspace((unsigned char)a[la - 1]))
		la--;
	while (lb && isspace((unsigned char)b[lb - 1]))
		lb--;
	return la == lb && !strncasecmp(a, b, la);
}

long select_match_name(const char *want, const char *const *names, size_t n)
{
	long found = -1;

	for (size_t i = 0; i < n; i++) {
		if (!names[i] || !name_eq(want, names[i]))
			continue;
		if (found >= 0)
			return -2;
		found = (long)i;
	}
	return found;
}

/*
 * FetchXML paging (pure).
 */
static void xml_escape(struct buf *out, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '<':
			buf_addstr(out, "&lt;");
			break;
		case '>':
			buf_addstr(out, "&gt;");
			break;
		case '&':
			buf_addstr(out, "&amp;");
			break;
		case '"':
			buf_addstr(out, "&quot;");
			break;
		default:
			buf_addch(out, *s);
		}
}

/* The name=value attributes of a tag from 'p' to its '>'; the end. */
struct xattr {
	const char *name, *val;
	size_t nlen, vlen;
};

static const char *tag_attrs(const char *p, struct xattr *a, size_t max,
			     size_t *n)
{
	*n = 0;
	for (;;) {
		const char *name, *q;
		char quote;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '>' || *p == '/')
			return *p ? p : NULL;
		name = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p) &&
		       *p != '>')
			p++;
		if (*p != '=')
			return NULL;
		q = p + 1;
		quote = *q;
		if (quote != '"' && quote != '\'')
			return NULL;
		if (*n == max)
			return NULL;
		a[*n].name = name;
		a[*n].nlen = (size_t)(p - name);
		a[*n].val = q + 1;
		p = strchr(q + 1, quote);
		if (!p)
			return NULL;
		a[*n].vlen = (size_t)(p - a[*n].val);
		(*n)++;
		p++;
	}
}

static bool attr_is(const struct xattr *a, const char *name)
{
	return a->nlen == strlen(name) && !strncmp(a->name, name, a->nlen);
}

char *select_fetch_page(const char *xml, long page, long count,
			const char *cookie)
{
	const char *start = strstr(xml, "<fetch"), *end;
	struct xattr a[32];
	size_t n;
	struct buf out = BUF_INIT(BUF_MAX_BODY);

	if (!start || (start[6] != '>' && !isspace((unsigned char)start[6])))
		return NULL;
	end = tag_attrs(start + 6, a, ARRAY_SIZE(a), &n);
	if (!end || *end != '>')
		return NULL;
	buf_add(&out, xml, (size_t)(start - xml));
	buf_addstr(&out, "<fetch");
	for (size_t i = 0; i < n; i++) {
		if (attr_is(&a[i], "count")) {
			char num[24];

			snprintf(num, sizeof(num), "%.*s", (int)a[i].vlen,
				 a[i].val);
			count = strtol(num, NULL, 10) > 0
				    ? strtol(num, NULL, 10)
				    : count;
			continue;
		}
		if (attr_is(&a[i], "page") || attr_is(&a[i], "paging-cookie"))
			continue;
		buf_addf(&out, " %.*s=\"%.*s\"", (int)a[i].nlen, a[i].name,
			 (int)a[i].vlen, a[i].val);
	}
	buf_addf(&out, " count=\"%ld\" page=\"%ld\"", count, page);
	if (cookie) {
		buf_addstr(&out, " paging-cookie=\"");
		xml_escape(&out, cookie);
		buf_addch(&out, '"');
	}
	buf_addstr(&out, end);
	return buf_detach(&out, NULL);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *pct_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

int select_fetch_next(const char *annotation, long *page, char **cookie)
{
	const char *p = strstr(annotation, "<cookie"), *end;
	struct xattr a[8];
	size_t n;
	char *once;

	*cookie = NULL;
	*page = 0;
	if (!p)
		return -1;
	end = tag_attrs(p + 7, a, ARRAY_SIZE(a), &n);
	if (!end)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (attr_is(&a[i], "pagenumber")) {
			char num[24];

			snprintf(num, sizeof(num), "%.*s", (int)a[i].vlen,
				 a[i].val);
			*page = strtol(num, NULL, 10);
		} else if (attr_is(&a[i], "pagingcookie") && !*cookie) {
			once = pct_decode(a[i].val, a[i].vlen);
			*cookie = pct_decode(once, strlen(once));
			free(once);
		}
	}
	if (*page < 2 || !*cookie) {
		free(*cookie);
		*cookie = NULL;
		return -1;
	}
	return 0;
}

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
		if (name_eq(hdr[i], "mailbox"))
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
