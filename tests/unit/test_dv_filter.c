#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "dvsim/filter.h"
#include "dvsim/org.h"

#include "banned.h"

static const char row_json[] =
    "{\"mailboxid\":\"11111111-2222-4333-8444-555555555555\","
    "\"name\":\"O'Brian Mailbox\",\"emailaddress\":\"Ann.OBrian@Contoso.com\","
    "\"incomingemaildeliverymethod\":2,\"outgoingemaildeliverymethod\":1,"
    "\"actdeliverymethod\":1,\"emailrouteraccessapproval\":2,"
    "\"testemailconfigurationscheduled\":false,\"enabledforact\":true,"
    "\"testemailconfigurationretrycount\":3,"
    "\"testmailboxaccesscompletedon\":\"2024-05-01T10:00:00Z\","
    "\"_ownerid_value\":\"aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee\","
    "\"_emailserverprofile_value\":null}";

static const struct dv_entity *mailbox(void)
{
	return dv_entity_by_set("mailboxes");
}

static const char *aliases(void *ctx, const char *name)
{
	(void)ctx;
	if (!strcmp(name, "@p1"))
		return "'emailaddress'";
	if (!strcmp(name, "@p2"))
		return "[\"x@y.z\",\"ann.obrian@contoso.com\"]";
	return NULL;
}

static void test_filter_matches(void **state)
{
	static const struct {
		const char *filter;
		bool want;
	} t[] = {
	    {"incomingemaildeliverymethod eq 2", true},
	    {"incomingemaildeliverymethod ne 2", false},
	    {"outgoingemaildeliverymethod lt 2", true},
	    {"outgoingemaildeliverymethod le 1", true},
	    {"outgoingemaildeliverymethod gt 1", false},
	    {"testemailconfigurationretrycount ge 3", true},
	    {"emailaddress eq 'ann.obrian@contoso.com'", true}, /* case */
	    {"emailaddress eq 'ANN.OBRIAN@CONTOSO.COM'", true},
	    {"emailaddress eq 'other@contoso.com'", false},
	    {"name eq 'O''Brian Mailbox'", true},
	    {"name eq 'O''Brian'", false},
	    {"contains(name,'brian')", true},
	    {"startswith(emailaddress,'ann.')", true},
	    {"endswith(emailaddress,'@CONTOSO.COM')", true},
	    {"endswith(emailaddress,'@fabrikam.com')", false},
	    {"_ownerid_value eq AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE", true},
	    {"_ownerid_value eq aaaaaaaa-bbbb-4ccc-8ddd-000000000000", false},
	    {"_emailserverprofile_value eq null", true},
	    {"_emailserverprofile_value ne null", false},
	    {"_ownerid_value ne null", true},
	    {"testemailconfigurationscheduled eq false", true},
	    {"enabledforact", true},
	    {"not enabledforact", false},
	    {"enabledforact eq true and not (actdeliverymethod eq 2)", true},
	    {"incomingemaildeliverymethod eq 1 or outgoingemaildeliverymethod "
	     "eq 1",
	     true},
	    {"(incomingemaildeliverymethod eq 1 or outgoingemaildeliverymethod "
	     "eq 2) and actdeliverymethod eq 1",
	     false},
	    {"not (incomingemaildeliverymethod eq 1) and "
	     "emailrouteraccessapproval "
	     "ne 1",
	     true},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress',"
	     "PropertyValues=['a@b.c','Ann.OBrian@contoso.com'])",
	     true},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress',"
	     "PropertyValues=['a@b.c'])",
	     false},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='"
	     "emailrouteraccessapproval',"
	     "PropertyValues=['0','2'])",
	     true},
	    {"Microsoft.Dynamics.CRM.In(PropertyName=@p1,PropertyValues=@p2)",
	     true},
	    /* PropertyValues is JSON: double quotes, a quote kept single */
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',"
	     "PropertyValues=[\"x\", \"O'Brian Mailbox\"])",
	     true},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress',"
	     "PropertyValues=[\"a\\\"b@c\",\"ann.obrian@contoso.com\"])",
	     true},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress',"
	     "PropertyValues=[\"ann.obrian\\u0040contoso.com\"])",
	     true},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',"
	     "PropertyValues=[\"O''Brian Mailbox\"])",
	     false},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='"
	     "emailrouteraccessapproval'"
	     ",PropertyValues=[2])",
	     true},
	    {"testmailboxaccesscompletedon gt 2024-01-01T00:00:00Z", true},
	    {"testmailboxaccesscompletedon lt 2024-01-01", false},
	    {"true", true},
	    {"  emailaddress   eq   'ann.obrian@contoso.com'  ", true},
	};
	cJSON *row = cJSON_Parse(row_json);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char msg[512];
		struct dv_filter *f = dv_filter_parse(
		    mailbox(), t[i].filter, aliases, NULL, msg, sizeof(msg));

		if (!f)
			fail_msg("'%s' did not parse: %s", t[i].filter, msg);
		if (dv_filter_match(f, NULL, row) != t[i].want)
			fail_msg("'%s' should be %s", t[i].filter,
				 t[i].want ? "true" : "false");
		dv_filter_free(f);
	}
	cJSON_Delete(row);
}

