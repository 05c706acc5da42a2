/*-------------------------------------------------------------------------
 *
 * presence.c
 *	  Module setup: the library's magic block and its two settings.
 *
 * Both settings are SUSET: an application role must not be able to switch
 * the signature age check off, or lift the size limit, for its own session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/memutils.h"
#include "utils/guc.h"

#include "presence.h"

PG_MODULE_MAGIC;

int			presence_signature_max_age = 300;
int			presence_max_payload_bytes = 1048576;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("presence.signature_max_age",
							"Largest accepted distance, in seconds, between a delivery's signTimestamp and the server clock.",
							"0 turns the age check off.",
							&presence_signature_max_age,
							300, 0, INT_MAX / 1000,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("presence.max_payload_bytes",
							"Largest accepted delivery body, in bytes.",
							NULL,
							&presence_max_payload_bytes,
							1048576, 1, MaxAllocSize / 2,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("presence");
#else
	EmitWarningsOnPlaceholders("presence");
#endif
}
