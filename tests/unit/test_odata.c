#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"
#include "odata.h"

#include "banned.h"

static void test_url_encode(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"", ""},
	    {"AZaz09-._~", "AZaz09-._~"},
	    {" ", "%20"},
	    /* docs/fidelity.md: reserved characters in values */
	    {"$&+,/:;=?@#%", "%24%26%2B%2C%2F%3A%3B%3D%3F%40%23%25"},
	    {"'()*![]", "%27%28%29%2A%21%5B%5D"},
	    {"\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"},
	    {"a\r\nb\t", "a%0D%0Ab%09"},
	    {"d\xc3\xa9j\xc3\xa0", "d%C3%A9j%C3%A0"}, /* UTF-8 bytes */
	    {"\x7f\xff", "%7F%FF"},
	    {"emailaddress eq 'o''brien+test@contoso.com'",
	     "emailaddress%20eq%20%27o%27%27brien%2Btest%40contoso.com%27"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf b = BUF_INIT(1024);

		assert_int_equal(odata_url_encode(&b, t[i].in, strlen(t[i].in)),
				 0);
		assert_string_equal(b.ptr, t[i].want);
		buf_release(&b);
	}
}

/* every byte: RFC 3986 unreserved ones as they are, the rest %XX */
static void test_url_encode_every_byte(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		struct buf b = BUF_INIT(16);
		char in = (char)c, want[4];
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '.' ||
			     c == '_' || c == '~';

		if (plain)
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "%%%02X", c);
		assert_int_equal(odata_url_encode(&b, &in, 1), 0);
		assert_string_equal(b.ptr, want);
		buf_release(&b);
	}
}

static void test_url_encode_embedded_nul_and_cap(void **state)
{
	struct buf b = BUF_INIT(8);

	(void)state;
	assert_int_equal(odata_url_encode(&b, "a\0b", 3), 0);
	assert_string_equal(b.ptr, "a%00b");
	/* "%20%20" would pass the cap of 8 */
	assert_int_equal(odata_url_encode(&b, "  ", 2), -1);
	assert_true(b.len <= 8);
	buf_release(&b);
}

static void test_quote(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"", "''"},
	    {"a", "'a'"},
	    {"O'Brian", "'O''Brian'"}, /* docs/fidelity.md */
	    {"'", "''''"},
	    {"''", "''''''"},
	    {"it's 'x'", "'it''s ''x'''"},
	    {"no\"double", "'no\"double'"},
	    {"caf\xc3\xa9", "'caf\xc3\xa9'"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct buf b = BUF_INIT(1024);

		buf_addstr(&b, "name eq ");
		assert_int_equal(odata_quote(&b, t[i].in), 0);
		assert_int_equal(strncmp(b.ptr, "name eq ", 8), 0);
		assert_string_equal(b.ptr + 8, t[i].want);
		buf_release(&b);
	}
}

static void test_quote_cap_leaves_buffer_unchanged(void **state)
{
	struct buf b = BUF_INIT(10);

	(void)state;
	buf_addstr(&b, "x=");
	assert_int_equal(odata_quote(&b, "O'Brian"), -1);
	assert_string_equal(b.ptr, "x=");
	assert_int_equal(odata_quote(&b, "ab'c"), 0); /* 'ab''c' = 7 */
	assert_string_equal(b.ptr, "x='ab''c'");
	buf_release(&b);
}

static void test_in_filter(void **state)
{
	static const char *const two[] = {"a@x.com", "O'Brian@x.com"};
	struct buf b = BUF_INIT(4096);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(odata_in_filter(&b, "emailaddress", two, 2, &e), 0);
	/* PropertyValues is JSON: a quote stays single, in double quotes */
	assert_string_equal(b.ptr, "Microsoft.Dynamics.CRM.In(PropertyName="
				   "'emailaddress',PropertyValues=[\"a@x.com\","
				   "\"O'Brian@x.com\"])");
	buf_reset(&b);
	assert_int_equal(odata_in_filter(&b, "name", two, 1, &e), 0);
	assert_string_equal(b.ptr, "Microsoft.Dynamics.CRM.In(PropertyName="
				   "'name',PropertyValues=[\"a@x.com\"])");
	buf_release(&b);
}

