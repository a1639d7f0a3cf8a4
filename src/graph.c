/*
 * graph.c: the Microsoft Graph checks of the Exchange side (graph.h).
 *
 * Facts relied on (docs/fidelity.md, "Microsoft Graph"): JSON batching
 * takes at most 20 requests, answers them in any order, and each answer
 * may carry its own status and Retry-After; a throttled batch or request
 * answers 429 with Retry-After in seconds; errors are
 * {"error":{"code","message"}} (403 Authorization_RequestDenied, 404
 * Request_ResourceNotFound); an application token lists its application
 * permissions in the "roles" claim.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "buf.h"
#include "graph.h"
#include "http.h"
#include "job.h"
#include "jwt.h"
#include "log.h"
#include "odata.h"
#include "retry.h"
#include "table.h"

#include "banned.h"

/* CLOCK_MONOTONIC in ms, as the engine's loop counts time. */
static int64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Pure helpers --------------------------------------------------------- */

static const char *str_of(const cJSON *o, const char *name)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* A header of a batch answer, by name without regard to case. */
static const char *header_of(const cJSON *headers, const char *name)
{
	const cJSON *h;

	cJSON_ArrayForEach(h, headers)
	{
		if (h->string && !strcasecmp(h->string, name) &&
		    cJSON_IsString(h))
			return h->valuestring;
	}
	return NULL;
}

cJSON *graph_parse_batch(const char *text, size_t len,
			 struct graph_answer **out, size_t *n, char *why,
			 size_t whylen)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	const cJSON *arr, *it;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if (!root) {
		snprintf(why, whylen, "the $batch answer is not JSON");
		return NULL;
	}
	arr = cJSON_GetObjectItemCaseSensitive(root, "responses");
	if (!cJSON_IsArray(arr)) {
		snprintf(why, whylen, "the $batch answer has no responses");
		cJSON_Delete(root);
		return NULL;
	}
	*out = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(**out));
	cJSON_ArrayForEach(it, arr)
	{
		const cJSON *st =
		    cJSON_GetObjectItemCaseSensitive(it, "status");
		const char *id = str_of(it, "id"), *ra;
		struct graph_answer *a = &(*out)[i];

		if (!id || !cJSON_IsNumber(st)) {
			snprintf(why, whylen,
				 "a $batch answer has no id or no status");
			free(*out);
			*out = NULL;
			cJSON_Delete(root);
			return NULL;
		}
		a->id = id;
		a->status = (long)st->valuedouble;
		a->body = cJSON_GetObjectItemCaseSensitive(it, "body");
		ra = header_of(cJSON_GetObjectItemCaseSensitive(it, "headers"),
			       "Retry-After");
		a->retry_after_s = -1;
		if (ra) {
			long s;

			if (retry_parse_after(ra, time(NULL), &s) == 0)
				a->retry_after_s = s;
		}
		i++;
	}
	*n = i;
	return root;
}

/* "smtp:a@b" or "SMTP:a@b" -> "a@b"; other address types -> NULL. */
static const char *smtp_of(const char *proxy)
{
	if (!proxy || strncasecmp(proxy, "smtp:", 5))
		return NULL;
	return proxy + 5;
}

bool graph_address_matches(const cJSON *user, const char *address)
{
	const char *mail = str_of(user, "mail");
	const cJSON *it;

	if (!address || !*address)
		return false;
	if (mail && !strcasecmp(mail, address))
		return true;
	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(user, "proxyAddresses"))
	{
		const char *a = smtp_of(cJSON_GetStringValue(it));

		if (a && !strcasecmp(a, address))
			return true;
	}
	return false;
}

bool graph_has_exchange(const cJSON *user)
{
	const cJSON *it;

	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(user, "assignedPlans"))
	{
		const char *svc = str_of(it, "service");
		const char *cap = str_of(it, "capabilityStatus");

		/* Warning: a grace period, still in normal use */
		if (svc && cap && !strcasecmp(svc, "exchange") &&
		    (!strcmp(cap, "Enabled") || !strcmp(cap, "Warning")))
			return true;
	}
	return false;
}

