"""Identity (doc/protocol.md, "Identity" and "Users and tokens"): sign-up by
the service role and open sign-up, name rules, tokens by password and by
the service role, and MQTT logins with passwords and tokens, including the
tokens an integrator mints itself and every kind of bad token; anonymous
clients under the prefix; password_file users."""

import json
import os
import shutil
import tempfile
import time
import unittest

import broker
from chatlib import (BAD_USER_OR_PASSWORD_311, BAD_USER_OR_PASSWORD_V5, NOT_AUTHORIZED, NOT_AUTHORIZED_311, SUBACK_FAILURE_311, TOKEN_TTL, ChatTest,
                     b64url, b64url_decode, chat_config, claims, mint, now_ms, sign)
from broker import connack

PW = 'correct horse'
LONG_NAME = 'p' * 200  # a password_file user whose name is no user id


class SignupTest(ChatTest):
    """chat.open_signup off (the default): only the service role creates users."""

    def test_service_creates_user(self):
        name = self.uid('u')
        t0 = now_ms()
        got = self.svc('POST', '/v1/users', {'id': name, 'password': PW, 'role': 'user'}, 201)
        self.assertEqual(got['id'], name)
        self.assertEqual(got['role'], 'user')
        self.assertIsInstance(got.get('created_ms'), int, repr(got))
        self.assertLess(abs(got['created_ms'] - t0), 10000, repr(got))
        # The password works over HTTP and MQTT.
        tok = self.password_token(name, PW)
        self.assertEqual(claims(tok)['sub'], name)
        self.chat311(name, PW).disconnect()

    def test_role_defaults_to_user_and_service_role(self):
        plain = self.uid('u')
        got = self.svc('POST', '/v1/users', {'id': plain, 'password': PW}, 201)
        self.assertEqual(got['role'], 'user')
        svc = self.uid('s')
        got = self.svc('POST', '/v1/users', {'id': svc, 'password': PW, 'role': 'service'}, 201)
        self.assertEqual(got['role'], 'service')
        got = self.api('POST', '/v1/tokens', {'user': svc, 'password': PW})
        self.assertEqual(got['role'], 'service')

    def test_signup_closed_without_service_key(self):
        name = self.uid('u')
        self.api('POST', '/v1/users', {'id': name, 'password': PW}, None, 401, 'unauthorized')
        # A user's token is not enough either.
        _, tok = self.new_user()
        self.api('POST', '/v1/users', {'id': name, 'password': PW}, tok, 403, 'forbidden')
        # Nothing was created: the password does not log in, and the id is free.
        self.api('POST', '/v1/tokens', {'user': name, 'password': PW}, None, 401,
                 'bad_credentials')
        self.make_user(name, PW)

    def test_service_name_reserved(self):
        """The service key acts as user "service" (the owner of the rooms the
        service makes): nobody may be created under that name."""
        self.svc('POST', '/v1/users', {'id': 'service', 'password': PW}, 409, 'exists')

    def test_duplicate_user_409(self):
        name = self.make_user(password=PW)
        self.svc('POST', '/v1/users', {'id': name, 'password': 'other password'}, 409, 'exists')
        # The first password is still the one.
        self.password_token(name, PW)
        self.api('POST', '/v1/tokens', {'user': name, 'password': 'other password'}, None, 401,
                 'bad_credentials')

    def test_invalid_names_400(self):
        for bad in ("o'brien", '', 'a b', 'a/b', 'a+b', 'a#', 'caf\u00e9', 'x' * 65,
                    "x'; DROP TABLE users; --"):
            self.svc('POST', '/v1/users', {'id': bad, 'password': PW}, 400, 'invalid_name')
        # A NUL escape is refused in any body before a name is read (bad_json):
        # cJSON would otherwise cut "a\u0000b" to "a".
        self.svc('POST', '/v1/users', {'id': 'a\u0000b', 'password': PW}, 400, 'bad_json')
        self.svc('POST', '/v1/users', {'password': PW}, 400)
        # The longest valid name and every allowed character.
        self.make_user('A' * 64)
        self.make_user('Az09_.-' + self.uid('u'))

    def test_user_without_password_logs_in_with_tokens_only(self):
        name = self.make_user()
        self.api('POST', '/v1/tokens', {'user': name, 'password': ''}, None, 401,
                 'bad_credentials')
        self.refused_connect(name, '')
        tok = self.service_token(name)
        self.chat311(name, tok).disconnect()


