/*
 * graph.c: dvsim's Microsoft Graph (graph.h; docs/fidelity.md,
 * "Microsoft Graph").
 */
#include "compat.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "dvsim/graph.h"
#include "dvsim/org.h"

#include "banned.h"

#define GRAPH_BATCH_MAX 20
#define DEFAULT_TENANT_ID "9188040d-6c67-4c5b-b112-36a304b66dad"
/* the Exchange Online (Plan 1) service plan id in assignedPlans */
#define EXO_PLAN_ID "9aaf7827-d63c-4b61-89c3-182f06f82e5c"
#define SPO_PLAN_ID "5dbe027f-2339-4123-9542-606e4d348a72"

struct dv_graph {
	pthread_mutex_t mu;
	long limit;
	long window; /* the second being counted */
	long used;   /* requests in it */
};

struct dv_graph *dv_graph_new(long limit)
{
	struct dv_graph *g = xcalloc(1, sizeof(*g));

	pthread_mutex_init(&g->mu, NULL);
	g->limit = limit;
	return g;
}

void dv_graph_free(struct dv_graph *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/* One more request in this second; false when over the limit. */
static bool admit(struct dv_graph *g, long now_ms, bool peek)
{
	bool ok;

	if (g->limit <= 0)
		return true;
	pthread_mutex_lock(&g->mu);
	if (now_ms / 1000 != g->window) {
		g->window = now_ms / 1000;
		g->used = 0;
	}
	ok = g->used < g->limit;
	if (ok && !peek)
		g->used++;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

/* The tenant ----------------------------------------------------------- */

static const cJSON *tenant_of(struct dv_org *org)
{
	return cJSON_GetObjectItemCaseSensitive(org->sim, "tenant");
}

const char *dv_graph_tenant_id(struct dv_org *org)
{
	const char *id = dv_str(tenant_of(org), "id");

	return id ? id : DEFAULT_TENANT_ID;
}

/* The verified domains: the tenant's, or contoso's by default. */
static bool domain_verified(struct dv_org *org, const char *domain)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(tenant_of(org),
							  "domains"),
		    *it;

	if (!d)
		return !strcasecmp(domain, "contoso.com") ||
		       !strcasecmp(domain, "contoso.onmicrosoft.com");
	cJSON_ArrayForEach(it, d)
	{
		if (cJSON_IsString(it) && !strcasecmp(it->valuestring, domain))
			return true;
	}
	return false;
}

bool dv_graph_tenant_is(struct dv_org *org, const char *name)
{
	return !strcasecmp(name, dv_graph_tenant_id(org)) ||
	       domain_verified(org, name);
}

static cJSON *organization(struct dv_org *org)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(tenant_of(org),
							  "domains"),
		    *it;
	cJSON *o = cJSON_CreateObject(), *doms;
	bool first = true;

	cJSON_AddStringToObject(o, "id", dv_graph_tenant_id(org));
	cJSON_AddStringToObject(o, "displayName", "Contoso");
	doms = cJSON_AddArrayToObject(o, "verifiedDomains");
	if (!d) {
		cJSON *dd = cJSON_CreateArray();

		cJSON_AddItemToArray(dd, cJSON_CreateString("contoso.com"));
		cJSON_AddItemToArray(
		    dd, cJSON_CreateString("contoso.onmicrosoft.com"));
		d = dd;
		cJSON_ArrayForEach(it, d)
		{
			cJSON *v = cJSON_CreateObject();

			cJSON_AddStringToObject(v, "name", it->valuestring);
			cJSON_AddBoolToObject(v, "isDefault", first);
			cJSON_AddBoolToObject(
			    v, "isInitial",
			    strstr(it->valuestring, ".onmicrosoft.com") !=
				NULL);
			cJSON_AddStringToObject(v, "type", "Managed");
			cJSON_AddItemToArray(doms, v);
			first = false;
		}
		cJSON_Delete(dd);
		return o;
	}
	cJSON_ArrayForEach(it, d)
	{
		cJSON *v;

		if (!cJSON_IsString(it))
			continue;
		v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "name", it->valuestring);
		cJSON_AddBoolToObject(v, "isDefault", first);
		cJSON_AddBoolToObject(
		    v, "isInitial",
		    strstr(it->valuestring, ".onmicrosoft.com") != NULL);
		cJSON_AddStringToObject(v, "type", "Managed");
		cJSON_AddItemToArray(doms, v);
		first = false;
	}
	return o;
}

