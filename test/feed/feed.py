#!/usr/bin/env python3
"""
feed.py: the live feed (doc/rules.md section 9), with a real listener and real logical decoding.

A second connection runs LISTEN presence and reads conn.notifies; after each step the ingesting
connection sends NOTIFY feed_sync, and the listener reads up to that marker, so "no message" is
exact, not a timeout.  Asserts:

  * presence.feed = off (the default) sends nothing;
  * notify: a user's first session gives one message, online true, with exactly the payload of
    doc/rules.md section 9 (key order, spacing, ISO 8601 UTC milliseconds, null); a second session none;
    the first of two disconnects none, the last one online false; a logout logged_out true;
  * a re-delivery, a stale item and a rolled-back transaction give none;
  * three calls in one transaction that take a user online, offline and online again with the
    first call's payload give three messages (NOTIFY would fold the repeat into the first);
  * a user id with quotes, backslashes, control and non-ASCII characters comes back intact;
  * presence_ingest_batch naming 20 users: exactly one message per changed user, none for the
    others, each equal to the user's presence.users row;
  * 4 concurrent connections ingesting a random history: the last message per user equals the
    user's final presence.users row, and every user who was ever online has messages;
  * feed_sessions: one message per session whose state changed (session_id, state, os,
    client_ip added), none for a session whose state stays;
  * logical: the same through a test_decoding slot (transactional messages with the prefix
    presence; none from a rolled-back transaction), and the last message per user of a random
    history equals the final row;
  * presence.feed_channel moves the messages to its channel (none on presence) and the logical
    prefix with them, presence.feed_channel('rooms') follows it; with presence.feed_secret every
    user and session message carries a signature that verify() of doc/feed.md accepts with the
    secret and refuses with another key, an edited message, or a pg_notify() forgery; a
    repeated message's trailing space keeps it valid; no secret, no signature.

Output is TAP.  Run:  prove -e python3 test/feed/feed.py
  (PGHOST, PGPORT, PGUSER: a superuser; the cluster needs wal_level = logical and a free
  replication slot; the test creates and drops its own database)
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'property'))
import order_independence as oi    # noqa: E402  (connect; re-execs for psycopg2)

import hashlib      # noqa: E402
import hmac         # noqa: E402
import json         # noqa: E402
import random       # noqa: E402
import re           # noqa: E402
import select       # noqa: E402
import threading    # noqa: E402
import time         # noqa: E402

import psycopg2     # noqa: E402

BASE_MS = 1730192400000     # 2024-10-29T09:00:00.000Z
SECRET = 'feed-secret'
USERS_SQL = ("SELECT user_id, online, online_sessions, logged_out, "
             "to_char(last_online_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
             "to_char(last_offline_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
             "to_char(last_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
             "FROM presence.users")
USER_KEYS = ['user_id', 'online', 'online_sessions', 'logged_out', 'last_online_at',
             'last_offline_at', 'last_seen_at']
SESSION_KEYS = USER_KEYS + ['session_id', 'state', 'os', 'client_ip']

results = []


def check(cond, desc, detail=''):
    results.append((bool(cond), desc, detail))
    return bool(cond)


def item(user, status, t, sid=None, os_=None, ip=None):
    it = {'status': str(status), 'userId': user, 'time': BASE_MS + t}
    if sid is not None:
        it['sessionId'] = sid
    if os_ is not None:
        it['os'] = os_
    if ip is not None:
        it['clientIp'] = ip
    return it


_env = [0]


def body(*items, env_id=None):
    _env[0] += 1
    return json.dumps({'type': 'user:connection_status', 'id': env_id or 'e%d' % _env[0],
                       'time': BASE_MS, 'data': list(items)})


def ingest(cur, *items):
    cur.execute("SELECT * FROM presence_ingest_unsigned(%s)", (body(*items),))
    return cur.fetchone()


class Listener:
    """LISTEN presence on its own connection; read() returns the messages up to a sync marker
    (read_from(): with their channels)."""

    def __init__(self, dbname, channels=('presence',)):
        self.conn = oi.connect(dbname)
        for c in channels + ('feed_sync',):
            self.conn.cursor().execute("LISTEN %s" % c)
        self.marker = 0

    def read(self, sender_cur):
        return [p for _, p in self.read_from(sender_cur)]

    def read_from(self, sender_cur):
        self.marker += 1
        tag = str(self.marker)
        sender_cur.execute("SELECT pg_notify('feed_sync', %s)", (tag,))
        got = []
        deadline = time.time() + 30
        while time.time() < deadline:
            self.conn.poll()
            while self.conn.notifies:
                n = self.conn.notifies.pop(0)
                if n.channel == 'feed_sync':
                    if n.payload == tag:
                        return got
                    continue
                got.append((n.channel, n.payload))
            select.select([self.conn], [], [], 1.0)
        raise RuntimeError('no sync marker from the listener')

    def close(self):
        self.conn.close()


def users_rows(cur):
    cur.execute(USERS_SQL)
    return {r[0]: dict(zip(USER_KEYS, r)) for r in cur.fetchall()}


def user_part(msg):
    return {k: msg[k] for k in USER_KEYS}


def expected_payload(row):
    """The payload of doc/rules.md section 9, byte for byte, from a users row."""
    def t(v):
        return 'null' if v is None else '"%s"' % v
    return ('{"user_id": %s, "online": %s, "online_sessions": %d, "logged_out": %s, '
            '"last_online_at": %s, "last_offline_at": %s, "last_seen_at": %s}'
            % (json.dumps(row['user_id']), 'true' if row['online'] else 'false',
               row['online_sessions'], 'true' if row['logged_out'] else 'false',
               t(row['last_online_at']), t(row['last_offline_at']), t(row['last_seen_at'])))


def basics(cur, listen):
    """Connect, second session, disconnects, logout, re-delivery, stale, rollback, escaping."""
    check(not listen.read(cur) and ingest(cur, item('off', 0, 0, 's1')) and not listen.read(cur),
          'presence.feed = off sends nothing')
    cur.execute("SET presence.feed = 'notify'")
    ingest(cur, item('alice', 0, 0, 'a1', 'iOS'))
    got = listen.read(cur)
    rows = users_rows(cur)
    check(len(got) == 1 and got[0] == expected_payload(rows['alice']),
          'the first session gives one message, exactly the payload of the rules', repr(got))
    check(got and got[0] == '{"user_id": "alice", "online": true, "online_sessions": 1, '
          '"logged_out": false, "last_online_at": "2024-10-29T09:00:00.000Z", '
          '"last_offline_at": null, "last_seen_at": "2024-10-29T09:00:00.000Z"}',
          'times are ISO 8601 UTC with milliseconds, null when unknown', repr(got))
    ingest(cur, item('alice', 0, 1000, 'a2', 'Android'))
    got = listen.read(cur)
    check(got == [], 'a second session gives no message', repr(got))
    redelivered = body(item('alice', 0, 1000, 'a2', 'Android'))
    cur.execute("SELECT * FROM presence_ingest_unsigned(%s)", (redelivered,))
    check(listen.read(cur) == [], 'a re-delivery gives no message')
    ingest(cur, item('alice', 1, 2000, 'a1'))
    got = listen.read(cur)
    check(got == [], 'the first of two disconnects gives no message', repr(got))
    ingest(cur, item('alice', 1, 3000, 'a2'))
    got = [json.loads(m) for m in listen.read(cur)]
    check(len(got) == 1 and got[0]['online'] is False and got[0]['online_sessions'] == 0
          and got[0]['last_offline_at'] == '2024-10-29T09:00:03.000Z' and not got[0]['logged_out'],
          'the last disconnect gives one message, online false', repr(got))
    r = ingest(cur, item('alice', 0, -500, 'a1'))
    got = listen.read(cur)
    check(r[3] == 1 and got == [], 'a stale item gives no message', '%r %r' % (r, got))
    ingest(cur, item('alice', 2, 3000, 'a2'))
    got = [json.loads(m) for m in listen.read(cur)]
    check(len(got) == 1 and got[0]['logged_out'] is True and got[0]['online'] is False,
          'a logout gives one message, logged_out true', repr(got))
    cur.execute("BEGIN")
    ingest(cur, item('bob', 0, 0, 'b1'))
    cur.execute("ROLLBACK")
    check(listen.read(cur) == [], 'a rolled-back transaction gives no message')
    ingest(cur, item('dora', 0, 0, 'd1'), item('dora', 1, 10000, 'd1'))
    listen.read(cur)
    cur.execute("BEGIN")
    ingest(cur, item('dora', 0, 5000, 'd2'))
    ingest(cur, item('dora', 1, 6000, 'd2'))
    ingest(cur, item('dora', 0, 5000, 'd3'))
    cur.execute("COMMIT")
    got = listen.read(cur)
    final = users_rows(cur)['dora']
    check(len(got) == 3 and got[0].rstrip() == got[2].rstrip() and got[0] != got[2]
          and json.loads(got[1])['online'] is False and got[2].rstrip() == expected_payload(final)
          and final['online'],
          'online, offline, online again in one transaction: three messages, the repeat kept '
          'apart from the first by a trailing space, the last one the final row', repr(got))
    ingest(cur, item('bob', 0, 0), item('bob', 1, 10))
    got = listen.read(cur)
    check(got == [], 'a call that leaves online and logged_out as they were gives none', repr(got))
    odd = 'q"b\\s/\t\x01é€'
    ingest(cur, item(odd, 0, 0))
    got = [json.loads(m) for m in listen.read(cur)]
    check(len(got) == 1 and got[0]['user_id'] == odd, 'the user id is JSON-escaped', repr(got))
    ingest(cur, item('ghost', 0, 0, 'g1'))
    listen.read(cur)
    cur.execute("SELECT * FROM presence_reconcile('ghost', false, now())")
    reconciled = cur.fetchone()
    got = listen.read(cur)
    check(reconciled[1] == 1 and len(got) == 1 and json.loads(got[0])['online'] is False and
          got[0] == expected_payload(users_rows(cur)['ghost']),
          'a ghost reconciled offline gives its online: false message', '%r %r' % (reconciled, got))


def sign(nonce, ts):
    return hashlib.sha1((SECRET + nonce + ts).encode()).hexdigest()


def batch(cur, listen):
    """presence_ingest_batch naming 20 users: one message per changed user."""
    cur.execute("SELECT presence.set_secret(%s)", (SECRET,))
    users = ['batch_%02d' % k for k in range(20)]
    for u in users[10:15]:
        ingest(cur, item(u, 0, 0, 'x'))       # online before: a second session changes nothing
    for u in users[15:]:
        ingest(cur, item(u, 0, 0, 'x'))       # online before: goes offline
    listen.read(cur)
    bodies, nonces, stamps, sigs = [], [], [], []
    for k, u in enumerate(users):
        its = [item(u, 0, 100, 'y')] if k < 15 else [item(u, 1, 100, 'x')]
        if k < 5:
            its.append(item(u, 0, 90, 'z'))     # two sessions in one call: still one message
        ts = str(int(time.time() * 1000))
        nonce = 'n%d' % k
        bodies.append(body(*its))
        nonces.append(nonce)
        stamps.append(ts)
        sigs.append(sign(nonce, ts))
    cur.execute("SELECT count(*) FILTER (WHERE sqlstate IS NULL) FROM "
                "presence_ingest_batch(%s, %s, %s, %s)", (bodies, nonces, stamps, sigs))
    ok_rows = cur.fetchone()[0]
    got = [json.loads(m) for m in listen.read(cur)]
    rows = users_rows(cur)
    changed = users[:10] + users[15:]
    check(ok_rows == 20 and sorted(m['user_id'] for m in got) == sorted(changed),
          'a batch naming 20 users gives exactly one message per changed user',
          '%d ok; %r' % (ok_rows, sorted(m['user_id'] for m in got)))
    check(all(user_part(m) == rows[m['user_id']] for m in got),
          'each batch message equals the user\'s presence.users row')


def random_deliveries(rng, users, n):
    sessions = {u: ['%s-s%d' % (u, k) for k in range(3)] + [''] for u in users}
    out = []
    for k in range(n):
        its = []
        for _ in range(rng.randint(1, 4)):
            u = rng.choice(users)
            sid = rng.choice(sessions[u])
            its.append(item(u, rng.choices([0, 1, 2], [50, 40, 10])[0], rng.randrange(400),
                            sid or None, rng.choice([None, 'iOS', 'Android'])))
        out.append(body(*its, env_id='r%d' % k))
    for k in range(n // 5):                 # re-deliveries
        out.append(rng.choice(out))
    rng.shuffle(out)
    return out


def run_concurrent(dbname, lists, setting):
    errors = []

    def worker(bodies):
        conn = oi.connect(dbname)
        cur = conn.cursor()
        cur.execute("SET presence.feed = %s", (setting,))
        cur.execute("SET synchronous_commit = on")     # the slot decodes flushed WAL only
        try:
            for b in bodies:
                cur.execute("SELECT * FROM presence_ingest_unsigned(%s)", (b,))
        except psycopg2.Error as e:
            errors.append('%s %s' % (e.pgcode, e.pgerror))
        conn.close()
    threads = [threading.Thread(target=worker, args=(bodies,)) for bodies in lists]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def rows_moved_quietly(user, msg, row):
    """Could the row have moved from msg to row by items that changed neither flag?"""
    def le(a, b):
        return a is None or (b is not None and a <= b)
    return (msg['online'] == row['online'] and msg['logged_out'] == row['logged_out'] and
            le(msg['last_online_at'], row['last_online_at']) and
            le(msg['last_offline_at'], row['last_offline_at']) and
            le(msg['last_seen_at'], row['last_seen_at']) and
            (msg['online_sessions'] > 0) == (row['online_sessions'] > 0))


def last_per_user(msgs):
    last = {}
    for m in msgs:
        last[m['user_id']] = user_part(m)
    return last


def concurrent(dbname, cur, listen, rng, setting='notify', reader=None):
    users = ['%s_%02d' % (setting, k) for k in range(12)]
    deliveries = random_deliveries(rng, users, 300)
    lists = [deliveries[k::4] for k in range(4)]
    errors = run_concurrent(dbname, lists, setting)
    msgs = [json.loads(m) for m in (reader() if reader else listen.read(cur))]
    rows = users_rows(cur)
    last = last_per_user(m for m in msgs if m['user_id'] in users)
    # Users start offline and not logged out: one who ends with either flag set had a change.
    flagged = [u for u in users if u in rows and (rows[u]['online'] or rows[u]['logged_out'])]
    check(not errors, '%s: 4 concurrent connections ingest without error' % setting,
          '; '.join(errors[:2]))
    # A message is sent when online or logged_out changes; the times and the count may move
    # on after the last one (a later disconnect of one of two sessions sends nothing).
    flags = ('online', 'logged_out')
    bad = [u for u in users if u in last and any(last[u][k] != rows[u][k] for k in flags)]
    silent = [u for u in flagged if u not in last]
    check(not bad and not silent,
          '%s: the last message per user has the final row\'s online and logged_out '
          '(%d messages, %d users)' % (setting, len(msgs), len(last)),
          '; '.join(['%r != %r' % (last[u], rows[u]) for u in bad[:2]] +
                    ['no message for %r' % rows[u] for u in silent[:2]]))
    fresh = [u for u in users if u in last and any(last[u][k] != rows[u][k] for k in USER_KEYS)
             and not rows_moved_quietly(u, last[u], rows[u])]
    check(not fresh, '%s: where the last message differs from the final row in a time or the '
          'count, it is only because later items changed neither flag' % setting,
          '; '.join('%r != %r' % (last[u], rows[u]) for u in fresh[:2]))


def sessions(cur, listen):
    """feed_sessions: one message per session whose state changed."""
    cur.execute("SET presence.feed_sessions = on")
    ingest(cur, item('carol', 0, 0, 'c1', 'iOS', '10.0.0.1:5'))
    got = [json.loads(m) for m in listen.read(cur)]
    users = [m for m in got if 'session_id' not in m]
    sess = [m for m in got if 'session_id' in m]
    check(len(users) == 1 and len(sess) == 1 and list(sess[0].keys()) == SESSION_KEYS and
          sess[0]['session_id'] == 'c1' and sess[0]['state'] == 'online' and
          sess[0]['os'] == 'iOS' and sess[0]['client_ip'] == '10.0.0.1:5' and
          user_part(sess[0]) == user_part(users[0]),
          'feed_sessions: a new session gives a session message with the user\'s fields',
          repr(got))
    ingest(cur, item('carol', 0, 10, 'c2'))
    got = [json.loads(m) for m in listen.read(cur)]
    check(len(got) == 1 and got[0].get('session_id') == 'c2' and got[0]['os'] is None
          and got[0]['online_sessions'] == 2,
          'feed_sessions: a second session gives its session message alone', repr(got))
    ingest(cur, item('carol', 0, 20, 'c1', 'Android'))
    got = listen.read(cur)
    check(got == [], 'feed_sessions: a session whose state stays gives none', repr(got))
    ingest(cur, item('carol', 1, 30, 'c1'), item('carol', 2, 40, 'c2'))
    got = [json.loads(m) for m in listen.read(cur)]
    states = sorted((m['session_id'], m['state']) for m in got if 'session_id' in m)
    check(states == [('c1', 'offline'), ('c2', 'logged_out')] and
          len([m for m in got if 'session_id' not in m]) == 1,
          'feed_sessions: each ended session gives one message, the user one', repr(got))
    cur.execute("RESET presence.feed_sessions")


def verify(payload, secret):
    """The consumer's check of doc/feed.md, as printed there: the message, or None."""
    text = payload.rstrip()                     # NOTIFY repeats carry trailing spaces
    head, sep, tail = text.rpartition(', "signature": "')
    if not sep or len(tail) != 66 or not tail.endswith('"}'):
        return None
    want = hmac.new(secret, (head + '}').encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, tail[:64]):
        return None
    return json.loads(text)


