/*
 * csv2json: results.csv (or any RFC 4180 CSV) on stdin -> a JSON array of
 * objects keyed by the header, on stdout. A helper the end-to-end tests
 * build on the fly so jq can assert on result columns holding commas,
 * quotes and newlines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <cjson/cJSON.h>

struct st {
	char **head;
	size_t nhead, col;
	cJSON *arr, *cur;
	int line;
};

static void field(void *s, size_t len, void *data)
{
	struct st *st = data;
	char *v = malloc(len + 1);

	memcpy(v, s, len);
	v[len] = '\0';
	/* a leading UTF-8 byte-order mark belongs to the file, not the name */
	if (st->line == 0 && st->col == 0 && !strncmp(v, "\xef\xbb\xbf", 3))
		memmove(v, v + 3, strlen(v + 3) + 1);
	if (st->line == 0) {
		st->head = realloc(st->head, (st->nhead + 1) * sizeof(char *));
		st->head[st->nhead++] = v;
	} else {
		char name[32];
		const char *key = name;

		if (!st->cur)
			st->cur = cJSON_CreateObject();
		if (st->col < st->nhead)
			key = st->head[st->col];
		else
			snprintf(name, sizeof(name), "_extra%zu", st->col);
		cJSON_AddStringToObject(st->cur, key, v);
		free(v);
	}
	st->col++;
}

static void record(int c, void *data)
{
	struct st *st = data;

	(void)c;
	if (st->line > 0 && st->cur)
		cJSON_AddItemToArray(st->arr, st->cur);
	st->cur = NULL;
	st->col = 0;
	st->line++;
}

int main(void)
{
	struct csv_parser p;
	struct st st = {0};
	char buf[65536];
	size_t n;
	char *out;

	st.arr = cJSON_CreateArray();
	csv_init(&p, CSV_APPEND_NULL);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (csv_parse(&p, buf, n, field, record, &st) != n)
			return 1;
	csv_fini(&p, field, record, &st);
	out = cJSON_Print(st.arr);
	puts(out);
	return 0;
}
