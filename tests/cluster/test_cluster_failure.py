"""Failures (doc/cluster.md, "When Redis fails", "Shared state"): Redis
killed and started again under two nodes chatting (local chat goes on,
what could not be forwarded is counted and never delivered later, cross-node
chat resumes, nothing twice, presence re-announced); a node killed (its
users offline within redis.node_timeout + chat.presence_interval) and a
node stopped cleanly (its users offline after the grace); a Redis that
wants a password (the right one in redis.url, and a wrong one: local chat
only).

RedisOutageTest kills a Redis of its own (tests/redis.sh start / kill /
start-again in a temporary directory), never the one other modules share.
"""

import re
import time
import urllib.parse

# (first: it puts tests/broker and tests/chat on the path; unittest calls
# tearDownModule, which stops a Redis this module started)
from clusterlib import RESUME_S, ClusterTest, tearDownModule  # noqa: F401
from broker import QUIET, WAIT
from chatlib import FAST_GRACE_MS, FAST_INTERVAL_MS, PREFIX, poll

OUTAGE_NODE_TIMEOUT_MS = 1000
NODE_TIMEOUT_MS = 2000
SLACK_S = 0.5      # scheduling on a loaded 2-core machine


class RedisOutageTest(ClusterTest):
    NODES = 2
    REDIS = 'own'
    NODE_CONFIG = {'redis.node_timeout': OUTAGE_NODE_TIMEOUT_MS}

    def test_redis_killed_and_started_again(self):
        A, B = self.nodes
        owner, owtok = self.new_user_on(A, 'own')
        ua, uatok = self.new_user_on(A, 'ua')
        ub, ubtok = self.new_user_on(B, 'ub')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        sa = self.inbox(self.device(A, ua, uatok, subs=[(topic, 1)], name='sub-a'))
        sb = self.inbox(self.device(B, ub, ubtok, subs=[(topic, 1)], name='sub-b'))
        pa = self.device(A, ua, uatok, name='pub-a')
        pb = self.device(B, ub, ubtok, name='pub-b')
        # ua is online on A only; an observer on B follows its presence.
        ptopic = '%s/presence/%s' % (PREFIX, ua)
        obs = self.device(B, ub, ubtok, subs=[(ptopic, 0)], name='observer')
        self.wait_json(obs, ptopic, lambda v: v.get('online') is True,
                       msg='(ua online on A, seen on B)')
        self.sync([(pa, topic, [sa, sb]), (pb, topic, [sa, sb])])

        def exchange(tag, n):
            items = []
            for k in range(n):
                items.append((pa, topic, '%s:%s:%d' % (tag, ua, k)))
                items.append((pb, topic, '%s:%s:%d' % (tag, ub, k)))
            self.burst(items)
            return [x[2] for x in items]

        pre = exchange('pre', 5)
        for ib in (sa, sb):
            ib.wait(lambda ib: all(ib.has_text(t) for t in pre), WAIT, '(before the outage)')
        before = {n.name: self.metrics(n) for n in self.nodes}
        for n in self.nodes:
            self.assertEqual(before[n.name].get('mqchat_redis_up'), 1,
                             '%s: mqchat_redis_up before the outage' % n.name)

        # Redis goes away.
        self.redis.kill()
        for n in self.nodes:
            self.wait_metric(n, 'mqchat_redis_up', lambda v: v == 0, WAIT,
                             '(Redis killed: SIGKILL)')
        # Local chat goes on on each node.
        out_a = ['out:%s:%d' % (ua, k) for k in range(5)]
        out_b = ['out:%s:%d' % (ub, k) for k in range(5)]
        self.burst([(pa, topic, t) for t in out_a] + [(pb, topic, t) for t in out_b])
        sa.wait(lambda ib: all(ib.has_text(t) for t in out_a), WAIT,
                '(same-node delivery on %s while Redis is down)' % A.name)
        sb.wait(lambda ib: all(ib.has_text(t) for t in out_b), WAIT,
                '(same-node delivery on %s while Redis is down)' % B.name)
        for n in self.nodes:
            b = before[n.name].get('mqchat_redis_unforwarded_total', 0)
            self.wait_metric(n, 'mqchat_redis_unforwarded_total', lambda v: v >= b + 5, WAIT,
                             '(5 messages published there while Redis was down; it was %d)' % b)
        hist = self.napi(A, 'GET', '/v1/rooms/%s/messages?limit=100' % room)
        self.assertEqual([m['text'] for m in hist['messages'] if m.get('text') in out_a], out_a,
                         '%s answers its own history while Redis is down' % A.name)
        # The other node's user is not counted after redis.node_timeout.
        self.wait_json(obs, ptopic, lambda v: v.get('online') is False,
                       timeout=(OUTAGE_NODE_TIMEOUT_MS + FAST_INTERVAL_MS) / 1000.0 + WAIT,
                       msg='(Redis down: %s\'s devices on %s no longer count on %s)'
                       % (ua, A.name, B.name))

        # Redis comes back (same port, empty: no persistence).
        self.redis.start_again()
        self.sync([(pa, topic, [sb]), (pb, topic, [sa])], timeout=RESUME_S)
        for n in self.nodes:
            self.wait_metric(n, 'mqchat_redis_up', lambda v: v == 1, RESUME_S)
            r0 = before[n.name].get('mqchat_redis_reconnects_total', 0)
            self.wait_metric(n, 'mqchat_redis_reconnects_total', lambda v: v >= r0 + 1, WAIT,
                             '(it was %d before the outage)' % r0)
        # Presence re-announced: ua online again on B.
        self.wait_json(obs, ptopic, lambda v: v.get('online') is True, timeout=RESUME_S,
                       msg='(after Redis came back, %s announces %s again)' % (A.name, ua))

        post = exchange('post', 10)
        for ib in (sa, sb):
            ib.wait(lambda ib: all(ib.has_text(t) for t in post), WAIT, '(after the outage)')
        self.pump_all(QUIET)
        for ib in (sa, sb):
            texts = [v['text'] for v in ib.chat(topic)]
            for want in (pre, post):
                got = [t for t in texts if t in want]
                self.assertEqual(sorted(got), sorted(want), '%s: exactly once' % ib.name)
                for user in (ua, ub):
                    seq = [int(t.rsplit(':', 1)[1]) for t in got if ':%s:' % user in t]
                    self.assertEqual(seq, sorted(seq), '%s: %s\'s messages out of order'
                                     % (ib.name, user))
        # What Redis did not carry is never delivered on the other node.
        self.assertEqual([t for t in out_a if sb.has_text(t)], [],
                         '%s got messages published on %s while Redis was down (they must '
                         'not be queued and sent after the reconnect)' % (sb.name, A.name))
        self.assertEqual([t for t in out_b if sa.has_text(t)], [],
                         '%s got messages published on %s while Redis was down'
                         % (sa.name, B.name))
        self.assertEqual(sorted(t for t in sa.texts(topic) if t.startswith('out:')), sorted(out_a),
                         'each outage message once on its own node')
        self.check_ids()
        # They are in history all the same (from the archive, MySQL).
        self.wait_api_on(B, '/v1/rooms/%s/messages?limit=200' % room,
                         lambda v: all(any(m.get('text') == t for m in v['messages'])
                                       for t in out_a),
                         msg='(messages published on %s during the outage)' % A.name)

    def wait_api_on(self, node, path, pred, timeout=WAIT, msg=''):
        last = [None]

        def once():
            last[0] = self.napi(node, 'GET', path)
            return pred(last[0])
        deadline = time.monotonic() + timeout
        while not once():
            if time.monotonic() >= deadline:
                self.fail('%s: GET %s never matched within %.1f s %s: %r'
                          % (node.name, path, timeout, msg, last[0]))
            time.sleep(0.1)
        return last[0]