/* Users ---------------------------------------------------------------- */

/*
 * The Entra object id of a user: the Exchange side's "objectid" when the
 * organisation file gives one; for a recreated user a new id derived from
 * the old one (the old object is gone); else the Dataverse user's.
 */
static void entra_id(const struct dv_row *u, const cJSON *x, char out[37])
{
	const char *given = dv_str(x, "objectid");
	const char *aad = dv_str(u->obj, "azureactivedirectoryobjectid");

	snprintf(out, 37, "%s", given ? given : aad ? aad : u->id);
	if (!given && dv_bool(x, "recreated")) {
		/* the same hex digits, reversed (dashes kept): stable and
		   different */
		char hex[37];
		size_t n = 0, k = 0;

		for (size_t i = 0; out[i]; i++)
			if (out[i] != '-')
				hex[n++] = out[i];
		for (size_t i = 0; out[i]; i++)
			if (out[i] != '-')
				out[i] = hex[n - 1 - k++];
		if (!strcmp(out, aad ? aad : ""))
			out[0] = out[0] == 'f' ? 'e' : 'f';
	}
}

static bool is_entra_user(const struct dv_row *u)
{
	return !dv_str(u->obj, "applicationid");
}

/* The Entra user 'key' (object id or UPN), or NULL. */
static struct dv_row *find_user(struct dv_org *org, const char *key,
				const cJSON **x)
{
	struct dv_table *t = dv_table(org, DV_USERS);
	struct dv_index *ix = dv_table_index(t, "domainname");
	char lower[320];

	*x = NULL;
	snprintf(lower, sizeof(lower), "%s", key);
	dv_lower(lower);
	if (strchr(key, '@')) {
		for (struct hent *e = ix ? dv_index_find(ix, lower) : NULL; e;
		     e = hmap_next(e, lower))
			if (!e->row->dead && is_entra_user(e->row)) {
				*x = dv_sim_exchange(org, e->row->id);
				return e->row;
			}
		if (ix)
			return NULL;
	}
	for (size_t i = 0; i < t->n; i++) {
		struct dv_row *u = t->rows[i];
		char id[37];

		if (u->dead || !is_entra_user(u))
			continue;
		if (strchr(key, '@')) {
			const char *upn = dv_str(u->obj, "domainname");

			if (upn && !strcasecmp(upn, key)) {
				*x = dv_sim_exchange(org, u->id);
				return u;
			}
			continue;
		}
		entra_id(u, dv_sim_exchange(org, u->id), id);
		if (!strcasecmp(id, key)) {
			*x = dv_sim_exchange(org, u->id);
			return u;
		}
	}
	return NULL;
}

static void add_plan(cJSON *plans, const char *service, const char *status,
		     const char *id)
{
	cJSON *p = cJSON_CreateObject();

	cJSON_AddStringToObject(p, "assignedDateTime", "2025-01-06T09:00:00Z");
	cJSON_AddStringToObject(p, "capabilityStatus", status);
	cJSON_AddStringToObject(p, "service", service);
	cJSON_AddStringToObject(p, "servicePlanId", id);
	cJSON_AddItemToArray(plans, p);
}