static bool verified_domain(const struct graph_tenant *t, const char *address)
{
	const char *at = address ? strrchr(address, '@') : NULL;

	if (!t || !t->ndomains || !at)
		return true; /* nothing to compare with */
	for (size_t i = 0; i < t->ndomains; i++)
		if (!strcasecmp(t->domains[i], at + 1))
			return true;
	return false;
}

/* The user's mail and SMTP proxy addresses, for a message. */
static void addresses(const cJSON *user, char *out, size_t size)
{
	const char *mail = str_of(user, "mail");
	size_t len;
	const cJSON *it;

	len = (size_t)snprintf(out, size, "mail %s, proxyAddresses",
			       mail ? mail : "(none)");
	cJSON_ArrayForEach(
	    it, cJSON_GetObjectItemCaseSensitive(user, "proxyAddresses"))
	{
		const char *a = smtp_of(cJSON_GetStringValue(it));

		if (a && len < size)
			len +=
			    (size_t)snprintf(out + len, size - len, " %s", a);
	}
}

enum graph_cause graph_judge(const struct graph_subject *s, const cJSON *user,
			     const struct graph_tenant *t, char *detail,
			     size_t size)
{
	const char *id = str_of(user, "id"), *type = str_of(user, "userType");
	const char *addr = s->address ? s->address : "";
	bool server = s->profile_type == 0 || s->profile_type == 2;
	char seen[512];

	*detail = '\0';
	if (t && *t->id == '!') {
		/* the tenant Graph answers for is not Dataverse's: what it
		   says of the users is not about them */
		snprintf(detail, size, "%s", t->id + 1);
		return GRAPH_OTHER_TENANT;
	}
	if (!user) {
		snprintf(detail, size,
			 "Entra ID has no user %s in this tenant (the "
			 "Dataverse user's object id is %s)",
			 s->upn ? s->upn : "", s->objectid ? s->objectid : "");
		return GRAPH_RECREATED;
	}
	if (s->objectid && *s->objectid && id && strcasecmp(id, s->objectid)) {
		snprintf(detail, size,
			 "the Entra user %s has object id %s, the Dataverse "
			 "user has %s",
			 s->upn ? s->upn : "", id, s->objectid);
		return GRAPH_RECREATED;
	}
	if ((type && !strcasecmp(type, "Guest")) || !verified_domain(t, addr)) {
		snprintf(detail, size,
			 "the mailbox's address %s is not in a verified "
			 "domain of this tenant%s",
			 addr,
			 type && !strcasecmp(type, "Guest")
			     ? " and the user is a guest account"
			     : "");
		return GRAPH_OTHER_TENANT;
	}
	if (server && graph_has_exchange(user)) {
		snprintf(detail, size,
			 "the user has an enabled Exchange Online plan, so "
			 "the mailbox is in Exchange Online, but its profile "
			 "is for Exchange Server");
		return GRAPH_HYBRID;
	}
	if (!server && !graph_has_exchange(user)) {
		snprintf(detail, size,
			 "the user %s has no enabled Exchange Online service "
			 "plan (assignedPlans)",
			 s->upn ? s->upn : "");
		return GRAPH_NO_LICENCE;
	}
	if (!graph_address_matches(user, addr)) {
		addresses(user, seen, sizeof(seen));
		snprintf(detail, size,
			 "the mailbox's address %s is not the Exchange "
			 "mailbox's (%s)",
			 addr, seen);
		return GRAPH_ADDRESS;
	}
	return GRAPH_OK;
}

const char *graph_cause_code(enum graph_cause c)
{
	switch (c) {
	case GRAPH_RECREATED:
		return "UserRecreated";
	case GRAPH_OTHER_TENANT:
		return "OtherTenant";
	case GRAPH_NO_LICENCE:
		return "NoExchangeLicence";
	case GRAPH_ADDRESS:
		return "AddressDiffersFromExchange";
	case GRAPH_HYBRID:
		return "HybridProfileForCloudMailbox";
	case GRAPH_OK:
		break;
	}
	return "";
}

/* The client ------------------------------------------------------------ */

enum { REQ_TOKEN = 1, REQ_ORG, REQ_BATCH };

