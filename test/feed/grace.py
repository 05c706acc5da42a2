#!/usr/bin/env python3
"""
grace.py: the offline grace (doc/rules.md section 16), with a real listener, real logical
decoding, the library's background worker and a real crash.  Asserts:

  * presence.users_stable and the queue: an offline within the grace is queued, and the user
    shows online in users_stable while presence.users says offline;
  * notify: a flap (disconnect, connect 0.5 s later) within a 3 s grace sends nothing, not even
    after the grace has passed; online true is sent at once;
  * notify: an offline beyond the grace sends exactly one message, the user's row, never before
    the grace (measured from before the ingest call) and within a generous bound; the lateness
    past the deadline is printed as a TAP comment, not asserted;
  * a logout is sent at once and replaces a queued offline (nothing more later);
  * the delayed offline goes on the presence.feed_channel of the ingest that queued it;
  * logical: the same through a test_decoding slot: a flap gives nothing, an offline one message
    after the grace;
  * a queued offline survives pg_ctl stop -m immediate and a start (PRESENCE_PGCTL, as
    scripts/test sets it), and is then sent exactly once (counted in a logical slot, which
    keeps what a listener would have missed while the server was down);
  * 10,000 users going offline in one transaction: 10,000 messages, one per user, none early;
    the lateness of the last is printed.

Output is TAP.  Run:  prove -e python3 test/feed/grace.py
  (PGHOST, PGPORT, PGUSER: a superuser; the library in shared_preload_libraries, wal_level =
  logical and two free replication slots; the test creates and drops its own database)
"""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import feed                 # noqa: E402  (its helpers; re-execs for psycopg2)
from feed import item, ingest, expected_payload, users_rows, MESSAGE_RE  # noqa: E402

import json                 # noqa: E402
import select               # noqa: E402
import time                 # noqa: E402

import psycopg2             # noqa: E402

results = []
notes = []
GRACE = 3.0   # long enough that a stall of a busy machine does not end a flap's window


def check(cond, desc, detail=''):
    results.append((bool(cond), desc, detail))
    return bool(cond)


def connect(dbname):
    """A connection of the property test's (autocommit), with the feed and the grace on."""
    conn = feed.oi.connect(dbname)
    cur = conn.cursor()
    cur.execute("SET synchronous_commit = on")
    cur.execute("SET presence.feed = 'notify'")
    cur.execute("SET presence.offline_grace = %s", ('%g s' % GRACE,))
    return conn, cur


def wait_messages(listen, n, timeout, channel='presence'):
    """Up to n messages on the channel within timeout seconds, each with its arrival time."""
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        listen.conn.poll()
        while listen.conn.notifies:
            m = listen.conn.notifies.pop(0)
            if m.channel == channel:
                got.append((time.time(), m.payload))
        if len(got) < n:
            select.select([listen.conn], [], [], 0.2)
    return got


def pending(cur):
    cur.execute("SELECT count(*) FROM presence.pending_offlines")
    return cur.fetchone()[0]


def due_at(cur):
    """The earliest deadline queued, as a Unix time (the test runs on the server's machine)."""
    return due_range(cur)[0]


def due_range(cur):
    """The earliest and the latest deadline queued, as Unix times."""
    cur.execute("SELECT extract(epoch FROM min(due_at)), extract(epoch FROM max(due_at)) "
                "FROM presence.pending_offlines")
    return [float(v) for v in cur.fetchone()]


