#!/usr/bin/env python3
"""
model_selftest.py: checks of presence_model.py alone (no database), as TAP.

  * every hand-written case of the rules (the rows written by hand from doc/rules.md section 3)
    comes out of the model, in the order written, reversed and rotated;
  * the per-item outcomes (applied / stale / duplicate) written by hand for some cases;
  * the generator keeps its promises (at most 300 items and 50 users, replayable from the
    seed) and the model of each generated history does not depend on the order its copies
    arrive in (so any order dependence the property test sees is the extension's).

Run:  prove -e python3 test/property/model_selftest.py
"""

import os
import random
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import presence_model as pm    # noqa: E402

N_HISTORIES = int(os.environ.get('MODEL_SELFTEST_HISTORIES', 300))


def main():
    tests = []

    for name, items, want_s, want_u in pm.HAND_CASES:
        orders = [list(items)]
        if len({i.ident for i in items}) == len(items):     # no conflicting copies
            orders.append(list(reversed(items)))
            orders += [items[k:] + items[:k] for k in range(1, len(items))]
        bad = []
        for n, order in enumerate(orders):
            m = pm.model_of(order)
            if m.sessions() != want_s or m.users() != want_u:
                bad.append('order %d: sessions %r users %r' % (n, m.sessions(), m.users()))
        tests.append(('hand case: %s' % name, bad))

    for name, want in sorted(pm.HAND_OUTCOMES.items()):
        items = [c for c in pm.HAND_CASES if c[0] == name][0][1]
        m = pm.Model()
        got = [m.offer(i) for i in items]
        tests.append(('hand outcomes: %s' % name,
                      [] if got == want else ['got %r want %r' % (got, want)]))

    bad_limits, bad_replay, bad_order = [], [], []
    for n in range(N_HISTORIES):
        h = pm.generate_history(random.Random('selftest:%d' % n), n)
        if sum(len(d.items) for d in h.deliveries) > 300 or len(h.users) > 50 \
                or len(h.copies) != sum(len(d.items) for d in h.deliveries):
            bad_limits.append(n)
        h2 = pm.generate_history(random.Random('selftest:%d' % n), n)
        if [d.body for d in h.deliveries] != [d.body for d in h2.deliveries]:
            bad_replay.append(n)
        want = pm.expected_state(h)
        rng = random.Random(n)
        for _ in range(5):
            copies = list(h.copies)
            rng.shuffle(copies)
            m = pm.model_of(copies)
            if (m.sessions(), m.users()) != want:
                bad_order.append(n)
                break
    tests.append(('generator: at most 300 items and 50 users per history (%d histories)'
                  % N_HISTORIES, bad_limits and ['histories %r' % bad_limits[:10]]))
    tests.append(('generator: a history replays from its seed', bad_replay and
                  ['histories %r' % bad_replay[:10]]))
    tests.append(('model: the final state of a generated history does not depend on the order '
                  'its copies arrive in', bad_order and ['histories %r' % bad_order[:10]]))

    print('1..%d' % len(tests))
    failed = 0
    for n, (desc, bad) in enumerate(tests, 1):
        if bad:
            failed += 1
            print('not ok %d - %s' % (n, desc))
            for b in bad[:3]:
                print('# %s' % b)
        else:
            print('ok %d - %s' % (n, desc))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
