#!/usr/bin/env python3
"""
router_property.py: the property test's histories through a presence router (doc/rules.md section 12).

Needs a running router cluster (test/cluster/lib.bash starts one): PRESENCE_ROUTER, a libpq
connection string of the router database, and PRESENCE_PARTITIONS, the partitions' connection
strings separated by '|', partition 0 first.  For every random history of
test/property/presence_model.py, applied once from one connection and once split over four
concurrent connections (each with random re-deliveries), all through the router:

  * every user's sessions, users and events rows are on exactly the partition
    presence.partition_of(user_id, partitions) names, and nowhere else;
  * the union of the partitions' rows equals the single-node model;
  * presence.cluster_check() on the router returns no rows;
  * the ingest results add up as on one node (applied + stale = distinct items,
    duplicates = copies - distinct items, ignored = foreign deliveries).

It also pins presence.partition_of() to literal values (a user never moves) and checks the
router's reads: cluster_users, cluster_sessions, cluster_online_count.

Output is TAP.  Options: --seed S --histories N (default 40; PROPERTY_HISTORIES overrides).
"""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'property'))

try:
    import psycopg2
except ImportError:
    if os.path.exists('/usr/bin/python3') and os.path.realpath(sys.executable) != \
            os.path.realpath('/usr/bin/python3') and not os.environ.get('PROPERTY_REEXEC'):
        os.environ['PROPERTY_REEXEC'] = '1'
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    print('1..1')
    print('not ok 1 - python3-psycopg2 is importable')
    sys.exit(1)

import argparse     # noqa: E402
import random       # noqa: E402
import threading    # noqa: E402

import order_independence as oi     # noqa: E402
import presence_model as pm         # noqa: E402
from tap import Checks              # noqa: E402

# Pinned: change these and users move between partitions (doc/scaling.md).
PINNED = [('user_001', 2, 1), ('user_001', 4, 3), ('user_001', 8, 7), ('user_001', 1024, 191),
          ('user_002', 4, 2), ('user_002', 1024, 746), ('u0', 4, 1), ('u0', 8, 5),
          ('u1', 1024, 221), ('用户-7', 4, 1), ('用户-7', 1024, 805), ('anyone', 1, 0)]


def connect(dsn):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute("SET client_min_messages = warning")
    return conn


def ingest(conn, body):
    try:
        cur = conn.cursor()
        cur.execute("SELECT * FROM presence_ingest_unsigned(%s)", (body,))
        return tuple(cur.fetchone())
    except psycopg2.Error as e:
        return 'ERROR %s: %s' % (e.pgcode, (e.pgerror or str(e)).strip().splitlines()[0])


