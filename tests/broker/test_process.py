"""The broker as a process: config errors (non-zero exit, "FILE:LINE" on
stderr), the command line (-p, --set, --help, --version), signals (SIGTERM
and SIGINT exit 0 promptly, SIGHUP keeps serving), a port already in use.

Wills on SIGTERM are not tested: the only possible observer is another
client of the same broker, which is being shut down at the same moment, so
whether it sees the will before its own connection closes is a race.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from broker import (MOSQUITTO, WAIT, BrokerTest, Client, Closed, broker_binary, connack, connect,
                    free_port, publish)

EXIT_TIMEOUT = 10.0
mqchatd_only = unittest.skipIf(MOSQUITTO, 'mqchatd command line / config checks')


class ConfigErrorTest(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='mqchat-conf-')
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write_conf(self, lines):
        """A config whose first two lines are valid; returns its path."""
        path = os.path.join(self.dir, 'bad.conf')
        port = free_port()
        if MOSQUITTO:
            head = ['listener %d 127.0.0.1' % port, 'allow_anonymous true']
        else:
            head = ['port %d' % port, 'data_dir %s' % os.path.join(self.dir, 'data')]
        with open(path, 'w') as f:
            f.write('\n'.join(head + lines) + '\n')
        return path, port

    def run_broker(self, argv):
        """Runs the broker expecting it to exit by itself; returns (rc, stderr)."""
        try:
            r = subprocess.run([broker_binary()] + argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=EXIT_TIMEOUT, cwd=self.dir)
        except subprocess.TimeoutExpired:
            self.fail('%s %s did not exit within %.0f s' % (broker_binary(), ' '.join(argv),
                                                          EXIT_TIMEOUT))
        return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')

    def test_unknown_key_names_file_and_line(self):
        path, _ = self.write_conf(['bogus_key 1'])
        rc, _, err = self.run_broker(['-c', path])
        self.assertNotEqual(rc, 0, 'unknown key accepted')
        self.assertRegex(err, re.escape(path) + r':3\b', 'stderr lacks "%s:3": %r' % (path, err))

    @mqchatd_only
    def test_bad_values_name_file_and_line(self):
        for line in ('max_connections many', 'allow_anonymous perhaps', 'port 70000',
                     'max_keepalive 70000', 'sys_interval -5', 'workers lots',
                     'message_size_limit 1x'):
            path, _ = self.write_conf(['# a comment', '', line])
            rc, _, err = self.run_broker(['-c', path])
            self.assertNotEqual(rc, 0, '%r accepted' % line)
            self.assertRegex(err, re.escape(path) + r':5\b', '%r: stderr %r' % (line, err))

    def test_missing_config_file(self):
        rc, _, err = self.run_broker(['-c', os.path.join(self.dir, 'no-such.conf')])
        self.assertNotEqual(rc, 0)
        self.assertIn('no-such.conf', err)

    @mqchatd_only
    def test_set_unknown_key(self):
        rc, _, err = self.run_broker(['-p', str(free_port()), '--set', 'bogus_key=1'])
        self.assertNotEqual(rc, 0)
        self.assertIn('bogus_key', err)

    @mqchatd_only
    def test_unknown_option(self):
        rc, _, err = self.run_broker(['--no-such-option'])
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip(), 'no message for an unknown option')

    @mqchatd_only
    def test_help_and_version(self):
        rc, out, err = self.run_broker(['--help'])
        self.assertEqual(rc, 0, err)
        self.assertIn('-c', out + err)
        rc, out, err = self.run_broker(['--version'])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out + err, r'mqchat.*\d+\.\d+')

    def test_port_in_use(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', 0))
        s.listen(1)
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        path = os.path.join(self.dir, 'inuse.conf')
        with open(path, 'w') as f:
            if MOSQUITTO:
                f.write('listener %d 127.0.0.1\nallow_anonymous true\n' % port)
            else:
                f.write('bind_address 127.0.0.1\ndata_dir %s\n' % os.path.join(self.dir, 'data'))
        argv = ['-c', path] if MOSQUITTO else ['-c', path, '-p', str(port)]
        rc, _, err = self.run_broker(argv)
        self.assertNotEqual(rc, 0, 'started on a port that is in use')


class SignalTest(BrokerTest):

    def stop_with(self, sig):
        t = self.topic()
        clients = [self.subscriber(t, 1, client_id=self.uid()) for _ in range(3)]
        persistent = self.client()
        persistent.send(connect(self.uid(), clean=False, will=(t, b'w', 1, False)))
        persistent.expect(connack(False, 0))
        start = time.monotonic()
        self.broker.signal(sig)
        try:
            self.broker.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail('broker still running %.0f s after signal %d' % (EXIT_TIMEOUT, sig))
        took = time.monotonic() - start
        rc = self.broker.stop()
        self.assertEqual(rc, 0, 'exit status after signal %d\n%s' % (sig, self.broker.log_tail()))
        self.assertLess(took, 5.0, 'took %.1f s to exit' % took)
        for c in clients + [persistent]:
            try:
                while c.read(WAIT) is not None:
                    pass        # the will, if the broker sends it, or nothing
                self.fail('connection still open after the broker exited')
            except Closed:
                pass

    def test_sigterm_exits_0(self):
        self.stop_with(signal.SIGTERM)

    def test_sigint_exits_0(self):
        self.stop_with(signal.SIGINT)

    def test_sigterm_while_busy(self):
        t = self.topic()
        s = self.subscriber(t, 1)
        p = self.connected()
        for i in range(200):
            p.send(publish(t, b'%03d' % i, 1, mid=i + 1))
        self.broker.signal(signal.SIGTERM)
        try:
            self.broker.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail('broker still running %.0f s after SIGTERM under load' % EXIT_TIMEOUT)
        self.assertEqual(self.broker.stop(), 0, self.broker.log_tail())

    def test_sighup_keeps_serving(self):
        self.broker.signal(signal.SIGHUP)
        c = self.connected()
        c.ping()
        self.broker.signal(signal.SIGHUP)
        c.ping()
        self.assert_serves()


@mqchatd_only
class CommandLineTest(BrokerTest):

    def test_set_overrides_config_file(self):
        b = self.start_broker({'allow_anonymous': False},
                              extra_args=['--set', 'allow_anonymous=true'])
        c = Client(b.port)
        c.do_connect(self.uid())
        c.disconnect()

    def test_p_overrides_config_port(self):
        # The harness writes `port P` and passes `-p P`; here the file names
        # another port: the broker must listen on -p's.
        other = free_port()
        b = self.start_broker({'port': other})
        c = Client(b.port)
        c.do_connect(self.uid())
        c.disconnect()
        with self.assertRaises(OSError):
            socket.create_connection(('127.0.0.1', other), timeout=1.0).close()


if __name__ == '__main__':
    unittest.main()
