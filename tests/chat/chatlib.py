"""chatlib.py - what the chat suites (tests/chat/test_*.py) share.

The chat suites test doc/protocol.md end to end: the real mqchatd started by
tests/broker/broker.py (free MQTT and HTTP ports, a generated config and
data_dir in a temporary directory) with the chat keys set, the HTTP API
driven with curl, and MQTT spoken packet by packet with broker.py's Client
(3.1.1) and Client5 (5.0).

Here:
  - chat_config(): chat.service_key and chat.token_secret (random per run);
  - mint(): an HS256 JWT made here, as an integrator's back end would (with
    any claims, key, header), and claims() to read one;
  - http(): one HTTP request through curl, answering a Response (status,
    body, parsed JSON);
  - ChatTest: a BrokerTest5 with one broker per class and helpers for users,
    tokens, rooms, chat clients, envelopes and notices.

Names of users and rooms come from uid(), so tests sharing a broker never
see each other's state. Every wait is bounded (broker.WAIT / broker.QUIET).
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'broker'))

import broker  # noqa: E402
from broker import (QUIET, WAIT, BrokerTest5, Client5, Publish, connack, puback,  # noqa: E402
                    pubrec)

SERVICE_KEY = 'svc-' + secrets.token_hex(16)
TOKEN_SECRET = 'jwt-' + secrets.token_hex(24)
PREFIX = 'chat'
TOKEN_TTL = 86400          # chat.token_ttl default: 1 day
CLOCK_SLACK_MS = 10000     # an envelope's ts must be this close to our clock

# Reason codes of doc/protocol.md, "Refusals".
NOT_AUTHORIZED = 0x87
TOPIC_NAME_INVALID = 0x90
QUOTA_EXCEEDED = 0x97
PAYLOAD_FORMAT_INVALID = 0x99
BAD_USER_OR_PASSWORD_V5 = 0x86
BAD_USER_OR_PASSWORD_311 = 4
NOT_AUTHORIZED_311 = 5
SUBACK_FAILURE_311 = 0x80


def chat_config(extra=None):
    """The config of a chat broker (the harness adds port, data_dir in its
    temporary directory, http.port, workers, allow_anonymous true)."""
    # chat.presence_interval: the suites written before presence and unread
    # counts read exactly the messages they cause on the events and presence
    # topics; the first tick is a minute away (feature_config() speeds it up).
    c = {'chat.service_key': SERVICE_KEY, 'chat.token_secret': TOKEN_SECRET,
         'http.bind_address': '127.0.0.1', 'chat.presence_interval': 60000}
    c.update(extra or {})
    return c


# ---------------------------------------------------------------------------
# JWT (HS256), made here.

def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))


def _compact(obj):
    return json.dumps(obj, separators=(',', ':')).encode()


def sign(signing_input, secret=TOKEN_SECRET):
    if isinstance(secret, str):
        secret = secret.encode()
    return b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def mint(sub, exp=None, role=None, iat=None, secret=TOKEN_SECRET, claims=None, header=None):
    """An HS256 token for sub, valid one hour unless exp (Unix seconds) says
    otherwise; claims are added to (or replace) the payload's members."""
    payload = {'sub': sub, 'exp': int(time.time()) + 3600 if exp is None else exp}
    if iat is not None:
        payload['iat'] = iat
    if role is not None:
        payload['role'] = role
    payload.update(claims or {})
    head = b64url(_compact(header or {'alg': 'HS256', 'typ': 'JWT'}))
    body = b64url(_compact(payload))
    return '%s.%s.%s' % (head, body, sign(head + '.' + body, secret))


def claims(token):
    """The payload of a token, parsed (no signature check)."""
    return json.loads(b64url_decode(token.split('.')[1]))


# ---------------------------------------------------------------------------
# HTTP through curl.

class Response:
    def __init__(self, status, body, method, path, err='', headers=None):
        self.status = status
        self.body = body
        self.method = method
        self.path = path
        self.err = err
        self.headers = headers or {}   # lower-case name -> value (the last of a name)
        try:
            self.json = json.loads(body.decode()) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    @property
    def text(self):
        return self.body.decode(errors='replace')

    def __repr__(self):
        b = self.text
        return '%s %s -> %d %s%s' % (self.method, self.path, self.status,
                                     b[:300] + ('...' if len(b) > 300 else ''),
                                     (' (curl: %s)' % self.err.strip()) if self.err else '')


