/*
 * filter.h: OData $filter for dvsim (docs/fidelity.md).
 *
 * Supported: eq ne gt ge lt le, and or not, parentheses; contains,
 * startswith, endswith; Microsoft.Dynamics.CRM.In(PropertyName='x',
 * PropertyValues=['a','b']) (also with @p parameter aliases); string
 * literals with doubled quotes, GUIDs, null, numbers, booleans, unquoted
 * date-times; lookups through "_x_value" and single-valued navigation
 * paths ("emailserverprofile/name"). String comparisons ignore case, as
 * Dataverse's do. The text given is already percent-decoded.
 */
#ifndef DVSIM_FILTER_H
#define DVSIM_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct dv_entity;
struct dv_org;
struct dv_filter;

/* Resolves "@p1" parameter aliases to their raw text, or NULL. */
typedef const char *(*dv_filter_alias_fn)(void *ctx, const char *name);

/*
 * Parse 'text' for rows of 'ent'. On error returns NULL with a message
 * Dataverse would send (error code 0x80060888, status 400) in 'msg'.
 * 'alias' may be NULL. Free the result with dv_filter_free().
 */
struct dv_filter *dv_filter_parse(const struct dv_entity *ent, const char *text,
				  dv_filter_alias_fn alias, void *alias_ctx,
				  char *msg, size_t msglen);
void dv_filter_free(struct dv_filter *f);

/* Does 'row' (an attribute object of 'ent') match? 'org' resolves
 * navigation paths and may be NULL when the filter has none. */
bool dv_filter_match(const struct dv_filter *f, struct dv_org *org,
		     const cJSON *row);

/*
 * When every matching row must have column '*col' equal (ignoring case)
 * to one of 'vals[0..*nvals)', say so: the caller can then read an index
 * instead of scanning. The pointers are borrowed from 'f'.
 */
bool dv_filter_index_hint(const struct dv_filter *f, const char **col,
			  const char *const **vals, size_t *nvals);

#endif
