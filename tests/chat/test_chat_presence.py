"""Presence (doc/protocol.md, "Chat features", "Presence"): a user is online
while one of their devices is connected, with a retained message on
chat/presence/{user} (devices, last_seen) that a late subscriber gets and
GET /v1/users/{user}/presence answers; no flapping (a reconnect or a
session take-over within chat.presence_grace shows nothing); room presence
on chat/room/{room}/presence (online count, joined and left names, support
totals) coalesced to one update per chat.presence_interval, names dropped
past chat.presence_max_names or when presence_events is off; a user that
alice blocks gets nothing of alice's presence; presence after a restart;
and a 5,000-viewer room whose presence traffic stays within the throttle.

The brokers run with chat.presence_interval 200 and chat.presence_grace 600
(FlapTest: grace 2000, so that a reconnect on a loaded machine is surely
inside it). Presence updates are coalesced, so tests wait for a state
(wait_json) and check everything that came on the way there.
"""

import selectors
import socket
import threading
import time
import unittest

import broker
from broker import P_SESSION_EXPIRY, WAIT, Publish, connack, suback
from chatlib import (FAST_GRACE_MS, FAST_INTERVAL_MS, SERVICE_KEY, FeatureTest, feature_config,
                     json_or_none, mint, now_ms, poll, raise_nofile)

USER_KEYS = {'user', 'online', 'devices', 'last_seen'}


class PresenceChecks(FeatureTest):
    """Checks of the two presence objects."""

    def check_user_presence(self, v, user, online, devices, what=''):
        self.assertEqual(v.get('type'), 'presence', '%r %s' % (v, what))
        self.assertEqual(v.get('user'), user, '%r %s' % (v, what))
        self.assertIs(v.get('online'), online, '%r %s' % (v, what))
        self.assertEqual(v.get('devices'), devices, '%r %s' % (v, what))
        self.assertIsInstance(v.get('last_seen'), int, '%r %s' % (v, what))
        self.assertLess(abs(v['last_seen'] - now_ms()), 60000, 'last_seen not recent: %r' % v)

    def check_room_presence(self, v, room, what=''):
        self.assertEqual(v.get('type'), 'presence', '%r %s' % (v, what))
        self.assertEqual(v.get('room'), room, '%r %s' % (v, what))
        for k in ('online', 'cheers', 'hearts', 'ts'):
            self.assertIsInstance(v.get(k), int, 'member %r of %r %s' % (k, v, what))
            self.assertNotIsInstance(v.get(k), bool, 'member %r of %r %s' % (k, v, what))
        for k in ('joined', 'left'):
            self.assertIsInstance(v.get(k), list, 'member %r of %r %s' % (k, v, what))
        self.assertLess(abs(v['ts'] - now_ms()), 60000, 'ts not now: %r' % v)

    def http_presence(self, user, token=SERVICE_KEY):
        got = self.api('GET', '/v1/users/%s/presence' % user, None, token)
        self.assertNotIn('type', got, 'the HTTP answer has no type: %r' % got)
        return got

    def as_http(self, v):
        """The retained object as GET /v1/users/{user}/presence answers it."""
        return {k: v.get(k) for k in USER_KEYS}


