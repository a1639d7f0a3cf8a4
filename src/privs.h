/*
 * privs.h: privilege lists for grant_privileges.
 *
 * A row's `privileges` column is either the name of a template under
 * templates/privileges/ (libconfig, see server-side-sync.cfg) or an inline
 * list "prvName[:depth];prvOther[:depth]". Either way it becomes a
 * struct privs_list of names and wanted depths.
 *
 * Granting then works in three pure steps, each fed with what Dataverse
 * answered:
 *   1. privs_catalog_parse(): the `privileges` query (ids, canbe* flags);
 *   2. privs_held_parse(): RetrieveRolePrivilegesRole's answer for the role;
 *   3. privs_plan(): raise each wanted depth to one the privilege allows,
 *      drop what the role already holds at that depth or more, and
 *      privs_body() writes the AddPrivilegesRole body for the rest.
 */
#ifndef MBXFIX_PRIVS_H
#define MBXFIX_PRIVS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"

/* PrivilegeDepth (docs/fidelity.md): the values AddPrivilegesRole takes. */
enum privs_depth {
	PRIVS_BASIC = 0,
	PRIVS_LOCAL = 1,
	PRIVS_DEEP = 2,
	PRIVS_GLOBAL = 3,
};

/* privilegedepthmask bits (docs/fidelity.md): 1 << enum privs_depth. */
#define PRIVS_MASK_BASIC 1u
#define PRIVS_MASK_LOCAL 2u
#define PRIVS_MASK_DEEP 4u
#define PRIVS_MASK_GLOBAL 8u
#define PRIVS_MASK_ALL 15u

/* Privilege names are short ("prvReadEmailServerProfile"); ids are GUIDs. */
#define PRIVS_NAME_MAX 128
#define PRIVS_ID_MAX 40

struct privs_item {
	char name[PRIVS_NAME_MAX];
	char id[PRIVS_ID_MAX]; /* "" when not known */
	int depth;	       /* enum privs_depth */
	unsigned mask;	       /* depths the privilege allows; 0 unknown */
};

struct privs_list {
	struct privs_item *v;
	size_t n, alloc;
};

#define PRIVS_LIST_INIT                                                        \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

void privs_list_init(struct privs_list *l);
void privs_list_release(struct privs_list *l);

/*
 * Add 'name' at 'depth'; a name already present (case-insensitively)
 * keeps the deeper of the two depths. 'id' may be NULL. Returns the item
 * (valid until the list changes), or NULL when 'name' is too long or not
 * a privilege name (letters, digits, '_', '.', '-').
 */
struct privs_item *privs_list_add(struct privs_list *l, const char *name,
				  const char *id, int depth, unsigned mask);

/* Case-insensitive lookups; NULL when absent. */
const struct privs_item *privs_list_find(const struct privs_list *l,
					 const char *name);
const struct privs_item *privs_list_find_id(const struct privs_list *l,
					    const char *id);

/*
 * Depth names: Basic/User, Local/BusinessUnit, Deep/ParentChild,
 * Global/Organization (any case) or "0".."3". Returns 0 and sets '*out',
 * or -1 when 's' is none of them.
 */
int privs_depth_parse(const char *s, int *out);

/* "Basic", "Local", "Deep", "Global". */
const char *privs_depth_name(int depth);

/*
 * The depth to grant when 'want' is asked and the privilege allows the
 * depths in 'mask': 'want' itself if allowed, else the nearest deeper
 * allowed one, else (nothing deeper is allowed) the deepest allowed one.
 * -1 when 'mask' allows nothing.
 */
int privs_fit_depth(int want, unsigned mask);

/*
 * Parse an inline list "prvA;prvB:Global;prvC:basic" (spaces around items
 * ignored; depth defaults to 'def_depth'). -1 with 'e' naming the item
 * when an item is malformed or the list is empty.
 */
int privs_parse_inline(struct privs_list *out, const char *spec, int def_depth,
		       struct err *e);

/*
 * Load a template file: a libconfig list `privileges = ( { name = "...";
 * depth = "Global"; }, ... );`. Errors name the file, the line and the
 * setting.
 */
int privs_template_load(struct privs_list *out, const char *path,
			struct err *e);

/*
 * True when 'spec' names a template (letters, digits, '-', '_' only and
 * not starting with "prv"); false when it is an inline list.
 */
