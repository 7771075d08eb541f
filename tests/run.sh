#!/bin/sh
# tests/run.sh - runs mqchat's test suites against one build and prints one summary.
#
#   sh tests/run.sh BUILD_DIR [unit|broker|chat|clients|cluster|web]
#
# unit    every BUILD_DIR/tests/unit/test_* (cmocka programs)
# broker  the raw-packet suites (tests/broker/runtests.py), the client
#         library programs (BUILD_DIR/tests/broker/client_*) and the MQTT.js
#         suite (tests/mqttjs, node --test), once per workers setting in
#         MQCHAT_WORKERS_LIST (default "1 4"; "1" for Mosquitto, which has
#         no workers)
# chat    the chat suites: tests/chat (python, tests/chat/runtests.py) and
#         the chat client-library programs (BUILD_DIR/tests/chat/client_*),
#         once, with workers=2 (mqchatd only: skipped for Mosquitto)
# clients the client tools (tests/clients, python): mqchat under tmux,
#         mqchat-notify and mqchat-display against mqchatd, once, with
#         workers=2 (mqchatd only; nothing when the suite has no modules)
# cluster the cluster suite (tests/cluster, python): several mqchatd nodes
#         over a throwaway Redis and a three-master Redis Cluster
#         (tests/redis.sh) and the MariaDB below, once, with workers=2
#         (mqchatd only: skipped for Mosquitto)
# web     the web page (tests/web, node --test): clients/web built with
#         npm, then Debian's chromium (headless, playwright-core) against
#         mqchatd serving it, once, with workers=2 (mqchatd only)
# (none)  all six
#
# Environment: MQCHAT_BROKER (broker binary, default BUILD_DIR/mqchatd; a
# path to /usr/sbin/mosquitto runs the broker suites against Mosquitto 2.0),
# MQCHAT_WORKERS_LIST, PYTHON (default python3), MQCHAT_TEST_JOBS (parallel
# python test modules, default 2), NODE and NPM (default node and npm; when
# they are missing, Debian's nodejs and npm are installed if apt-get can),
# MQCHAT_TEST_MYSQL_URL (a MySQL/MariaDB for the storage tests; when unset,
# and the broker is mqchatd, a throwaway MariaDB is started with
# tests/mariadb.sh and stopped at the end; the cluster suite needs it),
# MQCHAT_TEST_REDIS_URL / MQCHAT_TEST_REDIS_CLUSTER_URL (a Redis and a Redis
# Cluster for the cluster suite; when unset, throwaway ones are started with
# tests/redis.sh and stopped at the end).
#
# The last line is `N passed, N failed`, counted over everything; the exit
# status is non-zero when anything failed or could not run.

set -u

