/*
 * engine_lanes.c: the users a run signs in as (engine_int.h, struct lane;
 * docs/architecture.md, "Users").
 *
 * auth is lane 0; auth.pool adds application users, approve_auth a
 * sign-in used for approve writes only. The service protection limits
 * are per user (docs/fidelity.md), so each lane has its own Retry-After
 * gate and concurrency limit; operations go to the lane with the most
 * execution time left (x-ms-ratelimit-time-remaining), and a lane whose
 * time left would not cover what is in flight plus one more batch is
 * skipped, so the others carry on while it recovers instead of it being
 * throttled. A pool user whose sign-in fails is dropped with a warning;
 * the run stops only when no pool user is left.
 */
#include "compat.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "engine_int.h"
#include "jwt.h"
#include "log.h"
#include "runlog.h"

#include "banned.h"

/* A low budget is trusted this long with nothing in flight (ms). */
#define LANE_BUDGET_STALE_MS 1000

int lanes_init(struct engine *en, struct err *e)
{
	const struct job *j = en->job;
	size_t n = 1 + j->npool + (j->approve ? 1 : 0);

	en->lanes = xcalloc(n, sizeof(*en->lanes));
	en->approve_lane = -1;
	en->lanes[0].auth = &en->auth;
	en->lanes[0].sched = &en->sched;
	en->lanes[0].client_id = j->client_id;
	en->lanes[0].pool = true;
	en->lanes[0].budget_ms = -1;
	en->nlanes = 1;
	for (size_t i = 0; i < n - 1; i++) {
		struct lane *ln = &en->lanes[en->nlanes];
		const struct job *sub = i < j->npool ? j->pool[i] : j->approve;

		ln->auth = &ln->own_auth;
		ln->sched = &ln->own_sched;
		ln->client_id = sub->client_id;
		ln->pool = i < j->npool;
		ln->approver = !ln->pool;
		ln->budget_ms = -1;
		if (auth_init(ln->auth, sub, e) < 0) {
			lanes_release(en);
			return -1;
		}
		sched_init(ln->sched, j->parallel, 0);
		if (ln->approver)
			en->approve_lane = (int)en->nlanes;
		en->nlanes++;
	}
	return 0;
}

void lanes_release(struct engine *en)
{
	for (size_t i = 1; i < en->nlanes; i++) {
		auth_release(&en->lanes[i].own_auth);
		sched_release(&en->lanes[i].own_sched);
	}
	free(en->lanes);
	en->lanes = NULL;
	en->nlanes = 0;
}

struct lane *lane_main(struct engine *en)
{
	for (size_t i = 0; i < en->nlanes; i++)
		if (en->lanes[i].pool && !en->lanes[i].dropped)
			return &en->lanes[i];
	return &en->lanes[0];
}

static bool stopped(const struct engine *en)
{
	return en->stop && *en->stop;
}

int lane_drop(struct engine *en, struct lane *ln, const struct err *why)
{
	struct runlog_line l;

	if (!ln->pool || en->job->npool == 0)
		return -1; /* a single user or approve_auth: no going on */
	ln->dropped = true;
	log_warn("application user %s left out of this run: %s", ln->client_id,
		 why->msg);
	if (runlog_begin(en->log, &l, LOG_WARN, "user_dropped")) {
		runlog_str(&l, "client_id", ln->client_id);
		runlog_str(&l, "error", why->msg);
		runlog_end(&l);
	}
	for (size_t i = 0; i < en->nlanes; i++)
		if (en->lanes[i].pool && !en->lanes[i].dropped)
			return 0;
	return -1;
}

/* Run one token request to its end (nothing else in flight). */
static struct request *call(struct engine *en, struct request *r, struct err *e)
{
	struct request *done = NULL;

