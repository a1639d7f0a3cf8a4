/*
 * act_util.h: helpers shared by the remediation actions (action_*.c):
 * reading the JSON Dataverse answers, building lookup URLs, resolving
 * profiles, users and roles by name through the engine's cached lookups,
 * and failing a row with the hint diagnose.h gives.
 */
#ifndef MBXFIX_ACT_UTIL_H
#define MBXFIX_ACT_UTIL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "action.h"
#include "buf.h"

/*
 * `mbxfix diagnose`: a read-only run in which test_enable explains each
 * mailbox's current alerts and columns instead of asking for a test. Set
 * once by the command before the run.
 */
void actu_set_diagnose(bool on);
bool actu_diagnosing(void);

/* Member 'name' of 'o' as a string, or NULL (absent, null, not a string). */
const char *actu_str(const cJSON *o, const char *name);

/* Member 'name' of 'o' as an int, or 'def' when absent or not a number. */
int actu_int(const cJSON *o, const char *name, int def);

/* Member 'name' as a boolean; 'def' when absent or not a boolean. */
bool actu_bool(const cJSON *o, const char *name, bool def);

/*
 * An integer value for a request body: a raw cJSON item holding its
 * digits, which cJSON prints as they are. cJSON_CreateNumber() would be
 * printed through "%1.15g" and read back to check it, several thousand
 * instructions per value, for a column that only ever holds an option.
 */
cJSON *actu_json_int(int v);

/* GUIDs compare case-insensitively; NULL equals nothing. */
bool actu_guid_eq(const char *a, const char *b);

/*
 * Point the mailbox's lookup at row 'want' of entity set 'set': unchanged
 * when column 'have_col' already holds it, otherwise "'nav'@odata.bind":
 * "/set(want)" is added to the mailbox PATCH.
 */
enum action_step actu_bind(struct action_ctx *c, struct row_state *rs,
			   const char *have_col, const char *nav,
			   const char *set, const char *want);

/*
 * Append "SET?$select=SELECT&$filter=" and 'expr' percent-encoded to
 * 'url'. Returns 0, or -1 when 'url' would pass its cap.
 */
int actu_query(struct buf *url, const char *set, const char *select,
	       const char *expr);

/* Append "prop eq 'value'" (value quoted) or "prop eq <guid>" to 'expr'. */
int actu_eq(struct buf *expr, const char *prop, const char *value,
	    bool is_guid);

/*
 * The outcome of a by-name resolution: ACTU_FOUND with the row in 'row'
 * (borrowed from the engine's lookup cache), ACTU_WAIT (plan() returns
 * ACTION_WAIT), or ACTU_FAILED (action_fail() was called for the row).
 */
enum actu_res { ACTU_FOUND, ACTU_WAIT, ACTU_FAILED };

/*
 * The GET each of actu_profile(), actu_user() and actu_role() asks the
 * engine's lookup cache for a name, and the columns it selects; preflight
 * (preflight.h) reads the same columns in batches and puts each name's
 * answer in the cache under this URL, so that no name is read twice.
 * Returns 0, or -1 when the URL would pass its cap.
 */
#define ACTU_PROFILE_SELECT "emailserverprofileid,name,statecode,servertype"
#define ACTU_USER_SELECT "systemuserid,fullname,domainname,internalemailaddress"
#define ACTU_ROLE_SELECT                                                       \
	"roleid,name,_businessunitid_value,_parentrootroleid_value"
int actu_profile_url(struct buf *url, const char *name_or_id);
int actu_user_url(struct buf *url, const char *who);
int actu_role_url(struct buf *url, const char *name_or_id);

/*
 * Email server profile by name or id: an error when unknown, when a name
 * matches several profiles, or when the profile is inactive.
 */
enum actu_res actu_profile(struct action_ctx *c, struct row_state *rs,
			   const char *name_or_id, const cJSON **row);

/* User by UPN (domainname), primary email or id; unknown/ambiguous fail. */
enum actu_res actu_user(struct action_ctx *c, struct row_state *rs,
			const char *who, const cJSON **row);

/*
 * Whether 'id' (a mailbox's regarding object) is a systemuser; '*is_user'
 * is set on ACTU_FOUND ('row' not used). Uses the mailbox's lookup
 * annotation when the read carried it.
 */
enum actu_res actu_regarding_is_user(struct action_ctx *c, struct row_state *rs,
				     bool *is_user);

/*
 * Security role by name or id, the root business unit's copy (the one
 * whose parentrootroleid is itself; child copies cannot be edited).
 */
enum actu_res actu_role(struct action_ctx *c, struct row_state *rs,
			const char *name_or_id, const cJSON **row);

/*
 * Fail the row for a write answered with an error: the answer's code and
 * message, and the hint diagnose_write_error() gives for 'action'.
 */
enum action_step actu_fail_write(struct action_ctx *c, struct row_state *rs,
				 const struct action_answer *a,
				 const char *action);

/* Fail the row for a lookup that failed for good ('err' may be NULL). */
enum actu_res actu_fail_lookup(struct action_ctx *c, struct row_state *rs,
			       const char *what, const char *err);

/*
 * Checking a write whose fate is unknown (engine.c: a timeout, a reset or
 * a cut answer). actu_verify_url() appends to 'out' the read that shows
 * whether the write 'method' 'url' 'body' (as sent, 'url' relative to the
 * API root) holds: the written columns of a PATCHed row, with the row's
 * @odata.etag; a role's privileges for AddPrivilegesRole. -1 when there
 * is no such read (the write is then sent again as before).
 * actu_write_holds() tells whether 'read', that read's answer, shows
 * every value of the write in place.
 */
int actu_verify_url(const char *method, const char *url, const char *body,
		    struct buf *out);
bool actu_write_holds(const char *method, const char *url, const char *body,
		      const cJSON *read);

#endif