struct gentry {
	char *key;
	enum graph_state st;
	cJSON *user;
	char why[CURL_ERROR_SIZE + 512];
	int attempts;	      /* failed attempts, throttling aside */
	int64_t throttled_ms; /* waited for Retry-After in all */
	int64_t not_before;
	struct gentry *next; /* in the queue */
};

struct gflight {
	struct gentry *e[GRAPH_BATCH_MAX];
	size_t n;
};

struct graph {
	const struct job *job;
	struct http http;
	struct auth auth;
	struct table users;
	struct gentry *head, *tail; /* queued, not sent */
	size_t queued;
	int64_t last_queued, first_queued;
	int64_t gate;	   /* whole batches wait until then (429) */
	int64_t org_retry; /* when to read the tenant again */
	int org_attempts;
	int in_flight;
	bool org_done, org_in_flight;
	bool off; /* no permission: checks skipped */
	bool warned_org;
	char *base; /* GRAPH_URL/v1.0/ */
	char tid[64];
	struct graph_tenant tenant;
	struct graph_stats st;
};

static struct graph *current;

void graph_set_current(struct graph *g)
{
	current = g;
}

struct graph *graph_current(void)
{
	return current;
}

int graph_new(struct graph **out, const struct job *j, struct err *e)
{
	struct graph *g = xcalloc(1, sizeof(*g));
	struct http_opts ho = {0};
	struct buf b = BUF_INIT(BUF_MAX_SMALL);

	*out = NULL;
	g->job = j;
	ho.ca_file = j->ca_file;
	ho.timeout_ms = (long)j->request_timeout * 1000;
	ho.connect_timeout_ms = ho.timeout_ms < 30000 ? ho.timeout_ms : 30000;
	if (http_init(&g->http, &ho, e) < 0) {
		free(g);
		return -1;
	}
	if (auth_init(&g->auth, j, e) < 0) {
		http_release(&g->http);
		free(g);
		return -1;
	}
	if (auth_enabled(&g->auth)) {
		free(g->auth.scope);
		g->auth.scope = xstrdup(GRAPH_SCOPE);
	}
	buf_addf(&b, "%s/v1.0/", j->graph_url);
	g->base = buf_detach(&b, NULL);
	*out = g;
	return 0;
}

static void entry_free(void *p)
{
	struct gentry *en = p;

	if (!en)
		return;
	cJSON_Delete(en->user);
	free(en->key);
	free(en);
}

static void free_request(struct request *r)
{
	if (r->kind == REQ_BATCH)
		free(r->owner);
	request_free(r);
}

void graph_free(struct graph *g)
{
	struct request *r;

	if (!g)
		return;
	if (current == g)
		current = NULL;
	http_abort_all(&g->http);
	while (g->http.in_flight > 0) {
		if (http_poll(&g->http, 100, NULL) < 0)
			break;
		while ((r = http_next_done(&g->http)))
			free_request(r);
	}
	while ((r = http_next_done(&g->http)))
		free_request(r);
	log_info("Microsoft Graph: %lu requests (%lu $batch) for %lu users, "
		 "%lu throttled, %lu retries",
		 g->st.requests, g->st.batches, g->st.users, g->st.throttled,
		 g->st.retries);
	table_release(&g->users, entry_free);
	for (size_t i = 0; i < g->tenant.ndomains; i++)
		free(g->tenant.domains[i]);
	free(g->tenant.domains);
	auth_release(&g->auth);
	http_release(&g->http);
	free(g->base);
	free(g);
}

const struct graph_stats *graph_stats(const struct graph *g)
{
	return &g->st;
}

const struct graph_tenant *graph_tenant(const struct graph *g)
{
	return g && g->org_done ? &g->tenant : NULL;
}

static void turn_off(struct graph *g, const char *why)
{
	if (g->off)
		return;
	g->off = true;
	log_warn("exchange_checks: %s; the Exchange side is not checked "
		 "(grant the application permission User.Read.All to the "
		 "job's application, with admin consent, to check it)",
		 why);
}

