"""MQTT 5 CONNECT and CONNACK: the CONNACK properties the broker announces
(Receive Maximum, Maximum Packet Size, Topic Alias Maximum, Assigned Client
Identifier, Server Keep Alive, the availability flags), empty client ids,
Request Problem Information, and the v5 refusals (0x84/3.1.1 rc 1 for an
unknown protocol level, 0x8C for enhanced authentication, 0x86, 0x87, 0x85).
MQTT 5.0 sections 3.1 and 3.2.

Mosquitto 2.0.11 differs here, and the tests branch where it does:
  - it announces Maximum Packet Size only when max_packet_size is set (the
    tests set it in Mosquitto mode where they look at it); mqchatd always
    announces message_size_limit + 65544;
  - a wrong user name or password gets 0x87 (not authorised), not 0x86;
  - an empty client id with allow_zero_length_clientid false gets 0x80
    (unspecified error), not 0x85 (client identifier not valid);
  - a second CONNECT, or a CONNECT with Receive Maximum 0 or Maximum Packet
    Size 0, is closed without a DISCONNECT/CONNACK saying why.
"""

import os
import shutil
import tempfile
import unittest

from broker import (MOSQUITTO, BrokerTest5, P_ASSIGNED_CLIENT_ID, P_AUTH_DATA, P_AUTH_METHOD,
                    P_MAXIMUM_PACKET_SIZE, P_MAXIMUM_QOS, P_REASON_STRING, P_RECEIVE_MAXIMUM,
                    P_REQUEST_PROBLEM_INFO, P_REQUEST_RESPONSE_INFO, P_RETAIN_AVAILABLE,
                    P_SERVER_KEEP_ALIVE, P_SESSION_EXPIRY, P_SHARED_SUB_AVAILABLE,
                    P_SUB_ID_AVAILABLE, P_TOPIC_ALIAS_MAXIMUM, P_USER_PROPERTY,
                    P_WILDCARD_SUB_AVAILABLE, P_MESSAGE_EXPIRY, P_PAYLOAD_FORMAT,
                    P_CONTENT_TYPE, P_WILL_DELAY, RC_PROTOCOL_ERROR, Connack5, connect,
                    connect5, hexs, write_password_file)

# Properties a CONNACK may carry (section 3.2.2.3).
CONNACK_PROPERTIES = {
    P_SESSION_EXPIRY, P_RECEIVE_MAXIMUM, P_MAXIMUM_QOS, P_RETAIN_AVAILABLE,
    P_MAXIMUM_PACKET_SIZE, P_ASSIGNED_CLIENT_ID, P_TOPIC_ALIAS_MAXIMUM, P_REASON_STRING,
    P_USER_PROPERTY, P_WILDCARD_SUB_AVAILABLE, P_SUB_ID_AVAILABLE, P_SHARED_SUB_AVAILABLE,
    P_SERVER_KEEP_ALIVE, 0x1A, 0x1C, P_AUTH_METHOD, P_AUTH_DATA,
}

DEFAULT_SIZE_LIMIT = 1048576


def check_connack_props(test, ack):
    """What every successful CONNACK must satisfy."""
    ids = ack.props.ids()
    for pid in ids:
        test.assertIn(pid, CONNACK_PROPERTIES, 'property 0x%02x not allowed in CONNACK: %r' % (pid, ack))
    singles = [p for p in ids if p != P_USER_PROPERTY]
    test.assertEqual(len(singles), len(set(singles)), 'a property repeated: %r' % ack)
    # Retain / wildcard / subscription identifier / shared subscription
    # available: the broker supports them all, so absent or 1.
    for pid in (P_RETAIN_AVAILABLE, P_WILDCARD_SUB_AVAILABLE, P_SUB_ID_AVAILABLE,
                P_SHARED_SUB_AVAILABLE):
        test.assertIn(ack.props.get(pid, 1), (1,), '%r' % ack)
    # QoS 2 is supported: Maximum QoS absent (3.2.2.3.4).
    test.assertNotIn(P_MAXIMUM_QOS, ack.props, '%r' % ack)


