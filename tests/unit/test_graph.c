#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diagnose.h"
#include "graph.h"

#include "banned.h"

static const struct graph_answer *by_id(const struct graph_answer *a, size_t n,
					const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].id, id))
			return &a[i];
	return NULL;
}

/* Answers come in any order, each with its own status and headers. */
static void test_batch_any_order(void **state)
{
	static const char text[] =
	    "{\"responses\":["
	    "{\"id\":\"3\",\"status\":429,\"headers\":{\"retry-after\":\"7\","
	    "\"Content-Type\":\"application/json\"},\"body\":{\"error\":{"
	    "\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}},"
	    "{\"id\":\"1\",\"status\":200,\"headers\":{},\"body\":{\"id\":"
	    "\"u1\",\"mail\":\"a@contoso.com\"}},"
	    "{\"id\":\"2\",\"status\":404,\"body\":{\"error\":{\"code\":"
	    "\"Request_ResourceNotFound\",\"message\":\"x\"}}}]}";
	struct graph_answer *a;
	const struct graph_answer *one;
	size_t n;
	char why[128];
	cJSON *root;

	(void)state;
	root = graph_parse_batch(text, strlen(text), &a, &n, why, sizeof(why));
	assert_non_null(root);
	assert_int_equal(n, 3);
	one = by_id(a, n, "1");
	assert_non_null(one);
	assert_int_equal(one->status, 200);
	assert_int_equal(one->retry_after_s, -1);
	assert_string_equal(
	    cJSON_GetStringValue(cJSON_GetObjectItem(one->body, "mail")),
	    "a@contoso.com");
	one = by_id(a, n, "2");
	assert_int_equal(one->status, 404);
	one = by_id(a, n, "3");
	assert_int_equal(one->status, 429);
	assert_int_equal(one->retry_after_s, 7); /* header name any case */
	free(a);
	cJSON_Delete(root);
}

static void test_batch_malformed(void **state)
{
	static const char *const bad[] = {
	    "not json",
	    "{\"value\":[]}",			  /* no responses */
	    "{\"responses\":[{\"status\":200}]}", /* no id */
	    "{\"responses\":[{\"id\":\"1\"}]}",	  /* no status */
	    "{\"responses\":{\"id\":\"1\"}}",	  /* not an array */
	};
	char why[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct graph_answer *a = (void *)1;
		size_t n = 9;

		why[0] = '\0';
		assert_null(graph_parse_batch(bad[i], strlen(bad[i]), &a, &n,
					      why, sizeof(why)));
		assert_null(a);
		assert_int_equal(n, 0);
		assert_true(why[0] != '\0');
	}
}

static cJSON *user(const char *json)
{
	cJSON *u = cJSON_Parse(json);

	assert_non_null(u);
	return u;
}

static void test_proxy_addresses(void **state)
{
	cJSON *u = user("{\"mail\":\"Ada.Adams@contoso.com\","
			"\"proxyAddresses\":[\"SMTP:Ada.Adams@contoso.com\","
			"\"smtp:ada@contoso.onmicrosoft.com\","
			"\"X500:/o=ExchangeLabs/cn=ada@old.example\","
			"\"sip:ada@sip.contoso.com\"]}");
	cJSON *nomail = user("{\"mail\":null,\"proxyAddresses\":["
			     "\"smtp:Legacy@Contoso.com\"]}");

	(void)state;
	assert_true(graph_address_matches(u, "ada.adams@contoso.com"));
	assert_true(graph_address_matches(u, "ADA@CONTOSO.ONMICROSOFT.COM"));
	/* other address types are not SMTP addresses */
	assert_false(graph_address_matches(u, "ada@old.example"));
	assert_false(graph_address_matches(u, "ada@sip.contoso.com"));
	assert_false(graph_address_matches(u, "ada@contoso.com"));
	assert_false(graph_address_matches(u, ""));
	assert_false(graph_address_matches(u, NULL));
	assert_true(graph_address_matches(nomail, "legacy@contoso.com"));
	assert_false(graph_address_matches(nomail, "smtp:legacy@contoso.com"));
	cJSON_Delete(u);
	cJSON_Delete(nomail);
}

static void test_exchange_plan(void **state)
{
	cJSON *on = user("{\"assignedPlans\":[{\"service\":\"SharePoint\","
			 "\"capabilityStatus\":\"Enabled\"},{\"service\":"
			 "\"exchange\",\"capabilityStatus\":\"Enabled\"}]}");
	cJSON *gone =
	    user("{\"assignedPlans\":[{\"service\":\"exchange\","
		 "\"capabilityStatus\":\"Deleted\"},{\"service\":"
		 "\"exchange\",\"capabilityStatus\":\"Suspended\"}]}");
	cJSON *none = user("{\"assignedPlans\":[]}");
	cJSON *grace = user("{\"assignedPlans\":[{\"service\":\"exchange\","
			    "\"capabilityStatus\":\"Warning\"}]}");

	(void)state;
	assert_true(graph_has_exchange(grace));
	cJSON_Delete(grace);
	assert_true(graph_has_exchange(on));
	assert_false(graph_has_exchange(gone));
	assert_false(graph_has_exchange(none));
	cJSON_Delete(on);
	cJSON_Delete(gone);
	cJSON_Delete(none);
}

#define EXO                                                                    \
	"\"assignedPlans\":[{\"service\":\"exchange\",\"capabilityStatus\":"   \
	"\"Enabled\"}]"

