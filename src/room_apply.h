/*-------------------------------------------------------------------------
 *
 * room_apply.h
 *	  Apply the room items (open_channel:operation) of a call's accepted
 *	  deliveries to this database's room tables.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_ROOM_APPLY_H
#define PRESENCE_ROOM_APPLY_H

#include "delivery.h"

/*
 * Apply the room items of the accepted deliveries, counting each one's
 * outcome, after their status items (the lock order: users, then rooms).
 */
extern void room_apply(Delivery *deliveries, int n, TimestampTz horizon);

#endif							/* PRESENCE_ROOM_APPLY_H */
