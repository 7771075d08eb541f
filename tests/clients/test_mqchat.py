"""test_mqchat.py - the mqchat terminal client (clients/cli, doc/man/mqchat.1)
against the real mqchatd.

The interactive client runs under tmux on a private socket (`tmux -L
<unique>`, 120x40, killed at the end), driven with send-keys and read with
capture-pane; the other side of each conversation is a raw MQTT 5 client
from tests/broker/broker.py (chatlib.FeatureTest). `mqchat send` and `mqchat
tail` run as plain subprocesses, as scripts would run them, and their exit
codes are checked (doc/man/mqchat.1, EXIT STATUS).

Covered: a password typed at the prompt is never shown; a join, room chat
both ways, a DM both ways, /who; /history paging back page by page to the
oldest; /rooms (joined and not), /block and /unblock (a blocked user's room
messages not shown, GET /v1/users/{me}/blocks), /read (unread count to 0),
/leave (membership dropped, the room's messages no longer shown); a broker
restart on the same ports: the client says it is disconnected and
reconnecting with a growing delay, then reconnected, and
shows the message sent while it was away (persistent session); send and
tail with exit codes 0, 1 (usage), 2 (bad password), 3 (private or unknown
room), 4 (nothing listening). Every wait is bounded (SCREEN_WAIT).

mqchat is found beside the broker binary (MQCHAT_BROKER, default
build/mqchatd).
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'broker'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'chat'))

import broker  # noqa: E402
import chatlib  # noqa: E402
import test_tls  # noqa: E402
from broker import sub_opts  # noqa: E402
from chatlib import FeatureTest  # noqa: E402

SCREEN_WAIT = 8.0     # seconds for something to show on the screen
EXIT_OK, EXIT_USAGE, EXIT_AUTH, EXIT_DENIED, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
TIME_RE = r'\d\d:\d\d'


def mqchat_binary():
    return os.path.join(os.path.dirname(broker.broker_binary()), 'mqchat')


def have_tmux():
    return shutil.which('tmux') is not None


class Screen:
    """One mqchat (or any command) in a detached tmux session on a private
    server. The command runs under sh, which prints `[exit N]` when it ends
    and keeps the pane open for a while so the end can be read."""

    def __init__(self, argv, env=None):
        self.sock = 'mqchat-test-%d-%s' % (os.getpid(), secrets.token_hex(4))
        cmd = ' '.join(_quote(a) for a in argv)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.env.pop('TMUX', None)
        self._tmux('new-session', '-d', '-x', '120', '-y', '40', '-s', 'main',
                   'sh -c %s' % _quote('%s; echo "[exit $?]"; sleep 120' % cmd))
        self._tmux('set-option', '-t', 'main', 'history-limit', '5000')

    def _tmux(self, *args, check=True):
        return subprocess.run(['tmux', '-L', self.sock, '-f', '/dev/null'] + list(args),
                              env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=10, check=check)

    def type(self, text, enter=True):
        self._tmux('send-keys', '-t', 'main', '-l', text)
        if enter:
            self._tmux('send-keys', '-t', 'main', 'Enter')

    def text(self):
        """The whole pane with its scroll-back, trailing blank lines cut."""
        r = self._tmux('capture-pane', '-p', '-J', '-t', 'main', '-S', '-5000', check=False)
        return r.stdout.decode(errors='replace').rstrip('\n')

    def wait(self, pattern, timeout=SCREEN_WAIT, after=0, msg=''):
        """Polls the screen until regex pattern matches at or after offset
        `after`; returns the match (offsets in text())."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            t = self.text()
            m = rx.search(t, after)
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError('screen never showed /%s/ within %.0f s %s\n--- screen ---\n%s'
                                     % (pattern, timeout, msg, t))
            time.sleep(0.1)

    def close(self):
        self._tmux('kill-server', check=False)
        path = os.path.join(os.environ.get('TMUX_TMPDIR') or '/tmp', 'tmux-%d' % os.getuid(),
                            self.sock)
        try:
            os.unlink(path)   # a killed server may leave its socket behind
        except OSError:
            pass


