/*
 * orgdefaults.h: the organisation's default email settings, what the
 * admin center's "Apply Default Email Settings" applies
 * (docs/fidelity.md): the organization row's
 * _defaultemailserverprofileid_value and defaultemailsettings, an XML
 * string <EmailSettings><IncomingEmailDeliveryMethod>n</...>
 * <OutgoingEmailDeliveryMethod>n</...><ACTDeliveryMethod>n</...>.
 *
 * The apply_defaults action (rows.h, ROWS_ACT_APPLY_DEFAULTS) is
 * set_profile and set_delivery with these values, read once per run.
 */
#ifndef MBXFIX_ORGDEFAULTS_H
#define MBXFIX_ORGDEFAULTS_H

#include <cjson/cJSON.h>

#include "rows.h"

struct action_ctx;
struct row_state;

/* The GET of the organization row's defaults (relative URL). */
#define ORGDEFAULTS_URL                                                        \
	"organizations?$select=_defaultemailserverprofileid_value,"            \
	"defaultemailsettings"

/*
 * The delivery methods of a defaultemailsettings string: out[ROWS_INCOMING
 * .. ROWS_ACTDELIVERY] get the option values, ROWS_UNSET where the
 * element is missing or not a small number. Returns how many were found.
 */
int orgdefaults_parse(const char *xml, int out[ROWS_NDELIVERY]);

/*
 * The organization row through the run's lookup cache: 0 with '*org'
 * set, 1 while pending (plan() returns ACTION_WAIT), -1 after failing
 * the row (the defaults cannot be read).
 */
int orgdefaults_get(struct action_ctx *c, struct row_state *rs,
		    const cJSON **org);

#endif