def http(port, method, path, body=None, bearer=None, headers=(), timeout=10):
    """One request to 127.0.0.1:port. body: bytes/str sent as is, anything
    else as JSON. Status 0 when curl got no answer."""
    argv = ['curl', '-sS', '--max-time', str(timeout), '-o', '-', '-w', '\n%{http_code}']
    # (curl -X HEAD would wait for a body that never comes)
    argv += ['--head'] if method == 'HEAD' else ['-X', method]
    if bearer is not None:
        argv += ['-H', 'Authorization: Bearer ' + bearer]
    for h in headers:
        argv += ['-H', h]
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        argv += ['-H', 'Content-Type: application/json', '--data-binary', '@-']
    with tempfile.NamedTemporaryFile(prefix='mqchat-curl-') as hdr:
        argv += ['-D', hdr.name, 'http://127.0.0.1:%d%s' % (port, path)]
        r = subprocess.run(argv, input=data or b'', stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout + 5)
        heads = {}
        for line in open(hdr.name, 'rb').read().decode(errors='replace').splitlines():
            if line.startswith('HTTP/'):
                heads = {}      # a 100 Continue comes first
            elif ':' in line:
                k, v = line.split(':', 1)
                heads[k.strip().lower()] = v.strip()
    out = r.stdout
    i = out.rfind(b'\n')
    try:
        status = int(out[i + 1:].decode() or '0')
    except ValueError:
        status = 0
    return Response(status, out[:i] if i >= 0 else b'', method, path,
                    r.stderr.decode(errors='replace') if r.returncode else '', heads)


# ---------------------------------------------------------------------------
# Envelopes and notices.

ID_RE = re.compile(r'^[1-9][0-9]{0,19}$')


def now_ms():
    return int(time.time() * 1000)


