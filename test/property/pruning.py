#!/usr/bin/env python3
"""
pruning.py: property test of retention (doc/rules.md section 8) against the model.

For every random history (presence_model.generate_history, its times spread to one item per
second so that a horizon can fall between two of them) one or two horizons are drawn between
item times, and the deliveries are applied in three random orders with presence.maintain()
run at each horizon in between.  Every delivery arrives before the horizon passes its oldest
item (as with any retention longer than the provider's lateness); re-deliveries of random
deliveries arrive at any time, also after the horizon has passed them.  After every order:

  * presence.sessions and presence.users equal the model with pruning (below), and equal the
    rows of the other orders (updated_at ignored);
  * presence.check() returns no rows, and presence.events keeps no item older than the horizon;
  * a delivery whose items are all older than the horizon when it arrives is counted all
    stale and changes nothing; a late connect of an identified session that ended before the
    horizon does not bring the session back.

The model with pruning, from doc/operations.md, "Retention": at each horizon H, a session whose
items older than H leave it online keeps them; one they leave ended is cut at H: those items
are forgotten, and the session is what its newer items make it, or is gone when it has none.
A user's last_* times and logged_out still count every item, pruned or not.

Output is TAP.  Run:  prove -e python3 test/property/pruning.py
  (PGHOST, PGPORT, PGUSER: a superuser; the test creates and drops its own database)
Options: --seed S  --histories N  --history N (repeatable)  --keep-db
         --inject keep|cut (model fault injection: the test must then fail)
"""

import argparse
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import order_independence as oi    # noqa: E402  (connect, ingest, read_state, SQL; re-execs for psycopg2)
import presence_model as pm        # noqa: E402

import psycopg2                    # noqa: E402

DEFAULT_SEED = 20261201
SPREAD = 10000                     # ms between two consecutive item times
ORDERS = 3
RESET_SQL = ("TRUNCATE presence.events, presence.sessions, presence.users, "
             "presence.folded_sessions, presence.folded_users, presence.retention_state")

TESTS = [
    ('model', 'the pruning model gives the hand-worked answers'),
    ('rows', 'sessions and users equal the model with pruning'),
    ('orders', 'every order ends in the same rows'),
    ('check', 'presence.check() is empty after every order'),
    ('kept', 'presence.events keeps no item older than the horizon'),
    ('late', 'a delivery older than the horizon is counted stale and changes nothing'),
    ('revive', 'a late connect never brings back a session ended before the horizon'),
    ('errors', 'no delivery and no maintain() fails'),
]


class Report(oi.Report):
    def __init__(self, seed):
        oi.TESTS = TESTS
        oi.Report.__init__(self, seed)


def spread(h, rng):
    """The history with its times spread SPREAD ms apart, its bodies encoded again."""
    base = min(it.t for it in h.idents) if h.idents else pm.BASE
    remap = {}

    def moved(it):
        return it.copy(t=base + (it.t - base) * SPREAD)

    for d in h.deliveries:
        if d.kind == 'foreign':
            continue
        d.items = [moved(it) for it in d.items]
        d.body = pm.make_body(rng, d.kind, d.items, d.env_id, d.env_time)
    for it in h.idents:
        remap[it.ident] = moved(it)
    h.idents = list(remap.values())
    return h


def model_rows(idents, horizons, inject=None):
    """Session and user rows after every cut at horizons (ascending), as in the docstring."""
    by_session = {}
    for it in idents:
        by_session.setdefault((it.user, it.sid), []).append(it)
    sessions = {}
    for key, items in by_session.items():
        left = list(items)
        for h in horizons:
            old = [i for i in left if i.t < h]
            if not old:
                continue
            online = pm.session_row(old, key[1] == '')[0] == 'online'
            if inject == 'keep':
                online = True
            elif inject == 'cut':
                online = False
            if not online:
                left = [i for i in left if i.t >= h]
        if left:
            sessions[key] = pm.session_row(left, key[1] == '')
    per_user_rows, per_user_items = {}, {}
    for (u, _s), r in sessions.items():
        per_user_rows.setdefault(u, []).append(r)
    for it in idents:
        per_user_items.setdefault(it.user, []).append(it)
    users = {u: pm.user_row(per_user_rows.get(u, []), its) for u, its in per_user_items.items()}
    return sessions, users


def check_model(rep):
    """Hand-worked stories for the model itself."""
    i = pm._i
    hs = [pm.BASE + 10]
    # an anonymous session online at the horizon keeps its old items
    s, u = model_rows([i('a', '', 0, 1, 'iOS'), i('a', '', 1, 20)], hs)
    want = {('a', ''): ('offline', 'iOS', None, pm.BASE + 1, pm.BASE + 20, pm.BASE + 20)}
    rep.check('model', s == want, None, lambda: 'online at the horizon: %r' % s)
    # an identified session ended before the horizon is cut there
    s, u = model_rows([i('b', 'x', 0, 1), i('b', 'x', 2, 2), i('b', 'x', 0, 30)], hs)
    rep.check('model', s == {('b', 'x'): ('online', None, None, pm.BASE + 30, None,
                                          pm.BASE + 30)}, None, lambda: 'cut: %r' % s)
    rep.check('model', u['b'] == (1, True, pm.BASE + 30, pm.BASE + 2, pm.BASE + 30, False),
              None, lambda: 'cut user: %r' % (u['b'],))
    # a user logged out before the horizon stays logged out, with no session left
    s, u = model_rows([i('c', 'y', 0, 1), i('c', 'y', 2, 2)], hs)
    rep.check('model', s == {} and u['c'] == (0, False, pm.BASE + 1, pm.BASE + 2,
                                               pm.BASE + 2, True),
              None, lambda: 'logged out: %r %r' % (s, u))


