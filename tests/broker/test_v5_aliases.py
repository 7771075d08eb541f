"""MQTT 5 topic aliases (section 3.3.2.3.4).

Inbound: a PUBLISH with a topic and Topic Alias N sets the mapping, a later
PUBLISH with an empty topic and alias N goes to that topic, a new topic for N
replaces it; mappings are per connection. Alias 0 or above the broker's
Topic Alias Maximum (max_topic_alias, default 10) -> DISCONNECT 0x94; an
empty topic with an alias never set, or with no alias at all -> DISCONNECT
0x82; max_topic_alias 0 refuses every alias.

Outbound: with Topic Alias Maximum > 0 in its CONNECT, mqchatd assigns
aliases to the client: the first delivery on a topic has the topic name and
an alias, later ones an empty topic name and the same alias, until the
client's maximum is used up (then full topic names without an alias).

Mosquitto 2.0.11 differs:
  - it answers alias 0 with DISCONNECT 0x81 (malformed), not 0x94;
  - it never assigns outbound aliases (full topic names always, which the
    specification allows); the outbound tests check that instead.
"""

import unittest

from broker import (BrokerTest5, P_CONTENT_TYPE, P_TOPIC_ALIAS, P_TOPIC_ALIAS_MAXIMUM,
                    P_USER_PROPERTY, RC_MALFORMED, RC_PROTOCOL_ERROR, RC_TOPIC_ALIAS_INVALID,
                    publish5, pubrel5)


