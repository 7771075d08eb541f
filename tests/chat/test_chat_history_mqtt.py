"""History over MQTT (doc/protocol.md, "Chat features", "History over
MQTT"): a request on chat/room/{room}/history ({"limit","before","since",
"req"}, all optional) is answered with {"type":"history","room","req",
"messages":[envelopes, oldest first]} holding what GET
/v1/rooms/{room}/messages holds for the same parameters; MQTT 5 answers on
the request's Response Topic with its Correlation Data, MQTT 3.1.1 (or 5
without a response topic) on chat/user/{user}/events; only the requesting
connection gets it, at the request's QoS (at most 1); a private room's
non-member is refused (0x87 not_member), a bad request 0x99 bad_request.
"""

import json
import re
import time
import unittest

from broker import P_CORRELATION_DATA, P_RESPONSE_TOPIC
from chatlib import (NOT_AUTHORIZED, PAYLOAD_FORMAT_INVALID, SERVICE_KEY, TOPIC_NAME_INVALID,
                     Client5, FeatureTest, parse_json, poll)


class HistoryMqttTest(FeatureTest):
    N = 25

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sent = None

    def setUp(self):
        super().setUp()
        if type(self).sent is None:
            type(self).sent = self.fill()
        self.room, self.owner, self.otok, self.envs, self.t0 = type(self).sent

    def fill(self):
        """One public room with N messages h00..h24, as its subscriber got them."""
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        t0 = int(time.time() * 1000) - 1
        envs = []
        for i in range(self.N):
            self.pub(a, self.room_topic(room), 'h%02d' % i, 1)
            envs.append(self.expect_env_chat(a, self.room_topic(room), alice,
                                             text='h%02d' % i)[1])
        a.disconnect()
        return room, alice, atok, envs, t0

    # ---- requests and answers ----

    def ask(self, c, body, room=None, qos=1, reason=0, response_topic=None, corr=None):
        """Publishes a history request (body: dict -> JSON, str/bytes as is)."""
        payload = body if isinstance(body, (bytes, str)) else json.dumps(body)
        topic = self.history_topic(room or self.room)
        if isinstance(c, Client5):
            props = []
            if response_topic is not None:
                props.append((P_RESPONSE_TOPIC, response_topic))
            if corr is not None:
                props.append((P_CORRELATION_DATA, corr))
            return c.do_publish5(topic, payload, qos, properties=props, reason=reason)
        return c.do_publish(topic, payload, qos)

    def answer(self, c, topic, req=None, corr=None, qos=None, room=None, msg=''):
        """The next (non-background) PUBLISH on c: a history answer on topic."""
        p = self.next_chat(c, msg=msg or '(history answer on %s)' % topic)
        self.assertEqual(p.topic, topic, '%s: %r %s' % (c.name, p, msg))
        if qos is not None:
            self.assertEqual(p.qos, qos, '%r %s' % (p, msg))
        if corr is not None:
            self.assertEqual(p.props.get(P_CORRELATION_DATA), corr,
                             'correlation data echoed: %r %s' % (p, msg))
        v = parse_json(p.payload, 'history answer')
        self.assertEqual(v.get('type'), 'history', '%r %s' % (v, msg))
        self.assertEqual(v.get('room'), room or self.room, '%r %s' % (v, msg))
        if req is not None:
            self.assertEqual(v.get('req'), req, '%r %s' % (v, msg))
        self.assertIsInstance(v.get('messages'), list, '%r %s' % (v, msg))
        return v['messages']

    def http_page(self, query):
        return self.history('/v1/rooms/%s/messages%s' % (self.room, query), SERVICE_KEY)

    def resp_topic(self):
        return 'resp/%s' % self.uid('r')

    # ---- MQTT 5 ----

    def test_v5_paging_back_with_response_topic(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, name='bob')
        rt = self.resp_topic()
        self.ask(b, {'limit': 10, 'req': 'p1'}, response_topic=rt, corr=b'\x00corr-1\xff')
        page = self.answer(b, rt, 'p1', b'\x00corr-1\xff', qos=1)
        self.assertEqual(page, self.envs[15:25])
        self.assertEqual(page, self.http_page('?limit=10'))
        seen, n = list(page), 1
        while True:
            n += 1
            req, corr = 'p%d' % n, ('corr-%d' % n).encode()
            self.ask(b, {'limit': 10, 'before': page[0]['id'], 'req': req}, response_topic=rt,
                     corr=corr)
            got = self.answer(b, rt, req, corr)
            self.assertEqual(got, self.http_page('?limit=10&before=%s' % page[0]['id']))
            if not got:
                break
            self.assertLessEqual(len(got), 10)
            seen[:0] = got
            page = got
            self.assertLess(n, 10, 'paging does not end')
        self.assertEqual(n, 4, 'pages of 10, 10, 5, then an empty one')
        self.assertEqual(seen, self.envs)
        self.quiet_chat(b)

    def test_v5_since(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, name='bob')
        rt = self.resp_topic()
        cases = [({'since': self.envs[19]['id']}, self.envs[20:],
                  '?since=%s' % self.envs[19]['id']),
                 ({'since': str(self.t0)}, self.envs, '?since=%d' % self.t0),
                 ({'since': self.envs[0]['id'], 'limit': 5}, self.envs[1:6],
                  '?since=%s&limit=5' % self.envs[0]['id']),
                 ({'since': self.envs[4]['id'], 'before': self.envs[10]['id']}, self.envs[5:10],
                  '?since=%s&before=%s' % (self.envs[4]['id'], self.envs[10]['id'])),
                 ({'since': self.envs[-1]['id']}, [], '?since=%s' % self.envs[-1]['id'])]
        for i, (body, want, query) in enumerate(cases):
            body['req'] = 's%d' % i
            self.ask(b, body, response_topic=rt, corr=b'c%d' % i)
            got = self.answer(b, rt, 's%d' % i, b'c%d' % i, msg='(%r)' % body)
            self.assertEqual(got, want, repr(body))
            self.assertEqual(got, self.http_page(query), repr(body))

    def test_empty_request_is_latest_50(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, name='bob')
        rt = self.resp_topic()
        for body in (b'', b'{}', {'req': 'all'}):
            self.ask(b, body, response_topic=rt, corr=b'x')
            self.assertEqual(self.answer(b, rt, corr=b'x', msg='(%r)' % body), self.envs)
        # 3.1.1: the empty payload too.
        b3 = self.chat311(bob, btok, name='bob-311')
        self.ask(b3, b'')
        self.assertEqual(self.answer(b3, self.events_topic(bob)), self.envs)

    def test_v5_qos_of_the_answer(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, name='bob')
        rt = self.resp_topic()
        for qos, want in ((0, 0), (1, 1), (2, 1)):
            self.ask(b, {'limit': 1, 'req': 'q%d' % qos}, qos=qos, response_topic=rt,
                     corr=b'q')
            got = self.answer(b, rt, 'q%d' % qos, b'q', qos=want, msg='(request QoS %d)' % qos)
            self.assertEqual(got, self.envs[-1:])

    def test_v5_without_response_topic_answers_on_events(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, name='bob')
        self.ask(b, {'limit': 2, 'req': 'no-rt'})
        self.assertEqual(self.answer(b, self.events_topic(bob), 'no-rt'), self.envs[-2:])

    # ---- MQTT 3.1.1 ----

    def test_311_answer_on_events_with_req(self):
        bob, btok = self.new_user('b')
        # Not subscribed to anything: the answer comes all the same.
        b = self.chat311(bob, btok, name='bob')
        self.ask(b, {'limit': 3, 'req': 'page-1'})
        page = self.answer(b, self.events_topic(bob), 'page-1', qos=1)
        self.assertEqual(page, self.envs[22:])
        self.ask(b, {'limit': 3, 'before': page[0]['id'], 'req': 'page-2'}, qos=0)
        self.assertEqual(self.answer(b, self.events_topic(bob), 'page-2', qos=0),
                         self.envs[19:22])
        # Subscribed to its events: one answer, not two.
        b2 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 1)], name='bob-sub')
        self.ask(b2, {'limit': 1, 'req': 'once'})
        self.assertEqual(self.answer(b2, self.events_topic(bob), 'once', qos=1), self.envs[-1:])
        self.quiet_chat(b2, b)

    def test_metrics(self):
        def counters():
            r = self.http('GET', '/metrics')
            self.assertEqual(r.status, 200, r.text)
            found = {}
            for line in r.text.splitlines():
                m = re.match(r'^(mqchat_chat_[a-z_]+(\{[^}]*\})?) ([0-9.eE+]+)$', line)
                if m:
                    found[m.group(1)] = float(m.group(3))
            return found
        answered = 'mqchat_chat_history_requests_total{result="answered"}'
        before = counters()
        for name in (answered, 'mqchat_chat_history_requests_total{result="unavailable"}',
                     'mqchat_chat_users_online', 'mqchat_chat_presence_updates_total',
                     'mqchat_chat_unread_updates_total'):
            self.assertIn(name, before)
        bob, btok = self.new_user('b')
        b = self.chat311(bob, btok, name='bob')
        self.ask(b, {'limit': 1, 'req': 'counted'})
        self.answer(b, self.events_topic(bob), 'counted')
        after = counters()
        self.assertEqual(after[answered], before[answered] + 1)
        # bob is online (his presence went out at a tick).
        self.assertTrue(poll(lambda: counters()['mqchat_chat_users_online'] >= 1),
                        'users online never counted')

    def test_answer_only_to_requesting_connection(self):
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        rt = self.resp_topic()
        b1 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 1)], name='bob-1')
        b2 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 1)], name='bob-2')
        b5 = self.chat5(bob, btok, subs=[(self.events_topic(bob), 1), (rt, 1)], name='bob-5')
        c = self.chat5(carol, ctok, subs=[(rt, 1)], name='carol')
        self.ask(b1, {'limit': 1, 'req': 'mine'})
        self.assertEqual(self.answer(b1, self.events_topic(bob), 'mine'), self.envs[-1:])
        self.quiet_chat(b2, b5, c, b1, msg="(not to bob's other devices)")
        self.ask(b5, {'limit': 1, 'req': 'rt'}, response_topic=rt, corr=b'rt')
        self.assertEqual(self.answer(b5, rt, 'rt', b'rt'), self.envs[-1:])
        self.quiet_chat(c, b5, b1, b2, msg='(not to other subscribers of the response topic, '
                                           'and once to the requester)')
        # Nobody gets the request itself.
        svc, stok = self.new_user('svc', role='service')
        s = self.chat311(svc, stok, subs=[(self.history_topic(self.room), 1)], name='service')
        self.ask(b1, {'limit': 1, 'req': 'again'})
        self.answer(b1, self.events_topic(bob), 'again')
        self.quiet_chat(s)

    # ---- refusals ----

    def test_private_room(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.member_room(atok, btok, private=True)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)], name='alice')
        envs = []
        for t in ('secret 1', 'secret 2'):
            self.pub(a, self.room_topic(room), t, 1)
            envs.append(self.expect_env_chat(a, self.room_topic(room), alice, text=t)[1])
        topic = self.history_topic(room)
        c5 = self.chat5(carol, ctok, subs=[(self.events_topic(carol), 0)], name='carol-5')
        self.ask(c5, {'req': 'peek'}, room=room, reason=NOT_AUTHORIZED,
                 response_topic=self.resp_topic(), corr=b'p')
        self.expect_notice_chat(c5, carol, topic, 'not_member', NOT_AUTHORIZED)
        c3 = self.chat311(carol, ctok, subs=[(self.events_topic(carol), 0)], name='carol-311')
        self.ask(c3, {'req': 'peek'}, room=room)
        self.expect_notice_chat(c3, carol, topic, 'not_member', NOT_AUTHORIZED)
        self.maybe_notice(c5)
        self.quiet_chat(c5, c3, msg='(no answer to a refused request)')
        # A member and the service role may.
        b = self.chat311(bob, btok, name='bob')
        self.ask(b, {'req': 'member'}, room=room)
        self.assertEqual(self.answer(b, self.events_topic(bob), 'member', room=room), envs)
        svc, stok = self.new_user('svc', role='service')
        s = self.chat5(svc, stok, name='service')
        rt = self.resp_topic()
        self.ask(s, {'req': 'svc'}, room=room, response_topic=rt, corr=b's')
        self.assertEqual(self.answer(s, rt, 'svc', b's', room=room), envs)

    def test_bad_requests(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob')
        topic = self.history_topic(self.room)
        rt = self.resp_topic()
        typed = [b'{"limit":"ten"}', b'{"limit":1.5}', b'{"limit":true}', b'{"before":"abc"}',
                 b'{"since":"x1"}', b'{"before":"99999999999999999999999"}',
                 b'{"since":{"a":1}}', b'{"req":5}', ('{"req":"%s"}' % ('x' * 65)).encode()]
        loose = [b'not json', b'{"limit":', b'[1,2]', b'\xff\xfe']
        for payload in typed + loose:
            self.ask(b, payload, reason=PAYLOAD_FORMAT_INVALID, response_topic=rt, corr=b'bad')
            n = self.expect_notice_chat(b, bob, topic, None, PAYLOAD_FORMAT_INVALID,
                                        msg='(request %r)' % payload)
            if payload in typed:
                self.assertEqual(n['reason'], 'bad_request', '%r: %r' % (payload, n))
        self.quiet_chat(b, msg='(no answer to a bad request)')
        # req of 64 bytes is fine.
        self.ask(b, {'limit': 1, 'req': 'y' * 64}, response_topic=rt, corr=b'ok')
        self.assertEqual(self.answer(b, rt, 'y' * 64, b'ok'), self.envs[-1:])
        # 3.1.1: the notice.
        b3 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob-311')
        self.ask(b3, b'{"limit":"ten"}')
        self.expect_notice_chat(b3, bob, topic, 'bad_request', PAYLOAD_FORMAT_INVALID)
        self.maybe_notice(b)
        # A room that does not exist.
        none = self.uid('none')
        self.ask(b, {'req': 'none'}, room=none, reason=TOPIC_NAME_INVALID, response_topic=rt,
                 corr=b'n')
        self.expect_notice_chat(b, bob, self.history_topic(none), 'unknown_room',
                                TOPIC_NAME_INVALID)


if __name__ == '__main__':
    unittest.main()
