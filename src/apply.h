/*-------------------------------------------------------------------------
 *
 * apply.h
 *	  The local applier: a call's accepted deliveries into this database's
 *	  presence tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_APPLY_H
#define PRESENCE_APPLY_H

#include "delivery.h"

/* A DeliveryApplier: apply the accepted deliveries here (apply.c). */
extern void apply_local(Delivery *deliveries, int n, TimestampTz horizon);

#endif							/* PRESENCE_APPLY_H */
