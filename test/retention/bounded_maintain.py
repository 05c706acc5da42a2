#!/usr/bin/env python3
"""
bounded_maintain.py: presence.maintain() reads each summary row by its key, however many
summaries the same call has written (doc/rules.md section 8: work grows with what is pruned).

A fresh database gets USERS users, each with one old session that never disconnected (a
ghost), so one maintain() folds every one of them into presence.folded_sessions, and every
user into presence.folded_users, both empty when the call starts and vacuumed so (as a nightly
vacuumdb --analyze leaves them).  A generic plan made while those tables were known empty, and
kept for the backend, scanned them whole for each user: the rows read by sequential scans of
the two tables grew with the square of the users.  Asserts, from
pg_stat_user_tables after the call: maintain() folded every session and user, and the rows read
by sequential scans of the two tables during the call are at most SMALL_TABLE_ROWS per user: a
lookup planned afresh may still scan a table of a few pages, where that is cheaper than its
index, but never one that has grown (the old plans read about USERS rows per user, half of
each table on average).  No time is measured.

Output is TAP.  Run:  prove -e python3 test/retention/bounded_maintain.py
"""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'property'))
import order_independence as oi    # noqa: E402  (connect; re-execs for psycopg2)
import tap                         # noqa: E402


USERS = 3000
PER_CALL = 100
SMALL_TABLE_ROWS = 500             # a few 8 kB pages of either table
OLD_MS = 1730192400000             # 2024-10-29T09:00:00Z, far behind a 30-day retention
SEQ_READ_SQL = ("SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables "
                "WHERE schemaname = 'presence' AND relname IN ('folded_sessions', 'folded_users')")


def flushed_seq_reads(cur):
    """Rows read by sequential scans of the summary tables, this backend's counts included."""
    cur.execute("SELECT pg_stat_force_next_flush()")
    cur.execute("SELECT pg_stat_clear_snapshot()")
    cur.execute(SEQ_READ_SQL)
    return int(cur.fetchone()[0])


def load_ghosts(cur):
    for first in range(0, USERS, PER_CALL):
        items = [{'status': '0', 'userId': 'ghost_%05d' % u, 'time': OLD_MS + u,
                  'sessionId': 's1', 'os': 'iOS'} for u in range(first, first + PER_CALL)]
        cur.execute("SELECT * FROM presence_ingest_unsigned(%s)",
                    (json.dumps({'type': 'user:connection_status', 'id': 'g%d' % first,
                                 'time': OLD_MS, 'data': items}),))


def main():
    checks = tap.Checks()
    check = checks.check
    with tap.throwaway_database('presence_bmaint', oi.connect) as (dbname, conn):
        return run(checks, check, dbname, conn)


def run(checks, check, dbname, conn):
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION presence")
    load_ghosts(cur)
    cur.execute("VACUUM ANALYZE presence.folded_sessions, presence.folded_users")
    before = flushed_seq_reads(cur)
    cur.execute("SET presence.retention = '30 days'")
    cur.execute("CALL presence.maintain()")
    removed = cur.fetchone()
    read = flushed_seq_reads(cur) - before
    cur.execute("SELECT (SELECT count(*) FROM presence.folded_sessions), "
                "(SELECT count(*) FROM presence.folded_users)")
    folded = cur.fetchone()
    print('# maintain() removed %d items; sequential scans of the summaries read %d rows'
          % (removed[0], read))
    check(removed[0] == USERS and folded == (USERS, USERS),
          'maintain() folds every ghost session and every user',
          'removed %r, folded %r' % (removed, folded))
    check(read <= SMALL_TABLE_ROWS * USERS,
          'maintain() reads the summaries by key once they have grown, not a scan per user',
          '%d rows read by sequential scans for %d users' % (read, USERS))
    tap.check_consistent(checks, cur)
    return checks.finish()


if __name__ == '__main__':
    sys.exit(main())
