#include "compat.h"

#include "dvsim/org.h"

#include "banned.h"

int dv_org_generate(struct dv_org *org, unsigned n, const char *mix,
		    unsigned long seed, struct err *e)
{
	(void)n;
	(void)mix;
	org->rng = seed;
	dv_org_seed_catalogue(org);
	return err_set(e, ERR_INTERNAL, "generator not written yet");
}
