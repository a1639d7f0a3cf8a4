/*
 * token.c: dvsim's Entra ID token endpoint (token.h): client credentials
 * by secret or certificate assertion, the device authorization grant and
 * refresh tokens for the simulated people, tokens for Microsoft Graph,
 * tokens signed and checked, revocation (docs/fidelity.md).
 *
 * About 1,250 lines: every grant shares the token store, the AADSTS
 * error answers and the issuing of tokens.
 */
#include "compat.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "token.h"

#include "banned.h"

#define TOKEN_ASSERTION_TYPE                                                   \
	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* allowed clock skew for assertions, seconds */
#define TOKEN_SKEW_S 60

/* A device authorization (token_device_code()). */
enum device_state { DEV_PENDING, DEV_APPROVED, DEV_DECLINED, DEV_REDEEMED };

struct device_grant {
	char device_code[65];
	char user_code[10];
	char *client, *tenant, *resource;
	bool offline; /* offline_access asked: a refresh token too */
	long expires_ms, interval_ms, last_poll_ms;
	bool slow_down;		/* the next poll is told to slow down */
	long polls, slow_downs; /* token requests, slow_down answers */
	enum device_state state;
	size_t person; /* index in clients, once approved */
};

/* A refresh token: opaque, kept here. */
struct refresh_token {
	char token[65];
	char *client, *tenant, *resource;
	size_t person;
};

struct token_store {
	long ttl_s;
	long device_expires_s, device_interval_s;
	struct device_grant *grants;
	size_t ngrants;
	struct refresh_token *rts;
	size_t nrts;
	unsigned char key[32];
	struct token_client *clients;
	size_t nclients;
	pthread_mutex_t mu; /* serial, revoked */
	unsigned long serial;
	unsigned long *revoked;
	size_t nrevoked;
	/* the organisation's tenant: its id and the names that sign in to it
	   (docs/fidelity.md, "Microsoft Graph") */
	char *tenant_id;
	char **tenant_names;
	size_t ntenant_names;
	char *graph_roles; /* "User.Read.All,Organization.Read.All" */
};

#define GRAPH_RESOURCE "https://graph.microsoft.com"

void token_set_tenant(struct token_store *ts, const char *id,
		      const char *const *names, size_t n)
{
	free(ts->tenant_id);
	ts->tenant_id = xstrdup(id);
	for (size_t i = 0; i < n; i++) {
		ts->tenant_names = xrealloc(
		    ts->tenant_names, (ts->ntenant_names + 1) * sizeof(char *));
		ts->tenant_names[ts->ntenant_names++] = xstrdup(names[i]);
	}
}

void token_set_graph_roles(struct token_store *ts, const char *csv)
{
	free(ts->graph_roles);
	ts->graph_roles = xstrdup(csv);
}

/* The tid of a token asked for at /{tenant}/: the tenant's id when it is
 * named by id or by one of its domains. */
static const char *tid_of(const struct token_store *ts, const char *tenant)
{
	if (!ts->tenant_id)
		return tenant;
	if (!strcasecmp(tenant, ts->tenant_id))
		return ts->tenant_id;
	for (size_t i = 0; i < ts->ntenant_names; i++)
		if (!strcasecmp(tenant, ts->tenant_names[i]))
			return ts->tenant_id;
	return tenant;
}

struct token_store *token_store_new(long ttl_s)
{
	struct token_store *ts = xcalloc(1, sizeof(*ts));

	ts->ttl_s = ttl_s;
	ts->device_expires_s = 900; /* Microsoft's default expires_in */
	ts->device_interval_s = 5;
	if (RAND_bytes(ts->key, sizeof(ts->key)) != 1)
		BUG("no random bytes for the token key");
	pthread_mutex_init(&ts->mu, NULL);
	return ts;
}

void token_store_free(struct token_store *ts)
{
	if (!ts)
		return;
	for (size_t i = 0; i < ts->nclients; i++) {
		free(ts->clients[i].id);
		if (ts->clients[i].secret) {
			OPENSSL_cleanse(ts->clients[i].secret,
					strlen(ts->clients[i].secret));
			free(ts->clients[i].secret);
		}
		jwtv_cert_release(&ts->clients[i].cert);
		free(ts->clients[i].upn);
		free(ts->clients[i].name);
		free(ts->clients[i].userid);
	}
	for (size_t i = 0; i < ts->ngrants; i++) {
		free(ts->grants[i].client);
		free(ts->grants[i].tenant);
		free(ts->grants[i].resource);
	}
	free(ts->grants);
	for (size_t i = 0; i < ts->nrts; i++) {
		OPENSSL_cleanse(ts->rts[i].token, sizeof(ts->rts[i].token));
		free(ts->rts[i].client);
		free(ts->rts[i].tenant);
		free(ts->rts[i].resource);
	}
	free(ts->rts);
	free(ts->clients);
	free(ts->revoked);
	free(ts->tenant_id);
	for (size_t i = 0; i < ts->ntenant_names; i++)
		free(ts->tenant_names[i]);
	free(ts->tenant_names);
	free(ts->graph_roles);
	pthread_mutex_destroy(&ts->mu);
	OPENSSL_cleanse(ts->key, sizeof(ts->key));
	free(ts);
}

