#include "compat.h"

#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "auth.h"
#include "jwt.h"
#include "log.h"
#include "odata.h"
#include "retry.h"

#include "banned.h"

/* Token requests failing in a row before the run gives up. */
#define AUTH_MAX_FAILURES 6

/* Lifetime of a client assertion: short, as Microsoft advises. */
#define ASSERTION_LIFETIME_S 600

static int load_pem(struct auth *a, const struct job *j, struct err *e)
{
	FILE *f;

	f = fopen(j->certificate, "r");
	if (!f)
		return err_set_errno(e, ERR_CONFIG,
				     "cannot open certificate '%s'",
				     j->certificate);
	a->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!a->cert)
		return err_set(e, ERR_CONFIG, "'%s' holds no PEM certificate",
			       j->certificate);
	f = fopen(j->private_key, "r");
	if (!f)
		return err_set_errno(e, ERR_CONFIG,
				     "cannot open private key '%s'",
				     j->private_key);
	a->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!a->key)
		return err_set(e, ERR_CONFIG,
			       "'%s' holds no unencrypted PEM private key",
			       j->private_key);
	if (X509_check_private_key(a->cert, a->key) != 1)
		return err_set(e, ERR_CONFIG,
			       "private key '%s' does not belong to "
			       "certificate '%s'",
			       j->private_key, j->certificate);
	return 0;
}

int auth_init(struct auth *a, const struct job *j, struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_SMALL);

	memset(a, 0, sizeof(*a));
	a->job = j;
	a->method = j->auth;
	if (a->method == JOB_AUTH_NONE)
		return 0;
	buf_addf(&b, "%s/", j->authority);
	odata_url_encode(&b, j->tenant, strlen(j->tenant));
	buf_addstr(&b, "/oauth2/v2.0/token");
	a->token_url = buf_detach(&b, NULL);
	if (a->method == JOB_AUTH_DEVICE_CODE) {
		int rc;

		/* a person's token: offline_access for a refresh token */
		buf_addf(&b, "%s/.default offline_access", j->url);
		a->scope = buf_detach(&b, NULL);
		buf_addf(&b, "%s/", j->authority);
		odata_url_encode(&b, j->tenant, strlen(j->tenant));
		buf_addstr(&b, "/oauth2/v2.0/devicecode");
		a->device_url = buf_detach(&b, NULL);
		a->ckey.authority = j->authority;
		a->ckey.tenant = j->tenant;
		a->ckey.client_id = j->client_id;
		a->ckey.environment = j->url;
		a->cache_path = token_cache_path(&a->ckey, e);
		if (!a->cache_path) {
			auth_release(a);
			return -1;
		}
		rc = token_cache_load(a->cache_path, &a->ckey, &b, e);
		if (rc < 0) {
			job_secret_wipe(&b);
			auth_release(a);
			return -1;
		}
		if (rc > 0)
			a->refresh = buf_detach(&b, NULL);
		job_secret_wipe(&b);
		return 0;
	}
	buf_addf(&b, "%s/.default", j->url);
	a->scope = buf_detach(&b, NULL);
	if (a->method == JOB_AUTH_CERTIFICATE && load_pem(a, j, e) < 0) {
		auth_release(a);
		return -1;
	}
	return 0;
}

static void drop_token(struct auth *a)
{
	if (a->token) {
		memset(a->token, 0, strlen(a->token));
		free(a->token);
		a->token = NULL;
	}
}

static void drop_refresh(struct auth *a)
{
	if (a->refresh) {
		memset(a->refresh, 0, strlen(a->refresh));
		free(a->refresh);
		a->refresh = NULL;
	}
}

void auth_release(struct auth *a)
{
	drop_token(a);
	drop_refresh(a);
	free(a->device_url);
	free(a->cache_path);
	free(a->token_url);
	free(a->scope);
	EVP_PKEY_free(a->key);
	X509_free(a->cert);
	memset(a, 0, sizeof(*a));
}

bool auth_enabled(const struct auth *a)
{
	return a->method != JOB_AUTH_NONE;
}

const char *auth_header(const struct auth *a, int64_t now_ms)
{
	if (!a->token || now_ms >= a->expires_ms)
		return NULL;
	return a->token;
}

bool auth_should_request(const struct auth *a, int64_t now_ms)
{
	if (!auth_enabled(a) || a->in_flight || now_ms < a->retry_ms)
		return false;
	return !a->token || now_ms >= a->renew_ms;
}

