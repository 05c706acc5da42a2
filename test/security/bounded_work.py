#!/usr/bin/env python3
"""
bounded_work.py: a delivery's memory grows with its body, never beyond a small multiple of it
(issue 17, finding 2).  Bodies of up to presence.max_payload_bytes in the shapes that cost most
per byte (many small items, items with every field at its cap, the review's 300 kB envelope id
beside 10,000 items, now refused) go through presence_parse and presence_ingest_unsigned, each
in a fresh backend; the backend's peak private memory (VmHWM less shared pages) may grow by at most
PEAK_FACTOR x the body plus a fixed allowance.  The time per byte is printed for each shape
(a figure, not an assertion).

Output is TAP.  Run:  prove -e python3 test/security/bounded_work.py   (PGHOST, PGPORT, PGUSER)
"""
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'property'))
import order_independence as oi    # noqa: E402  (connect; re-execs for psycopg2)
import tap                         # noqa: E402

import psycopg2                    # noqa: E402

MAX = 1048576
PEAK_FACTOR = 12
ALLOWANCE_KB = 8192


def envelope(items, env_id='e1'):
    return json.dumps({'type': 'user:connection_status', 'id': env_id, 'time': 1730192400000,
                       'data': items}, separators=(',', ':'))


def fill(make, env_id='e1'):
    """As many items from make(n) as fit in MAX bytes."""
    items = []
    size = len(envelope([], env_id))
    n = 0
    while True:
        it = make(n)
        extra = len(json.dumps(it, separators=(',', ':'))) + 1
        if size + extra > MAX:
            return envelope(items, env_id)
        items.append(it)
        size += extra
        n += 1


SHAPES = [
    ('small items', lambda: fill(lambda n: {'status': '0', 'userId': 'u%d' % (n % 500), 'time': n})),
    ('every field at its cap', lambda: fill(lambda n: {
        'status': '1', 'userId': ('u%d-' % n).ljust(256, 'x'), 'time': n,
        'sessionId': ('s%d-' % n).ljust(256, 's'), 'os': 'o' * 64, 'clientIp': '1' * 64},
        env_id='i' * 256)),
    ('a 300 kB envelope id beside 10,000 items (refused)', lambda: envelope(
        [{'status': '0', 'userId': 'u%d' % n, 'time': n} for n in range(10000)], 'i' * 300000)),
]


def vm_hwm_kb(cur):
    """The backend's peak private memory: its peak resident size (VmHWM) less the shared
    buffers and files it has mapped (RssShmem, RssFile: touched pages stay mapped)."""
    cur.execute("SELECT pg_read_file('/proc/' || pg_backend_pid() || '/status')")
    f = {}
    for line in cur.fetchone()[0].splitlines():
        k, _, v = line.partition(':')
        f[k] = v.split()[0] if v.split() else '0'
    return int(f['VmHWM']) - int(f['RssShmem']) - int(f['RssFile'])


def measure(dbname, sql, body):
    conn = oi.connect(dbname)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    before = vm_hwm_kb(cur)
    t0 = time.time()
    err = None
    try:
        cur.execute(sql, (body,))
        cur.fetchall()
    except psycopg2.Error as e:
        err = e.pgcode
    seconds = time.time() - t0
    after = vm_hwm_kb(cur)
    conn.close()
    return after - before, seconds, err


def main():
    checks = tap.Checks()
    dbname = 'presence_bounded_%d' % os.getpid()
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE %s' % dbname)
    try:
        c = oi.connect(dbname)
        c.cursor().execute('CREATE EXTENSION presence')
        c.close()
        for name, make in SHAPES:
            body = make()
            kb = len(body) / 1024.0
            limit = PEAK_FACTOR * kb + ALLOWANCE_KB
            for what, sql in (('presence_parse', 'SELECT count(*) FROM presence_parse(%s)'),
                              ('presence_ingest_unsigned', 'SELECT * FROM presence_ingest_unsigned(%s)')):
                grew, seconds, err = measure(dbname, sql, body)
                print('# %s, %s: %.0f kB body, peak memory +%d kB, %.2f s (%.2f us/byte)%s'
                      % (what, name, kb, grew, seconds, seconds * 1e6 / len(body),
                         ', refused %s' % err if err else ''))
                checks.check(grew <= limit, '%s of %s stays within %dx its body (+%d kB of %d allowed)'
                             % (what, name, PEAK_FACTOR, grew, limit))
                if name.endswith('(refused)'):
                    checks.check(err == '22023', '%s refuses %s with 22023' % (what, name))
    finally:
        admin.cursor().execute('DROP DATABASE %s' % dbname)
        admin.close()
    return checks.finish()


if __name__ == '__main__':
    sys.exit(main())
