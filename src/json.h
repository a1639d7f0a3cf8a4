#ifndef JSON_H
#define JSON_H

#include <cjson/cJSON.h>

#include "buf.h"

/*
 * Append 'item' to 'b' as compact JSON, byte for byte what
 * cJSON_PrintUnformatted() prints, without its number formatting
 * (sprintf, then sscanf to check the round trip) or its buffer copies.
 * Only trees of objects, arrays, strings, booleans, null and integers that
 * fit an int are printed; for anything else (another number, a raw item)
 * it returns -1 with 'b' as it was, and the caller prints with cJSON.
 * Also -1 when 'b' reaches its cap. Returns 0 on success.
 */
int json_print(struct buf *b, const cJSON *item);

/*
 * Parse 'text' (NUL-terminated) as cJSON_Parse() does, with the same
 * result, faster on the JSON a Web API answers: strings without \\u
 * escapes, numbers, literals, objects and arrays followed by nothing but
 * white space. Anything else is handed to cJSON_Parse(). Returns a tree
 * to free with cJSON_Delete(), or NULL when the text is not JSON.
 */
cJSON *json_parse(const char *text);

#endif
