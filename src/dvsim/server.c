/*
 * server.c: dvsim's HTTP(S) front end (server.h): libmicrohttpd set-up,
 * routing, authentication of each request, service protection, the
 * /_sim/ scenarios and faults. About 1,250 lines: each route is short,
 * and they share the connection state and the fault injection.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "batch.h"
#include "log.h"
#include "server.h"
#include "dvsim/graph.h"

#include "banned.h"

#define API_PREFIX "/api/data/v9.2/"
#define SCENARIO_SLOW_MS 3000

struct scenario_count {
	char *name;
	long n;
};

struct server {
	struct server_cfg cfg;
	struct dv_org *org;
	struct token_store *ts;
	struct stats *st;
	struct MHD_Daemon *d;
	unsigned short port;
	bool tls;

	pthread_mutex_t mu;	   /* limits, rng, scenario counts */
	struct limits_user *users; /* one per client of 'ts' */
	unsigned long long rng;
	unsigned long long nonce;
	struct scenario_count *scn;
	size_t nscn;

	pthread_t ticker;
	bool ticker_started;
	atomic_bool stopping;
};

/* One HTTP request, from the URI callback to the completion callback. */
struct req {
	char *uri;
	struct buf body;
	bool started;
	bool too_big;
};

static long mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Sleep, in slices, so that shutdown is not held up. */
static void sleep_ms(struct server *s, long ms)
{
	while (ms > 0 && !atomic_load(&s->stopping)) {
		long slice = ms > 50 ? 50 : ms;
		struct timespec t = {.tv_sec = 0, .tv_nsec = slice * 1000000L};

		while (nanosleep(&t, &t) < 0 && errno == EINTR)
			;
		ms -= slice;
	}
}

static unsigned long long next_rand(struct server *s)
{
	unsigned long long z;

	pthread_mutex_lock(&s->mu);
	z = (s->rng += 0x9e3779b97f4a7c15ULL);
	pthread_mutex_unlock(&s->mu);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rand01(struct server *s)
{
	return (double)(next_rand(s) >> 11) / 9007199254740992.0;
}

/* Responses ---------------------------------------------------------- */

static enum MHD_Result send_resp(struct MHD_Connection *conn,
				 struct dv_response *r)
{
	struct MHD_Response *mr;
	size_t len;
	char *body = buf_detach(&r->body, &len);
	const char *p = r->headers.ptr;
	enum MHD_Result ret;

	mr = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!mr) {
		free(body);
		return MHD_NO;
	}
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t llen = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', llen);

		if (colon) {
			char *name = xstrndup(p, (size_t)(colon - p));
			const char *v = colon + 1;
			char *val;

			while (*v == ' ')
				v++;
			val = xstrndup(v, llen - (size_t)(v - p));
			val[strcspn(val, "\r")] = '\0';
			MHD_add_response_header(mr, name, val);
			free(name);
			free(val);
		}
		p += llen + (eol ? 1 : 0);
	}
	ret = MHD_queue_response(conn, (unsigned)r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status,
				  const char *code, const char *msg)
{
	struct dv_response r;
	enum MHD_Result ret;

	dv_response_init(&r);
	dv_response_error(&r, status, code, "%s", msg);
	ret = send_resp(conn, &r);
	dv_response_release(&r);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, struct buf *json)
{
	struct dv_response r;
	enum MHD_Result ret;

	dv_response_init(&r);
	r.status = 200;
	buf_addstr(&r.headers, "Content-Type: application/json\r\n");
	buf_add(&r.body, json->ptr, json->len);
	ret = send_resp(conn, &r);
	dv_response_release(&r);
	return ret;
}

/* Request helpers ---------------------------------------------------- */

struct hdrs {
	struct dv_header *h;
	size_t n, alloc;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
				      const char *key, const char *value)
{
	struct hdrs *hs = cls;

	(void)kind;
	if (hs->n == hs->alloc) {
		hs->alloc = hs->alloc ? 2 * hs->alloc : 16;
		hs->h = xrealloc(hs->h, hs->alloc * sizeof(*hs->h));
	}
	hs->h[hs->n].name = key;
	hs->h[hs->n].value = value ? value : "";
	hs->n++;
	return MHD_YES;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static bool prefer_has(const char *prefer, const char *pref)
{
	size_t n = strlen(pref);

	for (const char *p = prefer; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (!strncasecmp(p, pref, n) &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ';' ||
		     p[n] == ' ' || p[n] == '='))
			return true;
		p = strchr(p, ',');
	}
	return false;
}