static struct token_client *find_client(const struct token_store *ts,
					const char *id)
{
	for (size_t i = 0; i < ts->nclients; i++)
		if (!ts->clients[i].person &&
		    !strcasecmp(ts->clients[i].id, id))
			return &ts->clients[i];
	return NULL;
}

static struct token_client *find_person_oid(const struct token_store *ts,
					    const char *oid)
{
	for (size_t i = 0; i < ts->nclients; i++)
		if (ts->clients[i].person &&
		    !strcasecmp(ts->clients[i].id, oid))
			return &ts->clients[i];
	return NULL;
}

const struct token_client *token_person(const struct token_store *ts,
					const char *name)
{
	for (size_t i = 0; i < ts->nclients; i++)
		if (ts->clients[i].person && !strcmp(ts->clients[i].name, name))
			return &ts->clients[i];
	return NULL;
}

int token_add_client(struct token_store *ts, const char *id, const char *secret,
		     const char *cert_path, enum dv_app_kind kind,
		     struct err *e)
{
	struct token_client c = {0};
	char msg[256];

	if (!*id)
		return err_set(e, ERR_USAGE, "empty client id");
	if (find_client(ts, id))
		return err_set(e, ERR_USAGE, "client '%s' given twice", id);
	if (cert_path &&
	    jwtv_cert_load(&c.cert, cert_path, msg, sizeof(msg)) < 0)
		return err_set(e, ERR_CONFIG, "%s", msg);
	c.id = xstrdup(id);
	c.secret = secret ? xstrdup(secret) : NULL;
	c.kind = kind;
	ts->clients =
	    xrealloc(ts->clients, (ts->nclients + 1) * sizeof(*ts->clients));
	ts->clients[ts->nclients++] = c;
	return 0;
}

size_t token_nclients(const struct token_store *ts)
{
	return ts->nclients;
}

const struct token_client *token_client_at(const struct token_store *ts,
					   size_t i)
{
	return i < ts->nclients ? &ts->clients[i] : NULL;
}

/* Form fields ------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *form_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < len &&
			   hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* The decoded value of field 'name', or NULL; caller frees. */
static char *form_get(const char *form, size_t len, const char *name)
{
	size_t nlen = strlen(name), i = 0;

	while (i < len) {
		const char *p = form + i, *amp = memchr(p, '&', len - i);
		size_t plen = amp ? (size_t)(amp - p) : len - i;
		const char *eq = memchr(p, '=', plen);

		if (eq && (size_t)(eq - p) == nlen && !memcmp(p, name, nlen))
			return form_decode(eq + 1, plen - nlen - 1);
		i += plen + 1;
	}
	return NULL;
}

/* AADSTS errors ------------------------------------------------------ */

static void guid(char *out, size_t len)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	snprintf(out, len,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
		 r[10], r[11], r[12], r[13], r[14], r[15]);
}

static void aad_error(struct dv_response *resp, const char *error, long code,
		      long now_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void aad_error(struct dv_response *resp, const char *error, long code,
		      long now_ms, const char *fmt, ...)
{
	char msg[768], desc[1280], trace[40], corr[40], ts[32], uri[96];
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;
	cJSON *root, *codes;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	guid(trace, sizeof(trace));
	guid(corr, sizeof(corr));
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%SZ", &tm);
	snprintf(desc, sizeof(desc),
		 "AADSTS%ld: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\n"
		 "Timestamp: %s",
		 code, msg, trace, corr, ts);
	snprintf(uri, sizeof(uri),
		 "https://login.microsoftonline.com/error?code=%ld", code);

	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "error", error);
	cJSON_AddStringToObject(root, "error_description", desc);
	codes = cJSON_AddArrayToObject(root, "error_codes");
	cJSON_AddItemToArray(codes, cJSON_CreateNumber((double)code));
	cJSON_AddStringToObject(root, "timestamp", ts);
	cJSON_AddStringToObject(root, "trace_id", trace);
	cJSON_AddStringToObject(root, "correlation_id", corr);
	cJSON_AddStringToObject(root, "error_uri", uri);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);

	dv_response_reset(resp);
	/* invalid_client too: Microsoft's examples answer it with 400 */
	resp->status = 400;
	buf_addstr(&resp->headers,
		   "Content-Type: application/json; charset=utf-8\r\n"
		   "Cache-Control: no-store, no-cache\r\n");
	if (text)
		buf_addstr(&resp->body, text);
	cJSON_free(text);
}

/* Access tokens ------------------------------------------------------ */

static void hmac(const struct token_store *ts, const char *data, size_t len,
		 unsigned char out[32])
{
	unsigned int n = 32;

	if (!HMAC(EVP_sha256(), ts->key, sizeof(ts->key),
		  (const unsigned char *)data, len, out, &n))
		BUG("HMAC failed");
}

/*
 * Microsoft Entra built-in role template ids, as the wids claim lists
 * them (docs/fidelity.md): Global Administrator.
 */
#define WID_GLOBAL_ADMIN "62e90394-69f5-4237-9190-012177145e10"

