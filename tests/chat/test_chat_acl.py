"""Who may read and write what (doc/protocol.md, "Subscribing",
"Publishing", "Refusals"): private rooms (members only; added by the owner;
a leave ends delivery at once, even on a subscription made while a member),
wildcard filters under the prefix refused, `#` accepted but filtered at
delivery, the service role reading everything, system and broker-only
topics, the display role."""

import json
import unittest

import broker
from broker import connack

from chatlib import (NOT_AUTHORIZED, PAYLOAD_FORMAT_INVALID, SERVICE_KEY, SUBACK_FAILURE_311,
                     ChatTest, mint)

NOT_MEMBER = 0x87


class PrivateRoomTest(ChatTest):

    def private_room(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok, private=True)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)], name='alice')
        return alice, atok, room, a

    def test_non_member_refused(self):
        alice, atok, room, a = self.private_room()
        bob, btok = self.new_user('b')
        topic = self.room_topic(room)
        b3 = self.chat311(bob, btok, name='bob3')
        b3.do_subscribe([(topic, 1)], codes=[SUBACK_FAILURE_311])
        b3.do_subscribe([('%s/system' % topic, 1)], codes=[SUBACK_FAILURE_311])
        b5 = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob5')
        b5.do_subscribe5([(topic, 1), ('%s/#' % topic, 1)],
                         codes=[NOT_AUTHORIZED, NOT_AUTHORIZED])
        # Every session of bob's that reads his events gets each notice. (b3
        # reads them from the start: subscribing between two refusals raced
        # with the first notice still on its way to b3's worker.)
        b3.do_subscribe([(self.events_topic(bob), 0)])
        # MQTT 5: PUBACK 0x87 and the notice.
        self.pub(b5, topic, 'let me in', 1, reason=NOT_AUTHORIZED)
        self.expect_notice(b5, bob, topic, 'not_member', NOT_MEMBER)
        self.expect_notice(b3, bob, topic, 'not_member', NOT_MEMBER)
        b5.do_publish5(topic, b'qos 0 too', 0)
        self.expect_notice(b5, bob, topic, 'not_member', NOT_MEMBER)
        self.expect_notice(b3, bob, topic, 'not_member', NOT_MEMBER)
        # MQTT 3.1.1: the PUBACK the protocol requires, then the notice.
        self.pub(b3, topic, 'let me in', 1)
        self.expect_notice(b3, bob, topic, 'not_member', NOT_MEMBER)
        self.expect_notice(b5, bob, topic, 'not_member', NOT_MEMBER)
        self.quiet(a, msg='(nothing from a non-member)')
        self.quiet(b3, b5, msg='(one notice per refusal)')
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room), [],
                         'a refused publish was archived')
        # HTTP: the room is invisible to bob, and he cannot join it himself.
        self.api('GET', '/v1/rooms/%s' % room, None, btok, 404, 'not_found')
        self.api('GET', '/v1/rooms/%s/messages' % room, None, btok, 403, 'private_room')
        self.join(room, btok, status=403, code='private_room')

    def test_owner_adds_member(self):
        alice, atok, room, a = self.private_room()
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        got = self.join(room, atok, user=bob)
        self.assertEqual((got['room'], got['user'], got['role']), (room, bob, 'member'))
        self.assertEqual(got['topic'], self.room_topic(room))
        b = self.chat311(bob, btok, subs=[(self.room_topic(room), 1)])
        self.pub(b, self.room_topic(room), 'thanks for having me', 1)
        self.expect_env(a, self.room_topic(room), bob, room=room, text='thanks for having me')
        self.expect_env(b, self.room_topic(room), bob, room=room, text='thanks for having me')
        got = self.api('GET', '/v1/rooms/%s' % room, None, btok)
        self.assertEqual((got['private'], got['members']), (True, 2))
        msgs = self.history('/v1/rooms/%s/messages' % room, btok)
        self.assertEqual([m['text'] for m in msgs], ['thanks for having me'])
        # A plain member cannot add others.
        self.join(room, btok, user=carol, status=403, code='forbidden')
        # The service role can.
        self.svc('POST', '/v1/rooms/%s/join' % room, {'user': carol})
        self.chat311(carol, ctok, subs=[(self.room_topic(room), 1)])

    def test_leave_stops_delivery_at_once(self):
        alice, atok, room, a = self.private_room()
        bob, btok = self.new_user('b')
        self.join(room, atok, user=bob)
        b3 = self.chat311(bob, btok, subs=[(self.room_topic(room), 1),
                                             (self.events_topic(bob), 0)], name='bob3')
        b5 = self.chat5(bob, btok, subs=[(self.room_topic(room), 1)], name='bob5')
        bh = self.chat311(bob, btok, subs=[('#', 1)], name='bob#')
        self.pub(a, self.room_topic(room), 'before', 1)
        for c in (a, b3, b5, bh):
            self.expect_env(c, self.room_topic(room), alice, text='before')
        self.assertEqual(self.leave(room, btok), {'room': room, 'user': bob, 'left': True})
        self.pub(a, self.room_topic(room), 'after', 1)
        self.expect_env(a, self.room_topic(room), alice, text='after')
        self.quiet(b3, b5, bh, msg='(bob left: the old subscriptions deliver nothing)')
        self.pub(b3, self.room_topic(room), 'still here?', 1)
        self.expect_notice(b3, bob, self.room_topic(room), 'not_member', NOT_MEMBER)
        self.quiet(a)

    def test_owner_removes_member(self):
        alice, atok, room, a = self.private_room()
        bob, btok = self.new_user('b')
        self.join(room, atok, user=bob)
        b = self.chat311(bob, btok, subs=[(self.room_topic(room), 1)])
        got = self.leave(room, atok, user=bob)
        self.assertEqual(got, {'room': room, 'user': bob, 'left': True})
        self.pub(a, self.room_topic(room), 'bob is gone', 1)
        self.expect_env(a, self.room_topic(room), alice, text='bob is gone')
        self.quiet(b)
        self.api('GET', '/v1/rooms/%s' % room, None, btok, 404, 'not_found')

    def test_shared_groups(self):
        """A shared group under the prefix is judged like the room; one whose
        filter starts with a wildcard is plain MQTT and gets no chat message
        (a member that may not read it would lose it for the whole group)."""
        alice, atok, room, a = self.private_room()
        svc, stok = self.new_user('svc', role='service')
        carol, ctok = self.new_user('c')
        chat_group = self.chat311(svc, stok, subs=[('$share/g1/' + self.room_topic(room), 1)],
                                  name='svc-share-room')
        wild = self.chat311(svc, stok, subs=[('$share/g2/#', 1)], name='svc-share-hash')
        self.chat311(carol, ctok, subs=[('$share/g2/#', 1)], name='carol-share-hash')
        c = self.client('carol-share-room')
        c.send(broker.connect(self.uid('c'), username=carol, password=ctok))
        c.expect(connack(False, 0))
        c.do_subscribe([('$share/g3/' + self.room_topic(room), 1)], codes=[SUBACK_FAILURE_311])
        for i in range(4):
            self.pub(a, self.room_topic(room), 'shared %d' % i, 1)
            self.expect_env(chat_group, self.room_topic(room), alice, text='shared %d' % i)
        self.quiet(wild, msg='($share/g2/# gets no chat message)')

    def test_service_reads_and_writes_private_room(self):
        alice, atok, room, a = self.private_room()
        svc, stok = self.new_user('svc', role='service')
        s = self.chat311(svc, stok, subs=[(self.room_topic(room), 1)])
        self.pub(s, self.room_topic(room), 'service here', 1)
        for c in (a, s):
            self.expect_env(c, self.room_topic(room), svc, room=room, text='service here')
        msgs = self.history('/v1/rooms/%s/messages' % room, SERVICE_KEY)
        self.assertEqual([m['text'] for m in msgs], ['service here'])


