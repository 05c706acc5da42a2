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

/*
 * The one idiom for a statement of ours: a static SPIPlanPtr per statement,
 * and plan_execute(plan_cached(&plan, sql, lengthof(types), types), values,
 * lengthof(values), isnull, limit).
 */
extern SPIPlanPtr plan_prepare(const char *sql, int nargs, const Oid *argtypes);
extern SPIPlanPtr plan_cached(SPIPlanPtr *cache, const char *sql, int nargs,
							  const Oid *argtypes);
extern SPIPlanPtr plan_cached_replanned(SPIPlanPtr *cache, const char *sql, int nargs,
										const Oid *argtypes);
/* A one-dimensional array of n elems of type, for a plan's argument (nulls may be NULL). */
extern Datum plan_array_arg(Datum *elems, bool *nulls, int n, Oid type);
extern int	plan_execute(SPIPlanPtr plan, Datum *values, int nvalues, const bool *isnull,
						 long limit);

#endif							/* PRESENCE_PLANS_H */
