#!/usr/bin/env python3
"""runtests.py - runs the chat suites (tests/chat/test_*.py) with the broker
suites' runner (tests/broker/runtests.py --dir tests/chat): each module in
its own process, two at a time, one line per test, `N passed, N failed` last.

    python3 tests/chat/runtests.py [-j JOBS] [MODULE|MODULE.Class[.test]]...
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(os.path.dirname(HERE), 'broker', 'runtests.py')
os.execv(sys.executable, [sys.executable, '-B', RUNNER, '--dir', HERE] + sys.argv[1:])