/* The name after "Microsoft.Dynamics.CRM." in an action URL, or NULL. */
static char *action_name(const char *url)
{
	const char *p = strstr(url, "Microsoft.Dynamics.CRM.");

	if (!p)
		return NULL;
	p += strlen("Microsoft.Dynamics.CRM.");
	return xstrndup(p, strcspn(p, "(/?"));
}

static void count_op(struct server *s, const char *method)
{
	stats_add(s->st, STATS_OPERATIONS, 1);
	if (!strcmp(method, "GET"))
		stats_add(s->st, STATS_OP_GET, 1);
	else if (!strcmp(method, "PATCH"))
		stats_add(s->st, STATS_OP_PATCH, 1);
	else if (!strcmp(method, "POST"))
		stats_add(s->st, STATS_OP_POST, 1);
	else if (!strcmp(method, "DELETE"))
		stats_add(s->st, STATS_OP_DELETE, 1);
}

static void count_write(struct server *s, const char *method, const char *url,
			int status)
{
	char *act;

	if (status >= 400 ||
	    (strcmp(method, "PATCH") && strcmp(method, "POST") &&
	     strcmp(method, "DELETE") && strcmp(method, "PUT")))
		return;
	stats_add(s->st, STATS_WRITES, 1);
	act = action_name(url);
	if (act && *act)
		stats_add_action(s->st, act);
	free(act);
}

/* $batch callbacks: the organisation lock is already held. */
static int cb_handle(void *ctx, const struct dv_request *req,
		     struct dv_response *resp)
{
	struct server *s = ctx;

	count_op(s, req->method);
	dv_api_handle(s->org, req, resp);
	log_info("  part %s %s -> %d", req->method, req->url, resp->status);
	return resp->status;
}

static void cb_begin(void *ctx)
{
	dv_org_txn_begin(((struct server *)ctx)->org);
}

static void cb_commit(void *ctx)
{
	dv_org_txn_commit(((struct server *)ctx)->org);
}

static void cb_rollback(void *ctx)
{
	dv_org_txn_rollback(((struct server *)ctx)->org);
}

/* Scenarios ---------------------------------------------------------- */

enum scenario {
	SCN_NONE,
	SCN_429,
	SCN_429DATE,
	SCN_429NONE,
	SCN_503,
	SCN_EXPIRE,
	SCN_EXPIREPART,
	SCN_SLOW,
	SCN_FAILCS,
	SCN_BADMULTIPART,
	SCN_ECHOSECRET,
	SCN_NOCONTINUE,
};

static const struct {
	const char *name;
	enum scenario scn;
} scenarios[] = {
    {"429", SCN_429},
    {"429date", SCN_429DATE},
    {"429none", SCN_429NONE},
    {"503", SCN_503},
    {"expire", SCN_EXPIRE},
    {"slow", SCN_SLOW},
    {"failcs", SCN_FAILCS},
    {"badmultipart", SCN_BADMULTIPART},
    {"expirepart", SCN_EXPIREPART},
    {"echo-secret", SCN_ECHOSECRET},
    {"nocontinue", SCN_NOCONTINUE},
};

/* Parse NAME, NAME-N, NAME@K or NAME-N@K; -1 when unknown. */
static int scenario_parse(const char *seg, size_t len, enum scenario *scn,
			  long *count, long *skip)
{
	const char *at = memchr(seg, '@', len);
	const char *dash;
	size_t nlen;

	*skip = 0;
	if (at) {
		char tmp[16], *end;
		size_t alen = len - (size_t)(at - seg) - 1;

		if (alen == 0 || alen >= sizeof(tmp))
			return -1;
		memcpy(tmp, at + 1, alen);
		tmp[alen] = '\0';
		errno = 0;
		*skip = strtol(tmp, &end, 10);
		if (*end || errno || *skip < 0)
			return -1;
		len = (size_t)(at - seg);
	}
	/* the last '-' followed by digits only: names may hold a '-' */
	dash = NULL;
	for (size_t i = len; i-- > 0 && !dash;)
		if (seg[i] == '-')
			dash = seg + i;
	if (dash &&
	    (dash + 1 == seg + len ||
	     strspn(dash + 1, "0123456789") < len - (size_t)(dash - seg) - 1))
		dash = NULL;
	nlen = dash ? (size_t)(dash - seg) : len;
	*count = -1;
	if (dash) {
		char tmp[16], *end;

		if (len - nlen - 1 == 0 || len - nlen - 1 >= sizeof(tmp))
			return -1;
		memcpy(tmp, dash + 1, len - nlen - 1);
		tmp[len - nlen - 1] = '\0';
		errno = 0;
		*count = strtol(tmp, &end, 10);
		if (*end || errno || *count < 0)
			return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		if (strlen(scenarios[i].name) == nlen &&
		    !memcmp(scenarios[i].name, seg, nlen)) {
			*scn = scenarios[i].scn;
			return 0;
		}
	return -1;
}

/* Whether this request through prefix 'seg' gets the fault. */
static bool scenario_fires(struct server *s, const char *seg, size_t len,
			   long count, long skip)
{
	size_t i;
	bool fire;

	if (count < 0 && skip <= 0)
		return true;
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nscn; i++)
		if (strlen(s->scn[i].name) == len &&
		    !memcmp(s->scn[i].name, seg, len))
			break;
	if (i == s->nscn) {
		s->scn = xrealloc(s->scn, (s->nscn + 1) * sizeof(*s->scn));
		s->scn[i].name = xstrndup(seg, len);
		s->scn[i].n = 0;
		s->nscn++;
	}
	fire = s->scn[i].n >= skip && (count < 0 || s->scn[i].n < skip + count);
	s->scn[i].n++;
	pthread_mutex_unlock(&s->mu);
	return fire;
}

