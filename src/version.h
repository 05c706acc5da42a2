/*-------------------------------------------------------------------------
 *
 * version.h
 *	  The library's own version, and the check that the installed SQL is
 *	  not older than it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_VERSION_H
#define PRESENCE_VERSION_H

/* The extension version this library was built for (presence.control's default_version). */
#define PRESENCE_LIBRARY_VERSION "0.3.0"

extern void presence_require_sql_version(void);
extern void presence_require_writable(const char *entry);

#endif							/* PRESENCE_VERSION_H */