	if (http_start(&en->http, r, en->now, e) < 0) {
		request_free(r);
		return NULL;
	}
	en->st.requests++;
	while (!done) {
		if (stopped(en))
			http_abort_all(&en->http);
		else if (http_poll(&en->http, 1000, e) < 0)
			return NULL;
		done = http_next_done(&en->http);
	}
	en->now = clock_ms();
	if (stopped(en)) {
		request_free(done);
		err_set(e, ERR_INTERNAL, "interrupted before the run began");
		return NULL;
	}
	return done;
}

static int sign_in_one(struct engine *en, size_t i, struct err *e)
{
	struct lane *ln = &en->lanes[i];
	int tries = 0;

	while (auth_enabled(ln->auth) && !auth_header(ln->auth, en->now)) {
		struct request *r;
		int ar;

		if (auth_needs_device(ln->auth)) {
			if (auth_device_sign_in(ln->auth, &en->http,
						ln->approver ? "approve sign-in"
							     : "sign-in",
						en->stop, e) < 0)
				return -1;
			en->now = clock_ms();
			log_token(en, ln, !ln->token_gen++);
			continue;
		}
		r = auth_request(ln->auth, en->now, e);
		if (!r)
			return -1;
		r = call(en, r, e);
		if (!r)
			return -1;
		ar = auth_finish(ln->auth, r, en->now, e);
		request_free(r);
		if (ar < 0)
			return -1;
		if (ar == 0) {
			log_token(en, ln, !ln->token_gen++);
			continue;
		}
		if (auth_needs_device(ln->auth))
			continue; /* the cached sign-in was refused */
		if (++tries > 4)
			return err_set(e, ERR_NETWORK,
				       "cannot get a token from '%s'",
				       ln->auth->token_url);
		http_poll(&en->http, (long)(ln->auth->retry_ms - en->now),
			  NULL);
		en->now = clock_ms();
		if (stopped(en))
			return err_set(e, ERR_INTERNAL,
				       "interrupted before the run began");
	}
	return 0;
}

int lanes_sign_in(struct engine *en, struct err *e)
{
	for (size_t i = 0; i < en->nlanes; i++) {
		struct lane *ln = &en->lanes[i];
		struct err le = ERR_INIT;

		if (ln->dropped)
			continue;
		if (sign_in_one(en, i, &le) == 0)
			continue;
		if (stopped(en) || lane_drop(en, ln, &le) < 0) {
			if (en->job->npool && ln->pool)
				return err_set(e, le.kind,
					       "no application user of the "
					       "pool could sign in; the last: "
					       "%s",
					       le.msg);
			*e = le;
			return -1;
		}
	}
	return 0;
}

int lanes_tokens(struct engine *en)
{
	for (size_t i = 0; i < en->nlanes; i++) {
		struct lane *ln = &en->lanes[i];

		if (ln->dropped || !auth_should_request(ln->auth, en->now))
			continue;
		if (start_token(en, i) == 0)
			continue;
		if (lane_drop(en, ln, en->err) < 0)
			return -1;
		err_clear(en->err);
	}
	return 0;
}

static bool approve_write(const struct op *op)
{
	return op->kind == OP_ROW && op->action == ACTION_APPROVE &&
	       strcmp(op->method, "GET");
}

bool lane_takes(const struct engine *en, const struct lane *ln,
		const struct op *op)
{
	if (en->approve_lane < 0)
		return true;
	return ln->approver == approve_write(op);
}

/* The cost of one more request, in ms of server time, as measured. */
static long batch_cost_ms(const struct engine *en)
{
	double c = en->sched.op_ms * en->sched.batch;

	return c > 0 ? (long)c : 0;
}

/* Time left covers what is in flight and one more, or is not known. */
static bool has_budget(const struct engine *en, const struct lane *ln)
{
	long need;

	if (ln->budget_ms < 0)
		return true;
	need = batch_cost_ms(en) * (ln->sched->in_flight + 1);
	if (ln->budget_ms >= need)
		return true;
	/* nothing in flight brings news: ask again after a while */
	return ln->sched->in_flight == 0 &&
	       en->now - ln->budget_at >= LANE_BUDGET_STALE_MS;
}

