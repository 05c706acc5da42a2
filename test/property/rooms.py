#!/usr/bin/env python3
"""
rooms.py: property test of rooms (doc/rules.md section 14, invariants 1 and 2 for rooms).

Each random history has several rooms, users in several rooms, creates, joins, leaves (with
every status), destroys and re-creates, items naming several users, copies of an item that
disagree on status, and status deliveries mixed in.  Its deliveries are applied in several
orders: shuffled from one connection with re-deliveries, split over 4 concurrent connections,
and over 4 connections with every delivery sent twice, while presence.maintain() runs beside
them.  After each order presence.room_members and presence.rooms equal this file's model of
the rules (updated_at ignored), presence.check() is empty, and the ingest results add up:
applied + stale = distinct units, duplicates = the rest.

Output is TAP.  Run:  prove -e python3 test/property/rooms.py
  (PGHOST, PGPORT, PGUSER: a superuser; the test creates and drops its own database)
Options: --seed S  --histories N
"""

import argparse
import json
import os
import random
import sys
import threading
import time

try:
    import psycopg2
except ImportError:
    if os.path.exists('/usr/bin/python3') and not os.environ.get('PROPERTY_REEXEC'):
        os.environ['PROPERTY_REEXEC'] = '1'
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    print('1..1\nnot ok 1 - python3-psycopg2 is importable')
    sys.exit(1)

REASONS = {0: 'left', 1: 'auto_exited', 2: 'banned', 3: 'destroyed'}
RANK = {'left': 1, 'auto_exited': 2, 'banned': 3, 'destroyed': 4}
DB = 'presence_property_rooms_%d' % os.getpid()


def model(units):
    """The rows the rules give for a set of distinct units {(room, user, op, t): status}."""
    joins, leaves, destroys, creates, named = {}, {}, {}, {}, set()
    for (room, user, op, t), st in units.items():
        named.add(room)
        if op == 0:
            creates.setdefault(room, []).append(t)
        elif op == 3:
            destroys.setdefault(room, []).append(t)
        elif op == 1:
            joins.setdefault((room, user), []).append(t)
        else:
            leaves.setdefault((room, user), []).append((t, RANK[REASONS[st]], REASONS[st]))
    members, rooms = {}, {}
    for key in set(joins) | set(leaves):
        room, _ = key
        js = joins.get(key, [])
        ls = list(leaves.get(key, []))
        if js:
            ls += [(d, 4, 'destroyed') for d in destroys.get(room, []) if min(js) <= d]
        joined = max(js) if js else None
        left = max(ls) if ls else None
        state = 'in' if joined is not None and (left is None or joined > left[0]) else 'out'
        last = max(js + [x[0] for x in ls])
        members[key] = (state, joined, left[0] if left else None, left[2] if left else None, last)
    for room in named:
        created = max(creates[room]) if room in creates else None
        d = max(destroys[room]) if room in destroys else None
        room_joins = [t for (r, _), js in joins.items() if r == room for t in js]
        g = max([t for t in room_joins + ([created] if created is not None else [])], default=None)
        destroyed = d if d is not None and (g is None or d >= g) else None
        count = sum(1 for (r, _), m in members.items() if r == room and m[0] == 'in')
        rooms[room] = (count, created, destroyed)
    return members, rooms


def history(rng, base):
    """Deliveries (bodies) and the distinct units they carry."""
    rooms = ['room-%d' % i for i in range(rng.randint(1, 4))]
    users = ['u%d' % i for i in range(rng.randint(2, 8))]
    items = []
    for _ in range(rng.randint(5, 40)):
        room = rng.choice(rooms)
        op = rng.choice([0, 1, 1, 1, 2, 2, 2, 3])
        t = base + rng.randrange(30) * 1000     # few distinct times: many ties
        st = rng.choice([0, 1, 2, 3]) if op in (2, 3) else 0
        who = rng.sample(users, rng.randint(1, len(users))) if op in (1, 2) else None
        items.append((room, op, st, t, who))
    # copies of items, some with another status
    for it in rng.sample(items, min(len(items), rng.randint(0, 5))):
        items.append((it[0], it[1], rng.choice([0, 1, 2, 3]) if it[1] == 2 else it[2], it[3], it[4]))
    units = {}
    for room, op, st, t, who in items:
        for u in (who or ['']):
            key = (room, u, op, t)
            units[key] = max(units.get(key, -1), st)
    rng.shuffle(items)
    bodies = []
    while items:
        k = rng.randint(1, 3)
        chunk, items = items[:k], items[k:]
        data = []
        for room, op, st, t, who in chunk:
            d = {'channelId': room, 'operationType': op, 'status': st, 'time': t}
            if who is not None:
                d['userIds'] = who
            data.append(d)
        bodies.append(json.dumps({'type': 'open_channel:operation', 'id': 'e%d' % rng.getrandbits(32),
                                  'time': base, 'data': data}))
    # status deliveries mixed in
    for u in rng.sample(users, rng.randint(0, len(users))):
        bodies.append(json.dumps({'status': rng.choice(['0', '1']), 'userId': u,
                                  'time': base + rng.randrange(30) * 1000}))
    return bodies, units


