/*
 * deadline.h: a deadline for each whole request, body included (deadline.c).
 * Include after <microhttpd.h>.
 */
#ifndef PRESENCE_HTTP_DEADLINE_H
#define PRESENCE_HTTP_DEADLINE_H

#include <stdbool.h>

extern void deadline_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
							enum MHD_ConnectionNotificationCode toe);
extern void deadline_mark(struct MHD_Connection *conn, bool headers_done);
extern bool deadline_expired(struct MHD_Connection *conn);
extern bool deadline_start(int timeout_s);
extern void deadline_stop(void);

#endif
