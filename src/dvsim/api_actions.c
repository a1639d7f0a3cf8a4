/*
 * api_actions.c: dvsim's user roles (associate and disassociate by $ref,
 * with the business unit rule), AddPrivilegesRole,
 * RetrieveRolePrivilegesRole and WhoAmI (docs/fidelity.md).
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

int api_user_roles(struct ctx *c, struct dv_row *user, const char *verb,
		   const char *roleid_seg, bool ref)
{
	struct dv_table *roles = dv_table(c->org, DV_ROLES);
	const struct dv_entity *uent = &dv_entities[DV_USERS];
	int rc;

	if (!strcmp(verb, "GET") && !ref && !roleid_seg) {
		struct rowvec rv = {0};

		if ((rc = api_need(c, "Read", uent, NULL)) ||
		    (rc = api_need(c, "Read", roles->ent, NULL)))
			return rc;
		api_coll_rows(c->org, COLL_USERROLES, user, &rv);
		rc = api_serve_collection(c, roles, &rv);
		free(rv.v);
		return rc;
	}
	if (!strcmp(verb, "POST") && ref && !roleid_seg) {
		cJSON *body = api_parse_body(c, uent);
		const char *url;
		char set[64], rid[37];
		struct dv_row *role;
		const char *ubu, *rbu, *rname;
		char lid[37];
		cJSON *o;

		if (!body)
			return c->resp->status;
		url = dv_str(body, "@odata.id");
		if (!url || !api_parse_bind_url(url, set, sizeof(set), rid) ||
		    strcmp(set, "roles")) {
			rc = api_error(c, 400, "0x80090800",
				       "The @odata.id '%s' is not a valid role "
				       "URL.",
				       url ? url : "");
			cJSON_Delete(body);
			return rc;
		}
		cJSON_Delete(body);
		role = dv_row_get(roles, rid);
		if (!role)
			return api_not_found(c, roles->ent, rid);
		if ((rc = api_need(c, "Write", uent, user)) ||
		    (rc = api_need(c, "Assign", roles->ent, NULL)))
			return rc;
		rname = dv_str(dv_role_root(c->org, role)->obj, "name");
		if (rname && !strcmp(rname, DV_ROLE_APPROVER) && c->req->caller)
			return api_error(
			    c, 403, "0x80090904",
			    "You must be an Office 365 Global "
			    "Administrator or an Exchange "
			    "Administrator to assign the Delegated "
			    "Mailbox Approver role.");
		ubu = dv_str(user->obj, "_businessunitid_value");
		rbu = dv_str(role->obj, "_businessunitid_value");
		if (ubu && rbu && strcmp(ubu, rbu))
			return api_error(
			    c, 400, "0x80040203",
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
		api_no_content(c, NULL);
		return 204;
	}
	if (!strcmp(verb, "DELETE") && ref) {
		char rid[37];
		struct dv_row *link;
		const char *idq = api_qget(c, "$id");
		char set[64];

		if (roleid_seg) {
			if (!dv_parse_guid(roleid_seg, strlen(roleid_seg), rid))
				return api_error(c, 400, "0x80060888",
						 "Bad Request - Error in query "
						 "syntax.");
		} else if (!idq ||
			   !api_parse_bind_url(idq, set, sizeof(set), rid) ||
			   strcmp(set, "roles")) {
			return api_error(
			    c, 400, "0x80090800",
			    "The $id '%s' is not a valid role URL.",
			    idq ? idq : "");
		}
		if (!dv_row_get(roles, rid))
			return api_not_found(c, roles->ent, rid);
		if ((rc = api_need(c, "Write", uent, user)) ||
		    (rc = api_need(c, "Assign", roles->ent, NULL)))
			return rc;
		link = user_role_link(c->org, user->id, rid);
		if (link)
			dv_row_delete(c->org, dv_table(c->org, DV_USERROLES),
				      link);
		api_no_content(c, NULL);
		return 204;
	}
	return api_error(c, 405, "0x80060888",
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

int api_add_privileges(struct ctx *c, struct dv_row *role)
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

	if ((rc = api_need(c, "Write", rent, role)))
		return rc;
	if (root != role)
		return api_error(c, 403, "0x80048405",
				 "The role %s (Id = %s) is inherited from the "
				 "parent business unit and cannot be edited; "
				 "change the root role (Id = %s) instead.",
				 dv_str(role->obj, "name"), role->id, root->id);
	body = api_parse_body(c, rent);
	if (!body)
		return c->resp->status;
	list = cJSON_GetObjectItemCaseSensitive(body, "Privileges");
	if (!cJSON_IsArray(list)) {
		cJSON_Delete(body);
		return api_payload_error(
		    c, rent,
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
			rc = api_payload_error(
			    c, rent, "A RolePrivilege must be an object.");
			break;
		}
		if (pid) {
			if (!dv_parse_guid(pid, strlen(pid), g)) {
				rc = api_payload_error(c, rent,
						       "PrivilegeId is not a "
						       "valid Guid.");
				break;
			}
			prv = dv_row_get(pt, g);
			if (!prv) {
				rc = api_not_found(c, pt->ent, g);
				break;
			}
		} else if (pname) {
			prv = dv_privilege_by_name(c->org, pname);
			if (!prv) {
				rc = api_error(
				    c, 404, "0x80040217",
				    "privilege With Name = %s Does Not "
				    "Exist",
				    pname);
				break;
			}
		} else {
			rc = api_payload_error(c, rent,
					       "A RolePrivilege needs a "
					       "PrivilegeId.");
			break;
		}
		if (bu) {
			if (!dv_parse_guid(bu, strlen(bu), g)) {
				rc =
				    api_payload_error(c, rent,
						      "BusinessUnitId is not a "
						      "valid Guid.");
				break;
			}
			if (!dv_row_get(bt, g)) {
				rc = api_not_found(c, bt->ent, g);
				break;
			}
		}
		d = parse_depth(cJSON_GetObjectItemCaseSensitive(it, "Depth"));
		if (d < 0) {
			const cJSON *dv =
			    cJSON_GetObjectItemCaseSensitive(it, "Depth");

			rc = api_payload_error(
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
			rc = api_error(
			    c, 400, "0x8004140b",
			    "Invalid privilege depth %s for privilege "
			    "%s (Id = %s): the privilege does not "
			    "support this depth.",
			    depth_names[d], dv_str(prv->obj, "name"), prv->id);
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
		api_no_content(c, NULL);
		rc = 204;
	}
	free(todo);
	return rc;
}

int api_retrieve_role_privileges(struct ctx *c, const char *args)
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
		return api_error(c, 400, "0x80060888",
				 "The parameter 'RoleId' of the function "
				 "'RetrieveRolePrivilegesRole' is missing.");
	v = args + 7;
	if (!dv_parse_guid(v, strlen(v), id))
		return api_error(
		    c, 400, "0x80060888",
		    "The value '%s' of the parameter 'RoleId' is not "
		    "a valid Guid.",
		    v);
	role = dv_row_get(rt, id);
	if (!role)
		return api_not_found(c, rt->ent, id);
	if ((rc = api_need(c, "Read", rt->ent, role)))
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
	api_json_reply(c, 200, out);
	return 200;
}

int api_who_am_i(struct ctx *c)
{
	struct dv_table *orgs = dv_table(c->org, DV_ORGS);
	struct dv_row *u = api_user_row(c->org, c->req->caller);
	struct buf ctxurl = BUF_INIT(1024);
	cJSON *out;

	if (!u)
		return api_error(
		    c, 401, "0x80040204",
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
	api_json_reply(c, 200, out);
	return 200;
}
