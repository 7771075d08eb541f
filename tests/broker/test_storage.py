"""Storage (mqchatd only): publishes on store.spool_topics get a row in the
SQLite spool (data_dir/mqchat.db) before their PUBACK/PUBREC, and the
archiver copies each into the `messages` table exactly once; bodies and
topics byte for byte whatever they hold; acknowledgements still in the
order of the PUBLISH packets (MQTT-4.6.0-2) when some wait for the spool
and others do not; the spool cap (store.spool_max_bytes: MQTT 5 0x97,
MQTT 3.1.1 closed without PUBACK, QoS 0 dropped, nothing refused
delivered); start-up (a corrupt database moved aside, a nested data_dir
created, bad store.* values refused); the $SYS/broker/store/* topics.

Restarts, kill -9 and MySQL are in test_storage_crash.py, which imports the
helpers below (StorageTest has no tests of its own).

The database is read with Python's sqlite3, read-only (file:...?mode=ro);
the broker uses WAL, so reading beside it is fine. Every wait is bounded.
"""

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import uuid

from broker import (MOSQUITTO, PINGREQ, PINGRESP, WAIT, Broker, BrokerTest5, Client, Closed,
                    Publish, Publish5, RC_SUCCESS, broker_binary, connack, free_port, puback,
                    puback5, pubcomp5, publish, publish5, pubrel5)

mqchatd_only = unittest.skipIf(MOSQUITTO, 'storage (store.*, mysql.url) is mqchatd only')

RC_QUOTA_EXCEEDED = 0x97
SPOOLED = 's/#'


def closed_port():
    """A loopback port nothing listens on (bound and released)."""
    return free_port()


def poll(fn, timeout=10.0, interval=0.05):
    """Calls fn until it returns something true or timeout passes; returns
    its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# ---------------------------------------------------------------------------
# MySQL / MariaDB, through the `mariadb` command-line client.

MYSQL_URL = os.environ.get('MQCHAT_TEST_MYSQL_URL', '')
MARIADB_DIR = os.environ.get('MQCHAT_TEST_MARIADB_DIR', '')
REQUIRE_MYSQL = os.environ.get('MQCHAT_REQUIRE_MYSQL') == '1'
MARIADB_CLIENT = shutil.which('mariadb') or shutil.which('mysql')


class MySQL:
    """A fresh database (mqtest_<unique>) on the server of MQCHAT_TEST_MYSQL_URL,
    dropped by drop(). url is the broker's mysql.url for it."""

    def __init__(self, base_url=MYSQL_URL):
        u = urllib.parse.urlsplit(base_url)
        self.host = u.hostname or '127.0.0.1'
        self.port = u.port or 3306
        self.user = urllib.parse.unquote(u.username or '')
        self.password = urllib.parse.unquote(u.password or '')
        self.name = 'mqtest_%d_%s' % (os.getpid(), uuid.uuid4().hex[:10])
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, '/' + self.name, '', ''))
        self.sql('CREATE DATABASE %s CHARACTER SET utf8mb4' % self.name, db='')

    def sql(self, text, db=None, timeout=20):
        """Runs text; returns the rows (lists of str, tab-separated -N -B output)."""
        argv = [MARIADB_CLIENT, '--no-defaults', '-h', self.host, '-P', str(self.port),
                '-u', self.user, '-p' + self.password, '--connect-timeout=3', '-N', '-B',
                '-e', text]
        if db != '':
            argv.append(db or self.name)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError('mariadb %r: %s' % (text, r.stderr.decode(errors='replace')))
        return [line.split('\t') for line in r.stdout.decode().splitlines()]

    def try_sql(self, text):
        """sql(), or None when the server does not answer."""
        try:
            return self.sql(text)
        except (RuntimeError, subprocess.TimeoutExpired):
            return None

    def drop(self):
        try:
            self.sql('DROP DATABASE IF EXISTS %s' % self.name, db='')
        except (RuntimeError, subprocess.TimeoutExpired):
            pass


