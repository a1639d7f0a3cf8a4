/*
 * jsonmem.h: cJSON's allocator for trees parsed from Web API answers.
 *
 * A lookup answer holds up to 50 mailboxes; each mailbox becomes some
 * thirty small cJSON allocations (items, keys, strings) that the engine
 * keeps until the row finishes. Taken one by one from malloc they cost
 * more than the parse itself. json_parse() takes them from one arena per
 * answer instead: a bump pointer in a few large blocks, and a count of the
 * allocations still live. cJSON_Delete() on any part of the tree (a
 * detached mailbox, the rest of the answer) lowers the count; the arena
 * goes back to malloc when it reaches zero, so ownership rules are the
 * usual cJSON ones and callers need not know where a tree came from.
 *
 * Allocations made outside json_parse() (trees built with cJSON_Create*,
 * printed text) come from malloc as before. Every allocation carries an
 * 8-byte header naming its arena (or none), which is how cJSON_free()
 * tells them apart: memory from cJSON must be freed with cJSON_free() or
 * cJSON_Delete(), never free().
 *
 * Not thread-safe: the client runs on one thread. dvsim does not use it.
 */
#ifndef MBXFIX_JSONMEM_H
#define MBXFIX_JSONMEM_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Install the hooks; once, before any cJSON call. */
void json_mem_init(void);

/*
 * cJSON_ParseWithLength() with the tree in its own arena (plain malloc
 * until json_mem_init() was called). NULL on a parse error.
 */
cJSON *json_parse(const char *s, size_t len);

/* Arenas not yet returned (tests, leak checks). */
size_t json_mem_arenas(void);

#endif
