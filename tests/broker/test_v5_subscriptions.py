"""MQTT 5 SUBSCRIBE/UNSUBSCRIBE: Subscription Identifiers (carried on
deliveries, several on one delivery for overlapping subscriptions, replaced
by a resubscribe, 0 is a Protocol Error), the subscription options No
Local, Retain As Published and Retain Handling 0/1/2, the v5 SUBACK and
UNSUBACK reason codes (granted QoS, 0x11 No subscription existed), and
malformed or forbidden subscription options. MQTT 5.0 sections 3.8-3.11.

Mosquitto 2.0.11 differs:
  - overlapping subscriptions of one client give one delivery per
    subscription, each with its own identifier; mqchatd sends one delivery
    carrying all the identifiers (both are allowed, [MQTT-3.3.4-3..5]);
  - Subscription Identifier 0, Retain Handling 3 and a SUBSCRIBE without
    a topic filter get DISCONNECT 0x81 (malformed); the specification calls
    them Protocol Errors (0x82), and the tests assert that for mqchatd.
"""

import struct
import unittest

from broker import (PUBACK_NOBODY, BrokerTest5, P_SESSION_EXPIRY, P_SUBSCRIPTION_ID, P_USER_PROPERTY,
                    RC_MALFORMED, RC_NO_SUBSCRIPTION_EXISTED, RC_PROTOCOL_ERROR, packet, props,
                    publish5, sub_opts, subscribe5, string)

MAX_SUB_ID = 268435455


class SubscriptionIdTest(BrokerTest5):
    SHARED = True

    def test_subscription_identifier_on_delivery(self):
        t = self.topic()
        s = self.connected5()
        s.do_subscribe5([(t, 1)], properties=[(P_SUBSCRIPTION_ID, 7)])
        p = self.connected5()
        p.do_publish5(t, b'seven', 1, properties=[(P_USER_PROPERTY, ('k', 'v'))])
        m = s.expect_publish5(t, b'seven', 1, properties=[(P_USER_PROPERTY, ('k', 'v'))], sub_ids=[7])
        s.ack(m)
        p.do_publish5(t, b'again', 0)
        # Exact bytes for the simplest case: the identifier is the only property.
        s.expect(publish5(t, b'again', properties=[(P_SUBSCRIPTION_ID, 7)]))

    def test_overlapping_subscriptions_identifiers(self):
        t = self.topic('a')
        s = self.connected5()
        s.do_subscribe5([(t, 1)], properties=[(P_SUBSCRIPTION_ID, 7)])
        s.do_subscribe5([(self.topic('+'), 1)], properties=[(P_SUBSCRIPTION_ID, 9)])
        p = self.connected5()
        p.do_publish5(t, b'both', 1)
        if self.mosquitto:   # one copy per subscription, see the module comment
            got = [s.next_publish5(), s.next_publish5()]
            for m in got:
                s.ack(m)
            self.assertEqual(sorted(m.props.get(P_SUBSCRIPTION_ID) for m in got), [7, 9])
        else:
            m = s.expect_publish5(t, b'both', 1, sub_ids=[7, 9],
                                  msg='(one delivery carrying both identifiers)')
            s.ack(m)
        s.expect_nothing5()
        p.do_publish5(self.topic('b'), b'nine only', 1)
        s.receive5(self.topic('b'), b'nine only', 1, sub_ids=[9])

    def test_subscription_with_and_without_identifier_overlap(self):
        t = self.topic('x')
        s = self.connected5()
        s.do_subscribe5([(t, 0)])
        s.do_subscribe5([(self.topic('#'), 0)], properties=[(P_SUBSCRIPTION_ID, 3)])
        self.connected5().do_publish5(t, b'm')
        if self.mosquitto:
            got = sorted(s.next_publish5().props.all(P_SUBSCRIPTION_ID) for _ in range(2))
            self.assertEqual(got, [[], [3]])
        else:
            s.expect_publish5(t, b'm', sub_ids=[3])
        s.expect_nothing5()

    def test_identifier_shared_by_filters_of_one_subscribe(self):
        t1, t2 = self.topic('1'), self.topic('2')
        s = self.connected5()
        s.do_subscribe5([(t1, 0), (t2, 1)], properties=[(P_SUBSCRIPTION_ID, 300)])
        p = self.connected5()
        p.do_publish5(t1, b'one')
        p.do_publish5(t2, b'two', 1)
        s.expect_publish5(t1, b'one', sub_ids=[300])
        s.receive5(t2, b'two', 1, sub_ids=[300])

    def test_resubscribe_replaces_identifier(self):
        t = self.topic()
        s = self.connected5()
        s.do_subscribe5([(t, 0)], properties=[(P_SUBSCRIPTION_ID, 5)])
        s.do_subscribe5([(t, 0)], properties=[(P_SUBSCRIPTION_ID, 6)])
        p = self.connected5()
        p.do_publish5(t, b'six')
        s.expect_publish5(t, b'six', sub_ids=[6])
        s.do_subscribe5([(t, 0)])
        p.do_publish5(t, b'none')
        s.expect_publish5(t, b'none', sub_ids=[], msg='(resubscribed without an identifier)')
        s.expect_nothing5()

    def test_largest_identifier(self):
        t = self.topic()
        s = self.connected5()
        s.do_subscribe5([(t, 0)], properties=[(P_SUBSCRIPTION_ID, MAX_SUB_ID)])
        self.connected5().do_publish5(t, b'big')
        s.expect(publish5(t, b'big', properties=[(P_SUBSCRIPTION_ID, MAX_SUB_ID)]),
                 msg='(4-byte variable byte integer)')

    def test_identifier_on_retained_delivery(self):
        t = self.topic()
        p = self.connected5()
        p.do_publish5(t, b'ret', 0, retain=True)
        s = self.connected5()
        s.do_subscribe5([(t, 0)], properties=[(P_SUBSCRIPTION_ID, 11)])
        s.expect_publish5(t, b'ret', retain=True, sub_ids=[11])
        p.do_publish5(t, b'', 0, retain=True)

    def test_identifier_0_is_protocol_error(self):
        s = self.connected5()
        s.send(subscribe5(1, [(self.topic(), 0)], properties=[(P_SUBSCRIPTION_ID, 0)]))
        s.expect_disconnect(RC_MALFORMED if self.mosquitto else RC_PROTOCOL_ERROR)
        self.assert_serves()

    def test_two_identifiers_in_subscribe_is_protocol_error(self):
        s = self.connected5()
        s.send(subscribe5(1, [(self.topic(), 0)], properties=[(P_SUBSCRIPTION_ID, 1),
                                                               (P_SUBSCRIPTION_ID, 2)]))
        s.expect_disconnect(RC_PROTOCOL_ERROR, close_ok=self.mosquitto)


