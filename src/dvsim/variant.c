/*
 * variant.c: --variant names (see variant.h and docs/fidelity.md).
 */
#include "compat.h"

#include <string.h>

#include "variant.h"

#include "banned.h"

unsigned dv_variants;

static const struct {
	const char *name;
	enum dv_variant bit;
} variants[] = {
    {"te-flag-stays", DV_VAR_TE_FLAG_STAYS},
    {"te-postponed", DV_VAR_TE_POSTPONED},
    {"te-status-kept", DV_VAR_TE_STATUS_KEPT},
    {"approve-no-effect", DV_VAR_APPROVE_NO_EFFECT},
    {"batch-echo-ok", DV_VAR_BATCH_ECHO_OK},
    {"no-content-id", DV_VAR_NO_CONTENT_ID},
    {"dop-48", DV_VAR_DOP_48},
};

#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

const char *dv_variant_names(void)
{
	return "te-flag-stays,te-postponed,te-status-kept,approve-no-effect,"
	       "batch-echo-ok,no-content-id,dop-48";
}

int dv_variant_parse(const char *list, unsigned *mask, struct err *e)
{
	const char *p = list;

	*mask = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		size_t i;

		for (i = 0; i < NVARIANTS; i++)
			if (strlen(variants[i].name) == len &&
			    !strncmp(variants[i].name, p, len))
				break;
		if (i == NVARIANTS)
			return err_set(e, ERR_USAGE,
				       "--variant: unknown variant '%.*s' "
				       "(variants: %s)",
				       (int)len, p, dv_variant_names());
		*mask |= (unsigned)variants[i].bit;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}