class PresenceTest(PresenceChecks):

    # ---- user presence ----

    def test_two_devices_then_offline_after_grace(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        topic = self.presence_topic(alice)
        obs = self.chat311(bob, btok, subs=[(topic, 0)], name='observer')
        seen = []
        a1 = self.chat311(alice, atok, name='alice-1')
        a2 = self.chat5(alice, atok, name='alice-2')
        _, two = self.wait_json(obs, topic, lambda v: v.get('devices') == 2, seen=seen,
                                msg='(two devices)')
        self.check_user_presence(two, alice, True, 2)
        for _, p, v in seen:
            self.assertIsNotNone(v, repr(p))
            self.assertFalse(p.retain, 'a live update is not sent retained: %r' % p)
            self.check_user_presence(v, alice, True, v.get('devices'))
            self.assertIn(v['devices'], (1, 2), repr(v))
        self.assertEqual(self.http_presence(alice, btok), self.as_http(two))

        # Device 2 leaves: still online, one device.
        seen = []
        a2.disconnect5()
        _, one = self.wait_json(obs, topic, lambda v: v.get('devices') == 1, seen=seen,
                                msg='(one device left)')
        self.check_user_presence(one, alice, True, 1)
        self.assertEqual(len(seen), 1, 'one update for one change: %r' % [x[2] for x in seen])
        self.assertEqual(self.http_presence(alice, ctok), self.as_http(one))

        # Device 1 leaves: offline only after the grace; nothing before that.
        seen = []
        left_ms = now_ms()
        left = time.monotonic()
        a1.disconnect()
        _, off = self.wait_json(obs, topic, lambda v: v.get('online') is False, seen=seen,
                                timeout=WAIT + FAST_GRACE_MS / 1000.0, msg='(offline)')
        after = time.monotonic() - left
        got_ms = now_ms()
        self.assertEqual(len(seen), 1, 'nothing between the last device leaving and the '
                         'offline update: %r' % [x[2] for x in seen])
        self.assertGreaterEqual(after, (FAST_GRACE_MS - 50) / 1000.0,
                                'offline %.3f s after the last device left, before the grace '
                                '(%d ms)' % (after, FAST_GRACE_MS))
        self.check_user_presence(off, alice, False, 0)
        # last_seen: the moment the last device went away, not the end of the grace.
        self.assertGreaterEqual(off['last_seen'], left_ms - 50, repr(off))
        self.assertLessEqual(off['last_seen'], got_ms - FAST_GRACE_MS // 2, repr(off))
        self.assertEqual(self.http_presence(alice, btok), self.as_http(off))

        # Late subscribers (3.1.1 and 5) get the retained offline message.
        late = self.chat311(carol, ctok, name='late-311')
        late.do_subscribe([(topic, 0)])
        p = self.next_pub(late, msg='(retained presence)')
        self.assertEqual(p.topic, topic)
        self.assertTrue(p.retain, 'retained presence: %r' % p)
        self.assertEqual(json_or_none(p.payload), off)
        late5 = self.chat5(carol, ctok, name='late-5')
        late5.do_subscribe5([(topic, 0)])
        p = self.next_pub(late5, msg='(retained presence, v5)')
        self.assertEqual(p.topic, topic)
        self.assertTrue(p.retain, 'retained presence: %r' % p)
        self.assertEqual(json_or_none(p.payload), off)
        self.quiet(obs, late, late5)

    def test_retained_online_for_late_subscriber(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        topic = self.presence_topic(alice)
        obs = self.chat5(bob, btok, subs=[(topic, 0)], name='observer')
        a = self.chat5(alice, atok, name='alice')
        _, on = self.wait_json(obs, topic, lambda v: v.get('online') is True)
        self.check_user_presence(on, alice, True, 1)
        self.assertGreaterEqual(on['last_seen'], now_ms() - 30000)
        for mk in (self.chat311, self.chat5):
            late = mk(bob, btok, name='late')
            if mk == self.chat5:
                late.do_subscribe5([(topic, 1)])
            else:
                late.do_subscribe([(topic, 1)])
            p = self.next_pub(late, msg='(retained presence)')
            self.assertEqual((p.topic, p.retain), (topic, True), repr(p))
            self.assertEqual(json_or_none(p.payload), on)
            self.quiet(late)
        self.assertEqual(self.http_presence(alice, btok), self.as_http(on))
        a.disconnect5()

    def test_never_seen_user(self):
        _, btok = self.new_user('b')
        ghost = self.uid('ghost')
        self.assertEqual(self.http_presence(ghost, btok),
                         {'user': ghost, 'online': False, 'devices': 0, 'last_seen': None})
        bob = self.uid('b2')
        b = self.chat311(bob, mint(bob), subs=[(self.presence_topic(ghost), 0)])
        self.quiet(b, msg='(no retained presence for a user never seen)')
        self.api('GET', '/v1/users/%s/presence' % ghost, None, None, 401, 'unauthorized')
        self.api('GET', "/v1/users/o'brien/presence", None, btok, 400, 'invalid_name')

    def test_display_and_service_not_counted(self):
        viewer, vtok = self.new_user('v', role='display')
        svc, stok = self.new_user('svc', role='service')
        bob, btok = self.new_user('b')
        obs = self.chat311(bob, btok, subs=[(self.presence_topic(viewer), 0),
                                           (self.presence_topic(svc), 0)])
        self.chat311(viewer, vtok, name='display')
        self.chat5(svc, stok, name='service')
        self.assertEqual(self.record(obs, 3 * FAST_INTERVAL_MS / 1000.0 + 0.4), [],
                         'display and service connections are not counted')
        for who in (viewer, svc):
            got = self.http_presence(who, btok)
            self.assertEqual((got['online'], got['devices']), (False, 0), repr(got))

    def test_blocked_user_gets_no_presence(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        topic = self.presence_topic(alice)
        r = self.http('POST', '/v1/users/%s/blocks/%s' % (alice, bob), None, atok)
        self.assertIn(r.status, (200, 201, 204), repr(r))
        self.block_effect()
        # bob may subscribe (any chat user may) but gets nothing.
        b = self.chat311(bob, btok, subs=[(topic, 0)], name='bob')
        c = self.chat311(carol, ctok, subs=[(topic, 0)], name='carol')
        a1 = self.chat311(alice, atok, name='alice-1')
        self.wait_json(c, topic, lambda v: v.get('online') is True)
        self.assertEqual(self.record(b, 3 * FAST_INTERVAL_MS / 1000.0 + 0.4), [],
                         "a user alice blocks gets none of alice's presence")
        b5 = self.chat5(bob, btok, subs=[(topic, 0)], name='bob-late')
        self.quiet(b5, msg='(nor the retained message)')
        # Unblocked: the next change reaches bob.
        r = self.http('DELETE', '/v1/users/%s/blocks/%s' % (alice, bob), None, atok)
        self.assertIn(r.status, (200, 204), repr(r))
        self.block_effect()
        a2 = self.chat5(alice, atok, name='alice-2')
        for cl in (c, b, b5):
            _, v = self.wait_json(cl, topic, lambda v: v.get('devices') == 2,
                                  msg='(after the unblock)')
            self.check_user_presence(v, alice, True, 2)
        a2.disconnect5()
        a1.disconnect()

    # ---- room presence ----

    def test_room_join_and_leave_names(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        dave, dtok = self.new_user('d')
        room = self.make_room(atok)
        rp = self.room_presence_topic(room)
        # Subscribed to the presence topic only: alice is not viewing.
        obs = self.chat5(alice, atok, subs=[(rp, 0)], name='observer')
        b = self.chat311(bob, btok, subs=[(self.room_topic(room), 0)], name='bob')
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 1)
        self.check_room_presence(v, room)
        self.assertEqual((v['joined'], v['left']), ([bob], []), repr(v))
        self.assertEqual((v['cheers'], v['hearts']), (0, 0), repr(v))
        c = self.chat5(carol, ctok, subs=[(self.room_topic(room), 0)], name='carol')
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 2)
        self.check_room_presence(v, room)
        self.assertEqual((v['joined'], v['left']), ([carol], []), repr(v))
        # bob's second device: still two users viewing, nothing to say.
        b2 = self.chat311(bob, btok, subs=[(self.room_topic(room), 0)], name='bob-2')
        self.assertEqual(self.record(obs, 3 * FAST_INTERVAL_MS / 1000.0 + 0.4), [],
                         'a second device of a viewer changes nothing')
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok).get('online'), 2)
        # bob leaves (both devices): after the grace, one left.
        seen = []
        t = time.monotonic()
        b2.disconnect()
        b.disconnect()
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 1, seen=seen,
                              timeout=WAIT + FAST_GRACE_MS / 1000.0)
        after = time.monotonic() - t
        self.assertGreaterEqual(after, (FAST_GRACE_MS - 50) / 1000.0,
                                'a leave waits for the grace (came after %.3f s)' % after)
        self.assertEqual(len(seen), 1, repr([x[2] for x in seen]))
        self.check_room_presence(v, room)
        self.assertEqual((v['joined'], v['left']), ([], [bob]), repr(v))
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok).get('online'), 1)
        # A late subscriber gets it retained.
        late = self.chat311(dave, dtok, subs=[(rp, 0)], name='late')
        p = self.next_pub(late, msg='(retained room presence)')
        self.assertEqual((p.topic, p.retain), (rp, True), repr(p))
        self.assertEqual(json_or_none(p.payload), v)
        # Leaving by unsubscribing.
        c.do_unsubscribe5([self.room_topic(room)])
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 0,
                              timeout=WAIT + FAST_GRACE_MS / 1000.0)
        self.check_room_presence(v, room)
        self.assertEqual((v['joined'], v['left']), ([], [carol]), repr(v))

    def test_room_display_viewer_not_counted(self):
        alice, atok = self.new_user('a')
        viewer, vtok = self.new_user('v', role='display')
        room = self.make_room(atok)
        rp = self.room_presence_topic(room)
        obs = self.chat311(alice, atok, subs=[(rp, 0)], name='observer')
        self.chat311(viewer, vtok, subs=[(self.room_topic(room), 0)], name='display')
        self.assertEqual(self.record(obs, 3 * FAST_INTERVAL_MS / 1000.0 + 0.4), [],
                         'a display viewing is not counted')

    def test_presence_events_false_no_names(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        self.api('PUT', '/v1/rooms/%s/settings' % room, {'presence_events': False}, atok)
        rp = self.room_presence_topic(room)
        obs = self.chat311(alice, atok, subs=[(rp, 0)], name='observer')
        b = self.chat5(bob, btok, subs=[(self.room_topic(room), 0)], name='bob')
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 1)
        self.check_room_presence(v, room)
        self.assertEqual((v['joined'], v['left']), ([], []), 'presence_events false: %r' % v)
        b.disconnect5()
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 0,
                              timeout=WAIT + FAST_GRACE_MS / 1000.0)
        self.assertEqual((v['joined'], v['left']), ([], []), 'presence_events false: %r' % v)
        # Back on (changed live): names again.
        self.api('PUT', '/v1/rooms/%s/settings' % room, {'presence_events': True}, atok)
        self.chat5(bob, btok, subs=[(self.room_topic(room), 0)], name='bob-again')
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 1)
        self.assertEqual((v['joined'], v['left']), ([bob], []), repr(v))


