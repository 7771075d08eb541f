"""broker.py - the harness of mqchat's raw-packet broker tests.

What it is: a small, stdlib-only toolkit that starts a real broker process on
a free loopback port with a generated config in a fresh temporary directory,
speaks MQTT 3.1/3.1.1 to it byte by byte, and stops it again by PID. The
test_*.py files beside it are unittest modules built on it; runtests.py runs
them and prints `N passed, N failed`.

What it is not: an MQTT client library. Encoders build exactly the bytes a
test names, including wrong ones; the reader returns whole packets as bytes
and leaves judging them to the test, which compares real bytes.

The broker under test:
  MQCHAT_BROKER   path of the binary (default: build/mqchatd). When its file
                  name starts with "mosquitto", or MQCHAT_IMPL=mosquitto, the
                  harness runs it as Mosquitto 2.0 with an equivalent
                  mosquitto.conf; that is how the tests are checked against
                  the reference broker.
  MQCHAT_WORKERS  the mqchatd `workers` setting (default 1; ignored by
                  Mosquitto).
  MQCHAT_PASSWD   the password-file tool (default: mqchat-passwd beside the
                  broker binary, else /usr/bin/mosquitto_passwd).

Timing rules: every wait is bounded. Waiting for something that should come
uses WAIT (generous, a noisy 2-core machine); checking that nothing comes uses
QUIET (short). The only sleeps are poll intervals inside bounded loops.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

WAIT = 5.0    # seconds to wait for a packet that must arrive
QUIET = 0.4   # seconds to listen for a packet that must not arrive
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def broker_binary():
    return os.path.abspath(os.environ.get('MQCHAT_BROKER') or os.path.join(ROOT, 'build', 'mqchatd'))


def is_mosquitto():
    if os.environ.get('MQCHAT_IMPL', '').lower() == 'mosquitto':
        return True
    return os.path.basename(broker_binary()).startswith('mosquitto')


MOSQUITTO = is_mosquitto()


def workers():
    return int(os.environ.get('MQCHAT_WORKERS') or '1')


def passwd_tool():
    """The mosquitto_passwd-compatible tool used to write password files."""
    if os.environ.get('MQCHAT_PASSWD'):
        return os.environ['MQCHAT_PASSWD']
    if not MOSQUITTO:
        mine = os.path.join(os.path.dirname(broker_binary()), 'mqchat-passwd')
        if os.path.exists(mine):
            return mine
    return '/usr/bin/mosquitto_passwd'


def write_password_file(path, users, create=True):
    """Writes (create=True) or extends a password file with users, a dict
    name -> password, using `TOOL -c -b` for the first entry of a new file and
    `TOOL -b` for the others, as mosquitto_passwd does."""
    tool = passwd_tool()
    first = create
    for name, password in users.items():
        argv = [tool] + (['-c'] if first else []) + ['-b', path, name, password]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        if r.returncode != 0:
            raise RuntimeError('%s failed (%d): %s' % (' '.join(argv), r.returncode,
                                                     r.stdout.decode(errors='replace')))
        first = False


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


# Every broker started and not yet stopped, so that a runner told to stop
# (SIGTERM from a time limit) can stop them by PID on its way out.
_live = set()


def stop_all():
    for b in list(_live):
        b.stop()


# mqchatd keys that mean the same in mosquitto.conf and are passed through.
_MOSQ_SAME = {
    'allow_anonymous', 'allow_zero_length_clientid', 'password_file', 'acl_file',
    'max_connections', 'max_inflight_messages', 'max_queued_messages',
    'max_queued_bytes', 'message_size_limit', 'max_keepalive',
    'persistent_client_expiration', 'sys_interval',
}
# mqchatd keys with no Mosquitto counterpart (dropped in Mosquitto mode).
_MOSQ_DROP = {'data_dir', 'workers', 'bind_address', 'port', 'conn.out_soft_bytes',
              'conn.out_hard_bytes'}


def _fmt(v):
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    return str(v)


class Broker:
    """One broker process. Start with start(); stop with stop(), which
    returns its exit status. `log` holds what it wrote to stdout/stderr."""

    def __init__(self, config=None, extra_args=()):
        self.binary = broker_binary()
        self.extra_args = list(extra_args)
        self.mosquitto = MOSQUITTO
        self.config = {'allow_anonymous': True, 'sys_interval': 0}
        self.config.update(config or {})
        self.dir = tempfile.mkdtemp(prefix='mqchat-test-')
        self.port = None
        self.proc = None
        self.returncode = None
        self.crashed = False
        self._log_text = None
        self.log_path = os.path.join(self.dir, 'broker.log')
        self.conf_path = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def _config_text(self):
        if self.mosquitto:
            lines = ['listener %d 127.0.0.1' % self.port, 'persistence false',
                     'log_dest stderr', 'log_type all']
            if os.geteuid() == 0:
                lines.append('user root')   # else it drops to "mosquitto" and cannot read self.dir
            for k, v in self.config.items():
                if k in _MOSQ_DROP:
                    continue
                if k not in _MOSQ_SAME:
                    raise ValueError('no Mosquitto equivalent for config key %r' % k)
                lines.append('%s %s' % (k, _fmt(v)))
        else:
            lines = ['port %d' % self.port, 'bind_address 127.0.0.1',
                     'data_dir %s' % self.path('data'), 'workers %d' % workers()]
            for k, v in self.config.items():
                lines.append('%s %s' % (k, _fmt(v)))
        return '\n'.join(lines) + '\n'

    def argv(self):
        if self.mosquitto:
            return [self.binary, '-c', self.conf_path] + self.extra_args
        return [self.binary, '-c', self.conf_path, '-p', str(self.port)] + self.extra_args

    def start(self):
        """Starts the broker and returns when its port accepts connections.
        A port lost to a race is retried with a new one (three tries)."""
        for attempt in range(3):
            self.port = free_port()
            self.conf_path = self.path('mosquitto.conf' if self.mosquitto else 'mqchat.conf')
            with open(self.conf_path, 'w') as f:
                f.write(self._config_text())
            os.makedirs(self.path('data'), exist_ok=True)
            log = open(self.log_path, 'ab')
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.dir)
            log.close()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(('127.0.0.1', self.port), timeout=0.5).close()
                    _live.add(self)
                    return self
                except OSError:
                    time.sleep(0.02)
            if self.proc.poll() is None:
                self._kill()
                raise RuntimeError('broker did not accept on port %d within %.0f s\n%s'
                                   % (self.port, START_TIMEOUT, self.log_tail()))
            text = self.log
            if 'in use' not in text.lower():
                raise RuntimeError('broker exited with %s at start-up\n%s'
                                   % (self.proc.returncode, self.log_tail()))
        raise RuntimeError('broker could not get a free port\n' + self.log_tail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def _kill(self):
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=STOP_TIMEOUT)

    def stop(self):
        """SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL. Returns the exit
        status (negative: killed by that signal). Sets self.crashed when the
        process had already died before it was asked to stop."""
        if self.proc is None:
            return None
        if self.returncode is not None:
            return self.returncode
        if self.proc.poll() is not None:
            self.crashed = True
        else:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
        self.returncode = self.proc.returncode
        _live.discard(self)
        return self.returncode

    @property
    def log(self):
        if self._log_text is not None:
            return self._log_text
        try:
            with open(self.log_path, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return ''

    def log_tail(self, n=40):
        lines = self.log.splitlines()
        return '--- broker log (%s, last %d of %d lines) ---\n%s' % (
            os.path.basename(self.binary), min(n, len(lines)), len(lines), '\n'.join(lines[-n:]))

    def cleanup(self):
        self.stop()
        self._log_text = self.log
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Packet encoders. Each returns the complete packet as bytes.

PINGREQ = b'\xc0\x00'
PINGRESP = b'\xd0\x00'
DISCONNECT = b'\xe0\x00'


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack('!H', len(s)) + s


def packet(first_byte, body):
    return bytes([first_byte]) + varint(len(body)) + body


def connect(client_id, clean=True, keepalive=60, will=None, username=None, password=None,
            proto_name='MQTT', proto_level=4, flags=None):
    """will: (topic, payload, qos, retain). flags overrides the connect flags byte."""
    f = 0
    if clean:
        f |= 0x02
    payload = string(client_id)
    if will is not None:
        wtopic, wpayload, wqos, wretain = will
        f |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        payload += string(wtopic) + string(wpayload)
    if username is not None:
        f |= 0x80
        payload += string(username)
    if password is not None:
        f |= 0x40
        payload += string(password)
    if flags is not None:
        f = flags
    body = string(proto_name) + bytes([proto_level, f]) + struct.pack('!H', keepalive) + payload
    return packet(0x10, body)


def connack(session_present=False, rc=0):
    return bytes([0x20, 0x02, 1 if session_present else 0, rc])


def publish(topic, payload=b'', qos=0, retain=False, dup=False, mid=None):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = string(topic)
    if qos > 0:
        body += struct.pack('!H', mid)
    return packet(first, body + payload)


def puback(mid):
    return b'\x40\x02' + struct.pack('!H', mid)


def pubrec(mid):
    return b'\x50\x02' + struct.pack('!H', mid)


def pubrel(mid):
    return b'\x62\x02' + struct.pack('!H', mid)


def pubcomp(mid):
    return b'\x70\x02' + struct.pack('!H', mid)


def subscribe(mid, filters):
    """filters: [(filter, qos), ...] or a single filter string (QoS 0)."""
    if isinstance(filters, str):
        filters = [(filters, 0)]
    body = struct.pack('!H', mid)
    for flt, qos in filters:
        body += string(flt) + bytes([qos])
    return packet(0x82, body)


def suback(mid, codes):
    return packet(0x90, struct.pack('!H', mid) + bytes(codes))


def unsubscribe(mid, filters):
    if isinstance(filters, str):
        filters = [filters]
    body = struct.pack('!H', mid)
    for flt in filters:
        body += string(flt)
    return packet(0xA2, body)


def unsuback(mid):
    return b'\xb0\x02' + struct.pack('!H', mid)


class Publish:
    """A decoded PUBLISH (for checking broker-chosen packet ids)."""

    def __init__(self, raw):
        first = raw[0]
        if first >> 4 != 3:
            raise AssertionError('expected PUBLISH, got %s' % hexs(raw))
        self.raw = raw
        self.dup = bool(first & 0x08)
        self.qos = (first >> 1) & 0x03
        self.retain = bool(first & 0x01)
        i = 1
        while raw[i] & 0x80:
            i += 1
        i += 1
        tlen = struct.unpack('!H', raw[i:i + 2])[0]
        self.topic = raw[i + 2:i + 2 + tlen].decode(errors='replace')
        i += 2 + tlen
        self.mid = None
        if self.qos:
            self.mid = struct.unpack('!H', raw[i:i + 2])[0]
            i += 2
        self.payload = raw[i:]

    def __repr__(self):
        return 'PUBLISH(topic=%r payload=%r qos=%d retain=%d dup=%d mid=%r)' % (
            self.topic, self.payload[:60], self.qos, self.retain, self.dup, self.mid)


def hexs(b):
    if b is None:
        return 'None'
    b = bytes(b)
    s = b[:64].hex(' ')
    return s + (' ... (%d bytes)' % len(b) if len(b) > 64 else '')


# ---------------------------------------------------------------------------
# A raw client connection.

class Closed(Exception):
    pass


class Client:
    """One TCP connection to the broker that reads and writes whole packets."""

    def __init__(self, port, name='client'):
        self.name = name
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.next_mid = 1
        self.pending = []   # PUBLISH packets read while waiting for an ack

    def mid(self):
        m = self.next_mid
        self.next_mid = m % 65535 + 1
        return m

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def abort(self):
        """Closes the connection without DISCONNECT (RST, like a dead peer)."""
        if self.sock is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            self.close()

    def _fill(self, deadline):
        """Reads more bytes into buf. Returns False on timeout; raises Closed."""
        if self.eof:
            raise Closed()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            data = b''
        if not data:
            self.eof = True
            raise Closed()
        self.buf += data
        return True

    def _frame(self):
        """Length of the first whole packet in buf, or None."""
        if len(self.buf) < 2:
            return None
        n, mult, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            n += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise AssertionError('%s: broker sent a bad remaining length: %s'
                                     % (self.name, hexs(self.buf)))
        return i + n if len(self.buf) >= i + n else None

    def read(self, timeout=WAIT):
        """Returns the next packet (bytes), or None when none came in time.
        Raises Closed when the broker closed the connection."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            n = self._frame()
            if n is not None:
                pkt = bytes(self.buf[:n])
                del self.buf[:n]
                return pkt
            if not self._fill(deadline):
                return None

    def expect(self, want, timeout=WAIT, msg=''):
        try:
            got = self.read(timeout)
        except Closed:
            raise AssertionError('%s: connection closed, expected %s %s' % (self.name, hexs(want), msg))
        if got is None:
            raise AssertionError('%s: nothing within %.1f s, expected %s %s'
                                 % (self.name, timeout, hexs(want), msg))
        if got != want:
            raise AssertionError('%s: got %s, expected %s %s' % (self.name, hexs(got), hexs(want), msg))
        return got

    def expect_packet(self, timeout=WAIT, msg=''):
        try:
            got = self.read(timeout)
        except Closed:
            raise AssertionError('%s: connection closed, expected a packet %s' % (self.name, msg))
        if got is None:
            raise AssertionError('%s: no packet within %.1f s %s' % (self.name, timeout, msg))
        return got

    def expect_publish(self, topic, payload, qos=0, retain=False, dup=False, timeout=WAIT, msg=''):
        """Expects one PUBLISH equal, byte for byte, to the given one with the
        broker's packet id (checked non-zero for QoS > 0). Returns the id."""
        got = self.expect_packet(timeout, msg)
        p = Publish(got)
        if qos and p.qos == qos and not p.mid:
            raise AssertionError('%s: PUBLISH with packet id 0: %s' % (self.name, hexs(got)))
        want = publish(topic, payload, qos, retain, dup, p.mid if qos else None)
        if got != want:
            raise AssertionError('%s: got %r = %s\nexpected %s %s'
                                 % (self.name, p, hexs(got), hexs(want), msg))
        return p.mid

    def expect_nothing(self, timeout=QUIET, msg=''):
        try:
            got = self.read(timeout)
        except Closed:
            raise AssertionError('%s: connection closed, expected it to stay open %s' % (self.name, msg))
        if got is not None:
            raise AssertionError('%s: unexpected packet %s %s' % (self.name, hexs(got), msg))

    def expect_closed(self, timeout=WAIT, msg=''):
        """Expects the broker to close the connection with nothing sent first."""
        try:
            got = self.read(timeout)
        except Closed:
            return
        if got is None:
            raise AssertionError('%s: still open after %.1f s, expected the broker to close it %s'
                                 % (self.name, timeout, msg))
        raise AssertionError('%s: got %s, expected the connection closed %s' % (self.name, hexs(got), msg))

    def collect(self, duration):
        """Every packet that arrives within duration seconds (stops at close)."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            try:
                p = self.read(max(0.0, deadline - time.monotonic()))
            except Closed:
                return out
            if p is None:
                return out
            out.append(p)

    # Conversations.

    def expect_ack(self, want, msg=''):
        """Like expect(), but PUBLISH packets that arrive first (a client
        subscribed to what it publishes) are kept for the next read()."""
        held = []
        try:
            while True:
                got = self.expect_packet(msg=msg)
                if got[0] >> 4 == 3 and want[0] >> 4 != 3:
                    held.append(got)
                    continue
                if got != want:
                    raise AssertionError('%s: got %s, expected %s %s'
                                         % (self.name, hexs(got), hexs(want), msg))
                return got
        finally:
            self.pending[:0] = held

    def do_connect(self, client_id, expect_connack=None, **kw):
        self.send(connect(client_id, **kw))
        self.expect(connack(False, 0) if expect_connack is None else expect_connack,
                    msg='(CONNACK for %r)' % client_id)
        return self

    def do_subscribe(self, filters, codes=None):
        if isinstance(filters, str):
            filters = [(filters, 0)]
        m = self.mid()
        self.send(subscribe(m, filters))
        self.expect(suback(m, codes if codes is not None else [q for _, q in filters]),
                    msg='(SUBACK for %r)' % (filters,))

    def do_unsubscribe(self, filters):
        m = self.mid()
        self.send(unsubscribe(m, filters))
        self.expect(unsuback(m), msg='(UNSUBACK)')

    def do_publish(self, topic, payload, qos=0, retain=False):
        """Publishes with the full acknowledgement flow for qos. For QoS 0 a
        PINGREQ/PINGRESP round trip follows, so that the broker has read the
        PUBLISH when this returns."""
        if qos == 0:
            self.send(publish(topic, payload, 0, retain))
            self.send(PINGREQ)
            self.expect_ack(PINGRESP, msg='(after QoS 0 PUBLISH)')
            return None
        m = self.mid()
        self.send(publish(topic, payload, qos, retain, mid=m))
        if qos == 1:
            self.expect_ack(puback(m), msg='(PUBACK)')
        else:
            self.expect_ack(pubrec(m), msg='(PUBREC)')
            self.send(pubrel(m))
            self.expect_ack(pubcomp(m), msg='(PUBCOMP)')
        return m

    def receive(self, topic, payload, qos=0, retain=False, dup=False, timeout=WAIT, msg=''):
        """Expects a PUBLISH and completes its acknowledgement flow."""
        m = self.expect_publish(topic, payload, qos, retain, dup, timeout, msg)
        if qos == 1:
            self.send(puback(m))
        elif qos == 2:
            self.send(pubrec(m))
            self.expect_ack(pubrel(m), msg='(PUBREL)')
            self.send(pubcomp(m))
        return m

    def ping(self):
        self.send(PINGREQ)
        self.expect(PINGRESP)

    def disconnect(self, wait=True):
        """Sends DISCONNECT and, with wait, waits (bounded) for the broker to
        close the connection: after that the session is offline and its will
        discarded, so what a test does next cannot race the DISCONNECT."""
        try:
            self.send(DISCONNECT)
            if wait:
                deadline = time.monotonic() + WAIT
                while self._fill(deadline):
                    pass
        except (OSError, Closed):
            pass
        self.close()


# ---------------------------------------------------------------------------
# The test base class.

class BrokerTest(unittest.TestCase):
    """A test case with a broker per test (CONFIG, class attribute) or, with
    SHARED = True, one broker for the whole class. Clients made with client()
    are closed after the test; the broker must still be running at the end of
    the test and exit with status 0 on SIGTERM."""

    CONFIG = {}
    SHARED = False
    mosquitto = MOSQUITTO

    @classmethod
    def setUpClass(cls):
        cls.shared_broker = None
        if cls.SHARED:
            cls.shared_broker = Broker(cls.CONFIG)
            cls.shared_broker.start()

    @classmethod
    def tearDownClass(cls):
        b = cls.shared_broker
        if b is not None:
            rc = b.stop()
            crashed = b.crashed
            b.cleanup()
            if crashed or rc != 0:
                raise AssertionError('shared broker %s (status %s)\n%s' % (
                    'died' if crashed else 'exited badly on SIGTERM', rc, b.log_tail()))

    def setUp(self):
        self.clients = []
        self.brokers = []
        self._n = 0
        if self.shared_broker is not None:
            self.broker = self.shared_broker
            self.brokers.append(self.broker)
        else:
            self.broker = self.start_broker(self.CONFIG)
        self.port = self.broker.port

    def start_broker(self, config=None, check_exit=True, extra_args=()):
        b = Broker(config, extra_args)
        self.brokers.append(b)
        b.check_exit = check_exit
        self.addCleanup(b.cleanup)
        b.start()
        return b

    def tearDown(self):
        for c in self.clients:
            c.close()
        for b in self.brokers:
            if b is self.shared_broker:
                if not b.alive():
                    self.fail('shared broker died during the test\n' + b.log_tail())
                continue
            if b.proc is None or b.returncode is not None or not getattr(b, 'check_exit', True):
                continue   # never started, or stopped by the test itself
            rc = b.stop()
            if b.crashed:
                self.fail('broker died during the test (status %s)\n%s' % (rc, b.log_tail()))
            if rc != 0:
                self.fail('broker exited with status %s on SIGTERM\n%s' % (rc, b.log_tail()))

    # Names unique to this test, so a shared broker's state cannot leak.
    def uid(self, what='c'):
        self._n += 1
        base = self.id().split('.')[-1].replace('test_', '')[:40]
        return '%s-%s-%d' % (what, base, self._n)

    def topic(self, suffix=''):
        base = self.id().split('.')[-1].replace('test_', '')
        return 't/%s/%s' % (base, suffix) if suffix else 't/%s' % base

    def client(self, name=None, port=None):
        c = Client(port or self.port, name or 'client%d' % (len(self.clients) + 1))
        self.clients.append(c)
        return c

    def connected(self, client_id=None, name=None, port=None, **kw):
        """A client connected (CONNACK 0 checked) with the given CONNECT options."""
        c = self.client(name or client_id, port)
        c.do_connect(client_id if client_id is not None else self.uid(), **kw)
        return c

    def subscriber(self, filters, qos=0, client_id=None, **kw):
        if isinstance(filters, str):
            filters = [(filters, qos)]
        c = self.connected(client_id, name='sub', **kw)
        c.do_subscribe(filters)
        return c

    def assert_serves(self, port=None):
        """The broker still accepts a new client and routes a message."""
        t = self.topic('alive')
        s = self.subscriber(t)
        p = self.connected(name='alive-pub')
        p.do_publish(t, b'still here', 0)
        s.expect_publish(t, b'still here', 0)
        s.disconnect()
        p.disconnect()
