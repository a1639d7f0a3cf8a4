/*
 * fuzz_filter.c: libFuzzer target for dvsim's $filter parser and
 * evaluator. Any input must either parse or produce an error message;
 * a parsed filter is evaluated against a sample row and asked for its
 * index hint. Build with 'make fuzz'.
 */
#include "compat.h"

#include <string.h>

#include "dvsim/filter.h"
#include "dvsim/org.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *alias(void *ctx, const char *name)
{
	(void)ctx;
	if (!strcmp(name, "@p1"))
		return "'emailaddress'";
	if (!strcmp(name, "@p2"))
		return "[\"a@b.c\",\"x\",1]";
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *row;
	static const char *const sets[] = {"mailboxes", "systemusers",
					   "tracelogs"};
	char *text;
	char msg[512];
	const struct dv_entity *ent;
	struct dv_filter *f;

	if (!row)
		row = cJSON_Parse(
		    "{\"mailboxid\":\"11111111-2222-4333-8444-555555555555\","
		    "\"name\":\"n\",\"emailaddress\":\"a@b.c\","
		    "\"incomingemaildeliverymethod\":2,\"enabledforact\":true,"
		    "\"_ownerid_value\":\"11111111-2222-4333-8444-"
		    "555555555555\",\"testmailboxaccesscompletedon\":"
		    "\"2024-01-01T00:00:00Z\"}");
	if (size < 1 || size > 8192)
		return 0;
	ent = dv_entity_by_set(sets[data[0] % ARRAY_SIZE(sets)]);
	text = xstrndup((const char *)data + 1, size - 1);
	f = dv_filter_parse(ent, text, alias, NULL, msg, sizeof(msg));
	if (f) {
		const char *col;
		const char *const *vals;
		size_t n;

		(void)dv_filter_match(f, NULL, row);
		if (dv_filter_index_hint(f, &col, &vals, &n))
			for (size_t i = 0; i < n; i++)
				if (!vals[i])
					__builtin_trap();
		dv_filter_free(f);
	} else if (!msg[0]) {
		__builtin_trap(); /* an error must say why */
	}
	free(text);
	return 0;
}