/*
 * The echo-secret scenario is hostile and exists only in the simulator:
 * no Microsoft service is documented to do this. Under the prefix
 * /_sim/echo-secret/ (the API; echo-secret@K spares the first K requests)
 * and for the token endpoint under an authority of
 * BASE/_sim/echo-secret, the answer is an error whose message quotes the
 * request's Authorization header and body, so that a client can be shown
 * never to print a secret, a token or an assertion a server echoes.
 */
#define ECHO_PREFIX "/_sim/echo-secret/"

static char *echo_message(struct MHD_Connection *conn, const struct req *rq)
{
	struct buf b = BUF_INIT(BUF_MAX_BODY);
	const char *auth = header(conn, "Authorization");

	buf_addf(&b, "Invalid request. Authorization: %s; body: ",
		 auth ? auth : "(none)");
	buf_add(&b, rq->body.ptr ? rq->body.ptr : "",
		rq->body.len > 16384 ? 16384 : rq->body.len);
	return buf_detach(&b, NULL);
}

/* The token endpoint's error in Entra ID's form, quoting the request. */
static enum MHD_Result echo_token(struct MHD_Connection *conn,
				  const struct req *rq)
{
	struct dv_response r;
	struct buf d = BUF_INIT(BUF_MAX_BODY);
	char *m = echo_message(conn, rq), *text;
	cJSON *root = cJSON_CreateObject();
	enum MHD_Result ret;

	buf_addf(&d, "AADSTS7000215: %s\r\nTrace ID: 0", m);
	cJSON_AddStringToObject(root, "error", "invalid_client");
	cJSON_AddStringToObject(root, "error_description", d.ptr);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	dv_response_init(&r);
	r.status = 401;
	buf_addstr(&r.headers, "Content-Type: application/json\r\n");
	buf_addstr(&r.body, text);
	ret = send_resp(conn, &r);
	dv_response_release(&r);
	free(text);
	free(m);
	buf_release(&d);
	return ret;
}

/* The API ------------------------------------------------------------ */

static void unauthorized(struct dv_response *r, enum token_check why)
{
	if (why == TOKEN_EXPIRED)
		dv_response_error(r, 401, "0x8005f101",
				  "The access token has expired.");
	else if (why == TOKEN_MISSING)
		dv_response_error(r, 401, "0x80040204",
				  "The request has no bearer access token.");
	else
		dv_response_error(r, 401, "0x80040204",
				  "The bearer access token is not valid.");
	buf_addstr(
	    &r->headers,
	    "WWW-Authenticate: Bearer authorization_uri="
	    "https://login.microsoftonline.com/common/oauth2/authorize\r\n");
}

static void throttled(struct server *s, struct dv_response *r,
		      enum limits_verdict v, long retry_after_s, int date)
{
	char msg[512];

	limits_message(v, &s->cfg.limits, msg, sizeof(msg));
	dv_response_error(r, 429, limits_code(v), "%s", msg);
	if (date == 1) {
		char d[64];
		time_t t = time(NULL) + 2;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		buf_addf(&r->headers, "Retry-After: %s\r\n", d);
	} else if (date == 0) {
		buf_addf(&r->headers, "Retry-After: %ld\r\n", retry_after_s);
	}
}

static void rate_headers(struct server *s, struct dv_response *r, size_t uidx)
{
	long now = mono_ms(), req, exec;
	char left[48];

	pthread_mutex_lock(&s->mu);
	req = limits_requests_left(&s->users[uidx], &s->cfg.limits, now);
	exec = limits_exec_ms_left(&s->users[uidx], &s->cfg.limits, now);
	pthread_mutex_unlock(&s->mu);
	limits_format_seconds(exec, left, sizeof(left));
	buf_addf(&r->headers,
		 "x-ms-ratelimit-burst-remaining-xrm-requests: %ld\r\n"
		 "x-ms-ratelimit-time-remaining-xrm-requests: %s\r\n"
		 "x-ms-dop-hint: %d\r\n",
		 req, left, s->cfg.dop_hint);
}

