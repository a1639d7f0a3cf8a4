/*
 * table.c: a string-keyed hash table (table.h).
 */
#include "compat.h"

#include <string.h>

#include "table.h"

#include "banned.h"

/* FNV-1a */
static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

void **table_slot(struct table *t, const char *key, bool insert)
{
	size_t i;

	if (insert && (t->n + 1) * 2 > t->cap) {
		struct table nt = {0};

		nt.cap = t->cap ? 2 * t->cap : 64;
		nt.keys = xcalloc(nt.cap, sizeof(*nt.keys));
		nt.vals = xcalloc(nt.cap, sizeof(*nt.vals));
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->keys[k])
				continue;
			i = hash(t->keys[k]) & (nt.cap - 1);
			while (nt.keys[i])
				i = (i + 1) & (nt.cap - 1);
			nt.keys[i] = t->keys[k];
			nt.vals[i] = t->vals[k];
		}
		nt.n = t->n;
		free(t->keys);
		free(t->vals);
		*t = nt;
	}
	if (!t->cap)
		return NULL;
	i = hash(key) & (t->cap - 1);
	while (t->keys[i]) {
		if (!strcmp(t->keys[i], key))
			return &t->vals[i];
		i = (i + 1) & (t->cap - 1);
	}
	if (!insert)
		return NULL;
	t->keys[i] = xstrdup(key);
	t->n++;
	return &t->vals[i];
}

void table_release(struct table *t, void (*fn)(void *))
{
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->keys[i])
			continue;
		free(t->keys[i]);
		fn(t->vals[i]);
	}
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}
