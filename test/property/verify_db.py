#!/usr/bin/env python3
"""
verify_db.py: recompute presence.sessions and presence.users from presence.events with
presence_model.py (doc/rules.md section 3, written independently of the extension's own
presence.check()) and compare.  Database from the libpq environment (PGDATABASE etc.).
Exit 0 when equal, 1 when not (differences printed), 3 when psycopg2 is missing.
Used by contention.sh; also handy on any database:  PGDATABASE=mydb python3 verify_db.py
"""

import os
import sys

try:
    import psycopg2
except ImportError:
    print('python3-psycopg2 is not installed')
    sys.exit(3)

sys.dont_write_bytecode = True     # no __pycache__ in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import presence_model as pm    # noqa: E402
from order_independence import SESSIONS_SQL, USERS_SQL, MS, dict_diff    # noqa: E402


def main():
    conn = psycopg2.connect()
    conn.set_session(readonly=True, isolation_level='REPEATABLE READ')
    cur = conn.cursor()
    cur.execute(SESSIONS_SQL)
    got_s = {(r[0], r[1]): tuple(r[2:]) for r in cur.fetchall()}
    cur.execute(USERS_SQL)
    got_u = {r[0]: tuple(r[1:]) for r in cur.fetchall()}

    ev = conn.cursor(name='events')
    ev.itersize = 20000
    ev.execute("SELECT user_id, session_id, status, %s, os, client_ip FROM presence.events "
               "ORDER BY user_id, session_id" % (MS % 'status_time'))
    want_s, want_u = {}, {}
    n_events = 0
    cur_user, user_items, user_sessions = None, [], []
    cur_key, sess_items = None, []

    def end_session():
        if sess_items:
            row = pm.session_row(sess_items, cur_key[1] == '')
            want_s[cur_key] = row
            user_sessions.append(row)

    def end_user():
        if user_items:
            want_u[cur_user] = pm.user_row(user_sessions, user_items)

    for user, sid, status, t, os_, ip in ev:
        n_events += 1
        key = (user, sid)
        if key != cur_key:
            end_session()
            cur_key, sess_items = key, []
        if user != cur_user:
            end_user()
            cur_user, user_items, user_sessions = user, [], []
        it = pm.Item(user, sid, int(status), t, os_, ip)
        sess_items.append(it)
        user_items.append(it)
    end_session()
    end_user()
    conn.rollback()

    ok = True
    if got_s != want_s:
        ok = False
        print('sessions differ: ' + dict_diff(got_s, want_s, pm.SESSION_FIELDS, 10))
    if got_u != want_u:
        ok = False
        print('users differ: ' + dict_diff(got_u, want_u, pm.USER_FIELDS, 10))
    print('%d events, %d sessions, %d users recomputed: %s'
          % (n_events, len(want_s), len(want_u), 'equal' if ok else 'DIFFERENT'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
