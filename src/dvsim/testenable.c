#include "compat.h"

#include "dvsim/org.h"

#include "banned.h"

void dv_org_tick(struct dv_org *org)
{
	(void)org;
}