class ConnackTest(BrokerTest5):
    SHARED = True

    def test_connack_properties_default_config(self):
        c = self.client5()
        ack = c.do_connect5(self.uid())
        self.assertFalse(ack.session_present)
        check_connack_props(self, ack)
        self.assertEqual(ack.props.get(P_RECEIVE_MAXIMUM), 20, '%r' % ack)   # max_inflight_messages
        self.assertEqual(ack.props.get(P_TOPIC_ALIAS_MAXIMUM), 10, '%r' % ack)   # max_topic_alias
        if not self.mosquitto:   # Mosquitto announces it only with max_packet_size set
            self.assertIn(P_MAXIMUM_PACKET_SIZE, ack.props, '%r' % ack)
            self.assertGreaterEqual(ack.props.get(P_MAXIMUM_PACKET_SIZE), DEFAULT_SIZE_LIMIT)
        for pid in (P_ASSIGNED_CLIENT_ID, P_SERVER_KEEP_ALIVE, P_REASON_STRING):
            self.assertNotIn(pid, ack.props, '%r' % ack)
        c.ping()

    def test_connect_with_every_client_property_accepted(self):
        c = self.client5()
        ack = c.do_connect5(self.uid(), properties=[
            (P_SESSION_EXPIRY, 0), (P_RECEIVE_MAXIMUM, 100), (P_MAXIMUM_PACKET_SIZE, 1 << 20),
            (P_TOPIC_ALIAS_MAXIMUM, 0), (P_REQUEST_RESPONSE_INFO, 0),
            (P_REQUEST_PROBLEM_INFO, 1), (P_USER_PROPERTY, ('app', 'test')),
            (P_USER_PROPERTY, ('app', 'again'))])
        check_connack_props(self, ack)
        c.ping()

    def test_empty_client_id_gets_assigned_identifier(self):
        # 3.1.3.1: a v5 server may accept a zero-length id with either Clean
        # Start, and then MUST return an Assigned Client Identifier
        # [MQTT-3.2.2-16].
        ids = []
        for clean in (True, False):
            c = self.client5()
            ack = c.do_connect5('', clean=clean)
            check_connack_props(self, ack)
            got = ack.props.get(P_ASSIGNED_CLIENT_ID)
            self.assertTrue(got, 'no Assigned Client Identifier (clean=%s): %r' % (clean, ack))
            self.assertEqual(len(ack.props.all(P_ASSIGNED_CLIENT_ID)), 1)
            ids.append(got)
            c.ping()
            c.disconnect5()
        self.assertNotEqual(ids[0], ids[1], 'two connections got the same assigned id')

    def test_assigned_identifier_names_the_session(self):
        # The assigned id is the session's: a reconnect with it (Clean Start
        # 0) finds the session kept by a Session Expiry Interval.
        c = self.client5()
        ack = c.do_connect5('', clean=False, properties=[(P_SESSION_EXPIRY, 30)])
        cid = ack.props.get(P_ASSIGNED_CLIENT_ID)
        self.assertTrue(cid, '%r' % ack)
        c.disconnect5()
        again = self.client5()
        ack2 = again.do_connect5(cid, clean=False, session_present=True,
                                 properties=[(P_SESSION_EXPIRY, 30)])
        self.assertNotIn(P_ASSIGNED_CLIENT_ID, ack2.props, '(an id was given this time) %r' % ack2)
        again.disconnect5(properties=[(P_SESSION_EXPIRY, 0)])

    def test_no_reason_string_when_problem_information_not_requested(self):
        # Request Problem Information 0 (3.1.2.11.7): the CONNACK carries no
        # Reason String in mqchatd (and Mosquitto) either way.
        c = self.client5()
        ack = c.do_connect5(self.uid(), properties=[(P_REQUEST_PROBLEM_INFO, 0)])
        self.assertNotIn(P_REASON_STRING, ack.props, '%r' % ack)
        self.assertNotIn(P_USER_PROPERTY, ack.props, '%r' % ack)
        c.ping()

    def test_v5_and_v311_clients_side_by_side(self):
        c5 = self.client5('v5')
        c5.do_connect5(self.uid())
        c3 = self.client('v311')
        c3.send(connect(self.uid()))
        c3.expect(b'\x20\x02\x00\x00', msg='(3.1.1 CONNACK unchanged next to v5 clients)')
        c5.ping()
        c3.ping()

    def test_unsupported_protocol_level_refused(self):
        # [MQTT-3.1.2-2]: the server MAY answer an unsupported level with
        # CONNACK 0x84 and MUST close. A 3.1.1-format CONNACK with return
        # code 1 (what 3.1.1 clients understand; Mosquitto sends it) is
        # accepted too.
        for level in (0, 6, 7):
            c = self.client5('level%d' % level)
            c.send(connect5(self.uid(), proto_level=level))
            got = c.expect_packet(msg='(CONNECT with protocol level %d)' % level)
            if got != b'\x20\x02\x00\x01':
                ack = Connack5(got)
                self.assertEqual((ack.session_present, ack.reason), (False, 0x84),
                                 'level %d: %s' % (level, hexs(got)))
            c.expect_closed(msg='(after refusing level %d)' % level)

    def test_authentication_method_refused_0x8c(self):
        # No enhanced authentication: 0x8C (Bad authentication method), then
        # close (4.12, [MQTT-4.12.0-1]).
        c = self.client5()
        c.send(connect5(self.uid(), properties=[(P_AUTH_METHOD, 'SCRAM-SHA-1'),
                                                 (P_AUTH_DATA, b'client-first')]))
        ack = c.expect_connack5(0x8C)
        self.assertFalse(ack.session_present)
        c.expect_closed(msg='(after CONNACK 0x8C)')
        self.assert_serves()

    def test_second_connect_is_protocol_error(self):
        # [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error.
        c = self.connected5()
        c.send(connect5(self.uid()))
        c.expect_disconnect(RC_PROTOCOL_ERROR, close_ok=self.mosquitto)

    def test_receive_maximum_zero_refused(self):
        # 3.1.2.11.3: Receive Maximum 0 is a Protocol Error. Before CONNACK
        # the server may say so with CONNACK 0x82 and must close.
        for pid in (P_RECEIVE_MAXIMUM, P_MAXIMUM_PACKET_SIZE):
            c = self.client5()
            c.send(connect5(self.uid(), properties=[(pid, 0)]))
            if self.mosquitto:
                c.expect_closed()
                continue
            c.expect_connack5(RC_PROTOCOL_ERROR, msg='(property 0x%02x = 0)' % pid)
            c.expect_closed()

    def test_duplicate_connect_property_refused(self):
        # 3.1.2.11.2: Session Expiry Interval twice is a Protocol Error.
        c = self.client5()
        c.send(connect5(self.uid(), properties=[(P_SESSION_EXPIRY, 1), (P_SESSION_EXPIRY, 2)]))
        if not self.mosquitto:   # Mosquitto closes without a CONNACK
            c.expect_connack5(RC_PROTOCOL_ERROR)
        c.expect_closed()

    def test_will_properties_accepted(self):
        c = self.client5()
        ack = c.do_connect5(self.uid(), will=(self.topic(), b'w', 1, False), will_properties=[
            (P_WILL_DELAY, 0), (P_PAYLOAD_FORMAT, 1), (P_MESSAGE_EXPIRY, 60),
            (P_CONTENT_TYPE, 'text/plain'), (P_USER_PROPERTY, ('k', 'v'))])
        check_connack_props(self, ack)
        c.disconnect5()


