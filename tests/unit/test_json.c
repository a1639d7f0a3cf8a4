#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "json.h"

#include "banned.h"

/* json_print() must print what cJSON_PrintUnformatted() prints. */
static void test_same_text_as_cjson(void **state)
{
	static const char *const t[] = {
	    "{}",
	    "[]",
	    "{\"incomingemaildeliverymethod\":2,\"actdeliverymethod\":0}",
	    "{\"a\":-2147483648,\"b\":2147483647,\"c\":-1,\"d\":10}",
	    "{\"n\":null,\"t\":true,\"f\":false,\"s\":\"\"}",
	    "{\"ownerid@odata.bind\":\"/systemusers(4f4dfc69-990c-42b0-87fb-"
	    "5b1ad93fe909)\"}",
	    "{\"q\":\"say \\\"hi\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0001\\u001f "
	    "\\u007f caf\\u00e9 \xe2\x82\xac\"}",
	    "{\"k\\n\\\"ey\":[1,[2,{}],{\"x\":[]}],\"e\":[{\"a\":{\"b\":1}}]}",
	    "[\"a\",\"b\",0,-7]",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		cJSON *j = cJSON_Parse(t[i]);
		struct buf b = BUF_INIT(4096);
		char *want;

		assert_non_null(j);
		want = cJSON_PrintUnformatted(j);
		assert_int_equal(json_print(&b, j), 0);
		assert_string_equal(b.ptr, want);
		cJSON_free(want);
		cJSON_Delete(j);
		buf_release(&b);
	}
}

/* Numbers cJSON formats with "%g" are left to it; 'b' stays as it was. */
static void test_declines_what_it_cannot_print_alike(void **state)
{
	static const char *const t[] = {
	    "{\"a\":1.5}",
	    "[1,2,3e30]",
	    "{\"big\":4294967296}",
	    "[-0]",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		cJSON *j = cJSON_Parse(t[i]);
		struct buf b = BUF_INIT(4096);

		assert_non_null(j);
		buf_addstr(&b, "keep");
		assert_int_equal(json_print(&b, j), -1);
		assert_string_equal(b.ptr, "keep");
		cJSON_Delete(j);
		buf_release(&b);
	}
	{
		cJSON *raw = cJSON_CreateRaw("{\"x\":1}");
		struct buf b = BUF_INIT(4096);

		assert_int_equal(json_print(&b, raw), -1);
		assert_string_equal(b.ptr, "");
		cJSON_Delete(raw);
		buf_release(&b);
	}
}

static void test_cap(void **state)
{
	cJSON *j = cJSON_Parse("{\"name\":\"a long enough value\"}");
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(json_print(&b, j), -1);
	assert_string_equal(b.ptr, "");
	cJSON_Delete(j);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_text_as_cjson),
	    cmocka_unit_test(test_declines_what_it_cannot_print_alike),
	    cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
