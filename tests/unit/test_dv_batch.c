/* dvsim's $batch parser and executor (batch.c), with a fake Web API. */
#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "dvsim/batch.h"
#include "dvsim/variant.h"

#include "banned.h"

/* Microsoft's $batch example (docs/fidelity.md, K17), CRLF line ends. */
static const char example[] =
    "--batch_m1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "PATCH /api/data/v9.2/mailboxes(11111111-1111-1111-1111-111111111111) "
    "HTTP/1.1\r\n"
    "Content-Type: application/json; type=entry\r\n"
    "If-Match: *\r\n"
    "\r\n"
    "{\"incomingemaildeliverymethod\":2,\"outgoingemaildeliverymethod\":2,"
    "\"actdeliverymethod\":1,\r\n"
    " \"emailserverprofile@odata.bind\":\"/"
    "emailserverprofiles(22222222-2222-2222-2222-222222222222)\"}\r\n"
    "--batch_m1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "PATCH /api/data/v9.2/mailboxes(33333333-3333-3333-3333-333333333333) "
    "HTTP/1.1\r\n"
    "Content-Type: application/json; type=entry\r\n"
    "If-Match: *\r\n"
    "\r\n"
    "{\"testemailconfigurationscheduled\":true}\r\n"
    "--batch_m1--\r\n";

static const char changeset[] =
    "--batch_x\n"
    "Content-Type: multipart/mixed; boundary=changeset_y\n"
    "\n"
    "--changeset_y\n"
    "Content-Type: application/http\n"
    "Content-Transfer-Encoding: binary\n"
    "Content-ID: 1\n"
    "\n"
    "POST https://org.example.com/api/data/v9.2/accounts HTTP/1.1\n"
    "Content-Type: application/json\n"
    "\n"
    "{\"name\":\"a\"}\n"
    "--changeset_y\n"
    "Content-Type: application/http\n"
    "Content-Transfer-Encoding: binary\n"
    "Content-ID: 2\n"
    "\n"
    "POST $1/contact_customer_accounts HTTP/1.1\n"
    "Content-Type: application/json\n"
    "\n"
    "{\"lastname\":\"b\",\"parent@odata.bind\":\"$1\"}\n"
    "--changeset_y--\n"
    "--batch_x\n"
    "Content-Type: application/http\n"
    "Content-Transfer-Encoding: binary\n"
    "\n"
    "GET accounts?$select=name HTTP/1.1\n"
    "\n"
    "--batch_x--\n";

static void test_parse_reference_example(void **state)
{
	struct batch b;
	char msg[256];

	(void)state;
	assert_int_equal(
	    batch_parse(&b, "multipart/mixed; boundary=\"batch_m1\"", example,
			strlen(example), msg, sizeof(msg)),
	    BATCH_PARSE_OK);
	assert_int_equal(b.nops, 2);
	assert_int_equal(b.nchangesets, 0);
	assert_string_equal(b.ops[0].method, "PATCH");
	assert_string_equal(
	    b.ops[0].url,
	    "/api/data/v9.2/mailboxes(11111111-1111-1111-1111-111111111111)");
	assert_int_equal(b.ops[0].nheaders, 2);
	assert_string_equal(b.ops[0].headers[1].name, "If-Match");
	assert_string_equal(b.ops[0].headers[1].value, "*");
	assert_memory_equal(b.ops[0].body, "{\"incomingemaildeliverymethod\":2",
			    32);
	assert_int_equal(b.ops[0].body[b.ops[0].body_len - 1], '}');
	assert_string_equal(b.ops[1].body,
			    "{\"testemailconfigurationscheduled\":true}");
	assert_int_equal(b.ops[1].changeset, -1);
	assert_null(b.ops[1].content_id);
	batch_release(&b);
}

static void test_parse_lf_changeset(void **state)
{
	struct batch b;
	char msg[256];

	(void)state;
	assert_int_equal(batch_parse(&b, "multipart/mixed;boundary=batch_x",
				     changeset, strlen(changeset), msg,
				     sizeof(msg)),
			 BATCH_PARSE_OK);
	assert_int_equal(b.nops, 3);
	assert_int_equal(b.nchangesets, 1);
	assert_int_equal(b.ops[0].changeset, 0);
	assert_int_equal(b.ops[1].changeset, 0);
	assert_int_equal(b.ops[2].changeset, -1);
	assert_string_equal(b.ops[0].content_id, "1");
	assert_string_equal(b.ops[1].url, "$1/contact_customer_accounts");
	assert_string_equal(b.ops[2].method, "GET");
	assert_int_equal(b.ops[2].body_len, 0);
	batch_release(&b);
}