def mysql_or_skip(test, need_dir=False):
    """A fresh MySQL database for test (dropped at cleanup), or skipTest /
    fail (MQCHAT_REQUIRE_MYSQL=1) when there is no server to use."""
    why = None
    if not MYSQL_URL:
        why = 'MQCHAT_TEST_MYSQL_URL not set'
    elif not MARIADB_CLIENT:
        why = 'no mariadb/mysql command-line client'
    elif need_dir and not MARIADB_DIR:
        why = 'MQCHAT_TEST_MARIADB_DIR not set (needed to stop and start the server)'
    if why:
        if REQUIRE_MYSQL:
            test.fail('MQCHAT_REQUIRE_MYSQL=1 but ' + why)
        test.skipTest(why)
    db = MySQL()
    test.addCleanup(db.drop)
    return db


def mariadb_ctl(cmd, timeout=90):
    """sh tests/mariadb.sh kill|start-again MQCHAT_TEST_MARIADB_DIR."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'mariadb.sh')
    r = subprocess.run(['sh', script, cmd, MARIADB_DIR], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError('mariadb.sh %s failed: %s' % (cmd, r.stdout.decode(errors='replace')))


# ---------------------------------------------------------------------------

class StorageTest(BrokerTest5):
    """BrokerTest5 with the node's database at hand. CONFIG spools s/#."""

    CONFIG = {'store.spool_topics': SPOOLED}

    def stopic(self, suffix=''):
        """A topic of this test under the spooled s/#."""
        return 's/' + self.topic(suffix)[2:]

    def db_path(self, b=None):
        return (b or self.broker).path(os.path.join('data', 'mqchat.db'))

    def rows(self, sql, args=(), b=None):
        """The rows of sql on the broker's database (opened read-only)."""
        con = sqlite3.connect('file:%s?mode=ro' % self.db_path(b), uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def spool_rows(self, topic):
        return self.rows('SELECT topic, sender, body, type, node, ts_ms, id FROM spool '
                         'WHERE topic = ? ORDER BY seq', (topic.encode(),))

    def archived_rows(self, topic):
        return self.rows('SELECT topic, sender, body, type, node, ts_ms, id FROM messages '
                         'WHERE topic = ? ORDER BY id', (topic.encode(),))

    def wait_archived(self, topic, n, timeout=10.0):
        """The archive rows of topic once there are at least n (bounded)."""
        got = poll(lambda: len(self.archived_rows(topic)) >= n and self.archived_rows(topic),
                   timeout)
        got = self.archived_rows(topic)
        self.assertGreaterEqual(len(got), n, 'topic %r: %d archived rows after %.0f s, want %d'
                                % (topic, len(got), timeout, n))
        return got

    def restart(self, kill=False):
        """Stops the broker (SIGTERM, exit 0 checked; or SIGKILL) and starts it
        again on the same data_dir and config (a new port: self.port)."""
        b = self.broker
        for c in self.clients:
            c.close()
        if kill:
            if b.proc.poll() is None:     # (it may be dead already: killed by the test)
                os.kill(b.proc.pid, signal.SIGKILL)
            b.proc.wait(timeout=10)
        else:
            rc = b.stop()
            self.assertEqual(rc, 0, 'broker exited with %s on SIGTERM\n%s' % (rc, b.log_tail()))
        b.proc = None
        b.returncode = None
        b.crashed = False
        b.start()
        self.port = b.port
        return b

    def sys_values(self, c, want, timeout, until=None, seen=None):
        """Reads $SYS PUBLISH packets on c; returns {topic: latest payload} once
        every topic in want was seen and until(values) (if given) holds, or
        when timeout passes. seen: values from before, updated."""
        seen = {} if seen is None else seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(t in seen for t in want) and (until is None or until(seen)):
                break
            try:
                raw = c.read(max(0.0, deadline - time.monotonic()))
            except Closed:
                self.fail('$SYS subscriber disconnected')
            if raw is None:
                break
            if raw[0] >> 4 != 3:
                continue
            p = Publish(raw)
            seen[p.topic] = p.payload.decode()
        return seen


# ---------------------------------------------------------------------------

@mqchatd_only
class SpoolTest(StorageTest):
    CONFIG = {'store.spool_topics': SPOOLED + ' other/+/x', 'node.id': 7}

    def check_row(self, row, topic, sender, body):
        self.assertEqual(bytes(row[0]), topic.encode(), 'topic')
        self.assertEqual(bytes(row[1]), sender.encode(), 'sender')
        self.assertEqual(bytes(row[2]), body, 'body (%d bytes stored, %d sent)'
                         % (len(row[2]), len(body)))
        self.assertEqual(bytes(row[3], 'ascii') if isinstance(row[3], str) else bytes(row[3]),
                         b'mqtt', 'type')
        self.assertEqual(row[4], 7, 'node (node.id 7)')
        now_ms = time.time() * 1000
        self.assertLess(abs(row[5] - now_ms), 120000, 'ts_ms %d is not about now' % row[5])

    def test_v3_qos1_spooled_then_archived_once(self):
        t = self.stopic('v3')
        plain = 'n/%s' % self.uid('plain')
        p = self.connected(self.uid('pub'), username='alice')
        p.do_publish(plain, b'not kept', 1)
        p.do_publish(t, b'kept \x00 body', 1)
        # The PUBACK came after the commit: the row is there now, no polling.
        rows = self.spool_rows(t)
        self.assertEqual(len(rows), 1, 'spool rows right after PUBACK: %r' % rows)
        self.check_row(rows[0], t, 'alice', b'kept \x00 body')
        arch = self.wait_archived(t, 1)
        self.check_row(arch[0], t, 'alice', b'kept \x00 body')
        self.assertEqual(arch[0][6], rows[0][6], 'archived under the spool row id')
        # The non-spooled topic left no row anywhere.
        self.assertEqual(self.spool_rows(plain), [])
        self.assertEqual(self.archived_rows(plain), [])
        # Exactly once, also a moment later.
        time.sleep(0.3)
        self.assertEqual(len(self.archived_rows(t)), 1)
        self.assertEqual(len(self.spool_rows(t)), 1, 'retention_days 7 keeps the spool row')

    def test_sender_is_client_id_without_user_name(self):
        t = self.stopic()
        cid = self.uid('anon')
        self.connected(cid).do_publish(t, b'from an id', 1)
        self.check_row(self.spool_rows(t)[0], t, cid, b'from an id')
        self.check_row(self.wait_archived(t, 1)[0], t, cid, b'from an id')

    def test_v5_qos1_and_qos2_spooled(self):
        t1, t2 = self.stopic('q1'), 'other/%s/x' % self.uid('q2')
        p = self.connected5(self.uid('pub5'), username='bob')
        p.do_publish5(t1, b'five \xff\x00', 1)
        self.check_row(self.spool_rows(t1)[0], t1, 'bob', b'five \xff\x00')
        p.do_publish5(t2, b'exactly once', 2)
        rows = self.spool_rows(t2)
        self.assertEqual(len(rows), 1, rows)
        self.check_row(rows[0], t2, 'bob', b'exactly once')
        self.check_row(self.wait_archived(t1, 1)[0], t1, 'bob', b'five \xff\x00')
        self.assertEqual(len(self.wait_archived(t2, 1)), 1)
        time.sleep(0.3)
        self.assertEqual(len(self.archived_rows(t1)), 1)
        self.assertEqual(len(self.archived_rows(t2)), 1)

    def test_qos0_spooled_too(self):
        t = self.stopic()
        s = self.subscriber(t, 0)
        p = self.connected(self.uid('pub'))
        p.do_publish(t, b'qos zero', 0)
        s.expect_publish(t, b'qos zero', 0)
        rows = poll(lambda: self.spool_rows(t), 5.0)
        self.assertEqual(len(rows), 1, 'QoS 0 on a spooled topic: spool rows %r' % rows)
        self.assertEqual(bytes(rows[0][2]), b'qos zero')
        self.assertEqual(len(self.wait_archived(t, 1)), 1)

    def test_hostile_payloads_and_topics_byte_for_byte(self):
        big = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(100 * 1024))
        cases = [
            ('s/nul', b'\x00\x00a\x00b\x00'),
            ('s/quotes', b'it\'s "quoted" \'\' ""'),
            ('s/backslash', b'back\\slash \\\\ \\0 \\n \\\' \\"'),
            ('s/inject', b"'); DROP TABLE spool;--"),
            ('s/inject2', b'"); DROP TABLE messages; -- \' OR 1=1 --'),
            ('s/emoji', '\U0001F600 \U0001F4A9 \u00e9 \u4e2d'.encode()),
            ('s/binary', big),
            ('s/empty', b''),
            ("s/it's", b'topic with a single quote'),
            ('s/"dq"/x', b'topic with double quotes'),
            ("s/'); DROP TABLE spool;--", b'topic that injects'),
            ('s/back\\slash/\U0001F600', b'topic with a backslash and an emoji'),
        ]
        s = self.subscriber('s/#', 1)
        p = self.connected(self.uid('pub'), username="o'hara \"x\"")
        for topic, body in cases:
            p.do_publish(topic, body, 1)
            s.receive(topic, body, 1, msg='(delivered unchanged)')
        for topic, body in cases:
            rows = self.spool_rows(topic)
            self.assertEqual(len(rows), 1, 'spool rows of %r: %d' % (topic, len(rows)))
            self.check_row(rows[0], topic, "o'hara \"x\"", body)
        for topic, body in cases:
            arch = self.wait_archived(topic, 1)
            self.assertEqual(len(arch), 1, 'archived rows of %r' % topic)
            self.check_row(arch[0], topic, "o'hara \"x\"", body)
        # Both tables still there, nothing else in them.
        self.assertEqual(self.rows('SELECT COUNT(*) FROM spool')[0][0], len(cases))
        self.assertEqual(self.rows('SELECT COUNT(*) FROM messages')[0][0], len(cases))

    def test_v5_hostile_payload_large(self):
        t = self.stopic()
        body = os.urandom(100 * 1024) + b"\x00'\"\\"
        p = self.connected5(self.uid('pub5'))
        p.do_publish5(t, body, 1)
        self.assertEqual(bytes(self.spool_rows(t)[0][2]), body)
        self.assertEqual(bytes(self.wait_archived(t, 1)[0][2]), body)


