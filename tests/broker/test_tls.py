"""MQTT over TLS (doc/transports.md, "TLS"): the tls.port listener with
certificates made here, at test time, with the openssl CLI.

Covered: a round trip with the server verified against the CA (by IP and by
name), TLS and TCP clients exchanging messages; TLS 1.0 and 1.1 refused,
1.2-only and 1.3-only clients accepted; client certificates with tls.ca
(optional: none is fine, one from another CA fails) and with
tls.require_certificate (none fails, another CA's fails, ours works);
close_notify after the broker's last bytes; SIGHUP reloading tls.cert /
tls.key (new connections get the new certificate, open ones keep working)
and tls.ca, and a broken file or a key that does not match leaving the old
ones in force with an error logged; start-up errors (tls.cert without
tls.key and the other way round, a missing or garbage file, a key that does
not match, tls.require_certificate without tls.ca, an unreadable tls.ca, a
TLS port in use) exit non-zero with the reason on stderr; garbage and plain
MQTT on the TLS port are closed and the broker goes on; a client that stops
in the middle of the handshake, or never starts it, is closed after
conn.handshake_timeout; 50 concurrent handshakes do not stall a TCP client.

Also the shared pieces of the transport suites (test_ws.py and
tests/chat/test_chat_transports.py import them):
  - Certs / CERTS: the certificates (made once per process, removed at exit);
  - TransportBroker: a Broker whose `tls.port`, `ws.port`, `wss.port` may
    be 'free' (a free port, chosen again at each start attempt; the ports
    chosen are in b.ports), that waits until those ports accept, and that,
    for Mosquitto, writes the TLS and websockets listeners as Mosquitto
    spells them (keys without an equivalent are left out there: the tests
    that need them are mqchatd-only);
  - TransportTest: a BrokerTest5 running TransportBrokers;
  - TLSClient: broker.Client over TLS; client_context().

Mosquitto 2.0 (MQCHAT_BROKER=/usr/sbin/mosquitto) runs the tests that do not
depend on mqchatd's keys (conn.handshake_timeout), its log, its command line
or SIGHUP reloading of certificates.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from broker import (MOSQUITTO, START_TIMEOUT, WAIT, Broker, BrokerTest5, Client, Closed,
                    PINGREQ, PINGRESP, broker_binary, connack, connect, free_port)

mqchatd_only = unittest.skipIf(MOSQUITTO, 'mqchatd only')
HANDSHAKE_MS = 1000   # conn.handshake_timeout in the tests that wait for it


# ---------------------------------------------------------------------------
# Certificates.

_CA_CNF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

_LEAF_CNF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class Certs:
    """Certificates made with the openssl CLI in a temporary directory:
    ca, other_ca (two CAs); server (CN mqchat test server, SAN 127.0.0.1 and
    localhost, by ca); client (by ca); other_client (by other_ca). Each is
    NAME.pem and NAME.key; path(NAME) is the .pem, key(NAME) the .key.
    make_server(NAME, cn) makes another server certificate by ca with a new
    serial (for reload tests)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='mqchat-certs-')
        self._serial = int(time.time()) % 100000 * 100
        with open(os.path.join(self.dir, 'ca.cnf'), 'w') as f:
            f.write(_CA_CNF)
        with open(os.path.join(self.dir, 'leaf.cnf'), 'w') as f:
            f.write(_LEAF_CNF)
        self.make_ca('ca', 'mqchat test CA')
        self.make_ca('other_ca', 'mqchat other CA')
        self.make_server('server', 'mqchat test server')
        self.make_leaf('client', 'ca', 'mqchat test client', 'client')
        self.make_leaf('other_client', 'other_ca', 'mqchat stranger', 'client')

    def _openssl(self, *args):
        r = subprocess.run(['openssl'] + list(args), cwd=self.dir, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            raise RuntimeError('openssl %s failed (%d): %s' % (' '.join(args), r.returncode,
                                                              r.stdout.decode(errors='replace')))

    def serial(self):
        self._serial += 1
        return str(self._serial)

    def path(self, name):
        return os.path.join(self.dir, name + '.pem')

    def key(self, name):
        return os.path.join(self.dir, name + '.key')

    def der(self, name):
        with open(self.path(name)) as f:
            return ssl.PEM_cert_to_DER_cert(f.read())

    def make_ca(self, name, cn):
        self._openssl('req', '-x509', '-new', '-config', 'ca.cnf', '-extensions', 'v3_ca',
                      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                      '-keyout', name + '.key', '-out', name + '.pem', '-days', '3',
                      '-subj', '/CN=' + cn, '-set_serial', self.serial())

    def make_leaf(self, name, ca, cn, kind):
        self._openssl('req', '-new', '-config', 'leaf.cnf', '-newkey', 'ec', '-pkeyopt',
                      'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', name + '.key',
                      '-out', name + '.csr', '-subj', '/CN=' + cn)
        self._openssl('x509', '-req', '-in', name + '.csr', '-CA', ca + '.pem', '-CAkey',
                      ca + '.key', '-set_serial', self.serial(), '-days', '3', '-extfile',
                      'leaf.cnf', '-extensions', kind, '-out', name + '.pem')

    def make_server(self, name, cn):
        self.make_leaf(name, 'ca', cn, 'server')

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


CERTS = Certs()
atexit.register(CERTS.cleanup)


def server_tls_config(ca=None, require=None):
    """The tls.* keys for the server certificate (and tls.ca, require)."""
    c = {'tls.cert': CERTS.path('server'), 'tls.key': CERTS.key('server')}
    if ca:
        c['tls.ca'] = CERTS.path(ca)
    if require is not None:
        c['tls.require_certificate'] = require
    return c


def client_context(verify=True, cert=None, minimum=None, maximum=None, ca='ca'):
    """A client SSLContext: verifying the server against CERTS' ca (and its
    name), or not at all; with cert (a Certs name) as client certificate;
    minimum/maximum ssl.TLSVersion."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(CERTS.path(ca))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(CERTS.path(cert), CERTS.key(cert))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


# ---------------------------------------------------------------------------
# The broker with more listeners.

PORT_KEYS = ('tls.port', 'ws.port', 'wss.port')
_TLS_KEYS = ('tls.cert', 'tls.key', 'tls.ca', 'tls.require_certificate')
_NO_MOSQUITTO = ('conn.handshake_timeout', 'ws.path', 'ws.origins', 'ws.max_frame_bytes',
                 'http.static_dir')


def port_accepts(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
        return True
    except OSError:
        return False


class TransportBroker(Broker):
    """A Broker with TLS and WebSocket listeners (see the module docstring)."""

    def __init__(self, config=None, extra_args=()):
        super().__init__(config, extra_args)
        self.ports = {}

    def _resolved(self):
        out = dict(self.config)
        taken = {self.port, self.http_port}
        self.ports = {}
        for k in PORT_KEYS:
            if out.get(k) == 'free':
                p = free_port()
                while p in taken:
                    p = free_port()
                out[k] = p
            if k in out and int(out[k]):
                taken.add(int(out[k]))
                self.ports[k] = int(out[k])
        return out

    def _config_text(self):
        full = self.config
        resolved = self._resolved()
        if not self.mosquitto:
            self.config = resolved
            try:
                return super()._config_text()
            finally:
                self.config = full
        self.config = {k: v for k, v in resolved.items()
                       if k not in PORT_KEYS + _TLS_KEYS + _NO_MOSQUITTO}
        try:
            text = super()._config_text()
        finally:
            self.config = full
        tls = []
        if resolved.get('tls.cert'):
            tls = ['certfile %s' % resolved['tls.cert'], 'keyfile %s' % resolved['tls.key']]
            if resolved.get('tls.ca'):
                tls.append('cafile %s' % resolved['tls.ca'])
                tls.append('require_certificate %s'
                           % ('true' if resolved.get('tls.require_certificate') else 'false'))
        lines = []
        if 'tls.port' in self.ports and tls:
            lines += ['listener %d 127.0.0.1' % self.ports['tls.port']] + tls
        if 'ws.port' in self.ports:
            lines += ['listener %d 127.0.0.1' % self.ports['ws.port'], 'protocol websockets']
        if 'wss.port' in self.ports and tls:
            lines += ['listener %d 127.0.0.1' % self.ports['wss.port'], 'protocol websockets'] + tls
        if not tls:   # (mqchatd: no TLS listener without a certificate)
            self.ports.pop('tls.port', None)
            self.ports.pop('wss.port', None)
        return text + '\n'.join(lines) + '\n'

    def start(self):
        super().start()
        if not self.mosquitto and not self.config.get('tls.cert'):
            self.ports.pop('tls.port', None)
            self.ports.pop('wss.port', None)
        deadline = time.monotonic() + START_TIMEOUT
        for key, port in self.ports.items():
            while not port_accepts(port):
                if not self.alive() or time.monotonic() > deadline:
                    raise RuntimeError('%s %d does not accept\n%s' % (key, port, self.log_tail()))
                time.sleep(0.02)
        return self


class TLSClient(Client):
    """A broker.Client over TLS (handshake done in the constructor, which
    raises ssl.SSLError / OSError when it fails). ragged=False: a close
    without close_notify is an error (SSLEOFError) instead of an EOF."""

    def __init__(self, port, name='tls', ctx=None, server_hostname='127.0.0.1', ragged=True):
        self.name = name
        raw = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = (ctx or client_context()).wrap_socket(
                raw, server_hostname=server_hostname, suppress_ragged_eofs=ragged)
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray()
        self.eof = False
        self.next_mid = 1
        self.pending = []

    def _fill(self, deadline):
        try:
            return super()._fill(deadline)
        except ssl.SSLZeroReturnError:
            self.eof = True
            raise Closed()


class TransportTest(BrokerTest5):
    """BrokerTest5 on TransportBrokers: CONFIG may say 'free' for tls.port,
    ws.port, wss.port; self.ports are the ports chosen."""

    @classmethod
    def setUpClass(cls):
        cls.shared_broker = None
        if cls.SHARED:
            b = TransportBroker(cls.CONFIG)
            try:
                b.start()
            except BaseException:
                b.cleanup()
                raise
            cls.shared_broker = b

    def start_broker(self, config=None, check_exit=True, extra_args=()):
        b = TransportBroker(config, extra_args)
        self.brokers.append(b)
        b.check_exit = check_exit
        self.addCleanup(b.cleanup)
        b.start()
        return b

    @property
    def ports(self):
        return self.broker.ports

    def tls(self, ctx=None, name=None, port=None, **kw):
        c = TLSClient(port or self.ports['tls.port'], name or 'tls%d' % (len(self.clients) + 1),
                      ctx, **kw)
        self.clients.append(c)
        return c

    def tls_connected(self, ctx=None, name=None, port=None, client_id=None,
                      server_hostname='127.0.0.1', **kw):
        """A TLS client connected (CONNACK 0 checked); kw are CONNECT's."""
        c = self.tls(ctx, name, port, server_hostname=server_hostname)
        c.do_connect(client_id or self.uid(), **kw)
        return c

    def round_trip(self, pub, sub, what=b'hello', qos=(0, 1, 2)):
        """sub subscribes, pub publishes at each QoS, sub receives each."""
        t = self.topic(self.uid('rt'))
        sub.do_subscribe([(t, 2)])
        for q in qos:
            payload = what + b' qos %d' % q
            pub.do_publish(t, payload, q)
            sub.receive(t, payload, q)
        sub.do_unsubscribe(t)

    def tls_works(self, ctx, port=None):
        """True when a TLS client with ctx gets through the handshake and a
        CONNECT/CONNACK and PINGREQ/PINGRESP (TLS 1.3 reports a refused
        client certificate only after the client's side of the handshake);
        else the error, as text."""
        try:
            c = self.tls(ctx, port=port)
            c.send(connect(self.uid()))
            got = c.read(WAIT)
            if got != connack(False, 0):
                return 'got %r instead of CONNACK' % (got,)
            c.send(PINGREQ)
            got = c.read(WAIT)
            if got != PINGRESP:
                return 'got %r instead of PINGRESP' % (got,)
            c.disconnect()
            return True
        except (ssl.SSLError, OSError, Closed) as e:
            return '%s: %s' % (type(e).__name__, e)

    def assert_tls_works(self, ctx, msg='', port=None):
        r = self.tls_works(ctx, port)
        self.assertIs(r, True, '%s: %s' % (msg, r))

    def assert_tls_fails(self, ctx, msg='', port=None):
        self.assertIsNot(self.tls_works(ctx, port), True, '%s: the TLS session worked' % msg)

    def wait_closed_raw(self, sock, timeout):
        """Reads (and drops) until sock is closed by the broker; returns the
        seconds it took, or None when it is still open after timeout."""
        start = time.monotonic()
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            try:
                d = sock.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, BrokenPipeError):
                d = b''
            if not d:
                return time.monotonic() - start


