/*
 * select.h: mailboxes chosen by query rather than listed in a CSV
 * (docs/design.md, "Choosing mailboxes by query").
 *
 * A selection is a list of terms that must all hold, each "key=value",
 * from the job's 'select' group or from --where on the command line:
 *
 *   profile=NAME        the mailbox's email server profile, by name
 *   status=S[,S...]     any of: failure (a status column is Failure),
 *                       never-tested (no Test & Enable completed),
 *                       not-enabled (incoming or outgoing not Success),
 *                       unhealthy (any of those three)
 *   approval=A          not-approved | approved (emailrouteraccessapproval)
 *   business_unit=NAME  the mailbox's owning business unit, by name
 *                       (also bu=NAME)
 *   type=T              user | queue (what the mailbox belongs to)
 *   view=NAME           a saved (system) or personal view of mailboxes,
 *                       by name: its FetchXML run through the Web API,
 *                       GET mailboxes?fetchXml=..., page after page with
 *                       the paging cookie
 *
 * Names are matched as the admin center matches them: case ignored and
 * surrounding blanks ignored; an unknown one is an error that says "did
 * you mean ..." (preflight_suggest()).
 *
 * select_run() signs nothing in itself: it reads through a connected
 * engine (engine_prefetch()), one OData $filter query over mailboxes
 * followed through @odata.nextLink, and writes a CSV that the run then
 * reads as its input: the job's CSV rows first (when there is one), then
 * a row per selected mailbox that the CSV does not name already, its
 * 'mailbox' cell the mailbox id, the job's defaults for everything else,
 * and a 'source' column saying where each row came from ("input row 12",
 * "where status=failure").
 */
#ifndef MBXFIX_SELECT_H
#define MBXFIX_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

enum select_key {
	SELECT_PROFILE,
	SELECT_STATUS,
	SELECT_APPROVAL,
	SELECT_BU,
	SELECT_TYPE,
	SELECT_VIEW,
	SELECT_NKEYS
};

/* status bits */
#define SELECT_ST_FAILURE 0x1u
#define SELECT_ST_NEVER 0x2u
#define SELECT_ST_NOT_ENABLED 0x4u

/* approval and type values */
enum { SELECT_NOT_APPROVED = 1, SELECT_APPROVED, SELECT_USER, SELECT_QUEUE };

struct select_term {
	enum select_key key;
	char *value;  /* as given, trimmed: the name for profile and bu */
	unsigned v;   /* status bits, or SELECT_* for approval and type */
	char *origin; /* "--where" or "JOB:LINE: setting 'select.x'" */
};

struct select_set {
	struct select_term *t;
	size_t n;
};

/*
 * Parse "key=value" (blanks around both ignored) and add it to 's'.
 * 'origin' names where it came from for later messages. -1 with 'why'
 * set when the key or the value is unknown.
 */
int select_add(struct select_set *s, const char *text, const char *origin,
	       char *why, size_t whylen);

/* The setting names of the job's 'select' group, NULL-terminated. */
extern const char *const select_keys[];

void select_release(struct select_set *s);

/* "profile=X, status=failure" for messages and the 'source' column. */
void select_describe(const struct select_set *s, struct buf *out);

/*
 * The OData $filter expression (not yet percent-encoded) of the terms
 * that one can express, 'ids[i]' being the resolved id of term i (profile
 * and business unit; NULL for the others). Empty when no term filters.
 */
void select_filter(const struct select_set *s, const char *const *ids,
		   struct buf *out);

/* Whether two names are the same, case and surrounding blanks ignored. */
bool select_name_eq(const char *a, const char *b);

/*
 * The name in 'names' (n) that 'want' designates, ignoring case and
 * surrounding blanks: its index, -1 when none, -2 when several.
 */
long select_match_name(const char *want, const char *const *names, size_t n);

/*
 * A view's FetchXML for page 'page' (1 on): its <fetch> tag rewritten
 * with page, count (the view's own, else 'count') and, when 'cookie' is
 * not NULL, paging-cookie (XML-escaped). NULL when 'xml' has no <fetch>
 * tag.
 */
char *select_fetch_page(const char *xml, long page, long count,
			const char *cookie);

/*
 * From a @Microsoft.Dynamics.CRM.fetchxmlpagingcookie annotation
 * (<cookie pagenumber="2" pagingcookie="%253ccookie..." />), the next
 * page's number and its cookie, decoded (the Web API encodes it twice).
 * -1 when the annotation does not hold them.
 */
int select_fetch_next(const char *annotation, long *page, char **cookie);

struct engine;
struct job;

/*
 * Run the selection through 'en' (connected) and write the run's input
 * to 'out_csv': 'job->input' rows first when it is set, then the selected
 * mailboxes. '*nsel' gets the number of mailboxes added. -1 with 'e' set:
 * ERR_CONFIG for an unknown name, ERR_INPUT for the CSV, ERR_IO, or what
 * the engine reported.
 */
int select_run(const struct select_set *s, struct engine *en,
	       const struct job *job, const char *out_csv, size_t *nsel,
	       struct err *e);

#endif
