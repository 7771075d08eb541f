#!/bin/sh
# tests/redis.sh - throwaway Redis servers for the test suites: their own
# directory, a free TCP port on 127.0.0.1, no persistence (no RDB, no AOF),
# nothing read from /etc/redis, nothing installed
# (scripts/install-deps.sh installs redis-server and redis-tools).
#
#   sh tests/redis.sh start DIR [ARG...]  start a server on a free port; the
#                                         ARGs go to redis-server as they are
#                                         (e.g. --requirepass secret); prints
#                                         one line, the URL (also written to
#                                         DIR/url)
#   sh tests/redis.sh stop DIR            shut it down (SIGTERM), wait for it
#   sh tests/redis.sh kill DIR            crash it (SIGKILL), wait for it: the
#                                         "server went away" of the outage
#                                         tests
#   sh tests/redis.sh start-again DIR     start it again on the same port with
#                                         the same ARGs (after kill or stop);
#                                         prints the URL again
#   sh tests/redis.sh url DIR             print the URL
#   sh tests/redis.sh cluster-start DIR   a Redis Cluster of three masters (no
#                                         replicas) on free ports, every slot
#                                         assigned; prints the URL of the
#                                         first node (also in DIR/url)
#   sh tests/redis.sh cluster-stop DIR    shut the three down (SIGTERM)
#   sh DIR/ctl stop|kill|start-again|url  the same, for programs that know DIR
#                                         but not where this script is
#
# The URL is redis://127.0.0.1:PORT, without the password even when an ARG
# sets one (the test knows what it passed).
#
# Files in DIR: port, url, ctl, pid (the server's process id, written by
# this script), run (the command line, kept for start-again), redis.log.
# A cluster's DIR has ports (one port a line), url, and node1..node3, each
# a server's directory as above plus its nodes.conf; cluster-create.log.
#
# Ports are picked at random in 20000-32767 (a cluster's in 20000-22767, so
# that its bus ports, 10000 higher, are too), under the kernel's usual
# ephemeral range: an outgoing connection cannot take the port of a server
# that is down for start-again. Only processes whose ids this script
# recorded are ever signalled.

set -u

WAIT_SECONDS=30   # bound for start-up, for cluster creation and for shutdown

usage() {
    echo "usage: sh tests/redis.sh start|stop|kill|start-again|url|cluster-start|cluster-stop DIR [ARG...]" >&2
    exit 2
}

die() {
    echo "redis.sh: $*" >&2
    exit 1
}

