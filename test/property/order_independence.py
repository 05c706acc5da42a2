#!/usr/bin/env python3
"""
order_independence.py: property test of doc/rules.md section 3.4 (invariants 1 and 2, and the ingest
result counts of 3.3).

For every random history (see presence_model.generate_history) the deliveries are applied in
four different random orders (--orders), each with random re-deliveries: two from one
connection, one split over four concurrent connections, and one over four concurrent
connections with every delivery sent from two of them at about the same moment.  After every
order:

  * presence.sessions and presence.users equal this directory's own model of doc/rules.md section 3
    (presence_model.py), and equal the rows of the other orders (updated_at ignored);
  * presence.check() returns no rows;
  * presence.events holds exactly the distinct items of the history, with the outcomes the
    ingest results counted; from one connection, each row is the first copy received (os,
    client_ip), with its envelope's id and time, and the model's outcome;
  * every ingest_result adds up, and per order applied+stale = distinct items,
    duplicates = copies sent - distinct items, ignored = foreign-type deliveries;
  * in the one-connection orders, applied / stale / duplicates of every delivery are those of
    the model (where the rules fix them: one new item per session in the delivery).

Output is TAP.  Run:  prove -e python3 test/property/order_independence.py
  (PGHOST, PGPORT, PGUSER: a superuser; the test creates and drops its own database)
Options: --seed S  --histories N  --history N (replay one; repeatable)  --dump  --threads 4
         --orders 4  --keep-db  --inject drop|extra|swap|badbody|tamper (fault injection: the
         test must then fail)
Environment: PROPERTY_SEED, PROPERTY_HISTORIES override the defaults.
"""

import os
import sys

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:     # e.g. a pyenv python3 first on PATH: use Debian's, which has psycopg2
    if os.path.exists('/usr/bin/python3') and os.path.realpath(sys.executable) != \
            os.path.realpath('/usr/bin/python3') and not os.environ.get('PROPERTY_REEXEC'):
        os.environ['PROPERTY_REEXEC'] = '1'
        os.execv('/usr/bin/python3', ['/usr/bin/python3'] + sys.argv)
    print('1..1')
    print('not ok 1 - python3-psycopg2 is importable (apt-get install -y python3-psycopg2)')
    sys.exit(1)

import argparse
import json
import queue
import random
import threading
import time
import traceback

sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import presence_model as pm    # noqa: E402

DEFAULT_SEED = 20261125
MS = "(extract(epoch from %s) * 1000)::bigint"

SESSIONS_SQL = ("SELECT user_id, session_id, state, os, client_ip, %s, %s, %s "
                "FROM presence.sessions" % (MS % 'started_at', MS % 'ended_at',
                                             MS % 'last_event_at'))
USERS_SQL = ("SELECT user_id, online_sessions, online, %s, %s, %s, logged_out "
             "FROM presence.users" % (MS % 'last_online_at', MS % 'last_offline_at',
                                      MS % 'last_seen_at'))
EVENTS_SQL = ("SELECT user_id, session_id, status, %s, event_id, %s, os, client_ip, outcome "
              "FROM presence.events" % (MS % 'status_time', MS % 'event_time'))
# Raw rows, every column but updated_at, for the order-against-order comparison.
RAW_SESSIONS_SQL = ("SELECT user_id, session_id, state, os, client_ip, started_at::text, "
                    "ended_at::text, last_event_at::text FROM presence.sessions "
                    "ORDER BY user_id, session_id")
RAW_USERS_SQL = ("SELECT user_id, online_sessions, online, last_online_at::text, "
                 "last_offline_at::text, last_seen_at::text, logged_out FROM presence.users "
                 "ORDER BY user_id")
INGEST_SQL = "SELECT * FROM presence_ingest_unsigned(%s)"
RESET_SQL = "TRUNCATE presence.events, presence.sessions, presence.users"
SETUP_SQL = "CREATE EXTENSION presence"