static void test_judge(void **state)
{
	char *domains[] = {(char *)"contoso.com",
			   (char *)"contoso.onmicrosoft.com"};
	struct graph_tenant t = {
	    .id = "tid", .domains = domains, .ndomains = 2};
	struct graph_subject s = {.objectid = "11111111-aaaa",
				  .upn = "ada@contoso.com",
				  .address = "ada@contoso.com",
				  .profile_type = 3};
	cJSON *ok = user("{\"id\":\"11111111-AAAA\",\"mail\":\"ada@contoso."
			 "com\"," EXO "}");
	cJSON *other = user("{\"id\":\"22222222-bbbb\",\"mail\":\"ada@contoso."
			    "com\"," EXO "}");
	cJSON *nolic = user("{\"id\":\"11111111-aaaa\",\"mail\":\"ada@contoso."
			    "com\",\"assignedPlans\":[]}");
	cJSON *addr = user("{\"id\":\"11111111-aaaa\",\"mail\":\"ada@contoso."
			   "onmicrosoft.com\",\"proxyAddresses\":[\"SMTP:ada@"
			   "contoso.onmicrosoft.com\"]," EXO "}");
	cJSON *guest = user("{\"id\":\"11111111-aaaa\",\"userType\":\"Guest\","
			    "\"mail\":\"ada@contoso.com\"," EXO "}");
	char d[600];

	(void)state;
	assert_int_equal(graph_judge(&s, ok, &t, d, sizeof(d)), GRAPH_OK);
	assert_int_equal(graph_judge(&s, NULL, &t, d, sizeof(d)),
			 GRAPH_RECREATED);
	assert_int_equal(graph_judge(&s, other, &t, d, sizeof(d)),
			 GRAPH_RECREATED);
	assert_non_null(strstr(d, "22222222-bbbb"));
	assert_non_null(strstr(d, "11111111-aaaa"));
	assert_int_equal(graph_judge(&s, nolic, &t, d, sizeof(d)),
			 GRAPH_NO_LICENCE);
	assert_int_equal(graph_judge(&s, addr, &t, d, sizeof(d)),
			 GRAPH_ADDRESS);
	assert_non_null(strstr(d, "ada@contoso.onmicrosoft.com"));
	assert_int_equal(graph_judge(&s, guest, &t, d, sizeof(d)),
			 GRAPH_OTHER_TENANT);
	s.address = "ada@fabrikam.com";
	assert_int_equal(graph_judge(&s, ok, &t, d, sizeof(d)),
			 GRAPH_OTHER_TENANT);
	/* without the verified domains, only a guest shows another tenant */
	assert_int_equal(graph_judge(&s, ok, NULL, d, sizeof(d)),
			 GRAPH_ADDRESS);
	s.address = "ada@contoso.com";
	/* an Exchange Server profile for a cloud mailbox */
	s.profile_type = 2;
	assert_int_equal(graph_judge(&s, ok, &t, d, sizeof(d)), GRAPH_HYBRID);
	s.profile_type = 0;
	assert_int_equal(graph_judge(&s, ok, &t, d, sizeof(d)), GRAPH_HYBRID);
	/* on-premises mailbox: no Exchange Online plan is expected */
	assert_int_equal(graph_judge(&s, nolic, &t, d, sizeof(d)), GRAPH_OK);
	/* Graph answering for another tenant: every user, found or not */
	{
		struct graph_tenant elsewhere = {
		    .id = "!Microsoft Graph answers "
			  "for tenant a, Dataverse b"};

		assert_int_equal(
		    graph_judge(&s, NULL, &elsewhere, d, sizeof(d)),
		    GRAPH_OTHER_TENANT);
		assert_non_null(strstr(d, "tenant a"));
	}
	assert_string_equal(graph_cause_code(GRAPH_HYBRID),
			    "HybridProfileForCloudMailbox");
	assert_string_equal(graph_cause_code(GRAPH_OK), "");
	cJSON_Delete(ok);
	cJSON_Delete(other);
	cJSON_Delete(nolic);
	cJSON_Delete(addr);
	cJSON_Delete(guest);
}

/* The verified cause replaces the generic 401 with its own hint. */
static void test_diagnose_exchange(void **state)
{
	static const char *const codes[] = {
	    "UserRecreated", "OtherTenant", "NoExchangeLicence",
	    "AddressDiffersFromExchange", "HybridProfileForCloudMailbox"};
	struct diag d;
	struct diag_mailbox m;
	struct diag_alert a = {.level = 3,
			       .text = "HTTP 401 Unauthorized",
			       .errortype = "Unauthorized"};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_true(diagnose_exchange(codes[i], &d));
		assert_string_equal(d.code, codes[i]);
		assert_true(strlen(d.hint) > 20);
		/* one sentence: no list of causes */
		assert_null(strstr(d.hint, "(2)"));
	}
	assert_string_equal(d.action, "set_profile");
	assert_false(diagnose_exchange("Unauthorized", &d));
	diagnose_mailbox_init(&m);
	m.profile_type = 0;
	diagnose_mailbox(&m, &a, 1, &d);
	diagnose_exchange_clear(&d, 0);
	assert_string_equal(d.code, "Unauthorized");
	assert_non_null(strstr(d.hint, "Basic authentication"));
	assert_non_null(strstr(d.hint, "Graph cannot see"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_batch_any_order),
	    cmocka_unit_test(test_batch_malformed),
	    cmocka_unit_test(test_proxy_addresses),
	    cmocka_unit_test(test_exchange_plan),
	    cmocka_unit_test(test_judge),
	    cmocka_unit_test(test_diagnose_exchange),
	};
	return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
