#!/usr/bin/env python3
"""
rooms_feed.py: the room messages of the live feed (doc/rules.md sections 9 and 14), with a real
listener.  A second connection runs LISTEN presence_rooms; after each step the ingesting
connection sends NOTIFY feed_sync and the listener reads up to that marker, so "no message" is
exact.  Asserts, with presence.feed = notify:

  * presence.feed_rooms off (the default) sends no room message;
  * on: a join naming two users gives one message per membership, with exactly the payload of
    doc/feed.md (key order, spacing, times); a re-delivery, a stale leave and a rolled-back
    transaction give none;
  * a destroy gives one message per member it closes, state out, left_reason destroyed,
    members 0; a user message (channel presence) is still sent for a status item.

Output is TAP.  Run:  prove -e python3 test/feed/rooms_feed.py
  (PGHOST, PGPORT, PGUSER: a superuser; the test creates and drops its own database)
"""
import json
import os
import select
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'property'))
import rooms    # noqa: E402  (re-execs for psycopg2, as the property tests do)

psycopg2 = rooms.psycopg2

DB = 'presence_rooms_feed_%d' % os.getpid()
n = 0
failed = 0


def ok(cond, what, diag=None):
    global n, failed
    n += 1
    print('%s %d - %s' % ('ok' if cond else 'not ok', n, what))
    if not cond:
        failed += 1
        if diag:
            print('# ' + str(diag).replace('\n', '\n# '))


def connect(autocommit=True):
    c = psycopg2.connect(dbname=DB)
    c.autocommit = autocommit
    return c


def room(op, rid, users, t, st=0):
    d = {'channelId': rid, 'operationType': op, 'status': st, 'time': t}
    if users:
        d['userIds'] = users
    return json.dumps({'type': 'open_channel:operation', 'id': 'e%d' % t, 'time': t, 'data': [d]})


def drain(listener, writer):
    """Messages on presence_rooms and presence up to a feed_sync marker."""
    writer.cursor().execute('NOTIFY feed_sync')
    got = []
    while True:
        select.select([listener], [], [], 30)
        listener.poll()
        while listener.notifies:
            m = listener.notifies.pop(0)
            if m.channel == 'feed_sync':
                return got
            got.append((m.channel, m.payload))


def main():
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('DROP DATABASE IF EXISTS %s' % DB)
    admin.cursor().execute('CREATE DATABASE %s' % DB)
    print('1..9')
    try:
        w = connect()
        cur = w.cursor()
        cur.execute('CREATE EXTENSION presence')
        cur.execute("SET presence.feed = notify")
        listener = connect()
        listener.cursor().execute('LISTEN presence_rooms; LISTEN presence; LISTEN feed_sync')
        ingest = lambda b: cur.execute('SELECT * FROM presence_ingest_unsigned(%s)', (b,))

        ingest(room(1, 'quiet', ['a'], 1730192400000))
        ok(drain(listener, w) == [], 'feed_rooms off: no room message')

        cur.execute("SET presence.feed_rooms = on")
        ingest(room(1, 'chatroom_001', ['user_001', 'user_002'], 1730192400000))
        got = drain(listener, w)
        want = [('presence_rooms', '{"room_id": "chatroom_001", "user_id": "%s", "state": "in", "members": 2, '
                 '"joined_at": "2024-10-29T09:00:00.000Z", "left_at": null, "left_reason": null}' % u)
                for u in ('user_001', 'user_002')]
        ok(got == want, 'a join of two users: one message per membership, the documented payload', got)
        ingest(room(1, 'chatroom_001', ['user_001', 'user_002'], 1730192400000))
        ok(drain(listener, w) == [], 'a re-delivery: none')
        ingest(room(2, 'chatroom_001', ['user_001'], 1730192300000))
        ok(drain(listener, w) == [], 'a leave older than the join: none')

        t = connect(autocommit=False)
        tc = t.cursor()
        tc.execute("SET presence.feed = notify; SET presence.feed_rooms = on")
        tc.execute('SELECT * FROM presence_ingest_unsigned(%s)', (room(2, 'chatroom_001', ['user_002'], 1730192500000),))
        t.rollback()
        t.close()
        ok(drain(listener, w) == [], 'a rolled-back transaction: none')

        ingest(room(2, 'chatroom_001', ['user_002'], 1730192500000, 2))
        got = drain(listener, w)
        ok(len(got) == 1 and json.loads(got[0][1])['left_reason'] == 'banned'
           and json.loads(got[0][1])['members'] == 1, 'a ban: one message, left_reason banned, members 1', got)

        ingest(room(3, 'chatroom_001', None, 1730192600000, 3))
        got = drain(listener, w)
        msgs = [json.loads(p) for c, p in got if c == 'presence_rooms']
        ok([(m['user_id'], m['state'], m['left_reason'], m['members']) for m in msgs]
           == [('user_001', 'out', 'destroyed', 0)], 'a destroy: one message per member it closes', got)

        ingest(json.dumps({'status': '0', 'userId': 'user_001', 'time': 1730192400000}))
        got = drain(listener, w)
        ok([c for c, _ in got] == ['presence'], 'a status item still sends its user message on presence', got)
        cur.execute('SELECT count(*) FROM presence.check()')
        ok(cur.fetchone()[0] == 0, 'presence.check() is empty')
        listener.close()
        w.close()
    finally:
        admin.cursor().execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % DB)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
