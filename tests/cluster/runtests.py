#!/usr/bin/env python3
"""runtests.py - runs the cluster suites (tests/cluster/test_*.py) with the
broker suites' runner (tests/broker/runtests.py --dir tests/cluster): each
module in its own process, two at a time, one line per test, `N passed,
N failed` last.

    python3 tests/cluster/runtests.py [-j JOBS] [MODULE|MODULE.Class[.test]]...

Needs MQCHAT_TEST_MYSQL_URL (see clusterlib.py); starts its own Redis
servers unless MQCHAT_TEST_REDIS_URL / MQCHAT_TEST_REDIS_CLUSTER_URL name
them (tests/run.sh cluster does all of that).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(os.path.dirname(HERE), 'broker', 'runtests.py')
os.execv(sys.executable, [sys.executable, '-B', RUNNER, '--dir', HERE] + sys.argv[1:])