static void test_boundary(void **state)
{
	static const struct {
		const char *ct, *want;
	} t[] = {
	    {"multipart/mixed; boundary=\"batch_1\"", "batch_1"},
	    {"multipart/mixed;boundary=batch_2", "batch_2"},
	    {"multipart/mixed; charset=x; BOUNDARY=b3; x=y", "b3"},
	    {"multipart/mixed", NULL},
	    {"multipart/mixed; boundary=\"\"", NULL},
	    {"multipart/mixed; boundary=\"unterminated", NULL},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		char *b = batch_boundary(t[i].ct);

		if (t[i].want)
			assert_string_equal(b, t[i].want);
		else
			assert_null(b);
		free(b);
	}
}

static void test_malformed(void **state)
{
	static const struct {
		const char *ct, *body;
	} t[] = {
	    {"application/json", "{}"},
	    {"multipart/mixed", "--x\r\n\r\n--x--"},
	    {"multipart/mixed; boundary=b", "no delimiter here"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nGET x HTTP/1.1\r\n"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: text/plain\r\n\r\nGET x HTTP/1.1\r\n--b--"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nGET x\r\n--b--"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nget x "
	     "HTTP/1.1\r\n--b--"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type application/http\r\n\r\nGET x "
	     "HTTP/1.1\r\n--b--"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n--b--"},
	    {"multipart/mixed; boundary=b", "--b--"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	     "--c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n"
	     "--d\r\nContent-Type: application/http\r\n\r\nPOST x HTTP/1.1\r\n"
	     "--d--\r\n--c--\r\n--b--"},
	    {"multipart/mixed; boundary=b",
	     "--bb\r\nContent-Type: application/http\r\n\r\nGET x "
	     "HTTP/1.1\r\n--bb--"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct batch b;
		char msg[256] = "";

		assert_int_equal(batch_parse(&b, t[i].ct, t[i].body,
					     strlen(t[i].body), msg,
					     sizeof(msg)),
				 BATCH_PARSE_MALFORMED);
		assert_true(msg[0] != '\0');
		assert_int_equal(b.nops, 0);
	}
}

/*
 * The URL is what lies between the first and the last space of the
 * request line: a space a client left unencoded stays in it.
 */
static void test_request_line_space(void **state)
{
	static const char body[] =
	    "--b\r\nContent-Type: application/http\r\n\r\n"
	    "GET mailboxes?$select=name&$orderby=emailaddress desc HTTP/1.1\r\n"
	    "\r\n--b--\r\n";
	struct batch b;
	char msg[256];

	(void)state;
	assert_int_equal(batch_parse(&b, "multipart/mixed; boundary=b", body,
				     strlen(body), msg, sizeof(msg)),
			 BATCH_PARSE_OK);
	assert_int_equal(b.nops, 1);
	assert_string_equal(b.ops[0].method, "GET");
	assert_string_equal(
	    b.ops[0].url, "mailboxes?$select=name&$orderby=emailaddress desc");
	batch_release(&b);
}

static void test_too_many(void **state)
{
	struct buf body = BUF_INIT(BUF_MAX_BODY);
	struct batch b;
	char msg[256];

	(void)state;
	for (int i = 0; i < BATCH_MAX_OPS; i++)
		buf_addstr(&body,
			   "--b\r\nContent-Type: application/http\r\n\r\n"
			   "GET accounts HTTP/1.1\r\n\r\n");
	buf_addstr(&body, "--b--\r\n");
	assert_int_equal(batch_parse(&b, "multipart/mixed; boundary=b",
				     body.ptr, body.len, msg, sizeof(msg)),
			 BATCH_PARSE_OK);
	assert_int_equal(b.nops, BATCH_MAX_OPS);
	batch_release(&b);
	buf_setlen(&body, body.len - strlen("--b--\r\n"));
	buf_addstr(&body, "--b\r\nContent-Type: application/http\r\n\r\n"
			  "GET accounts HTTP/1.1\r\n\r\n--b--\r\n");
	assert_int_equal(batch_parse(&b, "multipart/mixed; boundary=b",
				     body.ptr, body.len, msg, sizeof(msg)),
			 BATCH_PARSE_TOO_MANY);
	assert_non_null(strstr(msg, "1000"));
	buf_release(&body);
}

/* The fake Web API --------------------------------------------------- */

struct fake {
	char urls[16][256];
	char bodies[16][256];
	int n;
	int begins, commits, rollbacks;
};

static int fake_handle(void *ctx, const struct dv_request *req,
		       struct dv_response *resp)
{
	struct fake *f = ctx;

	snprintf(f->urls[f->n], sizeof(f->urls[0]), "%s %s", req->method,
		 req->url);
	snprintf(f->bodies[f->n], sizeof(f->bodies[0]), "%.*s",
		 (int)req->body_len, req->body ? req->body : "");
	f->n++;
	if (strstr(req->url, "fail")) {
		dv_response_error(resp, 400, "0x80044331",
				  "A validation error occurred.");
		return 400;
	}
	if (!strcmp(req->method, "GET")) {
		resp->status = 200;
		buf_addstr(&resp->headers,
			   "Content-Type: application/json\r\n");
		buf_addstr(&resp->body, "{\"value\":[]}");
		return 200;
	}
	resp->status = 204;
	buf_addf(&resp->headers,
		 "OData-Version: 4.0\r\nOData-EntityId: "
		 "%saccounts(0000000%d-0000-0000-0000-000000000000)\r\n",
		 req->base_url, f->n);
	return 204;
}

static void fake_begin(void *ctx)
{
	((struct fake *)ctx)->begins++;
}
static void fake_commit(void *ctx)
{
	((struct fake *)ctx)->commits++;
}
static void fake_rollback(void *ctx)
{
	((struct fake *)ctx)->rollbacks++;
}

static int run(const char *body, bool coe, int fail_cs, struct fake *f,
	       struct dv_response *out, struct batch_result *res)
{
	struct batch b;
	struct batch_opts o = {.continue_on_error = coe,
			       .fail_changeset = fail_cs,
			       .caller = "u1",
			       .base_url = "http://h/api/data/v9.2/",
			       .nonce = 7};
	struct batch_exec x = {f, fake_handle, fake_begin, fake_commit,
			       fake_rollback};
	char msg[256];
	int status;

	memset(f, 0, sizeof(*f));
	assert_int_equal(batch_parse(&b, "multipart/mixed; boundary=b", body,
				     strlen(body), msg, sizeof(msg)),
			 BATCH_PARSE_OK);
	status = batch_execute(&b, &o, &x, res, out);
	batch_release(&b);
	return status;
}

#define PART(method, url, body)                                                \
	"--b\r\nContent-Type: application/http\r\n"                            \
	"Content-Transfer-Encoding: binary\r\n\r\n" method " " url             \
	" HTTP/1.1\r\nContent-Type: application/json\r\n\r\n" body "\r\n"

static const char three[] =
    PART("PATCH", "/api/data/v9.2/mailboxes(1)", "{\"a\":1}")
	PART("PATCH", "/api/data/v9.2/fail(2)", "{\"a\":2}")
	    PART("PATCH", "http://h/api/data/v9.2/mailboxes(3)",
		 "{\"a\":3}") "--b--\r\n";

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_stop_at_first_failure(void **state)
{
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[3];

	(void)state;
	dv_response_init(&out);
	assert_int_equal(run(three, false, -1, &f, &out, res), 400);
	assert_int_equal(f.n, 2); /* the third is not run */
	assert_string_equal(f.urls[0], "PATCH mailboxes(1)");
	assert_int_equal(res[0].status, 204);
	assert_true(res[0].committed);
	assert_int_equal(res[1].status, 400);
	assert_int_equal(res[2].status, 0);
	/* only the failing part is returned */
	assert_int_equal(count(out.body.ptr, "Content-Type: application/http"),
			 1);
	assert_non_null(strstr(out.body.ptr, "HTTP/1.1 400 Bad Request\r\n"));
	assert_null(strstr(out.body.ptr, "204"));
	assert_non_null(
	    strstr(out.headers.ptr,
		   "Content-Type: multipart/mixed; boundary=batchresponse_"));
	assert_null(strstr(out.headers.ptr, "Preference-Applied"));
	dv_response_release(&out);
}

static void test_continue_on_error(void **state)
{
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[3];
	char bnd[128], *p;

	(void)state;
	dv_response_init(&out);
	assert_int_equal(run(three, true, -1, &f, &out, res), 200);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.urls[2], "PATCH mailboxes(3)");
	assert_int_equal(count(out.body.ptr, "Content-Type: application/http"),
			 3);
	assert_non_null(strstr(out.headers.ptr,
			       "Preference-Applied: odata.continue-on-error"));
	/* the body is framed by the boundary the header names */
	p = strstr(out.headers.ptr, "boundary=");
	assert_non_null(p);
	snprintf(bnd, sizeof(bnd), "--%.*s--\r\n", (int)strcspn(p + 9, "\r"),
		 p + 9);
	assert_int_equal(strncmp(out.body.ptr, bnd, strlen(bnd) - 4), 0);
	assert_string_equal(out.body.ptr + out.body.len - strlen(bnd), bnd);
	dv_response_release(&out);
}

static const char cs_ok[] =
    "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
    "--c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: "
    "binary\r\n"
    "Content-ID: 1\r\n\r\nPOST /api/data/v9.2/accounts "
    "HTTP/1.1\r\n\r\n{\"name\":\"x\"}\r\n"
    "--c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: "
    "binary\r\n"
    "Content-ID: 2\r\n\r\nPATCH $1 "
    "HTTP/1.1\r\n\r\n{\"p@odata.bind\":\"$1\",\"q\":{\"@odata.id\":\"$1/"
    "x\"}}\r\n"
    "--c--\r\n"
    "--b--\r\n";

/* batch-echo-ok: the stop-on-error answer keeps the parts before too */
static void test_variant_echo_ok(void **state)
{
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[3];
	const char *ok, *bad;

	(void)state;
	dv_response_init(&out);
	dv_variants = DV_VAR_BATCH_ECHO_OK;
	assert_int_equal(run(three, false, -1, &f, &out, res), 400);
	dv_variants = 0;
	assert_int_equal(f.n, 2);
	assert_int_equal(count(out.body.ptr, "Content-Type: application/http"),
			 2);
	ok = strstr(out.body.ptr, "HTTP/1.1 204 No Content\r\n");
	bad = strstr(out.body.ptr, "HTTP/1.1 400 Bad Request\r\n");
	assert_non_null(ok);
	assert_non_null(bad);
	assert_true(ok < bad);
	dv_response_release(&out);
}

/* no-content-id: no answer part names its request */
static void test_variant_no_content_id(void **state)
{
	static const char with_ids[] =
	    "--b\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n"
	    "PATCH /api/data/v9.2/mailboxes(1) HTTP/1.1\r\n\r\n{}\r\n"
	    "--b\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n"
	    "PATCH /api/data/v9.2/fail(2) HTTP/1.1\r\n\r\n{}\r\n--b--\r\n";
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[2];

	(void)state;
	dv_response_init(&out);
	assert_int_equal(run(with_ids, true, -1, &f, &out, res), 200);
	assert_int_equal(count(out.body.ptr, "Content-ID: "), 2);
	dv_response_reset(&out);
	dv_variants = DV_VAR_NO_CONTENT_ID;
	assert_int_equal(run(with_ids, true, -1, &f, &out, res), 200);
	assert_int_equal(run(cs_ok, true, -1, &f, &out, res), 200);
	dv_variants = 0;
	assert_int_equal(count(out.body.ptr, "Content-Type: application/http"),
			 2);
	assert_null(strstr(out.body.ptr, "Content-ID"));
	dv_response_release(&out);
}

static void test_changeset_refs(void **state)
{
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[2];

	(void)state;
	dv_response_init(&out);
	assert_int_equal(run(cs_ok, false, -1, &f, &out, res), 200);
	assert_int_equal(f.begins, 1);
	assert_int_equal(f.commits, 1);
	assert_int_equal(f.rollbacks, 0);
	assert_string_equal(f.urls[0], "POST accounts");
	assert_string_equal(
	    f.urls[1], "PATCH accounts(00000001-0000-0000-0000-000000000000)");
	assert_non_null(strstr(
	    f.bodies[1], "\"p@odata.bind\":\"/"
			 "accounts(00000001-0000-0000-0000-000000000000)\""));
	assert_non_null(strstr(
	    f.bodies[1], "\"@odata.id\":\"/"
			 "accounts(00000001-0000-0000-0000-000000000000)/x\""));
	assert_true(res[0].committed && res[1].committed);
	assert_non_null(strstr(out.body.ptr, "boundary=changesetresponse_"));
	assert_non_null(strstr(out.body.ptr, "Content-ID: 1\r\n"));
	assert_non_null(strstr(out.body.ptr, "Content-ID: 2\r\n"));
	dv_response_release(&out);
}

static void test_changeset_rollback(void **state)
{
	static const char cs_fail[] =
	    "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	    "--c\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n"
	    "POST /api/data/v9.2/accounts HTTP/1.1\r\n\r\n{}\r\n"
	    "--c\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\n"
	    "PATCH /api/data/v9.2/fail(1) HTTP/1.1\r\n\r\n{}\r\n"
	    "--c--\r\n" PART("PATCH", "/api/data/v9.2/mailboxes(9)",
			     "{}") "--b--\r\n";
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[3];

	(void)state;
	dv_response_init(&out);
	assert_int_equal(run(cs_fail, true, -1, &f, &out, res), 200);
	assert_int_equal(f.rollbacks, 1);
	assert_int_equal(f.commits, 0);
	assert_false(res[0].committed);
	assert_int_equal(res[0].status, 204);
	assert_int_equal(res[1].status, 400);
	assert_true(res[2].committed);
	/* the change set is answered by its failing request alone */
	assert_null(strstr(out.body.ptr, "changesetresponse_"));
	assert_non_null(
	    strstr(out.body.ptr, "Content-ID: 2\r\n\r\nHTTP/1.1 400"));
	assert_int_equal(count(out.body.ptr, "HTTP/1.1 204"), 1);

	/* the failcs scenario fails the last request of change set 0 */
	assert_int_equal(run(cs_ok, false, 0, &f, &out, res), 400);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.rollbacks, 1);
	assert_non_null(strstr(out.body.ptr, "0x80044331"));
	dv_response_release(&out);
}