def client_hello():
    """The bytes of a TLS ClientHello (made by an ssl.SSLObject on memory
    BIOs), for a client that then stops."""
    ctx = client_context(verify=False)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False, server_hostname='127.0.0.1')
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


# ---------------------------------------------------------------------------
# The tests.

TLS_CONFIG = dict(server_tls_config(), **{'tls.port': 'free', 'conn.handshake_timeout':
                                          HANDSHAKE_MS})


class TLSTest(TransportTest):
    SHARED = True
    CONFIG = TLS_CONFIG

    def test_round_trip_server_verified_against_ca(self):
        c = self.tls_connected(client_context())
        self.assertIn(c.sock.version(), ('TLSv1.2', 'TLSv1.3'))
        self.assertEqual(c.sock.getpeercert(binary_form=True), CERTS.der('server'),
                         'the broker presents tls.cert')
        self.assertEqual(dict(x[0] for x in c.sock.getpeercert()['subject'])['commonName'],
                         'mqchat test server')
        self.round_trip(c, c)
        c.disconnect()

    def test_server_verified_by_name(self):
        c = self.tls_connected(client_context(), server_hostname='localhost')
        c.ping()

    def test_unknown_ca_refused_by_client(self):
        # (the client side of the check: the server is not signed by other_ca)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.tls(client_context(ca='other_ca'))

    def test_tls_and_tcp_clients_talk_both_ways(self):
        t = self.tls_connected(name='tls')
        p = self.connected(name='tcp')
        self.round_trip(p, t, b'tcp to tls')
        self.round_trip(t, p, b'tls to tcp')
        # A retained message published over TLS, read over TCP and the other way.
        rt = self.topic(self.uid('ret'))
        t.do_publish(rt + '/a', b'kept by tls', 1, retain=True)
        p.do_publish(rt + '/b', b'kept by tcp', 1, retain=True)
        s1 = self.connected(name='tcp-late')
        s1.do_subscribe([(rt + '/a', 0)])
        s1.expect_publish(rt + '/a', b'kept by tls', 0, retain=True)
        s2 = self.tls_connected(name='tls-late')
        s2.do_subscribe([(rt + '/b', 0)])
        s2.expect_publish(rt + '/b', b'kept by tcp', 0, retain=True)
        t.do_publish(rt + '/a', b'', 0, retain=True)
        p.do_publish(rt + '/b', b'', 0, retain=True)

    def test_session_moves_between_tcp_and_tls(self):
        # A persistent session made over TCP, resumed over TLS with what was
        # queued for it, then over TCP again.
        cid = self.uid('mover')
        t = self.topic(self.uid('q'))
        c = self.connected(cid, clean=False)
        c.do_subscribe([(t, 1)])
        c.disconnect()
        p = self.connected(name='pub')
        p.do_publish(t, b'queued while away', 1)
        s = self.tls(name='resumed')
        s.do_connect(cid, clean=False, expect_connack=connack(True, 0))
        s.receive(t, b'queued while away', 1)
        p.do_publish(t, b'live over tls', 1)
        s.receive(t, b'live over tls', 1)
        s.disconnect()
        c2 = self.client('back')
        c2.do_connect(cid, clean=False, expect_connack=connack(True, 0))
        p.do_publish(t, b'back on tcp', 1)
        c2.receive(t, b'back on tcp', 1)
        c2.disconnect()

    def test_large_message_over_tls(self):
        c = self.tls_connected()
        s = self.connected(name='tcp-sub')
        t = self.topic()
        s.do_subscribe([(t, 1)])
        big = os.urandom(200 * 1024)
        c.do_publish(t, big, 1)
        s.receive(t, big, 1)
        c.do_subscribe([(t + '/back', 1)])
        s.do_publish(t + '/back', big, 1)
        c.receive(t + '/back', big, 1)

    def test_tls10_and_tls11_refused(self):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            if not _client_can_speak(version):
                self.skipTest('this OpenSSL will not speak %s even at SECLEVEL=0: the '
                              "broker's refusal cannot be told from our own" % version.name)
            ctx = _old_tls_context(version)
            with self.assertRaises((ssl.SSLError, OSError), msg='%s accepted' % version.name):
                c = self.tls(ctx)
                c.send(connect(self.uid()))
                if c.read(WAIT) is None:
                    raise OSError('no answer')
        self.assert_tls_works(client_context(), 'after the refusals')

    def test_tls12_only_client(self):
        c = self.tls_connected(client_context(minimum=ssl.TLSVersion.TLSv1_2,
                                              maximum=ssl.TLSVersion.TLSv1_2))
        self.assertEqual(c.sock.version(), 'TLSv1.2')
        self.round_trip(c, c)

    def test_tls13_only_client(self):
        c = self.tls_connected(client_context(minimum=ssl.TLSVersion.TLSv1_3,
                                              maximum=ssl.TLSVersion.TLSv1_3))
        self.assertEqual(c.sock.version(), 'TLSv1.3')
        self.round_trip(c, c)

    def test_no_client_certificate_asked_without_tls_ca(self):
        # Without tls.ca a client certificate is neither asked for nor
        # checked: one from a strange CA does no harm.
        self.assert_tls_works(client_context(cert='other_client'), 'stranger cert, no tls.ca')
        self.assert_tls_works(client_context(), 'no cert')

    @mqchatd_only
    def test_close_notify_after_disconnect(self):
        # DISCONNECT: the broker closes with a close_notify alert, which
        # Python reports as a clean EOF (a bare TCP close would be SSLEOFError).
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = self.tls(client_context(minimum=version, maximum=version), ragged=False)
            c.do_connect(self.uid())
            c.send(b'\xe0\x00')
            try:
                c.expect_closed()
            except ssl.SSLEOFError as e:
                self.fail('%s: closed without close_notify: %s' % (version.name, e))

    @mqchatd_only
    def test_close_notify_answered(self):
        # The client ends the TLS session first: the broker answers with its
        # own close_notify (unwrap() waits for it).
        c = self.tls(ragged=False)
        c.do_connect(self.uid())
        c.sock.settimeout(WAIT)
        try:
            c.sock.unwrap()
        except (ssl.SSLError, OSError) as e:
            self.fail('no close_notify in answer to ours: %r' % e)

    @mqchatd_only
    def test_close_notify_after_refused_connect(self):
        # The broker's last bytes (CONNACK 0x01), then close_notify.
        c = self.tls(ragged=False)
        c.send(connect(self.uid(), proto_level=9))
        c.expect(connack(False, 1))
        try:
            c.expect_closed()
        except ssl.SSLEOFError as e:
            self.fail('closed without close_notify: %s' % e)

    def test_garbage_on_tls_port_closed(self):
        for junk in (b'GET / HTTP/1.1\r\nHost: x\r\n\r\n', b'\x16\x03\x01\x00\x05hello',
                     b'\x00' * 64, os.urandom(3000)):
            s = socket.create_connection(('127.0.0.1', self.ports['tls.port']), timeout=WAIT)
            try:
                s.sendall(junk)
                took = self.wait_closed_raw(s, WAIT)
                self.assertIsNotNone(took, 'still open after %r' % junk[:20])
            finally:
                s.close()
        self.assert_tls_works(client_context(), 'after the garbage')
        self.assert_serves()

    def test_plain_mqtt_on_tls_port_gets_no_connack(self):
        s = socket.create_connection(('127.0.0.1', self.ports['tls.port']), timeout=WAIT)
        try:
            s.sendall(connect(self.uid()))
            got = b''
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                s.settimeout(deadline - time.monotonic())
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    self.fail('still open after a plain CONNECT on the TLS port')
                except ConnectionResetError:
                    d = b''
                if not d:
                    break
                got += d
            self.assertFalse(got.startswith(b'\x20\x02'), 'a CONNACK in clear: %r' % got)
        finally:
            s.close()
        self.assert_tls_works(client_context())

    def test_client_that_aborts_the_handshake(self):
        # ClientHellos, then the clients go away (close, RST): no harm.
        for abort in (False, True):
            for _ in range(5):
                s = socket.create_connection(('127.0.0.1', self.ports['tls.port']), timeout=WAIT)
                s.sendall(client_hello())
                if abort:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
                s.close()
        self.assert_tls_works(client_context())

    @mqchatd_only
    def test_stalled_handshake_closed_after_timeout(self):
        s = socket.create_connection(('127.0.0.1', self.ports['tls.port']), timeout=WAIT)
        try:
            s.sendall(client_hello())
            took = self.wait_closed_raw(s, HANDSHAKE_MS / 1000 + 2.5)
            self.assertIsNotNone(took, 'a ClientHello and then silence: still open after %.1f s '
                                 '(conn.handshake_timeout %d ms)' % (HANDSHAKE_MS / 1000 + 2.5,
                                                                     HANDSHAKE_MS))
            self.assertGreaterEqual(took, HANDSHAKE_MS / 1000 * 0.9, 'closed before the timeout')
        finally:
            s.close()
        self.assert_tls_works(client_context())

    @mqchatd_only
    def test_silent_client_closed_after_timeout(self):
        s = socket.create_connection(('127.0.0.1', self.ports['tls.port']), timeout=WAIT)
        try:
            took = self.wait_closed_raw(s, HANDSHAKE_MS / 1000 + 2.5)
            self.assertIsNotNone(took, 'a TLS client that sends nothing: still open')
            self.assertGreaterEqual(took, HANDSHAKE_MS / 1000 * 0.9, 'closed before the timeout')
        finally:
            s.close()

    @mqchatd_only
    def test_finished_handshake_is_not_timed_out(self):
        # The timeout covers the handshake only: a TLS client that is
        # through it and waits before its CONNECT is not closed for that.
        c = self.tls()
        time.sleep(HANDSHAKE_MS / 1000 + 1.2)
        c.do_connect(self.uid())
        c.ping()

    def test_many_concurrent_handshakes_do_not_stall_tcp(self):
        n = 50
        results = [None] * n
        ctx = client_context()
        go = threading.Event()

        def one(i):
            go.wait(WAIT)
            try:
                c = TLSClient(self.ports['tls.port'], 'tls%d' % i, ctx)
                try:
                    c.do_connect('%s-%d' % (self.uid('many'), i))
                    c.ping()
                    results[i] = True
                finally:
                    c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = '%s: %s' % (type(e).__name__, e)

        tcp = self.connected(name='tcp')
        t = self.topic()
        tcp.do_subscribe([(t, 0)])
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
        for th in threads:
            th.start()
        go.set()
        worst = 0.0
        k = 0
        while any(th.is_alive() for th in threads) or k < 5:
            start = time.monotonic()
            tcp.do_publish(t, b'ping %d' % k, 0)
            tcp.expect_publish(t, b'ping %d' % k, 0)
            worst = max(worst, time.monotonic() - start)
            k += 1
            if k > 2000:
                break
            time.sleep(0.01)
        for th in threads:
            th.join(30)
        bad = [(i, r) for i, r in enumerate(results) if r is not True]
        self.assertEqual(bad, [], 'TLS clients that failed')
        self.assertLess(worst, 2.0, 'a TCP round trip took %.2f s during %d handshakes'
                        % (worst, n))


