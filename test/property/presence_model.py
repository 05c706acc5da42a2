"""
presence_model.py: an independent model of doc/rules.md section 3 (state rules), a random
history generator and the body encoder used by the property tests in this directory.

The model is written from the text of doc/rules.md alone (not from presence--0.1.0.sql):

  * an item is applied to the session key (user_id, session_id); no sessionId or an empty one
    is the anonymous key '';
  * items are ordered by (status_time, status), '2' > '1' > '0' at the same time;
  * 3.1 identified sessions: started_at = greatest '0' time; if any '1'/'2' item is known the
    state and ended_at come from the greatest terminal item, else online with ended_at NULL;
  * 3.2 anonymous session: the greatest item wins (online for '0', ended_at NULL then);
    started_at = greatest '0' time;
  * 3.3 os / client_ip from the greatest item carrying the field; last_event_at = greatest time;
    users = aggregate of the user's sessions and of all the user's distinct items;
  * duplicates: same (user_id, session_id, status, status_time) as an item already received,
    whatever the other fields: the first copy received is the one that counts;
  * stale: a new item that changes no session field.

Times are integers (Unix ms).  Statuses are the ints 0, 1, 2.
"""

import json
import random

STATE = {0: 'online', 1: 'offline', 2: 'logged_out'}
STATUS_TYPE = 'user:connection_status'


class Item(object):
    """One status item as sent (one copy).  `ident` is the duplicate identity."""
    __slots__ = ('user', 'sid', 'status', 't', 'os', 'ip', 'enc')

    def __init__(self, user, sid, status, t, os=None, ip=None, enc=None):
        self.user = user
        self.sid = sid          # '' for the anonymous session
        self.status = status    # 0, 1, 2
        self.t = t              # ms
        self.os = os
        self.ip = ip
        self.enc = enc or {}    # encoding choices (see encode_item)

    @property
    def ident(self):
        return (self.user, self.sid, self.status, self.t)

    @property
    def key(self):
        return (self.t, self.status)

    def copy(self, **kw):
        d = dict(user=self.user, sid=self.sid, status=self.status, t=self.t,
                 os=self.os, ip=self.ip, enc=dict(self.enc))
        d.update(kw)
        return Item(**d)

    def __repr__(self):
        extra = ''
        if self.os is not None:
            extra += ' os=%r' % self.os
        if self.ip is not None:
            extra += ' ip=%r' % self.ip
        return '<%r/%r %d@%d%s>' % (self.user, self.sid, self.status, self.t, extra)


# ----------------------------------------------------------------------------------------------
# The model

SESSION_FIELDS = ('state', 'os', 'client_ip', 'started_at', 'ended_at', 'last_event_at')
USER_FIELDS = ('online_sessions', 'online', 'last_online_at', 'last_offline_at',
               'last_seen_at', 'logged_out')


def session_row(items, anonymous):
    """The session row (a tuple in SESSION_FIELDS order) for the distinct items of one key."""
    assert items
    ordered = sorted(items, key=lambda i: i.key)
    greatest = ordered[-1]
    zeros = [i.t for i in ordered if i.status == 0]
    started_at = max(zeros) if zeros else None
    last_event_at = max(i.t for i in ordered)
    os = None
    ip = None
    for i in reversed(ordered):
        if os is None and i.os is not None:
            os = i.os
        if ip is None and i.ip is not None:
            ip = i.ip
    if anonymous:
        # 3.2: the greatest item wins; such a session can come back online.
        state = STATE[greatest.status]
        ended_at = greatest.t if greatest.status != 0 else None
    else:
        # 3.1: any terminal item ends the session for good; the greatest terminal one decides.
        terminal = [i for i in ordered if i.status != 0]
        if terminal:
            state = STATE[terminal[-1].status]
            ended_at = terminal[-1].t
        else:
            state = 'online'
            ended_at = None
    return (state, os, ip, started_at, ended_at, last_event_at)


