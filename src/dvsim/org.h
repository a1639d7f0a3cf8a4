/*
 * org.h: dvsim's organisation in memory (internal to org.c, meta.c, api*.c,
 * filter.c, gen.c and testenable.c; the server sees only dv.h).
 *
 * Every entity set is a table of rows. A row is a cJSON object holding
 * the Web API attributes exactly as a GET returns them (lookups as
 * "_x_value" GUID strings, "versionnumber" for the ETag). Tables keep a
 * hash index by id and by a few columns (emailaddress, name, domainname,
 * lookups) so that lookups never scan 100,000 rows.
 *
 * Simulator-only facts that are not Web API attributes (the Exchange side
 * of each user, whether an on-premises profile's service account may
 * impersonate) live in org->sim, a cJSON object written under the
 * separate "simulator" key of dv_org_to_json().
 */
#ifndef DVSIM_ORG_H
#define DVSIM_ORG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "dv.h"

/* Attribute types, as far as the Web API distinguishes them. */
enum dv_type {
	DV_STR,	   /* Edm.String */
	DV_INT,	   /* Edm.Int32 */
	DV_BIGINT, /* Edm.Int64 (versionnumber) */
	DV_BOOL,   /* Edm.Boolean */
	DV_GUID,   /* Edm.Guid (primary keys) */
	DV_DATE,   /* Edm.DateTimeOffset, ISO 8601 UTC text */
	DV_CHOICE, /* option set, Edm.Int32 restricted to 'options' */
	DV_LOOKUP, /* "_x_value": Edm.Guid of another row */
};

#define DV_RO 0x1 /* refused on PATCH/POST (set by the service) */

struct dv_option {
	int value;
	const char *label;
};

struct dv_attr {
	const char *name;
	enum dv_type type;
	unsigned flags;
	const struct dv_option *options; /* DV_CHOICE: valid values */
	size_t noptions;
	int maxlen; /* DV_STR: 0 = unlimited */
};

/* A single-valued navigation property: read through 'attr', bound with
 * "nav@odata.bind", expanded with $expand=nav. */
struct dv_nav {
	const char *nav;    /* "ownerid" */
	const char *attr;   /* "_ownerid_value" */
	const char *target; /* entity set of the target: "systemusers" */
	bool writable;
};

struct dv_entity {
	const char *set;     /* "mailboxes" */
	const char *logical; /* "mailbox" */
	const char *key;     /* "mailboxid" */
	const char *primary; /* primary name column */
	int otc;	     /* object type code, used in error texts */
	const char *prv;     /* privilege suffix: "Mailbox" -> prvReadMailbox */
	bool user_owned;
	bool readonly; /* no PATCH/POST through the API */
	const struct dv_attr *attrs;
	size_t nattrs;
	const struct dv_nav *navs;
	size_t nnavs;
	const char *const *indexed; /* columns with a hash index, NULL ends */
};

enum dv_set {
	DV_MAILBOXES,
	DV_PROFILES,
	DV_USERS,
	DV_BUS,
	DV_QUEUES,
	DV_ROLES,
	DV_PRIVILEGES,
	DV_ROLEPRIVS,
	DV_USERROLES,
	DV_TRACELOGS,
	DV_ORGS,
	DV_SDKFILTERS,
	DV_SDKMESSAGES,
	DV_SAVEDQUERIES,
	DV_USERQUERIES,
	DV_NSETS
};

extern const struct dv_entity dv_entities[DV_NSETS];

const struct dv_entity *dv_entity_by_set(const char *set);
const struct dv_attr *dv_entity_attr(const struct dv_entity *ent,
				     const char *name);
const struct dv_nav *dv_entity_nav(const struct dv_entity *ent,
				   const char *nav);
/* The nav whose read attribute is 'attr' (first one), or NULL. */
const struct dv_nav *dv_entity_nav_by_attr(const struct dv_entity *ent,
					   const char *attr);