@mqchatd_only
class AckOrderTest(StorageTest):
    """Acknowledgements leave in the order of the PUBLISH packets even when a
    spooled one waits for its commit and a later plain one does not
    (MQTT-4.6.0-2). durability full makes the commits slower."""

    CONFIG = {'store.spool_topics': SPOOLED, 'store.durability': 'full'}

    def test_v5_pipelined_acks_in_order(self):
        c = self.connected5(self.uid('pipe'))
        t = self.topic()
        for rnd in range(10):
            base = rnd * 4
            data = (publish5('s/' + t + '/a', b'spooled 1', 1, mid=base + 1)
                    + publish5('n/' + t + '/a', b'plain 1', 1, mid=base + 2)
                    + publish5('s/' + t + '/b', b'spooled 2', 2, mid=base + 3)
                    + publish5('n/' + t + '/b', b'plain 1 again', 1, mid=base + 4))
            c.send(data)   # one write
            got = []
            for _ in range(4):
                raw = c.expect_packet(msg='(ack %d of round %d)' % (len(got) + 1, rnd))
                got.append((raw[0] >> 4, raw[2] << 8 | raw[3], raw))
            want = [(4, base + 1), (4, base + 2), (5, base + 3), (4, base + 4)]
            self.assertEqual([(k, m) for k, m, _ in got], want,
                             'round %d: acks %s' % (rnd, [r.hex(' ') for _, _, r in got]))
            for _, _, raw in got:
                self.assertIn(len(raw), (4, 5, 6), raw.hex(' '))
                if len(raw) > 4:
                    self.assertEqual(raw[4], RC_SUCCESS, raw.hex(' '))
            c.send(pubrel5(base + 3))
            c.expect_ack5(7, base + 3, msg='(PUBCOMP)')
        self.assertEqual(len(self.spool_rows('s/' + t + '/a')), 10)
        self.assertEqual(len(self.spool_rows('s/' + t + '/b')), 10)

    def test_v3_pipelined_acks_in_order(self):
        c = self.connected(self.uid('pipe3'))
        t = self.topic()
        data = b''
        for i in range(1, 41):
            data += publish(('s/' if i % 2 else 'n/') + t, b'm%d' % i, 1, mid=i)
        c.send(data)
        for i in range(1, 41):
            c.expect(puback(i), msg='(PUBACK %d of 40, in order)' % i)


