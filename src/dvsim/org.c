/*
 * org.c: the organisation in memory: tables of rows with hash indexes,
 * the undo log behind $batch change sets, roles and privileges, and the
 * JSON form used by --org, --dump and GET /_sim/state. Just over 1,000
 * lines: the tables, their indexes and the undo log change together.
 */
#include "compat.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "dvsim/org.h"

#include "banned.h"

/* ---- hash map ---------------------------------------------------- */

static uint64_t hash_ci(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return h;
}

void hmap_init(struct hmap *m)
{
	m->nb = 0;
	m->n = 0;
	m->b = NULL;
}

void hmap_release(struct hmap *m)
{
	for (size_t i = 0; i < m->nb; i++) {
		struct hent *e = m->b[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	hmap_init(m);
}

static void hmap_grow(struct hmap *m)
{
	size_t nb = m->nb ? m->nb * 2 : 64;
	struct hent **b = xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < m->nb; i++) {
		struct hent *e = m->b[i], *next;

		for (; e; e = next) {
			size_t k = hash_ci(e->key) & (nb - 1);

			next = e->next;
			e->next = b[k];
			b[k] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
}

void hmap_put(struct hmap *m, const char *key, struct dv_row *row)
{
	struct hent *e;
	size_t k;

	if (m->n >= m->nb)
		hmap_grow(m);
	k = hash_ci(key) & (m->nb - 1);
	e = xmalloc(sizeof(*e));
	e->key = xstrdup(key);
	e->row = row;
	e->next = m->b[k];
	m->b[k] = e;
	m->n++;
}

void hmap_del(struct hmap *m, const char *key, struct dv_row *row)
{
	struct hent **pp;

	if (!m->nb)
		return;
	pp = &m->b[hash_ci(key) & (m->nb - 1)];
	for (; *pp; pp = &(*pp)->next) {
		struct hent *e = *pp;

		if (e->row == row && !strcasecmp(e->key, key)) {
			*pp = e->next;
			free(e->key);
			free(e);
			m->n--;
			return;
		}
	}
}

struct hent *hmap_next(struct hent *e, const char *key)
{
	for (; e; e = e->next)
		if (!strcasecmp(e->key, key))
			return e;
	return NULL;
}

struct hent *hmap_get(const struct hmap *m, const char *key)
{
	if (!m->nb)
		return NULL;
	return hmap_next(m->b[hash_ci(key) & (m->nb - 1)], key);
}

/* ---- attribute helpers ------------------------------------------- */

const char *dv_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int dv_int(const cJSON *obj, const char *name, int def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(v) ? v->valueint : def;
}

bool dv_bool(const cJSON *obj, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, name));
}

static void set_item(cJSON *obj, const char *name, cJSON *v)
{
	if (cJSON_HasObjectItem(obj, name))
		cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
	else
		cJSON_AddItemToObject(obj, name, v);
}

void dv_set_str(cJSON *obj, const char *name, const char *val)
{
	set_item(obj, name, val ? cJSON_CreateString(val) : cJSON_CreateNull());
}

void dv_set_int(cJSON *obj, const char *name, double val)
{
	set_item(obj, name, cJSON_CreateNumber(val));
}

void dv_set_bool(cJSON *obj, const char *name, bool val)
{
	set_item(obj, name, cJSON_CreateBool(val));
}

void dv_set_null(cJSON *obj, const char *name)
{
	set_item(obj, name, cJSON_CreateNull());
}

void dv_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ---- randomness, GUIDs, time --------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t dv_rand(struct dv_org *org)
{
	return splitmix64(&org->rng);
}

static void format_guid(uint64_t a, uint64_t b, char out[37])
{
	/* version 4, RFC 4122 variant, like the GUIDs Dataverse hands out */
	snprintf(out, 37,
		 "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64
		 "-%012" PRIx64,
		 a >> 32, (a >> 16) & 0xffff, a & 0xfff,
		 ((b >> 48) & 0x3fff) | 0x8000,
		 (uint64_t)(b & 0xffffffffffffULL));
}

void dv_new_guid(struct dv_org *org, char out[37])
{
	uint64_t a = dv_rand(org), b = dv_rand(org);

	format_guid(a, b, out);
}

void dv_name_guid(const char *name, char out[37])
{
	uint64_t x = hash_ci(name);
	uint64_t a = splitmix64(&x), b = splitmix64(&x);

	format_guid(a, b, out);
}

bool dv_parse_guid(const char *in, size_t len, char out[37])
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char c = in[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (!isxdigit((unsigned char)c)) {
			return false;
		}
		out[i] = (char)tolower((unsigned char)c);
	}
	out[36] = '\0';
	return true;
}