def parse_json(payload, what='payload'):
    try:
        v = json.loads(payload.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise AssertionError('%s is not JSON (%s): %r' % (what, e, payload[:200]))
    if not isinstance(v, dict):
        raise AssertionError('%s is not a JSON object: %r' % (what, payload[:200]))
    return v


class ChatTest(BrokerTest5):
    """One chat broker per class (SHARED); CONFIG is chat_config() unless a
    class says otherwise."""

    CONFIG = chat_config()
    SHARED = True

    # ---- HTTP ----

    def http(self, method, path, body=None, bearer=None, **kw):
        return http(self.broker.http_port, method, path, body, bearer, **kw)

    def api(self, method, path, body=None, bearer=None, status=200, code=None, **kw):
        """A request that must answer `status`; for an error status the body
        must be {"error": "...", "code": code}. Returns the parsed body."""
        r = self.http(method, path, body, bearer, **kw)
        self.assertEqual(r.status, status, 'expected %d: %r' % (status, r))
        if status >= 400:
            self.assert_error(r, status, code)
        return r.json

    def assert_error(self, r, status, code=None):
        self.assertEqual(r.status, status, repr(r))
        self.assertIsInstance(r.json, dict, 'error body is not a JSON object: %r' % r)
        self.assertIsInstance(r.json.get('error'), str, repr(r))
        self.assertTrue(r.json['error'], repr(r))
        if code is not None:
            self.assertEqual(r.json.get('code'), code, repr(r))

    def svc(self, method, path, body=None, status=200, code=None):
        return self.api(method, path, body, SERVICE_KEY, status, code)

    # ---- users and tokens ----

    def make_user(self, name=None, password=None, role='user'):
        """Creates a user through the service key; returns its name."""
        name = name or self.uid('u')
        body = {'id': name, 'role': role}
        if password is not None:
            body['password'] = password
        got = self.svc('POST', '/v1/users', body, 201)
        self.assertEqual(got.get('id'), name, repr(got))
        self.assertEqual(got.get('role'), role, repr(got))
        return name

    def service_token(self, user, ttl=3600):
        """A token for user minted by the service role (no password)."""
        got = self.svc('POST', '/v1/tokens', {'user': user, 'ttl': ttl}, 200)
        self.assertEqual(got.get('user'), user, repr(got))
        return got['token']

    def password_token(self, user, password):
        got = self.api('POST', '/v1/tokens', {'user': user, 'password': password}, status=200)
        self.assertEqual(got.get('user'), user, repr(got))
        return got['token']

    def new_user(self, what='u', role='user'):
        """(name, token) of a new user without a password."""
        name = self.make_user(self.uid(what), role=role)
        return name, self.service_token(name)

    # ---- rooms ----

    def make_room(self, token, name=None, private=False, member_cap=0):
        name = name or self.uid('r')
        got = self.api('POST', '/v1/rooms', {'name': name, 'private': private,
                                              'member_cap': member_cap}, token, 201)
        self.assertEqual(got.get('name'), name, repr(got))
        self.assertEqual(got.get('private'), private, repr(got))
        return name

    def join(self, room, token, user=None, status=200, code=None):
        return self.api('POST', '/v1/rooms/%s/join' % room, {'user': user} if user else None,
                        token, status, code)

    def leave(self, room, token, user=None, status=200, code=None):
        return self.api('POST', '/v1/rooms/%s/leave' % room, {'user': user} if user else None,
                        token, status, code)

    def history(self, path, token=SERVICE_KEY, status=200, code=None):
        """GET a history path; returns the messages list (status 200)."""
        got = self.api('GET', path, None, token, status, code)
        if status != 200:
            return got
        self.assertIsInstance(got.get('messages'), list, repr(got))
        return got['messages']

    # ---- MQTT clients ----

    def chat311(self, user, password, client_id=None, clean=True, subs=(), name=None,
                session_present=False):
        """A 3.1.1 client logged in (CONNACK 0 checked), subscribed to subs
        ([(filter, qos)], each granted)."""
        c = self.client(name or user)
        c.send(broker.connect(client_id or self.uid('c'), clean=clean, username=user,
                              password=password))
        c.expect(connack(session_present, 0), msg='(CONNACK for %s)' % user)
        if subs:
            c.do_subscribe(list(subs))
        return c

    def chat5(self, user, password, client_id=None, clean=True, subs=(), name=None,
              properties=None, session_present=False):
        """A v5 client logged in (reason 0 checked), subscribed to subs
        ([(filter, options)], each granted its QoS)."""
        c = self.client5(name or user)
        c.do_connect5(client_id or self.uid('c'), username=user, password=password,
                      clean=clean, properties=properties, session_present=session_present)
        if subs:
            c.do_subscribe5(list(subs))
        return c

    def refused_connect(self, user, password, v5=False):
        """CONNECT must be refused: 3.1.1 CONNACK 4, v5 CONNACK 0x86."""
        if v5:
            c = self.client5('refused-' + str(user))
            c.send(broker.connect5(self.uid('c'), username=user, password=password))
            c.expect_connack5(BAD_USER_OR_PASSWORD_V5, session_present=False,
                              msg='(user %r must be refused)' % user)
        else:
            c = self.client('refused-' + str(user))
            c.send(broker.connect(self.uid('c'), username=user, password=password))
            c.expect(connack(False, BAD_USER_OR_PASSWORD_311),
                     msg='(user %r must be refused with 4)' % user)
        c.close()

    # ---- reading ----

    def next_pub(self, c, timeout=WAIT, msg=''):
        """The next PUBLISH on c, decoded (Publish or Publish5), acknowledged."""
        if isinstance(c, Client5):
            p = c.next_publish5(timeout, msg)
            c.ack(p)
            return p
        raw = c.expect_packet(timeout, msg)
        if raw[0] >> 4 != 3:
            raise AssertionError('%s: expected a PUBLISH, got %s %s' % (c.name, broker.hexs(raw), msg))
        p = Publish(raw)
        if p.qos == 1:
            c.send(puback(p.mid))
        elif p.qos == 2:
            c.send(pubrec(p.mid))
            c.expect_ack(broker.pubrel(p.mid))
            c.send(broker.pubcomp(p.mid))
        return p

    def expect_env(self, c, topic, sender=None, qos=None, msg='', **fields):
        """The next PUBLISH on c must be on topic and carry an envelope
        (checked: id, from, ts, type), with the given fields equal. Returns
        (publish, envelope)."""
        p = self.next_pub(c, msg=msg or '(envelope on %s)' % topic)
        return self.check_env_pub(c, p, topic, sender, qos, msg, fields)

    def check_env_pub(self, c, p, topic, sender, qos, msg, fields):
        """What expect_env() checks of p, a PUBLISH read from c."""
        self.assertEqual(p.topic, topic, '%s: %r %s' % (c.name, p, msg))
        if qos is not None:
            self.assertEqual(p.qos, qos, '%s: %r %s' % (c.name, p, msg))
        env = parse_json(p.payload, 'envelope on %s' % topic)
        self.check_envelope(env, sender)
        for k, v in fields.items():
            self.assertEqual(env.get(k, '<absent>'), v, '%s: member %r of %r %s'
                             % (c.name, k, env, msg))
        return p, env

    def check_envelope(self, env, sender=None):
        self.assertIsInstance(env.get('id'), str, 'id must be a decimal string: %r' % env)
        self.assertRegex(env['id'], ID_RE, repr(env))
        self.assertLess(int(env['id']), 1 << 64, repr(env))
        self.assertIsInstance(env.get('ts'), int, repr(env))
        self.assertLess(abs(env['ts'] - now_ms()), CLOCK_SLACK_MS, 'ts not now: %r' % env)
        self.assertIsInstance(env.get('type'), str, repr(env))
        if sender is not None:
            self.assertEqual(env.get('from'), sender, repr(env))

    def expect_notice(self, c, user, topic, reason, code, msg=''):
        """The next PUBLISH on c must be the notice of a refused publish on
        chat/user/{user}/events."""
        p = self.next_pub(c, msg=msg or '(notice %s)' % reason)
        return self.check_notice_pub(p, user, topic, reason, code, msg)

    def check_notice_pub(self, p, user, topic, reason, code, msg):
        """What expect_notice() checks of p; reason None: any non-empty
        string."""
        self.assertEqual(p.topic, '%s/user/%s/events' % (PREFIX, user), '%r %s' % (p, msg))
        n = parse_json(p.payload, 'notice')
        want = {'type': 'notice', 'event': 'rejected', 'topic': topic, 'code': code}
        if reason is not None:
            want['reason'] = reason
        self.assertEqual({k: n.get(k) for k in want}, want, 'notice %r %s' % (n, msg))
        self.assertIsInstance(n.get('reason'), str, 'notice %r %s' % (n, msg))
        self.assertTrue(n['reason'], 'notice %r %s' % (n, msg))
        return n

    def quiet(self, *clients, msg=''):
        """Nothing arrives on any of the clients within QUIET (listened to
        on the first; the others have had that time too)."""
        for i, c in enumerate(clients):
            t = QUIET if i == 0 else 0.05
            if isinstance(c, Client5):
                c.expect_nothing5(t, msg=msg)
            else:
                c.expect_nothing(t, msg=msg)

    # ---- publishing ----

    def pub(self, c, topic, payload, qos=1, reason=0):
        """Publishes with the whole acknowledgement flow; a v5 client's
        PUBACK must carry reason (a 3.1.1 client always gets the plain
        PUBACK)."""
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        if isinstance(c, Client5):
            return c.do_publish5(topic, payload, qos, reason=reason)
        return c.do_publish(topic, payload, qos)

    def room_topic(self, room):
        return '%s/room/%s' % (PREFIX, room)

    def dm_topic(self, user):
        return '%s/dm/%s' % (PREFIX, user)

    def events_topic(self, user):
        return '%s/user/%s/events' % (PREFIX, user)


# ---------------------------------------------------------------------------
# Chat features (doc/protocol.md, "Chat features"): presence, unread counts,
# history over MQTT, blocks, comment control, cheers and hearts. Used by
# test_chat_presence, _unread, _history_mqtt, _blocks, _control, _support.

import resource  # noqa: E402
import signal  # noqa: E402

# Fast presence timings for the feature suites (doc/protocol.md,
# "Configuration"): updates every 200 ms, a user stays online 600 ms.
FAST_INTERVAL_MS = 200
FAST_GRACE_MS = 600
# "Both [blocks] take effect for the next message (within a second)".
BLOCK_EFFECT_S = 1.0


def feature_config(extra=None):
    """chat_config() with chat.presence_interval 200 and chat.presence_grace
    600, then extra."""
    c = {'chat.presence_interval': FAST_INTERVAL_MS, 'chat.presence_grace': FAST_GRACE_MS}
    c.update(extra or {})
    return chat_config(c)


def poll(fn, timeout=WAIT, interval=0.05):
    """Calls fn until it returns something true or timeout passes; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def json_or_none(payload):
    try:
        v = json.loads(payload.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return v if isinstance(v, dict) else None


def is_background(p):
    """What the broker pushes by itself and a test about something else
    skips: an unread summary on chat/user/{user}/events, or a presence
    message (chat/presence/{user}, chat/room/{room}/presence)."""
    parts = p.topic.split('/')
    if len(parts) == 4 and parts[0] == PREFIX and parts[1] == 'user' and parts[3] == 'events':
        v = json_or_none(p.payload)
        return v is not None and v.get('type') == 'unread'
    if len(parts) == 3 and parts[0] == PREFIX and parts[1] == 'presence':
        return True
    return len(parts) == 4 and parts[0] == PREFIX and parts[1] == 'room' and parts[3] == 'presence'


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE soft limit to want (and the hard
    limit too when allowed). Brokers started afterwards inherit it. Returns
    the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard == resource.RLIM_INFINITY or hard >= want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    else:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))   # root may
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class FeatureTest(ChatTest):
    """ChatTest with fast presence timings and helpers for the chat
    features. Readers named *_chat skip background traffic (is_background):
    unread summaries and presence may come at any time."""

    CONFIG = feature_config()

    # ---- topics ----

    def presence_topic(self, user):
        return '%s/presence/%s' % (PREFIX, user)

    def room_presence_topic(self, room):
        return '%s/room/%s/presence' % (PREFIX, room)

    def read_topic(self, room):
        return '%s/room/%s/read' % (PREFIX, room)

    def history_topic(self, room):
        return '%s/room/%s/history' % (PREFIX, room)

    # ---- reading, background skipped ----

    def next_chat(self, c, timeout=WAIT, msg=''):
        """The next PUBLISH on c that is not background (acknowledged)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.next_pub(c, max(0.05, deadline - time.monotonic()), msg)
            if not is_background(p):
                return p

    def expect_env_chat(self, c, topic, sender=None, qos=None, msg='', **fields):
        """expect_env(), background skipped."""
        p = self.next_chat(c, msg=msg or '(envelope on %s)' % topic)
        return self.check_env_pub(c, p, topic, sender, qos, msg, fields)

    def expect_notice_chat(self, c, user, topic, reason, code, msg=''):
        """expect_notice(), background skipped; reason None: any non-empty
        string."""
        p = self.next_chat(c, msg=msg or '(notice %s)' % reason)
        return self.check_notice_pub(p, user, topic, reason, code, msg)

    def quiet_chat(self, *clients, msg='', duration=QUIET):
        """Nothing but background arrives on any of the clients within
        duration (listened to on the first; the others have had that time
        too)."""
        for i, c in enumerate(clients):
            deadline = time.monotonic() + (duration if i == 0 else 0.05)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    raw = c.read(left)
                except broker.Closed:
                    raise AssertionError('%s: connection closed, expected it to stay open %s'
                                         % (c.name, msg))
                if raw is None:
                    break
                if raw[0] >> 4 != 3:
                    raise AssertionError('%s: unexpected packet %s %s'
                                         % (c.name, broker.hexs(raw), msg))
                p = broker.Publish5(raw) if isinstance(c, Client5) else Publish(raw)
                self._ack_raw(c, p)
                if not is_background(p):
                    raise AssertionError('%s: unexpected %r %s' % (c.name, p, msg))

    def _ack_raw(self, c, p):
        if isinstance(c, Client5):
            c.ack(p)
        elif p.qos == 1:
            c.send(puback(p.mid))
        elif p.qos == 2:
            c.send(pubrec(p.mid))
            c.expect_ack(broker.pubrel(p.mid))
            c.send(broker.pubcomp(p.mid))

    def maybe_notice(self, c):
        """c, another device of a user whose other device was just refused,
        may get that notice too (notices are published on the user's events
        topic; the contract does not say more): read it if it comes;
        nothing else may come."""
        for _, p, v in self.record(c, QUIET):
            if v is not None and v.get('type') in ('notice', 'unread'):
                continue
            raise AssertionError('%s: unexpected %r' % (c.name, p))

    # ---- reading JSON pushed by the broker ----

    def record(self, c, duration):
        """Every PUBLISH on c within duration seconds (acknowledged), as
        (monotonic time, publish, JSON object or None)."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                raw = c.read(left)
            except broker.Closed:
                raise AssertionError('%s: connection closed while recording' % c.name)
            if raw is None:
                return out
            if raw[0] >> 4 != 3:
                raise AssertionError('%s: unexpected packet %s' % (c.name, broker.hexs(raw)))
            p = broker.Publish5(raw) if isinstance(c, Client5) else Publish(raw)
            self._ack_raw(c, p)
            out.append((time.monotonic(), p, json_or_none(p.payload)))

    def wait_json(self, c, topic, pred=None, timeout=WAIT, msg='', seen=None):
        """Reads PUBLISH packets on c (acknowledged) until one on topic
        carries a JSON object for which pred (default: any) is true;
        returns (publish, object). Everything read on topic is appended to
        seen (a list) as (monotonic time, publish, object). Fails after
        timeout, listing what came on topic."""
        got = [] if seen is None else seen
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                raw = c.read(left)
            except broker.Closed:
                raise AssertionError('%s: connection closed waiting on %s %s'
                                     % (c.name, topic, msg))
            if raw is None:
                break
            if raw[0] >> 4 != 3:
                continue
            p = broker.Publish5(raw) if isinstance(c, Client5) else Publish(raw)
            self._ack_raw(c, p)
            if p.topic != topic:
                continue
            v = json_or_none(p.payload)
            got.append((time.monotonic(), p, v))
            if v is not None and (pred is None or pred(v)):
                return p, v
        raise AssertionError('%s: nothing matching on %s within %.1f s %s; got %s'
                             % (c.name, topic, timeout, msg,
                                [x[2] if x[2] is not None else x[1].payload[:100]
                                 for x in got][-20:]))

    def wait_api(self, method, path, pred, token=SERVICE_KEY, timeout=WAIT, msg=''):
        """GETs (or whatever method) path until its 200 JSON satisfies pred;
        returns it, or fails with the last answer."""
        last = [None]

        def once():
            r = self.http(method, path, None, token)
            last[0] = r
            return r.status == 200 and isinstance(r.json, dict) and pred(r.json)
        if poll(once, timeout):
            return last[0].json
        raise AssertionError('%s %s never matched within %.1f s: %r %s'
                             % (method, path, timeout, last[0], msg))

    # ---- the broker's process and database ----

    def restart_broker(self, kill=False):
        """Stops the broker (SIGTERM, exit 0 checked; or SIGKILL) and starts
        it again on the same data_dir and config (new MQTT and HTTP ports).
        Clients made so far are closed."""
        b = self.broker
        for c in self.clients:
            c.close()
        if kill:
            if b.proc.poll() is None:
                os.kill(b.proc.pid, signal.SIGKILL)
            b.proc.wait(timeout=10)
        else:
            rc = b.stop()
            self.assertEqual(rc, 0, 'broker exited with %s on SIGTERM\n%s' % (rc, b.log_tail()))
        b.proc = None
        b.returncode = None
        b.crashed = False
        b.start()
        self.port = b.port
        return b

    def set_room_role(self, room, user, role='moderator'):
        """Makes user (a member) the room's `role` through
        PUT /v1/rooms/{room}/members/{user}, as the service."""
        got = self.svc('PUT', '/v1/rooms/%s/members/%s' % (room, user), {'role': role})
        self.assertEqual(got, {'room': room, 'user': user, 'role': role})

    # ---- small conveniences ----

    def block_effect(self):
        """Waits out the second a block (or unblock) may take to apply."""
        time.sleep(BLOCK_EFFECT_S)

    def member_room(self, owner_token, *tokens, private=False):
        """A room made by owner_token's user, joined by each of tokens."""
        room = self.make_room(owner_token, private=private)
        for t in tokens:
            if private:
                self.join(room, owner_token, user=claims(t)['sub'])
            else:
                self.join(room, t)
        return room
