"""Comment control (doc/protocol.md, "Chat features", "Comment control"):
per-room settings (PUT /v1/rooms/{room}/settings: owner, moderators,
service) and system-wide ones (PUT /v1/settings: service), changed live;
rate (0x97 rate_limited), slow_mode (0x97 slow_mode), max_length in
characters (0x99 too_long), who_can_post members / moderators (0x87
members_only / moderators_only), word_filter reject (0x99 filtered,
case-insensitive across Latin, Greek and Cyrillic) or mask ('*' per
character); the effective setting is the room's, else the system's, else
off; direct messages follow the system rate, max_length and word_filter;
owners and moderators are exempt from rate and slow mode, the service role
from everything; a PUT changes only what it names (null removes); bad bodies
400, other users 403.

Every refusal is checked over MQTT 5 (the PUBACK reason and the notice) and
3.1.1 (the notice). Accepted messages are checked on an observer.
"""

import json
import unittest

from chatlib import (NOT_AUTHORIZED, PAYLOAD_FORMAT_INVALID, QUOTA_EXCEEDED, SERVICE_KEY, Client5,
                     FeatureTest)

SYSTEM_OFF = {'rate': None, 'slow_mode': None, 'max_length': None, 'who_can_post': None,
              'word_filter': None, 'presence_events': None}


def has_member(obj, key, value):
    """True when obj (JSON) holds `key: value` anywhere."""
    if isinstance(obj, dict):
        if obj.get(key, object()) == value:
            return True
        return any(has_member(v, key, value) for v in obj.values())
    if isinstance(obj, list):
        return any(has_member(v, key, value) for v in obj)
    return False


class ControlBase(FeatureTest):

    def room_settings(self, room, body, token, status=200, code=None):
        return self.api('PUT', '/v1/rooms/%s/settings' % room, body, token, status, code)

    def system_settings(self, body, status=200, code=None, token=SERVICE_KEY):
        return self.api('PUT', '/v1/settings', body, token, status, code)

    def ok(self, c, topic, payload, sender, observers, **fields):
        """c's publish is accepted (MQTT 5: PUBACK 0) and each observer gets
        the envelope with fields."""
        self.pub(c, topic, payload, 1, reason=0)
        return [self.expect_env_chat(o, topic, sender, **fields)[1] for o in observers]

    def refused(self, c, user, topic, payload, reason, code, observers=(), msg=''):
        """c's publish is refused with code (MQTT 5 PUBACK) and the notice
        reason (both protocols); the observers get nothing."""
        if isinstance(c, Client5):
            self.pub(c, topic, payload, 1, reason=code)
        else:
            self.pub(c, topic, payload, 1)
        n = self.expect_notice_chat(c, user, topic, reason, code,
                                    msg=msg or '(%r refused: %s)' % (payload, reason))
        if observers:
            self.quiet_chat(*observers, msg='(a refused message is not delivered) ' + msg)
        return n

    def turn_system_off(self):
        """(cleanup) Every system setting off; not checked here."""
        self.http('PUT', '/v1/settings', SYSTEM_OFF, SERVICE_KEY)

    def setup_room(self):
        """alice owns a public room; bob is a member; carol is not. alice
        observes the room. Returns (room, users {name: (user, token)}, o)."""
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.member_room(atok, btok)
        o = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)], name='observer')
        return room, {'alice': (alice, atok), 'bob': (bob, btok), 'carol': (carol, ctok)}, o

    def v5(self, who, name=None):
        user, tok = who
        return self.chat5(user, tok, subs=[(self.events_topic(user), 0)], name=name or user + '-5')

    def v311(self, who, name=None):
        user, tok = who
        return self.chat311(user, tok, subs=[(self.events_topic(user), 0)],
                            name=name or user + '-311')