def _quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


class MqchatCase(FeatureTest):
    """FeatureTest (fast presence timings) with mqchat helpers."""

    def setUp(self):
        super().setUp()
        self.bin = mqchat_binary()
        if not os.access(self.bin, os.X_OK):
            self.fail('mqchat not built: %s (make build/mqchat)' % self.bin)

    def url(self):
        return 'tcp://127.0.0.1:%d' % self.broker.port

    def api_url(self):
        return 'http://127.0.0.1:%d' % self.broker.http_port

    def user_with_password(self, what='u'):
        pw = 'pw %s "quoted" $x' % secrets.token_hex(6)
        return self.make_user(self.uid(what), password=pw), pw

    def screen(self, *args, env=None):
        if not have_tmux():
            self.skipTest('tmux is not installed')
        # A config file nobody reads by accident: HOME in the test directory.
        home = os.path.join(self.broker.dir, 'home-%s' % secrets.token_hex(3))
        os.makedirs(home, exist_ok=True)
        e = {'HOME': home, 'TZ': 'UTC', 'TERM': 'xterm-256color'}
        e.update(env or {})
        s = Screen([self.bin, '--url', self.url(), '--api', self.api_url()] + list(args), e)
        self.addCleanup(s.close)
        return s

    def run_mqchat(self, *args, env=None, input=None, timeout=30):
        e = dict(os.environ)
        e['HOME'] = self.broker.dir
        for k in ('MQCHAT_USER', 'MQCHAT_PASSWORD', 'MQCHAT_TOKEN'):
            e.pop(k, None)
        e.update(env or {})
        return subprocess.run([self.bin] + list(args), env=e, input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)

    def bob_client(self, room):
        """A raw MQTT 5 chat user subscribed to room and to its DMs."""
        bob, btok = self.new_user('bob')
        c = self.chat5(bob, btok, subs=[(self.room_topic(room), sub_opts(1)),
                                        (self.dm_topic(bob), sub_opts(1))])
        return bob, btok, c


