/*-------------------------------------------------------------------------
 *
 * item_status.h
 *	  The status of one status item, as the provider sends it.
 *
 * The values are the characters of the wire and of presence.events.status,
 * so their numeric order is the (time, status) order of the state rules: at
 * the same time a logout beats a disconnect beats a connect.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_ITEM_STATUS_H
#define PRESENCE_ITEM_STATUS_H

typedef enum ItemStatus
{
	ITEM_CONNECTED = '0',
	ITEM_DISCONNECTED = '1',
	ITEM_LOGGED_OUT = '2'
} ItemStatus;

#endif							/* PRESENCE_ITEM_STATUS_H */
