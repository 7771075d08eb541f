"""MQTT over WebSocket (doc/transports.md, "WebSocket (RFC 6455)" and
"Secure WebSocket"), spoken frame by frame: the upgrade and its refusals,
MQTT in binary frames however they are cut, the frame-level errors, the
close handshake both ways, timeouts, shutdown, and the same over TLS (wss).

The upgrade: 101 with the right Sec-WebSocket-Accept and the protocol chosen
(mqtt; mqttv3.1 when only that is offered; mqtt when both are), header names
in any case, Connection as a token list, a query string ignored; refusals
400 (no key, a bad key, no mqtt protocol, HTTP/1.0, no Upgrade, a folded
header), 403 (Origin not in ws.origins; no Origin and listed origins are
allowed; `*` allows any), 404 (another path), 405 (POST), 426 (version 12,
answer naming version 13), 431 (over 8 KiB before the blank line), each
followed by the broker closing the connection.

After it: CONNECT/CONNACK, SUBSCRIBE, PUBLISH at each QoS, a 200 KB message
both ways; a WebSocket client, a TCP client (and a TLS one over wss) are
equal citizens: messages both ways, retained messages, a session made over
TCP resumed over WS. A packet split over frames, over a fragmented message
(BINARY fin=0, CONTINUATION) with a ping in between (pong, same payload),
one frame per byte; several packets in one frame; the frame bytes of a
CONNECT trickled one by one; empty frames; unsolicited pongs ignored.

Errors: an unmasked frame, reserved bits, an unknown opcode, a continuation
without a start -> close 1002; a text frame -> 1003; a frame over
ws.max_frame_bytes -> 1009 (one of exactly that size is fine, and so is a
message of several frames under it that is larger in total); each followed
by the TCP close, the will published, the broker serving on. A malformed
MQTT packet inside WS -> close 1000 (3.1.1) or DISCONNECT 0x81 then 1000
(MQTT 5), like TCP.

Closing: a client's close 1000 (1001) is answered with the same status and
the TCP close, and its will is published; keep alive expiry -> close 1000
(and DISCONNECT 0x8D first for MQTT 5); SIGTERM -> close 1001 (DISCONNECT
0x8B first for MQTT 5). conn.handshake_timeout (1000 ms here): half an
upgrade request, nothing at all, a wss client that never starts TLS, are
closed in ~1-2 s; a finished upgrade is not timed out.

Mosquitto 2.0 (websockets listeners, libwebsockets) runs the tests whose
behaviour it shares; the HTTP refusals, the close statuses, keys it does not
have (ws.path, ws.origins, ws.max_frame_bytes, conn.handshake_timeout) and
shutdown are mqchatd's.
"""

import base64
import hashlib
import os
import signal
import socket
import ssl
import struct
import time
import unittest

from broker import (MOSQUITTO, QUIET, WAIT, Client, Client5, Closed, DISCONNECT, PINGREQ,
                    PINGRESP, RC_KEEP_ALIVE_TIMEOUT, RC_MALFORMED, RC_SERVER_SHUTTING_DOWN,
                    connack, connect, hexs, publish, publish5, subscribe, suback)
from test_tls import (CERTS, HANDSHAKE_MS, TransportTest, client_context, server_tls_config)

mqchatd_only = unittest.skipIf(MOSQUITTO, 'mqchatd only')

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# ---------------------------------------------------------------------------
# Frames and the upgrade.

