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

#endif