class TokenTest(ChatTest):

    def test_token_by_password(self):
        name = self.make_user(password=PW)
        t0 = int(time.time())
        got = self.api('POST', '/v1/tokens', {'user': name, 'password': PW})
        self.assertEqual(got['user'], name)
        self.assertEqual(got['role'], 'user')
        self.assertLessEqual(abs(got['expires_at'] - (t0 + TOKEN_TTL)), 5, repr(got))
        tok = got['token']
        parts = tok.split('.')
        self.assertEqual(len(parts), 3, tok)
        header = json.loads(b64url_decode(parts[0]))
        self.assertEqual(header.get('alg'), 'HS256', header)
        c = claims(tok)
        self.assertEqual(c['sub'], name)
        self.assertEqual(c['exp'], got['expires_at'])
        # Signed with chat.token_secret: the signature is what we compute.
        self.assertEqual(parts[2], sign(parts[0] + '.' + parts[1]))
        # No role claim unless the service asks for one: the user table decides.
        self.assertNotIn('role', c)

    def test_password_token_ttl_capped(self):
        name = self.make_user(password=PW)
        t0 = int(time.time())
        got = self.api('POST', '/v1/tokens', {'user': name, 'password': PW, 'ttl': 60})
        self.assertLessEqual(abs(got['expires_at'] - (t0 + 60)), 5, repr(got))
        got = self.api('POST', '/v1/tokens', {'user': name, 'password': PW, 'ttl': 10 * 86400})
        self.assertLessEqual(abs(got['expires_at'] - (t0 + TOKEN_TTL)), 5, 'capped: %r' % got)
        # Only the service puts a role into a token.
        self.api('POST', '/v1/tokens', {'user': name, 'password': PW, 'role': 'service'}, None,
                 403, 'forbidden')

    def test_service_token_with_role(self):
        name = self.make_user(password=PW)
        got = self.svc('POST', '/v1/tokens', {'user': name, 'role': 'display', 'ttl': 600})
        self.assertEqual(got['role'], 'display', repr(got))
        self.assertEqual(claims(got['token']).get('role'), 'display')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        d = self.chat5(name, got['token'], subs=[(self.room_topic(room), 1)])
        self.pub(d, self.room_topic(room), 'read only', 1, reason=NOT_AUTHORIZED)
        # A user mqchat does not know: the service may still mint for it.
        ghost = self.uid('ghost')
        got = self.svc('POST', '/v1/tokens', {'user': ghost, 'ttl': 600})
        self.assertEqual(claims(got['token'])['sub'], ghost)
        self.chat311(ghost, got['token']).disconnect()

    def test_wrong_password_and_unknown_user_401(self):
        name = self.make_user(password=PW)
        wrong = self.http('POST', '/v1/tokens', {'user': name, 'password': 'Correct horse'})
        self.assert_error(wrong, 401, 'bad_credentials')
        self.assertNotIn('token', wrong.json)
        unknown = self.http('POST', '/v1/tokens', {'user': self.uid('nobody'), 'password': PW})
        self.assert_error(unknown, 401, 'bad_credentials')
        # The same answer for both: nothing tells which user names exist.
        self.assertEqual(wrong.json, unknown.json)

    def test_service_mints_token_with_ttl(self):
        name = self.make_user(password=PW)
        t0 = int(time.time())
        got = self.svc('POST', '/v1/tokens', {'user': name, 'ttl': 3600})
        self.assertEqual(got['user'], name)
        self.assertLessEqual(abs(got['expires_at'] - (t0 + 3600)), 5, repr(got))
        self.assertEqual(claims(got['token'])['sub'], name)
        self.chat311(name, got['token']).disconnect()

    def test_user_cannot_mint_for_another_without_password(self):
        alice, atok = self.new_user('a')
        bob = self.make_user(password=PW)
        r = self.http('POST', '/v1/tokens', {'user': bob, 'ttl': 3600}, atok)
        self.assert_error(r, 403, 'forbidden')
        self.assertNotIn('token', r.json)
        self.api('POST', '/v1/tokens', {'user': alice, 'ttl': 3600}, atok, 403, 'forbidden')
        self.api('POST', '/v1/tokens', {'user': bob}, None, 401, 'unauthorized')
        self.api('POST', '/v1/tokens', {'user': bob}, 'garbage', 401, 'unauthorized')