enum graph_state graph_user(struct graph *g, const char *key,
			    const cJSON **user, const char **why)
{
	void **slot;
	struct gentry *en;
	char lower[320];
	size_t i;

	*user = NULL;
	*why = NULL;
	if (!g || g->off || !key || !*key)
		return GRAPH_OFF;
	for (i = 0; key[i] && i + 1 < sizeof(lower); i++)
		lower[i] =
		    (char)((key[i] >= 'A' && key[i] <= 'Z') ? key[i] - 'A' + 'a'
							    : key[i]);
	lower[i] = '\0';
	slot = table_slot(&g->users, lower, true);
	en = *slot;
	if (!en) {
		en = xcalloc(1, sizeof(*en));
		en->key = xstrdup(key);
		en->st = GRAPH_PENDING;
		*slot = en;
		if (g->tail)
			g->tail->next = en;
		else
			g->head = en;
		g->tail = en;
		g->queued++;
		g->last_queued = clock_ms();
		if (g->queued == 1)
			g->first_queued = g->last_queued;
		g->st.users++;
	}
	if (en->st == GRAPH_FOUND)
		*user = en->user;
	if (en->st == GRAPH_FAILED)
		*why = en->why;
	return en->st;
}

/*
 * Back in the queue, not before 'at'. A throttled request (429) waits as
 * Graph says and does not use up an attempt: it gives up only once it
 * has been throttled for longer than GRAPH_THROTTLE_BUDGET_MS in all.
 */
#define GRAPH_THROTTLE_BUDGET_MS 300000

static void requeue(struct graph *g, struct gentry *en, int64_t at,
		    bool throttled, const char *why)
{
	int64_t now = clock_ms();

	if (throttled) {
		en->throttled_ms += at > now ? at - now : 0;
	} else {
		en->attempts++;
	}
	if (en->attempts >= g->job->max_attempts ||
	    en->throttled_ms > GRAPH_THROTTLE_BUDGET_MS) {
		en->st = GRAPH_FAILED;
		snprintf(en->why, sizeof(en->why),
			 "Microsoft Graph did not answer for %s after %d "
			 "attempts: %s",
			 en->key, en->attempts + 1, why);
		return;
	}
	g->st.retries++;
	en->not_before = at;
	en->next = NULL;
	if (g->tail)
		g->tail->next = en;
	else
		g->head = en;
	g->tail = en;
	g->queued++;
	if (g->queued == 1)
		g->first_queued = now;
}

static int64_t backoff(const struct graph *g, int attempt, long ra_s,
		       int64_t now)
{
	struct retry_policy p = RETRY_POLICY_INIT;

	p.max_attempts = g->job->max_attempts;
	if (ra_s >= 0)
		return now + ra_s * 1000;
	return now +
	       retry_next_delay_ms(&p, attempt, 503, -1, (unsigned)rand());
}

static void start(struct graph *g, struct request *r, int kind, void *owner,
		  int64_t now)
{
	struct err e = ERR_INIT;

	r->kind = kind;
	r->owner = owner;
	if (kind != REQ_TOKEN && auth_enabled(&g->auth))
		request_add_header(r, auth_header(&g->auth, now));
	request_add_header(r, "Accept: application/json");
	if (http_start(&g->http, r, now, &e) < 0) {
		/* cannot even start: give up on the checks */
		turn_off(g, e.msg);
		r->owner = NULL;
		free(owner);
		request_free(r);
		return;
	}
	g->in_flight++;
	g->st.requests++;
}

/* The "roles" claim of the token held, or none: whether it allows reads
 * of users. */
static bool token_may_read_users(struct graph *g)
{
	const char *h = g->auth.token, *p, *d1, *d2;
	struct buf raw = BUF_INIT(BUF_MAX_SMALL);
	struct err e = ERR_INIT;
	cJSON *claims, *roles, *it;
	bool ok = false;

	if (!h || !(p = strstr(h, "Bearer ")))
		return true;
	p += 7;
	d1 = strchr(p, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 ||
	    jwt_base64url_decode(&raw, d1 + 1, (size_t)(d2 - d1 - 1), &e) < 0) {
		buf_release(&raw);
		return true; /* not a JWT we can read: let Graph say */
	}
	claims = cJSON_ParseWithLength(raw.ptr, raw.len);
	buf_release(&raw);
	roles = cJSON_GetObjectItemCaseSensitive(claims, "roles");
	cJSON_ArrayForEach(it, roles)
	{
		const char *r = cJSON_GetStringValue(it);

		if (r && (!strcmp(r, "User.Read.All") ||
			  !strcmp(r, "User.ReadWrite.All") ||
			  !strcmp(r, "Directory.Read.All") ||
			  !strcmp(r, "Directory.ReadWrite.All")))
			ok = true;
	}
	{
		const char *tid = str_of(claims, "tid");

		snprintf(g->tid, sizeof(g->tid), "%s", tid ? tid : "");
	}
	cJSON_Delete(claims);
	/* a token without a roles claim at all: let Graph answer */
	return ok || !cJSON_IsArray(roles);
}

