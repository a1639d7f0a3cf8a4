/*
 * dv.h: the seam between dvsim's HTTP server (server.c, batch.c, token.c,
 * limits.c) and its organisation and Web API (org.c, api*.c, filter.c,
 * gen.c, testenable.c).
 *
 * The server authenticates a request, applies the service protection
 * limits, then hands each Web API operation (a plain request, or one part
 * of a $batch) to dv_api_handle() while holding the organisation's lock.
 * Nothing here is shared with mbxfix's own $batch, JSON or JWT code.
 */
#ifndef DVSIM_DV_H
#define DVSIM_DV_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

struct dv_org; /* opaque: the whole organisation, in memory */

/* Lifecycle. dv_org_free(NULL) does nothing. */
struct dv_org *dv_org_new(void);
void dv_org_free(struct dv_org *org);

/* Load an organisation from the JSON written by dv_org_to_json(). */
int dv_org_load(struct dv_org *org, const char *path, struct err *e);

/*
 * Generate 'n' users with one mailbox each (plus a few queues), with the
 * known problems drawn from 'mix' (NULL = the default mix; the syntax is
 * documented in gen.c and the README) using 'seed'. The same arguments
 * always give the same organisation.
 */
int dv_org_generate(struct dv_org *org, unsigned n, const char *mix,
		    unsigned long seed, struct err *e);

/* The whole organisation as JSON (for GET /_sim/state and --dump). */
int dv_org_to_json(struct dv_org *org, struct buf *out);

/* Every access below is made with this lock held. */
void dv_org_lock(struct dv_org *org);
void dv_org_unlock(struct dv_org *org);

/*
 * Application users (systemusers with applicationid set) for the clients
 * given on the command line. DV_APP_APPROVER: System Administrator plus
 * Delegated Mailbox Approver; DV_APP_LIMITED: System Administrator only.
 */
enum dv_app_kind { DV_APP_APPROVER, DV_APP_LIMITED };
int dv_org_add_app_user(struct dv_org *org, const char *client_id,
			enum dv_app_kind kind, struct err *e);

/*
 * A person who signs in with the device code flow (token.h): a systemuser
 * with 'upn' as domainname, System Administrator, and Delegated Mailbox
 * Approver when 'approver'. 'userid' gets the systemuserid (the existing
 * one when a loaded dump has the person already).
 */
int dv_org_add_person(struct dv_org *org, const char *upn,
		      const char *fullname, const char *oid, bool approver,
		      char userid[37], struct err *e);

/*
 * Directory roles: 'userid' holds the Global (or Exchange) Administrator
 * role in Entra ID, which lets it approve email addresses with System
 * Administrator (docs/fidelity.md).
 */
void dv_org_set_directory_admin(struct dv_org *org, const char *userid);
bool dv_org_is_directory_admin(struct dv_org *org, const char *userid);

/* The systemuserid of the application user of 'client_id', or NULL. */
const char *dv_org_app_user(struct dv_org *org, const char *client_id);

/* Test & Enable: evaluations happen this long after scheduling. */
void dv_org_set_test_delay(struct dv_org *org, long ms);

/*
 * A generated organisation whose mailboxes were tested before: every
 * mailbox evaluated once now, as Test & Enable would (statuses, alerts).
 * The same seed gives the same statuses and alerts.
 */
void dv_org_pretest(struct dv_org *org);

/* Run the Test & Enable evaluations that are due. Called often. */
void dv_org_tick(struct dv_org *org);

/* Change sets: everything between begin and rollback is undone. */
void dv_org_txn_begin(struct dv_org *org);
void dv_org_txn_commit(struct dv_org *org);
void dv_org_txn_rollback(struct dv_org *org);

struct dv_header {
	const char *name;
	const char *value;
};

/* One Web API operation. Every pointer is borrowed for the call. */
struct dv_request {
	const char *method; /* "GET", "PATCH", "POST", "DELETE" */
	/*
	 * The resource path after "/api/data/v9.2/" with its query string
	 * as received (still percent-encoded), e.g.
	 * "mailboxes?$select=name&$filter=emailaddress%20eq%20'a@b'".
	 */
	const char *url;
	const struct dv_header *headers; /* case-insensitive names */
	size_t nheaders;
	const char *body;
	size_t body_len;
	const char *caller;   /* systemuserid of the signed-in app user */
	const char *base_url; /* e.g. "http://127.0.0.1:8580/api/data/v9.2/" */
};

struct dv_response {
	int status;
	struct buf headers; /* "Name: value\r\n" lines, no status line */
	struct buf body;
};

void dv_response_init(struct dv_response *r);
void dv_response_release(struct dv_response *r);
void dv_response_reset(struct dv_response *r);

/* The value of header 'name' of 'req' (case-insensitive), or NULL. */
const char *dv_request_header(const struct dv_request *req, const char *name);

/*
 * Fill 'r' with Dataverse's error shape:
 * {"error":{"code":"0x80040217","message":"..."}} and its status.
 */
void dv_response_error(struct dv_response *r, int status, const char *code,
		       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Serve one operation; the caller holds the lock. Always fills 'resp',
 * errors included (as Dataverse would answer them). Returns the status.
 */
int dv_api_handle(struct dv_org *org, const struct dv_request *req,
		  struct dv_response *resp);

#endif
