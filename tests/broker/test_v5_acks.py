"""MQTT 5 reason codes in PUBACK, PUBREC, PUBCOMP and SUBACK: 0x00 for an
accepted publish whether or not anyone subscribes (mqchatd never sends 0x10);
0x99 (Payload format invalid) for Payload Format Indicator 1 with a payload
that is not UTF-8, which is then not delivered; 0x87 (Not authorized) in
PUBACK/PUBREC for a topic the ACL does not let the user write, and in SUBACK
for a filter it does not let the user read; no Reason String or User
Property on those acks when the client set Request Problem Information to 0
([MQTT-3.1.2-29]). MQTT 5.0 sections 3.4-3.7, 3.9.3.

Mosquitto 2.0.11 differs:
  - a QoS 1 publish no subscription matches gets PUBACK 0x10 (No matching
    subscribers; allowed by the specification);
  - it does not check payloads marked UTF-8 (no 0x99; skipped);
  - its built-in ACL grants a SUBSCRIBE it will filter at delivery (no SUBACK
    0x87; as in test_auth for 3.1.1).
"""

import os
import shutil
import tempfile
import unittest

from broker import (PUBACK_NOBODY, BrokerTest5, P_PAYLOAD_FORMAT, P_REASON_STRING,
                    P_REQUEST_PROBLEM_INFO, P_USER_PROPERTY, RC_NOT_AUTHORIZED,
                    RC_PAYLOAD_FORMAT_INVALID, Suback5, publish5, pubrel5, subscribe5,
                    write_password_file)


class AckReasonTest(BrokerTest5):
    SHARED = True

    def test_puback_success_without_subscribers(self):
        p = self.connected5()
        a = p.do_publish5(self.topic('nobody'), b'x', 1, reason=PUBACK_NOBODY)
        self.assertEqual(len(a.props), 0, repr(a))

    def test_pubrec_pubcomp_success_without_subscribers(self):
        p = self.connected5()
        a = p.do_publish5(self.topic('nobody'), b'x', 2)
        self.assertEqual(len(a.props), 0, repr(a))

    def test_acks_to_subscribed_publish(self):
        t = self.topic()
        s = self.subscriber5(t, 2)
        p = self.connected5()
        m = p.mid()
        p.send(publish5(t, b'q1', 1, mid=m))
        a = p.expect_ack5(4, m)
        self.assertIn(a.raw, (b'\x40\x02' + a.raw[2:4], b'\x40\x03' + a.raw[2:4] + b'\x00',
                              b'\x40\x04' + a.raw[2:4] + b'\x00\x00'), repr(a))
        s.receive5(t, b'q1', 1)

    def test_payload_format_invalid_0x99(self):
        if self.mosquitto:
            self.skipTest('Mosquitto 2.0.11 does not check payloads marked UTF-8')
        t = self.topic()
        s = self.subscriber5(t, 1)
        p = self.connected5()
        for payload in (b'\xff\xfe', b'ok then \xc0\x80', b'\xed\xa0\x80', b'caf\xc3'):
            p.do_publish5(t, payload, 1, properties=[(P_PAYLOAD_FORMAT, 1)],
                          reason=RC_PAYLOAD_FORMAT_INVALID)
            p.do_publish5(t, payload, 2, properties=[(P_PAYLOAD_FORMAT, 1)],
                          reason=RC_PAYLOAD_FORMAT_INVALID)
        s.expect_nothing5(msg='(refused messages are not delivered)')
        # The connection goes on; a valid UTF-8 payload is accepted.
        p.do_publish5(t, 'caf\u00e9 \u2603'.encode(), 1, properties=[(P_PAYLOAD_FORMAT, 1)])
        s.receive5(t, 'caf\u00e9 \u2603'.encode(), 1, properties=[(P_PAYLOAD_FORMAT, 1)])

    def test_payload_format_invalid_qos0_dropped(self):
        if self.mosquitto:
            self.skipTest('Mosquitto 2.0.11 does not check payloads marked UTF-8')
        t = self.topic()
        s = self.subscriber5(t, 0)
        p = self.connected5()
        p.send(publish5(t, b'\xff', 0, properties=[(P_PAYLOAD_FORMAT, 1)]))
        p.do_publish5(t, b'\xff', 0, properties=[(P_PAYLOAD_FORMAT, 0)])
        s.expect_publish5(t, b'\xff', properties=[(P_PAYLOAD_FORMAT, 0)],
                          msg='(only the one not claiming UTF-8)')
        s.expect_nothing5()

    def test_pubrec_0x99_ends_the_flow(self):
        # A PUBREC >= 0x80 ends the QoS 2 exchange: the id is free again.
        if self.mosquitto:
            self.skipTest('Mosquitto 2.0.11 does not check payloads marked UTF-8')
        t = self.topic()
        s = self.subscriber5(t, 2)
        p = self.connected5()
        p.send(publish5(t, b'\xff', 2, mid=40, properties=[(P_PAYLOAD_FORMAT, 1)]))
        p.expect_ack5(5, 40, RC_PAYLOAD_FORMAT_INVALID)
        p.send(publish5(t, b'fine', 2, mid=40))
        p.expect_ack5(5, 40)
        p.send(pubrel5(40))
        p.expect_ack5(7, 40)
        s.receive5(t, b'fine', 2)
        s.expect_nothing5()


