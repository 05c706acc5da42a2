/*-------------------------------------------------------------------------
 *
 * triggers.h
 *	  The trigger functions that keep presence.users (triggers.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_TRIGGERS_H
#define PRESENCE_TRIGGERS_H

#include "fmgr.h"

extern Datum presence_users_follow_events(PG_FUNCTION_ARGS);
extern Datum presence_users_follow_sessions(PG_FUNCTION_ARGS);

#endif							/* PRESENCE_TRIGGERS_H */