def run_concurrent(conns, lists):
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(lists))

    def work(conn, lst):
        barrier.wait()
        mine = [(d, ingest(conn, d.body)) for d in lst]
        with lock:
            results.extend(mine)
    threads = [threading.Thread(target=work, args=(c, lst)) for c, lst in zip(conns, lists)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return results


def read_partition(cur):
    cur.execute(oi.SESSIONS_SQL)
    sessions = {(r[0], r[1]): tuple(r[2:]) for r in cur.fetchall()}
    cur.execute(oi.USERS_SQL)
    users = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
    cur.execute("SELECT DISTINCT user_id FROM presence.events")
    event_users = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT count(*) FROM presence.events")
    return sessions, users, event_users, cur.fetchone()[0]


def with_redeliveries(rng, seq):
    seq = list(seq)
    for d in [d for d in seq if rng.random() < 0.15]:
        seq.insert(rng.randrange(len(seq) + 1), d)
    return seq


def check_order(c, problems, name, h, results, parts, router):
    errors = [r for _, r in results if isinstance(r, str)]
    if errors:
        problems['errors'].append('%s: %d errors, first %s' % (name, len(errors), errors[0]))
    good = [r for _, r in results if not isinstance(r, str)]
    for r in good:
        if r[0] != sum(r[1:]):
            problems['results'].append('%s: a result does not add up: %r' % (name, r))
            break
    applied = sum(r[1] for r in good)
    dups = sum(r[2] for r in good)
    stale = sum(r[3] for r in good)
    ignored = sum(r[4] for r in good)
    copies = sum(len(d.items) for d, _ in results)
    foreign = sum(d.foreign_items for d, _ in results)
    distinct = len(h.idents)
    if (applied + stale, dups, ignored) != (distinct, copies - distinct, foreign):
        problems['results'].append('%s: applied+stale %d (distinct %d), duplicates %d (copies - '
                                   'distinct %d), ignored %d (foreign %d)'
                                   % (name, applied + stale, distinct, dups, copies - distinct,
                                      ignored, foreign))
    want_s, want_u = oi.pm_expected(h)
    all_s, all_u, nevents = {}, {}, 0
    n = len(parts)
    cur = router.cursor()
    for p, conn in enumerate(parts):
        sessions, users, event_users, count = read_partition(conn.cursor())
        nevents += count
        for u in set([k[0] for k in sessions]) | set(users) | set(event_users):
            cur.execute("SELECT presence.partition_of(%s, %s)", (u, n))
            if cur.fetchone()[0] != p:
                problems['placement'].append('%s: user %r has rows on partition %d' % (name, u, p))
        all_s.update(sessions)
        all_u.update(users)
    if nevents != distinct:
        problems['model'].append('%s: %d event rows for %d distinct items' % (name, nevents, distinct))
    if all_s != want_s or all_u != want_u:
        problems['model'].append('%s: sessions %s | users %s'
                                 % (name, oi.dict_diff(all_s, want_s, pm.SESSION_FIELDS),
                                    oi.dict_diff(all_u, want_u, pm.USER_FIELDS)))
    cur.execute("SELECT * FROM presence.cluster_check()")
    rows = cur.fetchall()
    if rows:
        problems['check'].append('%s: cluster_check() returned %d rows, first %r'
                                 % (name, len(rows), rows[:2]))
    return all_u, all_s


def check_reads(c, router, users, sessions):
    cur = router.cursor()
    names = sorted(users)[:40] + ['nobody-at-all']
    cur.execute("SELECT user_id, online_sessions, online FROM presence.cluster_users(%s)", (names,))
    got = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    want = {u: (users[u][0], users[u][1]) for u in names if u in users}
    c.check(got == want, 'cluster_users returns exactly the named users\' rows',
            '' if got == want else 'got %d rows, want %d' % (len(got), len(want)))
    bad = []
    for u in sorted(users)[:10]:
        cur.execute("SELECT session_id, state FROM presence.cluster_sessions(%s)", (u,))
        got_s = sorted(cur.fetchall())
        want_s = sorted((k[1], v[0]) for k, v in sessions.items() if k[0] == u)
        if got_s != want_s:
            bad.append(u)
    c.check(not bad, 'cluster_sessions returns each user\'s sessions', repr(bad[:3]))
    cur.execute("SELECT presence.cluster_online_count()")
    online = cur.fetchone()[0]
    want_online = sum(1 for v in users.values() if v[1])
    c.check(online == want_online, 'cluster_online_count counts the users online on every partition',
            '%r, want %r' % (online, want_online))


def check_create_cluster(c, router):
    """create_cluster() by a presence_admin member that is no superuser, in a new database."""
    cur = router.cursor()
    cur.execute("DROP DATABASE IF EXISTS presence_create_cluster")
    cur.execute("CREATE DATABASE presence_create_cluster")
    dsn = router.get_dsn_parameters()
    conn = psycopg2.connect(host=dsn['host'], port=dsn['port'], user=dsn['user'],
                            dbname='presence_create_cluster')
    conn.autocommit = True
    db = conn.cursor()
    db.execute("SET client_min_messages = warning")
    db.execute("CREATE EXTENSION presence")
    db.execute("CREATE EXTENSION presence_router CASCADE")
    db.execute("DO $$ BEGIN CREATE ROLE presence_test_admin IN ROLE presence_admin; "
               "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    db.execute("SET ROLE presence_test_admin")
    parts = ['host=/nonexistent dbname=a', 'host=/nonexistent dbname=b']
    outcomes = []
    for arg in (parts[:1] * 3, parts, parts, parts[::-1]):
        try:
            db.execute("SELECT presence.create_cluster(%s)", (arg,))
            outcomes.append(db.fetchone()[0])
        except psycopg2.Error as e:
            outcomes.append(e.pgcode)
    db.execute("RESET ROLE")
    db.execute("SELECT srvowner::regrole::text, presence.cluster_partitions() FROM pg_foreign_server "
               "WHERE srvname = 'presence_cluster'")
    server = db.fetchone()
    c.check(outcomes == ['22023', 2, 2, '55000'],
            'create_cluster: 22023 for 3 partitions; a presence_admin member (no superuser) makes '
            'a 2-partition cluster; the same list again changes nothing; another list is 55000',
            repr(outcomes))
    c.check(server == ('presence_owner', 2), 'the cluster\'s server belongs to presence_owner',
            repr(server))
    conn.close()
    cur.execute("DROP DATABASE presence_create_cluster")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=int(os.environ.get('PROPERTY_SEED', 20261201)))
    ap.add_argument('--histories', type=int,
                    default=int(os.environ.get('PROPERTY_HISTORIES', 40)))
    args = ap.parse_args()
    c = Checks()
    router = connect(os.environ['PRESENCE_ROUTER'])
    parts = [connect(d) for d in os.environ['PRESENCE_PARTITIONS'].split('|')]
    cur = router.cursor()
    bad = []
    for u, n, want in PINNED:
        cur.execute("SELECT presence.partition_of(%s, %s)", (u, n))
        got = cur.fetchone()[0]
        if got != want:
            bad.append('%r of %d: %d, pinned %d' % (u, n, got, want))
    c.check(not bad, 'presence.partition_of gives the pinned partitions', '; '.join(bad))
    workers = [connect(os.environ['PRESENCE_ROUTER']) for _ in range(4)]
    problems = {k: [] for k in ('errors', 'results', 'placement', 'model', 'check')}
    for hno in range(args.histories):
        rng = random.Random('%d/%d' % (args.seed, hno))
        h = pm.generate_history(rng, hno)
        for name in ('seq', 'conc'):
            for p in parts:
                p.cursor().execute(oi.RESET_SQL)
            seq = with_redeliveries(rng, h.deliveries)
            rng.shuffle(seq)
            label = 'history %d %s (seed %d)' % (hno, name, args.seed)
            if name == 'seq':
                results = [(d, ingest(router, d.body)) for d in seq]
            else:
                lists = [[] for _ in workers]
                for d in seq:
                    lists[rng.randrange(len(workers))].append(d)
                results = run_concurrent(workers, lists)
            check_order(c, problems, label, h, results, parts, router)
    c.check(not problems['errors'], 'no delivery through the router raised an error',
            '; '.join(problems['errors'][:2]))
    c.check(not problems['results'], 'the ingest results add up as on one node',
            '; '.join(problems['results'][:2]))
    c.check(not problems['placement'], 'every user\'s rows are on its partition only',
            '; '.join(problems['placement'][:2]))
    c.check(not problems['model'], 'the partitions\' rows together equal the single-node model '
            '(sequential and from 4 connections)', '; '.join(problems['model'][:2]))
    c.check(not problems['check'], 'cluster_check() returns no rows after every order',
            '; '.join(problems['check'][:2]))
    # The reads, on a known state: 16 users, every other one online with two sessions.
    for p in parts:
        p.cursor().execute(oi.RESET_SQL)
    items = ','.join('{"status":"%s","userId":"r%d","time":%d,"sessionId":"s%d"}'
                     % ('0' if k % 2 == 0 else '1', k, 1730000000000 + k, j)
                     for k in range(16) for j in range(2))
    ingest(router, '{"type":"user:connection_status","id":"reads","time":1730000000000,'
           '"data":[%s]}' % items)
    users, sessions = {}, {}
    for p in parts:
        s_, u_, _, _ = read_partition(p.cursor())
        users.update(u_)
        sessions.update(s_)
    check_reads(c, router, users, sessions)
    check_create_cluster(c, router)
    return c.finish()


oi.pm_expected = pm.expected_state

if __name__ == '__main__':
    sys.exit(main())