def user_row(session_rows, items):
    """The users row for one user: session_rows = its session rows, items = its distinct items."""
    online_sessions = sum(1 for r in session_rows if r[0] == 'online')
    online = online_sessions > 0
    zeros = [i.t for i in items if i.status == 0]
    terminal = sorted((i for i in items if i.status != 0), key=lambda i: i.key)
    last_online_at = max(zeros) if zeros else None
    last_offline_at = terminal[-1].t if terminal else None
    seen = [x for x in (last_online_at, last_offline_at) if x is not None]
    last_seen_at = max(seen) if seen else None
    logged_out = (not online) and bool(terminal) and terminal[-1].status == 2
    return (online_sessions, online, last_online_at, last_offline_at, last_seen_at, logged_out)


class Model(object):
    """
    Streaming model: feed items in the order the database receives them.  Keeps the first copy
    of every identity (later copies are duplicates), and can tell for each new item whether it
    is stale (changes no session field).
    """

    def __init__(self):
        self.by_ident = {}      # ident -> first copy received
        self.by_session = {}    # (user, sid) -> list of distinct items

    def offer(self, item):
        """Receive one item: returns 'duplicate', 'applied' or 'stale'."""
        if item.ident in self.by_ident:
            return 'duplicate'
        skey = (item.user, item.sid)
        lst = self.by_session.get(skey)
        before = session_row(lst, item.sid == '') if lst else None
        self.by_ident[item.ident] = item
        if lst is None:
            lst = self.by_session[skey] = []
        lst.append(item)
        after = session_row(lst, item.sid == '')
        return 'stale' if before == after else 'applied'

    def sessions(self):
        return {k: session_row(v, k[1] == '') for k, v in self.by_session.items()}

    def users(self):
        srows = self.sessions()
        per_user_sessions = {}
        for (u, _s), r in srows.items():
            per_user_sessions.setdefault(u, []).append(r)
        per_user_items = {}
        for it in self.by_ident.values():
            per_user_items.setdefault(it.user, []).append(it)
        return {u: user_row(per_user_sessions[u], per_user_items[u]) for u in per_user_items}


def model_of(items):
    m = Model()
    for it in items:
        m.offer(it)
    return m


# ----------------------------------------------------------------------------------------------
# Hand-written histories, each with the rows the rules prescribe (written by hand,
# not computed).  Times are small integers added to BASE.  Session rows: (state, os, client_ip,
# started_at, ended_at, last_event_at); user rows: (online_sessions, online, last_online_at,
# last_offline_at, last_seen_at, logged_out).  None = NULL.

BASE = 1730192400000


def _i(user, sid, status, t, os=None, ip=None):
    return Item(user, sid, status, BASE + t, os, ip)


def _t(x):
    return None if x is None else BASE + x


def _s(state, os, ip, started, ended, last):
    return (state, os, ip, _t(started), _t(ended), _t(last))


def _u(n, online, lon, loff, seen, lo):
    return (n, online, _t(lon), _t(loff), _t(seen), lo)


