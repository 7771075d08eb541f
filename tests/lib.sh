# shellcheck shell=sh
# tests/lib.sh - shell helpers shared by the throwaway servers of the test
# suites (tests/mariadb.sh, tests/redis.sh). Sourced, not run.

# alive PID: true while the process exists and is not a zombie (this
# machine's init may not reap the servers our shells leave behind).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ "$state" != Z ] && [ "$state" != X ]
}

# recorded_pid FILE NAME...: prints the process id recorded in FILE when
# that process is alive and its command line holds one of the NAMEs; else
# fails. So that a stale pid file never gets another process signalled.
recorded_pid() {
    file=$1
    shift
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] || return 1
    alive "$pid" || return 1
    cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)
    for name in "$@"; do
        case $cmdline in *"$name"*)
            echo "$pid"
            return 0
            ;;
        esac
    done
    return 1
}