class OptionsTest(BrokerTest5):
    SHARED = True

    def test_no_local(self):
        t = self.topic()
        c = self.connected5()
        c.do_subscribe5([(t, sub_opts(1, no_local=True))])
        other = self.subscriber5(t, 1)
        c.do_publish5(t, b'own', 1)
        other.receive5(t, b'own', 1)
        c.expect_nothing5(msg='(No Local: own publish not echoed)')
        self.connected5().do_publish5(t, b'from another', 1)
        c.receive5(t, b'from another', 1)
        other.receive5(t, b'from another', 1)

    def test_no_local_is_by_client_id_across_connections(self):
        # [MQTT-3.8.3-3]: not forwarded to a connection with the same client
        # id as the publishing connection; a later connection of that id is
        # that client.
        t = self.topic()
        cid = self.uid()
        c = self.connected5(cid, properties=[(P_SESSION_EXPIRY, 60)])
        c.do_subscribe5([(t, sub_opts(1, no_local=True))])
        c.disconnect5()
        c = self.connected5(cid, clean=False, session_present=True, properties=[(P_SESSION_EXPIRY, 60)])
        c.do_publish5(t, b'own again', 1)
        c.expect_nothing5()
        c.disconnect5(properties=[(P_SESSION_EXPIRY, 0)])

    def test_without_no_local_own_publish_echoed(self):
        t = self.topic()
        c = self.connected5()
        c.do_subscribe5([(t, sub_opts(0))])
        c.do_publish5(t, b'echo')
        c.expect_publish5(t, b'echo')

    def test_retain_as_published(self):
        t_rap, t_plain = self.topic('rap'), self.topic('plain')
        s = self.connected5()
        s.do_subscribe5([(t_rap, sub_opts(0, retain_as_published=True)), (t_plain, sub_opts(0))])
        p = self.connected5()
        p.do_publish5(t_rap, b'r', 0, retain=True)
        p.do_publish5(t_plain, b'r', 0, retain=True)
        p.do_publish5(t_rap, b'not retained', 0)
        s.expect_publish5(t_rap, b'r', retain=True, msg='(Retain As Published: RETAIN kept live)')
        s.expect_publish5(t_plain, b'r', retain=False, msg='(without it: RETAIN 0 live)')
        s.expect_publish5(t_rap, b'not retained', retain=False)
        for t in (t_rap, t_plain):
            p.do_publish5(t, b'', 0, retain=True)
            p.ping5()
        s.expect_publish5(t_rap, b'', retain=True)
        s.expect_publish5(t_plain, b'', retain=False)

    def test_retained_on_subscribe_always_has_retain_1(self):
        # Retained messages sent because of a subscribe have RETAIN 1 with or
        # without Retain As Published (3.3.1.3).
        t = self.topic()
        p = self.connected5()
        p.do_publish5(t, b'stored', 0, retain=True)
        for rap in (False, True):
            s = self.connected5()
            s.do_subscribe5([(t, sub_opts(0, retain_as_published=rap))])
            s.expect_publish5(t, b'stored', retain=True, msg='(rap=%s)' % rap)
        p.do_publish5(t, b'', 0, retain=True)

    def retained_topic(self):
        t = self.topic()
        p = self.connected5()
        p.do_publish5(t, b'stored', 1, retain=True, reason=PUBACK_NOBODY)
        return t

    def test_retain_handling_0_sends_on_every_subscribe(self):
        t = self.retained_topic()
        s = self.connected5()
        for i in range(3):
            s.do_subscribe5([(t, sub_opts(1, retain_handling=0))])
            s.receive5(t, b'stored', 1, retain=True, msg='(subscribe %d)' % (i + 1))
        s.expect_nothing5()

    def test_retain_handling_1_only_for_new_subscription(self):
        t = self.retained_topic()
        s = self.connected5()
        s.do_subscribe5([(t, sub_opts(1, retain_handling=1))])
        s.receive5(t, b'stored', 1, retain=True, msg='(new subscription)')
        s.do_subscribe5([(t, sub_opts(1, retain_handling=1))])
        s.expect_nothing5(msg='(Retain Handling 1: the subscription existed)')
        s.do_unsubscribe5([t])
        s.do_subscribe5([(t, sub_opts(1, retain_handling=1))])
        s.receive5(t, b'stored', 1, retain=True, msg='(new again after UNSUBSCRIBE)')

    def test_retain_handling_2_never(self):
        t = self.retained_topic()
        s = self.connected5()
        s.do_subscribe5([(t, sub_opts(1, retain_handling=2))])
        s.expect_nothing5(msg='(Retain Handling 2)')
        # Live messages still flow.
        self.connected5().do_publish5(t, b'live', 1)
        s.receive5(t, b'live', 1)

    def test_retain_handling_per_filter_in_one_subscribe(self):
        base = self.topic()
        p = self.connected5()
        for n in ('0', '1', '2'):
            p.do_publish5(base + '/' + n, b'r' + n.encode(), 0, retain=True)
        s = self.connected5()
        s.do_subscribe5([(base + '/' + n, sub_opts(0, retain_handling=int(n))) for n in '012'])
        s.expect_publish5(base + '/0', b'r0', retain=True)
        s.expect_publish5(base + '/1', b'r1', retain=True)
        s.expect_nothing5(msg='(Retain Handling 2 for %s/2)' % base)
        for n in '012':
            p.do_publish5(base + '/' + n, b'', 0, retain=True)

    def test_granted_qos_in_suback(self):
        t = self.topic()
        s = self.connected5()
        m = s.mid()
        s.send(subscribe5(m, [(t + '/0', sub_opts(0)), (t + '/1', sub_opts(1, no_local=True)),
                              (t + '/2', sub_opts(2, retain_as_published=True, retain_handling=2))]))
        s.expect(b'\x90\x06' + struct.pack('!H', m) + b'\x00\x00\x01\x02',
                 msg='(SUBACK: empty properties, codes 0 1 2)')

    def test_subscribe_user_properties_accepted(self):
        t = self.topic()
        s = self.connected5()
        s.do_subscribe5([(t, 0)], properties=[(P_USER_PROPERTY, ('a', 'b'))])
        self.connected5().do_publish5(t, b'x')
        s.expect_publish5(t, b'x')

    def test_unsuback_reason_codes(self):
        t = self.topic()
        s = self.connected5()
        s.do_subscribe5([(t + '/a', 0), (t + '/+', 1)])
        m = s.mid()
        s.send(packet(0xA2, struct.pack('!H', m) + props([(P_USER_PROPERTY, ('u', 'p'))])
                      + string(t + '/a') + string(t + '/never') + string(t + '/+')))
        s.expect(b'\xb0\x06' + struct.pack('!H', m) + b'\x00\x00\x11\x00',
                 msg='(UNSUBACK: 0x00, 0x11 No subscription existed, 0x00)')
        s.do_unsubscribe5([t + '/a'], codes=[RC_NO_SUBSCRIPTION_EXISTED])
        self.connected5().do_publish5(t + '/a', b'gone')
        s.expect_nothing5(msg='(unsubscribed)')

    def test_retain_handling_3_is_protocol_error(self):
        s = self.connected5()
        s.send(subscribe5(1, [(self.topic(), 0x30)]))
        s.expect_disconnect(RC_MALFORMED if self.mosquitto else RC_PROTOCOL_ERROR)

    def test_reserved_option_bits_malformed(self):
        # [MQTT-3.8.3-5]: reserved bits 6-7 set -> malformed.
        for bits in (0x40, 0x80):
            s = self.connected5()
            s.send(subscribe5(1, [(self.topic(), bits)]))
            s.expect_disconnect(RC_MALFORMED, msg='(options 0x%02x)' % bits)

    def test_subscribe_without_filters_is_protocol_error(self):
        # [MQTT-3.8.3-2]: a SUBSCRIBE with no payload is a Protocol Error.
        s = self.connected5()
        s.send(packet(0x82, b'\x00\x01\x00'))
        s.expect_disconnect(RC_MALFORMED if self.mosquitto else RC_PROTOCOL_ERROR)


if __name__ == '__main__':
    unittest.main()