/* The user resource as Graph shows it, every property. */
static cJSON *user_json(const struct dv_row *u, const cJSON *x)
{
	cJSON *o = cJSON_CreateObject(), *proxies, *plans;
	const char *upn = dv_str(u->obj, "domainname");
	const char *addr = dv_str(x, "address");
	const char *loc = dv_str(x, "location");
	bool online = !loc || strcmp(loc, "onprem");
	bool elsewhere = dv_str(x, "tenant") != NULL;
	char id[37], onms[320];

	entra_id(u, x, id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "userPrincipalName", upn ? upn : "");
	cJSON_AddStringToObject(
	    o, "displayName",
	    dv_str(u->obj, "fullname") ? dv_str(u->obj, "fullname") : "");
	cJSON_AddStringToObject(o, "userType", "Member");
	cJSON_AddBoolToObject(o, "accountEnabled",
			      !dv_bool(u->obj, "isdisabled"));
	proxies = cJSON_AddArrayToObject(o, "proxyAddresses");
	plans = cJSON_AddArrayToObject(o, "assignedPlans");
	add_plan(plans, "SharePoint", "Enabled", SPO_PLAN_ID);
	if (!x || elsewhere) {
		/* no mailbox in this tenant */
		cJSON_AddNullToObject(o, "mail");
		return o;
	}
	if (addr) {
		const char *at = strchr(addr, '@');

		cJSON_AddStringToObject(o, "mail", addr);
		snprintf(onms, sizeof(onms), "SMTP:%s", addr);
		cJSON_AddItemToArray(proxies, cJSON_CreateString(onms));
		if (at && strcasecmp(at + 1, "contoso.onmicrosoft.com")) {
			snprintf(onms, sizeof(onms),
				 "smtp:%.*s@contoso.onmicrosoft.com",
				 (int)(at - addr), addr);
			cJSON_AddItemToArray(proxies, cJSON_CreateString(onms));
		}
	} else {
		cJSON_AddNullToObject(o, "mail");
	}
	if (online &&
	    !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(x, "licensed")))
		add_plan(plans, "exchange", "Enabled", EXO_PLAN_ID);
	else if (online)
		/* the licence was removed: the plan stays, deleted */
		add_plan(plans, "exchange", "Deleted", EXO_PLAN_ID);
	return o;
}

/* Keep only the properties $select names (id always). */
static void apply_select(cJSON *o, const char *query)
{
	const char *sel = query ? strstr(query, "$select=") : NULL;
	char list[512];
	cJSON *it, *next;

	if (!sel)
		return;
	sel += strlen("$select=");
	snprintf(list, sizeof(list), "%.*s", (int)strcspn(sel, "&"), sel);
	for (it = o->child; it; it = next) {
		const char *p = list;
		bool keep = !strcmp(it->string, "id");

		next = it->next;
		while (*p && !keep) {
			size_t len = strcspn(p, ",");

			keep = strlen(it->string) == len &&
			       !strncasecmp(p, it->string, len);
			p += len + (p[len] == ',');
		}
		if (!keep)
			cJSON_DeleteItemFromObjectCaseSensitive(o, it->string);
	}
}

/* Answers -------------------------------------------------------------- */

struct answer {
	int status;
	cJSON *body;
	long retry_after; /* -1: none */
};

static cJSON *error_body(const char *code, const char *msg, long now_ms)
{
	cJSON *root = cJSON_CreateObject(), *err, *inner;
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	char date[32];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", msg);
	inner = cJSON_AddObjectToObject(err, "innerError");
	cJSON_AddStringToObject(inner, "date", date);
	cJSON_AddStringToObject(inner, "request-id",
				"7c3f2a10-0d1e-4c55-9a0b-2f6d5e4c3b2a");
	return root;
}

static void fail(struct answer *a, int status, const char *code,
		 const char *msg, long now_ms)
{
	a->status = status;
	a->body = error_body(code, msg, now_ms);
	a->retry_after = -1;
}

static bool has_role(const cJSON *claims, const char *const *roles)
{
	const cJSON *it;

	if (!claims) /* dvsim without clients: no sign-in at all */
		return true;
	cJSON_ArrayForEach(it,
			   cJSON_GetObjectItemCaseSensitive(claims, "roles"))
	{
		for (size_t i = 0; roles[i]; i++)
			if (cJSON_IsString(it) &&
			    !strcmp(it->valuestring, roles[i]))
				return true;
	}
	return false;
}

static void percent_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '%' && s[1] && s[2]) {
			char hex[3] = {s[1], s[2], 0};
			char *end;
			long v = strtol(hex, &end, 16);

			if (!*end) {
				*o++ = (char)v;
				s += 2;
				continue;
			}
		}
		*o++ = *s;
	}
	*o = '\0';
}

