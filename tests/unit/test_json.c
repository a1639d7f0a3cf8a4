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

/* Node by node, numbers bit for bit (cJSON_Compare() fails on inf). */
static void same_tree(const cJSON *a, const cJSON *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->valueint, b->valueint);
	assert_memory_equal(&a->valuedouble, &b->valuedouble,
			    sizeof(a->valuedouble));
	assert_true((a->string == NULL) == (b->string == NULL));
	if (a->string)
		assert_string_equal(a->string, b->string);
	assert_true((a->valuestring == NULL) == (b->valuestring == NULL));
	if (a->valuestring)
		assert_string_equal(a->valuestring, b->valuestring);
	assert_true((a->child == NULL) == (b->child == NULL));
	if (a->child) {
		const cJSON *x = a->child, *y = b->child;

		for (; x && y; x = x->next, y = y->next)
			same_tree(x, y);
		assert_true(x == NULL && y == NULL);
		/* the head's prev is the tail in both */
		assert_null(a->child->prev->next);
		assert_null(b->child->prev->next);
	}
}

/* The same tree as cJSON_Parse(), or NULL from both. */
static void same_parse(const char *text)
{
	cJSON *want = cJSON_Parse(text);
	cJSON *got = json_parse(text);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	same_tree(want, got);
	{
		char *a = cJSON_PrintUnformatted(want);
		char *b = cJSON_PrintUnformatted(got);

		assert_string_equal(a, b);
		cJSON_free(a);
		cJSON_free(b);
	}
	cJSON_Delete(want);
	cJSON_Delete(got);
}

static const char answer[] =
    "{\"@odata.context\":\"http://h/api/data/v9.2/$metadata#mailboxes("
    "mailboxid,emailaddress)\",\"value\":[{\"@odata.etag\":\"W/\\\"190\\\""
    "\",\"mailboxid\":\"4104d16a-a415-46bc-b4d6-cbb3445ed65c\","
    "\"emailaddress\":\"admin@contoso.com\",\"_ownerid_value@Microsoft."
    "Dynamics.CRM.lookuplogicalname\":\"systemuser\","
    "\"incomingemaildeliverymethod\":2,\"x\":-1.5e3,\"y\":null,\"z\":true,"
    "\"w\":false,\"v\":[],\"u\":{},\"t\":[1,[2,[3]],{\"a\":{}}]}]}";

static void test_parse_like_cjson(void **state)
{
	static const char *const t[] = {
	    answer,
	    "  {\"a\" : 1 ,\n\t\"b\":[ 1 , 2 ] }\r\n ",
	    "\"s\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	    "\"caf\\u00e9 \\ud83d\\ude00\"", /* \u: cJSON's own parse */
	    "\"bad \\x escape\"",
	    "{\"a\":1}trailing",
	    "{\"a\":1,}",
	    "[1,]",
	    "{\"a\" 1}",
	    "{1:2}",
	    "[0.5,-0,1e400,-1e400,2147483648,-2147483649,1.2.3]",
	    "[1.5,3e2,-7,0.1,123456789012345678901234567890]",
	    "[-]",
	    "[--1]",
	    "[+1]",
	    "[.5]",
	    "[1e]",
	    "nul",
	    "tru",
	    "null",
	    "true",
	    "false",
	    "",
	    "   ",
	    "\xef\xbb\xbf{\"bom\":1}",
	    "{\"dup\":1,\"dup\":2}",
	    "[\"unterminated",
	    "{\"a\":\"b\"",
	    "\"raw\x01control\"",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		same_parse(t[i]);
	assert_null(json_parse(NULL));
}

/* Nesting at and past cJSON's limit of 1000. */
static void test_parse_nesting(void **state)
{
	char deep[2100];

	(void)state;
	for (int depth = 999; depth <= 1001; depth++) {
		memset(deep, '[', (size_t)depth);
		memset(deep + depth, ']', (size_t)depth);
		deep[2 * depth] = '\0';
		same_parse(deep);
	}
}

/* Mutations of a typical answer: every result as cJSON's. */
static void test_parse_mutations(void **state)
{
	static const char alphabet[] = "{}[]\",:\\ 0-.eEtrufalsn\x01u";
	char text[sizeof(answer)];
	unsigned seed = 42;

	(void)state;
	for (int i = 0; i < 3000; i++) {
		memcpy(text, answer, sizeof(answer));
		for (int k = 0; k < 1 + i % 3; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % (sizeof(answer) - 1);
			seed = seed * 1103515245u + 12345u;
			text[at] =
			    alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
		}
		if (i % 7 == 0)
			text[(seed >> 4) % (sizeof(answer) - 1)] = '\0';
		same_parse(text);
	}
}

/* Detaching relies on the first child knowing the last, as in cJSON. */
static void test_parse_detach(void **state)
{
	cJSON *j = json_parse("{\"value\":[{\"a\":1},{\"b\":2},{\"c\":3}]}");
	cJSON *value = cJSON_GetObjectItemCaseSensitive(j, "value");
	cJSON *last = cJSON_GetArrayItem(value, 2);
	cJSON *it;
	char *s;

	(void)state;
	assert_ptr_equal(value->child->prev, last);
	it = cJSON_DetachItemViaPointer(value, last);
	cJSON_Delete(it);
	cJSON_AddItemToArray(value, cJSON_CreateNumber(4));
	s = cJSON_PrintUnformatted(j);
	assert_string_equal(s, "{\"value\":[{\"a\":1},{\"b\":2},4]}");
	cJSON_free(s);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_text_as_cjson),
	    cmocka_unit_test(test_declines_what_it_cannot_print_alike),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_parse_like_cjson),
	    cmocka_unit_test(test_parse_nesting),
	    cmocka_unit_test(test_parse_mutations),
	    cmocka_unit_test(test_parse_detach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
