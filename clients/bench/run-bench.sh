#!/bin/sh
# run-bench.sh - mqchatd against Mosquitto on this machine; writes doc/benchmarks.md.
#
#   sh clients/bench/run-bench.sh BUILD_DIR        (what `make bench` runs)
#
# For every scenario it starts a fresh broker on a free loopback port, waits
# until it answers an MQTT CONNECT (mqchat-bench probe), runs mqchat-bench
# against it with --pid so the broker's CPU and RSS are read from /proc, and
# stops it again; mqchatd and Mosquitto take turns, scenario by scenario, so
# that both see the same machine. Only the brokers this script started are
# ever signalled (by PID); a trap stops the one running on any exit.
#
# mqchatd runs with its HTTP API off (http.port=0), so that nothing here
# needs, or collides with, port 8080. The chat rooms run uses a third broker
# set-up, mqchatd-chat: mqchatd with the chat layer's token secret and
# chat.auto_create_rooms on, so that chat users log in with tokens the load
# generator mints and create their rooms by subscribing. The moderated chat
# runs use a fourth, mqchatd-mod: mqchatd-chat with its HTTP API on a free
# port and a service key, through which this script (curl) gives 2% of the
# viewers a personal block of a fellow member and sets a system-wide word
# filter before the load starts.
#
# The cluster section (issue 7, doc/cluster.md) runs two mqchatd nodes
# (node.id 1 and 2, each its own port and data_dir) on one throwaway
# redis-server (tests/redis.sh: a free port on 127.0.0.1, no persistence),
# with mqchat-bench --port2 spreading the clients over both: --split
# alternate puts half of every room's members on each node, --split pubsub
# the publishers on node 1 and the subscribers on node 2. Plain rooms cross
# through redis.bridge_topics mqbench/#, chat rooms through their room
# channels. Both nodes' and redis-server's CPU are sampled (--pid x3).
#
# The transports section (doc/transports.md) runs the fanout QoS 0 scenario
# over TCP, WebSocket, TLS and secure WebSocket (mqchat-bench --transport)
# against both brokers, each started with all four listeners open (mqchatd:
# tls.port, ws.port, wss.port; Mosquitto: listener + protocol websockets,
# certfile/keyfile) on a self-signed EC certificate made for the run with
# openssl req in the temporary directory. mqchatd and Mosquitto take turns
# transport by transport. Everywhere else mqchatd runs with those listeners
# off (tls.port=0, ws.port=0, wss.port=0): ws.port is on by default (8083),
# and two nodes of the cluster section would both ask for it.
# Mosquitto 2.0.11's websockets listeners (libwebsockets) bind every
# interface whatever address the listener names: for the seconds of each
# transports run, its ws and wss ports are open beyond 127.0.0.1.
#
# Environment (all optional):
#   BENCH_DURATION  seconds of publishing per traffic run (10)
#   BENCH_CONNS     idle connections of the conns scenario (19000)
#   BENCH_OUT       the report to write (doc/benchmarks.md)
#   MOSQUITTO       the Mosquitto binary (/usr/sbin/mosquitto)
#   BENCH_CLUSTER   on (default): the cluster section too; off: without it
#                   (no redis-server needed); only: just the cluster section
#                   and the one-node runs it compares with, printed on stdout
#                   (the report is left alone), about 3 minutes
#   BENCH_TRANSPORTS on (default): the transports section too; off: without it
#                   (no openssl command needed); only: just that section,
#                   printed on stdout (the report is left alone), about 2
#                   minutes
#
# Bounds: every mqchat-bench run is under `timeout`, every wait loop has a
# fixed number of turns, everything listens on 127.0.0.1 only. The whole run
# takes about 10-11 minutes (the storage section, clients/bench/storage-bench.sh,
# about 2 of them; the chat rooms runs about 1; the cluster section under 2;
# the transports section about 2).

# ulimit -n and -H are not POSIX, but dash and bash (the sh of Debian and of CI) have them.
# shellcheck disable=SC3045

set -u

BUILD=${1:-build}
BENCH=$BUILD/mqchat-bench
MQCHATD=$BUILD/mqchatd
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
OUT=${BENCH_OUT:-doc/benchmarks.md}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNS:-19000}
CLUSTER=${BENCH_CLUSTER:-on}
TRANSPORTS=${BENCH_TRANSPORTS:-on}
NOFILE=20000
# Limits given to both brokers (equal, and equal to both brokers' defaults
# where they have the same default).
INFLIGHT=20
QUEUED=1000
QUEUED_BYTES=8388608
# User properties (and a Content Type) on every publish of the MQTT 5 fan-out
# run that measures what properties cost.
PROPS=4
# The HS256 secret of mqchatd-chat (chat.token_secret) and of the load
# generator that mints its users' tokens: a throwaway value for this run.
TOKEN_SECRET=mqchat-bench-$$-secret
SERVICE_KEY=mqchat-bench-$$-service-key-0123456789abcdef
MOD_WORDS=20
HTTP_PORT=
# The cluster section: what crosses nodes besides chat topics (the rooms
# scenario's topics are mqbench/PID/room/K), and the script that starts and
# stops the throwaway redis-server.
BRIDGE_TOPICS='mqbench/#'
# The light cross-node latency run: rooms x members at 1 msg/s per member,
# so little load that the latency is the hop's, not the shared cores'.
LIGHT_ROOMS=10
LIGHT_MEMBERS=10
REDIS_SH=$(dirname "$0")/../../tests/redis.sh

case $CLUSTER in
on | off | only) ;;
*)
    echo "run-bench: BENCH_CLUSTER is on, off or only, not '$CLUSTER'" >&2
    exit 2
    ;;
esac
case $TRANSPORTS in
on | off | only) ;;
*)
    echo "run-bench: BENCH_TRANSPORTS is on, off or only, not '$TRANSPORTS'" >&2
    exit 2
    ;;
esac
if [ ! -x "$BENCH" ]; then
    echo "run-bench: $BENCH is missing: run make first" >&2
    exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqchat-bench.XXXXXX") || exit 1
BROKER_PID=""
BROKER_PORT=""
# Extra mqchatd settings for the next start_broker (the cluster's), unquoted
# words without blanks.
BROKER_EXTRA=""
# The cluster runs: node 1, parked here while node 2 is BROKER_*, and the
# throwaway redis-server (REDIS_URL is empty while none runs).
NODE1_PID=""
NODE1_PORT=""
NODE1_DIR=""
REDIS_DIR=$TMP/redis
REDIS_URL=""
REDIS_PID=""
REDIS_PORT=""
# The transports section: "on" while start_broker opens the TLS, WebSocket
# and secure WebSocket listeners too (on TLS_PORT, WS_PORT, WSS_PORT, which
# it picks), with the certificate and key made by make_cert in TLS_DIR.
TP_LISTENERS=""
TLS_PORT=""
WS_PORT=""
WSS_PORT=""
TLS_DIR=$TMP/tls
# Idle connections of the transports section's conns runs.
TP_CONNS=1000

log() {
    echo "run-bench: $*" >&2
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; waits for it.
stop_pid() {
    kill "$1" 2>/dev/null
    i=0
    while [ $i -lt 50 ] && kill -0 "$1" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        log "broker $1 did not stop in 5 s: SIGKILL"
        kill -9 "$1" 2>/dev/null
    fi
    wait "$1" 2>/dev/null
}

# stop_broker: the broker running, and node 1 of a cluster run.
stop_broker() {
    [ -z "$BROKER_PID" ] || stop_pid "$BROKER_PID"
    BROKER_PID=""
    [ -z "$NODE1_PID" ] || stop_pid "$NODE1_PID"
    NODE1_PID=""
}

# stop_redis: the cluster runs' redis-server, if it runs (tests/redis.sh
# signals only the process it started, by the PID it recorded).
stop_redis() {
    [ -n "$REDIS_URL" ] || return 0
    sh "$REDIS_SH" stop "$REDIS_DIR" >/dev/null 2>&1
    REDIS_URL=""
}

cleanup() {
    stop_broker
    stop_redis
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Both brokers and the load generator need about 19000 descriptors for
# the conns scenario; children inherit this limit.
if ! ulimit -n $NOFILE 2>/dev/null; then
    log "cannot raise the open-files limit to $NOFILE (it is $(ulimit -n))"
    hard=$(ulimit -H -n)
    ulimit -n "$hard" 2>/dev/null
    if [ "$hard" != unlimited ] && [ "$CONNS" -gt $((hard - 500)) ]; then
        CONNS=$((hard - 500))
        log "conns scenario reduced to $CONNS connections"
    fi
fi

# free_ports N: N free loopback ports, all different from each other and
# from BROKER_PORT, on one line (status 1 when they cannot be found).
free_ports() {
    got=""
    n=0
    tries=0
    while [ $n -lt "$1" ] && [ $tries -lt 50 ]; do
        tries=$((tries + 1))
        p=$("$BENCH" freeport) || continue
        case " $BROKER_PORT $got " in
        *" $p "*) ;;
        *)
            got="$got $p"
            n=$((n + 1))
            ;;
        esac
    done
    [ $n -eq "$1" ] || return 1
    echo "${got# }"
}

