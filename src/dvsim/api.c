/*
 * api.c: the Dataverse Web API over the organisation (docs/fidelity.md).
 * One file of about 2,500 lines: every entity set shares the same request
 * parsing, column validation and error answers, and each handler is
 * short; filter.c ($filter), meta.c (metadata) and testenable.c (Test &
 * Enable) are apart because they stand alone. Handled here:
 * reads with $select/$filter/$expand/
 * $orderby/$top and paging, PATCH/POST with If-Match, @odata.bind and
 * validation, user roles ($ref), AddPrivilegesRole,
 * RetrieveRolePrivilegesRole, WhoAmI, and the caller's own privileges.
 *
 * Error codes chosen where the reference leaves them open:
 * - option-set value out of range: 0x80044331 "A validation error
 *   occurred." (the documented validation code) with Dataverse's
 *   "outside the valid range. Accepted Values:" wording, 400;
 * - wrong JSON type, malformed body, read-only column (regardingobjectid
 *   of a mailbox included), unknown property ("The property 'x' does not
 *   exist on type ..."): 0x80048d19, the code Dataverse uses for "Error
 *   identified in Payload provided by the user", 400 (docs/fidelity.md);
 * - O365RoleUnsupportedForEmailApproval 0x8009000B: 403, like the other
 *   authorisation failures (Microsoft leaves 400/403 open);
 * - editing a child business unit's copy of a role (open question 10):
 *   403 AccessDenied 0x80048405 naming the root role to edit instead;
 * - a role of another business unit given to a user: 400 0x80040203
 *   (invalid argument);
 * - If-None-Match: * on an existing row: 412 0x80040237 (duplicate).
 * Query strings are decoded as ASP.NET does: %XX escapes and '+' as a
 * space.
 */
#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dvsim/fetchxml.h"
#include "dvsim/filter.h"
#include "dvsim/org.h"
#include "dvsim/variant.h"

#include "banned.h"

#define MAX_PAGE 5000
#define MAX_QPARAMS 32
#define MAX_SEGS 4
#define MAX_SELECT 256
#define MAX_EXPAND 15
#define MAX_ORDER 8

#define CT_JSON "Content-Type: application/json; odata.metadata=minimal\r\n"
#define ODATA_V "OData-Version: 4.0\r\n"

struct seg {
	char *name;
	char *args; /* inside the parentheses, or NULL */
};

struct qparam {
	char *key;
	char *val;
};

/* Collection-valued navigation properties dvsim can follow. */
enum coll { COLL_NONE, COLL_ALERTS, COLL_USERROLES, COLL_ROLEPRIVS };

static const struct {
	enum dv_set from;
	const char *nav;
	enum dv_set to;
	enum coll kind;
} coll_navs[] = {
    {DV_MAILBOXES, "tracelog_Mailbox", DV_TRACELOGS, COLL_ALERTS},
    {DV_USERS, "systemuserroles_association", DV_ROLES, COLL_USERROLES},
    {DV_ROLES, "roleprivileges_association", DV_PRIVILEGES, COLL_ROLEPRIVS},
};

struct expand {
	const char *name;
	const struct dv_nav *nav; /* single-valued, or NULL */
	enum coll coll;		  /* collection-valued */
	const struct dv_entity *target;
	const struct dv_attr *sel[MAX_SELECT];
	size_t nsel;
	struct dv_filter *filter; /* collection-valued only */
	long top;		  /* -1: all */
};

struct order {
	const struct dv_attr *attr;
	bool desc;
};

struct ctx {
	struct dv_org *org;
	const struct dv_request *req;
	struct dv_response *resp;
	char *path; /* decoded path */
	const char *rawquery;
	struct seg segs[MAX_SEGS];
	size_t nsegs;
	struct qparam q[MAX_QPARAMS];
	size_t nq;
	/* Prefer */
	long maxpagesize; /* 0: not asked */
	bool return_repr;
	char annotations[256]; /* include-annotations value, "" = none */
};

/* ---- small helpers -------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *pct_decode(const char *s, size_t len, bool plus_space)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (s[i] == '+' && plus_space) {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void pct_encode(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			buf_addch(b, (char)c);
		else
			buf_addf(b, "%%%02X", c);
	}
}

static const char *qget(const struct ctx *c, const char *key)
{
	for (size_t i = 0; i < c->nq; i++)
		if (!strcmp(c->q[i].key, key))
			return c->q[i].val;
	return NULL;
}

static const char *alias_lookup(void *ctx, const char *name)
{
	return qget(ctx, name);
}

static void ctx_release(struct ctx *c)
{
	free(c->path);
	for (size_t i = 0; i < c->nsegs; i++) {
		free(c->segs[i].name);
		free(c->segs[i].args);
	}
	for (size_t i = 0; i < c->nq; i++) {
		free(c->q[i].key);
		free(c->q[i].val);
	}
}

static int error(struct ctx *c, int status, const char *code, const char *fmt,
		 ...) ATTR_PRINTF(4, 5);
static int error(struct ctx *c, int status, const char *code, const char *fmt,
		 ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dv_response_error(c->resp, status, code, "%s", msg);
	return status;
}

static int not_found(struct ctx *c, const struct dv_entity *ent, const char *id)
{
	return error(c, 404, "0x80040217", "%s With Id = %s Does Not Exist",
		     ent->logical, id);
}

static int payload_error(struct ctx *c, const struct dv_entity *ent,
			 const char *detail)
{
	return error(c, 400, "0x80048d19",
		     "Error identified in Payload provided by the user for "
		     "Entity :'%s', For more information on this error please "
		     "follow this help link "
		     "https://go.microsoft.com/fwlink/?linkid=2195293  ----> "
		     "InnerException : Microsoft.OData.ODataException: %s",
		     ent ? ent->logical : "", detail);
}

/*
 * A property the entity type does not have: 0x80048d19 wrapping the
 * OData reader's message (docs/fidelity.md).
 */
static int unknown_property(struct ctx *c, const struct dv_entity *ent,
			    const char *name)
{
	char detail[400];

	snprintf(detail, sizeof(detail),
		 "The property '%.100s' does not exist on type "
		 "'Microsoft.Dynamics.CRM.%s'. Make sure to only use property "
		 "names that are defined by the type or mark the type as open "
		 "type.",
		 name, ent->logical);
	return payload_error(c, ent, detail);
}

static int read_only(struct ctx *c, const struct dv_entity *ent,
		     const char *name)
{
	char detail[200];

	snprintf(detail, sizeof(detail),
		 "The property '%.100s' is read-only and cannot be set.", name);
	return payload_error(c, ent, detail);
}

static void json_reply(struct ctx *c, int status, cJSON *root)
{
	char *text = cJSON_PrintUnformatted(root);

	dv_response_reset(c->resp);
	c->resp->status = status;
	buf_addstr(&c->resp->headers, CT_JSON ODATA_V);
	if (text)
		buf_addstr(&c->resp->body, text);
	cJSON_free(text);
	cJSON_Delete(root);
}

static void no_content(struct ctx *c, const char *entity_id_url)
{
	dv_response_reset(c->resp);
	c->resp->status = 204;
	buf_addstr(&c->resp->headers, ODATA_V);
	if (entity_id_url)
		buf_addf(&c->resp->headers, "OData-EntityId: %s\r\n",
			 entity_id_url);
}

/* ---- request parsing --------------------------------------------------- */

