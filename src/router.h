/*-------------------------------------------------------------------------
 *
 * router.h
 *	  Scale-out on PL/Proxy: route a call's items to their users' partitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_ROUTER_H
#define PRESENCE_ROUTER_H

#include "delivery.h"

/* The number of partitions when this database is a router, else 0. */
extern int	router_partitions(void);

/* The partition of a user: first 32 bits of md5(user_id) & (partitions - 1). */
extern int	router_partition_of(const char *user_id, int partitions);

/* A DeliveryApplier: apply the accepted deliveries on their partitions. */
extern void router_apply(Delivery *deliveries, int n, TimestampTz horizon);

#endif							/* PRESENCE_ROUTER_H */