# start_broker NAME: starts mqchatd, mqchatd-chat (mqchatd with the chat
# settings) or mosquitto on a free port; sets BROKER_PID, BROKER_PORT and
# BROKER_DIR. mqchatd also gets BROKER_EXTRA (the cluster's settings).
# With TP_LISTENERS=on, both open TLS, WebSocket and secure WebSocket
# listeners too, on TLS_PORT, WS_PORT and WSS_PORT (set here). Returns 1
# when it does not answer in 5 s.
start_broker() {
    name=$1
    BROKER_PORT=$("$BENCH" freeport) || return 1
    dir=$TMP/$name.$BROKER_PORT
    BROKER_DIR=$dir
    mkdir -p "$dir/data"
    if [ "$TP_LISTENERS" = on ]; then
        ports=$(free_ports 3) || return 1
        # shellcheck disable=SC2086
        set -- $ports
        TLS_PORT=$1 WS_PORT=$2 WSS_PORT=$3
    fi
    case $name in
    mqchatd | mqchatd-chat | mqchatd-mod)
        if [ "$TP_LISTENERS" = on ]; then
            set -- --set http.port=0 --set tls.port="$TLS_PORT" --set ws.port="$WS_PORT" \
                --set wss.port="$WSS_PORT" --set tls.cert="$TLS_DIR/cert.pem" \
                --set tls.key="$TLS_DIR/key.pem"
        else
            set -- --set http.port=0 --set tls.port=0 --set ws.port=0 --set wss.port=0
        fi
        [ "$name" != mqchatd ] &&
            set -- "$@" --set chat.token_secret="$TOKEN_SECRET" --set chat.auto_create_rooms=true
        if [ "$name" = mqchatd-mod ]; then
            HTTP_PORT=$("$BENCH" freeport) || return 1
            set -- "$@" --set http.port="$HTTP_PORT" --set http.bind_address=127.0.0.1 \
                --set chat.service_key="$SERVICE_KEY"
        fi
        # shellcheck disable=SC2086
        "$MQCHATD" -p "$BROKER_PORT" --set bind_address=127.0.0.1 \
            --set allow_anonymous=true --set sys_interval=0 --set data_dir="$dir/data" \
            --set workers=2 --set max_inflight_messages=$INFLIGHT \
            --set max_queued_messages=$QUEUED --set max_queued_bytes=$QUEUED_BYTES "$@" \
            $BROKER_EXTRA >"$dir/log" 2>&1 &
        ;;
    mosquitto)
        cat >"$dir/mosquitto.conf" <<EOF
listener $BROKER_PORT 127.0.0.1
allow_anonymous true
persistence false
sys_interval 0
set_tcp_nodelay true
max_inflight_messages $INFLIGHT
max_queued_messages $QUEUED
max_queued_bytes $QUEUED_BYTES
log_dest stderr
log_type error
log_type warning
connection_messages false
EOF
        # The transports' listeners. Run as root, Mosquitto would become user
        # mosquitto before reading the key, which sits in our private
        # temporary directory: "user" keeps it the user running this script.
        [ "$TP_LISTENERS" != on ] || cat >>"$dir/mosquitto.conf" <<EOF
user $(id -un)
listener $WS_PORT 127.0.0.1
protocol websockets
listener $TLS_PORT 127.0.0.1
certfile $TLS_DIR/cert.pem
keyfile $TLS_DIR/key.pem
listener $WSS_PORT 127.0.0.1
protocol websockets
certfile $TLS_DIR/cert.pem
keyfile $TLS_DIR/key.pem
EOF
        "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/log" 2>&1 &
        ;;
    esac
    BROKER_PID=$!
    i=0
    while [ $i -lt 50 ]; do
        if ! kill -0 "$BROKER_PID" 2>/dev/null; then
            log "$name exited at start:"
            tail -n 5 "$dir/log" >&2
            wait "$BROKER_PID" 2>/dev/null
            BROKER_PID=""
            return 1
        fi
        "$BENCH" probe --port "$BROKER_PORT" --setup-timeout 1 --quiet && return 0
        sleep 0.1
        i=$((i + 1))
    done
    log "$name is not answering on port $BROKER_PORT"
    stop_broker
    return 1
}

# moderate: on the mqchatd-mod just started, a system-wide word filter of
# MOD_WORDS words (none of which the load generator's texts contain, so every
# message is scanned in full and passes) and, for 2% of the viewers (the first
# member of every room, u<k*MEMBERS>), a personal block of the room's second
# member: every message of a blocked sender then takes the per-subscriber
# block check. Returns 1 when the API refuses.
moderate() {
    api="http://127.0.0.1:$HTTP_PORT"
    words=$(awk -v n="$MOD_WORDS" 'BEGIN { for (i = 0; i < n; i++)
        printf "%s\"forbidden%02dword\"", (i ? "," : ""), i }')
    curl -sf -m 10 -X PUT "$api/v1/settings" -H "Authorization: Bearer $SERVICE_KEY" \
        -d "{\"word_filter\":{\"words\":[$words],\"policy\":\"reject\"}}" >/dev/null || return 1
    k=0
    while [ $k -lt "$ROOMS" ]; do
        viewer=$((k * MEMBERS))
        curl -sf -m 10 -X POST "$api/v1/users/u$viewer/blocks/u$((viewer + 1))" \
            -H "Authorization: Bearer $SERVICE_KEY" >/dev/null || return 1
        k=$((k + 1))
    done
}

# run_one BROKER KEY ARGS...: one scenario against a fresh broker; the JSON
# result goes to $TMP/KEY.BROKER.json (empty when the run failed).
run_one() {
    name=$1
    key=$2
    shift 2
    res=$TMP/$key.$name.json
    : >"$res"
    case $name in
    mqchatd*) [ -x "$MQCHATD" ] || { log "mqchatd: $MQCHATD not built"; return 1; } ;;
    mosquitto) [ -x "$MOSQUITTO" ] || { log "mosquitto: $MOSQUITTO not found"; return 1; } ;;
    esac
    start_broker "$name" || return 1
    [ "$name" = mqchatd-mod ] && { moderate || log "$key on $name: moderation not set up"; }
    log "$key on $name (port $BROKER_PORT, pid $BROKER_PID): $*"
    timeout 180 "$BENCH" "$@" --port "$BROKER_PORT" --pid "$BROKER_PID" --json --quiet \
        --label "$name" >"$res" 2>"$TMP/$key.$name.err"
    rc=$?
    [ $rc -eq 0 ] || log "$key on $name: mqchat-bench exit $rc $(head -c 300 "$TMP/$key.$name.err")"
    stop_broker
    # What the chat broker committed (spool) and archived (messages), once stopped.
    if [ "$name" = mqchatd-chat ] && command -v sqlite3 >/dev/null 2>&1; then
        timeout 30 sqlite3 "$BROKER_DIR/data/mqchat.db" \
            'SELECT (SELECT count(*) FROM spool) || " " || (SELECT count(*) FROM messages)' \
            >"$TMP/$key.$name.rows" 2>/dev/null
    fi
}

# start_redis: the throwaway redis-server of the cluster runs (tests/redis.sh:
# a free port on 127.0.0.1, no persistence); sets REDIS_URL, REDIS_PORT and
# REDIS_PID. Returns 1 (logged) when there is none.
start_redis() {
    if ! REDIS_URL=$(sh "$REDIS_SH" start "$REDIS_DIR" 2>"$TMP/redis.err"); then
        log "cluster: no redis-server: $(head -c 300 "$TMP/redis.err")"
        REDIS_URL=""
        return 1
    fi
    REDIS_PID=$(cat "$REDIS_DIR/pid")
    REDIS_PORT=$(cat "$REDIS_DIR/port")
}

# redis_publishes: PUBLISH commands redis-server has run so far ("" when
# redis-cli cannot tell).
redis_publishes() {
    timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info commandstats 2>/dev/null |
        sed -n 's/^cmdstat_publish:calls=\([0-9]*\).*/\1/p'
}

# connected_to_redis DIR: true once the node logging in DIR/log is on Redis.
connected_to_redis() {
    grep -q 'cluster: connected to Redis' "$1/log" 2>/dev/null
}

# start_cluster NAME: two nodes of NAME (mqchatd or mqchatd-chat) on
# REDIS_URL, node.id 1 and 2, each on its own port with its own data_dir,
# redis.bridge_topics BRIDGE_TOPICS; node 1 in NODE1_PID, NODE1_PORT,
# NODE1_DIR, node 2 in BROKER_PID, BROKER_PORT, BROKER_DIR. Waits (5 s at
# most) until both are connected to Redis. Returns 1 when they are not.
start_cluster() {
    for id in 1 2; do
        BROKER_EXTRA="--set redis.url=$REDIS_URL --set node.id=$id"
        BROKER_EXTRA="$BROKER_EXTRA --set redis.bridge_topics=$BRIDGE_TOPICS"
        start_broker "$1" || break
        if [ $id = 1 ]; then
            NODE1_PID=$BROKER_PID NODE1_PORT=$BROKER_PORT NODE1_DIR=$BROKER_DIR
            BROKER_PID=""
        fi
    done
    BROKER_EXTRA=""
    if [ -z "$NODE1_PID" ] || [ -z "$BROKER_PID" ]; then
        stop_broker
        return 1
    fi
    i=0
    while [ $i -lt 50 ]; do
        connected_to_redis "$NODE1_DIR" && connected_to_redis "$BROKER_DIR" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    log "cluster: the nodes are not connected to Redis after 5 s"
    stop_broker
    return 1
}

# node_check KEY DIR N PID: after a cluster run, notes in $TMP/KEY.cluster.notes
# whether node N died during the run and the warnings and errors it logged.
node_check() {
    notes=$TMP/$1.cluster.notes
    kill -0 "$4" 2>/dev/null || echo "node $3 (pid $4) was not running at the end of the run" >>"$notes"
    grep -e ' warn ' -e ' error ' -e ' fatal ' "$2/log" 2>/dev/null |
        grep -v 'chat.token_secret is' | head -n 3 | cut -c 1-200 |
        sed "s/^/node $3 logged: /" >>"$notes"
}