HAND_CASES = [
    # name, items in the order received, expected sessions, expected users
    ('identified: disconnect received before its connect',
     [_i('a', 's1', 1, 10), _i('a', 's1', 0, 5, 'iOS', '1.2.3.4:5')],
     {('a', 's1'): _s('offline', 'iOS', '1.2.3.4:5', 5, 10, 10)},
     {'a': _u(0, False, 5, 10, 10, False)}),
    ('identified: connect re-delivered after its disconnect does not resurrect',
     [_i('a', 's1', 0, 5), _i('a', 's1', 1, 10), _i('a', 's1', 0, 5, 'Android')],
     {('a', 's1'): _s('offline', None, None, 5, 10, 10)},
     {'a': _u(0, False, 5, 10, 10, False)}),
    ('identified: a later connect after the end only fills started_at',
     [_i('a', 's1', 0, 5), _i('a', 's1', 1, 10), _i('a', 's1', 0, 20, 'PC')],
     {('a', 's1'): _s('offline', 'PC', None, 20, 10, 20)},
     {'a': _u(0, False, 20, 10, 20, False)}),
    ('identified: disconnect timed before the connect still ends the session',
     [_i('a', 's1', 0, 10), _i('a', 's1', 1, 5)],
     {('a', 's1'): _s('offline', None, None, 10, 5, 10)},
     {'a': _u(0, False, 10, 5, 10, False)}),
    ('identified: greatest terminal decides, 2 beats 1 at the same time',
     [_i('a', 's1', 1, 10), _i('a', 's1', 2, 10), _i('a', 's1', 1, 7)],
     {('a', 's1'): _s('logged_out', None, None, None, 10, 10)},
     {'a': _u(0, False, None, 10, 10, True)}),
    ('identified: later disconnect after logout wins',
     [_i('a', 's1', 0, 1), _i('a', 's1', 2, 10), _i('a', 's1', 1, 11)],
     {('a', 's1'): _s('offline', None, None, 1, 11, 11)},
     {'a': _u(0, False, 1, 11, 11, False)}),
    ('anonymous: comes back online, ended_at cleared, last_offline_at kept',
     [_i('a', '', 0, 5, 'iOS'), _i('a', '', 1, 10), _i('a', '', 0, 20)],
     {('a', ''): _s('online', 'iOS', None, 20, None, 20)},
     {'a': _u(1, True, 20, 10, 20, False)}),
    ('anonymous: late connect does not bring it back',
     [_i('a', '', 1, 10), _i('a', '', 0, 5)],
     {('a', ''): _s('offline', None, None, 5, 10, 10)},
     {'a': _u(0, False, 5, 10, 10, False)}),
    ('anonymous: same-time tie, disconnect beats connect',
     [_i('a', '', 1, 10), _i('a', '', 0, 10, 'Android', '9.9.9.9:1')],
     {('a', ''): _s('offline', 'Android', '9.9.9.9:1', 10, 10, 10)},
     {'a': _u(0, False, 10, 10, 10, False)}),
    ('anonymous: logout then reconnect',
     [_i('a', '', 0, 1), _i('a', '', 2, 2), _i('a', '', 0, 3)],
     {('a', ''): _s('online', None, None, 3, None, 3)},
     {'a': _u(1, True, 3, 2, 3, False)}),
    ('logout flag: greatest terminal item of the user is a 2 and nothing online',
     [_i('a', 's1', 0, 1), _i('a', 's1', 2, 10), _i('a', 's2', 0, 2), _i('a', 's2', 1, 8)],
     {('a', 's1'): _s('logged_out', None, None, 1, 10, 10),
      ('a', 's2'): _s('offline', None, None, 2, 8, 8)},
     {'a': _u(0, False, 2, 10, 10, True)}),
    ('logout flag: a later plain disconnect clears it',
     [_i('a', 's1', 2, 10), _i('a', 's2', 1, 15)],
     {('a', 's1'): _s('logged_out', None, None, None, 10, 10),
      ('a', 's2'): _s('offline', None, None, None, 15, 15)},
     {'a': _u(0, False, None, 15, 15, False)}),
    ('logout flag: tie across sessions, 2 beats 1',
     [_i('a', 's2', 1, 10), _i('a', 's1', 2, 10)],
     {('a', 's1'): _s('logged_out', None, None, None, 10, 10),
      ('a', 's2'): _s('offline', None, None, None, 10, 10)},
     {'a': _u(0, False, None, 10, 10, True)}),
    ('logout flag: false while another session is online',
     [_i('a', 's1', 2, 10), _i('a', 's2', 0, 3)],
     {('a', 's1'): _s('logged_out', None, None, None, 10, 10),
      ('a', 's2'): _s('online', None, None, 3, None, 3)},
     {'a': _u(1, True, 3, 10, 10, False)}),
    ('os and client_ip each from the greatest item carrying it',
     [_i('a', 's1', 0, 5, 'iOS', '1.1.1.1:1'), _i('a', 's1', 0, 3, 'Android', '2.2.2.2:2'),
      _i('a', 's1', 1, 10, None, '3.3.3.3:3')],
     {('a', 's1'): _s('offline', 'iOS', '3.3.3.3:3', 5, 10, 10)},
     {'a': _u(0, False, 5, 10, 10, False)}),
    ('os at a tie: the 1 is greater than the 0',
     [_i('a', 's1', 1, 10, 'PC'), _i('a', 's1', 0, 10, 'iOS')],
     {('a', 's1'): _s('offline', 'PC', None, 10, 10, 10)},
     {'a': _u(0, False, 10, 10, 10, False)}),
    ('duplicate with other fields is ignored (first copy counts)',
     [_i('a', 's1', 0, 5, 'iOS', '1.1.1.1:1'), _i('a', 's1', 0, 5, 'Android', '2.2.2.2:2')],
     {('a', 's1'): _s('online', 'iOS', '1.1.1.1:1', 5, None, 5)},
     {'a': _u(1, True, 5, None, 5, False)}),
    ('online_sessions counts identified and anonymous sessions; users are separate',
     [_i('a', 's1', 0, 1), _i('a', 's2', 0, 2), _i('a', '', 0, 3), _i('a', 's3', 0, 4),
      _i('a', 's3', 1, 5), _i('b', 's1', 0, 1)],
     {('a', 's1'): _s('online', None, None, 1, None, 1),
      ('a', 's2'): _s('online', None, None, 2, None, 2),
      ('a', ''): _s('online', None, None, 3, None, 3),
      ('a', 's3'): _s('offline', None, None, 4, 5, 5),
      ('b', 's1'): _s('online', None, None, 1, None, 1)},
     {'a': _u(3, True, 4, 5, 5, False), 'b': _u(1, True, 1, None, 1, False)}),
    ('last_offline_at comes from items, not from ended_at; last_seen_at is the greatest',
     [_i('a', '', 0, 1), _i('a', '', 1, 30), _i('a', '', 0, 40), _i('a', 's1', 0, 20)],
     {('a', ''): _s('online', None, None, 40, None, 40),
      ('a', 's1'): _s('online', None, None, 20, None, 20)},
     {'a': _u(2, True, 40, 30, 40, False)}),
    ('anonymous: an older connect changes nothing',
     [_i('a', '', 0, 10, 'PC', '5.5.5.5:5'), _i('a', '', 0, 5, 'iOS', '6.6.6.6:6'), _i('a', '', 1, 11)],
     {('a', ''): _s('offline', 'PC', '5.5.5.5:5', 10, 11, 11)},
     {'a': _u(0, False, 10, 11, 11, False)}),
    ('only terminal items: no last_online_at, session never started',
     [_i('a', 's1', 1, 7)],
     {('a', 's1'): _s('offline', None, None, None, 7, 7)},
     {'a': _u(0, False, None, 7, 7, False)}),
]