@mqchatd_only
class SpoolCapTest(StorageTest):
    """Nothing can be archived (mysql.url points at a closed port), so the
    spool fills up to store.spool_max_bytes and spooled publishes are
    refused from then on."""

    @classmethod
    def setUpClass(cls):
        cls.CONFIG = {'store.spool_topics': SPOOLED, 'store.spool_max_bytes': 2000,
                      'mysql.url': 'mysql://nobody:nothing@127.0.0.1:%d/none' % closed_port(),
                      'sys_interval': 1}
        super().setUpClass()

    def fill(self, sub, topic):
        """Publishes 500-byte spooled QoS 1 messages (MQTT 5) until one is
        refused; the subscriber gets each accepted one. Returns the publisher,
        the number accepted and the refused body."""
        p = self.connected5(self.uid('filler'))
        for i in range(20):
            body = (b'%04d' % i) * 125
            m = p.mid()
            p.send(publish5(topic, body, 1, mid=m))
            raw = p.expect_packet(msg='(PUBACK %d)' % i)
            a = decode_ack(raw)
            self.assertEqual((a[0], a[1]), (4, m), raw.hex(' '))
            if a[2] == RC_QUOTA_EXCEEDED:
                return p, i, body
            self.assertEqual(a[2], RC_SUCCESS, 'PUBACK %s' % raw.hex(' '))
            sub.receive(topic, body, 1)
        self.fail('20 x 500 bytes accepted with store.spool_max_bytes 2000')

    def test_spool_full_refuses(self):
        t = self.stopic()
        sub = self.subscriber([(t, 1), ('n/' + t, 1)], 0, client_id=self.uid('sub'))
        sysc = self.connected(self.uid('sys'))
        sysc.do_subscribe([('$SYS/broker/store/#', 0)])
        p5, accepted, refused_body = self.fill(sub, t)
        self.assertGreaterEqual(accepted, 3, 'refused after only %d x 500 bytes' % accepted)
        sub.expect_nothing(msg='(a refused publish is not delivered)')
        # Refused again (MQTT 5), and QoS 2 gets PUBREC 0x97.
        p5.do_publish5(t, b'again', 1, reason=RC_QUOTA_EXCEEDED)
        p5.do_publish5(t, b'qos2 refused', 2, reason=RC_QUOTA_EXCEEDED)
        # MQTT 3.1.1: the connection is closed without PUBACK.
        p3 = self.connected(self.uid('v3'))
        p3.send(publish(t, b'v3 refused', 1, mid=9))
        p3.expect_closed(msg='(MQTT 3.1.1 publish to a full spool: closed, no PUBACK)')
        # QoS 0: dropped, the connection stays.
        q0 = self.connected(self.uid('q0'))
        q0.do_publish(t, b'qos0 dropped', 0)
        sub.expect_nothing(msg='(no refused message delivered, QoS 0 included)')
        # Topics that are not spooled still work.
        q0.do_publish('n/' + t, b'plain still fine', 1)
        p5.do_publish5('n/' + t, b'plain v5 fine', 1)
        sub.receive('n/' + t, b'plain still fine', 1)
        sub.receive('n/' + t, b'plain v5 fine', 1)
        sub.expect_nothing()
        # Nothing refused was stored.
        bodies = [bytes(r[2]) for r in self.spool_rows(t)]
        self.assertEqual(len(bodies), accepted, 'spool rows: %d, accepted %d'
                         % (len(bodies), accepted))
        for b in (refused_body, b'again', b'qos2 refused', b'v3 refused', b'qos0 dropped'):
            self.assertNotIn(b, bodies)
        # $SYS: refused counted, archive down, bytes at the cap.
        seen = self.sys_values(sysc, ['$SYS/broker/store/spool/refused',
                                      '$SYS/broker/store/archive/up',
                                      '$SYS/broker/store/spool/bytes'], 3.0 + WAIT,
                               until=lambda v: int(v.get('$SYS/broker/store/spool/refused', 0)) >= 5
                               and v.get('$SYS/broker/store/archive/up') == '0')
        self.assertGreaterEqual(int(seen.get('$SYS/broker/store/spool/refused', 0)), 5, seen)
        self.assertEqual(seen.get('$SYS/broker/store/archive/up'), '0', seen)
        self.assertGreaterEqual(int(seen.get('$SYS/broker/store/spool/bytes', 0)), 2000, seen)
        self.assertRegex(self.broker.log, r'warn.*spool full.*refused',
                         'no warning about the full spool in the log')