void dv_now_iso(char out[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t dv_now_ms(struct dv_org *org)
{
	struct timespec ts;

	if (org->now_override_ms > 0)
		return org->now_override_ms;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tables and rows --------------------------------------------- */

struct dv_table *dv_table(struct dv_org *org, enum dv_set s)
{
	return &org->t[s];
}

struct dv_table *dv_table_by_set(struct dv_org *org, const char *set)
{
	for (size_t i = 0; i < DV_NSETS; i++)
		if (!strcmp(org->t[i].ent->set, set))
			return &org->t[i];
	return NULL;
}

struct dv_row *dv_row_get(struct dv_table *t, const char *id)
{
	struct hent *e = hmap_get(&t->byid, id);

	return e ? e->row : NULL;
}

struct dv_index *dv_table_index(struct dv_table *t, const char *col)
{
	for (size_t i = 0; i < t->nidx; i++)
		if (!strcmp(t->idx[i].col, col))
			return &t->idx[i];
	return NULL;
}

struct hent *dv_index_find(struct dv_index *ix, const char *val)
{
	return hmap_get(&ix->map, val);
}

static void row_index(struct dv_table *t, struct dv_row *row)
{
	hmap_put(&t->byid, row->id, row);
	for (size_t i = 0; i < t->nidx; i++) {
		const char *v = dv_str(row->obj, t->idx[i].col);

		if (v)
			hmap_put(&t->idx[i].map, v, row);
	}
}

static void row_unindex(struct dv_table *t, struct dv_row *row)
{
	hmap_del(&t->byid, row->id, row);
	for (size_t i = 0; i < t->nidx; i++) {
		const char *v = dv_str(row->obj, t->idx[i].col);

		if (v)
			hmap_del(&t->idx[i].map, v, row);
	}
}

static void undo_push(struct dv_org *org, struct dv_table *t,
		      struct dv_row *row, cJSON *old)
{
	if (org->nundo == org->aundo) {
		org->aundo = org->aundo ? org->aundo * 2 : 64;
		org->undo =
		    xrealloc(org->undo, org->aundo * sizeof(*org->undo));
	}
	org->undo[org->nundo].t = t;
	org->undo[org->nundo].row = row;
	org->undo[org->nundo].old = old;
	org->undo[org->nundo].was_dead = row->dead;
	org->nundo++;
	row->txn = org->txn_id;
}

static void stamp(struct dv_org *org, struct dv_table *t, struct dv_row *row,
		  bool created)
{
	char now[32];

	dv_set_int(row->obj, "versionnumber", (double)++org->version);
	if (!dv_entity_attr(t->ent, "modifiedon"))
		return;
	dv_now_iso(now);
	dv_set_str(row->obj, "modifiedon", now);
	if (created && !dv_str(row->obj, "createdon"))
		dv_set_str(row->obj, "createdon", now);
}

static struct dv_row *row_add(struct dv_table *t, cJSON *obj, const char *id)
{
	struct dv_row *row = xcalloc(1, sizeof(*row));

	row->obj = obj;
	snprintf(row->id, sizeof(row->id), "%s", id);
	dv_lower(row->id);
	if (t->n == t->alloc) {
		t->alloc = t->alloc ? t->alloc * 2 : 64;
		t->rows = xrealloc(t->rows, t->alloc * sizeof(*t->rows));
	}
	row->pos = t->n;
	t->rows[t->n++] = row;
	row_index(t, row);
	return row;
}

struct dv_row *dv_row_insert(struct dv_org *org, struct dv_table *t, cJSON *obj)
{
	const char *id = dv_str(obj, t->ent->key);
	struct dv_row *row;

	assert(id != NULL); /* every caller sets the key */
	row = row_add(t, obj, id);
	dv_set_str(obj, t->ent->key, row->id);
	if (org->in_txn)
		undo_push(org, t, row, NULL);
	stamp(org, t, row, true);
	return row;
}

void dv_row_begin_update(struct dv_org *org, struct dv_table *t,
			 struct dv_row *row)
{
	if (org->in_txn && row->txn != org->txn_id)
		undo_push(org, t, row, cJSON_Duplicate(row->obj, 1));
	if (!row->dead)
		row_unindex(t, row);
}

void dv_row_end_update(struct dv_org *org, struct dv_table *t,
		       struct dv_row *row)
{
	stamp(org, t, row, false);
	if (!row->dead)
		row_index(t, row);
}

void dv_row_delete(struct dv_org *org, struct dv_table *t, struct dv_row *row)
{
	if (row->dead)
		return;
	if (org->in_txn && row->txn != org->txn_id)
		undo_push(org, t, row, cJSON_Duplicate(row->obj, 1));
	row_unindex(t, row);
	row->dead = true;
}

/* ---- transactions ------------------------------------------------ */

void dv_org_txn_begin(struct dv_org *org)
{
	if (org->in_txn)
		BUG("nested change set");
	org->in_txn = true;
	org->txn_id++;
	org->nundo = 0;
	org->txn_ntests = org->ntests;
}

void dv_org_txn_commit(struct dv_org *org)
{
	for (size_t i = 0; i < org->nundo; i++)
		cJSON_Delete(org->undo[i].old);
	org->nundo = 0;
	org->in_txn = false;
}

void dv_org_txn_rollback(struct dv_org *org)
{
	while (org->nundo > 0) {
		struct dv_undo *u = &org->undo[--org->nundo];
		struct dv_row *row = u->row;

		if (!row->dead)
			row_unindex(u->t, row);
		if (!u->old) {
			row->dead = true;
			continue;
		}
		cJSON_Delete(row->obj);
		row->obj = u->old;
		row->dead = u->was_dead;
		if (!row->dead)
			row_index(u->t, row);
	}
	if (org->ntests > org->txn_ntests)
		org->ntests = org->txn_ntests;
	org->in_txn = false;
}

static void simx_release(struct dv_org *org);

/* ---- lifecycle ------------------------------------------------------ */

struct dv_org *dv_org_new(void)
{
	struct dv_org *org = xcalloc(1, sizeof(*org));

	pthread_mutex_init(&org->lock, NULL);
	for (size_t i = 0; i < DV_NSETS; i++) {
		struct dv_table *t = &org->t[i];

		t->ent = &dv_entities[i];
		hmap_init(&t->byid);
		for (const char *const *c = t->ent->indexed; c && *c; c++) {
			if (t->nidx == ARRAY_SIZE(t->idx))
				BUG("too many indexes on '%s'", t->ent->set);
			t->idx[t->nidx].col = *c;
			hmap_init(&t->idx[t->nidx].map);
			t->nidx++;
		}
	}
	org->sim = cJSON_CreateObject();
	cJSON_AddObjectToObject(org->sim, "exchange");
	cJSON_AddObjectToObject(org->sim, "profiles");
	org->test_delay_ms = 5000;
	org->rng = 0x5eed;
	return org;
}

void dv_org_free(struct dv_org *org)
{
	if (!org)
		return;
	if (org->in_txn)
		dv_org_txn_commit(org);
	for (size_t i = 0; i < DV_NSETS; i++) {
		struct dv_table *t = &org->t[i];

		for (size_t j = 0; j < t->n; j++) {
			cJSON_Delete(t->rows[j]->obj);
			free(t->rows[j]);
		}
		free(t->rows);
		hmap_release(&t->byid);
		for (size_t j = 0; j < t->nidx; j++)
			hmap_release(&t->idx[j].map);
	}
	simx_release(org);
	cJSON_Delete(org->sim);
	free(org->tests);
	free(org->undo);
	pthread_mutex_destroy(&org->lock);
	free(org);
}

void dv_org_lock(struct dv_org *org)
{
	pthread_mutex_lock(&org->lock);
}

void dv_org_unlock(struct dv_org *org)
{
	pthread_mutex_unlock(&org->lock);
}

void dv_org_set_test_delay(struct dv_org *org, long ms)
{
	org->test_delay_ms = ms < 0 ? 0 : ms;
}

void dv_schedule_test(struct dv_org *org, const char *mailboxid,
		      const char *scheduler, long delay_ms)
{
	struct dv_pending_test *p;

	if (org->ntests == org->atests) {
		org->atests = org->atests ? org->atests * 2 : 64;
		org->tests = xrealloc(org->tests, org->atests * sizeof(*p));
	}
	p = &org->tests[org->ntests++];
	snprintf(p->mailbox, sizeof(p->mailbox), "%s", mailboxid);
	snprintf(p->scheduler, sizeof(p->scheduler), "%s",
		 scheduler ? scheduler : "");
	p->due_ms =
	    dv_now_ms(org) + (delay_ms < 0 ? org->test_delay_ms : delay_ms);
}

static void simx_release(struct dv_org *org)
{
	for (size_t i = 0; i < org->nsimx; i++)
		free(org->simx_rows[i]);
	free(org->simx_rows);
	org->simx_rows = NULL;
	org->nsimx = 0;
	hmap_release(&org->simx);
}

void dv_sim_reindex(struct dv_org *org)
{
	cJSON *x = cJSON_GetObjectItemCaseSensitive(org->sim, "exchange");
	cJSON *it;
	size_t n = (size_t)cJSON_GetArraySize(x);

	simx_release(org);
	org->simx_rows = xcalloc(n ? n : 1, sizeof(*org->simx_rows));
	cJSON_ArrayForEach(it, x)
	{
		struct dv_row *r = xcalloc(1, sizeof(*r));

		r->obj = it;
		snprintf(r->id, sizeof(r->id), "%s", it->string);
		org->simx_rows[org->nsimx++] = r;
		hmap_put(&org->simx, r->id, r);
	}
}

/* The user's Exchange side; a linear scan only before the first
 * dv_sim_reindex() (while generating). */
cJSON *dv_sim_exchange(struct dv_org *org, const char *userid)
{
	struct hent *e;

	if (!org->nsimx)
		return cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(org->sim, "exchange"),
		    userid);
	e = hmap_get(&org->simx, userid);
	return e ? e->row->obj : NULL;
}

cJSON *dv_sim_profile(struct dv_org *org, const char *profileid)
{
	return cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(org->sim, "profiles"), profileid);
}

/* ---- privileges and roles ---------------------------------------- */

/*
 * The privilege catalogue: every privilege KB 4015092 lists,
 * prvApproveRejectEmailAddress, and the ones dvsim's own operations
 * require of the caller. Depth flags: user-owned tables take all four
 * depths; business-owned tables (users, roles, business units) Local and
 * up; organization-owned tables and miscellaneous privileges Global only.
 * Ids are derived from the name so they are the same in every
 * organisation; prvReadEmailServerProfile keeps the id the support
 * article quotes.
 */
#define P_ALL 0xf
#define P_BU 0xe
#define P_ORG 0x8
static const struct {
	const char *name;
	int access;
	int depths;
} catalogue[] = {
    {"prvReadEmailServerProfile", 1, P_ALL},
    {"prvWriteEmailServerProfile", 2, P_ALL},
    {"prvReadMailbox", 1, P_ALL},
    {"prvWriteMailbox", 2, P_ALL},
    {"prvCreateMailbox", 32, P_ALL},
    {"prvDeleteMailbox", 65536, P_ALL},
    {"prvAssignMailbox", 524288, P_ALL},
    {"prvAppendMailbox", 4, P_ALL},
    {"prvAppendToMailbox", 16, P_ALL},
    {"prvReadOrganization", 1, P_ORG},
    {"prvWriteOrganization", 2, P_ORG},
    {"prvSyncToOutlook", 0, P_ORG},
    {"prvReadActionCard", 1, P_ALL},
    {"prvDeleteActivity", 65536, P_ALL},
    {"prvAppendActivity", 4, P_ALL},
    {"prvWriteActivity", 2, P_ALL},
    {"prvCreateActivity", 32, P_ALL},
    {"prvReadActivity", 1, P_ALL},
    {"prvAppendToActivity", 16, P_ALL},
    {"prvReadConnection", 1, P_ALL},
    {"prvAssignContact", 524288, P_ALL},
    {"prvReadContact", 1, P_ALL},
    {"prvWriteContact", 2, P_ALL},
    {"prvCreateContact", 32, P_ALL},
    {"prvDeleteContact", 65536, P_ALL},
    {"prvReadUserQuery", 1, P_ALL},
    {"prvReadQueue", 1, P_ALL},
    {"prvWriteQueue", 2, P_ALL},
    {"prvReadQuery", 1, P_ORG},
    {"prvReadIncident", 1, P_ALL},
    {"prvSearchAvailability", 0, P_ORG},
    {"prvOverrideCreatedOnCreatedBy", 0, P_ORG},
    {"prvApproveRejectEmailAddress", 0, P_ORG},
    {"prvActOnBehalfOfAnotherUser", 0, P_ORG},
    {"prvReadUser", 1, P_BU},
    {"prvWriteUser", 2, P_BU},
    {"prvAppendToUser", 16, P_BU},
    {"prvReadRole", 1, P_BU},
    {"prvWriteRole", 2, P_BU},
    {"prvCreateRole", 32, P_BU},
    {"prvAssignRole", 524288, P_BU},
    {"prvReadBusinessUnit", 1, P_BU},
    {"prvReadTraceLog", 1, P_ORG},
};

static const char *const bulk_messages[] = {"CreateMultiple", "UpdateMultiple",
					    "UpsertMultiple"};

int dv_org_seed_catalogue(struct dv_org *org)
{
	struct dv_table *t = dv_table(org, DV_PRIVILEGES);

	for (size_t i = 0; i < ARRAY_SIZE(catalogue); i++) {
		char id[37];
		cJSON *o;

		if (dv_privilege_by_name(org, catalogue[i].name))
			continue;
		if (!strcmp(catalogue[i].name, "prvReadEmailServerProfile"))
			snprintf(id, sizeof(id),
				 "edebe6f6-cf2e-4520-b635-ae0615d41e34");
		else
			dv_name_guid(catalogue[i].name, id);
		o = cJSON_CreateObject();
		dv_set_str(o, "privilegeid", id);
		dv_set_str(o, "name", catalogue[i].name);
		dv_set_int(o, "accessright", catalogue[i].access);
		dv_set_bool(o, "canbebasic", catalogue[i].depths & 1);
		dv_set_bool(o, "canbelocal", catalogue[i].depths & 2);
		dv_set_bool(o, "canbedeep", catalogue[i].depths & 4);
		dv_set_bool(o, "canbeglobal", catalogue[i].depths & 8);
		dv_set_bool(o, "canbeentityreference", false);
		dv_set_bool(o, "canbeparententityreference", false);
		dv_row_insert(org, t, o);
	}
	/* the bulk messages exist, but no filter enables them for mailbox */
	for (size_t i = 0; i < ARRAY_SIZE(bulk_messages); i++) {
		struct dv_table *mt = dv_table(org, DV_SDKMESSAGES);
		char id[37];
		cJSON *o;

		if (dv_index_find(dv_table_index(mt, "name"), bulk_messages[i]))
			continue;
		dv_name_guid(bulk_messages[i], id);
		o = cJSON_CreateObject();
		dv_set_str(o, "sdkmessageid", id);
		dv_set_str(o, "name", bulk_messages[i]);
		dv_row_insert(org, mt, o);
	}
	return 0;
}

struct dv_row *dv_privilege_by_name(struct dv_org *org, const char *name)
{
	struct dv_index *ix =
	    dv_table_index(dv_table(org, DV_PRIVILEGES), "name");
	struct hent *e = dv_index_find(ix, name);

	return e ? e->row : NULL;
}

struct dv_row *dv_role_root(struct dv_org *org, struct dv_row *role)
{
	const char *root = dv_str(role->obj, "_parentrootroleid_value");
	struct dv_row *r;

	if (!root || !strcmp(root, role->id))
		return role;
	r = dv_row_get(dv_table(org, DV_ROLES), root);
	return r ? r : role;
}

static int mask_depth(int mask)
{
	for (int d = DV_GLOBAL; d >= DV_BASIC; d--)
		if (mask & DV_MASK(d))
			return d;
	return DV_DEPTH_NONE;
}

enum dv_depth dv_user_depth(struct dv_org *org, const char *userid,
			    const char *prvname)
{
	struct dv_table *ur = dv_table(org, DV_USERROLES);
	struct dv_table *rp = dv_table(org, DV_ROLEPRIVS);
	struct dv_table *roles = dv_table(org, DV_ROLES);
	struct dv_row *prv = dv_privilege_by_name(org, prvname);
	struct hent *e;
	int best = DV_DEPTH_NONE;

	if (!prv)
		return DV_DEPTH_NONE;
	for (e = dv_index_find(dv_table_index(ur, "systemuserid"), userid); e;
	     e = hmap_next(e->next, userid)) {
		const char *rid = dv_str(e->row->obj, "roleid");
		struct dv_row *role = rid ? dv_row_get(roles, rid) : NULL;
		struct hent *p;

		if (!role)
			continue;
		role = dv_role_root(org, role);
		for (p = dv_index_find(dv_table_index(rp, "roleid"), role->id);
		     p; p = hmap_next(p->next, role->id)) {
			const char *pid = dv_str(p->row->obj, "privilegeid");
			int d;

			if (!pid || strcmp(pid, prv->id))
				continue;
			d = mask_depth(
			    dv_int(p->row->obj, "privilegedepthmask", 0));
			if (d > best)
				best = d;
		}
	}
	return (enum dv_depth)best;
}

bool dv_user_has_role(struct dv_org *org, const char *userid,
		      const char *rolename)
{
	struct dv_table *ur = dv_table(org, DV_USERROLES);
	struct dv_table *roles = dv_table(org, DV_ROLES);
	struct hent *e;

	for (e = dv_index_find(dv_table_index(ur, "systemuserid"), userid); e;
	     e = hmap_next(e->next, userid)) {
		const char *rid = dv_str(e->row->obj, "roleid");
		struct dv_row *role = rid ? dv_row_get(roles, rid) : NULL;
		const char *name;

		if (!role)
			continue;
		name = dv_str(dv_role_root(org, role)->obj, "name");
		if (name && !strcmp(name, rolename))
			return true;
	}
	return false;
}

int dv_role_set_privilege(struct dv_org *org, struct dv_row *role,
			  struct dv_row *prv, enum dv_depth depth)
{
	struct dv_table *rp = dv_table(org, DV_ROLEPRIVS);
	struct hent *p;
	char id[37];
	cJSON *o;

	for (p = dv_index_find(dv_table_index(rp, "roleid"), role->id); p;
	     p = hmap_next(p->next, role->id)) {
		const char *pid = dv_str(p->row->obj, "privilegeid");

		if (pid && !strcmp(pid, prv->id)) {
			/* begin_update drops the index entry 'p' */
			struct dv_row *row = p->row;

			if (dv_int(row->obj, "privilegedepthmask", 0) ==
			    DV_MASK(depth))
				return 0;
			dv_row_begin_update(org, rp, row);
			dv_set_int(row->obj, "privilegedepthmask",
				   DV_MASK(depth));
			dv_row_end_update(org, rp, row);
			return 0;
		}
	}
	dv_new_guid(org, id);
	o = cJSON_CreateObject();
	dv_set_str(o, "roleprivilegeid", id);
	dv_set_str(o, "roleid", role->id);
	dv_set_str(o, "privilegeid", prv->id);
	dv_set_int(o, "privilegedepthmask", DV_MASK(depth));
	dv_row_insert(org, rp, o);
	return 0;
}

/* ---- application users -------------------------------------------- */

static struct dv_row *root_bu(struct dv_org *org)
{
	struct dv_table *t = dv_table(org, DV_BUS);

	for (size_t i = 0; i < t->n; i++)
		if (!t->rows[i]->dead &&
		    !dv_str(t->rows[i]->obj, "_parentbusinessunitid_value"))
			return t->rows[i];
	return NULL;
}

static struct dv_row *root_role(struct dv_org *org, const char *name)
{
	struct dv_table *t = dv_table(org, DV_ROLES);
	struct hent *e;

	for (e = dv_index_find(dv_table_index(t, "name"), name); e;
	     e = hmap_next(e->next, name))
		if (dv_role_root(org, e->row) == e->row)
			return e->row;
	return NULL;
}

static void link_role(struct dv_org *org, const char *userid,
		      const char *roleid)
{
	char id[37];
	cJSON *o = cJSON_CreateObject();

	dv_new_guid(org, id);
	dv_set_str(o, "systemuserroleid", id);
	dv_set_str(o, "systemuserid", userid);
	dv_set_str(o, "roleid", roleid);
	dv_row_insert(org, dv_table(org, DV_USERROLES), o);
}

const char *dv_org_app_user(struct dv_org *org, const char *client_id)
{
	struct dv_table *t = dv_table(org, DV_USERS);
	struct hent *e =
	    dv_index_find(dv_table_index(t, "applicationid"), client_id);

	return e ? e->row->id : NULL;
}

int dv_org_add_app_user(struct dv_org *org, const char *client_id,
			enum dv_app_kind kind, struct err *e)
{
	struct dv_row *bu = root_bu(org);
	struct dv_row *sa = root_role(org, DV_ROLE_SYSADMIN);
	struct dv_row *dma = root_role(org, DV_ROLE_APPROVER);
	char id[37], appid[37], name[128];
	cJSON *o;

	if (!dv_parse_guid(client_id, strlen(client_id), appid))
		return err_set(e, ERR_USAGE, "client id '%s' is not a GUID",
			       client_id);
	if (!bu || !sa || !dma)
		return err_set(e, ERR_CONFIG,
			       "the organisation has no root business unit "
			       "or lacks the '%s' and '%s' roles",
			       DV_ROLE_SYSADMIN, DV_ROLE_APPROVER);
	if (dv_org_app_user(org, appid))
		return 0; /* already there, e.g. in a loaded dump */
	dv_new_guid(org, id);
	snprintf(name, sizeof(name), "# dvsim app %.8s", appid);
	o = cJSON_CreateObject();
	dv_set_str(o, "systemuserid", id);
	dv_set_str(o, "fullname", name);
	dv_set_str(o, "firstname", "#");
	dv_set_str(o, "lastname", name + 2);
	dv_set_str(o, "domainname", "");
	dv_set_str(o, "internalemailaddress", NULL);
	dv_set_str(o, "applicationid", appid);
	dv_set_int(o, "accessmode", 4); /* non-interactive */
	dv_set_bool(o, "isdisabled", false);
	dv_set_int(o, "emailrouteraccessapproval", 0);
	dv_set_str(o, "_businessunitid_value", bu->id);
	dv_set_null(o, "_defaultmailbox_value");
	dv_row_insert(org, dv_table(org, DV_USERS), o);
	link_role(org, id, sa->id);
	if (kind == DV_APP_APPROVER)
		link_role(org, id, dma->id);
	return 0;
}

int dv_org_add_person(struct dv_org *org, const char *upn, const char *fullname,
		      const char *oid, bool approver, char userid[37],
		      struct err *e)
{
	struct dv_row *bu = root_bu(org);
	struct dv_row *sa = root_role(org, DV_ROLE_SYSADMIN);
	struct dv_row *dma = root_role(org, DV_ROLE_APPROVER);
	struct dv_table *t = dv_table(org, DV_USERS);
	cJSON *o;

	if (!bu || !sa || !dma)
		return err_set(e, ERR_CONFIG,
			       "the organisation has no root business unit "
			       "or lacks the '%s' and '%s' roles",
			       DV_ROLE_SYSADMIN, DV_ROLE_APPROVER);
	for (size_t i = 0; i < t->n; i++) {
		const char *d = dv_str(t->rows[i]->obj, "domainname");

		if (!t->rows[i]->dead && d && !strcasecmp(d, upn)) {
			snprintf(userid, 37, "%s", t->rows[i]->id);
			return 0; /* already there, e.g. in a loaded dump */
		}
	}
	dv_new_guid(org, userid);
	o = cJSON_CreateObject();
	dv_set_str(o, "systemuserid", userid);
	dv_set_str(o, "fullname", fullname);
	dv_set_str(o, "domainname", upn);
	dv_set_str(o, "internalemailaddress", upn);
	dv_set_str(o, "azureactivedirectoryobjectid", oid);
	dv_set_int(o, "accessmode", 0); /* read-write, interactive */
	dv_set_bool(o, "isdisabled", false);
	dv_set_int(o, "emailrouteraccessapproval", 0);
	dv_set_str(o, "_businessunitid_value", bu->id);
	dv_set_null(o, "_defaultmailbox_value");
	dv_row_insert(org, t, o);
	link_role(org, userid, sa->id);
	if (approver)
		link_role(org, userid, dma->id);
	return 0;
}

void dv_org_set_directory_admin(struct dv_org *org, const char *userid)
{
	if (dv_org_is_directory_admin(org, userid) ||
	    org->ndir_admins >= ARRAY_SIZE(org->dir_admins))
		return;
	snprintf(org->dir_admins[org->ndir_admins++], 37, "%s", userid);
}

bool dv_org_is_directory_admin(struct dv_org *org, const char *userid)
{
	for (size_t i = 0; userid && i < org->ndir_admins; i++)
		if (!strcasecmp(org->dir_admins[i], userid))
			return true;
	return false;
}

void dv_org_link_role(struct dv_org *org, const char *userid,
		      const char *roleid)
{
	link_role(org, userid, roleid);
}

/* ---- JSON form ------------------------------------------------------- */

/*
 * {"dvsim": 1, "version": N, "rng": "hex",
 *  "entities": {"mailboxes": [rows...], ...},
 *  "pending_tests": [{"mailboxid": ..., "scheduler": ...}],
 *  "simulator": {"exchange": {systemuserid: {...}},
 *                "profiles": {emailserverprofileid: {...}}}}
 * "simulator" holds what is not a Web API attribute: per user the
 * Exchange side ("location": "online"|"onprem", "licensed", "address",
 * "recreated"), per profile "impersonation" (may the service account
 * impersonate mailboxes).
 */
int dv_org_to_json(struct dv_org *org, struct buf *out)
{
	cJSON *root = cJSON_CreateObject(), *ents, *tests;
	char rng[32];
	char *text;
	int rc = 0;

	cJSON_AddNumberToObject(root, "dvsim", 1);
	cJSON_AddNumberToObject(root, "version", (double)org->version);
	snprintf(rng, sizeof(rng), "%016" PRIx64, org->rng);
	cJSON_AddStringToObject(root, "rng", rng);
	ents = cJSON_AddObjectToObject(root, "entities");
	for (size_t i = 0; i < DV_NSETS; i++) {
		struct dv_table *t = &org->t[i];
		cJSON *arr = cJSON_AddArrayToObject(ents, t->ent->set);

		for (size_t j = 0; j < t->n; j++)
			if (!t->rows[j]->dead)
				cJSON_AddItemToArray(
				    arr, cJSON_Duplicate(t->rows[j]->obj, 1));
	}
	tests = cJSON_AddArrayToObject(root, "pending_tests");
	for (size_t i = 0; i < org->ntests; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "mailboxid", org->tests[i].mailbox);
		cJSON_AddStringToObject(o, "scheduler",
					org->tests[i].scheduler);
		cJSON_AddItemToArray(tests, o);
	}
	cJSON_AddItemToObject(root, "simulator", cJSON_Duplicate(org->sim, 1));
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text || buf_addstr(out, text) < 0)
		rc = -1;
	cJSON_free(text);
	return rc;
}

