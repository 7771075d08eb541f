"""mqchat-notify (doc/man/mqchat-notify.1) against the real broker.

The program is found beside MQCHAT_BROKER (build/mqchat-notify). Each class
starts one chat broker (tests/chat/chatlib.py, tests/broker/broker.py: free
ports, generated config, own data_dir); the TLS class a TransportBroker with
certificates made by the openssl CLI at test time (tests/broker/test_tls.py).

Covered: a notification delivered to a room (the subscriber gets the
envelope of type system from the service user, with text and meta), to a
user (chat/user/{user}/events), to all (chat/system), the words
of the arguments joined; several lines from stdin delivered in order, empty
lines skipped, stopping at the first refused line with its status and the
count of delivered lines (and going on with --keep-going); login with a
password from the environment, with a service token (user name from its
`sub`); every exit status: 1 usage (no target, two targets, no text, bad
--meta, bad room name, bad port, unknown option), 2 a wrong password and a
bad token (the password never printed), 3 a plain user on chat/system and
a room's system topic (MQTT 5 PUBACK 0x87; with -V 311 from the broker's
notice), 5 an unknown room (0x90) and an over-long text (0x99), 4 a port
nothing listens on (given up within a bound, after --retries attempts),
connections closed by a proxy retried until one works (delivered once);
over TLS: the server verified against the test CA, --insecure, and an
unverified server refused (4).
"""

import os
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, 'broker'))
sys.path.insert(0, os.path.join(TESTS, 'chat'))

import broker  # noqa: E402
from chatlib import ChatTest, chat_config, mint  # noqa: E402
from test_tls import CERTS, TransportBroker, server_tls_config  # noqa: E402

NOTIFY = os.path.join(os.path.dirname(broker.broker_binary()), 'mqchat-notify')
RUN_TIMEOUT = 30        # seconds a run may take at most (they take well under one)
OK, USAGE, AUTH, NOT_ALLOWED, UNREACHABLE, REJECTED = 0, 1, 2, 3, 4, 5
PASSWORD = 'pw "quoted" \\ and more'