static bool usable(struct engine *en, struct lane *ln)
{
	if (ln->dropped)
		return false;
	if (auth_enabled(ln->auth) && !auth_header(ln->auth, en->now))
		return false;
	return has_budget(en, ln) && sched_can_send(ln->sched, en->now);
}

int lane_pick(struct engine *en)
{
	const struct op *op = en->reads.head ? en->reads.head : en->writes.head;
	long best_budget = -2;
	int best = -1;

	if (!op)
		return -1;
	if (en->approve_lane >= 0 && approve_write(op))
		return usable(en, &en->lanes[en->approve_lane])
			   ? en->approve_lane
			   : -1;
	for (size_t i = 0; i < en->nlanes; i++) {
		struct lane *ln = &en->lanes[i];
		long b = ln->budget_ms < 0 ? LONG_MAX : ln->budget_ms;

		if (!ln->pool || ln->dropped)
			continue;
		/* most time left first; on a tie, the least busy */
		if (b < best_budget ||
		    (b == best_budget &&
		     ln->sched->in_flight >= en->lanes[best].sched->in_flight))
			continue;
		if (!usable(en, ln))
			continue;
		best = (int)i;
		best_budget = b;
	}
	return best;
}

bool lane_other_open(const struct engine *en, size_t lane)
{
	if (en->lanes[lane].approver)
		return false;
	for (size_t i = 0; i < en->nlanes; i++) {
		const struct lane *ln = &en->lanes[i];

		if (i != lane && ln->pool && !ln->dropped &&
		    !sched_gated(ln->sched, en->now))
			return true;
	}
	return false;
}

bool lanes_gated(const struct engine *en, int64_t *until)
{
	bool any = false;
	int64_t first = INT64_MAX;

	for (size_t i = 0; i < en->nlanes; i++) {
		const struct lane *ln = &en->lanes[i];

		if (!ln->pool || ln->dropped)
			continue;
		any = true;
		if (!sched_gated(ln->sched, en->now))
			return false;
		if (ln->sched->gate_ms < first)
			first = ln->sched->gate_ms;
	}
	if (until)
		*until = first;
	return any;
}

long lanes_wait_ms(const struct engine *en, long wait)
{
	for (size_t i = 0; i < en->nlanes; i++) {
		const struct lane *ln = &en->lanes[i];
		const struct auth *a = ln->auth;

		if (ln->dropped)
			continue;
		if (i > 0) /* lane 0's gate is in sched_wait_ms() already */
			wait = sched_wait_ms(ln->sched, en->now, wait);
		if (auth_enabled(a) && !a->in_flight && a->retry_ms > en->now &&
		    a->retry_ms - en->now < wait)
			wait = (long)(a->retry_ms - en->now);
		/* a low budget seen with nothing in flight: look again */
		if (ln->budget_ms >= 0 && ln->sched->in_flight == 0 &&
		    ln->budget_at + LANE_BUDGET_STALE_MS > en->now &&
		    ln->budget_at + LANE_BUDGET_STALE_MS - en->now < wait)
			wait = (long)(ln->budget_at + LANE_BUDGET_STALE_MS -
				      en->now);
	}
	return wait < 0 ? 0 : wait;
}

/*
 * Entra ID built-in role template ids, as the wids claim of a person's
 * token lists them (docs/fidelity.md): Global and Exchange Administrator.
 */
#define WID_GLOBAL_ADMIN "62e90394-69f5-4237-9190-012177145e10"
#define WID_EXCHANGE_ADMIN "29232cdf-9323-42fd-ade2-1d097af3e4de"

