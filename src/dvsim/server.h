/*
 * server.h: dvsim's HTTP(S) front end on libmicrohttpd.
 *
 * Routes:
 *   POST /{tenant}/oauth2/v2.0/token       token.h
 *   /api/data/v9.2/...                     one operation -> dv_api_handle()
 *   POST /api/data/v9.2/$batch             batch.h
 *   GET  /_sim/state                       the organisation as JSON
 *   GET  /_sim/stats                       stats.h
 *   /v1.0/...                              Microsoft Graph, graph.h
 *   /_sim/<scenario>/api/data/v9.2/...     the same API with a fault
 *
 * Scenarios (src/dvsim/server.h) let one running simulator serve every test
 * case. <scenario> is NAME or NAME-N: with -N the fault is injected into
 * the first N requests made through that exact prefix (counted per
 * prefix), then requests pass through normally; without it, always.
 * A suffix @K lets the first K requests through the prefix pass untouched
 * first (NAME@K: every request after them; NAME-N@K: the N after them),
 * so a client's connection probe can succeed before the fault.
 * The fault comes after sign-in (a valid token is still required):
 *   429           429, Retry-After: 1 (seconds), code 0x80072322
 *   429date       429, Retry-After as an HTTP date 2 s ahead
 *   429none       429 without Retry-After
 *   503           503 with Dataverse error JSON
 *   expire        the bearer token is revoked and the request gets 401,
 *                 as when a token expires mid-run
 *   expirepart    in a $batch, the bearer token is revoked and every
 *                 part is answered 401 (nothing runs) inside a 200
 *                 multipart answer; outside a $batch, as expire
 *   slow          the response is delayed by 3 s, then served normally
 *   failcs        in a $batch, the first change set fails at its last
 *                 request (400 0x80044331) and is rolled back
 *   badmultipart  a $batch is executed but its multipart response is cut
 *                 short (no closing delimiter, truncated part)
 *   nocontinue    a $batch ignores Prefer: odata.continue-on-error: it
 *                 stops at the first failure, answered with an outer 400
 *                 (a server that does not apply the preference)
 *
 * Every API request is checked, in order: fault injection (--reset-rate,
 * --fail-rate), the bearer token, the scenario, the service protection
 * limits of its application user, then --latency-ms and --op-ms per
 * operation are spent (without the organisation lock) and the operation
 * runs under dv_org_lock().
 *
 * With DVSIM_TRACE=1 in the environment every Web API operation ($batch
 * parts included) and token request is traced on stderr as
 * "METHOD URL -> STATUS": never a header, body, token or secret.
 */
#ifndef DVSIM_SERVER_H
#define DVSIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "dv.h"
#include "limits.h"
#include "stats.h"
#include "token.h"

struct dv_graph;

/* Request bodies beyond this get 413. */
#define SERVER_MAX_BODY ((size_t)16 * 1024 * 1024)

struct server_cfg {
	const char *host;     /* numeric IPv4, "127.0.0.1" */
	unsigned short port;  /* 0: pick one */
	const char *tls_cert; /* PEM text (not a path), NULL for HTTP */
	const char *tls_key;
	long latency_ms;
	long op_ms;
	int dop_hint; /* x-ms-dop-hint on every answer */
	struct limits_cfg limits;
	double fail_rate;
	double reset_rate;
	unsigned long seed;
	struct dv_graph *graph; /* Microsoft Graph (graph.h), or NULL */
};

struct server;

/* Start serving; the objects passed stay owned by the caller. */
struct server *server_start(const struct server_cfg *cfg, struct dv_org *org,
			    struct token_store *ts, struct stats *st,
			    struct err *e);
unsigned short server_port(const struct server *s);

/* Stop accepting, finish the requests in progress, free. NULL is fine. */
void server_stop(struct server *s);

#endif
