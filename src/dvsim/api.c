/*
 * api.c: the Dataverse Web API over the organisation (docs/fidelity.md):
 * the request (path, query, Prefer), the error answers, the caller's own
 * privileges, and the dispatch to the handlers: reads with $select,
 * $filter, $expand, $orderby, $top and paging (api_read.c); PATCH and POST
 * with If-Match, @odata.bind and validation (api_write.c); user roles
 * ($ref), AddPrivilegesRole, RetrieveRolePrivilegesRole and WhoAmI
 * (api_actions.c). filter.c ($filter), meta.c (metadata) and
 * testenable.c (Test & Enable) stand alone.
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

#include "dvsim/api_int.h"
#include "dvsim/filter.h"
#include "dvsim/org.h"
#include "dvsim/variant.h"

#include "banned.h"

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

void api_pct_encode(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			buf_addch(b, (char)c);
		else
			buf_addf(b, "%%%02X", c);
	}
}

const char *api_qget(const struct ctx *c, const char *key)
{
	for (size_t i = 0; i < c->nq; i++)
		if (!strcmp(c->q[i].key, key))
			return c->q[i].val;
	return NULL;
}

const char *api_alias_lookup(void *ctx, const char *name)
{
	return api_qget(ctx, name);
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

int api_error(struct ctx *c, int status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dv_response_error(c->resp, status, code, "%s", msg);
	return status;
}

int api_not_found(struct ctx *c, const struct dv_entity *ent, const char *id)
{
	return api_error(c, 404, "0x80040217", "%s With Id = %s Does Not Exist",
			 ent->logical, id);
}

int api_payload_error(struct ctx *c, const struct dv_entity *ent,
		      const char *detail)
{
	return api_error(
	    c, 400, "0x80048d19",
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
int api_unknown_property(struct ctx *c, const struct dv_entity *ent,
			 const char *name)
{
	char detail[400];

	snprintf(detail, sizeof(detail),
		 "The property '%.100s' does not exist on type "
		 "'Microsoft.Dynamics.CRM.%s'. Make sure to only use property "
		 "names that are defined by the type or mark the type as open "
		 "type.",
		 name, ent->logical);
	return api_payload_error(c, ent, detail);
}

int api_read_only(struct ctx *c, const struct dv_entity *ent, const char *name)
{
	char detail[200];

	snprintf(detail, sizeof(detail),
		 "The property '%.100s' is read-only and cannot be set.", name);
	return api_payload_error(c, ent, detail);
}

void api_json_reply(struct ctx *c, int status, cJSON *root)
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

void api_no_content(struct ctx *c, const char *entity_id_url)
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

bool api_want_annotation(const struct ctx *c, const char *name)
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

struct dv_row *api_user_row(struct dv_org *org, const char *id)
{
	return id ? dv_row_get(dv_table(org, DV_USERS), id) : NULL;
}

const char *api_user_bu(struct dv_org *org, const char *id)
{
	struct dv_row *u = api_user_row(org, id);

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
bool api_allowed(struct ctx *c, const char *prv, const struct dv_entity *ent,
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
		obu = api_user_bu(c->org, owner);
	cbu = api_user_bu(c->org, caller);
	if (!obu || !cbu)
		return false;
	return d == DV_LOCAL ? !strcmp(obu, cbu) : bu_within(c->org, obu, cbu);
}

int api_deny(struct ctx *c, const char *prv, const struct dv_entity *ent)
{
	/* the documented PrivilegeDenied template, docs/fidelity.md */
	return api_error(
	    c, 403, "0x80040220",
	    "Principal user(Id = %s) is missing %s privilege on %s "
	    "entity(OTC=%d). Consider adding missing privilege to one "
	    "of the principal (user/team) roles for the request to "
	    "succeed.",
	    c->req->caller, prv, ent->logical, ent->otc);
}

