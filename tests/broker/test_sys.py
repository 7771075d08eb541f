"""$SYS topics with sys_interval 1: $SYS/broker/clients/connected,
$SYS/broker/messages/received, $SYS/broker/uptime and $SYS/broker/version
are published, with plausible values that follow what clients do."""

import time
import unittest

from broker import WAIT, BrokerTest, Closed, Publish

WANTED = ('$SYS/broker/clients/connected', '$SYS/broker/messages/received',
          '$SYS/broker/uptime', '$SYS/broker/version')


class SysTest(BrokerTest):
    CONFIG = {'sys_interval': 1}

    def gather(self, c, want, timeout):
        """Latest payload per topic in want, reading until all are seen and
        timeout has passed for at least one update of each."""
        seen = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(t in seen for t in want):
            try:
                raw = c.read(max(0.0, deadline - time.monotonic()))
            except Closed:
                self.fail('$SYS subscriber disconnected')
            if raw is None:
                break
            pub = Publish(raw)
            self.assertTrue(pub.topic.startswith('$SYS/'), repr(pub))
            seen[pub.topic] = pub.payload.decode()
        missing = [t for t in want if t not in seen]
        self.assertEqual(missing, [], 'not published within %.0f s (got %s)'
                         % (timeout, sorted(seen)))
        return seen

    def test_sys_topics_published(self):
        c = self.subscriber('$SYS/broker/#', 0)
        seen = self.gather(c, WANTED, 3.0 + WAIT)
        # A retained value from before this client connected may come first,
        # so only the form is checked here; test_sys_values_follow_clients
        # checks the count.
        self.assertRegex(seen['$SYS/broker/clients/connected'], r'^\d+$')
        self.assertRegex(seen['$SYS/broker/messages/received'], r'^\d+$')
        self.assertRegex(seen['$SYS/broker/uptime'], r'^\d+( seconds)?$')
        self.assertTrue(seen['$SYS/broker/version'].strip(), 'empty version')

    def test_sys_values_follow_clients(self):
        watch = self.subscriber([('$SYS/broker/clients/connected', 0),
                                 ('$SYS/broker/uptime', 0)])
        first = self.gather(watch, WANTED[0:1] + WANTED[2:3], 3.0 + WAIT)
        up0 = int(first['$SYS/broker/uptime'].split()[0])
        extra = [self.connected(self.uid('extra')) for _ in range(3)]
        # Within a few intervals the count reaches at least 4 (watch + 3).
        deadline = time.monotonic() + 3.0 + WAIT
        count = 0
        while time.monotonic() < deadline:
            raw = watch.read(max(0.0, deadline - time.monotonic()))
            if raw is None:
                break
            pub = Publish(raw)
            if pub.topic == '$SYS/broker/clients/connected':
                count = int(pub.payload)
                if count >= 4:
                    break
            elif pub.topic == '$SYS/broker/uptime':
                self.assertGreaterEqual(int(pub.payload.split()[0]), up0)
        self.assertGreaterEqual(count, 4, 'clients/connected did not reach 4 with 4 clients')
        for c in extra:
            c.ping()

    def test_sys_messages_received_counts(self):
        watch = self.subscriber('$SYS/broker/messages/received', 0)
        before = int(self.gather(watch, WANTED[1:2], 3.0 + WAIT)[WANTED[1]])
        p = self.connected()
        for i in range(5):
            p.do_publish(self.topic(), b'%d' % i, 1)
        deadline = time.monotonic() + 3.0 + WAIT
        now = before
        while time.monotonic() < deadline and now < before + 5:
            raw = watch.read(max(0.0, deadline - time.monotonic()))
            if raw is None:
                break
            now = int(Publish(raw).payload)
        self.assertGreaterEqual(now, before + 5, 'messages/received %d -> %d after 5 PUBLISH'
                                % (before, now))


if __name__ == '__main__':
    unittest.main()
