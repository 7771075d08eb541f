"""MQTT 5 sessions and wills: Session Expiry Interval (absent = 0: the
session ends with the connection; > 0 keeps it, with its subscriptions and
queued QoS 1/2 messages, session present = 1; it runs out; DISCONNECT may
change it, but from 0 to non-zero is a Protocol Error, DISCONNECT 0x82);
Clean Start; Message Expiry Interval on queued messages (expired ones are
not delivered, the others carry the time left); session take-over
(DISCONNECT 0x8E to the old connection); Will Delay Interval (the will
waits, a reconnect within the delay cancels it, the session ending first
sends it) and DISCONNECT 0x04 (send the will) vs 0x00 (do not).
MQTT 5.0 sections 3.1.2.4, 3.1.2.11.2, 3.1.3.2, 3.3.2.3.3, 3.14, 4.1.

Mosquitto 2.0.11 differs:
  - it closes the old connection on take-over without DISCONNECT 0x8E.
"""

import time
import unittest

from broker import (PUBACK_NOBODY, BrokerTest5, P_MESSAGE_EXPIRY, P_SESSION_EXPIRY,
                    P_USER_PROPERTY, P_WILL_DELAY, RC_DISCONNECT_WITH_WILL, RC_PROTOCOL_ERROR,
                    RC_SESSION_TAKEN_OVER, connect5)


def expiry(seconds):
    return [(P_SESSION_EXPIRY, seconds)]


