#include "compat.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "act_util.h"
#include "buf.h"
#include "engine.h"
#include "job.h"
#include "odata.h"
#include "preflight.h"
#include "privs.h"
#include "rows.h"

#include "banned.h"

/* What a name is; the order is the run order of the actions using them. */
enum kind { K_OWNER, K_PROFILE, K_ROLE, K_PRIVS, K_COUNT };

enum state {
	S_NEW = 0,   /* not looked at yet */
	S_OK,	     /* resolves */
	S_UNKNOWN,   /* nothing by that name: failed once suggestions are in */
	S_FAILED,    /* failed: code, message, hint set */
	S_UNDECIDED, /* its lookup failed: left to the action */
};

struct entry {
	char *name;
	enum state state;
	const char *code; /* static */
	char *message;
	const char *hint; /* static */
};

/* Distinct names of one kind: an array, and a hash index into it. */
struct set {
	struct entry *v;
	size_t n, alloc;
	size_t *idx; /* positions + 1; 0 = empty slot */
	size_t cap;
};

/* One In() lookup: the names (set positions) it asks about. */
struct group {
	enum kind kind;
	bool ids;
	char *url;
	size_t *at;
	size_t n;
};

struct preflight {
	struct set sets[K_COUNT];
	char *def[K_COUNT]; /* the job's default of each kind, or NULL */
	struct group *groups;
	size_t ngroups;
};

static const char *const hints[K_COUNT] = {
    [K_OWNER] = "name the owner by UPN, primary email or systemuserid",
    [K_PROFILE] = "name an existing email server profile (its name or id) "
		  "in the profile column",
    [K_ROLE] = "name an existing security role (its name or id) in the "
	       "role column",
    [K_PRIVS] = "name a template of templates/privileges/ or list "
		"privileges as prvName[:depth];...",
};