static void form_field(struct buf *b, const char *name, const char *value,
		       size_t len)
{
	if (b->len)
		buf_addch(b, '&');
	buf_addstr(b, name);
	buf_addch(b, '=');
	odata_url_encode(b, value, len);
}

static int new_guid(char out[37])
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
		 r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

static int add_credential(struct auth *a, struct buf *form, struct err *e)
{
	struct buf cred = BUF_INIT(BUF_MAX_SMALL);
	int rc = -1;

	if (a->method == JOB_AUTH_SECRET) {
		if (job_secret(a->job, &cred, e) < 0)
			goto out;
		log_secret_add(cred.ptr, cred.len); /* never printed: log.h */
		form_field(form, "client_secret", cred.ptr, cred.len);
	} else {
		struct jwt_assertion as = {0};
		char jti[37];

		if (new_guid(jti) < 0) {
			err_set(e, ERR_INTERNAL, "no random bytes for a jti");
			goto out;
		}
		as.alg = a->job->assertion_alg == JOB_ALG_PS256 ? JWT_PS256
								: JWT_RS256;
		as.audience = a->token_url;
		as.client_id = a->job->client_id;
		as.jti = jti;
		as.now = (long long)time(NULL);
		as.lifetime_s = ASSERTION_LIFETIME_S;
		if (jwt_client_assertion(&cred, &as, a->key, a->cert, e) < 0)
			goto out;
		log_secret_add(cred.ptr, cred.len);
		form_field(form, "client_assertion_type",
			   "urn:ietf:params:oauth:client-assertion-type:"
			   "jwt-bearer",
			   strlen("urn:ietf:params:oauth:client-assertion-type:"
				  "jwt-bearer"));
		form_field(form, "client_assertion", cred.ptr, cred.len);
	}
	rc = 0;
out:
	job_secret_wipe(&cred);
	return rc;
}

struct request *auth_request(struct auth *a, int64_t now_ms, struct err *e)
{
	struct buf form = BUF_INIT(BUF_MAX_SMALL);
	struct request *r;
	char *body;
	size_t len;

	(void)now_ms;
	form_field(&form, "client_id", a->job->client_id,
		   strlen(a->job->client_id));
	form_field(&form, "scope", a->scope, strlen(a->scope));
	if (a->method == JOB_AUTH_DEVICE_CODE) {
		/* a person's later tokens come from the refresh token */
		if (!a->refresh) {
			job_secret_wipe(&form);
			err_set(e, ERR_AUTH,
				"'%s' signs in with device_code and holds no "
				"refresh token: run mbxfix again where you "
				"can sign in",
				a->job->path);
			return NULL;
		}
		form_field(&form, "grant_type", "refresh_token",
			   strlen("refresh_token"));
		form_field(&form, "refresh_token", a->refresh,
			   strlen(a->refresh));
	} else {
		form_field(&form, "grant_type", "client_credentials",
			   strlen("client_credentials"));
	}
	if (a->method != JOB_AUTH_DEVICE_CODE &&
	    add_credential(a, &form, e) < 0) {
		job_secret_wipe(&form);
		return NULL;
	}
	r = request_new("POST", a->token_url);
	request_add_header(r,
			   "Content-Type: application/x-www-form-urlencoded");
	request_add_header(r, "Accept: application/json");
	body = buf_detach(&form, &len);
	request_set_body(r, body, len);
	a->in_flight = true;
	a->requests++;
	return r;
}

/*
 * A failed token request worth another try: true with 'retry_ms' set,
 * or false once AUTH_MAX_FAILURES tries in a row have failed.
 */
static bool transient(struct auth *a, int64_t now_ms)
{
	struct retry_policy p = RETRY_POLICY_INIT;
	long d;

	a->failures++;
	p.max_attempts = 0;
	d = retry_next_delay_ms(&p, a->failures, 503, -1,
				(unsigned)(now_ms & 0xffff));
	a->retry_ms = now_ms + (d > 0 ? d : 1000);
	return a->failures < AUTH_MAX_FAILURES;
}

int auth_finish(struct auth *a, struct request *r, int64_t now_ms,
		struct err *e)
{
	cJSON *json = NULL, *tok, *exp;
	struct odata_error oe;
	int64_t ttl_ms, early;