class SessionExpiryTest(BrokerTest5):
    SHARED = True

    def persistent(self, cid, present, seconds=60, name=None):
        return self.connected5(cid, name=name or cid, clean=False, session_present=present,
                               properties=expiry(seconds))

    def forget(self, cid):
        self.connected5(cid, clean=True).disconnect5()

    def test_absent_session_expiry_ends_session_at_disconnect(self):
        t = self.topic()
        cid = self.uid()
        c = self.connected5(cid, clean=False)
        c.do_subscribe5([(t, 1)])
        c.disconnect5()
        self.connected5().do_publish5(t, b'nobody home', 1, reason=PUBACK_NOBODY)
        c = self.connected5(cid, clean=False, session_present=False)
        c.expect_nothing5(msg='(the session ended: no subscription, no queue)')

    def test_session_kept_and_queued_messages_delivered(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe5([(t, 2)])
        c.disconnect5()
        p = self.connected5()
        p.do_publish5(t, b'q1 a', 1, properties=[(P_USER_PROPERTY, ('kept', 'yes'))])
        p.do_publish5(t, b'q2', 2)
        p.do_publish5(t, b'q1 b', 1)
        c = self.persistent(cid, True)
        c.receive5(t, b'q1 a', 1, properties=[(P_USER_PROPERTY, ('kept', 'yes'))])
        c.receive5(t, b'q2', 2)
        c.receive5(t, b'q1 b', 1)
        c.expect_nothing5()
        # The subscription itself survived too.
        p.do_publish5(t, b'live', 1)
        c.receive5(t, b'live', 1)
        c.disconnect5()
        self.forget(cid)

    def test_session_kept_after_connection_lost(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe5([(t, 1)])
        c.abort()
        p = self.connected5()
        p.do_publish5(t, b'while lost', 1)
        c = self.persistent(cid, True)
        c.receive5(t, b'while lost', 1)
        c.disconnect5()
        self.forget(cid)

    def test_clean_start_discards_session(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe5([(t, 1)])
        c.disconnect5()
        self.connected5().do_publish5(t, b'queued', 1)
        c = self.connected5(cid, clean=True, session_present=False, properties=expiry(60))
        c.expect_nothing5(msg='(Clean Start 1: the old queue is gone)')
        self.connected5().do_publish5(t, b'after', 1, reason=PUBACK_NOBODY)
        c.expect_nothing5(msg='(and the old subscription)')
        c.disconnect5()
        self.forget(cid)

    def test_disconnect_sets_expiry_to_zero(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe5([(t, 1)])
        c.disconnect5(properties=expiry(0))
        c = self.connected5(cid, clean=False, session_present=False)
        c.disconnect5()

    def test_disconnect_zero_to_nonzero_is_protocol_error(self):
        # 3.14.2.2.2: expiry 0 in CONNECT and non-zero in DISCONNECT is not a
        # valid DISCONNECT: DISCONNECT 0x82, and the will is published as for
        # any connection that ends without a valid DISCONNECT.
        t = self.topic()
        w = self.subscriber5(t, 0)
        cid = self.uid()
        c = self.connected5(cid, will=(t, b'invalid disconnect', 0, False))
        c.send(b'\xe0\x07\x00\x05\x11\x00\x00\x00\x1e')   # DISCONNECT 0x00, Session Expiry 30
        c.expect_disconnect(RC_PROTOCOL_ERROR)
        w.expect_publish5(t, b'invalid disconnect')
        c = self.connected5(cid, clean=False, session_present=False)
        c.disconnect5()

    def test_expiry_runs_out_and_disconnect_can_extend_it(self):
        t = self.topic()
        short, extended = self.uid('short'), self.uid('extended')
        a = self.persistent(short, False, seconds=1)
        a.do_subscribe5([(t, 1)])
        a.disconnect5()
        b = self.persistent(extended, False, seconds=1)
        b.do_subscribe5([(t, 1)])
        b.disconnect5(properties=expiry(60))
        time.sleep(2.5)
        self.connected5().do_publish5(t, b'after expiry', 1)
        a = self.connected5(short, clean=False, session_present=False, properties=expiry(1))
        a.expect_nothing5(msg='(expired after 1 s)')
        b = self.persistent(extended, True)
        b.receive5(t, b'after expiry', 1, msg='(DISCONNECT set 60 s)')
        a.disconnect5()
        b.disconnect5(properties=expiry(0))

    def test_message_expiry_while_offline(self):
        t = self.topic()
        cid = self.uid()
        c = self.persistent(cid, False)
        c.do_subscribe5([(t, 1)])
        c.disconnect5()
        p = self.connected5()
        p.do_publish5(t, b'expires in 1', 1, properties=[(P_MESSAGE_EXPIRY, 1)])
        p.do_publish5(t, b'expires in 60', 1, properties=[(P_MESSAGE_EXPIRY, 60),
                                                          (P_USER_PROPERTY, ('k', 'v'))])
        p.do_publish5(t, b'never expires', 1)
        time.sleep(2.2)
        c = self.persistent(cid, True)
        m = c.next_publish5(msg='(the 60 s message; the 1 s one expired)')
        c.ack(m)
        self.assertEqual(m.payload, b'expires in 60', repr(m))
        self.assertEqual(m.props.without(P_MESSAGE_EXPIRY), [(P_USER_PROPERTY, ('k', 'v'))], repr(m))
        left = m.props.all(P_MESSAGE_EXPIRY)
        self.assertEqual(len(left), 1, repr(m))
        self.assertTrue(55 <= left[0] <= 59, '(about 58 s left after 2.2 s) %r' % m)
        c.receive5(t, b'never expires', 1, properties=[])
        c.expect_nothing5()
        c.disconnect5(properties=expiry(0))

    def test_takeover_sends_0x8e_to_old_connection(self):
        t = self.topic()
        cid = self.uid()
        old = self.persistent(cid, False, name='old')
        old.do_subscribe5([(t, 1)])
        new = self.client5('new')
        new.send(connect5(cid, clean=False, properties=expiry(60)))
        new.expect_connack5(0, session_present=True)
        old.expect_disconnect(RC_SESSION_TAKEN_OVER, close_ok=self.mosquitto)
        self.connected5().do_publish5(t, b'to the new one', 1)
        new.receive5(t, b'to the new one', 1, msg='(the session moved with its subscription)')
        new.disconnect5(properties=expiry(0))

    def test_takeover_with_clean_start(self):
        cid = self.uid()
        old = self.connected5(cid, name='old')
        new = self.client5('new')
        new.send(connect5(cid))
        new.expect_connack5(0, session_present=False)
        old.expect_disconnect(RC_SESSION_TAKEN_OVER, close_ok=self.mosquitto)
        new.ping5()


class WillTest(BrokerTest5):
    SHARED = True

    def watcher(self, t):
        return self.subscriber5(t, 1, client_id=self.uid('watch'))

    def test_will_delay(self):
        t = self.topic()
        w = self.watcher(t)
        c = self.connected5(self.uid('will'), properties=expiry(60), will=(t, b'late', 0, False),
                            will_properties=[(P_WILL_DELAY, 1)])
        c.close()
        start = time.monotonic()
        w.expect_nothing5(0.7, msg='(Will Delay Interval 1 s)')
        w.expect_publish5(t, b'late')
        self.assertGreaterEqual(time.monotonic() - start, 0.9)

    def test_reconnect_within_delay_cancels_will(self):
        t = self.topic()
        w = self.watcher(t)
        cid = self.uid('will')
        c = self.connected5(cid, properties=expiry(60), will=(t, b'must not come', 0, False),
                            will_properties=[(P_WILL_DELAY, 1)])
        c.close()
        c = self.connected5(cid, clean=False, session_present=True, properties=expiry(60))
        w.expect_nothing5(2.5, msg='([MQTT-3.1.3-9] reconnected within the delay)')
        c.disconnect5(properties=expiry(0))
        w.expect_nothing5()

    def test_session_end_before_delay_sends_will(self):
        # 3.1.3.2.2: the will is published when the delay passes or the
        # session ends, whichever is first.
        t = self.topic()
        w = self.watcher(t)
        c = self.connected5(self.uid('will'), properties=expiry(1), will=(t, b'session over', 0, False),
                            will_properties=[(P_WILL_DELAY, 3600)])
        c.close()
        w.expect_publish5(t, b'session over', msg='(session expiry 1 s, will delay 1 h)')

    def test_will_without_delay_and_no_session(self):
        t = self.topic()
        w = self.watcher(t)
        c = self.connected5(self.uid('will'), will=(t, b'at once', 1, False))
        c.close()
        w.receive5(t, b'at once', 1, timeout=1.5, msg='(no delay)')

    def test_disconnect_with_will_0x04(self):
        t = self.topic()
        w = self.watcher(t)
        c = self.connected5(self.uid('will'), will=(t, b'asked for', 0, False))
        c.disconnect5(RC_DISCONNECT_WITH_WILL)
        w.expect_publish5(t, b'asked for')

    def test_normal_disconnect_discards_will(self):
        t = self.topic()
        w = self.watcher(t)
        c = self.connected5(self.uid('will'), will=(t, b'must not come', 0, False))
        c.disconnect5(0)
        d = self.connected5(self.uid('will'), will=(t, b'must not come', 0, False))
        d.send(b'\xe0\x01\x00')   # reason 0x00 written out
        w.expect_nothing5(msg='(DISCONNECT 0x00)')

    def test_disconnect_0x04_with_will_delay_still_delays(self):
        t = self.topic()
        w = self.watcher(t)
        c = self.connected5(self.uid('will'), properties=expiry(60), will=(t, b'delayed', 0, False),
                            will_properties=[(P_WILL_DELAY, 1)])
        c.disconnect5(RC_DISCONNECT_WITH_WILL)
        w.expect_nothing5(0.6, msg='(still the Will Delay Interval)')
        w.expect_publish5(t, b'delayed')


if __name__ == '__main__':
    unittest.main()
