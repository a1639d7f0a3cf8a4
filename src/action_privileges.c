/*
 * grant_privileges: add privileges to a security role (KB 4015092).
 *
 * The row names a role (the root business unit's copy is the one that can
 * be edited) and a privilege template or list (privs.h). Everything it
 * reads goes through the engine's lookup cache, so a role named on many
 * rows costs one lookup of the role, one of the privileges and one of the
 * role's current privileges. The AddPrivilegesRole call carries a share
 * key: rows naming the same role and privileges are granted by one call,
 * whose outcome is reported on each of them. Privileges the role already
 * holds at the depth wanted (or deeper) are not sent; when nothing is
 * left the action is unchanged.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_util.h"
#include "action.h"
#include "plan_show.h"
#include "job.h"
#include "odata.h"
#include "privs.h"

#include "banned.h"

/* Per-row state: what the row wants, parsed once. */
struct grant {
	struct privs_list want;
	char notes[512]; /* depths raised, reported on the row */
};

static struct grant *grant_of(struct action_ctx *c, struct row_state *rs)
{
	struct grant *g = rs->priv[ACTION_GRANT_PRIVILEGES];
	const struct job *j = action_job(c);
	struct privs_dirs dirs;
	struct err e = ERR_INIT;
	int rc;

	if (g)
		return g;
	g = xcalloc(1, sizeof(*g));
	privs_list_init(&g->want);
	privs_dirs_for_job(&dirs, j ? j->path : NULL, j ? j->templates : NULL,
			   getenv("MBXFIX_TEMPLATES"));
	rc = privs_resolve_in(&g->want, rs->row->privileges, &dirs, &e);
	privs_dirs_release(&dirs);
	if (rc < 0) {
		privs_list_release(&g->want);
		free(g);
		action_fail(c, rs, "InvalidPrivileges", e.msg,
			    "name a template of templates/privileges/ or "
			    "list privileges as prvName[:depth];...");
		return NULL;
	}
	rs->priv[ACTION_GRANT_PRIVILEGES] = g;
	return g;
}

static void release(struct row_state *rs)
{
	struct grant *g = rs->priv[ACTION_GRANT_PRIVILEGES];

	if (!g)
		return;
	privs_list_release(&g->want);
	free(g);
	rs->priv[ACTION_GRANT_PRIVILEGES] = NULL;
}

/* The catalog lookup: ids and canbe* flags of every privilege wanted. */
static int catalog_url(struct buf *url, const struct privs_list *want,
		       struct err *e)
{
	struct buf expr = BUF_INIT(BUF_MAX_SMALL);
	const char **names = xcalloc(want->n ? want->n : 1, sizeof(*names));
	int rc;

	for (size_t i = 0; i < want->n; i++)
		names[i] = want->v[i].name;
	rc = odata_in_filter(&expr, "name", names, want->n, e);
	if (!rc)
		rc = actu_query(url, "privileges",
				"privilegeid,name,canbebasic,canbelocal,"
				"canbedeep,canbeglobal",
				expr.ptr);
	free(names);
	buf_release(&expr);
	return rc;
}

static enum action_step lookup_json(struct action_ctx *c, struct row_state *rs,
				    const char *url, const char *what,
				    const cJSON **out)
{
	bool pending = false;
	const char *err = NULL;

	*out = action_lookup(c, url, &pending, &err);
	if (*out)
		return ACTION_DONE;
	if (pending)
		return ACTION_WAIT;
	actu_fail_lookup(c, rs, what, err);
	return ACTION_FAILED;
}

static void note_on_row(struct row_state *rs, const struct grant *g)
{
	if (*g->notes && !*rs->error_code)
		action_hint(rs, g->notes);
}

/*
 * plan: the privileges the role lacks, with the depth each would get
 * ("role Salesperson lacks 2: prvReadMailbox Global, ...").
 */
static void show(struct row_state *rs, const char *role,
		 const struct privs_list *send)
{
	struct buf now = BUF_INIT(BUF_MAX_SMALL),
		   then = BUF_INIT(BUF_MAX_SMALL);

	role = role ? role : rs->row->role;
	if (!send->n) {
		buf_addf(&now, "role %s holds them", role);
		show_set(rs, ACTION_GRANT_PRIVILEGES, now.ptr, now.ptr);
		buf_release(&now);
		return;
	}
	buf_addf(&now, "role %s lacks %zu:", role, send->n);
	for (size_t i = 0; i < send->n; i++)
		buf_addf(&now, "%s %s %s", i ? "," : "", send->v[i].name,
			 privs_depth_name(send->v[i].depth));
	buf_addf(&then, "role %s: +%zu privilege%s", role, send->n,
		 send->n == 1 ? "" : "s");
	show_set(rs, ACTION_GRANT_PRIVILEGES, now.ptr, then.ptr);
	buf_release(&now);
	buf_release(&then);
}