def decode_ack(raw):
    """(type, packet id, reason) of a PUBACK/PUBREC of any length."""
    reason = raw[4] if len(raw) > 4 else 0
    return raw[0] >> 4, raw[2] << 8 | raw[3], reason


@mqchatd_only
class SysStoreTest(StorageTest):
    CONFIG = {'store.spool_topics': SPOOLED, 'sys_interval': 1}

    NAMES = ['spool/bytes', 'spool/lag', 'spool/appended', 'spool/refused', 'archive/messages',
             'archive/rate', 'archive/up', 'archive/errors']

    def test_store_sys_topics(self):
        want = ['$SYS/broker/store/' + n for n in self.NAMES]
        c = self.connected(self.uid('sys'))
        c.do_subscribe([('$SYS/broker/store/#', 0)])
        first = self.sys_values(c, want, 3.0 + WAIT)
        self.assertEqual(sorted(first), sorted(want), 'published: %r' % first)
        for k, v in first.items():
            self.assertRegex(v, r'^\d+$', k)
        self.assertEqual(first['$SYS/broker/store/archive/up'], '1')
        self.assertEqual(first['$SYS/broker/store/archive/errors'], '0')
        self.assertEqual(first['$SYS/broker/store/spool/refused'], '0')
        base = int(first['$SYS/broker/store/spool/appended'])
        p = self.connected(self.uid('pub'))
        for i in range(5):
            p.do_publish(self.stopic(str(i)), b'x' * 100, 1)
        p.do_publish('n/' + self.topic(), b'not spooled', 1)
        seen = self.sys_values(c, want, 3.0 + WAIT, until=lambda v: (
            int(v['$SYS/broker/store/spool/appended']) >= base + 5
            and int(v['$SYS/broker/store/archive/messages']) >= 5), seen=first)
        self.assertEqual(int(seen['$SYS/broker/store/spool/appended']), base + 5, seen)
        self.assertEqual(int(seen['$SYS/broker/store/archive/messages']), 5, seen)
        self.assertEqual(seen['$SYS/broker/store/archive/up'], '1')
        # Once archived, nothing waits: bytes and lag come back to 0.
        seen = self.sys_values(c, want, 3.0 + WAIT, until=lambda v: (
            v['$SYS/broker/store/spool/bytes'] == '0' and v['$SYS/broker/store/spool/lag'] == '0'),
            seen=seen)
        self.assertEqual(seen['$SYS/broker/store/spool/bytes'], '0', seen)
        self.assertEqual(seen['$SYS/broker/store/spool/lag'], '0', seen)


