/*
 * odata.h: small OData helpers for building Web API URLs and reading its
 * errors (docs/fidelity.md). Pure.
 *
 * Building a query: write the expression in plain text with the helpers
 * below, then percent-encode it as a whole with odata_url_encode():
 *
 *	buf_addstr(&expr, "emailaddress eq ");
 *	odata_quote(&expr, addr);                  ->  emailaddress eq
 *'O''Neil@x' buf_addstr(&url, "mailboxes?$select=mailboxid&$filter=");
 *	odata_url_encode(&url, expr.ptr, expr.len);
 */
#ifndef MBXFIX_ODATA_H
#define MBXFIX_ODATA_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

/*
 * Append 's'/'len' percent-encoded for use as a query option value:
 * every byte except the RFC 3986 unreserved characters (A-Z a-z 0-9
 * - . _ ~) becomes %XX (upper-case hex), a space included (never '+').
 * Returns 0, or -1 when 'out' would pass its cap (it may then hold part
 * of the result).
 */
int odata_url_encode(struct buf *out, const char *s, size_t len);

/*
 * Append 's' as an OData string literal: in single quotes, each quote
 * inside doubled ('O''Brian'). Returns 0, or -1 when 'out' would pass
 * its cap.
 */
int odata_quote(struct buf *out, const char *s);

/*
 * Append 's' as a JSON string: in double quotes, '"' and '\' escaped
 * with a backslash, control characters as \u00XX; other bytes (UTF-8
 * included) as they are. Returns 0, or -1 when 'out' would pass its cap.
 */
int odata_json_quote(struct buf *out, const char *s);

/*
 * Append the filter expression
 *	Microsoft.Dynamics.CRM.In(PropertyName='<property>',
 *				  PropertyValues=["<v1>","<v2>",...])
 * (without the line break) for 'values'[0 .. n-1], each written with
 * odata_json_quote(): the service reads PropertyValues as a JSON array,
 * so a value holding ' must be in double quotes (docs/fidelity.md). Not
 * yet percent-encoded.
 * Returns 0, or -1 with 'e' set (ERR_INTERNAL) when 'n' is 0, 'property'
 * is not a name of [A-Za-z0-9_], or 'out' would pass its cap.
 */
int odata_in_filter(struct buf *out, const char *property,
		    const char *const *values, size_t n, struct err *e);

/* Length of a GUID in its canonical text form, without the NUL. */
#define ODATA_GUID_LEN 36

/*
 * Is 's' a GUID: 8-4-4-4-12 hex digits, either case, optionally in
 * braces, or 32 hex digits without hyphens? Surrounding blanks are not
 * accepted.
 */
bool odata_is_guid(const char *s);

/*
 * Write the canonical form of GUID 's' (lower case, 8-4-4-4-12, no
 * braces) to 'out' (NUL-terminated). Returns 0, or -1 ('out' set to "")
 * when odata_is_guid(s) is false.
 */
int odata_guid_normalize(char out[ODATA_GUID_LEN + 1], const char *s);

/*
 * Extract the key of an entity URL such as the OData-EntityId header
 * ".../api/data/v9.2/mailboxes(1111...)": the GUID in the last
 * parentheses, normalised into 'out'. Returns 0, or -1 ('out' set to
 * "") when there is none.
 */
int odata_id_from_url(char out[ODATA_GUID_LEN + 1], const char *url);

/* A server's error, copied (and truncated) into fixed-size fields. */
struct odata_error {
	char code[64];	   /* "0x80040217"; "" when the server sent none */
	char message[512]; /* truncated at a UTF-8 character boundary */
};

/*
 * Parse an error body: Dataverse's {"error":{"code":"0x...","message":
 * "..."}} (§8.1; a numeric code is formatted in decimal), or the Entra ID
 * token endpoint's {"error":"invalid_client","error_description":"..."}
 * (§9.3). 'body'/'len' need not be NUL-terminated.
 *
 * Returns 0 with 'out' filled, or -1 with 'out' zeroed (code and message
 * "") when the body is not JSON, is empty, or has no "error" member of
 * either shape. Nothing to free.
 */
int odata_parse_error(struct odata_error *out, const char *body, size_t len);

#endif
