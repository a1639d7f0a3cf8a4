#include "compat.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "privs.h"

#include "banned.h"

void privs_list_init(struct privs_list *l)
{
	l->v = NULL;
	l->n = 0;
	l->alloc = 0;
}

void privs_list_release(struct privs_list *l)
{
	free(l->v);
	privs_list_init(l);
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return false;
	return true;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

const struct privs_item *privs_list_find(const struct privs_list *l,
					 const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

const struct privs_item *privs_list_find_id(const struct privs_list *l,
					    const char *id)
{
	if (!id || !*id)
		return NULL;
	for (size_t i = 0; i < l->n; i++)
		if (!strcasecmp(l->v[i].id, id))
			return &l->v[i];
	return NULL;
}

struct privs_item *privs_list_add(struct privs_list *l, const char *name,
				  const char *id, int depth, unsigned mask)
{
	struct privs_item *it;

	if (strlen(name) >= PRIVS_NAME_MAX || !valid_name(name))
		return NULL;
	if (id && strlen(id) >= PRIVS_ID_MAX)
		return NULL;
	it = (struct privs_item *)privs_list_find(l, name);
	if (it) {
		if (depth > it->depth)
			it->depth = depth;
		if (id && *id && !*it->id)
			copy_str(it->id, sizeof(it->id), id);
		it->mask |= mask;
		return it;
	}
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 32;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	it = &l->v[l->n++];
	copy_str(it->name, sizeof(it->name), name);
	copy_str(it->id, sizeof(it->id), id);
	it->depth = depth;
	it->mask = mask;
	return it;
}

static const struct {
	const char *name;
	int depth;
} depth_names[] = {
    {"basic", PRIVS_BASIC},	    {"user", PRIVS_BASIC},
    {"local", PRIVS_LOCAL},	    {"businessunit", PRIVS_LOCAL},
    {"deep", PRIVS_DEEP},	    {"parentchild", PRIVS_DEEP},
    {"global", PRIVS_GLOBAL},	    {"organization", PRIVS_GLOBAL},
    {"organisation", PRIVS_GLOBAL},
};

int privs_depth_parse(const char *s, int *out)
{
	if (s[0] >= '0' && s[0] <= '3' && !s[1]) {
		*out = s[0] - '0';
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(depth_names); i++)
		if (!strcasecmp(s, depth_names[i].name)) {
			*out = depth_names[i].depth;
			return 0;
		}
	return -1;
}

const char *privs_depth_name(int depth)
{
	static const char *const names[] = {"Basic", "Local", "Deep", "Global"};

	if (depth >= 0 && depth < (int)ARRAY_SIZE(names))
		return names[depth];
	BUG("privilege depth %d", depth);
}

int privs_fit_depth(int want, unsigned mask)
{
	for (int d = want; d <= PRIVS_GLOBAL; d++)
		if (mask & (1u << d))
			return d;
	for (int d = want - 1; d >= PRIVS_BASIC; d--)
		if (mask & (1u << d))
			return d;
	return -1;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int privs_parse_inline(struct privs_list *out, const char *spec, int def_depth,
		       struct err *e)
{
	char *copy = xstrdup(spec), *p = copy, *item;
	int rc = -1;
	size_t added = 0;

	while ((item = strsep(&p, ";")) != NULL) {
		char *colon, *name;
		int depth = def_depth;

		item = trim(item);
		if (!*item)
			continue;
		colon = strchr(item, ':');
		if (colon) {
			char *d;

			*colon = '\0';
			d = trim(colon + 1);
			if (privs_depth_parse(d, &depth) < 0) {
				err_set(e, ERR_INPUT,
					"privilege '%s': unknown depth '%s' "
					"(Basic, Local, Deep or Global)",
					trim(item), d);
				goto out;
			}
		}
		name = trim(item);
		if (!privs_list_add(out, name, NULL, depth, 0)) {
			err_set(e, ERR_INPUT, "'%s' is not a privilege name",
				name);
			goto out;
		}
		added++;
	}
	if (!added) {
		err_set(e, ERR_INPUT, "empty privilege list");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* The list of a template read into 'cfg'; 'path' names it in messages. */
static int from_config(struct privs_list *out, config_t *cfg, const char *path,
		       struct err *e)
{
	config_setting_t *list;
	int rc = -1, n;

	list = config_lookup(cfg, "privileges");
	if (!list || !config_setting_is_list(list)) {
		err_set(e, ERR_INPUT,
			"%s:%d: setting 'privileges': missing or not a list "
			"( { name = \"prv...\"; depth = \"Global\"; }, ... )",
			path, list ? config_setting_source_line(list) : 1);
		goto out;
	}
	n = config_setting_length(list);
	if (n == 0) {
		err_set(e, ERR_INPUT, "%s:%d: setting 'privileges': empty",
			path, config_setting_source_line(list));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *it = config_setting_get_elem(list, i);
		const char *name = NULL, *depth_s = NULL;
		int depth = PRIVS_BASIC;
		int line = config_setting_source_line(it);

		if (!config_setting_is_group(it) ||
		    !config_setting_lookup_string(it, "name", &name)) {
			err_set(e, ERR_INPUT,
				"%s:%d: setting 'privileges.[%d].name': "
				"missing or not a string",
				path, line, i);
			goto out;
		}
		if (config_setting_lookup_string(it, "depth", &depth_s) &&
		    privs_depth_parse(depth_s, &depth) < 0) {
			err_set(e, ERR_INPUT,
				"%s:%d: setting 'privileges.[%d].depth': "
				"unknown depth '%s' (Basic, Local, Deep or "
				"Global)",
				path, line, i, depth_s);
			goto out;
		}
		if (!privs_list_add(out, name, NULL, depth, 0)) {
			err_set(e, ERR_INPUT,
				"%s:%d: setting 'privileges.[%d].name': '%s' "
				"is not a privilege name",
				path, line, i, name);
			goto out;
		}
	}
	rc = 0;
out:
	return rc;
}

int privs_template_load(struct privs_list *out, const char *path, struct err *e)
{
	config_t cfg;
	int rc = -1;

	config_init(&cfg);
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			err_set_errno(e, ERR_INPUT,
				      "cannot read privilege template '%s'",
				      path);
		else
			err_set(e, ERR_INPUT, "%s:%d: %s", path,
				config_error_line(&cfg),
				config_error_text(&cfg));
	} else {
		rc = from_config(out, &cfg, path, e);
	}
	config_destroy(&cfg);
	return rc;
}

int privs_template_parse(struct privs_list *out, const char *text,
			 const char *origin, struct err *e)
{
	config_t cfg;
	int rc = -1;

	config_init(&cfg);
	if (config_read_string(&cfg, text) != CONFIG_TRUE)
		err_set(e, ERR_INPUT, "%s:%d: %s", origin,
			config_error_line(&cfg), config_error_text(&cfg));
	else
		rc = from_config(out, &cfg, origin, e);
	config_destroy(&cfg);
	return rc;
}

bool privs_is_template_name(const char *spec)
{
	if (!*spec || !strncasecmp(spec, "prv", 3))
		return false;
	for (const char *s = spec; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
			return false;
	return true;
}

int privs_resolve(struct privs_list *out, const char *spec, const char *dir,
		  struct err *e)
{
	struct privs_dirs d = {.n = 1};

	d.v[0] = (char *)dir;
	return privs_resolve_in(out, spec, &d, e);
}

void privs_dirs_for_job(struct privs_dirs *d, const char *job_path,
			const char *setting, const char *env)
{
	const char *slash = job_path ? strrchr(job_path, '/') : NULL;
	struct buf b = BUF_INIT(4096);
	int jl = slash ? (int)(slash - job_path) : 1;
	const char *jd = slash ? job_path : ".";

	memset(d, 0, sizeof(*d));
	if (setting && *setting)
		d->v[d->n++] = xstrdup(setting);
	if (env && *env)
		d->v[d->n++] = xstrdup(env);
	if (job_path) {
		if (slash == job_path) /* a job file in / */
			jl = 0;
		buf_addf(&b, "%.*s/" PRIVS_SUBDIR, jl, jd);
		d->v[d->n++] = buf_detach(&b, NULL);
		buf_addf(&b, "%.*s/../" PRIVS_SUBDIR, jl, jd);
		d->v[d->n++] = buf_detach(&b, NULL);
	}
	d->v[d->n++] = xstrdup(MBXFIX_DATADIR "/" PRIVS_SUBDIR);
	buf_release(&b);
}

void privs_dirs_release(struct privs_dirs *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	memset(d, 0, sizeof(*d));
}

int privs_resolve_in(struct privs_list *out, const char *spec,
		     const struct privs_dirs *d, struct err *e)
{
	struct buf path = BUF_INIT(4096), looked = BUF_INIT(4096);
	struct stat st;
	int rc = -1;

	if (!privs_is_template_name(spec))
		return privs_parse_inline(out, spec, PRIVS_BASIC, e);
	for (size_t i = 0; i < d->n; i++) {
		buf_reset(&path);
		if (buf_addf(&path, "%s/%s.cfg", d->v[i], spec) < 0) {
			err_set(e, ERR_INPUT,
				"privilege template path too long");
			goto out;
		}
		/* the first folder that has it; a bad file there is an error */
		if (stat(path.ptr, &st) == 0) {
			rc = privs_template_load(out, path.ptr, e);
			goto out;
		}
		buf_addf(&looked, "%s%s", looked.len ? ", " : "", d->v[i]);
	}
	if (!strcmp(spec, PRIVS_BUILTIN_NAME)) {
		rc = privs_template_parse(
		    out, privs_builtin_server_side_sync,
		    "(built-in) " PRIVS_BUILTIN_NAME ".cfg", e);
		goto out;
	}
	err_set(e, ERR_INPUT,
		"no privilege template '%s' (looked for %s.cfg in: %s)", spec,
		spec, looked.len ? looked.ptr : "no folder");
out:
	buf_release(&path);
	buf_release(&looked);
	return rc;
}

static bool json_true(const cJSON *o, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

static const cJSON *array_of(const cJSON *root, const char *member,
			     struct err *e)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, member);

	if (!cJSON_IsArray(arr)) {
		err_set(e, ERR_PROTOCOL, "answer has no '%s' array", member);
		return NULL;
	}
	return arr;
}

int privs_catalog_from_json(struct privs_list *out, const cJSON *root,
			    struct err *e)
{
	const cJSON *arr = array_of(root, "value", e), *row;

	if (!arr)
		return -1;
	cJSON_ArrayForEach(row, arr)
	{
		const char *name = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(row, "name"));
		const char *id = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(row, "privilegeid"));
		unsigned mask = 0;

		if (!name || !id)
			return err_set(e, ERR_PROTOCOL,
				       "privilege without name or privilegeid");
		if (json_true(row, "canbebasic"))
			mask |= PRIVS_MASK_BASIC;
		if (json_true(row, "canbelocal"))
			mask |= PRIVS_MASK_LOCAL;
		if (json_true(row, "canbedeep"))
			mask |= PRIVS_MASK_DEEP;
		if (json_true(row, "canbeglobal"))
			mask |= PRIVS_MASK_GLOBAL;
		if (!privs_list_add(out, name, id, PRIVS_BASIC, mask))
			return err_set(e, ERR_PROTOCOL,
				       "bad privilege name '%s'", name);
	}
	return 0;
}

int privs_held_from_json(struct privs_list *out, const cJSON *root,
			 struct err *e)
{
	const cJSON *arr = array_of(root, "RolePrivileges", e), *row;

	if (!arr)
		return -1;
	cJSON_ArrayForEach(row, arr)
	{
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(row, "Depth");
		const char *id = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(row, "PrivilegeId"));
		const char *name = cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(row, "PrivilegeName"));
		int depth;

		/*
		 * PrivilegeDepth 4, RecordFilter: the privilege on the
		 * records a filter selects, which satisfies no Basic..Global
		 * depth asked for: as if not held (docs/fidelity.md).
		 */
		if ((cJSON_IsNumber(d) && d->valueint == 4) ||
		    (cJSON_IsString(d) &&
		     (!strcasecmp(d->valuestring, "RecordFilter") ||
		      !strcmp(d->valuestring, "4"))))
			continue;
		if (cJSON_IsNumber(d) && d->valueint >= 0 && d->valueint <= 3)
			depth = d->valueint;
		else if (!cJSON_IsString(d) ||
			 privs_depth_parse(d->valuestring, &depth) < 0)
			return err_set(e, ERR_PROTOCOL,
				       "role privilege without a valid Depth");
		if (!id)
			return err_set(e, ERR_PROTOCOL,
				       "role privilege without PrivilegeId");
		/* The name is optional in the answer; the id identifies it. */
		if (!privs_list_add(out, name && *name ? name : id, id, depth,
				    0))
			return err_set(e, ERR_PROTOCOL,
				       "bad role privilege '%s'", id);
	}
	return 0;
}

