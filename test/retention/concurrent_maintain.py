#!/usr/bin/env python3
"""
concurrent_maintain.py: presence.maintain() while four connections ingest (doc/rules.md
section 8: safe to run while ingest runs, holding no lock that stops ingest for long).

A month of old traffic is loaded, then four threads ingest deliveries for the same users at the
current time while the main connection runs CALL presence.maintain() with a 7-day retention.
Asserts: no ingest call and no maintain() fails (no deadlock, no serialization failure), ingest
kept completing calls while maintain() ran, maintain() removed exactly the old items, every
delivery sent during it is in presence.events, and presence.check() is empty.  The worst ingest
latency while maintain() ran is printed (a figure, not an assertion: make bench measures it).

Output is TAP.  Run:  prove -e python3 test/retention/concurrent_maintain.py
"""

import json
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import steady_state as ss          # noqa: E402  (day_items; re-execs for psycopg2)
import order_independence as oi    # noqa: E402
import tap                         # noqa: E402

import psycopg2                    # noqa: E402

THREADS = 4
OLD_DAYS = 30


def ingester(dbname, no, stop, log):
    conn = oi.connect(dbname)
    cur = conn.cursor()
    rng = random.Random(no)
    n = 0
    while not stop.is_set():
        now_ms = int(time.time() * 1000)
        items = [{'status': rng.choice('01'), 'userId': 'user_%04d' % rng.randrange(ss.USERS),
                  'time': now_ms + k, 'sessionId': 'live-%d-%d' % (no, rng.randrange(20))}
                 for k in range(rng.randint(1, 8))]
        body = json.dumps({'type': 'user:connection_status', 'id': 't%d-%d' % (no, n),
                           'time': now_ms, 'data': items})
        t0 = time.time()
        try:
            cur.execute("SELECT * FROM presence_ingest_unsigned(%s)", (body,))
            cur.fetchone()
            log.append((t0, time.time(), None, len(items)))
        except psycopg2.Error as e:
            log.append((t0, time.time(), '%s %s' % (e.pgcode, e.pgerror), 0))
        n += 1
    conn.close()


def main():
    checks = tap.Checks()
    check = checks.check
    with tap.throwaway_database('presence_cmaint', oi.connect) as (dbname, conn):
        return run(checks, check, dbname, conn)


def run(checks, check, dbname, conn):
    cur = conn.cursor()
    stop = threading.Event()
    logs = [[] for _ in range(THREADS)]
    threads = []
    try:
        cur.execute("CREATE EXTENSION presence")
        cur.execute("SELECT (extract(epoch FROM date_trunc('day', now())) * 1000)::bigint")
        today = cur.fetchone()[0]
        for day in range(OLD_DAYS):
            ss.ingest_day(cur, today - (OLD_DAYS + 10 - day) * ss.DAY_MS, day)
        cur.execute("SELECT count(*) FROM presence.events")
        old_items = cur.fetchone()[0]
        threads = [threading.Thread(target=ingester, args=(dbname, k, stop, logs[k]))
                   for k in range(THREADS)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        cur.execute("SET presence.retention = '7 days'")
        m0 = time.time()
        cur.execute("CALL presence.maintain()")
        removed = cur.fetchone()
        m1 = time.time()
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(30)
        calls = [c for log in logs for c in log]
        errors = [c[2] for c in calls if c[2]]
        during = [c for c in calls if c[1] >= m0 and c[0] <= m1]
        worst = max((c[1] - c[0] for c in during), default=0.0)
        print('# maintain() removed %d items and %d sessions in %.2f s; %d ingest calls during it, '
              'worst %.0f ms' % (removed[0], removed[1], m1 - m0, len(during), worst * 1000))
        check(not errors, 'no ingest call fails while maintain() runs', '; '.join(errors[:3]))
        check(removed[0] == old_items, 'maintain() removes exactly the old items',
              '%r of %d' % (removed[0], old_items))
        check(len([c for c in during if c[0] >= m0 and c[1] <= m1]) >= THREADS,
              'ingest keeps completing calls while maintain() runs', '%d calls' % len(during))
        sent = sum(c[3] for c in calls if not c[2])
        cur.execute("SELECT count(*) FROM presence.events WHERE session_id LIKE 'live-%'")
        got = cur.fetchone()[0]
        check(got > 0 and got <= sent, 'the deliveries sent during maintain() are kept',
              '%d items kept of %d sent (same-key copies merge)' % (got, sent))
        tap.check_consistent(checks, cur)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    return checks.finish()


if __name__ == '__main__':
    sys.exit(main())
