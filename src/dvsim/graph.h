/*
 * graph.h: dvsim's Microsoft Graph, the Exchange side of each user as
 * Graph shows it (docs/fidelity.md, "Microsoft Graph").
 *
 * Routes (under the same listener as the Web API):
 *   GET  /v1.0/users/{id | userPrincipalName}[?$select=a,b]
 *   GET  /v1.0/organization[?$select=...]
 *   POST /v1.0/$batch     JSON batching: {"requests":[{"id","method",
 *                         "url"}]}, at most 20, answered in reverse
 *                         order ({"responses":[{"id","status","headers",
 *                         "body"}]}) so that clients map answers by id
 *
 * Users come from the organisation: every systemuser that is not an
 * application user is an Entra user; what Graph shows of it follows the
 * user's Exchange side in org->sim (org.h): "location" (online, onprem),
 * "licensed", "address", "recreated" (the Entra object id is no longer
 * the Dataverse user's azureactivedirectoryobjectid), "tenant" (the
 * mailbox is in another tenant: no mail, no proxy addresses, no plans
 * here). The tenant (id and verified domains) is org->sim["tenant"].
 *
 * Tokens must be issued for https://graph.microsoft.com and carry the
 * application permission in their "roles" claim (User.Read.All or
 * Directory.Read.All for users, Organization.Read.All or
 * Directory.Read.All for the organization), else 403
 * Authorization_RequestDenied. Errors have Graph's shape
 * {"error":{"code","message","innerError":{...}}}. With a limit set,
 * more than 'limit' requests (each request of a batch counts) in one
 * second are answered 429 with Retry-After: 1, inside a batch per
 * request, and the whole batch when the budget is already spent.
 */
#ifndef DVSIM_GRAPH_H
#define DVSIM_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "dv.h"
#include "stats.h"
#include "token.h"

struct dv_graph;

/* 'limit': requests a second before 429 (0: none). */
struct dv_graph *dv_graph_new(long limit);
void dv_graph_free(struct dv_graph *g);

struct dv_graph_req {
	const char *method;
	const char *path;  /* after "/v1.0", e.g. "/users/a@b", decoded */
	const char *query; /* after '?', raw, or NULL */
	const char *body;
	size_t body_len;
	const char *authorization;
	long now_ms;
};

/* Serve one request (takes the organisation lock itself). */
int dv_graph_handle(struct dv_graph *g, struct dv_org *org,
		    struct token_store *ts, struct stats *st,
		    const struct dv_graph_req *req, struct dv_response *resp);

/*
 * The tenant of the organisation (org->sim["tenant"]): its id and whether
 * 'name' (a tenant in a token URL) is it, by id or verified domain.
 * Called under the organisation lock or before serving.
 */
const char *dv_graph_tenant_id(struct dv_org *org);
bool dv_graph_tenant_is(struct dv_org *org, const char *name);

#endif
