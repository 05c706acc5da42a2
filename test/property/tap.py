"""
tap.py: the checks of a small TAP test, printed as TAP at the end, and the throwaway database
such a test runs in.  Shared by the tests in test/retention/ and test/security/.
"""

import contextlib
import os


class Checks(object):
    """Collect (passed, description, detail); print them as TAP with the plan first."""

    def __init__(self):
        self.results = []

    def check(self, cond, desc, detail=''):
        self.results.append((bool(cond), desc, detail))

    def finish(self):
        """Print the TAP lines; the exit status for sys.exit."""
        print('1..%d' % len(self.results))
        for n, (ok, desc, detail) in enumerate(self.results, 1):
            print('%s %d - %s%s' % ('ok' if ok else 'not ok', n, desc,
                                    (' (%s)' % detail) if detail else ''))
        return 0 if all(r[0] for r in self.results) else 1



@contextlib.contextmanager
def throwaway_database(prefix, connect):
    """A database of the test's own (prefix_PID): yields its name and connect(name); dropped after."""
    import psycopg2
    dbname = '%s_%d' % (prefix, os.getpid())
    admin = psycopg2.connect(dbname='postgres')
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE %s' % dbname)
    conn = connect(dbname)
    try:
        yield dbname, conn
    finally:
        conn.close()
        admin.cursor().execute('DROP DATABASE %s' % dbname)
        admin.close()


def check_consistent(checks, cur):
    """The check that presence.check() returns no rows."""
    cur.execute("SELECT * FROM presence.check() LIMIT 5")
    bad = cur.fetchall()
    checks.check(not bad, 'presence.check() is empty', repr(bad))