/* One GET (alone or inside a batch): path after /v1.0, raw query. */
static void serve_get(struct dv_graph *g, struct dv_org *org, struct stats *st,
		      const cJSON *claims, const char *path, const char *query,
		      long now_ms, struct answer *a)
{
	static const char *const user_roles[] = {
	    "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
	    "Directory.ReadWrite.All", NULL};
	static const char *const org_roles[] = {
	    "Organization.Read.All", "Organization.ReadWrite.All",
	    "Directory.Read.All", "Directory.ReadWrite.All", NULL};

	a->retry_after = -1;
	if (!admit(g, now_ms, false)) {
		stats_add(st, STATS_GRAPH_429, 1);
		fail(a, 429, "TooManyRequests",
		     "Too many requests; retry after the time Retry-After "
		     "says.",
		     now_ms);
		a->retry_after = 1;
		return;
	}
	if (!strncmp(path, "/users/", 7) && path[7]) {
		char *key = xstrdup(path + 7);
		const cJSON *x;
		struct dv_row *u;

		stats_add(st, STATS_GRAPH_USERS, 1);
		percent_decode(key);
		if (!has_role(claims, user_roles)) {
			stats_add(st, STATS_GRAPH_403, 1);
			fail(a, 403, "Authorization_RequestDenied",
			     "Insufficient privileges to complete the "
			     "operation.",
			     now_ms);
			free(key);
			return;
		}
		dv_org_lock(org);
		u = find_user(org, key, &x);
		if (!u) {
			char msg[512];

			snprintf(msg, sizeof(msg),
				 "Resource '%.300s' does not exist or one of "
				 "its queried reference-property objects are "
				 "not present.",
				 key);
			fail(a, 404, "Request_ResourceNotFound", msg, now_ms);
		} else {
			a->status = 200;
			a->body = user_json(u, x);
		}
		dv_org_unlock(org);
		free(key);
		if (a->status == 200)
			apply_select(a->body, query);
		return;
	}
	if (!strcmp(path, "/organization")) {
		cJSON *list;

		if (!has_role(claims, org_roles)) {
			stats_add(st, STATS_GRAPH_403, 1);
			fail(a, 403, "Authorization_RequestDenied",
			     "Insufficient privileges to complete the "
			     "operation.",
			     now_ms);
			return;
		}
		a->status = 200;
		a->body = cJSON_CreateObject();
		list = cJSON_AddArrayToObject(a->body, "value");
		dv_org_lock(org);
		cJSON_AddItemToArray(list, organization(org));
		dv_org_unlock(org);
		apply_select(cJSON_GetArrayItem(list, 0), query);
		return;
	}
	fail(a, 400, "BadRequest",
	     "Resource not found for the segment in the request URL.", now_ms);
}

static void set_json(struct dv_response *resp, int status, cJSON *body,
		     long retry_after)
{
	char *text = cJSON_PrintUnformatted(body);

	dv_response_reset(resp);
	resp->status = status;
	buf_addstr(&resp->headers, "Content-Type: application/json; "
				   "odata.metadata=minimal; charset=utf-8\r\n");
	if (retry_after >= 0)
		buf_addf(&resp->headers, "Retry-After: %ld\r\n", retry_after);
	if (text)
		buf_addstr(&resp->body, text);
	cJSON_free(text);
	cJSON_Delete(body);
}

static void serve_batch(struct dv_graph *g, struct dv_org *org,
			struct stats *st, const cJSON *claims,
			const struct dv_graph_req *req,
			struct dv_response *resp)
{
	cJSON *in = cJSON_ParseWithLength(req->body, req->body_len);
	const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(in, "requests");
	cJSON *out, *arr;
	int n = cJSON_GetArraySize(reqs);
	struct answer *ans;
	const cJSON **items;
	int k = 0;
	const cJSON *it;

