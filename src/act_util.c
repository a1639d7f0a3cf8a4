#include "compat.h"

#include <string.h>
#include <strings.h>

#include "act_util.h"
#include "diagnose.h"
#include "odata.h"
#include "privs.h"

#include "banned.h"

/* The one piece of process state the actions share: set before a run. */
static bool diagnosing;

void actu_set_diagnose(bool on)
{
	diagnosing = on;
}

bool actu_diagnosing(void)
{
	return diagnosing;
}

const char *actu_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int actu_int(const cJSON *o, const char *name, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valueint : def;
}

cJSON *actu_json_int(int v)
{
	char digits[16];
	size_t i = sizeof(digits);
	unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;

	digits[--i] = '\0';
	do {
		digits[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		digits[--i] = '-';
	return cJSON_CreateRaw(digits + i);
}

enum action_step actu_bind(struct action_ctx *c, struct row_state *rs,
			   const char *have_col, const char *nav,
			   const char *set, const char *want)
{
	char name[96], bind[128];

	if (actu_guid_eq(want, actu_str(rs->mailbox, have_col)))
		return ACTION_UNCHANGED;
	snprintf(name, sizeof(name), "%s@odata.bind", nav);
	snprintf(bind, sizeof(bind), "/%s(%s)", set, want);
	action_patch_mailbox(c, name, cJSON_CreateString(bind));
	return ACTION_SENT;
}

bool actu_bool(const cJSON *o, const char *name, bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

bool actu_guid_eq(const char *a, const char *b)
{
	return a && b && *a && !strcasecmp(a, b);
}

int actu_query(struct buf *url, const char *set, const char *select,
	       const char *expr)
{
	if (buf_addf(url, "%s?$select=%s&$filter=", set, select) < 0)
		return -1;
	return odata_url_encode(url, expr, strlen(expr));
}

int actu_eq(struct buf *expr, const char *prop, const char *value, bool is_guid)
{
	if (buf_addf(expr, "%s eq ", prop) < 0)
		return -1;
	if (is_guid) {
		char g[ODATA_GUID_LEN + 1];

		if (odata_guid_normalize(g, value) < 0)
			return -1;
		return buf_addstr(expr, g);
	}
	return odata_quote(expr, value);
}

enum actu_res actu_fail_lookup(struct action_ctx *c, struct row_state *rs,
			       const char *what, const char *err)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "cannot look up %s: %s", what,
		 err && *err ? err : "no answer");
	action_fail(c, rs, "LookupFailed", msg, NULL);
	return ACTU_FAILED;
}

/*
 * Run the GET 'url' through the engine's cache; on ACTU_FOUND '*value' is
 * the answer's "value" array.
 */
static enum actu_res lookup(struct action_ctx *c, struct row_state *rs,
			    const char *url, const char *what,
			    const cJSON **value)
{
	bool pending = false;
	const char *err = NULL;
	const cJSON *j = action_lookup(c, url, &pending, &err);

	if (!j)
		return pending ? ACTU_WAIT : actu_fail_lookup(c, rs, what, err);
	*value = cJSON_GetObjectItemCaseSensitive(j, "value");
	if (!cJSON_IsArray(*value))
		return actu_fail_lookup(c, rs, what, "answer without 'value'");
	return ACTU_FOUND;
}

/* The GET of the rows of 'set' whose 'prop' is 'value'. */
static int eq_url(struct buf *url, const char *set, const char *select,
		  const char *prop, const char *value, bool is_guid)
{
	struct buf expr = BUF_INIT(BUF_MAX_SMALL);
	int rc = -1;

	if (actu_eq(&expr, prop, value, is_guid) == 0 &&
	    actu_query(url, set, select, expr.ptr) == 0)
		rc = 0;
	buf_release(&expr);
	return rc;
}

static enum actu_res query(struct action_ctx *c, struct row_state *rs,
			   const char *set, const char *select,
			   const char *prop, const char *value, bool is_guid,
			   const char *what, const cJSON **arr)
{
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	enum actu_res r;

	if (eq_url(&url, set, select, prop, value, is_guid) < 0)
		r = actu_fail_lookup(c, rs, what, "value too long");
	else
		r = lookup(c, rs, url.ptr, what, arr);
	buf_release(&url);
	return r;
}

#define PROFILE_SELECT ACTU_PROFILE_SELECT

int actu_profile_url(struct buf *url, const char *name_or_id)
{
	bool is_id = odata_is_guid(name_or_id);

	return eq_url(url, "emailserverprofiles", PROFILE_SELECT,
		      is_id ? "emailserverprofileid" : "name", name_or_id,
		      is_id);
}

enum actu_res actu_profile(struct action_ctx *c, struct row_state *rs,
			   const char *name_or_id, const cJSON **row)
{
	bool is_id = odata_is_guid(name_or_id);
	const cJSON *arr, *it;
	enum actu_res r;
	char msg[512];
	int n;

	r = query(c, rs, "emailserverprofiles", PROFILE_SELECT,
		  is_id ? "emailserverprofileid" : "name", name_or_id, is_id,
		  "the email server profile", &arr);
	if (r != ACTU_FOUND)
		return r;
	n = cJSON_GetArraySize(arr);
	if (n == 0) {
		snprintf(msg, sizeof(msg), "no email server profile '%s'",
			 name_or_id);
		action_fail(c, rs, "UnknownProfile", msg,
			    "name an existing email server profile (its "
			    "name or id) in the profile column");
		return ACTU_FAILED;
	}
	if (n > 1) {
		snprintf(msg, sizeof(msg),
			 "%d email server profiles are named '%s'", n,
			 name_or_id);
		action_fail(c, rs, "AmbiguousProfile", msg,
			    "name the profile by its id "
			    "(emailserverprofileid) instead");
		return ACTU_FAILED;
	}
	it = cJSON_GetArrayItem(arr, 0);
	if (actu_int(it, "statecode", 0) != 0) {
		snprintf(
		    msg, sizeof(msg), "email server profile '%s' is inactive",
		    actu_str(it, "name") ? actu_str(it, "name") : name_or_id);
		action_fail(c, rs, "InactiveProfile", msg,
			    "activate the profile in Dynamics 365 or name "
			    "an active one");
		return ACTU_FAILED;
	}
	*row = it;
	return ACTU_FOUND;
}

#define USER_SELECT ACTU_USER_SELECT

int actu_user_url(struct buf *url, const char *who)
{
	struct buf expr = BUF_INIT(BUF_MAX_SMALL);
	int rc = -1;

	if (odata_is_guid(who))
		return eq_url(url, "systemusers", USER_SELECT, "systemuserid",
			      who, true);
	/* UPN or primary email, whichever the admin wrote */
	if (actu_eq(&expr, "domainname", who, false) == 0 &&
	    buf_addstr(&expr, " or ") == 0 &&
	    actu_eq(&expr, "internalemailaddress", who, false) == 0 &&
	    actu_query(url, "systemusers", USER_SELECT, expr.ptr) == 0)
		rc = 0;
	buf_release(&expr);
	return rc;
}

enum actu_res actu_user(struct action_ctx *c, struct row_state *rs,
			const char *who, const cJSON **row)
{
	const cJSON *arr, *it, *first = NULL;
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	enum actu_res r;
	char msg[512];
	int distinct = 0;

	if (actu_user_url(&url, who) < 0)
		r = actu_fail_lookup(c, rs, "the owner", "value too long");
	else
		r = lookup(c, rs, url.ptr, "the owner", &arr);
	buf_release(&url);
	if (r != ACTU_FOUND)
		return r;
	cJSON_ArrayForEach(it, arr)
	{
		if (!first) {
			first = it;
			distinct = 1;
		} else if (!actu_guid_eq(actu_str(first, "systemuserid"),
					 actu_str(it, "systemuserid"))) {
			distinct++;
		}
	}
	if (!first) {
		snprintf(msg, sizeof(msg), "no user '%s'", who);
		action_fail(c, rs, "UnknownUser", msg,
			    "name the owner by UPN, primary email or "
			    "systemuserid");
		return ACTU_FAILED;
	}
	if (distinct > 1) {
		snprintf(msg, sizeof(msg), "%d users match '%s'", distinct,
			 who);
		action_fail(c, rs, "AmbiguousUser", msg,
			    "name the owner by its systemuserid instead");
		return ACTU_FAILED;
	}
	*row = first;
	return ACTU_FOUND;
}

enum actu_res actu_regarding_is_user(struct action_ctx *c, struct row_state *rs,
				     bool *is_user)
{
	const char *id = actu_str(rs->mailbox, "_regardingobjectid_value");
	const char *kind = actu_str(
	    rs->mailbox, "_regardingobjectid_value@Microsoft.Dynamics.CRM."
			 "lookuplogicalname");
	const cJSON *arr;
	enum actu_res r;

	if (!id || !odata_is_guid(id)) {
		action_fail(c, rs, "NoMailboxUser",
			    "the mailbox has no user or queue (regarding "
			    "object)",
			    "name the owner in the owner column");
		return ACTU_FAILED;
	}
	if (kind) {
		*is_user = !strcmp(kind, "systemuser");
		return ACTU_FOUND;
	}
	r = query(c, rs, "systemusers", "systemuserid", "systemuserid", id,
		  true, "the mailbox's user", &arr);
	if (r == ACTU_FOUND)
		*is_user = cJSON_GetArraySize(arr) > 0;
	return r;
}

#define ROLE_SELECT ACTU_ROLE_SELECT

int actu_role_url(struct buf *url, const char *name_or_id)
{
	bool is_id = odata_is_guid(name_or_id);

	return eq_url(url, "roles", ROLE_SELECT, is_id ? "roleid" : "name",
		      name_or_id, is_id);
}

static bool is_root_role(const cJSON *it)
{
	const char *root = actu_str(it, "_parentrootroleid_value");

	/* no parentrootroleid at all: nothing says it is a copy */
	return !root || actu_guid_eq(root, actu_str(it, "roleid"));
}

enum actu_res actu_role(struct action_ctx *c, struct row_state *rs,
			const char *name_or_id, const cJSON **row)
{
	bool is_id = odata_is_guid(name_or_id);
	const cJSON *arr, *it, *found = NULL;
	enum actu_res r;
	char msg[512];
	int roots = 0;

	r = query(c, rs, "roles", ROLE_SELECT, is_id ? "roleid" : "name",
		  name_or_id, is_id, "the security role", &arr);
	if (r != ACTU_FOUND)
		return r;
	cJSON_ArrayForEach(it, arr)
	{
		if (is_root_role(it)) {
			roots++;
			found = it;
		}
	}
	if (is_id && !found && cJSON_GetArraySize(arr) == 1) {
		/* a business unit's copy, named by id: go to its root */
		const char *root = actu_str(cJSON_GetArrayItem(arr, 0),
					    "_parentrootroleid_value");

		return actu_role(c, rs, root, row);
	}
	if (!roots) {
		snprintf(msg, sizeof(msg), "no security role '%s'", name_or_id);
		action_fail(c, rs, "UnknownRole", msg,
			    "name an existing security role (its name or "
			    "id) in the role column");
		return ACTU_FAILED;
	}
	if (roots > 1) {
		snprintf(msg, sizeof(msg),
			 "%d security roles named '%s' are not business "
			 "unit copies of one role",
			 roots, name_or_id);
		action_fail(c, rs, "AmbiguousRole", msg,
			    "name the role of the root business unit by its "
			    "roleid instead");
		return ACTU_FAILED;
	}
	*row = found;
	return ACTU_FOUND;
}

enum action_step actu_fail_write(struct action_ctx *c, struct row_state *rs,
				 const struct action_answer *a,
				 const char *action)
{
	struct diag d;

	diagnose_write_error(a->code, a->message, action, &d);
	return action_fail_answer(c, rs, a, *d.hint ? d.hint : NULL);
}

/*
 * Verifying a write of unknown fate. A PATCH "set(id)" is read back as
 * "set(id)?$select=" its columns, a lookup bound with "nav@odata.bind"
 * as its value column "_nav_value"; AddPrivilegesRole on "roles(id)" as
 * RetrieveRolePrivilegesRole(RoleId=id).
 */
#define ADD_PRIVILEGES "/Microsoft.Dynamics.CRM.AddPrivilegesRole"

/* "set(id)" with nothing after: the length of "set(id)", else 0 */
static size_t row_url_len(const char *url)
{
	const char *open = strchr(url, '('), *close = strchr(url, ')');

	if (!open || !close || close < open || strchr(url, '?') ||
	    strchr(url, '/'))
		return 0;
	return (size_t)(close - url) + 1;
}

/* the column a PATCH member writes: "_nav_value" for a bound lookup */
static void written_column(struct buf *out, const char *member)
{
	const char *at = strstr(member, "@odata.bind");

	if (at && !at[11])
		buf_addf(out, "_%.*s_value", (int)(at - member), member);
	else
		buf_addstr(out, member);
}

int actu_verify_url(const char *method, const char *url, const char *body,
		    struct buf *out)
{
	size_t len = strlen(url), tail = strlen(ADD_PRIVILEGES);

	if (!strcmp(method, "POST") && len > tail &&
	    !strcmp(url + len - tail, ADD_PRIVILEGES) &&
	    !strncmp(url, "roles(", 6) && url[len - tail - 1] == ')') {
		buf_addf(out, "RetrieveRolePrivilegesRole(RoleId=%.*s)",
			 (int)(len - tail - 7), url + 6);
		return 0;
	}
	if (!strcmp(method, "PATCH") && row_url_len(url)) {
		cJSON *b = body ? cJSON_Parse(body) : NULL, *m;
		char sep = '?';
		int n = 0;

		buf_addstr(out, url);
		cJSON_ArrayForEach(m, b)
		{
			if (!m->string || m->string[0] == '@')
				continue;
			buf_addstr(out, sep == '?' ? "?$select=" : ",");
			sep = ',';
			written_column(out, m->string);
			n++;
		}
		cJSON_Delete(b);
		return n ? 0 : -1;
	}
	return -1;
}

/* the GUID of a bind value "/set(guid)" */
static bool bind_guid(const char *v, char *out, size_t size)
{
	const char *open = v ? strrchr(v, '(') : NULL;
	const char *close = open ? strchr(open, ')') : NULL;

	if (!close || (size_t)(close - open) > size)
		return false;
	snprintf(out, size, "%.*s", (int)(close - open - 1), open + 1);
	return true;
}

static bool value_holds(const cJSON *want, const char *member,
			const cJSON *read)
{
	struct buf col = BUF_INIT(BUF_MAX_SMALL);
	const cJSON *have;
	bool ok = false;

	written_column(&col, member);
	have = cJSON_GetObjectItemCaseSensitive(read, col.ptr);
	if (strcmp(col.ptr, member)) {
		char id[48];

		ok = cJSON_IsString(want) &&
		     bind_guid(want->valuestring, id, sizeof(id)) &&
		     actu_guid_eq(id, cJSON_GetStringValue(have));
	} else if (cJSON_IsNumber(want)) {
		ok = cJSON_IsNumber(have) &&
		     cJSON_GetNumberValue(have) == cJSON_GetNumberValue(want);
	} else if (cJSON_IsBool(want)) {
		ok = cJSON_IsBool(have) &&
		     cJSON_IsTrue(have) == cJSON_IsTrue(want);
	} else if (cJSON_IsString(want)) {
		ok = cJSON_IsString(have) &&
		     !strcmp(have->valuestring, want->valuestring);
	} else if (cJSON_IsNull(want)) {
		ok = !have || cJSON_IsNull(have);
	}
	buf_release(&col);
	return ok;
}

static int depth_of(const cJSON *d)
{
	int depth = -1;

	if (cJSON_IsNumber(d))
		return d->valueint;
	if (cJSON_IsString(d) && privs_depth_parse(d->valuestring, &depth) < 0)
		return -1;
	return depth;
}

/* every privilege of the AddPrivilegesRole body held at its depth */
static bool privileges_held(const cJSON *body, const cJSON *read)
{
	const cJSON *want, *have;

	cJSON_ArrayForEach(want,
			   cJSON_GetObjectItemCaseSensitive(body, "Privileges"))
	{
		const char *id = actu_str(want, "PrivilegeId");
		int depth =
		    depth_of(cJSON_GetObjectItemCaseSensitive(want, "Depth"));
		bool found = false;

		cJSON_ArrayForEach(have, cJSON_GetObjectItemCaseSensitive(
					     read, "RolePrivileges"))
		{
			int d = depth_of(
			    cJSON_GetObjectItemCaseSensitive(have, "Depth"));

			/* Basic < Local < Deep < Global; others must match */
			if (actu_guid_eq(id, actu_str(have, "PrivilegeId")) &&
			    (d == depth ||
			     (depth <= 3 && d >= depth && d <= 3)))
				found = true;
		}
		if (!found)
			return false;
	}
	return true;
}

bool actu_write_holds(const char *method, const char *url, const char *body,
		      const cJSON *read)
{
	cJSON *b = body ? cJSON_Parse(body) : NULL;
	const cJSON *m;
	bool ok = cJSON_IsObject(b) && cJSON_IsObject(read);

	if (ok && !strcmp(method, "POST")) {
		ok = privileges_held(b, read);
	} else if (ok) {
		cJSON_ArrayForEach(m, b)
		{
			if (m->string && m->string[0] != '@' &&
			    !value_holds(m, m->string, read))
				ok = false;
		}
	}
	(void)url;
	cJSON_Delete(b);
	return ok;
}
