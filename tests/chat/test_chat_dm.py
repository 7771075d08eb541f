"""Direct messages (doc/protocol.md, topic chat/dm/{user}): delivered to every
device of the recipient and, with the same envelope, to the sender's other
devices on chat/dm/{sender}; nobody else may subscribe to them; offline
recipients with a persistent session get them on their return; the DM
history over HTTP."""

import unittest

from broker import P_CONTENT_TYPE, P_SESSION_EXPIRY, P_USER_PROPERTY
from chatlib import NOT_AUTHORIZED, SUBACK_FAILURE_311, ChatTest


class DmTest(ChatTest):

    def test_dm_to_every_device_and_own_copy(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        b1 = self.chat311(bob, btok, subs=[(self.dm_topic(bob), 1)], name='bob-1')
        b2 = self.chat5(bob, btok, subs=[(self.dm_topic(bob), 1)], name='bob-2')
        a2 = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)], name='alice-2')
        a1 = self.chat311(alice, atok, name='alice-1')
        self.pub(a1, self.dm_topic(bob), {'text': 'psst, bob'}, 1)
        p1, e1 = self.expect_env(b1, self.dm_topic(bob), alice, to=bob, type='text',
                                 text='psst, bob')
        self.assertNotIn('room', e1)
        p2, e2 = self.expect_env(b2, self.dm_topic(bob), alice, to=bob, text='psst, bob')
        pa, ea = self.expect_env(a2, self.dm_topic(alice), alice, to=bob, text='psst, bob')
        self.assertEqual(p1.payload, p2.payload)
        self.assertEqual(p1.payload, pa.payload, 'the own copy is the same envelope')
        self.assertEqual(sorted(p2.props.all(P_USER_PROPERTY)),
                         sorted([('id', e1['id']), ('from', alice)]), repr(p2))
        self.assertEqual(p2.props.get(P_CONTENT_TYPE), 'application/json', repr(p2))
        self.quiet(b1, b2, a2, a1, msg='(one copy each)')

    def test_reply(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        a = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)])
        b = self.chat311(bob, btok, subs=[(self.dm_topic(bob), 1)])
        self.pub(a, self.dm_topic(bob), 'hi bob', 1)
        _, first = self.expect_env(b, self.dm_topic(bob), alice, to=bob, text='hi bob')
        self.expect_env(a, self.dm_topic(alice), alice, to=bob, text='hi bob')
        self.pub(b, self.dm_topic(alice), 'hi alice', 1)
        _, reply = self.expect_env(a, self.dm_topic(alice), bob, to=alice, text='hi alice')
        self.expect_env(b, self.dm_topic(bob), bob, to=alice, text='hi alice')
        self.assertGreater(int(reply['id']), int(first['id']))

    def test_dm_to_self(self):
        alice, atok = self.new_user('a')
        a = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)])
        self.pub(a, self.dm_topic(alice), 'note to self', 1)
        self.expect_env(a, self.dm_topic(alice), alice, to=alice, text='note to self')
        self.quiet(a, msg='(a DM to yourself arrives once)')

    def test_dm_to_user_mqchat_does_not_know(self):
        # Any valid user id: integrators' users need not be in the table.
        alice, atok = self.new_user('a')
        ghost = self.uid('ghost')
        a = self.chat5(alice, atok, subs=[(self.dm_topic(alice), 1)])
        self.pub(a, self.dm_topic(ghost), 'are you there?', 1)
        _, env = self.expect_env(a, self.dm_topic(alice), alice, to=ghost,
                                 text='are you there?')
        msgs = self.history('/v1/dms/%s/messages' % ghost, atok)
        self.assertEqual([m['id'] for m in msgs], [env['id']])

    def test_others_dms_refused(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        b = self.chat311(bob, btok)
        for flt in (self.dm_topic(alice), 'chat/dm/+', 'chat/dm/#', 'chat/dm/%s/#' % alice,
                    self.events_topic(alice), 'chat/user/+/events', 'chat/user/#'):
            b.do_subscribe([(flt, 1)], codes=[SUBACK_FAILURE_311])
        b5 = self.chat5(bob, btok)
        b5.do_subscribe5([(self.dm_topic(alice), 1), ('chat/dm/+', 1)],
                         codes=[NOT_AUTHORIZED, NOT_AUTHORIZED])
        # Your own, and below them: allowed.
        b.do_subscribe([(self.dm_topic(bob), 1), ('chat/dm/%s/#' % bob, 1),
                        (self.events_topic(bob), 0), ('chat/user/%s/events/#' % bob, 0)])
        a = self.chat311(alice, atok)
        self.pub(a, self.dm_topic(alice), 'private thoughts', 1)
        self.quiet(b, b5, msg="(alice's DMs never reach bob)")

    def test_offline_delivery_persistent_session_311(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        cid = self.uid('bob-phone')
        b = self.chat311(bob, btok, client_id=cid, clean=False, subs=[(self.dm_topic(bob), 1)])
        b.disconnect()
        a = self.chat311(alice, atok)
        self.pub(a, self.dm_topic(bob), 'while you were out', 1)
        self.pub(a, self.dm_topic(bob), {'type': 'heart'}, 1)
        b = self.chat311(bob, btok, client_id=cid, clean=False, session_present=True)
        _, e1 = self.expect_env(b, self.dm_topic(bob), alice, qos=1, to=bob,
                                text='while you were out')
        _, e2 = self.expect_env(b, self.dm_topic(bob), alice, qos=1, to=bob, type='heart')
        self.assertLess(int(e1['id']), int(e2['id']))
        self.quiet(b)

    def test_offline_delivery_session_expiry_v5(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        cid = self.uid('bob-tab')
        b = self.chat5(bob, btok, client_id=cid, clean=False,
                       properties=[(P_SESSION_EXPIRY, 600)], subs=[(self.dm_topic(bob), 1)])
        b.disconnect5()
        a = self.chat5(alice, atok)
        self.pub(a, self.dm_topic(bob), 'v5 while away', 1)
        b = self.chat5(bob, btok, client_id=cid, clean=False,
                       properties=[(P_SESSION_EXPIRY, 600)], session_present=True)
        p, env = self.expect_env(b, self.dm_topic(bob), alice, qos=1, to=bob,
                                 text='v5 while away')
        self.assertIn(('id', env['id']), p.props.all(P_USER_PROPERTY))

    def test_dm_history(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        a = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)])
        b = self.chat311(bob, btok, subs=[(self.dm_topic(bob), 1)])
        sent = []
        for who, c, to, text in ((alice, a, bob, 'one'), (bob, b, alice, 'two'),
                                 (alice, a, bob, 'three')):
            self.pub(c, self.dm_topic(to), text, 1)
            _, env = self.expect_env(b if to == bob else a, self.dm_topic(to), who, text=text)
            self.expect_env(c, self.dm_topic(who), who, text=text)
            sent.append(env)
        for token, other in ((atok, bob), (btok, alice)):
            got = self.api('GET', '/v1/dms/%s/messages' % other, None, token)
            self.assertEqual(got, {'with': other, 'messages': sent})
        self.assertEqual(self.history('/v1/dms/%s/messages?limit=2' % bob, atok), sent[1:])
        # Carol's DMs with bob are not alice's.
        self.assertEqual(self.history('/v1/dms/%s/messages' % bob, ctok), [])
        self.api('GET', '/v1/dms/%s/messages' % bob, None, None, 401, 'unauthorized')


if __name__ == '__main__':
    unittest.main()