static int issue(struct token_store *ts, const struct token_client *c,
		 const struct token_client *person, const char *tenant,
		 const char *resource, long now_ms, struct buf *out)
{
	static const char hdr[] = "{\"typ\":\"JWT\",\"alg\":\"HS256\"}";
	unsigned char mac[32];
	unsigned long serial;
	cJSON *claims;
	char *text, iss[320];

	pthread_mutex_lock(&ts->mu);
	serial = ++ts->serial;
	pthread_mutex_unlock(&ts->mu);

	snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", tenant);
	claims = cJSON_CreateObject();
	cJSON_AddStringToObject(claims, "aud", resource);
	cJSON_AddStringToObject(claims, "iss", iss);
	cJSON_AddNumberToObject(claims, "iat", (double)(now_ms / 1000));
	cJSON_AddNumberToObject(claims, "nbf", (double)(now_ms / 1000));
	cJSON_AddNumberToObject(claims, "exp",
				(double)(now_ms / 1000 + ts->ttl_s));
	cJSON_AddStringToObject(claims, "appid", c->id);
	cJSON_AddStringToObject(claims, "tid", tid_of(ts, tenant));
	if (person) {
		cJSON_AddStringToObject(claims, "oid", person->id);
		cJSON_AddStringToObject(claims, "upn", person->upn);
		cJSON_AddStringToObject(claims, "scp", "user_impersonation");
		if (person->global_admin)
			cJSON_AddItemToObject(
			    claims, "wids",
			    cJSON_CreateStringArray(
				(const char *[]){WID_GLOBAL_ADMIN}, 1));
	}
	if (resource && !strcmp(resource, GRAPH_RESOURCE)) {
		/* application permissions granted to the app, with consent */
		const char *p = ts->graph_roles
				    ? ts->graph_roles
				    : "User.Read.All,Organization.Read.All";
		cJSON *roles = cJSON_AddArrayToObject(claims, "roles");

		while (*p) {
			size_t len = strcspn(p, ",");

			if (len) {
				char *r = xstrndup(p, len);

				cJSON_AddItemToArray(roles,
						     cJSON_CreateString(r));
				free(r);
			}
			p += len + (p[len] == ',');
		}
	}
	cJSON_AddNumberToObject(claims, "xms_exp_ms",
				(double)now_ms + (double)ts->ttl_s * 1000.0);
	cJSON_AddNumberToObject(claims, "xms_serial", (double)serial);
	text = cJSON_PrintUnformatted(claims);
	cJSON_Delete(claims);
	if (!text)
		return -1;
	jwtv_b64url_encode(hdr, strlen(hdr), out);
	buf_addch(out, '.');
	jwtv_b64url_encode(text, strlen(text), out);
	cJSON_free(text);
	hmac(ts, out->ptr, out->len, mac);
	buf_addch(out, '.');
	return jwtv_b64url_encode(mac, sizeof(mac), out);
}

static const char *bearer(const char *authorization)
{
	if (!authorization || strncasecmp(authorization, "Bearer ", 7))
		return NULL;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	return *authorization ? authorization : NULL;
}

static bool revoked(struct token_store *ts, unsigned long serial)
{
	bool r = false;

	pthread_mutex_lock(&ts->mu);
	for (size_t i = 0; i < ts->nrevoked && !r; i++)
		r = ts->revoked[i] == serial;
	pthread_mutex_unlock(&ts->mu);
	return r;
}

/* Decode and check the signature; returns the claims or NULL. */
static cJSON *token_claims(struct token_store *ts, const char *tok)
{
	const char *d1 = strchr(tok, '.'),
		   *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	struct buf raw = BUF_INIT(4096);
	unsigned char mac[32];
	cJSON *claims = NULL;

	if (!d2)
		return NULL;
	if (jwtv_b64url_decode(d2 + 1, strlen(d2 + 1), &raw) < 0 ||
	    raw.len != sizeof(mac))
		goto out;
	hmac(ts, tok, (size_t)(d2 - tok), mac);
	if (CRYPTO_memcmp(mac, raw.ptr, sizeof(mac)))
		goto out;
	buf_reset(&raw);
	if (jwtv_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &raw) < 0)
		goto out;
	claims = cJSON_ParseWithLength(raw.ptr, raw.len);
out:
	buf_release(&raw);
	return claims;
}

enum token_check token_check(struct token_store *ts, const char *authorization,
			     long now_ms, const struct token_client **client)
{
	const char *tok = bearer(authorization), *appid, *oid;
	enum token_check r = TOKEN_INVALID;
	cJSON *claims;
	double exp_ms, serial;

	*client = NULL;
	if (!tok)
		return authorization ? TOKEN_INVALID : TOKEN_MISSING;
	claims = token_claims(ts, tok);
	if (!claims)
		return TOKEN_INVALID;
	appid = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "appid"));
	exp_ms = cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "xms_exp_ms"));
	serial = cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "xms_serial"));
	oid = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "oid"));
	if (!appid || !find_client(ts, appid))
		goto out;
	/* a person's token: the person is the caller */
	*client = oid ? find_person_oid(ts, oid) : find_client(ts, appid);
	if (!*client)
		goto out;
	if ((double)now_ms >= exp_ms || revoked(ts, (unsigned long)serial)) {
		r = TOKEN_EXPIRED;
		goto out;
	}
	r = TOKEN_VALID;