def frame(payload, opcode=OP_BINARY, fin=True, mask=True, rsv=0, key=None):
    """One WebSocket frame (client to server: masked unless mask=False)."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack('!H', n)
    else:
        head += bytes([mbit | 127]) + struct.pack('!Q', n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_frame(code=1000, reason=b''):
    return frame(struct.pack('!H', code) + reason, OP_CLOSE)


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def request(path='/mqtt', key=None, protocol='mqtt', version='13', origin=None, method='GET',
            http='HTTP/1.1', upgrade='websocket', connection='Upgrade', extra=(), lower=False):
    """An upgrade request; a header given as None is left out. extra:
    (name, value) pairs, or raw lines (str)."""
    heads = [('Host', '127.0.0.1'), ('Upgrade', upgrade), ('Connection', connection),
             ('Sec-WebSocket-Key', new_key() if key is None else key),
             ('Sec-WebSocket-Version', version), ('Sec-WebSocket-Protocol', protocol),
             ('Origin', origin)]
    if key is False:
        heads[3] = ('Sec-WebSocket-Key', None)
    lines = ['%s %s %s' % (method, path, http)]
    for name, value in heads:
        if value is not None:
            lines.append('%s: %s' % (name.lower() if lower else name, value))
    for e in extra:
        lines.append(e if isinstance(e, str) else '%s: %s' % e)
    return ('\r\n'.join(lines) + '\r\n\r\n').encode()


def read_head(sock, deadline, buf=b''):
    """Reads an HTTP answer's head. Returns (status, reason, headers with
    lower-case names, bytes after the head); status None when the
    connection closed or the deadline passed first (headers then hold what
    came, under '')."""
    while b'\r\n\r\n' not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, 'timeout', {'': buf}, b''
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except socket.timeout:
            return None, 'timeout', {'': buf}, b''
        except (ConnectionResetError, BrokenPipeError):
            d = b''
        if not d:
            return None, 'closed', {'': buf}, b''
        buf += d
    head, rest = buf.split(b'\r\n\r\n', 1)
    lines = head.decode('latin-1').split('\r\n')
    parts = lines[0].split(' ', 2)
    heads = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        heads[k.strip().lower()] = v.strip()
    heads[''] = lines[0]
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        status = -1
    return status, parts[2] if len(parts) > 2 else '', heads, rest


def open_socket(port, tls_ctx=None):
    s = socket.create_connection(('127.0.0.1', port), timeout=WAIT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls_ctx is not None:
        try:
            s = tls_ctx.wrap_socket(s, server_hostname='127.0.0.1')
        except BaseException:
            s.close()
            raise
    return s


class UpgradeRefused(AssertionError):
    pass


class WSMixin:
    """A broker.Client (or Client5) whose MQTT bytes travel in WebSocket
    frames: send() puts its bytes in one masked binary frame; reading
    takes the payload of the broker's data frames, checks that they are
    unmasked binary frames, and records control frames (pings, pongs, the
    close frame). frames: every frame the broker sent, (fin, opcode,
    payload)."""

    def _ws_init(self, port, name, tls_ctx=None, req=None, **req_kw):
        self.name = name
        self.sock = open_socket(port, tls_ctx)
        self.buf = bytearray()
        self.eof = False
        self.next_mid = 1
        self.pending = []
        self.raw = bytearray()
        self.frames = []
        self.pongs = []
        self.close_payload = None
        self.key = req_kw.pop('key', None) or new_key()
        self.request = req or request(key=self.key, **req_kw)
        self.sock.sendall(self.request)
        status, reason, heads, rest = read_head(self.sock, time.monotonic() + WAIT)
        self.answer = heads
        if status != 101:
            self.close()
            raise UpgradeRefused('%s: upgrade answered %s %s %r' % (name, status, reason, heads))
        self.raw += rest

    # -- sending

    def send(self, data):
        self.sock.sendall(frame(data))

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_close(self, code=1000, reason=b''):
        self.sock.sendall(close_frame(code, reason))

    # -- receiving

    @property
    def close_code(self):
        if self.close_payload is None:
            return None
        if len(self.close_payload) < 2:
            return 1005
        return struct.unpack('!H', self.close_payload[:2])[0]

    def _parse(self):
        """Takes the whole frames out of raw. True when it took any."""
        took = False
        while True:
            b = self.raw
            if len(b) < 2:
                return took
            if b[1] & 0x80:
                raise AssertionError('%s: the broker sent a masked frame: %s'
                                     % (self.name, hexs(b)))
            if b[0] & 0x70:
                raise AssertionError('%s: the broker set reserved bits: %s' % (self.name, hexs(b)))
            n, i = b[1] & 0x7F, 2
            if n == 126:
                if len(b) < 4:
                    return took
                n, i = struct.unpack('!H', b[2:4])[0], 4
            elif n == 127:
                if len(b) < 10:
                    return took
                n, i = struct.unpack('!Q', b[2:10])[0], 10
            if len(b) < i + n:
                return took
            fin, op, payload = bool(b[0] & 0x80), b[0] & 0x0F, bytes(b[i:i + n])
            del b[:i + n]
            took = True
            if self.close_payload is not None:
                raise AssertionError('%s: a frame (opcode %d) after the close frame: %s'
                                     % (self.name, op, hexs(payload)))
            self.frames.append((fin, op, payload))
            if op in (OP_BINARY, OP_CONT):
                self.buf += payload
            elif op == OP_CLOSE:
                self.close_payload = payload
            elif op == OP_PONG:
                self.pongs.append(payload)
            elif op == OP_PING:
                self.sock.sendall(frame(payload, OP_PONG))
            else:
                raise AssertionError('%s: the broker sent opcode %d: %s' % (self.name, op,
                                                                            hexs(payload)))

    def _recv(self, deadline):
        """More raw bytes: True; False on timeout; EOF sets eof."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLZeroReturnError):
            data = b''
        if not data:
            self.eof = True
            return True
        self.raw += data
        return True

    def _fill(self, deadline):
        while True:
            before = len(self.buf)
            self._parse()
            if len(self.buf) > before:
                return True
            if self.eof:
                raise Closed()
            if not self._recv(deadline):
                return False

    def wait_for(self, cond, timeout=WAIT, what='it'):
        """Reads frames until cond() holds (MQTT bytes pile up in buf)."""
        deadline = time.monotonic() + timeout
        while not cond():
            self._parse()
            if cond():
                return
            if self.eof:
                raise AssertionError('%s: connection closed, expected %s' % (self.name, what))
            if not self._recv(deadline):
                raise AssertionError('%s: nothing within %.1f s, expected %s'
                                     % (self.name, timeout, what))

    def expect_pong(self, payload, timeout=WAIT):
        n = len(self.pongs)
        self.wait_for(lambda: len(self.pongs) > n, timeout, 'a pong')
        if self.pongs[n] != payload:
            raise AssertionError('%s: pong %r, expected %r' % (self.name, self.pongs[n], payload))

    def expect_ws_close(self, code, timeout=WAIT, msg='', mqtt_ok=False):
        """Expects the broker's close frame with status `code`, then the TCP
        close with nothing after the frame. Unread MQTT bytes before it are
        a failure unless mqtt_ok."""
        deadline = time.monotonic() + timeout
        while self.close_payload is None:
            self._parse()
            if self.close_payload is not None:
                break
            if self.eof:
                raise AssertionError('%s: TCP closed without a close frame (expected %d) %s'
                                     % (self.name, code, msg))
            if not self._recv(deadline):
                raise AssertionError('%s: no close frame within %.1f s (expected %d) %s'
                                     % (self.name, timeout, code, msg))
        if self.buf and not mqtt_ok:
            raise AssertionError('%s: MQTT bytes before the close frame: %s %s'
                                 % (self.name, hexs(self.buf), msg))
        if self.close_code != code:
            raise AssertionError('%s: close status %s (%r), expected %d %s'
                                 % (self.name, self.close_code, self.close_payload, code, msg))
        self.expect_tcp_close(msg='(after close %d) %s' % (code, msg))

    def expect_tcp_close(self, timeout=WAIT, msg=''):
        deadline = time.monotonic() + timeout
        while not self.eof:
            self._parse()
            if self.raw:
                raise AssertionError('%s: bytes after the close frame: %s %s'
                                     % (self.name, hexs(self.raw), msg))
            if not self._recv(deadline):
                raise AssertionError('%s: TCP still open %.1f s after the close frame %s'
                                     % (self.name, timeout, msg))
        self._parse()


class WSClient(WSMixin, Client):
    """MQTT 3.1.1 over WebSocket (see WSMixin)."""

    def __init__(self, port, name='ws', tls_ctx=None, req=None, **req_kw):
        self._ws_init(port, name, tls_ctx, req, **req_kw)


