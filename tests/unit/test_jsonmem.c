#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "act_util.h"
#include "jsonmem.h"

#include "banned.h"

/* An answer shaped like a mailbox lookup: 'n' mailboxes in "value". */
static char *answer(int n)
{
	struct buf b = BUF_INIT(BUF_MAX_BODY);

	buf_addstr(&b, "{\"@odata.context\":\"x\",\"value\":[");
	for (int i = 0; i < n; i++)
		buf_addf(
		    &b,
		    "%s{\"@odata.etag\":\"W/\\\"%d\\\"\",\"mailboxid\":"
		    "\"00000000-0000-0000-0000-%012d\",\"emailaddress\":"
		    "\"user%d@contoso.com\",\"incomingemaildeliverymethod\""
		    ":%d,\"name\":\"caf\\u00e9 \\\"%d\\\"\"}",
		    i ? "," : "", i, i, i, i % 3, i);
	buf_addstr(&b, "]}");
	return buf_detach(&b, NULL);
}

static int setup(void **state)
{
	(void)state;
	json_mem_init();
	return 0;
}

static void test_parse_matches_cjson(void **state)
{
	char *text = answer(50);
	cJSON *mine, *ref;
	char *a, *b;

	(void)state;
	mine = json_parse(text, strlen(text));
	assert_non_null(mine);
	assert_int_equal(json_mem_arenas(), 1);
	ref = cJSON_Parse(text); /* outside an arena: from the heap */
	assert_non_null(ref);
	assert_int_equal(json_mem_arenas(), 1);
	assert_true(cJSON_Compare(mine, ref, true));
	a = cJSON_PrintUnformatted(mine);
	b = cJSON_PrintUnformatted(ref);
	assert_string_equal(a, b);
	assert_non_null(strstr(a, "caf\xc3\xa9 \\\"49\\\""));
	cJSON_free(a);
	cJSON_free(b);
	cJSON_Delete(ref);
	cJSON_Delete(mine);
	assert_int_equal(json_mem_arenas(), 0);
	free(text);
}

/* Rows take mailboxes out of the answer and finish in any order. */
static void test_arena_lives_until_last_part_freed(void **state)
{
	char *text = answer(50);
	cJSON *root = json_parse(text, strlen(text));
	cJSON *value = cJSON_GetObjectItemCaseSensitive(root, "value");
	cJSON *kept[50];
	int n = 0;

	(void)state;
	assert_non_null(value);
	while (cJSON_GetArraySize(value) > 0)
		kept[n++] = cJSON_DetachItemFromArray(value, 0);
	assert_int_equal(n, 50);
	cJSON_Delete(root);
	assert_int_equal(json_mem_arenas(), 1);
	for (int i = 0; i < n; i += 2)
		cJSON_Delete(kept[i]);
	assert_int_equal(json_mem_arenas(), 1);
	/* a detached mailbox is still whole and can be changed */
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(kept[49], "emailaddress")
		->valuestring,
	    "user49@contoso.com");
	assert_non_null(cJSON_AddStringToObject(kept[49], "added", "heap"));
	for (int i = 1; i < n; i += 2)
		cJSON_Delete(kept[i]);
	assert_int_equal(json_mem_arenas(), 0);
	free(text);
}

static void test_parse_error_leaves_nothing(void **state)
{
	static const char *const bad[] = {
	    "",	    "{",	   "{\"a\":[1,2,", "{\"a\":\"unterminated",
	    "[1,2", "{\"a\":tru}",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_null(json_parse(bad[i], strlen(bad[i])));
		assert_int_equal(json_mem_arenas(), 0);
	}
}

/* Answers far larger than one chunk still parse (several chunks). */
static void test_large_answer(void **state)
{
	char *text = answer(5000);
	cJSON *root;

	(void)state;
	root = json_parse(text, strlen(text));
	assert_non_null(root);
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "value")),
	    5000);
	cJSON_Delete(root);
	assert_int_equal(json_mem_arenas(), 0);
	free(text);
}

static void test_json_int_prints_digits(void **state)
{
	static const int v[] = {
	    0, 1, 2, 9, 10, 100000000, -1, -2147483647 - 1, 2147483647};
	char want[16];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		cJSON *o = cJSON_CreateObject();
		char *s;
		struct buf b = BUF_INIT(64);

		cJSON_AddItemToObject(o, "n", actu_json_int(v[i]));
		s = cJSON_PrintUnformatted(o);
		snprintf(want, sizeof(want), "%d", v[i]);
		buf_addf(&b, "{\"n\":%s}", want);
		assert_string_equal(s, b.ptr);
		buf_release(&b);
		cJSON_free(s);
		cJSON_Delete(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_matches_cjson),
	    cmocka_unit_test(test_arena_lives_until_last_part_freed),
	    cmocka_unit_test(test_parse_error_leaves_nothing),
	    cmocka_unit_test(test_large_answer),
	    cmocka_unit_test(test_json_int_prints_digits),
	};
	return cmocka_run_group_tests_name("jsonmem", tests, setup, NULL);
}
