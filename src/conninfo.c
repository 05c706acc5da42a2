/*-------------------------------------------------------------------------
 *
 * conninfo.c
 *	  The keys a partition's connection string may carry (doc/rules.md section 12).
 *
 * presence.create_cluster() runs as presence_owner for presence_admin, and
 * PL/Proxy connects with a string's own user=, options= and hostaddr= as they
 * are, asking no password: a string could name a superuser as the remote role,
 * set its search_path, or send the router's .pgpass password to another
 * address.  So a partition's string may name where the partition is and how
 * to reach it safely, nothing else; the remote role and any password come
 * from the user mapping, which only its owner or a superuser can change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "libpq-fe.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(presence_check_partition_conninfo);

static const char *const allowed_keys[] = {
	"host", "port", "dbname", "sslmode", "sslrootcert", "connect_timeout", "application_name"
};

static bool
key_allowed(const char *key)
{
	for (size_t i = 0; i < lengthof(allowed_keys); i++)
		if (strcmp(key, allowed_keys[i]) == 0)
			return true;
	return false;
}

/* presence.check_partition_conninfo(text): raise 22023 unless every key of the string is allowed. */
Datum
presence_check_partition_conninfo(PG_FUNCTION_ARGS)
{
	char	   *conninfo = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	const char *bad = NULL;

	if (opts == NULL)
	{
		if (err != NULL)
			PQfreemem(err);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a partition connection string is not a valid libpq connection string")));
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL && bad == NULL; o++)
		if (o->val != NULL && !key_allowed(o->keyword))
			bad = pstrdup(o->keyword);
	PQconninfoFree(opts);
	if (bad != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" is not allowed in a partition connection string", bad),
				 errdetail("A partition string may set only host, port, dbname, sslmode, sslrootcert, connect_timeout and application_name."),
				 errhint("The role the router connects as, and its password, are the options of the user mapping for presence_owner on server presence_cluster, which only a superuser sets.")));
	PG_RETURN_VOID();
}
