/*
 * auth_device.c: the device code sign-in of auth.h (OAuth 2.0 device
 * authorization grant on the v2.0 endpoints, docs/design.md).
 *
 * POST .../devicecode with client_id and scope; show the verification URL
 * and the user code on stderr (even under -q: nothing goes on without
 * them); then POST .../token with grant_type device_code every 'interval'
 * seconds: authorization_pending goes on, slow_down adds five seconds to
 * the interval (RFC 8628 section 3.5), expired_token, access_denied and
 * authorization_declined end the sign-in. The device code and the tokens
 * never appear in any message.
 */
#include "compat.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "log.h"
#include "odata.h"
#include "retry.h"

#include "banned.h"

/* Microsoft's default when the answer names none (docs/fidelity.md). */
#define DEVICE_INTERVAL_S 5
#define DEVICE_SLOW_DOWN_S 5

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Run 'r' to its end. NULL with 'e' set when it could not be started. */
static struct request *call(struct http *h, struct request *r,
			    volatile sig_atomic_t *stop, struct err *e)
{
	struct request *done = NULL;

	if (http_start(h, r, now_ms(), e) < 0) {
		request_free(r);
		return NULL;
	}
	while (!done) {
		if (stop && *stop)
			http_abort_all(h);
		else if (http_poll(h, 500, e) < 0)
			return NULL;
		done = http_next_done(h);
	}
	return done;
}

static struct request *form_post(const char *url, struct buf *form)
{
	struct request *r = request_new("POST", url);
	size_t len;
	char *body = buf_detach(form, &len);

	request_add_header(r,
			   "Content-Type: application/x-www-form-urlencoded");
	request_add_header(r, "Accept: application/json");
	request_set_body(r, body, len);
	return r;
}

static void field(struct buf *b, const char *name, const char *value)
{
	if (b->len)
		buf_addch(b, '&');
	buf_addf(b, "%s=", name);
	odata_url_encode(b, value, strlen(value));
}

/* Sleep 'ms' in slices, so that an interrupt is not held up. */
static bool pause_ms(long ms, volatile sig_atomic_t *stop)
{
	while (ms > 0 && !(stop && *stop)) {
		long slice = ms > 200 ? 200 : ms;
		struct timespec t = {.tv_sec = 0, .tv_nsec = slice * 1000000L};

		while (nanosleep(&t, &t) < 0 && errno == EINTR)
			if (stop && *stop)
				return false;
		ms -= slice;
	}
	return !(stop && *stop);
}

static long number(const cJSON *o, const char *name, long def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsNumber(v) && v->valuedouble >= 1)
		return (long)v->valuedouble;
	if (cJSON_IsString(v) && strtol(v->valuestring, NULL, 10) >= 1)
		return strtol(v->valuestring, NULL, 10);
	return def;
}

/* The answer of the devicecode endpoint: device code, interval, expiry. */
static int start(struct auth *a, struct http *h, const char *who,
		 volatile sig_atomic_t *stop, char **device_code,
		 long *interval_s, long *expires_s, struct err *e)
{
	struct buf form = BUF_INIT(BUF_MAX_SMALL);
	struct request *r;
	struct odata_error oe;
	cJSON *o;
	const char *code, *user, *uri;
	int rc = -1;

	field(&form, "client_id", a->job->client_id);
	field(&form, "scope", a->scope);
	r = call(h, form_post(a->device_url, &form), stop, e);
	if (!r)
		return -1;
	if (r->result != CURLE_OK) {
		err_set(e, ERR_NETWORK,
			"cannot reach the device authorization endpoint "
			"'%s': %s",
			a->device_url, r->error);
		request_free(r);
		return -1;
	}
	o = cJSON_ParseWithLength(r->response.ptr, r->response.len);
	code = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, "device_code"));
	user = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, "user_code"));
	uri = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(o, "verification_uri"));
	if (r->status != 200 || !code || !user || !uri) {
		if (odata_parse_error(&oe, r->response.ptr, r->response.len) ==
		    0) {
			oe.message[strcspn(oe.message, "\r\n")] = '\0';
			err_set(e, ERR_AUTH,
				"device sign-in refused by '%s' (HTTP %ld): "
				"%s: %s",
				a->device_url, r->status, oe.code, oe.message);
		} else {
			err_set(e, ERR_PROTOCOL,
				"the device authorization endpoint '%s' "
				"answered HTTP %ld without a device code",
				a->device_url, r->status);
		}
		goto out;
	}
	log_secret_add(code, strlen(code));
	*device_code = xstrdup(code);
	*interval_s = number(o, "interval", DEVICE_INTERVAL_S);
	*expires_s = number(o, "expires_in", 900);
	/* on stderr whatever the verbosity: nothing goes on without it */
	fprintf(stderr,
		"mbxfix: %s for '%s' (client %s): open %s and enter the code "
		"%s (valid %ld min)\n",
		who, a->job->name, a->job->client_id, uri, user,
		(*expires_s + 59) / 60);
	fflush(stderr);
	rc = 0;