def run_notify(args, stdin=None, env=None, timeout=RUN_TIMEOUT):
    """Runs mqchat-notify with args; MQCHAT_* of our environment removed,
    env added. Returns the CompletedProcess (text)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith('MQCHAT_')}
    e.update(env or {})
    return subprocess.run([NOTIFY] + list(args), input=stdin, env=e, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


class FlakyProxy:
    """A TCP proxy on a free loopback port to 127.0.0.1:target that closes
    its first drop_first connections at once and relays the later ones."""

    def __init__(self, target, drop_first):
        self.target = target
        self.drop = drop_first
        self.lsock = socket.socket()
        self.lsock.bind(('127.0.0.1', 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.drop > 0:
                self.drop -= 1
                c.close()
                continue
            u = socket.create_connection(('127.0.0.1', self.target))
            self.socks += [c, u]
            for x, y in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(x, y), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.lsock.close()
        for s in self.socks:
            s.close()


class NotifyBase(ChatTest):
    """A chat broker; helpers to run mqchat-notify against it."""

    @classmethod
    def setUpClass(cls):
        if not os.access(NOTIFY, os.X_OK):
            raise AssertionError('%s is not built' % NOTIFY)
        super().setUpClass()

    def notify(self, *args, stdin=None, env=None, port=None, want=None):
        """Runs mqchat-notify on this broker; checks the status when want is
        given. Returns the CompletedProcess."""
        r = run_notify(['--host', '127.0.0.1', '--port', str(port or self.broker.port),
                        '--timeout', '5000'] + list(args), stdin, env)
        if want is not None:
            self.assertEqual(r.returncode, want, 'status %d, want %d\nstdout: %s\nstderr: %s'
                             % (r.returncode, want, r.stdout, r.stderr))
        return r

    def service_login(self):
        """A service user with a password, as environment variables."""
        name = self.make_user(self.uid('svc'), password=PASSWORD, role='service')
        return name, {'MQCHAT_USER': name, 'MQCHAT_PASSWORD': PASSWORD}

    def assert_no_secret(self, r, secret=PASSWORD):
        self.assertNotIn(secret, r.stdout + r.stderr)


class NotifyDeliveryTest(NotifyBase):

    def test_room_notification_with_meta(self):
        alice, atok = self.new_user('a')
        svc, env = self.service_login()
        room = self.make_room(atok)
        topic = 'chat/room/%s/system' % room
        a = self.chat311(alice, atok, subs=[(topic, 1)])
        r = self.notify('--room', room, '--meta', '{"kind":"schedule","n":[1,2]}',
                        'Stream starts', 'in 5 minutes', env=env, want=OK)
        self.assertEqual(r.stdout, 'delivered to %s\n' % topic)
        self.assert_no_secret(r)
        _, got = self.expect_env(a, topic, svc, qos=1, type='system', room=room,
                                 text='Stream starts in 5 minutes',
                                 meta={'kind': 'schedule', 'n': [1, 2]})
        self.quiet(a)

    def test_all_and_quiet(self):
        alice, atok = self.new_user('a')
        bob, btok = self.new_user('b')
        svc, env = self.service_login()
        a = self.chat311(alice, atok, subs=[('chat/system', 1)])
        b = self.chat5(bob, btok, subs=[('chat/system', 1)])
        r = self.notify('--all', '--quiet', 'maintenance at noon', env=env, want=OK)
        self.assertEqual((r.stdout, r.stderr), ('', ''))
        for c in (a, b):
            _, got = self.expect_env(c, 'chat/system', svc, type='system',
                                     text='maintenance at noon')
            self.assertNotIn('room', got)

    def test_user_notification_with_a_service_token(self):
        bob, btok = self.new_user('b')
        bot = self.uid('bot')   # known only to the integrator's token
        token = mint(bot, role='service', iat=int(time.time()))
        events = self.events_topic(bob)
        b = self.chat5(bob, btok, subs=[(events, 1)])
        r = self.notify('--user', bob, '--meta', '{"kind":"billing"}', 'your invoice is ready',
                        env={'MQCHAT_TOKEN': token}, want=OK)
        self.assertIn('delivered to %s' % events, r.stdout)
        self.assert_no_secret(r, token)
        self.expect_env(b, events, bot, qos=1, type='system', to=bob,
                        text='your invoice is ready', meta={'kind': 'billing'})
        # The same with the token as a flag and the user name given.
        self.notify('--user', bob, '-u', bot, '--token', token, 'second', want=OK)
        self.expect_env(b, events, bot, type='system', to=bob, text='second')

    def test_stdin_lines_in_order(self):
        alice, atok = self.new_user('a')
        svc, env = self.service_login()
        room = self.make_room(atok)
        topic = 'chat/room/%s/system' % room
        a = self.chat5(alice, atok, subs=[(topic, 1)])
        lines = ['first', 'zweite Zeile – ü', '', 'third\r', 'fourth']
        r = self.notify('--room', room, '-', stdin='\n'.join(lines), env=env, want=OK)
        want = ['first', 'zweite Zeile – ü', 'third', 'fourth']
        for text in want:
            self.expect_env(a, topic, svc, type='system', text=text)
        self.quiet(a)
        self.assertEqual(r.stdout.splitlines(),
                         ['line %d: delivered to %s' % (n, topic) for n in (1, 2, 4, 5)])
        self.assertIn('4 delivered, 0 failed', r.stderr)

    def test_stdin_stops_at_first_failure(self):
        alice, atok = self.new_user('a')
        svc, env = self.service_login()
        room = self.make_room(atok)
        topic = 'chat/room/%s/system' % room
        a = self.chat311(alice, atok, subs=[(topic, 1)])
        stdin = 'one\n%s\nthree\n' % ('x' * 5000)    # over chat.max_text_bytes (4000)
        r = self.notify('--room', room, '-', stdin=stdin, env=env, want=REJECTED)
        self.expect_env(a, topic, svc, text='one')
        self.quiet(a)
        self.assertIn('line 2: rejected', r.stderr)
        self.assertIn('0x99', r.stderr)
        self.assertIn('1 delivered, 1 failed, stopped at the first failure', r.stderr)
        # --keep-going: the third line still goes; the status is the failure's.
        r = self.notify('--room', room, '--keep-going', '-', stdin=stdin, env=env, want=REJECTED)
        self.expect_env(a, topic, svc, text='one')
        self.expect_env(a, topic, svc, text='three')
        self.assertIn('2 delivered, 1 failed', r.stderr)

    def test_stdin_kept_open_between_lines(self):
        """A pipe that stays quiet longer than the keepalive: the connection
        is kept alive (PINGREQ) and later lines still go."""
        alice, atok = self.new_user('a')
        svc, env = self.service_login()
        a = self.chat311(alice, atok, subs=[('chat/system', 1)])
        e = {k: v for k, v in os.environ.items() if not k.startswith('MQCHAT_')}
        e.update(env)
        p = subprocess.Popen([NOTIFY, '-h', '127.0.0.1', '-p', str(self.broker.port), '--all',
                              '--keepalive', '5', '-'], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        try:
            p.stdin.write('before\n')
            p.stdin.flush()
            self.expect_env(a, 'chat/system', svc, text='before')
            accepted = self.accepted()
            time.sleep(8)      # beyond 1.5 keepalives: only PINGREQ keeps it open
            out, err = p.communicate('after\n', timeout=RUN_TIMEOUT)
            self.expect_env(a, 'chat/system', svc, text='after')
            self.assertEqual(self.accepted(), accepted, 'mqchat-notify connected again')
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, OK, err)
        self.assertIn('2 delivered, 0 failed', err)
        self.assertNotIn('retrying', err)


    def accepted(self):
        """mqchat_connections_accepted_total{listener="mqtt"} of /metrics."""
        r = self.http('GET', '/metrics')
        for line in r.text.splitlines():
            if line.startswith('mqchat_connections_accepted_total{listener="mqtt"}'):
                return int(float(line.split()[-1]))
        self.fail('no accepted connections in /metrics')


class NotifyFailureTest(NotifyBase):

    def test_usage_errors(self):
        for args in ([], ['hello'], ['--all'], ['--all', '--room', 'r', 'x'],
                     ['--room', 'a/b', 'x'], ['--room', '#', 'x'], ['--user', '', 'x'],
                     ['--all', '--meta', '[1]', 'x'], ['--all', '--meta', '{bad', 'x'],
                     ['--all', '--port', '0', 'x'], ['--all', '--bogus', 'x'],
                     ['--all', '-V', '4', 'x'], ['--all', '--retries', '-1', 'x'],
                     ['--all', '--password', 'p', '--token', 't', 'x'],
                     ['--all', '--token', 'not-a-jwt', 'x'], ['--all', '--key', 'k', 'x']):
            r = run_notify(args)
            self.assertEqual(r.returncode, USAGE, '%r: %r' % (args, r))
            self.assertIn('mqchat-notify: ', r.stderr, args)
            self.assertEqual(r.stdout, '', args)
        r = run_notify(['--help'])
        self.assertEqual(r.returncode, OK)
        for word in ('EXIT STATUS', '--retries', '--cafile', 'MQCHAT_TOKEN'):
            self.assertIn(word, r.stdout)

    def test_wrong_password_is_auth(self):
        svc, _ = self.service_login()
        secret = 'not-the-password-%s' % self.uid()
        for v in ('5', '311'):
            r = self.notify('--all', '-V', v, 'hello',
                            env={'MQCHAT_USER': svc, 'MQCHAT_PASSWORD': secret}, want=AUTH)
            self.assertIn('refused the login', r.stderr)
            self.assert_no_secret(r, secret)
        # A tampered and an expired token.
        bot = self.uid('bot')
        bad = mint(bot, role='service', secret='another-key')
        self.notify('--all', '--token', bad, 'hello', want=AUTH)
        old = mint(bot, role='service', exp=int(time.time()) - 60)
        r = self.notify('--all', '--token', old, '--retries', '3', 'hello', want=AUTH)
        self.assertNotIn('retrying', r.stderr)      # a refusal is not retried

    def test_plain_user_not_allowed(self):
        alice, atok = self.new_user('a')
        room = self.make_room(atok)
        b = self.chat311(alice, atok, subs=[('chat/system', 1), ('chat/room/%s/system' % room, 1)])
        for v in ('5', '311'):
            r = self.notify('--all', '-V', v, 'i am no service', env={'MQCHAT_TOKEN': atok},
                            want=NOT_ALLOWED)
            self.assertIn('not allowed on chat/system', r.stderr)
            r = self.notify('--room', room, '-V', v, 'nor here', env={'MQCHAT_TOKEN': atok},
                            want=NOT_ALLOWED)
            self.assertIn('not allowed', r.stderr)
        self.quiet_chat_only(b)

    def test_unknown_room_rejected(self):
        svc, env = self.service_login()
        for v in ('5', '311'):
            r = self.notify('--room', self.uid('nosuch'), '-V', v, 'hello', env=env,
                            want=REJECTED)
            self.assertIn('no such room', r.stderr)
            self.assertIn('0x90', r.stderr)

    def test_unreachable_within_bound(self):
        port = broker.free_port()
        t0 = time.monotonic()
        r = run_notify(['--all', '-h', '127.0.0.1', '-p', str(port), '--retries', '2',
                        '--retry-delay', '100', 'hello'],
                       env={'MQCHAT_USER': 'x', 'MQCHAT_PASSWORD': PASSWORD})
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, UNREACHABLE, repr(r))
        self.assertLess(took, 5.0)
        self.assertGreaterEqual(took, 0.25)         # 100 + 200 ms of backoff
        self.assertEqual(r.stderr.count('retrying in'), 2, r.stderr)
        self.assertIn('gave up after 3 attempts', r.stderr)
        self.assert_no_secret(r)
        # stdin mode: nothing delivered, the same status.
        r = run_notify(['--all', '-h', '127.0.0.1', '-p', str(port), '--retries', '0', '-'],
                       stdin='a\nb\n')
        self.assertEqual(r.returncode, UNREACHABLE, repr(r))
        self.assertIn('0 delivered, 1 failed', r.stderr)

    def test_retries_until_the_broker_answers(self):
        """The first two connections are closed at once (a broker restarting
        behind a proxy): the third attempt delivers, exactly once."""
        alice, atok = self.new_user('a')
        svc, env = self.service_login()
        a = self.chat311(alice, atok, subs=[('chat/system', 1)])
        proxy = FlakyProxy(self.broker.port, drop_first=2)
        self.addCleanup(proxy.close)
        r = self.notify('--all', '--retries', '3', '--retry-delay', '50', 'third time lucky',
                        port=proxy.port, env=env, want=OK)
        self.assertEqual(r.stderr.count('retrying in'), 2, r.stderr)
        self.expect_env(a, 'chat/system', svc, text='third time lucky')
        self.quiet(a)
        # Fewer retries than drops: unreachable.
        proxy2 = FlakyProxy(self.broker.port, drop_first=2)
        self.addCleanup(proxy2.close)
        self.notify('--all', '--retries', '1', '--retry-delay', '50', 'no', port=proxy2.port,
                    env=env, want=UNREACHABLE)
        self.quiet(a)

    def quiet_chat_only(self, c):
        """Nothing but notices (the refusals' own) reaches c."""
        for p in c.collect(broker.QUIET):
            if p[0] >> 4 == 3:
                self.fail('%s: unexpected %r' % (c.name, broker.Publish(p)))


class NotifyTLSTest(NotifyBase):
    """Over TLS, with the test CA's server certificate."""

    CONFIG = chat_config(dict(server_tls_config(), **{'tls.port': 'free'}))

    @classmethod
    def setUpClass(cls):
        if not os.access(NOTIFY, os.X_OK):
            raise AssertionError('%s is not built' % NOTIFY)
        cls.shared_broker = None
        b = TransportBroker(cls.CONFIG)
        try:
            b.start()
        except BaseException:
            b.cleanup()
            raise
        cls.shared_broker = b

    def test_tls_verified_and_insecure(self):
        alice, atok = self.new_user('a')
        svc, env = self.service_login()
        a = self.chat311(alice, atok, subs=[('chat/system', 1)])
        tls = self.broker.ports['tls.port']
        r = self.notify('--all', '--cafile', CERTS.path('ca'), 'over tls', port=tls, env=env,
                        want=OK)
        self.expect_env(a, 'chat/system', svc, type='system', text='over tls')
        self.notify('--all', '--insecure', 'insecure tls', port=tls, env=env, want=OK)
        self.expect_env(a, 'chat/system', svc, type='system', text='insecure tls')
        # Not verified (a CA that did not sign it; the system's CAs): refused.
        r = self.notify('--all', '--cafile', CERTS.path('other_ca'), '--retries', '0', 'no',
                        port=tls, env=env, want=UNREACHABLE)
        self.assertIn('TLS', r.stderr)
        self.notify('--all', '--tls', '--retries', '0', 'no', port=tls, env=env, want=UNREACHABLE)
        # A CA file that does not exist is a usage error.
        self.notify('--all', '--cafile', '/nonexistent/ca.pem', 'no', port=tls, env=env,
                    want=USAGE)
        self.quiet(a)


if __name__ == '__main__':
    unittest.main()