class FlapTest(PresenceChecks):
    """No flapping: a take-over or a reconnect inside the grace shows
    nothing to anyone. The grace is 2 s here (a reconnect takes
    milliseconds); every presence message across the change is recorded."""

    GRACE_MS = 2000
    CONFIG = feature_config({'chat.presence_grace': GRACE_MS})

    def watch(self):
        """How long to record after a change: the grace and three intervals."""
        return (self.GRACE_MS + 3 * FAST_INTERVAL_MS) / 1000.0 + 0.2

    def online_alice(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        topic = self.presence_topic(alice)
        obs = self.chat311(bob, btok, subs=[(topic, 0)], name='observer')
        return alice, atok, topic, obs

    def assert_nothing_seen(self, recorded, what):
        offline = [v for _, _, v in recorded if v is None or v.get('online') is not True]
        self.assertEqual(offline, [], 'an offline update across %s' % what)
        self.assertEqual([v for _, _, v in recorded], [],
                         '%s changes nothing anyone sees' % what)

    def test_session_takeover_311_and_5(self):
        alice, atok, topic, obs = self.online_alice()
        cid = self.uid('alice-phone')
        a = self.chat311(alice, atok, client_id=cid, name='alice-1')
        _, on = self.wait_json(obs, topic, lambda v: v.get('online') is True)
        self.check_user_presence(on, alice, True, 1)
        self.assertEqual(self.record(obs, 3 * FAST_INTERVAL_MS / 1000.0), [])
        # Same client id again (3.1.1): the old connection is taken over.
        self.chat311(alice, atok, client_id=cid, name='alice-2')
        a.expect_closed(msg='(taken over)')
        self.assert_nothing_seen(self.record(obs, self.watch()), 'a 3.1.1 take-over')
        # And by MQTT 5, with a session kept.
        a5 = self.chat5(alice, atok, client_id=cid, name='alice-3', clean=True,
                        properties=[(P_SESSION_EXPIRY, 60)])
        self.chat5(alice, atok, client_id=cid, name='alice-4', clean=False,
                   properties=[(P_SESSION_EXPIRY, 60)], session_present=True)
        a5.expect_disconnect(0x8E, msg='(session taken over)')
        self.assert_nothing_seen(self.record(obs, self.watch()), 'an MQTT 5 take-over')
        got = self.http_presence(alice)
        self.assertEqual((got['online'], got['devices'], got['last_seen']),
                         (True, 1, on['last_seen']), repr(got))

    def test_quick_reconnect(self):
        alice, atok, topic, obs = self.online_alice()
        a = self.chat5(alice, atok, name='alice-1')
        _, on = self.wait_json(obs, topic, lambda v: v.get('online') is True)
        self.assertEqual(self.record(obs, 3 * FAST_INTERVAL_MS / 1000.0), [])
        a.disconnect5()
        a = self.chat311(alice, atok, name='alice-2')
        self.assert_nothing_seen(self.record(obs, self.watch()), 'a reconnect (DISCONNECT)')
        a.abort()     # a dead network: no DISCONNECT
        a = self.chat5(alice, atok, name='alice-3')
        self.assert_nothing_seen(self.record(obs, self.watch()), 'a reconnect (connection lost)')
        got = self.http_presence(alice)
        self.assertEqual((got['online'], got['devices']), (True, 1), repr(got))
        a.disconnect5()
        _, off = self.wait_json(obs, topic, lambda v: v.get('online') is False,
                                timeout=WAIT + self.GRACE_MS / 1000.0)
        self.check_user_presence(off, alice, False, 0)

    def test_room_rejoin_within_grace(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        room = self.make_room(atok)
        rp = self.room_presence_topic(room)
        obs = self.chat311(alice, atok, subs=[(rp, 0)], name='observer')
        b = self.chat5(bob, btok, subs=[(self.room_topic(room), 0)], name='bob-1')
        _, v = self.wait_json(obs, rp, lambda v: v.get('online') == 1)
        self.assertEqual(v.get('joined'), [bob], repr(v))
        b.disconnect5()
        self.chat311(bob, btok, subs=[(self.room_topic(room), 0)], name='bob-2')
        self.assertEqual([x[2] for x in self.record(obs, self.watch())], [],
                         'leaving and coming back within the grace changes nothing')


class PresenceRestartTest(PresenceChecks):
    """Presence across a broker restart (a broker per test)."""

    SHARED = False

    def test_restart_reports_offline_and_keeps_last_seen(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        carol, ctok = self.new_user('c')
        obs = self.chat311(carol, ctok, subs=[(self.presence_topic(alice), 0),
                                             (self.presence_topic(bob), 0)])
        a = self.chat311(alice, atok, name='alice')
        self.wait_json(obs, self.presence_topic(alice), lambda v: v.get('online') is True)
        a.disconnect()
        _, alice_off = self.wait_json(obs, self.presence_topic(alice),
                                      lambda v: v.get('online') is False,
                                      timeout=WAIT + FAST_GRACE_MS / 1000.0)
        t_bob = now_ms()
        self.chat5(bob, btok, name='bob')
        self.wait_json(obs, self.presence_topic(bob), lambda v: v.get('online') is True)
        for kill in (False, True):
            self.restart_broker(kill=kill)
            obs = self.chat5(carol, ctok, name='after-restart')
            obs.do_subscribe5([(self.presence_topic(alice), 0)])
            p = self.next_pub(obs, msg='(alice retained after the restart, kill=%s)' % kill)
            self.assertTrue(p.retain, repr(p))
            self.assertEqual(json_or_none(p.payload), alice_off, 'kill=%s' % kill)
            # bob was online when the broker went away: offline now, last_seen kept.
            obs.do_subscribe5([(self.presence_topic(bob), 0)])
            p = self.next_pub(obs, msg='(bob retained after the restart, kill=%s)' % kill)
            v = json_or_none(p.payload)
            self.assertTrue(p.retain, repr(p))
            self.check_user_presence(v, bob, False, 0, 'kill=%s' % kill)
            self.assertGreaterEqual(v['last_seen'], t_bob - 50, repr(v))
            self.assertEqual(self.http_presence(bob, atok), self.as_http(v))
            self.assertEqual(self.http_presence(alice, atok), self.as_http(alice_off))
            if not kill:
                self.chat5(bob, btok, name='bob-again')
                self.wait_json(obs, self.presence_topic(bob), lambda v: v.get('online') is True)


class BigRoomPresenceTest(PresenceChecks):
    """5,000 viewers join a room (raw sockets: CONNECT with a token and
    SUBSCRIBE, pipelined) and leave it; an observer on the room's presence
    topic counts the updates: at most elapsed / interval + 2 per phase, the
    count reaching 5,000 and then 0, no names once more than
    chat.presence_max_names changed in one update."""

    VIEWERS = 5000
    MAX_NAMES = 20
    CONFIG = feature_config({'chat.presence_max_names': MAX_NAMES})

    @classmethod
    def setUpClass(cls):
        # Each viewer is a socket here and one in the broker (which inherits
        # this limit from the process that starts it).
        cls.nofile = raise_nofile(2 * cls.VIEWERS + 1024)
        super().setUpClass()

    def connect_viewers(self, room, n, timeout=60.0):
        """n users (integrator tokens, minted here) each CONNECT and
        SUBSCRIBE to the room in one write; returns the sockets once every
        one has its CONNACK 0 and SUBACK 0."""
        topic = self.room_topic(room)
        base = self.uid('v')
        want = connack(False, 0) + suback(1, [0])
        sel = selectors.DefaultSelector()
        socks, bufs, done, bad = [], {}, [0], []

        def drain(wait):
            for key, _ in sel.select(wait):
                s, i = key.fileobj, key.data
                try:
                    data = s.recv(64)
                except BlockingIOError:
                    continue
                except OSError as e:
                    data = b''
                    bad.append('viewer %d: %s' % (i, e))
                bufs[i] += data
                if not data or len(bufs[i]) >= len(want):
                    sel.unregister(s)
                    if bufs[i][:len(want)] == want and len(bufs[i]) == len(want):
                        done[0] += 1
                    else:
                        bad.append('viewer %d got %s' % (i, broker.hexs(bufs[i])))

        deadline = time.monotonic() + timeout
        try:
            for i in range(n):
                user = '%s-%d' % (base, i)
                pkt = (broker.connect('%s-c' % user, keepalive=300, username=user,
                                      password=mint(user))
                       + broker.subscribe(1, [(topic, 0)]))
                s = socket.create_connection(('127.0.0.1', self.port), timeout=WAIT)
                socks.append(s)
                s.sendall(pkt)
                s.setblocking(False)
                bufs[i] = b''
                sel.register(s, selectors.EVENT_READ, i)
                if i % 100 == 99:
                    drain(0)
                self.assertFalse(bad, bad[:5])
            while done[0] < n and not bad and time.monotonic() < deadline:
                drain(0.2)
            self.assertFalse(bad, bad[:5])
            self.assertEqual(done[0], n, 'viewers with CONNACK and SUBACK after %.0f s'
                             % timeout)
        except BaseException:
            for s in socks:
                s.close()
            raise
        finally:
            sel.close()
        return socks

    def observe(self, c, log, stop):
        """(thread) Appends (monotonic time, object) for every PUBLISH on c."""
        while not stop.is_set():
            try:
                raw = c.read(0.1)
            except (broker.Closed, OSError):
                log.append((time.monotonic(), 'closed'))
                return
            if raw is not None and raw[0] >> 4 == 3:
                p = Publish(raw)
                log.append((time.monotonic(), json_or_none(p.payload) or p.payload))

    def check_phase(self, msgs, start, room, before, final, what):
        """msgs: [(time, object)] of one phase that began at `start` with
        `before` viewers and ends with `final`."""
        interval = FAST_INTERVAL_MS / 1000.0
        self.assertTrue(msgs, 'no presence update at all while %s' % what)
        for _, v in msgs:
            self.assertIsInstance(v, dict, 'not a JSON object: %r' % (v,))
            self.check_room_presence(v, room, what)
        elapsed = msgs[-1][0] - start
        limit = int(elapsed / interval) + 2
        self.assertLessEqual(len(msgs), limit, '%d presence updates in %.2f s while %s (at '
                             'most one per %d ms)' % (len(msgs), elapsed, what,
                                                      FAST_INTERVAL_MS))
        self.assertEqual(msgs[-1][1]['online'], final, 'final count while %s' % what)
        prev, big = before, 0
        for _, v in msgs:
            names = len(v['joined']) + len(v['left'])
            self.assertLessEqual(names, self.MAX_NAMES, 'too many names: %d' % names)
            delta = abs(v['online'] - prev)
            if delta > self.MAX_NAMES:
                big += 1
                self.assertEqual((v['joined'], v['left']), ([], []),
                                 '%d changed in one update (more than %d): no names; '
                                 'got %d names' % (delta, self.MAX_NAMES, names))
            prev = v['online']
        self.assertGreater(big, 0, 'no update with more than %d changes while %s?'
                           % (self.MAX_NAMES, what))
        return elapsed, len(msgs)

    def test_5000_viewers_within_throttle(self):
        self.assertGreaterEqual(self.nofile, self.VIEWERS + 1024,
                                'RLIMIT_NOFILE %d is too low for %d viewers'
                                % (self.nofile, self.VIEWERS))
        t_test = time.monotonic()
        alice, atok = self.new_user('owner')
        room = self.make_room(atok)
        obs = self.chat311(alice, atok, subs=[(self.room_presence_topic(room), 0)],
                           name='observer')
        log, stop = [], threading.Event()
        th = threading.Thread(target=self.observe, args=(obs, log, stop), daemon=True)
        socks = []

        def close_all():
            stop.set()
            th.join(5)
            for s in socks:
                s.close()
        self.addCleanup(close_all)
        th.start()

        # Join.
        t0 = time.monotonic()
        socks.extend(self.connect_viewers(room, self.VIEWERS))
        joined_in = time.monotonic() - t0
        self.assertLess(joined_in, 30.0, 'the viewers took %.1f s to join' % joined_in)
        reached = poll(lambda: any(isinstance(v, dict) and v.get('online') == self.VIEWERS
                                   for _, v in log), timeout=30)
        self.assertTrue(reached, 'online never reached %d; last: %r'
                        % (self.VIEWERS, log[-3:]))
        time.sleep(5 * FAST_INTERVAL_MS / 1000.0)   # anything still coming, counted too
        join_msgs = list(log)
        j_elapsed, j_n = self.check_phase(join_msgs, t0, room, 0, self.VIEWERS,
                                           'joining')
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok).get('online'),
                         self.VIEWERS)

        # Leave.
        t1 = time.monotonic()
        for s in socks:
            try:
                s.send(broker.DISCONNECT)
            except OSError:
                pass
            s.close()
        socks.clear()
        gone = poll(lambda: any(isinstance(v, dict) and v.get('online') == 0
                                for _, v in log[len(join_msgs):]),
                    timeout=30 + FAST_GRACE_MS / 1000.0)
        self.assertTrue(gone, 'online never went back to 0; last: %r' % log[-3:])
        time.sleep(5 * FAST_INTERVAL_MS / 1000.0)
        leave_msgs = log[len(join_msgs):]
        self.assertGreaterEqual(leave_msgs[0][0] - t1, (FAST_GRACE_MS - 50) / 1000.0,
                                'leaves wait for the grace')
        l_elapsed, l_n = self.check_phase(leave_msgs, t1, room, self.VIEWERS, 0, 'leaving')
        self.assertEqual(self.api('GET', '/v1/rooms/%s' % room, None, atok).get('online'), 0)
        close_all()
        sys_out = ('%d viewers joined in %.1f s: %d updates in %.1f s; left: %d updates in '
                   '%.1f s; whole test %.1f s' % (self.VIEWERS, joined_in, j_n, j_elapsed,
                                                  l_n, l_elapsed, time.monotonic() - t_test))
        print('\n    ' + sys_out, end=' ')


if __name__ == '__main__':
    unittest.main()
