"""CONNECT handling: validation, every CONNACK return code, MQTT 3.1 and
3.1.1, packets out of order, zero-length client ids. MQTT 3.1.1 section 3.1/3.2."""

import time
import unittest

from broker import (BrokerTest, connack, connect, hexs, publish, subscribe, PINGREQ,
                    PINGRESP, string, packet)


class ConnectTest(BrokerTest):
    SHARED = True

    def test_connack_accepted_311(self):
        c = self.client()
        c.send(connect(self.uid()))
        c.expect(b'\x20\x02\x00\x00')
        c.ping()

    def test_mqisdp_31_accepted(self):
        # MQTT 3.1: protocol name "MQIsdp", level 3.
        c = self.client()
        c.send(connect(self.uid(), proto_name='MQIsdp', proto_level=3))
        c.expect(b'\x20\x02\x00\x00')
        t = self.topic()
        c.do_subscribe([(t, 1)])
        c.do_publish(t, b'v31', 1)
        c.receive(t, b'v31', 1)

    def test_bad_protocol_level_0x01(self):
        # [MQTT-3.1.2-2]: unsupported level -> CONNACK 0x01, then close.
        for level in (6, 2, 0x7f):
            c = self.client()
            c.send(connect(self.uid(), proto_level=level))
            c.expect(connack(False, 1), msg='(level %d)' % level)
            c.expect_closed(msg='(after CONNACK 0x01)')

    def test_mqisdp_with_level_4_refused(self):
        c = self.client()
        c.send(connect(self.uid(), proto_name='MQIsdp', proto_level=4))
        c.expect(connack(False, 1))
        c.expect_closed()

    def test_zero_length_id_persistent_0x02(self):
        # [MQTT-3.1.3-8]: empty client id with CleanSession 0 -> 0x02, close.
        c = self.client()
        c.send(connect('', clean=False))
        c.expect(connack(False, 2))
        c.expect_closed()

    def test_zero_length_id_clean_accepted(self):
        # [MQTT-3.1.3-6]: the server assigns an id; the client can work normally.
        c = self.client()
        c.send(connect('', clean=True))
        c.expect(connack(False, 0))
        t = self.topic()
        c.do_subscribe([(t, 1)])
        c.do_publish(t, b'anon', 1)
        c.receive(t, b'anon', 1)

    def test_two_zero_length_ids_are_distinct(self):
        # Two clients with empty ids must not take each other over.
        t = self.topic()
        a = self.client('a')
        a.do_connect('')
        b = self.client('b')
        b.do_connect('')
        a.do_subscribe([(t, 0)])
        b.do_publish(t, b'x', 0)
        a.expect_publish(t, b'x')
        b.ping()

    def test_second_connect_closes(self):
        # [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
        c = self.client()
        c.do_connect(self.uid())
        c.send(connect(self.uid()))
        c.expect_closed()
        self.assert_serves()

    def test_first_packet_not_connect_closes(self):
        # [MQTT-3.1.0-1]: the first packet must be CONNECT.
        t = self.topic()
        for first in (PINGREQ, publish(t, b'x'), subscribe(1, t), b'\xe0\x00'):
            c = self.client()
            c.send(first)
            c.expect_closed(msg='(first packet %s)' % hexs(first))
        self.assert_serves()

    def test_connect_reserved_flag_closes(self):
        # [MQTT-3.1.2-3]: bit 0 of the connect flags is reserved and must be 0.
        c = self.client()
        c.send(connect(self.uid(), flags=0x03))
        c.expect_closed()
        self.assert_serves()

    def test_connect_will_qos_3_closes(self):
        # [MQTT-3.1.2-14]: will QoS 3 is malformed.
        c = self.client()
        c.send(connect(self.uid(), will=('w', 'x', 3, False)))
        c.expect_closed()

    def test_connect_will_flags_without_will_closes(self):
        # [MQTT-3.1.2-11]/[MQTT-3.1.2-15]: Will QoS/Retain set with Will Flag 0.
        c = self.client()
        c.send(connect(self.uid(), flags=0x02 | 0x08))
        c.expect_closed()

    def test_connect_password_without_username_closes(self):
        # [MQTT-3.1.2-22]: password flag set with user name flag 0.
        body = (string('MQTT') + bytes([4, 0x42]) + b'\x00\x3c' + string(self.uid())
                + string('pw'))
        c = self.client()
        c.send(packet(0x10, body))
        c.expect_closed()

    def test_connect_bad_protocol_name_closes(self):
        # [MQTT-3.1.2-1]: wrong protocol name -> the server may close without
        # CONNACK. Accept a close, or CONNACK 0x01 followed by a close.
        c = self.client()
        c.send(connect(self.uid(), proto_name='MQTX'))
        got = c.collect(3.0)
        self.assertIn(got, ([], [connack(False, 1)]), [hexs(p) for p in got])
        c.expect_closed()

    def test_connect_truncated_body_closes(self):
        # A CONNECT whose remaining length ends inside the client id.
        full = connect(self.uid())
        body = full[2:-3]
        c = self.client()
        c.send(packet(0x10, body))
        c.expect_closed()
        self.assert_serves()

    def test_pingreq_pingresp_bytes(self):
        c = self.connected()
        c.send(PINGREQ)
        c.expect(PINGRESP)
        c.send(PINGREQ + PINGREQ)
        c.expect(PINGRESP)
        c.expect(PINGRESP)

    def test_disconnect_closes_connection(self):
        # [MQTT-3.14.4-1]: after DISCONNECT the server closes the connection.
        c = self.connected()
        c.send(b'\xe0\x00')
        c.expect_closed()

    def test_connect_split_across_writes(self):
        # The broker must reassemble a packet that arrives a byte at a time.
        data = connect(self.uid())
        c = self.client()
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.002)
        c.expect(connack(False, 0))

    def test_pipelined_connect_subscribe_publish(self):
        # CONNECT, SUBSCRIBE and PUBLISH in one write: all processed in order.
        t = self.topic()
        c = self.client()
        c.send(connect(self.uid()) + subscribe(1, [(t, 0)]) + publish(t, b'piped'))
        c.expect(connack(False, 0))
        c.expect(b'\x90\x03\x00\x01\x00')
        c.expect_publish(t, b'piped')


class NoZeroLengthIdTest(BrokerTest):
    CONFIG = {'allow_zero_length_clientid': False}

    def test_zero_length_id_refused_when_disabled(self):
        c = self.client()
        c.send(connect('', clean=True))
        c.expect(connack(False, 2))
        c.expect_closed()
        self.connected('has-an-id')


if __name__ == '__main__':
    unittest.main()
