#!/usr/bin/env python3
"""runtests.py - runs the client tools' suites (tests/clients/test_*.py: the
mqchat CLI under tmux, mqchat-notify, mqchat-display) with the broker
suites' runner (tests/broker/runtests.py --dir tests/clients): each module
in its own process, two at a time, one line per test, `N passed, N failed`
last.

    python3 tests/clients/runtests.py [-j JOBS] [MODULE|MODULE.Class[.test]]...

The tools are found beside the broker binary (MQCHAT_BROKER, default
build/mqchatd): build/mqchat, build/mqchat-notify, build/mqchat-display.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(os.path.dirname(HERE), 'broker', 'runtests.py')
os.execv(sys.executable, [sys.executable, '-B', RUNNER, '--dir', HERE] + sys.argv[1:])