class InboundAliasTest(BrokerTest5):
    SHARED = True

    def test_alias_set_then_used(self):
        t = self.topic()
        s = self.subscriber5(t, 0)
        p = self.connected5()
        p.do_publish5(t, b'sets', properties=[(P_TOPIC_ALIAS, 1)])
        p.do_publish5('', b'uses', properties=[(P_TOPIC_ALIAS, 1)])
        p.do_publish5('', b'again', properties=[(P_TOPIC_ALIAS, 1), (P_USER_PROPERTY, ('u', '1'))])
        s.expect_publish5(t, b'sets')
        s.expect_publish5(t, b'uses', msg='(empty topic + alias 1 -> %s)' % t)
        s.expect_publish5(t, b'again', properties=[(P_USER_PROPERTY, ('u', '1'))])
        s.expect_nothing5()

    def test_alias_with_qos1_and_qos2(self):
        t = self.topic()
        s = self.subscriber5(t, 2)
        p = self.connected5()
        p.do_publish5(t, b'q1 set', 1, properties=[(P_TOPIC_ALIAS, 4)])
        p.do_publish5('', b'q1 use', 1, properties=[(P_TOPIC_ALIAS, 4)])
        p.do_publish5('', b'q2 use', 2, properties=[(P_TOPIC_ALIAS, 4)])
        s.receive5(t, b'q1 set', 1)
        s.receive5(t, b'q1 use', 1)
        s.receive5(t, b'q2 use', 2)

    def test_alias_remapped_by_new_topic(self):
        t1, t2 = self.topic('one'), self.topic('two')
        s = self.subscriber5(self.topic('+'), 0)
        p = self.connected5()
        p.do_publish5(t1, b'1', properties=[(P_TOPIC_ALIAS, 2)])
        p.do_publish5(t2, b'2', properties=[(P_TOPIC_ALIAS, 2)])
        p.do_publish5('', b'3', properties=[(P_TOPIC_ALIAS, 2)])
        s.expect_publish5(t1, b'1')
        s.expect_publish5(t2, b'2')
        s.expect_publish5(t2, b'3', msg='(alias 2 now maps to %s)' % t2)

    def test_several_aliases_and_topic_without_alias_keeps_mapping(self):
        ta, tb, tc = self.topic('a'), self.topic('b'), self.topic('c')
        s = self.subscriber5(self.topic('+'), 0)
        p = self.connected5()
        p.do_publish5(ta, b'a', properties=[(P_TOPIC_ALIAS, 1)])
        p.do_publish5(tb, b'b', properties=[(P_TOPIC_ALIAS, 10)])   # the maximum is allowed
        p.do_publish5(tc, b'c')                                     # no alias: mappings untouched
        p.do_publish5('', b'b2', properties=[(P_TOPIC_ALIAS, 10)])
        p.do_publish5('', b'a2', properties=[(P_TOPIC_ALIAS, 1)])
        for topic, payload in ((ta, b'a'), (tb, b'b'), (tc, b'c'), (tb, b'b2'), (ta, b'a2')):
            s.expect_publish5(topic, payload)

    def test_retained_through_alias(self):
        t = self.topic()
        p = self.connected5()
        p.do_publish5(t, b'', 0, retain=True, properties=[(P_TOPIC_ALIAS, 3)])
        p.do_publish5('', b'retained via alias', 0, retain=True, properties=[(P_TOPIC_ALIAS, 3)])
        s = self.subscriber5(t, 0)
        s.expect_publish5(t, b'retained via alias', retain=True)
        p.do_publish5('', b'', 0, retain=True, properties=[(P_TOPIC_ALIAS, 3)])

    def test_alias_over_maximum_disconnect_0x94(self):
        p = self.connected5()
        self.assertEqual(p.connack.props.get(P_TOPIC_ALIAS_MAXIMUM), 10, repr(p.connack))
        p.send(publish5(self.topic(), b'x', properties=[(P_TOPIC_ALIAS, 11)]))
        p.expect_disconnect(RC_TOPIC_ALIAS_INVALID)
        self.assert_serves()

    def test_alias_0_disconnect_0x94(self):
        # 3.3.4: "A Topic Alias value of 0 or greater than the Maximum Topic
        # Alias is a Protocol Error, the receiver uses DISCONNECT with Reason
        # Code of 0x94".
        p = self.connected5()
        p.send(publish5(self.topic(), b'x', properties=[(P_TOPIC_ALIAS, 0)]))
        p.expect_disconnect(RC_MALFORMED if self.mosquitto else RC_TOPIC_ALIAS_INVALID)

    def test_alias_over_maximum_with_qos1_not_delivered(self):
        t = self.topic()
        s = self.subscriber5(t, 1)
        p = self.connected5()
        p.send(publish5(t, b'x', 1, mid=1, properties=[(P_TOPIC_ALIAS, 65535)]))
        p.expect_disconnect(RC_TOPIC_ALIAS_INVALID)
        s.expect_nothing5(msg='(the refused PUBLISH is not delivered)')

    def test_unknown_alias_with_empty_topic_0x82(self):
        t = self.topic()
        s = self.subscriber5('#', 0)
        p = self.connected5()
        p.do_publish5(t, b'set 1', properties=[(P_TOPIC_ALIAS, 1)])
        s.expect_publish5(t, b'set 1')
        p.send(publish5('', b'x', properties=[(P_TOPIC_ALIAS, 2)]))
        p.expect_disconnect(RC_PROTOCOL_ERROR, msg='(alias 2 was never set)')
        s.expect_nothing5()

    def test_empty_topic_without_alias_0x82(self):
        p = self.connected5()
        p.send(publish5('', b'x', properties=[(P_CONTENT_TYPE, 'c')]))
        p.expect_disconnect(RC_PROTOCOL_ERROR)

    def test_alias_twice_in_one_publish_0x82(self):
        p = self.connected5()
        p.send(publish5(self.topic(), b'x', properties=[(P_TOPIC_ALIAS, 1), (P_TOPIC_ALIAS, 1)]))
        p.expect_disconnect(RC_PROTOCOL_ERROR, close_ok=self.mosquitto)

    def test_aliases_are_per_connection(self):
        t = self.topic()
        a = self.connected5(name='a')
        a.do_publish5(t, b'a sets 5', properties=[(P_TOPIC_ALIAS, 5)])
        b = self.connected5(name='b')
        b.send(publish5('', b'b uses 5', properties=[(P_TOPIC_ALIAS, 5)]))
        b.expect_disconnect(RC_PROTOCOL_ERROR, msg="(another connection's alias)")
        a.ping5()

    def test_aliases_forgotten_on_reconnect(self):
        t = self.topic()
        cid = self.uid()
        c = self.connected5(cid)
        c.do_publish5(t, b'set', properties=[(P_TOPIC_ALIAS, 1)])
        c.disconnect5()
        c = self.connected5(cid)
        c.send(publish5('', b'stale', properties=[(P_TOPIC_ALIAS, 1)]))
        c.expect_disconnect(RC_PROTOCOL_ERROR, msg='(aliases do not outlive the connection)')

    def test_alias_flow_survives_qos2_exchange(self):
        # The alias is resolved when the PUBLISH arrives; PUBREL does not
        # need it.
        t = self.topic()
        s = self.subscriber5(t, 2)
        p = self.connected5()
        p.send(publish5(t, b'set', 2, mid=9, properties=[(P_TOPIC_ALIAS, 6)]))
        p.expect_ack5(5, 9)
        p.send(publish5('', b'use', 2, mid=10, properties=[(P_TOPIC_ALIAS, 6)]))
        p.expect_ack5(5, 10)
        p.send(pubrel5(9) + pubrel5(10))
        p.expect_ack5(7, 9)
        p.expect_ack5(7, 10)
        s.receive5(t, b'set', 2)
        s.receive5(t, b'use', 2)


class NoAliasesTest(BrokerTest5):
    SHARED = True
    CONFIG = {'max_topic_alias': 0}

    def test_max_topic_alias_0_refuses_aliases(self):
        p = self.connected5()
        # Absent means 0 (3.2.2.3.8).
        self.assertEqual(p.connack.props.get(P_TOPIC_ALIAS_MAXIMUM, 0), 0, repr(p.connack))
        p.send(publish5(self.topic(), b'x', properties=[(P_TOPIC_ALIAS, 1)]))
        p.expect_disconnect(RC_TOPIC_ALIAS_INVALID)

    def test_publish_without_alias_still_fine(self):
        t = self.topic()
        s = self.subscriber5(t, 0)
        self.connected5().do_publish5(t, b'plain')
        s.expect_publish5(t, b'plain')


