/*-------------------------------------------------------------------------
 *
 * ingest.h
 *	  Check and apply deliveries: the pipeline behind every ingest entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_INGEST_H
#define PRESENCE_INGEST_H

#include "payload.h"
#include "presence_compat.h"
#include "signature.h"

struct SecretSet;				/* store.h */

/* Why a delivery was refused: an SQLSTATE and PostgreSQL-style texts. */
typedef struct Rejection
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	char	   *hint;
} Rejection;

typedef struct Delivery
{
	/* input */
	Datum		body;			/* text, possibly still toasted */
	bool		verify;			/* false for the unsigned path */
	bool		parsed;			/* payload given (a router's share), no body */
	const char *nonce;			/* NULL when absent */
	const char *sign_timestamp;
	const char *signature;
	const char *app_key;

	/* worked out on the way */
	text	   *body_text;		/* detoasted, once the size is known to be fine */
	Payload		payload;
	char		signature_hex[SIGNATURE_LEN * 2 + 1];	/* lower case */
	int64		sign_ms;

	/* outcome */
	bool		rejected;
	Rejection	why;
	int			applied;
	int			duplicates;
	int			stale;
} Delivery;

/* With SPI connected: check every delivery, then apply the accepted ones. */
extern void ingest_deliveries(Delivery *deliveries, int n);

/* With SPI connected: the signature check alone (presence_verify). */
extern bool ingest_signature_valid(const char *nonce, const char *sign_timestamp,
								   const char *signature, const char *app_key,
								   const struct SecretSet *set, Rejection *why);

extern void ingest_parse_or_raise(Datum body, Payload *payload);
presence_noreturn extern void ingest_raise(const Rejection *why);

#endif							/* PRESENCE_INGEST_H */