class WSClient5(WSMixin, Client5):
    """MQTT 5 over WebSocket."""

    def __init__(self, port, name='ws5', tls_ctx=None, req=None, **req_kw):
        self._ws_init(port, name, tls_ctx, req, **req_kw)


def http_exchange(port, data, tls_ctx=None, timeout=WAIT):
    """Sends data (an upgrade request) and reads everything until the broker
    closes. Returns (status, headers, body, closed): closed is False when
    the connection was still open after timeout."""
    s = open_socket(port, tls_ctx)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        status, _, heads, rest = read_head(s, deadline)
        if status is None:
            return None, heads, b'', heads.get('') is not None and _ == 'closed'
        body = rest
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return status, heads, body, False
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                return status, heads, body, False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLZeroReturnError):
                d = b''
            if not d:
                return status, heads, body, True
            body += d
    finally:
        s.close()


# ---------------------------------------------------------------------------
# The base class.

WS_CONFIG = {'ws.port': 'free', 'conn.handshake_timeout': HANDSHAKE_MS}


class WSTest(TransportTest):
    SHARED = True
    CONFIG = WS_CONFIG

    def ws(self, name=None, port=None, **kw):
        """A WebSocket client, upgraded (101 checked)."""
        c = WSClient(port or self.ports['ws.port'], name or 'ws%d' % (len(self.clients) + 1), **kw)
        self.clients.append(c)
        return c

    def ws5(self, name=None, port=None, **kw):
        c = WSClient5(port or self.ports['ws.port'], name or 'ws5-%d' % (len(self.clients) + 1),
                      **kw)
        self.clients.append(c)
        return c

    def ws_connected(self, client_id=None, name=None, port=None, ws_kw=None, **kw):
        c = self.ws(name or client_id, port, **(ws_kw or {}))
        c.do_connect(client_id or self.uid(), **kw)
        return c

    def ws5_connected(self, client_id=None, name=None, port=None, ws_kw=None, **kw):
        c = self.ws5(name or client_id, port, **(ws_kw or {}))
        c.do_connect5(client_id or self.uid(), **kw)
        return c

    def refused(self, data, status, msg='', port=None):
        """data is answered with `status` and the connection closed."""
        got, heads, body, closed = http_exchange(port or self.ports['ws.port'], data)
        self.assertEqual(got, status, '%s: answered %r %r (request %r)' % (msg, heads.get(''),
                                                                         body[:200], data[:300]))
        self.assertTrue(closed, '%s: the broker did not close the connection after %d'
                        % (msg, status))
        return heads, body

    def assert_ws_serves(self, port=None):
        """A new WebSocket client still gets through and round-trips."""
        c = self.ws_connected(name='ws-alive', port=port)
        self.round_trip(c, c, b'ws alive', qos=(1,))
        c.disconnect()


# ---------------------------------------------------------------------------
# The upgrade.

