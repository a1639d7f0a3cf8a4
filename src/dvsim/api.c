#include "compat.h"

#include "dvsim/org.h"

#include "banned.h"

int dv_api_handle(struct dv_org *org, const struct dv_request *req,
		  struct dv_response *resp)
{
	(void)org;
	(void)req;
	dv_response_error(resp, 501, "0x80060888", "not implemented yet");
	return resp->status;
}
