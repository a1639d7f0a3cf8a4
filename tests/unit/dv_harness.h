/*
 * dv_harness.h: helpers shared by dvsim's unit tests: an organisation
 * generated for a test, requests to dv_api_handle() and their JSON.
 */
#ifndef DV_HARNESS_H
#define DV_HARNESS_H

#include <stdarg.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dvsim/dv.h"
#include "dvsim/org.h"

#define BASE "http://dvsim.test/api/data/v9.2/"
#define APPROVER_APP "51f81489-12ee-4a9e-aaae-a2591f45987d"
#define LIMITED_APP "0b9e2a6c-1d2f-4a8e-9b7c-3e5f6a7b8c9d"

struct call {
	int status;
	cJSON *json; /* parsed body, or NULL */
	char *headers;
	char *body;
};

static inline void call_release(struct call *c)
{
	cJSON_Delete(c->json);
	free(c->headers);
	free(c->body);
	memset(c, 0, sizeof(*c));
}

/* Headers as "Name: value" strings, NULL-terminated. */
static inline struct call dv_call(struct dv_org *org, const char *caller,
				  const char *method, const char *url,
				  const char *body, const char *const *hdrs)
{
	struct dv_header h[16];
	size_t nh = 0;
	char names[16][64];
	struct dv_request req;
	struct dv_response resp;
	struct call c;

	for (; hdrs && hdrs[nh] && nh < 16; nh++) {
		const char *colon = strchr(hdrs[nh], ':');
		size_t n = (size_t)(colon - hdrs[nh]);

		memcpy(names[nh], hdrs[nh], n);
		names[nh][n] = '\0';
		h[nh].name = names[nh];
		h[nh].value = colon + 1 + (colon[1] == ' ');
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = h;
	req.nheaders = nh;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.caller = caller;
	req.base_url = BASE;
	dv_response_init(&resp);
	c.status = dv_api_handle(org, &req, &resp);
	c.headers = xstrdup(resp.headers.ptr);
	c.body = xstrdup(resp.body.ptr);
	c.json = resp.body.len ? cJSON_Parse(resp.body.ptr) : NULL;
	dv_response_release(&resp);
	return c;
}

static inline const char *err_code(const struct call *c)
{
	cJSON *e = cJSON_GetObjectItemCaseSensitive(c->json, "error");

	return dv_str(e, "code");
}

static inline const char *err_msg(const struct call *c)
{
	cJSON *e = cJSON_GetObjectItemCaseSensitive(c->json, "error");

	return dv_str(e, "message");
}

/* The n-th generated user's mailbox (0-based; the administrator is not
 * counted: generated users are systemusers after the admin). */
static inline struct dv_row *nth_user_mailbox(struct dv_org *org, size_t n)
{
	struct dv_table *mt = dv_table(org, DV_MAILBOXES);
	size_t seen = 0;

	for (size_t i = 0; i < mt->n; i++) {
		const char *reg =
		    dv_str(mt->rows[i]->obj, "_regardingobjectid_value");
		struct dv_row *u =
		    reg ? dv_row_get(dv_table(org, DV_USERS), reg) : NULL;
		const char *dn = u ? dv_str(u->obj, "domainname") : NULL;

		if (!u || !dn || !strncmp(dn, "admin@", 6))
			continue;
		if (seen++ == n)
			return mt->rows[i];
	}
	return NULL;
}

static inline struct dv_org *gen_org(unsigned n, const char *mix,
				     unsigned long seed)
{
	struct dv_org *org = dv_org_new();
	struct err e = ERR_INIT;

	if (dv_org_generate(org, n, mix, seed, &e) < 0 ||
	    dv_org_add_app_user(org, APPROVER_APP, DV_APP_APPROVER, &e) < 0 ||
	    dv_org_add_app_user(org, LIMITED_APP, DV_APP_LIMITED, &e) < 0) {
		fprintf(stderr, "gen_org: %s\n", e.msg);
		abort();
	}
	dv_org_set_test_delay(org, 0);
	return org;
}

#endif