class UpgradeTest(WSTest):

    def test_upgrade_answer(self):
        key = new_key()
        c = self.ws(key=key)
        self.assertEqual(c.answer.get('sec-websocket-accept'), accept_for(key), repr(c.answer))
        self.assertEqual(c.answer.get('sec-websocket-protocol'), 'mqtt', repr(c.answer))
        self.assertEqual(c.answer.get('upgrade', '').lower(), 'websocket', repr(c.answer))
        self.assertIn('upgrade', c.answer.get('connection', '').lower(), repr(c.answer))
        self.assertTrue(c.answer[''].startswith('HTTP/1.1 101'), repr(c.answer))
        c.do_connect(self.uid())
        c.ping()

    def test_mqttv31_only_gets_mqttv31(self):
        c = self.ws(protocol='mqttv3.1')
        self.assertEqual(c.answer.get('sec-websocket-protocol'), 'mqttv3.1')
        c.do_connect(self.uid())
        c.ping()

    def test_both_offered_gets_mqtt(self):
        for offer in ('mqttv3.1, mqtt', 'mqtt, mqttv3.1', 'chat, mqttv3.1,mqtt'):
            first = [p.strip() for p in offer.split(',') if p.strip().startswith('mqtt')][0]
            if self.mosquitto and first != 'mqtt':
                continue   # (Mosquitto takes the first one offered)
            c = self.ws(protocol=offer)
            self.assertEqual(c.answer.get('sec-websocket-protocol'), 'mqtt', offer)
            c.close()

    def test_mqtt_among_other_protocols(self):
        c = self.ws(protocol='wamp, mqtt, soap')
        self.assertEqual(c.answer.get('sec-websocket-protocol'), 'mqtt')

    def test_header_names_any_case_connection_token_list(self):
        c = self.ws(lower=True, upgrade='WebSocket', connection='keep-alive, Upgrade')
        c.do_connect(self.uid())
        c.ping()
        self.ws(connection='upgrade', upgrade='websocket').close()

    def test_protocol_offered_over_two_header_lines(self):
        # (HTTP: repeated header lines are one comma-separated list)
        c = self.ws(protocol='wamp', extra=[('Sec-WebSocket-Protocol', 'mqtt')])
        self.assertEqual(c.answer.get('sec-websocket-protocol'), 'mqtt')

    def test_query_string_ignored(self):
        c = self.ws(path='/mqtt?token=abc&x=1')
        c.do_connect(self.uid())
        c.ping()

    def test_other_headers_ignored(self):
        deflate = 'permessage-deflate; client_max_window_bits'
        c = self.ws(extra=[('User-Agent', 'test_ws'), ('Sec-WebSocket-Extensions', deflate),
                           ('Cookie', 'a=b')])
        self.assertNotIn('sec-websocket-extensions', c.answer, 'no extension is agreed')
        c.do_connect(self.uid())
        c.ping()

    def test_mqtt_bytes_right_behind_the_request(self):
        # The CONNECT frame in the same segment as the request.
        key = new_key()
        s = open_socket(self.ports['ws.port'])
        try:
            s.sendall(request(key=key) + frame(connect(self.uid())) + frame(PINGREQ))
            status, _, heads, rest = read_head(s, time.monotonic() + WAIT)
            self.assertEqual(status, 101, repr(heads))
            # (CONNACK and PINGRESP: one frame or two)
            forms = (b'\x82\x04' + connack(False, 0) + b'\x82\x02' + PINGRESP,
                     b'\x82\x06' + connack(False, 0) + PINGRESP)
            deadline = time.monotonic() + WAIT
            while rest not in forms and len(rest) < 10 and time.monotonic() < deadline:
                s.settimeout(deadline - time.monotonic())
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    break
                if not d:
                    break
                rest += d
            self.assertIn(rest, forms, hexs(rest))
        finally:
            s.close()

    # -- refusals

    @mqchatd_only
    def test_400_no_key(self):
        self.refused(request(key=False), 400, 'no Sec-WebSocket-Key')

    @mqchatd_only
    def test_400_bad_key(self):
        for key in ('not base64 at all!', base64.b64encode(os.urandom(15)).decode(),
                    base64.b64encode(os.urandom(17)).decode(), ''):
            self.refused(request(key=key), 400, 'key %r' % key)

    @mqchatd_only
    def test_400_no_mqtt_protocol(self):
        for protocol in ('chat', 'mqttv5', 'MQTTX', None):
            self.refused(request(protocol=protocol), 400, 'protocol %r' % protocol)

    @mqchatd_only
    def test_400_http10(self):
        self.refused(request(http='HTTP/1.0'), 400, 'HTTP/1.0')

    @mqchatd_only
    def test_400_no_upgrade(self):
        self.refused(request(upgrade=None), 400, 'no Upgrade')
        self.refused(request(upgrade='h2c'), 400, 'Upgrade: h2c')
        self.refused(request(connection='keep-alive'), 400, 'Connection without Upgrade')

    @mqchatd_only
    def test_400_folded_header(self):
        self.refused(request(extra=['X-Folded: one', ' two']), 400, 'folded header')

    @mqchatd_only
    def test_400_garbage(self):
        self.refused(b'\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\r\n\r\n', 400, 'MQTT, not HTTP')

    @mqchatd_only
    def test_404_wrong_path(self):
        for path in ('/', '/other', '/mqttx', '/mqtt/', '/MQTT'):
            self.refused(request(path=path), 404, path)

    @mqchatd_only
    def test_405_post(self):
        self.refused(request(method='POST'), 405, 'POST')

    @mqchatd_only
    def test_426_version_12(self):
        heads, _ = self.refused(request(version='12'), 426, 'version 12')
        self.assertEqual(heads.get('sec-websocket-version'), '13', repr(heads))

    @mqchatd_only
    def test_431_request_too_large(self):
        # 9 KiB of header, no blank line yet; then a whole request of 8300 bytes.
        req = request(extra=[('X-Pad', 'p' * 9000)])
        self.refused(req[:-2], 431, 'over 8 KiB, no blank line')
        self.refused(request(extra=[('X-Pad', 'p' * 8100)]), 431, 'over 8 KiB with its blank line')
        # Just under the limit is fine.
        base = len(request(extra=[('X-Pad', '')]))
        c = self.ws(extra=[('X-Pad', 'p' * (8192 - base - 60))])
        c.do_connect(self.uid())

    @mqchatd_only
    def test_refusals_leave_broker_serving(self):
        for req in (request(key=False), request(version='12'), request(path='/x'),
                    request(method='PUT')):
            got, _, _, closed = http_exchange(self.ports['ws.port'], req)
            self.assertTrue(got and got >= 400 and closed, got)
        self.assert_ws_serves()
        self.assert_serves()

    def test_client_gone_during_upgrade(self):
        for cut in (10, 60):
            s = open_socket(self.ports['ws.port'])
            s.sendall(request()[:cut])
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\0\0\0\0\0\0\0')
            s.close()
        self.assert_ws_serves()


@mqchatd_only
class OriginTest(WSTest):
    CONFIG = dict(WS_CONFIG, **{'ws.origins': 'https://chat.example.com http://localhost:8080'})

    def test_403_origin_not_listed(self):
        for origin in ('https://evil.example.com', 'https://chat.example.com.evil.com',
                       'http://chat.example.com', 'https://chat.example.com:443', 'null',
                       'http://localhost:8081'):
            self.refused(request(origin=origin), 403, 'Origin %r' % origin)

    def test_no_origin_allowed(self):
        c = self.ws(origin=None)
        c.do_connect(self.uid())
        c.ping()

    def test_listed_origins_allowed(self):
        for origin in ('https://chat.example.com', 'http://localhost:8080'):
            c = self.ws(origin=origin)
            c.do_connect(self.uid())
            c.ping()
            c.disconnect()


@mqchatd_only
class AnyOriginTest(WSTest):
    CONFIG = dict(WS_CONFIG, **{'ws.origins': 'https://a.example *'})

    def test_star_allows_any(self):
        for origin in ('https://evil.example.com', 'https://a.example', 'null'):
            c = self.ws(origin=origin)
            c.close()


@mqchatd_only
class PathTest(WSTest):
    CONFIG = dict(WS_CONFIG, **{'ws.path': '/chat/mqtt'})

    def test_configured_path(self):
        c = self.ws(path='/chat/mqtt')
        c.do_connect(self.uid())
        c.ping()
        self.refused(request(path='/mqtt'), 404, 'the default path')


# ---------------------------------------------------------------------------
# MQTT in frames.