out:
	if (r != TOKEN_VALID)
		*client = NULL;
	cJSON_Delete(claims);
	return r;
}

cJSON *token_valid_claims(struct token_store *ts, const char *authorization,
			  long now_ms)
{
	const struct token_client *c;
	const char *tok = bearer(authorization);

	if (token_check(ts, authorization, now_ms, &c) != TOKEN_VALID || !tok)
		return NULL;
	return token_claims(ts, tok);
}

void token_revoke(struct token_store *ts, const char *authorization)
{
	const char *tok = bearer(authorization);
	cJSON *claims;
	double serial;

	if (!tok || !(claims = token_claims(ts, tok)))
		return;
	serial = cJSON_GetNumberValue(
	    cJSON_GetObjectItemCaseSensitive(claims, "xms_serial"));
	cJSON_Delete(claims);
	if (serial != serial || revoked(ts, (unsigned long)serial))
		return;
	pthread_mutex_lock(&ts->mu);
	ts->revoked =
	    xrealloc(ts->revoked, (ts->nrevoked + 1) * sizeof(*ts->revoked));
	ts->revoked[ts->nrevoked++] = (unsigned long)serial;
	pthread_mutex_unlock(&ts->mu);
}

/* The token request -------------------------------------------------- */

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
static void user_grant(struct token_store *ts, const struct token_req *req,
		       const char *grant, struct dv_response *resp);

/* HTTP Basic credentials (RFC 6749 §2.3.1: each part form-encoded). */
static int basic_auth(const char *authorization, char **id, char **secret)
{
	const char *p;
	size_t len;
	unsigned char *raw;
	int n, pad = 0;
	char *colon;

	*id = *secret = NULL;
	if (!authorization || strncasecmp(authorization, "Basic ", 6))
		return -1;
	p = authorization + 6;
	while (*p == ' ')
		p++;
	len = strlen(p);
	if (!len || len % 4 || len > 8192)
		return -1;
	raw = xmalloc(len / 4 * 3 + 1);
	n = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)len);
	if (n < 0) {
		free(raw);
		return -1;
	}
	if (p[len - 1] == '=')
		pad++;
	if (p[len - 2] == '=')
		pad++;
	n -= pad;
	raw[n] = '\0';
	colon = memchr(raw, ':', (size_t)n);
	if (!colon || memchr(raw, '\0', (size_t)n)) {
		OPENSSL_cleanse(raw, (size_t)n);
		free(raw);
		return -1;
	}
	*id = form_decode((char *)raw, (size_t)(colon - (char *)raw));
	*secret = form_decode(colon + 1,
			      (size_t)n - (size_t)(colon + 1 - (char *)raw));
	OPENSSL_cleanse(raw, (size_t)n);
	free(raw);
	return 0;
}

static bool scope_ok(const char *scope, char **resource)
{
	size_t len = strlen(scope);
	static const char suffix[] = "/.default";

	*resource = NULL;
	if (strchr(scope, ' ') || len <= strlen(suffix) ||
	    strcmp(scope + len - strlen(suffix), suffix))
		return false;
	*resource = xstrndup(scope, len - strlen(suffix));
	return true;
}

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

int token_handle(struct token_store *ts, const struct token_req *req,
		 struct dv_response *resp)
{
	char *grant = NULL, *client_id = NULL, *scope = NULL, *secret = NULL;
	char *atype = NULL, *assertion = NULL, *resource = NULL;
	char *basic_id = NULL, *basic_secret = NULL;
	const struct token_client *c;
	struct buf tok = BUF_INIT(BUF_MAX_SMALL);
	long now = req->now_ms;
	cJSON *root;
	char *text;

	if (!req->content_type ||
	    strncasecmp(req->content_type, "application/x-www-form-urlencoded",
			33)) {
		aad_error(resp, "invalid_request", 900144, now,
			  "The request body must contain the following "
			  "parameter: 'grant_type'.");
		goto out;
	}
	grant = form_get(req->form, req->form_len, "grant_type");
	client_id = form_get(req->form, req->form_len, "client_id");
	scope = form_get(req->form, req->form_len, "scope");
	secret = form_get(req->form, req->form_len, "client_secret");
	atype = form_get(req->form, req->form_len, "client_assertion_type");
	assertion = form_get(req->form, req->form_len, "client_assertion");
	if (!basic_auth(req->authorization, &basic_id, &basic_secret)) {
		if (!client_id) {
			client_id = basic_id;
			basic_id = NULL;
		}
		if (!secret) {
			secret = basic_secret;
			basic_secret = NULL;
		}
	}
	if (!client_id && assertion)
		jwtv_peek_issuer(assertion, &client_id);