# run_cluster BROKER KEY ARGS...: one scenario against two fresh nodes of
# BROKER (start_cluster), mqchat-bench's --port on node 1 and --port2 on
# node 2, sampling both nodes and redis-server (--pid three times); the JSON
# result goes to $TMP/KEY.BROKER-2n.json, the PUBLISH commands Redis ran
# during it to $TMP/KEY.BROKER-2n.publishes, what the nodes logged to
# $TMP/KEY.cluster.notes.
run_cluster() {
    name=$1
    key=$2
    shift 2
    res=$TMP/$key.$name-2n.json
    : >"$res"
    : >"$TMP/$key.cluster.notes"
    [ -x "$MQCHATD" ] || { log "mqchatd: $MQCHATD not built"; return 1; }
    [ -n "$REDIS_URL" ] || { log "$key: no redis-server, not run"; return 1; }
    start_cluster "$name" || { log "$key: the cluster did not start"; return 1; }
    log "$key on 2 x $name (ports $NODE1_PORT $BROKER_PORT, pids $NODE1_PID $BROKER_PID," \
        "redis $REDIS_PID): $*"
    p0=$(redis_publishes)
    timeout 180 "$BENCH" "$@" --port "$NODE1_PORT" --port2 "$BROKER_PORT" --pid "$NODE1_PID" \
        --pid "$BROKER_PID" --pid "$REDIS_PID" --json --quiet --label "$name-2n" \
        >"$res" 2>"$TMP/$key.$name-2n.err"
    rc=$?
    [ $rc -eq 0 ] || log "$key on 2 x $name: mqchat-bench exit $rc $(head -c 300 "$TMP/$key.$name-2n.err")"
    p1=$(redis_publishes)
    [ -z "$p0" ] || [ -z "$p1" ] || echo $((p1 - p0)) >"$TMP/$key.$name-2n.publishes"
    node_check "$key" "$NODE1_DIR" 1 "$NODE1_PID"
    node_check "$key" "$BROKER_DIR" 2 "$BROKER_PID"
    stop_broker
}

# jget FILE KEY: a value from a one-line JSON result ("" when absent).
jget() {
    [ -s "$1" ] || return 0
    sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1" | tr -d '|'
}

# num FILE KEY DIGITS: a number rounded for the table, "-" when absent.
num() {
    v=$(jget "$1" "$2")
    if [ -z "$v" ]; then
        echo "-"
    else
        awk -v v="$v" -v d="$3" 'BEGIN { printf "%.*f", d, v }'
    fi
}

# ratio A B: A / B to two digits, "-" when either is missing or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
        else printf "%.2f", a / b }'
}

# pct A B: A as a whole percentage of B ("97 %"), "-" as for ratio.
pct() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
        else printf "%.0f %%", 100 * a / b }'
}

# cpu_us FILE: broker CPU time per delivery in microseconds: CPU % over the
# publishing time / deliveries per second (approximate: the CPU time
# includes the warm-up), "-" when either is missing.
cpu_us() {
    c=$(num "$1" broker_cpu_pct 1)
    d=$(num "$1" delivered_per_s 0)
    awk -v c="$c" -v d="$d" 'BEGIN {
        if (c == "-" || d == "-" || d + 0 == 0) print "-";
        else printf "%.2f", c * 10000 / d }'
}

# cost_row LABEL KEY: a row of the MQTT 5 throughput table: the PUBLISH size,
# each broker's deliveries/s and its percentage of the same broker's 3.1.1
# fanout QoS 0 run (fanout0), and the ratio between the brokers.
cost_row() {
    ra=$(num "$TMP/$2.mqchatd.json" delivered_per_s 0)
    rb=$(num "$TMP/$2.mosquitto.json" delivered_per_s 0)
    pa=$(pct "$ra" "$(num "$TMP/fanout0.mqchatd.json" delivered_per_s 0)")
    pb=$(pct "$rb" "$(num "$TMP/fanout0.mosquitto.json" delivered_per_s 0)")
    bytes=$(num "$TMP/$2.mqchatd.json" packet_b 0)
    [ "$bytes" != - ] || bytes=$(num "$TMP/$2.mosquitto.json" packet_b 0)
    echo "| $1 | $bytes | $ra | $pa | $rb | $pb | $(ratio "$ra" "$rb") |"
}

# cost_detail LABEL KEY: the rows of the MQTT 5 detail table, one per broker.
cost_detail() {
    for b in mqchatd mosquitto; do
        f=$TMP/$2.$b.json
        echo "| $1 | $b | $(num "$f" loss_pct 3) | $(num "$f" lat_p50_ms 2) |" \
            "$(num "$f" lat_p99_ms 2) | $(num "$f" broker_cpu_pct 0) | $(cpu_us "$f") |" \
            "$(num "$f" bench_cpu_pct 0) |"
    done
}

# pad_size: the --size that makes a 3.1.1 PUBLISH as long as the MQTT 5 one
# with --props: 100 plus the bytes the properties add, taken from the runs
# already made ("" when neither broker's runs reported it).
pad_size() {
    for b in mqchatd mosquitto; do
        with=$(jget "$TMP/fanout0v5p.$b.json" packet_b)
        without=$(jget "$TMP/fanout0v5.$b.json" packet_b)
        if [ -n "$with" ] && [ -n "$without" ]; then
            echo $((100 + with - without))
            return 0
        fi
    done
}

# broker_errors BROKER KEY...: the first error of each of these runs of
# BROKER, or why it did not run.
broker_errors() {
    b=$1
    shift
    for k in "$@"; do
        e=$(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' "$TMP/$k.$b.json" 2>/dev/null | tr -d '|')
        [ -s "$TMP/$k.$b.json" ] || e="did not run (see the make bench output)"
        [ -z "$e" ] || echo "
$k on $b: $e"
    done
}

# run_errors KEY...: broker_errors for both brokers.
run_errors() {
    for k in "$@"; do
        broker_errors mqchatd "$k"
        broker_errors mosquitto "$k"
    done
}

# chat_row LABEL PLAIN CHAT FIELD DIGITS: a row of the chat rooms table: FIELD of
# mqchatd's PLAIN run, of mqchatd-chat's CHAT run and of Mosquitto's PLAIN run,
# then chat / plain and chat / Mosquitto.
chat_row() {
    a=$(num "$TMP/$2.mqchatd.json" "$4" "$5")
    c=$(num "$TMP/$3.mqchatd-chat.json" "$4" "$5")
    m=$(num "$TMP/$2.mosquitto.json" "$4" "$5")
    echo "| $1 | $a | $c | $m | $(ratio "$c" "$a") | $(ratio "$c" "$m") |"
}

# chat_cpu_row LABEL PLAIN CHAT: broker CPU µs per delivery, as chat_row.
chat_cpu_row() {
    a=$(cpu_us "$TMP/$2.mqchatd.json")
    c=$(cpu_us "$TMP/$3.mqchatd-chat.json")
    m=$(cpu_us "$TMP/$2.mosquitto.json")
    echo "| $1 | $a | $c | $m | $(ratio "$c" "$a") | $(ratio "$c" "$m") |"
}

# mod_row LABEL FIELD DIGITS: a row of the moderation table: FIELD of the
# chat and moderated runs at 1 msg/s and flat out, with their ratios.
mod_row() {
    c=$(num "$TMP/chatrooms.mqchatd-chat.json" "$2" "$3")
    m=$(num "$TMP/chatrooms.mqchatd-mod.json" "$2" "$3")
    c0=$(num "$TMP/chatrooms0.mqchatd-chat.json" "$2" "$3")
    m0=$(num "$TMP/chatrooms0.mqchatd-mod.json" "$2" "$3")
    echo "| $1 | $c | $m | $(ratio "$m" "$c") | $c0 | $m0 | $(ratio "$m0" "$c0") |"
}

# mod_cpu_row: broker CPU µs per delivery, as mod_row.
mod_cpu_row() {
    c=$(cpu_us "$TMP/chatrooms.mqchatd-chat.json")
    m=$(cpu_us "$TMP/chatrooms.mqchatd-mod.json")
    c0=$(cpu_us "$TMP/chatrooms0.mqchatd-chat.json")
    m0=$(cpu_us "$TMP/chatrooms0.mqchatd-mod.json")
    echo "| broker CPU µs per delivery | $c | $m | $(ratio "$m" "$c") | $c0 | $m0 | $(ratio "$m0" "$c0") |"
}

# rows KEY N: field N (1: committed to the spool, 2: archived) of what
# mqchatd-chat's KEY run left in SQLite, "-" when unknown.
rows() {
    v=$(cut -d' ' -f"$2" "$TMP/$1.mqchatd-chat.rows" 2>/dev/null)
    echo "${v:--}"
}

# row LABEL KEY SCENARIO DIGITS: one table row for both brokers and the ratio.
row() {
    ra=$(num "$TMP/$3.mqchatd.json" "$2" "$4")
    rb=$(num "$TMP/$3.mosquitto.json" "$2" "$4")
    echo "| $1 | $ra | $rb | $(ratio "$ra" "$rb") |"
}

# table SCENARIO: the common traffic rows.
traffic_table() {
    echo "| | mqchatd | mosquitto | mqchatd / mosquitto |"
    echo "| --- | ---: | ---: | ---: |"
    row "deliveries/s" delivered_per_s "$1" 0
    row "published msg/s" published_per_s "$1" 0
    row "deliveries expected" expected "$1" 0
    row "deliveries received" received "$1" 0
    row "loss %" loss_pct "$1" 3
    row "latency p50 ms" lat_p50_ms "$1" 2
    row "latency p99 ms" lat_p99_ms "$1" 2
    row "latency max ms" lat_max_ms "$1" 2
    row "broker CPU % of one core" broker_cpu_pct "$1" 0
    row "broker RSS at end KiB" rss_after_kb "$1" 0
    row "load generator CPU %" bench_cpu_pct "$1" 0
    row "connection set-up s" setup_s "$1" 2
    run_errors "$1"
}

# cpu_parts FILE: a cluster run's CPU % per process, "node 1 + node 2 +
# redis-server", "-" for a one-node run or when missing.
cpu_parts() {
    a=$(num "$1" broker1_cpu_pct 1)
    b=$(num "$1" broker2_cpu_pct 1)
    c=$(num "$1" broker3_cpu_pct 1)
    if [ "$a" = - ] || [ "$b" = - ] || [ "$c" = - ]; then
        echo "-"
    else
        echo "$a + $b + $c"
    fi
}

# per_msg FILE PUBLISHES: Redis PUBLISH commands of a cluster run per message
# the load generator published, "-" when unknown.
per_msg() {
    p=$(cat "$2" 2>/dev/null)
    m=$(num "$1" published 0)
    awk -v p="$p" -v m="$m" 'BEGIN {
        if (p == "" || m == "-" || m + 0 == 0) print "-"; else printf "%.3f", p / m }'
}

