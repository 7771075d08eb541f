#!/bin/sh
# tests/mariadb.sh - a throwaway MariaDB server for the test suites and the
# benchmarks: its own data directory, socket and TCP port on 127.0.0.1,
# nothing read from /etc/mysql, nothing installed (scripts/install-deps.sh
# installs mariadb-server).
#
#   sh tests/mariadb.sh start DIR        create DIR/data if missing, start the
#                                        server on a free port, create the
#                                        database and user; prints one line,
#                                        the URL (also written to DIR/url)
#   sh tests/mariadb.sh stop DIR         shut it down (SIGTERM), wait for it
#   sh tests/mariadb.sh kill DIR         crash it (SIGKILL), wait for it: the
#                                        "database went away" of the outage
#                                        tests
#   sh tests/mariadb.sh start-again DIR  start it again on the same port and
#                                        data directory (after kill or stop);
#                                        prints the URL again
#   sh tests/mariadb.sh url DIR          print the URL
#   sh DIR/ctl stop|kill|start-again|url the same, for programs that know DIR
#                                        but not where this script is
#
# The URL is mysql://mqchat:PASSWORD@127.0.0.1:PORT/mqchat. The password
# holds a quote (percent-encoded in the URL) so that every test also checks
# that credentials are passed, never pasted. The user has every privilege
# on every database, so a test may create a database of its own. root
# connects without a password over DIR/sock:
#   mariadb --no-defaults -S DIR/sock -u root
#
# Files in DIR: data/ (the datadir), sock, port, url, ctl, pid (the
# server's process id, written by this script), mariadbd.pid (written by the
# server), error.log, install.log.
#
# InnoDB keeps its default durability (innodb_flush_log_at_trx_commit=1,
# doublewrite): the durability tests need a commit to mean a commit. Only
# the buffer pool is smaller and the binary log is off.

set -u

WAIT_SECONDS=60   # bound for start-up and for shutdown
DB_NAME=mqchat
DB_USER=mqchat
DB_PASS="mq'chat-pw"          # what the server stores
DB_PASS_URL="mq%27chat-pw"    # the same, percent-encoded for the URL

usage() {
    echo "usage: sh tests/mariadb.sh start|stop|kill|start-again|url DIR" >&2
    exit 2
}

die() {
    echo "mariadb.sh: $*" >&2
    exit 1
}

[ $# -eq 2 ] || usage
CMD=$1
mkdir -p "$2" || die "cannot create $2"
DIR=$(cd "$2" && pwd)

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
MARIADBD=$(command -v mariadbd || command -v mysqld || ls /usr/sbin/mariadbd 2>/dev/null)
ADMIN=$(command -v mariadb-admin || command -v mysqladmin)
CLIENT=$(command -v mariadb || command -v mysql)

# A loopback TCP port nothing listens on (the kernel picks it).
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# alive, recorded_pid
# shellcheck source=tests/lib.sh
. "$(dirname "$SELF")/lib.sh"

# server_pid: the recorded process id, if that process is a live mariadbd.
server_pid() {
    recorded_pid "$DIR/pid" mariadbd mysqld
}

url() {
    echo "mysql://$DB_USER:$DB_PASS_URL@127.0.0.1:$(cat "$DIR/port")/$DB_NAME"
}

root_sql() {
    "$CLIENT" --no-defaults -S "$DIR/sock" -u root -e "$1"
}

# launch: starts mariadbd on $DIR/port in the background and waits until it
# answers. Returns non-zero (error log on stderr) when it does not.
launch() {
    rm -f "$DIR/mariadbd.pid"
    "$MARIADBD" --no-defaults --user="$(id -un)" \
        --datadir="$DIR/data" --socket="$DIR/sock" --pid-file="$DIR/mariadbd.pid" \
        --log-error="$DIR/error.log" --bind-address=127.0.0.1 --port="$(cat "$DIR/port")" \
        --skip-log-bin --skip-name-resolve --innodb-buffer-pool-size=64M \
        --performance-schema=OFF --character-set-server=utf8mb4 \
        --collation-server=utf8mb4_bin </dev/null >>"$DIR/error.log" 2>&1 &
    echo $! >"$DIR/pid"
    pid=$!
    i=0
    while [ "$i" -lt $((WAIT_SECONDS * 5)) ]; do
        if ! alive "$pid"; then
            echo "mariadb.sh: mariadbd exited during start-up; $DIR/error.log:" >&2
            tail -n 20 "$DIR/error.log" >&2
            return 1
        fi
        if "$ADMIN" --no-defaults -S "$DIR/sock" -u root --connect-timeout=1 ping \
            >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
        i=$((i + 1))
    done
    echo "mariadb.sh: mariadbd did not answer within $WAIT_SECONDS s; $DIR/error.log:" >&2
    tail -n 20 "$DIR/error.log" >&2
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# halt SIGNAL: sends SIGNAL to the server and waits until it is gone.
halt() {
    pid=$(server_pid) || return 0
    kill "-$1" "$pid" 2>/dev/null
    i=0
    while alive "$pid"; do
        if [ "$i" -ge $((WAIT_SECONDS * 10)) ]; then
            echo "mariadb.sh: mariadbd $pid still running after $WAIT_SECONDS s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
            sleep 1
            alive "$pid" && die "mariadbd $pid does not die"
            break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    rm -f "$DIR/sock"
}

start() {
    if [ -z "$MARIADBD" ] || [ -z "$ADMIN" ] || [ -z "$CLIENT" ]; then
        die "mariadbd, mariadb-admin or mariadb missing (sh scripts/install-deps.sh installs them)"
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 missing (it finds a free port)"
    if server_pid >/dev/null; then
        die "a server already runs in $DIR (pid $(cat "$DIR/pid"))"
    fi
    if [ ! -d "$DIR/data/mysql" ]; then
        rm -rf "$DIR/data"
        mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$DIR/data" \
            --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
            >"$DIR/install.log" 2>&1 ||
            { cat "$DIR/install.log" >&2; die "mariadb-install-db failed"; }
    fi
    # A port found free can be taken before mariadbd binds it: try a few.
    tries=0
    while :; do
        free_port >"$DIR/port" || die "no free port"
        if launch; then
            break
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 3 ] || die "mariadbd does not start"
    done
    pass_sql=$(printf '%s' "$DB_PASS" | sed "s/'/''/g")
    root_sql "CREATE DATABASE IF NOT EXISTS $DB_NAME CHARACTER SET utf8mb4;
        CREATE USER IF NOT EXISTS '$DB_USER'@'%' IDENTIFIED BY '$pass_sql';
        CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$pass_sql';
        GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%';
        GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';" ||
        die "cannot create the database and user"
    url >"$DIR/url"
    # shellcheck disable=SC2016
    printf '#!/bin/sh\n# sh %s/ctl stop|kill|start-again|url\nexec sh '"'%s'"' "$1" '"'%s'"'\n' \
        "$DIR" "$SELF" "$DIR" >"$DIR/ctl"
    cat "$DIR/url"
}

start_again() {
    if [ ! -f "$DIR/port" ] || [ ! -d "$DIR/data/mysql" ]; then
        die "nothing to start again in $DIR"
    fi
    if server_pid >/dev/null; then
        cat "$DIR/url"
        return 0
    fi
    launch || die "mariadbd does not start again on port $(cat "$DIR/port")"
    cat "$DIR/url"
}

case $CMD in
    start) start ;;
    stop) halt TERM ;;
    kill) halt KILL ;;
    start-again) start_again ;;
    url) [ -f "$DIR/url" ] || die "no server in $DIR"; cat "$DIR/url" ;;
    *) usage ;;
esac
