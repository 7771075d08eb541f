"""clusterlib.py - what the cluster suites (tests/cluster/test_*.py) share.

The cluster suites test doc/cluster.md end to end: several real mqchatd
nodes (tests/broker/broker.py starts each on free MQTT and HTTP ports, with
its own config and data_dir in a temporary directory), node.id 1, 2, 3...,
one Redis (or a three-master Redis Cluster) and one MySQL database shared by
the nodes of a test class. MQTT is spoken packet by packet (broker.py's
Client and Client5), HTTP through chatlib.http (curl).

Servers:
  MQCHAT_TEST_REDIS_URL          a Redis every class that does not kill its
                                 Redis shares (each class has its own
                                 redis.prefix, so classes never see each
                                 other's channels). Unset: the module
                                 starts its own (tests/redis.sh start).
  MQCHAT_TEST_REDIS_CLUSTER_URL  one master of a Redis Cluster for the
                                 cluster-mode test. Unset: the module starts
                                 one (tests/redis.sh cluster-start).
  MQCHAT_TEST_MYSQL_URL          the MariaDB/MySQL server; every class gets
                                 a database of its own (mqcl_<random>),
                                 dropped afterwards. Unset: the suite skips
                                 (fails with MQCHAT_REQUIRE_MYSQL=1).
  MQCHAT_REQUIRE_REDIS=1         a missing redis-server fails instead of
                                 skipping (run.sh sets it).
A class that kills its Redis (the outage test) always starts its own server
with tests/redis.sh, so that modules running at the same time are not hit.

Exactly-once is checked with the envelopes' ids: an Inbox records every
PUBLISH a client gets; no id may come twice to one client, the same text
carries the same id everywhere, two texts never share an id.

Cross-node delivery starts once the receiving node has subscribed to the
channel in Redis (doc/cluster.md: when the SUBSCRIBE is handled). Tests wait
for it with probes (sync()): messages published until every receiver has
one; measured sequences come after, and readers tell probes apart by text.
Every wait is bounded.
"""

import collections
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, 'chat'))
sys.path.insert(0, os.path.join(TESTS, 'broker'))

import broker  # noqa: E402
import chatlib  # noqa: E402
from broker import QUIET, WAIT, Client5, Publish, Publish5, puback  # noqa: E402
from chatlib import (PREFIX, SERVICE_KEY, FeatureTest, feature_config, json_or_none,  # noqa: E402
                     mint, poll)

REDIS_SH = os.path.join(TESTS, 'redis.sh')
REDIS_CLI = shutil.which('redis-cli')
REDIS_SERVER = shutil.which('redis-server')
MARIADB_CLIENT = shutil.which('mariadb') or shutil.which('mysql')

REDIS_URL = os.environ.get('MQCHAT_TEST_REDIS_URL', '')
REDIS_CLUSTER_URL = os.environ.get('MQCHAT_TEST_REDIS_CLUSTER_URL', '')
MYSQL_URL = os.environ.get('MQCHAT_TEST_MYSQL_URL', '')
REQUIRE_MYSQL = os.environ.get('MQCHAT_REQUIRE_MYSQL') == '1'
REQUIRE_REDIS = os.environ.get('MQCHAT_REQUIRE_REDIS') == '1'

# doc/cluster.md and doc/protocol.md numbers the tests rely on.
CONTROL_EFFECT_S = 1.0      # "reach every node's in-memory cache within a second"
RESUME_S = 10.0             # cross-node delivery back after Redis returns (backoff <= 5 s)
SYNC_S = 10.0               # cross-node delivery starting after a SUBSCRIBE
MSGID_EPOCH_MS = 1704067200000
MSGID_NODE_BITS = 10
MSGID_SEQ_BITS = 12


def msgid_node(i):
    """The node id inside a message id (broker/msgid.h)."""
    return (int(i) >> MSGID_SEQ_BITS) & ((1 << MSGID_NODE_BITS) - 1)


def msgid_ms(i):
    """The Unix ms inside a message id."""
    return (int(i) >> (MSGID_SEQ_BITS + MSGID_NODE_BITS)) + MSGID_EPOCH_MS


