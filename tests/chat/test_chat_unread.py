"""Unread counts (doc/protocol.md, "Chat features", "Unread counts"): read
markers set over MQTT ({"upto": id} on chat/room/{room}/read, members only,
delivered to nobody) or POST /v1/rooms/{room}/read; markers only move
forward; posting moves your own marker; a new member starts with the past
read; the retained summary on chat/user/{user}/events
({"type":"unread","rooms":{...},"total":N}, rooms at 0 left out) and
GET /v1/users/{user}/unread; counts stop at chat.unread_max; markers and
counts survive a restart.

Summaries are coalesced (at most one per chat.presence_interval, 200 ms
here), so tests wait for the state they expect and check every summary
seen on the way.
"""

import time
import unittest

from chatlib import (FAST_INTERVAL_MS, NOT_AUTHORIZED, PAYLOAD_FORMAT_INVALID, SERVICE_KEY,
                     FeatureTest, feature_config, json_or_none)


class UnreadBase(FeatureTest):

    def is_summary(self, v):
        return v.get('type') == 'unread'

    def wait_unread(self, c, user, rooms, msg=''):
        """Waits on c (subscribed to user's events) for the summary whose
        rooms are `rooms`; checks every summary seen; returns it."""
        seen = []
        _, s = self.wait_json(c, self.events_topic(user),
                              lambda v: self.is_summary(v) and v.get('rooms') == rooms,
                              seen=seen, msg=msg or '(unread %r)' % rooms)
        for _, p, v in seen:
            if v is None or not self.is_summary(v):
                continue
            self.check_summary(v)
        self.assertEqual(s, {'type': 'unread', 'rooms': rooms, 'total': sum(rooms.values())})
        return s

    def check_summary(self, v):
        self.assertEqual(set(v), {'type', 'rooms', 'total'}, repr(v))
        self.assertIsInstance(v['rooms'], dict, repr(v))
        for room, n in v['rooms'].items():
            self.assertIsInstance(n, int, repr(v))
            self.assertGreater(n, 0, 'rooms with nothing unread are left out: %r' % v)
        self.assertEqual(v['total'], sum(v['rooms'].values()), repr(v))

    def no_summary(self, c, user, msg=''):
        """No unread summary on c for three intervals and a margin."""
        got = [v for _, p, v in self.record(c, 3 * FAST_INTERVAL_MS / 1000.0 + 0.4)
               if p.topic == self.events_topic(user) and (v or {}).get('type') == 'unread']
        self.assertEqual(got, [], msg)

    def unread(self, user, token=SERVICE_KEY, status=200, code=None):
        return self.api('GET', '/v1/users/%s/unread' % user, None, token, status, code)

    def post(self, c, sender, room, texts):
        """c (subscribed to the room) posts texts; returns their ids."""
        ids = []
        for t in texts:
            self.pub(c, self.room_topic(room), t, 1)
            ids.append(self.expect_env_chat(c, self.room_topic(room), sender, text=t)[1]['id'])
        return ids

    def setup_room(self, alice_v5=False):
        """alice owns a room bob joined; alice listens to her events; bob
        is subscribed to the room. Returns (room, alice, atok, a, bob, btok, b)."""
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.member_room(atok, btok)
        mk = self.chat5 if alice_v5 else self.chat311
        a = mk(alice, atok, subs=[(self.events_topic(alice), 1)], name='alice')
        b = self.chat311(bob, btok, subs=[(self.room_topic(room), 1)], name='bob')
        return room, alice, atok, a, bob, btok, b