/* Does the token of 'a' name a Global or Exchange Administrator? */
static bool directory_admin(const struct auth *a)
{
	const char *tok = a->token ? strstr(a->token, "Bearer ") : NULL;
	const char *d1, *d2;
	struct buf raw = BUF_INIT(64 * 1024);
	struct err e = ERR_INIT;
	cJSON *claims, *it;
	bool yes = false;

	if (!tok)
		return false;
	tok += 7;
	d1 = strchr(tok, '.');
	d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	if (!d2 ||
	    jwt_base64url_decode(&raw, d1 + 1, (size_t)(d2 - d1 - 1), &e) < 0) {
		buf_release(&raw);
		return false;
	}
	claims = cJSON_ParseWithLength(raw.ptr, raw.len);
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(claims, "wids"))
	{
		const char *w = cJSON_GetStringValue(it);

		if (w && (!strcmp(w, WID_GLOBAL_ADMIN) ||
			  !strcmp(w, WID_EXCHANGE_ADMIN)))
			yes = true;
	}
	cJSON_Delete(claims);
	job_secret_wipe(&raw);
	return yes;
}

/* GET 'path' of the Web API as 'ln': the JSON answer, or NULL. */
static cJSON *api_get(struct engine *en, const struct lane *ln,
		      const char *path, struct err *e)
{
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	struct request *r;
	cJSON *json = NULL;

	buf_addf(&url, "%s%s", en->api_root, path);
	r = request_new("GET", url.ptr);
	buf_release(&url);
	common_headers(en, ln, r);
	r = call(en, r, e);
	if (!r)
		return NULL;
	if (r->result == CURLE_OK && r->status == 200)
		json = cJSON_ParseWithLength(r->response.ptr, r->response.len);
	else
		err_set(e, ERR_PROTOCOL, "GET %s answered HTTP %ld", path,
			r->status);
	request_free(r);
	return json;
}

int lanes_check_approver(struct engine *en, struct err *e)
{
	struct lane *ln;
	struct buf path = BUF_INIT(BUF_MAX_SMALL), roles = BUF_INIT(4096);
	const char *uid;
	cJSON *who, *list, *it;
	bool sysadmin = false, dma = false, admin, may;
	struct runlog_line l;

	if (en->approve_lane < 0)
		return 0;
	ln = &en->lanes[en->approve_lane];
	/* WhoAmI, then the systemuser's roles */
	who = api_get(en, ln, "WhoAmI", e);
	uid = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(who, "UserId"));
	if (!uid) {
		cJSON_Delete(who);
		return err_set(e, ERR_PROTOCOL,
			       "approve_auth: WhoAmI named no user");
	}
	buf_addf(&path,
		 "systemusers(%s)/systemuserroles_association?$select=name",
		 uid);
	list = api_get(en, ln, path.ptr, e);
	buf_release(&path);
	if (!list) {
		cJSON_Delete(who);
		return -1;
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(list, "value"))
	{
		const char *n = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(it, "name"));

		if (!n)
			continue;
		buf_addf(&roles, "%s%s", roles.len ? ", " : "", n);
		sysadmin |= !strcmp(n, "System Administrator");
		dma |= !strcmp(n, "Delegated Mailbox Approver");
	}
	admin = directory_admin(ln->auth);
	may = sysadmin && (admin || dma);
	/* said before anything is written, plan or run */
	fprintf(stderr,
		"mbxfix: approve_auth (client %s) signs in as user %s, roles: "
		"%s%s: %s\n",
		ln->client_id, uid, roles.len ? roles.ptr : "none",
		admin ? "; Global or Exchange Administrator" : "",
		may ? "may approve email addresses"
		    : "may NOT approve email addresses (needs System "
		      "Administrator and either a Global or Exchange "
		      "Administrator or the Delegated Mailbox Approver role)");
	if (runlog_begin(en->log, &l, may ? LOG_INFO : LOG_WARN, "approver")) {
		runlog_str(&l, "client_id", ln->client_id);
		runlog_str(&l, "user", uid);
		runlog_str(&l, "roles", roles.len ? roles.ptr : "");
		runlog_int(&l, "directory_admin", admin);
		runlog_int(&l, "may_approve", may);
		runlog_end(&l);
	}
	buf_release(&roles);
	cJSON_Delete(list);
	cJSON_Delete(who);
	return 0;
}