class OutboundAliasTest(BrokerTest5):
    SHARED = True

    def deliveries(self, s, n):
        return [s.next_publish5(msg='(delivery %d of %d)' % (i + 1, n)) for i in range(n)]

    def test_outbound_aliases_assigned_until_maximum(self):
        base = self.topic()
        s = self.subscriber5(base + '/#', 0, properties=[(P_TOPIC_ALIAS_MAXIMUM, 2)])
        p = self.connected5()
        seq = ['a', 'a', 'b', 'c', 'c', 'a', 'b', 'a']
        for i, name in enumerate(seq):
            p.do_publish5(base + '/' + name, b'%d' % i)
        got = self.deliveries(s, len(seq))
        s.expect_nothing5()
        for i, m in enumerate(got):
            self.assertEqual(m.payload, b'%d' % i, repr(m))
            self.assertEqual(m.props.without(P_TOPIC_ALIAS), [], repr(m))
        if self.mosquitto:   # no outbound aliases, see the module comment
            for name, m in zip(seq, got):
                self.assertEqual((m.topic, P_TOPIC_ALIAS in m.props), (base + '/' + name, False), repr(m))
            return
        alias_of = {}
        for name, m in zip(seq, got):
            full = base + '/' + name
            alias = m.props.get(P_TOPIC_ALIAS)
            if name not in alias_of:
                if len(alias_of) < 2:
                    # First delivery: the topic name and a new alias.
                    self.assertEqual(m.topic, full, repr(m))
                    self.assertIsNotNone(alias, '(first delivery on %s: an alias) %r' % (name, m))
                    self.assertTrue(1 <= alias <= 2, '(alias within the client maximum 2) %r' % m)
                    self.assertNotIn(alias, alias_of.values(), repr(m))
                    alias_of[name] = alias
                else:
                    # The client's two aliases are in use: full name, no alias.
                    self.assertEqual((m.topic, alias), (full, None), repr(m))
                    alias_of[name] = None
            elif alias_of[name] is None:
                self.assertEqual((m.topic, alias), (full, None), repr(m))
            else:
                self.assertEqual((m.topic, alias), ('', alias_of[name]),
                                 '(later delivery on %s: empty topic, same alias) %r' % (name, m))

    def test_outbound_alias_exact_bytes(self):
        t = self.topic()
        s = self.subscriber5(t, 1, properties=[(P_TOPIC_ALIAS_MAXIMUM, 1)])
        p = self.connected5()
        p.do_publish5(t, b'one', 1, properties=[(P_USER_PROPERTY, ('k', 'v'))])
        p.do_publish5(t, b'two', 1, properties=[(P_USER_PROPERTY, ('k', 'v'))])
        m1 = s.next_publish5()
        m2 = s.next_publish5()
        s.ack(m1)
        s.ack(m2)
        if self.mosquitto:
            up = [(P_USER_PROPERTY, ('k', 'v'))]
            self.assertEqual(m1.raw, publish5(t, b'one', 1, mid=m1.mid, properties=up))
            self.assertEqual(m2.raw, publish5(t, b'two', 1, mid=m2.mid, properties=up))
            return
        self.assertEqual(m1.topic, t, repr(m1))
        self.assertEqual(m1.props.all(P_TOPIC_ALIAS), [1], repr(m1))
        self.assertEqual(m1.props.without(P_TOPIC_ALIAS), [(P_USER_PROPERTY, ('k', 'v'))], repr(m1))
        self.assertEqual(m2.topic, '', repr(m2))
        self.assertEqual(m2.props.all(P_TOPIC_ALIAS), [1], repr(m2))
        self.assertEqual(m2.props.without(P_TOPIC_ALIAS), [(P_USER_PROPERTY, ('k', 'v'))], repr(m2))
        self.assertEqual((m2.payload, m2.qos), (b'two', 1))

    def test_no_outbound_alias_without_client_maximum(self):
        t = self.topic()
        s = self.subscriber5(t, 0)   # no Topic Alias Maximum: 0
        p = self.connected5()
        for i in range(3):
            p.do_publish5(t, b'%d' % i)
        for i in range(3):
            s.expect_publish5(t, b'%d' % i, msg='(full topic, no alias)')

    def test_outbound_aliases_are_per_connection(self):
        t = self.topic()
        p = self.connected5()
        subs = [self.subscriber5(t, 0, properties=[(P_TOPIC_ALIAS_MAXIMUM, 5)]) for _ in range(2)]
        p.do_publish5(t, b'first')
        for s in subs:
            m = s.next_publish5()
            self.assertEqual(m.topic, t, '(each connection learns the alias itself) %r' % m)
        late = self.subscriber5(t, 0, properties=[(P_TOPIC_ALIAS_MAXIMUM, 5)])
        p.do_publish5(t, b'second')
        m = late.next_publish5()
        self.assertEqual(m.topic, t, '(first delivery to a new connection names the topic) %r' % m)
        for s in subs:
            m = s.next_publish5()
            self.assertEqual(m.payload, b'second')
            if not self.mosquitto:
                self.assertEqual(m.topic, '', '(alias already set on this connection) %r' % m)
                self.assertIn(P_TOPIC_ALIAS, m.props, repr(m))


if __name__ == '__main__':
    unittest.main()
