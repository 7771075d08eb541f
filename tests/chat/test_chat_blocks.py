"""Blocks (doc/protocol.md, "Chat features", "Blocks").

Room block (shadow): POST/DELETE /v1/rooms/{room}/blocks/{user} by the
owner, a moderator or the service; GET /v1/rooms/{room}/blocks lists them.
The blocked user notices nothing (PUBACK 0, his own message back on his
devices, no notice) while nobody else gets it, it is not archived and
counts for no unread count.

Personal block: POST/DELETE /v1/users/{user}/blocks/{other} (the user, or
the service); GET /v1/users/{user}/blocks. alice blocking bob: alice no
longer receives bob's room messages (carol still does, and bob still
receives alice's), bob's direct messages to alice are refused (0x87,
notice `blocked`; with 3.1.1 the notice), alice's to bob still go through.

"Both take effect for the next message (within a second), without
reconnecting": after each block or unblock the tests wait one second
(block_effect) and then publish on the connections they already had.

The contract does not give the bodies of the block answers nor the shape of
the lists: a POST must answer 200, 201 or 204, a DELETE 200 or 204, and a
list is read as any list in the answer whose items are names or objects
with a `user` (or `other`) member.
"""

import unittest

from chatlib import NOT_AUTHORIZED, SERVICE_KEY, FeatureTest


def names_in(got):
    """The user names of a block list answer (see the module's doc)."""
    out = set()
    lists = [got] if isinstance(got, list) else [v for v in (got or {}).values()
                                                  if isinstance(v, list)]
    for lst in lists:
        for item in lst:
            if isinstance(item, str):
                out.add(item)
            elif isinstance(item, dict):
                for k in ('user', 'other', 'id', 'name'):
                    if isinstance(item.get(k), str):
                        out.add(item[k])
                        break
    return out


class BlockBase(FeatureTest):

    def block(self, path, token):
        r = self.http('POST', path, None, token)
        self.assertIn(r.status, (200, 201, 204), repr(r))
        return r

    def unblock(self, path, token):
        r = self.http('DELETE', path, None, token)
        self.assertIn(r.status, (200, 204), repr(r))
        return r

    def listed(self, path, token):
        return names_in(self.api('GET', path, None, token))

    def room_block_path(self, room, user=None):
        return '/v1/rooms/%s/blocks' % room + ('/%s' % user if user else '')

    def user_block_path(self, user, other=None):
        return '/v1/users/%s/blocks' % user + ('/%s' % other if other else '')