	if (!grant) {
		aad_error(resp, "invalid_request", 900144, now,
			  "The request body must contain the following "
			  "parameter: 'grant_type'.");
		goto out;
	}
	if (!strcmp(grant, DEVICE_GRANT) || !strcmp(grant, "refresh_token")) {
		user_grant(ts, req, grant, resp);
		goto out;
	}
	if (strcmp(grant, "client_credentials")) {
		aad_error(
		    resp, "unsupported_grant_type", 70003, now,
		    "The app requested an unsupported grant type '%.64s'.",
		    grant);
		goto out;
	}
	if (!client_id || !*client_id) {
		aad_error(resp, "invalid_request", 900144, now,
			  "The request body must contain the following "
			  "parameter: 'client_id'.");
		goto out;
	}
	if (!scope) {
		aad_error(resp, "invalid_request", 900144, now,
			  "The request body must contain the following "
			  "parameter: 'scope'.");
		goto out;
	}
	if (!scope_ok(scope, &resource)) {
		aad_error(resp, "invalid_scope", 70011, now,
			  "The provided request must include a 'scope' input "
			  "parameter. The provided value for the input "
			  "parameter 'scope' is not valid. The scope %.200s is "
			  "not valid.",
			  scope);
		goto out;
	}
	c = find_client(ts, client_id);
	if (!c) {
		aad_error(
		    resp, "unauthorized_client", 700016, now,
		    "Application with identifier '%.64s' was not found in "
		    "the directory '%.64s'. This can happen if the "
		    "application has not been installed by the "
		    "administrator of the tenant or consented to by any "
		    "user in the tenant.",
		    client_id, req->tenant);
		goto out;
	}
	if (assertion) {
		enum jwtv_result r;

		if (!atype || strcmp(atype, TOKEN_ASSERTION_TYPE)) {
			aad_error(resp, "invalid_request", 900144, now,
				  "The request body must contain the following "
				  "parameter: 'client_assertion_type'.");
			goto out;
		}
		if (!c->cert.key) {
			aad_error(resp, "invalid_client", 700027, now,
				  "Client assertion failed signature "
				  "validation. (Reason - The key was not "
				  "found.)");
			goto out;
		}
		r = jwtv_verify(assertion, &c->cert, c->id, req->auds,
				req->nauds, now / 1000, TOKEN_SKEW_S);
		switch (r) {
		case JWTV_OK:
			break;
		case JWTV_MALFORMED:
			aad_error(resp, "invalid_request", 50027, now,
				  "JWT token is invalid or malformed.");
			goto out;
		case JWTV_BAD_ALG:
		case JWTV_NO_KEY:
		case JWTV_BAD_SIGNATURE:
			aad_error(resp, "invalid_client", 700027, now,
				  "Client assertion failed signature "
				  "validation. (Reason - %s.)",
				  jwtv_strerror(r));
			goto out;
		case JWTV_BAD_AUDIENCE:
		case JWTV_BAD_ISSUER:
			aad_error(resp, "invalid_client", 50027, now,
				  "Invalid JWT token. (Reason - %s.)",
				  jwtv_strerror(r));
			goto out;
		case JWTV_BAD_TIME:
			aad_error(resp, "invalid_client", 500133, now,
				  "Assertion is not within its valid time "
				  "range. Ensure that the access token is not "
				  "expired before using it for user assertion, "
				  "or request a new token.");
			goto out;
		}
	} else if (!secret) {
		aad_error(resp, "invalid_client", 7000218, now,
			  "The request body must contain the following "
			  "parameter: 'client_assertion' or 'client_secret'.");
		goto out;
	} else if (!c->secret || strlen(c->secret) != strlen(secret) ||
		   CRYPTO_memcmp(c->secret, secret, strlen(secret))) {
		aad_error(resp, "invalid_client", 7000215, now,
			  "Invalid client secret provided. Ensure the secret "
			  "being sent in the request is the client secret "
			  "value, not the client secret ID, for a secret added "
			  "to app '%.64s'.",
			  c->id);
		goto out;
	}

	if (issue(ts, c, NULL, req->tenant, resource, now, &tok) < 0) {
		aad_error(resp, "temporarily_unavailable", 90033, now,
			  "A transient error has occurred. Please try again.");
		goto out;
	}
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "token_type", "Bearer");
	cJSON_AddNumberToObject(root, "expires_in", (double)ts->ttl_s);
	cJSON_AddNumberToObject(root, "ext_expires_in", (double)ts->ttl_s);
	cJSON_AddStringToObject(root, "access_token", tok.ptr);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	dv_response_reset(resp);
	resp->status = 200;
	buf_addstr(&resp->headers,
		   "Content-Type: application/json; charset=utf-8\r\n"
		   "Cache-Control: no-store, no-cache\r\n"
		   "Pragma: no-cache\r\n");
	if (text)
		buf_addstr(&resp->body, text);
	cJSON_free(text);
out:
	OPENSSL_cleanse(tok.ptr, tok.len);
	buf_release(&tok);
	free(grant);
	free(client_id);
	free(scope);
	free_secret(secret);
	free_secret(basic_secret);
	free(basic_id);
	free(atype);
	free(assertion);
	free(resource);
	return resp->status;
}

/* The device authorization grant ------------------------------------ */

int token_add_public_client(struct token_store *ts, const char *id,
			    struct err *e)
{
	if (token_add_client(ts, id, NULL, NULL, DV_APP_LIMITED, e) < 0)
		return -1;
	ts->clients[ts->nclients - 1].is_public = true;
	return 0;
}

