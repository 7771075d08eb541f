"""Retained messages: set, replace, clear with a zero-length payload, the
RETAIN flag set on delivery to new subscribers and cleared on live delivery,
QoS of retained deliveries, wildcard matches. MQTT 3.1.1 section 3.3.1.3."""

import unittest

from broker import BrokerTest, Publish


class RetainTest(BrokerTest):
    SHARED = True

    def test_retained_sent_to_new_subscriber_with_flag(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'kept', 1, retain=True)
        s = self.subscriber(t, 1)
        s.receive(t, b'kept', 1, retain=True, msg='([MQTT-3.3.1-8] RETAIN 1 to a new subscription)')
        s.expect_nothing()
        p.do_publish(t, b'', 1, retain=True)

    def test_live_delivery_clears_retain_flag(self):
        t = self.topic()
        s = self.subscriber(t, 0)
        p = self.connected()
        p.do_publish(t, b'live', 0, retain=True)
        s.expect_publish(t, b'live', 0, retain=False,
                         msg='([MQTT-3.3.1-9] RETAIN 0 to an existing subscription)')
        p.do_publish(t, b'', 0, retain=True)

    def test_retained_replaced(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'first', 0, retain=True)
        p.do_publish(t, b'second', 0, retain=True)
        s = self.subscriber(t, 0)
        s.expect_publish(t, b'second', 0, retain=True)
        s.expect_nothing(msg='(one retained message per topic)')
        p.do_publish(t, b'', 0, retain=True)

    def test_retained_cleared_by_empty_payload(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'to be cleared', 1, retain=True)
        live = self.subscriber(t, 1)
        live.receive(t, b'to be cleared', 1, retain=True)
        p.do_publish(t, b'', 1, retain=True)
        # [MQTT-3.3.1-10]: the empty retained PUBLISH is delivered as normal.
        live.receive(t, b'', 1, retain=False)
        s = self.subscriber(t, 1)
        s.expect_nothing(msg='([MQTT-3.3.1-11] a zero-byte retained message is not stored)')

    def test_non_retained_publish_not_stored(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'fleeting', 1, retain=False)
        s = self.subscriber(t, 1)
        s.expect_nothing()

    def test_non_retained_publish_keeps_retained(self):
        # [MQTT-3.3.1-12]: RETAIN 0 neither stores nor replaces.
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'stays', 0, retain=True)
        p.do_publish(t, b'passes by', 0, retain=False)
        s = self.subscriber(t, 0)
        s.expect_publish(t, b'stays', 0, retain=True)
        p.do_publish(t, b'', 0, retain=True)

    def test_retained_qos_is_minimum(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'stored at 1', 1, retain=True)
        s0 = self.subscriber(t, 0)
        s0.expect_publish(t, b'stored at 1', 0, retain=True)
        s2 = self.subscriber(t, 2)
        s2.receive(t, b'stored at 1', 1, retain=True)
        p.do_publish(t, b'', 0, retain=True)

    def test_retained_qos2(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'stored at 2', 2, retain=True)
        s = self.subscriber(t, 2)
        s.receive(t, b'stored at 2', 2, retain=True)
        p.do_publish(t, b'', 0, retain=True)

    def test_retained_matched_by_wildcards(self):
        base = self.topic()
        p = self.connected()
        topics = [base + '/a', base + '/b/c', base + '/d']
        for i, t in enumerate(topics):
            p.do_publish(t, b'r%d' % i, 0, retain=True)
        s = self.subscriber(base + '/#', 0)
        got = {}
        for _ in topics:
            pub = Publish(s.expect_packet())
            self.assertTrue(pub.retain and pub.qos == 0, repr(pub))
            got[pub.topic] = pub.payload
        self.assertEqual(got, {t: b'r%d' % i for i, t in enumerate(topics)})
        s.expect_nothing()
        s2 = self.subscriber(base + '/+', 0)
        got = sorted(Publish(s2.expect_packet()).topic for _ in range(2))
        self.assertEqual(got, sorted([topics[0], topics[2]]))
        s2.expect_nothing()
        for t in topics:
            p.do_publish(t, b'', 0, retain=True)

    def test_resubscribe_resends_retained(self):
        # [MQTT-3.8.4-3]: replacing a subscription re-sends retained messages.
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'again', 0, retain=True)
        s = self.subscriber(t, 0)
        s.expect_publish(t, b'again', 0, retain=True)
        s.do_subscribe([(t, 0)])
        s.expect_publish(t, b'again', 0, retain=True)
        p.do_publish(t, b'', 0, retain=True)

    def test_retained_survives_publisher(self):
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'outlives me', 1, retain=True)
        p.disconnect()
        s = self.subscriber(t, 1)
        s.receive(t, b'outlives me', 1, retain=True)
        self.connected().do_publish(t, b'', 0, retain=True)

    def test_retained_after_suback(self):
        # The SUBACK comes before the retained message [MQTT-3.8.4-1].
        t = self.topic()
        p = self.connected()
        p.do_publish(t, b'after suback', 0, retain=True)
        s = self.connected()
        s.do_subscribe([(t, 0)])   # expects SUBACK as the next packet
        s.expect_publish(t, b'after suback', 0, retain=True)
        p.do_publish(t, b'', 0, retain=True)


if __name__ == '__main__':
    unittest.main()