# Stale outcomes the rules prescribe, item by item, for a few of the hand cases received in
# the order written ('applied' / 'stale' / 'duplicate').
HAND_OUTCOMES = {
    'identified: disconnect received before its connect': ['applied', 'applied'],
    'identified: connect re-delivered after its disconnect does not resurrect':
        ['applied', 'applied', 'duplicate'],
    'anonymous: late connect does not bring it back': ['applied', 'applied'],   # fills started_at
    'anonymous: an older connect changes nothing': ['applied', 'stale', 'applied'],
    'duplicate with other fields is ignored (first copy counts)': ['applied', 'duplicate'],
    'os and client_ip each from the greatest item carrying it': ['applied', 'stale', 'applied'],
    'identified: greatest terminal decides, 2 beats 1 at the same time':
        ['applied', 'applied', 'stale'],
}


def check_hand_cases():
    """Run the model on every hand case in the order written and in every rotation and the
    reverse (order must not matter where there are no conflicting duplicates).  Returns a list
    of failure strings."""
    fails = []
    for name, items, want_s, want_u in HAND_CASES:
        orders = [list(items), list(reversed(items))]
        orders += [items[k:] + items[:k] for k in range(1, len(items))]
        conflicting = len({i.ident for i in items}) != len(items)
        for n, order in enumerate(orders):
            if conflicting and n > 0:
                break   # first copy wins: only the written order is prescribed
            m = model_of(order)
            got_s, got_u = m.sessions(), m.users()
            if got_s != want_s:
                fails.append('%s (order %d): sessions %r, want %r' % (name, n, got_s, want_s))
            if got_u != want_u:
                fails.append('%s (order %d): users %r, want %r' % (name, n, got_u, want_u))
        if name in HAND_OUTCOMES:
            m = Model()
            got = [m.offer(i) for i in items]
            if got != HAND_OUTCOMES[name]:
                fails.append('%s: outcomes %r, want %r' % (name, got, HAND_OUTCOMES[name]))
    return fails


