/*-------------------------------------------------------------------------
 *
 * router.h
 *	  Scale-out on PL/Proxy: route a call's items to their users' partitions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_ROUTER_H
#define PRESENCE_ROUTER_H

#include "fmgr.h"
#include "nodes/execnodes.h"

#include "delivery.h"

/* The number of partitions when this database is a router, else 0. */
extern int	router_partitions(void);


/* A DeliveryApplier: apply the accepted deliveries on their partitions. */
extern void router_apply(Delivery *deliveries, int n, TimestampTz horizon);

/* What router.c shares with router_rooms.c. */
typedef void (*PartitionCall) (int part, void *arg);
extern bool router_try_partition(int part, PartitionCall call, void *arg, Rejection *why);
extern int	router_partition_of(const char *key, int partitions);
extern void router_alloc_columns(Datum **cols[], int ncols, int cap);
extern Datum *router_array_arg(FunctionCallInfo fcinfo, int a, Oid type, bool **nulls,
							   int *count);
extern void router_add_counts(int part, Delivery *deliveries, int n);
extern void router_return_counts(ReturnSetInfo *rsinfo, const Delivery *deliveries, int n);

/*
 * Apply the accepted deliveries' room items on their rooms' partitions
 * (router_rooms.c); env holds the call's envelope ids and times.
 */
extern void router_apply_rooms(Delivery *deliveries, int n, int partitions, const Datum *env);

#endif							/* PRESENCE_ROUTER_H */