# cl_pair ONE TWO FIELD DIGITS: "one | two | two / one" for a table row.
cl_pair() {
    a=$(num "$1" "$3" "$4")
    b=$(num "$2" "$3" "$4")
    echo "$a | $b | $(ratio "$b" "$a")"
}

# cl_cpu_pair ONE TWO: cl_pair of the broker CPU µs per delivery.
cl_cpu_pair() {
    a=$(cpu_us "$1")
    b=$(cpu_us "$2")
    echo "$a | $b | $(ratio "$b" "$a")"
}

# cl_rows ONE TWO ONE0 TWO0: the rows of a cluster table, one node against two
# at 1 msg/s per member (ONE, TWO) and flat out (ONE0, TWO0); without ONE0
# and TWO0 (""), only the first three columns.
cl_rows() {
    pub2=${2%.json}.publishes
    pub20=${4%.json}.publishes
    for f in "deliveries/s;delivered_per_s;0" "published msg/s;published_per_s;0" \
        "loss %;loss_pct;3" "duplicates;duplicates;0" "latency p50 ms;lat_p50_ms;2" \
        "latency p99 ms;lat_p99_ms;2" "latency max ms;lat_max_ms;2" \
        "broker CPU % of one core (2 nodes: both nodes + redis-server);broker_cpu_pct;1"; do
        label=${f%%;*}
        rest=${f#*;}
        field=${rest%%;*}
        digits=${rest#*;}
        line="| $label | $(cl_pair "$1" "$2" "$field" "$digits")"
        [ -z "$4" ] || line="$line | $(cl_pair "$3" "$4" "$field" "$digits")"
        echo "$line |"
    done
    line="| CPU %: node 1 + node 2 + redis-server | - | $(cpu_parts "$2") | -"
    [ -z "$4" ] || line="$line | - | $(cpu_parts "$4") | -"
    echo "$line |"
    line="| broker CPU µs per delivery (2 nodes: the sum) | $(cl_cpu_pair "$1" "$2")"
    [ -z "$4" ] || line="$line | $(cl_cpu_pair "$3" "$4")"
    echo "$line |"
    line="| Redis PUBLISH commands per message published | - | $(per_msg "$2" "$pub2") | -"
    [ -z "$4" ] || line="$line | - | $(per_msg "$4" "$pub20") | -"
    echo "$line |"
    line="| load generator CPU % | $(cl_pair "$1" "$2" bench_cpu_pct 0)"
    [ -z "$4" ] || line="$line | $(cl_pair "$3" "$4" bench_cpu_pct 0)"
    echo "$line |"
}

# cl_errors KEY NAME: the first error of cluster run KEY on 2 x NAME, or why
# it did not run, and what its nodes logged (warnings, errors, a node that
# died).
cl_errors() {
    f=$TMP/$1.$2-2n.json
    e=$(sed -n 's/.*"error":"\([^"]*\)".*/\1/p' "$f" 2>/dev/null | tr -d '|')
    [ -s "$f" ] || e="did not run (see the make bench output)"
    [ -z "$e" ] || echo "
$1 on 2 x $2: $e"
    if [ -s "$TMP/$1.cluster.notes" ]; then
        echo
        tr -d '|' <"$TMP/$1.cluster.notes" | sed "s/^/$1 on 2 x $2: /; s/\$/  /"
    fi
}

# cluster_runs: the cluster section's runs (two nodes and a redis-server),
# timed. The one-node runs they compare with are the rooms and chat rooms
# runs above, except for the pubsub layout's, run here before its two-node
# run.
cluster_runs() {
    CL_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    cl_t0=$(date +%s)
    log "cluster: two mqchatd nodes on one redis-server"
    if start_redis; then
        run_cluster mqchatd clrooms rooms --split alternate --rooms $ROOMS --members $MEMBERS \
            --rate 1 --qos 0 --size 100 --duration "$DURATION"
        run_cluster mqchatd clrooms0 rooms --split alternate --rooms $ROOMS --members $MEMBERS \
            --rate 0 --qos 0 --size 100 --duration "$DURATION"
        run_cluster mqchatd-chat clchat chat-rooms --split alternate \
            --token-secret "$TOKEN_SECRET" --rooms $ROOMS --members $MEMBERS --rate 1 --qos 0 \
            --size 100 --duration "$DURATION"
        run_cluster mqchatd-chat clchat0 chat-rooms --split alternate \
            --token-secret "$TOKEN_SECRET" --rooms $ROOMS --members $MEMBERS --rate 0 --qos 0 \
            --size 100 --duration "$DURATION"
        run_one mqchatd xnode rooms --split pubsub --rooms $ROOMS --members $MEMBERS --rate 1 \
            --qos 0 --size 100 --duration "$DURATION"
        run_cluster mqchatd xnode rooms --split pubsub --rooms $ROOMS --members $MEMBERS \
            --rate 1 --qos 0 --size 100 --duration "$DURATION"
        run_one mqchatd xlight rooms --split pubsub --rooms $LIGHT_ROOMS --members $LIGHT_MEMBERS \
            --rate 1 --qos 0 --size 100 --duration "$DURATION"
        run_cluster mqchatd xlight rooms --split pubsub --rooms $LIGHT_ROOMS \
            --members $LIGHT_MEMBERS --rate 1 --qos 0 --size 100 --duration "$DURATION"
        stop_redis
    fi
    CL_ELAPSED=$(($(date +%s) - cl_t0))
    CL_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
}

# cluster_section: the markdown of the cluster section.
cluster_section() {
    redis_version=$(redis-server --version 2>/dev/null | sed 's/^Redis server v=\([^ ]*\).*/\1/')
    cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
    cat <<EOF
## Cluster over Redis (issue 7)

Two mqchatd nodes (\`node.id\` 1 and 2, each its own port and data directory, 2 workers, the
settings above) on one throwaway redis-server ${redis_version:-(version unknown)}, started by
tests/redis.sh (127.0.0.1, no persistence). All of it, and the load generator, ran on this
machine's $(nproc) CPUs ($cpu_model); the section took ${CL_ELAPSED} s, load average
$CL_LOAD_BEFORE before it (the runs before count in it) and $CL_LOAD_AFTER after it.
doc/cluster.md says how the nodes fan out. mqchat-bench spreads its clients over the two nodes
(\`--port2\`, \`--split\`). The rooms are the ${ROOMS} x ${MEMBERS} rooms of the sections above,
each member subscribed to its room and publishing to it; the "1 node" columns are those
sections' mqchatd runs (no Redis).

**Read these numbers as the cost of the Redis hop, not as scaling.** Two nodes (2 workers and a
Redis thread each), redis-server and the load generator share the same two cores that one node
and the load generator had in the runs above: nothing here can go faster with a second node,
and every message that crosses costs a PUBLISH on its node, Redis's work, and the receiving
node's read and fan-out on top. With a core or more per node the nodes would add capacity;
this machine cannot show how much. Node 1, node 2 and redis-server are all sampled (\`--pid\`
three times): their CPU is summed, and CPU per delivery is that sum over the deliveries. The
flat-out runs (\`--rate 0\`, closed loop, a window of 4 messages per member as above) measure what
the shared cores can move; their latency is queueing.

Each figure is one ${DURATION} s run. With two nodes, redis-server and the load generator on two
cores, the flat-out figures and the latency tails (p99, max) move a lot from one run to the
next, more so while other work shares the machine (the load average above): in repeated runs of this section
during its development the 2-node / 1-node flat-out ratio of plain rooms ranged from about 0.6
to 1.6, and the p99 ratios at 1 msg/s from about 1 to 10. What did not move: every 1 msg/s run
kept up with no loss and no duplicate, and each plain message crossed with exactly one PUBLISH.

### Rooms split across two nodes

\`mqchat-bench rooms --port A --port2 B --split alternate\`: the members with an odd index (half
of every room) connect to node 2, the others to node 1. Each message is delivered to the
$((MEMBERS / 2)) members on its own node and crosses once, through Redis, to the $((MEMBERS / 2)) on
the other.

Plain MQTT rooms (\`mqbench/PID/room/K\`) cross because of \`redis.bridge_topics ${BRIDGE_TOPICS}\`:
one Redis channel for the filter, to which both nodes are subscribed.

| ${ROOMS} x ${MEMBERS}, QoS 0, 100 B | 1 node, 1 msg/s | 2 nodes, 1 msg/s | 2 / 1 | 1 node, flat out | 2 nodes, flat out | 2 / 1 |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
    cl_rows "$TMP/rooms.mqchatd.json" "$TMP/clrooms.mqchatd-2n.json" \
        "$TMP/rooms0.mqchatd.json" "$TMP/clrooms0.mqchatd-2n.json"
    cl_errors clrooms mqchatd
    cl_errors clrooms0 mqchatd
    cat <<EOF

Chat rooms (\`chat-rooms\`: token logins, envelopes, archive, as in the chat rooms section) cross
through their room channels (\`{prefix}:r:{room}\`), without bridge topics, and each message is
also appended to the room's recent-history list in Redis (RPUSH and LTRIM in the same pipeline
as the PUBLISH). Each room is created by its first subscriber, on either node
(\`chat.auto_create_rooms\`); each node has its own SQLite database.

| ${ROOMS} x ${MEMBERS}, QoS 0, 100 B | 1 node, 1 msg/s | 2 nodes, 1 msg/s | 2 / 1 | 1 node, flat out | 2 nodes, flat out | 2 / 1 |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
    cl_rows "$TMP/chatrooms.mqchatd-chat.json" "$TMP/clchat.mqchatd-chat-2n.json" \
        "$TMP/chatrooms0.mqchatd-chat.json" "$TMP/clchat0.mqchatd-chat-2n.json"
    cl_errors clchat mqchatd-chat
    cl_errors clchat0 mqchatd-chat
    cat <<EOF

### Cross-node delivery latency

\`mqchat-bench rooms --split pubsub\`: every member has two connections, one subscribed to its
room and one publishing to it at 1 msg/s. With \`--port2\` every publishing connection is on
node 1 and every subscribing one on node 2, so every delivery crosses: node 1 accepts the
message and publishes it to Redis, node 2 gets it from Redis and delivers it to the room's
subscribers. "1 node" is the same connections on one mqchatd (no Redis), run just before.
Latency is from the publisher's send to the subscriber's read, on one clock (one load generator
process). At the full rooms load (${ROOMS} x ${MEMBERS}: $((ROOMS * MEMBERS * 2)) connections,
$((ROOMS * MEMBERS * MEMBERS)) deliveries/s) the cores are busy and latency is mostly waiting
for one; the light load (${LIGHT_ROOMS} x ${LIGHT_MEMBERS}: $((LIGHT_ROOMS * LIGHT_MEMBERS)) msg/s,
$((LIGHT_ROOMS * LIGHT_MEMBERS * LIGHT_MEMBERS)) deliveries/s) shows the hop itself; its CPU is
mostly the nodes' idle work (timers, heartbeats), not the messages'.

| 1 msg/s per member, QoS 0, 100 B | 1 node, ${ROOMS} x ${MEMBERS} | node 1 -> node 2, ${ROOMS} x ${MEMBERS} | 2 / 1 | 1 node, ${LIGHT_ROOMS} x ${LIGHT_MEMBERS} | node 1 -> node 2, ${LIGHT_ROOMS} x ${LIGHT_MEMBERS} | 2 / 1 |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
    cl_rows "$TMP/xnode.mqchatd.json" "$TMP/xnode.mqchatd-2n.json" \
        "$TMP/xlight.mqchatd.json" "$TMP/xlight.mqchatd-2n.json"
    broker_errors mqchatd xnode xlight
    cl_errors xnode mqchatd
    cl_errors xlight mqchatd
    cat <<EOF

"Redis PUBLISH commands per message" counts every PUBLISH Redis ran during the run (from
\`INFO commandstats\`), the nodes' heartbeats (one a second per node) and control events
included: for plain topics, 1 plus those is what "published once" looks like. A chat message
costs its PUBLISH on the room channel, to the nodes with members of the room subscribed, plus
its share of one on the control channel: its \`post\` event (every node reads them, for unread
counts and room totals) goes out gathered with the others of the same wake-up of the bridge,
so flat out the share is near 0 and at 1 msg/s, with fewer events per wake-up, larger; room
creations, joins and presence announcements add the rest.
EOF
}

# make_cert: a throwaway self-signed certificate and key for 127.0.0.1 (EC
# P-256, one day) in TLS_DIR. Returns 1 (logged) when openssl cannot make it.
make_cert() {
    mkdir -p "$TLS_DIR" || return 1
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout "$TLS_DIR/key.pem" \
        -out "$TLS_DIR/cert.pem" >"$TLS_DIR/openssl.log" 2>&1; then
        log "transports: openssl req failed: $(head -c 300 "$TLS_DIR/openssl.log")"
        return 1
    fi
}

# tp_port TRANSPORT: the port of the broker just started that speaks TRANSPORT.
tp_port() {
    case $1 in
    tcp) echo "$BROKER_PORT" ;;
    tls) echo "$TLS_PORT" ;;
    ws) echo "$WS_PORT" ;;
    wss) echo "$WSS_PORT" ;;
    esac
}

# tp_notes KEY NAME PID DIR: notes in $TMP/KEY.NAME.notes whether broker
# NAME died during transports run KEY and the warnings and errors it logged
# (Mosquitto's warning about running as root left out).
tp_notes() {
    notes=$TMP/$1.$2.notes
    : >"$notes"
    kill -0 "$3" 2>/dev/null || echo "$2 (pid $3) was not running at the end of the run" >>"$notes"
    grep -i -e ' warn ' -e ' error ' -e ' fatal ' -e 'warning:' -e 'error:' "$4/log" 2>/dev/null |
        grep -v 'should not be run as root' | head -n 3 | cut -c 1-200 | sed "s/^/$2 logged: /" \
        >>"$notes"
}

# run_tp BROKER TRANSPORT KEY ARGS...: one scenario over TRANSPORT against a
# fresh BROKER started with all its listeners (TP_LISTENERS=on), once that
# TRANSPORT's listener answers a probe; the JSON result goes to
# $TMP/KEY.BROKER.json (empty when the run failed), what the broker logged to
# $TMP/KEY.BROKER.notes.
run_tp() {
    name=$1
    t=$2
    key=$3
    shift 3
    res=$TMP/$key.$name.json
    : >"$res"
    : >"$TMP/$key.$name.notes"
    case $name in
    mqchatd) [ -x "$MQCHATD" ] || { log "mqchatd: $MQCHATD not built"; return 1; } ;;
    mosquitto) [ -x "$MOSQUITTO" ] || { log "mosquitto: $MOSQUITTO not found"; return 1; } ;;
    esac
    TP_LISTENERS=on
    start_broker "$name"
    ok=$?
    TP_LISTENERS=""
    [ $ok -eq 0 ] || { log "$key: $name did not start"; return 1; }
    port=$(tp_port "$t")
    i=0
    until "$BENCH" probe --transport "$t" --port "$port" --setup-timeout 1 --quiet; do
        i=$((i + 1))
        if [ $i -ge 20 ]; then
            log "$key: $name is not answering over $t on port $port"
            echo "$name did not answer over $t on port $port" >>"$TMP/$key.$name.notes"
            stop_broker
            return 1
        fi
        sleep 0.1
    done
    log "$key on $name ($t port $port, pid $BROKER_PID): $*"
    timeout 180 "$BENCH" "$@" --transport "$t" --port "$port" --pid "$BROKER_PID" --json \
        --quiet --label "$name" >"$res" 2>"$TMP/$key.$name.err"
    rc=$?
    [ $rc -eq 0 ] || log "$key on $name: mqchat-bench exit $rc $(head -c 300 "$TMP/$key.$name.err")"
    tp_notes "$key" "$name" "$BROKER_PID" "$BROKER_DIR"
    stop_broker
}

# transports_runs: the transports section's runs, timed: for each transport,
# the fan-out on mqchatd then on Mosquitto, then the idle connections on both.
transports_runs() {
    TP_LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
    tp_t0=$(date +%s)
    log "transports: fanout and idle connections over tcp, ws, tls and wss"
    if make_cert; then
        for t in tcp ws tls wss; do
            for b in mqchatd mosquitto; do
                run_tp $b "$t" "tp_$t" fanout --pubs 1 --subs 1000 --qos 0 --size 100 \
                    --duration "$DURATION"
            done
        done
        for t in tcp ws tls wss; do
            for b in mqchatd mosquitto; do
                run_tp $b "$t" "tpc_$t" conns --conns $TP_CONNS --conn-window 100
            done
        done
    fi
    TP_ELAPSED=$(($(date +%s) - tp_t0))
    TP_LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
}

# tp_row LABEL TRANSPORT: a row of the transports table: each broker's
# deliveries/s and its percentage of its own TCP run, and the ratio.
tp_row() {
    ra=$(num "$TMP/tp_$2.mqchatd.json" delivered_per_s 0)
    rb=$(num "$TMP/tp_$2.mosquitto.json" delivered_per_s 0)
    pa=$(pct "$ra" "$(num "$TMP/tp_tcp.mqchatd.json" delivered_per_s 0)")
    pb=$(pct "$rb" "$(num "$TMP/tp_tcp.mosquitto.json" delivered_per_s 0)")
    ca=$(cpu_us "$TMP/tp_$2.mqchatd.json")
    cb=$(cpu_us "$TMP/tp_$2.mosquitto.json")
    echo "| $1 | $ra | $pa | $rb | $pb | $(ratio "$ra" "$rb") | $(ratio "$ca" "$cb") |"
}

# tp_detail LABEL TRANSPORT: the rows of the transports detail table, one per
# broker.
tp_detail() {
    for b in mqchatd mosquitto; do
        f=$TMP/tp_$2.$b.json
        echo "| $1 | $b | $(num "$f" loss_pct 3) | $(num "$f" lat_p50_ms 2) |" \
            "$(num "$f" lat_p99_ms 2) | $(num "$f" broker_cpu_pct 0) | $(cpu_us "$f") |" \
            "$(num "$f" rss_after_kb 0) | $(num "$f" setup_s 2) | $(num "$f" bench_cpu_pct 0) |"
    done
}

# tp_conns_row LABEL TRANSPORT: a row of the idle connections table.
tp_conns_row() {
    a=$TMP/tpc_$2.mqchatd.json
    b=$TMP/tpc_$2.mosquitto.json
    ra=$(num "$a" rss_per_conn_b 0)
    rb=$(num "$b" rss_per_conn_b 0)
    echo "| $1 | $ra | $rb | $(ratio "$ra" "$rb") | $(num "$a" setup_s 2) | $(num "$b" setup_s 2) |"
}

# tp_errors PREFIX: the first error of each transports run PREFIX_TRANSPORT,
# or why it did not run, and what the brokers logged.
tp_errors() {
    for t in tcp ws tls wss; do
        run_errors "$1_$t"
        for b in mqchatd mosquitto; do
            if [ -s "$TMP/$1_$t.$b.notes" ]; then
                echo
                tr -d '|' <"$TMP/$1_$t.$b.notes" | sed "s/^/$1_$t on $b: /; s/\$/  /"
            fi
        done
    done
}

# transports_section: the markdown of the transports section.
transports_section() {
    tls=$(jget "$TMP/tp_tls.mqchatd.json" tls)
    [ -n "$tls" ] || tls=$(jget "$TMP/tp_tls.mosquitto.json" tls)
    tls_m=$(jget "$TMP/tp_tls.mosquitto.json" tls)
    if [ "$tls" = "$tls_m" ]; then
        tls_text="${tls:-unknown} with both brokers"
    else
        tls_text="${tls:-unknown} with mqchatd and ${tls_m:-unknown} with Mosquitto"
    fi
    cpu_model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
    cat <<EOF
## Transports: fan-out over WebSocket and TLS (doc/transports.md)

The fanout QoS 0 run above (1 publisher -> 1000 subscribers of one topic, 100 B, closed loop, a
window of $(num "$TMP/tp_tcp.mqchatd.json" window 0) messages) once per transport, every client on
that transport (\`mqchat-bench --transport tcp|ws|tls|wss\`). Each run starts a fresh broker with
the settings above and all four listeners open, on a self-signed EC P-256 certificate made for the
section (\`openssl req -x509\`): mqchatd with \`tls.port\`, \`ws.port\`, \`wss.port\`,
\`tls.cert\` and \`tls.key\`; Mosquitto with \`listener\` + \`protocol websockets\` and
\`certfile\`/\`keyfile\`. For each transport mqchatd runs, then Mosquitto; the TCP row is this
section's own baseline, and "% of TCP" a broker's deliveries/s against its own TCP run.

- TLS: what both sides pick by default, $tls_text; the load generator (OpenSSL on memory BIOs
  in its epoll loop) does not verify the certificate.
- WebSocket: subprotocol \`mqtt\` on \`/mqtt\`, binary frames. The load generator sends what a
  connection has queued in a loop turn as one masked frame; mqchatd sends one frame per flush of a
  connection, Mosquitto (libwebsockets) one per packet.
- The load generator decrypts and unframes every delivery on the same $(nproc) CPUs
  ($cpu_model) as the broker, so TLS takes cores from both brokers' runs alike. Deliveries/s of a
  closed loop also move with whatever else runs on the machine; broker CPU µs per delivery (the
  broker's CPU time over its deliveries) moves less. Each figure is one ${DURATION} s run; the
  section took ${TP_ELAPSED} s, load average $TP_LOAD_BEFORE before it and $TP_LOAD_AFTER after.

| fanout 1 -> 1000, QoS 0, 100 B | mqchatd deliveries/s | mqchatd % of TCP | Mosquitto deliveries/s | Mosquitto % of TCP | mqchatd / Mosquitto | broker CPU µs per delivery, mqchatd / Mosquitto |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
    tp_row "MQTT over TCP (baseline)" tcp
    tp_row "MQTT over WebSocket" ws
    tp_row "MQTT over TLS" tls
    tp_row "MQTT over secure WebSocket (TLS)" wss
    cat <<EOF

| transport | broker | loss % | latency p50 ms | latency p99 ms | broker CPU % of one core | broker CPU µs per delivery | broker RSS at end KiB | connection set-up s | load generator CPU % |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
    tp_detail "TCP" tcp
    tp_detail "WebSocket" ws
    tp_detail "TLS" tls
    tp_detail "secure WebSocket" wss
    tp_errors tp
    cat <<EOF

Idle connections (the conns scenario: $TP_CONNS connections with one subscription each, the
broker's RSS before the first and once all are subscribed and RSS has settled) over each
transport, again on a fresh broker with all four listeners open:

| $TP_CONNS idle connections | mqchatd RSS per connection B | Mosquitto RSS per connection B | mqchatd / Mosquitto | mqchatd set-up s | Mosquitto set-up s |
| --- | ---: | ---: | ---: | ---: | ---: |
EOF
    tp_conns_row "TCP" tcp
    tp_conns_row "WebSocket" ws
    tp_conns_row "TLS" tls
    tp_conns_row "secure WebSocket" wss
    tp_errors tpc
    cat <<EOF

Connection set-up includes, over TLS, a full handshake per client (no session resumption), 100
at a time. Mosquitto's websockets listeners bind every interface whatever address the listener
names (libwebsockets in 2.0.11), and deliver messages over about 4 KiB slowly
(eclipse-mosquitto/mosquitto#1390): with 100 B payloads this run does not meet that.

    BENCH_TRANSPORTS=only sh clients/bench/run-bench.sh build   # this section, on stdout
    build/mqchatd --set ws.port=8083 --set tls.port=8883 --set wss.port=8084 \\
        --set tls.cert=cert.pem --set tls.key=key.pem &
    build/mqchat-bench fanout --subs 1000 --transport wss --port 8084   # one transport by hand
EOF
}

# verdict COND: "met" or "NOT met" from an awk condition on the variables given.
verdict() {
    awk "BEGIN { exit !($1) }" && echo "met" || echo "NOT met"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "load average $LOAD_BEFORE: other work shares the cores, numbers will be lower"
fi
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
T0=$(date +%s)

ROOMS=100
MEMBERS=50

# BENCH_CLUSTER=only: the one-node runs the cluster section compares with,
# the cluster runs, and the section on stdout.
if [ "$CLUSTER" = only ]; then
    run_one mqchatd rooms rooms --rooms $ROOMS --members $MEMBERS --rate 1 --qos 0 --size 100 \
        --duration "$DURATION"
    run_one mqchatd rooms0 rooms --rooms $ROOMS --members $MEMBERS --rate 0 --qos 0 --size 100 \
        --duration "$DURATION"
    run_one mqchatd-chat chatrooms chat-rooms --token-secret "$TOKEN_SECRET" --rooms $ROOMS \
        --members $MEMBERS --rate 1 --qos 0 --size 100 --duration "$DURATION"
    run_one mqchatd-chat chatrooms0 chat-rooms --token-secret "$TOKEN_SECRET" --rooms $ROOMS \
        --members $MEMBERS --rate 0 --qos 0 --size 100 --duration "$DURATION"
    cluster_runs
    cluster_section
    log "cluster section in $(($(date +%s) - T0)) s"
    exit 0
fi
# BENCH_TRANSPORTS=only: the transports runs and their section on stdout.
if [ "$TRANSPORTS" = only ]; then
    transports_runs
    transports_section
    log "transports section in $(($(date +%s) - T0)) s"
    exit 0
fi
# The MQTT 5 fan-out runs and their control (3.1.1 with the payload padded to
# the size of the MQTT 5 PUBLISH with properties) follow the 3.1.1 run on the
# same broker, so that the four meet about the same load from the machine's
# other users.
for b in mqchatd mosquitto; do
    run_one $b fanout0 fanout --pubs 1 --subs 1000 --qos 0 --size 100 --duration "$DURATION"
    run_one $b fanout0v5 fanout --mqtt 5 --pubs 1 --subs 1000 --qos 0 --size 100 \
        --duration "$DURATION"
    run_one $b fanout0v5p fanout --mqtt 5 --props $PROPS --pubs 1 --subs 1000 --qos 0 \
        --size 100 --duration "$DURATION"
    pad=$(pad_size)
    if [ -n "$pad" ]; then
        run_one $b fanout0pad fanout --pubs 1 --subs 1000 --qos 0 --size "$pad" \
            --duration "$DURATION"
    else
        log "fanout0pad on $b: skipped, no MQTT 5 packet size to pad to"
    fi
    run_one $b fanout1 fanout --pubs 1 --subs 1000 --qos 1 --size 100 --duration "$DURATION"
done
for b in mqchatd mosquitto; do
    run_one $b rooms rooms --rooms $ROOMS --members $MEMBERS --rate 1 --qos 0 --size 100 \
        --duration "$DURATION"
done
# The same rooms through the chat layer (token logins, envelopes, archive),
# then all three as fast as they go (--rate 0).
run_one mqchatd-chat chatrooms chat-rooms --token-secret "$TOKEN_SECRET" --rooms $ROOMS \
    --members $MEMBERS --rate 1 --qos 0 --size 100 --duration "$DURATION"
run_one mqchatd-mod chatrooms chat-rooms --token-secret "$TOKEN_SECRET" --rooms $ROOMS \
    --members $MEMBERS --rate 1 --qos 0 --size 100 --duration "$DURATION"
run_one mqchatd rooms0 rooms --rooms $ROOMS --members $MEMBERS --rate 0 --qos 0 --size 100 \
    --duration "$DURATION"
run_one mqchatd-chat chatrooms0 chat-rooms --token-secret "$TOKEN_SECRET" --rooms $ROOMS \
    --members $MEMBERS --rate 0 --qos 0 --size 100 --duration "$DURATION"
run_one mqchatd-mod chatrooms0 chat-rooms --token-secret "$TOKEN_SECRET" --rooms $ROOMS \
    --members $MEMBERS --rate 0 --qos 0 --size 100 --duration "$DURATION"
run_one mosquitto rooms0 rooms --rooms $ROOMS --members $MEMBERS --rate 0 --qos 0 --size 100 \
    --duration "$DURATION"
for b in mqchatd mosquitto; do
    run_one $b conns conns --conns "$CONNS" --conn-window 100
done
for b in mqchatd mosquitto; do
    run_one $b p2p p2p --pubs 100 --qos 0 --size 100 --duration "$DURATION"
done
if [ "$TRANSPORTS" = on ]; then
    transports_runs
fi
if [ "$CLUSTER" = on ]; then
    cluster_runs
fi

# The storage section (spool cost, archive rate, restart time), mqchatd only.
log "storage: spool on/off, archive rate, restart time"
BENCH_DURATION=$DURATION sh "$(dirname "$0")/storage-bench.sh" "$BUILD" >"$TMP/storage.md"

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
WARM=$(awk -v d="$DURATION" 'BEGIN { w = d / 5; if (w > 2) w = 2; printf "%g", w }')
ELAPSED=$(($(date +%s) - T0))

# The targets.
FO_A=$(num "$TMP/fanout0.mqchatd.json" delivered_per_s 0)
FO_B=$(num "$TMP/fanout0.mosquitto.json" delivered_per_s 0)
FO_R=$(ratio "$FO_A" "$FO_B")
if [ "$FO_R" = - ]; then
    FO_V="NOT met (did not run)"
else
    FO_V=$(verdict "$FO_R >= 5")
fi
RM_LOSS=$(num "$TMP/rooms.mqchatd.json" loss_pct 3)
RM_P99=$(num "$TMP/rooms.mqchatd.json" lat_p99_ms 2)
RM_THR=$(num "$TMP/rooms.mqchatd.json" throttled 0)
RM_RATE=$(num "$TMP/rooms.mqchatd.json" delivered_per_s 0)
RM_WANT=$((ROOMS * MEMBERS * MEMBERS))
if [ "$RM_P99" = - ]; then
    RM_V="NOT met (did not run)"
else
    RM_V=$(verdict "$RM_LOSS <= 0.1 && $RM_THR == 0 && $RM_RATE >= 0.99 * $RM_WANT && $RM_P99 < 50")
fi
# The chat rooms figures for the paragraph of their section.
CH_ENV=$(num "$TMP/chatrooms.mqchatd-chat.json" delivery_b 0)
CH_CPU_A=$(cpu_us "$TMP/rooms.mqchatd.json")
CH_CPU_C=$(cpu_us "$TMP/chatrooms.mqchatd-chat.json")
CH_CPU_R=$(ratio "$CH_CPU_C" "$CH_CPU_A")
CH_P99_A=$(num "$TMP/rooms.mqchatd.json" lat_p99_ms 2)
CH_P99_C=$(num "$TMP/chatrooms.mqchatd-chat.json" lat_p99_ms 2)
CH_RATE_C=$(num "$TMP/chatrooms.mqchatd-chat.json" delivered_per_s 0)
CH_SAT_A=$(num "$TMP/rooms0.mqchatd.json" delivered_per_s 0)
CH_SAT_C=$(num "$TMP/chatrooms0.mqchatd-chat.json" delivered_per_s 0)
CH_SAT_M=$(num "$TMP/rooms0.mosquitto.json" delivered_per_s 0)
CH_SAT_PCT=$(pct "$CH_SAT_C" "$CH_SAT_A")
CH_WIN=$(num "$TMP/chatrooms0.mqchatd-chat.json" window 0)
CH_SAT_R=$(ratio "$CH_SAT_C" "$CH_SAT_M")
# Moderation (2% personal blocks, a word filter) against the same chat rooms:
# flat-out deliveries/s within 10%, and CPU per delivery at 1 msg/s within 10%.
MD_SAT_C=$CH_SAT_C
MD_SAT_M=$(num "$TMP/chatrooms0.mqchatd-mod.json" delivered_per_s 0)
MD_SAT_R=$(ratio "$MD_SAT_M" "$MD_SAT_C")
MD_CPU_C=$CH_CPU_C
MD_CPU_M=$(cpu_us "$TMP/chatrooms.mqchatd-mod.json")
MD_CPU_R=$(ratio "$MD_CPU_M" "$MD_CPU_C")
if [ "$MD_SAT_R" = - ] || [ "$MD_CPU_R" = - ]; then
    MD_V="NOT met (did not run)"
else
    MD_V=$(verdict "$MD_SAT_R >= 0.90 && $MD_CPU_R <= 1.10")
fi
CN_B=$(num "$TMP/conns.mqchatd.json" rss_per_conn_b 0)
if [ "$CN_B" = - ]; then
    CN_V="NOT met (did not run)"
else
    CN_V=$(verdict "$CN_B > 0 && $CN_B <= 1536")
fi

MQ_VERSION=$([ -x "$MQCHATD" ] && "$MQCHATD" --version 2>/dev/null | head -n 1)
MOSQ_VERSION=$([ -x "$MOSQUITTO" ] && "$MOSQUITTO" -h 2>/dev/null | head -n 1)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null)
[ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && COMMIT="$COMMIT (with local changes)"

mkdir -p "$(dirname "$OUT")"
{
cat <<EOF
# Benchmarks: mqchatd and Mosquitto

Written by \`make bench\` (clients/bench/run-bench.sh); do not edit by hand, run it again.
Each scenario runs against a freshly started broker, mqchatd then Mosquitto, on the same
machine, with the load generator \`mqchat-bench\` (clients/bench/) on the same cores.

## The run

| | |
| --- | --- |
| date | $STARTED, ${ELAPSED} s |
| machine | $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM |
| kernel | $(uname -sr) |
| load average before / after | $LOAD_BEFORE / $LOAD_AFTER |
| mqchatd | ${MQ_VERSION:-not built}, commit ${COMMIT:-unknown}, 2 workers |
| Mosquitto | ${MOSQ_VERSION:-not found} (Debian package) |
| compiler | $(${CC:-cc} --version 2>/dev/null | head -n 1) |

A load average well above 0 before the run means other work shared the two cores: the
absolute numbers then drop for both brokers; the ratios are the more stable figures.
Absolute numbers also depend on what a system call and a loopback TCP segment cost on
the machine (a virtual machine here): compare brokers within one run, not across runs.

## Targets

| target | result | |
| --- | --- | --- |
| fanout 1 -> 1000, QoS 0: mqchatd >= 5x Mosquitto deliveries/s | $FO_A vs $FO_B deliveries/s: ${FO_R}x | $FO_V |
| rooms ${ROOMS} x ${MEMBERS} at 1 msg/s per member keeps up, p99 < 50 ms | $RM_RATE of $RM_WANT deliveries/s, loss $RM_LOSS %, $RM_THR sends throttled, p99 $RM_P99 ms | $RM_V |
| <= 1.5 KiB broker RSS per idle connection | $CN_B B per connection (${CONNS} connections) | $CN_V |
| chat rooms with 2% personal blocks and a ${MOD_WORDS}-word filter within 10% of the same run without | flat out $MD_SAT_M vs $MD_SAT_C deliveries/s (${MD_SAT_R}x); CPU per delivery at 1 msg/s $MD_CPU_M vs $MD_CPU_C µs (${MD_CPU_R}x) | $MD_V |

"Keeps up" means: no scheduled send throttled, loss <= 0.1 %, at least 99 % of the
expected $RM_WANT deliveries/s received while publishing, and p99 latency < 50 ms.

## Broker settings

Both brokers listen on 127.0.0.1 only, allow anonymous clients, keep no \$SYS topics and
no persistence, and get the same limits, which are also both brokers' defaults except
where noted:

| setting | mqchatd | Mosquitto |
| --- | --- | --- |
| outgoing QoS 1 window per client | max_inflight_messages $INFLIGHT | max_inflight_messages $INFLIGHT |
| queued messages per client | max_queued_messages $QUEUED | max_queued_messages $QUEUED |
| queued bytes per client | max_queued_bytes $QUEUED_BYTES (its default) | max_queued_bytes $QUEUED_BYTES (default: unlimited) |
| threads | workers 2 | one (Mosquitto is single-threaded) |
| Nagle | off (TCP_NODELAY, always) | set_tcp_nodelay true (default: false) |
| logging | default (info) | errors and warnings, no connection messages |
| HTTP API | off (http.port 0) | none |
| chat layer | only the chat rooms runs reach it: chat.token_secret set, chat.auto_create_rooms true | none |
| open files | $(ulimit -n) | $(ulimit -n) |

## How it measures

- Every publish carries the publisher's index, a sequence number and the send time
  (CLOCK_MONOTONIC); subscribers compute latency into a log-linear histogram (about 3 %
  resolution) and detect gaps and duplicates per publisher.
- Throughput runs (\`--rate 0\`) are closed-loop: each publisher keeps a bounded window of
  messages in flight (32768 deliveries in flight in all: 32 messages for 1 -> 1000, 327 per
  pair for p2p) and sends only when earlier messages have reached every subscriber. That
  measures sustained end-to-end throughput, not how fast queues can grow. Latency in these
  runs is therefore mostly queueing (window / throughput); compare latency in the rooms
  scenario, which is paced.
- deliveries/s counts deliveries received while publishing ($DURATION s, after the warm-up
  below); the run then waits up to 2 s for the rest. Loss is expected minus received (duplicates excluded)
  after that drain: for a broker that cannot keep up it includes the backlog still
  queued then, as in Mosquitto's rooms run.
- Rates are taken after a warm-up of a fifth of the run ($WARM s of $DURATION s), so that the
  time the first window takes to come round does not dilute them.
- Broker CPU is utime + stime from /proc/PID/stat over the publishing time, in % of one
  core (up to 200 % for mqchatd's two workers). RSS is VmRSS from /proc/PID/status.
- conns: RSS is read before the first connection and again once all ${CONNS} connections
  are subscribed and RSS has settled; the difference over the connections is the cost
  of one idle, subscribed connection (kernel socket buffers are not in RSS). Connections
  are opened at most 100 handshakes at a time (Mosquitto's listen backlog is 100).
- The load generator is a single thread (epoll, edge-triggered, one write per connection
  per loop turn) and shares the two cores with the broker; its CPU is in the tables.

## fanout, QoS 0: 1 publisher -> 1000 subscribers of one topic, 100 B

EOF
traffic_table fanout0
cat <<EOF

## fanout, QoS 1: 1 publisher -> 1000 subscribers of one topic, 100 B

EOF
traffic_table fanout1
cat <<EOF

## fanout over MQTT 5, QoS 0: 1 publisher -> 1000 subscribers of one topic, 100 B

The fanout QoS 0 run again with every client on MQTT 5 (\`--mqtt 5\`: CONNECT at protocol
level 5, subscribers announcing Receive Maximum 65535, v5 SUBSCRIBE and PUBLISH), then
with $PROPS user properties (key "k<i>", a 16-byte value) and a Content Type on every
publish (\`--props $PROPS\`), which the broker forwards to each of the 1000 subscribers.
The last row is a control: MQTT 3.1.1 again, with the payload padded so that its PUBLISH
is as long as the MQTT 5 one with properties; it tells the cost of handling properties
from the cost of moving a longer packet to 1000 sockets.
Each run follows the same broker's 3.1.1 run; "% of 3.1.1" is the broker's deliveries/s
against its own 3.1.1 fanout QoS 0 number above: what MQTT 5 and its properties cost.
Runs last $DURATION s on shared cores: a few per cent either way is within the noise.

| fanout 1 -> 1000, QoS 0 | PUBLISH B | mqchatd deliveries/s | mqchatd % of 3.1.1 | Mosquitto deliveries/s | Mosquitto % of 3.1.1 | mqchatd / Mosquitto |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
cost_row "MQTT 3.1.1" fanout0
cost_row "MQTT 5" fanout0v5
cost_row "MQTT 5, $PROPS user properties + Content Type" fanout0v5p
cost_row "control: MQTT 3.1.1, payload padded to the same PUBLISH size" fanout0pad
cat <<EOF

| run | broker | loss % | latency p50 ms | latency p99 ms | broker CPU % of one core | broker CPU µs per delivery | load generator CPU % |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
cost_detail "MQTT 3.1.1" fanout0
cost_detail "MQTT 5" fanout0v5
cost_detail "MQTT 5 + $PROPS properties" fanout0v5p
cost_detail "control: 3.1.1 padded" fanout0pad
run_errors fanout0v5 fanout0v5p fanout0pad
cat <<EOF

## rooms: ${ROOMS} rooms x ${MEMBERS} members, each member publishing 1 msg/s to its room, QoS 0, 100 B

Every member subscribes to its room, so each message has ${MEMBERS} deliveries (its sender's
included): $((ROOMS * MEMBERS)) connections, $((ROOMS * MEMBERS)) msg/s in, $RM_WANT deliveries/s out.

EOF
traffic_table rooms
row "sends throttled (window full)" throttled rooms 0
cat <<EOF

## chat rooms: the rooms run through the chat layer

The rooms run again, ${ROOMS} rooms x ${MEMBERS} members, QoS 0, 100 B, through the chat prefix
(\`mqchat-bench chat-rooms --token-secret S\`) against mqchatd started with the same
\`chat.token_secret\` and \`chat.auto_create_rooms true\` (column "mqchatd chat"). What it adds to
the plain run: each of the $((ROOMS * MEMBERS)) clients logs in as its own chat user (u0, u1, ...)
with an HS256 token the load generator minted, which the broker verifies at CONNECT; subscribing
to \`chat/room/room<k>\` creates the room (public, its first subscriber the owner) and joins it;
every publish is checked against the room's ACL from memory (no database on a worker), parsed as
chat text and wrapped in the broker's envelope, built once per message
(\`{"id":...,"room":...,"from":...,"ts":...,"type":"text","text":...}\`: about ${CH_ENV} B for
a 100 B text), which every member receives after a second ACL check at delivery; and every message
gets a spool row (writer thread, group commit) that the archiver copies into the SQLite archive.
The load generator finds its sequence number and send time again in the envelope's "text".
Mosquitto has no chat layer: its plain rooms runs are the reference.
At 1 msg/s per member the chat run delivers ${CH_RATE_C} deliveries/s at ${CH_CPU_C} µs of broker
CPU per delivery against ${CH_CPU_A} µs for plain rooms (${CH_CPU_R}x), p99 ${CH_P99_C} ms against
${CH_P99_A} ms. As fast as they go (\`--rate 0\`, each member keeping a window of ${CH_WIN} messages
in flight, as in the throughput runs above), mqchatd delivers ${CH_SAT_C} chat deliveries/s,
${CH_SAT_PCT} of its ${CH_SAT_A} plain ones, and ${CH_SAT_R}x Mosquitto's ${CH_SAT_M}.

At 1 msg/s per member ($((ROOMS * MEMBERS)) msg/s in, $RM_WANT deliveries/s out):

| ${ROOMS} x ${MEMBERS}, QoS 0, 100 B | mqchatd plain | mqchatd chat | Mosquitto plain | chat / plain | chat / Mosquitto |
| --- | ---: | ---: | ---: | ---: | ---: |
EOF
chat_row "deliveries/s" rooms chatrooms delivered_per_s 0
chat_row "published msg/s" rooms chatrooms published_per_s 0
chat_row "loss %" rooms chatrooms loss_pct 3
chat_row "latency p50 ms" rooms chatrooms lat_p50_ms 2
chat_row "latency p99 ms" rooms chatrooms lat_p99_ms 2
chat_row "latency max ms" rooms chatrooms lat_max_ms 2
chat_row "sends throttled (window full)" rooms chatrooms throttled 0
chat_row "broker CPU % of one core" rooms chatrooms broker_cpu_pct 0
chat_cpu_row "broker CPU µs per delivery" rooms chatrooms
chat_row "broker RSS at end KiB" rooms chatrooms rss_after_kb 0
chat_row "payload B delivered" rooms chatrooms delivery_b 0
chat_row "connection set-up s" rooms chatrooms setup_s 2
chat_row "load generator CPU %" rooms chatrooms bench_cpu_pct 0
cat <<EOF

As fast as they go (\`--rate 0\`, a window of ${CH_WIN} messages per member):

| ${ROOMS} x ${MEMBERS}, QoS 0, 100 B | mqchatd plain | mqchatd chat | Mosquitto plain | chat / plain | chat / Mosquitto |
| --- | ---: | ---: | ---: | ---: | ---: |
EOF
chat_row "deliveries/s" rooms0 chatrooms0 delivered_per_s 0
chat_row "published msg/s" rooms0 chatrooms0 published_per_s 0
chat_row "loss %" rooms0 chatrooms0 loss_pct 3
chat_row "latency p50 ms" rooms0 chatrooms0 lat_p50_ms 2
chat_row "latency p99 ms" rooms0 chatrooms0 lat_p99_ms 2
chat_row "broker CPU % of one core" rooms0 chatrooms0 broker_cpu_pct 0
chat_cpu_row "broker CPU µs per delivery" rooms0 chatrooms0
chat_row "broker RSS at end KiB" rooms0 chatrooms0 rss_after_kb 0
chat_row "load generator CPU %" rooms0 chatrooms0 bench_cpu_pct 0
cat <<EOF

What mqchatd chat left in its database once stopped (a message is committed to the spool, then
copied to the archive; archived rows stay in the spool for \`store.retention_days\`):

| chat run | messages published | spool rows | archived rows |
| --- | ---: | ---: | ---: |
| 1 msg/s per member | $(num "$TMP/chatrooms.mqchatd-chat.json" published 0) | $(rows chatrooms 1) | $(rows chatrooms 2) |
| --rate 0 | $(num "$TMP/chatrooms0.mqchatd-chat.json" published 0) | $(rows chatrooms0 1) | $(rows chatrooms0 2) |
EOF
broker_errors mqchatd rooms0
broker_errors mqchatd-chat chatrooms chatrooms0
broker_errors mosquitto rooms0
cat <<EOF

### with moderation: personal blocks and a word filter

The same chat rooms runs against mqchatd-mod: before the load starts, the first member of every
room (u0, u${MEMBERS}, ...: ${ROOMS} viewers, 2%) blocks the room's second member
(\`POST /v1/users/{user}/blocks/{other}\`), and a system-wide word filter of ${MOD_WORDS} words
is set (\`PUT /v1/settings\`, policy reject; the load generator's texts contain none of them, so
every message is scanned in full and passes). Each message of a blocked sender then takes a block
check per subscriber at delivery; every other message one lookup ("is its sender blocked by
anyone?") per worker. Column "chat" is the unmoderated run of the section above. The moderated
runs' "loss" is what the blocks withhold: the load generator expects every member to get every
message, and ${ROOMS} members no longer get their room's second member's (about 0.04 % of the
deliveries). Flat-out runs move by about 10 % from one run to the next on this machine: read the
flat-out ratio with that in mind.

| ${ROOMS} x ${MEMBERS}, QoS 0, 100 B | chat, 1 msg/s | moderated, 1 msg/s | moderated / chat | chat, flat out | moderated, flat out | moderated / chat |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
EOF
mod_row "deliveries/s" delivered_per_s 0
mod_row "loss %" loss_pct 3
mod_row "latency p50 ms" lat_p50_ms 2
mod_row "latency p99 ms" lat_p99_ms 2
mod_row "broker CPU % of one core" broker_cpu_pct 0
mod_cpu_row
mod_row "broker RSS at end KiB" rss_after_kb 0
broker_errors mqchatd-mod chatrooms chatrooms0
cat <<EOF

## conns: ${CONNS} idle connections, one subscription each

| | mqchatd | mosquitto | mqchatd / mosquitto |
| --- | ---: | ---: | ---: |
EOF
row "connections ready" conns_ready conns 0
row "connections failed" conns_failed conns 0
row "set-up s" setup_s conns 2
row "broker RSS before KiB" rss_before_kb conns 0
row "broker RSS after KiB" rss_after_kb conns 0
row "RSS per connection B" rss_per_conn_b conns 0
run_errors conns
cat <<EOF

## p2p: 100 pairs, publisher i -> subscriber i on a topic per pair, QoS 0, 100 B

EOF
traffic_table p2p
echo
if [ "$TRANSPORTS" = on ]; then
    transports_section
    echo
fi
if [ "$CLUSTER" = on ]; then
    cluster_section
    echo
fi
cat "$TMP/storage.md"
cat <<EOF

## Reproducing

    make bench                                  # everything above, about 10-11 minutes
    BENCH_CLUSTER=only sh clients/bench/run-bench.sh build   # the cluster section, on stdout
    build/mqchat-bench fanout --subs 1000 --pid \$(pidof mqchatd)    # one scenario by hand
    build/mqchat-bench fanout --mqtt 5 --props $PROPS --subs 1000    # the same over MQTT 5
    build/mqchatd --set chat.token_secret=S --set chat.auto_create_rooms=true --set http.port=0 &
    build/mqchat-bench chat-rooms --token-secret S --rooms 10 --members 10  # through the chat layer
    build/mqchat-bench rooms --port P1 --port2 P2 --split alternate  # over two nodes (cluster)
    build/mqchat-bench --help

Raw results of this run (one JSON line per scenario and broker):

\`\`\`
EOF
for f in "$TMP"/*.json; do
    [ -s "$f" ] && cat "$f"
done
echo '```'
} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"

log "wrote $OUT in ${ELAPSED} s"