static enum action_step plan(struct action_ctx *c, struct row_state *rs)
{
	struct grant *g = grant_of(c, rs);
	const cJSON *role = NULL, *cat_json, *held_json;
	struct privs_list cat = PRIVS_LIST_INIT, held = PRIVS_LIST_INIT;
	struct privs_list send = PRIVS_LIST_INIT;
	struct buf url = BUF_INIT(BUF_MAX_SMALL), notes = BUF_INIT(4096);
	struct err e = ERR_INIT;
	enum action_step st;
	const char *roleid, *buid;
	char *key = NULL;
	cJSON *body = NULL;

	if (!g)
		return ACTION_FAILED;
	/* the catalog and the role are independent: ask for both at once */
	if (catalog_url(&url, &g->want, &e) < 0) {
		action_fail(c, rs, "InvalidPrivileges", e.msg, NULL);
		st = ACTION_FAILED;
		goto out;
	}
	st = lookup_json(c, rs, url.ptr, "the privileges", &cat_json);
	if (st == ACTION_FAILED)
		goto out;
	switch (actu_role(c, rs, rs->row->role, &role)) {
	case ACTU_WAIT:
		st = ACTION_WAIT;
		goto out;
	case ACTU_FAILED:
		st = ACTION_FAILED;
		goto out;
	case ACTU_FOUND:
		break;
	}
	if (st != ACTION_DONE)
		goto out;
	roleid = actu_str(role, "roleid");
	buid = actu_str(role, "_businessunitid_value");

	buf_reset(&url);
	buf_addf(&url, "RetrieveRolePrivilegesRole(RoleId=%s)", roleid);
	st = lookup_json(c, rs, url.ptr, "the role's privileges", &held_json);
	if (st != ACTION_DONE)
		goto out;

	if (privs_catalog_from_json(&cat, cat_json, &e) < 0 ||
	    privs_held_from_json(&held, held_json, &e) < 0) {
		action_fail(c, rs, "LookupFailed", e.msg, NULL);
		st = ACTION_FAILED;
		goto out;
	}
	if (privs_plan(&g->want, &cat, &held, &send, &notes, &e) < 0) {
		action_fail(c, rs, "UnknownPrivilege", e.msg,
			    "check the privilege names (prvName, as in the "
			    "privileges table) in the template or the row");
		st = ACTION_FAILED;
		goto out;
	}
	snprintf(g->notes, sizeof(g->notes), "%s", notes.ptr);
	if (action_readonly(c))
		show(rs, actu_str(role, "name"), &send);
	if (!send.n) {
		note_on_row(rs, g);
		st = ACTION_UNCHANGED;
		goto out;
	}
	{
		struct buf b = BUF_INIT(BUF_MAX_BODY);

		privs_body(&send, buid, &b);
		body = cJSON_Parse(b.ptr);
		buf_release(&b);
	}
	if (!body)
		BUG("privs_body() wrote bad JSON");
	buf_reset(&url);
	buf_addf(&url, "roles(%s)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
		 roleid);
	{
		struct buf k = BUF_INIT(BUF_MAX_SMALL);

		buf_addf(&k, "grant:%s:%s", roleid, rs->row->privileges);
		key = buf_detach(&k, NULL);
	}
	action_emit(c, "POST", url.ptr, body, key, 0, 0);
	st = ACTION_SENT;
out:
	free(key);
	privs_list_release(&cat);
	privs_list_release(&held);
	privs_list_release(&send);
	buf_release(&url);
	buf_release(&notes);
	return st;
}

static enum action_step answer(struct action_ctx *c, struct row_state *rs,
			       const struct action_answer *a)
{
	const struct grant *g = rs->priv[ACTION_GRANT_PRIVILEGES];

	if (a->status < 200 || a->status >= 300)
		return actu_fail_write(c, rs, a, "grant_privileges");
	if (g)
		note_on_row(rs, g);
	return ACTION_DONE;
}

const struct action action_grant_privileges = {
    .name = "grant_privileges",
    .id = ACTION_GRANT_PRIVILEGES,
    .stage = 2,
    .columns = "",
    .plan = plan,
    .answer = answer,
    .release = release,
};