usage() {
    echo "usage: sh tests/run.sh BUILD_DIR [unit|broker|chat|clients|cluster|web]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
WHAT=${2:-all}
case $WHAT in unit | broker | chat | clients | cluster | web | all) ;; *) usage ;; esac
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
JS_TIMEOUT=180       # seconds for the MQTT.js suite (one workers setting)
CHAT_TIMEOUT=240     # seconds for the python chat suite
CHAT_WORKERS=2       # the chat suites run once, with this workers setting
CLUSTER_TIMEOUT=240  # seconds for the python cluster suite
CLIENTS_TIMEOUT=240  # seconds for the client tools' suite
CLUSTER_WORKERS=2    # the cluster suite runs once, with this workers setting
NODE=${NODE:-node}
NPM=${NPM:-npm}
MQTTJS=$ROOT/tests/mqttjs
WEB_TIMEOUT=300      # seconds for the web page suite (build and browser included)
WEB_CLIENT=$ROOT/clients/web
WEB_TESTS=$ROOT/tests/web
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqchat-run.XXXXXX") || exit 2
MARIA_DIR=
REDIS_DIR=
REDIS_CLUSTER_DIR=
cleanup() {
    if [ -n "$REDIS_DIR" ]; then
        sh "$ROOT/tests/redis.sh" stop "$REDIS_DIR"
    fi
    if [ -n "$REDIS_CLUSTER_DIR" ]; then
        sh "$ROOT/tests/redis.sh" cluster-stop "$REDIS_CLUSTER_DIR"
    fi
    if [ -n "$MARIA_DIR" ]; then
        sh "$ROOT/tests/mariadb.sh" stop "$MARIA_DIR"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

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

# The last `# pass N` / `# fail N` / `# cancelled N` of a node --test TAP
# report as "PASSED FAILED" (cancelled counts as failed), or nothing.
node_counts() {
    awk '/^# pass [0-9]+$/ { p = $3; seen = 1 }
         /^# fail [0-9]+$/ { f = $3 }
         /^# cancelled [0-9]+$/ { c = $3 }
         END { if (seen) print p + 0, f + c }' "$1"
}

# record_node NAME OUT RC [PATTERN]: records under NAME the counts of OUT,
# the TAP report of a node --test run that exited with status RC; no counts,
# or a non-zero RC with nothing failed, is one failure more. OUT is shown in
# full when anything failed, else only its test lines, its totals and the
# lines that match the extended regular expression PATTERN.
record_node() {
    counts=$(node_counts "$2")
    if [ -z "$counts" ]; then
        cat "$2"
        echo "== $1: no result (exit status $3)"
        counts="0 1"
    else
        if [ "$3" -ne 0 ] && [ "${counts#* }" = 0 ]; then
            counts="${counts% *} 1"
        fi
        if [ "${counts#* }" != 0 ]; then
            cat "$2"
        else
            grep -E "^ *(not )?ok [0-9]+ - |${4:+$4|}^# (tests|pass|fail|cancelled|duration_ms) " "$2"
        fi
    fi
    # shellcheck disable=SC2086
    record "$1" $counts
}

# mqttjs_setup: makes node, npm and tests/mqttjs/node_modules available,
# once. Returns non-zero (after saying why) when the suite cannot run; that
# is a failure, never a skip.
MQTTJS_READY=
mqttjs_setup() {
    [ -z "$MQTTJS_READY" ] || return "$MQTTJS_READY"
    MQTTJS_READY=1
    if ! command -v "$NODE" >/dev/null 2>&1 || ! command -v "$NPM" >/dev/null 2>&1; then
        echo "== mqttjs: $NODE or $NPM missing; installing Debian's nodejs and npm"
        if command -v apt-get >/dev/null 2>&1; then
            SUDO=
            [ "$(id -u)" -eq 0 ] || SUDO=sudo
            $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q nodejs npm
        fi
        if ! command -v "$NODE" >/dev/null 2>&1 || ! command -v "$NPM" >/dev/null 2>&1; then
            echo "== mqttjs: FAILED: no node/npm (and they could not be installed)"
            return 1
        fi
    fi
    # (npm ci also when package-lock.json changed since the last install)
    if [ ! -f "$MQTTJS/node_modules/.package-lock.json" ] ||
        [ -n "$(find "$MQTTJS/package-lock.json" -newer "$MQTTJS/node_modules/.package-lock.json")" ]; then
        echo "== mqttjs: npm ci in $MQTTJS"
        if ! (cd "$MQTTJS" && "$NPM" ci --no-audit --no-fund); then
            echo "== mqttjs: FAILED: npm ci did not install the suite's packages"
            rm -rf "$MQTTJS/node_modules"
            return 1
        fi
    fi
    MQTTJS_READY=0
}

# run_mqttjs WORKERS: the MQTT.js suite (every tests/mqttjs/test/*.test.js,
# each file with its own broker, a few files at once) against $BROKER.
run_mqttjs() {
    name="broker/mqttjs (workers=$1)"
    if ! mqttjs_setup; then
        record "$name" 0 1
        return
    fi
    out=$TMP/mqttjs.out
    (cd "$MQTTJS" && MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$1 timeout "$JS_TIMEOUT" \
        "$NODE" --test --test-reporter=tap --test-concurrency=3 test/*.test.js) >"$out" 2>&1
    record_node "$name" "$out" $?
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
        record_output "broker/python (workers=$w)" "$out" "$rc"

        for src in "$ROOT"/tests/broker/client_*.c; do
            [ -f "$src" ] || continue
            prog=$BUILD/tests/broker/$(basename "$src" .c)
            run_program "broker/$(basename "$prog") (workers=$w)" "$prog" "$w"
        done

        run_mqttjs "$w"
    done
}

# record_output NAME OUT RC: shows OUT (a suite's output, which ends with
# `N passed, N failed`) and records its counts under NAME; no such line, or
# a non-zero exit status RC with nothing failed, is one failure more.
record_output() {
    cat "$2"
    counts=$(plain_counts "$2")
    if [ -z "$counts" ]; then
        echo "== $1: no result (exit status $3)"
        counts="0 1"
    elif [ "$3" -ne 0 ] && [ "${counts#* }" = 0 ]; then
        counts="${counts% *} 1"
    fi
    # shellcheck disable=SC2086
    record "$1" $counts
}

# run_program NAME PROGRAM WORKERS: runs one client-library test program
# against $BROKER with MQCHAT_WORKERS=WORKERS and records its counts (a
# program missing, or ending without `N passed, N failed`, is one failure).
run_program() {
    if [ ! -x "$2" ]; then
        echo "== $1: not built ($2)"
        record "$1" 0 1
        return
    fi
    out=$TMP/client.out
    MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$3 timeout "$CLIENT_TIMEOUT" "$2" >"$out" 2>&1
    rc=$?
    record_output "$1" "$out" "$rc"
}

# mqchatd_suite NAME WHAT: true when the mqchatd-only suite NAME can run;
# otherwise says why (Mosquitto has no WHAT: skipped; no broker binary:
# one failure) and is false.
mqchatd_suite() {
    case "${MQCHAT_IMPL:-}:$(basename "$BROKER")" in
        mosquitto:* | *:mosquitto*)
            echo "== $1: skipped (Mosquitto has no $2)"
            return 1
            ;;
    esac
    if [ ! -x "$BROKER" ]; then
        echo "== $1: $BROKER is missing or not executable"
        record "$1: broker binary $BROKER" 0 1
        return 1
    fi
}

# run_chat: the chat suites, once (workers=$CHAT_WORKERS): the python
# modules of tests/chat, then every tests/chat/client_*.c program.
run_chat() {
    mqchatd_suite chat chat || return
    echo "== chat suites: $BROKER, workers=$CHAT_WORKERS =="
    out=$TMP/chat.out
    MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$CHAT_WORKERS \
        timeout "$CHAT_TIMEOUT" "$PYTHON" "$ROOT/tests/chat/runtests.py" >"$out" 2>&1
    rc=$?
    record_output "chat/python (workers=$CHAT_WORKERS)" "$out" "$rc"
    for src in "$ROOT"/tests/chat/client_*.c; do
        [ -f "$src" ] || continue
        prog=$BUILD/tests/chat/$(basename "$src" .c)
        run_program "chat/$(basename "$prog") (workers=$CHAT_WORKERS)" "$prog" "$CHAT_WORKERS"
    done
}

# run_clients: the client tools' suite (tests/clients/runtests.py: mqchat
# under tmux, mqchat-notify, mqchat-display), once (workers=$CHAT_WORKERS),
# when it has modules.
run_clients() {
    set -- "$ROOT"/tests/clients/test_*.py
    [ -f "$1" ] || return 0
    mqchatd_suite clients chat || return
    echo "== client tools suite: $BROKER, workers=$CHAT_WORKERS =="
    out=$TMP/clients.out
    MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$CHAT_WORKERS \
        timeout "$CLIENTS_TIMEOUT" "$PYTHON" "$ROOT/tests/clients/runtests.py" >"$out" 2>&1
    record_output "clients/python (workers=$CHAT_WORKERS)" "$out" "$?"
}

# npm_ci NAME DIR: installs DIR's node_modules with npm ci when they are
# missing or older than DIR/package-lock.json. Non-zero (after saying why)
# when that fails.
npm_ci() {
    if [ ! -f "$2/node_modules/.package-lock.json" ] ||
        [ -n "$(find "$2/package-lock.json" -newer "$2/node_modules/.package-lock.json")" ]; then
        echo "== $1: npm ci in $2"
        if ! (cd "$2" && "$NPM" ci --no-audit --no-fund); then
            echo "== $1: FAILED: npm ci did not install the packages of $2"
            rm -rf "$2/node_modules"
            return 1
        fi
    fi
}

# run_web: the web page suite (tests/web), once (workers=$CHAT_WORKERS):
# builds clients/web (npm ci, npm run build), then node --test. node, npm
# and chromium missing, a failed install or build: one failure, never a
# skip. Screenshots (of a failure, and of the end of a run) stay in a
# directory under $TMPDIR that the output names.
run_web() {
    mqchatd_suite web chat || return
    name="web/page (workers=$CHAT_WORKERS)"
    # (missing node or npm: installed as for the MQTT.js suite)
    if { ! command -v "$NODE" || ! command -v "$NPM"; } >/dev/null 2>&1 && ! mqttjs_setup; then
        record "$name" 0 1
        return
    fi
    if [ ! -x "$CHROMIUM" ]; then
        echo "== web: FAILED: no $CHROMIUM (apt-get install chromium, or set CHROMIUM)"
        record "$name" 0 1
        return
    fi
    echo "== web page suite: $BROKER, workers=$CHAT_WORKERS =="
    if ! npm_ci web "$WEB_CLIENT" || ! npm_ci web "$WEB_TESTS"; then
        record "$name" 0 1
        return
    fi
    if ! (cd "$WEB_CLIENT" && "$NPM" run build); then
        echo "== web: FAILED: npm run build in $WEB_CLIENT"
        record "$name" 0 1
        return
    fi
    out=$TMP/web.out
    (cd "$WEB_TESTS" && MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$CHAT_WORKERS CHROMIUM=$CHROMIUM \
        MQCHAT_WEB_DIST=$WEB_CLIENT/dist timeout "$WEB_TIMEOUT" \
        "$NODE" --test --test-reporter=tap test/) >"$out" 2>&1
    record_node "$name" "$out" $? '^ *# screenshot: '
}

# run_cluster: the cluster suite (tests/cluster/runtests.py), once
# (workers=$CLUSTER_WORKERS), over a throwaway Redis and a three-master Redis
# Cluster (tests/redis.sh) unless MQCHAT_TEST_REDIS_URL /
# MQCHAT_TEST_REDIS_CLUSTER_URL name them, and the MariaDB of start_mariadb
# (each test class makes a database of its own there). A server that does
# not start is one failure; without Redis the suite does not run.
run_cluster() {
    mqchatd_suite cluster cluster || return
    redis_url=${MQCHAT_TEST_REDIS_URL:-}
    if [ -z "$redis_url" ]; then
        echo "== redis: starting a throwaway server in $TMP/redis"
        REDIS_DIR=$TMP/redis
        if ! redis_url=$(sh "$ROOT/tests/redis.sh" start "$REDIS_DIR" 2>"$TMP/redis.err"); then
            cat "$TMP/redis.err"
            echo "== redis: FAILED: tests/redis.sh could not start Redis; the cluster suite cannot run"
            record "redis (tests/redis.sh start)" 0 1
            return
        fi
        echo "== redis: $redis_url"
    fi
    cluster_url=${MQCHAT_TEST_REDIS_CLUSTER_URL:-}
    if [ -z "$cluster_url" ]; then
        echo "== redis cluster: starting three masters in $TMP/redis-cluster"
        REDIS_CLUSTER_DIR=$TMP/redis-cluster
        if cluster_url=$(sh "$ROOT/tests/redis.sh" cluster-start "$REDIS_CLUSTER_DIR" \
            2>"$TMP/redis-cluster.err"); then
            echo "== redis cluster: $cluster_url"
        else
            # (the cluster-mode module then tries to start one itself, and
            # fails with its reason)
            cat "$TMP/redis-cluster.err"
            echo "== redis cluster: FAILED: tests/redis.sh cluster-start could not make a Redis Cluster"
            record "redis cluster (tests/redis.sh cluster-start)" 0 1
            cluster_url=
        fi
    fi
    echo "== cluster suite: $BROKER, workers=$CLUSTER_WORKERS =="
    out=$TMP/cluster.out
    MQCHAT_BROKER=$BROKER MQCHAT_WORKERS=$CLUSTER_WORKERS MQCHAT_REQUIRE_REDIS=1 \
        MQCHAT_REQUIRE_MYSQL=1 MQCHAT_TEST_REDIS_URL=$redis_url \
        MQCHAT_TEST_REDIS_CLUSTER_URL=$cluster_url \
        timeout "$CLUSTER_TIMEOUT" "$PYTHON" "$ROOT/tests/cluster/runtests.py" >"$out" 2>&1
    rc=$?
    record_output "cluster/python (workers=$CLUSTER_WORKERS)" "$out" "$rc"
}

# start_mariadb: a throwaway MariaDB (tests/mariadb.sh) in $TMP/maria for
# the storage tests, unless MQCHAT_TEST_MYSQL_URL names a server already or
# the broker under test is Mosquitto. Exports MQCHAT_TEST_MYSQL_URL,
# MQCHAT_TEST_MARIADB_DIR (tests stop and restart it) and
# MQCHAT_REQUIRE_MYSQL=1 (a MySQL test without a URL then fails, never
# skips). A server that does not start is one failure.
start_mariadb() {
    [ -z "${MQCHAT_TEST_MYSQL_URL:-}" ] || return 0
    case $(basename "$BROKER") in mosquitto*) return 0 ;; esac
    echo "== mariadb: starting a throwaway server in $TMP/maria"
    if url=$(sh "$ROOT/tests/mariadb.sh" start "$TMP/maria" 2>"$TMP/maria.err"); then
        MARIA_DIR=$TMP/maria
        MQCHAT_TEST_MYSQL_URL=$url
        MQCHAT_TEST_MARIADB_DIR=$MARIA_DIR
        MQCHAT_REQUIRE_MYSQL=1
        export MQCHAT_TEST_MYSQL_URL MQCHAT_TEST_MARIADB_DIR MQCHAT_REQUIRE_MYSQL
        echo "== mariadb: $url"
    else
        MARIA_DIR=$TMP/maria # stop whatever did start
        cat "$TMP/maria.err"
        echo "== mariadb: FAILED: tests/mariadb.sh could not start MariaDB; the MySQL tests cannot run"
        record "mariadb (tests/mariadb.sh start)" 0 1
    fi
}

START=$(date +%s)
case $WHAT in chat | clients | web) ;; *) start_mariadb ;; esac   # these use SQLite only
case $WHAT in
    unit) run_unit ;;
    broker) run_broker ;;
    chat) run_chat ;;
    cluster) run_cluster ;;
    clients) run_clients ;;
    web) run_web ;;
    all) run_unit; run_broker; run_chat; run_clients; run_web; run_cluster ;;
esac

echo
echo "== summary ($(($(date +%s) - START)) s, build $BUILD) =="
cat "$SUMMARY"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