/* 0 when allowed, else the 403 already filled. */
int api_need(struct ctx *c, const char *verb, const struct dv_entity *ent,
	     const struct dv_row *row)
{
	char prv[96];

	if (!ent->prv)
		return 0;
	snprintf(prv, sizeof(prv), "prv%s%s", verb, ent->prv);
	return api_allowed(c, prv, ent, row) ? 0 : api_deny(c, prv, ent);
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
		return api_retrieve_role_privileges(c, s0->args);
	}
	if (!strcmp(s0->name, "WhoAmI") && c->nsegs == 1) {
		if (strcmp(m, "GET"))
			goto bad_method;
		return api_who_am_i(c);
	}
	t = dv_table_by_set(c->org, s0->name);
	if (!t)
		return api_error(c, 404, "0x80060888",
				 "Resource not found for the segment '%s'.",
				 s0->name);
	if (s0->args) {
		if (!dv_parse_guid(s0->args, strlen(s0->args), id))
			return api_error(c, 400, "0x80060888",
					 "Bad Request - Error in query syntax: "
					 "'%s' is not a valid key for '%s'.",
					 s0->args, s0->name);
		row = dv_row_get(t, id);
	}

	if (!s1) {
		if (!s0->args) {
			if (!strcmp(m, "GET")) {
				if ((rc = api_need(c, "Read", t->ent, NULL)))
					return rc;
				return api_serve_collection(c, t, NULL);
			}
			if (!strcmp(m, "POST"))
				return api_do_create(c, t);
			goto bad_method;
		}
		if (!strcmp(m, "GET")) {
			if (!row)
				return api_not_found(c, t->ent, id);
			if ((rc = api_need(c, "Read", t->ent, row)))
				return rc;
			return api_serve_row(c, t, row);
		}
		if (!strcmp(m, "PATCH"))
			return api_do_patch(c, t, id);
		goto bad_method;
	}

	if (!s0->args && c->nsegs == 2 && !s1->args &&
	    !strcmp(s1->name, "$count")) {
		if (strcmp(m, "GET"))
			goto bad_method;
		if ((rc = api_need(c, "Read", t->ent, NULL)))
			return rc;
		return api_serve_count(c, t);
	}

	/* set(id)/something */
	if (!s0->args)
		return api_error(c, 404, "0x80060888",
				 "Resource not found for the segment '%s'.",
				 s1->name);
	if (!row)
		return api_not_found(c, t->ent, id);
	if (t == dv_table(c->org, DV_USERS) &&
	    !strcmp(s1->name, "systemuserroles_association") &&
	    (c->nsegs == 2 || ref) && c->nsegs <= 3)
		return api_user_roles(c, row, m, s1->args, ref);
	if (t == dv_table(c->org, DV_ROLES) && c->nsegs == 2 &&
	    !strcmp(s1->name, "Microsoft.Dynamics.CRM.AddPrivilegesRole")) {
		if (strcmp(m, "POST"))
			goto bad_method;
		return api_add_privileges(c, row);
	}
	for (size_t k = 0; k < api_ncoll_navs; k++) {
		struct dv_table *to = dv_table(c->org, api_coll_navs[k].to);
		struct rowvec rv = {0};

		if (t != dv_table(c->org, api_coll_navs[k].from) ||
		    c->nsegs != 2 || s1->args ||
		    strcmp(s1->name, api_coll_navs[k].nav))
			continue;
		if (strcmp(m, "GET"))
			goto bad_method;
		if ((rc = api_need(c, "Read", t->ent, row)) ||
		    (rc = api_need(c, "Read", to->ent, NULL)))
			return rc;
		api_coll_rows(c->org, api_coll_navs[k].kind, row, &rv);
		rc = api_serve_collection(c, to, &rv);
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
				api_no_content(c, NULL);
				return 204;
			}
			if ((rc = api_need(c, "Read", tt->ent, target)))
				return rc;
			return api_serve_row(c, tt, target);
		}
	}
	return api_error(c, 404, "0x80060888",
			 "Resource not found for the segment '%s'.", s1->name);
bad_method:
	return api_error(
	    c, 405, "0x80060888",
	    "The HTTP method '%s' is not allowed on this resource.", m);
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
		rc = api_error(&c, 404, "0x80060888",
			       "Resource not found for the segment '%s'.",
			       c.path);
	else if (parse_query(&c) < 0)
		rc = api_error(&c, 400, "0x80060888",
			       "Too many query parameters.");
	else
		rc = route(&c);
	ctx_release(&c);
	resp->status = rc;
	return rc;
}
