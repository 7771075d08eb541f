#!/bin/sh
# storage-bench.sh - what storage costs and how fast it is (doc/storage.md);
# prints a markdown section on stdout for run-bench.sh to put in
# doc/benchmarks.md.
#
#   sh clients/bench/storage-bench.sh BUILD_DIR
#
# 1. QoS 1 publish throughput with the spool off and on: mqchat-bench p2p
#    (100 publisher -> subscriber pairs, QoS 1, 100 B), plain, then with
#    store.spool_topics '#' so that every publish is spooled and held until
#    committed; the SQLite archive drains the spool meanwhile.
# 2. Sustained archive rate into MariaDB: mqchat-spoolbench fills a spool
#    with SPOOL_ROWS rows and times the archiver draining it into a
#    throwaway MariaDB (tests/mariadb.sh).
# 3. Restart time with 1,000,000 archived messages and 10,000 persistent
#    sessions (each with a subscription and a queued message): the data
#    directory is filled with sqlite3, then mqchatd is started three times
#    and timed until it answers a CONNECT.
#
# Environment: BENCH_DURATION (seconds per throughput run, 10), SPOOL_ROWS
# (200000). Only processes started here are signalled, by PID; every wait
# is bounded.

set -u

BUILD=${1:-build}
BENCH=$BUILD/mqchat-bench
MQCHATD=$BUILD/mqchatd
SPOOLBENCH=$BUILD/mqchat-spoolbench
DURATION=${BENCH_DURATION:-10}
SPOOL_ROWS=${SPOOL_ROWS:-200000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mqchat-storage-bench.XXXXXX") || exit 1
PID=""
MARIA=""

log() {
    echo "storage-bench: $*" >&2
}

stop() {
    [ -n "$PID" ] || return 0
    kill "$PID" 2>/dev/null
    i=0
    while [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    PID=""
}

cleanup() {
    stop
    [ -z "$MARIA" ] || sh "$ROOT/tests/mariadb.sh" stop "$MARIA" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# start DATA_DIR [--set KEY=VALUE...]: mqchatd on a free port, its HTTP API
# off (http.port=0: nothing here needs it, and 8080 may be taken), and so
# its TLS and WebSocket listeners (ws.port is on by default, on 8083); sets
# PID, PORT; returns 1 when it does not answer within 60 s.
start() {
    dir=$1
    shift
    PORT=$("$BENCH" freeport) || return 1
    "$MQCHATD" -p "$PORT" --set bind_address=127.0.0.1 --set http.port=0 \
        --set tls.port=0 --set ws.port=0 --set wss.port=0 \
        --set allow_anonymous=true --set sys_interval=0 --set data_dir="$dir" --set workers=2 \
        "$@" >>"$dir.log" 2>&1 &
    PID=$!
    i=0
    while [ $i -lt 600 ]; do
        kill -0 "$PID" 2>/dev/null || { wait "$PID"; PID=""; return 1; }
        "$BENCH" probe --port "$PORT" --setup-timeout 1 --quiet && return 0
        sleep 0.1
        i=$((i + 1))
    done
    stop
    return 1
}

# jget FILE KEY: a value from a one-line JSON result.
jget() {
    sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1" 2>/dev/null
}

fmt() {
    awk -v v="$1" -v d="$2" 'BEGIN { if (v == "") print "-"; else printf "%.*f", d, v }'
}

# --- 1. spool off / on -------------------------------------------------------
for mode in off on; do
    res=$TMP/p2p1.$mode.json
    : >"$res"
    set --
    [ $mode = on ] && set -- --set "store.spool_topics=#"
    if start "$TMP/p2p1.$mode" "$@"; then
        timeout 120 "$BENCH" p2p --pubs 100 --qos 1 --size 100 --duration "$DURATION" \
            --port "$PORT" --pid "$PID" --json --quiet >"$res" 2>/dev/null
        stop
    else
        log "spool $mode: mqchatd did not start"
    fi
done
OFF=$(jget "$TMP/p2p1.off.json" published_per_s)
ON=$(jget "$TMP/p2p1.on.json" published_per_s)
COST=$(awk -v a="$OFF" -v b="$ON" 'BEGIN { if (a == "" || b == "" || a + 0 == 0) print "-";
    else printf "%.0f %%", 100 * (1 - b / a) }')

# --- 2. archive rate into MariaDB --------------------------------------------
RATE=""
if [ -x "$SPOOLBENCH" ]; then
    MARIA=$TMP/maria
    mkdir -p "$TMP/spool" "$TMP/spool2"
    if URL=$(sh "$ROOT/tests/mariadb.sh" start "$MARIA" 2>"$TMP/maria.err"); then
        timeout 300 "$SPOOLBENCH" -n "$SPOOL_ROWS" -d "$TMP/spool" "$URL" >"$TMP/spool.out" 2>&1
        RATE=$(sed -n 's/.*archive_rate_msgs_per_s=\([0-9.]*\).*/\1/p' "$TMP/spool.out" | tail -n 1)
        SQLITE_OUT=$(timeout 300 "$SPOOLBENCH" -n "$SPOOL_ROWS" -d "$TMP/spool2" 2>&1)
        SQLITE_RATE=$(echo "$SQLITE_OUT" | sed -n 's/.*archive_rate_msgs_per_s=\([0-9.]*\).*/\1/p' |
            tail -n 1)
    else
        log "MariaDB did not start: $(head -c 300 "$TMP/maria.err")"
        MARIA=""
    fi
else
    log "$SPOOLBENCH is missing"
fi

# --- 3. restart time -----------------------------------------------------------
DATA=$TMP/restart
mkdir -p "$DATA"
FILLED=no
if start "$DATA" && stop; then
    # Rows made by SQL: 1M archived messages, 10k sessions with one
    # subscription and one queued QoS 1 message each.
    if timeout 600 sqlite3 "$DATA/mqchat.db" <<'EOF' >"$TMP/fill.log" 2>&1; then FILLED=yes; fi
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
INSERT INTO messages (id, room, topic, sender, ts_ms, type, body, node)
SELECT i, CAST('room' || (i % 1000) AS BLOB), CAST('chat/room/room' || (i % 1000) AS BLOB),
       CAST('user' || (i % 5000) AS BLOB), 1763800000000 + i, CAST('text' AS BLOB),
       CAST('a chat message of about sixty bytes, number ' || i AS BLOB), 0 FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO sessions (client_id, username, version, expiry_s, offline_since_ms)
SELECT CAST('device-' || i AS BLOB), NULL, 4, 4294967295, 1763800000000 FROM n;
INSERT INTO session_subs (client_id, filter, options, sub_id)
SELECT client_id, CAST('chat/room/room' || (rowid % 1000) AS BLOB), 1, 0 FROM sessions;
INSERT INTO session_msgs (client_id, seq, state, packet_id, qos, retain, topic, payload, props,
                          expires_at_ms, subids)
SELECT client_id, 1, 0, 0, 1, 0, CAST('chat/room/room' || (rowid % 1000) AS BLOB),
       CAST('queued while offline' AS BLOB), NULL, 0, NULL FROM sessions;
COMMIT;
EOF
fi
T_RESTART=""
if [ $FILLED = yes ]; then
    for run in 1 2 3; do
        t0=$(date +%s%N)
        if start "$DATA"; then
            t1=$(date +%s%N)
            T_RESTART="$T_RESTART $(((t1 - t0) / 1000000))"
            stop
        fi
    done
else
    log "filling the restart database failed: $(head -c 300 "$TMP/fill.log")"
fi
RESTORED=$(grep 'restored' "$DATA.log" 2>/dev/null | tail -n 1 | sed 's/.* info //')
T_MED=$(echo "$T_RESTART" | tr ' ' '\n' | sed '/^$/d' | sort -n | sed -n 2p)

cat <<EOF
## Storage (doc/storage.md)

Same machine, same run. mqchatd only: Mosquitto has no spool to compare with (its persistence
is a periodic snapshot, not a commit per acknowledged message).

### QoS 1 publish throughput, spool off and on

\`mqchat-bench p2p --pubs 100 --qos 1 --size 100 --duration $DURATION\`; "on" is
\`store.spool_topics #\`: every publish gets a spool row and its PUBACK waits for the commit
(group commit, \`store.durability normal\`), and the SQLite archiver drains the spool meanwhile.

| | spool off | spool on |
| --- | ---: | ---: |
| published (acknowledged) msg/s | $(fmt "$OFF" 0) | $(fmt "$ON" 0) |
| latency p50 ms | $(fmt "$(jget "$TMP/p2p1.off.json" lat_p50_ms)" 2) | $(fmt "$(jget "$TMP/p2p1.on.json" lat_p50_ms)" 2) |
| latency p99 ms | $(fmt "$(jget "$TMP/p2p1.off.json" lat_p99_ms)" 2) | $(fmt "$(jget "$TMP/p2p1.on.json" lat_p99_ms)" 2) |
| broker CPU % of one core | $(fmt "$(jget "$TMP/p2p1.off.json" broker_cpu_pct)" 0) | $(fmt "$(jget "$TMP/p2p1.on.json" broker_cpu_pct)" 0) |
| broker RSS at end KiB | $(fmt "$(jget "$TMP/p2p1.off.json" rss_after_kb)" 0) | $(fmt "$(jget "$TMP/p2p1.on.json" rss_after_kb)" 0) |

Cost of the spool: **$COST** of the throughput (target: under 20 %).

### Sustained archive rate

\`mqchat-spoolbench -n $SPOOL_ROWS\`: a spool of $SPOOL_ROWS rows (100 B bodies) drained by
the archiver thread in multi-row prepared inserts.

| archive | messages/s |
| --- | ---: |
| MariaDB (throwaway server, default InnoDB settings, commit per batch) | $(fmt "$RATE" 0) |
| SQLite (the same file) | $(fmt "${SQLITE_RATE:-}" 0) |

Target for MariaDB: at least 50,000 messages/s.

### Restart time

1,000,000 archived messages and 10,000 persistent sessions (one subscription and one queued
QoS 1 message each), filled with sqlite3; time from starting mqchatd to its first CONNACK, three
starts: ${T_RESTART:- -} ms (median ${T_MED:--} ms). The broker's own line:
\`${RESTORED:--}\`.

EOF