/* Cut a multipart response short: the badmultipart scenario. */
static void mangle(struct dv_response *r)
{
	size_t keep = r->body.len / 2;

	if (keep > 40)
		keep = 40 + (keep - 40) / 2;
	buf_setlen(&r->body, keep);
	buf_addstr(&r->body, "\r\n--batchresponse_");
}

/* The expirepart scenario: a part is refused, the token having expired. */
static int cb_expired(void *ctx, const struct dv_request *req,
		      struct dv_response *resp)
{
	struct server *s = ctx;

	(void)req;
	stats_add(s->st, STATS_401, 1);
	unauthorized(resp, TOKEN_EXPIRED);
	return resp->status;
}

static bool is_batch(const char *resource)
{
	return !strncmp(resource, "$batch", 6) &&
	       (resource[6] == '\0' || resource[6] == '?');
}

static void run_batch(struct server *s, struct MHD_Connection *conn,
		      struct req *rq, const char *caller, const char *base,
		      enum scenario scn, struct dv_response *resp)
{
	struct batch b;
	struct batch_result *results;
	struct batch_opts o = {0};
	struct batch_exec x = {s, cb_handle, cb_begin, cb_commit, cb_rollback};
	char msg[256];
	enum batch_parse_result pr;

	pr = batch_parse(&b, header(conn, "Content-Type"), rq->body.ptr,
			 rq->body.len, msg, sizeof(msg));
	if (pr != BATCH_PARSE_OK) {
		dv_response_error(resp, 400, "0x80060888", "%s", msg);
		return;
	}
	stats_add(s->st, STATS_BATCHES, 1);
	sleep_ms(s, s->cfg.op_ms * (long)b.nops);

	o.continue_on_error =
	    prefer_has(header(conn, "Prefer"), "odata.continue-on-error");
	/* nocontinue: the preference is ignored, the batch stops on error */
	if (scn == SCN_NOCONTINUE && o.continue_on_error) {
		stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
		o.continue_on_error = false;
	}
	o.fail_changeset = scn == SCN_FAILCS && b.nchangesets ? 0 : -1;
	o.caller = caller;
	o.base_url = base;
	pthread_mutex_lock(&s->mu);
	o.nonce = ++s->nonce ^ s->cfg.seed;
	pthread_mutex_unlock(&s->mu);
	if (o.fail_changeset == 0)
		stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
	if (scn == SCN_EXPIREPART) {
		stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
		token_revoke(s->ts, header(conn, "Authorization"));
		x.handle = cb_expired;
	}

	results = xcalloc(b.nops, sizeof(*results));
	dv_org_lock(s->org);
	batch_execute(&b, &o, &x, results, resp);
	dv_org_unlock(s->org);
	for (size_t i = 0; i < b.nops; i++)
		if (results[i].committed)
			count_write(s, b.ops[i].method, b.ops[i].url,
				    results[i].status);
	if (scn == SCN_BADMULTIPART) {
		stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
		mangle(resp);
	}
	free(results);
	batch_release(&b);
}

