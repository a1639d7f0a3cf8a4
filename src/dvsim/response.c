#include "compat.h"

#include <stdarg.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "dv.h"

#include "banned.h"

void dv_response_init(struct dv_response *r)
{
	r->status = 0;
	buf_init(&r->headers, BUF_MAX_SMALL);
	buf_init(&r->body, BUF_MAX_BODY);
}

void dv_response_release(struct dv_response *r)
{
	buf_release(&r->headers);
	buf_release(&r->body);
}

void dv_response_reset(struct dv_response *r)
{
	r->status = 0;
	buf_reset(&r->headers);
	buf_reset(&r->body);
}

const char *dv_request_header(const struct dv_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (!strcasecmp(req->headers[i].name, name))
			return req->headers[i].value;
	return NULL;
}

void dv_response_error(struct dv_response *r, int status, const char *code,
		       const char *fmt, ...)
{
	char msg[1024];
	cJSON *root, *err;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	root = cJSON_CreateObject();
	err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", msg);
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);

	dv_response_reset(r);
	r->status = status;
	buf_addstr(&r->headers,
		   "Content-Type: application/json; odata.metadata=minimal\r\n"
		   "OData-Version: 4.0\r\n");
	if (text)
		buf_addstr(&r->body, text);
	cJSON_free(text);
}