TESTS = [
    ('model', 'the model reproduces the hand-written cases of the rules'),
    ('db', 'test database created with CREATE EXTENSION presence'),
    ('hand', 'hand-written cases of the rules through the extension end in the hand-written rows'),
    ('errors', 'no delivery raised an error (no deadlock, no serialization failure)'),
    ('seq_sessions', 'one-connection orders: presence.sessions equals the model'),
    ('seq_users', 'one-connection orders: presence.users equals the model'),
    ('conc_state', 'concurrent orders: presence.sessions and presence.users equal the model'),
    ('orders_agree', 'all orders of a history end in identical sessions and users rows'),
    ('check', 'presence.check() returns no rows after every order'),
    ('events', 'presence.events holds exactly the distinct items (nothing from foreign types), '
               'outcomes as counted; one connection: first copy, envelope id/time, outcome'),
    ('result_rows', 'every ingest_result adds up (items = items in the body, '
                    'applied+duplicates+stale+ignored = items)'),
    ('result_sums', 'per order: applied+stale = distinct items, duplicates = copies - distinct, '
                    'ignored = foreign deliveries'),
    ('stale_rule', 'one-connection orders: applied/stale/duplicates per delivery match the model'),
    ('ran_all', 'every requested history ran to the end'),
    ('dropdb', 'test database dropped'),
]


class Report(object):
    """Collects failures per assertion; prints TAP at the end."""

    def __init__(self, seed, max_diag=3):
        self.seed = seed
        self.fails = {k: [] for k, _ in TESTS}
        self.counts = {k: 0 for k, _ in TESTS}
        self.max_diag = max_diag
        self.failed_histories = set()

    def ok(self, key):
        self.counts[key] += 1

    def fail(self, key, history, msg):
        self.counts[key] += 1
        self.fails[key].append((history, msg))
        if history is not None:
            self.failed_histories.add(history)
        if len(self.fails[key]) <= self.max_diag:
            where = ('history %s (replay: --seed %s --history %s)' % (history, self.seed, history)
                     if history is not None else 'setup')
            sys.stdout.write(diag('FAIL %s: %s: %s' % (key, where, msg)))
            sys.stdout.flush()

    def check(self, key, cond, history, msg_fn):
        if cond:
            self.ok(key)
        else:
            self.fail(key, history, msg_fn() if callable(msg_fn) else msg_fn)
        return cond

    def tap(self):
        out = ['1..%d' % len(TESTS)]
        for n, (key, desc) in enumerate(TESTS, 1):
            f = self.fails[key]
            if self.counts[key] == 0 and key not in ('dropdb',):
                out.append('not ok %d - %s # never checked' % (n, desc))
                continue
            if f:
                hs = sorted({h for h, _ in f if h is not None})
                out.append('not ok %d - %s (%d of %d checks failed; histories %s)'
                           % (n, desc, len(f), self.counts[key], _short(hs)))
            else:
                out.append('ok %d - %s (%d checks)' % (n, desc, self.counts[key]))
        return out


def _short(xs, n=10):
    s = ', '.join(str(x) for x in xs[:n])
    return s + (', ...' if len(xs) > n else '') if xs else '-'


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def diag(text):
    return ''.join('# %s\n' % line for line in str(text).splitlines())


def connect(dbname):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET synchronous_commit = off")
    cur.execute("SET client_min_messages = warning")
    return conn


class Worker(threading.Thread):
    """One connection in its own thread; runs lists of deliveries on request."""

    def __init__(self, dbname):
        threading.Thread.__init__(self, daemon=True)
        self.conn = connect(dbname)
        self.jobs = queue.Queue()
        self.start()

    def run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            barrier, deliveries, results, done = job
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            try:
                for d in deliveries:
                    results.append((d, ingest(self.conn, d.body)))
            except Exception as e:     # not an SQL error: report it as one, never hang
                results.append((deliveries[len(results)], 'EXCEPTION %r' % e))
            finally:
                done.set()

    def close(self):
        self.jobs.put(None)
        self.join(10)
        self.conn.close()