def wait_queue_empty(cur, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline and pending(cur) > 0:
        time.sleep(0.1)
    return pending(cur) == 0


def notify_mode(cur, listen):
    """Flap, offline beyond the grace, logout: with NOTIFY."""
    ingest(cur, item('flap', 0, 0, 's1'))
    got = listen.read(cur)
    check(len(got) == 1 and json.loads(got[0])['online'] is True,
          'notify: online true is sent at once, grace or not', repr(got))
    # Read in the ingest's own transaction, so that no stall of a busy machine can let the
    # grace run out (or the worker send it) before the reads.
    cur.execute("BEGIN")
    ingest(cur, item('flap', 1, 1000, 's1'))
    cur.execute("SELECT u.online, s.online FROM presence.users u "
                "JOIN presence.users_stable s USING (user_id) WHERE user_id = 'flap'")
    exact, stable = cur.fetchone()
    queued = pending(cur)
    cur.execute("COMMIT")
    check(queued == 1 and exact is False and stable is True,
          'an offline within the grace is queued; users says offline, users_stable online',
          '%r %r %r' % (queued, exact, stable))
    time.sleep(0.5)
    ingest(cur, item('flap', 0, 1500, 's2'))
    check(pending(cur) == 0, 'a connect within the grace cancels the queued offline')
    time.sleep(GRACE + 1.5)
    got = listen.read(cur)
    check(got == [], 'notify: a flap within the grace sends nothing, also after the grace', repr(got))

    before = time.time()
    ingest(cur, item('flap', 1, 3000, 's2'))
    due = due_at(cur)
    got = wait_messages(listen, 1, GRACE + 30)
    later = listen.read(cur)
    row = users_rows(cur)['flap']
    check(len(got) == 1 and got[0][1] == expected_payload(row) and later == [],
          'notify: an offline beyond the grace sends exactly one message, the user\'s row',
          '%r %r' % (got, later))
    if got:
        at = got[0][0]
        check(at - before >= GRACE, 'notify: the delayed offline is not sent before the grace',
              '%.3f s' % (at - before))
        check(at - before < GRACE + 15, 'notify: the delayed offline comes within a generous bound',
              '%.3f s' % (at - before))
        notes.append('notify: the offline came %.0f ms after its deadline' % ((at - due) * 1000))
    ingest(cur, item('flap', 0, 4000, 's3'))
    listen.read(cur)
    ingest(cur, item('flap', 1, 5000, 's3'))
    ingest(cur, item('flap', 2, 5100, 's3'))
    got = [json.loads(m) for m in listen.read(cur)]
    check(len(got) == 1 and got[0]['logged_out'] is True and pending(cur) == 0,
          'a logout is sent at once and replaces the queued offline', repr(got))
    time.sleep(GRACE + 1.0)
    got = listen.read(cur)
    check(got == [], 'nothing comes after the logout', repr(got))


def channel(dbname, cur):
    """The delayed offline goes on the presence.feed_channel of the ingest that queued it."""
    listen = feed.Listener(dbname, ('presence', 'grace_ch'))
    try:
        cur.execute("SET presence.feed_channel = 'grace_ch'")
        ingest(cur, item('chan', 0, 0, 's1'))
        first = listen.read_from(cur)
        check([c for c, _ in first] == ['grace_ch'], 'the online true goes on the set channel at once',
              repr(first))
        ingest(cur, item('chan', 1, 1000, 's1'))
        cur.execute("RESET presence.feed_channel")
        got = wait_messages(listen, 1, GRACE + 30, 'grace_ch')
        rest = listen.read_from(cur)
        check(len(got) == 1 and json.loads(got[0][1])['online'] is False and rest == [],
              'the delayed offline goes on the feed_channel of the ingest that queued it, not the '
              'worker\'s', '%r %r' % (got, rest))
    finally:
        listen.close()


def decode(cur, slot):
    cur.execute("SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL) "
                "WHERE data LIKE 'message:%%'", (slot,))
    out = []
    for (data,) in cur.fetchall():
        m = MESSAGE_RE.match(data)
        out.append(m.group(4) if m and m.group(2) == 'presence' else data)
    return out


def decode_until(cur, slot, n, timeout):
    got = []
    deadline = time.time() + timeout
    while len(got) < n and time.time() < deadline:
        got += [(time.time(), m) for m in decode(cur, slot)]
        if len(got) < n:
            time.sleep(0.1)
    return got


def logical_mode(cur, slot):
    """The same with presence.feed = logical."""
    cur.execute("SET presence.feed = 'logical'")
    cur.execute("SET synchronous_commit = on")
    ingest(cur, item('lflap', 0, 0, 's1'))
    check(len(decode(cur, slot)) == 1, 'logical: online true is sent at once')
    ingest(cur, item('lflap', 1, 1000, 's1'))
    time.sleep(0.3)
    ingest(cur, item('lflap', 0, 1300, 's2'))
    time.sleep(GRACE + 1.5)
    got = decode(cur, slot)
    check(got == [], 'logical: a flap within the grace sends nothing', repr(got))
    before = time.time()
    ingest(cur, item('lflap', 1, 3000, 's2'))
    got = decode_until(cur, slot, 1, GRACE + 30)
    time.sleep(0.5)
    more = decode(cur, slot)
    row = users_rows(cur)['lflap']
    check(len(got) == 1 and got[0][1] == expected_payload(row) and more == [] and
          got[0][0] - before >= GRACE,
          'logical: an offline beyond the grace gives one message, after the grace',
          '%r %r' % (got, more))
    cur.execute("SET presence.feed = 'notify'")


def restart(dbname, slot):
    """A queued offline survives an immediate stop and is sent once."""
    pgctl = os.environ.get('PRESENCE_PGCTL')
    if not pgctl:
        notes.append('skipped the restart: PRESENCE_PGCTL is not set (scripts/test sets it)')
        return
    conn, cur = connect(dbname)
    cur.execute("SET presence.feed = 'logical'")
    cur.execute("SET presence.offline_grace = '3 s'")
    cur.execute("SET synchronous_commit = on")
    ingest(cur, item('crash', 0, 0, 's1'))
    decode(cur, slot)
    ingest(cur, item('crash', 1, 1000, 's1'))
    queued = pending(cur)
    conn.close()
    subprocess.run(pgctl.split() + ['stop-immediate'], check=True)
    subprocess.run(pgctl.split() + ['start'], check=True)
    conn, cur = connect(dbname)
    check(queued == 1 and wait_queue_empty(cur, 60), 'after an immediate stop and a start the queue empties',
          'queued %d' % queued)
    time.sleep(1.0)
    got = [(0, m) for m in decode(cur, slot)]
    # A slot's read position is saved at checkpoints: after the crash it replays what was read
    # before (at least once, as logical decoding is), so count the offline of 'crash' alone.
    msgs = [json.loads(m) for _, m in got]
    msgs = [m for m in msgs if m['user_id'] == 'crash' and m['online'] is False]
    check(len(msgs) == 1,
          'a queued offline survives an immediate stop and is sent exactly once', repr(msgs))
    conn.close()


def many(dbname, cur, listen):
    """10,000 users going offline in one transaction: all sent, once each, none early."""
    n = 10000
    users = ['m%05d' % k for k in range(n)]
    cur.execute("SET presence.feed = 'off'")
    for k in range(0, n, 2000):
        ingest(cur, *[item(u, 0, 0, 's') for u in users[k:k + 2000]])
    cur.execute("SET presence.feed = 'notify'")
    listen.read(cur)
    before = time.time()
    cur.execute("BEGIN")
    for k in range(0, n, 2000):
        ingest(cur, *[item(u, 1, 1000, 's') for u in users[k:k + 2000]])
    queued = pending(cur)
    first_due, last_due = due_range(cur)
    cur.execute("COMMIT")
    check(queued == n, '10,000 offlines are queued', '%d' % queued)
    got = wait_messages(listen, n, GRACE + 60)
    more = listen.read(cur)
    ids = [json.loads(m)['user_id'] for _, m in got] + [json.loads(m)['user_id'] for m in more]
    check(len(ids) == n and sorted(ids) == users, '10,000 queued offlines: one message per user',
          '%d messages, %d distinct' % (len(got), len(set(ids))))
    if got:
        first, last = got[0][0], got[-1][0]
        check(first - before >= GRACE, '10,000 queued offlines: none is sent before the grace',
              '%.3f s' % (first - before))
        notes.append('10,000 offlines: the first came %.0f ms, the last %.0f ms after the deadline'
                     % ((first - first_due) * 1000, (last - last_due) * 1000))


def main():
    dbname = 'presence_grace_%d' % os.getpid()
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE %s' % dbname)
    slot = 'presence_grace_%d' % os.getpid()
    conn = listen = None
    try:
        conn, cur = connect(dbname)
        cur.execute("CREATE EXTENSION presence")
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
        listen = feed.Listener(dbname)
        t = time.time()
        notify_mode(cur, listen)
        logical_mode(cur, slot)
        channel(dbname, cur)
        notes.append('flaps and offlines took %.1f s' % (time.time() - t))
        t = time.time()
        many(dbname, cur, listen)
        notes.append('10,000 offlines took %.1f s' % (time.time() - t))
        for c in (listen, conn):
            c.close()
        listen = conn = None
        t = time.time()
        restart(dbname, slot)
        notes.append('the restart took %.1f s' % (time.time() - t))
    except Exception as e:      # a crash is a failed test, not a silent stop
        check(False, 'the test ran to the end', '%s: %s' % (type(e).__name__, e))
    finally:
        for c in (listen, conn):
            if c is not None:
                c.close()
        admin = psycopg2.connect(dbname='postgres')
        admin.autocommit = True
        a = admin.cursor()
        a.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  "WHERE slot_name = %s", (slot,))
        a.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)' % dbname)
        admin.close()
    print('1..%d' % len(results))
    for n, (ok, desc, detail) in enumerate(results, 1):
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', n, desc,
                                (' (%s)' % detail) if detail and not ok else ''))
    for note in notes:
        print('# ' + note)
    return 0 if all(r[0] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
