"""History over HTTP (doc/protocol.md, "History"): the latest `limit`
messages oldest first, paging back with `before`, forward with `since` (an
id, or Unix milliseconds below 10^14), `limit` bounds and bad parameters,
access to a private room's history, each message exactly the envelope its
subscribers received."""

import time
import unittest

from chatlib import SERVICE_KEY, ChatTest


class HistoryTest(ChatTest):
    N = 30

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sent = None

    def setUp(self):
        super().setUp()
        if type(self).sent is None:
            type(self).sent = self.fill()
        self.room, self.token, self.envs, self.t0 = type(self).sent

    def fill(self):
        """One room with N messages m00..m29, as its subscriber got them."""
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        t0 = int(time.time() * 1000) - 1
        envs = []
        for i in range(self.N):
            self.pub(a, self.room_topic(room), 'm%02d' % i, 1)
            envs.append(self.expect_env(a, self.room_topic(room), alice, text='m%02d' % i)[1])
        a.disconnect()
        return room, atok, envs, t0

    def get(self, query='', status=200, code=None):
        return self.history('/v1/rooms/%s/messages%s' % (self.room, query), self.token, status,
                            code)

    def texts(self, msgs):
        return [m.get('text') for m in msgs]

    def test_default_is_latest_50_oldest_first(self):
        got = self.api('GET', '/v1/rooms/%s/messages' % self.room, None, self.token)
        self.assertEqual(got['room'], self.room)
        self.assertEqual(got['messages'], self.envs, 'history = the envelopes delivered')

    def test_limit_latest_oldest_first(self):
        self.assertEqual(self.get('?limit=10'), self.envs[20:])
        self.assertEqual(self.get('?limit=1'), self.envs[29:])
        self.assertEqual(self.get('?limit=1000'), self.envs)

    def test_before_pages_back(self):
        page = self.get('?limit=10')
        self.assertEqual(self.texts(page), ['m%02d' % i for i in range(20, 30)])
        seen = list(page)
        while True:
            page = self.get('?limit=10&before=%s' % page[0]['id'])
            if not page:
                break
            self.assertLessEqual(len(page), 10)
            seen[:0] = page
            self.assertLess(len(seen), 100, 'paging does not end')
        self.assertEqual(seen, self.envs)
        self.assertEqual(self.get('?before=%s&limit=10' % self.envs[15]['id']),
                         self.envs[5:15])
        self.assertEqual(self.get('?before=%s' % self.envs[0]['id']), [])

    def test_since_id_forward(self):
        self.assertEqual(self.get('?since=%s' % self.envs[24]['id']), self.envs[25:])
        # Oldest first from that point, limit counting forward.
        self.assertEqual(self.get('?since=%s&limit=5' % self.envs[0]['id']), self.envs[1:6])
        self.assertEqual(self.get('?since=%s' % self.envs[-1]['id']), [])

    def test_since_ms(self):
        self.assertEqual(self.get('?since=%d' % self.t0), self.envs)
        # From that millisecond on (inclusive).
        t = self.envs[20]['ts']
        self.assertEqual(self.get('?since=%d' % t), [e for e in self.envs if e['ts'] >= t])
        self.assertEqual(self.get('?since=%d&limit=3' % self.t0), self.envs[:3])
        later = self.envs[-1]['ts'] + 60000
        self.assertEqual(self.get('?since=%d' % later), [])
        # Before the history window (7 days): moved up to it, all still here.
        self.assertEqual(self.get('?since=1'), self.envs)

    def test_since_and_before(self):
        self.assertEqual(self.get('?since=%s&before=%s' % (self.envs[5]['id'],
                                                           self.envs[10]['id'])),
                         self.envs[6:10])
        self.assertEqual(self.get('?since=%s&before=%s&limit=2' % (self.envs[5]['id'],
                                                                   self.envs[10]['id'])),
                         self.envs[6:8])

    def test_limit_bounds(self):
        # limit is clamped to 1..1000; not a number: 400.
        self.assertEqual(self.get('?limit=0'), self.envs[29:])
        self.assertEqual(self.get('?limit=5000'), self.envs)
        for bad in ('limit=abc', 'limit=-1', 'limit=10x', 'limit=', 'before=abc', 'since=abc',
                    'before=-5', 'since=1e3', 'since=+5', 'before=9223372036854775808',
                    'since=99999999999999999999999'):
            self.get('?' + bad, 400, 'bad_request')

    def test_access(self):
        self.api('GET', '/v1/rooms/%s/messages' % self.room, None, None, 401, 'unauthorized')
        self.api('GET', '/v1/rooms/%s/messages' % self.room, None, 'garbage', 401,
                 'unauthorized')
        self.api('GET', '/v1/rooms/%s/messages' % self.uid('none'), None, self.token, 404,
                 'not_found')
        # Any user reads a public room's history; the service key too.
        _, btok = self.new_user('b')
        self.assertEqual(self.history('/v1/rooms/%s/messages?limit=2' % self.room, btok),
                         self.envs[28:])
        self.assertEqual(self.history('/v1/rooms/%s/messages?limit=2' % self.room, SERVICE_KEY),
                         self.envs[28:])

    def test_private_room_history(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok, private=True)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        self.pub(a, self.room_topic(room), 'secret plans 42', 1)
        _, env = self.expect_env(a, self.room_topic(room), alice, text='secret plans 42')
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room, atok), [env])
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room, SERVICE_KEY), [env])
        r = self.http('GET', '/v1/rooms/%s/messages' % room, None, btok)
        self.assert_error(r, 403, 'private_room')
        self.assertNotIn('secret plans 42', r.text)
        self.join(room, atok, user=bob)
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room, btok), [env])


if __name__ == '__main__':
    unittest.main()