const char *dv_option_label(const struct dv_attr *a, int value);
/* The OData type name of a column type, e.g. "Edm.Int32". */
const char *dv_type_edm_name(enum dv_type t);

/* A row; 'obj' owns its attributes. Dead rows stay in 'rows' (so undo
 * can revive them) but leave every index. */
struct dv_row {
	cJSON *obj;
	char id[37];
	unsigned txn; /* the transaction that last saved an undo copy */
	bool dead;
	size_t pos; /* position in the table */
};

struct hent {
	char *key;
	struct dv_row *row;
	struct hent *next;
};

/* Chained hash from lower-case string to rows; duplicate keys allowed. */
struct hmap {
	struct hent **b;
	size_t nb, n;
};

struct dv_index {
	const char *col;
	struct hmap map;
};

struct dv_table {
	const struct dv_entity *ent;
	struct dv_row **rows;
	size_t n, alloc;
	struct hmap byid;
	struct dv_index idx[8];
	size_t nidx;
};

struct dv_undo {
	struct dv_table *t;
	struct dv_row *row;
	cJSON *old; /* NULL: the row was created in the transaction */
	bool was_dead;
};

struct dv_pending_test {
	char mailbox[37];
	char scheduler[37];
	int64_t due_ms;
};

struct dv_org {
	pthread_mutex_t lock;
	struct dv_table t[DV_NSETS];
	uint64_t rng;
	int64_t version; /* last versionnumber handed out */
	cJSON *sim;	 /* simulator-only data, see above */
	long test_delay_ms;
	struct dv_pending_test *tests;
	size_t ntests, atests;
	/* change set undo log */
	bool in_txn;
	unsigned txn_id;
	struct dv_undo *undo;
	size_t nundo, aundo;
	size_t txn_ntests;
	int64_t now_override_ms; /* tests: >0 replaces the clock */
	/* index of sim["exchange"] by systemuserid: rows wrapping the
	 * borrowed cJSON items, rebuilt by dv_sim_reindex() */
	struct hmap simx;
	struct dv_row **simx_rows;
	size_t nsimx;
	/* people with a Global or Exchange administrator role in Entra */
	char dir_admins[8][37];
	size_t ndir_admins;
};

/* hmap */
void hmap_init(struct hmap *m);
void hmap_release(struct hmap *m);
void hmap_put(struct hmap *m, const char *key, struct dv_row *row);
void hmap_del(struct hmap *m, const char *key, struct dv_row *row);
/* First entry for 'key' (lower-cased by the caller); walk with hmap_next. */
struct hent *hmap_get(const struct hmap *m, const char *key);
struct hent *hmap_next(struct hent *e, const char *key);

/* Rows */
struct dv_table *dv_table(struct dv_org *org, enum dv_set s);
struct dv_table *dv_table_by_set(struct dv_org *org, const char *set);
struct dv_row *dv_row_get(struct dv_table *t, const char *id);
/* Insert 'obj' (owned from now on), which must carry the key column. */
struct dv_row *dv_row_insert(struct dv_org *org, struct dv_table *t,
			     cJSON *obj);
/* Call before changing row->obj, and dv_row_end_update() after: keeps
 * the undo log and the indexes right and bumps versionnumber. */
void dv_row_begin_update(struct dv_org *org, struct dv_table *t,
			 struct dv_row *row);
void dv_row_end_update(struct dv_org *org, struct dv_table *t,
		       struct dv_row *row);
void dv_row_delete(struct dv_org *org, struct dv_table *t, struct dv_row *row);
/* Index of column 'col' of 't', or NULL. */
struct dv_index *dv_table_index(struct dv_table *t, const char *col);
/* Candidate rows with 'col' equal (case-insensitively) to 'val'. */
struct hent *dv_index_find(struct dv_index *ix, const char *val);