def ingest(conn, body):
    """Returns (items, applied, duplicates, stale, ignored) or an error string."""
    try:
        cur = conn.cursor()
        cur.execute(INGEST_SQL, (body,))
        row = cur.fetchone()
        return tuple(row)
    except psycopg2.Error as e:
        return 'ERROR %s: %s' % (e.pgcode, (e.pgerror or str(e)).strip().splitlines()[0])


def read_state(cur):
    cur.execute(SESSIONS_SQL)
    sessions = {(r[0], r[1]): tuple(r[2:]) for r in cur.fetchall()}
    cur.execute(USERS_SQL)
    users = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
    cur.execute(RAW_SESSIONS_SQL)
    raw_s = cur.fetchall()
    cur.execute(RAW_USERS_SQL)
    raw_u = cur.fetchall()
    cur.execute(EVENTS_SQL)
    events = {(r[0], r[1], int(r[2]), r[3]): tuple(r[4:]) for r in cur.fetchall()}
    cur.execute("SELECT * FROM presence.check()")
    check = cur.fetchall()
    return sessions, users, (raw_s, raw_u), events, check


def dict_diff(got, want, fields, limit=6):
    out = []
    for k in sorted(set(got) | set(want), key=repr):
        g, w = got.get(k), want.get(k)
        if g == w:
            continue
        if g is None or w is None:
            out.append('%r: stored %r, model %r' % (k, g, w))
        else:
            out.append('%r: ' % (k,) + ', '.join('%s stored %r model %r' % (f, a, b)
                                                 for f, a, b in zip(fields, g, w) if a != b))
        if len(out) >= limit:
            out.append('...')
            break
    return '; '.join(out)


# ----------------------------------------------------------------------------------------------
# Orders

def make_orders(rng, h, n_orders, threads):
    """n_orders-2 one-connection sequences and two concurrent ones (a list per thread), each a
    random permutation of all deliveries with random re-deliveries; in the second concurrent
    one every delivery is sent from two connections at about the same moment."""
    def with_redeliveries(seq):
        seq = list(seq)
        extra = [d for d in seq if rng.random() < 0.15 for _ in range(rng.choice([1, 1, 2]))]
        for d in extra:
            seq.insert(rng.randrange(len(seq) + 1), d)
        return seq

    orders = []
    for k in range(n_orders - 2):
        seq = list(h.deliveries)
        if k == 1 and rng.random() < 0.4:
            # Adversarial: newest first, or oldest first, by the greatest time in the delivery.
            rev = rng.random() < 0.7
            seq.sort(key=lambda d: max([i.t for i in d.items] or [0]), reverse=rev)
        else:
            rng.shuffle(seq)
        orders.append(('seq%d' % (k + 1), with_redeliveries(seq)))
    seq = list(h.deliveries)
    rng.shuffle(seq)
    seq = with_redeliveries(seq)
    lists = [[] for _ in range(threads)]
    for d in seq:
        lists[rng.randrange(threads)].append(d)
    orders.append(('conc', lists))
    # Every delivery twice, from two different connections, at about the same position.
    seq = list(h.deliveries)
    rng.shuffle(seq)
    lists = [[] for _ in range(threads)]
    for d in seq:
        a, b = rng.sample(range(threads), 2) if threads > 1 else (0, 0)
        lists[a].append(d)
        lists[b].append(d)
    orders.append(('conc2', lists))
    return orders


def run_sequential(conn, seq):
    return [(d, ingest(conn, d.body)) for d in seq]


def run_concurrent(workers, lists):
    barrier = threading.Barrier(len(lists))
    outs = []
    for w, lst in zip(workers, lists):
        results, done = [], threading.Event()
        w.jobs.put((barrier, lst, results, done))
        outs.append((results, done))
    merged = []
    for results, done in outs:
        if not done.wait(300):
            raise RuntimeError('a concurrent connection did not finish within 300 s')
        merged.extend(results)
    return merged