[ $# -ge 2 ] || usage
CMD=$1
mkdir -p "$2" || die "cannot create $2"
DIR=$(cd "$2" && pwd)
shift 2

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
SERVER=$(command -v redis-server || ls /usr/bin/redis-server 2>/dev/null)
CLI=$(command -v redis-cli || ls /usr/bin/redis-cli 2>/dev/null)

need_tools() {
    if [ -z "$SERVER" ] || [ -z "$CLI" ]; then
        die "redis-server or redis-cli missing (sh scripts/install-deps.sh installs them)"
    fi
    [ -r /proc/net/tcp ] || die "no /proc/net/tcp (it tells which ports are free)"
}

# in_use PORT: true when a TCP socket of this machine (any state, IPv4 or
# IPv6) has PORT as its local port, as /proc/net/tcp and tcp6 list them.
in_use() {
    grep -q "^ *[0-9]*: [0-9A-F]*$(printf ':%04X ' "$1")" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port LOW HIGH OFFSET: a random port in LOW..HIGH that no socket uses,
# nor PORT+OFFSET when OFFSET is not 0. (Taken between this check and the
# server's bind, the server exits and launch fails: the caller tries again.)
free_port() {
    n=0
    while [ "$n" -lt 200 ]; do
        r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
        p=$(($1 + r % ($2 - $1 + 1)))
        if ! in_use "$p" && { [ "$3" -eq 0 ] || ! in_use $((p + $3)); }; then
            echo "$p"
            return 0
        fi
        n=$((n + 1))
    done
    return 1
}

# quote ARG: ARG in single quotes, for a line of sh.
quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# alive, recorded_pid
# shellcheck source=tests/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

# server_pid D: the process id recorded in D/pid, if it is a live
# redis-server.
server_pid() {
    recorded_pid "$1/pid" redis-server
}

# write_run D ARG...: D/run, the server's command line (port from D/port).
write_run() {
    d=$1
    shift
    {
        echo "#!/bin/sh"
        printf 'exec %s --port %s --bind 127.0.0.1 --save "" --appendonly no' \
            "$(quote "$SERVER")" "$(cat "$d/port")"
        printf ' --dir %s --logfile %s --daemonize no' "$(quote "$d")" "$(quote "$d/redis.log")"
        for a in "$@"; do
            printf ' %s' "$(quote "$a")"
        done
        echo
    } >"$d/run"
}

# answers PORT: true once the server on PORT answers PING (PONG, or a
# NOAUTH error from a server that wants a password).
answers() {
    "$CLI" -h 127.0.0.1 -p "$1" ping 2>&1 | grep -q -e PONG -e NOAUTH
}

# launch D: runs D/run in the background and waits until the server
# answers. Returns non-zero (its log on stderr) when it does not.
launch() {
    d=$1
    port=$(cat "$d/port")
    sh "$d/run" </dev/null >>"$d/redis.log" 2>&1 &
    pid=$!
    echo "$pid" >"$d/pid"
    i=0
    while [ "$i" -lt $((WAIT_SECONDS * 10)) ]; do
        if ! alive "$pid"; then
            echo "redis.sh: redis-server exited during start-up; $d/redis.log:" >&2
            tail -n 20 "$d/redis.log" >&2
            return 1
        fi
        if answers "$port"; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "redis.sh: redis-server did not answer within $WAIT_SECONDS s; $d/redis.log:" >&2
    tail -n 20 "$d/redis.log" >&2
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# halt D SIGNAL: sends SIGNAL to D's server and waits until it is gone.
halt() {
    pid=$(server_pid "$1") || return 0
    kill "-$2" "$pid" 2>/dev/null
    i=0
    while alive "$pid"; do
        if [ "$i" -ge $((WAIT_SECONDS * 10)) ]; then
            echo "redis.sh: redis-server $pid still running after $WAIT_SECONDS s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
            sleep 1
            alive "$pid" && die "redis-server $pid does not die"
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
}

# start_in D LOW HIGH OFFSET ARG...: a server in D on a free port.
start_in() {
    d=$1 low=$2 high=$3 offset=$4
    shift 4
    if server_pid "$d" >/dev/null; then
        die "a server already runs in $d (pid $(cat "$d/pid"))"
    fi
    # A port found free can be taken before redis-server binds it: try a few.
    tries=0
    while :; do
        free_port "$low" "$high" "$offset" >"$d/port" || die "no free port"
        write_run "$d" "$@"
        if launch "$d"; then
            break
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 5 ] || die "redis-server does not start"
    done
    echo "redis://127.0.0.1:$(cat "$d/port")" >"$d/url"
}

start() {
    need_tools
    start_in "$DIR" 20000 32767 0 "$@"
    # shellcheck disable=SC2016
    printf '#!/bin/sh\n# sh %s/ctl stop|kill|start-again|url\nexec sh '"'%s'"' "$1" '"'%s'"'\n' \
        "$DIR" "$SELF" "$DIR" >"$DIR/ctl"
    cat "$DIR/url"
}

start_again() {
    [ -f "$DIR/run" ] || die "nothing to start again in $DIR"
    if server_pid "$DIR" >/dev/null; then
        cat "$DIR/url"
        return 0
    fi
    launch "$DIR" || die "redis-server does not start again on port $(cat "$DIR/port")"
    cat "$DIR/url"
}

# cluster_ok PORT: true when the node on PORT says cluster_state:ok.
cluster_ok() {
    "$CLI" -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

cluster_start() {
    need_tools
    : >"$DIR/ports"
    nodes=""
    for n in 1 2 3; do
        d=$DIR/node$n
        mkdir -p "$d" || die "cannot create $d"
        rm -f "$d/nodes.conf"
        if ! (start_in "$d" 20000 22767 10000 --cluster-enabled yes \
            --cluster-config-file "$d/nodes.conf" --cluster-node-timeout 5000 "$@"); then
            cluster_stop
            die "node $n does not start"
        fi
        cat "$d/port" >>"$DIR/ports"
        nodes="$nodes 127.0.0.1:$(cat "$d/port")"
    done
    # shellcheck disable=SC2086
    if ! "$CLI" --cluster create $nodes --cluster-replicas 0 --cluster-yes \
        >"$DIR/cluster-create.log" 2>&1; then
        cat "$DIR/cluster-create.log" >&2
        cluster_stop
        die "redis-cli --cluster create failed"
    fi
    # Every node must know the whole slot map, not only the first.
    i=0
    while :; do
        ok=1
        while read -r p; do
            cluster_ok "$p" || ok=0
        done <"$DIR/ports"
        [ "$ok" -eq 1 ] && break
        i=$((i + 1))
        if [ "$i" -ge $((WAIT_SECONDS * 10)) ]; then
            cluster_stop
            die "the cluster did not reach cluster_state:ok within $WAIT_SECONDS s"
        fi
        sleep 0.1
    done
    echo "redis://127.0.0.1:$(head -n 1 "$DIR/ports")" >"$DIR/url"
    cat "$DIR/url"
}

cluster_stop() {
    for n in 1 2 3; do
        halt "$DIR/node$n" TERM
    done
}

case $CMD in
    start) start "$@" ;;
    stop) halt "$DIR" TERM ;;
    kill) halt "$DIR" KILL ;;
    start-again) start_again ;;
    url) [ -f "$DIR/url" ] || die "no server in $DIR"; cat "$DIR/url" ;;
    cluster-start) cluster_start "$@" ;;
    cluster-stop) cluster_stop ;;
    *) usage ;;
esac
