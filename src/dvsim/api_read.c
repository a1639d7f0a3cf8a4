/*
 * api_read.c: dvsim's reads: rows rendered with their annotations,
 * $select, $expand (single- and collection-valued), $orderby, candidates
 * by index or scan, paging with skip tokens, single rows and $count
 * (docs/fidelity.md).
 */
#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dvsim/api_int.h"
#include "dvsim/fetchxml.h"
#include "dvsim/filter.h"
#include "dvsim/org.h"
#include "dvsim/variant.h"

#include "banned.h"

const struct coll_nav api_coll_navs[] = {
    {DV_MAILBOXES, "tracelog_Mailbox", DV_TRACELOGS, COLL_ALERTS},
    {DV_USERS, "systemuserroles_association", DV_ROLES, COLL_USERROLES},
    {DV_ROLES, "roleprivileges_association", DV_PRIVILEGES, COLL_ROLEPRIVS},
};
const size_t api_ncoll_navs = ARRAY_SIZE(api_coll_navs);

/* ---- rendering -------------------------------------------------------- */

/* The row a lookup value points at, with its nav and entity. */
static struct dv_row *lookup_target(struct dv_org *org,
				    const struct dv_entity *ent,
				    const char *attr, const char *id,
				    const struct dv_nav **navp)
{
	for (size_t i = 0; i < ent->nnavs; i++) {
		const struct dv_nav *n = &ent->navs[i];
		struct dv_table *t;
		struct dv_row *r;

		if (strcmp(n->attr, attr))
			continue;
		t = dv_table_by_set(org, n->target);
		r = t ? dv_row_get(t, id) : NULL;
		if (r) {
			*navp = n;
			return r;
		}
	}
	return NULL;
}

static void rv_push(struct rowvec *rv, struct dv_row *r)
{
	if (rv->n == rv->alloc) {
		rv->alloc = rv->alloc ? rv->alloc * 2 : 64;
		rv->v = xrealloc(rv->v, rv->alloc * sizeof(*rv->v));
	}
	rv->v[rv->n++] = r;
}

