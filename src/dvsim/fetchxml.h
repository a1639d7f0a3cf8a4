/*
 * fetchxml.h: the FetchXML subset dvsim plays for GET
 * <set>?fetchXml=... (docs/fidelity.md, "Saved views and FetchXML").
 *
 * <fetch [count] [page] [paging-cookie] ...><entity name="..."> with
 * <attribute name/>, <all-attributes/>, <order .../> (ignored: rows come
 * in table order), and <filter type="and|or"> (nested) of
 * <condition attribute operator value/> where operator is eq, ne, null,
 * not-null, in or not-in (<value> children). A lookup is named by its
 * logical name ("emailserverprofile"). Anything else (link-entity,
 * aggregates, other operators) is refused with a message.
 */
#ifndef DVSIM_FETCHXML_H
#define DVSIM_FETCHXML_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct dv_entity;
struct dv_fetch;

/*
 * Parse 'xml' for the rows of 'ent'. NULL with 'msg' set (what Dataverse
 * would say, status 400) on an error.
 */
struct dv_fetch *dv_fetch_parse(const struct dv_entity *ent, const char *xml,
				char *msg, size_t msglen);
void dv_fetch_free(struct dv_fetch *f);

/* Whether 'row' (an attribute object of the entity) matches. */
bool dv_fetch_match(const struct dv_fetch *f, const cJSON *row);

/* The columns asked (row column names), '*n' of them; 0: all. */
const char *const *dv_fetch_columns(const struct dv_fetch *f, size_t *n);

/* count (default 5000) and page (default 1). */
long dv_fetch_count(const struct dv_fetch *f);
long dv_fetch_page(const struct dv_fetch *f);

#endif