class WildcardTest(ChatTest):

    def test_snooping_filters_refused(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        bad = ['chat/#', 'chat/+', 'chat/+/+', 'chat/dm/+', 'chat/dm/#',
               'chat/user/+/events', 'chat/user/#', 'chat/room/+', 'chat/room/#',
               'chat/room/+/system', 'chat/+/%s' % alice, 'chat/dm/%s' % alice,
               'chat/user/%s/events' % alice, 'chat/+/%s/events' % bob,
               'chat/room/%s/read' % room, 'chat/room/%s/history' % room]
        b = self.chat311(bob, btok)
        for flt in bad:
            b.do_subscribe([(flt, 1)], codes=[SUBACK_FAILURE_311])
        b5 = self.chat5(bob, btok)
        b5.do_subscribe5([(f, 1) for f in bad], codes=[NOT_AUTHORIZED] * len(bad))
        # Mixed in one SUBSCRIBE: one code each.
        b.do_subscribe([(self.dm_topic(bob), 1), ('chat/#', 1), (self.events_topic(bob), 0),
                        (self.room_topic(room), 1), ('chat/system', 1),
                        ('chat/presence/%s' % alice, 0), ('chat/room/%s/+' % room, 0)],
                       codes=[1, SUBACK_FAILURE_311, 0, 1, 1, 0, 0])
        a = self.chat311(alice, atok)
        self.pub(a, self.dm_topic(alice), 'mine', 1)
        self.quiet(b, b5)

    def test_hash_accepted_but_filtered(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        public = self.make_room(atok)
        private = self.make_room(atok, private=True)
        b = self.chat311(bob, btok, subs=[('#', 1)], name='bob#')
        b5 = self.chat5(bob, btok, subs=[('#', 1)], name='bob5#')
        bp = self.chat311(bob, btok, subs=[('+/dm/+', 1)], name='bob+')
        c = self.chat311(carol, ctok, subs=[(self.dm_topic(carol), 1)])
        a = self.chat5(alice, atok, subs=[(self.events_topic(alice), 0)])
        # Others' DMs and the sender's copy: never.
        self.pub(a, self.dm_topic(carol), 'for carol only', 1)
        self.expect_env(c, self.dm_topic(carol), alice, to=carol, text='for carol only')
        # A private room bob is not in, and alice's own notices: never.
        self.pub(a, self.room_topic(private), 'inner circle', 1)
        self.pub(a, 'chat/room/%s/read' % public, 'x', 1, reason=PAYLOAD_FORMAT_INVALID)
        self.expect_notice(a, alice, 'chat/room/%s/read' % public, 'bad_request',
                           PAYLOAD_FORMAT_INVALID)
        self.quiet(b, b5, bp, msg="(# must not deliver others' DMs, private rooms, notices)")
        # His own DMs and public rooms: yes.
        self.pub(a, self.dm_topic(bob), 'for bob', 1)
        self.pub(a, self.room_topic(public), 'for everyone', 1)
        for cl in (b, b5):
            self.expect_env(cl, self.dm_topic(bob), alice, to=bob, text='for bob')
            self.expect_env(cl, self.room_topic(public), alice, room=public,
                            text='for everyone')
        self.expect_env(bp, self.dm_topic(bob), alice, to=bob, text='for bob')
        self.quiet(b, b5, bp)

    def test_service_may_subscribe_everything(self):
        alice, atok = self.new_user('a')
        carol, _ = self.new_user('c')
        svc, stok = self.new_user('svc', role='service')
        self.chat5(svc, stok).do_subscribe5([('chat/dm/+', 1), ('chat/user/+/events', 0),
                                             ('chat/room/+', 1), ('chat/+/%s' % alice, 0)])
        s = self.chat311(svc, stok, subs=[('chat/#', 1)])
        a = self.chat311(alice, atok)
        self.pub(a, self.dm_topic(carol), 'watched', 1)
        # The recipient's copy and the sender's, in either order.
        first = self.next_pub(s)
        second = self.next_pub(s)
        self.assertEqual(sorted([first.topic, second.topic]),
                         sorted([self.dm_topic(carol), self.dm_topic(alice)]))
        self.assertEqual(first.payload, second.payload)
        env = json.loads(first.payload)
        self.assertEqual((env['from'], env['to'], env['text']), (alice, carol, 'watched'))
        self.quiet(s)


class SystemTopicsTest(ChatTest):

    def test_user_cannot_publish_system(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        w = self.chat311(alice, atok, subs=[('chat/system', 1),
                                             ('chat/room/%s/system' % room, 1)], name='watcher')
        b5 = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)])
        for t in ('chat/system', 'chat/room/%s/system' % room):
            self.pub(b5, t, 'I am the system now', 1, reason=NOT_AUTHORIZED)
            self.expect_notice(b5, bob, t, 'service_only', NOT_AUTHORIZED)
        b3 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 0)])
        self.pub(b3, 'chat/system', {'type': 'system', 'text': 'fake'}, 1)
        self.expect_notice(b3, bob, 'chat/system', 'service_only', NOT_AUTHORIZED)
        self.quiet(w, msg='(nothing delivered on the system topics)')

    def test_broker_only_topics(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        w = self.chat311(alice, atok, subs=[(self.events_topic(alice), 0),
                                             ('chat/presence/%s' % bob, 0),
                                             ('chat/room/%s/presence' % room, 0)], name='watcher')
        b = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)])
        for t in (self.events_topic(bob), self.events_topic(alice), 'chat/presence/%s' % bob,
                  'chat/room/%s/presence' % room):
            self.pub(b, t, '{"type":"notice","event":"rejected"}', 1, reason=NOT_AUTHORIZED)
            self.expect_notice(b, bob, t, 'broker_only', NOT_AUTHORIZED)
        self.quiet(w, b)

    def test_display_is_read_only(self):
        alice, atok = self.new_user('a')
        viewer, vtok = self.new_user('v', role='display')
        room = self.make_room(atok)
        v = self.chat5(viewer, vtok, subs=[(self.room_topic(room), 1),
                                           (self.events_topic(viewer), 0), ('chat/system', 1)])
        for t in (self.room_topic(room), self.dm_topic(alice)):
            self.pub(v, t, 'can I talk?', 1, reason=NOT_AUTHORIZED)
            self.expect_notice(v, viewer, t, 'read_only', NOT_AUTHORIZED)
        a = self.chat311(alice, atok)
        self.pub(a, self.room_topic(room), 'you can read this', 1)
        self.expect_env(v, self.room_topic(room), alice, text='you can read this')
        # A display token minted by an integrator: read-only too.
        ghost = self.uid('screen')
        g = self.chat311(ghost, mint(ghost, role='display'),
                         subs=[(self.events_topic(ghost), 0)])
        self.pub(g, self.room_topic(room), 'x', 1)
        self.expect_notice(g, ghost, self.room_topic(room), 'read_only', NOT_AUTHORIZED)


if __name__ == '__main__':
    unittest.main()