int token_add_person(struct token_store *ts, const char *name, const char *upn,
		     const char *oid, const char *userid, bool global_admin,
		     struct err *e)
{
	struct token_client c = {0};

	if (token_person(ts, name) || find_person_oid(ts, oid))
		return err_set(e, ERR_USAGE, "person '%s' given twice", name);
	c.id = xstrdup(oid);
	c.person = true;
	c.name = xstrdup(name);
	c.upn = xstrdup(upn);
	c.userid = xstrdup(userid);
	c.global_admin = global_admin;
	c.kind = DV_APP_LIMITED;
	ts->clients =
	    xrealloc(ts->clients, (ts->nclients + 1) * sizeof(*ts->clients));
	ts->clients[ts->nclients++] = c;
	return 0;
}

void token_set_device_timing(struct token_store *ts, long expires_s,
			     long interval_s)
{
	if (expires_s > 0)
		ts->device_expires_s = expires_s;
	if (interval_s > 0)
		ts->device_interval_s = interval_s;
}

static void random_hex(char *out, size_t nbytes)
{
	unsigned char r[32];

	if (nbytes > sizeof(r) || RAND_bytes(r, (int)nbytes) != 1)
		BUG("no random bytes");
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/*
 * A user's scope: one RESOURCE/.default, with offline_access (a refresh
 * token too) and openid/profile allowed beside it.
 */
static bool user_scope(const char *scope, char **resource, bool *offline)
{
	char *copy = xstrdup(scope), *save = NULL, *w;
	bool ok = true;

	*resource = NULL;
	*offline = false;
	for (w = strtok_r(copy, " ", &save); w && ok;
	     w = strtok_r(NULL, " ", &save)) {
		char *r;

		if (!strcmp(w, "offline_access")) {
			*offline = true;
		} else if (!strcmp(w, "openid") || !strcmp(w, "profile")) {
			continue;
		} else if (!*resource && scope_ok(w, &r)) {
			*resource = r;
		} else {
			ok = false;
		}
	}
	free(copy);
	if (!ok || !*resource) {
		free(*resource);
		*resource = NULL;
		return false;
	}
	return true;
}

static void json_answer(struct dv_response *resp, cJSON *root)
{
	char *text = cJSON_PrintUnformatted(root);

	dv_response_reset(resp);
	resp->status = 200;
	buf_addstr(&resp->headers,
		   "Content-Type: application/json; charset=utf-8\r\n"
		   "Cache-Control: no-store, no-cache\r\n"
		   "Pragma: no-cache\r\n");
	if (text)
		buf_addstr(&resp->body, text);
	if (text)
		OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
}

int token_device_code(struct token_store *ts, const char *tenant,
		      const char *form, size_t form_len,
		      const char *content_type, const char *verify_uri,
		      long now_ms, struct dv_response *resp)
{
	static const char letters[] = "BCDFGHJKLMNPQRSTVWXZ23456789";
	char *client_id = NULL, *scope = NULL, *resource = NULL;
	struct device_grant g = {0};
	unsigned char r[8];
	char msg[256];
	bool offline;
	cJSON *root;

	if (!content_type ||
	    strncasecmp(content_type, "application/x-www-form-urlencoded",
			33)) {
		aad_error(resp, "invalid_request", 900144, now_ms,
			  "The request body must contain the following "
			  "parameter: 'client_id'.");
		goto out;
	}
	client_id = form_get(form, form_len, "client_id");
	scope = form_get(form, form_len, "scope");
	if (!client_id || !*client_id) {
		aad_error(resp, "invalid_request", 900144, now_ms,
			  "The request body must contain the following "
			  "parameter: 'client_id'.");
		goto out;
	}
	if (!find_client(ts, client_id)) {
		aad_error(resp, "unauthorized_client", 700016, now_ms,
			  "Application with identifier '%.64s' was not found "
			  "in the directory '%.64s'.",
			  client_id, tenant);
		goto out;
	}
	if (!scope || !user_scope(scope, &resource, &offline)) {
		aad_error(resp, "invalid_scope", 70011, now_ms,
			  "The provided value for the input parameter 'scope' "
			  "is not valid. The scope %.200s is not valid.",
			  scope ? scope : "");
		goto out;
	}
	random_hex(g.device_code, 32);
	if (RAND_bytes(r, sizeof(r)) != 1)
		BUG("no random bytes");
	for (size_t i = 0; i < 8; i++)
		g.user_code[i] = letters[r[i] % (sizeof(letters) - 1)];
	g.client = xstrdup(client_id);
	g.tenant = xstrdup(tenant);
	g.resource = resource;
	resource = NULL;
	g.offline = offline;
	g.expires_ms = now_ms + ts->device_expires_s * 1000;
	g.interval_ms = ts->device_interval_s * 1000;
	g.last_poll_ms = now_ms;
	pthread_mutex_lock(&ts->mu);
	ts->grants =
	    xrealloc(ts->grants, (ts->ngrants + 1) * sizeof(*ts->grants));
	ts->grants[ts->ngrants++] = g;
	pthread_mutex_unlock(&ts->mu);

	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "user_code", g.user_code);
	cJSON_AddStringToObject(root, "device_code", g.device_code);
	cJSON_AddStringToObject(root, "verification_uri", verify_uri);
	cJSON_AddNumberToObject(root, "expires_in",
				(double)ts->device_expires_s);
	cJSON_AddNumberToObject(root, "interval",
				(double)ts->device_interval_s);
	snprintf(msg, sizeof(msg),
		 "To sign in, use a web browser to open the page %s and "
		 "enter the code %s to authenticate.",
		 verify_uri, g.user_code);
	cJSON_AddStringToObject(root, "message", msg);
	json_answer(resp, root);
	cJSON_Delete(root);
out:
	free(client_id);
	free(scope);
	free(resource);
	return resp->status;
}