static void parse_prefer(struct ctx *c)
{
	for (size_t i = 0; i < c->req->nheaders; i++) {
		const char *v = c->req->headers[i].value, *p;

		if (strcasecmp(c->req->headers[i].name, "Prefer"))
			continue;
		for (p = v; *p;) {
			const char *start, *end;
			bool q = false;
			size_t len;

			while (*p == ' ' || *p == ',')
				p++;
			start = p;
			for (end = p; *end && (q || *end != ','); end++)
				if (*end == '"')
					q = !q;
			len = (size_t)(end - start);
			while (len && start[len - 1] == ' ')
				len--;
			if (len > 18 &&
			    !strncasecmp(start, "odata.maxpagesize=", 18)) {
				char tmp[32], *ep;
				size_t n = len - 18 < 31 ? len - 18 : 31;
				long m;

				memcpy(tmp, start + 18, n);
				tmp[n] = '\0';
				m = strtol(tmp, &ep, 10);
				if (!*ep && m > 0)
					c->maxpagesize =
					    m > MAX_PAGE ? MAX_PAGE : m;
			} else if (len > 26 &&
				   !strncasecmp(
				       start,
				       "odata.include-annotations=", 26)) {
				const char *a = start + 26;
				size_t n = len - 26;

				if (n >= 2 && a[0] == '"' && a[n - 1] == '"') {
					a++;
					n -= 2;
				}
				if (n >= sizeof(c->annotations))
					n = sizeof(c->annotations) - 1;
				memcpy(c->annotations, a, n);
				c->annotations[n] = '\0';
			} else if (len == 21 &&
				   !strncasecmp(start, "return=representation",
						21)) {
				c->return_repr = true;
			}
			p = end;
		}
	}
}

