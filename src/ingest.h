/*-------------------------------------------------------------------------
 *
 * ingest.h
 *	  Check deliveries and hand the accepted ones to an applier: the pipeline
 *	  behind every ingest entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_INGEST_H
#define PRESENCE_INGEST_H

#include "delivery.h"
#include "presence_compat.h"

struct SecretSet;				/* store.h */

/* With SPI connected: check every delivery, then apply the accepted ones. */
extern void ingest_deliveries(Delivery *deliveries, int n, DeliveryApplier apply);

/* With SPI connected: the signature check alone (presence_verify). */
extern bool ingest_signature_valid(const char *nonce, const char *sign_timestamp,
								   const char *signature, const char *app_key,
								   const struct SecretSet *set, Rejection *why);

extern void ingest_parse_or_raise(Datum body, Payload *payload);
presence_noreturn extern void ingest_raise(const Rejection *why);

#endif							/* PRESENCE_INGEST_H */
