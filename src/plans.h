/*-------------------------------------------------------------------------
 *
 * plans.h
 *	  SPI plans prepared once per backend under a pinned search_path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_PLANS_H
#define PRESENCE_PLANS_H

#include "executor/spi.h"

extern SPIPlanPtr plan_prepare(const char *sql, int nargs, const Oid *argtypes);
extern int	plan_execute(SPIPlanPtr plan, Datum *values, const bool *isnull, long limit);

/* Prepare on first use: PLAN(&cache, sql, types) */
#define PLAN(cache, sql, types) \
	(*(cache) ? *(cache) : (*(cache) = plan_prepare((sql), lengthof(types), (types))))

#endif							/* PRESENCE_PLANS_H */