class FramesTest(WSTest):

    def test_round_trip(self):
        c = self.ws_connected()
        self.round_trip(c, c, b'over ws')
        c.disconnect()

    def test_ws_and_tcp_clients_talk_both_ways(self):
        w = self.ws_connected(name='ws')
        p = self.connected(name='tcp')
        self.round_trip(p, w, b'tcp to ws')
        self.round_trip(w, p, b'ws to tcp')
        rt = self.topic(self.uid('ret'))
        w.do_publish(rt, b'kept by ws', 1, retain=True)
        late = self.connected(name='tcp-late')
        late.do_subscribe([(rt, 1)])
        late.receive(rt, b'kept by ws', 1, retain=True)
        p.do_publish(rt, b'kept by tcp', 1, retain=True)
        late2 = self.ws_connected(name='ws-late')
        late2.do_subscribe([(rt, 1)])
        late2.receive(rt, b'kept by tcp', 1, retain=True)
        p.do_publish(rt, b'', 0, retain=True)

    def test_session_moves_between_tcp_and_ws(self):
        cid = self.uid('mover')
        t = self.topic(self.uid('q'))
        c = self.connected(cid, clean=False)
        c.do_subscribe([(t, 2)])
        c.disconnect()
        p = self.connected(name='pub')
        p.do_publish(t, b'queued while away', 2)
        w = self.ws('resumed')
        w.do_connect(cid, clean=False, expect_connack=connack(True, 0))
        w.receive(t, b'queued while away', 2)
        # A take-over from TCP while the WS connection is open: the WS one closes.
        c2 = self.client('take-over')
        c2.do_connect(cid, clean=False, expect_connack=connack(True, 0))
        if self.mosquitto:
            w.expect_closed(msg='(taken over; Mosquitto sends no close frame)')
        else:
            w.expect_ws_close(1000, msg='(taken over)')
        p.do_publish(t, b'after the take-over', 1)
        c2.receive(t, b'after the take-over', 1)
        c2.disconnect()

    def test_large_message_both_ways(self):
        w = self.ws_connected(name='ws')
        p = self.connected(name='tcp')
        t = self.topic()
        big = os.urandom(200 * 1024)
        p.do_subscribe([(t + '/up', 1)])
        w.do_publish(t + '/up', big, 1)
        p.receive(t + '/up', big, 1)
        w.do_subscribe([(t + '/down', 1)])
        p.do_publish(t + '/down', big, 1)
        w.receive(t + '/down', big, 1)
        self.assertTrue(any(len(f[2]) > 65535 for f in w.frames), 'no frame with a 64-bit length')

    def test_packet_split_across_frames(self):
        c = self.ws()
        cn = connect(self.uid())
        c.send_raw(frame(cn[:1]) + frame(b'') + frame(cn[1:5]))
        time.sleep(0.05)
        c.send_raw(frame(cn[5:]))
        c.expect(connack(False, 0))
        t = self.topic()
        c.do_subscribe([(t, 1)])
        p = publish(t, b'split payload ' * 20, 1, mid=7)
        for i in range(0, len(p), 13):
            c.send_raw(frame(p[i:i + 13]))
        c.expect_ack(b'\x40\x02\x00\x07')
        c.receive(t, b'split payload ' * 20, 1)

    def test_one_frame_per_byte(self):
        c = self.ws()
        for b in connect(self.uid()) + subscribe(1, [(self.topic(), 0)]):
            c.send_raw(frame(bytes([b])))
        c.expect(connack(False, 0))
        c.expect(suback(1, [0]))

    def test_fragmented_message_with_ping_between(self):
        c = self.ws_connected()
        t = self.topic()
        c.do_subscribe([(t, 1)])
        p = publish(t, b'fragmented', 1, mid=9)
        c.send_raw(frame(p[:4], OP_BINARY, fin=False))
        c.send_raw(frame(b'are you there', OP_PING))
        c.expect_pong(b'are you there')
        c.send_raw(frame(p[4:10], OP_CONT, fin=False) + frame(b'', OP_CONT, fin=False))
        c.send_raw(frame(b'\x00\xffbinary\x00', OP_PING))
        c.send_raw(frame(p[10:], OP_CONT, fin=True))
        c.expect_pong(b'\x00\xffbinary\x00')
        c.expect_ack(b'\x40\x02\x00\x09')
        c.receive(t, b'fragmented', 1)

    def test_packet_spanning_two_fragmented_messages(self):
        # One PUBLISH: its head ends a fragmented message, its tail starts the next.
        c = self.ws_connected()
        t = self.topic()
        c.do_subscribe([(t, 0)])
        p1 = publish(t, b'first', 0)
        p2 = publish(t, b'second', 0)
        cut = len(p1) + 5
        both = p1 + p2
        c.send_raw(frame(both[:3], OP_BINARY, fin=False) + frame(both[3:cut], OP_CONT, fin=True)
                   + frame(both[cut:cut + 2], OP_BINARY, fin=False)
                   + frame(both[cut + 2:], OP_CONT, fin=True))
        c.expect_publish(t, b'first', 0)
        c.expect_publish(t, b'second', 0)

    def test_several_packets_in_one_frame(self):
        c = self.ws()
        t = self.topic()
        cid = self.uid()
        c.send(connect(cid) + subscribe(1, [(t, 0)]) + publish(t, b'one', 0)
               + publish(t, b'two', 1, mid=2) + PINGREQ)
        c.expect(connack(False, 0))
        c.expect(suback(1, [0]))
        got = [c.expect_packet() for _ in range(4)]
        want = [publish(t, b'one', 0), publish(t, b'two', 0), b'\x40\x02\x00\x02', PINGRESP]
        self.assertEqual(sorted(got), sorted(want), [hexs(g) for g in got])
        self.assertLess(got.index(want[0]), got.index(want[1]), 'order kept')

    def test_connect_frame_trickled_byte_by_byte(self):
        c = self.ws()
        data = frame(connect(self.uid(), keepalive=30))
        for i in range(len(data)):
            c.send_raw(data[i:i + 1])
            time.sleep(0.01)
        c.expect(connack(False, 0))
        c.ping()

    def test_empty_frames_and_pong_ignored(self):
        c = self.ws_connected()
        c.send_raw(frame(b'') + frame(b'unasked', OP_PONG) + frame(b''))
        c.ping()
        c.send_raw(frame(b'', OP_PING))
        c.expect_pong(b'')
        c.ping()

    def test_ping_before_connect(self):
        c = self.ws()
        c.send_raw(frame(b'early', OP_PING))
        c.expect_pong(b'early')
        c.do_connect(self.uid())

    def test_mqtt5_round_trip(self):
        c = self.ws5_connected()
        t = self.topic()
        c.do_subscribe5([(t, 2)])
        for q in (0, 1, 2):
            c.do_publish5(t, b'v5 over ws %d' % q, q)
            c.receive5(t, b'v5 over ws %d' % q, q)
        c.disconnect5()

    def test_broker_frames_are_binary_and_unmasked(self):
        # (checked for every frame by WSMixin._parse; here many small ones)
        c = self.ws_connected()
        t = self.topic()
        c.do_subscribe([(t, 0)])
        for i in range(50):
            c.send(publish(t, b'm%d' % i))
        for i in range(50):
            c.expect_publish(t, b'm%d' % i, 0)
        self.assertTrue(all(op == OP_BINARY and fin for fin, op, _ in c.frames), c.frames[:5])

    @mqchatd_only
    def test_one_packet_per_frame(self):
        # Paho MQTT C reads only the first packet of a frame: the broker
        # never puts two in one, even when it writes them in one go (a
        # SUBACK and the retained messages behind it).
        t = self.topic()
        pub = self.connected(name='retainer')
        for i in range(5):
            pub.do_publish('%s/%d' % (t, i), b'kept %d' % i, 1, retain=True)
        c = self.ws_connected()
        c.do_subscribe([(t + '/#', 0)])
        for i in range(5):
            c.expect_publish('%s/%d' % (t, i), b'kept %d' % i, 0, retain=True)
        packets = [p for _, op, p in c.frames if op == OP_BINARY]
        for p in packets:
            # one fixed header whose remaining length covers the frame exactly
            n, mult, i = 0, 1, 1
            while True:
                n += (p[i] & 0x7F) * mult
                mult *= 128
                i += 1
                if not p[i - 1] & 0x80:
                    break
            self.assertEqual(i + n, len(p), 'a frame with more than one packet: %s' % hexs(p))


