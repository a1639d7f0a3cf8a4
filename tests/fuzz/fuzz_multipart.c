/*
 * libFuzzer target for dvsim's $batch: the input's first line is the
 * Content-Type, the rest the body. Whatever parses is also executed
 * against a fake Web API that answers with entity ids, so Content-ID
 * references, change sets and the response writer are exercised too.
 */
#include "compat.h"

#include <string.h>

#include "dvsim/batch.h"

#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fake_handle(void *ctx, const struct dv_request *req,
		       struct dv_response *resp)
{
	unsigned *n = ctx;

	(*n)++;
	if (req->body_len && req->body[0] == 'x') {
		dv_response_error(resp, 400, "0x80044331", "bad");
		return 400;
	}
	resp->status = strcmp(req->method, "GET") ? 204 : 200;
	buf_addf(&resp->headers, "OData-EntityId: %saccounts(%u)\r\n",
		 req->base_url, *n);
	buf_add(&resp->body, req->url, strlen(req->url));
	return resp->status;
}

static void nop(void *ctx)
{
	(void)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	size_t ctlen = nl ? (size_t)(nl - (const char *)data) : size;
	char *ct, msg[256];
	struct batch b;
	unsigned calls = 0;

	if (ctlen > 512)
		return 0;
	ct = xstrndup((const char *)data, ctlen);
	if (batch_parse(&b, ct, nl ? nl + 1 : "", nl ? size - ctlen - 1 : 0,
			msg, sizeof(msg)) == BATCH_PARSE_OK) {
		struct batch_result *res = xcalloc(b.nops, sizeof(*res));
		struct batch_opts o = {.continue_on_error = size & 1,
				       .fail_changeset = size & 2 ? 0 : -1,
				       .caller = "u",
				       .base_url = "http://h/api/data/v9.2/",
				       .nonce = size};
		struct batch_exec x = {&calls, fake_handle, nop, nop, nop};
		struct dv_response out;

		dv_response_init(&out);
		batch_execute(&b, &o, &x, res, &out);
		if (out.status != 200 && out.status != 400)
			__builtin_trap();
		dv_response_release(&out);
		free(res);
		batch_release(&b);
	}
	free(ct);
	return 0;
}
