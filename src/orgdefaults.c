/*
 * orgdefaults.c: the organisation's default email settings (orgdefaults.h).
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "act_util.h"
#include "action.h"
#include "orgdefaults.h"

#include "banned.h"

/* The number between <tag> and </tag> in 'xml', or ROWS_UNSET. */
static int element(const char *xml, const char *tag)
{
	char open[64], close[64];
	const char *p, *q;
	char *end;
	long v;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	p = strstr(xml, open);
	if (!p)
		return ROWS_UNSET;
	p += strlen(open);
	q = strstr(p, close);
	if (!q)
		return ROWS_UNSET;
	while (p < q && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	v = strtol(p, &end, 10);
	while (end < q &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end == p || end != q || v < 0 || v > 10)
		return ROWS_UNSET;
	return (int)v;
}

int orgdefaults_parse(const char *xml, int out[ROWS_NDELIVERY])
{
	static const char *const tags[ROWS_NDELIVERY] = {
	    [ROWS_INCOMING] = "IncomingEmailDeliveryMethod",
	    [ROWS_OUTGOING] = "OutgoingEmailDeliveryMethod",
	    [ROWS_ACTDELIVERY] = "ACTDeliveryMethod",
	};
	int n = 0;

	for (int i = 0; i < ROWS_NDELIVERY; i++) {
		out[i] = xml ? element(xml, tags[i]) : ROWS_UNSET;
		n += out[i] != ROWS_UNSET;
	}
	return n;
}

int orgdefaults_get(struct action_ctx *c, struct row_state *rs,
		    const cJSON **org)
{
	bool pending = false;
	const char *err = NULL;
	const cJSON *j = action_lookup(c, ORGDEFAULTS_URL, &pending, &err);

	*org = NULL;
	if (pending)
		return 1;
	if (!j) {
		actu_fail_lookup(c, rs,
				 "the organisation's default email "
				 "settings",
				 err);
		return -1;
	}
	*org =
	    cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "value"), 0);
	if (!*org) {
		action_fail(c, rs, "NoOrganization",
			    "the organization row cannot be read",
			    "the application user needs read access to the "
			    "organization table (prvReadOrganization)");
		return -1;
	}
	return 0;
}