def pick_horizons(rng, h):
    """One or two horizons, each halfway between two distinct item times."""
    times = sorted({it.t for it in h.idents})
    if len(times) < 2:
        return []
    gaps = rng.sample(range(len(times) - 1), min(len(times) - 1, rng.choice([1, 2, 2])))
    return sorted(times[g] + (times[g + 1] - times[g]) // 2 for g in gaps)


def plan_order(rng, h, horizons):
    """Phases 0..len(horizons): the deliveries to send before each maintain() and after the last."""
    phases = [[] for _ in range(len(horizons) + 1)]
    for d in h.deliveries:
        oldest = min((it.t for it in d.items), default=None)
        deadline = len(horizons) if oldest is None else \
            next((p for p, hz in enumerate(horizons) if oldest < hz), len(horizons))
        phases[rng.randint(0, deadline)].append(d)
    for d in rng.sample(h.deliveries, min(len(h.deliveries), rng.randint(0, 6))):
        phases[rng.randrange(len(phases))].append(d)
    for p in phases:
        rng.shuffle(p)
    return phases


def maintain_at(cur, horizon_ms):
    """CALL presence.maintain() with presence.retention set so that the horizon is horizon_ms."""
    cur.execute("SELECT set_config('presence.retention', "
                "extract(epoch FROM now() - to_timestamp(%s / 1000.0)) || ' seconds', false)", (horizon_ms,))
    cur.execute("CALL presence.maintain()")
    cur.execute("SELECT (extract(epoch FROM presence.horizon()) * 1000)::bigint")
    return cur.fetchone()[0]


def run_order(rep, hno, conn, rng, h, horizons, phases):
    """Send the phases with maintain() between them; returns the rows, or None on an error."""
    cur = conn.cursor()
    cur.execute(RESET_SQL)
    horizon = None
    for p, deliveries in enumerate(phases):
        for d in deliveries:
            before = oi.read_state(cur)[:2] if horizon is not None and d.items and \
                max(it.t for it in d.items) < horizon else None
            res = oi.ingest(conn, d.body)
            if isinstance(res, str):
                rep.fail('errors', hno, 'delivery %d: %s' % (d.no, res))
                return None
            if before is not None:
                after = oi.read_state(cur)[:2]
                rep.check('late', res[1:4] == (0, 0, len(d.items)) and after == before, hno,
                          lambda: 'delivery %d after horizon %d: %r' % (d.no, horizon, res))
        if p < len(horizons):
            try:
                got = maintain_at(cur, horizons[p])
            except psycopg2.Error as e:
                rep.fail('errors', hno, 'maintain: %s' % e.pgerror)
                return None
            # maintain() reads its own clock, a moment after set_config's: the
            # horizon must only fall between the same two item times as wanted.
            lo, hi = sorted((got, horizons[p]))
            rep.check('errors', not any(lo <= it.t <= hi for it in h.idents), hno,
                      lambda: 'horizon %d, wanted %d' % (got, horizons[p]))
            horizon = horizons[p]
    return oi.read_state(cur), horizon


def check_revive(rep, hno, conn, h, horizon):
    """A connect older than the horizon for sessions ended before it: stale, nothing changes."""
    cur = conn.cursor()
    before = oi.read_state(cur)[:2]
    ended = sorted({(it.user, it.sid) for it in h.idents
                    if it.sid != '' and it.status != 0 and it.t < horizon})
    results = [oi.ingest(conn, pm.make_body(random.Random(0), 'object',
                                            [pm.Item(user, sid, 0, horizon - 1)]))
               for user, sid in ended[:3]]
    after = oi.read_state(cur)[:2]
    rep.check('revive', all(r == (1, 0, 0, 1, 0) for r in results) and after == before, hno,
              lambda: 'late connects of %r: %r' % (ended[:3], results))


def run_history(rep, hno, conn, rng, h, inject):
    horizons = pick_horizons(rng, h)
    want_s, want_u = model_rows(h.idents, horizons, inject)
    first = None
    for o in range(ORDERS):
        r = run_order(rep, hno, conn, rng, h, horizons, plan_order(rng, h, horizons))
        if r is None:
            return
        (sessions, users, raw, events, check), horizon = r
        rep.check('rows', sessions == want_s and users == want_u, hno,
                  lambda: 'order %d: sessions %s; users %s' % (
                      o, oi.dict_diff(sessions, want_s, pm.SESSION_FIELDS),
                      oi.dict_diff(users, want_u, pm.USER_FIELDS)))
        rep.check('check', not check, hno, lambda: 'order %d: %r' % (o, check[:5]))
        if horizon is not None:
            old = [k for k in events if k[3] < horizon]
            rep.check('kept', not old, hno, lambda: 'order %d: %r' % (o, old[:5]))
            check_revive(rep, hno, conn, h, horizon)
        if first is None:
            first = raw
        else:
            rep.check('orders', raw == first, hno, 'order %d differs from order 0' % o)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--seed', type=int, default=int(os.environ.get('PROPERTY_SEED', DEFAULT_SEED)))
    ap.add_argument('--histories', type=int,
                    default=int(os.environ.get('PRUNING_HISTORIES', 150)))
    ap.add_argument('--history', type=int, action='append')
    ap.add_argument('--keep-db', action='store_true')
    ap.add_argument('--inject', choices=['keep', 'cut'])
    args = ap.parse_args()
    rep = Report(args.seed)
    check_model(rep)
    dbname = 'presence_prune_%d' % os.getpid()
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE %s' % dbname)
    conn = oi.connect(dbname)
    try:
        conn.cursor().execute('CREATE EXTENSION presence')
        for hno in (args.history or range(args.histories)):
            rng = random.Random('%d/%d' % (args.seed, hno))
            h = spread(pm.generate_history(rng, hno), rng)
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