static enum MHD_Result serve_api(struct server *s, struct MHD_Connection *conn,
				 struct req *rq, const char *method,
				 const char *scn_seg, size_t scn_len,
				 const char *resource)
{
	enum scenario scn = SCN_NONE;
	const struct token_client *client;
	enum token_check tc;
	enum limits_verdict v;
	struct dv_response resp;
	struct buf base = BUF_INIT(1024);
	char *caller = NULL;
	const char *host = header(conn, "Host"), *who;
	long retry_after = 0, start, count = -1, skip = 0;
	size_t uidx;
	bool violation, admitted = false;
	enum MHD_Result ret;

	stats_add(s->st, STATS_API, 1);
	dv_response_init(&resp);

	/* faults first: a dropped connection or an unavailable service */
	{
		double r1 = rand01(s), r2 = rand01(s);

		if (r1 < s->cfg.reset_rate) {
			stats_add(s->st, STATS_FAULT_RESET, 1);
			dv_response_release(&resp);
			return MHD_NO;
		}
		if (r2 < s->cfg.fail_rate) {
			stats_add(s->st, STATS_FAULT_503, 1);
			dv_response_error(
			    &resp, 503, "0x80040216",
			    "The service is temporarily "
			    "unavailable. Please try again later.");
			goto send;
		}
	}

	tc = token_check(s->ts, header(conn, "Authorization"), wall_ms(),
			 &client);
	if (tc != TOKEN_VALID) {
		stats_add(s->st, STATS_401, 1);
		unauthorized(&resp, tc);
		goto send;
	}
	uidx = (size_t)(client - token_client_at(s->ts, 0));
	who = client->person ? client->upn : client->id;
	stats_user_add(s->st, who, STATS_U_REQUESTS);

	if (scn_seg) {
		if (scenario_parse(scn_seg, scn_len, &scn, &count, &skip) < 0) {
			dv_response_error(&resp, 404, "0x80060888",
					  "Unknown simulator scenario '%.*s'.",
					  (int)(scn_len > 64 ? 64 : scn_len),
					  scn_seg);
			goto send;
		}
		if (!scenario_fires(s, scn_seg, scn_len, count, skip))
			scn = SCN_NONE;
		/* in a $batch, run_batch() answers each part */
		if (scn == SCN_EXPIREPART && !is_batch(resource))
			scn = SCN_EXPIRE;
		switch (scn) {
		case SCN_429:
		case SCN_429DATE:
		case SCN_429NONE:
			stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
			stats_add(s->st, STATS_429, 1);
			throttled(s, &resp, LIMITS_REQUESTS, 1,
				  scn == SCN_429       ? 0
				  : scn == SCN_429DATE ? 1
						       : 2);
			goto send;
		case SCN_503:
			stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
			stats_add(s->st, STATS_FAULT_503, 1);
			dv_response_error(
			    &resp, 503, "0x80040216",
			    "The service is temporarily "
			    "unavailable. Please try again later.");
			goto send;
		case SCN_EXPIRE:
			stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
			stats_add(s->st, STATS_401, 1);
			token_revoke(s->ts, header(conn, "Authorization"));
			unauthorized(&resp, TOKEN_EXPIRED);
			goto send;
		case SCN_SLOW:
			stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
			sleep_ms(s, SCENARIO_SLOW_MS);
			break;
		case SCN_ECHOSECRET:
			/* hostile, simulator only: see echo_message() */
			stats_add(s->st, STATS_SCENARIO_FAULTS, 1);
			{
				char *m = echo_message(conn, rq);

				dv_response_error(&resp, 400, "0x80040203",
						  "%s", m);
				free(m);
			}
			goto send;
		default:
			break;
		}
	}

	start = mono_ms();
	pthread_mutex_lock(&s->mu);
	v = limits_admit(&s->users[uidx], &s->cfg.limits, start, &retry_after,
			 &violation);
	pthread_mutex_unlock(&s->mu);
	if (v != LIMITS_OK) {
		stats_add(s->st, STATS_429, 1);
		stats_user_add(s->st, who, STATS_U_429);
		if (violation) {
			stats_add(s->st, STATS_THROTTLED_VIOLATIONS, 1);
			stats_user_add(s->st, who, STATS_U_WHILE_THROTTLED);
		}
		throttled(s, &resp, v, retry_after, 0);
		rate_headers(s, &resp, uidx);
		goto send;
	}
	admitted = true;

	dv_org_lock(s->org);
	{
		/* a person's token: the person's own systemuser */
		const char *id = client->person
				     ? client->userid
				     : dv_org_app_user(s->org, client->id);

		caller = id ? xstrdup(id) : NULL;
	}
	dv_org_unlock(s->org);
	if (!caller) {
		dv_response_error(&resp, 403, "0x80072560",
				  "The user is not a member of the "
				  "organization.");
		goto done;
	}
	buf_addf(&base, "%s://%s", s->tls ? "https" : "http",
		 host ? host : "127.0.0.1");
	if (scn_seg)
		buf_addf(&base, "/_sim/%.*s", (int)scn_len, scn_seg);
	buf_addstr(&base, API_PREFIX);

	sleep_ms(s, s->cfg.latency_ms);
	if (is_batch(resource)) {
		if (strcmp(method, "POST")) {
			dv_response_error(&resp, 405, "0x80060888",
					  "The $batch endpoint only accepts "
					  "POST.");
			goto done;
		}
		run_batch(s, conn, rq, caller, base.ptr, scn, &resp);
		log_info("POST $batch -> %d", resp.status);
	} else {
		struct hdrs hs = {0};
		struct dv_request req = {0};

		MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header,
					  &hs);
		req.method = method;
		req.url = resource;
		req.headers = hs.h;
		req.nheaders = hs.n;
		req.body = rq->body.ptr;
		req.body_len = rq->body.len;
		req.caller = caller;
		req.base_url = base.ptr;
		sleep_ms(s, s->cfg.op_ms);
		count_op(s, method);
		dv_org_lock(s->org);
		dv_api_handle(s->org, &req, &resp);
		dv_org_unlock(s->org);
		if (!resp.status)
			dv_response_error(&resp, 500, "0x80040216",
					  "An unexpected error occurred.");
		count_write(s, method, resource, resp.status);
		free(hs.h);
		log_info("%s %s -> %d", method, resource, resp.status);
	}