/* Retry-After of a whole answer, in seconds; -1 when absent. */
static long parse_ra(const struct request *r)
{
	long s;

	if (!*r->retry_after ||
	    retry_parse_after(r->retry_after, time(NULL), &s) < 0)
		return -1;
	return s;
}

static void token_done(struct graph *g, struct request *r, int64_t now)
{
	struct err e = ERR_INIT;
	int rc = auth_finish(&g->auth, r, now, &e);

	if (rc < 0) {
		turn_off(g, e.msg);
		return;
	}
	if (rc == 0 && !token_may_read_users(g))
		turn_off(g, "the token for Microsoft Graph does not carry the "
			    "application permission User.Read.All (roles "
			    "claim)");
}

static void org_done(struct graph *g, struct request *r, int64_t now)
{
	cJSON *root, *org, *it;
	const char *id;

	g->org_in_flight = false;
	if (r->result != CURLE_OK || r->status == 429 || r->status >= 500) {
		if (++g->org_attempts >= g->job->max_attempts) {
			g->org_done = true; /* go on without the tenant */
			log_warn("exchange_checks: cannot read the tenant from "
				 "Microsoft Graph (%s); the tenant check uses "
				 "guest accounts only",
				 r->result != CURLE_OK ? r->error
						       : "HTTP error");
			return;
		}
		if (r->status == 429)
			g->st.throttled++;
		g->st.retries++;
		g->org_retry =
		    backoff(g, g->org_attempts,
			    r->status == 429 ? parse_ra(r) : -1, now);
		return;
	}
	g->org_done = true;
	if (r->status == 401 || r->status == 403) {
		struct odata_error oe;

		odata_parse_error(&oe, r->response.ptr, r->response.len);
		log_warn("exchange_checks: Microsoft Graph refused to read the "
			 "organization (HTTP %ld %s): the tenant check uses "
			 "guest accounts only (Organization.Read.All lets it "
			 "compare the verified domains)",
			 r->status, oe.code);
		return;
	}
	if (r->status != 200)
		return;
	root = cJSON_ParseWithLength(r->response.ptr, r->response.len);
	org = cJSON_GetArrayItem(
	    cJSON_GetObjectItemCaseSensitive(root, "value"), 0);
	id = str_of(org, "id");
	if (id && *g->tid && strcasecmp(id, g->tid)) {
		/* marks a tenant mismatch for graph_judge() */
		snprintf(g->tenant.id, sizeof(g->tenant.id),
			 "!Microsoft Graph answers for tenant %s, Dataverse "
			 "signs in to tenant %s",
			 id, g->tid);
	} else {
		snprintf(g->tenant.id, sizeof(g->tenant.id), "%s",
			 id ? id : "");
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
					   org, "verifiedDomains"))
		{
			const char *name = str_of(it, "name");
			char *d;

			if (!name)
				continue;
			d = xstrdup(name);
			for (char *p = d; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			g->tenant.domains =
			    xrealloc(g->tenant.domains,
				     (g->tenant.ndomains + 1) * sizeof(char *));
			g->tenant.domains[g->tenant.ndomains++] = d;
		}
	}
	cJSON_Delete(root);
}