int token_device_complete(struct token_store *ts, const char *user_code,
			  const char *person, const char *action, char *msg,
			  size_t msglen)
{
	const struct token_client *p = person ? token_person(ts, person) : NULL;
	int rc = -1;

	if (!user_code || !action) {
		snprintf(msg, msglen, "user_code and action are required");
		return -1;
	}
	if (strcmp(action, "slow-down") && !p) {
		snprintf(msg, msglen, "no person '%s'", person ? person : "");
		return -1;
	}
	pthread_mutex_lock(&ts->mu);
	for (size_t i = 0; i < ts->ngrants; i++) {
		struct device_grant *g = &ts->grants[i];

		if (strcasecmp(g->user_code, user_code) ||
		    g->state != DEV_PENDING)
			continue;
		rc = 0;
		if (!strcmp(action, "approve")) {
			g->state = DEV_APPROVED;
			g->person = (size_t)(p - ts->clients);
		} else if (!strcmp(action, "deny")) {
			g->state = DEV_DECLINED;
		} else if (!strcmp(action, "slow-down")) {
			g->slow_down = true;
		} else {
			snprintf(msg, msglen,
				 "action '%s' is not approve, "
				 "deny or slow-down",
				 action);
			rc = -1;
		}
		break;
	}
	pthread_mutex_unlock(&ts->mu);
	if (rc < 0 && !*msg)
		snprintf(msg, msglen, "no pending device code '%s'", user_code);
	return rc;
}

void token_device_list(struct token_store *ts, long now_ms, struct buf *out)
{
	static const char *const names[] = {"pending", "approved", "declined",
					    "redeemed"};
	cJSON *arr = cJSON_CreateArray();
	char *text;

	pthread_mutex_lock(&ts->mu);
	for (size_t i = 0; i < ts->ngrants; i++) {
		const struct device_grant *g = &ts->grants[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "user_code", g->user_code);
		cJSON_AddStringToObject(o, "client_id", g->client);
		cJSON_AddStringToObject(o, "state",
					now_ms >= g->expires_ms &&
						g->state == DEV_PENDING
					    ? "expired"
					    : names[g->state]);
		cJSON_AddNumberToObject(o, "interval_s",
					(double)(g->interval_ms / 1000));
		cJSON_AddNumberToObject(o, "polls", (double)g->polls);
		cJSON_AddNumberToObject(o, "slow_downs", (double)g->slow_downs);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&ts->mu);
	text = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if (text)
		buf_addstr(out, text);
	cJSON_free(text);
}

/* Issue an access token, and a refresh token when 'offline', to 'person'. */
static void user_tokens(struct token_store *ts, const struct token_client *c,
			size_t person, const char *tenant, const char *resource,
			bool offline, long now, struct dv_response *resp)
{
	struct buf tok = BUF_INIT(BUF_MAX_SMALL);
	struct refresh_token rt = {0};
	cJSON *root;

	if (issue(ts, c, &ts->clients[person], tenant, resource, now, &tok) <
	    0) {
		aad_error(resp, "temporarily_unavailable", 90033, now,
			  "A transient error has occurred. Please try again.");
		goto out;
	}
	root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "token_type", "Bearer");
	cJSON_AddNumberToObject(root, "expires_in", (double)ts->ttl_s);
	cJSON_AddNumberToObject(root, "ext_expires_in", (double)ts->ttl_s);
	cJSON_AddStringToObject(root, "access_token", tok.ptr);
	if (offline) {
		random_hex(rt.token, 32);
		rt.client = xstrdup(c->id);
		rt.tenant = xstrdup(tenant);
		rt.resource = xstrdup(resource);
		rt.person = person;
		cJSON_AddStringToObject(root, "refresh_token", rt.token);
		pthread_mutex_lock(&ts->mu);
		ts->rts = xrealloc(ts->rts, (ts->nrts + 1) * sizeof(*ts->rts));
		ts->rts[ts->nrts++] = rt;
		pthread_mutex_unlock(&ts->mu);
	}
	json_answer(resp, root);
	cJSON_Delete(root);
out:
	OPENSSL_cleanse(tok.ptr, tok.len);
	buf_release(&tok);
}

static void device_grant(struct token_store *ts, const struct token_req *req,
			 const struct token_client *c, const char *code,
			 struct dv_response *resp)
{
	long now = req->now_ms;
	struct device_grant *g = NULL, copy;

