"""Rooms and the envelope (doc/protocol.md, "Rooms", "Subscribing",
"Publishing", "The envelope"): rooms created, read, joined and left over
HTTP (the join answer says where to connect), member caps, subscribing as
joining, auto-created rooms; chat between users with the envelope checked
member by member (id, room, from, ts, type, text, meta, deco), forged
members ignored, the MQTT 5 properties, the same bytes for every subscriber,
the subscription's QoS."""

import json
import unittest

from broker import (P_CONTENT_TYPE, P_PAYLOAD_FORMAT, P_RESPONSE_TOPIC, P_USER_PROPERTY,
                    publish5)
from chatlib import (NOT_AUTHORIZED, PREFIX, QUOTA_EXCEEDED, SERVICE_KEY, SUBACK_FAILURE_311,
                     TOPIC_NAME_INVALID, ChatTest, chat_config, now_ms)

ENVELOPE_KEYS = {'id', 'room', 'to', 'from', 'ts', 'type', 'text', 'meta', 'deco'}


class RoomHttpTest(ChatTest):

    def test_create_and_get_room(self):
        alice, atok = self.new_user('a')
        name = self.uid('r')
        t0 = now_ms()
        got = self.api('POST', '/v1/rooms', {'name': name, 'private': False, 'member_cap': 0},
                       atok, 201)
        want = {'name': name, 'private': False, 'owner': alice, 'member_cap': 0, 'members': 1}
        self.assertEqual({k: got.get(k) for k in want}, want, repr(got))
        self.assertLess(abs(got['created_ms'] - t0), 10000, repr(got))
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % name, None, atok), got)
        # Anyone may read a public room.
        _, btok = self.new_user('b')
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % name, None, btok), got)

    def test_create_room_errors(self):
        _, atok = self.new_user('a')
        name = self.make_room(atok)
        self.api('POST', '/v1/rooms', {'name': name}, atok, 409, 'exists')
        for bad in ("o'brien", 'a/b', 'a b', '#', '+', 'x' * 65, ''):
            self.api('POST', '/v1/rooms', {'name': bad}, atok, 400, 'invalid_name')
        self.api('POST', '/v1/rooms', {'name': 'a\u0000b'}, atok, 400, 'bad_json')
        self.api('GET', '/v1/rooms/a', None, atok, 404, 'not_found')  # not cut to "a"
        self.api('GET', '/v1/rooms/%s' % self.uid('none'), None, atok, 404, 'not_found')
        # A display may not create rooms.
        viewer, vtok = self.new_user('v', role='display')
        self.api('POST', '/v1/rooms', {'name': self.uid('r')}, vtok, 403, 'forbidden')

    def test_service_names_owner(self):
        bob, btok = self.new_user('b')
        name = self.uid('r')
        got = self.svc('POST', '/v1/rooms', {'name': name, 'owner': bob}, 201)
        self.assertEqual(got['owner'], bob, repr(got))
        self.assertEqual(got['private'], False, repr(got))
        self.assertEqual(self.join(name, btok)['role'], 'owner')
        got = self.svc('POST', '/v1/rooms', {'name': self.uid('r')}, 201)
        self.assertEqual(got['owner'], 'service', repr(got))
        # Only the service names someone else.
        alice, atok = self.new_user('a')
        self.api('POST', '/v1/rooms', {'name': self.uid('r'), 'owner': bob}, atok, 403,
                 'forbidden')
        self.api('POST', '/v1/rooms', {'name': self.uid('r'), 'member_cap': -1}, atok, 400,
                 'bad_request')

    def test_join_answer_says_where_to_connect(self):
        _, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        got = self.join(room, btok)
        self.assertEqual(got, {
            'room': room, 'user': bob, 'role': 'member',
            'mqtt': {'host': '127.0.0.1', 'port': self.broker.port, 'tls_port': None,
                     'ws_url': None, 'wss_url': None},   # no TLS, ws.port 0
            'topic': '%s/room/%s' % (PREFIX, room)})
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, btok)['members'], 2)
        self.join(self.uid('none'), btok, status=404, code='not_found')
        # Again: 200 with the current role; the owner is the owner; a display may join.
        self.assertEqual(self.join(room, btok)['role'], 'member')
        self.assertEqual(self.join(room, atok)['role'], 'owner')
        _, vtok = self.new_user('v', role='display')
        self.assertEqual(self.join(room, vtok)['role'], 'member')

    def test_leave(self):
        _, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        self.join(room, btok)
        self.assertEqual(self.leave(room, btok), {'room': room, 'user': bob, 'left': True})
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, btok)['members'], 1)
        self.leave(room, btok, status=404, code='not_found')
        self.leave(self.uid('none'), btok, status=404, code='not_found')
        # A plain member cannot remove others.
        carol, ctok = self.new_user('c')
        self.join(room, btok)
        self.join(room, ctok)
        self.leave(room, ctok, user=bob, status=403, code='forbidden')

    def test_member_cap(self):
        _, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        dave, dtok = self.new_user('d')
        room = self.make_room(atok, member_cap=2)
        self.join(room, btok)
        self.join(room, ctok, status=409, code='room_full')
        c = self.chat5(carol, ctok)
        c.do_subscribe5([(self.room_topic(room), 1)], codes=[QUOTA_EXCEEDED])
        d = self.chat311(dave, dtok)
        d.do_subscribe([(self.room_topic(room), 1)], codes=[SUBACK_FAILURE_311])
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok)['members'], 2)
        # A member already in is not refused.
        b = self.chat311(bob, btok, subs=[(self.room_topic(room), 1)])
        self.leave(room, btok)
        self.join(room, ctok)
        c.do_subscribe5([(self.room_topic(room), 1)])
        b.close()

    def test_subscribing_joins_public_room(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        self.chat311(bob, btok, subs=[(self.room_topic(room), 1)])
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok)['members'], 2)
        # A display views without joining.
        viewer, vtok = self.new_user('v', role='display')
        v = self.chat311(viewer, vtok, subs=[(self.room_topic(room), 1)])
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok)['members'], 2)
        a = self.chat311(alice, atok)
        self.pub(a, self.room_topic(room), 'for the viewer', 1)
        self.expect_env(v, self.room_topic(room), alice, text='for the viewer')

    def test_subscribe_unknown_room_refused(self):
        bob, btok = self.new_user('b')
        none = self.room_topic(self.uid('none'))
        self.chat311(bob, btok).do_subscribe([(none, 1)], codes=[SUBACK_FAILURE_311])
        self.chat5(bob, btok).do_subscribe5([(none, 1)], codes=[NOT_AUTHORIZED])
        # Not created by the attempt.
        self.api('GET', '/v1/rooms/%s' % none.split('/')[-1], None, btok, 404, 'not_found')

    def test_publish_unknown_room_and_bad_topics(self):
        bob, btok = self.new_user('b')
        b = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)])
        none = self.room_topic(self.uid('none'))
        self.pub(b, none, 'anyone?', 1, reason=TOPIC_NAME_INVALID)
        self.expect_notice(b, bob, none, 'unknown_room', TOPIC_NAME_INVALID)
        for t in ("chat/room/o'brien", 'chat/nonsense', 'chat/room', 'chat/room/',
                  'chat/room/x/extra/deep', "chat/dm/o'brien", 'chat/user/%s' % bob):
            self.pub(b, t, 'x', 1, reason=TOPIC_NAME_INVALID)
            self.expect_notice(b, bob, t, 'bad_topic', TOPIC_NAME_INVALID)
        # 3.1.1: the PUBACK, then the same notice.
        b3 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 0)])
        self.pub(b3, none, 'anyone?', 1)
        self.expect_notice(b3, bob, none, 'unknown_room', TOPIC_NAME_INVALID)


