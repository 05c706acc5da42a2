/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  Prepare and run the SPI plans of ingest and the triggers, and build
 *	  their array arguments.
 *
 * Each statement is prepared once per backend and kept, with a generic plan
 * so that no call pays for planning.  It is parsed with
 * search_path set to pg_catalog, pg_temp, and the plan cache re-uses that
 * path whenever it replans, so no object in a caller's schema can stand in
 * for ours or for a built-in operator.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/guc.h"

#include "plans.h"

/* The path every statement of ours is parsed and run under. */
#define PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/* The most arguments a plan of ours takes. */
#define PLAN_MAX_ARGS 16

/* Prepare sql under the pinned search_path with the given cursor options, and keep it. */
static SPIPlanPtr
prepare_pinned(const char *sql, int nargs, const Oid *argtypes, int cursor_options)
{
	int			nestlevel = NewGUCNestLevel();
	SPIPlanPtr	plan;

	(void) set_config_option("search_path", PINNED_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes, cursor_options);
	if (plan == NULL)
		elog(ERROR, "presence: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "presence: SPI_keepplan failed");
	AtEOXact_GUC(true, nestlevel);
	return plan;
}

/* Prepare sql under the pinned search_path, with a generic plan, and keep it. */
SPIPlanPtr
plan_prepare(const char *sql, int nargs, const Oid *argtypes)
{
	/* Generic plans: these statements gain nothing from re-planning per call. */
	return prepare_pinned(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
}

/* The plan in *cache, prepared (plan_prepare) and kept there on first use. */
SPIPlanPtr
plan_cached(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *argtypes)
{
	if (*cache == NULL)
		*cache = plan_prepare(sql, nargs, argtypes);
	return *cache;
}

/*
 * As plan_cached, but planned again at every execution, for a statement on a
 * table that may be empty when first planned and grow within one call: a
 * generic plan made then keeps a sequential scan (its cost is nothing on no
 * pages) however large the table grows before the backend's statistics are
 * flushed, so maintain() would scan presence.folded_sessions once per user.
 */
SPIPlanPtr
plan_cached_replanned(SPIPlanPtr *cache, const char *sql, int nargs, const Oid *argtypes)
{
	if (*cache == NULL)
		*cache = prepare_pinned(sql, nargs, argtypes, CURSOR_OPT_CUSTOM_PLAN);
	return *cache;
}

/*
 * Run a saved plan with values, nvalues of them (the plan's argument count,
 * checked); isnull may be NULL when no argument is null.  The plan
 * cache parses a plan again under the search_path of the moment when that
 * differs from the one it was made under, so the statement runs under the
 * pinned path too: a caller's schema can then never supply an operator or
 * a function to it, even when a trigger fires for the caller's own UPDATE.
 */
int
plan_execute(SPIPlanPtr plan, Datum *values, int nvalues, const bool *isnull, long limit)
{
	char		nulls[PLAN_MAX_ARGS];
	int			nargs = SPI_getargcount(plan);
	int			nestlevel = -1;
	int			rc;

	if (nargs != nvalues)
		elog(ERROR, "presence: a plan takes %d arguments, given %d", nargs, nvalues);
	if (nargs > PLAN_MAX_ARGS)
		elog(ERROR, "presence: a plan takes %d arguments, more than %d", nargs, PLAN_MAX_ARGS);
	for (int i = 0; i < nargs; i++)
		nulls[i] = (isnull && isnull[i]) ? 'n' : ' ';
	if (strcmp(namespace_search_path, PINNED_SEARCH_PATH) != 0)
	{
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", PINNED_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	rc = SPI_execute_plan(plan, values, nulls, false, limit);
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
	if (rc < 0)
		elog(ERROR, "presence: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/*
 * A one-dimensional array of n elems of type (nulls may be NULL): an array
 * argument of a saved plan, as ingest's room statement and the router's
 * partition calls pass them.
 */
Datum
plan_array_arg(Datum *elems, bool *nulls, int n, Oid type)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}
