/*
 * stats.h: what the simulator saw, for GET /_sim/stats. Thread-safe.
 */
#ifndef DVSIM_STATS_H
#define DVSIM_STATS_H

#include "buf.h"

enum stats_counter {
	STATS_REQUESTS, /* every HTTP request received */
	STATS_API,	/* Web API requests (a $batch counts once) */
	STATS_BATCHES,
	STATS_OPERATIONS, /* Web API operations, every $batch part counts */
	STATS_OP_GET,
	STATS_OP_PATCH,
	STATS_OP_POST,
	STATS_OP_DELETE,
	STATS_WRITES, /* successful (committed) PATCH/POST/DELETE */
	STATS_TOKENS, /* access tokens issued */
	STATS_TOKEN_ERRORS,
	STATS_401,
	STATS_429,
	STATS_FAULT_503,
	STATS_FAULT_RESET,
	STATS_THROTTLED_VIOLATIONS,
	STATS_SCENARIO_FAULTS,
	STATS_GRAPH_REQUESTS,  /* HTTP requests to Microsoft Graph (/v1.0) */
	STATS_GRAPH_BATCHES,   /* of which $batch */
	STATS_GRAPH_USERS,     /* user lookups, each request of a batch */
	STATS_GRAPH_429,       /* throttled: whole batches and requests */
	STATS_GRAPH_429_BATCH, /* of which whole batches */
	STATS_GRAPH_403,       /* Authorization_RequestDenied */
	STATS_GRAPH_401,       /* no or wrong token */
	STATS_NCOUNTERS
};

struct stats;

struct stats *stats_new(void);
void stats_free(struct stats *s);

void stats_add(struct stats *s, enum stats_counter c, long n);
long stats_get(struct stats *s, enum stats_counter c);

/* One more successful write through the bound action 'name'. */
void stats_add_action(struct stats *s, const char *name);

/* Everything as one JSON object. */
int stats_to_json(struct stats *s, struct buf *out);

#endif
