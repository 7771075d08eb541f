"""Hostile input (doc/protocol.md, "Publishing", "Refusals", "HTTP API"):
every refused payload gets its MQTT 5 reason code and a notice with its
reason, and is neither delivered nor archived; quotes, backslashes and SQL
in passwords, text and meta round-trip unchanged; the HTTP API's answers to
huge and malformed bodies and to missing, garbage, expired and forged
bearers; /healthz and /metrics."""

import json
import re
import time
import unittest

from chatlib import PAYLOAD_FORMAT_INVALID, SERVICE_KEY, ChatTest, chat_config, mint

SQL = "'; DROP TABLE users; --"
MAX_PAYLOAD = 32768   # chat.max_payload_bytes here, so that 10000-deep JSON fits under it
MAX_TEXT = 4000       # chat.max_text_bytes default


def nested(depth, inner='1'):
    """JSON arrays nested depth deep: [[[1]]] is 3."""
    return '[' * depth + inner + ']' * depth


class PayloadTest(ChatTest):
    CONFIG = chat_config({'chat.max_payload_bytes': MAX_PAYLOAD})

    def setUp(self):
        super().setUp()
        # Two publishers (MQTT 5 and 3.1.1), each a user of its own so that
        # each notice reaches exactly one of them, and a watcher in the room.
        self.alice, atok = self.new_user('a')
        self.bob, btok = self.new_user('b')
        self.room = self.make_room(atok)
        self.topic = self.room_topic(self.room)
        self.watch = self.chat311(self.alice, atok, subs=[(self.topic, 1)], name='watcher')
        self.p5 = self.chat5(self.alice, atok, subs=[(self.events_topic(self.alice), 0)],
                             name='alice5')
        self.p3 = self.chat311(self.bob, btok, subs=[(self.events_topic(self.bob), 0)],
                               name='bob3')

    def refused(self, payload, reason, code=PAYLOAD_FORMAT_INVALID):
        """payload refused from MQTT 5 (PUBACK code, then the notice) and
        3.1.1 (PUBACK, then the notice); not delivered, not archived."""
        if isinstance(payload, str):
            payload = payload.encode()
        what = '%d bytes: %r' % (len(payload), payload[:40])
        self.pub(self.p5, self.topic, payload, 1, reason=code)
        self.expect_notice(self.p5, self.alice, self.topic, reason, code, msg='(v5, %s)' % what)
        self.pub(self.p3, self.topic, payload, 1)
        self.expect_notice(self.p3, self.bob, self.topic, reason, code, msg='(3.1.1, %s)' % what)
        self.quiet(self.watch, self.p5, self.p3,
                   msg='(refused %s: not delivered, one notice each)' % what)
        self.assertEqual(self.history('/v1/rooms/%s/messages' % self.room), [],
                         'refused %s archived' % what)

    def accepted(self, payload, **fields):
        """payload accepted (checked last in a test: the room's history is
        empty only until then)."""
        if isinstance(payload, str):
            payload = payload.encode()
        self.pub(self.p5, self.topic, payload, 1)
        return self.expect_env(self.watch, self.topic, self.alice, **fields)[1]

    def test_payload_too_long(self):
        # JSON padded with white space to exactly the limit, and one byte over.
        pad = MAX_PAYLOAD - len('{"text":"x"}')
        self.refused('{"text":"x"%s}' % (' ' * (pad + 1)), 'too_long')
        self.refused('y' * (MAX_PAYLOAD + 1), 'too_long')
        self.refused('y' * 200000, 'too_long')
        self.accepted('{"text":"x"%s}' % (' ' * pad), text='x')

    def test_text_too_long(self):
        self.refused('t' * (MAX_TEXT + 1), 'too_long')
        self.refused(json.dumps({'text': 't' * (MAX_TEXT + 1)}), 'too_long')
        # Counted in bytes: 2001 two-byte characters are 4002 bytes.
        self.refused(json.dumps({'text': '\u00e9' * 2001}, ensure_ascii=False), 'too_long')
        self.accepted('t' * MAX_TEXT, text='t' * MAX_TEXT)

    def test_nested_too_deep(self):
        self.assertLess(len(nested(10000)) + 40, MAX_PAYLOAD)
        self.refused('{"text":"x","meta":{"a":%s}}' % nested(10000), 'too_deep')
        self.refused('{"text":"x","meta":%s}' % ('{"a":' * 5000 + '1' + '}' * 5000), 'too_deep')
        self.refused('{"text":"x","meta":{"a":%s}}' % nested(7), 'too_deep')   # 9 levels
        # 8 levels (the object is 1, meta 2): accepted.
        env = self.accepted('{"text":"x","meta":{"a":%s}}' % nested(6), text='x')
        self.assertEqual(env['meta'], {'a': json.loads(nested(6))})

    def test_bad_utf8(self):
        for bad in (b'caf\xc3', b'\xff\xfe', b'over long \xc0\xaf', b'surrogate \xed\xa0\x80',
                    b'{"text":"caf\xc3"}', b'{"text":"x","meta":{"k\xff":1}}'):
            self.refused(bad, 'bad_utf8')
        self.accepted('caf\u00e9 \u2603 \U0001F600', text='caf\u00e9 \u2603 \U0001F600')

    def test_empty(self):
        self.refused(b'', 'empty')

    def test_empty_text(self):
        for bad in ('{"type":"text","text":""}', '{"type":"text"}', '{}'):
            self.pub(self.p5, self.topic, bad, 1, reason=PAYLOAD_FORMAT_INVALID)
            n = self.next_pub(self.p5)
            notice = json.loads(n.payload)
            self.assertEqual(notice.get('code'), PAYLOAD_FORMAT_INVALID, repr(notice))
            self.assertIn(notice.get('reason'), ('empty', 'bad_json'), repr(notice))
        self.quiet(self.watch)

    def test_bad_type(self):
        for t in ('poll', 'TEXT', 'system', '', 'notice'):
            self.refused(json.dumps({'type': t, 'text': 'x'}), 'bad_type')

    def test_bad_json(self):
        for bad in ('{"text":', '{"text":"x",}', '{text:"x"}', '{"text":"x"} trailing',
                    '{"text":5}', '{"text":"x","meta":"str"}', '{"text":"x","meta":[1]}',
                    '{"type":5,"text":"x"}', '{"text":null}', '{"text":"x\\u"}'):
            self.refused(bad, 'bad_json')

    def test_refusal_keeps_connection(self):
        self.refused(b'', 'empty')
        self.accepted('still talking', text='still talking')