# ---------------------------------------------------------------------------
# Frame errors.

class FrameErrorTest(WSTest):
    CONFIG = dict(WS_CONFIG, **{'ws.max_frame_bytes': 1024})

    def watched(self, will_payload):
        """A TCP subscriber to a will topic, and a WS client with that will."""
        wt = self.topic(self.uid('will'))
        s = self.connected(name='watcher')
        s.do_subscribe([(wt, 0)])
        c = self.ws_connected(will=(wt, will_payload, 0, False))
        return s, c, wt

    @mqchatd_only
    def test_unmasked_frame_1002(self):
        s, c, wt = self.watched(b'died unmasked')
        c.send_raw(frame(PINGREQ, mask=False))
        c.expect_ws_close(1002)
        s.expect_publish(wt, b'died unmasked', 0)
        self.assert_ws_serves()

    @mqchatd_only
    def test_unmasked_frame_before_connect_1002(self):
        c = self.ws()
        c.send_raw(frame(connect(self.uid()), mask=False))
        c.expect_ws_close(1002)

    @mqchatd_only
    def test_text_frame_1003(self):
        s, c, wt = self.watched(b'died of text')
        c.send_raw(frame(b'{"hello": "mqtt"}', OP_TEXT))
        c.expect_ws_close(1003)
        s.expect_publish(wt, b'died of text', 0)
        self.assert_ws_serves()

    @mqchatd_only
    def test_reserved_bits_1002(self):
        for rsv in (1, 2, 4):
            c = self.ws_connected()
            c.send_raw(frame(PINGREQ, rsv=rsv))
            c.expect_ws_close(1002, msg='(rsv %d)' % rsv)

    @mqchatd_only
    def test_unknown_opcode_1002(self):
        for op in (0x3, 0x7, 0xB, 0xF):
            c = self.ws_connected()
            c.send_raw(frame(PINGREQ, op))
            c.expect_ws_close(1002, msg='(opcode %d)' % op)

    @mqchatd_only
    def test_continuation_without_start_1002(self):
        c = self.ws_connected()
        c.send_raw(frame(PINGREQ, OP_CONT))
        c.expect_ws_close(1002)

    @mqchatd_only
    def test_frame_over_max_1009(self):
        s, c, wt = self.watched(b'died big')
        t = self.topic()
        c.send_raw(frame(publish(t, b'x' * 1100)))
        c.expect_ws_close(1009)
        s.expect_publish(wt, b'died big', 0)
        self.assert_ws_serves()

    @mqchatd_only
    def test_frame_header_over_max_1009(self):
        # Only the header of a 1 MiB frame: refused on its length.
        c = self.ws_connected()
        c.send_raw(b'\x82\xff' + struct.pack('!Q', 1 << 20) + os.urandom(4) + b'abc')
        c.expect_ws_close(1009)

    @mqchatd_only
    def test_frame_of_exactly_max_accepted(self):
        c = self.ws_connected()
        t = self.topic()
        c.do_subscribe([(t, 1)])
        # 1 + 2 bytes of remaining length + 1021: topic length, topic, id, payload
        body = b'y' * (1021 - 2 - len(t.encode()) - 2)
        p = publish(t, body, 1, mid=5)
        self.assertEqual(len(p), 1024)
        c.send_raw(frame(p))
        c.expect_ack(b'\x40\x02\x00\x05')
        c.receive(t, body, 1)

    @mqchatd_only
    def test_fragmented_message_larger_than_max_in_total(self):
        # ws.max_frame_bytes is per frame: three 600-byte frames of one
        # 1800-byte message are fine (the layer keeps no message buffer).
        c = self.ws_connected()
        t = self.topic()
        c.do_subscribe([(t, 1)])
        body = b'z' * 1750
        p = publish(t, body, 1, mid=6)
        parts = [p[i:i + 600] for i in range(0, len(p), 600)]
        data = frame(parts[0], OP_BINARY, fin=False)
        for k, part in enumerate(parts[1:]):
            data += frame(part, OP_CONT, fin=k == len(parts) - 2)
        c.send_raw(data)
        c.expect_ack(b'\x40\x02\x00\x06')
        c.receive(t, body, 1)

    def test_malformed_mqtt_inside_ws_closes(self):
        s, c, wt = self.watched(b'died malformed')
        c.send(b'\x30\xff\xff\xff\xff\x01')   # a remaining length of 5 bytes
        if self.mosquitto:
            c.expect_closed()
        else:
            c.expect_ws_close(1000)
        s.expect_publish(wt, b'died malformed', 0)
        self.assert_ws_serves()

    def test_garbage_instead_of_connect(self):
        c = self.ws()
        c.send(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        if self.mosquitto:
            c.expect_closed()
        else:
            c.expect_ws_close(1000)

    @mqchatd_only
    def test_mqtt5_malformed_disconnect_then_close(self):
        c = self.ws5_connected()
        c.send(publish5(self.topic(), b'x', raw_props=b'\x02\x50\x01'))   # truncated property
        d = c.read(WAIT)
        self.assertIsNotNone(d, 'no DISCONNECT')
        self.assertEqual(d[0], 0xE0, hexs(d))
        self.assertEqual(d[2], RC_MALFORMED, hexs(d))
        c.expect_ws_close(1000)


# ---------------------------------------------------------------------------
# Closing.

@mqchatd_only
class SlowReaderTest(WSTest):
    CONFIG = dict(WS_CONFIG, **{'conn.out_hard_bytes': 65536})

    def test_pings_without_reading_are_a_slow_reader(self):
        # Every ping is owed a pong; a client that pings and never reads
        # must not grow the broker's memory: past conn.out_hard_bytes of
        # answers it is closed, as an MQTT slow reader is.
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(WAIT)
        s.connect(('127.0.0.1', self.ports['ws.port']))
        try:
            s.sendall(request())
            status, _, _, _ = read_head(s, time.monotonic() + WAIT)
            self.assertEqual(status, 101)
            s.sendall(frame(connect(self.uid())))
            pings = frame(b'p' * 125, OP_PING) * 1000
            deadline = time.monotonic() + 30
            closed = False
            while time.monotonic() < deadline and not closed:
                try:
                    s.sendall(pings)        # about 131 KB of pings a round
                except (ConnectionResetError, BrokenPipeError, socket.timeout):
                    closed = True
            self.assertTrue(closed, 'still open after 30 s of pings nobody read')
        finally:
            s.close()
        self.assert_ws_serves()


class CloseTest(WSTest):

    def test_client_close_1000_answered_and_will_published(self):
        wt = self.topic(self.uid('will'))
        s = self.connected(name='tcp-watcher')
        s.do_subscribe([(wt, 1)])
        c = self.ws_connected(will=(wt, b'gone without DISCONNECT', 1, False))
        c.send_close(1000)
        if self.mosquitto:
            _mosquitto_close(self, c)
        else:
            c.expect_ws_close(1000)
        s.receive(wt, b'gone without DISCONNECT', 1)

    @mqchatd_only
    def test_client_close_status_echoed(self):
        for code in (1001, 4000):
            c = self.ws_connected()
            c.send_close(code, b'bye')
            c.expect_ws_close(code)

    def test_disconnect_then_close_no_will(self):
        wt = self.topic(self.uid('will'))
        s = self.connected(name='tcp-watcher')
        s.do_subscribe([(wt, 0)])
        c = self.ws_connected(will=(wt, b'must not come', 0, False))
        c.send(DISCONNECT)
        # The broker closes after DISCONNECT: a close frame, or the TCP close.
        try:
            while c.read(WAIT) is not None:
                pass
        except Closed:
            pass
        s.expect_nothing(QUIET * 2)

    def test_close_before_connect(self):
        c = self.ws()
        c.send_close(1000)
        if self.mosquitto:
            _mosquitto_close(self, c)
        else:
            c.expect_ws_close(1000)
        self.assert_ws_serves()

    @mqchatd_only
    def test_keepalive_expiry_close_1000(self):
        c = self.ws_connected(keepalive=1)
        start = time.monotonic()
        c.expect_ws_close(1000, timeout=4.0, msg='(keep alive 1 s expired)')
        self.assertGreaterEqual(time.monotonic() - start, 0.9)

    @mqchatd_only
    def test_mqtt5_keepalive_expiry_disconnect_then_close(self):
        c = self.ws5_connected(keepalive=1)
        d = c.read(4.0)
        self.assertIsNotNone(d, 'no DISCONNECT within 4 s')
        self.assertEqual((d[0], d[2]), (0xE0, RC_KEEP_ALIVE_TIMEOUT), hexs(d))
        c.expect_ws_close(1000)

    @mqchatd_only
    def test_websocket_pings_are_not_mqtt_keepalive(self):
        # Only MQTT packets count for the MQTT keep alive.
        c = self.ws_connected(keepalive=1)
        start = time.monotonic()
        for _ in range(6):
            try:
                c.send_raw(frame(b'hb', OP_PING))
            except OSError:
                break
            time.sleep(0.25)
        c.expect_ws_close(1000, timeout=4.0, msg='(websocket pings only)')
        self.assertLess(time.monotonic() - start, 4.5)

    def test_mqtt_pings_keep_it_alive(self):
        c = self.ws_connected(keepalive=1)
        for _ in range(5):
            time.sleep(0.4)
            c.ping()


def _mosquitto_close(test, c):
    """Mosquitto (libwebsockets) answers a close frame with one of its own
    and closes; the status it echoes is not checked."""
    c.wait_for(lambda: c.close_payload is not None or c.eof, WAIT, 'a close')


@mqchatd_only
class HandshakeTimeoutTest(WSTest):
    CONFIG = dict(WS_CONFIG, **server_tls_config(), **{'wss.port': 'free'})

    def closed_within(self, s, what):
        start = time.monotonic()
        limit = HANDSHAKE_MS / 1000 + 2.0
        deadline = start + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail('%s: still open after %.1f s (conn.handshake_timeout %d ms)'
                          % (what, limit, HANDSHAKE_MS))
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                d = b''
            if not d:
                break
        took = time.monotonic() - start
        self.assertGreaterEqual(took, HANDSHAKE_MS / 1000 * 0.8, '%s: closed too soon' % what)

    def test_half_upgrade_request_closed(self):
        s = open_socket(self.ports['ws.port'])
        try:
            s.sendall(request()[:40])
            self.closed_within(s, 'half an upgrade request')
        finally:
            s.close()

    def test_request_trickling_past_the_timeout_closed(self):
        s = open_socket(self.ports['ws.port'])
        try:
            # (a byte every 100 ms: the request is never finished in time)
            req = request()
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < HANDSHAKE_MS / 1000 + 1.5 and i < len(req) - 4:
                try:
                    s.sendall(req[i:i + 1])
                except OSError:
                    break
                i += 1
                time.sleep(0.1)
            s.settimeout(2.0)
            try:
                while s.recv(65536):
                    pass
            except socket.timeout:
                self.fail('a request trickling in byte by byte: still open after the timeout')
            except ConnectionResetError:
                pass
        finally:
            s.close()

    def test_silent_ws_client_closed(self):
        s = open_socket(self.ports['ws.port'])
        try:
            self.closed_within(s, 'a WebSocket client that sends nothing')
        finally:
            s.close()

    def test_silent_wss_client_closed(self):
        # Slow loris on wss: TCP connected, TLS never started.
        s = open_socket(self.ports['wss.port'])
        try:
            self.closed_within(s, 'a wss client that sends nothing')
        finally:
            s.close()

    def test_wss_tls_done_upgrade_never_sent(self):
        # The timeout covers the TLS handshake and the upgrade together.
        s = open_socket(self.ports['wss.port'], client_context())
        try:
            self.closed_within(s, 'wss: TLS done, no upgrade request')
        finally:
            s.close()

    def test_finished_upgrade_not_timed_out(self):
        c = self.ws()
        time.sleep(HANDSHAKE_MS / 1000 + 1.2)
        c.do_connect(self.uid())
        c.ping()
        c2 = self.ws(port=self.ports['wss.port'], tls_ctx=client_context())
        time.sleep(HANDSHAKE_MS / 1000 + 1.2)
        c2.do_connect(self.uid())
        c2.ping()


@mqchatd_only
class ShutdownTest(WSTest):
    SHARED = False

    def test_sigterm_close_1001(self):
        v3 = self.ws_connected(name='v3')
        v5 = self.ws5_connected(name='v5')
        fresh = self.ws(name='upgraded, no CONNECT')
        self.broker.signal(signal.SIGTERM)
        v3.expect_ws_close(1001, msg='(shutdown)')
        d = v5.read(WAIT)
        self.assertIsNotNone(d, 'v5: no DISCONNECT at shutdown')
        self.assertEqual((d[0], d[2]), (0xE0, RC_SERVER_SHUTTING_DOWN), hexs(d))
        v5.expect_ws_close(1001, msg='(shutdown, v5)')
        fresh.expect_ws_close(1001, msg='(shutdown, before CONNECT)')
        deadline = time.monotonic() + WAIT
        while self.broker.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.broker.stop(), 0, self.broker.log_tail())