	a->in_flight = false;
	if (r->result != CURLE_OK) {
		if (!a->ever_reached || !retry_is_transient(0, r->result) ||
		    !transient(a, now_ms))
			return err_set(e, ERR_NETWORK,
				       "cannot reach the token endpoint '%s': "
				       "%s",
				       a->token_url, r->error);
		log_warn("token request failed: %s; trying again", r->error);
		return 1;
	}
	a->ever_reached = true;
	if (r->status != 200) {
		if (retry_is_transient(r->status, 0) && transient(a, now_ms)) {
			log_warn("token endpoint answered %ld; trying again",
				 r->status);
			return 1;
		}
		if (a->method == JOB_AUTH_DEVICE_CODE &&
		    odata_parse_error(&oe, r->response.ptr, r->response.len) ==
			0 &&
		    !strcmp(oe.code, "invalid_grant")) {
			/* the refresh token is spent: sign in again */
			struct err e2 = ERR_INIT;

			drop_refresh(a);
			if (token_cache_remove(a->cache_path, &e2) < 0)
				log_warn("%s", e2.msg);
			log_warn("the cached sign-in of '%s' was refused "
				 "(%s): signing in again",
				 a->job->client_id, oe.code);
			return 1;
		}
		if (odata_parse_error(&oe, r->response.ptr, r->response.len) ==
		    0) {
			/* Entra appends trace and correlation ids on lines */
			oe.message[strcspn(oe.message, "\r\n")] = '\0';
			return err_set(e, ERR_AUTH,
				       "sign-in refused by '%s' (HTTP %ld): "
				       "%s: %s",
				       a->token_url, r->status, oe.code,
				       oe.message);
		}
		return err_set(e, ERR_AUTH,
			       "sign-in refused by '%s' (HTTP %ld)",
			       a->token_url, r->status);
	}
	json = cJSON_ParseWithLength(r->response.ptr, r->response.len);
	tok = cJSON_GetObjectItemCaseSensitive(json, "access_token");
	exp = cJSON_GetObjectItemCaseSensitive(json, "expires_in");
	if (!cJSON_IsString(tok) || !*tok->valuestring) {
		cJSON_Delete(json);
		return err_set(e, ERR_PROTOCOL,
			       "the token endpoint '%s' answered without an "
			       "access_token",
			       a->token_url);
	}
	drop_token(a);
	{
		struct buf h = BUF_INIT(BUF_MAX_SMALL);

		buf_addstr(&h, "Authorization: Bearer ");
		log_secret_add(tok->valuestring, strlen(tok->valuestring));
		if (buf_addstr(&h, tok->valuestring) < 0) {
			cJSON_Delete(json);
			return err_set(e, ERR_PROTOCOL,
				       "access token too long");
		}
		a->token = buf_detach(&h, NULL);
	}
	/* expires_in is a number, or a string in some older answers */
	ttl_ms = 3600 * 1000;
	if (cJSON_IsNumber(exp) && exp->valuedouble > 0)
		ttl_ms = (int64_t)(exp->valuedouble * 1000);
	else if (cJSON_IsString(exp) && strtol(exp->valuestring, NULL, 10) > 0)
		ttl_ms = (int64_t)strtol(exp->valuestring, NULL, 10) * 1000;
	if (a->method == JOB_AUTH_DEVICE_CODE) {
		cJSON *rt =
		    cJSON_GetObjectItemCaseSensitive(json, "refresh_token");

		/* refresh tokens rotate: keep the newest */
		if (cJSON_IsString(rt) && *rt->valuestring) {
			struct err e2 = ERR_INIT;

			log_secret_add(rt->valuestring,
				       strlen(rt->valuestring));
			drop_refresh(a);
			a->refresh = xstrdup(rt->valuestring);
			memset(rt->valuestring, 0, strlen(rt->valuestring));
			if (token_cache_store(a->cache_path, &a->ckey,
					      a->refresh, &e2) < 0)
				log_warn("the sign-in is not kept for the next "
					 "run: %s",
					 e2.msg);
		}
	}
	/* wipe the token text in the parsed tree too */
	memset(tok->valuestring, 0, strlen(tok->valuestring));
	cJSON_Delete(json);
	early = ttl_ms / 4;
	if (early > 300 * 1000)
		early = 300 * 1000;
	a->renew_ms = now_ms + ttl_ms - early;
	/* stop using it a little before the end: requests take time */
	a->expires_ms = now_ms + ttl_ms - ttl_ms / 10;
	a->failures = 0;
	a->retry_ms = 0;
	return 0;
}

bool auth_needs_device(const struct auth *a)
{
	return a->method == JOB_AUTH_DEVICE_CODE && !a->refresh && !a->token;
}

void auth_invalidate(struct auth *a)
{
	drop_token(a);
	a->renew_ms = a->expires_ms = 0;
}
