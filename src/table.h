/*
 * table.h: a string-keyed hash table with open addressing (pure).
 *
 * Keys are copied; values are the caller's. A zeroed struct is an empty
 * table.
 */
#ifndef MBXFIX_TABLE_H
#define MBXFIX_TABLE_H

#include <stdbool.h>
#include <stddef.h>

/* A string-keyed table for lookups and shared operations. */
struct table {
	char **keys;
	void **vals;
	size_t n, cap;
};

/*
 * The slot holding 'key''s value, NULL when there is none; with 'insert',
 * the key is added (its value NULL) when missing.
 */
void **table_slot(struct table *t, const char *key, bool insert);
void table_release(struct table *t, void (*fn)(void *));

#endif
