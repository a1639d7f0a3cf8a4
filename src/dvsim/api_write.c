/*
 * api_write.c: dvsim's PATCH and POST: values checked against each
 * column's type and range, @odata.bind, If-Match and If-None-Match, the
 * approval rules of mailboxes and their users or queues, new rows'
 * defaults (docs/fidelity.md; error codes chosen: api.c).
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
			return api_error(
			    c, 400, "0x80044331",
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
			st = api_error(
			    c, 400, "0x80044331",
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
	return api_payload_error(c, ent, detail);
}

/*
 * Parse an @odata.bind URL: absolute ("https://host/api/data/v9.2/x(id)"),
 * service-relative ("/api/data/v9.2/x(id)") or set-relative ("/x(id)",
 * "x(id)"). Fills the set name and the lower-case id.
 */
bool api_parse_bind_url(const char *url, char *set, size_t setlen, char id[37])
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
		return api_error(c, 400, "0x80048d19", "Too many attributes.");
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
				return api_unknown_property(c, ent, navname);
			if (!nav->writable)
				return api_read_only(c, ent, navname);
			a = dv_entity_attr(ent, nav->attr);
			if (cJSON_IsNull(it)) {
				if (!strcmp(nav->nav, "ownerid"))
					return api_error(
					    c, 400, "0x80040229",
					    "Invalid owner id: the "
					    "owner of a record cannot "
					    "be empty.");
				if ((rc = add_change(c, ch, a,
						     cJSON_CreateNull())))
					return rc;
				continue;
			}
			if (!cJSON_IsString(it) ||
			    !api_parse_bind_url(it->valuestring, set,
						sizeof(set), id) ||
			    strcmp(set, nav->target))
				return api_error(
				    c, 400, "0x80090800",
				    "The URL '%s' in the "
				    "'%s@odata.bind' annotation is "
				    "not valid: expected "
				    "/%s(<guid>).",
				    cJSON_IsString(it) ? it->valuestring : "",
				    navname, nav->target);
			tt = dv_table_by_set(c->org, set);
			if (!dv_row_get(tt, id))
				return api_not_found(c, tt->ent, id);
			if ((rc = add_change(c, ch, a, cJSON_CreateString(id))))
				return rc;
			continue;
		}
		if (at)
			continue; /* an annotation of a property */
		ch->nprops++;
		a = dv_entity_attr(ent, k);
		if (!a)
			return api_unknown_property(c, ent, k);
		if (a->type == DV_LOOKUP)
			return api_payload_error(
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
				return api_payload_error(
				    c, ent,
				    "The key in the request body does not "
				    "match the key in the URL.");
			continue;
		}
		if (a->flags & DV_RO)
			return api_read_only(c, ent, k);
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
		return api_deny(c, "prvApproveRejectEmailAddress", ent);
	if (!dv_user_has_role(c->org, caller, DV_ROLE_SYSADMIN) ||
	    !dv_user_has_role(c->org, caller, DV_ROLE_APPROVER))
		return api_error(c, 403, "0x8009000B",
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
				   api_user_bu(c->org, caller));
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
		if ((rc = api_need(c, "Write", ent, row)))
			return rc;
		if (own && ent->user_owned &&
		    strcmp(own->val->valuestring,
			   dv_str(row->obj, "_ownerid_value")
			       ? dv_str(row->obj, "_ownerid_value")
			       : "") &&
		    (rc = api_need(c, "Assign", ent, row)))
			return rc;
	} else if ((rc = api_need(c, "Create", ent, NULL))) {
		return rc;
	}

	/* statecode and statuscode must agree (0/1 Active, 1/2 Inactive) */
	if (st || sc) {
		int s = st ? st->val->valueint
			   : (row ? dv_int(row->obj, "statecode", 0) : 0);
		int u = sc ? sc->val->valueint : s + 1;

		if (u != s + 1)
			return api_error(
			    c, 400, "0x80048408",
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
		    api_user_bu(c->org, own->val->valuestring))
			dv_set_str(row->obj, "_owningbusinessunit_value",
				   api_user_bu(c->org, own->val->valuestring));
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
		int st = api_serve_row(c, t, row);

		if (st == 200 && created)
			c->resp->status = 201;
		buf_addf(&c->resp->headers, "OData-EntityId: %s\r\n", url);
		buf_addstr(&c->resp->headers,
			   "Preference-Applied: return=representation\r\n");
		return c->resp->status;
	}
	api_no_content(c, url);
	return 204;
}

cJSON *api_parse_body(struct ctx *c, const struct dv_entity *ent)
{
	cJSON *body;

	if (!c->req->body || !c->req->body_len) {
		api_payload_error(c, ent, "The request body is empty.");
		return NULL;
	}
	body = cJSON_ParseWithLength(c->req->body, c->req->body_len);
	if (!cJSON_IsObject(body)) {
		cJSON_Delete(body);
		api_payload_error(c, ent,
				  "Invalid JSON. A JSON object was expected in "
				  "the request body.");
		return NULL;
	}
	return body;
}

int api_do_patch(struct ctx *c, struct dv_table *t, const char *id)
{
	const char *im = dv_request_header(c->req, "If-Match");
	const char *inm = dv_request_header(c->req, "If-None-Match");
	struct dv_row *row = dv_row_get(t, id), *out = NULL;
	struct changes ch;
	cJSON *body;
	int rc;

	if (t->ent->readonly)
		return api_error(c, 405, "0x80060888",
				 "The '%s' entity does not support the Update "
				 "message.",
				 t->ent->logical);
	if (im) {
		if (!row)
			return api_not_found(c, t->ent, id);
		if (strcmp(im, "*")) {
			char want[48];

			snprintf(want, sizeof(want), "W/\"%.0f\"",
				 cJSON_GetNumberValue(
				     cJSON_GetObjectItemCaseSensitive(
					 row->obj, "versionnumber")));
			if (strcmp(im, want) && strcmp(im, want + 2))
				return api_error(
				    c, 412, "0x80060882",
				    "The version of the existing "
				    "record doesn't match the "
				    "RowVersion property provided.");
		}
	}
	if (inm && !strcmp(inm, "*") && row)
		return api_error(c, 412, "0x80040237",
				 "A record with matching key values already "
				 "exists.");
	body = api_parse_body(c, t->ent);
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

int api_do_create(struct ctx *c, struct dv_table *t)
{
	struct changes ch;
	struct dv_row *out = NULL;
	const char *given;
	char id[37];
	cJSON *body;
	int rc;

	if (t->ent->readonly)
		return api_error(c, 405, "0x80060888",
				 "The '%s' entity does not support the Create "
				 "message.",
				 t->ent->logical);
	body = api_parse_body(c, t->ent);
	if (!body)
		return c->resp->status;
	given = dv_str(body, t->ent->key);
	if (!given || !dv_parse_guid(given, strlen(given), id))
		dv_new_guid(c->org, id);
	if (dv_row_get(t, id)) {
		cJSON_Delete(body);
		return api_error(c, 412, "0x80040237",
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
