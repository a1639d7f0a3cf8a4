/*
 * graph.h: the Exchange side of a mailbox, read from Microsoft Graph.
 *
 * A 401 alert of Test & Enable has one text for six causes (KB 3212785,
 * diagnose.h). Five of them show in Microsoft Graph, read with the job's
 * own Entra application (application permission User.Read.All, token
 * scope https://graph.microsoft.com/.default):
 *
 *   - the Entra user (looked up by the Dataverse user's UPN) does not
 *     exist, or its object id is not the Dataverse user's
 *     azureactivedirectoryobjectid: deleted and recreated;
 *   - the user is a guest, or the mailbox's domain is not a verified
 *     domain of the tenant (/organization): the mailbox is in another
 *     tenant;
 *   - a cloud mailbox (Exchange Online profile) without an enabled
 *     Exchange service plan in assignedPlans: no licence;
 *   - the mailbox's address is neither the user's mail nor one of its
 *     proxyAddresses: the address differs;
 *   - an Exchange Server (or Hybrid) profile for a user whose Exchange
 *     Online plan is enabled: the mailbox lives in the cloud.
 * The sixth (Basic authentication off for EWS on Exchange Server) cannot
 * be seen from Graph.
 *
 * The client (struct graph) runs beside the engine on the same thread
 * with its own libcurl multi handle and token: rows ask for a user with
 * graph_user() and poll it; graph_pump(), called from the engine's
 * loop, sends the users asked for in JSON $batch requests of 20
 * (docs/fidelity.md, "Microsoft Graph"), honours Retry-After for the
 * whole batch and for each request in it, and retries transient
 * failures up to run.max_attempts. A missing User.Read.All (the token's
 * roles, or a 403 Authorization_RequestDenied) turns the checks off for
 * the run with one message; it never fails the run.
 */
#ifndef MBXFIX_GRAPH_H
#define MBXFIX_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

struct job;

#define GRAPH_BATCH_MAX 20 /* Graph's limit of requests in one $batch */
#define GRAPH_SCOPE "https://graph.microsoft.com/.default"
#define GRAPH_USER_SELECT                                                      \
	"id,userPrincipalName,mail,proxyAddresses,assignedPlans,userType"

/* Pure helpers --------------------------------------------------------- */

/* One answer of a JSON $batch response; borrowed from the parsed root. */
struct graph_answer {
	const char *id;
	long status;
	const cJSON *body;  /* NULL when the answer has none */
	long retry_after_s; /* its Retry-After header; -1 when absent */
};

/*
 * Parse a JSON $batch response ({"responses":[{"id","status","headers",
 * "body"}]}, in any order). Returns the parsed root (free with
 * cJSON_Delete()) and '*out' (free()), or NULL with 'why' set.
 */
cJSON *graph_parse_batch(const char *text, size_t len,
			 struct graph_answer **out, size_t *n, char *why,
			 size_t whylen);

/*
 * Whether 'address' is the user's mail or one of its proxyAddresses
 * ("SMTP:a@b" primary, "smtp:a@b" secondary, other types ignored),
 * compared without regard to case.
 */
bool graph_address_matches(const cJSON *user, const char *address);

/* Whether an Exchange service plan is assigned and usable
 * (capabilityStatus Enabled, or Warning: in its grace period). */
bool graph_has_exchange(const cJSON *user);

enum graph_cause {
	GRAPH_OK = 0,	    /* nothing Graph can see is wrong */
	GRAPH_RECREATED,    /* UserRecreated */
	GRAPH_OTHER_TENANT, /* OtherTenant */
	GRAPH_NO_LICENCE,   /* NoExchangeLicence */
	GRAPH_ADDRESS,	    /* AddressDiffersFromExchange */
	GRAPH_HYBRID,	    /* HybridProfileForCloudMailbox */
};

/* What is known of the mailbox on the Dataverse side. */
struct graph_subject {
	const char *objectid; /* azureactivedirectoryobjectid, may be NULL */
	const char *upn;      /* systemuser domainname */
	const char *address;  /* the mailbox's emailaddress */
	int profile_type;     /* servertype: 0, 2 Exchange Server, 3 Online;
				 -1 unknown */
};

/* The tenant as Graph shows it (/organization). */
struct graph_tenant {
	char id[256];	/* "!..." when it is not Dataverse's (why) */
	char **domains; /* verified domains, lower case */
	size_t ndomains;
};

/*
 * Judge one mailbox: 'user' is Graph's answer (NULL: no such user, 404).
 * Returns the cause and writes what was seen into 'detail' (both ids,
 * both addresses...).
 */
enum graph_cause graph_judge(const struct graph_subject *s, const cJSON *user,
			     const struct graph_tenant *t, char *detail,
			     size_t size);

/* The code each cause has in error_code ("" for GRAPH_OK). */
const char *graph_cause_code(enum graph_cause c);

/* The client ------------------------------------------------------------ */

struct graph;

/* The client for job 'j' (borrowed); -1 with 'e' set. */
int graph_new(struct graph **out, const struct job *j, struct err *e);
void graph_free(struct graph *g);

/* The client of the run (NULL: checks off), set by cmd_run.c. */
void graph_set_current(struct graph *g);
struct graph *graph_current(void);

enum graph_state {
	GRAPH_PENDING,	 /* asked, no answer yet: poll again */
	GRAPH_FOUND,	 /* '*user' is the user */
	GRAPH_NOT_FOUND, /* 404 Request_ResourceNotFound */
	GRAPH_FAILED,	 /* no answer after every retry: see '*why' */
	GRAPH_OFF,	 /* checks turned off (no permission): skip */
};

/*
 * The Entra user with UPN (or object id) 'key': the first call queues the
 * lookup. '*user' is borrowed until graph_free().
 */
enum graph_state graph_user(struct graph *g, const char *key,
			    const cJSON **user, const char **why);

/* The tenant, once known (NULL before, or when the checks are off). */
const struct graph_tenant *graph_tenant(const struct graph *g);

/*
 * Drive the client at 'now_ms' without blocking: sign in, read the
 * tenant, send queued users, collect answers. Returns the longest the
 * caller may sleep before the next call (ms; -1 when idle).
 */
long graph_pump(struct graph *g, int64_t now_ms);

/* Counters for summary and tests: requests sent (token, organization,
 * $batch) and Graph answers of 429. */
struct graph_stats {
	unsigned long requests, batches, users, throttled, retries;
};
const struct graph_stats *graph_stats(const struct graph *g);

#endif