def channel_and_signature(dbname, cur):
    """presence.feed_channel and presence.feed_secret (issue 26, point 4)."""
    listen = Listener(dbname, ('presence', 'feed_t', 'feed_t_rooms'))
    try:
        cur.execute("SET presence.feed = 'notify'")
        cur.execute("SET presence.feed_channel = 'feed_t'")
        cur.execute("SELECT presence.feed_channel(), presence.feed_channel('rooms')")
        check(cur.fetchone() == ('feed_t', 'feed_t_rooms'),
              'presence.feed_channel() names the set channel and the rooms channel after it')
        ingest(cur, item('erin', 0, 0, 'e1'))
        got = listen.read_from(cur)
        check(len(got) == 1 and got[0][0] == 'feed_t' and
              got[0][1] == expected_payload(users_rows(cur)['erin']),
              'the message goes to presence.feed_channel, none to presence; no secret, no '
              'signature', repr(got))
        cur.execute("SET presence.feed_secret = 'k3y-of-the-feed'")
        cur.execute("SET presence.feed_sessions = on")
        ingest(cur, item('erin', 1, 10, 'e1'))
        got = listen.read_from(cur)
        good = [verify(p, b'k3y-of-the-feed') for _, p in got]
        row = users_rows(cur)['erin']
        check(len(got) == 2 and all(c == 'feed_t' for c, _ in got) and all(good) and
              list(good[0].keys()) == USER_KEYS + ['signature'] and
              user_part(good[0]) == row and good[1]['state'] == 'offline' and
              got[0][1] == expected_payload(row)[:-1] + ', "signature": "%s"}' % good[0]['signature'],
              'with presence.feed_secret the user and the session message are signed, the '
              'signature last, and verify() accepts them with the secret', repr(got))
        check(got and verify(got[0][1], b'another-key') is None and
              verify(got[0][1].replace('"online": false', '"online": true'),
                     b'k3y-of-the-feed') is None,
              'verify() refuses the message with another key, and an edited message', repr(got))
        cur.execute("SELECT pg_notify('feed_t', %s)", (expected_payload(row),))
        forged = listen.read(cur)
        check(forged and verify(forged[0], b'k3y-of-the-feed') is None,
              'a pg_notify() forgery on the channel does not verify', repr(forged))
        cur.execute("RESET presence.feed_sessions")
        cur.execute("BEGIN")
        ingest(cur, item('erin', 0, 5, 'e2'))       # before e1's offline at 10, as dora's
        ingest(cur, item('erin', 1, 6, 'e2'))
        ingest(cur, item('erin', 0, 5, 'e3'))
        cur.execute("COMMIT")
        got = listen.read(cur)
        check(len(got) == 3 and got[2] != got[0] and got[2].rstrip() == got[0] and
              all(verify(p, b'k3y-of-the-feed') for p in got),
              'a signed repeat within a transaction keeps its trailing space apart and verifies',
              repr(got))
    finally:
        for setting in ('feed', 'feed_channel', 'feed_secret', 'feed_sessions'):
            cur.execute("RESET presence.%s" % setting)
        listen.close()


