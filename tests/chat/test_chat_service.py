"""The service role (doc/protocol.md, "Roles", chat/system and
"Notifications"): a service user publishes system notifications over MQTT;
POST /v1/notifications reaches everyone (chat/system), a room
(chat/room/{room}/system) or one user (chat/user/{user}/events) at QoS 1 as
a type system envelope, archived in the room's history."""

import time
import unittest

from chatlib import SERVICE_KEY, ChatTest, mint


class ServicePublishTest(ChatTest):

    def test_service_user_publishes_system(self):
        alice, atok = self.new_user('a')
        svc, stok = self.new_user('svc', role='service')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[('chat/system', 1),
                                             ('chat/room/%s/system' % room, 1)])
        s = self.chat5(svc, stok)
        self.pub(s, 'chat/system', 'maintenance at noon', 1)
        _, env = self.expect_env(a, 'chat/system', svc, qos=1, type='system',
                                 text='maintenance at noon')
        self.assertNotIn('room', env)
        self.pub(s, 'chat/room/%s/system' % room,
                 {'type': 'system', 'text': 'room closes soon', 'meta': {'kind': 'schedule'}}, 1)
        self.expect_env(a, 'chat/room/%s/system' % room, svc, type='system', room=room,
                        text='room closes soon', meta={'kind': 'schedule'})
        self.quiet(a)

    def test_service_user_notifies_one_user(self):
        # chat/user/{user}/events: the broker's topic, but the service may
        # post a notification there over MQTT, as POST /v1/notifications does.
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        svc, stok = self.new_user('svc', role='service')
        a = self.chat311(alice, atok, subs=[(self.events_topic(alice), 1)])
        b = self.chat5(bob, btok, subs=[(self.events_topic(bob), 1)])
        s = self.chat5(svc, stok)
        self.pub(s, self.events_topic(bob), {'type': 'text', 'text': 'your order shipped'}, 1)
        self.expect_env(b, self.events_topic(bob), svc, qos=1, type='system', to=bob,
                        text='your order shipped')
        self.quiet(a, b)

    def test_integrator_service_token(self):
        # A service identity that exists only in the integrator's token.
        bot = self.uid('bot')
        alice, atok = self.new_user('a')
        a = self.chat311(alice, atok, subs=[('chat/system', 1)])
        b = self.chat5(bot, mint(bot, role='service', iat=int(time.time())))
        self.pub(b, 'chat/system', 'from the back end', 1)
        self.expect_env(a, 'chat/system', bot, type='system', text='from the back end')
        # and it may subscribe to everything under the prefix.
        b.do_subscribe5([('chat/#', 1)])


class NotificationTest(ChatTest):

    def test_notification_to_all(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        a = self.chat311(alice, atok, subs=[('chat/system', 1)])
        b = self.chat5(bob, btok, subs=[('chat/system', 2)])
        got = self.svc('POST', '/v1/notifications',
                       {'target': 'all', 'text': 'we are live', 'meta': {'kind': 'live'}}, 201)
        self.assertEqual(got['topic'], 'chat/system', repr(got))
        for c in (a, b):
            _, env = self.expect_env(c, 'chat/system', 'service', qos=1, id=got['id'],
                                     type='system', text='we are live', meta={'kind': 'live'})
            self.assertNotIn('room', env)
            self.assertNotIn('to', env)

    def test_notification_to_room(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        other = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[('chat/room/%s/system' % room, 1),
                                             ('chat/room/%s/system' % other, 1),
                                             (self.room_topic(room), 1)])
        got = self.svc('POST', '/v1/notifications',
                       {'target': 'room', 'room': room, 'text': 'Stream starts in 5 minutes',
                        'meta': {'kind': 'schedule'}}, 201)
        self.assertEqual(got['topic'], 'chat/room/%s/system' % room, repr(got))
        _, env = self.expect_env(a, 'chat/room/%s/system' % room, 'service', qos=1,
                                 id=got['id'], type='system', room=room,
                                 text='Stream starts in 5 minutes', meta={'kind': 'schedule'})
        self.quiet(a, msg='(only on that room\'s system topic)')
        # In the room's history, as delivered.
        msgs = self.history('/v1/rooms/%s/messages' % room, atok)
        self.assertEqual(msgs, [env])

    def test_notification_to_user(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        a = self.chat311(alice, atok, subs=[(self.events_topic(alice), 1)])
        b = self.chat311(bob, btok, subs=[(self.events_topic(bob), 1)])
        got = self.svc('POST', '/v1/notifications',
                       {'target': 'user', 'user': bob, 'text': 'you won a badge'}, 201)
        self.assertEqual(got['topic'], self.events_topic(bob), repr(got))
        self.expect_env(b, self.events_topic(bob), 'service', qos=1, id=got['id'],
                        type='system', to=bob, text='you won a badge')
        self.quiet(a, b)
        # A user mqchat does not know (an integrator's) gets it too.
        ghost = self.uid('ghost')
        g = self.chat311(ghost, mint(ghost), subs=[(self.events_topic(ghost), 1)])
        got = self.svc('POST', '/v1/notifications',
                       {'target': 'user', 'user': ghost, 'text': 'welcome'}, 201)
        self.expect_env(g, self.events_topic(ghost), 'service', id=got['id'], to=ghost,
                        text='welcome')

    def test_notification_ids_increase(self):
        alice, atok = self.new_user('a')
        ids = [int(self.svc('POST', '/v1/notifications',
                            {'target': 'user', 'user': alice, 'text': 'n%d' % i}, 201)['id'])
               for i in range(3)]
        self.assertEqual(ids, sorted(set(ids)))

    def test_notification_refusals(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[('chat/system', 1), (self.events_topic(alice), 1),
                                             ('chat/room/%s/system' % room, 1)])
        body = {'target': 'all', 'text': 'not from you'}
        self.api('POST', '/v1/notifications', body, atok, 403, 'forbidden')
        self.api('POST', '/v1/notifications', body, None, 401, 'unauthorized')
        for bad in ({'target': 'everyone', 'text': 'x'},
                    {'text': 'no target'},
                    {'target': 'all', 'text': 12},
                    {'target': 'all', 'text': ''},
                    {'target': 'all', 'text': 't' * 4001},
                    {'target': 'all', 'text': 'x', 'meta': 'not an object'},
                    {'target': 'all', 'text': 'x', 'meta': {'a': [[[[[[[[[1]]]]]]]]]}}):
            self.svc('POST', '/v1/notifications', bad, 400, 'bad_request')
        for bad in ({'target': 'room', 'text': 'no room named'},
                    {'target': 'room', 'room': "o'brien", 'text': 'x'},
                    {'target': 'user', 'text': 'no user named'},
                    {'target': 'user', 'user': 'a/b', 'text': 'x'}):
            r = self.http('POST', '/v1/notifications', bad, SERVICE_KEY)
            self.assert_error(r, 400)
        self.svc('POST', '/v1/notifications', {'target': 'room', 'room': self.uid('none'),
                                               'text': 'x'}, 404, 'not_found')
        self.quiet(a, msg='(refused notifications are not delivered)')
        self.assertEqual(self.history('/v1/rooms/%s/messages' % room), [])


if __name__ == '__main__':
    unittest.main()