# ----------------------------------------------------------------------------------------------
# Checks of one order

def check_results(rep, hno, name, h, results, sequential, foreign_mode):
    """Per-delivery and per-order checks of the ingest results."""
    errors = [(d, r) for d, r in results if isinstance(r, str)]
    rep.check('errors', not errors, hno,
              lambda: '%s: %d deliveries failed, first: %s; body %s'
              % (name, len(errors), errors[0][1], errors[0][0].body[:500]))
    good = [(d, r) for d, r in results if not isinstance(r, str)]

    bad_rows = []
    for d, r in good:
        items, applied, dups, stale, ignored = r
        if d.kind == 'foreign':
            ok = (applied == 0 and dups == 0 and stale == 0 and ignored > 0 and items == ignored
                  and ignored in (1, d.foreign_items))
            if ok and d.foreign_items > 1:
                mode = 'delivery' if ignored == 1 else 'item'
                foreign_mode.setdefault('mode', mode)
                ok = foreign_mode['mode'] == mode
        else:
            ok = (items == len(d.items) and ignored == 0
                  and applied + dups + stale + ignored == items
                  and min(applied, dups, stale) >= 0)
        if not ok:
            bad_rows.append((d, r))
    rep.check('result_rows', not bad_rows, hno,
              lambda: '%s: %d bad results, first: delivery %d (%s, %d items, %d foreign) got '
                      '(items, applied, duplicates, stale, ignored) = %r'
              % (name, len(bad_rows), bad_rows[0][0].no, bad_rows[0][0].kind,
                 len(bad_rows[0][0].items), bad_rows[0][0].foreign_items, bad_rows[0][1]))

    if not errors:
        sent = sum(len(d.items) for d, _ in results)
        n_foreign = sum(1 for d, _ in results if d.kind == 'foreign')
        n_foreign_items = sum(d.foreign_items for d, _ in results if d.kind == 'foreign')
        st = [r for d, r in good if d.kind != 'foreign']
        fo = [r for d, r in good if d.kind == 'foreign']
        a_s = sum(r[1] + r[3] for r in st)
        du = sum(r[2] for r in st)
        ig = sum(r[4] for r in fo) + sum(r[4] for r in st)
        distinct = len(h.idents)
        ok = (a_s == distinct and du == sent - distinct
              and ig in (n_foreign, n_foreign_items))
        rep.check('result_sums', ok, hno,
                  lambda: '%s: applied+stale %d (want %d distinct), duplicates %d (want %d = %d '
                          'sent - %d), ignored %d (want %d deliveries or %d items)'
                  % (name, a_s, distinct, du, sent - distinct, sent, distinct, ig, n_foreign,
                     n_foreign_items))

    totals = None
    if not errors:
        totals = (sum(r[1] for d, r in good if d.kind != 'foreign'),
                  sum(r[3] for d, r in good if d.kind != 'foreign'))
    first = None
    if sequential and not errors:
        m = pm.Model()
        mism = []
        first = {}      # ident -> (delivery, copy, outcome or None where the rules leave it)
        for d, r in results:
            if d.kind == 'foreign':
                continue
            outs = [m.offer(i) for i in d.items]
            new_per_session = {}
            for i, o in zip(d.items, outs):
                if o != 'duplicate':
                    new_per_session[(i.user, i.sid)] = new_per_session.get((i.user, i.sid), 0) + 1
            for i, o in zip(d.items, outs):
                if o != 'duplicate':
                    first[i.ident] = (d, i, o if new_per_session[(i.user, i.sid)] == 1 else None)
            want_d = outs.count('duplicate')
            want_a, want_s = outs.count('applied'), outs.count('stale')
            if max(new_per_session.values() or [0]) <= 1:
                good_r = (r[1], r[2], r[3]) == (want_a, want_d, want_s)
            else:
                # Several new items of one session in one delivery: the rules do not fix
                # the order inside a delivery, so only applied+stale is determined.
                good_r = r[2] == want_d and r[1] + r[3] == want_a + want_s
            if not good_r:
                mism.append((d, r, (want_a, want_d, want_s), outs))
        rep.check('stale_rule', not mism, hno,
                  lambda: '%s: %d deliveries differ; first: delivery %d items %r got '
                          '(applied, duplicates, stale) = %r, model %r (per item %r)'
                  % (name, len(mism), mism[0][0].no, mism[0][0].items,
                     (mism[0][1][1], mism[0][1][2], mism[0][1][3]), mism[0][2], mism[0][3]))
    return totals, first


