"""The join answer's transports (doc/transports.md, "The join answer"):
`mqtt.tls_port`, `mqtt.ws_url`, `mqtt.wss_url` name the listeners that run
(TLS with a certificate and tls.port; ws.port; wss.port with a certificate)
and are null otherwise; HOST is the host the request was sent to (its Host
header without the port, an IPv6 address kept in brackets), the path is
ws.path. Chat users connecting where the answer says: over ws_url and
wss_url with their token, chatting with a TCP user both ways.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'broker'))

from chatlib import PREFIX, ChatTest, chat_config  # noqa: E402
from test_tls import TransportBroker, client_context, server_tls_config  # noqa: E402
from test_ws import WSClient  # noqa: E402


class TransportChatTest(ChatTest):
    """A ChatTest on a TransportBroker (CONFIG may say 'free' for the
    transport ports)."""

    @classmethod
    def setUpClass(cls):
        cls.shared_broker = None
        b = TransportBroker(cls.CONFIG)
        try:
            b.start()
        except BaseException:
            b.cleanup()
            raise
        cls.shared_broker = b

    @property
    def ports(self):
        return self.broker.ports

    def answer(self, headers=()):
        """The `mqtt` member of a join answer (a new room, a new member)."""
        _, atok = self.new_user('a')
        _, btok = self.new_user('b')
        room = self.make_room(atok)
        got = self.api('POST', '/v1/rooms/%s/join' % room, None, btok, 200, headers=headers)
        self.assertEqual(got.get('topic'), '%s/room/%s' % (PREFIX, room), repr(got))
        self.assertIsInstance(got.get('mqtt'), dict, repr(got))
        return got['mqtt']


class JoinAllTransportsTest(TransportChatTest):
    CONFIG = chat_config(dict(server_tls_config(), **{'tls.port': 'free', 'ws.port': 'free',
                                                      'wss.port': 'free'}))

    def test_answer_names_every_listener(self):
        self.assertEqual(self.answer(), {
            'host': '127.0.0.1', 'port': self.broker.port, 'tls_port': self.ports['tls.port'],
            'ws_url': 'ws://127.0.0.1:%d/mqtt' % self.ports['ws.port'],
            'wss_url': 'wss://127.0.0.1:%d/mqtt' % self.ports['wss.port']})

    def test_host_is_the_request_host(self):
        ws, wss = self.ports['ws.port'], self.ports['wss.port']
        for host, name, url_host in (
                ('localhost:%d' % self.broker.http_port, 'localhost', 'localhost'),
                ('chat.example.com', 'chat.example.com', 'chat.example.com'),
                ('[::1]:%d' % self.broker.http_port, '[::1]', '[::1]')):
            got = self.answer(headers=('Host: ' + host,))
            self.assertEqual(got.get('host'), name, '%s: %r' % (host, got))
            self.assertEqual(got.get('ws_url'), 'ws://%s:%d/mqtt' % (url_host, ws), host)
            self.assertEqual(got.get('wss_url'), 'wss://%s:%d/mqtt' % (url_host, wss), host)
            self.assertEqual(got.get('tls_port'), self.ports['tls.port'], host)

    def test_chat_over_the_urls_of_the_answer(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.make_room(atok)
        topic = self.room_topic(room)
        urls = self.join(room, btok)['mqtt']
        self.join(room, ctok)
        port, path = _port_and_path(urls['ws_url'], 'ws')
        self.assertEqual(port, self.ports['ws.port'])
        b = WSClient(port, 'bob-ws', path=path)
        self.clients.append(b)
        b.do_connect(self.uid('c'), username=bob, password=btok)
        b.do_subscribe([(topic, 1)])
        port, path = _port_and_path(urls['wss_url'], 'wss')
        c = WSClient(port, 'carol-wss', tls_ctx=client_context(), path=path)
        self.clients.append(c)
        c.do_connect(self.uid('c'), username=carol, password=ctok)
        c.do_subscribe([(topic, 1)])
        a = self.chat311(alice, atok, subs=[(topic, 1)])
        self.pub(a, topic, 'hello web', 1)
        for x in (a, b, c):
            self.expect_env(x, topic, alice, text='hello web')
        self.pub(b, topic, 'hello from ws', 1)
        for x in (a, b, c):
            self.expect_env(x, topic, bob, text='hello from ws')
        self.pub(c, topic, 'hello from wss', 1)
        for x in (a, b, c):
            self.expect_env(x, topic, carol, text='hello from wss')

    def test_ws_refuses_a_bad_token(self):
        bob, btok = self.new_user('b')
        b = WSClient(self.ports['ws.port'], 'bob-ws')
        self.clients.append(b)
        b.do_connect(self.uid('c'), username=bob, password=btok + 'x',
                     expect_connack=b'\x20\x02\x00\x04')


def _port_and_path(url, scheme):
    prefix = scheme + '://'
    assert url.startswith(prefix), url
    hostport, _, path = url[len(prefix):].partition('/')
    return int(hostport.rsplit(':', 1)[1]), '/' + path


class JoinNoTransportsTest(TransportChatTest):
    # (the harness sets ws.port 0 and wss.port 0; no certificate: no TLS)
    CONFIG = chat_config()

    def test_answer_has_nulls(self):
        self.assertEqual(self.answer(), {'host': '127.0.0.1', 'port': self.broker.port,
                                         'tls_port': None, 'ws_url': None, 'wss_url': None})


class JoinTlsPortOffTest(TransportChatTest):
    # A certificate, tls.port 0, wss on; ws on with another path.
    CONFIG = chat_config(dict(server_tls_config(), **{'tls.port': 0, 'ws.port': 'free',
                                                      'wss.port': 'free',
                                                      'ws.path': '/chat/mqtt'}))

    def test_answer(self):
        self.assertEqual(self.answer(), {
            'host': '127.0.0.1', 'port': self.broker.port, 'tls_port': None,
            'ws_url': 'ws://127.0.0.1:%d/chat/mqtt' % self.ports['ws.port'],
            'wss_url': 'wss://127.0.0.1:%d/chat/mqtt' % self.ports['wss.port']})


class JoinNoCertificateTest(TransportChatTest):
    # ws on; wss.port and tls.port set but no certificate: neither runs.
    CONFIG = chat_config({'ws.port': 'free', 'wss.port': 'free', 'tls.port': 'free'})

    def test_answer(self):
        self.assertEqual(self.answer(), {
            'host': '127.0.0.1', 'port': self.broker.port, 'tls_port': None,
            'ws_url': 'ws://127.0.0.1:%d/mqtt' % self.ports['ws.port'], 'wss_url': None})


if __name__ == '__main__':
    import unittest
    unittest.main()
