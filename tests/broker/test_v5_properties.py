"""MQTT 5 PUBLISH properties end to end: Payload Format Indicator, Content
Type, Response Topic, Correlation Data and User Properties (repeated names,
order kept) reach v5 subscribers unchanged and in order; Message Expiry
Interval is forwarded as the time left; Topic Alias and Subscription
Identifiers are the sender's and are not forwarded; retained messages and
wills keep their properties; v5 and 3.1.1 clients exchange messages (a
3.1.1 subscriber gets a plain 3.1.1 PUBLISH, a v5 subscriber of a 3.1.1
message an empty property block). MQTT 5.0 sections 3.3.2.3 and 3.1.3.2.

Mosquitto 2.0.11 writes a forwarded Message Expiry Interval after the other
properties; mqchatd's position for it is not asserted (only the order of
the others and the value).
"""

import unittest

from broker import (PUBACK_NOBODY, BrokerTest5, P_CONTENT_TYPE, P_CORRELATION_DATA, P_MESSAGE_EXPIRY,
                    P_PAYLOAD_FORMAT, P_RESPONSE_TOPIC, P_SUBSCRIPTION_ID, P_TOPIC_ALIAS,
                    P_USER_PROPERTY, P_WILL_DELAY, puback, publish, publish5, sub_opts)

# Everything a publisher may attach that a subscriber must get back as sent.
FORWARDED = [
    (P_PAYLOAD_FORMAT, 1),
    (P_CONTENT_TYPE, 'application/json; charset=utf-8'),
    (P_RESPONSE_TOPIC, 'reply/to/me'),
    (P_CORRELATION_DATA, b'\x00\x01\xfe\xff'),
    (P_USER_PROPERTY, ('k', 'v1')),
    (P_USER_PROPERTY, ('a', 'b')),
    (P_USER_PROPERTY, ('k', 'v2')),
    (P_USER_PROPERTY, ('\u00e9t\u00e9', '\u2603')),
    (P_USER_PROPERTY, ('', '')),
]