def _old_tls_context(version):
    ctx = client_context(verify=False, minimum=version, maximum=version)
    ctx.set_ciphers('DEFAULT:@SECLEVEL=0')
    return ctx


_can_speak = {}


def _client_can_speak(version):
    """Whether our client side can do `version` at all: a handshake with a
    Python server of that version in a thread."""
    if version in _can_speak:
        return _can_speak[version]
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        sctx.minimum_version = version
        sctx.maximum_version = version
        sctx.set_ciphers('DEFAULT:@SECLEVEL=0')
        sctx.load_cert_chain(CERTS.path('server'), CERTS.key('server'))
    except (ssl.SSLError, ValueError):
        _can_speak[version] = False
        return False
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(1)
    ok = [False]

    def serve():
        try:
            ls.settimeout(WAIT)
            conn, _ = ls.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                s.recv(1)
        except (OSError, ssl.SSLError):
            pass
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with socket.create_connection(ls.getsockname(), timeout=WAIT) as raw:
            with _old_tls_context(version).wrap_socket(raw) as s:
                ok[0] = s.version() is not None
                s.sendall(b'x')
    except (OSError, ssl.SSLError):
        pass
    th.join(WAIT)
    ls.close()
    _can_speak[version] = ok[0]
    return ok[0]


class ClientCertRequiredTest(TransportTest):
    SHARED = True
    CONFIG = dict(server_tls_config('ca', True), **{'tls.port': 'free'})

    def test_no_client_certificate_fails(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            self.assert_tls_fails(client_context(minimum=v, maximum=v), 'no cert, %s' % v.name)

    def test_client_certificate_of_another_ca_fails(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            self.assert_tls_fails(client_context(cert='other_client', minimum=v, maximum=v),
                                  'other CA, %s' % v.name)

    def test_server_certificate_as_client_certificate_fails(self):
        # Signed by the right CA, but for serverAuth only.
        if self.mosquitto:
            self.skipTest('Mosquitto does not check the extended key usage')
        self.assert_tls_fails(client_context(cert='server'), 'server cert as client cert')

    def test_client_certificate_of_our_ca_works(self):
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = client_context(cert='client', minimum=v, maximum=v)
            self.assert_tls_works(ctx, 'our cert, %s' % v.name)
        c = self.tls_connected(client_context(cert='client'))
        self.round_trip(c, c)

    def test_certificate_is_not_a_login(self):
        # The certificate does not stand in for MQTT authentication: this
        # broker allows anonymous clients, so any user name goes, and the
        # plain TCP port needs no certificate at all.
        c = self.tls_connected(client_context(cert='client'), username='anyone', password='x')
        c.ping()
        self.assert_serves()


class ClientCertOptionalTest(TransportTest):
    SHARED = True
    CONFIG = dict(server_tls_config('ca'), **{'tls.port': 'free'})

    def test_no_client_certificate_works(self):
        self.assert_tls_works(client_context(), 'no cert')

    def test_client_certificate_of_another_ca_fails(self):
        if self.mosquitto:
            self.skipTest('Mosquitto asks for no client certificate without require_certificate')
        for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            self.assert_tls_fails(client_context(cert='other_client', minimum=v, maximum=v),
                                  'other CA, %s' % v.name)

    def test_client_certificate_of_our_ca_works(self):
        self.assert_tls_works(client_context(cert='client'), 'our cert')


@mqchatd_only
class ReloadTest(TransportTest):
    """SIGHUP reloads tls.cert, tls.key, tls.ca from copies in the broker's
    directory, which the tests replace."""

    def setUp(self):
        self.clients = []
        self.brokers = []
        self._n = 0
        self.files = tempfile.mkdtemp(prefix='mqchat-reload-')
        self.addCleanup(shutil.rmtree, self.files, True)
        self.place('cert.pem', CERTS.path('server'))
        self.place('key.pem', CERTS.key('server'))
        self.place('ca.pem', CERTS.path('ca'))
        self.broker = self.start_broker({'tls.port': 'free', 'tls.cert': self.f('cert.pem'),
                                         'tls.key': self.f('key.pem'), 'tls.ca': self.f('ca.pem')})
        self.port = self.broker.port

    def f(self, name):
        return os.path.join(self.files, name)

    def place(self, name, src=None, data=None):
        """Replaces files/name (write and rename) with src's bytes or data."""
        if src is not None:
            with open(src, 'rb') as f:
                data = f.read()
        tmp = self.f(name + '.tmp')
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, self.f(name))

    def peer_cert(self):
        c = TLSClient(self.ports['tls.port'], 'probe', client_context())
        try:
            c.do_connect(self.uid('probe'))
            return c.sock.getpeercert(binary_form=True)
        finally:
            c.close()

    def wait_peer_cert(self, want, what):
        deadline = time.monotonic() + WAIT
        got = None
        while time.monotonic() < deadline:
            got = self.peer_cert()
            if got == want:
                return
            time.sleep(0.05)
        self.fail('new connections do not present %s after SIGHUP\n%s' % (what,
                                                                          self.broker.log_tail()))

    def log_lines(self):
        return self.broker.log.splitlines()

    def wait_log(self, pattern, after, what):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for line in self.log_lines()[after:]:
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        self.fail('no log line like %r (%s)\n%s' % (pattern, what, self.broker.log_tail()))

    def test_sighup_reloads_certificate(self):
        old = CERTS.der('server')
        self.assertEqual(self.peer_cert(), old)
        a = self.tls_connected(name='open-before')
        t = self.topic()
        a.do_subscribe([(t, 1)])
        CERTS.make_server('server2', 'mqchat reloaded server')
        self.place('cert.pem', CERTS.path('server2'))
        self.place('key.pem', CERTS.key('server2'))
        self.broker.signal(signal.SIGHUP)
        self.wait_peer_cert(CERTS.der('server2'), 'the new certificate')
        # The connection made before keeps working (with the old certificate).
        self.assertEqual(a.sock.getpeercert(binary_form=True), old)
        b = self.tls_connected(name='after')
        self.assertEqual(b.sock.getpeercert(binary_form=True), CERTS.der('server2'))
        b.do_publish(t, b'new to old', 1)
        a.receive(t, b'new to old', 1)
        a.do_publish(t, b'old to itself', 1)
        a.receive(t, b'old to itself', 1)
        a.ping()

    def test_sighup_reloads_certificate_when_the_acl_fails(self):
        # The password and ACL files and the certificate reload apart: a
        # broken ACL file does not hold back a certificate rotation.
        with open(self.f('acl'), 'w') as f:
            f.write('topic readwrite #\n')
        self.broker.stop()
        self.broker = self.start_broker({'tls.port': 'free', 'tls.cert': self.f('cert.pem'),
                                         'tls.key': self.f('key.pem'), 'acl_file': self.f('acl')})
        CERTS.make_server('server3', 'mqchat rotated server')
        self.place('cert.pem', CERTS.path('server3'))
        self.place('key.pem', CERTS.key('server3'))
        os.unlink(self.f('acl'))
        self.broker.signal(signal.SIGHUP)
        self.wait_peer_cert(CERTS.der('server3'), 'the new certificate (ACL reload failed)')

    def test_sighup_with_broken_certificate_keeps_old(self):
        old = CERTS.der('server')
        a = self.tls_connected(name='open-before')
        n = len(self.log_lines())
        self.place('cert.pem',
                   data=b'-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n')
        self.broker.signal(signal.SIGHUP)
        self.wait_log(r'\berror\b.*(tls|cert)', n, 'a broken tls.cert')
        self.assertEqual(self.peer_cert(), old, 'the old certificate stays in force')
        self.assert_tls_works(client_context(), 'after a failed reload')
        a.ping()
        # Fixed files and another SIGHUP: loaded.
        CERTS.make_server('server3', 'mqchat fixed server')
        self.place('cert.pem', CERTS.path('server3'))
        self.place('key.pem', CERTS.key('server3'))
        self.broker.signal(signal.SIGHUP)
        self.wait_peer_cert(CERTS.der('server3'), 'the fixed certificate')

    def test_sighup_with_mismatched_key_keeps_old(self):
        old = CERTS.der('server')
        n = len(self.log_lines())
        CERTS.make_server('server4', 'mqchat half-changed server')
        self.place('cert.pem', CERTS.path('server4'))   # the key stays the old one
        self.broker.signal(signal.SIGHUP)
        self.wait_log(r'\berror\b.*(tls|key)', n, 'a key that does not match')
        self.assertEqual(self.peer_cert(), old)
        self.assert_tls_works(client_context())

    def test_sighup_with_missing_file_keeps_old(self):
        old = CERTS.der('server')
        n = len(self.log_lines())
        os.unlink(self.f('key.pem'))
        self.broker.signal(signal.SIGHUP)
        self.wait_log(r'\berror\b.*(tls|key)', n, 'tls.key missing')
        self.assertEqual(self.peer_cert(), old)

    def test_sighup_reloads_ca(self):
        self.assert_tls_works(client_context(cert='client'), 'our client, old tls.ca')
        self.assert_tls_fails(client_context(cert='other_client'), 'stranger, old tls.ca')
        self.place('ca.pem', CERTS.path('other_ca'))
        self.broker.signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT
        while self.tls_works(client_context(cert='other_client')) is not True:
            if time.monotonic() > deadline:
                self.fail('tls.ca not reloaded: other_ca\'s client still refused\n'
                          + self.broker.log_tail())
            time.sleep(0.05)
        self.assert_tls_fails(client_context(cert='client'), 'our client, new tls.ca')


@mqchatd_only
class StartupErrorTest(unittest.TestCase):
    """Bad TLS configurations stop mqchatd at start-up, with the reason."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='mqchat-tlsconf-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_broker(self, tls_lines):
        conf = os.path.join(self.dir, 'mqchat.conf')
        lines = ['port %d' % free_port(), 'bind_address 127.0.0.1', 'http.port 0',
                 'ws.port 0', 'wss.port 0', 'tls.port %d' % free_port(),
                 'data_dir %s' % os.path.join(self.dir, 'data'), 'allow_anonymous true']
        with open(conf, 'w') as f:
            f.write('\n'.join(lines + tls_lines) + '\n')
        try:
            r = subprocess.run([broker_binary(), '-c', conf], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                               cwd=self.dir)
        except subprocess.TimeoutExpired:
            self.fail('mqchatd did not exit with %r' % tls_lines)
        return r.returncode, r.stderr.decode(errors='replace')

    def refused(self, tls_lines, *words):
        rc, err = self.run_broker(tls_lines)
        self.assertNotEqual(rc, 0, '%r: started' % tls_lines)
        for w in words:
            self.assertIn(w, err, '%r: stderr does not say %r: %r' % (tls_lines, w, err))

    def garbage(self, name):
        p = os.path.join(self.dir, name)
        with open(p, 'w') as f:
            f.write('not a PEM file\n')
        return p

    def test_cert_without_key(self):
        self.refused(['tls.cert %s' % CERTS.path('server')], 'tls.key')

    def test_key_without_cert(self):
        self.refused(['tls.key %s' % CERTS.key('server')], 'tls.cert')

    def test_missing_cert_file(self):
        self.refused(['tls.cert %s' % os.path.join(self.dir, 'nope.pem'),
                      'tls.key %s' % CERTS.key('server')], 'tls.cert')

    def test_missing_key_file(self):
        self.refused(['tls.cert %s' % CERTS.path('server'),
                      'tls.key %s' % os.path.join(self.dir, 'nope.key')], 'tls.key')

    def test_garbage_cert_file(self):
        self.refused(['tls.cert %s' % self.garbage('g.pem'), 'tls.key %s' % CERTS.key('server')],
                     'tls.cert')

    def test_key_not_matching(self):
        self.refused(['tls.cert %s' % CERTS.path('server'), 'tls.key %s' % CERTS.key('client')],
                     'tls.key')

    def test_require_certificate_without_ca(self):
        self.refused(['tls.cert %s' % CERTS.path('server'), 'tls.key %s' % CERTS.key('server'),
                      'tls.require_certificate true'], 'tls.ca')

    def test_unreadable_ca(self):
        self.refused(['tls.cert %s' % CERTS.path('server'), 'tls.key %s' % CERTS.key('server'),
                      'tls.ca %s' % os.path.join(self.dir, 'nope-ca.pem')], 'tls.ca')

    def test_tls_port_in_use(self):
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        try:
            conf_port = s.getsockname()[1]
            conf = os.path.join(self.dir, 'inuse.conf')
            with open(conf, 'w') as f:
                f.write('port %d\nbind_address 127.0.0.1\nhttp.port 0\nws.port 0\nwss.port 0\n'
                        'tls.port %d\ntls.cert %s\ntls.key %s\ndata_dir %s\n'
                        % (free_port(), conf_port, CERTS.path('server'), CERTS.key('server'),
                           os.path.join(self.dir, 'data')))
            try:
                r = subprocess.run([broker_binary(), '-c', conf], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                                   cwd=self.dir)
            except subprocess.TimeoutExpired:
                self.fail('mqchatd started although tls.port %d is taken' % conf_port)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(str(conf_port), r.stderr.decode(errors='replace'))
        finally:
            s.close()

    def test_good_config_starts(self):
        # (the control: the same lines with a good pair start and serve)
        b = TransportBroker(dict(server_tls_config('ca', True), **{'tls.port': 'free'}))
        try:
            b.start()
            self.assertTrue(b.alive())
        finally:
            b.cleanup()


if __name__ == '__main__':
    unittest.main()
