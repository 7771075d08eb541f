#!/usr/bin/env python3
"""runtests.py - runs the raw-packet broker tests (test_*.py beside it).

    python3 tests/broker/runtests.py [-j JOBS] [--mosquitto] [--dir DIR] [MODULE|MODULE.Class[.test]]...

Each module runs in its own python process (JOBS at a time, default 2: the
tests mostly wait on sockets) under a time limit, so one hung module cannot
hang the suite. Prints one line per test, the traceback and the broker's log
tail for each failure, and as its last line `N passed, N failed` (skipped
tests are reported above it, not counted). Exit status 0 only if nothing
failed.

The broker binary comes from MQCHAT_BROKER (see broker.py); --mosquitto is
short for MQCHAT_BROKER=/usr/sbin/mosquitto. --dir runs the test_*.py of
another directory (tests/chat) the same way; they import broker.py from here.
"""

import argparse
import glob
import os
import signal
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
MODULE_TIMEOUT = 180


class Result(unittest.TestResult):
    """Prints as it goes; keeps plain counts."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.passed = 0
        self.failed = 0
        self.skipped_n = 0
        self._start = 0.0

    def _line(self, status, test, extra=''):
        took = time.monotonic() - self._start
        self.stream.write('  %-5s %s (%.2fs)%s\n' % (status, test.id(), took, extra))
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self._start = time.monotonic()

    def addSuccess(self, test):
        self.passed += 1
        self._line('ok', test)

    def _bad(self, status, test, err):
        self.failed += 1
        self._line(status, test)
        self.stream.write(self._exc_info_to_string(err, test))
        for b in getattr(test, 'brokers', []) or []:
            self.stream.write(b.log_tail() + '\n')
        self.stream.flush()

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._bad('FAIL', test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._bad('ERROR', test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.skipped_n += 1
        self._line('skip', test, ' ' + reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line('xfail', test)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failed += 1
        self._line('XPASS', test)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._bad('FAIL', subtest, err)


def run_in_process(names, test_dir=HERE):
    """Runs the named tests here; prints `RESULT passed failed skipped`."""
    sys.path.insert(0, HERE)
    if test_dir != HERE:
        sys.path.insert(0, test_dir)
    import broker

    def on_term(sig, frame):
        broker.stop_all()
        sys.stdout.write('  ERROR stopped by signal %d\n' % sig)
        sys.stdout.flush()
        os._exit(1)
    signal.signal(signal.SIGTERM, on_term)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in names:
        suite.addTests(loader.loadTestsFromName(name))
    result = Result(sys.stdout)
    suite.run(result)
    sys.stdout.write('RESULT %d %d %d\n' % (result.passed, result.failed, result.skipped_n))
    return result.failed == 0


def stop(proc):
    """SIGTERM (the module stops its brokers), then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def main():
    ap = argparse.ArgumentParser(description='mqchat raw-packet broker tests')
    ap.add_argument('-j', '--jobs', type=int, default=int(os.environ.get('MQCHAT_TEST_JOBS', '2')))
    ap.add_argument('--mosquitto', action='store_true', help='test /usr/sbin/mosquitto instead')
    ap.add_argument('--dir', default=HERE, help='directory of the test_*.py modules')
    ap.add_argument('--in-process', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('names', nargs='*')
    args = ap.parse_args()
    if args.mosquitto:
        os.environ['MQCHAT_BROKER'] = '/usr/sbin/mosquitto'
    test_dir = os.path.abspath(args.dir)
    if args.in_process:
        sys.exit(0 if run_in_process(args.names, test_dir) else 1)

    names = args.names or sorted(os.path.basename(p)[:-3]
                                 for p in glob.glob(os.path.join(test_dir, 'test_*.py')))
    # The slowest modules first, so that the others fill in beside them.
    slow = ['test_ws', 'test_will', 'test_topics', 'test_limits', 'test_tls', 'test_qos',
            'test_session', 'test_auth']
    names.sort(key=lambda n: slow.index(n) if n in slow else len(slow))
    groups = [[n] for n in names]
    running = []
    passed = failed = skipped = 0

    def on_term(sig, frame):
        for _, proc, _ in running:
            stop(proc)
        sys.stdout.write('broker tests stopped by signal %d\n' % sig)
        sys.exit(1)
    signal.signal(signal.SIGTERM, on_term)
    start = time.monotonic()
    pending = list(groups)
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            g = pending.pop(0)
            proc = subprocess.Popen([sys.executable, '-B', os.path.abspath(__file__), '--in-process',
                                     '--dir', test_dir] + g,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=test_dir)
            running.append((g, proc, time.monotonic()))
        time.sleep(0.05)
        for item in list(running):
            g, proc, t0 = item
            if proc.poll() is None and time.monotonic() - t0 < MODULE_TIMEOUT:
                continue
            timed_out = proc.poll() is None
            if timed_out:
                stop(proc)
            out = proc.communicate()[0].decode(errors='replace')
            running.remove(item)
            res = [l for l in out.splitlines() if l.startswith('RESULT ')]
            body = '\n'.join(l for l in out.splitlines() if not l.startswith('RESULT '))
            sys.stdout.write('%s (%.1fs)\n%s\n' % (' '.join(g), time.monotonic() - t0, body))
            if res:
                p, f, s = (int(x) for x in res[-1].split()[1:])
            else:
                p, f, s = 0, 1, 0
                sys.stdout.write('  ERROR %s: %s\n' % (' '.join(g), 'timed out after %d s'
                                                       % MODULE_TIMEOUT if timed_out
                                                       else 'exited %s without a result'
                                                       % proc.returncode))
            passed, failed, skipped = passed + p, failed + f, skipped + s
            sys.stdout.flush()
    sys.stdout.write('broker tests: %d skipped, %.1fs (%s)\n' % (
        skipped, time.monotonic() - start, os.environ.get('MQCHAT_BROKER', 'build/mqchatd')))
    sys.stdout.write('%d passed, %d failed\n' % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
