/*-------------------------------------------------------------------------
 *
 * presence_compat.h
 *	  Every difference between the PostgreSQL majors presence builds on.
 *
 * presence builds from one tree on PostgreSQL 15, 17 and 18 (and on 16,
 * whose headers are not tested here; doc/rules.md section 13).  Each API
 * whose signature or home changed between them is wrapped here once, under
 * a presence_ name, so no other file tests PG_VERSION_NUM, as Citus's
 * pg_version_compat.h does for its majors.  The first part serves frontend
 * builds too (the fuzzers build payload.c outside the server); the
 * executor's part is for the server alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PRESENCE_COMPAT_H
#define PRESENCE_COMPAT_H

#if PG_VERSION_NUM < 150000
#error "presence needs PostgreSQL 15 or later"
#endif

#include "common/jsonapi.h"

/* 16 moved the varlena macros (VARDATA_ANY and friends) to varatt.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* A function that never returns, written before its declaration; 18 made it a specifier. */
#if PG_VERSION_NUM >= 180000
#define presence_noreturn pg_noreturn
#else
#define presence_noreturn pg_attribute_noreturn()
#endif

/* A JSON lexer over len bytes of json; 17 takes a context to fill (NULL: allocate one). */
static inline JsonLexContext *
presence_json_lexer(char *json, int len, int encoding)
{
#if PG_VERSION_NUM >= 170000
	return makeJsonLexContextCstringLen(NULL, json, len, encoding, true);
#else
	return makeJsonLexContextCstringLen(json, len, encoding, true);
#endif
}

#ifndef FRONTEND

#include "executor/executor.h"
#include "access/genam.h"
#include "access/tableam.h"
#include "nodes/bitmapset.h"
#include "parser/parse_relation.h"
#include "replication/message.h"
#include "storage/proc.h"
#include "utils/relcache.h"

/*
 * The executor's range table of rtable's relations, each written with no
 * permission of its own to check (the caller checked the entry point's).
 * 16 keeps permissions apart from the entries; 18 also wants the entries
 * that pruning kept, which here are all of them.
 */
static inline void
presence_init_range_table(EState *estate, List *rtable)
{
#if PG_VERSION_NUM >= 160000
	List	   *perminfos = NIL;
	ListCell   *lc;

	foreach(lc, rtable)
		addRTEPermissionInfo(&perminfos, lfirst_node(RangeTblEntry, lc));
#endif
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(estate, rtable, perminfos,
					   bms_add_range(NULL, 1, list_length(rtable)));
#elif PG_VERSION_NUM >= 160000
	ExecInitRangeTable(estate, rtable, perminfos);
#else
	ExecInitRangeTable(estate, rtable);
#endif
}

/* The OID of rel's primary key index; 18 asks whether a deferrable one will do (no). */
static inline Oid
presence_primary_key_index(Relation rel)
{
#if PG_VERSION_NUM >= 180000
	return RelationGetPrimaryKeyIndex(rel, false);
#else
	return RelationGetPrimaryKeyIndex(rel);
#endif
}

/* Begin a scan of index with nkeys keys and no ordering; 18 added instrumentation (none). */
static inline IndexScanDesc
presence_index_beginscan(Relation heap, Relation index, Snapshot snapshot, int nkeys)
{
#if PG_VERSION_NUM >= 180000
	return index_beginscan(heap, index, snapshot, NULL, nkeys, 0);
#else
	return index_beginscan(heap, index, snapshot, nkeys, 0);
#endif
}

/*
 * Would slot conflict in an arbiter index?  18 added the row being updated,
 * for WITHOUT OVERLAPS keys; an insert has none.
 */
static inline bool
presence_check_index_constraints(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate,
								 ItemPointer conflict_tid, List *arbiters)
{
#if PG_VERSION_NUM >= 180000
	return ExecCheckIndexConstraints(rri, slot, estate, conflict_tid, NULL, arbiters);
#else
	return ExecCheckIndexConstraints(rri, slot, estate, conflict_tid, arbiters);
#endif
}

/* EvalPlanQual state with no plan; 16 added the result relations. */
static inline void
presence_epq_init(EPQState *epqstate, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	EvalPlanQualInit(epqstate, estate, NULL, NIL, -1, NIL);
#else
	EvalPlanQualInit(epqstate, estate, NULL, NIL, -1);
#endif
}

/* Insert slot's index entries; 16 added only_summarizing (true when HOT updated no other index). */
static inline List *
presence_insert_index_tuples(ResultRelInfo *rri, TupleTableSlot *slot, EState *estate,
							 bool update, bool no_dup_err, bool *spec_conflict,
							 List *arbiters, bool only_summarizing)
{
#if PG_VERSION_NUM >= 160000
	return ExecInsertIndexTuples(rri, slot, estate, update, no_dup_err, spec_conflict,
								 arbiters, only_summarizing);
#else
	return ExecInsertIndexTuples(rri, slot, estate, update, no_dup_err, spec_conflict,
								 arbiters);
#endif
}

/*
 * Replace the row at otid by slot; returns whether index entries must be
 * inserted, and sets *only_summarizing when only summarizing indexes need
 * them (16 says which through TU_UpdateIndexes, 15 with a bool).
 */
static inline bool
presence_table_update(Relation rel, ItemPointer otid, TupleTableSlot *slot,
					  Snapshot snapshot, bool *only_summarizing)
{
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;

	simple_table_tuple_update(rel, otid, slot, snapshot, &update_indexes);
	*only_summarizing = (update_indexes == TU_Summarizing);
	return update_indexes != TU_None;
#else
	bool		update_indexes;

	simple_table_tuple_update(rel, otid, slot, snapshot, &update_indexes);
	*only_summarizing = false;
	return update_indexes;
#endif
}

/* This backend's local transaction id; 17 moved it into MyProc->vxid. */
static inline LocalTransactionId
presence_current_lxid(void)
{
#if PG_VERSION_NUM >= 170000
	return MyProc->vxid.lxid;
#else
	return MyProc->lxid;
#endif
}

/* A transactional logical decoding message; 17 added flush (not wanted here). */
static inline XLogRecPtr
presence_log_logical_message(const char *prefix, const char *message, size_t size)
{
#if PG_VERSION_NUM >= 170000
	return LogLogicalMessage(prefix, message, size, true, false);
#else
	return LogLogicalMessage(prefix, message, size, true);
#endif
}

#endif							/* FRONTEND */

#endif							/* PRESENCE_COMPAT_H */