class ConfiguredConnackTest(BrokerTest5):
    SHARED = True
    CONFIG = {'max_inflight_messages': 5, 'max_topic_alias': 3, 'message_size_limit': 1000,
              'max_keepalive': 30}
    if MOSQUITTO:
        CONFIG = dict(CONFIG, max_packet_size=1000 + 65544)

    def test_connack_follows_config(self):
        c = self.client5()
        ack = c.do_connect5(self.uid(), keepalive=20)
        check_connack_props(self, ack)
        self.assertEqual(ack.props.get(P_RECEIVE_MAXIMUM), 5, '%r' % ack)
        self.assertEqual(ack.props.get(P_TOPIC_ALIAS_MAXIMUM), 3, '%r' % ack)
        self.assertIn(P_MAXIMUM_PACKET_SIZE, ack.props, '%r' % ack)
        self.assertGreaterEqual(ack.props.get(P_MAXIMUM_PACKET_SIZE), 1000, '%r' % ack)
        self.assertNotIn(P_SERVER_KEEP_ALIVE, ack.props, '(keepalive 20 <= max_keepalive 30) %r' % ack)
        c.ping()

    def test_server_keep_alive_when_client_asks_more(self):
        # v5 does not refuse a keepalive over max_keepalive: the CONNACK
        # carries Server Keep Alive = max_keepalive (3.2.2.3.14).
        for ka in (31, 60, 65535):
            c = self.client5()
            ack = c.do_connect5(self.uid(), keepalive=ka)
            self.assertEqual(ack.reason, 0)
            self.assertEqual(ack.props.get(P_SERVER_KEEP_ALIVE), 30, '(keepalive %d) %r' % (ka, ack))
            c.ping()
            c.disconnect5()

    def test_keepalive_at_maximum_not_overridden(self):
        c = self.client5()
        ack = c.do_connect5(self.uid(), keepalive=30)
        self.assertNotIn(P_SERVER_KEEP_ALIVE, ack.props, '%r' % ack)