	pthread_mutex_lock(&ts->mu);
	for (size_t i = 0; i < ts->ngrants && !g; i++)
		if (!strcmp(ts->grants[i].device_code, code) &&
		    !strcasecmp(ts->grants[i].client, c->id))
			g = &ts->grants[i];
	if (!g) {
		pthread_mutex_unlock(&ts->mu);
		aad_error(resp, "bad_verification_code", 70019, now,
			  "The provided value for the input parameter "
			  "'device_code' is not valid.");
		return;
	}
	g->polls++;
	copy = *g;
	if (now >= g->expires_ms || g->state == DEV_REDEEMED) {
		pthread_mutex_unlock(&ts->mu);
		aad_error(resp, "expired_token", 70020, now,
			  "The provided value for the input parameter "
			  "'device_code' is not valid. This device code has "
			  "expired.");
		return;
	}
	if (g->state == DEV_DECLINED) {
		pthread_mutex_unlock(&ts->mu);
		aad_error(resp, "authorization_declined", 70000, now,
			  "The user declined to authorize the request.");
		return;
	}
	/* polled sooner than the interval (50 ms slack), or told to */
	if (g->slow_down || now - g->last_poll_ms + 50 < g->interval_ms) {
		g->slow_down = false;
		g->slow_downs++;
		g->last_poll_ms = now;
		/* RFC 8628 section 3.5: the interval grows by 5 seconds */
		g->interval_ms += 5000;
		pthread_mutex_unlock(&ts->mu);
		aad_error(resp, "slow_down", 70016, now,
			  "The client is polling too often. Wait at least %ld "
			  "seconds between requests.",
			  copy.interval_ms / 1000 + 5);
		return;
	}
	g->last_poll_ms = now;
	if (g->state == DEV_PENDING) {
		pthread_mutex_unlock(&ts->mu);
		aad_error(resp, "authorization_pending", 70016, now,
			  "The provided request has not yet been authorized "
			  "by the user. The user must input their code.");
		return;
	}
	g->state = DEV_REDEEMED;
	pthread_mutex_unlock(&ts->mu);
	user_tokens(ts, c, copy.person, copy.tenant, copy.resource,
		    copy.offline, now, resp);
}

static void refresh_grant(struct token_store *ts, const struct token_req *req,
			  const struct token_client *c, const char *token,
			  const char *resource, struct dv_response *resp)
{
	size_t person = 0;
	bool found = false;

	pthread_mutex_lock(&ts->mu);
	for (size_t i = 0; i < ts->nrts && !found; i++)
		if (!strcmp(ts->rts[i].token, token) &&
		    !strcasecmp(ts->rts[i].client, c->id) &&
		    !strcmp(ts->rts[i].tenant, req->tenant)) {
			found = true;
			person = ts->rts[i].person;
		}
	pthread_mutex_unlock(&ts->mu);
	if (!found) {
		aad_error(resp, "invalid_grant", 70008, req->now_ms,
			  "The provided authorization code or refresh token "
			  "has expired due to inactivity or was revoked. Send "
			  "a new interactive authorization request for this "
			  "user and resource.");
		return;
	}
	/* a refresh token answers with a new one (docs/fidelity.md) */
	user_tokens(ts, c, person, req->tenant, resource, true, req->now_ms,
		    resp);
}

static void user_grant(struct token_store *ts, const struct token_req *req,
		       const char *grant, struct dv_response *resp)
{
	char *client_id = form_get(req->form, req->form_len, "client_id");
	char *scope = form_get(req->form, req->form_len, "scope");
	char *code = form_get(req->form, req->form_len, "device_code");
	char *rt = form_get(req->form, req->form_len, "refresh_token");
	char *resource = NULL;
	const struct token_client *c;
	long now = req->now_ms;
	bool offline, device = !strcmp(grant, DEVICE_GRANT);

	if (!client_id || !*client_id) {
		aad_error(resp, "invalid_request", 900144, now,
			  "The request body must contain the following "
			  "parameter: 'client_id'.");
		goto out;
	}
	c = find_client(ts, client_id);
	if (!c) {
		aad_error(resp, "unauthorized_client", 700016, now,
			  "Application with identifier '%.64s' was not found "
			  "in the directory '%.64s'.",
			  client_id, req->tenant);
		goto out;
	}
	/* only a public client may redeem without a credential */
	if (!c->is_public) {
		aad_error(resp, "invalid_client", 7000218, now,
			  "The request body must contain the following "
			  "parameter: 'client_assertion' or 'client_secret'.");
		goto out;
	}
	if (device) {
		if (!code) {
			aad_error(resp, "invalid_request", 900144, now,
				  "The request body must contain the following "
				  "parameter: 'device_code'.");
			goto out;
		}
		device_grant(ts, req, c, code, resp);
		goto out;
	}
	if (!rt) {
		aad_error(resp, "invalid_request", 900144, now,
			  "The request body must contain the following "
			  "parameter: 'refresh_token'.");
		goto out;
	}
	if (!scope || !user_scope(scope, &resource, &offline)) {
		aad_error(resp, "invalid_scope", 70011, now,
			  "The provided value for the input parameter 'scope' "
			  "is not valid.");
		goto out;
	}
	refresh_grant(ts, req, c, rt, resource, resp);
out:
	free(client_id);
	free(scope);
	free_secret(code);
	free_secret(rt);
	free(resource);
}