MESSAGE_RE = re.compile(r'^message: transactional: (\d) prefix: ([a-z0-9_]+), sz: (\d+) '
                        r'content:(.*)$', re.S)


def logical(dbname, cur, rng):
    """presence.feed = logical, read through a test_decoding slot."""
    slot = 'presence_feed_%d' % os.getpid()
    cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))

    def decode(prefix='presence'):
        cur.execute("SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL) "
                    "WHERE data LIKE 'message:%%'", (slot,))
        out = []
        for (data,) in cur.fetchall():
            m = MESSAGE_RE.match(data)
            if not m or m.group(1) != '1' or m.group(2) != prefix or \
                    int(m.group(3)) != len(m.group(4).encode()):
                out.append(None)
            else:
                out.append(m.group(4))
        return out
    try:
        cur.execute("SET synchronous_commit = on")     # the slot decodes flushed WAL only
        cur.execute("SET presence.feed = 'logical'")
        ingest(cur, item('dave', 0, 0, 'd1'))
        got = decode()
        rows = users_rows(cur)
        check(got == [expected_payload(rows['dave'])],
              'logical: the first session gives one transactional message, prefix presence',
              repr(got))
        cur.execute("BEGIN")
        ingest(cur, item('dave', 1, 10, 'd1'))
        cur.execute("ROLLBACK")
        ingest(cur, item('dave', 0, 5, 'd2'))
        check(decode() == [], 'logical: a rolled-back transaction and a second session give none')
        ingest(cur, item('dave', 1, 20, 'd1'), item('dave', 2, 20, 'd2'))
        got = [json.loads(m) for m in decode()]
        check(len(got) == 1 and got[0]['logged_out'] is True,
              'logical: a logout gives one message, logged_out true', repr(got))
        cur.execute("SET presence.feed_channel = 'feed_t'")
        cur.execute("SET presence.feed_secret = 'k3y-of-the-feed'")
        ingest(cur, item('dave', 0, 30, 'd3'))
        got = decode('feed_t')
        check(len(got) == 1 and got[0] is not None and verify(got[0], b'k3y-of-the-feed') and
              json.loads(got[0])['online'] is True,
              'logical: the prefix is presence.feed_channel and the message is signed', repr(got))
        cur.execute("RESET presence.feed_channel")
        cur.execute("RESET presence.feed_secret")
        cur.execute("RESET presence.feed")
        concurrent(dbname, cur, None, rng, 'logical', reader=decode)
    finally:
        cur.execute("RESET presence.feed")
        cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def main():
    dbname = 'presence_feed_%d' % os.getpid()
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE %s' % dbname)
    rng = random.Random(int(os.environ.get('FEED_SEED', '20261129')))
    conn = listen = None
    try:
        conn = oi.connect(dbname)
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION presence")
        listen = Listener(dbname)
        basics(cur, listen)
        batch(cur, listen)
        sessions(cur, listen)
        concurrent(dbname, cur, listen, rng)
        channel_and_signature(dbname, cur)
        logical(dbname, cur, rng)
    except Exception as e:      # a crash is a failed test, not a silent stop
        check(False, 'the test ran to the end', '%s: %s' % (type(e).__name__, e))
    finally:
        for c in (listen, conn):
            if c is not None:
                c.close()
        admin.cursor().execute('DROP DATABASE IF EXISTS %s' % dbname)
        admin.close()
    print('1..%d' % len(results))
    for n, (ok, desc, detail) in enumerate(results, 1):
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', n, desc,
                                (' (%s)' % detail) if detail and not ok else ''))
    return 0 if all(r[0] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
