"""Three mqchatd nodes over one Redis (doc/cluster.md): rooms and direct
messages across nodes exactly once and in order, presence summed over
nodes, control changes (personal and room blocks, rooms, members, settings,
decorations) made on one node in force on the others within a second,
plain MQTT topics of redis.bridge_topics crossing nodes, message ids that
carry the node id, the Redis channels a node subscribes to, history of
another node's messages, the cluster metrics.

The three nodes (node.id 1, 2, 3; A, B, C below) are shared by the tests of
the class; every test makes its own users and rooms.
"""

import collections
import json
import time

# (first: it puts tests/broker and tests/chat on the path; unittest calls
# tearDownModule, which stops a Redis this module started)
from clusterlib import (CONTROL_EFFECT_S, ClusterTest, msgid_ms, msgid_node, numsub,  # noqa: F401
                        redis_cli, tearDownModule)
import broker
from broker import QUIET, WAIT, P_CONTENT_TYPE, P_USER_PROPERTY
from chatlib import FAST_GRACE_MS, FAST_INTERVAL_MS, PREFIX, poll

N_SEQ = 30          # messages per publisher in the room test


class ClusterChatTest(ClusterTest):
    NODES = 3
    NODE_CONFIG = {'redis.bridge_topics': 'sensors/#', 'chat.auto_create_rooms': 'true'}

    # ---- helpers ----

    def check_sequence(self, ib, topic, expected, order_key, what=''):
        """ib got on topic exactly the texts of expected (a list), each
        once, and per sender (order_key(text) -> (sender, n)) in order."""
        msgs = ib.chat(topic)
        texts = [v.get('text') for v in msgs]
        counts = collections.Counter(texts)
        twice = sorted(t for t, n in counts.items() if n > 1)
        missing = sorted(set(expected) - set(texts))
        extra = sorted(set(texts) - set(expected))
        if twice or missing or extra:
            self.fail('%s %s: %d messages expected; delivered twice %s, missing %s, '
                      'unexpected %s' % (ib.name, what, len(expected), twice[:10], missing[:10],
                                         extra[:10]))
        per = collections.defaultdict(list)
        for t in texts:
            sender, n = order_key(t)
            per[sender].append(n)
        for sender, ns in per.items():
            self.assertEqual(ns, sorted(ns), '%s %s: messages of %s out of order: %s'
                             % (ib.name, what, sender, ns))
        return msgs

    def seq_key(self, text):
        _, sender, n = text.split(':')
        return sender, int(n)

    def timed_stop(self, t_answer, sender, topic, payload_fmt, watchers, others=(),
                   duration=CONTROL_EFFECT_S + 0.6, step=0.05):
        """Publishes payload_fmt % k from sender every step for duration
        after t_answer (when a control change was answered); returns the
        [(seconds after t_answer, text)] sent. others: [(client, topic,
        fmt)] published alongside (delivery that must go on)."""
        sent = []
        k = 0
        while time.monotonic() - t_answer < duration:
            t = time.monotonic() - t_answer
            text = payload_fmt % k
            self.send(sender, topic, text)
            sent.append((t, text))
            for c, ot, fmt in others:
                self.send(c, ot, fmt % k)
            k += 1
            for ib in watchers:
                ib.pump(step / max(1, len(watchers)))
        self.pump_all(QUIET)
        return sent

    # ---- 1. a room across nodes ----

    def test_room_across_nodes(self):
        nodes = self.nodes
        owner, otok = self.new_user_on(nodes[0], 'o')
        room = self.room_on(nodes[0], otok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        users = [self.new_user_on(n, 'u') for n in nodes]
        extra = self.new_user_on(nodes[2], 'v')
        subs = [self.inbox(self.device(n, u, t, subs=[(topic, 1)], name=u + '-sub'))
                for n, (u, t) in zip(nodes, users)]
        subs.append(self.inbox(self.device(nodes[2], extra[0], extra[1], subs=[(topic, 1)])))
        pubs = [self.device(n, u, t, name=u + '-pub') for n, (u, t) in zip(nodes, users)]
        self.sync([(p, topic, subs) for p in pubs])

        before = [self.metrics(n) for n in nodes]
        items = []
        for k in range(N_SEQ):
            for p, (u, _) in zip(pubs, users):
                items.append((p, topic, 'm:%s:%d' % (u, k)))
        self.burst(items)
        expected = [x[2] for x in items]
        for ib in subs:
            ib.wait(lambda ib: all(ib.has_text(t) for t in expected), WAIT,
                    '(all %d messages of 3 publishers on 3 nodes)' % len(expected))
        self.pump_all(QUIET)    # nothing more may come
        node_of = {u: n for n, (u, _) in zip(nodes, users)}
        for ib in subs:
            for v in self.check_sequence(ib, topic, expected, self.seq_key):
                sender = self.seq_key(v['text'])[0]
                self.assertEqual(v.get('from'), sender, '%s: %r' % (ib.name, v))
                self.assertEqual(v.get('room'), room, '%s: %r' % (ib.name, v))
                self.assertEqual(v.get('type'), 'text', '%s: %r' % (ib.name, v))
                self.assertEqual(msgid_node(v['id']), node_of[sender].node_id,
                                 '%s: id %s of a message accepted on %s carries node %d'
                                 % (ib.name, v['id'], node_of[sender].name,
                                    msgid_node(v['id'])))
        self.check_ids()

        # Metrics: each node forwarded its publisher's messages once and
        # received the other two publishers'.
        for n, b in zip(nodes, before):
            m = self.metrics(n)
            fwd = m.get('mqchat_redis_forwarded_total', 0) - b.get('mqchat_redis_forwarded_total', 0)
            rcv = m.get('mqchat_redis_received_total', 0) - b.get('mqchat_redis_received_total', 0)
            self.assertGreaterEqual(fwd, N_SEQ, '%s: mqchat_redis_forwarded_total grew by %d for '
                                    '%d messages published there' % (n.name, fwd, N_SEQ))
            self.assertGreaterEqual(rcv, 2 * N_SEQ, '%s: mqchat_redis_received_total grew by %d '
                                    'for %d messages from the other nodes'
                                    % (n.name, rcv, 2 * N_SEQ))

    # ---- 2. direct messages across nodes ----

    def test_dm_across_nodes(self):
        A, B, C = self.nodes
        alice, atok = self.new_user_on(A, 'alice')
        bob, btok = self.new_user_on(B, 'bob')
        a_dm, b_dm = self.dm_topic(alice), self.dm_topic(bob)
        a1 = self.inbox(self.device(A, alice, atok, subs=[(a_dm, 1)], name='alice-1'))
        a2 = self.inbox(self.device(C, alice, atok, subs=[(a_dm, 1)], name='alice-2'))
        b1 = self.inbox(self.device(B, bob, btok, subs=[(b_dm, 1)], name='bob-1'))
        b2 = self.inbox(self.device(C, bob, btok, subs=[(b_dm, 1)], name='bob-2'))
        # alice writes from A, bob from C.
        self.sync([(a1.c, b_dm, [a1, a2, b1, b2]), (b2.c, a_dm, [a1, a2, b1, b2])])

        items = []
        for k in range(10):
            items.append((a1.c, b_dm, 'd:%s:%d' % (alice, k)))
            items.append((b2.c, a_dm, 'd:%s:%d' % (bob, k)))
        self.burst(items)
        expected = [x[2] for x in items]
        for ib in (a1, a2, b1, b2):
            ib.wait(lambda ib: all(ib.has_text(t) for t in expected), WAIT,
                    '(10 DMs each way and the senders\' copies)')
        self.pump_all(QUIET)
        for ib, mine in ((a1, a_dm), (a2, a_dm), (b1, b_dm), (b2, b_dm)):
            for v in self.check_sequence(ib, mine, expected, self.seq_key, '(inbox)'):
                sender = self.seq_key(v['text'])[0]
                self.assertEqual(v.get('from'), sender, '%s: %r' % (ib.name, v))
                self.assertEqual(v.get('to'), bob if sender == alice else alice,
                                 '%s: the recipient copy and the sender copy both name the '
                                 'recipient: %r' % (ib.name, v))
                self.assertNotIn('room', v, '%s: %r' % (ib.name, v))
                self.assertEqual(msgid_node(v['id']), (A if sender == alice else C).node_id,
                                 '%s: %r' % (ib.name, v))
            # Nothing on any other topic.
            others = [(p.topic, t) for _, p, v, t in ib.got
                      if p.topic != mine and not t.startswith('probe:')]
            self.assertEqual(others, [], '%s: unexpected publishes' % ib.name)
        # The same envelope id for the recipient's copies and the sender's.
        self.check_ids()

    # ---- 3. presence across nodes ----

    def test_presence_across_nodes(self):
        A, B, C = self.nodes
        x, xtok = self.new_user_on(A, 'x')
        obs_user, otok = self.new_user_on(C, 'obs')
        topic = '%s/presence/%s' % (PREFIX, x)
        obs = self.device(C, obs_user, otok, subs=[(topic, 0)], name='observer')
        seen = []
        x1 = self.device(A, x, xtok, name='x-1')
        x2 = self.device(B, x, xtok, name='x-2')
        _, two = self.wait_json(obs, topic, lambda v: v.get('devices') == 2, seen=seen,
                                msg='(devices on A and B, seen on C)')
        self.assertIs(two.get('online'), True, repr(two))
        self.assertEqual(two.get('user'), x, repr(two))
        for _, p, v in seen:
            self.assertIsNotNone(v, repr(p))
            self.assertIs(v.get('online'), True, 'online once: %r' % [s[2] for s in seen])
            self.assertIn(v.get('devices'), (1, 2), 'online once: %r' % [s[2] for s in seen])
        for n in self.nodes:
            self.wait_node_presence(n, x, lambda v: (v.get('online'), v.get('devices'))
                                    == (True, 2))

        # The device on B leaves: one device, still online; never offline.
        seen = []
        x2.disconnect()
        _, one = self.wait_json(obs, topic, lambda v: v.get('devices') == 1, seen=seen,
                                timeout=WAIT + FAST_GRACE_MS / 1000.0, msg='(one device left)')
        self.assertIs(one.get('online'), True, repr(one))
        for _, p, v in seen:
            self.assertIs(v.get('online'), True, 'never offline while A holds a device: %r'
                          % [s[2] for s in seen])

        # The last device leaves: offline after the grace.
        seen = []
        left = time.monotonic()
        x1.disconnect()
        _, off = self.wait_json(obs, topic, lambda v: v.get('online') is False, seen=seen,
                                timeout=WAIT + FAST_GRACE_MS / 1000.0, msg='(offline)')
        after = time.monotonic() - left
        self.assertEqual(off.get('devices'), 0, repr(off))
        self.assertGreaterEqual(after, (FAST_GRACE_MS - 50) / 1000.0,
                                'offline %.3f s after the last device left, before the grace '
                                '(%d ms)' % (after, FAST_GRACE_MS))
        self.assertLess(after, (FAST_GRACE_MS + FAST_INTERVAL_MS) / 1000.0 + 1.5,
                        'offline only %.3f s after the last device left' % after)
        for n in self.nodes:
            r = self.wait_node_presence(n, x, lambda v: v.get('online') is False)
            self.assertEqual(r.get('devices'), 0, '%s: %r' % (n.name, r))

    def wait_node_presence(self, node, user, pred, timeout=2.0):
        last = [None]

        def once():
            last[0] = self.napi(node, 'GET', '/v1/users/%s/presence' % user)
            return pred(last[0])
        if not poll(once, timeout):
            self.fail('%s: GET /v1/users/%s/presence never matched: %r'
                      % (node.name, user, last[0]))
        return last[0]

    # ---- 4. control changes across nodes ----

    def test_personal_block_across_nodes(self):
        """A block made through A's HTTP API: C stops delivering the blocked
        user's room messages (published on B) within a second, and B
        refuses the blocked user's DMs."""
        A, B, C = self.nodes
        u, utok = self.new_user_on(C, 'u')
        o, otok = self.new_user_on(B, 'o')
        p, ptok = self.new_user_on(B, 'p')
        v, vtok = self.new_user_on(C, 'v')
        room = self.room_on(A, utok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        u_ib = self.inbox(self.device(C, u, utok, subs=[(topic, 1)]))
        v_ib = self.inbox(self.device(C, v, vtok, subs=[(topic, 1)]))
        o_pub = self.device(B, o, otok, v5=True)
        p_pub = self.device(B, p, ptok)
        self.sync([(o_pub, topic, [u_ib, v_ib]), (p_pub, topic, [u_ib, v_ib])])

        got = self.napi(A, 'POST', '/v1/users/%s/blocks/%s' % (u, o), bearer=utok)
        t_answer = time.monotonic()
        self.assertEqual(got, {'user': u, 'other': o, 'blocked': True})
        sent = self.timed_stop(t_answer, o_pub, topic, 'o:%d', [u_ib, v_ib],
                               others=[(p_pub, topic, 'p:%d')])
        late = [(round(t, 3), text) for t, text in sent
                if t > CONTROL_EFFECT_S and u_ib.has_text(text)]
        through = [t for t, text in sent if u_ib.has_text(text)]
        self.assertEqual(late, [], '%s blocked %s through %s\'s HTTP API; %s (on %s) still got '
                         '%s\'s messages published on %s more than %.1f s after the answer '
                         '(seconds after it, text); the block reached %s only after %.2f s'
                         % (u, o, A.name, u, C.name, o, B.name, CONTROL_EFFECT_S, C.name,
                            max(through) if through else 0))
        # Only u blocks o: v (same node) got every one, and p's messages
        # reached u all along.
        self.assertEqual([t for _, t in sent if not v_ib.has_text(t)], [],
                         '%s (who blocks nobody) missed %s\'s messages' % (v, o))
        k = len(sent)
        self.assertEqual([i for i in range(k) if not u_ib.has_text('p:%d' % i)], [],
                         '%s missed messages of %s (not blocked)' % (u, p))
        # B refuses o's direct messages to u (doc/protocol.md: 0x87 blocked).
        self.send(o_pub, self.dm_topic(u), 'hello?', reason=0x87)
        self.assertEqual(self.napi(C, 'GET', '/v1/users/%s/blocks' % u, bearer=utok),
                         {'user': u, 'blocks': [o]})
        # Lifted on A: C delivers again within a second.
        self.napi(A, 'DELETE', '/v1/users/%s/blocks/%s' % (u, o), bearer=utok)
        t_answer = time.monotonic()
        sent = self.timed_stop(t_answer, o_pub, topic, 'again:%d', [u_ib])
        missing = [(round(t, 3), text) for t, text in sent
                   if t > CONTROL_EFFECT_S and not u_ib.has_text(text)]
        self.assertEqual(missing, [], 'block lifted on %s; %s still did not get these on %s'
                         % (A.name, u, C.name))
        self.check_ids()

    def test_room_block_across_nodes(self):
        """A shadow block made on A: the blocked user's messages, published
        on B, stop reaching C within a second; they still come back to the
        blocked user's own device on B, and C's history does not show them."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        u, utok = self.new_user_on(C, 'u')
        o, otok = self.new_user_on(B, 'o')
        p, ptok = self.new_user_on(B, 'p')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        u_ib = self.inbox(self.device(C, u, utok, subs=[(topic, 1)]))
        o_self = self.inbox(self.device(B, o, otok, subs=[(topic, 1)], name='o-own'))
        o_pub = self.device(B, o, otok, v5=True)
        p_pub = self.device(B, p, ptok)
        self.sync([(o_pub, topic, [u_ib, o_self]), (p_pub, topic, [u_ib])])

        got = self.napi(A, 'POST', '/v1/rooms/%s/blocks/%s' % (room, o), bearer=owtok)
        t_answer = time.monotonic()
        self.assertEqual(got, {'room': room, 'user': o, 'blocked': True})
        sent = self.timed_stop(t_answer, o_pub, topic, 'o:%d', [u_ib, o_self],
                               others=[(p_pub, topic, 'p:%d')])
        late = [(round(t, 3), text) for t, text in sent
                if t > CONTROL_EFFECT_S and u_ib.has_text(text)]
        through = [t for t, text in sent if u_ib.has_text(text)]
        self.assertEqual(late, [], 'room block of %s made on %s; %s on %s still got these '
                         '(seconds after the answer, text), published on %s; effective only '
                         'after %.2f s' % (o, A.name, u, C.name, B.name,
                                           max(through) if through else 0))
        self.assertEqual([t for _, t in sent if not o_self.has_text(t)], [],
                         'a shadow-blocked user\'s messages come back to their own devices')
        self.assertEqual([i for i in range(len(sent)) if not u_ib.has_text('p:%d' % i)], [],
                         '%s missed %s\'s messages (not blocked)' % (u, p))
        hist = self.napi(C, 'GET', '/v1/rooms/%s/messages?limit=1000' % room)
        shown = [m.get('text') for m in hist.get('messages', [])
                 if m.get('from') == o and any(m.get('text') == t for tt, t in sent
                                               if tt > CONTROL_EFFECT_S)]
        self.assertEqual(shown, [], '%s\'s history shows shadow-blocked messages' % C.name)
        self.assertEqual(self.napi(C, 'GET', '/v1/rooms/%s/blocks' % room, bearer=owtok),
                         {'room': room, 'blocks': [o]})

    def test_room_made_on_one_node_usable_on_another(self):
        """A room created on A can be subscribed to on B (and C) within a
        second; a private room's member added on A can subscribe on B, and
        one removed on A stops receiving on B within a second."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        q, qtok = self.new_user_on(B, 'q')
        r, rtok = self.new_user_on(C, 'r')
        q_c = self.device(B, q, qtok)
        r_c = self.device(C, r, rtok)
        room = self.room_on(A, owtok)
        t_answer = time.monotonic()
        took_b = self.subscribe_retry(q_c, self.room_topic(room), 1, timeout=WAIT)
        after_b = time.monotonic() - t_answer
        took_c = self.subscribe_retry(r_c, self.room_topic(room), 1, timeout=WAIT)
        after_c = time.monotonic() - t_answer
        self.assertLessEqual(after_b, CONTROL_EFFECT_S,
                             'room %s created on %s: SUBSCRIBE on %s granted only %.2f s after '
                             'the answer (retried %.2f s)' % (room, A.name, B.name, after_b, took_b))
        self.assertLessEqual(after_c, CONTROL_EFFECT_S,
                             'room %s created on %s: SUBSCRIBE on %s granted only %.2f s after '
                             'the answer (retried %.2f s)' % (room, A.name, C.name, after_c, took_c))
        # Usable: the owner on A posts, B and C get it.
        o_c = self.device(A, owner, owtok)
        qi, ri = self.inbox(q_c), self.inbox(r_c)
        self.sync([(o_c, self.room_topic(room), [qi, ri])])
        # Joined by the subscription on B: A's directory knows q as a member.
        self.assertEqual(self.napi(B, 'POST', '/v1/rooms/%s/join' % room, bearer=qtok)
                         .get('role'), 'member')

        # A private room: q added on A, subscribes on B.
        priv = self.room_on(A, owtok, private=True)
        ptopic = self.room_topic(priv)
        self.known_everywhere(priv)
        q2 = self.device(B, q, qtok, name='q-priv')
        m = q2.mid()
        q2.send(broker.subscribe(m, [(ptopic, 1)]))
        q2.expect(broker.suback(m, [0x80]), msg='(a private room, not a member yet)')
        got = self.napi(A, 'POST', '/v1/rooms/%s/join' % priv, {'user': q}, bearer=owtok)
        self.assertEqual(got.get('user'), q, repr(got))
        t_answer = time.monotonic()
        self.subscribe_retry(q2, ptopic, 1)
        after = time.monotonic() - t_answer
        self.assertLessEqual(after, CONTROL_EFFECT_S, '%s added to private room %s on %s: '
                             'its SUBSCRIBE on %s granted only after %.2f s'
                             % (q, priv, A.name, B.name, after))
        qi2 = self.inbox(q2)
        o2 = self.device(A, owner, owtok, name='owner-2')
        self.sync([(o2, ptopic, [qi2])])
        # Removed on A: B stops delivering to q within a second.
        got = self.napi(A, 'POST', '/v1/rooms/%s/leave' % priv, {'user': q}, bearer=owtok)
        t_answer = time.monotonic()
        sent = self.timed_stop(t_answer, o2, ptopic, 'after-leave:%d', [qi2])
        late = [(round(t, 3), text) for t, text in sent
                if t > CONTROL_EFFECT_S and qi2.has_text(text)]
        self.assertEqual(late, [], '%s removed from private room %s on %s still got these on %s '
                         '(seconds after the answer, text)' % (q, priv, A.name, B.name))

    def test_settings_across_nodes(self):
        """max_length set on A refuses a longer message on C within a
        second (MQTT 5 PUBACK 0x99)."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        w, wtok = self.new_user_on(C, 'w')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        w_c = self.device(C, w, wtok, v5=True)
        long_text = 'x' * 20
        w_c.do_publish5(topic, long_text, 1, reason=0)      # no limit yet
        got = self.napi(A, 'PUT', '/v1/rooms/%s/settings' % room, {'max_length': 10},
                        bearer=owtok)
        t_answer = time.monotonic()
        self.assertEqual(got.get('settings'), {'max_length': 10}, repr(got))
        reasons = []
        while True:
            m = w_c.mid()
            w_c.send(broker.publish5(topic, long_text, 1, mid=m))
            a = self.read_ack5(w_c, m)
            t = time.monotonic() - t_answer
            reasons.append((round(t, 3), a.reason))
            if a.reason == 0x99:
                break
            self.assertEqual(a.reason, 0, 'PUBACK %r' % a)
            if t > CONTROL_EFFECT_S:
                self.fail('max_length 10 set on %s; a 20-character message on %s still '
                          'accepted %.2f s after the answer: %s' % (A.name, C.name, t, reasons))
            time.sleep(0.05)
        w_c.do_publish5(topic, 'short', 1, reason=0)
        got = self.napi(C, 'GET', '/v1/rooms/%s/settings' % room, bearer=wtok)
        self.assertEqual(got.get('effective', {}).get('max_length'), 10, repr(got))

    def read_ack5(self, c, mid):
        held = []
        try:
            while True:
                raw = c.expect_packet(WAIT, '(PUBACK)')
                if raw[0] >> 4 == 3:
                    held.append(raw)
                    continue
                a = broker.Ack5(raw)
                self.assertEqual((raw[0] >> 4, a.mid), (4, mid), repr(a))
                return a
        finally:
            c.pending[:0] = held

    def test_decoration_across_nodes(self):
        """A decoration set on A is in the envelopes of that user's next
        messages published on C (seen on B) within a second."""
        A, B, C = self.nodes
        o, otok = self.new_user_on(C, 'o')
        s, stok = self.new_user_on(B, 's')
        room = self.room_on(A, otok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        s_ib = self.inbox(self.device(B, s, stok, subs=[(topic, 1)]))
        o_c = self.device(C, o, otok)
        self.sync([(o_c, topic, [s_ib])])
        deco = {'color': '#12ab34', 'badge': 'cluster'}
        got = self.napi(A, 'PUT', '/v1/users/%s/decoration' % o, deco, bearer=otok)
        t_answer = time.monotonic()
        self.assertEqual(got, {'user': o, 'deco': deco})
        sent = self.timed_stop(t_answer, o_c, topic, 'deco:%d', [s_ib])
        by_text = {v.get('text'): v for v in s_ib.chat(topic)}
        bad = [(round(t, 3), text, by_text.get(text, {}).get('deco', '<absent>'))
               for t, text in sent if t > CONTROL_EFFECT_S and
               (text not in by_text or by_text[text].get('deco') != deco)]
        self.assertEqual(bad, [], 'decoration set on %s; messages of %s published on %s more '
                         'than %.1f s later, seen on %s, without it (seconds, text, deco)'
                         % (A.name, o, C.name, CONTROL_EFFECT_S, B.name))

    # ---- 7. plain MQTT topics of redis.bridge_topics ----

    def test_bridge_topics(self):
        A, B, C = self.nodes
        pub = self.anon(A, name='sensor')
        pub5 = self.anon(A, v5=True, name='sensor5')
        temp_b = self.inbox(self.anon(B, subs=[('sensors/+/temp', 1)], name='temp'))
        all_c = self.inbox(self.anon(C, subs=[('sensors/#', 1)], name='all'))
        other_a = self.inbox(self.anon(A, subs=[('other/#', 1)], name='other-local'))
        other_b = self.inbox(self.anon(B, subs=[('other/#', 1)], name='other-remote'))
        v5_b = self.inbox(self.anon(B, subs=[('sensors/k2/pressure', 1)], v5=True, name='v5'))
        self.sync([(pub, 'sensors/probe/temp', [temp_b, all_c]),
                   (pub5, 'sensors/k2/pressure', [v5_b])])
        self.sync([(pub, 'other/probe', [other_a])])

        self.send(pub, 'sensors/k1/temp', '21.5', qos=1)
        self.send(pub, 'sensors/k1/humidity', '40', qos=1)
        self.send(pub, 'other/x', 'stays on A', qos=1)
        self.send(pub5, 'sensors/k2/pressure', '1013', qos=1,
                  properties=[(P_USER_PROPERTY, ('unit', 'C')), (P_CONTENT_TYPE, 'text/plain')])
        temp_b.wait(lambda ib: ib.has_text('21.5'), WAIT, '(sensors/k1/temp published on A)')
        all_c.wait(lambda ib: all(ib.has_text(t) for t in ('21.5', '40', '1013')), WAIT)
        other_a.wait(lambda ib: ib.has_text('stays on A'), WAIT)
        v5_b.wait(lambda ib: ib.has_text('1013'), WAIT)
        self.pump_all(QUIET)

        def real(ib):
            return [(p.topic, p.payload, p.qos) for _, p, _, t in ib.got
                    if not t.startswith('probe:')]
        self.assertEqual(real(temp_b), [('sensors/k1/temp', b'21.5', 1)],
                         '%s on %s: exactly one copy, nothing else' % (temp_b.name, B.name))
        self.assertEqual(sorted(real(all_c)), [('sensors/k1/humidity', b'40', 1),
                                               ('sensors/k1/temp', b'21.5', 1),
                                               ('sensors/k2/pressure', b'1013', 1)],
                         '%s on %s: sensors/# gets each once' % (all_c.name, C.name))
        self.assertEqual(real(other_a), [('other/x', b'stays on A', 1)])
        self.assertEqual(real(other_b), [], 'other/x is not in redis.bridge_topics: it must '
                         'stay on its node')
        self.assertEqual(real(v5_b), [('sensors/k2/pressure', b'1013', 1)])
        p5 = [p for _, p, _, t in v5_b.got if t == '1013'][0]
        self.assertEqual(p5.props.all(P_USER_PROPERTY), [('unit', 'C')],
                         'user properties cross with the message: %r' % p5)
        self.assertEqual(p5.props.get(P_CONTENT_TYPE), 'text/plain', repr(p5))

        # A retained message that crosses is stored on the receiving node.
        self.send(pub, 'sensors/r1/temp', 'kept', qos=1, retain=True)
        temp_b.wait(lambda ib: ib.has_text('kept'), WAIT)
        live = [p for _, p, _, t in temp_b.got if t == 'kept'][0]
        self.assertFalse(live.retain, 'live delivery has RETAIN 0: %r' % live)
        late = self.inbox(self.anon(B, name='late'))
        late.c.do_subscribe([('sensors/r1/temp', 1)])
        late.wait(lambda ib: ib.has_text('kept'), WAIT,
                  '(the retained message, stored on %s)' % B.name)
        self.assertTrue(late.got[0][1].retain, repr(late.got[0][1]))
        self.send(pub, 'sensors/r1/temp', '', qos=1, retain=True)   # clear it

    # ---- 9. message ids ----

    def test_message_ids_carry_node(self):
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        sub = self.inbox(self.device(A, owner, owtok, subs=[(topic, 1)]))
        pubs = []
        for n in self.nodes:
            u, t = self.new_user_on(n, 'p')
            pubs.append((n, u, self.device(n, u, t)))
        self.sync([(c, topic, [sub]) for _, _, c in pubs])
        # The same instant on three nodes: ids differ by the node id.
        self.burst([(c, topic, 'id:%s:%d' % (u, k)) for k in range(5) for _, u, c in pubs])
        want = ['id:%s:%d' % (u, k) for k in range(5) for _, u, _ in pubs]
        sub.wait(lambda ib: all(ib.has_text(t) for t in want), WAIT)
        ids = {}
        for v in sub.chat(topic):
            n = [n for n, u, _ in pubs if u == v.get('from')][0]
            i = int(v['id'])
            self.assertEqual(msgid_node(i), n.node_id, 'id %d of a message accepted on %s: '
                             'node bits %d' % (i, n.name, msgid_node(i)))
            self.assertLess(abs(msgid_ms(i) - v['ts']), 2000,
                            'id %d: time bits %d, ts %d' % (i, msgid_ms(i), v['ts']))
            self.assertNotIn(i, ids, 'id %d twice: %r and %r' % (i, ids.get(i), v))
            ids[i] = v
        self.assertEqual(len(ids), 15)
        # A notification made through B's API: an id of node 2.
        got = self.napi(B, 'POST', '/v1/notifications', {'target': 'room', 'room': room,
                                                          'text': 'from B'}, status=201)
        self.assertEqual(msgid_node(got['id']), B.node_id, repr(got))

    # ---- extra: what a node subscribes to in Redis ----

    def test_channels_follow_local_subscriptions(self):
        """doc/cluster.md, "When a node subscribes to a channel": one
        subscribing connection per node while it has a local subscription
        mapping to the channel (PUBSUB NUMSUB counts the nodes)."""
        A, B, C = self.nodes
        url = self.redis_url
        owner, owtok = self.new_user_on(A, 'own')
        u, utok = self.new_user_on(A, 'u')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        ch = self.channel('r', room)

        def expect_numsub(channel, n, what):
            ok = poll(lambda: numsub(url, channel) == n, WAIT)
            self.assertTrue(ok, 'PUBSUB NUMSUB %s: %d, expected %d %s'
                            % (channel, numsub(url, channel), n, what))

        def stays(channel, n, what):
            time.sleep(0.3)
            self.assertEqual(numsub(url, channel), n, 'PUBSUB NUMSUB %s %s' % (channel, what))

        self.assertEqual(numsub(url, ch), 0, 'no subscriber yet')
        base = self.wait_stable_metric(A, 'mqchat_redis_channels')
        s1 = self.device(A, owner, owtok, subs=[(topic, 1)], name='s1')
        expect_numsub(ch, 1, '(first local subscriber on %s)' % A.name)
        self.wait_metric(A, 'mqchat_redis_channels', lambda v: v == base + 1,
                         msg='(from %d, one room channel more)' % base)
        s2 = self.device(A, u, utok, subs=[(topic + '/#', 1)], name='s2')
        stays(ch, 1, '(a second local subscriber on %s: no second subscription)' % A.name)
        s3 = self.device(B, u, utok, subs=[(topic, 1)], name='s3')
        expect_numsub(ch, 2, '(a subscriber on %s too)' % B.name)
        s1.do_unsubscribe([topic])
        stays(ch, 2, '(%s still has s2)' % A.name)
        s2.disconnect()
        expect_numsub(ch, 1, '(%s has no subscriber left)' % A.name)
        self.wait_metric(A, 'mqchat_redis_channels', lambda v: v == base,
                         msg='(back to %d)' % base)
        s3.do_unsubscribe([topic])
        expect_numsub(ch, 0, '(nobody left)')

        # A user's channel: dm and events map to it; a persistent session
        # keeps it while offline.
        x, xtok = self.new_user_on(C, 'x')
        uch = self.channel('u', x)
        d1 = self.device(C, x, xtok, subs=[(self.dm_topic(x), 1)], name='dm')
        expect_numsub(uch, 1, '(chat/dm/%s on %s)' % (x, C.name))
        d2 = self.device(C, x, xtok, subs=[('%s/user/%s/events' % (PREFIX, x), 0)],
                         name='events')
        stays(uch, 1, '(events of the same user on the same node)')
        d1.disconnect()
        d2.disconnect()
        expect_numsub(uch, 0, '(both gone)')
        per = self.device(B, x, xtok, subs=[(self.dm_topic(x), 1)], clean=False, name='per',
                          client_id=self.uid('per'))
        expect_numsub(uch, 1, '(a persistent session on %s)' % B.name)
        per.disconnect()
        stays(uch, 1, '(the persistent session is offline, its subscription stays)')

        # The system channel and a bridge filter's channel.
        sch = '%s:sys' % self.prefix
        sys_c = self.device(B, x, xtok, subs=[('%s/system' % PREFIX, 0)], name='system')
        expect_numsub(sch, 1, '(chat/system on %s)' % B.name)
        tch = self.channel('t', 'sensors/#')
        plain = self.anon(C, subs=[('sensors/+/temp', 0)], name='plain')
        expect_numsub(tch, 1, '(sensors/+/temp on %s overlaps sensors/#)' % C.name)
        sys_c.disconnect()
        plain.disconnect()
        expect_numsub(sch, 0, '(chat/system unsubscribed)')
        expect_numsub(tch, 0, '(sensors/+/temp unsubscribed)')

    def wait_stable_metric(self, node, name, quiet=0.3, timeout=WAIT):
        """A metric's value once it has not moved for quiet seconds."""
        deadline = time.monotonic() + timeout
        last = self.metric(node, name)
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            v = self.metric(node, name)
            if v != last:
                last, since = v, time.monotonic()
            elif time.monotonic() - since >= quiet:
                self.assertIsNotNone(v, '%s: no metric %s' % (node.name, name))
                return v
        self.fail('%s: %s never settled (last %r)' % (node.name, name, last))

    # ---- extra: history of another node's messages ----

    def test_history_across_nodes(self):
        """doc/cluster.md, "Recent history": a message accepted on A is in
        C's history as soon as C has delivered it."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        v, vtok = self.new_user_on(C, 'v')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        ib = self.inbox(self.device(C, v, vtok, subs=[(topic, 1)]))
        pub = self.device(A, owner, owtok)
        self.sync([(pub, topic, [ib])])
        texts = ['h:%s:%d' % (owner, k) for k in range(5)]
        self.burst([(pub, topic, t) for t in texts])
        ib.wait(lambda ib: all(ib.has_text(t) for t in texts), WAIT)
        got = self.napi(C, 'GET', '/v1/rooms/%s/messages?limit=50' % room, bearer=vtok)
        hist = [m for m in got.get('messages', []) if m.get('text') in texts]
        live = [v for v in ib.chat(topic) if v.get('text') in texts]
        self.assertEqual([(m['id'], m['text']) for m in hist],
                         [(m['id'], m['text']) for m in live],
                         'history on %s right after delivery of messages accepted on %s'
                         % (C.name, A.name))

    # ---- extra: unread counts across nodes ----

    def last_unread(self, ib):
        """The last unread summary ib got (retained or live), or None."""
        for _, p, v, _ in reversed(ib.got):
            if v is not None and v.get('type') == 'unread':
                return v
        return None

    def test_unread_across_nodes(self):
        """doc/cluster.md, "Unread counts and support totals": messages
        posted on A count as unread for a member connected to C only (no
        subscriber of the room on C), and a read marker set through B's
        HTTP API clears them on C."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        m, mtok = self.new_user_on(C, 'm')
        room = self.room_on(A, owtok)
        self.known_everywhere(room)
        self.napi(B, 'POST', '/v1/rooms/%s/join' % room, bearer=mtok)
        ev = self.inbox(self.device(C, m, mtok, subs=[(self.events_topic(m), 1)]))
        pub = self.device(A, owner, owtok)
        topic = self.room_topic(room)
        for k in range(3):
            self.send(pub, topic, 'u:%s:%d' % (owner, k))

        def count(ib):
            v = self.last_unread(ib)
            return v is not None and v.get('rooms', {}).get(room) == 3
        ev.wait(count, WAIT, 'for 3 unread in %s on %s' % (room, C.name))
        self.assertEqual(self.napi(C, 'GET', '/v1/users/%s/unread' % m, bearer=mtok)
                         .get('rooms', {}).get(room), 3, 'GET unread on C')
        def history():
            return self.napi(B, 'GET', '/v1/rooms/%s/messages?limit=10' % room,
                             bearer=mtok).get('messages', [])
        self.assertTrue(poll(lambda: len(history()) == 3, WAIT),
                        'history on %s: %r' % (B.name, history()))
        last = history()[-1]['id']
        self.napi(B, 'POST', '/v1/rooms/%s/read' % room, {'upto': last}, bearer=mtok)

        def cleared(ib):
            v = self.last_unread(ib)
            return v is not None and room not in v.get('rooms', {})
        ev.wait(cleared, WAIT, 'for the marker set on %s to clear %s on %s'
                % (B.name, room, C.name))

    # ---- extra: room viewers across nodes ----

    def test_room_viewers_across_nodes(self):
        """doc/cluster.md, "Shared state": a room's online count is the sum
        of every node's viewers, in chat/room/{room}/presence and in GET
        /v1/rooms/{room}."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        watch = self.inbox(self.device(C, owner, owtok,
                                       subs=[(topic + '/presence', 0)], name='watch'))
        viewers = []
        for node in (A, B, B):
            u, tok = self.new_user_on(node, 'v')
            viewers.append(self.device(node, u, tok, subs=[(topic, 1)]))

        def online(ib, n):
            for _, p, v, _ in reversed(ib.got):
                if v is not None and p.topic == topic + '/presence':
                    return v.get('online') == n
            return False
        watch.wait(lambda ib: online(ib, 3), WAIT, 'for 3 viewers (1 on A, 2 on B) seen on C')
        got = self.napi(C, 'GET', '/v1/rooms/%s' % room)
        self.assertEqual(got.get('online'), 3, 'GET /v1/rooms/%s on C: %r' % (room, got))
        viewers[1].close()
        watch.wait(lambda ib: online(ib, 2), WAIT, 'for a viewer on B gone, seen on C')

    # ---- extra: a room made on first use on two nodes at once ----

    def test_room_made_on_two_nodes_at_once(self):
        """Two users subscribe to the same new room on A and B at the same
        moment (chat.auto_create_rooms): both nodes may make it, each with
        its user as owner; they settle on the one made first, so every node
        names the same owner and the other maker is a member."""
        A, B, C = self.nodes
        ua, ta = self.new_user_on(A, 'fa')
        ub, tb = self.new_user_on(B, 'fb')
        ca, cb = self.device(A, ua, ta), self.device(B, ub, tb)
        room = self.uid('r')
        topic = self.room_topic(room)
        ca.send(broker.subscribe(7, [(topic, 1)]))
        cb.send(broker.subscribe(7, [(topic, 1)]))
        ca.expect(broker.suback(7, [1]))
        cb.expect(broker.suback(7, [1]))
        self.known_everywhere(room)

        def owners():
            return [self.napi(n, 'GET', '/v1/rooms/%s' % room).get('owner') for n in self.nodes]
        ok = poll(lambda: len(set(owners())) == 1, WAIT)
        self.assertTrue(ok, 'owners of %s per node: %s' % (room, owners()))
        owner = owners()[0]
        self.assertIn(owner, (ua, ub))
        other, otok = (ub, tb) if owner == ua else (ua, ta)
        for n in self.nodes:
            # Naming a moderator is the owner's: the other maker is refused.
            self.napi(n, 'PUT', '/v1/rooms/%s/members/%s' % (room, owner), {'role': 'member'},
                      bearer=otok, status=403)

    # ---- extra: the recent-history cache in Redis ----

    def test_history_cache_in_redis(self):
        """doc/cluster.md, "Recent history": room messages are appended to
        {prefix}:h:{room} in Redis, envelopes as delivered, in order."""
        A, B, C = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        v, vtok = self.new_user_on(B, 'v')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        self.known_everywhere(room)
        ib = self.inbox(self.device(B, v, vtok, subs=[(topic, 1)]))
        pub = self.device(A, owner, owtok)
        self.sync([(pub, topic, [ib])])
        texts = ['c:%s:%d' % (owner, k) for k in range(4)]
        self.burst([(pub, topic, t) for t in texts])
        ib.wait(lambda ib: all(ib.has_text(t) for t in texts), WAIT)
        key = self.channel('h', room)
        out = redis_cli(self.redis_url, 'LRANGE', key, '0', '-1')
        cached = [json.loads(line) for line in out if line.startswith("{")]
        got = [(e['id'], e['text']) for e in cached if e.get('text') in texts]
        live = [(e['id'], e['text']) for e in ib.chat(topic) if e.get('text') in texts]
        self.assertEqual(got, live, 'the cache %s holds the room messages in order' % key)

    # ---- extra: the cluster metrics ----

    def test_cluster_metrics(self):
        for n in self.nodes:
            self.wait_metric(n, 'mqchat_redis_up', lambda v: v == 1)
            self.wait_metric(n, 'mqchat_cluster_nodes', lambda v: v == len(self.nodes) - 1,
                             msg='(the other nodes, heard from)')
            self.wait_metric(n, 'mqchat_redis_channels', lambda v: v >= 1,
                             msg='(the control channel at least)')
            m = self.metrics(n)
            for name in ('mqchat_redis_forwarded_total', 'mqchat_redis_received_total',
                         'mqchat_redis_unforwarded_total', 'mqchat_redis_reconnects_total'):
                self.assertIn(name, m, '%s: /metrics has no %s' % (n.name, name))