ACL = """\
user alice
topic readwrite acl5/alice/#
topic read acl5/ro/#
topic write acl5/wo/#

user bob
topic readwrite acl5/#
"""
USERS = {'alice': 'alice-pw', 'bob': 'bob-pw'}


class AclReasonTest(BrokerTest5):
    SHARED = True

    @classmethod
    def setUpClass(cls):
        cls.auth_dir = tempfile.mkdtemp(prefix='mqchat-acl5-')
        pw = os.path.join(cls.auth_dir, 'passwd')
        acl = os.path.join(cls.auth_dir, 'acl')
        write_password_file(pw, USERS)
        with open(acl, 'w') as f:
            f.write(ACL)
        cls.CONFIG = {'allow_anonymous': False, 'password_file': pw, 'acl_file': acl}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.auth_dir, True)

    def login(self, user, **kw):
        return self.connected5(self.uid(user), name=user, username=user, password=USERS[user], **kw)

    def test_write_denied_puback_and_pubrec_0x87(self):
        bob = self.login('bob')
        bob.do_subscribe5([('acl5/#', 2)])
        alice = self.login('alice')
        alice.do_publish5('acl5/bob/x', b'denied', 1, reason=RC_NOT_AUTHORIZED)
        alice.do_publish5('acl5/ro/x', b'denied', 1, reason=RC_NOT_AUTHORIZED)
        a = alice.do_publish5('acl5/bob/y', b'denied', 2, reason=RC_NOT_AUTHORIZED)
        self.assertEqual(a.type, 5)
        alice.do_publish5('acl5/alice/x', b'allowed', 1)
        alice.do_publish5('acl5/wo/x', b'write only', 2)
        bob.receive5('acl5/alice/x', b'allowed', 1, msg='(nothing denied was delivered before it)')
        bob.receive5('acl5/wo/x', b'write only', 2)
        bob.expect_nothing5()

    def test_write_denied_qos0_dropped_connection_kept(self):
        bob = self.login('bob')
        bob.do_subscribe5([('acl5/#', 0)])
        alice = self.login('alice')
        alice.do_publish5('acl5/bob/x', b'denied', 0)
        alice.do_publish5('acl5/alice/x', b'ok', 0)
        bob.expect_publish5('acl5/alice/x', b'ok')
        bob.expect_nothing5()

    def test_subscribe_denied_0x87(self):
        alice = self.login('alice')
        codes = [1, 0, RC_NOT_AUTHORIZED, RC_NOT_AUTHORIZED]
        if self.mosquitto:
            codes = [1, 0, 1, 1]   # granted; filtered at delivery (module comment)
        alice.do_subscribe5([('acl5/alice/#', 1), ('acl5/ro/x', 0), ('acl5/bob/#', 1),
                             ('acl5/wo/#', 1)], codes=codes)
        bob = self.login('bob')
        bob.do_publish5('acl5/bob/z', b'not for alice', 1)
        bob.do_publish5('acl5/wo/z', b'not for alice', 1)
        bob.do_publish5('acl5/ro/x', b'readable', 0)
        alice.expect_publish5('acl5/ro/x', b'readable', 0, msg='(the denied filters gave nothing)')
        alice.expect_nothing5()

    def test_no_reason_string_when_problem_information_off(self):
        # [MQTT-3.1.2-29]: Request Problem Information 0 -> no Reason String
        # or User Property on anything but PUBLISH, CONNACK and DISCONNECT.
        alice = self.login('alice', properties=[(P_REQUEST_PROBLEM_INFO, 0)])
        m = alice.mid()
        alice.send(publish5('acl5/bob/x', b'denied', 1, mid=m))
        a = alice.expect_ack5(4, m, RC_NOT_AUTHORIZED)
        self.assertNotIn(P_REASON_STRING, a.props, repr(a))
        self.assertNotIn(P_USER_PROPERTY, a.props, repr(a))
        m = alice.mid()
        alice.send(publish5('acl5/bob/x', b'denied', 2, mid=m))
        a = alice.expect_ack5(5, m, RC_NOT_AUTHORIZED)
        self.assertEqual(len(a.props), 0, repr(a))
        m = alice.mid()
        alice.send(subscribe5(m, [('acl5/bob/#', 0)]))
        s = Suback5(alice.expect_packet())
        self.assertEqual(s.mid, m)
        self.assertEqual(len(s.props), 0, repr(s))
        if not self.mosquitto:
            self.assertEqual(s.codes, [RC_NOT_AUTHORIZED], repr(s))


if __name__ == '__main__':
    unittest.main()