# ----------------------------------------------------------------------------------------------
# Encoding of items and deliveries

OS_VALUES = ['iOS', 'Android', 'Websocket', 'HarmonyOS', 'PC', 'MiniProgram', 'KaiOS/2.5']
FOREIGN_TYPES = ['user:profile_update', 'message:private', 'user:connection_status_v2',
                 'User:Connection_Status', 'group:member_change']


def encode_item(it):
    """The JSON object (a list of (key, value) pairs, keys in a random but fixed order) of one
    item copy, following the encoding choices in it.enc."""
    e = it.enc
    pairs = []
    status = it.status if e.get('status_int') else str(it.status)
    pairs.append(('status', status))
    pairs.append(('userid' if e.get('userid') else 'userId', it.user))
    pairs.append(('time', str(it.t) if e.get('time_str') else it.t))
    if it.os is not None:
        pairs.append(('os', it.os))
    if it.ip is not None:
        pairs.append(('clientIp', it.ip))
    if it.sid != '':
        pairs.append(('sessionId', it.sid))
    elif e.get('empty_sid'):
        pairs.append(('sessionId', ''))
    if e.get('extra'):
        pairs.append(('extra', e['extra']))
    order = e.get('order')
    if order is not None:
        pairs = [pairs[k % len(pairs)] for k in order if k < len(pairs)]
    return pairs


class _Obj(object):
    """A JSON object with a fixed key order (json.dumps keeps dict order, but be explicit)."""
    def __init__(self, pairs):
        self.pairs = pairs


def _dump(v, ensure_ascii, sep):
    if isinstance(v, _Obj):
        return '{' + sep[0].join(
            json.dumps(k, ensure_ascii=ensure_ascii) + sep[1] + _dump(x, ensure_ascii, sep)
            for k, x in v.pairs) + '}'
    if isinstance(v, list):
        return '[' + sep[0].join(_dump(x, ensure_ascii, sep) for x in v) + ']'
    return json.dumps(v, ensure_ascii=ensure_ascii)


class Delivery(object):
    """One webhook body.  kind: 'envelope', 'object', 'array' or 'foreign'."""
    __slots__ = ('no', 'kind', 'items', 'body', 'foreign_items', 'ftype', 'env_id', 'env_time')

    def __init__(self, no, kind, items, body, foreign_items=0, ftype=None, env_id=None,
                 env_time=None):
        self.env_id = env_id        # envelope id and time (None for the legacy shapes)
        self.env_time = env_time
        self.no = no
        self.kind = kind
        self.items = items          # status items that count (empty for foreign)
        self.body = body
        self.foreign_items = foreign_items
        self.ftype = ftype

    def __repr__(self):
        return '<delivery %d %s %r>' % (self.no, self.kind, self.items)


def make_body(rng, kind, items, env_id=None, env_time=None, ftype=None, fdata=None):
    sep = rng.choice([(',', ':'), (', ', ': '), (',\n  ', ' : ')])
    ensure_ascii = rng.random() < 0.5
    objs = [_Obj(encode_item(i)) for i in items]
    if kind in ('envelope', 'foreign'):
        env = [('type', ftype if kind == 'foreign' else STATUS_TYPE),
               ('id', env_id), ('time', env_time),
               ('data', objs if kind == 'envelope' else fdata)]
        rng.shuffle(env)
        v = _Obj(env)
    elif kind == 'object':
        assert len(objs) == 1
        v = objs[0]
    else:
        v = objs
    body = _dump(v, ensure_ascii, sep)
    if rng.random() < 0.1:
        body = rng.choice([' ', '\n', '\t', '\r\n']) + body + rng.choice([' ', '\n', ''])
    return body


# ----------------------------------------------------------------------------------------------
# The generator

def _user_names(rng, n):
    styles = [
        lambda k: 'u%d' % k,
        lambda k: 'user_%03d' % k,
        lambda k: '用户-%d' % k,
        lambda k: "o'neil \"%d\" \\x" % k,
        lambda k: 'Ünïcödé💬%d' % k,
        lambda k: ('L%d-' % k) + 'x' * (250 - len(str(k))),    # 252..253 bytes, under 256
        lambda k: 'tab\t%d' % k,
    ]
    names = []
    seen = set()
    for k in range(n):
        style = styles[0] if rng.random() < 0.6 else rng.choice(styles)
        name = style(k)
        if name in seen:
            name = 'u%d' % k
        seen.add(name)
        names.append(name)
    return names


