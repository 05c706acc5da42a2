/*-------------------------------------------------------------------------
 *
 * rows_call.h
 *	  What the files of the row layer share (rows.c, rows_read.c,
 *	  rows_write.c, rows_speculative.c); no other file includes it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_ROWS_CALL_H
#define PRESENCE_ROWS_CALL_H

#include "access/genam.h"
#include "nodes/execnodes.h"

#include "rows.h"

typedef struct CallTables
{
	EState	   *estate;
	EPQState	epqstate;
	RowsTable tables[ROWS_NUM_TABLES];
	bool		reading;		/* rows_begin_reading pushed a snapshot */
	void	   *owner;			/* the caller's state for this call */
	SubTransactionId subid;		/* the subtransaction that opened the tables */
	struct CallTables *outer;	/* the call this one runs inside (a trigger's) */
} CallTables;

/* The running call (rows.c), NULL when none. */
extern CallTables *rows_current_call;

/* rows_write.c: write the rows t holds for later; every table's, at the call's end. */
extern void rows_write_later(RowsTable *t);
extern void rows_write_all_later(void);

/* rows_write.c: start a write to t (its triggers queue events); run them. */
extern void rows_begin_write(RowsTable *t);
extern void rows_end_write(RowsTable *t);

/* rows_read.c: the row in t->found must be visible to a REPEATABLE READ transaction. */
extern void rows_require_visible(RowsTable *t);

#endif							/* PRESENCE_ROWS_CALL_H */