class ClientIdTest(BrokerTest5):
    SHARED = True
    CONFIG = {'allow_zero_length_clientid': False}

    def test_empty_client_id_refused_0x85(self):
        c = self.client5()
        c.send(connect5(''))
        ack = c.expect_connack5(0x80 if self.mosquitto else 0x85)
        self.assertNotIn(P_ASSIGNED_CLIENT_ID, ack.props)
        c.expect_closed(msg='(after CONNACK >= 0x80, [MQTT-3.2.2-7])')

    def test_named_client_still_accepted(self):
        self.connected5().ping()


USERS = {'alice': 'alice-pw'}


class AuthRefusalTest(BrokerTest5):
    SHARED = True

    @classmethod
    def setUpClass(cls):
        cls.auth_dir = tempfile.mkdtemp(prefix='mqchat-auth5-')
        path = os.path.join(cls.auth_dir, 'passwd')
        write_password_file(path, USERS)
        cls.CONFIG = {'allow_anonymous': False, 'password_file': path}
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.auth_dir, True)

    def refused(self, reason, **kw):
        c = self.client5()
        c.send(connect5(self.uid(), **kw))
        ack = c.expect_connack5(reason, msg='(%r)' % (kw,))
        self.assertFalse(ack.session_present)
        c.expect_closed(msg='(after a refusing CONNACK)')

    def test_good_password_accepted(self):
        self.connected5(username='alice', password='alice-pw').ping()

    def test_wrong_password_0x86(self):
        self.refused(0x87 if self.mosquitto else 0x86, username='alice', password='nope')

    def test_unknown_user_0x86(self):
        self.refused(0x87 if self.mosquitto else 0x86, username='mallory', password='x')

    def test_anonymous_not_authorized_0x87(self):
        self.refused(0x87)


if __name__ == '__main__':
    unittest.main()