/* The answers of one $batch, mapped back to its users by id. */
static void batch_done(struct graph *g, struct request *r, int64_t now)
{
	struct gflight *f = r->owner;
	struct graph_answer *ans = NULL;
	bool answered[GRAPH_BATCH_MAX] = {false};
	char why[CURL_ERROR_SIZE + 64];
	size_t n = 0;
	cJSON *root = NULL;
	long ra = parse_ra(r);

	if (r->result != CURLE_OK || r->status != 200) {
		/* the whole batch: throttled, failed, refused */
		if (r->status == 401)
			auth_invalidate(&g->auth);
		if (r->status == 403) {
			struct odata_error oe;

			odata_parse_error(&oe, r->response.ptr,
					  r->response.len);
			turn_off(g, oe.message[0] ? oe.message
						  : "HTTP 403 from Graph");
			return;
		}
		if (r->status == 429) {
			g->st.throttled++;
			g->gate = backoff(g, 0, ra, now);
		}
		snprintf(why, sizeof(why), "%s",
			 r->result != CURLE_OK ? r->error : "HTTP error");
		if (r->result == CURLE_OK)
			snprintf(why, sizeof(why), "HTTP %ld", r->status);
		for (size_t i = 0; i < f->n; i++)
			requeue(
			    g, f->e[i],
			    r->status == 429
				? g->gate
				: backoff(g, f->e[i]->attempts + 1, ra, now),
			    r->status == 429, why);
		return;
	}
	root = graph_parse_batch(r->response.ptr, r->response.len, &ans, &n,
				 why, sizeof(why));
	for (size_t k = 0; k < n; k++) {
		char *end;
		long idx = strtol(ans[k].id, &end, 10);
		struct gentry *en;

		if (*end || idx < 1 || (size_t)idx > f->n || answered[idx - 1])
			continue;
		answered[idx - 1] = true;
		en = f->e[idx - 1];
		if (ans[k].status == 200) {
			en->st = GRAPH_FOUND;
			en->user = cJSON_Duplicate(ans[k].body, 1);
		} else if (ans[k].status == 404) {
			en->st = GRAPH_NOT_FOUND;
		} else if (ans[k].status == 403) {
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(
			    ans[k].body, "error");
			const char *msg = str_of(err, "message");

			turn_off(g, msg ? msg : "HTTP 403 from Graph");
		} else if (ans[k].status == 429 || ans[k].status >= 500 ||
			   ans[k].status == 401) {
			int64_t at = backoff(g, en->attempts + 1,
					     ans[k].retry_after_s, now);

			if (ans[k].status == 429) {
				/* the app is throttled, not the request:
				   the next batches wait too */
				g->st.throttled++;
				if (at > g->gate)
					g->gate = at;
			}
			if (ans[k].status == 401)
				auth_invalidate(&g->auth);
			snprintf(why, sizeof(why), "HTTP %ld", ans[k].status);
			requeue(g, en, at, ans[k].status == 429, why);
		} else {
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(
			    ans[k].body, "error");
			const char *msg = str_of(err, "message");

			en->st = GRAPH_FAILED;
			snprintf(en->why, sizeof(en->why),
				 "Microsoft Graph answered HTTP %ld for %s%s%s",
				 ans[k].status, en->key, msg ? ": " : "",
				 msg ? msg : "");
		}
	}
	/* a user the answer left out is asked again */
	for (size_t i = 0; i < f->n; i++)
		if (!answered[i])
			requeue(g, f->e[i], now, false,
				root ? "no answer in the $batch" : why);
	free(ans);
	cJSON_Delete(root);
}

static void send_batch(struct graph *g, int64_t now)
{
	struct gflight *f = xcalloc(1, sizeof(*f));
	struct gentry **pp = &g->head, *prev = NULL;
	cJSON *body = cJSON_CreateObject(), *reqs;
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	struct request *r;
	char *text;

	reqs = cJSON_AddArrayToObject(body, "requests");
	while (*pp && f->n < GRAPH_BATCH_MAX) {
		struct gentry *en = *pp;
		cJSON *q;
		char id[8];

		if (en->not_before > now) {
			prev = en;
			pp = &en->next;
			continue;
		}
		*pp = en->next;
		if (g->tail == en)
			g->tail = prev;
		en->next = NULL;
		g->queued--;
		f->e[f->n++] = en;
		snprintf(id, sizeof(id), "%zu", f->n);
		buf_reset(&url);
		buf_addstr(&url, "/users/");
		odata_url_encode(&url, en->key, strlen(en->key));
		buf_addstr(&url, "?$select=" GRAPH_USER_SELECT);
		q = cJSON_CreateObject();
		cJSON_AddStringToObject(q, "id", id);
		cJSON_AddStringToObject(q, "method", "GET");
		cJSON_AddStringToObject(q, "url", url.ptr);
		cJSON_AddItemToArray(reqs, q);
	}
	buf_release(&url);
	if (!f->n) {
		cJSON_Delete(body);
		free(f);
		return;
	}
	text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	buf_addf(&url, "%s$batch", g->base);
	r = request_new("POST", url.ptr);
	buf_release(&url);
	request_add_header(r, "Content-Type: application/json");
	{
		/* cJSON's allocator is not necessarily malloc (jsonmem.h) */
		char *copy = xstrdup(text);

		cJSON_free(text);
		request_set_body(r, copy, strlen(copy));
	}
	g->st.batches++;
	start(g, r, REQ_BATCH, f, now);
}