/* Every value is a JSON string cJSON reads back as it was. */
static void test_in_filter_json(void **state)
{
	static const char *const vals[] = {"o'brien@x.com",
					   "a\"b@x.com",
					   "back\\slash@x.com",
					   "tab\there@x.com",
					   "J\xc3\xb6rg.M\xc3\xbcller@x.com",
					   "a+b&c#d%e;f@x.com"};
	struct buf b = BUF_INIT(4096), q = BUF_INIT(64);
	struct err e = ERR_INIT;
	const char *arr;
	cJSON *json, *it;
	size_t i = 0;

	(void)state;
	assert_int_equal(
	    odata_in_filter(&b, "emailaddress", vals, ARRAY_SIZE(vals), &e), 0);
	arr = strstr(b.ptr, "PropertyValues=") + strlen("PropertyValues=");
	assert_int_equal(b.ptr[b.len - 1], ')');
	json = cJSON_ParseWithLength(arr, (size_t)(b.ptr + b.len - 1 - arr));
	assert_true(cJSON_IsArray(json));
	assert_int_equal(cJSON_GetArraySize(json), ARRAY_SIZE(vals));
	cJSON_ArrayForEach(it, json)
	{
		assert_true(cJSON_IsString(it));
		assert_string_equal(it->valuestring, vals[i++]);
	}
	cJSON_Delete(json);
	assert_int_equal(odata_json_quote(&q, "x\"y"), 0);
	assert_string_equal(q.ptr, "\"x\\\"y\"");
	buf_release(&b);
	buf_release(&q);
}

/* 100 addresses, percent-encoded, within the 64 KB URL limit (§6.1). */
static void test_in_filter_100_addresses(void **state)
{
	char *vals[100];
	const char *cvals[100];
	struct buf expr = BUF_INIT(64 * 1024), url = BUF_INIT(64 * 1024);
	struct err e = ERR_INIT;
	const char *p;
	size_t commas = 0;

	(void)state;
	for (int i = 0; i < 100; i++) {
		char tmp[64];

		snprintf(tmp, sizeof(tmp), "user%03d'%s@contoso.com", i,
			 i % 2 ? "x" : "+y");
		vals[i] = xstrdup(tmp);
		cvals[i] = vals[i];
	}
	assert_int_equal(odata_in_filter(&expr, "emailaddress", cvals, 100, &e),
			 0);
	/* every value present, in double quotes, its quote as is, in order */
	p = expr.ptr;
	for (int i = 0; i < 100; i++) {
		char want[80];

		snprintf(want, sizeof(want), "\"user%03d'%s@contoso.com\"", i,
			 i % 2 ? "x" : "+y");
		p = strstr(p, want);
		if (!p)
			fail_msg("value %d missing or out of order", i);
	}
	for (p = expr.ptr; *p; p++)
		commas += *p == ',';
	assert_int_equal(commas, 100); /* PropertyName=...,  + 99 */

	buf_addstr(&url, "mailboxes?$select=mailboxid,emailaddress&$filter=");
	assert_int_equal(odata_url_encode(&url, expr.ptr, expr.len), 0);
	assert_true(url.len < 65536);
	/* nothing in the value can split the query string or the line */
	p = strstr(url.ptr, "$filter=") + 8;
	assert_null(strpbrk(p, " &+#'\"@,=\r\n"));
	for (int i = 0; i < 100; i++)
		free(vals[i]);
	buf_release(&expr);
	buf_release(&url);
}

static void test_in_filter_rejects(void **state)
{
	static const char *const one[] = {"a"};
	static const char *const bad_props[] = {"", "email address", "a'b",
						"x)", "na-me"};
	struct buf b = BUF_INIT(4096), small = BUF_INIT(40);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(odata_in_filter(&b, "emailaddress", one, 0, &e), -1);
	assert_non_null(strstr(e.msg, "without any value"));
	for (size_t i = 0; i < ARRAY_SIZE(bad_props); i++) {
		err_clear(&e);
		assert_int_equal(odata_in_filter(&b, bad_props[i], one, 1, &e),
				 -1);
		assert_true(e.msg[0] != '\0');
	}
	assert_int_equal(b.len, 0);
	err_clear(&e);
	buf_addstr(&small, "keep");
	assert_int_equal(odata_in_filter(&small, "emailaddress", one, 1, &e),
			 -1);
	assert_non_null(strstr(e.msg, "too long"));
	assert_string_equal(small.ptr, "keep");
	buf_release(&b);
	buf_release(&small);
}

