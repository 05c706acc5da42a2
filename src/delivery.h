/*-------------------------------------------------------------------------
 *
 * delivery.h
 *	  One delivery on its way through a call: its input, what checking it
 *	  worked out, and its outcome; and the applier type (apply.h, router.h).
 *
 * Shared by the checking (ingest.c) and the appliers below it, so that none
 * of them includes another's header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_DELIVERY_H
#define PRESENCE_DELIVERY_H

#include "datatype/timestamp.h"

#include "payload.h"
#include "signature.h"

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

/*
 * Applies a call's accepted deliveries, verified and parsed, counting each
 * one's outcome; called with the call's store open (store_begin), and ends
 * it (store_end), when done or, keeping no rows here, at once.  Items older
 * than horizon are stale.
 */
typedef void (*DeliveryApplier) (Delivery *deliveries, int n, TimestampTz horizon);

#endif							/* PRESENCE_DELIVERY_H */
