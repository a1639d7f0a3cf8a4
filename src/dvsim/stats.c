#include "compat.h"

#include <pthread.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "stats.h"

#include "banned.h"

struct action {
	char *name;
	long n;
};

struct stats {
	pthread_mutex_t mu;
	long c[STATS_NCOUNTERS];
	struct action *actions;
	size_t nactions;
};

struct stats *stats_new(void)
{
	struct stats *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->mu, NULL);
	return s;
}

void stats_free(struct stats *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nactions; i++)
		free(s->actions[i].name);
	free(s->actions);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void stats_add(struct stats *s, enum stats_counter c, long n)
{
	pthread_mutex_lock(&s->mu);
	s->c[c] += n;
	pthread_mutex_unlock(&s->mu);
}

long stats_get(struct stats *s, enum stats_counter c)
{
	long v;

	pthread_mutex_lock(&s->mu);
	v = s->c[c];
	pthread_mutex_unlock(&s->mu);
	return v;
}

void stats_add_action(struct stats *s, const char *name)
{
	size_t i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nactions; i++)
		if (!strcmp(s->actions[i].name, name))
			break;
	if (i == s->nactions) {
		s->actions = xrealloc(s->actions,
				      (s->nactions + 1) * sizeof(*s->actions));
		s->actions[i].name = xstrdup(name);
		s->actions[i].n = 0;
		s->nactions++;
	}
	s->actions[i].n++;
	pthread_mutex_unlock(&s->mu);
}

int stats_to_json(struct stats *s, struct buf *out)
{
	cJSON *root = cJSON_CreateObject(), *ops, *m, *w, *f, *acts;
	char *text;
	int rc;

	pthread_mutex_lock(&s->mu);
	cJSON_AddNumberToObject(root, "requests", (double)s->c[STATS_REQUESTS]);
	cJSON_AddNumberToObject(root, "api_requests", (double)s->c[STATS_API]);
	cJSON_AddNumberToObject(root, "batches", (double)s->c[STATS_BATCHES]);
	ops = cJSON_AddObjectToObject(root, "operations");
	cJSON_AddNumberToObject(ops, "total", (double)s->c[STATS_OPERATIONS]);
	m = cJSON_AddObjectToObject(ops, "by_method");
	cJSON_AddNumberToObject(m, "GET", (double)s->c[STATS_OP_GET]);
	cJSON_AddNumberToObject(m, "PATCH", (double)s->c[STATS_OP_PATCH]);
	cJSON_AddNumberToObject(m, "POST", (double)s->c[STATS_OP_POST]);
	cJSON_AddNumberToObject(m, "DELETE", (double)s->c[STATS_OP_DELETE]);
	w = cJSON_AddObjectToObject(root, "writes");
	cJSON_AddNumberToObject(w, "total", (double)s->c[STATS_WRITES]);
	acts = cJSON_AddObjectToObject(w, "by_action");
	for (size_t i = 0; i < s->nactions; i++)
		cJSON_AddNumberToObject(acts, s->actions[i].name,
					(double)s->actions[i].n);
	cJSON_AddNumberToObject(root, "tokens_issued",
				(double)s->c[STATS_TOKENS]);
	cJSON_AddNumberToObject(root, "token_errors",
				(double)s->c[STATS_TOKEN_ERRORS]);
	cJSON_AddNumberToObject(root, "unauthorized_401",
				(double)s->c[STATS_401]);
	cJSON_AddNumberToObject(root, "throttled_429", (double)s->c[STATS_429]);
	cJSON_AddNumberToObject(root, "throttled_violations",
				(double)s->c[STATS_THROTTLED_VIOLATIONS]);
	f = cJSON_AddObjectToObject(root, "faults");
	cJSON_AddNumberToObject(f, "503", (double)s->c[STATS_FAULT_503]);
	cJSON_AddNumberToObject(f, "resets", (double)s->c[STATS_FAULT_RESET]);
	cJSON_AddNumberToObject(f, "scenario",
				(double)s->c[STATS_SCENARIO_FAULTS]);
	f = cJSON_AddObjectToObject(root, "graph");
	cJSON_AddNumberToObject(f, "requests",
				(double)s->c[STATS_GRAPH_REQUESTS]);
	cJSON_AddNumberToObject(f, "batches",
				(double)s->c[STATS_GRAPH_BATCHES]);
	cJSON_AddNumberToObject(f, "users", (double)s->c[STATS_GRAPH_USERS]);
	cJSON_AddNumberToObject(f, "throttled_429",
				(double)s->c[STATS_GRAPH_429]);
	cJSON_AddNumberToObject(f, "throttled_batches",
				(double)s->c[STATS_GRAPH_429_BATCH]);
	cJSON_AddNumberToObject(f, "denied_403", (double)s->c[STATS_GRAPH_403]);
	cJSON_AddNumberToObject(f, "unauthorized_401",
				(double)s->c[STATS_GRAPH_401]);
	pthread_mutex_unlock(&s->mu);

	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return -1;
	rc = buf_addstr(out, text);
	cJSON_free(text);
	return rc;
}