# ---------------------------------------------------------------------------
# Start-up.

@mqchatd_only
class StartupTest(StorageTest):
    """No broker per test: each test makes its own."""

    def setUp(self):
        self.clients = []
        self.brokers = []
        self._n = 0
        self.broker = None

    def new_broker(self, config):
        b = Broker(config)
        b.check_exit = True
        self.brokers.append(b)
        self.addCleanup(b.cleanup)
        self.broker = b
        return b

    def start(self, b):
        b.start()
        self.port = b.port
        return b

    def test_corrupt_database_moved_aside(self):
        b = self.new_broker({'store.spool_topics': SPOOLED})
        os.makedirs(b.path('data'))
        garbage = bytes((i * 131 + 17) & 0xFF for i in range(4096))
        with open(b.path('data/mqchat.db'), 'wb') as f:
            f.write(garbage)
        self.start(b)
        aside = [n for n in os.listdir(b.path('data')) if re.match(r'^mqchat\.db\.corrupt-\d+$', n)]
        self.assertEqual(len(aside), 1, 'files in data_dir: %s' % os.listdir(b.path('data')))
        with open(b.path('data/' + aside[0]), 'rb') as f:
            self.assertEqual(f.read(), garbage, 'the corrupt file is kept as it was')
        self.assertRegex(b.log, r'error.*mqchat\.db.*corrupt.*' + re.escape(aside[0]),
                         'no error line naming the moved-aside file')
        # The fresh database works.
        t = self.stopic()
        self.connected(self.uid('pub')).do_publish(t, b'fresh', 1)
        self.assertEqual(bytes(self.spool_rows(t)[0][2]), b'fresh')
        self.assertEqual(len(self.wait_archived(t, 1)), 1)

    def test_nested_data_dir_created(self):
        b = self.new_broker({'store.spool_topics': SPOOLED})
        nested = b.path('deep/er/data')
        b.config['data_dir'] = nested   # written after the harness's own data_dir line
        self.start(b)
        self.assertTrue(os.path.isfile(os.path.join(nested, 'mqchat.db')),
                        'no mqchat.db in the nested data_dir')
        self.connected(self.uid('pub')).do_publish('s/nested', b'here', 1)
        con = sqlite3.connect('file:%s?mode=ro' % os.path.join(nested, 'mqchat.db'), uri=True)
        try:
            self.assertEqual(con.execute("SELECT body FROM spool WHERE topic = CAST('s/nested' AS BLOB)")
                             .fetchall(), [(b'here',)])
        finally:
            con.close()

    def test_durability_full_accepted(self):
        b = self.start(self.new_broker({'store.spool_topics': SPOOLED, 'store.durability': 'full'}))
        self.assertIn('durability full', b.log)
        self.connected(self.uid('pub')).do_publish('s/full', b'synced', 1)
        self.assertEqual(len(self.rows('SELECT * FROM spool')), 1)

    def run_conf(self, lines):
        """Runs mqchatd on a config of lines; returns (exit status, output)."""
        d = tempfile.mkdtemp(prefix='mqchat-conf-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'bad.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(['port %d' % free_port(), 'bind_address 127.0.0.1',
                               'data_dir %s' % os.path.join(d, 'data')] + lines) + '\n')
        try:
            r = subprocess.run([broker_binary(), '-c', path], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10, cwd=d)
        except subprocess.TimeoutExpired:
            self.fail('mqchatd with %r did not exit within 10 s' % lines)
        return r.returncode, r.stdout.decode(errors='replace'), path

    def test_durability_bad_value_refused(self):
        rc, out, path = self.run_conf(['store.durability maybe'])
        self.assertNotEqual(rc, 0, 'store.durability maybe accepted')
        self.assertIn('store.durability', out)
        self.assertRegex(out, re.escape(path) + r':4\b')

    def test_bad_spool_topic_refused(self):
        rc, out, _ = self.run_conf(['store.spool_topics a/# bad/#/x'])
        self.assertNotEqual(rc, 0, 'a bad filter in store.spool_topics accepted')
        self.assertIn('store.spool_topics', out)
        self.assertIn('bad/#/x', out)


if __name__ == '__main__':
    unittest.main()