def connect(dbname):
    c = psycopg2.connect(dbname=dbname)
    c.autocommit = True
    return c


def ingest_all(bodies, conns):
    """Send the bodies over the connections at once; the summed counts."""
    totals = [0, 0, 0, 0]
    lock = threading.Lock()
    errors = []

    def run(conn, part):
        cur = conn.cursor()
        for b in part:
            for _ in range(5):
                try:
                    cur.execute('SELECT items, applied, duplicates, stale FROM presence_ingest_unsigned(%s)', (b,))
                    r = cur.fetchone()
                    break
                except psycopg2.errors.DeadlockDetected as e:     # must not happen
                    errors.append(str(e))
                    return
            if json.loads(b).get('type') == 'open_channel:operation':
                with lock:
                    for i in range(4):
                        totals[i] += r[i]

    threads = [threading.Thread(target=run, args=(c, bodies[i::len(conns)])) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return totals, errors


def rows(cur):
    ms = lambda c: "(extract(epoch from %s) * 1000)::bigint" % c
    cur.execute("SELECT room_id, user_id, state, %s, %s, left_reason, %s FROM presence.room_members"
                % (ms('joined_at'), ms('left_at'), ms('last_event_at')))
    members = {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6]) for r in cur.fetchall()}
    cur.execute("SELECT room_id, members, %s, %s FROM presence.rooms" % (ms('created_at'), ms('destroyed_at')))
    rooms = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
    return members, rooms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=int(os.environ.get('PROPERTY_SEED', 20261206)))
    ap.add_argument('--histories', type=int, default=int(os.environ.get('PROPERTY_HISTORIES', 25)))
    args = ap.parse_args()
    admin = connect('postgres')
    admin.cursor().execute('DROP DATABASE IF EXISTS %s' % DB)
    admin.cursor().execute('CREATE DATABASE %s' % DB)
    orders = ['one connection, shuffled, re-deliveries', '4 connections at once',
              '4 connections, every delivery twice, maintain() beside']
    print('1..%d' % (args.histories * len(orders)))
    n = 0
    failed = 0
    try:
        conns = [connect(DB) for _ in range(4)]
        cur = conns[0].cursor()
        cur.execute('CREATE EXTENSION presence')
        for h in range(args.histories):
            rng = random.Random(args.seed * 1000 + h)
            base = (int(time.time()) - 3600) * 1000
            bodies, units = history(rng, base)
            want = model(units)
            for o, name in enumerate(orders):
                n += 1
                cur.execute('TRUNCATE presence.rooms, presence.room_members, presence.room_events, '
                            'presence.events, presence.sessions, presence.users')
                order = list(bodies)
                rng.shuffle(order)
                stop = threading.Event()
                maint = None
                if o == 0:
                    order += rng.sample(bodies, len(bodies) // 3)
                    totals, errors = ingest_all(order, conns[:1])
                elif o == 1:
                    totals, errors = ingest_all(order, conns)
                else:
                    def maintain():
                        mc = connect(DB)
                        mc.cursor().execute("LOAD 'presence'")
                        while not stop.is_set():
                            mc.cursor().execute('CALL presence.maintain()')
                        mc.close()
                    maint = threading.Thread(target=maintain)
                    maint.start()
                    totals, errors = ingest_all(order + order, conns)
                    stop.set()
                    maint.join()
                got = rows(cur)
                cur.execute('SELECT count(*) FROM presence.check()')
                diffs = cur.fetchone()[0]
                problems = []
                if errors:
                    problems.append('errors: %s' % errors[:2])
                if got[0] != want[0]:
                    bad = sorted(k for k in set(got[0]) | set(want[0]) if got[0].get(k) != want[0].get(k))
                    problems.append('memberships differ, e.g. %s: got %s, want %s'
                                    % (bad[0], got[0].get(bad[0]), want[0].get(bad[0])))
                if got[1] != want[1]:
                    bad = sorted(k for k in set(got[1]) | set(want[1]) if got[1].get(k) != want[1].get(k))
                    problems.append('rooms differ, e.g. %s: got %s, want %s'
                                    % (bad[0], got[1].get(bad[0]), want[1].get(bad[0])))
                if diffs:
                    problems.append('check() has %d rows' % diffs)
                if totals[1] + totals[2] + totals[3] != totals[0] or totals[1] + totals[3] != len(units):
                    problems.append('counts do not add up: %s for %d distinct units' % (totals, len(units)))
                if problems:
                    failed += 1
                    print('not ok %d - history %d (seed %d), %s' % (n, h, args.seed, name))
                    for p in problems:
                        print('# ' + p)
                else:
                    print('ok %d - history %d, %s: %d units, model rows, empty check()' % (n, h, name, len(units)))
        for c in conns:
            c.close()
    finally:
        admin.cursor().execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % DB)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