static void test_changeset_errors(void **state)
{
	static const char get_in_cs[] =
	    "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	    "--c\r\nContent-Type: application/http\r\n\r\n"
	    "GET /api/data/v9.2/accounts HTTP/1.1\r\n\r\n"
	    "--c--\r\n--b--\r\n";
	static const char bad_ref[] =
	    "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	    "--c\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n"
	    "POST /api/data/v9.2/accounts HTTP/1.1\r\n\r\n{}\r\n"
	    "--c\r\nContent-Type: application/http\r\n\r\n"
	    "POST $7/x HTTP/1.1\r\n\r\n{}\r\n"
	    "--c--\r\n--b--\r\n";
	struct fake f = {0};
	struct dv_response out;
	struct batch_result res[2];

	(void)state;
	dv_response_init(&out);
	assert_int_equal(run(get_in_cs, true, -1, &f, &out, res), 200);
	assert_int_equal(f.n, 0);
	assert_int_equal(res[0].status, 400);
	assert_int_equal(f.rollbacks, 1);
	assert_non_null(strstr(out.body.ptr, "GET requests are not allowed"));

	assert_int_equal(run(bad_ref, false, -1, &f, &out, res), 400);
	assert_int_equal(f.n, 1);
	assert_non_null(strstr(
	    out.body.ptr,
	    "Content-ID Reference: '$7' does not exist in the batch context."));
	dv_response_release(&out);
}

static void test_resource_path(void **state)
{
	(void)state;
	assert_string_equal(
	    batch_resource_path(
		"https://o.crm.dynamics.com/api/data/v9.2/roles(1)"),
	    "roles(1)");
	assert_string_equal(batch_resource_path("/api/data/v9.2/x?$filter=a"),
			    "x?$filter=a");
	assert_null(batch_resource_path("accounts"));
	assert_null(batch_resource_path("x?u=/api/data/v9.2/y"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_reference_example),
	    cmocka_unit_test(test_parse_lf_changeset),
	    cmocka_unit_test(test_boundary),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_request_line_space),
	    cmocka_unit_test(test_too_many),
	    cmocka_unit_test(test_stop_at_first_failure),
	    cmocka_unit_test(test_continue_on_error),
	    cmocka_unit_test(test_variant_echo_ok),
	    cmocka_unit_test(test_variant_no_content_id),
	    cmocka_unit_test(test_changeset_refs),
	    cmocka_unit_test(test_changeset_rollback),
	    cmocka_unit_test(test_changeset_errors),
	    cmocka_unit_test(test_resource_path),
	};

	return cmocka_run_group_tests_name("dv_batch", tests, NULL, NULL);
}
