/*
 * api_int.h: what dvsim's Web API files share (api.c, api_read.c,
 * api_write.c, api_actions.c): the request context, its parsed path and
 * query, and the helpers every handler answers with.
 */
#ifndef DVSIM_API_INT_H
#define DVSIM_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "dvsim/org.h"

#define MAX_PAGE 5000
#define MAX_QPARAMS 32
#define MAX_SEGS 4
#define MAX_SELECT 256
#define MAX_EXPAND 15
#define MAX_ORDER 8

#define CT_JSON "Content-Type: application/json; odata.metadata=minimal\r\n"
#define ODATA_V "OData-Version: 4.0\r\n"

struct seg {
	char *name;
	char *args; /* inside the parentheses, or NULL */
};

struct qparam {
	char *key;
	char *val;
};

/* Collection-valued navigation properties dvsim can follow. */
enum coll { COLL_NONE, COLL_ALERTS, COLL_USERROLES, COLL_ROLEPRIVS };

struct coll_nav {
	enum dv_set from;
	const char *nav;
	enum dv_set to;
	enum coll kind;
};
extern const struct coll_nav api_coll_navs[];
extern const size_t api_ncoll_navs;

struct expand {
	const char *name;
	const struct dv_nav *nav; /* single-valued, or NULL */
	enum coll coll;		  /* collection-valued */
	const struct dv_entity *target;
	const struct dv_attr *sel[MAX_SELECT];
	size_t nsel;
	struct dv_filter *filter; /* collection-valued only */
	long top;		  /* -1: all */
};

struct order {
	const struct dv_attr *attr;
	bool desc;
};

struct ctx {
	struct dv_org *org;
	const struct dv_request *req;
	struct dv_response *resp;
	char *path; /* decoded path */
	const char *rawquery;
	struct seg segs[MAX_SEGS];
	size_t nsegs;
	struct qparam q[MAX_QPARAMS];
	size_t nq;
	/* Prefer */
	long maxpagesize; /* 0: not asked */
	bool return_repr;
	char annotations[256]; /* include-annotations value, "" = none */
};

struct rowvec {
	struct dv_row **v;
	size_t n, alloc;
};

/* api.c: requests, errors, the caller's privileges, dispatch */
const char *api_alias_lookup(void *ctx, const char *name);
bool api_allowed(struct ctx *c, const char *prv, const struct dv_entity *ent,
		 const struct dv_row *row);
int api_deny(struct ctx *c, const char *prv, const struct dv_entity *ent);
int api_error(struct ctx *c, int status, const char *code, const char *fmt, ...)
    ATTR_PRINTF(4, 5);
void api_json_reply(struct ctx *c, int status, cJSON *root);
int api_need(struct ctx *c, const char *verb, const struct dv_entity *ent,
	     const struct dv_row *row);
void api_no_content(struct ctx *c, const char *entity_id_url);
int api_not_found(struct ctx *c, const struct dv_entity *ent, const char *id);
int api_payload_error(struct ctx *c, const struct dv_entity *ent,
		      const char *detail);
void api_pct_encode(struct buf *b, const char *s);
const char *api_qget(const struct ctx *c, const char *key);
int api_read_only(struct ctx *c, const struct dv_entity *ent, const char *name);
int api_unknown_property(struct ctx *c, const struct dv_entity *ent,
			 const char *name);
const char *api_user_bu(struct dv_org *org, const char *id);
struct dv_row *api_user_row(struct dv_org *org, const char *id);
bool api_want_annotation(const struct ctx *c, const char *name);

/* api_read.c: reads */
void api_coll_rows(struct dv_org *org, enum coll k, struct dv_row *row,
		   struct rowvec *out);
int api_serve_collection(struct ctx *c, struct dv_table *t,
			 struct rowvec *subset);
int api_serve_count(struct ctx *c, struct dv_table *t);
int api_serve_row(struct ctx *c, struct dv_table *t, struct dv_row *row);

/* api_write.c: PATCH and POST */
cJSON *api_parse_body(struct ctx *c, const struct dv_entity *ent);
int api_do_create(struct ctx *c, struct dv_table *t);
int api_do_patch(struct ctx *c, struct dv_table *t, const char *id);
bool api_parse_bind_url(const char *url, char *set, size_t setlen, char id[37]);

/* api_actions.c: user roles, role privileges, WhoAmI */
int api_add_privileges(struct ctx *c, struct dv_row *role);
int api_retrieve_role_privileges(struct ctx *c, const char *args);
int api_user_roles(struct ctx *c, struct dv_row *user, const char *verb,
		   const char *roleid_seg, bool ref);
int api_who_am_i(struct ctx *c);

#endif