static void test_filter_rejects(void **state)
{
	static const struct {
		const char *filter;
		const char *msg; /* a part of the message */
	} t[] = {
	    {"", "single boolean value"},
	    {"name eq", "Syntax error at position 8"},
	    {"nme eq 'x'", "Could not find a property named 'nme' on type "
			   "'Microsoft.Dynamics.CRM.mailbox'."},
	    {"name eq 'unterminated", "unterminated string literal"},
	    {"name eq 5", "incompatible types"},
	    {"incomingemaildeliverymethod eq '2'", "'Edm.Int32' and "
						   "'Edm.String'"},
	    {"_ownerid_value eq 'not-a-guid'", "'Edm.Guid' and 'Edm.String'"},
	    {"enabledforact eq 1", "incompatible types"},
	    {"(name eq 'x'", "Syntax error"},
	    {"name eq 'x')", "Syntax error"},
	    {"name eq 'x' and", "Syntax error"},
	    {"name eq 'x' xor name eq 'y'", "Syntax error"},
	    {"name", "single boolean value"},
	    {"contains(incomingemaildeliverymethod,'2')",
	     "No function signature for the function with name 'contains'"},
	    {"substringof('a',name)", "unknown function with name "
				      "'substringof'"},
	    {"Microsoft.Dynamics.CRM.NotIn(PropertyName='name',"
	     "PropertyValues=['a'])",
	     "unknown function"},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='nope',PropertyValues=['a'"
	     "])",
	     "Could not find a property named 'nope'"},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='"
	     "incomingemaildeliverymethod',"
	     "PropertyValues=['two'])",
	     "not valid for the property"},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['"
	     "a'",
	     "Syntax error"},
	    {"Microsoft.Dynamics.CRM.In(PropertyName=@missing,PropertyValues=['"
	     "a'])",
	     "parameter alias '@missing'"},
	    /* the doubled quote is for a single literal, not the JSON array */
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',"
	     "PropertyValues=['a','O''Brian Mailbox'])",
	     "Invalid JSON. A comma character ',' was expected in scope "
	     "'Array'. Every two elements in an array and properties of an "
	     "object must be separated by commas."},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',"
	     "PropertyValues=[\"a\" \"b\"])",
	     "A comma character ',' was expected"},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',"
	     "PropertyValues=[\"a\",])",
	     "Invalid JSON"},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='name',"
	     "PropertyValues=[\"a)",
	     "Unterminated string"},
	    {"name eq 'a' # 1", "Syntax error"},
	    {"emailserverprofile/nope eq 'x'",
	     "Could not find a property named 'nope' on type "
	     "'Microsoft.Dynamics.CRM.emailserverprofile'."},
	    {"12abc eq 1", "Syntax error"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char msg[512];
		struct dv_filter *f = dv_filter_parse(
		    mailbox(), t[i].filter, aliases, NULL, msg, sizeof(msg));

		if (f) {
			dv_filter_free(f);
			fail_msg("'%s' should not parse", t[i].filter);
		}
		if (!strstr(msg, t[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", t[i].filter,
				 msg, t[i].msg);
	}
}

static void test_filter_deep_nesting_is_refused(void **state)
{
	char text[4096];
	size_t n = 0;
	char msg[256];
	struct dv_filter *f;

	(void)state;
	for (int i = 0; i < 1000; i++)
		text[n++] = '(';
	memcpy(text + n, "name eq 'x'", 11);
	n += 11;
	for (int i = 0; i < 1000; i++)
		text[n++] = ')';
	text[n] = '\0';
	f = dv_filter_parse(mailbox(), text, NULL, NULL, msg, sizeof(msg));
	assert_null(f);
	assert_non_null(strstr(msg, "nested too deeply"));
}

static void test_filter_index_hint(void **state)
{
	static const struct {
		const char *filter;
		const char *col; /* NULL: no hint */
		size_t n;
	} t[] = {
	    {"emailaddress eq 'a@b.c'", "emailaddress", 1},
	    {"statecode eq 0 and emailaddress eq 'a@b.c'", "emailaddress", 1},
	    {"Microsoft.Dynamics.CRM.In(PropertyName='emailaddress',"
	     "PropertyValues=['a','b','c'])",
	     "emailaddress", 3},
	    {"emailaddress eq 'a' or name eq 'b'", NULL, 0},
	    {"not (emailaddress eq 'a')", NULL, 0},
	    {"statecode eq 0", NULL, 0},
	    {"mailboxid eq 11111111-2222-4333-8444-555555555555", "mailboxid",
	     1},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char msg[256];
		struct dv_filter *f = dv_filter_parse(
		    mailbox(), t[i].filter, NULL, NULL, msg, sizeof(msg));
		const char *col = NULL;
		const char *const *vals = NULL;
		size_t n = 0;
		bool h;

		assert_non_null(f);
		h = dv_filter_index_hint(f, &col, &vals, &n);
		if (!t[i].col) {
			assert_false(h);
		} else {
			assert_true(h);
			assert_string_equal(col, t[i].col);
			assert_int_equal(n, t[i].n);
		}
		dv_filter_free(f);
	}
}

static void test_filter_navigation_path(void **state)
{
	struct dv_org *org = dv_org_new();
	struct err e = ERR_INIT;
	struct dv_table *mt;
	char msg[256];
	struct dv_filter *f;
	size_t hits = 0, total = 0;

	(void)state;
	assert_int_equal(dv_org_generate(org, 30, "profile=50", 3, &e), 0);
	f = dv_filter_parse(mailbox(),
			    "emailserverprofile/name eq 'microsoft exchange "
			    "online'",
			    NULL, NULL, msg, sizeof(msg));
	assert_non_null(f);
	mt = dv_table(org, DV_MAILBOXES);
	for (size_t i = 0; i < mt->n; i++) {
		const char *p =
		    dv_str(mt->rows[i]->obj, "_emailserverprofile_value");
		struct dv_row *pr =
		    p ? dv_row_get(dv_table(org, DV_PROFILES), p) : NULL;
		bool want = pr && !strcmp(dv_str(pr->obj, "name"),
					  "Microsoft Exchange Online");

		assert_int_equal(dv_filter_match(f, org, mt->rows[i]->obj),
				 want);
		hits += want;
		total++;
	}
	assert_true(hits > 0 && hits < total);
	dv_filter_free(f);
	dv_org_free(org);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_filter_matches),
	    cmocka_unit_test(test_filter_rejects),
	    cmocka_unit_test(test_filter_deep_nesting_is_refused),
	    cmocka_unit_test(test_filter_index_hint),
	    cmocka_unit_test(test_filter_navigation_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