class MqttLoginTest(ChatTest):

    def test_password_login_311_and_v5(self):
        name = self.make_user(password=PW)
        self.chat311(name, PW).disconnect()
        c = self.chat5(name, PW)
        c.disconnect5()

    def test_token_login_311_and_v5(self):
        name = self.make_user(password=PW)
        tok = self.password_token(name, PW)
        self.chat311(name, tok).disconnect()
        self.chat5(name, tok).disconnect5()

    def test_wrong_password_refused(self):
        name = self.make_user(password=PW)
        self.refused_connect(name, 'wrong horse')
        self.refused_connect(name, 'wrong horse', v5=True)
        self.refused_connect(name, PW + ' ')

    def test_password_login_pipelined_packets_replayed(self):
        """The password is checked off the worker's loop: what the client
        sent behind its CONNECT, in the same write, waits and is handled
        after the CONNACK, in order."""
        name = self.make_user(password=PW)
        room = self.make_room(self.password_token(name, PW))
        c = self.client('pipelined')
        c.send(broker.connect(self.uid('c'), username=name, password=PW) +
               broker.subscribe(1, [(self.room_topic(room), 1)]) +
               broker.publish(self.room_topic(room), b'hi from the pipe', qos=1, mid=2) +
               broker.packet(0xC0, b''))  # PINGREQ
        c.expect(connack(False, 0), msg='(CONNACK after the password check)')
        c.expect(broker.suback(1, [1]), msg='(SUBACK of the pipelined SUBSCRIBE)')
        # The envelope, the PUBACK (held until the archive row committed) and
        # the PINGRESP: in an order that depends on the loop's turns.
        got = [c.read() for _ in range(3)]
        self.assertIn(broker.puback(2), got, repr(got))
        self.assertIn(b'\xd0\x00', got, repr(got))
        env = [p for p in got if p[:1] and p[0] >> 4 == 3]
        self.assertEqual(len(env), 1, repr(got))
        self.assertIn(b'"text":"hi from the pipe"', env[0])
        c.disconnect()

    def test_wrong_password_pipelined_packets_dropped(self):
        name = self.make_user(password=PW)
        c = self.client('pipelined-wrong')
        c.send(broker.connect(self.uid('c'), username=name, password='wrong horse') +
               broker.subscribe(1, [('chat/system', 0)]))
        c.expect(connack(False, BAD_USER_OR_PASSWORD_311))
        c.expect_closed()

    def test_will_under_prefix_refused(self):
        """A will is a message the client leaves behind: under the prefix it
        would skip the chat policy (forged sender, retained), so a CONNECT
        with one is refused, for chat users and anonymous clients alike."""
        name = self.make_user(password=PW)
        for topic in ('chat/room/lobby', 'chat/dm/%s' % name, 'chat/system',
                      'chat/user/%s/events' % name, 'chat/anything'):
            c = self.client('will')
            c.send(broker.connect(self.uid('c'), username=name, password=PW,
                                  will=(topic, b'{"from":"alice","text":"forged"}', 1, True)))
            c.expect(connack(False, NOT_AUTHORIZED_311), msg='(will on %s)' % topic)
            c.close()
        c = self.client('will-ok')
        c.send(broker.connect(self.uid('c'), username=name, password=PW,
                              will=('plain/will', b'bye', 0, False)))
        c.expect(connack(False, 0))
        c.disconnect()

    def test_close_during_password_check(self):
        """Clients that go away while their password is being checked: the
        check's answer is dropped, the broker serves the next ones."""
        name = self.make_user(password=PW)
        for i in range(8):
            c = self.client('gone-%d' % i)
            c.send(broker.connect(self.uid('c'), username=name, password=PW))
            c.abort()
        self.chat311(name, PW).disconnect()
        self.assertTrue(self.broker.alive())

    def test_token_with_wrong_key_refused(self):
        name = self.make_user(password=PW)
        tok = mint(name, secret='not the secret')
        self.refused_connect(name, tok)
        self.refused_connect(name, tok, v5=True)

    def test_expired_token_refused(self):
        name = self.make_user(password=PW)
        tok = mint(name, exp=int(time.time()) - 30, iat=int(time.time()) - 3630)
        self.refused_connect(name, tok)
        self.refused_connect(name, tok, v5=True)

    def test_token_for_another_user_refused(self):
        alice = self.make_user(password=PW)
        bob = self.make_user(password=PW)
        tok = self.password_token(bob, PW)
        self.refused_connect(alice, tok)
        self.refused_connect(alice, tok, v5=True)
        self.refused_connect(alice, mint(bob))

    def test_tampered_token_refused(self):
        name = self.make_user(password=PW)
        tok = self.password_token(name, PW)
        head, body, sig = tok.split('.')
        c = claims(tok)
        c['role'] = 'service'
        forged = '%s.%s.%s' % (head, b64url(json.dumps(c)), sig)
        self.refused_connect(name, forged)
        self.refused_connect(name, forged, v5=True)
        c = claims(tok)
        c['exp'] += 86400
        self.refused_connect(name, '%s.%s.%s' % (head, b64url(json.dumps(c)), sig))
        # One flipped signature character.
        flipped = sig[:-2] + ('A' if sig[-2] != 'A' else 'B') + sig[-1]
        self.refused_connect(name, '%s.%s.%s' % (head, body, flipped))
        # alg none, no signature.
        none = '%s.%s.' % (b64url('{"alg":"none","typ":"JWT"}'), body)
        self.refused_connect(name, none)
        # The untouched token still works.
        self.chat311(name, tok).disconnect()

    def test_token_without_exp_refused(self):
        name = self.make_user(password=PW)
        head = b64url('{"alg":"HS256","typ":"JWT"}')
        body = b64url('{"sub":"%s"}' % name)
        self.refused_connect(name, '%s.%s.%s' % (head, body, sign(head + '.' + body)))

    def test_integrator_token_for_unknown_user(self):
        # A user mqchat's table has never heard of, with a token minted by
        # the integrator's back end: accepted, role user, chats as itself.
        ghost = self.uid('ghost')
        tok = mint(ghost, iat=int(time.time()))
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        for v5 in (False, True):
            c = (self.chat5 if v5 else self.chat311)(ghost, tok,
                                                     subs=[(self.room_topic(room), 1)])
            self.pub(c, self.room_topic(room), 'from a ghost', 1)
            _, env = self.expect_env(c, self.room_topic(room), ghost, text='from a ghost',
                                     room=room, type='text')
            c.close()
        # Its role is the token's: a display token may not publish.
        viewer = self.uid('viewer')
        d = self.chat5(viewer, mint(viewer, role='display'), subs=[(self.room_topic(room), 1)])
        self.pub(d, self.room_topic(room), 'no', 1, reason=NOT_AUTHORIZED)

    def test_unverified_user_name_is_not_a_chat_identity(self):
        # allow_anonymous true and no password_file: a user name that is
        # neither a chat user nor proven by a token (here: an integrator's
        # user, known only from tokens) must not become that user under the
        # prefix. Refused at CONNECT, or let in without its chat rights.
        ghost = self.uid('ghost')
        alice, atok = self.new_user('a')
        for v5 in (False, True):
            if v5:
                c = self.client5('claims-ghost5')
                c.send(broker.connect5(self.uid('c'), username=ghost, password='anything'))
                got = broker.Connack5(c.expect_packet())
                if got.reason == 0:
                    c.do_subscribe5([(self.dm_topic(ghost), 1)], codes=[NOT_AUTHORIZED])
                else:
                    self.assertEqual(got.reason, BAD_USER_OR_PASSWORD_V5, repr(got))
            else:
                c = self.client('claims-ghost')
                c.send(broker.connect(self.uid('c'), username=ghost, password='anything'))
                got = c.expect_packet()
                self.assertIn(got, (connack(False, 0), connack(False, BAD_USER_OR_PASSWORD_311)))
                if got == connack(False, 0):
                    c.do_subscribe([(self.dm_topic(ghost), 1)], codes=[SUBACK_FAILURE_311])
        a = self.chat311(alice, atok)
        self.pub(a, self.dm_topic(ghost), 'for the real ghost only', 1)
        self.quiet(*self.clients[-2:])

    def test_token_login_does_not_need_the_password(self):
        # A token is checked as a token even for a user with a password.
        name = self.make_user(password=PW)
        self.chat311(name, mint(name)).disconnect()
        # and a JWT-shaped password that is not a valid token is refused,
        # never compared with the stored password.
        self.refused_connect(name, 'a.b.c')


