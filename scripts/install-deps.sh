#!/bin/sh
# Installs the Debian packages mqchat builds, tests and benchmarks with,
# but only those missing, so a second run costs nothing. Needs root (or sudo).
set -e
PKGS="gcc make pkg-config libc6-dev libuv1-dev libssl-dev libcmocka-dev libpaho-mqtt-dev
      libmosquitto-dev mosquitto mosquitto-clients clang libclang-rt-14-dev python3 procps
      libsqlite3-dev sqlite3 libmariadb-dev mariadb-server mariadb-client
      libargon2-dev libcjson-dev libmicrohttpd-dev curl libhiredis-dev redis-server redis-tools
      libwslay-dev openssl chromium libncurses-dev tmux"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null