/* Users in the queue whose time has come. */
static size_t due(const struct graph *g, int64_t now, int64_t *next)
{
	size_t n = 0;

	*next = -1;
	for (const struct gentry *en = g->head; en && n < GRAPH_BATCH_MAX;
	     en = en->next) {
		if (en->not_before <= now)
			n++;
		else if (*next < 0 || en->not_before < *next)
			*next = en->not_before;
	}
	return n;
}

/* Rows ask for their users a few at a time: a batch leaves when it is
 * full, when no row has asked for a while, or when its first user has
 * waited long enough. */
#define GRAPH_QUIET_MS 40
#define GRAPH_HOLD_MS 400
#define GRAPH_MAX_FLIGHTS 2

long graph_pump(struct graph *g, int64_t now)
{
	struct request *r;
	long wait = -1;

	if (!g)
		return -1;
	if (http_poll(&g->http, 0, NULL) < 0)
		turn_off(g, "the transfer to Microsoft Graph failed");
	while ((r = http_next_done(&g->http))) {
		g->in_flight--;
		if (r->kind == REQ_TOKEN)
			token_done(g, r, now);
		else if (r->kind == REQ_ORG)
			org_done(g, r, now);
		else
			batch_done(g, r, now);
		free_request(r);
	}
	if (g->off) {
		/* rows waiting learn it at their next poll */
		while (g->head) {
			struct gentry *en = g->head;

			g->head = en->next;
			en->st = GRAPH_OFF;
		}
		g->tail = NULL;
		g->queued = 0;
		return g->in_flight ? 10 : -1;
	}
	if (!g->queued && !g->in_flight && g->org_done)
		return -1;
	if (auth_enabled(&g->auth) && !auth_header(&g->auth, now)) {
		if (!g->auth.in_flight && auth_should_request(&g->auth, now)) {
			struct err e = ERR_INIT;
			struct request *t = auth_request(&g->auth, now, &e);

			if (!t)
				turn_off(g, e.msg);
			else
				start(g, t, REQ_TOKEN, NULL, now);
		}
		return 10;
	}
	if (!g->org_done) {
		if (!g->org_in_flight && now >= g->org_retry) {
			struct buf url = BUF_INIT(BUF_MAX_SMALL);

			buf_addf(&url,
				 "%sorganization?$select=id,"
				 "verifiedDomains",
				 g->base);
			g->org_in_flight = true;
			start(g, request_new("GET", url.ptr), REQ_ORG, NULL,
			      now);
			buf_release(&url);
		}
		return 10;
	}
	while (g->queued && g->in_flight < GRAPH_MAX_FLIGHTS &&
	       now >= g->gate) {
		int64_t next;
		size_t n = due(g, now, &next);

		if (!n) {
			if (next >= 0)
				wait = (long)(next - now);
			break;
		}
		if (n < GRAPH_BATCH_MAX &&
		    now - g->last_queued < GRAPH_QUIET_MS &&
		    now - g->first_queued < GRAPH_HOLD_MS) {
			wait = GRAPH_QUIET_MS;
			break;
		}
		send_batch(g, now);
		g->first_queued = now;
	}
	if (g->queued && now < g->gate)
		wait = (long)(g->gate - now);
	if (g->in_flight && (wait < 0 || wait > 10))
		wait = 10;
	return wait;
}
