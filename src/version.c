/*-------------------------------------------------------------------------
 *
 * version.c
 *	  Refuse to run where an entry point cannot: under SQL objects older
 *	  than the library, or, for one that writes, where nothing may be written.
 *
 * Installing a new release replaces presence.so at once, for every
 * database of the cluster, while each database keeps the SQL objects of the
 * version it was created or last updated at until someone runs ALTER
 * EXTENSION presence UPDATE.  The entry points of a new library may rely on
 * tables and columns that only its own version's SQL creates, so they first
 * check pg_extension.extversion and raise 55000 with a hint, instead of
 * failing somewhere inside ingest (or worse).
 *
 * Versions only move forward, so a positive answer is kept for the backend.
 * It is forgotten on any relcache invalidation, which a DROP EXTENSION (its
 * tables go) sends to every backend: a database whose extension was dropped
 * and created again at an old version is checked again.
 *
 * The row layer writes through the table routines, which do not ask whether
 * the transaction may write as the executor's statements do; so each entry
 * point that writes asks first (presence_require_writable), and a fenced
 * primary (default_transaction_read_only) or a hot standby refuses a
 * delivery as it refuses an INSERT, before anything is read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"

#include "version.h"

/* Bumped by every relcache invalidation; ok_at is the value last found good. */
static uint64 generation = 1;
static uint64 ok_at;
static bool callback_registered;

static void
on_relcache_invalidation(Datum arg, Oid relid)
{
	generation++;
}

/*
 * Compare two dotted version names numerically ("0.10.0" > "0.9.1"); a
 * missing part counts as 0.  Returns <0, 0 or >0.
 */
static int
compare_versions(const char *a, const char *b)
{
	while (*a != '\0' || *b != '\0')
	{
		long		x = 0;
		long		y = 0;

		while (*a >= '0' && *a <= '9')
			x = x * 10 + (*a++ - '0');
		while (*b >= '0' && *b <= '9')
			y = y * 10 + (*b++ - '0');
		if (x != y)
			return x < y ? -1 : 1;
		/* skip the separator (or anything that is not a digit) */
		if (*a != '\0')
			a++;
		if (*b != '\0')
			b++;
	}
	return 0;
}

/* pg_extension.extversion of presence, or NULL when it is not installed. */
static char *
installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("presence"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Raise 55000 unless the installed presence SQL is at least the library's
 * version; called first by every entry point that touches the tables.
 */
void
presence_require_sql_version(void)
{
	uint64		g;
	char	   *version;

	if (ok_at == generation)
		return;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum) 0);
		callback_registered = true;
	}
	g = generation;
	version = installed_version();
	if (version == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the presence extension is not installed in this database"),
				 errhint("Run CREATE EXTENSION presence.")));
	if (compare_versions(version, PRESENCE_LIBRARY_VERSION) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the presence extension's SQL is version %s, older than its library",
						version),
				 errdetail("The loaded library is version %s and needs the SQL objects of that version.",
						   PRESENCE_LIBRARY_VERSION),
				 errhint("Run ALTER EXTENSION presence UPDATE.")));
	ok_at = g;
	pfree(version);
}

/*
 * Raise 25006 unless the transaction may write: not under READ ONLY,
 * default_transaction_read_only or on a hot standby, as SQL's own writes;
 * then require the SQL of the library's version.  Called first by every
 * entry point that writes.
 */
void
presence_require_writable(const char *entry)
{
	PreventCommandIfReadOnly(entry);
	presence_require_sql_version();
}