static bool want_annotation(const struct ctx *c, const char *name)
{
	const char *p = c->annotations;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		while (len && *p == ' ') {
			p++;
			len--;
		}
		if (len == 1 && *p == '*')
			return true;
		if (len >= 2 && p[len - 1] == '*' && !strncmp(p, name, len - 1))
			return true;
		if (strlen(name) == len && !strncmp(p, name, len))
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

/* Split the decoded path into segments "name(args)" at top-level '/'. */
static int parse_path(struct ctx *c)
{
	const char *p = c->path;

	while (*p == '/')
		p++;
	while (*p) {
		const char *start = p, *lp = NULL;
		int depth = 0;
		bool q = false;
		struct seg *s;

		for (; *p && (depth || q || *p != '/'); p++) {
			if (*p == '\'')
				q = !q;
			else if (!q && *p == '(') {
				if (!depth && !lp)
					lp = p;
				depth++;
			} else if (!q && *p == ')')
				depth--;
		}
		if (c->nsegs == MAX_SEGS)
			return -1;
		s = &c->segs[c->nsegs++];
		if (lp) {
			const char *rp = p - 1;

			if (*rp != ')')
				return -1;
			s->name = xstrndup(start, (size_t)(lp - start));
			s->args = xstrndup(lp + 1, (size_t)(rp - lp - 1));
		} else {
			s->name = xstrndup(start, (size_t)(p - start));
		}
		if (*p == '/')
			p++;
	}
	return c->nsegs ? 0 : -1;
}

static int parse_query(struct ctx *c)
{
	const char *p = c->rawquery;

	while (p && *p) {
		const char *end = strchr(p, '&'), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len) {
			if (c->nq == MAX_QPARAMS)
				return -1;
			eq = memchr(p, '=', len);
			c->q[c->nq].key =
			    pct_decode(p, eq ? (size_t)(eq - p) : len, true);
			c->q[c->nq].val =
			    eq ? pct_decode(eq + 1, len - (size_t)(eq - p) - 1,
					    true)
			       : xstrdup("");
			c->nq++;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* ---- caller privileges ------------------------------------------------ */

static struct dv_row *user_row(struct dv_org *org, const char *id)
{
	return id ? dv_row_get(dv_table(org, DV_USERS), id) : NULL;
}

static const char *user_bu(struct dv_org *org, const char *id)
{
	struct dv_row *u = user_row(org, id);

	return u ? dv_str(u->obj, "_businessunitid_value") : NULL;
}

static bool bu_within(struct dv_org *org, const char *bu, const char *top)
{
	struct dv_table *t = dv_table(org, DV_BUS);

	for (int hops = 0; bu && hops < 64; hops++) {
		struct dv_row *r;

		if (!strcmp(bu, top))
			return true;
		r = dv_row_get(t, bu);
		bu = r ? dv_str(r->obj, "_parentbusinessunitid_value") : NULL;
	}
	return false;
}

/*
 * Does the caller hold 'prv' deep enough for 'row' (NULL: any depth will
 * do)? Basic covers rows the caller owns, Local rows owned in the
 * caller's business unit, Deep that unit and its children, Global all.
 */
static bool allowed(struct ctx *c, const char *prv, const struct dv_entity *ent,
		    const struct dv_row *row)
{
	const char *caller = c->req->caller;
	enum dv_depth d;
	const char *owner, *obu, *cbu;

	if (!caller)
		return true; /* the simulator itself */
	d = dv_user_depth(c->org, caller, prv);
	if (d == DV_DEPTH_NONE)
		return false;
	if (d == DV_GLOBAL || !row || !ent->user_owned)
		return true;
	owner = dv_str(row->obj, "_ownerid_value");
	if (owner && !strcmp(owner, caller))
		return true;
	if (d == DV_BASIC)
		return false;
	obu = dv_str(row->obj, "_owningbusinessunit_value");
	if (!obu)
		obu = user_bu(c->org, owner);
	cbu = user_bu(c->org, caller);
	if (!obu || !cbu)
		return false;
	return d == DV_LOCAL ? !strcmp(obu, cbu) : bu_within(c->org, obu, cbu);
}

static int deny(struct ctx *c, const char *prv, const struct dv_entity *ent)
{
	/* the documented PrivilegeDenied template, docs/fidelity.md */
	return error(c, 403, "0x80040220",
		     "Principal user(Id = %s) is missing %s privilege on %s "
		     "entity(OTC=%d). Consider adding missing privilege to one "
		     "of the principal (user/team) roles for the request to "
		     "succeed.",
		     c->req->caller, prv, ent->logical, ent->otc);
}

/* 0 when allowed, else the 403 already filled. */
static int need(struct ctx *c, const char *verb, const struct dv_entity *ent,
		const struct dv_row *row)
{
	char prv[96];

	if (!ent->prv)
		return 0;
	snprintf(prv, sizeof(prv), "prv%s%s", verb, ent->prv);
	return allowed(c, prv, ent, row) ? 0 : deny(c, prv, ent);
}

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

struct rowvec {
	struct dv_row **v;
	size_t n, alloc;
};

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
static void coll_rows(struct dv_org *org, enum coll k, struct dv_row *row,
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
		if (pn && want_annotation(c, key + strlen(a->name) + 1))
			cJSON_AddStringToObject(out, key, pn);
		snprintf(
		    key, sizeof(key),
		    "%s@Microsoft.Dynamics.CRM.associatednavigationproperty",
		    a->name);
		if (want_annotation(c, key + strlen(a->name) + 1))
			cJSON_AddStringToObject(out, key, nav->nav);
		snprintf(key, sizeof(key),
			 "%s@Microsoft.Dynamics.CRM.lookuplogicalname",
			 a->name);
		if (want_annotation(c, key + strlen(a->name) + 1))
			cJSON_AddStringToObject(out, key, te->logical);
		return;
	}
	snprintf(key, sizeof(key),
		 "%s@OData.Community.Display.V1.FormattedValue", a->name);
	if (!want_annotation(c, "OData.Community.Display.V1.FormattedValue"))
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

			coll_rows(c->org, ex[i].coll, (struct dv_row *)row,
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
	return error(c, 400, "0x80060888",
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
			return error(c, 400, "0x80060888",
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
			return error(c, 400, "0x80060888",
				     "Syntax error in the $expand query "
				     "option '%s'.",
				     text);
		memcpy(name, start, len);
		name[len] = '\0';
		if (*nex == MAX_EXPAND)
			return error(c, 400, "0x80060888",
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
			for (size_t k = 0; k < ARRAY_SIZE(coll_navs); k++)
				if (&dv_entities[coll_navs[k].from] == ent &&
				    !strcmp(coll_navs[k].nav, name)) {
					x->coll = coll_navs[k].kind;
					x->name = coll_navs[k].nav;
					x->target =
					    &dv_entities[coll_navs[k].to];
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
				return error(c, 400, "0x80060888",
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
					    x->target, o + 8, alias_lookup, c,
					    msg, sizeof(msg));
					if (!x->filter)
						rc = error(c, 400, "0x80060888",
							   "%s", msg);
				} else if (x->coll && !strncmp(o, "$top=", 5)) {
					char *end;

					x->top = strtol(o + 5, &end, 10);
					if (*end || !o[5] || x->top < 0)
						rc = error(c, 400, "0x80060888",
							   "Invalid value '%s' "
							   "for $top query "
							   "option found.",
							   o + 5);
				} else if (*o) {
					rc = error(c, 400, "0x80060888",
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
			return error(c, 400, "0x80060888",
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
				return error(c, 400, "0x80060888",
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
		return error(c, 400, "0x80041103", "%s", msg);
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
		pct_encode(&once, in.ptr);
		pct_encode(&twice, once.ptr);
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
	json_reply(c, 200, root);
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
static int serve_collection(struct ctx *c, struct dv_table *t,
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

	if (!subset && (v = qget(c, "fetchXml")))
		return serve_fetch(c, t, v);
	for (size_t i = 0; i < c->nq; i++) {
		const char *k = c->q[i].key;

		if (k[0] == '$' && strcmp(k, "$select") &&
		    strcmp(k, "$filter") && strcmp(k, "$expand") &&
		    strcmp(k, "$top") && strcmp(k, "$orderby") &&
		    strcmp(k, "$skiptoken") && strcmp(k, "$count"))
			return error(c, 400, "0x80060888",
				     "The query parameter '%s' is not "
				     "supported.",
				     k);
	}
	if ((v = qget(c, "$select")) &&
	    (rc = parse_select(c, ent, v, sel, &nsel)))
		return rc;
	if ((v = qget(c, "$orderby")) &&
	    (rc = parse_orderby(c, ent, v, ord, &nord)))
		return rc;
	if ((v = qget(c, "$top"))) {
		char *end;

		top = strtol(v, &end, 10);
		if (*end || !*v || top < 0)
			return error(c, 400, "0x80060888",
				     "Invalid value '%s' for $top query "
				     "option found. The $top query option "
				     "requires a non-negative integer value.",
				     v);
	}
	if ((v = qget(c, "$count")))
		count = !strcmp(v, "true");
	if ((v = qget(c, "$skiptoken"))) {
		offset = skiptoken_offset(v);
		if (offset < 0)
			return error(c, 400, "0x80060888",
				     "The $skiptoken value '%s' is not valid.",
				     v);
	}
	if ((v = qget(c, "$filter"))) {
		char msg[512];

		f = dv_filter_parse(ent, v, alias_lookup, c, msg, sizeof(msg));
		if (!f)
			return error(c, 400, "0x80060888", "%s", msg);
	}
	if ((v = qget(c, "$expand")) &&
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
		pct_encode(&next, cookie);
		cJSON_AddStringToObject(root, "@odata.nextLink", next.ptr);
		buf_release(&next);
	}
	free(match.v);
	expand_release(ex, nex);
	json_reply(c, 200, root);
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

static int serve_row(struct ctx *c, struct dv_table *t, struct dv_row *row)
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
			return error(c, 400, "0x80060888",
				     "The query parameter '%s' is not "
				     "supported for a single record.",
				     k);
	}
	if ((v = qget(c, "$select")) &&
	    (rc = parse_select(c, t->ent, v, sel, &nsel)))
		return rc;
	if ((v = qget(c, "$expand")) &&
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
	json_reply(c, 200, out);
	if (c->annotations[0])
		buf_addf(
		    &c->resp->headers,
		    "Preference-Applied: odata.include-annotations=\"%s\"\r\n",
		    c->annotations);
	return 200;
}

/* ---- writes ------------------------------------------------------------ */

struct change {
	const struct dv_attr *attr;
	cJSON *val; /* owned */
};

struct changes {
	struct change v[96];
	size_t n;
	bool approval; /* emailrouteraccessapproval present */
	int approval_value;
	size_t nprops; /* attributes and binds in the body */
};

static void changes_release(struct changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		cJSON_Delete(ch->v[i].val);
	ch->n = 0;
}

static bool iso_date(const char *s)
{
	/* yyyy-mm-ddThh:mm:ss(.fff)?(Z|+hh:mm) or a bare date */
	size_t n = strlen(s);

	if (n < 10)
		return false;
	for (int i = 0; i < 10; i++)
		if ((i == 4 || i == 7) ? s[i] != '-'
				       : !isdigit((unsigned char)s[i]))
			return false;
	return n == 10 || s[10] == 'T';
}

static int check_value(struct ctx *c, const struct dv_entity *ent,
		       const struct dv_attr *a, const cJSON *v)
{
	char detail[256];
	char g[37];

	if (cJSON_IsNull(v))
		return 0;
	switch (a->type) {
	case DV_STR:
		if (!cJSON_IsString(v))
			break;
		if (a->maxlen && (int)strlen(v->valuestring) > a->maxlen)
			return error(c, 400, "0x80044331",
				     "A validation error occurred.  The length "
				     "of the '%s' attribute of the '%s' entity "
				     "exceeded the maximum allowed length of "
				     "'%d'.",
				     a->name, ent->logical, a->maxlen);
		return 0;
	case DV_INT:
	case DV_BIGINT:
		if (cJSON_IsNumber(v) && v->valuedouble == (double)v->valueint)
			return 0;
		break;
	case DV_CHOICE:
		if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint)
			break;
		if (!dv_option_label(a, v->valueint)) {
			struct buf acc = BUF_INIT(1024);
			int st;

			for (size_t i = 0; i < a->noptions; i++)
				buf_addf(&acc, "%s%d", i ? "," : "",
					 a->options[i].value);
			st = error(c, 400, "0x80044331",
				   "A validation error occurred.  The value %d "
				   "of '%s' on record of type '%s' is outside "
				   "the valid range. Accepted Values: %s",
				   v->valueint, a->name, ent->logical, acc.ptr);
			buf_release(&acc);
			return st;
		}
		return 0;
	case DV_BOOL:
		if (cJSON_IsBool(v))
			return 0;
		break;
	case DV_GUID:
	case DV_LOOKUP:
		if (cJSON_IsString(v) &&
		    dv_parse_guid(v->valuestring, strlen(v->valuestring), g))
			return 0;
		break;
	case DV_DATE:
		if (cJSON_IsString(v) && iso_date(v->valuestring))
			return 0;
		break;
	}
	snprintf(detail, sizeof(detail),
		 "Cannot convert the literal '%s' to the expected type '%s'.",
		 cJSON_IsString(v)   ? v->valuestring
		 : cJSON_IsBool(v)   ? (cJSON_IsTrue(v) ? "True" : "False")
		 : cJSON_IsNumber(v) ? "number"
				     : "value",
		 dv_type_edm_name(a->type));
	return payload_error(c, ent, detail);
}

/*
 * Parse an @odata.bind URL: absolute ("https://host/api/data/v9.2/x(id)"),
 * service-relative ("/api/data/v9.2/x(id)") or set-relative ("/x(id)",
 * "x(id)"). Fills the set name and the lower-case id.
 */
static bool parse_bind_url(const char *url, char *set, size_t setlen,
			   char id[37])
{
	const char *p = url, *lp, *api = strstr(url, "/api/data/v");
	size_t n;

	if (api) {
		p = strchr(api + 11, '/');
		if (!p)
			return false;
		p++;
	} else if (strstr(url, "://")) {
		return false;
	}
	while (*p == '/')
		p++;
	lp = strchr(p, '(');
	if (!lp || lp == p)
		return false;
	n = (size_t)(lp - p);
	if (n >= setlen)
		return false;
	memcpy(set, p, n);
	set[n] = '\0';
	if (strlen(lp + 1) != 37 || lp[37] != ')')
		return false;
	return dv_parse_guid(lp + 1, 36, id);
}

static int add_change(struct ctx *c, struct changes *ch,
		      const struct dv_attr *a, cJSON *val)
{
	if (ch->n == ARRAY_SIZE(ch->v)) {
		cJSON_Delete(val);
		return error(c, 400, "0x80048d19", "Too many attributes.");
	}
	ch->v[ch->n].attr = a;
	ch->v[ch->n].val = val;
	ch->n++;
	return 0;
}

/* Validate a PATCH/POST body into 'ch'; 0 or the error status. */
static int collect(struct ctx *c, const struct dv_entity *ent,
		   const char *rowid, const cJSON *body, struct changes *ch)
{
	const cJSON *it;
	int rc;

	cJSON_ArrayForEach(it, body)
	{
		const char *k = it->string;
		const char *at = strchr(k, '@');
		const struct dv_attr *a;

		if (k[0] == '@')
			continue; /* @odata.type, @odata.etag ... */
		if (at && !strcmp(at, "@odata.bind")) {
			char navname[128], set[128], id[37];
			const struct dv_nav *nav;
			struct dv_table *tt;

			snprintf(navname, sizeof(navname), "%.*s",
				 (int)(at - k), k);
			nav = dv_entity_nav(ent, navname);
			ch->nprops++;
			if (!nav)
				return unknown_property(c, ent, navname);
			if (!nav->writable)
				return read_only(c, ent, navname);
			a = dv_entity_attr(ent, nav->attr);
			if (cJSON_IsNull(it)) {
				if (!strcmp(nav->nav, "ownerid"))
					return error(c, 400, "0x80040229",
						     "Invalid owner id: the "
						     "owner of a record cannot "
						     "be empty.");
				if ((rc = add_change(c, ch, a,
						     cJSON_CreateNull())))
					return rc;
				continue;
			}
			if (!cJSON_IsString(it) ||
			    !parse_bind_url(it->valuestring, set, sizeof(set),
					    id) ||
			    strcmp(set, nav->target))
				return error(
				    c, 400, "0x80090800",
				    "The URL '%s' in the "
				    "'%s@odata.bind' annotation is "
				    "not valid: expected "
				    "/%s(<guid>).",
				    cJSON_IsString(it) ? it->valuestring : "",
				    navname, nav->target);
			tt = dv_table_by_set(c->org, set);
			if (!dv_row_get(tt, id))
				return not_found(c, tt->ent, id);
			if ((rc = add_change(c, ch, a, cJSON_CreateString(id))))
				return rc;
			continue;
		}
		if (at)
			continue; /* an annotation of a property */
		ch->nprops++;
		a = dv_entity_attr(ent, k);
		if (!a)
			return unknown_property(c, ent, k);
		if (a->type == DV_LOOKUP)
			return payload_error(
			    c, ent,
			    "CRM do not support direct update of Entity "
			    "Reference properties, Use Navigation properties "
			    "instead.");
		if (!strcmp(k, ent->key)) {
			char g[37];

			if (!cJSON_IsString(it) ||
			    !dv_parse_guid(it->valuestring,
					   strlen(it->valuestring), g) ||
			    (rowid && strcmp(g, rowid)))
				return payload_error(
				    c, ent,
				    "The key in the request body does not "
				    "match the key in the URL.");
			continue;
		}
		if (a->flags & DV_RO)
			return read_only(c, ent, k);
		if ((rc = check_value(c, ent, a, it)))
			return rc;
		if (!strcmp(k, "emailrouteraccessapproval")) {
			ch->approval = true;
			ch->approval_value = it->valueint;
			continue; /* applied apart, see write_row() */
		}
		if ((rc = add_change(c, ch, a, cJSON_Duplicate(it, 1))))
			return rc;
	}
	return 0;
}

static const struct change *find_change(const struct changes *ch,
					const char *name)
{
	for (size_t i = 0; i < ch->n; i++)
		if (!strcmp(ch->v[i].attr->name, name))
			return &ch->v[i];
	return NULL;
}

/* docs/fidelity.md: who may approve. */
static int approval_auth(struct ctx *c, const struct dv_entity *ent)
{
	const char *caller = c->req->caller;

	if (!caller)
		return 0;
	if (dv_user_depth(c->org, caller, "prvApproveRejectEmailAddress") ==
	    DV_DEPTH_NONE)
		return deny(c, "prvApproveRejectEmailAddress", ent);
	if (!dv_user_has_role(c->org, caller, DV_ROLE_SYSADMIN) ||
	    !dv_user_has_role(c->org, caller, DV_ROLE_APPROVER))
		return error(c, 403, "0x8009000B",
			     "The email address can only be approved by an "
			     "Office 365 Global Administrator or Exchange "
			     "Administrator, or by a System Administrator "
			     "with the Delegated Mailbox Approver role.");
	return 0;
}

/* The caller is an application user (its systemuser has an applicationid). */
static bool caller_is_application(struct ctx *c)
{
	const char *caller = c->req->caller;
	struct dv_row *u =
	    caller ? dv_row_get(dv_table(c->org, DV_USERS), caller) : NULL;

	return u && dv_str(u->obj, "applicationid");
}

static void set_approval(struct dv_org *org, enum dv_set s, const char *id,
			 int value)
{
	struct dv_table *t = dv_table(org, s);
	struct dv_row *r = id ? dv_row_get(t, id) : NULL;

	if (!r || dv_int(r->obj, "emailrouteraccessapproval", -1) == value)
		return;
	dv_row_begin_update(org, t, r);
	dv_set_int(r->obj, "emailrouteraccessapproval", value);
	dv_row_end_update(org, t, r);
}

/* The mailbox's user or queue: which set, which id. */
static enum dv_set mailbox_owner_set(struct dv_org *org, const cJSON *mbx,
				     const char **id)
{
	*id = dv_str(mbx, "_regardingobjectid_value");
	if (*id && dv_row_get(dv_table(org, DV_QUEUES), *id))
		return DV_QUEUES;
	return DV_USERS;
}

static void mailbox_approval(struct ctx *c, struct dv_row *mbx, int value,
			     bool by_caller)
{
	struct dv_table *mt = dv_table(c->org, DV_MAILBOXES);
	const char *who;
	enum dv_set s = mailbox_owner_set(c->org, mbx->obj, &who);
	char now[32];

	dv_row_begin_update(c->org, mt, mbx);
	dv_set_int(mbx->obj, "emailrouteraccessapproval", value);
	/* the caller met the admin conditions: the Office 365 side too */
	dv_set_bool(mbx->obj, "isemailaddressapprovedbyo365admin",
		    value == 1 && by_caller);
	if (value == 1 && by_caller) {
		dv_now_iso(now);
		dv_set_str(mbx->obj, "emailaddressapprovedon", now);
		dv_set_str(mbx->obj, "_emailaddressapprovedby_value",
			   c->req->caller);
	}
	dv_row_end_update(c->org, mt, mbx);
	set_approval(c->org, s, who, value);
}

static struct dv_row *default_mailbox(struct dv_org *org, const cJSON *o)
{
	const char *m = dv_str(o, "_defaultmailbox_value");

	return m ? dv_row_get(dv_table(org, DV_MAILBOXES), m) : NULL;
}

static void new_row_defaults(struct ctx *c, const struct dv_entity *ent,
			     cJSON *o)
{
	const char *caller = c->req->caller;
	struct dv_table *orgs = dv_table(c->org, DV_ORGS);

	for (size_t i = 0; i < ent->nattrs; i++) {
		const struct dv_attr *a = &ent->attrs[i];

		if (cJSON_HasObjectItem(o, a->name) ||
		    !strcmp(a->name, "versionnumber"))
			continue;
		if (!strcmp(a->name, "statecode"))
			dv_set_int(o, a->name, 0);
		else if (!strcmp(a->name, "statuscode"))
			dv_set_int(o, a->name, 1);
		else if (a->type == DV_CHOICE && strstr(a->name, "status"))
			dv_set_int(o, a->name, 0);
		else if (!strncmp(a->name, "enabledfor", 10))
			dv_set_bool(o, a->name, true);
		else if (a->type == DV_BOOL)
			dv_set_bool(o, a->name, false);
		else if (!strcmp(a->name, "testemailconfigurationretrycount"))
			dv_set_int(o, a->name, 0);
		else
			dv_set_null(o, a->name);
	}
	if (ent->user_owned && caller) {
		dv_set_str(o, "_ownerid_value", caller);
		if (dv_entity_attr(ent, "_owninguser_value"))
			dv_set_str(o, "_owninguser_value", caller);
		if (dv_entity_attr(ent, "_owningbusinessunit_value"))
			dv_set_str(o, "_owningbusinessunit_value",
				   user_bu(c->org, caller));
	}
	if (dv_entity_attr(ent, "_organizationid_value") && orgs->n)
		dv_set_str(o, "_organizationid_value", orgs->rows[0]->id);
}

/*
 * Write 'ch' to 'row' of 't' (row NULL: create 'id'). Side effects follow
 * the service: an owner change also sets the owning user and unit; a new
 * address needs approving again; approval follows between a mailbox and
 * its user or queue; testemailconfigurationscheduled=true schedules Test
 * & Enable.
 */
static int write_row(struct ctx *c, struct dv_table *t, struct dv_row *row,
		     const char *id, struct changes *ch, struct dv_row **out)
{
	const struct dv_entity *ent = t->ent;
	const struct change *st = find_change(ch, "statecode");
	const struct change *sc = find_change(ch, "statuscode");
	const struct change *own = find_change(ch, "_ownerid_value");
	const struct change *addr = NULL;
	bool approve = false, sched = false;
	int rc;

	/* privileges of the caller */
	if (row) {
		if ((rc = need(c, "Write", ent, row)))
			return rc;
		if (own && ent->user_owned &&
		    strcmp(own->val->valuestring,
			   dv_str(row->obj, "_ownerid_value")
			       ? dv_str(row->obj, "_ownerid_value")
			       : "") &&
		    (rc = need(c, "Assign", ent, row)))
			return rc;
	} else if ((rc = need(c, "Create", ent, NULL))) {
		return rc;
	}

	/* statecode and statuscode must agree (0/1 Active, 1/2 Inactive) */
	if (st || sc) {
		int s = st ? st->val->valueint
			   : (row ? dv_int(row->obj, "statecode", 0) : 0);
		int u = sc ? sc->val->valueint : s + 1;

		if (u != s + 1)
			return error(c, 400, "0x80048408",
				     "%d is not a valid status code for state "
				     "code %sState.%s on %s with Id %s.",
				     u, ent->logical, s ? "Inactive" : "Active",
				     ent->logical, id);
		if (!sc &&
		    (rc = add_change(c, ch, dv_entity_attr(ent, "statuscode"),
				     cJSON_CreateNumber(u))))
			return rc;
	}

	/*
	 * Approval (docs/fidelity.md): only a request carrying
	 * emailrouteraccessapproval alone approves, and only for an
	 * authorised caller; with other attributes the rest is written and
	 * the address silently stays as it was.
	 */
	if (ch->approval && ch->nprops == 1 && row) {
		if (dv_int(row->obj, "emailrouteraccessapproval", -1) ==
		    ch->approval_value)
			goto done; /* already so: nothing to do */
		if ((rc = approval_auth(c, ent)))
			return rc;
		/*
		 * --variant approve-no-effect: an application user's approval
		 * is accepted and nothing changes (resetting to pending or
		 * rejecting still works)
		 */
		if (dv_variant(DV_VAR_APPROVE_NO_EFFECT) &&
		    ch->approval_value == 1 && caller_is_application(c))
			goto done;
		approve = true;
	}

	if (row) {
		const char *old = dv_str(row->obj, "emailaddress");
		const struct change *na = find_change(ch, "emailaddress");

		if (!na)
			na = find_change(ch, "internalemailaddress");
		if (na && cJSON_IsString(na->val) &&
		    (!old || strcasecmp(old, na->val->valuestring)))
			addr = na;
		if (!old && ent == &dv_entities[DV_USERS])
			old = dv_str(row->obj, "internalemailaddress");
		if (addr && ent == &dv_entities[DV_USERS] && old &&
		    !strcasecmp(old, addr->val->valuestring))
			addr = NULL;
		dv_row_begin_update(c->org, t, row);
	} else {
		cJSON *o = cJSON_CreateObject();

		dv_set_str(o, ent->key, id);
		for (size_t i = 0; i < ch->n; i++)
			cJSON_AddItemToObject(o, ch->v[i].attr->name,
					      cJSON_Duplicate(ch->v[i].val, 1));
		new_row_defaults(c, ent, o);
		row = dv_row_insert(c->org, t, o);
		dv_row_begin_update(c->org, t, row);
	}
	for (size_t i = 0; i < ch->n; i++) {
		const char *name = ch->v[i].attr->name;

		cJSON_DeleteItemFromObjectCaseSensitive(row->obj, name);
		cJSON_AddItemToObject(row->obj, name,
				      cJSON_Duplicate(ch->v[i].val, 1));
		if (!strcmp(name, "testemailconfigurationscheduled") &&
		    cJSON_IsTrue(ch->v[i].val))
			sched = true;
	}
	if (own && ent->user_owned && cJSON_IsString(own->val)) {
		if (dv_entity_attr(ent, "_owninguser_value"))
			dv_set_str(row->obj, "_owninguser_value",
				   own->val->valuestring);
		if (dv_entity_attr(ent, "_owningbusinessunit_value") &&
		    user_bu(c->org, own->val->valuestring))
			dv_set_str(row->obj, "_owningbusinessunit_value",
				   user_bu(c->org, own->val->valuestring));
	}
	if (sched && ent == &dv_entities[DV_MAILBOXES])
		dv_test_schedule(c->org, row, c->req->caller);
	dv_row_end_update(c->org, t, row);

	/* a new address must be approved again (docs/fidelity.md) */
	if (addr) {
		if (ent == &dv_entities[DV_MAILBOXES]) {
			mailbox_approval(c, row, 2, false);
		} else {
			struct dv_row *m = default_mailbox(c->org, row->obj);
			struct dv_table *mt = dv_table(c->org, DV_MAILBOXES);

			set_approval(c->org,
				     ent == &dv_entities[DV_QUEUES] ? DV_QUEUES
								    : DV_USERS,
				     row->id, 2);
			if (m) {
				dv_row_begin_update(c->org, mt, m);
				dv_set_str(m->obj, "emailaddress",
					   addr->val->valuestring);
				dv_row_end_update(c->org, mt, m);
				mailbox_approval(c, m, 2, false);
			}
		}
	}
	if (approve) {
		if (ent == &dv_entities[DV_MAILBOXES]) {
			mailbox_approval(c, row, ch->approval_value, true);
		} else {
			struct dv_row *m = default_mailbox(c->org, row->obj);

			set_approval(c->org,
				     ent == &dv_entities[DV_QUEUES] ? DV_QUEUES
								    : DV_USERS,
				     row->id, ch->approval_value);
			if (m)
				mailbox_approval(c, m, ch->approval_value,
						 true);
		}
	}
done:
	*out = row;
	return 0;
}

static int write_reply(struct ctx *c, struct dv_table *t, struct dv_row *row,
		       bool created)
{
	char url[512];

	snprintf(url, sizeof(url), "%s%s(%s)",
		 c->req->base_url ? c->req->base_url : "", t->ent->set,
		 row->id);
	if (c->return_repr) {
		int st = serve_row(c, t, row);

		if (st == 200 && created)
			c->resp->status = 201;
		buf_addf(&c->resp->headers, "OData-EntityId: %s\r\n", url);
		buf_addstr(&c->resp->headers,
			   "Preference-Applied: return=representation\r\n");
		return c->resp->status;
	}
	no_content(c, url);
	return 204;
}

static cJSON *parse_body(struct ctx *c, const struct dv_entity *ent)
{
	cJSON *body;

	if (!c->req->body || !c->req->body_len) {
		payload_error(c, ent, "The request body is empty.");
		return NULL;
	}
	body = cJSON_ParseWithLength(c->req->body, c->req->body_len);
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		payload_error(c, ent,
			      "Invalid JSON. A JSON object was expected in "
			      "the request body.");
		return NULL;
	}
	return body;
}

static int do_patch(struct ctx *c, struct dv_table *t, const char *id)
{
	const char *im = dv_request_header(c->req, "If-Match");
	const char *inm = dv_request_header(c->req, "If-None-Match");
	struct dv_row *row = dv_row_get(t, id), *out = NULL;
	struct changes ch;
	cJSON *body;
	int rc;

	if (t->ent->readonly)
		return error(c, 405, "0x80060888",
			     "The '%s' entity does not support the Update "
			     "message.",
			     t->ent->logical);
	if (im) {
		if (!row)
			return not_found(c, t->ent, id);
		if (strcmp(im, "*")) {
			char want[48];

			snprintf(want, sizeof(want), "W/\"%.0f\"",
				 cJSON_GetNumberValue(
				     cJSON_GetObjectItemCaseSensitive(
					 row->obj, "versionnumber")));
			if (strcmp(im, want) && strcmp(im, want + 2))
				return error(c, 412, "0x80060882",
					     "The version of the existing "
					     "record doesn't match the "
					     "RowVersion property provided.");
		}
	}
	if (inm && !strcmp(inm, "*") && row)
		return error(c, 412, "0x80040237",
			     "A record with matching key values already "
			     "exists.");
	body = parse_body(c, t->ent);
	if (!body)
		return c->resp->status;
	memset(&ch, 0, sizeof(ch));
	rc = collect(c, t->ent, id, body, &ch);
	cJSON_Delete(body);
	if (!rc)
		rc = write_row(c, t, row, id, &ch, &out);
	changes_release(&ch);
	if (rc)
		return rc;
	return write_reply(c, t, out, !row);
}

static int do_create(struct ctx *c, struct dv_table *t)
{
	struct changes ch;
	struct dv_row *out = NULL;
	const char *given;
	char id[37];
	cJSON *body;
	int rc;

	if (t->ent->readonly)
		return error(c, 405, "0x80060888",
			     "The '%s' entity does not support the Create "
			     "message.",
			     t->ent->logical);
	body = parse_body(c, t->ent);
	if (!body)
		return c->resp->status;
	given = dv_str(body, t->ent->key);
	if (!given || !dv_parse_guid(given, strlen(given), id))
		dv_new_guid(c->org, id);
	if (dv_row_get(t, id)) {
		cJSON_Delete(body);
		return error(c, 412, "0x80040237",
			     "A record with matching key values already "
			     "exists.");
	}
	memset(&ch, 0, sizeof(ch));
	rc = collect(c, t->ent, id, body, &ch);
	cJSON_Delete(body);
	if (!rc)
		rc = write_row(c, t, NULL, id, &ch, &out);
	changes_release(&ch);
	if (rc)
		return rc;
	return write_reply(c, t, out, true);
}

/* ---- user roles ------------------------------------------------------ */

static struct dv_row *user_role_link(struct dv_org *org, const char *userid,
				     const char *roleid)
{
	struct dv_table *ur = dv_table(org, DV_USERROLES);

	for (struct hent *e =
		 dv_index_find(dv_table_index(ur, "systemuserid"), userid);
	     e; e = hmap_next(e->next, userid)) {
		const char *r = dv_str(e->row->obj, "roleid");

		if (r && !strcmp(r, roleid))
			return e->row;
	}
	return NULL;
}

static int user_roles(struct ctx *c, struct dv_row *user, const char *verb,
		      const char *roleid_seg, bool ref)
{
	struct dv_table *roles = dv_table(c->org, DV_ROLES);
	const struct dv_entity *uent = &dv_entities[DV_USERS];
	int rc;

	if (!strcmp(verb, "GET") && !ref && !roleid_seg) {
		struct rowvec rv = {0};

		if ((rc = need(c, "Read", uent, NULL)) ||
		    (rc = need(c, "Read", roles->ent, NULL)))
			return rc;
		coll_rows(c->org, COLL_USERROLES, user, &rv);
		rc = serve_collection(c, roles, &rv);
		free(rv.v);
		return rc;
	}
	if (!strcmp(verb, "POST") && ref && !roleid_seg) {
		cJSON *body = parse_body(c, uent);
		const char *url;
		char set[64], rid[37];
		struct dv_row *role;
		const char *ubu, *rbu, *rname;
		char lid[37];
		cJSON *o;

		if (!body)
			return c->resp->status;
		url = dv_str(body, "@odata.id");
		if (!url || !parse_bind_url(url, set, sizeof(set), rid) ||
		    strcmp(set, "roles")) {
			rc = error(c, 400, "0x80090800",
				   "The @odata.id '%s' is not a valid role "
				   "URL.",
				   url ? url : "");
			cJSON_Delete(body);
			return rc;
		}
		cJSON_Delete(body);
		role = dv_row_get(roles, rid);
		if (!role)
			return not_found(c, roles->ent, rid);
		if ((rc = need(c, "Write", uent, user)) ||
		    (rc = need(c, "Assign", roles->ent, NULL)))
			return rc;
		rname = dv_str(dv_role_root(c->org, role)->obj, "name");
		if (rname && !strcmp(rname, DV_ROLE_APPROVER) && c->req->caller)
			return error(c, 403, "0x80090904",
				     "You must be an Office 365 Global "
				     "Administrator or an Exchange "
				     "Administrator to assign the Delegated "
				     "Mailbox Approver role.");
		ubu = dv_str(user->obj, "_businessunitid_value");
		rbu = dv_str(role->obj, "_businessunitid_value");
		if (ubu && rbu && strcmp(ubu, rbu))
			return error(c, 400, "0x80040203",
				     "The role '%s' (Id = %s) belongs to "
				     "business unit %s, not to the user's "
				     "business unit %s: assign the copy of "
				     "the role in the user's business unit.",
				     rname ? rname : "", role->id, rbu, ubu);
		if (!user_role_link(c->org, user->id, role->id)) {
			o = cJSON_CreateObject();
			dv_new_guid(c->org, lid);
			dv_set_str(o, "systemuserroleid", lid);
			dv_set_str(o, "systemuserid", user->id);
			dv_set_str(o, "roleid", role->id);
			dv_row_insert(c->org, dv_table(c->org, DV_USERROLES),
				      o);
		}
		no_content(c, NULL);
		return 204;
	}
	if (!strcmp(verb, "DELETE") && ref) {
		char rid[37];
		struct dv_row *link;
		const char *idq = qget(c, "$id");
		char set[64];

		if (roleid_seg) {
			if (!dv_parse_guid(roleid_seg, strlen(roleid_seg), rid))
				return error(c, 400, "0x80060888",
					     "Bad Request - Error in query "
					     "syntax.");
		} else if (!idq ||
			   !parse_bind_url(idq, set, sizeof(set), rid) ||
			   strcmp(set, "roles")) {
			return error(c, 400, "0x80090800",
				     "The $id '%s' is not a valid role URL.",
				     idq ? idq : "");
		}
		if (!dv_row_get(roles, rid))
			return not_found(c, roles->ent, rid);
		if ((rc = need(c, "Write", uent, user)) ||
		    (rc = need(c, "Assign", roles->ent, NULL)))
			return rc;
		link = user_role_link(c->org, user->id, rid);
		if (link)
			dv_row_delete(c->org, dv_table(c->org, DV_USERROLES),
				      link);
		no_content(c, NULL);
		return 204;
	}
	return error(c, 405, "0x80060888",
		     "The HTTP method '%s' is not allowed on "
		     "systemuserroles_association.",
		     verb);
}

/* ---- role privileges -------------------------------------------------- */

static const char *const depth_names[] = {"Basic", "Local", "Deep", "Global"};

static bool depth_allowed(const cJSON *prv, enum dv_depth d)
{
	static const char *const flags[] = {"canbebasic", "canbelocal",
					    "canbedeep", "canbeglobal"};

	return dv_bool(prv, flags[d]);
}

/* Depth as a member name ("Global") or its number ("3", or 3). */
static int parse_depth(const cJSON *v)
{
	if (cJSON_IsNumber(v) && v->valuedouble == (double)v->valueint)
		return v->valueint >= 0 && v->valueint <= 3 ? v->valueint : -1;
	if (!cJSON_IsString(v))
		return -1;
	for (int i = 0; i < 4; i++)
		if (!strcasecmp(v->valuestring, depth_names[i]))
			return i;
	if (v->valuestring[0] >= '0' && v->valuestring[0] <= '3' &&
	    !v->valuestring[1])
		return v->valuestring[0] - '0';
	return -1;
}

static int add_privileges(struct ctx *c, struct dv_row *role)
{
	const struct dv_entity *rent = &dv_entities[DV_ROLES];
	struct dv_table *pt = dv_table(c->org, DV_PRIVILEGES);
	struct dv_table *bt = dv_table(c->org, DV_BUS);
	struct dv_row *root = dv_role_root(c->org, role);
	struct {
		struct dv_row *prv;
		int depth;
	} *todo = NULL;
	size_t n = 0;
	cJSON *body, *list, *it;
	int rc = 0;

	if ((rc = need(c, "Write", rent, role)))
		return rc;
	if (root != role)
		return error(c, 403, "0x80048405",
			     "The role %s (Id = %s) is inherited from the "
			     "parent business unit and cannot be edited; "
			     "change the root role (Id = %s) instead.",
			     dv_str(role->obj, "name"), role->id, root->id);
	body = parse_body(c, rent);
	if (!body)
		return c->resp->status;
	list = cJSON_GetObjectItemCaseSensitive(body, "Privileges");
	if (!cJSON_IsArray(list)) {
		cJSON_Delete(body);
		return payload_error(c, rent,
				     "The parameter 'Privileges' is missing "
				     "or is not a collection.");
	}
	todo = xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(*todo));
	cJSON_ArrayForEach(it, list)
	{
		const char *pid = dv_str(it, "PrivilegeId");
		const char *pname = dv_str(it, "PrivilegeName");
		const char *bu = dv_str(it, "BusinessUnitId");
		char g[37];
		struct dv_row *prv = NULL;
		int d;

		if (!cJSON_IsObject(it)) {
			rc = payload_error(
			    c, rent, "A RolePrivilege must be an object.");
			break;
		}
		if (pid) {
			if (!dv_parse_guid(pid, strlen(pid), g)) {
				rc = payload_error(c, rent,
						   "PrivilegeId is not a "
						   "valid Guid.");
				break;
			}
			prv = dv_row_get(pt, g);
			if (!prv) {
				rc = not_found(c, pt->ent, g);
				break;
			}
		} else if (pname) {
			prv = dv_privilege_by_name(c->org, pname);
			if (!prv) {
				rc = error(c, 404, "0x80040217",
					   "privilege With Name = %s Does Not "
					   "Exist",
					   pname);
				break;
			}
		} else {
			rc = payload_error(c, rent,
					   "A RolePrivilege needs a "
					   "PrivilegeId.");
			break;
		}
		if (bu) {
			if (!dv_parse_guid(bu, strlen(bu), g)) {
				rc = payload_error(c, rent,
						   "BusinessUnitId is not a "
						   "valid Guid.");
				break;
			}
			if (!dv_row_get(bt, g)) {
				rc = not_found(c, bt->ent, g);
				break;
			}
		}
		d = parse_depth(cJSON_GetObjectItemCaseSensitive(it, "Depth"));
		if (d < 0) {
			const cJSON *dv =
			    cJSON_GetObjectItemCaseSensitive(it, "Depth");

			rc = payload_error(
			    c, rent,
			    cJSON_IsString(dv)
				? "The value of Depth is not a valid "
				  "PrivilegeDepth (Basic, Local, Deep, "
				  "Global)."
				: "Depth is missing or not a "
				  "PrivilegeDepth.");
			break;
		}
		if (!depth_allowed(prv->obj, (enum dv_depth)d)) {
			rc = error(c, 400, "0x8004140b",
				   "Invalid privilege depth %s for privilege "
				   "%s (Id = %s): the privilege does not "
				   "support this depth.",
				   depth_names[d], dv_str(prv->obj, "name"),
				   prv->id);
			break;
		}
		todo[n].prv = prv;
		todo[n].depth = d;
		n++;
	}
	cJSON_Delete(body);
	if (!rc) {
		for (size_t i = 0; i < n; i++)
			dv_role_set_privilege(c->org, root, todo[i].prv,
					      (enum dv_depth)todo[i].depth);
		no_content(c, NULL);
		rc = 204;
	}
	free(todo);
	return rc;
}

static int retrieve_role_privileges(struct ctx *c, const char *args)
{
	struct dv_table *rt = dv_table(c->org, DV_ROLES);
	struct dv_table *rp = dv_table(c->org, DV_ROLEPRIVS);
	struct dv_table *pt = dv_table(c->org, DV_PRIVILEGES);
	struct dv_row *role, *root;
	char id[37];
	const char *v;
	cJSON *out, *arr;
	struct buf ctxurl = BUF_INIT(1024);
	int rc;

	if (!args || strncmp(args, "RoleId=", 7))
		return error(c, 400, "0x80060888",
			     "The parameter 'RoleId' of the function "
			     "'RetrieveRolePrivilegesRole' is missing.");
	v = args + 7;
	if (!dv_parse_guid(v, strlen(v), id))
		return error(c, 400, "0x80060888",
			     "The value '%s' of the parameter 'RoleId' is not "
			     "a valid Guid.",
			     v);
	role = dv_row_get(rt, id);
	if (!role)
		return not_found(c, rt->ent, id);
	if ((rc = need(c, "Read", rt->ent, role)))
		return rc;
	root = dv_role_root(c->org, role);
	out = cJSON_CreateObject();
	buf_addf(&ctxurl,
		 "%s$metadata#Microsoft.Dynamics.CRM."
		 "RetrieveRolePrivilegesRoleResponse",
		 c->req->base_url ? c->req->base_url : "");
	cJSON_AddStringToObject(out, "@odata.context", ctxurl.ptr);
	buf_release(&ctxurl);
	arr = cJSON_AddArrayToObject(out, "RolePrivileges");
	for (struct hent *e =
		 dv_index_find(dv_table_index(rp, "roleid"), root->id);
	     e; e = hmap_next(e->next, root->id)) {
		const char *pid = dv_str(e->row->obj, "privilegeid");
		struct dv_row *prv = pid ? dv_row_get(pt, pid) : NULL;
		int mask = dv_int(e->row->obj, "privilegedepthmask", 0);
		int d = -1;
		cJSON *o;

		for (int k = 3; k >= 0 && d < 0; k--)
			if (mask & DV_MASK(k))
				d = k;
		if (d < 0 && (mask & DV_MASK(DV_RECORDFILTER)))
			d = DV_RECORDFILTER;
		if (!prv || d < 0)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "Depth",
					d == DV_RECORDFILTER ? "RecordFilter"
							     : depth_names[d]);
		cJSON_AddStringToObject(o, "PrivilegeId", prv->id);
		cJSON_AddStringToObject(
		    o, "BusinessUnitId",
		    dv_str(role->obj, "_businessunitid_value")
			? dv_str(role->obj, "_businessunitid_value")
			: "");
		cJSON_AddStringToObject(o, "PrivilegeName",
					dv_str(prv->obj, "name"));
		if (d == DV_RECORDFILTER) {
			/* dvsim's own filter: the grant's row names it */
			cJSON_AddStringToObject(o, "RecordFilterId",
						e->row->id);
			cJSON_AddStringToObject(o, "RecordFilterUniqueName",
						"dvsim_recordfilter");
		} else {
			cJSON_AddNullToObject(o, "RecordFilterId");
			cJSON_AddNullToObject(o, "RecordFilterUniqueName");
		}
		cJSON_AddItemToArray(arr, o);
	}
	json_reply(c, 200, out);
	return 200;
}

static int who_am_i(struct ctx *c)
{
	struct dv_table *orgs = dv_table(c->org, DV_ORGS);
	struct dv_row *u = user_row(c->org, c->req->caller);
	struct buf ctxurl = BUF_INIT(1024);
	cJSON *out;

	if (!u)
		return error(c, 401, "0x80040204",
			     "The user is not a member of the organization.");
	out = cJSON_CreateObject();
	buf_addf(&ctxurl, "%s$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
		 c->req->base_url ? c->req->base_url : "");
	cJSON_AddStringToObject(out, "@odata.context", ctxurl.ptr);
	buf_release(&ctxurl);
	cJSON_AddStringToObject(out, "BusinessUnitId",
				dv_str(u->obj, "_businessunitid_value"));
	cJSON_AddStringToObject(out, "UserId", u->id);
	cJSON_AddStringToObject(out, "OrganizationId",
				orgs->n ? orgs->rows[0]->id : "");
	json_reply(c, 200, out);
	return 200;
}

/*
 * GET <set>/$count: the number of rows (those $filter keeps), as a plain
 * text number, at most 5000 like @odata.count (docs/fidelity.md).
 */
static int serve_count(struct ctx *c, struct dv_table *t)
{
	struct dv_filter *f = NULL;
	struct rowvec cand = {0};
	const char *v;
	size_t n = 0;
	bool all;

	if ((v = qget(c, "$filter"))) {
		char msg[512];

		f = dv_filter_parse(t->ent, v, alias_lookup, c, msg,
				    sizeof(msg));
		if (!f)
			return error(c, 400, "0x80060888", "%s", msg);
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

/* ---- dispatch ---------------------------------------------------------- */

static int route(struct ctx *c)
{
	const char *m = c->req->method;
	struct seg *s0 = &c->segs[0], *s1 = c->nsegs > 1 ? &c->segs[1] : NULL;
	bool ref = c->nsegs > 2 && !strcmp(c->segs[2].name, "$ref");
	struct dv_table *t;
	struct dv_row *row = NULL;
	char id[37];
	int rc;

	if (!strcmp(s0->name, "RetrieveRolePrivilegesRole") && c->nsegs == 1) {
		if (strcmp(m, "GET"))
			goto bad_method;
		return retrieve_role_privileges(c, s0->args);
	}
	if (!strcmp(s0->name, "WhoAmI") && c->nsegs == 1) {
		if (strcmp(m, "GET"))
			goto bad_method;
		return who_am_i(c);
	}
	t = dv_table_by_set(c->org, s0->name);
	if (!t)
		return error(c, 404, "0x80060888",
			     "Resource not found for the segment '%s'.",
			     s0->name);
	if (s0->args) {
		if (!dv_parse_guid(s0->args, strlen(s0->args), id))
			return error(c, 400, "0x80060888",
				     "Bad Request - Error in query syntax: "
				     "'%s' is not a valid key for '%s'.",
				     s0->args, s0->name);
		row = dv_row_get(t, id);
	}

	if (!s1) {
		if (!s0->args) {
			if (!strcmp(m, "GET")) {
				if ((rc = need(c, "Read", t->ent, NULL)))
					return rc;
				return serve_collection(c, t, NULL);
			}
			if (!strcmp(m, "POST"))
				return do_create(c, t);
			goto bad_method;
		}
		if (!strcmp(m, "GET")) {
			if (!row)
				return not_found(c, t->ent, id);
			if ((rc = need(c, "Read", t->ent, row)))
				return rc;
			return serve_row(c, t, row);
		}
		if (!strcmp(m, "PATCH"))
			return do_patch(c, t, id);
		goto bad_method;
	}

	if (!s0->args && c->nsegs == 2 && !s1->args &&
	    !strcmp(s1->name, "$count")) {
		if (strcmp(m, "GET"))
			goto bad_method;
		if ((rc = need(c, "Read", t->ent, NULL)))
			return rc;
		return serve_count(c, t);
	}

	/* set(id)/something */
	if (!s0->args)
		return error(c, 404, "0x80060888",
			     "Resource not found for the segment '%s'.",
			     s1->name);
	if (!row)
		return not_found(c, t->ent, id);
	if (t == dv_table(c->org, DV_USERS) &&
	    !strcmp(s1->name, "systemuserroles_association") &&
	    (c->nsegs == 2 || ref) && c->nsegs <= 3)
		return user_roles(c, row, m, s1->args, ref);
	if (t == dv_table(c->org, DV_ROLES) && c->nsegs == 2 &&
	    !strcmp(s1->name, "Microsoft.Dynamics.CRM.AddPrivilegesRole")) {
		if (strcmp(m, "POST"))
			goto bad_method;
		return add_privileges(c, row);
	}
	for (size_t k = 0; k < ARRAY_SIZE(coll_navs); k++) {
		struct dv_table *to = dv_table(c->org, coll_navs[k].to);
		struct rowvec rv = {0};

		if (t != dv_table(c->org, coll_navs[k].from) || c->nsegs != 2 ||
		    s1->args || strcmp(s1->name, coll_navs[k].nav))
			continue;
		if (strcmp(m, "GET"))
			goto bad_method;
		if ((rc = need(c, "Read", t->ent, row)) ||
		    (rc = need(c, "Read", to->ent, NULL)))
			return rc;
		coll_rows(c->org, coll_navs[k].kind, row, &rv);
		rc = serve_collection(c, to, &rv);
		free(rv.v);
		return rc;
	}
	if (c->nsegs == 2 && !s1->args) {
		const struct dv_nav *nav = dv_entity_nav(t->ent, s1->name);

		if (nav) {
			struct dv_table *tt =
			    dv_table_by_set(c->org, nav->target);
			const char *tid = dv_str(row->obj, nav->attr);
			struct dv_row *target =
			    tid ? dv_row_get(tt, tid) : NULL;

			if (strcmp(m, "GET"))
				goto bad_method;
			if (!target) { /* OData: a null single-valued nav */
				no_content(c, NULL);
				return 204;
			}
			if ((rc = need(c, "Read", tt->ent, target)))
				return rc;
			return serve_row(c, tt, target);
		}
	}
	return error(c, 404, "0x80060888",
		     "Resource not found for the segment '%s'.", s1->name);
bad_method:
	return error(c, 405, "0x80060888",
		     "The HTTP method '%s' is not allowed on this resource.",
		     m);
}

int dv_api_handle(struct dv_org *org, const struct dv_request *req,
		  struct dv_response *resp)
{
	struct ctx c;
	const char *q;
	int rc;

	memset(&c, 0, sizeof(c));
	c.org = org;
	c.req = req;
	c.resp = resp;
	dv_response_reset(resp);
	q = strchr(req->url, '?');
	c.path = pct_decode(
	    req->url, q ? (size_t)(q - req->url) : strlen(req->url), false);
	c.rawquery = q ? q + 1 : NULL;
	parse_prefer(&c);
	if (parse_path(&c) < 0)
		rc = error(&c, 404, "0x80060888",
			   "Resource not found for the segment '%s'.", c.path);
	else if (parse_query(&c) < 0)
		rc = error(&c, 400, "0x80060888", "Too many query parameters.");
	else
		rc = route(&c);
	ctx_release(&c);
	resp->status = rc;
	return rc;
}
