#!/usr/bin/env python3
"""
steady_state.py: 90 days of steady traffic with a 7-day retention; the presence tables stop
growing once the horizon is reached (doc/rules.md section 8).

Every simulated day, USERS users each connect and disconnect two identified sessions (new ids
every day) and their anonymous session, with times spread over that day; then
presence.maintain() runs with the horizon 7 days behind the simulated day (for the items and,
through presence.daily_retention, for presence.daily), and VACUUM does what autovacuum would.  The test asserts that the total size of the presence tables (heap, indexes,
TOAST) at the end is no larger than a little over its size two weeks in, that presence.events
and presence.sessions hold only what the last 8 days brought, that users keep their last_*
times, and that presence.check() is empty.

Output is TAP.  Run:  prove -e python3 test/retention/steady_state.py   (PGHOST, PGPORT, PGUSER)
"""

import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'property'))
import order_independence as oi    # noqa: E402  (connect; re-execs for psycopg2)
import tap                         # noqa: E402


DAYS = 90
KEEP_DAYS = 7
USERS = 150
DAY_MS = 86400 * 1000
SIZE_SQL = ("SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'presence' AND c.relkind = 'r'")


def day_items(day_start, day):
    """One day's items: for each user two identified sessions and the anonymous one."""
    items = []
    for u in range(USERS):
        for k, sid in enumerate(('d%d-a' % day, 'd%d-b' % day, None)):
            on = day_start + ((u * 7919 + k * 104729) % (DAY_MS // 2))
            off = on + 3600 * 1000 + (u % 60) * 60 * 1000
            for status, t in (('0', on), ('1', off)):
                it = {'status': status, 'userId': 'user_%04d' % u, 'time': t,
                      'os': ('iOS', 'Android', 'Web')[k], 'clientIp': '10.1.%d.%d:443' % (u % 250, k)}
                if sid:
                    it['sessionId'] = sid
                items.append(it)
    return items


def ingest_day(cur, day_start, day):
    items = day_items(day_start, day)
    for n in range(0, len(items), 100):
        body = json.dumps({'type': 'user:connection_status', 'id': 'day%d-%d' % (day, n),
                           'time': day_start, 'data': items[n:n + 100]})
        cur.execute("SELECT * FROM presence_ingest_unsigned(%s)", (body,))


def main():
    checks = tap.Checks()
    check = checks.check
    with tap.throwaway_database('presence_steady', oi.connect) as (dbname, conn):
        return run(checks, check, dbname, conn)


def run(checks, check, dbname, conn):
    cur = conn.cursor()
    sizes = []
    cur.execute("CREATE EXTENSION presence")
    cur.execute("SELECT (extract(epoch FROM date_trunc('day', now())) * 1000)::bigint")
    today = cur.fetchone()[0]
    for day in range(DAYS):
        back = DAYS - 1 - day
        ingest_day(cur, today - back * DAY_MS, day)
        # Both horizons 7 days behind the simulated day: the items and presence.daily.
        for setting in ('presence.retention', 'presence.daily_retention'):
            cur.execute("SELECT set_config(%s, %s, false)",
                        (setting, '%d days' % (back + KEEP_DAYS)))
        cur.execute("CALL presence.maintain()")
        cur.execute("VACUUM presence.events, presence.sessions, presence.users, "
                    "presence.folded_sessions, presence.folded_users, presence.retention_state, "
                    "presence.daily")
        cur.execute(SIZE_SQL)
        sizes.append(cur.fetchone()[0])
    print('# total size of the presence tables (kB) every 10 days: %s'
          % ', '.join(str(sizes[d] // 1024) for d in range(0, DAYS, 10)))
    grown = sizes[-1] / float(sizes[14])
    check(grown <= 1.15, 'the tables stop growing once the horizon is reached',
          'day 15: %d kB, day 90: %d kB (%.2fx)' % (sizes[14] // 1024, sizes[-1] // 1024, grown))
    check(max(sizes[30:]) <= 1.15 * sizes[14], 'no day after the first month is larger',
          'largest after day 30: %d kB' % (max(sizes[30:]) // 1024))
    cur.execute("SELECT count(*), min(status_time) >= now() - interval '8 days' "
                "FROM presence.events")
    n_events, recent = cur.fetchone()
    per_day = USERS * 6
    check(recent and n_events <= (KEEP_DAYS + 1) * per_day,
          'presence.events keeps only the last days', '%d items' % n_events)
    cur.execute("SELECT count(*) FROM presence.sessions")
    n_sessions = cur.fetchone()[0]
    check(n_sessions <= (KEEP_DAYS + 1) * USERS * 2 + USERS, 'ended sessions are removed',
          '%d sessions' % n_sessions)
    cur.execute("SELECT count(*) FROM presence.users WHERE last_seen_at >= now() - interval '1 day'"
                " AND last_online_at IS NOT NULL AND NOT online")
    check(cur.fetchone()[0] == USERS, 'every user keeps its last_* times')
    tap.check_consistent(checks, cur)
    return checks.finish()


if __name__ == '__main__':
    sys.exit(main())
