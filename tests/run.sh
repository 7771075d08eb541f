#!/bin/sh
# tests/run.sh - runs mqchat's test suites against one build and prints one summary.
#
#   sh tests/run.sh BUILD_DIR [unit|broker]
#
# unit    every BUILD_DIR/tests/unit/test_* (cmocka programs)
# broker  the raw-packet suites (tests/broker/runtests.py) and the client
#         library programs (BUILD_DIR/tests/broker/client_*), once per
#         workers setting in MQCHAT_WORKERS_LIST (default "1 4"; "1" for
#         Mosquitto, which has no workers)
# (none)  both
#
# Environment: MQCHAT_BROKER (broker binary, default BUILD_DIR/mqchatd; a
# path to /usr/sbin/mosquitto runs the broker suites against Mosquitto 2.0),
# MQCHAT_WORKERS_LIST, PYTHON (default python3), MQCHAT_TEST_JOBS (parallel
# python test modules, default 2).
#
# The last line is `N passed, N failed`, counted over everything; the exit
# status is non-zero when anything failed or could not run.

set -u

usage() {
    echo "usage: sh tests/run.sh BUILD_DIR [unit|broker]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
WHAT=${2:-all}
case $WHAT in unit | broker | all) ;; *) usage ;; esac
[ -d "$1" ] || { echo "run.sh: no build directory '$1'" >&2; exit 2; }
BUILD=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
BROKER=${MQCHAT_BROKER:-$BUILD/mqchatd}
case $BROKER in /*) ;; *) BROKER=$(pwd)/$BROKER ;; esac
case $(basename "$BROKER") in
    mosquitto*) DEFAULT_WORKERS="1" ;;
    *) DEFAULT_WORKERS="1 4" ;;
esac
WORKERS_LIST=${MQCHAT_WORKERS_LIST:-$DEFAULT_WORKERS}

UNIT_TIMEOUT=120     # seconds per unit test program
PY_TIMEOUT=300       # seconds for the python broker suite (one workers setting)
CLIENT_TIMEOUT=180   # seconds per client library program

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqchat-run.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
SUMMARY=$TMP/summary
: >"$SUMMARY"

# record NAME PASSED FAILED
record() {
    PASSED=$((PASSED + $2))
    FAILED=$((FAILED + $3))
    printf '  %-44s %5d passed %5d failed\n' "$1" "$2" "$3" >>"$SUMMARY"
}

# The last `N passed, N failed` line of FILE as "N N", or nothing.
plain_counts() {
    sed -n 's/^\([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*$/\1 \2/p' "$1" | tail -n 1
}

# run_unit_prog PROGRAM: runs one cmocka program and records its counts.
run_unit_prog() {
    name=unit/$(basename "$1")
    out=$TMP/unit.out
    CMOCKA_MESSAGE_OUTPUT=stdout timeout "$UNIT_TIMEOUT" "$1" >"$out" 2>&1
    rc=$?
    p=$(awk '/^\[  PASSED  \] [0-9]+ test/ { n += $4 } END { print n + 0 }' "$out")
    f=$(awk '/^\[  FAILED  \] [0-9]+ test/ { n += $4 } END { print n + 0 }' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1     # crashed, timed out, or failed outside a test
    fi
    if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        p=1     # no cmocka summary: judged by its exit status
    fi
    if [ "$f" -ne 0 ]; then
        echo "== $name failed (exit status $rc) =="
        cat "$out"
    else
        echo "== $name: $p passed"
    fi
    record "$name" "$p" "$f"
}

run_unit() {
    # Every tests/unit/test_*.c must have been built; any other test_*
    # program in the build directory runs too.
    for src in "$ROOT"/tests/unit/test_*.c; do
        [ -f "$src" ] || continue
        prog=$BUILD/tests/unit/$(basename "$src" .c)
        if [ ! -x "$prog" ]; then
            echo "== unit/$(basename "$prog"): not built ($prog)"
            record "unit/$(basename "$prog")" 0 1
        fi
    done
    for prog in "$BUILD"/tests/unit/test_*; do
        if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then continue; fi
        case $prog in *.o | *.d) continue ;; esac
        run_unit_prog "$prog"
    done
}

run_broker() {
    if [ ! -x "$BROKER" ]; then
        echo "== broker: $BROKER is missing or not executable"
        record "broker binary $BROKER" 0 1
        return
    fi
    for w in $WORKERS_LIST; do
        echo "== broker suites: $BROKER, workers=$w =="
        out=$TMP/py.out
        MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$w \
            timeout "$PY_TIMEOUT" "$PYTHON" "$ROOT/tests/broker/runtests.py" >"$out" 2>&1
        rc=$?
        cat "$out"
        counts=$(plain_counts "$out")
        if [ -z "$counts" ]; then
            echo "== broker/python (workers=$w): no result (exit status $rc)"
            counts="0 1"
        elif [ "$rc" -ne 0 ] && [ "${counts#* }" = 0 ]; then
            counts="${counts% *} 1"
        fi
        # shellcheck disable=SC2086
        record "broker/python (workers=$w)" $counts

        for src in "$ROOT"/tests/broker/client_*.c; do
            [ -f "$src" ] || continue
            prog=$BUILD/tests/broker/$(basename "$src" .c)
            name="broker/$(basename "$prog") (workers=$w)"
            if [ ! -x "$prog" ]; then
                echo "== $name: not built ($prog)"
                record "$name" 0 1
                continue
            fi
            out=$TMP/client.out
            MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$w timeout "$CLIENT_TIMEOUT" "$prog" >"$out" 2>&1
            rc=$?
            cat "$out"
            counts=$(plain_counts "$out")
            if [ -z "$counts" ]; then
                echo "== $name: no result (exit status $rc)"
                counts="0 1"
            elif [ "$rc" -ne 0 ] && [ "${counts#* }" = 0 ]; then
                counts="${counts% *} 1"
            fi
            # shellcheck disable=SC2086
            record "$name" $counts
        done
    done
}

START=$(date +%s)
case $WHAT in
    unit) run_unit ;;
    broker) run_broker ;;
    all) run_unit; run_broker ;;
esac

echo
echo "== summary ($(($(date +%s) - START)) s, build $BUILD) =="
cat "$SUMMARY"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