def crc16_xmodem(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def key_slot(key):
    """The Redis Cluster hash slot of key (hash tags honoured)."""
    k = key.encode() if isinstance(key, str) else key
    s = k.find(b'{')
    if s >= 0:
        e = k.find(b'}', s + 1)
        if e > s + 1:
            k = k[s + 1:e]
    return crc16_xmodem(k) % 16384


def hostport(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname or '127.0.0.1', u.port or 6379


def redis_cli(url, *args, timeout=10):
    """redis-cli against url; returns stdout lines."""
    host, port = hostport(url)
    r = subprocess.run([REDIS_CLI, '-h', host, '-p', str(port)] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError('redis-cli %s: %s' % (' '.join(map(str, args)),
                                                 r.stderr.decode(errors='replace')))
    return r.stdout.decode(errors='replace').splitlines()


def numsub(url, channel):
    """PUBSUB NUMSUB channel: connections subscribed to it on that server."""
    out = redis_cli(url, 'PUBSUB', 'NUMSUB', channel)
    return int(out[1]) if len(out) >= 2 else 0


def shardnumsub(url, channel):
    out = redis_cli(url, 'PUBSUB', 'SHARDNUMSUB', channel)
    return int(out[1]) if len(out) >= 2 else 0


def cluster_masters(url):
    """[(first slot, last slot, 'redis://host:port')] of a Redis Cluster,
    from CLUSTER NODES."""
    masters = []
    for line in redis_cli(url, 'CLUSTER', 'NODES'):
        f = line.split()
        if len(f) < 8 or 'master' not in f[2].split(','):
            continue
        addr = f[1].split('@')[0]
        for r in f[8:]:
            if r.startswith('['):
                continue        # a slot being migrated
            a, _, b = r.partition('-')
            masters.append((int(a), int(b or a), 'redis://' + addr))
    return sorted(masters)


def master_of(masters, slot):
    for first, last, url in masters:
        if first <= slot <= last:
            return url
    raise AssertionError('slot %d owned by no master in %r' % (slot, masters))


# ---------------------------------------------------------------------------
# Servers: Redis through tests/redis.sh, MySQL databases.

class RedisServer:
    """A Redis (or a three-master Redis Cluster) of tests/redis.sh in a
    temporary directory. Registered with broker's live set, so that a runner
    stopping this process on its time limit stops it too."""

    def __init__(self, cluster=False, args=()):
        self.cluster = cluster
        self.args = list(args)      # redis-server arguments (--requirepass X)
        self.dir = tempfile.mkdtemp(prefix='mqchat-redis-')
        self.url = None

    def _sh(self, cmd, timeout=90, args=()):
        r = subprocess.run(['sh', REDIS_SH, cmd, self.dir] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError('tests/redis.sh %s %s failed (%d): %s'
                               % (cmd, self.dir, r.returncode,
                                  (r.stdout + r.stderr).decode(errors='replace')))
        return r.stdout.decode().strip()

    def start(self):
        self.url = self._sh('cluster-start' if self.cluster else 'start',
                            args=self.args).splitlines()[-1]
        broker._live.add(self)
        return self

    def kill(self):
        self._sh('kill')

    def start_again(self):
        self._sh('start-again')

    def stop(self):
        try:
            self._sh('cluster-stop' if self.cluster else 'stop')
        finally:
            broker._live.discard(self)
            shutil.rmtree(self.dir, ignore_errors=True)


_module_servers = {}


def shared_redis(cluster=False):
    """The URL of the Redis (cluster=False) or Redis Cluster this process
    shares: the one run.sh names, else one started here (stopped at exit)."""
    env = REDIS_CLUSTER_URL if cluster else REDIS_URL
    if env:
        return env
    if cluster not in _module_servers:
        _module_servers[cluster] = RedisServer(cluster).start()
    return _module_servers[cluster].url


def stop_module_servers():
    for s in list(_module_servers.values()):
        s.stop()
    _module_servers.clear()


def tearDownModule():
    """Test modules import this name (from clusterlib import
    tearDownModule) so that unittest stops the servers they started."""
    stop_module_servers()


class MySQL:
    """A fresh database (mqcl_<random>) on the server of
    MQCHAT_TEST_MYSQL_URL; url is the nodes' mysql.url for it."""

    def __init__(self, base_url=MYSQL_URL):
        u = urllib.parse.urlsplit(base_url)
        self.host = u.hostname or '127.0.0.1'
        self.port = u.port or 3306
        self.user = urllib.parse.unquote(u.username or '')
        self.password = urllib.parse.unquote(u.password or '')
        self.name = 'mqcl_%d_%s' % (os.getpid(), secrets.token_hex(5))
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, '/' + self.name, u.query, ''))
        self.sql('CREATE DATABASE %s CHARACTER SET utf8mb4' % self.name, db='')

    def sql(self, text, db=None, timeout=20):
        argv = [MARIADB_CLIENT, '--no-defaults', '-h', self.host, '-P', str(self.port),
                '-u', self.user, '-p' + self.password, '--connect-timeout=3', '-N', '-B',
                '-e', text]
        if db != '':
            argv.append(db or self.name)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError('mariadb %r: %s' % (text, r.stderr.decode(errors='replace')))
        return [line.split('\t') for line in r.stdout.decode().splitlines()]

    def drop(self):
        try:
            self.sql('DROP DATABASE IF EXISTS %s' % self.name, db='')
        except (RuntimeError, subprocess.TimeoutExpired):
            pass


def need_servers(redis=True):
    """Raises SkipTest (or fails, when run.sh requires them) when the
    servers a cluster test needs are missing."""
    why = None
    if broker.MOSQUITTO:
        raise unittest.SkipTest('the cluster suite is mqchatd only')
    if not MYSQL_URL:
        why = ('MQCHAT_TEST_MYSQL_URL not set', REQUIRE_MYSQL)
    elif not MARIADB_CLIENT:
        why = ('no mariadb/mysql command-line client', REQUIRE_MYSQL)
    elif redis and not (REDIS_SERVER and REDIS_CLI):
        why = ('redis-server or redis-cli missing', REQUIRE_REDIS)
    if why:
        if why[1]:
            raise AssertionError('required but ' + why[0])
        raise unittest.SkipTest(why[0])


# ---------------------------------------------------------------------------
# Nodes.

class Node(broker.Broker):
    """One mqchatd of a cluster; node_id is its node.id."""

    def __init__(self, node_id, config):
        super().__init__(config)
        self.node_id = node_id
        self.killed = False
        self.name = 'node%d' % node_id

    def log_tail(self, n=40):
        return super().log_tail(n).replace('--- broker log', '--- %s log' % self.name, 1)

    def sigkill(self):
        """SIGKILL; the process is reaped and not checked at the end."""
        self.killed = True
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.returncode = self.proc.returncode
        broker._live.discard(self)


def node_config(node_id, redis_url, prefix, mysql_url, extra=None):
    c = feature_config({'node.id': node_id, 'redis.url': redis_url, 'redis.prefix': prefix,
                        'mysql.url': mysql_url})
    c.update(extra or {})
    return c


def parse_metrics(text):
    """Prometheus text -> {'name' or 'name{labels}': float}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        try:
            k, v = line.rsplit(None, 1)
            out[k] = float(v)
        except ValueError:
            continue
    return out


# ---------------------------------------------------------------------------
# Reading: every PUBLISH a client gets, recorded.

class Inbox:
    """Everything a client receives, acknowledged and recorded as
    (monotonic time, publish, JSON object or None, text) where text is the
    envelope's text (the raw payload for plain MQTT)."""

    def __init__(self, test, client, name=None):
        self.test = test
        self.c = client
        self.name = name or client.name
        self.got = []

    def _ack(self, p):
        if isinstance(self.c, Client5):
            self.c.ack(p)
        elif p.qos == 1:
            self.c.send(puback(p.mid))
        elif p.qos == 2:
            self.c.send(broker.pubrec(p.mid))
            self.c.expect_ack(broker.pubrel(p.mid))
            self.c.send(broker.pubcomp(p.mid))

    def pump(self, duration=0.0):
        """Reads whatever comes within duration seconds (at least what is
        already buffered)."""
        deadline = time.monotonic() + duration
        while True:
            left = max(0.0, deadline - time.monotonic())
            try:
                raw = self.c.read(left if left > 0 else 0.001)
            except broker.Closed:
                raise AssertionError('%s: connection closed' % self.name)
            if raw is None:
                if time.monotonic() >= deadline:
                    return
                continue
            if raw[0] >> 4 != 3:
                raise AssertionError('%s: unexpected packet %s' % (self.name, broker.hexs(raw)))
            p = Publish5(raw) if isinstance(self.c, Client5) else Publish(raw)
            self._ack(p)
            v = json_or_none(p.payload)
            if v is not None and isinstance(v.get('text'), str):
                text = v['text']
            else:
                text = p.payload.decode(errors='replace')
            self.got.append((time.monotonic(), p, v, text))

    def wait(self, pred, timeout=WAIT, msg=''):
        """Pumps until pred(self) is true; fails after timeout."""
        deadline = time.monotonic() + timeout
        while not pred(self):
            if time.monotonic() >= deadline:
                raise AssertionError('%s: still waiting after %.1f s %s; got %s'
                                     % (self.name, timeout, msg, self.summary()))
            self.pump(min(0.05, max(0.0, deadline - time.monotonic())))
        return self

    def texts(self, topic=None):
        return [t for _, p, _, t in self.got if topic is None or p.topic == topic]

    def chat(self, topic=None, probes=False):
        """Envelopes (JSON objects with an id) received, in order; probes and
        background (presence, unread) left out unless probes."""
        out = []
        for _, p, v, t in self.got:
            if topic is not None and p.topic != topic:
                continue
            if v is None or 'id' not in v:
                continue
            if not probes and t.startswith('probe:'):
                continue
            out.append(v)
        return out

    def has_text(self, text, topic=None):
        return any(t == text and (topic is None or p.topic == topic)
                   for _, p, _, t in self.got)

    def has_prefix(self, prefix):
        return any(t.startswith(prefix) for _, _, _, t in self.got)

    def summary(self, n=15):
        items = ['%s %s' % (p.topic, t[:60]) for _, p, _, t in self.got
                 if not chatlib.is_background(p)]
        return '%d publishes: %s' % (len(items), items[-n:])

    def assert_no_duplicate_ids(self):
        ids = collections.Counter(v['id'] for _, _, v, _ in self.got
                                  if v is not None and isinstance(v.get('id'), str))
        dups = {i: n for i, n in ids.items() if n > 1}
        if dups:
            texts = {}
            for _, p, v, t in self.got:
                if v is not None and v.get('id') in dups:
                    texts.setdefault(v['id'], []).append('%s %s' % (p.topic, t[:40]))
            raise AssertionError('%s: message ids delivered more than once: %r'
                                 % (self.name, texts))


# ---------------------------------------------------------------------------
# The test base class.

class ClusterTest(FeatureTest):
    """NODES mqchatd nodes (node.id 1..NODES) started once per class with
    node_config() and NODE_CONFIG, sharing one Redis (REDIS: 'shared', 'own'
    to get a server of the class's own in cls.redis, 'cluster' for a Redis
    Cluster) and one fresh MySQL database."""

    NODES = 3
    NODE_CONFIG = {}
    REDIS = 'shared'
    REDIS_ARGS = ()     # with REDIS 'own': redis-server arguments
    SHARED = True

    @classmethod
    def setUpClass(cls):
        cls.shared_broker = None
        cls.nodes = []
        cls.db = None
        cls.redis = None
        need_servers()
        try:
            if cls.REDIS == 'own':
                cls.redis = RedisServer(args=cls.REDIS_ARGS).start()
                cls.redis_url = cls.redis.url
            else:
                cls.redis_url = shared_redis(cls.REDIS == 'cluster')
            cls.prefix = 'mqt%s' % secrets.token_hex(4)
            cls.db = MySQL()
            for i in range(1, cls.NODES + 1):
                cls.nodes.append(cls.start_node(i))
        except BaseException:
            cls._stop_nodes(check=False)
            raise

    @classmethod
    def start_node(cls, node_id, extra=None):
        conf = node_config(node_id, cls.redis_url, cls.prefix, cls.db.url, cls.NODE_CONFIG)
        if cls.REDIS == 'cluster':
            conf['redis.cluster'] = True
        conf.update(extra or {})
        n = Node(node_id, conf)
        n.start()
        # The HTTP API answers once the chat layer is up.
        if not poll(lambda: chatlib.http(n.http_port, 'GET', '/healthz').status == 200, 10):
            n.cleanup()
            raise RuntimeError('node %d: GET /healthz never answered 200\n%s'
                               % (node_id, n.log_tail()))
        return n

    @classmethod
    def _stop_nodes(cls, check=True):
        bad = []
        for n in cls.nodes:
            if n.killed:
                n.cleanup()
                continue
            rc = n.stop()
            if check and (n.crashed or rc != 0):
                bad.append('%s %s (status %s)\n%s' % (n.name, 'died' if n.crashed
                                                      else 'exited badly on SIGTERM', rc,
                                                      n.log_tail()))
            n.cleanup()
        cls.nodes = []
        if cls.db is not None:
            cls.db.drop()
        if cls.redis is not None:
            cls.redis.stop()
            cls.redis = None
        if bad:
            raise AssertionError('\n'.join(bad))

    @classmethod
    def tearDownClass(cls):
        cls._stop_nodes()

    def setUp(self):
        self.clients = []
        self.brokers = list(self.nodes)    # runtests.py prints their log tails
        self._n = 0
        self.broker = self.nodes[0]
        self.port = self.broker.port
        self.inboxes = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for n in self.nodes:
            if not n.killed and not n.alive():
                self.fail('%s died during the test\n%s' % (n.name, n.log_tail()))

    # ---- names ----

    def uid(self, what='c'):
        # Shorter than BrokerTest's: names go into Redis channel names.
        self._n += 1
        base = self.id().split('.')[-1].replace('test_', '')[:24]
        return '%s-%s-%d' % (what, base, self._n)

    def channel(self, kind, name):
        """The Redis channel of doc/cluster.md, "What crosses nodes"."""
        return '%s:%s:%s' % (self.prefix, kind, name)

    # ---- HTTP on a node ----

    def napi(self, node, method, path, body=None, bearer=SERVICE_KEY, status=200, code=None):
        r = chatlib.http(node.http_port, method, path, body, bearer)
        self.assertEqual(r.status, status, '%s: expected %d: %r' % (node.name, status, r))
        if status >= 400 and code is not None:
            self.assertEqual((r.json or {}).get('code'), code, '%s: %r' % (node.name, r))
        return r.json

    def metrics(self, node):
        r = chatlib.http(node.http_port, 'GET', '/metrics')
        self.assertEqual(r.status, 200, '%s: %r' % (node.name, r))
        return parse_metrics(r.text)

    def metric(self, node, name):
        """A metric's value on node; None when absent."""
        return self.metrics(node).get(name)

    def wait_metric(self, node, name, pred, timeout=WAIT, msg=''):
        last = [None]

        def once():
            last[0] = self.metric(node, name)
            return last[0] is not None and pred(last[0])
        if not poll(once, timeout, 0.05):
            raise AssertionError('%s: %s never matched within %.1f s (last value %r) %s'
                                 % (node.name, name, timeout, last[0], msg))
        return last[0]

    # ---- users, rooms, clients ----

    def new_user_on(self, node, what='u'):
        """(name, token) of a new user made through node's HTTP API (the
        token is minted here, as an integrator would)."""
        name = self.uid(what)
        got = self.napi(node, 'POST', '/v1/users', {'id': name, 'role': 'user'}, status=201)
        self.assertEqual(got.get('id'), name, repr(got))
        return name, mint(name)

    def room_on(self, node, token, private=False, name=None):
        name = name or self.uid('r')
        got = self.napi(node, 'POST', '/v1/rooms', {'name': name, 'private': private},
                        bearer=token, status=201)
        self.assertEqual(got.get('name'), name, repr(got))
        return name

    def device(self, node, user, token, subs=(), v5=False, name=None, clean=True,
               client_id=None):
        """A client of user logged in on node (CONNACK checked), subscribed to
        subs ([(filter, qos)], each granted)."""
        name = '%s@%s' % (name or user, node.name)
        cid = client_id or self.uid('c')
        if v5:
            c = self.client5(name, port=node.port)
            c.do_connect5(cid, username=user, password=token, clean=clean)
            if subs:
                c.do_subscribe5(list(subs))
        else:
            c = self.client(name, port=node.port)
            c.send(broker.connect(cid, clean=clean, username=user, password=token))
            c.expect(broker.connack(False, 0), msg='(CONNACK for %s on %s)' % (user, node.name))
            for flt, qos in subs:
                # (a room made on another node may take a moment to be known)
                self.subscribe_retry(c, flt, qos)
        return c

    def anon(self, node, subs=(), v5=False, name='anon'):
        """An anonymous plain-MQTT client on node (allow_anonymous true)."""
        name = '%s@%s' % (name, node.name)
        if v5:
            c = self.client5(name, port=node.port)
            c.do_connect5(self.uid('c'))
            if subs:
                c.do_subscribe5(list(subs))
        else:
            c = self.client(name, port=node.port)
            c.do_connect(self.uid('c'))
            if subs:
                c.do_subscribe(list(subs))
        return c

    def subscribe_retry(self, c, flt, qos=1, timeout=WAIT):
        """SUBSCRIBE (3.1.1) again and again until it is granted (a room
        made on another node may not be known here yet); returns the seconds
        it took. Fails after timeout."""
        start = time.monotonic()
        codes = []
        while True:
            m = c.mid()
            c.send(broker.subscribe(m, [(flt, qos)]))
            deadline = time.monotonic() + WAIT
            held = []
            try:
                while True:
                    raw = c.read(max(0.01, deadline - time.monotonic()))
                    if raw is None:
                        raise AssertionError('%s: no SUBACK for %s' % (c.name, flt))
                    if raw[0] >> 4 == 3:
                        held.append(raw)
                        continue
                    break
            finally:
                c.pending[:0] = held
            self.assertEqual(raw[:4], bytes([0x90, 3]) + m.to_bytes(2, 'big'),
                             '%s: expected a SUBACK, got %s' % (c.name, broker.hexs(raw)))
            codes.append(raw[4])
            if raw[4] == qos:
                return time.monotonic() - start
            if time.monotonic() - start >= timeout:
                raise AssertionError('%s: SUBSCRIBE %s still refused after %.1f s (codes %s)'
                                     % (c.name, flt, timeout, [hex(x) for x in codes[-5:]]))
            time.sleep(0.02)

    def known_everywhere(self, room, timeout=WAIT):
        """Waits until every node answers GET /v1/rooms/{room} with 200."""
        for n in self.nodes:
            if n.killed:
                continue
            ok = poll(lambda: chatlib.http(n.http_port, 'GET', '/v1/rooms/' + room,
                                           bearer=SERVICE_KEY).status == 200, timeout)
            self.assertTrue(ok, '%s: room %s never known' % (n.name, room))

    def inbox(self, client, name=None):
        ib = Inbox(self, client, name)
        self.inboxes.append(ib)
        return ib

    # ---- publishing ----

    def send(self, c, topic, payload, qos=1, reason=0, properties=None, retain=False):
        """One publish with its whole flow (PUBLISH packets that come in the
        meantime are kept for the client's next read)."""
        if isinstance(c, Client5):
            return c.do_publish5(topic, payload, qos, retain=retain, properties=properties,
                                 reason=reason)
        return c.do_publish(topic, payload, qos, retain=retain)

    def burst(self, items, qos=1):
        """items: [(client, topic, payload)]. Sends every PUBLISH first (in
        the order given), then reads each client's PUBACKs (3.1.1 clients;
        publishes coming in are kept for their next read)."""
        want = collections.defaultdict(set)
        for c, topic, payload in items:
            self.assertNotIsInstance(c, Client5, 'burst() is for 3.1.1 clients')
            m = c.mid()
            c.send(broker.publish(topic, payload, qos, mid=m if qos else None))
            if qos:
                want[c].add(m)
        for c, mids in want.items():
            held = []
            try:
                deadline = time.monotonic() + WAIT + 0.05 * len(mids)
                while mids:
                    raw = c.read(max(0.01, deadline - time.monotonic()))
                    if raw is None:
                        raise AssertionError('%s: PUBACKs missing for packet ids %s'
                                             % (c.name, sorted(mids)))
                    if raw[0] >> 4 == 3:
                        held.append(raw)
                        continue
                    if raw[0] != 0x40 or len(raw) != 4:
                        raise AssertionError('%s: expected a PUBACK, got %s'
                                             % (c.name, broker.hexs(raw)))
                    m = int.from_bytes(raw[2:4], 'big')
                    self.assertIn(m, mids, '%s: PUBACK for an unknown id %d' % (c.name, m))
                    mids.discard(m)
            finally:
                c.pending.extend(held)

    def sync(self, routes, timeout=SYNC_S):
        """Waits until cross-node delivery works on every route: routes is
        [(publishing client, topic, [inboxes that must get it])]. Each round
        publishes one probe per route (QoS 1) and reads the inboxes for a
        moment. Probes' texts start with `probe:`. Returns the seconds it
        took."""
        tag = secrets.token_hex(3)
        start = time.monotonic()
        deadline = start + timeout
        k = 0
        while True:
            missing = []
            for i, (pub, topic, inboxes) in enumerate(routes):
                for ib in inboxes:
                    if not ib.has_prefix('probe:%s:%d:' % (tag, i)):
                        missing.append((i, pub, topic, ib))
            if not missing:
                return time.monotonic() - start
            if time.monotonic() >= deadline:
                raise AssertionError(
                    'cross-node delivery did not start within %.1f s (probes every 0.1 s): %s'
                    % (timeout, '; '.join('%s published on %s, %s got nothing (%s)'
                                          % (pub.name, topic, ib.name, ib.summary(5))
                                          for _, pub, topic, ib in missing)))
            for i in sorted({m[0] for m in missing}):
                pub, topic, _ = routes[i]
                self.send(pub, topic, 'probe:%s:%d:%d' % (tag, i, k))
            k += 1
            for ib in {id(m[3]): m[3] for m in missing}.values():
                ib.pump(0.1 / max(1, len(missing)))

    def pump_all(self, duration=QUIET):
        """Reads every inbox for duration (the first for the whole time,
        the others have had it too)."""
        end = time.monotonic() + duration
        for ib in self.inboxes:
            ib.pump(max(0.0, end - time.monotonic()))

    def check_ids(self, inboxes=None):
        """No id twice on one client; one id per text everywhere; one text
        per id."""
        inboxes = self.inboxes if inboxes is None else inboxes
        by_text = {}
        by_id = {}
        for ib in inboxes:
            ib.assert_no_duplicate_ids()
            for _, p, v, t in ib.got:
                if v is None or not isinstance(v.get('id'), str):
                    continue
                key = (v.get('room'), t)
                if key in by_text and by_text[key] != v['id']:
                    self.fail('%s: %r came with id %s here and %s elsewhere'
                              % (ib.name, key, v['id'], by_text[key]))
                by_text.setdefault(key, v['id'])
                other = by_id.setdefault(v['id'], (v.get('from'), t))
                if other != (v.get('from'), t):
                    self.fail('id %s carries %r and %r' % (v['id'], other, (v.get('from'), t)))

    def room_topic(self, room):
        return '%s/room/%s' % (PREFIX, room)

    def dm_topic(self, user):
        return '%s/dm/%s' % (PREFIX, user)
