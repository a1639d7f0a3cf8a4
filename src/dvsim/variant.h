/*
 * variant.h: behaviours of the real service that no source settles.
 *
 * Where Microsoft's documentation leaves a behaviour open, dvsim can play
 * each plausible answer, chosen with --variant NAME[,NAME...]; mbxfix must
 * be right under every one (docs/fidelity.md lists them with the question
 * each answers). Without --variant dvsim plays the default column of that
 * table. The set is chosen once at start-up, before any thread runs, and
 * only read afterwards.
 */
#ifndef DVSIM_VARIANT_H
#define DVSIM_VARIANT_H

#include <stdbool.h>

#include "err.h"

enum dv_variant {
	/* testemailconfigurationscheduled stays true after a test ends */
	DV_VAR_TE_FLAG_STAYS = 1u << 0,
	/* a scheduled test waits until postponetestemailconfigurationuntil */
	DV_VAR_TE_POSTPONED = 1u << 1,
	/* the three status columns keep their old values until the test ends */
	DV_VAR_TE_STATUS_KEPT = 1u << 2,
	/* an application user's approval is accepted and has no effect */
	DV_VAR_APPROVE_NO_EFFECT = 1u << 3,
	/* a stop-on-error $batch also answers the requests before the failure */
	DV_VAR_BATCH_ECHO_OK = 1u << 4,
	/* $batch answer parts carry no Content-ID */
	DV_VAR_NO_CONTENT_ID = 1u << 5,
	/* x-ms-dop-hint is 48 (the largest value seen) */
	DV_VAR_DOP_48 = 1u << 6,
};

/* The variants in force (a mask of enum dv_variant). */
extern unsigned dv_variants;

static inline bool dv_variant(enum dv_variant v)
{
	return (dv_variants & (unsigned)v) != 0;
}

/*
 * Parse "name[,name...]" into a mask. An unknown name is an ERR_USAGE
 * error that lists the names there are.
 */
int dv_variant_parse(const char *list, unsigned *mask, struct err *e);

/* Every variant's name, comma-separated, for --help. */
const char *dv_variant_names(void);

#endif