static int cmp_pos(const void *x, const void *y)
{
	const struct dv_row *a = *(struct dv_row *const *)x;
	const struct dv_row *b = *(struct dv_row *const *)y;

	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The rows a collection-valued navigation property of 'row' leads to,
 * in table order. */
void api_coll_rows(struct dv_org *org, enum coll k, struct dv_row *row,
		   struct rowvec *out)
{
	struct dv_table *t;
	struct hent *e;

	switch (k) {
	case COLL_ALERTS:
		t = dv_table(org, DV_TRACELOGS);
		for (e = dv_index_find(
			 dv_table_index(t, "_regardingobjectid_value"),
			 row->id);
		     e; e = hmap_next(e->next, row->id))
			rv_push(out, e->row);
		break;
	case COLL_USERROLES: {
		struct dv_table *roles = dv_table(org, DV_ROLES);

		t = dv_table(org, DV_USERROLES);
		for (e = dv_index_find(dv_table_index(t, "systemuserid"),
				       row->id);
		     e; e = hmap_next(e->next, row->id)) {
			const char *rid = dv_str(e->row->obj, "roleid");
			struct dv_row *r = rid ? dv_row_get(roles, rid) : NULL;

			if (r)
				rv_push(out, r);
		}
		break;
	}
	case COLL_ROLEPRIVS: {
		struct dv_table *pt = dv_table(org, DV_PRIVILEGES);
		struct dv_row *root = dv_role_root(org, row);

		t = dv_table(org, DV_ROLEPRIVS);
		for (e = dv_index_find(dv_table_index(t, "roleid"), root->id);
		     e; e = hmap_next(e->next, root->id)) {
			const char *pid = dv_str(e->row->obj, "privilegeid");
			struct dv_row *p = pid ? dv_row_get(pt, pid) : NULL;

			if (p)
				rv_push(out, p);
		}
		break;
	}
	case COLL_NONE:
		break;
	}
	if (out->n > 1) /* qsort() takes no NULL array */
		qsort(out->v, out->n, sizeof(*out->v), cmp_pos);
}

static void expand_release(struct expand *ex, size_t nex)
{
	for (size_t i = 0; i < nex; i++) {
		dv_filter_free(ex[i].filter);
		ex[i].filter = NULL;
	}
}

static void annotate(struct ctx *c, const struct dv_entity *ent,
		     const struct dv_attr *a, const cJSON *v, cJSON *out)
{
	char key[160];

	if (!c->annotations[0] || !v || cJSON_IsNull(v))
		return;
	if (a->type == DV_LOOKUP && cJSON_IsString(v)) {
		const struct dv_nav *nav = NULL;
		struct dv_row *r =
		    lookup_target(c->org, ent, a->name, v->valuestring, &nav);
		const struct dv_entity *te;
		const char *pn;

		if (!r)
			return;
		te = dv_entity_by_set(nav->target);
		pn = te->primary ? dv_str(r->obj, te->primary) : NULL;
		snprintf(key, sizeof(key),
			 "%s@OData.Community.Display.V1.FormattedValue",
			 a->name);
		if (pn && api_want_annotation(c, key + strlen(a->name) + 1))
			cJSON_AddStringToObject(out, key, pn);
		snprintf(
		    key, sizeof(key),
		    "%s@Microsoft.Dynamics.CRM.associatednavigationproperty",
		    a->name);
		if (api_want_annotation(c, key + strlen(a->name) + 1))
			cJSON_AddStringToObject(out, key, nav->nav);
		snprintf(key, sizeof(key),
			 "%s@Microsoft.Dynamics.CRM.lookuplogicalname",
			 a->name);
		if (api_want_annotation(c, key + strlen(a->name) + 1))
			cJSON_AddStringToObject(out, key, te->logical);
		return;
	}
	snprintf(key, sizeof(key),
		 "%s@OData.Community.Display.V1.FormattedValue", a->name);
	if (!api_want_annotation(c,
				 "OData.Community.Display.V1.FormattedValue"))
		return;
	if (a->type == DV_CHOICE && cJSON_IsNumber(v)) {
		const char *l = dv_option_label(a, v->valueint);

		if (l)
			cJSON_AddStringToObject(out, key, l);
	} else if (a->type == DV_BOOL) {
		cJSON_AddStringToObject(out, key,
					cJSON_IsTrue(v) ? "Yes" : "No");
	}
}

static void add_etag(cJSON *out, const cJSON *row)
{
	char etag[48];

	snprintf(etag, sizeof(etag), "W/\"%.0f\"",
		 cJSON_GetNumberValue(
		     cJSON_GetObjectItemCaseSensitive(row, "versionnumber")));
	cJSON_AddStringToObject(out, "@odata.etag", etag);
}

static cJSON *render(struct ctx *c, const struct dv_entity *ent,
		     const struct dv_row *row, const struct dv_attr *const *sel,
		     size_t nsel, const struct expand *ex, size_t nex,
		     cJSON *out)
{
	bool key_done = false;

	if (!out)
		out = cJSON_CreateObject();
	add_etag(out, row->obj);
	if (nsel) {
		for (size_t i = 0; i < nsel; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(
			    row->obj, sel[i]->name);

			if (cJSON_HasObjectItem(out, sel[i]->name))
				continue;
			if (!strcmp(sel[i]->name, ent->key))
				key_done = true;
			cJSON_AddItemToObject(out, sel[i]->name,
					      v ? cJSON_Duplicate(v, 1)
						: cJSON_CreateNull());
			annotate(c, ent, sel[i], v, out);
		}
	} else {
		for (size_t i = 0; i < ent->nattrs; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(
			    row->obj, ent->attrs[i].name);

			cJSON_AddItemToObject(out, ent->attrs[i].name,
					      v ? cJSON_Duplicate(v, 1)
						: cJSON_CreateNull());
			annotate(c, ent, &ent->attrs[i], v, out);
		}
		key_done = true;
	}
	if (!key_done)
		cJSON_AddStringToObject(out, ent->key, row->id);
	for (size_t i = 0; i < nex; i++) {
		const char *id;
		struct dv_table *t;
		struct dv_row *r;

		if (ex[i].coll != COLL_NONE) {
			struct rowvec rv = {0};
			cJSON *arr = cJSON_AddArrayToObject(out, ex[i].name);
			long n = 0;

			api_coll_rows(c->org, ex[i].coll, (struct dv_row *)row,
				      &rv);
			for (size_t j = 0; j < rv.n; j++) {
				if (rv.v[j]->dead ||
				    (ex[i].filter &&
				     !dv_filter_match(ex[i].filter, c->org,
						      rv.v[j]->obj)))
					continue;
				if (ex[i].top >= 0 && n >= ex[i].top)
					break;
				cJSON_AddItemToArray(
				    arr,
				    render(c, ex[i].target, rv.v[j], ex[i].sel,
					   ex[i].nsel, NULL, 0, NULL));
				n++;
			}
			free(rv.v);
			continue;
		}
		id = dv_str(row->obj, ex[i].nav->attr);
		t = dv_table_by_set(c->org, ex[i].nav->target);
		r = id && t ? dv_row_get(t, id) : NULL;
		if (r)
			cJSON_AddItemToObject(out, ex[i].name,
					      render(c, ex[i].target, r,
						     ex[i].sel, ex[i].nsel,
						     NULL, 0, NULL));
		else
			cJSON_AddNullToObject(out, ex[i].name);
	}
	return out;
}

static int bad_property(struct ctx *c, const struct dv_entity *ent,
			const char *name)
{
	return api_error(c, 400, "0x80060888",
			 "Could not find a property named '%s' on type "
			 "'Microsoft.Dynamics.CRM.%s'.",
			 name, ent->logical);
}

/* Parse a comma list of columns of 'ent' into 'sel'. */
static int parse_select(struct ctx *c, const struct dv_entity *ent,
			const char *text, const struct dv_attr **sel,
			size_t *nsel)
{
	const char *p = text;

	*nsel = 0;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char name[128];
		const struct dv_attr *a;

		while (len && *p == ' ') {
			p++;
			len--;
		}
		while (len && p[len - 1] == ' ')
			len--;
		if (!len || len >= sizeof(name))
			return api_error(
			    c, 400, "0x80060888",
			    "Syntax error at position %zu in '%s'.",
			    (size_t)(p - text) + 1, text);
		memcpy(name, p, len);
		name[len] = '\0';
		a = dv_entity_attr(ent, name);
		if (!a)
			return bad_property(c, ent, name);
		if (*nsel < MAX_SELECT)
			sel[(*nsel)++] = a;
		p += len;
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int parse_expand(struct ctx *c, const struct dv_entity *ent,
			const char *text, struct expand *ex, size_t *nex)
{
	const char *p = text;

	*nex = 0;
	while (*p) {
		const char *start, *lp = NULL;
		int depth = 0;
		char name[128];
		size_t len;
		struct expand *x;

		while (*p == ' ')
			p++;
		start = p;
		for (; *p && (depth || *p != ','); p++) {
			if (*p == '(') {
				if (!depth && !lp)
					lp = p;
				depth++;
			} else if (*p == ')') {
				depth--;
			}
		}
		len = (size_t)((lp ? lp : p) - start);
		while (len && start[len - 1] == ' ')
			len--;
		if (!len || len >= sizeof(name) || depth)
			return api_error(c, 400, "0x80060888",
					 "Syntax error in the $expand query "
					 "option '%s'.",
					 text);
		memcpy(name, start, len);
		name[len] = '\0';
		if (*nex == MAX_EXPAND)
			return api_error(
			    c, 400, "0x80060888",
			    "The limit of '%d' for the number of "
			    "expands in a query has been exceeded.",
			    MAX_EXPAND);
		x = &ex[(*nex)++];
		memset(x, 0, sizeof(*x));
		x->top = -1;
		x->nav = dv_entity_nav(ent, name);
		if (x->nav) {
			x->name = x->nav->nav;
			x->target = dv_entity_by_set(x->nav->target);
		} else {
			for (size_t k = 0; k < api_ncoll_navs; k++)
				if (&dv_entities[api_coll_navs[k].from] ==
					ent &&
				    !strcmp(api_coll_navs[k].nav, name)) {
					x->coll = api_coll_navs[k].kind;
					x->name = api_coll_navs[k].nav;
					x->target =
					    &dv_entities[api_coll_navs[k].to];
				}
			if (x->coll == COLL_NONE)
				return bad_property(c, ent, name);
		}
		if (lp) {
			const char *rp = p - 1;
			char *opts, *o;
			int rc = 0;

			while (rp > lp && *rp == ' ')
				rp--;
			if (*rp != ')')
				return api_error(c, 400, "0x80060888",
						 "Syntax error in the $expand "
						 "query option '%s'.",
						 text);
			opts = xstrndup(lp + 1, (size_t)(rp - lp - 1));
			/* options are separated by ';' */
			for (o = opts; !rc && o && *o;) {
				char *semi = strchr(o, ';');

				if (semi)
					*semi = '\0';
				if (!strncmp(o, "$select=", 8)) {
					rc = parse_select(c, x->target, o + 8,
							  x->sel, &x->nsel);
				} else if (x->coll &&
					   !strncmp(o, "$filter=", 8) &&
					   !x->filter) {
					char msg[512];

					x->filter = dv_filter_parse(
					    x->target, o + 8, api_alias_lookup,
					    c, msg, sizeof(msg));
					if (!x->filter)
						rc = api_error(c, 400,
							       "0x80060888",
							       "%s", msg);
				} else if (x->coll && !strncmp(o, "$top=", 5)) {
					char *end;

					x->top = strtol(o + 5, &end, 10);
					if (*end || !o[5] || x->top < 0)
						rc = api_error(
						    c, 400, "0x80060888",
						    "Invalid value '%s' "
						    "for $top query "
						    "option found.",
						    o + 5);
				} else if (*o) {
					rc = api_error(
					    c, 400, "0x80060888",
					    "The query option '%s' is "
					    "not supported in $expand "
					    "of '%s'.",
					    o, name);
				}
				o = semi ? semi + 1 : NULL;
			}
			free(opts);
			if (rc)
				return rc;
		}
		if (*p == ',')
			p++;
	}
	return 0;
}

static int parse_orderby(struct ctx *c, const struct dv_entity *ent,
			 const char *text, struct order *o, size_t *no)
{
	const char *p = text;

	*no = 0;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[160], *sp;
		const struct dv_attr *a;

		while (len && *p == ' ') {
			p++;
			len--;
		}
		if (!len || len >= sizeof(item) || *no == MAX_ORDER)
			return api_error(c, 400, "0x80060888",
					 "Syntax error in the $orderby query "
					 "option '%s'.",
					 text);
		memcpy(item, p, len);
		item[len] = '\0';
		while (len && item[len - 1] == ' ')
			item[--len] = '\0';
		sp = strchr(item, ' ');
		o[*no].desc = false;
		if (sp) {
			*sp++ = '\0';
			while (*sp == ' ')
				sp++;
			if (!strcmp(sp, "desc"))
				o[*no].desc = true;
			else if (strcmp(sp, "asc"))
				return api_error(c, 400, "0x80060888",
						 "Syntax error in the $orderby "
						 "query option '%s'.",
						 text);
		}
		a = dv_entity_attr(ent, item);
		if (!a)
			return bad_property(c, ent, item);
		o[*no].attr = a;
		(*no)++;
		p += end ? (size_t)(end - p) + 1 : strlen(p);
	}
	return 0;
}

/* ---- collections ----------------------------------------------------- */

static const struct order *sort_keys;
static size_t sort_nkeys;

static int cmp_json(const cJSON *a, const cJSON *b)
{
	bool an = !a || cJSON_IsNull(a), bn = !b || cJSON_IsNull(b);

	if (an || bn)
		return an == bn ? 0 : an ? -1 : 1; /* nulls first */
	if (cJSON_IsString(a) && cJSON_IsString(b))
		return strcasecmp(a->valuestring, b->valuestring);
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
		return a->valuedouble < b->valuedouble	 ? -1
		       : a->valuedouble > b->valuedouble ? 1
							 : 0;
	if (cJSON_IsBool(a) && cJSON_IsBool(b))
		return (int)cJSON_IsTrue(a) - (int)cJSON_IsTrue(b);
	return 0;
}

static int cmp_rows(const void *x, const void *y)
{
	const struct dv_row *a = *(struct dv_row *const *)x;
	const struct dv_row *b = *(struct dv_row *const *)y;

	for (size_t i = 0; i < sort_nkeys; i++) {
		const char *n = sort_keys[i].attr->name;
		int r = cmp_json(cJSON_GetObjectItemCaseSensitive(a->obj, n),
				 cJSON_GetObjectItemCaseSensitive(b->obj, n));

		if (r)
			return sort_keys[i].desc ? -r : r;
	}
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* Candidates from an index when the filter allows it, else every row. */
static void candidates(struct ctx *c, struct dv_table *t,
		       const struct dv_filter *f, struct rowvec *out, bool *all)
{
	const char *col;
	const char *const *vals;
	size_t nvals;
	struct dv_index *ix;

	*all = true;
	if (!f || !dv_filter_index_hint(f, &col, &vals, &nvals))
		return;
	if (!strcmp(col, t->ent->key)) {
		for (size_t i = 0; i < nvals; i++) {
			struct dv_row *r = dv_row_get(t, vals[i]);
			bool dup = false;

			for (size_t j = 0; r && j < out->n; j++)
				dup |= out->v[j] == r;
			if (r && !dup)
				rv_push(out, r);
		}
	} else if ((ix = dv_table_index(t, col)) != NULL) {
		for (size_t i = 0; i < nvals; i++) {
			size_t before = out->n;

			for (struct hent *e = dv_index_find(ix, vals[i]); e;
			     e = hmap_next(e->next, vals[i])) {
				bool dup = false;

				/* the same value twice in In() */
				for (size_t j = 0; j < before && nvals > 1; j++)
					dup |= out->v[j] == e->row;
				if (!dup)
					rv_push(out, e->row);
			}
		}
	} else {
		return;
	}
	(void)c;
	*all = false;
	if (out->n > 1) /* qsort() takes no NULL array */
		qsort(out->v, out->n, sizeof(*out->v), cmp_pos);
}

static long skiptoken_offset(const char *tok)
{
	const char *p = tok ? strstr(tok, "dvsimoffset=\"") : NULL;
	char *end;
	long v;

	if (!p)
		return -1;
	v = strtol(p + 13, &end, 10);
	return *end == '"' && v >= 0 ? v : -1;
}

/* Whether the Prefer header asks for annotation 'name' ("a.b.c"). */
static bool wants_annotation(const struct ctx *c, const char *name)
{
	return c->annotations[0] &&
	       (strstr(c->annotations, "*") || strstr(c->annotations, name));
}

/*
 * GET <set>?fetchXml=...: the rows the FetchXML (fetchxml.h) selects, a
 * page of 'count' at a time. With the annotations asked, the answer says
 * whether more records follow and gives the paging cookie of the next
 * page, double-encoded as the Web API does; the page number in the fetch
 * says which page is served (docs/fidelity.md).
 */
static int serve_fetch(struct ctx *c, struct dv_table *t, const char *xml)
{
	const struct dv_entity *ent = t->ent;
	const struct dv_attr *sel[MAX_SELECT];
	size_t nsel = 0, ncols, nmatch = 0;
	const char *const *cols;
	char msg[512];
	struct dv_fetch *f = dv_fetch_parse(ent, xml, msg, sizeof(msg));
	long count, first;
	const struct dv_row *last = NULL, *firstrow = NULL;
	cJSON *root, *arr;
	struct buf ctxurl = BUF_INIT(BUF_MAX_SMALL);

	if (!f)
		return api_error(c, 400, "0x80041103", "%s", msg);
	cols = dv_fetch_columns(f, &ncols);
	for (size_t i = 0; i < ncols && nsel < MAX_SELECT; i++)
		sel[nsel++] = dv_entity_attr(ent, cols[i]);
	count = dv_fetch_count(f);
	first = (dv_fetch_page(f) - 1) * count;
	root = cJSON_CreateObject();
	buf_addf(&ctxurl, "%s$metadata#%s",
		 c->req->base_url ? c->req->base_url : "", c->segs[0].name);
	cJSON_AddStringToObject(root, "@odata.context", ctxurl.ptr);
	buf_release(&ctxurl);
	arr = cJSON_AddArrayToObject(root, "value");
	for (size_t i = 0; i < t->n; i++) {
		const struct dv_row *row = t->rows[i];

		if (row->dead || !dv_fetch_match(f, row->obj))
			continue;
		if ((long)nmatch >= first && (long)nmatch < first + count) {
			cJSON_AddItemToArray(
			    arr, render(c, ent, row, sel, nsel, NULL, 0, NULL));
			if (!firstrow)
				firstrow = row;
			last = row;
		}
		nmatch++;
	}
	if (wants_annotation(c, "morerecords"))
		cJSON_AddBoolToObject(root,
				      "@Microsoft.Dynamics.CRM.morerecords",
				      (long)nmatch > first + count);
	if ((long)nmatch > first + count &&
	    wants_annotation(c, "fetchxmlpagingcookie")) {
		struct buf in = BUF_INIT(BUF_MAX_SMALL),
			   once = BUF_INIT(BUF_MAX_SMALL),
			   twice = BUF_INIT(BUF_MAX_SMALL),
			   cookie = BUF_INIT(BUF_MAX_SMALL);

		buf_addf(&in,
			 "<cookie page=\"%ld\"><%s last=\"{%s}\" "
			 "first=\"{%s}\" /></cookie>",
			 dv_fetch_page(f), ent->key, last ? last->id : "",
			 firstrow ? firstrow->id : "");
		api_pct_encode(&once, in.ptr);
		api_pct_encode(&twice, once.ptr);
		buf_addf(&cookie,
			 "<cookie pagenumber=\"%ld\" pagingcookie=\"%s\" "
			 "istracking=\"False\" />",
			 dv_fetch_page(f) + 1, twice.ptr);
		cJSON_AddStringToObject(
		    root, "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie",
		    cookie.ptr);
		buf_release(&in);
		buf_release(&once);
		buf_release(&twice);
		buf_release(&cookie);
	}
	dv_fetch_free(f);
	api_json_reply(c, 200, root);
	if (c->annotations[0])
		buf_addf(
		    &c->resp->headers,
		    "Preference-Applied: odata.include-annotations=\"%s\"\r\n",
		    c->annotations);
	return 200;
}

/*
 * Serve a collection of 't'. 'subset' (may be NULL) restricts it to
 * those rows, e.g. a user's roles; 'ctxname' is the context's set name.
 */
int api_serve_collection(struct ctx *c, struct dv_table *t,
			 struct rowvec *subset)
{
	const struct dv_entity *ent = t->ent;
	const struct dv_attr *sel[MAX_SELECT];
	struct expand ex[MAX_EXPAND];
	struct order ord[MAX_ORDER];
	size_t nsel = 0, nex = 0, nord = 0;
	struct dv_filter *f = NULL;
	struct rowvec cand = {0}, match = {0};
	const char *v;
	long top = -1, offset = 0, pagesize;
	bool all, count = false;
	cJSON *root, *arr;
	struct buf ctxurl = BUF_INIT(BUF_MAX_SMALL);
	int rc;

	if (!subset && (v = api_qget(c, "fetchXml")))
		return serve_fetch(c, t, v);
	for (size_t i = 0; i < c->nq; i++) {
		const char *k = c->q[i].key;

		if (k[0] == '$' && strcmp(k, "$select") &&
		    strcmp(k, "$filter") && strcmp(k, "$expand") &&
		    strcmp(k, "$top") && strcmp(k, "$orderby") &&
		    strcmp(k, "$skiptoken") && strcmp(k, "$count"))
			return api_error(c, 400, "0x80060888",
					 "The query parameter '%s' is not "
					 "supported.",
					 k);
	}
	if ((v = api_qget(c, "$select")) &&
	    (rc = parse_select(c, ent, v, sel, &nsel)))
		return rc;
	if ((v = api_qget(c, "$orderby")) &&
	    (rc = parse_orderby(c, ent, v, ord, &nord)))
		return rc;
	if ((v = api_qget(c, "$top"))) {
		char *end;

		top = strtol(v, &end, 10);
		if (*end || !*v || top < 0)
			return api_error(
			    c, 400, "0x80060888",
			    "Invalid value '%s' for $top query "
			    "option found. The $top query option "
			    "requires a non-negative integer value.",
			    v);
	}
	if ((v = api_qget(c, "$count")))
		count = !strcmp(v, "true");
	if ((v = api_qget(c, "$skiptoken"))) {
		offset = skiptoken_offset(v);
		if (offset < 0)
			return api_error(
			    c, 400, "0x80060888",
			    "The $skiptoken value '%s' is not valid.", v);
	}
	if ((v = api_qget(c, "$filter"))) {
		char msg[512];

		f = dv_filter_parse(ent, v, api_alias_lookup, c, msg,
				    sizeof(msg));
		if (!f)
			return api_error(c, 400, "0x80060888", "%s", msg);
	}
	if ((v = api_qget(c, "$expand")) &&
	    (rc = parse_expand(c, ent, v, ex, &nex))) {
		expand_release(ex, nex);
		dv_filter_free(f);
		return rc;
	}

	if (subset) {
		all = false;
		cand = *subset;
		subset->v = NULL;
		subset->n = subset->alloc = 0;
	} else {
		candidates(c, t, f, &cand, &all);
	}
	if (all) {
		for (size_t i = 0; i < t->n; i++)
			if (!t->rows[i]->dead &&
			    (!f || dv_filter_match(f, c->org, t->rows[i]->obj)))
				rv_push(&match, t->rows[i]);
	} else {
		for (size_t i = 0; i < cand.n; i++)
			if (!cand.v[i]->dead &&
			    (!f || dv_filter_match(f, c->org, cand.v[i]->obj)))
				rv_push(&match, cand.v[i]);
	}
	free(cand.v);
	dv_filter_free(f);
	if (nord) {
		sort_keys = ord;
		sort_nkeys = nord;
		if (match.n > 1) /* qsort() takes no NULL array */
			qsort(match.v, match.n, sizeof(*match.v), cmp_rows);
	}

	/* paging: $top applies only without odata.maxpagesize */
	pagesize = c->maxpagesize ? c->maxpagesize : MAX_PAGE;
	if (!c->maxpagesize && top >= 0 && (size_t)top < match.n)
		match.n = (size_t)top;

	root = cJSON_CreateObject();
	buf_addf(&ctxurl, "%s$metadata#%s",
		 c->req->base_url ? c->req->base_url : "", c->segs[0].name);
	if (nsel || nex) {
		buf_addch(&ctxurl, '(');
		for (size_t i = 0; i < nsel; i++)
			buf_addf(&ctxurl, "%s%s", i ? "," : "", sel[i]->name);
		for (size_t i = 0; i < nex; i++) {
			buf_addf(&ctxurl, "%s%s(", (nsel || i) ? "," : "",
				 ex[i].name);
			for (size_t j = 0; j < ex[i].nsel; j++)
				buf_addf(&ctxurl, "%s%s", j ? "," : "",
					 ex[i].sel[j]->name);
			buf_addch(&ctxurl, ')');
		}
		buf_addch(&ctxurl, ')');
	}
	cJSON_AddStringToObject(root, "@odata.context", ctxurl.ptr);
	buf_release(&ctxurl);
	if (count)
		cJSON_AddNumberToObject(root, "@odata.count",
					match.n > 5000 ? 5000
						       : (double)match.n);
	arr = cJSON_AddArrayToObject(root, "value");
	for (size_t i = (size_t)offset;
	     i < match.n && i < (size_t)offset + (size_t)pagesize; i++)
		cJSON_AddItemToArray(
		    arr, render(c, ent, match.v[i], sel, nsel, ex, nex, NULL));
	if ((size_t)offset + (size_t)pagesize < match.n) {
		struct buf next = BUF_INIT(BUF_MAX_SMALL);
		char cookie[96];
		const char *q = c->rawquery;
		const char *path = c->req->url;
		size_t plen = strcspn(path, "?");

		buf_addf(&next, "%s%.*s?",
			 c->req->base_url ? c->req->base_url : "", (int)plen,
			 path);
		while (q && *q) {
			size_t len = strcspn(q, "&");

			if (strncmp(q, "$skiptoken=", 11) &&
			    strncmp(q, "%24skiptoken=", 13)) {
				buf_add(&next, q, len);
				buf_addch(&next, '&');
			}
			q += len;
			if (*q == '&')
				q++;
		}
		snprintf(cookie, sizeof(cookie),
			 "<cookie pagenumber=\"%ld\" dvsimoffset=\"%ld\" />",
			 ((long)offset + pagesize) / pagesize + 1,
			 (long)offset + pagesize);
		buf_addstr(&next, "$skiptoken=");
		api_pct_encode(&next, cookie);
		cJSON_AddStringToObject(root, "@odata.nextLink", next.ptr);
		buf_release(&next);
	}
	free(match.v);
	expand_release(ex, nex);
	api_json_reply(c, 200, root);
	if (c->maxpagesize || c->annotations[0]) {
		if (c->maxpagesize)
			buf_addf(
			    &c->resp->headers,
			    "Preference-Applied: odata.maxpagesize=%ld\r\n",
			    c->maxpagesize);
		if (c->annotations[0])
			buf_addf(&c->resp->headers,
				 "Preference-Applied: "
				 "odata.include-annotations=\"%s\"\r\n",
				 c->annotations);
	}
	return 200;
}

int api_serve_row(struct ctx *c, struct dv_table *t, struct dv_row *row)
{
	const struct dv_attr *sel[MAX_SELECT];
	struct expand ex[MAX_EXPAND];
	size_t nsel = 0, nex = 0;
	const char *v;
	struct buf ctxurl = BUF_INIT(BUF_MAX_SMALL);
	cJSON *out;
	int rc;

	for (size_t i = 0; i < c->nq; i++) {
		const char *k = c->q[i].key;

		if (k[0] == '$' && strcmp(k, "$select") && strcmp(k, "$expand"))
			return api_error(c, 400, "0x80060888",
					 "The query parameter '%s' is not "
					 "supported for a single record.",
					 k);
	}
	if ((v = api_qget(c, "$select")) &&
	    (rc = parse_select(c, t->ent, v, sel, &nsel)))
		return rc;
	if ((v = api_qget(c, "$expand")) &&
	    (rc = parse_expand(c, t->ent, v, ex, &nex))) {
		expand_release(ex, nex);
		return rc;
	}
	buf_addf(&ctxurl, "%s$metadata#%s",
		 c->req->base_url ? c->req->base_url : "", t->ent->set);
	if (nsel) {
		buf_addch(&ctxurl, '(');
		for (size_t i = 0; i < nsel; i++)
			buf_addf(&ctxurl, "%s%s", i ? "," : "", sel[i]->name);
		buf_addch(&ctxurl, ')');
	}
	buf_addstr(&ctxurl, "/$entity");
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "@odata.context", ctxurl.ptr);
	render(c, t->ent, row, sel, nsel, ex, nex, out);
	expand_release(ex, nex);
	buf_release(&ctxurl);
	api_json_reply(c, 200, out);
	if (c->annotations[0])
		buf_addf(
		    &c->resp->headers,
		    "Preference-Applied: odata.include-annotations=\"%s\"\r\n",
		    c->annotations);
	return 200;
}

/*
 * GET <set>/$count: the number of rows (those $filter keeps), as a plain
 * text number, at most 5000 like @odata.count (docs/fidelity.md).
 */
int api_serve_count(struct ctx *c, struct dv_table *t)
{
	struct dv_filter *f = NULL;
	struct rowvec cand = {0};
	const char *v;
	size_t n = 0;
	bool all;

	if ((v = api_qget(c, "$filter"))) {
		char msg[512];

		f = dv_filter_parse(t->ent, v, api_alias_lookup, c, msg,
				    sizeof(msg));
		if (!f)
			return api_error(c, 400, "0x80060888", "%s", msg);
	}
	candidates(c, t, f, &cand, &all);
	if (all) {
		for (size_t i = 0; i < t->n; i++)
			n +=
			    !t->rows[i]->dead &&
			    (!f || dv_filter_match(f, c->org, t->rows[i]->obj));
	} else {
		for (size_t i = 0; i < cand.n; i++)
			n += !cand.v[i]->dead &&
			     (!f || dv_filter_match(f, c->org, cand.v[i]->obj));
	}
	free(cand.v);
	dv_filter_free(f);
	dv_response_reset(c->resp);
	c->resp->status = 200;
	buf_addstr(&c->resp->headers,
		   "Content-Type: text/plain; charset=utf-8\r\n" ODATA_V);
	buf_addf(&c->resp->body, "%zu", n > 5000 ? (size_t)5000 : n);
	return 200;
}