def _session_ids(rng, n):
    styles = [lambda k: 's%d' % k, lambda k: 'sess_%08x' % rng.getrandbits(32),
              lambda k: 'sé-%d' % k, lambda k: '%d' % k]
    out = []
    for k in range(n):
        s = rng.choice(styles)(k)
        if s in out:
            s = 's%d' % k
        out.append(s)
    return out


def _pick_size(rng):
    r = rng.random()
    if r < 0.55:
        return rng.randint(1, 10)
    if r < 0.88:
        return rng.randint(8, 30)
    if r < 0.98:
        return rng.randint(30, 100)
    return rng.randint(100, 220)


class History(object):
    def __init__(self):
        self.idents = []        # canonical (first generated) copy of each distinct item
        self.copies = []        # every copy sent at least once (>= len(idents))
        self.deliveries = []    # Delivery objects
        self.users = []

    @property
    def n_status_copies(self):
        return sum(len(d.items) for d in self.deliveries)


def generate_history(rng, no=0):
    """A random history.  All randomness comes from rng, so (seed, history number) replays."""
    h = History()
    n_ident = _pick_size(rng)
    max_users = min(50, n_ident)
    n_users = rng.randint(1, max_users) if rng.random() < 0.4 else rng.randint(1, max(1, min(max_users, 4)))
    users = _user_names(rng, n_users)
    h.users = users
    sessions = {}
    shared_ids = _session_ids(rng, 3)
    for u in users:
        n_s = rng.choice([0, 1, 1, 2, 2, 3, 5])
        sids = _session_ids(rng, n_s)
        if rng.random() < 0.2:
            sids.append(rng.choice(shared_ids))     # the same session id under several users
        if rng.random() < 0.5 or not sids:
            sids.append('')                         # the anonymous session
        sessions[u] = sorted(set(sids), key=sids.index)
    base = BASE + rng.randint(-10 ** 9, 10 ** 9)
    span = max(2, int(n_ident * rng.choice([0.3, 0.6, 1.0, 3.0])))   # small: many ties
    seen = set()
    tries = 0
    while len(h.idents) < n_ident and tries < n_ident * 20:
        tries += 1
        u = rng.choice(users)
        sid = rng.choice(sessions[u])
        status = rng.choices([0, 1, 2], weights=[45, 40, 15])[0]
        t = base + rng.randrange(span)
        it = Item(u, sid, status, t)
        if it.ident in seen:
            continue
        seen.add(it.ident)
        if rng.random() < (0.7 if status == 0 else 0.2):
            it.os = rng.choice(OS_VALUES)
        if rng.random() < 0.6:
            it.ip = rng.choice(['10.0.%d.%d:%d' % (rng.randrange(256), rng.randrange(256),
                                                   rng.randrange(1024, 65536)),
                                '[2001:db8::%x]:443' % rng.randrange(65536)])
        it.enc = _random_enc(rng)
        h.idents.append(it)

    # Copies: some items are re-sent, some with other os / clientIp values.
    copies = []
    for idx, it in enumerate(h.idents):
        copies.append(it)
        if rng.random() < 0.3 and len(copies) + (len(h.idents) - idx - 1) + 2 <= 300:
            for _ in range(rng.choice([1, 1, 2])):
                c = it.copy(enc=_random_enc(rng))
                if rng.random() < 0.5:
                    if c.os is not None:
                        c.os = rng.choice(OS_VALUES)
                    if c.ip is not None:
                        c.ip = '172.16.%d.%d:%d' % (rng.randrange(256), rng.randrange(256),
                                                     rng.randrange(1024, 65536))
                copies.append(c)
    _canonicalize_winners(h.idents, copies)
    h.copies = copies

    # Pack copies into deliveries; conflicting copies of one identity never share a delivery
    # (the rules leave the order of items inside one delivery to the implementation).
    queue = list(copies)
    rng.shuffle(queue)
    deliveries = []
    while queue:
        r = rng.random()
        if r < 0.2:
            kind, k = 'object', 1
        elif r < 0.4:
            kind, k = 'array', rng.randint(1, 6)
        else:
            kind = 'envelope'
            k = rng.randint(1, 4) if rng.random() < 0.75 else rng.randint(3, 25)
        taken, rest, fields = [], [], {}
        for c in queue:
            if len(taken) < k:
                f = fields.get(c.ident)
                if f is None or f == (c.os, c.ip):
                    fields[c.ident] = (c.os, c.ip)
                    taken.append(c)
                    continue
            rest.append(c)
        queue = rest
        if kind == 'object' and len(taken) != 1:
            kind = 'array'
        deliveries.append((kind, taken))
    # Foreign envelopes: acknowledged, counted as ignored, nothing applied.
    if rng.random() < 0.15:
        for _ in range(rng.randint(1, 2)):
            deliveries.append(('foreign', None))
    rng.shuffle(deliveries)

    for n, (kind, taken) in enumerate(deliveries):
        env_id = '%08x-%04x-4%03x-a%03x-%012x' % (rng.getrandbits(32), rng.getrandbits(16),
                                                  rng.getrandbits(12), rng.getrandbits(12),
                                                  rng.getrandbits(48))
        env_time = base + rng.randrange(span + 1000)
        if kind == 'foreign':
            ftype = rng.choice(FOREIGN_TYPES)
            if rng.random() < 0.6:
                # Valid status items that would change the state if they were applied.
                fake = [Item(rng.choice(users + ['foreign-only-user']),
                             rng.choice(['', 'foreign-sid']), rng.choice([0, 1, 2]),
                             base + span + rng.randrange(1000), enc=_random_enc(rng))
                        for _ in range(rng.randint(1, 4))]
                fdata = [_Obj(encode_item(i)) for i in fake]
            else:
                fdata = [_Obj([('foo', rng.randrange(100)), ('bar', 'baz')])
                         for _ in range(rng.randint(1, 3))]
            body = make_body(rng, 'foreign', [], env_id, env_time, ftype, fdata)
            h.deliveries.append(Delivery(n, 'foreign', [], body, len(fdata), ftype,
                                         env_id, env_time))
        else:
            body = make_body(rng, kind, taken, env_id, env_time)
            if kind != 'envelope':
                env_id = env_time = None
            h.deliveries.append(Delivery(n, kind, taken, body, env_id=env_id,
                                         env_time=env_time))
    return h


