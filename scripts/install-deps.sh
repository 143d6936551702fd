#!/usr/bin/env bash
# Installs, with apt, exactly the Debian 12 packages wardgw needs that are
# missing. Idempotent: when everything is present it changes nothing and
# needs no root. Set WARDGW_DEPS_EXTRA for optional extras (e.g. collectd-core
# for the benchmark, clang for fuzzing).
set -eu

pkgs="build-essential pkg-config libevent-dev libmodbus-dev libpaho-mqtt-dev
libsqlite3-dev sqlite3 jq libconfig-dev libjansson-dev libssl-dev libcmocka-dev
mosquitto mosquitto-clients openssl chromium curl socat nats-server whois gettext python3
${WARDGW_DEPS_EXTRA:-}"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo"
	else
		echo "install-deps: need root or sudo to install:$missing" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists; update once, then retry on failure
# in case the lists are stale.
if ! $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null; then
	$sudo apt-get update -q >/dev/null
	$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
# Debian starts mosquitto (and nats-server, on 4222) as system services on
# install; the tests and `make run` start their own brokers on free ports
# and do not need them. nats-server is the province's clustered broker
# (scripts/province-cluster.sh, docs/province.md); whois brings mkpasswd,
# with which scripts/province-rights.sh bcrypt-hashes the gateways'
# passwords.