class UnreadTest(UnreadBase):

    def test_summary_marker_and_http(self):
        room, alice, atok, a, bob, btok, b = self.setup_room()
        ids = self.post(b, bob, room, ['u1', 'u2', 'u3'])
        s3 = self.wait_unread(a, alice, {room: 3})
        # Retained: a new device subscribing gets it at once.
        a2 = self.chat5(alice, atok, name='alice-2')
        a2.do_subscribe5([(self.events_topic(alice), 1)])
        p = self.next_pub(a2, msg='(retained unread summary)')
        self.assertEqual((p.topic, p.retain), (self.events_topic(alice), True), repr(p))
        self.assertEqual(json_or_none(p.payload), s3)
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {room: 3}, 'total': 3})
        # A read marker (3.1.1, QoS 1) up to the second message: 1 left.
        self.pub(a, self.read_topic(room), {'upto': ids[1]}, 1)
        self.wait_unread(a, alice, {room: 1})
        self.wait_unread(a2, alice, {room: 1})
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {room: 1}, 'total': 1})
        self.assertEqual(self.unread(alice), {'user': alice, 'rooms': {room: 1}, 'total': 1})
        self.unread(alice, btok, 403, 'forbidden')
        self.unread(alice, None, 401, 'unauthorized')
        # Never backwards (QoS 0 this time): nothing changes.
        self.pub(a, self.read_topic(room), {'upto': ids[0]}, 0)
        self.no_summary(a, alice, 'a marker never moves back')
        self.assertEqual(self.unread(alice, atok)['rooms'], {room: 1})
        r = self.http('POST', '/v1/rooms/%s/read' % room, {'upto': ids[0]}, atok)
        self.assertEqual(r.status, 200, repr(r))
        self.assertEqual(self.unread(alice, atok)['rooms'], {room: 1})
        # Over HTTP to the last one: nothing unread, the room left out.
        r = self.http('POST', '/v1/rooms/%s/read' % room, {'upto': ids[2]}, atok)
        self.assertEqual(r.status, 200, repr(r))
        self.wait_unread(a, alice, {})
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {}, 'total': 0})
        # The read topic is consumed: bob (in the room) got nothing of it.
        self.quiet_chat(b)

    def test_marker_as_number_v5(self):
        room, alice, atok, a, bob, btok, b = self.setup_room(alice_v5=True)
        ids = self.post(b, bob, room, ['n1', 'n2', 'n3', 'n4'])
        self.wait_unread(a, alice, {room: 4})
        # The id as a JSON number (all 64 bits of it: json.dumps writes it exactly).
        self.pub(a, self.read_topic(room), '{"upto":%d}' % int(ids[1]), 1, reason=0)
        self.wait_unread(a, alice, {room: 2})
        self.pub(a, self.read_topic(room), {'upto': ids[2]}, 0)
        self.wait_unread(a, alice, {room: 1})

    def test_bad_marker_payloads(self):
        room, alice, atok, a, bob, btok, b = self.setup_room(alice_v5=True)
        ids = self.post(b, bob, room, ['b1', 'b2'])
        self.wait_unread(a, alice, {room: 2})
        topic = self.read_topic(room)
        for payload in (b'', b'hello', b'{}', b'[1]', b'{"upto":"abc"}', b'{"upto":-5}',
                        b'{"upto":1.5}', b'{"upto":true}', b'{"upto":{}}',
                        b'{"upto":"123456789012345678901234567890"}', b'{"upto":"12 3"}',
                        b'{"upto":' + ids[1].encode() + b'', b'\xff\xfe'):
            self.pub(a, topic, payload, 1, reason=PAYLOAD_FORMAT_INVALID)
            self.expect_notice_chat(a, alice, topic, None, PAYLOAD_FORMAT_INVALID,
                                    msg='(payload %r)' % payload)
        # 3.1.1: the PUBACK and the notice.
        a3 = self.chat311(alice, atok, subs=[(self.events_topic(alice), 0)], name='alice-311')
        self.pub(a3, topic, b'{"upto":"abc"}', 1)
        self.expect_notice_chat(a3, alice, topic, None, PAYLOAD_FORMAT_INVALID)
        for body in ({}, {'upto': 'abc'}, {'upto': -1}, {'upto': True}, '{"upto":'):
            r = self.http('POST', '/v1/rooms/%s/read' % room, body, atok)
            self.assert_error(r, 400)
        self.assertEqual(self.unread(alice, atok)['rooms'], {room: 2}, 'nothing refused moved it')
        self.no_summary(a, alice)

    def test_non_member_marker_refused(self):
        room, alice, atok, a, bob, btok, b = self.setup_room()
        ids = self.post(b, bob, room, ['x'])
        carol, ctok = self.new_user('c')   # never joined the public room
        topic = self.read_topic(room)
        c5 = self.chat5(carol, ctok, subs=[(self.events_topic(carol), 0)], name='carol-5')
        self.pub(c5, topic, {'upto': ids[0]}, 1, reason=NOT_AUTHORIZED)
        self.expect_notice_chat(c5, carol, topic, 'not_member', NOT_AUTHORIZED)
        c3 = self.chat311(carol, ctok, subs=[(self.events_topic(carol), 0)], name='carol-311')
        self.pub(c3, topic, {'upto': ids[0]}, 1)
        self.expect_notice_chat(c3, carol, topic, 'not_member', NOT_AUTHORIZED)
        self.maybe_notice(c5)
        r = self.http('POST', '/v1/rooms/%s/read' % room, {'upto': ids[0]}, ctok)
        self.assert_error(r, 403)
        # A private room too.
        private = self.member_room(atok, btok, private=True)
        topic = self.read_topic(private)
        self.pub(c5, topic, {'upto': ids[0]}, 1, reason=NOT_AUTHORIZED)
        self.expect_notice_chat(c5, carol, topic, 'not_member', NOT_AUTHORIZED)
        self.maybe_notice(c3)
        self.assertEqual(self.unread(carol, ctok), {'user': carol, 'rooms': {}, 'total': 0})
        self.quiet_chat(c5, c3)

    def test_posting_moves_own_marker(self):
        room, alice, atok, a, bob, btok, b = self.setup_room(alice_v5=True)
        b.do_subscribe([(self.events_topic(bob), 1)])
        self.post(b, bob, room, ['p1', 'p2'])
        self.wait_unread(a, alice, {room: 2})
        # alice posts (not subscribed to the room): her marker moves to her
        # message, past bob's.
        self.pub(a, self.room_topic(room), 'mine', 1)
        self.wait_unread(a, alice, {})
        # bob had read his own two; alice's is new to him.
        self.wait_unread(b, bob, {room: 1})
        self.assertEqual(self.unread(bob, btok), {'user': bob, 'rooms': {room: 1}, 'total': 1})
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {}, 'total': 0})

    def test_new_member_starts_read(self):
        room, alice, atok, a, bob, btok, b = self.setup_room()
        self.post(b, bob, room, ['old1', 'old2', 'old3'])
        carol, ctok = self.new_user('c')
        dave, dtok = self.new_user('d')
        self.join(room, ctok)   # over HTTP
        d = self.chat311(dave, dtok, subs=[(self.room_topic(room), 1),   # by subscribing
                                          (self.events_topic(dave), 1)], name='dave')
        for who, tok in ((carol, ctok), (dave, dtok)):
            self.assertEqual(self.unread(who, tok), {'user': who, 'rooms': {}, 'total': 0},
                             'joining does not make the past unread')
        self.post(b, bob, room, ['new'])
        self.wait_unread(d, dave, {room: 1})
        for who, tok in ((carol, ctok), (dave, dtok)):
            self.wait_api('GET', '/v1/users/%s/unread' % who,
                          lambda v: v.get('rooms') == {room: 1} and v.get('total') == 1, tok)

    def test_several_rooms(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        r1 = self.member_room(atok, btok)
        r2 = self.member_room(atok, btok, private=True)
        a = self.chat311(alice, atok, subs=[(self.events_topic(alice), 1)], name='alice')
        b = self.chat5(bob, btok, subs=[(self.room_topic(r1), 1), (self.room_topic(r2), 1)],
                       name='bob')
        self.post(b, bob, r1, ['a', 'b'])
        self.post(b, bob, r2, ['c'])
        self.wait_unread(a, alice, {r1: 2, r2: 1})
        self.assertEqual(self.unread(alice, atok),
                         {'user': alice, 'rooms': {r1: 2, r2: 1}, 'total': 3})

    def test_read_topic_delivered_to_nobody(self):
        room, alice, atok, a, bob, btok, b = self.setup_room()
        ids = self.post(b, bob, room, ['r'])
        svc, stok = self.new_user('svc', role='service')
        s = self.chat311(svc, stok, subs=[(self.read_topic(room), 1),
                                         ('chat/room/%s/#' % room, 1)], name='service')
        self.pub(a, self.read_topic(room), {'upto': ids[0]}, 1)
        self.quiet_chat(s, b, msg='(a read marker is consumed by the broker)')


class UnreadCapTest(UnreadBase):
    """chat.unread_max 3: counts stop there ("3 or more")."""

    CONFIG = feature_config({'chat.unread_max': 3})

    def test_counts_stop_at_unread_max(self):
        room, alice, atok, a, bob, btok, b = self.setup_room()
        self.post(b, bob, room, ['c%d' % i for i in range(5)])
        self.wait_unread(a, alice, {room: 3})
        time.sleep(3 * FAST_INTERVAL_MS / 1000.0)
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {room: 3}, 'total': 3})