static int parse_with(struct privs_list *out, const char *json,
		      int (*fn)(struct privs_list *, const cJSON *,
				struct err *),
		      struct err *e)
{
	cJSON *root = cJSON_Parse(json);
	int rc;

	if (!root)
		return err_set(e, ERR_PROTOCOL, "answer is not JSON");
	rc = fn(out, root, e);
	cJSON_Delete(root);
	return rc;
}

int privs_catalog_parse(struct privs_list *out, const char *json, struct err *e)
{
	return parse_with(out, json, privs_catalog_from_json, e);
}

int privs_held_parse(struct privs_list *out, const char *json, struct err *e)
{
	return parse_with(out, json, privs_held_from_json, e);
}

int privs_plan(const struct privs_list *want, const struct privs_list *catalog,
	       const struct privs_list *held, struct privs_list *send,
	       struct buf *notes, struct err *e)
{
	struct buf unknown = BUF_INIT(BUF_MAX_SMALL);
	int rc = -1;

	for (size_t i = 0; i < want->n; i++) {
		const struct privs_item *w = &want->v[i], *c, *h;
		int depth;

		c = privs_list_find(catalog, w->name);
		if (!c) {
			if (unknown.len)
				buf_addstr(&unknown, ", ");
			buf_addstr(&unknown, w->name);
			continue;
		}
		depth = privs_fit_depth(w->depth, c->mask);
		if (depth < 0) {
			err_set(e, ERR_INPUT,
				"privilege '%s' allows no depth at all",
				c->name);
			goto out;
		}
		if (depth != w->depth) {
			if (notes->len)
				buf_addstr(notes, "; ");
			buf_addf(notes, "%s: %s not allowed, granted at %s",
				 c->name, privs_depth_name(w->depth),
				 privs_depth_name(depth));
		}
		h = privs_list_find_id(held, c->id);
		if (!h)
			h = privs_list_find(held, c->name);
		if (h && h->depth >= depth)
			continue;
		if (!privs_list_add(send, c->name, c->id, depth, c->mask))
			BUG("catalog name '%s' refused", c->name);
	}
	if (unknown.len) {
		err_set(e, ERR_INPUT, "unknown privilege(s): %s", unknown.ptr);
		goto out;
	}
	rc = 0;
out:
	buf_release(&unknown);
	return rc;
}

int privs_body(const struct privs_list *send, const char *business_unit_id,
	       struct buf *out)
{
	cJSON *root = cJSON_CreateObject(), *arr;
	char *s;
	int rc;

	arr = cJSON_AddArrayToObject(root, "Privileges");
	for (size_t i = 0; i < send->n; i++) {
		cJSON *p = cJSON_CreateObject();

		if (!*send->v[i].id)
			BUG("privilege '%s' has no id", send->v[i].name);
		cJSON_AddStringToObject(p, "PrivilegeId", send->v[i].id);
		if (business_unit_id && *business_unit_id)
			cJSON_AddStringToObject(p, "BusinessUnitId",
						business_unit_id);
		cJSON_AddStringToObject(p, "Depth",
					privs_depth_name(send->v[i].depth));
		cJSON_AddItemToArray(arr, p);
	}
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!s)
		BUG("out of memory printing JSON");
	else
		rc = buf_addstr(out, s);
	cJSON_free(s);
	return rc;
}
