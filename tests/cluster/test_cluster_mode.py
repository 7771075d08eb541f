"""Redis Cluster mode (doc/cluster.md: redis.cluster true, redis.url one
master of a three-master Redis Cluster; sharded pub/sub, each channel on
the master that owns its slot): two nodes, rooms whose channels land on
every master, each message exactly once and in order; direct messages
across the nodes; the room channels subscribed (SSUBSCRIBE) on their own
master only.
"""

import collections
import time

# (first: it puts tests/broker and tests/chat on the path; unittest calls
# tearDownModule, which stops a Redis this module started)
from clusterlib import (ClusterTest, cluster_masters, key_slot, master_of, msgid_node,  # noqa: F401
                        shardnumsub, tearDownModule)
from broker import QUIET, WAIT

PER_MASTER = 2      # rooms per master
N_SEQ = 10          # messages per publisher per room


class RedisClusterTest(ClusterTest):
    NODES = 2
    REDIS = 'cluster'

    def rooms_on_every_master(self, owner_token):
        """Rooms made on node A whose channels spread over the masters:
        {room: master url}."""
        masters = cluster_masters(self.redis_url)
        urls = sorted({m[2] for m in masters})
        self.assertEqual(len(urls), 3, 'a three-master cluster: %r' % masters)
        per = collections.defaultdict(list)
        tries = 0
        while min(len(per[u]) for u in urls) < PER_MASTER:
            tries += 1
            self.assertLess(tries, 200, 'could not spread rooms over the masters')
            name = self.uid('r')
            url = master_of(masters, key_slot(self.channel('r', name)))
            if len(per[url]) < PER_MASTER:
                per[url].append(name)
        rooms = {}
        for url, names in per.items():
            for name in names:
                self.room_on(self.nodes[0], owner_token, name=name)
                rooms[name] = url
        return rooms

    def test_rooms_on_every_master(self):
        A, B = self.nodes
        for n in self.nodes:
            self.wait_metric(n, 'mqchat_redis_up', lambda v: v == 1)
            self.wait_metric(n, 'mqchat_cluster_nodes', lambda v: v == 1)
        owner, owtok = self.new_user_on(A, 'own')
        ua, uatok = self.new_user_on(A, 'ua')
        ub, ubtok = self.new_user_on(B, 'ub')
        rooms = self.rooms_on_every_master(owtok)
        topics = [self.room_topic(r) for r in sorted(rooms)]
        sa = self.inbox(self.device(A, ua, uatok, subs=[(t, 1) for t in topics], name='sub-a'))
        sb = self.inbox(self.device(B, ub, ubtok, subs=[(t, 1) for t in topics], name='sub-b'))
        pa = self.device(A, ua, uatok, name='pub-a')
        pb = self.device(B, ub, ubtok, name='pub-b')
        # Each channel is subscribed on the master that owns its slot, by
        # both nodes (sharded pub/sub), and on no other master.
        all_masters = sorted(set(rooms.values()))
        for room, url in sorted(rooms.items()):
            ch = self.channel('r', room)
            got = {m: shardnumsub(m, ch) for m in all_masters}
            want = {m: (2 if m == url else 0) for m in all_masters}
            if got != want:
                got = self.wait_shardnumsub(ch, url, all_masters, want)
            self.assertEqual(got, want, 'PUBSUB SHARDNUMSUB %s (slot %d) per master'
                             % (ch, key_slot(ch)))
        self.sync([(pa, t, [sb]) for t in topics] + [(pb, t, [sa]) for t in topics])

        items = []
        for k in range(N_SEQ):
            for t in topics:
                room = t.rsplit('/', 1)[1]
                items.append((pa, t, 'c:%s:%s:%d' % (room, ua, k)))
                items.append((pb, t, 'c:%s:%s:%d' % (room, ub, k)))
        self.burst(items)
        for ib in (sa, sb):
            ib.wait(lambda ib: all(ib.has_text(x[2], x[1]) for x in items), WAIT,
                    '(%d messages in %d rooms on 3 masters)' % (len(items), len(topics)))
        self.pump_all(QUIET)
        node_of = {ua: A, ub: B}
        for ib in (sa, sb):
            for t in topics:
                room = t.rsplit('/', 1)[1]
                want = sorted(x[2] for x in items if x[1] == t)
                msgs = ib.chat(t)
                got = [v['text'] for v in msgs]
                self.assertEqual(sorted(got), want, '%s in %s (master %s): each message once'
                                 % (ib.name, room, rooms[room]))
                for user in (ua, ub):
                    seq = [int(x.rsplit(':', 1)[1]) for x in got if ':%s:' % user in x]
                    self.assertEqual(seq, list(range(N_SEQ)), '%s in %s: %s\'s messages in '
                                     'order' % (ib.name, room, user))
                for v in msgs:
                    self.assertEqual(v.get('room'), room, repr(v))
                    self.assertEqual(msgid_node(v['id']), node_of[v['from']].node_id, repr(v))
        self.check_ids()

    def wait_shardnumsub(self, ch, url, masters, want):
        deadline = time.monotonic() + WAIT
        while True:
            got = {m: shardnumsub(m, ch) for m in masters}
            if got == want or time.monotonic() >= deadline:
                return got
            time.sleep(0.05)

    def test_dm_across_nodes(self):
        A, B = self.nodes
        alice, atok = self.new_user_on(A, 'alice')
        bob, btok = self.new_user_on(B, 'bob')
        a_dm, b_dm = self.dm_topic(alice), self.dm_topic(bob)
        a1 = self.inbox(self.device(A, alice, atok, subs=[(a_dm, 1)], name='alice-a'))
        a2 = self.inbox(self.device(B, alice, atok, subs=[(a_dm, 1)], name='alice-b'))
        b1 = self.inbox(self.device(B, bob, btok, subs=[(b_dm, 1)], name='bob-b'))
        self.sync([(a1.c, b_dm, [b1, a2]), (b1.c, a_dm, [a1])])
        items = []
        for k in range(10):
            items.append((a1.c, b_dm, 'cd:%s:%d' % (alice, k)))
            items.append((b1.c, a_dm, 'cd:%s:%d' % (bob, k)))
        self.burst(items)
        texts = [x[2] for x in items]
        for ib in (a1, a2, b1):
            ib.wait(lambda ib: all(ib.has_text(t) for t in texts), WAIT)
        self.pump_all(QUIET)
        for ib, mine in ((a1, a_dm), (a2, a_dm), (b1, b_dm)):
            got = [v['text'] for v in ib.chat(mine)]
            self.assertEqual(sorted(got), sorted(texts), '%s: each DM once (and the sender '
                             'copies)' % ib.name)
            for user in (alice, bob):
                seq = [int(t.rsplit(':', 1)[1]) for t in got if ':%s:' % user in t]
                self.assertEqual(seq, list(range(10)), '%s: %s\'s DMs in order' % (ib.name, user))
        self.check_ids()