static void test_guid(void **state)
{
	static const struct {
		const char *in, *want; /* want NULL: not a GUID */
	} t[] = {
	    {"11111111-2222-3333-4444-555555555555",
	     "11111111-2222-3333-4444-555555555555"},
	    {"ABCDEF01-abcd-EF01-2345-6789ABCDEF01",
	     "abcdef01-abcd-ef01-2345-6789abcdef01"},
	    {"{ABCDEF01-abcd-EF01-2345-6789ABCDEF01}",
	     "abcdef01-abcd-ef01-2345-6789abcdef01"},
	    {"ABCDEF01abcdEF0123456789ABCDEF01",
	     "abcdef01-abcd-ef01-2345-6789abcdef01"},
	    {"", NULL},
	    {"11111111-2222-3333-4444-55555555555", NULL},   /* short */
	    {"11111111-2222-3333-4444-5555555555555", NULL}, /* long */
	    {"11111111-2222-3333-4444_555555555555", NULL},
	    {"1111111-22222-3333-4444-555555555555", NULL}, /* hyphen moved */
	    {"g1111111-2222-3333-4444-555555555555", NULL},
	    {" 11111111-2222-3333-4444-555555555555", NULL},
	    {"11111111-2222-3333-4444-555555555555 ", NULL},
	    {"{11111111-2222-3333-4444-555555555555", NULL},
	    {"(11111111-2222-3333-4444-555555555555)", NULL},
	    {"{11111111222233334444555555555555}", NULL},
	    {"user@contoso.com", NULL},
	    {"11111111-2222-3333-4444-55555555555\xc3\xa9", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char out[ODATA_GUID_LEN + 1] = "junk";

		assert_int_equal(odata_is_guid(t[i].in), t[i].want != NULL);
		if (t[i].want) {
			assert_int_equal(odata_guid_normalize(out, t[i].in), 0);
			assert_string_equal(out, t[i].want);
		} else {
			assert_int_equal(odata_guid_normalize(out, t[i].in),
					 -1);
			assert_string_equal(out, "");
		}
	}
}

static void test_id_from_url(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
	    {"https://contoso.crm.dynamics.com/api/data/v9.2/mailboxes("
	     "11111111-1111-1111-1111-111111111111)",
	     "11111111-1111-1111-1111-111111111111"},
	    {"/api/data/v9.2/roles(AAAAAAAA-1111-1111-1111-111111111111)",
	     "aaaaaaaa-1111-1111-1111-111111111111"},
	    {"systemusers(11111111-1111-1111-1111-111111111111)/"
	     "systemuserroles_association(22222222-2222-2222-2222-"
	     "222222222222)/$ref",
	     "22222222-2222-2222-2222-222222222222"},
	    {"mailboxes", NULL},
	    {"mailboxes(", NULL},
	    {"mailboxes(123)", NULL},
	    {"mailboxes(name='x')", NULL},
	    {"", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char out[ODATA_GUID_LEN + 1] = "junk";
		int rc = odata_id_from_url(out, t[i].in);

		assert_int_equal(rc, t[i].want ? 0 : -1);
		assert_string_equal(out, t[i].want ? t[i].want : "");
	}
}

static void test_parse_error(void **state)
{
	static const struct {
		const char *body;
		int rc;
		const char *code, *message;
	} t[] = {
	    /* docs/fidelity.md */
	    {"{\"error\":{\"code\":\"0x80040217\",\"message\":\"mailbox "
	     "With Id = 1 Does Not Exist\"}}",
	     0, "0x80040217", "mailbox With Id = 1 Does Not Exist"},
	    /* annotations and unknown members are ignored */
	    {"{\"error\":{\"code\":\"0x80072322\",\"message\":\"Number of "
	     "requests exceeded the limit of 6000 over time window of 300 "
	     "seconds.\",\"@Microsoft.PowerApps.CDS.ErrorDetails."
	     "OperationStatus\":\"0\",\"@Microsoft.PowerApps.CDS.HelpLink\":"
	     "\"http://x\"}}",
	     0, "0x80072322",
	     "Number of requests exceeded the limit of 6000 over time "
	     "window of 300 seconds."},
	    /* an older example has an empty code */
	    {"{\"error\":{\"code\":\"\",\"message\":\"The version of the "
	     "existing record doesn't match the RowVersion property "
	     "provided.\"}}",
	     0, "",
	     "The version of the existing record doesn't match the "
	     "RowVersion property provided."},
	    {"{\"error\":{\"code\":-2147220969,\"message\":\"m\"}}", 0,
	     "-2147220969", "m"},
	    {"{\"error\":{\"message\":\"only a message\"}}", 0, "",
	     "only a message"},
	    {"{\"error\":{\"code\":\"0x1\"}}", 0, "0x1", ""},
	    {" \n{\"error\":{\"code\":\"0x2\",\"message\":\"line\\r\\nbreak "
	     "\\u00e9\"}}\n",
	     0, "0x2", "line\r\nbreak \xc3\xa9"},
	    /* Entra ID token endpoint */
	    {"{\"error\":\"invalid_client\",\"error_description\":"
	     "\"AADSTS7000215: Invalid client secret provided.\","
	     "\"error_codes\":[7000215]}",
	     0, "invalid_client",
	     "AADSTS7000215: Invalid client secret provided."},
	    {"{\"error\":\"invalid_scope\"}", 0, "invalid_scope", ""},
	    /* malformed */
	    {"", -1, "", ""},
	    {"not json", -1, "", ""},
	    {"{\"error\":{\"code\":\"0x1\"", -1, "", ""},
	    {"{\"value\":[]}", -1, "", ""},
	    {"{\"error\":{}}", -1, "", ""},
	    {"{\"error\":null}", -1, "", ""},
	    {"{\"error\":42}", -1, "", ""},
	    {"[{\"error\":{\"code\":\"0x1\",\"message\":\"m\"}}]", -1, "", ""},
	    {"\"error\"", -1, "", ""},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct odata_error oe;

		memset(&oe, 'x', sizeof(oe));
		if (odata_parse_error(&oe, t[i].body, strlen(t[i].body)) !=
		    t[i].rc)
			fail_msg("case %zu: '%s'", i, t[i].body);
		assert_string_equal(oe.code, t[i].code);
		assert_string_equal(oe.message, t[i].message);
	}
}

static void test_parse_error_not_terminated_and_truncated(void **state)
{
	struct buf b = BUF_INIT(BUF_MAX_BODY);
	struct odata_error oe;
	const char *body =
	    "{\"error\":{\"code\":\"0x80040220\",\"message\":\"m\"}}"
	    "GARBAGE-NOT-PART-OF-IT";

	(void)state;
	/* the length, not a NUL, ends the body */
	assert_int_equal(odata_parse_error(&oe, body, 45), 0);
	assert_string_equal(oe.code, "0x80040220");
	assert_int_equal(odata_parse_error(&oe, body, 44), -1);
	assert_int_equal(odata_parse_error(&oe, NULL, 0), -1);

	/* a long message is cut at a character boundary */
	buf_addstr(&b, "{\"error\":{\"code\":\"0x1\",\"message\":\"");
	for (int i = 0; i < 400; i++)
		buf_addstr(&b, "\xc3\xa9"); /* 2 bytes each: 800 bytes */
	buf_addstr(&b, "\"}}");
	assert_int_equal(odata_parse_error(&oe, b.ptr, b.len), 0);
	assert_int_equal(strlen(oe.message), 510); /* 255 whole characters */
	assert_int_equal((unsigned char)oe.message[508], 0xc3);
	assert_int_equal((unsigned char)oe.message[509], 0xa9);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_encode),
	    cmocka_unit_test(test_url_encode_every_byte),
	    cmocka_unit_test(test_url_encode_embedded_nul_and_cap),
	    cmocka_unit_test(test_quote),
	    cmocka_unit_test(test_quote_cap_leaves_buffer_unchanged),
	    cmocka_unit_test(test_in_filter),
	    cmocka_unit_test(test_in_filter_json),
	    cmocka_unit_test(test_in_filter_100_addresses),
	    cmocka_unit_test(test_in_filter_rejects),
	    cmocka_unit_test(test_guid),
	    cmocka_unit_test(test_id_from_url),
	    cmocka_unit_test(test_parse_error),
	    cmocka_unit_test(test_parse_error_not_terminated_and_truncated),
	};
	return cmocka_run_group_tests_name("odata", tests, NULL, NULL);
}