def check_state(rep, hno, name, h, state, want_s, want_u, sequential, totals, first):
    sessions, users, raw, events, check = state
    if sequential:
        rep.check('seq_sessions', sessions == want_s, hno,
                  lambda: '%s: %s' % (name, dict_diff(sessions, want_s, pm.SESSION_FIELDS)))
        rep.check('seq_users', users == want_u, hno,
                  lambda: '%s: %s' % (name, dict_diff(users, want_u, pm.USER_FIELDS)))
    else:
        rep.check('conc_state', sessions == want_s and users == want_u, hno,
                  lambda: '%s: sessions %s | users %s'
                  % (name, dict_diff(sessions, want_s, pm.SESSION_FIELDS),
                     dict_diff(users, want_u, pm.USER_FIELDS)))
    rep.check('check', not check, hno,
              lambda: '%s: presence.check() returned %d rows, first %r' % (name, len(check),
                                                                         check[:3]))
    want_e = sorted(i.ident for i in h.idents)
    got_e = sorted(events)
    problems = []
    if got_e != want_e:
        problems.append('%d event rows for %d distinct items; extra %r; missing %r'
                        % (len(got_e), len(want_e), sorted(set(got_e) - set(want_e))[:3],
                           sorted(set(want_e) - set(got_e))[:3]))
    if totals is not None:
        outcomes = [v[4] for v in events.values()]
        got_t = (outcomes.count('applied'), outcomes.count('stale'))
        if got_t != totals:
            problems.append('outcomes logged (applied, stale) = %r, ingest results said %r'
                            % (got_t, totals))
    if first is not None and got_e == want_e:
        # One connection: each event row is the first copy received (a duplicate changes
        # nothing), with the envelope id and time of the delivery that brought it.
        for ident, (d, c, outcome) in sorted(first.items()):
            event_id, event_time, os_, ip, got_outcome = events[ident]
            want = (c.os, c.ip)
            if (os_, ip) != want:
                problems.append('%r: logged os/client_ip %r, first copy received had %r'
                                % (ident, (os_, ip), want))
            if d.kind == 'envelope' and (event_id, event_time) != (d.env_id, d.env_time):
                problems.append('%r: logged envelope (id, time) %r, delivery %d had %r'
                                % (ident, (event_id, event_time), d.no, (d.env_id, d.env_time)))
            if outcome is not None and got_outcome != outcome:
                problems.append('%r: logged outcome %r, model %r' % (ident, got_outcome, outcome))
            if len(problems) > 4:
                break
    rep.check('events', not problems, hno, lambda: '%s: %s' % (name, '; '.join(problems)))


# ----------------------------------------------------------------------------------------------

def run_hand_cases(rep, conn, workers, rng):
    cur = conn.cursor()
    for name, items, want_s, want_u in pm.HAND_CASES:
        conflicting = len({i.ident for i in items}) != len(items)
        orders = [('written', list(items))]
        if not conflicting:
            orders.append(('reversed', list(reversed(items))))
            sh = list(items)
            rng.shuffle(sh)
            orders.append(('shuffled', sh))
        for oname, seq in orders:
            cur.execute(RESET_SQL)
            errs = []
            for n, it in enumerate(seq):
                body = pm.make_body(rng, 'envelope', [it], 'hand-%d' % n, it.t)
                r = ingest(conn, body)
                if isinstance(r, str):
                    errs.append(r)
            sessions, users, _raw, _ev, check = read_state(cur)
            ok = not errs and sessions == want_s and users == want_u and not check
            rep.check('hand', ok, None,
                      lambda: '%r (%s order): errors %r; sessions %s; users %s; check %r'
                      % (name, oname, errs[:2],
                         dict_diff(sessions, want_s, pm.SESSION_FIELDS),
                         dict_diff(users, want_u, pm.USER_FIELDS), check[:3]))