# ---------------------------------------------------------------------------
# Secure WebSocket.

class WSSTest(WSTest):
    CONFIG = dict(WS_CONFIG, **server_tls_config(), **{'wss.port': 'free', 'tls.port': 'free'})

    def wss(self, name=None, ctx=None, **kw):
        return self.ws(name or 'wss', self.ports['wss.port'], tls_ctx=ctx or client_context(),
                       **kw)

    def test_wss_upgrade_and_round_trip(self):
        key = new_key()
        c = self.wss(key=key)
        self.assertEqual(c.sock.getpeercert(binary_form=True), CERTS.der('server'))
        self.assertEqual(c.answer.get('sec-websocket-accept'), accept_for(key))
        self.assertEqual(c.answer.get('sec-websocket-protocol'), 'mqtt')
        c.do_connect(self.uid())
        self.round_trip(c, c, b'over wss')
        c.disconnect()

    def test_wss_without_verification(self):
        c = self.wss(ctx=client_context(verify=False))
        c.do_connect(self.uid())
        c.ping()

    def test_four_transports_talk(self):
        tcp = self.connected(name='tcp')
        ws = self.ws_connected(name='ws')
        wss = self.wss('wss')
        wss.do_connect(self.uid())
        tls = self.tls_connected(name='tls')
        clients = [tcp, ws, wss, tls]
        t = self.topic()
        for c in clients:
            c.do_subscribe([(t, 1)])
        for k, sender in enumerate(clients):
            sender.do_publish(t, b'from %s' % sender.name.encode(), 1)
            for c in clients:
                c.receive(t, b'from %s' % sender.name.encode(), 1,
                          msg='(%s to %s)' % (sender.name, c.name))

    def test_wss_large_message(self):
        c = self.wss()
        c.do_connect(self.uid())
        p = self.connected(name='tcp')
        t = self.topic()
        big = os.urandom(200 * 1024)
        c.do_subscribe([(t, 1)])
        p.do_publish(t, big, 1)
        c.receive(t, big, 1)
        p.do_subscribe([(t + '/up', 1)])
        c.do_publish(t + '/up', big, 1)
        p.receive(t + '/up', big, 1)

    @mqchatd_only
    def test_wss_refusal_then_close(self):
        got, heads, _, closed = http_exchange(self.ports['wss.port'], request(path='/nope'),
                                              tls_ctx=client_context())
        self.assertEqual(got, 404, repr(heads))
        self.assertTrue(closed)

    @mqchatd_only
    def test_wss_close_and_will(self):
        wt = self.topic(self.uid('will'))
        s = self.connected(name='tcp-watcher')
        s.do_subscribe([(wt, 0)])
        c = self.wss()
        c.do_connect(self.uid(), will=(wt, b'wss gone', 0, False))
        c.send_close(1000)
        c.expect_ws_close(1000)
        s.expect_publish(wt, b'wss gone', 0)

    def test_plain_ws_on_wss_port_refused(self):
        s = open_socket(self.ports['wss.port'])
        try:
            s.sendall(request())
            status, _, heads, _ = read_head(s, time.monotonic() + WAIT)
            self.assertNotEqual(status, 101, 'a plain upgrade accepted on the wss port')
        finally:
            s.close()


if __name__ == '__main__':
    unittest.main()