	stats_add(st, STATS_GRAPH_BATCHES, 1);
	if (!cJSON_IsArray(reqs) || n == 0) {
		set_json(resp, 400,
			 error_body("BadRequest",
				    "Invalid batch payload format.",
				    req->now_ms),
			 -1);
		goto out;
	}
	if (n > GRAPH_BATCH_MAX) {
		set_json(resp, 400,
			 error_body("BadRequest",
				    "Limit of requests per batch exceeded: at "
				    "most 20.",
				    req->now_ms),
			 -1);
		goto out;
	}
	/* the budget is spent already: the whole batch is throttled */
	if (!admit(g, req->now_ms, true)) {
		stats_add(st, STATS_GRAPH_429, 1);
		stats_add(st, STATS_GRAPH_429_BATCH, 1);
		set_json(resp, 429,
			 error_body("TooManyRequests",
				    "Too many requests; retry after the time "
				    "Retry-After says.",
				    req->now_ms),
			 1);
		goto out;
	}
	items = xcalloc((size_t)n, sizeof(*items));
	ans = xcalloc((size_t)n, sizeof(*ans));
	cJSON_ArrayForEach(it, reqs)
	{
		const char *id = dv_str(it, "id"), *m = dv_str(it, "method"),
			   *url = dv_str(it, "url");

		for (int j = 0; j < k && id; j++)
			if (!strcmp(dv_str(items[j], "id"), id))
				id = NULL;
		if (!id || !m || !url) {
			free(items);
			free(ans);
			set_json(resp, 400,
				 error_body("BadRequest",
					    "Each request needs a unique id, "
					    "a method and a url.",
					    req->now_ms),
				 -1);
			goto out;
		}
		items[k++] = it;
	}
	for (int i = 0; i < n; i++) {
		const char *m = dv_str(items[i], "method");
		const char *url = dv_str(items[i], "url");
		size_t plen = strcspn(url, "?");
		char *path;

		if (!strncmp(url, "/v1.0/", 6))
			url += 5;
		plen = strcspn(url, "?");
		path = xstrndup(url, plen);
		if (strcasecmp(m, "GET"))
			fail(&ans[i], 405, "Request_BadRequest",
			     "dvsim serves GET requests only in a batch.",
			     req->now_ms);
		else
			serve_get(g, org, st, claims, path,
				  url[plen] ? url + plen + 1 : NULL,
				  req->now_ms, &ans[i]);
		free(path);
	}
	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "responses");
	/* in reverse: the order of answers is not the order of requests */
	for (int i = n - 1; i >= 0; i--) {
		cJSON *r = cJSON_CreateObject(), *h;

		cJSON_AddStringToObject(r, "id", dv_str(items[i], "id"));
		cJSON_AddNumberToObject(r, "status", ans[i].status);
		h = cJSON_AddObjectToObject(r, "headers");
		cJSON_AddStringToObject(h, "Content-Type", "application/json");
		if (ans[i].retry_after >= 0) {
			char v[24];

			snprintf(v, sizeof(v), "%ld", ans[i].retry_after);
			cJSON_AddStringToObject(h, "Retry-After", v);
		}
		cJSON_AddItemToObject(r, "body", ans[i].body);
		cJSON_AddItemToArray(arr, r);
	}
	set_json(resp, 200, out, -1);
	free(items);
	free(ans);
out:
	cJSON_Delete(in);
}

int dv_graph_handle(struct dv_graph *g, struct dv_org *org,
		    struct token_store *ts, struct stats *st,
		    const struct dv_graph_req *req, struct dv_response *resp)
{
	cJSON *claims = NULL;
	const char *aud;

	stats_add(st, STATS_GRAPH_REQUESTS, 1);
	if (token_nclients(ts) > 0) {
		claims =
		    token_valid_claims(ts, req->authorization, req->now_ms);
		aud = dv_str(claims, "aud");
		if (!claims || !aud ||
		    strcmp(aud, "https://graph.microsoft.com")) {
			stats_add(st, STATS_GRAPH_401, 1);
			set_json(resp, 401,
				 error_body("InvalidAuthenticationToken",
					    claims ? "Invalid audience."
						   : "Access token is empty "
						     "or invalid.",
					    req->now_ms),
				 -1);
			cJSON_Delete(claims);
			return resp->status;
		}
	}
	if (!strcmp(req->path, "/$batch")) {
		if (strcmp(req->method, "POST"))
			set_json(resp, 405,
				 error_body("Request_BadRequest",
					    "$batch takes POST.", req->now_ms),
				 -1);
		else
			serve_batch(g, org, st, claims, req, resp);
	} else if (strcmp(req->method, "GET")) {
		set_json(resp, 405,
			 error_body("Request_BadRequest",
				    "dvsim serves GET requests only.",
				    req->now_ms),
			 -1);
	} else {
		struct answer a;

		serve_get(g, org, st, claims, req->path, req->query,
			  req->now_ms, &a);
		set_json(resp, a.status, a.body, a.retry_after);
	}
	cJSON_Delete(claims);
	return resp->status;
}