class NodeLossTest(ClusterTest):
    NODES = 3
    NODE_CONFIG = {'redis.node_timeout': NODE_TIMEOUT_MS}

    def online_only_on(self, node, observer_node):
        """A user with one device on node, seen online by an observer on
        observer_node; returns (user, observer client, presence topic)."""
        x, xtok = self.new_user_on(observer_node, 'x')
        o, otok = self.new_user_on(observer_node, 'obs')
        topic = '%s/presence/%s' % (PREFIX, x)
        obs = self.device(observer_node, o, otok, subs=[(topic, 0)], name='observer')
        self.device(node, x, xtok, name='x')
        self.wait_json(obs, topic, lambda v: v.get('online') is True and v.get('devices') == 1,
                       msg='(%s online on %s, seen on %s)' % (x, node.name, observer_node.name))
        return x, obs, topic

    def test_node_killed(self):
        """Bound (doc/cluster.md): offline at most redis.node_timeout +
        chat.presence_interval after the kill; not before the node could
        have been silent for redis.node_timeout (its last heartbeat came at
        most node_timeout / 3 before the kill)."""
        A, B, C = self.nodes
        for n in (B, C):
            self.wait_metric(n, 'mqchat_cluster_nodes', lambda v: v == 2)
        x, obs, topic = self.online_only_on(A, B)
        A.sigkill()
        killed = time.monotonic()
        bound = (NODE_TIMEOUT_MS + FAST_INTERVAL_MS) / 1000.0
        seen = []
        _, off = self.wait_json(obs, topic, lambda v: v.get('online') is False, seen=seen,
                                timeout=bound + WAIT, msg='(%s SIGKILLed)' % A.name)
        after = time.monotonic() - killed
        self.assertEqual(off.get('devices'), 0, repr(off))
        self.assertLessEqual(after, bound + SLACK_S,
                             '%s killed: %s shown offline on %s after %.2f s; the bound is '
                             'redis.node_timeout + chat.presence_interval = %.1f s'
                             % (A.name, x, B.name, after, bound))
        self.assertGreaterEqual(after, NODE_TIMEOUT_MS * 2 / 3000.0 - 0.15,
                                'offline %.2f s after the kill: sooner than redis.node_timeout '
                                '(%d ms) after its last heartbeat' % (after, NODE_TIMEOUT_MS))
        # Every node shows it within the bound.
        left = max(0.1, killed + bound + SLACK_S - time.monotonic())
        got = self.wait_node_presence(C, x, lambda v: v.get('online') is False, left)
        self.assertEqual(got.get('devices'), 0, '%s: %r' % (C.name, got))
        for n in (B, C):
            self.wait_metric(n, 'mqchat_cluster_nodes', lambda v: v == 1, WAIT,
                             '(%s is gone)' % A.name)

    def wait_node_presence(self, node, user, pred, timeout):
        last = [None]

        def once():
            last[0] = self.napi(node, 'GET', '/v1/users/%s/presence' % user)
            return pred(last[0])
        if not poll(once, timeout):
            self.fail('%s: GET /v1/users/%s/presence still %r %.2f s later'
                      % (node.name, user, last[0], timeout))
        return last[0]

    def test_node_stopped_cleanly(self):
        """A node that stops (SIGTERM) announces its devices gone first: its
        user goes offline after the grace, well before redis.node_timeout."""
        A, B, C = self.nodes
        x, obs, topic = self.online_only_on(C, B)
        asked = time.monotonic()
        rc = C.stop()
        stopped = time.monotonic()
        C.killed = True     # (stopped by the test: not checked again)
        self.assertEqual(rc, 0, '%s exited with %s on SIGTERM\n%s' % (C.name, rc, C.log_tail()))
        seen = []
        _, off = self.wait_json(obs, topic, lambda v: v.get('online') is False, seen=seen,
                                timeout=WAIT, msg='(%s stopped)' % C.name)
        now = time.monotonic()
        timeline = ['%+.3f s %r' % (t - asked, v) for t, _, v in seen]
        after = now - stopped
        self.assertEqual(off.get('devices'), 0, repr(off))
        self.assertGreaterEqual(now - asked, (FAST_GRACE_MS - 50) / 1000.0,
                                'offline %.2f s after SIGTERM to %s (it exited after %.2f s), '
                                'before the grace (%d ms); what %s saw on %s since SIGTERM: %s'
                                % (now - asked, C.name, stopped - asked, FAST_GRACE_MS, B.name,
                                   topic, timeline))
        self.assertLess(after, (FAST_GRACE_MS + FAST_INTERVAL_MS) / 1000.0 + SLACK_S,
                        '%s stopped cleanly: %s offline on %s only after %.2f s (grace %d ms, '
                        'interval %d ms; redis.node_timeout %d ms would be the kill path)'
                        % (C.name, x, B.name, after, FAST_GRACE_MS, FAST_INTERVAL_MS,
                           NODE_TIMEOUT_MS))