class QuotesTest(ChatTest):
    """SQL, quotes and backslashes: refused where a name rule applies,
    otherwise stored and delivered byte for byte."""

    def test_quote_in_names_invalid(self):
        self.svc('POST', '/v1/users', {'id': "o'brien", 'password': 'x'}, 400, 'invalid_name')
        self.svc('POST', '/v1/users', {'id': 'x' + SQL, 'password': 'x'}, 400, 'invalid_name')
        _, atok = self.new_user('a')
        self.api('POST', '/v1/rooms', {'name': "o'brien"}, atok, 400, 'invalid_name')
        r = self.http('GET', "/v1/rooms/o'brien", None, atok)
        self.assertIn(r.status, (400, 404), repr(r))
        self.assert_error(r, r.status)
        # An invalid name cannot be a user: 401 bad_credentials like any
        # unknown user, or 400 invalid_name (the doc does not say which).
        r = self.http('POST', '/v1/tokens', {'user': "o'brien", 'password': 'x'})
        self.assertIn((r.status, (r.json or {}).get('code')),
                      ((401, 'bad_credentials'), (400, 'invalid_name')), repr(r))
        # The tables are still there.
        self.make_user()

    def test_password_with_quotes(self):
        pw = 'pa\'ss"wo\\rd%s \u00e9' % SQL
        name = self.make_user(password=pw)
        self.password_token(name, pw)
        self.chat311(name, pw).disconnect()
        self.refused_connect(name, pw[:-1])
        self.api('POST', '/v1/tokens', {'user': name, 'password': "' OR '1'='1"}, None, 401,
                 'bad_credentials')

    def test_text_and_meta_round_trip(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1),
                                             (self.dm_topic(alice), 1)])
        text = 'it\'s "quoted" \\ back\\\\slash %s\n\ttab \u00e9 \x01' % SQL
        meta = {"o'k": "v'al\"ue\\", 'sql': SQL, 'nested': {'q': '\\"'}}
        self.pub(a, self.room_topic(room), {'text': text, 'meta': meta}, 1)
        _, env = self.expect_env(a, self.room_topic(room), alice, text=text, meta=meta)
        plain = "Robert'); DROP TABLE messages;-- \\"
        self.pub(a, self.room_topic(room), plain, 1)
        _, env2 = self.expect_env(a, self.room_topic(room), alice, text=plain)
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room, atok), [env, env2])
        self.pub(a, self.dm_topic(alice), {'text': text, 'meta': meta}, 1)
        _, dm = self.expect_env(a, self.dm_topic(alice), alice, text=text, meta=meta)
        self.assertEqual(self.history('/v1/dms/%s/messages' % alice, atok), [dm])