class RoomBlockTest(BlockBase):

    def test_shadow_block_seen_from_three_viewers(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        dave, dtok = self.new_user('d')
        room = self.member_room(atok, btok, ctok, dtok)
        rt = self.room_topic(room)
        a = self.chat311(alice, atok, subs=[(rt, 1)], name='alice')
        b1 = self.chat5(bob, btok, subs=[(rt, 1), (self.events_topic(bob), 0)], name='bob-1')
        b2 = self.chat311(bob, btok, subs=[(rt, 1), (self.events_topic(bob), 0)], name='bob-2')
        c = self.chat311(carol, ctok, subs=[(rt, 1)], name='carol')
        d = self.chat5(dave, dtok, subs=[(rt, 1)], name='dave')
        self.block(self.room_block_path(room, bob), atok)
        self.block_effect()
        self.assertIn(bob, self.listed(self.room_block_path(room), atok))

        # MQTT 5: PUBACK 0, his own message back on both devices, nobody else.
        self.pub(b1, rt, 'can anyone hear me', 1, reason=0)
        p1, e1 = self.expect_env_chat(b1, rt, bob, room=room, text='can anyone hear me')
        p2, _ = self.expect_env_chat(b2, rt, bob, room=room, text='can anyone hear me')
        self.assertEqual(p1.payload, p2.payload)
        self.quiet_chat(c, d, a, msg='(a shadow-blocked message reaches nobody else)')
        # MQTT 3.1.1: the same, and no notice anywhere.
        self.pub(b2, rt, {'type': 'text', 'text': 'still me'}, 1)
        self.expect_env_chat(b2, rt, bob, text='still me')
        self.expect_env_chat(b1, rt, bob, text='still me')
        self.quiet_chat(b1, b2, c, d, a, msg='(nothing else, no notice)')
        # Not archived: nobody's history shows it; no unread count for it.
        for tok in (SERVICE_KEY, ctok, btok):
            msgs = self.history('/v1/rooms/%s/messages' % room, tok)
            self.assertEqual([m for m in msgs if m.get('from') == bob], [], repr(msgs))
        self.assertEqual(self.api('GET', '/v1/users/%s/unread' % carol, None, ctok),
                         {'user': carol, 'rooms': {}, 'total': 0})

        # Others are not affected.
        self.pub(c, rt, 'carol here', 1)
        for cl in (a, b1, b2, c, d):
            self.expect_env_chat(cl, rt, carol, text='carol here')

        # Lifted: bob reaches everyone again, and the history has it.
        self.unblock(self.room_block_path(room, bob), atok)
        self.block_effect()
        self.assertNotIn(bob, self.listed(self.room_block_path(room), atok))
        self.pub(b1, rt, 'back again', 1)
        for cl in (a, b1, b2, c, d):
            self.expect_env_chat(cl, rt, bob, text='back again')
        msgs = self.history('/v1/rooms/%s/messages' % room, ctok)
        self.assertEqual([m['text'] for m in msgs if m.get('from') == bob], ['back again'])
        self.wait_api('GET', '/v1/users/%s/unread' % carol,
                      lambda v: v.get('rooms') == {room: 1}, ctok)

    def test_shadow_block_by_service(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.member_room(atok, btok, ctok)
        rt = self.room_topic(room)
        b = self.chat311(bob, btok, subs=[(rt, 1)], name='bob')
        c = self.chat5(carol, ctok, subs=[(rt, 1)], name='carol')
        self.block(self.room_block_path(room, bob), SERVICE_KEY)
        self.block_effect()
        self.assertIn(bob, self.listed(self.room_block_path(room), SERVICE_KEY))
        self.pub(b, rt, 'muted', 1)
        self.expect_env_chat(b, rt, bob, text='muted')
        self.quiet_chat(c)
        self.unblock(self.room_block_path(room, bob), SERVICE_KEY)
        self.block_effect()
        self.pub(b, rt, 'unmuted', 1)
        self.expect_env_chat(c, rt, bob, text='unmuted')

    def test_room_block_permissions(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        outsider, otok = self.new_user('o')
        room = self.member_room(atok, btok, ctok)
        for tok in (ctok, otok):   # a plain member, a non-member
            self.api('POST', self.room_block_path(room, bob), None, tok, 403, 'forbidden')
            self.api('DELETE', self.room_block_path(room, bob), None, tok, 403, 'forbidden')
            self.api('GET', self.room_block_path(room), None, tok, 403, 'forbidden')
        self.api('POST', self.room_block_path(room, bob), None, None, 401, 'unauthorized')
        self.api('POST', self.room_block_path(self.uid('none'), bob), None, atok, 404,
                 'not_found')
        self.api('POST', self.room_block_path(room, "o'brien"), None, atok, 400, 'invalid_name')
        self.assertNotIn(bob, self.listed(self.room_block_path(room), atok),
                         'a refused request changes nothing')
        # carol's refused block did not mute bob.
        rt = self.room_topic(room)
        b = self.chat311(bob, btok, subs=[(rt, 1)], name='bob')
        c = self.chat311(carol, ctok, subs=[(rt, 1)], name='carol')
        self.pub(b, rt, 'not blocked', 1)
        self.expect_env_chat(c, rt, bob, text='not blocked')


class ModeratorBlockTest(BlockBase):
    """Naming moderators (PUT /v1/rooms/{room}/members/{user}) and what a
    moderator may block."""

    def test_moderator_blocks_and_lifts(self):
        alice, atok = self.new_user('a')
        mod, mtok = self.new_user('m')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.member_room(atok, mtok, btok, ctok)
        self.set_room_role(room, mod, 'moderator')
        self.assertEqual(self.join(room, mtok)['role'], 'moderator')
        self.block(self.room_block_path(room, bob), mtok)
        self.block_effect()
        self.assertIn(bob, self.listed(self.room_block_path(room), mtok))
        rt = self.room_topic(room)
        b = self.chat5(bob, btok, subs=[(rt, 1)], name='bob')
        c = self.chat311(carol, ctok, subs=[(rt, 1)], name='carol')
        self.pub(b, rt, 'shadow', 1, reason=0)
        self.expect_env_chat(b, rt, bob, text='shadow')
        self.quiet_chat(c)
        # A plain member still may not.
        self.api('DELETE', self.room_block_path(room, bob), None, ctok, 403, 'forbidden')
        self.unblock(self.room_block_path(room, bob), mtok)
        self.block_effect()
        self.pub(b, rt, 'light', 1)
        self.expect_env_chat(c, rt, bob, text='light')

    def test_naming_moderators(self):
        alice, atok = self.new_user('a')
        mod, mtok = self.new_user('m')
        bob, btok = self.new_user('b')
        outsider, otok = self.new_user('o')
        room = self.member_room(atok, mtok, btok)
        path = '/v1/rooms/%s/members/%s' % (room, mod)
        # Only the owner or the service names a moderator.
        self.api('PUT', path, {'role': 'moderator'}, btok, 403, 'forbidden')
        self.api('PUT', path, {'role': 'moderator'}, otok, 403, 'forbidden')
        got = self.api('PUT', path, {'role': 'moderator'}, atok)
        self.assertEqual(got, {'room': room, 'user': mod, 'role': 'moderator'})
        self.assertEqual(self.join(room, mtok)['role'], 'moderator')
        # The moderator may now block; a moderator may not name moderators.
        self.block(self.room_block_path(room, bob), mtok)
        self.api('PUT', '/v1/rooms/%s/members/%s' % (room, bob), {'role': 'moderator'}, mtok,
                 403, 'forbidden')
        # Bad bodies, non-members, the owner, unknown rooms.
        for body in ({'role': 'owner'}, {'role': 'admin'}, {'role': 1}, {}):
            self.api('PUT', path, body, atok, 400)
        self.api('PUT', '/v1/rooms/%s/members/%s' % (room, outsider), {'role': 'moderator'},
                 atok, 404, 'not_member')
        self.api('PUT', '/v1/rooms/%s/members/%s' % (room, alice), {'role': 'member'}, atok,
                 409, 'owner')
        self.api('PUT', '/v1/rooms/%s/members/%s' % (self.uid('nope'), mod),
                 {'role': 'moderator'}, SERVICE_KEY, 404)
        # Back to member: blocking is over for them.
        self.set_room_role(room, mod, 'member')
        self.api('DELETE', self.room_block_path(room, bob), None, mtok, 403, 'forbidden')


class PersonalBlockTest(BlockBase):

    def test_room_messages_one_way(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        room = self.member_room(atok, btok, ctok)
        rt = self.room_topic(room)
        a5 = self.chat5(alice, atok, subs=[(rt, 1)], name='alice-5')
        a3 = self.chat311(alice, atok, subs=[(rt, 1)], name='alice-311')
        b = self.chat311(bob, btok, subs=[(rt, 1)], name='bob')
        c = self.chat5(carol, ctok, subs=[(rt, 1)], name='carol')
        self.block(self.user_block_path(alice, bob), atok)
        self.block_effect()
        self.assertIn(bob, self.listed(self.user_block_path(alice), atok))
        self.pub(b, rt, 'hello all', 1)
        _, env = self.expect_env_chat(c, rt, bob, text='hello all')
        self.expect_env_chat(b, rt, bob, text='hello all')
        self.quiet_chat(a5, a3, msg="(alice blocks bob: none of bob's room messages)")
        # Archived all the same (a personal block is about delivery).
        msgs = self.history('/v1/rooms/%s/messages' % room)
        self.assertIn(env['id'], [m['id'] for m in msgs])
        # bob still gets alice's messages.
        self.pub(a5, rt, 'alice speaks', 1, reason=0)
        for cl in (a5, a3, b, c):
            self.expect_env_chat(cl, rt, alice, text='alice speaks')
        # Lifted without reconnecting.
        self.unblock(self.user_block_path(alice, bob), atok)
        self.block_effect()
        self.assertNotIn(bob, self.listed(self.user_block_path(alice), atok))
        self.pub(b, rt, 'hello again', 1)
        for cl in (a5, a3, b, c):
            self.expect_env_chat(cl, rt, bob, text='hello again')

    def test_direct_messages(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        a = self.chat311(alice, atok, subs=[(self.dm_topic(alice), 1)], name='alice')
        b5 = self.chat5(bob, btok, subs=[(self.dm_topic(bob), 1), (self.events_topic(bob), 0)],
                        name='bob-5')
        self.block(self.user_block_path(alice, bob), atok)
        self.block_effect()
        # bob -> alice: refused (MQTT 5: 0x87 and the notice), no copy anywhere.
        self.pub(b5, self.dm_topic(alice), 'psst', 1, reason=NOT_AUTHORIZED)
        self.expect_notice_chat(b5, bob, self.dm_topic(alice), 'blocked', NOT_AUTHORIZED)
        self.quiet_chat(a, b5, msg='(a refused DM is delivered nowhere)')
        # 3.1.1: the PUBACK and the notice.
        b5.do_unsubscribe5([self.events_topic(bob)])
        b3 = self.chat311(bob, btok, subs=[(self.events_topic(bob), 0)], name='bob-311')
        self.pub(b3, self.dm_topic(alice), 'psst again', 1)
        self.expect_notice_chat(b3, bob, self.dm_topic(alice), 'blocked', NOT_AUTHORIZED)
        self.quiet_chat(a, b5, msg='(nothing for alice)')
        # alice -> bob still works (the block is alice's, one way).
        self.pub(a, self.dm_topic(bob), 'I can still write to you', 1)
        self.expect_env_chat(b5, self.dm_topic(bob), alice, to=bob,
                             text='I can still write to you')
        self.expect_env_chat(a, self.dm_topic(alice), alice, to=bob,
                             text='I can still write to you')
        got = self.history('/v1/dms/%s/messages' % bob, atok)
        self.assertEqual([m['text'] for m in got], ['I can still write to you'],
                         'refused DMs are not archived')
        # Unblocked: bob's DM goes through, without reconnecting.
        self.unblock(self.user_block_path(alice, bob), atok)
        self.block_effect()
        self.pub(b5, self.dm_topic(alice), 'friends again?', 1, reason=0)
        self.expect_env_chat(a, self.dm_topic(alice), bob, to=alice, text='friends again?')
        self.expect_env_chat(b5, self.dm_topic(bob), bob, to=alice, text='friends again?')

    def test_personal_block_permissions(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        self.api('POST', self.user_block_path(alice, bob), None, ctok, 403, 'forbidden')
        self.api('GET', self.user_block_path(alice), None, ctok, 403, 'forbidden')
        self.api('POST', self.user_block_path(alice, bob), None, None, 401, 'unauthorized')
        self.api('POST', self.user_block_path(alice, "o'brien"), None, atok, 400,
                 'invalid_name')
        self.assertEqual(self.listed(self.user_block_path(alice), atok), set())
        # The service may, for anyone.
        self.block(self.user_block_path(alice, bob), SERVICE_KEY)
        self.assertEqual(self.listed(self.user_block_path(alice), SERVICE_KEY), {bob})
        self.assertEqual(self.listed(self.user_block_path(alice), atok), {bob})
        self.api('DELETE', self.user_block_path(alice, bob), None, ctok, 403, 'forbidden')
        self.unblock(self.user_block_path(alice, bob), SERVICE_KEY)
        self.assertEqual(self.listed(self.user_block_path(alice), atok), set())


if __name__ == '__main__':
    unittest.main()