class RoomControlTest(ControlBase):

    def test_rate(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        self.room_settings(room, {'rate': {'count': 2, 'seconds': 60}}, u['alice'][1])
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        for i in range(2):
            self.ok(b, rt, 'b%d' % i, bob, [o], text='b%d' % i)
        self.refused(b, bob, rt, 'b2', 'rate_limited', QUOTA_EXCEEDED, [o])
        # 3.1.1, and the bucket is per user: a member's own two.
        self.join(room, u['carol'][1])
        carol = u['carol'][0]
        c = self.v311(u['carol'])
        for i in range(2):
            self.ok(c, rt, 'c%d' % i, carol, [o], text='c%d' % i)
        self.refused(c, carol, rt, 'c2', 'rate_limited', QUOTA_EXCEEDED, [o])
        # The owner is exempt.
        a = self.v5(u['alice'])
        for i in range(4):
            self.ok(a, rt, 'a%d' % i, u['alice'][0], [o], text='a%d' % i)
        # Per room: bob elsewhere is not limited.
        other = self.member_room(u['alice'][1], u['bob'][1])
        self.pub(b, self.room_topic(other), 'elsewhere', 1, reason=0)

    def test_slow_mode(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        self.room_settings(room, {'slow_mode': 30}, u['alice'][1])
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        self.ok(b, rt, 'first', bob, [o], text='first')
        self.refused(b, bob, rt, 'second', 'slow_mode', QUOTA_EXCEEDED, [o])
        b3 = self.v311(u['bob'], name='bob-311')
        self.refused(b3, bob, rt, 'third', 'slow_mode', QUOTA_EXCEEDED, [o])
        self.maybe_notice(b)
        # The owner is exempt.
        a = self.v5(u['alice'])
        for i in range(3):
            self.ok(a, rt, 'owner %d' % i, u['alice'][0], [o], text='owner %d' % i)
        # Turned off live: bob posts again on the same connection.
        self.room_settings(room, {'slow_mode': None}, u['alice'][1])
        self.ok(b, rt, 'free again', bob, [o], text='free again')

    def test_max_length_counts_characters(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        self.room_settings(room, {'max_length': 3}, u['alice'][1])
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        for text in ('abc', '\u00e4\u00f6\u00fc', '\u65e5\u672c\u8a9e', '\U0001F600' * 3, 'a'):
            self.ok(b, rt, text.encode(), bob, [o], text=text)
        self.ok(b, rt, {'type': 'sticker', 'meta': {'sticker': 'a long sticker name'}}, bob, [o],
                type='sticker')
        self.ok(b, rt, {'text': 'xyz'}, bob, [o], text='xyz')
        for payload in ('abcd', '\u00e4\u00f6\u00fc\u00df', {'text': 'abcd'},
                        {'type': 'cheer', 'text': 'long cheer'}):
            self.refused(b, bob, rt, payload, 'too_long', PAYLOAD_FORMAT_INVALID, [o])
        b3 = self.v311(u['bob'], name='bob-311')
        self.refused(b3, bob, rt, 'abcd', 'too_long', PAYLOAD_FORMAT_INVALID, [o])
        self.maybe_notice(b)
        # Owners are exempt from rate and slow mode only.
        a = self.v5(u['alice'])
        self.refused(a, u['alice'][0], rt, 'abcdef', 'too_long', PAYLOAD_FORMAT_INVALID)
        self.quiet_chat(o)

    def test_who_can_post(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        atok = u['alice'][1]
        bob, carol = u['bob'][0], u['carol'][0]
        self.room_settings(room, {'who_can_post': 'members'}, atok)
        c5 = self.v5(u['carol'])     # not a member (and never subscribes to the room)
        self.refused(c5, carol, rt, 'let me in', 'members_only', NOT_AUTHORIZED, [o])
        dave, dtok = self.new_user('d')
        d3 = self.v311((dave, dtok))
        self.refused(d3, dave, rt, 'me too', 'members_only', NOT_AUTHORIZED, [o])
        b = self.v5(u['bob'])
        self.ok(b, rt, 'member here', bob, [o], text='member here')
        self.room_settings(room, {'who_can_post': 'moderators'}, atok)
        self.refused(b, bob, rt, 'still me', 'moderators_only', NOT_AUTHORIZED, [o])
        b3 = self.v311(u['bob'], name='bob-311')
        self.refused(b3, bob, rt, 'still me', 'moderators_only', NOT_AUTHORIZED, [o])
        self.maybe_notice(b)
        a = self.v5(u['alice'])
        self.ok(a, rt, 'owner speaks', u['alice'][0], [o], text='owner speaks')
        self.room_settings(room, {'who_can_post': 'all'}, atok)
        self.ok(c5, rt, 'open again', carol, [o], text='open again')

    def test_word_filter_reject(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        self.room_settings(room, {'word_filter': {'words': ['\u00c4rger', 'spoiler',
                                                           '\u041f\u0420\u0418\u0412\u0415\u0422',
                                                           '\u03a3\u039f\u03a6\u0399\u0391']}},
                           u['alice'][1])
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        for text in ('so ein \u00e4rger', 'SO EIN \u00c4RGER', 'big Spoiler ahead',
                     'spoilers!', '\u043f\u0440\u0438\u0432\u0435\u0442 \u0432\u0441\u0435\u043c',
                     '\u03c3\u03bf\u03c6\u03b9\u03b1'):
            self.refused(b, bob, rt, text.encode(), 'filtered', PAYLOAD_FORMAT_INVALID, [o])
        self.refused(b, bob, rt, {'type': 'text', 'text': 'a SPOILER'}, 'filtered',
                     PAYLOAD_FORMAT_INVALID, [o])
        b3 = self.v311(u['bob'], name='bob-311')
        self.refused(b3, bob, rt, 'so ein \u00e4rger'.encode(), 'filtered',
                     PAYLOAD_FORMAT_INVALID, [o])
        self.maybe_notice(b)
        for text in ('all good here', 'Arger without the umlaut', 'spoil'):
            self.ok(b, rt, text.encode(), bob, [o], text=text)
        # Nobody but the service is exempt from the filter.
        a = self.v5(u['alice'])
        self.refused(a, u['alice'][0], rt, 'owner spoiler', 'filtered', PAYLOAD_FORMAT_INVALID,
                     [o])

    def test_word_filter_mask(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        self.room_settings(room, {'word_filter': {'words': ['spoiler', '\u00e4rger'],
                                                  'policy': 'mask'}}, u['alice'][1])
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        envs = []
        for sent, shown in (('big SPOILER here', 'big ******* here'),
                            ('so ein \u00c4rger!', 'so ein *****!'),
                            ('clean text', 'clean text')):
            envs += self.ok(b, rt, sent.encode(), bob, [o], text=shown)
        envs += self.ok(b, rt, {'text': 'no spoiler', 'meta': {'note': 'spoiler'}}, bob, [o],
                        text='no *******', meta={'note': 'spoiler'})
        b3 = self.v311(u['bob'], name='bob-311')
        envs += self.ok(b3, rt, 'Spoiler!', bob, [o], text='*******!')
        # The history holds what was delivered.
        msgs = self.history('/v1/rooms/%s/messages' % room)
        self.assertEqual(msgs, envs)

    def test_put_changes_only_named_members_live(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        atok = u['alice'][1]
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        self.ok(b, rt, 'long before', bob, [o], text='long before')
        self.room_settings(room, {'rate': {'count': 1, 'seconds': 60}}, atok)
        self.room_settings(room, {'max_length': 100}, atok)
        got = self.api('GET', '/v1/rooms/%s/settings' % room, None, atok)
        self.assertTrue(has_member(got, 'max_length', 100), repr(got))
        self.assertTrue(has_member(got, 'rate', {'count': 1, 'seconds': 60}), repr(got))
        self.ok(b, rt, 'one', bob, [o], text='one')
        self.refused(b, bob, rt, 'two', 'rate_limited', QUOTA_EXCEEDED, [o],
                     msg='(rate kept when max_length was set)')
        self.room_settings(room, {'rate': None, 'max_length': 5}, atok)
        self.ok(b, rt, 'three', bob, [o], text='three')
        self.refused(b, bob, rt, 'too long now', 'too_long', PAYLOAD_FORMAT_INVALID, [o])
        self.room_settings(room, {'max_length': None}, atok)
        self.ok(b, rt, 'long again, fine', bob, [o], text='long again, fine')
        got = self.api('GET', '/v1/rooms/%s/settings' % room, None, atok)
        self.assertFalse(has_member(got, 'max_length', 5), repr(got))

    def test_service_exempt_from_everything(self):
        room, u, o = self.setup_room()
        rt = self.room_topic(room)
        self.room_settings(room, {'rate': {'count': 1, 'seconds': 60}, 'slow_mode': 60,
                                  'max_length': 3, 'who_can_post': 'moderators',
                                  'word_filter': {'words': ['spoiler']}}, u['alice'][1])
        svc, stok = self.new_user('svc', role='service')
        s = self.chat5(svc, stok, name='service')
        for i in range(3):
            self.ok(s, rt, 'a long spoiler from the service %d' % i, svc, [o],
                    text='a long spoiler from the service %d' % i)

    def test_permissions(self):
        self.addCleanup(self.turn_system_off)   # (should a refused PUT have applied)
        room, u, o = self.setup_room()
        atok, btok, ctok = u['alice'][1], u['bob'][1], u['carol'][1]
        for tok in (btok, ctok):   # a plain member, a non-member
            self.room_settings(room, {'slow_mode': 5}, tok, 403, 'forbidden')
        self.room_settings(room, {'slow_mode': 5}, None, 401, 'unauthorized')
        self.room_settings(self.uid('none'), {'slow_mode': 5}, atok, 404, 'not_found')
        self.room_settings(room, {'slow_mode': 5}, SERVICE_KEY)
        self.room_settings(room, {'slow_mode': None}, atok)
        for tok in (atok, btok):
            self.system_settings({'max_length': 5}, 403, 'forbidden', token=tok)
        self.system_settings({'max_length': 5}, 401, 'unauthorized', token=None)
        # Nothing of the refused PUTs applies: bob posts twice, long texts.
        b = self.v5(u['bob'])
        for t in ('a long first message', 'a long second message'):
            self.ok(b, self.room_topic(room), t, u['bob'][0], [o], text=t)

    def test_bad_settings_bodies(self):
        self.addCleanup(self.turn_system_off)   # (should a refused PUT have applied)
        room, u, o = self.setup_room()
        atok = u['alice'][1]
        bad = [{'rate': {'count': 'x', 'seconds': 10}}, {'rate': 5},
               {'rate': {'count': -1, 'seconds': 10}}, {'rate': {'count': 2, 'seconds': 'ten'}},
               {'slow_mode': -1}, {'slow_mode': '30'}, {'max_length': '5'}, {'max_length': -3},
               {'who_can_post': 'everyone'}, {'who_can_post': 1},
               {'word_filter': {'words': 'spoiler'}}, {'word_filter': {'words': [1]}},
               {'word_filter': {'words': ['x'], 'policy': 'burn'}}, {'word_filter': 'spoiler'},
               {'presence_events': 'yes'},
               # a valid member beside a bad one: nothing is applied
               {'max_length': 2, 'slow_mode': 'x'}]
        for body in bad:
            r = self.http('PUT', '/v1/rooms/%s/settings' % room, body, atok)
            self.assert_error(r, 400)
            r = self.http('PUT', '/v1/settings', body, SERVICE_KEY)
            self.assert_error(r, 400)
        for raw in (b'[1]', b'not json', b'{"max_length":'):
            self.assert_error(self.http('PUT', '/v1/rooms/%s/settings' % room, raw, atok), 400)
            self.assert_error(self.http('PUT', '/v1/settings', raw, SERVICE_KEY), 400)
        b = self.v5(u['bob'])
        self.ok(b, self.room_topic(room), 'abc', u['bob'][0], [o], text='abc')


class SystemControlTest(ControlBase):
    """System-wide settings (one broker for the class; each test turns them
    all off again at its end)."""

    def setUp(self):
        super().setUp()
        self.addCleanup(self.turn_system_off)

    def dm_pair(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        a = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)], name='alice')
        return (alice, atok), a, (bob, btok)

    def test_system_applies_where_rooms_have_none(self):
        room, u, o = self.setup_room()
        own = self.member_room(u['alice'][1], u['bob'][1])
        self.room_settings(own, {'max_length': 100}, u['alice'][1])
        o.do_subscribe([(self.room_topic(own), 1)])
        self.system_settings({'max_length': 5})
        got = self.api('GET', '/v1/settings', None, SERVICE_KEY)
        self.assertTrue(has_member(got, 'max_length', 5), repr(got))
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        self.refused(b, bob, self.room_topic(room), 'too long', 'too_long',
                     PAYLOAD_FORMAT_INVALID, [o])
        self.ok(b, self.room_topic(own), 'too long', bob, [o], text='too long')
        # Direct messages follow the system max_length.
        alice = u['alice'][0]
        o.do_subscribe([(self.dm_topic(alice), 1)])
        self.refused(b, bob, self.dm_topic(alice), 'too long', 'too_long',
                     PAYLOAD_FORMAT_INVALID, [o])
        b3 = self.v311(u['bob'], name='bob-311')
        self.refused(b3, bob, self.dm_topic(alice), 'too long', 'too_long',
                     PAYLOAD_FORMAT_INVALID, [o])
        self.maybe_notice(b)
        self.ok(b, self.dm_topic(alice), 'short', bob, [o], text='short', to=alice)
        # Off again, live.
        self.system_settings({'max_length': None})
        self.ok(b, self.room_topic(room), 'too long', bob, [o], text='too long')

    def test_system_rate_for_dms_and_rooms(self):
        room, u, o = self.setup_room()
        alice, bob = u['alice'][0], u['bob'][0]
        o.do_subscribe([(self.dm_topic(alice), 1)])
        self.system_settings({'rate': {'count': 2, 'seconds': 60}})
        b = self.v5(u['bob'])
        for i in range(2):
            self.ok(b, self.dm_topic(alice), 'dm %d' % i, bob, [o], to=alice, text='dm %d' % i)
        self.refused(b, bob, self.dm_topic(alice), 'dm 2', 'rate_limited', QUOTA_EXCEEDED, [o])
        # The room (no own rate: the system's) has its own bucket.
        rt = self.room_topic(room)
        for i in range(2):
            self.ok(b, rt, 'room %d' % i, bob, [o], text='room %d' % i)
        self.refused(b, bob, rt, 'room 2', 'rate_limited', QUOTA_EXCEEDED, [o])
        # The owner is exempt in her room, not in her direct messages.
        a = self.v5(u['alice'])
        for i in range(3):
            self.ok(a, rt, 'owner %d' % i, alice, [o], text='owner %d' % i)
        c3 = self.v311(u['carol'])
        carol = u['carol'][0]
        for i in range(2):
            self.ok(c3, self.dm_topic(alice), 'c %d' % i, carol, [o], text='c %d' % i)
        self.refused(c3, carol, self.dm_topic(alice), 'c 2', 'rate_limited', QUOTA_EXCEEDED, [o])

    def test_system_word_filter_for_dms(self):
        (alice, atok), a, (bob, btok) = self.dm_pair()
        self.system_settings({'word_filter': {'words': ['Spoiler']}})
        b = self.v5((bob, btok))
        self.refused(b, bob, self.dm_topic(alice), 'a spoiler for you', 'filtered',
                     PAYLOAD_FORMAT_INVALID, [a])
        self.system_settings({'word_filter': {'words': ['Spoiler'], 'policy': 'mask'}})
        b.do_subscribe5([(self.dm_topic(bob), 1)])
        self.pub(b, self.dm_topic(alice), 'a spoiler for you', 1, reason=0)
        pa, _ = self.expect_env_chat(a, self.dm_topic(alice), bob, to=alice,
                                     text='a ******* for you')
        pb, _ = self.expect_env_chat(b, self.dm_topic(bob), bob, to=alice,
                                     text='a ******* for you')
        self.assertEqual(pa.payload, pb.payload)

    def test_dms_ignore_slow_mode_and_who_can_post(self):
        room, u, o = self.setup_room()
        alice, carol = u['alice'][0], u['carol'][0]
        o.do_subscribe([(self.dm_topic(alice), 1)])
        self.system_settings({'slow_mode': 60, 'who_can_post': 'members'})
        c = self.v5(u['carol'])
        for i in range(3):
            self.ok(c, self.dm_topic(alice), 'dm %d' % i, carol, [o], to=alice, text='dm %d' % i)
        # In a room without settings of its own they apply.
        self.refused(c, carol, self.room_topic(room), 'not a member', 'members_only',
                     NOT_AUTHORIZED, [o])
        b = self.v311(u['bob'])
        bob = u['bob'][0]
        self.ok(b, self.room_topic(room), 'first', bob, [o], text='first')
        self.refused(b, bob, self.room_topic(room), 'second', 'slow_mode', QUOTA_EXCEEDED, [o])

    def test_system_settings_answer(self):
        body = {'rate': {'count': 5, 'seconds': 10}, 'slow_mode': 30, 'max_length': 500,
                'who_can_post': 'members',
                'word_filter': {'words': ['spoiler'], 'policy': 'mask'},
                'presence_events': True}
        self.system_settings(body)
        got = self.api('GET', '/v1/settings', None, SERVICE_KEY)
        for k, v in body.items():
            self.assertTrue(has_member(got, k, v), '%s: %s' % (k, json.dumps(got)))
        self.system_settings(SYSTEM_OFF)
        got = self.api('GET', '/v1/settings', None, SERVICE_KEY)
        self.assertFalse(has_member(got, 'max_length', 500), json.dumps(got))


class ModeratorControlTest(ControlBase):
    """Moderators set room settings and are exempt from rate and slow mode
    (the owner names the moderator: PUT /v1/rooms/{room}/members/{user})."""

    SHARED = False

    def test_moderator(self):
        room, u, o = self.setup_room()
        mod, mtok = self.new_user('m')
        self.join(room, mtok)
        self.set_room_role(room, mod, 'moderator')
        self.assertEqual(self.join(room, mtok)['role'], 'moderator')
        o = self.chat311(u['alice'][0], u['alice'][1], subs=[(self.room_topic(room), 1)],
                         name='observer-again')
        rt = self.room_topic(room)
        self.room_settings(room, {'rate': {'count': 1, 'seconds': 60}, 'slow_mode': 60,
                                  'who_can_post': 'moderators'}, mtok)
        m = self.v5((mod, mtok))
        for i in range(3):
            self.ok(m, rt, 'mod %d' % i, mod, [o], text='mod %d' % i)
        bob = u['bob'][0]
        b = self.v5(u['bob'])
        self.refused(b, bob, rt, 'member', 'moderators_only', NOT_AUTHORIZED, [o])
        self.room_settings(room, {'who_can_post': 'members'}, mtok)
        self.ok(b, rt, 'member 1', bob, [o], text='member 1')
        self.pub(b, rt, 'member 2', 1, reason=QUOTA_EXCEEDED)
        n = self.expect_notice_chat(b, bob, rt, None, QUOTA_EXCEEDED)
        self.assertIn(n['reason'], ('rate_limited', 'slow_mode'), repr(n))
        self.quiet_chat(o)


if __name__ == '__main__':
    unittest.main()
