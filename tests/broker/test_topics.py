"""Topic matching: '+' and '#' wildcards with the examples of MQTT 3.1.1
section 4.7, '$' topics not matched by wildcards at the first level,
overlapping subscriptions, UNSUBSCRIBE/UNSUBACK.

Overlapping subscriptions ([MQTT-3.3.5-1]): the server must deliver at the
maximum QoS of the matching subscriptions and MAY send further copies, one per
extra subscription. mqchatd sends exactly one copy at the maximum QoS.
Mosquitto 2.0.11 sends one copy, but at the QoS of one subscription it picks
(the exact filter here), not the maximum: a deviation, so against Mosquitto
only "one copy" is checked.
"""

import time
import unittest

from broker import BrokerTest, Closed, Publish, puback, pubcomp, pubrec, unsuback, unsubscribe


class TopicTest(BrokerTest):
    SHARED = True

    def check_match(self, flt, matching, not_matching):
        s = self.subscriber(flt, 0)
        p = self.connected()
        for t in not_matching:
            p.do_publish(t, b'no', 0)
        for t in matching:
            p.do_publish(t, b'yes', 0)
        for t in matching:
            s.expect_publish(t, b'yes', 0, msg='(filter %r must match %r)' % (flt, t))
        s.expect_nothing(msg='(filter %r matched a topic it must not)' % flt)

    def test_exact_match_only(self):
        b = self.topic()
        self.check_match(b + '/a/b', [b + '/a/b'], [b + '/a', b + '/a/b/c', b + '/a/B', b + '/a/b/'])

    def test_plus_single_level(self):
        b = self.topic()
        self.check_match(b + '/+/c', [b + '/x/c', b + '//c', b + '/yy/c'],
                         [b + '/c', b + '/x/y/c', b + '/x/c/d', b + '/x/cc'])

    def test_plus_at_end(self):
        b = self.topic()
        self.check_match(b + '/+', [b + '/x', b + '/'], [b, b + '/x/y'])

    def test_hash_multi_level_and_parent(self):
        # "sport/tennis/player1/#" matches "sport/tennis/player1" too [4.7.1.2].
        b = self.topic()
        self.check_match(b + '/a/#', [b + '/a', b + '/a/b', b + '/a/b/c', b + '/a/'],
                         [b + '/ab', b + '/b/a', b])

    def test_plus_and_hash(self):
        b = self.topic()
        self.check_match(b + '/+/x/#', [b + '/1/x', b + '/2/x/y/z'], [b + '/1/y/x', b + '/x'])

    def test_leading_slash_levels(self):
        # "/finance" is matched by "+/+" and "/+", not by "+" [4.7.1.3].
        b = self.topic()
        s1 = self.subscriber('+/+', 0)
        s2 = self.subscriber('/+', 0)
        s3 = self.subscriber('+', 0)
        p = self.connected()
        t = '/' + b.replace('/', '_')
        p.do_publish(t, b'lead', 0)
        s1.expect_publish(t, b'lead')
        s2.expect_publish(t, b'lead')
        single = b.replace('/', '_')
        p.do_publish(single, b'single', 0)
        s3.expect_publish(single, b'single')
        s3.expect_nothing(msg="('+' must not match %r)" % t)
        s1.expect_nothing()
        s2.expect_nothing()

    def test_hash_alone_matches_everything(self):
        b = self.topic()
        s = self.subscriber('#', 0)
        p = self.connected()
        for t in (b, b + '/x/y', '/' + b):
            p.do_publish(t, b'all', 0)
            s.expect_publish(t, b'all')

    def test_topics_case_sensitive(self):
        b = self.topic()
        self.check_match(b + '/Case', [b + '/Case'], [b + '/case', b + '/CASE'])

    def test_utf8_topic(self):
        b = self.topic()
        t = b + '/\u00fc/\u20ac/\U0001f600'
        self.check_match(b + '/+/\u20ac/#', [t], [b + '/u/e/x'])

    def copies(self, s, t, payload):
        """QoS of every copy of one message that arrives within a second,
        completing each acknowledgement flow."""
        out = []
        deadline = time.monotonic() + 1.0
        while True:
            try:
                raw = s.read(max(0.0, deadline - time.monotonic()))
            except Closed:
                self.fail('subscriber disconnected')
            if raw is None:
                return out
            if raw[0] >> 4 == 6:                      # PUBREL of a QoS 2 copy
                s.send(pubcomp(raw[2] << 8 | raw[3]))
                continue
            pub = Publish(raw)
            self.assertEqual((pub.topic, pub.payload, pub.retain), (t, payload, False), repr(pub))
            out.append(pub.qos)
            if pub.qos == 1:
                s.send(puback(pub.mid))
            elif pub.qos == 2:
                s.send(pubrec(pub.mid))

    def test_overlapping_subscriptions_max_qos(self):
        b = self.topic()
        t = b + '/x/y'
        s = self.subscriber([(b + '/#', 0), (b + '/+/y', 2), (t, 1)])
        p = self.connected()
        p.do_publish(t, b'overlap', 2)
        copies = self.copies(s, t, b'overlap')
        if self.mosquitto:
            self.assertEqual(len(copies), 1, 'Mosquitto: one copy, %r' % copies)
        else:
            self.assertEqual(copies, [2], '[MQTT-3.3.5-1] one copy at the maximum QoS, got %r'
                             % copies)
        s.ping()

    def test_overlapping_subscriptions_downgraded_publish(self):
        b = self.topic()
        t = b + '/z'
        s = self.subscriber([(b + '/#', 2), (t, 0)])
        p = self.connected()
        p.do_publish(t, b'pub at 1', 1)
        copies = self.copies(s, t, b'pub at 1')
        if self.mosquitto:
            self.assertEqual(len(copies), 1, 'Mosquitto: one copy, %r' % copies)
        else:
            self.assertEqual(copies, [1], 'one copy at min(publish QoS, max granted QoS)')

    def test_unsubscribe_stops_delivery(self):
        t = self.topic()
        s = self.subscriber(t, 1)
        p = self.connected()
        p.do_publish(t, b'before', 1)
        s.receive(t, b'before', 1)
        s.send(unsubscribe(0x4242, t))
        s.expect(b'\xb0\x02\x42\x42')
        p.do_publish(t, b'after', 1)
        s.expect_nothing(msg='(delivered after UNSUBACK)')

    def test_unsubscribe_one_of_two(self):
        b = self.topic()
        s = self.subscriber([(b + '/a', 0), (b + '/b', 0)])
        s.do_unsubscribe(b + '/a')
        p = self.connected()
        p.do_publish(b + '/a', b'a', 0)
        p.do_publish(b + '/b', b'b', 0)
        s.expect_publish(b + '/b', b'b')
        s.expect_nothing()

    def test_unsubscribe_several_and_unknown(self):
        # [MQTT-3.10.4-5]: UNSUBACK even when nothing matched.
        b = self.topic()
        s = self.subscriber([(b + '/a', 0), (b + '/+', 0)])
        s.send(unsubscribe(7, [b + '/a', b + '/+', b + '/never']))
        s.expect(unsuback(7))
        s.send(unsubscribe(8, 'not/subscribed'))
        s.expect(unsuback(8))
        p = self.connected()
        p.do_publish(b + '/a', b'x', 0)
        s.expect_nothing()

    def test_unsubscribe_filter_is_literal(self):
        # UNSUBSCRIBE of 'a/+' removes the 'a/+' subscription, not 'a/b'.
        b = self.topic()
        s = self.subscriber([(b + '/x', 0), (b + '/+', 0)])
        s.do_unsubscribe(b + '/+')
        p = self.connected()
        p.do_publish(b + '/x', b'still', 0)
        s.expect_publish(b + '/x', b'still')
        s.expect_nothing()


class SysWildcardTest(BrokerTest):
    CONFIG = {'sys_interval': 1}

    def test_sys_not_matched_by_hash(self):
        # [MQTT-4.7.2-1]: '#' and '+/...' do not match topics starting with '$'.
        s = self.subscriber([('#', 0), ('+/broker/uptime', 0), ('+/broker/#', 0)])
        sys = self.subscriber('$SYS/broker/uptime', 0)
        # Wait for one $SYS update to be sure the broker is publishing them.
        Publish(sys.expect_packet(msg='($SYS/broker/uptime with sys_interval 1)'))
        got = [Publish(p).topic for p in s.collect(1.2)]
        self.assertEqual([t for t in got if t.startswith('$')], [],
                         "'#' or '+' matched $SYS topics")
        p = self.connected()
        p.do_publish('plain/topic', b'x', 0)
        s.expect_publish('plain/topic', b'x')


if __name__ == '__main__':
    unittest.main()
