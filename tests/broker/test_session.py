"""Sessions: clean vs persistent (CleanSession 0), the session-present flag,
subscriptions kept across connections, QoS 1/2 messages queued while offline
(QoS 0 not), resending unacknowledged PUBLISH/PUBREL with the original packet
ids after a reconnect, and session takeover. MQTT 3.1.1 sections 3.1.2.4,
3.2.2.2, 4.1 and 4.4."""

import unittest

from broker import (BrokerTest, Publish, connack, connect, puback, pubcomp, publish, pubrec,
                    pubrel)


class SessionTest(BrokerTest):
    SHARED = True

    def test_clean_session_never_present(self):
        cid = self.uid()
        for _ in range(2):
            c = self.client()
            c.send(connect(cid, clean=True))
            c.expect(b'\x20\x02\x00\x00')
            c.disconnect()

    def test_session_present_flag(self):
        cid = self.uid()
        steps = [(False, False), (False, True), (True, False), (False, False), (False, True)]
        for clean, present in steps:
            c = self.client()
            c.send(connect(cid, clean=clean))
            c.expect(connack(present, 0), msg='(clean=%s: session present must be %s)' % (clean, present))
            c.disconnect()
        c = self.client()
        c.send(connect(cid, clean=True))
        c.expect(connack(False, 0))
        c.disconnect()

    def persistent(self, cid, present, **kw):
        c = self.client(cid)
        c.send(connect(cid, clean=False, **kw))
        c.expect(connack(present, 0), msg='(persistent session %r)' % cid)
        return c

    def test_subscriptions_kept(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 1)])
        c.disconnect()
        c = self.persistent(cid, True)
        p = self.connected()
        p.do_publish(t, b'kept', 1)
        c.receive(t, b'kept', 1)
        c.disconnect()
        self.persistent(cid, True).disconnect()
        self.client().do_connect(cid, clean=True)   # discard it

    def test_clean_session_discards_subscriptions(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 1)])
        c.disconnect()
        c = self.client()
        c.send(connect(cid, clean=True))
        c.expect(connack(False, 0))
        p = self.connected()
        p.do_publish(t, b'nobody', 1)
        c.expect_nothing(msg='(CleanSession 1 starts without the old subscriptions)')
        c.disconnect()
        c = self.persistent(cid, False)
        c.expect_nothing(msg='(and the old session is gone)')
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_offline_queue_qos1_qos2_not_qos0(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 2)])
        c.disconnect()
        p = self.connected()
        p.do_publish(t, b'offline qos0', 0)
        p.do_publish(t, b'offline qos1', 1)
        p.do_publish(t, b'offline qos2', 2)
        p.do_publish(t, b'offline qos1 again', 1)
        c = self.persistent(cid, True)
        c.receive(t, b'offline qos1', 1)
        c.receive(t, b'offline qos2', 2)
        c.receive(t, b'offline qos1 again', 1)
        c.expect_nothing(msg='(QoS 0 is not queued for an offline client)')
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_offline_queue_respects_granted_qos(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 1)])
        c.disconnect()
        p = self.connected()
        p.do_publish(t, b'two becomes one', 2)
        c = self.persistent(cid, True)
        c.receive(t, b'two becomes one', 1)
        c.expect_nothing()
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_offline_queue_after_abnormal_close(self):
        # The session is kept however the connection ended.
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 1)])
        c.abort()
        p = self.connected()
        # The broker may not have seen the close yet; a message published
        # before that is delivered live or queued, either way it must arrive.
        p.do_publish(t, b'after abort', 1)
        c = self.persistent(cid, True)
        raw = c.expect_packet()
        pub = Publish(raw)
        self.assertEqual((pub.topic, pub.payload, pub.qos), (t, b'after abort', 1), repr(pub))
        c.send(puback(pub.mid))
        c.expect_nothing()
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_unacked_qos1_redelivered_with_dup(self):
        # [MQTT-4.4.0-1] same packet id, [MQTT-3.3.1-1] DUP set.
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 1)])
        p = self.connected()
        p.do_publish(t, b'ack me', 1)
        m = c.expect_publish(t, b'ack me', 1, dup=False)
        c.disconnect()          # no PUBACK
        c = self.persistent(cid, True)
        c.expect(publish(t, b'ack me', 1, dup=True, mid=m), msg='(resent with DUP and the same id)')
        c.send(puback(m))
        c.expect_nothing()
        c.disconnect()
        c = self.persistent(cid, True)
        c.expect_nothing(msg='(acknowledged: not sent again)')
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_unacked_qos2_publish_redelivered_with_dup(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 2)])
        p = self.connected()
        p.do_publish(t, b'q2 resend', 2)
        m = c.expect_publish(t, b'q2 resend', 2)
        c.abort()               # no PUBREC
        c = self.persistent(cid, True)
        c.expect(publish(t, b'q2 resend', 2, dup=True, mid=m))
        c.send(pubrec(m))
        c.expect(pubrel(m))
        c.send(pubcomp(m))
        c.expect_nothing()
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_pubrel_resent_after_reconnect(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe([(t, 2)])
        p = self.connected()
        p.do_publish(t, b'half done', 2)
        m = c.expect_publish(t, b'half done', 2)
        c.send(pubrec(m))
        c.expect(pubrel(m))
        c.disconnect()          # no PUBCOMP
        c = self.persistent(cid, True)
        c.expect(pubrel(m), msg='(PUBREL resent, not the PUBLISH)')
        c.send(pubcomp(m))
        c.expect_nothing()
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_incoming_qos2_completed_after_reconnect(self):
        # The broker keeps its side of an inbound QoS 2 flow in the session:
        # PUBREL on the next connection is answered, the message delivered once.
        t = self.topic()
        s = self.subscriber(t, 2)
        cid = self.uid()
        c = self.persistent(cid, False)
        c.send(publish(t, b'inbound q2', 2, mid=9))
        c.expect(pubrec(9))
        c.disconnect()          # no PUBREL yet
        c = self.persistent(cid, True)
        c.send(pubrel(9))
        c.expect(pubcomp(9))
        s.receive(t, b'inbound q2', 2)
        s.expect_nothing(msg='(delivered exactly once)')
        c.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_takeover_closes_old_connection(self):
        # [MQTT-3.1.4-2]: a CONNECT with a connected client's id disconnects it.
        cid = self.uid()
        old = self.connected(cid, name='old')
        new = self.client('new')
        new.send(connect(cid))
        new.expect(connack(False, 0))
        old.expect_closed(msg='(taken over)')
        new.ping()
        t = self.topic()
        new.do_subscribe([(t, 0)])
        new.do_publish(t, b'new owner', 0)
        new.expect_publish(t, b'new owner')

    def test_takeover_keeps_persistent_session(self):
        t = self.topic()
        cid = self.uid()
        old = self.persistent(cid, False)
        old.do_subscribe([(t, 1)])
        new = self.persistent(cid, True)
        old.expect_closed()
        p = self.connected()
        p.do_publish(t, b'to the new connection', 1)
        new.receive(t, b'to the new connection', 1)
        new.disconnect()
        self.client().do_connect(cid, clean=True)

    def test_takeover_repeatedly(self):
        cid = self.uid()
        prev = None
        for i in range(5):
            c = self.client('conn%d' % i)
            c.send(connect(cid))
            c.expect(connack(False, 0))
            if prev is not None:
                prev.expect_closed()
            prev = c
        prev.ping()


class QueueLimitTest(BrokerTest):
    CONFIG = {'max_queued_messages': 5}

    def test_offline_queue_bounded(self):
        t = self.topic()
        cid = self.uid()
        c = self.client()
        c.send(connect(cid, clean=False))
        c.expect(connack(False, 0))
        c.do_subscribe([(t, 1)])
        c.disconnect()
        p = self.connected()
        for i in range(20):
            p.do_publish(t, b'%d' % i, 1)
        p.ping()
        c = self.client()
        c.send(connect(cid, clean=False))
        c.expect(connack(True, 0))
        got = []
        for raw in c.collect(1.0):
            pub = Publish(raw)
            self.assertEqual((pub.topic, pub.qos), (t, 1), repr(pub))
            got.append(int(pub.payload))
            c.send(puback(pub.mid))
        self.assertEqual(len(got), 5, 'max_queued_messages 5, got %r' % got)
        self.assertEqual(got, sorted(got), 'queued messages out of order: %r' % got)
        self.assertTrue(self.broker.alive())


if __name__ == '__main__':
    unittest.main()