bool privs_is_template_name(const char *spec);

/* The same from the text of a template; 'origin' names it in messages. */
int privs_template_parse(struct privs_list *out, const char *text,
			 const char *origin, struct err *e);

/*
 * The default template, templates/privileges/server-side-sync.cfg, is
 * compiled in (the Makefile generates privs_builtin_server_side_sync from
 * the file), so a job finds it wherever it runs from. A file of the same
 * name in a template folder is used instead.
 */
#define PRIVS_BUILTIN_NAME "server-side-sync"
extern const char privs_builtin_server_side_sync[];

/* Installed templates: MBXFIX_DATADIR/templates/privileges. */
#ifndef MBXFIX_DATADIR
#define MBXFIX_DATADIR "/usr/local/share/mbxfix"
#endif
#define PRIVS_SUBDIR "templates/privileges"
#define PRIVS_MAX_DIRS 8

/* The folders searched for NAME.cfg, in order. */
struct privs_dirs {
	char *v[PRIVS_MAX_DIRS];
	size_t n;
};

/*
 * The template folders of a job, in the order searched (none depends on
 * the current directory, so a job runs the same from cron):
 *   1. 'setting', the job's 'templates' (already made relative to the
 *      job file's folder), when set;
 *   2. 'env', the value of $MBXFIX_TEMPLATES (the caller reads it), when
 *      set;
 *   3. JOBDIR/templates/privileges, beside the job file;
 *   4. JOBDIR/../templates/privileges (a job in jobs/ of a checkout);
 *   5. MBXFIX_DATADIR/templates/privileges (make install);
 * and the built-in server-side-sync after all of them. 'job_path' may be
 * NULL (then 3 and 4 are left out). Release with privs_dirs_release().
 */
void privs_dirs_for_job(struct privs_dirs *d, const char *job_path,
			const char *setting, const char *env);
void privs_dirs_release(struct privs_dirs *d);

/*
 * Either: load the template 'spec' from the first folder of 'd' holding
 * spec.cfg (the built-in one for server-side-sync when none does), or
 * parse 'spec' as an inline list with Basic as the default depth. An
 * unknown template's message names every folder searched.
 */
int privs_resolve_in(struct privs_list *out, const char *spec,
		     const struct privs_dirs *d, struct err *e);

/* privs_resolve_in() with one folder. */
int privs_resolve(struct privs_list *out, const char *spec, const char *dir,
		  struct err *e);

/*
 * Parse the answer of GET privileges?$select=privilegeid,name,canbebasic,
 * canbelocal,canbedeep,canbeglobal: each row becomes an item with its id
 * and mask (depth Basic). -1 when the JSON is not such an answer.
 */
int privs_catalog_parse(struct privs_list *out, const char *json,
			struct err *e);

/*
 * Parse RetrieveRolePrivilegesRole's answer {"RolePrivileges":[{"Depth":
 * "Global","PrivilegeId":"...","PrivilegeName":"..."}]}. Depth may be the
 * member name or its number (as a string or a number). A privilege held
 * at RecordFilter (4) is left out: it satisfies no Basic..Global depth.
 */
int privs_held_parse(struct privs_list *out, const char *json, struct err *e);

/* The same two, from an answer already parsed. */
int privs_catalog_from_json(struct privs_list *out, const cJSON *root,
			    struct err *e);
int privs_held_from_json(struct privs_list *out, const cJSON *root,
			 struct err *e);

/*
 * Decide what to send. For each item of 'want': find it in 'catalog'
 * (unknown names fail the plan: -1, 'e' names them all), fit its depth to
 * the catalog's mask (a note "prvX: Basic not allowed, granted at Global"
 * is appended to 'notes', items separated by "; "), and add it to 'send'
 * with its id unless 'held' already holds it at that depth or deeper.
 */
int privs_plan(const struct privs_list *want, const struct privs_list *catalog,
	       const struct privs_list *held, struct privs_list *send,
	       struct buf *notes, struct err *e);

/*
 * The AddPrivilegesRole body for 'send' (docs/fidelity.md):
 * {"Privileges":[{"PrivilegeId":"...","BusinessUnitId":"...",
 * "Depth":"Global"},...]}. Items without an id are a bug.
 */
int privs_body(const struct privs_list *send, const char *business_unit_id,
	       struct buf *out);

#endif
