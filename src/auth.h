/*
 * auth.h: access tokens for the Web API (docs/fidelity.md).
 *
 * OAuth 2.0 client credentials against AUTHORITY/TENANT/oauth2/v2.0/token
 * with scope ENVIRONMENT/.default, signed in with a client secret (read
 * from the job's secret_env or secret_file when each request is built,
 * never kept) or a certificate (a client assertion JWT signed with the
 * private key, see jwt.h). Method "none" sends no Authorization header
 * (dvsim started without clients).
 *
 * Method "device_code" signs a person in (OAuth 2.0 device authorization
 * grant, docs/design.md): auth_device_sign_in() shows the verification
 * URL and code and polls until the person has signed in; the refresh
 * token is kept in the sign-in cache (token_cache.h) and later tokens,
 * in this run and the next, come from it without a prompt (grant_type
 * refresh_token, the rotated refresh token stored each time).
 *
 * The engine drives it from its single loop: at most one token request is
 * in flight; the token is cached and renewed before it expires (at three
 * quarters of its life, or five minutes before the end, whichever is
 * earlier); after a 401 the engine calls auth_invalidate() and the next
 * token is fetched. Tokens, secrets and assertions are never logged nor
 * put into any message.
 */
#ifndef MBXFIX_AUTH_H
#define MBXFIX_AUTH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"
#include "http.h"
#include "job.h"
#include "token_cache.h"

struct auth {
	const struct job *job; /* borrowed for the life of the auth */
	enum job_auth method;
	char *token_url;
	char *scope;
	EVP_PKEY *key; /* certificate sign-in */
	X509 *cert;
	char *token; /* "Authorization: Bearer ..." line; NULL when none */
	int64_t expires_ms;
	int64_t renew_ms;
	int64_t retry_ms; /* after a transient failure, not before this */
	int failures;	  /* transient failures in a row */
	bool in_flight;
	bool ever_reached; /* the token endpoint ever answered */
	unsigned long requests;
	/* device_code */
	char *device_url;
	char *cache_path;
	char *refresh; /* the refresh token held, or NULL */
	struct token_cache_key ckey;
};

/*
 * Prepare sign-in for job 'j' (borrowed until auth_release()): loads the
 * certificate and key for certificate sign-in. -1 with 'e' set
 * (ERR_CONFIG for unreadable/unusable files).
 */
int auth_init(struct auth *a, const struct job *j, struct err *e);
void auth_release(struct auth *a);

/* false for method "none": no token, no header. */
bool auth_enabled(const struct auth *a);

/*
 * The "Authorization: Bearer <token>" header line to use at 'now_ms', or
 * NULL when no usable token is held (one must be fetched first). Borrowed
 * until the next auth_* call that changes the token.
 */
const char *auth_header(const struct auth *a, int64_t now_ms);

/* true when a token request should be started now. */
bool auth_should_request(const struct auth *a, int64_t now_ms);

/*
 * Build the token request (the caller starts it with http_start() and
 * hands it back to auth_finish()). NULL with 'e' set when the secret
 * cannot be read or the assertion cannot be signed (ERR_CONFIG/ERR_AUTH).
 */
struct request *auth_request(struct auth *a, int64_t now_ms, struct err *e);

/*
 * Take the answer to the token request 'r' (not freed). Returns 0 when a
 * token was stored, 1 when the failure is transient and a new request
 * will be made later, -1 with 'e' set when sign-in is refused (ERR_AUTH:
 * the service's error code and description, never the secret) or the
 * token endpoint cannot be reached at all (ERR_NETWORK).
 */
int auth_finish(struct auth *a, struct request *r, int64_t now_ms,
		struct err *e);

/* The token was refused by the Web API (401): drop it. */
void auth_invalidate(struct auth *a);

/* device_code without a refresh token: a person must sign in first. */
bool auth_needs_device(const struct auth *a);

/*
 * The device code sign-in, run to its end with 'h' (nothing else in
 * flight): prints the verification URL and the code on stderr, polls at
 * the interval the server gives (longer after slow_down) until the person
 * has signed in (0, the token stored and the refresh token cached), or
 * -1 with 'e' set: ERR_AUTH when the code expired or sign-in was
 * declined or refused, ERR_NETWORK, ERR_INTERNAL when '*stop' was set.
 * 'who' says in the prompt what the sign-in is for ("sign-in", "approve
 * sign-in").
 */
int auth_device_sign_in(struct auth *a, struct http *h, const char *who,
			volatile sig_atomic_t *stop, struct err *e);

#endif