REDIS_PASSWORD = "s3cret pw"


class RedisPasswordTest(ClusterTest):
    """redis.url with a password (doc/cluster.md: redis://[:password@]host[:port]):
    two nodes with the right one chat across; a node with a wrong one has
    mqchat_redis_up 0 and serves its own clients all the same."""

    NODES = 2
    REDIS = 'own'
    REDIS_ARGS = ('--requirepass', REDIS_PASSWORD)

    @classmethod
    def with_password(cls, url, password):
        host, port = url.split('//', 1)[1].rsplit(':', 1)
        return 'redis://:%s@%s:%s' % (urllib.parse.quote(password, safe=''), host, port)

    @classmethod
    def start_node(cls, node_id, extra=None):
        e = {'redis.url': cls.with_password(cls.redis_url, REDIS_PASSWORD)}
        e.update(extra or {})
        return super().start_node(node_id, e)

    def test_password(self):
        A, B = self.nodes
        for n in self.nodes:
            self.wait_metric(n, 'mqchat_redis_up', lambda v: v == 1, WAIT,
                             '(redis.url with the password)')
        owner, owtok = self.new_user_on(A, 'own')
        ub, ubtok = self.new_user_on(B, 'ub')
        room = self.room_on(A, owtok)
        topic = self.room_topic(room)
        sb = self.inbox(self.device(B, ub, ubtok, subs=[(topic, 1)]))
        pa = self.device(A, owner, owtok)
        self.sync([(pa, topic, [sb])])

        # A third node with a wrong password: Redis refuses it, local chat goes on.
        C = self.start_node(3, {'redis.url': self.with_password(self.redis_url, 'wrong')})
        self.nodes.append(C)
        self.brokers.append(C)
        self.wait_metric(C, 'mqchat_redis_up', lambda v: v == 0, WAIT,
                         '(redis.url with a wrong password)')
        uc, uctok = self.new_user_on(C, 'uc')
        sc = self.inbox(self.device(C, uc, uctok, subs=[(topic, 1)], name='sub-c'))
        pc = self.device(C, uc, uctok, name='pub-c')
        self.send(pc, topic, 'local on C')
        sc.wait(lambda ib: ib.has_text('local on C'), WAIT,
                '(same-node delivery on a node Redis refuses)')
        self.send(pa, topic, 'from A')
        sb.wait(lambda ib: ib.has_text('from A'), WAIT)
        self.pump_all(QUIET)
        self.assertFalse(sc.has_text('from A'), 'C is not connected to Redis')
        self.assertFalse(sb.has_text('local on C'), 'C is not connected to Redis')


class DuplicateNodeIdTest(ClusterTest):
    """doc/cluster.md, node.id: "Two live nodes with one id are reported in
    the log" (within a heartbeat, redis.node_timeout / 3)."""

    NODES = 2
    NODE_CONFIG = {'redis.node_timeout': 900}

    def test_two_nodes_with_one_id(self):
        A, B = self.nodes
        twin = self.start_node(A.node_id)
        twin.name = 'twin-of-node%d' % A.node_id
        self.nodes.append(twin)
        self.brokers.append(twin)
        pat = re.compile(r'node\.id %d\b' % A.node_id)

        def reported():
            return any(pat.search(n.log) for n in (A, twin))
        self.assertTrue(poll(reported, 0.9 / 3 + WAIT),
                        'two live processes with node.id %d: neither log says so (no line '
                        'matching %r)' % (A.node_id, pat.pattern))
        self.assertFalse(pat.search(B.log), '%s (node.id %d) reported a duplicate of node.id '
                         '%d: %s' % (B.name, B.node_id, A.node_id,
                                     [l for l in B.log.splitlines() if pat.search(l)]))
