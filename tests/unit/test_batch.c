#include "compat.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "buf.h"
#include "err.h"
#include "odata.h"

#include "banned.h"

#define FIXTURES "tests/unit/fixtures/batch/"

/* Read a fixture (LF line ends) into 'out'; with 'crlf', as CRLF. */
static void load(struct buf *out, const char *name, bool crlf)
{
	char path[256];
	FILE *f;
	int c;

	snprintf(path, sizeof(path), "%s%s",
		 getenv("FIXTURES") ? getenv("FIXTURES") : FIXTURES, name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg(
		    "cannot open fixture '%s' (run from the top directory)",
		    path);
	while ((c = fgetc(f)) != EOF) {
		if (c == '\n' && crlf)
			assert_int_equal(buf_addch(out, '\r'), 0);
		assert_int_equal(buf_addch(out, (char)c), 0);
	}
	fclose(f);
}

/*
 * A response fixture: its first line is the Content-Type, the rest the
 * body. 'ct' and 'body' point into 'raw'.
 */
struct resp_fixture {
	struct buf raw;
	char ct[256];
	const char *body;
	size_t len;
};

static void load_response(struct resp_fixture *r, const char *name, bool crlf)
{
	const char *nl;
	size_t n;

	buf_init(&r->raw, BUF_MAX_BODY);
	load(&r->raw, name, crlf);
	nl = strchr(r->raw.ptr, '\n');
	assert_non_null(nl);
	n = (size_t)(nl - r->raw.ptr);
	if (n && r->raw.ptr[n - 1] == '\r')
		n--;
	assert_true(n < sizeof(r->ct));
	memcpy(r->ct, r->raw.ptr, n);
	r->ct[n] = '\0';
	r->body = nl + 1;
	r->len = r->raw.len - (size_t)(r->body - r->raw.ptr);
}

static void add_op(struct batch *b, const char *method, const char *url,
		   const char *const *headers, const char *body,
		   unsigned changeset)
{
	struct batch_req req = {.method = method,
				.url = url,
				.headers = headers,
				.body = body,
				.changeset = changeset};
	struct err e = ERR_INIT;

	if (batch_add(b, &req, &e) < 0)
		fail_msg("batch_add: %s", e.msg);
}

/* The two PATCHes of docs/fidelity.md */
static void build_63(struct batch *b)
{
	static const char *const hdrs[] = {
	    "Content-Type: application/json; type=entry", "If-Match: *", NULL};

	add_op(b, "PATCH", "mailboxes(11111111-1111-1111-1111-111111111111)",
	       hdrs,
	       "{\"incomingemaildeliverymethod\":2,"
	       "\"outgoingemaildeliverymethod\":2,\"actdeliverymethod\":1,\r\n"
	       " \"emailserverprofile@odata.bind\":\"/emailserverprofiles("
	       "22222222-2222-2222-2222-222222222222)\"}",
	       0);
	add_op(b, "PATCH", "mailboxes(33333333-3333-3333-3333-333333333333)",
	       hdrs, "{\"testemailconfigurationscheduled\":true}", 0);
}

/* A GET, a change set of two PATCHes, a DELETE. */
static void build_changeset(struct batch *b)
{
	static const char *const get_hdrs[] = {"Accept: application/json",
					       NULL};
	static const char *const patch_hdrs[] = {"If-Match: *", NULL};
	static const char *const addrs[] = {"a@x.com"};
	struct buf expr = BUF_INIT(4096), url = BUF_INIT(4096);
	struct err e = ERR_INIT;

	assert_int_equal(odata_in_filter(&expr, "emailaddress", addrs, 1, &e),
			 0);
	assert_int_equal(
	    buf_addstr(&url,
		       "mailboxes?$select=mailboxid,emailaddress&$filter="),
	    0);
	assert_int_equal(odata_url_encode(&url, expr.ptr, expr.len), 0);
	add_op(b, "GET", url.ptr, get_hdrs, NULL, 0);
	add_op(b, "PATCH", "mailboxes(11111111-1111-1111-1111-111111111111)",
	       patch_hdrs, "{\"incomingemaildeliverymethod\":2}", 7);
	add_op(b, "PATCH", "mailboxes(33333333-3333-3333-3333-333333333333)",
	       patch_hdrs, "{\"testemailconfigurationscheduled\":true}", 7);
	add_op(b, "DELETE",
	       "systemusers(44444444-4444-4444-4444-444444444444)/"
	       "systemuserroles_association("
	       "55555555-5555-5555-5555-555555555555)/$ref",
	       NULL, NULL, 0);
	buf_release(&expr);
	buf_release(&url);
}

static void test_encode_reference_example(void **state)
{
	struct batch b = BATCH_INIT;
	struct buf body = BUF_INIT(BUF_MAX_BODY), ct = BUF_INIT(256);
	struct buf want = BUF_INIT(BUF_MAX_BODY);
	struct err e = ERR_INIT;

	(void)state;
	build_63(&b);
	load(&want, "request-63.txt", true);
	/* the prefix's missing final '/' is added */
	assert_int_equal(
	    batch_encode(&b, "m1", "/api/data/v9.2", &body, &ct, &e), 0);
	assert_string_equal(body.ptr, want.ptr);
	assert_string_equal(ct.ptr, "multipart/mixed; boundary=batch_m1");
	assert_int_equal(b.ops[0].changeset, 0);
	batch_release(&b);
	buf_release(&body);
	buf_release(&ct);
	buf_release(&want);
}

static void test_encode_changeset(void **state)
{
	struct batch b = BATCH_INIT;
	struct buf body = BUF_INIT(BUF_MAX_BODY), ct = BUF_INIT(256);
	struct buf want = BUF_INIT(BUF_MAX_BODY);
	struct err e = ERR_INIT;

	(void)state;
	build_changeset(&b);
	load(&want, "request-changeset.txt", true);
	assert_int_equal(
	    batch_encode(&b, "c1", "/api/data/v9.2/", &body, &ct, &e), 0);
	assert_string_equal(body.ptr, want.ptr);
	assert_string_equal(ct.ptr, "multipart/mixed; boundary=batch_c1");
	/* every line ends with CRLF: no bare LF anywhere */
	for (size_t i = 0; i < body.len; i++)
		if (body.ptr[i] == '\n')
			assert_int_equal(body.ptr[i - 1], '\r');
	assert_int_equal(batch_content_id(1), 2);
	batch_release(&b);
	buf_release(&body);
	buf_release(&ct);
	buf_release(&want);
}

static void test_encode_changeset_numbers(void **state)
{
	static const char *const h[] = {"If-Match: *", NULL};
	struct batch b = BATCH_INIT;
	struct buf body = BUF_INIT(BUF_MAX_BODY), ct = BUF_INIT(256);
	struct err e = ERR_INIT;

	(void)state;
	/* two change sets back to back, then an independent operation */
	add_op(&b, "PATCH", "mailboxes(1)", h, "{}", 1);
	add_op(&b, "PATCH", "mailboxes(2)", h, "{}", 2);
	add_op(&b, "PATCH", "mailboxes(3)", h, "{}", 2);
	add_op(&b, "POST", "roles(9)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
	       NULL, "{\"Privileges\":[]}", 0);
	assert_int_equal(
	    batch_encode(&b, "x-9", "/api/data/v9.2/", &body, &ct, &e), 0);
	assert_non_null(strstr(body.ptr, "boundary=changeset_x-9_1\r\n"));
	assert_non_null(strstr(body.ptr, "boundary=changeset_x-9_2\r\n"));
	assert_null(strstr(body.ptr, "changeset_x-9_3"));
	assert_non_null(strstr(body.ptr, "Content-ID: 1\r\n"));
	assert_non_null(strstr(body.ptr, "Content-ID: 3\r\n"));
	/* independent operations carry one too */
	assert_non_null(strstr(body.ptr, "Content-ID: 4\r\n"));
	assert_null(strstr(body.ptr, "Content-ID: 5"));
	assert_non_null(
	    strstr(body.ptr, "POST /api/data/v9.2/roles(9)/Microsoft.Dynamics."
			     "CRM.AddPrivilegesRole HTTP/1.1\r\n"
			     "Content-Type: application/json\r\n\r\n"
			     "{\"Privileges\":[]}\r\n--batch_x-9--\r\n"));
	batch_release(&b);
	buf_release(&body);
	buf_release(&ct);
}

static void test_add_rejects(void **state)
{
	static const char *const crlf_hdr[] = {"If-Match: *\r\nX-Evil: 1",
					       NULL};
	static const char *const no_colon[] = {"If-Match *", NULL};
	static const char *const bad_name[] = {"If Match: *", NULL};
	static const struct {
		const char *method, *url;
		const char *const *headers;
		unsigned changeset;
		const char *why;
	} t[] = {
	    {"GET", "mailboxes", NULL, 1, "GET in a change set"},
	    {"FETCH", "mailboxes", NULL, 0, "unknown method"},
	    {"get", "mailboxes", NULL, 0, "method is case-sensitive"},
	    {NULL, "mailboxes", NULL, 0, "no method"},
	    {"GET", "", NULL, 0, "empty URL"},
	    {"GET", NULL, NULL, 0, "no URL"},
	    {"GET", "/api/data/v9.2/mailboxes", NULL, 0, "leading slash"},
	    {"GET", "mailboxes?$filter=a eq 1", NULL, 0, "space in URL"},
	    {"GET", "mailboxes\r\nX: y", NULL, 0, "CRLF in URL"},
	    {"GET", "mailboxes\xc3\xa9", NULL, 0, "raw UTF-8 in URL"},
	    {"PATCH", "mailboxes(1)", crlf_hdr, 0, "CRLF in a header"},
	    {"PATCH", "mailboxes(1)", no_colon, 0, "header without colon"},
	    {"PATCH", "mailboxes(1)", bad_name, 0, "space in header name"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct batch b = BATCH_INIT;
		struct batch_req req = {.method = t[i].method,
					.url = t[i].url,
					.headers = t[i].headers,
					.changeset = t[i].changeset};
		struct err e = ERR_INIT;

		if (batch_add(&b, &req, &e) != -1)
			fail_msg("accepted: %s", t[i].why);
		assert_true(e.msg[0] != '\0');
		assert_int_equal(b.n, 0);
		batch_release(&b);
	}
}

static void test_add_changeset_must_be_consecutive(void **state)
{
	struct batch b = BATCH_INIT;
	struct batch_req req = {.method = "PATCH", .url = "mailboxes(1)"};
	struct err e = ERR_INIT;

	(void)state;
	req.changeset = 1;
	assert_int_equal(batch_add(&b, &req, &e), 0);
	req.changeset = 0;
	assert_int_equal(batch_add(&b, &req, &e), 0);
	req.changeset = 1;
	assert_int_equal(batch_add(&b, &req, &e), -1);
	assert_non_null(strstr(e.msg, "consecutive"));
	err_clear(&e);
	req.changeset = 2;
	assert_int_equal(batch_add(&b, &req, &e), 0);
	assert_int_equal(batch_add(&b, &req, &e), 0);
	assert_int_equal(b.n, 4);
	batch_release(&b);
	assert_int_equal(b.n, 0);
	assert_null(b.ops);
}

static void test_add_at_most_1000(void **state)
{
	struct batch b = BATCH_INIT;
	struct batch_req req = {.method = "GET", .url = "mailboxes"};
	struct err e = ERR_INIT;

	(void)state;
	for (int i = 0; i < BATCH_MAX_OPS; i++)
		assert_int_equal(batch_add(&b, &req, &e), 0);
	assert_int_equal(batch_add(&b, &req, &e), -1);
	assert_non_null(strstr(e.msg, "1000"));
	assert_int_equal(b.n, BATCH_MAX_OPS);
	batch_release(&b);
}

static void test_encode_rejects(void **state)
{
	struct batch b = BATCH_INIT;
	struct buf body = BUF_INIT(BUF_MAX_BODY), ct = BUF_INIT(256);
	struct buf small = BUF_INIT(100);
	struct err e = ERR_INIT;

	(void)state;
	assert_int_equal(
	    batch_encode(&b, "m1", "/api/data/v9.2/", &body, &ct, &e), -1);
	err_clear(&e);
	build_63(&b);
	assert_int_equal(
	    batch_encode(&b, "", "/api/data/v9.2/", &body, &ct, &e), -1);
	err_clear(&e);
	assert_int_equal(
	    batch_encode(&b, "a b", "/api/data/v9.2/", &body, &ct, &e), -1);
	err_clear(&e);
	assert_int_equal(batch_encode(&b,
				      "0123456789012345678901234567890123456789"
				      "0",
				      "/api/data/v9.2/", &body, &ct, &e),
			 -1);
	err_clear(&e);
	assert_int_equal(batch_encode(&b, "m1", "", &body, &ct, &e), -1);
	err_clear(&e);
	assert_int_equal(
	    batch_encode(&b, "m1", "/api/data/v9.2/", &small, &ct, &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	err_clear(&e);
	batch_release(&b);

	/* a body that holds the boundary would end its part early */
	add_op(&b, "PATCH", "mailboxes(1)", NULL,
	       "{\"name\":\"x\r\n--batch_m1--\"}", 0);
	buf_reset(&body);
	assert_int_equal(
	    batch_encode(&b, "m1", "/api/data/v9.2/", &body, &ct, &e), -1);
	assert_non_null(strstr(e.msg, "boundary"));
	err_clear(&e);
	batch_release(&b);

	/* ... a change set's too; the bare name without "--" is harmless */
	add_op(&b, "PATCH", "mailboxes(1)", NULL,
	       "{\"name\":\"--changeset_m1_7\"}", 0);
	buf_reset(&body);
	assert_int_equal(
	    batch_encode(&b, "m1", "/api/data/v9.2/", &body, &ct, &e), -1);
	err_clear(&e);
	batch_release(&b);
	add_op(&b, "PATCH", "mailboxes(1)", NULL,
	       "{\"name\":\"batch_m1 and changeset_m1_1\"}", 0);
	buf_reset(&body);
	buf_reset(&ct);
	assert_int_equal(
	    batch_encode(&b, "m1", "/api/data/v9.2/", &body, &ct, &e), 0);
	batch_release(&b);
	buf_release(&body);
	buf_release(&ct);
	buf_release(&small);
}

static void check_response_63(bool crlf)
{
	struct resp_fixture f;
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[2];
	struct err e = ERR_INIT;
	const struct batch_answer *a;

	load_response(&f, "response-63.txt", crlf);
	if (batch_parse(&r, f.ct, f.body, f.len, &e) < 0)
		fail_msg("batch_parse: %s", e.msg);
	assert_int_equal(r.n, 2);

	a = &r.answers[0];
	assert_int_equal(a->status, 204);
	assert_int_equal(a->changeset, 0);
	assert_null(a->content_id);
	assert_int_equal(a->body_len, 0);
	assert_string_equal(a->body, "");
	assert_int_equal(a->nheaders, 2);
	assert_string_equal(batch_answer_header(a, "odata-entityid"),
			    "https://contoso.crm.dynamics.com/api/data/v9.2/"
			    "mailboxes(11111111-1111-1111-1111-111111111111)");
	assert_string_equal(batch_answer_header(a, "OData-Version"), "4.0");
	assert_null(batch_answer_header(a, "Content-Type"));

	a = &r.answers[1];
	assert_int_equal(a->status, 403);
	assert_string_equal(batch_answer_header(a, "Content-Type"),
			    "application/json; odata.metadata=minimal");
	assert_int_equal(
	    strncmp(a->body, "{\"error\":{\"code\":\"0x80040220\"", 29), 0);
	assert_int_equal(a->body[a->body_len - 1], '}');
	assert_int_equal(a->body_len, strlen(a->body));

	build_63(&b);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[0].status, 204);
	assert_ptr_equal(res[0].answer, &r.answers[0]);
	assert_int_equal(res[1].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].status, 403);
	assert_ptr_equal(res[1].answer, &r.answers[1]);

	batch_release(&b);
	batch_response_release(&r);
	assert_int_equal(r.n, 0);
	assert_null(r.answers);
	buf_release(&f.raw);
}

static void test_parse_reference_example(void **state)
{
	(void)state;
	check_response_63(true);
}

static void test_parse_lf_only(void **state)
{
	(void)state;
	check_response_63(false);
}

static void test_parse_changeset_response(void **state)
{
	struct resp_fixture f;
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[4];
	struct err e = ERR_INIT;

	(void)state;
	load_response(&f, "response-changeset.txt", true);
	if (batch_parse(&r, f.ct, f.body, f.len, &e) < 0)
		fail_msg("batch_parse: %s", e.msg);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.answers[0].status, 200);
	assert_int_equal(r.answers[0].changeset, 0);
	assert_non_null(strstr(r.answers[0].body, "\"a@x.com\""));
	assert_int_equal(r.answers[1].changeset, 1);
	assert_string_equal(r.answers[1].content_id, "3");
	assert_int_equal(r.answers[2].changeset, 1);
	assert_string_equal(r.answers[2].content_id, "2");
	assert_int_equal(r.answers[3].changeset, 0);
	assert_int_equal(r.answers[3].status, 204);

	/* answers come back in another order: Content-ID decides */
	build_changeset(&b);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(res[i].fate, BATCH_ANSWERED);
	assert_int_equal(res[0].status, 200);
	assert_ptr_equal(res[1].answer, &r.answers[2]);
	assert_non_null(
	    strstr(batch_answer_header(res[1].answer, "OData-EntityId"),
		   "(11111111-"));
	assert_ptr_equal(res[2].answer, &r.answers[1]);
	assert_non_null(
	    strstr(batch_answer_header(res[2].answer, "OData-EntityId"),
		   "(33333333-"));
	assert_ptr_equal(res[3].answer, &r.answers[3]);
	batch_release(&b);
	batch_response_release(&r);
	buf_release(&f.raw);
}

static void test_map_failed_changeset_nested(void **state)
{
	struct resp_fixture f;
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[4];
	struct err e = ERR_INIT;

	(void)state;
	load_response(&f, "response-changeset-failed.txt", true);
	if (batch_parse(&r, f.ct, f.body, f.len, &e) < 0)
		fail_msg("batch_parse: %s", e.msg);
	assert_int_equal(r.n, 3);
	build_changeset(&b);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[0].status, 200);
	/* the first PATCH did nothing wrong: rolled back with the set */
	assert_int_equal(res[1].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[1].status, 404);
	assert_ptr_equal(res[1].answer, &r.answers[1]);
	/* Content-ID 3 names the operation that failed */
	assert_int_equal(res[2].fate, BATCH_ANSWERED);
	assert_int_equal(res[2].status, 404);
	assert_non_null(strstr(res[2].answer->body, "0x80040217"));
	/* continue-on-error: the DELETE after the set still ran */
	assert_int_equal(res[3].fate, BATCH_ANSWERED);
	assert_int_equal(res[3].status, 204);
	batch_release(&b);
	batch_response_release(&r);
	buf_release(&f.raw);
}

