/*
 * token.h: the Entra ID token endpoint (docs/fidelity.md) and the access
 * tokens it issues.
 *
 * POST /{tenant}/oauth2/v2.0/token, form-encoded client_credentials, with
 * client_secret (in the form or with HTTP Basic) or a certificate client
 * assertion (jwtv.h). Errors have the AADSTS shape (docs/fidelity.md). The docs
 * do not pin the status of invalid_client (open question 11): dvsim answers 401
 * for invalid_client, as Entra does in practice, and 400 for everything
 * else (invalid_request, invalid_scope, unauthorized_client,
 * unsupported_grant_type).
 *
 * Codes: 900144 missing parameter, 70003 unsupported grant type, 70011
 * bad scope, 700016 unknown client, 7000218 neither secret nor assertion,
 * 7000215 wrong secret, 50027 malformed assertion or wrong aud/iss/sub,
 * 700027 assertion signature (or thumbprint) invalid, 500133 assertion
 * outside nbf..exp.
 *
 * Access tokens are JWT-shaped and signed with HMAC-SHA256 under a key
 * drawn at start-up, so they need no table; they stop working
 * 'ttl_s' seconds after issue. Tokens and secrets are never logged.
 */
#ifndef DVSIM_TOKEN_H
#define DVSIM_TOKEN_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "dv.h"
#include "jwtv.h"

struct token_client {
	char *id;
	char *secret;	       /* NULL for certificate clients */
	struct jwtv_cert cert; /* key NULL for secret clients */
	enum dv_app_kind kind;
};

struct token_store;

struct token_store *token_store_new(long ttl_s);
void token_store_free(struct token_store *ts);

/* Register a client; 'secret' or 'cert_path' (the other NULL). */
int token_add_client(struct token_store *ts, const char *id, const char *secret,
		     const char *cert_path, enum dv_app_kind kind,
		     struct err *e);

size_t token_nclients(const struct token_store *ts);
const struct token_client *token_client_at(const struct token_store *ts,
					   size_t i);

struct token_req {
	const char *tenant;
	const char *form; /* the request body */
	size_t form_len;
	const char *content_type;
	const char *authorization; /* header, or NULL */
	/* token URLs an assertion may name as its aud */
	const char *const *auds;
	size_t nauds;
	long now_ms; /* wall clock, ms since the epoch */
};

/* Serve one token request: fills 'resp' (200 or an AADSTS error). */
int token_handle(struct token_store *ts, const struct token_req *req,
		 struct dv_response *resp);

enum token_check {
	TOKEN_VALID = 0,
	TOKEN_MISSING,
	TOKEN_INVALID,
	TOKEN_EXPIRED,
};

/*
 * Check "Bearer <token>" from an Authorization header (may be NULL). On
 * TOKEN_VALID '*client' is the client it was issued to.
 */
enum token_check token_check(struct token_store *ts, const char *authorization,
			     long now_ms, const struct token_client **client);

/*
 * The claims of a valid token (cJSON_Delete() them), or NULL: Graph reads
 * its "aud" and "roles".
 */
cJSON *token_valid_claims(struct token_store *ts, const char *authorization,
			  long now_ms);

/*
 * The organisation's tenant: tokens asked for at /{id}/ or /{name}/ (one
 * of 'names', its verified domains) carry tid = 'id'; others the tenant
 * as asked. Graph tokens (scope https://graph.microsoft.com/.default)
 * carry the application permissions 'csv' in "roles" (default
 * "User.Read.All,Organization.Read.All"; "" for none).
 */
void token_set_tenant(struct token_store *ts, const char *id,
		      const char *const *names, size_t n);
void token_set_graph_roles(struct token_store *ts, const char *csv);

/* Make the token in 'authorization' stop working now (token expiry scenario).
 */
void token_revoke(struct token_store *ts, const char *authorization);

#endif