done:
	if (admitted) {
		long now = mono_ms();

		pthread_mutex_lock(&s->mu);
		limits_done(&s->users[uidx], &s->cfg.limits, now, now - start);
		pthread_mutex_unlock(&s->mu);
		rate_headers(s, &resp, uidx);
	}
send:
	ret = send_resp(conn, &resp);
	dv_response_release(&resp);
	buf_release(&base);
	free(caller);
	return ret;
}

static enum MHD_Result serve_token(struct server *s,
				   struct MHD_Connection *conn, struct req *rq,
				   const char *tenant, size_t tlen)
{
	struct token_req tr = {0};
	struct dv_response resp;
	char *t = xstrndup(tenant, tlen);
	const char *host = header(conn, "Host");
	char aud[3][512];
	const char *auds[3];
	enum MHD_Result ret;

	snprintf(aud[0], sizeof(aud[0]),
		 "https://login.microsoftonline.com/%s/oauth2/v2.0/token", t);
	snprintf(aud[1], sizeof(aud[1]), "%s://%s/%s/oauth2/v2.0/token",
		 s->tls ? "https" : "http", host ? host : "", t);
	snprintf(aud[2], sizeof(aud[2]), "%s://%s:%u/%s/oauth2/v2.0/token",
		 s->tls ? "https" : "http", s->cfg.host, s->port, t);
	for (size_t i = 0; i < 3; i++)
		auds[i] = aud[i];
	tr.tenant = t;
	tr.form = rq->body.ptr;
	tr.form_len = rq->body.len;
	tr.content_type = header(conn, "Content-Type");
	tr.authorization = header(conn, "Authorization");
	tr.auds = auds;
	tr.nauds = 3;
	tr.now_ms = wall_ms();
	dv_response_init(&resp);
	sleep_ms(s, s->cfg.latency_ms);
	token_handle(s->ts, &tr, &resp);
	stats_add(s->st, resp.status == 200 ? STATS_TOKENS : STATS_TOKEN_ERRORS,
		  1);
	log_info("POST /%s/oauth2/v2.0/token -> %d", t, resp.status);
	ret = send_resp(conn, &resp);
	dv_response_release(&resp);
	free(t);
	return ret;
}

static enum MHD_Result serve_devicecode(struct server *s,
					struct MHD_Connection *conn,
					struct req *rq, const char *tenant,
					size_t tlen)
{
	struct dv_response resp;
	char *t = xstrndup(tenant, tlen);
	enum MHD_Result ret;

	dv_response_init(&resp);
	sleep_ms(s, s->cfg.latency_ms);
	token_device_code(
	    s->ts, t, rq->body.ptr, rq->body.len, header(conn, "Content-Type"),
	    "https://microsoft.com/devicelogin", wall_ms(), &resp);
	log_info("POST /%s/oauth2/v2.0/devicecode -> %d", t, resp.status);
	ret = send_resp(conn, &resp);
	dv_response_release(&resp);
	free(t);
	return ret;
}

/* A form field of the query string or the body, or NULL. */
static char *sim_field(struct MHD_Connection *conn, struct req *rq,
		       const char *name)
{
	const char *v =
	    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	struct buf f = BUF_INIT(1024);
	size_t nlen = strlen(name);
	const char *p = rq->body.ptr, *end = p ? p + rq->body.len : NULL;

	if (v)
		return xstrdup(v);
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;

		if ((size_t)(stop - p) > nlen && !strncmp(p, name, nlen) &&
		    p[nlen] == '=') {
			buf_add(&f, p + nlen + 1,
				(size_t)(stop - p) - nlen - 1);
			return buf_detach(&f, NULL);
		}
		p = stop + 1;
	}
	buf_release(&f);
	return NULL;
}

/*
 * /_sim/device: GET lists the device codes; POST user_code=...&person=
 * NAME&action=approve|deny|slow-down plays the person at the sign-in page
 * (docs/design.md).
 */
static enum MHD_Result serve_sim_device(struct server *s,
					struct MHD_Connection *conn,
					struct req *rq, const char *method)
{
	struct buf json = BUF_INIT(BUF_MAX_BODY);
	char msg[256] = "";
	char *code, *person, *action;
	enum MHD_Result ret;