class UnreadRestartTest(UnreadBase):
    """Markers are stored and counts rebuilt at start-up (a broker per test)."""

    SHARED = False

    def test_unread_survives_restart(self):
        room, alice, atok, a, bob, btok, b = self.setup_room()
        ids = self.post(b, bob, room, ['s1', 's2', 's3'])
        self.pub(a, self.read_topic(room), {'upto': ids[0]}, 1)
        self.wait_unread(a, alice, {room: 2})
        self.restart_broker()
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {room: 2}, 'total': 2})
        a = self.chat311(alice, atok, subs=[(self.events_topic(alice), 1)], name='alice-again')
        b = self.chat311(bob, btok, subs=[(self.room_topic(room), 1)], name='bob-again')
        ids += self.post(b, bob, room, ['s4'])
        self.wait_unread(a, alice, {room: 3})
        # The stored marker still holds: an older one does not move it back.
        self.pub(a, self.read_topic(room), {'upto': ids[0]}, 1)
        self.pub(a, self.read_topic(room), {'upto': ids[2]}, 1)
        self.wait_unread(a, alice, {room: 1})
        # A crash a second later (the marker's write had time to reach the database).
        time.sleep(1.0)
        self.restart_broker(kill=True)
        self.assertEqual(self.unread(alice, atok), {'user': alice, 'rooms': {room: 1}, 'total': 1})


if __name__ == '__main__':
    unittest.main()