class RoomChatTest(ChatTest):

    def two_in_room(self, v5=False):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        self.join(room, btok)
        mk = self.chat5 if v5 else self.chat311
        a = mk(alice, atok, subs=[(self.room_topic(room), 1)], name='alice')
        b = mk(bob, btok, subs=[(self.room_topic(room), 1)], name='bob')
        return room, alice, a, bob, b

    def both(self, in_room, sender, clients, **fields):
        """The same envelope on every one of clients; returns it."""
        got = [self.expect_env(c, self.room_topic(in_room), sender, **fields) for c in clients]
        for p, _ in got[1:]:
            self.assertEqual(p.payload, got[0][0].payload)
        return got[0][1]

    def test_plain_text_envelope(self):
        room, alice, a, bob, b = self.two_in_room()
        t0 = now_ms()
        self.pub(a, self.room_topic(room), 'hello bob', 1)
        pa, ea = self.expect_env(a, self.room_topic(room), alice, qos=1, room=room,
                                 type='text', text='hello bob')
        pb, eb = self.expect_env(b, self.room_topic(room), alice, qos=1, room=room,
                                 type='text', text='hello bob')
        self.assertEqual(pa.payload, pb.payload, 'every subscriber gets the same bytes')
        self.assertTrue(set(eb) <= ENVELOPE_KEYS, repr(eb))
        for absent in ('to', 'meta', 'deco'):
            self.assertNotIn(absent, eb)
        self.assertGreaterEqual(eb['ts'], t0 - 1000)
        self.quiet(a, b)

    def test_json_payload_forged_members_ignored(self):
        room, alice, a, bob, b = self.two_in_room()
        forged = {'type': 'text', 'text': 'it was me', 'from': bob, 'id': '1', 'ts': 1,
                  'room': 'elsewhere', 'to': bob, 'deco': {'color': 'red'}}
        self.pub(a, self.room_topic(room), forged, 1)
        env = self.both(room, alice, (a, b), room=room, text='it was me', type='text')
        self.assertNotEqual(env['id'], '1')
        self.assertNotIn('to', env)
        self.assertNotIn('deco', env)
        # bob claiming to be alice: still bob.
        self.pub(b, self.room_topic(room), {'text': 'hi', 'from': alice}, 1)
        self.both(room, bob, (a, b), text='hi')

    def test_json_not_object_is_text(self):
        # Only a payload starting with '{' is JSON; anything else is text.
        room, alice, a, bob, b = self.two_in_room()
        for text in ('[1,2,3]', '"quoted"', '42', '  plain with spaces  ', 'caf\u00e9 \u2603'):
            self.pub(a, self.room_topic(room), text.encode(), 1)
            self.both(room, alice, (a, b), type='text', text=text)

    def test_meta_passthrough(self):
        room, alice, a, bob, b = self.two_in_room()
        meta = {'reply_to': '7263489123456780', 'n': [1, 2, {'a': None, 'b': True}],
                'nested': {'k': 'v', 'list': []}, 'unicode': 'caf\u00e9'}
        payload = json.dumps({'type': 'text', 'text': 'with meta', 'meta': meta}, indent=2)
        self.pub(a, self.room_topic(room), payload.encode(), 1)
        self.expect_env(a, self.room_topic(room), alice, text='with meta', meta=meta)
        p, env = self.expect_env(b, self.room_topic(room), alice, text='with meta', meta=meta)
        # Re-serialised compactly: no white space from the pretty-printed input.
        raw = p.payload.decode()
        start = raw.index('"meta":') + len('"meta":')
        self.assertNotIn('\n', raw, raw)
        self.assertTrue(raw[start:].startswith('{"reply_to":"7263489123456780","n":[1,2,'),
                        raw)

    def test_other_types(self):
        room, alice, a, bob, b = self.two_in_room()
        for body in ({'type': 'sticker', 'meta': {'sticker': 'cat-42'}},
                     {'type': 'cheer', 'text': 'go!'},
                     {'type': 'heart'}):
            self.pub(a, self.room_topic(room), body, 1)
            env = self.both(room, alice, (a, b), type=body['type'])
            self.assertEqual(env.get('text'), body.get('text'), repr(env))
            self.assertEqual(env.get('meta'), body.get('meta'), repr(env))

    def test_decoration(self):
        room, alice, a, bob, b = self.two_in_room()
        atok = self.service_token(alice)
        deco = {'color': '#ffcc00', 'badge': 'mod'}
        got = self.api('PUT', '/v1/users/%s/decoration' % alice, deco, atok)
        self.assertEqual(got, {'user': alice, 'deco': deco})
        self.pub(a, self.room_topic(room), 'decorated', 1)
        self.both(room, alice, (a, b), text='decorated', deco=deco)
        # Only alice's messages carry it.
        self.pub(b, self.room_topic(room), 'plain bob', 1)
        env = self.both(room, bob, (a, b), text='plain bob')
        self.assertNotIn('deco', env)
        # Someone else may not set it; the service may.
        btok = self.service_token(bob)
        self.api('PUT', '/v1/users/%s/decoration' % alice, {'color': 'black'}, btok, 403,
                 'forbidden')
        self.svc('PUT', '/v1/users/%s/decoration' % alice, {'color': '#000000'})
        self.pub(a, self.room_topic(room), 'recoloured', 1)
        self.both(room, alice, (a, b), text='recoloured', deco={'color': '#000000'})
        # Not an object, or over 1024 bytes: refused, the old one kept.
        self.api('PUT', '/v1/users/%s/decoration' % alice, [1, 2], atok, 400, 'bad_json')
        self.api('PUT', '/v1/users/%s/decoration' % alice, {'pad': 'x' * 1100}, atok, 413,
                 'too_large')
        self.pub(a, self.room_topic(room), 'still black', 1)
        self.both(room, alice, (a, b), text='still black', deco={'color': '#000000'})
        # DELETE removes it.
        for _ in range(2):   # idempotent
            self.assertEqual(self.api('DELETE', '/v1/users/%s/decoration' % alice, None, atok),
                             {'user': alice, 'deco': None})
        self.pub(a, self.room_topic(room), 'undecorated', 1)
        env = self.both(room, alice, (a, b), text='undecorated')
        self.assertNotIn('deco', env)

    def test_ids_increase(self):
        room, alice, a, bob, b = self.two_in_room()
        ids = []
        for i in range(8):
            sender, c = (alice, a) if i % 2 else (bob, b)
            self.pub(c, self.room_topic(room), 'n%d' % i, 1)
            ids.append(int(self.both(room, sender, (a, b), text='n%d' % i)['id']))
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), len(ids))

    def test_v5_properties(self):
        room, alice, a, bob, b = self.two_in_room(v5=True)
        m = a.mid()
        a.send(publish5(self.room_topic(room), b'{"text":"props"}', 1, mid=m, properties=[
            (P_CONTENT_TYPE, 'text/plain'), (P_RESPONSE_TOPIC, 'reply/here'),
            (P_USER_PROPERTY, ('from', 'mallory')), (P_USER_PROPERTY, ('x', 'y'))]))
        a.expect_ack5(4, m)
        for c in (a, b):
            p, env = self.expect_env(c, self.room_topic(room), alice, text='props')
            self.assertEqual(p.props.get(P_CONTENT_TYPE), 'application/json', repr(p))
            self.assertEqual(p.props.get(P_PAYLOAD_FORMAT), 1, repr(p))
            self.assertEqual(sorted(p.props.all(P_USER_PROPERTY)),
                             sorted([('id', env['id']), ('from', alice)]), repr(p))
            self.assertNotIn(P_RESPONSE_TOPIC, p.props, repr(p))

    def test_same_bytes_v311_and_v5(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        s3 = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        s5 = self.chat5(alice, atok, subs=[(self.room_topic(room), 1)])
        self.pub(s5, self.room_topic(room), 'both versions', 1)
        p3, _ = self.expect_env(s3, self.room_topic(room), alice, text='both versions')
        p5, _ = self.expect_env(s5, self.room_topic(room), alice, text='both versions')
        self.assertEqual(p3.payload, p5.payload)

    def test_qos_of_subscription(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        q0 = self.chat311(alice, atok, subs=[(self.room_topic(room), 0)])
        q1 = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        q2 = self.chat311(alice, atok, subs=[(self.room_topic(room), 2)])
        p = self.chat311(alice, atok)
        self.pub(p, self.room_topic(room), 'at qos 1', 1)
        self.expect_env(q0, self.room_topic(room), alice, qos=0, text='at qos 1')
        self.expect_env(q1, self.room_topic(room), alice, qos=1, text='at qos 1')
        self.expect_env(q2, self.room_topic(room), alice, qos=1, text='at qos 1')
        self.pub(p, self.room_topic(room), 'at qos 0', 0)
        for c in (q0, q1, q2):
            self.expect_env(c, self.room_topic(room), alice, qos=0, text='at qos 0')
        self.pub(p, self.room_topic(room), 'at qos 2', 2)
        self.expect_env(q2, self.room_topic(room), alice, qos=2, text='at qos 2')
        self.expect_env(q1, self.room_topic(room), alice, qos=1, text='at qos 2')
        self.expect_env(q0, self.room_topic(room), alice, qos=0, text='at qos 2')

    def test_public_room_anyone_publishes(self):
        alice, atok = self.new_user('a')
        carol, ctok = self.new_user('c')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        c = self.chat311(carol, ctok)
        self.pub(c, self.room_topic(room), 'drive-by', 1)
        self.expect_env(a, self.room_topic(room), carol, room=room, text='drive-by')


class AutoCreateTest(ChatTest):
    CONFIG = chat_config({'chat.auto_create_rooms': True})

    def test_subscribe_creates_room(self):
        alice, atok = self.new_user('a')
        room = self.uid('r')
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        got = self.api('GET', '/v1/rooms/%s' % room, None, atok)
        self.assertEqual((got['name'], got['private'], got['owner']), (room, False, alice))
        self.pub(a, self.room_topic(room), 'in my new room', 1)
        self.expect_env(a, self.room_topic(room), alice, room=room, text='in my new room')

    def test_join_creates_room(self):
        bob, btok = self.new_user('b')
        room = self.uid('r')
        got = self.join(room, btok)
        self.assertEqual((got['room'], got['user'], got['role']), (room, bob, 'owner'))
        got = self.api('GET', '/v1/rooms/%s' % room, None, btok)
        self.assertEqual((got['private'], got['owner']), (False, bob))

    def test_invalid_name_not_created(self):
        bob, btok = self.new_user('b')
        self.chat311(bob, btok).do_subscribe([('chat/room/+', 1)], codes=[SUBACK_FAILURE_311])
        self.join("o'brien", btok, status=400, code='invalid_name')


class SubscriptionLimitTest(ChatTest):
    """A subscription that would join a public room but goes over
    session.max_subscriptions joins nobody: no membership left behind."""
    CONFIG = chat_config({'session.max_subscriptions': 1})

    def test_refused_subscription_leaves_no_membership(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        b5 = self.chat5(bob, btok, subs=[(self.events_topic(bob), 0)])
        b5.do_subscribe5([(self.room_topic(room), 1)], codes=[QUOTA_EXCEEDED])
        b3 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob311')
        b3.do_subscribe([(self.room_topic(room), 1)], codes=[SUBACK_FAILURE_311])
        got = self.api('GET', '/v1/rooms/%s' % room, None, atok)
        self.assertEqual(got['members'], 1, 'only the owner: %r' % got)
        # Within the limit the join happens, and is kept.
        c = self.chat5(bob, btok, name='bob-fresh')
        c.do_subscribe5([(self.room_topic(room), 1)])
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok)['members'], 2)


if __name__ == '__main__':
    unittest.main()