	if (!strcmp(method, "GET")) {
		token_device_list(s->ts, wall_ms(), &json);
		ret = send_json(conn, &json);
		buf_release(&json);
		return ret;
	}
	if (strcmp(method, "POST"))
		return send_error(conn, 405, "0x80060888",
				  "Only GET and POST are supported here.");
	code = sim_field(conn, rq, "user_code");
	person = sim_field(conn, rq, "person");
	action = sim_field(conn, rq, "action");
	if (token_device_complete(s->ts, code, person, action, msg,
				  sizeof(msg)) < 0) {
		ret = send_error(conn, 400, "0x80060888", msg);
	} else {
		buf_addstr(&json, "{\"ok\":true}");
		ret = send_json(conn, &json);
	}
	buf_release(&json);
	free(code);
	free(person);
	free(action);
	return ret;
}

/* Microsoft Graph: /v1.0/... (graph.h) */
static enum MHD_Result serve_graph(struct server *s,
				   struct MHD_Connection *conn, struct req *rq,
				   const char *method, const char *uri)
{
	struct dv_graph_req gr = {0};
	struct dv_response resp;
	size_t plen = strcspn(uri, "?");
	char *path = xstrndup(uri + 5, plen - 5);
	enum MHD_Result ret;

	gr.method = method;
	gr.path = path;
	gr.query = uri[plen] ? uri + plen + 1 : NULL;
	gr.body = rq->body.ptr;
	gr.body_len = rq->body.len;
	gr.authorization = header(conn, "Authorization");
	gr.now_ms = wall_ms();
	dv_response_init(&resp);
	sleep_ms(s, s->cfg.latency_ms);
	dv_graph_handle(s->cfg.graph, s->org, s->ts, s->st, &gr, &resp);
	log_info("%s /v1.0%s -> %d", method, path, resp.status);
	ret = send_resp(conn, &resp);
	dv_response_release(&resp);
	free(path);
	return ret;
}

static enum MHD_Result dispatch(struct server *s, struct MHD_Connection *conn,
				struct req *rq, const char *method)
{
	const char *uri = rq->uri ? rq->uri : "/";
	size_t plen = strcspn(uri, "?");
	char *path = xstrndup(uri, plen);
	const char *slash;
	enum MHD_Result ret;

	stats_add(s->st, STATS_REQUESTS, 1);
	if (rq->too_big) {
		ret = send_error(conn, 413, "0x80040216",
				 "The request body is larger than the "
				 "simulator accepts.");
		goto out;
	}
	if (!strcmp(path, "/_sim/state") || !strcmp(path, "/_sim/stats")) {
		struct buf json = BUF_INIT(BUF_MAX_BODY);

		if (strcmp(method, "GET")) {
			ret = send_error(conn, 405, "0x80060888",
					 "Only GET is supported here.");
			goto out;
		}
		if (!strcmp(path, "/_sim/state")) {
			dv_org_lock(s->org);
			dv_org_to_json(s->org, &json);
			dv_org_unlock(s->org);
		} else {
			stats_to_json(s->st, &json);
		}
		ret = send_json(conn, &json);
		buf_release(&json);
		goto out;
	}
	if (!strcmp(path, "/_sim/device")) {
		ret = serve_sim_device(s, conn, rq, method);
		goto out;
	}
	if (!strncmp(path, API_PREFIX, strlen(API_PREFIX))) {
		ret = serve_api(s, conn, rq, method, NULL, 0,
				uri + strlen(API_PREFIX));
		goto out;
	}
	if (!strncmp(path, "/_sim/", 6) && (slash = strchr(path + 6, '/')) &&
	    slash > path + 6 &&
	    !strncmp(slash, API_PREFIX, strlen(API_PREFIX))) {
		size_t off = (size_t)(slash - path) + strlen(API_PREFIX);

		ret = serve_api(s, conn, rq, method, uri + 6,
				(size_t)(slash - path - 6), uri + off);
		goto out;
	}
	if (!strncmp(path, ECHO_PREFIX, strlen(ECHO_PREFIX)) && plen > 18 &&
	    !strcmp(path + plen - 18, "/oauth2/v2.0/token")) {
		ret = echo_token(conn, rq);
		goto out;
	}
	/* /{tenant}/oauth2/v2.0/token and /devicecode */
	if (s->cfg.graph && !strncmp(path, "/v1.0/", 6)) {
		ret = serve_graph(s, conn, rq, method, uri);
		goto out;
	}
	/* /{tenant}/oauth2/v2.0/token */
	slash = strchr(path + 1, '/');
	if (slash && slash > path + 1 &&
	    !strcmp(slash, "/oauth2/v2.0/devicecode")) {
		if (strcmp(method, "POST"))
			ret = send_error(conn, 405, "0x80060888",
					 "The device authorization endpoint "
					 "only accepts POST.");
		else
			ret = serve_devicecode(s, conn, rq, path + 1,
					       (size_t)(slash - path - 1));
		goto out;
	}
	if (slash && slash > path + 1 && !strcmp(slash, "/oauth2/v2.0/token")) {
		if (strcmp(method, "POST"))
			ret = send_error(conn, 405, "0x80060888",
					 "The token endpoint only accepts "
					 "POST.");
		else
			ret = serve_token(s, conn, rq, path + 1,
					  (size_t)(slash - path - 1));
		goto out;
	}
	ret = send_error(conn, 404, "0x80060888",
			 "Resource not found for the segment.");
out:
	free(path);
	return ret;
}