def _random_enc(rng):
    e = {}
    if rng.random() < 0.15:
        e['status_int'] = True
    if rng.random() < 0.15:
        e['time_str'] = True
    if rng.random() < 0.25:
        e['userid'] = True
    if rng.random() < 0.3:
        e['empty_sid'] = True       # only used for anonymous items
    if rng.random() < 0.05:
        e['extra'] = rng.choice([1, 'x', None, [1, 2], {'nested': True}])
    if rng.random() < 0.5:
        order = list(range(7))
        rng.shuffle(order)
        e['order'] = order
    return e


def _canonicalize_winners(idents, copies):
    """Copies of one identity may differ in os / clientIp values (never in whether they carry
    the field).  Only the first copy received counts, so where such an item is the greatest
    carrying os (or clientIp) in its session the outcome would depend on the order received,
    which no order-independence claim can cover.  Give those items' copies one value."""
    by_session = {}
    for it in idents:
        by_session.setdefault((it.user, it.sid), []).append(it)
    win_os, win_ip = set(), set()
    for items in by_session.values():
        ordered = sorted(items, key=lambda i: i.key, reverse=True)
        for i in ordered:
            if i.os is not None:
                win_os.add(i.ident)
                break
        for i in ordered:
            if i.ip is not None:
                win_ip.add(i.ident)
                break
    canon = {it.ident: it for it in idents}
    for c in copies:
        if c.ident in win_os:
            c.os = canon[c.ident].os
        if c.ident in win_ip:
            c.ip = canon[c.ident].ip


def expected_state(h):
    """The final rows every order of h must end in (the model over the canonical copies)."""
    m = model_of(h.idents)
    return m.sessions(), m.users()
