/*-------------------------------------------------------------------------
 *
 * plans.c
 *	  Prepare and run the SPI plans of ingest and the triggers.
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

#include "utils/guc.h"

#include "plans.h"

SPIPlanPtr
plan_prepare(const char *sql, int nargs, const Oid *argtypes)
{
	int			nestlevel = NewGUCNestLevel();
	SPIPlanPtr	plan;

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	/* Generic plans: these statements gain nothing from re-planning per call. */
	plan = SPI_prepare_cursor(sql, nargs, (Oid *) argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "presence: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "presence: SPI_keepplan failed");
	AtEOXact_GUC(true, nestlevel);
	return plan;
}

/* Run a saved plan; isnull may be NULL when no argument is null. */
int
plan_execute(SPIPlanPtr plan, Datum *values, const bool *isnull, long limit)
{
	char		nulls[16];
	int			nargs = SPI_getargcount(plan);
	int			rc;

	Assert(nargs <= (int) sizeof(nulls));
	for (int i = 0; i < nargs; i++)
		nulls[i] = (isnull && isnull[i]) ? 'n' : ' ';
	rc = SPI_execute_plan(plan, values, nulls, false, limit);
	if (rc < 0)
		elog(ERROR, "presence: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}