def compact(body):
    """A body on one line (whitespace dropped; keys, order and types kept)."""
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, separators=(',', ':'))
    except ValueError:
        return body.replace('\n', ' ')


def dump_history(h, hno, seed):
    out(diag('history %d (seed %s): %d distinct items, %d copies, %d deliveries, %d users'
               % (hno, seed, len(h.idents), len(h.copies), len(h.deliveries), len(h.users))))
    for d in h.deliveries:
        out(diag('delivery %d (%s): %s' % (d.no, d.kind, compact(d.body))))
    s, u = pm.expected_state(h)
    for k in sorted(s, key=repr):
        out(diag('model session %r: %r' % (k, s[k])))
    for k in sorted(u, key=repr):
        out(diag('model user %r: %r' % (k, u[k])))


def inject(kind, orders, rng):
    """Fault injection, to show that the assertions can fail: corrupt the first order."""
    name, seq = orders[0]
    seq = list(seq)
    if kind == 'drop' and seq:
        # Leave out every send of one delivery.
        victim = rng.choice(seq)
        seq = [d for d in seq if d is not victim]
    elif kind == 'extra':
        # Send an item that is not in the history.
        it = pm.Item('injected-user', '', 0, pm.BASE)
        seq.append(pm.Delivery(-1, 'envelope', [it],
                               pm.make_body(rng, 'envelope', [it], 'injected', pm.BASE)))
    elif kind == 'badbody':
        # A delivery that must be rejected (it changes nothing, but it is an error).
        seq.append(pm.Delivery(-1, 'envelope', [], '{"type": "user:connection_status"}'))
    elif kind == 'swap' and seq:
        # Flip the status of one item in one delivery (1 <-> 0).
        d = rng.choice([x for x in seq if x.items] or seq)
        if d.items:
            items = [i.copy(status=1 - i.status if i.status < 2 else 0) for i in d.items[:1]] \
                + d.items[1:]
            body = pm.make_body(rng, d.kind if d.kind != 'object' or len(items) == 1 else 'array',
                                items, 'swapped', pm.BASE)
            nd = pm.Delivery(d.no, d.kind, d.items, body)
            seq = [nd if x is d else x for x in seq]
    orders[0] = (name, seq)


# ----------------------------------------------------------------------------------------------
# Shrinking: the smallest one-connection sequence that still fails

def seq_failure(conn, seq):
    """Apply seq from one connection; the first disagreement with the streaming model
    (first copy counts) as a string, or None."""
    cur = conn.cursor()
    cur.execute(RESET_SQL)
    results = run_sequential(conn, seq)
    errors = [r for _d, r in results if isinstance(r, str)]
    if errors:
        return 'error: %s' % errors[0]
    m = pm.Model()
    for d in seq:
        for i in d.items:
            m.offer(i)
    sessions, users, _raw, events, check = read_state(cur)
    probs = []
    if sessions != m.sessions():
        probs.append('sessions: ' + dict_diff(sessions, m.sessions(), pm.SESSION_FIELDS))
    if users != m.users():
        probs.append('users: ' + dict_diff(users, m.users(), pm.USER_FIELDS))
    if check:
        probs.append('presence.check(): %r' % check[:4])
    if sorted(events) != sorted(m.by_ident):
        probs.append('events: %d rows for %d distinct items' % (len(events), len(m.by_ident)))
    return '; '.join(probs) or None