class AnonymousTest(ChatTest):
    """allow_anonymous true (the harness default): anonymous clients get
    plain MQTT, never the chat topics."""

    def test_anonymous_subscriptions_refused(self):
        _, atok = self.new_user('a')
        room = self.make_room(atok)
        anon = self.connected(self.uid('anon'))
        for flt in (self.room_topic(room), 'chat/system', 'chat/#', 'chat/dm/x',
                    'chat/room/%s/system' % room):
            anon.do_subscribe([(flt, 1)], codes=[SUBACK_FAILURE_311])
        anon5 = self.connected5(self.uid('anon5'))
        anon5.do_subscribe5([(self.room_topic(room), 1)], codes=[NOT_AUTHORIZED])
        # A plain topic still works for them.
        anon.do_subscribe([('plain/%s' % room, 0)])

    def test_anonymous_hash_gets_nothing_under_prefix(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        anon = self.connected(self.uid('anon'))
        anon.do_subscribe([('#', 1)])
        anon5 = self.connected5(self.uid('anon5'))
        anon5.do_subscribe5([('#', 1), ('+/room/%s' % room, 1)])
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        self.pub(a, self.room_topic(room), 'public words', 1)
        self.expect_env(a, self.room_topic(room), alice, text='public words')
        self.pub(a, self.dm_topic(alice), 'note to self', 1)
        self.svc('POST', '/v1/notifications', {'target': 'all', 'text': 'to everyone'}, 201)
        self.quiet(anon, anon5, msg='(anonymous: nothing under the prefix)')
        # Plain MQTT still reaches them.
        a.do_publish('plain/%s' % room, b'plain', 1)
        anon.receive('plain/%s' % room, b'plain', 1)

    def test_anonymous_publish_not_delivered(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        anon = self.connected(self.uid('anon'))
        anon.do_publish(self.room_topic(room), b'anonymous words', 1)
        anon5 = self.connected5(self.uid('anon5'))
        anon5.do_publish5(self.room_topic(room), b'anonymous words', 1, reason=NOT_AUTHORIZED)
        self.quiet(a, msg='(an anonymous publish is not delivered)')
        msgs = self.history('/v1/rooms/%s/messages' % room)
        self.assertEqual(msgs, [], 'an anonymous publish was archived')


class NoAnonymousPasswordFileTest(ChatTest):
    """allow_anonymous false and a password_file: CONNECT without a user
    name is refused with 5 / 0x87; a password_file user chats with the role
    user; a chat user name is not looked up in the password file."""

    @classmethod
    def setUpClass(cls):
        cls.pf_dir = tempfile.mkdtemp(prefix='mqchat-chat-pw-')
        path = os.path.join(cls.pf_dir, 'passwd')
        broker.write_password_file(path, {'pfuser': 'pf secret', 'pfother': 'other secret',
                                          LONG_NAME: 'long secret'})
        cls.CONFIG = chat_config({'allow_anonymous': False, 'password_file': path})
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.pf_dir, ignore_errors=True)

    def test_no_user_name_refused(self):
        c = self.client('anon')
        c.send(broker.connect(self.uid('anon')))
        c.expect(connack(False, NOT_AUTHORIZED_311))
        c5 = self.client5('anon5')
        c5.send(broker.connect5(self.uid('anon5')))
        c5.expect_connack5(NOT_AUTHORIZED, session_present=False)

    def test_password_file_user_chats_as_user(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        p = self.chat311('pfuser', 'pf secret', subs=[(self.room_topic(room), 1)])
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        self.pub(p, self.room_topic(room), 'hello from the password file', 1)
        for c in (p, a):
            self.expect_env(c, self.room_topic(room), 'pfuser',
                            text='hello from the password file', room=room)
        # The role is user: no system topic, no one else's DMs.
        p.do_subscribe([('chat/dm/%s' % alice, 1), ('chat/dm/pfuser', 1)],
                       codes=[SUBACK_FAILURE_311, 1])
        self.refused_connect('pfuser', 'wrong')
        self.refused_connect('pfother', 'pf secret')

    def test_password_file_name_that_is_no_user_id_has_no_chat_rights(self):
        """A password_file user whose name is not a valid user id (here 200
        bytes) connects for plain MQTT but is anonymous under the prefix:
        refused, no notice, no crash."""
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        a = self.chat311(alice, atok, subs=[(self.room_topic(room), 1)])
        p = self.chat311(LONG_NAME, 'long secret')
        p.do_subscribe([(self.room_topic(room), 1), ('chat/system', 0)],
                       codes=[SUBACK_FAILURE_311, SUBACK_FAILURE_311])
        self.pub(p, self.room_topic(room), 'from the long name', 1)
        self.quiet(a, msg='(a publish from a name that is no user id)')
        p.do_subscribe([('plain/topic', 0)], codes=[0])
        self.assertTrue(self.broker.alive())

    def test_chat_user_not_checked_against_password_file(self):
        # A chat user named like a password_file entry logs in with the chat
        # password only.
        self.make_user('pfother', password=PW)
        self.chat311('pfother', PW).disconnect()
        self.refused_connect('pfother', 'other secret')


class OpenSignupTest(ChatTest):
    CONFIG = chat_config({'chat.open_signup': True})

    def test_open_signup_creates_user(self):
        name = self.uid('u')
        got = self.api('POST', '/v1/users', {'id': name, 'password': PW}, None, 201)
        self.assertEqual(got['id'], name)
        self.assertEqual(got['role'], 'user')
        self.chat311(name, PW).disconnect()

    def test_open_signup_cannot_take_the_service_name(self):
        self.api('POST', '/v1/users', {'id': 'service', 'password': PW}, None, 409, 'exists')
        self.api('POST', '/v1/tokens', {'user': 'service', 'password': PW}, None, 401,
                 'bad_credentials')

    def test_open_signup_role_user_only(self):
        # Anyone may create the role user only: asking for service or
        # display is 403, and nothing is created.
        for role in ('service', 'display'):
            name = self.uid('u')
            self.api('POST', '/v1/users', {'id': name, 'password': PW, 'role': role}, None, 403,
                     'forbidden')
            self.api('POST', '/v1/tokens', {'user': name, 'password': PW}, None, 401,
                     'bad_credentials')
        got = self.api('POST', '/v1/users', {'id': self.uid('u'), 'password': PW, 'role': 'user'},
                       None, 201)
        self.assertEqual(got['role'], 'user')
        # A bearer that is there but not valid is 401, open sign-up or not.
        self.api('POST', '/v1/users', {'id': self.uid('u'), 'password': PW}, 'garbage', 401,
                 'unauthorized')
        # The service key still creates any role.
        self.make_user(role='service')

    def test_open_signup_needs_password(self):
        name = self.uid('u')
        self.api('POST', '/v1/users', {'id': name}, None, 400, 'bad_request')
        self.api('POST', '/v1/users', {'id': name, 'password': ''}, None, 400, 'bad_request')
        self.api('POST', '/v1/users', {'id': name, 'password': 'p' * 1025}, None, 400,
                 'bad_request')
        self.api('POST', '/v1/users', {'id': name, 'password': 'p' * 1024}, None, 201)
        self.chat311(name, 'p' * 1024).disconnect()
        self.api('POST', '/v1/users', {'id': "o'brien", 'password': PW}, None, 400,
                 'invalid_name')
        taken = self.make_user(password=PW)
        self.api('POST', '/v1/users', {'id': taken, 'password': 'x'}, None, 409, 'exists')


if __name__ == '__main__':
    unittest.main()
