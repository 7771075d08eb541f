"""broker.py - the harness of mqchat's raw-packet broker tests.

What it is: a small, stdlib-only toolkit that starts a real broker process on
a free loopback port with a generated config in a fresh temporary directory,
speaks MQTT 3.1/3.1.1 (and, in the section at the end, 5.0) to it byte by
byte, and stops it again by PID. The
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
        self.http_port = None   # mqchatd's HTTP API (http.port), None for Mosquitto
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
                     'http.bind_address 127.0.0.1',
                     'data_dir %s' % self.path('data'), 'workers %d' % workers()]
            if 'http.port' not in self.config:
                lines.append('http.port %d' % self.http_port)
            # On by default (wss.port with a certificate): parallel brokers would collide.
            for key in ('ws.port', 'wss.port'):
                if key not in self.config:
                    lines.append('%s 0' % key)
            # The web page at / only where a test asks for it.
            if 'http.static_dir' not in self.config:
                lines.append('http.static_dir none')
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
            if not self.mosquitto:
                # The HTTP API gets a free port of its own, unless the test sets one.
                if 'http.port' in self.config:
                    self.http_port = int(self.config['http.port'])
                else:
                    self.http_port = free_port()
                    while self.http_port == self.port:
                        self.http_port = free_port()
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


# ---------------------------------------------------------------------------
# MQTT 5.0 (OASIS Standard, 7 March 2019). Everything below is added for the
# test_v5_*.py suites; nothing above changes behaviour because of it.
#
# Properties are given to the encoders as a list of (identifier, value)
# pairs, in the order they go on the wire (a list, so that repeated User
# Properties and wrong orders and duplicates can be written too); a User
# Property's value is a (name, value) pair. `props([...])` encodes the list
# with its length; tests that need a malformed property block write the
# bytes themselves and pass them as `raw_props`.

# Property identifiers (section 2.2.2.2).
P_PAYLOAD_FORMAT = 0x01
P_MESSAGE_EXPIRY = 0x02
P_CONTENT_TYPE = 0x03
P_RESPONSE_TOPIC = 0x08
P_CORRELATION_DATA = 0x09
P_SUBSCRIPTION_ID = 0x0B
P_SESSION_EXPIRY = 0x11
P_ASSIGNED_CLIENT_ID = 0x12
P_SERVER_KEEP_ALIVE = 0x13
P_AUTH_METHOD = 0x15
P_AUTH_DATA = 0x16
P_REQUEST_PROBLEM_INFO = 0x17
P_WILL_DELAY = 0x18
P_REQUEST_RESPONSE_INFO = 0x19
P_RESPONSE_INFO = 0x1A
P_SERVER_REFERENCE = 0x1C
P_REASON_STRING = 0x1F
P_RECEIVE_MAXIMUM = 0x21
P_TOPIC_ALIAS_MAXIMUM = 0x22
P_TOPIC_ALIAS = 0x23
P_MAXIMUM_QOS = 0x24
P_RETAIN_AVAILABLE = 0x25
P_USER_PROPERTY = 0x26
P_MAXIMUM_PACKET_SIZE = 0x27
P_WILDCARD_SUB_AVAILABLE = 0x28
P_SUB_ID_AVAILABLE = 0x29
P_SHARED_SUB_AVAILABLE = 0x2A

# Value types: one byte, two- and four-byte integers, variable byte integer,
# UTF-8 string, binary data, UTF-8 string pair.
_BYTE, _U16, _U32, _VARINT, _UTF8, _BIN, _PAIR = range(7)

PROPERTY_TYPES = {
    P_PAYLOAD_FORMAT: _BYTE, P_MESSAGE_EXPIRY: _U32, P_CONTENT_TYPE: _UTF8,
    P_RESPONSE_TOPIC: _UTF8, P_CORRELATION_DATA: _BIN, P_SUBSCRIPTION_ID: _VARINT,
    P_SESSION_EXPIRY: _U32, P_ASSIGNED_CLIENT_ID: _UTF8, P_SERVER_KEEP_ALIVE: _U16,
    P_AUTH_METHOD: _UTF8, P_AUTH_DATA: _BIN, P_REQUEST_PROBLEM_INFO: _BYTE,
    P_WILL_DELAY: _U32, P_REQUEST_RESPONSE_INFO: _BYTE, P_RESPONSE_INFO: _UTF8,
    P_SERVER_REFERENCE: _UTF8, P_REASON_STRING: _UTF8, P_RECEIVE_MAXIMUM: _U16,
    P_TOPIC_ALIAS_MAXIMUM: _U16, P_TOPIC_ALIAS: _U16, P_MAXIMUM_QOS: _BYTE,
    P_RETAIN_AVAILABLE: _BYTE, P_USER_PROPERTY: _PAIR, P_MAXIMUM_PACKET_SIZE: _U32,
    P_WILDCARD_SUB_AVAILABLE: _BYTE, P_SUB_ID_AVAILABLE: _BYTE, P_SHARED_SUB_AVAILABLE: _BYTE,
}

PROPERTY_NAMES = {
    P_PAYLOAD_FORMAT: 'PayloadFormat', P_MESSAGE_EXPIRY: 'MessageExpiry',
    P_CONTENT_TYPE: 'ContentType', P_RESPONSE_TOPIC: 'ResponseTopic',
    P_CORRELATION_DATA: 'CorrelationData', P_SUBSCRIPTION_ID: 'SubscriptionId',
    P_SESSION_EXPIRY: 'SessionExpiry', P_ASSIGNED_CLIENT_ID: 'AssignedClientId',
    P_SERVER_KEEP_ALIVE: 'ServerKeepAlive', P_AUTH_METHOD: 'AuthMethod',
    P_AUTH_DATA: 'AuthData', P_REQUEST_PROBLEM_INFO: 'RequestProblemInfo',
    P_WILL_DELAY: 'WillDelay', P_REQUEST_RESPONSE_INFO: 'RequestResponseInfo',
    P_RESPONSE_INFO: 'ResponseInfo', P_SERVER_REFERENCE: 'ServerReference',
    P_REASON_STRING: 'ReasonString', P_RECEIVE_MAXIMUM: 'ReceiveMaximum',
    P_TOPIC_ALIAS_MAXIMUM: 'TopicAliasMaximum', P_TOPIC_ALIAS: 'TopicAlias',
    P_MAXIMUM_QOS: 'MaximumQoS', P_RETAIN_AVAILABLE: 'RetainAvailable',
    P_USER_PROPERTY: 'UserProperty', P_MAXIMUM_PACKET_SIZE: 'MaximumPacketSize',
    P_WILDCARD_SUB_AVAILABLE: 'WildcardSubAvailable', P_SUB_ID_AVAILABLE: 'SubIdAvailable',
    P_SHARED_SUB_AVAILABLE: 'SharedSubAvailable',
}

# Reason codes (section 2.4) that the suites name.
RC_SUCCESS = 0x00
RC_GRANTED_QOS1 = 0x01
RC_GRANTED_QOS2 = 0x02
RC_DISCONNECT_WITH_WILL = 0x04
RC_NO_MATCHING_SUBSCRIBERS = 0x10
RC_NO_SUBSCRIPTION_EXISTED = 0x11
RC_UNSPECIFIED = 0x80
RC_MALFORMED = 0x81
RC_PROTOCOL_ERROR = 0x82
RC_UNSUPPORTED_PROTOCOL_VERSION = 0x84
RC_CLIENT_ID_NOT_VALID = 0x85
RC_BAD_USER_OR_PASSWORD = 0x86
RC_NOT_AUTHORIZED = 0x87
RC_SERVER_SHUTTING_DOWN = 0x8B
RC_BAD_AUTH_METHOD = 0x8C
RC_KEEP_ALIVE_TIMEOUT = 0x8D
RC_SESSION_TAKEN_OVER = 0x8E
RC_TOPIC_FILTER_INVALID = 0x8F
RC_TOPIC_NAME_INVALID = 0x90
RC_RECEIVE_MAXIMUM_EXCEEDED = 0x93
RC_TOPIC_ALIAS_INVALID = 0x94
RC_PACKET_TOO_LARGE = 0x95
RC_PAYLOAD_FORMAT_INVALID = 0x99
RC_SHARED_SUB_NOT_SUPPORTED = 0x9E

# The PUBACK reason for a QoS 1 PUBLISH that no subscription matches:
# mqchatd always answers 0x00; Mosquitto 2.0.11 answers 0x10 (No matching
# subscribers), which the specification allows (3.4.2.1).
PUBACK_NOBODY = RC_NO_MATCHING_SUBSCRIBERS if MOSQUITTO else RC_SUCCESS

# mqchatd keys that Mosquitto also has under the same name (max_packet_size
# is Mosquitto's only; tests pass it in Mosquitto mode only).
_MOSQ_SAME.update({'max_topic_alias', 'max_packet_size'})


def binary(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack('!H', len(b)) + b


def prop(pid, value):
    """One property: identifier (a variable byte integer) and its value."""
    t = PROPERTY_TYPES[pid]
    out = varint(pid)
    if t == _BYTE:
        return out + bytes([value])
    if t == _U16:
        return out + struct.pack('!H', value)
    if t == _U32:
        return out + struct.pack('!I', value)
    if t == _VARINT:
        return out + varint(value)
    if t == _UTF8:
        return out + string(value)
    if t == _BIN:
        return out + binary(value)
    name, val = value
    return out + string(name) + string(val)


def props(items=None):
    """The property block: Property Length then the properties in order.
    items: [(identifier, value), ...]; None or [] is the 1-byte empty block."""
    body = b''.join(prop(pid, v) for pid, v in (items or []))
    return varint(len(body)) + body


def _decode_varint(data, i, what='variable byte integer'):
    n, mult = 0, 1
    for k in range(4):
        if i >= len(data):
            raise AssertionError('truncated %s' % what)
        b = data[i]
        i += 1
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return n, i
    raise AssertionError('%s longer than 4 bytes' % what)


class Props:
    """A decoded property block: the (identifier, value) pairs in wire order.
    Strings are str, binary data bytes, a User Property a (name, value)."""

    def __init__(self, items=None):
        self.items = list(items or [])

    @classmethod
    def parse(cls, data, i):
        """Parses the block at data[i:]. Returns (Props, index after it);
        raises AssertionError when it is malformed."""
        length, i = _decode_varint(data, i, 'property length')
        end = i + length
        if end > len(data):
            raise AssertionError('property length %d runs past the packet' % length)
        items = []
        while i < end:
            pid, i = _decode_varint(data, i, 'property identifier')
            if pid not in PROPERTY_TYPES:
                raise AssertionError('unknown property identifier 0x%02x' % pid)
            t = PROPERTY_TYPES[pid]
            if t == _BYTE:
                v, i = data[i], i + 1
            elif t == _U16:
                v, i = struct.unpack('!H', data[i:i + 2])[0], i + 2
            elif t == _U32:
                v, i = struct.unpack('!I', data[i:i + 4])[0], i + 4
            elif t == _VARINT:
                v, i = _decode_varint(data, i)
            elif t in (_UTF8, _BIN):
                n = struct.unpack('!H', data[i:i + 2])[0]
                v = bytes(data[i + 2:i + 2 + n])
                i += 2 + n
                if t == _UTF8:
                    v = v.decode()   # raises on bad UTF-8: the broker sent it
            else:
                n = struct.unpack('!H', data[i:i + 2])[0]
                k = data[i + 2:i + 2 + n].decode()
                i += 2 + n
                n = struct.unpack('!H', data[i:i + 2])[0]
                v = (k, data[i + 2:i + 2 + n].decode())
                i += 2 + n
            if i > end:
                raise AssertionError('property 0x%02x runs past the property length' % pid)
            items.append((pid, v))
        return cls(items), end

    def get(self, pid, default=None):
        for k, v in self.items:
            if k == pid:
                return v
        return default

    def all(self, pid):
        return [v for k, v in self.items if k == pid]

    def ids(self):
        return [k for k, _ in self.items]

    def without(self, *pids):
        return [(k, v) for k, v in self.items if k not in pids]

    def __contains__(self, pid):
        return any(k == pid for k, _ in self.items)

    def __len__(self):
        return len(self.items)

    def __eq__(self, other):
        if isinstance(other, Props):
            other = other.items
        return self.items == list(other)

    def __repr__(self):
        return '{%s}' % ', '.join('%s=%r' % (PROPERTY_NAMES.get(k, hex(k)), v)
                                  for k, v in self.items)


def _remaining_start(raw):
    i = 1
    while raw[i] & 0x80:
        i += 1
    return i + 1


# Encoders (client to server, and the few server packets a test compares
# byte for byte).

def connect5(client_id, clean=True, keepalive=60, properties=None, will=None,
             will_properties=None, username=None, password=None, proto_name='MQTT',
             proto_level=5, flags=None, raw_props=None):
    """A v5 CONNECT. will: (topic, payload, qos, retain) with will_properties;
    raw_props replaces the encoded property block."""
    f = 0x02 if clean else 0
    payload = string(client_id)
    if will is not None:
        wtopic, wpayload, wqos, wretain = will
        f |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
        payload += props(will_properties) + string(wtopic) + binary(wpayload)
    if username is not None:
        f |= 0x80
        payload += string(username)
    if password is not None:
        f |= 0x40
        payload += binary(password)
    if flags is not None:
        f = flags
    block = raw_props if raw_props is not None else props(properties)
    body = (string(proto_name) + bytes([proto_level, f]) + struct.pack('!H', keepalive)
            + block + payload)
    return packet(0x10, body)


def publish5(topic, payload=b'', qos=0, retain=False, dup=False, mid=None, properties=None,
             raw_props=None):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = string(topic)
    if qos > 0:
        body += struct.pack('!H', mid)
    body += raw_props if raw_props is not None else props(properties)
    return packet(first, body + payload)


def _ack5(first, mid, reason, properties):
    """PUBACK/PUBREC/PUBREL/PUBCOMP: the short forms when they suffice
    (section 3.4.2.1: no reason code means 0x00, no property length means
    none)."""
    body = struct.pack('!H', mid)
    if reason != 0 or properties:
        body += bytes([reason])
        if properties:
            body += props(properties)
    return packet(first, body)


def puback5(mid, reason=0, properties=None):
    return _ack5(0x40, mid, reason, properties)


def pubrec5(mid, reason=0, properties=None):
    return _ack5(0x50, mid, reason, properties)


def pubrel5(mid, reason=0, properties=None):
    return _ack5(0x62, mid, reason, properties)


def pubcomp5(mid, reason=0, properties=None):
    return _ack5(0x70, mid, reason, properties)


def sub_opts(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    """The Subscription Options byte (section 3.8.3.1)."""
    return (qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0)
            | (retain_handling << 4))


def subscribe5(mid, filters, properties=None, raw_props=None):
    """filters: [(filter, options byte), ...] or one filter string (options 0)."""
    if isinstance(filters, str):
        filters = [(filters, 0)]
    body = struct.pack('!H', mid) + (raw_props if raw_props is not None else props(properties))
    for flt, opts in filters:
        body += string(flt) + bytes([opts])
    return packet(0x82, body)


def unsubscribe5(mid, filters, properties=None):
    if isinstance(filters, str):
        filters = [filters]
    body = struct.pack('!H', mid) + props(properties)
    for flt in filters:
        body += string(flt)
    return packet(0xA2, body)


def suback5(mid, codes, properties=None):
    return packet(0x90, struct.pack('!H', mid) + props(properties) + bytes(codes))


def unsuback5(mid, codes, properties=None):
    return packet(0xB0, struct.pack('!H', mid) + props(properties) + bytes(codes))


def disconnect5(reason=0, properties=None, raw_props=None):
    """DISCONNECT; reason 0 with no properties is the 2-byte form e0 00."""
    if raw_props is not None:
        return packet(0xE0, bytes([reason]) + raw_props)
    if reason == 0 and not properties:
        return DISCONNECT
    if not properties:
        return packet(0xE0, bytes([reason]))
    return packet(0xE0, bytes([reason]) + props(properties))


def auth5(reason=0, properties=None):
    return packet(0xF0, bytes([reason]) + props(properties))


# Decoders of what the broker sends. Each checks the fixed header flags and
# that the fields fill the remaining length exactly; AssertionError if not.

class Connack5:
    def __init__(self, raw):
        if raw[0] != 0x20:
            raise AssertionError('expected CONNACK, got %s' % hexs(raw))
        self.raw = raw
        i = _remaining_start(raw)
        if len(raw) - i < 2:
            raise AssertionError('CONNACK too short for v5: %s' % hexs(raw))
        if raw[i] & 0xFE:
            raise AssertionError('CONNACK acknowledge flags reserved bits set: %s' % hexs(raw))
        self.session_present = bool(raw[i] & 1)
        self.reason = raw[i + 1]
        if len(raw) == i + 2:
            raise AssertionError('v5 CONNACK without a property length: %s' % hexs(raw))
        self.props, end = Props.parse(raw, i + 2)
        if end != len(raw):
            raise AssertionError('CONNACK has %d bytes after its properties' % (len(raw) - end))

    def __repr__(self):
        return 'CONNACK5(present=%d reason=0x%02x props=%r)' % (
            self.session_present, self.reason, self.props)


class Publish5:
    def __init__(self, raw):
        first = raw[0]
        if first >> 4 != 3:
            raise AssertionError('expected PUBLISH, got %s' % hexs(raw))
        self.raw = raw
        self.dup = bool(first & 0x08)
        self.qos = (first >> 1) & 0x03
        self.retain = bool(first & 0x01)
        i = _remaining_start(raw)
        tlen = struct.unpack('!H', raw[i:i + 2])[0]
        self.topic = raw[i + 2:i + 2 + tlen].decode()
        i += 2 + tlen
        self.mid = None
        if self.qos:
            self.mid = struct.unpack('!H', raw[i:i + 2])[0]
            i += 2
        self.props, i = Props.parse(raw, i)
        self.payload = raw[i:]

    def __repr__(self):
        return 'PUBLISH5(topic=%r payload=%r qos=%d retain=%d dup=%d mid=%r props=%r)' % (
            self.topic, self.payload[:60], self.qos, self.retain, self.dup, self.mid, self.props)


ACK_NAMES = {4: 'PUBACK', 5: 'PUBREC', 6: 'PUBREL', 7: 'PUBCOMP'}


class Ack5:
    """PUBACK, PUBREC, PUBREL or PUBCOMP in any of its three lengths."""

    def __init__(self, raw):
        t = raw[0] >> 4
        if t not in ACK_NAMES or raw[0] & 0x0F != (2 if t == 6 else 0):
            raise AssertionError('expected PUBACK/PUBREC/PUBREL/PUBCOMP, got %s' % hexs(raw))
        self.raw = raw
        self.type = t
        i = _remaining_start(raw)
        n = len(raw) - i
        if n < 2:
            raise AssertionError('%s too short: %s' % (ACK_NAMES[t], hexs(raw)))
        self.mid = struct.unpack('!H', raw[i:i + 2])[0]
        self.reason = raw[i + 2] if n > 2 else 0
        self.props = Props()
        if n > 3:
            self.props, end = Props.parse(raw, i + 3)
            if end != len(raw):
                raise AssertionError('%s has bytes after its properties' % ACK_NAMES[t])

    def __repr__(self):
        return '%s(mid=%d reason=0x%02x props=%r)' % (ACK_NAMES[self.type], self.mid,
                                                     self.reason, self.props)


class Suback5:
    """SUBACK or UNSUBACK: packet id, properties, one reason code per filter."""

    def __init__(self, raw):
        if raw[0] not in (0x90, 0xB0):
            raise AssertionError('expected SUBACK/UNSUBACK, got %s' % hexs(raw))
        self.raw = raw
        self.type = raw[0] >> 4
        i = _remaining_start(raw)
        self.mid = struct.unpack('!H', raw[i:i + 2])[0]
        self.props, i = Props.parse(raw, i + 2)
        self.codes = list(raw[i:])

    def __repr__(self):
        return '%s(mid=%d codes=%s props=%r)' % ('SUBACK' if self.type == 9 else 'UNSUBACK',
                                                self.mid, [hex(c) for c in self.codes], self.props)


class Disconnect5:
    """DISCONNECT (or AUTH, type 15) from the server."""

    def __init__(self, raw):
        if raw[0] not in (0xE0, 0xF0):
            raise AssertionError('expected DISCONNECT, got %s' % hexs(raw))
        self.raw = raw
        self.type = raw[0] >> 4
        i = _remaining_start(raw)
        self.reason = raw[i] if len(raw) > i else 0
        self.props = Props()
        if len(raw) > i + 1:
            self.props, end = Props.parse(raw, i + 1)
            if end != len(raw):
                raise AssertionError('DISCONNECT has bytes after its properties')

    def __repr__(self):
        return '%s(reason=0x%02x props=%r)' % ('DISCONNECT' if self.type == 14 else 'AUTH',
                                              self.reason, self.props)


def decode5(raw):
    """The decoded form of any packet a v5 broker sends, for messages."""
    t = raw[0] >> 4
    try:
        if t == 2:
            return Connack5(raw)
        if t == 3:
            return Publish5(raw)
        if t in ACK_NAMES:
            return Ack5(raw)
        if t in (9, 11):
            return Suback5(raw)
        if t in (14, 15):
            return Disconnect5(raw)
    except (AssertionError, IndexError, struct.error, UnicodeDecodeError) as e:
        return 'undecodable (%s): %s' % (e, hexs(raw))
    return hexs(raw)


class Client5(Client):
    """A Client with MQTT 5 conversations. Acks it sends use the short
    forms; what it receives is decoded and compared field by field, and
    PUBLISH packets byte for byte with publish5()."""

    def _got(self, timeout, msg, what):
        try:
            got = self.read(timeout)
        except Closed:
            raise AssertionError('%s: connection closed, expected %s %s' % (self.name, what, msg))
        if got is None:
            raise AssertionError('%s: nothing within %.1f s, expected %s %s'
                                 % (self.name, timeout, what, msg))
        return got

    def expect_connack5(self, reason=0, session_present=False, timeout=WAIT, msg=''):
        got = self._got(timeout, msg, 'CONNACK')
        if got[0] != 0x20:
            raise AssertionError('%s: got %r, expected CONNACK %s' % (self.name, decode5(got), msg))
        c = Connack5(got)
        if c.reason != reason or (session_present is not None
                                  and c.session_present != session_present):
            raise AssertionError('%s: got %r, expected reason 0x%02x session present %s %s'
                                 % (self.name, c, reason, session_present, msg))
        return c

    def do_connect5(self, client_id, reason=0, session_present=False, **kw):
        self.send(connect5(client_id, **kw))
        self.connack = self.expect_connack5(reason, session_present,
                                            msg='(CONNACK for %r)' % client_id)
        return self.connack

    def expect_publish5(self, topic, payload, qos=0, retain=False, dup=False, properties=None,
                        timeout=WAIT, msg='', sub_ids=None):
        """Expects one PUBLISH equal byte for byte to publish5(...) with the
        broker's packet id and exactly the given properties. With sub_ids
        (a list), its Subscription Identifiers must be those, in any order
        and anywhere among the properties (the specification fixes no
        order), and the rest must be byte for byte `properties`. Returns it
        decoded."""
        got = self._got(timeout, msg, 'PUBLISH %r' % topic)
        if got[0] >> 4 != 3:
            raise AssertionError('%s: got %r, expected PUBLISH %r %s'
                                 % (self.name, decode5(got), topic, msg))
        p = Publish5(got)
        if qos and p.qos == qos and not p.mid:
            raise AssertionError('%s: PUBLISH with packet id 0: %s' % (self.name, hexs(got)))
        want = publish5(topic, payload, qos, retain, dup, p.mid if qos else None, properties)
        compared = got
        if sub_ids is not None:
            ids = p.props.all(P_SUBSCRIPTION_ID)
            if sorted(ids) != sorted(sub_ids):
                raise AssertionError('%s: got %r, expected Subscription Identifiers %s %s'
                                     % (self.name, p, sorted(sub_ids), msg))
            compared = publish5(p.topic, p.payload, p.qos, p.retain, p.dup, p.mid,
                                p.props.without(P_SUBSCRIPTION_ID))
        if compared != want:
            raise AssertionError('%s: got %r = %s\nexpected %r = %s %s'
                                 % (self.name, p, hexs(got), Publish5(want), hexs(want), msg))
        return p

    def next_publish5(self, timeout=WAIT, msg=''):
        got = self._got(timeout, msg, 'a PUBLISH')
        if got[0] >> 4 != 3:
            raise AssertionError('%s: got %r, expected a PUBLISH %s' % (self.name, decode5(got), msg))
        return Publish5(got)

    def ack(self, p):
        """Completes the receiver side of a decoded PUBLISH's QoS flow."""
        if p.qos == 1:
            self.send(puback5(p.mid))
        elif p.qos == 2:
            self.send(pubrec5(p.mid))
            self.expect_ack5(6, p.mid, msg='(PUBREL)')
            self.send(pubcomp5(p.mid))

    def receive5(self, topic, payload, qos=0, retain=False, dup=False, properties=None,
                 timeout=WAIT, msg='', sub_ids=None):
        """expect_publish5(), then the receiver's side of its QoS flow."""
        p = self.expect_publish5(topic, payload, qos, retain, dup, properties, timeout, msg,
                                 sub_ids)
        self.ack(p)
        return p

    def expect_ack5(self, ptype, mid, reason=0, msg=''):
        """Expects PUBACK (4) / PUBREC (5) / PUBREL (6) / PUBCOMP (7) for mid
        with the reason code; PUBLISH packets that arrive first are kept for
        the next read(). Returns it decoded."""
        held = []
        try:
            while True:
                got = self._got(WAIT, msg, ACK_NAMES[ptype])
                if got[0] >> 4 == 3:
                    held.append(got)
                    continue
                if got[0] >> 4 != ptype:
                    raise AssertionError('%s: got %r, expected %s %s'
                                         % (self.name, decode5(got), ACK_NAMES[ptype], msg))
                a = Ack5(got)
                if a.mid != mid or a.reason != reason:
                    raise AssertionError('%s: got %r = %s, expected %s mid %d reason 0x%02x %s'
                                         % (self.name, a, hexs(got), ACK_NAMES[ptype], mid,
                                            reason, msg))
                return a
        finally:
            self.pending[:0] = held

    def ping5(self):
        """PINGREQ/PINGRESP; PUBLISH packets that arrive first are kept."""
        self.send(PINGREQ)
        self.expect_ack(PINGRESP, msg='(PINGRESP)')

    def do_publish5(self, topic, payload, qos=0, retain=False, properties=None, reason=0):
        """Publishes with the full flow for qos, expecting `reason` in the
        PUBACK/PUBREC (a reason >= 0x80 on PUBREC ends the flow there). QoS 0
        is followed by a PINGREQ round trip. Returns the ack, decoded."""
        if qos == 0:
            self.send(publish5(topic, payload, 0, retain, properties=properties))
            self.ping5()
            return None
        m = self.mid()
        self.send(publish5(topic, payload, qos, retain, mid=m, properties=properties))
        if qos == 1:
            return self.expect_ack5(4, m, reason, msg='(PUBACK)')
        a = self.expect_ack5(5, m, reason, msg='(PUBREC)')
        if reason < 0x80:
            self.send(pubrel5(m))
            self.expect_ack5(7, m, msg='(PUBCOMP)')
        return a

    def do_subscribe5(self, filters, codes=None, properties=None):
        """filters: [(filter, options)] or a filter string; codes default to
        the requested QoS of each. Returns the SUBACK, decoded."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        m = self.mid()
        self.send(subscribe5(m, filters, properties))
        want = codes if codes is not None else [o & 3 for _, o in filters]
        got = self._got(WAIT, '', 'SUBACK')
        s = Suback5(got) if got[0] == 0x90 else None
        if s is None or s.mid != m or s.codes != list(want):
            raise AssertionError('%s: got %r, expected SUBACK mid %d codes %s (for %r)'
                                 % (self.name, decode5(got), m, [hex(c) for c in want], filters))
        return s

    def do_unsubscribe5(self, filters, codes=None):
        if isinstance(filters, str):
            filters = [filters]
        m = self.mid()
        self.send(unsubscribe5(m, filters))
        want = codes if codes is not None else [0] * len(filters)
        got = self._got(WAIT, '', 'UNSUBACK')
        s = Suback5(got) if got[0] == 0xB0 else None
        if s is None or s.mid != m or s.codes != list(want):
            raise AssertionError('%s: got %r, expected UNSUBACK mid %d codes %s'
                                 % (self.name, decode5(got), m, [hex(c) for c in want]))
        return s

    def expect_disconnect(self, reason, timeout=WAIT, msg='', close_ok=False):
        """Expects a DISCONNECT with the reason code, then the connection
        closed. close_ok: a close with no DISCONNECT is accepted too (only
        where the test notes a Mosquitto deviation). Returns the
        DISCONNECT decoded, or None for a bare close."""
        try:
            got = self.read(timeout)
        except Closed:
            if close_ok:
                return None
            raise AssertionError('%s: connection closed, expected DISCONNECT 0x%02x first %s'
                                 % (self.name, reason, msg))
        if got is None:
            raise AssertionError('%s: nothing within %.1f s, expected DISCONNECT 0x%02x %s'
                                 % (self.name, timeout, reason, msg))
        if got[0] != 0xE0 or Disconnect5(got).reason != reason:
            raise AssertionError('%s: got %r, expected DISCONNECT 0x%02x %s'
                                 % (self.name, decode5(got), reason, msg))
        d = Disconnect5(got)
        self.expect_closed(msg='(after DISCONNECT 0x%02x) %s' % (reason, msg))
        return d

    def expect_nothing5(self, timeout=QUIET, msg=''):
        try:
            got = self.read(timeout)
        except Closed:
            raise AssertionError('%s: connection closed, expected it to stay open %s' % (self.name, msg))
        if got is not None:
            raise AssertionError('%s: unexpected %r %s' % (self.name, decode5(got), msg))

    def disconnect5(self, reason=0, properties=None, wait=True):
        """Sends DISCONNECT (reason, properties) and, with wait, waits
        (bounded) for the broker to close the connection."""
        try:
            self.send(disconnect5(reason, properties))
            if wait:
                deadline = time.monotonic() + WAIT
                while self._fill(deadline):
                    pass
        except (OSError, Closed):
            pass
        self.close()


class BrokerTest5(BrokerTest):
    """BrokerTest with MQTT 5 clients (Client5)."""

    def client5(self, name=None, port=None):
        c = Client5(port or self.port, name or 'client%d' % (len(self.clients) + 1))
        self.clients.append(c)
        return c

    def connected5(self, client_id=None, name=None, port=None, session_present=False, **kw):
        """A v5 client connected (CONNACK reason 0x00 checked); its decoded
        CONNACK is c.connack."""
        c = self.client5(name or client_id, port)
        c.do_connect5(client_id if client_id is not None else self.uid(),
                      session_present=session_present, **kw)
        return c

    def subscriber5(self, filters, opts=0, client_id=None, sub_properties=None, **kw):
        """A v5 client subscribed to filters ([(filter, options)] or one
        filter with opts)."""
        if isinstance(filters, str):
            filters = [(filters, opts)]
        c = self.connected5(client_id, name='sub', **kw)
        c.do_subscribe5(filters, properties=sub_properties)
        return c
