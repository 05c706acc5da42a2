#!/usr/bin/env python3
"""
history.py: property test of the history functions (doc/rules.md section 10) against a model.

For every random history (presence_model.generate_history, its times spread as in pruning.py so
that a horizon can fall between two items) the deliveries are applied in one random order, with
presence.maintain() run at zero, one or two horizons in between (as in pruning.py), and then:

  * presence.user_history(user, -infinity, infinity) of every user equals the interval model
    below, and so does user_history over a random window [since, until) (the model's intervals
    that overlap it);
  * presence.online_time(user, since, until) equals the length of the union of the model's
    intervals clipped to the window;
  * presence.online_at(t) at random instants equals the model's sessions online at t;
  * presence.online_counts() over the history's span equals the model's counts at each step.

The interval model, written from the text of doc/rules.md (sections 3.1, 3.2, 10) and doc/history.md, over the
distinct items of a session key that retention keeps (pruning.py's model: a session its items
older than a horizon leave online stands for one connect at its started_at with its os and
client_ip; one they leave ended loses them):

  * identified session: online from its greatest "0" until its greatest terminal item
    ((time, status) order), end_state from that item; still online (until None) when it has no
    terminal item; no interval when it has no "0", or its greatest "0" is not before its
    greatest terminal item;
  * anonymous session: walk the items in (time, status) order; a "0" while not online opens an
    interval, the next terminal item closes it; a terminal item while not online does nothing;
    an interval [t, t) is none;
  * os / client_ip: for an identified session the session's; for an anonymous interval the
    greatest item from its opening "0" through its closing item carrying the field, else the
    session's (the greatest of all its items carrying it).  Every copy of an item carries the
    same os and clientIp here (one_value_per_item).

Output is TAP.  Run:  prove -e python3 test/property/history.py
  (PGHOST, PGPORT, PGUSER: a superuser; the test creates and drops its own database)
Options: --seed S  --histories N (HISTORY_HISTORIES, default 150)  --history N  --keep-db
         --inject open|os (model fault injection: the test must then fail)
"""

import argparse
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import order_independence as oi    # noqa: E402  (re-execs for psycopg2)
import presence_model as pm        # noqa: E402
import pruning                     # noqa: E402

import psycopg2                    # noqa: E402

DEFAULT_SEED = 20261201
STATE = {1: 'offline', 2: 'logged_out'}

TESTS = [
    ('model', 'the interval model gives the hand-worked answers'),
    ('history', 'user_history of every user equals the interval model'),
    ('window', 'user_history over a window equals the model intervals overlapping it'),
    ('time', 'online_time equals the union of the model intervals in the window'),
    ('at', 'online_at equals the model sessions online at that instant'),
    ('counts', 'online_counts equals the model counts at every step'),
    ('errors', 'no delivery, maintain() or history call fails'),
]


class Report(oi.Report):
    def __init__(self, seed):
        oi.TESTS = TESTS
        oi.Report.__init__(self, seed)


def one_value_per_item(h):
    """Give every copy of an item its canonical os and clientIp.  Which copy's value an item
    keeps when copies disagree is the ingest rules' business (order_independence.py); here an
    interval's os may come from any item, so every item has one value.  The bodies are encoded
    again by pruning.spread()."""
    canon = {it.ident: it for it in h.idents}
    for d in h.deliveries:
        d.items = [c.copy(os=canon[c.ident].os, ip=canon[c.ident].ip) for c in d.items]
    return h


def stored_items(h):
    """The distinct items as stored."""
    return list(h.idents)


def kept_items(items, horizons):
    """Per session key, the items retention keeps after every horizon (pruning.py's model)."""
    by_session = {}
    for it in items:
        by_session.setdefault((it.user, it.sid), []).append(it)
    kept = {}
    for key, its in by_session.items():
        left = list(its)
        for hz in horizons:
            old = [i for i in left if i.t < hz]
            if not old:
                continue
            newer = [i for i in left if i.t >= hz]
            row = pm.session_row(old, key[1] == '')
            if row[0] == 'online':
                left = [pm.Item(key[0], key[1], 0, row[3], row[1], row[2])] + newer
            else:
                left = newer
        if left:
            kept[key] = left
    return kept


def greatest_field(items, f):
    for i in sorted(items, key=lambda i: i.key, reverse=True):
        if getattr(i, f) is not None:
            return getattr(i, f)
    return None