/* libmicrohttpd callbacks -------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *rq = xcalloc(1, sizeof(*rq));

	(void)cls;
	(void)conn;
	rq->uri = xstrdup(uri ? uri : "/");
	buf_init(&rq->body, SERVER_MAX_BODY);
	return rq;
}

static void on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!rq)
		return;
	buf_release(&rq->body);
	free(rq->uri);
	free(rq);
	*con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *s = cls;
	struct req *rq = *con_cls;

	(void)url;
	(void)version;
	if (!rq)
		return MHD_NO;
	if (!rq->started) {
		const char *cl = header(conn, "Content-Length");

		rq->started = true;
		if (cl) {
			char *end;
			unsigned long long n;

			errno = 0;
			n = strtoull(cl, &end, 10);
			if (!errno && !*end && n > SERVER_MAX_BODY) {
				stats_add(s->st, STATS_REQUESTS, 1);
				return send_error(
				    conn, 413, "0x80040216",
				    "The request body is larger "
				    "than the simulator accepts.");
			}
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!rq->too_big &&
		    buf_add(&rq->body, upload_data, *upload_data_size) < 0) {
			rq->too_big = true;
			buf_release(&rq->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(s, conn, rq, method);
}

static void *ticker(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stopping)) {
		struct timespec t = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};

		nanosleep(&t, NULL);
		dv_org_lock(s->org);
		dv_org_tick(s->org);
		dv_org_unlock(s->org);
	}
	return NULL;
}

struct server *server_start(const struct server_cfg *cfg, struct dv_org *org,
			    struct token_store *ts, struct stats *st,
			    struct err *e)
{
	struct server *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in sa = {0};
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	size_t n = token_nclients(ts);

	s->cfg = *cfg;
	s->org = org;
	s->ts = ts;
	s->st = st;
	s->rng = cfg->seed;
	s->tls = cfg->tls_cert != NULL;
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->stopping, false);
	s->users = xcalloc(n ? n : 1, sizeof(*s->users));
	for (size_t i = 0; i < n; i++)
		limits_user_init(&s->users[i], &s->cfg.limits);

	sa.sin_family = AF_INET;
	sa.sin_port = htons(cfg->port);
	if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
		err_set(e, ERR_USAGE, "'%s' is not an IPv4 address", cfg->host);
		goto fail;
	}
	if (s->tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			err_set(e, ERR_CONFIG,
				"libmicrohttpd was built without TLS");
			goto fail;
		}
		flags |= MHD_USE_TLS;
	}
	if (s->tls)
		s->d = MHD_start_daemon(
		    flags, cfg->port, NULL, NULL, on_request, s,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		    MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
		    MHD_OPTION_HTTPS_MEM_CERT, cfg->tls_cert,
		    MHD_OPTION_HTTPS_MEM_KEY, cfg->tls_key, MHD_OPTION_END);
	else
		s->d = MHD_start_daemon(
		    flags, cfg->port, NULL, NULL, on_request, s,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		    MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		    MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned)2000,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		    MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
		    MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
		    MHD_OPTION_END);
	if (!s->d) {
		err_set(e, ERR_NETWORK, "cannot listen on %s:%u", cfg->host,
			cfg->port);
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : cfg->port;
	if (pthread_create(&s->ticker, NULL, ticker, s)) {
		err_set(e, ERR_INTERNAL, "cannot start the timer thread");
		goto fail;
	}
	s->ticker_started = true;
	return s;
fail:
	server_stop(s);
	return NULL;
}

unsigned short server_port(const struct server *s)
{
	return s->port;
}

void server_stop(struct server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->ticker_started)
		pthread_join(s->ticker, NULL);
	for (size_t i = 0; i < s->nscn; i++)
		free(s->scn[i].name);
	free(s->scn);
	free(s->users);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