class PropertiesTest(BrokerTest5):
    SHARED = True

    def test_properties_forwarded_unchanged_and_in_order(self):
        t = self.topic()
        s = self.subscriber5(t, 2)
        p = self.connected5()
        for qos in (0, 1, 2):
            payload = b'{"qos": %d}' % qos
            p.do_publish5(t, payload, qos, properties=FORWARDED)
            s.receive5(t, payload, qos, properties=FORWARDED, msg='(published at QoS %d)' % qos)
        s.expect_nothing5()

    def test_each_property_alone(self):
        t = self.topic()
        s = self.subscriber5(t, 0)
        p = self.connected5()
        for i, pr in enumerate(FORWARDED):
            p.do_publish5(t, b'%d' % i, properties=[pr])
            s.expect_publish5(t, b'%d' % i, properties=[pr])

    def test_payload_format_0_forwarded(self):
        t = self.topic()
        s = self.subscriber5(t, 0)
        p = self.connected5()
        p.do_publish5(t, b'\xff\x00 not text', properties=[(P_PAYLOAD_FORMAT, 0)])
        s.expect_publish5(t, b'\xff\x00 not text', properties=[(P_PAYLOAD_FORMAT, 0)])

    def test_message_expiry_forwarded_as_remaining(self):
        t = self.topic()
        s = self.subscriber5(t, 1)
        p = self.connected5()
        p.do_publish5(t, b'expires', 1, properties=[(P_MESSAGE_EXPIRY, 120)] + FORWARDED[:4])
        m = s.next_publish5()
        s.ack(m)
        self.assertEqual((m.topic, m.payload, m.qos), (t, b'expires', 1), repr(m))
        self.assertEqual(m.props.without(P_MESSAGE_EXPIRY), FORWARDED[:4], repr(m))
        left = m.props.all(P_MESSAGE_EXPIRY)
        self.assertEqual(len(left), 1, 'Message Expiry Interval not forwarded once: %r' % m)
        self.assertLessEqual(left[0], 120, repr(m))
        self.assertGreaterEqual(left[0], 118, '(delivered at once) %r' % m)

    def test_no_message_expiry_added(self):
        t = self.topic()
        s = self.subscriber5(t, 1)
        p = self.connected5()
        p.do_publish5(t, b'forever', 1)
        s.receive5(t, b'forever', 1, properties=[])

    def test_topic_alias_not_forwarded(self):
        # [MQTT-3.3.2-7]: a Topic Alias belongs to one connection.
        t = self.topic()
        s = self.subscriber5(t, 0)
        p = self.connected5()
        p.do_publish5(t, b'first', properties=[(P_TOPIC_ALIAS, 1), (P_USER_PROPERTY, ('n', '1'))])
        s.expect_publish5(t, b'first', properties=[(P_USER_PROPERTY, ('n', '1'))])
        p.do_publish5('', b'second', properties=[(P_USER_PROPERTY, ('n', '2')), (P_TOPIC_ALIAS, 1)])
        s.expect_publish5(t, b'second', properties=[(P_USER_PROPERTY, ('n', '2'))])

    def test_subscription_identifier_of_another_subscriber_not_forwarded(self):
        t = self.topic()
        with_id = self.client5('with-id')
        with_id.do_connect5(self.uid())
        with_id.do_subscribe5([(t, 0)], properties=[(P_SUBSCRIPTION_ID, 42)])
        plain = self.subscriber5(t, 0)
        p = self.connected5()
        p.do_publish5(t, b'x', properties=[(P_CONTENT_TYPE, 'c')])
        with_id.expect_publish5(t, b'x', properties=[(P_CONTENT_TYPE, 'c')], sub_ids=[42])
        plain.expect_publish5(t, b'x', properties=[(P_CONTENT_TYPE, 'c')])

    def test_v5_publish_reaches_v311_subscriber_as_plain_publish(self):
        t = self.topic()
        s3 = self.client('v311-sub')
        s3.do_connect(self.uid())
        s3.do_subscribe([(t, 1)])
        p = self.connected5()
        p.do_publish5(t, b'from v5', 0, properties=FORWARDED + [(P_MESSAGE_EXPIRY, 60)])
        s3.expect(publish(t, b'from v5'), msg='(3.1.1 bytes, no properties)')
        p.do_publish5(t, b'from v5 q1', 1, properties=FORWARDED + [(P_TOPIC_ALIAS, 2)])
        m = s3.expect_publish(t, b'from v5 q1', 1, msg='(3.1.1 bytes, no properties)')
        s3.send(puback(m))
        # The alias registered above also works towards the 3.1.1 client.
        p.do_publish5('', b'via alias', 0, properties=[(P_TOPIC_ALIAS, 2)])
        s3.expect(publish(t, b'via alias'))
        s3.expect_nothing()

    def test_v311_publish_reaches_v5_subscriber_with_empty_properties(self):
        t = self.topic()
        s = self.subscriber5(t, 1)
        p3 = self.client('v311-pub')
        p3.do_connect(self.uid())
        p3.do_publish(t, b'from 3.1.1', 0)
        s.expect(publish5(t, b'from 3.1.1'), msg='(property length 0)')
        p3.do_publish(t, b'q1', 1)
        s.receive5(t, b'q1', 1, properties=[])

    def test_retained_message_keeps_properties(self):
        t = self.topic()
        p = self.connected5()
        props = FORWARDED[:3] + [(P_USER_PROPERTY, ('retained', 'yes'))]
        p.do_publish5(t, b'kept', 1, retain=True, properties=props, reason=PUBACK_NOBODY)
        s = self.subscriber5(t, 1)
        s.receive5(t, b'kept', 1, retain=True, properties=props)
        p.do_publish5(t, b'', 0, retain=True)

    def test_will_properties_forwarded(self):
        t = self.topic()
        s = self.subscriber5(t, 1)
        will_props = [(P_PAYLOAD_FORMAT, 1), (P_CONTENT_TYPE, 'text/plain'),
                      (P_RESPONSE_TOPIC, 'will/reply'), (P_CORRELATION_DATA, b'\x07'),
                      (P_USER_PROPERTY, ('who', 'me')), (P_USER_PROPERTY, ('who', 'still me'))]
        c = self.client5('will')
        c.do_connect5(self.uid(), will=(t, b'gone', 1, False),
                      will_properties=[(P_WILL_DELAY, 0)] + will_props)
        c.close()
        # Will Delay Interval is the server's; the rest is the message's.
        s.receive5(t, b'gone', 1, properties=will_props)

    def test_user_properties_many(self):
        t = self.topic()
        s = self.subscriber5(t, 0)
        p = self.connected5()
        many = [(P_USER_PROPERTY, ('n%03d' % i, 'v' * (i % 7))) for i in range(200)]
        p.do_publish5(t, b'many', properties=many)
        s.expect_publish5(t, b'many', properties=many)

    def test_own_message_keeps_properties(self):
        t = self.topic()
        c = self.client5()
        c.do_connect5(self.uid())
        c.do_subscribe5([(t, sub_opts(1))])
        c.do_publish5(t, b'own', 1, properties=FORWARDED[:2])
        c.receive5(t, b'own', 1, properties=FORWARDED[:2])


if __name__ == '__main__':
    unittest.main()