static void test_map_failed_changeset_flat(void **state)
{
	struct resp_fixture f;
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[4];
	struct err e = ERR_INIT;

	(void)state;
	load_response(&f, "response-changeset-failed-flat.txt", false);
	if (batch_parse(&r, f.ct, f.body, f.len, &e) < 0)
		fail_msg("batch_parse: %s", e.msg);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.answers[1].changeset, 0);
	build_changeset(&b);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	/* the error names no operation: both are rolled back */
	assert_int_equal(res[1].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[2].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[1].status, 400);
	assert_ptr_equal(res[2].answer, &r.answers[1]);
	assert_int_equal(res[3].fate, BATCH_ANSWERED);
	assert_int_equal(res[3].status, 204);
	batch_release(&b);
	batch_response_release(&r);
	buf_release(&f.raw);
}

static void test_map_stop_on_error(void **state)
{
	static const char *const h[] = {"If-Match: *", NULL};
	struct resp_fixture f;
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[4];
	struct err e = ERR_INIT;

	(void)state;
	load_response(&f, "response-stop-on-error.txt", true);
	if (batch_parse(&r, f.ct, f.body, f.len, &e) < 0)
		fail_msg("batch_parse: %s", e.msg);
	assert_int_equal(r.n, 2);
	assert_string_equal(batch_answer_header(&r.answers[1], "req_id"),
			    "5ef1d1f4-7ab8-4cfa-9bd9-0c1b0e5a1d2c");
	add_op(&b, "PATCH", "mailboxes(1)", h, "{}", 0);
	add_op(&b, "PATCH", "mailboxes(2)", h, "{\"x\":7}", 0);
	add_op(&b, "PATCH", "mailboxes(3)", h, "{}", 0);
	add_op(&b, "PATCH", "mailboxes(4)", h, "{}", 0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[0].status, 204);
	assert_int_equal(res[1].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].status, 400);
	assert_int_equal(res[2].fate, BATCH_NOT_EXECUTED);
	assert_int_equal(res[2].status, 0);
	assert_null(res[2].answer);
	assert_int_equal(res[3].fate, BATCH_NOT_EXECUTED);
	assert_string_equal(batch_fate_name(res[3].fate), "not executed");
	batch_release(&b);
	batch_response_release(&r);
	buf_release(&f.raw);
}