def session_intervals(key, items, inject=None):
    """The online intervals of one session key: (session_id, os, ip, from, until, end_state)."""
    ordered = sorted(items, key=lambda i: i.key)
    s_os, s_ip = greatest_field(ordered, 'os'), greatest_field(ordered, 'ip')
    out = []
    if key[1] != '':
        zeros = [i.t for i in ordered if i.status == 0]
        terms = [i for i in ordered if i.status != 0]
        if not zeros:
            return out
        start = max(zeros)
        if not terms:
            out.append((key[1], s_os, s_ip, start, None, None))
        elif start < terms[-1].t or inject == 'open':
            out.append((key[1], s_os, s_ip, start, terms[-1].t, STATE[terms[-1].status]))
        return out
    run = None
    for i in ordered:
        if i.status == 0:
            if run is None:
                run = [i]
            else:
                run.append(i)
        elif run is not None:
            run.append(i)
            if run[0].t < i.t:
                out.append((run, i))
            run = None
    res = []
    for r, end in out:
        os_ = greatest_field(r, 'os') if inject != 'os' else None
        ip = greatest_field(r, 'ip')
        res.append(('', os_ if os_ is not None else s_os, ip if ip is not None else s_ip,
                    r[0].t, end.t, STATE[end.status]))
    if run is not None:
        os_ = greatest_field(run, 'os') if inject != 'os' else None
        ip = greatest_field(run, 'ip')
        res.append(('', os_ if os_ is not None else s_os, ip if ip is not None else s_ip,
                    run[0].t, None, None))
    return res


def model_intervals(items, horizons, inject=None):
    """{user: sorted list of intervals}."""
    out = {}
    for key, its in kept_items(items, horizons).items():
        for iv in session_intervals(key, its, inject):
            out.setdefault(key[0], []).append(iv)
    for u in out:
        out[u].sort(key=lambda iv: (iv[3], iv[0]))
    return out


def overlaps(iv, since, until):
    return iv[3] < until and (iv[4] is None or iv[4] > since)


def union_length(ivs, since, until):
    spans = sorted((max(iv[3], since), min(until if iv[4] is None else iv[4], until))
                   for iv in ivs)
    total, cur = 0, None
    for f, t in spans:
        if f >= t:
            continue
        if cur is None or f > cur[1]:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = [f, t]
        else:
            cur[1] = max(cur[1], t)
    if cur is not None:
        total += cur[1] - cur[0]
    return total


def check_model(rep):
    i = pm._i
    b = pm.BASE
    # anonymous: online three times; a disconnect while offline opens nothing
    m = model_intervals([i('a', '', 0, 0, 'iOS'), i('a', '', 1, 10), i('a', '', 1, 15),
                         i('a', '', 0, 20), i('a', '', 0, 25, 'PC'), i('a', '', 2, 30),
                         i('a', '', 0, 40)], [])
    rep.check('model', m == {'a': [('', 'iOS', None, b, b + 10, 'offline'),
                                   ('', 'PC', None, b + 20, b + 30, 'logged_out'),
                                   ('', 'PC', None, b + 40, None, None)]},
              None, lambda: 'anonymous: %r' % m)
    # identified: from the greatest "0" to the greatest terminal; never online: none
    m = model_intervals([i('b', 'x', 0, 0), i('b', 'x', 0, 5), i('b', 'x', 1, 20),
                         i('b', 'x', 2, 30), i('b', 'y', 1, 3), i('b', 'z', 1, 3),
                         i('b', 'z', 0, 9)], [])
    rep.check('model', m == {'b': [('x', None, None, b + 5, b + 30, 'logged_out')]},
              None, lambda: 'identified: %r' % m)
    # pruned: online at the horizon, the interval starts at the folded started_at
    m = model_intervals([i('c', '', 0, 0), i('c', '', 0, 5, 'iOS'), i('c', '', 1, 20),
                         i('c', 'k', 0, 1), i('c', 'k', 1, 2), i('c', 'k', 0, 30)], [b + 10])
    rep.check('model', m == {'c': [('', 'iOS', None, b + 5, b + 20, 'offline'),
                                   ('k', None, None, b + 30, None, None)]},
              None, lambda: 'pruned: %r' % m)
    rep.check('model', union_length([(None, None, None, 0, 10), (None, None, None, 5, 20),
                                     (None, None, None, 30, None)], 2, 35) == 23,
              None, 'union_length')


MS = "(extract(epoch FROM %s) * 1000)::bigint"
HISTORY_SQL = ("SELECT session_id, os, client_ip, " + MS % 'online_from' + ", " +
               MS % 'online_until' + ", end_state FROM presence.user_history(%%s, %s, %s)")


def ts(ms):
    return "to_timestamp(%d / 1000.0)" % ms