out:
	if (o) {
		cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "device_code");

		if (cJSON_IsString(d))
			memset(d->valuestring, 0, strlen(d->valuestring));
	}
	cJSON_Delete(o);
	request_free(r);
	return rc;
}

int auth_device_sign_in(struct auth *a, struct http *h, const char *who,
			volatile sig_atomic_t *stop, struct err *e)
{
	char *code = NULL;
	long interval_s, expires_s;
	int64_t deadline;
	int rc = -1;

	if (start(a, h, who, stop, &code, &interval_s, &expires_s, e) < 0)
		return -1;
	deadline = now_ms() + expires_s * 1000;
	for (;;) {
		struct buf form = BUF_INIT(BUF_MAX_SMALL);
		struct odata_error oe;
		struct request *r;
		int fr;

		if (!pause_ms(interval_s * 1000, stop)) {
			err_set(e, ERR_INTERNAL,
				"interrupted while waiting for the sign-in");
			break;
		}
		field(&form, "grant_type",
		      "urn:ietf:params:oauth:grant-type:device_code");
		field(&form, "client_id", a->job->client_id);
		field(&form, "device_code", code);
		r = call(h, form_post(a->token_url, &form), stop, e);
		if (!r)
			break;
		a->requests++;
		if (r->result != CURLE_OK) {
			/* a passing network failure: poll again */
			log_warn("token request failed: %s; trying again",
				 r->error);
			request_free(r);
			if (now_ms() < deadline)
				continue;
			err_set(e, ERR_NETWORK,
				"cannot reach the token endpoint '%s'",
				a->token_url);
			break;
		}
		if (r->status == 200) {
			a->in_flight = true; /* auth_finish() expects it */
			fr = auth_finish(a, r, now_ms(), e);
			request_free(r);
			if (fr == 0)
				rc = 0;
			else if (fr > 0)
				err_set(e, ERR_AUTH, "sign-in failed");
			break;
		}
		if (odata_parse_error(&oe, r->response.ptr, r->response.len) <
		    0) {
			if (retry_is_transient(r->status, 0) &&
			    now_ms() < deadline) {
				request_free(r);
				continue;
			}
			err_set(e, ERR_AUTH,
				"device sign-in: the token endpoint '%s' "
				"answered HTTP %ld",
				a->token_url, r->status);
			request_free(r);
			break;
		}
		request_free(r);
		oe.message[strcspn(oe.message, "\r\n")] = '\0';
		if (!strcmp(oe.code, "authorization_pending"))
			continue;
		if (!strcmp(oe.code, "slow_down")) {
			interval_s += DEVICE_SLOW_DOWN_S;
			log_info("device sign-in: asked to slow down; polling "
				 "every %ld s",
				 interval_s);
			continue;
		}
		if (!strcmp(oe.code, "expired_token")) {
			err_set(e, ERR_AUTH,
				"device sign-in: the code expired before "
				"anyone signed in with it; run again and sign "
				"in within %ld min",
				(expires_s + 59) / 60);
		} else if (!strcmp(oe.code, "authorization_declined") ||
			   !strcmp(oe.code, "access_denied")) {
			err_set(e, ERR_AUTH,
				"device sign-in: the sign-in was declined "
				"(%s)",
				oe.code);
		} else {
			err_set(e, ERR_AUTH,
				"device sign-in refused by '%s': %s: %s",
				a->token_url, oe.code, oe.message);
		}
		break;
	}
	if (code) {
		memset(code, 0, strlen(code));
		free(code);
	}
	return rc;
}