/* Helpers on row attributes. */
const char *dv_str(const cJSON *obj, const char *name); /* NULL if absent */
int dv_int(const cJSON *obj, const char *name, int def);
bool dv_bool(const cJSON *obj, const char *name);
void dv_set_str(cJSON *obj, const char *name, const char *val);
void dv_set_int(cJSON *obj, const char *name, double val);
void dv_set_bool(cJSON *obj, const char *name, bool val);
void dv_set_null(cJSON *obj, const char *name);

/* Deterministic randomness (splitmix64) and GUIDs from it. */
uint64_t dv_rand(struct dv_org *org);
void dv_new_guid(struct dv_org *org, char out[37]);
/* A GUID derived from a name only (privilege ids are stable). */
void dv_name_guid(const char *name, char out[37]);
/* 'out' is 'in' lower-cased when 'in' is a GUID; false otherwise. */
bool dv_parse_guid(const char *in, size_t len, char out[37]);
void dv_lower(char *s);

/* Time: wall clock as ISO 8601 UTC, monotonic ms. */
void dv_now_iso(char out[32]);
int64_t dv_now_ms(struct dv_org *org);

/* Privileges and roles */
enum dv_depth {
	DV_DEPTH_NONE = -1,
	DV_BASIC = 0,
	DV_LOCAL = 1,
	DV_DEEP = 2,
	DV_GLOBAL = 3,
	/*
	 * a record filter (PrivilegeDepth 4, docs/fidelity.md): a role
	 * holds it, it satisfies no Basic..Global requirement
	 */
	DV_RECORDFILTER = 4
};
#define DV_MASK(d) (1 << (d)) /* privilegedepthmask bit of a depth */
/* The privilege row named 'name' (e.g. "prvReadMailbox"), or NULL. */
struct dv_row *dv_privilege_by_name(struct dv_org *org, const char *name);

/* The privileges Server-Side Synchronization needs (KB 4015092). */
extern const char *const dv_sss_privs[];
extern const size_t dv_sss_nprivs;
/* The root role of 'role' (itself when it is a root role). */
struct dv_row *dv_role_root(struct dv_org *org, struct dv_row *role);
/* The deepest depth 'user' holds 'prv' at through its roles. */
enum dv_depth dv_user_depth(struct dv_org *org, const char *userid,
			    const char *prvname);
bool dv_user_has_role(struct dv_org *org, const char *userid,
		      const char *rolename);
/* Set (or raise/overwrite) a privilege of a root role. */
int dv_role_set_privilege(struct dv_org *org, struct dv_row *role,
			  struct dv_row *prv, enum dv_depth depth);

/* Give 'userid' the role 'roleid' (a systemuserroles row). */
void dv_org_link_role(struct dv_org *org, const char *userid,
		      const char *roleid);

/* Test & Enable queue: run the test of 'mailboxid' 'delay_ms' from now
 * (-1: the organisation's test delay). */
void dv_schedule_test(struct dv_org *org, const char *mailboxid,
		      const char *scheduler, long delay_ms);
/*
 * testemailconfigurationscheduled was set on 'mbx' by 'caller' (inside
 * dv_row_begin_update()/end_update()): stamp the attempt, reset the
 * statuses and queue the test (testenable.c, under the variants).
 */
void dv_test_schedule(struct dv_org *org, struct dv_row *mbx,
		      const char *caller);

/* Simulator-only data */
cJSON *dv_sim_exchange(struct dv_org *org, const char *userid); /* or NULL */
cJSON *dv_sim_profile(struct dv_org *org, const char *profileid);
/* Rebuild the index behind dv_sim_exchange() after sim changed shape. */
void dv_sim_reindex(struct dv_org *org);

/* Organisation basics created by both the loader and the generator. */
int dv_org_seed_catalogue(struct dv_org *org);

#define DV_ROLE_SYSADMIN "System Administrator"
#define DV_ROLE_APPROVER "Delegated Mailbox Approver"

#endif