def run_history(rep, hno, conn, rng, h, inject):
    items = stored_items(h)
    if not items:
        return
    horizons = pruning.pick_horizons(rng, h) if rng.random() < 0.6 else []
    cur = conn.cursor()
    cur.execute(pruning.RESET_SQL)
    for p, deliveries in enumerate(pruning.plan_order(rng, h, horizons)):
        for d in deliveries:
            res = oi.ingest(conn, d.body)
            if isinstance(res, str):
                rep.fail('errors', hno, 'delivery %d: %s' % (d.no, res))
                return
        if p < len(horizons):
            try:
                pruning.maintain_at(cur, horizons[p])
            except psycopg2.Error as e:
                rep.fail('errors', hno, 'maintain: %s' % e.pgerror)
                return
    want = model_intervals(items, horizons, inject)
    users = sorted({it.user for it in items})
    times = sorted({it.t for it in items})
    lo, hi = times[0] - 2000, times[-1] + 2000
    try:
        for u in users:
            cur.execute(HISTORY_SQL % ("'-infinity'", "'infinity'"), (u,))
            got = [tuple(r) for r in cur.fetchall()]
            rep.check('history', got == want.get(u, []), hno,
                      lambda: 'user %r: got %r, want %r' % (u, got, want.get(u, [])))
            since = rng.randint(lo, hi)
            until = rng.randint(since, hi + 1000)
            cur.execute(HISTORY_SQL % (ts(since), ts(until)), (u,))
            got = [tuple(r) for r in cur.fetchall()]
            w = [iv for iv in want.get(u, []) if overlaps(iv, since, until)]
            rep.check('window', got == w, hno,
                      lambda: 'user %r [%d, %d): got %r, want %r' % (u, since, until, got, w))
            cur.execute("SELECT (extract(epoch FROM presence.online_time(%%s, %s, %s)) * 1000)"
                        "::bigint" % (ts(since), ts(until)), (u,))
            got_t = cur.fetchone()[0]
            want_t = union_length(want.get(u, []), since, until)
            rep.check('time', got_t == want_t, hno,
                      lambda: 'user %r [%d, %d): got %r, want %r' % (u, since, until, got_t, want_t))
        for t in [rng.choice(times), rng.randint(lo, hi), rng.choice(times) - 1]:
            cur.execute("SELECT user_id, session_id, " + MS % 'online_since' +
                        " FROM presence.online_at(%s) ORDER BY 1, 2" % ts(t))
            got = [tuple(r) for r in cur.fetchall()]
            w = sorted((u, iv[0], iv[3]) for u, ivs in want.items() for iv in ivs
                       if iv[3] <= t and (iv[4] is None or iv[4] > t))
            rep.check('at', got == w, hno, lambda: 'at %d: got %r, want %r' % (t, got, w))
        step = max(1000, (hi - lo) // rng.randint(5, 40) // 1000 * 1000)
        cur.execute("SELECT " + MS % 'at' + ", users, sessions FROM presence.online_counts("
                    "%s, %s, '%d milliseconds')" % (ts(lo), ts(hi), step))
        got = [tuple(r) for r in cur.fetchall()]
        w = []
        for t in range(lo, hi, step):
            on = [(u, iv[0]) for u, ivs in want.items() for iv in ivs
                  if iv[3] <= t and (iv[4] is None or iv[4] > t)]
            w.append((t, len({x[0] for x in on}), len(on)))
        rep.check('counts', got == w, hno, lambda: 'got %r, want %r' % (got, w))
    except psycopg2.Error as e:
        rep.fail('errors', hno, 'history call: %s' % e.pgerror)
        return
    rep.check('errors', True, hno, '')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--seed', type=int, default=int(os.environ.get('PROPERTY_SEED', DEFAULT_SEED)))
    ap.add_argument('--histories', type=int,
                    default=int(os.environ.get('HISTORY_HISTORIES', 150)))
    ap.add_argument('--history', type=int, action='append')
    ap.add_argument('--keep-db', action='store_true')
    ap.add_argument('--inject', choices=['open', 'os'])
    args = ap.parse_args()
    rep = Report(args.seed)
    check_model(rep)
    dbname = 'presence_history_%d' % os.getpid()
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE %s' % dbname)
    conn = oi.connect(dbname)
    try:
        conn.cursor().execute('CREATE EXTENSION presence')
        for hno in (args.history or range(args.histories)):
            rng = random.Random('%d/%d' % (args.seed, hno))
            h = pruning.spread(one_value_per_item(pm.generate_history(rng, hno)), rng)
            run_history(rep, hno, conn, rng, h, args.inject)
    finally:
        conn.close()
        if not args.keep_db:
            admin.cursor().execute('DROP DATABASE %s' % dbname)
        admin.close()
    for line in rep.tap():
        print(line)
    return 1 if any(rep.fails.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