/* Parse 'body' (CRLF added for '\n') with boundary "b". */
static int parse_text(struct batch_response *r, const char *text, struct err *e)
{
	struct buf body = BUF_INIT(BUF_MAX_BODY);
	int rc;

	for (const char *p = text; *p; p++) {
		if (*p == '\n')
			buf_addch(&body, '\r');
		buf_addch(&body, *p);
	}
	rc = batch_parse(r, "multipart/mixed; boundary=b", body.ptr, body.len,
			 e);
	buf_release(&body);
	return rc;
}

#define PART "--b\nContent-Type: application/http\n\n"

static void test_map_unanswered_and_mismatches(void **state)
{
	static const char *const h[] = {"If-Match: *", NULL};
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT, cs = BATCH_INIT;
	struct batch_result res[3];
	struct err e = ERR_INIT;

	(void)state;
	add_op(&b, "PATCH", "mailboxes(1)", h, "{}", 0);
	add_op(&b, "PATCH", "mailboxes(2)", h, "{}", 0);
	add_op(&cs, "PATCH", "mailboxes(1)", h, "{}", 1);
	add_op(&cs, "PATCH", "mailboxes(2)", h, "{}", 1);

	/* cut short after a success: the outcome is unknown */
	assert_int_equal(
	    parse_text(&r, PART "HTTP/1.1 204 No Content\n\n--b--\n", &e), 0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].fate, BATCH_UNANSWERED);
	/* one success for a change set of two cannot be mapped */
	assert_int_equal(batch_map(&cs, &r, res, &e), -1);
	assert_non_null(strstr(e.msg, "change set"));
	err_clear(&e);
	batch_response_release(&r);

	/* no answer at all */
	assert_int_equal(parse_text(&r, "--b--\n", &e), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_UNANSWERED);
	assert_int_equal(res[1].fate, BATCH_UNANSWERED);
	batch_response_release(&r);

	/* more answers than operations */
	assert_int_equal(parse_text(&r,
				    PART "HTTP/1.1 204 No Content\n\n" PART
					 "HTTP/1.1 204 No Content\n\n" PART
					 "HTTP/1.1 204 No Content\n\n--b--\n",
				    &e),
			 0);
	assert_int_equal(batch_map(&b, &r, res, &e), -1);
	assert_non_null(strstr(e.msg, "3 answers for 2 operations"));
	err_clear(&e);
	batch_response_release(&r);

	/* a change-set answer where independent operations were sent */
	assert_int_equal(
	    parse_text(&r,
		       "--b\nContent-Type: multipart/mixed; boundary=c\n\n"
		       "--c\nContent-Type: application/http\nContent-ID: 1\n\n"
		       "HTTP/1.1 204 No Content\n\n"
		       "--c\nContent-Type: application/http\nContent-ID: 2\n\n"
		       "HTTP/1.1 204 No Content\n\n--c--\n--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&b, &r, res, &e), -1);
	err_clear(&e);
	/* ... which is right for the change set */
	assert_int_equal(batch_map(&cs, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].fate, BATCH_ANSWERED);
	assert_int_equal(r.answers[0].changeset, 1);
	batch_response_release(&r);

	/* a Content-ID that names no operation of the set */
	assert_int_equal(
	    parse_text(&r,
		       "--b\nContent-Type: multipart/mixed; boundary=c\n\n"
		       "--c\nContent-Type: application/http\nContent-ID: 1\n\n"
		       "HTTP/1.1 204 No Content\n\n"
		       "--c\nContent-Type: application/http\nContent-ID: 9\n\n"
		       "HTTP/1.1 204 No Content\n\n--c--\n--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&cs, &r, res, &e), -1);
	assert_non_null(strstr(e.msg, "Content-ID '9'"));
	err_clear(&e);
	batch_response_release(&r);

	/* the same Content-ID twice */
	assert_int_equal(
	    parse_text(&r,
		       "--b\nContent-Type: multipart/mixed; boundary=c\n\n"
		       "--c\nContent-Type: application/http\nContent-ID: 1\n\n"
		       "HTTP/1.1 204 No Content\n\n"
		       "--c\nContent-Type: application/http\nContent-ID: 1\n\n"
		       "HTTP/1.1 204 No Content\n\n--c--\n--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&cs, &r, res, &e), -1);
	err_clear(&e);
	batch_response_release(&r);

	batch_release(&b);
	batch_release(&cs);
}

/*
 * Stop-on-error where the server returns only the failure (§6.2, the
 * example holds a single part): its Content-ID names the operation, the
 * ones before it succeeded unreported, the ones after it never ran.
 */
static void test_map_stop_on_error_failure_only(void **state)
{
	static const char *const h[] = {"If-Match: *", NULL};
	struct resp_fixture f;
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[4];
	struct err e = ERR_INIT;

	(void)state;
	load_response(&f, "response-stop-on-error-only.txt", true);
	if (batch_parse(&r, f.ct, f.body, f.len, &e) < 0)
		fail_msg("batch_parse: %s", e.msg);
	assert_int_equal(r.n, 1);
	add_op(&b, "PATCH", "mailboxes(1)", h, "{}", 0);
	add_op(&b, "GET", "mailboxes(2)", NULL, NULL, 0);
	add_op(&b, "PATCH", "mailboxes(3)", h, "{\"x\":7}", 0);
	add_op(&b, "PATCH", "mailboxes(4)", h, "{}", 0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_UNREPORTED_OK);
	assert_null(res[0].answer);
	assert_int_equal(res[1].fate, BATCH_UNREPORTED_OK);
	assert_int_equal(res[2].fate, BATCH_ANSWERED);
	assert_int_equal(res[2].status, 400);
	assert_ptr_equal(res[2].answer, &r.answers[0]);
	assert_int_equal(res[3].fate, BATCH_NOT_EXECUTED);
	assert_string_equal(batch_fate_name(res[0].fate),
			    "succeeded unreported");
	batch_release(&b);
	batch_response_release(&r);
	buf_release(&f.raw);
}

/*
 * A lone failure without Content-ID (stop-on-error from a server that
 * sends none) may be for any operation: it is never given to one.
 */
static void test_map_lone_failure_without_content_id(void **state)
{
	static const char *const h[] = {"If-Match: *", NULL};
	static const char lone[] =
	    PART "HTTP/1.1 400 Bad Request\n\n{\"error\":{}}\n--b--\n";
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT, one = BATCH_INIT, cs = BATCH_INIT;
	struct batch_result res[3];
	struct err e = ERR_INIT;

	(void)state;
	add_op(&b, "PATCH", "mailboxes(1)", h, "{}", 0);
	add_op(&b, "GET", "mailboxes(2)", NULL, NULL, 0);
	add_op(&b, "PATCH", "mailboxes(3)", h, "{}", 0);
	add_op(&one, "PATCH", "mailboxes(1)", h, "{}", 0);
	add_op(&cs, "PATCH", "mailboxes(1)", h, "{}", 1);
	add_op(&cs, "PATCH", "mailboxes(2)", h, "{}", 1);
	add_op(&cs, "PATCH", "mailboxes(3)", h, "{}", 0);

	assert_int_equal(parse_text(&r, lone, &e), 0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(res[i].fate, BATCH_UNATTRIBUTED);
		assert_null(res[i].answer);
		assert_int_equal(res[i].status, 0);
	}
	assert_string_equal(batch_fate_name(res[0].fate), "unattributed");
	/* a change set and an operation: two units, the same doubt */
	assert_int_equal(batch_map(&cs, &r, res, &e), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i].fate, BATCH_UNATTRIBUTED);
	/* for a single operation it can only be its own */
	assert_int_equal(batch_map(&one, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[0].status, 400);
	batch_response_release(&r);

	/* the successes before it too (batch-echo-ok): taken in order */
	assert_int_equal(parse_text(&r,
				    PART "HTTP/1.1 204 No Content\n\n"
					 "--b--\n",
				    &e),
			 0);
	batch_response_release(&r);
	assert_int_equal(
	    parse_text(&r,
		       PART
		       "HTTP/1.1 204 No Content\n\n" PART
		       "HTTP/1.1 200 OK\n\n{}\n" PART
		       "HTTP/1.1 400 Bad Request\n\n{\"error\":{}}\n--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[0].status, 204);
	assert_int_equal(res[1].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].status, 200);
	assert_int_equal(res[2].fate, BATCH_ANSWERED);
	assert_int_equal(res[2].status, 400);
	batch_response_release(&r);

	/* with its Content-ID the lone failure is exact */
	assert_int_equal(
	    parse_text(&r,
		       "--b\nContent-Type: application/http\nContent-ID: 2\n\n"
		       "HTTP/1.1 404 Not Found\n\n{}\n--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_UNREPORTED_OK);
	assert_int_equal(res[1].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].status, 404);
	assert_int_equal(res[2].fate, BATCH_NOT_EXECUTED);
	batch_response_release(&r);
	batch_release(&b);
	batch_release(&one);
	batch_release(&cs);
}

/* A failed change set answered at the top level, naming its culprit. */
static void test_map_failed_changeset_top_level_cid(void **state)
{
	static const char *const h[] = {"If-Match: *", NULL};
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct batch b = BATCH_INIT;
	struct batch_result res[5];
	struct err e = ERR_INIT;

	(void)state;
	add_op(&b, "GET", "mailboxes(0)", NULL, NULL, 0);
	add_op(&b, "PATCH", "mailboxes(1)", h, "{}", 3);
	add_op(&b, "PATCH", "mailboxes(2)", h, "{}", 3);
	add_op(&b, "PATCH", "mailboxes(3)", h, "{}", 3);
	add_op(&b, "PATCH", "mailboxes(4)", h, "{}", 0);
	/* stop-on-error: only the failure, from the set's last operation */
	assert_int_equal(parse_text(&r,
				    "--b\nContent-Type: application/http\n"
				    "Content-ID: 4\n\n"
				    "HTTP/1.1 400 Bad Request\n\n{}\n--b--\n",
				    &e),
			 0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_UNREPORTED_OK);
	assert_int_equal(res[1].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[2].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[2].status, 400);
	assert_int_equal(res[3].fate, BATCH_ANSWERED);
	assert_int_equal(res[4].fate, BATCH_NOT_EXECUTED);
	batch_response_release(&r);

	/* continue-on-error: every answer, the set's one in the middle */
	assert_int_equal(
	    parse_text(&r,
		       "--b\nContent-Type: application/http\n"
		       "Content-ID: 1\n\nHTTP/1.1 200 OK\n\n{}\n"
		       "--b\nContent-Type: application/http\n"
		       "Content-ID: 3\n\n"
		       "HTTP/1.1 412 Precondition Failed\n\n{}\n"
		       "--b\nContent-Type: application/http\n"
		       "Content-ID: 5\n\nHTTP/1.1 204 No Content\n\n"
		       "--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&b, &r, res, &e), 0);
	assert_int_equal(res[0].fate, BATCH_ANSWERED);
	assert_int_equal(res[1].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[2].fate, BATCH_ANSWERED);
	assert_int_equal(res[2].status, 412);
	assert_int_equal(res[3].fate, BATCH_ROLLED_BACK);
	assert_int_equal(res[3].status, 412);
	assert_int_equal(res[4].fate, BATCH_ANSWERED);
	assert_int_equal(res[4].status, 204);
	batch_response_release(&r);

	/* skipping an operation is only allowed before the final failure */
	assert_int_equal(
	    parse_text(&r,
		       "--b\nContent-Type: application/http\n"
		       "Content-ID: 5\n\nHTTP/1.1 204 No Content\n\n"
		       "--b--\n",
		       &e),
	    0);
	assert_int_equal(batch_map(&b, &r, res, &e), -1);
	assert_non_null(strstr(e.msg, "no answer for operation 1"));
	err_clear(&e);
	batch_response_release(&r);

	/* answers out of order */
	assert_int_equal(parse_text(&r,
				    "--b\nContent-Type: application/http\n"
				    "Content-ID: 5\n\nHTTP/1.1 500 Oops\n\n"
				    "--b\nContent-Type: application/http\n"
				    "Content-ID: 1\n\nHTTP/1.1 200 OK\n\n"
				    "--b--\n",
				    &e),
			 0);
	assert_int_equal(batch_map(&b, &r, res, &e), -1);
	err_clear(&e);
	batch_response_release(&r);

	/* a Content-ID beyond the batch */
	assert_int_equal(parse_text(&r,
				    "--b\nContent-Type: application/http\n"
				    "Content-ID: 6\n\nHTTP/1.1 400 Bad\n\n"
				    "--b--\n",
				    &e),
			 0);
	assert_int_equal(batch_map(&b, &r, res, &e), -1);
	assert_non_null(strstr(e.msg, "names no operation"));
	batch_response_release(&r);
	batch_release(&b);
}

static void test_parse_tolerates(void **state)
{
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct err e = ERR_INIT;
	static const char *const cts[] = {
	    "multipart/mixed;boundary=b",
	    "Multipart/Mixed; charset=utf-8; BOUNDARY=\"b\"",
	    "multipart/mixed; boundary=\"b\"; charset=utf-8",
	    "  multipart/mixed ; boundary = b  ",
	};
	const char *text = "preamble to ignore\r\n"
			   "--b  \r\n" /* transport padding */
			   "content-type: APPLICATION/HTTP\r\n"
			   "\r\n"
			   "HTTP/1.1 201 Created\r\n"
			   "Location:https://x/api/data/v9.2/roles(1)\r\n"
			   "\r\n"
			   "{\"a\":1}\r\n"
			   "--b\n"
			   "\n"
			   "HTTP/1.1 200\n" /* no part headers, no reason */
			   "\n"
			   "line one\r\n"
			   "line two\r\n"
			   "--b--\r\n"
			   "epilogue\r\n";

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cts); i++) {
		if (batch_parse(&r, cts[i], text, strlen(text), &e) < 0)
			fail_msg("'%s': %s", cts[i], e.msg);
		assert_int_equal(r.n, 2);
		assert_int_equal(r.answers[0].status, 201);
		assert_string_equal(
		    batch_answer_header(&r.answers[0], "location"),
		    "https://x/api/data/v9.2/roles(1)");
		assert_string_equal(r.answers[0].body, "{\"a\":1}");
		assert_int_equal(r.answers[1].status, 200);
		/* a body keeps its inner line breaks, not the final one */
		assert_string_equal(r.answers[1].body, "line one\r\nline two");
		batch_response_release(&r);
	}
}

/* Lines that start like a delimiter but are not one stay in the body. */
static void test_parse_near_delimiters(void **state)
{
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct err e = ERR_INIT;
	const char *text = "--bb\r\n" /* another boundary, in the preamble */
			   "--b\r\n"
			   "\r\n"
			   "HTTP/1.1 200 OK\r\n"
			   "\r\n"
			   "x --b\r\n" /* not at the start of a line */
			   "--bx\r\n"
			   "--b-\r\n"
			   "--b\r\n" /* right after a near miss */
			   "\r\n"
			   "HTTP/1.1 204 No Content\r\n"
			   "\r\n"
			   "--b--";

	(void)state;
	if (batch_parse(&r, "multipart/mixed; boundary=b", text, strlen(text),
			&e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.answers[0].status, 200);
	assert_string_equal(r.answers[0].body, "x --b\r\n--bx\r\n--b-");
	assert_int_equal(r.answers[1].status, 204);
	batch_response_release(&r);
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *ct, *body, *why;
	} t[] = {
	    {NULL, "--b--\r\n", "no Content-Type"},
	    {"application/json", "{}", "not multipart"},
	    {"multipart/mixed", "--b--\r\n", "no boundary"},
	    {"multipart/mixed; boundary=\"\"", "----\r\n", "empty boundary"},
	    {"multipart/mixed; boundary=\"b", "--b--\r\n", "open quote"},
	    {"multipart/mixed; boundary=b", "", "empty body"},
	    {"multipart/mixed; boundary=b", "no delimiter\r\n", "no delimiter"},
	    {"multipart/mixed; boundary=b", "--bb\r\n--b-\r\n",
	     "only look-alike delimiters"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 "
	     "No Content\r\n\r\n",
	     "truncated: no close delimiter"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 "
	     "2O4 No Content\r\n\r\n--b--\r\n",
	     "bad status code"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 "
	     "99 Low\r\n\r\n--b--\r\n",
	     "two-digit status"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 "
	     "2040 No Content\r\n\r\n--b--\r\n",
	     "four-digit status"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 "
	     "700 Nope\r\n\r\n--b--\r\n",
	     "status out of range"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nhello\r\n"
	     "--b--\r\n",
	     "no status line"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\n--b--\r\n",
	     "empty application/http part"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: text/plain\r\n\r\nHTTP/1.1 204 "
	     "No Content\r\n\r\n--b--\r\n",
	     "part of another type"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n"
	     "HTTP/1.1 204 No Content\r\n--b--\r\n",
	     "part headers never end"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 "
	     "No Content\r\nno colon here\r\n\r\n--b--\r\n",
	     "header without colon"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 "
	     "No Content\r\n: empty name\r\n\r\n--b--\r\n",
	     "header without name"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 "
	     "No Content\r\nA: 1\r\n folded\r\n\r\n--b--\r\n",
	     "folded header"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	     "--c\r\nContent-Type: multipart/mixed; boundary=d\r\n\r\n"
	     "--d\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 "
	     "X\r\n\r\n--d--\r\n--c--\r\n--b--\r\n",
	     "change set inside a change set"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
	     "--c\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 "
	     "X\r\n\r\n--b--\r\n",
	     "change set never closed"},
	    {"multipart/mixed; boundary=b",
	     "--b\r\nContent-Type: multipart/mixed\r\n\r\n--b--\r\n",
	     "change set without boundary"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct batch_response r = BATCH_RESPONSE_INIT;
		struct err e = ERR_INIT;

		if (batch_parse(&r, t[i].ct, t[i].body, strlen(t[i].body),
				&e) != -1)
			fail_msg("accepted: %s", t[i].why);
		assert_int_equal(e.kind, ERR_PROTOCOL);
		assert_true(e.msg[0] != '\0');
		assert_int_equal(r.n, 0);
		assert_null(r.answers);
	}
}

static void test_parse_limits(void **state)
{
	struct buf body = BUF_INIT(BUF_MAX_BODY);
	struct batch_response r = BATCH_RESPONSE_INIT;
	struct err e = ERR_INIT;

	(void)state;
	/* too many headers in one part */
	buf_addstr(&body, "--b\r\nContent-Type: application/http\r\n\r\n"
			  "HTTP/1.1 204 No Content\r\n");
	for (int i = 0; i <= BATCH_MAX_HEADERS; i++)
		buf_addf(&body, "X-H%d: %d\r\n", i, i);
	buf_addstr(&body, "\r\n--b--\r\n");
	assert_int_equal(batch_parse(&r, "multipart/mixed; boundary=b",
				     body.ptr, body.len, &e),
			 -1);
	assert_non_null(strstr(e.msg, "headers"));
	err_clear(&e);

	/* a header line too long */
	buf_reset(&body);
	buf_addstr(&body, "--b\r\nContent-Type: application/http\r\n\r\n"
			  "HTTP/1.1 204 No Content\r\nX-Long: ");
	for (int i = 0; i < BATCH_MAX_LINE; i++)
		buf_addch(&body, 'x');
	buf_addstr(&body, "\r\n\r\n--b--\r\n");
	assert_int_equal(batch_parse(&r, "multipart/mixed; boundary=b",
				     body.ptr, body.len, &e),
			 -1);
	assert_non_null(strstr(e.msg, "longer"));
	err_clear(&e);

	/* ... while a long body line is fine */
	buf_reset(&body);
	buf_addstr(&body, "--b\r\nContent-Type: application/http\r\n\r\n"
			  "HTTP/1.1 200 OK\r\n\r\n");
	for (int i = 0; i < 3 * BATCH_MAX_LINE; i++)
		buf_addch(&body, 'y');
	buf_addstr(&body, "\r\n--b--\r\n");
	assert_int_equal(batch_parse(&r, "multipart/mixed; boundary=b",
				     body.ptr, body.len, &e),
			 0);
	assert_int_equal(r.answers[0].body_len, 3 * BATCH_MAX_LINE);
	batch_response_release(&r);

	/* too many parts */
	buf_reset(&body);
	for (int i = 0; i <= BATCH_MAX_PARTS; i++)
		buf_addstr(&body, "--b\r\nContent-Type: application/http\r\n"
				  "\r\nHTTP/1.1 204 No Content\r\n\r\n");
	buf_addstr(&body, "--b--\r\n");
	assert_int_equal(batch_parse(&r, "multipart/mixed; boundary=b",
				     body.ptr, body.len, &e),
			 -1);
	assert_non_null(strstr(e.msg, "parts"));
	assert_int_equal(r.n, 0);
	buf_release(&body);
}

/*
 * Every prefix of a valid response is refused until the close delimiter
 * is complete, and none crashes or leaks (run under ASan).
 */
static void test_parse_every_truncation(void **state)
{
	static const char *const names[] = {
	    "response-63.txt",
	    "response-changeset.txt",
	    "response-changeset-failed.txt",
	    "response-stop-on-error.txt",
	    "response-stop-on-error-only.txt",
	    "response-changeset-failed-flat.txt"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct resp_fixture f;
		const char *close;

		load_response(&f, names[i], true);
		/* the end of the last line, "--batchresponse_...--" */
		close = f.body + f.len - 2;
		for (size_t len = 0; len <= f.len; len++) {
			struct batch_response r = BATCH_RESPONSE_INIT;
			struct err e = ERR_INIT;
			/* a copy of exactly 'len' bytes, so ASan sees reads
			 * past it */
			char *cut = xmalloc(len ? len : 1);
			int rc;

			memcpy(cut, f.body, len);
			rc = batch_parse(&r, f.ct, cut, len, &e);
			if (f.body + len < close) {
				if (rc != -1)
					fail_msg("%s: prefix of %zu accepted",
						 names[i], len);
				assert_true(e.msg[0] != '\0');
			} else {
				assert_int_equal(rc, 0);
				assert_true(r.n > 0);
			}
			batch_response_release(&r);
			free(cut);
		}
		buf_release(&f.raw);
	}
}

/* Deterministic byte flips: never a crash, a leak or a half answer. */
static void test_parse_garbled(void **state)
{
	struct resp_fixture f;
	unsigned long seed = 12345;
	int ok = 0, refused = 0;

	(void)state;
	load_response(&f, "response-changeset.txt", true);
	for (int iter = 0; iter < 3000; iter++) {
		struct batch_response r = BATCH_RESPONSE_INIT;
		struct err e = ERR_INIT;
		char *g = xmalloc(f.len);
		int flips;

		memcpy(g, f.body, f.len);
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		flips = 1 + (int)(seed >> 60);
		for (int k = 0; k < flips; k++) {
			seed = seed * 6364136223846793005UL +
			       1442695040888963407UL;
			g[(seed >> 33) % f.len] = (char)(seed >> 20);
		}
		if (batch_parse(&r, f.ct, g, f.len, &e) == 0) {
			ok++;
			for (size_t a = 0; a < r.n; a++) {
				assert_in_range(r.answers[a].status, 100, 599);
				assert_non_null(r.answers[a].body);
				assert_int_equal(strlen(r.answers[a].body) <=
						     r.answers[a].body_len,
						 1);
			}
		} else {
			refused++;
			assert_true(e.msg[0] != '\0');
			assert_int_equal(r.n, 0);
		}
		batch_response_release(&r);
		free(g);
	}
	/* both outcomes occur, so the flips reach the structure */
	assert_true(ok > 0);
	assert_true(refused > 0);
	buf_release(&f.raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_reference_example),
	    cmocka_unit_test(test_encode_changeset),
	    cmocka_unit_test(test_encode_changeset_numbers),
	    cmocka_unit_test(test_add_rejects),
	    cmocka_unit_test(test_add_changeset_must_be_consecutive),
	    cmocka_unit_test(test_add_at_most_1000),
	    cmocka_unit_test(test_encode_rejects),
	    cmocka_unit_test(test_parse_reference_example),
	    cmocka_unit_test(test_parse_lf_only),
	    cmocka_unit_test(test_parse_changeset_response),
	    cmocka_unit_test(test_map_failed_changeset_nested),
	    cmocka_unit_test(test_map_failed_changeset_flat),
	    cmocka_unit_test(test_map_stop_on_error),
	    cmocka_unit_test(test_map_unanswered_and_mismatches),
	    cmocka_unit_test(test_map_stop_on_error_failure_only),
	    cmocka_unit_test(test_map_lone_failure_without_content_id),
	    cmocka_unit_test(test_map_failed_changeset_top_level_cid),
	    cmocka_unit_test(test_parse_tolerates),
	    cmocka_unit_test(test_parse_near_delimiters),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_parse_every_truncation),
	    cmocka_unit_test(test_parse_garbled),
	};
	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