static const char *const settings[K_COUNT] = {
    [K_OWNER] = NULL,
    [K_PROFILE] = "defaults.profile",
    [K_ROLE] = "defaults.role",
    [K_PRIVS] = "defaults.privileges",
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The position of 'name' in 's', or (size_t)-1. */
static size_t set_find(const struct set *s, const char *name)
{
	size_t i;

	if (!s->cap)
		return (size_t)-1;
	for (i = name_hash(name) & (s->cap - 1); s->idx[i];
	     i = (i + 1) & (s->cap - 1))
		if (!strcmp(s->v[s->idx[i] - 1].name, name))
			return s->idx[i] - 1;
	return (size_t)-1;
}

static void set_add(struct set *s, const char *name)
{
	size_t i;

	if (!*name || set_find(s, name) != (size_t)-1)
		return;
	if ((s->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;

		free(s->idx);
		s->idx = xcalloc(cap, sizeof(*s->idx));
		s->cap = cap;
		for (size_t k = 0; k < s->n; k++) {
			for (i = name_hash(s->v[k].name) & (cap - 1); s->idx[i];
			     i = (i + 1) & (cap - 1))
				;
			s->idx[i] = k + 1;
		}
	}
	if (s->n == s->alloc) {
		s->alloc = s->alloc ? 2 * s->alloc : 64;
		s->v = xrealloc(s->v, s->alloc * sizeof(*s->v));
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	s->v[s->n].name = xstrdup(name);
	for (i = name_hash(name) & (s->cap - 1); s->idx[i];
	     i = (i + 1) & (s->cap - 1))
		;
	s->idx[i] = ++s->n;
}

static const struct entry *lookup(const struct preflight *pf, enum kind k,
				  const char *name)
{
	size_t i = set_find(&pf->sets[k], name);

	return i == (size_t)-1 ? NULL : &pf->sets[k].v[i];
}

static void fail_entry(struct entry *en, enum kind k, const char *code,
		       const char *message)
{
	en->state = S_FAILED;
	en->code = code;
	free(en->message);
	en->message = xstrdup(message);
	en->hint = hints[k];
}

/* Collect. */
static void add_row(struct preflight *pf, const struct row *row)
{
	if ((row->actions & ROWS_ACT(ROWS_FIX_OWNER)) && *row->owner)
		set_add(&pf->sets[K_OWNER], row->owner);
	if ((row->actions & ROWS_ACT(ROWS_SET_PROFILE)) &&
	    !(row->actions & ROWS_ACT_APPLY_DEFAULTS))
		set_add(&pf->sets[K_PROFILE], row->profile);
	if (row->actions & ROWS_ACT(ROWS_GRANT_PRIVILEGES)) {
		set_add(&pf->sets[K_ROLE], row->role);
		set_add(&pf->sets[K_PRIVS], row->privileges);
	}
}

int preflight_collect(struct preflight **out, const struct job *job,
		      size_t skip_rows, struct err *e)
{
	struct preflight *pf = xcalloc(1, sizeof(*pf));
	const char *defs[K_COUNT] = {
	    [K_PROFILE] = job->defaults.profile,
	    [K_ROLE] = job->defaults.role,
	    [K_PRIVS] = job->defaults.privileges,
	};
	struct rows *r = NULL;
	struct row *row;
	int rc = -1;

	*out = NULL;
	/*
	 * a profile or role default is looked up when a row uses it (it is
	 * then the row's value); templates cost nothing: checked always
	 */
	for (int k = 0; k < K_COUNT; k++)
		if (defs[k] && *defs[k])
			pf->def[k] = xstrdup(defs[k]);
	if (pf->def[K_PRIVS])
		set_add(&pf->sets[K_PRIVS], pf->def[K_PRIVS]);
	if (rows_open_encoding(&r, job->input, &job->defaults,
			       job->input_encoding, e) < 0)
		goto out;
	for (;;) {
		if (rows_next(r, &row, e) < 0)
			goto out;
		if (!row)
			break;
		if (row->valid && row->num > skip_rows)
			add_row(pf, row);
		rows_row_free(row);
	}
	rc = 0;
out:
	rows_free(r);
	if (rc < 0)
		preflight_free(pf);
	else
		*out = pf;
	return rc;
}

size_t preflight_names(const struct preflight *pf)
{
	size_t n = 0;

	for (int k = 0; k < K_COUNT; k++)
		n += pf->sets[k].n;
	return n;
}

void preflight_free(struct preflight *pf)
{
	if (!pf)
		return;
	for (int k = 0; k < K_COUNT; k++) {
		struct set *s = &pf->sets[k];

		for (size_t i = 0; i < s->n; i++) {
			free(s->v[i].name);
			free(s->v[i].message);
		}
		free(s->v);
		free(s->idx);
		free(pf->def[k]);
	}
	for (size_t i = 0; i < pf->ngroups; i++) {
		free(pf->groups[i].url);
		free(pf->groups[i].at);
	}
	free(pf->groups);
	free(pf);
}

/* A default that failed: the job file's error, exit 2. */
static int default_failed(const struct preflight *pf, const struct job *job,
			  enum kind k, struct err *e)
{
	const struct entry *en;
	int line;

	if (!pf->def[k] || !(en = lookup(pf, k, pf->def[k])) ||
	    en->state != S_FAILED)
		return 0;
	line = job_setting_line(job, settings[k]);
	if (line > 0)
		return err_set(e, ERR_CONFIG, "%s:%d: setting '%s': %s",
			       job->path, line, settings[k], en->message);
	return err_set(e, ERR_CONFIG, "%s: setting '%s': %s", job->path,
		       settings[k], en->message);
}

/* Templates. */
int preflight_templates(struct preflight *pf, const struct job *job,
			struct err *e)
{
	struct set *s = &pf->sets[K_PRIVS];
	struct privs_dirs dirs;

	privs_dirs_for_job(&dirs, job->path, job->templates,
			   getenv("MBXFIX_TEMPLATES"));
	for (size_t i = 0; i < s->n; i++) {
		struct privs_list l = PRIVS_LIST_INIT;
		struct err e2 = ERR_INIT;

		if (privs_resolve_in(&l, s->v[i].name, &dirs, &e2) < 0)
			fail_entry(&s->v[i], K_PRIVS, "InvalidPrivileges",
				   e2.msg);
		else
			s->v[i].state = S_OK;
		privs_list_release(&l);
	}
	privs_dirs_release(&dirs);
	return default_failed(pf, job, K_PRIVS, e);
}

/* Rows. */
bool preflight_row(const struct preflight *pf, const struct row *row,
		   struct preflight_failure *f)
{
	static const struct {
		enum kind k;
		enum rows_action a;
	} order[] = {
	    {K_OWNER, ROWS_FIX_OWNER},
	    {K_PROFILE, ROWS_SET_PROFILE},
	    {K_ROLE, ROWS_GRANT_PRIVILEGES},
	    {K_PRIVS, ROWS_GRANT_PRIVILEGES},
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		const char *name;
		const struct entry *en;

		if (!(row->actions & ROWS_ACT(order[i].a)))
			continue;
		if (order[i].k == K_PROFILE &&
		    (row->actions & ROWS_ACT_APPLY_DEFAULTS))
			continue; /* the organisation's default */
		name = order[i].k == K_OWNER	 ? row->owner
		       : order[i].k == K_PROFILE ? row->profile
		       : order[i].k == K_ROLE	 ? row->role
						 : row->privileges;
		en = *name ? lookup(pf, order[i].k, name) : NULL;
		if (!en || en->state != S_FAILED)
			continue;
		f->action = order[i].a;
		f->code = en->code;
		f->message = en->message;
		f->hint = en->hint;
		return true;
	}
	return false;
}

/* Suggestions. */
static void lower_trim(const char *s, char *out, size_t cap)
{
	size_t n = 0, len;

	while (*s && isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	for (size_t i = 0; i < len && n + 1 < cap; i++)
		out[n++] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
}

#define NAME_CAP 256

size_t preflight_distance(const char *a, const char *b, size_t max)
{
	char x[NAME_CAP], y[NAME_CAP];
	size_t row[NAME_CAP + 1];
	size_t la, lb;

	lower_trim(a, x, sizeof(x));
	lower_trim(b, y, sizeof(y));
	la = strlen(x);
	lb = strlen(y);
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], best;

		row[0] = i;
		best = row[0];
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t v = diag + (x[i - 1] != y[j - 1]);

			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			diag = up;
			row[j] = v;
			if (v < best)
				best = v;
		}
		if (best > max)
			return max + 1;
	}
	return row[lb] > max ? max + 1 : row[lb];
}

void preflight_suggest(struct buf *out, const char *want,
		       const char *const *names, size_t n)
{
	size_t len = strlen(want), max = len / 3;
	struct {
		const char *name;
		size_t d;
	} best[PREFLIGHT_SUGGEST];
	size_t nb = 0;

	if (max < 1)
		max = 1;
	for (size_t i = 0; i < n; i++) {
		size_t d = preflight_distance(want, names[i], max), at;
		bool dup = false;

		if (d > max)
			continue;
		for (size_t k = 0; k < nb && !dup; k++)
			dup = !strcmp(best[k].name, names[i]);
		if (dup)
			continue;
		/* keep the closest, the first seen among equals */
		for (at = nb; at > 0 && best[at - 1].d > d; at--)
			;
		if (at >= PREFLIGHT_SUGGEST)
			continue;
		if (nb < PREFLIGHT_SUGGEST)
			nb++;
		memmove(&best[at + 1], &best[at],
			(nb - 1 - at) * sizeof(best[0]));
		best[at].name = names[i];
		best[at].d = d;
	}
	if (!nb)
		return;
	buf_addstr(out, " (did you mean ");
	for (size_t k = 0; k < nb; k++)
		buf_addf(out, "%s'%s'", k ? ", " : "", best[k].name);
	buf_addstr(out, "?)");
}

/* Resolve. */
/* the columns the actions read: their answers are seeded from these */
#define PROFILE_COLS ACTU_PROFILE_SELECT
#define ROLE_COLS ACTU_ROLE_SELECT
#define USER_COLS ACTU_USER_SELECT

static void add_group(struct preflight *pf, enum kind k, bool ids,
		      const size_t *at, size_t n)
{
	static const char *const sets[K_COUNT] = {
	    [K_OWNER] = "systemusers",
	    [K_PROFILE] = "emailserverprofiles",
	    [K_ROLE] = "roles",
	};
	static const char *const cols[K_COUNT] = {
	    [K_OWNER] = USER_COLS,
	    [K_PROFILE] = PROFILE_COLS,
	    [K_ROLE] = ROLE_COLS,
	};
	static const char *const idprop[K_COUNT] = {
	    [K_OWNER] = "systemuserid",
	    [K_PROFILE] = "emailserverprofileid",
	    [K_ROLE] = "roleid",
	};
	struct buf expr = BUF_INIT(BUF_MAX_BODY), url = BUF_INIT(BUF_MAX_BODY);
	const char **v = xcalloc(n, sizeof(*v));
	struct err e = ERR_INIT;
	struct group *g;
	int rc;

	for (size_t i = 0; i < n; i++)
		v[i] = pf->sets[k].v[at[i]].name;
	if (ids) {
		rc = odata_in_filter(&expr, idprop[k], v, n, &e);
	} else if (k == K_OWNER) {
		/* a UPN or a primary email, whichever the admin wrote */
		rc = odata_in_filter(&expr, "domainname", v, n, &e);
		if (!rc && buf_addstr(&expr, " or ") < 0)
			rc = -1;
		if (!rc)
			rc = odata_in_filter(&expr, "internalemailaddress", v,
					     n, &e);
	} else {
		rc = odata_in_filter(&expr, "name", v, n, &e);
	}
	if (!rc)
		rc = actu_query(&url, sets[k], cols[k], expr.ptr);
	free(v);
	buf_release(&expr);
	if (rc < 0) {
		/* too long to ask in one: the actions ask name by name */
		for (size_t i = 0; i < n; i++)
			pf->sets[k].v[at[i]].state = S_UNDECIDED;
		buf_release(&url);
		return;
	}
	pf->groups =
	    xrealloc(pf->groups, (pf->ngroups + 1) * sizeof(*pf->groups));
	g = &pf->groups[pf->ngroups++];
	g->kind = k;
	g->ids = ids;
	g->url = buf_detach(&url, NULL);
	g->at = xmalloc(n * sizeof(*g->at));
	memcpy(g->at, at, n * sizeof(*g->at));
	g->n = n;
}

static void make_groups(struct preflight *pf)
{
	static const enum kind remote[] = {K_OWNER, K_PROFILE, K_ROLE};
	size_t at[PREFLIGHT_GROUP];

	for (size_t r = 0; r < ARRAY_SIZE(remote); r++) {
		const struct set *s = &pf->sets[remote[r]];

		for (int ids = 0; ids <= 1; ids++) {
			size_t n = 0;

			for (size_t i = 0; i < s->n; i++) {
				if (odata_is_guid(s->v[i].name) != (bool)ids)
					continue;
				at[n++] = i;
				if (n == PREFLIGHT_GROUP) {
					add_group(pf, remote[r], ids, at, n);
					n = 0;
				}
			}
			if (n)
				add_group(pf, remote[r], ids, at, n);
		}
	}
}

static bool str_ieq(const char *a, const char *b)
{
	return a && b && !strcasecmp(a, b);
}

static bool is_root_role(const cJSON *it)
{
	const char *root = actu_str(it, "_parentrootroleid_value");

	return !root || actu_guid_eq(root, actu_str(it, "roleid"));
}

/*
 * Whether answer row 'it' is one the action's own lookup of 'name' would
 * get (act_util.h): the same column, compared as Dataverse compares.
 */
static bool eq_match(const cJSON *it, enum kind k, bool ids, const char *name)
{
	if (k == K_PROFILE)
		return ids ? actu_guid_eq(actu_str(it, "emailserverprofileid"),
					  name)
			   : str_ieq(actu_str(it, "name"), name);
	if (k == K_ROLE)
		return ids ? actu_guid_eq(actu_str(it, "roleid"), name)
			   : str_ieq(actu_str(it, "name"), name);
	return ids ? actu_guid_eq(actu_str(it, "systemuserid"), name)
		   : str_ieq(actu_str(it, "domainname"), name) ||
			 str_ieq(actu_str(it, "internalemailaddress"), name);
}

/* The action's lookup of 'name', answered from the batched one. */
static void seed(struct engine *en, enum kind k, bool ids, const char *name,
		 const cJSON *value)
{
	struct buf url = BUF_INIT(BUF_MAX_SMALL);
	cJSON *json, *arr;
	const cJSON *it;
	int rc = k == K_PROFILE ? actu_profile_url(&url, name)
		 : k == K_ROLE	? actu_role_url(&url, name)
				: actu_user_url(&url, name);

	if (rc < 0) {
		buf_release(&url);
		return;
	}
	json = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(json, "value");
	cJSON_ArrayForEach(it, value)
	{
		if (eq_match(it, k, ids, name))
			cJSON_AddItemToArray(arr, cJSON_Duplicate(it, true));
	}
	engine_seed(en, url.ptr, json);
	buf_release(&url);
}

/* Decide one name from the answer rows of its lookup. */
static void decide(struct entry *en, enum kind k, bool ids, const cJSON *value)
{
	const cJSON *it, *first = NULL;
	int n = 0;
	char msg[768];

	cJSON_ArrayForEach(it, value)
	{
		/* by name, only the root business unit's role counts */
		if (!eq_match(it, k, ids, en->name) ||
		    (k == K_ROLE && !ids && !is_root_role(it)))
			continue;
		/* a user matching on both columns is one user */
		if (first && k == K_OWNER &&
		    actu_guid_eq(actu_str(first, "systemuserid"),
				 actu_str(it, "systemuserid")))
			continue;
		if (!first)
			first = it;
		n++;
	}
	if (!n) {
		en->state = S_UNKNOWN;
		return;
	}
	en->state = S_OK;
	if (n > 1 && k == K_PROFILE) {
		snprintf(msg, sizeof(msg),
			 "%d email server profiles are named '%s'", n,
			 en->name);
		fail_entry(en, k, "AmbiguousProfile", msg);
		en->hint = "name the profile by its id (emailserverprofileid) "
			   "instead";
	} else if (n > 1 && k == K_ROLE) {
		snprintf(msg, sizeof(msg),
			 "%d security roles named '%s' are not business unit "
			 "copies of one role",
			 n, en->name);
		fail_entry(en, k, "AmbiguousRole", msg);
		en->hint = "name the role of the root business unit by its "
			   "roleid instead";
	} else if (n > 1) {
		snprintf(msg, sizeof(msg), "%d users match '%s'", n, en->name);
		fail_entry(en, k, "AmbiguousUser", msg);
		en->hint = "name the owner by its systemuserid instead";
	} else if (k == K_PROFILE && actu_int(first, "statecode", 0) != 0) {
		snprintf(msg, sizeof(msg),
			 "email server profile '%s' is inactive", en->name);
		fail_entry(en, k, "InactiveProfile", msg);
		en->hint = "activate the profile in Dynamics 365 or name an "
			   "active one";
	}
}

/* The names that exist, for "did you mean". */
static const char *const list_urls[K_COUNT] = {
    [K_OWNER] = "systemusers?$select=domainname,internalemailaddress"
		"&$top=5000",
    [K_PROFILE] = "emailserverprofiles?$select=name",
    [K_ROLE] = "roles?$select=name",
};

static void fail_unknown(struct preflight *pf, enum kind k, const cJSON *list)
{
	static const char *const what[K_COUNT] = {
	    [K_OWNER] = "no user",
	    [K_PROFILE] = "no email server profile",
	    [K_ROLE] = "no security role",
	};
	static const char *const codes[K_COUNT] = {
	    [K_OWNER] = "UnknownUser",
	    [K_PROFILE] = "UnknownProfile",
	    [K_ROLE] = "UnknownRole",
	};
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(list, "value");
	const char **names = NULL;
	size_t n = 0, given = 0;
	const cJSON *it;
	struct set *s = &pf->sets[k];

	if (cJSON_IsArray(value)) {
		names = xcalloc((size_t)cJSON_GetArraySize(value) * 2 + 1,
				sizeof(*names));
		cJSON_ArrayForEach(it, value)
		{
			const char *a =
			    actu_str(it, k == K_OWNER ? "domainname" : "name");
			const char *b =
			    k == K_OWNER ? actu_str(it, "internalemailaddress")
					 : NULL;

			if (a && *a)
				names[n++] = a;
			if (b && *b && !str_ieq(a, b))
				names[n++] = b;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		struct buf msg = BUF_INIT(BUF_MAX_SMALL);

		if (s->v[i].state != S_UNKNOWN)
			continue;
		buf_addf(&msg, "%s '%s'", what[k], s->v[i].name);
		if (given++ < PREFLIGHT_SUGGEST_FOR)
			preflight_suggest(&msg, s->v[i].name, names, n);
		fail_entry(&s->v[i], k, codes[k], msg.ptr);
		buf_release(&msg);
	}
	free(names);
}

int preflight_resolve(struct preflight *pf, struct engine *en,
		      const struct job *job, struct err *e)
{
	char **urls;
	char *lists[K_COUNT];
	size_t nl = 0;
	bool unknown[K_COUNT] = {false};
	int rc;

	make_groups(pf);
	urls = xcalloc(pf->ngroups + 1, sizeof(*urls));
	for (size_t i = 0; i < pf->ngroups; i++)
		urls[i] = pf->groups[i].url;
	rc = engine_prefetch(en, urls, pf->ngroups, e);
	free(urls);
	if (rc < 0)
		return -1;
	for (size_t i = 0; i < pf->ngroups; i++) {
		const struct group *g = &pf->groups[i];
		const cJSON *json = engine_cached(en, g->url, NULL);
		const cJSON *value =
		    cJSON_GetObjectItemCaseSensitive(json, "value");

		for (size_t j = 0; j < g->n; j++) {
			struct entry *x = &pf->sets[g->kind].v[g->at[j]];

			if (!cJSON_IsArray(value)) {
				x->state = S_UNDECIDED;
				continue;
			}
			decide(x, g->kind, g->ids, value);
			if (x->state == S_OK)
				seed(en, g->kind, g->ids, x->name, value);
			if (x->state == S_UNKNOWN)
				unknown[g->kind] = true;
		}
	}
	/* the names that exist, once per kind with unknown ones */
	for (int k = 0; k < K_COUNT; k++)
		if (unknown[k])
			lists[nl++] = (char *)list_urls[k];
	if (nl && engine_prefetch(en, lists, nl, e) < 0)
		return -1;
	for (int k = 0; k < K_COUNT; k++)
		if (unknown[k])
			fail_unknown(pf, (enum kind)k,
				     engine_cached(en, list_urls[k], NULL));
	if (default_failed(pf, job, K_PROFILE, e) < 0 ||
	    default_failed(pf, job, K_ROLE, e) < 0)
		return -1;
	return 0;
}