class HttpTest(ChatTest):

    def test_huge_body_413(self):
        name = self.uid('u')
        body = json.dumps({'id': name, 'password': 'x' * 70000}).encode()
        self.api('POST', '/v1/users', body, SERVICE_KEY, 413, 'too_large')
        big = b'{"id":"%s","password":"' % name.encode() + b'x' * (4 << 20) + b'"}'
        r = self.http('POST', '/v1/users', big, SERVICE_KEY)
        self.assert_error(r, 413, 'too_large')
        # Nothing was created.
        self.make_user(name)
        # The API still answers.
        self.assertEqual(self.api('GET', '/healthz'), {'status': 'ok'})

    def test_malformed_json_400(self):
        _, atok = self.new_user('a')
        for bad in (b'{"name":', b'not json', b'{"name":"x",}', b'\xff\xfe', b'[1,2]', b'"x"',
                    b'', b'{"name":"x"} {"name":"y"}', b'{"name":"x"} trailing',
                    b'{"name":"caf\xc3"}', b'{"name":' + b'[' * 10000 + b']' * 10000 + b'}'):
            self.api('POST', '/v1/rooms', bad, atok, 400, 'bad_json')
        self.api('POST', '/v1/users', b'{"id":', SERVICE_KEY, 400, 'bad_json')
        self.api('POST', '/v1/tokens', b'{', None, 400, 'bad_json')
        # Wrong member types: bad_request, and nothing made.
        name = self.uid('r')
        for body in ({'name': 5}, {'name': name, 'private': 'yes'},
                     {'name': name, 'member_cap': 'ten'}, {'name': [name]}):
            self.api('POST', '/v1/rooms', body, atok, 400, 'bad_request')
        self.api('GET', '/v1/rooms/%s' % name, None, atok, 404, 'not_found')
        # null counts as absent.
        got = self.api('POST', '/v1/rooms', {'name': name, 'private': None}, atok, 201)
        self.assertEqual(got['private'], False)

    def test_bearer_refused_401(self):
        name = self.make_user()
        good = self.service_token(name)
        body = {'name': self.uid('r')}
        bearers = [None, '', 'garbage', 'Bearer', 'a.b.c', SERVICE_KEY + 'x',
                   mint(name, secret='wrong key'),
                   mint(name, exp=int(time.time()) - 10), mint(name, role='admin'),
                   good[:-3] + ('xyz' if not good.endswith('xyz') else 'abc')]
        for b in bearers:
            r = self.http('POST', '/v1/rooms', body, b)
            self.assert_error(r, 401, 'unauthorized')
        r = self.http('POST', '/v1/rooms', body, headers=['Authorization: Basic dXNlcjpwdw=='])
        self.assert_error(r, 401, 'unauthorized')
        # None of them created the room; the good token does.
        self.api('GET', '/v1/rooms/%s' % body['name'], None, good, 404, 'not_found')
        self.api('POST', '/v1/rooms', body, good, 201)

    def test_unknown_path_and_method(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        for path in ('/v1/nothing-here', '/v1/rooms/%s/' % room, '/v1/', '/'):
            self.api('GET', path, None, atok, 404, 'not_found')
        for method, path, allow in (('GET', '/v1/tokens', 'POST'),
                                    ('DELETE', '/v1/users', 'POST'),
                                    ('PATCH', '/v1/rooms/%s' % room, 'GET'),
                                    ('GET', '/v1/users/%s/decoration' % alice, 'PUT')):
            r = self.http(method, path, None, atok)
            self.assert_error(r, 405, 'method_not_allowed')
            self.assertIn(allow, r.headers.get('allow', ''), repr((r, r.headers)))
        r = self.http('HEAD', '/v1/tokens', None, atok)
        self.assertEqual(r.status, 405, repr(r))
        # A bad name in the path: 400 invalid_name.
        self.api('GET', '/v1/rooms/a%20b', None, atok, 400, 'invalid_name')
        self.api('GET', '/v1/dms/%s/messages' % ('x' * 65), None, atok, 400, 'invalid_name')

    def test_headers(self):
        _, atok = self.new_user('a')
        for r in (self.http('GET', '/healthz'),
                  self.http('GET', '/v1/rooms/%s' % self.uid('none'), None, atok),
                  self.http('POST', '/v1/rooms', b'{', atok)):
            self.assertTrue(r.headers.get('content-type', '').startswith('application/json'),
                            repr((r, r.headers)))
            self.assertEqual(r.headers.get('cache-control'), 'no-store', repr((r, r.headers)))
        r = self.http('GET', '/metrics')
        self.assertTrue(r.headers.get('content-type', '').startswith('text/plain; version=0.0.4'),
                        repr(r.headers))

    def test_healthz(self):
        self.assertEqual(self.api('GET', '/healthz'), {'status': 'ok'})

    def test_metrics(self):
        def sample(text, result):
            m = re.search(r'^mqchat_chat_messages_total\{result="%s"\} ([0-9.eE+]+)$' % result,
                          text, re.M)
            self.assertTrue(m, 'no mqchat_chat_messages_total{result="%s"}:\n%s'
                            % (result, text[:3000]))
            return float(m.group(1))
        r = self.http('GET', '/metrics')
        self.assertEqual(r.status, 200, repr(r))
        self.assertIn('# TYPE mqchat_chat_messages_total counter', r.text)
        for name in ('mqchat_connections', 'mqchat_messages_received_total',
                     'mqchat_messages_sent_total', 'mqchat_uptime_seconds'):
            self.assertRegex(r.text, r'(?m)^%s(\{[^}]*\})? [0-9]' % name)
        acc, ref = sample(r.text, 'accepted'), sample(r.text, 'refused')
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok)
        self.pub(a, self.room_topic(room), 'counted', 1)
        self.pub(a, self.room_topic(room), b'', 1)          # refused: empty
        self.pub(a, self.room_topic(room), 'counted too', 1)
        text = self.http('GET', '/metrics').text
        self.assertEqual(sample(text, 'accepted'), acc + 2)
        self.assertEqual(sample(text, 'refused'), ref + 1)


if __name__ == '__main__':
    unittest.main()
