"""The room list (doc/protocol.md, "Rooms": GET /v1/rooms): the room
objects of GET /v1/rooms/{room}, public rooms for everyone, private rooms for
their members and the service role, byte order of names (odd but valid
ones included), member=true with the caller's role, pages by after/limit
with next, the bearer required, bad parameters refused, GET beside POST on
one path. The paging classes have a broker of their own, so that they know
every room on it."""

import http.client
import json

from chatlib import SERVICE_KEY, ChatTest

PAGE_MAX = 200   # rooms in one answer, at most


class RoomListCase(ChatTest):
    """Helpers: one page, and every page."""

    def page(self, token, query='', status=200, code=None):
        got = self.api('GET', '/v1/rooms' + query, None, token, status, code)
        if status == 200:
            self.assertEqual(set(got), {'rooms', 'next'}, repr(got))
            self.assertIsInstance(got['rooms'], list, repr(got))
        return got

    def names(self, token, query=''):
        return [r['name'] for r in self.page(token, query)['rooms']]

    def all_pages(self, token, limit=None, member=False):
        """Every room by paging (after = the previous next): (rooms, pages)."""
        rooms, pages, after = [], 0, None
        while True:
            q = []
            if limit is not None:
                q.append('limit=%d' % limit)
            if member:
                q.append('member=true')
            if after is not None:
                q.append('after=' + after)
            got = self.page(token, '?' + '&'.join(q) if q else '')
            pages += 1
            rooms += got['rooms']
            if got['next'] is None:
                return rooms, pages
            self.assertEqual(got['next'], got['rooms'][-1]['name'], repr(got))
            after = got['next']
            self.assertLess(pages, 1000, 'paging does not end')


