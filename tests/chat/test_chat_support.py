"""Cheers and hearts (doc/protocol.md, "Chat features", "Cheers and
hearts"): types `cheer` and `heart` with meta.amount (a whole number 1 to
1000000, default 1; anything else 0x99 bad_amount) add to the room's
running totals, readable in GET /v1/rooms/{room} (with `online`) and pushed
on chat/room/{room}/presence; refused and shadow-blocked ones count for
nothing; the totals survive a restart.

A decoration applied after a change (PUT /v1/users/{user}/decoration, then
the next message carries the new `deco`) is already covered by
test_chat_rooms.RoomChatTest.test_decoration, so it is not repeated here.
"""

import unittest

from chatlib import PAYLOAD_FORMAT_INVALID, SERVICE_KEY, FeatureTest, json_or_none


class SupportBase(FeatureTest):

    def totals(self, room, token=SERVICE_KEY):
        got = self.api('GET', '/v1/rooms/%s' % room, None, token)
        return got.get('cheers'), got.get('hearts')

    def wait_totals(self, room, cheers, hearts, token=SERVICE_KEY):
        return self.wait_api('GET', '/v1/rooms/%s' % room,
                             lambda v: (v.get('cheers'), v.get('hearts')) == (cheers, hearts),
                             token, msg='(totals %d cheers, %d hearts)' % (cheers, hearts))

    def wait_presence_totals(self, c, room, cheers, hearts):
        _, v = self.wait_json(c, self.room_presence_topic(room),
                              lambda v: (v.get('cheers'), v.get('hearts')) == (cheers, hearts),
                              msg='(presence with %d cheers, %d hearts)' % (cheers, hearts))
        self.assertEqual((v.get('type'), v.get('room')), ('presence', room), repr(v))
        return v

    def support(self, c, sender, room, body, observers):
        """c posts body (accepted); each observer gets it as an envelope."""
        topic = self.room_topic(room)
        self.pub(c, topic, body, 1, reason=0)
        for o in observers:
            self.expect_env_chat(o, topic, sender, type=body['type'],
                                 meta=body.get('meta', '<absent>'))


