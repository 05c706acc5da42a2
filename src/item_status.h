/*-------------------------------------------------------------------------
 *
 * item_status.h
 *	  The status of one status item, as the provider sends it.
 *
 * The values are the characters of the wire and of presence.events.status,
 * so their numeric order is the (time, status) order of the state rules: at
 * the same time a logout beats a disconnect beats a connect.  The one place
 * where a status becomes text, text becomes a status, and a status a rank.
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

/*
 * The status a text names: "0", "1" or "2" exactly; false for any other
 * text.  Every conversion from text (the wire, the tables, a router's
 * arrays) goes through here.
 */
static inline bool
item_status_from_text(const char *text, ItemStatus *status)
{
	if (text == NULL || text[0] < ITEM_CONNECTED || text[0] > ITEM_LOGGED_OUT || text[1] != '\0')
		return false;
	*status = (ItemStatus) text[0];
	return true;
}

/* The text of a status, as the wire and presence.events.status spell it. */
static inline const char *
item_status_text(ItemStatus status)
{
	switch (status)
	{
		case ITEM_CONNECTED:
			return "0";
		case ITEM_DISCONNECTED:
			return "1";
		case ITEM_LOGGED_OUT:
			return "2";
	}
	return NULL;
}

/* A status's rank in the order at one time: connect 0, disconnect 1, logout 2. */
static inline int
item_status_rank(ItemStatus status)
{
	return (int) status - (int) ITEM_CONNECTED;
}

#endif							/* PRESENCE_ITEM_STATUS_H */