static int load_json(struct dv_org *org, const cJSON *root, struct err *e)
{
	const cJSON *ents = cJSON_GetObjectItemCaseSensitive(root, "entities");
	const cJSON *v, *sim;

	if (!cJSON_IsObject(root) || !cJSON_IsObject(ents))
		return err_set(e, ERR_CONFIG, "no \"entities\" object");
	for (size_t i = 0; i < DV_NSETS; i++) {
		struct dv_table *t = &org->t[i];
		const cJSON *arr =
		    cJSON_GetObjectItemCaseSensitive(ents, t->ent->set);
		const cJSON *row;

		if (!arr)
			continue;
		if (!cJSON_IsArray(arr))
			return err_set(e, ERR_CONFIG, "\"%s\" is not an array",
				       t->ent->set);
		cJSON_ArrayForEach(row, arr)
		{
			const char *id = dv_str(row, t->ent->key);
			char gid[37];

			if (!cJSON_IsObject(row) || !id ||
			    !dv_parse_guid(id, strlen(id), gid))
				return err_set(e, ERR_CONFIG,
					       "a row of \"%s\" has no valid "
					       "\"%s\"",
					       t->ent->set, t->ent->key);
			if (dv_row_get(t, gid))
				return err_set(e, ERR_CONFIG, "duplicate %s %s",
					       t->ent->key, gid);
			row_add(t, cJSON_Duplicate(row, 1), gid);
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (cJSON_IsNumber(v))
		org->version = (int64_t)v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(root, "rng");
	if (cJSON_IsString(v))
		org->rng = strtoull(v->valuestring, NULL, 16);
	sim = cJSON_GetObjectItemCaseSensitive(root, "simulator");
	if (cJSON_IsObject(sim)) {
		cJSON_Delete(org->sim);
		org->sim = cJSON_Duplicate(sim, 1);
		if (!cJSON_HasObjectItem(org->sim, "exchange"))
			cJSON_AddObjectToObject(org->sim, "exchange");
		if (!cJSON_HasObjectItem(org->sim, "profiles"))
			cJSON_AddObjectToObject(org->sim, "profiles");
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "pending_tests");
	if (cJSON_IsArray(v)) {
		const cJSON *p;

		cJSON_ArrayForEach(p, v)
		{
			const char *m = dv_str(p, "mailboxid");

			if (m)
				dv_schedule_test(org, m, dv_str(p, "scheduler"),
						 -1);
		}
	}
	dv_sim_reindex(org);
	return dv_org_seed_catalogue(org);
}

int dv_org_load(struct dv_org *org, const char *path, struct err *e)
{
	struct buf b = BUF_INIT(BUF_MAX_BODY * 16);
	char chunk[65536];
	cJSON *root;
	size_t n;
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return err_set_errno(e, ERR_CONFIG, "cannot open '%s'", path);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_add(&b, chunk, n) < 0) {
			fclose(f);
			buf_release(&b);
			return err_set(e, ERR_CONFIG, "'%s' is too large",
				       path);
		}
	}
	if (ferror(f)) {
		fclose(f);
		buf_release(&b);
		return err_set_errno(e, ERR_CONFIG, "cannot read '%s'", path);
	}
	fclose(f);
	root = cJSON_ParseWithLength(b.ptr, b.len);
	buf_release(&b);
	if (!root)
		return err_set(e, ERR_CONFIG, "'%s' is not valid JSON", path);
	rc = load_json(org, root, e);
	if (rc < 0) {
		char msg[sizeof(e->msg)];

		snprintf(msg, sizeof(msg), "%s", e->msg);
		err_clear(e);
		err_set(e, ERR_CONFIG, "'%s': %s", path, msg);
	}
	cJSON_Delete(root);
	return rc;
}