class RoomListTest(RoomListCase):

    def test_public_rooms_listed_as_room_objects(self):
        alice, atok = self.new_user('a')
        _, btok = self.new_user('b')
        _, vtok = self.new_user('v', role='display')
        room = self.make_room(atok)
        for tok in (atok, btok, vtok, SERVICE_KEY):
            got = self.page(tok)
            mine = [r for r in got['rooms'] if r['name'] == room]
            self.assertEqual(len(mine), 1, repr(got))
            # Exactly what GET /v1/rooms/{room} answers.
            self.assertEqual(mine[0], self.api('GET', '/v1/rooms/%s' % room, None, tok))
            self.assertEqual(mine[0]['owner'], alice)
            self.assertEqual(mine[0]['private'], False)
            names = [r['name'] for r in got['rooms']]
            self.assertEqual(names, sorted(names), 'sorted by name')
            self.assertEqual(len(names), len(set(names)))
            self.assertIsNone(got['next'], repr(got))   # fewer than 200 rooms here
        # The member count follows joins.
        self.join(room, btok)
        got = [r for r in self.page(btok)['rooms'] if r['name'] == room]
        self.assertEqual(got[0]['members'], 2)

    def test_private_room_for_members_and_service(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        _, ctok = self.new_user('c')
        _, vtok = self.new_user('v', role='display')
        secret = self.make_room(atok, private=True)
        self.assertIn(secret, self.names(atok))
        self.assertIn(secret, self.names(SERVICE_KEY))
        for tok in (btok, ctok, vtok):
            self.assertNotIn(secret, self.names(tok))
            self.assertNotIn(secret, self.names(tok, '?member=true'))
        # bob is added by the owner: now he sees it, carol still does not.
        self.join(secret, atok, user=bob)
        listed = [r for r in self.page(btok)['rooms'] if r['name'] == secret]
        self.assertEqual(listed, [self.api('GET', '/v1/rooms/%s' % secret, None, btok)])
        self.assertEqual(listed[0]['private'], True)
        self.assertNotIn(secret, self.names(ctok))
        # ... and no longer once he left.
        self.leave(secret, btok)
        self.assertNotIn(secret, self.names(btok))
        # Paging does not reveal it either: carol's page after a name just
        # before it goes on past it.
        before = secret[:-1]
        self.assertNotIn(secret, self.names(ctok, '?after=%s' % before))

    def test_member_true_lists_own_rooms_with_role(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        owned = self.make_room(atok)
        joined = self.make_room(btok)
        moderated = self.make_room(btok, private=True)
        other = self.make_room(btok)
        self.join(joined, atok)
        self.join(moderated, btok, user=alice)
        self.set_role(moderated, alice, 'moderator')
        got = self.page(atok, '?member=true')
        self.assertIsNone(got['next'])
        by_name = {r['name']: r for r in got['rooms']}
        self.assertEqual(set(by_name), {owned, joined, moderated}, repr(got))
        self.assertNotIn(other, by_name)
        self.assertEqual([r['name'] for r in got['rooms']], sorted(by_name))
        for name, role in ((owned, 'owner'), (joined, 'member'), (moderated, 'moderator')):
            want = dict(self.api('GET', '/v1/rooms/%s' % name, None, atok), role=role)
            self.assertEqual(by_name[name], want)
        # member=false is the plain list (no role).
        plain = self.page(atok, '?member=false')
        self.assertEqual(plain, self.page(atok))
        self.assertTrue(all('role' not in r for r in plain['rooms']), repr(plain))
        self.assertIn(other, [r['name'] for r in plain['rooms']])
        # The service's own rooms are those it is a member of.
        svc_room = self.svc('POST', '/v1/rooms', {'name': self.uid('r')}, 201)['name']
        mine = self.page(SERVICE_KEY, '?member=true')['rooms']
        self.assertIn({'name': svc_room, 'role': 'owner'},
                      [{'name': r['name'], 'role': r['role']} for r in mine])
        self.assertNotIn(owned, [r['name'] for r in mine])

    def set_role(self, room, user, role):
        got = self.svc('PUT', '/v1/rooms/%s/members/%s' % (room, user), {'role': role})
        self.assertEqual(got, {'room': room, 'user': user, 'role': role})

    def test_odd_names_in_byte_order(self):
        _, atok = self.new_user('a')
        base = self.uid('x')
        odd = ['-' + base, '.' + base, '_' + base, base.upper(), base + '.', base + '-', base + '_',
               base + '..-_', '0' + base, base + 'Z', base]
        for name in odd:
            self.make_room(atok, name=name)
        listed = [n for n in self.names(atok) if n in odd]
        self.assertEqual(listed, sorted(odd))   # ASCII: byte order
        # after= an odd name: the rooms that sort after it.
        for name in odd:
            got = self.names(atok, '?after=%s' % name)
            self.assertEqual([n for n in got if n in odd], [n for n in sorted(odd) if n > name])
        # The longest name, listed and used as after.
        long_name = (base * 64)[:64]
        self.make_room(atok, name=long_name)
        self.assertIn(long_name, self.names(atok))
        self.assertNotIn(long_name, self.names(atok, '?after=%s' % long_name))

    def test_bearer_required(self):
        r = self.http('GET', '/v1/rooms')
        self.assert_error(r, 401, 'unauthorized')
        for bad in ('not-a-token', SERVICE_KEY + 'x'):
            self.assert_error(self.http('GET', '/v1/rooms', None, bad), 401, 'unauthorized')
        self.assert_error(self.http('GET', '/v1/rooms?member=true'), 401, 'unauthorized')

    def test_bad_parameters(self):
        _, atok = self.new_user('a')
        self.make_room(atok)
        self.make_room(atok)
        for q in ('a%20b', 'a/b', 'x' * 65, 'caf%C3%A9'):
            self.page(atok, '?after=' + q, 400, 'invalid_name')
        for q in ('x', '-1', '1.5', '99999999999999999999999'):
            self.page(atok, '?limit=' + q, 400, 'bad_request')
        for q in ('yes', '1', 'TRUE', ''):
            self.page(atok, '?member=' + q, 400, 'bad_request')
        # An empty after is the start; limit is clamped to 1..200.
        self.assertEqual(self.page(atok, '?after='), self.page(atok))
        got = self.page(atok, '?limit=0')
        self.assertEqual(len(got['rooms']), 1, repr(got))
        self.assertEqual(got['next'], got['rooms'][0]['name'])
        self.assertEqual(self.page(atok, '?limit=100000'), self.page(atok))

    def test_get_and_post_on_one_path(self):
        _, atok = self.new_user('a')
        # POST still creates; GET lists; anything else is 405 naming both.
        room = self.make_room(atok)
        self.assertIn(room, self.names(atok))
        for method in ('PUT', 'DELETE', 'PATCH'):
            r = self.http(method, '/v1/rooms', None, atok)
            self.assert_error(r, 405, 'method_not_allowed')
            self.assertEqual(r.headers.get('allow'), 'GET, POST', repr((r, r.headers)))
        # /v1/rooms/ is not /v1/rooms.
        self.api('GET', '/v1/rooms/', None, atok, 404, 'not_found')


class RoomListPagingTest(RoomListCase):
    """Paging with a small limit, on a broker where this test makes every
    room."""

    def test_pages_by_after_and_next(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        public = sorted(self.make_room(atok, name='room-%d' % i) for i in (3, 1, 5, 2, 4))
        hidden = self.make_room(btok, name='room-25', private=True)

        got = self.page(atok, '?limit=2')
        self.assertEqual([r['name'] for r in got['rooms']], public[:2])
        self.assertEqual(got['next'], public[1])
        got = self.page(atok, '?limit=2&after=%s' % got['next'])
        self.assertEqual([r['name'] for r in got['rooms']], public[2:4])
        self.assertEqual(got['next'], public[3])
        got = self.page(atok, '?limit=2&after=%s' % got['next'])
        self.assertEqual([r['name'] for r in got['rooms']], public[4:])
        self.assertIsNone(got['next'])
        # A page that ends exactly at the last room says so (no empty page after).
        got = self.page(atok, '?limit=5')
        self.assertEqual([r['name'] for r in got['rooms']], public)
        self.assertIsNone(got['next'])
        self.assertEqual(self.page(atok, '?after=%s' % public[-1]), {'rooms': [], 'next': None})

        # Every page, for each caller: the whole list once, in order.
        rooms, pages = self.all_pages(atok, limit=2)
        self.assertEqual([r['name'] for r in rooms], public)
        self.assertEqual(pages, 3)
        everything = sorted(public + [hidden])
        rooms, pages = self.all_pages(SERVICE_KEY, limit=2)
        self.assertEqual([r['name'] for r in rooms], everything)
        self.assertEqual(pages, 3)
        rooms, _ = self.all_pages(btok, limit=2)
        self.assertEqual([r['name'] for r in rooms], everything)   # bob owns the private one
        rooms, pages = self.all_pages(btok, limit=1, member=True)
        self.assertEqual([(r['name'], r['role']) for r in rooms], [(hidden, 'owner')])
        self.assertEqual(pages, 1)
        # A room made between two pages shows up where its name sorts.
        first = self.page(atok, '?limit=2')
        self.assertEqual(first['next'], 'room-2')
        self.make_room(atok, name='room-2a')
        self.make_room(atok, name='room-0')   # before the cursor: not on later pages
        got = self.page(atok, '?limit=2&after=%s' % first['next'])
        self.assertEqual([r['name'] for r in got['rooms']], ['room-2a', 'room-3'])
        rooms, _ = self.all_pages(atok, limit=2)
        self.assertEqual([r['name'] for r in rooms], sorted(public + ['room-0', 'room-2a']))


class RoomListBoundTest(RoomListCase):
    """More rooms than one answer holds: 200, then the rest."""

    def test_at_most_200_per_answer(self):
        owner, token = self.new_user('a')
        made = sorted('b%03d' % i for i in range(PAGE_MAX + 3))
        # Made over one kept-alive connection: a curl per room is slow.
        conn = http.client.HTTPConnection('127.0.0.1', self.broker.http_port, timeout=10)
        try:
            for name in made:
                conn.request('POST', '/v1/rooms', json.dumps({'name': name}),
                             {'Authorization': 'Bearer ' + token,
                              'Content-Type': 'application/json'})
                r = conn.getresponse()
                body = r.read()
                self.assertEqual(r.status, 201, body)
        finally:
            conn.close()
        got = self.page(token)
        self.assertEqual([r['name'] for r in got['rooms']], made[:PAGE_MAX])
        self.assertEqual(got['next'], made[PAGE_MAX - 1])
        got = self.page(token, '?after=%s' % got['next'])
        self.assertEqual([r['name'] for r in got['rooms']], made[PAGE_MAX:])
        self.assertIsNone(got['next'])
        got = self.page(token, '?limit=%d' % (PAGE_MAX + 1))
        self.assertEqual(len(got['rooms']), PAGE_MAX)
        rooms, pages = self.all_pages(token, member=True)
        self.assertEqual([r['name'] for r in rooms], made)
        self.assertTrue(all(r['role'] == 'owner' for r in rooms))
        self.assertEqual(pages, 2)