class InteractiveTest(MqchatCase):

    def test_password_prompt_join_chat_dm_who(self):
        alice, pw = self.user_with_password('alice')
        _, atok_owner = self.new_user('owner')
        room = self.make_room(atok_owner)
        bob, _, bobc = self.bob_client(room)

        s = self.screen('--user', alice, '--device', 'tty1')
        s.wait(r'Password for %s: ' % re.escape(alice))
        s.type(pw)
        s.wait(r'^-- connected to .* as %s' % re.escape(alice))
        self.assertNotIn(pw, s.text(), 'the password was shown')
        self.assertNotIn(pw.split()[1], s.text(), 'part of the password was shown')

        # join and talk: the raw client gets the envelope from alice
        s.type('/join %s' % room)
        s.wait(r'^-- joined #%s' % re.escape(room))
        s.type('hello from the terminal')
        self.expect_env_chat(bobc, self.room_topic(room), alice, type='text',
                             text='hello from the terminal', room=room)
        s.wait(r'^%s %s: hello from the terminal$' % (TIME_RE, re.escape(alice)))

        # bob answers in the room: shown with time and sender
        self.pub(bobc, self.room_topic(room), {'text': 'hi alice, bob here'})
        self.expect_env_chat(bobc, self.room_topic(room), bob, text='hi alice, bob here')
        s.wait(r'^%s %s: hi alice, bob here$' % (TIME_RE, re.escape(bob)))

        # escape sequences in a message (ESC, OSC with BEL, U+009B CSI) are shown as text,
        # not obeyed: the screen keeps its lines and shows the bytes after them literally
        evil = 'evil \x1b[2J\x1b]0;t\x07 \u009b31m end'
        self.pub(bobc, self.room_topic(room), {'text': evil})
        self.expect_env_chat(bobc, self.room_topic(room), bob, text=evil)
        s.wait(r'^%s %s: %s$' % (TIME_RE, re.escape(bob), re.escape('evil  [2J ]0;t   31m end')))
        self.assertIn('hi alice, bob here', s.text())

        # a DM from bob; alice answers with /dm USER text
        self.pub(bobc, self.dm_topic(alice), {'text': 'psst'})
        self.expect_env_chat(bobc, self.dm_topic(bob), bob, text='psst', to=alice)  # his copy
        s.wait(r'^%s %s -> %s: psst$' % (TIME_RE, re.escape(bob), re.escape(alice)))
        s.type('/dm %s secret answer' % bob)
        self.expect_env_chat(bobc, self.dm_topic(bob), alice, text='secret answer', to=bob)
        s.wait(r'^%s %s -> %s: secret answer$' % (TIME_RE, re.escape(alice), re.escape(bob)))

        # /dm USER switches the target: plain lines go to bob
        s.type('/dm %s' % bob)
        s.wait(r'^-- talking to @%s' % re.escape(bob))
        s.type('plain line to bob')
        self.expect_env_chat(bobc, self.dm_topic(bob), alice, text='plain line to bob')

        # /who: the room's presence (alice and bob view it)
        s.type('/join %s' % room)
        s.wait(r'^-- now in #%s' % re.escape(room))
        # Asked again until the count is 2: the room's first presence update
        # comes a presence interval after the join ("no presence update yet").
        deadline = time.monotonic() + SCREEN_WAIT
        while True:
            mark = len(s.text())
            s.type('/who')
            m = s.wait(r'^-- #%s: (?:(\d+) online:(.*)|no presence update yet)$'
                       % re.escape(room), after=mark)
            if (m.group(1) and int(m.group(1)) == 2) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.assertTrue(m.group(1), s.text())
        self.assertEqual(int(m.group(1)), 2, s.text())
        self.assertIn(alice, m.group(2).split())

        s.type('/quit')
        s.wait(r'^\[exit 0\]$')
        self.assertNotIn(pw, s.text())

    def test_history_pages_back(self):
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        bob, _, bobc = self.bob_client(room)
        for i in range(1, 26):
            self.pub(bobc, self.room_topic(room), {'text': 'old-%02d' % i})
        alice, atok = self.new_user('alice')

        s = self.screen('--room', room, env={'MQCHAT_TOKEN': atok})   # the user from the token
        s.wait(r'^-- connected to .* as %s' % re.escape(alice))
        s.wait(r'^-- joined #%s' % re.escape(room))

        def page(first, last, mark, note):
            m = s.wait(r'^-- #%s: %d earlier messages? \(%s' % (re.escape(room), last - first + 1, note),
                       after=mark)
            end = s.wait(r'^-- end of #%s history page$' % re.escape(room), after=m.end())
            got = re.findall(r'^   %s %s: (old-\d\d)$' % (TIME_RE, re.escape(bob)),
                             s.text()[m.end():end.start()], re.M)
            self.assertEqual(got, ['old-%02d' % i for i in range(first, last + 1)], s.text())
            return end.end()

        mark = len(s.text())
        s.type('/history 10')
        mark = page(16, 25, mark, r'/history again')
        s.type('/history 10')
        mark = page(6, 15, mark, r'/history again')
        s.type('/history 10')
        mark = page(1, 5, mark, r'the oldest')
        s.type('/history 10')
        s.wait(r'^-- no older messages in #%s$' % re.escape(room), after=mark)
        s.type('/quit')
        s.wait(r'^\[exit 0\]$')

    def test_rooms_block_unblock_read_leave(self):
        alice, atok = self.new_user('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        other = self.make_room(otok)          # made by another user, not joined
        bob, _, bobc = self.bob_client(room)
        carol, ctok = self.new_user('carol')
        carolc = self.chat5(carol, ctok)      # posts only: bob sees every room message
        me = '/v1/users/%s' % alice

        s = self.screen('--token', atok, '--room', room, '--device', 'tty1')
        s.wait(r'^-- joined #%s' % re.escape(room))

        # /rooms: the joined room marked *, the other owner's room listed unmarked
        s.type('/rooms')
        m = s.wait(r'^-- rooms \(\* joined here\):$')
        s.wait(r'^   \*#%s  \d+ online$' % re.escape(room), after=m.end())
        s.wait(r'^    #%s  \d+ online$' % re.escape(other), after=m.end())

        def say(c, who, text):
            self.pub(c, self.room_topic(room), {'text': text})
            self.expect_env_chat(bobc, self.room_topic(room), who, text=text)

        # /block bob: the API knows it; bob's next room message is not shown, carol's is
        s.type('/block %s' % bob)
        # (offsets from a line's match: the prompt line is redrawn below new lines)
        mark = s.wait(r'^-- blocked %s: no more of their messages or DMs$' % re.escape(bob)).end()
        self.assertEqual(self.api('GET', me + '/blocks', bearer=atok).get('blocks'), [bob])
        say(bobc, bob, 'bob while blocked')
        say(carolc, carol, 'carol after the block')
        s.wait(r'^%s %s: carol after the block$' % (TIME_RE, re.escape(carol)), after=mark)
        self.assertNotIn('bob while blocked', s.text())

        # /unblock bob: shown again
        s.type('/unblock %s' % bob)
        mark = s.wait(r'^-- unblocked %s$' % re.escape(bob)).end()
        self.assertEqual(self.api('GET', me + '/blocks', bearer=atok).get('blocks'), [])
        say(bobc, bob, 'bob unblocked')
        s.wait(r'^%s %s: bob unblocked$' % (TIME_RE, re.escape(bob)), after=mark)

        # /read: the room's unread count (> 0 after the others' messages) goes to 0
        self.wait_api('GET', me + '/unread', lambda j: j.get('rooms', {}).get(room, 0) > 0,
                      token=atok, msg='(unread before /read)')
        s.type('/read')
        s.wait(r'^-- #%s marked read \(0 unread\)$' % re.escape(room))
        self.wait_api('GET', me + '/unread', lambda j: room not in j.get('rooms', {}),
                      token=atok, msg='(unread after /read)')

        # /leave: membership dropped, and the room's messages no longer shown (a DM from
        # bob, sent after them, is shown: everything before it has arrived)
        before = self.svc('GET', '/v1/rooms/%s' % room)['members']
        s.type('/leave')
        mark = s.wait(r'^-- left #%s$' % re.escape(room)).end()
        self.wait_api('GET', '/v1/rooms/%s' % room, lambda j: j.get('members') == before - 1,
                      msg='(members after /leave, %d before)' % before)
        say(bobc, bob, 'after alice left')
        self.pub(bobc, self.dm_topic(alice), {'text': 'dm after leave'})
        s.wait(r'^%s %s -> %s: dm after leave$' % (TIME_RE, re.escape(bob), re.escape(alice)),
               after=mark)
        self.assertNotIn('after alice left', s.text())
        s.type('/quit')
        s.wait(r'^\[exit 0\]$')


class ScriptTest(MqchatCase):

    def test_send_and_tail(self):
        alice, pw = self.user_with_password('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        bob, _, bobc = self.bob_client(room)
        base = ['--url', self.url(), '--user', alice]
        env = {'MQCHAT_PASSWORD': pw}

        tail = subprocess.Popen([self.bin, '--json', '-n', '2'] + base + ['tail', room],
                                env=dict(os.environ, HOME=self.broker.dir, **env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # the tail is subscribed once the room's presence counts it
            self.wait_api('GET', '/v1/rooms/%s' % room, lambda j: j.get('online', 0) >= 2)
            r = self.run_mqchat(*base, 'send', room, 'first', 'words', env=env)
            self.assertEqual(r.returncode, EXIT_OK, r)
            self.expect_env_chat(bobc, self.room_topic(room), alice, text='first words')
            r = self.run_mqchat(*base, 'send', room, env=env, input=b'from stdin\n')
            self.assertEqual(r.returncode, EXIT_OK, r)
            self.expect_env_chat(bobc, self.room_topic(room), alice, text='from stdin')
            out, err = tail.communicate(timeout=10)
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
        self.assertEqual(tail.returncode, EXIT_OK, err)
        lines = out.decode().splitlines()
        self.assertEqual([json.loads(x)['text'] for x in lines], ['first words', 'from stdin'])
        self.assertEqual({json.loads(x)['from'] for x in lines}, {alice})

        # a DM with @user, and the plain-line tail format
        r = self.run_mqchat(*base, 'send', '@' + bob, 'direct', env=env)
        self.assertEqual(r.returncode, EXIT_OK, r)
        self.expect_env_chat(bobc, self.dm_topic(bob), alice, text='direct', to=bob)

    def test_tail_prints_lines(self):
        alice, atok = self.new_user('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        bob, _, bobc = self.bob_client(room)
        tail = subprocess.Popen([self.bin, '--url', self.url(), '--token', atok, '-n', '1',
                                 'tail', room], env=dict(os.environ, HOME=self.broker.dir, TZ='UTC'),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.wait_api('GET', '/v1/rooms/%s' % room, lambda j: j.get('online', 0) >= 2)
            self.pub(bobc, self.room_topic(room), {'text': 'to the tail'})
            out, err = tail.communicate(timeout=10)
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
        self.assertEqual(tail.returncode, EXIT_OK, err)
        self.assertRegex(out.decode(), r'^%s %s: to the tail\n$' % (TIME_RE, re.escape(bob)))

    def test_tail_filters_control_characters(self):
        # ESC, U+009B (a one-character CSI), BEL, DEL and a newline from another user reach
        # neither the --json line nor the plain line raw; options after the command work
        _, atok = self.new_user('alice')
        _, ctok = self.new_user('carol')    # presence counts users: a second one
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        bob, _, bobc = self.bob_client(room)
        env = dict(os.environ, HOME=self.broker.dir, TZ='UTC')
        tails = [subprocess.Popen([self.bin, '--url', self.url(), '--token', tok, 'tail', room] + more,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for tok, more in ((atok, ['--json', '-n', '1']), (ctok, ['-n', '1']))]
        text = 'red \x1b[31m alert \u009b2J bell\x07 del\x7f\nnext \u0085end'
        outs = []
        try:
            self.wait_api('GET', '/v1/rooms/%s' % room, lambda j: j.get('online', 0) >= 3)
            self.pub(bobc, self.room_topic(room), {'text': text})
            for t in tails:
                out, err = t.communicate(timeout=10)
                self.assertEqual(t.returncode, EXIT_OK, err)
                outs.append(out)
        finally:
            for t in tails:
                if t.poll() is None:
                    t.kill()
                    t.wait()
        for out in outs:
            for bad in (b'\x1b', b'\xc2\x9b', b'\xc2\x85', b'\x07', b'\x7f'):
                self.assertNotIn(bad, out)
            self.assertEqual(out.count(b'\n'), 1, out)
        self.assertEqual(json.loads(outs[0])['text'], text)   # escaped, not lost
        self.assertRegex(outs[1].decode(), r'^%s %s: red  \[31m alert  2J bell  del  next  end\n$'
                         % (TIME_RE, re.escape(bob)))

    def test_exit_codes(self):
        alice, pw = self.user_with_password('alice')
        _, otok = self.new_user('owner')
        private = self.make_room(otok, private=True)
        base = ['--url', self.url(), '--user', alice]

        r = self.run_mqchat(*base, '--password', 'wrong', 'send', 'lobby', 'x')
        self.assertEqual(r.returncode, EXIT_AUTH, r)
        self.assertIn(b'login refused', r.stderr)
        r = self.run_mqchat(*base, '--token', 'abc.def.ghi', 'send', 'lobby', 'x')
        self.assertEqual(r.returncode, EXIT_AUTH, r)

        r = self.run_mqchat(*base, 'send', private, 'x', env={'MQCHAT_PASSWORD': pw})
        self.assertEqual(r.returncode, EXIT_DENIED, r)
        self.assertIn(b'not_member', r.stderr)
        r = self.run_mqchat(*base, 'send', self.uid('nosuch'), 'x', env={'MQCHAT_PASSWORD': pw})
        self.assertEqual(r.returncode, EXIT_DENIED, r)
        self.assertIn(b'unknown_room', r.stderr)
        r = self.run_mqchat(*base, 'tail', private, env={'MQCHAT_PASSWORD': pw})
        self.assertEqual(r.returncode, EXIT_DENIED, r)

        dead = broker.free_port()
        r = self.run_mqchat('--url', 'tcp://127.0.0.1:%d' % dead, '--user', alice, '--timeout', '3',
                            'send', 'lobby', 'x', env={'MQCHAT_PASSWORD': pw})
        self.assertEqual(r.returncode, EXIT_UNREACHABLE, r)
        self.assertIn(b'unreachable', r.stderr)

        r = self.run_mqchat(*base, 'send')
        self.assertEqual(r.returncode, EXIT_USAGE, r)
        r = self.run_mqchat('--url', self.url(), 'send', 'lobby', 'x', env={'MQCHAT_PASSWORD': pw})
        self.assertEqual(r.returncode, EXIT_USAGE, r)   # no user
        r = self.run_mqchat(*base, 'frobnicate')
        self.assertEqual(r.returncode, EXIT_USAGE, r)
        r = self.run_mqchat('--help')
        self.assertEqual(r.returncode, EXIT_OK, r)
        self.assertIn(b'send ROOM TEXT', r.stdout)

    def test_config_file(self):
        alice, pw = self.user_with_password('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        _, _, bobc = self.bob_client(room)
        cfg = os.path.join(self.broker.dir, 'mqchat-%s.conf' % secrets.token_hex(3))
        with open(cfg, 'w') as f:
            f.write('# mqchat test\nurl = %s\nuser = %s\npassword = %s\n' % (self.url(), alice, pw))
        os.chmod(cfg, 0o600)
        r = self.run_mqchat('--config', cfg, 'send', room, 'via config')
        self.assertEqual(r.returncode, EXIT_OK, r)
        self.assertNotIn(b'warning', r.stderr)
        self.expect_env_chat(bobc, self.room_topic(room), alice, text='via config')


class TransportTest(MqchatCase):
    """--url over TLS, WebSocket and secure WebSocket (doc/transports.md)."""

    CONFIG = chatlib.feature_config(dict(test_tls.server_tls_config(),
                                         **{'tls.port': 'free', 'ws.port': 'free',
                                            'wss.port': 'free'}))

    @classmethod
    def setUpClass(cls):
        cls.shared_broker = None
        b = test_tls.TransportBroker(cls.CONFIG)
        try:
            b.start()
        except BaseException:
            b.cleanup()
            raise
        cls.shared_broker = b

    def test_send_over_each_transport(self):
        alice, atok = self.new_user('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        _, _, bobc = self.bob_client(room)
        ports = self.broker.ports
        ca = test_tls.CERTS.path('ca')
        cases = [
            ('ssl://127.0.0.1:%d' % ports['tls.port'], ['--cafile', ca]),
            ('ws://127.0.0.1:%d/mqtt' % ports['ws.port'], []),
            ('wss://127.0.0.1:%d/mqtt' % ports['wss.port'], ['--cafile', ca]),
            ('ssl://127.0.0.1:%d' % ports['tls.port'], ['--insecure']),
        ]
        for url, extra in cases:
            text = 'over %s %s' % (url.split(':')[0], ' '.join(extra[:1]))
            r = self.run_mqchat('--url', url, '--token', atok, *extra, 'send', room, text)
            self.assertEqual(r.returncode, EXIT_OK, (url, r))
            self.expect_env_chat(bobc, self.room_topic(room), alice, text=text)
        # a certificate nobody vouches for: not reachable (the system CAs do not know it)
        r = self.run_mqchat('--url', 'ssl://127.0.0.1:%d' % ports['tls.port'], '--token', atok,
                            '--timeout', '3', 'send', room, 'x')
        self.assertEqual(r.returncode, EXIT_UNREACHABLE, r)


class ReconnectTest(MqchatCase):
    """A broker of its own, stopped and started again on the same ports."""

    SHARED = False

    def restart_same_ports(self):
        b = self.broker
        port, hport = b.port, b.http_port
        for c in self.clients:
            c.close()
        self.clients = []
        rc = b.stop()
        self.assertEqual(rc, 0, b.log_tail())
        return port, hport

    def start_same_ports(self, port, hport):
        b = self.broker
        b.proc = None
        b.returncode = None
        b.crashed = False
        ports = iter([port, hport] * 3)
        orig = broker.free_port
        broker.free_port = lambda: next(ports)
        try:
            b.start()
        finally:
            broker.free_port = orig
        self.assertEqual((b.port, b.http_port), (port, hport))
        self.port = b.port

    def test_reconnect_after_restart_shows_missed_messages(self):
        alice, atok = self.new_user('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        _, btok = self.new_user('bob')
        bob = chatlib.claims(btok)['sub']

        s = self.screen('--token', atok, '--room', room, '--device', 'laptop')
        s.wait(r'^-- joined #%s' % re.escape(room))

        port, hport = self.restart_same_ports()
        s.wait(r'^-- disconnected .*reconnecting in 0\.5 s$')
        # the delay doubles while the broker is away; start it again during a long wait
        s.wait(r'reconnecting in 4 s$', timeout=12)
        self.start_same_ports(port, hport)
        bobc = self.chat5(bob, btok)
        self.pub(bobc, self.room_topic(room), {'text': 'sent while you were away'})
        # published while mqchat was still waiting out its 4 s: it was offline
        self.assertNotIn('-- reconnected', s.text())
        m = s.wait(r'^-- reconnected', timeout=12)
        s.wait(r'^%s %s: sent while you were away$' % (TIME_RE, re.escape(bob)), after=m.end())

        # and live traffic flows again both ways
        self.pub(bobc, self.room_topic(room), {'text': 'and now live'})
        s.wait(r'^%s %s: and now live$' % (TIME_RE, re.escape(bob)), after=m.end())
        s.type('/quit')
        s.wait(r'^\[exit 0\]$')

    def test_expired_token_without_password_exits_2(self):
        # the broker comes back with another chat.token_secret: the token is no longer valid,
        # and a client that knows no password stops instead of retrying forever
        alice, atok = self.new_user('alice')
        s = self.screen('--token', atok, '--device', 'laptop')
        s.wait(r'^-- connected to ')
        port, hport = self.restart_same_ports()
        s.wait(r'^-- disconnected ')
        self.broker.config['chat.token_secret'] = 'jwt-other-' + secrets.token_hex(16)
        self.start_same_ports(port, hport)
        s.wait(r'^-- login refused: the token has expired or was revoked', timeout=12)
        s.wait(r'^\[exit 2\]$')

    def test_expired_token_with_password_logs_in_again(self):
        # the token traded for the password is no longer valid after the restart: mqchat
        # trades the password again and reconnects
        alice, pw = self.user_with_password('alice')
        _, otok = self.new_user('owner')
        room = self.make_room(otok)
        s = self.screen('--user', alice, '--room', room, '--device', 'laptop',
                        env={'MQCHAT_PASSWORD': pw})
        s.wait(r'^-- joined #%s' % re.escape(room))
        port, hport = self.restart_same_ports()
        s.wait(r'^-- disconnected ')
        self.broker.config['chat.token_secret'] = 'jwt-other-' + secrets.token_hex(16)
        self.start_same_ports(port, hport)
        m = s.wait(r'^-- the token had expired: logged in again$', timeout=12)
        s.wait(r'^-- reconnected', after=m.end())
        s.type('/rooms')    # the API takes the new token too
        s.wait(r'^   \*#%s ' % re.escape(room), after=m.end())
        s.type('/quit')
        s.wait(r'^\[exit 0\]$')


if __name__ == '__main__':
    unittest.main()