def rebuild(d, items):
    kind = d.kind if not (d.kind == 'object' and len(items) != 1) else 'array'
    body = pm.make_body(random.Random(0), kind, items, d.env_id or 'shrunk', d.env_time or pm.BASE)
    return pm.Delivery(d.no, kind, items, body, env_id=d.env_id, env_time=d.env_time)


def shrink(conn, seq, log):
    """Greedy: drop whole deliveries, then single items, while the sequence still fails."""
    why = seq_failure(conn, seq)
    if why is None:
        return None, None
    progress = True
    while progress:
        progress = False
        for k in range(len(seq)):
            cand = seq[:k] + seq[k + 1:]
            w = seq_failure(conn, cand) if cand else None
            if w is not None:
                seq, why, progress = cand, w, True
                log('shrink: %d deliveries left' % len(seq))
                break
        if progress:
            continue
        for k, d in enumerate(seq):
            if len(d.items) < 2:
                continue
            for j in range(len(d.items)):
                cand = seq[:k] + [rebuild(d, d.items[:j] + d.items[j + 1:])] + seq[k + 1:]
                w = seq_failure(conn, cand)
                if w is not None:
                    seq, why, progress = cand, w, True
                    log('shrink: delivery %d down to %d items' % (d.no, len(d.items) - 1))
                    break
            if progress:
                break
    return seq, why


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    ap.add_argument('--seed', type=int,
                    default=int(os.environ.get('PROPERTY_SEED', DEFAULT_SEED)))
    ap.add_argument('--histories', type=int,
                    default=int(os.environ.get('PROPERTY_HISTORIES', 1000)))
    ap.add_argument('--history', type=int, action='append',
                    help='run only this history number (repeatable), e.g. to replay a failure')
    ap.add_argument('--orders', type=int, default=4,
                    help='orders per history (>= 3): all but two from one connection, then one '
                         'from --threads connections and one with every delivery sent twice '
                         'concurrently')
    ap.add_argument('--threads', type=int, default=4)
    ap.add_argument('--dump', action='store_true', help='print the histories run')
    ap.add_argument('--keep-db', action='store_true')
    ap.add_argument('--shrink', action='store_true',
                    help='for each failing history, print the smallest one-connection sequence '
                         'of deliveries (from its first order) that still fails')
    ap.add_argument('--inject', choices=['drop', 'extra', 'swap', 'badbody', 'tamper'],
                    help='fault injection into the first order of every history, to show '
                         'that the assertions fail')
    args = ap.parse_args()
    if args.orders < 3 or args.threads < 2:
        ap.error('--orders must be at least 3 and --threads at least 2')

    rep = Report(args.seed)
    hnos = args.history if args.history else list(range(args.histories))
    out(diag('seed %d; %d histories; %d orders each (the last two from %d concurrent '
             'connections)' % (args.seed, len(hnos), args.orders, args.threads)))
    out(diag('replay a history with: --seed %d --history N' % args.seed))
    sys.stdout.flush()
    t0 = time.time()

    fails = pm.check_hand_cases()
    for f in fails:
        rep.fail('model', None, f)
    if not fails:
        rep.ok('model')

    dbname = 'presence_prop_%d' % os.getpid()
    admin = None
    conn = None
    workers = []
    ran = 0
    try:
        admin = psycopg2.connect(dbname=os.environ.get('PROPERTY_ADMIN_DB', 'postgres'))
        admin.autocommit = True
        acur = admin.cursor()
        acur.execute('DROP DATABASE IF EXISTS %s' % dbname)
        acur.execute('CREATE DATABASE %s' % dbname)
        conn = connect(dbname)
        cur = conn.cursor()
        cur.execute(SETUP_SQL)
        rep.ok('db')
    except Exception as e:
        rep.fail('db', None, 'cannot set up the test database: %s' % e)
        for line in rep.tap():
            print(line)
        out(diag('seed %d' % args.seed))
        return 1

    try:
        workers = [Worker(dbname) for _ in range(args.threads)]
        run_hand_cases(rep, conn, workers, random.Random('%d:hand' % args.seed))
        foreign_mode = {}
        last_report = time.time()
        for hno in hnos:
            h = pm.generate_history(random.Random('%d:%d' % (args.seed, hno)), hno)
            if args.dump:
                dump_history(h, hno, args.seed)
            want_s, want_u = pm.expected_state(h)
            orng = random.Random('%d:%d:orders' % (args.seed, hno))
            orders = make_orders(orng, h, args.orders, args.threads)
            if args.inject:
                inject(args.inject, orders, orng)
            raws = []
            for name, seq in orders:
                cur.execute(RESET_SQL)
                sequential = not name.startswith('conc')
                if sequential:
                    results = run_sequential(conn, seq)
                else:
                    results = run_concurrent(workers, seq)
                if args.inject == 'tamper' and name == orders[0][0]:
                    cur.execute("UPDATE presence.users SET online_sessions = online_sessions + 1 "
                                "WHERE user_id = (SELECT min(user_id) FROM presence.users)")
                totals, first = check_results(rep, hno, name, h, results, sequential,
                                              foreign_mode)
                state = read_state(cur)
                check_state(rep, hno, name, h, state, want_s, want_u, sequential, totals, first)
                raws.append((name, state[2]))
            first = raws[0]
            for name, raw in raws[1:]:
                rep.check('orders_agree', raw == first[1], hno,
                          lambda: '%s and %s differ: sessions %r vs %r; users %r vs %r'
                          % (first[0], name, _first_diff(first[1][0], raw[0]),
                             _first_diff(raw[0], first[1][0]), _first_diff(first[1][1], raw[1]),
                             _first_diff(raw[1], first[1][1])))
            ran += 1
            if args.shrink and hno in rep.failed_histories:
                seq0 = orders[0][1]
                small, why = shrink(conn, list(seq0), lambda m: out(diag(m)))
                if small is None:
                    out(diag('history %d: its first order alone does not fail again '
                             '(a race?); nothing to shrink' % hno))
                else:
                    out(diag('history %d shrunk to %d deliveries, sent in this order from one '
                             'connection:' % (hno, len(small))))
                    for d in small:
                        out(diag('  %s' % compact(d.body)))
                    out(diag('  -> %s' % why))
            if time.time() - last_report > 30:
                last_report = time.time()
                out(diag('%d histories in %.0f s' % (ran, time.time() - t0)))
                sys.stdout.flush()
        if foreign_mode:
            out(diag('foreign-type deliveries are counted as ignored per %s'
                       % foreign_mode['mode']))
    except Exception:
        rep.fail('ran_all', None, 'aborted after %d histories:\n%s'
                 % (ran, traceback.format_exc()))
    rep.check('ran_all', ran == len(hnos), None,
              'ran %d of %d histories' % (ran, len(hnos)))

    for w in workers:
        try:
            w.close()
        except Exception:
            pass
    try:
        conn.close()
    except Exception:
        pass
    if args.keep_db:
        out(diag('kept database %s' % dbname))
        rep.ok('dropdb')
    else:
        try:
            admin.cursor().execute('DROP DATABASE %s' % dbname)
            rep.ok('dropdb')
        except Exception as e:
            rep.fail('dropdb', None, str(e))
    admin.close()

    elapsed = time.time() - t0
    for line in rep.tap():
        print(line)
    out(diag('%d histories x %d orders in %.1f s; seed %d'
               % (ran, args.orders, elapsed, args.seed)))
    if rep.failed_histories:
        hs = sorted(rep.failed_histories)
        out(diag('failed histories: %s; replay one with: --seed %d --history %d --dump'
                   % (_short(hs, 20), args.seed, hs[0])))
    return 1 if any(rep.fails.values()) else 0


def _first_diff(a, b):
    for x in a:
        if x not in b:
            return x
    return None


if __name__ == '__main__':
    sys.exit(main())
