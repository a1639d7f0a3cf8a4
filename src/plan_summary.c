/*
 * plan_summary.c: plan's changes grouped (plan_summary.h).
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "plan_summary.h"
#include "table.h"

#include "banned.h"

struct group {
	enum rows_action a;
	char *now, *then;
	size_t rows;
};

struct plan_summary {
	struct table t; /* "a\x1fnow\x1fthen" -> struct group */
	struct group **v;
	size_t n, alloc;
};

struct plan_summary *plan_summary_new(void)
{
	return xcalloc(1, sizeof(struct plan_summary));
}

static void free_group(void *p)
{
	struct group *g = p;

	free(g->now);
	free(g->then);
	free(g);
}

void plan_summary_free(struct plan_summary *ps)
{
	if (!ps)
		return;
	table_release(&ps->t, free_group);
	free(ps->v);
	free(ps);
}

void plan_summary_add(struct plan_summary *ps, enum rows_action a,
		      const char *now, const char *then)
{
	struct buf k = BUF_INIT(BUF_MAX_BODY);
	void **slot;
	struct group *g;

	now = now ? now : "";
	then = then ? then : "";
	buf_addf(&k, "%d\x1f%s\x1f%s", (int)a, now, then);
	slot = table_slot(&ps->t, k.ptr, true);
	buf_release(&k);
	g = *slot;
	if (!g) {
		g = xcalloc(1, sizeof(*g));
		g->a = a;
		g->now = xstrdup(now);
		g->then = xstrdup(then);
		*slot = g;
		if (ps->n == ps->alloc) {
			ps->alloc = ps->alloc ? 2 * ps->alloc : 16;
			ps->v = xrealloc(ps->v, ps->alloc * sizeof(*ps->v));
		}
		ps->v[ps->n++] = g;
	}
	g->rows++;
}

size_t plan_summary_targets(const struct plan_summary *ps, enum rows_action a)
{
	size_t n = 0;

	for (size_t i = 0; i < ps->n; i++)
		if (ps->v[i]->a == a)
			n += a == ROWS_GRANT_PRIVILEGES ? 1 : ps->v[i]->rows;
	return n;
}

static int by_rows(const void *x, const void *y)
{
	const struct group *a = *(struct group *const *)x;
	const struct group *b = *(struct group *const *)y;

	if (a->a != b->a)
		return (int)a->a - (int)b->a;
	if (a->rows != b->rows)
		return a->rows > b->rows ? -1 : 1;
	return strcmp(a->now, b->now);
}

void plan_summary_print(const struct plan_summary *ps, FILE *fp)
{
	struct group **v;
	size_t shown = 0;

	if (!ps->n)
		return;
	v = xmalloc(ps->n * sizeof(*v));
	memcpy(v, ps->v, ps->n * sizeof(*v));
	qsort(v, ps->n, sizeof(*v), by_rows);
	fputs("  would change:\n", fp);
	for (size_t i = 0; i < ps->n; i++) {
		const struct group *g = v[i];

		if (i == 0 || v[i - 1]->a != g->a) {
			size_t t = plan_summary_targets(ps, g->a);

			fprintf(fp, "    %s: %zu %s\n", rows_action_name(g->a),
				t,
				g->a == ROWS_GRANT_PRIVILEGES
				    ? (t == 1 ? "role" : "roles")
				    : (t == 1 ? "mailbox" : "mailboxes"));
			shown = 0;
		}
		if (++shown > PLAN_SUMMARY_SHOW) {
			if (shown == PLAN_SUMMARY_SHOW + 1)
				fputs(
				    "      ... (every change is in plan.csv)\n",
				    fp);
			continue;
		}
		if (g->a == ROWS_GRANT_PRIVILEGES)
			fprintf(fp, "      %s (%zu row%s): %s\n", g->then,
				g->rows, g->rows == 1 ? "" : "s", g->now);
		else
			fprintf(fp, "      %zu mailbox%s: %s -> %s\n", g->rows,
				g->rows == 1 ? "" : "es", g->now, g->then);
	}
	free(v);
}
