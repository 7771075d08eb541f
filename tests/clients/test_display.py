"""mqchat-display (doc/man/mqchat-display.1) against the real mqchatd.

Each test runs the display as a subprocess, `--plain --width 30 --height 8`
(a header and 7 message rows), logged in with a display-role token from
POST /v1/tokens (or a display user's password), and reads its stdout in a
thread: every frame is 8 lines followed by a form-feed line. Tests wait
(bounded) for a frame that shows what they expect and fail with the last
frame seen.

Covered: a room rendered (header with room name, online count and "live";
messages "HH:MM sender: text" from history and live; newest at the
bottom); CJK, emoji and combining marks wrapped by display width (no row
wider than 30 columns, rows of wide characters filled to exactly 30);
only the last N messages (rows, and --messages); a broker restart on the
same port and data_dir: "offline" in the header (messages kept), then
"live" again with a message sent meanwhile (from the history asked at
reconnect) and one sent after, without restarting the display; a display
started before its broker; exit codes:
0 on SIGTERM, 1 usage, 2 bad password, 3 a private room it may not read;
the display's credentials cannot publish (read_only); the curses view
(without --plain) under tmux on a private socket, 40x10: header and a CJK
message on the screen, exit 0 on SIGTERM.

The broker comes from chatlib (tests/chat): one per test class; the
restart test has its own. TZ=UTC for the display, so HH:MM is checked
against the envelope's ts.
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import unicodedata
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'chat'))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'broker'))

import broker  # noqa: E402
from chatlib import FeatureTest, claims, feature_config  # noqa: E402

WIDTH = 30
HEIGHT = 8
FRAME_WAIT = 10.0      # seconds for a frame that must come
RECOVER_WAIT = 25.0    # after a broker restart (back-off 1, 2, 4 s with jitter)
EXIT_WAIT = 10.0


def display_binary():
    return os.path.join(os.path.dirname(broker.broker_binary()), 'mqchat-display')


def cols(s):
    """Display width of s as the display computes it (textwidth.h)."""
    n = 0
    for ch in s:
        cp = ord(ch)
        if cp < 0x20 or 0x7F <= cp < 0xA0:
            continue
        if unicodedata.category(ch) in ('Mn', 'Me', 'Cf') and cp != 0xAD:
            continue
        if 0x1160 <= cp <= 0x11FF:
            continue
        n += 2 if unicodedata.east_asian_width(ch) in ('W', 'F') else 1
    return n


class Display:
    """One mqchat-display process; frames collected by a reader thread."""

    def __init__(self, argv, env):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.frames = []
        self.cond = threading.Condition()
        self.eof = False
        self.err = b''
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()
        self._te = threading.Thread(target=self._read_err, daemon=True)
        self._te.start()

    def _read(self):
        buf = b''
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b'\f\n' in buf:
                frame, buf = buf.split(b'\f\n', 1)
                rows = frame.decode('utf-8', errors='replace').split('\n')
                if rows and rows[-1] == '':
                    rows.pop()
                with self.cond:
                    self.frames.append(rows)
                    self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _read_err(self):
        for line in self.proc.stderr:
            self.err += line

    def last(self):
        with self.cond:
            return self.frames[-1] if self.frames else None

    def wait_frame(self, pred, timeout=FRAME_WAIT, msg=''):
        """The first frame (from the one shown now on) for which pred is
        true; fails with the last frame after timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = max(0, len(self.frames) - 1)
            while True:
                while i < len(self.frames):
                    if pred(self.frames[i]):
                        return self.frames[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(left)
        raise AssertionError('no frame matching within %.1f s %s; last frame:\n%s\nexit %s, '
                             'stderr: %s' % (timeout, msg, self.show(self.last()),
                                             self.proc.poll(), self.err.decode(errors='replace')))

    @staticmethod
    def show(rows):
        if rows is None:
            return '(none)'
        return '\n'.join('|%s|' % r for r in rows)

    def wait_exit(self, timeout=EXIT_WAIT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM; returns the exit status (None when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(EXIT_WAIT)
        if rc is None:
            self.proc.kill()
            self.proc.wait(5)
        self._t.join(5)
        return rc


class DisplayTest(FeatureTest):
    """A chat broker with fast presence; helpers to run the display."""

    CONFIG = feature_config()

    def setUp(self):
        super().setUp()
        self.displays = []
        self.assertTrue(os.access(display_binary(), os.X_OK),
                        '%s is not built' % display_binary())

    def tearDown(self):
        for d in self.displays:
            if d.proc.poll() is None:
                d.stop()
        super().tearDown()

    def display_token(self, user=None):
        """(user, token) of a display-role token minted by the service."""
        user = user or self.uid('disp')
        got = self.svc('POST', '/v1/tokens', {'user': user, 'role': 'display', 'ttl': 3600})
        self.assertEqual(claims(got['token']).get('role'), 'display', repr(got))
        return user, got['token']

    def start_display(self, room, token=None, user=None, password=None, extra=(), env=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith('MQCHAT_')}
        e['TZ'] = 'UTC'
        if user:
            e['MQCHAT_USER'] = user
        if token:
            e['MQCHAT_TOKEN'] = token
        if password is not None:
            e['MQCHAT_PASSWORD'] = password
        e.update(env or {})
        argv = [display_binary(), '--plain', '--width', str(WIDTH), '--height', str(HEIGHT),
                '--port', str(self.broker.port)] + list(extra) + [room]
        d = Display(argv, e)
        self.displays.append(d)
        return d

    def stop_display(self, d):
        rc = d.stop()
        self.assertEqual(rc, 0, 'display did not exit 0 on SIGTERM; stderr: %s'
                         % d.err.decode(errors='replace'))

    def short(self, what):
        """A unique name short enough that "HH:MM name: " leaves room on a
        30-column row."""
        return '%s%s' % (what, secrets.token_hex(3))

    def user_in_room(self, room=None):
        """(name, token, room, MQTT 5 client subscribed to the room)."""
        name = self.make_user(self.short('u'))
        token = self.service_token(name)
        room = room or self.make_room(token, self.short('r'))
        c = self.chat5(name, token, subs=[(self.room_topic(room), 1)])
        return name, token, room, c

    def say(self, c, room, text):
        """Publishes text to room (QoS 1, accepted); returns the envelope
        as received back by c."""
        self.pub(c, self.room_topic(room), {'type': 'text', 'text': text}, qos=1)
        _, env = self.expect_env_chat(c, self.room_topic(room))
        return env

    def check_frame_shape(self, rows):
        self.assertEqual(len(rows), HEIGHT, Display.show(rows))
        for r in rows:
            self.assertLessEqual(cols(r), WIDTH, 'row wider than %d columns: %r\n%s'
                                 % (WIDTH, r, Display.show(rows)))
            self.assertEqual(r, r.rstrip(' '), 'trailing spaces: %r' % r)


def body(rows):
    return rows[1:]


def joined(rows):
    """The message rows joined (what the wrapped text reads as)."""
    return ''.join(body(rows))


class RenderTest(DisplayTest):
    SHARED = True

    def test_renders_room(self):
        name, _, room, c = self.user_in_room()
        early = self.say(c, room, 'before the display')
        disp_user, token = self.display_token()
        d = self.start_display(room, token=token)
        hhmm = time.strftime('%H:%M', time.gmtime(early['ts'] / 1000))
        want = '%s %s: before the display' % (hhmm, name)
        rows = d.wait_frame(lambda r: want in ' '.join(body(r)) and 'live' in r[0],
                            msg='(history on connect)')
        self.check_frame_shape(rows)
        self.assertTrue(rows[0].startswith('#' + room + ' '), rows[0])
        late = self.say(c, room, 'after')
        rows = d.wait_frame(lambda r: r[-1].endswith(': after'), msg='(live message)')
        self.check_frame_shape(rows)
        hhmm = time.strftime('%H:%M', time.gmtime(late['ts'] / 1000))
        self.assertEqual(rows[-1], '%s %s: after' % (hhmm, name)[:WIDTH], Display.show(rows))
        # Newest at the bottom: the older message sits above the newer one.
        text = ' '.join(body(rows))
        self.assertLess(text.index(want), text.index(': after'), Display.show(rows))
        # The online count: the user viewing the room (the display is not counted).
        rows = d.wait_frame(lambda r: r[0].endswith('1 here | live'), msg='(online count)')
        self.check_frame_shape(rows)
        self.stop_display(d)

    def test_wraps_wide_characters(self):
        name, _, room, c = self.user_in_room()
        _, token = self.display_token()
        d = self.start_display(room, token=token)
        d.wait_frame(lambda r: 'live' in r[0], msg='(connected)')
        cjk = '漢字かなカナ한글中文字' * 3        # 33 wide characters, 66 columns
        self.say(c, room, cjk)
        rows = d.wait_frame(lambda r: joined(r).endswith(cjk[-5:]), msg='(CJK message)')
        self.check_frame_shape(rows)
        text_rows = [r for r in body(rows) if r and all(cols(ch) == 2 for ch in r)]
        self.assertGreaterEqual(len(text_rows), 1, Display.show(rows))
        for r in text_rows[:-1]:
            self.assertEqual(cols(r), WIDTH, 'a full row of wide characters: %r' % r)
        self.assertIn(cjk, joined(rows).replace(' ', ''), Display.show(rows))

        emoji = '😀🎉🚀👍🌍' * 5                  # 25 emoji, 50 columns
        self.say(c, room, emoji)
        rows = d.wait_frame(lambda r: joined(r).endswith(emoji[-3:]), msg='(emoji message)')
        self.check_frame_shape(rows)
        full = [r for r in body(rows) if r and set(r) <= set(emoji)]
        self.assertGreaterEqual(len(full), 1, Display.show(rows))
        for r in full[:-1]:
            self.assertEqual(cols(r), WIDTH, 'a full row of emoji: %r' % r)
        self.assertIn(emoji, joined(rows), Display.show(rows))

        # Combining marks take no column: 40 x "e + acute" is 40 columns.
        marks = 'e\u0301' * 40
        self.say(c, room, marks)
        rows = d.wait_frame(lambda r: joined(r).endswith(marks[-6:]), msg='(combining marks)')
        self.check_frame_shape(rows)
        lines = [r for r in body(rows) if r and set(r) <= {'e', '\u0301'}]
        self.assertGreaterEqual(len(lines), 1, Display.show(rows))
        for r in lines[:-1]:
            self.assertEqual(cols(r), WIDTH, repr(r))
            self.assertEqual(len(r), 2 * WIDTH, 'each e keeps its mark on the row: %r' % r)
        self.assertIn(marks, joined(rows), Display.show(rows))

        # Words wrap at spaces: no word of this sentence is cut.
        words = 'the quick brown fox jumps over the lazy dog again and again'
        self.say(c, room, words)
        rows = d.wait_frame(lambda r: joined(r).endswith('again'), msg='(words)')
        self.check_frame_shape(rows)
        start = max(i for i, r in enumerate(rows) if r.endswith(': the quick') or ': the' in r)
        got = ' '.join(rows[start:]).split(': ', 1)[1]
        self.assertEqual(got, words, Display.show(rows))
        self.stop_display(d)

    def test_last_n_only(self):
        name, _, room, c = self.user_in_room()
        for i in range(1, 13):
            self.say(c, room, 'm%02d' % i)
        _, token = self.display_token()
        d = self.start_display(room, token=token)
        rows = d.wait_frame(lambda r: r[-1].endswith(': m12'), msg='(history)')
        self.check_frame_shape(rows)
        self.assertEqual([r.rsplit(': ', 1)[1] for r in body(rows)],
                         ['m%02d' % i for i in range(6, 13)], Display.show(rows))
        self.say(c, room, 'm13')
        rows = d.wait_frame(lambda r: r[-1].endswith(': m13'), msg='(one more)')
        self.assertEqual([r.rsplit(': ', 1)[1] for r in body(rows)],
                         ['m%02d' % i for i in range(7, 14)], Display.show(rows))
        self.stop_display(d)
        # --messages 3: three messages, the rows above them empty.
        d = self.start_display(room, token=token, extra=['--messages', '3'])
        rows = d.wait_frame(lambda r: r[-1].endswith(': m13') and 'live' in r[0],
                            msg='(--messages 3)')
        self.assertEqual(body(rows)[:4], ['', '', '', ''], Display.show(rows))
        self.assertEqual([r.rsplit(': ', 1)[1] for r in body(rows)[4:]],
                         ['m11', 'm12', 'm13'], Display.show(rows))
        self.stop_display(d)

    def test_bad_password_exits_2(self):
        name = self.make_user(self.uid('disp'), password='right-one', role='display')
        _, _, room, _ = self.user_in_room()
        d = self.start_display(room, user=name, password='wrong-one')
        self.assertEqual(d.wait_exit(), 2, 'stderr: %s' % d.err.decode(errors='replace'))
        self.assertIn(b'refused', d.err)
        # The right password works, as a user with the display role.
        d = self.start_display(room, user=name, password='right-one')
        d.wait_frame(lambda r: 'live' in r[0], msg='(password login)')
        self.stop_display(d)

    def test_private_room_exits_3(self):
        _, token = self.new_user('owner')
        room = self.make_room(token, private=True)
        _, dtoken = self.display_token()
        d = self.start_display(room, token=dtoken)
        self.assertEqual(d.wait_exit(), 3, 'stderr: %s' % d.err.decode(errors='replace'))

    def test_usage_exits_1(self):
        for extra in (['--width', '0', 'room'], ['--bogus', 'room'], []):
            r = subprocess.run([display_binary(), '--plain'] + extra, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10,
                               env={'PATH': os.environ.get('PATH', ''), 'MQCHAT_USER': 'x',
                                    'MQCHAT_PASSWORD': 'y'})
            self.assertEqual(r.returncode, 1, '%s: %r' % (extra, r))
        r = subprocess.run([display_binary(), '--help'], stdout=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b'Usage: mqchat-display', r.stdout)

    def test_display_cannot_publish(self):
        _, _, room, c = self.user_in_room()
        disp_user, token = self.display_token()
        d = self.start_display(room, token=token)
        d.wait_frame(lambda r: 'live' in r[0], msg='(connected)')
        # The same credentials, used to publish: refused as read-only.
        x = self.chat5(disp_user, token, subs=[(self.events_topic(disp_user), 0)])
        self.pub(x, self.room_topic(room), {'type': 'text', 'text': 'no'}, qos=1,
                 reason=0x87)
        self.expect_notice_chat(x, disp_user, self.room_topic(room), 'read_only', 0x87)
        self.quiet_chat(c, msg='(nothing from the display reaches the room)')
        self.stop_display(d)


class RestartTest(DisplayTest):
    """The broker stopped and started again on the same port and data_dir."""

    SHARED = False

    def restart_same_port(self):
        b = self.broker
        for c in self.clients:
            c.close()
        self.clients = []
        rc = b.stop()
        self.assertEqual(rc, 0, 'broker exited with %s on SIGTERM\n%s' % (rc, b.log_tail()))
        return b

    def start_again(self, b):
        port, http_port = b.port, b.http_port
        b.proc = None
        b.returncode = None
        b.crashed = False
        # Broker.start() takes fresh ports from broker.free_port(): give it the old ones.
        saved = broker.free_port
        ports = [port, http_port]
        broker.free_port = lambda: ports.pop(0) if ports else saved()
        try:
            b.start()
        finally:
            broker.free_port = saved
        self.assertEqual((b.port, b.http_port), (port, http_port), 'ports changed')
        self.port = b.port

    def test_survives_broker_restart(self):
        name, token, room, c = self.user_in_room()
        self.say(c, room, 'first')
        _, dtoken = self.display_token()
        d = self.start_display(room, token=dtoken)
        d.wait_frame(lambda r: 'live' in r[0] and r[-1].endswith(': first'), msg='(first)')
        b = self.restart_same_port()
        rows = d.wait_frame(lambda r: r[0].endswith('offline'), msg='(offline while down)')
        self.check_frame_shape(rows)
        self.assertTrue(rows[-1].endswith(': first'), 'messages stay while offline\n%s'
                        % Display.show(rows))
        time.sleep(1.5)   # down across at least one retry
        self.assertIsNone(d.proc.poll(), 'the display exited while the broker was down')
        self.start_again(b)
        # Most likely sent before the display is back (its next attempt is
        # 1-4 s away): it then comes from the history asked at reconnect.
        c2 = self.chat5(name, token, subs=[(self.room_topic(room), 1)])
        self.say(c2, room, 'during')
        rows = d.wait_frame(lambda r: 'live' in r[0] and r[-1].endswith(': during'),
                            timeout=RECOVER_WAIT, msg='(live again after the restart)')
        self.say(c2, room, 'second')
        rows = d.wait_frame(lambda r: r[-1].endswith(': second'), msg='(a message after restart)')
        self.check_frame_shape(rows)
        self.assertEqual([r.rsplit(': ', 1)[1] for r in body(rows) if r],
                         ['first', 'during', 'second'], Display.show(rows))
        self.stop_display(d)

    def test_starts_before_broker(self):
        """A display started while its broker is down keeps trying."""
        name, token, room, c = self.user_in_room()
        _, dtoken = self.display_token()
        b = self.restart_same_port()
        d = self.start_display(room, token=dtoken)
        d.wait_frame(lambda r: r[0].endswith('offline'), msg='(offline at start)')
        self.start_again(b)
        d.wait_frame(lambda r: 'live' in r[0], timeout=RECOVER_WAIT, msg='(connected later)')
        self.stop_display(d)


class TmuxPane:
    """A command in a detached tmux session on a private server (`tmux -L
    <unique>`), COLS x ROWS; sh prints `[exit N]` when it ends. The
    command's PID (sh execs it) is written to pidfile."""

    def __init__(self, argv, env, cols, rows, pidfile):
        self.sock = 'mqchat-display-test-%d-%s' % (os.getpid(), secrets.token_hex(4))
        self.env = dict(env)
        self.env.pop('TMUX', None)
        self.pidfile = pidfile
        inner = 'echo $$ > %s; exec %s' % (_q(pidfile), ' '.join(_q(a) for a in argv))
        cmd = 'sh -c %s; echo "[exit $?]"; sleep 60' % _q(inner)
        self._tmux('new-session', '-d', '-x', str(cols), '-y', str(rows), '-s', 'main',
                   'sh -c %s' % _q(cmd))

    def _tmux(self, *args, check=True):
        return subprocess.run(['tmux', '-L', self.sock, '-f', '/dev/null'] + list(args),
                              env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=10, check=check)

    def text(self):
        r = self._tmux('capture-pane', '-p', '-t', 'main', check=False)
        return r.stdout.decode(errors='replace')

    def wait(self, pred, timeout=FRAME_WAIT, msg=''):
        deadline = time.monotonic() + timeout
        while True:
            t = self.text()
            if pred(t):
                return t
            if time.monotonic() >= deadline:
                raise AssertionError('the pane never matched within %.0f s %s\n--- pane ---\n%s'
                                     % (timeout, msg, t))
            time.sleep(0.1)

    def pid(self, timeout=FRAME_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.pidfile) as f:
                    return int(f.read().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise AssertionError('no pid in %s' % self.pidfile)

    def close(self):
        self._tmux('kill-server', check=False)
        path = os.path.join(os.environ.get('TMUX_TMPDIR') or '/tmp', 'tmux-%d' % os.getuid(),
                            self.sock)
        try:
            os.unlink(path)
        except OSError:
            pass


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


class CursesTest(DisplayTest):
    """The full-screen view (no --plain) in a 40x10 tmux pane."""

    SHARED = True

    def test_curses_view_in_tmux(self):
        if shutil.which('tmux') is None:
            self.skipTest('tmux is not installed')
        name, _, room, c = self.user_in_room()
        _, token = self.display_token()
        pidfile = os.path.join(self.broker.dir, 'display-%s.pid' % secrets.token_hex(3))
        env = {k: v for k, v in os.environ.items() if not k.startswith('MQCHAT_')}
        env.update({'TZ': 'UTC', 'TERM': 'screen-256color', 'LANG': 'C.UTF-8',
                    'MQCHAT_TOKEN': token})
        pane = TmuxPane([display_binary(), '--port', str(self.broker.port), room], env,
                        40, 10, pidfile)
        self.addCleanup(pane.close)
        pid = pane.pid()
        # The header on row 1: the room on the left, "live" (and the online count) on the right.
        hdr = re.compile(r'^#%s +(?:\d+ here \| )?live *$' % re.escape(room))
        pane.wait(lambda t: hdr.match(t.split('\n', 1)[0]), msg='(header, live)')
        cjk = '漢字かな한글'
        env_ = self.say(c, room, 'hi %s end' % cjk)
        hhmm = time.strftime('%H:%M', time.gmtime(env_['ts'] / 1000))
        want = '%s %s: hi %s end' % (hhmm, name, cjk)
        t = pane.wait(lambda t: want in t, msg='(the CJK message)')
        rows = t.split('\n')
        self.assertTrue(hdr.match(rows[0]), t)
        self.assertIn(want, rows[1:], t)
        here = re.compile(r'^#%s +1 here \| live *$' % re.escape(room))
        pane.wait(lambda t: here.match(t.split('\n', 1)[0]), msg='(online count in the header)')
        os.kill(pid, signal.SIGTERM)
        pane.wait(lambda t: re.search(r'^\[exit \d+\]$', t, re.M), timeout=EXIT_WAIT,
                  msg='(exit after SIGTERM)')
        self.assertRegex(pane.text(), r'(?m)^\[exit 0\]$')


if __name__ == '__main__':
    unittest.main()