class SupportTest(SupportBase):

    def test_totals_in_room_and_presence(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.member_room(atok, btok)
        rp = self.room_presence_topic(room)
        obs = self.chat311(alice, atok, subs=[(rp, 0)], name='observer')
        viewer = self.chat5(alice, atok, subs=[(self.room_topic(room), 1)], name='viewer')
        self.wait_json(obs, rp, lambda v: v.get('online') == 1)
        self.assertEqual(self.totals(room, atok), (0, 0))
        b = self.chat5(bob, btok, name='bob')
        self.support(b, bob, room, {'type': 'cheer', 'text': 'great stream!',
                                    'meta': {'amount': 100}}, [viewer])
        self.support(b, bob, room, {'type': 'heart', 'meta': {'amount': 1}}, [viewer])
        v = self.wait_presence_totals(obs, room, 100, 1)
        self.assertEqual(v.get('online'), 1, repr(v))
        got = self.wait_totals(room, 100, 1, atok)
        self.assertEqual(got.get('online'), 1, repr(got))
        # No amount: 1 each; 3.1.1 too; the bounds.
        b3 = self.chat311(bob, btok, name='bob-311')
        self.support(b3, bob, room, {'type': 'heart'}, [viewer])
        self.support(b3, bob, room, {'type': 'cheer', 'text': 'one more'}, [viewer])
        self.support(b, bob, room, {'type': 'heart', 'meta': {'amount': 1000000}}, [viewer])
        self.support(b, bob, room, {'type': 'cheer', 'meta': {'amount': 1, 'note': 'x'}},
                     [viewer])
        self.wait_presence_totals(obs, room, 102, 1000002)
        self.wait_totals(room, 102, 1000002)
        # A late subscriber gets the totals retained.
        late = self.chat311(bob, btok, subs=[(rp, 0)], name='late')
        p = self.next_pub(late, msg='(retained room presence)')
        self.assertTrue(p.retain, repr(p))
        v = json_or_none(p.payload)
        self.assertEqual((v.get('cheers'), v.get('hearts')), (102, 1000002), repr(v))
        # Plain text does not count; a sticker does not either.
        self.pub(b, self.room_topic(room), 'just text', 1)
        self.pub(b, self.room_topic(room), {'type': 'sticker', 'meta': {'amount': 50}}, 1)
        self.assertEqual(self.totals(room), (102, 1000002))

    def test_bad_amount(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.member_room(atok, btok)
        topic = self.room_topic(room)
        viewer = self.chat311(alice, atok, subs=[(topic, 1)], name='viewer')
        b5 = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob-5')
        b3 = self.chat311(bob, btok, name='bob-311')
        for kind in ('cheer', 'heart'):
            for amount in (0, -1, 1.5, 'x', '100', 2000000, 1000001, True, [1], {'n': 1}):
                body = {'type': kind, 'meta': {'amount': amount}}
                self.pub(b5, topic, body, 1, reason=PAYLOAD_FORMAT_INVALID)
                self.expect_notice_chat(b5, bob, topic, 'bad_amount', PAYLOAD_FORMAT_INVALID,
                                        msg='(%r)' % body)
        b5.do_unsubscribe5([self.events_topic(bob)])
        b3.do_subscribe([(self.events_topic(bob), 0)])
        self.pub(b3, topic, {'type': 'cheer', 'meta': {'amount': 0}}, 1)
        self.expect_notice_chat(b3, bob, topic, 'bad_amount', PAYLOAD_FORMAT_INVALID)
        self.quiet_chat(viewer, msg='(refused support is not delivered)')
        self.assertEqual(self.totals(room), (0, 0), 'refused support counts for nothing')
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room), [])

    def test_shadow_blocked_support_counts_nothing(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.member_room(atok, btok, ctok)
        r = self.http('POST', '/v1/rooms/%s/blocks/%s' % (room, bob), None, atok)
        self.assertIn(r.status, (200, 201, 204), repr(r))
        self.block_effect()
        b = self.chat5(bob, btok, subs=[(self.room_topic(room), 1)], name='bob')
        c = self.chat311(carol, ctok, name='carol')
        self.support(b, bob, room, {'type': 'cheer', 'meta': {'amount': 50}}, [b])
        self.support(c, carol, room, {'type': 'cheer', 'meta': {'amount': 5}}, [b])
        self.support(b, bob, room, {'type': 'heart', 'meta': {'amount': 7}}, [b])
        self.wait_totals(room, 5, 0)
        self.assertEqual(self.totals(room), (5, 0))

    def test_support_in_direct_messages_checked_too(self):
        # A cheer is a message type like any other: its amount is checked
        # wherever it is sent (no room total to add to in a DM).
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        a = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)], name='alice')
        b = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob')
        self.pub(b, self.dm_topic(alice), {'type': 'heart', 'meta': {'amount': 3}}, 1, reason=0)
        self.expect_env_chat(a, self.dm_topic(alice), bob, to=alice, type='heart',
                             meta={'amount': 3})
        self.pub(b, self.dm_topic(alice), {'type': 'cheer', 'meta': {'amount': -3}}, 1,
                 reason=PAYLOAD_FORMAT_INVALID)
        self.expect_notice_chat(b, bob, self.dm_topic(alice), 'bad_amount',
                                PAYLOAD_FORMAT_INVALID)
        self.quiet_chat(a)


class SupportRestartTest(SupportBase):
    """The totals are kept across restarts (a broker per test)."""

    SHARED = False

    def test_totals_survive_restart(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.member_room(atok, btok)
        b = self.chat5(bob, btok, name='bob')
        self.support(b, bob, room, {'type': 'cheer', 'meta': {'amount': 150}}, [])
        for _ in range(3):
            self.support(b, bob, room, {'type': 'heart'}, [])
        self.wait_totals(room, 150, 3)
        self.restart_broker()
        self.assertEqual(self.totals(room, atok), (150, 3))
        b = self.chat311(bob, btok, name='bob-again')
        self.support(b, bob, room, {'type': 'cheer', 'meta': {'amount': 50}}, [])
        obs = self.chat311(alice, atok, subs=[(self.room_presence_topic(room), 0)],
                           name='observer')
        self.wait_presence_totals(obs, room, 200, 3)
        self.wait_totals(room, 200, 3)


if __name__ == '__main__':
    unittest.main()
