"""
tap.py: the checks of a small TAP test, printed as TAP at the end.  Shared by the tests in
test/retention/ and test/security/.
"""


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

